//! Identity records in SQLite. Every value is bound, never spliced into SQL; a UNIQUE violation
//! becomes [`StoreError::Conflict`]; refresh-token rotation is one conditional UPDATE, so two
//! concurrent rotations of the same token cannot both win.

use super::{SqliteStore, query_error};
use crate::field_crypto::{StoredUser, reveal_all, seal_email};
use crate::identity::{
    ApiKeyRecord, IdentityStore, MembershipRecord, PrincipalKind, RefreshRecord,
    ResourceGrantRecord, RotateOutcome, SessionKind, SessionRecord, SigningKeyRecord, TenantRecord,
    TenantStore, TokenHash, UserRecord,
};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

fn conflict_or(e: sqlx::Error, what: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(what.to_string())
        }
        _ => query_error(e),
    }
}

fn uuid(row: &SqliteRow, col: &str) -> StoreResult<Uuid> {
    let text: String = row.try_get(col).map_err(query_error)?;
    text.parse()
        .map_err(|_| StoreError::Query(format!("{col} is not a UUID")))
}

fn list(row: &SqliteRow, col: &str) -> StoreResult<Vec<String>> {
    let text: String = row.try_get(col).map_err(query_error)?;
    serde_json::from_str(&text).map_err(|_| StoreError::Query(format!("{col} is not a JSON list")))
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("strings serialize")
}

fn hash(row: &SqliteRow, col: &str) -> StoreResult<TokenHash> {
    let bytes: Vec<u8> = row.try_get(col).map_err(query_error)?;
    bytes
        .try_into()
        .map_err(|_| StoreError::Query(format!("{col} is not 32 bytes")))
}

fn get<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
    row: &'r SqliteRow,
    col: &str,
) -> StoreResult<T> {
    row.try_get(col).map_err(query_error)
}

fn row_to_user(row: &SqliteRow) -> StoreResult<StoredUser> {
    let user = UserRecord {
        id: uuid(row, "id")?,
        email: String::new(),
        name: get(row, "name")?,
        password_hash: get(row, "password_hash")?,
        roles: list(row, "roles")?,
        tier: get(row, "tier")?,
        kind: PrincipalKind::parse(&get::<String>(row, "kind")?)
            .ok_or_else(|| StoreError::Query("unknown principal kind".into()))?,
        disabled: get::<i64>(row, "disabled")? != 0,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    };
    Ok(StoredUser {
        user,
        plain: get(row, "email")?,
        enc: get(row, "email_enc")?,
    })
}

fn row_to_session(row: &SqliteRow) -> StoreResult<SessionRecord> {
    let kind: String = get(row, "kind")?;
    Ok(SessionRecord {
        id: uuid(row, "id")?,
        user_id: uuid(row, "user_id")?,
        kind: SessionKind::parse(&kind)
            .ok_or_else(|| StoreError::Query("unknown session kind".into()))?,
        created_at: get(row, "created_at")?,
        last_seen_at: get(row, "last_seen_at")?,
        expires_at: get(row, "expires_at")?,
        user_agent: get(row, "user_agent")?,
        fingerprint: get(row, "fingerprint")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

fn row_to_refresh(row: &SqliteRow) -> StoreResult<RefreshRecord> {
    Ok(RefreshRecord {
        hash: hash(row, "hash")?,
        session_id: uuid(row, "session_id")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        rotated_at: get(row, "rotated_at")?,
    })
}

fn row_to_key(row: &SqliteRow) -> StoreResult<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: uuid(row, "id")?,
        hash: hash(row, "hash")?,
        prefix: get(row, "prefix")?,
        name: get(row, "name")?,
        owner_id: uuid(row, "owner_id")?,
        roles: list(row, "roles")?,
        scopes: list(row, "scopes")?,
        created_at: get(row, "created_at")?,
        expires_at: get(row, "expires_at")?,
        last_used_at: get(row, "last_used_at")?,
        revoked_at: get(row, "revoked_at")?,
    })
}

fn row_to_signing(row: &SqliteRow) -> StoreResult<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: get(row, "kid")?,
        alg: get(row, "alg")?,
        wrapped_private: get(row, "wrapped_private")?,
        created_at: get(row, "created_at")?,
        retired_at: get(row, "retired_at")?,
    })
}

