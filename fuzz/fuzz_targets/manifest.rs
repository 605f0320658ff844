#![no_main]
//! Fuzz target `manifest`: see `ratchet_fuzz_entry::manifest` for what it feeds and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ratchet_fuzz_entry::manifest(data));
