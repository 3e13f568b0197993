//! Token signing keys: generated on first start, kept in the store wrapped (AES-256-GCM under a
//! key derived from `secrets.signing_key`, bound to the key id), rotated by
//! `palisade keys rotate-signing`. A retired key no longer signs but stays published in the JWKS
//! until every token it signed has expired.

use crate::config_auth::AuthConfig;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use palisade_core::jwt::{Algorithm, OwnTokens, SigningKey};
use palisade_store::Store;
use palisade_store::identity::SigningKeyRecord;
use std::sync::Arc;

/// Encrypts signing keys before they reach the store.
pub struct KeyWrap(LessSafeKey);

impl KeyWrap {
    pub fn new(signing_secret: &str) -> Self {
        let key = super::derive::derive_key(signing_secret, "signing-key-wrap");
        let unbound = UnboundKey::new(&AES_256_GCM, key.as_ref()).expect("a 32-byte AES key");
        Self(LessSafeKey::new(unbound))
    }

    pub fn wrap(&self, kid: &str, private: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the OS random generator is available");
        let mut sealed = private.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut sealed,
            )
            .expect("sealing a small buffer succeeds");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    pub fn unwrap(&self, kid: &str, wrapped: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
        let fail = || {
            format!(
                "signing key {kid} cannot be decrypted: secrets.signing_key differs from the one it was stored with"
            )
        };
        if wrapped.len() < NONCE_LEN {
            return Err(fail());
        }
        let (nonce, sealed) = wrapped.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail())?;
        let mut buf = zeroize::Zeroizing::new(sealed.to_vec());
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(kid.as_bytes()), buf.as_mut())
            .map_err(|_| fail())?;
        Ok(zeroize::Zeroizing::new(plain.to_vec()))
    }
}

/// Stores a freshly generated key of `alg` and returns its id.
async fn create_key(
    store: &dyn Store,
    wrap: &KeyWrap,
    alg: Algorithm,
    now_ms: i64,
) -> Result<String, String> {
    let kid = uuid::Uuid::now_v7().to_string();
    let key = SigningKey::generate(alg, kid.clone()).map_err(|e| e.to_string())?;
    let record = SigningKeyRecord {
        kid: kid.clone(),
        alg: alg.as_str().to_string(),
        wrapped_private: wrap.wrap(&kid, &key.private_bytes()),
        created_at: now_ms,
        retired_at: None,
    };
    store
        .signing_key_insert(&record)
        .await
        .map_err(|e| e.to_string())?;
    Ok(kid)
}

/// Adds a new signing key and retires the ones signing today. Returns the new key id.
pub async fn rotate(
    store: &dyn Store,
    wrap: &KeyWrap,
    alg: Algorithm,
    now_ms: i64,
) -> Result<String, String> {
    let previous = store.signing_keys_list().await.map_err(|e| e.to_string())?;
    let kid = create_key(store, wrap, alg, now_ms).await?;
    for old in previous.iter().filter(|k| k.retired_at.is_none()) {
        store
            .signing_key_retire(&old.kid, now_ms)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(kid)
}

/// Builds the token signer/verifier from the stored keys, creating the first key (or one of a
/// newly configured algorithm) when needed.
pub async fn load(
    config: &AuthConfig,
    store: &dyn Store,
    wrap: &KeyWrap,
    now_ms: i64,
) -> Result<OwnTokens, String> {
    let mut records = store.signing_keys_list().await.map_err(|e| e.to_string())?;
    let alg_name = config.algorithm.as_str();
    if !records
        .iter()
        .any(|k| k.retired_at.is_none() && k.alg == alg_name)
    {
        rotate(store, wrap, config.algorithm, now_ms).await?;
        records = store.signing_keys_list().await.map_err(|e| e.to_string())?;
    }
    // A retired key is published while tokens it signed may still be presented.
    let grace_ms = (config.access_token_ttl.0 + config.leeway.0).as_millis() as i64;
    let mut published = Vec::new();
    let mut signer = None;
    for record in &records {
        if record.retired_at.is_some_and(|at| at + grace_ms <= now_ms) {
            continue;
        }
        let alg: Algorithm = record
            .alg
            .parse()
            .map_err(|_| format!("signing key {} has unknown algorithm", record.kid))?;
        let private = wrap.unwrap(&record.kid, &record.wrapped_private)?;
        let key = Arc::new(
            SigningKey::from_private_bytes(alg, record.kid.clone(), &private)
                .map_err(|e| format!("signing key {}: {e}", record.kid))?,
        );
        if record.retired_at.is_none() && alg == config.algorithm {
            signer = Some(key.clone()); // records are oldest first: the newest wins
        }
        published.push(key);
    }
    let signer = signer.ok_or("no active signing key")?;
    Ok(OwnTokens::new(
        config.issuer.clone(),
        config.audience.clone(),
        config.leeway.0.as_secs(),
        signer,
        published,
    )
    .with_max_token_bytes(config.max_token_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_keys_open_only_with_the_same_secret_and_kid() {
        let wrap = KeyWrap::new("a secret of some length for testing");
        let sealed = wrap.wrap("kid-1", b"private bytes");
        assert_eq!(
            wrap.unwrap("kid-1", &sealed).unwrap().as_slice(),
            b"private bytes"
        );
        assert!(wrap.unwrap("kid-2", &sealed).is_err(), "bound to the kid");
        let other = KeyWrap::new("another secret of some length too");
        assert!(other.unwrap("kid-1", &sealed).is_err());
        assert!(wrap.unwrap("kid-1", &sealed[..5]).is_err());
    }
}
