//! The embedded durable store: one SQLite file in the data dir, WAL mode, migrations at open,
//! `secure_delete` on (overwritten and deleted content is zeroed in the file).
//!
//! This folder holds what is SQLite's own: opening, migrations, snapshots and integrity checks
//! here, and its `SqliteDialect` (column types, batched audit insert, audit purge gate). The
//! store traits' SQL is shared with PostgreSQL in `src/sql/`; both pass the same
//! conformance suite.

mod dialect;

use crate::{StoreError, StoreResult};
pub(crate) use dialect::SqliteDialect;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, SqlSafeStr};
use std::path::Path;
use std::time::Duration;

/// The SQLite migrations, embedded in the binary in order.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "meta",
        include_str!("../../migrations/sqlite/0001_meta.sql"),
    ),
    (
        2,
        "identity",
        include_str!("../../migrations/sqlite/0002_identity.sql"),
    ),
    (
        3,
        "tenants",
        include_str!("../../migrations/sqlite/0003_tenants.sql"),
    ),
    (
        4,
        "service_accounts_and_grants",
        include_str!("../../migrations/sqlite/0004_service_accounts_and_grants.sql"),
    ),
    (
        5,
        "audit",
        include_str!("../../migrations/sqlite/0005_audit.sql"),
    ),
    (
        6,
        "secrets",
        include_str!("../../migrations/sqlite/0006_secrets.sql"),
    ),
    (
        7,
        "email_encryption",
        include_str!("../../migrations/sqlite/0007_email_encryption.sql"),
    ),
    (
        8,
        "revocations",
        include_str!("../../migrations/sqlite/0008_revocations.sql"),
    ),
    (
        9,
        "external_ids",
        include_str!("../../migrations/sqlite/0009_external_ids.sql"),
    ),
    (
        10,
        "legacy_api_keys",
        include_str!("../../migrations/sqlite/0010_legacy_api_keys.sql"),
    ),
    (
        11,
        "app_events",
        include_str!("../../migrations/sqlite/0011_app_events.sql"),
    ),
    (
        12,
        "mfa",
        include_str!("../../migrations/sqlite/0012_mfa.sql"),
    ),
    (
        13,
        "federation",
        include_str!("../../migrations/sqlite/0013_federation.sql"),
    ),
    (
        14,
        "device_grants",
        include_str!("../../migrations/sqlite/0014_device_grants.sql"),
    ),
    (
        15,
        "passkeys",
        include_str!("../../migrations/sqlite/0015_passkeys.sql"),
    ),
    (
        16,
        "connections",
        include_str!("../../migrations/sqlite/0016_connections.sql"),
    ),
    (
        18,
        "email_flows",
        include_str!("../../migrations/sqlite/0018_email_flows.sql"),
    ),
    (
        21,
        "device_grant_assurance",
        include_str!("../../migrations/sqlite/0021_device_grant_assurance.sql"),
    ),
    (
        22,
        "retention",
        include_str!("../../migrations/sqlite/0022_retention.sql"),
    ),
    (
        24,
        "audit_by_resource",
        include_str!("../../migrations/sqlite/0024_audit_by_resource.sql"),
    ),
    (
        25,
        "account_deletion",
        include_str!("../../migrations/sqlite/0025_account_deletion.sql"),
    ),
    (
        26,
        "audit_sealing",
        include_str!("../../migrations/sqlite/0026_audit_sealing.sql"),
    ),
];

fn migrator() -> Migrator {
    migrator_upto(i64::MAX)
}

/// The migrations up to `last` (tests start from an older schema with it).
fn migrator_upto(last: i64) -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .filter(|(version, _, _)| *version <= last)
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    (*name).into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    // 0007 rebuilds `users` with foreign keys off, which needs its own transaction.
                    *version == 7,
                )
            })
            .collect(),
    )
}

