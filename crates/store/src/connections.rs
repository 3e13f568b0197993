//! OAuth connections (issue 18 item 6, migration 0016): a provider's access and refresh tokens
//! that a user or service account connected for the upstream's use.
//!
//! The tokens are stored only as keyring ciphertexts (the gateway seals them bound to the row's
//! id and column; this crate never sees a plaintext token). Guarantees, checked by
//! `conformance::connections_suite` on every backend: a token update is a compare-and-set on
//! `updated_at` (two replicas refreshing at once: one update wins, the other sees `false`); a
//! connection is listed and deleted only by its owner.

use crate::StoreResult;
use async_trait::async_trait;
use uuid::Uuid;

/// One connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    /// Its id (what the owner and the token endpoint name).
    pub id: Uuid,
    /// The user or service account that connected it.
    pub owner_id: Uuid,
    /// The configured provider (`auth.providers[].id`).
    pub provider: String,
    /// The access token, sealed by the keyring.
    pub access_token_enc: String,
    /// The refresh token, sealed by the keyring, when the provider issued one.
    pub refresh_token_enc: Option<String>,
    /// When the access token expires, Unix milliseconds (none: the provider did not say).
    pub expires_at: Option<i64>,
    /// The scopes granted, space-separated.
    pub scopes: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds of the last token change (the compare-and-set value).
    pub updated_at: i64,
}

/// New tokens for a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionTokens {
    /// The sealed access token.
    pub access_token_enc: String,
    /// The sealed refresh token (kept as it was when `None`).
    pub refresh_token_enc: Option<String>,
    /// Its expiry, Unix ms.
    pub expires_at: Option<i64>,
}

/// OAuth connections.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Stores a new connection.
    async fn connection_insert(&self, record: &ConnectionRecord) -> StoreResult<()>;
    /// The connection `id`.
    async fn connection_get(&self, id: Uuid) -> StoreResult<Option<ConnectionRecord>>;
    /// An owner's connections, oldest first.
    async fn connections_of(&self, owner_id: Uuid) -> StoreResult<Vec<ConnectionRecord>>;
    /// Replaces the tokens of `id` when its `updated_at` is still `seen`; false when another
    /// update came first (or the connection is gone).
    async fn connection_update_tokens(
        &self,
        id: Uuid,
        seen: i64,
        tokens: &ConnectionTokens,
        now: i64,
    ) -> StoreResult<bool>;
    /// Deletes `owner_id`'s connection `id`; false when the owner has no such connection.
    async fn connection_delete(&self, owner_id: Uuid, id: Uuid) -> StoreResult<bool>;
}
