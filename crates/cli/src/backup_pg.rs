//! `palisade backup create|verify|restore` for PostgreSQL stores: the tables of Palisade's
//! schema, in the same encrypted, authenticated file format as the embedded store's backups.
//!
//! A PostgreSQL backup's entries, in this order (nothing else is accepted):
//!
//! ```text
//! postgres/schema.json          {"format":1,"migrations":[1,2,…],"tables":["palisade_meta",…]}
//! postgres/table/<name>/<i>     binary COPY pieces of table <name>, i = 0, 1, … (≤ 1 MiB each)
//! postgres/table/<name>/rows    the table's row count at the snapshot (decimal)
//! ```
//!
//! one `table` group per table, in the schema entry's (foreign-key) order. What it guarantees
//! (the snapshot and load themselves: `palisade_store::postgres::snapshot`):
//! - create reads one consistent instant of every table while gateways keep writing;
//! - verify authenticates every chunk and checks every table's COPY framing and row count
//!   without a database;
//! - restore goes only into a schema whose tables are empty (after this binary's migrations,
//!   which must be the backup's), all in one transaction checked table by table against the
//!   backup's counts, so a damaged backup leaves nothing behind; then it verifies the restored
//!   audit chain.
//!
//! The data dir's dev `secrets.toml` is not part of a PostgreSQL backup: deployments on
//! PostgreSQL take their secrets from the environment (production mode).

use crate::backup::{
    Opener, Sealer, create_with, eof_is_truncation, finish_backup, hex, next_entry, open_backup,
    write_entry,
};
use anyhow::{Context, Result, anyhow, bail};
use palisade_cli::backup_format::CHUNK_SIZE;
use palisade_core::clock::{Clock, SystemClock};
use palisade_core::crypto::MasterKey;
use palisade_gateway::config::Config;
use palisade_store::postgres::PostgresStore;
use palisade_store::postgres::snapshot::CopyRowCounter;
use serde::{Deserialize, Serialize};
use std::io::{self, BufWriter, Read};
use std::path::Path;
use zeroize::Zeroizing;

/// Every entry name of a PostgreSQL backup starts with this.
pub const ENTRY_PREFIX: &str = "postgres/";
const SCHEMA_ENTRY: &str = "postgres/schema.json";
/// The largest COPY piece written; a restore refuses larger ones (memory stays bounded).
const PIECE: usize = 1 << 20;
const MAX_SCHEMA_ENTRY: u64 = 1 << 20;

#[derive(Debug, Serialize, Deserialize)]
struct SchemaEntry {
    format: u32,
    migrations: Vec<i64>,
    tables: Vec<String>,
}

fn piece_entry(table: &str, i: u64) -> String {
    format!("postgres/table/{table}/{i}")
}

fn rows_entry(table: &str) -> String {
    format!("postgres/table/{table}/rows")
}

/// True for a `postgres://` or `postgresql://` store URL.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

async fn connect(config: &Config) -> Result<PostgresStore> {
    PostgresStore::connect(&config.store.url, &config.store.postgres_options())
        .await
        .map_err(|e| anyhow!("{e}"))
}

/// Writes the backup of the configured PostgreSQL store to `file` (0600, never overwriting);
/// returns what the audit event records about it.
pub async fn create(file: &Path, config: &Config, master: &MasterKey) -> Result<serde_json::Value> {
    create_with(file, |out| write_backup(out, file, config, master)).await
}

