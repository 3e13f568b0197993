//! Rate-limit decisions on Redis: the same arithmetic as `palisade_core::ratelimit`, run
//! server-side so that every gateway replica spends one shared budget per caller.
//!
//! Guarantees:
//! - **Same answers as the in-memory limiter.** Each algorithm is one Lua script that runs the
//!   integer formulas of [`gcra::decide`](palisade_core::ratelimit::gcra::decide) and
//!   [`sliding::decide`](palisade_core::ratelimit::sliding::decide) line by line, and stores state
//!   exactly when `MemoryLimiter` does (a refusal of a key with no state stores nothing; a key
//!   switching algorithms starts afresh). Redis Lua numbers are doubles, exact for integers below
//!   2⁵³: [`RedisLimiter::supports`] says which quotas stay below it for any time up to
//!   2200-01-01, and [`RedisLimiter::decide`] refuses the others (`StoreError::Query`) rather than
//!   answer differently. Integer division in the scripts is corrected after `math.floor`, and
//!   numbers are written back with `%.0f`, never Lua's 14-digit `tostring`.
//! - **Time is the caller's**: `now_ms` comes in as an argument (the injected clock), never from
//!   Redis' own clock. A Redis expiry (the time until the state drains, plus
//!   [`RedisOptions::expiry_margin`]) only lets Redis collect idle keys; a drained state decides
//!   like an absent one, so that expiry never changes an answer.
//! - **One round trip** per decision (EVALSHA; EVAL once after a Redis restart), bounded by the
//!   connection's deadline; an unreachable Redis is `StoreError::Unavailable` (the throttle gate
//!   applies its configured fallback: fail soft, availability only).
//! - **Keys are the same on every replica**: [`RateKey::derive`] is SHA-256 over the rule and the
//!   caller's parts (length-prefixed, so different splits never collide), no per-process secret.
//!   Redis' own dictionaries hash with a random seed, so predictable key names cannot degrade
//!   them. Key: `P:rl:{<32 hex digits>}`, a hash tag of its own (one slot, spread over a cluster).
//!
//! Stored values: GCRA `g:<TAT µs>`; sliding window `s:<window start ms>:<current>:<previous>`.

use crate::redis_hot::{Conn, MAX_EXACT, RedisOptions};
use crate::{StoreError, StoreResult};
use ::redis::Script;
use palisade_core::ratelimit::{Algorithm, Decision, Quota, gcra};

/// Last instant the scripts are exact for: 2200-01-01T00:00:00Z, in ms.
pub const MAX_NOW_MS: u64 = 7_258_118_400_000;

/// Integer helpers shared by both scripts: exact floor and ceiling division of non-negative
/// integers below 2⁵³ (the quotient of doubles is corrected by one step either way).
const PRELUDE: &str = r#"
local function idiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
local function ceil_div(a, b)
  local q = idiv(a, b)
  if q * b < a then q = q + 1 end
  return q
end
"#;

/// `gcra::decide`. KEYS[1] the state; ARGV: now (µs), T (µs), τ (µs), expiry margin (ms).
/// Returns {allowed, remaining, reset_after_ms, retry_after_ms}.
const GCRA_LUA: &str = r#"
local now = tonumber(ARGV[1])
local t = tonumber(ARGV[2])
local tau = tonumber(ARGV[3])
local margin = tonumber(ARGV[4])
local tat = now
local raw = redis.call('GET', KEYS[1])
if raw then
  local s = string.match(raw, '^g:(%d+)$')
  if s then
    s = tonumber(s)
    if s > now then tat = s end
  end
end
local allow_at = tat - tau
if allow_at < 0 then allow_at = 0 end
if now < allow_at then
  return {0, 0, ceil_div(tat - now, 1000), ceil_div(allow_at - now, 1000)}
end
local new_tat = tat + t
local remaining = 0
if now + tau >= new_tat then remaining = idiv(now + tau - new_tat, t) + 1 end
local reset = ceil_div(new_tat - now, 1000)
redis.call('SET', KEYS[1], string.format('g:%.0f', new_tat), 'PX', string.format('%.0f', reset + margin))
return {1, remaining, reset, 0}
"#;

/// `sliding::decide`. KEYS[1] the state; ARGV: now (ms), period (ms), limit (≥ 1), expiry
/// margin (ms). Returns {allowed, remaining, reset_after_ms, retry_after_ms}.
const SLIDING_LUA: &str = r#"
local asked = tonumber(ARGV[1])
local p = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local margin = tonumber(ARGV[4])
local have = false
local ws, wc, wp = 0, 0, 0
local raw = redis.call('GET', KEYS[1])
if raw then
  local s, c, q = string.match(raw, '^s:(%d+):(%d+):(%d+)$')
  if s then
    ws, wc, wp = tonumber(s), tonumber(c), tonumber(q)
    have = true
  end
