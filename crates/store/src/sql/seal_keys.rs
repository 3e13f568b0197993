//! [`SealKeyStore`] on SQLite and PostgreSQL: one body of SQL instantiated for each backend by
//! `sql_seal_keys!` (see [`crate::sql`]).
//!
//! Guarantees: creating is `INSERT … ON CONFLICT DO NOTHING` followed by a read, so two writers
//! racing for one subject both get the key stored first; destroying deletes the row and then
//! asks the backend to push the deletion out of its logs ([`Dialect::after_erase`]: SQLite
//! checkpoints and truncates its write-ahead log).

use super::{Dialect, get};
use crate::seal_keys::{DAY_PREFIX, SealKeyRecord, SealKeyStore};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;

macro_rules! sql_seal_keys {
    ($store:ty, $d:ty) => {
        type D = $d;
        type Row = crate::sql::Row<D>;

        fn row_to_key(row: &Row) -> StoreResult<SealKeyRecord> {
            Ok(SealKeyRecord {
                key_id: get(row, "key_id")?,
                subject: get(row, "subject")?,
                created_ms: get(row, "created_ms")?,
                wrapped: get(row, "wrapped")?,
            })
        }

        #[async_trait]
        impl SealKeyStore for $store {
            async fn seal_key_of(&self, subject: &str) -> StoreResult<Option<SealKeyRecord>> {
                sqlx::query("SELECT * FROM audit_seal_keys WHERE subject = $1")
                    .bind(subject)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(D::query_error)?
                    .as_ref()
                    .map(row_to_key)
                    .transpose()
            }

            async fn seal_key_by_id(&self, key_id: &str) -> StoreResult<Option<SealKeyRecord>> {
                sqlx::query("SELECT * FROM audit_seal_keys WHERE key_id = $1")
                    .bind(key_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(D::query_error)?
                    .as_ref()
                    .map(row_to_key)
                    .transpose()
            }

            async fn seal_key_create(&self, key: &SealKeyRecord) -> StoreResult<SealKeyRecord> {
                sqlx::query(
                    "INSERT INTO audit_seal_keys (key_id, subject, created_ms, wrapped) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (subject) DO NOTHING",
                )
                .bind(&key.key_id)
                .bind(&key.subject)
                .bind(key.created_ms)
                .bind(&key.wrapped)
                .execute(&self.pool)
                .await
                .map_err(D::query_error)?;
                self.seal_key_of(&key.subject).await?.ok_or_else(|| {
                    StoreError::Query(format!("the key of {} was destroyed meanwhile", key.subject))
                })
            }

            async fn seal_key_destroy(&self, subject: &str) -> StoreResult<Option<String>> {
                let gone: Option<String> = sqlx::query_scalar(
                    "DELETE FROM audit_seal_keys WHERE subject = $1 RETURNING key_id",
                )
                .bind(subject)
                .fetch_optional(&self.pool)
                .await
                .map_err(D::query_error)?;
                if gone.is_some() {
                    D::after_erase(&self.pool).await?;
                }
                Ok(gone)
            }

            async fn seal_keys_destroy_days_through(
                &self,
                last_day: &str,
            ) -> StoreResult<Vec<String>> {
                let mut gone: Vec<String> = sqlx::query_scalar(
                    "DELETE FROM audit_seal_keys WHERE substr(subject, 1, 4) = $1 \
                     AND subject <= $2 RETURNING subject",
                )
                .bind(DAY_PREFIX)
                .bind(format!("{DAY_PREFIX}{last_day}"))
                .fetch_all(&self.pool)
                .await
                .map_err(D::query_error)?;
                if !gone.is_empty() {
                    D::after_erase(&self.pool).await?;
                }
                gone.sort();
                Ok(gone)
            }
        }
    };
}

for_each_backend!(sql_seal_keys);
