//! The PostgreSQL store against a real server: the conformance suite, migrations under the
//! advisory lock, the append-only audit tables, concurrent audit writers, a non-owner role, TLS.
//!
//! Each test works in a schema of its own (`pal_test_<random>`) in the database named by
//! `PALISADE_TEST_DATABASE_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`, a role that may
//! create schemas and roles) and drops it at the end, failed or not. Without the variable each
//! test prints `skipped: PALISADE_TEST_DATABASE_URL not set` and passes.

use palisade_core::audit::{AuditRecord, CheckpointSigner, GENESIS, Outcome, Risk, verify};
use palisade_store::audit::AuditStore;
use palisade_store::postgres::{MIGRATION_LOCK_KEY, PostgresOptions, PostgresStore};
use palisade_store::{Store, StoreError, conformance};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use uuid::Uuid;

fn test_url() -> Option<String> {
    let url = std::env::var("PALISADE_TEST_DATABASE_URL").ok();
    if url.is_none() {
        println!("skipped: PALISADE_TEST_DATABASE_URL not set");
    }
    url
}

fn random_name(prefix: &str) -> String {
    format!("{prefix}{}", Uuid::now_v7().simple())
}

async fn admin(url: &str) -> PgConnection {
    PgConnection::connect(url)
        .await
        .expect("test database reachable")
}

