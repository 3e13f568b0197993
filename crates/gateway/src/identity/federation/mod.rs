//! Federated sign-in and OAuth connections (issue 18 items 5 and 6): Palisade as the client of
//! other identity providers.
//!
//! Built so far: [`reach`], the only HTTP client that talks to a provider (discovery, JWKS,
//! token, userinfo), which follows no redirects and connects only to the issuer's host and the
//! provider's `allowed_hosts`, checked on the resolved address at connect time; and
//! [`discovery`], the provider metadata checked against the configured issuer. The durable
//! part, identities keyed by `(issuer, subject)`, is `palisade_store::federation`.

pub mod discovery;
pub mod reach;
