//! The runtime: compiles (or loads) a module, builds the sandbox for one run, runs `_start`
//! and reports what happened, with the figures the benchmarks and `bundle test` need.

use super::cache::{CacheStatus, ModuleCache};
use super::fs::{Preopen, SandboxFs};
use super::host::Host;
use super::limits::{
    CappedTunables, JS_POINTS_PER_MS, LimitExceeded, LimitKind, POINTS_PER_MS, memory_cap_guard,
};
use super::wasi::{Ctx, Exit, RATCHET_MODULE, WASI_MODULE, imports};
use super::{RunError, RunOutcome, RunStatus, TaskRun, TrapKind, Usage};
use ratchet_formats::manifest::units::ByteSize;
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use wasmer::sys::vm::TrapCode;
use wasmer::sys::{CompilerConfig, Cranelift, EngineBuilder, NativeEngineExt};
use wasmer::{Engine, ExternType, FunctionEnv, Instance, Module, Store};
use wasmer_middlewares::Metering;
use wasmer_middlewares::metering::{MeteringPoints, get_remaining_points, set_remaining_points};

/// Runs WASI command modules in the sandbox. One runtime serves many runs (and threads).
pub struct Runtime {
    engine: Engine,
    cache: ModuleCache,
    /// The JavaScript engine module once loaded: later JavaScript runs neither hash nor
    /// deserialize it again. The lock also makes concurrent first runs wait for one compile.
    js_engine: Mutex<Option<Module>>,
    /// The cache directory, passed on to workers.
    cache_dir: Option<PathBuf>,
    /// When set, [`Runtime::run_task_run`] runs each task in a worker process.
    isolation: Option<crate::isolate::Isolation>,
    /// A cache for this runtime's workers when it has no cache directory (so that a workflow
    /// or a `bundle test` does not compile the same module once per worker); removed on drop.
    temp_cache: Option<tempfile::TempDir>,
    /// Where run scratch directories are created (the system's temporary directory when
    /// unset; a worker uses the directory its parent removes after the run).
    scratch_root: Option<PathBuf>,
    /// A worker started ahead of the next run (isolated runtimes only).
    spare: Mutex<Option<crate::isolate::Spare>>,
}

/// Builds an engine; with `metering`, a fresh metering middleware (wasmer's metering
/// middleware serves exactly one module compile, so every compile gets its own engine).
fn build_engine(metering: bool) -> Engine {
    let mut compiler = Cranelift::default();
    if metering {
        compiler.push_middleware(Arc::new(Metering::new(0, operator_cost)));
        // After wasmer's metering, whose budget it charges for bulk operators' lengths.
        compiler.push_middleware(Arc::new(super::metering::BulkMetering::default()));
    }
    let mut engine: Engine = EngineBuilder::new(compiler).engine().into();
    engine.set_tunables(CappedTunables::new());
    engine
}

/// Metering cost of one operator: control flow (branches, calls, block ends) costs more than
/// straight-line operators, as it does on the CPU and in the metering checks it triggers, so
/// that tight loops and long blocks spend a budget at similar speeds (see `task-abi.md` §6).
fn operator_cost(op: &wasmer::wasmparser::Operator) -> u64 {
    if wasmer_middlewares::metering::is_accounting(op) {
        BRANCH_COST
    } else {
        1
    }
}

/// Cost of a control-flow operator.
const BRANCH_COST: u64 = 5;

impl Runtime {
    /// A runtime whose compiled modules are cached in `cache_dir` (`None`: no cache).
    pub fn new(cache_dir: Option<PathBuf>) -> Runtime {
        let engine = build_engine(false);
        let cache = ModuleCache::new(cache_dir.clone(), &engine);
        Runtime {
            engine,
            cache,
            js_engine: Mutex::new(None),
            cache_dir,
            isolation: None,
            temp_cache: None,
            scratch_root: None,
            spare: Mutex::new(None),
        }
    }

