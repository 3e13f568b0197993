//! Identity configuration: `[auth]` (tokens, sessions, registration, brute-force defense, CAPTCHA,
//! API keys, trusted issuers) and `[password]` (the password policy).

use crate::config::units::HumanDuration;
use palisade_core::jwt::Algorithm;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

fn secs(n: u64) -> HumanDuration {
    HumanDuration(Duration::from_secs(n))
}

/// Who may create an account through `POST /auth/register`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone may register.
    #[default]
    Open,
    /// Only with an invite from `POST /auth/invites` (admins).
    Invite,
    /// Nobody may register; accounts are made by administrators.
    Disabled,
}

/// What names a Palisade account in its tokens' `sub`, `X-Palisade-User`, the signed identity
/// assertion and the audit trail's `actor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SubjectSource {
    /// The account's external id when it has one (an imported account), else its id.
    #[default]
    ExternalId,
    /// Always the account's id (UUID).
    Id,
}

/// `[auth]`: tokens, sessions, registration, password hashing and the credential defenses.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Who may create an account through `POST /auth/register`.
    pub registration: Registration,
    /// `iss` of the tokens Palisade signs.
    pub issuer: String,
    /// `aud` of the access tokens Palisade signs and accepts.
    pub audience: String,
    /// `EdDSA` (default), `ES256`, `RS256` or `HS256`.
    pub algorithm: Algorithm,
    /// Lifetime of an access token.
    pub access_token_ttl: HumanDuration,
    /// How long an unused refresh token stays valid.
    pub refresh_token_ttl: HumanDuration,
    /// Absolute end of a session, however often it is refreshed.
    pub session_lifetime: HumanDuration,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: HumanDuration,
    /// Bearer tokens longer than this are refused unread.
    pub max_token_bytes: usize,
    /// A rotated refresh token presented again within this window (concurrent refreshes) is
    /// honoured; later, it revokes its whole session.
    pub refresh_reuse_grace: HumanDuration,
    /// Refuse access tokens presented by a different device than the one that logged in.
    pub device_binding: bool,
    /// Roles given to accounts created through `/auth/register` (and to imported accounts
    /// whose row names none).
    pub default_roles: Vec<String>,
    /// `external_id` (default) or `id`: what names an account in tokens, headers and the trail.
    pub subject: SubjectSource,
    /// Password hashes computed at once; more wait (bounded by `hash_queue_timeout`). 0 = cores.
    pub hash_workers: usize,
    /// How long a sign-in waits for a hashing slot before 503.
    pub hash_queue_timeout: HumanDuration,
    /// Replace a legacy hash (bcrypt, PBKDF2, scrypt: any format but argon2) with argon2id at
    /// the user's next sign-in. `false` keeps the imported hash during a trial period, so the
    /// app it came from can still check the password; argon2 hashes with other parameters are
    /// still moved to the current ones.
    pub rehash_legacy: bool,
    /// Verified tokens kept in memory (keyed by a hash of the token, until `exp`).
    pub token_cache_capacity: u64,
    /// Lifetime of the browser session cookie `__Host-palisade`.
    pub cookie_session_ttl: HumanDuration,
    /// `[auth.hashing]`: argon2id parameters.
    pub hashing: palisade_core::password::HashParams,
    /// `[auth.brute_force]`: the delay ladder and IP blocks.
    pub brute_force: BruteForceConfig,
    /// `[auth.captcha]`: CAPTCHA on registration and after failed sign-ins.
    pub captcha: CaptchaConfig,
    /// `[auth.api_keys]`: key rotation and the verified-key cache.
    pub api_keys: ApiKeysConfig,
    /// `[[auth.trusted_issuers]]`: other issuers whose tokens are accepted.
    pub trusted_issuers: Vec<TrustedIssuerConfig>,
    /// `[auth.totp]`: how TOTP codes are checked.
    pub totp: super::mfa::TotpConfig,
    /// `[auth.mfa]`: who must use a second factor, and the pending sign-in's lifetime.
    pub mfa: super::mfa::MfaConfig,
    /// `[auth.device]`: the device authorization grant (RFC 8628).
    pub device: crate::config::device::DeviceConfig,
    /// `[auth.pages]`: the hosted sign-in pages.
    pub pages: crate::config::pages::PagesConfig,
    /// `[auth.passkeys]`: the WebAuthn relying party (passkeys).
    pub passkeys: crate::config::pages::PasskeysConfig,
    /// `[auth.email]`: address verification, password reset and change of address by e-mail.
    pub email: crate::config::email::EmailFlowConfig,
    /// `false`: no sign-in by password anywhere (API, browser session, pages): a passwordless
    /// deployment (passkeys, `[[auth.providers]]`).
    pub password_login: bool,
    /// `[[auth.providers]]`: identity providers people sign in with.
    pub providers: Vec<super::providers::ProviderConfig>,
    /// `[auth.federation]`: what the providers' sign-ins share.
    pub federation: super::providers::FederationConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            registration: Registration::Open,
            issuer: "palisade".into(),
            audience: "palisade".into(),
            algorithm: Algorithm::EdDSA,
            access_token_ttl: secs(30 * 60),
            refresh_token_ttl: secs(14 * 86400),
            session_lifetime: secs(30 * 86400),
            leeway: secs(30),
            max_token_bytes: 8192,
            refresh_reuse_grace: secs(5),
            device_binding: false,
            default_roles: vec!["member".into()],
            subject: SubjectSource::ExternalId,
            hash_workers: 0,
            hash_queue_timeout: secs(10),
            rehash_legacy: true,
            token_cache_capacity: 100_000,
            cookie_session_ttl: secs(12 * 3600),
            hashing: Default::default(),
            brute_force: Default::default(),
            captcha: Default::default(),
            api_keys: Default::default(),
            trusted_issuers: Vec::new(),
            totp: Default::default(),
            mfa: Default::default(),
            device: Default::default(),
            pages: Default::default(),
            passkeys: Default::default(),
            email: Default::default(),
            password_login: true,
            providers: Vec::new(),
            federation: Default::default(),
        }
    }
}

