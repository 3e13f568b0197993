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
