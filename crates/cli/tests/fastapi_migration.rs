//! The migration itself, end to end, as docs/migration.md walks it: the old FastAPI app's users
//! (bcrypt and Django PBKDF2 hashes, a disabled one, one without a password), its bcrypt-hashed
//! `acme_` API keys and its HS256 tokens move into Palisade with `palisade user import` and
//! `palisade key import` and a shared-secret migration window, and keep working; the app reads
//! the identity in its own header names, keeps its own `/admin`, `/auth/login` and `/metrics`
//! (Palisade's endpoints sit under `api.mount`), and posts its own events into Palisade's trail,
//! which verifies.

#[allow(dead_code)]
#[path = "fastapi/harness.rs"]
mod harness;

use harness::{
    cli, credentials, free_port, get, json, legacy, ok, palisade, password_of, py, python, repo,
    sign_in, start, write_example_config,
};
use std::time::{SystemTime, UNIX_EPOCH};

/// The plaintext of a fixture key, by its name in `TEST_ONLY_credentials.json`.
fn key_named(name: &str) -> String {
    credentials()["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .and_then(|k| k["key"].as_str())
        .unwrap_or_else(|| panic!("a test key named {name}"))
        .to_string()
}

#[tokio::test]
async fn the_old_apps_users_keys_tokens_and_events_move_in_without_a_flag_day() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let app_port = free_port();
    write_example_config(d, app_port);

    // 1. Accounts as they are, with their external ids, tenants, tiers and hashes.
    let imported = cli(
        d,
        &["user", "import", legacy("users.jsonl").to_str().unwrap()],
        None,
    );
    assert!(
        imported.contains("imported 5, updated 0, skipped 0 (already present), refused 0"),
        "{imported}"
    );
    let again = cli(
        d,
        &["user", "import", legacy("users.jsonl").to_str().unwrap()],
        None,
    );
    assert!(
        again.contains("imported 0"),
        "a re-run imports nothing twice: {again}"
    );

    // 2. The app's service account, then every old key by its stored hash.
    cli(
        d,
        &[
            "user",
            "add-service",
            "--name",
            "fastapi-tools",
            "--role",
            "app_writer",
        ],
        None,
    );
    let keys = cli(
        d,
        &["key", "import", legacy("keys.jsonl").to_str().unwrap()],
        None,
    );
    assert!(keys.contains("imported 2 key(s)"), "{keys}");

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
    // Two sign-ins below are meant to fail from this one address; no ladder wait between them.
    serve
        .env("PALISADE_LOG__ACCESS", "false")
        .env("PALISADE_AUTH__BRUTE_FORCE__FREE_FAILURES", "3");
    let (_palisade, line) = start(serve, "Palisade is listening on ", false);
    let base = line
        .trim()
        .trim_start_matches("Palisade is listening on ")
        .to_string();
    std::fs::write(d.join("service.key"), format!("{}\n", key_named("events"))).unwrap();
    let mut uvicorn = py(&python);
    uvicorn
        .args(["-m", "uvicorn", "app:app", "--app-dir"])
        .arg(repo().join("examples/fastapi-app"))
        .args(["--host", "127.0.0.1", "--port", &app_port.to_string()])
        .env("PALISADE_URL", &base)
        .env("PALISADE_MOUNT", "/.palisade")
        .env("PALISADE_SERVICE_KEY_FILE", d.join("service.key"));
    let (_app, _) = start(uvicorn, "Uvicorn running on", true);
    let http = reqwest::Client::new();
    let bearer = |t: &str| format!("Bearer {t}");

    // Old passwords sign in (bcrypt: Ada; Django PBKDF2: Grace); the identity is the external id.
    let ada = sign_in(
        &http,
        &base,
        "ada@example.com",
        &password_of("ada@example.com"),
    )
    .await;
    let (status, _, body) = get(
        &http,
        &format!("{base}/v1/me"),
        &[("authorization", &bearer(&ada))],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let me = json(&body);
    assert_eq!(
        me["identity"]["sub"], "1001",
        "the old app's id, not a new one"
    );
    assert_eq!(
        me["headers"],
        serde_json::json!({"x-user-id": "1001", "x-user-roles": "admin"}),
        "the app's own header names"
    );
    let (status, _, page) = get(
        &http,
        &format!("{base}/admin"),
        &[("authorization", &bearer(&ada))],
    )
    .await;
    assert_eq!(status, 200, "the app's own /admin: {page}");
    let grace = sign_in(
        &http,
        &base,
        "grace@example.com",
        &password_of("grace@example.com"),
    )
    .await;
    // Ken is disabled; Margaret has no password: neither signs in.
    for (email, password) in [
        ("ken@example.com", password_of("ken@example.com")),
        (
            "margaret@example.com",
            "any password at all 123".to_string(),
        ),
    ] {
        let res = http
            .post(format!("{base}/.palisade/auth/login"))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{email}");
    }

    // Grace's old API key reaches her graph (the tenant the import gave her), not another.
    let grace_key = key_named("ci");
    for (graph, want) in [("graph-1", 200), ("graph-2", 403)] {
        let (status, _, body) = get(
            &http,
            &format!("{base}/v1/graphs/{graph}/nodes"),
            &[("x-api-key", &grace_key)],
        )
        .await;
        assert_eq!(status, want, "{graph}: {body}");
        if want == 200 {
            let graph = json(&body);
            assert_eq!(graph["identity"]["sub"], "1002");
            assert_eq!(graph["headers"]["x-graph-id"], "graph-1");
        }
    }
    let mut changed = grace_key.clone();
    changed.pop();
    changed.push(if grace_key.ends_with('x') { 'y' } else { 'x' });
    let (status, _, _) = get(
        &http,
        &format!("{base}/v1/graphs/graph-1/nodes"),
        &[("x-api-key", &changed)],
    )
    .await;
    assert_eq!(status, 401, "a changed key is refused");

    // Tokens the old app minted keep working for imported, enabled accounts.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mint = |sub: &str| {
        let out = py(&python)
            .arg(legacy("mint_legacy_token.py"))
            .args(["--sub", sub, "--now", &now.to_string(), "--ttl", "900"])
            .output()
            .unwrap();
        ok(out, "mint_legacy_token.py").trim().to_string()
    };
    let (status, _, body) = get(
        &http,
        &format!("{base}/v1/me"),
        &[("authorization", &bearer(&mint("1003")))],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["identity"]["sub"], "1003");
    for (sub, why) in [("1004", "disabled"), ("9999", "never imported")] {
        let (status, _, body) = get(
            &http,
            &format!("{base}/v1/me"),
            &[("authorization", &bearer(&mint(sub)))],
        )
        .await;
        assert_eq!(status, 401, "{why}: {body}");
    }

    // The app records its tool runs in Palisade's trail with its imported service key.
    let res = http
        .post(format!("{base}/v1/tools/run"))
        .header("authorization", bearer(&grace))
        .header("idempotency-key", "run-1")
        .json(&serde_json::json!({"tool": "count_words", "input": "a b c"}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body = res.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let found = cli(
        d,
        &[
            "audit",
            "query",
            "--type",
            "app.tool.executed",
            "--source",
            "app",
        ],
        None,
    );
    assert_eq!(
        found.matches("app.tool.executed").count(),
        1,
        "the app's event, once: {found}"
    );
    let verified = cli(d, &["audit", "verify"], None);
    assert!(verified.starts_with("OK"), "{verified}");
}
