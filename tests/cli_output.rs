//! The `ratchet` command line as a script sees it: `--format json` documents (`cli-output.md`),
//! exit codes, completions and man pages, dry runs that write nothing, `build --sign` that leaves
//! nothing behind when it cannot sign, and hostile strings escaped in text output.

mod common;

use common::{ratchet, ratchet_env, text};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The one JSON document on stdout of a successful command.
fn json_ok(o: &Output) -> Value {
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        o.stderr.is_empty(),
        "stderr under --format json: {}",
        text(&o.stderr)
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", text(&o.stdout)))
}

/// Every file under `dir` with its bytes (lock files included).
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p.clone());
                out.insert(p, Vec::new());
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// A new bundle `id` in `work/NAME`, made by `bundle init`.
fn new_bundle(home: &Path, work: &Path, name: &str, id: &str) -> PathBuf {
    let dir = work.join(name);
    let o = ratchet(
        home,
        &[
            "--format",
            "json",
            "bundle",
            "init",
            dir.to_str().unwrap(),
            "--id",
            id,
        ],
    );
    let v = json_ok(&o);
    let files = v["created"]["files"].as_array().unwrap();
    assert!(
        files
            .iter()
            .any(|f| f.as_str().unwrap().ends_with("bundle.yaml")),
        "{v}"
    );
    dir
}

