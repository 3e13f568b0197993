//! How the caller's identity is named to an upstream: `[proxy.identity_headers]` and a route's
//! `identity_headers` (the request headers Palisade sets), `[proxy.assertion_claims]` (the claims
//! of the signed `X-Palisade-Identity` assertion), and a route's `tenant_header` (the request
//! header a route takes its tenant from).
//!
//! A configured name *replaces* the default of its key (`user = "X-User-Id"`: the upstream gets
//! `X-User-Id` and no `X-Palisade-User`); keys left unset keep the defaults (`X-Palisade-User`,
//! `-Roles`, `-Tenant`; claims `sub`, `roles`, `tenant`); `email` and `tier` are sent only when
//! named. `X-Palisade-Identity` is always set. A route's table overrides the global one key by
//! key. Every configured header name — from the global table, from every route, and every
//! route's `tenant_header` — is stripped from every client request on every route and built-in
//! endpoint ([`stripped_names`]), in any `_`/`-` spelling.

use super::Config;
use serde::{Deserialize, Serialize};

/// Names for the five identity facts; each optional.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityNames {
    /// The caller's subject (user id, or an external token's mapped subject).
    pub user: Option<String>,
    /// The caller's roles, comma-separated in a header, a list in a claim.
    pub roles: Option<String>,
    /// The tenant the request was authorized in.
    pub tenant: Option<String>,
    /// The account's e-mail (decrypted; service accounts: their `svc:NAME` handle).
    pub email: Option<String>,
    /// The account's tier.
    pub tier: Option<String>,
}

/// Default header names (`email`, `tier`: none, sent only when configured).
pub const DEFAULT_HEADERS: [Option<&str>; 5] = [
    Some("x-palisade-user"),
    Some("x-palisade-roles"),
    Some("x-palisade-tenant"),
    None,
    None,
];

/// Default assertion claims (as before these were configurable).
pub const DEFAULT_CLAIMS: [Option<&str>; 5] =
    [Some("sub"), Some("roles"), Some("tenant"), None, None];

/// The keys of a table, in the order of [`IdentityNames::names`].
pub const KEYS: [&str; 5] = ["user", "roles", "tenant", "email", "tier"];

/// Claims the assertion sets itself; a configured claim may not take one (`sub` only as `user`).
const REGISTERED_CLAIMS: &[&str] = &[
    "iss", "aud", "sub", "iat", "nbf", "exp", "jti", "amr", "key_id",
];

/// Request headers Palisade manages or a client must be able to send: never identity names.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "authorization",
    "cookie",
    "connection",
    "content-length",
    "content-type",
    "transfer-encoding",
    "te",
    "upgrade",
    "x-api-key",
    "x-request-id",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-palisade-identity",
];

impl IdentityNames {
    /// The five names in [`KEYS`] order.
    pub fn names(&self) -> [Option<&str>; 5] {
        [
            self.user.as_deref(),
            self.roles.as_deref(),
            self.tenant.as_deref(),
            self.email.as_deref(),
            self.tier.as_deref(),
        ]
    }

    /// This table over `base`, key by key (this one's keys win).
    pub fn over(&self, base: &IdentityNames) -> IdentityNames {
        let pick = |a: &Option<String>, b: &Option<String>| a.clone().or_else(|| b.clone());
        IdentityNames {
            user: pick(&self.user, &base.user),
            roles: pick(&self.roles, &base.roles),
            tenant: pick(&self.tenant, &base.tenant),
            email: pick(&self.email, &base.email),
            tier: pick(&self.tier, &base.tier),
        }
    }

    /// The effective names: configured ones, else `defaults`.
    pub fn resolved(&self, defaults: [Option<&str>; 5]) -> [Option<String>; 5] {
        let mut out: [Option<String>; 5] = Default::default();
        for (i, name) in self.names().into_iter().enumerate() {
            out[i] = name.or(defaults[i]).map(str::to_owned);
        }
        out
    }
}

