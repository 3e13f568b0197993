//! The e-mail flows as use cases: address verification ([`Identity::request_email_verification`],
//! [`Identity::verify_email`]), password reset ([`Identity::request_password_reset`],
//! [`Identity::reset_password`]) and the holder's change of address
//! ([`Identity::change_email`]). Each records its own audit events; the HTTP API and the pages
//! only translate.
//!
//! Guarantees: tokens are 256 random bits (base64url), stored only as SHA-256 hex, single-use
//! (a conditional update in the store), dead after `auth.email.token_ttl` (20 minutes by
//! default) on the injected clock; using a reset token spends every other outstanding reset
//! token of the account, sets the new password (checked by the policy as at registration),
//! revokes every session and with them their refresh tokens, keeps the second factors
//! (ASVS 5.0 V6.4.3) and tells the user. A reset request does the same work on the request path
//! for every address (normalize, count, queue a job): whether an account exists is looked up
//! by the mail worker, so neither the answer nor its timing tells. Requests are counted per
//! client address (over `auth.email.max_per_ip` in `auth.email.window`: 429) and mails per
//! address (over `auth.email.max_per_address`: no mail, the same answer). A change of address
//! needs a sign-in at most `auth.email.recent_auth` old, notifies the old address, and leaves
//! the new one unverified with a verification mail on its way. Without `[smtp]` every flow is
//! refused with [`EmailRefused::MailOff`] before any work.

use super::Identity;
use super::manage::Refused;
use super::mfa::Notice;
use crate::audit::{AuditEvent, Outcome, RequestOrigin, Risk};
use crate::mail::Mail;
use palisade_core::mfa::assurance::{Assurance, Insufficient, Requirement};
use palisade_core::password::{PasswordContext, Violation};
use palisade_store::StoreError;
use palisade_store::email_flows::{EmailToken, EmailTokenPurpose};
use palisade_store::identity::{PrincipalKind, RevocationReason, UserRecord};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Why an e-mail flow did not happen.
#[derive(Debug)]
pub enum EmailRefused {
    /// `[smtp]` is not configured: 503.
    MailOff,
    /// Too many requests from this client address; retry after this long: 429.
    TooMany(Duration),
    /// The token is unknown, of another purpose, used or expired (one answer for all): 400.
    BadToken,
    /// The sign-in is too old for this change: the RFC 9470 challenge.
    StepUp(Insufficient),
    /// The caller has no Palisade account that could have an address (service account,
    /// disabled, another issuer's token): 403.
    NotAccount,
    /// The address is the account's already: 422.
    SameAddress,
    /// Input, policy, hashing pool, conflict or store.
    Refused(Refused),
}

impl From<StoreError> for EmailRefused {
    fn from(e: StoreError) -> Self {
        EmailRefused::Refused(Refused::Store(e))
    }
}

/// What asking for a verification mail came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationRequest {
    /// A mail is on its way.
    Queued,
    /// The address is verified already; nothing sent.
    AlreadyVerified,
}

fn digest(token: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    palisade_core::fingerprint::hex(d.as_ref())
}

/// A fresh token: 256 random bits, base64url.
fn new_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the OS random source failed");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The link (or the bare token when no page is configured) a mail carries.
fn link(base: &str, token: &str) -> String {
    if base.is_empty() {
        format!("Your code: {token}")
    } else {
        format!("{base}?token={token}")
    }
}

impl Identity {
    fn mail_on(&self) -> Result<(), EmailRefused> {
        if self.mail.enabled() {
            Ok(())
        } else {
            Err(EmailRefused::MailOff)
        }
    }

    /// Counts a request from `ip`; over the limit it is refused and on record.
    async fn count_client(
        &self,
        ip: IpAddr,
        flow: &str,
        origin: &RequestOrigin,
    ) -> Result<(), EmailRefused> {
        let cfg = &self.config.email;
        let n = self
            .hot
            .incr(&format!("em:ip:{}", digest(&ip.to_string())), cfg.window.0)
            .await?;
        if n > cfg.max_per_ip {
            self.audit.record_refusal(
                AuditEvent::new("auth.email_rate_limited", Risk::Medium, Outcome::Denied)
                    .origin(origin)
                    .details(serde_json::json!({ "flow": flow })),
            );
            return Err(EmailRefused::TooMany(cfg.window.0));
        }
        Ok(())
    }

    /// Counts a mail to `email`; false once the address had its share in the window.
    async fn count_address(&self, email: &str) -> Result<bool, StoreError> {
        let cfg = &self.config.email;
        let n = self
            .hot
            .incr(&format!("em:addr:{}", digest(email)), cfg.window.0)
            .await?;
        Ok(n <= cfg.max_per_address)
    }

