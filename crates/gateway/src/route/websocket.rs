//! The WebSocket relay: on a route with `websocket = {…}`, an upgrade is checked before it
//! reaches the upstream, and after it Palisade reads and writes the frames itself (client side
//! and upstream side) instead of splicing bytes.
//!
//! Guarantees:
//! - **Before the upgrade**: a browser signed in by cookie whose `Origin` is neither the
//!   gateway's own nor in `allowed_origins` gets 403 `websocket-origin` (cross-site WebSocket
//!   hijacking); a caller at `max_connections_per_identity` live connections on the route gets
//!   429 `websocket-connections`; `Sec-WebSocket-Extensions` is removed, so `permessage-deflate`
//!   is never negotiated; an upgrade to anything but `websocket` alone gets 400
//!   `websocket-upgrade-only` (it would otherwise be spliced past the limits). Each refusal is a
//!   `websocket.refused` event.
//! - **Sizes**: frames over `max_frame` and messages over `max_message` (both directions) end
//!   the connection with close 1009; nothing larger is ever buffered.
//! - **Rate**: the client's data messages are metered by a token bucket on the gateway's clock.
//!   A message over the rate is held and reading pauses until the bucket allows it
//!   (`websocket.throttled`); `max_throttled` held in a row closes with 1008.
//! - **Inspection** (`inspect = true`): text messages pass the route's inspect detectors; in
//!   block mode a message at the threshold closes with 1008 and is not forwarded.
//! - **Revocation**: the relay waits on identity's revocation notice (no polling) and re-checks
//!   its credential; revoked, the connection closes with 1008.
//! - Every policy close is a `websocket.closed` event with its reason; connections, messages,
//!   throttling, closes and refusals are counted (`palisade_websocket_*`).

use crate::audit::{AuditEvent, Outcome, RequestOrigin, Risk};
use crate::config::websocket::{RouteWebSocket, canonical_origin};
use crate::identity::Identity;
use crate::problem::refuse;
use crate::request::{CallerKey, Proxied, Req, RequestMeta, Res};
use crate::route::proxy::{self, Forwarding};
use crate::route::table::Route;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderName, StatusCode, Version, header};
use hyper_util::rt::TokioIo;
use palisade_core::principal::{AuthMethod, Principal};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// The label of the relay's refusals.
pub const GATE: &str = "websocket";

static SEC_WEBSOCKET_EXTENSIONS: HeaderName = HeaderName::from_static("sec-websocket-extensions");

/// The longest the relay waits, in real time, before looking at the clock again while a held
/// message waits for the rate (the clock may be a test's, moved by hand).
const CLOCK_LOOK: Duration = Duration::from_millis(20);

/// How long a closing peer is given to answer the close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// A route's relay: its limits and its live connections per caller.
#[derive(Debug)]
pub struct WsPolicy {
    /// The route's `websocket = {…}`.
    pub limits: RouteWebSocket,
    /// `allowed_origins`, canonical.
    origins: Vec<String>,
    live: Mutex<HashMap<String, u32>>,
}

impl WsPolicy {
    /// The relay of a route with `limits`.
    pub fn new(limits: &RouteWebSocket) -> Self {
        Self {
            origins: limits
                .allowed_origins
                .iter()
                .filter_map(|o| canonical_origin(o))
                .collect(),
            limits: limits.clone(),
            live: Mutex::new(HashMap::new()),
        }
    }

    /// Live relayed connections of `caller` (as [`CallerKey`] spells it).
    pub fn live(&self, caller: &str) -> u32 {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(caller)
            .copied()
            .unwrap_or(0)
    }

    /// One more connection for `caller`, or `None` at the cap.
    fn acquire(self: &Arc<Self>, caller: String) -> Option<Slot> {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let n = live.entry(caller.clone()).or_insert(0);
        let cap = self.limits.max_connections_per_identity;
        if cap > 0 && *n >= cap {
            return None;
        }
        *n += 1;
        Some(Slot {
            policy: self.clone(),
            caller,
        })
    }
}

/// A counted connection; dropped, it is counted no more.
#[derive(Debug)]
struct Slot {
    policy: Arc<WsPolicy>,
    caller: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut live = self.policy.live.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = live.get_mut(&self.caller) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                live.remove(&self.caller);
            }
        }
    }
}