async fn write_backup(
    out: std::fs::File,
    file: &Path,
    config: &Config,
    master: &MasterKey,
) -> Result<(String, serde_json::Value)> {
    let store = connect(config).await?;
    let mut snapshot = store.snapshot().await.map_err(|e| anyhow!("{e}"))?;
    let migrations = snapshot.migrations().await.map_err(|e| anyhow!("{e}"))?;
    let tables = snapshot.tables().await.map_err(|e| anyhow!("{e}"))?;
    let mut sealer = Sealer::start(
        BufWriter::new(out),
        master,
        CHUNK_SIZE,
        SystemClock.now_millis(),
    )?;
    let schema = serde_json::to_vec(&SchemaEntry {
        format: 1,
        migrations,
        tables: tables.iter().map(|t| t.name.clone()).collect(),
    })?;
    write_entry(
        &mut sealer,
        SCHEMA_ENTRY,
        schema.len() as u64,
        &mut schema.as_slice(),
    )?;
    let mut total_rows = 0u64;
    for table in &tables {
        let mut piece = Zeroizing::new(Vec::with_capacity(PIECE));
        let mut index = 0u64;
        let mut flush = |piece: &mut Vec<u8>, sealer: &mut Sealer<_>| -> io::Result<()> {
            write_entry(
                sealer,
                &piece_entry(&table.name, index),
                piece.len() as u64,
                &mut piece.as_slice(),
            )
            .map_err(|e| io::Error::other(e.to_string()))?;
            piece.clear();
            index += 1;
            Ok(())
        };
        snapshot
            .copy_out(&table.name, |mut bytes| {
                while !bytes.is_empty() {
                    let room = (PIECE - piece.len()).min(bytes.len());
                    piece.extend_from_slice(&bytes[..room]);
                    bytes = &bytes[room..];
                    if piece.len() == PIECE {
                        flush(&mut piece, &mut sealer)?;
                    }
                }
                Ok(())
            })
            .await
            .map_err(|e| anyhow!("{e}"))?;
        if !piece.is_empty() {
            flush(&mut piece, &mut sealer)?;
        }
        let rows = table.rows.to_string();
        write_entry(
            &mut sealer,
            &rows_entry(&table.name),
            rows.len() as u64,
            &mut rows.as_bytes(),
        )?;
        total_rows += table.rows;
    }
    snapshot.close().await;
    finish_backup(
        sealer,
        file,
        master,
        &format!("PostgreSQL: {} tables, {total_rows} rows", tables.len()),
        serde_json::json!({"store": "postgres", "tables": tables.len(), "rows": total_rows}),
    )
}

/// True when `file` is a PostgreSQL backup (its first entry is the schema entry).
pub fn is_postgres_backup(file: &Path, master: &MasterKey) -> Result<bool> {
    let (_, mut opener) = open_backup(file, master)?;
    Ok(next_entry(&mut opener)
        .with_context(|| file.display().to_string())?
        .is_some_and(|(name, _)| name == SCHEMA_ENTRY))
}

/// Reads the schema entry, which must come first.
fn read_schema<R: Read>(opener: &mut Opener<R>) -> Result<SchemaEntry> {
    match next_entry(opener)? {
        Some((name, size)) if name == SCHEMA_ENTRY && size <= MAX_SCHEMA_ENTRY => {
            let mut body = Vec::new();
            opener
                .take(size)
                .read_to_end(&mut body)
                .map_err(eof_is_truncation)?;
            let schema: SchemaEntry = serde_json::from_slice(&body)
                .map_err(|e| anyhow!("the backup's schema entry is not valid: {e}"))?;
            if schema.format != 1 {
                bail!(
                    "the backup's PostgreSQL format {} is not one this binary reads",
                    schema.format
                );
            }
            Ok(schema)
        }
        _ => bail!("this is not a backup of a PostgreSQL store"),
    }
}

/// What follows in a table's group: a COPY piece or the row count that ends the group.
enum Next {
    Piece(Zeroizing<Vec<u8>>),
    Rows(u64),
}

/// Reads the next entry of `table`'s group, which must be piece `index` or the row count.
fn next_in_table<R: Read>(opener: &mut Opener<R>, table: &str, index: u64) -> Result<Next> {
    let Some((name, size)) = next_entry(opener)? else {
        bail!("the backup ends inside table {table}");
    };
    let mut read = |limit: u64| -> Result<Zeroizing<Vec<u8>>> {
        if size > limit {
            bail!("entry {name} is larger than a backup writes ({size} bytes)");
        }
        let mut body = Zeroizing::new(Vec::with_capacity(size as usize));
        opener
            .take(size)
            .read_to_end(&mut body)
            .map_err(eof_is_truncation)?;
        if body.len() as u64 != size {
            bail!("the backup ends inside entry {name}");
        }
        Ok(body)
    };
    if name == piece_entry(table, index) {
        Ok(Next::Piece(read(PIECE as u64)?))
    } else if name == rows_entry(table) {
        let body = read(20)?;
        std::str::from_utf8(&body)
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Next::Rows)
            .ok_or_else(|| anyhow!("the row count of table {table} is not a number"))
    } else {
        bail!("the backup holds an unexpected entry {name:?} inside table {table}")
    }
}

/// Authenticates every chunk and checks every table's COPY framing against its row count.
pub fn verify(file: &Path, master: &MasterKey) -> Result<bool> {
    let (header, mut opener) = open_backup(file, master)?;
    let outcome = check(&mut opener);
    let created = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(header.created_ms),
    );
    println!(
        "{}: PostgreSQL backup, {} chunks authenticated (master key id {}, created {created})",
        file.display(),
        opener.chunks(),
        hex(&header.key_id),
    );
    match outcome {
        Ok(line) => {
            println!("OK: {line}");
            Ok(true)
        }
        Err(e) => {
            println!("FAILED: {e:#}");
            Ok(false)
        }
    }
}

