//! The device authorization grant (RFC 8628) as use cases: a device asks
//! ([`Identity::device_authorize`], §3.1–3.2), a signed-in person looks its user code up and
//! approves or denies it ([`Identity::device_lookup`], [`Identity::device_decide`]), and the
//! device polls for tokens ([`Identity::device_token`], §3.4–3.5). Each use case records its own
//! audit events; the HTTP API only translates.
//!
//! Guarantees: both codes are stored only as SHA-256 digests; the device code is 256 random bits,
//! the user code 8 characters of `BCDFGHJKLMNPQRSTVWXZ` (§6.1: no vowels, ~34.5 bits), shown as
//! `XXXX-XXXX` and accepted in any case with or without dashes and spaces; both live
//! `auth.device.expires_in`; a grant is decided once and redeemed once (conditional updates in
//! the store); wrong user codes are counted per address and per account in hot state
//! (15 minutes) and past `auth.device.max_entry_failures` every entry is refused with 429 before
//! any lookup; a poll sooner than the interval in force gets `slow_down` and raises the
//! interval by 5 s (§3.5); a disabled or deleted approver yields `access_denied`.

use super::Identity;
use super::sessions::{ClientInfo, IssuedTokens};
use crate::audit::{AuditEvent, Outcome, RequestOrigin, Risk};
use palisade_core::mfa::assurance::{Acr, Assurance};
use palisade_store::StoreError;
use palisade_store::device_grants::{DeviceGrant, DeviceGrantStatus};
use std::net::IpAddr;
use std::time::Duration;
use uuid::Uuid;

/// A grant approved before approvals recorded the approver's assurance: no method, the lowest
/// level, authenticated at the epoch — it meets no `mfa` or `max_auth_age` requirement.
fn unknown_assurance() -> Assurance {
    Assurance {
        amr: Vec::new(),
        acr: Acr::Aal1,
        auth_time: 0,
    }
}

/// The `grant_type` of a device-code token request (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The user-code alphabet RFC 8628 §6.1 suggests: 20 consonants, no vowels (no words).
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;
/// How long wrong user-code entries are counted.
const ENTRY_WINDOW: Duration = Duration::from_secs(15 * 60);
/// What `slow_down` adds to the interval (§3.5).
const SLOW_DOWN_SECS: i64 = 5;

/// What `POST /auth/device/authorize` answers (§3.2), codes in the clear this once.
#[derive(Debug, serde::Serialize)]
pub struct DeviceAuthorization {
    /// The code the device polls with.
    pub device_code: String,
    /// The code the person enters, as `XXXX-XXXX`.
    pub user_code: String,
    /// The approval page.
    pub verification_uri: String,
    /// The approval page with the user code filled in.
    pub verification_uri_complete: String,
    /// Seconds both codes live.
    pub expires_in: u64,
    /// Seconds to wait between polls.
    pub interval: u64,
}

/// A device's request as the approval page shows it.
#[derive(Debug, serde::Serialize)]
pub struct DeviceRequest {
    /// The client that asked.
    pub client_id: String,
    /// The address it asked from.
    pub requested_from: String,
    /// When it asked (Unix seconds).
    pub requested_at: i64,
    /// Seconds left before the codes die.
    pub expires_in: i64,
}

/// Why a device could not start the grant.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The grant is off, or this `client_id` is not listed (`invalid_client`).
    UnknownClient,
    /// The store failed.
    Store(StoreError),
}

/// Why a user code was refused.
#[derive(Debug)]
pub enum EntryError {
    /// Malformed, unknown, or expired.
    Invalid,
    /// Already approved or denied.
    Decided,
    /// Too many wrong entries from this address or account; try again after this.
    TooMany(Duration),
    /// The store or hot state failed.
    Store(StoreError),
}

/// A device-code token request refused, as RFC 8628 §3.5 / RFC 6749 §5.2 name it.
#[derive(Debug)]
pub enum TokenError {
    /// The person has not decided yet.
    AuthorizationPending,
    /// Polled sooner than the interval; the interval grew by 5 s.
    SlowDown,
    /// The codes died.
    ExpiredToken,
    /// The person denied, or the approving account is gone or disabled.
    AccessDenied,
    /// Unknown, spent, or another client's device code.
    InvalidGrant,
    /// The store failed.
    Store(StoreError),
}

