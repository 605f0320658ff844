//! `ratchet-index` on a registry that is a git working tree (index-format.md §6.10): one commit
//! per operation, pushed, and re-applied on the new upstream commit when another publisher
//! pushed first. A real bare repository served by `git daemon` on loopback; eight publishers,
//! each in its own clone, publish at once into a signed registry (transparency log and state
//! map), and nothing is lost.
//!
//! git is a Debian package that scripts/setup.sh installs; a missing git fails these tests
//! unless `RATCHET_TEST_SKIP` lists `git`.

mod common;

use common::{Bundle, assert_consistent};
use ratchet_publish::Registry;
use std::path::Path;
use std::process::{Command, Output};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        text(&o.stderr)
    );
    text(&o.stdout)
}

fn index(args: &[&str], key: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ratchet-index"))
        .args(args)
        .arg("--registry-key")
        .arg(key)
        .env_remove("RATCHET_KEY_PASSWORD")
        .output()
        .unwrap()
}

/// `git daemon` serving `base` on a free loopback port, push enabled; stopped on drop.
struct Daemon {
    child: std::process::Child,
    port: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn daemon(base: &Path) -> Daemon {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("git")
        .args([
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            "--listen=127.0.0.1",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(base)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < until,
            "git daemon did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Daemon { child, port }
}

#[test]
fn eight_concurrent_publishers_in_separate_clones_lose_nothing() {
    if !common::require_tool("git", "git", "git") {
        return;
    }
    const PUBLISHERS: usize = 8;
    let t = tempfile::tempdir().unwrap();
    let work = t.path();
    let key = ratchet_testkit::secret_key(&work.join("keys"), "registry");
    let key_file = work.join("keys/registry.key");
    assert!(key_file.is_file());
    git(work, &["init", "-q", "--bare", "-b", "main", "reg.git"]);
    let d = daemon(work);
    let url = format!("git://127.0.0.1:{}/reg.git", d.port);
    // The first publisher starts the registry in a clone of the empty repository: `init`
    // commits and pushes it.
    git(work, &["clone", "-q", &url, "c0"]);
    let c0 = work.join("c0");
    git(&c0, &["checkout", "-q", "-b", "main"]);
    let o = index(
        &["init", c0.to_str().unwrap(), "--origin", "git.test"],
        &key_file,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("pushed to origin/main"),
        "{}",
        text(&o.stderr)
    );
    drop(key);
    // Eight publishers, each with its own clone and its own bundle, all at once.
    let archives: Vec<_> = (0..PUBLISHERS)
        .map(|i| {
            let clone = work.join(format!("p{i}"));
            git(work, &["clone", "-q", &url, clone.to_str().unwrap()]);
            let archive = Bundle::new(&format!("com.example.p{i}"), "1.0.0")
                .build(&work.join(format!("src{i}")));
            (clone, archive)
        })
        .collect();
    let handles: Vec<_> = archives
        .into_iter()
        .map(|(clone, archive)| {
            let key_file = key_file.clone();
            std::thread::spawn(move || {
                index(
                    &[
                        "publish",
                        clone.to_str().unwrap(),
                        archive.to_str().unwrap(),
                    ],
                    &key_file,
                )
            })
        })
        .collect();
    let mut retried = 0;
    for h in handles {
        let o = h.join().unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        let out = text(&o.stdout);
        // Only the attempt that counts is shown: one "Published" line per publisher.
        assert_eq!(out.matches("Published ").count(), 1, "{out}");
        let err = text(&o.stderr);
        assert!(err.contains("pushed to origin/main"), "{err}");
        if err.contains("rejected push") {
            retried += 1;
        }
    }
    eprintln!("{retried} of {PUBLISHERS} publishers had a push rejected and re-applied");
    // A fresh clone holds all eight, with one commit each, and verifies (log and map too).
    git(work, &["clone", "-q", &url, "check"]);
    let check = work.join("check");
    let reg = Registry::open(&check).unwrap();
    assert_consistent(&reg);
    let names = std::fs::read_to_string(check.join("names.txt")).unwrap();
    for i in 0..PUBLISHERS {
        let id = format!("com.example.p{i}");
        assert!(names.lines().any(|l| l == id), "{id} lost: {names}");
        assert_eq!(reg.bundle(&id.parse().unwrap()).unwrap().versions.len(), 1);
    }
    let log = git(&check, &["log", "--format=%s"]);
    let publishes = log
        .lines()
        .filter(|l| l.starts_with("ratchet-index: publish com.example.p"))
        .count();
    assert_eq!(publishes, PUBLISHERS, "{log}");
    assert!(
        log.lines()
            .any(|l| l.starts_with("ratchet-index: init registry")),
        "{log}"
    );
    assert_eq!(log.lines().count(), PUBLISHERS + 1, "{log}");
    let o = Command::new(env!("CARGO_BIN_EXE_ratchet-index"))
        .args(["log", check.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout).matches("publish").count(),
        PUBLISHERS,
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn a_refused_operation_commits_nothing_and_a_dirty_tree_is_refused() {
    if !common::require_tool("git", "git", "git") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let work = t.path();
    let key = ratchet_testkit::secret_key(&work.join("keys"), "registry");
    drop(key);
    let key_file = work.join("keys/registry.key");
    git(work, &["init", "-q", "--bare", "-b", "main", "reg.git"]);
    git(work, &["clone", "-q", "reg.git", "c"]);
    let c = work.join("c");
    git(&c, &["checkout", "-q", "-b", "main"]);
    let o = index(&["init", c.to_str().unwrap()], &key_file);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let archive = Bundle::new("com.example.a", "1.0.0").build(&work.join("src"));
    let o = index(
        &["publish", c.to_str().unwrap(), archive.to_str().unwrap()],
        &key_file,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let head = git(&c, &["rev-parse", "HEAD"]);
    // Publishing the same version again is refused: no commit, nothing pushed.
    let o = index(
        &["publish", c.to_str().unwrap(), archive.to_str().unwrap()],
        &key_file,
    );
    assert!(!o.status.success());
    assert_eq!(git(&c, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&c, &["rev-parse", "origin/main"]).trim(), head.trim());
    assert_eq!(git(&c, &["status", "--porcelain"]), "");
    // A change of the user's own in the tree: refused before anything runs.
    std::fs::write(c.join("notes.txt"), b"mine").unwrap();
    let b = Bundle::new("com.example.b", "1.0.0").build(&work.join("src2"));
    let o = index(
        &["publish", c.to_str().unwrap(), b.to_str().unwrap()],
        &key_file,
    );
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("uncommitted changes"),
        "{}",
        text(&o.stderr)
    );
    assert!(!c.join("index").join("com.example.b").exists());
    assert_eq!(git(&c, &["rev-parse", "HEAD"]), head);
}
