//! Encrypted, authenticated backups of the embedded store: `palisade backup create|verify|restore`.
//!
//! What a backup holds: a consistent snapshot of the SQLite database (`VACUUM INTO`, taken while
//! a gateway may be writing) and, when present, the data dir's `secrets.toml` (dev mode's signing
//! secret, which wraps the stored token keys). It never holds `master.key`: the master key comes
//! from `PALISADE_MASTER_KEY` / `PALISADE_MASTER_KEY_FILE` (or, for create and verify in dev mode,
//! the data dir's `master.key`) at create, verify and restore time.
//!
//! # File format (version 1)
//!
//! ```text
//! header   magic "PALBKUP\0" | version u16 | chunk size u32 | created-at ms u64 |
//!          key id [8] | salt [32] | nonce prefix [7] | purpose length u8 | purpose (UTF-8)
//! body     chunk 0 | chunk 1 | ... | final chunk          (each: AES-256-GCM ciphertext ‖ 16-byte tag)
//! ```
//!
//! All integers are big-endian. Keys: `K_b = master.derive(purpose)` (HKDF-SHA256, purpose
//! `palisade.backup.v1`), then the file key `K_f = HKDF-SHA256(salt, K_b, "palisade.backup.v1
//! stream")`, fresh for each backup because the salt is 32 random bytes. The key id is the first 8
//! bytes of `master.derive("palisade.backup.key-id.v1")`: it lets a restore say "wrong master
//! key" instead of "damaged", and reveals nothing about the key.
//!
//! The body is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár, "Online
//! Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", CRYPTO 2015): the plaintext
//! is cut into chunks of exactly `chunk size` bytes (64 KiB) except the last, which is shorter
//! (possibly empty), so a full-size chunk is never final. Chunk `i` is sealed with nonce
//! `prefix ‖ u32 i ‖ final flag` and associated data `SHA-256(header) ‖ u64 i ‖ final flag`.
//! Therefore editing any header byte breaks every chunk; moving, dropping or duplicating a chunk
//! breaks its index; cutting the file at a chunk boundary leaves a full-size last chunk sealed as
//! non-final, which is reported as truncated; cutting inside a chunk breaks its tag; and bytes
//! appended after the final chunk are refused.
//!
//! Inside the stream, entries are length-prefixed: `name length u16 | name | size u64 | bytes`,
//! ended by a zero name length. A restore writes each entry to a `.partial` file and renames the
//! files into place only after the final chunk has authenticated, so a damaged backup never
//! leaves half a data dir behind.
//!
//! The header is read and written by `palisade_cli::backup_format` (the library part of this
//! crate, which the `backup` fuzz target reaches).

use crate::admin::StoreArgs;
use anyhow::{Context, Result, anyhow, bail};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::{digest, hkdf};
use clap::Subcommand;
use palisade_core::clock::{Clock, SystemClock};
use palisade_core::crypto::MasterKey;
use palisade_gateway::config::Environment;
use palisade_gateway::config::dev_secrets::DEV_SECRETS_FILE;
use palisade_gateway::protect::files::create_private_dir;
use palisade_gateway::protect::master_key;
use palisade_store::Store;
use palisade_store::identity::IdentityStore;
use palisade_store::sqlite::SqliteStore;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

use palisade_cli::backup_format::{CHUNK_SIZE, Header, PREFIX_LEN, invalid, key_id};

const STREAM_INFO: &[u8] = b"palisade.backup.v1 stream";
const TAG_LEN: usize = 16;
const ENTRY_DB: &str = "palisade.db";

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Write FILE (mode 0600, never overwriting): a consistent snapshot of the SQLite store,
    /// safe to take while `palisade serve` runs, plus the data dir's secrets.toml, encrypted and
    /// authenticated under a key derived from the master key.
    Create { file: PathBuf },
    /// Decrypt and authenticate every chunk, check the database (`PRAGMA integrity_check`) and
    /// the audit chain inside it; print OK with sizes and counts, or exit 1 naming what failed.
    Verify { file: PathBuf },
    /// Restore FILE into an empty (or absent) data dir (files 0600, dir 0700). Needs the master
    /// key the backup was made with, in PALISADE_MASTER_KEY or PALISADE_MASTER_KEY_FILE. Then
    /// re-applies the erasures recorded since (the erasure log beside the data dir,
    /// retention.erasure_log), so an older backup brings no erased account back.
    Restore {
        file: PathBuf,
        /// Erasure logs to re-apply (repeat for several, e.g. one per PostgreSQL replica)
        /// [default: retention.erasure_log, i.e. <data_dir>.erasures.jsonl].
        #[arg(long = "erasures", value_name = "LOG")]
        erasures: Vec<PathBuf>,
    },
}

