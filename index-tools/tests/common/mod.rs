//! Helpers shared by the registry tests: real bundles built into real archives by
//! `ratchet-testkit` (the fixture builder every test file uses), and the system
//! tools tests need (`tests/common/tools.rs`, shared with the root package's tests: a missing
//! tool fails its tests unless `RATCHET_TEST_SKIP` opts its group out).
#![allow(dead_code)]

#[path = "../../../tests/common/tools.rs"]
mod tools;
// No index-tools test needs a system tool yet; the helpers are here for the first that does.
#[allow(unused_imports)]
pub use tools::*;

use ratchet_publish::Registry;

// Not every test file uses every name.
#[allow(unused_imports)]
pub use ratchet_testkit::{Bundle, TIME, TestRegistry, snapshot};

/// Asserts that verify finds no error, printing what it found otherwise.
pub fn assert_consistent(reg: &Registry) -> ratchet_publish::VerifyReport {
    let r = reg.verify();
    assert!(
        r.is_ok(),
        "verify failed:\n{}",
        r.diagnostics
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    r
}