/// The embedded durable store: one SQLite file in the data dir (WAL, `secure_delete`).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    /// E-mail encryption, once the gateway installs it (see [`crate::field_crypto`]).
    pub(crate) crypto: crate::field_crypto::CryptoSlot,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and runs pending migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            // Deleted and overwritten content is zeroed, so a sealed e-mail's former plaintext
            // (and any other replaced value) does not linger in free space of the file.
            .pragma("secure_delete", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        migrator()
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(Self {
            pool,
            crypto: Default::default(),
        })
    }

    /// Opens the database file read-only, as [`SqliteStore::open`] would find it, changing
    /// nothing: `Ok(None)` when every migration is applied, `Ok(Some(what))` when `open` would
    /// create the file or migrate it, an error when the file cannot be opened as a database.
    pub async fn probe(path: &Path) -> StoreResult<Option<String>> {
        use sqlx::Connection;
        if !path.exists() {
            return Ok(Some(format!(
                "{} does not exist yet; the first start creates it",
                path.display()
            )));
        }
        let cannot = |e: sqlx::Error| {
            StoreError::Unavailable(format!("cannot open {}: {e}", path.display()))
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .busy_timeout(Duration::from_secs(5));
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .map_err(cannot)?;
        let table: Option<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(&mut conn)
        .await
        .map_err(cannot)?;
        let applied: i64 = match table {
            Some(_) => sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&mut conn)
                .await
                .map_err(cannot)?,
            None => 0,
        };
        let _ = conn.close().await;
        Ok((applied < MIGRATIONS.len() as i64).then(|| {
            format!(
                "{}: {} of {} migrations applied; the next start applies the rest",
                path.display(),
                applied,
                MIGRATIONS.len()
            )
        }))
    }

    /// Writes a transactionally consistent copy of the whole database to `path` with
    /// `VACUUM INTO`: one read transaction, so writers (a running gateway) carry on and the copy
    /// holds every committed transaction up to its start and nothing after. `path` must not
    /// exist or be an empty file (the caller may create it first with the mode it wants). The
    /// copy is compact (no free pages) and self-contained (no `-wal` file).
    pub async fn snapshot_to(&self, path: &Path) -> StoreResult<()> {
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::Query(format!("{} is not a UTF-8 path", path.display())))?;
        sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(query_error)
    }

    /// `PRAGMA integrity_check`: an empty list when the file is sound, else the problems SQLite
    /// reports (at most 100).
    pub async fn integrity_check(&self) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("PRAGMA integrity_check(100)")
            .fetch_all(&self.pool)
            .await
            .map_err(query_error)?;
        let lines = rows
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(query_error)?;
        Ok(if lines == ["ok"] { Vec::new() } else { lines })
    }

    /// Closes every connection (waiting for them), so the file can be moved or removed.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

