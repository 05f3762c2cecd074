//! Ids are UUID newtypes so a camera id can't be passed where an event id
//! is expected. They are generated here (v4) and parsed from text at the
//! API edge.

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A camera.
    CameraId
);
uuid_id!(
    /// An event posted by a detector, an NVR or a person.
    EventId
);
uuid_id!(
    /// One recording of one camera, and the clip it produces.
    PlaybackId
);
uuid_id!(
    /// A user of the API.
    UserId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_same_uuid() {
        let id = CameraId::new();
        let back: CameraId = id.to_string().parse().unwrap();
        assert_eq!(id, back);
        assert!("not-a-uuid".parse::<EventId>().is_err());
    }

    #[test]
    fn serializes_as_a_bare_string() {
        let id = PlaybackId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
    }
}
uuid_id!(
    /// A durable background job (finalizing or uploading a recording).
    JobId
);
uuid_id!(
    /// A share link of a playback.
    ShareId
);
uuid_id!(
    /// A webhook: a receiver of pushed news.
    WebhookId
);
