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
//!
//! Incident response in depth: `email` (to `email_to`, through `[smtp]`) notifies beside the
//! webhook; `disable_user` disables the actor of the matched events and `lockdown` locks the
//! whole gateway down (only with `auto_lockdown = true`). `severity_actions` adds actions by the
//! incident's severity (`critical = ["webhook", "email", "lockdown"]`). Actions that lock
//! someone out or shut the gateway ([`Action::locks_out`]) are refused by `config check` on any
//! rule whose events a caller without credentials can cause (the taxonomy's `anonymous`
//! attribute; a rule over any event type counts as such): an attacker must not be able to
//! lock a victim out by failing sign-ins under their e-mail, nor shut the gateway by sending
//! refused requests.

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
    /// Where the `email` action sends incidents (through `[smtp]`).
    pub email_to: Vec<String>,
    /// Actions added to every incident of a severity, by severity name (`critical`, `high`,
    /// `medium`, `low`), after the rule's own.
    pub severity_actions: BTreeMap<String, Vec<Action>>,
    /// Lets rules lock the gateway down (`lockdown`); without it `config check` refuses the
    /// action (fail closed: an automatic lockdown is an explicit decision).
    pub auto_lockdown: bool,
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
    /// Send the incident by e-mail to `email_to`, with retries.
    Email,
    /// Disable the account that is the actor of the matched event (sessions revoked, sign-in
    /// and its API keys refused).
    DisableUser,
    /// Lock the whole gateway down (needs `auto_lockdown = true`).
    Lockdown,
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
        matches!(self, Action::Webhook | Action::Email)
    }

    /// Locks someone out or shuts the gateway: refused on rules whose events an anonymous
    /// caller can cause.
    pub fn locks_out(self) -> bool {
        matches!(
            self,
            Action::DisableUser | Action::Lockdown | Action::DisableApiKey | Action::RevokeSessions
        )
    }

    /// The configuration spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Webhook => "webhook",
            Action::BlockIp => "block_ip",
            Action::RevokeSessions => "revoke_sessions",
            Action::DisableApiKey => "disable_api_key",
            Action::RaiseSeverity => "raise_severity",
            Action::Email => "email",
            Action::DisableUser => "disable_user",
            Action::Lockdown => "lockdown",
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
            email_to: Vec::new(),
            severity_actions: BTreeMap::new(),
            auto_lockdown: false,
        }
    }
}

impl AlertsConfig {
    /// What an incident of `rule` does: the rule's actions, then those its severity adds
    /// (each once, in that order).
    pub fn actions_of(&self, rule: &AlertRule) -> Vec<Action> {
        let by_severity = self
            .severity_actions
            .get(&rule.severity.as_str().to_ascii_lowercase())
            .into_iter()
            .flatten();
        let mut out: Vec<Action> = Vec::new();
        for a in rule.actions.iter().chain(by_severity) {
            if !out.contains(a) {
                out.push(*a);
            }
        }
        out
    }

