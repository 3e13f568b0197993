//! [`ConnectionStore`] in memory: connections by id, the same compare-and-set as on SQL.

use super::{MemoryStore, lock};
use crate::connections::{ConnectionRecord, ConnectionStore, ConnectionTokens};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
impl ConnectionStore for MemoryStore {
    async fn connection_insert(&self, record: &ConnectionRecord) -> StoreResult<()> {
        let mut id = lock(&self.identity);
        if !id.users.contains_key(&record.owner_id) {
            return Err(StoreError::Query("connection of an unknown owner".into()));
        }
        if id.connections.contains_key(&record.id) {
            return Err(StoreError::Conflict("connection id taken".into()));
        }
        id.connections.insert(record.id, record.clone());
        Ok(())
    }

    async fn connection_get(&self, cid: Uuid) -> StoreResult<Option<ConnectionRecord>> {
        Ok(lock(&self.identity).connections.get(&cid).cloned())
    }

    async fn connections_of(&self, owner_id: Uuid) -> StoreResult<Vec<ConnectionRecord>> {
        let mut out: Vec<ConnectionRecord> = lock(&self.identity)
            .connections
            .values()
            .filter(|c| c.owner_id == owner_id)
            .cloned()
            .collect();
        out.sort_by_key(|c| (c.created_at, c.id));
        Ok(out)
    }

    async fn connection_update_tokens(
        &self,
        cid: Uuid,
        seen: i64,
        t: &ConnectionTokens,
        now: i64,
    ) -> StoreResult<bool> {
        let mut id = lock(&self.identity);
        let Some(c) = id
            .connections
            .get_mut(&cid)
            .filter(|c| c.updated_at == seen)
        else {
            return Ok(false);
        };
        c.access_token_enc = t.access_token_enc.clone();
        if let Some(r) = &t.refresh_token_enc {
            c.refresh_token_enc = Some(r.clone());
        }
        c.expires_at = t.expires_at;
        c.updated_at = now;
        Ok(true)
    }

    async fn connection_delete(&self, owner_id: Uuid, cid: Uuid) -> StoreResult<bool> {
        let mut id = lock(&self.identity);
        if id
            .connections
            .get(&cid)
            .is_some_and(|c| c.owner_id == owner_id)
        {
            id.connections.remove(&cid);
            Ok(true)
        } else {
            Ok(false)
        }
    }
}
