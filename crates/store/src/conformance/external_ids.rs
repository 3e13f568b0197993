//! External ids ([`crate::identity::UserRecord::external_id`], migration 0009): unique when
//! present, any number of accounts without one, exact lookups, and a conflict that says which
//! value collided. Run by `identity_suite`, so by every backend, with and without e-mail
//! encryption.

use super::user;
use crate::identity::{CONFLICT_EMAIL, CONFLICT_EXTERNAL_ID};
use crate::{Store, StoreError};
use uuid::Uuid;

/// Checks external ids on a store already holding the identity suite's users.
pub(super) async fn external_id_suite(store: &dyn Store) {
    let mut ada = user("ext.ada@example.com");
    ada.external_id = Some("1001".into());
    store.user_insert(&ada).await.unwrap();
    assert_eq!(
        store.user_by_external_id("1001").await.unwrap(),
        Some(ada.clone()),
        "found by its external id, the whole record read back"
    );
    assert_eq!(store.user_by_id(ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(store.user_by_external_id("1002").await.unwrap(), None);
    assert_eq!(
        store.user_by_external_id("1001 ").await.unwrap(),
        None,
        "exact lookup"
    );

    // Quotes and SQL in an external id are data.
    let mut odd = user("ext.odd@example.com");
    odd.external_id = Some("x' OR '1'='1".into());
    store.user_insert(&odd).await.unwrap();
    assert_eq!(
        store.user_by_external_id("x' OR '1'='1").await.unwrap(),
        Some(odd.clone())
    );

    // The same external id again, under another e-mail: a conflict naming the external id,
    // and nothing written.
    let mut again = user("ext.other@example.com");
    again.external_id = Some("1001".into());
    match store.user_insert(&again).await {
        Err(StoreError::Conflict(what)) => assert_eq!(what, CONFLICT_EXTERNAL_ID),
        other => panic!("a duplicate external id must conflict, got {other:?}"),
    }
    assert_eq!(store.user_by_id(again.id).await.unwrap(), None);
    assert_eq!(
        store.user_by_email("ext.other@example.com").await.unwrap(),
        None
    );

    // A new external id under a taken e-mail: a conflict naming the e-mail.
    let mut taken = user("ext.ada@example.com");
    taken.external_id = Some("1003".into());
    match store.user_insert(&taken).await {
        Err(StoreError::Conflict(what)) => assert_eq!(what, CONFLICT_EMAIL),
        other => panic!("a duplicate e-mail must conflict, got {other:?}"),
    }
    assert_eq!(store.user_by_external_id("1003").await.unwrap(), None);

    // Any number of accounts without an external id (NULLs never collide).
    for n in 0..3 {
        let plain = user(&format!("ext.none{n}@example.com"));
        assert_eq!(plain.external_id, None);
        store.user_insert(&plain).await.unwrap();
    }

    // Listing carries the external id.
    let mut all = Vec::new();
    let mut after: Option<Uuid> = None;
    loop {
        let page = store.users_list(after, 50).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        all.extend(page);
    }
    let listed = all.iter().find(|u| u.id == ada.id).expect("listed");
    assert_eq!(listed.external_id.as_deref(), Some("1001"));
}
