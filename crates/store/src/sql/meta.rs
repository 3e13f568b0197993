//! [`Store`] on SQLite and PostgreSQL: liveness and the metadata table (`palisade_meta`), one body
//! of SQL instantiated for each backend by `sql_meta!` (see [`crate::sql`]).
//!
//! Guarantees: `meta_put_if_absent` is one `INSERT … ON CONFLICT DO NOTHING` followed by a read,
//! so replicas racing to store a generated value all end up reading the one that won.

use super::{Dialect, now_ms};
use crate::{Store, StoreError, StoreResult};
use async_trait::async_trait;

macro_rules! sql_meta {
    ($store:ty, $d:ty) => {
        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                <$d>::NAME
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map(|_| ())
                    .map_err(|e| StoreError::Unavailable(e.to_string()))
            }

            async fn meta_get(&self, key: &str) -> StoreResult<Option<String>> {
                sqlx::query_scalar("SELECT value FROM palisade_meta WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(<$d>::query_error)
            }

            async fn meta_put(&self, key: &str, value: &str) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO palisade_meta (key, value, updated_ms) VALUES ($1, $2, $3) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, \
                     updated_ms = excluded.updated_ms",
                )
                .bind(key)
                .bind(value)
                .bind(now_ms())
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err(<$d>::query_error)
            }

            async fn meta_put_if_absent(&self, key: &str, value: &str) -> StoreResult<String> {
                sqlx::query(
                    "INSERT INTO palisade_meta (key, value, updated_ms) VALUES ($1, $2, $3) \
                     ON CONFLICT (key) DO NOTHING",
                )
                .bind(key)
                .bind(value)
                .bind(now_ms())
                .execute(&self.pool)
                .await
                .map_err(<$d>::query_error)?;
                self.meta_get(key)
                    .await?
                    .ok_or_else(|| StoreError::Query(format!("meta {key} vanished after insert")))
            }
        }
    };
}

for_each_backend!(sql_meta);
