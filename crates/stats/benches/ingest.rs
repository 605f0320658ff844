//! Ingest throughput and related-list cost, printed beside their goals (no timed assertions).
//!
//! 1. A generated 1,000,000-line combined log over a copy of `sample-index/`: a realistic mix
//!    (archive downloads, index and metadata fetches, 304s, 404s, HEADs, a sub-path prefix),
//!    ingested once (cold) and again (everything already ingested: the ledger prefix check).
//! 2. `related::compute` over 20,000 generated bundles with Zipf-distributed keywords.

use ratchet_formats::index::{IndexFile, NamesFile, index_path};
use ratchet_formats::manifest::BundleId;
use ratchet_stats::related::{RelDoc, compute};
use ratchet_stats::{Day, IngestOptions, LogFormat, ingest};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use ratchet_testkit::copy_dir;

/// A small deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Zipf-like rank in 0..n (s = 1) by inverse transform of a harmonic approximation.
    fn zipf(&mut self, n: u64) -> u64 {
        let u = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        (((n as f64).ln() * u).exp() as u64)
            .saturating_sub(1)
            .min(n - 1)
    }
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reg");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample-index"),
        &dir,
    );
    let mut archives = Vec::new();
    for id in NamesFile::load(&dir).unwrap().ids {
        let f = IndexFile::load(&dir.join(index_path(&id)), Some(&id)).unwrap();
        for l in f.versions() {
            archives.push(format!("/archives/{}/{}.rbundle", &l.sha256[..2], l.sha256));
        }
    }
    let lines = 1_000_000u64;
    let log = tmp.path().join("access.log");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&log).unwrap());
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut expected = 0u64;
    for i in 0..lines {
        let day = 1 + (i * 30 / lines);
        let (method, path, status) = match rng.below(10) {
            0..=3 => {
                let a = &archives[rng.below(archives.len() as u64) as usize];
                expected += 1;
                ("GET", format!("/registry{a}"), 200)
            }
            4 => ("GET", archives[0].clone(), 304),
            5 => ("HEAD", archives[1].clone(), 200),
            6 => ("GET", "/registry/archives/00/missing.rbundle".into(), 404),
            _ => (
                "GET",
                "/registry/index/41/69/com.ratchet.core-utils".into(),
                200,
            ),
        };
        writeln!(
            w,
            "198.51.{}.{} - - [{day:02}/Nov/2026:{:02}:{:02}:{:02} +0000] \"{method} {path} HTTP/1.1\" {status} 2541 \"-\" \"ratchet/0.1 (linux; x86_64)\"",
            rng.below(256),
            rng.below(256),
            rng.below(24),
            rng.below(60),
            rng.below(60)
        )
        .unwrap();
    }
    drop(w);
    let bytes = std::fs::metadata(&log).unwrap().len();
    let opts = IngestOptions {
        format: LogFormat::Auto,
        today: Day::parse("2026-12-01").unwrap(),
    };
    let t = Instant::now();
    let r = ingest(&dir, std::slice::from_ref(&log), &opts).unwrap();
    let cold = t.elapsed().as_secs_f64();
    assert_eq!(r.downloads, expected);
    let t = Instant::now();
    let again = ingest(&dir, std::slice::from_ref(&log), &opts).unwrap();
    let warm = t.elapsed().as_secs_f64();
    assert_eq!(again.downloads, 0);
    println!(
        "ingest, generated combined log: {lines} lines, {:.1} MB, {expected} downloads",
        bytes as f64 / 1e6
    );
    println!(
        "  first ingestion:  {cold:.2} s = {:.0} lines/s ({:.0} MB/s)   goal: none set by the issue (a day of a busy mirror, ~1M lines, in seconds)",
        lines as f64 / cold,
        bytes as f64 / 1e6 / cold
    );
    println!(
        "  same log again:   {warm:.2} s = {:.0} lines/s (prefix hash only, nothing counted)",
        lines as f64 / warm
    );

    // Related lists over a generated registry.
    let n = 20_000usize;
    let vocab: Vec<String> = (0..5000).map(|i| format!("w{i}")).collect();
    let cats = [
        "data", "devops", "security", "ai", "web", "cloud", "testing", "files", "mail", "finance",
    ];
    let mut docs = BTreeMap::new();
    for i in 0..n {
        let kws: Vec<String> = (0..4)
            .map(|_| vocab[rng.zipf(5000) as usize].clone())
            .collect();
        let desc: Vec<&str> = (0..20)
            .map(|_| vocab[rng.zipf(5000) as usize].as_str())
            .collect();
        let deps = (0..rng.below(3))
            .map(|_| BundleId::parse(&format!("com.gen.b{}", rng.zipf(n as u64))).unwrap())
            .collect();
        docs.insert(
            BundleId::parse(&format!("com.gen.b{i}")).unwrap(),
            RelDoc {
                name: format!("Bundle {}", kws[0]),
                description: desc.join(" "),
                keywords: kws,
                categories: vec![cats[rng.below(cats.len() as u64) as usize].to_string()],
                items: vec![format!("task-{}", vocab[rng.zipf(5000) as usize])],
                dependencies: deps,
                deprecated: false,
            },
        );
    }
    let t = Instant::now();
    let r = compute(&docs);
    let secs = t.elapsed().as_secs_f64();
    let listed = r.values().filter(|f| !f.similar.is_empty()).count();
    println!(
        "related lists, {n} generated bundles (Zipf keywords): {secs:.2} s ({:.2} ms per bundle), {listed} with similar bundles   goal: a rebuild runs beside ingestion, off the publish path",
        secs * 1000.0 / n as f64
    );
}
