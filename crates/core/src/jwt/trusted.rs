//! Tokens from other issuers (Keycloak, Auth0, …). Each trusted issuer has its audiences, its
//! allowed algorithms, a leeway and a key set taken from its JWKS document. Every key is pinned to
//! one algorithm (its JWK `alg`, or the issuer's single configured algorithm), so a token can never
//! pick how its key is used. Symmetric (`oct`) keys are never taken from a JWKS: a published
//! document cannot hold a secret. An unknown `kid` is its own error so the caller can refresh the
//! JWKS and retry (rate-limiting those refreshes is the caller's job).
//!
//! The one exception is a migration window for an application's own HS256 tokens
//! ([`TrustedIssuer::with_shared_secret`]): the secret comes from configuration, never from a
//! JWKS, it is the issuer's only key, and it is pinned to HS256. Such an issuer may also be the
//! one that takes tokens without `iss` ([`TrustedIssuer::matching_missing_iss`]); every other
//! rule (audience, times, subject, size cap) is the same.

use std::sync::{Arc, RwLock};

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use serde_json::{Map, Value};

use super::claims::{lookup, numeric_date, string_list};
use super::token::{DEFAULT_MAX_TOKEN_BYTES, check_times, inspect, verify_signature};
use super::{Algorithm, ClaimNames, ExternalClaims, JwtError};

/// One usable key of an issuer's JWKS, pinned to one algorithm.
struct TrustedKey {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// A trusted external issuer; its key set can be replaced at runtime, verify takes &self.
pub struct TrustedIssuer {
    issuer: String,
    audiences: Vec<String>,
    algorithms: Vec<Algorithm>,
    leeway_secs: u64,
    claims: ClaimNames,
    max_token_bytes: usize,
    keys: RwLock<Arc<Vec<TrustedKey>>>,
    /// The key set is one configured shared secret: a token's `kid` names nothing.
    shared_secret: bool,
    /// A token without `iss` is taken as this issuer's.
    match_missing_iss: bool,
}

impl TrustedIssuer {
    /// An issuer with no keys yet (every token is `UnknownKid` until [`TrustedIssuer::set_jwks`]).
    /// A token must name at least one of `audiences` in its `aud`.
    pub fn new(
        issuer: String,
        audiences: Vec<String>,
        algorithms: Vec<Algorithm>,
        leeway_secs: u64,
        claims: ClaimNames,
    ) -> Self {
        TrustedIssuer {
            issuer,
            audiences,
            algorithms,
            leeway_secs,
            claims,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            keys: RwLock::new(Arc::new(Vec::new())),
            shared_secret: false,
            match_missing_iss: false,
        }
    }

    /// Makes `secret` this issuer's only key, pinned to HS256 (the issuer's algorithms must be
    /// exactly `[HS256]`). Errors on a secret shorter than 32 bytes (RFC 7518 §3.2).
    pub fn with_shared_secret(mut self, secret: &[u8]) -> Result<Self, JwtError> {
        if self.algorithms != [Algorithm::HS256] {
            return Err(JwtError::Key(
                "a shared secret is used with algorithms = [\"HS256\"] only".into(),
            ));
        }
        if secret.len() < super::keys::MIN_HMAC_SECRET {
            return Err(JwtError::Key(
                "an HS256 secret must be at least 32 bytes".into(),
            ));
        }
        self.keys = RwLock::new(Arc::new(vec![TrustedKey {
            kid: None,
            alg: Algorithm::HS256,
            key: DecodingKey::from_secret(secret),
        }]));
        self.shared_secret = true;
        Ok(self)
    }

    /// Takes a token without `iss` as this issuer's (an application that never set one).
    pub fn matching_missing_iss(mut self) -> Self {
        self.match_missing_iss = true;
        self
    }

    /// Does this issuer take tokens without `iss`?
    pub fn matches_missing_iss(&self) -> bool {
        self.match_missing_iss
    }

    /// Refuse tokens longer than `n` bytes before parsing them (default 8192).
    pub fn with_max_token_bytes(mut self, n: usize) -> Self {
        self.max_token_bytes = n;
        self
    }

