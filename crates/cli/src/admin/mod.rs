//! Offline administration against the configured store, one file per command group (users and
//! their import, keys, tenants, policy, ip, compliance; the audit commands and what they share stay here). Changes go
//! through the gateway's use cases (`palisade_gateway::identity::manage`), so they are on the
//! record; what a running embedded gateway must act on at once (revocations, unblocks) is
//! handed to it through the store, and it applies it within 10 seconds.

mod compliance;
mod import;
mod incident;
mod ip;
mod keys;
mod policy;
mod tenants;
mod users;

pub use compliance::ComplianceCommand;
pub use incident::{LockdownCommand, ReviewCommand};
pub use ip::IpCommand;
pub use keys::{KeyCommand, KeysCommand};
pub use policy::PolicyCommand;
pub use tenants::TenantCommand;
pub use users::UserCommand;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use palisade_core::clock::{Clock, SystemClock};
use palisade_gateway::audit::RequestOrigin;
use palisade_gateway::config::Config;
use palisade_gateway::identity::manage::{By, NewKey, TenantLink};
use palisade_gateway::identity::{Identity, handoff::Action, queue_handoff};
use palisade_store::identity::UserRecord;
use secrecy::ExposeSecret;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain and the signed checkpoints; print OK with the count, or the first
    /// broken sequence number (exit 1).
    Verify {
        /// Start here instead of at the beginning (its link backwards is taken as given).
        #[arg(long, value_name = "SEQ")]
        from: Option<u64>,
        /// The audit public key (hex, as `palisade audit key` prints it), kept outside the
        /// store; without it the key stored beside the trail is used, which someone able to
        /// rewrite the trail could also replace.
        #[arg(long, value_name = "FILE")]
        public_key: Option<PathBuf>,
    },
    /// Print the audit signing key's id and public key (hex), to keep outside the store.
    Key,
    /// Print one page of matching events as JSON lines, oldest first; the sequence number to
    /// pass as `--after` for the next page goes to stderr.
    Query {
        #[command(flatten)]
        filter: AuditFilterArgs,
        /// Keyset pagination: the last sequence number of the previous page.
        #[arg(long, value_name = "SEQ")]
        after: Option<u64>,
        /// Events per page (1-1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Write every matching event, as JSON lines or CSV, to stdout or a file. The export itself
    /// is recorded in the trail (`data.exported`).
    Export {
        #[command(flatten)]
        filter: AuditFilterArgs,
        /// `jsonl` or `csv` (cells that a spreadsheet would run as a formula are defused).
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Write here (created with mode 0600) instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// The retention job, as `palisade retention run` (kept as an alias): every data type past
    /// its `[retention]` period, the audit trail's expired prefix included (after a checkpoint
    /// at the cut; recorded as `audit.purged`).
    Purge {
        /// Count what would go, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `palisade retention …`.
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Purge every data type past its `[retention]` period and apply the inactive-account
    /// policy, as the gateway does daily at `retention.run_at`.
    Run {
        /// Count what would go (and the accounts that would be disabled); change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// The filters of `audit query` and `audit export`; every one given must match.
#[derive(Debug, clap::Args)]
pub struct AuditFilterArgs {
    /// Event type, e.g. auth.login_failure.
    #[arg(long = "type", value_name = "TYPE")]
    event_type: Option<String>,
    /// User, service account or key id.
    #[arg(long)]
    actor: Option<String>,
    #[arg(long)]
    tenant: Option<String>,
    /// success, failure or denied.
    #[arg(long)]
    result: Option<String>,
    /// This risk or higher: LOW, MEDIUM, HIGH, CRITICAL.
    #[arg(long)]
    risk: Option<String>,
    /// Who wrote the events: palisade, or app (posted by an application).
    #[arg(long)]
    source: Option<String>,
    /// The client's address (found whether stored sealed or in the clear).
    #[arg(long)]
    client_ip: Option<String>,
    /// From this time on (RFC 3339 or Unix milliseconds).
    #[arg(long)]
    from: Option<String>,
    /// Before this time (RFC 3339 or Unix milliseconds).
    #[arg(long)]
    to: Option<String>,
}

impl AuditFilterArgs {
    /// The store filter; `audit` should have its trail attached (a client address is matched
    /// by its sealed form through it).
    fn filter(
        &self,
        audit: &palisade_gateway::audit::AuditLog,
    ) -> Result<palisade_store::audit::AuditFilter> {
        palisade_gateway::api::admin::audit::Params {
            event_type: self.event_type.clone(),
            actor: self.actor.clone(),
            tenant: self.tenant.clone(),
            result: self.result.clone(),
            risk: self.risk.clone(),
            source: self.source.clone(),
            client_ip: self.client_ip.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            ..Default::default()
        }
        .filter(audit)
        .map_err(|e| anyhow!("{e}"))
    }
}

#[derive(Debug, Args)]
pub struct StoreArgs {
    #[command(flatten)]
    pub source: crate::SourceArgs,
    /// Data dir holding the SQLite database and dev secrets [default: ./palisade-data].
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
}

pub struct Admin {
    identity: Identity,
    config: Config,
    /// Encrypts e-mail addresses in the store (which holds it only weakly): kept alive here.
    _keyring: Arc<palisade_gateway::protect::keyring::KeyringService>,
}

fn now_ms() -> u64 {
    SystemClock.now_millis()
}

impl Admin {
    pub async fn open(
        mut config: Config,
        env: palisade_gateway::config::Environment,
    ) -> Result<Self> {
        palisade_gateway::config::refs::resolve(&mut config, env, None, &|name| {
            std::env::var(name).ok()
        })
        .await
        .map_err(|p| anyhow!("configuration references:\n  - {}", p.join("\n  - ")))?;
        config = palisade_gateway::server::prepare(config, env).map_err(|e| anyhow!("{e}"))?;
        palisade_gateway::protect::files::create_private_dir(&config.server.data_dir)
            .context("data dir")?;
        palisade_gateway::protect::master_key::attach(&mut config).map_err(|e| anyhow!("{e}"))?;
        let store = palisade_store::open_store_with(
            &config.store.url,
            &config.server.data_dir,
            &config.store.postgres_options(),
        )
        .await
        .context("opening the store")?;
        let clock: palisade_core::clock::SharedClock = Arc::new(SystemClock);
        let production = config.server.env == palisade_gateway::config::Environment::Production;
        let (provider, _) = palisade_gateway::protect::master_key::from_process_env(
            production,
            &config.server.data_dir,
        )
        .map_err(|e| anyhow!("{e}"))?;
        let keyring = Arc::new(
            palisade_gateway::protect::keyring::KeyringService::open(
                store.clone(),
                provider,
                clock.clone(),
            )
            .await
            .map_err(|e| anyhow!("keyring: {e}"))?,
        );
        keyring
            .protect_emails()
            .await
            .map_err(|e| anyhow!("e-mail encryption: {e}"))?;
        let hot = palisade_gateway::hot::open_hot(&config, clock.clone())
            .await
            .map_err(|e| anyhow!("opening hot state: {e}"))?
            .hot;
        let identity = Identity::start(
            &config,
            store,
            hot,
            clock,
            Arc::new(palisade_gateway::audit::AuditLog::default()),
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
        Ok(Self {
            identity,
            config,
            _keyring: keyring,
        })
    }

    /// An account by e-mail, or a service account by `svc:NAME`.
    async fn find_user(&self, email: &str) -> Result<UserRecord> {
        let email = if email.starts_with("svc:") {
            palisade_core::principal::service_account_handle(email)
        } else {
            palisade_core::email::normalize(email)
        }
        .ok_or_else(|| anyhow!("{email:?} is neither an e-mail address nor svc:NAME"))?;
        self.identity
            .store
            .user_by_email(&email)
            .await?
            .ok_or_else(|| anyhow!("no account for {email}"))
    }

    /// The keyring and secrets store of this store (`palisade secret`, `palisade keys *-data`).
    pub async fn data_protection(&self) -> Result<crate::secret::DataProtection> {
        crate::secret::DataProtection::open(&self.config, self.identity.store.clone()).await
    }

    async fn data_keys(&self, cmd: crate::secret::DataKeysCommand) -> Result<()> {
        self.data_protection().await?.data_keys(cmd).await
    }

    /// The writer on the trail for the CLI's events (use cases, purge, export): started on first
    /// use and attached to the identity service's audit log, so the shared use cases record
    /// through it; `main` flushes it before the process ends.
    async fn trail(&self) -> Result<Arc<palisade_gateway::audit::trail::AuditTrail>> {
        let audit = &self.identity.audit;
        if let Some(trail) = audit.trail() {
            return Ok(trail.clone());
        }
        let trail = palisade_gateway::audit::trail::AuditTrail::start(
            self.identity.store.clone(),
            &self.config.secrets,
            Arc::new(SystemClock),
            &self.config.audit,
            self.config.retention.audit_periods(&self.config.audit),
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
        audit.attach(trail.clone());
        Ok(trail)
    }

    /// The audit log the CLI's actions are recorded in (its trail, once started, is flushed by
    /// `main` before the process ends).
    pub fn audit_log(&self) -> Arc<palisade_gateway::audit::AuditLog> {
        self.identity.audit.clone()
    }

    /// Every one of `roles` is a role the configuration defines, as `POST /admin/users` checks.
    fn known_roles(&self, roles: &[String]) -> Result<()> {
        let known = self.config.role_names();
        match roles.iter().find(|r| !known.contains(r)) {
            Some(role) => Err(anyhow!(
                "no such role {role:?} (the configuration has {})",
                known.join(", ")
            )),
            None => Ok(()),
        }
    }

    /// Who acts when the CLI does: the operator at the console, with no request behind it. The
    /// trail is started first, so the use case's event is recorded.
    async fn acting(&self) -> Result<By<'static>> {
        static CONSOLE: std::sync::LazyLock<RequestOrigin> =
            std::sync::LazyLock::new(RequestOrigin::default);
        self.trail().await?;
        Ok(By {
            actor: "cli".into(),
            origin: &CONSOLE,
        })
    }

    /// Re-applies erasures after a backup restore ([`palisade_gateway::erasures::reapply`]),
    /// on the record; returns how many accounts were erased again.
    pub async fn reapply_erasures(
        &self,
        tombstones: &[palisade_store::deletion::Erasure],
    ) -> Result<usize> {
        let by = self.acting().await?;
        palisade_gateway::erasures::reapply(&self.identity, tombstones, &by)
            .await
            .map_err(|e| anyhow!("re-applying erasures: {e}"))
    }

    /// `palisade retention run [--dry-run]` (and `audit purge`): [`palisade_gateway::retention::run`]
    /// with the CLI's trail, printing what went (or would go) per type.
    pub async fn retention_run(&self, dry_run: bool) -> Result<()> {
        let by = self.acting().await?;
        let trail = self.trail().await?;
        let report = palisade_gateway::retention::run(
            &self.identity,
            Some(&trail),
            &self.config.retention,
            Some(&self.config.erasure_log()),
            dry_run,
            &by,
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
        if !dry_run {
            // A running gateway's hot state learns of the revoked sessions at its next sync.
            for user in &report.disabled_ids {
                self.revoke_user(*user).await?;
            }
        }
        trail.checkpoint().await;
        let verb = if dry_run { "would go" } else { "purged" };
        for (kind, records, batches) in &report.purged {
            if dry_run {
                println!("{kind:<20} {records} {verb}");
            } else {
                println!("{kind:<20} {records} {verb} in {batches} batches");
            }
        }
        if self
            .config
            .retention
            .inactive_accounts_disable_after
            .is_some()
        {
            let verb = if dry_run {
                "would be disabled"
            } else {
                "disabled"
            };
            println!(
                "{:<20} {} {verb}",
                "inactive accounts", report.accounts_disabled
            );
        }
        if dry_run {
            println!("dry run: nothing was changed");
        } else {
            let ms = report.slowest_batch.as_secs_f64() * 1000.0;
            println!(
                "slowest delete transaction: {ms:.1} ms ({} of {} over 50 ms)",
                report.transactions_over_bound, report.transactions
            );
        }
        Ok(())
    }

    async fn export_audit(
        &self,
        filter: &AuditFilterArgs,
        format: &str,
        output: Option<PathBuf>,
    ) -> Result<()> {
        use std::io::Write;
        let csv = match format {
            "jsonl" => false,
            "csv" => true,
            other => bail!("--format {other:?}: use jsonl or csv"),
        };
        let trail = self.trail().await?;
        let query = filter.filter(&self.identity.audit)?;
        let mut out: Box<dyn Write> = match &output {
            Some(path) => {
                use std::os::unix::fs::OpenOptionsExt;
                Box::new(std::io::BufWriter::new(
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(path)
                        .with_context(|| format!("creating {}", path.display()))?,
                ))
            }
            None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
        };
        if csv {
            out.write_all(palisade_gateway::api::admin::audit::CSV_HEADER.as_bytes())?;
        }
        let (mut after, mut count) = (0, 0u64);
        loop {
            let page = trail.query(&query, after, 1_000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for r in &page {
                if csv {
                    out.write_all(palisade_gateway::api::admin::audit::csv_line(r).as_bytes())?;
                } else {
                    serde_json::to_writer(&mut out, r)?;
                    out.write_all(b"\n")?;
                }
            }
            count += page.len() as u64;
        }
        out.flush()?;
        self.record_export(
            "audit:export",
            serde_json::json!({ "format": format, "records": count, "via": "cli" }),
        )
        .await?;
        eprintln!("exported {count} records");
        Ok(())
    }

    /// Records an export made by the CLI (`audit export`, `backup create`) in the trail as a
    /// high-risk `data.exported` event and signs a checkpoint, so the export is on the record.
    pub async fn record_export(&self, resource: &str, details: serde_json::Value) -> Result<()> {
        let trail = self.trail().await?;
        trail.submit(
            palisade_gateway::audit::AuditEvent::new(
                "data.exported",
                palisade_gateway::audit::Risk::High,
                palisade_gateway::audit::Outcome::Success,
            )
            .actor("cli")
            .resource(resource)
            .details(details)
            .draft(),
        );
        trail.checkpoint().await;
        Ok(())
    }

    pub async fn audit(&self, cmd: AuditCommand) -> Result<bool> {
        let store = &self.identity.store;
        let (from, public_key) = match cmd {
            AuditCommand::Verify { from, public_key } => (from, public_key),
            AuditCommand::Purge { dry_run } => {
                self.retention_run(dry_run).await?;
                return Ok(true);
            }
            AuditCommand::Query {
                filter,
                after,
                limit,
            } => {
                let trail = self.trail().await?;
                let page = trail
                    .query(
                        &filter.filter(&self.identity.audit)?,
                        after.unwrap_or(0),
                        limit.clamp(1, 1_000),
                    )
                    .await?;
                for r in &page {
                    println!("{}", serde_json::to_string(r)?);
                }
                if page.len() == limit.clamp(1, 1_000) as usize
                    && let Some(last) = page.last()
                {
                    eprintln!("next page: --after {}", last.seq);
                }
                return Ok(true);
            }
            AuditCommand::Export {
                filter,
                format,
                output,
            } => {
                self.export_audit(&filter, &format, output).await?;
                return Ok(true);
            }
            AuditCommand::Key => {
                let kid = store.meta_get("audit.kid").await?.ok_or_else(|| {
                    anyhow!("no audit key yet: it is made when the gateway first starts")
                })?;
                let public = store
                    .meta_get(&palisade_gateway::audit::trail::public_key_meta(&kid))
                    .await?
                    .ok_or_else(|| anyhow!("the public half of audit key {kid} is missing"))?;
                println!("{kid} {public}");
                return Ok(true);
            }
        };
        let pinned = match public_key {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                Some(
                    palisade_gateway::audit::trail::hex_decode(
                        text.split_whitespace().last().unwrap_or(""),
                    )
                    .ok_or_else(|| anyhow!("{} is not a hex public key", path.display()))?,
                )
            }
            None => None,
        };
        let result = verify_trail(store.as_ref(), from, pinned).await?;
        match result {
            Ok(ok) => {
                let range = match (ok.first_seq, ok.last_seq) {
                    (Some(a), Some(b)) => format!(" (sequence {a}..{b})"),
                    _ => String::new(),
                };
                println!(
                    "OK: {} records{range}, {} signed checkpoints",
                    ok.count, ok.checkpoints
                );
                Ok(true)
            }
            Err(b) => {
                println!("BROKEN at sequence {}: {}", b.seq, b.reason);
                Ok(false)
            }
        }
    }
}

/// Walks a store's audit trail against its signed checkpoints
/// ([`palisade_gateway::audit::trail::verify_trail`], the check the console shows too).
pub async fn verify_trail(
    store: &dyn palisade_store::Store,
    from: Option<u64>,
    pinned: Option<Vec<u8>>,
) -> Result<Result<palisade_core::audit::Verified, palisade_core::audit::Broken>> {
    Ok(palisade_gateway::audit::trail::verify_trail(store, from, pinned).await?)
}
