//! [`IdentityStore`] and [`TenantStore`] on SQLite and PostgreSQL: one body of SQL instantiated
//! for each backend by `sql_identity!` (see [`crate::sql`]; UUIDs and lists go through the
//! backend's [`Dialect`]).
//!
//! Guarantees: every value is bound, never spliced into SQL; a UNIQUE violation becomes
//! [`StoreError::Conflict`]; with field crypto installed only the e-mail's blind index is sent
//! to the database, never the address. Refresh-token rotation is one conditional
//! `UPDATE … WHERE rotated_at IS NULL` inside a transaction that also inserts the successor: of
//! two concurrent rotations of one token the second waits (PostgreSQL: for the first's row lock,
//! then re-reads the row; SQLite: for the single writer), finds it rotated, and cannot also win.
//! Deleting a tenant removes its memberships and grants and detaches its children in the same
//! transaction.

use super::{Dialect, conflict_or, get, hash32, user_conflict};
use crate::field_crypto::{EMAIL_INDEX_DOMAIN, StoredUser, reveal_all, seal_email};
use crate::identity::{
    ApiKeyRecord, IdentityStore, MembershipRecord, PrincipalKind, RefreshRecord,
    ResourceGrantRecord, RevocationReason, RotateOutcome, SessionKind, SessionRecord,
    SigningKeyRecord, TenantRecord, TenantStore, TokenHash, UserRecord,
};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use uuid::Uuid;

