#![no_main]
//! Fuzz target `meta`: see `ratchet_fuzz_entry::meta` for what it feeds and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ratchet_fuzz_entry::meta(data));
