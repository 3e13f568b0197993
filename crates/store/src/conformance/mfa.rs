//! The conformance checks of [`crate::mfa::MfaStore`].

use super::user;
use crate::mfa::{MfaTokenRecord, TotpRecord};
use crate::{Store, StoreError};

fn totp(user_id: uuid::Uuid, name: &str, created_at: i64) -> TotpRecord {
    TotpRecord {
        id: uuid::Uuid::now_v7(),
        user_id,
        name: name.into(),
        seed_enc: format!("v1:dk-1:{name}"),
        created_at,
        confirmed_at: None,
        last_used_step: None,
    }
}

/// Checks second factors: unique names per user, steps used once and in order, recovery codes
/// single-use and replaced as a set, pending sign-in tokens consumed once and expiring, reset.
pub async fn mfa_suite(store: &dyn Store) {
    let ann = user("mfa-ann@example.com");
    let bob = user("mfa-bob@example.com");
    store.user_insert(&ann).await.unwrap();
    store.user_insert(&bob).await.unwrap();

    // Credentials: several per user, names unique per user only.
    let phone = totp(ann.id, "phone", 1_000);
    let laptop = totp(ann.id, "laptop", 2_000);
    store.totp_insert(&phone).await.unwrap();
    store.totp_insert(&laptop).await.unwrap();
    store
        .totp_insert(&totp(bob.id, "phone", 1_500))
        .await
        .unwrap();
    assert!(matches!(
        store.totp_insert(&totp(ann.id, "phone", 3_000)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.totp_for_user(ann.id).await.unwrap(),
        [phone.clone(), laptop.clone()]
    );

    // A step is accepted once, never an earlier one; the first use confirms.
    assert!(store.totp_use_step(phone.id, 100, 5_000).await.unwrap());
    assert!(
        !store.totp_use_step(phone.id, 100, 5_001).await.unwrap(),
        "replay"
    );
    assert!(
        !store.totp_use_step(phone.id, 99, 5_002).await.unwrap(),
        "earlier step"
    );
    assert!(store.totp_use_step(phone.id, 101, 6_000).await.unwrap());
    let stored = &store.totp_for_user(ann.id).await.unwrap()[0];
    assert_eq!(stored.last_used_step, Some(101));
    assert_eq!(
        stored.confirmed_at,
        Some(5_000),
        "confirmed at the first use only"
    );
    assert!(
        !store
            .totp_use_step(uuid::Uuid::now_v7(), 1, 1)
            .await
            .unwrap()
    );

    // Deleting needs the owner.
    assert!(!store.totp_delete(bob.id, laptop.id).await.unwrap());
    assert!(store.totp_delete(ann.id, laptop.id).await.unwrap());
    assert!(!store.totp_delete(ann.id, laptop.id).await.unwrap());

    // Recovery codes: single-use, per user, a new set replaces the old.
    let first: Vec<[u8; 32]> = (1..=10).map(|i| [i; 32]).collect();
    store.recovery_replace(ann.id, &first, 7_000).await.unwrap();
    store
        .recovery_replace(bob.id, &[[50; 32]], 7_000)
        .await
        .unwrap();
    assert_eq!(store.recovery_remaining(ann.id).await.unwrap(), 10);
    assert!(store.recovery_use(ann.id, &[3; 32], 8_000).await.unwrap());
    assert!(
        !store.recovery_use(ann.id, &[3; 32], 8_001).await.unwrap(),
        "used once"
    );
    assert!(
        !store.recovery_use(ann.id, &[50; 32], 8_002).await.unwrap(),
        "bob's code"
    );
    assert_eq!(store.recovery_remaining(ann.id).await.unwrap(), 9);
    let second: Vec<[u8; 32]> = (11..=20).map(|i| [i; 32]).collect();
    store
        .recovery_replace(ann.id, &second, 9_000)
        .await
        .unwrap();
    assert!(
        !store.recovery_use(ann.id, &[4; 32], 9_001).await.unwrap(),
        "old set gone"
    );
    assert!(store.recovery_use(ann.id, &[11; 32], 9_002).await.unwrap());
    assert_eq!(store.recovery_remaining(bob.id).await.unwrap(), 1);

    // Pending sign-ins: readable until expiry, consumed once.
    let pending = MfaTokenRecord {
        hash: [7; 32],
        user_id: ann.id,
        created_at: 10_000,
        expires_at: 10_300,
        binding: "fp|127.0.0.1".into(),
    };
    store.mfa_token_insert(&pending).await.unwrap();
    assert_eq!(
        store.mfa_token_get(&[7; 32], 10_100).await.unwrap(),
        Some(pending.clone())
    );
    assert_eq!(
        store.mfa_token_get(&[7; 32], 10_300).await.unwrap(),
        None,
        "expired"
    );
    assert!(
        !store.mfa_token_consume(&[7; 32], 10_300).await.unwrap(),
        "expired"
    );
    let again = MfaTokenRecord {
        hash: [8; 32],
        ..pending.clone()
    };
    store.mfa_token_insert(&again).await.unwrap();
    assert!(store.mfa_token_consume(&[8; 32], 10_100).await.unwrap());
    assert!(
        !store.mfa_token_consume(&[8; 32], 10_101).await.unwrap(),
        "consumed once"
    );
    assert_eq!(store.mfa_token_get(&[8; 32], 10_102).await.unwrap(), None);

    // Reset removes the user's factors only.
    assert_eq!(store.mfa_reset(ann.id).await.unwrap(), 11);
    assert!(store.totp_for_user(ann.id).await.unwrap().is_empty());
    assert_eq!(store.recovery_remaining(ann.id).await.unwrap(), 0);
    assert_eq!(store.totp_for_user(bob.id).await.unwrap().len(), 1);
}
