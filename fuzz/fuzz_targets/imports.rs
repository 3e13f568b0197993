//! The user import CSV, the Fernet secret import lines and the API-key import lines
//! (`palisade_cli::import::fuzz_props`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_cli::import::fuzz_props::check(data));
