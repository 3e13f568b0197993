//! The gateway's background duties on the control runtime, each until shutdown: the alert
//! engine, identity's 10-second sync (hand-offs, signing keys, `last_used_at`, tenants, idle
//! limiter keys), keeping hot state primed from the record, the daily retention job, the deletion
//! webhook's outbox (when configured), the refusal
//! sampler's flush, keyring upkeep (re-encryption), the scheduled access review (`[review]`),
//! the mail worker (`[smtp]`) and, when configured, the memory sample the
//! admission gate reads.

use crate::state::AppState;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long a shutdown waits for the duties' last work (the final sign-in and key-use flush, a
/// batch under way) before it cuts them short.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// The running duties. A shutdown awaits them ([`Duties::finish`]), so their last writes land
/// before the runtime goes: a write cut off mid-transaction would hold its row locks until the
/// connection is dropped.
#[derive(Debug, Default)]
pub(crate) struct Duties(JoinSet<()>);

impl Duties {
    /// Waits, once `shutdown` turned true, for every duty to return; those still running after
    /// [`DRAIN`] (a backend that hangs) are aborted, with a warning.
    pub(crate) async fn finish(mut self) {
        let all = async { while self.0.join_next().await.is_some() {} };
        if tokio::time::timeout(DRAIN, all).await.is_err() {
            tracing::warn!(
                running = self.0.len(),
                "background duties did not stop within 10 s of the shutdown; cut short"
            );
            self.0.abort_all();
        }
    }
}

/// Starts every duty; each stops when `shutdown` turns true.
pub(crate) fn spawn(state: &Arc<AppState>, shutdown: &watch::Receiver<bool>) -> Duties {
    let mut duties = JoinSet::new();
    crate::audit::alerts::start(
        &state.config.audit.alerts,
        state.hot.clone(),
        state.clock.clone(),
        state.audit.clone(),
        state.identity.clone(),
        shutdown.clone(),
    );
    duties.spawn(identity_sync(state.clone(), shutdown.clone()));
    duties.spawn(crate::identity::revocations::keep_primed(
        state.identity.clone(),
        shutdown.clone(),
    ));
    duties.spawn(daily_retention(state.clone(), shutdown.clone()));
    if let Some(webhook) = crate::audit::deletion_webhook::DeletionWebhook::new(
        &state.config,
        state.store.clone(),
        state.clock.clone(),
    ) {
        duties.spawn(webhook.run(shutdown.clone()));
    }
    duties.spawn(crate::audit::review::schedule(
        state.clone(),
        shutdown.clone(),
    ));
    duties.spawn(flush_refusals(state.clone(), shutdown.clone()));
    duties.spawn(keyring_upkeep(state.clone(), shutdown.clone()));
    duties.spawn(state.identity.mail.clone().run(shutdown.clone()));
    if state.admission.watches_memory() {
        duties.spawn(sample_memory(state.clone(), shutdown.clone()));
    }
    Duties(duties)
}

/// Stores, once a second, the refusal samples whose period has ended (the final flush is in
/// [`RunningGateway::wait`](super::RunningGateway::wait)).
async fn flush_refusals(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*shutdown.borrow() {
        tokio::select! {
            _ = every.tick() => {
                state.audit.flush_refusals(false);
            }
            changed = shutdown.changed() => if changed.is_err() { break },
        }
    }
}

/// Runs the retention job ([`crate::retention::run`]) once a day, at `retention.run_at` (UTC)
/// or at the first check after it.
async fn daily_retention(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let Some(at_minute) = state.config.retention.run_minute(&state.config.audit) else {
        return;
    };
    let origin = crate::audit::RequestOrigin::default();
    let by = crate::identity::manage::By {
        actor: "retention".into(),
        origin: &origin,
    };
    let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
    let mut last_day = None;
    while !*shutdown.borrow() {
        tokio::select! {
            _ = every.tick() => {
                let now = state.clock.now_millis();
                let (day, minute) = (now / 86_400_000, (now % 86_400_000) / 60_000);
                if minute as u32 >= at_minute && last_day != Some(day) {
                    last_day = Some(day);
                    let trail = state.audit.trail().map(|t| t.as_ref());
                    let config = &state.config.retention;
                    let log = state.config.erasure_log();
                    if let Err(e) = crate::retention::run(
                        &state.identity, trail, config, Some(&log), false, &by,
                    )
                    .await
                    {
                        tracing::error!(error = %e, "retention run failed; the next one retries");
                    }
                }
            }
            changed = shutdown.changed() => if changed.is_err() { break },
        }
    }
}

/// Reloads the keyring and runs the re-encryption job every `secret_store.reencrypt_interval`
/// (the job does nothing when every value is under the primary key).
async fn keyring_upkeep(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(state.config.secret_store.reencrypt_interval.0);
    while !*shutdown.borrow() {
        tokio::select! {
            _ = every.tick() => {
                if let Err(e) = state.keyring.reencrypt_all().await {
                    tracing::error!(error = %e, "keyring re-encryption failed; retrying later");
                }
            }
            changed = shutdown.changed() => if changed.is_err() { break },
        }
    }
}

/// Feeds the admission gate the process's resident memory, once a second.
async fn sample_memory(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    while !*shutdown.borrow() {
        tokio::select! {
            _ = every.tick() => {
                if let Some(bytes) = crate::layers::admission::resident_bytes() {
                    state.admission.report_memory(bytes);
                }
            }
            changed = shutdown.changed() => if changed.is_err() { break },
        }
    }
}

/// Identity's periodic duties on the control runtime, with a last flush at shutdown.
async fn identity_sync(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(10));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    while !*shutdown.borrow() {
        tokio::select! {
            _ = every.tick() => {
                state.identity.sync().await;
                state.throttle.evict_idle();
                if let Err(e) = state.tenants.reload().await {
                    tracing::warn!(error = %e, "cannot refresh tenants");
                }
            }
            changed = shutdown.changed() => if changed.is_err() { break },
        }
    }
    state.identity.flush_touches().await;
}
