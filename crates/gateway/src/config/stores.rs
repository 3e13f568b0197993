//! `[store]` and `[hot_state]`: where the durable record (SQLite or PostgreSQL) and the hot
//! state (memory or Redis/Valkey) live, and how long Palisade waits for them.

use super::Config;
use super::units::HumanDuration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[store]`: where the durable record lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite:` (a file in the data dir), `sqlite://PATH`, `memory:`, or
    /// `postgres://user:password@host:port/db?sslmode=require` (the scale-out store).
    pub url: String,
    /// Older name of `hot_state.url`, still read when `hot_state.url` is not set.
    pub hot_url: String,
    /// PostgreSQL: most pooled connections per gateway.
    pub max_connections: u32,
    /// PostgreSQL: longest wait for a pooled connection before a query fails (then 503).
    pub acquire_timeout: HumanDuration,
    /// PostgreSQL: longest wait for the first connection at start.
    pub connect_timeout: HumanDuration,
    /// PostgreSQL: server-side limit on one statement; unset leaves the server's.
    pub statement_timeout: Option<HumanDuration>,
    /// PostgreSQL: keep every table in this schema (created if missing).
    pub schema: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: "sqlite:".into(),
            hot_url: "memory:".into(),
            max_connections: 10,
            acquire_timeout: HumanDuration(Duration::from_secs(5)),
            connect_timeout: HumanDuration(Duration::from_secs(10)),
            statement_timeout: None,
            schema: None,
        }
    }
}

/// `[hot_state]`: where counters, revocations, blocks and limiter states live.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HotStateConfig {
    /// `memory:` (in-process, the embedded default) or `redis://[user:password@]host:port[/db]`
    /// / `rediss://…` (TLS) shared by every replica. Unset: `store.hot_url`, else `memory:`.
    pub url: Option<String>,
    /// Namespace of every Redis key and channel.
    pub prefix: String,
    /// Longest wait for a Redis connection at start.
    pub connect_timeout: HumanDuration,
    /// Bound on one Redis command; past it the call fails (and the gates fail closed).
    pub response_timeout: HumanDuration,
    /// How long a replica may answer a flag read (revocation, block) from memory. Changes
    /// reach every replica at once through Redis pub/sub; this bounds the rest.
    pub local_cache_ttl: HumanDuration,
}

impl Default for HotStateConfig {
    fn default() -> Self {
        Self {
            url: None,
            prefix: "palisade".into(),
            connect_timeout: HumanDuration(Duration::from_secs(1)),
            response_timeout: HumanDuration(Duration::from_secs(1)),
            local_cache_ttl: HumanDuration(Duration::from_secs(5)),
        }
    }
}

impl Config {
    /// The hot state's URL: `hot_state.url`, else the older `store.hot_url`.
    pub fn hot_state_url(&self) -> &str {
        self.hot_state.url.as_deref().unwrap_or(&self.store.hot_url)
    }
}

impl StoreConfig {
    /// The PostgreSQL pool settings this section describes.
    pub fn postgres_options(&self) -> palisade_store::postgres::PostgresOptions {
        palisade_store::postgres::PostgresOptions {
            max_connections: self.max_connections.max(1),
            acquire_timeout: self.acquire_timeout.0,
            connect_timeout: self.connect_timeout.0,
            statement_timeout: self.statement_timeout.map(|d| d.0),
            schema: self.schema.clone(),
            ..Default::default()
        }
    }
}
