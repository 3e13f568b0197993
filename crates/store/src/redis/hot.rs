//! The `HotState` on Redis / Valkey, for several gateway replicas that must share counters,
//! revocations and blocks, and tell each other to drop cached verdicts.
//!
//! Guarantees:
//! - **Time is the injected clock's.** Every entry stores its expiry instant (milliseconds of the
//!   [`SharedClock`]) next to its value, and an entry whose instant has passed is absent, whatever
//!   Redis still holds. Redis also gets a real expiry (`PX`, the TTL plus
//!   [`RedisOptions::expiry_margin`]) so that it collects what nobody reads again; the margin
//!   covers clock skew between replicas.
//! - **One round trip per operation**, never a hang: reads are one `GET` (or one pipeline of
//!   them), `incr` is one Lua script (EVALSHA, falling back to EVAL once per server), and every
//!   call is bounded by `connect_timeout + response_timeout`; when Redis cannot be reached the call
//!   fails with [`StoreError::Unavailable`]. The [`ConnectionManager`] reconnects on its own: the
//!   first call after Redis is back succeeds or triggers the reconnection the next one uses.
//! - **`incr` is atomic** and keeps the first expiry, as the memory backend does.
//! - Credentials come from the URL (`redis://USER:PASSWORD@HOST:PORT/DB`, `rediss://` for TLS with
//!   rustls on aws-lc-rs and the system's roots) and never appear in `Debug` output or errors.
//!
//! Key layout (`P` = [`RedisOptions::prefix`]; every key is a Redis string but the stale index, a
//! sorted set):
//!
//! | what | key | value |
//! | --- | --- | --- |
//! | counter `K` | `P:h:{K}` | `c:<expiry ms>:<count>` |
//! | flag `K` | `P:h:{K}` | `f:<expiry ms>:1` |
//! | rate-limit state | `P:rl:{<hex SHA-256>}` | see [`crate::redis_limiter`] |
//! | stale-fallback entry, index | `P:sf:{stale}:e:<hex>`, `P:sf:{stale}:i` | see [`crate::redis_stale`] |
//! | broadcast topic `T` | channel `P:inv:T` | the message body |
//! | epoch (see below) | `P:e:{epoch}` | random, written once per priming after a loss |
//! | a priming under way | `P:e:{epoch}:priming:<ticket>` | `1`, 10 minutes |
//!
//! The braces are Redis Cluster hash tags: each script touches one key (the priming script two
//! keys of one tag), so one slot, and the
//! keys of one prefix spread over the cluster. A key given to the hot state may contain braces
//! itself; the tag is then its part before the first `}`, still one slot per key. The prefix
//! may not contain braces or glob characters (checked by [`RedisHotState::connect`]). The client
//! is a single-node [`ConnectionManager`] (a primary, or a proxy in front of a cluster); only
//! [`HotState::flags_with_prefix`] would need one SCAN per primary in a cluster.
//!
//! `flags_with_prefix` SCANs `P:h:{<prefix>*`: an admin listing whose cost grows with the whole
//! key space, never to be called on the hot path.
//!
//! **Epoch** (the hot state losing its memory): Redis here is not the record of revocations and
//! blocks (the durable store is; see [`crate::revocations`]), so a `FLUSHALL`, an eviction or a
//! replacement server must never let a revoked credential pass. Priming
//! ([`HotState::prime_begin`] … [`HotState::prime_end`]) ends by writing a random epoch to
//! `P:e:{epoch}` (`SET NX`, in one script with the check that the priming's own marker
//! `P:e:{epoch}:priming:<ticket>`, written before the durable record was read, survived: a flush
//! meanwhile makes priming start over). Once primed, every flag read is one pipeline of two GETs,
//! the flag then the epoch (one round trip, as before), and is trusted only when the epoch read
//! *after* the flag is the one this replica knew *before* sending it. Epochs are never reused, so
//! an unchanged epoch proves no flush came between the priming that wrote it and the flag read,
//! and that priming restored every revocation recorded before it. A missing epoch fails the read
//! with `Unavailable` (the gates refuse with 503, or answer blocks from the replica's mirror)
//! and sends [`Notice::Missed`] to subscribers, which re-prime; another epoch (primed by another
//! replica) is adopted and the read repeated. Admin listings check the epoch the same way.
//! Evicting single keys cannot be seen this way: run Redis with `maxmemory-policy noeviction`.
//!
//! Broadcast: [`HotState::publish`] is a `PUBLISH` on `P:inv:<topic>`. The first
//! [`HotState::subscribe`] starts a task with its own RESP3 connection that `PSUBSCRIBE`s
//! `P:inv:*`, pings it every [`RedisOptions::subscriber_ping`] so a dead connection is noticed and
//! re-established, and resubscribes after every reconnection. A dropped connection is reported
//! to subscribers as [`Notice::Missed`] (messages published meanwhile are lost), once when it
//! drops and once when the subscription is back.

