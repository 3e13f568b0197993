//! The SQL shared by the SQLite and PostgreSQL backends: one body per store trait ([`meta`]:
//! `Store`; [`identity`]: `IdentityStore` and `TenantStore`; [`imports`]: `ImportStore`; [`audit`]; [`revocations`]; [`seal_keys`]: `SealKeyStore`; [`device_grants`]; [`email_flows`];
//! [`legacy_keys`]: `LegacyKeyStore`; [`federation`]: `FederationStore`; [`passkeys`]: `PasskeyStore`; [`retention`]: `RetentionStore`; [`deletion`]: `DeletionStore`; [`secrets`]: `KeyringStore` and `SecretStore`; [`emails`]: `EmailStore`), each written once as
//! a macro and instantiated at the end of its file for [`SqliteStore`] and [`PostgresStore`].
//!
//! Every statement is one text for both databases, with `$n` placeholders: PostgreSQL's own, and
//! SQLite's numbered `$NNN` parameters, which sqlx binds by number as well. Only SQL both accept
//! is written here (`CASE` rather than `GREATEST`/`MAX(a, b)`, `substr` rather than `LIKE`,
//! `ON CONFLICT … DO UPDATE`, `RETURNING`).
//!
//! What the two spell differently is the backend's [`Dialect`], fixed by the migrations (which
//! are never edited: their checksums are recorded in deployed databases):
//! - how a UUID and a list of strings are stored (SQLite: TEXT and a JSON array in TEXT;
//!   PostgreSQL: UUID and TEXT[]); booleans, integers, text and bytes bind alike on both;
//! - how a failed query is classified (PostgreSQL tells a lost server, `Unavailable`, from a
//!   failed statement, `Query`; SQLite has only the latter);
//! - the three operations each database does its own way: the batched audit insert, the audit
//!   purge through the append-only guard, and the batched API key touch.
//!
//! Guarantees, for both backends: every value is bound, never spliced into SQL; a UNIQUE
//! violation the trait names becomes [`StoreError::Conflict`]; a column that does not decode is
//! [`StoreError::Query`] naming the column, never a panic.
//!
//! [`SqliteStore`]: crate::sqlite::SqliteStore
//! [`PostgresStore`]: crate::postgres::PostgresStore

/// Instantiates the body macro `$body` (`($store:ty, $dialect:ty)`) for each SQL backend, each in
/// a module of its own (`sqlite_impl`, `postgres_impl`) that sees the invoking file's imports.
macro_rules! for_each_backend {
    ($body:ident) => {
        pub(crate) mod sqlite_impl {
            use super::*;
            $body!(crate::sqlite::SqliteStore, crate::sqlite::SqliteDialect);
        }

        pub(crate) mod postgres_impl {
            use super::*;
            $body!(
                crate::postgres::PostgresStore,
                crate::postgres::PostgresDialect
            );
        }
    };
}

pub(crate) mod audit;
pub(crate) mod connections;
pub(crate) mod deletion;
pub(crate) mod device_grants;
pub(crate) mod email_flows;
pub(crate) mod emails;
pub(crate) mod federation;
pub(crate) mod identity;
pub(crate) mod imports;
pub(crate) mod legacy_keys;
pub(crate) mod meta;
pub(crate) mod mfa;
pub(crate) mod passkeys;
pub(crate) mod retention;
pub(crate) mod revocations;
pub(crate) mod seal_keys;
pub(crate) mod secrets;

use crate::{StoreError, StoreResult};
use palisade_core::audit::AuditRecord;
use sqlx::{ColumnIndex, Database, Decode, Pool, Type};
use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};
use uuid::Uuid;

/// A row of the dialect's database.
pub(crate) type Row<D> = <<D as Dialect>::Db as Database>::Row;

/// What SQLite and PostgreSQL do differently under the shared SQL (see the module docs).
pub(crate) trait Dialect {
    /// The sqlx database.
    type Db: Database;
    /// How a UUID is bound.
    type Uuid;
    /// How a list of strings (roles, scopes, grants) is bound.
    type List<'a>;

    /// The backend's short name ([`crate::Store::backend`]).
    const NAME: &'static str;

