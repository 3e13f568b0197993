//! Who is who: tenants with their members and resource grants; the roles with their grants and
//! the policy explain tool ("would this request be allowed, and by which rule?", the function
//! `GET /admin/policy/explain` calls, run here on the form's GET so it works without script);
//! service accounts with their API keys.

use super::access::open;
use super::blocks::{PAGE, page_number};
use super::render::console_page;
use crate::api::admin::perm;
use crate::api::extract::Ctx;
use crate::state::AppState;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use http::{StatusCode, Uri};
use minijinja::{Value, context};
use palisade_core::principal::Principal;
use palisade_store::identity::PrincipalKind;
use serde::Deserialize;
use std::sync::Arc;

type S = State<Arc<AppState>>;
type Who = Option<Extension<Arc<Principal>>>;

/// `GET /admin/console/tenants?page=N`.
#[utoipa::path(
    get, path = "/admin/console/tenants", tag = "console",
    params(("page" = Option<u32>, Query, description = "The page, from 1.")),
    responses(
        (status = 200, description = "The page (HTML; `no-store`, the page CSP).", content_type = "text/html"),
        (status = 303, description = "No browser session, or idle past `console.idle_timeout`: to the sign-in page, `return_to` this page."),
        (status = 403, description = "The address is outside `console.allow_cidrs`, or `admin.console.read` or `admin.tenants.read` is not granted (an HTML page)."),
    ),
)]
pub(crate) async fn tenants_page(
    State(state): S,
    ctx: Ctx,
    caller: Who,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    let viewer = match open(&state, &ctx, caller, &uri, perm::TENANTS_READ).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let store = &state.store;
    let lists = tokio::try_join!(
        store.tenants_list(),
        store.memberships_list(),
        store.resource_grants_list()
    );
    let (tenants, members, grants) = match lists {
        Ok(x) => x,
        Err(e) => return ctx.unavailable(e),
    };
    let n = page_number(query.as_deref());
    let rows: Vec<Value> = tenants
        .iter()
        .skip((n - 1) * PAGE)
        .take(PAGE)
        .map(|t| {
            let members: Vec<Value> = members
                .iter()
                .filter(|m| m.tenant_id == t.id)
                .map(|m| {
                    let grants = grants
                        .iter()
                        .find(|g| g.tenant_id == t.id && g.user_id == m.user_id)
                        .map(|g| g.grants.join(", "))
                        .unwrap_or_default();
                    context! {
                        user => m.user_id.to_string(), role => &m.role, grants => grants,
                        href => format!("{}/users/{}", viewer.base, m.user_id),
                    }
                })
                .collect();
            context! { id => &t.id, name => &t.name, parent => &t.parent_id, members => members }
        })
        .collect();
    console_page(
        &viewer,
        "/tenants",
        "Tenants",
        "console/tenants.html",
        context! {
            rows => rows,
            total => tenants.len(),
            prev_href => (n > 1).then(|| format!("{}/tenants?page={}", viewer.base, n - 1)),
            next_href => (tenants.len() > n * PAGE).then(|| format!("{}/tenants?page={}", viewer.base, n + 1)),
        },
    )
}

/// The explain tool's form.
#[derive(Deserialize, Default)]
struct ExplainForm {
    #[serde(default, rename = "as")]
    who: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    path: String,
}

