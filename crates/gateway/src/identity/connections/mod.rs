//! OAuth connections (issue 18 item 6): a user or service account connects a provider of
//! `[[auth.providers]]` (with `connection_scopes`) for the upstream's use; Palisade keeps the
//! tokens and hands out a fresh access token. Each use case here records its event:
//! `connection.created`, `connection.token_read` (every read, credential access),
//! `connection.refreshed`, `connection.revoked`; [`routes`] is the thin HTTP API, and the flow
//! itself (state, PKCE, the binding cookie, the `iss` check, the code exchange) is
//! `identity::federation`'s with a connection intent.
//!
//! Guarantees: tokens are stored only as keyring ciphertexts bound to the connection's id and
//! column (a ciphertext moved to another row or column does not decrypt); a token is read by
//! the connection's owner, or by a service account whose roles grant
//! `connections.<provider>.token.read`, else 404 (an unknown id and another's look the same);
//! an access token within [`REFRESH_MARGIN_MS`] of its expiry is refreshed first, once across
//! replicas: the refresh runs under a lock in hot state (`incr` on a per-connection key, only
//! the first holder refreshes) and is stored by compare-and-set on `updated_at`; a replica that
//! loses answers the still-valid token or 503 `Retry-After: 1`.

#![allow(clippy::result_large_err)]

pub mod routes;

use crate::api::extract::Ctx;
use crate::audit::{AuditEvent, Outcome, Risk};
use crate::state::AppState;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use palisade_core::crypto::FieldContext;
use palisade_core::principal::Principal;
use palisade_store::connections::{ConnectionRecord, ConnectionTokens};
use palisade_store::identity::PrincipalKind;
use serde_json::Value;
use std::time::Duration;
use uuid::Uuid;

/// An access token this close to its expiry is refreshed before it is handed out.
pub const REFRESH_MARGIN_MS: i64 = 60_000;

/// The permission a service account needs to read tokens of `provider`'s connections.
pub fn read_permission(provider: &str) -> String {
    format!("connections.{provider}.token.read")
}

fn access_ctx(id: &str) -> FieldContext<'_> {
    FieldContext::new("connections", "access_token_enc", id)
}

fn refresh_ctx(id: &str) -> FieldContext<'_> {
    FieldContext::new("connections", "refresh_token_enc", id)
}

/// The sealed tokens of a token endpoint's answer for connection `id`, and its scopes.
fn sealed(
    state: &AppState,
    id: Uuid,
    tokens: &Value,
    now_ms: i64,
) -> Option<(ConnectionTokens, Option<String>)> {
    let access = tokens.get("access_token")?.as_str()?;
    let sid = id.to_string();
    let refresh = tokens
        .get("refresh_token")
        .and_then(Value::as_str)
        .map(|r| state.keyring.encrypt(&refresh_ctx(&sid), r.as_bytes()));
    let expires_at = tokens
        .get("expires_in")
        .and_then(Value::as_i64)
        .map(|s| now_ms + s * 1000);
    let scopes = tokens
        .get("scope")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Some((
        ConnectionTokens {
            access_token_enc: state.keyring.encrypt(&access_ctx(&sid), access.as_bytes()),
            refresh_token_enc: refresh,
            expires_at,
        },
        scopes,
    ))
}

fn event(name: &'static str, risk: Risk, actor: String, id: Uuid, provider: &str) -> AuditEvent {
    AuditEvent::new(name, risk, Outcome::Success)
        .actor(actor)
        .resource(format!("connection:{id}"))
        .details(serde_json::json!({ "provider": provider }))
}

/// Stores the tokens of a finished connection flow as `owner`'s connection to `provider`;
/// `connection.created` on record.
pub(crate) async fn create(
    state: &AppState,
    ctx: &Ctx,
    owner: Uuid,
    provider: &str,
    tokens: &Value,
) -> Result<ConnectionRecord, Response> {
    let now = state.identity.now_ms() as i64;
    let id = Uuid::now_v7();
    let Some((sealed, scopes)) = sealed(state, id, tokens, now) else {
        return Err(ctx.problem(
            StatusCode::BAD_GATEWAY,
            "provider-unavailable",
            "The provider answered without an access token.",
        ));
    };
    let record = ConnectionRecord {
        id,
        owner_id: owner,
        provider: provider.to_owned(),
        access_token_enc: sealed.access_token_enc,
        refresh_token_enc: sealed.refresh_token_enc,
        expires_at: sealed.expires_at,
        scopes: scopes.unwrap_or_default(),
        created_at: now,
        updated_at: now,
    };
    state
        .store
        .connection_insert(&record)
        .await
        .map_err(|e| ctx.unavailable(e))?;
    state.identity.audit.record(ctx.audit(event(
        "connection.created",
        Risk::Medium,
        owner.to_string(),
        id,
        provider,
    )));
    Ok(record)
}

/// May `caller` read the tokens of `c`? Its owner, or a service account granted
/// `connections.<provider>.token.read`.
async fn may_read(state: &AppState, caller: &Principal, c: &ConnectionRecord) -> bool {
    let Some(uid) = caller.account else {
        return false;
    };
    if uid == c.owner_id {
        return true;
    }
    if !state.authz.permits(caller, &read_permission(&c.provider)) {
        return false;
    }
    matches!(
        state.store.user_by_id(uid).await,
        Ok(Some(u)) if u.kind == PrincipalKind::Service && !u.disabled
    )
}

fn not_found(ctx: &Ctx) -> Response {
    ctx.problem(StatusCode::NOT_FOUND, "not-found", "No such connection.")
}

