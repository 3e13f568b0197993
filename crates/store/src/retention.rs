//! What the retention job (the gateway's `retention` module) asks of the store: delete, in
//! bounded batches, the records of one data type that ended at or before a cutoff, count them
//! for a dry run, and find the accounts the inactive-account policy disables.
//!
//! Guarantees, for every backend (checked by `conformance::retention_suite`): one call is one
//! write transaction (or statement) whose work is bounded by its `span`, so no write is held
//! long and the caller commits between batches (and may size the next span by the time the
//! last one took); a record that ended exactly at the cutoff goes, one that ended a millisecond
//! later stays; nothing still active goes; a purge followed from the start to its end (each
//! batch given the cursor the last returned) leaves nothing of its kind that ended at the
//! cutoff.
//!
//! Sessions, refresh tokens and API keys — the tables that grow with traffic — are purged by
//! **window**: each batch examines the next `span` rows in the table's key order after the
//! cursor and deletes the ended ones among them, so a batch costs its own window only (never a
//! search past the rows earlier batches deleted, which PostgreSQL keeps as dead tuples until
//! vacuum) however sparse the ended rows are. The small tables (revocations, secret versions)
//! delete up to `span` ended rows found from the start.
//!
//! What "ended" means per type:
//! - [`PurgeKind::Sessions`]: expired or revoked (the earlier); its refresh tokens go with it,
//!   first and in the same transaction, so no token outlives its session (they are not counted
//!   in the span: a session has as many as it was refreshed).
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

/// Where a purge of one kind continues: made by the store, handed back unchanged by the caller
/// (the last key a window examined; empty: the start).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeCursor(pub(crate) Option<String>);

impl PurgeCursor {
    /// The start of the table.
    pub fn start() -> Self {
        Self(None)
    }
}

/// What one purge batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeStep {
    /// Records of the kind deleted.
    pub deleted: u64,
    /// Where the next batch starts; `None`: the purge of this kind is complete.
    pub next: Option<PurgeCursor>,
}

impl PurgeStep {
    /// A batch of a purge by count: complete once a batch finds nothing.
    pub(crate) fn by_count(deleted: u64) -> Self {
        Self {
            deleted,
            next: (deleted > 0).then(PurgeCursor::start),
        }
    }
}

/// The retention job's reads and bounded deletions.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// One batch, in one transaction, of the purge of the records of `kind` that ended at or
    /// before `cutoff`, continuing at `from`: by window (sessions, refresh tokens, API keys: the
    /// next `span` rows after `from` examined) or by count (the others: at most `span` records
    /// deleted); see the module docs.
    async fn retention_purge(
        &self,
        kind: PurgeKind,
        cutoff: i64,
        from: &PurgeCursor,
        span: u32,
    ) -> StoreResult<PurgeStep>;
    /// How many records of `kind` ended at or before `cutoff` (a dry run's count).
    async fn retention_count(&self, kind: PurgeKind, cutoff: i64) -> StoreResult<u64>;
    /// People's accounts (not service accounts), not disabled, whose last sign-in (or, with
    /// none recorded, creation) is at or before `before`; at most `limit`, by id.
    async fn users_inactive(&self, before: i64, limit: u32) -> StoreResult<Vec<Uuid>>;
}
