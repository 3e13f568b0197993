//! The durable audit trail's single writer: events submitted by the gates and APIs are stamped,
//! numbered, linked into the hash chain and appended in batches (one transaction per batch: group
//! commit). Every `checkpoint_every` events, and at shutdown, the head is signed with the audit
//! key and stored as a checkpoint.
//!
//! Guarantees: one writer, so sequence numbers are gap-free and the chain is total; a batch the
//! store refuses is retried (with backoff) and never dropped, while submitters keep queueing
//! (memory is the back-pressure); [`AuditTrail::flush`] returns once everything submitted before
//! it is committed. The audit key is generated on first start and kept in the store wrapped
//! under the master key (like the token keys); its public half is stored beside it for
//! `palisade audit verify`.
//!
//! Application events ([`crate::audit::app`]) go through the same writer and chain: a batch is checked
//! against the idempotency keys its poster already used, the new events are linked and appended
//! with their keys in one transaction, and the poster learns per event "stored" or "duplicate"
//! only once the batch is committed.
//!
//! Personal fields are sealed here, before a record is linked ([`crate::audit::seal`]): the
//! chain hashes the sealed text, so erasing a subject ([`AuditTrail::forget`], in order with
//! the events queued before it) destroys a key and never rewrites a record. A key that cannot
//! be read or stored holds the batch (retried like a failed append): nothing is stored in the
//! clear and nothing is dropped. Readers get records with their fields opened through
//! [`AuditTrail::query`].

mod app;
mod purge;
mod verify;
pub use app::AppAnswer;
pub use purge::PurgeReport;
pub use verify::verify_trail;

use crate::identity::signing::KeyWrap;
use palisade_core::audit::{AuditRecord, CheckpointSigner, GENESIS, Outcome, Risk};
use palisade_core::clock::SharedClock;
use palisade_store::SharedStore;
use palisade_store::audit::AppEventKey;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

const KID_KEY: &str = "audit.kid";
const MAX_BATCH: usize = 2_000;
/// Events that could not be queued (only when the writer has stopped); stays 0.
pub const DROPPED_METRIC: &str = "palisade_audit_events_dropped_total";

/// An event before it has a place in the chain.
#[derive(Debug, Clone)]
pub struct Draft {
    /// `area.verb`.
    pub event_type: String,
    /// How much it matters.
    pub risk: Risk,
    /// How it ended.
    pub result: Outcome,
    /// Who acted.
    pub actor: Option<String>,
    /// The API action (method and path).
    pub action: Option<String>,
    /// What was acted on: its kind.
    pub resource_type: Option<String>,
    /// What was acted on: its id.
    pub resource_id: Option<String>,
    /// The tenant it concerns.
    pub tenant: Option<String>,
    /// The client's address (possibly redacted).
    pub client_ip: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// The request id.
    pub request_id: Option<String>,
    /// Event-specific facts, already redacted.
    pub details: serde_json::Value,
    /// Palisade's or an application's.
    pub source: palisade_core::audit::Source,
}

impl Draft {
    /// The record this draft becomes at `seq`, not yet linked into the chain.
    pub(crate) fn into_record(self, seq: u64, id: String, ts_ms: i64) -> AuditRecord {
        AuditRecord {
            seq,
            id,
            ts_ms,
            event_type: self.event_type,
            risk: self.risk,
            actor: self.actor,
            action: self.action,
            resource_type: self.resource_type,
            resource_id: self.resource_id,
            tenant: self.tenant,
            result: self.result,
            client_ip: self.client_ip,
            user_agent: self.user_agent,
            request_id: self.request_id,
            details: self.details,
            source: self.source,
            prev_hash: GENESIS,
            hash: GENESIS,
        }
    }
}

impl Draft {
    /// A successful event of Palisade's own, with no actor and no request behind it.
    pub fn system(event_type: &str, risk: Risk) -> Self {
        Self {
            event_type: event_type.into(),
            risk,
            result: Outcome::Success,
            actor: None,
            action: None,
            resource_type: None,
            resource_id: None,
            tenant: None,
            client_ip: None,
            user_agent: None,
            request_id: None,
            details: serde_json::Value::Null,
            source: Default::default(),
        }
    }
}

