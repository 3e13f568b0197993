//! [`FederationStore`] on SQLite and PostgreSQL: one body of SQL for both (see [`crate::sql`]).
//!
//! Guarantees: `(issuer, subject)` is a UNIQUE index, so a link or provisioning race between
//! replicas ends in one row and one `Conflict`; a lookup is one index seek.

use super::{Dialect, conflict_or};
use crate::StoreResult;
use crate::federation::{CONFLICT_FEDERATED_IDENTITY, FederatedIdentityRecord, FederationStore};
use async_trait::async_trait;
use uuid::Uuid;

macro_rules! sql_federation {
    ($store:ty, $d:ty) => {
        type D = $d;
        type Row = crate::sql::Row<D>;

        fn row_to_identity(row: &Row) -> StoreResult<FederatedIdentityRecord> {
            Ok(FederatedIdentityRecord {
                id: D::get_uuid(row, "id")?,
                user_id: D::get_uuid(row, "user_id")?,
                provider: crate::sql::get(row, "provider")?,
                issuer: crate::sql::get(row, "issuer")?,
                subject: crate::sql::get(row, "subject")?,
                email: crate::sql::get(row, "email")?,
                linked_at: crate::sql::get(row, "linked_at")?,
            })
        }

        #[async_trait]
        impl FederationStore for $store {
            async fn federated_identity_insert(
                &self,
                r: &FederatedIdentityRecord,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO federated_identities \
                     (id, user_id, provider, issuer, subject, email, linked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(D::uuid(r.id))
                .bind(D::uuid(r.user_id))
                .bind(&r.provider)
                .bind(&r.issuer)
                .bind(&r.subject)
                .bind(&r.email)
                .bind(r.linked_at)
                .execute(&self.pool)
                .await
                .map_err(|e| conflict_or::<D>(e, CONFLICT_FEDERATED_IDENTITY))?;
                Ok(())
            }

            async fn federated_identity_find(
                &self,
                issuer: &str,
                subject: &str,
            ) -> StoreResult<Option<FederatedIdentityRecord>> {
                sqlx::query("SELECT * FROM federated_identities WHERE issuer = $1 AND subject = $2")
                    .bind(issuer)
                    .bind(subject)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(D::query_error)?
                    .as_ref()
                    .map(row_to_identity)
                    .transpose()
            }

            async fn federated_identities_of(
                &self,
                user_id: Uuid,
            ) -> StoreResult<Vec<FederatedIdentityRecord>> {
                sqlx::query(
                    "SELECT * FROM federated_identities WHERE user_id = $1 \
                     ORDER BY linked_at, id",
                )
                .bind(D::uuid(user_id))
                .fetch_all(&self.pool)
                .await
                .map_err(D::query_error)?
                .iter()
                .map(row_to_identity)
                .collect()
            }

            async fn federated_identity_delete(
                &self,
                user_id: Uuid,
                id: Uuid,
            ) -> StoreResult<bool> {
                let done =
                    sqlx::query("DELETE FROM federated_identities WHERE id = $1 AND user_id = $2")
                        .bind(D::uuid(id))
                        .bind(D::uuid(user_id))
                        .execute(&self.pool)
                        .await
                        .map_err(D::query_error)?;
                Ok(done.rows_affected() == 1)
            }
        }
    };
}

for_each_backend!(sql_federation);
