//! Palisade's own access tokens: signed with the current key, verified against every published
//! key. A token is accepted only if its `kid` names a published key, its `alg` is the one pinned
//! to that key, its signature holds, and `iss`, `aud`, `exp` and `nbf` check out against `now`.

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::Header;
use serde_json::{Value, json};

use super::claims::RawAccessClaims;
use super::token::{DEFAULT_MAX_TOKEN_BYTES, check_times, inspect, verify_signature};
use super::{AccessClaims, JwtError, SigningKey};

/// Signs and verifies Palisade's own tokens.
pub struct OwnTokens {
    issuer: String,
    audience: String,
    leeway_secs: u64,
    signer: Arc<SigningKey>,
    published: HashMap<String, Arc<SigningKey>>,
    max_token_bytes: usize,
}

impl OwnTokens {
    /// `signer`: the key new tokens are signed with; `published`: every key (signer included)
    /// whose tokens are still accepted. The signer is accepted even if `published` omits it.
    pub fn new(
        issuer: String,
        audience: String,
        leeway_secs: u64,
        signer: Arc<SigningKey>,
        published: Vec<Arc<SigningKey>>,
    ) -> Self {
        let mut keys: HashMap<String, Arc<SigningKey>> = published
            .into_iter()
            .map(|k| (k.kid().to_owned(), k))
            .collect();
        keys.insert(signer.kid().to_owned(), signer.clone());
        OwnTokens {
            issuer,
            audience,
            leeway_secs,
            signer,
            published: keys,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }

    /// Refuse tokens longer than `n` bytes before parsing them (default 8192).
    pub fn with_max_token_bytes(mut self, n: usize) -> Self {
        self.max_token_bytes = n;
        self
    }

    /// The `iss` this verifier mints and accepts.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `aud` this verifier mints and accepts.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Signs an access token; the header carries `typ: "JWT"`, the signer's `kid` and `alg`.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, JwtError> {
        self.sign_claims(claims)
    }

    /// Sign arbitrary claims with the current key (used for short-lived identity assertions to
    /// upstreams, with a different audience).
    pub fn sign_claims<T: serde::Serialize>(&self, claims: &T) -> Result<String, JwtError> {
        let mut header = Header::new(self.signer.alg().to_jwt());
        header.kid = Some(self.signer.kid().to_owned());
        let token = jsonwebtoken::encode(&header, claims, self.signer.encoding())?;
        Ok(token)
    }

    /// Verifies one of Palisade's access tokens at `now` (Unix seconds): size cap, header rules,
    /// pinned algorithm, signature, then `exp`/`nbf`, `iss`, `aud` and the required claims.
    pub fn verify(&self, token: &str, now: u64) -> Result<AccessClaims, JwtError> {
        let header = inspect(token, self.max_token_bytes)?;
        let key = header
            .kid
            .and_then(|kid| self.published.get(&kid))
            .ok_or(JwtError::UnknownKid)?;
        if header.alg != key.alg() {
            return Err(JwtError::AlgorithmNotAllowed);
        }
        let payload = verify_signature(token, &key.decoding, key.alg())?;
        let raw: RawAccessClaims =
            serde_json::from_slice(&payload).map_err(|_| JwtError::Malformed)?;
        let claims = raw.require()?;
        if claims.iss != self.issuer {
            return Err(JwtError::WrongIssuer);
        }
        if claims.aud != self.audience {
            return Err(JwtError::WrongAudience);
        }
        check_times(claims.exp, Some(claims.nbf), now, self.leeway_secs)?;
        Ok(claims)
    }

