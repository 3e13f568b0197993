//! Federated sign-in (issue 18 item 5): Palisade as the client of other identity providers.
//!
//! - [`reach`]: the only HTTP client that talks to a provider (discovery, JWKS, token,
//!   userinfo): no redirects followed, only the issuer's host and the provider's
//!   `allowed_hosts`, checked on the resolved address at connect time.
//! - [`discovery`]: the provider metadata checked against the configured issuer.
//! - [`pending`]: started flows (state, nonce, PKCE verifier), single-use, short-lived, bound
//!   to the browser.
//! - [`oidc`]: one provider's authorization request and the callback's checks up to a verified
//!   identity; [`github`] the same for `kind = "github"` (OAuth 2 and GitHub's REST API, no ID
//!   token).
//! - [`accounts`]: which account a verified identity signs in to (the account key is
//!   `(issuer, sub)`, never the e-mail), linking and provisioning by the configured rules.
//! - [`flow`]: the use cases the HTTP API calls (start, callback, link), each recording its
//!   audit event (`auth.federated_login`, `auth.federated_link`); [`routes`] is the thin API.
//!
//! The durable part, identities keyed by `(issuer, subject)`, is `palisade_store::federation`.

pub mod accounts;
pub mod discovery;
pub mod flow;
pub mod github;
pub mod oidc;
pub mod pending;
pub mod reach;
pub mod routes;

use crate::config::auth::AuthConfig;
use palisade_core::clock::SharedClock;
use std::collections::BTreeMap;

/// The configured providers and the flows waiting for their callbacks.
pub struct Federation {
    providers: BTreeMap<String, oidc::Provider>,
    /// Started flows.
    pub flows: pending::Flows,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation")
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Federation {
    /// The providers of `[[auth.providers]]` (checked by `config check` first).
    pub fn new(auth: &AuthConfig, clock: SharedClock) -> Result<Self, String> {
        let mut providers = BTreeMap::new();
        for p in &auth.providers {
            providers.insert(
                p.id.clone(),
                oidc::Provider::new(p.clone(), auth.leeway.0.as_secs())?,
            );
        }
        Ok(Self {
            providers,
            flows: pending::Flows::new(clock, auth.federation.flow_ttl.0.as_millis() as u64),
        })
    }

    /// The provider with this id.
    pub fn provider(&self, id: &str) -> Option<&oidc::Provider> {
        self.providers.get(id)
    }

    /// Every provider, in id order.
    pub fn providers(&self) -> impl Iterator<Item = &oidc::Provider> {
        self.providers.values()
    }
}