/// Forwards an upgrade on a route with `websocket = {…}`: the checks before the upgrade, the
/// upstream's answer, and, once both sides switched protocols, the relay in its own task.
pub async fn forward(
    via: &Forwarding<'_>,
    identity: &Arc<Identity>,
    route: Arc<Route>,
    mut req: Req,
) -> Res {
    let Some(policy) = route.websocket.clone() else {
        return proxy::forward(via, route, req).await;
    };
    let origin = RequestOrigin::of(&req);
    let (request_id, client_ip, https) = match req.extensions().get::<RequestMeta>() {
        Some(m) => (m.request_id_str().to_owned(), m.client_ip, m.https),
        None => ("-".to_owned(), std::net::IpAddr::from([0, 0, 0, 0]), false),
    };
    let principal = req.extensions().get::<Arc<Principal>>().cloned();
    let refused = |reason: &'static str| {
        metrics::counter!("palisade_websocket_refused_total", "route" => route.name, "reason" => reason)
            .increment(1);
        let mut event = AuditEvent::new("websocket.refused", Risk::Medium, Outcome::Denied)
            .origin(&origin)
            .resource(format!("route:{}", route.name))
            .details(serde_json::json!({ "reason": reason }));
        if let Some(p) = &principal {
            event = event.actor(p.subject.clone());
        }
        identity.audit.record_refusal(event);
    };

    // Only a WebSocket upgrade is relayed; anything else would be spliced past the limits.
    let websocket = req.headers().get_all(header::UPGRADE).iter().count() == 1
        && req
            .headers()
            .get(header::UPGRADE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if !websocket {
        refused("not-websocket");
        return refuse(
            GATE,
            "websocket-upgrade-only",
            StatusCode::BAD_REQUEST,
            "This route upgrades to WebSocket only (Upgrade: websocket).",
            &request_id,
        );
    }
    if principal
        .as_ref()
        .is_some_and(|p| p.method == AuthMethod::Session)
        && !origin_allowed(&req, &policy, https)
    {
        refused("origin");
        return refuse(
            GATE,
            "websocket-origin",
            StatusCode::FORBIDDEN,
            "A browser signed in by cookie may open this WebSocket only from this site or an \
             allowed origin.",
            &request_id,
        );
    }
    let caller = CallerKey::of(principal.as_deref(), client_ip).to_string();
    let Some(slot) = policy.acquire(caller) else {
        refused("connections");
        return refuse(
            GATE,
            "websocket-connections",
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "At most {} WebSocket connections per caller are open on this route; close one \
                 first.",
                policy.limits.max_connections_per_identity
            ),
            &request_id,
        );
    };
    let deflate_offered = req
        .headers()
        .get_all(&SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .any(|v| {
            v.as_bytes()
                .windows(18)
                .any(|w| w.eq_ignore_ascii_case(b"permessage-deflate"))
        });
    if deflate_offered {
        metrics::counter!("palisade_websocket_deflate_refused_total", "route" => route.name)
            .increment(1);
    }
    req.headers_mut().remove(&SEC_WEBSOCKET_EXTENSIONS);

    let client_upgrade = hyper::upgrade::on(&mut req);
    let mut res = match proxy::send_upgrade(via, &route, req).await {
        Ok(res) => res,
        Err(answer) => return answer,
    };
    *res.version_mut() = Version::HTTP_11;
    res.extensions_mut().insert(Proxied);
    if res.status() != StatusCode::SWITCHING_PROTOCOLS {
        proxy::remove_hop_by_hop(res.headers_mut());
        return res;
    }
    // An extension the client did not offer cannot have been agreed to: the upstream's claim is
    // dropped, and a frame that uses one ends the relay as a protocol error.
    res.headers_mut().remove(&SEC_WEBSOCKET_EXTENSIONS);
    let upstream_upgrade = hyper::upgrade::on(&mut res);
    let relay = Relay {
        route: route.clone(),
        policy,
        identity: identity.clone(),
        principal,
        origin,
        _slot: slot,
    };
    tokio::spawn(async move {
        match tokio::try_join!(client_upgrade, upstream_upgrade) {
            Ok((client, upstream)) => relay.run(client, upstream).await,
            Err(e) => tracing::debug!(request_id = %request_id, error = %e, "upgrade failed"),
        }
    });
    res
}

/// A cookie-signed-in browser's `Origin` is the gateway's own or an allowed one. No `Origin`
/// (not a browser) passes; one that is no origin (`null`) does not.
fn origin_allowed(req: &Req, policy: &WsPolicy, https: bool) -> bool {
    let Some(value) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let Some(origin) = value.to_str().ok().and_then(canonical_origin) else {
        return false;
    };
    let own = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| {
            format!(
                "{}://{}",
                if https { "https" } else { "http" },
                h.to_ascii_lowercase()
            )
        });
    own.as_deref() == Some(origin.as_str()) || policy.origins.contains(&origin)
}

/// Why a relay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Either side closed or went away.
    Closed,
    /// A frame or message over the limits (close 1009).
    TooBig,
    /// Over the message rate for too long (1008).
    Rate,
    /// The credential was revoked (1008).
    Revoked,
    /// A text message the inspect detectors refused (1008).
    Inspect,
    /// A protocol error on either side (1002).
    Protocol,
}

