//! [`PasskeyStore`] on SQLite and PostgreSQL: one body of SQL for both (see [`crate::sql`]).
//!
//! Guarantees: the credential id's UNIQUE constraint makes a taken id a `Conflict`; recording a
//! use is one conditional `UPDATE … WHERE sign_count = $seen`, so of two sign-ins with the same
//! counter state one wins.

use super::{Dialect, conflict_or};
use crate::StoreResult;
use crate::passkeys::{PasskeyRecord, PasskeyStore};
use async_trait::async_trait;
use uuid::Uuid;

macro_rules! sql_passkeys {
    ($store:ty, $d:ty) => {
        type D = $d;
        type Row = crate::sql::Row<D>;

        fn row_to_passkey(row: &Row) -> StoreResult<PasskeyRecord> {
            Ok(PasskeyRecord {
                id: D::get_uuid(row, "id")?,
                user_id: D::get_uuid(row, "user_id")?,
                credential_id: crate::sql::get(row, "credential_id")?,
                name: crate::sql::get(row, "name")?,
                credential: crate::sql::get(row, "credential")?,
                sign_count: crate::sql::get(row, "sign_count")?,
                created_at: crate::sql::get(row, "created_at")?,
                last_used_at: crate::sql::get(row, "last_used_at")?,
            })
        }

        #[async_trait]
        impl PasskeyStore for $store {
            async fn passkey_insert(&self, p: &PasskeyRecord) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO passkeys (id, user_id, credential_id, name, credential, \
                     sign_count, created_at, last_used_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(D::uuid(p.id))
                .bind(D::uuid(p.user_id))
                .bind(&p.credential_id[..])
                .bind(&p.name)
                .bind(&p.credential)
                .bind(p.sign_count)
                .bind(p.created_at)
                .bind(p.last_used_at)
                .execute(&self.pool)
                .await
                .map_err(|e| conflict_or::<D>(e, "passkey credential id"))?;
                Ok(())
            }

            async fn passkeys_for_user(&self, user_id: Uuid) -> StoreResult<Vec<PasskeyRecord>> {
                let rows = sqlx::query(
                    "SELECT * FROM passkeys WHERE user_id = $1 ORDER BY created_at, id",
                )
                .bind(D::uuid(user_id))
                .fetch_all(&self.pool)
                .await
                .map_err(D::query_error)?;
                rows.iter().map(row_to_passkey).collect()
            }

            async fn passkey_by_credential(
                &self,
                credential_id: &[u8],
            ) -> StoreResult<Option<PasskeyRecord>> {
                let row = sqlx::query("SELECT * FROM passkeys WHERE credential_id = $1")
                    .bind(credential_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(D::query_error)?;
                row.as_ref().map(row_to_passkey).transpose()
            }

            async fn passkey_record_use(
                &self,
                id: Uuid,
                seen_count: i64,
                new_count: i64,
                credential: &str,
                at: i64,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE passkeys SET sign_count = $1, credential = $2, last_used_at = $3 \
                     WHERE id = $4 AND sign_count = $5",
                )
                .bind(new_count)
                .bind(credential)
                .bind(at)
                .bind(D::uuid(id))
                .bind(seen_count)
                .execute(&self.pool)
                .await
                .map_err(D::query_error)?;
                Ok(done.rows_affected() == 1)
            }

            async fn passkey_delete(&self, user_id: Uuid, id: Uuid) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
                    .bind(D::uuid(id))
                    .bind(D::uuid(user_id))
                    .execute(&self.pool)
                    .await
                    .map_err(D::query_error)?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

for_each_backend!(sql_passkeys);
