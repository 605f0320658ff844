//! Process isolation: every task run in a supervised worker process (`task-abi.md` §10).
//!
//! Metering and the host-call deadline checks stop a task early and deterministically, but they
//! cannot stop code that never calls the host (wasmer cannot interrupt a running instance), they
//! do not bound compiling a module, and a command's children are not WebAssembly at all. So a
//! run happens in a separate process — the `ratchet` binary re-executed in its hidden worker
//! mode — which sets operating-system limits on itself (CPU timer, `RLIMIT_CPU`, `RLIMIT_DATA`,
//! `RLIMIT_FSIZE`, `RLIMIT_NOFILE`) and runs in its own process group, so that the parent can
//! kill it and everything it started with one signal at the deadline.
//!
//! The parent side is [`run_in_worker`], which [`Runtime::run_task_run`] uses when the runtime
//! is [`isolated`](Runtime::isolated); the worker side is [`worker_main`], called by the hidden
//! `ratchet __sandbox-worker` subcommand. The protocol: one request on the worker's stdin (a JSON
//! header line, then the module's and the input's bytes raw);
//! on its stdout the line `ready <cache>` once the module is loaded (the wall clock starts) and
//! then one JSON line with the outcome. The worker's stderr carries only its own crash messages.

use crate::cache::CacheStatus;
use crate::limits::{LimitKind, Limits};
use crate::policy::Effective;
use crate::{Mount, RunError, RunOutcome, RunStatus, Runtime, TaskRun, TrapKind, Usage};
use ratchet_formats::manifest::units::{ByteSize, Millis};
use ratchet_formats::task::HttpMock;
use serde::{Deserialize, Serialize};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The hidden subcommand that makes the `ratchet` binary a worker.
pub const WORKER_SUBCOMMAND: &str = "__sandbox-worker";

/// CPU time the worker may spend compiling the embedded JavaScript engine (a cold cache): it is
/// part of `ratchet`, not the task's code, so it does not come out of the task's budget.
pub const JS_ENGINE_COMPILE_CPU: Duration = Duration::from_secs(120);

/// `RLIMIT_DATA` while the JavaScript engine is compiled or loaded.
pub const JS_ENGINE_COMPILE_MEMORY: u64 = 2 << 30;

/// What compiling a task's own module may use on top of its `max_memory` (`RLIMIT_DATA`): the
/// compiler's working memory. Measured on Linux x86-64: a worker has about 1 MiB of private
/// writable data mapped at `ready` (a cached artifact is mapped from its file); compiling the
/// JavaScript engine (1.4 MB of WebAssembly, the largest module we know) peaks at about 155 MiB.
pub const COMPILE_MEMORY_OVERHEAD: u64 = 256 << 20;

/// What a running task's worker may map on top of what it had mapped at `ready` and the task's
/// `max_memory`, besides its output and network buffers: the 8 MiB WebAssembly stack, thread
/// stacks of command readers, JSON encoding of the outcome.
pub const RUN_MEMORY_OVERHEAD: u64 = 64 << 20;

/// `RLIMIT_NOFILE` of a worker (and of the commands it starts).
pub const MAX_OPEN_FILES: u64 = 256;

/// `RLIMIT_FSIZE` while compiling (the compiled-module cache's artifacts).
const COMPILE_MAX_FILE: u64 = 1 << 30;

/// How much of the worker's own stderr the parent keeps for an error message.
const STDERR_KEPT: u64 = 64 << 10;

/// How to start a worker: the program (the `ratchet` binary) and its arguments.
#[derive(Debug, Clone)]
pub struct Isolation {
    /// The program.
    pub program: PathBuf,
    /// Arguments that select the worker mode (`__sandbox-worker`).
    pub args: Vec<String>,
}

impl Isolation {
    /// Workers started as `program __sandbox-worker` (`program` being a `ratchet` binary).
    pub fn new(program: PathBuf) -> Isolation {
        Isolation {
            program,
            args: vec![WORKER_SUBCOMMAND.to_string()],
        }
    }

    /// Workers started from the running program (`std::env::current_exe`).
    pub fn current_exe() -> io::Result<Isolation> {
        Ok(Isolation::new(std::env::current_exe()?))
    }
}

/// Bytes on the wire as base64 text.
mod b64 {
    use ct_codecs::{Base64, Decoder, Encoder};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let text = Base64::encode_to_string(v).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        Base64::decode_to_vec(text, None).map_err(serde::de::Error::custom)
    }
}

/// What the parent sends: this header as one JSON line, then the module's bytes and then the
/// stdin bytes, raw (`module_len` and `stdin_len` of them). Raw bytes rather than base64 in the
/// JSON: decoding a 32 MiB module from base64 text cost the worker a quarter of a second of CPU
/// before its limits were set, outside the compile budget.
#[derive(Serialize, Deserialize)]
struct Request {
    name: String,
    /// Length of the module bytes that follow the header.
    module_len: u64,
    js: bool,
    args: Vec<String>,
    /// Length of the stdin bytes that follow the module.
    stdin_len: u64,
    mounts: Vec<(String, PathBuf)>,
    permissions: Effective,
    fetch_mock: Option<HttpMock>,
    cache_dir: Option<PathBuf>,
    scratch_root: PathBuf,
    /// The parent's process id: the worker ends itself when the parent is gone.
    parent: u32,
}

/// [`RunStatus`] on the wire.
#[derive(Serialize, Deserialize)]
enum WireStatus {
    Success,
    Exit(i32),
    Trap(String),
    Limit(LimitKind, String),
}

/// [`RunOutcome`] on the wire.
#[derive(Serialize, Deserialize)]
struct WireOutcome {
    status: WireStatus,
    #[serde(with = "b64")]
    stdout: Vec<u8>,
    #[serde(with = "b64")]
    stderr: Vec<u8>,
    denials: Vec<String>,
    load_ms: f64,
    wall_ms: f64,
    cpu_points: u64,
    memory_bytes: u64,
    disk_bytes: u64,
    network_bytes: u64,
    /// What kind of trap ended the run, when one did.
    trap: Option<TrapKind>,
}

/// [`RunError`] on the wire.
#[derive(Serialize, Deserialize)]
enum WireError {
    Compile(String),
    Import(String),
    Instantiate(String),
    Mount(String),
    Io(String),
}

/// The worker's answer.
#[derive(Serialize, Deserialize)]
enum Response {
    Ok(WireOutcome),
    Err(WireError),
}

fn cache_word(c: CacheStatus) -> &'static str {
    match c {
        CacheStatus::Hit => "hit",
        CacheStatus::Compiled => "compiled",
        CacheStatus::Disabled => "disabled",
    }
}

fn parse_cache(word: &str) -> CacheStatus {
    match word.trim() {
        "hit" => CacheStatus::Hit,
        "disabled" => CacheStatus::Disabled,
        _ => CacheStatus::Compiled,
    }
}

/// CPU time the task may use once loaded: its limit plus 5 % (metering normally stops it
/// first, with the same error).
fn run_cpu(limits: &Limits) -> Duration {
    let d = limits.max_cpu_time.duration();
    d + d / 20
}

/// CPU time compiling or loading the module may use.
fn compile_cpu(limits: &Limits, js: bool) -> Duration {
    if js {
        JS_ENGINE_COMPILE_CPU
    } else {
        limits.max_cpu_time.duration()
    }
}

/// `RLIMIT_DATA` while compiling or loading the module.
fn compile_memory(limits: &Limits, js: bool) -> u64 {
    if js {
        JS_ENGINE_COMPILE_MEMORY
    } else {
        limits.max_memory.0.saturating_add(COMPILE_MEMORY_OVERHEAD)
    }
}

/// Most a request header (the JSON line before the module and stdin bytes) may hold: names,
/// arguments, mounts, permissions and `mock.http` answers.
const MAX_REQUEST_HEADER: u64 = 64 << 20;

