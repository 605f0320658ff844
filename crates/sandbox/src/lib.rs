//! `ratchet-sandbox`: the sandbox that runs tasks: the plan's `BundleRuntime`.
//!
//! Installing a bundle means running a stranger's code, so every task runs as a WebAssembly
//! module in wasmer with exactly what its bundle declared (and the user's policy allows) and no
//! more than its limits. The ABI a module sees is specified in `task-abi.md`:
//! - [`policy`]: the user's policy file and presets; effective permissions = declaration ∩ policy;
//! - [`limits`]: memory, CPU, wall-clock, disk, network and output limits and their machinery;
//! - [`cache`]: compiled modules on disk, keyed by module hash and engine;
//! - [`fs`]: the guest's file system (preopens only, no escapes, disk quota);
//! - [`host`]: the `ratchet` import module (fetch, command);
//! - `wasi`: the WASI preview1 functions;
//! - [`Runtime`]: puts them together for one run;
//! - [`isolate`]: runs each task in a supervised worker process under OS limits, killed with
//!   everything it started at the deadline (the guarantee behind the limits, `task-abi.md` §10);
//! - [`js`]: the JavaScript engine (QuickJS-ng built for wasm32-wasi by `build.rs`);
//! - [`execute`]: one task run (schemas, mocks, output); [`workflow`]: steps chained;
//! - [`bundle_test`]: `bundle test` and `verification.json`.
//!
//! The runner is generic over which module runs with which extra mounts and arguments, so the
//! JavaScript engine (itself a WASI module) runs through the same door.

pub mod bundle_test;
pub mod cache;
pub mod execute;
pub mod fs;
pub mod host;
pub mod isolate;
pub mod js;
pub mod limits;
pub mod metering;
pub mod policy;
mod runner;
mod wasi;
pub mod workflow;

pub use cache::{CacheStatus, ModuleCache};
pub use limits::{LimitKind, Limits};
pub use policy::{Effective, Policy, Preset};
pub use runner::{MAX_MODULE_SIZE, Runtime, check_module_size};
pub use wasi::{RATCHET_MODULE, WASI_MODULE};

use ratchet_formats::task::HttpMock;
use serde::Serialize;
use std::path::PathBuf;

/// A host directory made visible read-only to the guest (the JavaScript engine's sources, a
/// task's own files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where the guest sees it (`/task`).
    pub guest: String,
    /// The host directory.
    pub host: PathBuf,
}

/// Everything one run needs.
#[derive(Debug, Clone, Default)]
pub struct TaskRun {
    /// Name shown in messages and passed as `argv[0]`.
    pub name: String,
    /// The module: a WebAssembly binary or WAT text.
    pub module: Vec<u8>,
    /// Arguments after `argv[0]`.
    pub args: Vec<String>,
    /// Bytes on standard input (the input JSON).
    pub stdin: Vec<u8>,
    /// Extra read-only mounts.
    pub mounts: Vec<Mount>,
    /// Effective permissions and limits.
    pub permissions: Effective,
    /// Answers matching fetches without the network (`bundle test`'s `mock.http`).
    pub fetch_mock: Option<HttpMock>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunStatus {
    /// `_start` returned or the task called `exit(0)`.
    Success,
    /// The task exited with a non-zero status.
    Exit(i32),
    /// The task trapped (with wasmer's message).
    Trap(String),
    /// A limit stopped the task.
    Limit {
        /// Which limit.
        kind: LimitKind,
        /// What happened, naming the limit.
        message: String,
    },
}

/// Figures measured during a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Usage {
    /// Whether the compiled module came from the cache.
    #[serde(skip)]
    pub cache: CacheStatus,
    /// Time to compile or load the module, in milliseconds.
    pub load_ms: f64,
    /// Wall-clock time of the whole run, in milliseconds.
    pub wall_ms: f64,
    /// Metering points (WebAssembly operators) used.
    pub cpu_points: u64,
    /// Linear memory at the end of the run (its peak: memories never shrink).
    pub memory_bytes: u64,
    /// Bytes written to files.
    pub disk_bytes: u64,
    /// Bytes transferred by fetches.
    pub network_bytes: u64,
}

/// The result of a run that started.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// How it ended.
    pub status: RunStatus,
    /// Captured standard output.
    pub stdout: Vec<u8>,
    /// Captured standard error.
    pub stderr: Vec<u8>,
    /// Requests refused because they were not permitted.
    pub denials: Vec<String>,
    /// Measurements.
    pub usage: Usage,
    /// What kind of trap ended the run, when [`RunStatus::Trap`] did (so that callers decide on
    /// the kind, not on wasmer's message).
    pub trap: Option<TrapKind>,
}

/// What kind of trap ended a run ([`RunOutcome::trap`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum TrapKind {
    /// The call stack was exhausted.
    StackOverflow,
    /// A load or store outside linear memory (in C and the JavaScript engine, typically a
    /// stack that ran off the bottom of memory).
    OutOfBoundsMemoryAccess,
    /// Any other trap (unreachable, division by zero...).
    Other,
}

/// The last `n` lines of `text` (trailing blank space dropped), joined by `sep`: the end of a
/// task's or worker's stderr, which is where the reason for a failure usually is.
pub(crate) fn last_lines(text: &str, n: usize, sep: &str) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join(sep)
}

impl RunOutcome {
    /// True when the task succeeded.
    pub fn success(&self) -> bool {
        self.status == RunStatus::Success
    }

    /// A one-line description of a failure, with the end of stderr (empty on success).
    pub fn failure_message(&self) -> String {
        let what = match &self.status {
            RunStatus::Success => return String::new(),
            RunStatus::Exit(c) => format!("the task exited with status {c}"),
            RunStatus::Trap(m) => format!("the task trapped: {m}"),
            RunStatus::Limit { message, .. } => format!("the task was stopped: {message}"),
        };
        let err = String::from_utf8_lossy(&self.stderr);
        let tail = last_lines(&err, 5, "\n");
        let mut s = what;
        for d in &self.denials {
            s.push_str(&format!("\n  refused: {d}"));
        }
        if !tail.is_empty() {
            s.push_str(&format!(
                "\n  stderr: {}",
                tail.replace('\n', "\n          ")
            ));
        }
        s
    }
}

/// Why a run could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The module does not compile (or is not WebAssembly/WAT).
    #[error("the module does not compile: {0}")]
    Compile(String),
    /// The module imports something the sandbox does not offer.
    #[error("{0}")]
    Import(String),
    /// Instantiation failed.
    #[error("the module cannot be started: {0}")]
    Instantiate(String),
    /// A mount is not usable.
    #[error("{0}")]
    Mount(String),
    /// A host I/O error while preparing the run.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
}
