//! The hosted pages in a real browser: Debian's chromium driven by npm `playwright-core` (both
//! from `scripts/ensure-browser`, pinned) running `tests/browser/pages.cjs` against Palisade on
//! `http://localhost:PORT` (WebAuthn refuses IP addresses). Password sign-in through the form,
//! passkey registration and passwordless sign-in with Chromium's virtual authenticator (CDP
//! `WebAuthn.addVirtualAuthenticator`, user verification on), a screenshot of every page under
//! `target/browser-artifacts/`, and no Content-Security-Policy violation. Under `CI=true` (or
//! `PALISADE_BROWSER_TESTS=required`) a missing browser fails the test; elsewhere it skips, saying so.

use crate::common::{client, start_with};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;

const PASSWORD: &str = "violet-Harbor-tram-1987-quince";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The chromium binary and playwright-core's directory, or why there are none.
fn harness() -> Result<(String, String), String> {
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
fn required() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
        || std::env::var("PALISADE_BROWSER_TESTS").as_deref() == Ok("required")
}

fn free_port() -> u16 {
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

    let artifacts = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("browser-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
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
    let artifacts = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("browser-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let script = root().join("crates/gateway/tests/browser/federated.cjs");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .env("PALISADE_URL", &origin)
            .env("CHROMIUM", chromium)
            .env("PLAYWRIGHT_CORE", playwright)
            .env("ARTIFACTS", &artifacts)
            .env("LABEL", "Local IdP")
            .env("LOGIN", "browser-fed")
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
                "no report from federated.cjs:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(
        out.status.success() && report["ok"] == true,
        "browser run failed: {report:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["csp_violations"], json!([]), "{report:#}");
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