    /// This runtime, running every task of [`crate::execute::run_task`] (and so every workflow
    /// step and `bundle test` case) in a worker process started as `isolation` says
    /// (`task-abi.md` §10).
    pub fn isolated(mut self, isolation: crate::isolate::Isolation) -> Runtime {
        if self.cache_dir.is_none() {
            self.temp_cache = tempfile::Builder::new()
                .prefix("ratchet-modules-")
                .tempdir()
                .ok();
        }
        // The first worker starts now, while the caller loads the task.
        self.spare = Mutex::new(crate::isolate::Spare::start(
            &isolation,
            self.worker_cache_dir().as_deref(),
        ));
        self.isolation = Some(isolation);
        self
    }

    /// The worker started ahead, if it is still waiting (see [`crate::isolate::Spare`]).
    pub(crate) fn take_spare(&self) -> Option<std::process::Child> {
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).take();
        spare.and_then(crate::isolate::Spare::take)
    }

    /// Starts the next run's worker unless one is waiting already.
    pub(crate) fn put_spare(&self, isolation: &crate::isolate::Isolation) {
        let mut slot = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = crate::isolate::Spare::start(isolation, self.worker_cache_dir().as_deref());
        }
    }

    /// The worker settings when this runtime isolates runs.
    pub fn isolation(&self) -> Option<&crate::isolate::Isolation> {
        self.isolation.as_ref()
    }

    /// The cache directory workers use: the runtime's, or its temporary one.
    pub(crate) fn worker_cache_dir(&self) -> Option<PathBuf> {
        self.cache_dir
            .clone()
            .or_else(|| self.temp_cache.as_ref().map(|t| t.path().to_path_buf()))
    }

    /// Creates run scratch directories under `root` (a worker's per-run directory).
    pub(crate) fn set_scratch_root(&mut self, root: PathBuf) {
        self.scratch_root = Some(root);
    }

    /// Runs `run` — the embedded JavaScript engine when `js`, else `run.module` — in a worker
    /// process when the runtime is [`isolated`](Runtime::isolated), in this process otherwise.
    pub fn run_task_run(&self, run: &TaskRun, js: bool) -> Result<RunOutcome, RunError> {
        if let Some(iso) = &self.isolation {
            return crate::isolate::run_in_worker(self, iso, run, js);
        }
        self.run_prepared(run, js, &mut |_| Ok(()))
    }

    /// Loads the module (`run.module`, or the JavaScript engine when `js`), calls `ready` (whose
    /// error ends the run before it starts), and runs it.
    pub(crate) fn run_prepared(
        &self,
        run: &TaskRun,
        js: bool,
        ready: &mut dyn FnMut(CacheStatus) -> Result<(), RunError>,
    ) -> Result<RunOutcome, RunError> {
        let started = Instant::now();
        let (module, cache_status, rate) = if js {
            let engine = crate::js::engine()
                .ok_or_else(|| RunError::Compile(crate::js::NOT_BUILT.to_string()))?;
            let sha = crate::js::engine_sha256();
            let (m, s) = self.load_js_engine(engine, sha.as_ref())?;
            (m, s, JS_POINTS_PER_MS)
        } else {
            let (m, s) = self.load(&run.module)?;
            (m, s, POINTS_PER_MS)
        };
        ready(cache_status)?;
        self.run_loaded(&module, cache_status, started, run, rate)
    }

    /// The module cache.
    pub fn cache(&self) -> &ModuleCache {
        &self.cache
    }

    /// Loads `bytes` (a `.wasm` binary or WAT text) from the cache or compiles it with
    /// metering instrumentation, and checks its imports.
    pub fn load(&self, bytes: &[u8]) -> Result<(Module, CacheStatus), RunError> {
        check_module_size(bytes.len() as u64)?;
        let wasm = wasmer::wat2wasm(bytes).map_err(|e| RunError::Compile(e.to_string()))?;
        let hash: [u8; 32] = sha2::Sha256::digest(&wasm).into();
        self.load_hashed(&wasm, &hash)
    }

    /// [`Runtime::load`] of a WebAssembly binary whose SHA-256 is `hash`.
    fn load_hashed(&self, wasm: &[u8], hash: &[u8; 32]) -> Result<(Module, CacheStatus), RunError> {
        let key_bytes: &[u8] = wasm;
        let (module, status) = self
            .cache
            .load_or_compile_hashed(&self.engine, hash, || {
                let compile_engine = build_engine(true);
                let m = Module::new(&compile_engine, key_bytes)?;
                m.serialize()
                    .map_err(|e| wasmer::CompileError::Codegen(e.to_string()))
                    .map(|b| b.to_vec())
            })
            .map_err(|e| RunError::Compile(e.to_string()))?;
        check_imports(&module)?;
        Ok((module, status))
    }

    /// The imports a module uses, as `module.name` (for the permission audit). The import
    /// section is read without compiling the module, so a hostile module costs the auditing
    /// process no more than reading it (compiling happens only in a worker, `task-abi.md` §10).
    pub fn module_imports(&self, bytes: &[u8]) -> Result<Vec<String>, RunError> {
        check_module_size(bytes.len() as u64)?;
        let wasm = wasmer::wat2wasm(bytes).map_err(|e| RunError::Compile(e.to_string()))?;
        let bad = |e: wasmer::wasmparser::BinaryReaderError| RunError::Compile(e.to_string());
        let mut out = Vec::new();
        for payload in wasmer::wasmparser::Parser::new(0).parse_all(&wasm) {
            if let wasmer::wasmparser::Payload::ImportSection(reader) = payload.map_err(bad)? {
                for import in reader.into_imports() {
                    let i = import.map_err(bad)?;
                    let function = matches!(
                        i.ty,
                        wasmer::wasmparser::TypeRef::Func(_)
                            | wasmer::wasmparser::TypeRef::FuncExact(_)
                    );
                    if !function || (i.module != WASI_MODULE && i.module != RATCHET_MODULE) {
                        return Err(RunError::Import(format!(
                            "the module imports `{}.{}`; a task may import only functions of `{WASI_MODULE}` and `{RATCHET_MODULE}` (see task-abi.md)",
                            i.module, i.name
                        )));
                    }
                    out.push(format!("{}.{}", i.module, i.name));
                }
            }
        }
        Ok(out)
    }

    /// Runs one task. `Err` only when the run could not be set up (the module does not
    /// compile, a mount is missing); everything the guest does ends in an `Ok` outcome whose
    /// status says whether it succeeded.
    pub fn run(&self, run: &TaskRun) -> Result<RunOutcome, RunError> {
        let started = Instant::now();
        let (module, cache_status) = self.load(&run.module)?;
        self.run_loaded(&module, cache_status, started, run, POINTS_PER_MS)
    }

    /// Loads the JavaScript engine module (`bytes`, the engine built into this program) from
    /// the compiled-module cache once per runtime; later calls return the loaded module.
    /// `sha256` is the module's SHA-256 when known in advance (it is computed otherwise).
    pub fn load_js_engine(
        &self,
        bytes: &[u8],
        sha256: Option<&[u8; 32]>,
    ) -> Result<(Module, CacheStatus), RunError> {
        let mut slot = self.js_engine.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = slot.as_ref() {
            return Ok((m.clone(), CacheStatus::Hit));
        }
        let (m, status) = match sha256 {
            Some(h) => self.load_hashed(bytes, h)?,
            None => self.load(bytes)?,
        };
        *slot = Some(m.clone());
        Ok((m, status))
    }

    /// Loads the JavaScript engine module (whose SHA-256 is `sha256`) into this runtime when
    /// its compiled artifact is in the cache, never compiling it; true when it is loaded (later
    /// runs then use it, as after [`Runtime::load_js_engine`]). A worker started ahead of its
    /// run does this while it waits (`task-abi.md` §10).
    pub fn preload_js_engine(&self, sha256: &[u8; 32]) -> bool {
        let mut slot = self.js_engine.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return true;
        }
        let Some(module) = self.cache.load_cached(&self.engine, sha256) else {
            return false;
        };
        if check_imports(&module).is_err() {
            return false;
        }
        *slot = Some(module);
        true
    }

    /// Runs the JavaScript engine `engine` (see [`Runtime::load_js_engine`]) like
    /// [`Runtime::run`] runs `run.module` (which is ignored here).
    pub fn run_js(
        &self,
        engine: &[u8],
        sha256: Option<&[u8; 32]>,
        run: &TaskRun,
    ) -> Result<RunOutcome, RunError> {
        let started = Instant::now();
        let (module, cache_status) = self.load_js_engine(engine, sha256)?;
        self.run_loaded(&module, cache_status, started, run, JS_POINTS_PER_MS)
    }

    fn run_loaded(
        &self,
        module: &Module,
        cache_status: CacheStatus,
        started: Instant,
        run: &TaskRun,
        points_per_ms: u64,
    ) -> Result<RunOutcome, RunError> {
        let load_time = started.elapsed();

        let limits = run.permissions.limits;
        let budget = limits.cpu_points_at(points_per_ms);
        let mut scratch = tempfile::Builder::new();
        scratch.prefix("ratchet-run-");
        let scratch = match &self.scratch_root {
            Some(root) => scratch.tempdir_in(root),
            None => scratch.tempdir(),
        }
        .map_err(|e| RunError::Io("creating the scratch directory".into(), e))?;
        let preopens = build_preopens(run, scratch.path())?;
        let fs = SandboxFs::new(preopens, limits.max_disk.0)
            .map_err(|e| RunError::Io("opening a mount".into(), e))?;
        let env: Vec<(String, String)> = run
            .permissions
            .environment
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.clone(), v)))
            .collect();
        // The wall clock starts when the module is ready: compiling it (seconds for the
        // JavaScript engine on a cold cache) is not the task's time.
        let deadline = Instant::now() + limits.wall();
        let host = Host {
            network: run.permissions.network.clone(),
            commands: run.permissions.commands.clone(),
            env: env.clone(),
            workdir: scratch.path().to_path_buf(),
            mock: run.fetch_mock.clone(),
            max_network: limits.max_network_bandwidth.0,
            max_output: limits.max_output.0,
            deadline,
            network_bytes: 0,
            denials: Vec::new(),
            denials_dropped: 0,
        };
        let mut args = vec![run.name.clone()];
        args.extend(run.args.iter().cloned());
        let ctx = Ctx {
            memory: None,
            args,
            env,
            stdin: run.stdin.clone(),
            stdin_pos: 0,
            stdout: Vec::new(),
            stderr: Vec::new(),
            max_output: limits.max_output.0,
            fs,
            host,
            started,
            deadline,
            response: None,
        };

        let mut store = Store::new(self.engine.clone());
        let env = FunctionEnv::new(&mut store, ctx);
        let imports = imports(&mut store, &env);
        let refused = Arc::new(AtomicBool::new(false));
        let instance = {
            let _cap = memory_cap_guard(limits.max_memory.0, refused.clone());
            Instance::new(&mut store, module, &imports)
        };
        let instance = match instance {
            Ok(i) => i,
            Err(e) if refused.load(Ordering::SeqCst) => {
                return Ok(finish(
                    &mut store,
                    &env,
                    None,
                    RunStatus::Limit {
                        kind: LimitKind::Memory,
                        message: format!("{}: {e}", LimitKind::Memory),
                    },
                    cache_status,
                    load_time,
                    started,
                    budget,
                ));
            }
            Err(e) => {
                let msg = e.to_string();
                let wrong_signature = match &e {
                    wasmer::InstantiationError::Link(wasmer::LinkError::Import(m, n, _)) => {
                        import_signature_differs(module, &imports, &store, m, n)
                    }
                    _ => false,
                };
                return Err(RunError::Instantiate(if wrong_signature {
                    format!(
                        "an imported function has the wrong signature for this sandbox (task-abi.md §3-4): {msg}"
                    )
                } else {
                    msg
                }));
            }
        };
        let memory = instance
            .exports
            .get_memory("memory")
            .map_err(|_| {
                RunError::Instantiate("the module exports no memory named `memory`".into())
            })?
            .clone();
        env.as_mut(&mut store).memory = Some(memory);
        set_remaining_points(&mut store, &instance, budget);
        let start = instance
            .exports
            .get_function("_start")
            .map_err(|_| {
                RunError::Instantiate(
                    "the module exports no `_start` function (is it a WASI command?)".into(),
                )
            })?
            .clone();
        let result = start.call(&mut store, &[]);
        let mut trap_kind = None;

        let status = match result {
            Ok(_) => RunStatus::Success,
            Err(err) => {
                let exhausted =
                    get_remaining_points(&mut store, &instance) == MeteringPoints::Exhausted;
                let trap = err.clone().to_trap();
                if let Some(l) = err.downcast_ref::<LimitExceeded>() {
                    RunStatus::Limit {
                        kind: l.kind,
                        message: l.to_string(),
                    }
                } else if exhausted {
                    RunStatus::Limit {
                        kind: LimitKind::CpuTime,
                        message: format!(
                            "{} exceeded: the task used its budget of {}",
                            LimitKind::CpuTime,
                            limits.max_cpu_time
                        ),
                    }
                } else if let Some(Exit(code)) = err.downcast_ref::<Exit>() {
                    if *code == 0 {
                        RunStatus::Success
                    } else if refused.load(Ordering::SeqCst) {
                        memory_limit(&limits.max_memory, &format!("exit status {code}"))
                    } else {
                        RunStatus::Exit(*code)
                    }
                } else if refused.load(Ordering::SeqCst) {
                    memory_limit(&limits.max_memory, &err.message())
                } else if trap == Some(TrapCode::StackOverflow) {
                    trap_kind = Some(TrapKind::StackOverflow);
                    RunStatus::Trap(
                        "stack overflow: the task recursed too deeply (call stack exhausted)"
                            .into(),
                    )
                } else if trap == Some(TrapCode::HeapAccessOutOfBounds) {
                    trap_kind = Some(TrapKind::OutOfBoundsMemoryAccess);
                    // C's stack sits below its data by default: deep recursion runs off the
                    // bottom of linear memory and looks like a stray pointer.
                    RunStatus::Trap(format!(
                        "{} (if the task recursed deeply, its stack overflowed: link C tasks with -Wl,--stack-first so an overflow is reported as one)",
                        err.message()
                    ))
                } else {
                    trap_kind = Some(TrapKind::Other);
                    RunStatus::Trap(err.message())
                }
            }
        };
        let mut outcome = finish(
            &mut store,
            &env,
            Some(&instance),
            status,
            cache_status,
            load_time,
            started,
            budget,
        );
        outcome.trap = trap_kind;
        Ok(outcome)
    }
}

