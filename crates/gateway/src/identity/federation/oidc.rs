//! One OpenID Connect provider at run time: its metadata (discovered once, lazily, through its
//! [`ProviderHttp`]), the authorization request of a started flow, and the callback's checks
//! up to a verified identity.
//!
//! Guarantees of [`Provider::finish`]: the RFC 9207 `iss` response parameter is required and
//! must equal the issuer when the provider advertises it (and must equal it whenever sent):
//! the mix-up defence; the code is exchanged at the discovered token endpoint with the flow's
//! PKCE verifier and this provider's `redirect_uri`, only through the provider's reach; the ID
//! token is verified by `palisade_core::jwt::TrustedIssuer`: a signature by a key of the
//! provider's JWKS pinned to one of the algorithms the provider advertises among EdDSA, ES256
//! and RS256 (never `none`, never HS256: a JWKS holds no secret), `iss` exactly the issuer,
//! `aud` naming the client id, `exp` on the gateway's clock with `auth.leeway`; then `iat`
//! not in the future, `nonce` equal to the flow's, `azp` equal to the client id when present
//! or when `aud` names others too. Userinfo, when the provider has the endpoint, is read with
//! the access token and taken only when its `sub` is the ID token's (OIDC Core §5.3.4).
//!
//! A `kind = "github"` provider is the same [`Provider`] without discovery or ID token: its
//! requests are [`super::github`]'s, through the same reach and after the same `iss` check.

use super::discovery::{DiscoveryError, ProviderMetadata, discover};
use super::reach::{FetchError, ProviderHttp};
use crate::config::providers::{ProviderConfig, ProviderKind};
use palisade_core::jwt::{Algorithm, ClaimNames, JwtError, TrustedIssuer};
use palisade_core::mfa::assurance::Assurance;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Why a callback did not give a verified identity: the reason on record and the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denied {
    /// The audit reason and problem slug.
    pub reason: &'static str,
    /// The sentence for the person.
    pub detail: &'static str,
    /// The provider failed (502) rather than the request being refused (400/401).
    pub provider_failed: bool,
}

pub(crate) const fn denied(reason: &'static str, detail: &'static str) -> Denied {
    Denied {
        reason,
        detail,
        provider_failed: false,
    }
}

pub(crate) const fn provider_failed(reason: &'static str, detail: &'static str) -> Denied {
    Denied {
        reason,
        detail,
        provider_failed: true,
    }
}

/// What a provider vouched for.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    /// The issuer (the account key's first half).
    pub issuer: String,
    /// Its `sub` (the second half).
    pub subject: String,
    /// The e-mail address it reports, if any.
    pub email: Option<String>,
    /// Whether it says it verified that address.
    pub email_verified: bool,
    /// Every claim of the ID token, userinfo's added where the token lacks them.
    pub claims: Map<String, Value>,
    /// The assurance the ID token claims (`acr`, `amr`, `auth_time`); counted only with
    /// `mfa_claims_trusted`.
    pub claimed: Option<Assurance>,
}

/// A provider's discovered metadata and ID-token verifier.
pub struct Ready {
    meta: ProviderMetadata,
    verifier: TrustedIssuer,
}

/// A configured OpenID Connect provider.
pub struct Provider {
    /// Its configuration.
    pub config: ProviderConfig,
    http: ProviderHttp,
    /// The issuer of its identities ([`ProviderConfig::effective_issuer`]).
    issuer: String,
    ready: tokio::sync::Mutex<Option<Arc<Ready>>>,
    leeway_secs: u64,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("id", &self.config.id)
            .finish_non_exhaustive()
    }
}

/// The algorithms Palisade verifies ID tokens with, of those the provider advertises.
fn usable_algs(advertised: &[String]) -> Vec<Algorithm> {
    advertised
        .iter()
        .filter_map(|a| a.parse::<Algorithm>().ok())
        .filter(|a| *a != Algorithm::HS256)
        .collect()
}

