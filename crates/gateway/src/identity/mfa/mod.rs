//! Second factors, the use cases: TOTP enrollment (active only after a first valid code),
//! listing and removal, recovery codes, verifying a factor (a pending password sign-in or a
//! step-up), and an administrator's reset. Every use case records its own `mfa.*` event.
//!
//! Guarantees: a seed is stored only as a keyring ciphertext bound to its row
//! (`totp_credentials.seed_enc`) and shown once, at enrollment; a code is accepted for the
//! current or previous step only (`auth.totp.skew_steps`) and once per credential (the store's
//! conditional update of `last_used_step`); recovery codes are stored as SHA-256 and used once;
//! a failed factor feeds the brute-force ladder of the account and the address, and an account
//! or address that must wait is refused before any code is checked.

mod notify;
mod pending;
mod qr;

pub use notify::Notice;
pub use pending::{FirstFactor, PendingSignIn};

use super::Identity;
use crate::audit::{AuditEvent, Outcome, RequestOrigin, Risk};
use crate::protect::keyring::KeyringService;
use palisade_core::crypto::FieldContext;
use palisade_core::mfa::assurance::amr;
use palisade_core::mfa::{recovery, totp};
use palisade_store::StoreError;
use palisade_store::identity::UserRecord;
use palisade_store::mfa::TotpRecord;
use std::net::IpAddr;
use std::time::Duration;
use uuid::Uuid;

/// The `methods` a pending sign-in may be completed with.
pub const METHOD_TOTP: &str = "totp";
/// A recovery code completes a sign-in too.
pub const METHOD_RECOVERY: &str = "recovery_code";

/// What an enrollment hands the user, once.
#[derive(Debug, serde::Serialize)]
pub struct Enrollment {
    /// The credential's id (confirm it with a first code).
    pub id: Uuid,
    /// The name the user gave it.
    pub name: String,
    /// `otpauth://totp/…` for authenticator apps.
    pub otpauth_uri: String,
    /// The same URI as an SVG QR code.
    pub qr_svg: String,
    /// The seed in base32, for typing in by hand.
    pub secret: String,
}

