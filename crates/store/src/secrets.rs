//! Data keys and the versioned secrets store, as persisted.
//!
//! - [`KeyringStore`]: the field-encryption data keys, only in their wrapped form
//!   ([`WrappedDataKey`]). The backends enforce "at most one primary key" with a unique partial
//!   index, so two replicas rotating at once cannot both win: the loser gets
//!   [`crate::StoreError::Conflict`] and reloads.
//! - [`SecretStore`]: versioned key-value secrets at paths (`tenants/acme/oauth/google`). Values
//!   arrive as field-encryption ciphertexts (`pal1.<key id>.…`, bound by the gateway to the
//!   path and version): the store never sees a plaintext. Metadata is stored as given (it is not
//!   secret). Versions are never overwritten; they are soft-deleted and undeleted, and only the
//!   re-encryption job replaces a ciphertext (compare-and-swap on the old text).
//!
//! Checked by `conformance::secrets_suite` on every backend.

use crate::StoreResult;
use async_trait::async_trait;
use palisade_core::crypto::{KeyState, WrappedDataKey};

/// The text form of a [`KeyState`] in the key table.
pub fn key_state_str(state: KeyState) -> &'static str {
    match state {
        KeyState::Primary => "primary",
        KeyState::DecryptOnly => "decrypt_only",
        KeyState::Retired => "retired",
    }
}

/// Parses [`key_state_str`]'s output.
pub fn parse_key_state(text: &str) -> Option<KeyState> {
    match text {
        "primary" => Some(KeyState::Primary),
        "decrypt_only" => Some(KeyState::DecryptOnly),
        "retired" => Some(KeyState::Retired),
        _ => None,
    }
}

/// The data keys of the field-encryption keyring, stored wrapped under the master key.
#[async_trait]
pub trait KeyringStore: Send + Sync {
    /// Every data key, oldest first (creation time, then id).
    async fn data_keys_list(&self) -> StoreResult<Vec<WrappedDataKey>>;
    /// Stores the first key of a new keyring. [`crate::StoreError::Conflict`] when a primary key
    /// (or a key with this id) exists already: another replica created the keyring first.
    async fn data_key_insert_first(&self, key: &WrappedDataKey) -> StoreResult<()>;
    /// In one transaction: `previous_primary` becomes decrypt-only and `new_primary` (state
    /// primary) is stored. [`crate::StoreError::Conflict`] when `previous_primary` is no longer
    /// the primary key (another replica rotated): nothing changes.
    async fn data_key_rotate(
        &self,
        previous_primary: &str,
        new_primary: &WrappedDataKey,
    ) -> StoreResult<()>;
    /// Retires a decrypt-only key and erases its wrapped bytes, so it can never decrypt again.
    /// False when there is no decrypt-only key with this id.
    async fn data_key_retire(&self, id: &str) -> StoreResult<bool>;
}

/// One stored version of a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretVersion {
    /// Where the secret lives (`app/db/password`).
    pub path: String,
    /// 1, 2, 3, … per path.
    pub version: u32,
    /// The field ciphertext of the value (never the value).
    pub ciphertext: String,
    /// Free-form JSON object given by the writer; not encrypted.
    pub metadata: serde_json::Value,
    /// Unix ms.
    pub created_at: i64,
    /// Who wrote it (user id, key id, `cli`).
    pub created_by: Option<String>,
    /// Unix ms of the soft delete, `None` while live.
    pub deleted_at: Option<i64>,
}

impl std::fmt::Debug for SecretVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretVersion")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("created_at", &self.created_at)
            .field("deleted_at", &self.deleted_at)
            .finish_non_exhaustive()
    }
}

/// A ciphertext's location, for the re-encryption job.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretRef {
    /// The secret's path.
    pub path: String,
    /// The version's number.
    pub version: u32,
}

/// Versioned secrets (`/v1/secrets`), stored as field ciphertexts only.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The highest version stored for `path` (deleted ones included), 0 when none.
    async fn secret_latest_version(&self, path: &str) -> StoreResult<u32>;
    /// Stores a new version. [`crate::StoreError::Conflict`] when `(path, version)` exists (a
    /// concurrent writer took the number: read the latest again and retry).
    async fn secret_insert(&self, secret: &SecretVersion) -> StoreResult<()>;
    /// `version` of `path` (deleted or not); with `None`, the latest version not deleted.
    async fn secret_get(
        &self,
        path: &str,
        version: Option<u32>,
    ) -> StoreResult<Option<SecretVersion>>;
    /// Every version of `path`, oldest first.
    async fn secret_versions(&self, path: &str) -> StoreResult<Vec<SecretVersion>>;
    /// Paths starting with `prefix` (byte-wise) that have at least one version not deleted,
    /// in byte order, at most `limit`, after `after` when given (keyset pagination).
    async fn secret_paths(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<String>>;
    /// Sets (soft delete, `Some(now)`) or clears (undelete, `None`) a version's deletion time.
    /// False when the version does not exist.
    async fn secret_set_deleted(
        &self,
        path: &str,
        version: u32,
        deleted_at: Option<i64>,
    ) -> StoreResult<bool>;
    /// Up to `limit` versions (deleted ones included) after `after`, in (path, version) order,
    /// with their ciphertexts: the re-encryption job's walk.
    async fn secret_ciphertexts(
        &self,
        after: Option<&SecretRef>,
        limit: u32,
    ) -> StoreResult<Vec<(SecretRef, String)>>;
    /// Replaces a version's ciphertext if it is still `old`. False when it changed meanwhile.
    async fn secret_replace_ciphertext(
        &self,
        at: &SecretRef,
        old: &str,
        new: &str,
    ) -> StoreResult<bool>;
    /// How many stored ciphertexts (deleted versions included) are under data key `key_id`.
    async fn secrets_count_by_key(&self, key_id: &str) -> StoreResult<u64>;
}

/// The text every ciphertext under `key_id` starts with (`pal1.<key id>.`).
pub fn key_prefix(key_id: &str) -> String {
    format!("pal1.{key_id}.")
}
