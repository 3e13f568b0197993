//! `[audit]`: checkpoint frequency, durability, how refusals are sampled, and the application
//! events the trail accepts (`[[audit.app_events]]`, their idempotency retention and
//! per-principal quota). Retention by event class and the purge time moved to `[retention]`
//! (`crate::config::retention`); the old keys here are still read.

use serde::{Deserialize, Serialize};

/// `[audit]`: checkpoints, durability, refusal sampling and app events.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// The old `[audit.retention_days]` (moved to `[retention.audit]`; still read).
    pub retention_days: RetentionDays,
    /// The old daily purge time (moved to `retention.run_at`; still read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purge_at: Option<String>,
    /// A checkpoint is signed after this many events (and at shutdown, and at each purge).
    pub checkpoint_every: u64,
    /// Classes written asynchronously: their answers are not held until the event is stored
    /// (high-volume informational events). Every other class is durable before the answer.
    pub async_classes: Vec<String>,
    /// Events queued and not yet stored beyond which requests that must leave a durable event
    /// wait (back-pressure) instead of adding more.
    pub max_queue: u64,
    /// How long an answer waits for its durable events; then the caller gets 503 instead.
    pub durable_timeout: crate::config::units::HumanDuration,
    /// At most one stored refusal event per caller, type, resource and reason in this period;
    /// each carries the number of refusals it stands for (`details.count`).
    pub refusal_sample_period: crate::config::units::HumanDuration,
    /// Refusal events stored per second at most, over all callers; the rest wait for a later
    /// sample (counted in `palisade_audit_refusals_suppressed_total`).
    pub refusal_max_per_second: u64,
    /// `[audit.alerts]`: the alert rules.
    pub alerts: crate::config::alerts::AlertsConfig,
    /// `[[audit.app_events]]`: the event types applications may post
    /// (`POST /admin/audit/events`); none by default.
    pub app_events: Vec<crate::config::app_events::AppEventType>,
    /// How long an app event's idempotency key is remembered (per posting principal): a batch
    /// retried within it is stored once.
    pub app_idempotency_retention: crate::config::units::HumanDuration,
    /// App events one principal may post per minute; beyond it 429 with `Retry-After`.
    pub app_events_per_minute: u64,
}

/// The old `[audit.retention_days]`: days each class of event is kept, only where written
/// (moved to `[retention.audit]`, which wins; see `crate::config::retention`). Besides the four
/// built-in classes it may declare classes for `[[audit.app_events]]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionDays {
    /// Sign-ins, refusals, administration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security: Option<u32>,
    /// Secret reads and credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_access: Option<u32>,
    /// Tool and job actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_execution: Option<u32>,
    /// `api.request` events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_call: Option<u32>,
    /// Classes declared for application events (`name = days`).
    #[serde(flatten)]
    pub custom: std::collections::BTreeMap<String, u32>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            retention_days: RetentionDays::default(),
            purge_at: None,
            checkpoint_every: 1_000,
            async_classes: vec!["api_call".into()],
            max_queue: 100_000,
            durable_timeout: crate::config::units::HumanDuration(std::time::Duration::from_secs(
                10,
            )),
            refusal_sample_period: crate::config::units::HumanDuration(
                std::time::Duration::from_secs(10),
            ),
            refusal_max_per_second: 100,
            alerts: Default::default(),
            app_events: Vec::new(),
            app_idempotency_retention: crate::config::units::HumanDuration(
                std::time::Duration::from_secs(7 * 86_400),
            ),
            app_events_per_minute: 6_000,
        }
    }
}

impl AuditConfig {
    /// The declared app event type `event_type`, if any.
    pub fn app_event(&self, event_type: &str) -> Option<&crate::config::app_events::AppEventType> {
        self.app_events.iter().find(|t| t.event_type == event_type)
    }

    /// Is an event of this type written asynchronously?
    pub fn is_async(&self, event_type: &str) -> bool {
        palisade_core::audit::taxonomy::find(event_type)
            .is_some_and(|t| self.async_classes.iter().any(|c| c == t.class.as_str()))
    }

    /// Problems with the section, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.async_classes {
            if ![
                "security",
                "credential_access",
                "tool_execution",
                "api_call",
            ]
            .contains(&c.as_str())
            {
                out.push(format!(
                    "audit.async_classes: {c:?} is not security, credential_access, tool_execution or api_call"
                ));
            }
            if c == "security" || c == "credential_access" {
                out.push(format!(
                    "audit.async_classes: {c} events must be durable before the answer"
                ));
            }
        }
        if self.max_queue < 1_000 {
            out.push("audit.max_queue must be at least 1000".into());
        }
        if self.durable_timeout.0 < std::time::Duration::from_millis(100) {
            out.push("audit.durable_timeout must be at least 100ms".into());
        }
        let period = self.refusal_sample_period.0;
        if period < std::time::Duration::from_secs(1)
            || period > std::time::Duration::from_secs(3600)
        {
            out.push("audit.refusal_sample_period must be between 1s and 1h".into());
        }
        if self.refusal_max_per_second == 0 {
            out.push("audit.refusal_max_per_second must be at least 1".into());
        }
        if self.checkpoint_every == 0 {
            out.push("audit.checkpoint_every must be at least 1".into());
        }
        let keep = self.app_idempotency_retention.0;
        if keep < std::time::Duration::from_secs(60)
            || keep > std::time::Duration::from_secs(90 * 86_400)
        {
            out.push("audit.app_idempotency_retention must be between 1m and 90d".into());
        }
        if self.app_events_per_minute == 0 {
            out.push("audit.app_events_per_minute must be at least 1".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_sampling_is_configured_within_bounds() {
        let c: AuditConfig =
            toml::from_str("refusal_sample_period = \"30s\"\nrefusal_max_per_second = 5").unwrap();
        assert_eq!(c.refusal_sample_period.0.as_secs(), 30);
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        assert!(AuditConfig::default().problems().is_empty());
        let bad: AuditConfig =
            toml::from_str("refusal_sample_period = \"10ms\"\nrefusal_max_per_second = 0").unwrap();
        let p = bad.problems().join("\n");
        assert!(p.contains("audit.refusal_sample_period"), "{p}");
        assert!(p.contains("audit.refusal_max_per_second"), "{p}");
    }
}
