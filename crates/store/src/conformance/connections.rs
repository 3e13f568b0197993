//! The conformance checks of [`crate::connections::ConnectionStore`].

use super::user;
use crate::Store;
use crate::connections::{ConnectionRecord, ConnectionTokens};
use uuid::Uuid;

/// Checks connections: stored and read back as given, listed per owner oldest first, token
/// updates as compare-and-set on `updated_at` (a refresh token kept when none is given),
/// deletion by the owner only.
pub async fn connections_suite(store: &dyn Store) {
    let ann = user("connections-ann@example.com");
    let bob = user("connections-bob@example.com");
    store.user_insert(&ann).await.unwrap();
    store.user_insert(&bob).await.unwrap();
    let conn = |owner: Uuid, at: i64| ConnectionRecord {
        id: Uuid::now_v7(),
        owner_id: owner,
        provider: "corp".into(),
        access_token_enc: format!("sealed-access-{at}; --'"),
        refresh_token_enc: Some(format!("sealed-refresh-{at}")),
        expires_at: Some(at + 3_600_000),
        scopes: "openid offline_access".into(),
        created_at: at,
        updated_at: at,
    };
    let (second, first) = (conn(ann.id, 2_000), conn(ann.id, 1_000));
    let bobs = conn(bob.id, 1_500);
    for c in [&second, &first, &bobs] {
        store.connection_insert(c).await.unwrap();
    }
    assert_eq!(
        store.connection_get(first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.connection_get(Uuid::now_v7()).await.unwrap(), None);
    let ids: Vec<Uuid> = store
        .connections_of(ann.id)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, [first.id, second.id]);

    // Compare-and-set: the update that saw the current updated_at wins, a stale one loses.
    let fresh = ConnectionTokens {
        access_token_enc: "sealed-access-new".into(),
        refresh_token_enc: None,
        expires_at: Some(9_000_000),
    };
    assert!(
        store
            .connection_update_tokens(first.id, first.updated_at, &fresh, 5_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .connection_update_tokens(first.id, first.updated_at, &fresh, 6_000)
            .await
            .unwrap(),
        "a stale refresh must not overwrite the winner's tokens"
    );
    let got = store.connection_get(first.id).await.unwrap().unwrap();
    assert_eq!(got.access_token_enc, "sealed-access-new");
    assert_eq!(got.refresh_token_enc, first.refresh_token_enc, "kept");
    assert_eq!((got.expires_at, got.updated_at), (Some(9_000_000), 5_000));
    let rotated = ConnectionTokens {
        refresh_token_enc: Some("sealed-refresh-new".into()),
        ..fresh
    };
    assert!(
        store
            .connection_update_tokens(first.id, 5_000, &rotated, 7_000)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .connection_get(first.id)
            .await
            .unwrap()
            .unwrap()
            .refresh_token_enc
            .as_deref(),
        Some("sealed-refresh-new")
    );

    // Only the owner deletes.
    assert!(!store.connection_delete(bob.id, first.id).await.unwrap());
    assert!(store.connection_delete(ann.id, first.id).await.unwrap());
    assert!(!store.connection_delete(ann.id, first.id).await.unwrap());
    assert_eq!(store.connection_get(first.id).await.unwrap(), None);
    assert_eq!(store.connections_of(bob.id).await.unwrap(), [bobs]);
}
