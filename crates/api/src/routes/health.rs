//! Liveness and readiness.

use crate::error::{code, ErrorDetail};
use actix_web::{web, HttpResponse};
use serde::Serialize;
use std::{collections::BTreeMap, sync::Arc, time::Duration};
use vigil_domain::ports::Probe;

/// What `/ready` checks.
#[derive(Debug, Clone, Default)]
pub struct Probes(pub Vec<Arc<dyn Probe>>);

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthView {
    pub status: &'static str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadyView {
    /// `ready` or `unavailable`
    pub status: &'static str,
    /// Each dependency: `ok`, `error` or `timeout`. The reason goes to the
    /// log only: an anonymous caller learns which dependency failed, nothing
    /// about it.
    pub checks: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// The process is up.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = HealthView)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(HealthView { status: "ok" })
}

/// The database and the object store answer.
#[utoipa::path(get, path = "/ready", tag = "health", responses(
    (status = 200, body = ReadyView), (status = 503, body = ReadyView)))]
pub async fn ready(probes: web::Data<Probes>) -> HttpResponse {
    let mut checks = BTreeMap::new();
    let mut failed = Vec::new();
    for p in &probes.0 {
        let res = tokio::time::timeout(Duration::from_secs(5), p.check()).await;
        let text = match res {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(e)) => {
                tracing::warn!(check = p.name(), error = %e.chain(), "readiness check failed");
                failed.push(p.name());
                "error".to_owned()
            }
            Err(_) => {
                tracing::warn!(check = p.name(), "readiness check had no answer within 5 s");
                failed.push(p.name());
                "timeout".to_owned()
            }
        };
        checks.insert(p.name(), text);
    }
    if failed.is_empty() {
        HttpResponse::Ok().json(ReadyView {
            status: "ready",
            checks,
            error: None,
        })
    } else {
        HttpResponse::ServiceUnavailable().json(ReadyView {
            status: "unavailable",
            checks,
            error: Some(ErrorDetail {
                code: code::UNAVAILABLE,
                message: format!("not ready: {} failed", failed.join(", ")),
                field: None,
            }),
        })
    }
}