/// Runs a backup command; `Ok(false)` is a failed verification (exit 1).
pub fn run(args: StoreArgs, cmd: BackupCommand) -> Result<bool> {
    let (mut config, env, _) = crate::load(&args.source)?;
    if let Some(dir) = args.data_dir {
        config.server.data_dir = dir;
    }
    let data_dir = config.server.data_dir.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    if let BackupCommand::Verify { file } = &cmd {
        let master = existing_master_key(env, &data_dir)?;
        if crate::backup_pg::is_postgres_backup(file, &master)? {
            return crate::backup_pg::verify(file, &master);
        }
        return runtime.block_on(verify(file, &master));
    }
    if crate::backup_pg::is_postgres(&config.store.url) {
        return match cmd {
            BackupCommand::Create { file } => {
                let master = existing_master_key(env, &data_dir)?;
                runtime.block_on(async {
                    // Opened first: a backup that cannot be put on the audit record is not made.
                    let admin = crate::admin::Admin::open(config.clone(), env).await?;
                    let details = crate::backup_pg::create(&file, &config, &master).await?;
                    admin.record_export("store:backup", details).await
                })?;
                Ok(true)
            }
            BackupCommand::Restore { file, erasures } => {
                let master = restore_master_key(&data_dir)?;
                if !runtime.block_on(crate::backup_pg::restore(&file, &config, &master))? {
                    return Ok(false);
                }
                runtime.block_on(reapply_erasures(config, env, erasures))?;
                Ok(true)
            }
            BackupCommand::Verify { .. } => unreachable!("handled above"),
        };
    }
    let db_path = palisade_store::sqlite_path(&config.store.url, &data_dir).ok_or_else(|| {
        anyhow!(
            "backups cover the embedded SQLite store and PostgreSQL stores, and store.url is \
             neither a sqlite: nor a postgres:// URL"
        )
    })?;
    match cmd {
        BackupCommand::Create { file } => {
            if !db_path.is_file() {
                bail!(
                    "no database at {}: nothing to back up (is --data-dir right?)",
                    db_path.display()
                );
            }
            let master = existing_master_key(env, &data_dir)?;
            runtime.block_on(async {
                // Opened first: a backup that cannot be put on the audit record is not made.
                let admin = crate::admin::Admin::open(config, env).await?;
                let details = create_with(&file, |out| {
                    write_backup(out, &file, &db_path, &data_dir, &master)
                })
                .await?;
                admin.record_export("store:backup", details).await
            })?;
            Ok(true)
        }
        BackupCommand::Restore { file, erasures } => {
            let master = restore_master_key(&data_dir)?;
            restore(&file, &db_path, &data_dir, &master)?;
            runtime.block_on(reapply_erasures(config, env, erasures))?;
            Ok(true)
        }
        BackupCommand::Verify { .. } => unreachable!("handled above"),
    }
}

/// Re-applies the tombstones of `logs` (default: the configured erasure log) to the restored
/// store through the erasure use case, and says how many accounts were erased again.
async fn reapply_erasures(
    config: palisade_gateway::config::Config,
    env: palisade_gateway::config::Environment,
    logs: Vec<PathBuf>,
) -> Result<()> {
    let logs = if logs.is_empty() {
        vec![config.erasure_log()]
    } else {
        logs
    };
    let mut tombstones = Vec::new();
    for log in &logs {
        tombstones.extend(palisade_gateway::erasures::read(log).map_err(|e| anyhow!("{e}"))?);
    }
    if tombstones.is_empty() {
        println!("no erasures to re-apply ({})", logs[0].display());
        return Ok(());
    }
    let admin = crate::admin::Admin::open(config, env).await?;
    let audit = admin.audit_log();
    let erased = admin.reapply_erasures(&tombstones).await;
    if let Some(trail) = audit.trail() {
        trail.flush().await;
    }
    let erased = erased?;
    println!(
        "re-applied {} erasures: {erased} restored account(s) erased again",
        tombstones.len()
    );
    Ok(())
}

