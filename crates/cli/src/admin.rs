//! Offline administration against the configured store: users, API keys, signing keys, IP
//! blocks. Changes a running embedded gateway must act on at once (revocations, unblocks) are
//! handed to it through the store; it applies them within 10 seconds.

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use palisade_cli::import::{UserLine, user_line};
use palisade_core::clock::{Clock, SystemClock};
use palisade_gateway::audit::RequestOrigin;
use palisade_gateway::config::Config;
use palisade_gateway::identity::manage::{By, NewKey};
use palisade_gateway::identity::{Identity, handoff::Action, queue_handoff};
use palisade_store::identity::{PrincipalKind, UserRecord};
use secrecy::ExposeSecret;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. Without --password-stdin a strong password is generated and printed once.
    Add {
        #[arg(long)]
        email: String,
        /// Role to grant (repeat for several).
        #[arg(long = "role", default_value = "member")]
        roles: Vec<String>,
        #[arg(long)]
        name: Option<String>,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create a service account (an agent, a CI job): it has no password and acts only through
    /// API keys made with `palisade key create --email svc:NAME --scope …`. Other user commands
    /// take it as --email svc:NAME.
    AddService {
        /// 1-64 of a-z 0-9 _ - (the account is named svc:NAME).
        #[arg(long)]
        name: String,
        /// Role to grant (repeat for several); its keys can only narrow these.
        #[arg(long = "role", default_value = "member")]
        roles: Vec<String>,
        /// Subscription tier read by the rate limiter.
        #[arg(long, default_value = "free")]
        tier: String,
    },
    /// List accounts.
    List,
    /// Disable an account and revoke its sessions.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled account.
    Enable {
        #[arg(long)]
        email: String,
    },
    /// Replace an account's roles (its sessions are revoked so new tokens carry the new roles).
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Set an account's subscription tier (free, pro, enterprise, …), which scales its rate
    /// limits. New tokens carry it: the account's sessions are revoked.
    SetTier {
        #[arg(long)]
        email: String,
        #[arg(long)]
        tier: String,
    },
    /// Import accounts with password hashes from another stack (argon2 PHC or bcrypt
    /// $2a$/$2b$/$2y$). CSV columns: email,password_hash[,roles separated by ';'[,name]]. A
    /// header line starting with "email" is skipped. Hashes are upgraded to argon2id at each
    /// user's next sign-in.
    Import {
        #[arg(long)]
        csv: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key for a user or service account; the key is printed once.
    Create {
        /// Owner's e-mail, or svc:NAME for a service account.
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Roles the key acts with (default: all of the owner's); must be held by the owner.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Permission grant narrowing the key, e.g. tools.read_file.execute (repeat for
        /// several). A scope never widens the roles: a request needs both.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Lifetime, e.g. "90d".
        #[arg(long)]
        expires_in: Option<humantime::Duration>,
    },
    /// List API keys (of one owner with --email).
    List {
        #[arg(long)]
        email: Option<String>,
    },
    /// Revoke an API key by id.
    Revoke { id: Uuid },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new token signing key; the current one stops signing but stays published until
    /// its tokens expire.
    RotateSigning,
    /// Make a new primary data key (field encryption, secrets store); older keys only decrypt
    /// until the re-encryption job has moved their values.
    RotateData,
    /// Retire a decrypt-only data key; refused while any stored value still uses it.
    RetireData { id: String },
    /// List the data keys with their state and how many stored values each encrypts.
    ListData,
    /// Re-encrypt now every stored value that is not under the primary data key.
    ReencryptData,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (its id appears in paths such as /graphs/{id}/).
    Add {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// Members of the parent reach this tenant unless they are members here too.
        #[arg(long)]
        parent: Option<String>,
    },
    /// List tenants.
    List,
    /// Delete a tenant and its memberships.
    Delete { id: String },
    /// Give a user a role in a tenant (replacing any role they had there).
    SetMember {
        #[arg(long)]
        id: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
    },
    /// Remove a user from a tenant.
    RemoveMember {
        #[arg(long)]
        id: String,
        #[arg(long)]
        email: String,
    },
    /// List a tenant's members.
    Members { id: String },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Decide a request as an account or API key would make it, and say which rule and grant
    /// decided. Exits 0 when allowed, 1 when not.
    Check {
        /// An account's e-mail or an API key's id.
        #[arg(long = "as", value_name = "EMAIL|KEY_ID")]
        who: String,
        #[arg(long, default_value = "GET")]
        method: String,
        #[arg(long)]
        path: String,
    },
}

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
    /// Remove the records past retention (`[audit.retention_days]`), as the gateway does daily at
    /// `audit.purge_at`: only a whole expired prefix, after signing a checkpoint at the cut; the
    /// purge itself is recorded as an `audit.purged` event.
    Purge {
        /// Count what would go, remove nothing.
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
    /// From this time on (RFC 3339 or Unix milliseconds).
    #[arg(long)]
    from: Option<String>,
    /// Before this time (RFC 3339 or Unix milliseconds).
    #[arg(long)]
    to: Option<String>,
}

impl AuditFilterArgs {
    fn filter(&self) -> Result<palisade_store::audit::AuditFilter> {
        palisade_gateway::api::admin::audit::Params {
            event_type: self.event_type.clone(),
            actor: self.actor.clone(),
            tenant: self.tenant.clone(),
            result: self.result.clone(),
            risk: self.risk.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            ..Default::default()
        }
        .filter()
        .map_err(|e| anyhow!("{e}"))
    }
}

#[derive(Debug, Subcommand)]
pub enum IpCommand {
    /// Lift a brute-force block on an address.
    Unblock { ip: std::net::IpAddr },
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

    pub async fn tenant(&self, cmd: TenantCommand) -> Result<()> {
        let store = &self.identity.store;
        match cmd {
            TenantCommand::Add { id, name, parent } => {
                self.trail().await?;
                let origin = RequestOrigin::default();
                let tenant = palisade_gateway::identity::manage::NewTenant {
                    id: &id,
                    name: &name,
                    parent: parent.as_deref(),
                };
                self.identity
                    .create_tenant(tenant, &Self::by_cli(&origin))
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                println!("created tenant {id}");
            }
            TenantCommand::List => {
                for t in store.tenants_list().await? {
                    let parent = t
                        .parent_id
                        .map(|p| format!(" (in {p})"))
                        .unwrap_or_default();
                    println!("{}  {}{parent}", t.id, t.name);
                }
            }
            TenantCommand::Delete { id } => {
                self.trail().await?;
                let origin = RequestOrigin::default();
                let deleted = self
                    .identity
                    .delete_tenant(&id, &Self::by_cli(&origin))
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                if !deleted {
                    bail!("no tenant {id}");
                }
                println!("deleted tenant {id}");
            }
            TenantCommand::SetMember { id, email, role } => {
                let user = self.find_user(&email).await?;
                let roles = palisade_gateway::authz::compile(&self.config)
                    .map_err(|p| anyhow!("the policy has problems: {}", p.join("; ")))?;
                if !roles.matrix().has_role(&role) {
                    bail!("no role {role:?}");
                }
                if store.tenant_get(&id).await?.is_none() {
                    bail!("no tenant {id}");
                }
                self.trail().await?;
                let origin = RequestOrigin::default();
                self.identity
                    .set_member(&id, user.id, &role, &Self::by_cli(&origin))
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                println!("{} is {role} in {id}", user.email);
            }
            TenantCommand::RemoveMember { id, email } => {
                let user = self.find_user(&email).await?;
                self.trail().await?;
                let origin = RequestOrigin::default();
                let removed = self
                    .identity
                    .remove_member(&id, user.id, &Self::by_cli(&origin))
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                if !removed {
                    bail!("{} is not a member of {id}", user.email);
                }
                println!("removed {} from {id}", user.email);
            }
            TenantCommand::Members { id } => {
                for m in store
                    .memberships_list()
                    .await?
                    .iter()
                    .filter(|m| m.tenant_id == id)
                {
                    println!("{}  {}", m.user_id, m.role);
                }
            }
        }
        Ok(())
    }

    /// Returns whether the request is allowed.
    pub async fn policy(&self, cmd: PolicyCommand) -> Result<bool> {
        let PolicyCommand::Check { who, method, path } = cmd;
        let store = self.identity.store.clone();
        let policies = palisade_gateway::authz::compile(&self.config)
            .map_err(|p| anyhow!("the policy has problems:\n  - {}", p.join("\n  - ")))?;
        let tenants =
            Arc::new(palisade_gateway::authz::tenants::Tenants::load(store.clone()).await?);
        let authz = palisade_gateway::authz::Authorizer::new(
            policies,
            Arc::new(palisade_gateway::audit::AuditLog::default()),
            tenants,
        );
        let principal = palisade_gateway::authz::principal_for(store.as_ref(), &who)
            .await?
            .ok_or_else(|| anyhow!("no account or API key {who:?}"))?;
        let routes = palisade_gateway::route::table::RouteTable::from_config(&self.config)
            .map_err(|e| anyhow!("the routes have problems: {e}"))?;
        let decision = authz.explain(
            &routes,
            &self.config.server.path_policy(),
            None,
            &method.to_ascii_uppercase(),
            &path,
            Some(&principal),
        );
        let json = palisade_gateway::authz::decision_json(&decision);
        println!(
            "{} {} {}: {} (rule {}): {}",
            who,
            method.to_ascii_uppercase(),
            path,
            json["decision"].as_str().unwrap_or("?"),
            json["rule"].as_str().unwrap_or("?"),
            json["reason"].as_str().unwrap_or("")
        );
        Ok(json["decision"] == "allow")
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

    pub async fn user(&self, cmd: UserCommand) -> Result<()> {
        let id = &self.identity;
        let now = now_ms() as i64;
        match cmd {
            UserCommand::Add {
                email,
                roles,
                name,
                password_stdin,
            } => {
                let (password, generated) = if password_stdin {
                    let mut line = String::new();
                    std::io::stdin().read_to_string(&mut line)?;
                    (line.trim_end_matches(['\r', '\n']).to_string(), false)
                } else {
                    (palisade_gateway::config::dev_secrets::generate(), true)
                };
                self.trail().await?;
                let origin = RequestOrigin::default();
                let new = palisade_gateway::identity::manage::NewUser {
                    id: Uuid::now_v7(),
                    email,
                    name,
                    roles,
                    password: password.clone(),
                };
                let user = id
                    .create_user(new, &Self::by_cli(&origin))
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                println!(
                    "created {} ({}) with roles {}",
                    user.email,
                    user.id,
                    user.roles.join(", ")
                );
                if generated {
                    println!("password (shown once): {password}");
                }
            }
            UserCommand::AddService { name, roles, tier } => {
                let handle = palisade_core::principal::service_account_handle(&name)
                    .ok_or_else(|| anyhow!("a service account name is 1-64 of a-z 0-9 _ -"))?;
                let user = UserRecord {
                    id: Uuid::now_v7(),
                    email: handle,
                    name: None,
                    password_hash: None,
                    roles,
                    tier,
                    kind: PrincipalKind::Service,
                    disabled: false,
                    created_at: now,
                    updated_at: now,
                };
                id.store.user_insert(&user).await?;
                println!(
                    "created service account {} ({}) with roles {}",
                    user.email,
                    user.id,
                    user.roles.join(", ")
                );
            }
            UserCommand::List => {
                let mut after = None;
                loop {
                    let page = id.store.users_list(after, 500).await?;
                    for u in &page {
                        println!(
                            "{}  {:<40} {:<7} {:<24} {}",
                            u.id,
                            u.email,
                            u.kind.as_str(),
                            u.roles.join(","),
                            if u.disabled { "disabled" } else { "active" }
                        );
                    }
                    match page.last() {
                        Some(last) if page.len() == 500 => after = Some(last.id),
                        _ => break,
                    }
                }
            }
            UserCommand::Disable { email } => {
                let user = self.find_user(&email).await?;
                self.trail().await?;
                let origin = RequestOrigin::default();
                id.set_user_disabled(user.id, true, &Self::by_cli(&origin))
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                self.revoke_user(user.id).await?;
                println!("disabled {} and revoked its sessions", user.email);
            }
            UserCommand::Enable { email } => {
                let user = self.find_user(&email).await?;
                self.trail().await?;
                let origin = RequestOrigin::default();
                id.set_user_disabled(user.id, false, &Self::by_cli(&origin))
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                println!("enabled {}", user.email);
            }
            UserCommand::SetRole { email, roles } => {
                let user = self.find_user(&email).await?;
                self.trail().await?;
                let origin = RequestOrigin::default();
                id.set_user_roles(user.id, &roles, &Self::by_cli(&origin))
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                self.revoke_user(user.id).await?;
                println!(
                    "{} now has roles {}; its sessions were revoked",
                    user.email,
                    roles.join(", ")
                );
            }
            UserCommand::SetTier { email, tier } => {
                let user = self.find_user(&email).await?;
                id.store.user_set_tier(user.id, &tier, now).await?;
                self.revoke_user(user.id).await?;
                println!(
                    "{} is now on tier {tier}; its sessions were revoked",
                    user.email
                );
            }
            UserCommand::Import { csv } => self.import(&csv).await?,
        }
        Ok(())
    }

    async fn revoke_user(&self, user_id: Uuid) -> Result<()> {
        self.identity.revoke_user_sessions(user_id).await?;
        queue_handoff(
            self.identity.store.as_ref(),
            Action::RevokeUser {
                user_id: user_id.to_string(),
            },
            now_ms(),
        )
        .await?;
        Ok(())
    }

    async fn import(&self, path: &std::path::Path) -> Result<()> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let (mut created, mut skipped) = (0, 0);
        let now = now_ms() as i64;
        for (n, line) in text.lines().enumerate() {
            let imported = match user_line(n, line) {
                UserLine::Skip => continue,
                UserLine::Problem(why) => {
                    eprintln!("line {}: {why}", n + 1);
                    skipped += 1;
                    continue;
                }
                UserLine::User(user) => user,
            };
            let email = imported.email;
            let user = UserRecord {
                id: Uuid::now_v7(),
                email: email.clone(),
                name: imported.name,
                password_hash: Some(imported.password_hash),
                roles: imported.roles,
                tier: "free".into(),
                kind: PrincipalKind::Human,
                disabled: false,
                created_at: now,
                updated_at: now,
            };
            match self.identity.store.user_insert(&user).await {
                Ok(()) => created += 1,
                Err(palisade_store::StoreError::Conflict(_)) => {
                    eprintln!("line {}: {email} exists; skipped", n + 1);
                    skipped += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
        println!("imported {created} account(s), skipped {skipped}");
        Ok(())
    }

    pub async fn key(&self, cmd: KeyCommand) -> Result<()> {
        let id = &self.identity;
        match cmd {
            KeyCommand::Create {
                email,
                name,
                roles,
                scopes,
                expires_in,
            } => {
                if let Some(bad) = scopes
                    .iter()
                    .find(|s| !palisade_core::policy::valid_grant(s))
                {
                    bail!("{bad:?} is not a grant like \"graphs.read\" or \"tools.*\"");
                }
                let owner = self.find_user(&email).await?;
                let roles = if roles.is_empty() {
                    owner.roles.clone()
                } else {
                    roles
                };
                if let Some(r) = roles.iter().find(|r| !owner.roles.contains(r)) {
                    bail!("{} does not hold the role {r:?}", owner.email);
                }
                self.trail().await?;
                let key = NewKey {
                    name: &name,
                    owner: owner.id,
                    roles,
                    scopes,
                    expires_in: expires_in.map(|d| d.as_secs()),
                };
                let origin = RequestOrigin::default();
                let (record, plaintext) = id
                    .create_api_key(key, &Self::by_cli(&origin))
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                println!(
                    "created key {} ({}) for {}",
                    record.id, record.prefix, owner.email
                );
                println!("key (shown once): {}", plaintext.expose_secret());
            }
            KeyCommand::List { email } => {
                let owner = match email {
                    Some(e) => Some(self.find_user(&e).await?.id),
                    None => None,
                };
                for k in id.store.api_keys_list(owner).await? {
                    let state = if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!(
                        "{}  {:<16} {:<24} owner {}  {state}",
                        k.id, k.prefix, k.name, k.owner_id
                    );
                }
            }
            KeyCommand::Revoke { id: key_id } => {
                self.trail().await?;
                let origin = RequestOrigin::default();
                let revoked = id
                    .revoke_api_key_as(key_id, &Self::by_cli(&origin))
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                if !revoked {
                    bail!("no active key {key_id}");
                }
                queue_handoff(
                    id.store.as_ref(),
                    Action::RevokeKey {
                        key_id: key_id.to_string(),
                    },
                    now_ms(),
                )
                .await?;
                println!("revoked {key_id}");
            }
        }
        Ok(())
    }

    pub async fn keys(&self, cmd: KeysCommand) -> Result<()> {
        match cmd {
            KeysCommand::RotateSigning => {
                let kid = self
                    .identity
                    .rotate_signing_key()
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                println!("new signing key {kid}; running gateways sign with it within 10 s");
            }
            KeysCommand::RotateData => {
                self.data_keys(crate::secret::DataKeysCommand::Rotate)
                    .await?
            }
            KeysCommand::RetireData { id } => {
                self.data_keys(crate::secret::DataKeysCommand::Retire(id))
                    .await?
            }
            KeysCommand::ListData => self.data_keys(crate::secret::DataKeysCommand::List).await?,
            KeysCommand::ReencryptData => {
                self.data_keys(crate::secret::DataKeysCommand::Reencrypt)
                    .await?
            }
        }
        Ok(())
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

    /// Who acts when the CLI does: the operator at the console, with no request behind it.
    fn by_cli(origin: &palisade_gateway::audit::RequestOrigin) -> By<'_> {
        By {
            actor: "cli".into(),
            origin,
        }
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
        let store = &self.identity.store;
        let query = filter.filter()?;
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
            let page = store.audit_query(&query, after, 1_000).await?;
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
                let trail = self.trail().await?;
                let report = trail.purge(dry_run).await.map_err(|e| anyhow!("{e}"))?;
                trail.checkpoint().await;
                match (report.through_seq, dry_run) {
                    (None, _) => println!("nothing has outlived its retention"),
                    (Some(s), true) => {
                        println!(
                            "dry run: {} records would go (through sequence {s})",
                            report.count
                        )
                    }
                    (Some(s), false) => println!(
                        "purged {} records (through sequence {s}); recorded as audit.purged",
                        report.count
                    ),
                }
                return Ok(true);
            }
            AuditCommand::Query {
                filter,
                after,
                limit,
            } => {
                let page = store
                    .audit_query(&filter.filter()?, after.unwrap_or(0), limit.clamp(1, 1_000))
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

    pub async fn ip(&self, cmd: IpCommand) -> Result<()> {
        match cmd {
            IpCommand::Unblock { ip } => {
                // The record goes (and, on a shared hot state, the block at once); a running
                // embedded gateway lifts it from its memory through the hand-off.
                self.identity.brute.unblock(ip).await?;
                queue_handoff(
                    self.identity.store.as_ref(),
                    Action::Unblock { ip: ip.to_string() },
                    now_ms(),
                )
                .await?;
                println!("unblock of {ip} handed to the running gateway (applied within 10 s)");
            }
        }
        Ok(())
    }
}

/// Walks a store's audit trail (in pages of 10,000) against its signed checkpoints: the check
/// behind `palisade audit verify` and `palisade backup verify`. `from` starts at a sequence
/// number whose link backwards is taken as given; `pinned` is an audit public key kept outside
/// the store (without it, the key stored beside the trail is used). The outer error is a store
/// failure; the inner one names the first broken sequence number.
pub async fn verify_trail(
    store: &dyn palisade_store::Store,
    from: Option<u64>,
    pinned: Option<Vec<u8>>,
) -> Result<Result<palisade_core::audit::Verified, palisade_core::audit::Broken>> {
    let checkpoints = store.audit_checkpoints().await?;
    let mut keys = std::collections::BTreeMap::new();
    for cp in &checkpoints {
        if keys.contains_key(&cp.kid) {
            continue;
        }
        let key = match &pinned {
            Some(k) => Some(k.clone()),
            None => store
                .meta_get(&palisade_gateway::audit::trail::public_key_meta(&cp.kid))
                .await?
                .and_then(|h| palisade_gateway::audit::trail::hex_decode(&h)),
        };
        if let Some(k) = key {
            keys.insert(cp.kid.clone(), k);
        }
    }
    let mut verifier =
        match palisade_core::audit::Verifier::new(&checkpoints, &keys, from.is_some()) {
            Ok(v) => v,
            Err(b) => return Ok(Err(b)),
        };
    let mut next = from.unwrap_or(0);
    loop {
        let page = store.audit_range(next, 10_000).await?;
        let Some(last) = page.last() else {
            return Ok(verifier.finish());
        };
        next = last.seq + 1;
        if let Some(broken) = page.iter().find_map(|r| verifier.push(r).err()) {
            return Ok(Err(broken));
        }
    }
}
