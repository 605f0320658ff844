//! The threads a wide install starts for its file work. A cold install of a few hundred bundles
//! with prefetch hints hands the fetcher's runtime hundreds of short cache probes and writes
//! at once; tokio's blocking pool, unbounded, gave many of them a thread of their own (30 to 60
//! on a 2-core machine), each with its stack and malloc arena, then joined them all when the
//! client was dropped. The fetcher bounds them (`index-format.md` is silent on it: this is
//! the client's own resource use).
//!
//! A test binary of its own: the count is of this process's threads, which no other test may
//! share.

mod fault_server;
mod generated_registry;

use ratchet_client::registry::RegistrySource;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// This process's threads named as tokio names a runtime's threads (workers and blocking pool).
fn runtime_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
                .filter(|c| c.trim() == "tokio-rt-worker")
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn a_wide_install_keeps_its_runtime_threads_bounded() {
    let t = tempfile::tempdir().unwrap();
    let reg = t.path().join("reg");
    let (root, _) = generated_registry::generate(&reg, 301, 3);
    let srv = fault_server::serve(reg, Duration::ZERO);
    let mut src = RegistrySource::from_location(&srv.url()).unwrap();
    src.max_connections = Some(1024);
    // The most threads seen while the install runs (sampled: the true peak is at least this).
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (done, peak) = (done.clone(), peak.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(runtime_threads(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_micros(500));
            }
        })
    };
    let installed = generated_registry::install_prepared(&t.path().join("home"), src, &root);
    assert_eq!(installed, 301);
    done.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    // Every archive went through the cache (a probe and a write each), so the pool had the
    // work to grow on.
    let archives = std::fs::read_dir(t.path().join("home/cache/archives"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(archives > 0, "no archive cached");
    // Two workers, and twice the file work's slots (one per core, 4 to 16) of blocking threads.
    let slots = std::thread::available_parallelism().map_or(4, |n| n.get().clamp(4, 16));
    let bound = 2 + 2 * slots;
    let seen = peak.load(Ordering::Relaxed);
    assert!(seen >= 2, "the sampler saw no runtime thread ({seen})");
    assert!(
        seen <= bound,
        "{seen} runtime threads at once during a 301-bundle install (bound {bound})"
    );
}
