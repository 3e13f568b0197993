//! Sliding-window counter: windows of `period` aligned to the epoch, and the estimate
//! `previous × (period − elapsed) / period + current` of the requests in the last `period`.
//! A request is admitted when the estimate plus one stays within `limit`.
//!
//! All arithmetic is done in integers scaled by `period` (no floating point), so the answers —
//! including the exact time of the next admission — are the same on every backend. A time before
//! the stored window's start is taken as that start: a caller that read the clock just before
//! another one never sees the counts rolled away.

use super::{Decision, Quota};

/// Counts of the current and the previous window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    /// Start of the current window, Unix milliseconds.
    pub start_ms: u64,
    /// Requests counted in the current window.
    pub current: u32,
    /// Requests counted in the previous window.
    pub previous: u32,
}

impl Window {
    /// The state as seen at `now`: windows that have passed roll over.
    fn at(self, period: u64, now_ms: u64) -> Window {
        let start = now_ms - now_ms % period;
        if start == self.start_ms {
            self
        } else if start == self.start_ms.saturating_add(period) {
            Window {
                start_ms: start,
                current: 0,
                previous: self.current,
            }
        } else {
            Window {
                start_ms: start,
                current: 0,
                previous: 0,
            }
        }
    }

    /// The estimate scaled by `period`.
    fn scaled_estimate(&self, period: u64, now_ms: u64) -> u128 {
        let elapsed = now_ms - self.start_ms;
        self.previous as u128 * (period - elapsed) as u128 + self.current as u128 * period as u128
    }

    /// When the window ends and the following one, too (every count has rolled off).
    pub fn expires_at_ms(&self, period: u64) -> u64 {
        self.start_ms.saturating_add(period.saturating_mul(2))
    }
}

/// One decision; returns the new state (the rolled-over old one when refused).
pub fn decide(state: Option<Window>, quota: &Quota, now_ms: u64) -> (Decision, Window) {
    let p = quota.period_ms.max(1);
    let limit = u128::from(quota.limit.max(1));
    let asked_at = now_ms;
    let now_ms = state.map_or(now_ms, |w| now_ms.max(w.start_ms));
    let w = state.unwrap_or_default().at(p, now_ms);
    // Everything below is scaled by the period: one request weighs `one`, the cap is `cap`.
    let one = u128::from(p);
    let cap = limit * one;
    let with_this_one = w.scaled_estimate(p, now_ms) + one;
    if with_this_one <= cap {
        let w = Window {
            current: w.current.saturating_add(1),
            ..w
        };
        let decision = Decision {
            allowed: true,
            limit: quota.limit,
            remaining: u32::try_from((cap - with_this_one) / one).unwrap_or(u32::MAX),
            reset_after_ms: w.expires_at_ms(p).saturating_sub(asked_at),
            retry_after_ms: 0,
        };
        return (decision, w);
    }
    let decision = Decision {
        allowed: false,
        limit: quota.limit,
        remaining: 0,
        reset_after_ms: reset_after(&w, p, asked_at),
        retry_after_ms: next_admission(&w, p, limit, now_ms) - asked_at,
    };
    (decision, w)
}

fn reset_after(w: &Window, p: u64, now_ms: u64) -> u64 {
    let end = if w.current > 0 {
        w.expires_at_ms(p)
    } else {
        w.start_ms.saturating_add(p)
    };
    end.saturating_sub(now_ms)
}

/// The first millisecond at which one more request fits.
fn next_admission(w: &Window, period_ms: u64, limit: u128, now_ms: u64) -> u64 {
    let p = u128::from(period_ms);
    // Within this window: previous × (p − e) ≤ (limit − current − 1) × p.
    let room = limit.saturating_sub(w.current as u128 + 1) * p;
    if w.previous > 0 && room > 0 {
        let e = p - (room / w.previous as u128).min(p);
        let at = w.start_ms as u128 + e;
        if e < p && at > now_ms as u128 {
            return at as u64;
        }
    }
    // In the next window, `current` becomes `previous`: current × (p − e) ≤ (limit − 1) × p.
    let next_start = w.start_ms as u128 + p;
    let e = match w.current as u128 {
        0 => 0,
        c => p - ((limit - 1) * p / c).min(p),
    };
    (next_start + e).min(u64::MAX as u128) as u64
}

/// Every count has rolled off: the key is as good as new.
pub fn is_idle(w: &Window, period_ms: u64, now_ms: u64) -> bool {
    now_ms >= w.expires_at_ms(period_ms.max(1))
}