/// A second factor as presented.
#[derive(Debug, Clone, Copy)]
pub enum Factor<'a> {
    /// A TOTP code from any of the user's confirmed authenticators.
    Totp(&'a str),
    /// One of the user's recovery codes.
    Recovery(&'a str),
}

/// How checking a factor ended.
#[derive(Debug, PartialEq, Eq)]
pub enum FactorOutcome {
    /// Proven: the `amr` value it adds (`otp`, `rec`).
    Verified(&'static str),
    /// Wrong (on record as `mfa.failed`, counted by the brute-force ladder); the wait before
    /// the next attempt, if the ladder imposes one.
    Failed(Option<Duration>),
    /// The account or the address must wait first (`Retry-After`); nothing was checked.
    Delayed(Duration),
}

/// Why a TOTP use case refused.
#[derive(Debug, thiserror::Error)]
pub enum MfaRefused {
    /// The input breaks a rule: the problem type's slug and a sentence.
    #[error("{1}")]
    Invalid(&'static str, String),
    /// No such credential of this user.
    #[error("no such authenticator")]
    NotFound,
    /// The code was wrong (on record as `mfa.failed`).
    #[error("the code is not valid")]
    WrongCode,
    /// A stored seed cannot be decrypted (the keyring lost its key): fail closed.
    #[error("the authenticator cannot be read")]
    Unreadable,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn seed_context(id: &str) -> FieldContext<'_> {
    FieldContext::new("totp_credentials", "seed_enc", id)
}

impl Identity {
    fn totp_params(&self) -> totp::TotpParams {
        totp::TotpParams::default()
    }

    fn mfa_event(
        &self,
        event_type: &'static str,
        risk: Risk,
        outcome: Outcome,
        user: &UserRecord,
        origin: &RequestOrigin,
    ) -> AuditEvent {
        AuditEvent::new(event_type, risk, outcome)
            .actor(self.subject_of(user))
            .resource(format!("user:{}", user.id))
            .origin(origin)
    }

    /// The methods that can complete a sign-in of `user`: empty when it has no confirmed
    /// authenticator (recovery codes alone are no second factor).
    pub async fn mfa_methods(&self, user: Uuid) -> Result<Vec<&'static str>, StoreError> {
        let confirmed = self
            .store
            .totp_for_user(user)
            .await?
            .iter()
            .any(|t| t.confirmed_at.is_some());
        if !confirmed {
            return Ok(Vec::new());
        }
        let mut methods = vec![METHOD_TOTP];
        if self.store.recovery_remaining(user).await? > 0 {
            methods.push(METHOD_RECOVERY);
        }
        Ok(methods)
    }

    /// Whether `user` holds a role of `auth.mfa.required_roles` and its enrollment grace
    /// (counted from the account's creation) is over at `now_ms`.
    pub fn mfa_enrollment_overdue(&self, user: &UserRecord, now_ms: u64) -> bool {
        let required = user
            .roles
            .iter()
            .any(|r| self.config.mfa.required_roles.contains(r));
        let grace = self.config.mfa.enrollment_grace.0.as_millis() as i64;
        required && user.created_at + grace <= now_ms as i64
    }

    /// Starts a TOTP enrollment: a new seed, stored encrypted and unconfirmed under `name`.
    /// The seed leaves Palisade once, in the answer.
    pub async fn totp_enroll(
        &self,
        keyring: &KeyringService,
        user: &UserRecord,
        name: &str,
        origin: &RequestOrigin,
    ) -> Result<Enrollment, MfaRefused> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(MfaRefused::Invalid(
                "invalid-name",
                "Name the authenticator: 1 to 64 characters, no control characters.".into(),
            ));
        }
        let existing = self.store.totp_for_user(user.id).await?;
        if existing.len() >= self.config.totp.max_per_user {
            return Err(MfaRefused::Invalid(
                "too-many-authenticators",
                format!(
                    "At most {} authenticators per account; remove one first.",
                    self.config.totp.max_per_user
                ),
            ));
        }
        if existing.iter().any(|t| t.name == name) {
            return Err(MfaRefused::Invalid(
                "name-taken",
                "An authenticator of this name exists.".into(),
            ));
        }
        let id = Uuid::now_v7();
        let seed = zeroize::Zeroizing::new(totp::new_seed());
        let record = TotpRecord {
            id,
            user_id: user.id,
            name: name.to_owned(),
            seed_enc: keyring.encrypt(&seed_context(&id.to_string()), &seed),
            created_at: self.now_ms() as i64,
            confirmed_at: None,
            last_used_step: None,
        };
        match self.store.totp_insert(&record).await {
            Err(StoreError::Conflict(_)) => {
                return Err(MfaRefused::Invalid(
                    "name-taken",
                    "An authenticator of this name exists.".into(),
                ));
            }
            other => other?,
        }
        let issuer = self
            .config
            .totp
            .issuer
            .clone()
            .unwrap_or_else(|| self.config.issuer.clone());
        let otpauth_uri = totp::otpauth_uri(&issuer, &user.email, &seed, &self.totp_params());
        self.audit.record(
            self.mfa_event(
                "mfa.enrollment_started",
                Risk::Low,
                Outcome::Success,
                user,
                origin,
            )
            .details(serde_json::json!({ "method": "totp", "credential": id, "name": name })),
        );
        Ok(Enrollment {
            id,
            name: name.to_owned(),
            qr_svg: qr::svg(&otpauth_uri),
            otpauth_uri,
            secret: palisade_core::mfa::base32::encode(&seed),
        })
    }

    /// Confirms an enrollment with its first valid code: from then on the authenticator is a
    /// factor (`mfa.enrolled`). The first factor of an account also gets its recovery codes,
    /// returned here once.
    pub async fn totp_confirm(
        &self,
        keyring: &KeyringService,
        user: &UserRecord,
        id: Uuid,
        code: &str,
        origin: &RequestOrigin,
    ) -> Result<Option<Vec<String>>, MfaRefused> {
        let all = self.store.totp_for_user(user.id).await?;
        let Some(credential) = all.iter().find(|t| t.id == id) else {
            return Err(MfaRefused::NotFound);
        };
        if credential.confirmed_at.is_some() {
            return Err(MfaRefused::Invalid(
                "already-confirmed",
                "This authenticator is confirmed already.".into(),
            ));
        }
        if !self.check_totp(keyring, credential, code).await? {
            self.audit.record(
                self.mfa_event("mfa.failed", Risk::Medium, Outcome::Failure, user, origin)
                    .details(serde_json::json!({ "method": "totp", "during": "enrollment" })),
            );
            return Err(MfaRefused::WrongCode);
        }
        let first = !all.iter().any(|t| t.confirmed_at.is_some());
        self.audit.record(
            self.mfa_event("mfa.enrolled", Risk::Medium, Outcome::Success, user, origin)
                .details(serde_json::json!({
                    "method": "totp", "credential": id, "name": credential.name,
                })),
        );
        if first {
            return Ok(Some(self.recovery_regenerate(user, origin).await?));
        }
        Ok(None)
    }

    /// A code of `credential` at the clock's time, and its step recorded as used (so the same
    /// code, or an older one, is refused from now on).
    async fn check_totp(
        &self,
        keyring: &KeyringService,
        credential: &TotpRecord,
        code: &str,
    ) -> Result<bool, MfaRefused> {
        let seed = keyring
            .decrypt(&seed_context(&credential.id.to_string()), &credential.seed_enc)
            .await
            .map_err(|e| {
                tracing::error!(credential = %credential.id, error = %e, "cannot decrypt a TOTP seed");
                MfaRefused::Unreadable
            })?;
        let now_ms = self.now_ms();
        let Some(step) = totp::verify(
            &seed,
            code,
            now_ms / 1000,
            self.config.totp.skew_steps,
            credential.last_used_step.map(|s| s as u64),
            &self.totp_params(),
        ) else {
            return Ok(false);
        };
        Ok(self
            .store
            .totp_use_step(credential.id, step as i64, now_ms as i64)
            .await?)
    }

    /// The user's authenticators (never their seeds).
    pub async fn totp_list(&self, user: Uuid) -> Result<Vec<TotpRecord>, StoreError> {
        self.store.totp_for_user(user).await
    }

    /// Removes one of the user's authenticators (`mfa.removed`); false when it has none of
    /// that id. Removing the last confirmed one also removes the recovery codes.
    pub async fn totp_remove(
        &self,
        user: &UserRecord,
        id: Uuid,
        origin: &RequestOrigin,
    ) -> Result<bool, StoreError> {
        if !self.store.totp_delete(user.id, id).await? {
            return Ok(false);
        }
        let left = self.store.totp_for_user(user.id).await?;
        if !left.iter().any(|t| t.confirmed_at.is_some()) {
            self.store
                .recovery_replace(user.id, &[], self.now_ms() as i64)
                .await?;
        }
        self.audit.record(
            self.mfa_event("mfa.removed", Risk::Medium, Outcome::Success, user, origin)
                .details(serde_json::json!({ "method": "totp", "credential": id })),
        );
        Ok(true)
    }

    /// A new set of recovery codes (the old set stops working), shown once
    /// (`mfa.recovery_regenerated`).
    pub async fn recovery_regenerate(
        &self,
        user: &UserRecord,
        origin: &RequestOrigin,
    ) -> Result<Vec<String>, StoreError> {
        let (codes, hashes) = recovery::generate();
        self.store
            .recovery_replace(user.id, &hashes, self.now_ms() as i64)
            .await?;
        self.audit.record(
            self.mfa_event(
                "mfa.recovery_regenerated",
                Risk::Medium,
                Outcome::Success,
                user,
                origin,
            )
            .details(serde_json::json!({ "count": codes.len() })),
        );
        Ok(codes)
    }

    /// Checks a second factor of `user`, presented from `ip`: refused first when the account
    /// or the address must wait; a success is `mfa.verified` (a recovery code also
    /// `mfa.recovery_used` and a notice to the user), a failure `mfa.failed` and a step of the
    /// brute-force ladder.
    pub async fn verify_second_factor(
        &self,
        keyring: &KeyringService,
        user: &UserRecord,
        factor: Factor<'_>,
        ip: IpAddr,
        origin: &RequestOrigin,
    ) -> Result<FactorOutcome, MfaRefused> {
        if let Some(wait) = self.brute.wait_left(&user.email, ip).await? {
            self.audit.record_refusal(
                self.mfa_event("mfa.failed", Risk::Medium, Outcome::Denied, user, origin)
                    .details(serde_json::json!({ "reason": "delayed" })),
            );
            return Ok(FactorOutcome::Delayed(wait));
        }
        let (method, proven) = match factor {
            Factor::Totp(code) => {
                let mut proven = false;
                for credential in self.store.totp_for_user(user.id).await? {
                    if credential.confirmed_at.is_some()
                        && self.check_totp(keyring, &credential, code).await?
                    {
                        proven = true;
                        break;
                    }
                }
                (amr::OTP, proven)
            }
            Factor::Recovery(code) => {
                let proven = match recovery::hash(code) {
                    Some(hash) => {
                        self.store
                            .recovery_use(user.id, &hash, self.now_ms() as i64)
                            .await?
                    }
                    None => false,
                };
                (amr::RECOVERY, proven)
            }
        };
        let name = if method == amr::OTP {
            METHOD_TOTP
        } else {
            METHOD_RECOVERY
        };
        if !proven {
            let outcome = self.brute.record_failure(&user.email, ip).await?;
            self.audit.record(
                self.mfa_event("mfa.failed", Risk::Medium, Outcome::Failure, user, origin)
                    .details(serde_json::json!({
                        "method": name, "threat_level": outcome.level.as_str(),
                    })),
            );
            return Ok(FactorOutcome::Failed(outcome.wait));
        }
        self.brute.record_success(&user.email, ip).await?;
        self.audit.record(
            self.mfa_event("mfa.verified", Risk::Low, Outcome::Success, user, origin)
                .details(serde_json::json!({ "method": name })),
        );
        if method == amr::RECOVERY {
            let left = self.store.recovery_remaining(user.id).await?;
            self.audit.record(
                self.mfa_event(
                    "mfa.recovery_used",
                    Risk::Medium,
                    Outcome::Success,
                    user,
                    origin,
                )
                .details(serde_json::json!({ "remaining": left })),
            );
            self.notify_user(user, Notice::RecoveryCodeUsed { remaining: left }, origin);
        }
        Ok(FactorOutcome::Verified(method))
    }

    /// An administrator's reset of a user's second factors (`mfa.reset`, high risk): every
    /// authenticator and recovery code goes, and the user is told. How many records went.
    pub async fn mfa_reset(
        &self,
        user: &UserRecord,
        by: &super::manage::By<'_>,
    ) -> Result<u64, StoreError> {
        let removed = self.store.mfa_reset(user.id).await?;
        self.audit.record(
            AuditEvent::new("mfa.reset", Risk::High, Outcome::Success)
                .actor(by.actor.clone())
                .resource(format!("user:{}", user.id))
                .origin(by.origin)
                .details(serde_json::json!({ "removed": removed })),
        );
        self.notify_user(user, Notice::FactorsReset, by.origin);
        Ok(removed)
    }
}
