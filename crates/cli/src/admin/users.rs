//! `palisade user …`: people's and service accounts (creation, roles, tiers, disabling, imports).

use super::*;

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
    // The brackets are the CSV syntax of `--help`, not intra-doc links.
    #[allow(rustdoc::broken_intra_doc_links)]
    Import {
        #[arg(long)]
        csv: PathBuf,
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
                let (password, generated) = if password_stdin {
                    let mut line = String::new();
                    std::io::stdin().read_to_string(&mut line)?;
                    (line.trim_end_matches(['\r', '\n']).to_string(), false)
                } else {
                    (generated_password(id)?, true)
                };
                let by = self.acting().await?;
                let new = palisade_gateway::identity::manage::NewUser {
                    id: Uuid::now_v7(),
                    email,
                    name,
                    roles,
                    password: password.clone(),
                };
                let user = id.create_user(new, &by).await.map_err(|e| anyhow!("{e}"))?;
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
        let by = self.acting().await?;
        let (mut created, mut skipped) = (0, 0);
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
            let email = imported.email.clone();
            let account = ImportedAccount {
                email: imported.email,
                name: imported.name,
                password_hash: imported.password_hash,
                roles: imported.roles,
            };
            match self.identity.import_user(account, &by).await {
                Ok(_) => created += 1,
                Err(Refused::Store(e)) => return Err(e.into()),
                Err(e) => {
                    eprintln!("line {}: {email}: {e}; skipped", n + 1);
                    skipped += 1;
                }
            }
        }
        println!("imported {created} account(s), skipped {skipped}");
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