impl SqliteStore {
    async fn one<T>(
        &self,
        query: sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
        map: fn(&SqliteRow) -> StoreResult<T>,
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
        query: sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
        map: fn(&SqliteRow) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        query
            .fetch_all(&self.pool)
            .await
            .map_err(query_error)?
            .iter()
            .map(map)
            .collect()
    }

    async fn changed(
        &self,
        query: sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> StoreResult<bool> {
        Ok(query
            .execute(&self.pool)
            .await
            .map_err(query_error)?
            .rows_affected()
            > 0)
    }
}

#[async_trait]
impl IdentityStore for SqliteStore {
    async fn user_insert(&self, u: &UserRecord) -> StoreResult<()> {
        let crypto = self.crypto.get();
        let email = seal_email(crypto.as_deref(), u.id, &u.email)?;
        sqlx::query(
            "INSERT INTO users (id, email, email_index, email_enc, name, password_hash, roles, tier, kind, disabled, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(u.id.to_string())
        .bind(email.plain)
        .bind(email.index)
        .bind(email.enc)
        .bind(&u.name)
        .bind(&u.password_hash)
        .bind(json_list(&u.roles))
        .bind(&u.tier)
        .bind(u.kind.as_str())
        .bind(u.disabled as i64)
        .bind(u.created_at)
        .bind(u.updated_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| conflict_or(e, "e-mail already registered"))
    }

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<UserRecord>> {
        let crypto = self.crypto.get();
        match self
            .one(
                sqlx::query("SELECT * FROM users WHERE id = ?").bind(id.to_string()),
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
            Some(c) => sqlx::query("SELECT * FROM users WHERE email_index = ?")
                .bind(c.index(crate::field_crypto::EMAIL_INDEX_DOMAIN, email)?),
            None => sqlx::query("SELECT * FROM users WHERE email = ?").bind(email.to_string()),
        };
        match self.one(query, row_to_user).await? {
            Some(row) => Ok(Some(row.reveal(crypto.as_deref()).await?)),
            None => Ok(None),
        }
    }

    async fn users_list(&self, after: Option<Uuid>, limit: u32) -> StoreResult<Vec<UserRecord>> {
        let rows = self
            .all(
                sqlx::query("SELECT * FROM users WHERE id > ? ORDER BY id LIMIT ?")
                    .bind(after.map(|a| a.to_string()).unwrap_or_default())
                    .bind(limit as i64),
                row_to_user,
            )
            .await?;
        reveal_all(rows, self.crypto.get().as_deref()).await
    }

    async fn user_set_password_hash(&self, id: Uuid, hash: &str, now: i64) -> StoreResult<bool> {
        self.changed(
            sqlx::query("UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?")
                .bind(hash)
                .bind(now)
                .bind(id.to_string()),
        )
        .await
    }

    async fn user_set_disabled(&self, id: Uuid, disabled: bool, now: i64) -> StoreResult<bool> {
        self.changed(
            sqlx::query("UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?")
                .bind(disabled as i64)
                .bind(now)
                .bind(id.to_string()),
        )
        .await
    }

    async fn user_set_roles(&self, id: Uuid, roles: &[String], now: i64) -> StoreResult<bool> {
        self.changed(
            sqlx::query("UPDATE users SET roles = ?, updated_at = ? WHERE id = ?")
                .bind(json_list(roles))
                .bind(now)
                .bind(id.to_string()),
        )
        .await
    }

    async fn user_set_tier(&self, id: Uuid, tier: &str, now: i64) -> StoreResult<bool> {
        self.changed(
            sqlx::query("UPDATE users SET tier = ?, updated_at = ? WHERE id = ?")
                .bind(tier.to_string())
                .bind(now)
                .bind(id.to_string()),
        )
        .await
    }

    async fn session_insert(&self, s: &SessionRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, kind, created_at, last_seen_at, expires_at, user_agent, fingerprint, revoked_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(s.id.to_string())
        .bind(s.user_id.to_string())
        .bind(s.kind.as_str())
        .bind(s.created_at)
        .bind(s.last_seen_at)
        .bind(s.expires_at)
        .bind(&s.user_agent)
        .bind(&s.fingerprint)
        .bind(s.revoked_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| conflict_or(e, "session id exists"))
    }

    async fn session_get(&self, id: Uuid) -> StoreResult<Option<SessionRecord>> {
        self.one(
            sqlx::query("SELECT * FROM sessions WHERE id = ?").bind(id.to_string()),
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
                "SELECT * FROM sessions WHERE user_id = ? AND (? OR revoked_at IS NULL) \
                 ORDER BY created_at DESC, id DESC",
            )
            .bind(user_id.to_string())
            .bind(include_revoked),
            row_to_session,
        )
        .await
    }

