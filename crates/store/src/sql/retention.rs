//! [`RetentionStore`] on SQLite and PostgreSQL: one body of SQL instantiated for each backend by
//! `sql_retention!` (see [`crate::sql`]). Each purge call is one transaction. A window purge
//! (sessions, refresh tokens, API keys) first finds the window's last key — the `span`-th after
//! the cursor in the dialect's scan key order (`Dialect::scan_key`), an index walk of `span`
//! entries; none when fewer than `span + 1` are left, and the window runs to the end — then deletes the ended rows with keys in `(cursor, last]`; a count purge runs
//! bounded `DELETE … WHERE key IN (SELECT key … LIMIT $2)` statements. The condition that says a
//! record ended is written once per type and shared by the count and the delete.

use super::{Dialect, get};
use crate::StoreResult;
use crate::retention::{PurgeCursor, PurgeKind, PurgeStep, RetentionStore};
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
            /// transaction; the rows the last one deleted, and more to come unless that is none.
            async fn purge_count(
                &self,
                statements: &[&'static str],
                cutoff: i64,
                limit: u32,
            ) -> StoreResult<PurgeStep> {
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
                Ok(PurgeStep::by_count(last))
            }

            /// Runs the deletions `statements` over the window of `span` rows of `table` after
            /// `from` (found before the transaction), in one transaction: each statement's
            /// `{window}` is replaced by the window's key range (on the table its scan key
            /// names) and `$1` is the cutoff. Returns the rows the last statement deleted and the
            /// window's last key (none: the window ran to the end of the table).
            async fn purge_window(
                &self,
                table: &'static str,
                statements: &[&'static str],
                cutoff: i64,
                from: &PurgeCursor,
                span: u32,
            ) -> StoreResult<PurgeStep> {
                let (key, ty) = D::scan_key(table);
                let lo = from.0.as_deref();
                let last_key = match lo {
                    Some(_) => format!(
                        "SELECT CAST({key} AS TEXT) AS k FROM {table} \
                         WHERE {key} > CAST($1 AS {ty}) ORDER BY {key} LIMIT 2 OFFSET $2"
                    ),
                    None => format!(
                        "SELECT CAST({key} AS TEXT) AS k FROM {table} \
                         ORDER BY {key} LIMIT 2 OFFSET $1"
                    ),
                };
                // Built from static parts only (table, scan key, templates); every value is bound.
                let mut q = sqlx::query(sqlx::AssertSqlSafe(last_key));
                if let Some(lo) = lo {
                    q = q.bind(lo);
                }
                // The window's last key and the one after it: without the latter, the window
                // runs to the end of the table (rows written since included).
                let last_and_next = q
                    .bind(i64::from(span.max(1) - 1))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(D::query_error)?;
                let hi: Option<String> = match last_and_next.as_slice() {
                    [last, _] => Some(get(last, "k")?),
                    _ => None,
                };
                let mut window = vec!["1 = 1".to_owned()];
                let mut bounds = Vec::new();
                for (bound, op) in [(lo, ">"), (hi.as_deref(), "<=")] {
                    if let Some(b) = bound {
                        bounds.push(b);
                        window.push(format!("{key} {op} CAST(${} AS {ty})", bounds.len() + 1));
                    }
                }
                let window = window.join(" AND ");
                // The transaction begins with a write: SQLite cannot wait for the write lock in
                // a transaction that read first (a concurrent commit makes it fail at once).
                let mut tx = self.pool.begin().await.map_err(D::query_error)?;
                let mut last = 0;
                for template in statements {
                    let sql = template.replace("{window}", &window);
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(cutoff);
                    for b in &bounds {
                        q = q.bind(*b);
                    }
                    last = q
                        .execute(&mut *tx)
                        .await
                        .map_err(D::query_error)?
                        .rows_affected();
                }
                tx.commit().await.map_err(D::query_error)?;
                Ok(PurgeStep {
                    deleted: last,
                    next: hi.map(|h| PurgeCursor(Some(h))),
                })
            }
        }

        #[async_trait]
        impl RetentionStore for $store {
            async fn retention_purge(
                &self,
                kind: PurgeKind,
                cutoff: i64,
                from: &PurgeCursor,
                span: u32,
            ) -> StoreResult<PurgeStep> {
                match kind {
                    PurgeKind::Sessions => {
                        // Tokens first: a session goes only once none of its tokens is left.
                        self.purge_window(
                            "sessions",
                            &[
                                concat!(
                                    "DELETE FROM refresh_tokens WHERE session_id IN \
                                     (SELECT id FROM sessions WHERE {window} AND ",
                                    session_ended!(),
                                    ")"
                                ),
                                concat!(
                                    "DELETE FROM sessions WHERE {window} AND ",
                                    session_ended!(),
                                    " AND NOT EXISTS (SELECT 1 FROM refresh_tokens r \
                                     WHERE r.session_id = sessions.id)"
                                ),
                            ],
                            cutoff,
                            from,
                            span,
                        )
                        .await
                    }
                    PurgeKind::RefreshTokens => {
                        self.purge_window(
                            "refresh_tokens",
                            &[concat!(
                                "DELETE FROM refresh_tokens WHERE {window} AND ",
                                refresh_ended!()
                            )],
                            cutoff,
                            from,
                            span,
                        )
                        .await
                    }
                    PurgeKind::Revocations => {
                        Ok(PurgeStep::by_count(self.revocations_prune(cutoff, span).await?))
                    }
                    PurgeKind::ApiKeys => {
                        self.purge_window(
                            "api_keys",
                            &[concat!(
                                "DELETE FROM api_keys WHERE {window} AND ",
                                key_ended!()
                            )],
                            cutoff,
                            from,
                            span,
                        )
                        .await
                    }
                    PurgeKind::SecretVersions => {
                        self.purge_count(
                            &[concat!(
                                "DELETE FROM secret_versions WHERE (path, version) IN \
                                 (SELECT path, version FROM secret_versions v WHERE ",
                                version_superseded!(),
                                " LIMIT $2)"
                            )],
                            cutoff,
                            span,
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
