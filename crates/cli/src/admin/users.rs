//! `palisade user …`: people's and service accounts (creation, roles, tiers, disabling,
//! deletion and restore through the use cases the HTTP API calls; imports are `import.rs`'s).

use super::*;
use palisade_cli::user_import::FileFormat;
use palisade_gateway::identity::manage::NotRestored;

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
    /// Delete an account (by id or e-mail): disabled at once, its sessions and API keys revoked
    /// (reason account_deleted), erased with everything held about it by the retention job once
    /// retention.accounts_deleted has passed; `user restore` undoes it until then. With --purge
    /// it is erased now, without the grace period (this cannot be undone).
    Delete {
        /// The account's id or e-mail address.
        account: String,
        /// Erase at once instead of after the grace period.
        #[arg(long)]
        purge: bool,
    },
    /// Restore a deleted account within the grace period (its sessions and keys stay revoked).
    Restore {
        /// The account's id.
        id: Uuid,
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
    /// Import accounts from another system, as they are: JSON lines (one object per line:
    /// external_id, email, name, disabled, roles, tenants [{tenant, role}], tier,
    /// password_hash) or CSV (a header of those names; roles as a;b, tenants as
    /// tenant:role;tenant:role; or the older email,password_hash,roles,name). Hashes (bcrypt,
    /// argon2, PBKDF2, scrypt) are stored as given and upgraded to argon2id at each user's next
    /// sign-in; a row without one cannot sign in with a password. A row whose external id is
    /// present is skipped, so a re-run imports nothing twice. Exits non-zero when a row was
    /// refused (each is reported on stderr as "row N: field: reason").
    Import {
        /// The file to import.
        #[arg(value_name = "FILE", required_unless_present = "csv")]
        file: Option<PathBuf>,
        /// jsonl or csv [default: csv for a FILE ending in .csv, else jsonl].
        #[arg(long, value_parser = ["jsonl", "csv"])]
        format: Option<String>,
        /// The file to import, as CSV (the older spelling of `import FILE --format csv`).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["file", "format"])]
        csv: Option<PathBuf>,
        /// Check every row and report what a run would do; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

impl Admin {
    pub async fn user(&self, cmd: UserCommand) -> Result<()> {
        let id = &self.identity;
        match cmd {
            UserCommand::Add {
                email,
                roles,
                name,
                password_stdin,
            } => {
                self.known_roles(&roles)?;
                let (password, generated) = if password_stdin {
                    let mut line = String::new();
                    std::io::stdin().read_to_string(&mut line)?;
                    (line.trim_end_matches(['\r', '\n']).to_string(), false)
                } else {
                    (generated_password(id)?, true)
                };
                let by = self.acting().await?;
                // The use case of `POST /admin/users`.
                let new = palisade_gateway::identity::manage::NewAccount {
                    email,
                    name,
                    password: Some(password.clone()),
                    roles,
                    tier: "free".into(),
                };
                let user = id
                    .create_account(new, &by)
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
                self.known_roles(&roles)?;
                let by = self.acting().await?;
                let user = id
                    .create_service_account(&name, roles, tier, &by)
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                println!(
                    "created service account {} ({}) with roles {}",
                    user.email,
                    user.id,
                    user.roles.join(", ")
                );
            }
            UserCommand::Delete { account, purge } => {
                let user = match account.parse::<Uuid>() {
                    Ok(id) => id,
                    Err(_) => self.find_user(&account).await?.id,
                };
                let by = self.acting().await?;
                let retention = &self.config.retention;
                let scheduled = id
                    .request_deletion(user, retention.accounts_deleted.0, &by)
                    .await
                    .map_err(|e| anyhow!("{e}"))?
                    .ok_or_else(|| anyhow!("no account {user}"))?;
                if purge {
                    let log = self.config.erasure_log();
                    let webhook = retention.deletion_webhook_url.is_some();
                    id.purge_user(user, webhook, Some(&log), &by)
                        .await
                        .map_err(|e| anyhow!("{e}"))?;
                    println!("erased {user}");
                } else {
                    println!(
                        "deleted {user}: sign-in refused, sessions and keys revoked; erased after \
                         {} (Unix ms), restorable until then",
                        scheduled.purge_after
                    );
                }
            }
            UserCommand::Restore { id: user } => {
                let by = self.acting().await?;
                let grace = self.config.retention.accounts_deleted.0;
                match id
                    .restore_user(user, grace, &by)
                    .await
                    .map_err(|e| anyhow!("{e}"))?
                {
                    Ok(()) => println!("restored {user}"),
                    Err(NotRestored::Unknown) => bail!("no account {user}"),
                    Err(NotRestored::NotDeleted) => bail!("{user} is not deleted"),
                    Err(NotRestored::Gone) => {
                        bail!("{user}: the grace period is over, the account is erased")
                    }
                }
            }
            UserCommand::List => {
                let mut after = None;
                loop {
                    let page = id.store.users_list(after, 500).await?;
                    for u in &page {
                        let last_login = u.last_login_at.map_or("never".to_string(), |ms| {
                            humantime::format_rfc3339_seconds(
                                std::time::UNIX_EPOCH
                                    + std::time::Duration::from_millis(ms.max(0) as u64),
                            )
                            .to_string()
                        });
                        println!(
                            "{}  {:<40} {:<7} {:<24} {:<8} last sign-in {last_login}",
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
                let by = self.acting().await?;
                id.set_user_disabled(user.id, true, &by)
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                self.revoke_user(user.id).await?;
                println!("disabled {} and revoked its sessions", user.email);
            }
            UserCommand::Enable { email } => {
                let user = self.find_user(&email).await?;
                let by = self.acting().await?;
                id.set_user_disabled(user.id, false, &by)
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                println!("enabled {}", user.email);
            }
            UserCommand::SetRole { email, roles } => {
                self.known_roles(&roles)?;
                let user = self.find_user(&email).await?;
                let by = self.acting().await?;
                id.set_user_roles(user.id, &roles, &by)
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
                let by = self.acting().await?;
                id.set_user_tier(user.id, &tier, &by)
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                self.revoke_user(user.id).await?;
                println!(
                    "{} is now on tier {tier}; its sessions were revoked",
                    user.email
                );
            }
            UserCommand::Import {
                file,
                format,
                csv,
                dry_run,
            } => {
                let (path, format) = match (csv, file) {
                    (Some(csv), _) => (csv, FileFormat::Csv),
                    (None, Some(file)) => {
                        let format = match format.as_deref() {
                            Some("csv") => FileFormat::Csv,
                            Some(_) => FileFormat::Jsonl,
                            None if file.extension().is_some_and(|e| e == "csv") => FileFormat::Csv,
                            None => FileFormat::Jsonl,
                        };
                        (file, format)
                    }
                    (None, None) => bail!("give the FILE to import"),
                };
                self.import(&path, format, dry_run).await?
            }
        }
        Ok(())
    }

    pub(super) async fn revoke_user(&self, user_id: Uuid) -> Result<()> {
        self.identity
            .revoke_user_sessions(user_id, palisade_store::identity::RevocationReason::Admin)
            .await?;
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
}

/// A random password the policy accepts (a random one may, rarely, hold a run like `abcd`).
fn generated_password(id: &palisade_gateway::identity::Identity) -> Result<String> {
    let context = palisade_core::password::PasswordContext {
        email: None,
        name: None,
    };
    std::iter::repeat_with(palisade_gateway::config::dev_secrets::generate)
        .take(100)
        .find(|p| id.policy.check(p, &context).is_ok())
        .ok_or_else(|| {
            anyhow!("no generated password met the policy; give one with --password-stdin")
        })
}