    /// The issuer whose tokens this verifier accepts (its `iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Replaces the key set from a JWKS JSON document; returns how many keys are usable. Errors on
    /// invalid JSON. Keys that are unusable (unknown type or curve, an algorithm this issuer does
    /// not allow, `use` other than `sig`, symmetric) are skipped.
    pub fn set_jwks(&self, jwks_json: &str) -> Result<usize, JwtError> {
        if self.shared_secret {
            return Err(JwtError::Key(
                "an issuer with a shared secret takes no JWKS".into(),
            ));
        }
        let doc: Value = serde_json::from_str(jwks_json)
            .map_err(|_| JwtError::Key("the JWKS document is not valid JSON".into()))?;
        let entries = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| JwtError::Key("the JWKS document has no `keys` array".into()))?;
        let keys: Vec<TrustedKey> = entries
            .iter()
            .filter_map(|entry| serde_json::from_value::<Jwk>(entry.clone()).ok())
            .filter_map(|jwk| self.usable_key(&jwk))
            .collect();
        let usable = keys.len();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(keys);
        Ok(usable)
    }

    fn usable_key(&self, jwk: &Jwk) -> Option<TrustedKey> {
        if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
            return None;
        }
        let alg = match jwk.common.key_algorithm {
            Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
            Some(KeyAlgorithm::ES256) => Algorithm::ES256,
            Some(KeyAlgorithm::RS256) => Algorithm::RS256,
            Some(_) => return None,
            None => match self.algorithms.as_slice() {
                [only] => *only,
                _ => return None,
            },
        };
        if !self.algorithms.contains(&alg) {
            return None;
        }
        let fits = match (&jwk.algorithm, alg) {
            (AlgorithmParameters::OctetKeyPair(p), Algorithm::EdDSA) => {
                p.curve == EllipticCurve::Ed25519
            }
            (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => {
                p.curve == EllipticCurve::P256
            }
            (AlgorithmParameters::RSA(_), Algorithm::RS256) => true,
            _ => false,
        };
        if !fits {
            return None;
        }
        Some(TrustedKey {
            kid: jwk.common.key_id.clone(),
            alg,
            key: DecodingKey::from_jwk(jwk).ok()?,
        })
    }

    /// Verifies a token of this issuer. `UnknownKid` when the kid is not in the key set (the
    /// caller may refresh the JWKS and retry). A token without `kid` is accepted only when the key
    /// set holds a single key.
    pub fn verify(&self, token: &str, now: u64) -> Result<ExternalClaims, JwtError> {
        self.verify_with_claims(token, now)
            .map(|(claims, _)| claims)
    }

    /// [`TrustedIssuer::verify`], also answering every claim of the verified token (an OpenID
    /// Connect ID token's `nonce`, `azp`, `iat`, `email`, … for the caller's own checks).
    pub fn verify_with_claims(
        &self,
        token: &str,
        now: u64,
    ) -> Result<(ExternalClaims, Map<String, Value>), JwtError> {
        let header = inspect(token, self.max_token_bytes)?;
        if !self.algorithms.contains(&header.alg) {
            return Err(JwtError::AlgorithmNotAllowed);
        }
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner()).clone();
        let named: Vec<&TrustedKey> = match &header.kid {
            // The shared secret is the only key, whatever the token calls it.
            _ if self.shared_secret => keys.iter().collect(),
            Some(kid) => keys
                .iter()
                .filter(|k| k.kid.as_deref() == Some(kid))
                .collect(),
            // Without a kid, only a lone key can be meant.
            None if keys.len() == 1 => keys.iter().collect(),
            None => Vec::new(),
        };
        if named.is_empty() {
            return Err(JwtError::UnknownKid);
        }
        let key = named
            .into_iter()
            .find(|k| k.alg == header.alg)
            .ok_or(JwtError::AlgorithmNotAllowed)?;
        let payload = verify_signature(token, &key.key, key.alg)?;
        let claims: Map<String, Value> =
            serde_json::from_slice(&payload).map_err(|_| JwtError::Malformed)?;
        let checked = self.check(&claims, now)?;
        Ok((checked, claims))
    }

    fn check(&self, claims: &Map<String, Value>, now: u64) -> Result<ExternalClaims, JwtError> {
        match claims.get("iss") {
            None if self.match_missing_iss => {}
            None => return Err(JwtError::MissingClaim("iss")),
            Some(Value::String(iss)) if *iss == self.issuer => {}
            Some(_) => return Err(JwtError::WrongIssuer),
        }
        let accepted = |aud: &Value| {
            aud.as_str()
                .is_some_and(|a| self.audiences.iter().any(|x| x == a))
        };
        match claims.get("aud") {
            None => return Err(JwtError::MissingClaim("aud")),
            Some(Value::Array(auds)) if auds.iter().any(accepted) => {}
            Some(aud @ Value::String(_)) if accepted(aud) => {}
            Some(_) => return Err(JwtError::WrongAudience),
        }
        let exp = numeric_date(claims.get("exp")).ok_or(JwtError::MissingClaim("exp"))?;
        let nbf = match claims.get("nbf") {
            None => None,
            v => Some(numeric_date(v).ok_or(JwtError::Malformed)?),
        };
        check_times(exp, nbf, now, self.leeway_secs)?;
        let sub = lookup(claims, &self.claims.subject)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(JwtError::MissingClaim("sub"))?;
        Ok(ExternalClaims {
            iss: self.issuer.clone(),
            sub: sub.to_owned(),
            roles: string_list(lookup(claims, &self.claims.roles)),
            tenants: string_list(lookup(claims, &self.claims.tenant)),
            exp,
            jti: claims.get("jti").and_then(Value::as_str).map(str::to_owned),
            assurance: claimed_assurance(claims),
        })
    }
}

