//! The identity Palisade hands to an upstream after a request passed: `X-Palisade-User`,
//! `X-Palisade-Roles`, `X-Palisade-Tenant` (when a tenant was authorized) and
//! `X-Palisade-Identity`, a 60-second JWT whose audience is the route, signed with the gateway's
//! key and verifiable against `/.well-known/jwks.json`, so upstreams need not trust the network.
//!
//! Inbound copies never get here: the boundary strips every `X-Palisade-*` header a client sends.
//! Assertions are cached per credential and route and re-signed once less than 10 s remain, so
//! signing costs once per caller and route every ~50 s rather than once per request.

use super::Identity;
use crate::request::{AuthorizedTenant, Req};
use http::HeaderValue;
use palisade_core::principal::Principal;
use serde::Serialize;
use std::sync::Arc;

/// How long a signed identity assertion is valid.
pub const ASSERTION_LIFETIME_SECS: u64 = 60;
const RESIGN_BEFORE_SECS: u64 = 10;

/// The header carrying the caller's subject to the upstream.
pub const USER: &str = "x-palisade-user";
/// The header carrying the caller's roles, comma-separated.
pub const ROLES: &str = "x-palisade-roles";
/// The header carrying the authorized tenant.
pub const TENANT: &str = "x-palisade-tenant";
/// The header carrying the signed identity assertion (an EdDSA JWT).
pub const IDENTITY: &str = "x-palisade-identity";

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    iat: u64,
    nbf: u64,
    exp: u64,
    jti: String,
    /// How the caller proved who it is: `jwt`, `external`, `api_key`, `session`.
    amr: &'a str,
    roles: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<&'a str>,
}

/// Assertions by (credential, route), reused until shortly before they expire.
pub type AssertionCache = moka::sync::Cache<(String, &'static str), Arc<(HeaderValue, u64)>>;

/// An empty assertion cache.
pub fn new_cache() -> AssertionCache {
    moka::sync::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(std::time::Duration::from_secs(ASSERTION_LIFETIME_SECS))
        .build()
}

fn credential_key(p: &Principal, tenant: Option<&str>) -> String {
    let id = p
        .token_id
        .as_deref()
        .or(p.key_id.as_deref())
        .or(p.session_id.as_deref())
        .unwrap_or("");
    format!(
        "{}|{}|{}|{}",
        p.method.as_str(),
        p.subject,
        id,
        tenant.unwrap_or("")
    )
}

impl Identity {
    /// Sets the identity headers for the upstream of `route`.
    pub fn attach_identity(&self, route: &'static str, req: &mut Req) {
        let Some(principal) = req.extensions().get::<Arc<Principal>>().cloned() else {
            return;
        };
        let tenant = req
            .extensions()
            .get::<AuthorizedTenant>()
            .map(|t| t.0.clone());
        let headers = req.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&principal.subject) {
            headers.insert(USER, v);
        }
        if let Ok(v) = HeaderValue::from_str(&principal.roles.join(",")) {
            headers.insert(ROLES, v);
        }
        if let Some(t) = tenant
            .as_deref()
            .and_then(|t| HeaderValue::from_str(t).ok())
        {
            headers.insert(TENANT, t);
        }
        if let Some(token) = self.assertion(&principal, route, tenant.as_deref()) {
            headers.insert(IDENTITY, token);
        }
    }

    fn assertion(
        &self,
        p: &Principal,
        route: &'static str,
        tenant: Option<&str>,
    ) -> Option<HeaderValue> {
        let now = self.now_ms() / 1000;
        let key = (credential_key(p, tenant), route);
        if let Some(hit) = self.assertions.get(&key)
            && hit.1 > now + RESIGN_BEFORE_SECS
        {
            return Some(hit.0.clone());
        }
        let tokens = self.tokens();
        let exp = now + ASSERTION_LIFETIME_SECS;
        let claims = AssertionClaims {
            iss: tokens.issuer(),
            aud: route,
            sub: &p.subject,
            iat: now,
            nbf: now,
            exp,
            jti: uuid::Uuid::now_v7().to_string(),
            amr: p.method.as_str(),
            roles: &p.roles,
            tenant,
            key_id: p.key_id.as_deref(),
        };
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
