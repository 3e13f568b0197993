//! The e-mail flows over HTTP against a real SMTP server: Python `aiosmtpd` (pinned, installed
//! by `scripts/ensure-smtp-sink`), started by each test on a free loopback port, printing every
//! message it receives as a JSON line the test reads. Password reset end to end (request, mail,
//! token, reset, old sessions refused, new password, factors kept), the same answer for an
//! unknown address, single-use and 20-minute tokens on the test clock, the limits per address
//! and per client address, the change of address (recent sign-in, notice to the old address)
//! and address verification.
//!
//! Without Python or the package the tests say they skipped, except under `CI=true`, where a
//! missing sink fails them. Absence of a mail is shown by order, never by waiting: the one mail
//! worker runs jobs in order, so the next mail the sink gets after a request that must send
//! nothing is the one of a later request.

use crate::common::*;
use crate::identity::{Env, PASSWORD};
use palisade_core::mfa::totp::{TotpParams, code_at};
use palisade_gateway::config::Config;
use palisade_gateway::config::email::SmtpTls;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const NEW_PASSWORD: &str = "violet-Harbor-tram-1987-quince";
const RESET_PAGE: &str = "http://127.0.0.1/auth/pages/reset";
const VERIFY_PAGE: &str = "http://127.0.0.1/auth/pages/verify";

/// A running sink; stopped on drop (its stdin closed, then killed).
struct Sink {
    child: Child,
    port: u16,
    mails: tokio::sync::mpsc::UnboundedReceiver<Value>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sink {
    /// `None` (and a note on stderr) when the sink cannot be had outside CI; a panic under
    /// `CI=true`.
    fn start() -> Option<Sink> {
        let required = std::env::var("CI").is_ok_and(|v| v == "true");
        let unavailable = |why: String| {
            assert!(!required, "CI=true and the SMTP sink is missing: {why}");
            eprintln!("skipped: no SMTP sink ({why})");
            None
        };
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let python = match Command::new(format!("{root}/scripts/ensure-smtp-sink")).output() {
            Ok(out) if out.status.success() => String::from_utf8(out.stdout).unwrap(),
            Ok(out) => return unavailable(String::from_utf8_lossy(&out.stderr).into_owned()),
            Err(e) => return unavailable(e.to_string()),
        };
        let mut child = match Command::new(python.trim())
            .arg(format!("{root}/scripts/smtp-sink/sink.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => return unavailable(format!("python: {e}")),
        };
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let started: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the SMTP sink did not start ({e}): {line:?}"));
        let (tx, mails) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { return };
                if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                    return;
                }
            }
        });
        let _ = child.stdin.as_mut().unwrap().flush();
        Some(Sink {
            port: started["port"].as_u64().unwrap() as u16,
            child,
            mails,
        })
    }

    /// The next message the sink receives.
    async fn next(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(30), self.mails.recv())
            .await
            .expect("no mail reached the sink in 30 s")
            .expect("the sink stopped")
    }

    /// The next message, which must go to `to`.
    async fn next_to(&mut self, to: &str) -> Value {
        let mail = self.next().await;
        assert_eq!(mail["rcpt_tos"], json!([to]), "{mail}");
        assert_eq!(mail["mail_from"], "no-reply@example.com");
        mail
    }
}

fn mail_on(port: u16) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.smtp.host = "127.0.0.1".into();
        c.smtp.port = port;
        c.smtp.tls = SmtpTls::None;
        c.smtp.from = "Palisade <no-reply@example.com>".into();
        c.auth.email.reset_url = RESET_PAGE.into();
        c.auth.email.verify_url = VERIFY_PAGE.into();
        c.auth.email.max_per_ip = 8;
    }
}

