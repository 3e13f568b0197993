//! The conformance checks of [`crate::legacy_keys::LegacyKeyStore`].

use super::{key, user};
use crate::Store;
use crate::legacy_keys::LegacyKeyRecord;

fn legacy(prefix: &str, owner: uuid::Uuid, hash: u8) -> LegacyKeyRecord {
    let mut k = key(hash, owner, 5_000);
    k.prefix = prefix.into();
    LegacyKeyRecord {
        key: k,
        lookup_prefix: prefix.into(),
        legacy_hash: Some(format!("sha256:{}", "ab".repeat(32))),
    }
}

/// Checks imported keys: batch insert (all or nothing), the one-seek lookup, neighbours for the
/// import's ambiguity check, and a migration that happens once.
pub async fn legacy_key_suite(store: &dyn Store) {
    let ann = user("legacy-owner@example.com");
    store.user_insert(&ann).await.unwrap();
    let a = legacy("acme_3f9a1c2e", ann.id, 0xa1);
    let b = legacy("acme_3f9a1d00", ann.id, 0xa2);
    let c = legacy("zeta_00000000", ann.id, 0xa3);
    store
        .legacy_keys_insert(&[a.clone(), b.clone(), c.clone()])
        .await
        .unwrap();

    // The one candidate: the presented key starts with its prefix.
    let found = store
        .legacy_key_for("acme_3f9a1c2e_secretpart")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, a);
    assert_eq!(
        store
            .legacy_key_for("acme_3f9a1d00xyz")
            .await
            .unwrap()
            .unwrap()
            .key
            .id,
        b.key.id
    );
    // Between two prefixes, or below all of them, or a near miss: none.
    for miss in [
        "acme_3f9a1c2f",
        "acme_3f9a1c2",
        "aaaa",
        "acme_3f9a1c2d_x",
        "zz",
    ] {
        assert!(
            store.legacy_key_for(miss).await.unwrap().is_none(),
            "{miss}"
        );
    }
    // An imported key is an ordinary key too.
    assert_eq!(store.api_key_get(a.key.id).await.unwrap().unwrap(), a.key);

    // Neighbours of a batch of prefixes, in one call: equal, or ones they would be ambiguous
    // with; deduplicated and in byte order, each with its owner.
    let n = store
        .legacy_prefix_neighbours(&["acme_3f9a1c".into(), "acme_3f9a1c2e_long".into()])
        .await
        .unwrap();
    let names: Vec<&str> = n.iter().map(|r| r.lookup_prefix.as_str()).collect();
    assert_eq!(names, ["acme_3f9a1c2e", "acme_3f9a1d00"], "{n:?}");
    assert_eq!(n[0].owner_id, ann.id);
    let n = store
        .legacy_prefix_neighbours(&["acme_3f9a1c30".into(), "aaaa".into(), "zzzz".into()])
        .await
        .unwrap();
    let names: Vec<&str> = n.iter().map(|r| r.lookup_prefix.as_str()).collect();
    assert_eq!(
        names,
        ["acme_3f9a1c2e", "acme_3f9a1d00", "zeta_00000000"],
        "{n:?}"
    );
    assert!(
        store
            .legacy_prefix_neighbours(&[])
            .await
            .unwrap()
            .is_empty()
    );
    // More rows than one multi-row INSERT holds, in one transaction.
    let many: Vec<_> = (0..1_203u32)
        .map(|i| {
            let mut r = legacy(&format!("many_{i:08x}"), ann.id, 0);
            r.key.hash = [0xcc; 32];
            r.key.hash[..4].copy_from_slice(&i.to_be_bytes());
            r
        })
        .collect();
    store.legacy_keys_insert(&many).await.unwrap();
    for r in [&many[0], &many[600], &many[1_202]] {
        let found = store
            .legacy_key_for(&format!("{}_x", r.lookup_prefix))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&found, r);
    }

    // A batch with a taken prefix stores nothing.
    let d = legacy("beta_11111111", ann.id, 0xa4);
    let dup = legacy("acme_3f9a1c2e", ann.id, 0xa5);
    assert!(matches!(
        store.legacy_keys_insert(&[d.clone(), dup]).await,
        Err(crate::StoreError::Conflict(_))
    ));
    assert!(
        store
            .legacy_key_for("beta_11111111x")
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.api_key_get(d.key.id).await.unwrap().is_none());

    // Migration: once; afterwards the native hash finds the key, the legacy hash is gone.
    let native = [0x5e; 32];
    assert!(store.legacy_key_migrate(a.key.id, &native).await.unwrap());
    assert!(
        !store
            .legacy_key_migrate(a.key.id, &[0x5f; 32])
            .await
            .unwrap()
    );
    let by_hash = store.api_key_by_hash(&native).await.unwrap().unwrap();
    assert_eq!(by_hash.id, a.key.id);
    let after = store
        .legacy_key_for("acme_3f9a1c2e_secretpart")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.legacy_hash, None);
    assert_eq!(after.key.hash, native);
}