fn check<R: Read>(opener: &mut Opener<R>) -> Result<String> {
    let schema = read_schema(opener)?;
    let mut rows = 0u64;
    for table in &schema.tables {
        let mut counter = CopyRowCounter::default();
        let mut index = 0;
        let expected = loop {
            match next_in_table(opener, table, index)? {
                Next::Piece(piece) => {
                    counter
                        .feed(&piece)
                        .map_err(|e| anyhow!("table {table}: {e}"))?;
                    index += 1;
                }
                Next::Rows(n) => break n,
            }
        };
        let counted = counter
            .finish()
            .map_err(|e| anyhow!("table {table}: {e}"))?;
        if counted != expected {
            bail!("table {table} holds {counted} rows, its count says {expected}");
        }
        rows += counted;
    }
    if let Some((name, _)) = next_entry(opener)? {
        bail!("the backup holds an unexpected entry {name:?} after its tables");
    }
    Ok(format!(
        "{} tables, {rows} rows, schema migrations {}..={}; the audit chain is verified when \
         the backup is restored",
        schema.tables.len(),
        schema.migrations.first().unwrap_or(&0),
        schema.migrations.last().unwrap_or(&0),
    ))
}

/// Restores `file` into the configured PostgreSQL store, whose tables must be empty (an absent
/// schema is created and migrated first). `Ok(false)`: restored, but the audit chain does not
/// verify.
pub async fn restore(file: &Path, config: &Config, master: &MasterKey) -> Result<bool> {
    restore_all(file, config, master)
        .await
        .map_err(|e| e.context(format!("nothing was restored from {}", file.display())))
}

async fn restore_all(file: &Path, config: &Config, master: &MasterKey) -> Result<bool> {
    let (_, mut opener) = open_backup(file, master)?;
    let schema = read_schema(&mut opener).with_context(|| file.display().to_string())?;
    let store = connect(config).await?;
    let mut restore = store
        .restore(&schema.migrations)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let loaded = load(&mut restore, &mut opener, &schema).await;
    let rows = match loaded {
        Ok(rows) => rows,
        Err(e) => {
            restore.abandon().await;
            return Err(e);
        }
    };
    restore.commit().await.map_err(|e| anyhow!("{e}"))?;
    restored(file, &store, &schema, rows).await
}

/// Says what was restored and verifies the restored audit chain (`Ok(false)`: broken).
async fn restored(
    file: &Path,
    store: &PostgresStore,
    schema: &SchemaEntry,
    rows: u64,
) -> Result<bool> {
    println!(
        "restored {} into the PostgreSQL store ({} tables, {rows} rows); start the gateway with \
         the same master key (PALISADE_MASTER_KEY or PALISADE_MASTER_KEY_FILE)",
        file.display(),
        schema.tables.len(),
    );
    let verified = crate::admin::verify_trail(store, None, None).await?;
    match verified {
        Ok(v) => {
            println!(
                "audit chain OK: {} records, {} signed checkpoints",
                v.count, v.checkpoints
            );
            Ok(true)
        }
        Err(b) => {
            println!("audit chain BROKEN at sequence {}: {}", b.seq, b.reason);
            Ok(false)
        }
    }
}

async fn load<R: Read>(
    restore: &mut palisade_store::postgres::snapshot::Restore,
    opener: &mut Opener<R>,
    schema: &SchemaEntry,
) -> Result<u64> {
    if restore.tables() != schema.tables.as_slice() {
        bail!(
            "the backup's tables {:?} are not this schema's {:?}",
            schema.tables,
            restore.tables()
        );
    }
    let mut total = 0;
    for table in &schema.tables {
        let mut index = 0;
        let mut expected = None;
        let mut failure = None;
        let loaded = restore
            .copy_in(table, || match next_in_table(opener, table, index) {
                Ok(Next::Piece(piece)) => {
                    index += 1;
                    Ok(Some(piece))
                }
                Ok(Next::Rows(n)) => {
                    expected = Some(n);
                    Ok(None)
                }
                Err(e) => {
                    let message = format!("{e:#}");
                    failure = Some(e);
                    Err(io::Error::other(message))
                }
            })
            .await;
        if let Some(e) = failure {
            return Err(e);
        }
        let loaded = loaded.map_err(|e| anyhow!("{e}"))?;
        if Some(loaded) != expected {
            bail!(
                "table {table}: {loaded} rows loaded, the backup's count says {}",
                expected.unwrap_or_default()
            );
        }
        total += loaded;
    }
    if let Some((name, _)) = next_entry(opener)? {
        bail!("the backup holds an unexpected entry {name:?} after its tables");
    }
    Ok(total)
}
