//! [`LegacyKeyStore`] on SQLite and PostgreSQL: one body of SQL for both (see [`crate::sql`]).
//!
//! Guarantees: an import batch is one transaction of multi-row `INSERT`s; its ambiguity check
//! is one query (the two neighbours of every prefix of the batch, by correlated ordered seeks
//! under a `VALUES` list, one text on both); the candidate for a presented key is one
//! ordered index seek (`legacy_prefix <= $1 ORDER BY legacy_prefix DESC LIMIT 1`: byte order on
//! both, PostgreSQL's column is `COLLATE "C"`); a migration is one conditional `UPDATE`, so two
//! replicas migrating one key at once write it once.

use super::{Dialect, conflict_or};
use crate::StoreResult;
use crate::identity::TokenHash;
use crate::legacy_keys::{LegacyKeyRecord, LegacyKeyStore, StoredPrefix};
use async_trait::async_trait;
use uuid::Uuid;

/// Rows per multi-row `INSERT`: 13 parameters each, 6,500 per statement, well under SQLite's
/// limit of 32,766 bound parameters (sqlx bundles SQLite ≥ 3.32) and PostgreSQL's 65,535.
const INSERT_ROWS: usize = 500;
/// Prefixes per neighbour query (one parameter each).
const NEIGHBOUR_PREFIXES: usize = 5_000;

macro_rules! sql_legacy_keys {
    ($store:ty, $d:ty, $identity:path) => {
        use $identity as identity_impl;
        type D = $d;
        type Db = <D as Dialect>::Db;
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
        /// After `WITH t(v) AS (VALUES ($1), …`: the stored prefixes neighbouring each `t.v`
        /// (two correlated index seeks per value, then one index lookup per distinct result).
        const NEIGHBOURS: &str = ") SELECT k.legacy_prefix, k.owner_id FROM api_keys k \
             WHERE k.legacy_prefix IN (\
             SELECT (SELECT a.legacy_prefix FROM api_keys a WHERE a.legacy_prefix <= t.v \
             ORDER BY a.legacy_prefix DESC LIMIT 1) FROM t \
             UNION ALL \
             SELECT (SELECT a.legacy_prefix FROM api_keys a WHERE a.legacy_prefix >= t.v \
             ORDER BY a.legacy_prefix ASC LIMIT 1) FROM t) \
             ORDER BY k.legacy_prefix";

        #[async_trait]
        impl LegacyKeyStore for $store {
            async fn legacy_keys_insert(&self, keys: &[LegacyKeyRecord]) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(D::query_error)?;
                for chunk in keys.chunks(INSERT_ROWS) {
                    let mut qb = sqlx::QueryBuilder::<Db>::new(
                        "INSERT INTO api_keys (id, hash, prefix, name, owner_id, roles, scopes, \
                         created_at, expires_at, last_used_at, revoked_at, legacy_prefix, \
                         legacy_hash) ",
                    );
                    qb.push_values(chunk, |mut b, r| {
                        let k = &r.key;
                        b.push_bind(D::uuid(k.id))
                            .push_bind(&k.hash[..])
                            .push_bind(&k.prefix)
                            .push_bind(&k.name)
                            .push_bind(D::uuid(k.owner_id))
                            .push_bind(D::list(&k.roles))
                            .push_bind(D::list(&k.scopes))
                            .push_bind(k.created_at)
                            .push_bind(k.expires_at)
                            .push_bind(k.last_used_at)
                            .push_bind(k.revoked_at)
                            .push_bind(&r.lookup_prefix)
                            .push_bind(&r.legacy_hash);
                    });
                    qb.build()
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
                prefixes: &[String],
            ) -> StoreResult<Vec<StoredPrefix>> {
                let mut out = Vec::new();
                for chunk in prefixes.chunks(NEIGHBOUR_PREFIXES) {
                    let mut qb = sqlx::QueryBuilder::<Db>::new("WITH t(v) AS (VALUES ");
                    let mut list = qb.separated(", ");
                    for p in chunk {
                        list.push("(")
                            .push_bind_unseparated(p)
                            .push_unseparated(")");
                    }
                    qb.push(NEIGHBOURS);
                    for row in qb
                        .build()
                        .fetch_all(&self.pool)
                        .await
                        .map_err(D::query_error)?
                    {
                        out.push(StoredPrefix {
                            lookup_prefix: crate::sql::get(&row, "legacy_prefix")?,
                            owner_id: D::get_uuid(&row, "owner_id")?,
                        });
                    }
                }
                if prefixes.len() > NEIGHBOUR_PREFIXES {
                    out.sort_by(|a, b| a.lookup_prefix.cmp(&b.lookup_prefix));
                    out.dedup_by(|a, b| a.lookup_prefix == b.lookup_prefix);
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
