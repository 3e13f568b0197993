//! Second factors and assurance levels, as pure rules: TOTP codes (RFC 6238) with replay and
//! skew limits, recovery codes, and the assurance a sign-in reached (`amr`, `acr`,
//! `auth_time`) checked against what a route demands (RFC 9470 step-up).
//!
//! No I/O here: the gateway stores seeds (encrypted), last used steps and code hashes, and
//! passes the clock's time in.

pub mod assurance;
pub mod base32;
pub mod recovery;
pub mod totp;
#[cfg(test)]
mod vector_tests;
