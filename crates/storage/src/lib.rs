//! Object storage for finished clips and thumbnails, behind the domain's
//! [`vigil_domain::ports::ObjectStore`] port.
//!
//! - [`LocalStore`]: the embedded default (`STORAGE_MODE=local`), objects as
//!   files under a root directory, written crash-safely, served back by the
//!   api at `/media/{key}` through expiring signed URLs.

mod key;
mod local;
mod signer;

pub use key::{validate_key, KeyError};
pub use local::LocalStore;
pub use signer::UrlSigner;

/// Content type by key extension.
pub fn content_type_for(key: &str) -> &'static str {
    match key.rsplit('.').next() {
        Some("mp4") => "video/mp4",
        Some("jpg") | Some("jpeg") => "image/jpeg",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}
