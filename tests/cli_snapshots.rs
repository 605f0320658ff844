//! Snapshots of what `ratchet` prints, text and `--format json`, for the main commands on
//! fixtures built by `ratchet-testkit`: `bundle validate` (valid and invalid), `build`,
//! `inspect`, `install --dry-run` and `install` from a local registry, `list`, `outdated`,
//! `info`, a refused `publish` and the top-level `--help`. Each snapshot holds the exit code,
//! stdout and stderr; `tests/common/snap.rs` lists the redactions (work directory, hashes, key
//! ids, times, the tool's version). The archives are signed by the committed sample key, whose
//! signatures differ from run to run (minisign adds random noise), so output about signed
//! archives has its sizes redacted too.
//!
//! A change of output shows as a snapshot diff: review it, then accept it with
//! `INSTA_UPDATE=always cargo test --test cli_snapshots` (or `cargo insta review`).

mod common;
#[path = "common/snap.rs"]
mod snap;

use common::{ratchet, ratchet_env};
use insta::assert_snapshot;
use ratchet_testkit::{Bundle, TestRegistry};
use ratchet_trust::keys::SecretKey;
use std::path::{Path, PathBuf};

/// The committed sample signing key (deliberately public; see `sample-keys/README.md`).
fn sample_key() -> SecretKey {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-keys/sample-author.key");
    SecretKey::load(&p).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `ratchet ARGS` in `home`, rendered for a snapshot.
fn run(work: &Path, home: &Path, args: &[&str]) -> String {
    snap::render(&ratchet(home, args), work)
}

/// `ratchet --format json ARGS` in `home`, rendered for a snapshot.
fn run_json(work: &Path, home: &Path, args: &[&str]) -> String {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    run(work, home, &all)
}

#[test]
fn top_level_help() {
    let t = tempfile::tempdir().unwrap();
    let _g = snap::settings().bind_to_scope();
    // Wide enough that clap's wrapping does not depend on the terminal.
    let o = ratchet_env(t.path(), &["--help"], &[("COLUMNS", "100")]);
    assert!(o.status.success());
    assert_snapshot!("help", snap::render(&o, t.path()));
}

#[test]
fn validate_a_valid_and_an_invalid_bundle() {
    let t = tempfile::tempdir().unwrap();
    let (work, home) = (t.path(), t.path().join("home"));
    let _g = snap::settings().bind_to_scope();
    let good = Bundle::new("com.snap.good", "1.0.0")
        .description("Sums numbers")
        .write(work);
    assert_snapshot!(
        "validate_valid",
        run(work, &home, &["bundle", "validate", s(&good)])
    );
    assert_snapshot!(
        "validate_valid_json",
        run_json(work, &home, &["bundle", "validate", s(&good)])
    );
    // Two problems at once: a task without code and a dependency on itself.
    let bad = Bundle::new("com.snap.bad", "1.0.0")
        .dep("com.snap.bad", "^1")
        .edit(|d| std::fs::remove_file(d.join("tasks/addition/main.js")).unwrap())
        .write(work);
    let text = run(work, &home, &["bundle", "validate", s(&bad)]);
    assert!(text.starts_with("exit: 1\n"), "{text}");
    assert_snapshot!("validate_invalid", text);
    assert_snapshot!(
        "validate_invalid_json",
        run_json(work, &home, &["bundle", "validate", s(&bad)])
    );
}

#[test]
fn build_and_inspect() {
    let t = tempfile::tempdir().unwrap();
    let (work, home) = (t.path(), t.path().join("home"));
    let _g = snap::settings().bind_to_scope();
    let src = Bundle::new("com.snap.tools", "1.2.0")
        .description("Tools for snapshots")
        .keyword("snapshot")
        .readme("# com.snap.tools\n\nTools for snapshots.\n")
        .write(work);
    let out_text = format!("{}/", work.join("out-text").display());
    let out_json = format!("{}/", work.join("out-json").display());
    assert_snapshot!(
        "build",
        run(work, &home, &["bundle", "build", s(&src), "-o", &out_text])
    );
    assert_snapshot!(
        "build_json",
        run_json(work, &home, &["bundle", "build", s(&src), "-o", &out_json])
    );
    let archive = work.join("out-text/com.snap.tools-1.2.0.rbundle");
    // The build is reproducible: both archives are the same bytes.
    assert_eq!(
        std::fs::read(&archive).unwrap(),
        std::fs::read(work.join("out-json/com.snap.tools-1.2.0.rbundle")).unwrap()
    );
    assert_snapshot!(
        "inspect",
        run(work, &home, &["bundle", "inspect", s(&archive)])
    );
    assert_snapshot!(
        "inspect_json",
        run_json(work, &home, &["bundle", "inspect", s(&archive)])
    );
}

/// A local registry with `com.snap.lib` 1.0.0 and `com.snap.app` 1.0.0 (needs lib ^1), signed
/// by the sample key.
fn registry(work: &Path) -> (TestRegistry, PathBuf) {
    let reg = TestRegistry::new(work);
    let key = sample_key();
    Bundle::new("com.snap.lib", "1.0.0")
        .description("A library")
        .publish_signed(&reg, &key);
    Bundle::new("com.snap.app", "1.0.0")
        .description("An application")
        .dep("com.snap.lib", "^1")
        .publish_signed(&reg, &key);
    let dir = reg.dir();
    (reg, dir)
}

#[test]
fn install_list_outdated_and_info_from_a_local_registry() {
    let t = tempfile::tempdir().unwrap();
    let (work, home) = (t.path(), t.path().join("home"));
    let _g = snap::settings_signed().bind_to_scope();
    let (reg, dir) = registry(work);
    let r = s(&dir);
    let install = ["bundle", "install", "com.snap.app", "--registry", r];

    let dry: Vec<&str> = install.iter().copied().chain(["--dry-run"]).collect();
    assert_snapshot!("install_dry_run", run(work, &home, &dry));
    assert_snapshot!("install_dry_run_json", run_json(work, &home, &dry));
    assert!(!home.join("installed.json").exists());

    let yes: Vec<&str> = install.iter().copied().chain(["-y"]).collect();
    assert_snapshot!("install", run(work, &home, &yes));
    // The same install in another home, as JSON.
    let home_json = work.join("home-json");
    assert_snapshot!("install_json", run_json(work, &home_json, &yes));

    assert_snapshot!("list", run(work, &home, &["bundle", "list"]));
    assert_snapshot!("list_json", run_json(work, &home, &["bundle", "list"]));

    // A newer lib makes the installed one outdated.
    Bundle::new("com.snap.lib", "1.1.0")
        .description("A library")
        .publish_signed(&reg, &sample_key());
    let outdated = ["bundle", "outdated", "--registry", r];
    assert_snapshot!("outdated", run(work, &home, &outdated));
    assert_snapshot!("outdated_json", run_json(work, &home, &outdated));

    let info = ["bundle", "info", "com.snap.lib", "--registry", r];
    assert_snapshot!("info", run(work, &home, &info));
    assert_snapshot!("info_json", run_json(work, &home, &info));
}

#[test]
fn a_refused_publish() {
    let t = tempfile::tempdir().unwrap();
    let (work, home) = (t.path(), t.path().join("home"));
    let _g = snap::settings().bind_to_scope();
    let (_reg, dir) = registry(work);
    // The same version again: versions are immutable.
    let again = work.join("out/com.snap.lib-1.0.0.rbundle");
    let args = ["bundle", "publish", s(&again), "--registry", s(&dir)];
    let before = ratchet_testkit::snapshot(&dir);
    let text = run(work, &home, &args);
    assert!(text.starts_with("exit: 1\n"), "{text}");
    assert_snapshot!("publish_refused", text);
    assert_snapshot!("publish_refused_json", run_json(work, &home, &args));
    assert_eq!(ratchet_testkit::snapshot(&dir), before);
}

#[test]
fn an_install_refused_for_an_unsigned_archive() {
    let t = tempfile::tempdir().unwrap();
    let (work, home) = (t.path(), t.path().join("home"));
    let _g = snap::settings().bind_to_scope();
    let reg = TestRegistry::new(work);
    Bundle::new("com.snap.plain", "1.0.0").publish(&reg);
    let dir = reg.dir();
    let args = [
        "bundle",
        "install",
        "com.snap.plain",
        "--registry",
        s(&dir),
        "-y",
    ];
    let text = run(work, &home, &args);
    assert!(text.starts_with("exit: 1\n"), "{text}");
    assert_snapshot!("install_refused_unsigned", text);
    assert_snapshot!(
        "install_refused_unsigned_json",
        run_json(work, &home, &args)
    );
    // Nothing was installed.
    let list = ratchet(&home, &["--format", "json", "bundle", "list"]);
    assert_eq!(common::text(&list.stdout).trim(), "{}");
}

#[test]
fn validate_shows_a_yaml_mistake_with_a_caret() {
    let t = tempfile::tempdir().unwrap();
    let (work, home) = (t.path(), t.path().join("home"));
    let _g = snap::settings().bind_to_scope();
    let dir = Bundle::new("com.snap.yaml", "1.0.0")
        .edit(|d| {
            let p = d.join("bundle.yaml");
            let text = std::fs::read_to_string(&p).unwrap();
            // A tab for indentation, which YAML does not allow.
            std::fs::write(&p, text.replacen("  version:", "\tversion:", 1)).unwrap();
        })
        .write(work);
    let text = run(work, &home, &["bundle", "validate", s(&dir)]);
    assert!(text.starts_with("exit: 1\n"), "{text}");
    assert_snapshot!("validate_yaml_tab", text);
}
