//! Telling a user about a security change on their account. Until Palisade sends mail, a
//! notice is a `user.notified` audit event naming what happened (the trail and its alert rules
//! see it); the mail sender backs [`Identity::notify_user`] with an e-mail to the account's
//! address without changing its callers.

use crate::audit::{AuditEvent, Outcome, RequestOrigin, Risk};
use crate::identity::Identity;
use palisade_store::identity::UserRecord;

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
}

impl Notice {
    /// The notice's name in the event (`recovery_code_used`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::RecoveryCodeUsed { .. } => "recovery_code_used",
            Notice::FactorsReset => "mfa_reset",
            Notice::EmailChanged { .. } => "email_changed",
        }
    }
}

impl Identity {
    /// Tells `user` about `notice`: the one place notices leave from (see the module doc).
    pub fn notify_user(&self, user: &UserRecord, notice: Notice, origin: &RequestOrigin) {
        let mut details = serde_json::json!({ "notice": notice.kind(), "channel": "audit" });
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
