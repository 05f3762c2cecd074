//! A node: one Vigil process on the shared database, named by `NODE_ID`.
//! Each node says it is alive (a heartbeat) with what it holds; the others
//! and `GET /nodes` read that. On SQLite there is one node.

use std::{fmt, str::FromStr};
use time::OffsetDateTime;

/// A node's id: 1–64 of `A–Z a–z 0–9 . _ -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(String);

impl NodeId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for NodeId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err("a node id is 1 to 64 letters, digits, '.', '_' or '-'".into())
        }
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a node reports in each heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeBeat {
    pub id: NodeId,
    pub started_at: OffsetDateTime,
    /// Cameras it records.
    pub cameras: u32,
    /// Recordings running on it.
    pub recordings: u32,
}

/// A node as last heard of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: NodeId,
    pub started_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub cameras: u32,
    pub recordings: u32,
    /// When it said it stopped (SIGTERM); a later beat clears it.
    pub stopped_at: Option<OffsetDateTime>,
}

impl Node {
    /// Heard of within `lease`.
    pub fn alive(&self, now: OffsetDateTime, lease: std::time::Duration) -> bool {
        self.stopped_at.is_none() && now - self.last_seen_at <= lease
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_names() {
        assert_eq!(
            "vigil-a.1_b".parse::<NodeId>().unwrap().as_str(),
            "vigil-a.1_b"
        );
        for bad in ["", "a b", "a/b", "ä", &"x".repeat(65)] {
            assert!(bad.parse::<NodeId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn alive_within_the_lease() {
        let now = OffsetDateTime::now_utc();
        let node = Node {
            id: "n1".parse().unwrap(),
            started_at: now,
            last_seen_at: now - time::Duration::seconds(5),
            stopped_at: None,
            cameras: 0,
            recordings: 0,
        };
        assert!(node.alive(now, std::time::Duration::from_secs(10)));
        assert!(!node.alive(now, std::time::Duration::from_secs(4)));
    }
}

/// A camera's lease: the node that owns it (runs its ring and records it)
/// until `expires_at`, unless renewed. `epoch` grows by one each time the
/// camera changes hands, so an owner's claim can be told from an older one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraLease {
    pub camera: crate::CameraId,
    pub node: NodeId,
    pub epoch: u64,
    pub expires_at: OffsetDateTime,
}

impl CameraLease {
    /// Held at `now`: not run out (a lease given back has run out).
    pub fn held(&self, now: OffsetDateTime) -> bool {
        self.expires_at > now
    }
}

/// What one node tells the others (PostgreSQL `NOTIFY`). Each is a hint:
/// what it announces is in the database, and is polled for as well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// A recording was handed to `node`, the owner of its camera.
    Work { node: NodeId },
    /// `by` changed the status of `playback` to `status`.
    Changed {
        playback: crate::PlaybackId,
        status: crate::RecordingStatus,
        by: NodeId,
    },
    /// `by` gave its cameras back (it is stopping): take them now.
    Released { by: NodeId },
}

impl Signal {
    /// The payload on the wire: short text, far below `NOTIFY`'s 8000 bytes.
    pub fn encode(&self) -> String {
        match self {
            Signal::Work { node } => format!("work {node}"),
            Signal::Changed {
                playback,
                status,
                by,
            } => format!("changed {playback} {status} {by}"),
            Signal::Released { by } => format!("released {by}"),
        }
    }

    /// None for a payload this version does not know.
    pub fn decode(s: &str) -> Option<Self> {
        let mut words = s.split(' ');
        let signal = match (words.next()?, words.next()) {
            ("work", Some(n)) => Signal::Work {
                node: n.parse().ok()?,
            },
            ("changed", Some(p)) => Signal::Changed {
                playback: crate::PlaybackId::from_uuid(p.parse().ok()?),
                status: words.next()?.parse().ok()?,
                by: words.next()?.parse().ok()?,
            },
            ("released", Some(n)) => Signal::Released {
                by: n.parse().ok()?,
            },
            _ => return None,
        };
        words.next().is_none().then_some(signal)
    }
}

#[cfg(test)]
mod signal_tests {
    use super::*;

    #[test]
    fn signals_read_back_as_written_and_strangers_are_none() {
        let n: NodeId = "node-a".parse().unwrap();
        for s in [
            Signal::Work { node: n.clone() },
            Signal::Changed {
                playback: crate::PlaybackId::new(),
                status: crate::RecordingStatus::Processing,
                by: n.clone(),
            },
            Signal::Released { by: n },
        ] {
            assert_eq!(Signal::decode(&s.encode()), Some(s));
        }
        let id = crate::PlaybackId::new();
        for bad in [
            "",
            "work",
            "work a b",
            "changed x PENDING node",
            &format!("changed {id} NAP node"),
            &format!("changed {id} PENDING"),
            "stop node",
        ] {
            assert_eq!(Signal::decode(bad), None, "{bad}");
        }
    }
}
