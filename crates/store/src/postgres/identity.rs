//! Identity and tenant records in PostgreSQL. Every value is bound, never spliced into SQL; a
//! UNIQUE violation becomes [`StoreError::Conflict`]; refresh-token rotation is one conditional
//! `UPDATE … WHERE rotated_at IS NULL RETURNING`, so of two concurrent rotations of one token the
//! second waits for the first's row lock, re-reads the row, and cannot also win.

use super::{PostgresStore, conflict_or, hash32, query_error};
use crate::field_crypto::{StoredUser, reveal_all, seal_email};
use crate::identity::{
    ApiKeyRecord, IdentityStore, MembershipRecord, PrincipalKind, RefreshRecord,
    ResourceGrantRecord, RotateOutcome, SessionKind, SessionRecord, SigningKeyRecord, TenantRecord,
    TenantStore, TokenHash, UserRecord,
};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use uuid::Uuid;

type PgQuery<'q> = Query<'q, sqlx::Postgres, PgArguments>;

fn get<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
    row: &'r PgRow,
    col: &str,
) -> StoreResult<T> {
    row.try_get(col).map_err(query_error)
}

fn row_to_user(row: &PgRow) -> StoreResult<StoredUser> {
    let user = UserRecord {
        id: get(row, "id")?,
        email: String::new(),
        name: get(row, "name")?,
        password_hash: get(row, "password_hash")?,
        roles: get(row, "roles")?,
        tier: get(row, "tier")?,
        kind: PrincipalKind::parse(&get::<String>(row, "kind")?)
            .ok_or_else(|| StoreError::Query("unknown principal kind".into()))?,
        disabled: get(row, "disabled")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    };
    Ok(StoredUser {
        user,
        plain: get(row, "email")?,
        enc: get(row, "email_enc")?,
    })
}

fn row_to_session(row: &PgRow) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        id: get(row, "id")?,
        user_id: get(row, "user_id")?,
        kind: SessionKind::parse(&get::<String>(row, "kind")?)
            .ok_or_else(|| StoreError::Query("unknown session kind".into()))?,
        created_at: get(row, "created_at")?,
        last_seen_at: get(row, "last_seen_at")?,
        expires_at: get(row, "expires_at")?,
        user_agent: get(row, "user_agent")?,
        fingerprint: get(row, "fingerprint")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

fn row_to_refresh(row: &PgRow) -> StoreResult<RefreshRecord> {
    Ok(RefreshRecord {
        hash: hash32(row, "hash")?,
        session_id: get(row, "session_id")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        rotated_at: get(row, "rotated_at")?,
    })
}

fn row_to_key(row: &PgRow) -> StoreResult<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: get(row, "id")?,
        hash: hash32(row, "hash")?,
        prefix: get(row, "prefix")?,
        name: get(row, "name")?,
        owner_id: get(row, "owner_id")?,
        roles: get(row, "roles")?,
        scopes: get(row, "scopes")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        last_used_at: get(row, "last_used_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

fn row_to_signing(row: &PgRow) -> StoreResult<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: get(row, "kid")?,
        alg: get(row, "alg")?,
        wrapped_private: get(row, "wrapped_private")?,
        created_at: get(row, "created_at")?,
        retired_at: get(row, "retired_at")?,
    })
}

fn row_to_tenant(row: &PgRow) -> StoreResult<TenantRecord> {
    Ok(TenantRecord {
        id: get(row, "id")?,
        name: get(row, "name")?,
        parent_id: get(row, "parent_id")?,
        created_at: get(row, "created_at")?,
    })
}

fn row_to_member(row: &PgRow) -> StoreResult<MembershipRecord> {
    Ok(MembershipRecord {
        tenant_id: get(row, "tenant_id")?,
        user_id: get(row, "user_id")?,
        role: get(row, "role")?,
        created_at: get(row, "created_at")?,
    })
}

fn row_to_grant(row: &PgRow) -> StoreResult<ResourceGrantRecord> {
    Ok(ResourceGrantRecord {
        tenant_id: get(row, "tenant_id")?,
        user_id: get(row, "user_id")?,
        grants: get(row, "grants")?,
        created_at: get(row, "created_at")?,
    })
}

impl PostgresStore {
    async fn one<T>(
        &self,
        query: PgQuery<'_>,
        map: fn(&PgRow) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        query
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error)?
            .as_ref()
            .map(map)
            .transpose()
    }

    async fn all<T>(
        &self,
        query: PgQuery<'_>,
        map: fn(&PgRow) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        query
            .fetch_all(&self.pool)
            .await
            .map_err(query_error)?
            .iter()
            .map(map)
            .collect()
    }

    /// Runs `query`; true when it changed a row.
    async fn changed(&self, query: PgQuery<'_>) -> StoreResult<bool> {
        Ok(query
            .execute(&self.pool)
            .await
            .map_err(query_error)?
            .rows_affected()
            > 0)
    }

    /// Runs an INSERT; a UNIQUE violation is a conflict saying `what`.
    async fn insert(&self, query: PgQuery<'_>, what: &str) -> StoreResult<()> {
        query
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| conflict_or(e, what))
    }
}

