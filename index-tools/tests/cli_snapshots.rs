//! Snapshots of what `ratchet-index` prints, text and `--format json`: `init`, `publish`,
//! `list`, `verify`, `yank` and `yank --undo`, refused publishes and the top-level `--help`, on
//! archives built by `ratchet-testkit` (unsigned, so reproducible to the byte). Each snapshot
//! holds the exit code, stdout and stderr; `tests/common/snap.rs` (shared with the `ratchet`
//! snapshots) lists the redactions.
//!
//! A change of output shows as a snapshot diff: review it, then accept it with
//! `INSTA_UPDATE=always cargo test -p index-tools --test cli_snapshots`.

mod common;
#[path = "../../tests/common/snap.rs"]
mod snap;

use common::*;
use insta::assert_snapshot;
use std::path::Path;
use std::process::{Command, Output};

fn ri(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ratchet-index"));
    c.args(args).env_remove("NO_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// `ratchet-index ARGS`, with `--format json` first when `json`, rendered for a snapshot.
fn run(work: &Path, json: bool, args: &[&str]) -> String {
    let mut all: Vec<&str> = if json {
        vec!["--format", "json"]
    } else {
        Vec::new()
    };
    all.extend_from_slice(args);
    snap::render(&ri(&all, &[]), work)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn top_level_help() {
    let t = tempfile::tempdir().unwrap();
    let _g = snap::settings().bind_to_scope();
    let o = ri(&["--help"], &[("COLUMNS", "100")]);
    assert!(o.status.success());
    assert_snapshot!("help", snap::render(&o, t.path()));
}

#[test]
fn init_publish_list_verify_and_yank() {
    let t = tempfile::tempdir().unwrap();
    let work = t.path();
    let _g = snap::settings().bind_to_scope();
    let lib = Bundle::new("com.snap.lib", "1.0.0")
        .description("A library")
        .build(work);
    let app = Bundle::new("com.snap.app", "1.0.0")
        .description("An application")
        .dep("com.snap.lib", "^1")
        .build(work);
    // The same steps into two registries, one in text and one in JSON.
    for (json, name) in [(false, ""), (true, "_json")] {
        let reg = work.join(if json { "reg-json" } else { "reg-text" });
        let r = s(&reg);
        let step = |what: &str, args: &[&str]| {
            assert_snapshot!(format!("{what}{name}"), run(work, json, args));
        };
        step("init", &["init", r, "--name", "snap"]);
        step(
            "publish",
            &["publish", r, s(&lib), s(&app), "--publish-time", TIME],
        );
        step("list", &["list", r]);
        step("list_one", &["list", r, "com.snap.lib"]);
        step("verify", &["verify", r]);
        step("yank", &["yank", r, "com.snap.lib", "1.0.0"]);
        step("yank_undo", &["yank", r, "com.snap.lib", "1.0.0", "--undo"]);
    }
}

#[test]
fn refused_publishes() {
    let t = tempfile::tempdir().unwrap();
    let work = t.path();
    let _g = snap::settings().bind_to_scope();
    let reg = TestRegistry::new(work);
    let lib = Bundle::new("com.snap.lib", "1.0.0").build(work);
    reg.publish_file(&lib);
    let dir = reg.dir();
    let before = reg.snapshot();
    let owner = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-keys/sample-author.pub");
    let newer = Bundle::new("com.snap.lib", "1.1.0").build(work);
    for (json, name) in [(false, ""), (true, "_json")] {
        // The same version again: versions are immutable.
        let o = run(work, json, &["publish", s(&dir), s(&lib)]);
        assert!(o.starts_with("exit: 1\n"), "{o}");
        assert_snapshot!(format!("publish_refused_immutable{name}"), o);
        // An owner key for an unsigned archive: owners are recorded only by a signed publish.
        let args = ["publish", s(&dir), s(&newer), "--owner-key", s(&owner)];
        let o = run(work, json, &args);
        assert!(o.starts_with("exit: 1\n"), "{o}");
        assert_snapshot!(format!("publish_refused_owner_key{name}"), o);
    }
    assert_eq!(
        reg.snapshot(),
        before,
        "a refused publish wrote to the registry"
    );
}
