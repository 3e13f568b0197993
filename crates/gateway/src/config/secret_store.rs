//! `[secret_store]`: the secrets store's cache and the keyring's background re-encryption.
//! (The older `[secrets]` section holds the gateway's own signing and cookie keys.)

use crate::config::units::HumanDuration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[secret_store]`: the secrets cache and the data keys' upkeep.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretStoreConfig {
    /// How long a decrypted latest version stays cached; `"0s"` turns the cache off. Writes,
    /// deletes and undeletes through this replica drop the path's entry at once.
    pub cache_ttl: HumanDuration,
    /// How often the background job reloads the keyring from the store (another replica or the
    /// CLI may have rotated) and re-encrypts values still under an older data key.
    pub reencrypt_interval: HumanDuration,
}

impl Default for SecretStoreConfig {
    fn default() -> Self {
        Self {
            cache_ttl: HumanDuration(Duration::from_secs(3600)),
            reencrypt_interval: HumanDuration(Duration::from_secs(60)),
        }
    }
}

impl SecretStoreConfig {
    /// Problems with the values, for `config check` and start.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.reencrypt_interval.0 < Duration::from_secs(1) {
            out.push("secret_store.reencrypt_interval must be at least 1s".into());
        }
        out
    }
}
