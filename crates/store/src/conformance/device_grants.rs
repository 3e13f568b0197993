//! The conformance checks of [`crate::device_grants`]: lookups by either code hash, a grant
//! decided once and only while pending and unexpired, redeemed once and only when approved,
//! polls recorded, duplicates refused, and the bounded prune of expired grants.

use crate::device_grants::{DeviceGrant, DeviceGrantStatus};
use crate::{Store, StoreError};
use uuid::Uuid;

fn grant(n: u8, expires_at: i64) -> DeviceGrant {
    DeviceGrant {
        device_code_hash: format!("dc{n}"),
        user_code_hash: format!("uc{n}"),
        client_id: "tv-app".into(),
        client_ip: "192.0.2.7".into(),
        created_at: 1_000,
        expires_at,
        interval_secs: 5,
        last_poll_at: None,
        status: DeviceGrantStatus::Pending,
        user_id: None,
        approver_assurance: None,
    }
}

/// Runs the device grant checks on a store that holds no grants yet.
pub async fn device_grant_suite(store: &dyn Store) {
    let user = Uuid::now_v7();
    let g1 = grant(1, 10_000);
    store.device_grant_insert(&g1).await.unwrap();
    assert_eq!(
        store.device_grant_by_device_code("dc1").await.unwrap(),
        Some(g1.clone())
    );
    assert_eq!(
        store.device_grant_by_user_code("uc1").await.unwrap(),
        Some(g1.clone())
    );
    assert_eq!(store.device_grant_by_user_code("dc1").await.unwrap(), None);
    let mut dup = grant(1, 10_000);
    dup.user_code_hash = "other".into();
    assert!(matches!(
        store.device_grant_insert(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    let mut dup_user = grant(9, 10_000);
    dup_user.user_code_hash = "uc1".into();
    assert!(matches!(
        store.device_grant_insert(&dup_user).await,
        Err(StoreError::Conflict(_))
    ));

    // Not approved yet: nothing to redeem.
    assert!(!store.device_grant_redeem("dc1", 2_000).await.unwrap());
    store.device_grant_polled("dc1", 2_000, 10).await.unwrap();
    let polled = store
        .device_grant_by_device_code("dc1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (polled.last_poll_at, polled.interval_secs),
        (Some(2_000), 10)
    );

    // Decided once: a second decision (either way) changes nothing.
    assert!(
        store
            .device_grant_decide("uc1", true, user, Some(r#"{"acr":"aal2"}"#), 3_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .device_grant_decide("uc1", false, user, None, 3_000)
            .await
            .unwrap()
    );
    let approved = store
        .device_grant_by_user_code("uc1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(approved.status, DeviceGrantStatus::Approved);
    assert_eq!(approved.user_id, Some(user));
    // The approver's assurance is kept as given; the losing decision did not overwrite it.
    assert_eq!(
        approved.approver_assurance.as_deref(),
        Some(r#"{"acr":"aal2"}"#)
    );
    // Redeemed once, never after expiry.
    assert!(!store.device_grant_redeem("dc1", 10_000).await.unwrap());
    assert!(store.device_grant_redeem("dc1", 4_000).await.unwrap());
    assert!(!store.device_grant_redeem("dc1", 4_000).await.unwrap());
    assert_eq!(
        store
            .device_grant_by_device_code("dc1")
            .await
            .unwrap()
            .unwrap()
            .status,
        DeviceGrantStatus::Redeemed
    );

    // Denied; an expired grant cannot be decided; unknown codes decide nothing.
    store.device_grant_insert(&grant(2, 10_000)).await.unwrap();
    assert!(
        store
            .device_grant_decide("uc2", false, user, None, 3_000)
            .await
            .unwrap()
    );
    assert!(!store.device_grant_redeem("dc2", 4_000).await.unwrap());
    assert_eq!(
        store
            .device_grant_by_device_code("dc2")
            .await
            .unwrap()
            .unwrap()
            .status,
        DeviceGrantStatus::Denied
    );
    store.device_grant_insert(&grant(3, 5_000)).await.unwrap();
    assert!(
        !store
            .device_grant_decide("uc3", true, user, None, 5_000)
            .await
            .unwrap()
    );
    assert!(
        !store
            .device_grant_decide("nope", true, user, None, 1_000)
            .await
            .unwrap()
    );

    // Prune: bounded, expired only.
    store.device_grant_insert(&grant(4, 6_000)).await.unwrap();
    assert_eq!(store.device_grants_prune(7_000, 1).await.unwrap(), 1);
    assert_eq!(store.device_grants_prune(7_000, 10).await.unwrap(), 1);
    assert_eq!(store.device_grants_prune(7_000, 10).await.unwrap(), 0);
    assert!(
        store
            .device_grant_by_device_code("dc1")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.device_grants_prune(10_000, 10).await.unwrap(), 2);
}
