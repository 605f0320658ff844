//! The JavaScript engine that runs `main.js` tasks inside the sandbox.
//!
//! Every Ratchet task today is JavaScript. Rather than giving JavaScript a second, weaker
//! sandbox, `ratchet` runs a JavaScript engine that is itself a WASI command module (QuickJS-ng
//! plus our harness `js-engine/ratchet-js.c`, built by `build.rs` through
//! `js-engine/build.sh` and embedded in the binary) under the same runtime, permissions and
//! limits as a `main.wasm` task. The task directory is mounted read-only at [`TASK_MOUNT`]; the
//! harness contract (arguments, exit statuses) is in `task-abi.md` §1.1.

use crate::{LimitKind, Mount, RunOutcome, RunStatus, TaskRun, TrapKind};
use ratchet_formats::manifest::TaskRuntime;
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

/// Hex SHA-256 of the engine module, computed by `js-engine/build.sh` at build time.
#[cfg(ratchet_js_engine)]
static ENGINE_SHA256: &str = include_str!(concat!(env!("OUT_DIR"), "/ratchet-js.wasm.sha256"));
#[cfg(not(ratchet_js_engine))]
static ENGINE_SHA256: &str = "";

/// The engine module (WebAssembly), or `None` when this build has none (see [`NOT_BUILT`]).
pub fn engine() -> Option<&'static [u8]> {
    ENGINE
}

/// The engine module's SHA-256 (its compiled-module cache key), known at build time so that a
/// process need not hash 1.4 MB before loading the cached engine.
pub fn engine_sha256() -> Option<[u8; 32]> {
    let hex = ENGINE_SHA256.split_whitespace().next()?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
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
/// the directory read-only at [`TASK_MOUNT`] and passes the source path, the heap limit and the
/// runtime behaviour (`standard` or `ratchet-compat`, `task-abi.md` §1.1).
pub fn prepare(run: &mut TaskRun, task_dir: &Path, entry_file: &str, runtime: TaskRuntime) {
    run.mounts.push(Mount {
        guest: TASK_MOUNT.to_string(),
        host: task_dir.to_path_buf(),
    });
    run.args = vec![
        format!("{TASK_MOUNT}/{entry_file}"),
        heap_limit(run.permissions.limits.max_memory.0).to_string(),
        runtime.as_str().to_string(),
    ];
}

/// Turns the harness's exit statuses into the sandbox's terms: the heap limit is the memory
/// limit.
pub fn interpret(outcome: &mut RunOutcome, max_memory: u64) {
    if let RunStatus::Trap(m) = &outcome.status
        && outcome.trap == Some(TrapKind::OutOfBoundsMemoryAccess)
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

/// The failure message of a JavaScript run: the harness's exit statuses in words (the thrown
/// error itself is the last line of stderr, which the message quotes).
pub fn failure_message(outcome: &RunOutcome) -> String {
    let m = outcome.failure_message();
    match outcome.status {
        RunStatus::Exit(1) => m.replacen(
            "the task exited with status 1",
            "the JavaScript task threw an error",
            1,
        ),
        RunStatus::Exit(2) => m.replacen(
            "the task exited with status 2",
            "the JavaScript engine could not start the task",
            1,
        ),
        _ => m,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_hash_matches_the_engine() {
        use sha2::Digest;
        if let Some(e) = engine() {
            let h: [u8; 32] = sha2::Sha256::digest(e).into();
            assert_eq!(engine_sha256(), Some(h));
        }
    }

    #[test]
    fn an_out_of_bounds_trap_is_told_as_a_stack_overflow_by_its_kind() {
        let outcome = |trap, message: &str| RunOutcome {
            status: RunStatus::Trap(message.into()),
            stdout: Vec::new(),
            stderr: Vec::new(),
            denials: Vec::new(),
            usage: crate::Usage {
                cache: crate::CacheStatus::Disabled,
                load_ms: 0.0,
                wall_ms: 0.0,
                cpu_points: 0,
                memory_bytes: 0,
                disk_bytes: 0,
                network_bytes: 0,
            },
            trap,
        };
        let mut o = outcome(Some(TrapKind::OutOfBoundsMemoryAccess), "memory fault");
        interpret(&mut o, 256 << 20);
        assert!(
            matches!(&o.status, RunStatus::Trap(m) if m.starts_with("stack overflow") && m.ends_with("exhausted: memory fault)")),
            "{:?}",
            o.status
        );
        // The kind decides, not the words: "out of bounds" in another trap's message is kept.
        let mut o = outcome(Some(TrapKind::Other), "index out of bounds");
        interpret(&mut o, 256 << 20);
        assert_eq!(o.status, RunStatus::Trap("index out of bounds".into()));
    }

    #[test]
    fn heap_limit_leaves_headroom() {
        assert_eq!(heap_limit(256 << 20), 224 << 20);
        assert_eq!(heap_limit(32 << 20), 24 << 20);
        assert_eq!(heap_limit(8 << 20), 4 << 20);
    }
}
