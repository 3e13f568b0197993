//! `GET /admin/dashboard/series` (`admin.console.read`): what the console's dashboard draws.
//! Per replica, from memory ([`crate::series`]): the last hour of requests, refusals by gate and
//! reason, rate-limit hits and p50/p99 latency in one-minute buckets. Cluster-wide, from the
//! audit trail: failed sign-ins (`auth.login_failure`) and blocks (`ip.blocked`) in the last
//! hour, in the same buckets. And now: each upstream's circuit, the store's and hot state's
//! health.

use super::perm;
use crate::api::extract::{Caller, Ctx, require};
use crate::series::{BUCKET_SECS, BUCKETS, BucketView};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use palisade_store::audit::AuditFilter;
use serde::Serialize;
use std::sync::{Arc, LazyLock};
use utoipa::ToSchema;

type S = State<Arc<AppState>>;

/// Trail records read per event type at most (a flood beyond is cut, `truncated` says so).
const MAX_TRAIL_RECORDS: usize = 100_000;
const PAGE: u32 = 1_000;

/// `/admin/dashboard/series`.
pub fn router() -> Router<Arc<AppState>> {
    Router::new().route("/admin/dashboard/series", get(series))
}

/// A count in one minute.
#[derive(Serialize, ToSchema)]
pub(crate) struct Count {
    /// Unix seconds of the minute's start.
    pub(crate) start: u64,
    pub(crate) count: u64,
}

/// Cluster-wide series from the audit trail.
#[derive(Serialize, ToSchema)]
pub(crate) struct Cluster {
    pub(crate) failed_sign_ins: Vec<Count>,
    pub(crate) blocks: Vec<Count>,
    /// Whether a series stopped at its cap of 100,000 records.
    pub(crate) truncated: bool,
}

/// An upstream's circuit breaker.
#[derive(Serialize, ToSchema)]
pub(crate) struct Circuit {
    /// `host:port`.
    pub(crate) upstream: String,
    /// `closed`, `open` or `half_open`.
    pub(crate) state: &'static str,
}

/// The backends' health.
#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok` or `unavailable`.
    pub(crate) store: &'static str,
    /// `ok` or `unavailable`.
    pub(crate) hot: &'static str,
}

/// The dashboard's data.
#[derive(Serialize, ToSchema)]
pub(crate) struct Dashboard {
    /// Which replica answered (its host name, else its process id).
    pub(crate) replica: &'static str,
    pub(crate) bucket_secs: u64,
    /// This replica's last 60 minutes, oldest first.
    pub(crate) buckets: Vec<BucketView>,
    pub(crate) cluster: Cluster,
    pub(crate) circuits: Vec<Circuit>,
    pub(crate) health: Health,
}

static REPLICA: LazyLock<String> = LazyLock::new(|| {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| format!("pid-{}", std::process::id()))
});

/// The dashboard's series: this replica's last hour from memory, sign-in failures and blocks
/// of every replica from the trail.
#[utoipa::path(
    get, path = "/admin/dashboard/series", tag = "admin",
    responses(
        (status = 200, description = "The series.", body = Dashboard),
        (status = 403, description = "`admin.console.read` is not granted."),
    ),
    security(("bearer" = []), ("api_key" = []), ("session" = [])),
)]
async fn series(State(state): S, ctx: Ctx, caller: Caller) -> Response {
    if let Err(r) = require(&state, &caller, &ctx, perm::CONSOLE_READ) {
        return r;
    }
    match dashboard(&state).await {
        Ok(d) => Json(d).into_response(),
        Err(e) => ctx.unavailable(e),
    }
}

/// The dashboard's data: `GET /admin/dashboard/series` and the console's dashboard page.
pub(crate) async fn dashboard(state: &AppState) -> Result<Dashboard, palisade_store::StoreError> {
    let buckets = state.series.snapshot();
    let first = buckets.first().map_or(0, |b| b.start);
    let (failed, blocks) = tokio::try_join!(
        per_minute(state, "auth.login_failure", first),
        per_minute(state, "ip.blocked", first),
    )?;
    let (store, hot) = tokio::join!(state.store.ping(), state.hot.ping());
    let health = |ok: bool| if ok { "ok" } else { "unavailable" };
    Ok(Dashboard {
        replica: REPLICA.as_str(),
        bucket_secs: BUCKET_SECS,
        buckets,
        cluster: Cluster {
            truncated: failed.1 || blocks.1,
            failed_sign_ins: failed.0,
            blocks: blocks.0,
        },
        circuits: state
            .resilience
            .circuits()
            .into_iter()
            .map(|(upstream, state)| Circuit { upstream, state })
            .collect(),
        health: Health {
            store: health(store.is_ok()),
            hot: health(hot.is_ok()),
        },
    })
}

/// Records of `event_type` counted per minute from `first` (Unix seconds) for [`BUCKETS`]
/// minutes, and whether the cap cut them.
async fn per_minute(
    state: &AppState,
    event_type: &str,
    first: u64,
) -> Result<(Vec<Count>, bool), palisade_store::StoreError> {
    let mut counts: Vec<Count> = (0..BUCKETS)
        .map(|i| Count {
            start: first + i * BUCKET_SECS,
            count: 0,
        })
        .collect();
    let filter = AuditFilter {
        event_type: Some(event_type.into()),
        from_ms: Some((first * 1000) as i64),
        ..Default::default()
    };
    let (mut after, mut seen) = (0, 0);
    while seen < MAX_TRAIL_RECORDS {
        let page = state.store.audit_query(&filter, after, PAGE).await?;
        let Some(last) = page.last() else {
            return Ok((counts, false));
        };
        after = last.seq;
        seen += page.len();
        for r in &page {
            let secs = (r.ts_ms.max(0) as u64) / 1000;
            let i = secs.saturating_sub(first) / BUCKET_SECS;
            if let Some(c) = counts.get_mut(i as usize) {
                c.count += 1;
            }
        }
    }
    Ok((counts, true))
}
