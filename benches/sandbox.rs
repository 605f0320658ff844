//! Sandbox figures, printed (no timed assertions): cold start (compile), warm start (cached
//! module), per-call overhead of `ratchet run` end to end, and the metering calibration
//! (operators per millisecond) behind `POINTS_PER_MS`. Goal: warm start ≤ 5 ms for a small
//! module. Run with `cargo bench --bench sandbox`.

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
    let tmp = tempfile::tempdir().unwrap();
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
}

fn wat_or_wasm(b: &[u8]) -> Vec<u8> {
    wasmer::wat2wasm(b).unwrap().to_vec()
}