/// The master key a restore needs: from the environment only (the data dir is empty).
fn restore_master_key(data_dir: &Path) -> Result<MasterKey> {
    let (provider, _) = master_key::from_process_env(true, data_dir)
        .map_err(|e| anyhow!("{e}; a restore needs the master key the backup was made with"))?;
    provider.master_key().map_err(|e| anyhow!("{e}"))
}

/// The master key from the environment, or in dev mode the data dir's `master.key` if it exists
/// (never a freshly generated one: a backup under a key nobody kept is worthless).
fn existing_master_key(env: Environment, data_dir: &Path) -> Result<MasterKey> {
    let dev_file_exists = data_dir.join(master_key::DEV_FILE).is_file();
    let production = env == Environment::Production || !dev_file_exists;
    let (provider, _) =
        master_key::from_process_env(production, data_dir).map_err(|e| anyhow!("{e}"))?;
    provider.master_key().map_err(|e| anyhow!("{e}"))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    palisade_gateway::audit::trail::hex_encode(bytes)
}

/// The per-file AEAD key with what binds each chunk: nonce prefix and header digest.
struct StreamKey {
    key: LessSafeKey,
    prefix: [u8; PREFIX_LEN],
    header_digest: [u8; 32],
}

impl StreamKey {
    fn new(master: &MasterKey, header: &Header, raw_header: &[u8]) -> Self {
        let backup_key = master.derive(&header.purpose);
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &header.salt).extract(backup_key.as_ref());
        let okm = prk
            .expand(&[STREAM_INFO], &AES_256_GCM)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let mut header_digest = [0u8; 32];
        header_digest.copy_from_slice(digest::digest(&digest::SHA256, raw_header).as_ref());
        Self {
            key: LessSafeKey::new(UnboundKey::from(okm)),
            prefix: header.nonce_prefix,
            header_digest,
        }
    }

    fn nonce_and_aad(&self, index: u64, last: bool) -> io::Result<(Nonce, [u8; 41])> {
        let counter = u32::try_from(index)
            .map_err(|_| invalid("more than 2^32 chunks: the backup is too large"))?;
        let mut nonce = [0u8; 12];
        nonce[..PREFIX_LEN].copy_from_slice(&self.prefix);
        nonce[PREFIX_LEN..11].copy_from_slice(&counter.to_be_bytes());
        nonce[11] = u8::from(last);
        let mut aad = [0u8; 41];
        aad[..32].copy_from_slice(&self.header_digest);
        aad[32..40].copy_from_slice(&index.to_be_bytes());
        aad[40] = u8::from(last);
        Ok((Nonce::assume_unique_for_key(nonce), aad))
    }
}

/// Encrypts what is written to it into STREAM chunks; [`Sealer::finish`] seals the final one.
pub struct Sealer<W: Write> {
    out: W,
    key: StreamKey,
    buf: Zeroizing<Vec<u8>>,
    chunk: usize,
    index: u64,
}

impl<W: Write> Sealer<W> {
    /// Writes a fresh header to `out` and returns the sealer for the body.
    pub fn start(mut out: W, master: &MasterKey, chunk_size: u32, created_ms: u64) -> Result<Self> {
        let header = Header::fresh(master, chunk_size, created_ms)?;
        let raw = header.encode();
        out.write_all(&raw)?;
        Ok(Self {
            out,
            key: StreamKey::new(master, &header, &raw),
            buf: Zeroizing::new(Vec::with_capacity(chunk_size as usize + TAG_LEN)),
            chunk: chunk_size as usize,
            index: 0,
        })
    }

    fn seal(&mut self, last: bool) -> io::Result<()> {
        let (nonce, aad) = self.key.nonce_and_aad(self.index, last)?;
        self.key
            .key
            .seal_in_place_append_tag(nonce, Aad::from(aad), &mut *self.buf)
            .map_err(|_| io::Error::other("encryption failed"))?;
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        self.index += 1;
        Ok(())
    }

    /// Seals the final (shorter than a chunk, possibly empty) chunk; returns the writer and the
    /// number of chunks.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.seal(true)?;
        self.out.flush()?;
        Ok((self.out, self.index))
    }
}

