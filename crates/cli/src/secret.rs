//! `palisade secret …` and the data-key parts of `palisade keys …`: the secrets store and the
//! field-encryption keyring, worked on the store directly with the master key from the
//! environment (`PALISADE_MASTER_KEY` / `PALISADE_MASTER_KEY_FILE`; in dev the data dir's
//! `master.key`), exactly as the gateway resolves it.
//!
//! Every command is an audit event in the trail (actor `cli`): reads `credential.access`, writes
//! `secret.write`, keyring changes `keyring.rotated` / `keyring.retired` /
//! `keyring.reencrypted`. Values are read from a file or standard input, never from the command
//! line (where `ps` would show them), and are printed only by `get`.
//!
//! `import-fernet` input (`--input FILE`), one secret per line, blank lines and lines starting
//! with `#` skipped:
//! - `path<TAB>token`, or
//! - a JSON object `{"path": "…", "token": "…"}`.
//!
//! Every token is decrypted (and, with `--ttl`, checked for age) before anything is written, so
//! a bad line (named by number, never by its content) imports nothing.

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use palisade_core::clock::{Clock, SharedClock, SystemClock};
use palisade_core::crypto::{Fernet, KeyState};
use palisade_gateway::audit::trail::AuditTrail;
use palisade_gateway::audit::{AuditEvent, Outcome, Risk};
use palisade_gateway::config::{Config, Environment};
use palisade_gateway::protect::keyring::KeyringService;
use palisade_gateway::protect::vault::Vault;
use palisade_store::SharedStore;
use secrecy::{ExposeSecret, SecretString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store a new version of a secret. The value comes from --value-file, else standard input
    /// (one trailing newline removed).
    Put {
        path: String,
        #[arg(long, value_name = "FILE")]
        value_file: Option<PathBuf>,
        /// A JSON object kept beside the value (not encrypted).
        #[arg(long, value_name = "JSON")]
        metadata: Option<String>,
    },
    /// Print a secret's value (the latest live version, or --version).
    #[command(disable_version_flag = true)]
    Get {
        path: String,
        #[arg(long)]
        version: Option<u32>,
        /// Print the whole version as JSON (value, version, metadata, times).
        #[arg(long)]
        json: bool,
    },
    /// List the paths with a live version under a prefix.
    List {
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// Soft-delete the latest live version (or --version); `undelete` brings it back.
    #[command(disable_version_flag = true)]
    Delete {
        path: String,
        #[arg(long)]
        version: Option<u32>,
    },
    /// Undo the soft delete of a version.
    #[command(disable_version_flag = true)]
    Undelete {
        path: String,
        #[arg(long)]
        version: u32,
    },
    /// Import Fernet tokens (Python `cryptography.fernet`) as secrets.
    ImportFernet {
        /// File holding the Fernet key (url-safe base64 of 32 bytes); owner-only (mode 0600).
        #[arg(long, value_name = "K")]
        key_file: PathBuf,
        /// `path<TAB>token` or `{"path","token"}` JSON lines.
        #[arg(long, value_name = "FILE")]
        input: PathBuf,
        /// Prepended to every path (`tenants/acme` + `oauth/google`).
        #[arg(long, value_name = "P")]
        prefix: Option<String>,
        /// Refuse tokens older than this many seconds (Fernet's TTL check).
        #[arg(long, value_name = "SECONDS")]
        ttl: Option<u64>,
    },
}

/// The data-key commands of `palisade keys`.
#[derive(Debug, Clone)]
pub enum DataKeysCommand {
    Rotate,
    Retire(String),
    List,
    Reencrypt,
}

/// The store, keyring, secrets store and audit trail a command works with.
pub struct DataProtection {
    store: SharedStore,
    keyring: Arc<KeyringService>,
    vault: Vault,
    trail: Arc<AuditTrail>,
}

impl DataProtection {
    /// Opens the keyring of `store` with the master key from the environment.
    pub async fn open(config: &Config, store: SharedStore) -> Result<Self> {
        let clock: SharedClock = Arc::new(SystemClock);
        let provider = palisade_gateway::protect::master_key::provider_of(config)
            .map_err(|e| anyhow!("{e}"))?;
        let keyring = Arc::new(
            KeyringService::open(store.clone(), provider, clock.clone())
                .await
                .map_err(|e| anyhow!("keyring: {e}"))?,
        );
        let vault = Vault::new(
            store.clone(),
            keyring.clone(),
            clock.clone(),
            std::time::Duration::ZERO,
        );
        let periods = config.retention.audit_periods(&config.audit);
        let trail = AuditTrail::start(
            store.clone(),
            &config.secrets,
            clock,
            &config.audit,
            periods,
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
        Ok(Self {
            store,
            keyring,
            vault,
            trail,
        })
    }

    /// The latest value of secret `path` (a `secret://` reference given to another command),
    /// its reading on record as `credential.access`.
    pub async fn read_reference(&self, path: &str) -> Result<zeroize::Zeroizing<String>> {
        let got = self.vault.get(path, None).await;
        self.audit(
            "credential.access",
            format!("secret:{path}"),
            if got.is_ok() {
                Outcome::Success
            } else {
                Outcome::Failure
            },
            serde_json::json!({ "purpose": "reference" }),
        );
        let secret = got.map_err(|e| anyhow!("secret://{path}: {e}"))?;
        Ok(zeroize::Zeroizing::new(
            secrecy::ExposeSecret::expose_secret(&secret.value).to_string(),
        ))
    }

    fn audit(
        &self,
        event: &'static str,
        resource: String,
        outcome: Outcome,
        details: serde_json::Value,
    ) {
        let risk = match event {
            "credential.access" | "secret.write" => Risk::Low,
            _ => Risk::Medium,
        };
        let mut details = details;
        if let Some(map) = details.as_object_mut() {
            map.insert("via".into(), "cli".into());
        }
        self.trail.submit(
            AuditEvent::new(event, risk, outcome)
                .actor("cli")
                .resource(resource)
                .details(details)
                .draft(),
        );
    }

    /// Commits the queued audit events (and signs a checkpoint).
    async fn flush(&self) {
        self.trail.checkpoint().await;
    }

    pub async fn secret(&self, cmd: SecretCommand) -> Result<()> {
        let result = self.secret_inner(cmd).await;
        self.flush().await;
        result
    }

    async fn secret_inner(&self, cmd: SecretCommand) -> Result<()> {
        match cmd {
            SecretCommand::Put {
                path,
                value_file,
                metadata,
            } => {
                let value = read_value(value_file.as_deref())?;
                let metadata = match metadata {
                    Some(m) => serde_json::from_str(&m).context("--metadata is not JSON")?,
                    None => serde_json::Value::Null,
                };
                let s = self
                    .vault
                    .put(&path, &value, metadata, Some("cli".into()))
                    .await?;
                self.audit(
                    "secret.write",
                    format!("secret:{path}"),
                    Outcome::Success,
                    serde_json::json!({"action": "put", "version": s.version, "data_key": s.key_id}),
                );
                eprintln!("stored {path} version {}", s.version);
            }
            SecretCommand::Get {
                path,
                version,
                json,
            } => {
                let got = self.vault.get(&path, version).await;
                let outcome = if got.is_ok() {
                    Outcome::Success
                } else {
                    Outcome::Failure
                };
                self.audit(
                    "credential.access",
                    format!("secret:{path}"),
                    outcome,
                    serde_json::json!({"action": "read", "version": version}),
                );
                let s = got?;
                if json {
                    let out = Zeroizing::new(
                        serde_json::json!({
                            "path": s.path, "version": s.version, "value": s.value.expose_secret(),
                            "metadata": s.metadata, "created_at": s.created_at,
                            "created_by": s.created_by,
                        })
                        .to_string(),
                    );
                    println!("{}", out.as_str());
                } else {
                    println!("{}", s.value.expose_secret());
                }
            }
            SecretCommand::List { prefix } => {
                let mut after: Option<String> = None;
                let mut count = 0;
                loop {
                    let page = self.vault.list(&prefix, after.as_deref(), 1000).await?;
                    for p in &page {
                        println!("{p}");
                    }
                    count += page.len();
                    match page.last() {
                        Some(last) if page.len() == 1000 => after = Some(last.clone()),
                        _ => break,
                    }
                }
                self.audit(
                    "credential.access",
                    format!("secret:{prefix}*"),
                    Outcome::Success,
                    serde_json::json!({"action": "list", "count": count}),
                );
            }
            SecretCommand::Delete { path, version } => {
                let v = self.vault.delete(&path, version).await?;
                self.audit(
                    "secret.write",
                    format!("secret:{path}"),
                    Outcome::Success,
                    serde_json::json!({"action": "delete", "version": v}),
                );
                eprintln!("deleted {path} version {v} (undelete --version {v} brings it back)");
            }
            SecretCommand::Undelete { path, version } => {
                self.vault.undelete(&path, version).await?;
                self.audit(
                    "secret.write",
                    format!("secret:{path}"),
                    Outcome::Success,
                    serde_json::json!({"action": "undelete", "version": version}),
                );
                eprintln!("undeleted {path} version {version}");
            }
            SecretCommand::ImportFernet {
                key_file,
                input,
                prefix,
                ttl,
            } => {
                self.import_fernet(&key_file, &input, prefix.as_deref(), ttl)
                    .await?
            }
        }
        Ok(())
    }

    async fn import_fernet(
        &self,
        key_file: &Path,
        input: &Path,
        prefix: Option<&str>,
        ttl: Option<u64>,
    ) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key_file)
            .with_context(|| format!("fernet key file {}", key_file.display()))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "fernet key file {} has mode {mode:04o}; it must be readable by its owner only (chmod 600)",
                key_file.display()
            );
        }
        let key = Zeroizing::new(
            std::fs::read_to_string(key_file)
                .with_context(|| format!("fernet key file {}", key_file.display()))?,
        );
        let fernet = Fernet::new(key.trim()).map_err(|e| anyhow!("{}: {e}", key_file.display()))?;
        let text = Zeroizing::new(
            std::fs::read_to_string(input).with_context(|| format!("{}", input.display()))?,
        );
        let now = SystemClock.now_millis() / 1000;
        let mut ready: Vec<(String, SecretString)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (path, token) = palisade_cli::import::secret_line(line).ok_or_else(|| {
                anyhow!(
                    "{} line {n}: expected path<TAB>token or {{\"path\",\"token\"}}",
                    input.display()
                )
            })?;
            let path = match prefix {
                Some(p) if !p.is_empty() => format!("{}/{path}", p.trim_end_matches('/')),
                _ => path,
            };
            if !palisade_gateway::protect::vault::valid_path(&path) {
                bail!(
                    "{} line {n}: {path:?} is not a valid secret path",
                    input.display()
                );
            }
            let plain = fernet
                .decrypt(token.trim(), now, ttl)
                .map_err(|e| anyhow!("{} line {n} ({path}): {e}", input.display()))?;
            let value = std::str::from_utf8(&plain).map_err(|_| {
                anyhow!(
                    "{} line {n} ({path}): the value is not UTF-8 text",
                    input.display()
                )
            })?;
            ready.push((path, SecretString::from(value)));
        }
        for (path, value) in &ready {
            let s = self
                .vault
                .put(
                    path,
                    value,
                    serde_json::json!({"imported_from": "fernet"}),
                    Some("cli".into()),
                )
                .await?;
            self.audit(
                "secret.write",
                format!("secret:{path}"),
                Outcome::Success,
                serde_json::json!({"action": "import-fernet", "version": s.version}),
            );
        }
        eprintln!("imported {} secret(s)", ready.len());
        Ok(())
    }

    pub async fn data_keys(&self, cmd: DataKeysCommand) -> Result<()> {
        let result = self.data_keys_inner(cmd).await;
        self.flush().await;
        result
    }

    async fn data_keys_inner(&self, cmd: DataKeysCommand) -> Result<()> {
        match cmd {
            DataKeysCommand::Rotate => {
                let id = self.keyring.rotate().await?;
                self.audit(
                    "keyring.rotated",
                    format!("data_key:{id}"),
                    Outcome::Success,
                    serde_json::json!({}),
                );
                println!(
                    "new primary data key {id}; running gateways re-encrypt stored values within \
                     secret_store.reencrypt_interval (or run `palisade keys reencrypt-data`)"
                );
            }
            DataKeysCommand::Retire(id) => {
                let outcome = self.keyring.retire(&id).await;
                self.audit(
                    "keyring.retired",
                    format!("data_key:{id}"),
                    if outcome.is_ok() {
                        Outcome::Success
                    } else {
                        Outcome::Failure
                    },
                    serde_json::json!({}),
                );
                outcome?;
                println!("retired data key {id}");
            }
            DataKeysCommand::List => {
                for k in self.keyring.keys().await? {
                    let state = match k.state {
                        KeyState::Primary => "primary",
                        KeyState::DecryptOnly => "decrypt-only",
                        KeyState::Retired => "retired",
                    };
                    let used = self.store.secrets_count_by_key(&k.id).await?;
                    let created = humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + std::time::Duration::from_millis(k.created_at),
                    );
                    println!("{}  {state:<12}  created {created}  {used} value(s)", k.id);
                }
            }
            DataKeysCommand::Reencrypt => {
                let r = self.keyring.reencrypt_all().await?;
                self.audit(
                    "keyring.reencrypted",
                    "data_key:*".into(),
                    if r.failed == 0 {
                        Outcome::Success
                    } else {
                        Outcome::Failure
                    },
                    serde_json::json!({"done": r.done, "failed": r.failed, "remaining": r.remaining}),
                );
                println!(
                    "re-encrypted {} value(s); {} failed; {} left under older keys",
                    r.done, r.failed, r.remaining
                );
                if r.failed > 0 {
                    bail!("{} stored value(s) do not decrypt (see the log)", r.failed);
                }
            }
        }
        Ok(())
    }
}

