//! [`MfaStore`] on SQLite and PostgreSQL: one body of SQL for both (see [`crate::sql`]).
//!
//! Guarantees: a step is recorded by one conditional `UPDATE … WHERE last_used_step < $step`,
//! a recovery code used by one `UPDATE … WHERE used_at IS NULL`, a token consumed by one
//! `DELETE`, so each succeeds once whatever runs concurrently; replacing recovery codes is one
//! transaction.

use super::{Dialect, conflict_or, get, hash32};
use crate::StoreResult;
use crate::identity::TokenHash;
use crate::mfa::{MfaStore, MfaTokenRecord, TotpRecord};
use async_trait::async_trait;
use uuid::Uuid;

macro_rules! sql_mfa {
    ($store:ty, $d:ty) => {
        type D = $d;
        type Row = crate::sql::Row<D>;

        fn row_to_totp(row: &Row) -> StoreResult<TotpRecord> {
            Ok(TotpRecord {
                id: D::get_uuid(row, "id")?,
                user_id: D::get_uuid(row, "user_id")?,
                name: get(row, "name")?,
                seed_enc: get(row, "seed_enc")?,
                created_at: get(row, "created_at")?,
                confirmed_at: get(row, "confirmed_at")?,
                last_used_step: get(row, "last_used_step")?,
            })
        }

        fn row_to_token(row: &Row) -> StoreResult<MfaTokenRecord> {
            Ok(MfaTokenRecord {
                hash: hash32(row, "hash")?,
                user_id: D::get_uuid(row, "user_id")?,
                created_at: get(row, "created_at")?,
                expires_at: get(row, "expires_at")?,
                binding: get(row, "binding")?,
            })
        }

        #[async_trait]
        impl MfaStore for $store {
            async fn totp_insert(&self, r: &TotpRecord) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO totp_credentials (id, user_id, name, seed_enc, created_at, \
                     confirmed_at, last_used_step) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(D::uuid(r.id))
                .bind(D::uuid(r.user_id))
                .bind(&r.name)
                .bind(&r.seed_enc)
                .bind(r.created_at)
                .bind(r.confirmed_at)
                .bind(r.last_used_step)
                .execute(&self.pool)
                .await
                .map_err(|e| conflict_or::<D>(e, "the user has an authenticator of this name"))?;
                Ok(())
            }

            async fn totp_for_user(&self, user_id: Uuid) -> StoreResult<Vec<TotpRecord>> {
                let rows = sqlx::query(
                    "SELECT * FROM totp_credentials WHERE user_id = $1 ORDER BY created_at, id",
                )
                .bind(D::uuid(user_id))
                .fetch_all(&self.pool)
                .await
                .map_err(D::query_error)?;
                rows.iter().map(row_to_totp).collect()
            }

            async fn totp_use_step(&self, id: Uuid, step: i64, now: i64) -> StoreResult<bool> {
                let n = sqlx::query(
                    "UPDATE totp_credentials SET last_used_step = $2, \
                     confirmed_at = CASE WHEN confirmed_at IS NULL THEN $3 ELSE confirmed_at END \
                     WHERE id = $1 AND (last_used_step IS NULL OR last_used_step < $2)",
                )
                .bind(D::uuid(id))
                .bind(step)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(D::query_error)?
                .rows_affected();
                Ok(n > 0)
            }

            async fn totp_delete(&self, user_id: Uuid, id: Uuid) -> StoreResult<bool> {
                let n = sqlx::query("DELETE FROM totp_credentials WHERE id = $1 AND user_id = $2")
                    .bind(D::uuid(id))
                    .bind(D::uuid(user_id))
                    .execute(&self.pool)
                    .await
                    .map_err(D::query_error)?
                    .rows_affected();
                Ok(n > 0)
            }

            async fn recovery_replace(
                &self,
                user_id: Uuid,
                hashes: &[TokenHash],
                now: i64,
            ) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(D::query_error)?;
                sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                    .bind(D::uuid(user_id))
                    .execute(&mut *tx)
                    .await
                    .map_err(D::query_error)?;
                for hash in hashes {
                    sqlx::query(
                        "INSERT INTO recovery_codes (user_id, hash, created_at, used_at) \
                         VALUES ($1, $2, $3, NULL)",
                    )
                    .bind(D::uuid(user_id))
                    .bind(&hash[..])
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| conflict_or::<D>(e, "recovery code repeated"))?;
                }
                tx.commit().await.map_err(D::query_error)
            }

            async fn recovery_use(
                &self,
                user_id: Uuid,
                hash: &TokenHash,
                now: i64,
            ) -> StoreResult<bool> {
                let n = sqlx::query(
                    "UPDATE recovery_codes SET used_at = $3 \
                     WHERE user_id = $1 AND hash = $2 AND used_at IS NULL",
                )
                .bind(D::uuid(user_id))
                .bind(&hash[..])
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(D::query_error)?
                .rows_affected();
                Ok(n > 0)
            }

            async fn recovery_remaining(&self, user_id: Uuid) -> StoreResult<u64> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
                )
                .bind(D::uuid(user_id))
                .fetch_one(&self.pool)
                .await
                .map_err(D::query_error)?;
                Ok(n as u64)
            }

            async fn mfa_reset(&self, user_id: Uuid) -> StoreResult<u64> {
                let mut tx = self.pool.begin().await.map_err(D::query_error)?;
                let mut n = 0;
                for statement in [
                    "DELETE FROM totp_credentials WHERE user_id = $1",
                    "DELETE FROM recovery_codes WHERE user_id = $1",
                ] {
                    n += sqlx::query(statement)
                        .bind(D::uuid(user_id))
                        .execute(&mut *tx)
                        .await
                        .map_err(D::query_error)?
                        .rows_affected();
                }
                tx.commit().await.map_err(D::query_error)?;
                Ok(n)
            }

            async fn mfa_token_insert(&self, r: &MfaTokenRecord) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO mfa_tokens (hash, user_id, created_at, expires_at, binding) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&r.hash[..])
                .bind(D::uuid(r.user_id))
                .bind(r.created_at)
                .bind(r.expires_at)
                .bind(&r.binding)
                .execute(&self.pool)
                .await
                .map_err(|e| conflict_or::<D>(e, "mfa token exists"))?;
                // Expired tokens of anyone go with each new one: the table stays small.
                sqlx::query("DELETE FROM mfa_tokens WHERE expires_at <= $1")
                    .bind(r.created_at)
                    .execute(&self.pool)
                    .await
                    .map_err(D::query_error)?;
                Ok(())
            }

            async fn mfa_token_get(
                &self,
                hash: &TokenHash,
                now: i64,
            ) -> StoreResult<Option<MfaTokenRecord>> {
                let row = sqlx::query("SELECT * FROM mfa_tokens WHERE hash = $1 AND expires_at > $2")
                    .bind(&hash[..])
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(D::query_error)?;
                row.as_ref().map(row_to_token).transpose()
            }

            async fn mfa_token_consume(&self, hash: &TokenHash, now: i64) -> StoreResult<bool> {
                let n = sqlx::query("DELETE FROM mfa_tokens WHERE hash = $1 AND expires_at > $2")
                    .bind(&hash[..])
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(D::query_error)?
                    .rows_affected();
                Ok(n > 0)
            }
        }
    };
}

for_each_backend!(sql_mfa);
