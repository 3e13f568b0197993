//! Lockdown: the gateway refuses every request (503 `lockdown`) except administrators'
//! sign-in, the admin API for administrators and the ops endpoints, until it is lifted.
//!
//! The state is kept in the durable store (meta key [`META_KEY`]), so it survives restarts and
//! every replica on one store shares it; each replica holds it in an atomic flag, which is all
//! the hot path reads. Replicas converge: [`Lockdown::set`] writes the store first, then
//! broadcasts [`TOPIC`] on the hot state (every replica sharing it re-reads the store at once,
//! see `revocations::keep_primed`), and every replica re-reads the store at each identity sync
//! (every 10 s), so a replica that missed the broadcast (or a CLI on a memory hot state) is
//! behind by at most 10 s. A gateway that cannot read the state at start does not start.
//!
//! One use case: the HTTP API (`POST /admin/lockdown`), the CLI (`palisade lockdown on|off`)
//! and the alert action `lockdown` call [`Lockdown::set`], which records `gateway.lockdown_on`
//! / `gateway.lockdown_off`.

use super::manage::By;
use crate::audit::{AuditLog, Risk};
use palisade_core::clock::SharedClock;
use palisade_store::{SharedHotState, SharedStore, StoreResult};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// The store's meta key holding the state (JSON).
pub const META_KEY: &str = "gateway.lockdown";
/// The hot-state broadcast topic telling replicas to re-read it.
pub const TOPIC: &str = "lockdown";
/// How long a replica may lag behind a change at most (the identity sync's period).
pub const PROPAGATION_BOUND_SECS: u64 = 10;

/// The lockdown as stored and as `GET /admin/lockdown` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LockdownState {
    /// Whether the gateway is locked down.
    pub on: bool,
    /// Why (as given when it was switched).
    #[serde(default)]
    pub reason: Option<String>,
    /// Who switched it last (a user id, `cli`, `palisade:alerts`).
    #[serde(default)]
    pub by: Option<String>,
    /// When it was switched last, in Unix milliseconds.
    #[serde(default)]
    pub since_ms: u64,
}

/// One replica's view of the lockdown, and the use case that switches it.
pub struct Lockdown {
    on: AtomicBool,
    state: RwLock<LockdownState>,
    store: SharedStore,
    hot: SharedHotState,
    audit: Arc<AuditLog>,
    clock: SharedClock,
}

/// The longest reason kept.
pub const MAX_REASON: usize = 500;

impl Lockdown {
    /// Reads the stored state; an error if the store cannot answer (the gateway does not start).
    pub async fn load(
        store: SharedStore,
        hot: SharedHotState,
        audit: Arc<AuditLog>,
        clock: SharedClock,
    ) -> StoreResult<Self> {
        let me = Self {
            on: AtomicBool::new(false),
            state: RwLock::new(LockdownState::default()),
            store,
            hot,
            audit,
            clock,
        };
        me.refresh().await?;
        Ok(me)
    }

    /// Whether the gateway is locked down (one atomic load: the hot path's check).
    #[inline]
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }

    /// The state as this replica last read it.
    pub fn status(&self) -> LockdownState {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Re-reads the stored state. A stored value that does not parse counts as locked down
    /// (fail closed) and is logged.
    pub async fn refresh(&self) -> StoreResult<()> {
        let stored = match self.store.meta_get(META_KEY).await? {
            None => LockdownState::default(),
            Some(json) => serde_json::from_str(&json).unwrap_or_else(|e| {
                tracing::error!(error = %e, "the stored lockdown state does not parse: locked down");
                LockdownState {
                    on: true,
                    reason: Some("unreadable lockdown state".into()),
                    ..Default::default()
                }
            }),
        };
        self.apply(stored);
        Ok(())
    }

    fn apply(&self, state: LockdownState) {
        let on = state.on;
        *self.state.write().unwrap_or_else(|p| p.into_inner()) = state;
        let was = self.on.swap(on, Ordering::AcqRel);
        if was != on {
            tracing::warn!(target: "palisade::lockdown", on, "lockdown state changed");
        }
    }

    /// Locks the gateway down (`on`) or lifts it: the store first, then this replica, then the
    /// broadcast to the others; records `gateway.lockdown_on` / `gateway.lockdown_off`.
    pub async fn set(
        &self,
        on: bool,
        reason: Option<String>,
        by: &By<'_>,
    ) -> StoreResult<LockdownState> {
        let reason = reason
            .map(|r| r.trim().chars().take(MAX_REASON).collect::<String>())
            .filter(|r| !r.is_empty());
        let state = LockdownState {
            on,
            reason,
            by: Some(by.actor.clone()),
            since_ms: self.clock.now_millis(),
        };
        let json = serde_json::to_string(&state).unwrap_or_default();
        self.store.meta_put(META_KEY, &json).await?;
        self.apply(state.clone());
        if let Err(e) = self.hot.publish(TOPIC, if on { "on" } else { "off" }).await {
            tracing::warn!(error = %e, "lockdown not broadcast; replicas follow within {PROPAGATION_BOUND_SECS} s");
        }
        let (event, risk) = if on {
            ("gateway.lockdown_on", Risk::Critical)
        } else {
            ("gateway.lockdown_off", Risk::High)
        };
        self.audit.record(
            by.event(event, risk, "gateway".into())
                .details(serde_json::json!({ "reason": state.reason })),
        );
        Ok(state)
    }
}

impl std::fmt::Debug for Lockdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lockdown")
            .field("on", &self.is_on())
            .finish_non_exhaustive()
    }
}
