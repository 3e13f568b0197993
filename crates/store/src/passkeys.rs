//! Passkeys (WebAuthn credentials) of Palisade accounts (migration 0015). A row holds the
//! credential's id, its owner, the name its owner gave it, the serialized credential
//! (public key, algorithm, flags: nothing secret) and its signature counter.
//!
//! Guarantees, checked by `conformance::passkey_suite` on every backend: credential ids are
//! unique across all accounts (a second insert is [`crate::StoreError::Conflict`]); an account
//! may hold several passkeys; [`PasskeyStore::passkey_record_use`] is a compare-and-set on the
//! counter, so two sign-ins presenting the same counter value cannot both succeed; deleting a
//! user's passkey needs its owner's id.

use crate::StoreResult;
use async_trait::async_trait;
use uuid::Uuid;

/// A stored passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    /// Palisade's id for the passkey.
    pub id: Uuid,
    /// The account it signs in.
    pub user_id: Uuid,
    /// The authenticator's credential id (unique).
    pub credential_id: Vec<u8>,
    /// What its owner calls it.
    pub name: String,
    /// The credential as the WebAuthn library serializes it (JSON).
    pub credential: String,
    /// The last signature counter seen (0 for authenticators that keep none).
    pub sign_count: i64,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms of the last sign-in with it.
    pub last_used_at: Option<i64>,
}

/// Passkeys.
#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// Stores a new passkey (a taken credential id: `Conflict`).
    async fn passkey_insert(&self, passkey: &PasskeyRecord) -> StoreResult<()>;
    /// An account's passkeys, oldest first.
    async fn passkeys_for_user(&self, user_id: Uuid) -> StoreResult<Vec<PasskeyRecord>>;
    /// The passkey with this credential id.
    async fn passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> StoreResult<Option<PasskeyRecord>>;
    /// Records a sign-in: the new credential state and counter, only when the stored counter is
    /// still `seen_count` (else false: another sign-in got there first, or the row is gone).
    async fn passkey_record_use(
        &self,
        id: Uuid,
        seen_count: i64,
        new_count: i64,
        credential: &str,
        at: i64,
    ) -> StoreResult<bool>;
    /// Deletes one of `user_id`'s passkeys; false when it has no such passkey.
    async fn passkey_delete(&self, user_id: Uuid, id: Uuid) -> StoreResult<bool>;
}
