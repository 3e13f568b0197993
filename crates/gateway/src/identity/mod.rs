//! Identity: who is calling, proven by an API key, a bearer JWT (Palisade's own or a trusted
//! issuer's) or the browser session cookie; and the sessions, tokens and keys behind the `/auth`
//! API.
//!
//! Guarantees: verification is local (cryptography and caches, no SQL for a repeated token);
//! revocations are checked on every request in hot state and a lookup that cannot be answered
//! refuses the request (fail closed), while the store keeps the record hot state is primed from
//! (`revocations.rs`); secrets (refresh tokens, API keys) are stored only as
//! hashes; password hashing runs on a bounded blocking pool.

pub mod api_keys;
pub mod assertion;
pub mod brute;
pub mod captcha;
pub mod connections;
pub mod cookie;
pub mod derive;
pub mod device;
pub mod email;
pub mod federation;
pub mod handoff;
pub mod hash_pool;
pub mod import;
pub mod invite;
pub mod key_auth;
pub mod lockdown;
pub mod manage;
pub mod mfa;
pub mod review;
pub mod revocations;
pub mod sessions;
pub mod signing;
pub mod touch_batch;
pub mod trusted;
pub mod window;

pub use handoff::{Handoff, queue_handoff};

use crate::audit::AuditLog;
use crate::config::Config;
use crate::config::auth::AuthConfig;
use http::{HeaderMap, Method, header};
use palisade_core::clock::SharedClock;
use palisade_core::jwt::{JwtError, OwnTokens, VerifiedCache};
use palisade_core::password::{PasswordHasher, PasswordPolicy};
use palisade_core::principal::{AuthMethod, Principal};
use palisade_store::{SharedHotState, SharedStore};
use std::sync::{Arc, RwLock};
use tokio::sync::Semaphore;

/// A verified bearer token as cached: the principal and the device it was bound to.
#[derive(Debug)]
pub struct Verified {
    /// Who the token proved.
    pub principal: Arc<Principal>,
    /// The device fingerprint the token is bound to, when device binding is on.
    pub dfp: Option<String>,
}

/// The kind of credential a request presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A JWT in `Authorization: Bearer` (or a header that is not a bearer token).
    Bearer,
    /// `X-API-Key`, or a `pal_` key sent as a bearer token.
    ApiKey,
    /// The `__Host-palisade` session cookie.
    Cookie,
}

impl Credential {
    /// The spelling in audit details (`bearer`, `api_key`, `cookie`).
    pub fn as_str(self) -> &'static str {
        match self {
            Credential::Bearer => "bearer",
            Credential::ApiKey => "api_key",
            Credential::Cookie => "cookie",
        }
    }
}

/// A presented credential that does not hold, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// What was presented.
    pub credential: Credential,
    /// The problem slug the caller is answered with (`revoked`, `invalid_api_key`, a JWT
    /// error's slug, ...) and the `palisade_auth_refused_total` label.
    pub slug: &'static str,
    /// Why, for the audit trail: a stable kebab-case slug, finer than what the caller is told
    /// (`expired`, `bad-signature`, `revoked`, `unknown-key`, `malformed`, ...).
    pub reason: &'static str,
    /// Whose credential it was, when that is known (a revoked token's subject).
    pub actor: Option<String>,
    /// The API key it was, when that is known (a revoked or expired key).
    pub key_id: Option<String>,
}

impl Rejection {
    fn new(credential: Credential, slug: &'static str, reason: &'static str) -> Self {
        Self {
            credential,
            slug,
            reason,
            actor: None,
            key_id: None,
        }
    }

    fn jwt(e: &JwtError) -> Self {
        Self::new(Credential::Bearer, e.reason(), jwt_reason(e))
    }
}

/// The audit reason of a bearer token's rejection.
fn jwt_reason(e: &JwtError) -> &'static str {
    match e {
        JwtError::TooLarge => "too-large",
        JwtError::Malformed => "malformed",
        JwtError::ForbiddenHeader(_) => "forbidden-header",
        JwtError::AlgorithmNotAllowed => "algorithm-not-allowed",
        JwtError::UnknownKid => "unknown-key",
        JwtError::BadSignature => "bad-signature",
        JwtError::Expired => "expired",
        JwtError::NotYetValid => "not-yet-valid",
        JwtError::WrongIssuer => "wrong-issuer",
        JwtError::WrongAudience => "wrong-audience",
        JwtError::MissingClaim(_) => "missing-claim",
        JwtError::Key(_) => "key-unavailable",
        JwtError::WindowClosed => "window-closed",
    }
}

