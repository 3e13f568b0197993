//! GCRA, the generic cell rate algorithm (a token bucket without a timer).
//!
//! State: the theoretical arrival time `TAT`, in microseconds since the epoch. With the emission
//! interval `T = period / limit` and the tolerance `τ = T × (burst − 1)`:
//!
//! ```text
//! tat      = max(TAT or now, now)
//! allow_at = tat − τ
//! now < allow_at  → refuse; retry after allow_at − now; state unchanged
//! otherwise       → admit;  TAT = tat + T
//!                   remaining = ⌊(now + τ − TAT) / T⌋ + 1   (0 if negative)
//!                   reset after TAT − now
//! ```
//!
//! Why microseconds: `T` is rounded down to a whole microsecond, so the admitted rate is high by
//! at most 1 µs / `T` (under 1% for rates up to 10,000 per second; rates above one per
//! microsecond are capped there). Microseconds since the epoch (≈ 1.7 × 10¹⁵) stay below 2⁵³,
//! so a Redis Lua script, whose numbers are doubles, can run the same integer arithmetic exactly.
//! Times are milliseconds at the boundary: `now_us = now_ms × 1000`, and the waits handed back are
//! rounded up to the millisecond, which keeps `retry_after_ms` exact.

use super::{Decision, Quota};

/// `T` in microseconds: `⌊period_us / limit⌋`, at least 1.
pub fn emission_interval_us(quota: &Quota) -> u64 {
    (quota.period_ms.saturating_mul(1000) / u64::from(quota.limit.max(1))).max(1)
}

/// One decision; returns the new state (the old one when refused).
pub fn decide(state: Option<u64>, quota: &Quota, now_ms: u64) -> (Decision, u64) {
    let now = now_ms.saturating_mul(1000);
    let t = emission_interval_us(quota);
    let tau = t.saturating_mul(u64::from(quota.capacity()) - 1);
    let tat = state.unwrap_or(now).max(now);
    let allow_at = tat.saturating_sub(tau);
    if now < allow_at {
        let decision = Decision {
            allowed: false,
            limit: quota.limit,
            remaining: 0,
            reset_after_ms: (tat - now).div_ceil(1000),
            retry_after_ms: (allow_at - now).div_ceil(1000),
        };
        // `tat` is the stored state here: a key without one is never refused.
        return (decision, tat);
    }
    let new_tat = tat.saturating_add(t);
    let headroom = now.saturating_add(tau).checked_sub(new_tat);
    let remaining = headroom.map_or(0, |h| h / t + 1);
    let decision = Decision {
        allowed: true,
        limit: quota.limit,
        remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
        reset_after_ms: (new_tat - now).div_ceil(1000),
        retry_after_ms: 0,
    };
    (decision, new_tat)
}

/// A state that has fully drained (the key is as good as new) and may be forgotten.
pub fn is_idle(state: u64, now_ms: u64) -> bool {
    state <= now_ms.saturating_mul(1000)
}
