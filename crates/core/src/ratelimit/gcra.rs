//! GCRA, the generic cell rate algorithm (a token bucket without a timer).
//!
//! State: the theoretical arrival time `TAT`, in microseconds. With the emission interval
//! `T = period / limit` and the tolerance `τ = T × (burst − 1)`:
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
//! Microseconds keep the emission interval exact to 1 µs per request, so the admitted count
//! over a long run stays within a fraction of a percent of the quota; times are milliseconds at
//! the boundary.

use super::{Decision, Quota};

fn emission_interval_us(q: &Quota) -> u64 {
    (q.period_ms.saturating_mul(1000) / q.limit.max(1) as u64).max(1)
}

/// One decision; returns the new state (the old one when refused).
pub fn decide(state: Option<u64>, quota: &Quota, now_ms: u64) -> (Decision, u64) {
    let now = now_ms.saturating_mul(1000);
    let t = emission_interval_us(quota);
    let tau = t.saturating_mul(quota.burst.max(1) as u64 - 1);
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
        return (decision, state.unwrap_or(now));
    }
    let new_tat = tat.saturating_add(t);
    let headroom = (now.saturating_add(tau)).checked_sub(new_tat);
    let remaining = headroom.map_or(0, |h| h / t + 1);
    let decision = Decision {
        allowed: true,
        limit: quota.limit,
        remaining: remaining.min(u32::MAX as u64) as u32,
        reset_after_ms: (new_tat - now).div_ceil(1000),
        retry_after_ms: 0,
    };
    (decision, new_tat)
}

/// A state that has fully drained (the key is as good as new) and may be forgotten.
pub fn is_idle(state: u64, now_ms: u64) -> bool {
    state <= now_ms.saturating_mul(1000)
}
