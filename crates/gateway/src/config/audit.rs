//! `[audit]`: retention by event class, the daily purge time, checkpoint frequency, durability,
//! how refusals are sampled, and the application events the trail accepts
//! (`[[audit.app_events]]`, their idempotency retention and per-principal quota).

use serde::{Deserialize, Serialize};

/// `[audit]`: retention, the purge, checkpoints, durability and refusal sampling.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Days kept, by class (see the taxonomy in `palisade_core::audit::taxonomy`).
    pub retention_days: RetentionDays,
    /// UTC time of the daily purge, `HH:MM`.
    pub purge_at: String,
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

/// `[audit.retention_days]`: days each class of event is kept before the daily purge. Besides
/// the four built-in classes it may declare new ones for `[[audit.app_events]]` (a declared
/// class no app event uses is reported by `config check`: likely a misspelt key).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionDays {
    /// Sign-ins, refusals, administration (default 365).
    pub security: u32,
    /// Secret reads and credentials (default 365).
    pub credential_access: u32,
    /// Tool and job actions (default 180).
    pub tool_execution: u32,
    /// `api.request` events (default 90).
    pub api_call: u32,
    /// Classes declared for application events (`name = days`).
    #[serde(flatten)]
    pub custom: std::collections::BTreeMap<String, u32>,
}

impl Default for RetentionDays {
    fn default() -> Self {
        Self {
            security: 365,
            credential_access: 365,
            tool_execution: 180,
            api_call: 90,
            custom: Default::default(),
        }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            retention_days: RetentionDays::default(),
            purge_at: "03:00".into(),
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

impl RetentionDays {
    /// Days kept for `class`.
    pub fn for_class(&self, class: palisade_core::audit::taxonomy::Class) -> u32 {
        use palisade_core::audit::taxonomy::Class;
        match class {
            Class::Security => self.security,
            Class::CredentialAccess => self.credential_access,
            Class::ToolExecution => self.tool_execution,
            Class::ApiCall => self.api_call,
        }
    }

    /// Every class name it knows: the built-in four, then the declared ones.
    pub fn classes(&self) -> Vec<&str> {
        let mut out = vec![
            "security",
            "credential_access",
            "tool_execution",
            "api_call",
        ];
        out.extend(self.custom.keys().map(String::as_str));
        out
    }

    /// Days kept for the class named `name` (a built-in or declared one).
    pub fn for_class_name(&self, name: &str) -> Option<u32> {
        match name {
            "security" => Some(self.security),
            "credential_access" => Some(self.credential_access),
            "tool_execution" => Some(self.tool_execution),
            "api_call" => Some(self.api_call),
            other => self.custom.get(other).copied(),
        }
    }

    /// Days an event of this type is kept; types outside the taxonomy count as security.
    pub fn for_type(&self, event_type: &str) -> u32 {
        let class = palisade_core::audit::taxonomy::find(event_type)
            .map_or(palisade_core::audit::taxonomy::Class::Security, |t| t.class);
        self.for_class(class)
    }
}

impl AuditConfig {
    /// Minutes after midnight UTC of the daily purge.
    pub fn purge_minute(&self) -> Option<u32> {
        let (h, m) = self.purge_at.split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    }

    /// The declared app event type `event_type`, if any.
    pub fn app_event(&self, event_type: &str) -> Option<&crate::config::app_events::AppEventType> {
        self.app_events.iter().find(|t| t.event_type == event_type)
    }

    /// Days a record of this type is kept: a declared app type by its class, else as
    /// [`RetentionDays::for_type`] says (an undeclared `app.` type counts as security).
    pub fn retention_for(&self, event_type: &str) -> u32 {
        self.app_event(event_type)
            .and_then(|t| self.retention_days.for_class_name(&t.retention))
            .unwrap_or_else(|| self.retention_days.for_type(event_type))
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
        if self.purge_minute().is_none() {
            out.push(format!(
                "audit.purge_at {:?} is not HH:MM (UTC)",
                self.purge_at
            ));
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
        let r = &self.retention_days;
        if [
            r.security,
            r.credential_access,
            r.tool_execution,
            r.api_call,
        ]
        .into_iter()
        .chain(r.custom.values().copied())
        .any(|d| d == 0)
        {
            out.push("audit.retention_days: every class keeps at least 1 day".into());
        }
        for class in r.custom.keys() {
            if class.is_empty()
                || !class
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                out.push(format!(
                    "audit.retention_days.{class}: a class name is a-z, 0-9 and _"
                ));
            }
            if !self.app_events.iter().any(|t| &t.retention == class) {
                out.push(format!(
                    "audit.retention_days.{class}: not a built-in class and no [[audit.app_events]] uses it (misspelt?)"
                ));
            }
        }
        out.extend(crate::config::app_events::problems(
            &self.app_events,
            &r.classes(),
        ));
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

    #[test]
    fn app_events_name_a_known_class_and_new_classes_are_used() {
        let c: AuditConfig = toml::from_str(
            r#"
            app_idempotency_retention = "1d"
            [retention_days]
            tool_runs = 30
            [[app_events]]
            type = "app.tool.executed"
            risk = "medium"
            retention = "tool_runs"
            [[app_events]]
            type = "app.report.exported"
            risk = "HIGH"
            "#,
        )
        .unwrap();
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        assert_eq!(c.retention_for("app.tool.executed"), 30);
        assert_eq!(c.retention_for("app.report.exported"), 180);
        assert_eq!(c.retention_for("auth.login_failure"), 365);
        let bad: AuditConfig = toml::from_str(
            r#"
            app_events_per_minute = 0
            [retention_days]
            tool_runz = 30
            [[app_events]]
            type = "tool.executed"
            risk = "severe"
            retention = "tool_runs"
            "#,
        )
        .unwrap();
        let p = bad.problems().join("\n");
        for needle in [
            "audit.retention_days.tool_runz",
            "\"tool.executed\": a type is app.",
            "risk \"severe\"",
            "retention \"tool_runs\" is not a class",
            "audit.app_events_per_minute",
        ] {
            assert!(p.contains(needle), "{needle} missing from {p}");
        }
    }
}
