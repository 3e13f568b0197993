//! Users: a keyset-paged list with search and a create form; one user's page with roles, tier,
//! disable/enable, sessions with their device data (revoke one or all), API keys (revoke),
//! second factors (reset), the export link, delete and restore (within the grace period). Every
//! action is the script calling the admin API, which decides and records it; the page hides
//! the controls the viewer's roles do not grant.

use super::access::open;
use super::render::console_page;
use crate::api::admin::perm;
use crate::api::extract::Ctx;
use crate::identity::manage::{AccountSearch, AccountView};
use crate::state::AppState;
use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, Uri};
use minijinja::{Value, context};
use palisade_core::principal::Principal;
use palisade_store::identity::PrincipalKind;
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
    #[serde(default)]
    q: String,
}

fn user_row(base: &str, u: &AccountView) -> Value {
    context! {
        id => u.id.to_string(),
        href => format!("{base}/users/{}", u.id),
        email => &u.email,
        name => &u.name,
        roles => u.roles.join(", "),
        tier => &u.tier,
        disabled => u.disabled,
        deleted => u.deleted,
        mfa => u.mfa_enrolled,
        created => super::when(u.created_at),
        last_login => u.last_login_at.map(super::when).unwrap_or_default(),
    }
}

/// `GET /admin/console/users?q&after=ID`: the search and page `GET /admin/users` answers
/// ([`crate::identity::Identity::accounts_page`]: exact e-mail, else a substring of name or id).
#[utoipa::path(
    get, path = "/admin/console/users", tag = "console",
    params(("q" = Option<String>, Query, description = "An exact e-mail, or part of a name or id."), ("after" = Option<String>, Query, description = "The last id of the previous page.")),
    responses(
        (status = 200, description = "The page (HTML; `no-store`, the page CSP).", content_type = "text/html"),
        (status = 303, description = "No browser session, or idle past `console.idle_timeout`: to the sign-in page, `return_to` this page."),
        (status = 403, description = "The address is outside `console.allow_cidrs`, or `admin.console.read` or `admin.users.read` is not granted (an HTML page)."),
    ),
)]
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
    let q: ListQuery = super::query_form(query.as_deref());
    let search = AccountSearch::parse(Some(q.q.as_str()));
    let page = match state.identity.accounts_page(search, q.after, PAGE).await {
        Ok(p) => p,
        Err(e) => return ctx.unavailable(e),
    };
    let with_q = |extra: &str| {
        let mut pairs = Vec::new();
        if !q.q.trim().is_empty() {
            pairs.push(("q", q.q.trim().to_string()));
        }
        if !extra.is_empty() {
            pairs.push(("after", extra.to_string()));
        }
        format!(
            "{}/users?{}",
            viewer.base,
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    };
    let next_href = page.next_cursor.as_deref().map(with_q);
    let rows: Vec<Value> = page
        .items
        .iter()
        .map(|u| user_row(&viewer.base, u))
        .collect();
    console_page(
        &viewer,
        "/users",
        "Users",
        "console/users.html",
        context! {
            rows => rows,
            q => q.q.clone(),
            next_href => next_href,
            prev_href => q.after.map(|_| with_q("")),
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
#[utoipa::path(
    get, path = "/admin/console/users/{id}", tag = "console",
    params(("id" = String, Path, description = "The account id.")),
    responses(
        (status = 200, description = "The page (HTML; `no-store`, the page CSP).", content_type = "text/html"),
        (status = 303, description = "No browser session, or idle past `console.idle_timeout`: to the sign-in page, `return_to` this page."),
        (status = 403, description = "The address is outside `console.allow_cidrs`, or `admin.console.read` or `admin.users.read` is not granted (an HTML page)."),
    ),
)]
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
    let identity = &state.identity;
    let user = match state.store.user_by_id(id).await {
        Ok(Some(u)) if u.kind == PrincipalKind::Human => u,
        Ok(_) => return not_found(),
        Err(e) => return ctx.unavailable(e).into_response(),
    };
    let (view, sessions, keys, factors) = match tokio::try_join!(
        identity.account_view(&user),
        identity.sessions_of(id),
        identity.keys_of(id),
        identity.mfa_methods(id),
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
                ip => s.ip.as_deref().unwrap_or(""),
                device => s.device.as_deref().or(s.user_agent.as_deref()).unwrap_or("unknown"),
                user_agent => s.user_agent.as_deref().unwrap_or(""),
                revoked => s.revoked_at.map(super::when),
                revoked_reason => s.revoked_reason,
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
            user => user_row(&viewer.base, &view),
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
            can_delete => viewer.may(&state, perm::USERS_DELETE),
        },
    )
}
