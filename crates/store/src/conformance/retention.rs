//! The conformance checks of [`crate::retention::RetentionStore`] and of `last_login_at`: every
//! data type at its boundary (ended at the cutoff: goes; a millisecond later: stays), bounded
//! batches, sessions taking their refresh tokens along. Run on a fresh store: a purge deletes
//! whatever ended before its cutoff.

use super::{key, refresh, session, user};
use crate::Store;
use crate::identity::PrincipalKind;
use crate::identity::RevocationReason::{Admin, Logout};
use crate::retention::{PurgeCursor, PurgeKind};
use crate::revocations::{IpBlockRecord, RevokedToken};
use crate::secrets::SecretVersion;

/// The cutoff of every purge below.
const C: i64 = 10_000_000;

/// Purges `kind` from the start until the store says it is complete, `span` per batch;
/// returns each batch's count.
async fn drain(store: &dyn Store, kind: PurgeKind, span: u32) -> Vec<u64> {
    let mut batches = Vec::new();
    let mut from = PurgeCursor::start();
    loop {
        let step = store.retention_purge(kind, C, &from, span).await.unwrap();
        batches.push(step.deleted);
        match step.next {
            Some(next) => from = next,
            None => return batches,
        }
    }
}

/// Checks purges, counts, inactive accounts and the batched `last_login_at`.
pub async fn retention_suite(store: &dyn Store) {
    let owner = user("kept@example.com");
    store.user_insert(&owner).await.unwrap();

    // Sessions: expired at C and revoked at C go (with the latter's token); a millisecond
    // later stays.
    let mut s = Vec::new();
    for (expires, revoked) in [
        (C, None),
        (C + 1, None),
        (C * 2, Some(C)),
        (C * 2, Some(C + 1)),
    ] {
        let mut r = session(owner.id, 1_000);
        r.expires_at = expires;
        store.session_insert(&r).await.unwrap();
        if let Some(at) = revoked {
            store.session_revoke(r.id, at, Logout).await.unwrap();
        }
        s.push(r.id);
    }
    let mut long_lived = refresh(1, s[2]);
    long_lived.expires_at = C * 2;
    store.refresh_insert(&long_lived).await.unwrap();
    let mut expired_token = refresh(2, s[1]);
    expired_token.expires_at = C;
    store.refresh_insert(&expired_token).await.unwrap();
    let mut live_token = refresh(3, s[1]);
    live_token.expires_at = C + 1;
    store.refresh_insert(&live_token).await.unwrap();

    assert_eq!(
        store.retention_count(PurgeKind::Sessions, C).await.unwrap(),
        2,
        "a dry run counts the sessions that ended at or before the cutoff"
    );
    let batches = drain(store, PurgeKind::Sessions, 1).await;
    assert_eq!(
        batches.len(),
        4,
        "a window of one session per batch, until the last: {batches:?}"
    );
    assert_eq!(batches.iter().sum::<u64>(), 2, "{batches:?}");
    for (i, kept) in [false, true, false, true].into_iter().enumerate() {
        assert_eq!(
            store.session_get(s[i]).await.unwrap().is_some(),
            kept,
            "session {i}"
        );
    }
    assert_eq!(
        store.refresh_get(&long_lived.hash).await.unwrap(),
        None,
        "a purged session's tokens go with it, even unexpired"
    );

    // Refresh tokens: expired at C go, a millisecond later stays.
    assert_eq!(
        store
            .retention_count(PurgeKind::RefreshTokens, C)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        drain(store, PurgeKind::RefreshTokens, 10).await,
        vec![1],
        "one window holds both tokens left"
    );
    assert_eq!(store.refresh_get(&expired_token.hash).await.unwrap(), None);
    assert!(store.refresh_get(&live_token.hash).await.unwrap().is_some());

    // API keys: revoked at C, expired at C go; revoked or expiring later, or active, stay.
    let mut k = Vec::new();
    for (i, (revoked, expires)) in [
        (Some(C), None),
        (None, Some(C)),
        (Some(C + 1), None),
        (None, Some(C + 1)),
        (None, None),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = key(100 + i as u8, owner.id, 1_000);
        r.expires_at = expires;
        store.api_key_insert(&r).await.unwrap();
        if let Some(at) = revoked {
            store.api_key_revoke(r.id, at, Admin).await.unwrap();
        }
        k.push(r.id);
    }
    assert_eq!(
        store.retention_count(PurgeKind::ApiKeys, C).await.unwrap(),
        2
    );
    let batches = drain(store, PurgeKind::ApiKeys, 2).await;
    assert_eq!(batches.len(), 3, "windows of 2 over 5 keys: {batches:?}");
    assert_eq!(batches.iter().sum::<u64>(), 2, "{batches:?}");
    for (i, kept) in [false, false, true, true, true].into_iter().enumerate() {
        assert_eq!(
            store.api_key_get(k[i]).await.unwrap().is_some(),
            kept,
            "key {i}"
        );
    }

    // Revocations: records that ended at C go.
    for (jti, expires_at) in [("gone", C), ("kept", C + 1)] {
        store
            .token_revoke(&RevokedToken {
                jti: jti.into(),
                expires_at,
                revoked_at: 1,
            })
            .await
            .unwrap();
    }
    store
        .ip_block_put(&IpBlockRecord {
            ip: "10.9.9.9".into(),
            until: C,
            created_at: 1,
            reason: "alert".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .retention_count(PurgeKind::Revocations, C)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        drain(store, PurgeKind::Revocations, 10).await,
        vec![2, 0],
        "by count: until a batch finds none"
    );
    assert_eq!(store.revoked_tokens_active(0).await.unwrap().len(), 1);

    // Secret versions: a version superseded at C goes; superseded later, or latest, stays.
    let version = |path: &str, v: u32, created_at: i64| SecretVersion {
        path: path.into(),
        version: v,
        ciphertext: format!("pal1.k.{path}-{v}"),
        metadata: serde_json::json!({}),
        created_at,
        created_by: None,
        deleted_at: None,
    };
    for v in [
        version("a", 1, 1),
        version("a", 2, C),
        version("b", 1, 1),
        version("b", 2, C + 1),
    ] {
        store.secret_insert(&v).await.unwrap();
    }
    assert_eq!(
        store
            .retention_count(PurgeKind::SecretVersions, C)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        drain(store, PurgeKind::SecretVersions, 10).await,
        vec![1, 0]
    );
    assert_eq!(
        store
            .secret_versions("a")
            .await
            .unwrap()
            .iter()
            .map(|v| v.version)
            .collect::<Vec<_>>(),
        vec![2]
    );
    assert_eq!(store.secret_versions("b").await.unwrap().len(), 2);

    // last_login_at, batched, never backwards; the inactive accounts by it or by creation.
    let mut signed_in = user("signed-in@example.com");
    signed_in.created_at = 1;
    let mut later = user("later@example.com");
    later.created_at = 1;
    let mut never = user("never@example.com");
    never.created_at = C;
    let mut robot = user("svc:robot");
    robot.kind = PrincipalKind::Service;
    robot.created_at = 1;
    for u in [&signed_in, &later, &never, &robot] {
        store.user_insert(u).await.unwrap();
    }
    store
        .users_touch_login(&[
            (signed_in.id, C),
            (later.id, C + 1),
            (uuid::Uuid::now_v7(), 5),
        ])
        .await
        .unwrap();
    store
        .users_touch_login(&[(signed_in.id, C - 5)])
        .await
        .unwrap();
    assert_eq!(
        store
            .user_by_id(signed_in.id)
            .await
            .unwrap()
            .unwrap()
            .last_login_at,
        Some(C),
        "a later time never goes backwards"
    );
    let mut expected = vec![signed_in.id, never.id];
    expected.sort();
    let inactive: Vec<_> = store
        .users_inactive(C, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|id| *id != owner.id)
        .collect();
    assert_eq!(
        inactive, expected,
        "people without a sign-in since the bound (by creation when none); no service accounts"
    );
    store.user_set_disabled(never.id, true, C).await.unwrap();
    assert!(
        !store
            .users_inactive(C, 100)
            .await
            .unwrap()
            .contains(&never.id),
        "a disabled account is not listed again"
    );
    assert_eq!(
        store.users_inactive(C, 1).await.unwrap().len(),
        1,
        "bounded"
    );
}
