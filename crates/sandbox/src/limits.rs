//! Resource limits of one run and the wasmer machinery that enforces them.
//!
//! Memory is capped by a [`Tunables`] wrapper that lowers the maximum of every linear memory
//! the module creates to the run's limit and remembers when a `memory.grow` was refused; CPU
//! time is an instruction budget counted by wasmer's metering middleware (compiled into every
//! module) plus a wall-clock deadline that host calls check and that bounds every blocking host
//! operation. Disk, network and output limits are counted by the host functions themselves.

use ratchet_formats::manifest::units::{ByteSize, Millis};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::fmt;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmer::sys::vm::{
    LinearMemory, MemoryError, Trap, VMConfig, VMMemory, VMMemoryDefinition, VMTable,
    VMTableDefinition,
};
use wasmer::sys::{BaseTunables, Tunables};
use wasmer::{MemoryStyle, MemoryType, Pages, TableStyle, TableType, WASM_PAGE_SIZE};

/// Memory when neither bundle nor policy says otherwise.
pub const DEFAULT_MAX_MEMORY: u64 = 256 << 20;
/// CPU time when neither bundle nor policy says otherwise.
pub const DEFAULT_MAX_CPU_MS: u64 = 30_000;
/// Bytes a run may write to its file system when nothing else is said.
pub const DEFAULT_MAX_DISK: u64 = 64 << 20;
/// Bytes a run may transfer by fetch when nothing else is said.
pub const DEFAULT_MAX_NETWORK: u64 = 16 << 20;
/// Bytes a run may write to stdout, and again to stderr, when nothing else is said.
pub const DEFAULT_MAX_OUTPUT: u64 = 4 << 20;

/// Metering points one millisecond of CPU time buys for a WebAssembly task. Every WebAssembly
/// operator costs 1 point, control flow (branches, calls, block ends) 5 (see the runner's cost
/// function). The rate a task spends points at depends on its code: `cargo bench --bench
/// sandbox` measured a branch-only loop at about 13 million points per millisecond and compiled
/// C (a libc-heavy loop) at up to 26 million on a 2-core x86-64 machine. The budget is set at
/// the fast end, so that a task gets at least about the CPU time it names (branch-heavy code
/// up to about twice that). It counts work, not time, so machine load does not change the
/// verdict.
pub const POINTS_PER_MS: u64 = 30_000_000;

/// Metering points one millisecond buys for a JavaScript task. The engine is an interpreter
/// compiled to WebAssembly whose dispatch spends points much faster than ordinary code:
/// `cargo bench --bench js` measured 30 to 200 million points per millisecond (string building,
/// recursion, a numeric loop, an empty `for (;;) {}`). Set at the fast end, so that a `timeout`
/// or `max_cpu_time` is never shorter than the time the task really gets (other code gets up to
/// a few times more).
pub const JS_POINTS_PER_MS: u64 = 200_000_000;

/// The limits of one run. Every field is a hard cap; exceeding it stops the run with
/// [`LimitKind`] named in the error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Linear memory in bytes.
    pub max_memory: ByteSize,
    /// CPU time (as an instruction budget, [`POINTS_PER_MS`] per millisecond).
    pub max_cpu_time: Millis,
    /// Wall-clock time from start to end, including time spent in fetches and commands.
    pub wall_time: Millis,
    /// Bytes written to files.
    pub max_disk: ByteSize,
    /// Bytes sent and received by fetches (request and response lines, headers and bodies).
    pub max_network_bandwidth: ByteSize,
    /// Bytes written to stdout, and separately to stderr.
    pub max_output: ByteSize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory: ByteSize(DEFAULT_MAX_MEMORY),
            max_cpu_time: Millis(DEFAULT_MAX_CPU_MS),
            wall_time: Millis(2 * DEFAULT_MAX_CPU_MS),
            max_disk: ByteSize(DEFAULT_MAX_DISK),
            max_network_bandwidth: ByteSize(DEFAULT_MAX_NETWORK),
            max_output: ByteSize(DEFAULT_MAX_OUTPUT),
        }
    }
}

impl Limits {
    /// The metering budget for [`Limits::max_cpu_time`] at `points_per_ms`
    /// ([`POINTS_PER_MS`] or [`JS_POINTS_PER_MS`]).
    pub fn cpu_points_at(&self, points_per_ms: u64) -> u64 {
        self.max_cpu_time.0.saturating_mul(points_per_ms).max(1)
    }

    /// The wall-clock deadline as a duration.
    pub fn wall(&self) -> Duration {
        self.wall_time.duration()
    }

    /// Each limit lowered to `other`'s where `other` is lower.
    pub fn min(self, other: Limits) -> Limits {
        Limits {
            max_memory: self.max_memory.min(other.max_memory),
            max_cpu_time: self.max_cpu_time.min(other.max_cpu_time),
            wall_time: self.wall_time.min(other.wall_time),
            max_disk: self.max_disk.min(other.max_disk),
            max_network_bandwidth: self.max_network_bandwidth.min(other.max_network_bandwidth),
            max_output: self.max_output.min(other.max_output),
        }
    }
}

