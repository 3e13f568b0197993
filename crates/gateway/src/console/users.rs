//! Users: a keyset-paged list with search and a create form; one user's page with roles, tier,
//! disable/enable, sessions with their device data (revoke one or all), API keys (revoke),
//! second factors (reset), the export link, and delete when the admin API has it. Every
//! action is the script calling the admin API, which decides and records it; the page hides
//! the controls the viewer's roles do not grant.

use super::access::open;
use super::render::console_page;
use crate::api::admin::perm;
use crate::api::extract::Ctx;
use crate::state::AppState;
use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, Uri};
use minijinja::{Value, context};
use palisade_core::principal::Principal;
use palisade_store::identity::{PrincipalKind, UserRecord};
use serde::Deserialize;
use std::sync::Arc;
use uuid::Uuid;

type S = State<Arc<AppState>>;
type Who = Option<Extension<Arc<Principal>>>;

/// Users per page.
const PAGE: u32 = 50;

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    after: Option<Uuid>,
}

fn user_row(base: &str, u: &UserRecord) -> Value {
    context! {
        id => u.id.to_string(),
        href => format!("{base}/users/{}", u.id),
        email => &u.email,
        name => &u.name,
        roles => u.roles.join(", "),
        tier => &u.tier,
        disabled => u.disabled,
        service => u.kind == PrincipalKind::Service,
        created => super::when(u.created_at),
        last_login => u.last_login_at.map(super::when).unwrap_or_default(),
    }
}

/// `GET /admin/console/users?after=ID`.
pub(crate) async fn list_page(
    State(state): S,
    ctx: Ctx,
    caller: Who,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    let viewer = match open(&state, &ctx, caller, &uri, perm::USERS_READ).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let q: ListQuery =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let page = match state.store.users_list(q.after, PAGE).await {
        Ok(p) => p,
        Err(e) => return ctx.unavailable(e),
    };
    let next_href = (page.len() == PAGE as usize)
        .then(|| page.last())
        .flatten()
        .map(|u| format!("{}/users?after={}", viewer.base, u.id));
    let rows: Vec<Value> = page.iter().map(|u| user_row(&viewer.base, u)).collect();
    console_page(
        &viewer,
        "/users",
        "Users",
        "console/users.html",
        context! {
            rows => rows,
            next_href => next_href,
            prev_href => q.after.map(|_| format!("{}/users", viewer.base)),
            can_write => viewer.may(&state, perm::USERS_WRITE),
            roles => role_names(&state),
        },
    )
}

fn role_names(state: &AppState) -> Vec<String> {
    state.authz.roles_json()["roles"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// `GET /admin/console/users/{id}`.
pub(crate) async fn user_page(
    State(state): S,
    ctx: Ctx,
    caller: Who,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let viewer = match open(&state, &ctx, caller, &uri, perm::USERS_READ).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let not_found = || {
        let mut res = console_page(
            &viewer,
            "/users",
            "No such user",
            "console/message_in.html",
            context! { text => "There is no account with this id." },
        );
        *res.status_mut() = StatusCode::NOT_FOUND;
        res
    };
    let Ok(id) = id.parse::<Uuid>() else {
        return not_found();
    };
    let store = &state.store;
    let user = match store.user_by_id(id).await {
        Ok(Some(u)) => u,
        Ok(None) => return not_found(),
        Err(e) => return ctx.unavailable(e).into_response(),
    };
    let (sessions, keys, factors) = match tokio::try_join!(
        store.sessions_for_user(id, true),
        store.api_keys_list(Some(id)),
        state.identity.mfa_methods(id),
    ) {
        Ok(x) => x,
        Err(e) => return ctx.unavailable(e),
    };
    let sessions: Vec<Value> = sessions
        .iter()
        .take(50)
        .map(|s| {
            context! {
                id => s.id.to_string(),
                created => super::when(s.created_at),
                last_seen => super::when(s.last_seen_at),
                expires => super::when(s.expires_at),
                device => s.user_agent.as_deref().unwrap_or("unknown"),
                kind => s.kind.as_str(),
                methods => s.amr.join(", "),
                revoked => s.revoked_at.map(super::when),
                revoked_reason => s.revoked_reason.map(|r| r.as_str()),
                path => format!("/users/{id}/sessions/{}", s.id),
            }
        })
        .collect();
    let keys: Vec<Value> = keys
        .iter()
        .take(50)
        .map(|k| {
            context! {
                name => &k.name, prefix => &k.prefix, scopes => k.scopes.join(", "),
                created => super::when(k.created_at),
                last_used => k.last_used_at.map(super::when).unwrap_or_default(),
                revoked => k.revoked_at.is_some(),
                path => format!("/users/{id}/keys/{}", k.id),
            }
        })
        .collect();
    let title = user.name.clone().unwrap_or_else(|| user.email.clone());
    console_page(
        &viewer,
        "/users",
        &title,
        "console/user.html",
        context! {
            user => user_row(&viewer.base, &user),
            user_path => format!("/users/{id}"),
            sessions => sessions,
            keys => keys,
            factors => factors,
            export_href => format!("{}/users/{id}/export", viewer.api),
            roles => role_names(&state),
            can_write => viewer.may(&state, perm::USERS_WRITE),
            can_keys => viewer.may(&state, perm::KEYS_WRITE),
            can_mfa => viewer.may(&state, perm::MFA_WRITE),
            can_export => viewer.may(&state, perm::USERS_EXPORT),
        },
    )
}
