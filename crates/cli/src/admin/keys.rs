//! `palisade key …` (API keys) and `palisade keys …` (signing and data keys).

use super::*;

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
    /// Import keys another system issued, by the hash it stored: JSON Lines, one key a line
    /// ({"owner","name","prefix","hash"[,"scopes","expires_at","last_used_at"]}). Hashes:
    /// bcrypt ($2a$/$2b$/$2y$), sha256:HEX, sha512:HEX, hmac-sha256:HEX (needs --pepper).
    /// Each key is verified once against its hash at first use, then stored as Palisade's own.
    /// Rows already imported for the same owner are skipped.
    Import {
        /// The JSON Lines file.
        file: std::path::PathBuf,
        /// Check every row and report, writing nothing.
        #[arg(long)]
        dry_run: bool,
        /// The other system's HMAC key for hmac-sha256 hashes: secret://PATH or file:PATH.
        #[arg(long)]
        pepper: Option<String>,
    },
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

impl Admin {
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
                let by = self.acting().await?;
                let key = NewKey {
                    name: &name,
                    owner: owner.id,
                    roles,
                    scopes,
                    expires_in: expires_in.map(|d| d.as_secs()),
                };
                let (record, plaintext) = id
                    .create_api_key(key, &by)
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
                    let state = match (k.revoked_at, k.revoked_reason) {
                        (Some(_), Some(reason)) => format!("revoked ({})", reason.as_str()),
                        (Some(_), None) => "revoked".to_string(),
                        (None, _) => "active".to_string(),
                    };
                    println!(
                        "{}  {:<16} {:<24} owner {}  {state}",
                        k.id, k.prefix, k.name, k.owner_id
                    );
                }
            }
            KeyCommand::Import {
                file,
                dry_run,
                pepper,
            } => self.import_keys(&file, dry_run, pepper.as_deref()).await?,
            KeyCommand::Revoke { id: key_id } => {
                let by = self.acting().await?;
                let revoked = id
                    .revoke_api_key_as(key_id, &by)
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
}

impl Admin {
    /// The value a `--pepper` reference names.
    async fn read_pepper(&self, reference: &str) -> Result<zeroize::Zeroizing<String>> {
        use palisade_gateway::config::refs::{FILE_SCHEME, SECRET_SCHEME};
        if let Some(path) = reference.strip_prefix(SECRET_SCHEME) {
            return self.data_protection().await?.read_reference(path).await;
        }
        let Some(path) = reference.strip_prefix(FILE_SCHEME) else {
            bail!("--pepper takes secret://PATH or file:PATH, never the value itself");
        };
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path).with_context(|| format!("reading the pepper {path}"))?,
        );
        let value = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(&text);
        if value.is_empty() {
            bail!("the pepper {path} is empty");
        }
        Ok(zeroize::Zeroizing::new(value.to_string()))
    }

    /// `palisade key import`: rows in batches of 1,000, each row reported when refused, then
    /// one summary line.
    async fn import_keys(
        &self,
        file: &std::path::Path,
        dry_run: bool,
        pepper: Option<&str>,
    ) -> Result<()> {
        use palisade_cli::key_import::{KeyLine, key_line};
        use palisade_gateway::identity::manage::{ImportBatch, KeyImported};
        use std::io::BufRead;
        let pepper = match pepper {
            Some(r) => Some(self.read_pepper(r).await?),
            None => None,
        };
        let reader = std::io::BufReader::new(
            std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?,
        );
        let by = self.acting().await?;
        let mut batch = ImportBatch::default();
        let (mut imported, mut skipped, mut refused) = (0u64, 0u64, 0u64);
        let mut unreadable = 0u64;
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        let mut flush = async |rows: &mut Vec<_>, lines: &mut Vec<usize>| -> Result<()> {
            let outcomes = self
                .identity
                .import_api_keys(
                    rows,
                    pepper.as_ref().map(|p| p.as_bytes()),
                    dry_run,
                    &mut batch,
                    &by,
                )
                .await
                .map_err(|e| anyhow!("{e}"))?;
            for (outcome, line) in outcomes.into_iter().zip(lines.iter()) {
                match outcome {
                    Ok(KeyImported::Imported(_)) => imported += 1,
                    Ok(KeyImported::Skipped) => skipped += 1,
                    Err(e) => {
                        eprintln!("line {line}: {e}");
                        refused += 1;
                    }
                }
            }
            rows.clear();
            lines.clear();
            Ok(())
        };
        for (n, line) in reader.lines().enumerate() {
            let line = line.with_context(|| format!("reading {}", file.display()))?;
            match key_line(&line) {
                KeyLine::Skip => {}
                KeyLine::Problem(why) => {
                    eprintln!("line {}: {why}", n + 1);
                    unreadable += 1;
                }
                KeyLine::Key(k) => {
                    rows.push(k);
                    lines.push(n + 1);
                    if rows.len() == 1000 {
                        flush(&mut rows, &mut lines).await?;
                    }
                }
            }
        }
        if !rows.is_empty() {
            flush(&mut rows, &mut lines).await?;
        }
        let refused = refused + unreadable;
        let verb = if dry_run { "would import" } else { "imported" };
        println!("{verb} {imported} key(s), skipped {skipped} already imported, refused {refused}");
        if refused > 0 {
            bail!("{refused} row(s) refused (see above); the others were handled");
        }
        Ok(())
    }
}
