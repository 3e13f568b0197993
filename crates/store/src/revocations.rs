//! The durable record of revocations and IP blocks: what the hot state's flags (`rv:jti:*`,
//! `rv:sid:*`, `rv:key:*`, `fw:block:*`) are primed from when it starts empty (a restart of the
//! embedded gateway, a flushed or replaced Redis).
//!
//! Revoked sessions and API keys are their own records (`sessions.revoked_at`,
//! `api_keys.revoked_at`); revoked access tokens and IP blocks have tables of their own
//! (migration 0008), each row living until its expiry and pruned after it. Times are Unix
//! milliseconds supplied by the caller. Checked by `conformance::revocation_suite`.

use crate::StoreResult;
use async_trait::async_trait;
use uuid::Uuid;

/// One revoked access token, kept until the token would have expired anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedToken {
    /// The token's `jti`.
    pub jti: String,
    /// When the record may go: the token's expiry plus leeway.
    pub expires_at: i64,
    /// Unix milliseconds.
    pub revoked_at: i64,
}

/// A blocked client address until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpBlockRecord {
    /// The address as `IpAddr` displays it.
    pub ip: String,
    /// Unix milliseconds when the block ends.
    pub until: i64,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Who placed it: `brute_force`, `alert`, … (for operators).
    pub reason: String,
}

/// A session or API key and when it was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revoked {
    /// The session's or key's id.
    pub id: Uuid,
    /// Unix milliseconds.
    pub revoked_at: i64,
}

/// The durable record of revocations and IP blocks that hot state is primed from.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Records a revoked token. Idempotent: revoking it again keeps the later expiry.
    async fn token_revoke(&self, token: &RevokedToken) -> StoreResult<()>;
    /// Revoked tokens whose record has not expired at `now`, by jti.
    async fn revoked_tokens_active(&self, now: i64) -> StoreResult<Vec<RevokedToken>>;
    /// Sessions revoked at or after `since`, by id.
    async fn sessions_revoked_since(&self, since: i64) -> StoreResult<Vec<Revoked>>;
    /// API keys revoked at or after `since`, by id.
    async fn api_keys_revoked_since(&self, since: i64) -> StoreResult<Vec<Revoked>>;
    /// Places a block, or lengthens the address's block: a shorter one never shortens it.
    async fn ip_block_put(&self, block: &IpBlockRecord) -> StoreResult<()>;
    /// Lifts the address's block; true when a record existed.
    async fn ip_block_remove(&self, ip: &str) -> StoreResult<bool>;
    /// Blocks still in force at `now`, by address.
    async fn ip_blocks_active(&self, now: i64) -> StoreResult<Vec<IpBlockRecord>>;
    /// Deletes at most `limit` revoked-token records and at most `limit` blocks that ended at or
    /// before `now` (bounded work per call); returns how many went.
    async fn revocations_prune(&self, now: i64, limit: u32) -> StoreResult<u64>;
}
