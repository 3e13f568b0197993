//! The durable audit trail: records arrive already chained (the gateway's single writer links
//! them), are appended in batches, and are never changed; checkpoints are appended beside them.
//! Checked by `conformance::audit_suite`.

use crate::StoreResult;
use async_trait::async_trait;
use palisade_core::audit::{AuditRecord, Checkpoint};

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends `records` (consecutive sequence numbers) in one transaction, all or nothing.
    /// Fails with [`crate::StoreError::Conflict`] when the first does not follow the stored head.
    async fn audit_append(&self, records: &[AuditRecord]) -> StoreResult<()>;
    /// The last record's sequence number and hash.
    async fn audit_head(&self) -> StoreResult<Option<(u64, [u8; 32])>>;
    /// Up to `limit` records from `from_seq` on, in order.
    async fn audit_range(&self, from_seq: u64, limit: u32) -> StoreResult<Vec<AuditRecord>>;
    async fn audit_checkpoint_put(&self, checkpoint: &Checkpoint) -> StoreResult<()>;
    /// Every checkpoint, by sequence number.
    async fn audit_checkpoints(&self) -> StoreResult<Vec<Checkpoint>>;
    /// Deletes the records up to and including `through` (the retention purge); returns how
    /// many went.
    async fn audit_purge_through(&self, through: u64) -> StoreResult<u64>;
}
