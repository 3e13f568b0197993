//! Sessions and the tokens they hand out: a login opens a session (a refresh-token family),
//! every refresh rotates the refresh token, and a rotated token presented again outside the
//! grace window revokes the whole family. Revoking a session flags its id in hot state, which
//! ends its access tokens and cookie at once.

use super::{AuthFailure, Identity, jti_flag, sid_flag};
use crate::audit::{AuditEvent, Outcome, Risk};
use http::HeaderMap;
use palisade_core::fingerprint::device_fingerprint;
use palisade_core::jwt::AccessClaims;
use palisade_core::mfa::assurance::Assurance;
use palisade_core::principal::{Principal, new_opaque_token, opaque_token_hash};
use palisade_store::StoreError;
use palisade_store::identity::{
    RefreshRecord, RevocationReason, RotateOutcome, SessionKind, SessionRecord, UserRecord,
};
use std::time::Duration;
use uuid::Uuid;

/// Tokens answered by login and refresh (OAuth 2 field names).
#[derive(Debug, serde::Serialize)]
pub struct IssuedTokens {
    /// The bearer access token (a JWT).
    pub access_token: String,
    /// The opaque refresh token.
    pub refresh_token: String,
    /// `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

/// The device fingerprint of a request: user agent and `Sec-CH-UA*` client hints, never the IP.
pub fn fingerprint(headers: &HeaderMap) -> String {
    let ua = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let hints: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("sec-ch-ua"))
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    device_fingerprint(ua, &hints)
}

/// What a session records about the client that opened it.
pub struct ClientInfo {
    /// The client's `User-Agent`, cut to 512 characters.
    pub user_agent: Option<String>,
    /// Hex SHA-256 of the user agent and client hints (never the IP).
    pub fingerprint: String,
}

impl ClientInfo {
    /// What `headers` tell about the client.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self {
            user_agent: headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|ua| ua.chars().take(512).collect()),
            fingerprint: fingerprint(headers),
        }
    }
}

/// Why a refresh token was not exchanged.
#[derive(Debug)]
pub enum RefreshError {
    /// Unknown, expired, or its session is revoked.
    Invalid,
    /// A rotated token came back outside the grace window: the family is revoked.
    Reused,
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for RefreshError {
    fn from(e: StoreError) -> Self {
        RefreshError::Store(e)
    }
}

impl Identity {
    fn ms(d: Duration) -> i64 {
        d.as_millis() as i64
    }

    /// How long a revoked session's flag must live: past every token and cookie it issued.
    pub(super) fn session_flag_ttl(&self) -> Duration {
        self.config
            .access_token_ttl
            .0
            .max(self.config.cookie_session_ttl.0)
            + self.config.leeway.0
    }

    /// Opens a session for `user` that proved `assurance` (carried by every token and cookie
    /// the session issues, refreshes included). Every sign-in (password, passkey, federated,
    /// e-mail link, device grant, step-up) opens one here, so this is where the account's
    /// `last_login_at` is noted (written by the sync, in batches).
    pub async fn open_session(
        &self,
        user: &UserRecord,
        kind: SessionKind,
        client: &ClientInfo,
        assurance: &Assurance,
    ) -> Result<SessionRecord, StoreError> {
        let now = self.now_ms() as i64;
        let lifetime = match kind {
            SessionKind::Token => self.config.session_lifetime.0,
            SessionKind::Cookie => self.config.cookie_session_ttl.0,
        };
        let session = SessionRecord {
            id: Uuid::now_v7(),
            user_id: user.id,
            kind,
            created_at: now,
            last_seen_at: now,
            expires_at: now + Self::ms(lifetime),
            user_agent: client.user_agent.clone(),
            fingerprint: client.fingerprint.clone(),
            revoked_at: None,
            revoked_reason: None,
            amr: assurance.amr.clone(),
            acr: Some(assurance.acr.as_str().to_owned()),
            auth_time: Some((assurance.auth_time * 1000) as i64),
        };
        self.store.session_insert(&session).await?;
        self.logins.touch(user.id, now);
        Ok(session)
    }

    fn new_refresh(&self, session: &SessionRecord, now: i64) -> (String, RefreshRecord) {
        let (token, hash) = new_opaque_token();
        let record = RefreshRecord {
            hash,
            session_id: session.id,
            created_at: now,
            expires_at: (now + Self::ms(self.config.refresh_token_ttl.0)).min(session.expires_at),
            rotated_at: None,
        };
        (token, record)
    }

