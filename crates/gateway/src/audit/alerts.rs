//! Alert rules acting on the audit event stream: counting, incidents and incident response.
//!
//! Every recorded audit event that some rule could match is handed to one engine task (recording
//! never waits for it). A rule counts its matching events per key (client IP, actor or resource)
//! in hot state, in ten buckets per window, so replicas on one Redis count together. When a key
//! reaches `min_count` the first replica to claim it (an atomic counter) opens an incident:
//! it runs the rule's actions in order — block the IP, revoke the actor's sessions, disable the
//! named API key — records `incident.opened` (with each action's result) in the audit trail,
//! and POSTs it to the webhook signed with HMAC-SHA256, retrying with backoff; the delivery's
//! result is recorded as `incident.updated`. While an incident is open (one window), further
//! matches raise its severity each time the count doubles when the rule has `raise_severity`.
//!
//! Refusals (rejected credentials, rate limits, firewall blocks, ...) reach the engine one by
//! one, before the trail samples them ([`AuditLog::record_refusal`]), so a rule counts every
//! refusal even though few are stored: "10 rate-limit refusals in 60 s from one address → block
//! it for an hour" is a rule of `ratelimit.exceeded`, `group_by = "client_ip"`, `min_count =
//! 10`, `actions = ["block_ip"]`, `block_for = "1h"`.
//!
//! Events an application posted (`source = "app"`) count only for rules that name the app
//! source, and such rules only notify (`config check` refuses any other action on them; the
//! engine skips one regardless).
//!
//! Incident response in depth: `email` sends the incident to `audit.alerts.email_to` through
//! `[smtp]`, retried with the webhook's backoff, its result recorded as `incident.updated`;
//! `disable_user` disables the actor of the event that reached the count (one use case with
//! the admin API and the CLI: `user.disabled`, sessions revoked); `lockdown` locks the gateway
//! down (`gateway.lockdown_on`; only with `auto_lockdown`, else skipped). The actions a rule
//! runs are its own then those `severity_actions` adds for its severity
//! ([`AlertsConfig::actions_of`]).
//!
//! Guarantees: alerting never delays or fails a request; events produced by the actions
//! themselves never feed the rules again (no loops); a hot-state failure skips the count and is
//! logged. Incidents are read back from the trail (`GET /admin/incidents`), so they survive
//! restarts and are the same on every replica.

use crate::audit::notify::Notifier;
use crate::audit::{AuditEvent, AuditLog, Outcome, Risk};
use crate::config::alerts::{Action, AlertRule, AlertsConfig, GroupBy};
use crate::identity::Identity;
use palisade_core::clock::SharedClock;
use palisade_store::SharedHotState;
use serde::Serialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The actor of events the engine's own actions record.
pub const ALERTS_ACTOR: &str = "palisade:alerts";
const BUCKETS: u64 = 10;

/// Which events are worth handing to the engine: a cheap check on the recording path.
#[derive(Debug)]
pub struct Interest {
    tx: mpsc::UnboundedSender<AuditEvent>,
    types: std::collections::HashSet<String>,
    /// Lowest `min_risk` among rules that take any event type.
    any_type_from: Option<Risk>,
}

impl Interest {
    /// Hands `event` to the engine if some rule could count it (never the engine's own events).
    pub fn offer(&self, event: &AuditEvent) {
        if event.actor.as_deref() == Some(ALERTS_ACTOR) || event.event_type.starts_with("incident.")
        {
            return;
        }
        let wanted = self.types.contains(event.event_type)
            || self.any_type_from.is_some_and(|r| event.risk >= r);
        if wanted {
            let _ = self.tx.send(event.clone());
        }
    }
}

/// One action's outcome, as the incident records it.
#[derive(Debug, Clone, Serialize)]
pub struct ActionTaken {
    /// Which action.
    pub action: Action,
    /// `done`, `skipped` or `failed`.
    pub result: &'static str,
    /// What it did or why not, for people.
    pub detail: String,
}

/// An incident as opened (and as the webhook receives it).
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    /// UUIDv7; `incident.updated` events name it.
    pub incident_id: String,
    /// The rule that opened it.
    pub rule: String,
    /// `low` … `critical`; raised by `raise_severity` as the count doubles.
    pub severity: String,
    /// What the count was kept by.
    pub group_by: GroupBy,
    /// The value counted by (an IP, an actor, a resource).
    pub key: String,
    /// Events counted when it opened.
    pub count: u64,
    /// The rule's window, in seconds.
    pub window_seconds: u64,
    /// Unix milliseconds.
    pub opened_at_ms: u64,
    /// The event that reached the count.
    pub trigger: serde_json::Value,
    /// What its actions did.
    pub actions: Vec<ActionTaken>,
}

struct Open {
    incident_id: String,
    severity: Risk,
    escalate_at: u64,
    until_ms: u64,
}

