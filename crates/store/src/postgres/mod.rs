//! The scale-out durable store: PostgreSQL through a sqlx `PgPool`.
//!
//! What it guarantees:
//! - The same behaviour as the SQLite backend (checked by the same conformance suite).
//! - Migrations (`migrations/postgres/`, embedded) run at connect on one dedicated connection
//!   holding `pg_advisory_lock(MIGRATION_LOCK_KEY)` for the whole run, so replicas starting
//!   together migrate one after the other; the lock ends with that connection's session, even
//!   when a migration fails. A role that may not create tables (production, see migration 0005)
//!   connects once an owner has applied every migration: an up-to-date schema is only read.
//! - The URL's `sslmode` is honoured (rustls with aws-lc-rs, webpki roots or `sslrootcert`).
//! - With [`PostgresOptions::schema`], every connection's `search_path` is that schema alone
//!   (created if missing), so several isolated Palisade schemas can share one database.
//! - Error messages name the server (host, port, database), never the URL or its password.
//!
//! This folder holds what is PostgreSQL's own: connecting, migrations under the advisory lock,
//! error classification here, and its `PostgresDialect` (column types, `UNNEST` batches, the
//! audit purge function). The store traits' SQL is shared with SQLite in `src/sql/`.

mod dialect;
pub mod snapshot;

use crate::{StoreError, StoreResult};
pub(crate) use dialect::PostgresDialect;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Row, SqlSafeStr};
use std::str::FromStr;
use std::time::Duration;

/// The PostgreSQL migrations, embedded in the binary in order (numbered like the SQLite ones).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "meta",
        include_str!("../../migrations/postgres/0001_meta.sql"),
    ),
    (
        2,
        "identity",
        include_str!("../../migrations/postgres/0002_identity.sql"),
    ),
    (
        3,
        "tenants",
        include_str!("../../migrations/postgres/0003_tenants.sql"),
    ),
    (
        4,
        "service_accounts_and_grants",
        include_str!("../../migrations/postgres/0004_service_accounts_and_grants.sql"),
    ),
    (
        5,
        "audit",
        include_str!("../../migrations/postgres/0005_audit.sql"),
    ),
    (
        6,
        "secrets",
        include_str!("../../migrations/postgres/0006_secrets.sql"),
    ),
    (
        7,
        "email_encryption",
        include_str!("../../migrations/postgres/0007_email_encryption.sql"),
    ),
    (
        8,
        "revocations",
        include_str!("../../migrations/postgres/0008_revocations.sql"),
    ),
    (
        9,
        "external_ids",
        include_str!("../../migrations/postgres/0009_external_ids.sql"),
    ),
    (
        10,
        "legacy_api_keys",
        include_str!("../../migrations/postgres/0010_legacy_api_keys.sql"),
    ),
    (
        11,
        "app_events",
        include_str!("../../migrations/postgres/0011_app_events.sql"),
    ),
    (
        12,
        "mfa",
        include_str!("../../migrations/postgres/0012_mfa.sql"),
    ),
    (
        13,
        "federation",
        include_str!("../../migrations/postgres/0013_federation.sql"),
    ),
    (
        14,
        "device_grants",
        include_str!("../../migrations/postgres/0014_device_grants.sql"),
    ),
    (
        15,
        "passkeys",
        include_str!("../../migrations/postgres/0015_passkeys.sql"),
    ),
    (
        16,
        "connections",
        include_str!("../../migrations/postgres/0016_connections.sql"),
    ),
    (
        18,
        "email_flows",
        include_str!("../../migrations/postgres/0018_email_flows.sql"),
    ),
    (
        21,
        "device_grant_assurance",
        include_str!("../../migrations/postgres/0021_device_grant_assurance.sql"),
    ),
    (
        22,
        "retention",
        include_str!("../../migrations/postgres/0022_retention.sql"),
    ),
    (
        24,
        "audit_by_resource",
        include_str!("../../migrations/postgres/0024_audit_by_resource.sql"),
    ),
    (
        25,
        "account_deletion",
        include_str!("../../migrations/postgres/0025_account_deletion.sql"),
    ),
    (
        26,
        "audit_sealing",
        include_str!("../../migrations/postgres/0026_audit_sealing.sql"),
    ),
];

/// The advisory-lock key every Palisade replica takes before migrating (ASCII "palisade").
/// Fixed, so replicas on one database serialize whatever schema they use.
pub const MIGRATION_LOCK_KEY: i64 = 0x7061_6c69_7361_6465;

