//! API keys imported by the hash another system stored (migration 0010): an ordinary
//! `api_keys` row (owner, scopes, expiry, revocation) plus the key's lookup prefix and the
//! other system's hash, until the key's first successful use moves it to the native HMAC.
//!
//! Guarantees, checked by `conformance::legacy_key_suite` on every backend: lookup prefixes are
//! unique (a second insert is [`crate::StoreError::Conflict`], and a batch is all or nothing);
//! [`LegacyKeyStore::legacy_key_for`] finds a key by one ordered seek (the greatest stored
//! prefix at or below the presented key), which is exact because the importer never stores a
//! prefix of another stored prefix; [`LegacyKeyStore::legacy_prefix_neighbours`] answers a
//! whole import batch in one query; [`LegacyKeyStore::legacy_key_migrate`] happens once.

use crate::StoreResult;
use crate::identity::{ApiKeyRecord, TokenHash};
use async_trait::async_trait;
use uuid::Uuid;

/// An imported key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyKeyRecord {
    /// The key's row (its `hash` is a random placeholder until migrated, `prefix` the lookup
    /// prefix).
    pub key: ApiKeyRecord,
    /// The key's visible leading characters: what finds it.
    pub lookup_prefix: String,
    /// The other system's hash (`palisade_core::legacy_key::LegacyHash` text); `None` once the
    /// key was migrated to the native HMAC.
    pub legacy_hash: Option<String>,
}

/// A stored lookup prefix and the owner of its key (what an import's ambiguity check needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPrefix {
    /// The lookup prefix.
    pub lookup_prefix: String,
    /// The owner of the key it finds.
    pub owner_id: Uuid,
}

/// Imported API keys.
#[async_trait]
pub trait LegacyKeyStore: Send + Sync {
    /// Stores imported keys in one transaction (multi-row inserts): all or none (a taken
    /// prefix or hash: `Conflict`).
    async fn legacy_keys_insert(&self, keys: &[LegacyKeyRecord]) -> StoreResult<()>;
    /// The one key whose lookup prefix `presented` starts with, migrated or not.
    async fn legacy_key_for(&self, presented: &str) -> StoreResult<Option<LegacyKeyRecord>>;
    /// The stored lookup prefixes nearest each of `prefixes`: for each, the greatest at or
    /// below it and the least at or above it (what an import checks for equality and prefix
    /// ambiguity), deduplicated and in byte order, in one query. Since stored prefixes never
    /// start with one another, a stored prefix equal to, starting with, or starting one of
    /// `prefixes` is always among them.
    async fn legacy_prefix_neighbours(&self, prefixes: &[String])
    -> StoreResult<Vec<StoredPrefix>>;
    /// Moves a key to the native lookup: `hash` stored, the legacy hash deleted. False when it
    /// was already migrated (or is unknown).
    async fn legacy_key_migrate(&self, id: Uuid, hash: &TokenHash) -> StoreResult<bool>;
}

/// Whether `presented` starts with the record's lookup prefix (what a seek result must pass).
pub fn prefix_matches(record: &LegacyKeyRecord, presented: &str) -> bool {
    presented.starts_with(record.lookup_prefix.as_str())
}