/// What the request's credentials came to: the principal (none: anonymous), and a session
/// cookie that was ignored because it does not open (expired, tampered), for the audit trail.
#[derive(Debug, Default)]
pub struct Presented {
    /// The caller; `None` is anonymous.
    pub principal: Option<Arc<Principal>>,
    /// A cookie that did not open and was ignored.
    pub ignored: Option<Rejection>,
    /// A session cookie on an HTML form POST (`application/x-www-form-urlencoded`, no
    /// `X-CSRF-Token` header): not the caller (the request goes on anonymous), but a hosted
    /// page may adopt it after checking the session's CSRF token sent in the form's body
    /// ([`FormSession`]).
    pub form_session: Option<FormSession>,
}

/// A browser session presented by an HTML form POST whose CSRF token is in the form body,
/// where the `identify` gate cannot read it. Only a hosted page adopts it, and only through
/// [`FormSession::adopt`] with the form's token; every other handler sees an anonymous request.
#[derive(Debug, Clone)]
pub struct FormSession(Arc<Principal>);

impl FormSession {
    /// The session's principal when `token` is its CSRF token (constant-time check).
    pub fn adopt(&self, cookies: &cookie::CookieKeys, token: &str) -> Option<Arc<Principal>> {
        let sid = self.0.session_id.as_deref()?;
        cookies.csrf_ok(sid, token).then(|| self.0.clone())
    }

    /// The session's id (sealed in the cookie, so genuine; not yet proved by the form).
    pub fn session_id(&self) -> Option<&str> {
        self.0.session_id.as_deref()
    }
}

/// Why a presented credential was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// 401: the credential is not acceptable.
    Invalid(Rejection),
    /// 403: a cookie-authenticated state-changing request without a valid CSRF token.
    Csrf,
    /// 503: hot state or the store could not answer a security lookup (or the hash workers
    /// were busy).
    Unavailable,
    /// 429: this address failed too often; it may present an unknown key again after this.
    Delayed(std::time::Duration),
}

/// The hot-state flag that revokes access token `jti`.
pub fn jti_flag(jti: &str) -> String {
    format!("rv:jti:{jti}")
}

/// The hot-state flag that revokes session `sid` (and every token and cookie of it).
pub fn sid_flag(sid: &str) -> String {
    format!("rv:sid:{sid}")
}

/// Who is calling: every credential check, sessions, keys, passwords, the brute-force defenses,
/// revocations and the administration use cases ([`manage`]).
pub struct Identity {
    /// `[auth]`.
    pub config: AuthConfig,
    /// The durable store.
    pub store: SharedStore,
    /// Hot state (revocations, counters, blocks).
    pub hot: SharedHotState,
    /// The clock expiries are read from.
    pub clock: SharedClock,
    /// Where identity's events go.
    pub audit: Arc<AuditLog>,
    tokens: RwLock<Arc<OwnTokens>>,
    /// Re-reads of the signing keys caused by an unknown kid (another replica's new key): at
    /// most one a second, so forged kids cannot flood the store.
    kid_reload: palisade_core::clock::AtMostEvery,
    key_wrap: signing::KeyWrap,
    verified: VerifiedCache<Verified>,
    /// API keys.
    pub api_keys: api_keys::ApiKeys,
    /// Sign-ins (`last_login_at`) not yet written, flushed by the sync.
    logins: touch_batch::TouchBatch,
    /// Imported keys' first verification (negative cache, counter, peppers).
    pub legacy: key_auth::LegacyVerifier,
    trusted: Vec<trusted::Trusted>,
    /// Resolved tokens of the migration windows (`shared_secret` issuers).
    pub window: window::WindowTokens,
    /// Password hashing (argon2id; legacy formats verified and rehashed).
    pub hasher: PasswordHasher,
    /// The password policy.
    pub policy: PasswordPolicy,
    hash_slots: Semaphore,
    hash_pool: hash_pool::HashPool,
    /// The failed-login defenses.
    pub brute: brute::BruteForce,
    /// CAPTCHA, when configured.
    pub captcha: Option<captcha::Captcha>,
    /// Session-cookie and CSRF keys.
    pub cookies: cookie::CookieKeys,
    handoff: Handoff,
    /// Registration invites.
    pub invites: invite::InviteKeys,
    assertions: assertion::AssertionCache,
    emails: assertion::EmailCache,
    claim_names: assertion::ClaimNames,
    /// The identity header names of `[proxy.identity_headers]` (forward auth without a route).
    pub default_names: Arc<assertion::Names>,
    /// The `[smtp]` relay and its queue (off without `[smtp]`).
    pub mail: Arc<crate::mail::Mailer>,
    /// The lockdown (shared through the store, read with one atomic load).
    pub lockdown: lockdown::Lockdown,
    /// Moves on every revocation this replica writes: live connections re-check their
    /// credential ([`Identity::watch_revocations`]).
    revocations: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").finish_non_exhaustive()
    }
}

