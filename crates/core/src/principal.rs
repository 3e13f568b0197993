//! Who is calling, once the `identify` gate has proven it, and the opaque tokens sessions hand out.

use aws_lc_rs::{digest, rand::SecureRandom};
use base64::Engine;

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A Palisade access token (bearer JWT).
    Jwt,
    /// A token from a trusted external issuer.
    External,
    /// An API key.
    ApiKey,
    /// A browser session cookie.
    Session,
}

impl AuthMethod {
    /// The spelling in audit events and `Caller::method` (`jwt`, `external`, `api_key`, `session`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Jwt => "jwt",
            AuthMethod::External => "external",
            AuthMethod::ApiKey => "api_key",
            AuthMethod::Session => "session",
        }
    }
}

/// A proven caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who the caller is, as tokens, `X-Palisade-User` and the audit trail name it: for a
    /// Palisade account its external id (an imported account, with `auth.subject =
    /// "external_id"`) or else its id (UUID); the mapped subject for external tokens.
    pub subject: String,
    /// The Palisade account (UUID) behind the credential: what sessions, keys, memberships and
    /// the store name. `None` for a trusted external issuer's token.
    pub account: Option<uuid::Uuid>,
    /// How the credential was presented.
    pub method: AuthMethod,
    /// Who vouched: Palisade's issuer or the external issuer.
    pub issuer: String,
    /// Global roles (an external token's, mapped).
    pub roles: Vec<String>,
    /// Tenants the caller belongs to.
    pub tenants: Vec<String>,
    /// Subscription tier: the rate-limit multiplier's key.
    pub tier: Option<String>,
    /// Permission grants narrowing an API key (empty otherwise).
    pub scopes: Vec<String>,
    /// Session (refresh family or cookie session) the credential belongs to.
    pub session_id: Option<String>,
    /// Token id (`jti`) of an access token.
    pub token_id: Option<String>,
    /// API key id.
    pub key_id: Option<String>,
    /// Unix seconds after which the credential is no longer valid (0: no expiry).
    pub expires_at: u64,
    /// What the sign-in behind the credential proved (`amr`, `acr`, `auth_time`): Palisade's
    /// own tokens and cookie sessions, and a trusted issuer's token only where the issuer has
    /// `mfa_claims_trusted = true`. `None` for API keys: they meet no step-up requirement.
    pub assurance: Option<crate::mfa::assurance::Assurance>,
}

impl Principal {
    /// The key the account is known by in memberships and grants: the account id, else (an
    /// external issuer's caller) the subject.
    pub fn account_key(&self) -> std::borrow::Cow<'_, str> {
        match self.account {
            Some(id) => std::borrow::Cow::Owned(id.to_string()),
            None => std::borrow::Cow::Borrowed(&self.subject),
        }
    }

    /// Whether `role` is among the caller's own roles (not counting inheritance).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// The account handle of a service account: `svc:` and 1-64 of `a-z 0-9 _ -` (kept in the
/// e-mail column, where it can never collide with an address or be used to sign in).
pub fn service_account_handle(name: &str) -> Option<String> {
    let name = name.strip_prefix("svc:").unwrap_or(name);
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    valid.then(|| format!("svc:{name}"))
}

/// A fresh opaque token (256 bits from the OS CSPRNG, base64url) and the SHA-256 it is stored as.
pub fn new_opaque_token() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the OS random generator is available");
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = opaque_token_hash(&token);
    (token, hash)
}

/// The stored form of an opaque token. A fast hash suffices: the token has 256 bits of entropy.
pub fn opaque_token_hash(token: &str) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_handles() {
        assert_eq!(
            service_account_handle("ci-bot").as_deref(),
            Some("svc:ci-bot")
        );
        assert_eq!(
            service_account_handle("svc:agent_7").as_deref(),
            Some("svc:agent_7")
        );
        for bad in ["", "svc:", "CI", "a b", "ann@example.com", &"x".repeat(65)] {
            assert_eq!(service_account_handle(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn opaque_tokens_are_random_and_hash_stably() {
        let (a, ha) = new_opaque_token();
        let (b, hb) = new_opaque_token();
        assert_ne!(a, b);
        assert_ne!(ha, hb);
        assert_eq!(a.len(), 43);
        assert_eq!(opaque_token_hash(&a), ha);
    }
}
