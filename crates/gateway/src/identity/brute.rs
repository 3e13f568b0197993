//! Failed-login defense (and failed imported API keys, per IP) kept in hot state: consecutive failures per account and per client IP
//! (keys are SHA-256 hashes, so hot state never holds e-mail addresses), the delay ladder as
//! expiring "wait" flags, and IP blocks by threat level over a 24-hour window.
//!
//! Blocks are the only keys holding a clear IP: administrators list and lift them by address.
//! Every block is also written to the store (`ip_blocks`, before the flag) and every unblock
//! removes it there, so a hot state that starts empty is primed with the blocks in force.

use palisade_core::brute_force::{self, Ladder, ThreatLevel, ThreatPolicy};
use palisade_core::clock::SharedClock;
use palisade_core::fingerprint::hex;
use palisade_store::revocations::IpBlockRecord;
use palisade_store::{SharedHotState, SharedStore, StoreResult};
use std::net::IpAddr;
use std::time::Duration;

/// The hot-state prefix of IP blocks (`fw:block:<ip>`).
pub const BLOCK_PREFIX: &str = "fw:block:";
/// Consecutive-failure counters are forgotten a day after the first failure of a run.
const FAILURE_MEMORY: Duration = Duration::from_secs(86400);

/// The failed-login defenses: the delay ladder per account and IP, and the IP threat ladder.
pub struct BruteForce {
    /// Whether the defenses are on (`auth.brute_force.enabled`).
    pub enabled: bool,
    ladder: Ladder,
    threats: ThreatPolicy,
    hot: SharedHotState,
    store: SharedStore,
    clock: SharedClock,
}

/// What one more failure led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureOutcome {
    /// Wait imposed before the next attempt (the longer of account and IP).
    pub wait: Option<Duration>,
    /// The IP's threat level after this failure.
    pub level: ThreatLevel,
    /// A block placed (or lengthened) by this failure.
    pub blocked_for: Option<Duration>,
}

/// An IP block as administrators see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BlockInfo {
    /// The blocked address.
    pub ip: String,
    /// The level that blocked it.
    pub level: &'static str,
    /// Failures from it in the last 24 hours.
    pub failures_24h: u64,
    /// Seconds until the block ends.
    pub remaining_seconds: u64,
}

fn hashed(kind: &str, value: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes());
    format!("bf:{kind}:{}", hex(d.as_ref()))
}

fn account_key(email: &str) -> String {
    hashed("acct", email)
}

fn ip_key(ip: IpAddr) -> String {
    hashed("ip", &ip.to_string())
}

/// The hot-state flag that blocks `ip`. The firewall reads it for every request, so an IPv4
/// address is written digit by digit rather than through `Display` (a tenth of the work).
pub fn block_key(ip: IpAddr) -> String {
    let mut key = String::with_capacity(BLOCK_PREFIX.len() + 39);
    key.push_str(BLOCK_PREFIX);
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    key.push('.');
                }
                if octet >= 100 {
                    key.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    key.push(char::from(b'0' + octet / 10 % 10));
                }
                key.push(char::from(b'0' + octet % 10));
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write;
            let _ = write!(key, "{v6}");
        }
    }
    key
}

impl BruteForce {
    /// The defenses over `hot` (counters, flags) and `store` (the record of blocks).
    pub fn new(
        enabled: bool,
        ladder: Ladder,
        threats: ThreatPolicy,
        hot: SharedHotState,
        store: SharedStore,
        clock: SharedClock,
    ) -> Self {
        Self {
            enabled,
            ladder,
            threats,
            hot,
            store,
            clock,
        }
    }

    /// Records the block in the store, then sets its flag.
    async fn place(&self, ip: IpAddr, for_: Duration, reason: &str) -> StoreResult<()> {
        let now = self.clock.now_millis() as i64;
        self.store
            .ip_block_put(&IpBlockRecord {
                ip: ip.to_string(),
                until: now.saturating_add(for_.as_millis() as i64),
                created_at: now,
                reason: reason.to_string(),
            })
            .await?;
        self.hot.set_flag(&block_key(ip), for_).await
    }

    /// Time left before this account or IP may try again.
    pub async fn wait_left(&self, email: &str, ip: IpAddr) -> StoreResult<Option<Duration>> {
        if !self.enabled {
            return Ok(None);
        }
        let a = self
            .hot
            .flag_ttl(&format!("{}:wait", account_key(email)))
            .await?;
        let b = self.hot.flag_ttl(&format!("{}:wait", ip_key(ip))).await?;
        Ok(a.max(b))
    }

    /// Consecutive failures of the account or the IP, whichever is higher.
    pub async fn failures(&self, email: &str, ip: IpAddr) -> StoreResult<u64> {
        let a = self
            .hot
            .counter(&format!("{}:fails", account_key(email)))
            .await?;
        let b = self.hot.counter(&format!("{}:fails", ip_key(ip))).await?;
        Ok(a.max(b))
    }

    /// Counts a failed sign-in for the account and the IP; returns the wait and any block placed.
    pub async fn record_failure(&self, email: &str, ip: IpAddr) -> StoreResult<FailureOutcome> {
        self.fail(&[account_key(email), ip_key(ip)], ip).await
    }

