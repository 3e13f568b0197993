//! The conformance checks of [`crate::seal_keys::SealKeyStore`] and of the audit query by a
//! sealed client address: one key per subject (the first stored wins), lookups by subject and
//! by id, destruction of one subject's key and of day keys up to a day (not one day more), and
//! a filter that finds a client address in the clear and sealed, and nothing else.

use crate::Store;
use crate::audit::{AuditFilter, SealedMatch};
use crate::seal_keys::SealKeyRecord;
use palisade_core::audit::{AuditRecord, GENESIS, Outcome, Risk};

fn key(id: &str, subject: &str) -> SealKeyRecord {
    SealKeyRecord {
        key_id: id.into(),
        subject: subject.into(),
        created_ms: 1_000,
        wrapped: vec![0xA5; 60],
    }
}

/// Checks sealing keys and the client-address filter on a store whose trail is empty.
pub async fn seal_key_suite(store: &dyn Store) {
    let subject = "0193a5c2-7d1e-7c3a-9f00-000000000001";
    assert_eq!(store.seal_key_of(subject).await.unwrap(), None);
    let first = store.seal_key_create(&key("ak-1", subject)).await.unwrap();
    assert_eq!(first, key("ak-1", subject));
    let again = store.seal_key_create(&key("ak-2", subject)).await.unwrap();
    assert_eq!(again, first, "the first key stored for a subject wins");
    assert_eq!(store.seal_key_by_id("ak-2").await.unwrap(), None);
    assert_eq!(store.seal_key_by_id("ak-1").await.unwrap(), Some(first));

    // In batches: one read for many subjects, one transaction creating those without a key.
    let (s2, s3) = (
        "0193a5c2-7d1e-7c3a-9f00-000000000002".to_string(),
        "0193a5c2-7d1e-7c3a-9f00-000000000003".to_string(),
    );
    let mut made = store
        .seal_keys_create(&[key("ak-9", subject), key("ak-b2", &s2), key("ak-b3", &s3)])
        .await
        .unwrap();
    made.sort_by(|a, b| a.subject.cmp(&b.subject));
    assert_eq!(
        made.iter().map(|k| k.key_id.as_str()).collect::<Vec<_>>(),
        ["ak-1", "ak-b2", "ak-b3"],
        "a subject's existing key is kept, the others are stored"
    );
    let mut read = store
        .seal_keys_of(&[s3.clone(), "nobody".into(), s2.clone()])
        .await
        .unwrap();
    read.sort_by(|a, b| a.subject.cmp(&b.subject));
    assert_eq!(read, made[1..]);
    for s in [&s2, &s3] {
        store.seal_key_destroy(s).await.unwrap();
    }

    for (id, day) in [
        ("ak-d1", "day:2026-01-30"),
        ("ak-d2", "day:2026-01-31"),
        ("ak-d3", "day:2026-02-01"),
    ] {
        store.seal_key_create(&key(id, day)).await.unwrap();
    }
    assert_eq!(
        store
            .seal_keys_destroy_days_through("2026-01-31")
            .await
            .unwrap(),
        ["day:2026-01-30", "day:2026-01-31"]
    );
    assert!(store.seal_key_by_id("ak-d3").await.unwrap().is_some());
    assert!(store.seal_key_of(subject).await.unwrap().is_some());
    assert!(
        store
            .seal_keys_destroy_days_through("2026-01-31")
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        store.seal_key_destroy(subject).await.unwrap().as_deref(),
        Some("ak-1")
    );
    assert_eq!(store.seal_key_destroy(subject).await.unwrap(), None);
    assert_eq!(store.seal_key_by_id("ak-1").await.unwrap(), None);
    let fresh = store.seal_key_create(&key("ak-3", subject)).await.unwrap();
    assert_eq!(
        fresh.key_id, "ak-3",
        "a forgotten subject may get a new key"
    );

    // A client address is found in the clear (records from before sealing) and by the prefix
    // its sealed forms share; another prefix or address is not.
    let index = "I".repeat(palisade_core::audit::sealed::INDEX_LEN);
    let other = "J".repeat(palisade_core::audit::sealed::INDEX_LEN);
    let sealed =
        |index: &str| format!("sealed:v1:{index}:ak-3:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    let mut prev = GENESIS;
    let records: Vec<AuditRecord> = [
        Some("198.51.100.7".to_string()),
        Some(sealed(&index)),
        Some(sealed(&other)),
        None,
        Some("198.51.100.8".to_string()),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, client_ip)| {
        let mut r = AuditRecord {
            seq: i as u64 + 1,
            id: uuid::Uuid::now_v7().to_string(),
            ts_ms: 5_000,
            event_type: "auth.login_failure".into(),
            risk: Risk::Medium,
            actor: None,
            action: None,
            resource_type: None,
            resource_id: None,
            tenant: None,
            result: Outcome::Failure,
            client_ip,
            user_agent: None,
            request_id: None,
            details: serde_json::Value::Null,
            source: Default::default(),
            prev_hash: GENESIS,
            hash: GENESIS,
        };
        r.link(prev);
        prev = r.hash;
        r
    })
    .collect();
    store.audit_append(&records).await.unwrap();
    let by_ip = AuditFilter {
        client_ip: Some(SealedMatch {
            plain: "198.51.100.7".into(),
            sealed_prefix: palisade_core::audit::sealed::match_prefix(&index),
        }),
        ..Default::default()
    };
    let found = store.audit_query(&by_ip, 0, 100).await.unwrap();
    assert_eq!(found.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
    assert!(
        records
            .iter()
            .all(|r| by_ip.matches(r) == [1, 2].contains(&r.seq))
    );
}
