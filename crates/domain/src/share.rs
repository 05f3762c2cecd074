//! A share link: a URL that plays one clip without a token, until it
//! expires or is revoked. The URL holds a secret token; only its SHA-256 is
//! stored, so the database alone opens no clip.

use crate::{PlaybackId, ShareId};
use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub id: ShareId,
    pub playback_id: PlaybackId,
    pub expires_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

impl Share {
    /// Shortest and longest life of a link.
    pub const MIN_TTL: Duration = Duration::seconds(60);
    pub const MAX_TTL: Duration = Duration::days(30);

    pub fn parse_ttl(seconds: i64) -> Result<Duration, String> {
        let ttl = Duration::seconds(seconds);
        if (Self::MIN_TTL..=Self::MAX_TTL).contains(&ttl) {
            Ok(ttl)
        } else {
            Err(format!(
                "expiresInSeconds must be between {} and {}",
                Self::MIN_TTL.whole_seconds(),
                Self::MAX_TTL.whole_seconds()
            ))
        }
    }

    pub fn expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at
    }
}

#[derive(Debug, Clone)]
pub struct NewShare {
    pub playback_id: PlaybackId,
    /// SHA-256 of the URL's token, hex.
    pub token_hash: String,
    pub expires_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_links_life_is_bounded_and_it_expires() {
        assert_eq!(Share::parse_ttl(3600), Ok(Duration::hours(1)));
        assert!(Share::parse_ttl(59).is_err());
        assert!(Share::parse_ttl(31 * 86_400).is_err());
        let now = OffsetDateTime::now_utc();
        let s = Share {
            id: ShareId::new(),
            playback_id: PlaybackId::new(),
            expires_at: now,
            created_at: now - Duration::hours(1),
        };
        assert!(s.expired(now));
        assert!(!s.expired(now - Duration::seconds(1)));
    }
}