/// Pool and connection settings; [`Default`] suits one gateway replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// Connections kept open when idle.
    pub min_connections: u32,
    /// Longest wait for a pooled connection (including opening one) before a query fails.
    pub acquire_timeout: Duration,
    /// Longest wait for the first connection at start (TCP, TLS, authentication).
    pub connect_timeout: Duration,
    /// An idle connection above `min_connections` is closed after this long.
    pub idle_timeout: Option<Duration>,
    /// A connection is replaced after this long (lets the server rebalance, rotate credentials).
    pub max_lifetime: Option<Duration>,
    /// Server-side limit on one statement (`statement_timeout`); `None` leaves the server's.
    pub statement_timeout: Option<Duration>,
    /// Keep every table in this schema (`search_path` = it alone), created if missing.
    /// Lower-case letters, digits and `_`, at most 63 characters, not starting with a digit.
    /// `None`: the server's `search_path` (usually `public`).
    pub schema: Option<String>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
            statement_timeout: None,
            schema: None,
        }
    }
}

/// Durable state in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pub(crate) pool: PgPool,
    /// E-mail encryption, once the gateway installs it (see [`crate::field_crypto`]).
    pub(crate) crypto: crate::field_crypto::CryptoSlot,
}

fn valid_schema(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn migrator() -> Migrator {
    let mut migrator = Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    (*name).into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    );
    // We hold our own advisory lock around the whole run (schema creation included).
    migrator.set_locking(false);
    migrator
}

impl PostgresStore {
    /// Connects to the database `url` names (`postgres://…` or `postgresql://…`, libpq-style
    /// parameters such as `sslmode`, `sslrootcert`, `options`), runs pending migrations under
    /// the advisory lock, then opens the pool.
    pub async fn connect(url: &str, options: &PostgresOptions) -> StoreResult<Self> {
        let (mut connect, server) = connect_options(url, options)?;
        let unavailable = |e: &dyn std::fmt::Display| {
            StoreError::Unavailable(format!("PostgreSQL {server}: {e}"))
        };
        let conn = first_connection(&connect, options, &server).await?;
        migrate(conn, options.schema.as_deref()).await?;

        if let Some(limit) = options.statement_timeout {
            connect = connect.options([("statement_timeout", format!("{}ms", limit.as_millis()))]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(options.min_connections)
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(options.idle_timeout)
            .max_lifetime(options.max_lifetime)
            .connect_with(connect)
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(Self {
            pool,
            crypto: Default::default(),
        })
    }

    /// Connects as [`PostgresStore::connect`] would, but only reads: `Ok(None)` when the schema
    /// is up to date, `Ok(Some(what))` when `connect` would create or migrate it (nothing is
    /// done here), an error when the server cannot be reached or refuses the login.
    pub async fn probe(url: &str, options: &PostgresOptions) -> StoreResult<Option<String>> {
        let (connect, server) = connect_options(url, options)?;
        let mut conn = first_connection(&connect, options, &server).await?;
        let failed = |e: sqlx::Error| StoreError::Unavailable(format!("PostgreSQL {server}: {e}"));
        if let Some(schema) = &options.schema {
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                    .bind(schema)
                    .fetch_one(&mut conn)
                    .await
                    .map_err(failed)?;
            if !exists {
                return Ok(Some(format!(
                    "PostgreSQL {server}: schema {schema:?} does not exist; the first start creates it and applies every migration"
                )));
            }
        }
        let current = up_to_date(&mut conn, &migrator()).await.map_err(failed)?;
        let _ = conn.close().await;
        Ok((!current).then(|| {
            format!("PostgreSQL {server}: the schema is not up to date; the next start applies the pending migrations")
        }))
    }
}

/// The connection options `url` and `options` name, and the server (host:port/db) for messages.
fn connect_options(
    url: &str,
    options: &PostgresOptions,
) -> StoreResult<(PgConnectOptions, String)> {
    let mut connect = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::UnsupportedUrl(format!("not a PostgreSQL URL: {e}")))?;
    if connect.get_application_name().is_none() {
        connect = connect.application_name("palisade");
    }
    if let Some(schema) = &options.schema {
        if !valid_schema(schema) {
            return Err(StoreError::UnsupportedUrl(format!(
                "schema {schema:?}: use lower-case letters, digits and _ (at most 63)"
            )));
        }
        connect = connect.options([("search_path", schema.as_str())]);
    }
    let server = format!(
        "{}:{}/{}",
        connect.get_host(),
        connect.get_port(),
        connect.get_database().unwrap_or(connect.get_username())
    );
    Ok((connect, server))
}

/// One connection, within `options.connect_timeout`.
async fn first_connection(
    connect: &PgConnectOptions,
    options: &PostgresOptions,
    server: &str,
) -> StoreResult<PgConnection> {
    let unavailable =
        |e: &dyn std::fmt::Display| StoreError::Unavailable(format!("PostgreSQL {server}: {e}"));
    tokio::time::timeout(options.connect_timeout, PgConnection::connect_with(connect))
        .await
        .map_err(|_| unavailable(&"connect timed out"))?
        .map_err(|e| unavailable(&e))
}

/// Creates the schema if asked and applies pending migrations, all under the advisory lock held
/// by `conn`'s session. The connection is closed at the end (on error, dropped: the server ends
/// the session and with it the lock).
async fn migrate(mut conn: PgConnection, schema: Option<&str>) -> StoreResult<()> {
    let failed = |e: sqlx::Error| StoreError::Migration(e.to_string());
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut conn)
        .await
        .map_err(failed)?;
    if let Some(schema) = schema {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                .bind(schema)
                .fetch_one(&mut conn)
                .await
                .map_err(failed)?;
        if !exists {
            // `schema` was checked by `valid_schema`: a plain identifier, safe to quote.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
            )))
            .execute(&mut conn)
            .await
            .map_err(failed)?;
        }
    }
    let migrator = migrator();
    if !up_to_date(&mut conn, &migrator).await.map_err(failed)? {
        // `run_direct` on the connection itself: `run` goes through `Acquire`, whose
        // higher-ranked bound makes this future not `Send` (sqlx's own workaround).
        migrator
            .run_direct(None, &mut conn, false)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
    }
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut conn)
        .await
        .map_err(failed)?;
    conn.close().await.map_err(failed)
}

