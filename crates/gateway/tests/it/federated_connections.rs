//! OAuth connections (issue 18 item 6) against the real OpenID Provider with `offline_access`:
//! the flow through Palisade, the tokens stored sealed (the column is not the token), a fresh
//! access token for the owner (and nobody else), refreshed at the provider once it is near
//! expiry on the test clock, every read on record, deletion by the owner.

use crate::common::{TestGateway, assert_problem, start_clocked};
use crate::federated_sign_in::{Browser, SECRET, events, provider, query_param, redirect_uri};
use crate::federation::OidcProvider;
use palisade_core::clock::ManualClock;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const PASSWORD: &str = "violet-Harbor-tram-1987-quince";

/// Registers `email` and signs it in: its access token.
async fn bearer_for(gw: &TestGateway, email: &str) -> String {
    let creds = json!({"email": email, "password": PASSWORD});
    let res = crate::common::client()
        .post(gw.url("/auth/register"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    login(gw, email).await
}

/// Signs `email` in (with its roles as they are now): its access token.
async fn login(gw: &TestGateway, email: &str) -> String {
    let creds = json!({"email": email, "password": PASSWORD});
    let login: Value = crate::common::client()
        .post(gw.url("/auth/login"))
        .json(&creds)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    login["access_token"].as_str().unwrap().to_owned()
}

/// How many requests the provider's token endpoint has had.
async fn token_requests(issuer: &str) -> u64 {
    let v: Value = crate::common::client()
        .get(format!("{issuer}/__test/token-requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["token_requests"].as_u64().unwrap()
}

/// The provider accepts `token` at its userinfo endpoint (a real, live access token).
async fn provider_accepts(issuer: &str, token: &str) -> bool {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{issuer}/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        == 200
}

#[tokio::test]
async fn a_connection_keeps_sealed_tokens_and_refreshes_them_near_expiry() {
    let Some(idp) = OidcProvider::start_with(json!({
        "clients": [{
            "client_id": "palisade",
            "client_secret": SECRET,
            "redirect_uris": [redirect_uri("corp")],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }],
        "access_token_ttl": 120,
    })) else {
        return;
    };
    let issuer = idp.issuer.clone();
    let start_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let clock = Arc::new(ManualClock::starting_at(start_ms));
    let gw = start_clocked(
        |c| {
            let mut p = provider("corp", &issuer);
            p.connection_scopes = vec!["openid".into(), "offline_access".into()];
            c.auth.providers = vec![p];
            c.roles = palisade_core::policy::default_roles();
            c.roles.push(palisade_core::policy::RoleDef {
                name: "conn_reader".into(),
                grants: vec!["connections.corp.token.read".into()],
                inherits: vec![],
            });
        },
        vec![],
        clock.clone(),
    )
    .await;
    let http = crate::common::client();
    let lena = bearer_for(&gw, "lena@example.test").await;

    // Connect: the authorization URL (PKCE S256, offline_access with consent), the binding
    // cookie, the provider's sign-in, Palisade's callback.
    let mut b = Browser::new();
    let res = http
        .post(gw.url("/auth/connections/corp"))
        .bearer_auth(&lena)
        .json(&json!({"return_to": "/connected"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    b.absorb(&res);
    let auth: Value = res.json().await.unwrap();
    let auth = auth["authorization_url"].as_str().unwrap();
    assert_eq!(query_param(auth, "code_challenge_method").unwrap(), "S256");
    assert_eq!(query_param(auth, "scope").unwrap(), "openid offline_access");
    assert_eq!(query_param(auth, "prompt").unwrap(), "consent");
    let back = b.sign_in_at_idp(auth, "lena-at-idp").await;
    let res = b.callback(&gw, &back).await;
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    assert_eq!(res.headers()["location"], "/connected");
    assert_eq!(events(&gw, "connection.created").len(), 1);

    let list: Value = http
        .get(gw.url("/auth/connections"))
        .bearer_auth(&lena)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let conn = &list["connections"][0];
    assert_eq!(conn["provider"], "corp");
    assert!(conn["scope"].as_str().unwrap().contains("offline_access"));
    assert!(conn.get("access_token").is_none(), "no token in listings");
    let id = conn["id"].as_str().unwrap().to_owned();
    let token_url = gw.url(&format!("/auth/connections/{id}/token"));

    let read = |who: String| {
        let (http, url) = (http.clone(), token_url.clone());
        async move { http.get(url).bearer_auth(who).send().await.unwrap() }
    };
    let res = read(lena.clone()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let first: Value = res.json().await.unwrap();
    let a1 = first["access_token"].as_str().unwrap().to_owned();
    assert!(provider_accepts(&issuer, &a1).await, "a live token");
    // Stored sealed: neither token column holds the token.
    let row = gw
        .gateway
        .state
        .store
        .connection_get(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!row.access_token_enc.contains(&a1));
    assert!(
        row.refresh_token_enc.is_some(),
        "offline_access gave a refresh token"
    );
    assert_ne!(
        row.refresh_token_enc.as_deref(),
        Some(row.access_token_enc.as_str())
    );

    // Far from expiry: the same token, no refresh.
    let again: Value = read(lena.clone()).await.json().await.unwrap();
    assert_eq!(again["access_token"], a1.as_str());
    assert!(events(&gw, "connection.refreshed").is_empty());

    // 100 s later on the test clock the token has 20 s left: refreshed at the provider.
    clock.advance(Duration::from_secs(100));
    let fresh: Value = read(lena.clone()).await.json().await.unwrap();
    let a2 = fresh["access_token"].as_str().unwrap().to_owned();
    assert_ne!(a2, a1, "refreshed");
    assert!(
        provider_accepts(&issuer, &a2).await,
        "the refreshed token is live"
    );
    assert!(fresh["expires_at"].as_i64().unwrap() > row.expires_at.unwrap());
    assert_eq!(events(&gw, "connection.refreshed").len(), 1);
    let reads = events(&gw, "connection.token_read");
    assert_eq!(reads.len(), 3, "every read on record");
    assert_eq!(
        reads[0].resource.as_deref(),
        Some(format!("connection:{id}").as_str())
    );

    // Two reads at once when the token is near expiry again: one refresh (single flight), both
    // answered with a live token.
    let before = token_requests(&issuer).await;
    clock.advance(Duration::from_secs(100));
    let (r1, r2) = tokio::join!(read(lena.clone()), read(lena.clone()));
    assert_eq!((r1.status().as_u16(), r2.status().as_u16()), (200, 200));
    assert_eq!(
        token_requests(&issuer).await,
        before + 1,
        "one refresh request reached the provider, not two"
    );
    assert_eq!(events(&gw, "connection.refreshed").len(), 2);

    // A service account whose role grants connections.corp.token.read reads it; a person
    // with the same role who does not own it does not.
    bearer_for(&gw, "owner@example.test").await;
    let owner_id = gw
        .gateway
        .state
        .store
        .user_by_email("owner@example.test")
        .await
        .unwrap()
        .unwrap()
        .id;
    gw.gateway
        .state
        .store
        .user_set_roles(owner_id, &["owner".into()], 0)
        .await
        .unwrap();
    let owner = login(&gw, "owner@example.test").await;
    let res = http
        .post(gw.url("/admin/service-accounts"))
        .bearer_auth(&owner)
        .json(&json!({"name": "upstream-app", "roles": ["conn_reader"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let svc: Value = res.json().await.unwrap();
    let res = http
        .post(gw.url(&format!(
            "/admin/service-accounts/{}/api-keys",
            svc["id"].as_str().unwrap()
        )))
        .bearer_auth(&owner)
        .json(&json!({"name": "tokens", "scopes": ["connections.corp.token.read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let key: Value = res.json().await.unwrap();
    let res = http
        .get(&token_url)
        .header("x-api-key", key["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let by_svc = events(&gw, "connection.token_read");
    assert_eq!(
        by_svc.last().unwrap().actor.as_deref(),
        svc["id"].as_str(),
        "the service account's read is on record as its own"
    );

    // Another account reads nothing and deletes nothing; the owner deletes.
    bearer_for(&gw, "mike@example.test").await;
    let mike_id = gw
        .gateway
        .state
        .store
        .user_by_email("mike@example.test")
        .await
        .unwrap()
        .unwrap()
        .id;
    gw.gateway
        .state
        .store
        .user_set_roles(mike_id, &["conn_reader".into()], 0)
        .await
        .unwrap();
    let mike = login(&gw, "mike@example.test").await;
    assert_problem(read(mike.clone()).await, 404, "not-found").await;
    let del = |who: String| {
        let (http, url) = (http.clone(), gw.url(&format!("/auth/connections/{id}")));
        async move { http.delete(url).bearer_auth(who).send().await.unwrap() }
    };
    assert_problem(del(mike).await, 404, "not-found").await;
    assert_eq!(del(lena.clone()).await.status(), 204);
    assert_problem(read(lena.clone()).await, 404, "not-found").await;
    assert_eq!(events(&gw, "connection.revoked").len(), 1);

    // A provider without connection_scopes offers none.
    let res = http
        .post(gw.url("/auth/connections/nope"))
        .bearer_auth(&lena)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "provider-unknown").await;
}
