//! Trusted external issuers: their JWKS from a file or a URL, refreshed when a token names an
//! unknown `kid` (at most once a minute, so a flood of made-up kids cannot make Palisade hammer
//! the issuer), and hourly.
//!
//! A JWKS URL that cannot be fetched leaves the issuer without keys: its tokens are refused
//! (fail closed) until a fetch succeeds.
//!
//! A migration window (`shared_secret` + `accept_until`) has no JWKS: its one key is the
//! application's HS256 secret, and from `accept_until` on every token of it is refused.

use crate::config::auth::TrustedIssuerConfig;
use palisade_core::jwt::{ClaimNames, ExternalClaims, JwtError, TrustedIssuer};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

const REFETCH_AT_MOST_EVERY_MS: u64 = 60_000;
const REFRESH_EVERY_MS: u64 = 3_600_000;
const MAX_JWKS_BYTES: usize = 1 << 20;

enum Source {
    File(PathBuf),
    Url(String),
    /// The shared secret of a migration window: nothing to fetch.
    Shared,
}

/// A trusted issuer: its verifier and where its keys come from (file or JWKS URL).
pub struct Trusted {
    verifier: TrustedIssuer,
    source: Source,
    client: reqwest::Client,
    last_fetch_ms: Mutex<Option<u64>>,
    /// Unix seconds from which this issuer's tokens are refused (migration windows).
    accept_until: Option<u64>,
    /// Whether the issuer's `acr` / `amr` count for step-up.
    mfa_claims_trusted: bool,
}

impl Trusted {
    /// Loads the issuer's keys as `config` says.
    pub async fn load(config: &TrustedIssuerConfig, now_ms: u64) -> Result<Self, String> {
        let defaults = ClaimNames::default();
        let claims = ClaimNames {
            subject: config.subject_claim.clone().unwrap_or(defaults.subject),
            roles: config.roles_claim.clone().unwrap_or(defaults.roles),
            tenant: config.tenant_claim.clone().unwrap_or(defaults.tenant),
        };
        let mut verifier = TrustedIssuer::new(
            config.issuer.clone(),
            config.audiences.clone(),
            config.algorithms.clone(),
            config.leeway.map_or(30, |l| l.0.as_secs()),
            claims,
        );
        let source = match (&config.shared_secret, &config.jwks_file, &config.jwks_url) {
            (Some(secret), _, _) => {
                verifier = verifier
                    .with_shared_secret(secret.as_bytes())
                    .map_err(|e| format!("trusted issuer {}: {e}", config.issuer))?;
                Source::Shared
            }
            (None, Some(file), _) => Source::File(file.clone()),
            (None, None, Some(url)) => Source::Url(url.clone()),
            (None, None, None) => {
                return Err(format!("trusted issuer {}: no JWKS", config.issuer));
            }
        };
        if config.match_missing_iss {
            verifier = verifier.matching_missing_iss();
        }
        let accept_until = match config.accept_until_unix() {
            None => None,
            Some(Ok(t)) => Some(t),
            Some(Err(why)) => return Err(format!("trusted issuer {}: {why}", config.issuer)),
        };
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| e.to_string())?;
        let trusted = Self {
            verifier,
            source,
            client,
            last_fetch_ms: Mutex::new(None),
            accept_until,
            mfa_claims_trusted: config.mfa_claims_trusted,
        };
        match trusted.fetch(now_ms).await {
            Ok(_) => {}
            Err(e) if matches!(trusted.source, Source::File(_)) => return Err(e),
            Err(e) => tracing::warn!(
                issuer = %config.issuer,
                error = %e,
                "cannot fetch the JWKS; this issuer's tokens are refused until it can be fetched"
            ),
        }
        Ok(trusted)
    }

    /// The issuer's `iss`.
    pub fn issuer(&self) -> &str {
        self.verifier.issuer()
    }

    /// Is this the migration window of an application's own HS256 tokens?
    pub fn is_migration_window(&self) -> bool {
        matches!(self.source, Source::Shared)
    }

    /// Do this issuer's `acr` / `amr` claims count for step-up (`mfa_claims_trusted`)?
    pub fn mfa_claims_trusted(&self) -> bool {
        self.mfa_claims_trusted
    }

    /// Does this issuer take tokens without `iss`?
    pub fn matches_missing_iss(&self) -> bool {
        self.verifier.matches_missing_iss()
    }

    /// Unix seconds from which this issuer's tokens are refused, if its window ends.
    pub fn accept_until(&self) -> Option<u64> {
        self.accept_until
    }

    async fn fetch(&self, now_ms: u64) -> Result<usize, String> {
        *self.last_fetch_ms.lock().unwrap_or_else(|e| e.into_inner()) = Some(now_ms);
        let document = match &self.source {
            Source::Shared => return Ok(1),
            Source::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("JWKS file {}: {e}", path.display()))?,
            Source::Url(url) => {
                let res = self
                    .client
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| format!("JWKS {url}: {e}"))?;
                if !res.status().is_success() {
                    return Err(format!("JWKS {url}: HTTP {}", res.status()));
                }
                let body = res.bytes().await.map_err(|e| format!("JWKS {url}: {e}"))?;
                if body.len() > MAX_JWKS_BYTES {
                    return Err(format!("JWKS {url}: larger than {MAX_JWKS_BYTES} bytes"));
                }
                String::from_utf8(body.to_vec()).map_err(|_| format!("JWKS {url}: not UTF-8"))?
            }
        };
        self.verifier
            .set_jwks(&document)
            .map_err(|e| format!("JWKS of {}: {e}", self.issuer()))
    }

    /// Claims the right to fetch now, if the last fetch is at least `interval` old.
    fn due(&self, now_ms: u64, interval: u64) -> bool {
        let mut last = self.last_fetch_ms.lock().unwrap_or_else(|e| e.into_inner());
        match *last {
            Some(at) if now_ms.saturating_sub(at) < interval => false,
            _ => {
                *last = Some(now_ms);
                true
            }
        }
    }

    /// Hourly refresh, called by the background sync.
    pub async fn refresh_if_stale(&self, now_ms: u64) {
        if self.due(now_ms, REFRESH_EVERY_MS)
            && let Err(e) = self.fetch(now_ms).await
        {
            tracing::warn!(issuer = %self.issuer(), error = %e, "JWKS refresh failed");
        }
    }

    /// Verifies a token of this issuer, re-reading its JWKS for an unknown `kid` (rate-limited, so
    /// made-up key ids cannot flood the issuer).
    pub async fn verify(&self, token: &str, now_ms: u64) -> Result<ExternalClaims, JwtError> {
        let now = now_ms / 1000;
        if self.accept_until.is_some_and(|until| now >= until) {
            return Err(JwtError::WindowClosed);
        }
        match self.verifier.verify(token, now) {
            Err(JwtError::UnknownKid) if self.due(now_ms, REFETCH_AT_MOST_EVERY_MS) => {
                if let Err(e) = self.fetch(now_ms).await {
                    tracing::warn!(issuer = %self.issuer(), error = %e, "JWKS refetch failed");
                }
                self.verifier.verify(token, now)
            }
            other => other,
        }
    }
}
