//! A worked migration, end to end: the FastAPI service of `examples/fastapi-app/` (it had its own
//! login, API keys and HS256 tokens; now it trusts Palisade's identity) runs under uvicorn behind
//! `palisade serve` with `api.mount = "/.palisade"`, and the legacy data it brings along
//! (`examples/fastapi-app/legacy/`) is checked against Palisade.
//!
//! What this proves with what exists on main today:
//! - the app's own `/auth/login`, `/admin` and `/metrics` are reachable through Palisade, whose
//!   own endpoints sit under the mount;
//! - a Palisade-native account (`palisade user add`) signs in at `/.palisade/auth/login` and calls
//!   the app, which verified the signed identity assertion against Palisade's JWKS (it echoes the
//!   verified claims: issuer, audience = the route's name, subject, roles, tenant);
//! - an account carried over from the old app with its Django PBKDF2 hash (`user import --csv`,
//!   today's import) signs in with its old password and reaches its own graph (a tenant) only;
//! - identity headers a client spoofs (`X-Palisade-*`, `X-User-Id`, `X-User_Id`) never reach the
//!   app; called directly, without a valid assertion (none, forged, or a real Palisade token for
//!   another audience), the app answers 401;
//! - the committed legacy fixture is exactly what `scripts/gen-legacy-fixture` makes, its password
//!   and key hashes verify with their test-only plaintexts (passwords in Palisade's own verifier),
//!   and `mint_legacy_token.py` mints the old app's HS256 tokens at the time the test gives.
//!
//! The migration itself (JSONL import with external ids, imported `acme_` keys, the old app's
//! HS256 tokens in a migration window, the app's events in the trail) is
//! `fastapi_migration.rs`, on the same example and harness.
//!
//! Python runs only from the venv `scripts/ensure-fastapi` makes (pinned, from PyPI). When it
//! cannot be made (no python3, no network), the tests print `SKIPPED:` and why, unless
//! `PALISADE_FASTAPI_EXAMPLE=required`, which makes that a failure.

#[path = "fastapi/harness.rs"]
mod harness;

use harness::{
    cli, credentials, free_port, get, json, jsonl, legacy, ok, palisade, password_of, py, python,
    repo, sign_in, start, write_example_config,
};
use serde_json::Value;
use std::process::Command;

