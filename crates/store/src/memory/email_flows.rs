//! [`EmailFlowStore`] in memory: tokens by hash and verification times by user, under the
//! identity lock, so a token is consumed once and a changed address is checked for conflicts
//! and stored in one step, as on the SQL backends.

use super::{MemoryStore, lock};
use crate::email_flows::{EmailFlowStore, EmailToken, EmailTokenPurpose};
use crate::field_crypto::seal_email;
use crate::identity::CONFLICT_EMAIL;
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
impl EmailFlowStore for MemoryStore {
    async fn email_token_insert(&self, token: &EmailToken) -> StoreResult<()> {
        let mut id = lock(&self.identity);
        if id.email_tokens.contains_key(&token.token_hash) {
            return Err(StoreError::Conflict("e-mail token".into()));
        }
        id.email_tokens
            .insert(token.token_hash.clone(), token.clone());
        Ok(())
    }

    async fn email_token_get(&self, token_hash: &str) -> StoreResult<Option<EmailToken>> {
        Ok(lock(&self.identity).email_tokens.get(token_hash).cloned())
    }

    async fn email_token_consume(
        &self,
        token_hash: &str,
        purpose: EmailTokenPurpose,
        now: i64,
    ) -> StoreResult<bool> {
        let mut id = lock(&self.identity);
        match id.email_tokens.get_mut(token_hash) {
            Some(t) if t.purpose == purpose && t.used_at.is_none() && t.expires_at > now => {
                t.used_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn email_tokens_revoke(
        &self,
        user_id: Uuid,
        purpose: EmailTokenPurpose,
        now: i64,
    ) -> StoreResult<u64> {
        let mut n = 0;
        for t in lock(&self.identity).email_tokens.values_mut() {
            if t.user_id == user_id && t.purpose == purpose && t.used_at.is_none() {
                t.used_at = Some(now);
                n += 1;
            }
        }
        Ok(n)
    }

    async fn email_tokens_prune(&self, now: i64, limit: u32) -> StoreResult<u64> {
        let mut id = lock(&self.identity);
        let dead: Vec<String> = id
            .email_tokens
            .values()
            .filter(|t| t.expires_at <= now)
            .take(limit as usize)
            .map(|t| t.token_hash.clone())
            .collect();
        for h in &dead {
            id.email_tokens.remove(h);
        }
        Ok(dead.len() as u64)
    }

    async fn user_set_email(&self, user_id: Uuid, email: &str, now: i64) -> StoreResult<bool> {
        let crypto = self.crypto.get();
        let sealed = seal_email(crypto.as_deref(), user_id, email)?;
        let mut id = lock(&self.identity);
        if !id.users.contains_key(&user_id) {
            return Ok(false);
        }
        let taken = match (&sealed.plain, &sealed.index) {
            (Some(plain), _) => id
                .users
                .values()
                .any(|u| u.id != user_id && &u.email == plain),
            (None, Some(index)) => id
                .sealed
                .iter()
                .any(|(k, (i, _))| *k != user_id && i == index),
            (None, None) => false,
        };
        if taken {
            return Err(StoreError::Conflict(CONFLICT_EMAIL.into()));
        }
        match (sealed.index, sealed.enc) {
            (Some(index), Some(enc)) => {
                id.sealed.insert(user_id, (index, enc));
            }
            _ => {
                id.sealed.remove(&user_id);
            }
        }
        if let Some(u) = id.users.get_mut(&user_id) {
            u.email = sealed.plain.unwrap_or_default();
            u.updated_at = now;
        }
        id.email_verified.remove(&user_id);
        Ok(true)
    }

    async fn user_email_verified_at(&self, user_id: Uuid) -> StoreResult<Option<i64>> {
        Ok(lock(&self.identity).email_verified.get(&user_id).copied())
    }

    async fn user_set_email_verified(&self, user_id: Uuid, at: i64) -> StoreResult<bool> {
        let mut id = lock(&self.identity);
        if !id.users.contains_key(&user_id) {
            return Ok(false);
        }
        id.email_verified.insert(user_id, at);
        Ok(true)
    }
}
