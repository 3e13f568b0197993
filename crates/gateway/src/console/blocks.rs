//! IP blocks and threat levels: the blocks in force (what `GET /admin/ip-blocks` lists, paged
//! here), the threat ladder of `auth.brute_force`, and — for holders of `admin.ip_blocks.write`
//! — blocking an address for a time (`POST /admin/ip-blocks`) and lifting a block
//! (`DELETE /admin/ip-blocks/{ip}`).

use super::access::open;
use super::render::console_page;
use crate::api::admin::perm;
use crate::api::extract::Ctx;
use crate::state::AppState;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use http::Uri;
use minijinja::context;
use palisade_core::principal::Principal;
use std::sync::Arc;

/// Rows per page of every console list that is not keyset-paged by its store.
pub(crate) const PAGE: usize = 50;

/// The page number `page` of a `?page=N` query (from 1).
pub(crate) fn page_number(query: Option<&str>) -> usize {
    super::query_param(query, "page")
        .filter(|n| *n >= 1)
        .unwrap_or(1)
}

/// `GET /admin/console/ip-blocks?page=N`.
#[utoipa::path(
    get, path = "/admin/console/ip-blocks", tag = "console",
    params(("page" = Option<u32>, Query, description = "The page, from 1.")),
    responses(
        (status = 200, description = "The page (HTML; `no-store`, the page CSP).", content_type = "text/html"),
        (status = 303, description = "No browser session, or idle past `console.idle_timeout`: to the sign-in page, `return_to` this page."),
        (status = 403, description = "The address is outside `console.allow_cidrs`, or `admin.console.read` or `admin.ip_blocks.read` is not granted (an HTML page)."),
    ),
)]
pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    caller: Option<Extension<Arc<Principal>>>,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    let viewer = match open(&state, &ctx, caller, &uri, perm::IP_BLOCKS_READ).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let blocks = match state.identity.brute.blocks().await {
        Ok(b) => b,
        Err(e) => return ctx.unavailable(e),
    };
    let n = page_number(query.as_deref());
    let rows: Vec<_> = blocks
        .iter()
        .skip((n - 1) * PAGE)
        .take(PAGE)
        .map(|b| {
            context! {
                ip => &b.ip, level => b.level, failures => b.failures_24h,
                remaining => humantime::format_duration(std::time::Duration::from_secs(b.remaining_seconds)).to_string(),
                path => format!("/ip-blocks/{}", super::segment(&b.ip)),
            }
        })
        .collect();
    let policy = state.config.auth.threat_policy();
    let level = |name: &str, t: &palisade_core::brute_force::Threshold| {
        context! { name => name, failures => t.failures, block => humantime::format_duration(t.block).to_string() }
    };
    console_page(
        &viewer,
        "/ip-blocks",
        "IP blocks",
        "console/blocks.html",
        context! {
            rows => rows,
            total => blocks.len(),
            prev_href => (n > 1).then(|| format!("{}/ip-blocks?page={}", viewer.base, n - 1)),
            next_href => (blocks.len() > n * PAGE).then(|| format!("{}/ip-blocks?page={}", viewer.base, n + 1)),
            levels => vec![level("MEDIUM", &policy.medium), level("HIGH", &policy.high), level("CRITICAL", &policy.critical)],
            can_write => viewer.may(&state, perm::IP_BLOCKS_WRITE),
        },
    )
}
