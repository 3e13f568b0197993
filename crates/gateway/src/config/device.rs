//! `[auth.device]`: the device authorization grant (RFC 8628), for devices without a browser or
//! a keyboard (a TV, a CLI on a server). Off until `clients` names at least one `client_id`; then
//! `verification_uri` is required (the approval page people open on another device), and the
//! lifetimes stay within bounds RFC 8628 §5.2 and §6.1 argue for (short-lived codes, polling no
//! faster than once a second).

use crate::config::units::HumanDuration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[auth.device]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceConfig {
    /// The `client_id`s that may ask (`POST /auth/device/authorize`). Empty: the grant is off.
    pub clients: Vec<String>,
    /// Absolute URL of the approval page (`verification_uri`): the hosted one is
    /// `/auth/pages/device` (under `api.mount`); `verification_uri_complete`
    /// adds `?user_code=…`. `https`, or `http` on a loopback host.
    pub verification_uri: String,
    /// How long the device code and the user code live.
    pub expires_in: HumanDuration,
    /// The minimum polling interval the device is told (`slow_down` adds 5 s each time).
    pub interval: HumanDuration,
    /// Wrong user codes entered per address, and per account, within 15 minutes before further
    /// entries get 429.
    pub max_entry_failures: u64,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            clients: Vec::new(),
            verification_uri: String::new(),
            expires_in: HumanDuration(Duration::from_secs(600)),
            interval: HumanDuration(Duration::from_secs(5)),
            max_entry_failures: 10,
        }
    }
}

impl DeviceConfig {
    /// Whether the grant is on.
    pub fn enabled(&self) -> bool {
        !self.clients.is_empty()
    }

    /// What is wrong with this section, one line each.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.clients {
            if c.is_empty() || c.len() > 128 || !c.bytes().all(|b| b.is_ascii_graphic()) {
                out.push(format!(
                    "auth.device.clients: {c:?} is not a client id (1 to 128 visible ASCII characters)"
                ));
            }
        }
        if !self.enabled() {
            return out;
        }
        match self.verification_uri.parse::<http::Uri>() {
            Ok(uri) if uri.host().is_some() && uri.query().is_none() => {
                let loopback = matches!(uri.host(), Some("localhost" | "127.0.0.1" | "[::1]"));
                match uri.scheme_str() {
                    Some("https") => {}
                    Some("http") if loopback => {}
                    _ => out.push(
                        "auth.device.verification_uri must be https (http only on a loopback host)"
                            .into(),
                    ),
                }
            }
            _ => out.push(
                "auth.device.verification_uri must be an absolute URL without a query (the \
                 approval page) when auth.device.clients is set"
                    .into(),
            ),
        }
        let ttl = self.expires_in.0;
        // An out-of-band sign-in request lives at most 10 minutes (ASVS 5.0 V6.5.5).
        if ttl < Duration::from_secs(60) || ttl > Duration::from_secs(600) {
            out.push("auth.device.expires_in must be between 1m and 10m".into());
        }
        let interval = self.interval.0;
        if interval < Duration::from_secs(1) || interval > Duration::from_secs(60) {
            out.push("auth.device.interval must be between 1s and 60s".into());
        }
        if self.max_entry_failures == 0 {
            out.push("auth.device.max_entry_failures must be at least 1".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on() -> DeviceConfig {
        DeviceConfig {
            clients: vec!["tv-app".into()],
            verification_uri: "https://id.example.com/auth/device".into(),
            ..Default::default()
        }
    }

    #[test]
    fn off_by_default_and_valid() {
        assert!(!DeviceConfig::default().enabled());
        assert!(DeviceConfig::default().problems().is_empty());
        assert!(on().problems().is_empty());
    }

    #[test]
    fn refuses_what_cannot_work() {
        let mut c = on();
        c.verification_uri = String::new();
        assert!(c.problems()[0].contains("verification_uri"));
        c.verification_uri = "http://id.example.com/auth/device".into();
        assert!(c.problems()[0].contains("https"));
        c.verification_uri = "http://127.0.0.1:8080/auth/device".into();
        assert!(c.problems().is_empty());
        c.verification_uri = "https://id.example.com/auth/device?x=1".into();
        assert_eq!(c.problems().len(), 1);
        let mut c = on();
        c.expires_in = HumanDuration(Duration::from_secs(601));
        assert_eq!(c.problems().len(), 1, "over 10 minutes");
        c.expires_in = HumanDuration(Duration::from_secs(3600));
        c.interval = HumanDuration(Duration::ZERO);
        c.max_entry_failures = 0;
        c.clients.push("has space".into());
        assert_eq!(c.problems().len(), 4, "{:?}", c.problems());
    }
}
