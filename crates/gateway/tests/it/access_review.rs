//! The access review end to end on the test gateway with SQLite and the test clock: a key
//! never used, a key past its maximum age (used recently), an account idle past `unused_days`
//! and an administrator without a second factor are named; what is in use is not. The scheduled
//! run records `review.access` and sends the findings to the webhook, signed; one replica
//! claims each period.

use crate::alerts::{SECRET, eventually, next_delivery, receiver, signature_is_valid};
use crate::identity::Env;
use serde_json::{Value, json};
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

async fn create_key(env: &Env, token: &str, name: &str) -> (String, String) {
    let res = env
        .http
        .post(env.url("/auth/api-keys"))
        .bearer_auth(token)
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    (
        body["id"].as_str().unwrap().into(),
        body["key"].as_str().unwrap().into(),
    )
}

fn ids<T>(list: &[T], id: impl Fn(&T) -> uuid::Uuid) -> Vec<String> {
    list.iter().map(|x| id(x).to_string()).collect()
}

#[tokio::test]
async fn the_access_review_names_stale_and_old_keys_idle_accounts_and_admins_without_mfa() {
    let mut hook = receiver(0).await;
    let url = hook.url.clone();
    let env = Env::start(move |c| {
        c.store.url = "sqlite:".into();
        c.audit.alerts.webhook_url = Some(url);
        c.audit.alerts.webhook_secret = Some(SECRET.into());
        // The schedule is driven by hand here (its hourly look is real time).
        c.review.enabled = false;
    })
    .await;
    env.admin("root@example.com").await;
    let idle = env.register("idle@example.com").await;
    let ann = env.register("ann@example.com").await;
    let token = env.login("ann@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (old_id, old_key) = create_key(&env, &token, "old").await;
    let (stale_id, _) = create_key(&env, &token, "stale").await;

    env.advance(300 * DAY);
    let used = env.http.get(env.url("/api/x")).bearer_auth(&old_key).send();
    assert_eq!(used.await.unwrap().status(), 200);
    env.identity().api_keys.flush_last_used().await;
    env.advance(70 * DAY);
    env.login("ann@example.com").await;

    let state = &env.gw.gateway.state;
    assert!(palisade_gateway::audit::review::claim_period(state).await);
    assert!(
        !palisade_gateway::audit::review::claim_period(state).await,
        "one run per period"
    );
    let review = palisade_gateway::audit::review::run(state).await.unwrap();
    let root = state
        .store
        .user_by_email("root@example.com")
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string();
    let unused_accounts = ids(&review.unused_accounts, |a| a.id);
    assert!(unused_accounts.contains(&idle["id"].as_str().unwrap().to_string()));
    assert!(unused_accounts.contains(&root));
    assert!(
        !unused_accounts.contains(&ann["id"].as_str().unwrap().to_string()),
        "ann signed in"
    );
    assert_eq!(
        ids(&review.unused_keys, |k| k.id),
        std::slice::from_ref(&stale_id)
    );
    let mut old = ids(&review.old_keys, |k| k.id);
    old.sort();
    let mut expected = vec![old_id.clone(), stale_id.clone()];
    expected.sort();
    assert_eq!(old, expected, "both keys are 370 days old");
    assert_eq!(
        ids(&review.admins_without_mfa, |a| a.id),
        std::slice::from_ref(&root)
    );
    let text = review.to_text();
    assert!(
        text.contains("Administrators without a second factor: 1"),
        "{text}"
    );
    assert!(text.contains("never used"), "{text}");

    // Recorded (ids, no addresses) and sent to the webhook, signed.
    let (sig, body) = next_delivery(&mut hook).await;
    assert!(signature_is_valid(&sig, &body));
    let sent: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(sent["review"]["unused_keys"][0]["id"], stale_id, "{sent}");
    let store = state.store.clone();
    let recorded = eventually(&env, || {
        let store = store.clone();
        async move {
            let all = store.audit_range(0, 10_000).await.unwrap();
            all.into_iter().find(|r| r.event_type == "review.access")
        }
    })
    .await;
    assert_eq!(recorded.details["counts"]["unused_keys"], 1);
    assert_eq!(recorded.details["admins_without_mfa"][0], root);
    assert!(!recorded.details.to_string().contains("@example.com"));

    // Revoking the stale key takes it off the next review.
    let res = env
        .http
        .delete(env.url(&format!("/auth/api-keys/{stale_id}")))
        .bearer_auth(
            env.login("ann@example.com").await["access_token"]
                .as_str()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    let again = palisade_gateway::audit::review::run(state).await.unwrap();
    assert!(again.unused_keys.is_empty());
    assert_eq!(ids(&again.old_keys, |k| k.id), [old_id]);
}
