//! The keys that seal personal fields of the audit trail (`palisade_core::audit::sealed`): one
//! per subject (an account id) and one per UTC day for anonymous callers (`day:YYYY-MM-DD`),
//! each stored wrapped by the gateway (the store holds no key in the clear).
//!
//! Guarantees, for every backend (checked by `conformance::seal_key_suite`): a subject has at
//! most one key, and two writers creating one at once end up with the same (the first stored);
//! destroying a key deletes its row, and SQLite (with `secure_delete`) then checkpoints its
//! write-ahead log, so the wrapped bytes leave the database files; a destroyed key is never
//! returned again.

use crate::StoreResult;
use async_trait::async_trait;

/// The subject prefix of the per-day keys of anonymous callers (`day:YYYY-MM-DD`, which sort as
/// their days do).
pub const DAY_PREFIX: &str = "day:";

/// One stored sealing key.
#[derive(Clone, PartialEq, Eq)]
pub struct SealKeyRecord {
    /// The key's id, as sealed values name it.
    pub key_id: String,
    /// Whose fields it seals: an account id, or `day:YYYY-MM-DD`.
    pub subject: String,
    /// When it was made, Unix ms.
    pub created_ms: i64,
    /// The key, wrapped by the gateway (bound to its id).
    pub wrapped: Vec<u8>,
}

impl std::fmt::Debug for SealKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealKeyRecord({} for {})", self.key_id, self.subject)
    }
}

/// Sealing keys of the audit trail; see the module docs.
#[async_trait]
pub trait SealKeyStore: Send + Sync {
    /// The keys of those of `subjects` that have one (in no particular order).
    async fn seal_keys_of(&self, subjects: &[String]) -> StoreResult<Vec<SealKeyRecord>>;
    /// Stores each of `keys` whose subject has none yet, in one transaction; returns every
    /// subject's key (the one given or the one stored first).
    async fn seal_keys_create(&self, keys: &[SealKeyRecord]) -> StoreResult<Vec<SealKeyRecord>>;
    /// The key named `key_id`, if it still exists.
    async fn seal_key_by_id(&self, key_id: &str) -> StoreResult<Option<SealKeyRecord>>;
    /// Destroys `subject`'s key; returns its id, `None` when it had none.
    async fn seal_key_destroy(&self, subject: &str) -> StoreResult<Option<String>>;
    /// Destroys the day keys of every day up to and including `last_day` (`YYYY-MM-DD`);
    /// returns their subjects, in order.
    async fn seal_keys_destroy_days_through(&self, last_day: &str) -> StoreResult<Vec<String>>;

    /// The key of `subject`, if it has one.
    async fn seal_key_of(&self, subject: &str) -> StoreResult<Option<SealKeyRecord>> {
        Ok(self.seal_keys_of(&[subject.to_string()]).await?.pop())
    }
    /// Stores `key` unless its subject has one already; returns the subject's key.
    async fn seal_key_create(&self, key: &SealKeyRecord) -> StoreResult<SealKeyRecord> {
        self.seal_keys_create(std::slice::from_ref(key))
            .await?
            .pop()
            .ok_or_else(|| {
                crate::StoreError::Query(format!(
                    "the key of {} was destroyed meanwhile",
                    key.subject
                ))
            })
    }
}
