//! Rate-limit arithmetic and the in-memory limiter.
//!
//! Two algorithms, chosen per rule: [`gcra`] (the generic cell rate algorithm: a token bucket
//! without a timer, smooth, with a burst) and [`sliding`] (a sliding-window counter). Both are
//! pure functions of a small state and the time, so the Redis-backed limiter can run the same
//! formulas server-side. [`MemoryLimiter`] keeps the states in a sharded, bounded map.
//!
//! Guarantees: time only comes in as `now_ms`; `retry_after_ms` is exact (a request at
//! `now + retry_after_ms` is admitted, one a millisecond earlier is not); a time earlier than one
//! already seen (callers racing for a shard read the clock before its lock) is never more lenient
//! than the later one; no arithmetic can overflow or panic, whatever the quota or the time.

pub mod gcra;
mod memory;
pub mod sliding;
#[cfg(test)]
mod tests;

pub use memory::MemoryLimiter;

/// The arithmetic a rule uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// Generic cell rate algorithm: smooth, with bursts up to `burst`.
    #[default]
    Gcra,
    /// Sliding-window counter: the current and previous fixed windows, weighted.
    SlidingWindow,
}

/// `limit` requests per `period_ms`; GCRA also admits up to `burst` at once from an idle key.
///
/// [`Quota::new`] refuses a zero limit or period. A quota built field by field never makes the
/// arithmetic panic: a zero limit counts as 1, a zero period as 1 ms, a zero burst as the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests admitted per period.
    pub limit: u32,
    /// The period, in milliseconds.
    pub period_ms: u64,
    /// GCRA: requests admitted at once from an idle key (0 means `limit`).
    pub burst: u32,
}

/// Why [`Quota::new`] refused a quota.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    /// A limit of zero would refuse everything; say so with a block instead.
    #[error("a limit must be at least 1")]
    ZeroLimit,
    /// A period of zero has no meaning.
    #[error("a period must be at least 1 ms")]
    ZeroPeriod,
}

impl Quota {
    /// `burst` 0 means "the limit".
    pub fn new(limit: u32, period_ms: u64, burst: u32) -> Result<Quota, QuotaError> {
        if limit == 0 {
            return Err(QuotaError::ZeroLimit);
        }
        if period_ms == 0 {
            return Err(QuotaError::ZeroPeriod);
        }
        Ok(Quota {
            limit,
            period_ms,
            burst: if burst == 0 { limit } else { burst },
        })
    }

    /// The quota for a subscription tier: limit and burst times `multiplier`, rounded, at least 1.
    pub fn scaled(&self, multiplier: f64) -> Quota {
        let scale = |n: u32| {
            let m = if multiplier.is_finite() && multiplier > 0.0 {
                multiplier
            } else {
                1.0
            };
            ((n as f64) * m).round().clamp(1.0, u32::MAX as f64) as u32
        };
        Quota {
            limit: scale(self.limit),
            period_ms: self.period_ms,
            // 0 keeps meaning "the limit", which is scaled already.
            burst: if self.burst == 0 {
                0
            } else {
                scale(self.burst)
            },
        }
    }

    /// GCRA's bucket capacity: `burst`, or the limit when `burst` is 0; at least 1.
    pub fn capacity(&self) -> u32 {
        if self.burst == 0 {
            self.limit.max(1)
        } else {
            self.burst
        }
    }
}

/// The answer for one request, with what the `X-RateLimit-*` headers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether this request passes.
    pub allowed: bool,
    /// The rule's limit, for `X-RateLimit-Limit`.
    pub limit: u32,
    /// Requests still admissible right now after this one.
    pub remaining: u32,
    /// Until the key is back to its full capacity.
    pub reset_after_ms: u64,
    /// 0 when allowed; else until the next request would be admitted.
    pub retry_after_ms: u64,
}

impl Decision {
    /// Whole seconds for `Retry-After`, rounded up (at least 1 when refused).
    pub fn retry_after_secs(&self) -> u64 {
        if self.allowed {
            return 0;
        }
        self.retry_after_ms.div_ceil(1000).max(1)
    }

    /// Whole seconds for `X-RateLimit-Reset`, rounded up.
    pub fn reset_after_secs(&self) -> u64 {
        self.reset_after_ms.div_ceil(1000)
    }
}
