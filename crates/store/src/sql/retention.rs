//! [`RetentionStore`] on SQLite and PostgreSQL: one body of SQL instantiated for each backend by
//! `sql_retention!` (see [`crate::sql`]). Each purge call is one transaction of bounded
//! `DELETE … WHERE key IN (SELECT key … LIMIT $2)` statements; the condition that says a record
//! ended is written once per type and shared by the count and the delete.

use super::{Dialect, get};
use crate::StoreResult;
use crate::retention::{PurgeKind, RetentionStore};
use crate::revocations::RevocationStore;
use async_trait::async_trait;
use uuid::Uuid;

/// A session ended (expired or revoked) at or before `$1`.
macro_rules! session_ended {
    () => {
        "(expires_at <= $1 OR revoked_at <= $1)"
    };
}
/// A refresh token expired at or before `$1`.
macro_rules! refresh_ended {
    () => {
        "expires_at <= $1"
    };
}
/// An API key revoked or expired at or before `$1`.
macro_rules! key_ended {
    () => {
        "(revoked_at <= $1 OR expires_at <= $1)"
    };
}
/// A secret version superseded (a later version of its path written) at or before `$1`.
macro_rules! version_superseded {
    () => {
        "EXISTS (SELECT 1 FROM secret_versions n WHERE n.path = v.path \
         AND n.version > v.version AND n.created_at <= $1)"
    };
}

macro_rules! sql_retention {
    ($store:ty, $d:ty) => {
        type D = $d;

        impl $store {
            /// Runs the bounded deletions `statements` (each `$1` the cutoff, `$2` the limit) in one
            /// transaction; returns the rows the last one deleted.
            async fn purge_batch(
                &self,
                statements: &[&'static str],
                cutoff: i64,
                limit: u32,
            ) -> StoreResult<u64> {
                let mut tx = self.pool.begin().await.map_err(D::query_error)?;
                let mut last = 0;
                for sql in statements {
                    last = sqlx::query(*sql)
                        .bind(cutoff)
                        .bind(i64::from(limit))
                        .execute(&mut *tx)
                        .await
                        .map_err(D::query_error)?
                        .rows_affected();
                }
                tx.commit().await.map_err(D::query_error)?;
                Ok(last)
            }
        }

        #[async_trait]
        impl RetentionStore for $store {
            async fn retention_purge(
                &self,
                kind: PurgeKind,
                cutoff: i64,
                limit: u32,
            ) -> StoreResult<u64> {
                match kind {
                    PurgeKind::Sessions => {
                        // Tokens first: a session goes only once none of its tokens is left.
                        self.purge_batch(
                            &[
                                "DELETE FROM refresh_tokens WHERE hash IN (SELECT r.hash \
                                 FROM refresh_tokens r WHERE EXISTS (SELECT 1 FROM sessions s \
                                 WHERE s.id = r.session_id \
                                 AND (s.expires_at <= $1 OR s.revoked_at <= $1)) LIMIT $2)",
                                concat!(
                                    "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions s \
                                     WHERE ",
                                    session_ended!(),
                                    " AND NOT EXISTS (SELECT 1 FROM refresh_tokens r \
                                     WHERE r.session_id = s.id) LIMIT $2)"
                                ),
                            ],
                            cutoff,
                            limit,
                        )
                        .await
                    }
                    PurgeKind::RefreshTokens => {
                        self.purge_batch(
                            &[concat!(
                                "DELETE FROM refresh_tokens WHERE hash IN \
                                 (SELECT hash FROM refresh_tokens WHERE ",
                                refresh_ended!(),
                                " LIMIT $2)"
                            )],
                            cutoff,
                            limit,
                        )
                        .await
                    }
                    PurgeKind::Revocations => self.revocations_prune(cutoff, limit).await,
                    PurgeKind::ApiKeys => {
                        self.purge_batch(
                            &[concat!(
                                "DELETE FROM api_keys WHERE id IN (SELECT id FROM api_keys WHERE ",
                                key_ended!(),
                                " LIMIT $2)"
                            )],
                            cutoff,
                            limit,
                        )
                        .await
                    }
                    PurgeKind::SecretVersions => {
                        self.purge_batch(
                            &[concat!(
                                "DELETE FROM secret_versions WHERE (path, version) IN \
                                 (SELECT path, version FROM secret_versions v WHERE ",
                                version_superseded!(),
                                " LIMIT $2)"
                            )],
                            cutoff,
                            limit,
                        )
                        .await
                    }
                }
            }

            async fn retention_count(&self, kind: PurgeKind, cutoff: i64) -> StoreResult<u64> {
                let sql: &'static str = match kind {
                    PurgeKind::Sessions => concat!(
                        "SELECT COUNT(*) AS n FROM sessions WHERE ",
                        session_ended!()
                    ),
                    PurgeKind::RefreshTokens => concat!(
                        "SELECT COUNT(*) AS n FROM refresh_tokens WHERE ",
                        refresh_ended!()
                    ),
                    PurgeKind::Revocations => {
                        "SELECT (SELECT COUNT(*) FROM revoked_tokens WHERE expires_at <= $1) \
                         + (SELECT COUNT(*) FROM ip_blocks WHERE blocked_until <= $1) AS n"
                    }
                    PurgeKind::ApiKeys => {
                        concat!("SELECT COUNT(*) AS n FROM api_keys WHERE ", key_ended!())
                    }
                    PurgeKind::SecretVersions => concat!(
                        "SELECT COUNT(*) AS n FROM secret_versions v WHERE ",
                        version_superseded!()
                    ),
                };
                let row = sqlx::query(sql)
                    .bind(cutoff)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(D::query_error)?;
                Ok(get::<_, i64>(&row, "n")?.max(0) as u64)
            }

            async fn users_inactive(&self, before: i64, limit: u32) -> StoreResult<Vec<Uuid>> {
                sqlx::query(
                    "SELECT id FROM users WHERE disabled = $3 AND kind = 'human' \
                     AND CASE WHEN last_login_at IS NULL THEN created_at ELSE last_login_at END \
                     <= $1 ORDER BY id LIMIT $2",
                )
                .bind(before)
                .bind(i64::from(limit))
                .bind(false)
                .fetch_all(&self.pool)
                .await
                .map_err(D::query_error)?
                .iter()
                .map(|row| D::get_uuid(row, "id"))
                .collect()
            }
        }
    };
}

for_each_backend!(sql_retention);
