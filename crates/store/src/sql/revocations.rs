//! [`RevocationStore`] on SQLite and PostgreSQL: one body of SQL with `$n` placeholders,
//! instantiated per backend (as in `sql_secrets`). Every value is bound, never spliced. A block
//! is lengthened, never shortened, by one upsert; the prune deletes a bounded batch per table.

use super::secrets::{pg_sql, sqlite_sql};
use crate::revocations::{IpBlockRecord, RevocationStore, Revoked, RevokedToken};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use sqlx::Row;
use uuid::Uuid;

macro_rules! sql_revocations {
    ($store:ty, $row:ty, $query_error:path, $sql:path, $uuid:path) => {
        fn revoked_of(row: &$row) -> StoreResult<Revoked> {
            Ok(Revoked {
                id: $uuid(row, "id")?,
                revoked_at: row.try_get("revoked_at").map_err($query_error)?,
            })
        }

        fn block_of(row: &$row) -> StoreResult<IpBlockRecord> {
            Ok(IpBlockRecord {
                ip: row.try_get("ip").map_err($query_error)?,
                until: row.try_get("blocked_until").map_err($query_error)?,
                created_at: row.try_get("created_at").map_err($query_error)?,
                reason: row.try_get("reason").map_err($query_error)?,
            })
        }

        #[async_trait]
        impl RevocationStore for $store {
            async fn token_revoke(&self, token: &RevokedToken) -> StoreResult<()> {
                sqlx::query($sql(
                    "INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (jti) DO UPDATE SET expires_at = \
                     CASE WHEN excluded.expires_at > revoked_tokens.expires_at \
                     THEN excluded.expires_at ELSE revoked_tokens.expires_at END",
                ))
                .bind(&token.jti)
                .bind(token.expires_at)
                .bind(token.revoked_at)
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err($query_error)
            }

            async fn revoked_tokens_active(&self, now: i64) -> StoreResult<Vec<RevokedToken>> {
                let rows = sqlx::query($sql(
                    "SELECT jti, expires_at, revoked_at FROM revoked_tokens \
                     WHERE expires_at > $1 ORDER BY jti",
                ))
                .bind(now)
                .fetch_all(&self.pool)
                .await
                .map_err($query_error)?;
                rows.iter()
                    .map(|row| {
                        Ok(RevokedToken {
                            jti: row.try_get("jti").map_err($query_error)?,
                            expires_at: row.try_get("expires_at").map_err($query_error)?,
                            revoked_at: row.try_get("revoked_at").map_err($query_error)?,
                        })
                    })
                    .collect()
            }

            async fn sessions_revoked_since(&self, since: i64) -> StoreResult<Vec<Revoked>> {
                sqlx::query($sql(
                    "SELECT id, revoked_at FROM sessions \
                     WHERE revoked_at IS NOT NULL AND revoked_at >= $1 ORDER BY id",
                ))
                .bind(since)
                .fetch_all(&self.pool)
                .await
                .map_err($query_error)?
                .iter()
                .map(revoked_of)
                .collect()
            }

            async fn api_keys_revoked_since(&self, since: i64) -> StoreResult<Vec<Revoked>> {
                sqlx::query($sql(
                    "SELECT id, revoked_at FROM api_keys \
                     WHERE revoked_at IS NOT NULL AND revoked_at >= $1 ORDER BY id",
                ))
                .bind(since)
                .fetch_all(&self.pool)
                .await
                .map_err($query_error)?
                .iter()
                .map(revoked_of)
                .collect()
            }

            async fn ip_block_put(&self, block: &IpBlockRecord) -> StoreResult<()> {
                sqlx::query($sql(
                    "INSERT INTO ip_blocks (ip, blocked_until, created_at, reason) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (ip) DO UPDATE SET blocked_until = excluded.blocked_until, \
                     created_at = excluded.created_at, reason = excluded.reason \
                     WHERE excluded.blocked_until > ip_blocks.blocked_until",
                ))
                .bind(&block.ip)
                .bind(block.until)
                .bind(block.created_at)
                .bind(&block.reason)
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err($query_error)
            }

            async fn ip_block_remove(&self, ip: &str) -> StoreResult<bool> {
                let n = sqlx::query($sql("DELETE FROM ip_blocks WHERE ip = $1"))
                    .bind(ip)
                    .execute(&self.pool)
                    .await
                    .map_err($query_error)?
                    .rows_affected();
                Ok(n > 0)
            }

            async fn ip_blocks_active(&self, now: i64) -> StoreResult<Vec<IpBlockRecord>> {
                sqlx::query($sql(
                    "SELECT ip, blocked_until, created_at, reason FROM ip_blocks \
                     WHERE blocked_until > $1 ORDER BY ip",
                ))
                .bind(now)
                .fetch_all(&self.pool)
                .await
                .map_err($query_error)?
                .iter()
                .map(block_of)
                .collect()
            }

            async fn revocations_prune(&self, now: i64, limit: u32) -> StoreResult<u64> {
                let tokens = sqlx::query($sql(
                    "DELETE FROM revoked_tokens WHERE jti IN \
                     (SELECT jti FROM revoked_tokens WHERE expires_at <= $1 LIMIT $2)",
                ))
                .bind(now)
                .bind(i64::from(limit))
                .execute(&self.pool)
                .await
                .map_err($query_error)?
                .rows_affected();
                let blocks = sqlx::query($sql(
                    "DELETE FROM ip_blocks WHERE ip IN \
                     (SELECT ip FROM ip_blocks WHERE blocked_until <= $1 LIMIT $2)",
                ))
                .bind(now)
                .bind(i64::from(limit))
                .execute(&self.pool)
                .await
                .map_err($query_error)?
                .rows_affected();
                Ok(tokens + blocks)
            }
        }
    };
}

fn sqlite_uuid(row: &sqlx::sqlite::SqliteRow, col: &str) -> StoreResult<Uuid> {
    let text: String = row.try_get(col).map_err(crate::sqlite::query_error)?;
    text.parse()
        .map_err(|_| StoreError::Query(format!("{col} is not a UUID")))
}

fn pg_uuid(row: &sqlx::postgres::PgRow, col: &str) -> StoreResult<Uuid> {
    row.try_get(col).map_err(crate::postgres::query_error)
}

mod sqlite_impl {
    use super::*;
    sql_revocations!(
        crate::sqlite::SqliteStore,
        sqlx::sqlite::SqliteRow,
        crate::sqlite::query_error,
        sqlite_sql,
        sqlite_uuid
    );
}

mod postgres_impl {
    use super::*;
    sql_revocations!(
        crate::postgres::PostgresStore,
        sqlx::postgres::PgRow,
        crate::postgres::query_error,
        pg_sql,
        pg_uuid
    );
}
