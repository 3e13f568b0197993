//! The `throttle` gate: rate limits by route category × caller × subscription tier.
//!
//! The caller is counted by its API key, else its account, else its client IP (as resolved by the
//! boundary through trusted proxies). Every request passes the `global` rule and its category's
//! rule, if one is configured; the tier multiplies both. Limited responses carry
//! `X-RateLimit-Limit/-Remaining/-Reset` (and the IETF `RateLimit-Policy`/`RateLimit` headers when
//! configured) for the tightest rule; a refusal is 429 problem+json with `Retry-After` and a
//! `ratelimit.exceeded` refusal on record ([`AuditLog::record_refusal`]: every one counts for the
//! alert rules, the trail keeps samples per caller and rule with their counts).
//!
//! Allow-listed networks and the ops endpoints are never limited.
//!
//! With a shared hot state (Redis) every decision is one server-side script run, so replicas
//! share one budget; a decision Redis cannot answer follows `rate_limit.on_backend_error`:
//! `deny` (503), `allow` (unlimited), or `local` (this replica's in-memory limiter, until Redis
//! answers again).

// Refusals are the finished 429 response, the gate idiom.
#![allow(clippy::result_large_err)]

use super::check::{Check, CheckLayer, ResponseHeaders};
use crate::audit::{AuditEvent, AuditLog, Outcome, RequestOrigin, Risk};
use crate::config::traffic::{BackendErrorMode, LimitAlgorithm, RateLimitConfig};
use crate::hot::limiter::SharedLimiter;
use crate::problem::refuse;
use crate::request::{CallerKey, Req, RequestMeta, Res};
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use ipnet::IpNet;
use palisade_core::clock::SharedClock;
use palisade_core::principal::Principal;
use palisade_core::ratelimit::{Algorithm, Decision, MemoryLimiter, Quota};
use std::collections::HashMap;
use std::sync::Arc;

/// The label of the throttle's refusals.
pub const GATE: &str = "throttle";

static LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
static RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
static IETF_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
static IETF_STATE: HeaderName = HeaderName::from_static("ratelimit");

/// A compiled rule.
#[derive(Debug)]
struct Rule {
    name: &'static str,
    quota: Quota,
    algorithm: Algorithm,
    /// `X-RateLimit-Limit` for the unscaled quota, rendered once.
    limit_value: HeaderValue,
}

impl Rule {
    /// `X-RateLimit-Limit` for `limit`: the pre-rendered value unless a tier scaled it.
    fn limit_value(&self, limit: u32) -> HeaderValue {
        if limit == self.quota.limit {
            self.limit_value.clone()
        } else {
            HeaderValue::from(limit)
        }
    }
}

/// Small numbers (`X-RateLimit-Remaining`, `-Reset`) as header values rendered once, so that
/// writing one costs no allocation.
fn number_value(n: u64) -> HeaderValue {
    const RENDERED: usize = 1024;
    static SMALL: std::sync::OnceLock<Vec<HeaderValue>> = std::sync::OnceLock::new();
    let small = SMALL.get_or_init(|| {
        let text: &'static str = Box::leak(
            (0..RENDERED)
                .map(|i| i.to_string())
                .collect::<String>()
                .into_boxed_str(),
        );
        let mut at = 0;
        (0..RENDERED)
            .map(|i| {
                let len = i.to_string().len();
                let v = HeaderValue::from_static(&text[at..at + len]);
                at += len;
                v
            })
            .collect()
    });
    match usize::try_from(n).ok().and_then(|i| small.get(i)) {
        Some(v) => v.clone(),
        None => HeaderValue::from(n),
    }
}

/// The rate limiter the throttle gate decides with: compiled rules, tiers, the in-memory limiter
/// and, when shared, the Redis one.
#[derive(Debug)]
pub struct Throttle {
    enabled: bool,
    global: Option<Rule>,
    by_category: HashMap<String, Rule>,
    tiers: HashMap<String, f64>,
    allow: Vec<IpNet>,
    ietf_headers: bool,
    limiter: MemoryLimiter,
    clock: SharedClock,
    audit: Arc<AuditLog>,
    /// The shared limiter (Redis) and what its failures become.
    shared: Option<(SharedLimiter, BackendErrorMode)>,
    /// Where Palisade's own endpoints live (`api.mount`), to tell sign-ins from other calls.
    mount: Box<str>,
}

/// The throttle gate as a tower layer.
pub type ThrottleLayer = CheckLayer<Arc<Throttle>>;

/// The throttle gate over `throttle`.
pub fn layer(throttle: Arc<Throttle>) -> ThrottleLayer {
    CheckLayer::new(throttle)
}

