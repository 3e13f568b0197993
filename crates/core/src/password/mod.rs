//! Passwords: the policy that decides which new passwords are accepted ([`policy`]) and the
//! hashing that stores and verifies them ([`hash`]).
//!
//! Both work on the NFKC form of a password, so a password typed on another keyboard or input
//! method (full-width letters, ligatures) is counted, checked and verified as the same password.

mod format;
pub mod hash;
mod legacy;
pub mod policy;

pub use format::{Format, FormatError, hash_format};
pub use hash::{HashError, HashParams, PasswordHasher, Verification};
pub use legacy::{MAX_PBKDF2_ITERATIONS, MAX_SCRYPT_BYTES};
pub use policy::{PasswordContext, PasswordPolicy, PasswordPolicyConfig, Profile, Violation};
