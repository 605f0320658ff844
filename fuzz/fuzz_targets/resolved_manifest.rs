#![no_main]
//! Fuzz target `resolved_manifest`: see `ratchet_fuzz_entry::resolved_manifest` for what it feeds and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ratchet_fuzz_entry::resolved_manifest(data));
