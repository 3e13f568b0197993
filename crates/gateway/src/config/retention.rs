//! `[retention]`: how long each kind of record is kept after it ended, in one place, and when
//! the one retention job runs (see `crate::retention`). Also reads the keys it replaced —
//! `[audit.retention_days]` (days per audit class) and `audit.purge_at` — so an older file keeps
//! working: `config check` warns that they moved, and **refuses** a file that sets a value in
//! both places differently (how long security records are kept must not depend on which key a
//! reader looks at). Where only the old key is set, it is used.
//!
//! Periods count from when a record ended (a session expired or was revoked, a key revoked or
//! expired, a secret version superseded, an audit record written); a record goes at the first
//! run after `ended + period`, never before.

use crate::config::audit::{AuditConfig, RetentionDays};
use crate::config::units::HumanDuration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

const DAY: u64 = 86_400;

fn days(n: u64) -> HumanDuration {
    HumanDuration(Duration::from_secs(n * DAY))
}

/// `[retention]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// UTC time of the daily run, `HH:MM` (default `03:00`; replaces `audit.purge_at`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_at: Option<String>,
    /// The most rows one write transaction examines (100 to 10,000): each batch commits before
    /// the next.
    pub batch_size: u32,
    /// How long a delete transaction should take (1ms to 1s; default 1ms): each batch's row
    /// count follows the time the last one took, towards this, up to `batch_size`. Short,
    /// because each transaction is a burst of CPU that, on cores the traffic saturates, delays
    /// every request in flight by its length.
    pub transaction_target: HumanDuration,
    /// The share of wall time the job may spend in delete transactions (0.01 to 1): after a
    /// batch that took `T` it rests `T × (1 − share) / share`, so the proxied traffic on the
    /// same cores keeps its latency. `1` never rests.
    pub busy_share: f64,
    /// Sessions (with their refresh tokens), after they expired or were revoked.
    pub sessions: HumanDuration,
    /// Refresh tokens, after they expired (rotated ones are kept until then: reuse detection).
    pub refresh_tokens: HumanDuration,
    /// Revoked-token records and IP blocks, after they ended.
    pub expired_revocations: HumanDuration,
    /// API keys, after they were revoked or expired.
    pub api_keys: HumanDuration,
    /// Deleted accounts: the grace period in which a deletion can be undone
    /// (`POST /admin/users/{id}/restore`) before the job erases the account.
    pub accounts_deleted: HumanDuration,
    /// Where the deletion webhook is POSTed when an account is erased (the alert webhook's
    /// format, from a durable outbox); `None`: no webhook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_webhook_url: Option<String>,
    /// The HMAC-SHA256 key of `X-Palisade-Signature` (a secret reference, as the alert
    /// webhook's); required with a URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_webhook_secret: Option<String>,
    /// The erasure log (tombstones of erased accounts, re-applied by `palisade backup restore`):
    /// a file outside the data dir; default `<data_dir>.erasures.jsonl`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erasure_log: Option<std::path::PathBuf>,
    /// Secret versions, after a later version superseded them.
    pub secret_versions: HumanDuration,
    /// Disable people's accounts with no sign-in for this long (off when absent). Accounts
    /// with no sign-in recorded count from their creation; service accounts are never disabled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactive_accounts_disable_after: Option<HumanDuration>,
    /// `[retention.audit]`: how long audit records of each class are kept (`security`,
    /// `credential_access`, `tool_execution`, `api_call`, or a class of `[[audit.app_events]]`).
    /// Unset classes: `[audit.retention_days]` if set there, else 365d, 365d, 180d, 90d.
    pub audit: BTreeMap<String, HumanDuration>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            run_at: None,
            batch_size: 2_000,
            transaction_target: HumanDuration(Duration::from_millis(1)),
            busy_share: 0.1,
            sessions: days(30),
            refresh_tokens: days(7),
            expired_revocations: days(1),
            api_keys: days(90),
            accounts_deleted: days(30),
            deletion_webhook_url: None,
            deletion_webhook_secret: None,
            erasure_log: None,
            secret_versions: days(90),
            inactive_accounts_disable_after: None,
            audit: BTreeMap::new(),
        }
    }
}

