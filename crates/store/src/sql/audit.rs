//! [`AuditStore`] on SQLite and PostgreSQL: one body of SQL instantiated for each backend by
//! `sql_audit!` (see [`crate::sql`]). The batch insert and the purge are the backend's own
//! ([`Dialect::audit_insert`], [`Dialect::audit_purge_through`]): SQLite inserts multi-row
//! `VALUES` and opens its purge gate; PostgreSQL inserts `UNNEST` arrays in one statement and
//! purges through `palisade_audit_purge`.
//!
//! Guarantees: a batch is appended in one transaction (group commit), all or nothing, and only
//! right after the stored head: a batch that does not follow it fails with
//! [`StoreError::Conflict`] and writes nothing. Two writers (replicas, the CLI) appending at once
//! both start after the head they read, so they collide on the `seq` primary key: the second
//! fails (PostgreSQL: once the first commits, with a unique violation returned as `Conflict`, so
//! its writer re-links the batch after the new head and retries). Neither can leave a gap or a
//! fork in the chain. Records and checkpoints are never updated or deleted, except by the
//! retention purge (triggers of migration 0005).

use super::{Dialect, get, hash32};
use crate::audit::{AppEventKey, AuditFilter, AuditStore};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use palisade_core::audit::{AuditRecord, Checkpoint, Outcome, Risk, Source};

