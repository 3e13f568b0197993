//! A person's data export (issue 20, item 3): `GET /auth/me/export` with a recent sign-in and
//! `GET /admin/users/{id}/export` with `admin.users.export`; one JSON document with every audit
//! event by or about the person, streamed, other people's data redacted, and on the record.

use crate::identity::Env;
use palisade_gateway::audit::{AuditEvent, Outcome, RequestOrigin, Risk};
use palisade_gateway::identity::manage::By;
use serde_json::{Value, json};
use std::time::Duration;

const EVENTS: usize = 10_000;

/// The export's body and how many pieces it arrived in.
async fn export(env: &Env, path: &str, token: &str) -> (u16, Value, usize, String) {
    let mut res = env.get_with(path, token).await;
    let status = res.status().as_u16();
    let (mut body, mut pieces) = (Vec::new(), 0);
    while let Some(piece) = res.chunk().await.unwrap() {
        body.extend_from_slice(&piece);
        pieces += 1;
    }
    let text = String::from_utf8(body).unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, json, pieces, text)
}

#[tokio::test]
async fn a_person_exports_everything_held_about_them_with_others_redacted() {
    let env = Env::start(|_| {}).await;
    let admin = env.admin("root@example.com").await;
    let ann = env.register("ann@example.com").await;
    let ann_id: uuid::Uuid = ann["id"].as_str().unwrap().parse().unwrap();
    // Another person acts on Ann's account; Ann's own events fill many pages.
    let root = env
        .identity()
        .store
        .user_by_email("root@example.com")
        .await
        .unwrap()
        .unwrap();
    let origin = RequestOrigin::default();
    env.identity()
        .set_user_tier(
            ann_id,
            "pro",
            &By {
                actor: root.id.to_string(),
                origin: &origin,
            },
        )
        .await
        .unwrap();
    // (A tier change signs the account out: Ann signs in after it.)
    let tokens = env.login("ann@example.com").await;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let key = env
        .http
        .post(env.url("/auth/api-keys"))
        .bearer_auth(&access)
        .json(&json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    assert_eq!(key.status(), 201);
    let key: Value = key.json().await.unwrap();

    let audit = &env.gw.gateway.state.audit;
    for i in 0..EVENTS {
        audit.record(
            AuditEvent::new("auth.refresh", Risk::Low, Outcome::Success)
                .actor(ann_id.to_string())
                .details(json!({ "n": i, "peer": "bob@example.com" })),
        );
    }
    audit.trail().unwrap().flush().await;

    let (status, doc, pieces, text) = export(&env, "/auth/me/export", &access).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(doc["format"], "palisade.user-export.v1");
    assert_eq!(doc["profile"]["email"], "ann@example.com");
    assert_eq!(doc["profile"]["tier"], "pro");
    assert_eq!(doc["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(doc["api_keys"][0]["prefix"], key["prefix"]);
    let events = doc["audit_events"].as_array().unwrap();
    let refreshed = events
        .iter()
        .filter(|e| e["event_type"] == "auth.refresh")
        .count();
    assert_eq!(refreshed, EVENTS, "every event, once");
    let mut seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), events.len(), "no event twice");
    assert!(pieces > 1, "streamed, not buffered: {pieces} piece(s)");
    let by_root = events
        .iter()
        .find(|e| e["event_type"] == "user.tier_changed")
        .unwrap_or_else(|| panic!("the admin's change is an event about Ann"));
    assert_eq!(by_root["actor"], "[redacted]");
    for secret in [
        "root@example.com",
        "bob@example.com",
        &root.id.to_string(),
        "password_hash",
        "$argon2",
        key["key"].as_str().unwrap(),
    ] {
        assert!(!text.contains(secret), "{secret} is not in the export");
    }

    // The admin exports the same account; others may not; an unknown id is 404.
    let (status, by_admin, _, _) =
        export(&env, &format!("/admin/users/{ann_id}/export"), &admin).await;
    assert_eq!(status, 200);
    assert_eq!(by_admin["profile"]["id"], ann_id.to_string());
    let bob = env.register("bob@example.com").await;
    let bob_token = env.login("bob@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _, _, _) =
        export(&env, &format!("/admin/users/{ann_id}/export"), &bob_token).await;
    assert_eq!(status, 403);
    let unknown = uuid::Uuid::now_v7();
    let (status, _, _, _) = export(&env, &format!("/admin/users/{unknown}/export"), &admin).await;
    assert_eq!(status, 404);
    let (status, _, _, _) = export(&env, "/admin/users/not-an-id/export", &admin).await;
    assert_eq!(status, 404);
    assert_ne!(bob["id"], ann["id"]);

    // An API key does not export; nor does a sign-in older than auth.mfa.recent_auth.
    let with_key = env
        .http
        .get(env.url("/auth/me/export"))
        .header("x-api-key", key["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(with_key.status(), 403);
    env.advance(Duration::from_secs(16 * 60));
    let renewed = env
        .post(
            "/auth/refresh",
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(renewed.status(), 200);
    let renewed: Value = renewed.json().await.unwrap();
    let stale = env
        .get_with("/auth/me/export", renewed["access_token"].as_str().unwrap())
        .await;
    assert_eq!(stale.status(), 401);
    assert!(
        stale
            .headers()
            .get("www-authenticate")
            .is_some_and(|v| v.to_str().unwrap().contains("max_age")),
        "an RFC 9470 challenge"
    );

    // Both exports are on the record, about Ann.
    audit.trail().unwrap().flush().await;
    let exported = env
        .identity()
        .store
        .audit_query(
            &palisade_store::audit::AuditFilter {
                event_type: Some("data.exported".into()),
                resource_id: Some(ann_id.to_string()),
                ..Default::default()
            },
            0,
            10,
        )
        .await
        .unwrap();
    assert_eq!(exported.len(), 2, "{exported:?}");
}
