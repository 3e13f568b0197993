//! Second factors (migration 0012): TOTP credentials (the seed as a keyring ciphertext made by
//! the gateway, never plaintext), recovery codes (SHA-256 only), and the short-lived tokens
//! that carry a password sign-in to its second factor (SHA-256 only).
//!
//! Guarantees, checked by `conformance::mfa_suite` on every backend: a credential name is
//! unique per user (`Conflict`); [`MfaStore::totp_use_step`] is one conditional update, so a
//! step (a code) is accepted at most once per credential even from two replicas at once;
//! [`MfaStore::recovery_use`] and [`MfaStore::mfa_token_consume`] succeed once; replacing the
//! recovery codes removes the old set in the same transaction.

use crate::StoreResult;
use crate::identity::TokenHash;
use async_trait::async_trait;
use uuid::Uuid;

/// One TOTP authenticator of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpRecord {
    /// UUIDv7.
    pub id: Uuid,
    /// Whose it is.
    pub user_id: Uuid,
    /// The name the user gave it ("phone"), unique per user.
    pub name: String,
    /// The seed, encrypted by the keyring (bound to this row's id).
    pub seed_enc: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of the first valid code: until then the credential is not a factor.
    pub confirmed_at: Option<i64>,
    /// The last step a code was accepted for; codes of this step or earlier are refused.
    pub last_used_step: Option<i64>,
}

/// A pending sign-in waiting for its second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaTokenRecord {
    /// SHA-256 of the token.
    pub hash: TokenHash,
    /// Who proved their password.
    pub user_id: Uuid,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds after which it is refused.
    pub expires_at: i64,
    /// What the attempt is bound to: the device fingerprint and the client address it came from.
    pub binding: String,
}

/// Second factors.
#[async_trait]
pub trait MfaStore: Send + Sync {
    /// Stores a new (unconfirmed) credential; a name the user already has is `Conflict`.
    async fn totp_insert(&self, record: &TotpRecord) -> StoreResult<()>;
    /// The user's credentials, oldest first.
    async fn totp_for_user(&self, user_id: Uuid) -> StoreResult<Vec<TotpRecord>>;
    /// Records that a code of `step` was accepted (and confirms the credential at `now` if it
    /// was not): only when `step` is later than the last used step. False otherwise (a replay,
    /// or an unknown credential).
    async fn totp_use_step(&self, id: Uuid, step: i64, now: i64) -> StoreResult<bool>;
    /// Deletes one of the user's credentials; false when it has no such credential.
    async fn totp_delete(&self, user_id: Uuid, id: Uuid) -> StoreResult<bool>;
    /// Replaces the user's recovery codes by `hashes` (the old set is gone, used or not).
    async fn recovery_replace(
        &self,
        user_id: Uuid,
        hashes: &[TokenHash],
        now: i64,
    ) -> StoreResult<()>;
    /// Marks one unused code used; false when the user has no such unused code.
    async fn recovery_use(&self, user_id: Uuid, hash: &TokenHash, now: i64) -> StoreResult<bool>;
    /// How many unused codes the user has.
    async fn recovery_remaining(&self, user_id: Uuid) -> StoreResult<u64>;
    /// Deletes every credential and recovery code of the user; how many rows went.
    async fn mfa_reset(&self, user_id: Uuid) -> StoreResult<u64>;
    /// Stores a pending sign-in's token.
    async fn mfa_token_insert(&self, record: &MfaTokenRecord) -> StoreResult<()>;
    /// The pending sign-in of a token, if it is stored and not expired at `now`.
    async fn mfa_token_get(
        &self,
        hash: &TokenHash,
        now: i64,
    ) -> StoreResult<Option<MfaTokenRecord>>;
    /// Deletes the token; true for the one caller that removed it before it expired.
    async fn mfa_token_consume(&self, hash: &TokenHash, now: i64) -> StoreResult<bool>;
}
