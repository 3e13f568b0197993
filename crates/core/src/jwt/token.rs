//! The checks every token goes through before any key touches it: a size cap, the three-part
//! shape, a header that names an allowed algorithm and carries none of the parameters that would
//! let a token choose its own key (`jku`, `x5u`, `jwk`, `x5c`) or demand extensions (`crit`); and
//! the time checks after it, against the caller's `now`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};

use super::{Algorithm, JwtError};

/// Default cap on a token's length, checked before anything is decoded.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8192;

/// Header parameters that make us refuse a token outright: we never fetch or accept keys a token
/// names or embeds, and we implement no critical extensions.
const FORBIDDEN: [&str; 5] = ["jku", "x5u", "jwk", "x5c", "crit"];

/// What the verifiers need from a header that passed [`inspect`].
pub(crate) struct Header {
    pub alg: Algorithm,
    pub kid: Option<String>,
}

/// The three base64url parts of a compact JWS, after the size check.
fn parts(token: &str, max_bytes: usize) -> Result<[&str; 3], JwtError> {
    if token.len() > max_bytes {
        return Err(JwtError::TooLarge);
    }
    let mut it = token.split('.');
    match (it.next(), it.next(), it.next(), it.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() => Ok([h, p, s]),
        _ => Err(JwtError::Malformed),
    }
}

/// Size, shape and header checks; no signature is checked here.
pub(crate) fn inspect(token: &str, max_bytes: usize) -> Result<Header, JwtError> {
    let [header, _, _] = parts(token, max_bytes)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| JwtError::Malformed)?;
    let map: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| JwtError::Malformed)?;
    if let Some(name) = FORBIDDEN.into_iter().find(|name| map.contains_key(*name)) {
        return Err(JwtError::ForbiddenHeader(name));
    }
    // Any name outside our four, `none` in every spelling included, is refused here.
    let alg = match map.get("alg") {
        Some(Value::String(name)) => name.parse()?,
        _ => return Err(JwtError::Malformed),
    };
    let kid = match map.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(JwtError::Malformed),
    };
    Ok(Header { alg, kid })
}

/// Checks the signature of a token that passed [`inspect`] with `key` under `alg` (the algorithm
/// pinned to that key, never the header's own word) and returns the decoded payload.
///
/// This is jsonwebtoken's `crypto::verify`, the check `decode` runs, without `decode`'s second
/// parse of the header and double parse of the claims (~6 µs, 12% of an Ed25519 check here).
pub(crate) fn verify_signature(
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
) -> Result<Vec<u8>, JwtError> {
    let (message, signature) = token.rsplit_once('.').ok_or(JwtError::Malformed)?;
    if !jsonwebtoken::crypto::verify(signature, message.as_bytes(), key, alg.to_jwt())? {
        return Err(JwtError::BadSignature);
    }
    let (_, payload) = message.split_once('.').ok_or(JwtError::Malformed)?;
    URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| JwtError::Malformed)
}

/// `exp` must be after `now` and `nbf` not after it, each with `leeway` seconds of slack.
pub(crate) fn check_times(
    exp: u64,
    nbf: Option<u64>,
    now: u64,
    leeway: u64,
) -> Result<(), JwtError> {
    if now >= exp.saturating_add(leeway) {
        return Err(JwtError::Expired);
    }
    match nbf {
        Some(nbf) if nbf > now.saturating_add(leeway) => Err(JwtError::NotYetValid),
        _ => Ok(()),
    }
}

/// Reads the `iss` of an unverified token cheaply so the gateway can pick the verifier (own vs
/// which trusted issuer). Returns None when unreadable. Size-limited like verify.
///
/// The answer is untrusted: it only chooses which verifier to run, and that verifier checks `iss`.
pub fn peek_issuer(token: &str, max_bytes: usize) -> Option<String> {
    peek_issuer_claim(token, max_bytes).ok().flatten()
}

/// [`peek_issuer`] telling an unreadable token (`Err`) from a readable one without `iss`
/// (`Ok(None)`), which only an issuer with `match_missing_iss` may take.
pub fn peek_issuer_claim(token: &str, max_bytes: usize) -> Result<Option<String>, JwtError> {
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    let [_, payload, _] = parts(token, max_bytes)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| JwtError::Malformed)?;
    Ok(serde_json::from_slice::<Iss>(&bytes)
        .map_err(|_| JwtError::Malformed)?
        .iss)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn with_header(header: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(r#"{"iss":"https://idp"}"#))
    }

    #[test]
    fn shape_is_checked_after_size() {
        assert_eq!(
            inspect(&"a".repeat(9000), 8192).err(),
            Some(JwtError::TooLarge)
        );
        for bad in ["", "a", "a.b", "a.b.c.d", ".b.c", "a..c", "!!.b.c"] {
            assert_eq!(inspect(bad, 8192).err(), Some(JwtError::Malformed), "{bad}");
        }
    }

    #[test]
    fn header_must_name_an_allowed_algorithm() {
        let h = inspect(&with_header(r#"{"alg":"EdDSA","kid":"k1"}"#), 8192).unwrap();
        assert_eq!((h.alg, h.kid.as_deref()), (Algorithm::EdDSA, Some("k1")));
        assert!(
            inspect(&with_header(r#"{"alg":"RS256"}"#), 8192)
                .unwrap()
                .kid
                .is_none()
        );
        assert_eq!(
            inspect(&with_header(r#"{"alg":"HS512"}"#), 8192).err(),
            Some(JwtError::AlgorithmNotAllowed)
        );
        assert_eq!(
            inspect(&with_header(r#"{"typ":"JWT"}"#), 8192).err(),
            Some(JwtError::Malformed)
        );
        assert_eq!(
            inspect(&with_header(r#"{"alg":"EdDSA","kid":7}"#), 8192).err(),
            Some(JwtError::Malformed)
        );
        assert_eq!(
            inspect(&with_header(r#"["alg"]"#), 8192).err(),
            Some(JwtError::Malformed)
        );
    }

    #[test]
    fn forbidden_parameters_are_refused_even_when_null() {
        for name in FORBIDDEN {
            let token = with_header(&format!(r#"{{"alg":"EdDSA","kid":"k","{name}":null}}"#));
            assert_eq!(
                inspect(&token, 8192).err(),
                Some(JwtError::ForbiddenHeader(name))
            );
        }
    }

    #[test]
    fn times_use_the_leeway_on_both_sides() {
        assert_eq!(check_times(100, None, 99, 0), Ok(()));
        assert_eq!(check_times(100, None, 100, 0), Err(JwtError::Expired));
        assert_eq!(check_times(100, None, 104, 5), Ok(()));
        assert_eq!(check_times(100, None, 105, 5), Err(JwtError::Expired));
        assert_eq!(check_times(100, Some(60), 50, 10), Ok(()));
        assert_eq!(
            check_times(100, Some(61), 50, 10),
            Err(JwtError::NotYetValid)
        );
        assert_eq!(
            check_times(u64::MAX, Some(0), u64::MAX - 1, u64::MAX),
            Ok(())
        );
    }

    #[test]
    fn peek_issuer_reads_iss_without_verifying() {
        assert_eq!(
            peek_issuer(&with_header(r#"{"alg":"none"}"#), 8192).as_deref(),
            Some("https://idp")
        );
        assert_eq!(peek_issuer(&with_header(r#"{"alg":"none"}"#), 10), None);
        assert_eq!(peek_issuer("a.b.c", 8192), None);
        let no_iss = format!("{}.{}.", b64("{}"), b64(r#"{"sub":"x"}"#));
        assert_eq!(peek_issuer(&no_iss, 8192), None);
    }
}
