//! The admin API the console uses, over HTTP: people's accounts (keyset paging, exact e-mail
//! and substring search, creation, roles, tier), their sessions and API keys (listed and
//! revoked with reason `admin`) and factors. Each change is checked to be on record exactly
//! once. Time comes from the `ManualClock` of [`Env`].

use crate::common::*;
use crate::identity::{Env, PASSWORD};
use palisade_store::identity::{PrincipalKind, UserRecord};
use serde_json::{Value, json};
use std::collections::HashSet;

impl Env {
    async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    async fn json_of(&self, path: &str, token: &str) -> Value {
        let res = self.get_with(path, token).await;
        assert_eq!(res.status(), 200, "GET {path}");
        res.json().await.unwrap()
    }

    /// The subject tokens of the account with this e-mail address carry.
    async fn subject_of(&self, email: &str) -> Option<String> {
        let id = self.identity();
        let user = id.store.user_by_email(email).await.unwrap()?;
        Some(id.subject_of(&user))
    }

    /// The stored events of `event_type` about `resource` (`user:…`), once the trail is flushed.
    async fn events(
        &self,
        event_type: &str,
        resource: &str,
    ) -> Vec<palisade_core::audit::AuditRecord> {
        let state = &self.gw.gateway.state;
        state.audit.trail().unwrap().flush().await;
        let (kind, id) = resource.split_once(':').unwrap();
        state
            .store
            .audit_range(0, 100_000)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| {
                r.event_type == event_type
                    && r.resource_type.as_deref() == Some(kind)
                    && r.resource_id.as_deref() == Some(id)
            })
            .collect()
    }
}

/// A person's account written straight to the store (hashing hundreds of passwords over HTTP
/// would only slow the test down).
fn person(i: usize) -> UserRecord {
    UserRecord {
        id: uuid::Uuid::now_v7(),
        external_id: None,
        email: format!("person{i:04}@example.com"),
        name: Some(format!("Person {i:04}")),
        password_hash: None,
        roles: vec!["member".into()],
        tier: "free".into(),
        kind: PrincipalKind::Human,
        disabled: false,
        last_login_at: None,
        created_at: 1_000,
        updated_at: 1_000,
    }
}

#[tokio::test]
async fn users_are_paged_by_cursor_without_gaps_and_searched_by_email_and_substring() {
    let env = Env::start(|_| {}).await;
    let admin = env.admin("root@example.com").await;
    let store = &env.identity().store;
    for i in 0..230 {
        store.user_insert(&person(i)).await.unwrap();
    }
    let mut bot = person(9999);
    bot.email = "svc:bot".into();
    bot.kind = PrincipalKind::Service;
    store.user_insert(&bot).await.unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/users?limit=200&cursor={c}"),
            None => "/admin/users?limit=200".to_string(),
        };
        let page = env.json_of(&path, &admin).await;
        pages += 1;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 200);
        seen.extend(items.iter().map(|u| u["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(
        seen.len(),
        231,
        "230 people and the administrator, no service account"
    );
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        231,
        "no duplicates"
    );
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "id order");

    let page = env
        .json_of("/admin/users?q=Person0007@EXAMPLE.com", &admin)
        .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "exact e-mail, normalized");
    let u = &items[0];
    assert_eq!(u["email"], "person0007@example.com");
    assert_eq!(u["name"], "Person 0007");
    assert_eq!(u["disabled"], false);
    assert_eq!(u["deleted"], false);
    assert_eq!(u["roles"], json!(["member"]));
    assert_eq!(u["tier"], "free");
    assert_eq!(u["created_at"], 1_000);
    assert_eq!(u["last_login_at"], Value::Null);
    assert_eq!(u["mfa_enrolled"], false);
    assert!(u.get("password_hash").is_none());
    assert_eq!(page["next_cursor"], Value::Null);
    let none = env
        .json_of("/admin/users?q=person0007@example.co", &admin)
        .await;
    assert_eq!(none["items"], json!([]), "no prefix match on e-mail");

    let page = env.json_of("/admin/users?q=erson%20012", &admin).await;
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 10, "{names:?}");
    assert!(names.iter().all(|n| n.starts_with("Person 012")));
    let id = &seen[5];
    let page = env
        .json_of(&format!("/admin/users?q={}", &id[20..]), &admin)
        .await;
    assert_eq!(page["items"][0]["id"], id.as_str(), "by part of the id");

    for bad in ["limit=0", "limit=201", "cursor=nope", "limit=x", "other=1"] {
        let res = env.get_with(&format!("/admin/users?{bad}"), &admin).await;
        assert_problem(res, 400, "invalid-query").await;
    }
    let detail = env.json_of(&format!("/admin/users/{id}"), &admin).await;
    assert_eq!(detail["id"], id.as_str());
    assert_eq!(detail["tenants"], json!([]));
    let res = env
        .get_with(&format!("/admin/users/{}", uuid::Uuid::now_v7()), &admin)
        .await;
    assert_problem(res, 404, "not-found").await;
}