#[test]
fn registry_and_key_commands_print_json_documents() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let reg_dir = t.path().join("somewhere");
    let o = ratchet(
        &home,
        &[
            "--format",
            "json",
            "registry",
            "add",
            "team",
            reg_dir.to_str().unwrap(),
            "--kind",
            "private",
            "--auth",
            "basic",
            "--user",
            "ann",
        ],
    );
    let v = json_ok(&o);
    assert_eq!(v["added"]["name"], "team");
    assert_eq!(v["added"]["kind"], "private");
    assert_eq!(v["added"]["auth"]["method"], "basic");
    assert_eq!(v["added"]["auth"]["user"], "ann");
    // The first registry added becomes the default.
    assert_eq!(v["added"]["default"], true);

    let o = ratchet(
        &home,
        &["registry", "add", "other", "https://example.com/reg/"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v = json_ok(&ratchet(&home, &["registry", "list", "--format", "json"]));
    assert_eq!(v["default"], "team");
    let regs = v["registries"].as_array().unwrap();
    assert_eq!(regs.len(), 2);
    let other = regs.iter().find(|r| r["name"] == "other").unwrap();
    assert_eq!(other["url"], "https://example.com/reg/");
    assert_eq!(other["default"], false);
    assert_eq!(other["credential_stored"], false);

    // A mistyped name: an error as JSON on stderr, naming the closest registry.
    let o = ratchet(&home, &["--format", "json", "registry", "remove", "othr"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let e: Value = serde_json::from_slice(&o.stderr).unwrap();
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("othr") && msg.contains("did you mean `other`"),
        "{msg}"
    );

    let v = json_ok(&ratchet(
        &home,
        &["--format", "json", "registry", "remove", "other"],
    ));
    assert_eq!(v["removed"], "other");
    assert_eq!(v["credential_removed"], false);

    let keys = t.path().join("keys");
    let v = json_ok(&ratchet(
        &home,
        &[
            "--format",
            "json",
            "key",
            "generate",
            "--name",
            "ci",
            "--dir",
            keys.to_str().unwrap(),
            "--unencrypted",
        ],
    ));
    let id = v["generated"]["key_id"].as_str().unwrap().to_string();
    assert_eq!(v["generated"]["encrypted"], false);
    // The warning travels in the document, not on stderr.
    assert_eq!(v["warnings"].as_array().unwrap().len(), 1);
    assert!(Path::new(v["generated"]["secret_file"].as_str().unwrap()).is_file());
    let v = json_ok(&ratchet(
        &home,
        &[
            "--format",
            "json",
            "key",
            "list",
            "--dir",
            keys.to_str().unwrap(),
        ],
    ));
    let list = v["keys"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["key_id"], id.as_str());
    assert_eq!(list[0]["secret_key"], true);
}

#[test]
fn build_verify_publish_dry_run_and_inspect() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let src = new_bundle(&home, t.path(), "b", "com.test.cli-json");
    let out = t.path().join("out");
    let v = json_ok(&ratchet(
        &home,
        &[
            "--format",
            "json",
            "bundle",
            "build",
            src.to_str().unwrap(),
            "--out",
            &format!("{}/", out.display()),
        ],
    ));
    let built = &v["built"];
    assert_eq!(built["id"], "com.test.cli-json");
    assert_eq!(built["signed_by"], Value::Null);
    let archive = PathBuf::from(built["path"].as_str().unwrap());
    let bytes = std::fs::read(&archive).unwrap();
    assert_eq!(built["size"], bytes.len() as u64);
    assert_eq!(
        built["sha256"],
        ratchet_formats::archive::sha256_hex(&bytes).as_str()
    );

    // verify: files fine, no signature -> exit 1, and the document says which check failed.
    let o = ratchet(
        &home,
        &[
            "--format",
            "json",
            "bundle",
            "verify",
            archive.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["bundle"]["id"], "com.test.cli-json");
    let checks = v["checks"].as_array().unwrap();
    assert_eq!(checks[0]["check"], "files");
    assert_eq!(checks[0]["ok"], true);
    assert_eq!(checks[1]["check"], "signature");
    assert_eq!(checks[1]["ok"], false);

    // publish --dry-run: the document of a publish, and the registry unchanged byte for byte.
    let reg = ratchet_testkit::TestRegistry::new(t.path()).dir();
    let before = tree(&reg);
    let v = json_ok(&ratchet(
        &home,
        &[
            "--format",
            "json",
            "bundle",
            "publish",
            archive.to_str().unwrap(),
            "--registry",
            reg.to_str().unwrap(),
            "--dry-run",
        ],
    ));
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["published"][0]["id"], "com.test.cli-json");
    assert_eq!(v["published"][0]["new_bundle"], true);
    assert_eq!(v["published"][0]["sha256"], built["sha256"]);
    assert_eq!(tree(&reg), before, "a dry run wrote to the registry");
    // The real publish then does what the dry run said.
    let v = json_ok(&ratchet(
        &home,
        &[
            "--format",
            "json",
            "bundle",
            "publish",
            archive.to_str().unwrap(),
            "--registry",
            reg.to_str().unwrap(),
        ],
    ));
    assert_eq!(v["dry_run"], false);
    let index_file = reg.join(v["published"][0]["index_file"].as_str().unwrap());
    assert!(index_file.is_file());
    // A dry run of the same version again is refused like the real publish, writing nothing.
    let before = tree(&reg);
    let o = ratchet(
        &home,
        &[
            "bundle",
            "publish",
            archive.to_str().unwrap(),
            "--registry",
            reg.to_str().unwrap(),
            "--dry-run",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("already published"));
    assert_eq!(tree(&reg), before);

    let v = json_ok(&ratchet(
        &home,
        &[
            "--format",
            "json",
            "bundle",
            "inspect",
            archive.to_str().unwrap(),
        ],
    ));
    assert_eq!(v["signed"], false);
    assert_eq!(v["archive"]["sha256"], built["sha256"]);
}

#[test]
fn build_sign_that_cannot_sign_leaves_no_archive() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let src = new_bundle(&home, t.path(), "b", "com.test.sign-fail");
    let keys = t.path().join("keys");
    let o = ratchet_env(
        &home,
        &[
            "key",
            "generate",
            "--name",
            "me",
            "--dir",
            keys.to_str().unwrap(),
        ],
        &[("RATCHET_KEY_PASSWORD", "right password")],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = t.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let key = keys.join("me.key");
    let build = |key: &Path, password: &str| {
        ratchet_env(
            &home,
            &[
                "bundle",
                "build",
                src.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--sign",
                key.to_str().unwrap(),
            ],
            &[("RATCHET_KEY_PASSWORD", password)],
        )
    };
    // Wrong password, then a missing key: refused, and nothing written.
    for (k, p) in [
        (key.clone(), "wrong password"),
        (keys.join("absent.key"), "right password"),
    ] {
        let o = build(&k, p);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
        assert!(text(&o.stderr).starts_with("error:"), "{}", text(&o.stderr));
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0, "archive left");
    }
    // The right password signs.
    let o = build(&key, "right password");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
    assert!(
        text(&o.stdout).contains("signed: key"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn inspect_escapes_terminal_controls_from_the_bundle() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let src = new_bundle(&home, t.path(), "b", "com.test.hostile");
    let yaml = src.join("bundle.yaml");
    let text_yaml = std::fs::read_to_string(&yaml).unwrap();
    let mut lines: Vec<String> = text_yaml.lines().map(String::from).collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with("description:"))
        .unwrap();
    // YAML's `\e` and `\a` escapes: ESC ] 0 ; pwned BEL retitles a terminal window.
    lines[at] = r#"  description: "\e]0;pwned\a a hostile description""#.to_string();
    std::fs::write(&yaml, lines.join("\n") + "\n").unwrap();
    let archive = t.path().join("hostile.rbundle");
    let o = ratchet(
        &home,
        &[
            "bundle",
            "build",
            src.to_str().unwrap(),
            "--out",
            archive.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = ratchet(&home, &["bundle", "inspect", archive.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let shown = text(&o.stdout);
    assert!(
        !shown.contains('\x1b') && !shown.contains('\x07'),
        "{shown:?}"
    );
    assert!(
        shown.contains(r"\x1b]0;pwned\x07 a hostile description"),
        "{shown}"
    );
    // JSON carries the string as it is (escaped by JSON itself).
    let v = json_ok(&ratchet(
        &home,
        &[
            "--format",
            "json",
            "bundle",
            "inspect",
            archive.to_str().unwrap(),
        ],
    ));
    assert_eq!(
        v["manifest"]["bundle"]["description"],
        "\x1b]0;pwned\x07 a hostile description"
    );
}

#[test]
fn run_usage_errors_exit_2_with_a_suggestion() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let src = new_bundle(&home, t.path(), "b", "com.test.run-names");
    let o = ratchet(&home, &["run", "--path", src.to_str().unwrap(), "additon"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("did you mean `addition`?"), "{err}");
    // The same under --format json: one JSON error object on stderr, exit 2.
    let o = ratchet(
        &home,
        &[
            "--format",
            "json",
            "run",
            "--path",
            src.to_str().unwrap(),
            "additon",
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let e: Value = serde_json::from_slice(&o.stderr).unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`addition`")
    );
    // clap's own usage errors exit 2 as well.
    let o = ratchet(&home, &["bundle", "build", "--no-such-flag"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn completions_and_man_pages_come_from_the_clap_definition() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let o = ratchet(&home, &["completions", "bash"]);
    assert!(o.status.success());
    let script = text(&o.stdout);
    assert!(
        script.contains("bundle") && script.contains("--dry-run"),
        "{script}"
    );
    let o = ratchet(&home, &["completions", "fish"]);
    assert!(o.status.success() && text(&o.stdout).contains("complete -c ratchet"));

    let dir = t.path().join("man");
    let o = ratchet(&home, &["man", "--out", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let build = std::fs::read_to_string(dir.join("ratchet-bundle-build.1")).unwrap();
    assert!(build.starts_with(".ie") || build.contains(".TH"), "{build}");
    assert!(build.contains("\\-\\-sign"), "{build}");
    assert!(dir.join("ratchet.1").is_file());
    assert!(dir.join("ratchet-registry-list.1").is_file());
    assert!(!dir.join("ratchet-help.1").exists());
    // Without --out: the top page on stdout.
    let o = ratchet(&home, &["man"]);
    assert!(o.status.success() && text(&o.stdout).contains(".TH ratchet 1"));
}

#[test]
fn run_under_json_wraps_the_output_and_text_prints_it_as_is() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let bundle =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-bundles/com.ratchet.core-utils/1.2.0");
    let args = |json: bool| {
        let mut a = vec![];
        if json {
            a.extend(["--format", "json"]);
        }
        a.extend([
            "run",
            "--path",
            bundle.to_str().unwrap(),
            "addition",
            "--input",
            r#"{"num1": 20, "num2": 22}"#,
        ]);
        a
    };
    let v = json_ok(&ratchet(&home, &args(true)));
    assert_eq!(v["output"]["sum"], 42);
    assert!(v["stderr"].is_string());
    let o = ratchet(&home, &args(false));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let plain: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(plain, v["output"]);
}
