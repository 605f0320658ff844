//! Sandbox figures, printed (no timed assertions): cold start (compile), warm start (cached
//! module), per-call overhead of `ratchet run` end to end, and the metering calibration
//! (operators per millisecond) behind `POINTS_PER_MS`. Goal: warm start ≤ 5 ms for a small
//! module. Process isolation (`task-abi.md` §10): for each limit case, used/limit (goal ≤ 1.1
//! for CPU and wall time) and whether any process was alive after the run; the cost of a worker
//! (warm start of a trivial JavaScript task in a worker versus in process, goal ≤ 5 ms added).
//! Run with `cargo bench --bench sandbox`.

use ratchet_formats::manifest::units::Millis;
use ratchet_sandbox::{CacheStatus, Effective, Limits, Runtime, TaskRun};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = v.iter().map(|d| ms(*d)).sum::<f64>() / v.len() as f64;
    format!(
        "median {:7.3} ms  p95 {:7.3} ms  min {:7.3} ms  mean {:7.3} ms  (n={})",
        ms(v[v.len() / 2]),
        ms(v[(v.len() * 95 / 100).min(v.len() - 1)]),
        ms(v[0]),
        mean,
        v.len()
    )
}

fn modules() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sandbox-modules")
}

/// The probe task compiled with clang, when clang and wasi-libc are installed.
fn probe_wasm(dir: &Path) -> Option<Vec<u8>> {
    let out = dir.join("probe.wasm");
    let ok = Command::new("clang")
        .args(["--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-o"])
        .arg(&out)
        .arg(modules().join("probe.c"))
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| std::fs::read(&out).ok()).flatten()
}

