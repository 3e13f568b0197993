//! The secrets store: versioned values at paths, encrypted with the keyring before they reach
//! the store, and a TTL'd cache of the latest values.
//!
//! Paths are 1-16 segments of `[a-z0-9_.-]` joined by `/` (at most 512 bytes; no empty, `.` or
//! `..` segment), e.g. `tenants/acme/oauth/google`. A path under `tenants/{id}/` belongs to that
//! tenant (see [`tenant_of`]).
//!
//! Each version's value is a field ciphertext whose associated data binds the path and version
//! ([`crate::protect::keyring::secret_context`]): a ciphertext copied to another path or version does not
//! decrypt. Writes take the next version number; two writers racing for one number both succeed
//! (the loser takes the next). Deletes are soft and undone by undelete.
//!
//! Cache: the latest live version of a path, decrypted, for `secret_store.cache_ttl`; every
//! write, delete and undelete of the path through this process drops it. Another replica's write
//! is seen when the entry expires. Cached values are [`SecretString`]s (zeroized when dropped).
//!
//! Guarantees: values never appear in `Debug`, logs or errors.

use crate::protect::keyring::{KeyringError, KeyringService, secret_context, secret_row_id};
use palisade_core::clock::SharedClock;
use palisade_store::secrets::SecretVersion;
use palisade_store::{SharedStore, StoreError};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One version of a secret as administrators see it: never its value.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct VersionMeta {
    /// The version number, from 1.
    pub version: u32,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Who wrote it.
    pub created_by: Option<String>,
    /// Unix milliseconds of its soft deletion; `null` while live.
    pub deleted_at: Option<i64>,
    /// The metadata written with it.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
}

/// Longest secret path, in bytes.
pub const MAX_PATH_LEN: usize = 512;
/// Most segments in a secret path.
pub const MAX_SEGMENTS: usize = 16;
/// Version numbers a write tries before giving up on concurrent writers.
const PUT_ATTEMPTS: usize = 16;
/// Largest value accepted (bytes of UTF-8).
pub const MAX_VALUE_LEN: usize = 32 << 10;

/// Is `path` a valid secret path (see the module documentation)? A path under `tenants/` must
/// name a tenant and something in it (`tenants/{id}/…`), so no path is ambiguous between global
/// and tenant scope.
pub fn valid_path(path: &str) -> bool {
    ((path != "tenants" && !path.starts_with("tenants/")) || tenant_of(path).is_some())
        && !path.is_empty()
        && path.len() <= MAX_PATH_LEN
        && path.split('/').count() <= MAX_SEGMENTS
        && path.split('/').all(|s| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
                })
        })
}

/// The tenant a path belongs to: `tenants/{id}/…` → `id`.
pub fn tenant_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("tenants/")?;
    let (tenant, tail) = rest.split_once('/')?;
    (!tenant.is_empty() && !tail.is_empty()).then_some(tenant)
}

