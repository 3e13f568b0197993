//! [`SealKeyStore`] on SQLite and PostgreSQL: one body of SQL instantiated for each backend by
//! `sql_seal_keys!` (see [`crate::sql`]).
//!
//! Guarantees: creating is one transaction of `INSERT … ON CONFLICT DO NOTHING` (a batch of
//! subjects at once) followed by a read, so two writers racing for one subject both get the
//! key stored first; destroying deletes the row and then
//! asks the backend to push the deletion out of its logs ([`Dialect::after_erase`]: SQLite
//! checkpoints and truncates its write-ahead log).

use super::{Dialect, get};
use crate::StoreResult;
use crate::seal_keys::{DAY_PREFIX, SealKeyRecord, SealKeyStore};
use async_trait::async_trait;

macro_rules! sql_seal_keys {
    ($store:ty, $d:ty) => {
        type D = $d;
        type Db = <D as Dialect>::Db;
        type Row = crate::sql::Row<D>;

        /// Rows per statement (4 parameters each, well under both databases' limits).
        const CHUNK: usize = 500;

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
            async fn seal_keys_of(&self, subjects: &[String]) -> StoreResult<Vec<SealKeyRecord>> {
                let mut found = Vec::with_capacity(subjects.len());
                for chunk in subjects.chunks(CHUNK) {
                    let mut qb = sqlx::QueryBuilder::<Db>::new(
                        "SELECT * FROM audit_seal_keys WHERE subject IN (",
                    );
                    let mut list = qb.separated(", ");
                    for subject in chunk {
                        list.push_bind(subject.clone());
                    }
                    qb.push(")");
                    for row in qb
                        .build()
                        .fetch_all(&self.pool)
                        .await
                        .map_err(D::query_error)?
                    {
                        found.push(row_to_key(&row)?);
                    }
                }
                Ok(found)
            }

            async fn seal_keys_create(
                &self,
                keys: &[SealKeyRecord],
            ) -> StoreResult<Vec<SealKeyRecord>> {
                if keys.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.pool.begin().await.map_err(D::query_error)?;
                for chunk in keys.chunks(CHUNK) {
                    let mut qb = sqlx::QueryBuilder::<Db>::new(
                        "INSERT INTO audit_seal_keys (key_id, subject, created_ms, wrapped) ",
                    );
                    qb.push_values(chunk, |mut b, k| {
                        b.push_bind(k.key_id.clone())
                            .push_bind(k.subject.clone())
                            .push_bind(k.created_ms)
                            .push_bind(k.wrapped.clone());
                    });
                    qb.push(" ON CONFLICT (subject) DO NOTHING");
                    qb.build().execute(&mut *tx).await.map_err(D::query_error)?;
                }
                tx.commit().await.map_err(D::query_error)?;
                let subjects: Vec<String> = keys.iter().map(|k| k.subject.clone()).collect();
                self.seal_keys_of(&subjects).await
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
