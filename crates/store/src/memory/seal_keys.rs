//! [`SealKeyStore`] in memory: keys by subject, the same first-stored-wins creation as on SQL.

use super::{MemoryStore, lock};
use crate::StoreResult;
use crate::seal_keys::{DAY_PREFIX, SealKeyRecord, SealKeyStore};
use async_trait::async_trait;

#[async_trait]
impl SealKeyStore for MemoryStore {
    async fn seal_keys_of(&self, subjects: &[String]) -> StoreResult<Vec<SealKeyRecord>> {
        let keys = lock(&self.seal_keys);
        Ok(subjects
            .iter()
            .filter_map(|s| keys.get(s).cloned())
            .collect())
    }

    async fn seal_keys_create(&self, new: &[SealKeyRecord]) -> StoreResult<Vec<SealKeyRecord>> {
        let mut keys = lock(&self.seal_keys);
        Ok(new
            .iter()
            .map(|k| {
                keys.entry(k.subject.clone())
                    .or_insert_with(|| k.clone())
                    .clone()
            })
            .collect())
    }

    async fn seal_key_by_id(&self, key_id: &str) -> StoreResult<Option<SealKeyRecord>> {
        Ok(lock(&self.seal_keys)
            .values()
            .find(|k| k.key_id == key_id)
            .cloned())
    }

    async fn seal_key_destroy(&self, subject: &str) -> StoreResult<Option<String>> {
        Ok(lock(&self.seal_keys).remove(subject).map(|k| k.key_id))
    }

    async fn seal_keys_destroy_days_through(&self, last_day: &str) -> StoreResult<Vec<String>> {
        let last = format!("{DAY_PREFIX}{last_day}");
        let mut keys = lock(&self.seal_keys);
        let gone: Vec<String> = keys
            .keys()
            .filter(|s| s.starts_with(DAY_PREFIX) && **s <= last)
            .cloned()
            .collect();
        for subject in &gone {
            keys.remove(subject);
        }
        Ok(gone)
    }
}
