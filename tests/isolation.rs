//! Process isolation (`task-abi.md` §10): runs go through a real worker (this build's `ratchet
//! __sandbox-worker`), and what metering cannot stop — code that never calls the host, a
//! compile bomb, a command's forked grandchild, a sparse write — is stopped with the limit named,
//! and no process started by the run outlives it.

mod common;

use common::{c_module, wat_module};
use ratchet_formats::manifest::units::{ByteSize, Millis};
use ratchet_sandbox::isolate::Isolation;
use ratchet_sandbox::{
    Effective, LimitKind, Limits, RunError, RunOutcome, RunStatus, Runtime, TaskRun,
};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn runtime() -> &'static Runtime {
    static RT: OnceLock<(tempfile::TempDir, Runtime)> = OnceLock::new();
    &RT.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let rt = Runtime::new(Some(d.path().join("modules")))
            .isolated(Isolation::new(PathBuf::from(env!("CARGO_BIN_EXE_ratchet"))));
        (d, rt)
    })
    .1
}

fn limits(cpu_ms: u64, wall_ms: u64) -> Limits {
    Limits {
        max_memory: ByteSize(64 << 20),
        max_cpu_time: Millis(cpu_ms),
        wall_time: Millis(wall_ms),
        max_disk: ByteSize(1 << 20),
        max_network_bandwidth: ByteSize(64 << 10),
        max_output: ByteSize(64 << 10),
    }
}

fn run(module: Vec<u8>, args: &[&str], permissions: Effective) -> Result<RunOutcome, RunError> {
    let run = TaskRun {
        name: "isolated".into(),
        module,
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin: b"{\"a\": 1}".to_vec(),
        permissions,
        ..Default::default()
    };
    runtime().run_task_run(&run, false)
}

/// The limit that stopped the run and its message; fails unless it is one of `kinds`.
fn stopped_by(o: &RunOutcome, kinds: &[LimitKind]) -> String {
    match &o.status {
        RunStatus::Limit { kind, message } => {
            assert!(kinds.contains(kind), "stopped by {kind:?}: {message}");
            assert!(message.contains(kind.name()), "{message}");
            message.clone()
        }
        other => panic!("expected a limit among {kinds:?}, got {other:?}"),
    }
}

/// True while process `pid` exists and is not a zombie (a zombie has ended: it only waits to
/// be reaped by whoever inherited it).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Fails if `pid` is still alive. Called as soon as the run returns, with no grace period:
/// the run waits until everything it started has ended (`task-abi.md` §10).
fn assert_dead(pid: u32) {
    assert!(!alive(pid), "process {pid} outlived the run");
}

/// Fails if a process of process group `pgid` is alive (called as soon as the run returns).
fn assert_group_gone(pgid: u32) {
    let mut left = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let group = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(2))
            .and_then(|g| g.parse::<u32>().ok());
        if group == Some(pgid) && alive(pid) {
            left.push(pid);
        }
    }
    assert!(
        left.is_empty(),
        "processes {left:?} of the run's process group {pgid} outlived the run"
    );
}

/// A shell fragment that writes, to `pidfile`, the PID of the last background process, the
/// shell's, its parent's (the worker's task process) and its process group (the worker's).
fn record_pids(pidfile: &Path) -> String {
    format!(
        "echo $! $$ $PPID $(cut -d' ' -f5 /proc/$$/stat) > {}",
        pidfile.display()
    )
}

/// Reads what [`record_pids`] wrote and fails unless every one of those processes and the
/// whole process group have ended.
fn assert_run_left_nothing(pidfile: &Path) {
    let text = std::fs::read_to_string(pidfile).unwrap();
    let ids: Vec<u32> = text
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(ids.len(), 4, "{text}");
    for pid in &ids[..3] {
        assert_dead(*pid);
    }
    assert_group_gone(ids[3]);
}

/// `p` with `sh` declared and `/out` writable, bound to `dir` (where the command records the
/// PID: the worker's Landlock layer lets commands write only there and in scratch directories).
fn with_out_mount(mut p: Effective, dir: &Path) -> Effective {
    p.commands = vec!["sh".into()];
    p.fs_write = vec!["/out".into()];
    p.mounts.insert("/out".into(), dir.to_path_buf());
    p
}

