#![no_main]
//! Fuzz target `index_lines`: see `ratchet_fuzz_entry::index_lines` for what it feeds and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ratchet_fuzz_entry::index_lines(data));
