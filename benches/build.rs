//! Archive build throughput, side by side with `tar czf` (GNU tar piping into gzip -6) on the
//! same tree, in the same run. Prints figures; asserts nothing about time.
//!
//! Run: `cargo bench --bench build`. `RATCHET_BENCH_MB` changes the tree size (default 50).

use ratchet_formats::archive::{self, BuildOptions, Limits};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 3;

/// A small deterministic generator (xorshift64*), so every run packs the same tree.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &[
    "input",
    "output",
    "task",
    "workflow",
    "schema",
    "value",
    "number",
    "string",
    "object",
    "array",
    "return",
    "function",
    "const",
    "let",
    "if",
    "else",
    "for",
    "while",
    "data",
    "record",
    "field",
    "transform",
    "validate",
    "result",
    "error",
    "null",
    "true",
    "false",
    "map",
    "filter",
    "reduce",
    "length",
    "type",
    "properties",
    "required",
    "items",
    "pipeline",
    "bundle",
    "version",
    "timeout",
    "memory",
    "limit",
    "request",
    "response",
    "header",
    "body",
    "status",
    "json",
    "parse",
];

/// Source-like text: words, punctuation, indentation, numbers; compresses roughly like code.
fn text_file(rng: &mut Rng, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 64);
    while out.len() < size {
        let indent = rng.below(4) as usize * 2;
        out.extend(std::iter::repeat_n(b' ', indent));
        for _ in 0..(3 + rng.below(8)) {
            match rng.below(10) {
                0 => {
                    let n = rng.next().to_string();
                    let len = 1 + rng.below(6) as usize;
                    out.extend_from_slice(&n.as_bytes()[..len.min(n.len())]);
                }
                1 => out.extend_from_slice(b"\"key_"),
                _ => {
                    out.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes())
                }
            }
            out.push(b" .,:(){};="[rng.below(10) as usize]);
        }
        out.push(b'\n');
    }
    out.truncate(size);
    out
}

/// A bundle of `total` bytes of small files (1–16 KiB), in `dir`.
fn make_tree(dir: &Path, total: u64) -> (usize, u64) {
    ratchet_validate::scaffold::init_bundle(dir, Some("com.example.bench")).expect("init bundle");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut files, mut bytes) = (0usize, 0u64);
    while bytes < total {
        let size = 1024 + rng.below(15 * 1024) as usize;
        let path = dir.join(format!(
            "assets/group-{:02}/sub-{:02}/file-{files:05}.js",
            files % 37,
            files % 11
        ));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text_file(&mut rng, size)).unwrap();
        files += 1;
        bytes += size as u64;
    }
    (files, bytes)
}

fn best(mut f: impl FnMut() -> Duration) -> Duration {
    f(); // warm-up (page cache, allocator)
    (0..RUNS).map(|_| f()).min().unwrap()
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

fn main() {
    let mb: u64 = std::env::var("RATCHET_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let tmp = tempfile::tempdir().expect("temp dir");
    let src = tmp.path().join("bundle");
    let (files, bytes) = make_tree(&src, mb * 1_000_000);
    let source_bytes: u64 = archive::bundle_files(&src)
        .unwrap()
        .iter()
        .map(|(_, p)| std::fs::metadata(p).unwrap().len())
        .sum();
    println!(
        "tree: {files} generated files + scaffold, {source_bytes} bytes ({bytes} generated), {} CPUs",
        num_cpus()
    );

    let manifest = ratchet_formats::manifest::load_manifest(&src).expect("manifest");
    let out = tmp.path().join("out.rbundle");
    let mut built = None;
    let ours = best(|| {
        let t = Instant::now();
        built = Some(
            archive::build_archive(&src, &manifest, &out, &BuildOptions::default()).expect("build"),
        );
        t.elapsed()
    });
    let built = built.unwrap();

    let tgz = tmp.path().join("out.tar.gz");
    let theirs = best(|| {
        let t = Instant::now();
        let status = Command::new("tar")
            .arg("czf")
            .arg(&tgz)
            .arg("-C")
            .arg(&src)
            .arg(".")
            .status()
            .expect("run tar");
        assert!(status.success(), "tar czf failed");
        t.elapsed()
    });
    let tgz_size = std::fs::metadata(&tgz).unwrap().len();

    let bytes_in = std::fs::read(&out).unwrap();
    let read = best(|| {
        let t = Instant::now();
        archive::read_archive(bytes_in.as_slice(), &Limits::default()).expect("read");
        t.elapsed()
    });

    println!("best of {RUNS} runs after a warm-up, same tree, same machine:");
    println!(
        "  ratchet bundle build : {:8.1} MB/s  ({:.3} s, archive {} bytes, {} entries, sha256 + checksum list included)",
        mbps(source_bytes, ours),
        ours.as_secs_f64(),
        built.size,
        built.files
    );
    println!(
        "  tar czf (GNU tar|gzip): {:8.1} MB/s  ({:.3} s, archive {tgz_size} bytes)",
        mbps(source_bytes, theirs),
        theirs.as_secs_f64()
    );
    println!(
        "  throughput ratio ratchet / tar czf: {:.2}x",
        theirs.as_secs_f64() / ours.as_secs_f64()
    );
    println!(
        "  read_archive (verify in memory): {:8.1} MB/s ({:.3} s)",
        mbps(source_bytes, read),
        read.as_secs_f64()
    );
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
