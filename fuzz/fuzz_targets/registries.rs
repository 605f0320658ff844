#![no_main]
//! Fuzz target `registries`: see `ratchet_fuzz_entry::registries` for what it feeds and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ratchet_fuzz_entry::registries(data));
