//! Totals of playback lists, kept for up to [`TTL`]. A list page is a walk
//! down an index that stops after `limit` rows, but its `total` is a
//! COUNT over every matching row: 6 ms at 100 000 playbacks on SQLite, most
//! of a request's cost. Every playback write made through this process
//! (create, status change, delete) invalidates all totals at once, so a
//! client never sees a total that misses its own change; writes made by
//! another server sharing the database show up within [`TTL`].

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

pub(crate) const TTL: Duration = Duration::from_secs(1);
/// Distinct filters remembered; beyond it the cache starts over.
const MAX_ENTRIES: usize = 1024;

#[derive(Debug, Default)]
pub(crate) struct CountCache {
    generation: AtomicU64,
    entries: Mutex<HashMap<String, (Instant, u64, u64)>>,
}

impl CountCache {
    /// Call after any write that can change a playback count.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The generation to pass to [`CountCache::put`]; read it before
    /// counting, so a write during the count makes the result unusable.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub(crate) fn get(&self, key: &str) -> Option<u64> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (at, generation, total) = entries.get(key)?;
        (*generation == self.generation() && at.elapsed() < TTL).then_some(*total)
    }

    pub(crate) fn put(&self, key: String, generation: u64, total: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, (Instant::now(), generation, total));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_or_time_makes_a_total_stale() {
        let c = CountCache::default();
        let g = c.generation();
        c.put("all".into(), g, 7);
        assert_eq!(c.get("all"), Some(7));
        c.invalidate();
        assert_eq!(c.get("all"), None, "a write invalidates");

        // A count that raced with a write is never served.
        let before = c.generation();
        c.invalidate();
        c.put("all".into(), before, 9);
        assert_eq!(c.get("all"), None);
    }
}
