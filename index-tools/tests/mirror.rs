//! `ratchet-index mirror SRC DST` (index-format.md §6.12): a verified copy that is a complete
//! registry, incremental on the next run, resumable, a subset by id pattern or lockfile, and
//! refusing a tampered source before anything of it is exposed. Sources: a directory, and a
//! signed registry served over HTTP by Python's `http.server` on loopback (python3 is a Debian
//! package that scripts/setup.sh installs).

mod common;

use common::{Bundle, TestRegistry, assert_consistent};
use ratchet_formats::index::{archive_path, index_path, prefetch_path};
use ratchet_publish::Registry;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn index(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ratchet-index"))
        .args(args)
        .env_remove("RATCHET_KEY_PASSWORD")
        .output()
        .unwrap()
}

/// Runs `mirror SRC DST EXTRA... --format json` and returns its report.
fn mirror(src: &str, dst: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["mirror", src, dst.to_str().unwrap(), "--format", "json"];
    args.extend_from_slice(extra);
    let o = index(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The registry files a mirror copies, with their bytes.
fn registry_files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut m = common::snapshot(dir);
    m.retain(|k, _| {
        k == "config.json"
            || k == "names.txt"
            || k.starts_with("index/")
            || k.starts_with("meta/")
            || k.starts_with("prefetch/")
            || k.starts_with("archives/")
    });
    m
}

fn signed_registry(work: &Path) -> (TestRegistry, ratchet_trust::SecretKey) {
    let key = ratchet_testkit::secret_key(&work.join("keys"), "author");
    let reg = TestRegistry::new(work);
    Bundle::new("com.example.base", "1.0.0").publish_signed(&reg, &key);
    Bundle::new("com.example.lib", "1.0.0")
        .dep("com.example.base", "^1")
        .publish_signed(&reg, &key);
    Bundle::new("com.example.app", "1.0.0")
        .dep("com.example.lib", "^1")
        .publish_signed(&reg, &key);
    Bundle::new("com.other.tool", "1.0.0").publish_signed(&reg, &key);
    (reg, key)
}

#[test]
fn mirror_of_a_directory_is_verified_complete_incremental_and_resumable() {
    let t = tempfile::tempdir().unwrap();
    let (reg, key) = signed_registry(t.path());
    let src = reg.dir();
    let dst = t.path().join("mirror");
    let r = mirror(src.to_str().unwrap(), &dst, &[]);
    assert_eq!(r["bundles"], 4, "{r}");
    assert_eq!(r["archives_copied"], 4, "{r}");
    assert_eq!(registry_files(&dst), registry_files(&src));
    assert_consistent(&Registry::open(&dst).unwrap());
    // Nothing changed: nothing copied, nothing written.
    let r = mirror(src.to_str().unwrap(), &dst, &[]);
    assert_eq!(r["archives_copied"], 0, "{r}");
    assert_eq!(r["archives_present"], 4, "{r}");
    assert_eq!(r["files_written"].as_array().unwrap().len(), 0, "{r}");
    // One publish: one archive and the files it changed (the mirror computes the prefetch
    // hint of the bundle it wrote, which now names the new release: the same as the source's).
    Bundle::new("com.example.app", "1.1.0")
        .dep("com.example.lib", "^1")
        .publish_signed(&reg, &key);
    let r = mirror(src.to_str().unwrap(), &dst, &[]);
    assert_eq!(r["archives_copied"], 1, "{r}");
    let app_id = "com.example.app".parse().unwrap();
    let (app, hint) = (index_path(&app_id), prefetch_path(&app_id));
    assert_eq!(r["files_written"], serde_json::json!([app, hint]), "{r}");
    assert_eq!(registry_files(&dst), registry_files(&src));
    // An interrupted run (archives written, index files not yet): running again finishes it.
    std::fs::remove_dir_all(dst.join("index")).unwrap();
    let line = reg
        .reg
        .bundle(&"com.example.base".parse().unwrap())
        .unwrap()
        .versions[0]
        .clone();
    std::fs::remove_file(dst.join(archive_path(&line.sha256))).unwrap();
    let r = mirror(src.to_str().unwrap(), &dst, &[]);
    assert_eq!(r["archives_copied"], 1, "{r}");
    assert_eq!(registry_files(&dst), registry_files(&src));
    assert_consistent(&Registry::open(&dst).unwrap());
}

#[test]
fn a_tampered_or_unsigned_source_is_refused_before_anything_is_exposed() {
    let t = tempfile::tempdir().unwrap();
    let (reg, key) = signed_registry(t.path());
    let src = reg.dir();
    let dst = t.path().join("mirror");
    mirror(src.to_str().unwrap(), &dst, &[]);
    let before = registry_files(&dst);
    // A new version whose archive the source then swaps for other bytes.
    let line = Bundle::new("com.example.app", "1.1.0")
        .dep("com.example.lib", "^1")
        .publish_signed(&reg, &key);
    let archive = src.join(archive_path(&line.sha256));
    let mut bytes = std::fs::read(&archive).unwrap();
    let n = bytes.len() - 1;
    bytes[n] ^= 0x20;
    std::fs::write(&archive, bytes).unwrap();
    let o = index(&["mirror", src.to_str().unwrap(), dst.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("sha256"), "{}", text(&o.stderr));
    assert_eq!(registry_files(&dst), before, "the mirror changed");
    // An unsigned bundle: refused unless asked for, from a local directory.
    let u = TestRegistry::new(&t.path().join("u"));
    Bundle::new("com.example.plain", "1.0.0").publish(&u);
    let udst = t.path().join("umirror");
    let o = index(&["mirror", u.dir().to_str().unwrap(), udst.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("not signed"),
        "{}",
        text(&o.stderr)
    );
    assert!(!udst.join("names.txt").exists());
    let r = mirror(u.dir().to_str().unwrap(), &udst, &["--allow-unsigned"]);
    assert_eq!(r["archives_copied"], 1, "{r}");
    // A metadata line (index-format.md §6.3.1) that says other than the metadata file the
    // mirror checks archives against: refused, naming the index file.
    let plain = "com.example.plain".parse().unwrap();
    u.reg
        .deprecate(&plain, "old", None, "2026-01-02T00:00:00Z")
        .unwrap();
    let idx = u.dir().join(index_path(&plain));
    let mut meta = ratchet_formats::index::BundleMeta::new(plain.clone());
    meta.deprecated = Some(ratchet_formats::index::Deprecation {
        message: "something else".into(),
        replacement: None,
        since: "2026-01-02T00:00:00Z".into(),
    });
    let swapped =
        ratchet_formats::index::with_meta_line(&std::fs::read(&idx).unwrap(), Some(&meta));
    std::fs::write(&idx, swapped).unwrap();
    let o = index(&[
        "mirror",
        u.dir().to_str().unwrap(),
        t.path().join("m2").to_str().unwrap(),
        "--allow-unsigned",
    ]);
    assert!(!o.status.success());
    let said = text(&o.stderr);
    assert!(
        said.contains("metadata line") && said.contains(&index_path(&plain)),
        "{said}"
    );
}

#[test]
fn subsets_by_id_pattern_take_dependencies_and_by_lockfile_only_locked_versions() {
    let t = tempfile::tempdir().unwrap();
    let (reg, key) = signed_registry(t.path());
    Bundle::new("com.example.app", "1.1.0")
        .dep("com.example.lib", "^1")
        .publish_signed(&reg, &key);
    let src = reg.dir();
    let dst = t.path().join("apps");
    let r = mirror(src.to_str().unwrap(), &dst, &["--id", "com.example.app"]);
    assert_eq!(r["bundles"], 3, "{r}");
    let names = std::fs::read_to_string(dst.join("names.txt")).unwrap();
    assert!(!names.contains("com.other.tool"), "{names}");
    assert!(names.contains("com.example.base"), "{names}");
    assert_consistent(&Registry::open(&dst).unwrap());
    // A lockfile naming app 1.0.0 and its dependencies: only those versions.
    let locked: Vec<Value> = ["com.example.app", "com.example.base", "com.example.lib"]
        .iter()
        .map(|id| {
            let b = reg.reg.bundle(&id.parse().unwrap()).unwrap();
            let l = &b.versions[0];
            serde_json::json!({"id": id, "version": l.version.to_string(), "sha256": l.sha256,
                               "size": l.size, "registry": "file:///x/"})
        })
        .collect();
    let lock =
        serde_json::json!({"v": 1, "requested": {"com.example.app": "^1"}, "bundles": locked});
    let lockfile = t.path().join("ratchet.lock");
    std::fs::write(&lockfile, lock.to_string()).unwrap();
    let ldst = t.path().join("locked");
    let r = mirror(
        src.to_str().unwrap(),
        &ldst,
        &["--lockfile", lockfile.to_str().unwrap()],
    );
    assert_eq!(r["versions"], 3, "{r}");
    let app = std::fs::read_to_string(ldst.join(index_path(&"com.example.app".parse().unwrap())))
        .unwrap();
    assert!(app.contains("\"1.0.0\"") && !app.contains("1.1.0"), "{app}");
    assert_consistent(&Registry::open(&ldst).unwrap());
    let o = index(&["mirror", src.to_str().unwrap(), "x", "--id", "Bad Pattern"]);
    assert!(!o.status.success());
}

/// Python's `http.server` serving `dir` on a free loopback port; stopped on drop.
struct Http {
    child: std::process::Child,
    port: u16,
}

impl Drop for Http {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http(dir: &Path) -> Http {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1"])
        .arg(port.to_string())
        .arg("--directory")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < until,
            "http.server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Http { child, port }
}

#[test]
fn mirror_over_http_checks_the_signed_snapshot_and_refuses_an_unlogged_change() {
    if !common::require_tool("python3", "python3", "python3") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let work = t.path();
    let rkey = ratchet_testkit::secret_key(&work.join("rkeys"), "registry");
    drop(rkey);
    let rkey = work.join("rkeys/registry.key");
    let src = work.join("src");
    let o = index(&[
        "init",
        src.to_str().unwrap(),
        "--origin",
        "mirror.test",
        "--registry-key",
        rkey.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let author = ratchet_testkit::secret_key(&work.join("akeys"), "author");
    let publish = |b: Bundle, n: &str| {
        let a = b.build_signed(&work.join(n), &author);
        let o = index(&[
            "publish",
            src.to_str().unwrap(),
            a.to_str().unwrap(),
            "--owner-key",
            work.join("akeys/author.pub").to_str().unwrap(),
            "--registry-key",
            rkey.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    };
    publish(Bundle::new("com.example.base", "1.0.0"), "b1");
    publish(
        Bundle::new("com.example.app", "1.0.0").dep("com.example.base", "^1"),
        "b2",
    );
    let server = http(&src);
    let url = format!("http://127.0.0.1:{}/", server.port);
    let dst = work.join("mirror");
    let r = mirror(&url, &dst, &[]);
    assert_eq!(r["signed"], true, "{r}");
    assert_eq!(r["archives_copied"], 2, "{r}");
    let first_requests = r["requests"].as_u64().unwrap();
    assert_consistent(&Registry::open(&dst).unwrap());
    // No change: conditional requests only, no archive.
    let r = mirror(&url, &dst, &[]);
    assert_eq!(r["archives_copied"], 0, "{r}");
    eprintln!(
        "mirror over HTTP: first run {first_requests} requests; unchanged run {} requests, {} bytes",
        r["requests"], r["bytes"]
    );
    // The server's operator edits an index file without logging it (un-yank, say): refused.
    let app = src.join(index_path(&"com.example.app".parse().unwrap()));
    let original = std::fs::read_to_string(&app).unwrap();
    let edited = original.replace("\"yanked\":false", "\"yanked\":true");
    assert_ne!(edited, original);
    std::fs::write(&app, edited).unwrap();
    // An edit made later than the mirror's copy: the test server's Last-Modified counts
    // seconds, and this test runs within one.
    std::fs::File::options()
        .write(true)
        .open(&app)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(2))
        .unwrap();
    let before = registry_files(&dst);
    // While the signed timestamp is unchanged the mirror keeps its verified copies (one
    // request), so the edit does not reach it.
    let r = mirror(&url, &dst, &[]);
    assert_eq!(r["requests"], 1, "{r}");
    assert_eq!(registry_files(&dst), before);
    // Once a publish moves the snapshot, the edited file is fetched, fails its proof against
    // the signed state map, and the run is refused with nothing exposed.
    publish(Bundle::new("com.example.more", "1.0.0"), "b3");
    // Once a publish moves the snapshot, the run is incremental: it reads the files the log's
    // new entries name (the new bundle's), checked against the signed state, and not the
    // edited one, which the log does not name: the mirror keeps its verified copy.
    let r = mirror(&url, &dst, &[]);
    assert!(r["incremental_from"].is_u64(), "{r}");
    assert_eq!(r["bundles"], 1, "{r}");
    assert_eq!(r["archives_copied"], 1, "{r}");
    let rel = index_path(&"com.example.app".parse().unwrap());
    assert_eq!(registry_files(&dst)[&rel], original.as_bytes());
    let more: ratchet_formats::manifest::BundleId = "com.example.more".parse().unwrap();
    assert!(dst.join(index_path(&more)).is_file());
    assert!(
        std::fs::read_to_string(dst.join("names.txt"))
            .unwrap()
            .ends_with("com.example.more\n")
    );
    assert_consistent(&Registry::open(&dst).unwrap());
    // A run that revalidates everything (a new mirror) fetches the edited file, which fails
    // its proof against the signed state map: refused with nothing exposed.
    let fresh = work.join("fresh");
    let o = index(&["mirror", &url, fresh.to_str().unwrap()]);
    assert!(!o.status.success(), "{}", text(&o.stdout));
    assert!(text(&o.stderr).contains("index/"), "{}", text(&o.stderr));
    assert!(!fresh.join(&rel).exists());
}
