//! Token signing keys: generated on first start, kept in the store wrapped (AES-256-GCM under a
//! key derived from the master key, `PALISADE_MASTER_KEY`, bound to the key id; keys stored
//! before the master key existed still open under `secrets.signing_key`), rotated by
//! `palisade keys rotate-signing`. A retired key no longer signs but stays published in the JWKS
//! until every token it signed has expired.

use crate::config::auth::AuthConfig;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use palisade_core::jwt::{Algorithm, OwnTokens, SigningKey};
use palisade_store::Store;
use palisade_store::identity::SigningKeyRecord;
use std::sync::Arc;

/// Encrypts keys (token signing keys, the audit key, the API-key pepper) before they reach the
/// store: under a key derived from the master key when there is one, so every replica given
/// the same master key opens them. Records wrapped before that (under a key derived from
/// `secrets.signing_key`) still open; new ones are always wrapped under the primary key.
pub struct KeyWrap {
    primary: LessSafeKey,
    legacy: Option<LessSafeKey>,
}

fn aes_key(bytes: &[u8]) -> LessSafeKey {
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("a 32-byte AES key"))
}

impl KeyWrap {
    /// Wrapping under `secrets.signing_key` alone (no master key given).
    pub fn new(signing_secret: &str) -> Self {
        let key = super::derive::derive_key(signing_secret, "signing-key-wrap");
        Self {
            primary: aes_key(key.as_ref()),
            legacy: None,
        }
    }

    /// Wrapping under the master key; records from before it open with `signing_secret`.
    pub fn with_master(master: &palisade_core::crypto::MasterKey, signing_secret: &str) -> Self {
        let key = master.derive("palisade.keywrap.v1");
        let legacy = super::derive::derive_key(signing_secret, "signing-key-wrap");
        Self {
            primary: aes_key(key.as_ref()),
            legacy: Some(aes_key(legacy.as_ref())),
        }
    }

    /// Under the master key when `master` is given, else under `signing_secret`.
    pub fn for_secrets(
        master: Option<&palisade_core::crypto::MasterKey>,
        signing_secret: &str,
    ) -> Self {
        match master {
            Some(m) => Self::with_master(m, signing_secret),
            None => Self::new(signing_secret),
        }
    }

    /// `private` sealed under the master key, bound to `kid`.
    pub fn wrap(&self, kid: &str, private: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the OS random generator is available");
        let mut sealed = private.to_vec();
        self.primary
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

    /// Opens what [`Self::wrap`] sealed for `kid` (older records: under the legacy derivation).
    pub fn unwrap(&self, kid: &str, wrapped: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
        let fail = || {
            format!(
                "signing key {kid} cannot be decrypted: the master key (PALISADE_MASTER_KEY) or, for keys stored before it, secrets.signing_key differs from the one it was stored with"
            )
        };
        if wrapped.len() < NONCE_LEN {
            return Err(fail());
        }
        let (nonce, sealed) = wrapped.split_at(NONCE_LEN);
        for key in std::iter::once(&self.primary).chain(&self.legacy) {
            let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail())?;
            let mut buf = zeroize::Zeroizing::new(sealed.to_vec());
            if let Ok(plain) = key.open_in_place(nonce, Aad::from(kid.as_bytes()), buf.as_mut()) {
                return Ok(zeroize::Zeroizing::new(plain.to_vec()));
            }
        }
        Err(fail())
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

    #[test]
    fn the_master_key_wraps_new_records_and_older_ones_still_open() {
        let secret = "a secret of some length for testing";
        let before = KeyWrap::new(secret).wrap("kid-1", b"old");
        let master = palisade_core::crypto::MasterKey::generate();
        let wrap = KeyWrap::with_master(&master, secret);
        assert_eq!(wrap.unwrap("kid-1", &before).unwrap().as_slice(), b"old");
        let sealed = wrap.wrap("kid-2", b"new");
        assert_eq!(wrap.unwrap("kid-2", &sealed).unwrap().as_slice(), b"new");
        assert!(
            KeyWrap::new(secret).unwrap("kid-2", &sealed).is_err(),
            "new records need the master key"
        );
        let other = KeyWrap::with_master(&palisade_core::crypto::MasterKey::generate(), secret);
        assert!(other.unwrap("kid-2", &sealed).is_err());
        // Another replica with the same master key but another signing secret opens them.
        let replica = KeyWrap::with_master(&master, "a different signing secret entirely");
        assert_eq!(replica.unwrap("kid-2", &sealed).unwrap().as_slice(), b"new");
    }
}