    fn access_token(
        &self,
        user: &UserRecord,
        session: &SessionRecord,
    ) -> Result<(String, u64), StoreError> {
        let now = self.now_ms() / 1000;
        let ttl = self.config.access_token_ttl.0.as_secs();
        let tokens = self.tokens();
        let sub = self.subject_of(user);
        let uid = (sub != user.id.to_string()).then(|| user.id.to_string());
        let claims = AccessClaims {
            sub,
            uid,
            iss: tokens.issuer().to_string(),
            aud: tokens.audience().to_string(),
            exp: now + ttl,
            iat: now,
            nbf: now,
            jti: Uuid::now_v7().to_string(),
            sid: session.id.to_string(),
            roles: user.roles.clone(),
            tenants: Vec::new(),
            tier: Some(user.tier.clone()),
            dfp: self
                .config
                .device_binding
                .then(|| session.fingerprint.clone()),
            amr: session.amr.clone(),
            acr: session.acr.clone(),
            auth_time: session.auth_time.map(|ms| (ms / 1000) as u64),
        };
        let token = tokens
            .sign(&claims)
            .map_err(|e| StoreError::Query(format!("cannot sign a token: {e}")))?;
        Ok((token, ttl))
    }

    /// Opens a token session for a user who just proved their password (`amr = ["pwd"]`,
    /// `aal1`, `auth_time` now): [`Identity::sign_in`] with a password's assurance.
    pub async fn login(
        &self,
        user: &UserRecord,
        client: &ClientInfo,
    ) -> Result<IssuedTokens, StoreError> {
        let assurance = Assurance::password(self.now_ms() / 1000);
        self.sign_in(user, client, &assurance).await
    }

    /// The one way a token session is opened, whatever proved the user (password, second
    /// factor, passkey, federated provider): a new session (so a sign-in or step-up always
    /// rotates it) carrying `assurance`, and its first tokens.
    pub async fn sign_in(
        &self,
        user: &UserRecord,
        client: &ClientInfo,
        assurance: &Assurance,
    ) -> Result<IssuedTokens, StoreError> {
        let session = self
            .open_session(user, SessionKind::Token, client, assurance)
            .await?;
        let (refresh_token, record) = self.new_refresh(&session, session.created_at);
        self.store.refresh_insert(&record).await?;
        let (access_token, expires_in) = self.access_token(user, &session)?;
        Ok(IssuedTokens {
            access_token,
            refresh_token,
            token_type: "Bearer",
            expires_in,
        })
    }

    /// Exchanges a refresh token for a new pair, rotating it.
    pub async fn refresh(
        &self,
        presented: &str,
        client: &ClientInfo,
        origin: &crate::audit::RequestOrigin,
    ) -> Result<IssuedTokens, RefreshError> {
        if presented.is_empty() || presented.len() > 128 {
            return Err(RefreshError::Invalid);
        }
        let now = self.now_ms() as i64;
        let hash = opaque_token_hash(presented);
        let current = self
            .store
            .refresh_get(&hash)
            .await?
            .ok_or(RefreshError::Invalid)?;
        let session = self
            .store
            .session_get(current.session_id)
            .await?
            .filter(|s| s.revoked_at.is_none() && s.expires_at > now)
            .ok_or(RefreshError::Invalid)?;
        if current.expires_at <= now {
            return Err(RefreshError::Invalid);
        }
        let user = self
            .store
            .user_by_id(session.user_id)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(RefreshError::Invalid)?;
        if self.config.device_binding && session.fingerprint != client.fingerprint {
            self.audit.record(
                AuditEvent::new("auth.device_mismatch", Risk::High, Outcome::Denied)
                    .actor(self.subject_of(&user))
                    .resource(format!("session:{}", session.id))
                    .origin(origin),
            );
            return Err(RefreshError::Invalid);
        }
        let (refresh_token, successor) = self.new_refresh(&session, now);
        match self.store.refresh_rotate(&hash, now, &successor).await? {
            RotateOutcome::Rotated => {}
            RotateOutcome::AlreadyRotated { rotated_at, .. }
                if now - rotated_at <= Self::ms(self.config.refresh_reuse_grace.0) =>
            {
                // A concurrent refresh from the same client: both callers get a working pair.
                self.store.refresh_insert(&successor).await?;
            }
            RotateOutcome::AlreadyRotated { .. } => {
                self.revoke_session(session.id, RevocationReason::ReuseDetected)
                    .await?;
                self.audit.record(
                    AuditEvent::new("auth.refresh_reuse_detected", Risk::High, Outcome::Denied)
                        .actor(self.subject_of(&user))
                        .resource(format!("session:{}", session.id))
                        .origin(origin)
                        .details(serde_json::json!({
                            "action": "session family revoked",
                            "reason": RevocationReason::ReuseDetected.as_str(),
                        })),
                );
                return Err(RefreshError::Reused);
            }
            RotateOutcome::Unknown => return Err(RefreshError::Invalid),
        }
        self.store.session_touch(session.id, now).await?;
        let (access_token, expires_in) = self.access_token(&user, &session)?;
        Ok(IssuedTokens {
            access_token,
            refresh_token,
            token_type: "Bearer",
            expires_in,
        })
    }

