//! [`KeyringStore`] and [`SecretStore`] for [`MemoryStore`]: the same rules as the SQL backends
//! (one primary key, versions never overwritten, compare-and-swap re-encryption), in a mutex.

use crate::memory::MemoryStore;
use crate::secrets::{KeyringStore, SecretRef, SecretStore, SecretVersion, key_prefix};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use palisade_core::crypto::{KeyState, WrappedDataKey};
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub(crate) struct Data {
    keys: Vec<WrappedDataKey>,
    secrets: BTreeMap<(String, u32), SecretVersion>,
}

impl Data {
    /// The versions a later version of the same path, written at or before `cutoff`,
    /// superseded.
    pub(super) fn superseded(&self, cutoff: i64) -> Vec<(String, u32)> {
        self.secrets
            .keys()
            .filter(|(path, version)| {
                self.secrets
                    .range((path.clone(), version + 1)..(path.clone(), u32::MAX))
                    .any(|(_, later)| later.created_at <= cutoff)
            })
            .cloned()
            .collect()
    }

    /// Deletes every version under `prefix` and clears `writer` as the writer of the rest
    /// (an account's purge).
    pub(super) fn forget_account(&mut self, prefix: &str, writer: &str) {
        self.secrets
            .retain(|(path, _), _| !path.starts_with(prefix));
        for v in self.secrets.values_mut() {
            if v.created_by.as_deref() == Some(writer) {
                v.created_by = None;
            }
        }
    }

    /// Deletes at most `limit` of [`Data::superseded`]; returns how many went.
    pub(super) fn purge_superseded(&mut self, cutoff: i64, limit: usize) -> u64 {
        let gone: Vec<_> = self.superseded(cutoff).into_iter().take(limit).collect();
        for k in &gone {
            self.secrets.remove(k);
        }
        gone.len() as u64
    }
}

impl MemoryStore {
    pub(super) fn secrets_data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.secrets.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl KeyringStore for MemoryStore {
    async fn data_keys_list(&self) -> StoreResult<Vec<WrappedDataKey>> {
        let mut keys = self.secrets_data().keys.clone();
        keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(keys)
    }

    async fn data_key_insert_first(&self, key: &WrappedDataKey) -> StoreResult<()> {
        let mut data = self.secrets_data();
        if data
            .keys
            .iter()
            .any(|k| k.id == key.id || (k.state == KeyState::Primary && key.state == k.state))
        {
            return Err(StoreError::Conflict(
                "a primary data key exists already".into(),
            ));
        }
        data.keys.push(key.clone());
        Ok(())
    }

    async fn data_key_rotate(
        &self,
        previous_primary: &str,
        new_primary: &WrappedDataKey,
    ) -> StoreResult<()> {
        let mut data = self.secrets_data();
        if data.keys.iter().any(|k| k.id == new_primary.id) {
            return Err(StoreError::Conflict("this data key id exists".into()));
        }
        let Some(old) = data
            .keys
            .iter_mut()
            .find(|k| k.id == previous_primary && k.state == KeyState::Primary)
        else {
            return Err(StoreError::Conflict(format!(
                "data key {previous_primary} is no longer the primary key"
            )));
        };
        old.state = KeyState::DecryptOnly;
        let mut new = new_primary.clone();
        new.state = KeyState::Primary;
        data.keys.push(new);
        Ok(())
    }

    async fn data_key_retire(&self, id: &str) -> StoreResult<bool> {
        let mut data = self.secrets_data();
        match data
            .keys
            .iter_mut()
            .find(|k| k.id == id && k.state == KeyState::DecryptOnly)
        {
            Some(k) => {
                k.state = KeyState::Retired;
                k.wrapped.clear();
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

#[async_trait]
impl SecretStore for MemoryStore {
    async fn secret_latest_version(&self, path: &str) -> StoreResult<u32> {
        let data = self.secrets_data();
        Ok(data
            .secrets
            .range((path.to_string(), 0)..=(path.to_string(), u32::MAX))
            .next_back()
            .map_or(0, |(k, _)| k.1))
    }

    async fn secret_insert(&self, secret: &SecretVersion) -> StoreResult<()> {
        let mut data = self.secrets_data();
        let key = (secret.path.clone(), secret.version);
        if data.secrets.contains_key(&key) {
            return Err(StoreError::Conflict(
                "this secret version exists already".into(),
            ));
        }
        data.secrets.insert(key, secret.clone());
        Ok(())
    }

    async fn secret_get(
        &self,
        path: &str,
        version: Option<u32>,
    ) -> StoreResult<Option<SecretVersion>> {
        let data = self.secrets_data();
        let mut versions = data
            .secrets
            .range((path.to_string(), 0)..=(path.to_string(), u32::MAX))
            .map(|(_, s)| s);
        Ok(match version {
            Some(v) => versions.find(|s| s.version == v).cloned(),
            None => versions.rev().find(|s| s.deleted_at.is_none()).cloned(),
        })
    }

    async fn secret_versions(&self, path: &str) -> StoreResult<Vec<SecretVersion>> {
        let data = self.secrets_data();
        Ok(data
            .secrets
            .range((path.to_string(), 0)..=(path.to_string(), u32::MAX))
            .map(|(_, s)| s.clone())
            .collect())
    }

    async fn secret_paths(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<String>> {
        let data = self.secrets_data();
        let mut out: Vec<String> = Vec::new();
        for s in data.secrets.values() {
            if out.len() >= limit as usize {
                break;
            }
            if s.deleted_at.is_none()
                && s.path.starts_with(prefix)
                && after.is_none_or(|a| s.path.as_str() > a)
                && out.last() != Some(&s.path)
            {
                out.push(s.path.clone());
            }
        }
        Ok(out)
    }

    async fn secret_set_deleted(
        &self,
        path: &str,
        version: u32,
        deleted_at: Option<i64>,
    ) -> StoreResult<bool> {
        let mut data = self.secrets_data();
        match data.secrets.get_mut(&(path.to_string(), version)) {
            Some(s) => {
                s.deleted_at = deleted_at;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn secret_ciphertexts(
        &self,
        after: Option<&SecretRef>,
        limit: u32,
    ) -> StoreResult<Vec<(SecretRef, String)>> {
        let data = self.secrets_data();
        Ok(data
            .secrets
            .iter()
            .filter(|((p, v), _)| after.is_none_or(|a| (p, *v) > (&a.path, a.version)))
            .take(limit as usize)
            .map(|((path, version), s)| {
                (
                    SecretRef {
                        path: path.clone(),
                        version: *version,
                    },
                    s.ciphertext.clone(),
                )
            })
            .collect())
    }

    async fn secret_replace_ciphertext(
        &self,
        at: &SecretRef,
        old: &str,
        new: &str,
    ) -> StoreResult<bool> {
        let mut data = self.secrets_data();
        match data.secrets.get_mut(&(at.path.clone(), at.version)) {
            Some(s) if s.ciphertext == old => {
                s.ciphertext = new.to_string();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn secrets_count_by_key(&self, key_id: &str) -> StoreResult<u64> {
        let prefix = key_prefix(key_id);
        let data = self.secrets_data();
        Ok(data
            .secrets
            .values()
            .filter(|s| s.ciphertext.starts_with(&prefix))
            .count() as u64)
    }
}
