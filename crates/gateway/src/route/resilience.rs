//! What keeps a failing upstream from taking the gateway down with it: a circuit breaker per
//! upstream ([`palisade_core::breaker`]), the cache of last good GET responses served while a
//! breaker is open (routes with `fallback = "stale"`), and the retry policy.
//!
//! Guarantees: every breaker state change is an audit event (`circuit.opened`,
//! `circuit.half_open`, `circuit.closed`) and a metric; a stale response is only ever served to
//! the same caller (API key, account, or client IP) that received it fresh, for the same path
//! and query, and never older than `fallback_max_age`; responses that set cookies or say
//! `no-store` are never kept; with hot state on Redis the kept answers are shared by every
//! replica, sealed with the keyring ([`crate::route::shared_stale`]), else they stay in this
//! process; retries happen only for idempotent methods without a body, only when the connection could
//! not be made, a bounded number of times, after a jittered backoff.

use crate::audit::{AuditEvent, AuditLog, Outcome as AuditOutcome, Risk};
use crate::config::Config;
use crate::route::shared_stale::SharedStale;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use palisade_core::breaker::{Admission, BreakerConfig, CircuitBreaker, Outcome, Transition};
use palisade_core::clock::SharedClock;
use std::sync::Arc;
use std::time::Duration;

/// A GET response kept for the stale fallback.
#[derive(Debug)]
pub struct Stored {
    /// The upstream's status.
    pub status: StatusCode,
    /// The upstream's headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// When it was kept, Unix milliseconds on the injected clock.
    pub stored_at_ms: u64,
}

/// The circuit breakers per upstream and the stale-fallback cache.
#[derive(Debug)]
pub struct Resilience {
    /// By upstream `host:port`, so the per-request lookup borrows the URI instead of building a
    /// key. Keys come from the configuration only, so a fast hash (foldhash) is safe here.
    breakers: foldhash::HashMap<String, CircuitBreaker>,
    stale: moka::sync::Cache<(&'static str, String, String), Arc<Stored>>,
    /// With hot state on Redis: the kept answers live there instead of in `stale`.
    shared: Option<Arc<SharedStale>>,
    max_entry_bytes: u64,
    max_age_ms: u64,
    retry_backoff: Duration,
    clock: SharedClock,
    audit: Arc<AuditLog>,
}

fn authority(upstream: &Uri) -> &str {
    upstream.authority().map_or("", |a| a.as_str())
}

/// `scheme://host:port`, for logs, audit events and metric labels.
fn upstream_key(upstream: &Uri) -> String {
    format!(
        "{}://{}",
        upstream.scheme_str().unwrap_or("http"),
        upstream.authority().map_or("", |a| a.as_str())
    )
}

impl Resilience {
    /// Breakers and the cache as `config` says.
    pub fn new(config: &Config, clock: SharedClock, audit: Arc<AuditLog>) -> Self {
        let cb = &config.circuit_breaker;
        let breaker_config = BreakerConfig {
            failure_ratio: cb.failure_ratio,
            window_ms: cb.window.0.as_millis() as u64,
            min_requests: cb.min_requests,
            open_for_ms: cb.open_for.0.as_millis() as u64,
            half_open_probes: cb.half_open_probes,
        };
        let breakers = if cb.enabled {
            config
                .routes
                .iter()
                .flat_map(|r| r.upstream_urls())
                .filter_map(|u| u.parse::<Uri>().ok())
                .map(|u| {
                    (
                        authority(&u).to_string(),
                        CircuitBreaker::new(breaker_config.clone()),
                    )
                })
                .collect()
        } else {
            foldhash::HashMap::default()
        };
        Self {
            breakers,
            stale: moka::sync::Cache::new(cb.fallback_max_entries),
            shared: None,
            max_entry_bytes: cb.fallback_max_entry_bytes.0,
            max_age_ms: cb.fallback_max_age.0.as_millis() as u64,
            retry_backoff: config.proxy.retry_backoff.0,
            clock,
            audit,
        }
    }