/// A JWKS with each key's `alg` named: a key without one gets the only algorithm its type
/// and curve allow among ours (EC P-256: ES256, OKP Ed25519: EdDSA, RSA: RS256), so every key
/// stays pinned to one algorithm.
fn pinned_jwks(mut jwks: Value) -> Value {
    if let Some(keys) = jwks.get_mut("keys").and_then(Value::as_array_mut) {
        for key in keys.iter_mut().filter_map(Value::as_object_mut) {
            if key.contains_key("alg") {
                continue;
            }
            let alg = match (
                key.get("kty").and_then(Value::as_str),
                key.get("crv").and_then(Value::as_str),
            ) {
                (Some("EC"), Some("P-256")) => "ES256",
                (Some("OKP"), Some("Ed25519")) => "EdDSA",
                (Some("RSA"), _) => "RS256",
                _ => continue,
            };
            key.insert("alg".into(), alg.into());
        }
    }
    jwks
}

impl Provider {
    /// The provider of `config` (checked by `config check`); nothing is fetched yet.
    pub fn new(config: ProviderConfig, leeway_secs: u64) -> Result<Self, String> {
        let issuer = config.effective_issuer();
        let http = ProviderHttp::new(&issuer, &config.effective_allowed_hosts())
            .map_err(|e| format!("auth.providers {:?}: {e}", config.id))?;
        Ok(Self {
            config,
            http,
            issuer,
            ready: tokio::sync::Mutex::new(None),
            leeway_secs,
        })
    }

    /// The discovered metadata and the ID-token verifier (fetched on first use; a failure is
    /// retried by the next request).
    async fn ready(&self) -> Result<Arc<Ready>, Denied> {
        let mut slot = self.ready.lock().await;
        if let Some(r) = slot.as_ref() {
            return Ok(r.clone());
        }
        let unreachable = provider_failed(
            "provider-unavailable",
            "The identity provider cannot be reached or is misconfigured; try again later.",
        );
        let meta =
            discover(&self.http, &self.config.issuer)
                .await
                .map_err(|e: DiscoveryError| {
                    tracing::warn!(provider = %self.config.id, error = %e, "discovery refused");
                    unreachable
                })?;
        let algs = usable_algs(&meta.id_token_algs);
        if algs.is_empty() {
            tracing::warn!(provider = %self.config.id, "no ID-token algorithm Palisade verifies (EdDSA, ES256, RS256)");
            return Err(unreachable);
        }
        let verifier = TrustedIssuer::new(
            meta.issuer.clone(),
            vec![self.config.client_id.clone()],
            algs,
            self.leeway_secs,
            ClaimNames::default(),
        );
        let ready = Arc::new(Ready { meta, verifier });
        self.refresh_jwks(&ready).await.map_err(|e| {
            tracing::warn!(provider = %self.config.id, error = %e, "JWKS not read");
            unreachable
        })?;
        *slot = Some(ready.clone());
        Ok(ready)
    }

    async fn refresh_jwks(&self, ready: &Ready) -> Result<usize, String> {
        let jwks = self
            .http
            .get_json(&ready.meta.jwks_uri)
            .await
            .map_err(|e| e.to_string())?;
        ready
            .verifier
            .set_jwks(&pinned_jwks(jwks).to_string())
            .map_err(|e| e.to_string())
    }

