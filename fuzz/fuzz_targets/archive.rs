#![no_main]
//! Fuzz target `archive`: see `ratchet_fuzz_entry::archive` for what it feeds and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ratchet_fuzz_entry::archive(data));
