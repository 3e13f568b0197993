//! The backend conformance suite: the behaviour every `Store` and `HotState` backend must show.
//!
//! Each backend's tests call these functions with a fresh, isolated instance (its own file,
//! schema or key prefix). The suite panics with a message naming the broken rule.
//!
//! Compiled only for tests: in this crate's unit tests, and with the `conformance` feature,
//! which a crate whose tests run the suite turns on in its `[dev-dependencies]` (this crate's
//! integration tests do so through a dev-dependency on itself). `cargo test --workspace`, the
//! README's and CI's test command, therefore runs it; the gateway binary does not contain it.

mod connections;
pub use connections::connections_suite;
mod device_grants;
pub use device_grants::device_grant_suite;
mod email_flows;
pub use email_flows::email_flow_suite;
mod external_ids;
mod federation;
pub use federation::federation_suite;
mod imports;
mod legacy_keys;
mod mfa;
mod passkeys;
mod retention;
mod user_search;
pub use legacy_keys::legacy_key_suite;
pub use mfa::mfa_suite;
pub use passkeys::passkey_suite;
pub use retention::retention_suite;

use crate::identity::RevocationReason::{Admin, Incident, Logout, PasswordReset};
use crate::identity::{
    ApiKeyRecord, MembershipRecord, PrincipalKind, RefreshRecord, ResourceGrantRecord,
    RotateOutcome, SessionKind, SessionRecord, SigningKeyRecord, TenantRecord, UserRecord,
};
use crate::{HotState, Store, StoreError};
use std::time::Duration;
use uuid::Uuid;

/// Checks a durable store.
pub async fn store_suite(store: &dyn Store) {
    store.ping().await.expect("ping succeeds on a fresh store");
    assert_eq!(
        store.meta_get("absent").await.unwrap(),
        None,
        "absent key reads as None"
    );
    store.meta_put("k", "v1").await.unwrap();
    assert_eq!(store.meta_get("k").await.unwrap().as_deref(), Some("v1"));
    store.meta_put("k", "v2").await.unwrap();
    assert_eq!(
        store.meta_get("k").await.unwrap().as_deref(),
        Some("v2"),
        "put replaces"
    );
    assert_eq!(
        store.meta_put_if_absent("once", "first").await.unwrap(),
        "first",
        "an absent key takes the value"
    );
    assert_eq!(
        store.meta_put_if_absent("once", "second").await.unwrap(),
        "first",
        "a present key keeps its value and returns it"
    );
    let odd = "quote ' and \" and ; DROP TABLE palisade_meta; --";
    store.meta_put(odd, odd).await.unwrap();
    assert_eq!(
        store.meta_get(odd).await.unwrap().as_deref(),
        Some(odd),
        "values are bound, not spliced"
    );
}

/// Checks a hot state. `advance` moves the backend's clock forward by the given duration.
pub async fn hot_state_suite(hot: &dyn HotState, advance: &(dyn Fn(Duration) + Sync)) {
    hot.ping().await.expect("ping succeeds");
    let ttl = Duration::from_secs(60);

    assert_eq!(hot.counter("c").await.unwrap(), 0, "absent counter is 0");
    assert_eq!(hot.incr("c", ttl).await.unwrap(), 1);
    assert_eq!(hot.incr("c", ttl).await.unwrap(), 2);
    assert_eq!(hot.counter("c").await.unwrap(), 2);
    advance(Duration::from_secs(30));
    assert_eq!(
        hot.incr("c", ttl).await.unwrap(),
        3,
        "increments keep the first expiry"
    );
    advance(Duration::from_secs(31));
    assert_eq!(
        hot.counter("c").await.unwrap(),
        0,
        "counter expired 60 s after it started"
    );
    assert_eq!(
        hot.incr("c", ttl).await.unwrap(),
        1,
        "an expired counter restarts at 1"
    );
    assert_eq!(hot.incr_by("n", 250, ttl).await.unwrap(), 250);
    assert_eq!(hot.incr_by("n", 750, ttl).await.unwrap(), 1_000);
    assert_eq!(
        hot.incr("n", ttl).await.unwrap(),
        1_001,
        "incr and incr_by share a counter"
    );
    advance(Duration::from_secs(61));
    assert_eq!(
        hot.incr_by("n", 7, ttl).await.unwrap(),
        7,
        "an expired counter restarts at the amount"
    );

    assert!(!hot.has_flag("f").await.unwrap());
    hot.set_flag("f", Duration::from_secs(10)).await.unwrap();
    assert!(hot.has_flag("f").await.unwrap());
    advance(Duration::from_secs(11));
    assert!(!hot.has_flag("f").await.unwrap(), "flag expires");

    hot.set_flag("g", ttl).await.unwrap();
    hot.remove("g").await.unwrap();
    assert!(!hot.has_flag("g").await.unwrap(), "remove clears a flag");
    hot.remove("never-set")
        .await
        .expect("removing an absent key is fine");

    assert_eq!(
        hot.flag_ttl("t").await.unwrap(),
        None,
        "absent flag has no ttl"
    );
    hot.set_flag("fw:block:10.0.0.1", Duration::from_secs(900))
        .await
        .unwrap();
    hot.set_flag("fw:block:10.0.0.2", Duration::from_secs(60))
        .await
        .unwrap();
    hot.set_flag("other:x", Duration::from_secs(60))
        .await
        .unwrap();
    hot.incr("fw:block-counter", ttl).await.unwrap();
    assert_eq!(
        hot.flag_ttl("fw:block:10.0.0.1").await.unwrap(),
        Some(Duration::from_secs(900))
    );
    advance(Duration::from_secs(100));
    assert_eq!(
        hot.flag_ttl("fw:block:10.0.0.1").await.unwrap(),
        Some(Duration::from_secs(800)),
        "ttl shrinks as time passes"
    );
    let mut flags = hot.flags_with_prefix("fw:block:").await.unwrap();
    flags.sort();
    assert_eq!(
        flags,
        vec![("fw:block:10.0.0.1".to_string(), Duration::from_secs(800))],
        "only live flags under the prefix, with time left"
    );
    advance(Duration::from_secs(800));
    assert_eq!(hot.flag_ttl("fw:block:10.0.0.1").await.unwrap(), None);
    assert!(hot.flags_with_prefix("fw:block:").await.unwrap().is_empty());

    hot.incr("sum:1", ttl).await.unwrap();
    hot.incr("sum:1", ttl).await.unwrap();
    hot.incr("sum:2", ttl).await.unwrap();
    let keys = ["sum:1", "sum:2", "sum:absent"].map(String::from);
    assert_eq!(hot.counter_sum(&keys).await.unwrap(), 3);

    // Priming from the durable record: restored flags read as set ones, and a hot state that
    // kept its memory reports no loss.
    let ticket = hot.prime_begin().await.unwrap();
    hot.restore_flags(&[
        ("rv:jti:primed".to_string(), Duration::from_secs(30)),
        ("fw:block:10.0.0.9".to_string(), Duration::from_secs(90)),
    ])
    .await
    .unwrap();
    assert!(
        hot.prime_end(&ticket).await.unwrap(),
        "nothing was lost meanwhile"
    );
    assert!(hot.has_flag("rv:jti:primed").await.unwrap());
    assert_eq!(
        hot.flag_ttl("fw:block:10.0.0.9").await.unwrap(),
        Some(Duration::from_secs(90))
    );
    assert!(!hot.has_flag("rv:jti:other").await.unwrap());
    assert!(!hot.lost_memory().await.unwrap());
    advance(Duration::from_secs(31));
    assert!(
        !hot.has_flag("rv:jti:primed").await.unwrap(),
        "restored flags expire"
    );
    assert_eq!(hot.flags_with_prefix("fw:block:").await.unwrap().len(), 1);
}

