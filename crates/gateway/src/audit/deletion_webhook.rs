//! The deletion webhook: tells the upstream that an account was erased, so it deletes its own
//! data. Messages come from the store's durable outbox (`deletion_outbox`, written in the
//! purge's transaction), so a message survives a crash or restart until it is delivered.
//!
//! The alert webhook's format: a JSON POST to `retention.deletion_webhook_url`, signed with
//! `retention.deletion_webhook_secret` in `X-Palisade-Signature` (`t=<unix>,v1=<hex
//! HMAC-SHA256(secret, "t.body")>`), `X-Palisade-Event: user.deleted` and
//! `X-Palisade-Delivery: <message id>` (the same on every retry: receivers deduplicate by it).
//! The body names the account by id and never holds its e-mail:
//! `{"event": "user.deleted", "user_id": "…", "erased_at": <unix ms>, "delivery": "…"}`.
//!
//! Guarantees: a message is marked delivered only after a 2xx answer; a failed attempt puts it
//! off by `audit.alerts.webhook_backoff` doubled per attempt (at most 5 minutes), on the
//! gateway's clock, and it is tried again until delivered (nothing queued is dropped); every
//! replica may deliver, and a message two replicas send at once reaches the receiver twice
//! under one delivery id.

use crate::audit::alerts::signature;
use palisade_core::clock::SharedClock;
use palisade_store::SharedStore;
use palisade_store::deletion::OutboxMessage;
use std::time::Duration;
use tokio::sync::watch;

/// The longest pause between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Messages sent per pass.
const PAGE: u32 = 100;

/// The outbox's sender.
#[derive(Clone)]
pub struct DeletionWebhook {
    url: String,
    secret: String,
    backoff: Duration,
    http: reqwest::Client,
    store: SharedStore,
    clock: SharedClock,
}

impl DeletionWebhook {
    /// The sender `retention.deletion_webhook_url` asks for (none without one), with the alert
    /// webhook's backoff and timeout.
    pub fn new(
        config: &crate::config::Config,
        store: SharedStore,
        clock: SharedClock,
    ) -> Option<Self> {
        let r = &config.retention;
        let (url, secret) = (
            r.deletion_webhook_url.clone()?,
            r.deletion_webhook_secret.clone()?,
        );
        let alerts = &config.audit.alerts;
        let http = reqwest::Client::builder()
            .timeout(alerts.webhook_timeout.0)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Some(Self {
            url,
            secret,
            backoff: alerts.webhook_backoff.0,
            http,
            store,
            clock,
        })
    }

    /// Sends every message due now, once each; returns how many were delivered.
    pub async fn deliver_due(&self) -> Result<usize, palisade_store::StoreError> {
        let now = self.clock.now_millis() as i64;
        let mut delivered = 0;
        for message in self.store.outbox_due(now, PAGE).await? {
            match self.send(&message).await {
                Ok(()) => {
                    self.store
                        .outbox_delivered(message.id, self.clock.now_millis() as i64)
                        .await?;
                    delivered += 1;
                    metrics::counter!("palisade_deletion_webhook_total", "result" => "delivered")
                        .increment(1);
                }
                Err(error) => {
                    let pause = self
                        .backoff
                        .saturating_mul(1 << message.attempts.min(16))
                        .min(MAX_BACKOFF);
                    let next = now.saturating_add(pause.as_millis() as i64);
                    tracing::warn!(delivery = %message.id, user = %message.user_id,
                        attempts = message.attempts + 1, %error, "deletion webhook not delivered; retrying");
                    self.store.outbox_failed(message.id, next, &error).await?;
                    metrics::counter!("palisade_deletion_webhook_total", "result" => "failed")
                        .increment(1);
                }
            }
        }
        Ok(delivered)
    }

    async fn send(&self, message: &OutboxMessage) -> Result<(), String> {
        let body = serde_json::to_vec(&serde_json::json!({
            "event": message.event,
            "user_id": message.user_id,
            "erased_at": message.created_at,
            "delivery": message.id,
        }))
        .map_err(|e| e.to_string())?;
        let sig = signature(&self.secret, self.clock.now_millis() / 1000, &body);
        match self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-palisade-signature", sig)
            .header("x-palisade-event", message.event.as_str())
            .header("x-palisade-delivery", message.id.to_string())
            .body(body)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
            Err(e) => Err(e.without_url().to_string()),
        }
    }

    /// Sends what is due once a second until shutdown (a restart picks up what is left).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !*shutdown.borrow() {
            tokio::select! {
                _ = every.tick() => {
                    if let Err(e) = self.deliver_due().await {
                        tracing::error!(error = %e, "deletion outbox unreadable; retrying");
                    }
                }
                changed = shutdown.changed() => if changed.is_err() { break },
            }
        }
    }
}