/// Failed-login defense: a delay ladder per account and per IP, and IP blocks by threat level.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BruteForceConfig {
    /// Turns the ladder and the IP blocks on.
    pub enabled: bool,
    /// Waits imposed after the 1st, 2nd, … consecutive failure; the last one repeats.
    pub ladder: Vec<HumanDuration>,
    /// Consecutive failures forgiven before the ladder starts.
    pub free_failures: u64,
    /// Failures from one IP within 24 hours for each threat level, and how long each blocks.
    pub medium_failures: u64,
    /// How long MEDIUM blocks.
    pub medium_block: HumanDuration,
    /// Failures that reach HIGH.
    pub high_failures: u64,
    /// How long HIGH blocks.
    pub high_block: HumanDuration,
    /// Failures that reach CRITICAL.
    pub critical_failures: u64,
    /// How long CRITICAL blocks.
    pub critical_block: HumanDuration,
}

impl Default for BruteForceConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ladder: palisade_core::brute_force::DEFAULT_LADDER
                .iter()
                .map(|d| HumanDuration(*d))
                .collect(),
            free_failures: 0,
            medium_failures: 5,
            medium_block: secs(15 * 60),
            high_failures: 10,
            high_block: secs(3600),
            critical_failures: 20,
            critical_block: secs(86400),
        }
    }
}

/// Server-side CAPTCHA check with the siteverify protocol (Turnstile, hCaptcha, reCAPTCHA).
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptchaConfig {
    /// Turns CAPTCHA checks on.
    pub enabled: bool,
    /// e.g. `https://challenges.cloudflare.com/turnstile/v0/siteverify`.
    pub verify_url: String,
    /// The siteverify secret (may be a `secret://` or `file:` reference).
    pub secret: String,
    /// Ask for a CAPTCHA on every registration.
    pub on_register: bool,
    /// Ask for a CAPTCHA at login after this many failures (account or IP); 0 = always.
    pub login_after_failures: u64,
    /// How long the siteverify call may take (then the sign-in is refused: fail closed).
    pub timeout: HumanDuration,
}

impl Default for CaptchaConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            verify_url: "https://challenges.cloudflare.com/turnstile/v0/siteverify".into(),
            secret: String::new(),
            on_register: true,
            login_after_failures: 3,
            timeout: secs(5),
        }
    }
}

impl std::fmt::Debug for CaptchaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptchaConfig")
            .field("enabled", &self.enabled)
            .field("verify_url", &self.verify_url)
            .finish_non_exhaustive()
    }
}