    async fn session_touch(&self, id: Uuid, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ?")
            .bind(now)
            .bind(id.to_string())
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(query_error)
    }

    async fn session_revoke(&self, id: Uuid, now: i64) -> StoreResult<bool> {
        self.changed(
            sqlx::query("UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(now)
                .bind(id.to_string()),
        )
        .await
    }

    async fn sessions_revoke_for_user(&self, user_id: Uuid, now: i64) -> StoreResult<Vec<Uuid>> {
        let rows = sqlx::query(
            "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL RETURNING id",
        )
        .bind(now)
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(query_error)?;
        rows.iter().map(|r| uuid(r, "id")).collect()
    }

    async fn refresh_insert(&self, t: &RefreshRecord) -> StoreResult<()> {
        insert_refresh(&self.pool, t).await
    }

    async fn refresh_get(&self, hash: &TokenHash) -> StoreResult<Option<RefreshRecord>> {
        self.one(
            sqlx::query("SELECT * FROM refresh_tokens WHERE hash = ?").bind(hash.to_vec()),
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
        let won = sqlx::query(
            "UPDATE refresh_tokens SET rotated_at = ? WHERE hash = ? AND rotated_at IS NULL",
        )
        .bind(now)
        .bind(hash.to_vec())
        .execute(&mut *tx)
        .await
        .map_err(query_error)?
        .rows_affected()
            == 1;
        if won {
            insert_refresh(&mut *tx, successor).await?;
            tx.commit().await.map_err(query_error)?;
            return Ok(RotateOutcome::Rotated);
        }
        let row = sqlx::query("SELECT * FROM refresh_tokens WHERE hash = ?")
            .bind(hash.to_vec())
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
        sqlx::query(
            "INSERT INTO api_keys (id, hash, prefix, name, owner_id, roles, scopes, created_at, expires_at, last_used_at, revoked_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(k.id.to_string())
        .bind(k.hash.to_vec())
        .bind(&k.prefix)
        .bind(&k.name)
        .bind(k.owner_id.to_string())
        .bind(json_list(&k.roles))
        .bind(json_list(&k.scopes))
        .bind(k.created_at)
        .bind(k.expires_at)
        .bind(k.last_used_at)
        .bind(k.revoked_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| conflict_or(e, "API key already stored"))
    }

    async fn api_key_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<ApiKeyRecord>> {
        self.one(
            sqlx::query("SELECT * FROM api_keys WHERE hash = ?").bind(hash.to_vec()),
            row_to_key,
        )
        .await
    }

    async fn api_key_get(&self, id: Uuid) -> StoreResult<Option<ApiKeyRecord>> {
        self.one(
            sqlx::query("SELECT * FROM api_keys WHERE id = ?").bind(id.to_string()),
            row_to_key,
        )
        .await
    }

    async fn api_keys_list(&self, owner: Option<Uuid>) -> StoreResult<Vec<ApiKeyRecord>> {
        self.all(
            sqlx::query(
                "SELECT * FROM api_keys WHERE (? IS NULL OR owner_id = ?) \
                 ORDER BY created_at DESC, id DESC",
            )
            .bind(owner.map(|o| o.to_string()))
            .bind(owner.map(|o| o.to_string())),
            row_to_key,
        )
        .await
    }

    async fn api_key_revoke(&self, id: Uuid, now: i64) -> StoreResult<bool> {
        self.changed(
            sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(now)
                .bind(id.to_string()),
        )
        .await
    }

    async fn api_key_set_expiry(&self, id: Uuid, expires_at: Option<i64>) -> StoreResult<bool> {
        self.changed(
            sqlx::query("UPDATE api_keys SET expires_at = ? WHERE id = ?")
                .bind(expires_at)
                .bind(id.to_string()),
        )
        .await
    }

    async fn api_keys_touch(&self, used: &[(Uuid, i64)]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        for (id, at) in used {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?",
            )
            .bind(at)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(query_error)?;
        }
        tx.commit().await.map_err(query_error)
    }

    async fn signing_key_insert(&self, k: &SigningKeyRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, wrapped_private, created_at, retired_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&k.kid)
        .bind(&k.alg)
        .bind(&k.wrapped_private)
        .bind(k.created_at)
        .bind(k.retired_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| conflict_or(e, "signing key id exists"))
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
                "UPDATE signing_keys SET retired_at = ? WHERE kid = ? AND retired_at IS NULL",
            )
            .bind(now)
            .bind(kid),
        )
        .await
    }
}

