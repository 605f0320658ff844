//! `ratchet`: the library behind the `ratchet` command and the `ratchet-index` publish tool.
//!
//! A Ratchet *bundle* is a directory with a `bundle.yaml` manifest, tasks and workflows. This
//! crate models the manifest ([`manifest`]), checks a bundle directory ([`validate`]), knows what
//! a task directory holds ([`task`]) and reports problems as [`diagnostic::Diagnostic`]s. Each
//! concept lives in the module that carries its name.

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