impl Identity {
    /// Loads the signing keys (creating the first), the API-key pepper and the trusted issuers'
    /// keys; fails naming what could not be loaded.
    pub async fn start(
        config: &Config,
        store: SharedStore,
        hot: SharedHotState,
        clock: SharedClock,
        audit: Arc<AuditLog>,
    ) -> Result<Self, String> {
        let auth = config.auth.clone();
        let now_ms = clock.now_millis();
        let key_wrap = signing::KeyWrap::for_secrets(
            config.secrets.master.as_ref(),
            &config.secrets.signing_key,
        );
        let tokens = signing::load(&auth, store.as_ref(), &key_wrap, now_ms as i64).await?;
        let pepper =
            api_keys::load_or_create_pepper(&store, &key_wrap, &config.secrets.signing_key).await?;
        let mut trusted = Vec::new();
        for t in &auth.trusted_issuers {
            trusted.push(trusted::Trusted::load(t, now_ms).await?);
        }
        let hash_workers = match auth.hash_workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let lockdown =
            lockdown::Lockdown::load(store.clone(), hot.clone(), audit.clone(), clock.clone())
                .await
                .map_err(|e| format!("cannot read the lockdown state: {e}"))?;
        Ok(Self {
            lockdown,
            verified: VerifiedCache::new(auth.token_cache_capacity),
            window: window::WindowTokens::new(auth.token_cache_capacity, auth.api_keys.cache_ttl.0),
            api_keys: api_keys::ApiKeys::new(&auth.api_keys, &pepper, store.clone())?
                .with_subject(auth.subject),
            logins: Default::default(),
            legacy: key_auth::LegacyVerifier::new(&auth.api_keys),
            hasher: PasswordHasher::new(auth.hashing).map_err(|e| format!("auth.hashing: {e}"))?,
            policy: PasswordPolicy::new(config.password.clone()),
            hash_slots: Semaphore::new(hash_workers),
            hash_pool: hash_pool::HashPool::start(hash_workers)
                .map_err(|e| format!("cannot start the password-hashing threads: {e}"))?,
            brute: brute::BruteForce::new(
                auth.brute_force.enabled,
                auth.ladder(),
                auth.threat_policy(),
                hot.clone(),
                store.clone(),
                clock.clone(),
            ),
            captcha: captcha::Captcha::new(&auth.captcha)?,
            cookies: cookie::CookieKeys::new(&config.secrets.cookie_key),
            handoff: Handoff::new(now_ms),
            invites: invite::InviteKeys::new(&config.secrets.signing_key),
            assertions: assertion::new_cache(),
            emails: assertion::new_email_cache(),
            claim_names: assertion::ClaimNames::new(&config.proxy.assertion_claims),
            default_names: Arc::new(
                assertion::Names::new(&config.proxy.identity_headers, None)
                    .map_err(|e| format!("proxy.identity_headers: {e}"))?,
            ),
            mail: Arc::new(crate::mail::Mailer::new(&config.smtp, audit.clone())?),
            tokens: RwLock::new(Arc::new(tokens)),
            kid_reload: palisade_core::clock::AtMostEvery::new(1_000),
            key_wrap,
            trusted,
            config: auth,
            store,
            hot,
            clock,
            audit,
            revocations: tokio::sync::watch::Sender::new(0),
        })
    }

