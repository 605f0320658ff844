#![no_main]
//! Fuzz target `bundle_sig`: see `ratchet_fuzz_entry::bundle_sig` for what it feeds and checks.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ratchet_fuzz_entry::bundle_sig(data));
