#![no_main]
//! Fuzz target `lockfile`: see `ratchet_fuzz_entry::lockfile` for what it feeds and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ratchet_fuzz_entry::lockfile(data));
