//! Hosting a registry (index-format.md §6.9-6.10): the `.gitignore` that `init` writes, the
//! two-pass rsync recipe of §6.9 run exactly as documented, and git-hosted registries in the
//! client (`git+file://`, and `git+git://` served by a real `git daemon` on loopback), each
//! verified as any registry is.
//!
//! rsync and git are Debian packages that scripts/setup.sh installs; a missing one fails these
//! tests unless `RATCHET_TEST_SKIP` lists `rsync` or `git` (tests/common/tools.rs).

mod common;

use common::{install_from, text};
use ratchet_formats::index::LOCK_FILE;
use ratchet_testkit::{Bundle, TestRegistry, snapshot};
use std::path::Path;
use std::process::Command;

/// Runs `git ARGS` in `dir`, panicking with its stderr when it fails; returns its stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
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

/// A registry of three bundles (a dependency chain) in `work/reg`.
fn registry(work: &Path) -> TestRegistry {
    let reg = TestRegistry::new(work);
    Bundle::new("com.example.base", "1.0.0").publish(&reg);
    Bundle::new("com.example.lib", "1.0.0")
        .dep("com.example.base", "^1")
        .publish(&reg);
    Bundle::new("com.example.app", "1.0.0")
        .dep("com.example.lib", "^1")
        .publish(&reg);
    reg
}

#[test]
fn init_writes_a_gitignore_for_lock_pending_and_temporary_files() {
    if !common::require_tool("git", "git", "git") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let reg = registry(t.path());
    let dir = reg.dir();
    let ignore = std::fs::read_to_string(dir.join(".gitignore")).unwrap();
    assert_eq!(ignore, ratchet_publish::GITIGNORE);
    git(&dir, &["init", "-q"]);
    for f in [
        LOCK_FILE,
        ".ratchet-index.pending",
        ".tmp-abc",
        "index/.tmp-x",
    ] {
        std::fs::write(dir.join(f), b"x").unwrap();
    }
    git(&dir, &["add", "-A"]);
    let staged = git(&dir, &["diff", "--cached", "--name-only"]);
    assert!(staged.contains("config.json"), "{staged}");
    assert!(staged.contains("names.txt"), "{staged}");
    assert!(staged.contains("archives/"), "{staged}");
    for f in [LOCK_FILE, ".ratchet-index.pending", ".tmp-abc", ".tmp-x"] {
        assert!(!staged.contains(f), "{f} staged: {staged}");
    }
}

#[test]
fn init_starts_a_registry_in_a_fresh_clone_but_not_in_another_non_empty_directory() {
    let t = tempfile::tempdir().unwrap();
    let clone = t.path().join("clone");
    std::fs::create_dir_all(clone.join(".git")).unwrap();
    ratchet_publish::Registry::init(
        &clone,
        "x",
        ratchet_formats::index::RegistryKind::Local,
        None,
    )
    .unwrap();
    assert!(clone.join("config.json").is_file());
    let other = t.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), b"x").unwrap();
    assert!(matches!(
        ratchet_publish::Registry::init(
            &other,
            "x",
            ratchet_formats::index::RegistryKind::Local,
            None
        ),
        Err(ratchet_publish::PublishError::DirectoryNotEmpty { .. })
    ));
}

/// The shell lines of index-format.md's rsync recipe (the code block after "runs exactly these
/// lines").
fn rsync_recipe() -> String {
    let spec =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("index-format.md"))
            .unwrap();
    let at = spec
        .find("runs exactly these lines")
        .expect("index-format.md §6.9 has the rsync recipe");
    let rest = &spec[at..];
    let start = rest.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let end = rest[start..].find("```").unwrap();
    rest[start..start + end].to_string()
}

