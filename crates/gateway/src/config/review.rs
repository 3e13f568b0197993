//! `[review]`: the scheduled access review (accounts and API keys unused for `unused_days`, keys
//! older than `key_max_age`, administrators without a second factor), recorded as
//! `review.access` and sent through the alert channels every `every`. `palisade review access`
//! runs the same review on demand, whether or not the schedule is on.

use crate::config::units::HumanDuration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[review]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewConfig {
    /// Runs the review on a schedule (off by default).
    pub enabled: bool,
    /// How often the scheduled review runs (at least 1h).
    pub every: HumanDuration,
    /// An account or key not used for this many days is reported.
    pub unused_days: u32,
    /// A key older than this is reported, used or not.
    pub key_max_age: HumanDuration,
}

const DAY: u64 = 86_400;

impl Default for ReviewConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            every: HumanDuration(Duration::from_secs(7 * DAY)),
            unused_days: 90,
            key_max_age: HumanDuration(Duration::from_secs(365 * DAY)),
        }
    }
}

impl ReviewConfig {
    /// Problems, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.every.0 < Duration::from_secs(3_600) {
            out.push("review.every must be at least 1h".into());
        }
        if self.unused_days == 0 {
            out.push("review.unused_days must be at least 1".into());
        }
        if self.key_max_age.0 < Duration::from_secs(DAY) {
            out.push("review.key_max_age must be at least 1d".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_bounds_are_named() {
        let c: ReviewConfig = toml::from_str(
            "enabled = true\nevery = \"7d\"\nunused_days = 90\nkey_max_age = \"365d\"",
        )
        .unwrap();
        assert!(c.problems().is_empty());
        assert_eq!(c.every.0, ReviewConfig::default().every.0);
        let bad: ReviewConfig =
            toml::from_str("every = \"5m\"\nunused_days = 0\nkey_max_age = \"1h\"").unwrap();
        let p = bad.problems().join("\n");
        for key in ["review.every", "review.unused_days", "review.key_max_age"] {
            assert!(p.contains(key), "{key}: {p}");
        }
    }
}