    /// Now, in Unix milliseconds, on the injected clock.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_millis()
    }

    /// The current set of Palisade's own token keys (swapped on rotation and reload).
    pub fn tokens(&self) -> Arc<OwnTokens> {
        self.tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Re-reads the signing keys (a rotation by the CLI or another replica).
    pub async fn reload_keys(&self) -> Result<(), String> {
        let fresh = signing::load(
            &self.config,
            self.store.as_ref(),
            &self.key_wrap,
            self.now_ms() as i64,
        )
        .await?;
        *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
        Ok(())
    }

    /// Adds a signing key and retires the current one (published until its tokens expire).
    pub async fn rotate_signing_key(&self) -> Result<String, String> {
        let kid = signing::rotate(
            self.store.as_ref(),
            &self.key_wrap,
            self.config.algorithm,
            self.now_ms() as i64,
        )
        .await?;
        self.reload_keys().await?;
        Ok(kid)
    }

    /// Writes the batched API key uses and sign-ins (`last_used_at`, `last_login_at`).
    pub async fn flush_touches(&self) {
        self.api_keys.flush_last_used().await;
        self.logins
            .flush("sign-ins", |batch| async move {
                let written = self.store.users_touch_login(&batch).await;
                (batch, written)
            })
            .await;
    }

    /// Periodic duties: key reload, the API-key use and sign-in batches, JWKS refresh, CLI
    /// hand-offs, priming again a hot state that lost its memory, re-reading the lockdown,
    /// pruning expired device grants and e-mailed tokens (ended revocations: the retention job).
    pub async fn sync(&self) {
        if let Err(e) = self.reload_keys().await {
            tracing::warn!(error = %e, "cannot reload signing keys");
        }
        self.flush_touches().await;
        let now_ms = self.now_ms();
        for t in &self.trusted {
            t.refresh_if_stale(now_ms).await;
        }
        self.apply_handoffs().await;
        self.upkeep_revocations().await;
        self.refresh_lockdown().await;
        self.prune_device_grants().await;
        self.prune_email_tokens().await;
    }

    /// Runs `work` (password hashing) on the low-priority hashing threads, at most
    /// `hash_workers` at once. `None` when no slot frees up within `hash_queue_timeout`.
    pub async fn hash_work<T: Send + 'static>(
        &self,
        work: impl FnOnce(&PasswordHasher) -> T + Send + 'static,
    ) -> Option<T> {
        let permit =
            tokio::time::timeout(self.config.hash_queue_timeout.0, self.hash_slots.acquire())
                .await
                .ok()?
                .ok()?;
        let hasher = self.hasher.clone();
        let result = self.hash_pool.run(move || work(&hasher)).await;
        drop(permit);
        result
    }

    /// Proves who is calling from the request's credentials: an API key where
    /// `auth.api_keys.headers` allows one (by default `X-API-Key`, then a key as
    /// `Authorization: Bearer`), then a bearer JWT, then the session cookie. No principal when
    /// no credential is presented (a cookie that does not open counts as none, and is reported
    /// in [`Presented::ignored`]). `ip` is the client's, for the brute-force ladder.
    pub async fn authenticate(
        &self,
        method: &Method,
        headers: &HeaderMap,
        ip: std::net::IpAddr,
    ) -> Result<Presented, AuthFailure> {
        let found = |p| {
            Ok(Presented {
                principal: Some(p),
                ignored: None,
                form_session: None,
            })
        };
        if let Some(key) = self.presented_key(headers)? {
            return found(self.authenticate_key(key, ip).await?);
        }
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let value = value.to_str().map_err(|_| {
                AuthFailure::Invalid(Rejection::new(Credential::Bearer, "malformed", "malformed"))
            })?;
            let token = bearer(value).ok_or(AuthFailure::Invalid(Rejection::new(
                Credential::Bearer,
                "not_bearer",
                "not-bearer",
            )))?;
            return found(self.authenticate_jwt(token, headers).await?);
        }
        for cookies in headers.get_all(header::COOKIE) {
            let Some(value) = cookies.to_str().ok().and_then(cookie::find_cookie) else {
                continue;
            };
            return self.authenticate_cookie(value, method, headers).await;
        }
        Ok(Presented::default())
    }

    async fn authenticate_jwt(
        &self,
        token: &str,
        headers: &HeaderMap,
    ) -> Result<Arc<Principal>, AuthFailure> {
        if token.len() > self.config.max_token_bytes {
            return Err(AuthFailure::Invalid(Rejection::jwt(&JwtError::TooLarge)));
        }
        let now_ms = self.now_ms();
        let now = now_ms / 1000;
        let key = VerifiedCache::<Verified>::key(token);
        let verified = match self.verified.get(&key, now) {
            Some(v) => v,
            None => {
                let (v, cacheable) = self.verify_bearer(token, now_ms).await?;
                let v = Arc::new(v);
                if cacheable {
                    self.verified
                        .insert(key, v.clone(), v.principal.expires_at, now);
                }
                v
            }
        };
        if self.config.device_binding
            && let Some(bound) = &verified.dfp
            && *bound != sessions::fingerprint(headers)
        {
            self.audit.record(
                crate::audit::AuditEvent::new(
                    "auth.device_mismatch",
                    crate::audit::Risk::High,
                    crate::audit::Outcome::Denied,
                )
                .actor(verified.principal.subject.clone()),
            );
            return Err(AuthFailure::Invalid(Rejection {
                actor: Some(verified.principal.subject.clone()),
                ..Rejection::new(Credential::Bearer, "device_mismatch", "device-mismatch")
            }));
        }
        self.check_revoked(&verified.principal)
            .await
            .map_err(|f| revoked_by(f, Credential::Bearer, &verified.principal, None))?;
        Ok(verified.principal.clone())
    }

    /// The token's principal, and whether it may be cached until the token expires (not a
    /// migration window's: those are cached by [`window::WindowTokens`], whose entries follow
    /// the account).
    async fn verify_bearer(
        &self,
        token: &str,
        now_ms: u64,
    ) -> Result<(Verified, bool), AuthFailure> {
        let invalid = |e: JwtError| AuthFailure::Invalid(Rejection::jwt(&e));
        let own = self.tokens();
        let issuer = palisade_core::jwt::peek_issuer_claim(token, self.config.max_token_bytes)
            .map_err(invalid)?;
        let trusted = match issuer.as_deref() {
            Some(iss) if iss == own.issuer() => None,
            Some(iss) => Some(
                self.trusted
                    .iter()
                    .find(|t| t.issuer() == iss)
                    .ok_or(invalid(JwtError::WrongIssuer))?,
            ),
            None => Some(
                self.trusted
                    .iter()
                    .find(|t| t.matches_missing_iss())
                    .ok_or(invalid(JwtError::MissingClaim("iss")))?,
            ),
        };
        if let Some(trusted) = trusted {
            if trusted.is_migration_window() {
                let principal = self.window_principal(trusted, token, now_ms).await?;
                return Ok((
                    Verified {
                        principal,
                        dfp: None,
                    },
                    false,
                ));
            }
            let c = trusted.verify(token, now_ms).await.map_err(invalid)?;
            // Another issuer's word on how its user signed in counts only where configured.
            let assurance = c.assurance.filter(|_| trusted.mfa_claims_trusted());
            return Ok((
                Verified {
                    principal: Arc::new(Principal {
                        subject: c.sub,
                        account: None,
                        method: AuthMethod::External,
                        issuer: c.iss,
                        roles: c.roles,
                        tenants: c.tenants,
                        tier: None,
                        scopes: Vec::new(),
                        session_id: None,
                        token_id: c.jti,
                        key_id: None,
                        expires_at: c.exp,
                        assurance,
                    }),
                    dfp: None,
                },
                true,
            ));
        }
        {
            let c = match own.verify(token, now_ms / 1000) {
                Err(JwtError::UnknownKid) if self.kid_reload.try_pass(now_ms) => {
                    // Another replica (or the CLI) may have made a key since our last sync.
                    if let Err(e) = self.reload_keys().await {
                        tracing::warn!(error = %e, "cannot reload signing keys");
                    }
                    self.tokens()
                        .verify(token, now_ms / 1000)
                        .map_err(invalid)?
                }
                other => other.map_err(invalid)?,
            };
            let assurance = c.assurance();
            Ok((
                Verified {
                    principal: Arc::new(Principal {
                        // The account: `uid` when the subject is an external id, else the subject.
                        account: c.uid.as_deref().unwrap_or(&c.sub).parse().ok(),
                        subject: c.sub,
                        method: AuthMethod::Jwt,
                        issuer: c.iss,
                        roles: c.roles,
                        tenants: c.tenants,
                        tier: c.tier,
                        scopes: Vec::new(),
                        session_id: Some(c.sid),
                        token_id: Some(c.jti),
                        key_id: None,
                        expires_at: c.exp,
                        assurance,
                    }),
                    dfp: c.dfp,
                },
                true,
            ))
        }
    }

    async fn authenticate_cookie(
        &self,
        value: &str,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Presented, AuthFailure> {
        let session = match self.cookies.open(value, self.now_ms() / 1000) {
            Ok(session) => session,
            Err(reason) => {
                return Ok(Presented {
                    principal: None,
                    ignored: Some(Rejection::new(Credential::Cookie, "cookie", reason)),
                    form_session: None,
                });
            }
        };
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        let mut form_post = false;
        if !safe {
            let presented = headers.get(cookie::CSRF_HEADER);
            form_post = presented.is_none() && is_form(headers);
            let presented = presented.and_then(|v| v.to_str().ok()).unwrap_or("");
            if !form_post && !self.cookies.csrf_ok(&session.sid, presented) {
                return Err(AuthFailure::Csrf);
            }
        }
        let assurance = session.assurance();
        let principal = Principal {
            account: session.uid.as_deref().unwrap_or(&session.sub).parse().ok(),
            subject: session.sub,
            method: AuthMethod::Session,
            issuer: self.config.issuer.clone(),
            roles: session.roles,
            tenants: Vec::new(),
            tier: session.tier,
            scopes: Vec::new(),
            session_id: Some(session.sid),
            token_id: None,
            key_id: None,
            expires_at: session.exp,
            assurance,
        };
        self.check_revoked(&principal)
            .await
            .map_err(|f| revoked_by(f, Credential::Cookie, &principal, None))?;
        let principal = Arc::new(principal);
        if form_post {
            return Ok(Presented {
                principal: None,
                ignored: None,
                form_session: Some(FormSession(principal)),
            });
        }
        Ok(Presented {
            principal: Some(principal),
            ignored: None,
            form_session: None,
        })
    }

    async fn check_revoked(&self, principal: &Principal) -> Result<(), AuthFailure> {
        if let Some(jti) = &principal.token_id {
            self.refuse_if_flagged(&jti_flag(jti)).await?;
        }
        if let Some(sid) = &principal.session_id {
            self.refuse_if_flagged(&sid_flag(sid)).await?;
        }
        Ok(())
    }

    async fn refuse_if_flagged(&self, flag: &str) -> Result<(), AuthFailure> {
        match self.hot.has_flag(flag).await {
            Ok(false) => Ok(()),
            Ok(true) => Err(AuthFailure::Invalid(Rejection::new(
                Credential::Bearer,
                "revoked",
                "revoked",
            ))),
            Err(e) => {
                tracing::warn!(error = %e, "revocation lookup failed; refusing");
                Err(AuthFailure::Unavailable)
            }
        }
    }

    /// Forgets cached verifications of one token (after logout).
    pub fn forget_token(&self, token: &str) {
        self.verified.remove(&VerifiedCache::<Verified>::key(token));
    }

    /// Forgets cached verifications of a session's tokens.
    pub fn forget_session(&self, sid: &str) {
        let sid = sid.to_owned();
        self.verified
            .remove_where(move |v| v.principal.session_id.as_deref() == Some(sid.as_str()));
    }

    /// The public token-signing keys, as `/.well-known/jwks.json` serves them.
    pub fn jwks(&self) -> serde_json::Value {
        self.tokens().jwks()
    }
}

