//! `/webhooks` (ADMIN): receivers of pushed news. A webhook's `secret`
//! signs every delivery and is shown once, in the answer to its creation.
//! Deliveries are durable and at least once; `GET
//! /webhooks/{id}/deliveries` shows every attempt.

use crate::{
    auth::AuthUser,
    error::{ApiError, ApiResult},
    extract::{path_id, JsonBody},
    routes::PageQuery,
    views::ListView,
};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;
use vigil_application::Webhooks;
use vigil_domain::{Attempt, Webhook, WebhookId};

// Listed for the OpenAPI document; a test keeps it equal to `PushKind`.
/// What a webhook can be told.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
pub enum WebhookEventName {
    #[serde(rename = "event.created")]
    EventCreated,
    #[serde(rename = "event.ended")]
    EventEnded,
    #[serde(rename = "playback.recording")]
    PlaybackRecording,
    #[serde(rename = "playback.completed")]
    PlaybackCompleted,
    #[serde(rename = "playback.failed")]
    PlaybackFailed,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateWebhook {
    /// `http://` or `https://`; a host that is (or resolves to) a loopback,
    /// private, link-local or metadata address is refused unless the
    /// server sets `WEBHOOK_ALLOW_PRIVATE=true`.
    #[schema(
        min_length = 8,
        max_length = 2048,
        pattern = r"^https?://(?:\[(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:|(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,5}(?::[0-9A-Fa-f]{1,4}){1,2}|(?:[0-9A-Fa-f]{1,4}:){1,4}(?::[0-9A-Fa-f]{1,4}){1,3}|(?:[0-9A-Fa-f]{1,4}:){1,3}(?::[0-9A-Fa-f]{1,4}){1,4}|(?:[0-9A-Fa-f]{1,4}:){1,2}(?::[0-9A-Fa-f]{1,4}){1,5}|[0-9A-Fa-f]{1,4}:(?::[0-9A-Fa-f]{1,4}){1,6}|:(?:(?::[0-9A-Fa-f]{1,4}){1,7}|:))\]|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])|(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?::(?:[0-9]{1,4}|[0-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(?:[/?][\x21-\x22\x24-\x7E]*)?$"
    )]
    pub url: String,
    /// The news it wants (distinct, at least one); absent: all of it.
    #[schema(value_type = Option<Vec<WebhookEventName>>, min_items = 1, max_items = 5)]
    pub events: Option<Vec<String>>,
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    pub id: Uuid,
    pub url: String,
    #[schema(value_type = Vec<WebhookEventName>)]
    pub events: Vec<&'static str>,
    pub description: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A new webhook, with its secret (shown only here).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// Signs each delivery: `Vigil-Signature: t=<unix>,v1=<hex
    /// HMAC-SHA256(secret, "<t>.<body>")>`. Not shown again.
    pub secret: String,
}

/// One attempt at a delivery.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// The delivery's id: the same on every attempt (`Vigil-Delivery`).
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub playback_id: Option<Uuid>,
    /// 1 for the first try.
    pub attempt: u32,
    /// The receiver's answer; null when there was none.
    pub status_code: Option<u16>,
    /// Why it did not take: a status, a timeout, a refused connection.
    pub error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PingView {
    /// The queued ping's delivery id; its attempts show in the deliveries.
    pub delivery_id: Uuid,
}

impl From<Webhook> for WebhookView {
    fn from(h: Webhook) -> Self {
        Self {
            id: h.id.as_uuid(),
            url: h.url,
            events: h.events.iter().map(|k| k.as_str()).collect(),
            description: h.description,
            created_at: h.created_at,
        }
    }
}

impl From<Attempt> for DeliveryView {
    fn from(a: Attempt) -> Self {
        Self {
            id: a.delivery_id,
            kind: a.kind.as_str(),
            playback_id: a.playback_id.map(|p| p.as_uuid()),
            attempt: a.attempt,
            status_code: a.status_code,
            error: a.error,
            at: a.at,
        }
    }
}

async fn the_webhook(hooks: &Webhooks, id: &str) -> ApiResult<Webhook> {
    let id: WebhookId = path_id(id, "webhook")?;
    hooks
        .repo
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

/// Add a webhook.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = CreateWebhook, security(("bearer" = [])),
    responses((status = 201, body = CreatedWebhook), (status = 400), (status = 403), (status = 401)))]