/// The alert engine's state: the rules, what is open, and how it acts.
pub struct Engine {
    rules: Vec<AlertRule>,
    config: AlertsConfig,
    hot: SharedHotState,
    clock: SharedClock,
    audit: Arc<AuditLog>,
    identity: Arc<Identity>,
    notifier: Notifier,
    open: HashMap<(usize, String), Open>,
}

/// Starts the engine on the current runtime and connects it to `audit`. Does nothing when
/// alerting is off or no rule is declared.
pub fn start(
    config: &AlertsConfig,
    hot: SharedHotState,
    clock: SharedClock,
    audit: Arc<AuditLog>,
    identity: Arc<Identity>,
    shutdown: watch::Receiver<bool>,
) {
    if !config.enabled || config.rules.is_empty() {
        return;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let any_type_from = config
        .rules
        .iter()
        .filter(|r| r.event_types.is_empty())
        .map(|r| r.min_risk.unwrap_or(Risk::Low))
        .min();
    let types = config
        .rules
        .iter()
        .flat_map(|r| r.event_types.iter().cloned())
        .collect();
    audit.attach_alerts(Interest {
        tx,
        types,
        any_type_from,
    });
    let notifier = Notifier::new(config, clock.clone(), audit.clone(), identity.mail.clone());
    let engine = Engine {
        rules: config.rules.clone(),
        config: config.clone(),
        hot,
        clock,
        audit,
        identity,
        notifier,
        open: HashMap::new(),
    };
    tokio::spawn(engine.run(rx, shutdown));
}

fn matches(rule: &AlertRule, e: &AuditEvent) -> bool {
    rule.sources.contains(&e.source)
        && (rule.event_types.is_empty() || rule.event_types.iter().any(|t| t == e.event_type))
        && rule.min_risk.is_none_or(|r| e.risk >= r)
        && rule
            .details
            .iter()
            .all(|(k, v)| e.details.get(k) == Some(v))
}

fn group_key(by: GroupBy, e: &AuditEvent) -> Option<String> {
    match by {
        GroupBy::ClientIp => e.client_ip.map(|ip| ip.to_string()),
        GroupBy::Actor => e.actor.clone(),
        GroupBy::Resource => e.resource.clone(),
    }
}

/// A short, stable hash of a key for hot-state counter names (never the key itself).
pub(crate) fn hashed_key(s: &str) -> String {
    hashed(s)
}

fn hashed(s: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes());
    crate::audit::trail::hex_encode(&d.as_ref()[..16])
}

fn raise(r: Risk) -> Risk {
    match r {
        Risk::Low => Risk::Medium,
        Risk::Medium => Risk::High,
        Risk::High | Risk::Critical => Risk::Critical,
    }
}

fn severity_name(r: Risk) -> String {
    r.as_str().to_ascii_lowercase()
}

/// `X-Palisade-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &str, unix_secs: u64, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
    ctx.update(unix_secs.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!(
        "t={unix_secs},v1={}",
        crate::audit::trail::hex_encode(ctx.sign().as_ref())
    )
}