impl Throttle {
    /// Compiles the `[rate_limit]` section (validated by `config check` beforehand).
    pub fn new(config: &RateLimitConfig, clock: SharedClock, audit: Arc<AuditLog>) -> Self {
        let mut by_category = HashMap::new();
        let mut global = None;
        for (name, rc) in &config.rules {
            let Ok(quota) = Quota::new(
                rc.limit,
                rc.period.0.as_millis() as u64,
                rc.burst.unwrap_or(0),
            ) else {
                continue;
            };
            let algorithm = match rc.algorithm.unwrap_or(config.algorithm) {
                LimitAlgorithm::Gcra => Algorithm::Gcra,
                LimitAlgorithm::SlidingWindow => Algorithm::SlidingWindow,
            };
            let rule = Rule {
                name: Box::leak(name.clone().into_boxed_str()),
                limit_value: HeaderValue::from(quota.limit),
                quota,
                algorithm,
            };
            if name == "global" {
                global = Some(rule);
            } else {
                by_category.insert(name.clone(), rule);
            }
        }
        Self {
            enabled: config.enabled,
            global,
            by_category,
            tiers: config.tiers.clone().into_iter().collect(),
            allow: config.allow_cidrs.clone(),
            ietf_headers: config.ietf_headers,
            limiter: MemoryLimiter::new(config.max_keys),
            clock,
            audit,
            shared: None,
            mount: "".into(),
        }
    }

    /// Reads Palisade's own endpoints under `mount` (`api.mount`) from now on.
    pub fn under_mount(mut self, mount: &str) -> Self {
        self.mount = mount.into();
        self
    }

    /// Decides on the shared limiter from now on (several replicas, one budget).
    pub fn with_shared(mut self, limiter: SharedLimiter, on_error: BackendErrorMode) -> Self {
        self.shared = Some((limiter, on_error));
        self
    }

    /// One rule's decision: on the shared limiter when there is one. `Ok(None)`: not limited
    /// (the shared limiter failed and `on_backend_error = "allow"`).
    async fn decide_rule(
        &self,
        rule: &Rule,
        who: &CallerKey<'_>,
        quota: &Quota,
        now: u64,
        meta: &RequestMeta,
    ) -> Result<Option<Decision>, Res> {
        if let Some((shared, on_error)) = &self.shared {
            let key = who.with_parts(|parts| {
                palisade_store::redis_limiter::RateKey::derive(rule.name, parts)
            });
            let limiter = shared.here();
            match limiter.decide(&key, rule.algorithm, quota, now).await {
                Ok(d) => return Ok(Some(d)),
                Err(e) => {
                    metrics::counter!("palisade_ratelimit_backend_errors_total").increment(1);
                    tracing::warn!(error = %e, mode = ?on_error, "shared rate limiter unavailable");
                    match on_error {
                        BackendErrorMode::Allow => return Ok(None),
                        BackendErrorMode::Deny => {
                            let mut res = refuse(
                                GATE,
                                "ratelimit-unavailable",
                                StatusCode::SERVICE_UNAVAILABLE,
                                "Rate limits cannot be checked right now; retry shortly.",
                                meta.request_id_str(),
                            );
                            res.headers_mut()
                                .insert(header::RETRY_AFTER, HeaderValue::from(1));
                            return Err(res);
                        }
                        BackendErrorMode::Local => {}
                    }
                }
            }
        }
        let key = who.with_parts(|parts| self.limiter.key_of(rule.name, parts));
        Ok(Some(self.limiter.decide(key, rule.algorithm, quota, now)))
    }

    /// Forgets drained keys (run periodically; decisions are unchanged by it).
    pub fn evict_idle(&self) -> usize {
        let now = self.clock.now_millis();
        self.limiter.evict_idle(now)
    }

    /// Keys the in-memory limiter holds (a gauge).
    pub fn keys(&self) -> usize {
        self.limiter.len()
    }

    fn multiplier(&self, tier: Option<&str>) -> f64 {
        tier.and_then(|t| self.tiers.get(t)).copied().unwrap_or(1.0)
    }

    /// Decides one request; `Err` is the 429 (or 503) to send.
    async fn decide(
        &self,
        principal: Option<&Principal>,
        category: &str,
        meta: &RequestMeta,
    ) -> Result<Option<ResponseHeaders>, Refused> {
        let who = CallerKey::of(principal, meta.client_ip);
        let multiplier = self.multiplier(principal.and_then(|p| p.tier.as_deref()));
        let now = self.clock.now_millis();
        let mut tightest: Option<(&Rule, Quota, Decision)> = None;
        // The specific rule first, so a request it refuses does not spend the global budget.
        let rules = self
            .by_category
            .get(category)
            .into_iter()
            .chain(&self.global);
        for rule in rules {
            let quota = rule.quota.scaled(multiplier);
            let decided = self.decide_rule(rule, &who, &quota, now, meta).await;
            let Some(decision) = decided.map_err(|res| Refused { res, rule: None })? else {
                continue;
            };
            if !decision.allowed {
                return Err(Refused {
                    res: self.refusal(rule, &quota, &decision, meta),
                    rule: Some((rule.name, quota)),
                });
            }
            if tightest.is_none_or(|(_, _, d)| decision.remaining < d.remaining) {
                tightest = Some((rule, quota, decision));
            }
        }
        Ok(tightest.map(|(rule, quota, d)| self.headers(rule, &quota, &d)))
    }

