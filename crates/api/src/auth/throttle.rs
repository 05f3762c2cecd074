//! Login throttling per username and per client address: a burst of
//! attempts, then a steady trickle; beyond it 429. Keys are forgotten once
//! their bucket is full again, so memory stays bounded by recent traffic.

use governor::{clock::DefaultClock, state::keyed::DefaultKeyedStateStore, Quota, RateLimiter};
use std::{
    fmt,
    num::NonZeroU32,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

/// How many attempts a key may make at once, and how fast it earns more.
#[derive(Debug, Clone, Copy)]
pub struct LoginQuota {
    pub burst: u32,
    pub per_attempt: Duration,
}

impl Default for LoginQuota {
    /// 10 attempts at once, then one every 6 s (10 a minute).
    fn default() -> Self {
        Self {
            burst: 10,
            per_attempt: Duration::from_secs(6),
        }
    }
}

type Limiter = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

#[derive(Clone)]
pub struct LoginThrottle {
    by_user: Arc<Limiter>,
    by_addr: Arc<Limiter>,
    checks: Arc<AtomicU64>,
}

impl fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LoginThrottle")
    }
}

impl LoginThrottle {
    pub fn new(q: LoginQuota) -> Self {
        let burst = NonZeroU32::new(q.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let per = q.per_attempt.max(Duration::from_millis(1));
        let quota = Quota::with_period(per)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        // Several users may share one address (NAT), so it gets 3× the burst.
        let addr_burst = NonZeroU32::new(q.burst.max(1).saturating_mul(3)).unwrap_or(burst);
        Self {
            by_user: Arc::new(RateLimiter::keyed(quota)),
            by_addr: Arc::new(RateLimiter::keyed(quota.allow_burst(addr_burst))),
            checks: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Takes one attempt from both buckets; `Err(wait)` when either is empty.
    pub fn check(&self, username: &str, addr: &str) -> Result<(), Duration> {
        // Forget idle keys now and then, so no background task is needed.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 1024 == 1023 {
            self.forget_idle();
        }
        let clock = governor::clock::DefaultClock::default();
        use governor::clock::Clock;
        let user_key = username.to_ascii_lowercase();
        if let Err(not_until) = self.by_user.check_key(&user_key) {
            return Err(not_until.wait_time_from(clock.now()));
        }
        if let Err(not_until) = self.by_addr.check_key(&addr.to_owned()) {
            return Err(not_until.wait_time_from(clock.now()));
        }
        Ok(())
    }

    /// Drops keys whose buckets are full again.
    pub fn forget_idle(&self) {
        self.by_user.retain_recent();
        self.by_addr.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusal_per_username() {
        let t = LoginThrottle::new(LoginQuota {
            burst: 3,
            per_attempt: Duration::from_secs(60),
        });
        for _ in 0..3 {
            assert!(t.check("admin", "10.0.0.1").is_ok());
        }
        let wait = t.check("admin", "10.0.0.2").unwrap_err();
        assert!(wait > Duration::from_secs(30), "{wait:?}");
        assert!(
            t.check("other", "10.0.0.3").is_ok(),
            "other users are unaffected"
        );
    }

    #[test]
    fn one_address_is_limited_across_usernames() {
        let t = LoginThrottle::new(LoginQuota {
            burst: 2,
            per_attempt: Duration::from_secs(60),
        });
        let refused = (0..10)
            .filter(|i| t.check(&format!("user{i}"), "10.9.9.9").is_err())
            .count();
        assert_eq!(refused, 10 - 6);
    }
}
