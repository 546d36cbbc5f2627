//! The clock token expiry is read from: the system clock, plus an offset
//! that only moves forward.
//!
//! Token expiry is counted in seconds, so a test of "an expired token is
//! refused" would otherwise have to sleep past a whole second boundary.
//! With this clock it moves time forward instead ([`Clock::advance`]): the
//! authorization server reads every expiry from the clock in its
//! configuration, and a resource server every expiry and every cache
//! deadline from its own.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// Wall-clock and monotonic time as a server sees them. Clones share one
/// offset, so a test that keeps a clone moves the server's time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Milliseconds added to the system clock; zero outside tests.
    ahead_ms: Arc<AtomicU64>,
}

impl Clock {
    /// The current instant, for cache deadlines.
    pub fn instant(&self) -> Instant {
        Instant::now() + self.ahead()
    }

    /// The current wall-clock time, for token expiry (`exp` is Unix seconds).
    pub fn system_time(&self) -> SystemTime {
        SystemTime::now() + self.ahead()
    }

    /// Whole seconds since the Unix epoch: the unit of every `exp`.
    pub fn unix_seconds(&self) -> i64 {
        self.system_time()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
            })
    }

    /// How long until the Unix time `exp` (RFC 7662 §2.2), to the
    /// millisecond; zero once it has passed.
    pub fn until_unix(&self, exp: u64) -> Duration {
        (UNIX_EPOCH + Duration::from_secs(exp))
            .duration_since(self.system_time())
            .unwrap_or(Duration::ZERO)
    }

    /// Moves this clock, and every clone of it, `by` into the future. For
    /// tests: letting a token expire without waiting for it.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.ahead_ms.fetch_add(by, Ordering::SeqCst);
    }

    fn ahead(&self) -> Duration {
        Duration::from_millis(self.ahead_ms.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_a_clone_moves_the_original() {
        let clock = Clock::default();
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
            + 10;
        assert!(clock.until_unix(exp) > Duration::from_secs(8));
        clock.clone().advance(Duration::from_secs(11));
        assert_eq!(clock.until_unix(exp), Duration::ZERO);
        assert!(clock.instant() > Instant::now() + Duration::from_secs(10));
    }
}