/// A fresh access token of connection `id` for `caller`: `{"access_token", "token_type",
/// "expires_at", "scope"}`; refreshed first when near expiry. `connection.token_read` on record.
pub(crate) async fn token(
    state: &AppState,
    ctx: &Ctx,
    caller: &Principal,
    id: Uuid,
) -> Result<Value, Response> {
    let store = &state.store;
    let Some(mut c) = store
        .connection_get(id)
        .await
        .map_err(|e| ctx.unavailable(e))?
    else {
        return Err(not_found(ctx));
    };
    if !may_read(state, caller, &c).await {
        return Err(not_found(ctx));
    }
    let now = state.identity.now_ms() as i64;
    let due = c.expires_at.is_some_and(|e| e - now < REFRESH_MARGIN_MS);
    if due && c.refresh_token_enc.is_some() {
        c = refresh(state, ctx, caller, c, now).await?;
    }
    if c.expires_at.is_some_and(|e| e <= now) {
        return Err(ctx.problem(
            StatusCode::CONFLICT,
            "connection-expired",
            "The connection's access token has expired and cannot be refreshed; connect again.",
        ));
    }
    let sid = c.id.to_string();
    let access = state
        .keyring
        .decrypt(&access_ctx(&sid), &c.access_token_enc)
        .await
        .map_err(|e| ctx.unavailable(e))?;
    let access = String::from_utf8(access.to_vec()).map_err(|e| ctx.unavailable(e))?;
    state.identity.audit.record(ctx.audit(event(
        "connection.token_read",
        Risk::Medium,
        caller.subject.clone(),
        c.id,
        &c.provider,
    )));
    Ok(serde_json::json!({
        "access_token": access, "token_type": "Bearer",
        "expires_at": c.expires_at, "scope": c.scopes,
    }))
}

/// Refreshes `c` once across replicas; the connection as it is afterwards.
async fn refresh(
    state: &AppState,
    ctx: &Ctx,
    caller: &Principal,
    c: ConnectionRecord,
    now: i64,
) -> Result<ConnectionRecord, Response> {
    let lock = format!("connection-refresh:{}", c.id);
    let first = state
        .hot
        .incr(&lock, Duration::from_secs(30))
        .await
        .map_err(|e| ctx.unavailable(e))?
        == 1;
    if !first {
        // Another replica (or request) is refreshing: its result, or the still-valid token.
        let current = state
            .store
            .connection_get(c.id)
            .await
            .map_err(|e| ctx.unavailable(e))?
            .ok_or_else(|| not_found(ctx))?;
        if current.expires_at.is_none_or(|e| e > now) {
            return Ok(current);
        }
        let mut res = ctx.problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "refresh-in-progress",
            "The connection's token is being refreshed; try again in a moment.",
        );
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return Err(res);
    }
    let outcome = refresh_locked(state, ctx, caller, &c, now).await;
    if let Err(e) = state.hot.remove(&lock).await {
        tracing::warn!(error = %e, "connection refresh lock not released (it expires)");
    }
    outcome
}

async fn refresh_locked(
    state: &AppState,
    ctx: &Ctx,
    caller: &Principal,
    c: &ConnectionRecord,
    now: i64,
) -> Result<ConnectionRecord, Response> {
    let sid = c.id.to_string();
    let Some(provider) = state.federation.provider(&c.provider) else {
        return Err(ctx.problem(
            StatusCode::CONFLICT,
            "provider-unknown",
            "The connection's provider is no longer configured.",
        ));
    };
    let refresh_enc = c.refresh_token_enc.as_deref().unwrap_or_default();
    let refresh_token = state
        .keyring
        .decrypt(&refresh_ctx(&sid), refresh_enc)
        .await
        .map_err(|e| ctx.unavailable(e))?;
    let refresh_token =
        String::from_utf8(refresh_token.to_vec()).map_err(|e| ctx.unavailable(e))?;
    let answer = provider.refresh(&refresh_token).await.map_err(|d| {
        let status = if d.provider_failed {
            StatusCode::BAD_GATEWAY
        } else {
            StatusCode::CONFLICT
        };
        ctx.problem(status, d.reason, d.detail)
    })?;
    let Some((tokens, _)) = sealed(state, c.id, &answer, now) else {
        return Err(ctx.problem(
            StatusCode::BAD_GATEWAY,
            "provider-unavailable",
            "The provider's refresh answered without an access token.",
        ));
    };
    let stored = state
        .store
        .connection_update_tokens(c.id, c.updated_at, &tokens, now)
        .await
        .map_err(|e| ctx.unavailable(e))?;
    if stored {
        state.identity.audit.record(ctx.audit(event(
            "connection.refreshed",
            Risk::Low,
            caller.subject.clone(),
            c.id,
            &c.provider,
        )));
    }
    state
        .store
        .connection_get(c.id)
        .await
        .map_err(|e| ctx.unavailable(e))?
        .ok_or_else(|| not_found(ctx))
}

/// Deletes `owner`'s connection `id`; `connection.revoked` on record. 404 when not theirs.
pub(crate) async fn revoke(
    state: &AppState,
    ctx: &Ctx,
    owner: Uuid,
    actor: String,
    id: Uuid,
) -> Response {
    let provider = match state.store.connection_get(id).await {
        Ok(Some(c)) if c.owner_id == owner => c.provider,
        Ok(_) => return not_found(ctx),
        Err(e) => return ctx.unavailable(e),
    };
    match state.store.connection_delete(owner, id).await {
        Ok(true) => {
            state.identity.audit.record(ctx.audit(event(
                "connection.revoked",
                Risk::Medium,
                actor,
                id,
                &provider,
            )));
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => not_found(ctx),
        Err(e) => ctx.unavailable(e),
    }
}
