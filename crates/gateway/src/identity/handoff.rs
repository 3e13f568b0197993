//! Hand-offs from the CLI to a running gateway on the embedded default. The CLI revokes and
//! unblocks through the same `Identity` functions as the HTTP API (the store's record first,
//! then its own hot state: on Redis every replica sees it at once), but it cannot reach an
//! embedded gateway's in-memory hot state, so it also queues the action in the store
//! (`identity.handoff`, a short JSON list), applied by the gateway's periodic sync (every
//! 10 s). Entries older than a day are dropped when the CLI writes. A gateway started later
//! needs no hand-off: it primes its hot state from the record (`revocations.rs`).

use super::Identity;
use palisade_store::identity::RevocationReason;
use palisade_store::{Store, StoreResult};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

const KEY: &str = "identity.handoff";
const KEEP_MS: u64 = 86_400_000;

/// What the CLI asks a running gateway to apply to its hot state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// Revoke every session of the user (disabled, roles changed).
    RevokeUser {
        /// The account's id.
        user_id: String,
    },
    /// Revoke one API key.
    RevokeKey {
        /// The key's id.
        key_id: String,
    },
    /// Lift an IP block.
    Unblock {
        /// The address, as `IpAddr` displays it.
        ip: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    at_ms: u64,
    #[serde(flatten)]
    action: Action,
}

/// What this process has applied so far.
pub struct Handoff {
    applied_until_ms: AtomicU64,
}

impl Handoff {
    /// A handoff that has applied nothing before `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        Self {
            applied_until_ms: AtomicU64::new(now_ms),
        }
    }
}

async fn read(store: &dyn Store) -> StoreResult<Vec<Entry>> {
    Ok(store
        .meta_get(KEY)
        .await?
        .and_then(|raw| serde_json::from_str(&raw).ok())
        .unwrap_or_default())
}

/// Queues an action for running gateways (called by the CLI).
pub async fn queue_handoff(store: &dyn Store, action: Action, now_ms: u64) -> StoreResult<()> {
    let mut entries = read(store).await?;
    entries.retain(|e| e.at_ms + KEEP_MS > now_ms);
    entries.push(Entry {
        at_ms: now_ms,
        action,
    });
    let raw = serde_json::to_string(&entries).expect("plain entries serialize");
    store.meta_put(KEY, &raw).await
}

impl Identity {
    pub(super) async fn apply_handoffs(&self) {
        let since = self.handoff.applied_until_ms.load(Ordering::Relaxed);
        let entries = match read(self.store.as_ref()).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read CLI hand-offs");
                return;
            }
        };
        let mut newest = since;
        for entry in entries.into_iter().filter(|e| e.at_ms > since) {
            newest = newest.max(entry.at_ms);
            let result = match &entry.action {
                Action::RevokeUser { user_id } => match user_id.parse() {
                    Ok(id) => self
                        .revoke_user_sessions(id, RevocationReason::Admin)
                        .await
                        .map(|_| ()),
                    Err(_) => Ok(()),
                },
                Action::RevokeKey { key_id } => match key_id.parse() {
                    Ok(id) => self.revoke_key_flags(id).await,
                    Err(_) => Ok(()),
                },
                Action::Unblock { ip } => match ip.parse() {
                    Ok(ip) => self.brute.unblock(ip).await.map(|_| ()),
                    Err(_) => Ok(()),
                },
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, action = ?entry.action, "cannot apply a CLI hand-off");
                return; // retried at the next sync
            }
        }
        self.handoff
            .applied_until_ms
            .store(newest, Ordering::Relaxed);
    }

    /// Makes a revoked key fail everywhere at once: hot-state flag plus cache drop.
    pub async fn revoke_key_flags(&self, id: uuid::Uuid) -> StoreResult<()> {
        self.hot
            .set_flag(&super::api_keys::revocation_flag(id), self.key_flag_ttl())
            .await?;
        self.api_keys.forget(id);
        self.revocation_noticed();
        Ok(())
    }

    /// How long a revoked key's flag must live: past every replica's cached verification.
    pub(super) fn key_flag_ttl(&self) -> std::time::Duration {
        self.config.api_keys.cache_ttl.0 + std::time::Duration::from_secs(60)
    }
}