/// Most stdin bytes a request may carry (the task's input).
const MAX_REQUEST_STDIN: u64 = 64 << 20;

/// A request as read: the header and the raw bytes that followed it.
struct Received {
    req: Request,
    module: Vec<u8>,
    stdin: Vec<u8>,
}

/// Reads one request (see [`Request`]): every length is checked against its limit before
/// anything of that size is allocated.
fn read_request(input: impl Read) -> Result<Received, String> {
    let mut r = BufReader::new(input);
    let mut header = Vec::new();
    (&mut r)
        .take(MAX_REQUEST_HEADER + 1)
        .read_until(b'\n', &mut header)
        .map_err(|e| format!("reading it: {e}"))?;
    if header.last() != Some(&b'\n') {
        return Err(if header.len() as u64 > MAX_REQUEST_HEADER {
            format!("its header is larger than {}", ByteSize(MAX_REQUEST_HEADER))
        } else {
            "it ended before its header did".to_string()
        });
    }
    let req: Request = serde_json::from_slice(&header).map_err(|e| e.to_string())?;
    drop(header);
    if req.module_len > crate::MAX_MODULE_SIZE {
        return Err(format!(
            "its module ({}) is larger than the limit of {}",
            ByteSize(req.module_len),
            ByteSize(crate::MAX_MODULE_SIZE)
        ));
    }
    if req.stdin_len > MAX_REQUEST_STDIN {
        return Err(format!(
            "its input ({}) is larger than the limit of {}",
            ByteSize(req.stdin_len),
            ByteSize(MAX_REQUEST_STDIN)
        ));
    }
    let mut bytes = |n: u64, what: &str| -> Result<Vec<u8>, String> {
        let mut v = vec![0u8; n as usize];
        r.read_exact(&mut v)
            .map_err(|e| format!("reading its {what}: {e}"))?;
        Ok(v)
    };
    let module = bytes(req.module_len, "module")?;
    let stdin = bytes(req.stdin_len, "input")?;
    Ok(Received { req, module, stdin })
}

/// The request as the parent writes it: the header line, the module and the stdin bytes.
fn encode_request(req: &Request, module: &[u8], stdin: &[u8]) -> Result<Vec<u8>, RunError> {
    let header = serde_json::to_vec(req)
        .map_err(|e| RunError::Io("encoding the worker request".into(), io::Error::other(e)))?;
    let mut body = Vec::with_capacity(header.len() + 1 + module.len() + stdin.len());
    body.extend_from_slice(&header);
    body.push(b'\n');
    body.extend_from_slice(module);
    body.extend_from_slice(stdin);
    Ok(body)
}

/// A worker's JavaScript engine, loaded before its request arrived (see [`worker_main`]).
struct Preloaded {
    cache_dir: PathBuf,
    runtime: Runtime,
}

/// Loads the embedded JavaScript engine from the compiled-module cache `cache_dir`, when it is
/// there (a worker started ahead never compiles: compiling is the run's work, under its limits).
fn preload(cache_dir: PathBuf) -> Option<Preloaded> {
    crate::js::engine()?;
    let sha = crate::js::engine_sha256()?;
    let runtime = Runtime::new(Some(cache_dir.clone()));
    runtime
        .preload_js_engine(&sha)
        .then_some(Preloaded { cache_dir, runtime })
}

/// The worker: reads one request from `input`, runs it under OS limits and writes `ready` and
/// the outcome to `output` (see the module docs). Returns the process exit status: 0 when an
/// answer was written, 1 when the request could not be read.
///
/// With `preload_js` (a worker started ahead of its run, `task-abi.md` §10), the worker first
/// loads the embedded JavaScript engine from that compiled-module cache, if it is cached there,
/// so that a JavaScript run does not wait for it. The engine is part of `ratchet` and the cache
/// is trusted like the binary (§7); no task code or data is involved before the request.
///
/// The worker ignores `SIGPIPE` (whatever the binary set): it writes only to pipes — its answer
/// to the parent, a command's stdin — and a reader that has gone away is an error there (`EPIPE`),
/// not a reason to die without an answer. Commands start with the default action again (the
/// standard library resets it when it starts a program).
pub fn worker_main(preload_js: Option<PathBuf>, input: impl Read, mut output: impl Write) -> i32 {
    #[cfg(unix)]
    // SAFETY: sets one signal's disposition to "ignore"; no handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let preloaded = preload_js.and_then(preload);
    // CPU time from here on is the run's: reading and decoding the request counts against the
    // compile budget (the wait for it costs none).
    let base = os::cpu_used();
    let response = match read_request(input) {
        Ok(received) => serve(received, preloaded, base, &mut output),
        Err(e) => Response::Err(WireError::Io(format!(
            "the sandbox worker's request is not valid: {e}"
        ))),
    };
    let Ok(line) = serde_json::to_string(&response) else {
        return 1;
    };
    if writeln!(output, "{line}")
        .and_then(|_| output.flush())
        .is_err()
    {
        return 1;
    }
    0
}

fn serve(
    received: Received,
    preloaded: Option<Preloaded>,
    base: Duration,
    output: &mut dyn Write,
) -> Response {
    let Received { req, module, stdin } = received;
    if !os::die_with_parent(req.parent) {
        return Response::Err(WireError::Io(
            "the process that started the sandbox worker has ended".into(),
        ));
    }
    // The engine loaded ahead serves a JavaScript run with the same cache; otherwise it is
    // dropped (unmapped) now, before the limits are set.
    let preloaded = preloaded.filter(|p| req.js && req.cache_dir.as_ref() == Some(&p.cache_dir));
    // What reading the request cost comes out of the compile budget.
    let spent = os::cpu_used().saturating_sub(base);
    // Linux: this process stays behind as a subreaper supervisor that never returns from
    // here; the task runs in its child, and every process the task starts (even one that left
    // the process group) is killed when the task process ends.
    if let Err(e) = reaper::split() {
        return Response::Err(WireError::Io(format!(
            "starting the sandbox worker's supervisor: {e}"
        )));
    }
    let limits = req.permissions.limits;
    if let Err(e) = os::compile_limits(
        compile_cpu(&limits, req.js).saturating_sub(spent),
        run_cpu(&limits),
        compile_memory(&limits, req.js),
    ) {
        return Response::Err(WireError::Io(format!(
            "setting the sandbox worker's OS limits: {e}"
        )));
    }
    let mut rt = match preloaded {
        Some(p) => p.runtime,
        None => Runtime::new(req.cache_dir.clone()),
    };
    rt.set_scratch_root(req.scratch_root.clone());
    let run = TaskRun {
        name: req.name,
        module,
        args: req.args,
        stdin,
        mounts: req
            .mounts
            .into_iter()
            .map(|(guest, host)| Mount { guest, host })
            .collect(),
        permissions: req.permissions,
        fetch_mock: req.fetch_mock,
    };
    let scratch_root = req.scratch_root;
    // The processes a task must not signal: its supervisor (whose death would orphan what the
    // task started to init) and the run's parent.
    #[cfg(unix)]
    let protected = [std::os::unix::process::parent_id(), req.parent];
    #[cfg(not(unix))]
    let protected = [req.parent];
    let result = rt.run_prepared(&run, req.js, &mut |cache| {
        // Without its run limits the task does not start.
        os::run_limits(&limits)
            .map_err(|e| RunError::Io("setting the sandbox worker's OS limits".into(), e))?;
        // Best effort: a kernel without Landlock or seccomp runs the task without them.
        layers::apply(&run, &scratch_root, &protected);
        let _ = writeln!(output, "ready {}", cache_word(cache)).and_then(|_| output.flush());
        Ok(())
    });
    match result {
        Ok(o) => Response::Ok(WireOutcome {
            status: match o.status {
                RunStatus::Success => WireStatus::Success,
                RunStatus::Exit(c) => WireStatus::Exit(c),
                RunStatus::Trap(m) => WireStatus::Trap(m),
                RunStatus::Limit { kind, message } => WireStatus::Limit(kind, message),
            },
            stdout: o.stdout,
            stderr: o.stderr,
            denials: o.denials,
            load_ms: o.usage.load_ms,
            wall_ms: o.usage.wall_ms,
            cpu_points: o.usage.cpu_points,
            memory_bytes: o.usage.memory_bytes,
            disk_bytes: o.usage.disk_bytes,
            network_bytes: o.usage.network_bytes,
            trap: o.trap,
        }),
        Err(e) => Response::Err(match e {
            RunError::Compile(m) => WireError::Compile(m),
            RunError::Import(m) => WireError::Import(m),
            RunError::Instantiate(m) => WireError::Instantiate(m),
            RunError::Mount(m) => WireError::Mount(m),
            RunError::Io(what, e) => WireError::Io(format!("{what}: {e}")),
        }),
    }
}

