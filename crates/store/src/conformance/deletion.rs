//! The conformance checks of [`crate::deletion::DeletionStore`]: marking an account deleted
//! (once), restoring it, finding the accounts due, purging one through every table that holds it
//! while another account's rows stay, the tombstones, and the outbox's delivery bookkeeping.

use super::{key, refresh, session, user};
use crate::Store;
use crate::connections::ConnectionRecord;
use crate::deletion::{Erasure, MarkDeleted, OutboxMessage};
use crate::device_grants::{DeviceGrant, DeviceGrantStatus};
use crate::email_flows::{EmailToken, EmailTokenPurpose};
use crate::federation::FederatedIdentityRecord;
use crate::identity::{MembershipRecord, ResourceGrantRecord, TenantRecord, UserRecord};
use crate::mfa::{MfaTokenRecord, TotpRecord};
use crate::passkeys::PasskeyRecord;
use crate::secrets::SecretVersion;
use uuid::Uuid;

/// Gives `u` a row in every table that can hold an account; `n` keeps unique keys apart.
async fn fill(store: &dyn Store, u: &UserRecord, n: u8) {
    let s = session(u.id, 1_000);
    store.session_insert(&s).await.unwrap();
    store.refresh_insert(&refresh(n, s.id)).await.unwrap();
    store.api_key_insert(&key(n, u.id, 1_000)).await.unwrap();
    store
        .member_put(&MembershipRecord {
            tenant_id: "acme".into(),
            user_id: u.id,
            role: "member".into(),
            created_at: 1,
        })
        .await
        .unwrap();
    store
        .resource_grant_put(&ResourceGrantRecord {
            tenant_id: "beta".into(),
            user_id: u.id,
            grants: vec!["graphs.read".into()],
            created_at: 1,
        })
        .await
        .unwrap();
    store
        .totp_insert(&TotpRecord {
            id: Uuid::now_v7(),
            user_id: u.id,
            name: "phone".into(),
            seed_enc: "pal1.k.seed".into(),
            created_at: 1,
            confirmed_at: Some(1),
            last_used_step: None,
        })
        .await
        .unwrap();
    store.recovery_replace(u.id, &[[n; 32]], 1).await.unwrap();
    store
        .mfa_token_insert(&MfaTokenRecord {
            hash: [n; 32],
            user_id: u.id,
            created_at: 1,
            expires_at: i64::MAX / 2,
            binding: "b".into(),
        })
        .await
        .unwrap();
    store
        .federated_identity_insert(&FederatedIdentityRecord {
            id: Uuid::now_v7(),
            user_id: u.id,
            provider: "google".into(),
            issuer: "https://accounts.example".into(),
            subject: format!("sub-{n}"),
            email: Some(u.email.clone()),
            linked_at: 1,
        })
        .await
        .unwrap();
    store
        .passkey_insert(&PasskeyRecord {
            id: Uuid::now_v7(),
            user_id: u.id,
            credential_id: vec![n; 16],
            name: "laptop".into(),
            credential: "{}".into(),
            sign_count: 0,
            created_at: 1,
            last_used_at: None,
        })
        .await
        .unwrap();
    store
        .connection_insert(&ConnectionRecord {
            id: Uuid::now_v7(),
            owner_id: u.id,
            provider: "github".into(),
            access_token_enc: "pal1.k.tok".into(),
            refresh_token_enc: None,
            expires_at: None,
            scopes: "repo".into(),
            created_at: 1,
            updated_at: 1,
        })
        .await
        .unwrap();
    store
        .email_token_insert(&EmailToken {
            token_hash: format!("{n:02x}").repeat(32),
            user_id: u.id,
            purpose: EmailTokenPurpose::Reset,
            created_at: 1,
            expires_at: i64::MAX / 2,
            used_at: None,
        })
        .await
        .unwrap();
    store
        .device_grant_insert(&DeviceGrant {
            device_code_hash: format!("d{n}"),
            user_code_hash: format!("u{n}"),
            client_id: "cli".into(),
            client_ip: "192.0.2.1".into(),
            created_at: 1,
            expires_at: i64::MAX / 2,
            interval_secs: 5,
            last_poll_at: None,
            status: DeviceGrantStatus::Approved,
            user_id: Some(u.id),
            approver_assurance: None,
        })
        .await
        .unwrap();
    for version in [1, 2] {
        store
            .secret_insert(&SecretVersion {
                path: format!("users/{}/token", u.id),
                version,
                ciphertext: format!("pal1.k.{version}"),
                metadata: serde_json::json!({}),
                created_at: 1,
                created_by: Some(u.id.to_string()),
                deleted_at: None,
            })
            .await
            .unwrap();
    }
}