/// `[auth.api_keys]`: rotation overlap, the verified-key cache and `last_used_at` batching.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiKeysConfig {
    /// How long the old key keeps working after `POST /auth/api-keys/{id}/rotate`.
    pub rotation_overlap: HumanDuration,
    /// Verified keys kept in memory; a revoke drops the entry at once.
    pub cache_capacity: u64,
    /// How long a verified key stays cached (revocations drop it at once).
    pub cache_ttl: HumanDuration,
    /// How often `last_used_at` is written (batched).
    pub touch_interval: HumanDuration,
    /// A key that is not Palisade's own (`pal_` + 64 hex) is looked up as an imported key only
    /// when it starts with one of these.
    pub prefixes: Vec<String>,
    /// How a key may be presented, tried in order: a header name (`X-API-Key`), or
    /// `Authorization: Bearer` (a bearer token that is a Palisade key or starts with one of
    /// `prefixes`; any other bearer token is a JWT).
    pub headers: Vec<String>,
    /// Made-up imported keys remembered as failed (by their keyed hash), so a repeat costs no
    /// slow verification.
    pub negative_cache_capacity: u64,
    /// How long a failed imported key is remembered.
    pub negative_cache_ttl: HumanDuration,
}

/// The spelling of the bearer entry of `auth.api_keys.headers`.
pub const BEARER_ENTRY: &str = "Authorization: Bearer";

/// How API keys may be presented, as `auth.api_keys.headers` says (built once at start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPresentation {
    /// Header names carrying a bare key, in order.
    pub headers: Vec<http::HeaderName>,
    /// Whether `Authorization: Bearer` may carry a key.
    pub bearer: bool,
}

impl ApiKeysConfig {
    /// The presentation `headers` describes, or every problem with it and with `prefixes`
    /// (what `config check` and start-up both report).
    pub fn presentation(&self) -> Result<KeyPresentation, Vec<String>> {
        let mut out = Vec::new();
        let mut p = KeyPresentation {
            headers: Vec::new(),
            bearer: false,
        };
        if self.headers.is_empty() {
            out.push("auth.api_keys.headers must name at least one way to present a key".into());
        }
        for h in &self.headers {
            if h.eq_ignore_ascii_case(BEARER_ENTRY) {
                if p.bearer {
                    out.push(format!(
                        "auth.api_keys.headers: {BEARER_ENTRY:?} named twice"
                    ));
                }
                p.bearer = true;
                continue;
            }
            match http::HeaderName::from_bytes(h.as_bytes()) {
                Ok(name)
                    if name == http::header::AUTHORIZATION
                        || name == http::header::COOKIE
                        || name.as_str().starts_with("x-palisade-") =>
                {
                    out.push(format!(
                        "auth.api_keys.headers: {h:?} cannot carry a key (use {BEARER_ENTRY:?} for Authorization)"
                    ));
                }
                Ok(name) if p.headers.contains(&name) => {
                    out.push(format!("auth.api_keys.headers: {h:?} named twice"));
                }
                Ok(name) => p.headers.push(name),
                Err(_) => out.push(format!(
                    "auth.api_keys.headers: {h:?} is not a header name or {BEARER_ENTRY:?}"
                )),
            }
        }
        for prefix in &self.prefixes {
            if prefix.is_empty()
                || prefix.len() > 64
                || !prefix.bytes().all(|b| b.is_ascii_graphic())
            {
                out.push(format!(
                    "auth.api_keys.prefixes: {prefix:?} must be 1 to 64 printable ASCII characters without spaces"
                ));
            }
        }
        if self.negative_cache_capacity == 0 {
            out.push("auth.api_keys.negative_cache_capacity must be at least 1".into());
        }
        if out.is_empty() { Ok(p) } else { Err(out) }
    }
}

impl Default for ApiKeysConfig {
    fn default() -> Self {
        Self {
            rotation_overlap: secs(86400),
            cache_capacity: 100_000,
            cache_ttl: secs(300),
            touch_interval: secs(30),
            prefixes: vec![palisade_core::api_key::PREFIX.into()],
            headers: vec!["X-API-Key".into(), BEARER_ENTRY.into()],
            negative_cache_capacity: 100_000,
            negative_cache_ttl: secs(600),
        }
    }
}

