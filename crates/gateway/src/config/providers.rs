//! `[[auth.providers]]`: the identity providers people sign in with (federated sign-in, issue 18
//! item 5), and `auth.password_login`. Checked by `config check` through
//! [`crate::config::auth::AuthConfig::problems`]; `client_secret` may be a reference
//! (`secret://`, `file:`; [`crate::config::refs`]).
//!
//! Guarantees of a configuration that passes: provider ids are unique path segments; the issuer
//! is an absolute `https` URL (or `http` to an address `allowed_hosts` lists, a lab IdP);
//! `redirect_uri` is an absolute URL ending in `/auth/federated/{id}/callback` (the provider's
//! own callback, so a code meant for one provider is never taken at another's); the scopes
//! include `openid`; every claim rule names a claim, a value and something to grant.

use crate::config::units::HumanDuration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenID Connect, by discovery (`{issuer}/.well-known/openid-configuration`).
    #[default]
    Oidc,
}

/// Who a provider's sign-in may create an account for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Provision {
    /// An unknown identity gets a new account (when `auth.registration = "open"`).
    Auto,
    /// Only identities linked to an account already sign in.
    #[default]
    ExistingOnly,
}

/// One claim rule: when the provider's claim `claim` holds `value` (a list containing it, a
/// string equal to it, or a boolean whose spelling it is), the account gets `roles` and, with
/// `tenant`, membership of that tenant with `tenant_role`. Applied when the sign-in provisions
/// the account.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimRule {
    /// The claim read (`groups`, `hd`, `email_verified`; dotted paths reach nested objects).
    pub claim: String,
    /// The value that matches.
    pub value: String,
    /// Global roles given.
    pub roles: Vec<String>,
    /// A tenant the account joins ("" for none).
    pub tenant: String,
    /// Its role in `tenant` (default `member`).
    pub tenant_role: String,
}

/// `[[auth.providers]]`: one identity provider.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConfig {
    /// The provider's id in paths (`/auth/federated/{id}/…`): letters, digits, `-`, `_`.
    pub id: String,
    /// `oidc`.
    pub kind: ProviderKind,
    /// What the sign-in button says after "Sign in with" (default: the id).
    pub label: String,
    /// The issuer, exactly as its discovery document and ID tokens name it.
    pub issuer: String,
    /// Palisade's client id at the provider.
    pub client_id: String,
    /// Palisade's client secret there (a reference `secret://…` or `file:…` is resolved at
    /// start).
    pub client_secret: String,
    /// Scopes asked for; `openid` required.
    pub scopes: Vec<String>,
    /// This provider's callback as registered at the provider: an absolute URL ending in
    /// `/auth/federated/{id}/callback`.
    pub redirect_uri: String,
    /// Other hosts the provider's endpoints live on (names, addresses, CIDR networks); a
    /// loopback or private address is reached only when listed.
    pub allowed_hosts: Vec<String>,
    /// `auto` or `existing_only`.
    pub provision: Provision,
    /// An unknown identity whose `email_verified = true` address has an account signs in to
    /// that account (and is linked to it). Only for providers that own their users' addresses.
    pub trust_email_for_linking: bool,
    /// Count the ID token's `acr` (`aal2`) / `amr` (`mfa`) as a second factor: an account with
    /// enrolled factors is then not asked for its own.
    pub mfa_claims_trusted: bool,
    /// Claim rules (`[[auth.providers.claim_rules]]`).
    pub claim_rules: Vec<ClaimRule>,
    /// Scopes an OAuth connection to this provider asks for (`POST /auth/connections/{id}`);
    /// empty: no connections to it. `offline_access` for a refresh token.
    pub connection_scopes: Vec<String>,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            id: String::new(),
            kind: ProviderKind::Oidc,
            label: String::new(),
            issuer: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
            scopes: vec!["openid".into(), "email".into()],
            redirect_uri: String::new(),
            allowed_hosts: Vec::new(),
            provision: Provision::ExistingOnly,
            trust_email_for_linking: false,
            mfa_claims_trusted: false,
            claim_rules: Vec::new(),
            connection_scopes: Vec::new(),
        }
    }
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("id", &self.id)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// `[auth.federation]`: what every provider's sign-in shares.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FederationConfig {
    /// How long a started sign-in may take to come back to its callback (single use).
    pub flow_ttl: HumanDuration,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            flow_ttl: HumanDuration(Duration::from_secs(600)),
        }
    }
}

