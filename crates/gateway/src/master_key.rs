//! Where the master key comes from. It wraps the data keys (field encryption, secrets store,
//! backups) and, once set, every other stored key.
//!
//! Sources, first match wins:
//! 1. `PALISADE_MASTER_KEY`: standard base64 of exactly 32 bytes.
//! 2. `PALISADE_MASTER_KEY_FILE`: a file holding that base64 text. The file must be a regular
//!    file readable by its owner only (mode 0600 or 0400); anything wider is refused, with the
//!    mode named, because a key others can read is no key.
//! 3. Dev mode only: `master.key` in the data dir, generated once (mode 0600) with a warning.
//!
//! Production with neither variable refuses to start. The providers implement
//! [`MasterKeyProvider`] so a KMS can take their place later; errors never carry key material.

use palisade_core::crypto::{CryptoError, MasterKey, MasterKeyProvider};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const ENV_KEY: &str = "PALISADE_MASTER_KEY";
pub const ENV_FILE: &str = "PALISADE_MASTER_KEY_FILE";
pub const DEV_FILE: &str = "master.key";

/// The key given inline in the environment.
pub struct EnvMasterKey(MasterKey);

impl MasterKeyProvider for EnvMasterKey {
    fn master_key(&self) -> Result<MasterKey, CryptoError> {
        Ok(self.0.clone())
    }
}

/// A key file, re-read (and its mode re-checked) on every call.
pub struct FileMasterKey(PathBuf);

impl FileMasterKey {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self(path.into())
    }
}

impl MasterKeyProvider for FileMasterKey {
    fn master_key(&self) -> Result<MasterKey, CryptoError> {
        read_key_file(&self.0).map_err(CryptoError::MasterKeyUnavailable)
    }
}

/// Reads a key file after checking it is private to its owner.
pub fn read_key_file(path: &Path) -> Result<MasterKey, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("master key file {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!(
            "master key file {} is not a regular file",
            path.display()
        ));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "master key file {} has mode {mode:04o}; it must be readable by its owner only (chmod 600)",
            path.display()
        ));
    }
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("master key file {}: {e}", path.display()))?,
    );
    MasterKey::from_base64(text.trim())
        .map_err(|e| format!("master key file {}: {e}", path.display()))
}

/// Which source a resolved key came from (for the start-up log and `/readyz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Env,
    File,
    DevFile,
}

/// Resolves the master key provider from the environment (see the module doc). `vars` reads a
/// variable (the process environment, or a map in tests).
pub fn resolve(
    vars: &dyn Fn(&str) -> Option<String>,
    production: bool,
    data_dir: &Path,
) -> Result<(Arc<dyn MasterKeyProvider>, Source), String> {
    if let Some(text) = vars(ENV_KEY).filter(|t| !t.trim().is_empty()) {
        let text = zeroize::Zeroizing::new(text);
        let key = MasterKey::from_base64(text.trim()).map_err(|e| format!("{ENV_KEY}: {e}"))?;
        return Ok((Arc::new(EnvMasterKey(key)), Source::Env));
    }
    if let Some(path) = vars(ENV_FILE).filter(|t| !t.trim().is_empty()) {
        let provider = FileMasterKey::new(path.trim());
        provider.master_key().map_err(|e| e.to_string())?;
        return Ok((Arc::new(provider), Source::File));
    }
    if production {
        return Err(format!(
            "no master key: set {ENV_KEY} (base64 of 32 random bytes) or {ENV_FILE} (a mode-0600 file holding it)"
        ));
    }
    let path = data_dir.join(DEV_FILE);
    if !path.exists() {
        let key = MasterKey::generate();
        crate::secrets::create_private_dir(data_dir).map_err(|e| e.to_string())?;
        crate::secrets::write_private(&path, key.export_base64().as_bytes())
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        tracing::warn!(
            path = %path.display(),
            "DEV MODE: generated a master key in the data dir; production takes {ENV_KEY} or {ENV_FILE}"
        );
    }
    let provider = FileMasterKey::new(path);
    provider.master_key().map_err(|e| e.to_string())?;
    Ok((Arc::new(provider), Source::DevFile))
}

/// Resolves the master key from the process environment into `config.secrets.master` (once):
/// the stored token, audit and pepper keys are wrapped under it.
pub fn attach(config: &mut crate::config::Config) -> Result<(), String> {
    if config.secrets.master.is_some() {
        return Ok(());
    }
    let production = config.server.env == crate::config::Environment::Production;
    let (provider, source) = from_process_env(production, &config.server.data_dir)?;
    config.secrets.master = Some(provider.master_key().map_err(|e| e.to_string())?);
    tracing::info!(source = ?source, "master key loaded");
    Ok(())
}

/// The master key [`attach`] resolved, as a provider (the keyring's); resolved from the
/// environment when nothing was attached.
pub fn provider_of(config: &crate::config::Config) -> Result<Arc<dyn MasterKeyProvider>, String> {
    if let Some(master) = &config.secrets.master {
        return Ok(Arc::new(master.clone()));
    }
    let production = config.server.env == crate::config::Environment::Production;
    from_process_env(production, &config.server.data_dir).map(|(provider, _)| provider)
}

/// [`resolve`] against the process environment.
pub fn from_process_env(
    production: bool,
    data_dir: &Path,
) -> Result<(Arc<dyn MasterKeyProvider>, Source), String> {
    resolve(&|name| std::env::var(name).ok(), production, data_dir)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A variable lookup over fixed pairs.
    pub(crate) fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn an_inline_key_must_be_32_bytes_of_base64() {
        let dir = tempfile::tempdir().unwrap();
        let good = MasterKey::generate().export_base64();
        let (_, src) = resolve(&vars(&[(ENV_KEY, &good)]), true, dir.path()).unwrap();
        assert_eq!(src, Source::Env);
        let err = resolve(&vars(&[(ENV_KEY, "c2hvcnQ=")]), true, dir.path())
            .err()
            .unwrap();
        assert!(err.contains(ENV_KEY), "{err}");
        assert!(!err.contains("c2hvcnQ"), "the value is never echoed: {err}");
    }

    #[test]
    fn a_key_file_readable_by_others_is_refused_with_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mk");
        std::fs::write(&path, MasterKey::generate().export_base64().as_bytes()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let v = vars(&[(ENV_FILE, path.to_str().unwrap())]);
        let err = resolve(&v, true, dir.path()).err().unwrap();
        assert!(err.contains("mode 0644"), "{err}");
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (provider, src) = resolve(&v, true, dir.path()).unwrap();
        assert_eq!(src, Source::File);
        assert!(provider.master_key().is_ok());
    }

    #[test]
    fn production_needs_a_key_and_dev_generates_one_once() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve(&vars(&[]), true, dir.path()).err().unwrap();
        assert!(err.contains(ENV_KEY) && err.contains(ENV_FILE), "{err}");
        let (first, src) = resolve(&vars(&[]), false, dir.path()).unwrap();
        assert_eq!(src, Source::DevFile);
        let mode = std::fs::metadata(dir.path().join(DEV_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (again, _) = resolve(&vars(&[]), false, dir.path()).unwrap();
        assert_eq!(
            first.master_key().unwrap().derive("x").as_slice(),
            again.master_key().unwrap().derive("x").as_slice(),
            "the dev key is kept, not regenerated"
        );
    }
}
