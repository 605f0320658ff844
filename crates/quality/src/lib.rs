//! Quality checks of Ratchet bundles (`index-format.md` §16): the plan's
//! `.ratchet/bundle-tests.yaml`, the static security scan of task code, security advisories in
//! the OSV format, and the compatibility of declared Ratchet versions with the runtime.
//!
//! Kept apart from the sandbox so that everything here is pure (text in, findings out) and can be
//! tested and fuzzed without running a task; the sandbox's `bundle test` runs the tasks and
//! measures them, and asks this crate what the files say and what the code shows.

pub mod advisory;
pub mod compat;
pub mod scan;
pub mod spec;

pub use advisory::{Advisory, AdvisoryError, AdvisoryMatch, GraphBundle};
pub use scan::{Finding, Severity};
pub use spec::{CheckType, ChecksFile, QualityCheck, SpecError};

/// The Ratchet version this runtime implements (`task-abi.md`): what the compatibility check
/// compares `ratchet_versions` with when the command line gives no other (the client's target
/// version, `RATCHET_TARGET_VERSION`).
pub const RUNTIME_RATCHET_VERSION: semver::Version = semver::Version::new(1, 0, 0);