use crate::{HotState, Notice, StoreError, StoreResult, Subscription};
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{
    AsyncCommands, Client, ErrorKind, ProtocolVersion, PushInfo, PushKind, RedisError, Script,
    ServerErrorKind, Value,
};
use async_trait::async_trait;
use palisade_core::clock::SharedClock;
use std::future::Future;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, watch};

/// How to talk to Redis. `Default` gives the documented defaults.
#[derive(Clone)]
pub struct RedisOptions {
    /// Namespace of every key and channel: `palisade` by default. Letters, digits, `_ - . :`.
    pub prefix: String,
    /// Bound on establishing a connection (default 1 s).
    pub connect_timeout: Duration,
    /// Bound on one command's answer (default 1 s). A call fails with `Unavailable` after at
    /// most `connect_timeout + response_timeout`.
    pub response_timeout: Duration,
    /// Connection attempts a reconnection makes before giving up until the next call (default 2).
    pub reconnect_retries: usize,
    /// Added to every TTL given to Redis itself, so that clock skew between replicas (or a
    /// clock a test moves by hand) cannot make Redis drop an entry that is still live (10 s).
    pub expiry_margin: Duration,
    /// How often the subscriber checks its connection (default 1 s).
    pub subscriber_ping: Duration,
    /// Notices a slow subscriber may fall behind before it gets `Notice::Missed` (1024).
    pub notice_buffer: usize,
    /// For `rediss://`: PEM certificates of the CAs to trust instead of the system's roots (a
    /// private CA). `None`: the system's roots.
    pub tls_root_ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOptions")
            .field("prefix", &self.prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("reconnect_retries", &self.reconnect_retries)
            .field("expiry_margin", &self.expiry_margin)
            .field("subscriber_ping", &self.subscriber_ping)
            .field("notice_buffer", &self.notice_buffer)
            .field(
                "tls_root_ca_pem",
                &self.tls_root_ca_pem.as_ref().map(|_| "set"),
            )
            .finish()
    }
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "palisade".into(),
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(1),
            reconnect_retries: 2,
            expiry_margin: Duration::from_secs(10),
            subscriber_ping: Duration::from_secs(1),
            notice_buffer: 1024,
            tls_root_ca_pem: None,
        }
    }
}

impl RedisOptions {
    pub(crate) fn check(&self) -> StoreResult<()> {
        let ok = !self.prefix.is_empty()
            && self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b));
        if !ok {
            return Err(StoreError::UnsupportedUrl(format!(
                "Redis key prefix {:?}: use letters, digits, '_', '-', '.' or ':'",
                self.prefix
            )));
        }
        Ok(())
    }

    /// The most a call may take before it is reported `Unavailable`.
    pub(crate) fn deadline(&self) -> Duration {
        self.connect_timeout + self.response_timeout
    }

    fn manager_config(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout))
            .set_number_of_retries(self.reconnect_retries)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(self.connect_timeout)
    }

    /// Milliseconds to hand Redis as a real expiry for a logical TTL of `ttl_ms`.
    pub(crate) fn redis_ttl_ms(&self, ttl_ms: u64) -> u64 {
        let margin = u64::try_from(self.expiry_margin.as_millis()).unwrap_or(u64::MAX);
        ttl_ms.saturating_add(margin).clamp(1, MAX_REDIS_TTL_MS)
    }
}

/// Longest real expiry handed to Redis (about 2,200 years; Redis refuses overflowing ones).
const MAX_REDIS_TTL_MS: u64 = 1 << 46;
/// Largest integer a Redis Lua number (a double) holds exactly: expiry instants are capped here.
pub(crate) const MAX_EXACT: u64 = (1 << 53) - 1;

