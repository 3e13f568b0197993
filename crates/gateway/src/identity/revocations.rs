//! The store is the record of revocations and blocks; hot state only answers fast.
//!
//! Guarantees:
//! - **Written when they happen, record first.** Every revocation writes the store before it
//!   sets its hot-state flag: access tokens (`revoked_tokens`, by logout and "revoke all"),
//!   sessions (`sessions.revoked_at`: logout, revoke-all, admin and CLI revocations, refresh
//!   reuse, alert `revoke_sessions`), API keys (`api_keys.revoked_at`, through
//!   [`Identity::revoke_api_key`] for the HTTP API, the CLI and alert `disable_api_key`) and IP
//!   blocks (`ip_blocks`: threat-level blocks and alert `block_ip`, see `brute.rs`); an unblock
//!   removes the record first. A flag write that fails after its record was written is made good
//!   by the next priming.
//! - **Primed from the record** ([`Identity::prime_hot_state`]): at start, before the listener
//!   opens (a gateway that cannot prime does not start); after every [`Notice::Missed`] (the
//!   shared hot state's subscription dropped, or a flag read found Redis without its epoch, see
//!   `palisade_store::redis_hot`), retried every second until it succeeds; and when the 10-second
//!   sync finds the hot state lost its memory. Flags restored: tokens until their recorded
//!   expiry, sessions and keys revoked within their flag's lifetime, blocks until they end.
//!   Until a Redis that lost its memory is primed again, revocation reads fail (503) and block
//!   reads are answered from each replica's mirror: nothing revoked passes meanwhile.
//! - **Pruned** by the retention job (`crate::retention`), `retention.expired_revocations`
//!   after they ended, in bounded batches.

use super::Identity;
use palisade_store::identity::RevocationReason;
use palisade_store::{Notice, StoreError, StoreResult};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// Attempts at priming before giving up until the next trigger (each restarts when the hot
/// state lost its memory while being primed).
const PRIME_ATTEMPTS: usize = 3;

impl Identity {
    /// Revokes an API key for `reason`: its record in the store, then its flag and cached
    /// verification. The HTTP API, the CLI and the alert action all call this. Returns whether
    /// it was active.
    pub async fn revoke_api_key(&self, id: Uuid, reason: RevocationReason) -> StoreResult<bool> {
        let was_active = self
            .store
            .api_key_revoke(id, self.now_ms() as i64, reason)
            .await?;
        self.revoke_key_flags(id).await?;
        Ok(was_active)
    }

    /// Restores every revocation and block in force from the store into hot state. Returns how
    /// many flags were written.
    pub async fn prime_hot_state(&self) -> StoreResult<usize> {
        for _ in 0..PRIME_ATTEMPTS {
            let ticket = self.hot.prime_begin().await?;
            let flags = self.recorded_flags().await?;
            self.hot.restore_flags(&flags).await?;
            if self.hot.prime_end(&ticket).await? {
                metrics::counter!("palisade_hot_state_primings_total").increment(1);
                tracing::info!(
                    flags = flags.len(),
                    hot_state = self.hot.backend(),
                    "hot state primed from the store's revocations and blocks"
                );
                return Ok(flags.len());
            }
        }
        Err(StoreError::Unavailable(
            "the hot state kept losing its memory while being primed".into(),
        ))
    }