/// How many rows `u` has in each table [`fill`] writes, by table.
async fn held(store: &dyn Store, u: &UserRecord, n: u8) -> Vec<(&'static str, usize)> {
    let sessions = store.sessions_for_user(u.id, true).await.unwrap();
    let tokens = store.refresh_get(&[n; 32]).await.unwrap();
    vec![
        (
            "users",
            store.user_by_id(u.id).await.unwrap().iter().count(),
        ),
        ("sessions", sessions.len()),
        ("refresh_tokens", tokens.iter().count()),
        (
            "api_keys",
            store.api_keys_list(Some(u.id)).await.unwrap().len(),
        ),
        (
            "memberships",
            store
                .memberships_list()
                .await
                .unwrap()
                .iter()
                .filter(|m| m.user_id == u.id)
                .count(),
        ),
        (
            "resource_grants",
            store
                .resource_grants_list()
                .await
                .unwrap()
                .iter()
                .filter(|g| g.user_id == u.id)
                .count(),
        ),
        (
            "totp_credentials",
            store.totp_for_user(u.id).await.unwrap().len(),
        ),
        (
            "recovery_codes",
            store.recovery_remaining(u.id).await.unwrap() as usize,
        ),
        (
            "mfa_tokens",
            store
                .mfa_token_get(&[n; 32], 2)
                .await
                .unwrap()
                .iter()
                .count(),
        ),
        (
            "federated_identities",
            store.federated_identities_of(u.id).await.unwrap().len(),
        ),
        (
            "passkeys",
            store.passkeys_for_user(u.id).await.unwrap().len(),
        ),
        (
            "connections",
            store.connections_of(u.id).await.unwrap().len(),
        ),
        (
            "email_tokens",
            store
                .email_token_get(&format!("{n:02x}").repeat(32))
                .await
                .unwrap()
                .iter()
                .count(),
        ),
        (
            "device_grants",
            store
                .device_grant_by_device_code(&format!("d{n}"))
                .await
                .unwrap()
                .iter()
                .count(),
        ),
        (
            "secret_versions",
            store
                .secret_versions(&format!("users/{}/token", u.id))
                .await
                .unwrap()
                .len(),
        ),
    ]
}

