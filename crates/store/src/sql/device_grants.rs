//! [`DeviceGrantStore`] on SQLite and PostgreSQL: one body of SQL instantiated for each backend by
//! `sql_device_grants!` (see [`crate::sql`]). Every value is bound, never spliced. Deciding and
//! redeeming are single conditional UPDATEs, so a grant changes state once whoever races.

use super::{Dialect, conflict_or, get};
use crate::device_grants::{DeviceGrant, DeviceGrantStatus, DeviceGrantStore};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use uuid::Uuid;

/// The columns of a grant, as a literal (so every statement stays a static string).
macro_rules! columns {
    () => {
        "device_code_hash, user_code_hash, client_id, client_ip, created_at, expires_at, \
         interval_secs, last_poll_at, status, user_id, approver_assurance"
    };
}

macro_rules! sql_device_grants {
    ($store:ty, $d:ty) => {
        type D = $d;
        type Row = crate::sql::Row<D>;

        fn grant_of(row: &Row) -> StoreResult<DeviceGrant> {
            let status: String = get(row, "status")?;
            let user: Option<String> = get(row, "user_id")?;
            Ok(DeviceGrant {
                device_code_hash: get(row, "device_code_hash")?,
                user_code_hash: get(row, "user_code_hash")?,
                client_id: get(row, "client_id")?,
                client_ip: get(row, "client_ip")?,
                created_at: get(row, "created_at")?,
                expires_at: get(row, "expires_at")?,
                interval_secs: get(row, "interval_secs")?,
                last_poll_at: get(row, "last_poll_at")?,
                status: DeviceGrantStatus::parse(&status)
                    .ok_or_else(|| StoreError::Query("device_grants.status".into()))?,
                user_id: user
                    .map(|u| u.parse::<Uuid>())
                    .transpose()
                    .map_err(|_| StoreError::Query("device_grants.user_id".into()))?,
                approver_assurance: get(row, "approver_assurance")?,
            })
        }

        impl $store {
            async fn device_grant_where(
                &self,
                select: &'static str,
                hash: &str,
            ) -> StoreResult<Option<DeviceGrant>> {
                sqlx::query(select)
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(D::query_error)?
                    .as_ref()
                    .map(grant_of)
                    .transpose()
            }
        }

        #[async_trait]
        impl DeviceGrantStore for $store {
            async fn device_grant_insert(&self, g: &DeviceGrant) -> StoreResult<()> {
                sqlx::query(concat!(
                    "INSERT INTO device_grants (",
                    columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                ))
                .bind(&g.device_code_hash)
                .bind(&g.user_code_hash)
                .bind(&g.client_id)
                .bind(&g.client_ip)
                .bind(g.created_at)
                .bind(g.expires_at)
                .bind(g.interval_secs)
                .bind(g.last_poll_at)
                .bind(g.status.as_str())
                .bind(g.user_id.map(|u| u.to_string()))
                .bind(&g.approver_assurance)
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err(|e| conflict_or::<D>(e, "device code"))
            }

            async fn device_grant_by_device_code(
                &self,
                hash: &str,
            ) -> StoreResult<Option<DeviceGrant>> {
                self.device_grant_where(
                    concat!("SELECT ", columns!(), " FROM device_grants WHERE device_code_hash = $1"),
                    hash,
                )
                .await
            }

            async fn device_grant_by_user_code(
                &self,
                hash: &str,
            ) -> StoreResult<Option<DeviceGrant>> {
                self.device_grant_where(
                    concat!("SELECT ", columns!(), " FROM device_grants WHERE user_code_hash = $1"),
                    hash,
                )
                .await
            }

            async fn device_grant_decide(
                &self,
                user_code_hash: &str,
                approve: bool,
                user_id: Uuid,
                approver_assurance: Option<&str>,
                now: i64,
            ) -> StoreResult<bool> {
                let status = if approve {
                    DeviceGrantStatus::Approved
                } else {
                    DeviceGrantStatus::Denied
                };
                let n = sqlx::query(
                    "UPDATE device_grants SET status = $1, user_id = $2, approver_assurance = $3 \
                     WHERE user_code_hash = $4 AND status = 'pending' AND expires_at > $5",
                )
                .bind(status.as_str())
                .bind(user_id.to_string())
                .bind(approver_assurance)
                .bind(user_code_hash)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(D::query_error)?
                .rows_affected();
                Ok(n == 1)
            }

            async fn device_grant_polled(
                &self,
                device_code_hash: &str,
                now: i64,
                interval_secs: i64,
            ) -> StoreResult<()> {
                sqlx::query(
                    "UPDATE device_grants SET last_poll_at = $1, interval_secs = $2 \
                     WHERE device_code_hash = $3",
                )
                .bind(now)
                .bind(interval_secs)
                .bind(device_code_hash)
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err(D::query_error)
            }

            async fn device_grant_redeem(
                &self,
                device_code_hash: &str,
                now: i64,
            ) -> StoreResult<bool> {
                let n = sqlx::query(
                    "UPDATE device_grants SET status = 'redeemed' \
                     WHERE device_code_hash = $1 AND status = 'approved' AND expires_at > $2",
                )
                .bind(device_code_hash)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(D::query_error)?
                .rows_affected();
                Ok(n == 1)
            }

            async fn device_grants_prune(&self, now: i64, limit: u32) -> StoreResult<u64> {
                sqlx::query(
                    "DELETE FROM device_grants WHERE device_code_hash IN \
                     (SELECT device_code_hash FROM device_grants WHERE expires_at <= $1 LIMIT $2)",
                )
                .bind(now)
                .bind(i64::from(limit))
                .execute(&self.pool)
                .await
                .map(|r| r.rows_affected())
                .map_err(D::query_error)
            }
        }
    };
}

for_each_backend!(sql_device_grants);