/// Which limit a run exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// `max_memory`.
    Memory,
    /// `max_cpu_time`.
    CpuTime,
    /// The wall-clock deadline.
    WallTime,
    /// `max_disk`.
    Disk,
    /// `max_network_bandwidth`.
    NetworkBandwidth,
    /// The stdout/stderr cap.
    Output,
}

impl LimitKind {
    /// The name used in messages and in `task-abi.md`.
    pub fn name(self) -> &'static str {
        match self {
            LimitKind::Memory => "memory limit (max_memory)",
            LimitKind::CpuTime => "CPU time limit (max_cpu_time)",
            LimitKind::WallTime => "wall-clock time limit",
            LimitKind::Disk => "disk limit (max_disk)",
            LimitKind::NetworkBandwidth => "network bandwidth limit (max_network_bandwidth)",
            LimitKind::Output => "output limit (stdout/stderr cap)",
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error a host function returns to stop the guest because a limit was hit; the runner
/// recognises it in the trap and reports the limit.
#[derive(Debug, Clone)]
pub struct LimitExceeded {
    /// Which limit.
    pub kind: LimitKind,
    /// Detail (how much was asked for, what the limit is).
    pub detail: String,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} exceeded: {}", self.kind, self.detail)
    }
}

impl std::error::Error for LimitExceeded {}

/// Most table elements (function references) one run's module may define, summed over its
/// tables' maxima. A table element costs the host 8 to 16 bytes outside linear memory, so an
/// uncapped `table.grow` could exhaust the host; 1 Mi elements (about 16 MiB) is far more than
/// any compiled program needs (the JavaScript engine uses a few thousand).
pub const MAX_TABLE_ELEMENTS: u32 = 1 << 20;

thread_local! {
    /// The memory cap for instances created on this thread (set by the runner just before it
    /// instantiates, so concurrent runs on other threads keep their own caps).
    static MEMORY_CAP: RefCell<Option<(u64, Arc<AtomicBool>)>> = const { RefCell::new(None) };
    /// While a cap is set: memories created so far, and table elements still allowed.
    static CREATED: RefCell<(u32, u32)> = const { RefCell::new((0, MAX_TABLE_ELEMENTS)) };
}

/// Sets the memory cap for instances created on this thread until the guard is dropped.
pub(crate) fn memory_cap_guard(max_bytes: u64, refused: Arc<AtomicBool>) -> impl Drop {
    struct Guard;
    impl Drop for Guard {
        fn drop(&mut self) {
            MEMORY_CAP.with(|c| *c.borrow_mut() = None);
        }
    }
    MEMORY_CAP.with(|c| *c.borrow_mut() = Some((max_bytes, refused)));
    CREATED.with(|c| *c.borrow_mut() = (0, MAX_TABLE_ELEMENTS));
    Guard
}

/// Engine tunables: wasmer's defaults, except that memories created while a cap is set get
/// their maximum lowered to the cap, and a refused growth is remembered.
pub(crate) struct CappedTunables {
    base: BaseTunables,
    vmconfig: VMConfig,
}

/// The native stack a run's WebAssembly code executes on. wasmer's default (1 MiB) lets an
/// interpreter compiled to WebAssembly (the JavaScript engine) recurse only a few hundred
/// JavaScript calls deep; 8 MiB is reserved lazily and lets the engine's own stack check (a
/// catchable `RangeError`) come first.
pub(crate) const WASM_STACK_SIZE: usize = 8 << 20;

impl CappedTunables {
    pub(crate) fn new() -> Self {
        CappedTunables {
            base: BaseTunables::new(),
            vmconfig: VMConfig {
                wasm_stack_size: Some(WASM_STACK_SIZE),
            },
        }
    }

    fn capped(ty: &MemoryType) -> Result<(MemoryType, Option<Arc<AtomicBool>>), MemoryError> {
        let Some((max_bytes, refused)) = MEMORY_CAP.with(|c| c.borrow().clone()) else {
            return Ok((*ty, None));
        };
        // The limit is per run, not per memory: a module gets one linear memory (multi-memory
        // modules could otherwise hold the limit once per memory).
        let n = CREATED.with(|c| {
            let mut c = c.borrow_mut();
            c.0 += 1;
            c.0
        });
        if n > 1 {
            return Err(MemoryError::Generic(
                "the module defines more than one linear memory; a sandboxed task has one".into(),
            ));
        }
        let cap_pages = Pages((max_bytes / WASM_PAGE_SIZE as u64).min(u32::MAX as u64) as u32);
        if ty.minimum > cap_pages {
            refused.store(true, Ordering::SeqCst);
            return Err(MemoryError::Generic(format!(
                "the module asks for {} of initial memory, more than the memory limit of {}",
                ByteSize(ty.minimum.0 as u64 * WASM_PAGE_SIZE as u64),
                ByteSize(max_bytes)
            )));
        }
        let mut t = *ty;
        t.maximum = Some(ty.maximum.map_or(cap_pages, |m| m.min(cap_pages)));
        Ok((t, Some(refused)))
    }
}

