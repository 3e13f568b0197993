//! Running the gateway: incidents with the actions taken and webhook deliveries (what
//! `GET /admin/incidents` reads), the lockdown state and its switch (`POST /admin/lockdown`, a
//! destructive action: the API asks a console session for a recent sign-in), secrets by path
//! with their versions' metadata (never a value; revealing one is `GET /v1/secrets/{path}`
//! from the script, audited and behind a recent sign-in), and the running configuration with
//! its secrets redacted, what `config check` says of it, and the compliance reports.

use super::access::open;
use super::render::console_page;
use crate::api::admin::perm;
use crate::api::extract::Ctx;
use crate::state::AppState;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use http::Uri;
use minijinja::{Value, context};
use palisade_core::principal::Principal;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

type S = State<Arc<AppState>>;
type Who = Option<Extension<Arc<Principal>>>;

/// `GET /admin/console/incidents`: the last 7 days, at most 50.
#[utoipa::path(
    get, path = "/admin/console/incidents", tag = "console",
    responses(
        (status = 200, description = "The page (HTML; `no-store`, the page CSP).", content_type = "text/html"),
        (status = 303, description = "No browser session, or idle past `console.idle_timeout`: to the sign-in page, `return_to` this page."),
        (status = 403, description = "The address is outside `console.allow_cidrs`, or `admin.console.read` or `admin.incidents.read` is not granted (an HTML page)."),
    ),
)]
pub(crate) async fn incidents_page(State(state): S, ctx: Ctx, caller: Who, uri: Uri) -> Response {
    let viewer = match open(&state, &ctx, caller, &uri, perm::INCIDENTS_READ).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let window = Duration::from_secs(7 * 86_400);
    let list = match crate::api::admin::audit::incidents_in(&state, window, 50).await {
        Ok(l) => l,
        Err(e) => return ctx.unavailable(e),
    };
    let rows: Vec<Value> = list
        .iter()
        .map(|i| {
            context! {
                json => serde_json::to_string_pretty(i).unwrap_or_default(),
                rule => i.get("rule").and_then(|v| v.as_str()).unwrap_or(""),
                severity => i.get("severity").and_then(|v| v.as_str()).unwrap_or(""),
                count => i.get("count").map(super::render::json_value),
                actions => i.get("actions").map(|a| a.to_string()).unwrap_or_default(),
                webhook => i.get("webhook").filter(|w| !w.is_null()).map(|w| w.to_string()).unwrap_or_else(|| "none".into()),
            }
        })
        .collect();
    console_page(
        &viewer,
        "/incidents",
        "Incidents",
        "console/incidents.html",
        context! { rows => rows },
    )
}

/// `GET /admin/console/lockdown`.
#[utoipa::path(
    get, path = "/admin/console/lockdown", tag = "console",
    responses(
        (status = 200, description = "The page (HTML; `no-store`, the page CSP).", content_type = "text/html"),
        (status = 303, description = "No browser session, or idle past `console.idle_timeout`: to the sign-in page, `return_to` this page."),
        (status = 403, description = "The address is outside `console.allow_cidrs`, or `admin.console.read` or `admin.lockdown.read` is not granted (an HTML page)."),
    ),
)]
pub(crate) async fn lockdown_page(State(state): S, ctx: Ctx, caller: Who, uri: Uri) -> Response {
    let viewer = match open(&state, &ctx, caller, &uri, perm::LOCKDOWN_READ).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let now = state.identity.lockdown.status();
    console_page(
        &viewer,
        "/lockdown",
        "Lockdown",
        "console/lockdown.html",
        context! {
            on => now.on,
            reason => now.reason,
            by => now.by,
            since => super::when(now.since_ms as i64),
            can_write => viewer.may(&state, perm::LOCKDOWN_WRITE),
        },
    )
}

#[derive(Deserialize, Default)]
struct SecretsQuery {
    #[serde(default)]
    path: String,
    #[serde(default)]
    after: Option<String>,
}