impl<W: Write> Write for Sealer<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(self.chunk - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        // Sealed as soon as it is full, so the final chunk is always shorter than a full one.
        if self.buf.len() == self.chunk {
            self.seal(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Decrypts and authenticates STREAM chunks as they are read. Reading returns 0 only after the
/// final chunk has authenticated and nothing follows it; every other end is an error.
pub struct Opener<R: Read> {
    input: R,
    key: StreamKey,
    chunk: usize,
    index: u64,
    plain: Zeroizing<Vec<u8>>,
    pos: usize,
    done: bool,
}

impl<R: Read> Opener<R> {
    /// Reads the header and checks it was made with `master` (by key id).
    pub fn start(mut input: R, master: &MasterKey) -> Result<(Header, Self)> {
        let (header, raw) = Header::read(&mut input)?;
        let ours = key_id(master);
        if header.key_id != ours {
            bail!(
                "wrong master key: this backup was made with master key id {}, the one given has \
                 id {} (or the header's key id was altered)",
                hex(&header.key_id),
                hex(&ours)
            );
        }
        let opener = Self {
            key: StreamKey::new(master, &header, &raw),
            input,
            chunk: header.chunk_size as usize,
            index: 0,
            plain: Zeroizing::new(Vec::with_capacity(header.chunk_size as usize + TAG_LEN)),
            pos: 0,
            done: false,
        };
        Ok((header, opener))
    }

    /// Chunks authenticated so far.
    pub fn chunks(&self) -> u64 {
        self.index
    }

    fn next_chunk(&mut self) -> io::Result<()> {
        let record = self.chunk + TAG_LEN;
        self.plain.clear();
        self.plain.resize(record, 0);
        let mut got = 0;
        while got < record {
            match self.input.read(&mut self.plain[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.plain.truncate(got);
        self.pos = 0;
        if got == 0 {
            return Err(invalid(format!(
                "the backup is truncated: it ends after chunk {} without its final chunk",
                self.index.saturating_sub(1)
            )));
        }
        let last = got < record;
        if got < TAG_LEN {
            return Err(invalid(format!(
                "the backup is truncated inside chunk {}",
                self.index
            )));
        }
        let (nonce, aad) = self.key.nonce_and_aad(self.index, last)?;
        let len = self
            .key
            .key
            .open_in_place(nonce, Aad::from(aad), &mut self.plain)
            .map_err(|_| {
                invalid(format!(
                    "chunk {} failed authentication: the backup was altered or truncated",
                    self.index
                ))
            })?
            .len();
        self.plain.truncate(len);
        self.index += 1;
        if last {
            let mut extra = [0u8; 1];
            if self.input.read(&mut extra)? != 0 {
                return Err(invalid("unexpected bytes after the final chunk"));
            }
            self.done = true;
        }
        Ok(())
    }
}

impl<R: Read> Read for Opener<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.plain.len() {
            if self.done || out.is_empty() {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let n = out.len().min(self.plain.len() - self.pos);
        out[..n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Writes one named entry of `size` bytes copied from `data`.
pub(crate) fn write_entry(
    out: &mut impl Write,
    name: &str,
    size: u64,
    data: &mut impl Read,
) -> Result<()> {
    out.write_all(&(name.len() as u16).to_be_bytes())?;
    out.write_all(name.as_bytes())?;
    out.write_all(&size.to_be_bytes())?;
    let copied = io::copy(&mut data.take(size), out)?;
    if copied != size {
        bail!("{name} changed size while it was being backed up");
    }
    Ok(())
}

fn write_end(out: &mut impl Write) -> io::Result<()> {
    out.write_all(&0u16.to_be_bytes())
}

/// The entries a backup may hold (anything else is refused by verify and restore).
fn known_entry(name: &str) -> bool {
    name == ENTRY_DB || name == DEV_SECRETS_FILE
}

/// Reads every entry, handing each to `each` (which may read all, some or none of it), then
/// requires the end marker followed by the authenticated end of the stream.
fn read_entries<R: Read>(
    opener: &mut Opener<R>,
    mut each: impl FnMut(&str, u64, &mut dyn Read) -> Result<()>,
) -> Result<Vec<(String, u64)>> {
    let mut seen: Vec<(String, u64)> = Vec::new();
    while let Some((name, size)) = next_entry(opener)? {
        if !known_entry(&name) || seen.iter().any(|(s, _)| *s == name) {
            if name.starts_with(crate::backup_pg::ENTRY_PREFIX) {
                bail!(
                    "this is a backup of a PostgreSQL store: restore it with store.url set to \
                     the postgres:// database to restore into"
                );
            }
            bail!("the backup holds an unknown or repeated entry");
        }
        let mut body = (&mut *opener).take(size);
        each(&name, size, &mut body)?;
        io::copy(&mut body, &mut io::sink()).map_err(eof_is_truncation)?;
        if body.limit() != 0 {
            bail!("the backup ends inside entry {name}");
        }
        seen.push((name, size));
    }
    Ok(seen)
}

/// The next entry's name and size (its body follows), or `None` at the end marker, after which
/// the stream must end.
pub(crate) fn next_entry<R: Read>(opener: &mut Opener<R>) -> Result<Option<(String, u64)>> {
    let mut len = [0u8; 2];
    opener.read_exact(&mut len).map_err(eof_is_truncation)?;
    let len = u16::from_be_bytes(len) as usize;
    if len == 0 {
        let mut rest = [0u8; 1];
        if opener.read(&mut rest)? != 0 {
            bail!("the backup holds data after its last entry");
        }
        return Ok(None);
    }
    let mut name = vec![0u8; len];
    opener.read_exact(&mut name).map_err(eof_is_truncation)?;
    let name = String::from_utf8(name)
        .map_err(|_| anyhow!("the backup holds an unknown or repeated entry"))?;
    let mut size = [0u8; 8];
    opener.read_exact(&mut size).map_err(eof_is_truncation)?;
    Ok(Some((name, u64::from_be_bytes(size))))
}

pub(crate) fn eof_is_truncation(e: io::Error) -> anyhow::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        anyhow!("the backup's contents end early")
    } else {
        e.into()
    }
}

/// Creates `path` for writing, mode 0600, failing if it exists.
fn create_private(path: &Path) -> io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// A private scratch directory (0700) beside `near`, removed when dropped.
fn scratch_dir(near: &Path) -> Result<tempfile::TempDir> {
    let parent = near
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    tempfile::Builder::new()
        .prefix(".palisade-backup-")
        .tempdir_in(parent)
        .with_context(|| format!("creating a scratch directory in {}", parent.display()))
}

/// Creates `file` (0600, never overwriting) and fills it with `write`, removing it if that
/// fails; prints `write`'s summary and returns what the audit event records about the backup.
pub(crate) async fn create_with<Fut>(
    file: &Path,
    write: impl FnOnce(std::fs::File) -> Fut,
) -> Result<serde_json::Value>
where
    Fut: std::future::Future<Output = Result<(String, serde_json::Value)>>,
{
    let out = create_private(file).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => anyhow!(
            "{} already exists; a backup never overwrites a file",
            file.display()
        ),
        _ => anyhow!("cannot create {}: {e}", file.display()),
    })?;
    let result = write(out).await;
    if result.is_err() {
        let _ = std::fs::remove_file(file);
    }
    let (summary, details) = result?;
    println!("{summary}");
    Ok(details)
}

/// Ends the entries, seals the final chunk and syncs the file; returns the summary line (naming
/// `contents`) and the audit details (with `extra`'s fields).
pub(crate) fn finish_backup(
    mut sealer: Sealer<BufWriter<std::fs::File>>,
    file: &Path,
    master: &MasterKey,
    contents: &str,
    extra: serde_json::Value,
) -> Result<(String, serde_json::Value)> {
    write_end(&mut sealer)?;
    let (writer, chunks) = sealer.finish()?;
    let out = writer.into_inner().map_err(|e| e.into_error())?;
    out.sync_all()?;
    let total = out.metadata()?.len();
    let key_id = hex(&key_id(master));
    let summary = format!(
        "wrote {}: {total} bytes, {chunks} chunks ({contents}), master key id {key_id}",
        file.display(),
    );
    let mut details = serde_json::json!({
        "bytes": total, "chunks": chunks, "master_key_id": key_id, "via": "cli",
    });
    if let (Some(details), serde_json::Value::Object(extra)) = (details.as_object_mut(), extra) {
        details.extend(extra);
    }
    Ok((summary, details))
}

async fn write_backup(
    out: std::fs::File,
    file: &Path,
    db_path: &Path,
    data_dir: &Path,
    master: &MasterKey,
) -> Result<(String, serde_json::Value)> {
    let scratch = scratch_dir(file)?;
    let snapshot = scratch.path().join(ENTRY_DB);
    create_private(&snapshot)?;
    let store = SqliteStore::open(db_path)
        .await
        .with_context(|| format!("opening {}", db_path.display()))?;
    store
        .snapshot_to(&snapshot)
        .await
        .context("taking the snapshot")?;
    store.close().await;

    let created_ms = SystemClock.now_millis();
    let mut sealer = Sealer::start(BufWriter::new(out), master, CHUNK_SIZE, created_ms)?;
    let db_size = std::fs::metadata(&snapshot)?.len();
    write_entry(
        &mut sealer,
        ENTRY_DB,
        db_size,
        &mut BufReader::new(std::fs::File::open(&snapshot)?),
    )?;
    let mut parts = vec![format!("{ENTRY_DB} {db_size} bytes")];
    let secrets_path = data_dir.join(DEV_SECRETS_FILE);
    if secrets_path.is_file() {
        let secrets = Zeroizing::new(
            std::fs::read(&secrets_path)
                .with_context(|| format!("reading {}", secrets_path.display()))?,
        );
        write_entry(
            &mut sealer,
            DEV_SECRETS_FILE,
            secrets.len() as u64,
            &mut secrets.as_slice(),
        )?;
        parts.push(format!("{DEV_SECRETS_FILE} {} bytes", secrets.len()));
    }
    finish_backup(
        sealer,
        file,
        master,
        &parts.join(", "),
        serde_json::json!({}),
    )
}

pub(crate) fn open_backup(
    file: &Path,
    master: &MasterKey,
) -> Result<(Header, Opener<BufReader<std::fs::File>>)> {
    let input = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    Opener::start(BufReader::new(input), master).with_context(|| file.display().to_string())
}

async fn verify(file: &Path, master: &MasterKey) -> Result<bool> {
    let (header, mut opener) = open_backup(file, master)?;
    let scratch = scratch_dir(file)?;
    let db_copy = scratch.path().join(ENTRY_DB);
    let entries = read_entries(&mut opener, |name, _, body| {
        if name == ENTRY_DB {
            let mut out = BufWriter::new(create_private(&db_copy)?);
            io::copy(body, &mut out)?;
            out.flush()?;
        }
        Ok(())
    })
    .with_context(|| file.display().to_string())?;
    let sizes: Vec<String> = entries
        .iter()
        .map(|(n, s)| format!("{n} {s} bytes"))
        .collect();
    let created = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(header.created_ms),
    );
    println!(
        "{}: {} chunks authenticated (master key id {}, created {created}): {}",
        file.display(),
        opener.chunks(),
        hex(&header.key_id),
        sizes.join(", ")
    );
    if !entries.iter().any(|(n, _)| n == ENTRY_DB) {
        println!("FAILED: the backup holds no {ENTRY_DB}");
        return Ok(false);
    }
    let store = match SqliteStore::open(&db_copy).await {
        Ok(s) => s,
        Err(e) => {
            println!("FAILED: the database snapshot does not open: {e}");
            return Ok(false);
        }
    };
    // The accounts' e-mail addresses are encrypted: counting users decrypts every one of them
    // with the backup's master key (on the scratch copy).
    let store = Arc::new(store);
    let outcome = match open_email_crypto(store.clone(), master).await {
        Ok(_keyring) => check_snapshot(&store).await,
        Err(e) => Ok(Err(format!("the snapshot's keyring does not open: {e}"))),
    };
    store.close().await;
    match outcome? {
        Ok(line) => {
            println!("OK: {line}");
            Ok(true)
        }
        Err(failure) => {
            println!("FAILED: {failure}");
            Ok(false)
        }
    }
}

/// The snapshot's keyring under `master`, installed as its e-mail crypto (keep it alive while the
/// store is read).
async fn open_email_crypto(
    store: Arc<SqliteStore>,
    master: &MasterKey,
) -> Result<Arc<palisade_gateway::protect::keyring::KeyringService>> {
    let clock: palisade_core::clock::SharedClock = Arc::new(SystemClock);
    let keyring = Arc::new(
        palisade_gateway::protect::keyring::KeyringService::open(
            store,
            Arc::new(master.clone()),
            clock,
        )
        .await
        .map_err(|e| anyhow!("{e}"))?,
    );
    keyring.protect_emails().await.map_err(|e| anyhow!("{e}"))?;
    Ok(keyring)
}

/// Integrity check, counts and the audit chain of a snapshot: `Ok(summary)` or `Err(what failed)`.
async fn check_snapshot(store: &SqliteStore) -> Result<Result<String, String>> {
    let problems = store.integrity_check().await?;
    if !problems.is_empty() {
        return Ok(Err(format!(
            "database integrity check: {}",
            problems.join("; ")
        )));
    }
    let mut users = 0usize;
    let mut after = None;
    loop {
        let page = store.users_list(after, 500).await?;
        users += page.len();
        match page.last() {
            Some(u) if page.len() == 500 => after = Some(u.id),
            _ => break,
        }
    }
    let api_keys = store.api_keys_list(None).await?.len();
    let signing_keys = store.signing_keys_list().await?.len();
    let counts =
        format!("integrity ok, {users} users, {api_keys} API keys, {signing_keys} signing keys");
    Ok(
        match crate::admin::verify_trail(store as &dyn Store, None, None).await? {
            Ok(v) => Ok(format!(
                "{counts}; audit chain OK: {} records, {} signed checkpoints",
                v.count, v.checkpoints
            )),
            Err(b) => Err(format!(
                "{counts}; audit chain BROKEN at sequence {}: {}",
                b.seq, b.reason
            )),
        },
    )
}

fn restore(file: &Path, db_path: &Path, data_dir: &Path, master: &MasterKey) -> Result<()> {
    let created_dir = prepare_empty_dir(data_dir)?;
    if db_path.exists() {
        bail!(
            "{} already exists; restore never overwrites a database",
            db_path.display()
        );
    }
    let mut partials: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = restore_into(file, db_path, data_dir, master, &mut partials);
    match result {
        Ok(entries) => {
            for (partial, target) in &partials {
                std::fs::rename(partial, target)
                    .with_context(|| format!("moving {} into place", target.display()))?;
            }
            let sizes: Vec<String> = entries
                .iter()
                .map(|(n, s)| format!("{n} {s} bytes"))
                .collect();
            println!(
                "restored {} into {} ({}); start the gateway with the same master key \
                 (PALISADE_MASTER_KEY or PALISADE_MASTER_KEY_FILE)",
                file.display(),
                data_dir.display(),
                sizes.join(", ")
            );
            Ok(())
        }
        Err(e) => {
            for (partial, _) in &partials {
                let _ = std::fs::remove_file(partial);
            }
            if created_dir {
                let _ = std::fs::remove_dir(data_dir);
            }
            Err(e.context(format!("nothing was restored from {}", file.display())))
        }
    }
}

/// Makes sure `dir` is an empty private directory; says whether it was created here.
fn prepare_empty_dir(dir: &Path) -> Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if let Some(first) = entries.next() {
                let name = first?.file_name();
                bail!(
                    "{} is not empty (it holds {}, ...): restore only into an empty or absent \
                     data dir, so nothing is mixed with or overwritten by the backup",
                    dir.display(),
                    name.to_string_lossy()
                );
            }
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .with_context(|| format!("making {} private", dir.display()))?;
            }
            Ok(false)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create_private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
            Ok(true)
        }
        Err(e) => Err(anyhow!("{}: {e}", dir.display())),
    }
}

