//! Consistent copies of a PostgreSQL store's tables, out and back in: what `palisade backup`
//! reads and writes for `postgres://` stores.
//!
//! What it guarantees:
//! - [`PostgresStore::snapshot`] reads every table of the store's schema inside one `REPEATABLE
//!   READ, READ ONLY` transaction: the tables, their row counts and their contents are one
//!   instant of the database, taken while gateways keep writing.
//! - Tables come in foreign-key order (a referenced table before the tables referring to it), so
//!   a restore that loads them in that order never breaks a constraint. The migration history
//!   (`_sqlx_migrations`) is not copied: the restoring binary's migrations build the schema, and
//!   the backup's list of applied migrations must equal the target's.
//! - [`PostgresStore::restore`] loads into a migrated schema whose tables are all empty, in one
//!   transaction: every table's rows, the count of each checked against the backup's, then every
//!   sequence reset past the highest restored value, then one commit. A damaged or short backup
//!   leaves the schema as empty as it was. The schema's triggers (the audit trail's append-only
//!   guards) stay in place: they refuse updates and deletes, not inserts.
//! - Data moves in PostgreSQL's binary `COPY` format, piece by piece: memory stays bounded by the
//!   caller's piece size whatever the table's size.
//! - Table names are checked to be plain identifiers and to exist in the target schema before
//!   they are used in a statement.

use super::{PostgresStore, query_error};
use crate::{StoreError, StoreResult};
use futures_util::TryStreamExt;
use sqlx::{Executor, Row};

/// A table of the snapshot and its row count at the snapshot's instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// The table's name in the schema.
    pub name: String,
    /// Its rows at the snapshot's instant.
    pub rows: u64,
}

/// One instant of the store, open for reading (see the module docs).
pub struct Snapshot {
    conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
}

/// A restore in progress: one open transaction on an empty, migrated schema.
pub struct Restore {
    conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
    tables: Vec<String>,
}

/// The schema's own tables (not the migration history) in foreign-key order.
const TABLES_IN_ORDER: &str = r#"
WITH RECURSIVE t AS (
    SELECT c.oid, c.relname::text AS name
    FROM pg_class c
    WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
      AND c.relkind IN ('r', 'p') AND c.relname <> '_sqlx_migrations'
), deps AS (
    SELECT DISTINCT con.conrelid AS child, con.confrelid AS parent
    FROM pg_constraint con
    JOIN t child ON child.oid = con.conrelid
    JOIN t parent ON parent.oid = con.confrelid
    WHERE con.contype = 'f' AND con.conrelid <> con.confrelid
), depth AS (
    SELECT oid, 0 AS level FROM t
    UNION ALL
    SELECT deps.child, depth.level + 1 FROM deps JOIN depth ON deps.parent = depth.oid
    WHERE depth.level < 100
)
SELECT t.name FROM t JOIN depth ON depth.oid = t.oid
GROUP BY t.name ORDER BY max(depth.level), t.name
"#;

/// `"name"`, after checking it is a plain lower-case identifier.
fn quoted(name: &str) -> StoreResult<String> {
    let plain = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain {
        Ok(format!("\"{name}\""))
    } else {
        Err(StoreError::Query(format!(
            "{name:?} is not a table name of Palisade's schema"
        )))
    }
}

async fn tables_in_order(conn: &mut sqlx::PgConnection) -> StoreResult<Vec<String>> {
    sqlx::query_scalar(TABLES_IN_ORDER)
        .fetch_all(conn)
        .await
        .map_err(query_error)
}

async fn applied_migrations(conn: &mut sqlx::PgConnection) -> StoreResult<Vec<i64>> {
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(conn)
        .await
        .map_err(query_error)
}

async fn count(conn: &mut sqlx::PgConnection, table: &str) -> StoreResult<u64> {
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {}",
        quoted(table)?
    )))
    .fetch_one(conn)
    .await
    .map_err(query_error)?;
    Ok(n as u64)
}

impl PostgresStore {
    /// Opens a snapshot: one `REPEATABLE READ, READ ONLY` transaction on its own connection.
    pub async fn snapshot(&self) -> StoreResult<Snapshot> {
        let mut conn = self.pool.acquire().await.map_err(query_error)?;
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(query_error)?;
        Ok(Snapshot { conn })
    }

    /// Starts a restore: refused unless the schema's applied migrations are exactly
    /// `migrations` and every table is empty.
    pub async fn restore(&self, migrations: &[i64]) -> StoreResult<Restore> {
        let mut conn = self.pool.acquire().await.map_err(query_error)?;
        let ours = applied_migrations(&mut conn).await?;
        if ours != migrations {
            return Err(StoreError::Query(format!(
                "the backup was made at schema migrations {migrations:?} and this binary's schema \
                 is at {ours:?}: restore with the Palisade version that made the backup, then \
                 upgrade"
            )));
        }
        conn.execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
            .await
            .map_err(query_error)?;
        let mut restore = Restore {
            conn,
            tables: Vec::new(),
        };
        match restore.check_empty().await {
            Ok(()) => Ok(restore),
            Err(e) => {
                restore.abandon().await;
                Err(e)
            }
        }
    }
}

