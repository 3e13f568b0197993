//! The durable audit trail: records arrive already chained (the gateway's single writer links
//! them), are appended in batches, and are never changed; checkpoints are appended beside them.
//! Checked by `conformance::audit_suite`.

use crate::StoreResult;
use async_trait::async_trait;
use palisade_core::audit::{AuditRecord, Checkpoint};

/// Which records a query wants; every field set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Records of this event type.
    pub event_type: Option<String>,
    /// Records by this actor.
    pub actor: Option<String>,
    /// Records about this resource id (`user:ID` is resource id `ID`).
    pub resource_id: Option<String>,
    /// Records about this tenant.
    pub tenant: Option<String>,
    /// Records with this outcome.
    pub result: Option<palisade_core::audit::Outcome>,
    /// This risk or higher.
    pub min_risk: Option<palisade_core::audit::Risk>,
    /// Unix ms, inclusive.
    pub from_ms: Option<i64>,
    /// Unix ms, exclusive.
    pub to_ms: Option<i64>,
    /// Records written by this source (`palisade` or `app`).
    pub source: Option<palisade_core::audit::Source>,
    /// Records from this client address, sealed or not.
    pub client_ip: Option<SealedMatch>,
}

/// A value a field may hold in the clear (written before sealing) or sealed
/// (`palisade_core::audit::sealed`): matches either the plaintext or every sealed value
/// starting with `sealed_prefix` (the value's blind index, computed by the gateway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedMatch {
    /// The value in the clear.
    pub plain: String,
    /// `palisade_core::audit::sealed::match_prefix` of its blind index.
    pub sealed_prefix: String,
}

impl SealedMatch {
    /// Whether a stored field holds this value.
    pub fn matches(&self, stored: Option<&String>) -> bool {
        stored.is_some_and(|s| *s == self.plain || s.starts_with(&self.sealed_prefix))
    }
}

/// The idempotency key of one application event, stored with it in the same transaction
/// ([`AuditStore::audit_append_keyed`]): the same `(principal, key)` within the retention is a
/// duplicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppEventKey {
    /// The principal that posted the event (keys are scoped per poster).
    pub principal: String,
    /// The key the application gave the event.
    pub key: String,
    /// The stored record's id.
    pub event_id: String,
    /// When it was stored, Unix ms (Palisade's clock).
    pub created_ms: i64,
}

impl AuditFilter {
    /// Whether `r` is one of the records this filter asks for.
    pub fn matches(&self, r: &AuditRecord) -> bool {
        self.event_type.as_ref().is_none_or(|t| *t == r.event_type)
            && self
                .actor
                .as_ref()
                .is_none_or(|a| r.actor.as_ref() == Some(a))
            && self
                .resource_id
                .as_ref()
                .is_none_or(|id| r.resource_id.as_ref() == Some(id))
            && self
                .tenant
                .as_ref()
                .is_none_or(|t| r.tenant.as_ref() == Some(t))
            && self.result.is_none_or(|o| o == r.result)
            && self.min_risk.is_none_or(|m| r.risk >= m)
            && self.from_ms.is_none_or(|f| r.ts_ms >= f)
            && self.to_ms.is_none_or(|t| r.ts_ms < t)
            && self.source.is_none_or(|s| r.source == s)
            && self
                .client_ip
                .as_ref()
                .is_none_or(|m| m.matches(r.client_ip.as_ref()))
    }
}

/// The durable, append-only audit trail: records arrive chained, are stored in batches, and are
/// never changed (only a retention purge removes a whole prefix). Checked by the conformance
/// suite's audit tests.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Up to `limit` records matching `filter` with a sequence number above `after`, in order
    /// (keyset pagination: pass the last one's `seq` as the next `after`).
    async fn audit_query(
        &self,
        filter: &AuditFilter,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<AuditRecord>>;
    /// Appends `records` (consecutive sequence numbers) in one transaction, all or nothing.
    /// Fails with [`crate::StoreError::Conflict`] when the first does not follow the stored head.
    async fn audit_append(&self, records: &[AuditRecord]) -> StoreResult<()> {
        self.audit_append_keyed(records, &[]).await
    }
    /// [`Self::audit_append`], storing the idempotency `keys` of application events among the
    /// records in the same transaction (a key already stored is replaced: the writer asked
    /// [`Self::audit_app_seen`] first, so only an expired one can be there).
    async fn audit_append_keyed(
        &self,
        records: &[AuditRecord],
        keys: &[AppEventKey],
    ) -> StoreResult<()>;
    /// Which of `keys` `principal` already used for an event stored at or after `since_ms`.
    async fn audit_app_seen(
        &self,
        principal: &str,
        keys: &[String],
        since_ms: i64,
    ) -> StoreResult<Vec<String>>;
    /// Forgets idempotency keys stored before `before_ms`; returns how many went.
    async fn audit_app_keys_expire(&self, before_ms: i64) -> StoreResult<u64>;
    /// The last record's sequence number and hash.
    async fn audit_head(&self) -> StoreResult<Option<(u64, [u8; 32])>>;
    /// Up to `limit` records from `from_seq` on, in order.
    async fn audit_range(&self, from_seq: u64, limit: u32) -> StoreResult<Vec<AuditRecord>>;
    /// Stores a signed checkpoint beside the records.
    async fn audit_checkpoint_put(&self, checkpoint: &Checkpoint) -> StoreResult<()>;
    /// Every checkpoint, by sequence number.
    async fn audit_checkpoints(&self) -> StoreResult<Vec<Checkpoint>>;
    /// Deletes the records up to and including `through` (the retention purge); returns how
    /// many went.
    async fn audit_purge_through(&self, through: u64) -> StoreResult<u64>;
}