#[test]
fn the_documented_rsync_recipe_copies_archives_first_and_leaves_lock_and_temporary_files() {
    if !common::require_tool("rsync", "rsync", "rsync") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let reg = registry(t.path());
    let src = reg.dir();
    // What a publisher in progress (or killed) leaves, and a git working tree.
    for f in [
        LOCK_FILE,
        ".ratchet-index.pending",
        ".tmp-abc",
        "archives/.tmp-half",
    ] {
        std::fs::write(src.join(f), b"partial").unwrap();
    }
    std::fs::create_dir_all(src.join(".git/objects")).unwrap();
    std::fs::write(src.join(".git/HEAD"), b"ref: refs/heads/main\n").unwrap();
    let dst = t.path().join("mirror");
    // A stale temporary file on the mirror is not a reason to fail, and is left alone.
    let recipe = rsync_recipe();
    assert!(recipe.contains("rsync"), "{recipe}");
    let run = |recipe: &str| {
        let o = Command::new("sh")
            .args(["-eu", "-c", recipe])
            .env("SRC", &src)
            .env("DST", &dst)
            .output()
            .unwrap();
        assert!(o.status.success(), "{recipe}\n{}", text(&o.stderr));
    };
    run(&recipe);
    let mut expected = snapshot(&src);
    expected.retain(|k, _| {
        !k.starts_with(".git/") && !k.contains(".tmp-") && !k.starts_with(".ratchet-index.")
    });
    let got = snapshot(&dst);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    assert_eq!(got, expected);
    assert!(!dst.join(LOCK_FILE).exists());
    // The mirror is a complete registry: it verifies and installs.
    let report = ratchet_publish::Registry::open(&dst).unwrap().verify();
    assert!(report.errors().next().is_none(), "{report:?}");
    let home = t.path().join("home");
    let o = common::ratchet(
        &home,
        &[
            "bundle",
            "install",
            "com.example.app",
            "--registry",
            dst.to_str().unwrap(),
            "-y",
            "--allow-unsigned",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    // A second run after a publish copies the new files (the recipe is incremental).
    Bundle::new("com.example.app", "1.1.0")
        .dep("com.example.lib", "^1")
        .publish(&reg);
    run(&recipe);
    let mut expected = snapshot(&src);
    expected.retain(|k, _| {
        !k.starts_with(".git/") && !k.contains(".tmp-") && !k.starts_with(".ratchet-index.")
    });
    let got = snapshot(&dst);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    let differ: Vec<_> = got.keys().filter(|k| got[*k] != expected[*k]).collect();
    assert!(differ.is_empty(), "{differ:?}");
}

/// A `git daemon` serving `base` on a loopback port (push enabled), stopped on drop.
pub struct GitDaemon {
    child: std::process::Child,
    /// Its port.
    pub port: u16,
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl GitDaemon {
    /// Starts `git daemon` on a free loopback port and waits until it accepts connections.
    pub fn start(base: &Path) -> GitDaemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("git")
            .arg("daemon")
            .arg("--reuseaddr")
            .arg("--export-all")
            .arg("--enable=receive-pack")
            .arg("--listen=127.0.0.1")
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
        GitDaemon { child, port }
    }
}

/// A signed registry of three bundles, committed in a bare repository `work/reg.git` (branch
/// `main`); returns the registry (its directory is the publishing clone) and the owner key.
fn git_registry(work: &Path) -> (TestRegistry, ratchet_trust::SecretKey) {
    let key = ratchet_testkit::secret_key(&work.join("keys"), "author");
    let reg = TestRegistry::new(work);
    Bundle::new("com.example.base", "1.0.0").publish_signed(&reg, &key);
    Bundle::new("com.example.lib", "1.0.0")
        .dep("com.example.base", "^1")
        .publish_signed(&reg, &key);
    Bundle::new("com.example.app", "1.0.0")
        .dep("com.example.lib", "^1")
        .publish_signed(&reg, &key);
    let dir = reg.dir();
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", "registry"]);
    git(work, &["clone", "-q", "--bare", "reg", "reg.git"]);
    git(&dir, &["remote", "add", "origin", "../reg.git"]);
    git(&dir, &["fetch", "-q", "origin"]);
    git(&dir, &["branch", "-q", "-u", "origin/main"]);
    (reg, key)
}

fn installed(home: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(home.join("data/installed.json")).unwrap()).unwrap()
}

#[test]
fn installs_from_a_git_file_registry_and_fetches_only_what_changed() {
    if !common::require_tool("git", "git", "git") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (reg, key) = git_registry(t.path());
    let url = format!(
        "git+file://{}#branch=main",
        t.path().join("reg.git").display()
    );
    let home = t.path().join("home");
    let o = install_from(&home, "com.example.app", &url);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let state = installed(&home);
    assert_eq!(state["bundles"]["com.example.app"]["version"], "1.0.0");
    let recorded = state["bundles"]["com.example.app"]["registry"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(recorded.starts_with("git+file://"), "{recorded}");
    assert!(recorded.ends_with("#branch=main"), "{recorded}");
    // A registry in git is not a local directory: unsigned bundles are not let in.
    Bundle::new("com.example.unsigned", "1.0.0").publish(&reg);
    // A new version, committed and pushed by the publisher.
    Bundle::new("com.example.app", "1.1.0")
        .dep("com.example.lib", "^1")
        .publish_signed(&reg, &key);
    git(&reg.dir(), &["add", "-A"]);
    git(&reg.dir(), &["commit", "-q", "-m", "publish"]);
    git(&reg.dir(), &["push", "-q", "origin", "main"]);
    let o = common::ratchet(&home, &["bundle", "update", "--registry", &url, "-y"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        installed(&home)["bundles"]["com.example.app"]["version"],
        "1.1.0"
    );
    let o = common::ratchet(
        &home,
        &[
            "bundle",
            "install",
            "com.example.unsigned",
            "--registry",
            &url,
            "-y",
            "--allow-unsigned",
        ],
    );
    common::assert_fails_with(&o, "not signed");
    // The checkout is shallow: one commit, the newest.
    let checkout = std::fs::read_dir(home.join("cache/git"))
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    assert!(checkout.join(".git/shallow").is_file());
    assert_eq!(git(&checkout, &["rev-list", "--count", "HEAD"]).trim(), "1");
    // Offline: the checkout answers, nothing is fetched.
    let o = common::ratchet(
        &home,
        &[
            "bundle",
            "install",
            "com.example.lib",
            "--registry",
            &url,
            "-y",
            "--offline",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
}

#[test]
fn installs_over_git_daemon_from_a_revision_and_refuses_a_tampered_archive() {
    if !common::require_tool("git", "git", "git") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (reg, _key) = git_registry(t.path());
    let rev = git(&reg.dir(), &["rev-parse", "HEAD"]).trim().to_string();
    let daemon = GitDaemon::start(t.path());
    let url = format!("git+git://127.0.0.1:{}/reg.git#rev={rev}", daemon.port);
    let home = t.path().join("home");
    let o = install_from(&home, "com.example.app", &url);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        installed(&home)["bundles"]["com.example.lib"]["version"],
        "1.0.0"
    );
    // A commit that swaps an archive's bytes (same path, other content) is refused.
    let line = reg
        .reg
        .bundle(&"com.example.base".parse().unwrap())
        .unwrap()
        .versions[0]
        .clone();
    let archive = reg.dir().join(format!(
        "archives/{}/{}.rbundle",
        &line.sha256[..2],
        line.sha256
    ));
    let mut bytes = std::fs::read(&archive).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&archive, bytes).unwrap();
    git(&reg.dir(), &["commit", "-q", "-am", "tamper"]);
    git(&reg.dir(), &["push", "-q", "origin", "main"]);
    let other = t.path().join("home2");
    let url = format!("git+git://127.0.0.1:{}/reg.git#branch=main", daemon.port);
    let o = install_from(&other, "com.example.base", &url);
    common::assert_fails_with(&o, "sha256");
    assert!(!other.join("data/installed.json").exists());
}

#[test]
fn bad_git_urls_are_refused_with_the_reason() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    for (url, needle) in [
        (
            "git+https://example.invalid/r.git#branch=--upload-pack=x",
            "not a branch or tag name",
        ),
        (
            "git+https://example.invalid/r.git#rev=xyz",
            "not a commit id",
        ),
        (
            "git+https://example.invalid/r.git#commit=abc",
            "unknown key `commit`",
        ),
        ("git+ftp://example.invalid/r.git", "git+https://"),
    ] {
        let o = install_from(&home, "com.example.app", url);
        common::assert_fails_with(&o, needle);
    }
    // A git registry that cannot be fetched says what git said.
    let missing = format!(
        "git+file://{}#branch=main",
        t.path().join("nope.git").display()
    );
    let o = install_from(&home, "com.example.app", &missing);
    common::assert_fails_with(&o, "git fetch");
}

#[test]
fn vendor_round_trip_installs_the_locked_closure_offline_with_every_check() {
    if !common::require_tool("git", "git", "git") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (reg, key) = git_registry(t.path());
    // A newer version that the lockfile does not name stays out of the tar file.
    Bundle::new("com.example.app", "2.0.0")
        .dep("com.example.lib", "^1")
        .publish_signed(&reg, &key);
    let url = format!(
        "git+file://{}#branch=main",
        t.path().join("reg.git").display()
    );
    let online = t.path().join("online");
    let o = common::ratchet(
        &online,
        &[
            "bundle",
            "install",
            "com.example.app@^1",
            "--registry",
            &url,
            "-y",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let tar = t.path().join("out/vendor.tar");
    std::fs::create_dir_all(tar.parent().unwrap()).unwrap();
    let o = common::ratchet(
        &online,
        &[
            "bundle",
            "vendor",
            "-o",
            tar.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let packed: Vec<&str> = v["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert_eq!(packed.len(), 3, "{v}");
    assert_eq!(
        std::fs::metadata(&tar).unwrap().len(),
        v["tar_bytes"].as_u64().unwrap()
    );
    // The other machine: the tar file becomes a registry, and the lockfile installs from it.
    let lockfile = online.join("data/ratchet.lock");
    let offline = t.path().join("offline");
    let o = common::ratchet(
        &offline,
        &[
            "registry",
            "add",
            "usb",
            tar.to_str().unwrap(),
            "--kind",
            "local",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = common::ratchet(
        &offline,
        &[
            "bundle",
            "install",
            "--locked",
            "--lockfile",
            lockfile.to_str().unwrap(),
            "--registry",
            "usb",
            "-y",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let a = installed(&online);
    let b = installed(&offline);
    for id in ["com.example.app", "com.example.lib", "com.example.base"] {
        assert_eq!(
            a["bundles"][id]["sha256"], b["bundles"][id]["sha256"],
            "{id}"
        );
        assert_eq!(b["bundles"][id]["version"], "1.0.0", "{id}");
    }
    let vendored = offline.join("data/registries/usb");
    let r = ratchet_publish::Registry::open(&vendored).unwrap().verify();
    assert!(r.is_ok(), "{r:?}");
    assert!(
        !std::fs::read_to_string(vendored.join(ratchet_formats::index::index_path(
            &"com.example.app".parse().unwrap()
        )))
        .unwrap()
        .contains("2.0.0")
    );
    // A tampered archive in the vendored registry is refused at install.
    let third = t.path().join("third");
    let o = common::ratchet(
        &third,
        &[
            "registry",
            "add",
            "usb",
            tar.to_str().unwrap(),
            "--kind",
            "local",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let sha = a["bundles"]["com.example.base"]["sha256"].as_str().unwrap();
    let archive = third.join(format!(
        "data/registries/usb/archives/{}/{sha}.rbundle",
        &sha[..2]
    ));
    let mut bytes = std::fs::read(&archive).unwrap();
    let n = bytes.len() - 1;
    bytes[n] ^= 1;
    std::fs::write(&archive, bytes).unwrap();
    let o = common::ratchet(
        &third,
        &[
            "bundle",
            "install",
            "com.example.app",
            "--registry",
            "usb",
            "-y",
        ],
    );
    common::assert_fails_with(&o, "sha256");
    // A tar file that is not a vendored registry is refused, and nothing is added.
    let junk = t.path().join("junk.tar");
    std::fs::write(&junk, b"not a tar file at all").unwrap();
    let o = common::ratchet(&third, &["registry", "add", "junk", junk.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(!third.join("data/registries/junk").exists());
}

#[test]
fn a_symbolic_link_in_a_git_registry_is_never_followed() {
    if !common::require_tool("git", "git", "git") {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let (reg, _key) = git_registry(t.path());
    // The repository's index file of com.example.base becomes a link to a copy outside the
    // repository: were the link followed, the install would succeed from a file the registry
    // does not hold.
    let rel = ratchet_formats::index::index_path(&"com.example.base".parse().unwrap());
    let inside = reg.dir().join(&rel);
    let outside = t.path().join("outside-index");
    std::fs::copy(&inside, &outside).unwrap();
    std::fs::remove_file(&inside).unwrap();
    std::os::unix::fs::symlink(&outside, &inside).unwrap();
    git(&reg.dir(), &["add", "-A"]);
    git(&reg.dir(), &["commit", "-q", "-m", "link"]);
    git(&reg.dir(), &["push", "-q", "origin", "main"]);
    let url = format!(
        "git+file://{}#branch=main",
        t.path().join("reg.git").display()
    );
    let home = t.path().join("home");
    let o = install_from(&home, "com.example.base", &url);
    assert!(!o.status.success(), "installed through a symbolic link");
    let checkout = std::fs::read_dir(home.join("cache/git"))
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    let meta = std::fs::symlink_metadata(checkout.join(&rel)).unwrap();
    assert!(meta.is_file(), "the checkout holds a link");
    assert_eq!(
        std::fs::read_to_string(checkout.join(&rel)).unwrap(),
        outside.display().to_string()
    );
}
