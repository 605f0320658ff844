//! The JavaScript engine that runs `main.js` tasks inside the sandbox.
//!
//! Every Ratchet task today is JavaScript. Rather than giving JavaScript a second, weaker
//! sandbox, `ratchet` runs a JavaScript engine that is itself a WASI command module (QuickJS-ng
//! plus our harness `js-engine/ratchet-js.c`, built by `build.rs` through
//! `js-engine/build.sh` and embedded in the binary) under the same runtime, permissions and
//! limits as a `main.wasm` task. The task directory is mounted read-only at [`TASK_MOUNT`]; the
//! harness contract (arguments, exit statuses) is in `task-abi.md` §1.1.

use crate::sandbox::{LimitKind, Mount, RunOutcome, RunStatus, TaskRun};
use std::path::Path;

/// Where the guest sees the task directory (read-only).
pub const TASK_MOUNT: &str = "/task";

/// The harness's exit status when the JavaScript heap limit was reached.
pub const EXIT_OUT_OF_MEMORY: i32 = 3;

/// What to install when the engine was not built.
pub const NOT_BUILT: &str = "the JavaScript engine was not built into this ratchet: install clang, lld, wasi-libc and libclang-rt-14-dev-wasm32 and rebuild (cargo build)";

#[cfg(ratchet_js_engine)]
static ENGINE: Option<&[u8]> = Some(include_bytes!(concat!(env!("OUT_DIR"), "/ratchet-js.wasm")));
#[cfg(not(ratchet_js_engine))]
static ENGINE: Option<&[u8]> = None;

/// The engine module (WebAssembly), or `None` when this build has none (see [`NOT_BUILT`]).
pub fn engine() -> Option<&'static [u8]> {
    ENGINE
}

/// The JavaScript heap limit for a run whose linear memory may reach `max_memory` bytes: the
/// limit minus room for the engine's own data, stack and allocator overhead, so that an
/// allocation bomb ends in the engine's clean "out of memory" before `memory.grow` fails.
pub fn heap_limit(max_memory: u64) -> u64 {
    let headroom = (max_memory / 8).max(8 << 20);
    if max_memory > 2 * headroom {
        max_memory - headroom
    } else {
        max_memory / 2
    }
}

/// Prepares `run` (name, input, permissions already set) to run the task in `task_dir`: mounts
/// the directory read-only at [`TASK_MOUNT`] and passes the source path and the heap limit.
pub fn prepare(run: &mut TaskRun, task_dir: &Path, entry_file: &str) {
    run.mounts.push(Mount {
        guest: TASK_MOUNT.to_string(),
        host: task_dir.to_path_buf(),
    });
    run.args = vec![
        format!("{TASK_MOUNT}/{entry_file}"),
        heap_limit(run.permissions.limits.max_memory.0).to_string(),
    ];
}

/// Turns the harness's exit statuses into the sandbox's terms: the heap limit is the memory
/// limit.
pub fn interpret(outcome: &mut RunOutcome, max_memory: u64) {
    if let RunStatus::Trap(m) = &outcome.status
        && m.contains("out of bounds")
    {
        // The engine's C stack is first in memory: running off it reads below address 0.
        outcome.status = RunStatus::Trap(format!(
            "stack overflow: the task recursed too deeply (the JavaScript engine's stack is exhausted: {m})"
        ));
    }
    if outcome.status == RunStatus::Exit(EXIT_OUT_OF_MEMORY) {
        outcome.status = RunStatus::Limit {
            kind: LimitKind::Memory,
            message: format!(
                "{} exceeded: the JavaScript heap reached its limit of {} bytes (max_memory {} bytes)",
                LimitKind::Memory,
                heap_limit(max_memory),
                max_memory
            ),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_limit_leaves_headroom() {
        assert_eq!(heap_limit(256 << 20), 224 << 20);
        assert_eq!(heap_limit(32 << 20), 24 << 20);
        assert_eq!(heap_limit(8 << 20), 4 << 20);
    }
}
