#![no_main]
//! Fuzz target `hostcall`: see `ratchet_fuzz_entry::hostcall` for what it feeds and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ratchet_fuzz_entry::hostcall(data));