/// Runs `run` (the JavaScript engine when `js`) in a worker started as `iso` says, with `rt`'s
/// module cache; kills the worker's process group at the deadline and after the run.
pub(crate) fn run_in_worker(
    rt: &Runtime,
    iso: &Isolation,
    run: &TaskRun,
    js: bool,
) -> Result<RunOutcome, RunError> {
    let limits = run.permissions.limits;
    let scratch = tempfile::Builder::new()
        .prefix("ratchet-worker-")
        .tempdir()
        .map_err(|e| RunError::Io("creating the sandbox worker's directory".into(), e))?;
    if !js {
        // Refused before it is sent, read or compiled.
        crate::check_module_size(run.module.len() as u64)?;
    }
    if run.stdin.len() as u64 > MAX_REQUEST_STDIN {
        return Err(RunError::Io(
            "passing the input to the sandbox worker".into(),
            io::Error::other(format!(
                "the input is {}, larger than the limit of {}",
                ByteSize(run.stdin.len() as u64),
                ByteSize(MAX_REQUEST_STDIN)
            )),
        ));
    }
    let module: &[u8] = if js { &[] } else { &run.module };
    let request = Request {
        name: run.name.clone(),
        module_len: module.len() as u64,
        js,
        args: run.args.clone(),
        stdin_len: run.stdin.len() as u64,
        mounts: run
            .mounts
            .iter()
            .map(|m| (m.guest.clone(), m.host.clone()))
            .collect(),
        permissions: run.permissions.clone(),
        fetch_mock: run.fetch_mock.clone(),
        cache_dir: rt.worker_cache_dir(),
        scratch_root: scratch.path().to_path_buf(),
        parent: std::process::id(),
    };
    let body = encode_request(&request, module, &run.stdin)?;
    drop(request);

    // A worker started ahead (by `Runtime::isolated` or after the previous run) has already
    // paid for exec and start-up; otherwise one is started now.
    let spare = rt.take_spare();
    let started = Instant::now();
    let mut child = match spare {
        Some(child) => child,
        None => spawn_worker(iso, None).map_err(|e| {
            RunError::Io(
                format!("starting the sandbox worker {}", iso.program.display()),
                e,
            )
        })?,
    };
    // A small request fits the fresh pipe of a worker that waits for it: written here, it
    // costs no thread; a larger one is written by a thread while the worker reads it. A worker
    // that has ended (or closed its stdin) makes the write fail with `EPIPE`, never signals
    // this process (`ratchet` keeps `SIGPIPE`'s default action for its own output).
    let mut stdin = child.stdin.take();
    let (wtx, written) = mpsc::channel::<io::Error>();
    let mut write_error = None;
    if body.len() <= DIRECT_WRITE {
        if let Some(Err(e)) = stdin.as_mut().map(|s| write_request(s, &body)) {
            write_error = Some(e);
        }
        drop((stdin, wtx));
    } else {
        std::thread::spawn(move || {
            if let Some(Err(e)) = stdin.as_mut().map(|s| write_request(s, &body)) {
                let _ = wtx.send(e);
            }
        });
    }
    // The next run's worker starts now, while this one runs (and then while the caller renders
    // this one's outcome), so that its exec and start-up are off both runs' paths.
    rt.put_spare(iso);
    let mut lines = lines::Lines::new(child.stdout.take(), answer_cap(&limits));
    let (etx, errs) = mpsc::channel::<Vec<u8>>();
    let stderr = child.stderr.take();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        if let Some(mut e) = stderr {
            let _ = (&mut e).take(STDERR_KEPT).read_to_end(&mut kept);
            let _ = io::copy(&mut e, &mut io::sink());
        }
        let _ = etx.send(kept);
    });

    let compile_budget = compile_cpu(&limits, js);
    let mut deadline = started + compile_budget * 2 + Duration::from_secs(10);
    let wall = limits.wall();
    let mut ready: Option<(Instant, CacheStatus)> = None;
    let mut response: Option<Result<Response, String>> = None;
    let mut timed_out = false;
    // A worker whose request could not be written has nothing to answer.
    while write_error.is_none() {
        let now = Instant::now();
        let Some(left) = deadline
            .checked_duration_since(now)
            .filter(|d| !d.is_zero())
        else {
            timed_out = true;
            break;
        };
        match lines.next(now + left) {
            lines::Next::Line(line) => {
                if let Some(word) = line.trim_ascii_end().strip_prefix(b"ready") {
                    let at = Instant::now();
                    ready = Some((at, parse_cache(&String::from_utf8_lossy(word))));
                    deadline = at + wall + wall / 20;
                } else {
                    response = Some(serde_json::from_slice(&line).map_err(|e| e.to_string()));
                    break;
                }
            }
            lines::Next::TooLong => {
                response = Some(Err(format!(
                    "the answer is longer than {}",
                    ByteSize(answer_cap(&limits) as u64)
                )));
                break;
            }
            lines::Next::End => break,
            lines::Next::Timeout => {
                timed_out = true;
                break;
            }
        }
    }
    drop(lines);
    // Nothing the run started is alive when this returns, answered or not.
    let (exit, survivors) = end_worker(&mut child);
    let worker_stderr = if matches!(response, Some(Ok(_))) {
        Vec::new()
    } else {
        errs.recv_timeout(Duration::from_millis(500))
            .unwrap_or_default()
    };
    drop(scratch);
    if !survivors.is_empty() {
        return Err(RunError::Io(
            "ending the processes the run started".into(),
            io::Error::other(format!(
                "{} of them ({}) still running {} after SIGKILL",
                survivors.len(),
                survivors
                    .iter()
                    .map(|p| format!("pid {p}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                Millis((SETTLE_LIMIT + SURVIVOR_GRACE).as_millis() as u64)
            )),
        ));
    }
    // A worker that ended before it read its request (or closed its stdin) gave no answer:
    // the write's error says what happened, not a guess at a limit.
    if response.is_none()
        && ready.is_none()
        && let Some(e) =
            write_error.or_else(|| written.recv_timeout(Duration::from_millis(500)).ok())
    {
        let how = match exit {
            Some(s) => describe_exit(s),
            None => "no exit status".to_string(),
        };
        return Err(RunError::Io(
            format!(
                "sending the request to the sandbox worker (it ended before reading it: {how})"
            ),
            e,
        ));
    }

    let usage = |cache: CacheStatus| {
        let (load_ms, wall_ms) = match ready {
            Some((at, _)) => (
                (at - started).as_secs_f64() * 1000.0,
                at.elapsed().as_secs_f64() * 1000.0,
            ),
            None => (started.elapsed().as_secs_f64() * 1000.0, 0.0),
        };
        Usage {
            cache,
            load_ms,
            wall_ms,
            cpu_points: 0,
            memory_bytes: 0,
            disk_bytes: 0,
            network_bytes: 0,
        }
    };
    let cache = ready.map_or(CacheStatus::Compiled, |r| r.1);
    match response {
        Some(Ok(Response::Ok(o))) => {
            return Ok(RunOutcome {
                status: match o.status {
                    WireStatus::Success => RunStatus::Success,
                    WireStatus::Exit(c) => RunStatus::Exit(c),
                    WireStatus::Trap(m) => RunStatus::Trap(m),
                    WireStatus::Limit(kind, message) => RunStatus::Limit { kind, message },
                },
                stdout: o.stdout,
                stderr: o.stderr,
                denials: o.denials,
                trap: o.trap,
                usage: Usage {
                    cache,
                    load_ms: o.load_ms,
                    wall_ms: o.wall_ms,
                    cpu_points: o.cpu_points,
                    memory_bytes: o.memory_bytes,
                    disk_bytes: o.disk_bytes,
                    network_bytes: o.network_bytes,
                },
            });
        }
        Some(Ok(Response::Err(e))) => {
            return Err(match e {
                WireError::Compile(m) => RunError::Compile(m),
                WireError::Import(m) => RunError::Import(m),
                WireError::Instantiate(m) => RunError::Instantiate(m),
                WireError::Mount(m) => RunError::Mount(m),
                WireError::Io(m) => {
                    RunError::Io("in the sandbox worker".into(), io::Error::other(m))
                }
            });
        }
        Some(Err(e)) => {
            return Err(RunError::Io(
                "reading the sandbox worker's answer".into(),
                io::Error::other(e),
            ));
        }
        None => {}
    }
    let status = stopped_status(
        &limits,
        js,
        timed_out,
        ready.is_some(),
        exit,
        &worker_stderr,
    )?;
    Ok(RunOutcome {
        status,
        stdout: Vec::new(),
        stderr: Vec::new(),
        denials: Vec::new(),
        trap: None,
        usage: usage(cache),
    })
}

/// The worker argument that names the compiled-module cache to load the JavaScript engine from
/// before the request arrives (workers started ahead, see [`worker_main`]).
pub const PRELOAD_JS_ARG: &str = "--preload-js";

/// Requests up to this size are written to the worker's stdin by the run's own thread: a
/// fresh pipe holds at least this much (16 KiB on macOS, 64 KiB on Linux) without blocking.
const DIRECT_WRITE: usize = 16 << 10;

/// The longest answer line the parent reads: stdout and stderr (each at most the output cap) in
/// base64, with room for the refusals and figures.
fn answer_cap(limits: &Limits) -> usize {
    let output = usize::try_from(limits.max_output.0).unwrap_or(usize::MAX / 4);
    output.saturating_mul(3).saturating_add(16 << 20)
}

/// The worker's stdout, read line by line until a deadline. On Unix the run's own thread waits
/// for it (`poll`), with no reader thread to hand each line over; elsewhere a thread reads it.
mod lines {
    use std::process::ChildStdout;
    use std::time::Instant;

    /// What [`Lines::next`] found.
    pub(super) enum Next {
        /// A whole line, with its newline.
        Line(Vec<u8>),
        /// The line grew past the cap.
        TooLong,
        /// End of output (or a read error): the worker is done writing.
        End,
        /// The deadline passed first.
        Timeout,
    }

    #[cfg(unix)]
    pub(super) struct Lines {
        out: Option<ChildStdout>,
        buf: Vec<u8>,
        /// How much of `buf` is known to hold no newline.
        scanned: usize,
        cap: usize,
    }

    #[cfg(unix)]
    impl Lines {
        pub(super) fn new(out: Option<ChildStdout>, cap: usize) -> Lines {
            Lines {
                out,
                buf: Vec::new(),
                scanned: 0,
                cap,
            }
        }

        pub(super) fn next(&mut self, deadline: Instant) -> Next {
            use std::io::Read;
            use std::os::fd::AsRawFd;
            loop {
                if let Some(i) = self.buf[self.scanned..].iter().position(|b| *b == b'\n') {
                    let rest = self.buf.split_off(self.scanned + i + 1);
                    self.scanned = 0;
                    return Next::Line(std::mem::replace(&mut self.buf, rest));
                }
                self.scanned = self.buf.len();
                if self.buf.len() > self.cap {
                    return Next::TooLong;
                }
                let Some(out) = self.out.as_mut() else {
                    return Next::End;
                };
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Next::Timeout;
                }
                let mut p = libc::pollfd {
                    fd: out.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // Rounded up, so that the deadline has passed when poll times out.
                let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
                // SAFETY: poll reads and writes the one pollfd this function owns.
                let r = unsafe { libc::poll(&mut p, 1, ms) };
                if r < 0 {
                    if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    self.out = None;
                    continue;
                }
                if r == 0 {
                    continue;
                }
                let at = self.buf.len();
                self.buf.resize(at + (64 << 10), 0);
                match out.read(&mut self.buf[at..]) {
                    Ok(0) => {
                        self.buf.truncate(at);
                        self.out = None;
                    }
                    Ok(n) => self.buf.truncate(at + n),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => self.buf.truncate(at),
                    Err(_) => {
                        self.buf.truncate(at);
                        self.out = None;
                    }
                }
            }
        }
    }

    #[cfg(not(unix))]
    pub(super) struct Lines {
        lines: std::sync::mpsc::Receiver<Next>,
    }

    #[cfg(not(unix))]
    impl Lines {
        pub(super) fn new(out: Option<ChildStdout>, cap: usize) -> Lines {
            use std::io::{BufRead, BufReader, Read};
            let (tx, lines) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                if let Some(out) = out {
                    let mut r = BufReader::new(out);
                    loop {
                        let mut line = Vec::new();
                        match (&mut r).take(cap as u64 + 1).read_until(b'\n', &mut line) {
                            Ok(0) | Err(_) => break,
                            Ok(_) if line.last() != Some(&b'\n') && line.len() > cap => {
                                let _ = tx.send(Next::TooLong);
                                return;
                            }
                            Ok(_) => {
                                if tx.send(Next::Line(line)).is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }
                let _ = tx.send(Next::End);
            });
            Lines { lines }
        }

        pub(super) fn next(&mut self, deadline: Instant) -> Next {
            use std::sync::mpsc::RecvTimeoutError;
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(n) => n,
                Err(RecvTimeoutError::Timeout) => Next::Timeout,
                Err(RecvTimeoutError::Disconnected) => Next::End,
            }
        }
    }
}

/// Starts a worker: `iso`'s program in its own process group, its three streams piped. It
/// waits for its request on stdin (and ends at end of input, so a spare whose parent is gone
/// does not stay); with `preload_js`, it loads the cached JavaScript engine from that cache
/// first.
fn spawn_worker(iso: &Isolation, preload_js: Option<&std::path::Path>) -> io::Result<Child> {
    let mut cmd = Command::new(&iso.program);
    cmd.args(&iso.args);
    if let Some(dir) = preload_js {
        cmd.arg(PRELOAD_JS_ARG).arg(dir);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    cmd.spawn()
}

/// A worker started ahead of its run, idle on its stdin (`task-abi.md` §10): taking it saves
/// a run the exec and start-up of the `ratchet` binary. Only the thread that started it takes
/// it (the worker's `PR_SET_PDEATHSIG` follows that thread); dropped unused, it is killed.
pub(crate) struct Spare {
    child: Option<Child>,
    thread: std::thread::ThreadId,
}

impl Spare {
    /// Starts a spare worker, which loads the cached JavaScript engine from `cache_dir` (when
    /// it is cached there) while it waits; `None` when it cannot be started (the run then
    /// starts its own and reports the error).
    pub(crate) fn start(iso: &Isolation, cache_dir: Option<&std::path::Path>) -> Option<Spare> {
        Some(Spare {
            child: Some(spawn_worker(iso, cache_dir).ok()?),
            thread: std::thread::current().id(),
        })
    }

    /// The worker, when it is still waiting and this is the thread that started it.
    pub(crate) fn take(mut self) -> Option<Child> {
        if self.thread != std::thread::current().id() {
            return None;
        }
        let mut child = self.child.take()?;
        match child.try_wait() {
            Ok(None) => Some(child),
            _ => {
                let _ = child.wait();
                None
            }
        }
    }
}

impl Drop for Spare {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&mut child);
            let _ = child.wait();
        }
    }
}

