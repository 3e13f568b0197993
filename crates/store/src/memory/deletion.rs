//! [`DeletionStore`] in memory: the same rules as the SQL backends, every change under the
//! identity lock (one "transaction"); the account's secrets go under the secrets lock first.

use super::{MemoryStore, lock};
use crate::StoreResult;
use crate::deletion::{DeletionStore, Erasure, MarkDeleted, OutboxMessage};
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
impl DeletionStore for MemoryStore {
    async fn user_mark_deleted(&self, id: Uuid, now: i64) -> StoreResult<MarkDeleted> {
        let mut data = lock(&self.identity);
        if let Some(at) = data.deleted.get(&id) {
            return Ok(MarkDeleted::Already(*at));
        }
        let Some(user) = data.users.get_mut(&id) else {
            return Ok(MarkDeleted::NoSuchAccount);
        };
        user.disabled = true;
        user.updated_at = now;
        data.deleted.insert(id, now);
        Ok(MarkDeleted::Marked(now))
    }

    async fn user_deleted_at(&self, id: Uuid) -> StoreResult<Option<Option<i64>>> {
        let data = lock(&self.identity);
        Ok(data
            .users
            .contains_key(&id)
            .then(|| data.deleted.get(&id).copied()))
    }

    async fn user_restore(&self, id: Uuid, now: i64) -> StoreResult<bool> {
        let mut data = lock(&self.identity);
        if data.deleted.remove(&id).is_none() {
            return Ok(false);
        }
        if let Some(user) = data.users.get_mut(&id) {
            user.disabled = false;
            user.updated_at = now;
        }
        Ok(true)
    }

    async fn users_deleted_before(&self, cutoff: i64, limit: u32) -> StoreResult<Vec<Uuid>> {
        let data = lock(&self.identity);
        let mut due: Vec<(i64, Uuid)> = data
            .deleted
            .iter()
            .filter(|(_, at)| **at <= cutoff)
            .map(|(id, at)| (*at, *id))
            .collect();
        due.sort_unstable();
        Ok(due
            .into_iter()
            .take(limit as usize)
            .map(|(_, id)| id)
            .collect())
    }

    async fn user_purge(
        &self,
        id: Uuid,
        now: i64,
        message: Option<&OutboxMessage>,
    ) -> StoreResult<bool> {
        if !lock(&self.identity).users.contains_key(&id) {
            return Ok(false);
        }
        let text = id.to_string();
        self.secrets_data()
            .forget_account(&format!("users/{id}/"), &text);
        lock(&self.device_grants).retain(|_, g| g.user_id != Some(id));
        let mut d = lock(&self.identity);
        let Some(user) = d.users.remove(&id) else {
            return Ok(false);
        };
        d.sealed.remove(&id);
        if let Some(ext) = &user.external_id {
            d.external.remove(ext);
            d.app_keys.retain(|(principal, _), _| principal != ext);
        }
        d.app_keys.retain(|(principal, _), _| principal != &text);
        let sessions: std::collections::HashSet<Uuid> = d
            .sessions
            .values()
            .filter(|s| s.user_id == id)
            .map(|s| s.id)
            .collect();
        d.refresh.retain(|_, r| !sessions.contains(&r.session_id));
        d.sessions.retain(|_, s| s.user_id != id);
        let keys: std::collections::HashSet<Uuid> = d
            .keys
            .values()
            .filter(|k| k.owner_id == id)
            .map(|k| k.id)
            .collect();
        d.keys.retain(|_, k| k.owner_id != id);
        d.legacy.retain(|_, (key, _)| !keys.contains(key));
        d.federated.retain(|_, f| f.user_id != id);
        d.connections.retain(|_, c| c.owner_id != id);
        d.passkeys.retain(|_, p| p.user_id != id);
        d.members.retain(|(_, user), _| *user != id);
        d.grants.retain(|(_, user), _| *user != id);
        d.totp.retain(|_, t| t.user_id != id);
        d.recovery.retain(|(user, _), _| *user != id);
        d.mfa_tokens.retain(|_, t| t.user_id != id);
        d.email_tokens.retain(|_, t| t.user_id != id);
        d.email_verified.remove(&id);
        d.deleted.remove(&id);
        d.erasures.entry(id).or_insert(now);
        if let Some(m) = message {
            d.outbox.push((m.clone(), None));
        }
        Ok(true)
    }

    async fn erasures_record(&self, erasures: &[Erasure]) -> StoreResult<()> {
        let mut d = lock(&self.identity);
        for e in erasures {
            d.erasures.entry(e.user_id).or_insert(e.erased_at);
        }
        Ok(())
    }

    async fn erasures_since(&self, after: i64) -> StoreResult<Vec<Erasure>> {
        let d = lock(&self.identity);
        let mut list: Vec<Erasure> = d
            .erasures
            .iter()
            .filter(|(_, at)| **at > after)
            .map(|(user_id, erased_at)| Erasure {
                user_id: *user_id,
                erased_at: *erased_at,
            })
            .collect();
        list.sort_by_key(|e| (e.erased_at, e.user_id));
        Ok(list)
    }

    async fn outbox_due(&self, now: i64, limit: u32) -> StoreResult<Vec<OutboxMessage>> {
        let d = lock(&self.identity);
        let mut due: Vec<OutboxMessage> = d
            .outbox
            .iter()
            .filter(|(m, delivered)| delivered.is_none() && m.next_attempt_at <= now)
            .map(|(m, _)| m.clone())
            .collect();
        due.sort_by_key(|m| (m.created_at, m.id));
        due.truncate(limit as usize);
        Ok(due)
    }

    async fn outbox_delivered(&self, id: Uuid, now: i64) -> StoreResult<bool> {
        let mut d = lock(&self.identity);
        Ok(
            match d
                .outbox
                .iter_mut()
                .find(|(m, delivered)| m.id == id && delivered.is_none())
            {
                Some((_, delivered)) => {
                    *delivered = Some(now);
                    true
                }
                None => false,
            },
        )
    }

    async fn outbox_failed(&self, id: Uuid, next_attempt_at: i64, _error: &str) -> StoreResult<()> {
        let mut d = lock(&self.identity);
        if let Some((m, _)) = d.outbox.iter_mut().find(|(m, _)| m.id == id) {
            m.attempts = m.attempts.saturating_add(1);
            m.next_attempt_at = next_attempt_at;
        }
        Ok(())
    }
}
