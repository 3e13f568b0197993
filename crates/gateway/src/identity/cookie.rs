//! The browser session cookie `__Host-palisade` and its CSRF token.
//!
//! The cookie carries the session id, subject, roles, tier and expiry, MACed with a key derived
//! from `secrets.cookie_key` (HMAC-SHA256, checked in constant time), so reading it needs no
//! database; revoking the session (a hot-state flag on its id) ends it at once. The CSRF token is
//! a MAC of the session id under a second derived key: a page must send it in `X-CSRF-Token` on
//! every state-changing request that the cookie authenticates.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

/// The browser session cookie's name (`__Host-`: Secure, Path=/, no Domain).
pub const COOKIE_NAME: &str = "__Host-palisade";
/// The header a cookie-authenticated state-changing request must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// What the session cookie carries (MAC'd, not encrypted: nothing in it is secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CookieSession {
    /// The session id (revocation by `rv:sid:`).
    pub sid: String,
    /// The account's subject (its external id or its id, as in access tokens).
    pub sub: String,
    /// The account's id when `sub` is not it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The account's roles when the cookie was issued.
    pub roles: Vec<String>,
    /// The account's tier.
    #[serde(default)]
    pub tier: Option<String>,
    /// Unix seconds.
    pub exp: u64,
    /// How the session's sign-in was proven (RFC 8176 values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// The assurance level reached (`aal1`, `aal2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Unix seconds of the session's last authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
}

impl CookieSession {
    /// The assurance the cookie carries, when it names a level of ours.
    pub fn assurance(&self) -> Option<palisade_core::mfa::assurance::Assurance> {
        Some(palisade_core::mfa::assurance::Assurance {
            amr: self.amr.clone(),
            acr: palisade_core::mfa::assurance::Acr::parse(self.acr.as_deref()?)?,
            auth_time: self.auth_time?,
        })
    }
}

/// The cookie's MAC key and the CSRF key, derived from `secrets.cookie_key`.
pub struct CookieKeys {
    mac: hmac::Key,
    csrf: hmac::Key,
}

impl CookieKeys {
    /// Keys derived from `cookie_secret` (HKDF, one per purpose).
    pub fn new(cookie_secret: &str) -> Self {
        let mac = super::derive::derive_key(cookie_secret, "session-cookie-mac");
        let csrf = super::derive::derive_key(cookie_secret, "csrf-token");
        Self {
            mac: hmac::Key::new(hmac::HMAC_SHA256, mac.as_ref()),
            csrf: hmac::Key::new(hmac::HMAC_SHA256, csrf.as_ref()),
        }
    }

    /// The cookie value for `session`: base64url payload and its MAC.
    pub fn seal(&self, session: &CookieSession) -> String {
        let payload = B64.encode(serde_json::to_vec(session).expect("plain struct serializes"));
        let tag = hmac::sign(&self.mac, payload.as_bytes());
        format!("{payload}.{}", B64.encode(tag.as_ref()))
    }

    /// The session a cookie value proves, if its MAC holds and it has not expired.
    /// The session a cookie value holds, or why it holds none (an audit slug: `too-large`,
    /// `malformed`, `bad-signature`, `expired`).
    pub fn open(&self, value: &str, now: u64) -> Result<CookieSession, &'static str> {
        if value.len() > 4096 {
            return Err("too-large");
        }
        let (payload, tag) = value.split_once('.').ok_or("malformed")?;
        let tag = B64.decode(tag).map_err(|_| "malformed")?;
        hmac::verify(&self.mac, payload.as_bytes(), &tag).map_err(|_| "bad-signature")?;
        let session: CookieSession = B64
            .decode(payload)
            .ok()
            .and_then(|p| serde_json::from_slice(&p).ok())
            .ok_or("malformed")?;
        if session.exp > now {
            Ok(session)
        } else {
            Err("expired")
        }
    }

    /// The CSRF token of session `sid`.
    pub fn csrf_token(&self, sid: &str) -> String {
        B64.encode(hmac::sign(&self.csrf, sid.as_bytes()).as_ref())
    }

    /// Whether `presented` is session `sid`'s CSRF token (constant time).
    pub fn csrf_ok(&self, sid: &str, presented: &str) -> bool {
        B64.decode(presented)
            .is_ok_and(|tag| hmac::verify(&self.csrf, sid.as_bytes(), &tag).is_ok())
    }

    /// `Set-Cookie` for a new session.
    pub fn set_cookie(value: &str, max_age_secs: u64) -> String {
        format!(
            "{COOKIE_NAME}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}"
        )
    }

    /// `Set-Cookie` that clears the session cookie.
    pub fn clear_cookie() -> String {
        format!("{COOKIE_NAME}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
    }
}

/// The session cookie's value from a `Cookie` header, if present.
pub fn find_cookie(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
}

