//! [`LegacyKeyStore`] on SQLite and PostgreSQL: one body of SQL for both (see [`crate::sql`]).
//!
//! Guarantees: an import batch is one transaction; the candidate for a presented key is one
//! ordered index seek (`legacy_prefix <= $1 ORDER BY legacy_prefix DESC LIMIT 1`: byte order on
//! both, PostgreSQL's column is `COLLATE "C"`); a migration is one conditional `UPDATE`, so two
//! replicas migrating one key at once write it once.

use super::{Dialect, conflict_or};
use crate::StoreResult;
use crate::identity::TokenHash;
use crate::legacy_keys::{LegacyKeyRecord, LegacyKeyStore};
use async_trait::async_trait;
use uuid::Uuid;

macro_rules! sql_legacy_keys {
    ($store:ty, $d:ty, $identity:path) => {
        use $identity as identity_impl;
        type D = $d;
        type Row = crate::sql::Row<D>;

        fn row_to_legacy(row: &Row) -> StoreResult<LegacyKeyRecord> {
            Ok(LegacyKeyRecord {
                key: identity_impl::row_to_key(row)?,
                lookup_prefix: crate::sql::get(row, "legacy_prefix")?,
                legacy_hash: crate::sql::get(row, "legacy_hash")?,
            })
        }

        /// The greatest stored prefix at or below `$1`.
        const AT_OR_BELOW: &str = "SELECT * FROM api_keys WHERE legacy_prefix <= $1 \
                                   ORDER BY legacy_prefix DESC LIMIT 1";
        /// The least stored prefix at or above `$1`.
        const AT_OR_ABOVE: &str = "SELECT * FROM api_keys WHERE legacy_prefix >= $1 \
                                   ORDER BY legacy_prefix ASC LIMIT 1";

        #[async_trait]
        impl LegacyKeyStore for $store {
            async fn legacy_keys_insert(&self, keys: &[LegacyKeyRecord]) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(D::query_error)?;
                for r in keys {
                    let k = &r.key;
                    sqlx::query(
                        "INSERT INTO api_keys (id, hash, prefix, name, owner_id, roles, scopes, \
                         created_at, expires_at, last_used_at, revoked_at, legacy_prefix, \
                         legacy_hash) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    )
                    .bind(D::uuid(k.id))
                    .bind(&k.hash[..])
                    .bind(&k.prefix)
                    .bind(&k.name)
                    .bind(D::uuid(k.owner_id))
                    .bind(D::list(&k.roles))
                    .bind(D::list(&k.scopes))
                    .bind(k.created_at)
                    .bind(k.expires_at)
                    .bind(k.last_used_at)
                    .bind(k.revoked_at)
                    .bind(&r.lookup_prefix)
                    .bind(&r.legacy_hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| conflict_or::<D>(e, "API key prefix already stored"))?;
                }
                tx.commit().await.map_err(D::query_error)
            }

            async fn legacy_key_for(
                &self,
                presented: &str,
            ) -> StoreResult<Option<LegacyKeyRecord>> {
                let found = sqlx::query(AT_OR_BELOW)
                    .bind(presented)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(D::query_error)?
                    .as_ref()
                    .map(row_to_legacy)
                    .transpose()?;
                Ok(found.filter(|r| crate::legacy_keys::prefix_matches(r, presented)))
            }

            async fn legacy_prefix_neighbours(
                &self,
                prefix: &str,
            ) -> StoreResult<Vec<LegacyKeyRecord>> {
                let mut out = Vec::with_capacity(2);
                for sql in [AT_OR_BELOW, AT_OR_ABOVE] {
                    if let Some(row) = sqlx::query(sql)
                        .bind(prefix)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(D::query_error)?
                    {
                        out.push(row_to_legacy(&row)?);
                    }
                }
                Ok(out)
            }

            async fn legacy_key_migrate(&self, id: Uuid, hash: &TokenHash) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE api_keys SET hash = $1, legacy_hash = NULL \
                     WHERE id = $2 AND legacy_hash IS NOT NULL",
                )
                .bind(&hash[..])
                .bind(D::uuid(id))
                .execute(&self.pool)
                .await
                .map_err(|e| conflict_or::<D>(e, "API key hash already stored"))?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

mod sqlite_impl {
    use super::*;
    sql_legacy_keys!(
        crate::sqlite::SqliteStore,
        crate::sqlite::SqliteDialect,
        crate::sql::identity::sqlite_impl
    );
}

mod postgres_impl {
    use super::*;
    sql_legacy_keys!(
        crate::postgres::PostgresStore,
        crate::postgres::PostgresDialect,
        crate::sql::identity::postgres_impl
    );
}
