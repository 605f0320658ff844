#![no_main]
//! Fuzz target `task_metadata`: see `ratchet_fuzz_entry::task_metadata` for what it feeds and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ratchet_fuzz_entry::task_metadata(data));