impl ProviderConfig {
    /// The label of its sign-in button.
    pub fn display_label(&self) -> &str {
        if self.label.is_empty() {
            &self.id
        } else {
            &self.label
        }
    }

    fn problems(&self, at: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            out.push(format!(
                "{at}.id must be 1 to 64 letters, digits, '-' or '_'"
            ));
        }
        if self.client_id.is_empty() {
            out.push(format!("{at}.client_id is required"));
        }
        if self.client_secret.is_empty() {
            out.push(format!(
                "{at}.client_secret is required (a secret:// or file: reference)"
            ));
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            out.push(format!("{at}.scopes must include \"openid\""));
        }
        if let Some(bad) = self
            .scopes
            .iter()
            .chain(&self.connection_scopes)
            .find(|s| s.is_empty() || !s.bytes().all(|b| b.is_ascii_graphic() && b != b'"'))
        {
            out.push(format!("{at}.scopes: {bad:?} is not a scope token"));
        }
        match crate::identity::federation::reach::Reach::new(&self.issuer, &self.allowed_hosts) {
            Err(e) => out.push(format!("{at}: issuer or allowed_hosts: {e}")),
            Ok(reach) => {
                if let Err(e) = reach.check_url(&self.issuer) {
                    out.push(format!("{at}.issuer {:?}: {e}", self.issuer));
                }
            }
        }
        let callback = format!("/auth/federated/{}/callback", self.id);
        match url::Url::parse(&self.redirect_uri) {
            Ok(u)
                if matches!(u.scheme(), "https" | "http")
                    && u.path().ends_with(&callback)
                    && u.query().is_none()
                    && u.fragment().is_none() => {}
            _ => out.push(format!(
                "{at}.redirect_uri must be an absolute URL ending in {callback}"
            )),
        }
        for (j, r) in self.claim_rules.iter().enumerate() {
            let rat = format!("{at}.claim_rules[{j}]");
            if r.claim.is_empty() || r.value.is_empty() {
                out.push(format!("{rat}: claim and value are required"));
            }
            if r.roles.is_empty() && r.tenant.is_empty() {
                out.push(format!("{rat}: grants nothing (set roles or tenant)"));
            }
            if !r.tenant_role.is_empty() && r.tenant.is_empty() {
                out.push(format!("{rat}.tenant_role needs a tenant"));
            }
        }
        out
    }
}

/// Problems with `[[auth.providers]]`, each naming its key.
pub fn problems(providers: &[ProviderConfig]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, p) in providers.iter().enumerate() {
        let at = format!("auth.providers[{i}]");
        out.extend(p.problems(&at));
        if providers[..i].iter().any(|q| q.id == p.id) {
            out.push(format!("{at}.id {:?} is used twice", p.id));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> ProviderConfig {
        ProviderConfig {
            id: "corp".into(),
            issuer: "https://idp.example.com".into(),
            client_id: "palisade".into(),
            client_secret: "file:/run/secrets/corp".into(),
            redirect_uri: "https://id.example.com/auth/federated/corp/callback".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_complete_provider_passes_and_each_gap_is_named() {
        assert!(problems(&[good()]).is_empty(), "{:?}", problems(&[good()]));
        let mut p = good();
        p.redirect_uri = "https://id.example.com/auth/federated/other/callback".into();
        p.scopes = vec!["email".into()];
        p.issuer = "http://idp.example.com".into();
        p.client_secret.clear();
        p.claim_rules = vec![ClaimRule {
            claim: "groups".into(),
            value: "staff".into(),
            ..Default::default()
        }];
        let text = problems(&[p]).join("\n");
        for needle in [
            "redirect_uri",
            "scopes",
            "issuer",
            "client_secret",
            "grants nothing",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        assert!(problems(&[good(), good()]).join("").contains("used twice"));
        let mut loopback = good();
        loopback.issuer = "http://127.0.0.1:8080".into();
        assert!(
            !problems(&[loopback.clone()]).is_empty(),
            "unlisted loopback"
        );
        loopback.allowed_hosts = vec!["127.0.0.1".into()];
        assert!(problems(&[loopback]).is_empty());
    }
}