/// The assurance a token claims (`acr` naming `aal1`/`aal2`, or an `amr` listing `mfa`, and an
/// `auth_time`); whether it counts is the caller's decision (`mfa_claims_trusted`).
fn claimed_assurance(
    claims: &serde_json::Map<String, Value>,
) -> Option<crate::mfa::assurance::Assurance> {
    use crate::mfa::assurance::{Acr, Assurance};
    let amr = string_list(claims.get("amr"));
    let acr = claims
        .get("acr")
        .and_then(Value::as_str)
        .and_then(Acr::parse)
        .or_else(|| amr.iter().any(|m| m == "mfa").then_some(Acr::Aal2))?;
    let auth_time = numeric_date(claims.get("auth_time"))?;
    Some(Assurance {
        amr,
        acr,
        auth_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::{OwnTokens, SigningKey};
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;
    const ISS: &str = "https://idp.example.com/realms/acme";

    /// An "external" issuer simulated with our own signer: the key goes into a JWKS document.
    fn idp(alg: Algorithm, kid: &str) -> (OwnTokens, String) {
        let key = Arc::new(SigningKey::generate(alg, kid.into()).unwrap());
        let signer = OwnTokens::new(ISS.into(), "unused".into(), 0, key, vec![]);
        let jwks = signer.jwks().to_string();
        (signer, jwks)
    }

    fn issuer(algs: Vec<Algorithm>, names: ClaimNames) -> TrustedIssuer {
        TrustedIssuer::new(
            ISS.into(),
            vec!["api".into(), "gateway".into()],
            algs,
            10,
            names,
        )
    }

    fn keycloak_claims() -> Value {
        json!({
            "iss": ISS, "aud": ["account", "gateway"], "sub": "f3b1c2d4", "exp": NOW + 300,
            "iat": NOW, "nbf": NOW, "jti": "abc",
            "realm_access": {"roles": ["offline_access", "admin"]},
            "tenant": "acme", "preferred_username": "alice"
        })
    }

    #[test]
    fn keycloak_style_token_maps_nested_roles() {
        let (signer, jwks) = idp(Algorithm::RS256, "kc-1");
        let names = ClaimNames {
            roles: "realm_access.roles".into(),
            ..ClaimNames::default()
        };
        let trusted = issuer(vec![Algorithm::RS256], names);
        assert_eq!(trusted.set_jwks(&jwks), Ok(1));
        let token = signer.sign_claims(&keycloak_claims()).unwrap();
        let got = trusted.verify(&token, NOW).unwrap();
        assert_eq!(
            got,
            ExternalClaims {
                iss: ISS.into(),
                sub: "f3b1c2d4".into(),
                roles: vec!["offline_access".into(), "admin".into()],
                tenants: vec!["acme".into()],
                exp: NOW + 300,
                jti: Some("abc".into()),
                assurance: None,
            }
        );
    }

    #[test]
    fn auth0_style_namespaced_claims_and_scope_strings() {
        let (signer, jwks) = idp(Algorithm::ES256, "a0");
        let names = ClaimNames {
            subject: "https://example.com/uid".into(),
            roles: "scope".into(),
            tenant: "https://example.com/org".into(),
        };
        let trusted = issuer(vec![Algorithm::ES256, Algorithm::RS256], names);
        assert_eq!(trusted.set_jwks(&jwks), Ok(1));
        let token = signer
            .sign_claims(&json!({
                "iss": ISS, "aud": "api", "sub": "auth0|1", "exp": NOW + 60,
                "https://example.com/uid": "u-9", "scope": "read:orders write:orders",
                "https://example.com/org": ["org-1", "org-2"]
            }))
            .unwrap();
        let got = trusted.verify(&token, NOW).unwrap();
        assert_eq!(got.sub, "u-9");
        assert_eq!(got.roles, ["read:orders", "write:orders"]);
        assert_eq!(got.tenants, ["org-1", "org-2"]);
        assert_eq!(got.jti, None);
    }

    #[test]
    fn keys_without_alg_take_the_single_configured_algorithm_only() {
        let (signer, jwks) = idp(Algorithm::EdDSA, "ed");
        let mut doc: Value = serde_json::from_str(&jwks).unwrap();
        doc["keys"][0].as_object_mut().unwrap().remove("alg");
        let doc = doc.to_string();
        let token = signer.sign_claims(&keycloak_claims()).unwrap();

        let single = issuer(vec![Algorithm::EdDSA], ClaimNames::default());
        assert_eq!(single.set_jwks(&doc), Ok(1));
        assert!(single.verify(&token, NOW).is_ok());

        let several = issuer(
            vec![Algorithm::EdDSA, Algorithm::ES256],
            ClaimNames::default(),
        );
        assert_eq!(several.set_jwks(&doc), Ok(0));
        assert_eq!(several.verify(&token, NOW), Err(JwtError::UnknownKid));
    }

    #[test]
    fn unusable_keys_are_skipped() {
        let (_, rsa) = idp(Algorithm::RS256, "rsa");
        let (_, ec) = idp(Algorithm::ES256, "ec");
        let mut keys: Vec<Value> = Vec::new();
        keys.extend(
            serde_json::from_str::<Value>(&rsa).unwrap()["keys"]
                .as_array()
                .unwrap()
                .clone(),
        );
        keys.extend(
            serde_json::from_str::<Value>(&ec).unwrap()["keys"]
                .as_array()
                .unwrap()
                .clone(),
        );
        let mut enc = keys[0].clone();
        enc["use"] = json!("enc");
        enc["kid"] = json!("enc");
        let mut mislabeled = keys[1].clone(); // an EC key claiming to be RSA
        mislabeled["alg"] = json!("RS256");
        mislabeled["kid"] = json!("mislabeled");
        keys.push(enc);
        keys.push(mislabeled);
        keys.push(json!({"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA", "alg": "HS256", "kid": "oct"}));
        keys.push(json!({"kty": "RSA", "alg": "PS256", "kid": "pss", "n": "AQAB", "e": "AQAB"}));
        keys.push(json!({"kty": "weird", "kid": "w"}));
        keys.push(json!("not even an object"));
        let doc = json!({ "keys": keys }).to_string();

        let trusted = issuer(
            vec![Algorithm::RS256, Algorithm::ES256, Algorithm::HS256],
            ClaimNames::default(),
        );
        assert_eq!(trusted.set_jwks(&doc), Ok(2));
        assert!(trusted.set_jwks("{not json").is_err());
        assert!(trusted.set_jwks(r#"{"keys": 5}"#).is_err());
        assert_eq!(trusted.set_jwks(r#"{"keys": []}"#), Ok(0));
    }

    #[test]
    fn key_set_replacement_drops_old_keys() {
        let (old_signer, old_jwks) = idp(Algorithm::EdDSA, "old");
        let (new_signer, new_jwks) = idp(Algorithm::EdDSA, "new");
        let trusted = issuer(vec![Algorithm::EdDSA], ClaimNames::default());
        trusted.set_jwks(&old_jwks).unwrap();
        let old = old_signer.sign_claims(&keycloak_claims()).unwrap();
        let new = new_signer.sign_claims(&keycloak_claims()).unwrap();
        assert!(trusted.verify(&old, NOW).is_ok());
        assert_eq!(trusted.verify(&new, NOW), Err(JwtError::UnknownKid));
        trusted.set_jwks(&new_jwks).unwrap();
        assert!(trusted.verify(&new, NOW).is_ok());
        assert_eq!(trusted.verify(&old, NOW), Err(JwtError::UnknownKid));
    }

    #[test]
    fn claims_are_checked_against_now_and_config() {
        let (signer, jwks) = idp(Algorithm::EdDSA, "k");
        let trusted = issuer(vec![Algorithm::EdDSA], ClaimNames::default());
        trusted.set_jwks(&jwks).unwrap();
        let with = |patch: Value| {
            let mut c = keycloak_claims();
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    c.as_object_mut().unwrap().remove(k);
                } else {
                    c[k] = v.clone();
                }
            }
            trusted.verify(&signer.sign_claims(&c).unwrap(), NOW)
        };
        assert!(with(json!({})).is_ok());
        assert!(with(json!({"exp": (NOW + 5) as f64 + 0.5})).is_ok());
        assert_eq!(with(json!({"exp": NOW - 10})), Err(JwtError::Expired));
        assert_eq!(with(json!({"nbf": NOW + 11})), Err(JwtError::NotYetValid));
        assert_eq!(
            with(json!({"iss": "https://evil"})),
            Err(JwtError::WrongIssuer)
        );
        assert_eq!(with(json!({"aud": "other"})), Err(JwtError::WrongAudience));
        assert_eq!(
            with(json!({"aud": ["a", "b"]})),
            Err(JwtError::WrongAudience)
        );
        assert_eq!(
            with(json!({"exp": null})),
            Err(JwtError::MissingClaim("exp"))
        );
        assert_eq!(
            with(json!({"exp": "soon"})),
            Err(JwtError::MissingClaim("exp"))
        );
        assert_eq!(
            with(json!({"sub": null})),
            Err(JwtError::MissingClaim("sub"))
        );
        assert_eq!(with(json!({"sub": ""})), Err(JwtError::MissingClaim("sub")));
        assert_eq!(
            with(json!({"iss": null})),
            Err(JwtError::MissingClaim("iss"))
        );
        assert_eq!(
            with(json!({"aud": null})),
            Err(JwtError::MissingClaim("aud"))
        );
    }

    const SECRET: &[u8] = b"the-legacy-app-secret-of-32-bytes!!";

    fn hs256(claims: &Value, kid: Option<&str>, secret: &[u8]) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(
            &header,
            claims,
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    fn legacy_app() -> TrustedIssuer {
        issuer(vec![Algorithm::HS256], ClaimNames::default())
            .with_shared_secret(SECRET)
            .unwrap()
    }

    fn legacy_claims() -> Value {
        json!({"iss": ISS, "aud": "api", "sub": "1001", "exp": NOW + 300})
    }

    #[test]
    fn a_shared_secret_verifies_the_apps_hs256_tokens_whatever_their_kid() {
        let trusted = legacy_app();
        for kid in [None, Some("v1"), Some("anything")] {
            let got = trusted
                .verify(&hs256(&legacy_claims(), kid, SECRET), NOW)
                .unwrap();
            assert_eq!(got.sub, "1001");
        }
        let forged = hs256(
            &legacy_claims(),
            None,
            b"another-secret-of-at-least-32-bytes",
        );
        assert_eq!(trusted.verify(&forged, NOW), Err(JwtError::BadSignature));
        // The other rules stay: audience, times, subject, no JWKS.
        let mut claims = legacy_claims();
        claims["aud"] = json!("other");
        assert_eq!(
            trusted.verify(&hs256(&claims, None, SECRET), NOW),
            Err(JwtError::WrongAudience)
        );
        assert_eq!(
            trusted.verify(&hs256(&legacy_claims(), None, SECRET), NOW + 400),
            Err(JwtError::Expired)
        );
        assert!(trusted.set_jwks(r#"{"keys":[]}"#).is_err());
    }

    #[test]
    fn a_shared_secret_issuer_takes_hs256_only() {
        let (signer, _) = idp(Algorithm::EdDSA, "k");
        let token = signer.sign_claims(&legacy_claims()).unwrap();
        assert_eq!(
            legacy_app().verify(&token, NOW),
            Err(JwtError::AlgorithmNotAllowed)
        );
        let both = issuer(
            vec![Algorithm::HS256, Algorithm::RS256],
            ClaimNames::default(),
        );
        assert!(both.with_shared_secret(SECRET).is_err());
        let short = issuer(vec![Algorithm::HS256], ClaimNames::default());
        assert!(short.with_shared_secret(b"too short").is_err());
    }

    #[test]
    fn a_missing_iss_is_taken_only_where_asked() {
        let mut claims = legacy_claims();
        claims.as_object_mut().unwrap().remove("iss");
        let token = hs256(&claims, None, SECRET);
        assert_eq!(
            legacy_app().verify(&token, NOW),
            Err(JwtError::MissingClaim("iss"))
        );
        let lenient = legacy_app().matching_missing_iss();
        assert!(lenient.matches_missing_iss());
        assert_eq!(lenient.verify(&token, NOW).unwrap().sub, "1001");
        // A token naming another issuer is still refused.
        claims["iss"] = json!("https://elsewhere");
        assert_eq!(
            lenient.verify(&hs256(&claims, None, SECRET), NOW),
            Err(JwtError::WrongIssuer)
        );
        assert_eq!(crate::jwt::peek_issuer_claim(&token, 8192), Ok(None));
        assert_eq!(
            crate::jwt::peek_issuer_claim("not a token", 8192),
            Err(JwtError::Malformed)
        );
    }
}
