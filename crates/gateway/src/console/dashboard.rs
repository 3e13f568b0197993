//! The dashboard: store and hot-state health now, and (with the dashboard series of the admin
//! API) requests, refusals by gate and reason, rate-limit hits, failed sign-ins and blocks over
//! the last hour as SVG charts, p50/p99 latency and the upstreams' circuit states.

use super::access::open;
use super::render::console_page;
use crate::api::admin::perm;
use crate::api::extract::Ctx;
use crate::state::AppState;
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use http::Uri;
use palisade_core::principal::Principal;
use std::sync::Arc;

/// `GET /admin/console/`.
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
    let (store, hot) = tokio::join!(state.store.ping(), state.hot.ping());
    let health = minijinja::context! {
        store => store.is_ok(),
        store_backend => state.store.backend(),
        hot => hot.is_ok(),
        hot_backend => state.hot.backend(),
    };
    console_page(
        &viewer,
        "/",
        "Dashboard",
        "console/dashboard.html",
        minijinja::context! { health => health },
    )
}
