//! The identity Palisade hands to an upstream after a request passed: by default
//! `X-Palisade-User`, `X-Palisade-Roles`, `X-Palisade-Tenant` (when a tenant was authorized) and
//! always `X-Palisade-Identity`, a 60-second JWT whose audience is the route, signed with the
//! gateway's key and verifiable against `/.well-known/jwks.json`, so upstreams need not trust
//! the network. The header names and the assertion's claims are configurable
//! ([`Names`], from `[proxy.identity_headers]`, a route's `identity_headers` and
//! `[proxy.assertion_claims]`; a configured name replaces the default); `email` and `tier` are
//! sent only when named. A route with a `tenant_header` also gets its tenant header set to the
//! authorized tenant.
//!
//! Inbound copies never get here: the boundary strips every `X-Palisade-*` header and every
//! configured name a client sends. Assertions are cached per credential and route and re-signed
//! once less than 10 s remain, so signing costs once per caller and route every ~50 s rather
//! than once per request. E-mail addresses are read from the store (decrypted) at most once
//! per account a minute ([`EmailCache`]).

use super::Identity;
use crate::config::identity_names::{DEFAULT_CLAIMS, DEFAULT_HEADERS, IdentityNames};
use crate::request::{AuthorizedTenant, Req};
use http::{HeaderName, HeaderValue};
use palisade_core::principal::Principal;
use std::sync::Arc;

/// How long a signed identity assertion is valid.
pub const ASSERTION_LIFETIME_SECS: u64 = 60;
const RESIGN_BEFORE_SECS: u64 = 10;

/// The default header carrying the caller's subject to the upstream.
pub const USER: &str = "x-palisade-user";
/// The default header carrying the caller's roles, comma-separated.
pub const ROLES: &str = "x-palisade-roles";
/// The default header carrying the authorized tenant.
pub const TENANT: &str = "x-palisade-tenant";
/// The header carrying the signed identity assertion (an EdDSA JWT); never renamed.
pub const IDENTITY: &str = "x-palisade-identity";

/// The names one route gives identity: five headers (`email`, `tier` optional) and the route's
/// `tenant_header`, which also receives the authorized tenant.
#[derive(Debug, Clone)]
pub struct Names {
    /// `user`, `roles`, `tenant`, `email`, `tier`, in that order.
    pub headers: [Option<HeaderName>; 5],
    /// The route's `tenant_header`.
    pub tenant_header: Option<HeaderName>,
}

impl Names {
    /// The names of `table` (already merged over the global one), defaults filling the gaps.
    /// Names `config check` accepted are valid; an invalid one is an error naming it.
    pub fn new(table: &IdentityNames, tenant_header: Option<&str>) -> Result<Self, String> {
        let parse = |n: &str| {
            crate::config::header_name(n).ok_or_else(|| format!("{n:?} is not a header name"))
        };
        let mut headers: [Option<HeaderName>; 5] = Default::default();
        for (i, name) in table.resolved(DEFAULT_HEADERS).iter().enumerate() {
            headers[i] = name.as_deref().map(parse).transpose()?;
        }
        Ok(Self {
            headers,
            tenant_header: tenant_header.map(parse).transpose()?,
        })
    }

    /// Every header name Palisade may set (forward auth copies these onto its answer).
    pub fn all(&self) -> impl Iterator<Item = &HeaderName> {
        self.headers.iter().flatten().chain(&self.tenant_header)
    }

    fn wants_email(&self) -> bool {
        self.headers[3].is_some()
    }
}

/// The assertion's claim names (`[proxy.assertion_claims]`), defaults filling the gaps.
#[derive(Debug, Clone)]
pub struct ClaimNames([Option<String>; 5]);

impl ClaimNames {
    /// The claims of `table`.
    pub fn new(table: &IdentityNames) -> Self {
        Self(table.resolved(DEFAULT_CLAIMS))
    }
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self::new(&IdentityNames::default())
    }
}

/// Assertions by (credential, route), reused until shortly before they expire.
pub type AssertionCache = moka::sync::Cache<(String, &'static str), Arc<(HeaderValue, u64)>>;

/// Accounts' e-mail addresses by subject, kept for the assertion lifetime.
pub type EmailCache = moka::sync::Cache<String, Arc<str>>;

/// An empty assertion cache.
pub fn new_cache() -> AssertionCache {
    moka::sync::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(std::time::Duration::from_secs(ASSERTION_LIFETIME_SECS))
        .build()
}

/// An empty e-mail cache.
pub fn new_email_cache() -> EmailCache {
    moka::sync::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(std::time::Duration::from_secs(ASSERTION_LIFETIME_SECS))
        .build()
}

/// The cache key of an assertion: the credential and every fact the assertion states, so two
/// callers share an entry only when the assertion would say the same thing (a trusted issuer's
/// token without `jti` has no credential id; another issuer's same `sub`, or the same session
/// after a role change, must not reuse it). Each part is length-prefixed: a `sub` or `jti` that
/// contains the separator cannot shift the parts into another caller's key.
fn credential_key(p: &Principal, tenant: Option<&str>) -> String {
    use std::fmt::Write;
    let id = p
        .token_id
        .as_deref()
        .or(p.key_id.as_deref())
        .or(p.session_id.as_deref())
        .unwrap_or("");
    let parts = [
        p.method.as_str(),
        &p.issuer,
        &p.subject,
        id,
        tenant.unwrap_or(""),
        p.tier.as_deref().unwrap_or(""),
    ];
    let mut key = String::with_capacity(96);
    for part in parts
        .iter()
        .copied()
        .chain(p.roles.iter().map(String::as_str))
    {
        let _ = write!(key, "{}:{part}", part.len());
    }
    key
}

/// The facts named to the upstream, in [`IdentityNames::names`] order (roles comma-joined).
struct Facts<'a> {
    principal: &'a Principal,
    tenant: Option<&'a str>,
    email: Option<&'a str>,
}

