//! `[[auth.providers]]`: the identity providers people sign in with (federated sign-in, issue 18
//! item 5), and `auth.password_login`. Checked by `config check` through
//! [`crate::config::auth::AuthConfig::problems`]; `client_secret` may be a reference
//! (`secret://`, `file:`; [`crate::config::refs`]).
//!
//! Guarantees of a configuration that passes: provider ids are unique path segments; the issuer
//! is an absolute `https` URL (or `http` to an address `allowed_hosts` lists, a lab IdP);
//! `redirect_uri` is an absolute URL ending in `/auth/federated/{id}/callback` (the provider's
//! own callback, so a code meant for one provider is never taken at another's); the scopes of
//! an `oidc` provider include `openid`; every claim rule names a claim, a value and something
//! to grant. A `github` provider (OAuth 2, no ID token) has no `issuer` of its own (its issuer is
//! the web origin of its authorization endpoint, `https://github.com` by default), its three
//! endpoints within its reach (`allowed_hosts` defaults to `github.com` and `api.github.com`),
//! no `mfa_claims_trusted` (GitHub states no `acr`), claim rules only on `login` and
//! `email_verified`, and no connections (not built for it).

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
    /// GitHub's OAuth 2 (authorization code + PKCE + state, no ID token); the identity is read
    /// from its REST API (`GET /user`, `GET /user/emails`).
    Github,
}

