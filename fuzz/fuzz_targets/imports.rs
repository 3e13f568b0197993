//! The user import CSV and the Fernet secret import lines
//! (`palisade_cli::import::fuzz_props`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_cli::import::fuzz_props::check(data));