enum Job {
    Event(Box<Draft>, i64),
    Flush(oneshot::Sender<()>),
    Checkpoint(oneshot::Sender<()>),
    /// Sign and store a checkpoint vouching for the record `(seq, hash)` (a purge's cut).
    SignAt(u64, [u8; 32], oneshot::Sender<Result<(), String>>),
    App(app::AppJob),
    /// Destroy a subject's sealing key once everything queued before is stored.
    Forget(String, oneshot::Sender<Result<bool, String>>),
}

/// The audit trail's one writer: a task that stamps, chains and appends events in batches
/// (group commit), re-links after another writer's records, signs checkpoints and purges.
#[derive(Debug)]
pub struct AuditTrail {
    tx: mpsc::UnboundedSender<Job>,
    queued: Arc<AtomicU64>,
    /// Events submitted since start; the writer publishes how many are committed.
    submitted: AtomicU64,
    /// The submission count at the last event that must be durable before its answer.
    durable_ticket: AtomicU64,
    config: crate::config::audit::AuditConfig,
    /// How long records are kept, by class (`[retention.audit]` resolved).
    periods: crate::config::retention::AuditPeriods,
    store: SharedStore,
    committed: tokio::sync::watch::Receiver<u64>,
    clock: SharedClock,
    sealer: Arc<crate::audit::seal::Sealer>,
}

/// Public keys of the audit key(s), by key id, as stored (`audit.public.<kid>`, hex).
pub fn public_key_meta(kid: &str) -> String {
    format!("audit.public.{kid}")
}

fn private_key_meta(kid: &str) -> String {
    format!("audit.key.{kid}")
}

/// The audit key: loaded, or generated and stored on first start.
async fn load_or_create_signer(
    store: &SharedStore,
    wrap: &KeyWrap,
) -> Result<CheckpointSigner, String> {
    let e = |e: palisade_store::StoreError| format!("audit key: {e}");
    if let Some(kid) = store.meta_get(KID_KEY).await.map_err(e)? {
        let wrapped = store
            .meta_get(&private_key_meta(&kid))
            .await
            .map_err(e)?
            .and_then(|h| hex_decode(&h))
            .ok_or_else(|| format!("audit key {kid} is missing from the store"))?;
        let pkcs8 = wrap.unwrap(&kid, &wrapped)?;
        return CheckpointSigner::from_pkcs8(kid, &pkcs8);
    }
    let kid = format!("audit-{}", uuid::Uuid::now_v7());
    let (signer, pkcs8) = CheckpointSigner::generate(kid.clone())?;
    let wrapped = wrap.wrap(&kid, &pkcs8);
    store
        .meta_put(&private_key_meta(&kid), &hex_encode(&wrapped))
        .await
        .map_err(e)?;
    store
        .meta_put(&public_key_meta(&kid), &hex_encode(&signer.public_key()))
        .await
        .map_err(e)?;
    store.meta_put(KID_KEY, &kid).await.map_err(e)?;
    Ok(signer)
}

/// Lowercase hex of any bytes.
pub fn hex_encode(bytes: &[u8]) -> String {
    palisade_core::audit::hex32::encode(bytes)
}

/// Bytes from an even number of hex digits; `None` otherwise.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

