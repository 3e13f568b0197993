//! The `admission` gate: load shedding under pressure, before any other work is spent on a
//! request.
//!
//! Three measures: requests in flight (all workers), how late the workers' event loops run (the
//! time a ready request waits before a worker gets to it; a moving average per worker, the
//! worst counts), and the process's resident memory. Shedding starts when any measure reaches
//! its `*_start` threshold and stops only when every measure is below its `*_stop` threshold
//! (hysteresis, so the gateway does not flap). A shed request gets 503 problem+json with
//! `Retry-After`. Ops endpoints and routes marked `critical` are never shed.

use crate::config::traffic::AdmissionConfig;
use crate::problem::refuse;
use crate::request::{BoxFuture, Req, RequestMeta, Res};
use http::{HeaderValue, StatusCode, header};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tower::{Layer, Service};

/// The label of the admission gate's refusals.
pub const GATE: &str = "admission";

/// The load-shedding state every worker shares: in-flight count, lag per worker, memory.
#[derive(Debug)]
pub struct AdmissionControl {
    config: AdmissionConfig,
    in_flight: AtomicUsize,
    shedding: AtomicBool,
    /// Each worker's smoothed event-loop lag, in microseconds.
    lag_us: Vec<AtomicU64>,
    memory_bytes: AtomicU64,
}

/// The current pressure, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pressure {
    /// Requests in flight, all workers.
    pub in_flight: usize,
    /// The worst worker's smoothed event-loop lag.
    pub queue_delay: Duration,
    /// Resident memory last sampled (0 when not watched).
    pub memory_bytes: u64,
    /// Whether requests are being shed now.
    pub shedding: bool,
}

