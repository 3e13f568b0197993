//! [`RetentionStore`] in memory: the same selections and windows as the SQL backends (windows
//! in the order of the keys' text form), each call bounded by `span` rows per map.

use super::{MemoryStore, lock};
use crate::StoreResult;
use crate::identity::{ApiKeyRecord, PrincipalKind, SessionRecord, TokenHash};
use crate::retention::{PurgeCursor, PurgeKind, PurgeStep, RetentionStore};
use crate::revocations::RevocationStore;
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

fn session_ended(s: &SessionRecord, cutoff: i64) -> bool {
    s.expires_at <= cutoff || s.revoked_at.is_some_and(|at| at <= cutoff)
}

fn key_ended(k: &ApiKeyRecord, cutoff: i64) -> bool {
    k.revoked_at.is_some_and(|at| at <= cutoff) || k.expires_at.is_some_and(|at| at <= cutoff)
}

/// Removes from `map` the records that `ended` among the window of at most `span` keys after
/// `from` (keys in the order of their text form, `text`); returns the keys removed and the cursor
/// after the window (none: the window reached the end).
fn purge_window<K: Copy + Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    text: impl Fn(&K) -> String,
    from: &PurgeCursor,
    span: u32,
    ended: impl Fn(&V) -> bool,
) -> (HashSet<K>, Option<PurgeCursor>) {
    let mut keys: Vec<(String, K)> = map
        .keys()
        .map(|k| (text(k), *k))
        .filter(|(t, _)| from.0.as_ref().is_none_or(|lo| t > lo))
        .collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    let span = span.max(1) as usize;
    let next = (keys.len() > span).then(|| PurgeCursor(Some(keys[span - 1].0.clone())));
    keys.truncate(span);
    let gone: HashSet<K> = keys
        .into_iter()
        .map(|(_, k)| k)
        .filter(|k| ended(&map[k]))
        .collect();
    map.retain(|k, _| !gone.contains(k));
    (gone, next)
}

fn hex(hash: &TokenHash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[async_trait]
impl RetentionStore for MemoryStore {
    async fn retention_purge(
        &self,
        kind: PurgeKind,
        cutoff: i64,
        from: &PurgeCursor,
        span: u32,
    ) -> StoreResult<PurgeStep> {
        if kind == PurgeKind::Revocations {
            return Ok(PurgeStep::by_count(
                self.revocations_prune(cutoff, span).await?,
            ));
        }
        if kind == PurgeKind::SecretVersions {
            return Ok(PurgeStep::by_count(
                self.secrets_data().purge_superseded(cutoff, span as usize),
            ));
        }
        let mut id = lock(&self.identity);
        let (deleted, next) = match kind {
            PurgeKind::Sessions => {
                let (gone, next) =
                    purge_window(&mut id.sessions, Uuid::to_string, from, span, |s| {
                        session_ended(s, cutoff)
                    });
                id.refresh.retain(|_, r| !gone.contains(&r.session_id));
                (gone.len(), next)
            }
            PurgeKind::RefreshTokens => {
                let (gone, next) =
                    purge_window(&mut id.refresh, hex, from, span, |r| r.expires_at <= cutoff);
                (gone.len(), next)
            }
            PurgeKind::ApiKeys => {
                let (gone, next) = purge_window(&mut id.keys, Uuid::to_string, from, span, |k| {
                    key_ended(k, cutoff)
                });
                (gone.len(), next)
            }
            PurgeKind::Revocations | PurgeKind::SecretVersions => unreachable!("answered above"),
        };
        Ok(PurgeStep {
            deleted: deleted as u64,
            next,
        })
    }

    async fn retention_count(&self, kind: PurgeKind, cutoff: i64) -> StoreResult<u64> {
        let n = match kind {
            PurgeKind::Sessions => lock(&self.identity)
                .sessions
                .values()
                .filter(|s| session_ended(s, cutoff))
                .count(),
            PurgeKind::RefreshTokens => lock(&self.identity)
                .refresh
                .values()
                .filter(|r| r.expires_at <= cutoff)
                .count(),
            PurgeKind::ApiKeys => lock(&self.identity)
                .keys
                .values()
                .filter(|k| key_ended(k, cutoff))
                .count(),
            PurgeKind::Revocations => {
                let r = lock(&self.revocations);
                r.0.values().filter(|t| t.expires_at <= cutoff).count()
                    + r.1.values().filter(|b| b.until <= cutoff).count()
            }
            PurgeKind::SecretVersions => self.secrets_data().superseded(cutoff).len(),
        };
        Ok(n as u64)
    }

    async fn users_inactive(&self, before: i64, limit: u32) -> StoreResult<Vec<Uuid>> {
        Ok(lock(&self.identity)
            .users
            .values()
            .filter(|u| {
                !u.disabled
                    && u.kind == PrincipalKind::Human
                    && u.last_login_at.unwrap_or(u.created_at) <= before
            })
            .map(|u| u.id)
            .take(limit as usize)
            .collect())
    }
}
