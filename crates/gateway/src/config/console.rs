//! `[console]`: the admin console at `/admin/console/` (under `api.mount`): who may reach it by
//! address (`allow_cidrs`, read like `ops.metrics_allow`: empty allows everyone) and how long a
//! signed-in browser may stay idle on it (`idle_timeout`, beside the session's absolute
//! lifetime `auth.cookie_session_ttl`).

use crate::config::units::HumanDuration;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::time::Duration;

/// `[console]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// A console session with no page loaded for this long must sign in again (1m to 24h).
    pub idle_timeout: HumanDuration,
    /// CIDRs allowed to open the console; empty allows every address.
    pub allow_cidrs: Vec<IpNet>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            idle_timeout: HumanDuration(Duration::from_secs(15 * 60)),
            allow_cidrs: Vec::new(),
        }
    }
}

impl ConsoleConfig {
    /// Whether `ip` may open the console.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_cidrs.is_empty() || self.allow_cidrs.iter().any(|net| net.contains(&ip))
    }

    /// Problems, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let idle = self.idle_timeout.0;
        if idle < Duration::from_secs(60) || idle > Duration::from_secs(86_400) {
            out.push("console.idle_timeout must be between 1m and 24h".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_bounds_and_addresses() {
        let c: ConsoleConfig = toml::from_str("").unwrap();
        assert_eq!(c.idle_timeout.0, Duration::from_secs(900));
        assert!(c.problems().is_empty());
        assert!(c.allows("203.0.113.9".parse().unwrap()));
        let c: ConsoleConfig =
            toml::from_str("idle_timeout = \"30s\"\nallow_cidrs = [\"10.0.0.0/8\"]").unwrap();
        assert_eq!(
            c.problems(),
            vec!["console.idle_timeout must be between 1m and 24h".to_string()]
        );
        assert!(c.allows("10.1.2.3".parse().unwrap()));
        assert!(!c.allows("203.0.113.9".parse().unwrap()));
        assert!(toml::from_str::<ConsoleConfig>("allow_cidrs = [\"nope\"]").is_err());
    }
}
