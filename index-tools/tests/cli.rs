//! `ratchet-index` as a script sees it: `--format json` documents (`cli-output.md`), dry runs
//! that leave the registry byte for byte unchanged, `yank --undo`, the `init` policy flags,
//! refusals (owner keys for an unsigned archive, a bundle replacing itself), "did you mean" for
//! ids, completions and man pages.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ri(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ratchet-index"))
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The JSON document of a successful command (and nothing on stderr).
fn json_ok(o: &Output) -> Value {
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o.stdout)))
}

/// Every file and directory under `dir`, with the bytes of files; the lock file included.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
                out.insert(p, None);
            } else {
                out.insert(p.clone(), Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

#[test]
fn json_documents_and_dry_runs() {
    let t = tempfile::tempdir().unwrap();
    let reg = t.path().join("reg");
    let r = reg.to_str().unwrap();
    let v = json_ok(&ri(&["--format", "json", "init", r, "--name", "cli"]));
    assert_eq!(v["created"]["name"], "cli");
    assert_eq!(v["created"]["auth_required"], false);
    assert_eq!(v["created"]["require_signatures"], false);

    let a = Bundle::new("com.test.alpha", "1.0.0").build(t.path());
    let b = Bundle::new("com.test.beta", "1.0.0")
        .dep("com.test.alpha", "^1")
        .build(t.path());
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());

    // publish --dry-run: what would be published, nothing written (not even the lock file).
    let before = tree(&reg);
    let v = json_ok(&ri(&[
        "--format",
        "json",
        "publish",
        r,
        a,
        "--dry-run",
        "--publish-time",
        TIME,
    ]));
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["published"][0]["id"], "com.test.alpha");
    assert_eq!(v["published"][0]["new_bundle"], true);
    assert_eq!(v["published"][0]["signer"], Value::Null);
    assert_eq!(
        tree(&reg),
        before,
        "publish --dry-run wrote to the registry"
    );
    // beta needs alpha, which a dry run did not publish: refused, still nothing written.
    let o = ri(&["publish", r, b, "--dry-run"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("publish the dependency first"));
    assert_eq!(tree(&reg), before);

    let v = json_ok(&ri(&[
        "--format",
        "json",
        "publish",
        r,
        a,
        b,
        "--publish-time",
        TIME,
    ]));
    assert_eq!(v["dry_run"], false);
    let published = v["published"].as_array().unwrap();
    assert_eq!(published.len(), 2);
    assert_eq!(published[1]["id"], "com.test.beta");
    assert!(
        reg.join(published[1]["index_file"].as_str().unwrap())
            .is_file()
    );
    assert!(
        reg.join(published[0]["archive_file"].as_str().unwrap())
            .is_file()
    );

    // yank: dry run, real, again (no change), --undo, and the unyank alias.
    let before = tree(&reg);
    let v = json_ok(&ri(&[
        "--format",
        "json",
        "yank",
        r,
        "com.test.alpha",
        "1.0.0",
        "--dry-run",
    ]));
    assert_eq!(
        (v["yanked"].clone(), v["changed"].clone()),
        (true.into(), true.into())
    );
    assert_eq!(tree(&reg), before, "yank --dry-run wrote to the registry");
    let v = json_ok(&ri(&[
        "--format",
        "json",
        "yank",
        r,
        "com.test.alpha",
        "1.0.0",
    ]));
    assert_eq!(v["changed"], true);
    let list = json_ok(&ri(&["--format", "json", "list", r, "com.test.alpha"]));
    assert_eq!(list["bundles"][0]["versions"][0]["yanked"], true);
    assert_eq!(list["bundles"][0]["latest"], Value::Null);
    let v = json_ok(&ri(&[
        "--format",
        "json",
        "yank",
        r,
        "com.test.alpha",
        "1.0.0",
    ]));
    assert_eq!(v["changed"], false);
    let v = json_ok(&ri(&[
        "--format",
        "json",
        "yank",
        r,
        "com.test.alpha",
        "1.0.0",
        "--undo",
    ]));
    assert_eq!(
        (v["yanked"].clone(), v["changed"].clone()),
        (false.into(), true.into())
    );
    let v = json_ok(&ri(&[
        "--format",
        "json",
        "unyank",
        r,
        "com.test.alpha",
        "1.0.0",
    ]));
    assert_eq!(v["changed"], false);
    let list = json_ok(&ri(&["--format", "json", "list", r]));
    assert_eq!(list["bundles"].as_array().unwrap().len(), 2);
    assert_eq!(list["bundles"][0]["latest"], "1.0.0");

    // verify and gc: a stray archive is reported, a gc dry run names it and removes nothing.
    let stray = reg.join("archives/00/stray.rbundle");
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"not referenced").unwrap();
    let v = json_ok(&ri(&["--format", "json", "verify", r]));
    assert_eq!(v["ok"], true);
    assert_eq!(v["bundles"], 2);
    assert!(v["warnings"].as_u64().unwrap() >= 1, "{v}");
    let before = tree(&reg);
    let v = json_ok(&ri(&["--format", "json", "gc", r, "--dry-run"]));
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["removed_archives"][0], "archives/00/stray.rbundle");
    assert_eq!(tree(&reg), before, "gc --dry-run changed the registry");
    let v = json_ok(&ri(&["--format", "json", "gc", r]));
    assert_eq!(v["removed_archives"][0], "archives/00/stray.rbundle");
    assert!(!stray.exists());

    // deprecate: naming itself as replacement is refused; another bundle is fine.
    let before = tree(&reg);
    let o = ri(&[
        "deprecate",
        r,
        "com.test.alpha",
        "--message",
        "old",
        "--replacement",
        "com.test.alpha",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("in favour of itself"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(tree(&reg), before);
    let v = json_ok(&ri(&[
        "--format",
        "json",
        "deprecate",
        r,
        "com.test.alpha",
        "--message",
        "use beta",
        "--replacement",
        "com.test.beta",
    ]));
    assert_eq!(v["deprecated"], true);
    assert_eq!(v["replacement"], "com.test.beta");
}

#[test]
fn unknown_ids_get_a_suggestion_in_every_command() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path()).reg;
    let a = Bundle::new("com.test.gamma", "1.0.0").build(t.path());
    reg.publish(&a, TIME).unwrap();
    let r = reg.root().to_str().unwrap();
    let key = t.path().join("k.key");
    let cases: Vec<Vec<&str>> = vec![
        vec!["yank", r, "com.test.gama", "1.0.0"],
        vec!["yank", r, "com.test.gama", "1.0.0", "--dry-run"],
        vec!["unyank", r, "com.test.gama", "1.0.0"],
        vec!["deprecate", r, "com.test.gama", "--message", "m"],
        vec![
            "deprecate",
            r,
            "com.test.gamma",
            "--message",
            "m",
            "--replacement",
            "com.test.gama",
        ],
        vec!["list", r, "com.test.gama"],
        vec!["owner", "show", r, "com.test.gama"],
        vec![
            "attest",
            r,
            "com.test.gama",
            "1.0.0",
            "--key",
            key.to_str().unwrap(),
        ],
    ];
    let before = tree(reg.root());
    for args in cases {
        let o = ri(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = text(&o.stderr);
        assert!(
            err.contains("com.test.gama is not in this registry")
                && err.contains("did you mean `com.test.gamma`?"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(tree(reg.root()), before);
    // Nothing close: no suggestion.
    let o = ri(&["list", r, "org.other.thing"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!text(&o.stderr).contains("did you mean"));
}

#[test]
fn init_policies_and_owner_keys_for_unsigned_archives() {
    let t = tempfile::tempdir().unwrap();
    let reg = t.path().join("strict");
    let r = reg.to_str().unwrap();
    let o = ri(&["init", r, "--auth-required", "--require-signatures"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let cfg: Value =
        serde_json::from_slice(&std::fs::read(reg.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["auth-required"], true);
    assert_eq!(cfg["policies"]["require-signatures"], true);

    // The policy is enforced: an unsigned archive is refused.
    let a = Bundle::new("com.test.unsigned", "1.0.0").build(t.path());
    // A real refusal may leave the lock file; everything else is as it was.
    let before = snapshot(&reg);
    let o = ri(&["publish", r, a.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("requires signed bundles"),
        "{}",
        text(&o.stderr)
    );

    // --owner-key with an unsigned archive is refused (in a lax registry too), nothing written.
    let lax = TestRegistry::new(t.path()).reg;
    let keys = ratchet_trust::keys::generate(&t.path().join("keys"), "o", None).unwrap();
    let lax_before = tree(lax.root());
    for dry in [false, true] {
        let mut args = vec![
            "publish",
            lax.root().to_str().unwrap(),
            a.to_str().unwrap(),
            "--owner-key",
            keys.public.to_str().unwrap(),
        ];
        if dry {
            args.push("--dry-run");
        }
        let o = ri(&args);
        assert_eq!(o.status.code(), Some(1));
        let err = text(&o.stderr);
        assert!(
            err.contains("--owner-key") && err.contains("not signed"),
            "{err}"
        );
    }
    assert_eq!(tree(lax.root()), lax_before);
    assert_eq!(snapshot(&reg), before);
}

#[test]
fn usage_errors_completions_and_man_pages() {
    let t = tempfile::tempdir().unwrap();
    // clap's usage errors exit 2.
    let o = ri(&["yank", "only-one-arg"]);
    assert_eq!(o.status.code(), Some(2));
    // ... and under --format json they are one JSON error object on stderr.
    let o = ri(&["--format", "json", "yank", "only-one-arg"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    let e: Value = serde_json::from_slice(&o.stderr).unwrap();
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(msg.contains("<ID>") && msg.contains("<VERSION>"), "{msg}");
    // Help is still help.
    let o = ri(&["--format", "json", "yank", "--help"]);
    assert!(o.status.success() && text(&o.stdout).contains("--undo"));
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let o = ri(&["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", text(&o.stderr));
        assert!(text(&o.stdout).contains("deprecate"), "{shell}");
    }
    let o = ri(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    let o = ri(&["completions", "bash"]);
    assert!(o.status.success());
    let script = text(&o.stdout);
    assert!(
        script.contains("ratchet-index") && script.contains("unyank"),
        "{script}"
    );
    let dir = t.path().join("man");
    let o = ri(&["man", "--out", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let yank = std::fs::read_to_string(dir.join("ratchet-index-yank.1")).unwrap();
    assert!(yank.contains("\\-\\-undo"), "{yank}");
    assert!(dir.join("ratchet-index-owner-rotate.1").is_file());
    assert!(dir.join("ratchet-index.1").is_file());
}

#[test]
fn library_refusals_are_variants_and_dry_runs_agree_with_real_runs() {
    use ratchet_publish::PublishError;
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path()).reg;
    let a = Bundle::new("com.test.delta", "1.0.0").build(t.path());
    let before = tree(reg.root());
    let dry = reg.check_publish(&a, TIME, &[]).unwrap();
    assert_eq!(tree(reg.root()), before);
    let real = reg.publish_with(&a, TIME, &[]).unwrap();
    assert_eq!(dry.line, real.line);
    assert_eq!(
        (dry.index_file, dry.archive_file, dry.new_bundle),
        (real.index_file, real.archive_file, real.new_bundle)
    );
    // The same version again: the dry run refuses exactly as the publish does.
    assert!(matches!(
        reg.check_publish(&a, TIME, &[]),
        Err(PublishError::VersionExists { .. })
    ));
    let id = ratchet_formats::manifest::BundleId::parse("com.test.delta").unwrap();
    assert!(matches!(
        reg.deprecate(&id, "m", Some(&id), TIME),
        Err(PublishError::SelfReplacement(i)) if i == id
    ));
    let keys = ratchet_trust::keys::generate(&t.path().join("keys"), "k", None).unwrap();
    let b = Bundle::new("com.test.delta", "1.1.0").build(t.path());
    assert!(matches!(
        reg.publish_with(&b, TIME, std::slice::from_ref(&keys.key)),
        Err(PublishError::OwnerKeysForUnsigned { .. })
    ));
    // gc_with(true) reports what gc() then removes.
    let stray = reg.root().join("archives/00/stray.rbundle");
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"x").unwrap();
    let before = tree(reg.root());
    let planned = reg.gc_with(true).unwrap();
    assert_eq!(tree(reg.root()), before);
    let done = reg.gc().unwrap();
    assert_eq!(planned.removed_archives, done.removed_archives);
    assert_eq!(
        done.removed_archives,
        vec!["archives/00/stray.rbundle".to_string()]
    );
}

#[test]
fn text_from_the_registry_is_escaped() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path()).reg;
    let a = Bundle::new("com.test.epsilon", "1.0.0").build(t.path());
    reg.publish(&a, TIME).unwrap();
    let id = ratchet_formats::manifest::BundleId::parse("com.test.epsilon").unwrap();
    reg.deprecate(&id, "gone \x1b]0;pwned\x07 away", None, TIME)
        .unwrap();
    let r = reg.root().to_str().unwrap();
    let o = ri(&["list", r, "com.test.epsilon"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(!out.contains('\x1b') && !out.contains('\x07'), "{out:?}");
    assert!(out.contains(r"gone \x1b]0;pwned\x07 away"), "{out}");
    // JSON keeps the message as it is.
    let v = json_ok(&ri(&["--format", "json", "list", r, "com.test.epsilon"]));
    assert_eq!(
        v["bundles"][0]["deprecated"]["message"],
        "gone \x1b]0;pwned\x07 away"
    );

    // A stray file whose name holds a control sequence: verify names it, escaped.
    let stray = reg.root().join("index/aa/evil\x1b[2Jname");
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"").unwrap();
    let o = ri(&["verify", r]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(!err.contains('\x1b'), "{err:?}");
    assert!(err.contains(r"evil\x1b[2Jname"), "{err}");
}