    /// The account a refresh token belongs to, whatever the token's state (the lockdown's
    /// check before a refresh; the refresh itself decides whether the token holds).
    pub async fn refresh_owner(&self, presented: &str) -> Result<Option<UserRecord>, StoreError> {
        let Some(sid) = self.refresh_session(presented).await? else {
            return Ok(None);
        };
        let Some(session) = self.store.session_get(sid).await? else {
            return Ok(None);
        };
        self.store.user_by_id(session.user_id).await
    }

    /// The session a refresh token belongs to (for logout).
    pub async fn refresh_session(&self, presented: &str) -> Result<Option<Uuid>, StoreError> {
        if presented.len() > 128 {
            return Ok(None);
        }
        Ok(self
            .store
            .refresh_get(&opaque_token_hash(presented))
            .await?
            .map(|r| r.session_id))
    }

    /// Revokes a session for `reason`: in the store (no more refreshes) and in hot state (its
    /// access tokens and cookie stop working on the next request).
    pub async fn revoke_session(
        &self,
        sid: Uuid,
        reason: RevocationReason,
    ) -> Result<bool, StoreError> {
        let was_active = self
            .store
            .session_revoke(sid, self.now_ms() as i64, reason)
            .await?;
        self.flag_session(&sid.to_string()).await?;
        Ok(was_active)
    }

    async fn flag_session(&self, sid: &str) -> Result<(), StoreError> {
        self.hot
            .set_flag(&sid_flag(sid), self.session_flag_ttl())
            .await?;
        self.forget_session(sid);
        self.revocation_noticed();
        Ok(())
    }

    /// Revokes every session of a user (disabled, roles changed, or "log out everywhere").
    pub async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        reason: RevocationReason,
    ) -> Result<usize, StoreError> {
        let ids = self
            .store
            .sessions_revoke_for_user(user_id, self.now_ms() as i64, reason)
            .await?;
        for sid in &ids {
            self.flag_session(&sid.to_string()).await?;
        }
        self.api_keys.forget_owner(user_id);
        self.window.forget_user(user_id);
        Ok(ids.len())
    }

    /// Revokes one access token until it would have expired anyway: recorded in the store,
    /// then flagged in hot state.
    pub async fn revoke_access_token(&self, principal: &Principal) -> Result<(), StoreError> {
        let Some(jti) = &principal.token_id else {
            return Ok(());
        };
        let now_ms = self.now_ms();
        let now = now_ms / 1000;
        let left =
            (principal.expires_at.saturating_sub(now) + self.config.leeway.0.as_secs()).max(1);
        self.store
            .token_revoke(&palisade_store::revocations::RevokedToken {
                jti: jti.clone(),
                expires_at: ((now + left) * 1000) as i64,
                revoked_at: now_ms as i64,
            })
            .await?;
        self.hot
            .set_flag(&jti_flag(jti), Duration::from_secs(left))
            .await?;
        self.revocation_noticed();
        Ok(())
    }

    /// Turns a store failure during authentication into a fail-closed refusal.
    pub fn unavailable(e: StoreError) -> AuthFailure {
        tracing::warn!(error = %e, "identity store failed");
        AuthFailure::Unavailable
    }
}