/// The properties the `cookie` fuzz target checks (`fuzz/fuzz_targets/cookie.rs`), replayed over
/// the committed corpus by this crate's tests. The first byte of the input picks a mode:
/// - 0 mod 3: the rest is a `Cookie` header: the session cookie is found and opened;
/// - 1 mod 3: the rest is a session payload (JSON), sealed with the real key and opened, so the
///   fuzzer reaches the payload parsing behind a valid MAC;
/// - 2 mod 3: the rest is `sid\ntoken`, a CSRF check.
///
/// Properties: nothing panics; a cookie opens only when its tag is exactly the MAC of its
/// payload text (no second spelling of a tag), it has not expired, and its session seals and
/// opens to itself; a CSRF token passes only when it is exactly the one made for the session.
#[doc(hidden)]
pub mod fuzz_props {
    use super::*;
    use std::sync::OnceLock;

    /// The cookies' clock.
    pub const NOW: u64 = 1_800_000_000;

    /// Keys over a fixed secret, for the fuzz target.
    pub fn keys() -> &'static CookieKeys {
        static KEYS: OnceLock<CookieKeys> = OnceLock::new();
        KEYS.get_or_init(|| CookieKeys::new("fuzz cookie secret, long enough to be real"))
    }

    /// A cookie value for `payload` (any bytes) with the real MAC.
    pub fn sealed_raw(payload: &[u8]) -> String {
        let payload = B64.encode(payload);
        let tag = hmac::sign(&keys().mac, payload.as_bytes());
        format!("{payload}.{}", B64.encode(tag.as_ref()))
    }

    /// Panics when a property fails.
    pub fn check(data: &[u8]) {
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        match mode % 3 {
            0 => {
                let Ok(header) = std::str::from_utf8(rest) else {
                    return;
                };
                if let Some(value) = find_cookie(header) {
                    assert!(!value.contains(';'), "{header:?}");
                    assert!(header.contains(value));
                    check_open(value);
                }
            }
            1 => check_open(&sealed_raw(rest)),
            _ => {
                let text = String::from_utf8_lossy(rest);
                let (sid, presented) = text.split_once('\n').unwrap_or((&text, ""));
                if keys().csrf_ok(sid, presented) {
                    assert_eq!(presented, keys().csrf_token(sid), "{sid:?}");
                }
            }
        }
    }

    fn check_open(value: &str) {
        let Ok(session) = keys().open(value, NOW) else {
            return;
        };
        let (payload, tag) = value.split_once('.').expect("an opened cookie has a tag");
        let real = B64.encode(hmac::sign(&keys().mac, payload.as_bytes()).as_ref());
        assert_eq!(tag, real, "a second spelling of the tag opened: {value:?}");
        assert!(session.exp > NOW);
        // Sealed again it opens to itself, unless it no longer fits the size cap: `seal` writes
        // every field (`"tier":null` too), so a payload just under the cap can come back over it.
        let again = keys().seal(&session);
        let want = if again.len() > 4096 {
            Err("too-large")
        } else {
            Ok(session)
        };
        assert_eq!(keys().open(&again, NOW), want);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> CookieSession {
        CookieSession {
            sid: "s1".into(),
            sub: "u1".into(),
            uid: None,
            roles: vec!["member".into()],
            tier: None,
            exp: 1000,
            amr: Vec::new(),
            acr: None,
            auth_time: None,
        }
    }

    #[test]
    fn sealed_cookies_open_until_expiry_and_resist_tampering() {
        let keys = CookieKeys::new("cookie secret for tests, long enough");
        let sealed = keys.seal(&session());
        assert_eq!(keys.open(&sealed, 999), Ok(session()));
        assert_eq!(keys.open(&sealed, 1000), Err("expired"));
        let mut forged = session();
        forged.roles = vec!["admin".into()];
        let (_, tag) = sealed.split_once('.').unwrap();
        let forged_payload = B64.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            keys.open(&format!("{forged_payload}.{tag}"), 1),
            Err("bad-signature")
        );
        let other = CookieKeys::new("a different cookie secret, also long");
        assert_eq!(other.open(&sealed, 1), Err("bad-signature"));
        assert_eq!(keys.open("garbage", 1), Err("malformed"));
        assert_eq!(keys.open(&"x".repeat(5000), 1), Err("too-large"));
    }

    #[test]
    fn csrf_tokens_bind_to_the_session() {
        let keys = CookieKeys::new("cookie secret for tests, long enough");
        let t = keys.csrf_token("s1");
        assert!(keys.csrf_ok("s1", &t));
        assert!(!keys.csrf_ok("s2", &t));
        assert!(!keys.csrf_ok("s1", "x"));
        assert!(!keys.csrf_ok("s1", ""));
    }

    #[test]
    fn finds_the_cookie_among_others() {
        assert_eq!(find_cookie("a=1; __Host-palisade=v.t; b=2"), Some("v.t"));
        assert_eq!(find_cookie("palisade=v"), None);
    }
}
