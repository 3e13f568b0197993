//! The conformance checks of [`crate::federation::FederationStore`].

use super::user;
use crate::federation::{CONFLICT_FEDERATED_IDENTITY, FederatedIdentityRecord};
use crate::{Store, StoreError};
use uuid::Uuid;

fn link(user_id: Uuid, issuer: &str, subject: &str, at: i64) -> FederatedIdentityRecord {
    FederatedIdentityRecord {
        id: Uuid::now_v7(),
        user_id,
        provider: "corp".into(),
        issuer: issuer.into(),
        subject: subject.into(),
        email: Some("o'brien@example.com; --".into()),
        linked_at: at,
    }
}

/// Checks linked identities: `(issuer, subject)` unique and matched exactly, several per user
/// (two from one issuer included), listing in link order, unlinking only by the owner.
pub async fn federation_suite(store: &dyn Store) {
    let ann = user("federated-ann@example.com");
    let bob = user("federated-bob@example.com");
    store.user_insert(&ann).await.unwrap();
    store.user_insert(&bob).await.unwrap();
    let iss = "https://idp.example.com";
    let first = link(ann.id, iss, "248289761001", 2_000);
    let second = link(ann.id, iss, "248289761002", 3_000);
    let github = link(ann.id, "https://api.github.com", "248289761001", 1_000);
    for r in [&first, &second, &github] {
        store.federated_identity_insert(r).await.unwrap();
    }

    assert_eq!(
        store
            .federated_identity_find(iss, "248289761001")
            .await
            .unwrap(),
        Some(first.clone())
    );
    // Exact match only: another issuer, a case change, a prefix or a trailing slash is another key.
    for (i, s) in [
        ("https://IDP.example.com", "248289761001"),
        ("https://idp.example.com/", "248289761001"),
        (iss, "24828976100"),
        (iss, "248289761001 "),
    ] {
        assert_eq!(
            store.federated_identity_find(i, s).await.unwrap(),
            None,
            "{i} {s}"
        );
    }

    // The same (issuer, subject) for another user: a conflict, whoever asks.
    match store
        .federated_identity_insert(&link(bob.id, iss, "248289761001", 4_000))
        .await
    {
        Err(StoreError::Conflict(m)) => assert_eq!(m, CONFLICT_FEDERATED_IDENTITY),
        other => panic!("a taken (issuer, subject) must conflict: {other:?}"),
    }

    // Several per user, oldest link first; none for another user.
    let ids: Vec<Uuid> = store
        .federated_identities_of(ann.id)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, [github.id, first.id, second.id]);
    assert!(
        store
            .federated_identities_of(bob.id)
            .await
            .unwrap()
            .is_empty()
    );

    // Only the owner unlinks; once.
    assert!(
        !store
            .federated_identity_delete(bob.id, first.id)
            .await
            .unwrap()
    );
    assert!(
        store
            .federated_identity_delete(ann.id, first.id)
            .await
            .unwrap()
    );
    assert!(
        !store
            .federated_identity_delete(ann.id, first.id)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .federated_identity_find(iss, "248289761001")
            .await
            .unwrap(),
        None
    );
    // Freed, the key can be linked again (to anyone).
    store
        .federated_identity_insert(&link(bob.id, iss, "248289761001", 5_000))
        .await
        .unwrap();
}
