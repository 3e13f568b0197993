//! Audit events emitted by the gates and the built-in APIs.
//!
//! Every event goes to the log under the target `palisade::audit` (one structured line, details
//! redacted like the logs), into a bounded in-memory ring of recent events, and — once the server
//! has attached it — to the durable, hash-chained trail ([`crate::audit_trail`]) and to the
//! alert rules ([`crate::alerts`]). Details pass through the log redactor before they are
//! stored, so a credential or (when configured) an e-mail address never reaches the trail.

use serde::Serialize;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Mutex;

/// The trail's own risk levels and results: one vocabulary from emitter to store.
pub use palisade_core::audit::{Outcome, Risk};

#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    pub event_type: &'static str,
    pub risk: Risk,
    pub outcome: Outcome,
    /// User id, service account or key id; `None` when unknown (a failed login).
    pub actor: Option<String>,
    pub resource: Option<String>,
    pub client_ip: Option<IpAddr>,
    pub request_id: Option<String>,
    pub details: serde_json::Value,
}

impl AuditEvent {
    pub fn new(event_type: &'static str, risk: Risk, outcome: Outcome) -> Self {
        Self {
            event_type,
            risk,
            outcome,
            actor: None,
            resource: None,
            client_ip: None,
            request_id: None,
            details: serde_json::Value::Null,
        }
    }

    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    pub fn from_client(mut self, ip: IpAddr, request_id: &str) -> Self {
        self.client_ip = Some(ip);
        self.request_id = Some(request_id.to_owned());
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    /// The event as the durable trail stores it (`resource` "type:id" is split in two).
    pub fn draft(&self) -> crate::audit_trail::Draft {
        let (resource_type, resource_id) = match self.resource.as_deref().map(|r| r.split_once(':'))
        {
            Some(Some((t, id))) => (Some(t.to_string()), Some(id.to_string())),
            Some(None) => (None, self.resource.clone()),
            None => (None, None),
        };
        crate::audit_trail::Draft {
            event_type: self.event_type.to_string(),
            risk: self.risk,
            result: self.outcome,
            actor: self.actor.clone(),
            resource_type,
            resource_id,
            tenant: None,
            client_ip: self.client_ip.map(|ip| ip.to_string()),
            user_agent: None,
            request_id: self.request_id.clone(),
            details: self.details.clone(),
        }
    }
}

/// Where events go.
#[derive(Debug)]
pub struct AuditLog {
    recent: Mutex<VecDeque<AuditEvent>>,
    keep: usize,
    trail: std::sync::OnceLock<std::sync::Arc<crate::audit_trail::AuditTrail>>,
    alerts: std::sync::OnceLock<crate::alerts::Interest>,
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
            redactor: palisade_core::redact::Redactor::new(options),
        }
    }

    /// From now on every event some alert rule could match is handed to the alert engine.
    pub fn attach_alerts(&self, interest: crate::alerts::Interest) {
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
    pub fn attach(&self, trail: std::sync::Arc<crate::audit_trail::AuditTrail>) {
        let _ = self.trail.set(trail);
    }

    pub fn trail(&self) -> Option<&std::sync::Arc<crate::audit_trail::AuditTrail>> {
        self.trail.get()
    }

    pub fn record(&self, mut event: AuditEvent) {
        event.details = self.redact_details(std::mem::take(&mut event.details));
        if let Some(alerts) = self.alerts.get() {
            alerts.offer(&event);
        }
        if let Some(trail) = self.trail.get() {
            trail.submit(event.draft());
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
            details = %event.details,
        );
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
}