/// Counts a request as in flight until dropped.
pub struct InFlight(Arc<AdmissionControl>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl AdmissionControl {
    /// Admission for `workers` serving loops (one lag slot each).
    pub fn new(config: AdmissionConfig, workers: usize) -> Self {
        Self {
            config,
            in_flight: AtomicUsize::new(0),
            shedding: AtomicBool::new(false),
            lag_us: (0..workers.max(1)).map(|_| AtomicU64::new(0)).collect(),
            memory_bytes: AtomicU64::new(0),
        }
    }

    /// The measures now, for `/metrics`.
    pub fn pressure(&self) -> Pressure {
        Pressure {
            in_flight: self.in_flight.load(Ordering::Acquire),
            queue_delay: self.queue_delay(),
            memory_bytes: self.memory_bytes.load(Ordering::Relaxed),
            shedding: self.shedding.load(Ordering::Relaxed),
        }
    }

    fn queue_delay(&self) -> Duration {
        let worst = self
            .lag_us
            .iter()
            .map(|l| l.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        Duration::from_micros(worst)
    }

    /// Re-evaluates shedding with hysteresis; true while shedding.
    fn shedding_now(&self) -> bool {
        let c = &self.config;
        let p = self.pressure();
        let memory_on = c.memory_start.0 > 0;
        let over_start = p.in_flight >= c.in_flight_start
            || p.queue_delay >= c.queue_delay_start.0
            || (memory_on && p.memory_bytes >= c.memory_start.0);
        let under_stop = p.in_flight < c.in_flight_stop.max(1)
            && p.queue_delay < c.queue_delay_stop.0.max(Duration::from_micros(1))
            && (!memory_on || p.memory_bytes < c.memory_stop.0);
        let was = p.shedding;
        let now = if was { !under_stop } else { over_start };
        if now != was {
            self.shedding.store(now, Ordering::Relaxed);
            tracing::warn!(
                shedding = now,
                in_flight = p.in_flight,
                queue_delay_ms = p.queue_delay.as_millis() as u64,
                memory_bytes = p.memory_bytes,
                "load shedding {}",
                if now { "started" } else { "stopped" }
            );
        }
        now
    }

    /// Admits a request (counting it in flight), or `None` when it is to be shed. Critical
    /// requests are always admitted.
    pub fn enter(self: &Arc<Self>, critical: bool) -> Option<InFlight> {
        if self.config.enabled && self.shedding_now() && !critical {
            return None;
        }
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Some(InFlight(self.clone()))
    }

    /// A worker's measured event-loop lag, smoothed (α = 1/4).
    pub fn report_lag(&self, worker: usize, lag: Duration) {
        if let Some(slot) = self.lag_us.get(worker) {
            let sample = lag.as_micros().min(u64::MAX as u128) as u64;
            let old = slot.load(Ordering::Relaxed);
            slot.store(old - old / 4 + sample / 4, Ordering::Relaxed);
        }
    }

    /// Records the process's resident memory (sampled once a second when configured).
    pub fn report_memory(&self, bytes: u64) {
        self.memory_bytes.store(bytes, Ordering::Relaxed);
    }

    /// Whether the memory measure is configured (the sampler reads `/proc` only then).
    pub fn watches_memory(&self) -> bool {
        self.config.enabled && self.config.memory_start.0 > 0
    }

    fn refusal(&self, request_id: &str) -> Res {
        let mut res = refuse(
            GATE,
            "overloaded",
            StatusCode::SERVICE_UNAVAILABLE,
            "The gateway is overloaded; retry shortly.",
            request_id,
        );
        let secs = self.config.retry_after.0.as_secs().max(1);
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        res
    }
}

/// Resident memory of this process, from `/proc/self/status` (Linux); `None` elsewhere.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Measures one worker's event-loop lag forever: how late a short timer fires.
pub async fn probe_lag(control: Arc<AdmissionControl>, worker: usize) {
    const PERIOD: Duration = Duration::from_millis(50);
    loop {
        let asked = tokio::time::Instant::now();
        tokio::time::sleep(PERIOD).await;
        control.report_lag(worker, asked.elapsed().saturating_sub(PERIOD));
    }
}

/// The admission gate as a tower layer over the shared control.
#[derive(Clone)]
pub struct AdmissionLayer(pub Arc<AdmissionControl>);

impl<S> Layer<S> for AdmissionLayer {
    type Service = Admission<S>;
    fn layer(&self, inner: S) -> Admission<S> {
        Admission {
            inner,
            control: self.0.clone(),
        }
    }
}

/// The admission gate's service: counts a request in flight for its whole inner call.
#[derive(Clone)]
pub struct Admission<S> {
    inner: S,
    control: Arc<AdmissionControl>,
}

impl<S> Service<Req> for Admission<S>
where
    S: Service<Req, Response = Res, Error = std::convert::Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Res;
    type Error = std::convert::Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> BoxFuture {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        match self.control.admit(&req) {
            Err(res) => Box::pin(async move { Ok(res) }),
            Ok(None) => Box::pin(inner.call(req)),
            Ok(Some(in_flight)) => Box::pin(async move {
                let res = inner.call(req).await;
                drop(in_flight);
                res
            }),
        }
    }
}

impl AdmissionControl {
    /// The admission gate's request-time work, shared by the tower layer and the fast
    /// assembly: `Ok(None)` for ops endpoints (never shed, not counted), `Ok(guard)` counts the
    /// request in flight until the guard drops (hold it across the inner step), `Err` is the
    /// 503 for a shed request.
    // The refusal is the finished answer, the gate idiom (as `Check::check`).
    #[allow(clippy::result_large_err)]
    pub fn admit(self: &Arc<Self>, req: &Req) -> Result<Option<InFlight>, Res> {
        let meta = req.extensions().get::<RequestMeta>();
        if meta.is_some_and(RequestMeta::is_ops) {
            return Ok(None);
        }
        let critical = meta
            .and_then(|m| m.route.as_ref())
            .is_some_and(|r| r.critical);
        match self.enter(critical) {
            Some(in_flight) => Ok(Some(in_flight)),
            None => Err(self.refusal(meta.map(|m| m.request_id_str()).unwrap_or("-"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::units::{ByteSize, HumanDuration};

    fn control() -> Arc<AdmissionControl> {
        Arc::new(AdmissionControl::new(
            AdmissionConfig {
                enabled: true,
                in_flight_start: 4,
                in_flight_stop: 2,
                queue_delay_start: HumanDuration(Duration::from_millis(100)),
                queue_delay_stop: HumanDuration(Duration::from_millis(20)),
                memory_start: ByteSize(1000),
                memory_stop: ByteSize(500),
                retry_after: HumanDuration(Duration::from_secs(2)),
            },
            2,
        ))
    }

    #[test]
    fn in_flight_sheds_at_start_and_resumes_only_below_stop() {
        let c = control();
        let held: Vec<_> = (0..4).map(|_| c.enter(false).unwrap()).collect();
        assert!(c.enter(false).is_none(), "4 in flight: shed");
        let critical = c.enter(true).expect("critical routes are never shed");
        drop(critical);
        let mut held = held.into_iter();
        drop(held.next());
        drop(held.next());
        assert!(
            c.enter(false).is_none(),
            "2 in flight is not below the stop threshold"
        );
        drop(held.next());
        let again = c.enter(false).expect("1 in flight: resumed");
        assert!(!c.pressure().shedding);
        drop(again);
    }

    #[test]
    fn queue_delay_and_memory_shed_with_hysteresis() {
        let c = control();
        for _ in 0..20 {
            c.report_lag(1, Duration::from_millis(400));
        }
        assert!(c.enter(false).is_none(), "one slow worker is enough");
        for _ in 0..5 {
            c.report_lag(1, Duration::ZERO);
        }
        assert!(c.pressure().queue_delay > Duration::from_millis(20));
        assert!(c.enter(false).is_none(), "still above the stop threshold");
        for _ in 0..30 {
            c.report_lag(1, Duration::ZERO);
        }
        assert!(c.enter(false).is_some());

        c.report_memory(1000);
        assert!(c.enter(false).is_none());
        c.report_memory(700);
        assert!(
            c.enter(false).is_none(),
            "between stop and start: keeps shedding"
        );
        c.report_memory(400);
        assert!(c.enter(false).is_some());
    }

    #[test]
    fn a_disabled_gate_never_sheds() {
        let mut config = AdmissionConfig {
            in_flight_start: 1,
            in_flight_stop: 1,
            ..Default::default()
        };
        config.enabled = false;
        let c = Arc::new(AdmissionControl::new(config, 1));
        let _a = c.enter(false).unwrap();
        assert!(c.enter(false).is_some());
    }
}
