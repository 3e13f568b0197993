//! Brute-force defense arithmetic: the progressive delay ladder for failed logins and the IP
//! threat levels derived from failures over a sliding window.
//!
//! Pure functions of counts and times; the gateway keeps the counts in hot state. Delays are
//! enforced by refusing early attempts (`429` + `Retry-After`), never by holding a task.

use std::time::Duration;

/// The default ladder: the wait imposed after the 1st, 2nd, … consecutive failure; the last step
/// repeats (the cap).
pub const DEFAULT_LADDER: [Duration; 8] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
    Duration::from_secs(30),
    Duration::from_secs(60),
    Duration::from_secs(300),
    Duration::from_secs(900),
];

/// Progressive delays after consecutive failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder {
    steps: Vec<Duration>,
    free_failures: u64,
}

impl Default for Ladder {
    fn default() -> Self {
        Self::new(DEFAULT_LADDER.to_vec(), 0)
    }
}

impl Ladder {
    /// `free_failures` failures are forgiven before the first step applies.
    pub fn new(steps: Vec<Duration>, free_failures: u64) -> Self {
        Self {
            steps,
            free_failures,
        }
    }

    /// The wait before the next attempt after `failures` consecutive failures.
    pub fn delay_after(&self, failures: u64) -> Option<Duration> {
        let step = failures.checked_sub(self.free_failures)?.checked_sub(1)?;
        let last = self.steps.len().checked_sub(1)?;
        Some(self.steps[(step as usize).min(last)])
    }

    /// The longest wait the ladder can impose (how long a failure count must be remembered).
    pub fn cap(&self) -> Duration {
        self.steps.iter().copied().max().unwrap_or_default()
    }
}

/// How threatening a client IP looks, from its failures over the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ThreatLevel {
    /// Below every threshold: not blocked.
    Low,
    /// At `medium.failures` or more in the window.
    Medium,
    /// At `high.failures` or more.
    High,
    /// At `critical.failures` or more.
    Critical,
}

impl ThreatLevel {
    /// The stored spelling (`LOW` … `CRITICAL`), as in audit details and block flags.
    pub fn as_str(self) -> &'static str {
        match self {
            ThreatLevel::Low => "LOW",
            ThreatLevel::Medium => "MEDIUM",
            ThreatLevel::High => "HIGH",
            ThreatLevel::Critical => "CRITICAL",
        }
    }

    /// Reads [`Self::as_str`]'s spelling; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Low, Self::Medium, Self::High, Self::Critical]
            .into_iter()
            .find(|l| l.as_str() == s)
    }
}

/// A threshold: this many failures in the window block the IP for `block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold {
    /// Failures within the window that reach this level.
    pub failures: u64,
    /// How long an IP at this level stays blocked.
    pub block: Duration,
}

/// The IP threat ladder: MEDIUM ≥ 5 failures → 15 min, HIGH ≥ 10 → 1 h, CRITICAL ≥ 20 → 24 h.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreatPolicy {
    /// The first level that blocks.
    pub medium: Threshold,
    /// The middle level.
    pub high: Threshold,
    /// The highest level.
    pub critical: Threshold,
}

impl Default for ThreatPolicy {
    fn default() -> Self {
        let t = |failures, secs| Threshold {
            failures,
            block: Duration::from_secs(secs),
        };
        Self {
            medium: t(5, 15 * 60),
            high: t(10, 3600),
            critical: t(20, 24 * 3600),
        }
    }
}

impl ThreatPolicy {
    /// The level `failures_in_window` failures reach.
    pub fn level(&self, failures_in_window: u64) -> ThreatLevel {
        if failures_in_window >= self.critical.failures {
            ThreatLevel::Critical
        } else if failures_in_window >= self.high.failures {
            ThreatLevel::High
        } else if failures_in_window >= self.medium.failures {
            ThreatLevel::Medium
        } else {
            ThreatLevel::Low
        }
    }

    /// The block a level imposes (none for LOW).
    pub fn block_for(&self, level: ThreatLevel) -> Option<Duration> {
        match level {
            ThreatLevel::Low => None,
            ThreatLevel::Medium => Some(self.medium.block),
            ThreatLevel::High => Some(self.high.block),
            ThreatLevel::Critical => Some(self.critical.block),
        }
    }

