//! Repositories: one per table, each implementing a domain port and
//! converting rows to domain types at this edge.

mod cameras;
pub(crate) mod count_cache;
mod events;
mod jobs;
mod leases;
mod nodes;
mod playbacks;
mod shares;
mod users;
mod webhooks;

pub use cameras::SqlCameraRepo;
pub use events::SqlEventRepo;
pub use jobs::SqlJobQueue;
pub use leases::SqlLeaseRepo;
pub use nodes::SqlNodeRepo;
pub use playbacks::SqlPlaybackRepo;
pub use shares::SqlShareRepo;
pub use users::SqlUserRepo;
pub use webhooks::SqlWebhookRepo;

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};
use time::OffsetDateTime;

/// Begins a transaction that will write. On SQLite it is IMMEDIATE: a
/// DEFERRED one that reads then writes gets SQLITE_BUSY at once, skipping
/// the busy timeout.
pub(crate) async fn begin_write(conn: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    conn.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Now, in UTC, at microsecond precision so a value read back equals the one
/// written on both SQLite (text) and Postgres (timestamptz, µs).
pub(crate) fn now() -> OffsetDateTime {
    micros(OffsetDateTime::now_utc())
}

/// `t` in UTC, cut to microseconds (what Postgres keeps).
pub(crate) fn micros(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(t.nanosecond() / 1_000 * 1_000)
        .unwrap_or(t)
}

/// The node this process is, for the rows it writes and the work it picks
/// up when several nodes share the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeScope {
    pub id: String,
    /// A node not heard of for this long is lost: its work may be taken.
    pub lease: std::time::Duration,
}

impl NodeScope {
    /// The ids of the other nodes heard of within the lease.
    pub(crate) async fn others_alive<C: sea_orm::ConnectionTrait>(
        &self,
        db: &C,
    ) -> vigil_domain::ports::Result<Vec<String>> {
        use sea_orm::EntityTrait;
        let t = now();
        Ok(crate::entity::nodes::Entity::find()
            .all(db)
            .await
            .map_err(crate::errors::db_err("nodes"))?
            .into_iter()
            .filter(|n| {
                n.id != self.id && n.stopped_at.is_none() && t - n.last_seen_at <= self.lease
            })
            .map(|n| n.id)
            .collect())
    }

    /// Rows of this node, of no node, or of a node that is lost.
    pub(crate) async fn workable<C, Col>(
        &self,
        db: &C,
        column: Col,
    ) -> vigil_domain::ports::Result<sea_orm::Condition>
    where
        C: sea_orm::ConnectionTrait,
        Col: sea_orm::ColumnTrait,
    {
        let alive = self.others_alive(db).await?;
        if alive.is_empty() {
            return Ok(sea_orm::Condition::all());
        }
        Ok(sea_orm::Condition::any()
            .add(column.is_null())
            .add(column.is_not_in(alive)))
    }
}
