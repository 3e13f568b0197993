//! Palisade's persistence.
//!
//! Two kinds of state, each behind a trait so that backends can be swapped without the gateway
//! noticing:
//! - [`Store`]: durable records (users, keys, sessions, tenants, audit, secrets as they arrive).
//!   Embedded default: SQLite in the data dir; scale-out: PostgreSQL.
//! - [`HotState`]: short-lived counters and flags read on the hot path (rate counters,
//!   revocations, failure counters, IP blocks). Embedded default: process memory; scale-out: Redis.
//!
//! Every backend must pass the same conformance suite (module `conformance`, compiled only with
//! the `conformance` feature, which tests turn on). Scale-out backends: [`redis_hot`] (the
//! `HotState` on Redis / Valkey), [`redis_limiter`] (rate-limit decisions on Redis) and
//! [`redis_stale`] (the stale-fallback answers replicas share).
//!
//! Layout: the traits at the top (`identity`, `imports`, `legacy_keys`, `federation`, `passkeys`, `audit`, `seal_keys`, `revocations`, `retention`, `deletion`, `device_grants`, `email_flows`, `secrets`,
//! `field_crypto`); one folder per backend (`memory/`, `sqlite/`, `postgres/`, `redis/`); the
//! SQL that SQLite and PostgreSQL share in `sql/`, written once for both.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod audit;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod connections;
pub mod deletion;
pub mod device_grants;
pub mod email_flows;
pub mod federation;
pub mod field_crypto;
pub mod identity;
pub mod imports;
pub mod legacy_keys;
pub mod mfa;
pub mod passkeys;
pub mod retention;
pub mod revocations;
pub mod seal_keys;
pub mod secrets;

pub mod memory;
pub mod postgres;
mod redis;
mod sql;
pub mod sqlite;

pub use self::redis::{hot as redis_hot, limiter as redis_limiter, stale as redis_stale};

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// What a store operation can fail with. Messages never carry secrets.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached (connection refused, pool timeout): callers answer 503.
    #[error("the store is unreachable: {0}")]
    Unavailable(String),
    /// A migration could not be applied; the gateway does not start.
    #[error("store migration failed: {0}")]
    Migration(String),
    /// The store or hot-state URL names no backend this build has.
    #[error("store URL is not supported: {0}")]
    UnsupportedUrl(String),
    /// A query failed for another reason (constraint, decoding); named, never with secrets.
    #[error("store query failed: {0}")]
    Query(String),
    /// A unique key is taken (an e-mail, an id, a `(path, version)`): the caller's conflict.
    #[error("already exists: {0}")]
    Conflict(String),
}

/// The result of every store and hot-state call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Durable state.
#[async_trait]
pub trait Store:
    identity::IdentityStore
    + identity::TenantStore
    + imports::ImportStore
    + revocations::RevocationStore
    + retention::RetentionStore
    + deletion::DeletionStore
    + device_grants::DeviceGrantStore
    + email_flows::EmailFlowStore
    + legacy_keys::LegacyKeyStore
    + mfa::MfaStore
    + federation::FederationStore
    + connections::ConnectionStore
    + audit::AuditStore
    + seal_keys::SealKeyStore
    + secrets::KeyringStore
    + secrets::SecretStore
    + field_crypto::EmailStore
    + passkeys::PasskeyStore
    + Send
    + Sync
    + std::fmt::Debug
{
    /// Short backend name for logs and `/readyz` (`sqlite`, `memory`, ...).
    fn backend(&self) -> &'static str;
    /// Succeeds when the store can answer queries now.
    async fn ping(&self) -> StoreResult<()>;
    /// Reads a metadata value.
    async fn meta_get(&self, key: &str) -> StoreResult<Option<String>>;
    /// Writes a metadata value, replacing any previous one.
    async fn meta_put(&self, key: &str, value: &str) -> StoreResult<()>;
    /// Writes a metadata value unless one exists, atomically, and returns the value stored
    /// (ours, or the one another writer put first): how replicas agree on a generated secret.
    async fn meta_put_if_absent(&self, key: &str, value: &str) -> StoreResult<String>;
}