    /// `{"keys": [...]}`: the public JWK of every published asymmetric key, sorted by `kid`.
    pub fn jwks(&self) -> Value {
        let mut keys: Vec<&Arc<SigningKey>> = self.published.values().collect();
        keys.sort_by(|a, b| a.kid().cmp(b.kid()));
        json!({ "keys": keys.iter().filter_map(|k| k.public_jwk()).collect::<Vec<_>>() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::Algorithm;

    const NOW: u64 = 1_800_000_000;

    fn claims() -> AccessClaims {
        AccessClaims {
            sub: "user-1".into(),
            uid: None,
            iss: "https://palisade.test".into(),
            aud: "palisade".into(),
            exp: NOW + 900,
            iat: NOW,
            nbf: NOW,
            jti: "jti-1".into(),
            sid: "sid-1".into(),
            roles: vec!["admin".into(), "user".into()],
            tenants: vec!["acme".into()],
            tier: Some("gold".into()),
            dfp: None,
            amr: Vec::new(),
            acr: None,
            auth_time: None,
        }
    }

    fn tokens(alg: Algorithm) -> OwnTokens {
        let key = Arc::new(SigningKey::generate(alg, format!("{alg}-1")).unwrap());
        OwnTokens::new(
            "https://palisade.test".into(),
            "palisade".into(),
            30,
            key,
            vec![],
        )
    }

    #[test]
    fn every_algorithm_signs_and_verifies() {
        for alg in [
            Algorithm::EdDSA,
            Algorithm::ES256,
            Algorithm::RS256,
            Algorithm::HS256,
        ] {
            let own = tokens(alg);
            let token = own.sign(&claims()).unwrap();
            assert_eq!(own.verify(&token, NOW + 1).unwrap(), claims(), "{alg}");
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.typ.as_deref(), Some("JWT"));
            assert_eq!(header.kid.as_deref(), Some(format!("{alg}-1").as_str()));
            assert_eq!(header.alg, alg.to_jwt());
        }
    }

    #[test]
    fn leeway_applies_to_exp_and_nbf() {
        let own = tokens(Algorithm::EdDSA);
        let token = own.sign(&claims()).unwrap();
        assert!(own.verify(&token, NOW + 900 + 29).is_ok());
        assert_eq!(own.verify(&token, NOW + 900 + 30), Err(JwtError::Expired));
        assert!(own.verify(&token, NOW - 30).is_ok());
        assert_eq!(own.verify(&token, NOW - 31), Err(JwtError::NotYetValid));
    }

    #[test]
    fn rotated_keys_stay_accepted_while_published() {
        let old = Arc::new(SigningKey::generate(Algorithm::EdDSA, "old".into()).unwrap());
        let new = Arc::new(SigningKey::generate(Algorithm::ES256, "new".into()).unwrap());
        let before = OwnTokens::new(
            "https://palisade.test".into(),
            "palisade".into(),
            0,
            old.clone(),
            vec![],
        );
        let token = before.sign(&claims()).unwrap();
        let during = OwnTokens::new(
            "https://palisade.test".into(),
            "palisade".into(),
            0,
            new.clone(),
            vec![old.clone(), new.clone()],
        );
        assert!(during.verify(&token, NOW).is_ok());
        let jwks = during.jwks();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, ["new", "old"]);
        let after = OwnTokens::new(
            "https://palisade.test".into(),
            "palisade".into(),
            0,
            new,
            vec![],
        );
        assert_eq!(after.verify(&token, NOW), Err(JwtError::UnknownKid));
    }

    #[test]
    fn verifiers_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<OwnTokens>();
        shareable::<SigningKey>();
        shareable::<crate::jwt::TrustedIssuer>();
        shareable::<crate::jwt::VerifiedCache<AccessClaims>>();
    }

    #[test]
    fn jwks_leaves_out_hmac_keys() {
        let own = tokens(Algorithm::HS256);
        assert_eq!(own.jwks(), json!({"keys": []}));
    }

    #[test]
    fn assertions_for_upstreams_are_not_access_tokens() {
        let own = tokens(Algorithm::EdDSA);
        let mut assertion = claims();
        assertion.aud = "orders-service".into();
        let token = own.sign_claims(&assertion).unwrap();
        assert_eq!(own.verify(&token, NOW), Err(JwtError::WrongAudience));
    }

    #[test]
    fn token_size_cap_is_configurable() {
        let own = tokens(Algorithm::EdDSA).with_max_token_bytes(64);
        let token = own.sign(&claims()).unwrap();
        assert_eq!(own.verify(&token, NOW), Err(JwtError::TooLarge));
    }
}
