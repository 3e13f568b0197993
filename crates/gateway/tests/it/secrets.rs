//! The secrets store and transit over HTTP: per-tenant permissions, versions, soft delete,
//! audit events, the cache, transit round trips and context binding, rotation with the
//! re-encryption metrics.

use crate::authorization::signed_in;
use crate::common::*;
use crate::identity::Env;
use crate::principals::call;
use palisade_core::audit::Risk;
use palisade_core::policy::RoleDef;
use palisade_gateway::config::Config;
use palisade_gateway::config::alerts::{Action, GroupBy};
use serde_json::{Value, json};

fn roles(c: &mut Config) {
    let role = |name: &str, grants: &[&str]| RoleDef {
        name: name.into(),
        grants: grants.iter().map(|g| g.to_string()).collect(),
        inherits: vec![],
    };
    c.roles = palisade_core::policy::default_roles();
    c.roles.push(role("secret-writer", &["secrets.*"]));
    c.roles.push(role("secret-reader", &["secrets.data.read"]));
    c.roles.push(role("payments", &["transit.payments.*"]));
    c.roles
        .push(role("payments-encrypt", &["transit.payments.encrypt"]));
}

async fn tenant(env: &Env, admin: &str, id: &str) {
    let res = call(
        env,
        "POST",
        "/admin/tenants",
        admin,
        Some(json!({"id": id, "name": id})),
    )
    .await;
    assert_eq!(res.status(), 201);
}

