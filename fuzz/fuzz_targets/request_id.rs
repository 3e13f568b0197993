//! `X-Request-Id`: only inert, bounded ids are kept
//! (`palisade_core::request_id::fuzz_props`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_core::request_id::fuzz_props::check(data));
