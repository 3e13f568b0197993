//! [`KeyringStore`] and [`SecretStore`] on SQLite and PostgreSQL: one body of SQL, written with
//! `$n` placeholders and instantiated for each backend by [`sql_secrets!`] (SQLite reads the
//! same text with `?n`). Every value is bound, never spliced. Prefix tests use
//! `substr(x, 1, length($p)) = $p`, never `LIKE` (whose `_` and `%` are wildcards).
//!
//! Guarantees: the one-primary rule is the unique partial index of migration 0006, so a rotation
//! or first insert racing another replica fails with [`StoreError::Conflict`] and changes nothing;
//! a retired key's wrapped bytes are erased in the same statement that retires it.

use crate::secrets::{
    KeyringStore, SecretRef, SecretStore, SecretVersion, key_prefix, key_state_str, parse_key_state,
};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use palisade_core::crypto::{KeyState, WrappedDataKey};
use sqlx::{AssertSqlSafe, Row};

fn conflict_or(e: sqlx::Error, what: &str, other: fn(sqlx::Error) -> StoreError) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(what.to_string())
        }
        _ => other(e),
    }
}

fn version_of(v: i64) -> StoreResult<u32> {
    u32::try_from(v).map_err(|_| StoreError::Query(format!("version {v} out of range")))
}

