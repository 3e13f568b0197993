//! The conformance checks of [`crate::passkeys::PasskeyStore`].

use super::user;
use crate::passkeys::PasskeyRecord;
use crate::{Store, StoreError};
use uuid::Uuid;

fn passkey(user_id: Uuid, credential_id: &[u8], created_at: i64) -> PasskeyRecord {
    PasskeyRecord {
        id: Uuid::now_v7(),
        user_id,
        credential_id: credential_id.to_vec(),
        name: format!("key {created_at}"),
        credential: r#"{"cred":{"counter":0}}"#.into(),
        sign_count: 0,
        created_at,
        last_used_at: None,
    }
}

/// Checks passkeys: several per user, unique credential ids, lookup by credential id, the
/// counter's compare-and-set, and deletion by the owner only.
pub async fn passkey_suite(store: &dyn Store) {
    let ann = user("passkey-ann@example.com");
    let bob = user("passkey-bob@example.com");
    store.user_insert(&ann).await.unwrap();
    store.user_insert(&bob).await.unwrap();
    let first = passkey(ann.id, &[1, 2, 3, 0xff], 1_000);
    let second = passkey(ann.id, &[9, 9], 2_000);
    store.passkey_insert(&first).await.unwrap();
    store.passkey_insert(&second).await.unwrap();
    assert!(matches!(
        store.passkey_insert(&passkey(bob.id, &[9, 9], 3_000)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.passkeys_for_user(ann.id).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert!(store.passkeys_for_user(bob.id).await.unwrap().is_empty());
    assert_eq!(
        store.passkey_by_credential(&[1, 2, 3, 0xff]).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.passkey_by_credential(&[1, 2, 3]).await.unwrap(), None);

    // The counter moves by compare-and-set: a second use from the same state loses.
    assert!(
        store
            .passkey_record_use(first.id, 0, 5, r#"{"cred":{"counter":5}}"#, 4_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .passkey_record_use(first.id, 0, 6, r#"{"cred":{"counter":6}}"#, 4_001)
            .await
            .unwrap()
    );
    let used = store
        .passkey_by_credential(&first.credential_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.sign_count, 5);
    assert_eq!(used.credential, r#"{"cred":{"counter":5}}"#);
    assert_eq!(used.last_used_at, Some(4_000));

    // Only the owner's id deletes.
    assert!(!store.passkey_delete(bob.id, first.id).await.unwrap());
    assert!(store.passkey_delete(ann.id, first.id).await.unwrap());
    assert!(!store.passkey_delete(ann.id, first.id).await.unwrap());
    assert_eq!(store.passkeys_for_user(ann.id).await.unwrap(), vec![second]);
    assert!(
        !store
            .passkey_record_use(first.id, 5, 7, "{}", 5_000)
            .await
            .unwrap()
    );
}
