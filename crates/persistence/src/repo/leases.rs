//! Camera leases (docs/design/cluster.md, invariant 5). Each change is one
//! conditional write on the camera's row: an insert that fails on a
//! conflict, or an update whose WHERE re-checks the holder, epoch and
//! expiry read before it. Two nodes asking at once: one wins.

use super::now;
use crate::{entity::camera_leases, errors::db_err};
use async_trait::async_trait;
use sea_orm::{
    sea_query::Expr, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder,
};
use std::time::Duration;
use time::OffsetDateTime;
use vigil_domain::{
    ports::{LeaseRepo, Result},
    CameraId, CameraLease, Error, NodeId,
};

#[derive(Debug, Clone)]
pub struct SqlLeaseRepo {
    conn: DatabaseConnection,
}

impl SqlLeaseRepo {
    pub fn new(conn: DatabaseConnection) -> Self {
        Self { conn }
    }
}

fn until(ttl: Duration) -> OffsetDateTime {
    now() + ttl
}

/// Given back: run out a second ago.
fn given_back() -> OffsetDateTime {
    now() - Duration::from_secs(1)
}

fn to_domain(m: camera_leases::Model) -> Result<CameraLease> {
    Ok(CameraLease {
        camera: CameraId::from_uuid(m.camera_id),
        node: m
            .node_id
            .parse()
            .map_err(|e: String| Error::internal(format!("stored lease node: {e}")))?,
        epoch: u64::try_from(m.epoch).unwrap_or(0),
        expires_at: m.expires_at,
    })
}

#[async_trait]
impl LeaseRepo for SqlLeaseRepo {
    async fn claim(&self, camera: CameraId, node: &NodeId, ttl: Duration) -> Result<Option<u64>> {
        let row = camera_leases::Entity::find_by_id(camera.as_uuid())
            .one(&self.conn)
            .await
            .map_err(db_err("camera lease"))?;
        let Some(row) = row else {
            let fresh = camera_leases::ActiveModel {
                camera_id: Set(camera.as_uuid()),
                node_id: Set(node.to_string()),
                epoch: Set(1),
                expires_at: Set(until(ttl)),
            };
            return match camera_leases::Entity::insert(fresh)
                .exec_without_returning(&self.conn)
                .await
            {
                Ok(_) => Ok(Some(1)),
                // Another node inserted it first.
                Err(e)
                    if matches!(
                        e.sql_err(),
                        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                    ) =>
                {
                    Ok(None)
                }
                Err(e) => Err(db_err("camera lease")(e)),
            };
        };
        let mine = row.node_id == node.as_str();
        if !mine && row.expires_at > now() {
            return Ok(None);
        }
        // Kept while it stays with one node (renewed, or taken back before
        // anyone else took it); one more when it changes hands.
        let epoch = if mine { row.epoch } else { row.epoch + 1 };
        let r = camera_leases::Entity::update_many()
            .col_expr(camera_leases::Column::NodeId, Expr::value(node.to_string()))
            .col_expr(camera_leases::Column::Epoch, Expr::value(epoch))
            .col_expr(camera_leases::Column::ExpiresAt, Expr::value(until(ttl)))
            .filter(camera_leases::Column::CameraId.eq(camera.as_uuid()))
            .filter(camera_leases::Column::NodeId.eq(row.node_id))
            .filter(camera_leases::Column::Epoch.eq(row.epoch))
            .filter(camera_leases::Column::ExpiresAt.eq(row.expires_at))
            .exec(&self.conn)
            .await
            .map_err(db_err("camera lease"))?;
        Ok((r.rows_affected == 1).then(|| u64::try_from(epoch).unwrap_or(0)))
    }

    async fn renew(&self, node: &NodeId, ttl: Duration) -> Result<Vec<CameraLease>> {
        let t = now();
        camera_leases::Entity::update_many()
            .col_expr(camera_leases::Column::ExpiresAt, Expr::value(until(ttl)))
            .filter(camera_leases::Column::NodeId.eq(node.to_string()))
            .filter(camera_leases::Column::ExpiresAt.gt(t))
            .exec(&self.conn)
            .await
            .map_err(db_err("camera leases"))?;
        camera_leases::Entity::find()
            .filter(camera_leases::Column::NodeId.eq(node.to_string()))
            .filter(camera_leases::Column::ExpiresAt.gt(t))
            .order_by_asc(camera_leases::Column::CameraId)
            .all(&self.conn)
            .await
            .map_err(db_err("camera leases"))?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn release(&self, camera: CameraId, node: &NodeId) -> Result<()> {
        camera_leases::Entity::update_many()
            .col_expr(camera_leases::Column::ExpiresAt, Expr::value(given_back()))
            .filter(camera_leases::Column::CameraId.eq(camera.as_uuid()))
            .filter(camera_leases::Column::NodeId.eq(node.to_string()))
            .exec(&self.conn)
            .await
            .map_err(db_err("camera lease"))?;
        Ok(())
    }

    async fn release_all(&self, node: &NodeId) -> Result<u64> {
        let r = camera_leases::Entity::update_many()
            .col_expr(camera_leases::Column::ExpiresAt, Expr::value(given_back()))
            .filter(camera_leases::Column::NodeId.eq(node.to_string()))
            .filter(camera_leases::Column::ExpiresAt.gt(now()))
            .exec(&self.conn)
            .await
            .map_err(db_err("camera leases"))?;
        Ok(r.rows_affected)
    }

    async fn get(&self, camera: CameraId) -> Result<Option<CameraLease>> {
        camera_leases::Entity::find_by_id(camera.as_uuid())
            .one(&self.conn)
            .await
            .map_err(db_err("camera lease"))?
            .map(to_domain)
            .transpose()
    }

    async fn all(&self) -> Result<Vec<CameraLease>> {
        camera_leases::Entity::find()
            .order_by_asc(camera_leases::Column::CameraId)
            .all(&self.conn)
            .await
            .map_err(db_err("camera leases"))?
            .into_iter()
            .map(to_domain)
            .collect()
    }
}