macro_rules! sql_secrets {
    ($store:ty, $row:ty, $query_error:path, $sql:path) => {
        fn key_of(row: &$row) -> StoreResult<WrappedDataKey> {
            let state: String = row.try_get("state").map_err($query_error)?;
            Ok(WrappedDataKey {
                id: row.try_get("id").map_err($query_error)?,
                created_at: row.try_get::<i64, _>("created_at").map_err($query_error)? as u64,
                state: parse_key_state(&state)
                    .ok_or_else(|| StoreError::Query(format!("unknown key state {state:?}")))?,
                wrapped: row.try_get("wrapped").map_err($query_error)?,
            })
        }

        fn secret_of(row: &$row) -> StoreResult<SecretVersion> {
            let metadata: String = row.try_get("metadata").map_err($query_error)?;
            Ok(SecretVersion {
                path: row.try_get("path").map_err($query_error)?,
                version: version_of(row.try_get("version").map_err($query_error)?)?,
                ciphertext: row.try_get("ciphertext").map_err($query_error)?,
                metadata: serde_json::from_str(&metadata)
                    .map_err(|_| StoreError::Query("secret metadata is not JSON".into()))?,
                created_at: row.try_get("created_at").map_err($query_error)?,
                created_by: row.try_get("created_by").map_err($query_error)?,
                deleted_at: row.try_get("deleted_at").map_err($query_error)?,
            })
        }

        #[async_trait]
        impl KeyringStore for $store {
            async fn data_keys_list(&self) -> StoreResult<Vec<WrappedDataKey>> {
                sqlx::query($sql("SELECT * FROM data_keys ORDER BY created_at, id"))
                    .fetch_all(&self.pool)
                    .await
                    .map_err($query_error)?
                    .iter()
                    .map(key_of)
                    .collect()
            }

            async fn data_key_insert_first(&self, key: &WrappedDataKey) -> StoreResult<()> {
                sqlx::query($sql(
                    "INSERT INTO data_keys (id, created_at, state, wrapped) VALUES ($1, $2, $3, $4)",
                ))
                .bind(&key.id)
                .bind(key.created_at as i64)
                .bind(key_state_str(key.state))
                .bind(&key.wrapped)
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err(|e| conflict_or(e, "a primary data key exists already", $query_error))
            }

            async fn data_key_rotate(
                &self,
                previous_primary: &str,
                new_primary: &WrappedDataKey,
            ) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err($query_error)?;
                let demoted = sqlx::query($sql(
                    "UPDATE data_keys SET state = 'decrypt_only' WHERE id = $1 AND state = 'primary'",
                ))
                .bind(previous_primary)
                .execute(&mut *tx)
                .await
                .map_err($query_error)?
                .rows_affected();
                if demoted != 1 {
                    return Err(StoreError::Conflict(format!(
                        "data key {previous_primary} is no longer the primary key"
                    )));
                }
                sqlx::query($sql(
                    "INSERT INTO data_keys (id, created_at, state, wrapped) VALUES ($1, $2, $3, $4)",
                ))
                .bind(&new_primary.id)
                .bind(new_primary.created_at as i64)
                .bind(key_state_str(KeyState::Primary))
                .bind(&new_primary.wrapped)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict_or(e, "another primary data key appeared", $query_error))?;
                tx.commit().await.map_err($query_error)
            }

            async fn data_key_retire(&self, id: &str) -> StoreResult<bool> {
                let n = sqlx::query($sql(
                    "UPDATE data_keys SET state = 'retired', wrapped = $2 \
                     WHERE id = $1 AND state = 'decrypt_only'",
                ))
                .bind(id)
                .bind(Vec::<u8>::new())
                .execute(&self.pool)
                .await
                .map_err($query_error)?
                .rows_affected();
                Ok(n == 1)
            }
        }

        #[async_trait]
        impl SecretStore for $store {
            async fn secret_latest_version(&self, path: &str) -> StoreResult<u32> {
                let v: Option<i64> = sqlx::query_scalar($sql(
                    "SELECT MAX(version) FROM secret_versions WHERE path = $1",
                ))
                .bind(path)
                .fetch_one(&self.pool)
                .await
                .map_err($query_error)?;
                version_of(v.unwrap_or(0))
            }

            async fn secret_insert(&self, s: &SecretVersion) -> StoreResult<()> {
                sqlx::query($sql(
                    "INSERT INTO secret_versions \
                     (path, version, ciphertext, metadata, created_at, created_by, deleted_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                ))
                .bind(&s.path)
                .bind(i64::from(s.version))
                .bind(&s.ciphertext)
                .bind(s.metadata.to_string())
                .bind(s.created_at)
                .bind(&s.created_by)
                .bind(s.deleted_at)
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err(|e| conflict_or(e, "this secret version exists already", $query_error))
            }

            async fn secret_get(
                &self,
                path: &str,
                version: Option<u32>,
            ) -> StoreResult<Option<SecretVersion>> {
                let row = match version {
                    Some(v) => sqlx::query($sql(
                        "SELECT * FROM secret_versions WHERE path = $1 AND version = $2",
                    ))
                    .bind(path)
                    .bind(i64::from(v)),
                    None => sqlx::query($sql(
                        "SELECT * FROM secret_versions WHERE path = $1 AND deleted_at IS NULL \
                         ORDER BY version DESC LIMIT 1",
                    ))
                    .bind(path),
                }
                .fetch_optional(&self.pool)
                .await
                .map_err($query_error)?;
                row.as_ref().map(secret_of).transpose()
            }

            async fn secret_versions(&self, path: &str) -> StoreResult<Vec<SecretVersion>> {
                sqlx::query($sql(
                    "SELECT * FROM secret_versions WHERE path = $1 ORDER BY version",
                ))
                .bind(path)
                .fetch_all(&self.pool)
                .await
                .map_err($query_error)?
                .iter()
                .map(secret_of)
                .collect()
            }

            async fn secret_paths(
                &self,
                prefix: &str,
                after: Option<&str>,
                limit: u32,
            ) -> StoreResult<Vec<String>> {
                sqlx::query_scalar($sql(
                    "SELECT DISTINCT path FROM secret_versions \
                     WHERE deleted_at IS NULL AND substr(path, 1, length($1)) = $1 AND path > $2 \
                     ORDER BY path LIMIT $3",
                ))
                .bind(prefix)
                .bind(after.unwrap_or(""))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($query_error)
            }

            async fn secret_set_deleted(
                &self,
                path: &str,
                version: u32,
                deleted_at: Option<i64>,
            ) -> StoreResult<bool> {
                let n = sqlx::query($sql(
                    "UPDATE secret_versions SET deleted_at = $3 WHERE path = $1 AND version = $2",
                ))
                .bind(path)
                .bind(i64::from(version))
                .bind(deleted_at)
                .execute(&self.pool)
                .await
                .map_err($query_error)?
                .rows_affected();
                Ok(n == 1)
            }

            async fn secret_ciphertexts(
                &self,
                after: Option<&SecretRef>,
                limit: u32,
            ) -> StoreResult<Vec<(SecretRef, String)>> {
                let (path, version) = after.map_or(("", 0), |a| (a.path.as_str(), a.version));
                let rows = sqlx::query($sql(
                    "SELECT path, version, ciphertext FROM secret_versions \
                     WHERE path > $1 OR (path = $1 AND version > $2) \
                     ORDER BY path, version LIMIT $3",
                ))
                .bind(path)
                .bind(i64::from(version))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($query_error)?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            SecretRef {
                                path: r.try_get("path").map_err($query_error)?,
                                version: version_of(r.try_get("version").map_err($query_error)?)?,
                            },
                            r.try_get("ciphertext").map_err($query_error)?,
                        ))
                    })
                    .collect()
            }

            async fn secret_replace_ciphertext(
                &self,
                at: &SecretRef,
                old: &str,
                new: &str,
            ) -> StoreResult<bool> {
                let n = sqlx::query($sql(
                    "UPDATE secret_versions SET ciphertext = $4 \
                     WHERE path = $1 AND version = $2 AND ciphertext = $3",
                ))
                .bind(&at.path)
                .bind(i64::from(at.version))
                .bind(old)
                .bind(new)
                .execute(&self.pool)
                .await
                .map_err($query_error)?
                .rows_affected();
                Ok(n == 1)
            }

            async fn secrets_count_by_key(&self, key_id: &str) -> StoreResult<u64> {
                let n: i64 = sqlx::query_scalar($sql(
                    "SELECT COUNT(*) FROM secret_versions \
                     WHERE substr(ciphertext, 1, length($1)) = $1",
                ))
                .bind(key_prefix(key_id))
                .fetch_one(&self.pool)
                .await
                .map_err($query_error)?;
                Ok(n as u64)
            }
        }
    };
}

/// The SQL as PostgreSQL takes it.
pub(crate) fn pg_sql(sql: &'static str) -> &'static str {
    sql
}

/// The SQL as SQLite takes it: `$n` becomes `?n` (SQLite's numbered parameter).
pub(crate) fn sqlite_sql(sql: &'static str) -> AssertSqlSafe<String> {
    AssertSqlSafe(sql.replace('$', "?"))
}

mod sqlite_impl {
    use super::*;
    sql_secrets!(
        crate::sqlite::SqliteStore,
        sqlx::sqlite::SqliteRow,
        crate::sqlite::query_error,
        sqlite_sql
    );
}

mod postgres_impl {
    use super::*;
    sql_secrets!(
        crate::postgres::PostgresStore,
        sqlx::postgres::PgRow,
        crate::postgres::query_error,
        pg_sql
    );
}