/// A connection shared by [`RedisHotState`] and [`crate::redis_limiter::RedisLimiter`].
#[derive(Clone)]
pub(crate) struct Conn {
    pub(crate) manager: ConnectionManager,
    pub(crate) options: Arc<RedisOptions>,
    client: Client,
}

impl Conn {
    /// A lazily connected manager: only a malformed URL or prefix fails here.
    pub(crate) fn open(url: &str, options: RedisOptions) -> StoreResult<Conn> {
        options.check()?;
        // The URL may carry a password: never echo it.
        let client = match &options.tls_root_ca_pem {
            None => Client::open(url),
            Some(pem) => Client::build_with_tls(
                url,
                ::redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
        }
        .map_err(|e| {
            StoreError::UnsupportedUrl(format!("not a usable Redis URL ({:?})", e.kind()))
        })?;
        let manager =
            ConnectionManager::new_lazy_with_config(client.clone(), options.manager_config())
                .map_err(map_err)?;
        Ok(Conn {
            manager,
            options: Arc::new(options),
            client,
        })
    }

    /// Runs one Redis exchange under the deadline.
    pub(crate) async fn run<T, F, Fut>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        bounded(self.options.deadline(), f(self.manager.clone())).await
    }
}

async fn bounded<T>(
    deadline: Duration,
    fut: impl Future<Output = Result<T, RedisError>>,
) -> StoreResult<T> {
    match tokio::time::timeout(deadline, fut).await {
        Ok(result) => result.map_err(map_err),
        Err(_) => Err(StoreError::Unavailable(format!(
            "Redis did not answer within {deadline:?}"
        ))),
    }
}

/// What the query itself got wrong is a `Query` error; everything else (connection, timeout,
/// loading, read-only replica, cluster down, authentication) is `Unavailable`.
pub(crate) fn map_err(e: RedisError) -> StoreError {
    let query = matches!(
        e.kind(),
        ErrorKind::Parse
            | ErrorKind::UnexpectedReturnType
            | ErrorKind::Extension
            | ErrorKind::Server(
                ServerErrorKind::ResponseError
                    | ServerErrorKind::ExecAbort
                    | ServerErrorKind::NoScript
                    | ServerErrorKind::CrossSlot
            )
    );
    if query {
        StoreError::Query(format!("Redis: {e}"))
    } else {
        StoreError::Unavailable(format!("Redis: {e}"))
    }
}

/// `incr` / `incr_by`: add to a live entry keeping its expiry, else start a counter at the
/// amount. KEYS[1] the entry; ARGV: now (ms), expiry if it starts now (ms), Redis TTL (ms),
/// the amount.
const INCR_LUA: &str = r#"
local by = tonumber(ARGV[4])
local raw = redis.call('GET', KEYS[1])
if raw then
  local kind, exp, val = string.match(raw, '^(%a):(%d+):(%d+)$')
  if kind and tonumber(exp) > tonumber(ARGV[1]) then
    local n = tonumber(val) + by
    redis.call('SET', KEYS[1], kind .. ':' .. exp .. ':' .. string.format('%.0f', n), 'KEEPTTL')
    return n
  end
end
redis.call('SET', KEYS[1], 'c:' .. ARGV[2] .. ':' .. string.format('%.0f', by), 'PX', ARGV[3])
return by
"#;

/// `prime_end`: the priming is complete only if its marker survived (no flush since it was
/// written); then the epoch is set unless present and returned.
/// KEYS[1] the epoch, KEYS[2] the marker (same hash tag); ARGV[1] a fresh epoch.
const PRIME_END_LUA: &str = r#"
if redis.call('EXISTS', KEYS[2]) == 0 then
  return false
end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
"#;

/// How long a priming marker lives: far longer than any priming takes.
const PRIMING_MARKER_MS: u64 = 600_000;

/// What a flag read learnt about the epoch.
enum Epoch {
    /// The one known before the read: the answer stands.
    Same,
    /// Another (a newer priming): adopted; read again.
    Adopted,
    /// Gone: the hot state lost its memory.
    Lost,
}

/// The epoch this replica trusts, once primed.
#[derive(Default)]
struct EpochGuard {
    known: Mutex<Option<Arc<str>>>,
    /// Set when a loss was seen (so subscribers are told once), cleared by the next epoch.
    lost: std::sync::atomic::AtomicBool,
}