/// Why a secrets-store operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The path breaks the naming rule.
    #[error("not a valid secret path: use 1-{MAX_SEGMENTS} segments of a-z 0-9 _ . - joined by /")]
    InvalidPath,
    /// The value is too large.
    #[error("the value is larger than {MAX_VALUE_LEN} bytes")]
    TooLarge,
    /// Metadata that is not a JSON object.
    #[error("metadata must be a JSON object")]
    InvalidMetadata,
    /// No such path or version.
    #[error("no such secret or version")]
    NotFound,
    /// The version is soft-deleted.
    #[error("this version is deleted; undelete it to read it")]
    Deleted,
    /// The stored value does not decrypt (tampered, copied, retired key).
    #[error("the stored value does not decrypt: {0}")]
    Undecryptable(KeyringError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One decrypted version.
#[derive(Debug, Clone)]
pub struct Secret {
    /// The secret's path.
    pub path: String,
    /// The version's number.
    pub version: u32,
    /// Shown only through [`ExposeSecret`]; `Debug` prints `[REDACTED]`.
    pub value: SecretString,
    /// Free-form JSON object given by the writer.
    pub metadata: serde_json::Value,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Who wrote it.
    pub created_by: Option<String>,
    /// Where the value's ciphertext names its data key (for audit details).
    pub key_id: String,
}

struct Cached {
    expires_ms: u64,
    secret: Secret,
}

/// The secrets store (`/v1/secrets`): versioned values sealed under the keyring, a short cache of
/// decrypted latest versions.
pub struct Vault {
    store: SharedStore,
    keyring: Arc<KeyringService>,
    clock: SharedClock,
    ttl: Duration,
    cache: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// `ttl` zero turns the cache off.
    pub fn new(
        store: SharedStore,
        keyring: Arc<KeyringService>,
        clock: SharedClock,
        ttl: Duration,
    ) -> Self {
        Self {
            store,
            keyring,
            clock,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The keyring the vault seals with.
    pub fn keyring(&self) -> &Arc<KeyringService> {
        &self.keyring
    }

    fn invalidate(&self, path: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(path);
    }

    /// Stores `value` as the next version of `path`; returns the version number.
    pub async fn put(
        &self,
        path: &str,
        value: &SecretString,
        metadata: serde_json::Value,
        actor: Option<String>,
    ) -> Result<Secret, VaultError> {
        if !valid_path(path) {
            return Err(VaultError::InvalidPath);
        }
        if value.expose_secret().len() > MAX_VALUE_LEN {
            return Err(VaultError::TooLarge);
        }
        let metadata = match metadata {
            serde_json::Value::Null => serde_json::json!({}),
            m @ serde_json::Value::Object(_) => m,
            _ => return Err(VaultError::InvalidMetadata),
        };
        self.invalidate(path);
        for _ in 0..PUT_ATTEMPTS {
            let version = self.store.secret_latest_version(path).await? + 1;
            let row_id = secret_row_id(path, version);
            let ciphertext = self
                .keyring
                .encrypt(&secret_context(&row_id), value.expose_secret().as_bytes());
            let record = SecretVersion {
                path: path.to_string(),
                version,
                ciphertext,
                metadata: metadata.clone(),
                created_at: self.clock.now_millis() as i64,
                created_by: actor.clone(),
                deleted_at: None,
            };
            match self.store.secret_insert(&record).await {
                Ok(()) => return Ok(to_secret(record, value.clone())),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(VaultError::Store(StoreError::Conflict(format!(
            "{path}: {PUT_ATTEMPTS} writers raced for the next version; retry"
        ))))
    }

    /// The latest live version of `path`, or `version` (refused when deleted).
    pub async fn get(&self, path: &str, version: Option<u32>) -> Result<Secret, VaultError> {
        if !valid_path(path) {
            return Err(VaultError::InvalidPath);
        }
        let now = self.clock.now_millis();
        if version.is_none()
            && let Some(hit) = self
                .cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(path)
                .filter(|c| c.expires_ms > now)
        {
            return Ok(hit.secret.clone());
        }
        let record = self
            .store
            .secret_get(path, version)
            .await?
            .ok_or(VaultError::NotFound)?;
        if record.deleted_at.is_some() {
            return Err(VaultError::Deleted);
        }
        let row_id = secret_row_id(path, record.version);
        let plain = self
            .keyring
            .decrypt(&secret_context(&row_id), &record.ciphertext)
            .await
            .map_err(VaultError::Undecryptable)?;
        let text = String::from_utf8(plain.to_vec()).map_err(|_| {
            VaultError::Undecryptable(KeyringError::Crypto(
                palisade_core::crypto::CryptoError::Malformed,
            ))
        })?;
        let secret = to_secret(record, SecretString::from(text));
        if version.is_none() && !self.ttl.is_zero() {
            self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(
                path.to_string(),
                Cached {
                    expires_ms: now.saturating_add(self.ttl.as_millis() as u64),
                    secret: secret.clone(),
                },
            );
        }
        Ok(secret)
    }

    /// Paths under `prefix` with a live version, in byte order, at most `limit` after `after`.
    pub async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, VaultError> {
        Ok(self.store.secret_paths(prefix, after, limit).await?)
    }

    /// What administrators may know of `path` without its value: every version's number,
    /// times, author and metadata (never the ciphertext). Empty when the path has no version.
    pub async fn versions_meta(&self, path: &str) -> Result<Vec<VersionMeta>, VaultError> {
        let versions = self.store.secret_versions(path).await?;
        Ok(versions
            .into_iter()
            .map(|v| VersionMeta {
                version: v.version,
                created_at: v.created_at,
                created_by: v.created_by,
                deleted_at: v.deleted_at,
                metadata: v.metadata,
            })
            .collect())
    }

    /// Soft-deletes `version`, or the latest live version; returns the version deleted.
    pub async fn delete(&self, path: &str, version: Option<u32>) -> Result<u32, VaultError> {
        if !valid_path(path) {
            return Err(VaultError::InvalidPath);
        }
        let record = self
            .store
            .secret_get(path, version)
            .await?
            .ok_or(VaultError::NotFound)?;
        self.invalidate(path);
        if record.deleted_at.is_none() {
            let now = self.clock.now_millis() as i64;
            self.store
                .secret_set_deleted(path, record.version, Some(now))
                .await?;
        }
        Ok(record.version)
    }

    /// Undoes the soft delete of `version`.
    pub async fn undelete(&self, path: &str, version: u32) -> Result<(), VaultError> {
        if !valid_path(path) {
            return Err(VaultError::InvalidPath);
        }
        self.invalidate(path);
        if self.store.secret_set_deleted(path, version, None).await? {
            Ok(())
        } else {
            Err(VaultError::NotFound)
        }
    }
}

fn to_secret(record: SecretVersion, value: SecretString) -> Secret {
    Secret {
        key_id: palisade_core::crypto::key_id_of(&record.ciphertext)
            .unwrap_or_default()
            .to_string(),
        path: record.path,
        version: record.version,
        value,
        metadata: record.metadata,
        created_at: record.created_at,
        created_by: record.created_by,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        for ok in [
            "a",
            "tenants/acme/oauth/google",
            "x/y.z/a_b-c",
            "global/db.password",
        ] {
            assert!(valid_path(ok), "{ok}");
        }
        for bad in [
            "", "/a", "a/", "a//b", "A/b", "a/../b", "a/./b", "a b", "a@v1", "a#b",
        ] {
            assert!(!valid_path(bad), "{bad}");
        }
        assert!(valid_path(&["s"; 16].join("/")));
        assert!(!valid_path(&["s"; 17].join("/")));
        assert!(!valid_path(&"a".repeat(513)));
        assert!(
            !valid_path("tenants"),
            "tenant scope needs an id and a name"
        );
        assert!(!valid_path("tenants/acme"));
        assert!(valid_path("tenants/acme/x"));
        assert!(valid_path("tenantsx/acme"));
        assert_eq!(tenant_of("tenants/acme/oauth/google"), Some("acme"));
        assert_eq!(tenant_of("tenants/acme"), None);
        assert_eq!(tenant_of("tenantsx/acme/a"), None);
        assert_eq!(tenant_of("global/a"), None);
    }
}