    /// Time left before this IP may present another unknown API key.
    pub async fn ip_wait_left(&self, ip: IpAddr) -> StoreResult<Option<Duration>> {
        if !self.enabled {
            return Ok(None);
        }
        self.hot.flag_ttl(&format!("{}:wait", ip_key(ip))).await
    }

    /// Counts a failure of the IP alone (an API key that did not verify): the same delay ladder
    /// and threat levels as failed sign-ins.
    pub async fn record_ip_failure(&self, ip: IpAddr) -> StoreResult<FailureOutcome> {
        self.fail(&[ip_key(ip)], ip).await
    }

    async fn fail(&self, keys: &[String], ip: IpAddr) -> StoreResult<FailureOutcome> {
        if !self.enabled {
            return Ok(FailureOutcome {
                wait: None,
                level: ThreatLevel::Low,
                blocked_for: None,
            });
        }
        let mut wait = None;
        for key in keys {
            let fails = self
                .hot
                .incr(&format!("{key}:fails"), FAILURE_MEMORY)
                .await?;
            if let Some(delay) = self.ladder.delay_after(fails) {
                self.hot.set_flag(&format!("{key}:wait"), delay).await?;
                wait = wait.max(Some(delay));
            }
        }
        let now = self.clock.now_millis();
        let window = ip_key(ip) + ":w";
        self.hot
            .incr(
                &brute_force::bucket_key(&window, now),
                brute_force::bucket_ttl(),
            )
            .await?;
        let in_window = self
            .hot
            .counter_sum(&brute_force::window_keys(&window, now))
            .await?;
        let level = self.threats.level(in_window);
        let mut blocked_for = None;
        if let Some(block) = self.threats.block_for(level) {
            let current = self.hot.flag_ttl(&block_key(ip)).await?;
            if current.is_none_or(|left| left < block) {
                self.place(ip, block, "brute_force").await?;
                blocked_for = Some(block);
            }
        }
        Ok(FailureOutcome {
            wait,
            level,
            blocked_for,
        })
    }

    /// A successful login ends the account's and the IP's run of failures (the IP's 24-hour
    /// window keeps counting).
    pub async fn record_success(&self, email: &str, ip: IpAddr) -> StoreResult<()> {
        for key in [account_key(email), ip_key(ip)] {
            self.hot.remove(&format!("{key}:fails")).await?;
            self.hot.remove(&format!("{key}:wait")).await?;
        }
        Ok(())
    }

    /// Time left on the IP's block.
    pub async fn blocked(&self, ip: IpAddr) -> StoreResult<Option<Duration>> {
        self.hot.flag_ttl(&block_key(ip)).await
    }

    /// Every live IP block, for administrators.
    pub async fn blocks(&self) -> StoreResult<Vec<BlockInfo>> {
        let now = self.clock.now_millis();
        let mut out = Vec::new();
        for (key, left) in self.hot.flags_with_prefix(BLOCK_PREFIX).await? {
            let ip = key[BLOCK_PREFIX.len()..].to_string();
            let failures = match ip.parse::<IpAddr>() {
                Ok(addr) => {
                    let window = ip_key(addr) + ":w";
                    self.hot
                        .counter_sum(&brute_force::window_keys(&window, now))
                        .await?
                }
                Err(_) => 0,
            };
            out.push(BlockInfo {
                ip,
                level: self.threats.level(failures).as_str(),
                failures_24h: failures,
                remaining_seconds: left.as_secs_f64().ceil() as u64,
            });
        }
        out.sort_by(|a, b| a.ip.cmp(&b.ip));
        Ok(out)
    }

    /// Blocks an IP for `for_` unless a longer block is already in force (an alert action;
    /// `reason` says whose). Returns whether the block was set or lengthened.
    pub async fn block(&self, ip: IpAddr, for_: Duration, reason: &str) -> StoreResult<bool> {
        let current = self.hot.flag_ttl(&block_key(ip)).await?;
        if current.is_some_and(|left| left >= for_) {
            return Ok(false);
        }
        self.place(ip, for_, reason).await?;
        Ok(true)
    }

    /// Lifts a block (in the store, then in hot state) and forgives the IP's failures. Returns
    /// whether a block was in force.
    pub async fn unblock(&self, ip: IpAddr) -> StoreResult<bool> {
        let recorded = self.store.ip_block_remove(&ip.to_string()).await?;
        let was = self.blocked(ip).await?.is_some() || recorded;
        self.hot.remove(&block_key(ip)).await?;
        let now = self.clock.now_millis();
        let key = ip_key(ip);
        for bucket in brute_force::window_keys(&(key.clone() + ":w"), now) {
            self.hot.remove(&bucket).await?;
        }
        self.hot.remove(&format!("{key}:fails")).await?;
        self.hot.remove(&format!("{key}:wait")).await?;
        Ok(was)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_key_spells_addresses_as_display_does() {
        for ip in [
            "0.0.0.0",
            "1.2.3.4",
            "10.0.0.255",
            "127.0.0.1",
            "99.100.101.209",
            "255.255.255.255",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(block_key(ip), format!("{BLOCK_PREFIX}{ip}"));
        }
        for a in 0..=255u8 {
            let ip = IpAddr::from([a, 255 - a, a / 3, 7]);
            assert_eq!(block_key(ip), format!("{BLOCK_PREFIX}{ip}"));
        }
    }
}
