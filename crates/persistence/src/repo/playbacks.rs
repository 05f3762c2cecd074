use super::{begin_write, count_cache::CountCache, micros, now};
use crate::{
    entity::{events, playbacks, shares},
    errors::{corrupt, db_err},
};
use async_trait::async_trait;
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::sync::Arc;
use time::OffsetDateTime;
use vigil_domain::{
    playback::EventSummary,
    ports::{Listed, PlaybackRepo, Result},
    CameraId, Error, EventId, EventType, MediaInfo, Page, Playback, PlaybackFilter, PlaybackId,
    PlaybackUpdate, RecordingStatus,
};

#[derive(Debug, Clone)]
pub struct SqlPlaybackRepo {
    conn: DatabaseConnection,
    counts: Arc<CountCache>,
    node: Option<super::NodeScope>,
}

impl SqlPlaybackRepo {
    pub(crate) fn new(
        conn: DatabaseConnection,
        counts: Arc<CountCache>,
        node: Option<super::NodeScope>,
    ) -> Self {
        Self { conn, counts, node }
    }
}

fn summary(e: events::Model) -> Result<EventSummary> {
    Ok(EventSummary {
        id: EventId::from_uuid(e.id),
        event_type: e
            .event_type
            .parse::<EventType>()
            .map_err(|err| corrupt("event type", err))?,
        description: e.description,
        n_channel_id: e.n_channel_id,
        occurred_at: e.occurred_at,
        created_at: e.created_at,
        ended_at: e.ended_at,
    })
}

fn to_domain(m: playbacks::Model, event: Option<events::Model>) -> Result<Playback> {
    Ok(Playback {
        id: PlaybackId::from_uuid(m.id),
        event_id: EventId::from_uuid(m.event_id),
        camera_id: CameraId::from_uuid(m.camera_id),
        status: m
            .recording_status
            .parse::<RecordingStatus>()
            .map_err(|e| corrupt("recording status", e))?,
        video_key: m.video_key,
        thumbnail_key: m.thumbnail_key,
        media: MediaInfo {
            file_size_bytes: m.file_size_bytes,
            duration_sec: m.duration_sec,
            codec: m.codec,
            resolution: m.resolution,
            width: m.width,
            height: m.height,
            browser_playable: m.browser_playable,
        },
        local_path: m.local_path,
        error: m.error,
        started_at: m.started_at,
        ended_at: m.ended_at,
        gaps: match m.gaps.as_deref() {
            Some(json) => serde_json::from_str(json).map_err(|e| corrupt("gaps", e))?,
            None => Vec::new(),
        },
        retain: m.retain,
        created_at: m.created_at,
        updated_at: m.updated_at,
        event: event.map(summary).transpose()?,
    })
}

fn filtered(filter: &PlaybackFilter) -> sea_orm::Select<playbacks::Entity> {
    let mut q = playbacks::Entity::find();
    if let Some(e) = filter.event_id {
        q = q.filter(playbacks::Column::EventId.eq(e.as_uuid()));
    }
    if let Some(c) = filter.camera_id {
        q = q.filter(playbacks::Column::CameraId.eq(c.as_uuid()));
    }
    if let Some(s) = filter.status {
        q = q.filter(playbacks::Column::RecordingStatus.eq(s.as_str()));
    }
    q
}

impl SqlPlaybackRepo {
    /// Finished (COMPLETED or FAILED), unretained playbacks of `camera` (or
    /// of all) created before `cutoff` (or ever), oldest first: what
    /// retention by age and by space may delete.
    async fn deletable(
        &self,
        camera: Option<CameraId>,
        cutoff: Option<OffsetDateTime>,
        limit: u64,
    ) -> Result<Vec<Playback>> {
        let mut q = playbacks::Entity::find()
            .filter(playbacks::Column::RecordingStatus.is_in([
                RecordingStatus::Completed.as_str(),
                RecordingStatus::Failed.as_str(),
            ]))
            .filter(playbacks::Column::Retain.eq(false))
            // A webhook still trying to announce it needs its clip.
            .filter(Expr::cust(
                "NOT EXISTS (SELECT 1 FROM webhook_deliveries d \
                 WHERE d.playback_id = playbacks.id AND d.done = false)",
            ));
        if let Some(c) = camera {
            q = q.filter(playbacks::Column::CameraId.eq(c.as_uuid()));
        }
        if let Some(t) = cutoff {
            q = q.filter(playbacks::Column::CreatedAt.lt(micros(t)));
        }
        q.find_also_related(events::Entity)
            .order_by_asc(playbacks::Column::CreatedAt)
            .order_by_asc(playbacks::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await
            .map_err(db_err("playbacks"))?
            .into_iter()
            .map(|(p, e)| to_domain(p, e))
            .collect()
    }
}

#[async_trait]
impl PlaybackRepo for SqlPlaybackRepo {
    async fn get(&self, id: PlaybackId) -> Result<Option<Playback>> {
        playbacks::Entity::find_by_id(id.as_uuid())
            .find_also_related(events::Entity)
            .one(&self.conn)
            .await
            .map_err(db_err("playback"))?
            .map(|(p, e)| to_domain(p, e))
            .transpose()
    }