/// The built-in audit classes with their default days.
fn builtin_classes() -> [(&'static str, u32); 4] {
    use palisade_core::audit::taxonomy::Class;
    [
        Class::Security,
        Class::CredentialAccess,
        Class::ToolExecution,
        Class::ApiCall,
    ]
    .map(|c| (c.as_str(), c.default_retention_days()))
}

impl RetentionConfig {
    /// Minutes after midnight UTC of the daily run: `run_at`, else the old `audit.purge_at`,
    /// else 03:00. `None` when the time is not `HH:MM`.
    pub fn run_minute(&self, audit: &AuditConfig) -> Option<u32> {
        let at = self
            .run_at
            .as_deref()
            .or(audit.purge_at.as_deref())
            .unwrap_or("03:00");
        let (h, m) = at.split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    }

    /// Every audit class's period, resolved: `[retention.audit]`, else `[audit.retention_days]`,
    /// else the class's default.
    pub fn audit_periods(&self, audit: &AuditConfig) -> AuditPeriods {
        let old = &audit.retention_days;
        let mut by_class: BTreeMap<String, Duration> = builtin_classes()
            .into_iter()
            .map(|(c, d)| (c.to_string(), Duration::from_secs(u64::from(d) * DAY)))
            .collect();
        for (class, d) in old.set() {
            by_class.insert(class, Duration::from_secs(u64::from(d) * DAY));
        }
        for (class, d) in &self.audit {
            by_class.insert(class.clone(), d.0);
        }
        let app_classes = audit
            .app_events
            .iter()
            .map(|t| (t.event_type.clone(), t.retention.clone()))
            .collect();
        AuditPeriods {
            by_class,
            app_classes,
        }
    }

    /// The old keys still set (`config check` prints these as warnings).
    pub fn moved_warnings(&self, audit: &AuditConfig) -> Vec<String> {
        let mut out = Vec::new();
        for (class, d) in audit.retention_days.set() {
            out.push(format!(
                "audit.retention_days.{class} moved to retention.audit.{class} (write \"{d}d\" there); the old key is still read"
            ));
        }
        if let Some(at) = &audit.purge_at {
            out.push(format!(
                "audit.purge_at moved to retention.run_at (write {at:?} there); the old key is still read"
            ));
        }
        out
    }

    /// What only production refuses: a deletion webhook secret shorter than 32 characters.
    pub fn production_problems(&self) -> Vec<String> {
        match &self.deletion_webhook_secret {
            Some(s) if self.deletion_webhook_url.is_some() && s.len() < 32 => vec![
                "retention.deletion_webhook_secret must be at least 32 characters in production"
                    .into(),
            ],
            _ => Vec::new(),
        }
    }

    /// Problems with the section, each naming its key (the audit classes known: the built-in
    /// ones and those `[[audit.app_events]]` use).
    pub fn problems(&self, audit: &AuditConfig) -> Vec<String> {
        let mut out = Vec::new();
        if self.run_minute(audit).is_none() {
            out.push("retention.run_at (or audit.purge_at) is not HH:MM (UTC)".into());
        }
        if let (Some(new), Some(old)) = (&self.run_at, &audit.purge_at)
            && new != old
        {
            out.push(format!(
                "retention.run_at {new:?} and the old audit.purge_at {old:?} disagree: keep only retention.run_at"
            ));
        }
        if !(100..=10_000).contains(&self.batch_size) {
            out.push("retention.batch_size must be between 100 and 10000".into());
        }
        if !(Duration::from_millis(1)..=Duration::from_secs(1)).contains(&self.transaction_target.0)
        {
            out.push("retention.transaction_target must be between 1ms and 1s".into());
        }
        if !(0.01..=1.0).contains(&self.busy_share) {
            out.push("retention.busy_share must be between 0.01 and 1".into());
        }
        for (key, d) in [
            ("sessions", self.sessions),
            ("refresh_tokens", self.refresh_tokens),
            ("api_keys", self.api_keys),
            ("accounts_deleted", self.accounts_deleted),
            ("secret_versions", self.secret_versions),
        ] {
            if d.0 < Duration::from_secs(3_600) {
                out.push(format!("retention.{key} must be at least 1h"));
            }
        }
        if let Some(d) = self.inactive_accounts_disable_after
            && d.0 < Duration::from_secs(DAY)
        {
            out.push("retention.inactive_accounts_disable_after must be at least 1d".into());
        }
        if let Some(url) = &self.deletion_webhook_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                out.push(format!(
                    "retention.deletion_webhook_url {url:?} must be an http:// or https:// URL"
                ));
            }
            if self.deletion_webhook_secret.is_none() {
                out.push(
                    "retention.deletion_webhook_secret is required with a deletion_webhook_url \
                     (receivers check the signature)"
                        .into(),
                );
            }
        }
        let used: Vec<&str> = audit
            .app_events
            .iter()
            .map(|t| t.retention.as_str())
            .collect();
        let known = |class: &str| {
            builtin_classes().iter().any(|(c, _)| *c == class) || used.contains(&class)
        };
        for (class, d) in &self.audit {
            if !known(class) {
                out.push(format!(
                    "retention.audit.{class}: not a built-in class and no [[audit.app_events]] uses it (misspelt?)"
                ));
            }
            if d.0 < Duration::from_secs(DAY) {
                out.push(format!("retention.audit.{class} must be at least 1d"));
            }
            if let Some(old) = audit.retention_days.get(class)
                && Duration::from_secs(u64::from(old) * DAY) != d.0
            {
                out.push(format!(
                    "retention.audit.{class} and the old audit.retention_days.{class} = {old} disagree: keep only retention.audit.{class}"
                ));
            }
        }
        for (class, d) in audit.retention_days.set() {
            if d == 0 {
                out.push(format!("audit.retention_days.{class}: keep at least 1 day"));
            }
            if !known(&class) {
                out.push(format!(
                    "audit.retention_days.{class}: not a built-in class and no [[audit.app_events]] uses it (misspelt?)"
                ));
            }
        }
        let periods = self.audit_periods(audit);
        out.extend(crate::config::app_events::problems(
            &audit.app_events,
            &periods.classes(),
        ));
        out
    }
}