    /// The authorization URL of a started flow asking for `scopes` (`prompt=consent` with
    /// `offline_access`, which OIDC Core §11 ties to consent).
    pub async fn authorization_url(
        &self,
        state: &str,
        nonce: &str,
        challenge: &str,
        scopes: &[String],
    ) -> Result<String, Denied> {
        if self.config.kind == ProviderKind::Github {
            return super::github::authorization_url(&self.config, state, challenge, scopes);
        }
        let ready = self.ready().await?;
        let mut url = url::Url::parse(&ready.meta.authorization_endpoint).map_err(|_| {
            provider_failed(
                "provider-unavailable",
                "The identity provider is misconfigured.",
            )
        })?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.config.redirect_uri)
            .append_pair("scope", &scopes.join(" "))
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        if scopes.iter().any(|s| s == "offline_access") {
            url.query_pairs_mut().append_pair("prompt", "consent");
        }
        Ok(url.into())
    }

    /// The callback's checks, from the authorization response to a verified identity. `iss`:
    /// the response's `iss` parameter; `now`: Unix seconds on the gateway's clock.
    pub async fn finish(
        &self,
        code: &str,
        iss: Option<&str>,
        verifier: &str,
        nonce: &str,
        now: u64,
    ) -> Result<VerifiedIdentity, Denied> {
        if self.config.kind == ProviderKind::Github {
            check_iss(iss, &self.issuer, false)?;
            return super::github::finish(&self.http, &self.config, &self.issuer, code, verifier)
                .await;
        }
        let (ready, tokens) = self.exchange(code, iss, verifier).await?;
        self.verify(&ready, &tokens, nonce, now).await
    }

    /// The `iss` check and the code exchange: the token endpoint's answer (an OAuth connection
    /// keeps its tokens; a sign-in goes on to [`Provider::finish`]'s ID-token checks).
    pub async fn exchange(
        &self,
        code: &str,
        iss: Option<&str>,
        verifier: &str,
    ) -> Result<(Arc<Ready>, Value), Denied> {
        if self.config.kind == ProviderKind::Github {
            // Refused by `config check` (no connections to a github provider).
            return Err(not_for_github());
        }
        let ready = self.ready().await?;
        check_iss(
            iss,
            &ready.meta.issuer,
            ready.meta.iss_in_authorization_response,
        )?;
        let tokens = self
            .http
            .post_form(
                &ready.meta.token_endpoint,
                (&self.config.client_id, &self.config.client_secret),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", &self.config.redirect_uri),
                    ("code_verifier", verifier),
                ],
            )
            .await
            .map_err(|e| match e {
                FetchError::Status(400 | 401) => denied(
                    "code-rejected",
                    "The provider did not accept the authorization code (used, expired or another's).",
                ),
                e => {
                    tracing::warn!(provider = %self.config.id, error = %e, "token request failed");
                    provider_failed(
                        "provider-unavailable",
                        "The identity provider cannot be reached; try again later.",
                    )
                }
            })?;
        Ok((ready, tokens))
    }

    /// Refreshes an access token (`grant_type=refresh_token`): the token endpoint's answer.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Value, Denied> {
        if self.config.kind == ProviderKind::Github {
            return Err(not_for_github());
        }
        let ready = self.ready().await?;
        self.http
            .post_form(
                &ready.meta.token_endpoint,
                (&self.config.client_id, &self.config.client_secret),
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token),
                ],
            )
            .await
            .map_err(|e| match e {
                FetchError::Status(400 | 401) => denied(
                    "refresh-rejected",
                    "The provider no longer accepts this connection's refresh token; connect again.",
                ),
                e => {
                    tracing::warn!(provider = %self.config.id, error = %e, "refresh failed");
                    provider_failed(
                        "provider-unavailable",
                        "The identity provider cannot be reached; try again later.",
                    )
                }
            })
    }

    async fn verify(
        &self,
        ready: &Ready,
        tokens: &Value,
        nonce: &str,
        now: u64,
    ) -> Result<VerifiedIdentity, Denied> {
        let id_token = tokens
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or(denied(
                "id-token-missing",
                "The provider answered without an ID token.",
            ))?;
        let (checked, mut claims) = match ready.verifier.verify_with_claims(id_token, now) {
            Err(JwtError::UnknownKid) => {
                // A rotated key: read the JWKS once more, then verify again.
                let _ = self.refresh_jwks(ready).await;
                ready.verifier.verify_with_claims(id_token, now)
            }
            other => other,
        }
        .map_err(|e| id_token_denied(&e))?;
        let iat = claims
            .get("iat")
            .and_then(Value::as_u64)
            .ok_or(id_token_invalid())?;
        if iat > now + self.leeway_secs {
            return Err(id_token_invalid());
        }
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(denied(
                "nonce-mismatch",
                "The ID token was not issued for this sign-in (nonce).",
            ));
        }
        let other_audiences = match claims.get("aud") {
            Some(Value::Array(a)) => a.iter().any(|x| x != self.config.client_id.as_str()),
            _ => false,
        };
        match claims.get("azp").and_then(Value::as_str) {
            Some(azp) if azp != self.config.client_id => return Err(id_token_wrong_audience()),
            None if other_audiences => return Err(id_token_wrong_audience()),
            _ => {}
        }
        if let (Some(endpoint), Some(access)) = (
            ready.meta.userinfo_endpoint.as_deref(),
            tokens.get("access_token").and_then(Value::as_str),
        ) {
            let info = self
                .http
                .get_json_bearer(endpoint, access)
                .await
                .map_err(|e| {
                    tracing::warn!(provider = %self.config.id, error = %e, "userinfo failed");
                    provider_failed(
                        "provider-unavailable",
                        "The identity provider's userinfo cannot be read; try again later.",
                    )
                })?;
            if info.get("sub").and_then(Value::as_str) != Some(checked.sub.as_str()) {
                return Err(denied(
                    "userinfo-subject-mismatch",
                    "The provider's userinfo is about someone else.",
                ));
            }
            if let Value::Object(info) = info {
                for (k, v) in info {
                    claims.entry(k).or_insert(v);
                }
            }
        }
        let email = claims
            .get("email")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let email_verified = claims.get("email_verified") == Some(&Value::Bool(true));
        Ok(VerifiedIdentity {
            issuer: checked.iss,
            subject: checked.sub,
            email,
            email_verified,
            claims,
            claimed: checked.assurance,
        })
    }
}