/// `GET /admin/console/secrets?after=P` (a page of paths) or `?path=P` (one secret's versions).
#[utoipa::path(
    get, path = "/admin/console/secrets", tag = "console",
    params(("path" = Option<String>, Query, description = "One secret's path."), ("after" = Option<String>, Query, description = "The last path of the previous page.")),
    responses(
        (status = 200, description = "The page (HTML; `no-store`, the page CSP).", content_type = "text/html"),
        (status = 303, description = "No browser session, or idle past `console.idle_timeout`: to the sign-in page, `return_to` this page."),
        (status = 403, description = "The address is outside `console.allow_cidrs`, or `admin.console.read` or `admin.secrets.read` is not granted (an HTML page)."),
    ),
)]
pub(crate) async fn secrets_page(
    State(state): S,
    ctx: Ctx,
    caller: Who,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    let viewer = match open(&state, &ctx, caller, &uri, perm::SECRETS_READ).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let q: SecretsQuery = super::query_form(query.as_deref());
    let base = &viewer.base;
    let (paths, versions) = if q.path.is_empty() {
        let paths = match state.vault.list("", q.after.as_deref(), 50).await {
            Ok(p) => p,
            Err(e) => return ctx.unavailable(e),
        };
        (paths, Vec::new())
    } else {
        let versions = match state.vault.versions_meta(&q.path).await {
            Ok(v) => v,
            Err(e) => return ctx.unavailable(e),
        };
        let versions: Vec<Value> = versions
            .iter()
            .rev()
            .take(50)
            .map(|v| {
                context! {
                    version => v.version, created => super::when(v.created_at),
                    by => &v.created_by, deleted => v.deleted_at.is_some(),
                    metadata => v.metadata.to_string(),
                    reveal_path => format!("/v1/secrets/{}?version={}", q.path, v.version),
                    out_id => format!("value-{}", v.version),
                }
            })
            .collect();
        (Vec::new(), versions)
    };
    let rows: Vec<Value> = paths
        .iter()
        .map(|p| context! { path => p, href => format!("{base}/secrets?{}", serde_urlencoded::to_string([("path", p)]).unwrap_or_default()) })
        .collect();
    let next_href = (paths.len() == 50).then(|| {
        let last = paths.last().cloned().unwrap_or_default();
        format!(
            "{base}/secrets?{}",
            serde_urlencoded::to_string([("after", last)]).unwrap_or_default()
        )
    });
    console_page(
        &viewer,
        "/secrets",
        "Secrets",
        "console/secrets.html",
        context! {
            path => q.path, rows => rows, versions => versions,
            next_href => next_href, prev_href => None::<String>,
        },
    )
}

/// `GET /admin/console/config`: the running configuration (secrets redacted), `config check`'s
/// findings for it, and links to the compliance reports.
#[utoipa::path(
    get, path = "/admin/console/config", tag = "console",
    responses(
        (status = 200, description = "The page (HTML; `no-store`, the page CSP).", content_type = "text/html"),
        (status = 303, description = "No browser session, or idle past `console.idle_timeout`: to the sign-in page, `return_to` this page."),
        (status = 403, description = "The address is outside `console.allow_cidrs`, or `admin.console.read` or `admin.compliance.read` is not granted (an HTML page)."),
    ),
)]
pub(crate) async fn config_page(State(state): S, ctx: Ctx, caller: Who, uri: Uri) -> Response {
    let viewer = match open(&state, &ctx, caller, &uri, perm::COMPLIANCE_READ).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let config = &state.config;
    // The checks `config check` runs on a configuration (the file-system and online steps
    // belong to the CLI, before start).
    let problems = crate::config::checks::problems(config, config.server.env);
    let mut warnings = crate::config::checks::open_route_warnings(config);
    if config.server.env == crate::config::Environment::Dev {
        warnings.extend(crate::config::checks::dev_warnings(config));
    }
    let reports: Vec<Value> = [
        ("asvs-5.0-l2", "OWASP ASVS 5.0 level 2"),
        ("nist-800-53-moderate", "NIST SP 800-53 moderate"),
        ("soc2-tsc", "SOC 2 trust services criteria"),
    ]
    .iter()
    .map(|(id, label)| {
        context! { label => *label, href => format!("{}/compliance/report?standard={id}&format=html", viewer.api) }
    })
    .collect();
    console_page(
        &viewer,
        "/config",
        "Configuration",
        "console/config.html",
        context! {
            toml => crate::config::redact::redacted_toml(config),
            problems => problems, warnings => warnings,
            reports => reports,
        },
    )
}
