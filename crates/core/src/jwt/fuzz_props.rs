//! The properties the `jwt` fuzz target checks (`fuzz/fuzz_targets/jwt.rs`), replayed over the
//! committed corpus by this crate's tests.
//!
//! The verifiers are the gateway's two (our own tokens, a trusted issuer's), with fixed test keys,
//! chosen as the gateway chooses them ([`peek_issuer`]) and also each run on every input. The
//! first byte of the input picks a mode:
//! - even: the rest is a token as presented in `Authorization: Bearer`;
//! - odd: the rest is `header JSON 0xFF claims JSON`, made into a token signed by one of the real
//!   keys or by a stranger's key under a real key's `kid` (the byte's upper bits choose), so the
//!   fuzzer reaches the header and claim checks behind a valid signature.
//!
//! Properties: nothing panics; a token that verifies carries no `jku`/`x5u`/`jwk`/`x5c`/`crit`,
//! names the algorithm pinned to its key, and its signature is byte for byte the one the real
//! key makes over its first two parts (Ed25519 and HMAC are deterministic), so an altered or
//! forged token never verifies; its claims passed `iss`, `aud`, `exp` and `nbf` at `NOW`.

use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::{Algorithm, ClaimNames, OwnTokens, SigningKey, TrustedIssuer, peek_issuer};

/// The verifiers' clock.
pub const NOW: u64 = 1_800_000_000;
pub const OWN_ISSUER: &str = "https://palisade.fuzz";
pub const OWN_AUDIENCE: &str = "palisade";
pub const IDP_ISSUER: &str = "https://idp.fuzz";
pub const IDP_AUDIENCE: &str = "gateway";
const LEEWAY: u64 = 30;
const FORBIDDEN: [&str; 5] = ["jku", "x5u", "jwk", "x5c", "crit"];

/// The fixed keys and the verifiers built on them.
pub struct Fixture {
    pub own: OwnTokens,
    pub idp: TrustedIssuer,
    /// Signers for the odd mode: our two keys, the issuer's, and strangers under our kids.
    pub signers: Vec<Arc<SigningKey>>,
    own_keys: Vec<Arc<SigningKey>>,
    idp_keys: Vec<Arc<SigningKey>>,
}

/// An Ed25519 PKCS#8 (v1) key from a 32-byte seed.
fn ed25519(kid: &str, seed: u8) -> Arc<SigningKey> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend((0..32u8).map(|i| i.wrapping_mul(7).wrapping_add(seed)));
    Arc::new(SigningKey::from_private_bytes(Algorithm::EdDSA, kid.into(), &der).expect("Ed25519"))
}

fn hs256(kid: &str, fill: u8) -> Arc<SigningKey> {
    Arc::new(SigningKey::from_private_bytes(Algorithm::HS256, kid.into(), &[fill; 32]).expect("HS"))
}

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let own_ed = ed25519("own-ed", 1);
        let own_hs = hs256("own-hs", 2);
        let idp_ed = ed25519("idp-ed", 3);
        let own = OwnTokens::new(
            OWN_ISSUER.into(),
            OWN_AUDIENCE.into(),
            LEEWAY,
            own_ed.clone(),
            vec![own_hs.clone()],
        );
        let idp = TrustedIssuer::new(
            IDP_ISSUER.into(),
            vec![IDP_AUDIENCE.into()],
            vec![Algorithm::EdDSA, Algorithm::RS256],
            LEEWAY,
            ClaimNames::default(),
        );
        let jwks = json!({"keys": [idp_ed.public_jwk().expect("public")]});
        assert_eq!(idp.set_jwks(&jwks.to_string()), Ok(1));
        let signers = vec![
            own_ed.clone(),
            own_hs.clone(),
            idp_ed.clone(),
            ed25519("own-ed", 9),
            hs256("own-hs", 9),
            ed25519("idp-ed", 9),
        ];
        Fixture {
            own,
            idp,
            signers,
            own_keys: vec![own_ed, own_hs],
            idp_keys: vec![idp_ed],
        }
    })
}

