//! `[audit.alerts]`: declarative alert rules over the audit event stream and where their
//! incidents go (a signed webhook, IP blocks, session and key revocation).
//!
//! A rule matches events by type, minimum risk and detail fields; it fires when the matching
//! events sharing a key (`group_by`) reach `min_count` within `window`, or on every match when
//! `min_count` is 1. Declaring any `[[audit.alerts.rules]]` replaces the shipped defaults.
//!
//! A rule counts Palisade's own events only, unless it names `sources = ["app"]` (or
//! `["palisade", "app"]`): then events applications posted (`POST /admin/audit/events`) count
//! too, and the rule may only notify. `webhook` is the one notify-only action; `block_ip`,
//! `revoke_sessions` and `disable_api_key` act on Palisade's state and `raise_severity`
//! escalates the incident, so `config check` refuses each of them on a rule with the app
//! source: what an application says about itself never blocks, revokes or escalates.

use crate::config::units::HumanDuration;
use palisade_core::audit::{Risk, Source};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// `[audit.alerts]`: the rules over the event stream and where incidents are delivered.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Turns the alert engine on or off (events are recorded either way).
    pub enabled: bool,
    /// Where incidents are POSTed (`webhook` action); `None` leaves the action out.
    pub webhook_url: Option<String>,
    /// HMAC-SHA256 key of the `X-Palisade-Signature` header.
    pub webhook_secret: Option<String>,
    /// Deliveries after the first that fail (network error or non-2xx).
    pub webhook_retries: u32,
    /// First wait between deliveries; doubled each time.
    pub webhook_backoff: HumanDuration,
    /// How long one webhook delivery may take.
    pub webhook_timeout: HumanDuration,
    /// How long the `block_ip` action blocks.
    pub block_for: HumanDuration,
    /// The rules; a configured list replaces the defaults.
    pub rules: Vec<AlertRule>,
}

/// Which part of an event the count is kept by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// By the event's client IP (brute force, scanning).
    ClientIp,
    /// By the event's actor (a user or key misbehaving).
    Actor,
    /// By the event's resource (one account or key under attack).
    Resource,
}

/// What a rule does when its count is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// POST the incident to `webhook_url`, signed, with retries.
    Webhook,
    /// Block the event's client IP for `block_for` (the firewall gate answers 403).
    BlockIp,
    /// Revoke every session of the event's actor (a user id).
    RevokeSessions,
    /// Revoke the API key the event names (`details.key_id` or an `api_key:` resource).
    DisableApiKey,
    /// Raise the open incident's severity each time its count doubles.
    RaiseSeverity,
}

/// One alert rule: which events count, by what they are grouped, how many open an incident
/// within the window, and what it then does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// Its name, in incidents and webhooks.
    pub name: String,
    /// Event types that count; empty means any type.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Only events of this risk or higher count.
    #[serde(default, with = "risk_opt")]
    pub min_risk: Option<Risk>,
    /// Detail fields the event must carry with exactly these values.
    #[serde(default)]
    pub details: BTreeMap<String, serde_json::Value>,
    /// What the count is kept by.
    pub group_by: GroupBy,
    /// How far back events count (default 5 minutes).
    #[serde(default = "default_window")]
    pub window: HumanDuration,
    /// Events in the window that open an incident (default 1).
    #[serde(default = "one")]
    pub min_count: u64,
    /// The incident's severity (`low` … `critical`).
    #[serde(with = "risk_lower")]
    pub severity: Risk,
    /// What to do when it opens.
    pub actions: Vec<Action>,
    /// How long this rule's `block_ip` action blocks (default: `audit.alerts.block_for`).
    #[serde(default)]
    pub block_for: Option<HumanDuration>,
    /// Whose events count: `palisade` (the default) and/or `app`.
    #[serde(default = "palisade_only")]
    pub sources: Vec<Source>,
}

fn palisade_only() -> Vec<Source> {
    vec![Source::Palisade]
}

impl Action {
    /// Only tells someone (a rule with the app source may use nothing else).
    pub fn notifies_only(self) -> bool {
        matches!(self, Action::Webhook)
    }

    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Webhook => "webhook",
            Action::BlockIp => "block_ip",
            Action::RevokeSessions => "revoke_sessions",
            Action::DisableApiKey => "disable_api_key",
            Action::RaiseSeverity => "raise_severity",
        }
    }
}

fn default_window() -> HumanDuration {
    HumanDuration(Duration::from_secs(600))
}

fn one() -> u64 {
    1
}

