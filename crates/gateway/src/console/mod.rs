//! The admin console: Palisade's own server-rendered pages at `/admin/console/` (under
//! `api.mount`), the security team's window into the gateway without a second server.
//!
//! What it guarantees: every page is HTML rendered here from embedded templates
//! ([`render`], auto-escaped) with one external stylesheet and one external script
//! ([`assets`]), answered as a hosted page (the page CSP: no inline script or style, no CDN,
//! `frame-ancestors 'none'`; `Cache-Control: no-store`). Access is decided in one place
//! ([`access`]): `console.allow_cidrs`, the browser session (else sign in through the hosted
//! pages, MFA included), `console.idle_timeout`, `admin.console.read` and the page's own admin
//! read permission. Data is read by the same functions the admin API's handlers call, in
//! bounded pages; nothing is fetched from the browser to render a page, so without JavaScript
//! the console is read-only and complete. Actions are made by the script against the admin
//! JSON API with the session's `X-CSRF-Token` (the API decides, audits and refuses; the page
//! hides controls the viewer's roles do not grant). User data never reaches an `href` or
//! `src`: links are built here from ids, percent-encoded.
//!
//! Pages: [`dashboard`], [`audit`], [`users`], [`directory`] (tenants, roles and the policy
//! explain tool, service accounts), [`blocks`] (IP blocks and threat levels), [`operations`]
//! (incidents, lockdown, secrets, the configuration with `config check` and the compliance
//! report); [`chart`] draws the dashboard's SVG.

pub mod access;
pub mod assets;
pub mod audit;
pub mod blocks;
pub mod chart;
pub mod dashboard;
pub mod directory;
pub mod operations;
pub mod render;
pub mod users;

use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use std::sync::Arc;

/// Every console page and its assets.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/console", get(to_console))
        .route("/admin/console/", get(dashboard::page))
        .route("/admin/console/audit", get(audit::page))
        .route("/admin/console/audit/verify", get(audit::verify_page))
        .route("/admin/console/users", get(users::list_page))
        .route("/admin/console/users/{id}", get(users::user_page))
        .route("/admin/console/tenants", get(directory::tenants_page))
        .route("/admin/console/roles", get(directory::roles_page))
        .route(
            "/admin/console/service-accounts",
            get(directory::service_accounts_page),
        )
        .route("/admin/console/ip-blocks", get(blocks::page))
        .route("/admin/console/incidents", get(operations::incidents_page))
        .route("/admin/console/lockdown", get(operations::lockdown_page))
        .route("/admin/console/secrets", get(operations::secrets_page))
        .route("/admin/console/config", get(operations::config_page))
        .merge(assets::router())
}

/// `/admin/console` without the slash: to the dashboard.
#[utoipa::path(get, path = "/admin/console", tag = "console",
    responses((status = 303, description = "To `/admin/console/`.")))]
pub(crate) async fn to_console(State(state): State<Arc<AppState>>) -> Response {
    crate::pages::see_other(&format!("{}/admin/console/", state.routes.mount()))
}

/// A page's query string as `T`; a query that does not read as `T` is the default (a console
/// page shows its first view rather than an error for a hand-edited address).
pub(crate) fn query_form<T: serde::de::DeserializeOwned + Default>(query: Option<&str>) -> T {
    serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default()
}

/// The first `name` parameter of a query string that parses as `T`.
pub(crate) fn query_param<T: std::str::FromStr>(query: Option<&str>, name: &str) -> Option<T> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or(""))
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse().ok())
}

/// Percent-encodes `s` as one path segment (for links built from ids and addresses).
pub(crate) fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A Unix-milliseconds time as RFC 3339 (seconds), for tables.
pub(crate) fn when(ms: i64) -> String {
    if ms <= 0 {
        return String::new();
    }
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}
