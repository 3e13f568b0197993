//! Prometheus metrics: requests by route and status, latency, upstream errors, refusals by gate
//! and reason. One recorder per process; `/metrics` renders it.

use http::StatusCode;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Installs the process-wide recorder (once) and returns the handle that renders it.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("palisade_request_duration_seconds".into()),
                    LATENCY_BUCKETS,
                )
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed when Palisade is embedded as a library;
            // then our metrics go to it and this handle renders only what reaches us.
            let _ = metrics::set_global_recorder(recorder);
            let upkeep = handle.clone();
            // Histograms buffer samples until drained; drain them even when nobody scrapes.
            std::thread::Builder::new()
                .name("palisade-metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .expect("spawn metrics upkeep thread");
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        "palisade_requests_total",
        "Requests answered, by route and status"
    );
    metrics::describe_histogram!(
        "palisade_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time from request to response head, by route"
    );
    metrics::describe_counter!(
        "palisade_refusals_total",
        "Requests refused, by gate and reason"
    );
    metrics::describe_counter!(
        "palisade_upstream_errors_total",
        "Upstream failures, by route and kind"
    );
}

/// `StatusCode::as_str` borrows from the code; labels need `'static`, so keep one table.
fn status_label(status: StatusCode) -> &'static str {
    static LABELS: OnceLock<Vec<String>> = OnceLock::new();
    let labels = LABELS.get_or_init(|| (0..600u16).map(|c| c.to_string()).collect());
    labels
        .get(status.as_u16() as usize)
        .map_or("other", String::as_str)
}

pub fn record_request(route: &'static str, status: StatusCode, elapsed: Duration) {
    metrics::counter!("palisade_requests_total", "route" => route, "status" => status_label(status)).increment(1);
    metrics::histogram!("palisade_request_duration_seconds", "route" => route)
        .record(elapsed.as_secs_f64());
}

pub fn record_refusal(gate: &'static str, reason: &'static str) {
    metrics::counter!("palisade_refusals_total", "gate" => gate, "reason" => reason).increment(1);
}

pub fn record_upstream_error(route: &'static str, kind: &'static str) {
    metrics::counter!("palisade_upstream_errors_total", "route" => route, "kind" => kind)
        .increment(1);
}