mod risk_lower {
    use palisade_core::audit::Risk;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(r: &Risk, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&r.as_str().to_ascii_lowercase())
    }

    pub(super) fn parse<E: serde::de::Error>(s: &str) -> Result<Risk, E> {
        Risk::parse(s)
            .ok_or_else(|| E::custom(format!("{s:?} is not one of critical, high, medium, low")))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Risk, D::Error> {
        parse(&String::deserialize(d)?)
    }
}

mod risk_opt {
    use palisade_core::audit::Risk;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(r: &Option<Risk>, s: S) -> Result<S::Ok, S::Error> {
        match r {
            Some(r) => super::risk_lower::serialize(r, s),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Risk>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| super::risk_lower::parse(&s))
            .transpose()
    }
}

fn rule(
    name: &str,
    event_type: &str,
    group_by: GroupBy,
    window_secs: u64,
    min_count: u64,
    severity: Risk,
    actions: &[Action],
) -> AlertRule {
    AlertRule {
        name: name.into(),
        event_types: vec![event_type.into()],
        min_risk: None,
        details: BTreeMap::new(),
        group_by,
        window: HumanDuration(Duration::from_secs(window_secs)),
        min_count,
        severity,
        actions: actions.to_vec(),
        block_for: None,
        sources: palisade_only(),
    }
}

/// The shipped rules.
pub fn default_rules() -> Vec<AlertRule> {
    use Action::*;
    let mut admin = rule(
        "admin_login_failures",
        "auth.login_failure",
        GroupBy::Actor,
        300,
        6,
        Risk::High,
        &[Webhook, RaiseSeverity],
    );
    admin
        .details
        .insert("admin".into(), serde_json::Value::Bool(true));
    vec![
        // More than 5 failed sign-ins to an administrator account in 5 minutes.
        admin,
        // More than 10 failed sign-ins from one IP in an hour.
        rule(
            "login_failures_per_ip",
            "auth.login_failure",
            GroupBy::ClientIp,
            3_600,
            11,
            Risk::High,
            &[Webhook, BlockIp, RaiseSeverity],
        ),
        // More than 50 reads of one stored credential in an hour.
        rule(
            "credential_access_burst",
            "credential.access",
            GroupBy::Resource,
            3_600,
            51,
            Risk::Medium,
            &[Webhook, RaiseSeverity],
        ),
        // Any privilege-escalation attempt (one incident per actor per 10 minutes).
        rule(
            "privilege_escalation",
            "authz.privilege_escalation_attempt",
            GroupBy::Actor,
            600,
            1,
            Risk::High,
            &[Webhook, RaiseSeverity],
        ),
    ]
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            webhook_url: None,
            webhook_secret: None,
            webhook_retries: 5,
            webhook_backoff: HumanDuration(Duration::from_secs(1)),
            webhook_timeout: HumanDuration(Duration::from_secs(5)),
            block_for: HumanDuration(Duration::from_secs(3_600)),
            rules: default_rules(),
        }
    }
}

