//! The WebSocket relay end to end: a real tokio-tungstenite echo upstream, a real client, the
//! gateway on a test clock. Echo through the relay; the message rate (held, released by the
//! clock, then closed 1008); an oversized frame (1009); a revoked token's connection (1008); a
//! cross-site Origin on a cookie sign-in (403); the per-caller cap (429); deflate stripped.
//! Timeouts are hang guards only: generous, and a test that reaches one fails.

use crate::authorization::signed_in;
use crate::common::*;
use crate::identity::{Env, PASSWORD};
use futures_util::{SinkExt, StreamExt};
use palisade_core::clock::ManualClock;
use palisade_gateway::config::RouteConfig;
use palisade_gateway::config::units::ByteSize;
use palisade_gateway::config::websocket::RouteWebSocket;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, handshake::server};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long anything may take before the test counts it as a hang.
const HANG: Duration = Duration::from_secs(20);

/// A WebSocket echo server: every data message comes back; counts what it received and keeps
/// the `Sec-WebSocket-Extensions` each handshake offered.
struct Echo {
    url: String,
    received: Arc<AtomicUsize>,
    offered: Arc<Mutex<Vec<Option<String>>>>,
}

impl Echo {
    async fn start() -> Echo {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(AtomicUsize::new(0));
        let offered = Arc::new(Mutex::new(Vec::new()));
        let (count, seen) = (received.clone(), offered.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (count, seen) = (count.clone(), seen.clone());
                tokio::spawn(async move {
                    // The library's callback type fixes the (large) error type.
                    #[allow(clippy::result_large_err)]
                    let record = |req: &server::Request, res: server::Response| {
                        seen.lock().unwrap().push(
                            req.headers()
                                .get("sec-websocket-extensions")
                                .map(|v| v.to_str().unwrap().to_owned()),
                        );
                        Ok(res)
                    };
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, record).await
                    else {
                        return;
                    };
                    while let Some(Ok(m)) = ws.next().await {
                        if m.is_text() || m.is_binary() {
                            count.fetch_add(1, Ordering::SeqCst);
                            if ws.send(m).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        Echo {
            url,
            received,
            offered,
        }
    }

    fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }
}

fn ws_route(echo: &Echo, ws: RouteWebSocket) -> RouteConfig {
    RouteConfig {
        prefix: "/ws/".into(),
        upstream: Some(echo.url.clone()),
        websocket: Some(ws),
        ..Default::default()
    }
}

/// A gateway on a test clock with the echo behind `/ws/` (and the usual upstream behind
/// `/api/`, for the identity helpers).
async fn env_with(ws: RouteWebSocket) -> (Env, Echo) {
    env_with_route(ws, |_| {}).await
}

/// [`env_with`], the `/ws/` route changed by `edit` too.
async fn env_with_route(ws: RouteWebSocket, edit: impl FnOnce(&mut RouteConfig)) -> (Env, Echo) {
    let echo = Echo::start().await;
    let mut ws_route = ws_route(&echo, ws);
    edit(&mut ws_route);
    let up = Upstream::start("api").await;
    let clock = Arc::new(ManualClock::starting_at(1_900_000_000_000));
    let gw = start_clocked(|_| {}, vec![route("/api/", &up), ws_route], clock.clone()).await;
    (
        Env {
            gw,
            clock,
            up,
            http: client(),
        },
        echo,
    )
}

fn request(env: &Env, headers: &[(&str, &str)]) -> http::Request<()> {
    request_to(env.gw.gateway.addr, headers)
}

fn request_to(addr: std::net::SocketAddr, headers: &[(&str, &str)]) -> http::Request<()> {
    let mut req = format!("ws://{addr}/ws/echo")
        .into_client_request()
        .unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    req
}

async fn connect(env: &Env, headers: &[(&str, &str)]) -> Client {
    connect_to(env.gw.gateway.addr, headers).await
}

async fn connect_to(addr: std::net::SocketAddr, headers: &[(&str, &str)]) -> Client {
    let (ws, res) = tokio::time::timeout(
        HANG,
        tokio_tungstenite::connect_async(request_to(addr, headers)),
    )
    .await
    .expect("hang: connecting")
    .expect("the upgrade is accepted");
    assert_eq!(res.status(), 101);
    ws
}

/// The handshake's refusal: its status and problem type.
async fn refused(env: &Env, headers: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let err = tokio::time::timeout(
        HANG,
        tokio_tungstenite::connect_async(request(env, headers)),
    )
    .await
    .expect("hang: connecting")
    .expect_err("the upgrade is refused");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(res) => {
            assert_eq!(res.headers()["content-type"], "application/problem+json");
            let body: serde_json::Value =
                serde_json::from_slice(res.body().as_deref().unwrap_or_default()).unwrap();
            (res.status().as_u16(), body)
        }
        other => panic!("not an HTTP refusal: {other}"),
    }
}

/// The next message from the gateway.
async fn next(ws: &mut Client) -> Message {
    tokio::time::timeout(HANG, ws.next())
        .await
        .expect("hang: waiting for a message")
        .expect("the connection is open")
        .expect("a message")
}

async fn echoed(ws: &mut Client, text: &str) {
    ws.send(Message::text(text)).await.unwrap();
    assert_eq!(next(ws).await, Message::text(text));
}

/// The close frame's code.
async fn closed_with(ws: &mut Client) -> CloseCode {
    loop {
        match next(ws).await {
            Message::Close(Some(frame)) => return frame.code,
            Message::Close(None) => panic!("closed without a code"),
            _ => continue,
        }
    }
}

/// Waits (yielding, no sleeping) until the audit log holds an event of `event_type` whose
/// `details.reason` is `reason`.
async fn until_event(env: &Env, event_type: &str, reason: &str) -> serde_json::Value {
    let audit = env.gw.gateway.state.audit.clone();
    tokio::time::timeout(HANG, async {
        loop {
            if let Some(e) = audit
                .recent()
                .into_iter()
                .find(|e| e.event_type == event_type && e.details["reason"] == reason)
            {
                return e.details;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("hang: no {event_type} event with reason {reason}"))
}

#[tokio::test]
async fn messages_are_echoed_through_the_relay_and_deflate_is_not_negotiated() {
    let (env, echo) = env_with(RouteWebSocket::default()).await;
    let (ws, res) = tokio::time::timeout(
        HANG,
        tokio_tungstenite::connect_async(request(
            &env,
            &[(
                "sec-websocket-extensions",
                "permessage-deflate; client_max_window_bits",
            )],
        )),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        !res.headers().contains_key("sec-websocket-extensions"),
        "{:?}",
        res.headers()
    );
    let mut ws = ws;
    echoed(&mut ws, "hello through the relay").await;
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::binary(vec![1u8, 2, 3]));
    assert_eq!(echo.received(), 2);
    assert_eq!(
        echo.offered.lock().unwrap().as_slice(),
        &[None],
        "the deflate offer never reaches the upstream"
    );
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn over_the_message_rate_a_message_is_held_until_the_clock_allows_then_the_connection_closes()
{
    let (env, echo) = env_with(RouteWebSocket {
        messages_per_second: 1,
        burst: 2,
        max_throttled: 1,
        ..Default::default()
    })
    .await;
    let mut ws = connect(&env, &[]).await;
    echoed(&mut ws, "one").await;
    echoed(&mut ws, "two").await;

    // The third is over the rate: held, not forwarded, until the clock gives a token.
    ws.send(Message::text("three")).await.unwrap();
    let held = until_event(&env, "websocket.throttled", "message-rate").await;
    assert_eq!(held["held_in_a_row"], 1, "{held}");
    assert_eq!(
        echo.received(),
        2,
        "the held message has not been forwarded"
    );
    env.advance(Duration::from_secs(1));
    assert_eq!(next(&mut ws).await, Message::text("three"));
    assert_eq!(echo.received(), 3);

    // Straight away another: over the rate a second time in a row, past max_throttled.
    ws.send(Message::text("four")).await.unwrap();
    assert_eq!(closed_with(&mut ws).await, CloseCode::Policy);
    assert_eq!(
        echo.received(),
        3,
        "the message over the rate never reached the upstream"
    );
    until_event(&env, "websocket.closed", "message-rate").await;
}

#[tokio::test]
async fn an_oversized_frame_closes_the_connection_with_1009() {
    let (env, echo) = env_with(RouteWebSocket {
        max_frame: ByteSize(1024),
        max_message: ByteSize(4096),
        ..Default::default()
    })
    .await;
    let mut ws = connect(&env, &[]).await;
    echoed(&mut ws, &"a".repeat(1024)).await;
    ws.send(Message::text("b".repeat(2048))).await.unwrap();
    assert_eq!(closed_with(&mut ws).await, CloseCode::Size);
    assert_eq!(echo.received(), 1);
    let closed = until_event(&env, "websocket.closed", "too-big").await;
    assert_eq!(closed["code"], 1009);
}

#[tokio::test]
async fn a_revoked_tokens_connection_is_closed_with_1008() {
    let (env, _echo) = env_with(RouteWebSocket::default()).await;
    let (_, token) = signed_in(&env, "ws.reader@example.com", &["member"]).await;
    let bearer = format!("Bearer {token}");
    let mut ws = connect(&env, &[("authorization", &bearer)]).await;
    echoed(&mut ws, "before").await;

    sign_out(env.url("/auth/logout"), &token).await;
    // The clock does not move: the notice, not a timer, closes the connection.
    assert_eq!(closed_with(&mut ws).await, CloseCode::Policy);
    until_event(&env, "websocket.closed", "revoked").await;
}

/// Signs `token` out at `url` (its access token revoked).
async fn sign_out(url: String, token: &str) {
    let res = client().post(url).bearer_auth(token).send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
}

/// Signs in through the hosted sign-in form; returns the session cookie pair.
async fn session_cookie(env: &Env, email: &str) -> String {
    env.register(email).await;
    let c = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = c.get(env.url("/auth/pages/sign-in")).send().await.unwrap();
    let form_cookie = crate::pages::cookie_pair(&res, "__Host-palisade-form").unwrap();
    let token = crate::pages::form_token(&res.text().await.unwrap());
    let res = c
        .post(env.url("/auth/pages/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", &form_cookie)
        .body(format!(
            "form_token={token}&return_to=&email={}&password={}",
            email.replace('@', "%40"),
            PASSWORD.replace(' ', "+")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    crate::pages::cookie_pair(&res, "__Host-palisade").expect("session cookie")
}

#[tokio::test]
async fn a_cookie_signed_in_upgrade_from_another_site_is_refused_before_the_upstream() {
    let (env, echo) = env_with(RouteWebSocket {
        allowed_origins: vec!["https://app.example.com".into()],
        ..Default::default()
    })
    .await;
    let cookie = session_cookie(&env, "ws.browser@example.com").await;
    let (status, body) = refused(
        &env,
        &[("cookie", &cookie), ("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["type"], "urn:palisade:problem:websocket-origin");
    until_event(&env, "websocket.refused", "origin").await;
    assert!(
        echo.offered.lock().unwrap().is_empty(),
        "never reached the upstream"
    );

    // The gateway's own origin and an allowed one pass; so does a bearer token from anywhere.
    let own = format!("http://{}", env.gw.gateway.addr);
    let mut ws = connect(&env, &[("cookie", &cookie), ("origin", &own)]).await;
    echoed(&mut ws, "same site").await;
    let mut ws = connect(
        &env,
        &[("cookie", &cookie), ("origin", "https://app.example.com")],
    )
    .await;
    echoed(&mut ws, "allowed").await;
    let (_, token) = signed_in(&env, "ws.api@example.com", &["member"]).await;
    let bearer = format!("Bearer {token}");
    let mut ws = connect(
        &env,
        &[
            ("authorization", &bearer),
            ("origin", "https://evil.example"),
        ],
    )
    .await;
    echoed(&mut ws, "not a cookie").await;
}

#[tokio::test]
async fn a_revoked_sessions_cookie_connection_is_closed_with_1008() {
    let (env, _echo) = env_with(RouteWebSocket::default()).await;
    let cookie = session_cookie(&env, "ws.session@example.com").await;
    let own = format!("http://{}", env.gw.gateway.addr);
    let mut ws = connect(&env, &[("cookie", &cookie), ("origin", &own)]).await;
    echoed(&mut ws, "signed in").await;
    let user = env
        .identity()
        .store
        .user_by_email("ws.session@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        env.identity()
            .revoke_user_sessions(user.id, palisade_store::identity::RevocationReason::Admin)
            .await
            .unwrap(),
        1
    );
    assert_eq!(closed_with(&mut ws).await, CloseCode::Policy);
    until_event(&env, "websocket.closed", "revoked").await;
}

#[tokio::test]
async fn text_messages_pass_the_inspect_detectors_and_an_injection_closes_with_1008() {
    let (env, echo) = env_with_route(
        RouteWebSocket {
            inspect: true,
            ..Default::default()
        },
        |r| {
            r.inspect = Some(palisade_gateway::config::inspect::RouteInspect {
                mode: Some(palisade_gateway::config::inspect::InspectMode::Block),
                ..Default::default()
            })
        },
    )
    .await;
    let mut ws = connect(&env, &[]).await;
    echoed(&mut ws, r#"{"name":"O'Brien's pub","note":"it's fine"}"#).await;
    echoed(&mut ws, "plain words, nothing to see").await;
    ws.send(Message::text(r#"{"id":"1' OR '1'='1' --"}"#))
        .await
        .unwrap();
    assert_eq!(closed_with(&mut ws).await, CloseCode::Policy);
    assert_eq!(
        echo.received(),
        2,
        "the injection never reached the upstream"
    );
    let finding = until_event(&env, "inspect.injection_attempt", "blocked").await;
    assert_eq!(finding["detector"], "sqli", "{finding}");
    assert_eq!(finding["location"], "json \"id\"", "{finding}");
    assert!(!finding.to_string().contains("OR"), "{finding}");
    until_event(&env, "websocket.closed", "inspect").await;
}

#[tokio::test]
async fn an_upgrade_to_another_protocol_is_refused_not_spliced() {
    let (env, echo) = env_with(RouteWebSocket::default()).await;
    for upgrade in ["h2c", "websocket, h2c"] {
        let request = format!(
            "GET /ws/echo HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: {upgrade}\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        );
        let exchange = raw_exchange(env.gw.gateway.addr, request.as_bytes());
        let raw = tokio::time::timeout(HANG, exchange)
            .await
            .expect("hang: the refusal");
        assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
        assert_eq!(
            body_json(&raw)["type"],
            "urn:palisade:problem:websocket-upgrade-only"
        );
    }
    until_event(&env, "websocket.refused", "not-websocket").await;
    assert!(
        echo.offered.lock().unwrap().is_empty(),
        "never reached the upstream"
    );
}

#[tokio::test]
async fn one_connection_over_the_callers_cap_is_refused_with_429() {
    let (env, _echo) = env_with(RouteWebSocket {
        max_connections_per_identity: 2,
        ..Default::default()
    })
    .await;
    let mut first = connect(&env, &[]).await;
    let mut second = connect(&env, &[]).await;
    echoed(&mut first, "1").await;
    echoed(&mut second, "2").await;
    let (status, body) = refused(&env, &[]).await;
    assert_eq!(status, 429);
    assert_eq!(body["type"], "urn:palisade:problem:websocket-connections");
    until_event(&env, "websocket.refused", "connections").await;

    // A closed connection gives its place back.
    first.close(None).await.unwrap();
    while tokio::time::timeout(HANG, first.next())
        .await
        .expect("hang: closing")
        .is_some()
    {}
    let policy = env
        .gw
        .gateway
        .state
        .routes
        .iter()
        .find_map(|r| r.websocket.clone())
        .unwrap();
    tokio::time::timeout(HANG, async {
        while policy.live("ip:127.0.0.1") > 1 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("hang: the slot is never given back");
    let mut third = connect(&env, &[]).await;
    echoed(&mut third, "3").await;
}

#[test]
fn the_websocket_table_is_read_strictly_and_checked() {
    use palisade_gateway::config::{Config, Environment, checks};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("palisade.toml");
    let route = "[[routes]]\nprefix = \"/ws/\"\nupstream = \"http://127.0.0.1:3000\"\n";
    std::fs::write(
        &file,
        format!(
            "{route}websocket = {{ max_message = \"32KiB\", max_frame = \"8KiB\", \
             messages_per_second = 5, burst = 10, max_throttled = 3, \
             max_connections_per_identity = 2, deflate = \"refuse\", \
             allowed_origins = [\"https://app.example.com\"] }}\n"
        ),
    )
    .unwrap();
    let c = Config::load_file(&file).unwrap();
    let ws = c.routes[0].websocket.clone().unwrap();
    assert_eq!((ws.max_message.0, ws.max_frame.0), (32 * 1024, 8 * 1024));
    assert_eq!(
        (ws.messages_per_second, ws.burst, ws.max_throttled),
        (5, 10, 3)
    );
    assert!(
        checks::problems(&c, Environment::Dev)
            .iter()
            .all(|p| !p.contains("websocket")),
        "{:?}",
        checks::problems(&c, Environment::Dev)
    );

    std::fs::write(&file, format!("{route}websocket = {{ max_mesage = 1 }}\n")).unwrap();
    let err = Config::load_file(&file).unwrap_err().to_string();
    assert!(err.contains("max_mesage"), "{err}");
    std::fs::write(
        &file,
        format!("{route}websocket = {{ deflate = \"bounded\" }}\n"),
    )
    .unwrap();
    assert!(Config::load_file(&file).is_err(), "only refuse is built");

    std::fs::write(
        &file,
        format!(
            "{route}websocket = {{ max_frame = \"1MiB\", max_message = \"64KiB\", burst = 0, \
             allowed_origins = [\"evil\"], inspect = true }}\n"
        ),
    )
    .unwrap();
    let c = Config::load_file(&file).unwrap();
    let found: Vec<String> = checks::problems(&c, Environment::Dev)
        .into_iter()
        .filter(|p| p.contains("websocket"))
        .collect();
    assert_eq!(found.len(), 4, "{found:?}");
}

/// Two gateways sharing a store and the Redis hot state (`PALISADE_TEST_REDIS_URL`), the echo
/// behind `/ws/` on both.
async fn replicas(echo: &Echo) -> Option<(TestGateway, TestGateway, tempfile::TempDir)> {
    let Ok(url) = std::env::var("PALISADE_TEST_REDIS_URL") else {
        println!("skipped: PALISADE_TEST_REDIS_URL not set");
        return None;
    };
    let clock = Arc::new(ManualClock::starting_at(1_900_000_000_000));
    let prefix = format!("t{}", uuid::Uuid::now_v7().simple());
    let dir = tempfile::tempdir().unwrap();
    let mut started = Vec::new();
    for _ in 0..2 {
        let (url, prefix, data_dir) = (url.clone(), prefix.clone(), dir.path().join("shared"));
        let gw = start_clocked(
            move |c| {
                c.store.url = "sqlite:".into();
                c.server.data_dir = data_dir;
                c.secrets.signing_key = "websocket-test-signing-key-0123456789abcdef".into();
                c.secrets.cookie_key = "websocket-test-cookie-key-0123456789abcdef0".into();
                c.hot_state.url = Some(url);
                c.hot_state.prefix = prefix;
            },
            vec![ws_route(echo, RouteWebSocket::default())],
            clock.clone(),
        )
        .await;
        started.push(gw);
    }
    let b = started.pop().unwrap();
    let a = started.pop().unwrap();
    Some((a, b, dir))
}

#[tokio::test]
async fn a_token_revoked_through_another_replica_closes_the_connection_with_1008() {
    let echo = Echo::start().await;
    let Some((a, b, _dir)) = replicas(&echo).await else {
        return;
    };
    let http = client();
    let email = "ws.replicas@example.com";
    let res = http
        .post(a.url("/auth/register"))
        .json(&serde_json::json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let login: serde_json::Value = http
        .post(a.url("/auth/login"))
        .json(&serde_json::json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {token}");
    let mut ws = connect_to(a.gateway.addr, &[("authorization", &bearer)]).await;
    echoed(&mut ws, "on replica a").await;

    // Signed out through B: A hears of the flag on the shared hot state's broadcast.
    sign_out(b.url("/auth/logout"), &token).await;
    assert_eq!(closed_with(&mut ws).await, CloseCode::Policy);
}
