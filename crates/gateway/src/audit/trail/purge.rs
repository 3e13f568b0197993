//! The trail's retention purge: removes the longest prefix of the trail in which every record
//! has outlived its class's period (`[retention.audit]`), so the rest still verifies.
//!
//! Guarantees: the writer signs a checkpoint at the cut before anything is deleted (no
//! checkpoint, no purge); the prefix then goes in chunks that each end at a signed checkpoint
//! (every `audit.checkpoint_every` events, and the cut), one short transaction per chunk with a
//! yield between, so appends at the head never wait for the purge and the trail verifies after
//! every chunk, even if the purge stops half-way. The walk and the deletions run beside the
//! writer, not in it. The purge is recorded as an `audit.purged` event; a dry run only counts.
//!
//! Then the sealing keys of anonymous callers' days go ([`crate::audit::seal`]): a day's key is
//! destroyed at the first run once the day has ended and the longest audit period has passed
//! since (`day end + longest <= now`; the longest class wins, because a record of any class may
//! have been sealed under it), each an `audit.subject_forgotten` event (resource
//! `audit_day:YYYY-MM-DD`). Records of that day still held back behind a longer-lived prefix
//! then read `[erased]`. A dry run destroys nothing.

use super::{AuditTrail, Draft};
use palisade_core::audit::Risk;

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
    /// Days (`YYYY-MM-DD`) whose anonymous callers' sealing key was destroyed.
    pub days_forgotten: Vec<String>,
}

const DAY_MS: i64 = 86_400_000;

/// Records read per page of the walk.
const PAGE: u32 = 5_000;

impl AuditTrail {
    /// Purges (or, on a dry run, counts) the records past retention as of now; see the module
    /// docs.
    pub async fn purge(&self, dry_run: bool) -> Result<PurgeReport, String> {
        let now = self.clock.now_millis() as i64;
        let mut report = self.purge_prefix(dry_run, now).await?;
        if !dry_run {
            report.days_forgotten = self.forget_days(now).await?;
        }
        Ok(report)
    }

    /// Destroys the day keys whose day ended the longest audit period ago or earlier.
    async fn forget_days(&self, now: i64) -> Result<Vec<String>, String> {
        let longest = self.periods.longest().as_millis() as i64;
        // The last day whose end (its start + a day) is at least `longest` before now.
        let last_day = crate::audit::seal::day_of(now - longest - DAY_MS);
        let days = self
            .sealer
            .forget_days_through(&last_day)
            .await
            .map_err(|e| format!("audit day keys: {e}"))?;
        for day in &days {
            let mut draft = Draft::system("audit.subject_forgotten", Risk::Medium);
            draft.resource_type = Some("audit_day".into());
            draft.resource_id = Some(day.clone());
            draft.details = serde_json::json!({ "key_destroyed": true });
            self.submit(draft);
        }
        if !days.is_empty() {
            self.flush().await;
            tracing::info!(days = days.len(), "anonymous callers' day keys destroyed");
        }
        Ok(days)
    }

    async fn purge_prefix(&self, dry_run: bool, now: i64) -> Result<PurgeReport, String> {
        let e = |e: palisade_store::StoreError| format!("audit purge: {e}");
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
            days_forgotten: Vec::new(),
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
        let mut draft = Draft::system("audit.purged", Risk::Medium);
        draft.resource_type = Some("audit".into());
        draft.details = serde_json::json!({ "through_seq": through, "count": count });
        self.submit(draft);
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
