//! What the shared SQL ([`crate::sql`]) needs to know of PostgreSQL: the column types of its
//! migrations (UUID, TEXT[]), how its errors are classified ([`super::query_error`]), and its own
//! way of batching audit inserts and API key touches (one statement over `UNNEST` arrays, no
//! per-row statements and no bind-parameter limit) and of purging the audit trail (through the
//! `palisade_audit_purge` function of migration 0005, which a role that may not DELETE can call).
//!
//! Guarantees: an audit batch that collides with a concurrent writer's (the same `seq`) fails
//! with [`StoreError::Conflict`] once the other commits; a key touched twice in one batch keeps
//! its latest time, and no key's `last_used_at` moves back.

use super::query_error;
use crate::sql::{Dialect, conflict_or};
use crate::{StoreError, StoreResult};
use palisade_core::audit::AuditRecord;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// PostgreSQL's [`Dialect`].
#[derive(Debug)]
pub(crate) struct PostgresDialect;

impl Dialect for PostgresDialect {
    type Db = sqlx::Postgres;
    type Uuid = Uuid;
    type List<'a> = &'a [String];

    const NAME: &'static str = "postgres";

    fn uuid(id: Uuid) -> Uuid {
        id
    }

    fn list(items: &[String]) -> &[String] {
        items
    }

    fn get_uuid(row: &PgRow, col: &str) -> StoreResult<Uuid> {
        row.try_get(col).map_err(query_error)
    }

    fn get_list(row: &PgRow, col: &str) -> StoreResult<Vec<String>> {
        row.try_get(col).map_err(query_error)
    }

    fn query_error(e: sqlx::Error) -> StoreError {
        query_error(e)
    }

    fn scan_key(table: &str) -> (&'static str, &'static str) {
        match table {
            "refresh_tokens" => ("hash", "bytea"),
            _ => ("id", "uuid"),
        }
    }

    async fn audit_insert(conn: &mut PgConnection, records: &[AuditRecord]) -> StoreResult<()> {
        let c = Columns::of(records);
        sqlx::query(
            "INSERT INTO audit_events (seq, id, ts_ms, event_type, risk, actor, action, \
             resource_type, resource_id, tenant, result, client_ip, user_agent, request_id, \
             details, source, prev_hash, hash) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
             $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::bytea[], \
             $18::bytea[])",
        )
        .bind(c.seq)
        .bind(c.id)
        .bind(c.ts_ms)
        .bind(c.event_type)
        .bind(c.risk)
        .bind(c.actor)
        .bind(c.action)
        .bind(c.resource_type)
        .bind(c.resource_id)
        .bind(c.tenant)
        .bind(c.result)
        .bind(c.client_ip)
        .bind(c.user_agent)
        .bind(c.request_id)
        .bind(c.details)
        .bind(c.source)
        .bind(c.prev_hash)
        .bind(c.hash)
        .execute(conn)
        .await
        .map(|_| ())
        .map_err(|e| {
            let first = records.first().map_or(0, |r| r.seq);
            conflict_or::<Self>(
                e,
                &format!("audit record {first} was appended concurrently"),
            )
        })
    }

    async fn audit_purge_through(pool: &PgPool, through: u64) -> StoreResult<u64> {
        let gone: i64 = sqlx::query_scalar("SELECT palisade_audit_purge($1)")
            .bind(i64::try_from(through).unwrap_or(i64::MAX))
            .fetch_one(pool)
            .await
            .map_err(query_error)?;
        Ok(gone as u64)
    }

    async fn after_erase(_pool: &PgPool) -> StoreResult<()> {
        // The deleted tuple stays in the heap until VACUUM reuses its space (autovacuum, or
        // the operator's); the runtime role cannot force it here.
        Ok(())
    }

    async fn api_keys_touch(pool: &PgPool, used: &[(Uuid, i64)]) -> StoreResult<()> {
        if used.is_empty() {
            return Ok(());
        }
        let (ids, times): (Vec<Uuid>, Vec<i64>) = used.iter().copied().unzip();
        // One statement for the batch; a key named twice keeps its latest time.
        sqlx::query(
            "UPDATE api_keys AS k SET last_used_at = GREATEST(COALESCE(k.last_used_at, 0), u.at) \
             FROM (SELECT id, MAX(at) AS at FROM UNNEST($1::uuid[], $2::bigint[]) AS t(id, at) \
                   GROUP BY id) AS u \
             WHERE k.id = u.id",
        )
        .bind(ids)
        .bind(times)
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(query_error)
    }
}

/// An audit batch as one array per column, for `UNNEST`.
#[derive(Default)]
struct Columns {
    seq: Vec<i64>,
    id: Vec<String>,
    ts_ms: Vec<i64>,
    event_type: Vec<String>,
    risk: Vec<&'static str>,
    actor: Vec<Option<String>>,
    action: Vec<Option<String>>,
    resource_type: Vec<Option<String>>,
    resource_id: Vec<Option<String>>,
    tenant: Vec<Option<String>>,
    result: Vec<&'static str>,
    client_ip: Vec<Option<String>>,
    user_agent: Vec<Option<String>>,
    request_id: Vec<Option<String>>,
    details: Vec<String>,
    source: Vec<&'static str>,
    prev_hash: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
}

impl Columns {
    fn of(records: &[AuditRecord]) -> Self {
        let mut c = Columns::default();
        for r in records {
            c.seq.push(r.seq as i64);
            c.id.push(r.id.clone());
            c.ts_ms.push(r.ts_ms);
            c.event_type.push(r.event_type.clone());
            c.risk.push(r.risk.as_str());
            c.actor.push(r.actor.clone());
            c.action.push(r.action.clone());
            c.resource_type.push(r.resource_type.clone());
            c.resource_id.push(r.resource_id.clone());
            c.tenant.push(r.tenant.clone());
            c.result.push(r.result.as_str());
            c.client_ip.push(r.client_ip.clone());
            c.user_agent.push(r.user_agent.clone());
            c.request_id.push(r.request_id.clone());
            c.details.push(r.details.to_string());
            c.source.push(r.source.as_str());
            c.prev_hash.push(r.prev_hash.to_vec());
            c.hash.push(r.hash.to_vec());
        }
        c
    }
}
