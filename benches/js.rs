//! JavaScript task figures, printed (no timed assertions): the embedded engine's cold start
//! (compile), a trivial task's warm run (engine cached) in process and as `ratchet run --path`
//! end to end, and a CPU-heavy task under ratchet side by side with the same `main.js` under
//! Node on the same machine in the same run. Goal: warm trivial run ≤ 10 ms.
//! Run with `cargo bench --bench js`.

use ratchet_formats::manifest::units::Millis;
use ratchet_sandbox::execute::{ExecOptions, TaskSpec, run_task};
use ratchet_sandbox::{CacheStatus, Policy, Runtime};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = v.iter().map(|d| ms(*d)).sum::<f64>() / v.len() as f64;
    format!(
        "median {:8.3} ms  p95 {:8.3} ms  min {:8.3} ms  mean {:8.3} ms  (n={})",
        ms(v[v.len() / 2]),
        ms(v[(v.len() * 95 / 100).min(v.len() - 1)]),
        ms(v[0]),
        mean,
        v.len()
    )
}

fn write_task(dir: &Path, main_js: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("main.js"), main_js).unwrap();
    std::fs::write(
        dir.join("metadata.json"),
        r#"{"version": "1.0.0", "description": "bench"}"#,
    )
    .unwrap();
}

/// A CPU-heavy task: recursion, arithmetic, arrays, strings and JSON.
const HEAVY: &str = r#"function main(input) {
  const fib = (n) => n < 2 ? n : fib(n - 1) + fib(n - 2);
  const sieve = (n) => { const s = new Uint8Array(n + 1); let c = 0;
    for (let i = 2; i <= n; i++) { if (!s[i]) { c++; for (let j = i * i; j <= n; j += i) s[j] = 1; } } return c; };
  const rows = [];
  for (let i = 0; i < input.rows; i++) rows.push({ id: i, name: 'item-' + i, tags: ['a' + (i % 7), 'b' + (i % 13)] });
  const text = JSON.stringify(rows);
  const back = JSON.parse(text).filter((r) => r.tags[0] === 'a3').map((r) => r.name.toUpperCase());
  return { fib: fib(input.fib), primes: sieve(input.sieve), json: text.length, picked: back.length };
}
"#;