/// GitHub's web authorization endpoint (the default of `authorization_endpoint`).
pub const GITHUB_AUTHORIZATION_ENDPOINT: &str = "https://github.com/login/oauth/authorize";
/// GitHub's token endpoint (the default of `token_endpoint`).
pub const GITHUB_TOKEN_ENDPOINT: &str = "https://github.com/login/oauth/access_token";
/// GitHub's REST API (the default of `api_base`).
pub const GITHUB_API_BASE: &str = "https://api.github.com";
/// The claims a `github` provider's claim rules may read.
pub const GITHUB_CLAIMS: [&str; 2] = ["login", "email_verified"];

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
    /// `oidc` or `github`.
    pub kind: ProviderKind,
    /// What the sign-in button says after "Sign in with" (default: the id).
    pub label: String,
    /// The issuer, exactly as its discovery document and ID tokens name it (`oidc`); for
    /// `github` unset, or the web origin of its authorization endpoint.
    pub issuer: String,
    /// `github` only: the authorization endpoint ("" = GitHub's).
    pub authorization_endpoint: String,
    /// `github` only: the token endpoint ("" = GitHub's).
    pub token_endpoint: String,
    /// `github` only: the REST API base URL ("" = `https://api.github.com`).
    pub api_base: String,
    /// Palisade's client id at the provider.
    pub client_id: String,
    /// Palisade's client secret there (a reference `secret://…` or `file:…` is resolved at
    /// start).
    pub client_secret: String,
    /// Scopes asked for; `openid` required for `oidc`. Empty: the kind's defaults
    /// (`["openid", "email"]`, `["read:user", "user:email"]` for `github`).
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
            authorization_endpoint: String::new(),
            token_endpoint: String::new(),
            api_base: String::new(),
            client_id: String::new(),
            client_secret: String::new(),
            scopes: Vec::new(),
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

    /// The scopes a sign-in asks for: `scopes`, or the kind's defaults when empty.
    pub fn sign_in_scopes(&self) -> Vec<String> {
        if !self.scopes.is_empty() {
            return self.scopes.clone();
        }
        let defaults: &[&str] = match self.kind {
            ProviderKind::Oidc => &["openid", "email"],
            ProviderKind::Github => &["read:user", "user:email"],
        };
        defaults.iter().map(|s| s.to_string()).collect()
    }

    /// A `github` provider's endpoints (authorization, token, API base), defaults filled in.
    pub fn github_endpoints(&self) -> (&str, &str, &str) {
        (
            if self.authorization_endpoint.is_empty() {
                GITHUB_AUTHORIZATION_ENDPOINT
            } else {
                &self.authorization_endpoint
            },
            if self.token_endpoint.is_empty() {
                GITHUB_TOKEN_ENDPOINT
            } else {
                &self.token_endpoint
            },
            if self.api_base.is_empty() {
                GITHUB_API_BASE
            } else {
                self.api_base.trim_end_matches('/')
            },
        )
    }

    /// The issuer of its identities (the account key's first half): `issuer` for `oidc`; for
    /// `github` the web origin of the authorization endpoint (`https://github.com`), or "" when
    /// that endpoint is not a URL.
    pub fn effective_issuer(&self) -> String {
        match self.kind {
            ProviderKind::Oidc => self.issuer.clone(),
            ProviderKind::Github => url::Url::parse(self.github_endpoints().0)
                .ok()
                .filter(|u| u.has_host())
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default(),
        }
    }

    /// The hosts beyond the issuer's it may reach: `allowed_hosts`, or for `github` when empty
    /// `github.com` and `api.github.com`.
    pub fn effective_allowed_hosts(&self) -> Vec<String> {
        match self.kind {
            ProviderKind::Github if self.allowed_hosts.is_empty() => {
                vec!["github.com".into(), "api.github.com".into()]
            }
            _ => self.allowed_hosts.clone(),
        }
    }

    fn kind_problems(&self, at: &str, out: &mut Vec<String>) {
        match self.kind {
            ProviderKind::Oidc => {
                if !self.sign_in_scopes().iter().any(|s| s == "openid") {
                    out.push(format!("{at}.scopes must include \"openid\""));
                }
                for (key, v) in [
                    ("authorization_endpoint", &self.authorization_endpoint),
                    ("token_endpoint", &self.token_endpoint),
                    ("api_base", &self.api_base),
                ] {
                    if !v.is_empty() {
                        out.push(format!(
                            "{at}.{key} is for kind = \"github\" (an oidc provider's endpoints come from discovery)"
                        ));
                    }
                }
            }
            ProviderKind::Github => {
                let issuer = self.effective_issuer();
                if issuer.is_empty() {
                    out.push(format!(
                        "{at}.authorization_endpoint must be an absolute URL"
                    ));
                }
                if !self.issuer.is_empty() && self.issuer.trim_end_matches('/') != issuer {
                    out.push(format!(
                        "{at}.issuer must be unset for kind = \"github\" (its issuer is {issuer:?}, the authorization endpoint's origin)"
                    ));
                }
                if self.mfa_claims_trusted {
                    out.push(format!(
                        "{at}.mfa_claims_trusted is refused for kind = \"github\": GitHub states no acr / amr"
                    ));
                }
                if !self.connection_scopes.is_empty() {
                    out.push(format!(
                        "{at}.connection_scopes: OAuth connections are not built for kind = \"github\""
                    ));
                }
                for (j, r) in self.claim_rules.iter().enumerate() {
                    if !r.claim.is_empty() && !GITHUB_CLAIMS.contains(&r.claim.as_str()) {
                        out.push(format!(
                            "{at}.claim_rules[{j}].claim {:?}: a github provider gives only {GITHUB_CLAIMS:?}",
                            r.claim
                        ));
                    }
                }
            }
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
        self.kind_problems(at, &mut out);
        if let Some(bad) = self
            .scopes
            .iter()
            .chain(&self.connection_scopes)
            .find(|s| s.is_empty() || !s.bytes().all(|b| b.is_ascii_graphic() && b != b'"'))
        {
            out.push(format!("{at}.scopes: {bad:?} is not a scope token"));
        }
        let issuer = self.effective_issuer();
        match crate::identity::federation::reach::Reach::new(
            &issuer,
            &self.effective_allowed_hosts(),
        ) {
            Err(e) => out.push(format!("{at}: issuer or allowed_hosts: {e}")),
            Ok(reach) => {
                if let Err(e) = reach.check_url(&issuer) {
                    out.push(format!("{at}.issuer {issuer:?}: {e}"));
                }
                if self.kind == ProviderKind::Github {
                    let (authorize, token, api) = self.github_endpoints();
                    for (key, url) in [("token_endpoint", token), ("api_base", api)] {
                        if let Err(e) = reach.check_url(url) {
                            out.push(format!("{at}.{key} {url:?}: {e}"));
                        }
                    }
                    match url::Url::parse(authorize) {
                        Ok(u) if u.scheme() == "https" || reach.check_url(authorize).is_ok() => {}
                        _ => out.push(format!(
                            "{at}.authorization_endpoint {authorize:?} must be an https URL"
                        )),
                    }
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

    fn github() -> ProviderConfig {
        ProviderConfig {
            id: "gh".into(),
            kind: ProviderKind::Github,
            client_id: "Iv1.8a61f9b3a7aba766".into(),
            client_secret: "file:/run/secrets/gh".into(),
            redirect_uri: "https://id.example.com/auth/federated/gh/callback".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_github_provider_has_github_defaults() {
        let p = github();
        let found = problems(std::slice::from_ref(&p));
        assert!(found.is_empty(), "{found:?}");
        assert_eq!(p.effective_issuer(), "https://github.com");
        assert_eq!(p.sign_in_scopes(), ["read:user", "user:email"]);
        assert_eq!(
            p.effective_allowed_hosts(),
            ["github.com", "api.github.com"]
        );
        assert_eq!(
            p.github_endpoints(),
            (
                GITHUB_AUTHORIZATION_ENDPOINT,
                GITHUB_TOKEN_ENDPOINT,
                GITHUB_API_BASE
            )
        );
        let toml = r#"
            id = "gh"
            kind = "github"
            client_id = "x"
            client_secret = "file:/s"
            redirect_uri = "https://id.example.com/auth/federated/gh/callback"
        "#;
        let parsed: ProviderConfig = toml::from_str(toml).unwrap();
        assert_eq!(parsed.kind, ProviderKind::Github);
        assert!(problems(&[parsed]).is_empty());
        assert!(toml::from_str::<ProviderConfig>("kind = \"gitlab\"").is_err());
        assert!(toml::from_str::<ProviderConfig>("api_url = \"x\"").is_err());
        // The web base as issuer is allowed; an enterprise server is configured by its endpoints.
        let mut p = github();
        p.issuer = "https://github.com".into();
        assert!(problems(&[p]).is_empty());
        let mut ghe = github();
        ghe.authorization_endpoint = "https://ghe.example.com/login/oauth/authorize".into();
        ghe.token_endpoint = "https://ghe.example.com/login/oauth/access_token".into();
        ghe.api_base = "https://ghe.example.com/api/v3".into();
        ghe.allowed_hosts = vec!["ghe.example.com".into()];
        assert!(
            problems(&[ghe.clone()]).is_empty(),
            "{:?}",
            problems(&[ghe.clone()])
        );
        assert_eq!(ghe.effective_issuer(), "https://ghe.example.com");
    }

    #[test]
    fn a_github_provider_refuses_what_github_cannot_give() {
        let mut p = github();
        p.issuer = "https://idp.example.com".into();
        p.mfa_claims_trusted = true;
        p.connection_scopes = vec!["repo".into()];
        p.client_id.clear();
        p.client_secret.clear();
        p.claim_rules = vec![ClaimRule {
            claim: "org".into(),
            value: "acme".into(),
            roles: vec!["staff".into()],
            ..Default::default()
        }];
        let text = problems(&[p]).join("\n");
        for needle in [
            "issuer must be unset",
            "mfa_claims_trusted",
            "connection_scopes",
            "client_id is required",
            "client_secret is required",
            "claim_rules[0].claim \"org\"",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        // Endpoints outside the reach, and a plain-http authorization endpoint.
        let mut p = github();
        p.token_endpoint = "https://evil.example.com/token".into();
        p.api_base = "https://api.evil.example.com".into();
        let text = problems(&[p]).join("\n");
        assert!(text.contains("token_endpoint"), "{text}");
        assert!(text.contains("api_base"), "{text}");
        let mut p = github();
        p.authorization_endpoint = "http://github.com/login/oauth/authorize".into();
        assert!(!problems(&[p]).is_empty());
        // The rules a github provider can match pass; oidc keys stay oidc's.
        let mut p = github();
        p.claim_rules = vec![ClaimRule {
            claim: "login".into(),
            value: "octocat".into(),
            roles: vec!["staff".into()],
            ..Default::default()
        }];
        assert!(problems(&[p]).is_empty());
        let mut o = good();
        o.api_base = "https://api.github.com".into();
        assert!(problems(&[o]).join("").contains("api_base"));
    }
}
