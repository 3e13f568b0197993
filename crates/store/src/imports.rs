//! Bulk account imports (`palisade user import`): batches of accounts from another system,
//! each with its external id, written in one transaction per batch.
//!
//! Guarantees, on every backend (checked by `conformance::identity_suite`): a batch is written
//! whole or not at all (a failure of the store rolls it back); within it each row has its own
//! outcome, in order: inserted with its memberships, skipped because its external id is already
//! present (nothing of the row is written, so re-running an import is idempotent), or refused
//! because its e-mail address is taken by another account. Rows are stored as given: hashes are
//! not touched, e-mails are sealed as [`crate::identity::IdentityStore::user_insert`] seals them.

use crate::StoreResult;
use crate::identity::UserRecord;
use async_trait::async_trait;

/// One account to import, with the tenants it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// The account; its `external_id` should be set (a row without one is never skipped).
    pub user: UserRecord,
    /// `(tenant id, role)`: each tenant must exist.
    pub memberships: Vec<(String, String)>,
}

/// What became of one row of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Written, with its memberships.
    Inserted,
    /// An account with this external id exists: nothing written.
    ExternalIdPresent,
    /// Another account holds this e-mail address: nothing written.
    EmailTaken,
}

/// Bulk imports; checked by the conformance suite.
#[async_trait]
pub trait ImportStore: Send + Sync {
    /// Writes `rows` in one transaction and returns each row's outcome, in order. Two rows of
    /// one batch with the same external id or e-mail: the first wins, the second is skipped or
    /// refused as if the first had been stored before.
    async fn users_import(&self, rows: &[ImportRow]) -> StoreResult<Vec<ImportOutcome>>;
    /// Those of `external_ids` that an account holds (in no particular order).
    async fn users_external_ids_present(&self, external_ids: &[String])
    -> StoreResult<Vec<String>>;
}
