//! [`LegacyKeyStore`] in memory: the lookup prefixes in an ordered map beside the key rows, the
//! same seeks as the SQL backends (greatest prefix at or below the presented key; both
//! neighbours of each prefix of an import batch).

use super::{MemoryStore, lock};
use crate::identity::TokenHash;
use crate::legacy_keys::{LegacyKeyRecord, LegacyKeyStore, StoredPrefix, prefix_matches};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use std::ops::Bound;
use uuid::Uuid;

impl super::Identity {
    fn legacy_record(&self, prefix: &str) -> Option<LegacyKeyRecord> {
        let (id, hash) = self.legacy.get(prefix)?;
        Some(LegacyKeyRecord {
            key: self.keys.get(id)?.clone(),
            lookup_prefix: prefix.to_string(),
            legacy_hash: hash.clone(),
        })
    }

    fn at_or_below(&self, text: &str) -> Option<LegacyKeyRecord> {
        let (prefix, _) = self
            .legacy
            .range::<str, _>((Bound::Unbounded, Bound::Included(text)))
            .next_back()?;
        self.legacy_record(prefix)
    }
}

#[async_trait]
impl LegacyKeyStore for MemoryStore {
    async fn legacy_keys_insert(&self, keys: &[LegacyKeyRecord]) -> StoreResult<()> {
        let mut id = lock(&self.identity);
        let mut seen = std::collections::HashSet::new();
        let mut hashes: std::collections::HashSet<TokenHash> =
            id.keys.values().map(|k| k.hash).collect();
        for r in keys {
            if id.legacy.contains_key(&r.lookup_prefix)
                || !seen.insert(r.lookup_prefix.as_str())
                || !hashes.insert(r.key.hash)
                || id.keys.contains_key(&r.key.id)
            {
                return Err(StoreError::Conflict("API key prefix already stored".into()));
            }
        }
        for r in keys {
            id.keys.insert(r.key.id, r.key.clone());
            id.legacy
                .insert(r.lookup_prefix.clone(), (r.key.id, r.legacy_hash.clone()));
        }
        Ok(())
    }

    async fn legacy_key_for(&self, presented: &str) -> StoreResult<Option<LegacyKeyRecord>> {
        Ok(lock(&self.identity)
            .at_or_below(presented)
            .filter(|r| prefix_matches(r, presented)))
    }

    async fn legacy_prefix_neighbours(
        &self,
        prefixes: &[String],
    ) -> StoreResult<Vec<StoredPrefix>> {
        let id = lock(&self.identity);
        let mut found = std::collections::BTreeSet::new();
        for prefix in prefixes {
            let below = id
                .legacy
                .range::<str, _>((Bound::Unbounded, Bound::Included(prefix.as_str())))
                .next_back();
            let above = id
                .legacy
                .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
                .next();
            found.extend(below.into_iter().chain(above).map(|(p, (k, _))| (p, k)));
        }
        Ok(found
            .into_iter()
            .filter_map(|(p, k)| {
                Some(StoredPrefix {
                    lookup_prefix: p.clone(),
                    owner_id: id.keys.get(k)?.owner_id,
                })
            })
            .collect())
    }

    async fn legacy_key_migrate(&self, key_id: Uuid, hash: &TokenHash) -> StoreResult<bool> {
        let mut id = lock(&self.identity);
        if id.keys.values().any(|k| &k.hash == hash) {
            return Err(StoreError::Conflict("API key hash already stored".into()));
        }
        let Some(slot) = id
            .legacy
            .values_mut()
            .find(|(k, h)| *k == key_id && h.is_some())
        else {
            return Ok(false);
        };
        slot.1 = None;
        if let Some(k) = id.keys.get_mut(&key_id) {
            k.hash = *hash;
        }
        Ok(true)
    }
}