async fn insert_refresh<'e>(
    exec: impl sqlx::Executor<'e, Database = sqlx::Sqlite>,
    t: &RefreshRecord,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO refresh_tokens (hash, session_id, created_at, expires_at, rotated_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(t.hash.to_vec())
    .bind(t.session_id.to_string())
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(t.rotated_at)
    .execute(exec)
    .await
    .map(|_| ())
    .map_err(|e| conflict_or(e, "refresh token exists"))
}

fn row_to_tenant(row: &SqliteRow) -> StoreResult<TenantRecord> {
    Ok(TenantRecord {
        id: get(row, "id")?,
        name: get(row, "name")?,
        parent_id: get(row, "parent_id")?,
        created_at: get(row, "created_at")?,
    })
}

fn row_to_member(row: &SqliteRow) -> StoreResult<MembershipRecord> {
    Ok(MembershipRecord {
        tenant_id: get(row, "tenant_id")?,
        user_id: uuid(row, "user_id")?,
        role: get(row, "role")?,
        created_at: get(row, "created_at")?,
    })
}

#[async_trait]
impl TenantStore for SqliteStore {
    async fn tenant_insert(&self, t: &TenantRecord) -> StoreResult<()> {
        sqlx::query("INSERT INTO tenants (id, name, parent_id, created_at) VALUES (?, ?, ?, ?)")
            .bind(&t.id)
            .bind(&t.name)
            .bind(&t.parent_id)
            .bind(t.created_at)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| conflict_or(e, "tenant id exists"))
    }

    async fn tenant_get(&self, id: &str) -> StoreResult<Option<TenantRecord>> {
        self.one(
            sqlx::query("SELECT * FROM tenants WHERE id = ?").bind(id.to_string()),
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
        for delete in [
            "DELETE FROM memberships WHERE tenant_id = ?",
            "DELETE FROM resource_grants WHERE tenant_id = ?",
        ] {
            sqlx::query(delete)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(query_error)?;
        }
        sqlx::query("UPDATE tenants SET parent_id = NULL WHERE parent_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(query_error)?;
        let gone = sqlx::query("DELETE FROM tenants WHERE id = ?")
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
        sqlx::query(
            "INSERT INTO memberships (tenant_id, user_id, role, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT(tenant_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(&m.tenant_id)
        .bind(m.user_id.to_string())
        .bind(&m.role)
        .bind(m.created_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(query_error)
    }

    async fn member_remove(&self, tenant_id: &str, user_id: Uuid) -> StoreResult<bool> {
        self.changed(
            sqlx::query("DELETE FROM memberships WHERE tenant_id = ? AND user_id = ?")
                .bind(tenant_id.to_string())
                .bind(user_id.to_string()),
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
        sqlx::query(
            "INSERT INTO resource_grants (tenant_id, user_id, grants, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT(tenant_id, user_id) DO UPDATE SET grants = excluded.grants",
        )
        .bind(&g.tenant_id)
        .bind(g.user_id.to_string())
        .bind(json_list(&g.grants))
        .bind(g.created_at)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(query_error)
    }

    async fn resource_grant_remove(&self, tenant_id: &str, user_id: Uuid) -> StoreResult<bool> {
        self.changed(
            sqlx::query("DELETE FROM resource_grants WHERE tenant_id = ? AND user_id = ?")
                .bind(tenant_id.to_string())
                .bind(user_id.to_string()),
        )
        .await
    }

    async fn resource_grants_list(&self) -> StoreResult<Vec<ResourceGrantRecord>> {
        self.all(
            sqlx::query("SELECT * FROM resource_grants ORDER BY tenant_id, user_id"),
            |row| {
                Ok(ResourceGrantRecord {
                    tenant_id: get(row, "tenant_id")?,
                    user_id: uuid(row, "user_id")?,
                    grants: list(row, "grants")?,
                    created_at: get(row, "created_at")?,
                })
            },
        )
        .await
    }
}
