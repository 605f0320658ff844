//! Audit log append cost and verification throughput at 1M entries (issue 20). Prints figures
//! beside the goals; asserts nothing about time. `RATCHET_BENCH_AUDIT_N` changes the 1M.

use ratchet_audit::{AuditLog, Record, Source, verify};
use std::time::Instant;

fn main() {
    let n: u64 = std::env::var("RATCHET_BENCH_AUDIT_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let log = AuditLog::new(dir.path().join("audit.jsonl"), Source::Registry);
    let sha = "ab".repeat(32);
    let t = Instant::now();
    let mut tail = Vec::new();
    for i in 0..n {
        let r = Record::bundle(
            "publish",
            &format!("com.bench.b{}", i % 10_000),
            Some("1.2.3"),
            Some(&sha),
        )
        .at("/srv/registry");
        let t1 = Instant::now();
        log.append_at(&r, "bench", "2026-12-04T00:00:00Z")
            .expect("append");
        if i >= n.saturating_sub(1000) {
            tail.push(t1.elapsed());
        }
    }
    let total = t.elapsed();
    let size = std::fs::metadata(log.path()).expect("size").len();
    tail.sort();
    let p50 = tail[tail.len() / 2];
    let p99 = tail[tail.len() * 99 / 100];
    println!(
        "audit append: {n} entries in {:.1} s, {:.1} µs per append on average; last 1,000 appends (log at {n} entries): p50 {:.1} µs, p99 {:.1} µs (goal: constant with log size, well under 1 ms)",
        total.as_secs_f64(),
        total.as_secs_f64() * 1e6 / n as f64,
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
    let t = Instant::now();
    let v = verify(log.path(), None).expect("verify");
    let el = t.elapsed().as_secs_f64();
    println!(
        "audit verify: {} entries ({:.0} MB) in {:.2} s = {:.0} entries/s, {:.0} MB/s (goal: 1M entries in seconds)",
        v.entries,
        size as f64 / 1e6,
        el,
        v.entries as f64 / el,
        size as f64 / 1e6 / el
    );
}