/// Resolves `secret://` and `file:` references in the configuration before `serve` checks it
/// (see `palisade_gateway::config::refs`); a no-op without references.
pub fn resolve_references(config: &mut Config, env: Environment) -> Result<(), Vec<String>> {
    let refs = [
        config.secrets.signing_key.as_str(),
        config.secrets.cookie_key.as_str(),
        config.audit.alerts.webhook_secret.as_deref().unwrap_or(""),
        config.smtp.password.as_str(),
    ];
    if !refs
        .iter()
        .any(|v| palisade_gateway::config::refs::is_reference(v))
    {
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| vec![format!("starting the runtime: {e}")])?;
    runtime.block_on(palisade_gateway::config::refs::resolve(
        config,
        env,
        None,
        &|name| std::env::var(name).ok(),
    ))
}

/// The value to store: a file's content, else standard input; one trailing newline removed.
fn read_value(file: Option<&Path>) -> Result<SecretString> {
    let mut text = Zeroizing::new(String::new());
    match file {
        Some(f) => {
            std::fs::File::open(f)
                .and_then(|mut h| h.read_to_string(&mut text))
                .with_context(|| format!("{}", f.display()))?;
        }
        None => {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the value from standard input")?;
        }
    }
    let value = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    Ok(SecretString::from(value))
}