fn main() {
    if ratchet_sandbox::js::engine().is_none() {
        println!("JavaScript benchmark: {}", ratchet_sandbox::js::NOT_BUILT);
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("modules");
    let policy = Policy::default();
    let opts = ExecOptions::default();
    let trivial_dir = tmp.path().join("trivial");
    write_task(
        &trivial_dir,
        "function main(input) { return { sum: input.a + 1 }; }\n",
    );
    let trivial = TaskSpec::lone(&trivial_dir).unwrap();
    let input = json!({"a": 1});
    println!(
        "JavaScript benchmark — engine: QuickJS-ng + ratchet-js harness, {} bytes of wasm",
        ratchet_sandbox::js::engine().unwrap().len()
    );

    let t = Instant::now();
    let done = run_task(
        &Runtime::new(Some(cache.clone())),
        &trivial,
        &input,
        &policy,
        &opts,
    )
    .unwrap();
    assert_eq!(done.outcome.usage.cache, CacheStatus::Compiled);
    println!(
        "engine cold start (compile + run)          {:9.1} ms",
        t.elapsed().as_secs_f64() * 1000.0
    );

    let mut fresh = Vec::new();
    let mut load = Vec::new();
    for _ in 0..30 {
        let rt = Runtime::new(Some(cache.clone()));
        let t = Instant::now();
        let done = run_task(&rt, &trivial, &input, &policy, &opts).unwrap();
        fresh.push(t.elapsed());
        load.push(Duration::from_secs_f64(done.outcome.usage.load_ms / 1000.0));
        assert_eq!(done.outcome.usage.cache, CacheStatus::Hit);
        assert_eq!(done.output, json!({"sum": 2}));
    }
    println!(
        "trivial task, warm (engine from disk cache) {}",
        stats(fresh)
    );
    println!(
        "  of which loading the cached engine        {}",
        stats(load)
    );
    let rt = Runtime::new(Some(cache.clone()));
    run_task(&rt, &trivial, &input, &policy, &opts).unwrap();
    let mut same = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        run_task(&rt, &trivial, &input, &policy, &opts).unwrap();
        same.push(t.elapsed());
    }
    println!(
        "trivial task, warm (one runtime reused)     {}",
        stats(same)
    );

    // End to end as a process: `ratchet run --path TASK`, engine in the module cache.
    let exe = env!("CARGO_BIN_EXE_ratchet");
    let home = tmp.path().join("home");
    let call = |dir: &Path, input: &str| {
        Command::new(exe)
            .args(["run", "--path"])
            .arg(dir)
            .args(["--input", input])
            .env("RATCHET_HOME", &home)
            .output()
            .unwrap()
    };
    let first = call(&trivial_dir, "{\"a\": 1}");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let mut e2e = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let o = call(&trivial_dir, "{\"a\": 1}");
        e2e.push(t.elapsed());
        assert!(o.status.success());
    }
    println!("`ratchet run --path` trivial, end to end   {}", stats(e2e));
    let mut node_trivial = Vec::new();
    let node_ok = Command::new("node").arg("--version").output().is_ok();
    if node_ok {
        for _ in 0..30 {
            let t = Instant::now();
            let o = Command::new("node")
                .args(["-e", "console.log(JSON.stringify({sum: 1 + 1}))"])
                .output()
                .unwrap();
            node_trivial.push(t.elapsed());
            assert!(o.status.success());
        }
        println!(
            "  for comparison `node -e` trivial          {}",
            stats(node_trivial)
        );
    }

    // CPU-heavy: the same main.js under ratchet (sandboxed, metered) and under Node.
    let heavy_dir = tmp.path().join("heavy");
    write_task(&heavy_dir, HEAVY);
    let mut heavy = TaskSpec::lone(&heavy_dir).unwrap();
    heavy.resources.max_cpu_time = Some(Millis(120_000));
    let heavy_input = json!({"fib": 25, "sieve": 300000, "rows": 20000});
    let mut ours = Vec::new();
    let mut out = None;
    for _ in 0..5 {
        let t = Instant::now();
        let done = run_task(&rt, &heavy, &heavy_input, &policy, &opts).unwrap();
        ours.push(t.elapsed());
        out = Some(done.output);
    }
    let out = out.unwrap();
    println!("CPU-heavy task {heavy_input}: output {out}");
    println!(
        "  ratchet (QuickJS in wasmer, metered)      {}",
        stats(ours)
    );

    // Metering calibration behind JS_POINTS_PER_MS: points each kind of code spends per ms.
    for (name, src) in [
        ("empty for (;;) {}", "(function () { for (;;) {} })"),
        (
            "numeric loop",
            "(function () { let x = 0; for (let k = 0; ; k++) x += k; })",
        ),
        (
            "recursion (fib)",
            "(function () { const f = (n) => n < 2 ? n : f(n - 1) + f(n - 2); for (;;) f(20); })",
        ),
        (
            "strings and arrays",
            "(function () { for (;;) { const s = []; for (let k = 0; k < 1000; k++) s.push(String(k)); JSON.stringify(s); } })",
        ),
    ] {
        let dir = tmp.path().join(format!("calib-{}", name.len()));
        write_task(&dir, src);
        let mut spec = TaskSpec::lone(&dir).unwrap();
        spec.resources.max_cpu_time = Some(Millis(1_000));
        let t = Instant::now();
        let e = run_task(&rt, &spec, &json!({}), &policy, &opts).unwrap_err();
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let points = ratchet_sandbox::limits::JS_POINTS_PER_MS * 1_000;
        println!(
            "metering: {name:<20} budget of 1s ({points} points) used up in {ms:6.0} ms = {:>5.0} M points/ms ({})",
            points as f64 / ms / 1e6,
            if e.to_string().contains("max_cpu_time") {
                "stopped by max_cpu_time"
            } else {
                "stopped otherwise!"
            }
        );
    }
    println!(
        "JS_POINTS_PER_MS in use: {} (a budget is never shorter than it names)",
        ratchet_sandbox::limits::JS_POINTS_PER_MS
    );
    if !node_ok {
        println!("  node: not installed, comparison skipped");
        return;
    }
    let runner = format!(
        "{HEAVY}\nconst t = process.hrtime.bigint();\nconst out = main({heavy_input});\n\
         const ms = Number(process.hrtime.bigint() - t) / 1e6;\n\
         console.log(JSON.stringify({{out, ms}}));\n"
    );
    let script = tmp.path().join("heavy-node.js");
    std::fs::write(&script, runner).unwrap();
    let mut node_total = Vec::new();
    let mut node_inner = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let o = Command::new("node").arg(&script).output().unwrap();
        node_total.push(t.elapsed());
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["out"], out, "node and ratchet disagree");
        node_inner.push(Duration::from_secs_f64(v["ms"].as_f64().unwrap() / 1000.0));
    }
    println!(
        "  node (V8 JIT), whole process              {}",
        stats(node_total)
    );
    println!(
        "  node, the main() call only                {}",
        stats(node_inner)
    );
}