    async fn list(&self, filter: PlaybackFilter, page: Page) -> Result<Listed<Playback>> {
        let key = format!("{filter:?}");
        let n = match self.counts.get(&key) {
            Some(n) => n,
            None => {
                let generation = self.counts.generation();
                let n = filtered(&filter)
                    .count(&self.conn)
                    .await
                    .map_err(db_err("playbacks"))?;
                self.counts.put(key, generation, n);
                n
            }
        };
        let rows = filtered(&filter)
            .find_also_related(events::Entity)
            .order_by_desc(playbacks::Column::CreatedAt)
            .order_by_desc(playbacks::Column::Id)
            .offset(page.offset())
            .limit(page.limit())
            .all(&self.conn)
            .await
            .map_err(db_err("playbacks"))?;
        Ok(Listed {
            rows: rows
                .into_iter()
                .map(|(p, e)| to_domain(p, e))
                .collect::<Result<_>>()?,
            total: n,
        })
    }

    async fn transition(
        &self,
        id: PlaybackId,
        to: RecordingStatus,
        update: PlaybackUpdate,
    ) -> Result<Playback> {
        let txn = begin_write(&self.conn).await.map_err(db_err("playback"))?;
        let m = playbacks::Entity::find_by_id(id.as_uuid())
            .one(&txn)
            .await
            .map_err(db_err("playback"))?
            .ok_or_else(|| Error::not_found("playback"))?;
        let from = m
            .recording_status
            .parse::<RecordingStatus>()
            .map_err(|e| corrupt("recording status", e))?;
        from.transition(to)
            .map_err(|e| Error::conflict(e.to_string()))?;
        // Fencing: a row another live node has taken (it adopted the
        // recording, or took its job) is that node's to write; a node that
        // was paused or cut off and comes back writes nothing over it.
        if let (Some(scope), Some(node)) = (&self.node, &m.node_id) {
            if node != &scope.id && scope.others_alive(&txn).await?.contains(node) {
                return Err(Error::conflict(format!(
                    "the playback is now node {node}'s; this node no longer writes it"
                )));
            }
        }
        let same_node = match &m.node_id {
            Some(n) => playbacks::Column::NodeId.eq(n.clone()),
            None => playbacks::Column::NodeId.is_null(),
        };

        let mut row: playbacks::ActiveModel = m.into();
        row.recording_status = Set(to.as_str().to_owned());
        if let Some(k) = update.video_key {
            row.video_key = Set(Some(k));
        }
        if let Some(k) = update.thumbnail_key {
            row.thumbnail_key = Set(Some(k));
        }
        if let Some(media) = update.media {
            row.file_size_bytes = Set(media.file_size_bytes);
            row.duration_sec = Set(media.duration_sec);
            row.codec = Set(media.codec);
            row.resolution = Set(media.resolution);
            row.width = Set(media.width);
            row.height = Set(media.height);
            row.browser_playable = Set(media.browser_playable);
        }
        if let Some(gaps) = update.gaps {
            let json = (!gaps.is_empty())
                .then(|| serde_json::to_string(&gaps))
                .transpose()
                .map_err(|e| Error::internal(format!("gaps: {e}")))?;
            row.gaps = Set(json);
        }
        if let Some(p) = update.local_path {
            row.local_path = Set(p);
        }
        if let Some(e) = update.error {
            row.error = Set(Some(e));
        }
        if let Some(t) = update.started_at {
            row.started_at = Set(Some(micros(t)));
        }
        if let Some(t) = update.ended_at {
            row.ended_at = Set(Some(micros(t)));
        }
        row.updated_at = Set(now());
        // The status read above is re-checked in the WHERE clause, so two
        // writers racing on one row can't both win.
        let res = playbacks::Entity::update_many()
            .set(row)
            .filter(playbacks::Column::Id.eq(id.as_uuid()))
            .filter(playbacks::Column::RecordingStatus.eq(from.as_str()))
            .filter(same_node)
            .exec(&txn)
            .await
            .map_err(db_err("playback"))?;
        if res.rows_affected != 1 {
            return Err(Error::conflict(format!(
                "playback changed status concurrently; it is no longer {from}"
            )));
        }
        txn.commit().await.map_err(db_err("playback"))?;
        self.counts.invalidate();
        self.get(id)
            .await?
            .ok_or_else(|| Error::not_found("playback"))
    }

