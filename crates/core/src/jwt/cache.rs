//! A bounded cache of verified tokens, so a token seen again skips signature verification. Keys are
//! the SHA-256 of the token (the token itself is never stored); an entry is never returned at or
//! after the token's `exp`, and can be dropped on revocation, one token or by predicate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use moka::Expiry;

struct Entry<T> {
    value: Arc<T>,
    exp: u64,
    /// Time left at insertion, for moka's own eviction of entries nobody asks for again.
    ttl: Duration,
}

impl<T> Clone for Entry<T> {
    fn clone(&self) -> Self {
        Entry {
            value: self.value.clone(),
            exp: self.exp,
            ttl: self.ttl,
        }
    }
}

struct UntilExp;

impl<T> Expiry<[u8; 32], Entry<T>> for UntilExp {
    fn expire_after_create(&self, _: &[u8; 32], entry: &Entry<T>, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _: &[u8; 32],
        entry: &Entry<T>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// Bounded cache of verified tokens, keyed by the SHA-256 of the token, each entry valid until the
/// token's `exp`. Cloning shares the same cache.
pub struct VerifiedCache<T: Send + Sync + 'static> {
    inner: moka::sync::Cache<[u8; 32], Entry<T>>,
}

impl<T: Send + Sync + 'static> Clone for VerifiedCache<T> {
    fn clone(&self) -> Self {
        VerifiedCache {
            inner: self.inner.clone(),
        }
    }
}

impl<T: Send + Sync + 'static> VerifiedCache<T> {
    /// A cache holding at most about `capacity` tokens.
    pub fn new(capacity: u64) -> Self {
        let inner = moka::sync::Cache::builder()
            .max_capacity(capacity)
            .expire_after(UntilExp)
            .build();
        VerifiedCache { inner }
    }

    /// The cache key of a token: its SHA-256.
    pub fn key(token: &str) -> [u8; 32] {
        let mut key = [0u8; 32];
        key.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
        key
    }

    /// `now`/`exp` in unix seconds; an entry is never returned at or after its exp.
    pub fn get(&self, token_key: &[u8; 32], now: u64) -> Option<Arc<T>> {
        let entry = self.inner.get(token_key)?;
        if now >= entry.exp {
            self.inner.invalidate(token_key);
            return None;
        }
        Some(entry.value)
    }

    /// Remembers a verified token until `exp`; a token already expired at `now` is not stored.
    pub fn insert(&self, token_key: [u8; 32], value: Arc<T>, exp: u64, now: u64) {
        if exp <= now {
            return;
        }
        let ttl = Duration::from_secs(exp - now);
        self.inner.insert(token_key, Entry { value, exp, ttl });
    }

    /// Forgets a token (after its revocation), so the next use is verified and checked again.
    pub fn remove(&self, token_key: &[u8; 32]) {
        self.inner.invalidate(token_key);
    }

    /// Drops every entry matching (revoke-all of a session/user). Walks the whole cache: meant for
    /// revocations, not the request path.
    pub fn remove_where(&self, pred: impl Fn(&T) -> bool + Send + Sync + 'static) {
        for (key, entry) in self.inner.iter() {
            if pred(&entry.value) {
                self.inner.invalidate(&*key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Who {
        user: &'static str,
        session: &'static str,
    }

    fn who(user: &'static str, session: &'static str) -> Arc<Who> {
        Arc::new(Who { user, session })
    }

    #[test]
    fn entries_live_until_exp_and_not_a_second_longer() {
        let cache = VerifiedCache::new(100);
        let key = VerifiedCache::<Who>::key("token-a");
        cache.insert(key, who("u1", "s1"), 1_000, 900);
        assert_eq!(
            cache.get(&key, 900).as_deref(),
            Some(&Who {
                user: "u1",
                session: "s1"
            })
        );
        assert!(cache.get(&key, 999).is_some());
        assert!(cache.get(&key, 1_000).is_none());
        assert!(
            cache.get(&key, 999).is_none(),
            "an expired entry is dropped when seen"
        );
    }

    #[test]
    fn expired_tokens_are_not_stored() {
        let cache = VerifiedCache::new(100);
        let key = VerifiedCache::<Who>::key("token-a");
        cache.insert(key, who("u1", "s1"), 1_000, 1_000);
        assert!(cache.get(&key, 999).is_none());
    }

    #[test]
    fn keys_are_sha256_of_the_token() {
        let a = VerifiedCache::<Who>::key("abc");
        assert_eq!(a[..4], [0xba, 0x78, 0x16, 0xbf]);
        assert_ne!(a, VerifiedCache::<Who>::key("abd"));
    }

    #[test]
    fn revocation_removes_one_or_many() {
        let cache = VerifiedCache::new(100);
        let (a, b, c) = (
            VerifiedCache::<Who>::key("a"),
            VerifiedCache::<Who>::key("b"),
            VerifiedCache::<Who>::key("c"),
        );
        cache.insert(a, who("u1", "s1"), 2_000, 1_000);
        cache.insert(b, who("u1", "s2"), 2_000, 1_000);
        cache.insert(c, who("u2", "s3"), 2_000, 1_000);
        cache.remove(&a);
        assert!(cache.get(&a, 1_000).is_none());
        cache.remove_where(|w| w.user == "u1");
        assert!(cache.get(&b, 1_000).is_none());
        assert!(cache.get(&c, 1_000).is_some());
        cache.remove_where(|w| w.session == "s3");
        assert!(cache.get(&c, 1_000).is_none());
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = VerifiedCache::new(50);
        for i in 0..1_000 {
            cache.insert(
                VerifiedCache::<Who>::key(&i.to_string()),
                who("u", "s"),
                2_000,
                1_000,
            );
        }
        cache.inner.run_pending_tasks();
        assert!(cache.inner.entry_count() <= 50);
    }
}