impl TokenError {
    /// The RFC's `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::AccessDenied => "access_denied",
            Self::InvalidGrant => "invalid_grant",
            Self::Store(_) => "temporarily_unavailable",
        }
    }
}

/// SHA-256 hex of a code: what the store keeps.
fn digest(code: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, code.as_bytes());
    palisade_core::fingerprint::hex(d.as_ref())
}

/// A user code as entered, normalized to its 8 letters; `None` when it cannot be one.
pub fn normalize_user_code(entered: &str) -> Option<String> {
    let code: String = entered
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
        .then_some(code)
}

/// A fresh user code (8 letters, uniform over the alphabet by rejection sampling).
fn new_user_code() -> String {
    let mut code = String::with_capacity(USER_CODE_LEN);
    while code.len() < USER_CODE_LEN {
        let mut bytes = [0u8; 16];
        aws_lc_rs::rand::fill(&mut bytes).expect("the OS random source failed");
        // 240 = 12 × 20: bytes at or above it would bias the draw.
        for b in bytes.into_iter().filter(|b| *b < 240) {
            if code.len() < USER_CODE_LEN {
                code.push(USER_CODE_ALPHABET[usize::from(b % 20)] as char);
            }
        }
    }
    code
}

/// A fresh device code: 256 random bits, base64url.
fn new_device_code() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the OS random source failed");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn shown(code: &str) -> String {
    format!("{}-{}", &code[..4], &code[4..])
}

fn entry_keys(ip: IpAddr, user: Uuid) -> [String; 2] {
    [
        format!("dv:entry:ip:{}", digest(&ip.to_string())),
        format!("dv:entry:user:{user}"),
    ]
}

