//! What the compliance report measures: the loaded configuration, and the live state it reads
//! through the store (API keys and their ages, signed audit checkpoints, data keys, accounts
//! and administrators, tenants). Read once per report; nothing is written.

use super::ReportError;
use crate::config::Config;
use palisade_core::crypto::keyring::KeyState;
use palisade_core::policy::RoleMatrix;
use palisade_store::Store;
use palisade_store::identity::PrincipalKind;

const DAY_MS: i64 = 86_400_000;

/// The API keys as they stand.
#[derive(Debug, Default)]
pub struct KeyAges {
    /// Neither revoked nor expired.
    pub active: u64,
    /// Active and older than `compliance.max_key_age`.
    pub older_than_max: u64,
    /// Active and without an expiry.
    pub without_expiry: u64,
    /// Age of the oldest active key, in days.
    pub oldest_days: Option<i64>,
}

/// The audit checkpoints stored.
#[derive(Debug, Default)]
pub struct Checkpoints {
    /// Stored checkpoints.
    pub count: u64,
    /// Of them, those carrying a signature and a key id.
    pub signed: u64,
    /// The signing key id of the latest.
    pub latest_kid: Option<String>,
}

/// The accounts.
#[derive(Debug, Default)]
pub struct Accounts {
    /// Every principal (people and service accounts).
    pub total: u64,
    /// Disabled ones.
    pub disabled: u64,
    /// People's accounts holding an administering role.
    pub administrators: u64,
}

/// Everything a report is judged on.
pub struct Facts<'a> {
    /// The loaded configuration.
    pub config: &'a Config,
    /// The roles in force, compiled.
    pub roles: RoleMatrix,
    /// Role names that administer Palisade (they grant `admin.*` or `*`).
    pub admin_roles: Vec<String>,
    /// API keys.
    pub keys: KeyAges,
    /// Audit checkpoints.
    pub checkpoints: Checkpoints,
    /// Data keys of the secrets store and field encryption: (primary present, total).
    pub data_keys: (bool, u64),
    /// Accounts.
    pub accounts: Accounts,
    /// Tenants defined.
    pub tenants: u64,
}

impl<'a> Facts<'a> {
    /// Reads the state the report needs.
    pub async fn gather(
        config: &'a Config,
        store: &dyn Store,
        now_ms: i64,
    ) -> Result<Facts<'a>, ReportError> {
        let defs = if config.roles.is_empty() {
            palisade_core::policy::default_roles()
        } else {
            config.roles.clone()
        };
        // `config check` refuses roles that do not compile; a report still describes them as none.
        let roles = RoleMatrix::compile(&defs).unwrap_or_default();
        let admin_roles: Vec<String> = roles
            .role_names()
            .filter(|r| roles.is_admin_role(r))
            .map(String::from)
            .collect();
        let max_age_ms = config.compliance.max_key_age.0.as_millis() as i64;
        let mut keys = KeyAges::default();
        for k in store.api_keys_list(None).await? {
            let expired = k.expires_at.is_some_and(|e| e <= now_ms);
            if k.revoked_at.is_some() || expired {
                continue;
            }
            keys.active += 1;
            let age = now_ms - k.created_at;
            keys.older_than_max += u64::from(age > max_age_ms);
            keys.without_expiry += u64::from(k.expires_at.is_none());
            keys.oldest_days = Some(keys.oldest_days.unwrap_or(0).max(age / DAY_MS));
        }
        let stored = store.audit_checkpoints().await?;
        let checkpoints = Checkpoints {
            count: stored.len() as u64,
            signed: stored
                .iter()
                .filter(|c| !c.signature.is_empty() && !c.kid.is_empty())
                .count() as u64,
            latest_kid: stored.last().map(|c| c.kid.clone()),
        };
        let data = store.data_keys_list().await?;
        let data_keys = (
            data.iter().any(|k| k.state == KeyState::Primary),
            data.len() as u64,
        );
        let mut accounts = Accounts::default();
        let mut after = None;
        loop {
            let page = store.users_list(after, 1_000).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for u in &page {
                accounts.total += 1;
                accounts.disabled += u64::from(u.disabled);
                accounts.administrators += u64::from(
                    u.kind == PrincipalKind::Human
                        && u.roles.iter().any(|r| admin_roles.contains(r)),
                );
            }
        }
        let tenants = store.tenants_list().await?.len() as u64;
        Ok(Facts {
            config,
            roles,
            admin_roles,
            keys,
            checkpoints,
            data_keys,
            accounts,
            tenants,
        })
    }
}
