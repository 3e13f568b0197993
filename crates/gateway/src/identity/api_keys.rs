//! API keys: created and shown once, stored as HMAC-SHA256 under the server pepper, verified by
//! one keyed hash and a cache lookup. The cache holds verified keys for `auth.api_keys.cache_ttl`;
//! a revoke drops the entry at once and sets a hot-state flag every replica checks.
//! `last_used_at` is collected in memory and written in batches.
//!
//! A key that is not Palisade's own shape (`pal_` + 64 hex) but starts with one of
//! `auth.api_keys.prefixes` may be an imported key: it is looked up by the same keyed hash first
//! (an imported key that was used once is stored under it), and otherwise verified against the
//! hash it was imported with (`identity/key_auth.rs`).

use crate::config::auth::{ApiKeysConfig, KeyPresentation};
use palisade_core::api_key::{self, Pepper};
use palisade_core::principal::{AuthMethod, Principal};
use palisade_store::identity::{ApiKeyRecord, TokenHash};
use palisade_store::{SharedStore, StoreError};
use std::sync::Arc;
use uuid::Uuid;

/// A verified key and the principal it acts as.
#[derive(Debug)]
pub struct KeyEntry {
    /// The key's id.
    pub id: Uuid,
    /// The account it acts for.
    pub owner_id: Uuid,
    /// Unix milliseconds after which it stops working.
    pub expires_at: Option<i64>,
    /// Who it acts as: the owner, with the key's roles that the owner still holds (its scopes
    /// narrow them further when permissions are checked).
    pub principal: Principal,
}

/// Why a presented API key was not accepted.
#[derive(Debug)]
pub enum KeyError {
    /// Not acceptable, and why (an audit slug): `malformed`, `unknown-key`, `revoked`,
    /// `expired` or `owner-disabled`.
    Invalid(&'static str),
    /// The store could not answer.
    Unavailable(StoreError),
}

/// API-key verification (HMAC under the pepper, a cache in front of the store), revocation and
/// `last_used_at` batching.
pub struct ApiKeys {
    pepper: Pepper,
    store: SharedStore,
    cache: moka::sync::Cache<TokenHash, Arc<KeyEntry>>,
    touched: super::touch_batch::TouchBatch,
    /// How long a rotated key keeps working, in milliseconds.
    pub rotation_overlap_ms: i64,
    /// What names a key's owner as the principal's subject (`auth.subject`).
    subject: crate::config::auth::SubjectSource,
    /// Where a request may carry a key (`auth.api_keys.headers`).
    pub presentation: KeyPresentation,
    /// `auth.api_keys.prefixes`.
    prefixes: Vec<String>,
}

/// The hot-state flag that marks a key revoked.
pub fn revocation_flag(id: Uuid) -> String {
    format!("rv:key:{id}")
}

const PEPPER_META: &str = "apikey.pepper";

/// The pepper every replica hashes API keys with: 32 random bytes stored once, wrapped under the
/// master key. A store that already holds keys from before the pepper was stored keeps the one
/// they were made with (derived from `secrets.signing_key`), so no existing key stops working.
/// Replicas starting together agree through an insert-if-absent.
pub async fn load_or_create_pepper(
    store: &SharedStore,
    wrap: &super::signing::KeyWrap,
    signing_secret: &str,
) -> Result<zeroize::Zeroizing<Vec<u8>>, String> {
    let e = |e: palisade_store::StoreError| format!("API-key pepper: {e}");
    let stored = match store.meta_get(PEPPER_META).await.map_err(e)? {
        Some(hex) => hex,
        None => {
            let pepper = if store.api_keys_list(None).await.map_err(e)?.is_empty() {
                let mut fresh = zeroize::Zeroizing::new(vec![0u8; 32]);
                aws_lc_rs::rand::fill(fresh.as_mut_slice())
                    .map_err(|_| "API-key pepper: no randomness".to_string())?;
                fresh
            } else {
                zeroize::Zeroizing::new(
                    super::derive::derive_key(signing_secret, "api-key-pepper")
                        .as_ref()
                        .to_vec(),
                )
            };
            let wrapped = crate::audit::trail::hex_encode(&wrap.wrap(PEPPER_META, &pepper));
            store
                .meta_put_if_absent(PEPPER_META, &wrapped)
                .await
                .map_err(e)?
        }
    };
    let wrapped = crate::audit::trail::hex_decode(&stored)
        .ok_or_else(|| "API-key pepper: the stored value is not hex".to_string())?;
    wrap.unwrap(PEPPER_META, &wrapped)
        .map_err(|_| "API-key pepper cannot be unwrapped: the master key differs from the one it was stored with".to_string())
}

impl ApiKeys {
    /// Verification under `pepper` (32 bytes), with the cache sized by `config`; fails naming
    /// what is wrong with `auth.api_keys.headers` or `prefixes`.
    pub fn new(config: &ApiKeysConfig, pepper: &[u8], store: SharedStore) -> Result<Self, String> {
        Ok(Self {
            pepper: Pepper::new(pepper),
            store,
            cache: moka::sync::Cache::builder()
                .max_capacity(config.cache_capacity)
                .time_to_live(config.cache_ttl.0)
                .build(),
            touched: Default::default(),
            rotation_overlap_ms: config.rotation_overlap.0.as_millis() as i64,
            subject: Default::default(),
            presentation: config.presentation().map_err(|p| p.join("; "))?,
            prefixes: config.prefixes.clone(),
        })
    }