fn read_pid(path: &Path) -> u32 {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.trim().parse().unwrap()
}

#[test]
fn ordinary_runs_come_back_as_in_process() {
    let o = run(
        c_module("probe"),
        &[],
        Effective::pure(limits(2_000, 10_000)),
    )
    .unwrap();
    assert!(o.success(), "{}", o.failure_message());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v, serde_json::json!({"input": {"a": 1}, "args": 1}));
    assert_eq!(String::from_utf8_lossy(&o.stderr), "echo done\n");
    assert!(o.usage.cpu_points > 0 && o.usage.memory_bytes > 0);

    let o = run(
        c_module("probe"),
        &["fail"],
        Effective::pure(limits(2_000, 10_000)),
    )
    .unwrap();
    assert_eq!(o.status, RunStatus::Exit(7));

    // The in-worker limits still report as before.
    let o = run(
        wat_module("bigmem"),
        &[],
        Effective::pure(limits(2_000, 10_000)),
    )
    .unwrap();
    stopped_by(&o, &[LimitKind::Memory]);

    // Setup errors cross the process boundary as errors.
    let e = run(
        b"not wasm".to_vec(),
        &[],
        Effective::pure(limits(2_000, 10_000)),
    )
    .unwrap_err();
    assert!(matches!(e, RunError::Compile(_)), "{e}");
}

#[test]
fn oversized_module_is_refused_before_compiling() {
    let big = vec![0u8; (ratchet_sandbox::MAX_MODULE_SIZE + 1) as usize];
    let e = run(big, &[], Effective::pure(limits(2_000, 10_000))).unwrap_err();
    assert!(e.to_string().contains("larger than the limit"), "{e}");
}

#[test]
fn compute_loop_without_host_calls_is_stopped() {
    let o = run(wat_module("spin"), &[], Effective::pure(limits(300, 600))).unwrap();
    stopped_by(&o, &[LimitKind::CpuTime, LimitKind::WallTime]);
}

#[test]
fn memory_bound_loop_is_stopped_by_the_os_or_the_deadline() {
    // Metering would let this run for many seconds (few points per millisecond); the CPU timer
    // or the parent's kill stops it.
    let o = run(wat_module("chase"), &[], Effective::pure(limits(300, 600))).unwrap();
    let m = stopped_by(&o, &[LimitKind::CpuTime, LimitKind::WallTime]);
    assert!(
        m.contains("operating system") || m.contains("killed"),
        "stopped by the OS limit or the deadline kill, not metering: {m}"
    );
}

/// One function of `n` arithmetic operators: compiling it costs far more than 100 ms of CPU.
fn compile_bomb(n: usize) -> Vec<u8> {
    let mut s = String::from(
        "(module (memory (export \"memory\") 1) (func (export \"_start\") (local i32) (local i64)\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "(local.set 0 (i32.xor (i32.mul (local.get 0) (i32.const {})) (i32.wrap_i64 (local.get 1))))\n(local.set 1 (i64.add (local.get 1) (i64.extend_i32_u (local.get 0))))\n",
            i + 3
        ));
    }
    s.push_str("))\n");
    wat::parse_str(&s).unwrap()
}

#[test]
fn compile_bomb_is_stopped_while_compiling() {
    let module = compile_bomb(150_000);
    let o = run(module, &[], Effective::pure(limits(100, 200))).unwrap();
    let m = stopped_by(&o, &[LimitKind::CpuTime, LimitKind::Memory]);
    assert!(m.contains("compiling"), "{m}");
}

#[test]
fn forked_command_grandchild_is_killed_at_the_deadline() {
    let d = tempfile::tempdir().unwrap();
    let pidfile = d.path().join("pid");
    let p = with_out_mount(Effective::pure(limits(5_000, 1_000)), d.path());
    let script = format!("sleep 45 & {}; echo started", record_pids(&pidfile));
    let o = run(c_module("probe"), &["command2", "sh", "-c", &script], p).unwrap();
    stopped_by(&o, &[LimitKind::WallTime]);
    // At once: the sleep, the shell, the worker's task process and everything in its group.
    assert_run_left_nothing(&pidfile);
}