    /// The `X-RateLimit-*` headers (and the IETF ones when configured) for a decision.
    fn headers(&self, rule: &Rule, quota: &Quota, d: &Decision) -> ResponseHeaders {
        let mut h = ResponseHeaders::default();
        h.push(LIMIT.clone(), rule.limit_value(d.limit));
        h.push(REMAINING.clone(), number_value(u64::from(d.remaining)));
        h.push(RESET.clone(), number_value(d.reset_after_secs()));
        if self.ietf_headers {
            let window = quota.period_ms.div_ceil(1000);
            let policy = format!("\"{}\";q={};w={window}", rule.name, quota.limit);
            let state = format!(
                "\"{}\";r={};t={}",
                rule.name,
                d.remaining,
                d.reset_after_secs()
            );
            for (name, value) in [(&IETF_POLICY, policy), (&IETF_STATE, state)] {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    h.push(name.clone(), v);
                }
            }
        }
        h
    }

    fn refusal(&self, rule: &Rule, quota: &Quota, d: &Decision, meta: &RequestMeta) -> Res {
        let mut res = refuse(
            GATE,
            "rate-limited",
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many requests ({} per {} s); retry in {} s.",
                quota.limit,
                quota.period_ms.div_ceil(1000),
                d.retry_after_secs()
            ),
            meta.request_id_str(),
        );
        self.headers(rule, quota, d).apply(res.headers_mut());
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(d.retry_after_secs()));
        res
    }

    /// Puts the refusal on record: the caller's account or key as actor (anonymous callers
    /// are known by their address), the rule as resource.
    fn record_refusal(&self, rule: &str, quota: &Quota, who: &CallerKey<'_>, req: &Req) {
        let mut event = AuditEvent::new("ratelimit.exceeded", Risk::Low, Outcome::Denied)
            .resource(format!("rate_limit:{rule}"))
            .origin(&RequestOrigin::of(req))
            .details(serde_json::json!({
                "reason": "rate-limited",
                "limit": quota.limit,
                "period_s": quota.period_ms.div_ceil(1000),
            }));
        if !matches!(who, CallerKey::Ip(_)) {
            event = event.actor(who.to_string());
        }
        self.audit.record_refusal(event);
    }
}

impl Check for Arc<Throttle> {
    async fn check(&self, req: &mut Req) -> Result<(), Res> {
        if !self.enabled {
            return Ok(());
        }
        let Some(meta) = req.extensions().get::<RequestMeta>().cloned() else {
            return Ok(());
        };
        if meta.is_ops() {
            return Ok(());
        }
        if self.allow.iter().any(|n| n.contains(&meta.client_ip)) {
            return Ok(());
        }
        let principal = req.extensions().get::<Arc<Principal>>().cloned();
        let category = category(req.method(), req.uri().path(), &meta, &self.mount);
        match self.decide(principal.as_deref(), category, &meta).await {
            Ok(Some(headers)) => {
                req.extensions_mut().insert(headers);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(Refused { res, rule }) => {
                if let Some((rule, quota)) = rule {
                    let who = CallerKey::of(principal.as_deref(), meta.client_ip);
                    self.record_refusal(rule, &quota, &who, req);
                }
                Err(res)
            }
        }
    }
}

/// A refused request: the answer, and the rule and quota that refused it (none when the
/// shared limiter could not decide).
struct Refused {
    res: Res,
    rule: Option<(&'static str, Quota)>,
}

/// The request's rate-limit category.
fn category<'a>(method: &Method, path: &str, meta: &'a RequestMeta, mount: &str) -> &'a str {
    use crate::route::builtin::Builtin;
    // Only a built-in path is read below the mount (the boundary put it there).
    let below = meta
        .builtin
        .and_then(|_| Builtin::within(path, mount))
        .unwrap_or("");
    match (meta.builtin, below) {
        (Some(Builtin::Auth), "/auth/login") => "auth_login",
        (Some(Builtin::Auth), "/auth/register") => "auth_register",
        (Some(Builtin::Auth), "/auth/refresh") => "auth_refresh",
        (Some(Builtin::Admin), _) => "admin",
        _ => match meta.route.as_ref().and_then(|r| r.rate_limit.as_deref()) {
            Some(custom) => custom,
            None if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) => "read",
            None => "write",
        },
    }
}