    /// Keeps the stale fallback's answers in `shared` (hot state on Redis) instead of memory.
    pub fn with_shared(mut self, shared: Arc<SharedStale>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Every upstream's breaker state (`closed`, `open`, `half_open`) by `host:port`, sorted.
    pub fn circuits(&self) -> Vec<(String, &'static str)> {
        let mut out: Vec<_> = self
            .breakers
            .iter()
            .map(|(upstream, b)| (upstream.clone(), b.state().as_str()))
            .collect();
        out.sort_unstable();
        out
    }

    /// The shared fallback, when hot state is Redis.
    pub fn shared(&self) -> Option<&Arc<SharedStale>> {
        self.shared.as_ref()
    }

    /// May a request go to `upstream` now? `Ok(is_probe)`, or `Err(retry_after)` while open.
    pub fn admit(&self, upstream: &Uri) -> Result<bool, Duration> {
        let Some(breaker) = self.breakers.get(authority(upstream)) else {
            return Ok(false);
        };
        let (admission, transition) = breaker.admit(self.clock.now_millis());
        self.announce(upstream, transition);
        match admission {
            Admission::Allowed => Ok(false),
            Admission::Probe => Ok(true),
            Admission::Rejected { retry_after_ms } => Err(Duration::from_millis(retry_after_ms)),
        }
    }

    /// Reports how a request to `upstream` went: a 5xx, a timeout or a connection error is a
    /// failure.
    pub fn record(&self, upstream: &Uri, failed: bool, was_probe: bool) {
        let Some(breaker) = self.breakers.get(authority(upstream)) else {
            return;
        };
        let outcome = if failed {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        let transition = breaker.record(self.clock.now_millis(), outcome, was_probe);
        self.announce(upstream, transition);
    }

    fn announce(&self, upstream: &Uri, transition: Option<Transition>) {
        let Some(t) = transition else { return };
        let key = upstream_key(upstream);
        let (event, risk) = match t.to.as_str() {
            "open" => ("circuit.opened", Risk::High),
            "half_open" => ("circuit.half_open", Risk::Low),
            _ => ("circuit.closed", Risk::Low),
        };
        tracing::warn!(upstream = %key, from = t.from.as_str(), to = t.to.as_str(), "circuit breaker");
        self.audit.record(
            AuditEvent::new(event, risk, AuditOutcome::Success)
                .resource(format!("upstream:{key}"))
                .details(serde_json::json!({ "from": t.from.as_str(), "to": t.to.as_str() })),
        );
        metrics::gauge!("palisade_circuit_state", "upstream" => key.clone())
            .set(t.to.gauge() as f64);
        metrics::counter!("palisade_circuit_transitions_total", "upstream" => key, "to" => t.to.as_str())
            .increment(1);
    }

    /// Should this fresh response be kept for the stale fallback?
    pub fn keepable(&self, method: &Method, status: StatusCode, headers: &HeaderMap) -> bool {
        let no_store = headers
            .get_all(header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("no-store"));
        let small = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n <= self.max_entry_bytes);
        *method == Method::GET
            && status == StatusCode::OK
            && small
            && !no_store
            && !headers.contains_key(header::SET_COOKIE)
    }

    /// Keeps a response for the stale fallback of `route`, `target` and `caller`.
    pub fn keep(&self, route: &'static str, target: &str, caller: &str, stored: Stored) {
        if let Some(shared) = &self.shared {
            return shared.keep(route, target, caller, stored);
        }
        self.stale.insert(
            (route, target.to_string(), caller.to_string()),
            Arc::new(stored),
        );
    }

    /// The kept response for this route, path and query and caller, if young enough.
    pub async fn stale(
        &self,
        route: &'static str,
        target: &str,
        caller: &str,
    ) -> Option<Arc<Stored>> {
        if let Some(shared) = &self.shared {
            return shared.get(route, target, caller).await;
        }
        let key = (route, target.to_string(), caller.to_string());
        let stored = self.stale.get(&key)?;
        let age = self.clock.now_millis().saturating_sub(stored.stored_at_ms);
        (age <= self.max_age_ms).then_some(stored)
    }

    /// Now, Unix milliseconds on the injected clock.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_millis()
    }

    /// A random wait before retry `attempt` (1, 2, …): up to `retry_backoff × 2^(attempt−1)`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .retry_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(10));
        let millis = cap.as_millis().max(1) as u64;
        Duration::from_millis(rand::random_range(0..=millis))
    }
}

/// Only requests that are safe to send twice and carry no body are retried.
pub fn retryable(method: &Method, headers: &HeaderMap) -> bool {
    let idempotent = matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    );
    let bodiless = !headers.contains_key(header::TRANSFER_ENCODING)
        && headers
            .get(header::CONTENT_LENGTH)
            .is_none_or(|v| v.as_bytes() == b"0");
    idempotent && bodiless
}

/// `Age` in whole seconds for a stale response.
pub fn age_header(stored: &Stored, now_ms: u64) -> HeaderValue {
    HeaderValue::from(now_ms.saturating_sub(stored.stored_at_ms) / 1000)
}