/// How long audit records are kept, by class and by declared app event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPeriods {
    by_class: BTreeMap<String, Duration>,
    /// Declared app event types → their class.
    app_classes: BTreeMap<String, String>,
}

impl AuditPeriods {
    /// The class names with a period.
    pub fn classes(&self) -> Vec<&str> {
        self.by_class.keys().map(String::as_str).collect()
    }

    /// The period of class `class`, if it has one.
    pub fn for_class(&self, class: &str) -> Option<Duration> {
        self.by_class.get(class).copied()
    }

    /// The longest period of any class (what a record of unknown class may be kept for):
    /// anonymous callers' day keys live that long past their day.
    pub fn longest(&self) -> Duration {
        self.by_class
            .values()
            .copied()
            .chain(std::iter::once(
                self.for_class("security")
                    .unwrap_or(Duration::from_secs(365 * DAY)),
            ))
            .max()
            .unwrap_or(Duration::from_secs(365 * DAY))
    }

    /// How long a record of `event_type` is kept: a declared app type by its class; a type of
    /// the taxonomy by its class; anything else as security.
    pub fn for_type(&self, event_type: &str) -> Duration {
        let class = self
            .app_classes
            .get(event_type)
            .map(String::as_str)
            .or_else(|| palisade_core::audit::taxonomy::find(event_type).map(|t| t.class.as_str()))
            .unwrap_or("security");
        self.for_class(class)
            .or_else(|| self.for_class("security"))
            .unwrap_or(Duration::from_secs(365 * DAY))
    }
}

impl RetentionDays {
    /// The classes set in `[audit.retention_days]`, with their days.
    pub fn set(&self) -> Vec<(String, u32)> {
        [
            ("security", self.security),
            ("credential_access", self.credential_access),
            ("tool_execution", self.tool_execution),
            ("api_call", self.api_call),
        ]
        .into_iter()
        .filter_map(|(c, d)| Some((c.to_string(), d?)))
        .chain(self.custom.iter().map(|(c, d)| (c.clone(), *d)))
        .collect()
    }