macro_rules! sql_identity {
    ($store:ty, $d:ty) => {
        type D = $d;
        type Db = <D as Dialect>::Db;
        type Row = crate::sql::Row<D>;
        type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>;

        fn row_to_user(row: &Row) -> StoreResult<StoredUser> {
            let user = UserRecord {
                id: D::get_uuid(row, "id")?,
                external_id: get(row, "external_id")?,
                email: String::new(),
                name: get(row, "name")?,
                password_hash: get(row, "password_hash")?,
                roles: D::get_list(row, "roles")?,
                tier: get(row, "tier")?,
                kind: PrincipalKind::parse(&get::<_, String>(row, "kind")?)
                    .ok_or_else(|| StoreError::Query("unknown principal kind".into()))?,
                disabled: get(row, "disabled")?,
                last_login_at: get(row, "last_login_at")?,
                created_at: get(row, "created_at")?,
                updated_at: get(row, "updated_at")?,
            };
            Ok(StoredUser {
                user,
                plain: get(row, "email")?,
                enc: get(row, "email_enc")?,
            })
        }

        fn row_to_session(row: &Row) -> StoreResult<SessionRecord> {
            Ok(SessionRecord {
                id: D::get_uuid(row, "id")?,
                user_id: D::get_uuid(row, "user_id")?,
                kind: SessionKind::parse(&get::<_, String>(row, "kind")?)
                    .ok_or_else(|| StoreError::Query("unknown session kind".into()))?,
                created_at: get(row, "created_at")?,
                last_seen_at: get(row, "last_seen_at")?,
                expires_at: get(row, "expires_at")?,
                user_agent: get(row, "user_agent")?,
                fingerprint: get(row, "fingerprint")?,
                revoked_at: get(row, "revoked_at")?,
                revoked_reason: reason_of(row)?,
                amr: D::get_list(row, "amr")?,
                acr: get(row, "acr")?,
                auth_time: get(row, "auth_time")?,
            })
        }

        /// The `revoked_reason` column of a session or key row.
        fn reason_of(row: &Row) -> StoreResult<Option<RevocationReason>> {
            get::<_, Option<String>>(row, "revoked_reason")?
                .map(|r| {
                    RevocationReason::parse(&r)
                        .ok_or_else(|| StoreError::Query(format!("unknown revocation reason {r:?}")))
                })
                .transpose()
        }

        fn row_to_refresh(row: &Row) -> StoreResult<RefreshRecord> {
            Ok(RefreshRecord {
                hash: hash32(row, "hash")?,
                session_id: D::get_uuid(row, "session_id")?,
                created_at: get(row, "created_at")?,
                expires_at: get(row, "expires_at")?,
                rotated_at: get(row, "rotated_at")?,
            })
        }

        /// An `api_keys` row (shared with [`crate::sql::legacy_keys`]).
        pub(crate) fn row_to_key(row: &Row) -> StoreResult<ApiKeyRecord> {
            Ok(ApiKeyRecord {
                id: D::get_uuid(row, "id")?,
                hash: hash32(row, "hash")?,
                prefix: get(row, "prefix")?,
                name: get(row, "name")?,
                owner_id: D::get_uuid(row, "owner_id")?,
                roles: D::get_list(row, "roles")?,
                scopes: D::get_list(row, "scopes")?,
                created_at: get(row, "created_at")?,
                expires_at: get(row, "expires_at")?,
                last_used_at: get(row, "last_used_at")?,
                revoked_at: get(row, "revoked_at")?,
                revoked_reason: reason_of(row)?,
            })
        }

        fn row_to_signing(row: &Row) -> StoreResult<SigningKeyRecord> {
            Ok(SigningKeyRecord {
                kid: get(row, "kid")?,
                alg: get(row, "alg")?,
                wrapped_private: get(row, "wrapped_private")?,
                created_at: get(row, "created_at")?,
                retired_at: get(row, "retired_at")?,
            })
        }

        fn row_to_tenant(row: &Row) -> StoreResult<TenantRecord> {
            Ok(TenantRecord {
                id: get(row, "id")?,
                name: get(row, "name")?,
                parent_id: get(row, "parent_id")?,
                created_at: get(row, "created_at")?,
            })
        }

        fn row_to_member(row: &Row) -> StoreResult<MembershipRecord> {
            Ok(MembershipRecord {
                tenant_id: get(row, "tenant_id")?,
                user_id: D::get_uuid(row, "user_id")?,
                role: get(row, "role")?,
                created_at: get(row, "created_at")?,
            })
        }

        fn row_to_grant(row: &Row) -> StoreResult<ResourceGrantRecord> {
            Ok(ResourceGrantRecord {
                tenant_id: get(row, "tenant_id")?,
                user_id: D::get_uuid(row, "user_id")?,
                grants: D::get_list(row, "grants")?,
                created_at: get(row, "created_at")?,
            })
        }

        fn insert_refresh(t: &RefreshRecord) -> Query<'_> {
            sqlx::query(
                "INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at, rotated_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&t.hash[..])
            .bind(D::uuid(t.session_id))
            .bind(t.created_at)
            .bind(t.expires_at)
            .bind(t.rotated_at)
        }

        impl $store {
            /// Runs `query`; the row it found, mapped.
            async fn one<T>(
                &self,
                query: Query<'_>,
                map: fn(&Row) -> StoreResult<T>,
            ) -> StoreResult<Option<T>> {
                query
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(D::query_error)?
                    .as_ref()
                    .map(map)
                    .transpose()
            }

            /// Runs `query`; every row it found, mapped.
            async fn all<T>(
                &self,
                query: Query<'_>,
                map: fn(&Row) -> StoreResult<T>,
            ) -> StoreResult<Vec<T>> {
                query
                    .fetch_all(&self.pool)
                    .await
                    .map_err(D::query_error)?
                    .iter()
                    .map(map)
                    .collect()
            }

            /// Runs `query`; true when it changed a row.
            async fn changed(&self, query: Query<'_>) -> StoreResult<bool> {
                Ok(query
                    .execute(&self.pool)
                    .await
                    .map_err(D::query_error)?
                    .rows_affected()
                    > 0)
            }

            /// Runs an INSERT; a UNIQUE violation is a conflict saying `what`.
            async fn insert(&self, query: Query<'_>, what: &str) -> StoreResult<()> {
                query
                    .execute(&self.pool)
                    .await
                    .map(|_| ())
                    .map_err(|e| conflict_or::<D>(e, what))
            }
        }

        #[async_trait]
        impl IdentityStore for $store {
            async fn user_insert(&self, u: &UserRecord) -> StoreResult<()> {
                let crypto = self.crypto.get();
                let email = seal_email(crypto.as_deref(), u.id, &u.email)?;
                sqlx::query(
                    "INSERT INTO users (id, email, email_index, email_enc, name, \
                     password_hash, roles, tier, kind, disabled, created_at, updated_at, \
                     external_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(D::uuid(u.id))
                    .bind(email.plain)
                    .bind(email.index)
                    .bind(email.enc)
                    .bind(&u.name)
                    .bind(&u.password_hash)
                    .bind(D::list(&u.roles))
                    .bind(&u.tier)
                    .bind(u.kind.as_str())
                    .bind(u.disabled)
                    .bind(u.created_at)
                    .bind(u.updated_at)
                    .bind(&u.external_id)
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err(user_conflict::<D>)
            }

            async fn user_by_external_id(
                &self,
                external_id: &str,
            ) -> StoreResult<Option<UserRecord>> {
                let crypto = self.crypto.get();
                match self
                    .one(
                        sqlx::query("SELECT * FROM users WHERE external_id = $1")
                            .bind(external_id),
                        row_to_user,
                    )
                    .await?
                {
                    Some(row) => Ok(Some(row.reveal(crypto.as_deref()).await?)),
                    None => Ok(None),
                }
            }

            async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
                let crypto = self.crypto.get();
                match self
                    .one(
                        sqlx::query("SELECT * FROM users WHERE id = $1").bind(D::uuid(id)),
                        row_to_user,
                    )
                    .await?
                {
                    Some(row) => Ok(Some(row.reveal(crypto.as_deref()).await?)),
                    None => Ok(None),
                }
            }

            async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
                let crypto = self.crypto.get();
                // With crypto, only the blind index is sent to the database, never the address.
                let query = match &crypto {
                    Some(c) => sqlx::query("SELECT * FROM users WHERE email_index = $1")
                        .bind(c.index(EMAIL_INDEX_DOMAIN, email)?),
                    None => sqlx::query("SELECT * FROM users WHERE email = $1").bind(email),
                };
                match self.one(query, row_to_user).await? {
                    Some(row) => Ok(Some(row.reveal(crypto.as_deref()).await?)),
                    None => Ok(None),
                }
            }

            async fn users_list(
                &self,
                after: Option<Uuid>,
                limit: u32,
            ) -> StoreResult<Vec<UserRecord>> {
                // Two statements rather than `$1 IS NULL OR id > $1`, which SQLite (and a
                // generic PostgreSQL plan) cannot turn into a range search of the primary key.
                let query = match after {
                    Some(a) => sqlx::query("SELECT * FROM users WHERE id > $1 ORDER BY id LIMIT $2")
                        .bind(D::uuid(a))
                        .bind(i64::from(limit)),
                    None => sqlx::query("SELECT * FROM users ORDER BY id LIMIT $1")
                        .bind(i64::from(limit)),
                };
                let rows = self.all(query, row_to_user).await?;
                reveal_all(rows, self.crypto.get().as_deref()).await
            }

            async fn users_page(
                &self,
                after: Option<Uuid>,
                limit: u32,
                contains: Option<&str>,
            ) -> StoreResult<Vec<UserRecord>> {
                let pattern = contains.map_or_else(|| "%".to_string(), like_contains);
                let query = sqlx::query(
                    "SELECT * FROM users WHERE id > $1 AND kind = 'human' \
                     AND (lower(COALESCE(name, '')) LIKE $2 ESCAPE '\\' \
                          OR lower(CAST(id AS TEXT)) LIKE $2 ESCAPE '\\') \
                     ORDER BY id LIMIT $3",
                )
                .bind(D::uuid(after.unwrap_or(Uuid::nil())))
                .bind(pattern)
                .bind(i64::from(limit));
                let rows = self.all(query, row_to_user).await?;
                reveal_all(rows, self.crypto.get().as_deref()).await
            }

            async fn user_set_password_hash(
                &self,
                id: Uuid,
                hash: &str,
                now: i64,
            ) -> StoreResult<bool> {
                self.changed(
                    sqlx::query(
                        "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3",
                    )
                    .bind(hash)
                    .bind(now)
                    .bind(D::uuid(id)),
                )
                .await
            }

            async fn user_set_disabled(
                &self,
                id: Uuid,
                disabled: bool,
                now: i64,
            ) -> StoreResult<bool> {
                self.changed(
                    sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
                        .bind(disabled)
                        .bind(now)
                        .bind(D::uuid(id)),
                )
                .await
            }

            async fn user_set_roles(
                &self,
                id: Uuid,
                roles: &[String],
                now: i64,
            ) -> StoreResult<bool> {
                self.changed(
                    sqlx::query("UPDATE users SET roles = $1, updated_at = $2 WHERE id = $3")
                        .bind(D::list(roles))
                        .bind(now)
                        .bind(D::uuid(id)),
                )
                .await
            }

            async fn user_set_tier(&self, id: Uuid, tier: &str, now: i64) -> StoreResult<bool> {
                self.changed(
                    sqlx::query("UPDATE users SET tier = $1, updated_at = $2 WHERE id = $3")
                        .bind(tier)
                        .bind(now)
                        .bind(D::uuid(id)),
                )
                .await
            }

            async fn users_touch_login(&self, logins: &[(Uuid, i64)]) -> StoreResult<()> {
                let mut tx = self.pool.begin().await.map_err(D::query_error)?;
                for (id, at) in logins {
                    sqlx::query(
                        "UPDATE users SET last_login_at = $1 \
                         WHERE id = $2 AND (last_login_at IS NULL OR last_login_at < $1)",
                    )
                    .bind(at)
                    .bind(D::uuid(*id))
                    .execute(&mut *tx)
                    .await
                    .map_err(D::query_error)?;
                }
                tx.commit().await.map_err(D::query_error)
            }

            async fn session_insert(&self, s: &SessionRecord) -> StoreResult<()> {
                self.insert(
                    sqlx::query(
                        "INSERT INTO sessions (id, user_id, kind, created_at, last_seen_at, \
                         expires_at, user_agent, fingerprint, revoked_at, amr, acr, auth_time, \
                         revoked_reason) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    )
                    .bind(D::uuid(s.id))
                    .bind(D::uuid(s.user_id))
                    .bind(s.kind.as_str())
                    .bind(s.created_at)
                    .bind(s.last_seen_at)
                    .bind(s.expires_at)
                    .bind(&s.user_agent)
                    .bind(&s.fingerprint)
                    .bind(s.revoked_at)
                    .bind(D::list(&s.amr))
                    .bind(&s.acr)
                    .bind(s.auth_time)
                    .bind(s.revoked_reason.map(RevocationReason::as_str)),
                    "session id exists",
                )
                .await
            }

            async fn session_get(&self, id: Uuid) -> StoreResult<Option<SessionRecord>> {
                self.one(
                    sqlx::query("SELECT * FROM sessions WHERE id = $1").bind(D::uuid(id)),
                    row_to_session,
                )
                .await
            }

            async fn sessions_for_user(
                &self,
                user_id: Uuid,
                include_revoked: bool,
            ) -> StoreResult<Vec<SessionRecord>> {
                self.all(
                    sqlx::query(
                        "SELECT * FROM sessions WHERE user_id = $1 AND ($2 OR revoked_at IS NULL) \
                         ORDER BY created_at DESC, id DESC",
                    )
                    .bind(D::uuid(user_id))
                    .bind(include_revoked),
                    row_to_session,
                )
                .await
            }

            async fn session_touch(&self, id: Uuid, now: i64) -> StoreResult<()> {
                self.changed(
                    sqlx::query(
                        "UPDATE sessions SET last_seen_at = \
                         CASE WHEN $1 > last_seen_at THEN $1 ELSE last_seen_at END WHERE id = $2",
                    )
                    .bind(now)
                    .bind(D::uuid(id)),
                )
                .await
                .map(|_| ())
            }

            async fn session_revoke(
                &self,
                id: Uuid,
                now: i64,
                reason: RevocationReason,
            ) -> StoreResult<bool> {
                self.changed(
                    sqlx::query(
                        "UPDATE sessions SET revoked_at = $1, revoked_reason = $3 \
                         WHERE id = $2 AND revoked_at IS NULL",
                    )
                    .bind(now)
                    .bind(D::uuid(id))
                    .bind(reason.as_str()),
                )
                .await
            }

            async fn sessions_revoke_for_user(
                &self,
                user_id: Uuid,
                now: i64,
                reason: RevocationReason,
            ) -> StoreResult<Vec<Uuid>> {
                self.all(
                    sqlx::query(
                        "UPDATE sessions SET revoked_at = $1, revoked_reason = $3 \
                         WHERE user_id = $2 AND revoked_at IS NULL RETURNING id",
                    )
                    .bind(now)
                    .bind(D::uuid(user_id))
                    .bind(reason.as_str()),
                    |row| D::get_uuid(row, "id"),
                )
                .await
            }

            async fn refresh_insert(&self, t: &RefreshRecord) -> StoreResult<()> {
                self.insert(insert_refresh(t), "refresh token exists").await
            }

            async fn refresh_get(&self, hash: &TokenHash) -> StoreResult<Option<RefreshRecord>> {
                self.one(
                    sqlx::query("SELECT * FROM refresh_tokens WHERE hash = $1").bind(&hash[..]),
                    row_to_refresh,
                )
                .await
            }

            async fn refresh_rotate(
                &self,
                hash: &TokenHash,
                now: i64,
                successor: &RefreshRecord,
            ) -> StoreResult<RotateOutcome> {
                let mut tx = self.pool.begin().await.map_err(D::query_error)?;
                let won = sqlx::query(
                    "UPDATE refresh_tokens SET rotated_at = $1 \
                     WHERE hash = $2 AND rotated_at IS NULL",
                )
                .bind(now)
                .bind(&hash[..])
                .execute(&mut *tx)
                .await
                .map_err(D::query_error)?
                .rows_affected()
                    == 1;
                if won {
                    insert_refresh(successor)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| conflict_or::<D>(e, "refresh token exists"))?;
                    tx.commit().await.map_err(D::query_error)?;
                    return Ok(RotateOutcome::Rotated);
                }
                let row = sqlx::query("SELECT * FROM refresh_tokens WHERE hash = $1")
                    .bind(&hash[..])
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(D::query_error)?;
                tx.rollback().await.map_err(D::query_error)?;
                Ok(match row.as_ref().map(row_to_refresh).transpose()? {
                    Some(RefreshRecord {
                        rotated_at: Some(rotated_at),
                        session_id,
                        ..
                    }) => RotateOutcome::AlreadyRotated {
                        rotated_at,
                        session_id,
                    },
                    _ => RotateOutcome::Unknown,
                })
            }

            async fn api_key_insert(&self, k: &ApiKeyRecord) -> StoreResult<()> {
                self.insert(
                    sqlx::query(
                        "INSERT INTO api_keys (id, hash, prefix, name, owner_id, roles, scopes, \
                         created_at, expires_at, last_used_at, revoked_at, revoked_reason) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    )
                    .bind(D::uuid(k.id))
                    .bind(&k.hash[..])
                    .bind(&k.prefix)
                    .bind(&k.name)
                    .bind(D::uuid(k.owner_id))
                    .bind(D::list(&k.roles))
                    .bind(D::list(&k.scopes))
                    .bind(k.created_at)
                    .bind(k.expires_at)
                    .bind(k.last_used_at)
                    .bind(k.revoked_at)
                    .bind(k.revoked_reason.map(RevocationReason::as_str)),
                    "API key already stored",
                )
                .await
            }

            async fn api_key_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<ApiKeyRecord>> {
                self.one(
                    sqlx::query("SELECT * FROM api_keys WHERE hash = $1").bind(&hash[..]),
                    row_to_key,
                )
                .await
            }

            async fn api_key_get(&self, id: Uuid) -> StoreResult<Option<ApiKeyRecord>> {
                self.one(
                    sqlx::query("SELECT * FROM api_keys WHERE id = $1").bind(D::uuid(id)),
                    row_to_key,
                )
                .await
            }

            async fn api_keys_list(&self, owner: Option<Uuid>) -> StoreResult<Vec<ApiKeyRecord>> {
                self.all(
                    sqlx::query(
                        "SELECT * FROM api_keys WHERE ($1 IS NULL OR owner_id = $1) \
                         ORDER BY created_at DESC, id DESC",
                    )
                    .bind(owner.map(D::uuid)),
                    row_to_key,
                )
                .await
            }

            async fn api_key_revoke(
                &self,
                id: Uuid,
                now: i64,
                reason: RevocationReason,
            ) -> StoreResult<bool> {
                self.changed(
                    sqlx::query(
                        "UPDATE api_keys SET revoked_at = $1, revoked_reason = $3 \
                         WHERE id = $2 AND revoked_at IS NULL",
                    )
                    .bind(now)
                    .bind(D::uuid(id))
                    .bind(reason.as_str()),
                )
                .await
            }

            async fn api_key_set_expiry(
                &self,
                id: Uuid,
                expires_at: Option<i64>,
            ) -> StoreResult<bool> {
                self.changed(
                    sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2")
                        .bind(expires_at)
                        .bind(D::uuid(id)),
                )
                .await
            }

            async fn api_keys_touch(&self, used: &[(Uuid, i64)]) -> StoreResult<()> {
                D::api_keys_touch(&self.pool, used).await
            }

            async fn signing_key_insert(&self, k: &SigningKeyRecord) -> StoreResult<()> {
                self.insert(
                    sqlx::query(
                        "INSERT INTO signing_keys (kid, alg, wrapped_private, created_at, \
                         retired_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&k.kid)
                    .bind(&k.alg)
                    .bind(&k.wrapped_private)
                    .bind(k.created_at)
                    .bind(k.retired_at),
                    "signing key id exists",
                )
                .await
            }

            async fn signing_keys_list(&self) -> StoreResult<Vec<SigningKeyRecord>> {
                self.all(
                    sqlx::query("SELECT * FROM signing_keys ORDER BY created_at, kid"),
                    row_to_signing,
                )
                .await
            }

            async fn signing_key_retire(&self, kid: &str, now: i64) -> StoreResult<bool> {
                self.changed(
                    sqlx::query(
                        "UPDATE signing_keys SET retired_at = $1 \
                         WHERE kid = $2 AND retired_at IS NULL",
                    )
                    .bind(now)
                    .bind(kid),
                )
                .await
            }
        }

        #[async_trait]
        impl TenantStore for $store {
            async fn tenant_insert(&self, t: &TenantRecord) -> StoreResult<()> {
                self.insert(
                    sqlx::query(
                        "INSERT INTO tenants (id, name, parent_id, created_at) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&t.id)
                    .bind(&t.name)
                    .bind(&t.parent_id)
                    .bind(t.created_at),
                    "tenant id exists",
                )
                .await
            }

            async fn tenant_get(&self, id: &str) -> StoreResult<Option<TenantRecord>> {
                self.one(
                    sqlx::query("SELECT * FROM tenants WHERE id = $1").bind(id),
                    row_to_tenant,
                )
                .await
            }

            async fn tenants_list(&self) -> StoreResult<Vec<TenantRecord>> {
                self.all(
                    sqlx::query("SELECT * FROM tenants ORDER BY id"),
                    row_to_tenant,
                )
                .await
            }

            async fn tenant_delete(&self, id: &str) -> StoreResult<bool> {
                let mut tx = self.pool.begin().await.map_err(D::query_error)?;
                for statement in [
                    "DELETE FROM memberships WHERE tenant_id = $1",
                    "DELETE FROM resource_grants WHERE tenant_id = $1",
                    "UPDATE tenants SET parent_id = NULL WHERE parent_id = $1",
                ] {
                    sqlx::query(statement)
                        .bind(id)
                        .execute(&mut *tx)
                        .await
                        .map_err(D::query_error)?;
                }
                let gone = sqlx::query("DELETE FROM tenants WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(D::query_error)?
                    .rows_affected()
                    > 0;
                tx.commit().await.map_err(D::query_error)?;
                Ok(gone)
            }

            async fn member_put(&self, m: &MembershipRecord) -> StoreResult<()> {
                self.changed(
                    sqlx::query(
                        "INSERT INTO memberships (tenant_id, user_id, role, created_at) \
                         VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = excluded.role",
                    )
                    .bind(&m.tenant_id)
                    .bind(D::uuid(m.user_id))
                    .bind(&m.role)
                    .bind(m.created_at),
                )
                .await
                .map(|_| ())
            }

            async fn member_remove(&self, tenant_id: &str, user_id: Uuid) -> StoreResult<bool> {
                self.changed(
                    sqlx::query("DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2")
                        .bind(tenant_id)
                        .bind(D::uuid(user_id)),
                )
                .await
            }

            async fn memberships_list(&self) -> StoreResult<Vec<MembershipRecord>> {
                self.all(
                    sqlx::query("SELECT * FROM memberships ORDER BY tenant_id, user_id"),
                    row_to_member,
                )
                .await
            }

            async fn resource_grant_put(&self, g: &ResourceGrantRecord) -> StoreResult<()> {
                self.changed(
                    sqlx::query(
                        "INSERT INTO resource_grants (tenant_id, user_id, grants, created_at) \
                         VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (tenant_id, user_id) DO UPDATE SET grants = excluded.grants",
                    )
                    .bind(&g.tenant_id)
                    .bind(D::uuid(g.user_id))
                    .bind(D::list(&g.grants))
                    .bind(g.created_at),
                )
                .await
                .map(|_| ())
            }

            async fn resource_grant_remove(
                &self,
                tenant_id: &str,
                user_id: Uuid,
            ) -> StoreResult<bool> {
                self.changed(
                    sqlx::query(
                        "DELETE FROM resource_grants WHERE tenant_id = $1 AND user_id = $2",
                    )
                    .bind(tenant_id)
                    .bind(D::uuid(user_id)),
                )
                .await
            }

            async fn resource_grants_list(&self) -> StoreResult<Vec<ResourceGrantRecord>> {
                self.all(
                    sqlx::query("SELECT * FROM resource_grants ORDER BY tenant_id, user_id"),
                    row_to_grant,
                )
                .await
            }
        }
    };
}

for_each_backend!(sql_identity);

/// A `LIKE … ESCAPE '\'` pattern matching values that contain `needle` (lower-cased), its
/// wildcards taken literally.
fn like_contains(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
