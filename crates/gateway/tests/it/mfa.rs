//! Assurance levels over HTTP (issue 18): what a sign-in proved (`amr`, `acr`, `auth_time`) is
//! carried by the session's tokens, read from the test clock, and kept by refresh.

use crate::identity::{Env, PASSWORD};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use std::time::Duration;

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&B64.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn password_sign_in_is_aal1_at_the_clock_and_refresh_keeps_it() {
    let env = Env::start(|_| {}).await;
    env.register("ava@example.com").await;
    let signed_in_at = env.identity().now_ms() / 1000;
    let tokens = env.login("ava@example.com").await;
    let claims = payload(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["acr"], "aal1");
    assert_eq!(claims["auth_time"], signed_in_at);

    env.advance(Duration::from_secs(120));
    let res = env
        .post(
            "/auth/refresh",
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let refreshed: Value = res.json().await.unwrap();
    let claims = payload(refreshed["access_token"].as_str().unwrap());
    assert_eq!(claims["iat"], signed_in_at + 120, "a new token");
    assert_eq!(claims["amr"], json!(["pwd"]));
    assert_eq!(claims["acr"], "aal1");
    assert_eq!(
        claims["auth_time"], signed_in_at,
        "refresh is no authentication"
    );
}

#[tokio::test]
async fn a_browser_session_carries_its_assurance() {
    let env = Env::start(|_| {}).await;
    env.register("bea@example.com").await;
    let signed_in_at = env.identity().now_ms() / 1000;
    let res = env
        .post(
            "/auth/browser-session",
            json!({"email": "bea@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let id = env.identity();
    let value = cookie.split_once('=').unwrap().1;
    let session = id
        .cookies
        .open(value, signed_in_at)
        .expect("a valid cookie");
    let assurance = session.assurance().expect("the cookie names its level");
    assert_eq!(assurance.amr, ["pwd"]);
    assert_eq!(assurance.acr.as_str(), "aal1");
    assert_eq!(assurance.auth_time, signed_in_at);
    let stored = id
        .store
        .session_get(session.sid.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.acr.as_deref(), Some("aal1"));
    assert_eq!(stored.auth_time, Some((signed_in_at * 1000) as i64));
}

// ---------------------------------------------------------------- second factors

use crate::common::assert_problem;
use palisade_core::mfa::totp::{TotpParams, code_at};
use palisade_gateway::config::RouteConfig;
use palisade_gateway::config::units::HumanDuration;

/// A signed-in user with a confirmed authenticator: its seed, its recovery codes, and an aal1
/// access token from before the enrollment.
struct Enrolled {
    seed: Vec<u8>,
    recovery: Vec<String>,
    aal1: String,
}

impl Enrolled {
    fn code(&self, env: &Env) -> String {
        code_at(
            &self.seed,
            env.identity().now_ms() / 1000,
            &TotpParams::default(),
        )
    }
}

async fn call(
    env: &Env,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = env.http.request(method, env.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

/// The next 30-second step: a new code, so the previous one's single use does not interfere.
fn next_step(env: &Env) {
    env.advance(Duration::from_secs(30));
}

async fn enroll(env: &Env, email: &str) -> Enrolled {
    env.register(email).await;
    let aal1 = env.login(email).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = call(
        env,
        reqwest::Method::POST,
        "/auth/mfa/totp",
        &aal1,
        Some(json!({"name": "phone"})),
    )
    .await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let enrollment: Value = res.json().await.unwrap();
    let uri = enrollment["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/palisade:"), "{uri}");
    assert!(uri.contains("&period=30") && uri.contains("&digits=6"));
    assert!(enrollment["qr_svg"].as_str().unwrap().contains("<svg"));
    let seed = palisade_core::mfa::base32::decode(enrollment["secret"].as_str().unwrap()).unwrap();
    let mut enrolled = Enrolled {
        seed,
        recovery: Vec::new(),
        aal1,
    };
    // Not a factor before its first code: sign-in still needs the password only.
    assert!(env.login(email).await["access_token"].is_string());

    let path = format!(
        "/auth/mfa/totp/{}/confirm",
        enrollment["id"].as_str().unwrap()
    );
    let wrong = call(
        env,
        reqwest::Method::POST,
        &path,
        &enrolled.aal1,
        Some(json!({"code": "000000"})),
    )
    .await;
    assert_problem(wrong, 422, "invalid-code").await;
    let res = call(
        env,
        reqwest::Method::POST,
        &path,
        &enrolled.aal1,
        Some(json!({"code": enrolled.code(env)})),
    )
    .await;
    assert_eq!(res.status(), 200);
    let confirmed: Value = res.json().await.unwrap();
    enrolled.recovery = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(enrolled.recovery.len(), 10);
    next_step(env);
    enrolled
}

async fn password(env: &Env, email: &str) -> Value {
    let res = env
        .post("/auth/login", json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn verify(env: &Env, body: Value) -> reqwest::Response {
    env.post("/auth/mfa/verify", body).await
}

fn events(env: &Env, kind: &str) -> Vec<palisade_gateway::audit::AuditEvent> {
    env.gw
        .gateway
        .state
        .audit
        .recent()
        .into_iter()
        .filter(|e| e.event_type == kind)
        .collect()
}

/// Wrong factors at sign-in or step-up (not the enrollment's wrong first code).
fn sign_in_failures(env: &Env) -> usize {
    events(env, "mfa.failed")
        .iter()
        .filter(|e| e.outcome == palisade_gateway::audit::Outcome::Failure)
        .filter(|e| e.details["during"].is_null())
        .count()
}

#[tokio::test]
async fn sign_in_with_totp_is_aal2_and_each_code_works_once() {
    let env = Env::start(|_| {}).await;
    let user = enroll(&env, "cy@example.com").await;
    assert_eq!(events(&env, "mfa.enrolled").len(), 1);

    let first = password(&env, "cy@example.com").await;
    assert_eq!(first["mfa_required"], true);
    assert_eq!(first["methods"], json!(["totp", "recovery_code"]));
    assert!(
        first.get("access_token").is_none(),
        "no tokens before the factor"
    );
    let code = user.code(&env);
    let res = verify(&env, json!({"mfa_token": first["mfa_token"], "code": code})).await;
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    let claims = payload(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["acr"], "aal2");
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["auth_time"], env.identity().now_ms() / 1000);
    assert_eq!(events(&env, "mfa.verified").len(), 1);

    // The same code, in the same step, with a fresh password sign-in: refused.
    let second = password(&env, "cy@example.com").await;
    let again = verify(
        &env,
        json!({"mfa_token": second["mfa_token"], "code": code}),
    )
    .await;
    assert_problem(again, 401, "invalid-second-factor").await;
    assert_eq!(sign_in_failures(&env), 1);

    // A code two steps old is refused; the previous step's is accepted once.
    env.advance(Duration::from_secs(61));
    let third = password(&env, "cy@example.com").await;
    let two_old = code_at(
        &user.seed,
        env.identity().now_ms() / 1000 - 60,
        &TotpParams::default(),
    );
    let res = verify(
        &env,
        json!({"mfa_token": third["mfa_token"], "code": two_old}),
    )
    .await;
    assert_eq!(res.status(), 401, "two steps old");
    env.advance(Duration::from_secs(5)); // past the ladder's first wait (1 s)
    let previous = code_at(
        &user.seed,
        env.identity().now_ms() / 1000 - 30,
        &TotpParams::default(),
    );
    let res = verify(
        &env,
        json!({"mfa_token": third["mfa_token"], "code": previous}),
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

#[tokio::test]
async fn the_mfa_token_is_single_use_and_expires() {
    let env = Env::start(|_| {}).await;
    let user = enroll(&env, "di@example.com").await;
    let pending = password(&env, "di@example.com").await;
    let token = pending["mfa_token"].clone();
    assert_eq!(pending["expires_in"], 300);
    let ok = verify(&env, json!({"mfa_token": token, "code": user.code(&env)})).await;
    assert_eq!(ok.status(), 200);
    next_step(&env);
    let reused = verify(&env, json!({"mfa_token": token, "code": user.code(&env)})).await;
    assert_problem(reused, 401, "invalid-mfa-token").await;

    next_step(&env);
    let late = password(&env, "di@example.com").await;
    env.advance(Duration::from_secs(300));
    let expired = verify(
        &env,
        json!({"mfa_token": late["mfa_token"], "code": user.code(&env)}),
    )
    .await;
    assert_problem(expired, 401, "invalid-mfa-token").await;

    // Bound to the attempt: another device cannot complete it.
    let elsewhere = password(&env, "di@example.com").await;
    let res = env
        .http
        .post(env.url("/auth/mfa/verify"))
        .header("user-agent", "another-device/1.0")
        .json(&json!({"mfa_token": elsewhere["mfa_token"], "code": user.code(&env)}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "invalid-mfa-token").await;
}

#[tokio::test]
async fn wrong_codes_climb_the_brute_force_ladder() {
    let env = Env::start(|c| {
        let bf = &mut c.auth.brute_force;
        (bf.medium_failures, bf.high_failures, bf.critical_failures) = (100, 200, 300);
    })
    .await;
    let user = enroll(&env, "ed@example.com").await;
    let pending = password(&env, "ed@example.com").await;
    let wrong = verify(
        &env,
        json!({"mfa_token": pending["mfa_token"], "code": "123456"}),
    )
    .await;
    assert_eq!(wrong.headers()["retry-after"], "1");
    assert_problem(wrong, 401, "invalid-second-factor").await;
    let wrong = verify(
        &env,
        json!({"mfa_token": pending["mfa_token"], "recovery_code": "AAAA-BBBB"}),
    )
    .await;
    assert_problem(wrong, 429, "login-delayed").await;
    env.advance(Duration::from_secs(1));
    let wrong = verify(
        &env,
        json!({"mfa_token": pending["mfa_token"], "code": "654321"}),
    )
    .await;
    assert_eq!(wrong.headers()["retry-after"], "2", "the second step");
    // Until the wait is over even the right code is not checked.
    let early = verify(
        &env,
        json!({"mfa_token": pending["mfa_token"], "code": user.code(&env)}),
    )
    .await;
    assert_problem(early, 429, "login-delayed").await;
    // The password sign-in shares the ladder: it waits too.
    let res = env
        .post(
            "/auth/login",
            json!({"email": "ed@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(res, 429, "login-delayed").await;
    env.advance(Duration::from_secs(2));
    let ok = verify(
        &env,
        json!({"mfa_token": pending["mfa_token"], "code": user.code(&env)}),
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(sign_in_failures(&env), 2, "each wrong code is on record");
}

#[tokio::test]
async fn recovery_codes_work_once_and_a_new_set_replaces_the_old() {
    let env = Env::start(|_| {}).await;
    let user = enroll(&env, "fay@example.com").await;
    let pending = password(&env, "fay@example.com").await;
    let code = user.recovery[0].to_lowercase().replace('-', "");
    let res = verify(
        &env,
        json!({"mfa_token": pending["mfa_token"], "recovery_code": code}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    let claims = payload(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd", "rec", "mfa"]));
    assert_eq!(events(&env, "mfa.recovery_used").len(), 1);
    let notices = events(&env, "user.notified");
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].details["notice"], "recovery_code_used");
    assert_eq!(notices[0].details["remaining"], 9);

    env.advance(Duration::from_secs(2));
    let pending = password(&env, "fay@example.com").await;
    let again = verify(
        &env,
        json!({"mfa_token": pending["mfa_token"], "recovery_code": user.recovery[0]}),
    )
    .await;
    assert_problem(again, 401, "invalid-second-factor").await;

    // Regenerating needs aal2 and invalidates the old set.
    let aal2 = tokens["access_token"].as_str().unwrap();
    let refused = call(
        &env,
        reqwest::Method::POST,
        "/auth/mfa/recovery-codes",
        &user.aal1,
        None,
    )
    .await;
    assert!(
        refused.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_user_authentication")
    );
    assert_problem(refused, 401, "insufficient-user-authentication").await;
    let res = call(
        &env,
        reqwest::Method::POST,
        "/auth/mfa/recovery-codes",
        aal2,
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let fresh: Value = res.json().await.unwrap();
    assert_eq!(fresh["recovery_codes"].as_array().unwrap().len(), 10);
    env.advance(Duration::from_secs(2));
    let pending = password(&env, "fay@example.com").await;
    let old = verify(
        &env,
        json!({"mfa_token": pending["mfa_token"], "recovery_code": user.recovery[1]}),
    )
    .await;
    assert_eq!(old.status(), 401, "the old set is gone");
    env.advance(Duration::from_secs(2));
    let new = verify(
        &env,
        json!({"mfa_token": pending["mfa_token"], "recovery_code": fresh["recovery_codes"][0]}),
    )
    .await;
    assert_eq!(new.status(), 200);
}

fn secure_routes(c: &mut palisade_gateway::config::Config) {
    use palisade_core::policy::AuthRequirement;
    let upstream = c.routes[0].upstream.clone();
    c.routes.insert(
        0,
        RouteConfig {
            prefix: "/api/payouts/".into(),
            upstream: upstream.clone(),
            auth: Some(AuthRequirement::Any),
            mfa: true,
            ..Default::default()
        },
    );
    c.routes.insert(
        0,
        RouteConfig {
            prefix: "/api/profile/".into(),
            upstream: upstream.clone(),
            auth: Some(AuthRequirement::Any),
            max_auth_age: Some(HumanDuration(Duration::from_secs(15 * 60))),
            ..Default::default()
        },
    );
    c.routes.insert(
        0,
        RouteConfig {
            prefix: "/api/batch/".into(),
            upstream,
            auth: Some(AuthRequirement::ApiKey),
            mfa: true,
            ..Default::default()
        },
    );
}

#[tokio::test]
async fn an_mfa_route_challenges_aal1_and_admits_the_same_user_after_step_up() {
    let env = Env::start(secure_routes).await;
    let user = enroll(&env, "gus@example.com").await;
    let res = env.get_with("/api/payouts/1", &user.aal1).await;
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer error=\"insufficient_user_authentication\", error_description=\"A different \
         authentication level is required\", acr_values=\"aal2\""
    );
    assert_problem(res, 401, "insufficient-user-authentication").await;
    assert_eq!(events(&env, "mfa.step_up_required").len(), 1);
    // Forward auth decides the same for a proxy that keeps its own routing.
    let forward = |token: String| {
        env.http
            .get(env.url("/auth/verify"))
            .bearer_auth(token)
            .header("x-original-method", "GET")
            .header("x-original-uri", "/api/payouts/1")
            .send()
    };
    let res = forward(user.aal1.clone()).await.unwrap();
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("acr_values=\"aal2\"")
    );
    assert_problem(res, 401, "insufficient-user-authentication").await;

    // Step-up: the same signed-in user proves TOTP and gets a new aal2 session.
    let old_sid = payload(&user.aal1)["sid"].clone();
    let res = call(
        &env,
        reqwest::Method::POST,
        "/auth/mfa/verify",
        &user.aal1,
        Some(json!({"code": user.code(&env)})),
    )
    .await;
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    let stepped = tokens["access_token"].as_str().unwrap();
    let claims = payload(stepped);
    assert_eq!(claims["acr"], "aal2");
    assert_ne!(claims["sid"], old_sid, "the session rotates");
    assert_eq!(env.get_with("/api/payouts/1", stepped).await.status(), 200);
    assert_eq!(forward(stepped.to_string()).await.unwrap().status(), 200);
    // The stepped-up session is over.
    assert_eq!(env.get_with("/auth/me", &user.aal1).await.status(), 401);
    assert_eq!(events(&env, "mfa.step_up").len(), 1);
}

#[tokio::test]
async fn changing_a_sign_in_factor_needs_a_recent_sign_in() {
    let env = Env::start(|_| {}).await;
    env.register("ivy@example.com").await;
    let old = env.login("ivy@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // 16 minutes later the access token still holds, but the sign-in is older than
    // auth.mfa.recent_auth (15m): no factor is added with it.
    env.advance(Duration::from_secs(16 * 60));
    let attempt = |token: String, path: &'static str, body: Value| {
        let env = &env;
        async move {
            env.http
                .post(env.url(path))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    for (path, body) in [
        ("/auth/mfa/totp", json!({"name": "phone"})),
        ("/auth/passkeys/register/start", json!({"name": "key"})),
    ] {
        let res = attempt(old.clone(), path, body).await;
        assert_eq!(
            res.headers()["www-authenticate"],
            "Bearer error=\"insufficient_user_authentication\", error_description=\"A different \
             authentication level is required\", max_age=900",
            "{path}"
        );
        assert_problem(res, 401, "insufficient-user-authentication").await;
    }
    // A fresh sign-in may.
    let fresh = env.login("ivy@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = attempt(fresh, "/auth/mfa/totp", json!({"name": "phone"})).await;
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn max_auth_age_refuses_an_old_auth_time_on_the_test_clock() {
    let env = Env::start(secure_routes).await;
    env.register("hal@example.com").await;
    let tokens = env.login("hal@example.com").await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(env.get_with("/api/profile/me", access).await.status(), 200);
    env.advance(Duration::from_secs(15 * 60));
    assert_eq!(env.get_with("/api/profile/me", access).await.status(), 200);
    env.advance(Duration::from_secs(1));
    // A refreshed token keeps the old auth_time: still too old.
    let res = env
        .post(
            "/auth/refresh",
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    let refreshed: Value = res.json().await.unwrap();
    for token in [access, refreshed["access_token"].as_str().unwrap()] {
        let res = env.get_with("/api/profile/me", token).await;
        assert_eq!(
            res.headers()["www-authenticate"],
            "Bearer error=\"insufficient_user_authentication\", error_description=\"A different \
             authentication level is required\", max_age=900"
        );
        assert_problem(res, 401, "insufficient-user-authentication").await;
    }
    // Signing in again is recent enough.
    let fresh = env.login("hal@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(env.get_with("/api/profile/me", &fresh).await.status(), 200);
}

#[tokio::test]
async fn api_keys_pass_mfa_routes_only_where_auth_names_api_key() {
    let env = Env::start(secure_routes).await;
    env.register("ivo@example.com").await;
    let access = env.login("ivo@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = call(
        &env,
        reqwest::Method::POST,
        "/auth/api-keys",
        &access,
        Some(json!({"name": "batch"})),
    )
    .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let key: Value = res.json().await.unwrap();
    let key = key["key"].as_str().unwrap();
    let with_key = |path: &str| env.http.get(env.url(path)).header("x-api-key", key).send();
    assert_eq!(with_key("/api/batch/run").await.unwrap().status(), 200);
    let res = with_key("/api/payouts/1").await.unwrap();
    assert_problem(res, 401, "insufficient-user-authentication").await;
}

#[tokio::test]
async fn an_administrator_resets_a_users_factors_and_the_password_alone_works_again() {
    let env = Env::start(|_| {}).await;
    let user = enroll(&env, "jo@example.com").await;
    let admin = env.admin("root@example.com").await;
    let uid = payload(&user.aal1)["sub"].as_str().unwrap().to_string();
    let path = format!("/admin/users/{uid}/mfa");
    let res = call(&env, reqwest::Method::DELETE, &path, &user.aal1, None).await;
    assert_problem(res, 403, "forbidden").await;
    let res = call(&env, reqwest::Method::DELETE, &path, &admin, None).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["removed"], 11, "one authenticator and ten codes");
    let reset = events(&env, "mfa.reset");
    assert_eq!(reset.len(), 1);
    assert_eq!(
        events(&env, "user.notified")
            .iter()
            .filter(|e| e.details["notice"] == "mfa_reset")
            .count(),
        1
    );
    assert!(env.login("jo@example.com").await["access_token"].is_string());
}

#[tokio::test]
async fn required_roles_sign_in_within_the_grace_period_only() {
    let env = Env::start(|c| {
        c.auth.mfa.required_roles = vec!["member".into()];
        c.auth.mfa.enrollment_grace = HumanDuration(Duration::from_secs(86400));
    })
    .await;
    env.register("kim@example.com").await;
    assert!(env.login("kim@example.com").await["access_token"].is_string());
    env.advance(Duration::from_secs(86400));
    let res = env
        .post(
            "/auth/login",
            json!({"email": "kim@example.com", "password": PASSWORD}),
        )
        .await;
    assert_problem(res, 403, "mfa-enrollment-required").await;
    assert_eq!(events(&env, "mfa.enrollment_overdue").len(), 1);
}

#[tokio::test]
async fn the_sign_in_page_opens_no_session_on_the_password_alone_of_an_enrolled_account() {
    use crate::pages::{Browser, form_token, sign_in_by_form};
    let env = Env::start(|_| {}).await;
    let enrolled = enroll(&env, "page.mfa@example.com").await;
    let browser = Browser::new();
    let res = sign_in_by_form(
        &browser,
        |p| env.url(p),
        "page.mfa@example.com",
        PASSWORD,
        "",
    )
    .await;
    // The password leads to the challenge page; the pending sign-in is in its own cookie.
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "mfa");
    assert!(!browser.has_cookie("__Host-palisade"));
    assert!(browser.has_cookie("__Host-palisade-mfa"));
    assert_eq!(events(&env, "mfa.challenged").len(), 1);
    let page = browser.get(env.url("/auth/pages/mfa")).await;
    assert_eq!(page.status(), 200);
    let token = form_token(&page.text().await.unwrap());
    // The signed-in page still sends this browser to sign in.
    let res = browser.get(env.url("/auth/pages/signed-in")).await;
    assert_eq!(res.status(), 303);
    // Only the second factor opens the session.
    let res = browser
        .post(
            env.url("/auth/pages/mfa"),
            &[
                ("form_token", &token),
                ("return_to", ""),
                ("code", &enrolled.code(&env)),
            ],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert!(browser.has_cookie("__Host-palisade"));
    let res = browser.get(env.url("/auth/pages/signed-in")).await;
    assert_eq!(res.status(), 200);
}