/// Which limit stopped a worker that gave no answer (`task-abi.md` §10), or why it failed.
fn stopped_status(
    limits: &Limits,
    js: bool,
    timed_out: bool,
    ready: bool,
    exit: Option<std::process::ExitStatus>,
    worker_stderr: &[u8],
) -> Result<RunStatus, RunError> {
    let limit = |kind: LimitKind, detail: String| RunStatus::Limit {
        kind,
        message: format!("{kind} exceeded: {detail}"),
    };
    if timed_out {
        return Ok(if ready {
            limit(
                LimitKind::WallTime,
                format!(
                    "the task was still running after {} (it and every process it started were killed)",
                    limits.wall_time
                ),
            )
        } else {
            let budget = compile_cpu(limits, js) * 2 + Duration::from_secs(10);
            limit(
                LimitKind::WallTime,
                format!(
                    "compiling or loading the module took longer than {} (killed)",
                    Millis(budget.as_millis() as u64)
                ),
            )
        });
    }
    let text = String::from_utf8_lossy(worker_stderr);
    let signal = exit.and_then(|s| {
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            s.signal()
        }
        #[cfg(not(unix))]
        {
            let _ = s;
            None::<i32>
        }
    });
    if text.contains("memory allocation of") {
        return Ok(if ready {
            limit(
                LimitKind::Memory,
                format!(
                    "the task's run needed more memory than {} allows (the worker's memory limit stopped it)",
                    limits.max_memory
                ),
            )
        } else {
            limit(
                LimitKind::Memory,
                format!(
                    "compiling the module needed more than {}",
                    ByteSize(compile_memory(limits, js))
                ),
            )
        });
    }
    #[cfg(unix)]
    if let Some(sig) = signal
        && (sig == libc::SIGPROF || sig == libc::SIGXCPU || sig == libc::SIGKILL)
    {
        return Ok(if ready {
            limit(
                LimitKind::CpuTime,
                format!(
                    "the task used more than {} of CPU time (stopped by the operating system)",
                    limits.max_cpu_time
                ),
            )
        } else {
            limit(
                LimitKind::CpuTime,
                format!(
                    "compiling the module used more than its CPU budget of {}",
                    Millis(compile_cpu(limits, js).as_millis() as u64)
                ),
            )
        });
    }
    #[cfg(not(unix))]
    let _ = signal;
    let how = match exit {
        Some(s) => describe_exit(s),
        None => "no exit status".to_string(),
    };
    let tail = crate::last_lines(&text, 5, "; ");
    let detail = if tail.is_empty() {
        format!("the sandbox worker ended without an answer ({how})")
    } else {
        format!("the sandbox worker ended without an answer ({how}): {tail}")
    };
    if ready {
        Ok(RunStatus::Trap(detail))
    } else {
        Err(RunError::Compile(detail))
    }
}

