//! Imported API keys over HTTP (`palisade key import`'s use case, then requests): every hash
//! format, the first use as one slow verification and then the native path, the negative cache,
//! the brute-force ladder against made-up keys, `auth.api_keys.headers`, and the import's own
//! rules (dry run, re-run, ambiguity). Time comes from the test clock.

use crate::identity::Env;
use aws_lc_rs::{digest, hmac};
use palisade_core::fingerprint::hex;
use palisade_gateway::audit::RequestOrigin;
use palisade_gateway::config::Config;
use palisade_gateway::identity::manage::{By, ImportBatch, KeyImport, KeyImported};
use serde_json::Value;
use std::sync::LazyLock;

static ORIGIN: LazyLock<RequestOrigin> = LazyLock::new(RequestOrigin::default);
const PEPPER: &[u8] = b"the other system's pepper";

fn by() -> By<'static> {
    By {
        actor: "test".into(),
        origin: &ORIGIN,
    }
}

fn legacy(c: &mut Config) {
    c.auth.api_keys.prefixes = vec!["pal_".into(), "acme_".into()];
    c.auth.hash_workers = 2;
}

fn row(owner: &str, prefix: &str, hash: String) -> KeyImport {
    KeyImport {
        owner: owner.into(),
        name: "ci".into(),
        prefix: prefix.into(),
        hash,
        scopes: Vec::new(),
        expires_at: None,
        last_used_at: None,
    }
}

async fn import(env: &Env, rows: &[KeyImport], dry_run: bool) -> Vec<Result<KeyImported, String>> {
    env.identity()
        .import_api_keys(
            rows,
            Some(PEPPER),
            dry_run,
            &mut ImportBatch::default(),
            &by(),
        )
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.map_err(|e| e.to_string()))
        .collect()
}

async fn me(env: &Env, header: &str, key: &str) -> reqwest::Response {
    env.http
        .get(env.url("/auth/me"))
        .header(header, key)
        .send()
        .await
        .unwrap()
}

/// The hash each format stores for `key`.
fn hashes(key: &str) -> Vec<(&'static str, String)> {
    let b = bcrypt::hash(key, 4).unwrap();
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, PEPPER), key.as_bytes());
    vec![
        ("2a", format!("$2a${}", &b[4..])),
        ("2b", b.clone()),
        ("2y", format!("$2y${}", &b[4..])),
        (
            "s256",
            format!(
                "sha256:{}",
                hex(digest::digest(&digest::SHA256, key.as_bytes()).as_ref())
            ),
        ),
        (
            "s512",
            format!(
                "sha512:{}",
                hex(digest::digest(&digest::SHA512, key.as_bytes()).as_ref())
            ),
        ),
        ("hmac", format!("hmac-sha256:{}", hex(mac.as_ref()))),
    ]
}