fn insert_refresh(t: &RefreshRecord) -> PgQuery<'_> {
    sqlx::query(
        "INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at, rotated_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&t.hash[..])
    .bind(t.session_id)
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(t.rotated_at)
}

#[async_trait]
impl IdentityStore for PostgresStore {
    async fn user_insert(&self, u: &UserRecord) -> StoreResult<()> {
        let crypto = self.crypto.get();
        let email = seal_email(crypto.as_deref(), u.id, &u.email)?;
        self.insert(
            sqlx::query(
                "INSERT INTO users (id, email, email_index, email_enc, name, password_hash, roles, \
                 tier, kind, disabled, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(u.id)
            .bind(email.plain)
            .bind(email.index)
            .bind(email.enc)
            .bind(&u.name)
            .bind(&u.password_hash)
            .bind(&u.roles)
            .bind(&u.tier)
            .bind(u.kind.as_str())
            .bind(u.disabled)
            .bind(u.created_at)
            .bind(u.updated_at),
            "e-mail already registered",
        )
        .await
    }

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        let crypto = self.crypto.get();
        match self
            .one(
                sqlx::query("SELECT * FROM users WHERE id = $1").bind(id),
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
                .bind(c.index(crate::field_crypto::EMAIL_INDEX_DOMAIN, email)?),
            None => sqlx::query("SELECT * FROM users WHERE email = $1").bind(email.to_string()),
        };
        match self.one(query, row_to_user).await? {
            Some(row) => Ok(Some(row.reveal(crypto.as_deref()).await?)),
            None => Ok(None),
        }
    }

    async fn users_list(&self, after: Option<Uuid>, limit: u32) -> StoreResult<Vec<UserRecord>> {
        let rows = self
            .all(
                sqlx::query(
                    "SELECT * FROM users WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
                )
                .bind(after)
                .bind(i64::from(limit)),
                row_to_user,
            )
            .await?;
        reveal_all(rows, self.crypto.get().as_deref()).await
    }

    async fn user_set_password_hash(&self, id: Uuid, hash: &str, now: i64) -> StoreResult<bool> {
        self.changed(
            sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
                .bind(hash)
                .bind(now)
                .bind(id),
        )
        .await
    }

    async fn user_set_disabled(&self, id: Uuid, disabled: bool, now: i64) -> StoreResult<bool> {
        self.changed(
            sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
                .bind(disabled)
                .bind(now)
                .bind(id),
        )
        .await
    }

    async fn user_set_roles(&self, id: Uuid, roles: &[String], now: i64) -> StoreResult<bool> {
        self.changed(
            sqlx::query("UPDATE users SET roles = $1, updated_at = $2 WHERE id = $3")
                .bind(roles)
                .bind(now)
                .bind(id),
        )
        .await
    }

    async fn user_set_tier(&self, id: Uuid, tier: &str, now: i64) -> StoreResult<bool> {
        self.changed(
            sqlx::query("UPDATE users SET tier = $1, updated_at = $2 WHERE id = $3")
                .bind(tier)
                .bind(now)
                .bind(id),
        )
        .await
    }

    async fn session_insert(&self, s: &SessionRecord) -> StoreResult<()> {
        self.insert(
            sqlx::query(
                "INSERT INTO sessions (id, user_id, kind, created_at, last_seen_at, expires_at, \
                 user_agent, fingerprint, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(s.id)
            .bind(s.user_id)
            .bind(s.kind.as_str())
            .bind(s.created_at)
            .bind(s.last_seen_at)
            .bind(s.expires_at)
            .bind(&s.user_agent)
            .bind(&s.fingerprint)
            .bind(s.revoked_at),
            "session id exists",
        )
        .await
    }

    async fn session_get(&self, id: Uuid) -> StoreResult<Option<SessionRecord>> {
        self.one(
            sqlx::query("SELECT * FROM sessions WHERE id = $1").bind(id),
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
            .bind(user_id)
            .bind(include_revoked),
            row_to_session,
        )
        .await
    }

    async fn session_touch(&self, id: Uuid, now: i64) -> StoreResult<()> {
        self.changed(
            sqlx::query(
                "UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $1) WHERE id = $2",
            )
            .bind(now)
            .bind(id),
        )
        .await
        .map(|_| ())
    }

    async fn session_revoke(&self, id: Uuid, now: i64) -> StoreResult<bool> {
        self.changed(
            sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id),
        )
        .await
    }