/// Checks `publish`/`subscribe`: what `sender` publishes reaches a subscriber of `receiver`
/// (another replica's handle on the same hot state, or the same handle), in order.
pub async fn broadcast_suite(sender: &dyn HotState, receiver: &dyn HotState) {
    let mut sub = receiver.subscribe().await.expect("subscribe");
    sender.publish("rv:jti", "abc").await.expect("publish");
    sender
        .publish("fw:block", "10.0.0.1")
        .await
        .expect("publish");
    let mut got = Vec::new();
    while got.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(5), sub.recv()).await {
            Ok(Some(crate::Notice::Message { topic, body })) => got.push((topic, body)),
            Ok(Some(crate::Notice::Missed)) => {}
            Ok(None) => panic!("subscription closed"),
            Err(_) => panic!("no message within 5 s, got {got:?}"),
        }
    }
    assert_eq!(
        got,
        vec![
            ("rv:jti".to_string(), "abc".to_string()),
            ("fw:block".to_string(), "10.0.0.1".to_string())
        ]
    );
}

fn user(email: &str) -> UserRecord {
    UserRecord {
        id: Uuid::now_v7(),
        external_id: None,
        email: email.into(),
        name: Some("Ann O'Brien; DROP TABLE users; --".into()),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        roles: vec!["member".into(), "viewer".into()],
        tier: "free".into(),
        kind: PrincipalKind::Human,
        disabled: false,
        last_login_at: None,
        created_at: 1_000,
        updated_at: 1_000,
    }
}

fn session(user_id: Uuid, created_at: i64) -> SessionRecord {
    SessionRecord {
        id: Uuid::now_v7(),
        user_id,
        kind: SessionKind::Token,
        created_at,
        last_seen_at: created_at,
        expires_at: created_at + 1_000_000,
        user_agent: Some("UA/1".into()),
        fingerprint: "ab".repeat(32),
        revoked_at: None,
        revoked_reason: None,
        amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
        acr: Some("aal2".into()),
        auth_time: Some(created_at),
    }
}

fn refresh(hash: u8, session_id: Uuid) -> RefreshRecord {
    RefreshRecord {
        hash: [hash; 32],
        session_id,
        created_at: 1_000,
        expires_at: 2_000,
        rotated_at: None,
    }
}

fn key(hash: u8, owner_id: Uuid, created_at: i64) -> ApiKeyRecord {
    ApiKeyRecord {
        id: Uuid::now_v7(),
        hash: [hash; 32],
        prefix: "pal_0123abcd".into(),
        name: "ci".into(),
        owner_id,
        roles: vec!["member".into()],
        scopes: vec!["tools.read_file.execute".into()],
        created_at,
        expires_at: None,
        last_used_at: None,
        revoked_at: None,
        revoked_reason: None,
    }
}