/// How a worker ended, for an error message: `killed by signal N` or `exit status N`.
fn describe_exit(s: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = s.signal() {
            return format!("killed by signal {sig}");
        }
    }
    match s.code() {
        Some(code) => format!("exit status {code}"),
        None => "no exit status".to_string(),
    }
}

/// How long the parent waits, after killing what the run started, for the worker's supervisor
/// to have reaped all of it and exited: longer than the supervisor's own sweep, so that a
/// supervisor that finishes it is never cut short. Normally this takes as long as the kernel
/// takes to tear the killed processes down.
#[cfg(target_os = "linux")]
const SETTLE_LIMIT: Duration = Duration::from_millis(2_500);
#[cfg(not(target_os = "linux"))]
const SETTLE_LIMIT: Duration = Duration::ZERO;

/// How long, after [`SETTLE_LIMIT`] ran out and the worker's group was killed, processes
/// that already had a pending `SIGKILL` are given to end before they are reported.
const SURVIVOR_GRACE: Duration = Duration::from_millis(500);

/// Ends a run's worker (`task-abi.md` §10) and returns once nothing the run started is alive:
/// kills every live descendant of the worker (also those that left its process group), waits
/// (bounded by [`SETTLE_LIMIT`]) for the supervisor to reap them and exit, kills the group and
/// reaps the worker. Returns the worker's exit status and the processes that were killed but
/// are still running after that (normally none: only a process stuck in the kernel).
fn end_worker(child: &mut Child) -> (Option<std::process::ExitStatus>, Vec<u32>) {
    let killed = reaper::kill_descendants(child.id(), false);
    // The supervisor reaps what was just killed and exits by itself, so that no zombie is left
    // to init; waiting costs what the kernel takes to tear the task process down.
    let ended = reaper::wait_ended(child.id(), SETTLE_LIMIT);
    // The worker is not reaped yet, so its process-group id cannot have been reused.
    kill_group(child);
    let exit = child.wait().ok();
    let grace = if ended {
        Duration::ZERO
    } else {
        SURVIVOR_GRACE
    };
    (exit, reaper::survivors(&killed, grace))
}

/// Writes a request to a worker's stdin. `SIGPIPE` is blocked on this thread meanwhile (and a
/// pending one taken), so that a worker that has ended makes the write fail with `EPIPE`
/// instead of ending this process, whose `SIGPIPE` keeps its default action.
#[cfg(unix)]
fn write_request(s: &mut impl Write, body: &[u8]) -> io::Result<()> {
    // SAFETY: sigset_t values owned here, initialised by sigemptyset/sigprocmask before use;
    // pthread_sigmask changes this thread's mask only and is restored below; sigwait is only
    // called when SIGPIPE is pending (and blocked), so it returns at once.
    unsafe {
        let mut pipe: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut pipe);
        libc::sigaddset(&mut pipe, libc::SIGPIPE);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old);
        let r = s.write_all(body).and_then(|()| s.flush());
        if r.as_ref()
            .is_err_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            && libc::sigismember(&old, libc::SIGPIPE) == 0
        {
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut pending);
            if libc::sigpending(&mut pending) == 0
                && libc::sigismember(&pending, libc::SIGPIPE) == 1
            {
                let mut sig = 0;
                libc::sigwait(&pipe, &mut sig);
            }
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        r
    }
}

#[cfg(not(unix))]
fn write_request(s: &mut impl Write, body: &[u8]) -> io::Result<()> {
    s.write_all(body).and_then(|()| s.flush())
}

