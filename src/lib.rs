//! `ratchet`: the library behind the `ratchet` command and the `ratchet-index` publish tool.
//!
//! A Ratchet *bundle* is a directory with a `bundle.yaml` manifest, tasks and workflows; a
//! *registry* is a directory of static files. Each concept lives in the module that carries its
//! name:
//!
//! - bundles: [`manifest`] (the `bundle.yaml` model), [`validate`], [`task`], [`scaffold`]
//!   (`bundle init`), [`archive`] (the `.rbundle` format), [`diagnostic`];
//! - registries: [`index`] (every file of a registry), [`publish`] (writing one), [`registry`]
//!   (configured registries, credentials, fetching), [`resolver`] (PubGrub), [`install`];
//! - trust: [`signing`] (keys, signatures, owner chains, attestations, install-time checks);
//! - running: [`sandbox`] (wasmer, WASI, permissions, limits), [`js`] (the JavaScript engine),
//!   [`execute`] (one task), [`workflow`], [`bundle_test`] (`bundle test`);
//! - [`paths`] (XDG and `RATCHET_HOME`) and [`fsutil`] (atomic writes).

pub mod archive;
pub mod bundle_test;
pub mod diagnostic;
pub mod execute;
pub mod fsutil;
pub mod index;
pub mod install;
pub mod js;
pub mod manifest;
pub mod paths;
pub mod publish;
pub mod registry;
pub mod resolver;
pub mod sandbox;
pub mod scaffold;
pub mod signing;
pub mod task;
pub mod validate;
pub mod workflow;

/// The version of this crate, written into generated files so readers know which tool made them.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Makes the process end quietly, like other Unix tools, when the reader of its output goes
/// away (`ratchet ... | head`). Rust ignores SIGPIPE by default, which turns every later print
/// into a panic. Call it first thing in `main`, before any thread starts.
pub fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: sets the default disposition of one signal; no handler runs our code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
