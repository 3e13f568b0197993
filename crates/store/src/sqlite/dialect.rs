//! What the shared SQL ([`crate::sql`]) needs to know of SQLite: the column types of its
//! migrations (a UUID is its hyphenated TEXT, a list a JSON array in TEXT) and its own way of
//! batching audit inserts, purging the audit trail and touching API keys.
//!
//! Guarantees: a UUID or list column that does not parse is [`StoreError::Query`] naming the
//! column; an audit batch is inserted in multi-row statements within the caller's transaction;
//! the purge opens the append-only gate of migration 0005 only inside its own transaction.

use super::query_error;
use crate::sql::Dialect;
use crate::{StoreError, StoreResult};
use palisade_core::audit::AuditRecord;
use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

/// Rows per audit INSERT statement (18 columns; SQLite allows 32,766 parameters).
const AUDIT_ROWS_PER_INSERT: usize = 500;

/// SQLite's [`Dialect`].
#[derive(Debug)]
pub(crate) struct SqliteDialect;

impl Dialect for SqliteDialect {
    type Db = sqlx::Sqlite;
    type Uuid = String;
    type List<'a> = String;

    const NAME: &'static str = "sqlite";

    fn uuid(id: Uuid) -> String {
        id.to_string()
    }

    fn list(items: &[String]) -> String {
        serde_json::to_string(items).expect("strings serialize")
    }

    fn get_uuid(row: &SqliteRow, col: &str) -> StoreResult<Uuid> {
        let text: String = row.try_get(col).map_err(query_error)?;
        text.parse()
            .map_err(|_| StoreError::Query(format!("{col} is not a UUID")))
    }

    fn get_list(row: &SqliteRow, col: &str) -> StoreResult<Vec<String>> {
        let text: String = row.try_get(col).map_err(query_error)?;
        serde_json::from_str(&text)
            .map_err(|_| StoreError::Query(format!("{col} is not a JSON list")))
    }

    fn query_error(e: sqlx::Error) -> StoreError {
        query_error(e)
    }

    fn scan_key(_table: &str) -> (&'static str, &'static str) {
        ("rowid", "INTEGER")
    }

    async fn audit_insert(conn: &mut SqliteConnection, records: &[AuditRecord]) -> StoreResult<()> {
        for chunk in records.chunks(AUDIT_ROWS_PER_INSERT) {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO audit_events (seq, id, ts_ms, event_type, risk, actor, action, \
                 resource_type, resource_id, tenant, result, client_ip, user_agent, request_id, \
                 details, source, prev_hash, hash) ",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.seq as i64)
                    .push_bind(r.id.clone())
                    .push_bind(r.ts_ms)
                    .push_bind(r.event_type.clone())
                    .push_bind(r.risk.as_str())
                    .push_bind(r.actor.clone())
                    .push_bind(r.action.clone())
                    .push_bind(r.resource_type.clone())
                    .push_bind(r.resource_id.clone())
                    .push_bind(r.tenant.clone())
                    .push_bind(r.result.as_str())
                    .push_bind(r.client_ip.clone())
                    .push_bind(r.user_agent.clone())
                    .push_bind(r.request_id.clone())
                    .push_bind(r.details.to_string())
                    .push_bind(r.source.as_str())
                    .push_bind(r.prev_hash.to_vec())
                    .push_bind(r.hash.to_vec());
            });
            qb.build().execute(&mut *conn).await.map_err(query_error)?;
        }
        Ok(())
    }

    async fn audit_purge_through(pool: &SqlitePool, through: u64) -> StoreResult<u64> {
        let gate = |open: bool| {
            sqlx::query("UPDATE audit_purge_gate SET open = $1 WHERE id = 1").bind(open as i64)
        };
        let mut tx = pool.begin().await.map_err(query_error)?;
        gate(true).execute(&mut *tx).await.map_err(query_error)?;
        let gone = sqlx::query("DELETE FROM audit_events WHERE seq <= $1")
            .bind(through as i64)
            .execute(&mut *tx)
            .await
            .map_err(query_error)?
            .rows_affected();
        gate(false).execute(&mut *tx).await.map_err(query_error)?;
        tx.commit().await.map_err(query_error)?;
        Ok(gone)
    }

    async fn after_erase(pool: &SqlitePool) -> StoreResult<()> {
        // `secure_delete` zeroed the row in the page, but the page's former image (and the
        // insert's) may still be in the WAL and in the main file until a checkpoint: copy the
        // WAL back and truncate it. A reader holding an old snapshot makes it report busy;
        // try again a few times, then leave it to the next (automatic) checkpoint.
        for _ in 0..20 {
            let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(pool)
                .await
                .map_err(query_error)?;
            let busy: i64 = row.try_get(0).map_err(query_error)?;
            if busy == 0 {
                return Ok(());
            }
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    async fn api_keys_touch(pool: &SqlitePool, used: &[(Uuid, i64)]) -> StoreResult<()> {
        let mut tx = pool.begin().await.map_err(query_error)?;
        for (id, at) in used {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, 0), $1) \
                 WHERE id = $2",
            )
            .bind(at)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(query_error)?;
        }
        tx.commit().await.map_err(query_error)
    }

    async fn erasure_flush(pool: &SqlitePool) -> StoreResult<()> {
        // The log's frames hold the pages as they were before the purge; the checkpoint copies
        // the zeroed pages (`secure_delete`) into the file and truncates the log to nothing.
        // A reader still on an older snapshot makes it report busy: try again a few times.
        for _ in 0..50 {
            let busy: i64 = sqlx::query_scalar("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(pool)
                .await
                .map_err(query_error)?;
            if busy == 0 {
                return Ok(());
            }
            tokio::task::yield_now().await;
        }
        Err(StoreError::Unavailable(
            "the write-ahead log stayed busy; it is truncated at a later checkpoint".into(),
        ))
    }
}
