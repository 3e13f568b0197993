//! Audit events emitted by the gates and the built-in APIs.
//!
//! This is the emitting side only: every event goes to the log under the target
//! `palisade::audit` (one structured line, details redacted like the logs) and into a bounded
//! in-memory ring of recent events. The durable, hash-chained trail is the audit issue's work; it
//! will consume the same [`AuditEvent`]s.

use serde::Serialize;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Risk {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

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
}

/// Where events go.
#[derive(Debug)]
pub struct AuditLog {
    recent: Mutex<VecDeque<AuditEvent>>,
    keep: usize,
}

impl Default for AuditLog {
    fn default() -> Self {
        Self {
            recent: Mutex::new(VecDeque::new()),
            keep: 1024,
        }
    }
}

impl AuditLog {
    pub fn record(&self, event: AuditEvent) {
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
        metrics::counter!("palisade_audit_events_total", "event_type" => event.event_type)
            .increment(1);
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == self.keep {
            recent.pop_front();
        }
        recent.push_back(event);
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
