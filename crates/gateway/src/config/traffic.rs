//! Traffic configuration: `[rate_limit]` (rules per route category, tiers, allow-list),
//! `[admission]` (load shedding thresholds with hysteresis) and `[circuit_breaker]` with its
//! stale-response fallback cache. Per-route settings (`rate_limit`, `critical`, `fallback`,
//! timeouts, retries) live on `[[routes]]`.

use crate::config::units::{ByteSize, HumanDuration};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

fn secs(n: u64) -> HumanDuration {
    HumanDuration(Duration::from_secs(n))
}

fn millis(n: u64) -> HumanDuration {
    HumanDuration(Duration::from_millis(n))
}

/// The arithmetic a rule uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LimitAlgorithm {
    /// Generic cell rate algorithm: a token bucket without a timer; smooth, allows `burst`.
    #[default]
    Gcra,
    /// Sliding window counter: at most `limit` in any window of `period` (weighted estimate).
    SlidingWindow,
}

/// `limit` requests per `period`, with up to `burst` at once (GCRA; default: `limit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Requests admitted per period.
    pub limit: u32,
    /// The period (`"1m"`).
    pub period: HumanDuration,
    /// GCRA: requests admitted at once from an idle caller (default `limit`).
    #[serde(default)]
    pub burst: Option<u32>,
    /// Defaults to `rate_limit.algorithm`.
    #[serde(default)]
    pub algorithm: Option<LimitAlgorithm>,
}

impl RuleConfig {
    fn new(limit: u32, period: HumanDuration) -> Self {
        Self {
            limit,
            period,
            burst: None,
            algorithm: None,
        }
    }
}

/// `[rate_limit]`: rules by category, tiers, allow-listed networks and the shared limiter.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Turns rate limiting on.
    pub enabled: bool,
    /// Algorithm of rules that do not name one.
    pub algorithm: LimitAlgorithm,
    /// Rules by category. `global` applies to every request; then the request's own category:
    /// `auth_login`, `auth_register`, `auth_refresh`, `admin`, a route's `rate_limit` name, else
    /// `read` (GET, HEAD, OPTIONS) or `write`. A category without a rule is limited by `global`
    /// only.
    pub rules: BTreeMap<String, RuleConfig>,
    /// Limit multipliers by subscription tier (the principal's `tier`); unknown tiers get 1.0.
    pub tiers: BTreeMap<String, f64>,
    /// Client networks that are never limited.
    pub allow_cidrs: Vec<IpNet>,
    /// Also send the IETF `RateLimit-Policy` and `RateLimit` headers.
    pub ietf_headers: bool,
    /// Distinct keys (rule × identity) kept in memory; idle ones are evicted first.
    pub max_keys: usize,
    /// With a shared hot state (Redis), what a decision that cannot be answered becomes:
    /// `deny` (503), `allow` (pass unlimited), or `local` (this replica's in-memory limits
    /// until the shared state is back).
    pub on_backend_error: BackendErrorMode,
}

/// What a rate-limit decision becomes when Redis cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendErrorMode {
    /// Refuse (503): fail closed.
    Deny,
    /// Admit: fail open.
    Allow,
    /// Decide on this replica's memory until Redis answers (the default).
    Local,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        let rules = [
            ("global", RuleConfig::new(100, secs(60))),
            ("auth_login", RuleConfig::new(5, secs(300))),
            ("auth_register", RuleConfig::new(3, secs(3600))),
            ("auth_refresh", RuleConfig::new(20, secs(60))),
        ];
        let tiers = [("free", 1.0), ("pro", 2.5), ("enterprise", 5.0)];
        Self {
            enabled: true,
            algorithm: LimitAlgorithm::Gcra,
            rules: rules.map(|(k, v)| (k.to_string(), v)).into(),
            tiers: tiers.map(|(k, v)| (k.to_string(), v)).into(),
            allow_cidrs: Vec::new(),
            ietf_headers: false,
            max_keys: 1_000_000,
            on_backend_error: BackendErrorMode::Local,
        }
    }
}