    async fn in_status(&self, status: RecordingStatus) -> Result<Vec<Playback>> {
        let ours = match &self.node {
            Some(n) => sea_orm::Condition::any()
                .add(playbacks::Column::NodeId.is_null())
                .add(playbacks::Column::NodeId.eq(n.id.clone())),
            None => sea_orm::Condition::all(),
        };
        playbacks::Entity::find()
            .filter(playbacks::Column::RecordingStatus.eq(status.as_str()))
            .filter(ours)
            // A hand-off not started yet is the camera owner's to start.
            .filter(playbacks::Column::Handoff.is_null())
            .find_also_related(events::Entity)
            .order_by_asc(playbacks::Column::CreatedAt)
            .all(&self.conn)
            .await
            .map_err(db_err("playbacks"))?
            .into_iter()
            .map(|(p, e)| to_domain(p, e))
            .collect()
    }

    async fn adopt_orphans(&self, leave: &[CameraId]) -> Result<Vec<Playback>> {
        let Some(scope) = &self.node else {
            return Ok(Vec::new());
        };
        let in_flight = [
            RecordingStatus::Pending,
            RecordingStatus::Recording,
            RecordingStatus::Processing,
        ]
        .map(|s| s.as_str());
        let mut lost = sea_orm::Condition::all()
            .add(playbacks::Column::RecordingStatus.is_in(in_flight))
            .add(playbacks::Column::NodeId.is_not_null())
            .add(playbacks::Column::NodeId.ne(scope.id.clone()))
            // Left to the camera's owner, which starts it.
            .add(playbacks::Column::Handoff.is_null())
            // Taken with the job by the queue that claims it.
            .add(
                playbacks::Column::Id.not_in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(crate::entity::jobs::Column::PlaybackId)
                        .from(crate::entity::jobs::Entity)
                        .to_owned(),
                ),
            );
        let alive = scope.others_alive(&self.conn).await?;
        if !alive.is_empty() {
            lost = lost.add(playbacks::Column::NodeId.is_not_in(alive));
        }
        if !leave.is_empty() {
            lost =
                lost.add(playbacks::Column::CameraId.is_not_in(leave.iter().map(|c| c.as_uuid())));
        }
        let orphans = playbacks::Entity::find()
            .filter(lost)
            .all(&self.conn)
            .await
            .map_err(db_err("playbacks"))?;
        let mut adopted = Vec::new();
        for o in orphans {
            // Conditional on the lost node still holding it: of several
            // survivors, one adopts it.
            let r = playbacks::Entity::update_many()
                .col_expr(playbacks::Column::NodeId, Expr::value(scope.id.clone()))
                .col_expr(playbacks::Column::UpdatedAt, Expr::value(now()))
                .filter(playbacks::Column::Id.eq(o.id))
                .filter(playbacks::Column::NodeId.eq(o.node_id.clone()))
                .exec(&self.conn)
                .await
                .map_err(db_err("playback"))?;
            if r.rows_affected == 1 {
                tracing::warn!(playback_id = %o.id, lost_node = o.node_id.as_deref().unwrap_or(""), "adopted the playback of a lost node");
                if let Some(p) = self.get(PlaybackId::from_uuid(o.id)).await? {
                    adopted.push(p);
                }
            }
        }
        Ok(adopted)
    }

    async fn recorded_elsewhere(&self, id: PlaybackId) -> Result<bool> {
        let Some(scope) = &self.node else {
            return Ok(false);
        };
        let row = playbacks::Entity::find_by_id(id.as_uuid())
            .one(&self.conn)
            .await
            .map_err(db_err("playback"))?;
        let Some(node) = row.and_then(|r| r.node_id) else {
            return Ok(false);
        };
        Ok(node != scope.id && scope.others_alive(&self.conn).await?.contains(&node))
    }

