//! Application event batches in the trail's one writer: deduplicated against the idempotency
//! keys their poster used within `audit.app_idempotency_retention`, linked into the same chain as
//! Palisade's events, and appended with their keys in one transaction.
//!
//! Guarantees: a key is never stored without its record nor a record without its key; a batch
//! is answered (per event: stored or duplicate) only after its records are committed, so an
//! event acknowledged is durable; a key repeated within a batch, or in two batches the writer
//! takes together, is stored once. A store failure while checking keys fails the batch before
//! anything of it is linked.

use super::{AuditTrail, Draft, Job, Writer};
use palisade_core::audit::AuditRecord;
use palisade_store::audit::AppEventKey;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use tokio::sync::oneshot;

/// Per event: true when stored now, false when its key was already used (a duplicate).
pub type AppAnswer = Result<Vec<bool>, String>;

/// A batch posted by one principal: each draft with its idempotency key.
pub(super) struct AppJob {
    principal: String,
    events: Vec<(Draft, String)>,
    ts: i64,
    done: oneshot::Sender<AppAnswer>,
}

/// What the writer admitted from the app batches of one group commit.
#[derive(Default)]
pub(super) struct Admitted {
    /// The keys to store with the records.
    pub(super) keys: Vec<AppEventKey>,
    /// Events posted (stored or not), for the backlog count.
    pub(super) posted: u64,
    replies: Vec<(oneshot::Sender<AppAnswer>, AppAnswer)>,
    taken: HashSet<(String, String)>,
}

impl AppJob {
    /// The batch's drafts with their time (for the writer to load their sealing keys).
    pub(super) fn drafts(&self) -> impl Iterator<Item = (&Draft, i64)> {
        self.events.iter().map(|(d, _)| (d, self.ts))
    }
}

impl Admitted {
    /// Answers every batch (after the commit).
    pub(super) fn answer(self) {
        for (done, answer) in self.replies {
            let _ = done.send(answer);
        }
    }
}

impl Writer {
    /// Links the events of `job` whose keys are new into `records`.
    pub(super) async fn admit_app(
        &mut self,
        job: AppJob,
        records: &mut Vec<AuditRecord>,
        apps: &mut Admitted,
    ) {
        apps.posted += job.events.len() as u64;
        let keys: Vec<String> = job.events.iter().map(|(_, k)| k.clone()).collect();
        let keep = self.audit.app_idempotency_retention.0.as_millis() as i64;
        let seen: HashSet<String> = match self
            .store
            .audit_app_seen(&job.principal, &keys, job.ts.saturating_sub(keep))
            .await
        {
            Ok(seen) => seen.into_iter().collect(),
            Err(e) => {
                apps.replies.push((job.done, Err(e.to_string())));
                return;
            }
        };
        let mut fresh = Vec::with_capacity(job.events.len());
        for (draft, key) in job.events {
            let new =
                !seen.contains(&key) && apps.taken.insert((job.principal.clone(), key.clone()));
            if new {
                let record = self.link(draft, job.ts).await;
                apps.keys.push(AppEventKey {
                    principal: job.principal.clone(),
                    key,
                    event_id: record.id.clone(),
                    created_ms: job.ts,
                });
                records.push(record);
            }
            fresh.push(new);
        }
        apps.replies.push((job.done, Ok(fresh)));
    }
}

impl AuditTrail {
    /// Queues a batch of application events posted by `principal` (each draft with its
    /// idempotency key) and waits until it is committed: per event, true when stored now, false
    /// for a duplicate. The caller bounds the wait; a batch it stops waiting for may still be
    /// stored (retrying with the same keys then answers "duplicate").
    pub async fn submit_app(&self, principal: String, events: Vec<(Draft, String)>) -> AppAnswer {
        let n = events.len() as u64;
        self.queued.fetch_add(n, Ordering::Relaxed);
        let (done, wait) = oneshot::channel();
        let job = AppJob {
            principal,
            events,
            ts: self.clock.now_millis() as i64,
            done,
        };
        if self.tx.send(Job::App(job)).is_err() {
            self.queued.fetch_sub(n, Ordering::Relaxed);
            return Err("the audit writer has stopped".into());
        }
        wait.await
            .map_err(|_| "the audit writer has stopped".to_string())?
    }
}
