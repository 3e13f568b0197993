//! [`EmailFlowStore`] on SQLite and PostgreSQL: one body of SQL instantiated for each backend by
//! `sql_email_flows!` (see [`crate::sql`]). Every value is bound, never spliced. Consuming and
//! revoking tokens are single conditional UPDATEs, so a token is spent once whoever races; a new
//! address is sealed like at insert (only its blind index and ciphertext reach the database
//! when field crypto is installed) and clears `email_verified_at` in the same statement.

use super::{Dialect, conflict_or, get, user_conflict};
use crate::email_flows::{EmailFlowStore, EmailToken, EmailTokenPurpose};
use crate::field_crypto::seal_email;
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use uuid::Uuid;

macro_rules! sql_email_flows {
    ($store:ty, $d:ty) => {
        type D = $d;
        type Row = crate::sql::Row<D>;

        fn token_of(row: &Row) -> StoreResult<EmailToken> {
            let purpose: String = get(row, "purpose")?;
            Ok(EmailToken {
                token_hash: get(row, "token_hash")?,
                user_id: D::get_uuid(row, "user_id")?,
                purpose: EmailTokenPurpose::parse(&purpose)
                    .ok_or_else(|| StoreError::Query("email_tokens.purpose".into()))?,
                created_at: get(row, "created_at")?,
                expires_at: get(row, "expires_at")?,
                used_at: get(row, "used_at")?,
            })
        }

        #[async_trait]
        impl EmailFlowStore for $store {
            async fn email_token_insert(&self, t: &EmailToken) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO email_tokens \
                     (token_hash, user_id, purpose, created_at, expires_at, used_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&t.token_hash)
                .bind(D::uuid(t.user_id))
                .bind(t.purpose.as_str())
                .bind(t.created_at)
                .bind(t.expires_at)
                .bind(t.used_at)
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err(|e| conflict_or::<D>(e, "e-mail token"))
            }

            async fn email_token_get(&self, token_hash: &str) -> StoreResult<Option<EmailToken>> {
                sqlx::query(
                    "SELECT token_hash, user_id, purpose, created_at, expires_at, used_at \
                     FROM email_tokens WHERE token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(D::query_error)?
                .as_ref()
                .map(token_of)
                .transpose()
            }

            async fn email_token_consume(
                &self,
                token_hash: &str,
                purpose: EmailTokenPurpose,
                now: i64,
            ) -> StoreResult<bool> {
                let n = sqlx::query(
                    "UPDATE email_tokens SET used_at = $1 WHERE token_hash = $2 \
                     AND purpose = $3 AND used_at IS NULL AND expires_at > $4",
                )
                .bind(now)
                .bind(token_hash)
                .bind(purpose.as_str())
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(D::query_error)?
                .rows_affected();
                Ok(n == 1)
            }

            async fn email_tokens_revoke(
                &self,
                user_id: Uuid,
                purpose: EmailTokenPurpose,
                now: i64,
            ) -> StoreResult<u64> {
                sqlx::query(
                    "UPDATE email_tokens SET used_at = $1 WHERE user_id = $2 \
                     AND purpose = $3 AND used_at IS NULL",
                )
                .bind(now)
                .bind(D::uuid(user_id))
                .bind(purpose.as_str())
                .execute(&self.pool)
                .await
                .map(|r| r.rows_affected())
                .map_err(D::query_error)
            }

            async fn email_tokens_prune(&self, now: i64, limit: u32) -> StoreResult<u64> {
                sqlx::query(
                    "DELETE FROM email_tokens WHERE token_hash IN \
                     (SELECT token_hash FROM email_tokens WHERE expires_at <= $1 LIMIT $2)",
                )
                .bind(now)
                .bind(i64::from(limit))
                .execute(&self.pool)
                .await
                .map(|r| r.rows_affected())
                .map_err(D::query_error)
            }

            async fn user_set_email(&self, id: Uuid, email: &str, now: i64) -> StoreResult<bool> {
                let crypto = self.crypto.get();
                let sealed = seal_email(crypto.as_deref(), id, email)?;
                let n = sqlx::query(
                    "UPDATE users SET email = $1, email_index = $2, email_enc = $3, \
                     email_verified_at = NULL, updated_at = $4 WHERE id = $5",
                )
                .bind(sealed.plain)
                .bind(sealed.index)
                .bind(sealed.enc)
                .bind(now)
                .bind(D::uuid(id))
                .execute(&self.pool)
                .await
                .map_err(user_conflict::<D>)?
                .rows_affected();
                Ok(n == 1)
            }

            async fn user_email_verified_at(&self, id: Uuid) -> StoreResult<Option<i64>> {
                let row = sqlx::query("SELECT email_verified_at FROM users WHERE id = $1")
                    .bind(D::uuid(id))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(D::query_error)?;
                match row {
                    Some(r) => get(&r, "email_verified_at"),
                    None => Ok(None),
                }
            }

            async fn user_set_email_verified(&self, id: Uuid, at: i64) -> StoreResult<bool> {
                let n = sqlx::query("UPDATE users SET email_verified_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(D::uuid(id))
                    .execute(&self.pool)
                    .await
                    .map_err(D::query_error)?
                    .rows_affected();
                Ok(n == 1)
            }
        }
    };
}

for_each_backend!(sql_email_flows);
