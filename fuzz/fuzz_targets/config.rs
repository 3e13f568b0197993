//! `palisade.toml`: reading, the start-up checks, policy compilation and the route table
//! (`palisade_gateway::config::fuzz_props`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| palisade_gateway::config::fuzz_props::check(data));