end
local now = asked
if have and ws > now then now = ws end
local start = idiv(now, p) * p
if start == ws then
elseif start == ws + p then
  wp = wc
  wc = 0
  ws = start
else
  ws = start
  wc = 0
  wp = 0
end
local function store()
  local px = ws + 2 * p - asked
  if px < 0 then px = 0 end
  px = px + margin
  if px < 1 then px = 1 end
  redis.call('SET', KEYS[1], string.format('s:%.0f:%.0f:%.0f', ws, wc, wp), 'PX', string.format('%.0f', px))
end
local one = p
local cap = limit * p
local with = wp * (p - (now - ws)) + wc * p + one
if with <= cap then
  wc = wc + 1
  store()
  local reset = ws + 2 * p - asked
  if reset < 0 then reset = 0 end
  return {1, idiv(cap - with, one), reset, 0}
end
if have then store() end
local finish = ws + p
if wc > 0 then finish = ws + 2 * p end
local reset = finish - asked
if reset < 0 then reset = 0 end
local at = nil
local room = limit - (wc + 1)
if room < 0 then room = 0 end
room = room * p
if wp > 0 and room > 0 then
  local e = p - math.min(idiv(room, wp), p)
  local a = ws + e
  if e < p and a > now then at = a end
end
if not at then
  local e = 0
  if wc > 0 then e = p - math.min(idiv((limit - 1) * p, wc), p) end
  at = ws + p + e
end
return {0, 0, reset, at - asked}
"#;

/// The Redis key of one (rule, caller): see [`RateKey::derive`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateKey([u8; 16]);

impl std::fmt::Debug for RateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RateKey({})", self.hex())
    }
}

impl RateKey {
    /// The first 128 bits of SHA-256 over a domain label, the rule and each part of the
    /// caller's identity, every one length-prefixed. The same on every replica.
    pub fn derive(rule: &str, parts: &[&[u8]]) -> RateKey {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(b"palisade.ratelimit.v1");
        ctx.update(&(rule.len() as u64).to_be_bytes());
        ctx.update(rule.as_bytes());
        for part in parts {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        let digest = ctx.finish();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest.as_ref()[..16]);
        RateKey(key)
    }

    /// Lower-case hex, 32 digits.
    pub fn hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(32);
        for b in self.0 {
            out.push(DIGITS[usize::from(b >> 4)] as char);
            out.push(DIGITS[usize::from(b & 15)] as char);
        }
        out
    }
}

/// Rate-limit states in Redis; see the module documentation.
pub struct RedisLimiter {
    conn: Conn,
    gcra: Script,
    sliding: Script,
}

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("prefix", &self.conn.options.prefix)
            .finish_non_exhaustive()
    }
}

/// Microseconds (GCRA) or milliseconds (sliding) the scripts may add to `MAX_NOW` and stay exact.
const GCRA_SPAN_US: u64 = MAX_EXACT - MAX_NOW_MS * 1000;
const SLIDING_SPAN_MS: u64 = (MAX_EXACT - MAX_NOW_MS) / 2;

impl RedisLimiter {
    /// A limiter on its own connection (lazy: only a malformed URL or prefix fails here).
    /// [`crate::redis_hot::RedisHotState::limiter`] shares the hot state's instead.
    pub fn connect(url: &str, options: RedisOptions) -> StoreResult<RedisLimiter> {
        Ok(Self::with_conn(Conn::open(url, options)?))
    }

    pub(crate) fn with_conn(conn: Conn) -> RedisLimiter {
        RedisLimiter {
            conn,
            gcra: Script::new(&format!("{PRELUDE}{GCRA_LUA}")),
            sliding: Script::new(&format!("{PRELUDE}{SLIDING_LUA}")),
        }
    }