    /// Problems with the thresholds (they must rise with the level).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.medium.failures == 0 {
            out.push("brute_force: the MEDIUM threshold must be at least 1 failure".into());
        }
        if !(self.medium.failures < self.high.failures
            && self.high.failures < self.critical.failures)
        {
            out.push("brute_force: thresholds must rise: medium < high < critical failures".into());
        }
        out
    }
}

/// The sliding window is kept as hourly buckets: the failures of the last `WINDOW_BUCKETS` hours
/// (the current one included) are summed, so the window is exact to within one hour.
pub const WINDOW_BUCKETS: u64 = 24;
const BUCKET_MS: u64 = 3_600_000;

/// The bucket a failure at `now_ms` is counted in.
pub fn bucket_key(prefix: &str, now_ms: u64) -> String {
    format!("{prefix}:{}", now_ms / BUCKET_MS)
}

/// Every bucket inside the window ending at `now_ms`.
pub fn window_keys(prefix: &str, now_ms: u64) -> Vec<String> {
    let current = now_ms / BUCKET_MS;
    (0..WINDOW_BUCKETS.min(current + 1))
        .map(|back| format!("{prefix}:{}", current - back))
        .collect()
}

/// How long a bucket must live so it still counts at the end of the window.
pub fn bucket_ttl() -> Duration {
    Duration::from_millis(BUCKET_MS * (WINDOW_BUCKETS + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ladder_step() {
        let ladder = Ladder::default();
        assert_eq!(ladder.delay_after(0), None);
        let expected = [1, 2, 5, 10, 30, 60, 300, 900, 900, 900];
        for (i, secs) in expected.iter().enumerate() {
            assert_eq!(
                ladder.delay_after(i as u64 + 1),
                Some(Duration::from_secs(*secs)),
                "after {} failures",
                i + 1
            );
        }
        assert_eq!(ladder.delay_after(u64::MAX), Some(Duration::from_secs(900)));
        assert_eq!(ladder.cap(), Duration::from_secs(900));
    }

    #[test]
    fn free_failures_shift_the_ladder() {
        let ladder = Ladder::new(DEFAULT_LADDER.to_vec(), 2);
        assert_eq!(ladder.delay_after(2), None);
        assert_eq!(ladder.delay_after(3), Some(Duration::from_secs(1)));
    }

    #[test]
    fn threat_levels_and_blocks() {
        let p = ThreatPolicy::default();
        assert_eq!(p.level(4), ThreatLevel::Low);
        assert_eq!(p.level(5), ThreatLevel::Medium);
        assert_eq!(p.level(9), ThreatLevel::Medium);
        assert_eq!(p.level(10), ThreatLevel::High);
        assert_eq!(p.level(19), ThreatLevel::High);
        assert_eq!(p.level(20), ThreatLevel::Critical);
        assert_eq!(p.block_for(ThreatLevel::Low), None);
        assert_eq!(
            p.block_for(ThreatLevel::Medium),
            Some(Duration::from_secs(900))
        );
        assert_eq!(
            p.block_for(ThreatLevel::High),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            p.block_for(ThreatLevel::Critical),
            Some(Duration::from_secs(86400))
        );
        assert!(p.problems().is_empty());
        let mut bad = p;
        bad.high.failures = 3;
        assert_eq!(bad.problems().len(), 1);
        assert_eq!(ThreatLevel::parse("HIGH"), Some(ThreatLevel::High));
    }

    #[test]
    fn window_covers_the_last_24_hours() {
        let now = 1_000 * BUCKET_MS + 5;
        let keys = window_keys("ip:x", now);
        assert_eq!(keys.len(), 24);
        assert_eq!(keys[0], bucket_key("ip:x", now));
        assert_eq!(keys[23], "ip:x:977");
        assert!(!keys.contains(&"ip:x:976".to_string()));
        assert_eq!(window_keys("p", 10).len(), 1, "no buckets before the epoch");
    }
}
