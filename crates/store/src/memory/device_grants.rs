//! [`DeviceGrantStore`] in memory: the grants by device code hash, under one lock, so deciding
//! and redeeming change a grant once as on the SQL backends.

use super::{MemoryStore, lock};
use crate::device_grants::{DeviceGrant, DeviceGrantStatus, DeviceGrantStore};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
impl DeviceGrantStore for MemoryStore {
    async fn device_grant_insert(&self, grant: &DeviceGrant) -> StoreResult<()> {
        let mut grants = lock(&self.device_grants);
        if grants.contains_key(&grant.device_code_hash)
            || grants
                .values()
                .any(|g| g.user_code_hash == grant.user_code_hash)
        {
            return Err(StoreError::Conflict("device code".into()));
        }
        grants.insert(grant.device_code_hash.clone(), grant.clone());
        Ok(())
    }

    async fn device_grant_by_device_code(&self, hash: &str) -> StoreResult<Option<DeviceGrant>> {
        Ok(lock(&self.device_grants).get(hash).cloned())
    }

    async fn device_grant_by_user_code(&self, hash: &str) -> StoreResult<Option<DeviceGrant>> {
        Ok(lock(&self.device_grants)
            .values()
            .find(|g| g.user_code_hash == hash)
            .cloned())
    }

    async fn device_grant_decide(
        &self,
        user_code_hash: &str,
        approve: bool,
        user_id: Uuid,
        approver_assurance: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        let mut grants = lock(&self.device_grants);
        let Some(g) = grants.values_mut().find(|g| {
            g.user_code_hash == user_code_hash
                && g.status == DeviceGrantStatus::Pending
                && g.expires_at > now
        }) else {
            return Ok(false);
        };
        g.status = if approve {
            DeviceGrantStatus::Approved
        } else {
            DeviceGrantStatus::Denied
        };
        g.user_id = Some(user_id);
        g.approver_assurance = approver_assurance.map(str::to_owned);
        Ok(true)
    }

    async fn device_grant_polled(
        &self,
        device_code_hash: &str,
        now: i64,
        interval_secs: i64,
    ) -> StoreResult<()> {
        if let Some(g) = lock(&self.device_grants).get_mut(device_code_hash) {
            g.last_poll_at = Some(now);
            g.interval_secs = interval_secs;
        }
        Ok(())
    }

    async fn device_grant_redeem(&self, device_code_hash: &str, now: i64) -> StoreResult<bool> {
        let mut grants = lock(&self.device_grants);
        match grants.get_mut(device_code_hash) {
            Some(g) if g.status == DeviceGrantStatus::Approved && g.expires_at > now => {
                g.status = DeviceGrantStatus::Redeemed;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn device_grants_prune(&self, now: i64, limit: u32) -> StoreResult<u64> {
        let mut grants = lock(&self.device_grants);
        let gone: Vec<String> = grants
            .iter()
            .filter(|(_, g)| g.expires_at <= now)
            .map(|(k, _)| k.clone())
            .take(limit as usize)
            .collect();
        for k in &gone {
            grants.remove(k);
        }
        Ok(gone.len() as u64)
    }
}
