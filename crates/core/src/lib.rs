//! Palisade's domain rules: pure functions and types, no I/O and no async runtime.
//!
//! Everything here can be tested without a network, a disk or a clock that moves on its own.
#![forbid(unsafe_code)]

pub mod client_ip;
pub mod clock;
pub mod redact;
pub mod request_id;
pub mod secret_strength;