    /// The problems of the incident-response actions: `lockdown` without `auto_lockdown`,
    /// `email` without `email_to`, and actions that lock out on events anyone can cause.
    fn response_problems(&self, out: &mut Vec<String>) {
        for severity in self.severity_actions.keys() {
            if Risk::parse(severity).is_none() {
                out.push(format!(
                    "audit.alerts.severity_actions.{severity}: not one of critical, high, medium, low"
                ));
            }
        }
        for to in &self.email_to {
            if to.parse::<lettre::message::Mailbox>().is_err() {
                out.push(format!(
                    "audit.alerts.email_to {to:?} is not an e-mail address"
                ));
            }
        }
        for r in &self.rules {
            let at = format!("audit.alerts.rules {:?}", r.name);
            let actions = self.actions_of(r);
            if actions.contains(&Action::Lockdown) && !self.auto_lockdown {
                out.push(format!(
                    "{at}: action lockdown (its own or by severity) needs \
                     audit.alerts.auto_lockdown = true"
                ));
            }
            if actions.contains(&Action::Email) && self.email_to.is_empty() {
                out.push(format!("{at}: action email needs audit.alerts.email_to"));
            }
            let anonymous: Vec<&str> = if r.event_types.is_empty() {
                vec!["any event type"]
            } else {
                r.event_types
                    .iter()
                    .filter(|t| {
                        palisade_core::audit::taxonomy::find(t).is_some_and(|e| e.anonymous)
                    })
                    .map(String::as_str)
                    .collect()
            };
            if anonymous.is_empty() {
                continue;
            }
            for a in actions.iter().filter(|a| a.locks_out()) {
                out.push(format!(
                    "{at}: action {} is refused on {} (a caller without credentials can cause \
                     it, so an attacker could lock a victim out or shut the gateway)",
                    a.as_str(),
                    anonymous.join(", ")
                ));
            }
        }
    }

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
        self.response_problems(&mut out);
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
                for a in self.actions_of(r).iter().filter(|a| !a.notifies_only()) {
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

    fn one_rule(events: &str, actions: &str, extra: &str) -> AlertsConfig {
        toml::from_str(&format!(
            "{extra}\n[[rules]]\nname = \"r\"\nevent_types = {events}\ngroup_by = \"actor\"\n\
             severity = \"critical\"\nactions = {actions}\n"
        ))
        .unwrap()
    }

    /// Lockout actions on events a caller without credentials can cause are refused, whether
    /// the rule names them or its severity adds them; on authenticated events they pass.
    #[test]
    fn lockout_actions_are_refused_on_events_anyone_can_cause() {
        let auto = "auto_lockdown = true";
        for (events, actions, extra, refused) in [
            (
                r#"["auth.login_failure"]"#,
                r#"["lockdown"]"#,
                auto,
                Some("lockdown"),
            ),
            (
                r#"["auth.login_failure"]"#,
                r#"["disable_user"]"#,
                "",
                Some("disable_user"),
            ),
            (
                r#"["ratelimit.exceeded"]"#,
                r#"["disable_api_key"]"#,
                "",
                Some("disable_api_key"),
            ),
            (
                r#"["firewall.refused"]"#,
                r#"["revoke_sessions"]"#,
                "",
                Some("revoke_sessions"),
            ),
            (
                r#"["inspect.injection_attempt"]"#,
                r#"["lockdown"]"#,
                auto,
                Some("lockdown"),
            ),
            ("[]", r#"["disable_user"]"#, "", Some("disable_user")),
            (
                r#"["auth.login_failure"]"#,
                r#"["webhook"]"#,
                "auto_lockdown = true\n[severity_actions]\ncritical = [\"lockdown\"]",
                Some("lockdown"),
            ),
            (
                r#"["auth.login_failure"]"#,
                r#"["block_ip", "webhook"]"#,
                "",
                None,
            ),
            (
                r#"["authz.privilege_escalation_attempt"]"#,
                r#"["disable_user"]"#,
                "",
                None,
            ),
            (r#"["credential.access"]"#, r#"["lockdown"]"#, auto, None),
        ] {
            let p = one_rule(events, actions, extra)
                .problems(false, &[])
                .join("\n");
            match refused {
                Some(a) => assert!(
                    p.contains(&format!("action {a} is refused on")),
                    "{events} {actions}: {p}"
                ),
                None => assert!(p.is_empty(), "{events} {actions}: {p}"),
            }
        }
    }

    #[test]
    fn lockdown_needs_auto_lockdown_and_email_needs_recipients() {
        let c = one_rule(r#"["credential.access"]"#, r#"["lockdown", "email"]"#, "");
        let p = c.problems(false, &[]).join("\n");
        assert!(p.contains("auto_lockdown = true"), "{p}");
        assert!(p.contains("needs audit.alerts.email_to"), "{p}");
        let c = one_rule(
            r#"["credential.access"]"#,
            r#"["email"]"#,
            "email_to = [\"oncall@example.com\"]\n[severity_actions]\nsevere = [\"webhook\"]",
        );
        assert!(
            c.problems(false, &[])
                .join("")
                .contains("severity_actions.severe")
        );
        let bad = one_rule(
            r#"["credential.access"]"#,
            r#"["email"]"#,
            "email_to = [\"nobody\"]",
        );
        assert!(
            bad.problems(false, &[])
                .join("")
                .contains("not an e-mail address")
        );
    }

    #[test]
    fn severity_actions_follow_the_rules_own() {
        let c = one_rule(
            r#"["credential.access"]"#,
            r#"["webhook", "disable_user"]"#,
            "[severity_actions]\ncritical = [\"email\", \"webhook\"]\nlow = [\"lockdown\"]",
        );
        assert_eq!(
            c.actions_of(&c.rules[0]),
            [Action::Webhook, Action::DisableUser, Action::Email]
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
