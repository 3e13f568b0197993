//! `palisade backup create|verify|restore` on a PostgreSQL store (issue 20, item 6): a
//! consistent snapshot of Palisade's tables into the encrypted backup format, restored into an
//! empty schema with the audit triggers in place.
//!
//! Each test uses schemas of its own in `PALISADE_TEST_DATABASE_URL`'s database and drops them
//! at the end; without that variable the test says it was skipped.

use sqlx::{Connection, Executor};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const MASTER: &str = "cGctYmFja3VwLXRlc3QtbWFzdGVyLWtleS0zMi1ieXQ=";

struct Schemas {
    url: String,
    names: Vec<String>,
}

impl Drop for Schemas {
    fn drop(&mut self) {
        let (url, names) = (self.url.clone(), self.names.clone());
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    if let Ok(mut c) = sqlx::PgConnection::connect(&url).await {
                        for name in names {
                            let _ = c
                                .execute(sqlx::AssertSqlSafe(format!(
                                    "DROP SCHEMA IF EXISTS {name} CASCADE"
                                )))
                                .await;
                        }
                    }
                });
        })
        .join()
        .unwrap();
    }
}

fn palisade(dir: &Path, url: &str, schema: &str, args: &[&str]) -> Output {
    palisade_stdin(dir, url, schema, args, None)
}

fn palisade_stdin(
    dir: &Path,
    url: &str,
    schema: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.current_dir(dir);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("PALISADE_")) {
        cmd.env_remove(k);
    }
    cmd.envs([
        ("PALISADE_STORE__URL", url),
        ("PALISADE_STORE__SCHEMA", schema),
        ("PALISADE_MASTER_KEY", MASTER),
        (
            "PALISADE_SECRETS__SIGNING_KEY",
            "pg-backup-test-signing-key-0123456789abcdef",
        ),
        (
            "PALISADE_SECRETS__COOKIE_KEY",
            "pg-backup-test-cookie-key-0123456789abcdef0",
        ),
        ("PALISADE_LOG__LEVEL", "warn"),
    ]);
    cmd.args(args).args(["--data-dir", "data"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        writeln!(child.stdin.take().unwrap(), "{input}").unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The record count of an `audit verify` / restore line ("… N records …").
fn records(report: &str) -> u64 {
    report
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[1].starts_with("records"))
        .and_then(|w| w[0].parse().ok())
        .unwrap_or_else(|| panic!("a record count in {report}"))
}

async fn rows(url: &str, schema: &str, table: &str) -> i64 {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {schema}.{table}"
    )))
    .fetch_one(&mut c)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_postgres_store_is_backed_up_verified_and_restored_into_an_empty_schema() {
    let Ok(url) = std::env::var("PALISADE_TEST_DATABASE_URL") else {
        println!("skipped: PALISADE_TEST_DATABASE_URL is not set");
        return;
    };
    let id = uuid::Uuid::now_v7().simple().to_string();
    let (source, target, damaged_target) = (
        format!("pal_bk_src_{id}"),
        format!("pal_bk_dst_{id}"),
        format!("pal_bk_bad_{id}"),
    );
    let _cleanup = Schemas {
        url: url.clone(),
        names: vec![source.clone(), target.clone(), damaged_target.clone()],
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let on = |schema: &str, args: &[&str]| palisade(d, &url, schema, args);

    for email in ["ann@example.com", "bob@example.com"] {
        ok(palisade_stdin(
            d,
            &url,
            &source,
            &["user", "add", "--email", email, "--password-stdin"],
            Some("correct horse battery staple 42"),
        ));
    }
    ok(on(
        &source,
        &[
            "key",
            "create",
            "--email",
            "ann@example.com",
            "--name",
            "ci",
        ],
    ));
    // Enough rows for several 1 MiB COPY pieces and many 64 KiB chunks.
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    c.execute(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {source}.revoked_tokens (jti, expires_at, revoked_at) \
         SELECT 'jti-' || g || '-' || md5(g::text), 4102444800000, 1700000000000 \
         FROM generate_series(1, 30000) g"
    )))
    .await
    .unwrap();
    let users = ok(on(&source, &["user", "list"]));
    let keys = ok(on(&source, &["key", "list"]));
    let before = ok(on(&source, &["audit", "verify"]));
    assert!(before.starts_with("OK: "), "{before}");

    let created = ok(on(&source, &["backup", "create", "b.pal"]));
    assert!(created.contains("PostgreSQL"), "{created}");
    let again = on(&source, &["backup", "create", "b.pal"]);
    assert!(!again.status.success() && text(&again).contains("never overwrites"));
    let recorded = ok(on(&source, &["audit", "query", "--type", "data.exported"]));
    assert!(
        recorded.contains(r#""store":"postgres""#),
        "the backup is on the record: {recorded}"
    );

    let verified = ok(on(&source, &["backup", "verify", "b.pal"]));
    assert!(verified.contains("\nOK: "), "{verified}");

    // Never into a schema that holds data.
    let refused = on(&source, &["backup", "restore", "b.pal"]);
    assert!(
        !refused.status.success() && text(&refused).contains("not empty"),
        "{}",
        text(&refused)
    );

    // A backup damaged in its last chunk is refused by verify, and a restore of it, which has
    // loaded tables by then, leaves the target schema empty.
    let original = std::fs::read(d.join("b.pal")).unwrap();
    assert!(
        original.len() > 2 << 20,
        "several pieces: {}",
        original.len()
    );
    let mut bad = original.clone();
    let at = original.len() - 40;
    bad[at] ^= 1;
    std::fs::write(d.join("bad.pal"), &bad).unwrap();
    let bad_verify = on(&source, &["backup", "verify", "bad.pal"]);
    assert!(!bad_verify.status.success(), "{}", text(&bad_verify));
    let bad_restore = on(&damaged_target, &["backup", "restore", "bad.pal"]);
    assert!(
        !bad_restore.status.success() && text(&bad_restore).contains("nothing was restored"),
        "{}",
        text(&bad_restore)
    );
    assert_eq!(rows(&url, &damaged_target, "users").await, 0);
    assert_eq!(rows(&url, &damaged_target, "revoked_tokens").await, 0);
    assert_eq!(rows(&url, &damaged_target, "audit_events").await, 0);
    // The same schema then takes the good backup.
    ok(on(&damaged_target, &["backup", "restore", "b.pal"]));

    let restored = ok(on(&target, &["backup", "restore", "b.pal"]));
    assert!(restored.contains("audit chain OK"), "{restored}");
    assert_eq!(records(&restored), records(&before), "{restored}");
    assert_eq!(ok(on(&target, &["user", "list"])), users);
    assert_eq!(ok(on(&target, &["key", "list"])), keys);
    assert_eq!(rows(&url, &target, "revoked_tokens").await, 30000);

    // The restored schema keeps its audit triggers and its chain goes on.
    let update = c
        .execute(sqlx::AssertSqlSafe(format!(
            "UPDATE {target}.audit_events SET actor = 'mallory'"
        )))
        .await;
    assert!(
        update.unwrap_err().to_string().contains("append-only"),
        "the append-only trigger is in place"
    );
    ok(palisade_stdin(
        d,
        &url,
        &target,
        &[
            "user",
            "add",
            "--email",
            "carol@example.com",
            "--password-stdin",
        ],
        Some("violet lanterns drift over harbor 7"),
    ));
    let after = ok(on(&target, &["audit", "verify"]));
    assert!(
        after.starts_with("OK: ") && records(&after) > records(&before),
        "{after}"
    );
}