/// Checks marking, restoring, purging, tombstones and the outbox.
pub async fn deletion_suite(store: &dyn Store) {
    for t in ["acme", "beta"] {
        store
            .tenant_insert(&TenantRecord {
                id: t.into(),
                name: t.into(),
                parent_id: None,
                created_at: 1,
            })
            .await
            .unwrap();
    }
    let gone = user("gone@example.com");
    let kept = user("kept@example.com");
    store.user_insert(&gone).await.unwrap();
    store.user_insert(&kept).await.unwrap();
    fill(store, &gone, 1).await;
    fill(store, &kept, 2).await;
    // A secret the account wrote elsewhere stays, without naming it.
    store
        .secret_insert(&SecretVersion {
            path: "app/db".into(),
            version: 1,
            ciphertext: "pal1.k.x".into(),
            metadata: serde_json::json!({}),
            created_at: 1,
            created_by: Some(gone.id.to_string()),
            deleted_at: None,
        })
        .await
        .unwrap();

    // Marking: once, disabled, refused enable, restore, and due after its time.
    let unknown = Uuid::now_v7();
    assert_eq!(
        store.user_mark_deleted(unknown, 5).await.unwrap(),
        MarkDeleted::NoSuchAccount
    );
    assert_eq!(store.user_deleted_at(unknown).await.unwrap(), None);
    assert_eq!(
        store.user_mark_deleted(gone.id, 100).await.unwrap(),
        MarkDeleted::Marked(100)
    );
    assert_eq!(
        store.user_mark_deleted(gone.id, 200).await.unwrap(),
        MarkDeleted::Already(100),
        "a second mark keeps the first time"
    );
    assert!(store.user_by_id(gone.id).await.unwrap().unwrap().disabled);
    assert!(
        !store.user_set_disabled(gone.id, false, 150).await.unwrap(),
        "a deleted account is not enabled by the ordinary switch"
    );
    assert_eq!(
        store.user_deleted_at(gone.id).await.unwrap(),
        Some(Some(100))
    );
    assert_eq!(store.user_deleted_at(kept.id).await.unwrap(), Some(None));
    assert!(store.user_restore(gone.id, 300).await.unwrap());
    assert!(
        !store.user_restore(gone.id, 300).await.unwrap(),
        "not deleted now"
    );
    assert!(!store.user_by_id(gone.id).await.unwrap().unwrap().disabled);
    assert_eq!(
        store.user_mark_deleted(gone.id, 400).await.unwrap(),
        MarkDeleted::Marked(400)
    );
    assert!(
        store
            .users_deleted_before(399, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.users_deleted_before(400, 10).await.unwrap(),
        vec![gone.id]
    );

    // The purge: every row of the account, nothing of the other; the tombstone; the message.
    let message = OutboxMessage {
        id: Uuid::now_v7(),
        user_id: gone.id,
        event: "user.deleted".into(),
        created_at: 500,
        attempts: 0,
        next_attempt_at: 500,
    };
    let before = held(store, &gone, 1).await;
    assert!(before.iter().all(|(_, n)| *n > 0), "filled: {before:?}");
    assert!(
        store
            .user_purge(gone.id, 500, Some(&message))
            .await
            .unwrap()
    );
    let after = held(store, &gone, 1).await;
    assert!(after.iter().all(|(_, n)| *n == 0), "purged: {after:?}");
    let other = held(store, &kept, 2).await;
    assert!(
        other.iter().all(|(_, n)| *n > 0),
        "the other account kept: {other:?}"
    );
    assert_eq!(store.user_by_email("gone@example.com").await.unwrap(), None);
    let elsewhere = store.secret_get("app/db", None).await.unwrap().unwrap();
    assert_eq!(
        elsewhere.created_by, None,
        "the writer is forgotten, the secret kept"
    );
    assert!(
        !store.user_purge(gone.id, 600, None).await.unwrap(),
        "gone already"
    );
    assert!(
        store
            .users_deleted_before(i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.user_deleted_at(gone.id).await.unwrap(), None);

    // Tombstones: the purge's, one recorded later (a restore's), none twice.
    let restored = Erasure {
        user_id: Uuid::now_v7(),
        erased_at: 700,
    };
    store
        .erasures_record(&[
            restored,
            Erasure {
                user_id: gone.id,
                erased_at: 900,
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        store.erasures_since(0).await.unwrap(),
        vec![
            Erasure {
                user_id: gone.id,
                erased_at: 500
            },
            restored
        ]
    );
    assert_eq!(store.erasures_since(500).await.unwrap(), vec![restored]);

    // The outbox: due, put off on failure, delivered once.
    assert!(store.outbox_due(499, 10).await.unwrap().is_empty());
    assert_eq!(
        store.outbox_due(500, 10).await.unwrap(),
        vec![message.clone()]
    );
    store
        .outbox_failed(message.id, 800, "HTTP 503")
        .await
        .unwrap();
    assert!(store.outbox_due(799, 10).await.unwrap().is_empty());
    let again = store.outbox_due(800, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    assert!(store.outbox_delivered(message.id, 801).await.unwrap());
    assert!(!store.outbox_delivered(message.id, 802).await.unwrap());
    assert!(store.outbox_due(i64::MAX, 10).await.unwrap().is_empty());
    store.erasure_flush().await.unwrap();
}