impl Snapshot {
    /// The migrations applied to the snapshot's schema.
    pub async fn migrations(&mut self) -> StoreResult<Vec<i64>> {
        applied_migrations(&mut self.conn).await
    }

    /// Every table with its row count, in foreign-key order.
    pub async fn tables(&mut self) -> StoreResult<Vec<TableInfo>> {
        let mut out = Vec::new();
        for name in tables_in_order(&mut self.conn).await? {
            let rows = count(&mut self.conn, &name).await?;
            out.push(TableInfo { name, rows });
        }
        Ok(out)
    }

    /// Streams `table` in binary `COPY` format to `each`, in the pieces the server sends.
    pub async fn copy_out(
        &mut self,
        table: &str,
        mut each: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> StoreResult<()> {
        let statement = format!("COPY {} TO STDOUT (FORMAT binary)", quoted(table)?);
        let mut stream = self
            .conn
            .copy_out_raw(&statement)
            .await
            .map_err(query_error)?;
        while let Some(bytes) = stream.try_next().await.map_err(query_error)? {
            each(&bytes).map_err(|e| StoreError::Query(format!("writing {table}: {e}")))?;
        }
        Ok(())
    }

    /// Ends the snapshot's transaction.
    pub async fn close(mut self) {
        let _ = self.conn.execute("ROLLBACK").await;
    }
}

impl Restore {
    async fn check_empty(&mut self) -> StoreResult<()> {
        self.tables = tables_in_order(&mut self.conn).await?;
        for table in &self.tables {
            if count(&mut self.conn, table).await? != 0 {
                return Err(StoreError::Query(format!(
                    "table {table} is not empty: restore only into an empty schema, so nothing \
                     is mixed with or overwritten by the backup"
                )));
            }
        }
        Ok(())
    }

    /// The target schema's tables in foreign-key order: the order the backup must hold them in.
    pub fn tables(&self) -> &[String] {
        &self.tables
    }

    /// Loads `table` from the binary `COPY` pieces `next_piece` gives until it gives `None`;
    /// returns the rows loaded.
    pub async fn copy_in<P: AsRef<[u8]>>(
        &mut self,
        table: &str,
        mut next_piece: impl FnMut() -> std::io::Result<Option<P>>,
    ) -> StoreResult<u64> {
        if !self.tables.iter().any(|t| t == table) {
            return Err(StoreError::Query(format!(
                "the backup holds table {table:?}, which this schema does not have"
            )));
        }
        let statement = format!("COPY {} FROM STDIN (FORMAT binary)", quoted(table)?);
        let mut copy = self
            .conn
            .copy_in_raw(&statement)
            .await
            .map_err(query_error)?;
        loop {
            match next_piece() {
                Ok(Some(piece)) => {
                    copy.send(piece.as_ref()).await.map_err(query_error)?;
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = copy.abort(e.to_string()).await;
                    return Err(StoreError::Query(format!("reading {table}: {e}")));
                }
            }
        }
        copy.finish().await.map_err(query_error)
    }

    /// Resets every sequence of the schema past the highest value restored, then commits.
    pub async fn commit(mut self) -> StoreResult<()> {
        let serials = sqlx::query(
            "SELECT c.relname::text AS tbl, a.attname::text AS col,
                    pg_get_serial_sequence(format('%I', c.relname), a.attname) AS seq
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
             WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
               AND c.relkind = 'r'
               AND a.attnum > 0 AND NOT a.attisdropped
               AND pg_get_serial_sequence(format('%I', c.relname), a.attname) IS NOT NULL",
        )
        .fetch_all(&mut *self.conn)
        .await
        .map_err(query_error)?;
        for row in serials {
            let (table, column, sequence): (String, String, String) = (
                row.try_get("tbl").map_err(query_error)?,
                row.try_get("col").map_err(query_error)?,
                row.try_get("seq").map_err(query_error)?,
            );
            let statement = format!(
                "SELECT setval($1, COALESCE((SELECT max({}) FROM {}), 0) + 1, false)",
                quoted(&column)?,
                quoted(&table)?
            );
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .bind(sequence)
                .execute(&mut *self.conn)
                .await
                .map_err(query_error)?;
        }
        self.conn.execute("COMMIT").await.map_err(query_error)?;
        Ok(())
    }