    /// True when the scripts compute `quota` exactly for every time up to [`MAX_NOW_MS`]:
    /// GCRA when `T × capacity` (a full bucket's span) stays under about 55 years; the sliding
    /// window when two periods do, and `(2 × limit + 1) × period` stays under 2⁵³. Config
    /// validation can call this to refuse a rule up front.
    pub fn supports(algorithm: Algorithm, quota: &Quota) -> bool {
        match algorithm {
            Algorithm::Gcra => gcra::emission_interval_us(quota)
                .checked_mul(u64::from(quota.capacity()))
                .is_some_and(|span| span <= GCRA_SPAN_US),
            Algorithm::SlidingWindow => {
                let p = quota.period_ms.max(1);
                let limit = u64::from(quota.limit.max(1));
                p <= SLIDING_SPAN_MS
                    && (2 * limit + 1)
                        .checked_mul(p)
                        .is_some_and(|n| n <= MAX_EXACT)
            }
        }
    }

    fn key(&self, key: &RateKey) -> String {
        format!("{}:rl:{{{}}}", self.conn.options.prefix, key.hex())
    }

    /// Decides one request of `key` under `quota` at `now_ms` and records it, in one round
    /// trip; the answer equals `MemoryLimiter::decide`'s for the same sequence of calls.
    pub async fn decide(
        &self,
        key: &RateKey,
        algorithm: Algorithm,
        quota: &Quota,
        now_ms: u64,
    ) -> StoreResult<Decision> {
        if now_ms > MAX_NOW_MS || !Self::supports(algorithm, quota) {
            return Err(StoreError::Query(format!(
                "the Redis rate limiter cannot compute {quota:?} ({algorithm:?}) exactly at {now_ms} ms"
            )));
        }
        let margin = u64::try_from(self.conn.options.expiry_margin.as_millis())
            .unwrap_or(u64::MAX)
            .min(1 << 40);
        let mut call = match algorithm {
            Algorithm::Gcra => {
                let t = gcra::emission_interval_us(quota);
                let tau = t * (u64::from(quota.capacity()) - 1);
                let mut call = self.gcra.key(self.key(key));
                call.arg(now_ms * 1000).arg(t).arg(tau);
                call
            }
            Algorithm::SlidingWindow => {
                let mut call = self.sliding.key(self.key(key));
                call.arg(now_ms)
                    .arg(quota.period_ms.max(1))
                    .arg(quota.limit.max(1));
                call
            }
        };
        call.arg(margin);
        let (allowed, remaining, reset_after_ms, retry_after_ms): (u64, u64, u64, u64) = self
            .conn
            .run(|mut c| async move { call.invoke_async(&mut c).await })
            .await?;
        Ok(Decision {
            allowed: allowed == 1,
            limit: quota.limit,
            remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            reset_after_ms,
            retry_after_ms,
        })
    }

    /// Forgets `key`'s state (an operator lifting a limit).
    pub async fn reset(&self, key: &RateKey) -> StoreResult<()> {
        let k = self.key(key);
        self.conn
            .run(|mut c| async move { ::redis::AsyncCommands::del::<_, ()>(&mut c, k).await })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_split_safe() {
        let a = RateKey::derive("global", &[b"ip", b"10.0.0.1"]);
        assert_eq!(a, RateKey::derive("global", &[b"ip", b"10.0.0.1"]));
        assert_ne!(a, RateKey::derive("global", &[b"ip1", b"0.0.0.1"]));
        assert_ne!(a, RateKey::derive("read", &[b"ip", b"10.0.0.1"]));
        assert_eq!(a.hex().len(), 32);
        assert!(a.hex().bytes().all(|b| b.is_ascii_hexdigit()));
        // Pinned (computed with Python's hashlib): replicas built from other versions of this
        // code must agree on the key.
        assert_eq!(
            RateKey::derive("r", &[b"x"]).hex(),
            "007ec39ad4a74e81aacfc81f38c8ce76"
        );
    }

    #[test]
    fn supported_range() {
        let q = |limit, period_ms, burst| Quota {
            limit,
            period_ms,
            burst,
        };
        assert!(RedisLimiter::supports(Algorithm::Gcra, &q(100, 1_000, 0)));
        assert!(RedisLimiter::supports(
            Algorithm::Gcra,
            &q(1, 86_400_000, 10_000)
        ));
        assert!(!RedisLimiter::supports(
            Algorithm::Gcra,
            &q(1, 86_400_000 * 365, 100_000)
        ));
        assert!(RedisLimiter::supports(
            Algorithm::SlidingWindow,
            &q(1_000_000, 86_400_000, 0)
        ));
        assert!(!RedisLimiter::supports(
            Algorithm::SlidingWindow,
            &q(u32::MAX, 86_400_000, 0)
        ));
        assert!(!RedisLimiter::supports(
            Algorithm::SlidingWindow,
            &q(1, u64::MAX, 0)
        ));
    }
}