pub(crate) fn query_error(e: sqlx::Error) -> StoreError {
    StoreError::Query(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;
    use crate::conformance;

    /// Every table of the migrated schema is either purged with an account (through the columns
    /// named) or listed as holding none; a column naming a user or owner outside the purged
    /// tables is one the purge forgot.
    #[tokio::test]
    async fn every_table_is_purged_or_holds_no_account() {
        use crate::deletion::{PURGED_TABLES, TABLES_WITHOUT_ACCOUNTS};
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("p.db")).await.unwrap();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
        .fetch_all(&store.pool)
        .await
        .unwrap();
        // Tables that hold account ids on purpose, after the account is gone.
        let ids_kept = ["erasures", "deletion_outbox"];
        for table in &tables {
            let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
                .bind(table)
                .fetch_all(&store.pool)
                .await
                .unwrap();
            let purged = PURGED_TABLES.iter().find(|(t, _)| t == table);
            let without = TABLES_WITHOUT_ACCOUNTS.iter().any(|(t, _)| t == table);
            assert!(
                purged.is_some() != without,
                "table {table} must be in exactly one of deletion::PURGED_TABLES and \
                 deletion::TABLES_WITHOUT_ACCOUNTS (and purged by user_purge if it holds accounts)"
            );
            if let Some((_, named)) = purged {
                for column in named.split(',') {
                    assert!(
                        columns.iter().any(|c| c == column),
                        "{table}.{column} is named by PURGED_TABLES but does not exist"
                    );
                }
            } else if !ids_kept.contains(&table.as_str()) {
                for column in &columns {
                    assert!(
                        !matches!(column.as_str(), "user_id" | "owner_id" | "created_by"),
                        "{table}.{column} names an account but {table} is not purged"
                    );
                }
            }
        }
        for (table, _) in PURGED_TABLES.iter().chain(TABLES_WITHOUT_ACCOUNTS) {
            assert!(
                tables.iter().any(|t| t == table),
                "{table} is listed but not in the schema"
            );
        }
    }

    #[tokio::test]
    async fn sqlite_store_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("p.db")).await.unwrap();
        conformance::store_suite(&store).await;
        conformance::identity_suite(&store).await;
        conformance::tenant_suite(&store).await;
        conformance::revocation_suite(&store).await;
        conformance::device_grant_suite(&store).await;
        conformance::email_flow_suite(&store).await;
        conformance::legacy_key_suite(&store).await;
        conformance::mfa_suite(&store).await;
        conformance::federation_suite(&store).await;
        conformance::connections_suite(&store).await;
        conformance::passkey_suite(&store).await;
        conformance::audit_suite(&store).await;
        conformance::secrets_suite(&store).await;
        conformance::refresh_race(std::sync::Arc::new(store)).await;
        let other = SqliteStore::open(&dir.path().join("q.db")).await.unwrap();
        conformance::identity_suite_encrypted(&other).await;
        let fresh = SqliteStore::open(&dir.path().join("r.db")).await.unwrap();
        conformance::retention_suite(&fresh).await;
        let sealing = SqliteStore::open(&dir.path().join("s.db")).await.unwrap();
        conformance::seal_key_suite(&sealing).await;
        let deleting = SqliteStore::open(&dir.path().join("d.db")).await.unwrap();
        conformance::deletion_suite(&deleting).await;
    }

    #[tokio::test]
    async fn a_destroyed_seal_key_leaves_the_database_files() {
        use crate::seal_keys::{SealKeyRecord, SealKeyStore};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let wrapped = b"wrapped-key-bytes-q8Zr2LmX0pT5vN7c".to_vec();
        store
            .seal_key_create(&SealKeyRecord {
                key_id: "ak-gone".into(),
                subject: "0193a5c2-7d1e-7c3a-9f00-00000000abcd".into(),
                created_ms: 1,
                wrapped: wrapped.clone(),
            })
            .await
            .unwrap();
        let in_files = || {
            std::fs::read_dir(dir.path()).unwrap().any(|f| {
                let bytes = std::fs::read(f.unwrap().path()).unwrap();
                bytes
                    .windows(wrapped.len())
                    .any(|w| w == wrapped.as_slice())
            })
        };
        assert!(in_files(), "the key is stored (the scan can find it)");
        store
            .seal_key_destroy("0193a5c2-7d1e-7c3a-9f00-00000000abcd")
            .await
            .unwrap();
        assert!(
            !in_files(),
            "the destroyed key is in no file of the data dir"
        );
    }

    /// Every column of one `users` row as text, read with plain SQL.
    pub(crate) async fn raw_user_row(pool: &SqlitePool, id: uuid::Uuid) -> String {
        use sqlx::Row;
        let row = sqlx::query("SELECT * FROM users WHERE id = ?")
            .bind(id.to_string())
            .fetch_one(pool)
            .await
            .unwrap();
        (0..row.len())
            .map(|i| match row.try_get::<Option<String>, _>(i) {
                Ok(text) => format!("{text:?}"),
                Err(_) => format!("{:?}", row.try_get::<Option<i64>, _>(i).unwrap()),
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }

    #[tokio::test]
    async fn migration_7_keeps_users_and_their_foreign_keys() {
        use crate::identity::IdentityStore;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        {
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(
                    SqliteConnectOptions::new()
                        .filename(&path)
                        .create_if_missing(true)
                        .foreign_keys(true),
                )
                .await
                .unwrap();
            migrator_upto(6).run(&pool).await.unwrap();
            sqlx::query(
                "INSERT INTO users (id, email, roles, kind, created_at, updated_at) \
                 VALUES ('0190d6a0-0000-7000-8000-000000000001', 'old@example.com', '[\"admin\"]', 'human', 1, 2)",
            )
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO sessions (id, user_id, kind, created_at, last_seen_at, expires_at, fingerprint) \
                 VALUES ('s1', '0190d6a0-0000-7000-8000-000000000001', 'token', 1, 1, 9, 'f')",
            )
            .execute(&pool)
            .await
            .unwrap();
            pool.close().await;
        }
        let store = SqliteStore::open(&path).await.unwrap();
        let user = store
            .user_by_email("old@example.com")
            .await
            .unwrap()
            .expect("the user survives the rebuild");
        assert_eq!(user.roles, ["admin"]);
        assert_eq!(user.updated_at, 2);
        let problems = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&store.pool)
            .await
            .unwrap();
        assert!(problems.is_empty(), "foreign keys still hold");
        let orphan = sqlx::query(
            "INSERT INTO sessions (id, user_id, kind, created_at, last_seen_at, expires_at, fingerprint) \
             VALUES ('s2', 'no-such-user', 'token', 1, 1, 9, 'f')",
        )
        .execute(&store.pool)
        .await;
        assert!(orphan.is_err(), "sessions still reference users");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(fk, 1, "foreign keys are back on");
    }

    #[tokio::test]
    async fn sqlite_store_encrypts_emails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let store = SqliteStore::open(&path).await.unwrap();
        let pool = store.pool.clone();
        conformance::email_encryption_suite(&store, &move |id| {
            let pool = pool.clone();
            Box::pin(async move { raw_user_row(&pool, id).await })
        })
        .await;
        // Nowhere in the file (WAL checkpointed) is there a sealed address.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&store.pool)
            .await
            .unwrap();
        store.close().await;
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for needle in [
            "annie.zq7x",
            "bobby.k2m9",
            "builder-x4",
            "early.qv3lmz",
            "early2.pw8kt",
        ] {
            assert!(!text.contains(needle), "{needle} is in the database file");
        }
    }

    #[tokio::test]
    async fn the_audit_table_refuses_update_and_delete_and_verify_catches_a_bypass() {
        use crate::audit::AuditStore;
        use palisade_core::audit::{AuditRecord, GENESIS, Outcome, Risk, verify};
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("p.db")).await.unwrap();
        let mut prev = GENESIS;
        let records: Vec<AuditRecord> = (1..=5)
            .map(|seq| {
                let mut r = AuditRecord {
                    seq,
                    id: format!("id-{seq}"),
                    ts_ms: seq as i64,
                    event_type: "authz.denied".into(),
                    risk: Risk::Medium,
                    actor: Some("u1".into()),
                    action: None,
                    resource_type: None,
                    resource_id: None,
                    tenant: None,
                    result: Outcome::Denied,
                    client_ip: None,
                    user_agent: None,
                    request_id: None,
                    details: serde_json::json!({}),
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
        let (signer, _) = palisade_core::audit::CheckpointSigner::generate("k").unwrap();
        store
            .audit_checkpoint_put(&signer.sign(5, prev, 5))
            .await
            .unwrap();
        for sql in [
            "UPDATE audit_events SET result = 'success' WHERE seq = 3",
            "DELETE FROM audit_events WHERE seq = 5",
            "DELETE FROM audit_checkpoints",
        ] {
            let err = sqlx::query(sql).execute(&store.pool).await.unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
        // Someone with the file drops the trigger and edits a row: the chain names it.
        sqlx::query("DROP TRIGGER audit_events_no_update")
            .execute(&store.pool)
            .await
            .unwrap();
        sqlx::query("UPDATE audit_events SET result = 'success' WHERE seq = 3")
            .execute(&store.pool)
            .await
            .unwrap();
        let stored = store.audit_range(0, 10).await.unwrap();
        let broken = verify(&stored, &[], &Default::default(), false).unwrap_err();
        assert_eq!(broken.seq, 3);
    }

    #[tokio::test]
    async fn data_survives_reopen_and_migrations_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        {
            let store = SqliteStore::open(&path).await.unwrap();
            store.meta_put("instance_id", "abc").await.unwrap();
            store.pool.close().await;
        }
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(
            store.meta_get("instance_id").await.unwrap().as_deref(),
            Some("abc")
        );
    }

    #[tokio::test]
    async fn a_snapshot_holds_committed_data_and_passes_the_integrity_check() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("p.db")).await.unwrap();
        store.meta_put("instance_id", "abc").await.unwrap();
        // An open write transaction on another connection is not in the snapshot, and does
        // not block it.
        let mut open_tx = store.pool.begin().await.unwrap();
        sqlx::query("INSERT INTO palisade_meta (key, value, updated_ms) VALUES ('later', 'x', 0)")
            .execute(&mut *open_tx)
            .await
            .unwrap();
        let copy = dir.path().join("copy.db");
        store.snapshot_to(&copy).await.unwrap();
        open_tx.commit().await.unwrap();
        assert!(
            store.snapshot_to(&copy).await.is_err(),
            "an existing non-empty file is never overwritten"
        );
        let snap = SqliteStore::open(&copy).await.unwrap();
        assert!(snap.integrity_check().await.unwrap().is_empty());
        assert_eq!(
            snap.meta_get("instance_id").await.unwrap().as_deref(),
            Some("abc")
        );
        assert_eq!(snap.meta_get("later").await.unwrap(), None);
        snap.close().await;

        // A damaged page is reported, not passed.
        let mut bytes = std::fs::read(&copy).unwrap();
        let page = 4096;
        assert!(bytes.len() > 2 * page);
        for b in &mut bytes[page + 8..page + 200] {
            *b ^= 0x5a;
        }
        let broken = dir.path().join("broken.db");
        std::fs::write(&broken, bytes).unwrap();
        let problems = match SqliteStore::open(&broken).await {
            Ok(s) => s
                .integrity_check()
                .await
                .unwrap_or_else(|e| vec![e.to_string()]),
            Err(e) => vec![e.to_string()],
        };
        assert!(!problems.is_empty());
    }

    #[tokio::test]
    async fn unwritable_location_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let err = SqliteStore::open(&file.join("p.db")).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    }
}