/// The largest module (`.wasm` or WAT) a task may have: checked before reading or compiling
/// it, since compiling costs time and memory that grow faster than the module (`task-abi.md`
/// §10).
pub const MAX_MODULE_SIZE: u64 = 32 << 20;

/// Refuses a module of `len` bytes larger than [`MAX_MODULE_SIZE`].
pub fn check_module_size(len: u64) -> Result<(), RunError> {
    if len > MAX_MODULE_SIZE {
        return Err(RunError::Compile(format!(
            "the module is {}, larger than the limit of {} per module",
            ByteSize(len),
            ByteSize(MAX_MODULE_SIZE)
        )));
    }
    Ok(())
}

fn memory_limit(max: &ByteSize, what: &str) -> RunStatus {
    RunStatus::Limit {
        kind: LimitKind::Memory,
        message: format!(
            "{} exceeded: the task asked for more than {max} of memory ({what})",
            LimitKind::Memory
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn finish(
    store: &mut Store,
    env: &FunctionEnv<Ctx>,
    instance: Option<&Instance>,
    status: RunStatus,
    cache: CacheStatus,
    load_time: std::time::Duration,
    started: Instant,
    budget: u64,
) -> RunOutcome {
    let cpu_points = match instance.map(|i| get_remaining_points(store, i)) {
        Some(MeteringPoints::Remaining(left)) => budget.saturating_sub(left),
        Some(MeteringPoints::Exhausted) => budget,
        None => 0,
    };
    let memory_bytes = env
        .as_ref(store)
        .memory
        .clone()
        .map_or(0, |m| m.view(store).data_size());
    let ctx = env.as_mut(store);
    RunOutcome {
        status,
        trap: None,
        stdout: std::mem::take(&mut ctx.stdout),
        stderr: std::mem::take(&mut ctx.stderr),
        denials: {
            let mut d = std::mem::take(&mut ctx.host.denials);
            if ctx.host.denials_dropped > 0 {
                d.push(format!("... and {} more", ctx.host.denials_dropped));
            }
            d
        },
        usage: Usage {
            cache,
            load_ms: load_time.as_secs_f64() * 1000.0,
            wall_ms: started.elapsed().as_secs_f64() * 1000.0,
            cpu_points,
            memory_bytes,
            disk_bytes: ctx.fs.written,
            network_bytes: ctx.host.network_bytes,
        },
    }
}

/// Only WASI preview1 and the `ratchet` module may be imported; no imported memories or tables.
fn check_imports(module: &Module) -> Result<(), RunError> {
    for i in module.imports() {
        let ok = matches!(i.ty(), ExternType::Function(_))
            && (i.module() == WASI_MODULE || i.module() == RATCHET_MODULE);
        if !ok {
            return Err(RunError::Import(format!(
                "the module imports `{}.{}`; a task may import only functions of `{WASI_MODULE}` and `{RATCHET_MODULE}` (see task-abi.md)",
                i.module(),
                i.name()
            )));
        }
    }
    Ok(())
}

/// Declared paths (scratch directories or the policy's bindings) and the run's extra mounts.
fn build_preopens(run: &TaskRun, scratch: &Path) -> Result<Vec<Preopen>, RunError> {
    let mut out = Vec::new();
    let p = &run.permissions;
    let declared = p
        .fs_read
        .iter()
        .map(|g| (g, false))
        .chain(p.fs_write.iter().map(|g| (g, true)));
    for (guest, writable) in declared {
        let host = match p.mounts.get(guest) {
            Some(h) => h.clone(),
            None => {
                let h = scratch.join("fs").join(guest.trim_start_matches('/'));
                std::fs::create_dir_all(&h)
                    .map_err(|e| RunError::Io(format!("creating {}", h.display()), e))?;
                h
            }
        };
        if !host.is_dir() {
            return Err(RunError::Mount(format!(
                "{guest} is bound to {}, which is not a directory",
                host.display()
            )));
        }
        out.push(Preopen {
            guest: guest.clone(),
            host,
            writable,
        });
    }
    for m in &run.mounts {
        if !m.host.is_dir() {
            return Err(RunError::Mount(format!(
                "{} is bound to {}, which is not a directory",
                m.guest,
                m.host.display()
            )));
        }
        out.push(Preopen {
            guest: super::policy::guest_path(&m.guest),
            host: m.host.clone(),
            writable: false,
        });
    }
    Ok(out)
}

/// Whether the module imports `module.name` as a function with another type than the one this
/// sandbox provides: decided on the types themselves, not on the linker's message.
fn import_signature_differs(
    module: &Module,
    imports: &wasmer::Imports,
    store: &Store,
    module_name: &str,
    name: &str,
) -> bool {
    let Some(provided) = imports.get_export(module_name, name) else {
        return false;
    };
    module
        .imports()
        .filter(|i| i.module() == module_name && i.name() == name)
        .any(|i| match (i.ty(), provided.ty(store)) {
            (ExternType::Function(want), ExternType::Function(have)) => *want != have,
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Effective;

    fn instantiate(wat: &str) -> RunError {
        let run = TaskRun {
            name: "t".into(),
            module: wat.as_bytes().to_vec(),
            permissions: Effective::pure(super::super::Limits::default()),
            ..Default::default()
        };
        Runtime::new(None).run(&run).unwrap_err()
    }

    #[test]
    fn an_import_with_another_signature_is_named_as_such() {
        let e = instantiate(
            r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32)))
                (memory (export "memory") 1) (func (export "_start")))"#,
        );
        assert!(
            matches!(&e, RunError::Instantiate(m) if m.contains("wrong signature")),
            "{e}"
        );
        // An import the sandbox does not provide at all is another failure.
        let e = instantiate(
            r#"(module (import "wasi_snapshot_preview1" "no_such_call" (func))
                (memory (export "memory") 1) (func (export "_start")))"#,
        );
        assert!(
            matches!(&e, RunError::Instantiate(m) if !m.contains("wrong signature")),
            "{e}"
        );
    }
}
