//! [`DeletionStore`] on SQLite and PostgreSQL: one body of SQL instantiated for each backend by
//! `sql_deletion!` (see [`crate::sql`]). The purge is one transaction of `DELETE … WHERE <column>
//! = the account` statements, one per table of [`crate::deletion::PURGED_TABLES`], children
//! first, then the tombstone and the outbox message.

use super::{Dialect, get};
use crate::StoreResult;
use crate::deletion::{DeletionStore, Erasure, MarkDeleted, OutboxMessage};
use async_trait::async_trait;
use uuid::Uuid;

/// The purge's statements that take the account's id as the UUID column type (`$1`), children
/// before the tables they reference.
const PURGE_BY_ID: &[&str] = &[
    "DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE user_id = $1)",
    "DELETE FROM sessions WHERE user_id = $1",
    "DELETE FROM api_keys WHERE owner_id = $1",
    "DELETE FROM memberships WHERE user_id = $1",
    "DELETE FROM resource_grants WHERE user_id = $1",
    "DELETE FROM totp_credentials WHERE user_id = $1",
    "DELETE FROM recovery_codes WHERE user_id = $1",
    "DELETE FROM mfa_tokens WHERE user_id = $1",
    "DELETE FROM federated_identities WHERE user_id = $1",
    "DELETE FROM passkeys WHERE user_id = $1",
    "DELETE FROM connections WHERE owner_id = $1",
    "DELETE FROM email_tokens WHERE user_id = $1",
    "DELETE FROM audit_app_keys WHERE principal IN \
     (SELECT external_id FROM users WHERE id = $1 AND external_id IS NOT NULL)",
];

/// The purge's statements that take text (`$1`): the account's id, or (`true`) the `users/{id}/`
/// prefix of its secrets.
const PURGE_BY_TEXT: &[(&str, bool)] = &[
    ("DELETE FROM device_grants WHERE user_id = $1", false),
    ("DELETE FROM audit_app_keys WHERE principal = $1", false),
    (
        "UPDATE secret_versions SET created_by = NULL WHERE created_by = $1",
        false,
    ),
    (
        "DELETE FROM secret_versions WHERE substr(path, 1, length($1)) = $1",
        true,
    ),
];

/// A tombstone, kept as first written.
const INSERT_ERASURE: &str =
    "INSERT INTO erasures (user_id, erased_at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING";

