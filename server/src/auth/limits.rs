//! Rate limits (GCRA, from `governor`), keyed by account, address or token.
//!
//! Exceeding one answers 429 with `Retry-After`. Per-address limits are generous: a whole
//! venue may reach the server from one Wi-Fi address.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// A limit was exceeded; retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many requests; retry in {0:?}")]
pub struct Limited(pub Duration);

/// One keyed limit: `burst` requests at once, then one every `period`.
pub struct Limit {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl Limit {
    /// `burst` at once, then one per `period`.
    pub fn new(burst: u32, period: Duration) -> Limit {
        let quota = Quota::with_period(period)
            .expect("non-zero period")
            .allow_burst(NonZeroU32::new(burst.max(1)).expect("non-zero"));
        Limit {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// Counts one request for `key`.
    pub fn check(&self, key: &str) -> Result<(), Limited> {
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(self.clock.now());
                Limited(wait.max(Duration::from_secs(1)))
            })
    }

    /// Forgets keys that are back to a full burst (memory stays bounded by recent keys).
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Every rate limit of the server.
pub struct RateLimits {
    /// Login attempts per account (the normalised email, known or not).
    pub login_per_account: Limit,
    /// Login attempts per client address.
    pub login_per_address: Limit,
    /// Invitation look-ups and acceptances per client address.
    pub invitation_per_address: Limit,
    /// Requests and WebSocket upgrades per API token.
    pub token_use: Limit,
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits {
            // 10 tries, then one every 30 s: a brute force gets ~120 guesses an hour.
            login_per_account: Limit::new(10, Duration::from_secs(30)),
            // 600 at once (a plenary logging in after a break), then 10 a second.
            login_per_address: Limit::new(600, Duration::from_millis(100)),
            invitation_per_address: Limit::new(60, Duration::from_secs(2)),
            // 2,000 at once (a load tool connecting a crowd with one token), then 50 a second.
            token_use: Limit::new(2000, Duration::from_millis(20)),
        }
    }
}

impl RateLimits {
    /// Forgets idle keys of every limit.
    pub fn prune(&self) {
        self.login_per_account.prune();
        self.login_per_address.prune();
        self.invitation_per_address.prune();
        self.token_use.prune();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_limited_with_a_wait() {
        let limit = Limit::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(limit.check("a").is_ok());
        }
        let Err(Limited(wait)) = limit.check("a") else {
            panic!("fourth request in a minute passed");
        };
        assert!(wait > Duration::from_secs(30) && wait <= Duration::from_secs(60));
        assert!(limit.check("b").is_ok(), "keys are independent");
    }
}
