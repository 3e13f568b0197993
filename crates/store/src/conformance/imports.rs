//! Bulk imports ([`crate::imports::ImportStore`]): per-row outcomes in order, memberships
//! written with their row, nothing of a skipped or refused row written, idempotent re-runs.
//! Run by `identity_suite` (after the external-id checks), so by every backend, with and
//! without e-mail encryption.

use super::user;
use crate::Store;
use crate::identity::TenantRecord;
use crate::imports::{ImportOutcome, ImportRow};

/// Checks bulk imports on a store already holding the identity suite's users (among them
/// `ext.ada@example.com` with external id `1001`).
pub(super) async fn import_suite(store: &dyn Store) {
    store
        .tenant_insert(&TenantRecord {
            id: "imp-graph".into(),
            name: "Imported graph".into(),
            parent_id: None,
            created_at: 1_000,
        })
        .await
        .unwrap();
    let row = |ext: &str, email: &str, tenants: &[(&str, &str)]| {
        let mut u = user(email);
        u.external_id = Some(ext.into());
        u.password_hash =
            Some("$2b$04$mPirekL9DTSRpubu.C9STevVr/0EeUs7OE3LBavUQfAiPz6xLwBNK".into());
        ImportRow {
            user: u,
            memberships: tenants
                .iter()
                .map(|(t, r)| (t.to_string(), r.to_string()))
                .collect(),
        }
    };
    let batch = vec![
        row("imp-1", "imp.one@example.com", &[("imp-graph", "manager")]),
        row(
            "1001",
            "imp.ada.again@example.com",
            &[("imp-graph", "manager")],
        ),
        row("imp-2", "ext.ada@example.com", &[]),
        row("imp-3", "imp.three@example.com", &[]),
        // The same external id twice in one batch: the first wins.
        row("imp-3", "imp.three.b@example.com", &[]),
        // The same e-mail twice in one batch: the first wins.
        row("imp-4", "imp.three@example.com", &[]),
    ];
    assert_eq!(
        store.users_import(&batch).await.unwrap(),
        vec![
            ImportOutcome::Inserted,
            ImportOutcome::ExternalIdPresent,
            ImportOutcome::EmailTaken,
            ImportOutcome::Inserted,
            ImportOutcome::ExternalIdPresent,
            ImportOutcome::EmailTaken,
        ]
    );
    let one = store.user_by_external_id("imp-1").await.unwrap().unwrap();
    assert_eq!(one, batch[0].user, "stored as given, hash untouched");
    assert_eq!(
        store.user_by_email("imp.one@example.com").await.unwrap(),
        Some(one.clone())
    );
    let members: Vec<_> = store
        .memberships_list()
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.tenant_id == "imp-graph")
        .map(|m| (m.user_id, m.role))
        .collect();
    assert_eq!(
        members,
        vec![(one.id, "manager".to_string())],
        "only the inserted row's membership"
    );
    for (skipped, ext) in [
        (&batch[1], "1001"),
        (&batch[2], "imp-2"),
        (&batch[4], "imp-3"),
    ] {
        assert_eq!(
            store.user_by_id(skipped.user.id).await.unwrap(),
            None,
            "{ext}"
        );
    }
    assert_eq!(store.user_by_external_id("imp-2").await.unwrap(), None);
    assert_eq!(store.user_by_external_id("imp-4").await.unwrap(), None);

    // A re-run writes nothing.
    let again = store.users_import(&batch[..1]).await.unwrap();
    assert_eq!(again, vec![ImportOutcome::ExternalIdPresent]);
    let mut present = store
        .users_external_ids_present(&["imp-1".into(), "nope".into(), "imp-3".into()])
        .await
        .unwrap();
    present.sort();
    assert_eq!(present, vec!["imp-1".to_string(), "imp-3".to_string()]);
    assert!(store.users_import(&[]).await.unwrap().is_empty());
    // Leave the tenants as the tenant suite expects them.
    assert!(store.tenant_delete("imp-graph").await.unwrap());
}