macro_rules! sql_deletion {
    ($store:ty, $d:ty) => {
        type D = $d;

        fn row_to_message(row: &crate::sql::Row<D>) -> StoreResult<OutboxMessage> {
            Ok(OutboxMessage {
                id: D::get_uuid(row, "id")?,
                user_id: D::get_uuid(row, "user_id")?,
                event: get(row, "event")?,
                created_at: get(row, "created_at")?,
                attempts: get::<_, i64>(row, "attempts")?.clamp(0, i64::from(u32::MAX)) as u32,
                next_attempt_at: get(row, "next_attempt_at")?,
            })
        }

        #[async_trait]
        impl DeletionStore for $store {
            async fn user_mark_deleted(&self, id: Uuid, now: i64) -> StoreResult<MarkDeleted> {
                let marked = sqlx::query(
                    "UPDATE users SET disabled = $1, deleted_at = $2, updated_at = $2 \
                     WHERE id = $3 AND deleted_at IS NULL",
                )
                .bind(true)
                .bind(now)
                .bind(D::uuid(id))
                .execute(&self.pool)
                .await
                .map_err(D::query_error)?
                .rows_affected();
                if marked == 1 {
                    return Ok(MarkDeleted::Marked(now));
                }
                Ok(match self.user_deleted_at(id).await? {
                    None => MarkDeleted::NoSuchAccount,
                    Some(Some(at)) => MarkDeleted::Already(at),
                    // Restored between the two statements: mark it again.
                    Some(None) => return self.user_mark_deleted(id, now).await,
                })
            }

            async fn user_deleted_at(&self, id: Uuid) -> StoreResult<Option<Option<i64>>> {
                let row = sqlx::query("SELECT deleted_at FROM users WHERE id = $1")
                    .bind(D::uuid(id))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(D::query_error)?;
                row.map(|r| get::<_, Option<i64>>(&r, "deleted_at"))
                    .transpose()
            }

            async fn user_restore(&self, id: Uuid, now: i64) -> StoreResult<bool> {
                Ok(sqlx::query(
                    "UPDATE users SET disabled = $1, deleted_at = NULL, updated_at = $2 \
                     WHERE id = $3 AND deleted_at IS NOT NULL",
                )
                .bind(false)
                .bind(now)
                .bind(D::uuid(id))
                .execute(&self.pool)
                .await
                .map_err(D::query_error)?
                .rows_affected()
                    == 1)
            }

            async fn users_deleted_before(
                &self,
                cutoff: i64,
                limit: u32,
            ) -> StoreResult<Vec<Uuid>> {
                sqlx::query(
                    "SELECT id FROM users WHERE deleted_at <= $1 \
                     ORDER BY deleted_at, id LIMIT $2",
                )
                .bind(cutoff)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(D::query_error)?
                .iter()
                .map(|row| D::get_uuid(row, "id"))
                .collect()
            }

            async fn user_purge(
                &self,
                id: Uuid,
                now: i64,
                message: Option<&OutboxMessage>,
            ) -> StoreResult<bool> {
                let mut tx = self.pool.begin().await.map_err(D::query_error)?;
                // A write first: SQLite takes the write lock here, waiting its busy timeout,
                // rather than failing to upgrade a read transaction when another writer
                // (the audit trail) committed in between.
                let exists = sqlx::query("UPDATE users SET updated_at = $2 WHERE id = $1")
                    .bind(D::uuid(id))
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(D::query_error)?
                    .rows_affected()
                    == 1;
                if !exists {
                    return Ok(false);
                }
                for sql in PURGE_BY_ID {
                    sqlx::query(*sql)
                        .bind(D::uuid(id))
                        .execute(&mut *tx)
                        .await
                        .map_err(D::query_error)?;
                }
                let text = id.to_string();
                let secrets = format!("users/{id}/");
                for (sql, prefix) in PURGE_BY_TEXT {
                    sqlx::query(*sql)
                        .bind(if *prefix { &secrets } else { &text })
                        .execute(&mut *tx)
                        .await
                        .map_err(D::query_error)?;
                }
                sqlx::query("DELETE FROM users WHERE id = $1")
                    .bind(D::uuid(id))
                    .execute(&mut *tx)
                    .await
                    .map_err(D::query_error)?;
                sqlx::query(INSERT_ERASURE)
                    .bind(D::uuid(id))
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(D::query_error)?;
                if let Some(m) = message {
                    sqlx::query(
                        "INSERT INTO deletion_outbox \
                         (id, user_id, event, created_at, attempts, next_attempt_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(D::uuid(m.id))
                    .bind(D::uuid(m.user_id))
                    .bind(&m.event)
                    .bind(m.created_at)
                    .bind(i64::from(m.attempts))
                    .bind(m.next_attempt_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(D::query_error)?;
                }
                tx.commit().await.map_err(D::query_error)?;
                Ok(true)
            }

            async fn erasures_record(&self, erasures: &[Erasure]) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(D::query_error)?;
                for e in erasures {
                    sqlx::query(INSERT_ERASURE)
                        .bind(D::uuid(e.user_id))
                    .bind(e.erased_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(D::query_error)?;
                }
                tx.commit().await.map_err(D::query_error)
            }

            async fn erasures_since(&self, after: i64) -> StoreResult<Vec<Erasure>> {
                sqlx::query(
                    "SELECT user_id, erased_at FROM erasures WHERE erased_at > $1 \
                     ORDER BY erased_at, user_id",
                )
                .bind(after)
                .fetch_all(&self.pool)
                .await
                .map_err(D::query_error)?
                .iter()
                .map(|row| {
                    Ok(Erasure {
                        user_id: D::get_uuid(row, "user_id")?,
                        erased_at: get(row, "erased_at")?,
                    })
                })
                .collect()
            }

            async fn outbox_due(&self, now: i64, limit: u32) -> StoreResult<Vec<OutboxMessage>> {
                sqlx::query(
                    "SELECT id, user_id, event, created_at, attempts, next_attempt_at \
                     FROM deletion_outbox WHERE delivered_at IS NULL AND next_attempt_at <= $1 \
                     ORDER BY created_at, id LIMIT $2",
                )
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(D::query_error)?
                .iter()
                .map(row_to_message)
                .collect()
            }

            async fn outbox_delivered(&self, id: Uuid, now: i64) -> StoreResult<bool> {
                Ok(sqlx::query(
                    "UPDATE deletion_outbox SET delivered_at = $1, last_error = NULL \
                     WHERE id = $2 AND delivered_at IS NULL",
                )
                .bind(now)
                .bind(D::uuid(id))
                .execute(&self.pool)
                .await
                .map_err(D::query_error)?
                .rows_affected()
                    == 1)
            }

            async fn outbox_failed(
                &self,
                id: Uuid,
                next_attempt_at: i64,
                error: &str,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE deletion_outbox SET attempts = attempts + 1, \
                     next_attempt_at = $1, last_error = $2 WHERE id = $3",
                )
                .bind(next_attempt_at)
                .bind(error)
                .bind(D::uuid(id))
                .execute(&self.pool)
                .await
                .map_err(D::query_error)?;
                Ok(())
            }

            async fn erasure_flush(&self) -> StoreResult<()> {
                D::erasure_flush(&self.pool).await
            }
        }
    };
}

for_each_backend!(sql_deletion);