#[test]
fn background_process_of_a_finished_run_is_killed() {
    let d = tempfile::tempdir().unwrap();
    let pidfile = d.path().join("pid");
    let p = with_out_mount(Effective::pure(limits(5_000, 10_000)), d.path());
    // The grandchild holds none of the command's pipes: the command returns at once and the
    // task succeeds; the sleep must still not outlive the run.
    let script = format!(
        "sleep 45 </dev/null >/dev/null 2>&1 & {}",
        record_pids(&pidfile)
    );
    let o = run(c_module("probe"), &["command2", "sh", "-c", &script], p).unwrap();
    assert!(o.success(), "{}", o.failure_message());
    assert_run_left_nothing(&pidfile);
}

#[test]
fn a_command_that_does_not_read_its_input_does_not_kill_the_worker() {
    // 256 KiB of stdin for a command that exits without reading it: the write fails with
    // EPIPE (the worker ignores SIGPIPE, which `ratchet` otherwise keeps at its default, so it
    // would end the worker without an answer).
    let request = format!(
        r#"{{"program": "sh", "args": ["-c", "exit 0"], "stdin": "{}"}}"#,
        "x".repeat(256 << 10)
    );
    let wat = format!(
        r#"(module
  (import "ratchet" "command" (func $command (param i32 i32) (result i64)))
  (memory (export "memory") 8)
  (data (i32.const 0) "{}")
  (func (export "_start") (drop (call $command (i32.const 0) (i32.const {})))))"#,
        request.replace('"', "\\\""),
        request.len()
    );
    let mut p = Effective::pure(limits(5_000, 10_000));
    p.commands = vec!["sh".into()];
    let o = run(wat.into_bytes(), &[], p).unwrap();
    assert!(o.success(), "{}", o.failure_message());
}

/// A command line that starts `sleep 60` in a new session (`setsid`: out of the worker's
/// process group), recording the sleep's PID in `pidfile`; `double_fork` detaches it the way a
/// daemon does (its parent exits at once, so it is orphaned).
fn session_leaver(pidfile: &Path, double_fork: bool) -> String {
    let inner = format!(
        "setsid sh -c 'echo $$ > {}; exec sleep 60' </dev/null >/dev/null 2>&1 &",
        pidfile.display()
    );
    if double_fork {
        format!("( {inner} ) ;")
    } else {
        inner
    }
}

/// Waits (up to 10 s) for a command to have written its PID file.
fn wait_pid(pidfile: &Path) -> u32 {
    let until = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(pidfile).is_ok_and(|t| t.ends_with('\n'))
        && Instant::now() < until
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    read_pid(pidfile)
}

#[test]
fn processes_that_left_the_process_group_are_killed_at_the_deadline() {
    for double_fork in [false, true] {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("pid");
        let p = with_out_mount(Effective::pure(limits(5_000, 1_000)), d.path());
        // The command itself then waits far past the wall limit.
        let script = format!("{} sleep 30", session_leaver(&pidfile, double_fork));
        let started = Instant::now();
        let o = run(c_module("probe"), &["command2", "sh", "-c", &script], p).unwrap();
        stopped_by(&o, &[LimitKind::WallTime]);
        // Stopped at its wall limit, not when the sleeps end (a behaviour, not a speed target:
        // the bound is far above the 1 s limit).
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
        assert_dead(wait_pid(&pidfile));
    }
}

#[test]
fn processes_that_left_the_process_group_are_killed_after_a_finished_run() {
    for double_fork in [false, true] {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("pid");
        let p = with_out_mount(Effective::pure(limits(5_000, 10_000)), d.path());
        // Wait for the PID file inside the run, so the process exists before the run ends.
        let script = format!(
            "{} while [ ! -s {} ]; do sleep 0.01; done",
            session_leaver(&pidfile, double_fork),
            pidfile.display()
        );
        let o = run(c_module("probe"), &["command2", "sh", "-c", &script], p).unwrap();
        assert!(o.success(), "{}", o.failure_message());
        assert_dead(wait_pid(&pidfile));
    }
}

