//! The dashboard: what `GET /admin/dashboard/series` answers
//! (`api::admin::dashboard::dashboard`) drawn server-side — requests, refusals,
//! rate-limit hits (this replica), failed sign-ins and blocks (every replica, from the trail)
//! over the last hour as SVG bar charts ([`super::chart`]); refusals by gate and reason; p50
//! and p99 latency; the upstreams' circuit states; store and hot-state health.

use super::access::open;
use super::chart::bars;
use super::render::console_page;
use crate::api::admin::dashboard::{Count, dashboard};
use crate::api::admin::perm;
use crate::api::extract::Ctx;
use crate::state::AppState;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use http::Uri;
use minijinja::{Value, context};
use palisade_core::principal::Principal;
use std::collections::BTreeMap;
use std::sync::Arc;

/// `HH:MM` (UTC) of a minute's start in Unix seconds.
fn minute(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    let s = humantime::format_rfc3339_seconds(t).to_string();
    s.get(11..16).unwrap_or_default().to_owned()
}

fn counts(list: &[Count]) -> Vec<(String, f64)> {
    list.iter()
        .map(|c| (minute(c.start), c.count as f64))
        .collect()
}

fn chart(title: &str, points: &[(String, f64)], class: &str) -> Value {
    context! { title => title, svg => Value::from_safe_string(bars(title, points, class)) }
}

/// `GET /admin/console/`.
#[utoipa::path(
    get, path = "/admin/console/", tag = "console",
    responses(
        (status = 200, description = "The page (HTML; `no-store`, the page CSP).", content_type = "text/html"),
        (status = 303, description = "No browser session, or idle past `console.idle_timeout`: to the sign-in page, `return_to` this page."),
        (status = 403, description = "The address is outside `console.allow_cidrs`, or `admin.console.read` or `admin.console.read` is not granted (an HTML page)."),
    ),
)]
pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    ctx: Ctx,
    caller: Option<Extension<Arc<Principal>>>,
    uri: Uri,
) -> Response {
    let viewer = match open(&state, &ctx, caller, &uri, perm::CONSOLE_READ).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let d = match dashboard(&state).await {
        Ok(d) => d,
        Err(e) => return ctx.unavailable(e),
    };
    let per = |f: &dyn Fn(&crate::series::BucketView) -> f64| -> Vec<(String, f64)> {
        d.buckets.iter().map(|b| (minute(b.start), f(b))).collect()
    };
    let mut by_reason: BTreeMap<&str, u64> = BTreeMap::new();
    for b in &d.buckets {
        for (reason, n) in &b.refusals {
            *by_reason.entry(reason.as_str()).or_default() += n;
        }
    }
    let mut reasons: Vec<(&str, u64)> = by_reason.into_iter().collect();
    reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
    let latency: Vec<Value> = d
        .buckets
        .iter()
        .rev()
        .filter(|b| b.requests > 0)
        .take(5)
        .map(|b| {
            let ms = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_default();
            context! { minute => minute(b.start), requests => b.requests, p50 => ms(b.p50_ms), p99 => ms(b.p99_ms) }
        })
        .collect();
    let charts = vec![
        chart(
            "Requests per minute (this replica)",
            &per(&|b| b.requests as f64),
            "bar",
        ),
        chart(
            "Refusals per minute (this replica)",
            &per(&|b| b.refusals.values().sum::<u64>() as f64),
            "bar2",
        ),
        chart(
            "Rate-limit hits per minute (this replica)",
            &per(&|b| b.rate_limited as f64),
            "bar2",
        ),
        chart(
            "Failed sign-ins per minute (every replica)",
            &counts(&d.cluster.failed_sign_ins),
            "bar2",
        ),
        chart(
            "Blocks per minute (every replica)",
            &counts(&d.cluster.blocks),
            "bar2",
        ),
        chart(
            "p99 latency, ms (this replica)",
            &per(&|b| b.p99_ms.unwrap_or(0.0)),
            "bar",
        ),
    ];
    console_page(
        &viewer,
        "/",
        "Dashboard",
        "console/dashboard.html",
        context! {
            replica => d.replica,
            charts => charts,
            truncated => d.cluster.truncated,
            reasons => reasons.iter().take(20).map(|(r, n)| context! { reason => *r, count => *n }).collect::<Vec<_>>(),
            latency => latency,
            circuits => d.circuits.iter().map(|c| context! { upstream => &c.upstream, state => c.state }).collect::<Vec<_>>(),
            health => context! {
                store => d.health.store, store_backend => state.store.backend(),
                hot => d.health.hot, hot_backend => state.hot.backend(),
            },
        },
    )
}
