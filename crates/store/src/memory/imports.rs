//! [`ImportStore`] in memory: each row through the same checks as
//! [`IdentityStore::user_insert`], under one lock for the whole batch (so no other writer sees
//! half of it).

use super::{MemoryStore, lock};
use crate::StoreResult;
use crate::field_crypto::seal_email;
use crate::identity::MembershipRecord;
use crate::imports::{ImportOutcome, ImportRow, ImportStore};
use async_trait::async_trait;

#[async_trait]
impl ImportStore for MemoryStore {
    async fn users_import(&self, rows: &[ImportRow]) -> StoreResult<Vec<ImportOutcome>> {
        let crypto = self.crypto.get();
        let mut id = lock(&self.identity);
        let mut outcomes = Vec::with_capacity(rows.len());
        for row in rows {
            let u = &row.user;
            if u.external_id
                .as_ref()
                .is_some_and(|e| id.external.contains_key(e))
            {
                outcomes.push(ImportOutcome::ExternalIdPresent);
                continue;
            }
            let email = seal_email(crypto.as_deref(), u.id, &u.email)?;
            let taken = match (&email.plain, &email.index) {
                (Some(plain), _) => id.users.values().any(|o| &o.email == plain),
                (None, Some(index)) => id.sealed.values().any(|(i, _)| i == index),
                (None, None) => false,
            };
            if taken || id.users.contains_key(&u.id) {
                outcomes.push(ImportOutcome::EmailTaken);
                continue;
            }
            let mut record = u.clone();
            record.email = email.plain.unwrap_or_default();
            if let (Some(index), Some(enc)) = (email.index, email.enc) {
                id.sealed.insert(u.id, (index, enc));
            }
            if let Some(ext) = &u.external_id {
                id.external.insert(ext.clone(), u.id);
            }
            id.users.insert(u.id, record);
            for (tenant, role) in &row.memberships {
                id.members.insert(
                    (tenant.clone(), u.id),
                    MembershipRecord {
                        tenant_id: tenant.clone(),
                        user_id: u.id,
                        role: role.clone(),
                        created_at: u.created_at,
                    },
                );
            }
            outcomes.push(ImportOutcome::Inserted);
        }
        Ok(outcomes)
    }

    async fn users_external_ids_present(
        &self,
        external_ids: &[String],
    ) -> StoreResult<Vec<String>> {
        let id = lock(&self.identity);
        Ok(external_ids
            .iter()
            .filter(|e| id.external.contains_key(*e))
            .cloned()
            .collect())
    }
}
