//! [`RetentionStore`] in memory: the same selections as the SQL backends, each call bounded by
//! `limit` rows per map.

use super::{MemoryStore, lock};
use crate::StoreResult;
use crate::identity::{ApiKeyRecord, PrincipalKind, SessionRecord};
use crate::retention::{PurgeKind, RetentionStore};
use crate::revocations::RevocationStore;
use async_trait::async_trait;
use uuid::Uuid;

fn session_ended(s: &SessionRecord, cutoff: i64) -> bool {
    s.expires_at <= cutoff || s.revoked_at.is_some_and(|at| at <= cutoff)
}

fn key_ended(k: &ApiKeyRecord, cutoff: i64) -> bool {
    k.revoked_at.is_some_and(|at| at <= cutoff) || k.expires_at.is_some_and(|at| at <= cutoff)
}

#[async_trait]
impl RetentionStore for MemoryStore {
    async fn retention_purge(&self, kind: PurgeKind, cutoff: i64, limit: u32) -> StoreResult<u64> {
        let limit = limit as usize;
        if kind == PurgeKind::Revocations {
            return self.revocations_prune(cutoff, limit as u32).await;
        }
        if kind == PurgeKind::SecretVersions {
            return Ok(self.secrets_data().purge_superseded(cutoff, limit));
        }
        let mut id = lock(&self.identity);
        let gone: Vec<_> = match kind {
            PurgeKind::Sessions => {
                let ended: std::collections::HashSet<Uuid> = id
                    .sessions
                    .values()
                    .filter(|s| session_ended(s, cutoff))
                    .map(|s| s.id)
                    .collect();
                let tokens: Vec<_> = id
                    .refresh
                    .values()
                    .filter(|r| ended.contains(&r.session_id))
                    .map(|r| r.hash)
                    .take(limit)
                    .collect();
                for t in tokens {
                    id.refresh.remove(&t);
                }
                let holding: std::collections::HashSet<Uuid> =
                    id.refresh.values().map(|r| r.session_id).collect();
                let gone: Vec<Uuid> = ended
                    .into_iter()
                    .filter(|s| !holding.contains(s))
                    .take(limit)
                    .collect();
                for s in &gone {
                    id.sessions.remove(s);
                }
                return Ok(gone.len() as u64);
            }
            PurgeKind::RefreshTokens => {
                let gone: Vec<_> = id
                    .refresh
                    .values()
                    .filter(|r| r.expires_at <= cutoff)
                    .map(|r| r.hash)
                    .take(limit)
                    .collect();
                for t in &gone {
                    id.refresh.remove(t);
                }
                gone
            }
            PurgeKind::ApiKeys => {
                let gone: Vec<Uuid> = id
                    .keys
                    .values()
                    .filter(|k| key_ended(k, cutoff))
                    .map(|k| k.id)
                    .take(limit)
                    .collect();
                for k in &gone {
                    id.keys.remove(k);
                }
                return Ok(gone.len() as u64);
            }
            PurgeKind::Revocations | PurgeKind::SecretVersions => unreachable!("answered above"),
        };
        Ok(gone.len() as u64)
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
