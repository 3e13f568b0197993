//! What the retention job (the gateway's `retention` module) asks of the store: delete, in
//! bounded batches, the records of one data type that ended at or before a cutoff, count them
//! for a dry run, and find the accounts the inactive-account policy disables.
//!
//! Guarantees, for every backend (checked by `conformance::retention_suite`): one call is one
//! write transaction (or statement) touching at most `limit` rows of each table it names, so no
//! write is held long and the caller commits between batches; a record that ended exactly at
//! the cutoff goes, one that ended a millisecond later stays; nothing still active goes. What
//! "ended" means per type:
//! - [`PurgeKind::Sessions`]: expired or revoked (the earlier); its refresh tokens go with it,
//!   first, so no token outlives its session.
//! - [`PurgeKind::RefreshTokens`]: expired (a rotated token is kept until its expiry: it is
//!   what reuse detection recognises).
//! - [`PurgeKind::Revocations`]: revoked access tokens past their expiry and IP blocks that
//!   ended (the same deletion as [`RevocationStore::revocations_prune`]).
//! - [`PurgeKind::ApiKeys`]: revoked or expired (the earlier).
//! - [`PurgeKind::SecretVersions`]: superseded: a later version of the same path was written.
//!
//! [`RevocationStore::revocations_prune`]: crate::revocations::RevocationStore::revocations_prune

use crate::StoreResult;
use async_trait::async_trait;
use uuid::Uuid;

/// A data type the retention job purges from the store (the audit trail is purged by its
/// writer, behind a signed checkpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PurgeKind {
    /// Sessions that expired or were revoked, with their refresh tokens.
    Sessions,
    /// Refresh tokens past their expiry.
    RefreshTokens,
    /// Revoked-token records and IP blocks that ended.
    Revocations,
    /// API keys revoked or expired.
    ApiKeys,
    /// Secret versions a later version superseded.
    SecretVersions,
}

impl PurgeKind {
    /// Every kind, in the order the job purges them (sessions before the refresh tokens left).
    pub const ALL: [PurgeKind; 5] = [
        PurgeKind::Sessions,
        PurgeKind::RefreshTokens,
        PurgeKind::Revocations,
        PurgeKind::ApiKeys,
        PurgeKind::SecretVersions,
    ];

    /// The name in `[retention]`, logs and metrics (`sessions`, `refresh_tokens`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            PurgeKind::Sessions => "sessions",
            PurgeKind::RefreshTokens => "refresh_tokens",
            PurgeKind::Revocations => "expired_revocations",
            PurgeKind::ApiKeys => "api_keys",
            PurgeKind::SecretVersions => "secret_versions",
        }
    }
}

/// The retention job's reads and bounded deletions.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes at most `limit` records of `kind` (and, for sessions, at most `limit` of their
    /// refresh tokens) that ended at or before `cutoff`, in one transaction; returns how many
    /// records of `kind` went (0: nothing left).
    async fn retention_purge(&self, kind: PurgeKind, cutoff: i64, limit: u32) -> StoreResult<u64>;
    /// How many records of `kind` ended at or before `cutoff` (a dry run's count).
    async fn retention_count(&self, kind: PurgeKind, cutoff: i64) -> StoreResult<u64>;
    /// People's accounts (not service accounts), not disabled, whose last sign-in (or, with
    /// none recorded, creation) is at or before `before`; at most `limit`, by id.
    async fn users_inactive(&self, before: i64, limit: u32) -> StoreResult<Vec<Uuid>>;
}
