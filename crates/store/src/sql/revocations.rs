//! [`RevocationStore`] on SQLite and PostgreSQL: one body of SQL instantiated for each backend by
//! `sql_revocations!` (see [`crate::sql`]). Every value is bound, never spliced. A block is
//! lengthened, never shortened, by one upsert; the prune deletes a bounded batch per table.

use super::{Dialect, get};
use crate::StoreResult;
use crate::revocations::{IpBlockRecord, RevocationStore, Revoked, RevokedToken};
use async_trait::async_trait;

macro_rules! sql_revocations {
    ($store:ty, $d:ty) => {
        type D = $d;
        type Row = crate::sql::Row<D>;

        fn revoked_of(row: &Row) -> StoreResult<Revoked> {
            Ok(Revoked {
                id: D::get_uuid(row, "id")?,
                revoked_at: get(row, "revoked_at")?,
            })
        }

        fn block_of(row: &Row) -> StoreResult<IpBlockRecord> {
            Ok(IpBlockRecord {
                ip: get(row, "ip")?,
                until: get(row, "blocked_until")?,
                created_at: get(row, "created_at")?,
                reason: get(row, "reason")?,
            })
        }

        #[async_trait]
        impl RevocationStore for $store {
            async fn token_revoke(&self, token: &RevokedToken) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (jti) DO UPDATE SET expires_at = \
                     CASE WHEN excluded.expires_at > revoked_tokens.expires_at \
                     THEN excluded.expires_at ELSE revoked_tokens.expires_at END",
                )
                .bind(&token.jti)
                .bind(token.expires_at)
                .bind(token.revoked_at)
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err(D::query_error)
            }

            async fn revoked_tokens_active(&self, now: i64) -> StoreResult<Vec<RevokedToken>> {
                let rows = sqlx::query(
                    "SELECT jti, expires_at, revoked_at FROM revoked_tokens \
                     WHERE expires_at > $1 ORDER BY jti",
                )
                .bind(now)
                .fetch_all(&self.pool)
                .await
                .map_err(D::query_error)?;
                rows.iter()
                    .map(|row| {
                        Ok(RevokedToken {
                            jti: get(row, "jti")?,
                            expires_at: get(row, "expires_at")?,
                            revoked_at: get(row, "revoked_at")?,
                        })
                    })
                    .collect()
            }

            async fn sessions_revoked_since(&self, since: i64) -> StoreResult<Vec<Revoked>> {
                sqlx::query(
                    "SELECT id, revoked_at FROM sessions \
                     WHERE revoked_at IS NOT NULL AND revoked_at >= $1 ORDER BY id",
                )
                .bind(since)
                .fetch_all(&self.pool)
                .await
                .map_err(D::query_error)?
                .iter()
                .map(revoked_of)
                .collect()
            }

            async fn api_keys_revoked_since(&self, since: i64) -> StoreResult<Vec<Revoked>> {
                sqlx::query(
                    "SELECT id, revoked_at FROM api_keys \
                     WHERE revoked_at IS NOT NULL AND revoked_at >= $1 ORDER BY id",
                )
                .bind(since)
                .fetch_all(&self.pool)
                .await
                .map_err(D::query_error)?
                .iter()
                .map(revoked_of)
                .collect()
            }

            async fn ip_block_put(&self, block: &IpBlockRecord) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO ip_blocks (ip, blocked_until, created_at, reason) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (ip) DO UPDATE SET blocked_until = excluded.blocked_until, \
                     created_at = excluded.created_at, reason = excluded.reason \
                     WHERE excluded.blocked_until > ip_blocks.blocked_until",
                )
                .bind(&block.ip)
                .bind(block.until)
                .bind(block.created_at)
                .bind(&block.reason)
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err(D::query_error)
            }

            async fn ip_block_remove(&self, ip: &str) -> StoreResult<bool> {
                let n = sqlx::query("DELETE FROM ip_blocks WHERE ip = $1")
                    .bind(ip)
                    .execute(&self.pool)
                    .await
                    .map_err(D::query_error)?
                    .rows_affected();
                Ok(n > 0)
            }

            async fn ip_blocks_active(&self, now: i64) -> StoreResult<Vec<IpBlockRecord>> {
                sqlx::query(
                    "SELECT ip, blocked_until, created_at, reason FROM ip_blocks \
                     WHERE blocked_until > $1 ORDER BY ip",
                )
                .bind(now)
                .fetch_all(&self.pool)
                .await
                .map_err(D::query_error)?
                .iter()
                .map(block_of)
                .collect()
            }

            async fn revocations_prune(&self, now: i64, limit: u32) -> StoreResult<u64> {
                let tokens = sqlx::query(
                    "DELETE FROM revoked_tokens WHERE jti IN \
                     (SELECT jti FROM revoked_tokens WHERE expires_at <= $1 LIMIT $2)",
                )
                .bind(now)
                .bind(i64::from(limit))
                .execute(&self.pool)
                .await
                .map_err(D::query_error)?
                .rows_affected();
                let blocks = sqlx::query(
                    "DELETE FROM ip_blocks WHERE ip IN \
                     (SELECT ip FROM ip_blocks WHERE blocked_until <= $1 LIMIT $2)",
                )
                .bind(now)
                .bind(i64::from(limit))
                .execute(&self.pool)
                .await
                .map_err(D::query_error)?
                .rows_affected();
                Ok(tokens + blocks)
            }
        }
    };
}

for_each_backend!(sql_revocations);
