//! [`AuditStore`] on SQLite: multi-row inserts in one transaction per batch (group commit),
//! append-only enforced by triggers (migration 0005).

use super::{SqliteStore, query_error};
use crate::audit::{AuditFilter, AuditStore};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use palisade_core::audit::{AuditRecord, Checkpoint, Outcome, Risk};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// Rows per INSERT statement (17 columns; SQLite allows 32,766 parameters).
const ROWS_PER_INSERT: usize = 500;

fn hash32(row: &SqliteRow, col: &str) -> StoreResult<[u8; 32]> {
    let bytes: Vec<u8> = row.try_get(col).map_err(query_error)?;
    bytes
        .try_into()
        .map_err(|_| StoreError::Query(format!("{col} is not 32 bytes")))
}

fn row_to_record(row: &SqliteRow) -> StoreResult<AuditRecord> {
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

#[async_trait]
impl AuditStore for SqliteStore {
    async fn audit_query(
        &self,
        filter: &AuditFilter,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<AuditRecord>> {
        let mut qb =
            sqlx::QueryBuilder::<sqlx::Sqlite>::new("SELECT * FROM audit_events WHERE seq > ");
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
            qb.push(" AND (CASE risk WHEN 'LOW' THEN 0 WHEN 'MEDIUM' THEN 1 WHEN 'HIGH' THEN 2 ELSE 3 END) >= ")
                .push_bind(m as i64);
        }
        if let Some(f) = filter.from_ms {
            qb.push(" AND ts_ms >= ").push_bind(f);
        }
        if let Some(t) = filter.to_ms {
            qb.push(" AND ts_ms < ").push_bind(t);
        }
        qb.push(" ORDER BY seq LIMIT ").push_bind(limit as i64);
        qb.build()
            .fetch_all(&self.pool)
            .await
            .map_err(query_error)?
            .iter()
            .map(row_to_record)
            .collect()
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
        for chunk in records.chunks(ROWS_PER_INSERT) {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO audit_events (seq, id, ts_ms, event_type, risk, actor, action, \
                 resource_type, resource_id, tenant, result, client_ip, user_agent, request_id, \
                 details, prev_hash, hash) ",
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
                    .push_bind(r.prev_hash.to_vec())
                    .push_bind(r.hash.to_vec());
            });
            qb.build().execute(&mut *tx).await.map_err(query_error)?;
        }
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
        sqlx::query("SELECT * FROM audit_events WHERE seq >= ? ORDER BY seq LIMIT ?")
            .bind(from_seq as i64)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(query_error)?
            .iter()
            .map(row_to_record)
            .collect()
    }

    async fn audit_checkpoint_put(&self, cp: &Checkpoint) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (seq, hash, ts_ms, kid, signature) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT(seq) DO NOTHING",
        )
        .bind(cp.seq as i64)
        .bind(cp.hash.to_vec())
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
        let gate = |open: bool| {
            sqlx::query("UPDATE audit_purge_gate SET open = ? WHERE id = 1").bind(open as i64)
        };
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        gate(true).execute(&mut *tx).await.map_err(query_error)?;
        let gone = sqlx::query("DELETE FROM audit_events WHERE seq <= ?")
            .bind(through as i64)
            .execute(&mut *tx)
            .await
            .map_err(query_error)?
            .rows_affected();
        gate(false).execute(&mut *tx).await.map_err(query_error)?;
        tx.commit().await.map_err(query_error)?;
        Ok(gone)
    }
}
