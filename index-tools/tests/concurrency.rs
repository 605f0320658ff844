//! Separate `ratchet-index` processes: 32 concurrent publishers lose nothing; a publisher
//! killed with SIGKILL at random moments (100 trials) always leaves a registry `verify` accepts.

mod common;

use common::*;
use ratchet_formats::index::NamesFile;
use ratchet_formats::manifest::BundleId;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ratchet-index");

fn publish_cmd(reg: &std::path::Path, file: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("publish")
        .arg(reg)
        .arg(file)
        .args(["--publish-time", TIME])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

#[test]
fn thirty_two_concurrent_publishers_lose_nothing() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path()).reg;
    // 16 versions of one bundle (all rewrite the same index file) and 16 new ids (all append
    // to names.txt).
    let mut files = Vec::new();
    for i in 0..16 {
        files.push(Bundle::new("com.test.shared", &format!("1.{i}.0")).build(t.path()));
        files.push(Bundle::new(&format!("com.test.solo{i}"), "1.0.0").build(t.path()));
    }
    let children: Vec<_> = files
        .iter()
        .map(|f| publish_cmd(reg.root(), f).spawn().unwrap())
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let shared = reg
        .bundle(&BundleId::parse("com.test.shared").unwrap())
        .unwrap();
    assert_eq!(shared.versions.len(), 16);
    let names = NamesFile::load(reg.root()).unwrap();
    assert_eq!(names.ids.len(), 17);
    assert!(!names.torn_tail);
    let r = assert_consistent(&reg);
    assert_eq!((r.bundles, r.versions, r.archives), (17, 32, 32));
    assert!(r.diagnostics.is_empty(), "{:?}", r.diagnostics);
}

/// xorshift64*: a small deterministic generator for the kill delays.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn publisher_killed_at_random_moments_leaves_a_valid_registry() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path()).reg;
    const TRIALS: usize = 100;
    // Alternate new ids (index file + names.txt created) and new versions of one id.
    let files: Vec<_> = (0..TRIALS)
        .map(|i| {
            if i % 2 == 0 {
                Bundle::new(&format!("com.test.kill{i}"), "1.0.0").build(t.path())
            } else {
                Bundle::new("com.test.victim", &format!("1.0.{i}")).build(t.path())
            }
        })
        .collect();
    // How long one publish takes here, so kills land before, during and after the writes.
    let start = Instant::now();
    let warm = Bundle::new("com.test.warmup", "1.0.0").build(t.path());
    assert!(publish_cmd(reg.root(), &warm).status().unwrap().success());
    let full = start.elapsed().as_micros().max(1000) as u64;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut killed, mut completed, mut left_warnings) = (0, 0, 0);
    for (i, f) in files.iter().enumerate() {
        let mut child = publish_cmd(reg.root(), f).spawn().unwrap();
        let delay = rng.next() % (full + full / 4);
        std::thread::sleep(Duration::from_micros(delay));
        let _ = child.kill(); // SIGKILL on Unix
        let status = child.wait().unwrap();
        if status.success() {
            completed += 1
        } else {
            killed += 1
        }
        let r = reg.verify();
        assert!(
            r.is_ok(),
            "trial {i} (kill after {delay} µs): verify failed:\n{}",
            r.diagnostics
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
        if !r.diagnostics.is_empty() {
            left_warnings += 1;
        }
        // Every 10 trials, gc must also leave a clean registry with no warning at all.
        if i % 10 == 9 {
            reg.gc().unwrap();
            let r = reg.verify();
            assert!(r.diagnostics.is_empty(), "after gc: {:?}", r.diagnostics);
        }
    }
    println!(
        "{TRIALS} trials (one publish ≈ {full} µs): {killed} killed, {completed} completed, \
         {left_warnings} left leftovers (warnings) that verify accepted"
    );
    assert!(
        killed > 10,
        "the kills should interrupt most publishes ({killed} killed)"
    );
}

/// A publisher that dies right after each write step (a debug-build crash hook) leaves a
/// registry `verify` accepts, with exactly the leftover that step can leave, and the next
/// publish of the same archive succeeds.
#[test]
fn a_crash_after_each_write_step_leaves_a_valid_registry() {
    for (step, new_id, expected) in [
        ("archive", true, vec!["unreferenced-archive"]),
        ("archive", false, vec!["unreferenced-archive"]),
        ("index", true, vec!["unlisted-bundle"]),
        // The catalog is updated after the index: it is left behind (a warning gc repairs).
        ("index", false, vec!["catalog-stale"]),
    ] {
        let t = tempfile::tempdir().unwrap();
        let reg = TestRegistry::new(t.path()).reg;
        let base = Bundle::new("com.test.victim", "1.0.0").build(t.path());
        assert!(publish_cmd(reg.root(), &base).status().unwrap().success());
        let f = if new_id {
            Bundle::new("com.test.fresh", "1.0.0").build(t.path())
        } else {
            Bundle::new("com.test.victim", "1.1.0").build(t.path())
        };
        let status = publish_cmd(reg.root(), &f)
            .env("RATCHET_PUBLISH_CRASH_AFTER", step)
            .status()
            .unwrap();
        assert!(!status.success(), "{step}: the publisher did not crash");
        let r = reg.verify();
        assert!(r.is_ok(), "{step}: {:?}", r.diagnostics);
        let mut codes: Vec<&str> = r.diagnostics.iter().map(|d| d.code).collect();
        codes.sort();
        assert_eq!(codes, expected, "crash after {step} (new id: {new_id})");
        if step == "archive" {
            // The line was never written: publishing again works and gc has nothing to do.
            assert!(publish_cmd(reg.root(), &f).status().unwrap().success());
        } else {
            // The line is there: the version is published (gc repairs names.txt if needed).
            reg.gc().unwrap();
        }
        assert!(
            reg.verify().diagnostics.is_empty(),
            "{step}: {:?}",
            reg.verify().diagnostics
        );
    }
}
