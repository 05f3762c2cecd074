//! Object storage for finished clips and thumbnails, behind the domain's
//! [`vigil_domain::ports::ObjectStore`] port.
//!
//! - [`LocalStore`]: the embedded default (`STORAGE_MODE=local`), objects as
//!   files under a root directory, written crash-safely, served back by the
//!   api at `/media/{key}` through expiring signed URLs.
//! - [`S3Store`]: any S3-compatible store (Cloudflare R2 in production).

mod key;
mod local;
mod s3;
mod signer;

pub use key::{validate_key, KeyError};
pub use local::LocalStore;
pub use s3::{
    S3Settings, S3Store, Transfer, CACHE_CONTROL, MIN_PART_SIZE, PARTS_IN_FLIGHT, PART_SIZE,
};
pub use signer::UrlSigner;

/// Content type by key extension.
pub fn content_type_for(key: &str) -> &'static str {
    match key.rsplit('.').next() {
        Some("mp4") => "video/mp4",
        Some("jpg") | Some("jpeg") => "image/jpeg",
        Some("json") => "application/json",
        Some("ts") => "video/mp2t",
        Some("m3u8") => "application/vnd.apple.mpegurl",
        _ => "application/octet-stream",
    }
}
