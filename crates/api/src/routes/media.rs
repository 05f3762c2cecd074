//! `GET /media/{key}`: a playback's live HLS playlist
//! (`playbacks/{id}/live.m3u8`, in every storage mode, made on request
//! from the store's listing), or (local storage mode) a stored object with
//! `Range` (206), `ETag`/`If-None-Match` and its content type, so a
//! browser `<video>` or an HLS player can play and seek it. Open to any
//! signed-in user, or to anyone holding a valid signed URL
//! (`?exp=…&sig=…`); a tampered or expired signature is 403.

use crate::{
    auth::AuthUser,
    error::{ApiError, ApiResult},
    views::MediaUrls,
};
use actix_files::NamedFile;
use actix_web::{http::header, web, FromRequest, HttpRequest, HttpResponse};
use serde::Deserialize;
use vigil_application::Recordings;
use vigil_domain::{
    ports::{LocalMedia, MediaSigner},
    LiveSegment,
};

#[derive(Debug, Deserialize)]
pub struct Signature {
    exp: Option<String>,
    sig: Option<String>,
}

/// Fetch a stored object (local storage mode only).
#[utoipa::path(get, path = "/media/{key}", tag = "media",
    params(("key" = String, Path, description = "object key, e.g. playbacks/{id}/video.mp4"),
           ("exp" = Option<i64>, Query, description = "signed URL expiry (unix seconds)"),
           ("sig" = Option<String>, Query, description = "signed URL signature")),
    responses((status = 200, content_type = "video/mp4"), (status = 206), (status = 304), (status = 400), (status = 401), (status = 403), (status = 404), (status = 416)))]
#[tracing::instrument(skip_all, fields(key = %key))]
pub async fn get(
    req: HttpRequest,
    key: web::Path<String>,
    q: web::Query<Signature>,
    media: Option<web::Data<dyn LocalMedia>>,
    signer: web::Data<dyn MediaSigner>,
    flow: web::Data<Recordings>,
    urls: web::Data<MediaUrls>,
) -> ApiResult<HttpResponse> {
    let key = key.into_inner();
    let live = LiveSegment::playlist_of(&key);
    let Some(media) = media.filter(|_| live.is_none()) else {
        let Some(playback) = live else {
            return Err(ApiError::not_found(
                "media (objects are served by the object store)",
            ));
        };
        check(&req, &q, &key, signer.get_ref()).await?;
        let m3u8 = flow.live_playlist(playback, urls.ttl).await?;
        return Ok(HttpResponse::Ok()
            .content_type("application/vnd.apple.mpegurl")
            // It grows while recording: players re-read it.
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(m3u8));
    };
    check(&req, &q, &key, signer.get_ref()).await?;
    let path = media
        .path_of(&key)
        .map_err(|_| ApiError::not_found("object"))?;
    let file = NamedFile::open_async(&path)
        .await
        .map_err(|_| ApiError::not_found("object"))?;
    let ct = vigil_content_type(&key);
    let mut res = file
        .set_content_type(ct)
        .use_etag(true)
        .use_last_modified(true)
        .into_response(&req);
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(res)
}

/// A valid signature for `key`, or (without one) a signed-in user.
async fn check(
    req: &HttpRequest,
    q: &Signature,
    key: &str,
    signer: &dyn MediaSigner,
) -> ApiResult<()> {
    match (&q.exp, &q.sig) {
        (Some(exp), Some(sig)) => {
            let exp = exp
                .parse::<i64>()
                .map_err(|_| ApiError::forbidden("invalid or expired signature"))?;
            if !signer.verify(key, exp, sig) {
                return Err(ApiError::forbidden("invalid or expired signature"));
            }
            Ok(())
        }
        (None, None) => AuthUser::extract(req).await.map(|_| ()),
        _ => Err(ApiError::forbidden("invalid or expired signature")),
    }
}

fn vigil_content_type(key: &str) -> mime::Mime {
    let known = match key.rsplit('.').next() {
        Some("mp4") => "video/mp4",
        Some("jpg") | Some("jpeg") => "image/jpeg",
        Some("ts") => "video/mp2t",
        _ => "application/octet-stream",
    };
    known.parse().unwrap_or(mime::APPLICATION_OCTET_STREAM)
}