fn main() {
    // SAFETY: set before any thread is started.
    unsafe { std::env::set_var(BENCH_TAG, std::process::id().to_string()) };
    let tmp = tempfile::tempdir().unwrap();
    // `RATCHET_BENCH_ONLY=worker`: only the cost of a worker (and `ratchet run` versus node);
    // `isolation`: the isolation figures (limit cases, then the cost of a worker).
    match std::env::var("RATCHET_BENCH_ONLY").as_deref() {
        Ok("worker") => return worker_cost(tmp.path(), &tmp.path().join("warm")),
        Ok("isolation") => {
            let probe = probe_wasm(tmp.path());
            return isolation(tmp.path(), &tmp.path().join("warm"), probe.as_deref());
        }
        _ => {}
    }
    let hello = std::fs::read(modules().join("hello.wat")).unwrap();
    let probe = probe_wasm(tmp.path());
    let (small_name, small) = match &probe {
        Some(p) => ("probe.c (clang -O2, echo mode)", p.clone()),
        None => ("hello.wat", hello.clone()),
    };
    println!(
        "sandbox benchmark — small module: {small_name}, {} bytes",
        small.len()
    );
    let run = |module: &[u8], limits: Limits| TaskRun {
        name: "bench".into(),
        module: module.to_vec(),
        stdin: b"{\"a\": 1}".to_vec(),
        permissions: Effective::pure(limits),
        ..Default::default()
    };

    // Cold start: a fresh cache every time, so every run compiles.
    let mut cold = Vec::new();
    for i in 0..5 {
        let rt = Runtime::new(Some(tmp.path().join(format!("cold-{i}"))));
        let t = Instant::now();
        let o = rt.run(&run(&small, Limits::default())).unwrap();
        cold.push(t.elapsed());
        assert_eq!(o.usage.cache, CacheStatus::Compiled);
        assert!(o.success());
    }
    println!("cold start (compile + run)           {}", stats(cold));

    // Warm start: the artifact is on disk; a new runtime each time (as a new process would).
    let cache = tmp.path().join("warm");
    Runtime::new(Some(cache.clone()))
        .run(&run(&small, Limits::default()))
        .unwrap();
    let mut warm = Vec::new();
    let mut load = Vec::new();
    for _ in 0..200 {
        let rt = Runtime::new(Some(cache.clone()));
        let t = Instant::now();
        let o = rt.run(&run(&small, Limits::default())).unwrap();
        warm.push(t.elapsed());
        load.push(Duration::from_secs_f64(o.usage.load_ms / 1000.0));
        assert_eq!(o.usage.cache, CacheStatus::Hit);
    }
    println!(
        "warm start (cached module + run)     {}   goal: median <= 5 ms",
        stats(warm)
    );
    println!("  of which loading the cached module {}", stats(load));

    // Same runtime, repeated runs (a workflow or `bundle test` does this).
    let rt = Runtime::new(Some(cache.clone()));
    let mut same = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        rt.run(&run(&small, Limits::default())).unwrap();
        same.push(t.elapsed());
    }
    println!("warm run, one runtime reused         {}", stats(same));

    // End to end: `ratchet run --path TASK` as a process, module cached.
    let exe = env!("CARGO_BIN_EXE_ratchet");
    let task = tmp.path().join("task");
    std::fs::create_dir_all(&task).unwrap();
    std::fs::write(
        task.join("metadata.json"),
        r#"{"version": "1.0.0", "description": "bench"}"#,
    )
    .unwrap();
    std::fs::write(task.join("main.wasm"), wat_or_wasm(&small)).unwrap();
    let home = tmp.path().join("home");
    let call = || {
        Command::new(exe)
            .args(["run", "--path"])
            .arg(&task)
            .args(["--input", "{\"a\": 1}"])
            .env("RATCHET_HOME", &home)
            .output()
            .unwrap()
    };
    let first = call();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let mut e2e = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let o = call();
        e2e.push(t.elapsed());
        assert!(o.status.success());
    }
    println!("`ratchet run --path` end to end      {}", stats(e2e));
    let mut version = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        Command::new(exe).arg("--version").output().unwrap();
        version.push(t.elapsed());
    }
    println!("  baseline `ratchet --version`       {}", stats(version));

    // Metering calibration: operators per millisecond of a loop that only computes.
    let budget = Limits {
        max_cpu_time: Millis(1_000),
        wall_time: Millis(60_000),
        ..Limits::default()
    };
    let spin = std::fs::read(modules().join("spin.wat")).unwrap();
    let calib = |name: &str, module: &[u8], args: Vec<String>| {
        let rt = Runtime::new(Some(cache.clone()));
        rt.run(&TaskRun {
            args: args.clone(),
            ..run(module, budget)
        })
        .unwrap();
        let t = Instant::now();
        let o = rt
            .run(&TaskRun {
                args,
                ..run(module, budget)
            })
            .unwrap();
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        println!(
            "metering: {name:<28} {:>13} points in {ms:8.1} ms = {:>9.0} points/ms (budget named {} -> took {ms:.0} ms)",
            o.usage.cpu_points,
            o.usage.cpu_points as f64 / ms,
            budget.max_cpu_time
        );
    };
    calib("spin.wat (br loop)", &spin, vec![]);
    if let Some(p) = &probe {
        calib("probe.c loop (volatile i++)", p, vec!["loop".into()]);
    }
    println!(
        "POINTS_PER_MS in use: {}",
        ratchet_sandbox::limits::POINTS_PER_MS
    );
    println!("(JavaScript tasks: cargo bench --bench js)");

    isolation(tmp.path(), &cache, probe.as_deref());
}

/// CPU time of reaped children (the workers) so far.
fn children_cpu() -> Duration {
    // SAFETY: getrusage writes the struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Waits (at most 3 s) until the workers of earlier runs have been reaped, so that the
/// children's CPU time measured next is the next run's alone. A run reaps its worker before it
/// returns (`task-abi.md` §10), so this normally returns at once; it guards the figures should
/// that change. The spare (one child waiting for the next request) stays.
fn settle() {
    let me = std::process::id().to_string();
    let until = Instant::now() + Duration::from_secs(3);
    loop {
        let workers = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                // `pid (comm) state ppid ...`: zombies keep their name until reaped.
                stat.contains("(ratchet)")
                    && stat
                        .rsplit_once(')')
                        .and_then(|(_, r)| r.split_whitespace().nth(1))
                        .is_some_and(|p| p == me)
            })
            .count();
        if workers <= 1 || Instant::now() >= until {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The environment variable that marks this benchmark's workers (set in `main`).
const BENCH_TAG: &str = "RATCHET_SANDBOX_BENCH";

/// Processes of this benchmark's making still alive: workers and the test commands' sleeps.
/// The runtime's spare worker (started ahead of the next run, idle, a child of this process)
/// is not a leftover.
fn leftovers(pids: &[u32]) -> usize {
    let me = std::process::id().to_string();
    // Workers inherit this process's environment, which names it: workers of other programs
    // on the machine (other benchmarks and tests) are not counted.
    let tag = format!("{BENCH_TAG}={me}");
    let mut n = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let mut fields = state.rsplit_once(')').map(|(_, r)| r.split_whitespace());
        let zombie = fields
            .as_mut()
            .and_then(|f| f.next())
            .is_some_and(|s| s == "Z");
        let spare = cmd.contains("__sandbox-worker")
            && fields.and_then(|mut f| f.next()).is_some_and(|p| p == me);
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let ours = environ.split(|b| *b == 0).any(|v| v == tag.as_bytes());
        if !zombie
            && !spare
            && ((ours && (cmd.contains("__sandbox-worker") || cmd.contains("sleep 4")))
                || pids.contains(&pid))
        {
            n += 1;
        }
    }
    n
}

fn write_js(dir: &Path, name: &str, src: &str, timeout_ms: u64) -> std::path::PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("main.js"), src).unwrap();
    std::fs::write(
        d.join("metadata.json"),
        format!(r#"{{"version": "1.0.0", "description": "bench", "timeout": {timeout_ms}}}"#),
    )
    .unwrap();
    d
}