#[test]
fn processes_that_left_the_process_group_are_killed_when_the_cpu_limit_ends_the_worker() {
    // A task that starts a session leader and then spins: the CPU limit ends the worker's
    // task process with a signal, and its supervisor still kills the leaver.
    let d = tempfile::tempdir().unwrap();
    let pidfile = d.path().join("pid");
    let p = with_out_mount(Effective::pure(limits(300, 20_000)), d.path());
    let script = format!(
        "{} while [ ! -s {} ]; do sleep 0.01; done",
        session_leaver(&pidfile, true),
        pidfile.display()
    );
    let o = run(
        c_module("probe"),
        &["command2-then-spin", "sh", "-c", &script],
        p,
    );
    match o {
        Ok(o) => {
            stopped_by(&o, &[LimitKind::CpuTime, LimitKind::WallTime]);
        }
        Err(e) => panic!("{e}"),
    }
    assert_dead(wait_pid(&pidfile));
}

#[test]
fn a_command_cannot_kill_the_supervisor_to_orphan_what_it_started() {
    if !ratchet_sandbox::isolate::describe_isolation().contains("seccomp:      active") {
        eprintln!("seccomp: not available here, nothing to check");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let pidfile = d.path().join("pid");
    let p = with_out_mount(Effective::pure(limits(5_000, 10_000)), d.path());
    // sh's parent is the task process; its parent is the supervisor. Killing it (or the
    // worker's process group) would re-parent the leaver to init.
    let script = format!(
        "{} while [ ! -s {pid} ]; do sleep 0.01; done; sup=$(cut -d' ' -f4 /proc/$PPID/stat); kill -9 $sup; echo sup=$?; kill -9 0; echo group=$?; {}",
        session_leaver(&pidfile, true),
        // pidfd_send_signal (424 on x86-64) through a /proc/<pid> directory descriptor.
        if cfg!(target_arch = "x86_64") {
            "perl -MFcntl -e 'sysopen(my $f, qq{/proc/$ARGV[0]}, O_RDONLY) or die; print qq{pidfd=}, syscall(424, fileno($f), 9, 0, 0), qq{ }' $sup"
        } else {
            "echo pidfd=-1"
        },
        pid = pidfile.display()
    );
    let o = run(c_module("probe"), &["command2", "sh", "-c", &script], p).unwrap();
    assert!(o.success(), "{}", o.failure_message());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("sup=1") && out.contains("group=1") && out.contains("pidfd=-1"),
        "{out}"
    );
    assert_dead(wait_pid(&pidfile));
}

#[test]
fn sparse_pwrite_is_charged_its_apparent_size() {
    let mut p = Effective::pure(limits(2_000, 10_000));
    p.fs_write = vec!["/out".into()];
    // One byte at 8 TiB under a 1 MiB quota.
    let o = run(
        c_module("probe"),
        &["pwrite", "/out/sparse", "8796093022208"],
        p.clone(),
    )
    .unwrap();
    stopped_by(&o, &[LimitKind::Disk]);
    // A small one passes.
    let o = run(c_module("probe"), &["pwrite", "/out/sparse", "1000"], p).unwrap();
    assert!(o.success(), "{}", o.failure_message());
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"written\": 1"));
}

