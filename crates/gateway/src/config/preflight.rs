//! What `palisade serve` would refuse before it binds a socket, found without starting it
//! (`palisade config check`). Each rule is the function start-up itself calls, so the check and
//! the start cannot disagree:
//!
//! | refused at start by                                  | checked here with                     |
//! | ---------------------------------------------------- | ------------------------------------- |
//! | `server::prepare`: [`checks::problems`] (routes, production posture, TLS files, CORS, secrets' strength, policy compilation, …) | the same, on the resolved config |
//! | `file:` / `secret://` references ([`refs`])   | [`refs::resolve_with`] / [`refs::resolve`] (`secret://`: `online`) |
//! | the master key: variable, key file mode, production without one ([`master_key::resolve`]) | [`master_key::check`] (same `locate` and `read_key_file`) |
//! | dev secrets file unreadable or malformed (`prepare`) | [`dev_secrets::read_dev_secrets`]         |
//! | a trusted issuer's JWKS file (`Identity::start`)     | [`Trusted::load`](crate::identity::trusted::Trusted::load) on file sources |
//! | the data dir cannot be a directory (`start`)         | [`data_dir_problem`]                  |
//! | the store cannot be reached (`online`)               | [`palisade_store::probe_store`]       |
//! | the hot state cannot be reached (`online`)           | [`hot::open_hot`] (connect + ping) |
//! | the master key does not unwrap the keyring (`online`) | [`KeyringService::check`]            |
//!
//! Nothing here writes: no dev secret or master key is generated, no keyring created, no schema
//! created or migrated. A store whose schema is behind is a note ("the next start migrates it"),
//! not a problem; `secret://` references are then left unread (a note) rather than opening a
//! store that would migrate.

use super::{checks, dev_secrets, refs};
use crate::config::{Config, Environment};
use crate::hot;
use crate::protect::keyring::KeyringService;
use crate::protect::master_key;
use palisade_core::clock::{SharedClock, SystemClock};
use std::sync::Arc;

/// What a check found.
#[derive(Debug, Default)]
pub struct Report {
    /// Each one makes `serve` refuse to start in this environment.
    pub problems: Vec<String>,
    /// Accepted in this environment, worth reading (dev: routes production would refuse).
    pub warnings: Vec<String>,
    /// What was not checked, or what the next start will do (create a database, migrate).
    pub notes: Vec<String>,
}

/// Checks `config` for `env` as `serve` would start it; `online` also reaches the store and the
/// hot state. `vars` reads environment variables (the master key, dev reference fallbacks).
pub async fn check(
    config: &Config,
    env: Environment,
    online: bool,
    vars: &dyn Fn(&str) -> Option<String>,
) -> Report {
    let mut config = config.clone();
    config.server.env = env;
    let production = env == Environment::Production;
    let mut report = Report::default();
    let mut problems = Vec::new();

    match master_key::check(vars, production, &config.server.data_dir) {
        Ok(key) => config.secrets.master = key,
        Err(e) => problems.push(e),
    }
    problems.extend(data_dir_problem(&config.server.data_dir));
    if let Err(mut refs) = refs::resolve_with(&mut config, env, refs::Secrets::Unread, vars).await {
        problems.append(&mut refs);
    }
    let secret_refs = refs::secret_references(&mut config);
    let store_ready = if online {
        match palisade_store::probe_store(
            &config.store.url,
            &config.server.data_dir,
            &config.store.postgres_options(),
        )
        .await
        {
            Ok(None) => true,
            Ok(Some(note)) => {
                report.notes.push(format!("store: {note}"));
                false
            }
            Err(e) => {
                problems.push(format!("store: {e}"));
                false
            }
        }
    } else {
        false
    };
    if store_ready {
        let mut found = store_checks(&mut config, env, &secret_refs, vars).await;
        problems.append(&mut found);
    } else if !secret_refs.is_empty() {
        report.notes.push(format!(
            "{}: secret:// references are read from the store{}",
            secret_refs.join(", "),
            if online {
                ", which is not ready: not checked"
            } else {
                ": checked with --online"
            }
        ));
    }
    let redis = config.hot_state_url().starts_with("redis");
    if online && redis {
        let clock: SharedClock = Arc::new(SystemClock);
        if let Err(e) = hot::open_hot(&config, clock).await {
            problems.push(format!(
                "hot state {}: {e}",
                redacted_url(config.hot_state_url())
            ));
        }
    } else if !online && (config.store.url.starts_with("postgres") || redis) {
        report
            .notes
            .push("the store and hot state are reached with --online".into());
    }

    problems.extend(checks::problems(&config, env));
    if !production
        && config.secrets.named().iter().any(|(_, v)| v.is_empty())
        && let Err(e) = dev_secrets::read_dev_secrets(&config.server.data_dir)
    {
        problems.push(format!(
            "cannot keep dev secrets in {}: {e}",
            config.server.data_dir.display()
        ));
    }
    let now_ms = palisade_core::clock::Clock::now_millis(&SystemClock);
    for issuer in config
        .auth
        .trusted_issuers
        .iter()
        .filter(|t| t.jwks_file.is_some())
    {
        if let Err(e) = crate::identity::trusted::Trusted::load(issuer, now_ms).await {
            problems.push(format!("auth.trusted_issuers: {e}"));
        }
    }
    if !production {
        report.warnings = checks::open_route_warnings(&config);
    }
    report
        .warnings
        .extend(config.auth.migration_windows(now_ms / 1000));
    report
        .warnings
        .extend(super::overlap::overlap_warnings(&config));
    report
        .warnings
        .extend(config.retention.moved_warnings(&config.audit));
    let mut seen = std::collections::HashSet::new();
    problems.retain(|p| seen.insert(p.clone()));
    report.problems = problems;
    report
}

/// With the store reachable and its schema current: `secret://` references read from it, and
/// the master key must unwrap its keyring. Opening a current schema writes nothing.
async fn store_checks(
    config: &mut Config,
    env: Environment,
    secret_refs: &[String],
    vars: &dyn Fn(&str) -> Option<String>,
) -> Vec<String> {
    let store = match palisade_store::open_store_with(
        &config.store.url,
        &config.server.data_dir,
        &config.store.postgres_options(),
    )
    .await
    {
        Ok(store) => store,
        Err(e) => return vec![format!("store: {e}")],
    };
    let Some(master) = config.secrets.master.clone() else {
        // Dev without a key file yet: the first start generates one, which wraps nothing.
        return secret_refs
            .iter()
            .map(|key| {
                format!(
                    "{key}: secret:// references need the master key, and the data dir has none yet"
                )
            })
            .collect();
    };
    if let Err(e) = KeyringService::check(&store, &master).await {
        return vec![format!("keyring: {e}")];
    }
    if secret_refs.is_empty() {
        return Vec::new();
    }
    refs::resolve(config, env, Some(store), vars)
        .await
        .err()
        .unwrap_or_default()
}

/// Why start-up could not create or use `dir` as its data dir: it, or its nearest existing
/// ancestor, is not a directory. (Permissions are left to the start, which reports them.)
pub fn data_dir_problem(dir: &std::path::Path) -> Option<String> {
    let existing = dir.ancestors().find(|a| a.exists())?;
    (!existing.is_dir()).then(|| {
        format!(
            "server.data_dir {}: {} is not a directory",
            dir.display(),
            existing.display()
        )
    })
}

/// A URL without its password, for messages.
pub(crate) fn redacted_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://…@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}