/// An external issuer whose tokens Palisade accepts (Keycloak, Auth0, a corporate IdP).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TrustedIssuerConfig {
    /// The issuer's `iss`; a token names it to be verified by this entry.
    pub issuer: String,
    /// Audiences accepted (`aud`); at least one.
    pub audiences: Vec<String>,
    /// Algorithms pinned to its keys; anything else is refused.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew tolerated; default `auth.leeway`.
    pub leeway: Option<HumanDuration>,
    /// Its JWKS from a file.
    pub jwks_file: Option<PathBuf>,
    /// Its JWKS from an HTTPS URL (refreshed by the sync).
    pub jwks_url: Option<String>,
    /// Claim holding the subject (default `sub`), the roles (default `roles`; dotted paths like
    /// `realm_access.roles` work) and the tenant (default `tenant`).
    pub subject_claim: Option<String>,
    /// See `subject_claim`.
    pub roles_claim: Option<String>,
    /// See `subject_claim`.
    pub tenant_claim: Option<String>,
    /// A migration window for an application's own HS256 tokens: the secret it signs them with,
    /// as a reference (`secret://PATH` or `file:PATH`; ≥ 32 bytes). Only with
    /// `algorithms = ["HS256"]`, no JWKS, and `accept_until`. The token's subject must be an
    /// imported account's external id.
    pub shared_secret: Option<String>,
    /// The end of the window (RFC 3339, e.g. `2027-03-31T00:00:00Z`; a date alone is 00:00 UTC
    /// of that day): from then on this issuer's tokens are refused.
    pub accept_until: Option<String>,
    /// Take tokens without `iss` as this issuer's (at most one issuer; shared secret only).
    pub match_missing_iss: bool,
    /// Count the issuer's `acr` / `amr` claims for step-up (`mfa = true`, `max_auth_age`);
    /// without it its tokens meet no step-up requirement.
    pub mfa_claims_trusted: bool,
}

impl TrustedIssuerConfig {
    /// `accept_until` in Unix seconds; `Err` names what is wrong with it.
    pub fn accept_until_unix(&self) -> Option<Result<u64, String>> {
        let text = self.accept_until.as_deref()?;
        let full = if text.len() == 10 {
            format!("{text}T00:00:00Z")
        } else {
            text.to_owned()
        };
        Some(
            crate::config::units::parse_rfc3339(&full)
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
                .ok_or_else(|| {
                    format!("{text:?} is not an RFC 3339 time such as 2027-03-31T00:00:00Z")
                }),
        )
    }

    /// Is this a migration window for an application's own HS256 tokens?
    pub fn is_migration_window(&self) -> bool {
        self.shared_secret.is_some()
    }

    fn problems(&self, at: &str, production: bool) -> Vec<String> {
        let mut out = Vec::new();
        if self.issuer.is_empty() {
            out.push(format!("{at}.issuer is required"));
        }
        if self.audiences.is_empty() {
            out.push(format!("{at}.audiences must name at least one audience"));
        }
        if self.algorithms.is_empty() {
            out.push(format!("{at}.algorithms must name at least one algorithm"));
        }
        if let Some(Err(why)) = self.accept_until_unix() {
            out.push(format!("{at}.accept_until: {why}"));
        }
        let Some(secret) = &self.shared_secret else {
            if self.algorithms.contains(&Algorithm::HS256) {
                out.push(format!(
                    "{at}.algorithms: HS256 is accepted from another issuer only with shared_secret and accept_until (a migration window)"
                ));
            }
            if self.accept_until.is_some() || self.match_missing_iss {
                out.push(format!(
                    "{at}: accept_until and match_missing_iss belong to a shared_secret migration window"
                ));
            }
            if self.jwks_file.is_some() == self.jwks_url.is_some() {
                out.push(format!("{at}: set exactly one of jwks_file and jwks_url"));
            }
            return out;
        };
        if self.algorithms != [Algorithm::HS256] {
            out.push(format!(
                "{at}.algorithms must be [\"HS256\"] with a shared_secret"
            ));
        }
        if self.accept_until.is_none() {
            out.push(format!(
                "{at}.accept_until is required with a shared_secret: the window must end"
            ));
        }
        if self.jwks_file.is_some() || self.jwks_url.is_some() {
            out.push(format!(
                "{at}: a shared_secret issuer takes no jwks_file or jwks_url"
            ));
        }
        // References are judged once resolved (serve and config check resolve them first).
        if !crate::config::refs::is_reference(secret) {
            let short = secret.len() < 32;
            if short && production {
                out.push(format!(
                    "{at}.shared_secret must be at least 32 bytes in production"
                ));
            } else if secret.is_empty() {
                out.push(format!("{at}.shared_secret is empty"));
            }
        }
        out
    }
}