/// Checks the identity records of a durable store.
pub async fn identity_suite(store: &dyn Store) {
    // Users.
    let ann = user("ann@example.com");
    store.user_insert(&ann).await.unwrap();
    assert_eq!(store.user_by_id(ann.id).await.unwrap(), Some(ann.clone()));
    assert_eq!(
        store.user_by_email("ann@example.com").await.unwrap(),
        Some(ann.clone()),
        "SQL-looking names are stored verbatim"
    );
    assert_eq!(
        store.user_by_email("ANN@example.com").await.unwrap(),
        None,
        "exact lookup"
    );
    let mut dup = user("ann@example.com");
    dup.id = Uuid::now_v7();
    assert!(
        matches!(store.user_insert(&dup).await, Err(StoreError::Conflict(_))),
        "duplicate e-mail is a conflict"
    );
    let bob = user("bob@example.com");
    let cid = user("cid@example.com");
    store.user_insert(&bob).await.unwrap();
    store.user_insert(&cid).await.unwrap();
    let page = store.users_list(None, 2).await.unwrap();
    assert_eq!(
        page.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![ann.id, bob.id]
    );
    let rest = store.users_list(Some(bob.id), 10).await.unwrap();
    assert_eq!(
        rest.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![cid.id],
        "keyset"
    );
    assert!(
        store
            .user_set_password_hash(ann.id, "$2b$new", 2_000)
            .await
            .unwrap()
    );
    assert!(store.user_set_disabled(ann.id, true, 2_001).await.unwrap());
    assert!(
        store
            .user_set_roles(ann.id, &["admin".into()], 2_001)
            .await
            .unwrap()
    );
    assert!(store.user_set_tier(ann.id, "pro", 2_002).await.unwrap());
    let changed = store.user_by_id(ann.id).await.unwrap().unwrap();
    assert_eq!(changed.tier, "pro");
    assert_eq!(changed.password_hash.as_deref(), Some("$2b$new"));
    assert!(changed.disabled);
    assert_eq!(changed.roles, vec!["admin".to_string()]);
    assert_eq!(changed.updated_at, 2_002);
    let nobody = Uuid::now_v7();
    assert!(
        !store.user_set_disabled(nobody, true, 1).await.unwrap(),
        "unknown id"
    );
    assert!(!store.user_set_roles(nobody, &[], 1).await.unwrap());
    assert!(!store.user_set_tier(nobody, "pro", 1).await.unwrap());
    assert!(!store.user_set_password_hash(nobody, "x", 1).await.unwrap());

    // Sessions.
    let s1 = session(bob.id, 1_000);
    let s2 = session(bob.id, 2_000);
    let mut other = session(cid.id, 1_500);
    // A session of a sign-in whose assurance is not known reads back as such.
    (other.amr, other.acr, other.auth_time) = (Vec::new(), None, None);
    for s in [&s1, &s2, &other] {
        store.session_insert(s).await.unwrap();
    }
    assert_eq!(store.session_get(s1.id).await.unwrap(), Some(s1.clone()));
    assert_eq!(
        store.session_get(other.id).await.unwrap(),
        Some(other.clone())
    );
    let listed = store.sessions_for_user(bob.id, false).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![s2.id, s1.id],
        "newest first"
    );
    store.session_touch(s1.id, 5_000).await.unwrap();
    store.session_touch(s1.id, 4_000).await.unwrap();
    assert_eq!(
        store
            .session_get(s1.id)
            .await
            .unwrap()
            .unwrap()
            .last_seen_at,
        5_000
    );
    assert!(store.session_revoke(s1.id, 6_000, Logout).await.unwrap());
    assert!(
        !store.session_revoke(s1.id, 7_000, Admin).await.unwrap(),
        "revoked once"
    );
    let ended = store.session_get(s1.id).await.unwrap().unwrap();
    assert_eq!(
        (ended.revoked_at, ended.revoked_reason),
        (Some(6_000), Some(Logout)),
        "the first revocation's time and reason are kept"
    );
    assert_eq!(
        store.sessions_for_user(bob.id, false).await.unwrap().len(),
        1
    );
    assert_eq!(
        store.sessions_for_user(bob.id, true).await.unwrap().len(),
        2
    );
    let revoked = store
        .sessions_revoke_for_user(bob.id, 8_000, PasswordReset)
        .await
        .unwrap();
    assert_eq!(revoked, vec![s2.id], "only sessions that were active");
    assert_eq!(
        store
            .session_get(s2.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_reason,
        Some(PasswordReset)
    );
    assert!(
        store
            .session_get(other.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none(),
        "other users' sessions are untouched"
    );

    // Refresh tokens.
    let r1 = refresh(1, other.id);
    store.refresh_insert(&r1).await.unwrap();
    assert_eq!(store.refresh_get(&r1.hash).await.unwrap(), Some(r1.clone()));
    let r2 = refresh(2, other.id);
    assert_eq!(
        store.refresh_rotate(&r1.hash, 1_100, &r2).await.unwrap(),
        RotateOutcome::Rotated
    );
    assert_eq!(
        store.refresh_get(&r2.hash).await.unwrap(),
        Some(r2.clone()),
        "successor stored"
    );
    let r3 = refresh(3, other.id);
    assert_eq!(
        store.refresh_rotate(&r1.hash, 1_200, &r3).await.unwrap(),
        RotateOutcome::AlreadyRotated {
            rotated_at: 1_100,
            session_id: other.id
        }
    );
    assert_eq!(
        store.refresh_get(&r3.hash).await.unwrap(),
        None,
        "nothing written on reuse"
    );
    assert_eq!(
        store.refresh_rotate(&[9; 32], 1_300, &r3).await.unwrap(),
        RotateOutcome::Unknown
    );

    // API keys.
    let k1 = key(10, cid.id, 1_000);
    let k2 = key(11, cid.id, 2_000);
    let k3 = key(12, bob.id, 3_000);
    for k in [&k1, &k2, &k3] {
        store.api_key_insert(k).await.unwrap();
    }
    let mut same_hash = key(10, cid.id, 4_000);
    same_hash.id = Uuid::now_v7();
    assert!(matches!(
        store.api_key_insert(&same_hash).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.api_key_by_hash(&k1.hash).await.unwrap(),
        Some(k1.clone())
    );
    assert_eq!(store.api_key_by_hash(&[99; 32]).await.unwrap(), None);
    assert_eq!(store.api_key_get(k2.id).await.unwrap(), Some(k2.clone()));
    let mine = store.api_keys_list(Some(cid.id)).await.unwrap();
    assert_eq!(
        mine.iter().map(|k| k.id).collect::<Vec<_>>(),
        vec![k2.id, k1.id]
    );
    assert_eq!(store.api_keys_list(None).await.unwrap().len(), 3);
    assert!(store.api_key_revoke(k1.id, 5_000, Incident).await.unwrap());
    assert!(!store.api_key_revoke(k1.id, 6_000, Admin).await.unwrap());
    let ended = store.api_key_get(k1.id).await.unwrap().unwrap();
    assert_eq!(
        (ended.revoked_at, ended.revoked_reason),
        (Some(5_000), Some(Incident))
    );
    assert!(store.api_key_set_expiry(k2.id, Some(9_000)).await.unwrap());
    assert!(
        !store
            .api_key_set_expiry(Uuid::now_v7(), None)
            .await
            .unwrap()
    );
    assert_eq!(
        store.api_key_get(k2.id).await.unwrap().unwrap().expires_at,
        Some(9_000)
    );
    store
        .api_keys_touch(&[(k2.id, 7_000), (k3.id, 7_500)])
        .await
        .unwrap();
    store.api_keys_touch(&[(k2.id, 6_000)]).await.unwrap();
    assert_eq!(
        store
            .api_key_get(k2.id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(7_000),
        "last use never goes backwards"
    );
    assert_eq!(
        store
            .api_key_get(k3.id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(7_500)
    );

    // Signing keys.
    let sk = |kid: &str, created_at| SigningKeyRecord {
        kid: kid.into(),
        alg: "EdDSA".into(),
        wrapped_private: vec![1, 2, 3, 0, 255],
        created_at,
        retired_at: None,
    };
    store.signing_key_insert(&sk("b", 2_000)).await.unwrap();
    store.signing_key_insert(&sk("a", 1_000)).await.unwrap();
    let keys = store.signing_keys_list().await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        ["a", "b"],
        "oldest first"
    );
    assert_eq!(keys[0].wrapped_private, vec![1, 2, 3, 0, 255]);
    assert!(store.signing_key_retire("a", 3_000).await.unwrap());
    assert!(!store.signing_key_retire("a", 4_000).await.unwrap());
    assert_eq!(
        store.signing_keys_list().await.unwrap()[0].retired_at,
        Some(3_000)
    );

    // External ids (migration 0009).
    external_ids::external_id_suite(store).await;
    imports::import_suite(store).await;
    user_search::user_search_suite(store).await;
}

/// Concurrent rotations of one refresh token: exactly one wins.
pub async fn refresh_race(store: std::sync::Arc<dyn Store>) {
    let owner = user("race@example.com");
    store.user_insert(&owner).await.unwrap();
    let s = session(owner.id, 1_000);
    store.session_insert(&s).await.unwrap();
    store.refresh_insert(&refresh(50, s.id)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let store = store.clone();
        let successor = refresh(60 + i, s.id);
        tasks.push(tokio::spawn(async move {
            store
                .refresh_rotate(&[50; 32], 2_000, &successor)
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        if t.await.unwrap() == RotateOutcome::Rotated {
            won += 1;
        }
    }
    assert_eq!(won, 1, "exactly one concurrent rotation wins");
}

/// Checks tenants and memberships.
pub async fn tenant_suite(store: &dyn Store) {
    let tenant = |id: &str, parent: Option<&str>| TenantRecord {
        id: id.into(),
        name: format!("Tenant {id}"),
        parent_id: parent.map(String::from),
        created_at: 1_000,
    };
    store.tenant_insert(&tenant("acme", None)).await.unwrap();
    store
        .tenant_insert(&tenant("acme-eu", Some("acme")))
        .await
        .unwrap();
    assert!(matches!(
        store.tenant_insert(&tenant("acme", None)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .tenant_get("acme-eu")
            .await
            .unwrap()
            .unwrap()
            .parent_id
            .as_deref(),
        Some("acme")
    );
    let ids: Vec<String> = store
        .tenants_list()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["acme", "acme-eu"]);

    let u = user("member@example.com");
    store.user_insert(&u).await.unwrap();
    let member = |tenant: &str, role: &str| MembershipRecord {
        tenant_id: tenant.into(),
        user_id: u.id,
        role: role.into(),
        created_at: 1_000,
    };
    store.member_put(&member("acme", "member")).await.unwrap();
    store
        .member_put(&member("acme-eu", "viewer"))
        .await
        .unwrap();
    store.member_put(&member("acme", "admin")).await.unwrap();
    let all = store.memberships_list().await.unwrap();
    assert_eq!(all.len(), 2, "put replaces the role");
    assert_eq!(all[0].role, "admin");
    assert!(store.member_remove("acme-eu", u.id).await.unwrap());
    assert!(!store.member_remove("acme-eu", u.id).await.unwrap());

    let mut bot = user("svc:ci-bot");
    bot.kind = PrincipalKind::Service;
    bot.password_hash = None;
    store.user_insert(&bot).await.unwrap();
    assert_eq!(
        store.user_by_id(bot.id).await.unwrap().unwrap().kind,
        PrincipalKind::Service
    );
    let grant = |grants: &[&str]| ResourceGrantRecord {
        tenant_id: "acme-eu".into(),
        user_id: bot.id,
        grants: grants.iter().map(|g| g.to_string()).collect(),
        created_at: 1_000,
    };
    store
        .resource_grant_put(&grant(&["graphs.read"]))
        .await
        .unwrap();
    store
        .resource_grant_put(&grant(&["graphs.read", "tools.read_file.execute"]))
        .await
        .unwrap();
    let grants = store.resource_grants_list().await.unwrap();
    assert_eq!(grants.len(), 1, "put replaces the grants");
    assert_eq!(grants[0].grants, ["graphs.read", "tools.read_file.execute"]);
    let mut on_parent = grant(&["graphs.read"]);
    on_parent.tenant_id = "acme".into();
    store.resource_grant_put(&on_parent).await.unwrap();
    assert!(
        store
            .resource_grant_remove("acme-eu", bot.id)
            .await
            .unwrap()
    );
    assert!(
        !store
            .resource_grant_remove("acme-eu", bot.id)
            .await
            .unwrap()
    );

    assert!(store.tenant_delete("acme").await.unwrap());
    assert!(!store.tenant_delete("acme").await.unwrap());
    assert!(
        store.memberships_list().await.unwrap().is_empty(),
        "memberships go with the tenant"
    );
    assert!(
        store.resource_grants_list().await.unwrap().is_empty(),
        "resource grants go with the tenant"
    );
    assert_eq!(
        store
            .tenant_get("acme-eu")
            .await
            .unwrap()
            .unwrap()
            .parent_id,
        None,
        "children lose their parent"
    );
}

/// The audit trail: chained appends in order, head and ranges, checkpoints, the purge, and the
/// refusal of a batch that does not follow the head.
pub async fn audit_suite(store: &dyn Store) {
    use palisade_core::audit::{AuditRecord, CheckpointSigner, GENESIS, Outcome, Risk, verify};
    let record = |seq: u64| AuditRecord {
        seq,
        id: Uuid::now_v7().to_string(),
        ts_ms: 1_000 + seq as i64,
        event_type: "auth.login_failure".into(),
        risk: Risk::Medium,
        actor: None,
        action: Some("login".into()),
        resource_type: (seq % 100 == 7).then(|| "user".into()),
        resource_id: (seq % 100 == 7).then(|| "u-7".into()),
        tenant: Some("acme".into()),
        result: Outcome::Failure,
        client_ip: Some("203.0.113.9".into()),
        user_agent: Some("O'Brien\"; DROP TABLE audit_events; --".into()),
        request_id: None,
        details: serde_json::json!({"attempt": seq, "nested": {"b": 1, "a": [true, null]}}),
        source: Default::default(),
        prev_hash: GENESIS,
        hash: GENESIS,
    };
    let mut prev = GENESIS;
    let chained: Vec<AuditRecord> = (1..=1200)
        .map(|seq| {
            let mut r = record(seq);
            r.link(prev);
            prev = r.hash;
            r
        })
        .collect();
    assert_eq!(store.audit_head().await.unwrap(), None);
    store.audit_append(&chained[..700]).await.unwrap();
    store.audit_append(&chained[700..]).await.unwrap();
    assert!(matches!(
        store.audit_append(&chained[5..6]).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.audit_head().await.unwrap(), Some((1200, prev)));
    let page = store.audit_range(699, 3).await.unwrap();
    assert_eq!(
        page.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [699, 700, 701]
    );
    assert_eq!(
        page[0], chained[698],
        "a record reads back exactly as written"
    );

    use crate::audit::AuditFilter;
    let high = AuditFilter {
        min_risk: Some(Risk::Medium),
        tenant: Some("acme".into()),
        result: Some(Outcome::Failure),
        from_ms: Some(1_010),
        to_ms: Some(1_020),
        event_type: Some("auth.login_failure".into()),
        actor: None,
        resource_id: None,
        source: None,
    };
    let found = store.audit_query(&high, 0, 5).await.unwrap();
    assert_eq!(
        found.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [10, 11, 12, 13, 14]
    );
    let next = store.audit_query(&high, 14, 5).await.unwrap();
    assert_eq!(
        next.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [15, 16, 17, 18, 19]
    );
    let none = AuditFilter {
        min_risk: Some(Risk::High),
        ..Default::default()
    };
    assert!(store.audit_query(&none, 0, 5).await.unwrap().is_empty());
    let other_actor = AuditFilter {
        actor: Some("x".into()),
        ..Default::default()
    };
    assert!(
        store
            .audit_query(&other_actor, 0, 5)
            .await
            .unwrap()
            .is_empty()
    );
    let about = AuditFilter {
        resource_id: Some("u-7".into()),
        ..Default::default()
    };
    let found = store.audit_query(&about, 0, 3).await.unwrap();
    assert_eq!(
        found.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [7, 107, 207],
        "records about one resource, in order"
    );

    // App events: stored with their source and, in the same transaction, their idempotency
    // keys, which count per principal until they expire.
    use crate::audit::AppEventKey;
    use palisade_core::audit::Source;
    let mut app: Vec<AuditRecord> = (1201..=1203)
        .map(|seq| AuditRecord {
            event_type: "app.tool.executed".into(),
            source: Source::App,
            ..record(seq)
        })
        .collect();
    for r in &mut app {
        r.link(prev);
        prev = r.hash;
    }
    let app_key = |key: &str, r: &AuditRecord, at: i64| AppEventKey {
        principal: "svc:bot".into(),
        key: key.into(),
        event_id: r.id.clone(),
        created_ms: at,
    };
    let keys = [
        app_key("k1", &app[0], 5_000),
        app_key("k2", &app[1], 5_000),
        app_key("k3", &app[2], 9_000),
    ];
    store.audit_append_keyed(&app, &keys).await.unwrap();
    let asked: Vec<String> = ["k1", "k2", "k3", "k4"].map(String::from).to_vec();
    let mut seen = store.audit_app_seen("svc:bot", &asked, 0).await.unwrap();
    seen.sort();
    assert_eq!(seen, ["k1", "k2", "k3"]);
    assert!(
        store
            .audit_app_seen("svc:other", &asked, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .audit_app_seen("svc:bot", &asked, 6_000)
            .await
            .unwrap(),
        ["k3"],
        "a key older than the retention asked for no longer counts"
    );
    let apps = AuditFilter {
        source: Some(Source::App),
        ..Default::default()
    };
    let found = store.audit_query(&apps, 0, 10).await.unwrap();
    assert_eq!(
        found, app,
        "app records read back exactly, with their source"
    );
    let own = AuditFilter {
        source: Some(Source::Palisade),
        ..Default::default()
    };
    assert_eq!(store.audit_query(&own, 1199, 10).await.unwrap().len(), 1);
    assert_eq!(store.audit_app_keys_expire(6_000).await.unwrap(), 2);
    assert_eq!(
        store.audit_app_seen("svc:bot", &asked, 0).await.unwrap(),
        ["k3"]
    );

    let (signer, _) = CheckpointSigner::generate("audit-test").unwrap();
    let keys = std::collections::BTreeMap::from([(signer.kid().to_string(), signer.public_key())]);
    let cut = signer.sign(1000, chained[999].hash, 5);
    store.audit_checkpoint_put(&cut).await.unwrap();
    store.audit_checkpoint_put(&cut).await.unwrap();
    assert_eq!(store.audit_checkpoints().await.unwrap(), vec![cut]);
    assert_eq!(store.audit_purge_through(1000).await.unwrap(), 1000);
    let left = store.audit_range(0, 10_000).await.unwrap();
    assert_eq!(left.len(), 203);
    let checkpoints = store.audit_checkpoints().await.unwrap();
    let ok = verify(&left, &checkpoints, &keys, false).expect("the rest still verifies");
    assert_eq!(ok.first_seq, Some(1001));
}

/// Checks data keys and versioned secrets ([`crate::secrets`]).
pub async fn secrets_suite(store: &dyn Store) {
    use crate::secrets::{SecretRef, SecretVersion};
    use palisade_core::crypto::{KeyState, WrappedDataKey};

    let key = |id: &str, at: u64, state| WrappedDataKey {
        id: id.into(),
        created_at: at,
        state,
        wrapped: vec![at as u8; 60],
    };
    assert!(store.data_keys_list().await.unwrap().is_empty());
    store
        .data_key_insert_first(&key("dk-a", 1, KeyState::Primary))
        .await
        .unwrap();
    assert!(
        matches!(
            store
                .data_key_insert_first(&key("dk-z", 2, KeyState::Primary))
                .await,
            Err(StoreError::Conflict(_))
        ),
        "a second first key (another replica) is a conflict"
    );
    store
        .data_key_rotate("dk-a", &key("dk-b", 2, KeyState::Primary))
        .await
        .unwrap();
    assert!(
        matches!(
            store
                .data_key_rotate("dk-a", &key("dk-c", 3, KeyState::Primary))
                .await,
            Err(StoreError::Conflict(_))
        ),
        "rotating from a key that is no longer primary (a replica raced) is a conflict"
    );
    let keys = store.data_keys_list().await.unwrap();
    let states: Vec<(&str, KeyState)> = keys.iter().map(|k| (k.id.as_str(), k.state)).collect();
    assert_eq!(
        states,
        [("dk-a", KeyState::DecryptOnly), ("dk-b", KeyState::Primary)],
        "the losing rotation left nothing behind"
    );
    assert_eq!(keys[1].wrapped, vec![2u8; 60], "wrapped bytes round-trip");
    assert!(
        !store.data_key_retire("dk-b").await.unwrap(),
        "the primary key is not retired"
    );
    assert!(store.data_key_retire("dk-a").await.unwrap());
    assert!(!store.data_key_retire("dk-a").await.unwrap(), "only once");
    let retired = &store.data_keys_list().await.unwrap()[0];
    assert_eq!(retired.state, KeyState::Retired);
    assert!(
        retired.wrapped.is_empty(),
        "a retired key's bytes are erased"
    );

    let version = |path: &str, v: u32, key: &str| SecretVersion {
        path: path.into(),
        version: v,
        ciphertext: format!("pal1.{key}.payload-{path}-{v}"),
        metadata: serde_json::json!({"v": v}),
        created_at: 100 + i64::from(v),
        created_by: Some("u1".into()),
        deleted_at: None,
    };
    let p = "tenants/acme/oauth/google";
    assert_eq!(store.secret_latest_version(p).await.unwrap(), 0);
    assert_eq!(store.secret_get(p, None).await.unwrap(), None);
    store.secret_insert(&version(p, 1, "dk-a")).await.unwrap();
    store.secret_insert(&version(p, 2, "dk-b")).await.unwrap();
    assert!(
        matches!(
            store.secret_insert(&version(p, 2, "dk-b")).await,
            Err(StoreError::Conflict(_))
        ),
        "a version number is taken once"
    );
    assert_eq!(store.secret_latest_version(p).await.unwrap(), 2);
    assert_eq!(
        store.secret_get(p, None).await.unwrap(),
        Some(version(p, 2, "dk-b"))
    );
    assert_eq!(
        store.secret_get(p, Some(1)).await.unwrap(),
        Some(version(p, 1, "dk-a"))
    );
    assert_eq!(store.secret_get(p, Some(3)).await.unwrap(), None);
    // Soft delete: the latest live version goes back one; undelete restores it.
    assert!(store.secret_set_deleted(p, 2, Some(500)).await.unwrap());
    assert!(!store.secret_set_deleted(p, 9, Some(500)).await.unwrap());
    assert_eq!(store.secret_get(p, None).await.unwrap().unwrap().version, 1);
    assert_eq!(
        store
            .secret_get(p, Some(2))
            .await
            .unwrap()
            .unwrap()
            .deleted_at,
        Some(500)
    );
    assert_eq!(
        store.secret_latest_version(p).await.unwrap(),
        2,
        "deleted versions keep their numbers"
    );
    assert!(store.secret_set_deleted(p, 2, None).await.unwrap());
    assert_eq!(store.secret_get(p, None).await.unwrap().unwrap().version, 2);

    // Listing by prefix: byte-wise, LIKE wildcards are literal, deleted paths are hidden.
    for path in [
        "tenants/acme/db",
        "tenants/acme_x/db",
        "tenants/acmex/db",
        "global/a",
    ] {
        store
            .secret_insert(&version(path, 1, "dk-b"))
            .await
            .unwrap();
    }
    assert!(
        store
            .secret_set_deleted("tenants/acmex/db", 1, Some(1))
            .await
            .unwrap()
    );
    assert_eq!(
        store.secret_paths("tenants/acme", None, 10).await.unwrap(),
        [
            "tenants/acme/db",
            "tenants/acme/oauth/google",
            "tenants/acme_x/db"
        ]
    );
    assert_eq!(
        store.secret_paths("tenants/acme/", None, 10).await.unwrap(),
        ["tenants/acme/db", "tenants/acme/oauth/google"],
        "_ is not a wildcard"
    );
    assert_eq!(
        store
            .secret_paths("", Some("tenants/acme/db"), 1)
            .await
            .unwrap(),
        ["tenants/acme/oauth/google"],
        "keyset pagination"
    );
    assert_eq!(
        store.secret_versions(p).await.unwrap().len(),
        2,
        "every version of a path"
    );

    // The re-encryption walk: every version once, in order, deleted ones included.
    assert_eq!(store.secrets_count_by_key("dk-a").await.unwrap(), 1);
    assert_eq!(store.secrets_count_by_key("dk-b").await.unwrap(), 5);
    assert_eq!(store.secrets_count_by_key("dk").await.unwrap(), 0);
    let mut seen = Vec::new();
    let mut after: Option<SecretRef> = None;
    loop {
        let page = store.secret_ciphertexts(after.as_ref(), 2).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.0.clone());
        seen.extend(page);
    }
    assert_eq!(seen.len(), 6);
    assert!(
        seen.windows(2).all(|w| w[0].0 < w[1].0),
        "ordered, no repeats"
    );
    let (at, old) = seen
        .iter()
        .find(|(_, c)| c.starts_with("pal1.dk-a."))
        .unwrap()
        .clone();
    assert!(
        !store
            .secret_replace_ciphertext(&at, "pal1.dk-a.stale", "pal1.dk-b.x")
            .await
            .unwrap(),
        "compare-and-swap refuses a stale old value"
    );
    assert!(
        store
            .secret_replace_ciphertext(&at, &old, "pal1.dk-b.new")
            .await
            .unwrap()
    );
    assert_eq!(store.secrets_count_by_key("dk-a").await.unwrap(), 0);
    assert_eq!(
        store
            .secret_get(&at.path, Some(at.version))
            .await
            .unwrap()
            .unwrap()
            .ciphertext,
        "pal1.dk-b.new"
    );
}

/// A [`crate::field_crypto::FieldCrypto`] over a real keyring (a generated master key), for the
/// e-mail encryption suite. [`KeyringCrypto::rotate`] makes a new primary key.
pub struct KeyringCrypto(std::sync::RwLock<palisade_core::crypto::Keyring>);

impl Default for KeyringCrypto {
    fn default() -> Self {
        let master = palisade_core::crypto::MasterKey::generate();
        Self(std::sync::RwLock::new(
            palisade_core::crypto::Keyring::create(&master, 1_000).expect("a fresh keyring"),
        ))
    }
}

impl KeyringCrypto {
    /// The id new values are encrypted under.
    pub fn primary_id(&self) -> String {
        self.0.read().unwrap().primary_id().to_string()
    }

    /// A new primary key; returns its id.
    pub fn rotate(&self) -> String {
        self.0.write().unwrap().rotate(2_000).to_string()
    }
}

#[async_trait::async_trait]
impl crate::field_crypto::FieldCrypto for KeyringCrypto {
    fn encrypt(
        &self,
        table: &str,
        column: &str,
        row_id: &str,
        plaintext: &str,
    ) -> crate::StoreResult<String> {
        let ctx = palisade_core::crypto::FieldContext::new(table, column, row_id);
        Ok(self
            .0
            .read()
            .unwrap()
            .encrypt_field(&ctx, plaintext.as_bytes()))
    }

    async fn decrypt(
        &self,
        table: &str,
        column: &str,
        row_id: &str,
        ciphertext: &str,
    ) -> crate::StoreResult<zeroize::Zeroizing<String>> {
        let ctx = palisade_core::crypto::FieldContext::new(table, column, row_id);
        let bytes = self
            .0
            .read()
            .unwrap()
            .decrypt_field(&ctx, ciphertext)
            .map_err(|e| StoreError::Query(e.to_string()))?;
        String::from_utf8(bytes.to_vec())
            .map(zeroize::Zeroizing::new)
            .map_err(|_| StoreError::Query("not UTF-8".into()))
    }

    fn index(&self, domain: &str, value: &str) -> crate::StoreResult<String> {
        Ok(self
            .0
            .read()
            .unwrap()
            .blind_index()
            .index(domain, value.as_bytes()))
    }
}

/// Reads one user's raw row (every column, as text) with plain SQL, bypassing the store.
pub type RawUserRow<'a> = &'a (
        dyn Fn(Uuid) -> std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send>> + Sync
    );

/// Checks e-mail encryption on a fresh durable store: the identity suite passes with crypto
/// installed; lookups and uniqueness go through the blind index; the raw row holds neither the
/// address nor its local part; a ciphertext copied to another user's row does not decrypt;
/// plaintext rows written before crypto was installed are sealed in batches, idempotently;
/// rotation re-encrypts by compare-and-swap and counts ciphertexts per key.
pub async fn email_encryption_suite(store: &dyn Store, raw: RawUserRow<'_>) {
    use crate::field_crypto::FieldCrypto;
    // Written before crypto is installed: plaintext, as before.
    let early = user("early.qv3lmz@example.org");
    let early2 = user("early2.pw8kt@example.org");
    store.user_insert(&early).await.unwrap();
    store.user_insert(&early2).await.unwrap();
    assert!(
        raw(early.id).await.contains("early.qv3lmz@example.org"),
        "without crypto the address is kept as it was"
    );
    assert!(
        store.users_seal_emails(10).await.is_err(),
        "sealing needs crypto"
    );

    let crypto = std::sync::Arc::new(KeyringCrypto::default());
    store.set_field_crypto(crypto.clone());
    // The migration: batches of one until nothing is left, then a no-op.
    assert_eq!(store.users_seal_emails(1).await.unwrap(), 1);
    assert_eq!(store.users_seal_emails(1).await.unwrap(), 1);
    assert_eq!(store.users_seal_emails(1).await.unwrap(), 0);
    for u in [&early, &early2] {
        assert_eq!(
            store.user_by_email(&u.email).await.unwrap().as_ref(),
            Some(u),
            "a sealed row is found by its address"
        );
        let row = raw(u.id).await;
        let local = u.email.split('@').next().unwrap();
        assert!(
            !row.contains(&u.email) && !row.contains(local),
            "sealed raw row leaks: {row}"
        );
    }

    let ann = user("annie.zq7x@example.com");
    let bob = user("bobby.k2m9@example.com");
    let mut svc = user("svc:builder-x4");
    svc.kind = crate::identity::PrincipalKind::Service;
    svc.password_hash = None;
    for u in [&ann, &bob, &svc] {
        store.user_insert(u).await.unwrap();
    }
    for u in [&ann, &bob, &svc] {
        assert_eq!(store.user_by_id(u.id).await.unwrap().as_ref(), Some(u));
        assert_eq!(
            store.user_by_email(&u.email).await.unwrap().as_ref(),
            Some(u)
        );
        let row = raw(u.id).await;
        let local = u.email.split('@').next().unwrap();
        assert!(
            !row.contains(&u.email) && !row.contains(local),
            "raw row leaks the address: {row}"
        );
        assert!(row.contains("pal1."), "the ciphertext is stored: {row}");
        assert!(
            row.contains(
                &crypto
                    .index(crate::field_crypto::EMAIL_INDEX_DOMAIN, &u.email)
                    .unwrap()
            ),
            "the blind index is stored"
        );
    }
    assert_eq!(
        store.user_by_email("ANNIE.zq7x@example.com").await.unwrap(),
        None
    );
    assert_eq!(
        store.user_by_email("nobody@example.com").await.unwrap(),
        None
    );
    for email in [&ann.email, &early.email, &svc.email] {
        let mut dup = user(email);
        dup.id = Uuid::now_v7();
        assert!(
            matches!(store.user_insert(&dup).await, Err(StoreError::Conflict(_))),
            "duplicate e-mail {email} is a conflict"
        );
    }
    let mut listed = store.users_list(None, 100).await.unwrap();
    listed.sort_by_key(|u| u.id);
    let mut expected = vec![
        early.clone(),
        early2.clone(),
        ann.clone(),
        bob.clone(),
        svc.clone(),
    ];
    expected.sort_by_key(|u| u.id);
    assert_eq!(listed, expected, "listing returns plaintext e-mails");
    // Setters leave the sealed e-mail alone.
    assert!(store.user_set_tier(ann.id, "pro", 5_000).await.unwrap());
    assert_eq!(
        store.user_by_email(&ann.email).await.unwrap().unwrap().tier,
        "pro"
    );

    // Ciphertexts: one per user; a copy to another row does not decrypt.
    let cts = store.user_email_ciphertexts(None, 100).await.unwrap();
    assert_eq!(cts.len(), 5);
    let page1 = store.user_email_ciphertexts(None, 2).await.unwrap();
    let page2 = store
        .user_email_ciphertexts(Some(page1[1].0), 100)
        .await
        .unwrap();
    assert_eq!([page1, page2].concat(), cts, "paging by id");
    let ct = |id: Uuid| cts.iter().find(|(k, _)| *k == id).unwrap().1.clone();
    let (ann_ct, bob_ct) = (ct(ann.id), ct(bob.id));
    assert!(
        !store
            .user_email_replace_ciphertext(bob.id, "pal1.stale", &ann_ct)
            .await
            .unwrap(),
        "compare-and-swap refuses a stale value"
    );
    assert!(
        store
            .user_email_replace_ciphertext(bob.id, &bob_ct, &ann_ct)
            .await
            .unwrap()
    );
    let err = store.user_by_id(bob.id).await.unwrap_err();
    assert!(
        !err.to_string().contains(&ann.email),
        "the error does not leak: {err}"
    );
    assert!(store.user_by_email(&bob.email).await.is_err());
    assert!(store.users_list(None, 100).await.is_err());
    assert!(
        store
            .user_email_replace_ciphertext(bob.id, &ann_ct, &bob_ct)
            .await
            .unwrap()
    );
    assert_eq!(store.user_by_id(bob.id).await.unwrap(), Some(bob.clone()));

    // Rotation: count by key, re-encrypt by compare-and-swap, nothing left under the old key.
    let old = crypto.primary_id();
    assert_eq!(store.users_count_email_by_key(&old).await.unwrap(), 5);
    let new = crypto.rotate();
    assert_eq!(store.users_count_email_by_key(&new).await.unwrap(), 0);
    for (id, ct) in &cts {
        let plain = crypto
            .decrypt("users", "email", &id.to_string(), ct)
            .await
            .unwrap();
        let fresh = crypto
            .encrypt("users", "email", &id.to_string(), &plain)
            .unwrap();
        assert!(
            store
                .user_email_replace_ciphertext(*id, ct, &fresh)
                .await
                .unwrap()
        );
    }
    assert_eq!(store.users_count_email_by_key(&old).await.unwrap(), 0);
    assert_eq!(store.users_count_email_by_key(&new).await.unwrap(), 5);
    let mut listed = store.users_list(None, 100).await.unwrap();
    listed.sort_by_key(|u| u.id);
    expected.iter_mut().for_each(|u| {
        if u.id == ann.id {
            u.tier = "pro".into();
            u.updated_at = 5_000;
        }
    });
    assert_eq!(listed, expected);
}

/// The identity suite on a fresh store with e-mail encryption installed.
pub async fn identity_suite_encrypted(store: &dyn Store) {
    store.set_field_crypto(std::sync::Arc::new(KeyringCrypto::default()));
    identity_suite(store).await;
    email_flow_suite(store).await;
}

/// Checks the record of revocations and blocks ([`crate::revocations`]): revoked tokens until
/// their expiry (a second revocation keeps the later one), recently revoked sessions and keys
/// read from their own records, blocks lengthened but never shortened, lifted, listed while in
/// force, and the bounded prune of what ended.
pub async fn revocation_suite(store: &dyn Store) {
    use crate::revocations::{IpBlockRecord, Revoked, RevokedToken};
    let token = |jti: &str, expires_at: i64| RevokedToken {
        jti: jti.into(),
        expires_at,
        revoked_at: 1_000,
    };
    assert!(store.revoked_tokens_active(0).await.unwrap().is_empty());
    store.token_revoke(&token("jti-b", 5_000)).await.unwrap();
    store.token_revoke(&token("jti-a", 9_000)).await.unwrap();
    store.token_revoke(&token("jti-b", 4_000)).await.unwrap();
    let odd = "x'; DROP TABLE revoked_tokens; --";
    store.token_revoke(&token(odd, 2_000)).await.unwrap();
    assert_eq!(
        store.revoked_tokens_active(1_000).await.unwrap(),
        vec![
            token("jti-a", 9_000),
            token("jti-b", 5_000),
            token(odd, 2_000)
        ],
        "revoked tokens by jti; revoking again keeps the later expiry; values are bound"
    );
    store.token_revoke(&token("jti-a", 12_000)).await.unwrap();
    assert_eq!(
        store.revoked_tokens_active(5_000).await.unwrap(),
        vec![token("jti-a", 12_000)],
        "a later expiry lengthens the record; ended records are not listed"
    );

    // Other suites may have run on this store: only these sessions and keys are looked at.
    let only = |list: Vec<Revoked>, ids: [Uuid; 2]| -> Vec<Revoked> {
        assert!(list.windows(2).all(|w| w[0].id < w[1].id), "listed by id");
        list.into_iter().filter(|r| ids.contains(&r.id)).collect()
    };
    let owner = user("revoker@example.com");
    store.user_insert(&owner).await.unwrap();
    let (s1, s2) = (session(owner.id, 1_000), session(owner.id, 1_000));
    store.session_insert(&s1).await.unwrap();
    store.session_insert(&s2).await.unwrap();
    let sessions = [s1.id, s2.id];
    assert!(only(store.sessions_revoked_since(0).await.unwrap(), sessions).is_empty());
    store.session_revoke(s1.id, 3_000, Logout).await.unwrap();
    assert_eq!(
        only(store.sessions_revoked_since(3_000).await.unwrap(), sessions),
        vec![Revoked {
            id: s1.id,
            revoked_at: 3_000
        }],
        "a session revoked at or after the bound"
    );
    assert!(only(store.sessions_revoked_since(3_001).await.unwrap(), sessions).is_empty());
    let (k1, k2) = (key(201, owner.id, 1_000), key(202, owner.id, 1_000));
    store.api_key_insert(&k1).await.unwrap();
    store.api_key_insert(&k2).await.unwrap();
    let keys = [k1.id, k2.id];
    store.api_key_revoke(k2.id, 4_000, Admin).await.unwrap();
    assert_eq!(
        only(store.api_keys_revoked_since(4_000).await.unwrap(), keys),
        vec![Revoked {
            id: k2.id,
            revoked_at: 4_000
        }],
        "a key revoked at or after the bound"
    );
    assert!(only(store.api_keys_revoked_since(4_001).await.unwrap(), keys).is_empty());

    let block = |ip: &str, until: i64, reason: &str| IpBlockRecord {
        ip: ip.into(),
        until,
        created_at: 1_000,
        reason: reason.into(),
    };
    store
        .ip_block_put(&block("10.0.0.2", 8_000, "brute_force"))
        .await
        .unwrap();
    store
        .ip_block_put(&block("2001:db8::1", 6_000, "alert"))
        .await
        .unwrap();
    store
        .ip_block_put(&block("10.0.0.2", 7_000, "alert"))
        .await
        .unwrap();
    assert_eq!(
        store.ip_blocks_active(1_000).await.unwrap(),
        vec![
            block("10.0.0.2", 8_000, "brute_force"),
            block("2001:db8::1", 6_000, "alert")
        ],
        "a shorter block never shortens a longer one; listed by address"
    );
    store
        .ip_block_put(&block("10.0.0.2", 20_000, "alert"))
        .await
        .unwrap();
    assert_eq!(
        store.ip_blocks_active(6_000).await.unwrap(),
        vec![block("10.0.0.2", 20_000, "alert")],
        "a longer block lengthens; ended blocks are not listed"
    );
    assert!(store.ip_block_remove("10.0.0.2").await.unwrap());
    assert!(
        !store.ip_block_remove("10.0.0.2").await.unwrap(),
        "lifting twice finds nothing the second time"
    );
    assert_eq!(store.ip_blocks_active(0).await.unwrap().len(), 1);

    // Prune: at 13,000 every token (12,000 the latest) and the remaining block (6,000) ended.
    for i in 0..3 {
        store
            .token_revoke(&token(&format!("old-{i}"), 100))
            .await
            .unwrap();
    }
    store.token_revoke(&token("live", 50_000)).await.unwrap();
    assert_eq!(
        store.revocations_prune(13_000, 2).await.unwrap(),
        3,
        "at most `limit` rows of each table per call"
    );
    assert_eq!(store.revocations_prune(13_000, 2).await.unwrap(), 2);
    assert_eq!(store.revocations_prune(13_000, 2).await.unwrap(), 2);
    assert_eq!(store.revocations_prune(13_000, 2).await.unwrap(), 0);
    assert_eq!(
        store.revoked_tokens_active(0).await.unwrap(),
        vec![token("live", 50_000)],
        "the prune keeps what is still in force"
    );
    assert!(store.ip_blocks_active(0).await.unwrap().is_empty());
    assert_eq!(
        only(store.sessions_revoked_since(0).await.unwrap(), sessions).len(),
        1,
        "sessions are records of their own, never pruned here"
    );
}