/// Isolation figures: limit cases through real workers, and the cost of a worker.
fn isolation(tmp: &Path, cache: &Path, probe: Option<&[u8]>) {
    use ratchet_sandbox::execute::{ExecError, ExecOptions, TaskSpec, run_task};
    use ratchet_sandbox::isolate::Isolation;
    use ratchet_sandbox::{LimitKind, Policy, RunStatus};
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_ratchet"));
    let iso = || Runtime::new(Some(cache.to_path_buf())).isolated(Isolation::new(exe.clone()));
    let rt = iso();
    println!(
        "\nprocess isolation (task-abi.md §10): used/limit per case, goal <= 1.1; alive after: goal 0"
    );
    let limits = |cpu: u64, wall: u64| Limits {
        max_cpu_time: Millis(cpu),
        wall_time: Millis(wall),
        ..Limits::default()
    };
    let report = |name: &str,
                  kind: Option<LimitKind>,
                  wall_ms: f64,
                  cpu: Duration,
                  l: Limits,
                  pids: &[u32]| {
        let (what, ratio) = match kind {
            Some(LimitKind::CpuTime) => {
                ("cpu", cpu.as_secs_f64() * 1000.0 / l.max_cpu_time.0 as f64)
            }
            Some(LimitKind::WallTime) => ("wall", wall_ms / l.wall_time.0 as f64),
            Some(k) => (k.name(), f64::NAN),
            None => ("none", f64::NAN),
        };
        println!(
            "  {name:<34} stopped by {what:<5} used/limit {ratio:5.2}  (cpu {:7.1} ms of {}, wall {:7.1} ms of {})  alive after: {}",
            cpu.as_secs_f64() * 1000.0,
            l.max_cpu_time,
            wall_ms,
            l.wall_time,
            leftovers(pids)
        );
    };
    let wasm_case =
        |name: &str, module: &[u8], args: &[&str], mut p: Effective, pidfile: Option<&Path>| {
            let l = p.limits;
            if let Some(f) = pidfile {
                let _ = std::fs::remove_file(f);
            }
            p.commands = vec!["sh".into()];
            settle();
            let before = children_cpu();
            let t = Instant::now();
            let o = rt.run_task_run(
                &TaskRun {
                    name: "case".into(),
                    module: module.to_vec(),
                    args: args.iter().map(|s| s.to_string()).collect(),
                    permissions: p,
                    ..Default::default()
                },
                false,
            );
            let elapsed = t.elapsed();
            let cpu = children_cpu() - before;
            let pids: Vec<u32> = pidfile
                .and_then(|f| std::fs::read_to_string(f).ok())
                .and_then(|s| s.trim().parse().ok())
                .into_iter()
                .collect();
            match o {
                Ok(o) => {
                    let kind = match &o.status {
                        RunStatus::Limit { kind, .. } => Some(*kind),
                        _ => None,
                    };
                    report(name, kind, o.usage.wall_ms, cpu, l, &pids);
                }
                Err(e) => println!(
                    "  {name:<34} error after {:.1} ms: {e}",
                    elapsed.as_secs_f64() * 1000.0
                ),
            }
        };
    let spin = std::fs::read(modules().join("spin.wat")).unwrap();
    let chase = std::fs::read(modules().join("chase.wat")).unwrap();
    // Warm the cache: the cases measure runs, not compiling (except the compile bomb).
    for m in [&spin, &chase] {
        let _ = rt.run_task_run(
            &TaskRun {
                name: "warm".into(),
                module: m.clone(),
                // Enough CPU to compile (the compile budget is `max_cpu_time`).
                permissions: Effective::pure(limits(200, 1000)),
                ..Default::default()
            },
            false,
        );
    }
    for (cpu, wall) in [(500, 5_000), (5_000, 500)] {
        wasm_case(
            &format!("CPU-bound wasm ({cpu}/{wall} ms)"),
            &spin,
            &[],
            Effective::pure(limits(cpu, wall)),
            None,
        );
        wasm_case(
            &format!("memory-bound wasm ({cpu}/{wall} ms)"),
            &chase,
            &[],
            Effective::pure(limits(cpu, wall)),
            None,
        );
    }
    if let Some(p) = probe {
        let pidfile = tmp.join("grandchild.pid");
        let script = format!("sleep 45 & echo $! > {}; echo started", pidfile.display());
        let _ = rt.run_task_run(
            &TaskRun {
                name: "warm".into(),
                module: p.to_vec(),
                // Enough CPU to compile (the compile budget is `max_cpu_time`); it echoes and
                // ends.
                permissions: Effective::pure(limits(5_000, 10_000)),
                ..Default::default()
            },
            false,
        );
        // The PID goes to a writable mount: Landlock confines a command's writes to the run's
        // directories.
        let mut perms = Effective::pure(limits(5_000, 1_000));
        perms.fs_write = vec!["/out".into()];
        perms.mounts.insert("/out".into(), tmp.to_path_buf());
        wasm_case(
            "command grandchild (sleep 45 &)",
            p,
            &["command2", "sh", "-c", &script],
            perms,
            Some(&pidfile),
        );
    }
    let mut bomb = String::from(
        "(module (memory (export \"memory\") 1) (func (export \"_start\") (local i32) (local i64)\n",
    );
    for i in 0..150_000 {
        bomb.push_str(&format!("(local.set 0 (i32.xor (i32.mul (local.get 0) (i32.const {})) (i32.wrap_i64 (local.get 1))))\n(local.set 1 (i64.add (local.get 1) (i64.extend_i32_u (local.get 0))))\n", i + 3));
    }
    bomb.push_str("))");
    wasm_case(
        "compile bomb (300k operators)",
        bomb.as_bytes(),
        &[],
        Effective::pure(limits(1_000, 2_000)),
        None,
    );

    // JavaScript built-ins and a backtracking regex; metadata `timeout` names both limits. The
    // engine is compiled into the cache first, so the figures are the runs'.
    let policy = Policy::default();
    let warm = write_js(tmp, "warm-js", "function main(i){ return {}; }", 10_000);
    let _ = run_task(
        &rt,
        &TaskSpec::lone(&warm).unwrap(),
        &serde_json::json!({}),
        &policy,
        &ExecOptions::default(),
    );
    let js_cases = [
        (
            "JS Array.map",
            "function main(i){ let a = Array.from({length: 100000}, (_, k) => k); for(;;) a = a.map(x => x + 1); }",
        ),
        (
            "JS JSON round trip",
            "function main(i){ let o = {a: Array.from({length: 20000}, (_, k) => ({k, s: 'x' + k}))}; for(;;) o = JSON.parse(JSON.stringify(o)); }",
        ),
        (
            "JS sort",
            "function main(i){ for(;;) { const a = Array.from({length: 200000}, (_, k) => (k * 7919) % 100003); a.sort((x, y) => x - y); } }",
        ),
        (
            "JS regex backtracking",
            "function main(i){ return /^(a+)+$/.test('a'.repeat(40) + 'b'); }",
        ),
    ];
    for (name, src) in js_cases {
        let dir = write_js(tmp, &name.replace(' ', "-"), src, 1_000);
        let spec = TaskSpec::lone(&dir).unwrap();
        let l = spec.effective(&policy).limits;
        settle();
        let before = children_cpu();
        let r = run_task(
            &rt,
            &spec,
            &serde_json::json!({}),
            &policy,
            &ExecOptions::default(),
        );
        let cpu = children_cpu() - before;
        match r {
            Err(ExecError::Failed { message, usage, .. }) => {
                let kind = [LimitKind::CpuTime, LimitKind::WallTime, LimitKind::Memory]
                    .into_iter()
                    .find(|k| message.contains(k.name()));
                report(name, kind, usage.wall_ms, cpu, l, &[]);
            }
            Ok(_) => println!("  {name:<34} finished (no limit reached)"),
            Err(e) => println!("  {name:<34} {e}"),
        }
    }

    worker_cost(tmp, cache);
}

