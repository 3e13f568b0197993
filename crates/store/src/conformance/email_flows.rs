//! The conformance checks of [`crate::email_flows`]: tokens found by hash, consumed once, only
//! for their purpose and before they expire, a user's outstanding tokens revoked together, the
//! bounded prune; a changed address found by its new value (not the old), refused when taken,
//! and starting unverified.

use super::user;
use crate::email_flows::{EmailToken, EmailTokenPurpose};
use crate::identity::CONFLICT_EMAIL;
use crate::{Store, StoreError};
use uuid::Uuid;

fn token(hash: &str, user_id: Uuid, purpose: EmailTokenPurpose, expires_at: i64) -> EmailToken {
    EmailToken {
        token_hash: hash.into(),
        user_id,
        purpose,
        created_at: 1_000,
        expires_at,
        used_at: None,
    }
}

/// Runs the e-mail flow checks on a store that holds no tokens yet.
pub async fn email_flow_suite(store: &dyn Store) {
    use EmailTokenPurpose::{Reset, Verify};
    let ann = user("flow-ann@example.com");
    let bob = user("flow-bob@example.com");
    store.user_insert(&ann).await.unwrap();
    store.user_insert(&bob).await.unwrap();

    let t1 = token("t1", ann.id, Reset, 10_000);
    store.email_token_insert(&t1).await.unwrap();
    assert_eq!(store.email_token_get("t1").await.unwrap(), Some(t1.clone()));
    assert_eq!(store.email_token_get("nope").await.unwrap(), None);
    assert!(matches!(
        store.email_token_insert(&t1).await,
        Err(StoreError::Conflict(_))
    ));
    // Wrong purpose, expired: not consumed.
    assert!(
        !store
            .email_token_consume("t1", Verify, 2_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .email_token_consume("t1", Reset, 10_000)
            .await
            .unwrap()
    );
    // Once only.
    assert!(store.email_token_consume("t1", Reset, 2_000).await.unwrap());
    assert!(!store.email_token_consume("t1", Reset, 2_001).await.unwrap());
    assert_eq!(
        store.email_token_get("t1").await.unwrap().unwrap().used_at,
        Some(2_000)
    );
    assert!(
        !store
            .email_token_consume("nope", Reset, 2_000)
            .await
            .unwrap()
    );

    // Revoking spends the user's outstanding tokens of one purpose, nobody else's.
    for (h, u, p) in [
        ("t2", ann.id, Reset),
        ("t3", ann.id, Reset),
        ("t4", ann.id, Verify),
        ("t5", bob.id, Reset),
    ] {
        store
            .email_token_insert(&token(h, u, p, 10_000))
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .email_tokens_revoke(ann.id, Reset, 3_000)
            .await
            .unwrap(),
        2
    );
    assert!(!store.email_token_consume("t2", Reset, 3_001).await.unwrap());
    assert!(!store.email_token_consume("t3", Reset, 3_001).await.unwrap());
    assert!(
        store
            .email_token_consume("t4", Verify, 3_001)
            .await
            .unwrap()
    );
    assert!(store.email_token_consume("t5", Reset, 3_001).await.unwrap());
    assert_eq!(
        store
            .email_tokens_revoke(ann.id, Reset, 3_002)
            .await
            .unwrap(),
        0
    );

    // Prune: expired ones only, at most `limit`.
    store
        .email_token_insert(&token("t6", ann.id, Verify, 50_000))
        .await
        .unwrap();
    assert_eq!(store.email_tokens_prune(10_000, 2).await.unwrap(), 2);
    assert_eq!(store.email_tokens_prune(10_000, 100).await.unwrap(), 3);
    assert!(store.email_token_get("t6").await.unwrap().is_some());

    // Verification and the change of address.
    assert_eq!(store.user_email_verified_at(ann.id).await.unwrap(), None);
    assert!(store.user_set_email_verified(ann.id, 4_000).await.unwrap());
    assert_eq!(
        store.user_email_verified_at(ann.id).await.unwrap(),
        Some(4_000)
    );
    assert!(
        !store
            .user_set_email_verified(Uuid::now_v7(), 4_000)
            .await
            .unwrap()
    );
    assert_eq!(
        store.user_email_verified_at(Uuid::now_v7()).await.unwrap(),
        None
    );
    match store
        .user_set_email(ann.id, "flow-bob@example.com", 5_000)
        .await
    {
        Err(StoreError::Conflict(m)) => assert_eq!(m, CONFLICT_EMAIL),
        other => panic!("a taken address must conflict, got {other:?}"),
    }
    assert!(
        store
            .user_set_email(ann.id, "flow-ann2@example.com", 5_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .user_set_email(Uuid::now_v7(), "x@example.com", 5_000)
            .await
            .unwrap()
    );
    let moved = store.user_by_id(ann.id).await.unwrap().unwrap();
    assert_eq!(moved.email, "flow-ann2@example.com");
    assert_eq!(moved.updated_at, 5_000);
    assert_eq!(
        store
            .user_by_email("flow-ann2@example.com")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(ann.id)
    );
    assert_eq!(
        store.user_by_email("flow-ann@example.com").await.unwrap(),
        None
    );
    assert_eq!(store.user_email_verified_at(ann.id).await.unwrap(), None);
    // Setting the same address again is no conflict with itself.
    assert!(
        store
            .user_set_email(ann.id, "flow-ann2@example.com", 6_000)
            .await
            .unwrap()
    );
}