/// How `user` is named in tokens, `X-Palisade-User`, the identity assertion and the trail:
/// its external id under `auth.subject = "external_id"` when it has one, else its id.
pub fn subject_of(
    source: crate::config::auth::SubjectSource,
    user: &palisade_store::identity::UserRecord,
) -> String {
    match (source, &user.external_id) {
        (crate::config::auth::SubjectSource::ExternalId, Some(ext)) => ext.clone(),
        _ => user.id.to_string(),
    }
}

impl Identity {
    /// How `user` is named (see [`subject_of`]) under this gateway's `auth.subject`.
    pub fn subject_of(&self, user: &palisade_store::identity::UserRecord) -> String {
        subject_of(self.config.subject, user)
    }
}

/// A revocation found by [`Identity::refuse_if_flagged`], told as a rejection of `credential`
/// held by `principal` (other failures pass unchanged).
fn revoked_by(
    failure: AuthFailure,
    credential: Credential,
    principal: &Principal,
    key_id: Option<uuid::Uuid>,
) -> AuthFailure {
    match failure {
        AuthFailure::Invalid(r) => AuthFailure::Invalid(Rejection {
            credential,
            actor: Some(principal.subject.clone()),
            key_id: key_id.map(|k| k.to_string()),
            ..r
        }),
        other => other,
    }
}

/// The token of an `Authorization: Bearer` header (scheme case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// An HTML form body (`application/x-www-form-urlencoded`, parameters allowed).
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}
