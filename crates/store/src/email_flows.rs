//! The durable side of the e-mail flows: a changed address (sealed like every address, see
//! [`crate::field_crypto`]), when the current address was verified, and the single-use tokens
//! of address verification and password reset (migration 0018).
//!
//! Tokens are stored only as SHA-256 hex digests, found by that digest, never by the token.
//! Guarantees every backend keeps (checked by `conformance::email_flow_suite`): a token is
//! consumed once ([`EmailFlowStore::email_token_consume`] is one conditional update: of two
//! callers racing with the same token exactly one gets it), only for its purpose and only
//! before it expires; revoking a user's outstanding tokens of a purpose spends them all; a
//! changed address starts unverified. Times are Unix milliseconds supplied by the caller.

use crate::StoreResult;
use async_trait::async_trait;
use uuid::Uuid;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTokenPurpose {
    /// Proves the account holder reads its address.
    Verify,
    /// Sets a new password.
    Reset,
}

impl EmailTokenPurpose {
    /// The stored spelling (`verify`, `reset`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Reset => "reset",
        }
    }

    /// Reads the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "verify" => Some(Self::Verify),
            "reset" => Some(Self::Reset),
            _ => None,
        }
    }
}

/// One e-mailed token, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailToken {
    /// SHA-256 hex of the token.
    pub token_hash: String,
    /// Whose account it acts on.
    pub user_id: Uuid,
    /// What it is for.
    pub purpose: EmailTokenPurpose,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds from which it is dead.
    pub expires_at: i64,
    /// When it was used (or revoked); `None` while outstanding.
    pub used_at: Option<i64>,
}

/// The store operations of the e-mail flows.
#[async_trait]
pub trait EmailFlowStore: Send + Sync {
    /// Stores a new token; a hash already present is a conflict.
    async fn email_token_insert(&self, token: &EmailToken) -> StoreResult<()>;
    /// The token with this hash, used or not.
    async fn email_token_get(&self, token_hash: &str) -> StoreResult<Option<EmailToken>>;
    /// Marks the outstanding, unexpired token of this hash and purpose used at `now`; true for
    /// the one caller that did it.
    async fn email_token_consume(
        &self,
        token_hash: &str,
        purpose: EmailTokenPurpose,
        now: i64,
    ) -> StoreResult<bool>;
    /// Spends every outstanding token of the user for `purpose`; returns how many.
    async fn email_tokens_revoke(
        &self,
        user_id: Uuid,
        purpose: EmailTokenPurpose,
        now: i64,
    ) -> StoreResult<u64>;
    /// Deletes at most `limit` tokens that expired at or before `now`; returns how many went.
    async fn email_tokens_prune(&self, now: i64, limit: u32) -> StoreResult<u64>;
    /// Replaces the account's address (normalized by the caller); the new one starts
    /// unverified. False when the user does not exist; a taken address is a
    /// [`crate::StoreError::Conflict`] naming [`crate::identity::CONFLICT_EMAIL`].
    async fn user_set_email(&self, id: Uuid, email: &str, now: i64) -> StoreResult<bool>;
    /// When the account's current address was verified (`None`: not verified, or no user).
    async fn user_email_verified_at(&self, id: Uuid) -> StoreResult<Option<i64>>;
    /// Records the current address verified at `at`; false when the user does not exist.
    async fn user_set_email_verified(&self, id: Uuid, at: i64) -> StoreResult<bool>;
}