    /// Stores a new token of `purpose` for `user`; the token in the clear, this once.
    async fn issue_token(
        &self,
        user: Uuid,
        purpose: EmailTokenPurpose,
    ) -> Result<String, StoreError> {
        let now = self.now_ms() as i64;
        let token = new_token();
        self.store
            .email_token_insert(&EmailToken {
                token_hash: digest(&token),
                user_id: user,
                purpose,
                created_at: now,
                expires_at: now + self.config.email.token_ttl.0.as_millis() as i64,
                used_at: None,
            })
            .await?;
        Ok(token)
    }

    /// Spends a presented token of `purpose` once `check` accepted its account: the account and
    /// what `check` made, or the refusal (on record as `auth.email_token_refused` with the
    /// reason). A refused check leaves the token unspent.
    async fn spend_token<T, F>(
        &self,
        presented: &str,
        purpose: EmailTokenPurpose,
        check: impl FnOnce(UserRecord) -> F,
        origin: &RequestOrigin,
    ) -> Result<(UserRecord, T), EmailRefused>
    where
        F: std::future::Future<Output = Result<T, EmailRefused>>,
    {
        let hash = digest(presented);
        let now = self.now_ms() as i64;
        let found = self
            .store
            .email_token_get(&hash)
            .await?
            .filter(|t| t.purpose == purpose);
        let reason = match &found {
            None => Some("unknown"),
            Some(t) if t.used_at.is_some() => Some("used"),
            Some(t) if t.expires_at <= now => Some("expired"),
            Some(_) => None,
        };
        let user = match (reason, &found) {
            (None, Some(t)) => self
                .store
                .user_by_id(t.user_id)
                .await?
                .filter(|u| !u.disabled && u.kind == PrincipalKind::Human),
            _ => None,
        };
        let refuse = |reason: &str, user: Option<&UserRecord>| {
            let mut event =
                AuditEvent::new("auth.email_token_refused", Risk::Medium, Outcome::Denied)
                    .origin(origin)
                    .details(serde_json::json!({ "purpose": purpose.as_str(), "reason": reason }));
            if let Some(u) = user {
                event = event
                    .actor(self.subject_of(u))
                    .resource(format!("user:{}", u.id));
            }
            self.audit.record_refusal(event);
        };
        let Some(user) = user else {
            refuse(reason.unwrap_or("account"), None);
            return Err(EmailRefused::BadToken);
        };
        let checked = match check(user.clone()).await {
            Ok(v) => v,
            Err(e) => {
                let why = match &e {
                    EmailRefused::Refused(Refused::WeakPassword(_)) => "weak-password",
                    _ => "refused",
                };
                refuse(why, Some(&user));
                return Err(e);
            }
        };
        if !self.store.email_token_consume(&hash, purpose, now).await? {
            refuse("used", Some(&user));
            return Err(EmailRefused::BadToken);
        }
        Ok((user, checked))
    }

    /// `POST /auth/password/forgot`: counts the client and the address and queues the rest
    /// (the lookup, the token, the mail, `auth.password_reset_requested`) for the mail worker;
    /// the caller's answer is the same whatever the address.
    pub async fn request_password_reset(
        self: &Arc<Self>,
        raw_email: &str,
        ip: IpAddr,
        origin: &RequestOrigin,
    ) -> Result<(), EmailRefused> {
        self.mail_on()?;
        self.count_client(ip, "password_reset", origin).await?;
        let email = palisade_core::email::normalize(raw_email).ok_or(EmailRefused::Refused(
            Refused::Invalid {
                slug: "invalid-email",
                detail: "The e-mail address is not valid.".into(),
            },
        ))?;
        let within_limit = self.count_address(&email).await?;
        let id = self.clone();
        let origin = origin.clone();
        self.mail.queue("password_reset", async move {
            id.reset_job(email, within_limit, origin).await
        });
        Ok(())
    }