    /// A UUID as the `UUID` columns take it.
    fn uuid(id: Uuid) -> Self::Uuid;
    /// A list as the list columns take it, order kept.
    fn list(items: &[String]) -> Self::List<'_>;
    /// Reads a UUID column.
    fn get_uuid(row: &Row<Self>, col: &str) -> StoreResult<Uuid>;
    /// Reads a list column.
    fn get_list(row: &Row<Self>, col: &str) -> StoreResult<Vec<String>>;
    /// Classifies a failed query.
    fn query_error(e: sqlx::Error) -> StoreError;
    /// The key a retention window walks `table` by, and the SQL type its text form is cast
    /// back to: the physical order where the backend has one (SQLite's `rowid`: neighbouring
    /// rows share pages), else the primary key.
    fn scan_key(table: &str) -> (&'static str, &'static str);

    /// Appends a batch of audit records on `conn` (inside the caller's transaction, after it
    /// checked that the first follows the head).
    fn audit_insert(
        conn: &mut <Self::Db as Database>::Connection,
        records: &[AuditRecord],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Deletes the audit records up to and including `through`, past the append-only guard of
    /// migration 0005; returns how many went.
    fn audit_purge_through(
        pool: &Pool<Self::Db>,
        through: u64,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Pushes rows just deleted for erasure out of the backend's logs, so their bytes leave
    /// its files (SQLite: a truncating WAL checkpoint; PostgreSQL: nothing it can force here).
    fn after_erase(pool: &Pool<Self::Db>) -> impl Future<Output = StoreResult<()>> + Send;
    /// Raises each key's `last_used_at` to the time given (never lowers it), all in one
    /// transaction or statement.
    fn api_keys_touch(
        pool: &Pool<Self::Db>,
        used: &[(Uuid, i64)],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Makes the database's files forget deleted rows after an account's purge (SQLite: its
    /// write-ahead log checkpointed and truncated); nothing by default.
    fn erasure_flush(_pool: &Pool<Self::Db>) -> impl Future<Output = StoreResult<()>> + Send {
        async { Ok(()) }
    }
}

/// A UNIQUE (or primary key) violation becomes [`StoreError::Conflict`] saying `what`; any other
/// error is classified by the dialect.
pub(crate) fn conflict_or<D: Dialect>(e: sqlx::Error, what: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(what.to_string())
        }
        _ => D::query_error(e),
    }
}

/// A failed user insert: a UNIQUE violation on the external id or on the e-mail (its blind
/// index or plaintext) becomes the conflict naming it; anything else is classified by the dialect.
pub(crate) fn user_conflict<D: Dialect>(e: sqlx::Error) -> StoreError {
    use crate::identity::{CONFLICT_EMAIL, CONFLICT_EXTERNAL_ID};
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            // PostgreSQL names the index, SQLite the column ("users.external_id").
            let external = db.constraint() == Some("users_by_external_id")
                || db.message().contains("external_id");
            StoreError::Conflict(
                if external {
                    CONFLICT_EXTERNAL_ID
                } else {
                    CONFLICT_EMAIL
                }
                .to_string(),
            )
        }
        _ => D::query_error(e),
    }
}

/// Reads column `col` of `row` (a column that is missing or does not decode: `Query`).
pub(crate) fn get<'r, R, T>(row: &'r R, col: &str) -> StoreResult<T>
where
    R: sqlx::Row,
    for<'c> &'c str: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(col)
        .map_err(|e| StoreError::Query(e.to_string()))
}

/// Reads a 32-byte column (token hashes, audit hashes).
pub(crate) fn hash32<R>(row: &R, col: &str) -> StoreResult<[u8; 32]>
where
    R: sqlx::Row,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    get::<R, Vec<u8>>(row, col)?
        .try_into()
        .map_err(|_| StoreError::Query(format!("{col} is not 32 bytes")))
}

/// A stored version number as `u32`.
pub(crate) fn version_of(v: i64) -> StoreResult<u32> {
    u32::try_from(v).map_err(|_| StoreError::Query(format!("version {v} out of range")))
}

/// Wall-clock Unix milliseconds (metadata's `updated_ms`, informational only).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