/// Every header name a client may not send on any route: the configured identity header names
/// (global and every route's) and every route's `tenant_header`, lowercased and deduplicated.
pub fn stripped_names(config: &Config) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let tables = std::iter::once(&config.proxy.identity_headers)
        .chain(config.routes.iter().map(|r| &r.identity_headers));
    let names = tables
        .flat_map(|t| t.names().into_iter().flatten().map(str::to_owned))
        .chain(config.routes.iter().filter_map(|r| r.tenant_header.clone()));
    for name in names {
        let name = name.to_ascii_lowercase();
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// The problems of the identity names: header names that are not names, reserved or repeated
/// within one effective table; claims that take a registered claim or repeat; a route's
/// `tenant_header` beside `tenant_param`, or on a route that checks no permission or role.
pub fn check(config: &Config, out: &mut Vec<String>) {
    let global = &config.proxy.identity_headers;
    check_headers("proxy.identity_headers", global, global, out);
    check_claims(&config.proxy.assertion_claims, out);
    for (i, route) in config.routes.iter().enumerate() {
        let at = format!("routes[{i}] ({})", route.display_name());
        check_headers(
            &format!("{at}: identity_headers"),
            &route.identity_headers,
            &route.identity_headers.over(global),
            out,
        );
        let Some(header) = &route.tenant_header else {
            continue;
        };
        if super::header_name(header).is_none() {
            out.push(format!(
                "{at}: tenant_header {header:?} is not a header name"
            ));
        } else if RESERVED_HEADERS.contains(&header.to_ascii_lowercase().as_str()) {
            out.push(format!(
                "{at}: tenant_header {header:?} is a header Palisade manages"
            ));
        }
        if route.tenant_param.is_some() {
            out.push(format!(
                "{at}: tenant_param and tenant_header both name the tenant; keep one"
            ));
        }
        if route.permission.is_empty() && route.roles.is_empty() && route.resource.is_none() {
            out.push(format!(
                "{at}: tenant_header needs a permission, role or resource to check in the tenant"
            ));
        }
    }
}

fn check_headers(at: &str, own: &IdentityNames, effective: &IdentityNames, out: &mut Vec<String>) {
    for (key, name) in KEYS.iter().zip(own.names()) {
        let Some(name) = name else { continue };
        if super::header_name(name).is_none() {
            out.push(format!("{at}.{key}: {name:?} is not a header name"));
        } else if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            out.push(format!("{at}.{key}: {name:?} is a header Palisade manages"));
        }
    }
    let mut resolved = effective.resolved(DEFAULT_HEADERS);
    // Header names are compared without case.
    resolved
        .iter_mut()
        .flatten()
        .for_each(|n| n.make_ascii_lowercase());
    repeated(at, &resolved, out);
}

fn check_claims(claims: &IdentityNames, out: &mut Vec<String>) {
    let at = "proxy.assertion_claims";
    for (key, name) in KEYS.iter().zip(claims.names()) {
        let Some(name) = name else { continue };
        let valid = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        if !valid {
            out.push(format!(
                "{at}.{key}: {name:?} is not a claim name (1-64 of A-Z a-z 0-9 _ - .)"
            ));
        } else if REGISTERED_CLAIMS.contains(&name) && !(*key == "user" && name == "sub") {
            out.push(format!(
                "{at}.{key}: {name:?} is a claim the assertion sets itself"
            ));
        }
    }
    repeated(at, &claims.resolved(DEFAULT_CLAIMS), out);
}

fn repeated(at: &str, resolved: &[Option<String>; 5], out: &mut Vec<String>) {
    for i in 0..5 {
        for j in i + 1..5 {
            if let (Some(a), Some(b)) = (&resolved[i], &resolved[j])
                && a == b
            {
                out.push(format!("{at}: {} and {} both use {a:?}", KEYS[i], KEYS[j]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RouteConfig;

    fn names(user: &str, tenant: &str) -> IdentityNames {
        IdentityNames {
            user: Some(user.into()),
            tenant: Some(tenant.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_route_overrides_key_by_key_and_defaults_fill_the_rest() {
        let global = names("X-User-Id", "X-Org");
        let route = IdentityNames {
            tenant: Some("X-Graph-Id".into()),
            ..Default::default()
        };
        let r = route.over(&global).resolved(DEFAULT_HEADERS);
        assert_eq!(r[0].as_deref(), Some("X-User-Id"));
        assert_eq!(r[1].as_deref(), Some("x-palisade-roles"));
        assert_eq!(r[2].as_deref(), Some("X-Graph-Id"));
        assert_eq!(r[3], None);
    }

    #[test]
    fn every_configured_name_is_stripped_everywhere() {
        let mut c = Config::default();
        c.proxy.identity_headers = names("X-User-Id", "X-Org");
        c.routes.push(RouteConfig {
            identity_headers: IdentityNames {
                email: Some("X-User-Email".into()),
                ..Default::default()
            },
            tenant_header: Some("X-Graph-Id".into()),
            ..Default::default()
        });
        assert_eq!(
            stripped_names(&c),
            ["x-user-id", "x-org", "x-user-email", "x-graph-id"]
        );
    }

    #[test]
    fn problems_are_named() {
        let mut c = Config::default();
        c.proxy.identity_headers = names("Authorization", "X-Palisade-Roles");
        c.proxy.assertion_claims = IdentityNames {
            user: Some("uid".into()),
            roles: Some("exp".into()),
            tenant: Some("uid".into()),
            ..Default::default()
        };
        c.routes.push(RouteConfig {
            name: Some("g".into()),
            tenant_header: Some("X-Graph-Id".into()),
            tenant_param: Some("id".into()),
            ..Default::default()
        });
        let mut out = Vec::new();
        check(&c, &mut out);
        for want in [
            "proxy.identity_headers.user: \"Authorization\" is a header Palisade manages",
            "proxy.identity_headers: roles and tenant both use \"x-palisade-roles\"",
            "proxy.assertion_claims.roles: \"exp\" is a claim the assertion sets itself",
            "proxy.assertion_claims: user and tenant both use \"uid\"",
            "routes[0] (g): tenant_param and tenant_header both name the tenant; keep one",
            "routes[0] (g): tenant_header needs a permission",
        ] {
            assert!(out.iter().any(|p| p.starts_with(want)), "{want}: {out:?}");
        }
        let mut fine = Config::default();
        fine.proxy.assertion_claims.user = Some("sub".into());
        let mut out = Vec::new();
        check(&fine, &mut out);
        assert!(out.is_empty(), "{out:?}");
    }
}
