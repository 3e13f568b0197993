//! People's accounts paged and searched ([`crate::identity::IdentityStore::users_page`]):
//! keyset pages in id order without gaps or repeats, service accounts left out, a substring of
//! the name or the id matched ignoring case, and LIKE wildcards in the needle taken literally.
//! Run by `identity_suite`, so by every backend, with and without e-mail encryption.

use super::user;
use crate::Store;
use crate::identity::PrincipalKind;
use uuid::Uuid;

/// Checks paging and search on a store already holding the identity suite's users.
pub(super) async fn user_search_suite(store: &dyn Store) {
    let mut made = Vec::new();
    for (i, name) in [
        "Zebulon Quarry",
        "zebulon quince",
        "Percent 100% Zeb_x",
        "Other",
    ]
    .into_iter()
    .enumerate()
    {
        let mut u = user(&format!("search{i}@example.com"));
        u.name = Some(name.into());
        store.user_insert(&u).await.unwrap();
        made.push(u);
    }
    let mut svc = user("svc:zebulon-bot");
    svc.name = Some("Zebulon Bot".into());
    svc.kind = PrincipalKind::Service;
    svc.password_hash = None;
    store.user_insert(&svc).await.unwrap();

    let mut both = vec![made[0].id, made[1].id];
    both.sort();
    assert_eq!(
        found(store, "ZEBULON Q").await,
        both,
        "any case; service accounts left out"
    );
    assert_eq!(
        found(store, "100%").await,
        vec![made[2].id],
        "% is a literal"
    );
    assert_eq!(
        found(store, "b_x").await,
        vec![made[2].id],
        "_ is a literal"
    );
    assert!(
        found(store, "zebu_on").await.is_empty(),
        "_ matches no other character"
    );
    let id = made[3].id.to_string();
    assert_eq!(found(store, &id[24..]).await, vec![made[3].id], "by id");
    let read = store.users_page(None, 100, Some("quarry")).await.unwrap();
    assert_eq!(
        read,
        vec![made[0].clone()],
        "the whole record, e-mail included"
    );

    // Pages of 2 cover every person once, in id order.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.users_page(after, 2, None).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        seen.extend(page.into_iter().map(|u| u.id));
    }
    let mut people: Vec<Uuid> = Vec::new();
    let mut after = None;
    loop {
        let page = store.users_list(after, 500).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        people.extend(
            page.into_iter()
                .filter(|u| u.kind == PrincipalKind::Human)
                .map(|u| u.id),
        );
    }
    assert_eq!(seen, people, "every person once, in id order");
}

/// The ids of the people whose name or id contains `needle`, sorted.
async fn found(store: &dyn Store, needle: &str) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = store
        .users_page(None, 100, Some(needle))
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    ids.sort();
    ids
}