    /// Whether `presented` may be an imported key: not Palisade's own shape, printable ASCII of
    /// a plausible length, starting with one of `auth.api_keys.prefixes`.
    pub fn legacy_candidate(&self, presented: &str) -> bool {
        (palisade_core::legacy_key::MIN_PREFIX_LEN..=palisade_core::legacy_key::MAX_KEY_LEN)
            .contains(&presented.len())
            && !api_key::looks_like_key(presented)
            && presented.bytes().all(|b| b.is_ascii_graphic())
            && self
                .prefixes
                .iter()
                .any(|p| presented.starts_with(p.as_str()))
    }

    /// Whether a bearer token is a key rather than a JWT: Palisade's prefix or a configured one.
    pub fn is_key_like(&self, token: &str) -> bool {
        token.starts_with(api_key::PREFIX)
            || self.prefixes.iter().any(|p| token.starts_with(p.as_str()))
    }

    /// The keyed hash (HMAC under the pepper) a key is stored and cached under.
    pub fn keyed_hash(&self, presented: &str) -> TokenHash {
        api_key::hash(&self.pepper, presented)
    }

    /// Names key owners by `subject` (`auth.subject`) from now on.
    pub fn with_subject(mut self, subject: crate::config::auth::SubjectSource) -> Self {
        self.subject = subject;
        self
    }

    /// Verifies a presented key. The caller checks the revocation flag.
    pub async fn verify(&self, presented: &str, now_ms: i64) -> Result<Arc<KeyEntry>, KeyError> {
        if !api_key::looks_like_key(presented) && !self.legacy_candidate(presented) {
            return Err(KeyError::Invalid("malformed"));
        }
        let hash = api_key::hash(&self.pepper, presented);
        let entry = match self.cache.get(&hash) {
            Some(entry) => entry,
            None => {
                let entry = Arc::new(self.load(&hash, now_ms).await?);
                self.cache.insert(hash, entry.clone());
                entry
            }
        };
        if entry.expires_at.is_some_and(|at| at <= now_ms) {
            return Err(KeyError::Invalid("expired"));
        }
        self.touched.touch(entry.id, now_ms);
        Ok(entry)
    }

    async fn load(&self, hash: &TokenHash, now_ms: i64) -> Result<KeyEntry, KeyError> {
        let record = self
            .store
            .api_key_by_hash(hash)
            .await
            .map_err(KeyError::Unavailable)?
            .filter(|r| api_key::hashes_equal(&r.hash, hash))
            .ok_or(KeyError::Invalid("unknown-key"))?;
        if record.revoked_at.is_some() {
            return Err(KeyError::Invalid("revoked"));
        }
        if record.expires_at.is_some_and(|at| at <= now_ms) {
            return Err(KeyError::Invalid("expired"));
        }
        let owner = self
            .store
            .user_by_id(record.owner_id)
            .await
            .map_err(KeyError::Unavailable)?
            .filter(|u| !u.disabled)
            .ok_or(KeyError::Invalid("owner-disabled"))?;
        Ok(KeyEntry {
            id: record.id,
            owner_id: owner.id,
            expires_at: record.expires_at,
            principal: Principal {
                subject: super::subject_of(self.subject, &owner),
                account: Some(owner.id),
                method: AuthMethod::ApiKey,
                issuer: String::new(),
                // A key never holds a role its owner lacks, even if the owner lost it later.
                roles: record
                    .roles
                    .iter()
                    .filter(|r| owner.roles.contains(r))
                    .cloned()
                    .collect(),
                tenants: Vec::new(),
                tier: Some(owner.tier.clone()),
                scopes: record.scopes.clone(),
                session_id: None,
                token_id: None,
                key_id: Some(record.id.to_string()),
                expires_at: record.expires_at.map_or(0, |ms| (ms / 1000) as u64),
                assurance: None,
            },
        })
    }

    /// Creates a key; the plaintext is returned once and never stored.
    pub async fn create(
        &self,
        mut record: ApiKeyRecord,
    ) -> Result<(ApiKeyRecord, secrecy::SecretString), StoreError> {
        let fresh = api_key::generate(&self.pepper);
        record.hash = fresh.hash;
        record.prefix = fresh.prefix;
        self.store.api_key_insert(&record).await?;
        Ok((record, fresh.plaintext))
    }

    /// Drops a key from the cache (after a revoke or an expiry change).
    pub fn forget(&self, id: Uuid) {
        self.forget_where(|e| e.id == id);
    }

    /// Drops every key of an owner (disabled, or roles changed).
    pub fn forget_owner(&self, owner_id: Uuid) {
        self.forget_where(|e| e.owner_id == owner_id);
    }

    fn forget_where(&self, pred: impl Fn(&KeyEntry) -> bool) {
        for (hash, entry) in self.cache.iter() {
            if pred(&entry) {
                self.cache.invalidate(&*hash);
            }
        }
    }

    /// Writes the collected `last_used_at` times in one batch.
    pub async fn flush_last_used(&self) {
        self.touched
            .flush("API key use", |batch| async move {
                let written = self.store.api_keys_touch(&batch).await;
                (batch, written)
            })
            .await;
    }
}