impl AuthConfig {
    /// Problems with the identity configuration, each naming its key.
    pub fn problems(&self, production: bool) -> Vec<String> {
        let mut out = self.hashing.problems();
        out.extend(self.device.problems());
        out.extend(self.pages.problems());
        out.extend(self.passkeys.problems());
        out.extend(self.email.problems());
        out.extend(super::providers::problems(&self.providers));
        if self.federation.flow_ttl.0 < Duration::from_secs(60)
            || self.federation.flow_ttl.0 > Duration::from_secs(3600)
        {
            out.push("auth.federation.flow_ttl must be between 1m and 1h".into());
        }
        if let Err(problems) = self.api_keys.presentation() {
            out.extend(problems);
        }
        let bf = &self.brute_force;
        if bf.enabled && bf.ladder.is_empty() {
            out.push("auth.brute_force.ladder must have at least one step".into());
        }
        out.extend(self.threat_policy().problems());
        if self.access_token_ttl.0 < Duration::from_secs(10) {
            out.push("auth.access_token_ttl must be at least 10s".into());
        }
        if self.max_token_bytes < 512 {
            out.push("auth.max_token_bytes must be at least 512".into());
        }
        if self.issuer.is_empty() || self.audience.is_empty() {
            out.push("auth.issuer and auth.audience must not be empty".into());
        }
        if self.captcha.enabled && self.captcha.secret.is_empty() {
            out.push("auth.captcha.secret is required when auth.captcha.enabled".into());
        }
        for (i, t) in self.trusted_issuers.iter().enumerate() {
            let at = format!("auth.trusted_issuers[{i}]");
            if t.issuer == self.issuer {
                out.push(format!("{at}.issuer must differ from auth.issuer"));
            }
            out.extend(t.problems(&at, production));
        }
        if self
            .trusted_issuers
            .iter()
            .filter(|t| t.match_missing_iss)
            .count()
            > 1
        {
            out.push("auth.trusted_issuers: at most one issuer may set match_missing_iss".into());
        }
        out
    }

    /// One line per shared-secret migration window (`auth.trusted_issuers[N].shared_secret`): whose
    /// tokens are accepted until when, or since when they are refused. `now`: Unix seconds.
    pub fn migration_windows(&self, now: u64) -> Vec<String> {
        let mut out = Vec::new();
        for (i, t) in self.trusted_issuers.iter().enumerate() {
            let Some(Ok(until)) = t.accept_until_unix().filter(|_| t.is_migration_window()) else {
                continue;
            };
            let at = format!("auth.trusted_issuers[{i}] ({})", t.issuer);
            let end = humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(until),
            );
            out.push(if until > now {
                let days = (until - now).div_ceil(86_400);
                format!(
                    "{at}: HS256 tokens signed with a shared secret are accepted until {end} ({days} day{} left); retire the secret after that",
                    if days == 1 { "" } else { "s" }
                )
            } else {
                format!("{at}: the shared-secret migration window ended at {end}; its tokens are refused: remove the issuer")
            });
        }
        out
    }

    /// The per-account and per-IP delay ladder this section describes.
    pub fn ladder(&self) -> palisade_core::brute_force::Ladder {
        palisade_core::brute_force::Ladder::new(
            self.brute_force.ladder.iter().map(|d| d.0).collect(),
            self.brute_force.free_failures,
        )
    }

    /// The IP threat ladder this section describes.
    pub fn threat_policy(&self) -> palisade_core::brute_force::ThreatPolicy {
        use palisade_core::brute_force::{ThreatPolicy, Threshold};
        let bf = &self.brute_force;
        ThreatPolicy {
            medium: Threshold {
                failures: bf.medium_failures,
                block: bf.medium_block.0,
            },
            high: Threshold {
                failures: bf.high_failures,
                block: bf.high_block.0,
            },
            critical: Threshold {
                failures: bf.critical_failures,
                block: bf.critical_block.0,
            },
        }
    }
}