/// Kills the worker and every process in its group. The worker is not reaped yet, so its
/// process-group id cannot have been reused.
fn kill_group(child: &mut Child) {
    #[cfg(unix)]
    {
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: kill(2) with a negative pid signals the process group; no memory is
            // involved.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
    let _ = child.kill();
}

/// Killing every process a run started (`task-abi.md` §10), also those that left the worker's
/// process group with `setsid` or `setpgid`: the worker is a child subreaper, so orphans of its
/// descendants are re-parented to it rather than to init, and stay findable by walking
/// `/proc/<pid>/task/*/children` down from it.
#[cfg(target_os = "linux")]
pub(crate) mod reaper {
    use std::io;
    use std::time::{Duration, Instant};

    /// How long a sweep keeps killing (a fork bomb keeps making new processes; each round
    /// kills what it finds, and `RLIMIT_CPU` bounds the rest).
    const SWEEP_LIMIT: Duration = Duration::from_secs(2);

    /// Makes this process a child subreaper and forks: returns `Ok` in the child, which runs
    /// the task; the parent (the supervisor, the process the run's parent started) waits for
    /// it, reaping every orphan re-parented to it meanwhile, then kills and reaps every
    /// descendant left and exits the way the task process did (same exit code or signal), so
    /// the run's parent reads the task's fate from the worker's. It never returns. Call it
    /// while the process has one thread.
    pub(crate) fn split() -> io::Result<()> {
        // SAFETY: prctl(PR_SET_CHILD_SUBREAPER), getpid and fork take no pointers; the process
        // is single-threaded here (the worker has not started a thread), so the child may run
        // any code.
        unsafe {
            if libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            let supervisor = libc::getpid();
            match libc::fork() {
                -1 => Err(io::Error::last_os_error()),
                0 => {
                    // The task dies with its supervisor.
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    if libc::getppid() != supervisor {
                        libc::_exit(1);
                    }
                    Ok(())
                }
                task => supervise(task),
            }
        }
    }

    fn supervise(task: libc::pid_t) -> ! {
        // SAFETY: close, waitpid, signal, kill and _exit with plain integers and a status word
        // this function owns.
        unsafe {
            // The run's pipes belong to the task; the supervisor writes nothing.
            libc::close(0);
            libc::close(1);
            let _ = rlimit::Resource::CORE.set(0, 0);
            let mut status = 0;
            loop {
                let mut st = 0;
                let r = libc::waitpid(-1, &mut st, 0);
                if r == task {
                    status = st;
                    break;
                }
                if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                    break;
                }
            }
            kill_descendants(libc::getpid() as u32, true);
            if libc::WIFSIGNALED(status) {
                let sig = libc::WTERMSIG(status);
                libc::signal(sig, libc::SIG_DFL);
                libc::kill(libc::getpid(), sig);
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                1
            };
            libc::_exit(code)
        }
    }

    /// Kills (`SIGKILL`) every live descendant of `root`, round after round until a round finds
    /// none it has not killed already (a process with a pending `SIGKILL` never runs again, so
    /// it cannot fork; one forked before its parent got the signal is found in the next round),
    /// or [`SWEEP_LIMIT`] has passed. With `reap` (`root` is this process, a subreaper), it also
    /// reaps its children, and goes on until it has none. Returns what it killed, as
    /// `(pid, start time)` (see [`survivors`]).
    pub(crate) fn kill_descendants(root: u32, reap: bool) -> Vec<(u32, u64)> {
        let until = Instant::now() + SWEEP_LIMIT;
        let mut killed: Vec<(u32, u64)> = Vec::new();
        loop {
            let mut found_new = false;
            for (pid, start) in live_descendants(root) {
                if !killed.iter().any(|k| k.0 == pid) {
                    found_new = true;
                    killed.push((pid, start));
                    // SAFETY: kill(2) with a positive pid; no memory involved.
                    unsafe {
                        libc::kill(pid as libc::pid_t, libc::SIGKILL);
                    }
                }
            }
            let mut children_left = false;
            if reap {
                loop {
                    let mut st = 0;
                    // SAFETY: waitpid writes the status word this function owns.
                    let r = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
                    if r <= 0 {
                        children_left = r == 0;
                        break;
                    }
                }
            }
            if (!found_new && !children_left) || Instant::now() >= until {
                return killed;
            }
            if !found_new {
                // Killed children are on their way to being zombies.
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }

    /// Waits until process `pid` (a child of this process, not reaped yet) has ended, at most
    /// `timeout`; false when it has not. Without `pidfd_open` (Linux < 5.3) its state is polled
    /// every millisecond instead.
    pub(crate) fn wait_ended(pid: u32, timeout: Duration) -> bool {
        // SAFETY: pidfd_open takes a pid and flags; the descriptor it returns is owned here and
        // closed below; poll reads one pollfd this function owns.
        unsafe {
            let fd = libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) as libc::c_int;
            if fd >= 0 {
                let mut p = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                let until = Instant::now() + timeout;
                let r = loop {
                    let left = until.saturating_duration_since(Instant::now());
                    let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int;
                    let r = libc::poll(&mut p, 1, ms);
                    if r < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    break r;
                };
                libc::close(fd);
                return r == 1;
            }
        }
        let until = Instant::now() + timeout;
        loop {
            if !state(pid).is_some_and(|s| s != 'Z' && s != 'X') {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The processes of `killed` (as [`kill_descendants`] returns them) still running, waiting
    /// at most `grace` for them to end; the start time tells a reused pid from the process.
    pub(crate) fn survivors(killed: &[(u32, u64)], grace: Duration) -> Vec<u32> {
        let until = Instant::now() + grace;
        loop {
            let left: Vec<u32> = killed
                .iter()
                .filter(|(pid, start)| {
                    stat_fields(*pid).is_some_and(|f| f.0 != 'Z' && f.0 != 'X' && f.2 == *start)
                })
                .map(|k| k.0)
                .collect();
            if left.is_empty() || Instant::now() >= until {
                return left;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The descendants of `root` that have not ended, with their start times (zombies are left
    /// out: they are over, and their children were re-parented already).
    fn live_descendants(root: u32) -> Vec<(u32, u64)> {
        let mut live = Vec::new();
        if !state(root).is_some_and(|s| s != 'Z' && s != 'X') {
            // Ended: whatever it had was re-parented (to it no more) or swept by it.
            return live;
        }
        let mut queue = vec![root];
        let by_parent = if has_children_files() {
            None
        } else {
            Some(parents())
        };
        while let Some(pid) = queue.pop() {
            let children = match &by_parent {
                None => children(pid),
                Some(all) => all
                    .iter()
                    .filter(|(_, ppid)| *ppid == pid)
                    .map(|(p, _)| *p)
                    .collect(),
            };
            for child in children {
                if child == root || live.iter().any(|l| l.0 == child) {
                    continue;
                }
                if let Some((s, _, start)) = stat_fields(child)
                    && s != 'Z'
                    && s != 'X'
                {
                    live.push((child, start));
                    queue.push(child);
                }
            }
        }
        live
    }

    /// Whether the kernel lists children (`CONFIG_PROC_CHILDREN`), checked once.
    fn has_children_files() -> bool {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| std::path::Path::new("/proc/thread-self/children").exists())
    }

    /// The children of `pid`, from every thread's `children` file.
    fn children(pid: u32) -> Vec<u32> {
        let mut out = Vec::new();
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return out;
        };
        for t in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(
                    text.split_whitespace()
                        .filter_map(|w| w.parse::<u32>().ok()),
                );
            }
        }
        out
    }

    /// `(pid, parent pid)` of every process (the fallback when there are no `children` files).
    fn parents() -> Vec<(u32, u32)> {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(|pid| Some((pid, stat_fields(pid)?.1)))
            .collect()
    }

    /// A process's state letter, `None` when it is gone.
    fn state(pid: u32) -> Option<char> {
        stat_fields(pid).map(|f| f.0)
    }

    /// State, parent pid and start time (clock ticks after boot) from `/proc/<pid>/stat` (the
    /// command name, which may hold spaces and parentheses, ends at the last `)`).
    fn stat_fields(pid: u32) -> Option<(char, u32, u64)> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let (_, rest) = stat.rsplit_once(')')?;
        let mut words = rest.split_whitespace();
        let state = words.next()?.chars().next()?;
        let ppid = words.next()?.parse().ok()?;
        // Fields 5 to 21 of stat(5), then `starttime`.
        let start = words.nth(17)?.parse().ok()?;
        Some((state, ppid, start))
    }
}

/// Elsewhere a run's processes are those of the worker's process group (`task-abi.md` §10).
#[cfg(not(target_os = "linux"))]
pub(crate) mod reaper {
    pub(crate) fn split() -> std::io::Result<()> {
        Ok(())
    }

    pub(crate) fn kill_descendants(_: u32, _: bool) -> Vec<(u32, u64)> {
        Vec::new()
    }

    pub(crate) fn wait_ended(_: u32, _: std::time::Duration) -> bool {
        false
    }

    pub(crate) fn survivors(_: &[(u32, u64)], _: std::time::Duration) -> Vec<u32> {
        Vec::new()
    }
}

/// The OS limits a worker sets on itself.
#[cfg(unix)]
mod os {
    use super::*;
    use rlimit::Resource;

    /// Sets a limit, never above the current hard limit (which cannot be raised).
    fn set(res: Resource, soft: u64, hard: u64) -> io::Result<()> {
        let (_, cur_hard) = res.get()?;
        let hard = hard.min(cur_hard);
        res.set(soft.min(hard), hard)
    }

    /// CPU time this process has used (all threads).
    pub(super) fn cpu_used() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes the timespec we own.
        unsafe {
            libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts);
        }
        Duration::new(
            ts.tv_sec.max(0) as u64,
            ts.tv_nsec.clamp(0, 999_999_999) as u32,
        )
    }

    /// Arms `ITIMER_PROF` to fire (and end the process: `SIGPROF`'s default action) after `d`
    /// more CPU time.
    fn set_cpu_timer(d: Duration) -> io::Result<()> {
        let d = d.max(Duration::from_micros(1));
        let v = libc::itimerval {
            it_interval: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            it_value: libc::timeval {
                tv_sec: d.as_secs().min(i32::MAX as u64) as libc::time_t,
                tv_usec: d.subsec_micros() as libc::suseconds_t,
            },
        };
        // SAFETY: setitimer reads the itimerval we own; no old value is requested.
        let r = unsafe { libc::setitimer(libc::ITIMER_PROF, &v, std::ptr::null_mut()) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    fn whole_secs(d: Duration) -> u64 {
        d.as_secs() + u64::from(d.subsec_nanos() > 0)
    }

    /// Private writable memory mapped now (`VmData`), where the OS tells.
    fn data_mapped() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmData:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    /// Asks the kernel to kill this process when the thread that started it ends (Linux), so
    /// an interrupted `ratchet` (Ctrl-C reaches only the foreground process group) leaves no
    /// worker running; false when `parent` has already gone.
    pub(super) fn die_with_parent(parent: u32) -> bool {
        #[cfg(target_os = "linux")]
        // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag of this process.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        }
        // SAFETY: getppid has no arguments and cannot fail.
        let ppid = unsafe { libc::getppid() };
        u32::try_from(ppid).is_ok_and(|p| p == parent)
    }

    /// Limits while compiling or loading the module.
    pub(super) fn compile_limits(
        compile_cpu: Duration,
        run_cpu: Duration,
        memory: u64,
    ) -> io::Result<()> {
        // SAFETY: setting a signal to be ignored; no handler runs.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        }
        set(Resource::NOFILE, MAX_OPEN_FILES, MAX_OPEN_FILES)?;
        set(Resource::CORE, 0, 0)?;
        set(Resource::FSIZE, COMPILE_MAX_FILE, u64::MAX)?;
        let used = cpu_used();
        let soft = whole_secs(used + compile_cpu) + 1;
        let hard = whole_secs(used + compile_cpu + run_cpu) + 3;
        set(Resource::CPU, soft, hard)?;
        set(Resource::DATA, memory, u64::MAX)?;
        set_cpu_timer(compile_cpu)
    }

    /// Limits while the task runs.
    pub(super) fn run_limits(limits: &Limits) -> io::Result<()> {
        let run = run_cpu(limits);
        let soft = whole_secs(cpu_used() + run) + 1;
        set(Resource::CPU, soft, soft + 1)?;
        let data = data_mapped()
            .unwrap_or(0)
            .saturating_add(limits.max_memory.0)
            .saturating_add(RUN_MEMORY_OVERHEAD)
            .saturating_add(limits.max_output.0.saturating_mul(2))
            .saturating_add(limits.max_network_bandwidth.0);
        set(Resource::DATA, data, data)?;
        set(Resource::FSIZE, limits.max_disk.0, limits.max_disk.0)?;
        set_cpu_timer(run)
    }
}

/// No OS limits where there is no `setrlimit` (`task-abi.md` §10, Windows).
#[cfg(not(unix))]
mod os {
    use super::*;

    pub(super) fn die_with_parent(_: u32) -> bool {
        true
    }

    pub(super) fn cpu_used() -> Duration {
        Duration::ZERO
    }

    pub(super) fn compile_limits(_: Duration, _: Duration, _: u64) -> io::Result<()> {
        Ok(())
    }

    pub(super) fn run_limits(_: &Limits) -> io::Result<()> {
        Ok(())
    }
}

/// Defence in depth on Linux (`task-abi.md` §10): Landlock confines the worker's file-system
/// access to the run's own directories, seccomp refuses sockets to a task that may not use the
/// network and a few kernel interfaces no task needs. Both are applied in the worker once the
/// module is loaded, and inherited by the commands it starts.
#[cfg(target_os = "linux")]
mod layers {
    use super::*;
    use landlock::{
        ABI, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr, path_beneath_rules,
    };
    use std::collections::BTreeMap;

    /// The Landlock ABI this crate asks for (file-system rights up to ioctl on devices).
    const LANDLOCK_ABI: ABI = ABI::V5;

    /// System calls refused to every task (`EPERM`): debugging or reading other processes,
    /// kernel programs and keyrings, page-fault handlers, signals through pidfds.
    const ALWAYS_DENIED: &[i64] = &[
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_keyctl,
        // A `/proc/<pid>` directory is a pidfd too: signals go through `kill` and friends,
        // which refuse the run's supervisor and parent.
        libc::SYS_pidfd_send_signal,
    ];

    /// Applies both layers for `run` (scratch directories under `scratch_root`); `protected`
    /// are processes the task may not signal (its supervisor and the run's parent).
    pub(super) fn apply(run: &TaskRun, scratch_root: &std::path::Path, protected: &[u32]) {
        let p = &run.permissions;
        let wide_read = !p.commands.is_empty() || !p.network.is_closed();
        let _ = landlock(run, scratch_root, wide_read);
        let _ = seccomp(p.commands.is_empty() && p.network.is_closed(), protected);
    }

    /// Rules refusing to signal `protected` processes: `kill` of one of them, of their process
    /// group (the supervisor leads the worker's), of the caller's own group (`0`, the
    /// worker's) and of every process (`-1`); `tkill`/`tgkill` of them; `pidfd_open` of them.
    fn signal_rules(
        protected: &[u32],
    ) -> Result<Vec<(i64, Vec<seccompiler::SeccompRule>)>, seccompiler::Error> {
        use seccompiler::{
            SeccompCmpArgLen as Len, SeccompCmpOp as Op, SeccompCondition, SeccompRule,
        };
        let arg0 = |v: u32| -> Result<SeccompRule, seccompiler::Error> {
            Ok(SeccompRule::new(vec![SeccompCondition::new(
                0,
                Len::Dword,
                Op::Eq,
                u64::from(v),
            )?])?)
        };
        let mut kill = vec![arg0(0)?, arg0(u32::MAX)?];
        let mut direct = Vec::new();
        for &pid in protected.iter().filter(|p| **p > 1) {
            kill.push(arg0(pid)?);
            kill.push(arg0((pid as i32).wrapping_neg() as u32)?);
            direct.push(arg0(pid)?);
        }
        Ok(vec![
            (libc::SYS_kill, kill),
            (libc::SYS_tkill, direct.clone()),
            (libc::SYS_tgkill, direct.clone()),
            (libc::SYS_pidfd_open, direct),
        ])
    }

    fn landlock(
        run: &TaskRun,
        scratch_root: &std::path::Path,
        wide_read: bool,
    ) -> Result<(), landlock::RulesetError> {
        let p = &run.permissions;
        let read = AccessFs::from_read(LANDLOCK_ABI);
        let all = AccessFs::from_all(LANDLOCK_ABI);
        let mut read_dirs: Vec<PathBuf> = run.mounts.iter().map(|m| m.host.clone()).collect();
        let mut write_dirs = vec![scratch_root.to_path_buf()];
        for (guest, host) in &p.mounts {
            if p.fs_write.contains(guest) {
                write_dirs.push(host.clone());
            } else {
                read_dirs.push(host.clone());
            }
        }
        if wide_read {
            // Commands need their programs and libraries, fetches the resolver's files: read
            // and execute stay allowed everywhere, writes stay confined.
            read_dirs.push(PathBuf::from("/"));
            write_dirs.push(PathBuf::from("/dev/null"));
        }
        Ruleset::default()
            .handle_access(all)?
            .create()?
            .add_rules(path_beneath_rules(&read_dirs, read))?
            .add_rules(path_beneath_rules(&write_dirs, all))?
            .restrict_self()?;
        Ok(())
    }

    fn seccomp(deny_sockets: bool, protected: &[u32]) -> Result<(), seccompiler::Error> {
        let mut rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> =
            ALWAYS_DENIED.iter().map(|n| (*n, Vec::new())).collect();
        for (nr, list) in signal_rules(protected)? {
            if !list.is_empty() {
                rules.insert(nr, list);
            }
        }
        if deny_sockets {
            rules.insert(libc::SYS_socket, Vec::new());
        }
        let arch = std::env::consts::ARCH.try_into()?;
        let filter = seccompiler::SeccompFilter::new(
            rules,
            seccompiler::SeccompAction::Allow,
            seccompiler::SeccompAction::Errno(libc::EPERM as u32),
            arch,
        )?;
        let program: seccompiler::BpfProgram = filter.try_into()?;
        seccompiler::apply_filter(&program)
    }

    /// What this system offers, for `ratchet run --explain`.
    pub(super) fn describe() -> Vec<(&'static str, String)> {
        // SAFETY: landlock_create_ruleset with a null attribute and the VERSION flag only
        // returns the ABI version (or -1); prctl(PR_GET_SECCOMP) only reads the mode.
        let abi = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                std::ptr::null::<u8>(),
                0usize,
                1u32,
            )
        };
        let seccomp = unsafe { libc::prctl(libc::PR_GET_SECCOMP) };
        let landlock = if abi > 0 {
            format!(
                "active (kernel ABI {abi}): the worker may write only its scratch directories and writable mounts, and read only its mounts (everywhere when commands or network are declared)"
            )
        } else {
            "not available on this kernel (no file-system confinement beyond the sandbox's own checks)".to_string()
        };
        let seccomp = if seccomp >= 0
            && seccompiler::TargetArch::try_from(std::env::consts::ARCH).is_ok()
        {
            "active: sockets refused unless network or commands are declared; ptrace, process_vm_*, bpf, perf_event_open, userfaultfd, keyrings and pidfd signals refused; the worker's supervisor and parent cannot be signalled".to_string()
        } else {
            "not available here".to_string()
        };
        vec![("landlock", landlock), ("seccomp", seccomp)]
    }
}

#[cfg(not(target_os = "linux"))]
mod layers {
    use super::*;

    pub(super) fn apply(_: &TaskRun, _: &std::path::Path, _: &[u32]) {}

    pub(super) fn describe() -> Vec<(&'static str, String)> {
        vec![
            ("landlock", "not available (Linux only)".to_string()),
            ("seccomp", "not available (Linux only)".to_string()),
        ]
    }
}

/// How runs are isolated on this system, one `name: what` line each (for
/// `ratchet run --explain`): the worker, its OS limits and the defence-in-depth layers the
/// kernel offers (detected now).
pub fn describe_isolation() -> String {
    let mut out = String::new();
    let worker = if cfg!(unix) {
        if cfg!(target_os = "linux") {
            "a worker process in its own process group, a subreaper that kills every process the task started when it ends (also those that left the group with setsid); at the deadline all of them are killed; OS limits: CPU timer, RLIMIT_CPU, RLIMIT_DATA, RLIMIT_FSIZE, RLIMIT_NOFILE"
        } else {
            "a worker process in its own process group, killed with everything it started at the deadline (a process that leaves the group with setsid escapes); OS limits: CPU timer, RLIMIT_CPU, RLIMIT_DATA, RLIMIT_FSIZE, RLIMIT_NOFILE"
        }
    } else {
        "a worker process, terminated at the deadline (no OS limits on this platform)"
    };
    out.push_str(&format!("  isolation:    {worker}\n"));
    for (name, what) in layers::describe() {
        out.push_str(&format!("  {:<13} {what}\n", format!("{name}:")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(module_len: u64, stdin_len: u64) -> Request {
        Request {
            name: "t".into(),
            module_len,
            js: false,
            args: vec!["a".into()],
            stdin_len,
            mounts: Vec::new(),
            permissions: Effective::pure(Limits::default()),
            fetch_mock: None,
            cache_dir: None,
            scratch_root: PathBuf::from("/tmp"),
            parent: 1,
        }
    }

    #[test]
    fn a_request_round_trips_with_raw_bytes() {
        let module = b"\0asm\x01\0\0\0\n\n".to_vec();
        let stdin = b"{\"a\": \"\\n\"}\n".to_vec();
        let body = encode_request(
            &request(module.len() as u64, stdin.len() as u64),
            &module,
            &stdin,
        )
        .unwrap();
        let got = read_request(&body[..]).unwrap();
        assert_eq!(got.module, module);
        assert_eq!(got.stdin, stdin);
        assert_eq!(got.req.args, vec!["a".to_string()]);
    }

    #[test]
    fn declared_lengths_are_checked_before_reading() {
        // A header declaring more than the limits, with no bytes behind it: refused by its
        // length, not by running out of input (nothing of that size is allocated).
        let body = encode_request(&request(crate::MAX_MODULE_SIZE + 1, 0), &[], &[]).unwrap();
        let e = read_request(&body[..]).err().unwrap();
        assert!(
            e.contains("module") && e.contains("larger than the limit"),
            "{e}"
        );
        let body = encode_request(&request(0, MAX_REQUEST_STDIN + 1), &[], &[]).unwrap();
        let e = read_request(&body[..]).err().unwrap();
        assert!(
            e.contains("input") && e.contains("larger than the limit"),
            "{e}"
        );
        // Fewer bytes than declared, and no end of header.
        let body = encode_request(&request(10, 0), b"abc", &[]).unwrap();
        let e = read_request(&body[..]).err().unwrap();
        assert!(e.contains("reading its module"), "{e}");
        let e = read_request(&b"{\"name\": "[..]).err().unwrap();
        assert!(e.contains("ended before its header"), "{e}");
    }

    #[test]
    fn lines_are_split_across_reads_and_capped() {
        let (mut child, mut lines) = {
            let mut c = Command::new("sh")
                .args([
                    "-c",
                    "printf 'ready hit\\n{\"x\": 1}'; sleep 0.05; printf '\\nrest'",
                ])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let out = c.stdout.take();
            (c, lines::Lines::new(out, 1 << 20))
        };
        let until = Instant::now() + Duration::from_secs(10);
        assert!(matches!(lines.next(until), lines::Next::Line(l) if l == b"ready hit\n"));
        assert!(matches!(lines.next(until), lines::Next::Line(l) if l == b"{\"x\": 1}\n"));
        // An unterminated tail is not a line.
        assert!(matches!(lines.next(until), lines::Next::End));
        child.wait().unwrap();

        let mut c = Command::new("sh")
            .args(["-c", "head -c 100000 /dev/zero"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = lines::Lines::new(c.stdout.take(), 1000);
        assert!(matches!(lines.next(until), lines::Next::TooLong));
        drop(lines);
        let _ = c.wait();

        let mut c = Command::new("sleep")
            .arg("5")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = lines::Lines::new(c.stdout.take(), 1000);
        let t = Instant::now();
        assert!(matches!(
            lines.next(t + Duration::from_millis(50)),
            lines::Next::Timeout
        ));
        assert!(t.elapsed() >= Duration::from_millis(50));
        let _ = c.kill();
        let _ = c.wait();
    }
}