/// One stored entry, as read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    flag: bool,
    expires_ms: u64,
    value: u64,
}

impl Entry {
    fn parse(raw: &[u8]) -> Option<Entry> {
        let text = std::str::from_utf8(raw).ok()?;
        let mut parts = text.splitn(3, ':');
        let flag = match parts.next()? {
            "f" => true,
            "c" => false,
            _ => return None,
        };
        let expires_ms = parts.next()?.parse().ok()?;
        let value = parts.next()?.parse().ok()?;
        Some(Entry {
            flag,
            expires_ms,
            value,
        })
    }

    fn live(raw: Option<Vec<u8>>, now: u64) -> Option<Entry> {
        raw.as_deref()
            .and_then(Entry::parse)
            .filter(|e| e.expires_ms > now)
    }
}

/// The broadcast side: created by the first `subscribe`.
struct Subscriber {
    notices: Arc<broadcast::Sender<Notice>>,
    subscribed: watch::Receiver<bool>,
}

/// A [`HotState`] on Redis; see the module documentation.
pub struct RedisHotState {
    conn: Conn,
    clock: SharedClock,
    incr: Script,
    prime_end: Script,
    subscriber: Mutex<Option<Subscriber>>,
    epoch: EpochGuard,
}

impl std::fmt::Debug for RedisHotState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URL: it may carry a password.
        f.debug_struct("RedisHotState")
            .field("prefix", &self.conn.options.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisHotState {
    /// A hot state on the Redis `url` names. Connects lazily: only a malformed URL or prefix
    /// fails here; an unreachable server makes each call fail with `Unavailable` until it is
    /// back. Needs a Tokio runtime.
    pub fn connect(
        url: &str,
        clock: SharedClock,
        options: RedisOptions,
    ) -> StoreResult<RedisHotState> {
        Ok(RedisHotState {
            conn: Conn::open(url, options)?,
            clock,
            incr: Script::new(INCR_LUA),
            prime_end: Script::new(PRIME_END_LUA),
            subscriber: Mutex::new(None),
            epoch: EpochGuard::default(),
        })
    }

    /// A rate limiter sharing this connection and prefix.
    pub fn limiter(&self) -> crate::redis_limiter::RedisLimiter {
        crate::redis_limiter::RedisLimiter::with_conn(self.conn.clone())
    }

    /// The shared stale-fallback entries, on this connection and prefix.
    pub fn stale(&self) -> crate::redis_stale::RedisStale {
        crate::redis_stale::RedisStale::with_conn(self.conn.clone())
    }

    /// How this hot state connects (URL, prefix, timeouts), for the connections opened beside it.
    pub fn options(&self) -> &RedisOptions {
        &self.conn.options
    }

    fn key(&self, key: &str) -> String {
        format!("{}:h:{{{key}}}", self.conn.options.prefix)
    }

    fn epoch_key(&self) -> String {
        format!("{}:e:{{epoch}}", self.conn.options.prefix)
    }

    fn known_epoch(&self) -> Option<Arc<str>> {
        self.epoch
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Judges the epoch read after a flag (or a listing) against `snapshot`, the one known
    /// before it was sent.
    fn judge_epoch(&self, snapshot: &str, seen: Option<String>) -> Epoch {
        use std::sync::atomic::Ordering;
        match seen {
            Some(e) if e == snapshot => Epoch::Same,
            Some(e) => {
                let mut known = self.epoch.known.lock().unwrap_or_else(|p| p.into_inner());
                if known.as_deref() == Some(snapshot) {
                    *known = Some(e.into());
                }
                self.epoch.lost.store(false, Ordering::SeqCst);
                Epoch::Adopted
            }
            None => {
                if !self.epoch.lost.swap(true, Ordering::SeqCst) {
                    self.notify(Notice::Missed);
                }
                Epoch::Lost
            }
        }
    }

    fn notify(&self, notice: Notice) {
        let slot = self.subscriber.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slot.as_ref() {
            let _ = s.notices.send(notice);
        }
    }

    fn lost_error() -> StoreError {
        StoreError::Unavailable(
            "the Redis hot state lost its memory; waiting for it to be primed again".into(),
        )
    }

    /// A flag's live entry. Once primed: the flag and the epoch in one pipeline (one round
    /// trip), trusted only under an unchanged epoch (see the module documentation).
    async fn get_flag(&self, key: &str) -> StoreResult<Option<Entry>> {
        for _ in 0..2 {
            let Some(snapshot) = self.known_epoch() else {
                return self.get(key).await;
            };
            let (k, e) = (self.key(key), self.epoch_key());
            let (raw, seen): (Option<Vec<u8>>, Option<String>) = self
                .conn
                .run(|mut c| async move { ::redis::pipe().get(k).get(e).query_async(&mut c).await })
                .await?;
            match self.judge_epoch(&snapshot, seen) {
                Epoch::Same => return Ok(Entry::live(raw, self.clock.now_millis())),
                Epoch::Adopted => continue,
                Epoch::Lost => return Err(Self::lost_error()),
            }
        }
        Err(StoreError::Unavailable(
            "the Redis hot state was primed twice during one read".into(),
        ))
    }

    /// After a multi-round-trip read begun under `snapshot`: fails unless the epoch is the same.
    async fn check_epoch(&self, snapshot: Option<Arc<str>>) -> StoreResult<()> {
        let Some(snapshot) = snapshot else {
            return Ok(());
        };
        let e = self.epoch_key();
        let seen: Option<String> = self.conn.run(|mut c| async move { c.get(e).await }).await?;
        match self.judge_epoch(&snapshot, seen) {
            Epoch::Same => Ok(()),
            Epoch::Adopted => Err(StoreError::Unavailable(
                "the Redis hot state was primed again during the read; retry".into(),
            )),
            Epoch::Lost => Err(Self::lost_error()),
        }
    }

    fn channel_prefix(&self) -> String {
        format!("{}:inv:", self.conn.options.prefix)
    }

    /// Expiry instant and Redis TTL of an entry written now for `ttl`.
    fn expiry(&self, ttl: Duration) -> (u64, u64, u64) {
        let now = self.clock.now_millis();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let expires = now.saturating_add(ttl_ms).min(MAX_EXACT);
        (now, expires, self.conn.options.redis_ttl_ms(ttl_ms))
    }

    async fn get(&self, key: &str) -> StoreResult<Option<Entry>> {
        let k = self.key(key);
        let raw: Option<Vec<u8>> = self.conn.run(|mut c| async move { c.get(k).await }).await?;
        Ok(Entry::live(raw, self.clock.now_millis()))
    }

    /// The live entries of several Redis keys (one pipeline of GETs, one round trip), with the
    /// instant they were judged at.
    async fn get_many(&self, redis_keys: Vec<String>) -> StoreResult<(Vec<Option<Entry>>, u64)> {
        let values: Vec<Option<Vec<u8>>> = self
            .conn
            .run(|mut c| async move {
                let mut pipe = ::redis::pipe();
                for k in redis_keys {
                    pipe.get(k);
                }
                pipe.query_async(&mut c).await
            })
            .await?;
        let now = self.clock.now_millis();
        let entries = values.into_iter().map(|raw| Entry::live(raw, now));
        Ok((entries.collect(), now))
    }

    /// The server's eviction policy when it may evict (`maxmemory` set and a policy other than
    /// `noeviction`): an evicted revocation flag would go unnoticed, as the epoch survives it.
    /// `None` when Redis never evicts, or does not let us read its configuration (managed
    /// services often refuse `CONFIG`).
    pub async fn evicting_policy(&self) -> Option<String> {
        let config: std::collections::HashMap<String, String> = self
            .conn
            .run(|mut c| async move {
                ::redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("maxmemory*")
                    .query_async(&mut c)
                    .await
            })
            .await
            .ok()?;
        let policy = config.get("maxmemory-policy")?;
        let limited = config.get("maxmemory").is_some_and(|m| m != "0");
        (limited && policy != "noeviction").then(|| policy.clone())
    }

    /// Deletes every key under this hot state's prefix (hot-state entries, limiter states) with
    /// SCAN + DEL; for tests and for an operator resetting a namespace, not for the hot path.
    /// Returns how many keys were deleted.
    pub async fn purge_namespace(&self) -> StoreResult<u64> {
        let pattern = format!("{}:*", self.conn.options.prefix);
        let keys = self.scan(&pattern).await?;
        let mut deleted = 0;
        for batch in keys.chunks(500) {
            let batch = batch.to_vec();
            let n: u64 = self
                .conn
                .run(|mut c| async move { c.del(batch).await })
                .await?;
            deleted += n;
        }
        Ok(deleted)
    }

    /// Every key matching the glob `pattern`, one SCAN page per round trip.
    async fn scan(&self, pattern: &str) -> StoreResult<Vec<String>> {
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let pattern = pattern.to_string();
            let (next, page): (u64, Vec<String>) = self
                .conn
                .run(|mut c| async move {
                    ::redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            keys.extend(page);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    /// Starts the subscriber task once; returns its notice sender and subscription state.
    fn subscriber(&self) -> StoreResult<(Arc<broadcast::Sender<Notice>>, watch::Receiver<bool>)> {
        let mut slot = self.subscriber.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slot.as_ref() {
            return Ok((s.notices.clone(), s.subscribed.clone()));
        }
        let info = self.conn.client.get_connection_info().clone();
        let redis_settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = Client::open(info.set_redis_settings(redis_settings)).map_err(map_err)?;
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let config = self
            .conn
            .options
            .manager_config()
            .set_push_sender(push_tx)
            .set_automatic_resubscription();
        let manager = ConnectionManager::new_lazy_with_config(client, config).map_err(map_err)?;
        let notices = Arc::new(broadcast::channel(self.conn.options.notice_buffer.max(1)).0);
        let (subscribed_tx, subscribed) = watch::channel(false);
        let task = SubscriberTask {
            manager,
            pattern: format!("{}*", self.channel_prefix()),
            channel_prefix: self.channel_prefix(),
            notices: Arc::downgrade(&notices),
            subscribed: subscribed_tx,
            options: self.conn.options.clone(),
        };
        tokio::runtime::Handle::try_current()
            .map_err(|_| StoreError::Unavailable("subscribing needs a Tokio runtime".into()))?
            .spawn(task.run(push_rx));
        *slot = Some(Subscriber {
            notices: notices.clone(),
            subscribed: subscribed.clone(),
        });
        Ok((notices, subscribed))
    }
}

/// Owns the subscriber connection; ends when the hot state is dropped.
struct SubscriberTask {
    manager: ConnectionManager,
    pattern: String,
    channel_prefix: String,
    notices: Weak<broadcast::Sender<Notice>>,
    subscribed: watch::Sender<bool>,
    options: Arc<RedisOptions>,
}

impl SubscriberTask {
    async fn run(mut self, mut pushes: mpsc::UnboundedReceiver<PushInfo>) {
        let mut tick = tokio::time::interval(self.options.subscriber_ping);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Until the first confirmation, PSUBSCRIBE on every tick; afterwards the manager
        // resubscribes by itself after reconnecting, and the pings make it notice a dead link.
        let mut confirmed_once = false;
        let mut dropped = false;
        loop {
            tokio::select! {
                push = pushes.recv() => {
                    let Some(push) = push else { return };
                    let Some(notices) = self.notices.upgrade() else { return };
                    match push.kind {
                        PushKind::PMessage => {
                            if let Some(notice) = self.message(push.data) {
                                let _ = notices.send(notice);
                            }
                        }
                        PushKind::PSubscribe => {
                            confirmed_once = true;
                            self.subscribed.send_replace(true);
                            if std::mem::take(&mut dropped) {
                                let _ = notices.send(Notice::Missed);
                            }
                        }
                        PushKind::Disconnection => {
                            self.subscribed.send_replace(false);
                            if !dropped && confirmed_once {
                                dropped = true;
                                let _ = notices.send(Notice::Missed);
                            }
                        }
                        _ => {}
                    }
                }
                _ = tick.tick() => {
                    if self.notices.strong_count() == 0 {
                        return;
                    }
                    let deadline = self.options.deadline();
                    if confirmed_once {
                        let _ = bounded(deadline, self.manager.ping::<()>()).await;
                    } else {
                        let pattern = self.pattern.clone();
                        let _ = bounded(deadline, self.manager.psubscribe(pattern)).await;
                    }
                }
            }
        }
    }

    /// A `pmessage` push is `[pattern, channel, payload]`.
    fn message(&self, data: Vec<Value>) -> Option<Notice> {
        let mut parts = data.into_iter().skip(1);
        let channel: String = ::redis::from_redis_value(parts.next()?).ok()?;
        let body: String = ::redis::from_redis_value(parts.next()?).ok()?;
        let topic = channel.strip_prefix(&self.channel_prefix)?.to_string();
        Some(Notice::Message { topic, body })
    }
}

/// Escapes Redis glob characters so `text` matches itself only.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[async_trait]
impl HotState for RedisHotState {
    fn backend(&self) -> &'static str {
        "redis"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.conn
            .run(|mut c| async move { c.ping::<()>().await })
            .await
    }

    async fn incr(&self, key: &str, ttl: Duration) -> StoreResult<u64> {
        self.incr_by(key, 1, ttl).await
    }

    async fn incr_by(&self, key: &str, by: u64, ttl: Duration) -> StoreResult<u64> {
        let (now, expires, redis_ttl) = self.expiry(ttl);
        let mut call = self.incr.key(self.key(key));
        call.arg(now).arg(expires).arg(redis_ttl).arg(by);
        self.conn
            .run(|mut c| async move { call.invoke_async(&mut c).await })
            .await
    }

    async fn counter(&self, key: &str) -> StoreResult<u64> {
        Ok(self.get(key).await?.map_or(0, |e| e.value))
    }

    async fn set_flag(&self, key: &str, ttl: Duration) -> StoreResult<()> {
        let (_, expires, redis_ttl) = self.expiry(ttl);
        let k = self.key(key);
        let value = format!("f:{expires}:1");
        self.conn
            .run(|mut c| async move {
                ::redis::cmd("SET")
                    .arg(k)
                    .arg(value)
                    .arg("PX")
                    .arg(redis_ttl)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await
    }

    async fn has_flag(&self, key: &str) -> StoreResult<bool> {
        Ok(self.get_flag(key).await?.is_some())
    }

    async fn flag_ttl(&self, key: &str) -> StoreResult<Option<Duration>> {
        let entry = self.get_flag(key).await?;
        let now = self.clock.now_millis();
        Ok(entry.map(|e| Duration::from_millis(e.expires_ms - now)))
    }

    async fn flags_with_prefix(&self, prefix: &str) -> StoreResult<Vec<(String, Duration)>> {
        let snapshot = self.known_epoch();
        let head = format!("{}:h:{{", self.conn.options.prefix);
        let pattern = format!("{}{}*", glob_escape(&head), glob_escape(prefix));
        let keys = self.scan(&pattern).await?;
        let mut out = Vec::new();
        for batch in keys.chunks(500) {
            let (entries, now) = self.get_many(batch.to_vec()).await?;
            for (key, entry) in batch.iter().zip(entries) {
                let Some(entry) = entry.filter(|e| e.flag) else {
                    continue;
                };
                let name = key
                    .strip_prefix(&head)
                    .and_then(|k| k.strip_suffix('}'))
                    .filter(|k| k.starts_with(prefix));
                if let Some(name) = name {
                    out.push((
                        name.to_string(),
                        Duration::from_millis(entry.expires_ms - now),
                    ));
                }
            }
        }
        self.check_epoch(snapshot).await?;
        Ok(out)
    }

    async fn counter_sum(&self, keys: &[String]) -> StoreResult<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        let (entries, _) = self
            .get_many(keys.iter().map(|k| self.key(k)).collect())
            .await?;
        Ok(entries.into_iter().flatten().map(|e| e.value).sum())
    }

    async fn remove(&self, key: &str) -> StoreResult<()> {
        let k = self.key(key);
        self.conn
            .run(|mut c| async move { c.del::<_, ()>(k).await })
            .await
    }

    async fn restore_flags(&self, flags: &[(String, Duration)]) -> StoreResult<()> {
        for chunk in flags.chunks(500) {
            let mut pipe = ::redis::pipe();
            for (key, ttl) in chunk {
                let (_, expires, redis_ttl) = self.expiry(*ttl);
                pipe.cmd("SET")
                    .arg(self.key(key))
                    .arg(format!("f:{expires}:1"))
                    .arg("PX")
                    .arg(redis_ttl)
                    .ignore();
            }
            self.conn
                .run(|mut c| async move { pipe.query_async::<()>(&mut c).await })
                .await?;
        }
        Ok(())
    }

    async fn prime_begin(&self) -> StoreResult<String> {
        let ticket = uuid::Uuid::now_v7().simple().to_string();
        let marker = format!("{}:priming:{ticket}", self.epoch_key());
        self.conn
            .run(|mut c| async move {
                ::redis::cmd("SET")
                    .arg(marker)
                    .arg(1)
                    .arg("PX")
                    .arg(PRIMING_MARKER_MS)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await?;
        Ok(ticket)
    }

    async fn prime_end(&self, ticket: &str) -> StoreResult<bool> {
        let marker = format!("{}:priming:{ticket}", self.epoch_key());
        let mut call = self.prime_end.key(self.epoch_key());
        call.key(marker)
            .arg(uuid::Uuid::now_v7().simple().to_string());
        let epoch: Option<String> = self
            .conn
            .run(|mut c| async move { call.invoke_async(&mut c).await })
            .await?;
        let Some(epoch) = epoch else {
            return Ok(false);
        };
        *self.epoch.known.lock().unwrap_or_else(|p| p.into_inner()) = Some(epoch.into());
        self.epoch
            .lost
            .store(false, std::sync::atomic::Ordering::SeqCst);
        Ok(true)
    }

    async fn lost_memory(&self) -> StoreResult<bool> {
        let Some(snapshot) = self.known_epoch() else {
            return Ok(false);
        };
        let e = self.epoch_key();
        let seen: Option<String> = self.conn.run(|mut c| async move { c.get(e).await }).await?;
        Ok(matches!(self.judge_epoch(&snapshot, seen), Epoch::Lost))
    }

    async fn publish(&self, topic: &str, body: &str) -> StoreResult<u64> {
        let channel = format!("{}{topic}", self.channel_prefix());
        let body = body.to_string();
        self.conn
            .run(|mut c| async move { c.publish::<_, _, u64>(channel, body).await })
            .await
    }

    /// Waits (at most the call deadline) until the subscription is confirmed, so that what is
    /// published after this returns is received.
    async fn subscribe(&self) -> StoreResult<Subscription> {
        let (notices, mut subscribed) = self.subscriber()?;
        let rx = notices.subscribe();
        let deadline = self.conn.options.deadline() + self.conn.options.subscriber_ping;
        match tokio::time::timeout(deadline, subscribed.wait_for(|s| *s)).await {
            Ok(Ok(_)) => Ok(Subscription::new(rx)),
            _ => Err(StoreError::Unavailable(format!(
                "Redis subscription not confirmed within {deadline:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_and_expire() {
        let e = Entry::parse(b"c:1000:7").unwrap();
        assert_eq!(
            e,
            Entry {
                flag: false,
                expires_ms: 1000,
                value: 7
            }
        );
        assert!(Entry::parse(b"f:5:1").unwrap().flag);
        assert_eq!(Entry::parse(b"x:5:1"), None);
        assert_eq!(Entry::parse(b"c:5"), None);
        assert_eq!(Entry::live(Some(b"c:1000:7".to_vec()), 999), Some(e));
        assert_eq!(Entry::live(Some(b"c:1000:7".to_vec()), 1000), None);
        assert_eq!(Entry::live(None, 0), None);
    }

    #[test]
    fn prefixes_are_checked_and_globs_escaped() {
        let bad = |p: &str| {
            RedisOptions {
                prefix: p.into(),
                ..Default::default()
            }
            .check()
            .is_err()
        };
        assert!(bad(""));
        assert!(bad("a{b}"));
        assert!(bad("a*"));
        assert!(!bad("palisade:test-1.x_y"));
        assert_eq!(glob_escape(r"a*b?[c]\d{e}"), r"a\*b\?\[c\]\\d{e}");
    }

    #[test]
    fn redis_ttls_keep_a_margin_and_stay_in_range() {
        let o = RedisOptions::default();
        assert_eq!(o.redis_ttl_ms(0), 10_000);
        assert_eq!(o.redis_ttl_ms(5_000), 15_000);
        assert_eq!(o.redis_ttl_ms(u64::MAX), MAX_REDIS_TTL_MS);
    }

    #[test]
    fn a_malformed_url_is_refused_without_echoing_it() {
        let clock: SharedClock = Arc::new(palisade_core::clock::ManualClock::default());
        let err =
            RedisHotState::connect("redis://user:s3cret@[::1", clock, RedisOptions::default())
                .unwrap_err();
        assert!(matches!(err, StoreError::UnsupportedUrl(_)));
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}
