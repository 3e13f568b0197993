//! [`FederationStore`] in memory: the links by id, `(issuer, subject)` unique as on the SQL
//! backends.

use super::{MemoryStore, lock};
use crate::federation::{CONFLICT_FEDERATED_IDENTITY, FederatedIdentityRecord, FederationStore};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
impl FederationStore for MemoryStore {
    async fn federated_identity_insert(&self, record: &FederatedIdentityRecord) -> StoreResult<()> {
        let mut id = lock(&self.identity);
        if id.federated.values().any(|r| {
            r.id == record.id || (r.issuer == record.issuer && r.subject == record.subject)
        }) {
            return Err(StoreError::Conflict(CONFLICT_FEDERATED_IDENTITY.into()));
        }
        if !id.users.contains_key(&record.user_id) {
            return Err(StoreError::Query(
                "federated identity of an unknown user".into(),
            ));
        }
        id.federated.insert(record.id, record.clone());
        Ok(())
    }

    async fn federated_identity_find(
        &self,
        issuer: &str,
        subject: &str,
    ) -> StoreResult<Option<FederatedIdentityRecord>> {
        Ok(lock(&self.identity)
            .federated
            .values()
            .find(|r| r.issuer == issuer && r.subject == subject)
            .cloned())
    }

    async fn federated_identities_of(
        &self,
        user_id: Uuid,
    ) -> StoreResult<Vec<FederatedIdentityRecord>> {
        let mut found: Vec<_> = lock(&self.identity)
            .federated
            .values()
            .filter(|r| r.user_id == user_id)
            .cloned()
            .collect();
        found.sort_by_key(|r| (r.linked_at, r.id));
        Ok(found)
    }

    async fn federated_identity_delete(&self, user_id: Uuid, id: Uuid) -> StoreResult<bool> {
        let mut state = lock(&self.identity);
        if state
            .federated
            .get(&id)
            .is_some_and(|r| r.user_id == user_id)
        {
            state.federated.remove(&id);
            return Ok(true);
        }
        Ok(false)
    }
}
