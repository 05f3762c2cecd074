//! `GET /playbacks/stream`: Server-Sent Events, one `playback` event (the
//! playback as `GET /playbacks/{id}` shows it) per status change, filtered
//! like the list. A comment line every 15 s keeps proxies from closing an
//! idle stream.

use crate::{
    auth::AuthUser,
    error::ApiResult,
    routes::playbacks::PlaybackQuery,
    views::{MediaUrls, PlaybackView},
};
use actix_web::{http::header, web, HttpResponse};
use futures_util::stream;
use std::{sync::Arc, time::Duration};
use tokio::sync::broadcast::error::RecvError;
use vigil_application::PlaybackEvents;
use vigil_domain::ports::ObjectStore;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Stream playback status changes.
#[utoipa::path(get, path = "/playbacks/stream", tag = "playbacks", params(PlaybackQuery), security(("bearer" = [])),
    responses((status = 200, content_type = "text/event-stream", description = "`event: playback` with a PlaybackView as data"), (status = 400), (status = 401)))]
pub async fn stream(
    _me: AuthUser,
    q: web::Query<PlaybackQuery>,
    events: web::Data<PlaybackEvents>,
    store: web::Data<dyn ObjectStore>,
    urls: web::Data<MediaUrls>,
) -> ApiResult<HttpResponse> {
    let filter = q.filter()?;
    let rx = events.subscribe();
    let store: Arc<dyn ObjectStore> = store.into_inner();
    let urls = urls.into_inner();
    let body = stream::unfold((rx, filter, store), move |(mut rx, filter, store)| {
        let urls = urls.clone();
        async move {
            loop {
                let next = tokio::time::timeout(KEEP_ALIVE, rx.recv()).await;
                let chunk = match next {
                    Err(_) => web::Bytes::from_static(b": keep-alive\n\n"),
                    Ok(Ok(p)) if filter.matches(&p) => {
                        let view = PlaybackView::build(p, store.as_ref(), &urls).await;
                        let json = serde_json::to_string(&view).unwrap_or_default();
                        web::Bytes::from(format!("event: playback\ndata: {json}\n\n"))
                    }
                    Ok(Ok(_)) => continue,
                    // Fell behind: say so; the client can re-read the list.
                    Ok(Err(RecvError::Lagged(n))) => {
                        web::Bytes::from(format!("event: lagged\ndata: {n}\n\n"))
                    }
                    Ok(Err(RecvError::Closed)) => return None,
                };
                return Some((Ok::<_, actix_web::Error>(chunk), (rx, filter, store)));
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // Keeps any compression layer from buffering the stream.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}
