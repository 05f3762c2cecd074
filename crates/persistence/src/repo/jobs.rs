//! The durable job queue. A claim is one write transaction: pick the oldest
//! due job that nobody holds (or whose lease ran out), then lease it. On
//! PostgreSQL the pick is `FOR UPDATE SKIP LOCKED`, so concurrent workers of
//! several servers never wait on, or take, the same row; on SQLite the
//! transaction is IMMEDIATE, which serializes writers outright.

use super::{begin_write, now};
use crate::{
    entity::{jobs, playbacks},
    errors::{corrupt, db_err},
};
use async_trait::async_trait;
use sea_orm::{
    sea_query::{Expr, LockBehavior, LockType, OnConflict},
    ActiveValue::Set,
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use std::time::Duration;
use time::OffsetDateTime;
use vigil_domain::{
    ports::{JobQueue, Result},
    Error, Job, JobId, JobKind, NewJob, PlaybackId,
};

#[derive(Debug, Clone)]
pub struct SqlJobQueue {
    conn: DatabaseConnection,
    node: Option<super::NodeScope>,
}

impl SqlJobQueue {
    pub fn new(conn: DatabaseConnection) -> Self {
        Self { conn, node: None }
    }

    /// A queue of the node `scope`: its jobs carry its id, and it takes
    /// only its own, those of no node, and those of lost nodes (whose
    /// folders are gone with them: the job rebuilds from the store).
    pub fn of_node(conn: DatabaseConnection, scope: super::NodeScope) -> Self {
        Self {
            conn,
            node: Some(scope),
        }
    }
}

fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

fn to_domain(m: jobs::Model) -> Result<Job> {
    Ok(Job {
        id: JobId::from_uuid(m.id),
        playback_id: PlaybackId::from_uuid(m.playback_id),
        kind: m
            .kind
            .parse::<JobKind>()
            .map_err(|e| corrupt("job kind", e))?,
        dir: m.dir,
        note: m.note,
        attempts: u32::try_from(m.attempts).unwrap_or(0),
        last_error: m.last_error,
        created_at: m.created_at,
    })
}

/// The job, if `owner` holds its lease.
fn held_by(id: JobId, owner: &str) -> Condition {
    Condition::all()
        .add(jobs::Column::Id.eq(id.as_uuid()))
        .add(jobs::Column::LeaseOwner.eq(owner))
}

#[async_trait]
impl JobQueue for SqlJobQueue {
    async fn enqueue(&self, job: NewJob) -> Result<JobId> {
        let id = JobId::new();
        let t = now();
        let row = jobs::ActiveModel {
            id: Set(id.as_uuid()),
            playback_id: Set(job.playback_id.as_uuid()),
            kind: Set(job.kind.as_str().to_owned()),
            dir: Set(job.dir),
            note: Set(job.note),
            attempts: Set(0),
            last_error: Set(None),
            run_after: Set(now_ms()),
            lease_owner: Set(None),
            lease_until: Set(None),
            node_id: Set(self.node.as_ref().map(|n| n.id.clone())),
            created_at: Set(t),
            updated_at: Set(t),
        };
        // One job per playback: a second enqueue (recovery finding a folder
        // whose job already exists) updates it instead of doubling the work.
        jobs::Entity::insert(row)
            .on_conflict(
                OnConflict::column(jobs::Column::PlaybackId)
                    .update_columns([
                        jobs::Column::Kind,
                        jobs::Column::Dir,
                        jobs::Column::Note,
                        jobs::Column::RunAfter,
                        jobs::Column::NodeId,
                        jobs::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await
            .map_err(db_err("job"))?;
        let stored = jobs::Entity::find()
            .filter(jobs::Column::PlaybackId.eq(job.playback_id.as_uuid()))
            .one(&self.conn)
            .await
            .map_err(db_err("job"))?
            .ok_or_else(|| Error::internal("job vanished after enqueue"))?;
        Ok(JobId::from_uuid(stored.id))
    }

    async fn claim(&self, owner: &str, lease: Duration) -> Result<Option<Job>> {
        let txn = begin_write(&self.conn).await.map_err(db_err("job"))?;
        let t = now_ms();
        let free = Condition::any()
            .add(jobs::Column::LeaseUntil.is_null())
            .add(jobs::Column::LeaseUntil.lt(t));
        let ours = match &self.node {
            Some(scope) => scope.workable(&txn, jobs::Column::NodeId).await?,
            None => Condition::all(),
        };
        let Some(m) = jobs::Entity::find()
            .filter(jobs::Column::RunAfter.lte(t))
            .filter(free)
            .filter(ours)
            .order_by_asc(jobs::Column::RunAfter)
            .order_by_asc(jobs::Column::CreatedAt)
            .limit(1)
            .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            .one(&txn)
            .await
            .map_err(db_err("job"))?
        else {
            return Ok(None);
        };
        let attempts = m.attempts + 1;
        jobs::Entity::update_many()
            .col_expr(jobs::Column::LeaseOwner, Expr::value(owner))
            .col_expr(jobs::Column::LeaseUntil, Expr::value(t + ms(lease)))
            .col_expr(jobs::Column::Attempts, Expr::value(attempts))
            .col_expr(jobs::Column::UpdatedAt, Expr::value(now()))
            .filter(jobs::Column::Id.eq(m.id))
            .exec(&txn)
            .await
            .map_err(db_err("job"))?;
        // A lost node's job becomes this node's, and so does its playback
        // (the status writes of the job are fenced on the playback's node).
        if let Some(scope) = self
            .node
            .as_ref()
            .filter(|s| m.node_id.as_ref() != Some(&s.id))
        {
            jobs::Entity::update_many()
                .col_expr(jobs::Column::NodeId, Expr::value(scope.id.clone()))
                .filter(jobs::Column::Id.eq(m.id))
                .exec(&txn)
                .await
                .map_err(db_err("job"))?;
            let was = match &m.node_id {
                Some(n) => Condition::any()
                    .add(playbacks::Column::NodeId.is_null())
                    .add(playbacks::Column::NodeId.eq(n.clone())),
                None => Condition::all().add(playbacks::Column::NodeId.is_null()),
            };
            playbacks::Entity::update_many()
                .col_expr(playbacks::Column::NodeId, Expr::value(scope.id.clone()))
                .filter(playbacks::Column::Id.eq(m.playback_id))
                .filter(was)
                .exec(&txn)
                .await
                .map_err(db_err("playback"))?;
        }
        txn.commit().await.map_err(db_err("job"))?;
        to_domain(jobs::Model { attempts, ..m }).map(Some)
    }

    async fn renew(&self, id: JobId, owner: &str, lease: Duration) -> Result<bool> {
        let r = jobs::Entity::update_many()
            .col_expr(jobs::Column::LeaseUntil, Expr::value(now_ms() + ms(lease)))
            .filter(held_by(id, owner))
            .exec(&self.conn)
            .await
            .map_err(db_err("job"))?;
        Ok(r.rows_affected == 1)
    }

    async fn finish(&self, id: JobId) -> Result<()> {
        jobs::Entity::delete_by_id(id.as_uuid())
            .exec(&self.conn)
            .await
            .map_err(db_err("job"))?;
        Ok(())
    }

    async fn retry_later(
        &self,
        id: JobId,
        owner: &str,
        after: Duration,
        error: &str,
    ) -> Result<()> {
        jobs::Entity::update_many()
            .col_expr(jobs::Column::RunAfter, Expr::value(now_ms() + ms(after)))
            .col_expr(
                jobs::Column::LeaseOwner,
                Expr::value(Option::<String>::None),
            )
            .col_expr(jobs::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .col_expr(jobs::Column::LastError, Expr::value(error))
            .col_expr(jobs::Column::UpdatedAt, Expr::value(now()))
            .filter(held_by(id, owner))
            .exec(&self.conn)
            .await
            .map_err(db_err("job"))?;
        Ok(())
    }

    async fn release_all(&self, owner: &str) -> Result<u64> {
        let r = jobs::Entity::update_many()
            .col_expr(
                jobs::Column::LeaseOwner,
                Expr::value(Option::<String>::None),
            )
            .col_expr(jobs::Column::LeaseUntil, Expr::value(Option::<i64>::None))
            .filter(jobs::Column::LeaseOwner.eq(owner))
            .exec(&self.conn)
            .await
            .map_err(db_err("job"))?;
        Ok(r.rows_affected)
    }

    async fn has_job(&self, playback: PlaybackId) -> Result<bool> {
        let n = jobs::Entity::find()
            .filter(jobs::Column::PlaybackId.eq(playback.as_uuid()))
            .count(&self.conn)
            .await
            .map_err(db_err("job"))?;
        Ok(n > 0)
    }

    async fn depth(&self) -> Result<u64> {
        jobs::Entity::find()
            .count(&self.conn)
            .await
            .map_err(db_err("jobs"))
    }
}
