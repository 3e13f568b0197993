//! [`PasskeyStore`] in memory: the rows by id under the identity lock, the same rules as the
//! SQL backends (unique credential ids, counter compare-and-set).

use super::{MemoryStore, lock};
use crate::passkeys::{PasskeyRecord, PasskeyStore};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
impl PasskeyStore for MemoryStore {
    async fn passkey_insert(&self, passkey: &PasskeyRecord) -> StoreResult<()> {
        let mut id = lock(&self.identity);
        if id
            .passkeys
            .values()
            .any(|p| p.credential_id == passkey.credential_id || p.id == passkey.id)
        {
            return Err(StoreError::Conflict("passkey credential id".into()));
        }
        id.passkeys.insert(passkey.id, passkey.clone());
        Ok(())
    }

    async fn passkeys_for_user(&self, user_id: Uuid) -> StoreResult<Vec<PasskeyRecord>> {
        let id = lock(&self.identity);
        let mut list: Vec<_> = id
            .passkeys
            .values()
            .filter(|p| p.user_id == user_id)
            .cloned()
            .collect();
        list.sort_by_key(|p| (p.created_at, p.id));
        Ok(list)
    }

    async fn passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> StoreResult<Option<PasskeyRecord>> {
        let id = lock(&self.identity);
        Ok(id
            .passkeys
            .values()
            .find(|p| p.credential_id == credential_id)
            .cloned())
    }

    async fn passkey_record_use(
        &self,
        pid: Uuid,
        seen_count: i64,
        new_count: i64,
        credential: &str,
        at: i64,
    ) -> StoreResult<bool> {
        let mut id = lock(&self.identity);
        match id.passkeys.get_mut(&pid) {
            Some(p) if p.sign_count == seen_count => {
                p.sign_count = new_count;
                p.credential = credential.to_owned();
                p.last_used_at = Some(at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn passkey_delete(&self, user_id: Uuid, pid: Uuid) -> StoreResult<bool> {
        let mut id = lock(&self.identity);
        if id.passkeys.get(&pid).is_some_and(|p| p.user_id == user_id) {
            id.passkeys.remove(&pid);
            return Ok(true);
        }
        Ok(false)
    }
}