/// Fast, expiring state shared by the gates.
#[async_trait]
pub trait HotState: Send + Sync + std::fmt::Debug {
    /// Short backend name for logs and `/readyz` (`memory`, `redis`).
    fn backend(&self) -> &'static str;
    /// Succeeds when the hot state can answer now.
    async fn ping(&self) -> StoreResult<()>;
    /// Adds one to the counter `key` and returns the new value. A counter that did not exist (or
    /// had expired) starts at 1 and lives for `ttl` from now; later increments keep its expiry.
    async fn incr(&self, key: &str, ttl: Duration) -> StoreResult<u64>;
    /// Adds `by` to the counter `key` as [`HotState::incr`] adds one (a quota counted in
    /// events rather than requests). The default adds one `by` times, for test doubles.
    async fn incr_by(&self, key: &str, by: u64, ttl: Duration) -> StoreResult<u64> {
        let mut n = self.counter(key).await?;
        for _ in 0..by {
            n = self.incr(key, ttl).await?;
        }
        Ok(n)
    }
    /// Current value of a live counter, 0 when absent or expired.
    async fn counter(&self, key: &str) -> StoreResult<u64>;
    /// Sets a flag that lives for `ttl` (a revocation, a block).
    async fn set_flag(&self, key: &str, ttl: Duration) -> StoreResult<()>;
    /// True while the flag lives.
    async fn has_flag(&self, key: &str) -> StoreResult<bool>;
    /// Time left on a live flag, `None` when absent or expired (a block's or delay's end).
    async fn flag_ttl(&self, key: &str) -> StoreResult<Option<Duration>>;
    /// Live flags whose key starts with `prefix`, with their time left (admin listings).
    async fn flags_with_prefix(&self, prefix: &str) -> StoreResult<Vec<(String, Duration)>>;
    /// Sum of the live counters named (a sliding window kept as buckets).
    async fn counter_sum(&self, keys: &[String]) -> StoreResult<u64> {
        let mut total = 0;
        for key in keys {
            total += self.counter(key).await?;
        }
        Ok(total)
    }
    /// Removes a counter or flag.
    async fn remove(&self, key: &str) -> StoreResult<()>;
    /// Writes flags restored from the durable record (priming, see [`HotState::prime_begin`]):
    /// as [`HotState::set_flag`] for each, in as few round trips as the backend allows, and
    /// without broadcasting (every flag restored was set, and its change broadcast, before).
    async fn restore_flags(&self, flags: &[(String, Duration)]) -> StoreResult<()> {
        for (key, ttl) in flags {
            self.set_flag(key, *ttl).await?;
        }
        Ok(())
    }
    /// Starts priming this hot state from the durable record of revocations and blocks; the
    /// caller then reads the record, writes it with [`HotState::restore_flags`] and ends with
    /// [`HotState::prime_end`] and the ticket returned here.
    ///
    /// Default (process memory, which forgets only with the process): nothing to guard.
    async fn prime_begin(&self) -> StoreResult<String> {
        Ok(String::new())
    }
    /// Ends priming: true when the hot state kept its memory since `prime_begin` (a shared one
    /// now holds an epoch, and from then on every flag read checks it: a read that finds the
    /// epoch gone fails with `Unavailable` and the subscribers get [`Notice::Missed`]); false
    /// when it lost its memory meanwhile, and priming must start over.
    async fn prime_end(&self, ticket: &str) -> StoreResult<bool> {
        let _ = ticket;
        Ok(true)
    }
    /// True when this hot state was primed and has since lost its memory (a flushed, evicted or
    /// replaced Redis): it must be primed again. Default: never.
    async fn lost_memory(&self) -> StoreResult<bool> {
        Ok(false)
    }
    /// Sends `body` under `topic` to every [`Subscription`] of every gateway sharing this hot
    /// state (memory: of this process), the sender's own included: how replicas tell each other
    /// to drop a cached token, key or IP verdict. At most once: a subscriber that may have
    /// missed messages receives [`Notice::Missed`] instead. Answers how many receivers it
    /// reached: Redis subscriber connections (one per gateway process that subscribed), or the
    /// in-process subscriptions of the memory backend.
    ///
    /// The default (for test doubles written before broadcasting existed) offers none and says
    /// so with `Unavailable`; the memory and Redis backends implement it.
    async fn publish(&self, topic: &str, body: &str) -> StoreResult<u64> {
        let _ = (topic, body);
        Err(StoreError::Unavailable(format!(
            "the {} hot state does not broadcast",
            self.backend()
        )))
    }
    /// Receives what [`HotState::publish`] sends from the moment this returns. Default: as
    /// for `publish`.
    async fn subscribe(&self) -> StoreResult<Subscription> {
        Err(StoreError::Unavailable(format!(
            "the {} hot state does not broadcast",
            self.backend()
        )))
    }
}

