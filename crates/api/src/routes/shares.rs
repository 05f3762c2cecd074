//! Share links: `POST /playbacks/{id}/shares` makes a URL that plays the
//! clip in a browser without a token, until it expires or `DELETE
//! /shares/{id}` revokes it. The URL is Vigil's own (`/s/{token}`) and
//! redirects to a fresh presigned (or signed `/media`) URL at each visit,
//! so a revoked link stops working at once, with S3 too. Only the token's
//! SHA-256 is stored.

use crate::{
    auth::AuthUser,
    error::{ApiError, ApiResult},
    extract::{int, path_id, JsonBody},
    views::{ListView, MediaUrls},
};
use actix_web::{http::header, web, HttpResponse};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;
use vigil_domain::{
    ports::{ObjectStore, PlaybackRepo, ShareRepo},
    NewShare, PlaybackId, RecordingStatus, Share, ShareId,
};

/// Where share URLs point: the server's public base (`PUBLIC_URL`).
#[derive(Debug, Clone)]
pub struct ShareBase(pub String);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateShare {
    /// How long the link works: 60 s to 30 days.
    #[serde(deserialize_with = "int::required")]
    #[schema(value_type = i64, minimum = 60, maximum = 2592000)]
    pub expires_in_seconds: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedShare {
    pub id: Uuid,
    /// Plays the clip without a token until `expiresAt`; shown only here.
    pub url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShareView {
    pub id: Uuid,
    pub playback_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub expired: bool,
}

impl ShareView {
    fn of(s: Share, now: OffsetDateTime) -> Self {
        Self {
            id: s.id.as_uuid(),
            playback_id: s.playback_id.as_uuid(),
            expired: s.expired(now),
            expires_at: s.expires_at,
            created_at: s.created_at,
        }
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Share a stored clip.
#[utoipa::path(post, path = "/playbacks/{id}/shares", tag = "shares", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404.")), request_body = CreateShare, security(("bearer" = [])),
    responses((status = 201, body = CreatedShare), (status = 400), (status = 403), (status = 404), (status = 409, description = "the playback has no stored clip yet"), (status = 401)))]
#[tracing::instrument(skip_all, fields(playback_id = %id, share_id = tracing::field::Empty))]
pub async fn create(
    me: AuthUser,
    id: web::Path<String>,
    body: JsonBody<CreateShare>,
    playbacks: web::Data<dyn PlaybackRepo>,
    shares: web::Data<dyn ShareRepo>,
    base: web::Data<ShareBase>,
) -> ApiResult<HttpResponse> {
    me.require_write()?;
    let id: PlaybackId = path_id(&id, "playback")?;
    let ttl = Share::parse_ttl(body.0.expires_in_seconds)
        .map_err(|e| ApiError::field("expiresInSeconds", e))?;
    let p = playbacks
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("playback"))?;
    if p.status != RecordingStatus::Completed || p.video_key.is_none() {
        return Err(ApiError::conflict(
            "only a stored clip (COMPLETED) can be shared",
        ));
    }
    // 244 random bits (two v4 UUIDs from the OS's generator), as hex.
    let token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    let share = shares
        .create(NewShare {
            playback_id: id,
            token_hash: token_hash(&token),
            expires_at: OffsetDateTime::now_utc() + ttl,
        })
        .await?;
    tracing::Span::current().record("share_id", tracing::field::display(share.id));
    tracing::info!(expires_at = %share.expires_at, "share link made");
    Ok(HttpResponse::Created().json(CreatedShare {
        id: share.id.as_uuid(),
        url: format!("{}/s/{token}", base.0.trim_end_matches('/')),
        expires_at: share.expires_at,
    }))
}

/// A playback's share links, newest first (their URLs are not kept).
#[utoipa::path(get, path = "/playbacks/{id}/shares", tag = "shares", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404.")), security(("bearer" = [])),
    responses((status = 200, body = ListView<ShareView>), (status = 403), (status = 404), (status = 401)))]
pub async fn list(
    me: AuthUser,
    id: web::Path<String>,
    playbacks: web::Data<dyn PlaybackRepo>,
    shares: web::Data<dyn ShareRepo>,
) -> ApiResult<HttpResponse> {
    me.require_write()?;
    let id: PlaybackId = path_id(&id, "playback")?;
    if playbacks.get(id).await?.is_none() {
        return Err(ApiError::not_found("playback"));
    }
    let now = OffsetDateTime::now_utc();
    let data: Vec<_> = shares
        .list_of(id)
        .await?
        .into_iter()
        .map(|s| ShareView::of(s, now))
        .collect();
    Ok(HttpResponse::Ok().json(ListView {
        total: data.len() as u64,
        data,
    }))
}

/// Revoke a share link: its URL answers 404 from now on.
#[utoipa::path(delete, path = "/shares/{id}", tag = "shares", params(("id" = uuid::Uuid, Path, description = "The resource id (a UUID); anything else is 404.")), security(("bearer" = [])),
    responses((status = 204), (status = 403), (status = 404), (status = 401)))]
#[tracing::instrument(skip_all, fields(share_id = %id))]
pub async fn delete(
    me: AuthUser,
    id: web::Path<String>,
    shares: web::Data<dyn ShareRepo>,
) -> ApiResult<HttpResponse> {
    me.require_write()?;
    let id: ShareId = path_id(&id, "share")?;
    if shares.delete(id).await? {
        tracing::info!("share link revoked");
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::not_found("share"))
    }
}

/// Open a share link (no token): a redirect to the clip, valid for a short
/// while; 410 once the link has expired, 404 when it never was or was
/// revoked.
#[utoipa::path(get, path = "/s/{token}", tag = "shares", params(("token" = String, Path, description = "The link's secret.")),
    responses((status = 302, description = "to a short-lived URL of the clip"), (status = 404), (status = 410)))]
pub async fn open(
    token: web::Path<String>,
    shares: web::Data<dyn ShareRepo>,
    playbacks: web::Data<dyn PlaybackRepo>,
    store: web::Data<dyn ObjectStore>,
    urls: web::Data<MediaUrls>,
) -> ApiResult<HttpResponse> {
    let gone = || ApiError::not_found("share");
    let share = shares.find(&token_hash(&token)).await?.ok_or_else(gone)?;
    let now = OffsetDateTime::now_utc();
    if share.expired(now) {
        return Err(ApiError::gone("the share link has expired"));
    }
    let key = playbacks
        .get(share.playback_id)
        .await?
        .and_then(|p| p.video_key)
        .ok_or_else(gone)?;
    // Never longer than the link itself, nor than media URLs generally.
    let left = (share.expires_at - now).unsigned_abs().min(urls.ttl);
    let url = store
        .url(&key, left.max(std::time::Duration::from_secs(1)))
        .await?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish())
}