/// The RFC 9207 mix-up defence: a response's `iss` must be the issuer, and must be there when
/// the provider always sends it.
fn check_iss(iss: Option<&str>, issuer: &str, always_sent: bool) -> Result<(), Denied> {
    match iss {
        Some(i) if i != issuer => Err(denied(
            "iss-mismatch",
            "The authorization response names another issuer (mix-up).",
        )),
        None if always_sent => Err(denied(
            "iss-missing",
            "The authorization response lacks the issuer this provider always sends.",
        )),
        _ => Ok(()),
    }
}

fn not_for_github() -> Denied {
    provider_failed(
        "provider-unavailable",
        "OAuth connections are not offered for this provider.",
    )
}

fn id_token_invalid() -> Denied {
    denied(
        "id-token-invalid",
        "The provider's ID token does not verify.",
    )
}

fn id_token_wrong_audience() -> Denied {
    denied(
        "id-token-audience",
        "The ID token was issued to another client.",
    )
}

fn id_token_denied(e: &JwtError) -> Denied {
    match e {
        JwtError::WrongAudience => id_token_wrong_audience(),
        JwtError::WrongIssuer => denied("id-token-issuer", "The ID token names another issuer."),
        JwtError::Expired => denied("id-token-expired", "The ID token has expired."),
        JwtError::AlgorithmNotAllowed => denied(
            "id-token-algorithm",
            "The ID token is signed with an algorithm this provider does not use.",
        ),
        _ => id_token_invalid(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_asymmetric_algorithms_we_verify_are_taken() {
        let advertised: Vec<String> =
            ["none", "HS256", "RS256", "PS256", "ES256", "EdDSA", "rs256"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        assert_eq!(
            usable_algs(&advertised),
            [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA]
        );
    }

    #[test]
    fn keys_without_alg_are_pinned_by_type() {
        let jwks = serde_json::json!({"keys": [
            {"kty": "EC", "crv": "P-256", "x": "a", "y": "b"},
            {"kty": "OKP", "crv": "Ed25519", "x": "a"},
            {"kty": "RSA", "n": "a", "e": "AQAB"},
            {"kty": "oct", "k": "secret"},
            {"kty": "RSA", "alg": "PS256", "n": "a", "e": "AQAB"},
        ]});
        let pinned = pinned_jwks(jwks);
        let algs: Vec<_> = pinned["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["alg"].as_str().unwrap_or("-"))
            .collect();
        assert_eq!(algs, ["ES256", "EdDSA", "RS256", "-", "PS256"]);
    }
}
