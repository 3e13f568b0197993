//! The trail's retention purge: removes the longest prefix of the trail in which every record
//! has outlived its class's period (`[retention.audit]`), so the rest still verifies.
//!
//! Guarantees: the writer signs a checkpoint at the cut before anything is deleted (no
//! checkpoint, no purge); the prefix then goes in chunks that each end at a signed checkpoint
//! (every `audit.checkpoint_every` events, and the cut), one short transaction per chunk with a
//! yield between, so appends at the head never wait for the purge and the trail verifies after
//! every chunk, even if the purge stops half-way. The walk and the deletions run beside the
//! writer, not in it. The purge is recorded as an `audit.purged` event; a dry run only counts.

use super::{AuditTrail, Draft};
use palisade_core::audit::{Outcome, Risk};

/// What a retention purge removed (or, on a dry run, would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeReport {
    /// The last sequence number removed; `None` when nothing has expired.
    pub through_seq: Option<u64>,
    /// How many records were (or would be) removed.
    pub count: u64,
    /// Whether this was only a count.
    pub dry_run: bool,
    /// Delete transactions used (0 on a dry run).
    pub batches: u64,
}

/// Records read per page of the walk.
const PAGE: u32 = 5_000;

impl AuditTrail {
    /// Purges (or, on a dry run, counts) the records past retention as of now; see the module
    /// docs.
    pub async fn purge(&self, dry_run: bool) -> Result<PurgeReport, String> {
        let e = |e: palisade_store::StoreError| format!("audit purge: {e}");
        let now = self.clock.now_millis() as i64;
        if !dry_run {
            let keep = self.config.app_idempotency_retention.0.as_millis() as i64;
            self.store
                .audit_app_keys_expire(now.saturating_sub(keep))
                .await
                .map_err(e)?;
        }
        let mut first = None;
        let mut cut: Option<(u64, [u8; 32])> = None;
        let mut count = 0;
        let mut from = 0;
        'walk: loop {
            let page = self.store.audit_range(from, PAGE).await.map_err(e)?;
            let Some(last) = page.last() else { break };
            from = last.seq + 1;
            for r in &page {
                first.get_or_insert(r.seq);
                let keep_ms = self.periods.for_type(&r.event_type).as_millis() as i64;
                if r.ts_ms.saturating_add(keep_ms) > now {
                    break 'walk;
                }
                cut = Some((r.seq, r.hash));
                count += 1;
            }
        }
        let mut report = PurgeReport {
            through_seq: cut.map(|(seq, _)| seq),
            count,
            dry_run,
            batches: 0,
        };
        let (Some((through, hash)), Some(first), false) = (cut, first, dry_run) else {
            return Ok(report);
        };
        self.sign_at(through, hash).await?;
        let mut ends: Vec<u64> = self
            .store
            .audit_checkpoints()
            .await
            .map_err(e)?
            .into_iter()
            .map(|cp| cp.seq)
            .filter(|seq| (first..through).contains(seq))
            .collect();
        ends.push(through);
        ends.sort_unstable();
        ends.dedup();
        for end in ends {
            let gone = self.store.audit_purge_through(end).await.map_err(e)?;
            report.batches += 1;
            tracing::debug!(through_seq = end, records = gone, "audit purge batch");
            tokio::task::yield_now().await;
        }
        self.submit(Draft {
            event_type: "audit.purged".into(),
            risk: Risk::Medium,
            result: Outcome::Success,
            actor: None,
            action: None,
            resource_type: Some("audit".into()),
            resource_id: None,
            tenant: None,
            client_ip: None,
            user_agent: None,
            request_id: None,
            details: serde_json::json!({ "through_seq": through, "count": count }),
            source: Default::default(),
        });
        self.flush().await;
        tracing::info!(
            through_seq = through,
            count,
            batches = report.batches,
            "audit records past retention purged"
        );
        Ok(report)
    }
}
