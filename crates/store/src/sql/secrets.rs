//! [`KeyringStore`] and [`SecretStore`] on SQLite and PostgreSQL: one body of SQL instantiated
//! for each backend by `sql_secrets!` (see [`crate::sql`]). Every value is bound, never
//! spliced. Prefix tests use `substr(x, 1, length($p)) = $p`, never `LIKE` (whose `_` and `%`
//! are wildcards).
//!
//! Guarantees: the one-primary rule is the unique partial index of migration 0006, so a rotation
//! or first insert racing another replica fails with [`StoreError::Conflict`] and changes nothing;
//! a retired key's wrapped bytes are erased in the same statement that retires it.

use super::{Dialect, conflict_or, get, version_of};
use crate::secrets::{
    KeyringStore, SecretRef, SecretStore, SecretVersion, key_prefix, key_state_str, parse_key_state,
};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use palisade_core::crypto::{KeyState, WrappedDataKey};

macro_rules! sql_secrets {
    ($store:ty, $d:ty) => {
        type D = $d;
        type Row = crate::sql::Row<D>;

        fn key_of(row: &Row) -> StoreResult<WrappedDataKey> {
            let state: String = get(row, "state")?;
            Ok(WrappedDataKey {
                id: get(row, "id")?,
                created_at: get::<_, i64>(row, "created_at")? as u64,
                state: parse_key_state(&state)
                    .ok_or_else(|| StoreError::Query(format!("unknown key state {state:?}")))?,
                wrapped: get(row, "wrapped")?,
            })
        }

        fn secret_of(row: &Row) -> StoreResult<SecretVersion> {
            let metadata: String = get(row, "metadata")?;
            Ok(SecretVersion {
                path: get(row, "path")?,
                version: version_of(get(row, "version")?)?,
                ciphertext: get(row, "ciphertext")?,
                metadata: serde_json::from_str(&metadata)
                    .map_err(|_| StoreError::Query("secret metadata is not JSON".into()))?,
                created_at: get(row, "created_at")?,
                created_by: get(row, "created_by")?,
                deleted_at: get(row, "deleted_at")?,
            })
        }

        #[async_trait]
        impl KeyringStore for $store {
            async fn data_keys_list(&self) -> StoreResult<Vec<WrappedDataKey>> {
                sqlx::query("SELECT * FROM data_keys ORDER BY created_at, id")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(D::query_error)?
                    .iter()
                    .map(key_of)
                    .collect()
            }

            async fn data_key_insert_first(&self, key: &WrappedDataKey) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO data_keys (id, created_at, state, wrapped) VALUES ($1, $2, $3, $4)",
                )
                .bind(&key.id)
                .bind(key.created_at as i64)
                .bind(key_state_str(key.state))
                .bind(&key.wrapped)
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err(|e| conflict_or::<D>(e, "a primary data key exists already"))
            }

            async fn data_key_rotate(
                &self,
                previous_primary: &str,
                new_primary: &WrappedDataKey,
            ) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(D::query_error)?;
                let demoted = sqlx::query(
                    "UPDATE data_keys SET state = 'decrypt_only' WHERE id = $1 AND state = 'primary'",
                )
                .bind(previous_primary)
                .execute(&mut *tx)
                .await
                .map_err(D::query_error)?
                .rows_affected();
                if demoted != 1 {
                    return Err(StoreError::Conflict(format!(
                        "data key {previous_primary} is no longer the primary key"
                    )));
                }
                sqlx::query(
                    "INSERT INTO data_keys (id, created_at, state, wrapped) VALUES ($1, $2, $3, $4)",
                )
                .bind(&new_primary.id)
                .bind(new_primary.created_at as i64)
                .bind(key_state_str(KeyState::Primary))
                .bind(&new_primary.wrapped)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict_or::<D>(e, "another primary data key appeared"))?;
                tx.commit().await.map_err(D::query_error)
            }

            async fn data_key_retire(&self, id: &str) -> StoreResult<bool> {
                let n = sqlx::query(
                    "UPDATE data_keys SET state = 'retired', wrapped = $2 \
                     WHERE id = $1 AND state = 'decrypt_only'",
                )
                .bind(id)
                .bind(Vec::<u8>::new())
                .execute(&self.pool)
                .await
                .map_err(D::query_error)?
                .rows_affected();
                Ok(n == 1)
            }
        }

        #[async_trait]
        impl SecretStore for $store {
            async fn secret_latest_version(&self, path: &str) -> StoreResult<u32> {
                let v: Option<i64> = sqlx::query_scalar(
                    "SELECT MAX(version) FROM secret_versions WHERE path = $1",
                )
                .bind(path)
                .fetch_one(&self.pool)
                .await
                .map_err(D::query_error)?;
                version_of(v.unwrap_or(0))
            }

            async fn secret_insert(&self, s: &SecretVersion) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO secret_versions \
                     (path, version, ciphertext, metadata, created_at, created_by, deleted_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
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
                .map_err(|e| conflict_or::<D>(e, "this secret version exists already"))
            }

            async fn secret_get(
                &self,
                path: &str,
                version: Option<u32>,
            ) -> StoreResult<Option<SecretVersion>> {
                let row = match version {
                    Some(v) => sqlx::query(
                        "SELECT * FROM secret_versions WHERE path = $1 AND version = $2",
                    )
                    .bind(path)
                    .bind(i64::from(v)),
                    None => sqlx::query(
                        "SELECT * FROM secret_versions WHERE path = $1 AND deleted_at IS NULL \
                         ORDER BY version DESC LIMIT 1",
                    )
                    .bind(path),
                }
                .fetch_optional(&self.pool)
                .await
                .map_err(D::query_error)?;
                row.as_ref().map(secret_of).transpose()
            }

            async fn secret_versions(&self, path: &str) -> StoreResult<Vec<SecretVersion>> {
                sqlx::query(
                    "SELECT * FROM secret_versions WHERE path = $1 ORDER BY version",
                )
                .bind(path)
                .fetch_all(&self.pool)
                .await
                .map_err(D::query_error)?
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
                sqlx::query_scalar(
                    "SELECT DISTINCT path FROM secret_versions \
                     WHERE deleted_at IS NULL AND substr(path, 1, length($1)) = $1 AND path > $2 \
                     ORDER BY path LIMIT $3",
                )
                .bind(prefix)
                .bind(after.unwrap_or(""))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(D::query_error)
            }

            async fn secret_set_deleted(
                &self,
                path: &str,
                version: u32,
                deleted_at: Option<i64>,
            ) -> StoreResult<bool> {
                let n = sqlx::query(
                    "UPDATE secret_versions SET deleted_at = $3 WHERE path = $1 AND version = $2",
                )
                .bind(path)
                .bind(i64::from(version))
                .bind(deleted_at)
                .execute(&self.pool)
                .await
                .map_err(D::query_error)?
                .rows_affected();
                Ok(n == 1)
            }

            async fn secret_ciphertexts(
                &self,
                after: Option<&SecretRef>,
                limit: u32,
            ) -> StoreResult<Vec<(SecretRef, String)>> {
                let (path, version) = after.map_or(("", 0), |a| (a.path.as_str(), a.version));
                let rows = sqlx::query(
                    "SELECT path, version, ciphertext FROM secret_versions \
                     WHERE path > $1 OR (path = $1 AND version > $2) \
                     ORDER BY path, version LIMIT $3",
                )
                .bind(path)
                .bind(i64::from(version))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(D::query_error)?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            SecretRef {
                                path: get(r, "path")?,
                                version: version_of(get(r, "version")?)?,
                            },
                            get(r, "ciphertext")?,
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
                let n = sqlx::query(
                    "UPDATE secret_versions SET ciphertext = $4 \
                     WHERE path = $1 AND version = $2 AND ciphertext = $3",
                )
                .bind(&at.path)
                .bind(i64::from(at.version))
                .bind(old)
                .bind(new)
                .execute(&self.pool)
                .await
                .map_err(D::query_error)?
                .rows_affected();
                Ok(n == 1)
            }

            async fn secrets_count_by_key(&self, key_id: &str) -> StoreResult<u64> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM secret_versions \
                     WHERE substr(ciphertext, 1, length($1)) = $1",
                )
                .bind(key_prefix(key_id))
                .fetch_one(&self.pool)
                .await
                .map_err(D::query_error)?;
                Ok(n as u64)
            }
        }
    };
}

for_each_backend!(sql_secrets);
