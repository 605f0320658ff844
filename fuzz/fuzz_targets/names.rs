#![no_main]
//! Fuzz target `names`: see `ratchet_fuzz_entry::names` for what it feeds and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ratchet_fuzz_entry::names(data));
