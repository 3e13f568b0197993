//! The shared rate limiter's connections (Redis): each worker thread opens its own on first
//! use, so a rate-limit decision never hops to another thread's connection task; the
//! connection made at start serves callers outside a runtime. The throttle gate decides with
//! it; what a failed decision becomes is the gate's `rate_limit.on_backend_error`.

use std::collections::HashMap;
use std::sync::Arc;

/// Where the shared limiter lives. Each worker thread opens its own connection on first use, so
/// a decision never hops to another thread's connection task; the connection made at start
/// serves callers outside a runtime.
#[derive(Debug)]
pub struct SharedLimiter {
    url: String,
    options: palisade_store::redis_hot::RedisOptions,
    fallback: Arc<palisade_store::redis_limiter::RedisLimiter>,
    id: u64,
}

type WorkerLimiters = HashMap<u64, Arc<palisade_store::redis_limiter::RedisLimiter>>;

thread_local! {
    static WORKER_LIMITERS: std::cell::RefCell<WorkerLimiters> =
        std::cell::RefCell::new(HashMap::new());
}

impl SharedLimiter {
    /// Connections to `url` with `options`; `fallback` serves callers outside a runtime.
    pub fn new(
        url: &str,
        options: palisade_store::redis_hot::RedisOptions,
        fallback: palisade_store::redis_limiter::RedisLimiter,
    ) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Self {
            url: url.to_owned(),
            options,
            fallback: Arc::new(fallback),
            id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// This thread's limiter (made on first use inside its runtime), or the one made at start.
    pub fn here(&self) -> Arc<palisade_store::redis_limiter::RedisLimiter> {
        if tokio::runtime::Handle::try_current().is_err() {
            return self.fallback.clone();
        }
        WORKER_LIMITERS.with(|m| {
            let mut m = m.borrow_mut();
            if let Some(l) = m.get(&self.id) {
                return l.clone();
            }
            match palisade_store::redis_limiter::RedisLimiter::connect(
                &self.url,
                self.options.clone(),
            ) {
                Ok(l) => {
                    let l = Arc::new(l);
                    m.insert(self.id, l.clone());
                    l
                }
                Err(_) => self.fallback.clone(),
            }
        })
    }
}
