//! `ratchet-index` on a signed registry (index-format.md §9.6): init-log upgrades in place,
//! every change is one log entry with a new checkpoint and timestamp, a change without the
//! registry key is refused with nothing written, `log` shows entries, `timestamp` re-signs,
//! `key rotate` chains the new key, `verify` catches a file changed behind the log's back, and
//! an operation killed after its files were written is completed by the next one.

mod common;

use common::*;
use ratchet_trust::keys;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn ri(args: &[&str], key: Option<&Path>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ratchet-index"));
    c.args(args).env_remove("RATCHET_REGISTRY_KEY");
    if let Some(k) = key {
        c.arg("--registry-key").arg(k);
    }
    c.output().unwrap()
}

fn ok(o: &Output) -> String {
    let t = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "command failed: {t}");
    t
}

/// The kinds of the registry's log entries, in order (`ratchet-index log`).
fn log_kinds(d: &str) -> Vec<String> {
    json(&ri(&["--format", "json", "log", d], None))["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

fn json(o: &Output) -> Value {
    ok(o);
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn signed_registry_lifecycle_through_the_cli() {
    let t = tempfile::tempdir().unwrap();
    let tr = TestRegistry::new(t.path());
    Bundle::new("com.x.lib", "1.0.0").publish(&tr);
    Bundle::new("com.x.app", "1.0.0")
        .dep("com.x.lib", "^1")
        .publish(&tr);
    let dir = tr.dir();
    let d = dir.to_str().unwrap();
    let kdir = t.path().join("keys");
    let k1 = keys::generate(&kdir, "reg1", None).unwrap();
    let k2 = keys::generate(&kdir, "reg2", None).unwrap();

    // Upgrade in place: init + one import per bundle.
    let v = json(&ri(
        &["--format", "json", "init-log", d, "--origin", "reg.test"],
        Some(&k1.secret),
    ));
    assert_eq!(v["signed"]["snapshot"], 3, "{v}");
    for f in ["root.json", "timestamp", "log/checkpoint", "state/map/node"] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let kinds = log_kinds(d);
    assert_eq!(kinds, ["init", "import", "import"]);
    ok(&ri(&["verify", d], None));

    // A change without the key: refused, nothing written.
    let before = snapshot(&dir);
    let o = ri(&["yank", d, "com.x.lib", "1.0.0"], None);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--registry-key"),
        "{o:?}"
    );
    assert_eq!(before, snapshot(&dir), "a refused change wrote something");
    // With the wrong key: refused too.
    let o = ri(&["yank", d, "com.x.lib", "1.0.0"], Some(&k2.secret));
    assert!(!o.status.success());
    assert_eq!(before, snapshot(&dir));

    // Yank, deprecate, publish: one entry each, verify stays clean.
    ok(&ri(&["yank", d, "com.x.lib", "1.0.0"], Some(&k1.secret)));
    ok(&ri(
        &["deprecate", d, "com.x.app", "--message", "CVE-2026-1"],
        Some(&k1.secret),
    ));
    let archive = Bundle::new("com.x.lib", "1.1.0").build(t.path());
    ok(&ri(
        &["publish", d, archive.to_str().unwrap()],
        Some(&k1.secret),
    ));
    let entries = json(&ri(&["--format", "json", "log", d, "--from", "3"], None));
    let e = entries["entries"].as_array().unwrap();
    let kinds: Vec<&str> = e.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["yank", "deprecate", "publish"]);
    assert_eq!(e[2]["version"], "1.1.0");
    ok(&ri(&["verify", d], None));

    // A file changed behind the log's back is reported.
    let idx = dir.join(ratchet_formats::index::index_path(
        &ratchet_formats::manifest::BundleId::parse("com.x.lib").unwrap(),
    ));
    let good = std::fs::read(&idx).unwrap();
    std::fs::write(
        &idx,
        String::from_utf8_lossy(&good).replace("\"yanked\":true", "\"yanked\":false"),
    )
    .unwrap();
    assert_ne!(
        std::fs::read(&idx).unwrap(),
        good,
        "the un-yank edit did nothing"
    );
    let o = ri(&["verify", d], None);
    assert!(!o.status.success(), "verify missed an unlogged change");
    assert!(String::from_utf8_lossy(&o.stderr).contains("without being logged"));
    std::fs::write(&idx, &good).unwrap();

    // Timestamp refresh keeps the snapshot; rotation adds an entry signed by the new key.
    let v = json(&ri(
        &["--format", "json", "timestamp", d, "--validity", "2h"],
        Some(&k1.secret),
    ));
    assert_eq!(v["timestamp"]["snapshot"], 6);
    let v = json(&ri(
        &[
            "--format",
            "json",
            "key",
            "rotate",
            d,
            "--new-key",
            k2.secret.to_str().unwrap(),
        ],
        Some(&k1.secret),
    ));
    assert_eq!(v["rotated"]["snapshot"], 7);
    // Old key no longer works; new one does.
    assert!(
        !ri(&["yank", d, "com.x.lib", "1.1.0"], Some(&k1.secret))
            .status
            .success()
    );
    ok(&ri(&["yank", d, "com.x.lib", "1.1.0"], Some(&k2.secret)));
    ok(&ri(&["verify", d], None));
}

/// A test registry given a registry key (`init-log`, origin `reg.test`) and an archive of
/// `com.x.lib` 1.0.0 built beside it, not yet published.
fn signed_with_an_archive(work: &Path) -> (TestRegistry, keys::KeyPairFiles, std::path::PathBuf) {
    let tr = TestRegistry::new(work);
    let k = keys::generate(&work.join("keys"), "reg", None).unwrap();
    ok(&ri(
        &[
            "init-log",
            tr.dir().to_str().unwrap(),
            "--origin",
            "reg.test",
        ],
        Some(&k.secret),
    ));
    let archive = Bundle::new("com.x.lib", "1.0.0").build(work);
    (tr, k, archive)
}

#[test]
fn an_operation_killed_after_its_files_is_completed_by_the_next() {
    let t = tempfile::tempdir().unwrap();
    let (tr, k, archive) = signed_with_an_archive(t.path());
    let dir = tr.dir();
    let d = dir.to_str().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ratchet-index"))
        .args(["publish", d, archive.to_str().unwrap(), "--registry-key"])
        .arg(&k.secret)
        .env("RATCHET_PUBLISH_CRASH_AFTER", "index")
        .output()
        .unwrap();
    assert!(!o.status.success(), "the crash hook did not fire");
    assert!(dir.join(ratchet_publish::PENDING_FILE).is_file());
    // verify sees the unlogged index file.
    assert!(!ri(&["verify", d], None).status.success());
    // The next change completes it first: publish, then yank.
    ok(&ri(&["yank", d, "com.x.lib", "1.0.0"], Some(&k.secret)));
    assert!(!dir.join(ratchet_publish::PENDING_FILE).exists());
    let kinds = log_kinds(d);
    assert_eq!(kinds, ["init", "publish", "yank"]);
    ok(&ri(&["verify", d], None));
}

/// A metadata change killed between the metadata file and the index file's metadata line
/// (index-format.md §6.3.1): the next change brings the line up to the file, then logs both.
#[test]
fn a_metadata_change_killed_between_its_files_is_completed_by_the_next() {
    let t = tempfile::tempdir().unwrap();
    let (tr, k, archive) = signed_with_an_archive(t.path());
    let dir = tr.dir();
    let d = dir.to_str().unwrap();
    ok(&ri(
        &["publish", d, archive.to_str().unwrap()],
        Some(&k.secret),
    ));
    let o = Command::new(env!("CARGO_BIN_EXE_ratchet-index"))
        .args([
            "deprecate",
            d,
            "com.x.lib",
            "--message",
            "old",
            "--registry-key",
        ])
        .arg(&k.secret)
        .env("RATCHET_PUBLISH_CRASH_AFTER", "meta")
        .output()
        .unwrap();
    assert!(!o.status.success(), "the crash hook did not fire");
    let v = ri(&["verify", d], None);
    assert!(!v.status.success());
    // The bundle had no metadata before: its line is missing, its file not yet logged.
    let said = String::from_utf8_lossy(&v.stderr);
    assert!(
        said.contains("error[missing-meta-line]") && said.contains("not in the signed state"),
        "{said}"
    );
    // The next change completes it: the line now says what the file says, and both are logged.
    ok(&ri(&["yank", d, "com.x.lib", "1.0.0"], Some(&k.secret)));
    let index = std::fs::read_to_string(
        dir.join("index/").join(
            ratchet_formats::index::index_path(&"com.x.lib".parse().unwrap())
                .trim_start_matches("index/"),
        ),
    )
    .unwrap();
    assert!(
        index.starts_with(r#"{"v":2,"meta":{"v":1,"id":"com.x.lib","deprecated":{"message":"old""#),
        "{index}"
    );
    let kinds = log_kinds(d);
    assert_eq!(kinds, ["init", "publish", "deprecate", "yank"]);
    ok(&ri(&["verify", d], None));
}

/// `ratchet-index meta-in-index` on a signed registry of the older layout: the lines and
/// config.json are one logged `config` change, and the registry verifies.
#[test]
fn meta_in_index_on_a_signed_registry_is_one_logged_change() {
    let t = tempfile::tempdir().unwrap();
    let k = keys::generate(&t.path().join("keys"), "reg", None).unwrap();
    let dir = t.path().join("signed");
    let d = dir.to_str().unwrap();
    ok(&ri(
        &["init", d, "--origin", "reg.test", "--no-meta-in-index"],
        Some(&k.secret),
    ));
    let archive = Bundle::new("com.x.lib", "1.0.0").build(t.path());
    ok(&ri(
        &["publish", d, archive.to_str().unwrap()],
        Some(&k.secret),
    ));
    ok(&ri(
        &["deprecate", d, "com.x.lib", "--message", "old"],
        Some(&k.secret),
    ));
    // Without the key: refused, nothing written.
    let before = std::fs::read(dir.join("config.json")).unwrap();
    assert!(!ri(&["meta-in-index", d], None).status.success());
    assert_eq!(std::fs::read(dir.join("config.json")).unwrap(), before);
    let said = ok(&ri(&["meta-in-index", d], Some(&k.secret)));
    assert!(
        said.contains("turned on, 1 index file(s) rewritten"),
        "{said}"
    );
    let entries = json(&ri(&["--format", "json", "log", d], None));
    let last = entries["entries"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["kind"], "config", "{last}");
    assert_eq!(last["files"].as_array().map(Vec::len), Some(2), "{last}");
    ok(&ri(&["verify", d], None));
}

#[test]
fn init_with_origin_signs_from_the_start_and_unsigned_registries_need_no_key() {
    let t = tempfile::tempdir().unwrap();
    let k = keys::generate(&t.path().join("keys"), "reg", None).unwrap();
    let d = t.path().join("signed");
    let v = json(&ri(
        &[
            "--format",
            "json",
            "init",
            d.to_str().unwrap(),
            "--kind",
            "public",
            "--origin",
            "reg.test",
        ],
        Some(&k.secret),
    ));
    assert_eq!(v["created"]["signed"]["snapshot"], 1, "{v}");
    // --origin without a key is refused before anything is created.
    let d2 = t.path().join("nokey");
    let o = ri(&["init", d2.to_str().unwrap(), "--origin", "x"], None);
    assert!(!o.status.success());
    assert!(!d2.join("config.json").exists());
    // An unsigned registry: changes work without a key, and there is no log.
    let d3 = t.path().join("plain");
    ok(&ri(&["init", d3.to_str().unwrap()], None));
    let archive = Bundle::new("com.x.lib", "1.0.0").build(t.path());
    ok(&ri(
        &["publish", d3.to_str().unwrap(), archive.to_str().unwrap()],
        None,
    ));
    assert!(!d3.join("timestamp").exists());
    assert!(!ri(&["log", d3.to_str().unwrap()], None).status.success());
}
