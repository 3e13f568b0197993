//! JSON Web Tokens: Palisade's own access tokens ([`OwnTokens`]), tokens from trusted external
//! issuers ([`TrustedIssuer`]) and a cache of verified tokens ([`VerifiedCache`]).
//!
//! Guarantees, for both kinds of token: a token longer than the size cap is refused before any
//! parsing; `alg: none` and every algorithm outside EdDSA/ES256/RS256/HS256 are refused; each key
//! is pinned to one algorithm, so HMAC is never computed with a public key; a header carrying
//! `jku`, `x5u`, `jwk`, `x5c` or `crit` is refused (we never use keys a token names or embeds);
//! `iss`, `aud`, `exp` and `nbf` are checked against the caller's `now` with a configured leeway.
//! Nothing here reads the clock or does I/O; fetching JWKS documents is the caller's job.

mod cache;
mod claims;
mod error;
#[doc(hidden)]
pub mod fuzz_props;
mod keys;
mod own;
mod token;
mod trusted;

#[cfg(test)]
mod attacks;

pub use cache::VerifiedCache;
pub use claims::{AccessClaims, ClaimNames, ExternalClaims};
pub use error::JwtError;
pub use keys::{Algorithm, SigningKey};
pub use own::OwnTokens;
pub use token::{DEFAULT_MAX_TOKEN_BYTES, peek_issuer, peek_issuer_claim};
pub use trusted::TrustedIssuer;
