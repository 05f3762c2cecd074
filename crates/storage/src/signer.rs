//! Expiring signed URLs for locally stored objects, like a presigned S3 GET:
//! `{base}/media/{key}?exp={unix seconds}&sig={hex HMAC-SHA256(key \n exp)}`.
//! A `<video>` element plays them without an Authorization header; a
//! tampered or expired one is refused.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::{fmt, time::Duration};

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct UrlSigner {
    key: Vec<u8>,
    base: String,
}

impl fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UrlSigner")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl UrlSigner {
    /// `base` is the server's public URL (`PUBLIC_URL`), without a trailing `/`.
    pub fn new(key: &[u8], base: &str) -> Self {
        Self {
            key: key.to_vec(),
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    fn mac(&self, key: &str, exp: i64) -> HmacSha256 {
        #[allow(clippy::expect_used)]
        let mut mac =
            HmacSha256::new_from_slice(&self.key).expect("HMAC accepts keys of any length");
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(exp.to_string().as_bytes());
        mac
    }

    pub fn sign(&self, key: &str, now_unix: i64, ttl: Duration) -> String {
        let exp = now_unix + ttl.as_secs() as i64;
        let sig = hex::encode(self.mac(key, exp).finalize().into_bytes());
        let path: String = key
            .split('/')
            .map(utf8_percent)
            .collect::<Vec<_>>()
            .join("/");
        format!("{}/media/{path}?exp={exp}&sig={sig}", self.base)
    }

    /// Whether `sig` is this server's signature of `key` until `exp`, and
    /// `exp` has not passed. The comparison is constant-time.
    pub fn verify(&self, key: &str, exp: i64, sig: &str, now_unix: i64) -> bool {
        if exp < now_unix {
            return false;
        }
        let Ok(raw) = hex::decode(sig) else {
            return false;
        };
        self.mac(key, exp).verify_slice(&raw).is_ok()
    }
}

pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl vigil_domain::ports::MediaSigner for UrlSigner {
    fn sign(&self, key: &str, ttl: Duration) -> String {
        UrlSigner::sign(self, key, now_unix(), ttl)
    }

    fn verify(&self, key: &str, exp: i64, sig: &str) -> bool {
        UrlSigner::verify(self, key, exp, sig, now_unix())
    }
}

fn utf8_percent(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_urls_verify_until_they_expire() {
        let s = UrlSigner::new(b"k".repeat(32).as_slice(), "http://127.0.0.1:8080/");
        let url = s.sign("playbacks/p1/video.mp4", 1_000, Duration::from_secs(60));
        assert!(url.starts_with("http://127.0.0.1:8080/media/playbacks/p1/video.mp4?exp=1060&sig="));
        let sig = url.rsplit("sig=").next().unwrap();
        assert!(s.verify("playbacks/p1/video.mp4", 1060, sig, 1_030));
        assert!(
            !s.verify("playbacks/p1/video.mp4", 1060, sig, 1_061),
            "expired"
        );
        assert!(
            !s.verify("playbacks/p2/video.mp4", 1060, sig, 1_030),
            "other key"
        );
        assert!(
            !s.verify("playbacks/p1/video.mp4", 9999, sig, 1_030),
            "other expiry"
        );
        assert!(!s.verify("playbacks/p1/video.mp4", 1060, "zz", 1_030));
        let other = UrlSigner::new(b"x".repeat(32).as_slice(), "http://h");
        assert!(!other.verify("playbacks/p1/video.mp4", 1060, sig, 1_030));
    }
}