/// A linear memory that records when a growth was refused.
#[derive(Debug)]
struct Capped {
    inner: Box<dyn LinearMemory + Send + Sync + 'static>,
    refused: Arc<AtomicBool>,
}

impl LinearMemory for Capped {
    fn ty(&self) -> MemoryType {
        self.inner.ty()
    }
    fn size(&self) -> Pages {
        self.inner.size()
    }
    fn style(&self) -> MemoryStyle {
        self.inner.style()
    }
    fn grow(&mut self, delta: Pages) -> Result<Pages, MemoryError> {
        let r = self.inner.grow(delta);
        if r.is_err() {
            self.refused.store(true, Ordering::SeqCst);
        }
        r
    }
    fn grow_at_least(&mut self, min_size: u64) -> Result<(), MemoryError> {
        let r = self.inner.grow_at_least(min_size);
        if r.is_err() {
            self.refused.store(true, Ordering::SeqCst);
        }
        r
    }
    fn reset(&mut self) -> Result<(), MemoryError> {
        self.inner.reset()
    }
    fn vmmemory(&self) -> NonNull<VMMemoryDefinition> {
        self.inner.vmmemory()
    }
    fn try_clone(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        Err(MemoryError::Generic(
            "sandboxed memories cannot be cloned".into(),
        ))
    }
    unsafe fn initialize_with_data(&self, start: usize, data: &[u8]) -> Result<(), Trap> {
        // SAFETY: forwarded unchanged; the caller upholds the inner memory's contract.
        unsafe { self.inner.initialize_with_data(start, data) }
    }
    fn copy(&self) -> Result<Box<dyn LinearMemory + Send + Sync + 'static>, MemoryError> {
        Err(MemoryError::Generic(
            "sandboxed memories cannot be copied".into(),
        ))
    }
}

fn wrap(mem: VMMemory, refused: Option<Arc<AtomicBool>>) -> VMMemory {
    match refused {
        Some(refused) => VMMemory(Box::new(Capped {
            inner: mem.0,
            refused,
        })),
        None => mem,
    }
}

/// Lowers a table's maximum to what is left of [`MAX_TABLE_ELEMENTS`] for this run (while a
/// cap is set), refusing a table whose minimum is already more.
fn capped_table(ty: &TableType) -> Result<TableType, String> {
    if MEMORY_CAP.with(|c| c.borrow().is_none()) {
        return Ok(*ty);
    }
    CREATED.with(|c| {
        let mut c = c.borrow_mut();
        let left = c.1;
        if ty.minimum > left {
            return Err(format!(
                "the module's tables need {} elements, more than the limit of {MAX_TABLE_ELEMENTS} per task",
                ty.minimum
            ));
        }
        let mut t = *ty;
        let max = ty.maximum.map_or(left, |m| m.min(left));
        t.maximum = Some(max);
        c.1 = left - max;
        Ok(t)
    })
}

impl Tunables for CappedTunables {
    fn memory_style(&self, memory: &MemoryType) -> MemoryStyle {
        self.base.memory_style(memory)
    }
    fn table_style(&self, table: &TableType) -> TableStyle {
        self.base.table_style(table)
    }
    fn create_host_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
    ) -> Result<VMMemory, MemoryError> {
        let (t, refused) = Self::capped(ty)?;
        Ok(wrap(self.base.create_host_memory(&t, style)?, refused))
    }
    unsafe fn create_vm_memory(
        &self,
        ty: &MemoryType,
        style: &MemoryStyle,
        vm_definition_location: NonNull<VMMemoryDefinition>,
    ) -> Result<VMMemory, MemoryError> {
        let (t, refused) = Self::capped(ty)?;
        // SAFETY: forwarded to the base tunables with the same location.
        let m = unsafe {
            self.base
                .create_vm_memory(&t, style, vm_definition_location)?
        };
        Ok(wrap(m, refused))
    }
    fn create_host_table(&self, ty: &TableType, style: &TableStyle) -> Result<VMTable, String> {
        self.base.create_host_table(&capped_table(ty)?, style)
    }
    unsafe fn create_vm_table(
        &self,
        ty: &TableType,
        style: &TableStyle,
        vm_definition_location: NonNull<VMTableDefinition>,
    ) -> Result<VMTable, String> {
        let t = capped_table(ty)?;
        // SAFETY: forwarded to the base tunables with the same location.
        unsafe { self.base.create_vm_table(&t, style, vm_definition_location) }
    }
    fn vmconfig(&self) -> &VMConfig {
        &self.vmconfig
    }
}