    /// The flags the store's records call for now, with the time each has left.
    async fn recorded_flags(&self) -> StoreResult<Vec<(String, Duration)>> {
        let now = self.now_ms() as i64;
        let left = |end: i64| u64::try_from(end - now).ok().filter(|ms| *ms > 0);
        let mut flags = Vec::new();
        for t in self.store.revoked_tokens_active(now).await? {
            if let Some(ms) = left(t.expires_at) {
                flags.push((super::jti_flag(&t.jti), Duration::from_millis(ms)));
            }
        }
        let session_ttl = self.session_flag_ttl().as_millis() as i64;
        for s in self.store.sessions_revoked_since(now - session_ttl).await? {
            if let Some(ms) = left(s.revoked_at + session_ttl) {
                flags.push((
                    super::sid_flag(&s.id.to_string()),
                    Duration::from_millis(ms),
                ));
            }
        }
        let key_ttl = self.key_flag_ttl().as_millis() as i64;
        for k in self.store.api_keys_revoked_since(now - key_ttl).await? {
            if let Some(ms) = left(k.revoked_at + key_ttl) {
                flags.push((
                    super::api_keys::revocation_flag(k.id),
                    Duration::from_millis(ms),
                ));
            }
        }
        for b in self.store.ip_blocks_active(now).await? {
            if let (Some(ms), Ok(ip)) = (left(b.until), b.ip.parse()) {
                flags.push((super::brute::block_key(ip), Duration::from_millis(ms)));
            }
        }
        Ok(flags)
    }

    /// The sync's share: prime again if the hot state lost its memory without anyone noticing
    /// yet (no flag read since).
    pub(super) async fn upkeep_revocations(&self) {
        match self.hot.lost_memory().await {
            Ok(false) => {}
            Ok(true) => {
                if let Err(e) = self.prime_hot_state().await {
                    tracing::error!(error = %e, "cannot prime the hot state; retrying");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot check the hot state's epoch"),
        }
    }

    /// Primes until it succeeds or the gateway stops (one attempt a second).
    async fn prime_until_done(&self, shutdown: &mut watch::Receiver<bool>) {
        loop {
            match self.prime_hot_state().await {
                Ok(_) => return,
                Err(e) => tracing::error!(error = %e, "cannot prime the hot state; retrying"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}

/// Primes the hot state again after every `Missed` notice (and re-reads the lockdown then and
/// on every lockdown broadcast), until the gateway stops.
pub async fn keep_primed(identity: Arc<Identity>, mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        let mut sub = match identity.hot.subscribe().await {
            Ok(sub) => sub,
            Err(e) => {
                tracing::warn!(error = %e, "hot-state notices unavailable; the sync checks for losses");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    _ = shutdown.changed() => return,
                }
            }
        };
        loop {
            tokio::select! {
                notice = sub.recv() => match notice {
                    Some(Notice::Missed) => {
                        identity.prime_until_done(&mut shutdown).await;
                        identity.refresh_lockdown().await;
                    }
                    Some(Notice::Message { topic, .. }) if topic == super::lockdown::TOPIC => {
                        identity.refresh_lockdown().await;
                    }
                    Some(Notice::Message { .. }) => {}
                    None => break,
                },
                _ = shutdown.changed() => return,
            }
        }
    }
}

impl Identity {
    /// Re-reads the lockdown from the store (logged when it cannot; the sync tries again).
    pub async fn refresh_lockdown(&self) {
        if let Err(e) = self.lockdown.refresh().await {
            tracing::warn!(error = %e, "cannot re-read the lockdown state");
        }
    }

    /// Tells live connections (the WebSocket relay) that a credential was revoked.
    pub fn revocation_noticed(&self) {
        self.revocations.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that changes at every revocation this replica writes (no polling: a relay
    /// waits on it, and on [`crate::hot::cache::flag_changes`] for other replicas' flags, then
    /// asks [`Identity::still_in_force`] about its own credential).
    pub fn watch_revocations(&self) -> watch::Receiver<u64> {
        self.revocations.subscribe()
    }

    /// Whether `principal`'s token, session and API key are still unrevoked. A hot state that
    /// cannot answer counts as revoked (fail closed, as a request would be refused).
    pub async fn still_in_force(&self, principal: &palisade_core::principal::Principal) -> bool {
        if self.check_revoked(principal).await.is_err() {
            return false;
        }
        match principal.key_id.as_deref().map(str::parse::<Uuid>) {
            Some(Ok(id)) => matches!(
                self.hot
                    .has_flag(&super::api_keys::revocation_flag(id))
                    .await,
                Ok(false)
            ),
            _ => true,
        }
    }
}
