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
    metrics::describe_gauge!(
        "palisade_keyring_reencrypt_remaining",
        "Stored ciphertexts still under a data key older than the primary"
    );
    metrics::describe_counter!(
        "palisade_keyring_reencrypt_done_total",
        "Stored ciphertexts the re-encryption job has moved to the primary data key"
    );
    crate::retention::describe_metrics();
}

/// `StatusCode::as_str` borrows from the code; labels need `'static`, so keep one table.
fn status_label(status: StatusCode) -> &'static str {
    static LABELS: OnceLock<Vec<String>> = OnceLock::new();
    let labels = LABELS.get_or_init(|| (0..600u16).map(|c| c.to_string()).collect());
    labels
        .get(status.as_u16() as usize)
        .map_or("other", String::as_str)
}

/// Metric handles of one route, resolved on first use and then reused, so recording a request
/// costs two atomic updates instead of two registry lookups.
#[derive(Debug)]
pub struct RouteMetrics {
    route: &'static str,
    duration: OnceLock<metrics::Histogram>,
    by_status: Box<[OnceLock<metrics::Counter>]>,
}

impl RouteMetrics {
    /// Counters and a histogram for `route`, created on first use.
    pub fn new(route: &'static str) -> Self {
        Self {
            route,
            duration: OnceLock::new(),
            by_status: (0..600).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Metrics for requests that matched no configured route (refusals, ops endpoints).
    pub fn unrouted() -> &'static RouteMetrics {
        static UNROUTED: OnceLock<RouteMetrics> = OnceLock::new();
        UNROUTED.get_or_init(|| RouteMetrics::new("-"))
    }

    /// Counts one answer with `status` and records its latency.
    pub fn record(&self, status: StatusCode, elapsed: Duration) {
        let route = self.route;
        let slot = self.by_status.get(status.as_u16() as usize);
        let counter = slot.map(|slot| {
            slot.get_or_init(|| {
                metrics::counter!("palisade_requests_total", "route" => route, "status" => status_label(status))
            })
        });
        match counter {
            Some(counter) => counter.increment(1),
            None => {
                metrics::counter!("palisade_requests_total", "route" => route, "status" => "other")
                    .increment(1)
            }
        }
        self.duration
            .get_or_init(
                || metrics::histogram!("palisade_request_duration_seconds", "route" => route),
            )
            .record(elapsed.as_secs_f64());
    }
}

/// Counts a request authenticated by `method`: the four handles are resolved on first use,
/// then each count is one atomic update instead of a registry lookup.
pub fn record_authenticated(method: palisade_core::principal::AuthMethod) {
    use palisade_core::principal::AuthMethod;
    static BY_METHOD: [OnceLock<metrics::Counter>; 4] = [const { OnceLock::new() }; 4];
    let slot = match method {
        AuthMethod::Jwt => 0,
        AuthMethod::External => 1,
        AuthMethod::ApiKey => 2,
        AuthMethod::Session => 3,
    };
    BY_METHOD[slot]
        .get_or_init(
            || metrics::counter!("palisade_authenticated_total", "method" => method.as_str()),
        )
        .increment(1);
}

/// Counts a refusal by gate and reason.
pub fn record_refusal(gate: &'static str, reason: &'static str) {
    metrics::counter!("palisade_refusals_total", "gate" => gate, "reason" => reason).increment(1);
}

/// Counts an upstream error by route and kind.
pub fn record_upstream_error(route: &'static str, kind: &'static str) {
    metrics::counter!("palisade_upstream_errors_total", "route" => route, "kind" => kind)
        .increment(1);
}