impl RateLimitConfig {
    /// Problems with the section, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, rule) in &self.rules {
            let at = format!("rate_limit.rules.{name}");
            if !valid_category(name) {
                out.push(format!("{at}: a category is 1-64 of a-z 0-9 _ -"));
            }
            if rule.limit == 0 {
                out.push(format!("{at}.limit must be at least 1"));
            }
            if rule.period.0 < Duration::from_millis(1)
                || rule.period.0 > Duration::from_secs(86_400 * 366)
            {
                out.push(format!("{at}.period must be between 1ms and 366 days"));
            }
            if rule.burst == Some(0) {
                out.push(format!("{at}.burst must be at least 1"));
            }
        }
        for (tier, m) in &self.tiers {
            if !(m.is_finite() && *m > 0.0 && *m <= 1000.0) {
                out.push(format!(
                    "rate_limit.tiers.{tier} must be a multiplier in (0, 1000]"
                ));
            }
        }
        if self.max_keys < 1000 {
            out.push("rate_limit.max_keys must be at least 1000".into());
        }
        out
    }

    /// Rules the shared (Redis) limiter cannot decide exactly (its Lua numbers are doubles),
    /// at every tier multiplier.
    pub fn shared_problems(&self) -> Vec<String> {
        use palisade_core::ratelimit::{Algorithm, Quota};
        let mut out = Vec::new();
        let multipliers: Vec<f64> = std::iter::once(1.0)
            .chain(self.tiers.values().copied())
            .collect();
        for (name, rule) in &self.rules {
            let Ok(quota) = Quota::new(
                rule.limit,
                rule.period.0.as_millis() as u64,
                rule.burst.unwrap_or(0),
            ) else {
                continue;
            };
            let algorithm = match rule.algorithm.unwrap_or(self.algorithm) {
                LimitAlgorithm::Gcra => Algorithm::Gcra,
                LimitAlgorithm::SlidingWindow => Algorithm::SlidingWindow,
            };
            if multipliers.iter().any(|m| {
                !palisade_store::redis_limiter::RedisLimiter::supports(algorithm, &quota.scaled(*m))
            }) {
                out.push(format!(
                    "rate_limit.rules.{name}: too large for the shared limiter to decide exactly on Redis; shorten the period or lower the limit"
                ));
            }
        }
        out
    }
}

/// A rule category name: 1–64 of `a-z 0-9 _ -`.
pub fn valid_category(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Load shedding: it starts when any measure reaches its `*_start` and stops when every
/// measure is below its `*_stop` (hysteresis). Ops endpoints and `critical` routes are never shed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdmissionConfig {
    /// Turns load shedding on.
    pub enabled: bool,
    /// Requests being handled at once (all workers).
    pub in_flight_start: usize,
    /// In flight below which shedding stops.
    pub in_flight_stop: usize,
    /// How long requests wait before a worker gets to them (moving average).
    pub queue_delay_start: HumanDuration,
    /// Queue delay below which shedding stops.
    pub queue_delay_stop: HumanDuration,
    /// Resident memory of the process; 0 turns the measure off.
    pub memory_start: ByteSize,
    /// Memory below which shedding stops.
    pub memory_stop: ByteSize,
    /// `Retry-After` on a shed request.
    pub retry_after: HumanDuration,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            in_flight_start: 10_000,
            in_flight_stop: 8_000,
            queue_delay_start: millis(500),
            queue_delay_stop: millis(100),
            memory_start: ByteSize(0),
            memory_stop: ByteSize(0),
            retry_after: secs(5),
        }
    }
}

impl AdmissionConfig {
    /// Problems with the section, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.in_flight_stop > self.in_flight_start || self.in_flight_start == 0 {
            out.push(
                "admission.in_flight_stop must be at most admission.in_flight_start (> 0)".into(),
            );
        }
        if self.queue_delay_stop.0 > self.queue_delay_start.0 {
            out.push(
                "admission.queue_delay_stop must be at most admission.queue_delay_start".into(),
            );
        }
        if self.memory_stop.0 > self.memory_start.0 {
            out.push("admission.memory_stop must be at most admission.memory_start".into());
        }
        out
    }
}

