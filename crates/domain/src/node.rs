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
}

impl Node {
    /// Heard of within `lease`.
    pub fn alive(&self, now: OffsetDateTime, lease: std::time::Duration) -> bool {
        now - self.last_seen_at <= lease
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
            cameras: 0,
            recordings: 0,
        };
        assert!(node.alive(now, std::time::Duration::from_secs(10)));
        assert!(!node.alive(now, std::time::Duration::from_secs(4)));
    }
}
