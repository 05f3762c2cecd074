//! `GET /nodes` (ADMIN): the Vigil processes sharing the database, as their
//! heartbeats say, and which one a camera's `ownerNode` names.

use crate::{auth::AuthUser, error::ApiResult, views::ListView};
use actix_web::{web, HttpResponse};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use vigil_domain::{ports::NodeRepo, Node, NodeId};

/// This process as a node: its id, and how long a heartbeat counts.
#[derive(Debug, Clone)]
pub struct ThisNode {
    /// None: not a named node (an embedded api without heartbeats).
    pub id: Option<NodeId>,
    /// A node not heard of for this long is not alive (`NODE_LEASE_SECONDS`).
    pub lease: std::time::Duration,
    /// With several nodes, the camera leases that say who owns what; None:
    /// this node records every camera.
    pub leases: Option<std::sync::Arc<dyn vigil_domain::ports::LeaseRepo>>,
}

/// Which node records each camera, read once per answer.
#[derive(Debug)]
pub enum Owners {
    /// Every camera is this node's (or nobody's, for an embedded api).
    All(Option<String>),
    /// By lease: the holder of each camera's lease that has not run out.
    Leased(std::collections::HashMap<vigil_domain::CameraId, String>),
}

impl Owners {
    pub fn of(&self, camera: vigil_domain::CameraId) -> Option<String> {
        match self {
            Owners::All(id) => id.clone(),
            Owners::Leased(held) => held.get(&camera).cloned(),
        }
    }
}

impl ThisNode {
    pub async fn owners(&self) -> vigil_domain::ports::Result<Owners> {
        let Some(leases) = &self.leases else {
            return Ok(Owners::All(self.id.as_ref().map(|i| i.to_string())));
        };
        let now = OffsetDateTime::now_utc();
        Ok(Owners::Leased(
            leases
                .all()
                .await?
                .into_iter()
                .filter(|l| l.held(now))
                .map(|l| (l.camera, l.node.to_string()))
                .collect(),
        ))
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    /// `NODE_ID`.
    pub id: String,
    /// Heard of within `NODE_LEASE_SECONDS`.
    pub alive: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
    /// Cameras it records.
    pub cameras: u32,
    /// Recordings running on it.
    pub recordings: u32,
}

impl NodeView {
    fn of(n: Node, now: OffsetDateTime, lease: std::time::Duration) -> Self {
        Self {
            alive: n.alive(now, lease),
            id: n.id.to_string(),
            started_at: n.started_at,
            last_seen_at: n.last_seen_at,
            cameras: n.cameras,
            recordings: n.recordings,
        }
    }
}

/// List the nodes.
#[utoipa::path(get, path = "/nodes", tag = "nodes", security(("bearer" = [])),
    responses((status = 200, body = ListView<NodeView>), (status = 401), (status = 403)))]
pub async fn list(
    me: AuthUser,
    nodes: web::Data<dyn NodeRepo>,
    this: web::Data<ThisNode>,
) -> ApiResult<HttpResponse> {
    me.require_admin()?;
    let now = OffsetDateTime::now_utc();
    let data: Vec<_> = nodes
        .list()
        .await?
        .into_iter()
        .map(|n| NodeView::of(n, now, this.lease))
        .collect();
    Ok(HttpResponse::Ok().json(ListView {
        total: data.len() as u64,
        data,
    }))
}
