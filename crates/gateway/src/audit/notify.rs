//! The alert channels of `[audit.alerts]`: the signed webhook (`webhook_url`, HMAC-SHA256 in
//! `X-Palisade-Signature`) and e-mail (`email_to`, through `[smtp]`). The alert engine sends
//! incidents through them and the scheduled access review its findings.
//!
//! Guarantees: a delivery never blocks its caller (each runs on its own task); a failed one is
//! retried `webhook_retries` times with backoff from `webhook_backoff`, doubled each time (at
//! most 5 minutes); its result is recorded as `incident.updated` naming what was delivered
//! (`incident_id` or `review_id`) and, for e-mail, the recipient by its position in
//! `email_to`, never the address.

use crate::audit::alerts::{ALERTS_ACTOR, signature};
use crate::audit::{AuditEvent, AuditLog, Outcome, Risk};
use crate::config::alerts::AlertsConfig;
use crate::mail::{Mail, Mailer};
use palisade_core::clock::SharedClock;
use std::sync::Arc;
use std::time::Duration;

/// The webhook and e-mail channels, ready to send.
#[derive(Clone)]
pub struct Notifier {
    config: AlertsConfig,
    http: reqwest::Client,
    clock: SharedClock,
    audit: Arc<AuditLog>,
    mail: Arc<Mailer>,
}

impl Notifier {
    /// The channels `config` names; `mail` is the `[smtp]` mailer.
    pub fn new(
        config: &AlertsConfig,
        clock: SharedClock,
        audit: Arc<AuditLog>,
        mail: Arc<Mailer>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(config.webhook_timeout.0)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            config: config.clone(),
            http,
            clock,
            audit,
            mail,
        }
    }

    /// POSTs `body` (JSON) to the webhook, signed, as `event` (`X-Palisade-Event`); nothing
    /// without a `webhook_url`. `subject` is what it is about, as `(field, id)`.
    pub fn webhook(&self, event: &'static str, subject: (&'static str, &str), body: Vec<u8>) {
        let (Some(url), Some(secret)) = (
            self.config.webhook_url.clone(),
            self.config.webhook_secret.clone(),
        ) else {
            return;
        };
        let (http, clock, audit) = (self.http.clone(), self.clock.clone(), self.audit.clone());
        let (retries, backoff) = (self.config.webhook_retries, self.config.webhook_backoff.0);
        let (field, id) = (subject.0, subject.1.to_owned());
        tokio::spawn(async move {
            let delivery = uuid::Uuid::now_v7().to_string();
            let tried = with_retries(retries, backoff, || {
                let sig = signature(&secret, clock.now_millis() / 1000, &body);
                let sent = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-palisade-signature", sig)
                    .header("x-palisade-event", event)
                    .header("x-palisade-delivery", &delivery)
                    .body(body.clone())
                    .send();
                async move {
                    match sent.await {
                        Ok(r) if r.status().is_success() => Ok(()),
                        Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
                        Err(e) => Err(format!("{}", e.without_url())),
                    }
                }
            })
            .await;
            if !tried.delivered {
                tracing::error!(%field, %id, attempts = tried.attempts, error = %tried.error, "webhook not delivered");
            }
            audit.record(tried.event("webhook", (field, &id), None));
        });
    }

    /// Mails `text` to every `email_to` address, each on its own task with retries; nothing
    /// (logged) without `[smtp]`. `kind` names the mail for the mailer's records.
    pub fn email(
        &self,
        subject_of: (&'static str, &str),
        kind: &'static str,
        subject: &str,
        text: &str,
    ) {
        if self.config.email_to.is_empty() {
            return;
        }
        if !self.mail.enabled() {
            tracing::error!(kind, "alert e-mail not sent: [smtp] is not configured");
            return;
        }
        let (field, id) = subject_of;
        for (index, to) in self.config.email_to.iter().enumerate() {
            let mail = Mail {
                to: to.clone(),
                subject: subject.to_owned(),
                body: text.to_owned(),
                kind,
                account: ALERTS_ACTOR.into(),
            };
            let (mailer, audit) = (self.mail.clone(), self.audit.clone());
            let (retries, backoff) = (self.config.webhook_retries, self.config.webhook_backoff.0);
            let id = id.to_owned();
            tokio::spawn(async move {
                let tried = with_retries(retries, backoff, || mailer.send_now(&mail)).await;
                if !tried.delivered {
                    tracing::error!(%field, %id, attempts = tried.attempts, error = %tried.error, "alert e-mail not delivered");
                }
                audit.record(tried.event("email", (field, &id), Some(index)));
            });
        }
    }
}

/// How a delivery with retries went.
struct Tried {
    delivered: bool,
    attempts: u32,
    error: String,
}

impl Tried {
    /// `incident.updated` with the delivery's result under `channel` (`webhook`, `email`).
    fn event(&self, channel: &str, subject: (&str, &str), recipient: Option<usize>) -> AuditEvent {
        let mut result = serde_json::json!({
            "delivered": self.delivered,
            "attempts": self.attempts,
            "error": (!self.delivered).then_some(&self.error),
        });
        if let Some(i) = recipient {
            result["recipient"] = i.into();
        }
        AuditEvent::new(
            "incident.updated",
            if self.delivered {
                Risk::Low
            } else {
                Risk::High
            },
            if self.delivered {
                Outcome::Success
            } else {
                Outcome::Failure
            },
        )
        .actor(ALERTS_ACTOR)
        .details(serde_json::json!({ subject.0: subject.1, channel: result }))
    }
}

/// Runs `attempt` once and up to `retries` times more while it fails, waiting `backoff`
/// between tries, doubled each time (at most 5 minutes).
async fn with_retries<F, Fut>(retries: u32, backoff: Duration, mut attempt: F) -> Tried
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut wait = backoff;
    let mut tried = Tried {
        delivered: false,
        attempts: 0,
        error: String::new(),
    };
    while tried.attempts <= retries {
        tried.attempts += 1;
        match attempt().await {
            Ok(()) => {
                tried.delivered = true;
                return tried;
            }
            Err(e) => tried.error = e,
        }
        if tried.attempts <= retries {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(300));
        }
    }
    tried
}
