//! Audit events emitted by the gates and the built-in APIs.
//!
//! Every event goes to the log under the target `palisade::audit` (one structured line, details
//! redacted like the logs), into a bounded in-memory ring of recent events, and — once the server
//! has attached it — to the durable, hash-chained trail ([`trail`]) and to the
//! alert rules ([`alerts`]). Details pass through the log redactor before they are
//! stored, so a credential or (when configured) an e-mail address never reaches the trail.
//!
//! What a request tells about an event (client IP, request id, user agent, action, tenant) is
//! derived in one place, [`RequestOrigin`], and put on an event with [`AuditEvent::origin`].
//! Refusals enter through [`AuditLog::record_refusal`]: every one reaches the alert rules, and
//! the trail keeps samples that say how many refusals each stands for
//! ([`refusals`]).
//!
//! The room: events and the log here; [`trail`] (the single writer of the hash chain),
//! [`seal`] (personal fields sealed under per-subject keys, erasure by destroying one),
//! [`alerts`] (rules, incidents, responses), [`refusals`] (sampling) and [`deletion_webhook`]
//! (the durable outbox of erasure notices).

pub mod alerts;
pub mod app;
pub mod deletion_webhook;
pub mod notify;
pub mod refusals;
pub mod review;
pub mod seal;
pub mod trail;

use serde::Serialize;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Mutex;

/// The trail's own risk levels and results: one vocabulary from emitter to store.
pub use palisade_core::audit::{Outcome, Risk, Source};

/// One security event as an emitter builds it, before it is redacted, chained and stored.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    /// `area.verb`, one of `palisade_core::audit::taxonomy`'s types.
    pub event_type: &'static str,
    /// How much it matters.
    pub risk: Risk,
    /// How the action ended.
    pub outcome: Outcome,
    /// User id, service account or key id; `None` when unknown (a failed login).
    pub actor: Option<String>,
    /// What was acted on, `type:id` (`user:…`, `route:…`).
    pub resource: Option<String>,
    /// The client's address as the boundary resolved it.
    pub client_ip: Option<IpAddr>,
    /// The request id, linking the event to the answer and the logs.
    pub request_id: Option<String>,
    /// The request's `User-Agent` (at most [`MAX_USER_AGENT`] bytes).
    pub user_agent: Option<String>,
    /// The API action: method and path (`POST /auth/login`), never the query.
    pub action: Option<String>,
    /// The tenant the event concerns (an authorized tenant route, the admin tenant API).
    pub tenant: Option<String>,
    /// Event-specific facts (JSON object); redacted before they are stored.
    pub details: serde_json::Value,
    /// Who recorded it: Palisade, or an application ([`app`]).
    pub source: Source,
}

/// The values `details.credential` may hold (what kind of credential a refusal rejected).
pub const CREDENTIAL_KINDS: [&str; 4] = ["bearer", "api_key", "cookie", "refresh_token"];

/// Longest `User-Agent` kept on an event; longer ones are cut at a character boundary.
pub const MAX_USER_AGENT: usize = 256;
/// Longest `action` kept on an event.
pub const MAX_ACTION: usize = 512;

/// Where an event came from, as far as the request tells: the one place request-derived audit
/// fields are read (the boundary's [`RequestMeta`](crate::request::RequestMeta), `User-Agent`,
/// method and path, and the tenant the authorize gate checked).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestOrigin {
    /// The client's address as the boundary resolved it.
    pub client_ip: Option<IpAddr>,
    /// The request id.
    pub request_id: Option<String>,
    /// `User-Agent`, cut to [`MAX_USER_AGENT`] bytes.
    pub user_agent: Option<String>,
    /// Method and canonical path, cut to [`MAX_ACTION`] bytes.
    pub action: Option<String>,
    /// The tenant the authorize gate checked, if any.
    pub tenant: Option<String>,
}

impl RequestOrigin {
    /// The origin of a request, as seen by a gate.
    pub fn of(req: &crate::request::Req) -> Self {
        Self::from_parts(req.method(), req.uri(), req.headers(), req.extensions())
    }

