use super::now;
use crate::{
    entity::{cameras, events},
    errors::{corrupt, db_err},
};
use async_trait::async_trait;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use vigil_domain::{
    camera::{RetentionDays, RollSeconds},
    ports::{CameraRepo, Listed, Result},
    Camera, CameraId, CameraName, CameraPatch, CameraStream, Error, NewCamera, Page, RtspUrl,
    Transcode,
};

#[derive(Debug, Clone)]
pub struct SqlCameraRepo {
    conn: DatabaseConnection,
}

impl SqlCameraRepo {
    pub fn new(conn: DatabaseConnection) -> Self {
        Self { conn }
    }
}

fn clamp_i64(b: u64) -> i64 {
    i64::try_from(b).unwrap_or(i64::MAX)
}

pub(crate) fn to_domain(m: cameras::Model) -> Result<Camera> {
    Ok(Camera {
        id: CameraId::from_uuid(m.id),
        name: CameraName::parse(&m.name).map_err(|e| corrupt("camera name", e))?,
        rtsp_url: RtspUrl::parse(&m.rtsp_url).map_err(|e| corrupt("camera URL", e))?,
        n_channel_id: m.n_channel_id,
        pre_roll: RollSeconds::parse("preRollSeconds", m.pre_roll_seconds.into())
            .map_err(|e| corrupt("pre-roll", e))?,
        post_roll: RollSeconds::parse("postRollSeconds", m.post_roll_seconds.into())
            .map_err(|e| corrupt("post-roll", e))?,
        retention: m
            .retention_days
            .map(|d| RetentionDays::parse(d.into()).map_err(|e| corrupt("retention", e)))
            .transpose()?,
        retention_max_bytes: m.retention_max_bytes.map(|b| b.max(0) as u64),
        merge: RollSeconds::parse("mergeSeconds", m.merge_seconds.into())
            .map_err(|e| corrupt("merge window", e))?,
        transcode: Transcode::parse(&m.transcode).map_err(|e| corrupt("transcode", e))?,
        stream: match m.stream.as_deref() {
            Some(json) => serde_json::from_str(json).map_err(|e| corrupt("stream", e))?,
            None => CameraStream::default(),
        },
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

#[async_trait]
impl CameraRepo for SqlCameraRepo {
    async fn create(&self, new: NewCamera) -> Result<Camera> {
        let t = now();
        let row = cameras::ActiveModel {
            id: Set(CameraId::new().as_uuid()),
            name: Set(new.name.as_str().to_owned()),
            rtsp_url: Set(new.rtsp_url.expose_with_credentials().to_owned()),
            n_channel_id: Set(new.n_channel_id),
            pre_roll_seconds: Set(new.pre_roll.get() as i32),
            post_roll_seconds: Set(new.post_roll.get() as i32),
            retention_days: Set(new.retention.map(|d| d.get() as i32)),
            retention_max_bytes: Set(new.retention_max_bytes.map(clamp_i64)),
            merge_seconds: Set(new.merge.get() as i32),
            transcode: Set(new.transcode.as_str().to_owned()),
            stream: Set(None),
            created_at: Set(t),
            updated_at: Set(t),
        };
        to_domain(row.insert(&self.conn).await.map_err(db_err("camera"))?)
    }

    async fn get(&self, id: CameraId) -> Result<Option<Camera>> {
        cameras::Entity::find_by_id(id.as_uuid())
            .one(&self.conn)
            .await
            .map_err(db_err("camera"))?
            .map(to_domain)
            .transpose()
    }

    async fn list(&self, page: Page) -> Result<Listed<Camera>> {
        let q = cameras::Entity::find();
        let n = q
            .clone()
            .count(&self.conn)
            .await
            .map_err(db_err("cameras"))?;
        let rows = q
            .order_by_asc(cameras::Column::CreatedAt)
            .order_by_asc(cameras::Column::Id)
            .offset(page.offset())
            .limit(page.limit())
            .all(&self.conn)
            .await
            .map_err(db_err("cameras"))?;
        Ok(Listed {
            rows: rows.into_iter().map(to_domain).collect::<Result<_>>()?,
            total: n,
        })
    }

    async fn update(&self, id: CameraId, patch: CameraPatch) -> Result<Camera> {
        let Some(m) = cameras::Entity::find_by_id(id.as_uuid())
            .one(&self.conn)
            .await
            .map_err(db_err("camera"))?
        else {
            return Err(Error::not_found("camera"));
        };
        let mut row: cameras::ActiveModel = m.into();
        if let Some(n) = patch.name {
            row.name = Set(n.as_str().to_owned());
        }
        if let Some(u) = patch.rtsp_url {
            row.rtsp_url = Set(u.expose_with_credentials().to_owned());
        }
        if let Some(c) = patch.n_channel_id {
            row.n_channel_id = Set(c);
        }
        if let Some(p) = patch.pre_roll {
            row.pre_roll_seconds = Set(p.get() as i32);
        }
        if let Some(p) = patch.post_roll {
            row.post_roll_seconds = Set(p.get() as i32);
        }
        if let Some(r) = patch.retention {
            row.retention_days = Set(r.map(|d| d.get() as i32));
        }
        if let Some(b) = patch.retention_max_bytes {
            row.retention_max_bytes = Set(b.map(clamp_i64));
        }
        if let Some(m) = patch.merge {
            row.merge_seconds = Set(m.get() as i32);
        }
        if let Some(t) = patch.transcode {
            row.transcode = Set(t.as_str().to_owned());
        }
        row.updated_at = Set(now());
        to_domain(row.update(&self.conn).await.map_err(db_err("camera"))?)
    }

    async fn set_stream(&self, id: CameraId, stream: &CameraStream) -> Result<()> {
        let json =
            serde_json::to_string(stream).map_err(|e| Error::internal(format!("stream: {e}")))?;
        // One UPDATE of one column: a PATCH racing with it keeps its own
        // fields, and `updated_at` stays the user's last change.
        cameras::Entity::update_many()
            .col_expr(
                cameras::Column::Stream,
                sea_orm::sea_query::Expr::value(json),
            )
            .filter(cameras::Column::Id.eq(id.as_uuid()))
            .exec(&self.conn)
            .await
            .map_err(db_err("camera"))?;
        Ok(())
    }

    async fn delete(&self, id: CameraId) -> Result<bool> {
        let has_events = events::Entity::find()
            .filter(events::Column::CameraId.eq(id.as_uuid()))
            .count(&self.conn)
            .await
            .map_err(db_err("camera"))?
            > 0;
        if has_events {
            return Err(Error::conflict(
                "camera has events and recordings; delete those first",
            ));
        }
        let r = cameras::Entity::delete_by_id(id.as_uuid())
            .exec(&self.conn)
            .await
            .map_err(db_err("camera"))?;
        Ok(r.rows_affected > 0)
    }
}
