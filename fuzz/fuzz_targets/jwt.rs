//! JWT parsing and verification (our own tokens and a trusted issuer's): only tokens the real
//! keys signed verify, never with `jku`/`x5u`/`jwk`/`x5c`/`crit` or an algorithm not pinned
//! (`palisade_core::jwt::fuzz_props`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_core::jwt::fuzz_props::check(data));