    async fn sessions_revoke_for_user(&self, user_id: Uuid, now: i64) -> StoreResult<Vec<Uuid>> {
        sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL \
             RETURNING id",
        )
        .bind(now)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(query_error)
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
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        let won: Option<Uuid> = sqlx::query_scalar(
            "UPDATE refresh_tokens SET rotated_at = $1 WHERE hash = $2 AND rotated_at IS NULL \
             RETURNING session_id",
        )
        .bind(now)
        .bind(&hash[..])
        .fetch_optional(&mut *tx)
        .await
        .map_err(query_error)?;
        if won.is_some() {
            insert_refresh(successor)
                .execute(&mut *tx)
                .await
                .map_err(|e| conflict_or(e, "refresh token exists"))?;
            tx.commit().await.map_err(query_error)?;
            return Ok(RotateOutcome::Rotated);
        }
        let row = sqlx::query("SELECT * FROM refresh_tokens WHERE hash = $1")
            .bind(&hash[..])
            .fetch_optional(&mut *tx)
            .await
            .map_err(query_error)?;
        tx.rollback().await.map_err(query_error)?;
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
                "INSERT INTO api_keys (id, hash, prefix, name, owner_id, roles, scopes, created_at, \
                 expires_at, last_used_at, revoked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(k.id)
            .bind(&k.hash[..])
            .bind(&k.prefix)
            .bind(&k.name)
            .bind(k.owner_id)
            .bind(&k.roles)
            .bind(&k.scopes)
            .bind(k.created_at)
            .bind(k.expires_at)
            .bind(k.last_used_at)
            .bind(k.revoked_at),
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
            sqlx::query("SELECT * FROM api_keys WHERE id = $1").bind(id),
            row_to_key,
        )
        .await
    }

    async fn api_keys_list(&self, owner: Option<Uuid>) -> StoreResult<Vec<ApiKeyRecord>> {
        self.all(
            sqlx::query(
                "SELECT * FROM api_keys WHERE ($1::uuid IS NULL OR owner_id = $1) \
                 ORDER BY created_at DESC, id DESC",
            )
            .bind(owner),
            row_to_key,
        )
        .await
    }

    async fn api_key_revoke(&self, id: Uuid, now: i64) -> StoreResult<bool> {
        self.changed(
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id),
        )
        .await
    }

    async fn api_key_set_expiry(&self, id: Uuid, expires_at: Option<i64>) -> StoreResult<bool> {
        self.changed(
            sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2")
                .bind(expires_at)
                .bind(id),
        )
        .await
    }

    async fn api_keys_touch(&self, used: &[(Uuid, i64)]) -> StoreResult<()> {
        if used.is_empty() {
            return Ok(());
        }
        let (ids, times): (Vec<Uuid>, Vec<i64>) = used.iter().copied().unzip();
        // One statement for the batch; a key named twice keeps its latest time.
        self.changed(
            sqlx::query(
                "UPDATE api_keys AS k SET last_used_at = GREATEST(COALESCE(k.last_used_at, 0), u.at) \
                 FROM (SELECT id, MAX(at) AS at FROM UNNEST($1::uuid[], $2::bigint[]) AS t(id, at) \
                       GROUP BY id) AS u \
                 WHERE k.id = u.id",
            )
            .bind(ids)
            .bind(times),
        )
        .await
        .map(|_| ())
    }

    async fn signing_key_insert(&self, k: &SigningKeyRecord) -> StoreResult<()> {
        self.insert(
            sqlx::query(
                "INSERT INTO signing_keys (kid, alg, wrapped_private, created_at, retired_at) \
                 VALUES ($1, $2, $3, $4, $5)",
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
                "UPDATE signing_keys SET retired_at = $1 WHERE kid = $2 AND retired_at IS NULL",
            )
            .bind(now)
            .bind(kid),
        )
        .await
    }
}

#[async_trait]
impl TenantStore for PostgresStore {
    async fn tenant_insert(&self, t: &TenantRecord) -> StoreResult<()> {
        self.insert(
            sqlx::query(
                "INSERT INTO tenants (id, name, parent_id, created_at) VALUES ($1, $2, $3, $4)",
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
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        for statement in [
            "DELETE FROM memberships WHERE tenant_id = $1",
            "DELETE FROM resource_grants WHERE tenant_id = $1",
            "UPDATE tenants SET parent_id = NULL WHERE parent_id = $1",
        ] {
            sqlx::query(statement)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(query_error)?;
        }
        let gone = sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(query_error)?
            .rows_affected()
            > 0;
        tx.commit().await.map_err(query_error)?;
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
            .bind(m.user_id)
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
                .bind(user_id),
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
            .bind(g.user_id)
            .bind(&g.grants)
            .bind(g.created_at),
        )
        .await
        .map(|_| ())
    }

    async fn resource_grant_remove(&self, tenant_id: &str, user_id: Uuid) -> StoreResult<bool> {
        self.changed(
            sqlx::query("DELETE FROM resource_grants WHERE tenant_id = $1 AND user_id = $2")
                .bind(tenant_id)
                .bind(user_id),
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
