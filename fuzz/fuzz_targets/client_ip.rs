//! `X-Forwarded-For` through trusted proxies: never a hop we cannot believe
//! (`palisade_core::client_ip::fuzz_props`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_core::client_ip::fuzz_props::check(data));
