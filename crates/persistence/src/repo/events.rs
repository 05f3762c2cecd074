use super::{begin_write, count_cache::CountCache, micros, now};
use crate::{
    entity::{cameras, events, playbacks},
    errors::{corrupt, db_err},
};
use async_trait::async_trait;
use sea_orm::{
    sea_query::Expr, ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::sync::Arc;
use time::OffsetDateTime;
use vigil_domain::{
    ports::{EventRepo, Listed, Result},
    Error, Event, EventFilter, EventId, EventType, NewEvent, Page, PlaybackId, RecordingStatus,
};

#[derive(Debug, Clone)]
pub struct SqlEventRepo {
    conn: DatabaseConnection,
    /// Playback totals, stale once an event brings a new playback.
    playback_counts: Arc<CountCache>,
    /// The node the playbacks it creates are recorded by.
    node: Option<String>,
}

impl SqlEventRepo {
    pub(crate) fn new(
        conn: DatabaseConnection,
        playback_counts: Arc<CountCache>,
        node: Option<String>,
    ) -> Self {
        Self {
            conn,
            playback_counts,
            node,
        }
    }
}

fn to_domain(m: events::Model, camera: Option<cameras::Model>) -> Result<Event> {
    Ok(Event {
        id: EventId::from_uuid(m.id),
        camera_id: vigil_domain::CameraId::from_uuid(m.camera_id),
        camera_name: camera.map(|c| c.name).unwrap_or_default(),
        event_type: m
            .event_type
            .parse::<EventType>()
            .map_err(|e| corrupt("event type", e))?,
        description: m.description,
        n_channel_id: m.n_channel_id,
        playback_id: m.playback_id.map(PlaybackId::from_uuid),
        occurred_at: m.occurred_at,
        group_id: m.group_id,
        external_id: m.external_id,
        created_at: m.created_at,
        ended_at: m.ended_at,
    })
}

/// Inserts the event row, checking its camera; returns it and the camera.
async fn insert_event(
    txn: &DatabaseTransaction,
    new: NewEvent,
    playback: Option<PlaybackId>,
) -> Result<(events::Model, cameras::Model)> {
    let camera = cameras::Entity::find_by_id(new.camera_id.as_uuid())
        .one(txn)
        .await
        .map_err(db_err("event"))?
        .ok_or_else(|| Error::unknown_id("cameraId", "camera"))?;
    let row = events::ActiveModel {
        id: Set(EventId::new().as_uuid()),
        camera_id: Set(camera.id),
        event_type: Set(new.event_type.as_str().to_owned()),
        description: Set(new.description),
        n_channel_id: Set(new.n_channel_id.or(camera.n_channel_id)),
        playback_id: Set(playback.map(|p| p.as_uuid())),
        occurred_at: Set(new.occurred_at),
        group_id: Set(new.group_id),
        external_id: Set(new.external_id),
        created_at: Set(now()),
        ended_at: Set(None),
    };
    let m = row.insert(txn).await.map_err(db_err("event"))?;
    Ok((m, camera))
}

impl SqlEventRepo {
    async fn load(&self, id: EventId) -> Result<Option<Event>> {
        self.first(events::Entity::find_by_id(id.as_uuid())).await
    }

    /// The first event `q` selects, with its camera's name.
    async fn first(&self, q: sea_orm::Select<events::Entity>) -> Result<Option<Event>> {
        q.find_also_related(cameras::Entity)
            .one(&self.conn)
            .await
            .map_err(db_err("event"))?
            .map(|(e, c)| to_domain(e, c))
            .transpose()
    }
}

#[async_trait]
impl EventRepo for SqlEventRepo {
    async fn create(&self, new: NewEvent, with_playback: Option<PlaybackId>) -> Result<Event> {
        let txn = begin_write(&self.conn).await.map_err(db_err("event"))?;
        let (m, camera) = insert_event(&txn, new, with_playback).await?;
        let (t, id) = (m.created_at, m.id);
        if let Some(pid) = with_playback {
            playbacks::ActiveModel {
                id: Set(pid.as_uuid()),
                event_id: Set(id),
                camera_id: Set(camera.id),
                recording_status: Set(RecordingStatus::Pending.as_str().to_owned()),
                video_key: Set(None),
                thumbnail_key: Set(None),
                file_size_bytes: Set(None),
                duration_sec: Set(None),
                codec: Set(None),
                resolution: Set(None),
                width: Set(None),
                height: Set(None),
                browser_playable: Set(None),
                local_path: Set(None),
                error: Set(None),
                started_at: Set(None),
                ended_at: Set(None),
                gaps: Set(None),
                retain: Set(false),
                node_id: Set(self.node.clone()),
                stop_requested_at: Set(None),
                handoff: Set(None),
                created_at: Set(t),
                updated_at: Set(t),
            }
            .insert(&txn)
            .await
            .map_err(db_err("playback"))?;
        }
        txn.commit().await.map_err(db_err("event"))?;
        if with_playback.is_some() {
            self.playback_counts.invalidate();
        }
        to_domain(m, Some(camera))
    }

    async fn get(&self, id: EventId) -> Result<Option<Event>> {
        self.load(id).await
    }

    async fn list(&self, filter: EventFilter, page: Page) -> Result<Listed<Event>> {
        let mut q = events::Entity::find();
        if let Some(c) = filter.camera_id {
            q = q.filter(events::Column::CameraId.eq(c.as_uuid()));
        }
        if let Some(t) = filter.event_type {
            q = q.filter(events::Column::EventType.eq(t.as_str()));
        }
        if let Some(g) = filter.group_id {
            q = q.filter(events::Column::GroupId.eq(g));
        }
        let n = q
            .clone()
            .count(&self.conn)
            .await
            .map_err(db_err("events"))?;
        let rows = q
            .find_also_related(cameras::Entity)
            .order_by_desc(events::Column::CreatedAt)
            .order_by_desc(events::Column::Id)
            .offset(page.offset())
            .limit(page.limit())
            .all(&self.conn)
            .await
            .map_err(db_err("events"))?;
        Ok(Listed {
            rows: rows
                .into_iter()
                .map(|(e, c)| to_domain(e, c))
                .collect::<Result<_>>()?,
            total: n,
        })
    }

    async fn mark_ended(&self, id: EventId, at: OffsetDateTime) -> Result<Event> {
        let txn = begin_write(&self.conn).await.map_err(db_err("event"))?;
        let m = events::Entity::find_by_id(id.as_uuid())
            .one(&txn)
            .await
            .map_err(db_err("event"))?
            .ok_or_else(|| Error::not_found("event"))?;
        if m.ended_at.is_none() {
            let mut row: events::ActiveModel = m.into();
            row.ended_at = Set(Some(micros(at)));
            row.update(&txn).await.map_err(db_err("event"))?;
        }
        txn.commit().await.map_err(db_err("event"))?;
        self.load(id)
            .await?
            .ok_or_else(|| Error::not_found("event"))
    }

    async fn create_joining(&self, new: NewEvent, playback: PlaybackId) -> Result<Event> {
        let txn = begin_write(&self.conn).await.map_err(db_err("event"))?;
        let running = playbacks::Entity::find_by_id(playback.as_uuid())
            .filter(playbacks::Column::CameraId.eq(new.camera_id.as_uuid()))
            .filter(playbacks::Column::RecordingStatus.is_in([
                RecordingStatus::Pending.as_str(),
                RecordingStatus::Recording.as_str(),
            ]))
            .count(&txn)
            .await
            .map_err(db_err("playback"))?;
        if running == 0 {
            return Err(Error::conflict(
                "the recording to join is no longer running on this camera",
            ));
        }
        let (m, camera) = insert_event(&txn, new, Some(playback)).await?;
        txn.commit().await.map_err(db_err("event"))?;
        to_domain(m, Some(camera))
    }

    async fn find_external(
        &self,
        camera: vigil_domain::CameraId,
        external_id: &str,
    ) -> Result<Option<Event>> {
        self.first(
            events::Entity::find()
                .filter(events::Column::CameraId.eq(camera.as_uuid()))
                .filter(events::Column::ExternalId.eq(external_id)),
        )
        .await
    }

    async fn open_events_of(&self, playback: PlaybackId) -> Result<u64> {
        events::Entity::find()
            .filter(events::Column::PlaybackId.eq(playback.as_uuid()))
            .filter(events::Column::EndedAt.is_null())
            .count(&self.conn)
            .await
            .map_err(db_err("events"))
    }

    async fn end_all_of(&self, playback: PlaybackId, at: OffsetDateTime) -> Result<u64> {
        let r = events::Entity::update_many()
            .col_expr(events::Column::EndedAt, Expr::value(micros(at)))
            .filter(events::Column::PlaybackId.eq(playback.as_uuid()))
            .filter(events::Column::EndedAt.is_null())
            .exec(&self.conn)
            .await
            .map_err(db_err("events"))?;
        Ok(r.rows_affected)
    }
}