macro_rules! sql_audit {
    ($store:ty, $d:ty) => {
        type D = $d;
        type Db = <D as Dialect>::Db;
        type Row = crate::sql::Row<D>;

        fn row_to_record(row: &Row) -> StoreResult<AuditRecord> {
            let details: String = get(row, "details")?;
            Ok(AuditRecord {
                seq: get::<_, i64>(row, "seq")? as u64,
                id: get(row, "id")?,
                ts_ms: get(row, "ts_ms")?,
                event_type: get(row, "event_type")?,
                risk: Risk::parse(&get::<_, String>(row, "risk")?)
                    .ok_or_else(|| StoreError::Query("unknown risk".into()))?,
                actor: get(row, "actor")?,
                action: get(row, "action")?,
                resource_type: get(row, "resource_type")?,
                resource_id: get(row, "resource_id")?,
                tenant: get(row, "tenant")?,
                result: Outcome::parse(&get::<_, String>(row, "result")?)
                    .ok_or_else(|| StoreError::Query("unknown result".into()))?,
                client_ip: get(row, "client_ip")?,
                user_agent: get(row, "user_agent")?,
                request_id: get(row, "request_id")?,
                details: serde_json::from_str(&details)
                    .map_err(|_| StoreError::Query("details are not JSON".into()))?,
                source: Source::parse(&get::<_, String>(row, "source")?)
                    .ok_or_else(|| StoreError::Query("unknown source".into()))?,
                prev_hash: hash32(row, "prev_hash")?,
                hash: hash32(row, "hash")?,
            })
        }

        #[async_trait]
        impl AuditStore for $store {
            async fn audit_query(
                &self,
                filter: &AuditFilter,
                after: u64,
                limit: u32,
            ) -> StoreResult<Vec<AuditRecord>> {
                let mut qb =
                    sqlx::QueryBuilder::<Db>::new("SELECT * FROM audit_events WHERE seq > ");
                qb.push_bind(after as i64);
                let text = [
                    ("event_type", &filter.event_type),
                    ("actor", &filter.actor),
                    ("resource_id", &filter.resource_id),
                    ("tenant", &filter.tenant),
                ];
                for (column, value) in text {
                    if let Some(v) = value {
                        qb.push(format_args!(" AND {column} = "))
                            .push_bind(v.clone());
                    }
                }
                if let Some(m) = &filter.client_ip {
                    // The expression of migration 0026's index `audit_by_client_ip`.
                    qb.push(" AND (client_ip = ")
                        .push_bind(m.plain.clone())
                        .push(format_args!(
                            " OR substr(client_ip, 1, {}) = ",
                            palisade_core::audit::sealed::match_prefix_len()
                        ))
                        .push_bind(m.sealed_prefix.clone())
                        .push(")");
                }
                if let Some(s) = filter.source {
                    qb.push(" AND source = ").push_bind(s.as_str());
                }
                if let Some(o) = filter.result {
                    qb.push(" AND result = ").push_bind(o.as_str());
                }
                if let Some(m) = filter.min_risk {
                    qb.push(
                        " AND (CASE risk WHEN 'LOW' THEN 0 WHEN 'MEDIUM' THEN 1 \
                         WHEN 'HIGH' THEN 2 ELSE 3 END) >= ",
                    )
                    .push_bind(m as i64);
                }
                if let Some(f) = filter.from_ms {
                    qb.push(" AND ts_ms >= ").push_bind(f);
                }
                if let Some(t) = filter.to_ms {
                    qb.push(" AND ts_ms < ").push_bind(t);
                }
                qb.push(" ORDER BY seq LIMIT ").push_bind(i64::from(limit));
                qb.build()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(D::query_error)?
                    .iter()
                    .map(row_to_record)
                    .collect()
            }

            async fn audit_append_keyed(
                &self,
                records: &[AuditRecord],
                keys: &[AppEventKey],
            ) -> StoreResult<()> {
                let Some(first) = records.first() else {
                    return Ok(());
                };
                let mut tx = self.pool.begin().await.map_err(D::query_error)?;
                let head: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_events")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(D::query_error)?;
                if let Some(h) = head
                    && h as u64 + 1 != first.seq
                {
                    return Err(StoreError::Conflict(format!(
                        "audit record {} does not follow the stored head {h}",
                        first.seq
                    )));
                }
                D::audit_insert(&mut *tx, records).await?;
                for chunk in keys.chunks(500) {
                    let mut qb = sqlx::QueryBuilder::<Db>::new(
                        "INSERT INTO audit_app_keys (principal, idem_key, event_id, created_ms) ",
                    );
                    qb.push_values(chunk, |mut b, k| {
                        b.push_bind(k.principal.clone())
                            .push_bind(k.key.clone())
                            .push_bind(k.event_id.clone())
                            .push_bind(k.created_ms);
                    });
                    qb.push(
                        " ON CONFLICT (principal, idem_key) DO UPDATE \
                         SET event_id = excluded.event_id, created_ms = excluded.created_ms",
                    );
                    qb.build()
                        .execute(&mut *tx)
                        .await
                        .map_err(D::query_error)?;
                }
                tx.commit().await.map_err(D::query_error)
            }

            async fn audit_app_seen(
                &self,
                principal: &str,
                keys: &[String],
                since_ms: i64,
            ) -> StoreResult<Vec<String>> {
                let mut seen = Vec::new();
                for chunk in keys.chunks(500) {
                    let mut qb = sqlx::QueryBuilder::<Db>::new(
                        "SELECT idem_key FROM audit_app_keys WHERE principal = ",
                    );
                    qb.push_bind(principal.to_string())
                        .push(" AND created_ms >= ")
                        .push_bind(since_ms)
                        .push(" AND idem_key IN (");
                    let mut list = qb.separated(", ");
                    for k in chunk {
                        list.push_bind(k.clone());
                    }
                    qb.push(")");
                    for row in qb
                        .build()
                        .fetch_all(&self.pool)
                        .await
                        .map_err(D::query_error)?
                    {
                        seen.push(get(&row, "idem_key")?);
                    }
                }
                Ok(seen)
            }

            async fn audit_app_keys_expire(&self, before_ms: i64) -> StoreResult<u64> {
                sqlx::query("DELETE FROM audit_app_keys WHERE created_ms < $1")
                    .bind(before_ms)
                    .execute(&self.pool)
                    .await
                    .map(|r| r.rows_affected())
                    .map_err(D::query_error)
            }

            async fn audit_head(&self) -> StoreResult<Option<(u64, [u8; 32])>> {
                let row =
                    sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(D::query_error)?;
                row.map(|r| Ok((get::<_, i64>(&r, "seq")? as u64, hash32(&r, "hash")?)))
                    .transpose()
            }

            async fn audit_range(
                &self,
                from_seq: u64,
                limit: u32,
            ) -> StoreResult<Vec<AuditRecord>> {
                sqlx::query("SELECT * FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2")
                    .bind(from_seq as i64)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(D::query_error)?
                    .iter()
                    .map(row_to_record)
                    .collect()
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
                .map_err(D::query_error)
            }

            async fn audit_checkpoints(&self) -> StoreResult<Vec<Checkpoint>> {
                sqlx::query("SELECT * FROM audit_checkpoints ORDER BY seq")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(D::query_error)?
                    .iter()
                    .map(|r| {
                        Ok(Checkpoint {
                            seq: get::<_, i64>(r, "seq")? as u64,
                            hash: hash32(r, "hash")?,
                            ts_ms: get(r, "ts_ms")?,
                            kid: get(r, "kid")?,
                            signature: get(r, "signature")?,
                        })
                    })
                    .collect()
            }

            async fn audit_purge_through(&self, through: u64) -> StoreResult<u64> {
                D::audit_purge_through(&self.pool, through).await
            }
        }
    };
}

for_each_backend!(sql_audit);