    /// The days set for `class`, if any.
    pub fn get(&self, class: &str) -> Option<u32> {
        self.set()
            .into_iter()
            .find_map(|(c, d)| (c == class).then_some(d))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::time::Duration;

    const DAY: u64 = 86_400;

    fn problems(c: &Config) -> String {
        c.retention.problems(&c.audit).join("\n")
    }

    #[test]
    fn the_deletion_webhook_needs_a_secret_and_an_http_url() {
        let mut c = Config::default();
        c.retention.deletion_webhook_url = Some("ftp://example.com/x".into());
        let p = problems(&c);
        assert!(p.contains("retention.deletion_webhook_url"), "{p}");
        assert!(
            p.contains("retention.deletion_webhook_secret is required"),
            "{p}"
        );
        c.retention.deletion_webhook_url = Some("https://example.com/erase".into());
        c.retention.deletion_webhook_secret = Some("short".into());
        assert_eq!(problems(&c), "");
        assert_eq!(c.retention.production_problems().len(), 1);
    }

    #[test]
    fn defaults_resolve_and_pass() {
        let c = Config::default();
        assert_eq!(problems(&c), "");
        assert!(c.retention.moved_warnings(&c.audit).is_empty());
        let p = c.retention.audit_periods(&c.audit);
        assert_eq!(
            p.for_type("auth.login_failure"),
            Duration::from_secs(365 * DAY)
        );
        assert_eq!(p.for_type("api.request"), Duration::from_secs(90 * DAY));
        assert_eq!(c.retention.run_minute(&c.audit), Some(180));
    }

    #[test]
    fn the_old_keys_are_read_with_a_warning() {
        let c = Config::from_toml(
            "[audit]\npurge_at = \"04:30\"\n[audit.retention_days]\nsecurity = 30\n",
        )
        .unwrap();
        assert_eq!(problems(&c), "");
        let warnings = c.retention.moved_warnings(&c.audit).join("\n");
        assert!(
            warnings.contains("audit.retention_days.security moved"),
            "{warnings}"
        );
        assert!(warnings.contains("audit.purge_at moved"), "{warnings}");
        let p = c.retention.audit_periods(&c.audit);
        assert_eq!(p.for_class("security"), Some(Duration::from_secs(30 * DAY)));
        assert_eq!(p.for_class("api_call"), Some(Duration::from_secs(90 * DAY)));
        assert_eq!(c.retention.run_minute(&c.audit), Some(270));
    }

    #[test]
    fn the_new_section_wins_and_a_disagreement_is_refused() {
        let same = Config::from_toml(
            "[retention.audit]\nsecurity = \"30d\"\n[audit.retention_days]\nsecurity = 30\n",
        )
        .unwrap();
        assert_eq!(
            problems(&same),
            "",
            "the same value in both places is only moved"
        );
        let differ = Config::from_toml(
            "[retention]\nrun_at = \"01:00\"\n[retention.audit]\nsecurity = \"30d\"\n\
             [audit]\npurge_at = \"02:00\"\n[audit.retention_days]\nsecurity = 60\n",
        )
        .unwrap();
        let p = problems(&differ);
        assert!(p.contains("retention.audit.security and the old"), "{p}");
        assert!(p.contains("retention.run_at \"01:00\" and the old"), "{p}");
        assert_eq!(
            differ
                .retention
                .audit_periods(&differ.audit)
                .for_class("security"),
            Some(Duration::from_secs(30 * DAY))
        );
    }

    #[test]
    fn app_events_name_a_known_class() {
        let c = Config::from_toml(
            r#"
            [retention.audit]
            tool_runs = "30d"
            [[audit.app_events]]
            type = "app.tool.executed"
            risk = "medium"
            retention = "tool_runs"
            [[audit.app_events]]
            type = "app.report.exported"
            risk = "HIGH"
            "#,
        )
        .unwrap();
        assert_eq!(problems(&c), "");
        let p = c.retention.audit_periods(&c.audit);
        assert_eq!(
            p.for_type("app.tool.executed"),
            Duration::from_secs(30 * DAY)
        );
        assert_eq!(
            p.for_type("app.report.exported"),
            Duration::from_secs(180 * DAY)
        );
        assert_eq!(
            p.for_type("auth.login_failure"),
            Duration::from_secs(365 * DAY)
        );
        let bad = Config::from_toml(
            r#"
            [audit.retention_days]
            tool_runz = 30
            [[audit.app_events]]
            type = "tool.executed"
            risk = "severe"
            retention = "tool_runs"
            "#,
        )
        .unwrap();
        let p = problems(&bad);
        for needle in [
            "audit.retention_days.tool_runz",
            "\"tool.executed\": a type is app.",
            "risk \"severe\"",
            "retention \"tool_runs\" is not a class",
        ] {
            assert!(p.contains(needle), "{needle} missing from {p}");
        }
    }

    #[test]
    fn bad_values_are_named() {
        let c = Config::from_toml(
            "[retention]\nbatch_size = 50\nbusy_share = 0\nsessions = \"10m\"\n\
             transaction_target = \"5s\"\n\
             inactive_accounts_disable_after = \"1h\"\n[retention.audit]\nsecurty = \"30d\"\n",
        )
        .unwrap();
        let p = problems(&c);
        for needle in [
            "retention.batch_size",
            "retention.busy_share",
            "retention.transaction_target",
            "retention.sessions must be at least 1h",
            "retention.inactive_accounts_disable_after",
            "retention.audit.securty: not a built-in class",
        ] {
            assert!(p.contains(needle), "{needle} missing from {p}");
        }
        assert!(Config::from_toml("[retention]\nsessions = \"soon\"\n").is_err());
    }
}
