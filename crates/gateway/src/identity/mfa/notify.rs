//! Telling a user about a security change on their account: a `user.notified` audit event
//! naming what happened (the trail and its alert rules see it) and, with `[smtp]` configured, an
//! e-mail to the account's address (to the old one for a change of address), queued off the
//! request path. The event's `channel` says which: `email` when a mail was queued, `audit` when
//! only the trail has it (no `[smtp]`, a service account, a full queue).

use crate::audit::{AuditEvent, Outcome, RequestOrigin, Risk};
use crate::identity::Identity;
use crate::mail::Mail;
use palisade_store::identity::{PrincipalKind, UserRecord};

/// What a user is told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A recovery code was used to sign in; `remaining` are left.
    RecoveryCodeUsed {
        /// Unused codes left.
        remaining: u64,
    },
    /// An administrator removed every second factor of the account.
    FactorsReset,
    /// The account's e-mail address changed (sent to the old address).
    EmailChanged {
        /// The address the notice goes to.
        old_address: String,
    },
    /// The password was reset with an e-mailed token; every session was signed out.
    PasswordReset,
}

impl Notice {
    /// The notice's name in the event (`recovery_code_used`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::RecoveryCodeUsed { .. } => "recovery_code_used",
            Notice::FactorsReset => "mfa_reset",
            Notice::EmailChanged { .. } => "email_changed",
            Notice::PasswordReset => "password_reset",
        }
    }

    /// The subject and the body of its mail.
    fn mail_text(&self) -> (&'static str, String) {
        let footer = "If this was not you, reset your password and contact your administrator.";
        match self {
            Notice::RecoveryCodeUsed { remaining } => (
                "A recovery code was used",
                format!(
                    "A recovery code was used to sign in to your account; {remaining} are                      left.\n{footer}\n"
                ),
            ),
            Notice::FactorsReset => (
                "Your second factors were removed",
                format!(
                    "An administrator removed every second factor of your account.\n{footer}\n"
                ),
            ),
            Notice::EmailChanged { .. } => (
                "Your e-mail address was changed",
                format!(
                    "The e-mail address of your account was changed; this address no longer \
                     receives its mail.\n{footer}\n"
                ),
            ),
            Notice::PasswordReset => (
                "Your password was reset",
                format!(
                    "The password of your account was reset with a link sent to this address; \
                     every session was signed out.\n{footer}\n"
                ),
            ),
        }
    }
}

impl Identity {
    /// Tells `user` about `notice`: the one place notices leave from (see the module doc).
    pub fn notify_user(&self, user: &UserRecord, notice: Notice, origin: &RequestOrigin) {
        let to = match &notice {
            Notice::EmailChanged { old_address } => old_address.clone(),
            _ => user.email.clone(),
        };
        let mailed = user.kind == PrincipalKind::Human && self.mail.enabled() && {
            let (subject, body) = notice.mail_text();
            self.mail.send(Mail {
                to,
                subject: subject.into(),
                body,
                kind: notice.kind(),
                account: self.subject_of(user),
            })
        };
        let channel = if mailed { "email" } else { "audit" };
        let mut details = serde_json::json!({ "notice": notice.kind(), "channel": channel });
        if let Notice::RecoveryCodeUsed { remaining } = notice {
            details["remaining"] = remaining.into();
        }
        self.audit.record(
            AuditEvent::new("user.notified", Risk::Low, Outcome::Success)
                .actor(self.subject_of(user))
                .resource(format!("user:{}", user.id))
                .origin(origin)
                .details(details),
        );
    }
}
