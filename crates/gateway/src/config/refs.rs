//! Secret references in configuration: a value that may hold a secret may instead name where
//! to read it, resolved once at start in [`resolve`] (the only place that reads them).
//!
//! Values that may be references: `secrets.signing_key`, `secrets.cookie_key`,
//! `audit.alerts.webhook_secret`, `retention.deletion_webhook_secret`, `auth.trusted_issuers[N].shared_secret`, `smtp.password`,
//! `auth.providers[N].client_secret`. Forms:
//! - `secret://PATH`: the latest live version of PATH in the secrets store (`palisade secret put`),
//!   decrypted with the master key;
//! - `file:/run/secrets/NAME`: a file's content (container secret files), one trailing newline
//!   removed.
//!
//! A reference that cannot be read stops the start with the key and the reference named (never
//! a value). In dev mode only, it falls back to the environment variable
//! `PALISADE_REF_<KEY>` (the key upper-cased, every other character than a letter or digit as
//! `_`, e.g. `PALISADE_REF_SECRETS_SIGNING_KEY`, `PALISADE_REF_AUTH_TRUSTED_ISSUERS_0_SHARED_SECRET`);
//! production never falls back.

use crate::config::{Config, Environment};
use crate::protect::keyring::KeyringService;
use crate::protect::vault::Vault;
use palisade_core::clock::{SharedClock, SystemClock};
use palisade_store::SharedStore;
use secrecy::ExposeSecret;
use std::sync::Arc;

/// The prefix of a reference to a secret in Palisade's own secrets store.
pub const SECRET_SCHEME: &str = "secret://";
/// The prefix of a reference to a file holding the value.
pub const FILE_SCHEME: &str = "file:";

/// Is `value` a reference rather than a literal?
pub fn is_reference(value: &str) -> bool {
    value.starts_with(SECRET_SCHEME) || value.starts_with(FILE_SCHEME)
}

/// The dev-mode fallback variable of a config key.
pub fn fallback_var(key: &str) -> String {
    let mut name = String::from("PALISADE_REF_");
    let mut last_underscore = true;
    for c in key.chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c.to_ascii_uppercase());
            last_underscore = false;
        } else if !last_underscore {
            name.push('_');
            last_underscore = true;
        }
    }
    name.trim_end_matches('_').to_owned()
}

/// The values that may be references, by config key.
fn slots(config: &mut Config) -> Vec<(String, &mut String)> {
    let mut out = vec![
        (
            "secrets.signing_key".into(),
            &mut config.secrets.signing_key,
        ),
        ("secrets.cookie_key".into(), &mut config.secrets.cookie_key),
    ];
    if let Some(s) = config.audit.alerts.webhook_secret.as_mut() {
        out.push(("audit.alerts.webhook_secret".into(), s));
    }
    if let Some(s) = config.retention.deletion_webhook_secret.as_mut() {
        out.push(("retention.deletion_webhook_secret".into(), s));
    }
    if !config.smtp.password.is_empty() {
        out.push(("smtp.password".into(), &mut config.smtp.password));
    }
    for (i, t) in config.auth.trusted_issuers.iter_mut().enumerate() {
        if let Some(s) = t.shared_secret.as_mut() {
            out.push((format!("auth.trusted_issuers[{i}].shared_secret"), s));
        }
    }
    for (i, p) in config.auth.providers.iter_mut().enumerate() {
        out.push((
            format!("auth.providers[{i}].client_secret"),
            &mut p.client_secret,
        ));
    }
    out
}