#[tracing::instrument(skip_all, fields(admin = %me.username))]
pub async fn create(
    me: AuthUser,
    body: JsonBody<CreateWebhook>,
    hooks: web::Data<Webhooks>,
) -> ApiResult<HttpResponse> {
    me.require_admin()?;
    let b = body.0;
    let url = Webhook::parse_url(&b.url).map_err(|e| ApiError::field("url", e))?;
    let events =
        Webhook::parse_events(b.events.as_deref()).map_err(|e| ApiError::field("events", e))?;
    let description = match b.description {
        Some(d) if d.chars().count() > Webhook::MAX_DESCRIPTION => {
            return Err(ApiError::field(
                "description",
                format!("must be at most {} characters", Webhook::MAX_DESCRIPTION),
            ))
        }
        d => d,
    };
    let hook = hooks.create(url, events, description).await?;
    let secret = hook.secret.clone();
    Ok(HttpResponse::Created().json(CreatedWebhook {
        webhook: hook.into(),
        secret,
    }))
}

/// List webhooks (without their secrets).
#[utoipa::path(get, path = "/webhooks", tag = "webhooks", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = ListView<WebhookView>), (status = 400), (status = 403), (status = 401)))]
pub async fn list(
    me: AuthUser,
    q: web::Query<PageQuery>,
    hooks: web::Data<Webhooks>,
) -> ApiResult<HttpResponse> {
    me.require_admin()?;
    let page = q.page()?;
    Ok(HttpResponse::Ok().json(ListView::from_listed(
        hooks.repo.list(page).await?,
        WebhookView::from,
    )))
}

/// Get a webhook (without its secret).
#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404.")), security(("bearer" = [])),
    responses((status = 200, body = WebhookView), (status = 403), (status = 404), (status = 401)))]
pub async fn get(
    me: AuthUser,
    id: web::Path<String>,
    hooks: web::Data<Webhooks>,
) -> ApiResult<HttpResponse> {
    me.require_admin()?;
    let hook = the_webhook(&hooks, &id).await?;
    Ok(HttpResponse::Ok().json(WebhookView::from(hook)))
}

/// Delete a webhook and its queued deliveries.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404.")), security(("bearer" = [])),
    responses((status = 204), (status = 403), (status = 404), (status = 401)))]
#[tracing::instrument(skip_all, fields(admin = %me.username, webhook_id = %id))]
pub async fn delete(
    me: AuthUser,
    id: web::Path<String>,
    hooks: web::Data<Webhooks>,
) -> ApiResult<HttpResponse> {
    me.require_admin()?;
    let id: WebhookId = path_id(&id, "webhook")?;
    if hooks.repo.delete(id).await? {
        tracing::info!("webhook deleted");
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("webhook"))
    }
}

/// Queue a `ping` delivery to the webhook (delivered like any other).
#[utoipa::path(post, path = "/webhooks/{id}/ping", tag = "webhooks", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404.")), security(("bearer" = [])),
    responses((status = 202, body = PingView), (status = 403), (status = 404), (status = 401)))]
pub async fn ping(
    me: AuthUser,
    id: web::Path<String>,
    hooks: web::Data<Webhooks>,
) -> ApiResult<HttpResponse> {
    me.require_admin()?;
    let hook = the_webhook(&hooks, &id).await?;
    let delivery_id = hooks.push.ping(&hook).await?;
    Ok(HttpResponse::Accepted().json(PingView { delivery_id }))
}

/// A webhook's delivery attempts, newest first.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404."), PageQuery), security(("bearer" = [])),
    responses((status = 200, body = ListView<DeliveryView>), (status = 400), (status = 403), (status = 404), (status = 401)))]
pub async fn deliveries(
    me: AuthUser,
    id: web::Path<String>,
    q: web::Query<PageQuery>,
    hooks: web::Data<Webhooks>,
) -> ApiResult<HttpResponse> {
    me.require_admin()?;
    let page = q.page()?;
    let hook = the_webhook(&hooks, &id).await?;
    Ok(HttpResponse::Ok().json(ListView::from_listed(
        hooks.repo.attempts(hook.id, page).await?,
        DeliveryView::from,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_names_are_the_kinds() {
        let documented: Vec<String> = [
            WebhookEventName::EventCreated,
            WebhookEventName::EventEnded,
            WebhookEventName::PlaybackRecording,
            WebhookEventName::PlaybackCompleted,
            WebhookEventName::PlaybackFailed,
        ]
        .iter()
        .map(|n| {
            serde_json::to_value(n)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
        let kinds: Vec<String> = vigil_domain::PushKind::SUBSCRIBABLE
            .iter()
            .map(|k| k.as_str().to_owned())
            .collect();
        assert_eq!(documented, kinds);
    }
}
