//! Time as a dependency: the gateway reads the time through a [`Clock`], so tests can move it
//! by hand instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time, in milliseconds since the Unix epoch (UTC).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch, UTC.
    fn now_millis(&self) -> u64;
}

/// Shared handle to a clock.
pub type SharedClock = Arc<dyn Clock>;

/// A gate that opens at most once per interval (times from a [`Clock`], in ms): how a cache miss
/// that an attacker can provoke (a made-up key id) is kept from turning every request into a
/// store read. Lock-free; when callers race, one of them gets through.
#[derive(Debug)]
pub struct AtMostEvery {
    interval_ms: u64,
    last_ms: std::sync::atomic::AtomicU64,
}

impl AtMostEvery {
    /// A gate that opens at most once every `interval_ms` milliseconds.
    pub const fn new(interval_ms: u64) -> Self {
        Self {
            interval_ms,
            last_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// True for the first caller once `interval_ms` has passed since the last one let through.
    pub fn try_pass(&self, now_ms: u64) -> bool {
        use std::sync::atomic::Ordering;
        let last = self.last_ms.load(Ordering::Relaxed);
        now_ms.saturating_sub(last) >= self.interval_ms
            && self
                .last_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when a test calls [`ManualClock::advance`].
#[derive(Debug, Default)]
pub struct ManualClock {
    millis: AtomicU64,
}

impl ManualClock {
    /// A clock that reads `millis` until moved.
    pub fn starting_at(millis: u64) -> Self {
        Self {
            millis: AtomicU64::new(millis),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.millis
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.millis.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::starting_at(1_000);
        assert_eq!(clock.now_millis(), 1_000);
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.now_millis(), 3_000);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_millis() > 1_577_836_800_000);
    }
}

#[cfg(test)]
mod at_most_every_tests {
    use super::AtMostEvery;

    #[test]
    fn passes_once_per_interval() {
        let gate = AtMostEvery::new(1_000);
        assert!(gate.try_pass(5_000));
        assert!(!gate.try_pass(5_999));
        assert!(gate.try_pass(6_000));
        assert!(!gate.try_pass(6_000));
    }
}
