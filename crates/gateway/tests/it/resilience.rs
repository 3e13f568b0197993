//! Load shedding, the circuit breaker with its stale fallback, and retries, end to end.

use crate::common::*;
use palisade_core::clock::ManualClock;
use palisade_gateway::config::traffic::Fallback;
use palisade_gateway::config::units::HumanDuration;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Waits (without sleeping) until `n` requests are parked in the upstream's `/gate`.
async fn parked(up: &Upstream, n: usize) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while up.release_waiters() < n {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("requests reach the upstream");
}

#[tokio::test]
async fn excess_requests_are_shed_at_once_while_ops_and_critical_routes_still_answer() {
    let up = Upstream::start("slow").await;
    let mut critical = route("/critical/", &up);
    critical.critical = true;
    let gw = start_with(
        |c| {
            c.admission.enabled = true;
            c.admission.in_flight_start = 3;
            c.admission.in_flight_stop = 1;
            // Only the in-flight measure is under test; a busy test machine must not trip this.
            c.admission.queue_delay_start = HumanDuration(Duration::from_secs(3600));
            c.admission.queue_delay_stop = HumanDuration(Duration::from_secs(3600));
        },
        vec![route("/api/", &up), critical],
    )
    .await;
    let http = client();
    let slow: Vec<_> = (0..3)
        .map(|_| tokio::spawn(http.get(gw.url("/api/gate")).send()))
        .collect();
    parked(&up, 3).await;

    // The slow requests never finish by themselves, so an answer here did not wait for them.
    let shed = tokio::time::timeout(Duration::from_secs(10), http.get(gw.url("/api/x")).send())
        .await
        .expect("a shed request is answered without waiting")
        .unwrap();
    assert_eq!(shed.headers()["retry-after"], "5");
    assert_problem(shed, 503, "overloaded").await;
    assert_eq!(
        http.get(gw.url("/healthz")).send().await.unwrap().status(),
        200
    );
    let metrics = http
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("palisade_admission_shedding 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("palisade_admission_in_flight 3"),
        "{metrics}"
    );
    assert_eq!(
        http.get(gw.url("/critical/x"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    up.release.notify_waiters();
    for r in slow {
        assert_eq!(r.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(
        http.get(gw.url("/api/x")).send().await.unwrap().status(),
        200,
        "below the stop threshold: resumed"
    );
}

fn audit_types(gw: &TestGateway) -> Vec<&'static str> {
    gw.gateway
        .state
        .audit
        .recent()
        .into_iter()
        .map(|e| e.event_type)
        .filter(|t| t.starts_with("circuit."))
        .collect()
}

#[tokio::test]
async fn a_failing_upstream_opens_the_circuit_serves_stale_then_recovers_through_half_open() {
    let up = Upstream::start("api").await;
    let mut r = route("/api/", &up);
    r.fallback = Fallback::Stale;
    let clock = Arc::new(ManualClock::starting_at(1_700_000_000_000));
    let gw = start_clocked(
        |c| {
            c.circuit_breaker.min_requests = 4;
            c.circuit_breaker.half_open_probes = 2;
        },
        vec![r],
        clock.clone(),
    )
    .await;
    let http = client();
    let fresh = http.get(gw.url("/api/items?page=1")).send().await.unwrap();
    assert_eq!(fresh.status(), 200);
    let fresh_body = fresh.text().await.unwrap();

    up.down.store(true, Ordering::SeqCst);
    for _ in 0..4 {
        assert_eq!(
            http.get(gw.url("/api/other"))
                .send()
                .await
                .unwrap()
                .status(),
            503
        );
    }
    assert_eq!(audit_types(&gw), ["circuit.opened"]);
    let seen = up.count();

    let stale = http.get(gw.url("/api/items?page=1")).send().await.unwrap();
    assert_eq!(stale.status(), 200);
    assert_eq!(stale.headers()["x-palisade-fallback"], "stale");
    assert_eq!(stale.text().await.unwrap(), fresh_body);
    let none_kept = http.get(gw.url("/api/items?page=2")).send().await.unwrap();
    assert_eq!(none_kept.headers()["retry-after"], "30");
    assert_problem(none_kept, 503, "circuit-open").await;
    assert_eq!(
        up.count(),
        seen,
        "nothing reaches the upstream while the circuit is open"
    );

    up.down.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(30));
    for _ in 0..2 {
        let probe = http.get(gw.url("/api/items?page=1")).send().await.unwrap();
        assert_eq!(probe.status(), 200);
        assert!(!probe.headers().contains_key("x-palisade-fallback"));
    }
    assert_eq!(
        audit_types(&gw),
        ["circuit.opened", "circuit.half_open", "circuit.closed"]
    );
    let metrics = http
        .get(gw.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("palisade_circuit_transitions_total"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_stale_response_is_never_served_to_another_caller_or_past_its_age() {
    let up = Upstream::start("api").await;
    let mut r = route("/api/", &up);
    r.fallback = Fallback::Stale;
    let clock = Arc::new(ManualClock::starting_at(1_700_000_000_000));
    let gw = start_clocked(
        |c| {
            c.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
            c.circuit_breaker.min_requests = 2;
            c.circuit_breaker.open_for = HumanDuration(Duration::from_secs(3600));
            c.circuit_breaker.fallback_max_age = HumanDuration(Duration::from_secs(10));
        },
        vec![r],
        clock.clone(),
    )
    .await;
    let http = client();
    let as_client = |ip: &'static str| {
        http.get(gw.url("/api/me"))
            .header("x-forwarded-for", ip)
            .send()
    };
    assert_eq!(as_client("198.51.100.1").await.unwrap().status(), 200);
    up.down.store(true, Ordering::SeqCst);
    for _ in 0..2 {
        http.get(gw.url("/api/x")).send().await.unwrap();
    }
    assert_problem(
        as_client("198.51.100.2").await.unwrap(),
        503,
        "circuit-open",
    )
    .await;
    let own = as_client("198.51.100.1").await.unwrap();
    assert_eq!(own.headers()["x-palisade-fallback"], "stale");
    clock.advance(Duration::from_secs(11));
    assert_problem(
        as_client("198.51.100.1").await.unwrap(),
        503,
        "circuit-open",
    )
    .await;
}

#[tokio::test]
async fn connection_failures_are_retried_for_idempotent_requests_only() {
    let up = Upstream::start("api").await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut r = route("/api/", &up);
    r.upstream = None;
    r.upstreams = vec![dead, up.url()];
    let gw = start_with(|c| c.circuit_breaker.enabled = false, vec![r]).await;
    let http = client();
    for _ in 0..4 {
        let res = http.get(gw.url("/api/items")).send().await.unwrap();
        assert_eq!(
            res.status(),
            200,
            "a GET that could not connect goes to the next upstream"
        );
    }
    let mut refused = 0;
    for _ in 0..4 {
        let res = http
            .post(gw.url("/api/items"))
            .body("x")
            .send()
            .await
            .unwrap();
        if res.status() == 502 {
            assert_problem(res, 502, "connect-failed").await;
            refused += 1;
        }
    }
    assert_eq!(
        refused, 2,
        "a POST is never sent twice: every other one hits the dead upstream"
    );
}

/// The upstream's response deadline is the request's one timer (the boundary's); when it ends
/// the wait, the attempt still counts against the upstream's breaker.
#[tokio::test]
async fn upstream_timeouts_open_the_breaker() {
    let up = Upstream::start("api").await;
    let mut r = route("/api/", &up);
    r.response_timeout = Some(HumanDuration(Duration::from_millis(100)));
    let gw = start_with(
        |c| {
            c.circuit_breaker.min_requests = 2;
            c.circuit_breaker.open_for = HumanDuration(Duration::from_secs(3600));
        },
        vec![r],
    )
    .await;
    let http = client();
    for _ in 0..2 {
        assert_problem(
            http.get(gw.url("/api/hang")).send().await.unwrap(),
            504,
            "response-timeout",
        )
        .await;
    }
    assert_problem(
        http.get(gw.url("/api/x")).send().await.unwrap(),
        503,
        "circuit-open",
    )
    .await;
}
