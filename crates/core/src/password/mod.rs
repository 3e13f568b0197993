//! Passwords: the policy that decides which new passwords are accepted ([`policy`]) and the
//! hashing that stores and verifies them ([`hash`]).
//!
//! Both work on the NFKC form of a password, so a password typed on another keyboard or input
//! method (full-width letters, ligatures) is counted, checked and verified as the same password.

pub mod hash;
pub mod policy;

pub use hash::{HashError, HashParams, PasswordHasher, Verification};
pub use policy::{PasswordContext, PasswordPolicy, PasswordPolicyConfig, Profile, Violation};