/// `b64(header).b64(claims).signature` with `key`.
pub fn signed(key: &SigningKey, header: &[u8], claims: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), key.encoding(), key.alg().to_jwt())
            .expect("signing with a test key");
    format!("{message}.{signature}")
}

/// Panics when a property fails.
pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let token = if mode & 1 == 0 {
        match std::str::from_utf8(rest) {
            Ok(t) => t.to_owned(),
            Err(_) => return,
        }
    } else {
        let (header, claims) = match rest.iter().position(|&b| b == 0xff) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &b"{}"[..]),
        };
        let key = &f.signers[usize::from(mode >> 1) % f.signers.len()];
        signed(key, header, claims)
    };
    check_token(f, &token);
}

fn check_token(f: &Fixture, token: &str) {
    // As the gateway picks the verifier.
    match peek_issuer(token, super::DEFAULT_MAX_TOKEN_BYTES).as_deref() {
        Some(OWN_ISSUER) => assert_own(f, token),
        Some(IDP_ISSUER) => assert_idp(f, token),
        _ => {}
    }
    // And each verifier on everything.
    assert_own(f, token);
    assert_idp(f, token);
}

fn assert_own(f: &Fixture, token: &str) {
    let Ok(claims) = f.own.verify(token, NOW) else {
        return;
    };
    assert_signed_by_a_real_key(token, &f.own_keys, false);
    assert_eq!(claims.iss, OWN_ISSUER);
    assert_eq!(claims.aud, OWN_AUDIENCE);
    assert!(NOW < claims.exp.saturating_add(LEEWAY), "expired: {token}");
    assert!(claims.nbf <= NOW + LEEWAY, "not yet valid: {token}");
}

fn assert_idp(f: &Fixture, token: &str) {
    let Ok(claims) = f.idp.verify(token, NOW) else {
        return;
    };
    assert_signed_by_a_real_key(token, &f.idp_keys, true);
    assert_eq!(claims.iss, IDP_ISSUER);
    assert!(!claims.sub.is_empty());
    assert!(NOW < claims.exp.saturating_add(LEEWAY), "expired: {token}");
    let payload: Map<String, Value> = part_json(token, 1);
    let aud_ok = match payload.get("aud") {
        Some(Value::String(a)) => a == IDP_AUDIENCE,
        Some(Value::Array(a)) => a.iter().any(|a| a == IDP_AUDIENCE),
        _ => false,
    };
    assert!(aud_ok, "audience: {token}");
}

/// The JSON object in part `i` of a token that verified.
fn part_json(token: &str, i: usize) -> Map<String, Value> {
    let part = token.split('.').nth(i).expect("three parts");
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .expect("verified parts are base64url");
    serde_json::from_slice(&bytes).expect("verified parts are JSON objects")
}

/// The header names a key of `keys` (or none, when `lone_key_without_kid` and there is one key)
/// with its pinned algorithm and no forbidden parameter, and the signature is exactly the one
/// that key makes.
fn assert_signed_by_a_real_key(token: &str, keys: &[Arc<SigningKey>], lone_key_without_kid: bool) {
    assert_eq!(token.split('.').count(), 3, "{token}");
    let header = part_json(token, 0);
    for name in FORBIDDEN {
        assert!(!header.contains_key(name), "verified with {name}: {token}");
    }
    let key = match header.get("kid") {
        Some(Value::String(kid)) => keys.iter().find(|k| k.kid() == kid),
        None if lone_key_without_kid && keys.len() == 1 => keys.first(),
        _ => None,
    }
    .unwrap_or_else(|| panic!("verified without naming a real key: {token}"));
    assert_eq!(
        header.get("alg").and_then(Value::as_str),
        Some(key.alg().as_str()),
        "verified under an algorithm not pinned to its key: {token}"
    );
    let (message, signature) = token.rsplit_once('.').expect("three parts");
    let real = jsonwebtoken::crypto::sign(message.as_bytes(), key.encoding(), key.alg().to_jwt())
        .expect("signing with a test key");
    assert_eq!(
        signature, real,
        "verified a signature the key did not make: {token}"
    );
}
