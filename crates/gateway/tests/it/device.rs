//! The device authorization grant (RFC 8628) over HTTP: a device asks, polls too fast
//! (`slow_down`), waits (`authorization_pending`), a signed-in person sees the client and the
//! address and approves, the device gets tokens once; denial gives `access_denied`, expiry on
//! the test clock `expired_token`; user codes are entered loosely and wrong ones are limited.

use crate::common::*;
use crate::identity::Env;
use palisade_gateway::config::Config;
use serde_json::{Value, json};
use std::time::Duration;

const CLIENT: &str = "tv-app";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn device_on(c: &mut Config) {
    c.auth.device.clients = vec![CLIENT.into()];
    c.auth.device.verification_uri = "https://id.example.com/auth/device".into();
    c.auth.device.max_entry_failures = 3;
}

async fn form(env: &Env, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let body = serde_urlencoded::to_string(fields).unwrap();
    env.http
        .post(env.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn ask(env: &Env) -> Value {
    let res = form(env, "/auth/device/authorize", &[("client_id", CLIENT)]).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

/// Polls once; the status and the JSON body.
async fn poll(env: &Env, device_code: &str) -> (u16, Value) {
    let res = form(
        env,
        "/auth/token",
        &[
            ("grant_type", GRANT),
            ("device_code", device_code),
            ("client_id", CLIENT),
        ],
    )
    .await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

async fn oauth_error(env: &Env, device_code: &str) -> String {
    let (status, body) = poll(env, device_code).await;
    assert_eq!(status, 400, "{body}");
    body["error"].as_str().unwrap().to_string()
}

async fn decide(env: &Env, token: &str, what: &str, code: &str) -> reqwest::Response {
    env.http
        .post(env.url(&format!("/auth/device/{what}")))
        .bearer_auth(token)
        .json(&json!({ "user_code": code }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn approval_then_tokens_once_with_slow_down_and_pending() {
    let env = Env::start(device_on).await;
    let token = env.admin("owner@example.com").await;
    let grant = ask(&env).await;
    let user_code = grant["user_code"].as_str().unwrap().to_string();
    let device_code = grant["device_code"].as_str().unwrap().to_string();
    assert_eq!(
        grant["verification_uri"],
        "https://id.example.com/auth/device"
    );
    assert_eq!(
        grant["verification_uri_complete"],
        format!("https://id.example.com/auth/device?user_code={user_code}")
    );
    assert_eq!(
        (grant["expires_in"].as_u64(), grant["interval"].as_u64()),
        (Some(600), Some(5))
    );
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");

    assert_eq!(
        oauth_error(&env, &device_code).await,
        "authorization_pending"
    );
    // Polled again at once: slow_down, and the interval is now 10 s.
    assert_eq!(oauth_error(&env, &device_code).await, "slow_down");
    env.advance(Duration::from_secs(6));
    assert_eq!(
        oauth_error(&env, &device_code).await,
        "slow_down",
        "6 s < 10 s: now 15 s"
    );
    env.advance(Duration::from_secs(14));
    assert_eq!(
        oauth_error(&env, &device_code).await,
        "slow_down",
        "14 s < 15 s: now 20 s"
    );
    env.advance(Duration::from_secs(20));
    assert_eq!(
        oauth_error(&env, &device_code).await,
        "authorization_pending"
    );

    // The person sees the client and the address; the code is entered loosely.
    let loose = user_code.to_lowercase().replace('-', " ");
    let res = decide(&env, &token, "lookup", &loose).await;
    assert_eq!(res.status(), 200);
    let shown: Value = res.json().await.unwrap();
    assert_eq!(shown["client_id"], CLIENT);
    assert_eq!(shown["requested_from"], "127.0.0.1");
    assert_eq!(shown["status"], "pending");
    let res = decide(&env, &token, "approve", &user_code).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "approved");
    // Decided once.
    assert_problem(
        decide(&env, &token, "deny", &user_code).await,
        409,
        "device-code-decided",
    )
    .await;

    env.advance(Duration::from_secs(20));
    let (status, tokens) = poll(&env, &device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    let access = tokens["access_token"].as_str().unwrap();
    let me: Value = env.get_with("/auth/me", access).await.json().await.unwrap();
    assert_eq!(me["user"]["email"], "owner@example.com");
    // Single use: the device code is spent.
    env.advance(Duration::from_secs(20));
    assert_eq!(oauth_error(&env, &device_code).await, "invalid_grant");
    // The code is not another client's, and other grants are not served here.
    let res = form(
        &env,
        "/auth/token",
        &[
            ("grant_type", "password"),
            ("username", "x"),
            ("password", "y"),
        ],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );

    let events: Vec<&'static str> = env
        .gw
        .gateway
        .state
        .audit
        .recent()
        .iter()
        .map(|e| e.event_type)
        .collect();
    for t in [
        "auth.device_requested",
        "auth.device_approved",
        "auth.device_token_issued",
    ] {
        assert!(events.contains(&t), "{t} in {events:?}");
    }
}

#[tokio::test]
async fn denial_expiry_unknown_clients_and_wrong_codes() {
    let env = Env::start(device_on).await;
    let token = env.admin("owner@example.com").await;

    // Denied: access_denied, never tokens.
    let grant = ask(&env).await;
    let device_code = grant["device_code"].as_str().unwrap();
    let res = decide(&env, &token, "deny", grant["user_code"].as_str().unwrap()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(oauth_error(&env, device_code).await, "access_denied");

    // Expired on the test clock: expired_token, and the user code is dead too.
    let grant = ask(&env).await;
    let device_code = grant["device_code"].as_str().unwrap();
    env.advance(Duration::from_secs(601));
    assert_eq!(oauth_error(&env, device_code).await, "expired_token");
    let res = decide(
        &env,
        &token,
        "approve",
        grant["user_code"].as_str().unwrap(),
    )
    .await;
    assert_problem(res, 404, "device-code-invalid").await;

    // Another client's id with a good device code: invalid_grant; an unlisted client cannot ask.
    let grant = ask(&env).await;
    let res = form(
        &env,
        "/auth/token",
        &[
            ("grant_type", GRANT),
            ("device_code", grant["device_code"].as_str().unwrap()),
            ("client_id", "other-app"),
        ],
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let res = form(
        &env,
        "/auth/device/authorize",
        &[("client_id", "other-app")],
    )
    .await;
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    // JSON is not the form the RFC names.
    let res = env
        .post("/auth/device/authorize", json!({ "client_id": CLIENT }))
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );

    // Wrong codes are limited (3 here, the expired one above counted): then even the right
    // code waits.
    let good = grant["user_code"].as_str().unwrap();
    for wrong in ["BCDF-GHJK", "not a code"] {
        assert_problem(
            decide(&env, &token, "lookup", wrong).await,
            404,
            "device-code-invalid",
        )
        .await;
    }
    let res = decide(&env, &token, "approve", good).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, 429, "device-code-entries").await;
    // The window passes on the test clock; a fresh grant can then be approved.
    env.advance(Duration::from_secs(15 * 60 + 1));
    let grant = ask(&env).await;
    let res = decide(
        &env,
        &token,
        "approve",
        grant["user_code"].as_str().unwrap(),
    )
    .await;
    assert_eq!(res.status(), 200);
    // Without a sign-in there is no approving.
    let res = env
        .post(
            "/auth/device/approve",
            json!({ "user_code": grant["user_code"] }),
        )
        .await;
    assert_eq!(res.status(), 401);
}

/// A route that wants a sign-in no older than 15 minutes.
fn device_and_recent_route(c: &mut Config) {
    device_on(c);
    let upstream = c.routes[0].upstream.clone();
    c.routes.insert(
        0,
        palisade_gateway::config::RouteConfig {
            prefix: "/api/profile/".into(),
            upstream,
            auth: Some(palisade_core::policy::AuthRequirement::Any),
            max_auth_age: Some(palisade_gateway::config::units::HumanDuration(
                Duration::from_secs(15 * 60),
            )),
            ..Default::default()
        },
    );
}

/// Gets tokens for a new device grant approved with `approver`'s access token.
async fn device_tokens(env: &Env, approver: &str) -> Value {
    let grant = ask(env).await;
    let code = grant["user_code"].as_str().unwrap();
    assert_eq!(decide(env, approver, "approve", code).await.status(), 200);
    let (status, tokens) = poll(env, grant["device_code"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

#[tokio::test]
async fn a_device_inherits_the_approvers_authentication_time_not_a_fresh_one() {
    let env = Env::start(device_and_recent_route).await;
    env.register("ida@example.com").await;
    let signed_in = env.login("ida@example.com").await;
    let approver = signed_in["access_token"].as_str().unwrap();
    // Approved at once: the device is as recent as the approver's sign-in.
    let fresh = device_tokens(&env, approver).await;
    let fresh = fresh["access_token"].as_str().unwrap();
    assert_eq!(env.get_with("/api/profile/me", fresh).await.status(), 200);

    // Approved 16 minutes after the approver signed in, with a refreshed token (a refresh keeps
    // the sign-in's auth_time): the device's sign-in is 16 minutes old too.
    env.advance(Duration::from_secs(16 * 60));
    let refreshed: Value = env
        .post(
            "/auth/refresh",
            json!({"refresh_token": signed_in["refresh_token"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let late = device_tokens(&env, refreshed["access_token"].as_str().unwrap()).await;
    let res = env
        .get_with("/api/profile/me", late["access_token"].as_str().unwrap())
        .await;
    assert_problem(res, 401, "insufficient-user-authentication").await;
}

#[tokio::test]
async fn an_api_key_neither_approves_a_device_nor_adds_a_sign_in_factor_or_identity() {
    let env = Env::start(device_on).await;
    env.register("jo@example.com").await;
    let access = env.login("jo@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = env
        .http
        .post(env.url("/auth/api-keys"))
        .bearer_auth(&access)
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let key = res.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let grant = ask(&env).await;
    let code = grant["user_code"].as_str().unwrap();
    for what in ["lookup", "approve", "deny"] {
        assert_problem(decide(&env, &key, what, code).await, 403, "needs-a-sign-in").await;
    }
    for (path, body) in [
        ("/auth/passkeys/register/start", json!({"name": "k"})),
        ("/auth/mfa/totp", json!({"name": "phone"})),
        ("/auth/mfa/recovery-codes", json!({})),
        ("/auth/federated/any/link", json!({"return_to": ""})),
    ] {
        let res = env
            .http
            .post(env.url(path))
            .header("x-api-key", &key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_problem(res, 403, "needs-a-sign-in").await;
    }
    // The user's own sign-in still approves.
    assert_eq!(decide(&env, &access, "approve", code).await.status(), 200);
}
