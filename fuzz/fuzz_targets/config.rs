#![no_main]
//! Fuzz target `config`: see `ratchet_fuzz_entry::config` for what it feeds and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ratchet_fuzz_entry::config(data));
