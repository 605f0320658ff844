#![no_main]
//! Fuzz target `workflow`: see `ratchet_fuzz_entry::workflow` for what it feeds and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ratchet_fuzz_entry::workflow(data));