    /// The worker's half of a reset request.
    async fn reset_job(
        &self,
        email: String,
        within_limit: bool,
        origin: RequestOrigin,
    ) -> Option<Mail> {
        let user = match self.store.user_by_email(&email).await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(error = %e, "password reset: the account lookup failed");
                None
            }
        };
        let usable = user
            .as_ref()
            .filter(|u| !u.disabled && u.kind == PrincipalKind::Human);
        let (sent, reason, token) = match usable {
            None => (false, "no-account", None),
            Some(_) if !within_limit => (false, "address-limit", None),
            Some(u) => match self.issue_token(u.id, EmailTokenPurpose::Reset).await {
                Ok(t) => (true, "sent", Some(t)),
                Err(e) => {
                    tracing::warn!(error = %e, "password reset: the token could not be stored");
                    (false, "store", None)
                }
            },
        };
        let mut event =
            AuditEvent::new("auth.password_reset_requested", Risk::Low, Outcome::Success)
                .origin(&origin)
                .details(serde_json::json!({ "sent": sent, "reason": reason }));
        if let Some(u) = usable {
            event = event
                .actor(self.subject_of(u))
                .resource(format!("user:{}", u.id));
        }
        self.audit.record(event);
        let (u, token) = (usable?, token?);
        let minutes = self.config.email.token_ttl.0.as_secs() / 60;
        Some(Mail {
            to: u.email.clone(),
            subject: "Reset your password".into(),
            body: format!(
                "Someone (hopefully you) asked to reset the password of this account.\n\n\
                 {}\n\nIt works once, within {minutes} minutes. Setting a new password signs \
                 out every session; your second factors stay as they are.\nIf you did not ask, \
                 ignore this mail: your password is unchanged.\n",
                link(&self.config.email.reset_url, &token)
            ),
            kind: "password_reset",
            account: self.subject_of(u),
        })
    }

    /// `POST /auth/password/reset`: sets the password of the token's account, spends its other
    /// reset tokens, revokes every session (`auth.password_reset`) and tells the user; factors
    /// are kept.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: String,
        origin: &RequestOrigin,
    ) -> Result<UserRecord, EmailRefused> {
        self.mail_on()?;
        // The policy and the hashing come before the token is spent: a refused password or a
        // busy pool leaves it usable.
        let policy_and_hash = |u: UserRecord| async move {
            let context = PasswordContext {
                email: Some(&u.email),
                name: u.name.as_deref(),
            };
            self.policy
                .check(&new_password, &context)
                .map_err(|v: Vec<Violation>| EmailRefused::Refused(Refused::WeakPassword(v)))?;
            let password = new_password;
            match self.hash_work(move |h| h.hash(&password)).await {
                Some(Ok(hash)) => Ok(hash),
                _ => Err(EmailRefused::Refused(Refused::Busy)),
            }
        };
        let (user, hash) = self
            .spend_token(token, EmailTokenPurpose::Reset, policy_and_hash, origin)
            .await?;
        let now = self.now_ms() as i64;
        self.store
            .user_set_password_hash(user.id, &hash, now)
            .await?;
        self.store
            .email_tokens_revoke(user.id, EmailTokenPurpose::Reset, now)
            .await?;
        let revoked = self
            .revoke_user_sessions(user.id, RevocationReason::PasswordReset)
            .await?;
        self.audit.record(
            AuditEvent::new("auth.password_reset", Risk::Medium, Outcome::Success)
                .origin(origin)
                .actor(self.subject_of(&user))
                .resource(format!("user:{}", user.id))
                .details(serde_json::json!({
                    "sessions_revoked": revoked,
                    "reason": RevocationReason::PasswordReset.as_str(),
                })),
        );
        self.notify_user(&user, Notice::PasswordReset, origin);
        Ok(user)
    }

    /// `POST /auth/email/verify/request`: a verification mail to the caller's current address
    /// (`auth.email_verification_requested`), unless it is verified already.
    pub async fn request_email_verification(
        &self,
        user: Uuid,
        ip: IpAddr,
        origin: &RequestOrigin,
    ) -> Result<VerificationRequest, EmailRefused> {
        self.mail_on()?;
        self.count_client(ip, "email_verification", origin).await?;
        let user = self.own_account(user).await?;
        if self.store.user_email_verified_at(user.id).await?.is_some() {
            return Ok(VerificationRequest::AlreadyVerified);
        }
        if !self.count_address(&user.email).await? {
            return Err(EmailRefused::TooMany(self.config.email.window.0));
        }
        self.send_verification(&user, origin).await?;
        Ok(VerificationRequest::Queued)
    }

    async fn send_verification(
        &self,
        user: &UserRecord,
        origin: &RequestOrigin,
    ) -> Result<(), EmailRefused> {
        let token = self.issue_token(user.id, EmailTokenPurpose::Verify).await?;
        let minutes = self.config.email.token_ttl.0.as_secs() / 60;
        self.mail.send(Mail {
            to: user.email.clone(),
            subject: "Confirm your e-mail address".into(),
            body: format!(
                "Confirm that this address belongs to your account:\n\n{}\n\nIt works once, \
                 within {minutes} minutes.\n",
                link(&self.config.email.verify_url, &token)
            ),
            kind: "email_verification",
            account: self.subject_of(user),
        });
        self.audit.record(
            AuditEvent::new(
                "auth.email_verification_requested",
                Risk::Low,
                Outcome::Success,
            )
            .origin(origin)
            .actor(self.subject_of(user))
            .resource(format!("user:{}", user.id)),
        );
        Ok(())
    }

    /// `POST /auth/email/verify`: marks the token's account's address verified
    /// (`auth.email_verified`).
    pub async fn verify_email(
        &self,
        token: &str,
        origin: &RequestOrigin,
    ) -> Result<UserRecord, EmailRefused> {
        self.mail_on()?;
        let user = self
            .spend_token(
                token,
                EmailTokenPurpose::Verify,
                |_| async { Ok(()) },
                origin,
            )
            .await?
            .0;
        self.store
            .user_set_email_verified(user.id, self.now_ms() as i64)
            .await?;
        self.audit.record(
            AuditEvent::new("auth.email_verified", Risk::Low, Outcome::Success)
                .origin(origin)
                .actor(self.subject_of(&user))
                .resource(format!("user:{}", user.id)),
        );
        Ok(user)
    }

    /// `POST /auth/me/email`: the holder of a recent sign-in (`assurance`) moves the account
    /// to `raw_email` (`user.email_changed`); the old address is told, the new one is
    /// unverified and gets a verification mail.
    pub async fn change_email(
        &self,
        user: Uuid,
        assurance: Option<&Assurance>,
        raw_email: &str,
        origin: &RequestOrigin,
    ) -> Result<UserRecord, EmailRefused> {
        self.mail_on()?;
        let recent = Requirement {
            mfa: false,
            max_auth_age: Some(self.config.email.recent_auth.0.as_secs()),
        };
        recent
            .check(assurance, self.now_ms() / 1000)
            .map_err(EmailRefused::StepUp)?;
        let old = self.own_account(user).await?;
        let email = palisade_core::email::normalize(raw_email).ok_or(EmailRefused::Refused(
            Refused::Invalid {
                slug: "invalid-email",
                detail: "The e-mail address is not valid.".into(),
            },
        ))?;
        if email == old.email {
            return Err(EmailRefused::SameAddress);
        }
        let now = self.now_ms() as i64;
        match self.store.user_set_email(old.id, &email, now).await {
            Ok(true) => {}
            Ok(false) => return Err(EmailRefused::NotAccount),
            Err(StoreError::Conflict(_)) => {
                return Err(EmailRefused::Refused(Refused::Conflict {
                    slug: "email-taken",
                    detail: "Another account has this e-mail address.".into(),
                }));
            }
            Err(e) => return Err(e.into()),
        }
        self.store
            .email_tokens_revoke(old.id, EmailTokenPurpose::Verify, now)
            .await?;
        self.audit.record(
            AuditEvent::new("user.email_changed", Risk::Medium, Outcome::Success)
                .origin(origin)
                .actor(self.subject_of(&old))
                .resource(format!("user:{}", old.id)),
        );
        self.notify_user(
            &old,
            Notice::EmailChanged {
                old_address: old.email.clone(),
            },
            origin,
        );
        let mut moved = old;
        moved.email = email;
        moved.updated_at = now;
        self.send_verification(&moved, origin).await?;
        Ok(moved)
    }

    /// The sync's share: delete expired tokens, a bounded batch at a time.
    pub(super) async fn prune_email_tokens(&self) {
        match self
            .store
            .email_tokens_prune(self.now_ms() as i64, 1000)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!(tokens = n, "pruned expired e-mail tokens"),
            Err(e) => tracing::warn!(error = %e, "cannot prune expired e-mail tokens"),
        }
    }

    /// The caller's own person account, enabled.
    async fn own_account(&self, user: Uuid) -> Result<UserRecord, EmailRefused> {
        self.store
            .user_by_id(user)
            .await?
            .filter(|u| !u.disabled && u.kind == PrincipalKind::Human)
            .ok_or(EmailRefused::NotAccount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_and_stored_by_digest_only() {
        let a = new_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, new_token());
        assert_eq!(digest(&a).len(), 64);
        assert_ne!(digest(&a), a);
        assert_eq!(link("", "t"), "Your code: t");
        assert_eq!(
            link("https://id.example.com/r", "t"),
            "https://id.example.com/r?token=t"
        );
    }
}