#[test]
fn commands_cannot_write_outside_the_runs_directories() {
    let isolation = ratchet_sandbox::isolate::describe_isolation();
    if !isolation.contains("landlock:     active") {
        eprintln!("landlock: not available on this kernel, nothing to check:\n{isolation}");
        return;
    }
    let mounted = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let p = with_out_mount(Effective::pure(limits(5_000, 10_000)), mounted.path());
    let script = format!(
        "echo in > {}/ok; echo out > {}/escaped",
        mounted.path().display(),
        outside.path().display()
    );
    let o = run(c_module("probe"), &["command2", "sh", "-c", &script], p).unwrap();
    assert!(o.success(), "{}", o.failure_message());
    assert!(
        mounted.path().join("ok").is_file(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(
        !outside.path().join("escaped").exists(),
        "a command wrote outside the run's directories"
    );
}

#[test]
fn permission_audit_reads_imports_without_compiling() {
    // The audit runs in the parent: it parses the import section and never compiles, so a
    // compile bomb costs it nothing.
    let rt = Runtime::new(None);
    assert_eq!(
        rt.module_imports(&compile_bomb(150_000)).unwrap(),
        Vec::<String>::new()
    );
    let imports = rt.module_imports(&c_module("probe")).unwrap();
    assert!(
        imports.iter().any(|i| i == "ratchet.command"),
        "{imports:?}"
    );
    let e = rt.module_imports(&wat_module("foreign")).unwrap_err();
    assert!(matches!(e, RunError::Import(_)), "{e}");
}

#[test]
fn ratchet_run_stops_a_loop_in_its_worker_and_explains_isolation() {
    let d = tempfile::tempdir().unwrap();
    let task = d.path().join("chase");
    std::fs::create_dir_all(&task).unwrap();
    std::fs::write(task.join("main.wasm"), wat_module("chase")).unwrap();
    std::fs::write(
        task.join("metadata.json"),
        r#"{"version": "1.0.0", "description": "memory-bound loop", "timeout": 1000}"#,
    )
    .unwrap();
    let home = d.path().join("home");
    let task_arg = task.to_string_lossy().into_owned();
    let o = common::ratchet(&home, &["run", "--path", &task_arg, "--explain"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(LimitKind::CpuTime.name()) || err.contains(LimitKind::WallTime.name()),
        "{err}"
    );
    assert!(
        err.contains("isolation:") && err.contains("landlock:") && err.contains("seccomp:"),
        "{err}"
    );
}

/// Sandbox workers that are children of this process, started ahead with `--preload-js DIR`.
fn preloading_workers(dir: &Path) -> usize {
    let me = std::process::id().to_string();
    let mut n = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if pid.parse::<u32>().is_err() {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .unwrap_or_default()
            .to_string();
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        let preload = args
            .windows(2)
            .any(|w| w[0] == b"--preload-js" && w[1] == dir.as_os_str().as_encoded_bytes());
        if ppid == me
            && args.contains(&b"__sandbox-worker".as_slice())
            && preload
            && alive_pid(&pid)
        {
            n += 1;
        }
    }
    n
}

fn alive_pid(pid: &str) -> bool {
    pid.parse().is_ok_and(alive)
}

#[test]
fn workers_started_ahead_preload_the_javascript_engine_and_take_raw_requests() {
    use ratchet_sandbox::Policy;
    use ratchet_sandbox::execute::{ExecOptions, TaskSpec, run_task};
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("modules");
    // Its own runtime: the shared one's spare may be taken (and so ended) by another test's
    // thread.
    let rt = Runtime::new(Some(cache.clone()))
        .isolated(Isolation::new(PathBuf::from(env!("CARGO_BIN_EXE_ratchet"))));
    let task = d.path().join("task");
    std::fs::create_dir(&task).unwrap();
    std::fs::write(
        task.join("main.js"),
        "function main(i){ return {n: i.items.length, last: i.items[i.items.length - 1]}; }",
    )
    .unwrap();
    std::fs::write(
        task.join("metadata.json"),
        r#"{"version": "1.0.0", "description": "preload test"}"#,
    )
    .unwrap();
    let spec = TaskSpec::lone(&task).unwrap();
    // More input than the parent writes without a thread (the raw stdin bytes after the
    // request header).
    let items: Vec<String> = (0..3000).map(|k| format!("item-{k}")).collect();
    let input = serde_json::json!({ "items": items });
    assert!(serde_json::to_vec(&input).unwrap().len() > 16 << 10);
    for round in 0..2 {
        let out = run_task(
            &rt,
            &spec,
            &input,
            &Policy::default(),
            &ExecOptions::default(),
        )
        .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(
            out.output,
            serde_json::json!({"n": 3000, "last": "item-2999"})
        );
        // The next run's worker is waiting, told to load the engine from this cache (which
        // the first run filled); the one that ran ends in the background.
        let until = Instant::now() + Duration::from_secs(5);
        while preloading_workers(&cache) != 1 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(preloading_workers(&cache), 1, "round {round}");
    }
    // A WebAssembly run takes that worker (which drops the engine) and gets its module and a
    // large stdin byte for byte.
    let text = "y".repeat(40_000);
    let stdin = serde_json::to_vec(&serde_json::json!({ "text": text })).unwrap();
    let o = rt
        .run_task_run(
            &TaskRun {
                name: "echo".into(),
                module: c_module("probe"),
                stdin,
                permissions: Effective::pure(limits(2_000, 10_000)),
                ..Default::default()
            },
            false,
        )
        .unwrap();
    assert!(o.success(), "{}", o.failure_message());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["input"]["text"].as_str().map(str::len), Some(40_000));
}