/// True when exactly the embedded migrations (same checksums) were applied successfully: then
/// nothing is written, so a role without CREATE on the schema can start.
async fn up_to_date(conn: &mut PgConnection, migrator: &Migrator) -> Result<bool, sqlx::Error> {
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
        .fetch_one(&mut *conn)
        .await?;
    if table.is_none() {
        return Ok(false);
    }
    let applied =
        sqlx::query("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await?;
    if applied.len() != migrator.iter().count() {
        return Ok(false);
    }
    for (row, m) in applied.iter().zip(migrator.iter()) {
        let success: bool = row.try_get("success")?;
        let version: i64 = row.try_get("version")?;
        let checksum: Vec<u8> = row.try_get("checksum")?;
        if !success || version != m.version || checksum != *m.checksum {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Maps a sqlx error: a lost or unreachable server (I/O, TLS, pool exhausted, SQLSTATE class 08
/// "connection exception", 57P0x "shutting down / cannot connect now", 53 "insufficient
/// resources") is [`StoreError::Unavailable`], the rest [`StoreError::Query`].
pub(crate) fn query_error(e: sqlx::Error) -> StoreError {
    let unavailable = match &e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c.starts_with("53")),
        _ => false,
    };
    if unavailable {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Query(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for ok in ["palisade", "pal_test_0123abcd", "_x", &"a".repeat(63)] {
            assert!(valid_schema(ok), "{ok}");
        }
        for bad in [
            "",
            "Palisade",
            "9lives",
            "a-b",
            "x\"; DROP SCHEMA public; --",
            "a,public",
            &"a".repeat(64),
        ] {
            assert!(!valid_schema(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_bad_schema_or_url_is_refused_before_connecting() {
        let bad = PostgresOptions {
            schema: Some("a,public".into()),
            ..Default::default()
        };
        let err = PostgresStore::connect("postgres://u:secret@127.0.0.1:1/db", &bad)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{err}");
        let err = PostgresStore::connect("postgres://u:secret@[::1/db", &Default::default())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{err}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_unavailable_and_the_password_stays_out() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let err = PostgresStore::connect("postgres://u:secret@127.0.0.1:1/db", &Default::default())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
        let text = err.to_string();
        assert!(text.contains("127.0.0.1:1/db"), "{text}");
        assert!(!text.contains("secret"), "{text}");
    }
}
