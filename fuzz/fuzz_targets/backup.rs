//! The backup file header
//! (`palisade_cli::backup_format::fuzz_props`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_cli::backup_format::fuzz_props::check(data));