#[tokio::test]
async fn keys_every_hash_format_accepts_its_key_and_refuses_another() {
    let env = Env::start(|c| {
        legacy(c);
        c.auth.brute_force.enabled = false;
    })
    .await;
    let user = env.register("kim@example.com").await;
    for (tag, _) in hashes("x") {
        let prefix = format!("acme_{tag}_0001");
        let key = format!("{prefix}_the-secret-part");
        let hash = hashes(&key).into_iter().find(|(t, _)| *t == tag).unwrap().1;
        let owner = user["id"].as_str().unwrap();
        let out = import(&env, &[row(owner, &prefix, hash)], false).await;
        assert!(
            matches!(out[0], Ok(KeyImported::Imported(_))),
            "{tag}: {out:?}"
        );

        let wrong = format!("{prefix}_the-secret-parT");
        crate::common::assert_problem(me(&env, "x-api-key", &wrong).await, 401, "invalid_api_key")
            .await;
        let res = me(&env, "x-api-key", &key).await;
        assert_eq!(res.status(), 200, "{tag}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["method"], "api_key", "{tag}");
        // Migrated: the wrong key is still refused on the native path.
        crate::common::assert_problem(me(&env, "x-api-key", &wrong).await, 401, "invalid_api_key")
            .await;
    }
}

#[tokio::test]
async fn keys_first_use_is_one_slow_verification_then_the_native_path() {
    let env = Env::start(legacy).await;
    env.register("lee@example.com").await;
    let key = "acme_3f9a1c2e_0123456789abcdef";
    let hash = bcrypt::hash(key, 6).unwrap();
    import(
        &env,
        &[row("lee@example.com", "acme_3f9a1c2e", hash)],
        false,
    )
    .await;
    let id = env.identity();
    let before = id.legacy.slow_verifications();

    let res = me(&env, "x-api-key", key).await;
    assert_eq!(res.status(), 200);
    assert_eq!(id.legacy.slow_verifications(), before + 1);
    // Stored under the keyed hash now, the legacy hash gone, on record.
    let stored = id.store.legacy_key_for(key).await.unwrap().unwrap();
    assert_eq!(stored.legacy_hash, None);
    let native = id
        .store
        .api_key_by_hash(&id.api_keys.keyed_hash(key))
        .await
        .unwrap();
    assert_eq!(native.unwrap().id, stored.key.id);
    let migrated: Vec<_> = env
        .gw
        .gateway
        .state
        .audit
        .recent()
        .into_iter()
        .filter(|e| e.event_type == "apikey.migrated")
        .collect();
    assert_eq!(migrated.len(), 1);
    assert_eq!(migrated[0].details["format"], "bcrypt");

    // From the second use on: no slow verification, as header or as bearer token, and after
    // the cache forgot it too (the native lookup by keyed hash).
    for _ in 0..10 {
        assert_eq!(me(&env, "x-api-key", key).await.status(), 200);
    }
    assert_eq!(env.get_with("/auth/me", key).await.status(), 200);
    id.api_keys.forget(stored.key.id);
    assert_eq!(me(&env, "x-api-key", key).await.status(), 200);
    assert_eq!(id.legacy.slow_verifications(), before + 1);

    // Revoked like any key.
    id.revoke_api_key_as(stored.key.id, &by()).await.unwrap();
    crate::common::assert_problem(me(&env, "x-api-key", key).await, 401, "invalid_api_key").await;
}

#[tokio::test]
async fn keys_expired_or_disabled_owner_refused_as_native_keys() {
    let env = Env::start(legacy).await;
    let user = env.register("mo@example.com").await;
    let owner = user["id"].as_str().unwrap();
    let old = "acme_expired0_secret";
    let mut r = row(owner, "acme_expired0", hashes(old)[3].1.clone());
    r.expires_at = Some(1_000);
    let live = "acme_livekey0_secret";
    let r2 = row(owner, "acme_livekey0", hashes(live)[3].1.clone());
    import(&env, &[r, r2], false).await;
    crate::common::assert_problem(me(&env, "x-api-key", old).await, 401, "invalid_api_key").await;
    let id = env.identity();
    id.set_user_disabled(owner.parse().unwrap(), true, &by())
        .await
        .unwrap();
    crate::common::assert_problem(me(&env, "x-api-key", live).await, 401, "invalid_api_key").await;
}

#[tokio::test]
async fn keys_a_repeated_made_up_key_costs_one_slow_verification() {
    let env = Env::start(|c| {
        legacy(c);
        c.auth.brute_force.enabled = false;
    })
    .await;
    env.register("ned@example.com").await;
    let hash = bcrypt::hash("acme_3f9a1c2e_right", 4).unwrap();
    import(
        &env,
        &[row("ned@example.com", "acme_3f9a1c2e", hash)],
        false,
    )
    .await;
    let id = env.identity();
    let before = id.legacy.slow_verifications();
    for _ in 0..50 {
        let res = me(&env, "x-api-key", "acme_3f9a1c2e_wrong").await;
        crate::common::assert_problem(res, 401, "invalid_api_key").await;
    }
    assert_eq!(id.legacy.slow_verifications(), before + 1);
    // The right key still works (the cache holds only the wrong key's keyed hash).
    assert_eq!(
        me(&env, "x-api-key", "acme_3f9a1c2e_right").await.status(),
        200
    );
}

#[tokio::test]
async fn keys_made_up_keys_from_one_address_end_in_a_block() {
    let env = Env::start(legacy).await;
    env.register("oz@example.com").await;
    let hash = bcrypt::hash("acme_3f9a1c2e_right", 4).unwrap();
    import(&env, &[row("oz@example.com", "acme_3f9a1c2e", hash)], false).await;
    let id = env.identity();
    let workers = env.gw.gateway.state.config.auth.hash_workers as u64;
    let before = id.legacy.slow_verifications();
    let mut statuses = Vec::new();
    for i in 0..1000 {
        // A valid-looking key: the stored prefix, so each would be a slow verification.
        let made_up = format!("acme_3f9a1c2e_{i:08x}{:016x}", i * 7919);
        statuses.push(me(&env, "x-api-key", &made_up).await.status().as_u16());
    }
    let slow = id.legacy.slow_verifications() - before;
    assert!(
        slow >= 1 && slow <= workers,
        "{slow} slow verifications, bound {workers}"
    );
    assert_eq!(statuses[0], 401);
    assert!(
        statuses[1..5].iter().all(|s| *s == 429),
        "{:?}",
        &statuses[..8]
    );
    // The IP is blocked by the firewall gate: nothing reaches identify any more.
    assert_eq!(*statuses.last().unwrap(), 403);
    let first_block = statuses.iter().position(|s| *s == 403).unwrap();
    assert!(first_block <= 10, "blocked after {first_block}");
    assert!(statuses[first_block..].iter().all(|s| *s == 403));
    let ip = "127.0.0.1".parse().unwrap();
    assert!(id.brute.blocked(ip).await.unwrap().is_some());
}

#[tokio::test]
async fn keys_headers_config_says_where_a_key_may_be_presented() {
    let env = Env::start(|c| {
        legacy(c);
        c.auth.api_keys.headers = vec!["X-Custom-Key".into()];
    })
    .await;
    env.register("pat@example.com").await;
    let key = "acme_headers0_secret";
    import(
        &env,
        &[row(
            "pat@example.com",
            "acme_headers0",
            hashes(key)[3].1.clone(),
        )],
        false,
    )
    .await;
    assert_eq!(me(&env, "x-custom-key", key).await.status(), 200);
    // X-API-Key is not a key header here (anonymous), and a bearer token is a JWT.
    assert_eq!(me(&env, "x-api-key", key).await.status(), 401);
    crate::common::assert_problem(env.get_with("/auth/me", key).await, 401, "malformed").await;

    let mut bad = Config::default();
    bad.auth.api_keys.headers = vec!["Authorization".into(), "bad header".into()];
    bad.auth.api_keys.prefixes = vec!["".into()];
    let problems = palisade_gateway::config::checks::problems(
        &bad,
        palisade_gateway::config::Environment::Dev,
    )
    .join("\n");
    for expected in [
        "\"Authorization\" cannot carry a key",
        "\"bad header\" is not a header name",
        "auth.api_keys.prefixes: \"\"",
    ] {
        assert!(problems.contains(expected), "{expected} not in {problems}");
    }
}

#[tokio::test]
async fn keys_import_checks_rows_dry_runs_and_reruns() {
    let env = Env::start(legacy).await;
    let user = env.register("quinn@example.com").await;
    let owner = user["id"].as_str().unwrap();
    let good = |p: &str| row(owner, p, format!("sha256:{}", "ab".repeat(32)));
    let rows = vec![
        good("acme_11111111"),
        good("acme_1111111100"), // prefix of another in the file
        good("acme_22"),         // too short
        good("zeta_33333333"),   // not a configured prefix
        row(owner, "acme_44444444", "md5:abc".into()), // unknown format
        row(
            "nobody@example.com",
            "acme_55555555",
            format!("sha256:{}", "ab".repeat(32)),
        ),
        good("acme_66666666"),
    ];
    let dry = import(&env, &rows, true).await;
    let ok = |o: &[Result<KeyImported, String>]| {
        o.iter()
            .filter(|r| matches!(r, Ok(KeyImported::Imported(_))))
            .count()
    };
    assert_eq!(ok(&dry), 2, "{dry:?}");
    for (i, why) in [
        (1, "clashes"),
        (2, "shorter"),
        (3, "auth.api_keys.prefixes"),
        (4, "unknown hash format"),
        (5, "no account"),
    ] {
        assert!(
            dry[i].as_ref().unwrap_err().contains(why),
            "{i}: {:?}",
            dry[i]
        );
    }
    let id = env.identity();
    assert!(
        id.store
            .legacy_key_for("acme_11111111x")
            .await
            .unwrap()
            .is_none(),
        "dry run wrote"
    );

    let first = import(&env, &rows, false).await;
    assert_eq!(ok(&first), 2);
    let again = import(&env, &rows[..1], false).await;
    assert!(matches!(again[0], Ok(KeyImported::Skipped)), "{again:?}");
    // Against the store: another owner's equal prefix, a longer or a shorter one, clash.
    let other = env.register("rae@example.com").await;
    let other = other["id"].as_str().unwrap();
    for p in ["acme_11111111", "acme_111111112", "acme_1111"] {
        let out = import(
            &env,
            &[row(other, p, format!("sha256:{}", "cd".repeat(32)))],
            false,
        )
        .await;
        assert!(out[0].is_err(), "{p}: {out:?}");
    }
    let imported = env
        .gw
        .gateway
        .state
        .audit
        .recent()
        .into_iter()
        .filter(|e| e.event_type == "apikey.imported")
        .count();
    assert_eq!(imported, 2);
}