/// Per-upstream circuit breaker and the cache of last good GET responses served while it is open
/// (on routes with `fallback = "stale"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CircuitBreakerConfig {
    /// Turns the breakers on.
    pub enabled: bool,
    /// Failures (5xx, timeouts, connection errors) / requests over `window` that open it.
    pub failure_ratio: f64,
    /// The rolling window failures are counted over.
    pub window: HumanDuration,
    /// Requests in the window before the ratio counts.
    pub min_requests: u32,
    /// How long it stays open before letting probes through.
    pub open_for: HumanDuration,
    /// Probes let through when half-open; that many successes close it.
    pub half_open_probes: u32,
    /// Responses kept for the stale fallback (all routes).
    pub fallback_max_entries: u64,
    /// Larger responses are not kept.
    pub fallback_max_entry_bytes: ByteSize,
    /// Older responses are not served.
    pub fallback_max_age: HumanDuration,
    /// Shared (Redis) fallback only: a copy this replica stored less than this long ago is not
    /// written again, so a hot GET does not write Redis on every request.
    pub fallback_refresh: HumanDuration,
    /// Shared (Redis) fallback only: stores in flight at once, off the request path; a store
    /// beyond them is dropped and counted.
    pub fallback_store_queue: usize,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            failure_ratio: 0.5,
            window: secs(30),
            min_requests: 20,
            open_for: secs(30),
            half_open_probes: 3,
            fallback_max_entries: 10_000,
            fallback_max_entry_bytes: ByteSize(256 * 1024),
            fallback_max_age: secs(3600),
            fallback_refresh: secs(10),
            fallback_store_queue: 64,
        }
    }
}

impl CircuitBreakerConfig {
    /// Problems with the section, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !(self.failure_ratio > 0.0 && self.failure_ratio <= 1.0) {
            out.push("circuit_breaker.failure_ratio must be in (0, 1]".into());
        }
        if self.window.0 < Duration::from_secs(1) {
            out.push("circuit_breaker.window must be at least 1s".into());
        }
        if self.open_for.0 < Duration::from_secs(1) {
            out.push("circuit_breaker.open_for must be at least 1s".into());
        }
        if self.min_requests == 0 || self.half_open_probes == 0 {
            out.push("circuit_breaker.min_requests and half_open_probes must be at least 1".into());
        }
        if self.fallback_refresh.0 > self.fallback_max_age.0 {
            out.push("circuit_breaker.fallback_refresh must be at most fallback_max_age".into());
        }
        if self.fallback_store_queue == 0 || self.fallback_store_queue > 4096 {
            out.push("circuit_breaker.fallback_store_queue must be between 1 and 4096".into());
        }
        out
    }
}

/// What a route serves while its upstream's breaker is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// 503 problem+json.
    #[default]
    None,
    /// The last successful GET response for the same path, query and caller, if young enough,
    /// with `X-Palisade-Fallback: stale`.
    Stale,
}

/// How a route speaks to its upstreams (`upstream_protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamProtocol {
    /// HTTP/1.1 with keep-alive (the default).
    #[default]
    Http1,
    /// HTTP/2 over TLS, offered by ALPN (`https://` upstreams only); an upstream that answers
    /// the TLS handshake with `http/1.1` is spoken to in HTTP/1.1.
    H2,
    /// HTTP/2 with prior knowledge over cleartext (`http://` upstreams only).
    H2c,
}

impl UpstreamProtocol {
    /// The name in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Self::Http1 => "http1",
            Self::H2 => "h2",
            Self::H2c => "h2c",
        }
    }

    /// The scheme an upstream URL must have for this protocol, if only one fits.
    pub fn required_scheme(self) -> Option<&'static str> {
        match self {
            Self::Http1 => None,
            Self::H2 => Some("https"),
            Self::H2c => Some("http"),
        }
    }
}