/// `GET /admin/console/roles?as&method&path`: the roles, and the explanation when asked.
#[utoipa::path(
    get, path = "/admin/console/roles", tag = "console",
    params(("as" = Option<String>, Query, description = "Explain for this e-mail or API key id."), ("method" = Option<String>, Query, description = "The request's method."), ("path" = Option<String>, Query, description = "The request's path.")),
    responses(
        (status = 200, description = "The page (HTML; `no-store`, the page CSP).", content_type = "text/html"),
        (status = 303, description = "No browser session, or idle past `console.idle_timeout`: to the sign-in page, `return_to` this page."),
        (status = 403, description = "The address is outside `console.allow_cidrs`, or `admin.console.read` or `admin.roles.read` is not granted (an HTML page)."),
    ),
)]
pub(crate) async fn roles_page(
    State(state): S,
    ctx: Ctx,
    caller: Who,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    let viewer = match open(&state, &ctx, caller, &uri, perm::ROLES_READ).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let form: ExplainForm = super::query_form(query.as_deref());
    let may_explain = viewer.may(&state, perm::POLICY_READ);
    let mut status = StatusCode::OK;
    let mut explanation = None;
    let mut error = None;
    if may_explain && !form.who.is_empty() {
        if form.method.trim().is_empty() || !form.path.starts_with('/') {
            error = Some("Give a method and a path starting with /.");
            status = StatusCode::UNPROCESSABLE_ENTITY;
        } else {
            match crate::api::admin::policy::explain_for(
                &state,
                form.who.trim(),
                form.method.trim(),
                &form.path,
                None,
            )
            .await
            {
                Ok(Some(d)) => explanation = Some(super::render::json_value(&d)),
                Ok(None) => {
                    error = Some("No such account or key.");
                    status = StatusCode::NOT_FOUND;
                }
                Err(e) => return ctx.unavailable(e),
            }
        }
    }
    let roles = state.authz.roles_json();
    let mut res = console_page(
        &viewer,
        "/roles",
        "Roles and policy",
        "console/roles.html",
        context! {
            roles => super::render::json_value(&roles["roles"]),
            may_explain => may_explain,
            form => context! { who => form.who, method => if form.method.is_empty() { "GET".to_string() } else { form.method }, path => form.path },
            explanation => explanation,
            error => error,
        },
    );
    *res.status_mut() = status;
    res
}

/// `GET /admin/console/service-accounts?after=ID`: service accounts, a page of accounts at a
/// time (keyset by id), each with its API keys' metadata.
#[utoipa::path(
    get, path = "/admin/console/service-accounts", tag = "console",
    params(("after" = Option<String>, Query, description = "The last account id of the previous page.")),
    responses(
        (status = 200, description = "The page (HTML; `no-store`, the page CSP).", content_type = "text/html"),
        (status = 303, description = "No browser session, or idle past `console.idle_timeout`: to the sign-in page, `return_to` this page."),
        (status = 403, description = "The address is outside `console.allow_cidrs`, or `admin.console.read` or `admin.users.read` is not granted (an HTML page)."),
    ),
)]
pub(crate) async fn service_accounts_page(
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
    let after = super::query_param(query.as_deref(), "after");
    let page = match state.store.users_list(after, 500).await {
        Ok(p) => p,
        Err(e) => return ctx.unavailable(e),
    };
    let mut rows = Vec::new();
    for u in page.iter().filter(|u| u.kind == PrincipalKind::Service) {
        let keys = match state.store.api_keys_list(Some(u.id)).await {
            Ok(k) => k,
            Err(e) => return ctx.unavailable(e),
        };
        let keys: Vec<Value> = keys
            .iter()
            .map(|k| {
                context! {
                    id => k.id.to_string(), name => &k.name, prefix => &k.prefix,
                    scopes => k.scopes.join(", "), revoked => k.revoked_at.is_some(),
                    path => format!("/users/{}/keys/{}", u.id, k.id),
                }
            })
            .collect();
        rows.push(context! {
            id => u.id.to_string(), name => u.name.as_deref().unwrap_or(&u.email),
            roles => u.roles.join(", "), disabled => u.disabled, keys => keys,
        });
    }
    let next_href = (page.len() == 500)
        .then(|| page.last())
        .flatten()
        .map(|u| format!("{}/service-accounts?after={}", viewer.base, u.id));
    console_page(
        &viewer,
        "/service-accounts",
        "Service accounts",
        "console/service_accounts.html",
        context! {
            rows => rows,
            next_href => next_href,
            prev_href => None::<String>,
            can_revoke => viewer.may(&state, perm::KEYS_WRITE),
        },
    )
}
