//! [`AuditStore`] on PostgreSQL: each batch is one `INSERT … SELECT FROM UNNEST(arrays)` in one
//! transaction (group commit, no per-row statements, no bind-parameter limit). Append-only is
//! enforced by the triggers of migration 0005; the purge goes through `palisade_audit_purge`.
//!
//! Two writers (replicas, the CLI) appending at once: both batches start right after the head
//! they read, so they collide on the `seq` primary key; the second waits for the first to commit,
//! then fails with a unique violation, returned as [`StoreError::Conflict`] so its writer re-links
//! the batch after the new head and retries. Neither can leave a gap or a fork in the chain.

use super::{PostgresStore, conflict_or, hash32, query_error};
use crate::audit::{AuditFilter, AuditStore};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use palisade_core::audit::{AuditRecord, Checkpoint, Outcome, Risk};
use sqlx::Row;
use sqlx::postgres::PgRow;

fn row_to_record(row: &PgRow) -> StoreResult<AuditRecord> {
    let get_s = |c: &str| -> StoreResult<String> { row.try_get(c).map_err(query_error) };
    let get_o = |c: &str| -> StoreResult<Option<String>> { row.try_get(c).map_err(query_error) };
    let details: String = get_s("details")?;
    Ok(AuditRecord {
        seq: row.try_get::<i64, _>("seq").map_err(query_error)? as u64,
        id: get_s("id")?,
        ts_ms: row.try_get("ts_ms").map_err(query_error)?,
        event_type: get_s("event_type")?,
        risk: Risk::parse(&get_s("risk")?)
            .ok_or_else(|| StoreError::Query("unknown risk".into()))?,
        actor: get_o("actor")?,
        action: get_o("action")?,
        resource_type: get_o("resource_type")?,
        resource_id: get_o("resource_id")?,
        tenant: get_o("tenant")?,
        result: Outcome::parse(&get_s("result")?)
            .ok_or_else(|| StoreError::Query("unknown result".into()))?,
        client_ip: get_o("client_ip")?,
        user_agent: get_o("user_agent")?,
        request_id: get_o("request_id")?,
        details: serde_json::from_str(&details)
            .map_err(|_| StoreError::Query("details are not JSON".into()))?,
        prev_hash: hash32(row, "prev_hash")?,
        hash: hash32(row, "hash")?,
    })
}

fn rows_to_records(rows: Vec<PgRow>) -> StoreResult<Vec<AuditRecord>> {
    rows.iter().map(row_to_record).collect()
}

/// The batch as one array per column, for `UNNEST`.
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
            c.prev_hash.push(r.prev_hash.to_vec());
            c.hash.push(r.hash.to_vec());
        }
        c
    }
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn audit_query(
        &self,
        filter: &AuditFilter,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<AuditRecord>> {
        let mut qb =
            sqlx::QueryBuilder::<sqlx::Postgres>::new("SELECT * FROM audit_events WHERE seq > ");
        qb.push_bind(after as i64);
        let text = [
            ("event_type", &filter.event_type),
            ("actor", &filter.actor),
            ("tenant", &filter.tenant),
        ];
        for (column, value) in text {
            if let Some(v) = value {
                qb.push(format_args!(" AND {column} = "))
                    .push_bind(v.clone());
            }
        }
        if let Some(o) = filter.result {
            qb.push(" AND result = ").push_bind(o.as_str());
        }
        if let Some(m) = filter.min_risk {
            let at_least: Vec<&str> = [Risk::Low, Risk::Medium, Risk::High, Risk::Critical]
                .into_iter()
                .filter(|r| *r >= m)
                .map(Risk::as_str)
                .collect();
            qb.push(" AND risk = ANY(").push_bind(at_least).push(")");
        }
        if let Some(f) = filter.from_ms {
            qb.push(" AND ts_ms >= ").push_bind(f);
        }
        if let Some(t) = filter.to_ms {
            qb.push(" AND ts_ms < ").push_bind(t);
        }
        qb.push(" ORDER BY seq LIMIT ").push_bind(i64::from(limit));
        rows_to_records(
            qb.build()
                .fetch_all(&self.pool)
                .await
                .map_err(query_error)?,
        )
    }

    async fn audit_append(&self, records: &[AuditRecord]) -> StoreResult<()> {
        let Some(first) = records.first() else {
            return Ok(());
        };
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        let head: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_events")
            .fetch_one(&mut *tx)
            .await
            .map_err(query_error)?;
        if let Some(h) = head
            && h as u64 + 1 != first.seq
        {
            return Err(StoreError::Conflict(format!(
                "audit record {} does not follow the stored head {h}",
                first.seq
            )));
        }
        let c = Columns::of(records);
        sqlx::query(
            "INSERT INTO audit_events (seq, id, ts_ms, event_type, risk, actor, action, \
             resource_type, resource_id, tenant, result, client_ip, user_agent, request_id, \
             details, prev_hash, hash) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
             $12::text[], $13::text[], $14::text[], $15::text[], $16::bytea[], $17::bytea[])",
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
        .bind(c.prev_hash)
        .bind(c.hash)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            conflict_or(
                e,
                &format!("audit record {} was appended concurrently", first.seq),
            )
        })?;
        tx.commit().await.map_err(query_error)
    }

    async fn audit_head(&self) -> StoreResult<Option<(u64, [u8; 32])>> {
        let row = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error)?;
        row.map(|r| {
            Ok((
                r.try_get::<i64, _>("seq").map_err(query_error)? as u64,
                hash32(&r, "hash")?,
            ))
        })
        .transpose()
    }

    async fn audit_range(&self, from_seq: u64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        rows_to_records(
            sqlx::query("SELECT * FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2")
                .bind(from_seq as i64)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(query_error)?,
        )
    }

    async fn audit_checkpoint_put(&self, cp: &Checkpoint) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, hash, ts_ms, kid, signature) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
        )
        .bind(cp.seq as i64)
        .bind(&cp.hash[..])
        .bind(cp.ts_ms)
        .bind(&cp.kid)
        .bind(&cp.signature)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(query_error)
    }

    async fn audit_checkpoints(&self) -> StoreResult<Vec<Checkpoint>> {
        sqlx::query("SELECT * FROM audit_checkpoints ORDER BY seq")
            .fetch_all(&self.pool)
            .await
            .map_err(query_error)?
            .iter()
            .map(|r| {
                Ok(Checkpoint {
                    seq: r.try_get::<i64, _>("seq").map_err(query_error)? as u64,
                    hash: hash32(r, "hash")?,
                    ts_ms: r.try_get("ts_ms").map_err(query_error)?,
                    kid: r.try_get("kid").map_err(query_error)?,
                    signature: r.try_get("signature").map_err(query_error)?,
                })
            })
            .collect()
    }

    async fn audit_purge_through(&self, through: u64) -> StoreResult<u64> {
        let gone: i64 = sqlx::query_scalar("SELECT palisade_audit_purge($1)")
            .bind(i64::try_from(through).unwrap_or(i64::MAX))
            .fetch_one(&self.pool)
            .await
            .map_err(query_error)?;
        Ok(gone as u64)
    }
}
