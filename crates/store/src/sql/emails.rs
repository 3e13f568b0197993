//! [`EmailStore`] on SQLite and PostgreSQL: one body of SQL instantiated for each backend by
//! `sql_emails!` (see [`crate::sql`]). Every value is bound, never
//! spliced; prefix tests use `substr`, never `LIKE`.
//!
//! Guarantees: sealing a plaintext row and replacing a ciphertext are compare-and-swap updates
//! (a row changed meanwhile is left alone and not counted), so concurrent replicas sealing or
//! re-encrypting at once never overwrite each other; the plaintext read while sealing is held
//! in a zeroizing buffer.

use super::{Dialect, get};
use crate::StoreResult;
use crate::field_crypto::{EmailStore, FieldCrypto, seal_email};
use crate::secrets::key_prefix;
use async_trait::async_trait;
use std::sync::Arc;
use uuid::Uuid;
use zeroize::Zeroizing;

macro_rules! sql_emails {
    ($store:ty, $d:ty) => {
        type D = $d;

        #[async_trait]
        impl EmailStore for $store {
            fn set_field_crypto(&self, crypto: Arc<dyn FieldCrypto>) {
                self.crypto.set(crypto);
            }

            async fn users_seal_emails(&self, limit: u32) -> StoreResult<u64> {
                let crypto = self.crypto.required()?;
                let rows = sqlx::query(
                    "SELECT id, email FROM users WHERE email_enc IS NULL ORDER BY id LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(D::query_error)?;
                let mut sealed = 0;
                for row in &rows {
                    let id = D::get_uuid(row, "id")?;
                    let email = Zeroizing::new(get::<_, String>(row, "email")?);
                    let s = seal_email(Some(crypto.as_ref()), id, &email)?;
                    sealed += sqlx::query(
                        "UPDATE users SET email = NULL, email_index = $1, email_enc = $2 \
                         WHERE id = $3 AND email = $4 AND email_enc IS NULL",
                    )
                    .bind(s.index)
                    .bind(s.enc)
                    .bind(D::uuid(id))
                    .bind(email.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(D::query_error)?
                    .rows_affected();
                }
                Ok(sealed)
            }

            async fn user_email_ciphertexts(
                &self,
                after: Option<Uuid>,
                limit: u32,
            ) -> StoreResult<Vec<(Uuid, String)>> {
                let rows = sqlx::query(
                    "SELECT id, email_enc FROM users \
                     WHERE email_enc IS NOT NULL AND id > $1 ORDER BY id LIMIT $2",
                )
                .bind(D::uuid(after.unwrap_or(Uuid::nil())))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(D::query_error)?;
                rows.iter()
                    .map(|r| Ok((D::get_uuid(r, "id")?, get(r, "email_enc")?)))
                    .collect()
            }

            async fn user_email_replace_ciphertext(
                &self,
                id: Uuid,
                old: &str,
                new: &str,
            ) -> StoreResult<bool> {
                let n =
                    sqlx::query("UPDATE users SET email_enc = $3 WHERE id = $1 AND email_enc = $2")
                        .bind(D::uuid(id))
                        .bind(old)
                        .bind(new)
                        .execute(&self.pool)
                        .await
                        .map_err(D::query_error)?
                        .rows_affected();
                Ok(n > 0)
            }

            async fn users_count_email_by_key(&self, key_id: &str) -> StoreResult<u64> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM users WHERE substr(email_enc, 1, length($1)) = $1",
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

for_each_backend!(sql_emails);
