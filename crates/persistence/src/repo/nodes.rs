use super::{micros, now};
use crate::{entity::nodes, errors::db_err};
use async_trait::async_trait;
use sea_orm::{
    sea_query::OnConflict, ActiveValue::Set, DatabaseConnection, EntityTrait, QueryOrder,
};
use vigil_domain::{
    ports::{NodeRepo, Result},
    Error, Node, NodeBeat,
};

#[derive(Debug, Clone)]
pub struct SqlNodeRepo {
    conn: DatabaseConnection,
}

impl SqlNodeRepo {
    pub fn new(conn: DatabaseConnection) -> Self {
        Self { conn }
    }
}

fn to_domain(m: nodes::Model) -> Result<Node> {
    Ok(Node {
        id: m
            .id
            .parse()
            .map_err(|e: String| Error::internal(format!("stored node id: {e}")))?,
        started_at: m.started_at,
        last_seen_at: m.last_seen_at,
        cameras: m.cameras.max(0) as u32,
        recordings: m.recordings.max(0) as u32,
        stopped_at: m.stopped_at,
    })
}

#[async_trait]
impl NodeRepo for SqlNodeRepo {
    async fn beat(&self, beat: &NodeBeat) -> Result<()> {
        let row = nodes::ActiveModel {
            id: Set(beat.id.to_string()),
            started_at: Set(micros(beat.started_at)),
            last_seen_at: Set(now()),
            cameras: Set(beat.cameras.min(i32::MAX as u32) as i32),
            recordings: Set(beat.recordings.min(i32::MAX as u32) as i32),
            stopped_at: Set(None),
        };
        nodes::Entity::insert(row)
            .on_conflict(
                OnConflict::column(nodes::Column::Id)
                    .update_columns([
                        nodes::Column::StartedAt,
                        nodes::Column::LastSeenAt,
                        nodes::Column::Cameras,
                        nodes::Column::Recordings,
                        nodes::Column::StoppedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await
            .map_err(db_err("node"))?;
        Ok(())
    }

    async fn leave(&self, id: &vigil_domain::NodeId) -> Result<()> {
        use sea_orm::{sea_query::Expr, ColumnTrait, QueryFilter};
        nodes::Entity::update_many()
            .col_expr(nodes::Column::StoppedAt, Expr::value(now()))
            .filter(nodes::Column::Id.eq(id.to_string()))
            .exec(&self.conn)
            .await
            .map_err(db_err("node"))?;
        Ok(())
    }

    async fn list(&self) -> Result<Vec<Node>> {
        nodes::Entity::find()
            .order_by_asc(nodes::Column::Id)
            .all(&self.conn)
            .await
            .map_err(db_err("nodes"))?
            .into_iter()
            .map(to_domain)
            .collect()
    }
}
