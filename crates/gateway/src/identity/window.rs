//! The migration window for an application's own HS256 tokens (`auth.trusted_issuers[N]` with
//! `shared_secret` and `accept_until`): the tokens the app minted before the move keep working
//! until the window ends, so nobody is signed out on the day of the switch.
//!
//! What such a token proves is only "the app once vouched for this subject", so it counts only
//! for an imported account: its `sub` must be an account's external id, and the account must
//! exist and not be disabled. Roles and tier are the account's, never the token's claims. The
//! token's id is its SHA-256 (`sha256:<hex>`), so logout revokes it until its `exp` like any
//! access token.
//!
//! Resolved tokens are cached for at most `auth.api_keys.cache_ttl` (the bound API keys have
//! too): disabling the account or changing its roles drops its entries at once on this replica
//! ([`WindowTokens::forget_user`]), and other replicas re-read the account within that bound.

use std::sync::Arc;

use palisade_core::jwt::JwtError;
use palisade_core::principal::{AuthMethod, Principal};
use uuid::Uuid;

use super::trusted::Trusted;
use super::{AuthFailure, Credential, Identity, Rejection};

/// A window token resolved to its account.
#[derive(Clone)]
struct Resolved {
    principal: Arc<Principal>,
    user_id: Uuid,
}

/// The cache of resolved window tokens, keyed by the token's SHA-256.
pub struct WindowTokens {
    cache: moka::sync::Cache<[u8; 32], Resolved>,
}

impl WindowTokens {
    /// A cache holding entries at most `ttl`.
    pub fn new(capacity: u64, ttl: std::time::Duration) -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// Drops every cached token of `user` (disabled, roles changed, signed out everywhere).
    pub fn forget_user(&self, user: Uuid) {
        for (digest, entry) in self.cache.iter() {
            if entry.user_id == user {
                self.cache.invalidate(&*digest);
            }
        }
    }
}

/// The id a window token is revoked by: `sha256:` and the hex SHA-256 of the whole token.
pub fn token_id(digest: &[u8; 32]) -> String {
    format!("sha256:{}", palisade_core::fingerprint::hex(digest))
}

fn refused(reason: &'static str) -> AuthFailure {
    AuthFailure::Invalid(Rejection::new(Credential::Bearer, "invalid_token", reason))
}

impl Identity {
    /// Verifies a token of the migration window `trusted` and resolves it to its account.
    pub(super) async fn window_principal(
        &self,
        trusted: &Trusted,
        token: &str,
        now_ms: u64,
    ) -> Result<Arc<Principal>, AuthFailure> {
        let now = now_ms / 1000;
        if trusted.accept_until().is_some_and(|until| now >= until) {
            return Err(AuthFailure::Invalid(Rejection::jwt(
                &JwtError::WindowClosed,
            )));
        }
        let digest: [u8; 32] =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
                .as_ref()
                .try_into()
                .expect("SHA-256 is 32 bytes");
        if let Some(hit) = self.window.cache.get(&digest)
            && now < hit.principal.expires_at
        {
            return Ok(hit.principal);
        }
        let claims = trusted
            .verify(token, now_ms)
            .await
            .map_err(|e| AuthFailure::Invalid(Rejection::jwt(&e)))?;
        let user = match self.store.user_by_external_id(&claims.sub).await {
            Ok(Some(user)) => user,
            Ok(None) => return Err(refused("unknown-account")),
            Err(e) => {
                tracing::warn!(error = %e, "cannot resolve a migration-window token's account");
                return Err(AuthFailure::Unavailable);
            }
        };
        if user.disabled {
            return Err(AuthFailure::Invalid(Rejection {
                actor: Some(self.subject_of(&user)),
                ..Rejection::new(Credential::Bearer, "invalid_token", "account-disabled")
            }));
        }
        let expires_at = trusted
            .accept_until()
            .map_or(claims.exp, |until| claims.exp.min(until));
        let principal = Arc::new(Principal {
            subject: self.subject_of(&user),
            account: Some(user.id),
            method: AuthMethod::External,
            issuer: claims.iss,
            roles: user.roles.clone(),
            tenants: Vec::new(),
            tier: Some(user.tier.clone()),
            scopes: Vec::new(),
            session_id: None,
            token_id: Some(token_id(&digest)),
            key_id: None,
            expires_at,
            assurance: None,
        });
        self.window.cache.insert(
            digest,
            Resolved {
                principal: principal.clone(),
                user_id: user.id,
            },
        );
        Ok(principal)
    }
}