/// Replaces every reference in `config` by the value it names. `store`: the store to read
/// `secret://` references from (opened from `store.url` when `None` and needed). `vars` reads
/// environment variables (for the dev fallback). Returns every problem at once.
pub async fn resolve(
    config: &mut Config,
    env: Environment,
    store: Option<SharedStore>,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<(), Vec<String>> {
    let data_dir = config.server.data_dir.clone();
    let store_url = config.store.url.clone();
    let master = config.secrets.master.clone();
    let needs_store = slots(config)
        .iter()
        .any(|(_, v)| v.starts_with(SECRET_SCHEME));
    let vault = if needs_store {
        open_vault(&store_url, &data_dir, env, store, master)
            .await
            .map_err(|e| vec![e])?
    } else {
        None
    };
    let secrets = match &vault {
        Some(vault) => Secrets::Store(vault),
        None => Secrets::Empty,
    };
    resolve_with(config, env, secrets, vars).await
}

/// Where `secret://` references are read from.
pub enum Secrets<'a> {
    /// Not read: left as they are (`config check` without `--online`).
    Unread,
    /// The store holds no data key, so no secret: each reference is missing.
    Empty,
    /// Read from this vault.
    Store(&'a Vault),
}

/// The `secret://` references in `config`, by config key (`config check` without `--online`
/// names those it leaves unread).
pub fn secret_references(config: &mut Config) -> Vec<String> {
    slots(config)
        .into_iter()
        .filter(|(_, v)| v.starts_with(SECRET_SCHEME))
        .map(|(key, _)| key)
        .collect()
}

/// [`resolve`] with the secrets store already opened, or without reading `secret://`
/// references ([`Secrets::Unread`]: only `file:` references are read).
pub async fn resolve_with(
    config: &mut Config,
    env: Environment,
    secrets: Secrets<'_>,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    for (key, value) in slots(config) {
        if !is_reference(value) {
            continue;
        }
        let reference = value.clone();
        let read = match (reference.strip_prefix(SECRET_SCHEME), &secrets) {
            (Some(path), Secrets::Store(vault)) => vault
                .get(path, None)
                .await
                .map(|s| s.value.expose_secret().to_string())
                .map_err(|e| e.to_string()),
            (Some(_), Secrets::Empty) => Err("no such secret (the secrets store is empty)".into()),
            (Some(_), Secrets::Unread) => continue,
            (None, _) => read_file(reference.strip_prefix(FILE_SCHEME).unwrap_or_default()),
        };
        match read {
            Ok(v) if !v.is_empty() => *value = v,
            outcome => {
                let why = outcome.err().unwrap_or_else(|| "it is empty".into());
                match vars(&fallback_var(&key)).filter(|_| env == Environment::Dev) {
                    Some(v) => {
                        tracing::warn!(key = %key, reference = %reference, "DEV MODE: the reference cannot be read; using {}", fallback_var(&key));
                        *value = v;
                    }
                    None => problems.push(format!("{key}: {reference}: {why}")),
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn read_file(path: &str) -> Result<String, String> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| e.to_string())?);
    let trimmed = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    Ok(trimmed.to_string())
}

async fn open_vault(
    store_url: &str,
    data_dir: &std::path::Path,
    env: Environment,
    store: Option<SharedStore>,
    master: Option<palisade_core::crypto::MasterKey>,
) -> Result<Option<Vault>, String> {
    let store = match store {
        Some(s) => s,
        None => palisade_store::open_store(store_url, data_dir)
            .await
            .map_err(|e| format!("secret references: store: {e}"))?,
    };
    // No data key, no secret: say so rather than create a keyring while only reading.
    if store
        .data_keys_list()
        .await
        .map_err(|e| format!("secret references: store: {e}"))?
        .is_empty()
    {
        return Ok(None);
    }
    let clock: SharedClock = Arc::new(SystemClock);
    // The key start-up attached (or `config check` found), else the environment's.
    let provider: Arc<dyn palisade_core::crypto::MasterKeyProvider> = match master {
        Some(key) => Arc::new(key),
        None => {
            crate::protect::master_key::from_process_env(env == Environment::Production, data_dir)?
                .0
        }
    };
    let keyring = KeyringService::open(store.clone(), provider, clock.clone())
        .await
        .map_err(|e| format!("secret references: keyring: {e}"))?;
    Ok(Some(Vault::new(
        store,
        Arc::new(keyring),
        clock,
        std::time::Duration::ZERO,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protect::master_key::tests::vars;
    use secrecy::SecretString;

    #[tokio::test]
    async fn secret_and_file_references_resolve_and_only_dev_falls_back() {
        let dir = tempfile::tempdir().unwrap();
        let store: SharedStore = Arc::new(palisade_store::memory::MemoryStore::default());
        // The secret is written with the master key start-up will find (dev: the data dir's).
        let (provider, _) =
            crate::protect::master_key::resolve(&vars(&[]), false, dir.path()).unwrap();
        let clock: SharedClock = Arc::new(SystemClock);
        let keyring = Arc::new(
            KeyringService::open(store.clone(), provider, clock.clone())
                .await
                .unwrap(),
        );
        Vault::new(store.clone(), keyring, clock, std::time::Duration::ZERO)
            .put(
                "gateway/signing",
                &SecretString::from("s".repeat(48)),
                serde_json::Value::Null,
                None,
            )
            .await
            .unwrap();
        let cookie = dir.path().join("cookie");
        std::fs::write(&cookie, "c00kie-secret-value\n").unwrap();

        let mut config = Config::default();
        config.server.data_dir = dir.path().to_path_buf();
        config.secrets.signing_key = "secret://gateway/signing".into();
        config.secrets.cookie_key = format!("file:{}", cookie.display());
        config.audit.alerts.webhook_secret = Some("secret://alerts/absent".into());
        let fallback = vars(&[("PALISADE_REF_AUDIT_ALERTS_WEBHOOK_SECRET", "from-env")]);
        let mut dev = config.clone();
        resolve(&mut dev, Environment::Dev, Some(store.clone()), &fallback)
            .await
            .unwrap();
        assert_eq!(dev.secrets.signing_key, "s".repeat(48));
        assert_eq!(
            dev.secrets.cookie_key, "c00kie-secret-value",
            "newline trimmed"
        );
        assert_eq!(dev.audit.alerts.webhook_secret.as_deref(), Some("from-env"));

        // Without the fallback variable, the missing secret is named (and nothing else is).
        let problems = resolve(
            &mut config.clone(),
            Environment::Dev,
            Some(store),
            &vars(&[]),
        )
        .await
        .unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("audit.alerts.webhook_secret: secret://alerts/absent"));

        // Production never falls back (file references need no store or master key).
        let mut prod = Config::default();
        prod.secrets.signing_key = format!("file:{}", dir.path().join("absent").display());
        prod.secrets.cookie_key = format!("file:{}", cookie.display());
        let env_too = vars(&[("PALISADE_REF_SECRETS_SIGNING_KEY", "from-env")]);
        let problems = resolve(&mut prod, Environment::Production, None, &env_too)
            .await
            .unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("secrets.signing_key: file:"),
            "{problems:?}"
        );
        assert!(!problems[0].contains("from-env"));
        assert_eq!(prod.secrets.cookie_key, "c00kie-secret-value");
    }
}
