//! API keys as presented: the shape rule, never echoing a malformed value
//! (`palisade_core::api_key::fuzz_props`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_core::api_key::fuzz_props::check(data));