    async fn request_stop(&self, id: PlaybackId) -> Result<()> {
        playbacks::Entity::update_many()
            .col_expr(playbacks::Column::StopRequestedAt, Expr::value(now()))
            .filter(playbacks::Column::Id.eq(id.as_uuid()))
            .filter(playbacks::Column::StopRequestedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(db_err("playback"))?;
        Ok(())
    }

    async fn stop_requested(&self, ids: &[PlaybackId]) -> Result<Vec<PlaybackId>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(playbacks::Entity::find()
            .filter(playbacks::Column::Id.is_in(ids.iter().map(|i| i.as_uuid())))
            .filter(playbacks::Column::StopRequestedAt.is_not_null())
            .all(&self.conn)
            .await
            .map_err(db_err("playbacks"))?
            .into_iter()
            .map(|p| PlaybackId::from_uuid(p.id))
            .collect())
    }

    async fn hand_off(
        &self,
        id: PlaybackId,
        node: &vigil_domain::NodeId,
        window: &vigil_domain::RecordWindow,
    ) -> Result<()> {
        let r = playbacks::Entity::update_many()
            .col_expr(playbacks::Column::NodeId, Expr::value(node.to_string()))
            .col_expr(playbacks::Column::Handoff, Expr::value(window.to_text()))
            .col_expr(playbacks::Column::UpdatedAt, Expr::value(now()))
            .filter(playbacks::Column::Id.eq(id.as_uuid()))
            .filter(playbacks::Column::RecordingStatus.eq(RecordingStatus::Pending.as_str()))
            .exec(&self.conn)
            .await
            .map_err(db_err("playback"))?;
        if r.rows_affected != 1 {
            return Err(Error::conflict("the playback is no longer PENDING"));
        }
        Ok(())
    }

    async fn handoffs(&self, cameras: &[CameraId]) -> Result<Vec<(PlaybackId, CameraId)>> {
        let Some(scope) = &self.node else {
            return Ok(Vec::new());
        };
        let mut whose =
            sea_orm::Condition::any().add(playbacks::Column::NodeId.eq(scope.id.clone()));
        if !cameras.is_empty() {
            let orphaned = scope
                .workable(&self.conn, playbacks::Column::NodeId)
                .await?;
            whose = whose.add(
                sea_orm::Condition::all()
                    .add(playbacks::Column::CameraId.is_in(cameras.iter().map(|c| c.as_uuid())))
                    .add(orphaned),
            );
        }
        Ok(playbacks::Entity::find()
            .filter(playbacks::Column::RecordingStatus.eq(RecordingStatus::Pending.as_str()))
            .filter(playbacks::Column::Handoff.is_not_null())
            .filter(whose)
            .order_by_asc(playbacks::Column::CreatedAt)
            .all(&self.conn)
            .await
            .map_err(db_err("playbacks"))?
            .into_iter()
            .map(|p| {
                (
                    PlaybackId::from_uuid(p.id),
                    CameraId::from_uuid(p.camera_id),
                )
            })
            .collect())
    }

    async fn take_handoff(&self, id: PlaybackId) -> Result<Option<vigil_domain::RecordWindow>> {
        let Some(scope) = &self.node else {
            return Ok(None);
        };
        let Some(m) = playbacks::Entity::find_by_id(id.as_uuid())
            .one(&self.conn)
            .await
            .map_err(db_err("playback"))?
        else {
            return Ok(None);
        };
        let Some(text) = m.handoff.clone() else {
            return Ok(None);
        };
        if m.recording_status != RecordingStatus::Pending.as_str() {
            return Ok(None);
        }
        if let Some(n) = &m.node_id {
            if n != &scope.id && scope.others_alive(&self.conn).await?.contains(n) {
                return Ok(None);
            }
        }
        let same_node = match &m.node_id {
            Some(n) => playbacks::Column::NodeId.eq(n.clone()),
            None => playbacks::Column::NodeId.is_null(),
        };
        let r = playbacks::Entity::update_many()
            .col_expr(playbacks::Column::NodeId, Expr::value(scope.id.clone()))
            .col_expr(
                playbacks::Column::Handoff,
                Expr::value(Option::<String>::None),
            )
            .col_expr(playbacks::Column::UpdatedAt, Expr::value(now()))
            .filter(playbacks::Column::Id.eq(id.as_uuid()))
            .filter(playbacks::Column::Handoff.eq(text.clone()))
            .filter(same_node)
            .exec(&self.conn)
            .await
            .map_err(db_err("playback"))?;
        if r.rows_affected != 1 {
            return Ok(None);
        }
        vigil_domain::RecordWindow::from_text(&text)
            .map(Some)
            .ok_or_else(|| corrupt("hand-off window", text))
    }