impl Facts<'_> {
    fn header_values(&self) -> [Option<String>; 5] {
        let p = self.principal;
        [
            Some(p.subject.clone()),
            Some(p.roles.join(",")),
            self.tenant.map(str::to_owned),
            self.email.map(str::to_owned),
            p.tier.clone(),
        ]
    }
}

impl Identity {
    /// Sets the identity headers `names` says for the upstream of `route`.
    pub async fn attach_identity(&self, route: &'static str, names: &Names, req: &mut Req) {
        let Some(principal) = req.extensions().get::<Arc<Principal>>().cloned() else {
            return;
        };
        let tenant = req
            .extensions()
            .get::<AuthorizedTenant>()
            .map(|t| t.0.clone());
        let email = if names.wants_email() || self.claim_names.0[3].is_some() {
            self.email_of(&principal).await
        } else {
            None
        };
        let facts = Facts {
            principal: &principal,
            tenant: tenant.as_deref(),
            email: email.as_deref(),
        };
        let headers = req.headers_mut();
        for (name, value) in names.headers.iter().zip(facts.header_values()) {
            if let (Some(name), Some(v)) =
                (name, value.and_then(|v| HeaderValue::from_str(&v).ok()))
            {
                headers.insert(name.clone(), v);
            }
        }
        if let (Some(name), Some(t)) = (&names.tenant_header, facts.tenant)
            && let Ok(v) = HeaderValue::from_str(t)
        {
            headers.insert(name.clone(), v);
        }
        if let Some(token) = self.assertion(&facts, route) {
            headers.insert(IDENTITY, token);
        }
    }

    /// The account's e-mail, decrypted by the store, cached per subject; `None` for callers
    /// without a Palisade account (another issuer's tokens) and when the store cannot say (the
    /// header is then left out).
    async fn email_of(&self, p: &Principal) -> Option<Arc<str>> {
        let id = p.account?;
        if let Some(hit) = self.emails.get(&p.subject) {
            return Some(hit);
        }
        match self.store.user_by_id(id).await {
            Ok(Some(user)) => {
                let email: Arc<str> = user.email.into();
                self.emails.insert(p.subject.clone(), email.clone());
                Some(email)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read an account's e-mail for the upstream");
                None
            }
        }
    }

    fn assertion(&self, facts: &Facts<'_>, route: &'static str) -> Option<HeaderValue> {
        let p = facts.principal;
        let now = self.now_ms() / 1000;
        let key = (credential_key(p, facts.tenant), route);
        if let Some(hit) = self.assertions.get(&key)
            && hit.1 > now + RESIGN_BEFORE_SECS
        {
            return Some(hit.0.clone());
        }
        let tokens = self.tokens();
        let exp = now + ASSERTION_LIFETIME_SECS;
        let mut claims = serde_json::json!({
            "iss": tokens.issuer(),
            "aud": route,
            "sub": p.subject,
            "iat": now,
            "nbf": now,
            "exp": exp,
            "jti": uuid::Uuid::now_v7().to_string(),
            // How the caller proved who it is: `jwt`, `external`, `api_key`, `session`.
            "amr": p.method.as_str(),
        });
        if let Some(k) = &p.key_id {
            claims["key_id"] = k.as_str().into();
        }
        let values = [
            Some(serde_json::json!(p.subject)),
            Some(serde_json::json!(p.roles)),
            facts.tenant.map(|t| t.into()),
            facts.email.map(|e| e.into()),
            p.tier.as_deref().map(|t| t.into()),
        ];
        for (name, value) in self.claim_names.0.iter().zip(values) {
            if let (Some(name), Some(value)) = (name, value) {
                claims[name.as_str()] = value;
            }
        }
        let token = match tokens.sign_claims(&claims) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "cannot sign an identity assertion");
                return None;
            }
        };
        let value = HeaderValue::from_str(&token).ok()?;
        self.assertions.insert(key, Arc::new((value.clone(), exp)));
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::credential_key;
    use palisade_core::principal::{AuthMethod, Principal};

    fn external(issuer: &str, subject: &str, roles: &[&str]) -> Principal {
        Principal {
            subject: subject.into(),
            account: None,
            method: AuthMethod::External,
            issuer: issuer.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            tenants: Vec::new(),
            tier: None,
            scopes: Vec::new(),
            session_id: None,
            token_id: None,
            key_id: None,
            expires_at: 0,
            assurance: None,
        }
    }

    #[test]
    fn callers_share_an_assertion_only_when_every_stated_fact_is_the_same() {
        let a = external("https://idp-a.example", "alice", &["viewer"]);
        assert_eq!(credential_key(&a, None), credential_key(&a.clone(), None));
        let cases = [
            // Another issuer's same `sub`, both without `jti`.
            external("https://idp-b.example", "alice", &["viewer"]),
            // The same caller with other roles (a role change, or another token's claims).
            external("https://idp-a.example", "alice", &["admin"]),
            external("https://idp-a.example", "alice", &["viewer", "admin"]),
            // Separator tricks: parts shifted between fields.
            external("https://idp-a.example", "alice:6:viewer", &[]),
            external("https://idp-a.example", "alice|", &["viewer"]),
        ];
        for other in &cases {
            assert_ne!(
                credential_key(&a, None),
                credential_key(other, None),
                "{other:?}"
            );
        }
        assert_ne!(credential_key(&a, None), credential_key(&a, Some("t1")));
        let mut tiered = a.clone();
        tiered.tier = Some("gold".into());
        assert_ne!(credential_key(&a, None), credential_key(&tiered, None));
    }
}
