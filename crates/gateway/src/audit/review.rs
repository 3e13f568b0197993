//! The scheduled access review (`[review] enabled`): every `every`, one replica runs
//! [`Identity::access_review`](crate::identity::Identity::access_review) (the function
//! `palisade review access` runs), records `review.access` (counts and ids, never an e-mail
//! address) and sends the findings through the alert channels ([`Notifier`]: the webhook as
//! `X-Palisade-Event: review.access`, a text mail to `email_to`).
//!
//! Which replica: the duty looks every hour (and at start) whether the current period (the
//! injected clock divided by `every`) has been claimed in hot state; the first replica to
//! claim it runs the review, so replicas sharing a Redis run it once a period. On the embedded
//! memory hot state a restart within a period may run it again.

use crate::audit::alerts::ALERTS_ACTOR;
use crate::audit::notify::Notifier;
use crate::audit::{AuditEvent, Outcome, Risk};
use crate::identity::review::AccessReview;
use crate::state::AppState;
use palisade_store::StoreResult;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Runs the review now, records it and notifies (what the schedule does once a period).
pub async fn run(state: &AppState) -> StoreResult<AccessReview> {
    let authz = state.authz.clone();
    let is_admin = move |roles: &[String]| authz.is_admin(roles);
    let review = state
        .identity
        .access_review(&state.config.review, &is_admin)
        .await?;
    let review_id = uuid::Uuid::now_v7().to_string();
    let ids = |list: Vec<uuid::Uuid>| serde_json::json!(list);
    state.audit.record(
        AuditEvent::new("review.access", Risk::Medium, Outcome::Success)
            .actor(ALERTS_ACTOR)
            .details(serde_json::json!({
                "review_id": review_id,
                "counts": review.counts(),
                "unused_accounts": ids(review.unused_accounts.iter().map(|a| a.id).collect()),
                "unused_keys": ids(review.unused_keys.iter().map(|k| k.id).collect()),
                "old_keys": ids(review.old_keys.iter().map(|k| k.id).collect()),
                "admins_without_mfa": ids(review.admins_without_mfa.iter().map(|a| a.id).collect()),
            })),
    );
    let notifier = Notifier::new(
        &state.config.audit.alerts,
        state.clock.clone(),
        state.audit.clone(),
        state.identity.mail.clone(),
    );
    let body = serde_json::json!({ "review_id": review_id, "review": review });
    notifier.webhook(
        "review.access",
        ("review_id", &review_id),
        serde_json::to_vec(&body).unwrap_or_default(),
    );
    let findings = review.unused_accounts.len()
        + review.unused_keys.len()
        + review.old_keys.len()
        + review.admins_without_mfa.len();
    notifier.email(
        ("review_id", &review_id),
        "access_review",
        &format!("[palisade] access review: {findings} findings"),
        &review.to_text(),
    );
    Ok(review)
}

/// The schedule: until shutdown, each hour, runs the review when this replica claims the
/// current period.
pub(crate) async fn schedule(state: Arc<AppState>, mut shutdown: watch::Receiver<bool>) {
    if !state.config.review.enabled {
        return;
    }
    let mut every = tokio::time::interval(Duration::from_secs(3_600));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*shutdown.borrow() {
        tokio::select! {
            _ = every.tick() => {
                if claim_period(&state).await {
                    match run(&state).await {
                        Ok(r) => tracing::info!(counts = %r.counts(), "access review done"),
                        Err(e) => tracing::warn!(error = %e, "access review failed"),
                    }
                }
            }
            changed = shutdown.changed() => if changed.is_err() { break },
        }
    }
}

/// True for the first replica (sharing this hot state) to ask in the current period.
pub async fn claim_period(state: &AppState) -> bool {
    let period = state.config.review.every.0;
    let index = state.clock.now_millis() / (period.as_millis().max(1) as u64);
    match state
        .hot
        .incr(&format!("review:access:{index}"), period)
        .await
    {
        Ok(n) => n == 1,
        Err(e) => {
            tracing::warn!(error = %e, "access review skipped: hot state unavailable");
            false
        }
    }
}