fn restore_into(
    file: &Path,
    db_path: &Path,
    data_dir: &Path,
    master: &MasterKey,
    partials: &mut Vec<(PathBuf, PathBuf)>,
) -> Result<Vec<(String, u64)>> {
    let (_, mut opener) = open_backup(file, master)?;
    let entries = read_entries(&mut opener, |name, _, body| {
        let target = if name == ENTRY_DB {
            db_path.to_path_buf()
        } else {
            data_dir.join(name)
        };
        let partial = target.with_file_name(format!(".restore-{name}.partial"));
        let mut out = BufWriter::new(
            create_private(&partial).with_context(|| format!("creating {}", partial.display()))?,
        );
        partials.push((partial, target));
        io::copy(body, &mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(())
    })
    .with_context(|| file.display().to_string())?;
    if !entries.iter().any(|(n, _)| n == ENTRY_DB) {
        bail!("the backup holds no {ENTRY_DB}");
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_cli::backup_format::PURPOSE;

    /// A small backup (chunk size 64 bytes) holding two entries; returns its bytes.
    fn small_backup(master: &MasterKey, db: &[u8], secrets: &[u8]) -> Vec<u8> {
        let mut sealer = Sealer::start(Vec::new(), master, 64, 1_700_000_000_000).unwrap();
        write_entry(&mut sealer, ENTRY_DB, db.len() as u64, &mut &db[..]).unwrap();
        write_entry(
            &mut sealer,
            DEV_SECRETS_FILE,
            secrets.len() as u64,
            &mut &secrets[..],
        )
        .unwrap();
        write_end(&mut sealer).unwrap();
        sealer.finish().unwrap().0
    }

    fn read_all(bytes: &[u8], master: &MasterKey) -> Result<Vec<(String, Vec<u8>)>> {
        let (_, mut opener) = Opener::start(bytes, master)?;
        let mut out = Vec::new();
        read_entries(&mut opener, |name, _, body| {
            let mut data = Vec::new();
            body.read_to_end(&mut data)?;
            out.push((name.to_string(), data));
            Ok(())
        })?;
        Ok(out)
    }

    fn header_len() -> usize {
        70 + PURPOSE.len()
    }

    #[test]
    fn round_trips_at_every_size_around_chunk_boundaries() {
        let master = MasterKey::generate();
        // The container adds 2+11+8 + 2+12+8 + 2 = 45 bytes to the two entries.
        for db_len in [0usize, 1, 19, 20, 63, 64, 83, 84, 85, 200] {
            let db: Vec<u8> = (0..db_len).map(|i| i as u8).collect();
            let bytes = small_backup(&master, &db, b"k = 1\n");
            let body = bytes.len() - header_len();
            let plain = db_len + 6 + 45;
            assert_eq!(body, plain + (plain / 64 + 1) * TAG_LEN, "db {db_len}");
            let got = read_all(&bytes, &master).unwrap();
            assert_eq!(got[0], (ENTRY_DB.to_string(), db));
            assert_eq!(got[1].1, b"k = 1\n");
        }
    }

    #[test]
    fn every_flipped_bit_anywhere_fails() {
        let master = MasterKey::generate();
        let bytes = small_backup(&master, &[7u8; 150], b"secret");
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = bytes.clone();
                bad[i] ^= bit;
                assert!(
                    read_all(&bad, &master).is_err(),
                    "flipping bit {bit:#x} of byte {i} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn every_truncation_and_any_appended_byte_fails() {
        let master = MasterKey::generate();
        let bytes = small_backup(&master, &[1u8; 150], b"secret");
        for len in 0..bytes.len() {
            assert!(
                read_all(&bytes[..len], &master).is_err(),
                "cut at {len} went unnoticed"
            );
        }
        let record = 64 + TAG_LEN;
        let at_boundary = header_len() + 2 * record;
        let err = read_all(&bytes[..at_boundary], &master).unwrap_err();
        assert!(
            format!("{err:#}").contains("truncated"),
            "cut at a chunk boundary is named: {err:#}"
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(read_all(&longer, &master).is_err());
    }

    #[test]
    fn reordered_dropped_or_duplicated_chunks_fail() {
        let master = MasterKey::generate();
        let bytes = small_backup(&master, &[3u8; 300], b"");
        let h = header_len();
        let record = 64 + TAG_LEN;
        let chunk = |i: usize| &bytes[h + i * record..h + (i + 1) * record];
        let head = &bytes[..h];
        let tail = &bytes[h + 2 * record..];
        let swapped = [head, chunk(1), chunk(0), tail].concat();
        let dropped = [head, chunk(1), tail].concat();
        let doubled = [head, chunk(0), chunk(0), chunk(1), tail].concat();
        for (what, b) in [
            ("swapped", swapped),
            ("dropped", dropped),
            ("doubled", doubled),
        ] {
            let err = read_all(&b, &master).unwrap_err();
            assert!(
                format!("{err:#}").contains("failed authentication"),
                "{what}: {err:#}"
            );
        }
        // The final chunk alone cannot be dropped: the previous full chunk is not final.
        let without_final = &bytes[..bytes.len() - (bytes.len() - h) % record];
        assert!(read_all(without_final, &master).is_err());
    }

    #[test]
    fn a_wrong_master_key_is_named_as_such() {
        let master = MasterKey::generate();
        let bytes = small_backup(&master, b"db", b"s");
        let err = read_all(&bytes, &MasterKey::generate()).unwrap_err();
        assert!(format!("{err:#}").contains("wrong master key"), "{err:#}");
        // Same key id but another key (an edited id cannot help): authentication fails.
        let other = MasterKey::generate();
        let mut forged = bytes.clone();
        forged[22..30].copy_from_slice(&key_id(&other));
        let err = read_all(&forged, &other).unwrap_err();
        assert!(
            format!("{err:#}").contains("failed authentication"),
            "{err:#}"
        );
    }

    #[test]
    fn two_backups_of_the_same_data_share_no_ciphertext() {
        let master = MasterKey::generate();
        let a = small_backup(&master, &[0u8; 64], b"");
        let b = small_backup(&master, &[0u8; 64], b"");
        let h = header_len();
        assert_ne!(a[30..69], b[30..69], "fresh salt and nonce prefix");
        assert_ne!(a[h..], b[h..]);
    }
}