    /// Abandons the restore: nothing it loaded stays.
    pub async fn abandon(mut self) {
        let _ = self.conn.execute("ROLLBACK").await;
    }
}

/// Counts the rows of a binary `COPY` stream fed in arbitrary pieces, checking its framing:
/// signature, header extension, each tuple's field lengths, and the trailer.
#[derive(Debug, Default)]
pub struct CopyRowCounter {
    buf: Vec<u8>,
    header_done: bool,
    rows: u64,
    ended: bool,
}

const COPY_SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

impl CopyRowCounter {
    /// Takes the next piece of the stream.
    pub fn feed(&mut self, piece: &[u8]) -> Result<(), String> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.extend_from_slice(piece);
        let mut at = 0;
        while let Some(n) = self.step(&buf[at..])? {
            at += n;
        }
        buf.drain(..at);
        self.buf = buf;
        Ok(())
    }

    /// The rows counted, once the trailer has been seen and nothing followed it.
    pub fn finish(self) -> Result<u64, String> {
        if !self.ended {
            return Err("the COPY stream ends without its trailer".into());
        }
        if !self.buf.is_empty() {
            return Err("bytes follow the COPY stream's trailer".into());
        }
        Ok(self.rows)
    }

    /// Consumes one header or tuple from the front of `b`: `Some(bytes used)`, or `None` when
    /// `b` does not yet hold a whole one.
    fn step(&mut self, b: &[u8]) -> Result<Option<usize>, String> {
        if b.is_empty() {
            return Ok(None);
        }
        if self.ended {
            return Err("bytes follow the COPY stream's trailer".into());
        }
        let be32 = |at: usize| -> Option<i32> {
            b.get(at..at + 4)
                .map(|s| i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        };
        if !self.header_done {
            let Some(ext) = be32(15) else { return Ok(None) };
            if &b[..11] != COPY_SIGNATURE {
                return Err("not a binary COPY stream (bad signature)".into());
            }
            let ext = usize::try_from(ext).map_err(|_| "bad header extension length")?;
            let len = 19 + ext;
            if b.len() < len {
                return Ok(None);
            }
            self.header_done = true;
            return Ok(Some(len));
        }
        let Some(fields) = b.get(..2).map(|s| i16::from_be_bytes([s[0], s[1]])) else {
            return Ok(None);
        };
        if fields == -1 {
            self.ended = true;
            return Ok(Some(2));
        }
        if fields < 0 {
            return Err(format!("bad field count {fields}"));
        }
        let mut at = 2;
        for _ in 0..fields {
            let Some(len) = be32(at) else { return Ok(None) };
            at += 4;
            if len >= 0 {
                at += len as usize;
            } else if len != -1 {
                return Err(format!("bad field length {len}"));
            }
            if at > b.len() {
                return Ok(None);
            }
        }
        self.rows += 1;
        Ok(Some(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(rows: &[&[Option<&[u8]>]]) -> Vec<u8> {
        let mut out = COPY_SIGNATURE.to_vec();
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        for row in rows {
            out.extend_from_slice(&(row.len() as i16).to_be_bytes());
            for field in *row {
                match field {
                    Some(v) => {
                        out.extend_from_slice(&(v.len() as i32).to_be_bytes());
                        out.extend_from_slice(v);
                    }
                    None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                }
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    #[test]
    fn counts_rows_whatever_the_piece_boundaries() {
        let data = stream(&[
            &[Some(b"abc"), None],
            &[Some(b""), Some(b"0123456789")],
            &[None, None],
        ]);
        for piece in 1..=data.len() {
            let mut counter = CopyRowCounter::default();
            for chunk in data.chunks(piece) {
                counter.feed(chunk).unwrap();
            }
            assert_eq!(counter.finish().unwrap(), 3, "pieces of {piece}");
        }
    }

    #[test]
    fn damage_is_named() {
        let data = stream(&[&[Some(b"abc")]]);
        let mut cut = CopyRowCounter::default();
        cut.feed(&data[..data.len() - 1]).unwrap();
        assert!(cut.finish().is_err(), "no trailer");
        let mut bad = data.clone();
        bad[0] = b'X';
        assert!(CopyRowCounter::default().feed(&bad).is_err());
        let mut extra = CopyRowCounter::default();
        let mut more = data.clone();
        more.push(0);
        assert!(extra.feed(&more).is_err() || extra.finish().is_err());
        let mut negative = data;
        negative[21..25].copy_from_slice(&(-7i32).to_be_bytes());
        assert!(CopyRowCounter::default().feed(&negative).is_err());
    }

    #[test]
    fn only_plain_identifiers_are_quoted() {
        assert_eq!(quoted("audit_events").unwrap(), "\"audit_events\"");
        for bad in ["", "A", "a\"b", "a;drop", "a b", &"x".repeat(64)] {
            assert!(quoted(bad).is_err(), "{bad}");
        }
    }
}
