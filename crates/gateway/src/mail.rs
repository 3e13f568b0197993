//! Sending mail through the `[smtp]` relay, off the request path: a bounded queue of jobs and
//! one worker (a gateway duty) that runs them in order. A job is a future that yields the mail
//! to send, or nothing: a flow whose answer must not depend on the account (a password reset)
//! queues the whole lookup, so the request itself does the same work for every address.
//!
//! Guarantees: a request never waits for the relay and never fails because of it; a full
//! queue drops the job and a failed delivery is logged and recorded as `mail.send_failed`
//! (kind and account, never the address or the body); TLS is rustls on aws-lc-rs, with
//! STARTTLS required (never opportunistic) for `tls = "starttls"`. Without `[smtp]` the mailer
//! is off: [`Mailer::enabled`] is false and jobs are refused.

use crate::audit::{AuditEvent, AuditLog, Outcome, Risk};
use crate::config::email::{SmtpConfig, SmtpTls};
use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// One message, plain text.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
    /// What it is, for the trail (`password_reset`, `email_verification`, a notice kind).
    pub kind: &'static str,
    /// The account it is about, as the trail names it.
    pub account: String,
}

/// A queued job: the mail to send once it has run, if any.
pub type Job = Pin<Box<dyn Future<Output = Option<Mail>> + Send>>;

/// The relay and its queue (see the module doc).
pub struct Mailer {
    relay: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    queue: mpsc::Sender<Job>,
    jobs: Mutex<Option<mpsc::Receiver<Job>>>,
    audit: Arc<AuditLog>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("enabled", &self.enabled())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The mailer of `[smtp]` (off when `host` is empty); fails naming what is wrong.
    pub fn new(config: &SmtpConfig, audit: Arc<AuditLog>) -> Result<Self, String> {
        let (queue, jobs) = mpsc::channel(config.queue.max(1));
        let relay = if config.enabled() {
            let from: Mailbox = config.from.parse().map_err(|e| format!("smtp.from: {e}"))?;
            let builder = match config.tls {
                SmtpTls::Starttls => {
                    AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                        .map_err(|e| format!("smtp.host: {e}"))?
                }
                SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)
                    .map_err(|e| format!("smtp.host: {e}"))?,
                SmtpTls::None => {
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())
                }
            };
            let mut builder = builder.port(config.port).timeout(Some(config.timeout.0));
            if !config.username.is_empty() {
                builder = builder.credentials(Credentials::new(
                    config.username.clone(),
                    config.password.clone(),
                ));
            }
            Some((builder.build(), from))
        } else {
            None
        };
        Ok(Self {
            relay,
            queue,
            jobs: Mutex::new(Some(jobs)),
            audit,
        })
    }

    /// Whether `[smtp]` is configured.
    pub fn enabled(&self) -> bool {
        self.relay.is_some()
    }

    /// Queues `job`; false (logged and on record) when the mailer is off or the queue is full.
    pub fn queue(
        &self,
        kind: &'static str,
        job: impl Future<Output = Option<Mail>> + Send + 'static,
    ) -> bool {
        if !self.enabled() {
            return false;
        }
        match self.queue.try_send(Box::pin(job)) {
            Ok(()) => true,
            Err(_) => {
                tracing::warn!(kind, "mail queue full: a mail was dropped");
                self.failed(kind, None, "queue-full");
                false
            }
        }
    }

    /// Queues `mail` as it is.
    pub fn send(&self, mail: Mail) -> bool {
        let kind = mail.kind;
        self.queue(kind, async move { Some(mail) })
    }

    fn failed(&self, kind: &str, account: Option<&str>, reason: &str) {
        let mut event = AuditEvent::new("mail.send_failed", Risk::Medium, Outcome::Failure)
            .details(serde_json::json!({ "kind": kind, "reason": reason }));
        if let Some(a) = account {
            event = event.resource(format!("user:{a}"));
        }
        self.audit.record(event);
    }

    /// The worker: runs the queued jobs in order and delivers their mail, until `shutdown`
    /// (a duty; only the first call runs, later ones return at once).
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let Some(mut jobs) = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        loop {
            let job = tokio::select! {
                job = jobs.recv() => match job { Some(j) => j, None => return },
                _ = shutdown.changed() => return,
            };
            if let Some(mail) = job.await {
                self.deliver(mail).await;
            }
        }
    }

    async fn deliver(&self, mail: Mail) {
        if let Err(e) = self.send_now(&mail).await {
            tracing::warn!(kind = mail.kind, error = %e, "a mail could not be delivered");
            // The relay's answer, cut short: the trail keeps why, not a whole server reply.
            let reason: String = e.chars().take(200).collect();
            self.failed(mail.kind, Some(&mail.account), &reason);
        }
    }

    /// Hands `mail` to the relay now, outside the queue (a sender that retries and records the
    /// outcome itself: the alert engine's `email` action). `Err` says why, for the trail.
    pub async fn send_now(&self, mail: &Mail) -> Result<(), String> {
        let Some((relay, from)) = &self.relay else {
            return Err("[smtp] is not configured".into());
        };
        let message = mail
            .to
            .parse::<Mailbox>()
            .map_err(|e| e.to_string())
            .and_then(|to| {
                Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(mail.subject.clone())
                    .header(ContentType::TEXT_PLAIN)
                    .body(mail.body.clone())
                    .map_err(|e| e.to_string())
            });
        match message {
            Ok(m) => relay.send(m).await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(format!("unusable message: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(host: &str, tls: SmtpTls) -> SmtpConfig {
        SmtpConfig {
            host: host.into(),
            tls,
            from: "Palisade <no-reply@example.com>".into(),
            username: "palisade".into(),
            password: "relay-password".into(),
            ..Default::default()
        }
    }

    #[test]
    fn every_tls_mode_builds_a_relay_and_none_is_off() {
        let audit = Arc::new(AuditLog::new(Default::default()));
        for tls in [SmtpTls::Starttls, SmtpTls::Tls] {
            let m = Mailer::new(&relay("smtp.example.com", tls), audit.clone()).unwrap();
            assert!(m.enabled());
        }
        let m = Mailer::new(&relay("127.0.0.1", SmtpTls::None), audit.clone()).unwrap();
        assert!(m.enabled());
        let off = Mailer::new(&SmtpConfig::default(), audit).unwrap();
        assert!(!off.enabled());
        assert!(
            !off.queue("test", async { None }),
            "an off mailer takes no job"
        );
    }
}
