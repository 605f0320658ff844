//! `ratchet-formats`: every file a bundle and a registry hold, as types with their readers and
//! writers, and nothing else (no network, no sandbox, no trust decisions).
//!
//! `index-format.md` is the normative spec; each module here implements one part of it:
//!
//! - [`manifest`]: `bundle.yaml` (ids, version requirements, permissions, resources, pricing);
//! - [`task`]: a Ratchet task directory (`metadata.json`, schemas, test cases);
//! - [`ratchet_import`]: Ratchet task repositories and task directories made into bundles;
//! - [`workflow`]: workflow files and their `${...}` templates;
//! - [`hostcall`]: the JSON requests a task sends to `ratchet.fetch` and `ratchet.command`;
//! - [`archive`]: the `.rbundle` archive (reproducible builds, a bounded reader for hostile input);
//! - [`index`]: the registry's static files (`config.json`, index lines, metadata, `names.txt`,
//!   paths and shards);
//! - [`diagnostic`]: located problems (file, field, line) that validation and readers report;
//! - [`fsutil`]: atomic writes and bounded reads, the file primitives every writer uses.
//!
//! Data flows one way: the client, the publish tool and the sandbox read and write these types;
//! this crate depends on none of them.

pub mod archive;
pub mod diagnostic;
pub mod fsutil;
pub mod hostcall;
pub mod index;
pub mod manifest;
pub mod ratchet_import;
pub mod task;
pub mod text;
pub mod workflow;

/// The version of the tools, written into generated files so readers know which tool made them.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