    async fn release_handoffs(&self) -> Result<u64> {
        let Some(scope) = &self.node else {
            return Ok(0);
        };
        let r = playbacks::Entity::update_many()
            .col_expr(
                playbacks::Column::NodeId,
                Expr::value(Option::<String>::None),
            )
            .filter(playbacks::Column::NodeId.eq(scope.id.clone()))
            .filter(playbacks::Column::Handoff.is_not_null())
            .filter(playbacks::Column::RecordingStatus.eq(RecordingStatus::Pending.as_str()))
            .exec(&self.conn)
            .await
            .map_err(db_err("playback"))?;
        Ok(r.rows_affected)
    }

    fn changed_elsewhere(&self, _id: PlaybackId) {
        self.counts.invalidate();
    }

    async fn finished_before(
        &self,
        camera: CameraId,
        cutoff: OffsetDateTime,
        limit: u64,
    ) -> Result<Vec<Playback>> {
        self.deletable(Some(camera), Some(cutoff), limit).await
    }

    async fn stored_bytes(&self, camera: Option<CameraId>) -> Result<u64> {
        use sea_orm::sea_query::{Alias, ExprTrait, Func, SimpleExpr};
        // SUM of a BIGINT is NUMERIC on Postgres and an integer on SQLite:
        // cast, so both read back as i64.
        let sum: SimpleExpr = Func::sum(Expr::col(playbacks::Column::FileSizeBytes)).into();
        let mut q = playbacks::Entity::find()
            .select_only()
            .column_as(sum.cast_as(Alias::new("BIGINT")), "bytes")
            .filter(playbacks::Column::RecordingStatus.eq(RecordingStatus::Completed.as_str()));
        if let Some(c) = camera {
            q = q.filter(playbacks::Column::CameraId.eq(c.as_uuid()));
        }
        let bytes: Option<Option<i64>> = q
            .into_tuple()
            .one(&self.conn)
            .await
            .map_err(db_err("playbacks"))?;
        Ok(bytes.flatten().map_or(0, |b| u64::try_from(b).unwrap_or(0)))
    }

    async fn oldest_finished(&self, camera: Option<CameraId>, limit: u64) -> Result<Vec<Playback>> {
        self.deletable(camera, None, limit).await
    }

    async fn set_retain(&self, id: PlaybackId, retain: bool) -> Result<Option<Playback>> {
        let r = playbacks::Entity::update_many()
            .col_expr(playbacks::Column::Retain, Expr::value(retain))
            .col_expr(playbacks::Column::UpdatedAt, Expr::value(now()))
            .filter(playbacks::Column::Id.eq(id.as_uuid()))
            .exec(&self.conn)
            .await
            .map_err(db_err("playback"))?;
        if r.rows_affected == 0 {
            return Ok(None);
        }
        self.get(id).await
    }

    async fn delete(&self, id: PlaybackId) -> Result<bool> {
        let txn = begin_write(&self.conn).await.map_err(db_err("playback"))?;
        // The event keeps existing but no longer points at a deleted clip.
        events::Entity::update_many()
            .col_expr(
                events::Column::PlaybackId,
                Expr::value(Option::<uuid::Uuid>::None),
            )
            .filter(events::Column::PlaybackId.eq(id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(db_err("playback"))?;
        // Its share links go with it (the foreign key cascades too; SQLite
        // only with its pragma on, so it is said here).
        shares::Entity::delete_many()
            .filter(shares::Column::PlaybackId.eq(id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(db_err("playback"))?;
        let r = playbacks::Entity::delete_by_id(id.as_uuid())
            .exec(&txn)
            .await
            .map_err(db_err("playback"))?;
        txn.commit().await.map_err(db_err("playback"))?;
        self.counts.invalidate();
        Ok(r.rows_affected > 0)
    }
}
