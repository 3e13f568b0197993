//! Ops endpoints: `/healthz` (the process is up), `/readyz` (stores answer), `/metrics`
//! (Prometheus text, only for the CIDRs in `ops.metrics_allow`).

use super::openapi::schemas;
use crate::problem::refuse;
use crate::request::{RequestMeta, request_id_of};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use std::sync::Arc;

/// The label the ops endpoints' refusals are counted under.
pub const GATE: &str = "ops";

/// `/healthz`, `/readyz`, `/metrics`.
pub fn router() -> axum::Router<Arc<AppState>> {
    axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The process is up.
#[utoipa::path(
    get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "The process is up.", body = schemas::Health)),
)]
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Both stores answer.
#[utoipa::path(
    get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "The store and the hot state answer.", body = schemas::Ready),
        (status = 503, description = "The store or the hot state does not answer."),
    ),
)]
async fn readyz(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let store = state.store.ping().await;
    let hot = state.hot.ping().await;
    if let (Ok(()), Ok(())) = (&store, &hot) {
        return Json(serde_json::json!({
            "status": "ready",
            "store": state.store.backend(),
            "hot_state": state.hot.backend(),
        }))
        .into_response();
    }
    let failing: Vec<&str> = [("store", store.is_err()), ("hot state", hot.is_err())]
        .into_iter()
        .filter_map(|(name, bad)| bad.then_some(name))
        .collect();
    tracing::warn!(store = ?store.err(), hot_state = ?hot.err(), "not ready");
    refuse(
        GATE,
        "not-ready",
        StatusCode::SERVICE_UNAVAILABLE,
        format!("Not ready: the {} does not answer.", failing.join(" and ")),
        &request_id_of(req.extensions()),
    )
}

/// Prometheus metrics, for the CIDRs in `ops.metrics_allow` (everyone when it is empty).
#[utoipa::path(
    get, path = "/metrics", tag = "ops",
    responses(
        (status = 200, description = "Prometheus text exposition.", body = String, content_type = "text/plain"),
        (status = 403, description = "Not available to this address."),
    ),
)]
async fn metrics(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let allowed = &state.config.ops.metrics_allow;
    let client = req.extensions().get::<RequestMeta>().map(|m| m.client_ip);
    let permitted =
        allowed.is_empty() || client.is_some_and(|ip| allowed.iter().any(|net| net.contains(&ip)));
    if !permitted {
        return refuse(
            GATE,
            "metrics-forbidden",
            StatusCode::FORBIDDEN,
            "Metrics are not available to this address.",
            &request_id_of(req.extensions()),
        );
    }
    publish_pressure(&state);
    let mut res = state.metrics.render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

/// The admission gate's current measures, as gauges.
fn publish_pressure(state: &AppState) {
    let p = state.admission.pressure();
    metrics::gauge!("palisade_admission_in_flight").set(p.in_flight as f64);
    metrics::gauge!("palisade_admission_queue_delay_seconds").set(p.queue_delay.as_secs_f64());
    metrics::gauge!("palisade_admission_memory_bytes").set(p.memory_bytes as f64);
    metrics::gauge!("palisade_admission_shedding").set(if p.shedding { 1.0 } else { 0.0 });
    metrics::gauge!("palisade_ratelimit_keys").set(state.throttle.keys() as f64);
}