impl End {
    fn reason(self) -> &'static str {
        match self {
            End::Closed => "closed",
            End::TooBig => "too-big",
            End::Rate => "message-rate",
            End::Revoked => "revoked",
            End::Inspect => "inspect",
            End::Protocol => "protocol-error",
        }
    }

    fn code(self) -> CloseCode {
        match self {
            End::Closed => CloseCode::Normal,
            End::TooBig => CloseCode::Size,
            End::Rate | End::Revoked | End::Inspect => CloseCode::Policy,
            End::Protocol => CloseCode::Protocol,
        }
    }
}

/// A token bucket on the gateway's clock (milliseconds).
#[derive(Debug)]
struct Bucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    at_ms: u64,
}

impl Bucket {
    fn new(per_second: u32, burst: u32, now_ms: u64) -> Self {
        Self {
            per_second: f64::from(per_second.max(1)),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            at_ms: now_ms,
        }
    }

    fn refill(&mut self, now_ms: u64) {
        let elapsed = now_ms.saturating_sub(self.at_ms) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.at_ms = self.at_ms.max(now_ms);
    }

    /// Takes a token if there is one.
    fn take(&mut self, now_ms: u64) -> bool {
        self.refill(now_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Milliseconds until a token is there.
    fn wait_ms(&self) -> u64 {
        (((1.0 - self.tokens).max(0.0) / self.per_second) * 1000.0).ceil() as u64
    }
}

/// One relayed connection.
struct Relay {
    route: Arc<Route>,
    policy: Arc<WsPolicy>,
    identity: Arc<Identity>,
    principal: Option<Arc<Principal>>,
    origin: RequestOrigin,
    _slot: Slot,
}

type Upgraded = hyper::upgrade::Upgraded;

impl Relay {
    async fn run(self, client: Upgraded, upstream: Upgraded) {
        let limits = &self.policy.limits;
        let config = WebSocketConfig::default()
            .max_message_size(Some(limits.max_message.0 as usize))
            .max_frame_size(Some(limits.max_frame.0 as usize));
        let client =
            WebSocketStream::from_raw_socket(TokioIo::new(client), Role::Server, Some(config))
                .await;
        let upstream =
            WebSocketStream::from_raw_socket(TokioIo::new(upstream), Role::Client, Some(config))
                .await;
        let name = self.route.name;
        metrics::counter!("palisade_websocket_connections_total", "route" => name).increment(1);
        let live = metrics::gauge!("palisade_websocket_live", "route" => name);
        live.increment(1.0);
        let (mut to_client, mut from_client) = client.split();
        let (mut to_upstream, mut from_upstream) = upstream.split();
        let mut revocations = self.identity.watch_revocations();
        let mut elsewhere = crate::hot::cache::flag_changes();
        let watching = self.principal.is_some();
        let mut bucket = Bucket::new(
            limits.messages_per_second,
            limits.burst,
            self.identity.now_ms(),
        );
        let mut held: Option<Message> = None;
        let mut throttled_in_a_row = 0u32;
        let inspect = if limits.inspect {
            self.route.inspect.clone()
        } else {
            None
        };

        let end = loop {
            let look = Duration::from_millis(bucket.wait_ms().max(1)).min(CLOCK_LOOK);
            tokio::select! {
                changed = revocations.changed(), if watching => {
                    if changed.is_ok() && self.revoked().await {
                        break End::Revoked;
                    }
                }
                changed = elsewhere.changed(), if watching => {
                    if changed.is_ok() && self.revoked().await {
                        break End::Revoked;
                    }
                }
                () = tokio::time::sleep(look), if held.is_some() => {
                    if bucket.take(self.identity.now_ms())
                        && let Some(m) = held.take()
                    {
                        if to_upstream.send(m).await.is_err() {
                            break End::Closed;
                        }
                        metrics::counter!("palisade_websocket_messages_total", "route" => name, "direction" => "up").increment(1);
                    }
                }
                read = from_client.next(), if held.is_none() => {
                    let message = match read {
                        None => break End::Closed,
                        Some(Err(e)) => break ended_by(&e),
                        Some(Ok(Message::Close(frame))) => {
                            let _ = to_upstream.send(Message::Close(frame)).await;
                            break End::Closed;
                        }
                        // Pings are answered hop by hop (the library queues the pong).
                        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                        Some(Ok(m)) => m,
                    };
                    if let (Some(policy), Message::Text(text)) = (&inspect, &message) {
                        let verdict = policy.inspect_message(text.as_str());
                        if !verdict.hits.is_empty() {
                            self.record_finding(policy, &verdict);
                            if policy.refuses(&verdict) {
                                break End::Inspect;
                            }
                        }
                    }
                    if bucket.take(self.identity.now_ms()) {
                        throttled_in_a_row = 0;
                        if to_upstream.send(message).await.is_err() {
                            break End::Closed;
                        }
                        metrics::counter!("palisade_websocket_messages_total", "route" => name, "direction" => "up").increment(1);
                    } else {
                        throttled_in_a_row += 1;
                        if throttled_in_a_row > limits.max_throttled {
                            break End::Rate;
                        }
                        metrics::counter!("palisade_websocket_throttled_total", "route" => name).increment(1);
                        self.record_throttled(throttled_in_a_row);
                        held = Some(message);
                    }
                }
                read = from_upstream.next() => {
                    let message = match read {
                        None => break End::Closed,
                        Some(Err(e)) => break ended_by(&e),
                        Some(Ok(Message::Close(frame))) => {
                            let _ = to_client.send(Message::Close(frame)).await;
                            break End::Closed;
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                        Some(Ok(m)) => m,
                    };
                    if to_client.send(message).await.is_err() {
                        break End::Closed;
                    }
                    metrics::counter!("palisade_websocket_messages_total", "route" => name, "direction" => "down").increment(1);
                }
            }
        };

        metrics::counter!("palisade_websocket_closed_total", "route" => name, "reason" => end.reason())
            .increment(1);
        if end != End::Closed {
            self.record_closed(end);
            let frame = |code: CloseCode, reason: &'static str| {
                Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                }))
            };
            let _ = to_upstream.send(frame(CloseCode::Away, "")).await;
            let _ = to_client.send(frame(end.code(), end.reason())).await;
        }
        // The close handshake: each side's answer is read (bounded), then the connections drop.
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            tokio::join!(drain(&mut from_client), drain(&mut from_upstream))
        })
        .await;
        live.decrement(1.0);
    }

    /// The connection's credential was revoked since it opened.
    async fn revoked(&self) -> bool {
        match &self.principal {
            Some(p) => !self.identity.still_in_force(p).await,
            None => false,
        }
    }

    fn event(&self, event_type: &'static str, risk: Risk) -> AuditEvent {
        let mut event = AuditEvent::new(event_type, risk, Outcome::Denied)
            .origin(&self.origin)
            .resource(format!("route:{}", self.route.name));
        if let Some(p) = &self.principal {
            event = event.actor(p.subject.clone());
        }
        event
    }

    fn record_throttled(&self, in_a_row: u32) {
        let event = self
            .event("websocket.throttled", Risk::Low)
            .details(serde_json::json!({
                "reason": "message-rate",
                "held_in_a_row": in_a_row,
                "max_throttled": self.policy.limits.max_throttled,
            }));
        self.identity.audit.record_refusal(event);
    }

    fn record_closed(&self, end: End) {
        let event = self
            .event("websocket.closed", Risk::Medium)
            .details(serde_json::json!({
                "reason": end.reason(),
                "code": u16::from(end.code()),
            }));
        self.identity.audit.record(event);
    }

    fn record_finding(
        &self,
        policy: &crate::protect::inspect::InspectPolicy,
        verdict: &crate::protect::inspect::Verdict,
    ) {
        let event = crate::layers::inspect::injection_event(policy, verdict, &self.origin, None);
        self.identity.audit.record_refusal(event);
    }
}