/// The token a mail's link carries.
fn token_in(mail: &Value, page: &str) -> String {
    let body = mail["body"].as_str().unwrap();
    let at = body
        .find(&format!("{page}?token="))
        .unwrap_or_else(|| panic!("no link to {page} in {body:?}"));
    body[at + page.len() + "?token=".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

async fn forgot(env: &Env, email: &str) -> reqwest::Response {
    env.post("/auth/password/forgot", json!({ "email": email }))
        .await
}

async fn forgot_accepted(env: &Env, email: &str) -> Value {
    let res = forgot(env, email).await;
    assert_eq!(res.status(), 202);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

async fn reset(env: &Env, token: &str, password: &str) -> reqwest::Response {
    env.post(
        "/auth/password/reset",
        json!({ "token": token, "new_password": password }),
    )
    .await
}

async fn bearer(
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

/// Enrolls a confirmed TOTP authenticator for a signed-in account.
async fn enroll_totp(env: &Env, access: &str) {
    let res = bearer(
        env,
        reqwest::Method::POST,
        "/auth/mfa/totp",
        access,
        Some(json!({"name": "phone"})),
    )
    .await;
    assert_eq!(res.status(), 201);
    let enrollment: Value = res.json().await.unwrap();
    let seed = palisade_core::mfa::base32::decode(enrollment["secret"].as_str().unwrap()).unwrap();
    let code = code_at(
        &seed,
        env.identity().now_ms() / 1000,
        &TotpParams::default(),
    );
    let path = format!(
        "/auth/mfa/totp/{}/confirm",
        enrollment["id"].as_str().unwrap()
    );
    let res = bearer(
        env,
        reqwest::Method::POST,
        &path,
        access,
        Some(json!({ "code": code })),
    )
    .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_password_reset_through_the_sink_revokes_sessions_and_keeps_factors() {
    let Some(mut sink) = Sink::start() else {
        return;
    };
    let env = Env::start(mail_on(sink.port)).await;
    let rita: uuid::Uuid = env.register("rita@example.com").await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let old = env.login("rita@example.com").await;
    let old_access = old["access_token"].as_str().unwrap().to_string();
    enroll_totp(&env, &old_access).await;

    let answer = forgot_accepted(&env, "Rita@Example.com").await;
    let mail = sink.next_to("rita@example.com").await;
    assert_eq!(mail["subject"], "Reset your password");
    let token = token_in(&mail, RESET_PAGE);
    assert!(token.len() >= 22, "at least 128 bits: {token}");

    // The policy applies as at registration; a refused password leaves the token usable.
    assert_problem(reset(&env, &token, "short").await, 422, "weak-password").await;
    let res = reset(&env, &token, NEW_PASSWORD).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());

    // Every session is gone: the old access token and refresh token are refused.
    let me = bearer(&env, reqwest::Method::GET, "/auth/me", &old_access, None).await;
    assert_eq!(me.status(), 401);
    let refreshed = env
        .post(
            "/auth/refresh",
            json!({ "refresh_token": old["refresh_token"] }),
        )
        .await;
    assert_eq!(refreshed.status(), 401);
    // The old password no longer works; the new one does, and the factor is still asked for.
    let res = env
        .post(
            "/auth/login",
            json!({"email": "rita@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 401);
    // Past the brute-force ladder's delay for that wrong password.
    env.advance(Duration::from_secs(60));
    let res = env
        .post(
            "/auth/login",
            json!({"email": "rita@example.com", "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let signed_in: Value = res.json().await.unwrap();
    assert_eq!(signed_in["mfa_required"], true, "{signed_in}");

    // The user is told, by mail.
    let notice = sink.next_to("rita@example.com").await;
    assert_eq!(notice["subject"], "Your password was reset");
    let notified = events(&env, "user.notified");
    assert!(
        notified
            .iter()
            .any(|e| e.details["notice"] == "password_reset" && e.details["channel"] == "email")
    );
    let reset_events = events(&env, "auth.password_reset");
    assert_eq!(reset_events.len(), 1);
    assert_eq!(reset_events[0].details["reason"], "password_reset");
    let sessions = env.identity().store.sessions_for_user(rita, true).await;
    assert!(
        sessions
            .unwrap()
            .iter()
            .any(|s| s.revoked_reason
                == Some(palisade_store::identity::RevocationReason::PasswordReset)),
        "the old session is revoked with reason password_reset"
    );
    assert_eq!(answer["status"], "accepted");
}

#[tokio::test]
async fn an_unknown_address_gets_the_same_answer_and_no_mail() {
    let Some(mut sink) = Sink::start() else {
        return;
    };
    let env = Env::start(mail_on(sink.port)).await;
    env.register("known@example.com").await;
    let unknown = forgot(&env, "nobody@example.com").await;
    let known = forgot(&env, "known@example.com").await;
    assert_eq!(unknown.status(), known.status());
    assert_eq!(unknown.status(), 202);
    let (a, b): (Value, Value) = (unknown.json().await.unwrap(), known.json().await.unwrap());
    assert_eq!(a, b);
    // Jobs run in order: the first mail is the known address's, the unknown one sent none.
    sink.next_to("known@example.com").await;
    let requested = events(&env, "auth.password_reset_requested");
    let sent: Vec<_> = requested
        .iter()
        .map(|e| e.details["sent"].clone())
        .collect();
    assert_eq!(sent, vec![json!(false), json!(true)]);
    // An address that is not one is a 422; without [smtp] the flows say so.
    assert_problem(forgot(&env, "not an address").await, 422, "invalid-email").await;
    let off = Env::start(|_| {}).await;
    assert_problem(
        forgot(&off, "known@example.com").await,
        503,
        "mail-unavailable",
    )
    .await;
}

#[tokio::test]
async fn a_reset_token_works_once_and_spends_the_others() {
    let Some(mut sink) = Sink::start() else {
        return;
    };
    let env = Env::start(mail_on(sink.port)).await;
    env.register("una@example.com").await;
    forgot_accepted(&env, "una@example.com").await;
    let first = token_in(&sink.next_to("una@example.com").await, RESET_PAGE);
    forgot_accepted(&env, "una@example.com").await;
    let second = token_in(&sink.next_to("una@example.com").await, RESET_PAGE);
    assert_ne!(first, second);
    assert_eq!(reset(&env, &second, NEW_PASSWORD).await.status(), 200);
    assert_problem(
        reset(&env, &second, NEW_PASSWORD).await,
        400,
        "invalid-token",
    )
    .await;
    assert_problem(
        reset(&env, &first, NEW_PASSWORD).await,
        400,
        "invalid-token",
    )
    .await;
    assert_problem(
        reset(&env, "made-up", NEW_PASSWORD).await,
        400,
        "invalid-token",
    )
    .await;
    // Refusals are sampled per caller and reason: the two spent tokens are one event of two.
    let refused = events(&env, "auth.email_token_refused");
    let reasons: Vec<_> = refused
        .iter()
        .map(|e| e.details["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reasons, ["used", "unknown"]);
}

#[tokio::test]
async fn a_reset_token_expires_after_twenty_minutes_on_the_test_clock() {
    let Some(mut sink) = Sink::start() else {
        return;
    };
    let env = Env::start(mail_on(sink.port)).await;
    env.register("eve@example.com").await;
    forgot_accepted(&env, "eve@example.com").await;
    let token = token_in(&sink.next_to("eve@example.com").await, RESET_PAGE);
    env.advance(Duration::from_secs(20 * 60));
    assert_problem(
        reset(&env, &token, NEW_PASSWORD).await,
        400,
        "invalid-token",
    )
    .await;
    let refused = events(&env, "auth.email_token_refused");
    assert_eq!(refused[0].details["reason"], "expired");
    assert_eq!(refused[0].details["purpose"], "reset");

    // Just within its life it works.
    forgot_accepted(&env, "eve@example.com").await;
    let token = token_in(&sink.next_to("eve@example.com").await, RESET_PAGE);
    env.advance(Duration::from_secs(20 * 60 - 1));
    assert_eq!(reset(&env, &token, NEW_PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn mail_is_limited_per_address_and_requests_per_client_address() {
    let Some(mut sink) = Sink::start() else {
        return;
    };
    let env = Env::start(mail_on(sink.port)).await;
    env.register("ada@example.com").await;
    env.register("bob@example.com").await;
    // max_per_address = 3: the fourth request for ada gets the same answer and no mail.
    for _ in 0..4 {
        forgot_accepted(&env, "ada@example.com").await;
    }
    forgot_accepted(&env, "bob@example.com").await;
    for _ in 0..3 {
        sink.next_to("ada@example.com").await;
    }
    sink.next_to("bob@example.com").await;
    let limited = events(&env, "auth.password_reset_requested")
        .iter()
        .filter(|e| e.details["reason"] == "address-limit")
        .count();
    assert_eq!(limited, 1);

    // max_per_ip = 8: five requests so far from this client, three more pass, then 429.
    for _ in 0..3 {
        forgot_accepted(&env, "nobody@example.com").await;
    }
    let res = forgot(&env, "bob@example.com").await;
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, 429, "too-many-mail-requests").await;
    assert_eq!(events(&env, "auth.email_rate_limited").len(), 1);

    // The window passes (test clock): both limits start over.
    env.advance(Duration::from_secs(3600));
    forgot_accepted(&env, "ada@example.com").await;
    sink.next_to("ada@example.com").await;
}

#[tokio::test]
async fn changing_the_address_needs_a_recent_sign_in_and_tells_the_old_address() {
    let Some(mut sink) = Sink::start() else {
        return;
    };
    let env = Env::start(mail_on(sink.port)).await;
    env.register("old@example.com").await;
    let access = env.login("old@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    env.advance(Duration::from_secs(15 * 60 + 1));
    let change = json!({ "email": "new@example.com" });
    let res = bearer(
        &env,
        reqwest::Method::POST,
        "/auth/me/email",
        &access,
        Some(change.clone()),
    )
    .await;
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains("insufficient_user_authentication") && challenge.contains("max_age=900"),
        "{challenge}"
    );
    assert_problem(res, 401, "insufficient-user-authentication").await;

    let fresh = env.login("old@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = bearer(
        &env,
        reqwest::Method::POST,
        "/auth/me/email",
        &fresh,
        Some(change.clone()),
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "email": "new@example.com", "verified": false })
    );
    let notice = sink.next_to("old@example.com").await;
    assert_eq!(notice["subject"], "Your e-mail address was changed");
    let verification = sink.next_to("new@example.com").await;
    assert_eq!(verification["subject"], "Confirm your e-mail address");
    assert_eq!(events(&env, "user.email_changed").len(), 1);

    // The account now signs in with the new address only; the new one is taken for others.
    let res = env
        .post(
            "/auth/login",
            json!({"email": "old@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 401);
    env.advance(Duration::from_secs(60));
    env.login("new@example.com").await;
    env.register("other@example.com").await;
    let other = env.login("other@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = bearer(
        &env,
        reqwest::Method::POST,
        "/auth/me/email",
        &other,
        Some(change),
    )
    .await;
    assert_problem(res, 409, "email-taken").await;

    // The verification link of the new address: opening the page changes nothing, its
    // CSRF-checked button confirms.
    use crate::pages::{cookie_pair, form_token};
    let token = token_in(&verification, VERIFY_PAGE);
    let res = env
        .http
        .get(env.url(&format!("/auth/pages/verify?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = cookie_pair(&res, "__Host-palisade-form").expect("form cookie");
    let form = form_token(&res.text().await.unwrap());
    assert!(events(&env, "auth.email_verified").is_empty());
    let res = env
        .http
        .post(env.url("/auth/pages/verify"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", cookie)
        .body(format!("form_token={form}&token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("new@example.com is confirmed")
    );
    assert_eq!(events(&env, "auth.email_verified").len(), 1);
}

#[tokio::test]
async fn address_verification_marks_the_address_once() {
    let Some(mut sink) = Sink::start() else {
        return;
    };
    let env = Env::start(mail_on(sink.port)).await;
    let user = env.register("val@example.com").await;
    let access = env.login("val@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = bearer(
        &env,
        reqwest::Method::POST,
        "/auth/email/verify/request",
        &access,
        None,
    )
    .await;
    assert_eq!(res.status(), 202);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "sent");
    let token = token_in(&sink.next_to("val@example.com").await, VERIFY_PAGE);
    // A verification token is no reset token.
    assert_problem(
        reset(&env, &token, NEW_PASSWORD).await,
        400,
        "invalid-token",
    )
    .await;
    let res = env
        .post("/auth/email/verify", json!({ "token": token }))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({ "verified": true, "email": "val@example.com" })
    );
    let id = user["id"].as_str().unwrap().parse().unwrap();
    assert!(
        env.identity()
            .store
            .user_email_verified_at(id)
            .await
            .unwrap()
            .is_some()
    );
    assert_problem(
        env.post("/auth/email/verify", json!({ "token": token }))
            .await,
        400,
        "invalid-token",
    )
    .await;
    let res = bearer(
        &env,
        reqwest::Method::POST,
        "/auth/email/verify/request",
        &access,
        None,
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "verified");
    assert_eq!(events(&env, "auth.email_verified").len(), 1);
    // Anonymous callers cannot ask.
    let res = env.post("/auth/email/verify/request", json!({})).await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn the_reset_pages_send_the_link_and_set_the_password_with_csrf() {
    use crate::pages::{cookie_pair, form_token};
    let Some(mut sink) = Sink::start() else {
        return;
    };
    let env = Env::start(mail_on(sink.port)).await;
    env.register("page.reset@example.com").await;
    let form_post = |path: &'static str, cookie: Option<String>, body: String| {
        let mut r = env
            .http
            .post(env.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        r.send()
    };

    let res = env
        .http
        .get(env.url("/auth/pages/forgot"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let cookie = cookie_pair(&res, "__Host-palisade-form").expect("form cookie");
    let html = res.text().await.unwrap();
    assert!(html.contains("<label for=\"email\">"), "{html}");
    let token = form_token(&html);
    // Without the browser's form cookie: refused before any work.
    let res = form_post(
        "/auth/pages/forgot",
        None,
        format!("form_token={token}&email=page.reset%40example.com"),
    )
    .await
    .unwrap();
    assert_problem(res, 403, "csrf").await;
    let res = form_post(
        "/auth/pages/forgot",
        Some(cookie.clone()),
        format!("form_token={token}&email=page.reset%40example.com"),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 202);
    assert!(res.text().await.unwrap().contains("id=\"forgot-sent\""));
    let reset_token = token_in(&sink.next_to("page.reset@example.com").await, RESET_PAGE);

    let res = env
        .http
        .get(env.url(&format!("/auth/pages/reset?token={reset_token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = cookie_pair(&res, "__Host-palisade-form").expect("form cookie");
    let html = res.text().await.unwrap();
    assert!(html.contains("<label for=\"new_password\">"), "{html}");
    assert!(html.contains(&format!("name=\"token\" value=\"{reset_token}\"")));
    let token = form_token(&html);
    let body =
        |password: &str| format!("form_token={token}&token={reset_token}&new_password={password}");
    // A weak password: the form again with the policy's reasons, the link still good.
    let res = form_post("/auth/pages/reset", Some(cookie.clone()), body("short"))
        .await
        .unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("id=\"violations\""));
    let res = form_post(
        "/auth/pages/reset",
        Some(cookie.clone()),
        body(NEW_PASSWORD),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("id=\"reset-done\""));
    let res = form_post("/auth/pages/reset", Some(cookie), body(NEW_PASSWORD))
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = env
        .post(
            "/auth/login",
            json!({"email": "page.reset@example.com", "password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_relay_that_refuses_is_on_record_and_the_caller_is_answered_as_ever() {
    // A loopback port nothing listens on: every delivery fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let env = Env::start(mail_on(port)).await;
    env.register("lost@example.com").await;
    let answer = forgot_accepted(&env, "lost@example.com").await;
    assert_eq!(answer["status"], "accepted");
    // The worker runs on this runtime: let it work until the failure is on record.
    tokio::time::timeout(Duration::from_secs(30), async {
        while events(&env, "mail.send_failed").is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the failed delivery is recorded");
    let failed = &events(&env, "mail.send_failed")[0];
    assert_eq!(failed.details["kind"], "password_reset");
    assert!(
        !failed.details.to_string().contains("lost@example.com"),
        "no address on record"
    );
}

/// The alert channel `email`: an incident of a critical rule reaches the on-call address
/// through `[smtp]` (added by `severity_actions`), and the delivery is on record.
#[tokio::test]
async fn an_incident_is_mailed_to_the_on_call_address() {
    use palisade_gateway::config::alerts::{Action, GroupBy};
    let Some(mut sink) = Sink::start() else {
        return;
    };
    let port = sink.port;
    let env = Env::start(move |c| {
        mail_on(port)(c);
        c.audit.alerts.email_to = vec!["oncall@example.com".into()];
        c.audit.alerts.severity_actions = [("critical".to_string(), vec![Action::Email])].into();
        c.audit.alerts.rules = vec![crate::alerts::rule(
            "escalation_mailed",
            "authz.privilege_escalation_attempt",
            GroupBy::Actor,
            1,
            palisade_core::audit::Risk::Critical,
            vec![Action::RaiseSeverity],
        )];
    })
    .await;
    assert!(
        palisade_gateway::config::checks::problems(
            &env.gw.gateway.state.config,
            palisade_gateway::config::Environment::Dev
        )
        .is_empty()
    );
    env.register("mallory@example.com").await;
    let token = env.login("mallory@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(env.get_with("/admin/tenants", &token).await.status(), 403);

    let mail = sink.next_to("oncall@example.com").await;
    let body = mail["body"].as_str().unwrap();
    assert!(body.contains("rule: escalation_mailed"), "{body}");
    assert!(body.contains("severity: critical"), "{body}");
    let trail = env.gw.gateway.state.audit.trail().unwrap().clone();
    let store = env.gw.gateway.state.store.clone();
    let recorded = crate::alerts::eventually(&env, || {
        let store = store.clone();
        async move {
            let all = store.audit_range(0, 10_000).await.unwrap();
            all.into_iter()
                .find(|r| r.event_type == "incident.updated" && !r.details["email"].is_null())
        }
    })
    .await;
    trail.flush().await;
    let details = &recorded.details;
    assert_eq!(details["email"]["delivered"], true);
    assert_eq!(details["email"]["attempts"], 1);
    assert_eq!(details["email"]["recipient"], 0);
    assert!(
        !details.to_string().contains("oncall@"),
        "no address in the trail"
    );
}