impl Identity {
    /// Starts a grant for `client_id` asking from `ip` (§3.1); records `auth.device_requested`.
    pub async fn device_authorize(
        &self,
        client_id: &str,
        ip: IpAddr,
        origin: &RequestOrigin,
    ) -> Result<DeviceAuthorization, AuthorizeError> {
        let cfg = &self.config.device;
        if !cfg.clients.iter().any(|c| c == client_id) {
            self.audit.record_refusal(
                AuditEvent::new("auth.device_token_refused", Risk::Medium, Outcome::Denied)
                    .origin(origin)
                    .details(serde_json::json!({ "reason": "invalid_client" })),
            );
            return Err(AuthorizeError::UnknownClient);
        }
        let now = self.now_ms() as i64;
        let ttl = cfg.expires_in.0;
        let interval = cfg.interval.0.as_secs().max(1);
        // A user-code collision among live grants is a conflict: draw again (rare: 20^8 codes).
        for _ in 0..4 {
            let device_code = new_device_code();
            let user_code = new_user_code();
            let grant = DeviceGrant {
                device_code_hash: digest(&device_code),
                user_code_hash: digest(&user_code),
                client_id: client_id.to_string(),
                client_ip: ip.to_string(),
                created_at: now,
                expires_at: now + ttl.as_millis() as i64,
                interval_secs: interval as i64,
                last_poll_at: None,
                status: DeviceGrantStatus::Pending,
                user_id: None,
                approver_assurance: None,
            };
            match self.store.device_grant_insert(&grant).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(AuthorizeError::Store(e)),
            }
            self.audit.record(
                AuditEvent::new("auth.device_requested", Risk::Low, Outcome::Success)
                    .origin(origin)
                    .resource(format!("client:{client_id}")),
            );
            let user_code = shown(&user_code);
            return Ok(DeviceAuthorization {
                device_code,
                verification_uri_complete: format!(
                    "{}?user_code={user_code}",
                    cfg.verification_uri
                ),
                user_code,
                verification_uri: cfg.verification_uri.clone(),
                expires_in: ttl.as_secs(),
                interval,
            });
        }
        Err(AuthorizeError::Store(StoreError::Conflict(
            "no free user code".into(),
        )))
    }

    /// The pending request of a user code, for `user` signed in at `ip` to look at.
    pub async fn device_lookup(
        &self,
        entered: &str,
        user: Uuid,
        ip: IpAddr,
        origin: &RequestOrigin,
    ) -> Result<DeviceRequest, EntryError> {
        let grant = self.device_entry(entered, user, ip, origin).await?;
        if grant.status != DeviceGrantStatus::Pending {
            return Err(self.entry_refused(origin, user, "decided", EntryError::Decided));
        }
        Ok(self.request_of(&grant))
    }

    /// Approves (`approve`) or denies the request of a user code on behalf of `user`, whose
    /// sign-in proved `approver` (the device's session will carry it: see [`Self::device_token`]);
    /// records `auth.device_approved` or `auth.device_denied`.
    pub async fn device_decide(
        &self,
        entered: &str,
        approve: bool,
        user: Uuid,
        approver: Option<&Assurance>,
        ip: IpAddr,
        origin: &RequestOrigin,
    ) -> Result<DeviceRequest, EntryError> {
        let grant = self.device_entry(entered, user, ip, origin).await?;
        let now = self.now_ms() as i64;
        let approver = approver.and_then(|a| serde_json::to_string(a).ok());
        let decided = self
            .store
            .device_grant_decide(
                &grant.user_code_hash,
                approve,
                user,
                approver.as_deref(),
                now,
            )
            .await
            .map_err(EntryError::Store)?;
        if !decided {
            return Err(self.entry_refused(origin, user, "decided", EntryError::Decided));
        }
        let (event, risk) = if approve {
            ("auth.device_approved", Risk::Medium)
        } else {
            ("auth.device_denied", Risk::Low)
        };
        self.audit.record(
            AuditEvent::new(event, risk, Outcome::Success)
                .origin(origin)
                .actor(self.actor_of(user).await)
                .resource(format!("client:{}", grant.client_id))
                .details(serde_json::json!({ "requested_from": grant.client_ip })),
        );
        Ok(self.request_of(&grant))
    }

    /// Exchanges a device code for tokens once approved (§3.4–3.5); the device's session carries
    /// the approver's assurance (methods, level and authentication time), never a fresh sign-in
    /// of its own, so `max_auth_age` and `mfa` routes judge the person who approved. Records
    /// `auth.device_token_issued`, and refusals other than `authorization_pending` as
    /// `auth.device_token_refused`.
    pub async fn device_token(
        &self,
        device_code: &str,
        client_id: &str,
        client: &ClientInfo,
        origin: &RequestOrigin,
    ) -> Result<IssuedTokens, TokenError> {
        let result = self.device_poll(device_code, client_id, client).await;
        match &result {
            Ok((_, user)) => self.audit.record(
                AuditEvent::new("auth.device_token_issued", Risk::Low, Outcome::Success)
                    .origin(origin)
                    .actor(user.clone())
                    .resource(format!("client:{client_id}")),
            ),
            Err(TokenError::AuthorizationPending | TokenError::Store(_)) => {}
            Err(e) => self.audit.record_refusal(
                AuditEvent::new("auth.device_token_refused", Risk::Medium, Outcome::Denied)
                    .origin(origin)
                    .resource(format!("client:{client_id}"))
                    .details(serde_json::json!({ "reason": e.code() })),
            ),
        }
        result.map(|(tokens, _)| tokens)
    }

    async fn device_poll(
        &self,
        device_code: &str,
        client_id: &str,
        client: &ClientInfo,
    ) -> Result<(IssuedTokens, String), TokenError> {
        let hash = digest(device_code);
        let store = &self.store;
        let grant = store
            .device_grant_by_device_code(&hash)
            .await
            .map_err(TokenError::Store)?
            .filter(|g| g.client_id == client_id)
            .ok_or(TokenError::InvalidGrant)?;
        let now = self.now_ms() as i64;
        if now >= grant.expires_at {
            return Err(TokenError::ExpiredToken);
        }
        match grant.status {
            DeviceGrantStatus::Denied => return Err(TokenError::AccessDenied),
            DeviceGrantStatus::Redeemed => return Err(TokenError::InvalidGrant),
            DeviceGrantStatus::Pending | DeviceGrantStatus::Approved => {}
        }
        let too_soon = grant
            .last_poll_at
            .is_some_and(|last| now - last < grant.interval_secs * 1000);
        let interval = grant.interval_secs + if too_soon { SLOW_DOWN_SECS } else { 0 };
        store
            .device_grant_polled(&hash, now, interval)
            .await
            .map_err(TokenError::Store)?;
        if too_soon {
            return Err(TokenError::SlowDown);
        }
        if grant.status == DeviceGrantStatus::Pending {
            return Err(TokenError::AuthorizationPending);
        }
        if !store
            .device_grant_redeem(&hash, now)
            .await
            .map_err(TokenError::Store)?
        {
            return Err(TokenError::InvalidGrant);
        }
        let user = match grant.user_id {
            Some(id) => store.user_by_id(id).await.map_err(TokenError::Store)?,
            None => None,
        };
        let user = user
            .filter(|u| !u.disabled)
            .ok_or(TokenError::AccessDenied)?;
        let assurance = grant
            .approver_assurance
            .as_deref()
            .and_then(|json| serde_json::from_str::<Assurance>(json).ok())
            .unwrap_or_else(unknown_assurance);
        let tokens = self
            .sign_in(&user, client, &assurance)
            .await
            .map_err(TokenError::Store)?;
        Ok((tokens, self.subject_of(&user)))
    }

    /// The grant of an entered user code, counting wrong entries (see the module doc).
    async fn device_entry(
        &self,
        entered: &str,
        user: Uuid,
        ip: IpAddr,
        origin: &RequestOrigin,
    ) -> Result<DeviceGrant, EntryError> {
        let keys = entry_keys(ip, user);
        let limit = self.config.device.max_entry_failures;
        for key in &keys {
            if self.hot.counter(key).await.map_err(EntryError::Store)? >= limit {
                // The counter's own expiry is not readable on every backend: the window bounds it.
                let wait = ENTRY_WINDOW;
                return Err(self.entry_refused(
                    origin,
                    user,
                    "too-many",
                    EntryError::TooMany(wait),
                ));
            }
        }
        let now = self.now_ms() as i64;
        let grant = match normalize_user_code(entered) {
            Some(code) => self
                .store
                .device_grant_by_user_code(&digest(&code))
                .await
                .map_err(EntryError::Store)?
                .filter(|g| now < g.expires_at),
            None => None,
        };
        match grant {
            Some(g) => Ok(g),
            None => {
                for key in &keys {
                    self.hot
                        .incr(key, ENTRY_WINDOW)
                        .await
                        .map_err(EntryError::Store)?;
                }
                Err(self.entry_refused(origin, user, "invalid", EntryError::Invalid))
            }
        }
    }

    /// The sync's share: delete expired grants, a bounded batch at a time.
    pub(super) async fn prune_device_grants(&self) {
        match self
            .store
            .device_grants_prune(self.now_ms() as i64, 1000)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!(grants = n, "pruned expired device grants"),
            Err(e) => tracing::warn!(error = %e, "cannot prune expired device grants"),
        }
    }

    fn entry_refused(
        &self,
        origin: &RequestOrigin,
        user: Uuid,
        reason: &'static str,
        e: EntryError,
    ) -> EntryError {
        self.audit.record_refusal(
            AuditEvent::new("auth.device_code_refused", Risk::Medium, Outcome::Denied)
                .origin(origin)
                .resource(format!("user:{user}"))
                .details(serde_json::json!({ "reason": reason })),
        );
        e
    }

    fn request_of(&self, g: &DeviceGrant) -> DeviceRequest {
        DeviceRequest {
            client_id: g.client_id.clone(),
            requested_from: g.client_ip.clone(),
            requested_at: g.created_at / 1000,
            expires_in: ((g.expires_at - self.now_ms() as i64) / 1000).max(0),
        }
    }

    async fn actor_of(&self, user: Uuid) -> String {
        match self.store.user_by_id(user).await {
            Ok(Some(u)) => self.subject_of(&u),
            _ => user.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_follow_rfc_8628_section_6_1() {
        for _ in 0..200 {
            let code = new_user_code();
            assert_eq!(code.len(), 8);
            assert!(
                code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)),
                "{code}"
            );
            let shown = shown(&code);
            assert_eq!(normalize_user_code(&shown).as_deref(), Some(code.as_str()));
            let sloppy = format!(" {} ", shown.to_lowercase().replace('-', " - "));
            assert_eq!(normalize_user_code(&sloppy).as_deref(), Some(code.as_str()));
        }
        assert_eq!(normalize_user_code("BCDF-GHJ"), None);
        assert_eq!(
            normalize_user_code("BCDF-GHJA"),
            None,
            "vowels are not in the alphabet"
        );
        assert_eq!(normalize_user_code("BCDF-GHJKL"), None);
        assert_ne!(new_device_code(), new_device_code());
        assert_eq!(new_device_code().len(), 43);
    }
}
