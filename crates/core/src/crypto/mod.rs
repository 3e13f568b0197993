//! Data protection: the cryptography behind field encryption, blind indexes and Fernet tokens.
//!
//! - [`master`]: the 32-byte master key, where it comes from ([`MasterKeyProvider`]) and the
//!   purpose-bound sub-keys derived from it with HKDF-SHA256.
//! - [`keyring`]: data keys with ids and states (primary, decrypt-only, retired), stored only
//!   wrapped (AES-256-GCM) under a sub-key of the master key.
//! - [`field`]: AES-256-GCM encryption of one column value, bound to its table, column, row and
//!   key id, in the text format `pal1.<key_id>.<base64url>`.
//! - [`blind_index`]: HMAC-SHA256 equality indexes for encrypted fields, one domain per column.
//! - [`fernet`]: reading and writing Fernet tokens (interoperable with Python's `cryptography`).
//!
//! Guarantees shared by every module: all primitives come from aws-lc-rs; key bytes live in
//! zeroizing types and no `Debug` output, error or log line contains key bytes or plaintext;
//! every authentication failure is one opaque error; no module reads a clock (times are passed
//! in by the caller, from its injected [`crate::clock::Clock`]).

pub mod blind_index;
mod error;
pub mod fernet;
pub mod field;
pub mod keyring;
pub mod master;

pub use blind_index::BlindIndex;
pub use error::CryptoError;
pub use fernet::Fernet;
pub use field::{FieldContext, key_id_of};
pub use keyring::{KeyInfo, KeyState, Keyring, WrappedDataKey};
pub use master::{MasterKey, MasterKeyProvider};

/// Fills a fresh array from the operating system's random generator (aws-lc's DRBG).
///
/// # Panics
/// When the OS random source fails, which aws-lc treats as fatal as well.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .expect("the operating system's random generator is available");
    out
}

#[cfg(test)]
mod kat_tests;
