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
use std::path::{Path, PathBuf};

// Not every test file uses every name.
#[allow(unused_imports)]
pub use ratchet_testkit::{Bundle, TIME, TestRegistry, snapshot};

/// A valid archive of `id` `version` depending on `deps` (id, requirement), built by
/// `ratchet-testkit` into `work/out/`: shorthand for the many tests that need only that.
pub fn archive(work: &Path, id: &str, version: &str, deps: &[(&str, &str)]) -> PathBuf {
    deps.iter()
        .fold(Bundle::new(id, version), |b, (d, req)| b.dep(d, req))
        .build(work)
}

/// A new, empty local registry in `work/reg` ([`TestRegistry`]'s registry).
pub fn registry(work: &Path) -> Registry {
    TestRegistry::new(work).reg
}

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