/// An account erased after a PostgreSQL backup stays erased when that backup is restored: the
/// erasure log beside the data dir is re-applied.
#[tokio::test]
async fn a_restored_postgres_backup_does_not_bring_an_erased_account_back() {
    let Ok(url) = std::env::var("PALISADE_TEST_DATABASE_URL") else {
        println!("skipped: PALISADE_TEST_DATABASE_URL is not set");
        return;
    };
    let id = uuid::Uuid::now_v7().simple().to_string();
    let (source, target) = (format!("pal_er_src_{id}"), format!("pal_er_dst_{id}"));
    let _cleanup = Schemas {
        url: url.clone(),
        names: vec![source.clone(), target.clone()],
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let on = |schema: &str, args: &[&str]| palisade(d, &url, schema, args);
    let erased = "pg-erased-9@example.com";
    for email in [erased, "kept@example.com"] {
        ok(palisade_stdin(
            d,
            &url,
            &source,
            &["user", "add", "--email", email, "--password-stdin"],
            Some("correct horse battery staple 42"),
        ));
    }
    ok(on(&source, &["backup", "create", "older.pal"]));
    let out = ok(on(&source, &["user", "delete", erased, "--purge"]));
    assert!(out.starts_with("erased "), "{out}");
    assert_eq!(rows(&url, &source, "erasures").await, 1);

    let restored = ok(on(&target, &["backup", "restore", "older.pal"]));
    assert!(
        restored.contains("re-applied 1 erasures: 1 restored account(s) erased again"),
        "{restored}"
    );
    let users = ok(on(&target, &["user", "list"]));
    assert!(
        !users.contains(erased) && users.contains("kept@example.com"),
        "{users}"
    );
    assert_eq!(rows(&url, &target, "users").await, 1);
    assert_eq!(rows(&url, &target, "erasures").await, 1);
    let audit = ok(on(&target, &["audit", "verify"]));
    assert!(audit.starts_with("OK: "), "{audit}");
}