#[tokio::test]
async fn an_administrator_creates_accounts_and_duplicates_and_weak_passwords_are_refused() {
    let env = Env::start(|_| {}).await;
    let admin = env.admin("root@example.com").await;
    let post =
        |body: Value| env.send_json(reqwest::Method::POST, "/admin/users", &admin, Some(body));

    let res = post(
        json!({"email": "Ada@Example.com", "name": "Ada", "password": PASSWORD,
        "roles": ["viewer"], "tier": "pro"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let ada: Value = res.json().await.unwrap();
    assert_eq!(ada["email"], "ada@example.com");
    assert_eq!(ada["roles"], json!(["viewer"]));
    assert_eq!(ada["tier"], "pro");
    env.login("ada@example.com").await;
    let created = env
        .events(
            "user.created",
            &format!("user:{}", ada["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(created.len(), 1, "recorded once");
    assert_eq!(
        created[0].actor.as_deref(),
        env.subject_of("root@example.com").await.as_deref()
    );

    let res = post(json!({"email": "ada@example.com", "password": PASSWORD})).await;
    assert_problem(res, 409, "email-taken").await;
    let res = post(json!({"email": "bob@example.com", "password": "short"})).await;
    let problem = assert_problem(res, 422, "weak-password").await;
    assert!(!problem["violations"].as_array().unwrap().is_empty());
    let res = post(json!({"email": "bob@example.com", "roles": ["no-such-role"]})).await;
    assert_problem(res, 422, "unknown-role").await;
    let res = post(json!({"email": "bob@example.com", "tier": "gold"})).await;
    assert_problem(res, 422, "unknown-tier").await;
    let res = post(json!({"email": "not an address"})).await;
    assert_problem(res, 422, "invalid-email").await;
    let res = post(json!({"email": "bob@example.com", "admin": true})).await;
    assert_eq!(res.status(), 422, "unknown fields are refused");

    // Without a password: the default roles, and no password sign-in until one is set
    // through the forgotten-password flow.
    let res = post(json!({"email": "bob@example.com"})).await;
    assert_eq!(res.status(), 201);
    let bob: Value = res.json().await.unwrap();
    assert_eq!(bob["roles"], json!(["member"]));
    assert_eq!(bob["tier"], "free");
    let res = env
        .post(
            "/auth/login",
            json!({"email": "bob@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 401);
    env.advance(std::time::Duration::from_secs(1)); // the brute-force ladder's first wait

    // A member cannot create accounts; the refusal is on record.
    env.register("m@example.com").await;
    let member = env.login("m@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let res = env
        .send_json(
            reqwest::Method::POST,
            "/admin/users",
            &member,
            Some(json!({"email": "eve@example.com"})),
        )
        .await;
    assert_problem(res, 403, "forbidden").await;
    assert_eq!(
        env.events("authz.denied", "permission:admin.users.write")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn roles_and_tier_changes_are_checked_and_recorded_once() {
    let env = Env::start(|_| {}).await;
    let admin = env.admin("root@example.com").await;
    let user = env.register("ann@example.com").await;
    let id = user["id"].as_str().unwrap();
    let old = env.login("ann@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let (env, admin) = (&env, &admin);
    let put = |path: String, body: Value| async move {
        env.send_json(reqwest::Method::PUT, &path, admin, Some(body))
            .await
    };
    let res = put(
        format!("/admin/users/{id}/roles"),
        json!({"roles": ["viewer"]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["roles"], json!(["viewer"]));
    assert_eq!(
        env.events("user.roles_changed", &format!("user:{id}"))
            .await
            .len(),
        1
    );
    assert_eq!(
        env.get_with("/auth/me", &old).await.status(),
        401,
        "sessions revoked"
    );

    let res = put(
        format!("/admin/users/{id}/roles"),
        json!({"roles": ["nope"]}),
    )
    .await;
    assert_problem(res, 422, "unknown-role").await;
    let res = put(format!("/admin/users/{id}/roles"), json!({"roles": []})).await;
    assert_problem(res, 422, "invalid-roles").await;
    let missing = uuid::Uuid::now_v7();
    let res = put(
        format!("/admin/users/{missing}/roles"),
        json!({"roles": ["viewer"]}),
    )
    .await;
    assert_problem(res, 404, "not-found").await;

    let res = put(
        format!("/admin/users/{id}/tier"),
        json!({"tier": "enterprise"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let view: Value = res.json().await.unwrap();
    assert_eq!(view["tier"], "enterprise");
    let res = put(format!("/admin/users/{id}/tier"), json!({"tier": "gold"})).await;
    assert_problem(res, 422, "unknown-tier").await;
    assert_eq!(
        env.events("user.tier_changed", &format!("user:{id}"))
            .await
            .len(),
        1
    );
    assert_eq!(
        env.events("user.roles_changed", &format!("user:{id}"))
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn sessions_and_keys_are_listed_and_revoked_with_reason_admin() {
    let env = Env::start(|_| {}).await;
    let admin = env.admin("root@example.com").await;
    let user = env.register("kim@example.com").await;
    let id = user["id"].as_str().unwrap();
    let first = env.login("kim@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let second = env.login("kim@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let list = env
        .json_of(&format!("/admin/users/{id}/sessions"), &admin)
        .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for s in items {
        assert_eq!(s["ip"], Value::Null);
        assert_eq!(s["revoked_at"], Value::Null);
        assert!(s["device"].is_string() && s["created_at"].is_i64() && s["expires_at"].is_i64());
    }
    // Newest first: the first sign-in's session is the last listed.
    let sid = items[1]["id"].as_str().unwrap().to_string();
    let path = format!("/admin/users/{id}/sessions/{sid}");
    let res = env
        .send_json(reqwest::Method::DELETE, &path, &admin, None)
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(env.get_with("/auth/me", &first).await.status(), 401);
    assert_eq!(env.get_with("/auth/me", &second).await.status(), 200);
    let list = env
        .json_of(&format!("/admin/users/{id}/sessions"), &admin)
        .await;
    let revoked = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == sid.as_str())
        .unwrap();
    assert_eq!(revoked["revoked_reason"], "admin");
    let events = env
        .events("auth.session_revoked", &format!("session:{sid}"))
        .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].details["reason"], "admin");
    // Another account's path does not reach this session.
    let admin_id = env.subject_of("root@example.com").await.unwrap();
    let res = env
        .send_json(
            reqwest::Method::DELETE,
            &format!("/admin/users/{admin_id}/sessions/{sid}"),
            &admin,
            None,
        )
        .await;
    assert_problem(res, 404, "not-found").await;

    let res = env
        .send_json(
            reqwest::Method::DELETE,
            &format!("/admin/users/{id}/sessions"),
            &admin,
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["revoked"], 1);
    assert_eq!(env.get_with("/auth/me", &second).await.status(), 401);
    let all = env
        .events("auth.sessions_revoked_all", &format!("user:{id}"))
        .await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].details["reason"], "admin");

    // Keys: metadata only, revoked with reason admin, and refused afterwards.
    let access = env.login("kim@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let created: Value = env
        .send_json(
            reqwest::Method::POST,
            "/auth/api-keys",
            &access,
            Some(json!({"name": "ci"})),
        )
        .await
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    let kid = created["id"].as_str().unwrap().to_string();
    assert_eq!(env.get_with("/api/x", &key).await.status(), 200);
    let keys = env
        .json_of(&format!("/admin/users/{id}/keys"), &admin)
        .await;
    let listed = &keys["items"][0];
    assert_eq!(listed["id"], kid.as_str());
    assert_eq!(listed["name"], "ci");
    assert!(key.starts_with(listed["prefix"].as_str().unwrap()));
    assert!(!keys.to_string().contains(&key[12..]), "never the key");
    let res = env
        .send_json(
            reqwest::Method::DELETE,
            &format!("/admin/users/{admin_id}/keys/{kid}"),
            &admin,
            None,
        )
        .await;
    assert_problem(res, 404, "not-found").await;
    let res = env
        .send_json(
            reqwest::Method::DELETE,
            &format!("/admin/users/{id}/keys/{kid}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(env.get_with("/api/x", &key).await.status(), 401);
    let keys = env
        .json_of(&format!("/admin/users/{id}/keys"), &admin)
        .await;
    assert_eq!(keys["items"][0]["revoked_reason"], "admin");
    let events = env
        .events("apikey.revoked", &format!("api_key:{kid}"))
        .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].details["reason"], "admin");

    let factors = env.json_of(&format!("/admin/users/{id}/mfa"), &admin).await;
    assert_eq!(
        factors,
        json!({"totp": [], "passkeys": [], "recovery_codes_remaining": 0})
    );
}

#[tokio::test]
async fn an_address_blocked_by_hand_is_refused_until_unblocked() {
    let env = Env::start(|c| c.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]).await;
    let admin = env.admin("root@example.com").await;
    let from = |ip: &'static str| {
        let env = &env;
        async move {
            env.http
                .get(env.url("/api/x"))
                .header("x-forwarded-for", ip)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(from("203.0.113.9").await.status(), 200);
    let post = |body: Value| {
        env.send_json(
            reqwest::Method::POST,
            "/admin/ip-blocks",
            &admin,
            Some(body),
        )
    };
    for (body, slug) in [
        (
            json!({"ip": "203.0.113.999", "duration_secs": 60, "reason": "x"}),
            "invalid-ip",
        ),
        (
            json!({"ip": "203.0.113.9", "duration_secs": 0, "reason": "x"}),
            "invalid-duration",
        ),
        (
            json!({"ip": "203.0.113.9", "duration_secs": 365 * 86_400 + 1, "reason": "x"}),
            "invalid-duration",
        ),
        (
            json!({"ip": "203.0.113.9", "duration_secs": 60, "reason": " "}),
            "invalid-reason",
        ),
    ] {
        assert_problem(post(body).await, 422, slug).await;
    }
    let res = post(json!({"ip": "203.0.113.9", "duration_secs": 3600, "reason": "scanning"})).await;
    assert_eq!(res.status(), 201);
    let placed: Value = res.json().await.unwrap();
    assert_eq!(
        placed,
        json!({"ip": "203.0.113.9", "remaining_seconds": 3600, "reason": "scanning"})
    );
    assert_problem(from("203.0.113.9").await, 403, "ip-blocked").await;
    assert_eq!(
        from("203.0.113.10").await.status(),
        200,
        "only that address"
    );
    let events = env.events("ip.blocked", "ip:203.0.113.9").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].details["cause"], "admin");
    assert_eq!(events[0].details["reason"], "scanning");
    let list = env.json_of("/admin/ip-blocks", &admin).await;
    assert_eq!(list["blocks"][0]["ip"], "203.0.113.9");

    let res = env
        .send_json(
            reqwest::Method::DELETE,
            "/admin/ip-blocks/203.0.113.9",
            &admin,
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_eq!(from("203.0.113.9").await.status(), 200);
}

#[tokio::test]
async fn secret_metadata_is_listed_without_values() {
    let env = Env::start(|_| {}).await;
    let admin = env.admin("root@example.com").await;
    let vault = &env.gw.gateway.state.vault;
    let value = secrecy::SecretString::from("s3cr3t-value-never-listed");
    for path in [
        "payments/stripe",
        "payments/stripe",
        "payments/adyen",
        "mail/smtp",
    ] {
        vault
            .put(path, &value, json!({"owner": "ops"}), Some("root".into()))
            .await
            .unwrap();
    }
    vault.delete("payments/stripe", Some(2)).await.unwrap();

    let page = env.json_of("/admin/secrets?limit=2", &admin).await;
    assert!(!page.to_string().contains("s3cr3t"));
    let paths: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["mail/smtp", "payments/adyen"]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let page = env
        .json_of(&format!("/admin/secrets?limit=2&cursor={cursor}"), &admin)
        .await;
    assert_eq!(page["next_cursor"], Value::Null);
    let stripe = &page["items"][0];
    assert_eq!(stripe["path"], "payments/stripe");
    assert_eq!(stripe["versions"], 2);
    assert_eq!(stripe["current_version"], 1, "version 2 is deleted");
    let page = env.json_of("/admin/secrets?prefix=mail/", &admin).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);

    let versions = env.json_of("/admin/secrets/payments/stripe", &admin).await;
    assert!(!versions.to_string().contains("s3cr3t"));
    assert_eq!(versions["versions"][0]["version"], 1);
    assert_eq!(versions["versions"][0]["created_by"], "root");
    assert_eq!(versions["versions"][0]["metadata"], json!({"owner": "ops"}));
    assert!(versions["versions"][1]["deleted_at"].is_i64());
    assert_problem(
        env.get_with("/admin/secrets/nothing/here", &admin).await,
        404,
        "not-found",
    )
    .await;
    assert_problem(
        env.get_with("/admin/secrets?limit=500", &admin).await,
        400,
        "invalid-query",
    )
    .await;
}

/// An account holding only `role`, signed in.
async fn holder_of(env: &Env, email: &str, role: &str) -> (String, String) {
    let user = env.register(email).await;
    let id = user["id"].as_str().unwrap().to_string();
    env.identity()
        .store
        .user_set_roles(id.parse().unwrap(), &[role.to_string()], 0)
        .await
        .unwrap();
    let token = env.login(email).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    (id, token)
}

#[tokio::test]
async fn the_auditor_reads_every_admin_endpoint_and_every_change_is_refused_on_record() {
    let env = Env::start(|_| {}).await;
    let (_, auditor) = holder_of(&env, "aud@example.com", "auditor").await;
    let (uid, _) = holder_of(&env, "kim@example.com", "member").await;
    let sid = uuid::Uuid::now_v7();
    for path in [
        "/admin/users".to_string(),
        format!("/admin/users/{uid}"),
        format!("/admin/users/{uid}/sessions"),
        format!("/admin/users/{uid}/keys"),
        format!("/admin/users/{uid}/mfa"),
        "/admin/tenants".into(),
        "/admin/roles".into(),
        "/admin/policy/explain?as=kim@example.com&method=GET&path=/api/x".into(),
        "/admin/ip-blocks".into(),
        "/admin/audit".into(),
        "/admin/security/summary".into(),
        "/admin/incidents".into(),
        "/admin/openapi.json".into(),
        "/admin/lockdown".into(),
        "/admin/compliance/report?standard=soc2-tsc".into(),
        "/admin/secrets".into(),
        "/admin/dashboard/series".into(),
    ] {
        let res = env.get_with(&path, &auditor).await;
        assert_eq!(
            res.status(),
            200,
            "GET {path}: {}",
            res.text().await.unwrap()
        );
    }
    use reqwest::Method as M;
    let writes: Vec<(M, String, Option<Value>, &str)> = vec![
        (
            M::POST,
            "/admin/users".into(),
            Some(json!({"email": "x@example.com"})),
            "admin.users.write",
        ),
        (
            M::PUT,
            format!("/admin/users/{uid}/roles"),
            Some(json!({"roles": ["auditor"]})),
            "admin.users.write",
        ),
        (
            M::PUT,
            format!("/admin/users/{uid}/tier"),
            Some(json!({"tier": "pro"})),
            "admin.users.write",
        ),
        (
            M::POST,
            format!("/admin/users/{uid}/disable"),
            None,
            "admin.users.write",
        ),
        (
            M::DELETE,
            format!("/admin/users/{uid}/sessions"),
            None,
            "admin.users.write",
        ),
        (
            M::DELETE,
            format!("/admin/users/{uid}/sessions/{sid}"),
            None,
            "admin.users.write",
        ),
        (
            M::DELETE,
            format!("/admin/users/{uid}/keys/{sid}"),
            None,
            "admin.keys.write",
        ),
        (
            M::DELETE,
            format!("/admin/users/{uid}/mfa"),
            None,
            "admin.mfa.write",
        ),
        (
            M::GET,
            format!("/admin/users/{uid}/export"),
            None,
            "admin.users.export",
        ),
        (
            M::POST,
            "/admin/ip-blocks".into(),
            Some(json!({"ip": "192.0.2.1", "duration_secs": 60, "reason": "x"})),
            "admin.ip_blocks.write",
        ),
        (
            M::DELETE,
            "/admin/ip-blocks/192.0.2.1".into(),
            None,
            "admin.ip_blocks.write",
        ),
        (
            M::POST,
            "/admin/tenants".into(),
            Some(json!({"id": "t", "name": "t"})),
            "admin.tenants.write",
        ),
        (
            M::POST,
            "/admin/lockdown".into(),
            Some(json!({"on": true})),
            "admin.lockdown.write",
        ),
        (
            M::POST,
            "/admin/config/reload".into(),
            None,
            "admin.config.write",
        ),
    ];
    let mut refused = std::collections::HashMap::new();
    for (method, path, body, permission) in writes {
        let res = env.send_json(method.clone(), &path, &auditor, body).await;
        let problem = assert_problem(res, 403, "forbidden").await;
        assert_eq!(problem["permission"], permission, "{method} {path}");
        let expected = refused.entry(permission).or_insert(0usize);
        *expected += 1;
        assert_eq!(
            env.events("authz.denied", &format!("permission:{permission}"))
                .await
                .len(),
            *expected,
            "{method} {path} on record"
        );
    }
    // No secret value either.
    let res = env.get_with("/v1/secrets/payments/stripe", &auditor).await;
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn the_dashboard_series_counts_requests_and_refusals_and_rolls_with_the_clock() {
    let env = Env::start(|_| {}).await;
    let admin = env.admin("root@example.com").await;
    // A fresh minute holds only what follows.
    env.advance(std::time::Duration::from_secs(60));
    for _ in 0..3 {
        assert_eq!(env.get_with("/api/x", &admin).await.status(), 200);
    }
    let mut slug = String::new();
    for _ in 0..2 {
        let res = env.get_with("/api/x", "not-a-token").await;
        assert_eq!(res.status(), 401);
        let problem: Value = res.json().await.unwrap();
        slug = problem["type"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .to_string();
    }
    let series = env.json_of("/admin/dashboard/series", &admin).await;
    assert_eq!(series["bucket_secs"], 60);
    assert!(series["replica"].as_str().is_some_and(|r| !r.is_empty()));
    let buckets = series["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 60);
    let now = &buckets[59];
    assert_eq!(now["requests"], 5, "{now}");
    assert_eq!(now["refusals"], json!({ format!("identify:{slug}"): 2 }));
    assert_eq!(now["rate_limited"], 0);
    assert!(now["p50_ms"].as_f64().unwrap() <= now["p99_ms"].as_f64().unwrap());
    let start = now["start"].as_u64().unwrap();
    assert_eq!(start % 60, 0);
    assert_eq!(buckets[58]["start"].as_u64().unwrap(), start - 60);
    assert_eq!(series["health"], json!({"store": "ok", "hot": "ok"}));
    assert!(series["circuits"].is_array());

    env.advance(std::time::Duration::from_secs(60));
    assert_eq!(env.get_with("/api/x", &admin).await.status(), 200);
    let res = env
        .post(
            "/auth/login",
            json!({"email": "root@example.com", "password": "wrong password 1"}),
        )
        .await;
    assert_eq!(res.status(), 401);
    let series = env.json_of("/admin/dashboard/series", &admin).await;
    let buckets = series["buckets"].as_array().unwrap();
    assert_eq!(
        buckets[58]["start"].as_u64().unwrap(),
        start,
        "rolled by one minute"
    );
    assert_eq!(
        buckets[58]["requests"], 6,
        "the five and the first series read"
    );
    assert_eq!(buckets[59]["requests"], 2);
    assert_eq!(
        buckets[59]["refusals"],
        json!({"auth:invalid-credentials": 1})
    );
    let failed = series["cluster"]["failed_sign_ins"].as_array().unwrap();
    assert_eq!(failed.len(), 60);
    assert_eq!(failed[59], json!({"start": start + 60, "count": 1}));
    assert_eq!(failed[58]["count"], 0);
    assert_eq!(series["cluster"]["blocks"][59]["count"], 0);
}