/// What a [`Subscription`] receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// One published message.
    Message {
        /// What the message is about (the flag cache uses `flag`).
        topic: String,
        /// The payload, as published.
        body: String,
    },
    /// Messages may have been lost (the subscriber fell behind, or the connection to the shared
    /// hot state dropped): drop every locally cached verdict.
    Missed,
}

/// A receiver of [`Notice`]s; see [`HotState::subscribe`].
#[derive(Debug)]
pub struct Subscription {
    rx: tokio::sync::broadcast::Receiver<Notice>,
}

impl Subscription {
    pub(crate) fn new(rx: tokio::sync::broadcast::Receiver<Notice>) -> Self {
        Self { rx }
    }

    /// The next notice; `None` once the hot state behind it is gone. A subscriber that fell more
    /// than the buffer behind gets [`Notice::Missed`] and continues with the oldest kept message.
    pub async fn recv(&mut self) -> Option<Notice> {
        use tokio::sync::broadcast::error::RecvError;
        match self.rx.recv().await {
            Ok(notice) => Some(notice),
            Err(RecvError::Lagged(_)) => Some(Notice::Missed),
            Err(RecvError::Closed) => None,
        }
    }
}

/// The durable store as the gateway shares it between workers and tasks.
pub type SharedStore = Arc<dyn Store>;
/// The hot state as the gateway shares it between workers and tasks.
pub type SharedHotState = Arc<dyn HotState>;

/// Opens the durable store a URL names: `sqlite:` (file `palisade.db` in `data_dir`),
/// `sqlite://PATH` (relative paths resolve against `data_dir`), `memory:`, or
/// `postgres://…` / `postgresql://…` (with [`postgres::PostgresOptions::default`]).
pub async fn open_store(url: &str, data_dir: &std::path::Path) -> StoreResult<SharedStore> {
    open_store_with(url, data_dir, &postgres::PostgresOptions::default()).await
}

/// [`open_store`] with the PostgreSQL pool options (ignored by the other backends).
pub async fn open_store_with(
    url: &str,
    data_dir: &std::path::Path,
    options: &postgres::PostgresOptions,
) -> StoreResult<SharedStore> {
    if url == "memory:" {
        return Ok(Arc::new(memory::MemoryStore::default()));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(
            postgres::PostgresStore::connect(url, options).await?,
        ));
    }
    if let Some(path) = sqlite_path(url, data_dir) {
        return Ok(Arc::new(sqlite::SqliteStore::open(&path).await?));
    }
    Err(StoreError::UnsupportedUrl(format!(
        "{url:?} (expected \"sqlite:\", \"sqlite://PATH\", \"memory:\" or \"postgres://…\")"
    )))
}

/// Reaches the store a URL names as [`open_store_with`] would, without creating, migrating or
/// writing anything (`palisade config check --online`): `Ok(None)` when it is ready,
/// `Ok(Some(note))` when the next start would create or migrate it, an error when it cannot be
/// reached (the start would fail the same way).
pub async fn probe_store(
    url: &str,
    data_dir: &std::path::Path,
    options: &postgres::PostgresOptions,
) -> StoreResult<Option<String>> {
    if url == "memory:" {
        return Ok(None);
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return postgres::PostgresStore::probe(url, options).await;
    }
    if let Some(path) = sqlite_path(url, data_dir) {
        return sqlite::SqliteStore::probe(&path).await;
    }
    Err(StoreError::UnsupportedUrl(format!(
        "{url:?} (expected \"sqlite:\", \"sqlite://PATH\", \"memory:\" or \"postgres://…\")"
    )))
}

/// The database file a `sqlite:` URL names (`sqlite:` alone: `palisade.db` in `data_dir`; a
/// relative path is taken from `data_dir`); `None` for other URLs.
pub fn sqlite_path(url: &str, data_dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?.trim_start_matches("//");
    Some(if rest.is_empty() {
        data_dir.join("palisade.db")
    } else {
        let p = std::path::Path::new(rest);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            data_dir.join(p)
        }
    })
}

/// Opens the hot state a URL names: `memory:`. Redis: `palisade_gateway::backends::open_hot`
/// (it also wraps it in the replica cache and opens the shared limiter).
pub fn open_hot_state(
    url: &str,
    clock: palisade_core::clock::SharedClock,
) -> StoreResult<SharedHotState> {
    match url {
        "memory:" => Ok(Arc::new(memory::MemoryHotState::new(clock))),
        other => Err(StoreError::UnsupportedUrl(format!(
            "{other:?} (expected \"memory:\")"
        ))),
    }
}