impl AuditTrail {
    /// Starts the writer on the current runtime; `periods` are the retention purge's.
    pub async fn start(
        store: SharedStore,
        secrets: &crate::config::SecretsConfig,
        clock: SharedClock,
        config: &crate::config::audit::AuditConfig,
        periods: crate::config::retention::AuditPeriods,
    ) -> Result<Arc<Self>, String> {
        let wrap = KeyWrap::for_secrets(secrets.master.as_ref(), &secrets.signing_key);
        let signer = load_or_create_signer(&store, &wrap).await?;
        let (next_seq, prev) = resume_point(&store).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicU64::new(0));
        metrics::describe_counter!(
            DROPPED_METRIC,
            "Audit events that could not be queued for the trail (must stay 0)"
        );
        metrics::counter!(DROPPED_METRIC).increment(0);
        let (committed_tx, committed) = tokio::sync::watch::channel(0);
        let sealer = Arc::new(crate::audit::seal::Sealer::new(store.clone(), secrets));
        let writer = Writer {
            sealer: sealer.clone(),
            store: store.clone(),
            signer,
            clock: clock.clone(),
            next_seq,
            prev,
            since_checkpoint: 0,
            checkpoint_every: config.checkpoint_every.max(1),
            audit: config.clone(),
            queued: queued.clone(),
            committed: committed_tx,
            committed_count: 0,
        };
        tokio::spawn(writer.run(rx));
        Ok(Arc::new(Self {
            tx,
            queued,
            submitted: AtomicU64::new(0),
            durable_ticket: AtomicU64::new(0),
            config: config.clone(),
            periods,
            store,
            committed,
            clock,
            sealer,
        }))
    }

    /// What seals and opens the trail's personal fields (filters by a client address need it).
    pub fn sealer(&self) -> &Arc<crate::audit::seal::Sealer> {
        &self.sealer
    }

    /// Up to `limit` records matching `filter` after `after` (as the store's `audit_query`),
    /// their sealed fields opened: plaintext, or `[erased]` where the key was destroyed.
    pub async fn query(
        &self,
        filter: &palisade_store::audit::AuditFilter,
        after: u64,
        limit: u32,
    ) -> palisade_store::StoreResult<Vec<AuditRecord>> {
        let mut page = self.store.audit_query(filter, after, limit).await?;
        self.sealer.open(&mut page).await?;
        Ok(page)
    }

    /// Destroys the sealing key of `subject` (an account id) after every event queued before
    /// this call is stored; true when there was one. Records are not touched: their sealed
    /// fields read `[erased]` from now on.
    pub async fn forget(&self, subject: &str) -> Result<bool, String> {
        let stopped = || "the audit writer has stopped".to_string();
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job::Forget(subject.to_string(), done))
            .map_err(|_| stopped())?;
        wait.await.map_err(|_| stopped())?
    }

    /// Queues an event; it is stamped now. Unless its class is in `audit.async_classes`, the
    /// answer being produced waits for it ([`DurabilityLayer`](crate::layers::durability::DurabilityLayer)).
    pub fn submit(&self, draft: Draft) {
        let durable = !self.config.is_async(&draft.event_type);
        self.enqueue(draft, durable);
    }

    /// Queues an event no answer waits for, whatever its class (sampled refusals: recording a
    /// refusal never delays it or turns it into a 503).
    pub fn submit_async(&self, draft: Draft) {
        self.enqueue(draft, false);
    }

    fn enqueue(&self, draft: Draft, durable: bool) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        let ts = self.clock.now_millis() as i64;
        // The count and the send happen under one order: the writer commits in send order.
        let ticket = self.submitted.fetch_add(1, Ordering::SeqCst) + 1;
        if durable {
            self.durable_ticket.fetch_max(ticket, Ordering::SeqCst);
        }
        if self.tx.send(Job::Event(Box::new(draft), ts)).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            metrics::counter!(DROPPED_METRIC).increment(1);
            tracing::error!("the audit writer has stopped; an event could not be queued");
        }
    }

    /// The submission count at the latest event that must be durable before its answer (a
    /// ticket for [`Self::committed_through`]).
    pub fn durable_ticket(&self) -> u64 {
        self.durable_ticket.load(Ordering::SeqCst)
    }

    /// Waits until the first `ticket` events submitted are committed.
    pub async fn committed_through(&self, ticket: u64) {
        let mut rx = self.committed.clone();
        let _ = rx.wait_for(|c| *c >= ticket).await;
    }

    /// Events queued and not yet committed.
    pub fn backlog(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    /// Back-pressure: waits while more than `audit.max_queue` events are waiting to be stored,
    /// at most `audit.durable_timeout`. False when there is still no room.
    pub async fn room(&self) -> bool {
        let max = self.config.max_queue;
        if self.backlog() <= max {
            return true;
        }
        let mut rx = self.committed.clone();
        tokio::time::timeout(self.config.durable_timeout.0, async {
            while self.backlog() > max {
                if rx.changed().await.is_err() {
                    return false;
                }
            }
            true
        })
        .await
        .unwrap_or(false)
    }

    /// Waits until the first `ticket` events are committed, at most `audit.durable_timeout`.
    /// False when they are not stored by then.
    pub async fn durable_within_timeout(&self, ticket: u64) -> bool {
        tokio::time::timeout(
            self.config.durable_timeout.0,
            self.committed_through(ticket),
        )
        .await
        .is_ok()
    }

    /// Waits until every event submitted before this call is committed.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Has the writer sign and store a checkpoint vouching for the record `(seq, hash)`.
    async fn sign_at(&self, seq: u64, hash: [u8; 32]) -> Result<(), String> {
        let stopped = || "the audit writer has stopped".to_string();
        let (done, wait) = oneshot::channel();
        self.tx
            .send(Job::SignAt(seq, hash, done))
            .map_err(|_| stopped())?;
        wait.await.map_err(|_| stopped())?
    }

    /// Commits what is queued and signs a checkpoint of the head.
    pub async fn checkpoint(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Checkpoint(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

/// Where the chain continues: after the stored head, or (when a purge took everything) after
/// the latest checkpoint.
async fn resume_point(store: &SharedStore) -> Result<(u64, [u8; 32]), String> {
    let e = |e: palisade_store::StoreError| format!("audit trail: {e}");
    if let Some((seq, hash)) = store.audit_head().await.map_err(e)? {
        return Ok((seq + 1, hash));
    }
    let latest = store.audit_checkpoints().await.map_err(e)?.pop();
    Ok(latest.map_or((1, GENESIS), |cp| (cp.seq + 1, cp.hash)))
}

struct Writer {
    store: SharedStore,
    sealer: Arc<crate::audit::seal::Sealer>,
    signer: CheckpointSigner,
    clock: SharedClock,
    next_seq: u64,
    prev: [u8; 32],
    since_checkpoint: u64,
    checkpoint_every: u64,
    audit: crate::config::audit::AuditConfig,
    queued: Arc<AtomicU64>,
    committed: tokio::sync::watch::Sender<u64>,
    committed_count: u64,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Job>) {
        while let Some(first) = rx.recv().await {
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            self.handle(jobs).await;
        }
        // Every sender is gone (shutdown): seal what was written.
        if self.since_checkpoint > 0 {
            self.sign_head().await;
        }
    }

    async fn handle(&mut self, jobs: Vec<Job>) {
        let mut records = Vec::new();
        let mut waiters = Vec::new();
        let mut signs = Vec::new();
        let mut forgets = Vec::new();
        let mut checkpoint = false;
        let mut apps = app::Admitted::default();
        let mut events = 0u64;
        self.prepare_keys(&jobs).await;
        for job in jobs {
            match job {
                Job::Event(draft, ts) => {
                    records.push(self.link(*draft, ts).await);
                    events += 1;
                }
                Job::App(job) => self.admit_app(job, &mut records, &mut apps).await,
                Job::Flush(done) => waiters.push(done),
                Job::Checkpoint(done) => {
                    checkpoint = true;
                    waiters.push(done);
                }
                Job::SignAt(seq, hash, done) => signs.push((seq, hash, done)),
                Job::Forget(subject, done) => forgets.push((subject, done)),
            }
        }
        if !records.is_empty() {
            self.append(&mut records, &apps.keys).await;
            self.since_checkpoint += records.len() as u64;
            // Tickets count submitted events only: app batches are answered through `apps`.
            self.committed_count += events;
            self.committed.send_replace(self.committed_count);
        }
        self.queued
            .fetch_sub(events + apps.posted, Ordering::Relaxed);
        apps.answer();
        if checkpoint || self.since_checkpoint >= self.checkpoint_every {
            self.sign_head().await;
        }
        for done in waiters {
            let _ = done.send(());
        }
        for (seq, hash, done) in signs {
            let cp = self.signer.sign(seq, hash, self.clock.now_millis() as i64);
            let stored = self.store.audit_checkpoint_put(&cp).await;
            let _ = done.send(stored.map_err(|e| format!("audit checkpoint: {e}")));
        }
        // After the append: the events queued before a forget are stored under the key it
        // destroys, and later ones get a new key.
        for (subject, done) in forgets {
            let destroyed = self.sealer.forget(&subject).await;
            let _ = done.send(destroyed.map_err(|e| format!("audit seal key: {e}")));
        }
    }

    async fn link(&mut self, mut d: Draft, ts_ms: i64) -> AuditRecord {
        let id = uuid::Uuid::now_v7().to_string();
        self.seal(&mut d, &id, ts_ms).await;
        let mut record = d.into_record(self.next_seq, id, ts_ms);
        record.link(self.prev);
        self.prev = record.hash;
        self.next_seq += 1;
        record
    }

    /// Loads or makes the sealing keys the events among `jobs` need, in two round trips at
    /// most, retrying until it can (a key that still misses is fetched by [`Self::seal`]).
    async fn prepare_keys(&self, jobs: &[Job]) {
        let mut drafts: Vec<(&Draft, i64)> = Vec::new();
        for job in jobs {
            match job {
                Job::Event(draft, ts) => drafts.push((draft.as_ref(), *ts)),
                Job::App(app) => drafts.extend(app.drafts()),
                _ => {}
            }
        }
        let mut wait = Duration::from_millis(50);
        while let Err(e) = self.sealer.prepare(&drafts).await {
            metrics::counter!("palisade_audit_write_retries_total").increment(1);
            tracing::error!(error = %e, "audit sealing keys unavailable; retrying");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    }

    /// Seals `d`'s personal fields, retrying until its key can be had: never stored in the
    /// clear, never dropped.
    async fn seal(&self, d: &mut Draft, record_id: &str, ts_ms: i64) {
        let mut wait = Duration::from_millis(50);
        while let Err(e) = self.sealer.seal(d, record_id, ts_ms).await {
            metrics::counter!("palisade_audit_write_retries_total").increment(1);
            tracing::error!(error = %e, "audit event not sealed (its key is unavailable); retrying");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    }

    /// Appends, retrying until the store takes the batch: nothing queued is dropped. When another
    /// writer (the CLI, another replica) has appended meanwhile, the batch is re-linked after
    /// the stored head.
    async fn append(&mut self, records: &mut [AuditRecord], keys: &[AppEventKey]) {
        let mut wait = Duration::from_millis(50);
        loop {
            match self.store.audit_append_keyed(records, keys).await {
                Ok(()) => return,
                Err(palisade_store::StoreError::Conflict(_)) => {
                    if let Ok((next_seq, prev)) = resume_point(&self.store).await {
                        self.next_seq = next_seq;
                        self.prev = prev;
                        for r in records.iter_mut() {
                            r.seq = self.next_seq;
                            r.link(self.prev);
                            self.prev = r.hash;
                            self.next_seq += 1;
                        }
                    }
                }
                Err(e) => {
                    metrics::counter!("palisade_audit_write_retries_total").increment(1);
                    tracing::error!(error = %e, events = records.len(), "audit batch not stored; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn sign_head(&mut self) {
        if self.next_seq == 1 {
            return;
        }
        let cp = self
            .signer
            .sign(self.next_seq - 1, self.prev, self.clock.now_millis() as i64);
        match self.store.audit_checkpoint_put(&cp).await {
            Ok(()) => self.since_checkpoint = 0,
            Err(e) => {
                tracing::error!(error = %e, "audit checkpoint not stored; the next one covers it")
            }
        }
    }
}
