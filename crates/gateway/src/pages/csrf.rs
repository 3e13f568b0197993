//! CSRF protection for the pages' forms, before a session exists: a random nonce in the
//! `__Host-palisade-form` cookie (Secure, HttpOnly, SameSite=Strict) and, in each form, a MAC of
//! that nonce under the cookie keys' CSRF key. A POST passes only when the form's token is the
//! MAC of the cookie it came with (constant-time check), so another site can neither read nor
//! forge it. Signed-in requests are covered by the session's `X-CSRF-Token` check as well.

use crate::identity::cookie::CookieKeys;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http::HeaderMap;

/// The form-nonce cookie.
pub const FORM_COOKIE: &str = "__Host-palisade-form";

/// The nonce this browser holds, and the `Set-Cookie` value when it needed a new one.
pub fn nonce(headers: &HeaderMap) -> (String, Option<String>) {
    match presented(headers) {
        Some(n) => (n, None),
        None => {
            let mut raw = [0u8; 32];
            rand::fill(&mut raw);
            let n = B64.encode(raw);
            let set = format!("{FORM_COOKIE}={n}; Path=/; Secure; HttpOnly; SameSite=Strict");
            (n, Some(set))
        }
    }
}

/// The nonce from the request's cookie, if it is well-formed.
fn presented(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == FORM_COOKIE)
        .map(|(_, v)| v.to_owned())
        .filter(|v| v.len() == 43 && B64.decode(v).is_ok_and(|b| b.len() == 32))
}

/// The form token for `nonce`.
pub fn token(keys: &CookieKeys, nonce: &str) -> String {
    keys.csrf_token(&format!("form:{nonce}"))
}

/// The form's `token` matches the browser's cookie.
pub fn check(keys: &CookieKeys, headers: &HeaderMap, token: &str) -> bool {
    presented(headers).is_some_and(|n| keys.csrf_ok(&format!("form:{n}"), token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::COOKIE, v.parse().unwrap());
        h
    }

    #[test]
    fn tokens_bind_to_the_browser_cookie() {
        let keys = CookieKeys::new("test-cookie-secret-0123456789abcdef");
        let (n, set) = nonce(&HeaderMap::new());
        assert!(set.unwrap().starts_with("__Host-palisade-form="));
        let mine = with_cookie(&format!("a=b; {FORM_COOKIE}={n}"));
        assert_eq!(nonce(&mine), (n.clone(), None));
        let t = token(&keys, &n);
        assert!(check(&keys, &mine, &t));
        let (other, _) = nonce(&HeaderMap::new());
        assert!(!check(
            &keys,
            &with_cookie(&format!("{FORM_COOKIE}={other}")),
            &t
        ));
        assert!(!check(&keys, &HeaderMap::new(), &t));
        assert!(!check(&keys, &mine, ""));
        assert!(!check(
            &keys,
            &with_cookie(&format!("{FORM_COOKIE}=short")),
            &t
        ));
    }
}
