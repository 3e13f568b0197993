//! The migration window for an application's own HS256 tokens: accepted until `accept_until`
//! (test clock), only for an imported account that is not disabled, with the account's roles
//! rather than the token's, revoked by logout, and refused after the window ends.

use crate::common::*;
use crate::identity::{Env, forge_hs256};
use palisade_core::jwt::Algorithm;
use palisade_gateway::config::auth::TrustedIssuerConfig;
use palisade_store::identity::{PrincipalKind, UserRecord};
use serde_json::{Value, json};
use std::time::Duration;

const SECRET: &[u8] = b"the legacy app's HS256 secret, 32+ bytes";
/// The test clock starts at 1_900_000_000 s; the window ends a day later.
const START_S: u64 = 1_900_000_000;
const UNTIL: &str = "2030-03-18T17:46:40Z"; // START_S + 86_400

fn legacy_issuer() -> TrustedIssuerConfig {
    TrustedIssuerConfig {
        issuer: "legacy-app".into(),
        audiences: vec!["legacy-app".into()],
        algorithms: vec![Algorithm::HS256],
        shared_secret: Some(String::from_utf8(SECRET.to_vec()).unwrap()),
        accept_until: Some(UNTIL.into()),
        match_missing_iss: true,
        ..Default::default()
    }
}

async fn start() -> Env {
    let env = Env::start(|c| c.auth.trusted_issuers.push(legacy_issuer())).await;
    for (external_id, email, disabled) in [
        ("1001", "ada@example.com", false),
        ("1002", "bob@example.com", true),
    ] {
        env.identity()
            .store
            .user_insert(&UserRecord {
                id: uuid::Uuid::now_v7(),
                external_id: Some(external_id.into()),
                email: email.into(),
                name: None,
                password_hash: None,
                roles: vec!["member".into()],
                tier: "pro".into(),
                kind: PrincipalKind::Human,
                disabled,
                last_login_at: None,
                created_at: 0,
                updated_at: 0,
            })
            .await
            .unwrap();
    }
    env
}

/// A token as the old app minted it: HS256 with its secret, its own claims.
fn legacy_token(patch: Value) -> String {
    let mut claims = json!({
        "iss": "legacy-app", "aud": "legacy-app", "sub": "1001",
        "exp": START_S + 3_600, "iat": START_S, "roles": ["admin"],
    });
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    forge_hs256(&json!({"alg": "HS256", "typ": "JWT"}), &claims, SECRET)
}

#[tokio::test]
async fn the_apps_own_tokens_work_for_imported_accounts_until_the_window_ends() {
    let env = start().await;
    let token = legacy_token(json!({}));
    let me: Value = env.get_with("/auth/me", &token).await.json().await.unwrap();
    assert_eq!(me["method"], "external");
    assert_eq!(me["subject"], "1001");
    assert_eq!(
        me["roles"],
        json!(["member"]),
        "the account's roles, never the token's"
    );
    assert_eq!(me["tier"], "pro");

    let res = env.get_with("/api/orders", &token).await;
    assert_eq!(res.status(), 200);
    assert_eq!(env.up.last().header("x-palisade-user"), Some("1001"));

    // Without `iss` it is matched to the one issuer that asks for it.
    let no_iss = legacy_token(json!({"iss": null}));
    assert_eq!(env.get_with("/api/orders", &no_iss).await.status(), 200);

    // One second before the end it still works; at the end it does not, cached or not.
    env.advance(Duration::from_secs(86_399));
    let fresh = legacy_token(json!({"exp": START_S + 90_000}));
    assert_eq!(env.get_with("/api/orders", &fresh).await.status(), 200);
    env.advance(Duration::from_secs(1));
    assert_problem(
        env.get_with("/api/orders", &fresh).await,
        401,
        "window_closed",
    )
    .await;
    assert_problem(
        env.get_with(
            "/api/orders",
            &legacy_token(json!({"exp": START_S + 90_000, "jti": "x"})),
        )
        .await,
        401,
        "window_closed",
    )
    .await;
}

#[tokio::test]
async fn a_window_token_needs_an_imported_account_that_is_not_disabled() {
    let env = start().await;
    for (name, token, slug) in [
        (
            "disabled account",
            legacy_token(json!({"sub": "1002"})),
            "invalid_token",
        ),
        (
            "unknown subject",
            legacy_token(json!({"sub": "9999"})),
            "invalid_token",
        ),
        (
            "a Palisade account's UUID is no external id",
            legacy_token(json!({"sub": uuid::Uuid::now_v7().to_string()})),
            "invalid_token",
        ),
        (
            "wrong secret",
            forge_hs256(
                &json!({"alg": "HS256"}),
                &json!({"iss": "legacy-app", "aud": "legacy-app", "sub": "1001", "exp": START_S + 60}),
                b"another secret that is long enough!!",
            ),
            "bad_signature",
        ),
        (
            "wrong audience",
            legacy_token(json!({"aud": "other"})),
            "wrong_audience",
        ),
        (
            "expired",
            legacy_token(json!({"exp": START_S - 3_600})),
            "expired",
        ),
    ] {
        let res = env.get_with("/api/orders", &token).await;
        assert_eq!(res.status(), 401, "{name}");
        assert_problem(res, 401, slug).await;
    }
    assert_eq!(env.up.count(), 0, "nothing reached the upstream");

    // Disabling an account stops its window tokens at once, even cached ones.
    let token = legacy_token(json!({}));
    assert_eq!(env.get_with("/api/orders", &token).await.status(), 200);
    let ada = env
        .identity()
        .store
        .user_by_external_id("1001")
        .await
        .unwrap()
        .unwrap();
    let origin = palisade_gateway::audit::RequestOrigin::default();
    let by = palisade_gateway::identity::manage::By {
        actor: "cli".into(),
        origin: &origin,
    };
    env.identity()
        .set_user_disabled(ada.id, true, &by)
        .await
        .unwrap();
    assert_problem(
        env.get_with("/api/orders", &token).await,
        401,
        "invalid_token",
    )
    .await;
}

#[tokio::test]
async fn logout_revokes_a_window_token_until_it_expires() {
    let env = start().await;
    let token = legacy_token(json!({}));
    assert_eq!(env.get_with("/api/orders", &token).await.status(), 200);
    let res = env
        .http
        .post(env.url("/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_problem(env.get_with("/api/orders", &token).await, 401, "revoked").await;
    // Another token of the same account still works: logout ends one token, not the account.
    let other = legacy_token(json!({"jti": "second"}));
    assert_eq!(env.get_with("/api/orders", &other).await.status(), 200);
}
