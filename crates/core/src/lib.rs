//! Palisade's domain rules: pure functions and types, no I/O and no async runtime.
//!
//! Everything here can be tested without a network, a disk or a clock that moves on its own.
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod api_key;
pub mod audit;
pub mod breaker;
pub mod brute_force;
pub mod client_ip;
pub mod clock;
pub mod crypto;
pub mod email;
pub mod fingerprint;
#[cfg(test)]
mod fuzz_replay;
#[doc(hidden)]
pub mod fuzz_support;
pub mod inspect;
pub mod jwt;
pub mod legacy_key;
pub mod mfa;
pub mod password;
pub mod path;
pub mod policy;
pub mod principal;
pub mod query;
pub mod ratelimit;
pub mod redact;
pub mod request_id;
pub mod secret_strength;
pub mod tools;