async fn member(env: &Env, admin: &str, tenant: &str, user: &str, role: &str) {
    let path = format!("/admin/tenants/{tenant}/members/{user}");
    let res = call(env, "PUT", &path, admin, Some(json!({"role": role}))).await;
    assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
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

#[tokio::test]
async fn tenant_secrets_are_versioned_and_only_their_tenant_reaches_them() {
    let env = Env::start(roles).await;
    // An owner: an admin may not hand out roles that grant more than it holds (secrets.*).
    let (_, admin) = signed_in(&env, "root@example.com", &["owner"]).await;
    let (ann, ann_t) = signed_in(&env, "ann@example.com", &["member"]).await;
    let (bob, bob_t) = signed_in(&env, "bob@example.com", &["member"]).await;
    let (_, rita_t) = signed_in(&env, "rita@example.com", &["member"]).await;
    tenant(&env, &admin, "acme").await;
    tenant(&env, &admin, "beta").await;
    member(&env, &admin, "acme", &ann, "secret-writer").await;
    member(&env, &admin, "beta", &bob, "secret-writer").await;
    let p = "/v1/secrets/tenants/acme/oauth/google";

    let put = |token: String, value: &'static str| {
        let env = &env;
        async move {
            call(
                env,
                "PUT",
                p,
                &token,
                Some(json!({"value": value, "metadata": {"owner": "crm"}})),
            )
            .await
        }
    };
    let res = put(ann_t.clone(), "tok-1").await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.json::<Value>().await.unwrap()["version"], 1);
    let res = put(ann_t.clone(), "tok-2").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["version"], 2);

    let got: Value = call(&env, "GET", p, &ann_t, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["value"], "tok-2");
    assert_eq!(got["version"], 2);
    assert_eq!(got["metadata"], json!({"owner": "crm"}));
    let v1: Value = call(&env, "GET", &format!("{p}?version=1"), &ann_t, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v1["value"], "tok-1");

    // Member of another tenant, or nobody's member: refused, before the store is asked.
    let body = assert_problem(call(&env, "GET", p, &bob_t, None).await, 403, "forbidden").await;
    assert_eq!(body["permission"], "secrets.data.read");
    assert_problem(call(&env, "GET", p, &rita_t, None).await, 403, "forbidden").await;
    assert_problem(
        call(&env, "GET", "/v1/secrets/tenants/acme/absent", &bob_t, None).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        call(&env, "PUT", p, &bob_t, Some(json!({"value": "evil"}))).await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        call(
            &env,
            "PUT",
            "/v1/secrets/global/x",
            &ann_t,
            Some(json!({"value": "v"})),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    // A plain member role's `*.read` does not reach secrets.
    assert_problem(
        call(&env, "GET", "/v1/secrets/tenants/beta/x", &ann_t, None).await,
        403,
        "forbidden",
    )
    .await;
    let res = call(
        &env,
        "PUT",
        "/v1/secrets/tenants/beta/db",
        &bob_t,
        Some(json!({"value": "b"})),
    )
    .await;
    assert_eq!(res.status(), 201);

    // Listing shows only what the caller may read.
    let list: Value = call(&env, "GET", "/v1/secrets?prefix=tenants/", &ann_t, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["paths"], json!(["tenants/acme/oauth/google"]));
    let list: Value = call(&env, "GET", "/v1/secrets?prefix=tenants/", &bob_t, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["paths"], json!(["tenants/beta/db"]));
    // Pages: `next` continues after the last path scanned, filtered ones included.
    let page: Value = call(
        &env,
        "GET",
        "/v1/secrets?prefix=tenants/&limit=1",
        &ann_t,
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(page["paths"], json!(["tenants/acme/oauth/google"]));
    assert_eq!(page["next"], "tenants/acme/oauth/google");
    let path = "/v1/secrets?prefix=tenants/&limit=1&after=tenants/acme/oauth/google";
    let page: Value = call(&env, "GET", path, &ann_t, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page, json!({"paths": [], "next": null}));

    // Soft delete of the latest version, then undelete.
    let res = call(&env, "DELETE", p, &ann_t, None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["version"], 2);
    let got: Value = call(&env, "GET", p, &ann_t, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["version"], 1, "the cache was dropped on delete");
    assert_problem(
        call(&env, "GET", &format!("{p}?version=2"), &ann_t, None).await,
        404,
        "not-found",
    )
    .await;
    let res = call(
        &env,
        "POST",
        &format!("{p}/undelete?version=2"),
        &ann_t,
        None,
    )
    .await;
    assert_eq!(res.status(), 200);
    let got: Value = call(&env, "GET", p, &ann_t, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["value"], "tok-2");
    call(&env, "DELETE", &format!("{p}?version=1"), &ann_t, None).await;
    call(&env, "DELETE", &format!("{p}?version=2"), &ann_t, None).await;
    assert_problem(call(&env, "GET", p, &ann_t, None).await, 404, "not-found").await;

    // Strict bodies and paths.
    assert_problem(
        call(
            &env,
            "PUT",
            p,
            &ann_t,
            Some(json!({"value": "x", "ttl": 5})),
        )
        .await,
        422,
        "invalid-body",
    )
    .await;
    assert_problem(
        call(
            &env,
            "PUT",
            p,
            &ann_t,
            Some(json!({"value": "x", "metadata": [1]})),
        )
        .await,
        422,
        "invalid-secret",
    )
    .await;
    assert_problem(
        call(
            &env,
            "PUT",
            "/v1/secrets/tenants/acme/Bad..Name",
            &ann_t,
            Some(json!({"value": "x"})),
        )
        .await,
        422,
        "invalid-secret",
    )
    .await;
    assert_problem(
        call(&env, "GET", &format!("{p}?version=x"), &ann_t, None).await,
        422,
        "invalid-query",
    )
    .await;

    // Audit: reads are credential.access, writes secret.write, refusals denied; no values.
    let reads = events(&env, "credential.access");
    let resource = "secret:tenants/acme/oauth/google";
    assert!(reads.iter().any(|e| e.resource.as_deref() == Some(resource)
        && e.outcome == palisade_core::audit::Outcome::Success
        && e.actor.as_deref() == Some(ann.as_str())));
    assert!(reads.iter().any(|e| e.resource.as_deref() == Some(resource)
        && e.outcome == palisade_core::audit::Outcome::Denied
        && e.actor.as_deref() == Some(bob.as_str())));
    let writes = events(&env, "secret.write");
    for action in ["put", "delete", "undelete"] {
        assert!(
            writes.iter().any(|e| e.details["action"] == action
                && e.outcome == palisade_core::audit::Outcome::Success),
            "{action} audited"
        );
    }
    assert!(
        writes
            .iter()
            .any(|e| e.outcome == palisade_core::audit::Outcome::Denied
                && e.actor.as_deref() == Some(bob.as_str()))
    );
    let all = format!("{:?}", env.gw.gateway.state.audit.recent());
    for value in ["tok-1", "tok-2", "evil"] {
        assert!(!all.contains(value), "{value} reached the audit trail");
    }
    crate::audit::verified(&env).await;
}

#[tokio::test]
async fn api_key_reads_carry_the_key_id_and_the_cache_expires() {
    let env = Env::start(|c| {
        roles(c);
        c.secret_store.cache_ttl =
            palisade_gateway::config::units::HumanDuration(std::time::Duration::from_secs(60));
    })
    .await;
    let (_, kim_t) = signed_in(&env, "kim@example.com", &["member", "secret-writer"]).await;
    let res = call(
        &env,
        "POST",
        "/auth/api-keys",
        &kim_t,
        Some(json!({"name": "ci"})),
    )
    .await;
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    let key_id = created["id"].as_str().unwrap().to_string();
    let res = call(
        &env,
        "PUT",
        "/v1/secrets/global/db",
        &kim_t,
        Some(json!({"value": "pw-1"})),
    )
    .await;
    assert_eq!(res.status(), 201);
    let read = |env: &Env| {
        let key = key.clone();
        let req = env
            .http
            .get(env.url("/v1/secrets/global/db"))
            .header("x-api-key", key);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(read(&env).await["value"], "pw-1");
    let ev = events(&env, "credential.access");
    let last = ev.last().unwrap();
    assert_eq!(last.details["key_id"], key_id.as_str());
    assert_eq!(last.resource.as_deref(), Some("secret:global/db"));

    // Another replica writes straight to the store: this one serves its cache until it expires.
    let store = env.gw.gateway.state.store.clone();
    let other = palisade_gateway::protect::vault::Vault::new(
        store,
        env.gw.gateway.state.keyring.clone(),
        env.clock.clone(),
        std::time::Duration::ZERO,
    );
    other
        .put(
            "global/db",
            &secrecy::SecretString::from("pw-2"),
            Value::Null,
            None,
        )
        .await
        .unwrap();
    assert_eq!(read(&env).await["value"], "pw-1", "cached");
    env.advance(std::time::Duration::from_secs(61));
    assert_eq!(read(&env).await["value"], "pw-2", "expired after cache_ttl");
    // A write through this replica drops the entry at once.
    call(
        &env,
        "PUT",
        "/v1/secrets/global/db",
        &kim_t,
        Some(json!({"value": "pw-3"})),
    )
    .await;
    assert_eq!(read(&env).await["value"], "pw-3");
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn transit_round_trips_binds_name_and_context_and_survives_rotation() {
    let env = Env::start(roles).await;
    let (_, pay) = signed_in(&env, "pay@example.com", &["member", "payments"]).await;
    let (_, enc_only) = signed_in(&env, "enc@example.com", &["member", "payments-encrypt"]).await;
    let (_, nobody) = signed_in(&env, "nob@example.com", &["member"]).await;
    let body =
        json!({"key": "payments", "plaintext": b64(b"card 4111"), "context": b64(b"order-1")});
    let res = call(
        &env,
        "POST",
        "/v1/transit/encrypt",
        &pay,
        Some(body.clone()),
    )
    .await;
    assert_eq!(res.status(), 200);
    let ct = res.json::<Value>().await.unwrap()["ciphertext"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(ct.starts_with("pal1.dk-"), "{ct}");
    assert!(!ct.contains("4111"));

    let decrypt = |token: String, body: Value| {
        let env = &env;
        async move { call(env, "POST", "/v1/transit/decrypt", &token, Some(body)).await }
    };
    let res = decrypt(
        pay.clone(),
        json!({"key": "payments", "ciphertext": ct, "context": b64(b"order-1")}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["plaintext"],
        b64(b"card 4111")
    );
    // Wrong context, no context, another key name: one opaque 422.
    for wrong in [
        json!({"key": "payments", "ciphertext": ct, "context": b64(b"order-2")}),
        json!({"key": "payments", "ciphertext": ct}),
    ] {
        assert_problem(
            decrypt(pay.clone(), wrong).await,
            422,
            "invalid-transit-request",
        )
        .await;
    }
    let (_, both) = signed_in(&env, "both@example.com", &["owner"]).await;
    assert_problem(
        decrypt(
            both,
            json!({"key": "refunds", "ciphertext": ct, "context": b64(b"order-1")}),
        )
        .await,
        422,
        "invalid-transit-request",
    )
    .await;
    // Permissions per name and action.
    let body2 = json!({"key": "payments", "ciphertext": ct, "context": b64(b"order-1")});
    assert_problem(
        decrypt(enc_only.clone(), body2.clone()).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(
        call(
            &env,
            "POST",
            "/v1/transit/encrypt",
            &enc_only,
            Some(body.clone())
        )
        .await
        .status(),
        200
    );
    assert_problem(
        call(
            &env,
            "POST",
            "/v1/transit/encrypt",
            &nobody,
            Some(body.clone()),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    assert_problem(
        call(
            &env,
            "POST",
            "/v1/transit/encrypt",
            &pay,
            Some(json!({"key": "Bad Name", "plaintext": ""})),
        )
        .await,
        422,
        "invalid-transit-request",
    )
    .await;

    // Rotation: old ciphertexts still decrypt; rewrap moves them to the new primary.
    let keyring = env.gw.gateway.state.keyring.clone();
    let old = keyring.current().primary_id().to_string();
    let new = keyring.rotate().await.unwrap();
    assert_eq!(decrypt(pay.clone(), body2.clone()).await.status(), 200);
    let res = call(&env, "POST", "/v1/transit/rewrap", &pay, Some(body2)).await;
    assert_eq!(res.status(), 200);
    let rewrapped = res.json::<Value>().await.unwrap()["ciphertext"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(rewrapped.starts_with(&format!("pal1.{new}.")));
    // The accounts' e-mail addresses are stored under the old key too: move them first.
    keyring.reencrypt_all().await.unwrap();
    keyring.retire(&old).await.unwrap();
    let res = decrypt(
        pay.clone(),
        json!({"key": "payments", "ciphertext": rewrapped, "context": b64(b"order-1")}),
    )
    .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["plaintext"],
        b64(b"card 4111")
    );
    assert_problem(
        decrypt(
            pay,
            json!({"key": "payments", "ciphertext": ct, "context": b64(b"order-1")}),
        )
        .await,
        422,
        "invalid-transit-request",
    )
    .await;

    for kind in ["transit.encrypt", "transit.decrypt", "transit.rewrap"] {
        assert!(!events(&env, kind).is_empty(), "{kind} audited");
    }
    assert!(
        events(&env, "transit.decrypt")
            .iter()
            .any(|e| e.outcome == palisade_core::audit::Outcome::Denied)
    );
    let all = format!("{:?}", env.gw.gateway.state.audit.recent());
    assert!(!all.contains(&b64(b"card 4111")) && !all.contains(&ct));
}

#[tokio::test]
async fn the_reencryption_job_publishes_its_progress_in_metrics() {
    let env = Env::start(roles).await;
    let (_, w) = signed_in(&env, "w@example.com", &["member", "secret-writer"]).await;
    for i in 0..5 {
        let res = call(
            &env,
            "PUT",
            &format!("/v1/secrets/app/k{i}"),
            &w,
            Some(json!({"value": format!("v{i}")})),
        )
        .await;
        assert_eq!(res.status(), 201);
    }
    let keyring = env.gw.gateway.state.keyring.clone();
    let old = keyring.current().primary_id().to_string();
    keyring.rotate().await.unwrap();
    // Five secrets and the writer's encrypted e-mail address.
    assert_eq!(keyring.remaining().await.unwrap(), 6);
    assert!(matches!(
        keyring.retire(&old).await,
        Err(palisade_gateway::protect::keyring::KeyringError::InUse { count: 6, .. })
    ));
    let report = keyring.reencrypt_all().await.unwrap();
    assert_eq!((report.done, report.remaining), (6, 0));
    keyring.retire(&old).await.unwrap();
    for i in 0..5 {
        let got: Value = call(&env, "GET", &format!("/v1/secrets/app/k{i}"), &w, None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(got["value"], format!("v{i}"));
    }
    let metrics = env
        .http
        .get(env.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "palisade_keyring_reencrypt_remaining 0"),
        "{metrics}"
    );
    let done: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("palisade_keyring_reencrypt_done_total "))
        .expect("done counter present")
        .parse()
        .unwrap();
    assert!(
        done >= 5.0,
        "the counter is process-wide: at least this run's 5"
    );
}

/// The alert action `disable_api_key`: a rule on credential reads revokes the key that read.
#[tokio::test]
async fn an_alert_rule_can_disable_the_api_key_that_reads_a_credential() {
    let env = Env::start(|c| {
        roles(c);
        c.audit.alerts.rules = vec![crate::alerts::rule(
            "db_password_read",
            "credential.access",
            GroupBy::Resource,
            1,
            Risk::High,
            vec![Action::DisableApiKey],
        )];
    })
    .await;
    let (_, kim) = signed_in(&env, "kim@example.com", &["member", "secret-writer"]).await;
    let res = call(
        &env,
        "POST",
        "/auth/api-keys",
        &kim,
        Some(json!({"name": "ci"})),
    )
    .await;
    let created: Value = res.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    let put = Some(json!({"value": "pw-1"}));
    let res = call(&env, "PUT", "/v1/secrets/global/db", &kim, put).await;
    assert_eq!(res.status(), 201);
    let read = || {
        env.http
            .get(env.url("/v1/secrets/global/db"))
            .header("x-api-key", &key)
            .send()
    };
    assert_eq!(
        read().await.unwrap().status(),
        200,
        "the first read is served"
    );
    // The rule fires on that read and revokes the key: the next request with it is refused.
    let refused = crate::alerts::eventually(&env, || async {
        (read().await.unwrap().status() == 401).then_some(true)
    })
    .await;
    assert!(refused, "the key was disabled by the alert rule");
    let revoked = events(&env, "apikey.revoked");
    assert_eq!(
        revoked.last().unwrap().actor.as_deref(),
        Some("palisade:alerts")
    );
    assert_eq!(
        revoked.last().unwrap().resource.as_deref(),
        Some(format!("api_key:{}", created["id"].as_str().unwrap()).as_str())
    );
}
