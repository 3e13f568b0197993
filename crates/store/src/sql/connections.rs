//! [`ConnectionStore`] on SQLite and PostgreSQL: one body of SQL for both (see [`crate::sql`]).
//!
//! Guarantees: a token update is one `UPDATE … WHERE id AND updated_at = seen`, so of two
//! replicas refreshing the same connection one changes the row and the other sees `false`.

use super::Dialect;
use crate::StoreResult;
use crate::connections::{ConnectionRecord, ConnectionStore, ConnectionTokens};
use async_trait::async_trait;
use uuid::Uuid;

macro_rules! sql_connections {
    ($store:ty, $d:ty) => {
        type D = $d;
        type Row = crate::sql::Row<D>;

        fn row_to_connection(row: &Row) -> StoreResult<ConnectionRecord> {
            Ok(ConnectionRecord {
                id: D::get_uuid(row, "id")?,
                owner_id: D::get_uuid(row, "owner_id")?,
                provider: crate::sql::get(row, "provider")?,
                access_token_enc: crate::sql::get(row, "access_token_enc")?,
                refresh_token_enc: crate::sql::get(row, "refresh_token_enc")?,
                expires_at: crate::sql::get(row, "expires_at")?,
                scopes: crate::sql::get(row, "scopes")?,
                created_at: crate::sql::get(row, "created_at")?,
                updated_at: crate::sql::get(row, "updated_at")?,
            })
        }

        #[async_trait]
        impl ConnectionStore for $store {
            async fn connection_insert(&self, r: &ConnectionRecord) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO connections (id, owner_id, provider, access_token_enc, \
                     refresh_token_enc, expires_at, scopes, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(D::uuid(r.id))
                .bind(D::uuid(r.owner_id))
                .bind(&r.provider)
                .bind(&r.access_token_enc)
                .bind(&r.refresh_token_enc)
                .bind(r.expires_at)
                .bind(&r.scopes)
                .bind(r.created_at)
                .bind(r.updated_at)
                .execute(&self.pool)
                .await
                .map_err(D::query_error)?;
                Ok(())
            }

            async fn connection_get(&self, id: Uuid) -> StoreResult<Option<ConnectionRecord>> {
                sqlx::query("SELECT * FROM connections WHERE id = $1")
                    .bind(D::uuid(id))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(D::query_error)?
                    .as_ref()
                    .map(row_to_connection)
                    .transpose()
            }

            async fn connections_of(&self, owner_id: Uuid) -> StoreResult<Vec<ConnectionRecord>> {
                sqlx::query("SELECT * FROM connections WHERE owner_id = $1 ORDER BY created_at, id")
                    .bind(D::uuid(owner_id))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(D::query_error)?
                    .iter()
                    .map(row_to_connection)
                    .collect()
            }

            async fn connection_update_tokens(
                &self,
                id: Uuid,
                seen: i64,
                t: &ConnectionTokens,
                now: i64,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE connections SET access_token_enc = $1, \
                     refresh_token_enc = COALESCE($2, refresh_token_enc), expires_at = $3, \
                     updated_at = $4 WHERE id = $5 AND updated_at = $6",
                )
                .bind(&t.access_token_enc)
                .bind(&t.refresh_token_enc)
                .bind(t.expires_at)
                .bind(now)
                .bind(D::uuid(id))
                .bind(seen)
                .execute(&self.pool)
                .await
                .map_err(D::query_error)?;
                Ok(done.rows_affected() == 1)
            }

            async fn connection_delete(&self, owner_id: Uuid, id: Uuid) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM connections WHERE id = $1 AND owner_id = $2")
                    .bind(D::uuid(id))
                    .bind(D::uuid(owner_id))
                    .execute(&self.pool)
                    .await
                    .map_err(D::query_error)?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

for_each_backend!(sql_connections);
