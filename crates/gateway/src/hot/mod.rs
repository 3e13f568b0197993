//! Hot state as the gateway opens it: in-process memory (the embedded default), or Redis/Valkey
//! shared by every replica, behind a local flag cache kept coherent by pub/sub ([`cache`]),
//! with the shared rate limiter and the shared stale fallback
//! ([`crate::route::shared_stale`]) on the same server ([`limiter`]).

pub mod cache;
pub mod limiter;

use crate::config::Config;
use palisade_core::clock::SharedClock;
use palisade_store::redis_hot::{RedisHotState, RedisOptions};
use palisade_store::{HotState, SharedHotState};
use std::sync::Arc;

/// The hot state and, when it is shared, the rate limiter that runs on it.
pub struct HotBackend {
    /// The hot state, cached when shared.
    pub hot: SharedHotState,
    /// The shared rate limiter, when the hot state is Redis.
    pub limiter: Option<limiter::SharedLimiter>,
    /// Where the stale fallback's answers are shared, when the hot state is Redis.
    pub stale: Option<palisade_store::redis_stale::RedisStale>,
}

/// Opens `hot_state.url` (or the older `store.hot_url`). A Redis that does not answer a PING
/// within the configured timeouts is an error: a misconfigured gateway refuses to start rather
/// than refusing every request.
pub async fn open_hot(config: &Config, clock: SharedClock) -> Result<HotBackend, String> {
    let url = config.hot_state_url();
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        let hs = &config.hot_state;
        let options = RedisOptions {
            prefix: hs.prefix.clone(),
            connect_timeout: hs.connect_timeout.0,
            response_timeout: hs.response_timeout.0,
            ..Default::default()
        };
        let redis = RedisHotState::connect(url, clock.clone(), options.clone())
            .map_err(|e| e.to_string())?;
        redis.ping().await.map_err(|e| e.to_string())?;
        if let Some(policy) = redis.evicting_policy().await {
            tracing::warn!(
                %policy,
                "Redis may evict keys (maxmemory with a policy other than noeviction): an evicted \
                 revocation or block flag goes unnoticed until the next priming; set \
                 maxmemory-policy noeviction"
            );
        }
        let limiter = limiter::SharedLimiter::new(url, options, redis.limiter());
        let stale = redis.stale();
        let hot = cache::CachedHotState::start(Arc::new(redis), clock, hs.local_cache_ttl.0);
        return Ok(HotBackend {
            hot,
            limiter: Some(limiter),
            stale: Some(stale),
        });
    }
    let hot = palisade_store::open_hot_state(url, clock).map_err(|e| e.to_string())?;
    Ok(HotBackend {
        hot,
        limiter: None,
        stale: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Config {
        let mut c = Config::default();
        c.hot_state.url = Some(url.into());
        c
    }

    fn clock() -> SharedClock {
        Arc::new(palisade_core::clock::SystemClock)
    }

    #[tokio::test]
    async fn memory_opens_and_other_schemes_are_refused() {
        let opened = open_hot(&config("memory:"), clock()).await.ok().unwrap();
        assert_eq!(opened.hot.backend(), "memory");
        assert!(opened.limiter.is_none());
        assert!(open_hot(&config("mysql://x"), clock()).await.is_err());
    }

    #[tokio::test]
    async fn a_redis_that_does_not_answer_is_refused_at_open() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let opened = open_hot(&config(&format!("redis://127.0.0.1:{port}")), clock()).await;
        assert!(opened.is_err(), "a closed port is an error at start");
    }

    #[tokio::test]
    async fn redis_opens_behind_the_replica_cache_with_the_shared_limiter() {
        let Ok(url) = std::env::var("PALISADE_TEST_REDIS_URL") else {
            println!("skipped: PALISADE_TEST_REDIS_URL not set");
            return;
        };
        let opened = open_hot(&config(&url), clock()).await.ok().unwrap();
        assert_eq!(opened.hot.backend(), "redis");
        assert!(opened.limiter.is_some());
        opened.hot.ping().await.unwrap();
    }
}
