//! What account deletion asks of the store: marking an account deleted (and restoring it within
//! the grace period), purging it through every table that holds it, the tombstones of purged
//! accounts that a backup restore re-applies, and the durable outbox of deletion webhooks.
//!
//! Guarantees, for every backend (checked by `conformance::deletion_suite`):
//! - [`DeletionStore::user_mark_deleted`] disables the account and stamps `deleted_at` once; a
//!   second call changes nothing and reports the first time.
//! - [`DeletionStore::user_purge`] is one write transaction: every row naming the account (see
//!   [`PURGED_TABLES`]), its secrets under `users/{id}/` (every version) and the account itself
//!   go, its tombstone is written, and the outbox message (if any) is queued, all or nothing.
//!   Purging an account that is gone is `false` and writes nothing (the tombstone stays as first
//!   written).
//! - The outbox keeps a message until it is marked delivered, across restarts; messages come out
//!   oldest first among those due.

use crate::StoreResult;
use async_trait::async_trait;
use uuid::Uuid;

/// Every table of the SQL schema that names an account, with the columns that do (`secret_versions`
/// by its path `users/{id}/…`, deleted, and its writer `created_by`, cleared; `users` by its id). The purge deletes through each; the schema test
/// (`sqlite::tests::every_table_is_purged_or_holds_no_account`) fails when a table is added that
/// is in neither this list nor [`TABLES_WITHOUT_ACCOUNTS`].
pub const PURGED_TABLES: &[(&str, &str)] = &[
    ("refresh_tokens", "session_id"),
    ("sessions", "user_id"),
    ("api_keys", "owner_id"),
    ("memberships", "user_id"),
    ("resource_grants", "user_id"),
    ("totp_credentials", "user_id"),
    ("recovery_codes", "user_id"),
    ("mfa_tokens", "user_id"),
    ("federated_identities", "user_id"),
    ("passkeys", "user_id"),
    ("connections", "owner_id"),
    ("email_tokens", "user_id"),
    ("device_grants", "user_id"),
    ("audit_app_keys", "principal"),
    ("secret_versions", "path,created_by"),
    ("users", "id"),
];

/// The tables that hold no account's data, each with why (the audit trail is sealed per subject
/// instead: its records are never rewritten).
pub const TABLES_WITHOUT_ACCOUNTS: &[(&str, &str)] = &[
    ("palisade_meta", "gateway metadata"),
    ("signing_keys", "the gateway's token-signing keys"),
    ("tenants", "tenants"),
    (
        "audit_events",
        "never rewritten: personal fields sealed per subject",
    ),
    ("audit_checkpoints", "signed chain heads"),
    ("audit_purge_gate", "the audit purge's guard"),
    ("data_keys", "wrapped data keys"),
    ("revoked_tokens", "revoked token ids and expiry, no account"),
    ("ip_blocks", "blocked addresses"),
    (
        "erasures",
        "tombstones: an account id and a time, kept on purpose",
    ),
    (
        "deletion_outbox",
        "deletion webhooks: an account id, kept once delivered",
    ),
    (
        "audit_seal_keys",
        "the account's sealing key: destroyed by the erasure (AuditLog::forget_subject) first",
    ),
    ("_sqlx_migrations", "the migration history"),
];

/// What marking an account deleted found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkDeleted {
    /// No account has this id.
    NoSuchAccount,
    /// Marked now (this time).
    Marked(i64),
    /// Already marked, at this time; nothing changed.
    Already(i64),
}

/// A purged account's tombstone: no personal data, only which account and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Erasure {
    /// The account that was purged.
    pub user_id: Uuid,
    /// When (Unix ms).
    pub erased_at: i64,
}

/// A deletion webhook waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// The message's id (also the webhook's idempotency key for the receiver).
    pub id: Uuid,
    /// The account the message is about.
    pub user_id: Uuid,
    /// The event (`user.deleted`).
    pub event: String,
    /// When it was queued (Unix ms).
    pub created_at: i64,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Not tried again before this time (Unix ms).
    pub next_attempt_at: i64,
}

/// Account deletion's reads and writes.
#[async_trait]
pub trait DeletionStore: Send + Sync {
    /// Disables the account and stamps `deleted_at = now` unless it is already marked.
    async fn user_mark_deleted(&self, id: Uuid, now: i64) -> StoreResult<MarkDeleted>;
    /// `None`: no such account; `Some(None)`: not deleted; `Some(Some(t))`: deleted at `t`.
    async fn user_deleted_at(&self, id: Uuid) -> StoreResult<Option<Option<i64>>>;
    /// Clears `deleted_at` and enables the account again, if it is marked deleted; `false`
    /// otherwise (no such account, or not deleted).
    async fn user_restore(&self, id: Uuid, now: i64) -> StoreResult<bool>;
    /// Accounts marked deleted at or before `cutoff`, at most `limit`, oldest first.
    async fn users_deleted_before(&self, cutoff: i64, limit: u32) -> StoreResult<Vec<Uuid>>;
    /// Deletes the account through every table that holds it, writes its tombstone at `now`
    /// and queues `message`, in one transaction. `false`: no such account (nothing written).
    async fn user_purge(
        &self,
        id: Uuid,
        now: i64,
        message: Option<&OutboxMessage>,
    ) -> StoreResult<bool>;
    /// Writes tombstones (a restore re-applying erasures keeps the times it was given);
    /// an existing tombstone is kept.
    async fn erasures_record(&self, erasures: &[Erasure]) -> StoreResult<()>;
    /// Tombstones with `erased_at > after`, oldest first.
    async fn erasures_since(&self, after: i64) -> StoreResult<Vec<Erasure>>;
    /// Outbox messages not delivered and due at `now`, oldest first, at most `limit`.
    async fn outbox_due(&self, now: i64, limit: u32) -> StoreResult<Vec<OutboxMessage>>;
    /// Marks a message delivered; `false`: unknown or already delivered.
    async fn outbox_delivered(&self, id: Uuid, now: i64) -> StoreResult<bool>;
    /// Counts a failed attempt and puts the next one off until `next_attempt_at`.
    async fn outbox_failed(&self, id: Uuid, next_attempt_at: i64, error: &str) -> StoreResult<()>;
    /// Makes the store's files forget what was deleted: SQLite checkpoints and truncates its
    /// write-ahead log (deleted pages are zeroed by `secure_delete`); other backends do nothing.
    async fn erasure_flush(&self) -> StoreResult<()> {
        Ok(())
    }
}