impl Engine {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<AuditEvent>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                event = rx.recv() => match event {
                    Some(e) => self.handle(e).await,
                    None => break,
                },
                changed = shutdown.changed() => if changed.is_err() || *shutdown.borrow() { break },
            }
        }
    }

    async fn handle(&mut self, event: AuditEvent) {
        let now = self.clock.now_millis();
        self.open.retain(|_, o| o.until_ms > now);
        for i in 0..self.rules.len() {
            let rule = &self.rules[i];
            if !matches(rule, &event) {
                continue;
            }
            let Some(key) = group_key(rule.group_by, &event) else {
                continue;
            };
            let count = match self.count(rule, &key, now).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(rule = %rule.name, error = %e, "alert rule skipped: hot state unavailable");
                    continue;
                }
            };
            if count < rule.min_count {
                continue;
            }
            if let Some(open) = self.open.get_mut(&(i, key.clone())) {
                let rule = &self.rules[i];
                if rule.actions.contains(&Action::RaiseSeverity)
                    && event.source == crate::audit::Source::Palisade
                    && count >= open.escalate_at
                    && open.severity < Risk::Critical
                {
                    open.severity = raise(open.severity);
                    open.escalate_at = open.escalate_at.saturating_mul(2);
                    let details = serde_json::json!({
                        "incident_id": open.incident_id,
                        "severity": severity_name(open.severity),
                        "count": count,
                    });
                    let severity = open.severity;
                    self.record("incident.updated", severity, details);
                }
                continue;
            }
            if !self.claim(i, &key).await {
                continue;
            }
            self.open_incident(i, key, count, &event, now).await;
        }
    }

    /// Matching events for `key` in the rule's window (the current bucket and the nine before).
    async fn count(
        &self,
        rule: &AlertRule,
        key: &str,
        now: u64,
    ) -> palisade_store::StoreResult<u64> {
        if rule.min_count <= 1 {
            return Ok(1);
        }
        let window = rule.window.0.as_millis().max(BUCKETS as u128) as u64;
        let bucket_ms = window / BUCKETS;
        let bucket = now / bucket_ms;
        let base = format!("al:{}:{}:", rule.name, hashed(key));
        let ttl = Duration::from_millis(window + bucket_ms);
        self.hot.incr(&format!("{base}{bucket}"), ttl).await?;
        let keys: Vec<String> = (0..BUCKETS)
            .map(|b| format!("{base}{}", bucket.saturating_sub(b)))
            .collect();
        self.hot.counter_sum(&keys).await
    }

    /// True for the first caller (on any replica) to reach the threshold in this window.
    async fn claim(&self, i: usize, key: &str) -> bool {
        let rule = &self.rules[i];
        let flag = format!("al:open:{}:{}", rule.name, hashed(key));
        match self.hot.incr(&flag, rule.window.0).await {
            Ok(n) => n == 1,
            Err(e) => {
                tracing::warn!(rule = %rule.name, error = %e, "alert not raised: hot state unavailable");
                false
            }
        }
    }

    async fn open_incident(
        &mut self,
        i: usize,
        key: String,
        count: u64,
        event: &AuditEvent,
        now: u64,
    ) {
        let rule = self.rules[i].clone();
        let planned = self.config.actions_of(&rule);
        let mut actions = Vec::new();
        for action in &planned {
            if event.source == crate::audit::Source::App && !action.notifies_only() {
                // `config check` refuses this; should a rule slip through, app events only notify.
                actions.push(ActionTaken {
                    action: *action,
                    result: "skipped",
                    detail: "application events only notify".into(),
                });
                continue;
            }
            let taken = match action {
                Action::BlockIp => {
                    let for_ = rule.block_for.map_or(self.config.block_for.0, |b| b.0);
                    self.block_ip(event.client_ip, for_).await
                }
                Action::RevokeSessions => self.revoke_sessions(event.actor.as_deref()).await,
                Action::DisableApiKey => self.disable_key(event).await,
                Action::DisableUser => self.disable_user(event.actor.as_deref()).await,
                Action::Lockdown => self.lockdown(&rule.name).await,
                Action::Webhook | Action::RaiseSeverity | Action::Email => continue,
            };
            actions.push(ActionTaken {
                action: *action,
                result: taken.0,
                detail: taken.1,
            });
        }
        let incident = Incident {
            incident_id: uuid::Uuid::now_v7().to_string(),
            rule: rule.name.clone(),
            severity: severity_name(rule.severity),
            group_by: rule.group_by,
            key: key.clone(),
            count,
            window_seconds: rule.window.0.as_secs(),
            opened_at_ms: now,
            trigger: serde_json::json!({
                "event_type": event.event_type,
                "actor": event.actor,
                "client_ip": event.client_ip.map(|ip| ip.to_string()),
                "request_id": event.request_id,
            }),
            actions,
        };
        tracing::warn!(target: "palisade::alerts", rule = %rule.name, incident = %incident.incident_id, severity = %incident.severity, "incident opened");
        self.record(
            "incident.opened",
            rule.severity,
            serde_json::to_value(&incident).unwrap_or_default(),
        );
        self.open.insert(
            (i, key),
            Open {
                incident_id: incident.incident_id.clone(),
                severity: rule.severity,
                escalate_at: rule.min_count.max(1).saturating_mul(2),
                until_ms: now + rule.window.0.as_millis() as u64,
            },
        );
        if planned.contains(&Action::Email) {
            self.email(&incident);
        }
        if planned.contains(&Action::Webhook) {
            self.deliver(incident);
        }
    }

    fn record(&self, event_type: &'static str, risk: Risk, details: serde_json::Value) {
        self.audit.record(
            AuditEvent::new(event_type, risk, Outcome::Success)
                .actor(ALERTS_ACTOR)
                .details(details),
        );
    }

    async fn block_ip(&self, ip: Option<IpAddr>, for_: Duration) -> (&'static str, String) {
        let Some(ip) = ip else {
            return ("skipped", "the event has no client IP".into());
        };
        match self.identity.brute.block(ip, for_, "alert").await {
            Ok(set) => {
                if set {
                    self.audit.record(
                        AuditEvent::new("ip.blocked", Risk::High, Outcome::Success)
                            .actor(ALERTS_ACTOR)
                            .resource(format!("ip:{ip}"))
                            .details(
                                serde_json::json!({ "seconds": for_.as_secs(), "by": "alert" }),
                            ),
                    );
                }
                ("done", format!("{ip} blocked for {}s", for_.as_secs()))
            }
            Err(e) => ("failed", format!("{ip}: {e}")),
        }
    }

    async fn revoke_sessions(&self, actor: Option<&str>) -> (&'static str, String) {
        use palisade_store::identity::RevocationReason::Incident;
        let Some(user) = actor.and_then(|a| a.parse::<uuid::Uuid>().ok()) else {
            return ("skipped", "the event names no account".into());
        };
        match self.identity.revoke_user_sessions(user, Incident).await {
            Ok(n) => {
                self.audit.record(
                    AuditEvent::new("auth.sessions_revoked_all", Risk::Medium, Outcome::Success)
                        .actor(ALERTS_ACTOR)
                        .resource(format!("user:{user}"))
                        .details(serde_json::json!({
                            "sessions": n,
                            "by": "alert",
                            "reason": Incident.as_str(),
                        })),
                );
                ("done", format!("{n} sessions of {user} revoked"))
            }
            Err(e) => ("failed", format!("{user}: {e}")),
        }
    }

    async fn disable_key(&self, event: &AuditEvent) -> (&'static str, String) {
        use palisade_store::identity::RevocationReason::Incident;
        let named = event
            .details
            .get("key_id")
            .and_then(|v| v.as_str())
            .or_else(|| {
                event
                    .resource
                    .as_deref()
                    .and_then(|r| r.strip_prefix("api_key:"))
            });
        let Some(id) = named.and_then(|k| k.parse::<uuid::Uuid>().ok()) else {
            return ("skipped", "the event names no API key".into());
        };
        match self.identity.revoke_api_key(id, Incident).await {
            Ok(_) => {
                self.audit.record(
                    AuditEvent::new("apikey.revoked", Risk::Medium, Outcome::Success)
                        .actor(ALERTS_ACTOR)
                        .resource(format!("api_key:{id}"))
                        .details(serde_json::json!({ "by": "alert", "reason": Incident.as_str() })),
                );
                ("done", format!("API key {id} revoked"))
            }
            Err(e) => ("failed", format!("{id}: {e}")),
        }
    }

    async fn disable_user(&self, actor: Option<&str>) -> (&'static str, String) {
        let Some(user) = actor.and_then(|a| a.parse::<uuid::Uuid>().ok()) else {
            return ("skipped", "the event names no account".into());
        };
        match self
            .identity
            .set_user_disabled_for(
                user,
                Some(palisade_store::identity::RevocationReason::Incident),
                &alerts_by(),
            )
            .await
        {
            Ok(true) => (
                "done",
                format!("account {user} disabled, its sessions revoked"),
            ),
            Ok(false) => ("skipped", format!("no account {user}")),
            Err(e) => ("failed", format!("{user}: {e}")),
        }
    }

    async fn lockdown(&self, rule: &str) -> (&'static str, String) {
        if !self.config.auto_lockdown {
            // `config check` refuses this; should a rule slip through, fail closed: no lockdown
            // that was not asked for explicitly.
            return ("skipped", "audit.alerts.auto_lockdown is off".into());
        }
        if self.identity.lockdown.is_on() {
            return ("skipped", "the gateway is locked down already".into());
        }
        let reason = format!("alert rule {rule}");
        match self
            .identity
            .lockdown
            .set(true, Some(reason), &alerts_by())
            .await
        {
            Ok(_) => ("done", "the gateway is locked down".into()),
            Err(e) => ("failed", e.to_string()),
        }
    }

    /// Mails the incident to every `email_to` address (see [`Notifier::email`]).
    fn email(&self, incident: &Incident) {
        let body = format!(
            "Palisade opened an incident.\n\nrule: {}\nseverity: {}\ncount: {} in {} s\nkey: {}\n\n{}\n",
            incident.rule,
            incident.severity,
            incident.count,
            incident.window_seconds,
            incident.key,
            serde_json::to_string_pretty(incident).unwrap_or_default()
        );
        let subject = format!(
            "[palisade] {} incident: {}",
            incident.severity, incident.rule
        );
        self.notifier.email(
            ("incident_id", &incident.incident_id),
            "incident",
            &subject,
            &body,
        );
    }

    /// POSTs the incident (see [`Notifier::webhook`]).
    fn deliver(&self, incident: Incident) {
        let body = serde_json::to_vec(&incident).unwrap_or_default();
        self.notifier.webhook(
            "incident.opened",
            ("incident_id", &incident.incident_id),
            body,
        );
    }
}

/// Who the engine's own use-case calls are made by (`palisade:alerts`, no request origin).
fn alerts_by() -> crate::identity::manage::By<'static> {
    static NO_ORIGIN: std::sync::LazyLock<crate::audit::RequestOrigin> =
        std::sync::LazyLock::new(Default::default);
    crate::identity::manage::By {
        actor: ALERTS_ACTOR.into(),
        origin: &NO_ORIGIN,
    }
}
