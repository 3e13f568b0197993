//! The claims Palisade puts in its own access tokens, the identity read out of a trusted issuer's
//! token, and the claim-name mapping that reads it (dotted paths such as `realm_access.roles`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::JwtError;

/// The claims of a Palisade access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The account's subject: its external id (`auth.subject = "external_id"`, an imported
    /// account) or its id (UUID).
    pub sub: String,
    /// The account's id (UUID) when `sub` is not it, so verification maps the token back to
    /// the account without a lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Palisade's issuer (`auth.issuer`); a token of another issuer is never read as ours.
    pub iss: String,
    /// The audience the token was minted for (`auth.audience`).
    pub aud: String,
    /// Expiry, Unix seconds, checked against the injected clock with the configured leeway.
    pub exp: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Not valid before, Unix seconds.
    pub nbf: u64,
    /// The token's id: what a revocation of this one token names.
    pub jti: String,
    /// The session (refresh family) it belongs to: revoking the session kills the token.
    pub sid: String,
    /// The account's global roles when the token was minted.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The tenants the account belonged to when the token was minted.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// The account's subscription tier (rate-limit multiplier), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// device fingerprint binding (hex), when device binding is on
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dfp: Option<String>,
    /// How the session's sign-in was proven (RFC 8176 values, e.g. `["pwd", "otp", "mfa"]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The assurance level reached: `aal1` or `aal2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Unix seconds of the session's last authentication (sign-in or step-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
}

impl AccessClaims {
    /// The assurance the token carries; `None` when it names no level of ours (a token minted
    /// before assurance levels existed counts as none: it meets no step-up requirement).
    pub fn assurance(&self) -> Option<crate::mfa::assurance::Assurance> {
        Some(crate::mfa::assurance::Assurance {
            amr: self.amr.clone(),
            acr: crate::mfa::assurance::Acr::parse(self.acr.as_deref()?)?,
            auth_time: self.auth_time?,
        })
    }
}

/// [`AccessClaims`] as read from a verified token, before the required claims are checked, so a
/// missing claim is reported by name instead of as a parse failure.
#[derive(Deserialize)]
pub(crate) struct RawAccessClaims {
    sub: Option<String>,
    uid: Option<String>,
    iss: Option<String>,
    aud: Option<String>,
    exp: Option<u64>,
    iat: Option<u64>,
    nbf: Option<u64>,
    jti: Option<String>,
    sid: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    tenants: Vec<String>,
    tier: Option<String>,
    dfp: Option<String>,
    #[serde(default)]
    amr: Vec<String>,
    acr: Option<String>,
    auth_time: Option<u64>,
}

impl RawAccessClaims {
    pub(crate) fn require(self) -> Result<AccessClaims, JwtError> {
        fn need<T>(v: Option<T>, name: &'static str) -> Result<T, JwtError> {
            v.ok_or(JwtError::MissingClaim(name))
        }
        Ok(AccessClaims {
            sub: need(self.sub, "sub")?,
            uid: self.uid,
            iss: need(self.iss, "iss")?,
            aud: need(self.aud, "aud")?,
            exp: need(self.exp, "exp")?,
            iat: need(self.iat, "iat")?,
            nbf: need(self.nbf, "nbf")?,
            jti: need(self.jti, "jti")?,
            sid: need(self.sid, "sid")?,
            roles: self.roles,
            tenants: self.tenants,
            tier: self.tier,
            dfp: self.dfp,
            amr: self.amr,
            acr: self.acr,
            auth_time: self.auth_time,
        })
    }
}

/// Where a trusted issuer keeps the subject, the roles and the tenant in its tokens. A name is
/// looked up as a literal claim first (Auth0's namespaced `https://example.com/roles`), then as a
/// dotted path into nested objects (Keycloak's `realm_access.roles`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    /// The claim holding the caller's stable id (default `sub`).
    pub subject: String,
    /// The claim holding its roles, a list or a space-separated string (default `roles`).
    pub roles: String,
    /// The claim holding its tenant or tenants (default `tenant`).
    pub tenant: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        ClaimNames {
            subject: "sub".into(),
            roles: "roles".into(),
            tenant: "tenant".into(),
        }
    }
}

/// The identity carried by a verified token from a trusted issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalClaims {
    /// The trusted issuer that signed it.
    pub iss: String,
    /// The subject, read through [`ClaimNames::subject`].
    pub sub: String,
    /// The roles, read through [`ClaimNames::roles`].
    pub roles: Vec<String>,
    /// The tenants, read through [`ClaimNames::tenant`].
    pub tenants: Vec<String>,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// The token's id, when the issuer sets one (revocation by `jti`).
    pub jti: Option<String>,
    /// The assurance the token claims (`acr`, `amr`, `auth_time`); it counts only for an issuer
    /// with `mfa_claims_trusted = true`.
    pub assurance: Option<crate::mfa::assurance::Assurance>,
}

/// The value at `name`: a literal claim of that name, else the dotted path through nested objects.
pub(crate) fn lookup<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// A list of names from a string array (non-strings skipped) or a space-separated string.
pub(crate) fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// A NumericDate as whole seconds; fractional values (allowed by RFC 7519) are truncated.
pub(crate) fn numeric_date(value: Option<&Value>) -> Option<u64> {
    let v = value?;
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn lookup_prefers_literal_names_then_walks_dotted_paths() {
        let c = obj(json!({
            "realm_access": {"roles": ["admin", "user"]},
            "https://example.com/roles": ["editor"],
            "a": {"b": {"c": "deep"}}
        }));
        assert_eq!(
            string_list(lookup(&c, "realm_access.roles")),
            ["admin", "user"]
        );
        assert_eq!(
            string_list(lookup(&c, "https://example.com/roles")),
            ["editor"]
        );
        assert_eq!(lookup(&c, "a.b.c"), Some(&json!("deep")));
        assert_eq!(lookup(&c, "a.x.c"), None);
        assert_eq!(lookup(&c, "realm_access.roles.more"), None);
    }

    #[test]
    fn roles_may_be_an_array_or_a_space_separated_string() {
        assert_eq!(
            string_list(Some(&json!("read  write admin"))),
            ["read", "write", "admin"]
        );
        assert_eq!(string_list(Some(&json!(["a", 1, "b"]))), ["a", "b"]);
        assert!(string_list(Some(&json!(42))).is_empty());
        assert!(string_list(None).is_empty());
    }

    #[test]
    fn numeric_dates_accept_integers_and_fractions() {
        assert_eq!(numeric_date(Some(&json!(1700000000))), Some(1700000000));
        assert_eq!(numeric_date(Some(&json!(1700000000.9))), Some(1700000000));
        assert_eq!(numeric_date(Some(&json!(-1))), None);
        assert_eq!(numeric_date(Some(&json!("1700000000"))), None);
    }

    #[test]
    fn missing_required_claims_are_named() {
        let raw: RawAccessClaims = serde_json::from_value(json!({"sub": "u"})).unwrap();
        assert_eq!(raw.require(), Err(JwtError::MissingClaim("iss")));
    }
}