/// Why a read error ends the relay.
fn ended_by(e: &WsError) -> End {
    match e {
        WsError::Capacity(_) => End::TooBig,
        WsError::Protocol(_) | WsError::Utf8(_) => End::Protocol,
        _ => End::Closed,
    }
}

/// Reads what is left of one side until it ends (its close answer).
async fn drain<S>(stream: &mut S)
where
    S: futures_util::Stream<Item = Result<Message, WsError>> + Unpin,
{
    while let Some(Ok(_)) = stream.next().await {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_the_burst_then_the_rate() {
        let mut b = Bucket::new(2, 3, 1_000);
        assert!(b.take(1_000) && b.take(1_000) && b.take(1_000));
        assert!(!b.take(1_000));
        assert_eq!(b.wait_ms(), 500);
        assert!(!b.take(1_499));
        assert!(b.take(1_500));
        assert!(!b.take(1_500));
        // Idle time refills up to the burst, never past it.
        assert!(b.take(60_000) && b.take(60_000) && b.take(60_000));
        assert!(!b.take(60_000));
    }

    #[test]
    fn a_slot_is_given_back_when_dropped() {
        let policy = Arc::new(WsPolicy::new(&RouteWebSocket {
            max_connections_per_identity: 1,
            ..Default::default()
        }));
        let first = policy.acquire("user:a".into()).unwrap();
        assert!(policy.acquire("user:a".into()).is_none());
        assert!(policy.acquire("user:b".into()).is_some());
        assert_eq!(policy.live("user:a"), 1);
        drop(first);
        assert_eq!(policy.live("user:a"), 0);
        assert!(policy.acquire("user:a".into()).is_some());
    }
}
