//! Vigil's persistence: SeaORM entities and the repositories that implement
//! the domain's ports, on SQLite (the embedded default, WAL mode) and
//! PostgreSQL. No `sea_orm` type leaves this crate; callers get a
//! [`Database`] and the repositories as `Arc<dyn …Repo>`.

mod entity;
mod errors;
mod repo;
mod signals;
#[cfg(feature = "test-util")]
pub mod testing;

pub use repo::{
    SqlCameraRepo, SqlEventRepo, SqlJobQueue, SqlLeaseRepo, SqlNodeRepo, SqlPlaybackRepo,
    SqlShareRepo, SqlUserRepo, SqlWebhookRepo,
};

use sea_orm::{ConnectionTrait, DatabaseConnection};
use std::sync::Arc;
use vigil_domain::{
    ports::{
        CameraRepo, EventRepo, JobQueue, NodeRepo, PlaybackRepo, ShareRepo, UserRepo, WebhookRepo,
    },
    Error,
};

/// An open database and its repositories.
#[derive(Debug, Clone)]
pub struct Database {
    conn: DatabaseConnection,
    /// Shared by the event and playback repositories of this process.
    playback_counts: Arc<repo::count_cache::CountCache>,
    /// Which node this process is, when several share the database.
    node: Option<repo::NodeScope>,
}

impl Database {
    /// Connects to `url` (SQLite in WAL mode, or Postgres).
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let conn = migration::connect(url).await.map_err(|e| {
            Error::unavailable(format!(
                "cannot open database {}: {e}",
                migration::redact_url(url)
            ))
        })?;
        Ok(Self {
            conn,
            playback_counts: Arc::default(),
            node: None,
        })
    }

    /// The repositories of node `id`: the playbacks it creates and the jobs
    /// it queues are its own; recovery sees its own in-flight playbacks
    /// (and those of no node), and its queue takes its own jobs and those
    /// of nodes not heard of within `lease`.
    pub fn of_node(mut self, id: &vigil_domain::NodeId, lease: std::time::Duration) -> Self {
        self.node = Some(repo::NodeScope {
            id: id.to_string(),
            lease,
        });
        self
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), Error> {
        use migration::MigratorTrait;
        migration::Migrator::up(&self.conn, None)
            .await
            .map_err(|e| Error::internal(format!("database migration failed: {e}")))
    }

    /// A cheap round trip, for `/ready`.
    pub async fn ping(&self) -> Result<(), Error> {
        self.conn
            .execute_unprepared("SELECT 1")
            .await
            .map(|_| ())
            .map_err(|e| Error::unavailable(format!("database did not answer: {e}")))
    }

    pub fn users(&self) -> Arc<dyn UserRepo> {
        Arc::new(SqlUserRepo::new(self.conn.clone()))
    }

    pub fn webhooks(&self) -> Arc<dyn WebhookRepo> {
        Arc::new(SqlWebhookRepo::new(self.conn.clone()))
    }

    pub fn nodes(&self) -> Arc<dyn NodeRepo> {
        Arc::new(SqlNodeRepo::new(self.conn.clone()))
    }

    pub fn leases(&self) -> Arc<dyn vigil_domain::ports::LeaseRepo> {
        Arc::new(SqlLeaseRepo::new(self.conn.clone()))
    }

    /// On PostgreSQL, signals between the nodes sharing it (`NOTIFY`);
    /// None on SQLite, where there is one node.
    pub fn signals(&self) -> Option<Arc<dyn vigil_domain::ports::Signals>> {
        (self.conn.get_database_backend() == sea_orm::DatabaseBackend::Postgres)
            .then(|| Arc::new(signals::PgSignals::new(self.conn.clone())) as _)
    }

    pub fn shares(&self) -> Arc<dyn ShareRepo> {
        Arc::new(SqlShareRepo::new(self.conn.clone()))
    }

    pub fn cameras(&self) -> Arc<dyn CameraRepo> {
        Arc::new(SqlCameraRepo::new(self.conn.clone()))
    }

    pub fn events(&self) -> Arc<dyn EventRepo> {
        Arc::new(SqlEventRepo::new(
            self.conn.clone(),
            self.playback_counts.clone(),
            self.node.as_ref().map(|n| n.id.clone()),
        ))
    }

    pub fn playbacks(&self) -> Arc<dyn PlaybackRepo> {
        Arc::new(SqlPlaybackRepo::new(
            self.conn.clone(),
            self.playback_counts.clone(),
            self.node.clone(),
        ))
    }

    pub fn jobs(&self) -> Arc<dyn JobQueue> {
        match &self.node {
            Some(n) => Arc::new(SqlJobQueue::of_node(self.conn.clone(), n.clone())),
            None => Arc::new(SqlJobQueue::new(self.conn.clone())),
        }
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

#[async_trait::async_trait]
impl vigil_domain::ports::Probe for Database {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> Result<(), Error> {
        self.ping().await
    }
}