    /// The origin of a request from its parts (handlers, extractors).
    pub fn from_parts(
        method: &http::Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
    ) -> Self {
        let meta = extensions.get::<crate::request::RequestMeta>();
        let user_agent = headers.get(http::header::USER_AGENT).map(|v| {
            clip(
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                MAX_USER_AGENT,
            )
        });
        Self {
            client_ip: meta.map(|m| m.client_ip),
            request_id: meta.map(|m| m.request_id_str().to_owned()),
            user_agent,
            action: Some(action(method.as_str(), uri.path())),
            tenant: extensions
                .get::<crate::request::AuthorizedTenant>()
                .map(|t| t.0.clone()),
        }
    }

    /// The same origin acting on another request (forward auth: the original method and path).
    pub fn acting_on(mut self, method: &str, path: &str) -> Self {
        self.action = Some(action(method, path));
        self
    }
}

/// The action of a request: method and path, at most [`MAX_ACTION`] bytes.
fn action(method: &str, path: &str) -> String {
    clip(format!("{method} {path}"), MAX_ACTION)
}

/// `s` cut to at most `max` bytes at a character boundary.
fn clip(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl AuditEvent {
    /// A new event of a documented type ([`palisade_core::audit::taxonomy`]: alert rules and
    /// retention classes name types from there, so a debug build refuses an undocumented one);
    /// the rest is filled in with the builder methods below.
    pub fn new(event_type: &'static str, risk: Risk, outcome: Outcome) -> Self {
        debug_assert!(
            palisade_core::audit::taxonomy::find(event_type).is_some(),
            "audit event type {event_type:?} is not in the taxonomy"
        );
        Self {
            event_type,
            risk,
            outcome,
            actor: None,
            resource: None,
            client_ip: None,
            request_id: None,
            user_agent: None,
            action: None,
            tenant: None,
            details: serde_json::Value::Null,
            source: Source::Palisade,
        }
    }

    /// An event an application posted, of a type declared in `[[audit.app_events]]` (never
    /// one of Palisade's own: those do not start with `app.`).
    pub fn app(event_type: &'static str, risk: Risk, outcome: Outcome) -> Self {
        debug_assert!(
            event_type.starts_with("app."),
            "{event_type:?} is no app type"
        );
        Self {
            source: Source::App,
            ..Self::new("audit.app_events_refused", risk, outcome)
        }
        .retyped(event_type)
    }

    fn retyped(mut self, event_type: &'static str) -> Self {
        self.event_type = event_type;
        self
    }

    /// Fills what the request tells (client IP, request id, user agent, action, tenant); fields
    /// already set on the event are kept.
    pub fn origin(mut self, origin: &RequestOrigin) -> Self {
        fn fill<T: Clone>(slot: &mut Option<T>, from: &Option<T>) {
            if slot.is_none() {
                slot.clone_from(from);
            }
        }
        fill(&mut self.client_ip, &origin.client_ip);
        fill(&mut self.request_id, &origin.request_id);
        fill(&mut self.user_agent, &origin.user_agent);
        fill(&mut self.action, &origin.action);
        fill(&mut self.tenant, &origin.tenant);
        self
    }

    /// The tenant it concerns.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Who acted (user, service account or key id).
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// What was acted on, `type:id`.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Event-specific facts (a JSON object).
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    /// The event as the durable trail stores it (`resource` "type:id" is split in two).
    pub fn draft(&self) -> crate::audit::trail::Draft {
        let (resource_type, resource_id) = match self.resource.as_deref().map(|r| r.split_once(':'))
        {
            Some(Some((t, id))) => (Some(t.to_string()), Some(id.to_string())),
            Some(None) => (None, self.resource.clone()),
            None => (None, None),
        };
        crate::audit::trail::Draft {
            event_type: self.event_type.to_string(),
            risk: self.risk,
            result: self.outcome,
            actor: self.actor.clone(),
            resource_type,
            resource_id,
            tenant: self.tenant.clone(),
            client_ip: self.client_ip.map(|ip| ip.to_string()),
            user_agent: self.user_agent.clone(),
            action: self.action.clone(),
            request_id: self.request_id.clone(),
            details: self.details.clone(),
            source: self.source,
        }
    }
}

/// Where events go.
#[derive(Debug)]
pub struct AuditLog {
    recent: Mutex<VecDeque<AuditEvent>>,
    keep: usize,
    trail: std::sync::OnceLock<std::sync::Arc<crate::audit::trail::AuditTrail>>,
    alerts: std::sync::OnceLock<crate::audit::alerts::Interest>,
    refusals: std::sync::OnceLock<crate::audit::refusals::RefusalSampler>,
    redactor: palisade_core::redact::Redactor,
}

impl Default for AuditLog {
    fn default() -> Self {
        Self::new(palisade_core::redact::RedactOptions::default())
    }
}

impl AuditLog {
    /// An audit log whose event details are redacted with `options` (the logs' own).
    pub fn new(options: palisade_core::redact::RedactOptions) -> Self {
        Self {
            recent: Mutex::new(VecDeque::new()),
            keep: 1024,
            trail: std::sync::OnceLock::new(),
            alerts: std::sync::OnceLock::new(),
            refusals: std::sync::OnceLock::new(),
            redactor: palisade_core::redact::Redactor::new(options),
        }
    }

    /// From now on every event some alert rule could match is handed to the alert engine.
    pub fn attach_alerts(&self, interest: crate::audit::alerts::Interest) {
        let _ = self.alerts.set(interest);
    }

    /// The details as the logs would show them: credentials (and configured personal data)
    /// masked. Details that need no masking are kept as they are.
    fn redact_details(&self, details: serde_json::Value) -> serde_json::Value {
        if details.is_null() {
            return details;
        }
        let text = details.to_string();
        match self.redactor.redact(&text) {
            std::borrow::Cow::Borrowed(_) => details,
            std::borrow::Cow::Owned(masked) => serde_json::from_str(&masked)
                .unwrap_or_else(|_| serde_json::json!({ "redacted": masked })),
        }
    }

    /// From now on every event is also written to `trail`.
    pub fn attach(&self, trail: std::sync::Arc<crate::audit::trail::AuditTrail>) {
        let _ = self.trail.set(trail);
    }

    /// The durable trail events go to, once attached (none in unit tests).
    pub fn trail(&self) -> Option<&std::sync::Arc<crate::audit::trail::AuditTrail>> {
        self.trail.get()
    }

    /// From now on refusals are sampled by `sampler` before they are stored; until then each
    /// refusal is stored on its own (`details.count` = 1).
    pub fn attach_refusals(&self, sampler: crate::audit::refusals::RefusalSampler) {
        let _ = self.refusals.set(sampler);
    }

    /// Records an event: redacted, offered to the alert rules, submitted to the trail (durable
    /// before the answer unless its class is in `audit.async_classes`), logged.
    pub fn record(&self, event: AuditEvent) {
        let event = self.redact(event);
        self.offer(&event);
        self.store(event, true);
    }

    /// Records a refusal (a rejected credential, a delayed sign-in, a firewall block, a rate
    /// limit, an ambiguous path). `details.reason` names why, as a stable slug; the caller is
    /// the actor when known, else the client IP. Every refusal is offered to the alert rules,
    /// unsampled; the trail keeps at most one event per caller, type, resource and reason per
    /// `audit.refusal_sample_period` (and `audit.refusal_max_per_second` overall), each carrying
    /// in `details.count` the refusals it stands for. Refusal events are never waited for: they
    /// cannot delay or fail the refusal they record.
    pub fn record_refusal(&self, event: AuditEvent) {
        metrics::counter!(crate::audit::refusals::REFUSALS_METRIC, "event_type" => event.event_type)
            .increment(1);
        let event = self.redact(event);
        self.offer(&event);
        match self.refusals.get() {
            Some(sampler) => {
                if let Some(sample) = sampler.admit(event) {
                    self.store(sample, false);
                }
            }
            None => self.store(crate::audit::refusals::with_count(event, 1), false),
        }
    }

    /// Stores the refusal samples whose period has ended (`all`: every held count, at
    /// shutdown). Returns how many samples were stored.
    pub fn flush_refusals(&self, all: bool) -> usize {
        let Some(sampler) = self.refusals.get() else {
            return 0;
        };
        let samples = sampler.flush(all);
        let n = samples.len();
        for sample in samples {
            self.store(sample, false);
        }
        n
    }

    /// The event as it would be stored: details, action and user agent redacted.
    pub(crate) fn redacted(&self, event: AuditEvent) -> AuditEvent {
        self.redact(event)
    }

    /// Hands an application event, already stored through its own path
    /// ([`app`]), to the alert rules.
    pub(crate) fn offer_posted(&self, event: &AuditEvent) {
        metrics::counter!("palisade_audit_app_events_total").increment(1);
        self.offer(event);
    }

    fn redact(&self, mut event: AuditEvent) -> AuditEvent {
        // `details.credential` names a kind of credential from a closed list, never a value;
        // the redactor masks every field named like a credential, so it is put back.
        let kind = event
            .details
            .get("credential")
            .and_then(|k| k.as_str())
            .and_then(|k| CREDENTIAL_KINDS.iter().find(|known| **known == k));
        event.details = self.redact_details(std::mem::take(&mut event.details));
        if let (Some(kind), Some(details)) = (kind, event.details.as_object_mut()) {
            details.insert("credential".into(), (*kind).into());
        }
        for field in [&mut event.action, &mut event.user_agent] {
            if let Some(text) = field.as_deref()
                && let std::borrow::Cow::Owned(masked) = self.redactor.redact(text)
            {
                *field = Some(masked);
            }
        }
        event
    }

    fn offer(&self, event: &AuditEvent) {
        if let Some(alerts) = self.alerts.get() {
            alerts.offer(event);
        }
    }

    /// Submits to the trail (`durable`: as its class says; else never held for), logs, counts
    /// and keeps the event among the recent ones.
    fn store(&self, event: AuditEvent, durable: bool) {
        if let Some(trail) = self.trail.get() {
            if durable {
                trail.submit(event.draft());
            } else {
                trail.submit_async(event.draft());
            }
        }
        // Per-request events are in the access log already; a second line each would double it.
        if event.event_type != "api.request" {
            self.log(&event);
        }
        metrics::counter!("palisade_audit_events_total", "event_type" => event.event_type)
            .increment(1);
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == self.keep {
            recent.pop_front();
        }
        recent.push_back(event);
    }

    fn log(&self, event: &AuditEvent) {
        tracing::info!(
            target: "palisade::audit",
            event_type = event.event_type,
            risk = ?event.risk,
            outcome = ?event.outcome,
            actor = event.actor.as_deref().unwrap_or("-"),
            resource = event.resource.as_deref().unwrap_or("-"),
            client_ip = ?event.client_ip,
            request_id = event.request_id.as_deref().unwrap_or("-"),
            action = event.action.as_deref().unwrap_or("-"),
            tenant = event.tenant.as_deref().unwrap_or("-"),
            details = %event.details,
        );
    }

    /// Erases what the trail holds about the account `subject_id` without rewriting a record:
    /// once every event queued before this call is stored, the key sealing the account's
    /// personal fields (client address, user agent, e-mail addresses) is destroyed, so they read
    /// `[erased]` from then on and the chain still verifies. Recorded as
    /// `audit.subject_forgotten` (resource `user:ID`, `details.key_destroyed`). True when a key
    /// was destroyed (false: nothing of the account was sealed). Fails when no trail is attached
    /// or the store cannot delete the key (nothing recorded then: call again).
    pub async fn forget_subject(&self, subject_id: uuid::Uuid) -> Result<bool, String> {
        let trail = self
            .trail
            .get()
            .ok_or("no audit trail is attached: nothing to forget in")?;
        let destroyed = trail.forget(&subject_id.to_string()).await?;
        self.record(
            AuditEvent::new("audit.subject_forgotten", Risk::Medium, Outcome::Success)
                .resource(format!("user:{subject_id}"))
                .details(serde_json::json!({ "key_destroyed": destroyed })),
        );
        trail.flush().await;
        Ok(destroyed)
    }

    /// A page of the trail as readers see it: through the attached trail, sealed fields
    /// opened; without one (unit tests), as `store` holds it.
    pub async fn read(
        &self,
        store: &dyn palisade_store::Store,
        filter: &palisade_store::audit::AuditFilter,
        after: u64,
        limit: u32,
    ) -> palisade_store::StoreResult<Vec<palisade_core::audit::AuditRecord>> {
        match self.trail.get() {
            Some(trail) => trail.query(filter, after, limit).await,
            None => store.audit_query(filter, after, limit).await,
        }
    }

    /// What an audit query for client address `ip` (already canonical) matches: the address in
    /// the clear and, through the attached trail, every sealed form of it (by its blind index).
    pub fn client_ip_match(&self, ip: &str) -> palisade_store::audit::SealedMatch {
        match self.trail.get() {
            Some(trail) => trail.sealer().client_ip_match(ip),
            None => palisade_store::audit::SealedMatch {
                plain: ip.to_string(),
                // `*` is no blind-index character: this prefix matches no sealed value.
                sealed_prefix: palisade_core::audit::sealed::match_prefix(
                    &"*".repeat(palisade_core::audit::sealed::INDEX_LEN),
                ),
            },
        }
    }

    /// The most recent events, oldest first.
    pub fn recent(&self) -> Vec<AuditEvent> {
        self.recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_redacted_like_the_logs() {
        let log = AuditLog::default();
        log.record(
            AuditEvent::new("auth.login_failure", Risk::Medium, Outcome::Failure).details(
                serde_json::json!({
                    "password": "hunter2-hunter2",
                    "note": "from ann@example.com",
                    "threat_level": "low",
                }),
            ),
        );
        let stored = log.recent().pop().unwrap().details.to_string();
        assert!(!stored.contains("hunter2"), "{stored}");
        assert!(!stored.contains("ann@example.com"), "{stored}");
        assert!(stored.contains("\"threat_level\":\"low\""), "{stored}");
    }

    #[test]
    fn a_credential_kind_survives_redaction_and_a_credential_value_does_not() {
        let log = AuditLog::default();
        for (credential, kept) in [("api_key", true), ("pal_0123456789abcdef", false)] {
            log.record_refusal(
                AuditEvent::new("auth.credential_rejected", Risk::Medium, Outcome::Denied)
                    .details(serde_json::json!({ "reason": "expired", "credential": credential })),
            );
            let stored = log.recent().pop().unwrap().details;
            assert_eq!(stored["credential"] == credential, kept, "{stored}");
            assert_eq!(stored["count"], 1, "unsampled without a sampler: {stored}");
        }
    }

    #[test]
    fn the_origin_comes_from_the_request_in_one_place() {
        let mut req = http::Request::builder()
            .method("POST")
            .uri("/api/graphs/t1/nodes?token=secret")
            .header("user-agent", "x".repeat(MAX_USER_AGENT + 10))
            .body(axum::body::Body::empty())
            .unwrap();
        req.extensions_mut().insert(crate::request::RequestMeta {
            request_id: http::HeaderValue::from_static("rid-1"),
            client_ip: "2001:db8::1".parse().unwrap(),
            https: false,
            peer_is_trusted_proxy: false,
            builtin: None,
            route: None,
        });
        req.extensions_mut()
            .insert(crate::request::AuthorizedTenant("t1".into()));
        let origin = RequestOrigin::of(&req);
        assert_eq!(origin.action.as_deref(), Some("POST /api/graphs/t1/nodes"));
        assert_eq!(
            origin.user_agent.as_ref().map(String::len),
            Some(MAX_USER_AGENT)
        );
        assert_eq!(origin.tenant.as_deref(), Some("t1"));
        assert_eq!(origin.request_id.as_deref(), Some("rid-1"));
        let event = AuditEvent::new("tenant.created", Risk::Medium, Outcome::Success)
            .tenant("t2")
            .origin(&origin);
        assert_eq!(
            event.tenant.as_deref(),
            Some("t2"),
            "what the event says wins"
        );
        let draft = event.draft();
        assert_eq!(draft.action.as_deref(), Some("POST /api/graphs/t1/nodes"));
        assert_eq!(draft.client_ip.as_deref(), Some("2001:db8::1"));
        assert_eq!(
            draft.user_agent.as_ref().map(String::len),
            Some(MAX_USER_AGENT)
        );
    }
}
