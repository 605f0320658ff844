//! Publish cost against registry size: publishes the same real archives into generated
//! registries of 1,000 and 100,000 bundles and prints milliseconds per publish for each and
//! their ratio (goal: at most 1.2, i.e. publish cost does not grow with the registry).
//!
//! Run: `cargo bench -p index-tools --bench publish` (release build). `PUBLISH_BENCH_N` sets
//! the number of timed publishes per registry (default 40).

use ratchet_formats::archive::{BuildOptions, archive_file_name, build_archive};
use ratchet_formats::index::{IndexLine, NAMES_FILE, RegistryKind, index_path};
use ratchet_publish::Registry;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

const TIME: &str = "2026-01-01T00:00:00Z";

/// A registry of `n` generated bundles (index files and names.txt; no archives: publish never
/// reads other bundles' archives).
fn generate(dir: &Path, n: usize, template: &ratchet_formats::manifest::Manifest) -> Registry {
    let reg = Registry::init(dir, "bench", RegistryKind::Local, None).unwrap();
    let mut names = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(NAMES_FILE))
        .unwrap();
    let mut buf = String::new();
    for i in 0..n {
        let mut m = template.clone();
        m.id =
            ratchet_formats::manifest::BundleId::parse(&format!("com.gen{}.bundle-{i}", i % 997))
                .unwrap();
        let line = IndexLine::from_manifest(&m, &format!("{:064x}", i), 1000, TIME);
        let path = dir.join(index_path(&m.id));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, line.to_line()).unwrap();
        buf.push_str(m.id.as_str());
        buf.push('\n');
    }
    names.write_all(buf.as_bytes()).unwrap();
    reg
}

/// `count` real archives of new bundles, half of them depending on a generated bundle.
fn archives(work: &Path, prefix: &str, count: usize) -> Vec<PathBuf> {
    (0..count)
        .map(|i| {
            let id = format!("com.bench.{prefix}-{i}");
            let src = work.join(format!("src/{id}"));
            ratchet_validate::scaffold::init_bundle(&src, Some(&id)).unwrap();
            if i % 2 == 0 {
                let y = src.join("bundle.yaml");
                let text = std::fs::read_to_string(&y).unwrap().replace(
                    "  requirements:\n",
                    "  dependencies:\n    - bundle_id: \"com.gen1.bundle-1\"\n      version: \"*\"\n  requirements:\n",
                );
                std::fs::write(&y, text).unwrap();
            }
            let m = ratchet_formats::manifest::load_manifest(&src).unwrap();
            let out = work.join("out").join(archive_file_name(&m));
            std::fs::create_dir_all(out.parent().unwrap()).unwrap();
            build_archive(&src, &m, &out, &BuildOptions::default()).unwrap();
            out
        })
        .collect()
}

fn main() {
    let n: usize = std::env::var("PUBLISH_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let work = tempfile::tempdir().unwrap();
    let files = archives(work.path(), "new", n);
    let template =
        ratchet_formats::manifest::load_manifest(&work.path().join("src/com.bench.new-1")).unwrap();
    let sizes = [1_000usize, 100_000];
    let mut regs = Vec::new();
    for size in sizes {
        let dir = work.path().join(format!("reg-{size}"));
        let t = Instant::now();
        let reg = generate(&dir, size, &template);
        println!(
            "generated a registry of {size} bundles in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        // One untimed publish warms the file-system caches for this registry.
        let warm = archives(&work.path().join(format!("warm-{size}")), "warm", 1);
        reg.publish(&warm[0], TIME).unwrap();
        regs.push(reg);
    }
    // Publishes alternate between the registries so that disk noise hits both alike.
    let mut total = [0f64; 2];
    for f in &files {
        for (k, reg) in regs.iter().enumerate() {
            let t = Instant::now();
            reg.publish(f, TIME).unwrap();
            total[k] += t.elapsed().as_secs_f64() * 1000.0;
        }
    }
    for (k, size) in sizes.iter().enumerate() {
        println!(
            "registry of {size:>7} bundles: {:.2} ms per publish ({n} publishes)",
            total[k] / n as f64
        );
    }
    println!("ratio 100k / 1k: {:.2} (goal: <= 1.2)", total[1] / total[0]);
}
