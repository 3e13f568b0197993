//! The hosted pages in a real browser: Debian's chromium driven by npm `playwright-core` (both
//! from `scripts/ensure-browser`, pinned) running `tests/browser/pages.cjs` against Palisade on
//! `http://localhost:PORT` (WebAuthn refuses IP addresses). Password sign-in through the form,
//! passkey registration and passwordless sign-in with Chromium's virtual authenticator (CDP
//! `WebAuthn.addVirtualAuthenticator`, user verification on), a screenshot of every page under
//! `target/browser-artifacts/`, and no Content-Security-Policy violation. The second-factor and
//! device pages run in `tests/browser/mfa_pages.cjs` on the test clock (a small control server
//! lets the script read and move it): TOTP enrollment through the page, password + TOTP sign-in,
//! recovery-code sign-in and a new set, and device-code approval with the device polling for its
//! tokens. Under `CI=true` (or `PALISADE_BROWSER_TESTS=required`) a missing browser fails the
//! test; elsewhere it skips, saying so.

use crate::common::{client, start_clocked, start_with};
use palisade_core::clock::ManualClock;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

const PASSWORD: &str = "violet-Harbor-tram-1987-quince";

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The chromium binary and playwright-core's directory, or why there are none.
pub(crate) fn harness() -> Result<(String, String), String> {
    let out = Command::new(root().join("scripts/ensure-browser"))
        .output()
        .map_err(|e| format!("scripts/ensure-browser: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8(out.stdout).map_err(|e| e.to_string())?;
    let mut lines = text.lines();
    let chromium = lines.next().ok_or("no chromium path")?.to_owned();
    let modules = lines.next().ok_or("no node_modules path")?.to_owned();
    Ok((chromium, format!("{modules}/playwright-core")))
}

/// Under `CI=true` (or `PALISADE_BROWSER_TESTS=required`, what `.ci/run` sets) a missing
/// browser fails the test instead of skipping it.
pub(crate) fn required() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
        || std::env::var("PALISADE_BROWSER_TESTS").as_deref() == Ok("required")
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_in_chromium_password_passkey_and_no_csp_violation() {
    let (chromium, playwright) = match harness() {
        Ok(h) => h,
        Err(why) if required() => {
            panic!(
                "CI=true (or PALISADE_BROWSER_TESTS=required) and the browser harness is missing: {why}"
            )
        }
        Err(why) => {
            eprintln!("skipped: no browser harness (scripts/ensure-browser): {why}");
            return;
        }
    };
    let port = free_port();
    let origin = format!("http://localhost:{port}");
    let gw = start_with(
        |c| {
            c.server.listen = format!("127.0.0.1:{port}").parse().unwrap();
            c.auth.passkeys.rp_id = "localhost".into();
            c.auth.passkeys.origin = origin.clone();
            // The wrong-password step must not delay the right one.
            c.auth.brute_force.free_failures = 1;
        },
        vec![],
    )
    .await;
    let email = "browser.user@example.com";
    let res = client()
        .post(gw.url("/auth/register"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let artifacts = artifacts_dir();
    let script = root().join("crates/gateway/tests/browser/pages.cjs");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("PALISADE_URL", &origin)
            .env("CHROMIUM", chromium)
            .env("PLAYWRIGHT_CORE", playwright)
            .env("ARTIFACTS", &artifacts)
            .env("EMAIL", email)
            .env("PASSWORD", PASSWORD)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "no report from pages.cjs:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(
        out.status.success() && report["ok"] == true,
        "browser run failed: {report:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["csp_violations"], json!([]), "{report:#}");
    assert_eq!(
        report["subject_after_passkey"],
        report["subject_after_password"]
    );
    for page in [
        "sign-in",
        "sign-in-dark",
        "sign-in-error",
        "signed-in",
        "passkeys-empty",
        "passkeys",
        "signed-in-passkey",
        "forgot",
        "reset",
        "verify",
    ] {
        assert!(
            report["screenshots"]
                .as_array()
                .unwrap()
                .contains(&json!(page)),
            "screenshot {page}: {report:#}"
        );
    }

    // What the server holds: one passkey for the account, its counter moved past registration,
    // and the passkey sign-in on record as two factors.
    let state = &gw.gateway.state;
    let user = state.store.user_by_email(email).await.unwrap().unwrap();
    let keys = state.store.passkeys_for_user(user.id).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].name, "Test laptop");
    assert!(keys[0].last_used_at.is_some());
    assert_eq!(keys[0].sign_count, report["sign_count"].as_i64().unwrap());
    let trail = state.audit.trail().unwrap().clone();
    trail.flush().await;
    let stored = state.store.audit_range(0, 1000).await.unwrap();
    assert!(
        stored
            .iter()
            .any(|r| r.event_type == "auth.passkey_registered")
    );
    let passkey_login = stored
        .iter()
        .filter(|r| r.event_type == "auth.login_success")
        .find(|r| r.details["acr"] == "aal2")
        .expect("a passkey sign-in on record");
    assert_eq!(passkey_login.details["amr"], json!(["hwk", "user"]));
}

/// Where the browser tests keep their screenshots (`target/browser-artifacts/`), created.
pub(crate) fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `tests/browser/{script}` with `env`; its JSON report, after asserting it ran clean.
pub(crate) async fn run_script(script: &str, env: Vec<(&'static str, String)>) -> Value {
    let script = root().join("crates/gateway/tests/browser").join(script);
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("node");
        cmd.arg(script);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "no report from the script:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(
        out.status.success() && report["ok"] == true,
        "browser run failed: {report:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["csp_violations"], json!([]), "{report:#}");
    report
}

/// The test clock's control for the browser script: `GET /now` answers the clock's Unix
/// seconds, `POST /advance` moves it 30 s on first. Its base URL.
async fn clock_control(clock: Arc<ManualClock>) -> String {
    use palisade_core::clock::Clock;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut buf = vec![0u8; 4096];
            let mut got = 0;
            while !buf[..got].windows(4).any(|w| w == b"\r\n\r\n") && got < buf.len() {
                match conn.read(&mut buf[got..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
            }
            let head = String::from_utf8_lossy(&buf[..got]);
            if head.starts_with("POST /advance ") {
                clock.advance(std::time::Duration::from_secs(30));
            }
            let body = (clock.now_millis() / 1000).to_string();
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes()).await;
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mfa_and_device_pages_in_chromium_on_the_test_clock() {
    let (chromium, playwright) = match harness() {
        Ok(h) => h,
        Err(why) if required() => {
            panic!(
                "CI=true (or PALISADE_BROWSER_TESTS=required) and the browser harness is missing: {why}"
            )
        }
        Err(why) => {
            eprintln!("skipped: no browser harness (scripts/ensure-browser): {why}");
            return;
        }
    };
    let port = free_port();
    let origin = format!("http://localhost:{port}");
    let clock = Arc::new(ManualClock::starting_at(1_900_000_000_000));
    let gw = start_clocked(
        |c| {
            c.server.listen = format!("127.0.0.1:{port}").parse().unwrap();
            c.auth.device.clients = vec!["tv-app".into()];
            c.auth.device.verification_uri = format!("{origin}/auth/pages/device");
            // The wrong-code step must not delay the right one.
            c.auth.brute_force.free_failures = 1;
        },
        vec![],
        clock.clone(),
    )
    .await;
    let email = "browser.mfa@example.com";
    let res = client()
        .post(gw.url("/auth/register"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let artifacts = artifacts_dir();
    let clock_url = clock_control(clock.clone()).await;
    let report = run_script(
        "mfa_pages.cjs",
        vec![
            ("PALISADE_URL", origin),
            ("CHROMIUM", chromium),
            ("PLAYWRIGHT_CORE", playwright),
            ("ARTIFACTS", artifacts.display().to_string()),
            ("EMAIL", email.into()),
            ("PASSWORD", PASSWORD.into()),
            ("CLOCK_URL", clock_url),
            ("CLIENT_ID", "tv-app".into()),
        ],
    )
    .await;
    for page in [
        "totp-empty",
        "totp-enroll",
        "recovery-codes-new",
        "totp",
        "mfa",
        "mfa-error",
        "signed-in-mfa",
        "mfa-recovery",
        "recovery",
        "recovery-codes-regenerated",
        "device",
        "device-confirm",
        "device-approved",
    ] {
        assert!(
            report["screenshots"]
                .as_array()
                .unwrap()
                .contains(&json!(page)),
            "screenshot {page}: {report:#}"
        );
    }
    assert_eq!(report["poll_before"], "authorization_pending");
    assert_eq!(report["device_requested_from"], "127.0.0.1");
    assert_eq!(report["device_tokens"], true);

    // What the server holds: one confirmed authenticator; the old recovery set dead, the new
    // one whole; the sign-ins at aal2 with the methods used; the device approval on record.
    let state = &gw.gateway.state;
    let id = &state.identity;
    let user = state.store.user_by_email(email).await.unwrap().unwrap();
    let list = id.totp_list(user.id).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].name, "Test phone");
    assert!(list[0].confirmed_at.is_some());
    assert_eq!(state.store.recovery_remaining(user.id).await.unwrap(), 10);
    let old = report["old_recovery_code"].as_str().unwrap();
    let hash = palisade_core::mfa::recovery::hash(old).unwrap();
    assert!(
        !state
            .store
            .recovery_use(user.id, &hash, id.now_ms() as i64)
            .await
            .unwrap(),
        "the old set no longer works"
    );
    let trail = state.audit.trail().unwrap().clone();
    trail.flush().await;
    let stored = state.store.audit_range(0, 10_000).await.unwrap();
    let aal2: Vec<_> = stored
        .iter()
        .filter(|r| r.event_type == "auth.login_success" && r.details["acr"] == "aal2")
        .map(|r| r.details["amr"].clone())
        .collect();
    assert!(aal2.contains(&json!(["pwd", "otp", "mfa"])), "{aal2:?}");
    assert!(
        aal2.iter()
            .any(|a| a.as_array().unwrap().contains(&json!("rec"))),
        "{aal2:?}"
    );
    for event in [
        "mfa.enrolled",
        "mfa.challenged",
        "mfa.failed",
        "mfa.recovery_used",
        "auth.device_approved",
        "auth.device_token_issued",
    ] {
        assert!(
            stored.iter().any(|r| r.event_type == event),
            "{event} on record"
        );
    }
}

/// Federated sign-in in chromium against the real OpenID Provider (`it::federation`): the
/// sign-in page's provider button, the provider's own login and consent pages, Palisade's
/// callback, the signed-in page; screenshots kept, no CSP violation on Palisade's pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn federated_sign_in_in_chromium_against_the_local_provider() {
    let (chromium, playwright) = match harness() {
        Ok(h) => h,
        Err(why) if required() => {
            panic!(
                "CI=true (or PALISADE_BROWSER_TESTS=required) and the browser harness is missing: {why}"
            )
        }
        Err(why) => {
            eprintln!("skipped: no browser harness (scripts/ensure-browser): {why}");
            return;
        }
    };
    let port = free_port();
    let origin = format!("http://localhost:{port}");
    let redirect_uri = format!("{origin}/auth/federated/local/callback");
    let Some(idp) = crate::federation::OidcProvider::start(json!([{
        "client_id": "palisade",
        "client_secret": "a-test-secret-that-is-long-enough-0123456789",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
    }])) else {
        return;
    };
    let issuer = idp.issuer.clone();
    let gw = start_with(
        |c| {
            c.server.listen = format!("127.0.0.1:{port}").parse().unwrap();
            c.auth.providers = vec![palisade_gateway::config::providers::ProviderConfig {
                id: "local".into(),
                label: "Local IdP".into(),
                issuer,
                client_id: "palisade".into(),
                client_secret: "a-test-secret-that-is-long-enough-0123456789".into(),
                scopes: vec!["openid".into(), "email".into()],
                redirect_uri,
                allowed_hosts: vec!["127.0.0.1".into()],
                provision: palisade_gateway::config::providers::Provision::Auto,
                ..Default::default()
            }];
        },
        vec![],
    )
    .await;
    let report = run_script(
        "federated.cjs",
        vec![
            ("PALISADE_URL", origin),
            ("CHROMIUM", chromium),
            ("PLAYWRIGHT_CORE", playwright),
            ("ARTIFACTS", artifacts_dir().display().to_string()),
            ("LABEL", "Local IdP".into()),
            ("LOGIN", "browser-fed".into()),
        ],
    )
    .await;
    for shot in ["sign-in-providers", "signed-in-federated"] {
        assert!(
            report["screenshots"]
                .as_array()
                .unwrap()
                .contains(&json!(shot)),
            "screenshot {shot}: {report:#}"
        );
    }
    // The account the browser signed in to is the one provisioned for (issuer, "browser-fed").
    let state = &gw.gateway.state;
    let linked = state
        .store
        .federated_identity_find(&idp.issuer, "browser-fed")
        .await
        .unwrap()
        .expect("linked identity");
    assert_eq!(report["subject"], linked.user_id.to_string());
}