impl AlertsConfig {
    /// Problems with the rules and the webhook, each naming its key; `production` also refuses a
    /// webhook without a secret or over plain HTTP. `app_events` are the declared app types a
    /// rule with the app source may name.
    pub fn problems(
        &self,
        production: bool,
        app_events: &[crate::config::app_events::AppEventType],
    ) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(url) = &self.webhook_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                out.push(format!(
                    "audit.alerts.webhook_url {url:?} must be an http:// or https:// URL"
                ));
            }
            match &self.webhook_secret {
                None => out.push(
                    "audit.alerts.webhook_secret is required with a webhook_url (receivers check the signature)".into(),
                ),
                Some(s) if production && s.len() < 32 => out.push(
                    "audit.alerts.webhook_secret must be at least 32 characters in production"
                        .into(),
                ),
                Some(_) => {}
            }
        }
        if self.webhook_retries > 20 {
            out.push("audit.alerts.webhook_retries is at most 20".into());
        }
        let mut names = std::collections::HashSet::new();
        for r in &self.rules {
            let at = format!("audit.alerts.rules {:?}", r.name);
            if r.name.is_empty()
                || !r
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                out.push(format!("{at}: a name is letters, digits, _ and -"));
            }
            if !names.insert(r.name.as_str()) {
                out.push(format!("{at}: declared twice"));
            }
            if r.min_count == 0 {
                out.push(format!("{at}: min_count must be at least 1"));
            }
            if r.window.0 < Duration::from_secs(1) {
                out.push(format!("{at}: window must be at least 1s"));
            }
            if r.block_for.is_some_and(|b| b.0 < Duration::from_secs(1)) {
                out.push(format!("{at}: block_for must be at least 1s"));
            }
            if r.actions.is_empty() {
                out.push(format!("{at}: give at least one action"));
            }
            let app = r.sources.contains(&Source::App);
            if r.sources.is_empty() {
                out.push(format!("{at}: sources names palisade, app or both"));
            }
            if app {
                for a in r.actions.iter().filter(|a| !a.notifies_only()) {
                    out.push(format!(
                        "{at}: action {} is refused on a rule with sources including \"app\" \
                         (application events may only notify: webhook)",
                        a.as_str()
                    ));
                }
            }
            for t in &r.event_types {
                let declared_app = app_events.iter().any(|a| &a.event_type == t);
                if declared_app && !app {
                    out.push(format!(
                        "{at}: {t:?} is an application event type; add sources = [\"app\"]"
                    ));
                } else if !declared_app && palisade_core::audit::taxonomy::find(t).is_none() {
                    out.push(format!("{at}: {t:?} is not an audit event type"));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_may_block_for_its_own_time() {
        let c: AlertsConfig = toml::from_str(
            r#"
            [[rules]]
            name = "ratelimit_fail2ban"
            event_types = ["ratelimit.exceeded"]
            group_by = "client_ip"
            window = "60s"
            min_count = 10
            severity = "medium"
            actions = ["block_ip"]
            block_for = "1h"
            "#,
        )
        .unwrap();
        assert!(
            c.problems(true, &[]).is_empty(),
            "{:?}",
            c.problems(true, &[])
        );
        assert_eq!(c.rules[0].block_for.unwrap().0, Duration::from_secs(3600));
        let mut short = c.clone();
        short.rules[0].block_for = Some(HumanDuration(Duration::from_millis(10)));
        assert!(short.problems(false, &[]).join("").contains("block_for"));
    }

    #[test]
    fn a_rule_over_app_events_may_only_notify() {
        let app: Vec<crate::config::app_events::AppEventType> =
            toml::from_str::<
                std::collections::BTreeMap<String, Vec<crate::config::app_events::AppEventType>>,
            >("[[t]]\ntype = \"app.tool.executed\"\nrisk = \"low\"")
            .unwrap()
            .remove("t")
            .unwrap();
        let rule = |name: &str, sources: &str, actions: &str| {
            format!(
                "[[rules]]\nname = \"{name}\"\nevent_types = [\"app.tool.executed\"]\n\
                 group_by = \"actor\"\nseverity = \"high\"\nsources = {sources}\nactions = {actions}\n"
            )
        };
        let ok: AlertsConfig =
            toml::from_str(&rule("tools", "[\"app\"]", "[\"webhook\"]")).unwrap();
        assert!(
            ok.problems(false, &app).is_empty(),
            "{:?}",
            ok.problems(false, &app)
        );
        for action in [
            "block_ip",
            "revoke_sessions",
            "disable_api_key",
            "raise_severity",
        ] {
            let c: AlertsConfig = toml::from_str(&rule(
                "tool_storm",
                "[\"palisade\", \"app\"]",
                &format!("[\"webhook\", \"{action}\"]"),
            ))
            .unwrap();
            let p = c.problems(false, &app).join("\n");
            assert!(
                p.contains("\"tool_storm\"") && p.contains(&format!("action {action} is refused")),
                "{action}: {p}"
            );
        }
        // An app type on a rule without the app source, or an undeclared one, is named.
        let c: AlertsConfig =
            toml::from_str(&rule("x", "[\"palisade\"]", "[\"webhook\"]")).unwrap();
        assert!(c.problems(false, &app).join("").contains("add sources"));
        assert!(
            c.problems(false, &[])
                .join("")
                .contains("not an audit event type")
        );
    }

    #[test]
    fn shipped_rules_are_valid() {
        assert!(AlertsConfig::default().problems(false, &[]).is_empty());
    }

    #[test]
    fn rules_parse_from_toml_and_problems_are_named() {
        let c: AlertsConfig = toml::from_str(
            r#"
            webhook_url = "ftp://x"
            [[rules]]
            name = "bad name"
            event_types = ["no.such"]
            group_by = "client_ip"
            min_count = 0
            severity = "critical"
            actions = []
            "#,
        )
        .unwrap();
        let p = c.problems(true, &[]).join("\n");
        for needle in [
            "ftp://",
            "webhook_secret is required",
            "a name is",
            "min_count",
            "at least one action",
            "no.such",
        ] {
            assert!(p.contains(needle), "{needle} missing from {p}");
        }
        assert_eq!(c.rules[0].severity, Risk::Critical);
        assert_eq!(
            c.rules[0].sources,
            [Source::Palisade],
            "palisade events only by default"
        );
        assert!(toml::from_str::<AlertsConfig>("[[rules]]\nname=\"x\"\ngroup_by=\"actor\"\nseverity=\"severe\"\nactions=[\"webhook\"]").is_err());
    }
}