/// The cost of a worker: a trivial JavaScript task, engine cached, warm, in a worker and in
/// process; then `ratchet run` end to end versus `node -e`.
fn worker_cost(tmp: &Path, cache: &Path) {
    use ratchet_sandbox::Policy;
    use ratchet_sandbox::execute::{ExecOptions, TaskSpec, run_task};
    use ratchet_sandbox::isolate::Isolation;
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_ratchet"));
    let iso = || Runtime::new(Some(cache.to_path_buf())).isolated(Isolation::new(exe.clone()));
    let policy = Policy::default();
    let dir = write_js(
        tmp,
        "trivial",
        "function main(i){ return {ok: true}; }",
        10_000,
    );
    let spec = TaskSpec::lone(&dir).unwrap();
    let input = serde_json::json!({"a": 1});
    let time = |rt: &Runtime| {
        let t = Instant::now();
        run_task(rt, &spec, &input, &policy, &ExecOptions::default()).unwrap();
        t.elapsed()
    };
    time(&iso());
    // Interleaved, so that the machine's load drifts over both alike.
    // `worker`: one isolated runtime, as `bundle test` and workflows use it: each run takes the
    // worker started ahead (after the previous run). `started`: a new isolated runtime per run,
    // timed from its creation, so the run waits for its worker's exec and start-up (what every
    // run paid before workers were started ahead).
    let rt = iso();
    let (mut in_process, mut worker, mut started) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..100 {
        in_process.push(time(&Runtime::new(Some(cache.to_path_buf()))));
        worker.push(time(&rt));
        let t = Instant::now();
        time(&iso());
        started.push(t.elapsed());
    }
    let med = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1000.0
    };
    let added = med(&worker) - med(&in_process);
    let added_started = med(&started) - med(&in_process);
    println!("trivial JS task, warm, in process    {}", stats(in_process));
    println!("trivial JS task, warm, in a worker   {}", stats(worker));
    println!("  added by the worker: {added:.3} ms (median)   goal: <= 5 ms");
    println!("  same, worker started for the run   {}", stats(started));
    println!("  added by a worker started for the run: {added_started:.3} ms (median)");
    // What starting ahead saves: exec and start-up of the binary up to reading its request
    // (given none, it answers with an error and ends).
    let exec: Vec<Duration> = (0..50)
        .map(|_| {
            let t = Instant::now();
            Command::new(&exe)
                .arg(ratchet_sandbox::isolate::WORKER_SUBCOMMAND)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap();
            t.elapsed()
        })
        .collect();
    println!("  worker exec + start-up, no request {}", stats(exec));

    // `ratchet run` end to end (a worker per run) versus node on the same task.
    let home = tmp.join("home-js");
    let e2e = |cmd: &mut Command| {
        let t = Instant::now();
        let o = cmd.output().unwrap();
        (t.elapsed(), o.status.success())
    };
    let mut ratchet = Command::new(&exe);
    ratchet
        .args(["run", "--path"])
        .arg(&dir)
        .args(["--input", "{\"a\": 1}"])
        .env("RATCHET_HOME", &home);
    assert!(
        e2e(&mut ratchet).1,
        "ratchet run of the trivial JS task failed"
    );
    let r: Vec<Duration> = (0..30).map(|_| e2e(&mut ratchet).0).collect();
    println!("`ratchet run` trivial JS end to end   {}", stats(r.clone()));
    let src = std::fs::read_to_string(dir.join("main.js")).unwrap();
    let mut node = Command::new("node");
    node.arg("-e").arg(format!(
        "{src}\nconsole.log(JSON.stringify(main({{a: 1}})));"
    ));
    if e2e(&mut node).1 {
        let n: Vec<Duration> = (0..30).map(|_| e2e(&mut node).0).collect();
        println!("`node -e` same task                   {}", stats(n.clone()));
        println!(
            "  ratchet/node: {:.2}x (median)   goal: < 0.5x",
            med(&r) / med(&n)
        );
    } else {
        println!("`node -e`: node is not installed; no comparison");
    }
}

fn wat_or_wasm(b: &[u8]) -> Vec<u8> {
    wasmer::wat2wasm(b).unwrap().to_vec()
}