#[tokio::test]
async fn fastapi_app_behind_palisade_trusts_only_the_verified_identity() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let app_port = free_port();
    write_example_config(d, app_port);

    // Accounts: a Palisade-native administrator and member, and Grace carried over from the old
    // app with her Django PBKDF2 hash through the older CSV import.
    let admin_pw = "palisade native admin 7431";
    let created = cli(
        d,
        &[
            "user",
            "add",
            "--email",
            "ops@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some(&format!("{admin_pw}\n")),
    );
    let admin_id = created
        .split(['(', ')'])
        .nth(1)
        .unwrap_or_else(|| panic!("an id in {created}"))
        .to_string();
    let member_pw = "palisade native member 7431";
    cli(
        d,
        &[
            "user",
            "add",
            "--email",
            "mel@example.com",
            "--role",
            "member",
            "--password-stdin",
        ],
        Some(&format!("{member_pw}\n")),
    );
    let grace = jsonl("users.jsonl")
        .into_iter()
        .find(|u| u["email"] == "grace@example.com")
        .unwrap();
    let hash = grace["password_hash"].as_str().unwrap();
    assert!(hash.starts_with("pbkdf2_sha256$"), "{hash}");
    std::fs::write(
        d.join("users.csv"),
        format!("email,password_hash,roles,name\ngrace@example.com,{hash},member,Grace\n"),
    )
    .unwrap();
    let imported = cli(d, &["user", "import", "--csv", "users.csv"], None);
    assert!(imported.contains("imported 1,"), "{imported}");
    for graph in ["graph-1", "graph-2"] {
        cli(d, &["tenant", "add", "--id", graph, "--name", graph], None);
    }
    for (graph, email) in [
        ("graph-1", "grace@example.com"),
        ("graph-2", "mel@example.com"),
    ] {
        cli(
            d,
            &[
                "tenant",
                "set-member",
                "--id",
                graph,
                "--email",
                email,
                "--role",
                "member",
            ],
            None,
        );
    }

    let mut serve = palisade(
        d,
        &[
            "serve",
            "--config",
            "palisade.toml",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    serve.env("PALISADE_LOG__ACCESS", "false");
    let (_palisade, line) = start(serve, "Palisade is listening on ", false);
    let base = line
        .trim()
        .trim_start_matches("Palisade is listening on ")
        .to_string();
    let mut uvicorn = py(&python);
    uvicorn
        .args(["-m", "uvicorn", "app:app", "--app-dir"])
        .arg(repo().join("examples/fastapi-app"))
        .args(["--host", "127.0.0.1", "--port", &app_port.to_string()])
        .env("PALISADE_URL", &base)
        .env("PALISADE_MOUNT", "/.palisade")
        .env("PALISADE_SERVICE_KEY_FILE", d.join("service.key"));
    // A key Palisade never issued: the app's events are refused (fastapi_migration.rs gives it a real one).
    std::fs::write(d.join("service.key"), format!("pal_{}\n", "0".repeat(64))).unwrap();
    let (_app, _) = start(uvicorn, "Uvicorn running on", true);
    let app = format!("http://127.0.0.1:{app_port}");
    let http = reqwest::Client::new();

    // The app's own pages pass through; Palisade's are under the mount.
    let (status, _, page) = get(&http, &format!("{base}/auth/login"), &[]).await;
    assert!(
        status == 200 && page.contains("fastapi-app sign-in"),
        "{status} {page}"
    );
    let (status, _, metrics) = get(&http, &format!("{base}/metrics"), &[]).await;
    assert!(
        status == 200 && metrics.contains("fastapi_app_requests_total"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("palisade_requests_total"),
        "the app's metrics, not Palisade's"
    );
    let (_, _, own) = get(&http, &format!("{base}/.palisade/metrics"), &[]).await;
    assert!(own.contains("palisade_requests_total"), "{own}");
    let (status, kind, body) = get(&http, &format!("{base}/admin"), &[]).await;
    assert_eq!(
        status, 401,
        "Palisade refuses the app's /admin without a credential"
    );
    assert!(kind.starts_with("application/problem+json") && body.contains("urn:palisade:problem:"));

    let admin = sign_in(&http, &base, "ops@example.com", admin_pw).await;
    let member = sign_in(&http, &base, "mel@example.com", member_pw).await;
    let bearer = |t: &str| format!("Bearer {t}");

    // The app verified the assertion and echoes what it verified; spoofed headers never arrive.
    let (status, _, body) = get(
        &http,
        &format!("{base}/v1/me"),
        &[
            ("authorization", &bearer(&admin)),
            ("x-palisade-user", "1001"),
            ("x-palisade-roles", "owner"),
            ("x-palisade-identity", "forged.by.client"),
            ("x-user-id", "1001"),
            ("x-user_id", "1001"),
            ("x-graph-id", "graph-2"),
            ("x-user-roles", "admin"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let me = json(&body);
    let claims = &me["identity"];
    assert_eq!(claims["iss"], "palisade");
    assert_eq!(claims["aud"], "app-api", "audience = the route's name");
    assert_eq!(claims["sub"], admin_id.as_str());
    assert_eq!(claims["roles"], serde_json::json!(["admin"]));
    assert_eq!(claims["amr"], "jwt");
    let expected_headers = serde_json::json!({
        "x-user-id": admin_id,
        "x-user-roles": "admin",
    });
    assert_eq!(
        me["headers"], expected_headers,
        "only Palisade's identity headers, in the app's own names"
    );

    // The app's /admin reads the roles from the assertion.
    let (status, _, page) = get(
        &http,
        &format!("{base}/admin"),
        &[("authorization", &bearer(&admin))],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("fastapi-app admin") && page.contains(&admin_id),
        "{page}"
    );
    assert!(
        page.contains("&quot;aud&quot;: &quot;app-admin&quot;"),
        "{page}"
    );
    let (status, _, body) = get(
        &http,
        &format!("{base}/admin"),
        &[("authorization", &bearer(&member))],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        json(&body)["type"],
        "urn:fastapi-app:problem:not-admin",
        "the app refused"
    );

    // Grace, carried over with her old password, reaches her graph and only hers.
    let grace_token = sign_in(
        &http,
        &base,
        "grace@example.com",
        &password_of("grace@example.com"),
    )
    .await;
    let (status, _, body) = get(
        &http,
        &format!("{base}/v1/graphs/graph-1/nodes"),
        &[("authorization", &bearer(&grace_token))],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let graph = json(&body);
    assert_eq!(graph["identity"]["tenant"], "graph-1");
    assert_eq!(graph["identity"]["aud"], "app-graphs");
    assert_eq!(graph["headers"]["x-graph-id"], "graph-1");
    let (status, _, body) = get(
        &http,
        &format!("{base}/v1/graphs/graph-2/nodes"),
        &[("authorization", &bearer(&grace_token))],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("urn:palisade:problem:"),
        "Palisade refused it: {body}"
    );

    // Called directly, the app wants a valid assertion: none, forged, or another audience's.
    let alg_none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJwYWxpc2FkZSIsImF1ZCI6ImFwcC1hcGkiLCJzdWIiOiIxMDAxIiwicm9sZXMiOlsiYWRtaW4iXX0.";
    for (why, headers) in [
        (
            "no assertion",
            vec![
                ("x-palisade-user", admin_id.as_str()),
                ("x-palisade-roles", "admin"),
            ],
        ),
        ("alg none", vec![("x-palisade-identity", alg_none)]),
        ("garbage", vec![("x-palisade-identity", "not.a.jwt")]),
        (
            "Palisade's access token: audience palisade",
            vec![("x-palisade-identity", admin.as_str())],
        ),
    ] {
        for path in ["/v1/me", "/admin", "/v1/graphs/graph-1/nodes"] {
            let (status, kind, body) = get(&http, &format!("{app}{path}"), &headers).await;
            assert_eq!(status, 401, "{why} at {path}: {body}");
            assert!(
                kind.starts_with("application/problem+json"),
                "{why}: {kind}"
            );
        }
    }
    let (status, _, _) = get(&http, &format!("{app}/healthz"), &[]).await;
    assert_eq!(status, 200, "the app's public pages need no assertion");

    // The app records its events in Palisade before it answers: when Palisade refuses them
    // (here: the app's service key is not one Palisade knows), the caller gets 503 and no result.
    let run = |body: Value| {
        http.post(format!("{base}/v1/tools/run"))
            .header("authorization", bearer(&grace_token))
            .json(&body)
            .send()
    };
    let res = run(serde_json::json!({"tool": "count_words", "input": "a b c"}))
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let body = res.text().await.unwrap();
    assert_eq!(
        json(&body)["type"],
        "urn:fastapi-app:problem:audit-unavailable",
        "{body}"
    );
    assert!(
        !body.contains("\"result\""),
        "no result without its record: {body}"
    );
    let res = run(serde_json::json!({"tool": "rm -rf /", "input": "x"}))
        .await
        .unwrap();
    assert_eq!(res.status(), 422, "bad input is a clear 4xx");
}

#[test]
fn the_legacy_fixture_is_what_the_generator_makes_and_verifies_in_palisade() {
    let Some(python) = python() else { return };
    let out = tempfile::tempdir().unwrap();
    let made = Command::new(repo().join("scripts/gen-legacy-fixture"))
        .args(["--out"])
        .arg(out.path())
        .output()
        .unwrap();
    ok(made, "scripts/gen-legacy-fixture");
    for name in [
        "legacy-db.json",
        "users.jsonl",
        "keys.jsonl",
        "TEST_ONLY_credentials.json",
        "TEST_ONLY_hs256_secret",
    ] {
        assert_eq!(
            std::fs::read_to_string(out.path().join(name)).unwrap(),
            std::fs::read_to_string(legacy(name)).unwrap(),
            "{name} differs from what scripts/gen-legacy-fixture writes"
        );
    }

    // Password hashes: the formats the contract names, verified by Palisade's own verifier.
    let hasher = palisade_core::password::PasswordHasher::new(Default::default()).unwrap();
    let users = jsonl("users.jsonl");
    let mut formats = Vec::new();
    for user in &users {
        let Some(hash) = user["password_hash"].as_str() else {
            formats.push("none".to_string());
            continue;
        };
        formats.push(
            palisade_core::password::hash_format(hash)
                .unwrap()
                .name()
                .to_string(),
        );
        let email = user["email"].as_str().unwrap();
        let password = password_of(email);
        assert!(
            matches!(
                hasher.verify(&password, hash),
                palisade_core::password::Verification::Valid { .. }
            ),
            "{email}'s hash verifies"
        );
        assert!(
            matches!(
                hasher.verify(&format!("{password}!"), hash),
                palisade_core::password::Verification::Invalid
            ),
            "{email}'s hash refuses another password"
        );
    }
    let by_id = |id: &str| users.iter().find(|u| u["external_id"] == id).unwrap();
    assert_eq!(
        by_id("1001")["roles"],
        serde_json::json!(["admin"]),
        "an admin"
    );
    assert_eq!(
        by_id("1002")["tenants"][0]["tenant"],
        "graph-1",
        "a member of graph-1"
    );
    assert_eq!(
        by_id("1003")["tenants"][0]["tenant"],
        "graph-2",
        "a member of graph-2"
    );
    assert_eq!(by_id("1004")["disabled"], true, "a disabled user");
    assert!(
        by_id("1005")["password_hash"].is_null(),
        "a user without password"
    );
    assert_eq!(
        formats,
        ["bcrypt", "django-pbkdf2-sha256", "bcrypt", "bcrypt", "none"],
        "bcrypt and Django PBKDF2-SHA256, and one account without a password"
    );

    // Keys: bcrypt of the whole key, found by its acme_ prefix.
    let creds = credentials();
    let keys = jsonl("keys.jsonl");
    assert!(
        keys.iter().any(|k| k["owner"] == "svc:fastapi-tools"),
        "a service account's key"
    );
    assert!(keys.iter().any(|k| k["owner"] == "1002"), "a member's key");
    for row in &keys {
        let prefix = row["prefix"].as_str().unwrap();
        let key = creds["api_keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["key"].as_str().unwrap())
            .find(|k| k.starts_with(prefix))
            .unwrap_or_else(|| panic!("a TEST_ONLY key for {prefix}"));
        assert!(prefix.starts_with("acme_") && prefix.len() >= 8, "{prefix}");
        let hash = row["hash"].as_str().unwrap();
        assert!(
            bcrypt::verify(key, hash).unwrap(),
            "{prefix}: the key verifies"
        );
        assert!(
            !bcrypt::verify(format!("{key}x"), hash).unwrap(),
            "{prefix}"
        );
    }

    // The old app's tokens, minted at the time the test gives.
    let secret = std::fs::read_to_string(legacy("TEST_ONLY_hs256_secret")).unwrap();
    let secret = secret.trim_end().as_bytes();
    assert!(secret.len() >= 32, "an HS256 secret of at least 32 bytes");
    let now = 1_767_225_600u64;
    let minted = py(&python)
        .arg(legacy("mint_legacy_token.py"))
        .args(["--sub", "1002", "--now", &now.to_string(), "--ttl", "900"])
        .output()
        .unwrap();
    let token = ok(minted, "mint_legacy_token.py").trim().to_string();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_exp = false; // the wall clock is not the test's
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(secret),
        &validation,
    )
    .expect("signed with the committed secret")
    .claims;
    assert_eq!(
        claims,
        serde_json::json!({"sub": "1002", "aud": "fastapi-app", "iat": now, "exp": now + 900})
    );
    assert!(
        jsonwebtoken::decode::<Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(b"another secret of thirty-two bytes!!"),
            &validation
        )
        .is_err(),
        "another secret does not verify it"
    );
}
