//! The session cookie (`Cookie` header, seal/open) and the CSRF token
//! (`palisade_gateway::identity::cookie::fuzz_props`).
#![no_main]

libfuzzer_sys::fuzz_target!(
    |data: &[u8]| palisade_gateway::identity::cookie::fuzz_props::check(data)
);
