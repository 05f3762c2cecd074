use super::{micros, now};
use crate::{entity::shares, errors::db_err};
use async_trait::async_trait;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder,
};
use vigil_domain::{
    ports::{Result, ShareRepo},
    NewShare, PlaybackId, Share, ShareId,
};

#[derive(Debug, Clone)]
pub struct SqlShareRepo {
    conn: DatabaseConnection,
}

impl SqlShareRepo {
    pub fn new(conn: DatabaseConnection) -> Self {
        Self { conn }
    }
}

fn to_domain(m: shares::Model) -> Share {
    Share {
        id: ShareId::from_uuid(m.id),
        playback_id: PlaybackId::from_uuid(m.playback_id),
        expires_at: m.expires_at,
        created_at: m.created_at,
    }
}

#[async_trait]
impl ShareRepo for SqlShareRepo {
    async fn create(&self, new: NewShare) -> Result<Share> {
        let row = shares::ActiveModel {
            id: Set(ShareId::new().as_uuid()),
            playback_id: Set(new.playback_id.as_uuid()),
            token_hash: Set(new.token_hash),
            expires_at: Set(micros(new.expires_at)),
            created_at: Set(now()),
        };
        Ok(to_domain(
            row.insert(&self.conn).await.map_err(db_err("share"))?,
        ))
    }

    async fn list_of(&self, playback: PlaybackId) -> Result<Vec<Share>> {
        Ok(shares::Entity::find()
            .filter(shares::Column::PlaybackId.eq(playback.as_uuid()))
            .order_by_desc(shares::Column::CreatedAt)
            .order_by_desc(shares::Column::Id)
            .all(&self.conn)
            .await
            .map_err(db_err("shares"))?
            .into_iter()
            .map(to_domain)
            .collect())
    }

    async fn find(&self, token_hash: &str) -> Result<Option<Share>> {
        Ok(shares::Entity::find()
            .filter(shares::Column::TokenHash.eq(token_hash))
            .one(&self.conn)
            .await
            .map_err(db_err("share"))?
            .map(to_domain))
    }

    async fn delete(&self, id: ShareId) -> Result<bool> {
        let r = shares::Entity::delete_by_id(id.as_uuid())
            .exec(&self.conn)
            .await
            .map_err(db_err("share"))?;
        Ok(r.rows_affected > 0)
    }
}
