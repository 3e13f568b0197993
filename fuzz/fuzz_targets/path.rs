//! The path canonicalizer: idempotent, never a dot segment or an encoded separator, agrees with
//! the `url` crate
//! (`palisade_core::path::fuzz_props`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_core::path::fuzz_props::check(data));
