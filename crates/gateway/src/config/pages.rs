//! `[auth.pages]` (the hosted pages: where `return_to` may send a browser) and
//! `[auth.passkeys]` (the WebAuthn relying party). Both checked by `config check` through
//! [`crate::config::auth::AuthConfig::problems`].

use crate::config::units::HumanDuration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[auth.pages]`: the hosted sign-in pages under `/auth/pages/`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PagesConfig {
    /// Exact origins (`https://app.example.com`) a page may send the browser back to after
    /// sign-in through `return_to`. Paths on Palisade's own origin (`/…`) are always allowed;
    /// any other target is refused (no open redirect).
    pub return_to_origins: Vec<String>,
}

/// `[auth.passkeys]`: the WebAuthn relying party. Empty `rp_id` turns passkeys off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasskeysConfig {
    /// The relying party id: the registrable domain the passkeys belong to (`example.com`).
    pub rp_id: String,
    /// The name authenticators show.
    pub rp_name: String,
    /// The exact origin the pages are served from (`https://auth.example.com`); its host is
    /// `rp_id` or below it.
    pub origin: String,
    /// How long a started registration or sign-in ceremony may be finished (single use).
    pub ceremony_ttl: HumanDuration,
}

impl Default for PasskeysConfig {
    fn default() -> Self {
        Self {
            rp_id: String::new(),
            rp_name: "Palisade".into(),
            origin: String::new(),
            ceremony_ttl: HumanDuration(Duration::from_secs(300)),
        }
    }
}

/// `scheme://host[:port]` of an exact origin (no path, query or trailing slash), else `None`.
pub fn exact_origin(origin: &str) -> Option<http::Uri> {
    let uri = origin.parse::<http::Uri>().ok()?;
    let ok = matches!(uri.scheme_str(), Some("http" | "https"))
        && uri.host().is_some_and(|h| !h.is_empty())
        && uri.path() == "/"
        && uri.query().is_none()
        && !origin.ends_with('/')
        && !origin.contains('*')
        && !origin.contains('@');
    ok.then_some(uri)
}

impl PagesConfig {
    /// What `config check` says about `[auth.pages]`.
    pub fn problems(&self) -> Vec<String> {
        self.return_to_origins
            .iter()
            .filter(|o| exact_origin(o).is_none())
            .map(|o| {
                format!(
                    "auth.pages.return_to_origins: {o:?} is not an exact origin like \"https://app.example.com\""
                )
            })
            .collect()
    }
}

impl PasskeysConfig {
    /// Passkeys are on.
    pub fn enabled(&self) -> bool {
        !self.rp_id.is_empty()
    }

    /// What `config check` says about `[auth.passkeys]`.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.enabled() {
            return out;
        }
        match exact_origin(&self.origin) {
            None => out.push(format!(
                "auth.passkeys.origin: {:?} is not an exact origin like \"https://auth.example.com\"",
                self.origin
            )),
            Some(uri) => {
                let host = uri.host().unwrap_or_default();
                let below = host == self.rp_id || host.ends_with(&format!(".{}", self.rp_id));
                if !below {
                    out.push(format!(
                        "auth.passkeys.origin: the host {host:?} is not auth.passkeys.rp_id {:?} or below it",
                        self.rp_id
                    ));
                }
                if uri.scheme_str() != Some("https") && host != "localhost" {
                    out.push("auth.passkeys.origin: https is required (http only for localhost)".into());
                }
            }
        }
        if self.rp_id.parse::<std::net::IpAddr>().is_ok() {
            out.push(
                "auth.passkeys.rp_id: WebAuthn refuses IP addresses; use a domain name".into(),
            );
        }
        if self.rp_name.is_empty() {
            out.push("auth.passkeys.rp_name must not be empty".into());
        }
        let ttl = self.ceremony_ttl.0;
        if ttl < Duration::from_secs(30) || ttl > Duration::from_secs(900) {
            out.push("auth.passkeys.ceremony_ttl: between 30s and 15m".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_origins_must_be_exact() {
        let pages = PagesConfig {
            return_to_origins: vec![
                "https://app.example.com".into(),
                "https://app.example.com/".into(),
                "https://*.example.com".into(),
                "app.example.com".into(),
                "https://app.example.com/next".into(),
            ],
        };
        assert_eq!(pages.problems().len(), 4, "{:?}", pages.problems());
    }

    #[test]
    fn passkeys_need_a_matching_secure_origin() {
        let off = PasskeysConfig::default();
        assert!(off.problems().is_empty());
        let good = PasskeysConfig {
            rp_id: "example.com".into(),
            origin: "https://auth.example.com".into(),
            ..Default::default()
        };
        assert!(good.problems().is_empty(), "{:?}", good.problems());
        let local = PasskeysConfig {
            rp_id: "localhost".into(),
            origin: "http://localhost:8080".into(),
            ..Default::default()
        };
        assert!(local.problems().is_empty(), "{:?}", local.problems());
        let elsewhere = PasskeysConfig {
            origin: "https://evil.test".into(),
            ..good.clone()
        };
        assert_eq!(elsewhere.problems().len(), 1);
        let plain = PasskeysConfig {
            origin: "http://auth.example.com".into(),
            ..good.clone()
        };
        assert_eq!(plain.problems().len(), 1);
        let ip = PasskeysConfig {
            rp_id: "127.0.0.1".into(),
            origin: "https://127.0.0.1".into(),
            ..good
        };
        assert!(ip.problems().iter().any(|p| p.contains("IP")));
    }
}
