//! `[smtp]`, the one mail relay Palisade sends through, and `[auth.email]`, the e-mail flows
//! (address verification, password reset, change of address) that use it.
//!
//! `[smtp]` is off while `host` is empty: the flows that need mail then answer 503
//! `mail-unavailable` and notices stay audit-only. `tls = "none"` is allowed only for a loopback
//! host (a local sink or relay), so credentials and reset links never cross a network in the
//! clear. `password` may be a config reference (`secret://…`, `file:…`, see
//! [`crate::config::refs`]).

use crate::config::units::HumanDuration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required, never optional); port 587.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS); port 465.
    Tls,
    /// No TLS: only for a loopback host.
    None,
}

/// `[smtp]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// The relay's host name or address; empty: no mail is sent.
    pub host: String,
    /// The relay's port.
    pub port: u16,
    /// `starttls`, `tls` or `none` (loopback hosts only).
    pub tls: SmtpTls,
    /// The sender address (`From:`), e.g. `"Palisade <no-reply@example.com>"`.
    pub from: String,
    /// The user name to authenticate with; empty: no authentication.
    pub username: String,
    /// The password (a config reference is best); used only with `username`.
    pub password: String,
    /// How long one delivery may take (connect, TLS, the whole conversation).
    pub timeout: HumanDuration,
    /// Messages waiting to be sent at most; further ones are dropped (logged and audited).
    pub queue: usize,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            tls: SmtpTls::Starttls,
            from: String::new(),
            username: String::new(),
            password: String::new(),
            timeout: HumanDuration(Duration::from_secs(10)),
            queue: 1000,
        }
    }
}

/// Is `host` a loopback name or address?
pub fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl SmtpConfig {
    /// Whether mail is sent.
    pub fn enabled(&self) -> bool {
        !self.host.is_empty()
    }

    /// What is wrong with this section, one line each.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.enabled() {
            return out;
        }
        if self.tls == SmtpTls::None && !is_loopback(&self.host) {
            out.push(format!(
                "smtp.tls = \"none\" is allowed only for a loopback host (smtp.host is {:?})",
                self.host
            ));
        }
        if self.port == 0 {
            out.push("smtp.port must not be 0".into());
        }
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            out.push(format!(
                "smtp.from {:?} is not a mailbox (e.g. \"Palisade <no-reply@example.com>\")",
                self.from
            ));
        }
        if self.username.is_empty() != self.password.is_empty() {
            out.push("smtp.username and smtp.password go together (both or neither)".into());
        }
        let t = self.timeout.0;
        if t < Duration::from_secs(1) || t > Duration::from_secs(120) {
            out.push("smtp.timeout must be between 1s and 2m".into());
        }
        if self.queue == 0 || self.queue > 100_000 {
            out.push("smtp.queue must be between 1 and 100000".into());
        }
        out
    }
}

/// `[auth.email]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailFlowConfig {
    /// How long a verification or reset token lives.
    pub token_ttl: HumanDuration,
    /// Mails (reset or verification) sent to one address within `window`, then none until it
    /// passes (the answer stays the same).
    pub max_per_address: u64,
    /// Requests (reset, verification) from one client address within `window`, then 429.
    pub max_per_ip: u64,
    /// The window both limits count in.
    pub window: HumanDuration,
    /// How recent the sign-in must be to change the address (`POST /auth/me/email`).
    pub recent_auth: HumanDuration,
    /// The reset page mails link to (`?token=…` added), e.g.
    /// `"https://id.example.com/auth/pages/reset"`; empty: the mail carries the token only.
    pub reset_url: String,
    /// The page verification mails link to (`?token=…` added); empty: the token only.
    pub verify_url: String,
}

impl Default for EmailFlowConfig {
    fn default() -> Self {
        Self {
            token_ttl: HumanDuration(Duration::from_secs(20 * 60)),
            max_per_address: 3,
            max_per_ip: 20,
            window: HumanDuration(Duration::from_secs(3600)),
            recent_auth: HumanDuration(Duration::from_secs(15 * 60)),
            reset_url: String::new(),
            verify_url: String::new(),
        }
    }
}

impl EmailFlowConfig {
    /// What is wrong with this section, one line each.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let ttl = self.token_ttl.0;
        if ttl < Duration::from_secs(5 * 60) || ttl > Duration::from_secs(3600) {
            out.push("auth.email.token_ttl must be between 5m and 1h".into());
        }
        if self.max_per_address == 0 {
            out.push("auth.email.max_per_address must be at least 1".into());
        }
        if self.max_per_ip == 0 {
            out.push("auth.email.max_per_ip must be at least 1".into());
        }
        if self.window.0 < Duration::from_secs(60) || self.window.0 > Duration::from_secs(86400) {
            out.push("auth.email.window must be between 1m and 24h".into());
        }
        if self.recent_auth.0 < Duration::from_secs(60)
            || self.recent_auth.0 > Duration::from_secs(86400)
        {
            out.push("auth.email.recent_auth must be between 1m and 24h".into());
        }
        for (key, url) in [
            ("reset_url", &self.reset_url),
            ("verify_url", &self.verify_url),
        ] {
            if url.is_empty() {
                continue;
            }
            let ok = url.parse::<http::Uri>().is_ok_and(|u| {
                u.query().is_none()
                    && match (u.scheme_str(), u.host()) {
                        (Some("https"), Some(_)) => true,
                        (Some("http"), Some(h)) => is_loopback(h),
                        _ => false,
                    }
            });
            if !ok {
                out.push(format!(
                    "auth.email.{key} must be an absolute https URL without a query (http only \
                     on a loopback host)"
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_smtp_only_on_loopback() {
        let mut c = SmtpConfig {
            host: "mail.example.com".into(),
            from: "Palisade <no-reply@example.com>".into(),
            tls: SmtpTls::None,
            ..Default::default()
        };
        assert!(c.problems().iter().any(|p| p.contains("loopback")));
        for host in ["127.0.0.1", "localhost", "::1", "[::1]"] {
            c.host = host.into();
            assert!(c.problems().is_empty(), "{host}: {:?}", c.problems());
        }
        c.host = "mail.example.com".into();
        c.tls = SmtpTls::Starttls;
        assert!(c.problems().is_empty());
        c.from = "not a mailbox".into();
        assert!(c.problems().iter().any(|p| p.contains("smtp.from")));
    }

    #[test]
    fn off_without_a_host_and_flow_bounds() {
        assert!(SmtpConfig::default().problems().is_empty());
        assert!(!SmtpConfig::default().enabled());
        assert!(EmailFlowConfig::default().problems().is_empty());
        let c = EmailFlowConfig {
            token_ttl: HumanDuration(Duration::from_secs(60)),
            reset_url: "http://id.example.com/reset".into(),
            ..Default::default()
        };
        let p = c.problems().join("\n");
        assert!(p.contains("auth.email.token_ttl"), "{p}");
        assert!(p.contains("auth.email.reset_url"), "{p}");
    }
}