/// Runs `body(url, options for a fresh schema, schema name)` and drops the schema afterwards,
/// also when the body panics (the panic is then re-raised).
async fn with_schema<F, Fut>(body: F)
where
    F: FnOnce(String, PostgresOptions, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(url) = test_url() else { return };
    let schema = random_name("pal_test_");
    let options = PostgresOptions {
        schema: Some(schema.clone()),
        max_connections: 4,
        ..Default::default()
    };
    let outcome = tokio::spawn(body(url.clone(), options, schema.clone())).await;
    let mut conn = admin(&url).await;
    conn.execute(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .await
    .expect("drop the test schema");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// `n` chained records after `(head seq, head hash)`, with a marker in their details.
fn batch(after: u64, prev: [u8; 32], n: u64, marker: &str) -> Vec<AuditRecord> {
    let mut prev = prev;
    (after + 1..=after + n)
        .map(|seq| {
            let mut r = AuditRecord {
                seq,
                id: Uuid::now_v7().to_string(),
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
                details: serde_json::json!({"writer": marker, "n": seq, "big": u64::MAX, "f": -0.0}),
                source: Default::default(),
                prev_hash: GENESIS,
                hash: GENESIS,
            };
            r.link(prev);
            prev = r.hash;
            r
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_conforms() {
    with_schema(|url, options, _| async move {
        let store = PostgresStore::connect(&url, &options).await.unwrap();
        assert_eq!(store.backend(), "postgres");
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
        conformance::refresh_race(Arc::new(store)).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_retention_conforms() {
    with_schema(|url, options, _| async move {
        let store = PostgresStore::connect(&url, &options).await.unwrap();
        conformance::retention_suite(&store).await;
    })
    .await;
}

#[tokio::test]
async fn postgres_store_deletion_conforms() {
    with_schema(|url, options, _| async move {
        let store = PostgresStore::connect(&url, &options).await.unwrap();
        conformance::deletion_suite(&store).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_seal_keys_conform() {
    with_schema(|url, options, _| async move {
        let store = PostgresStore::connect(&url, &options).await.unwrap();
        conformance::seal_key_suite(&store).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_encrypts_emails() {
    with_schema(|url, options, _| async move {
        let store = PostgresStore::connect(&url, &options).await.unwrap();
        conformance::identity_suite_encrypted(&store).await;
    })
    .await;
    with_schema(|url, options, schema| async move {
        let store = PostgresStore::connect(&url, &options).await.unwrap();
        let raw_url = url.clone();
        conformance::email_encryption_suite(&store, &move |id| {
            let (url, schema) = (raw_url.clone(), schema.clone());
            Box::pin(async move {
                // Plain SQL on a connection of its own: the whole row as JSON text.
                let mut conn = PgConnectOptions::from_str(&url)
                    .unwrap()
                    .options([("search_path", schema.as_str())])
                    .connect()
                    .await
                    .unwrap();
                sqlx::query_scalar::<_, String>(
                    "SELECT row_to_json(u)::text FROM users u WHERE id = $1",
                )
                .bind(id)
                .fetch_one(&mut conn)
                .await
                .unwrap()
            })
        })
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_migrate_a_fresh_schema_at_once() {
    with_schema(|url, options, schema| async move {
        let replicas: Vec<_> = (0..3)
            .map(|_| {
                let (url, options) = (url.clone(), options.clone());
                tokio::spawn(async move { PostgresStore::connect(&url, &options).await })
            })
            .collect();
        let mut stores = Vec::new();
        for r in replicas {
            stores.push(r.await.unwrap().expect("every replica starts"));
        }
        let mut conn = admin(&url).await;
        let (applied, ok): (i64, i64) = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT count(*), count(*) FILTER (WHERE success) FROM {schema}._sqlx_migrations"
        )))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        // Counted from the folder, so a new migration does not need this test changed.
        let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "sql")
            })
            .count() as i64;
        assert_eq!((applied, ok), (files, files), "each migration applied once");
        stores[0].meta_put("instance", "one").await.unwrap();
        assert_eq!(
            stores[2].meta_get("instance").await.unwrap().as_deref(),
            Some("one"),
            "the replicas share one schema"
        );
        // A restart with everything applied migrates nothing and keeps the data.
        let again = PostgresStore::connect(&url, &options).await.unwrap();
        assert_eq!(
            again.meta_get("instance").await.unwrap().as_deref(),
            Some("one")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_wait_for_the_advisory_lock() {
    with_schema(|url, options, schema| async move {
        let mut holder = admin(&url).await;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut holder)
            .await
            .unwrap();
        let starting = {
            let (url, options) = (url.clone(), options.clone());
            tokio::spawn(async move { PostgresStore::connect(&url, &options).await })
        };
        // Wait (by polling the server, no timer) until a session queues for the lock.
        let mut watcher = admin(&url).await;
        loop {
            assert!(
                !starting.is_finished(),
                "connect finished while another session held the migration lock"
            );
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
                 AND (classid::bigint << 32 | objid::bigint) = $1",
            )
            .bind(MIGRATION_LOCK_KEY)
            .fetch_one(&mut watcher)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
        }
        let created: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                .bind(&schema)
                .fetch_one(&mut watcher)
                .await
                .unwrap();
        assert!(!created, "nothing is created before the lock is held");
        assert!(!starting.is_finished());
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK_KEY)
            .execute(&mut holder)
            .await
            .unwrap();
        let store = starting
            .await
            .unwrap()
            .expect("connects once the lock is free");
        store.ping().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn the_audit_tables_refuse_update_and_delete_and_verify_catches_a_bypass() {
    with_schema(|url, options, schema| async move {
        let store = PostgresStore::connect(&url, &options).await.unwrap();
        let records = batch(0, GENESIS, 5, "w");
        let head = records[4].hash;
        store.audit_append(&records).await.unwrap();
        let (signer, _) = CheckpointSigner::generate("k").unwrap();
        store
            .audit_checkpoint_put(&signer.sign(5, head, 5))
            .await
            .unwrap();
        assert_eq!(
            store.audit_range(1, 10).await.unwrap(),
            records,
            "details (u64::MAX, -0.0) read back exactly"
        );

        let mut conn = admin(&url).await;
        conn.execute(AssertSqlSafe(format!("SET search_path = {schema}")))
            .await
            .unwrap();
        for sql in [
            "UPDATE audit_events SET result = 'success' WHERE seq = 3",
            "DELETE FROM audit_events WHERE seq = 5",
            "TRUNCATE audit_events",
            "UPDATE audit_checkpoints SET ts_ms = 0",
            "DELETE FROM audit_checkpoints",
            "TRUNCATE audit_checkpoints",
        ] {
            let err = conn.execute(sql).await.unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
        // The purge closes its gate again: a DELETE later in the same transaction is refused.
        let mut tx = conn.begin().await.unwrap();
        let gone: i64 = sqlx::query_scalar("SELECT palisade_audit_purge(1)")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(gone, 1);
        let err = tx
            .execute("DELETE FROM audit_events WHERE seq = 5")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
        drop(tx);
        assert_eq!(
            store.audit_range(0, 10).await.unwrap().len(),
            5,
            "rolled back"
        );

        // The tables' owner drops the trigger and edits a row: the chain names it.
        conn.execute("DROP TRIGGER audit_events_no_update ON audit_events")
            .await
            .unwrap();
        conn.execute("UPDATE audit_events SET result = 'success' WHERE seq = 3")
            .await
            .unwrap();
        let stored = store.audit_range(0, 10).await.unwrap();
        let broken = verify(&stored, &[], &Default::default(), false).unwrap_err();
        assert_eq!(broken.seq, 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_never_both_append_at_one_sequence() {
    with_schema(|url, options, _| async move {
        let a = Arc::new(PostgresStore::connect(&url, &options).await.unwrap());
        let b = Arc::new(PostgresStore::connect(&url, &options).await.unwrap());
        for round in 0..20 {
            let (seq, prev) = a.audit_head().await.unwrap().unwrap_or((0, GENESIS));
            let tasks: Vec<_> = [(a.clone(), "a"), (b.clone(), "b")]
                .into_iter()
                .map(|(store, marker)| {
                    let records = batch(seq, prev, 50, marker);
                    tokio::spawn(async move {
                        let outcome = store.audit_append(&records).await;
                        (store, marker, outcome)
                    })
                })
                .collect();
            let mut won = 0;
            for t in tasks {
                let (store, marker, outcome) = t.await.unwrap();
                match outcome {
                    Ok(()) => won += 1,
                    Err(StoreError::Conflict(_)) => {
                        // What the gateway's writer does: re-link after the new head, retry.
                        let (seq, prev) = store.audit_head().await.unwrap().unwrap();
                        store
                            .audit_append(&batch(seq, prev, 50, marker))
                            .await
                            .expect("the retried batch follows the head");
                    }
                    Err(e) => panic!("round {round}: {e}"),
                }
            }
            assert_eq!(
                won, 1,
                "round {round}: exactly one writer wins the sequence"
            );
        }
        let all = a.audit_range(0, 10_000).await.unwrap();
        assert_eq!(all.len(), 20 * 2 * 50);
        let ok = verify(&all, &[], &Default::default(), false).expect("one unbroken chain");
        assert_eq!(ok.first_seq, Some(1));
    })
    .await;
}

fn url_as(url: &str, role: &str) -> String {
    let mut u = PgConnectOptions::from_str(url).unwrap().to_url_lossy();
    u.set_username(role).unwrap();
    u.set_password(None).unwrap();
    u.to_string()
}

#[tokio::test]
async fn a_non_owner_role_can_append_and_purge_but_not_rewrite() {
    with_schema(|url, options, schema| async move {
        // The owner (the test's role) applies the migrations.
        let owner = PostgresStore::connect(&url, &options).await.unwrap();
        owner.ping().await.unwrap();
        let role = random_name("pal_test_role_");
        let mut conn = admin(&url).await;
        conn.execute(AssertSqlSafe(format!("CREATE ROLE {role} LOGIN")))
            .await
            .unwrap();
        let outcome = tokio::spawn({
            let (url, role, schema) = (url.clone(), role.clone(), schema.clone());
            async move {
                let mut conn = admin(&url).await;
                // The grants documented in migrations/postgres/0005_audit.sql and 0008.
                conn.execute(AssertSqlSafe(format!(
                    "SET search_path = {schema};
                     GRANT USAGE ON SCHEMA {schema} TO {role};
                     GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role};
                     GRANT INSERT, UPDATE, DELETE ON palisade_meta, users, sessions,
                         refresh_tokens, api_keys, signing_keys, tenants, memberships,
                         resource_grants TO {role};
                     GRANT INSERT, UPDATE, DELETE ON revoked_tokens, ip_blocks TO {role};
                     GRANT INSERT ON audit_events, audit_checkpoints TO {role};
                     REVOKE UPDATE, DELETE, TRUNCATE ON audit_events, audit_checkpoints
                         FROM {role};
                     GRANT EXECUTE ON FUNCTION palisade_audit_purge(bigint) TO {role};"
                )))
                .await
                .unwrap();
                let gateway_url = url_as(&url, &role);
                let gateway = PostgresStore::connect(&gateway_url, &options)
                    .await
                    .expect("an up-to-date schema needs no DDL from the gateway's role");
                conformance::store_suite(&gateway).await;
                conformance::revocation_suite(&gateway).await;
                gateway
                    .audit_append(&batch(0, GENESIS, 5, "g"))
                    .await
                    .unwrap();
                let mut as_gateway = admin(&gateway_url).await;
                as_gateway
                    .execute(AssertSqlSafe(format!("SET search_path = {schema}")))
                    .await
                    .unwrap();
                let mut tx = as_gateway.begin().await.unwrap();
                tx.execute("SET LOCAL palisade.audit_purge = 'on'")
                    .await
                    .unwrap();
                let err = tx.execute("DELETE FROM audit_events").await.unwrap_err();
                assert!(
                    err.to_string().contains("permission denied"),
                    "opening the gate by hand does not help without DELETE: {err}"
                );
                drop(tx);
                assert_eq!(gateway.audit_purge_through(2).await.unwrap(), 2);
                assert_eq!(
                    gateway
                        .audit_range(0, 10)
                        .await
                        .unwrap()
                        .first()
                        .map(|r| r.seq),
                    Some(3)
                );
            }
        })
        .await;
        // DROP OWNED revokes the role's grants; then the role can go.
        conn.execute(AssertSqlSafe(format!(
            "DROP OWNED BY {role}; DROP ROLE {role}"
        )))
        .await
        .unwrap();
        if let Err(e) = outcome {
            std::panic::resume_unwind(e.into_panic());
        }
    })
    .await;
}

#[tokio::test]
async fn open_store_takes_a_postgres_url_with_its_options() {
    with_schema(|url, _, schema| async move {
        // No PostgresOptions here: the schema comes from the URL's `options` parameter.
        let sep = if url.contains('?') { '&' } else { '?' };
        let schema_url = format!("{url}{sep}options=-c%20search_path%3D{schema}");
        let mut conn = admin(&url).await;
        conn.execute(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .await
            .unwrap();
        let dir = std::env::temp_dir();
        let store = palisade_store::open_store(&schema_url, &dir).await.unwrap();
        assert_eq!(store.backend(), "postgres");
        store.meta_put("k", "v").await.unwrap();
        let value: String = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT value FROM {schema}.palisade_meta WHERE key = 'k'"
        )))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        assert_eq!(value, "v");
        let alt = schema_url.replacen("postgres://", "postgresql://", 1);
        assert_eq!(
            palisade_store::open_store(&alt, &dir)
                .await
                .unwrap()
                .backend(),
            "postgres"
        );
    })
    .await;
}

#[tokio::test]
async fn sslmode_in_the_url_is_honoured() {
    with_schema(|url, options, _| async move {
        let mut conn = admin(&url).await;
        let server_tls: String = sqlx::query_scalar("SHOW ssl")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        let sep = if url.contains('?') { '&' } else { '?' };
        // Which of our sessions use TLS, found by an application name of their own.
        let uses_tls = |app: String| {
            let url = url.clone();
            async move {
                let mut conn = admin(&url).await;
                sqlx::query_scalar::<_, bool>(
                    "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                     WHERE a.application_name = $1",
                )
                .bind(app)
                .fetch_all(&mut conn)
                .await
                .unwrap()
            }
        };
        let plain = random_name("pal_plain_");
        let _s = PostgresStore::connect(
            &format!("{url}{sep}sslmode=disable&application_name={plain}"),
            &options,
        )
        .await
        .unwrap();
        let sessions = uses_tls(plain).await;
        assert!(
            !sessions.is_empty() && sessions.iter().all(|tls| !tls),
            "{sessions:?}"
        );

        let required = format!("{url}{sep}sslmode=require&application_name=");
        let verify_full = format!("{url}{sep}sslmode=verify-full");
        if server_tls != "on" {
            let err = PostgresStore::connect(&format!("{required}x"), &options)
                .await
                .unwrap_err();
            assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
            println!("the server has no TLS: checked that sslmode=require refuses it");
            return;
        }
        let tls = random_name("pal_tls_");
        let _s = PostgresStore::connect(&format!("{required}{tls}"), &options)
            .await
            .unwrap();
        let sessions = uses_tls(tls).await;
        assert!(
            !sessions.is_empty() && sessions.iter().all(|tls| *tls),
            "{sessions:?}"
        );
        // The test server's certificate is self-signed (not under the webpki roots).
        let err = PostgresStore::connect(&verify_full, &options)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
    })
    .await;
}

#[tokio::test]
async fn the_pool_recovers_when_the_server_drops_its_connections() {
    with_schema(|url, options, _| async move {
        let app = random_name("pal_drop_");
        let sep = if url.contains('?') { '&' } else { '?' };
        let store = PostgresStore::connect(&format!("{url}{sep}application_name={app}"), &options)
            .await
            .unwrap();
        store.meta_put("k", "before").await.unwrap();
        // A failover or an administrator ends every session of the replica.
        let mut conn = admin(&url).await;
        let ended: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        )
        .bind(&app)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert!(!ended.is_empty() && ended.iter().all(|e| *e), "{ended:?}");
        // Pooled connections are checked before use: the dead ones are replaced.
        store.meta_put("k", "after").await.unwrap();
        assert_eq!(store.meta_get("k").await.unwrap().as_deref(), Some("after"));
    })
    .await;
}
