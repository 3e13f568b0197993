//! [`ImportStore`] on SQLite and PostgreSQL: one body of SQL instantiated for each backend by
//! `sql_imports!` (see [`crate::sql`]).
//!
//! A batch is one transaction: each row is one `INSERT … ON CONFLICT DO NOTHING` (no UNIQUE
//! violation aborts the transaction, on PostgreSQL either), and a row that inserted nothing is
//! told apart by one lookup of its external id. Memberships follow their row in the same
//! transaction. E-mails are sealed before the transaction opens (no crypto while it holds the
//! writer).

use super::Dialect;
use crate::StoreResult;
use crate::field_crypto::{SealedEmail, seal_email};
use crate::imports::{ImportOutcome, ImportRow, ImportStore};
use async_trait::async_trait;

macro_rules! sql_imports {
    ($store:ty, $d:ty) => {
        type D = $d;

        #[async_trait]
        impl ImportStore for $store {
            async fn users_import(&self, rows: &[ImportRow]) -> StoreResult<Vec<ImportOutcome>> {
                let crypto = self.crypto.get();
                let sealed = rows
                    .iter()
                    .map(|r| seal_email(crypto.as_deref(), r.user.id, &r.user.email))
                    .collect::<StoreResult<Vec<SealedEmail>>>()?;
                let mut tx = self.pool.begin().await.map_err(D::query_error)?;
                let mut outcomes = Vec::with_capacity(rows.len());
                for (row, email) in rows.iter().zip(sealed) {
                    let u = &row.user;
                    let inserted = sqlx::query(
                        "INSERT INTO users (id, email, email_index, email_enc, name, \
                         password_hash, roles, tier, kind, disabled, created_at, updated_at, \
                         external_id) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(D::uuid(u.id))
                    .bind(email.plain)
                    .bind(email.index)
                    .bind(email.enc)
                    .bind(&u.name)
                    .bind(&u.password_hash)
                    .bind(D::list(&u.roles))
                    .bind(&u.tier)
                    .bind(u.kind.as_str())
                    .bind(u.disabled)
                    .bind(u.created_at)
                    .bind(u.updated_at)
                    .bind(&u.external_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(D::query_error)?
                    .rows_affected()
                        > 0;
                    if !inserted {
                        let present = match &u.external_id {
                            Some(ext) => sqlx::query("SELECT 1 FROM users WHERE external_id = $1")
                                .bind(ext)
                                .fetch_optional(&mut *tx)
                                .await
                                .map_err(D::query_error)?
                                .is_some(),
                            None => false,
                        };
                        outcomes.push(if present {
                            ImportOutcome::ExternalIdPresent
                        } else {
                            ImportOutcome::EmailTaken
                        });
                        continue;
                    }
                    for (tenant, role) in &row.memberships {
                        sqlx::query(
                            "INSERT INTO memberships (tenant_id, user_id, role, created_at) \
                             VALUES ($1, $2, $3, $4) \
                             ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = excluded.role",
                        )
                        .bind(tenant)
                        .bind(D::uuid(u.id))
                        .bind(role)
                        .bind(u.created_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(D::query_error)?;
                    }
                    outcomes.push(ImportOutcome::Inserted);
                }
                tx.commit().await.map_err(D::query_error)?;
                Ok(outcomes)
            }

            async fn users_external_ids_present(
                &self,
                external_ids: &[String],
            ) -> StoreResult<Vec<String>> {
                let mut present = Vec::new();
                for ext in external_ids {
                    let found = sqlx::query("SELECT 1 FROM users WHERE external_id = $1")
                        .bind(ext)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(D::query_error)?
                        .is_some();
                    if found {
                        present.push(ext.clone());
                    }
                }
                Ok(present)
            }
        }
    };
}

for_each_backend!(sql_imports);
