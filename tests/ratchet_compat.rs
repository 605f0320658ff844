//! Ratchet compatibility (issue 17): Ratchet's own task layouts and runtime behaviours, as
//! fixtures in `tests/fixtures/ratchet/` (one small task per layout and per behaviour of
//! `../shared/ratchet-task-format.md`), run from their directories, tested, imported with
//! `ratchet bundle import`, and the imported bundles validated, tested, built and run — all
//! through the `ratchet` binary. The fetch behaviours that need a network (a real 404, a real
//! `Content-Length`) run against a loopback HTTP server.

mod common;

use common::{copy_dir, http_server, ratchet, text};
use ratchet_formats::manifest::TaskRuntime;
use ratchet_formats::manifest::permissions::DomainPattern;
use ratchet_sandbox::execute::{ExecOptions, TaskSpec, run_task};
use ratchet_sandbox::{Policy, Runtime};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ratchet")
        .join(rel)
}

/// One `RATCHET_HOME` for the whole test binary, so the JavaScript engine compiles once.
fn home() -> &'static Path {
    static HOME: OnceLock<tempfile::TempDir> = OnceLock::new();
    HOME.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

fn r(args: &[&str]) -> Output {
    ratchet(home(), args)
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

fn run_path(dir: &Path, name: Option<&str>, input: Value) -> Output {
    let input = input.to_string();
    let d = dir.to_str().unwrap();
    let mut args = vec!["run", "--path", d];
    if let Some(n) = name {
        args.push(n);
    }
    args.extend(["--input", &input]);
    r(&args)
}

fn output_json(o: &Output) -> Value {
    serde_json::from_str(ok(o).trim()).unwrap()
}

/// `bundle test --format json` of `dir`: the verification document (any exit status).
fn bundle_test(dir: &Path) -> (Output, Value) {
    let o = r(&["--format", "json", "bundle", "test", dir.to_str().unwrap()]);
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&o.stdout), text(&o.stderr)));
    (o, v)
}

/// How many task tests passed (the permission audit's notes count as passed checks too).
fn tests_passed(v: &Value) -> usize {
    results(v).iter().filter(|(_, r)| r == "passed").count()
}

fn results(v: &Value) -> Vec<(String, String)> {
    v["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "task-test")
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["result"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The task fixtures (one per layout and behaviour) with an input and the output it gives.
fn task_fixtures() -> Vec<(&'static str, Value, Value)> {
    vec![
        (
            "flat/addition",
            json!({"num1": 2, "num2": 3}),
            json!({"sum": 5}),
        ),
        ("oldest/sqrt", json!({"value": 9}), json!({"result": 3})),
        (
            "behaviours/named-declaration",
            json!({"value": 16}),
            json!({"result": 4}),
        ),
        (
            "generated/multiply",
            json!({"a": 3, "b": 4}),
            json!({"product": 12}),
        ),
        (
            "behaviours/test-forms",
            json!({"n": 21}),
            json!({"double": 42}),
        ),
    ]
}

#[test]
fn ratchet_tasks_run_unchanged_from_their_directories() {
    for (rel, input, expected) in task_fixtures() {
        let o = run_path(&fixture(rel), None, input);
        assert_eq!(output_json(&o), expected, "{rel}");
    }
    // A thrown Ratchet error class is the task's failure, by its class and message (not a
    // ReferenceError hiding it).
    let o = run_path(
        &fixture("behaviours/error-classes"),
        None,
        json!({"throw": "NetworkError", "message": "upstream down"}),
    );
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("NetworkError: upstream down"), "{err}");
    assert!(!err.contains("ReferenceError"), "{err}");
    // The lone named declaration's own error.
    let o = run_path(&fixture("oldest/sqrt"), None, json!({"value": -1}));
    assert!(
        text(&o.stderr).contains("ValidationError: value must not be negative"),
        "{}",
        text(&o.stderr)
    );
    // The ten classes: names, default messages, prototype chain, stack, HttpError's status.
    let o = run_path(&fixture("behaviours/error-classes"), None, json!({}));
    let rows = output_json(&o);
    assert_eq!(rows.as_array().unwrap().len(), 10);
    for row in rows.as_array().unwrap() {
        assert_eq!(row["chain"], true, "{row}");
        assert_eq!(row["stack"], true, "{row}");
        assert_eq!(row["defaultMessage"], true, "{row}");
    }
    // Ratchet's newest layout runs once imported, and the error says so.
    let o = run_path(&fixture("newest/greet"), None, json!({"who": "Ada"}));
    assert!(
        !o.status.success() && text(&o.stderr).contains("ratchet bundle import"),
        "{}",
        text(&o.stderr)
    );
    // `timeout: 30` is read as seconds, and `run` says so.
    let o = run_path(&fixture("behaviours/test-forms"), None, json!({"n": 1}));
    let err = text(&o.stderr);
    assert!(
        err.contains("timeout 30 is probably seconds") && err.contains("read as 30 s (30000 ms)"),
        "{err}"
    );
}

#[test]
fn bare_task_directories_are_tested_per_file() {
    let cases: &[(&str, usize, usize)] = &[
        // (fixture, passed, skipped)
        ("flat/addition", 1, 0),
        ("behaviours/named-declaration", 1, 0),
        ("behaviours/error-classes", 3, 0),
        // Mocks answer a bare directory's fetches (it declares nothing to check them against).
        ("behaviours/http-error", 3, 0),
        ("behaviours/content-length", 1, 0),
        ("behaviours/test-forms", 5, 1),
        ("generated/multiply", 2, 0),
    ];
    for (rel, passed, skipped) in cases {
        let dir = fixture(rel);
        let (o, v) = bundle_test(&dir);
        assert!(o.status.success(), "{rel}: {v:#}\n{}", text(&o.stderr));
        assert_eq!(tests_passed(&v), *passed, "{rel}: {v:#}");
        assert_eq!(v["summary"]["failed"], 0, "{rel}: {v:#}");
        assert_eq!(v["summary"]["skipped"], *skipped, "{rel}: {v:#}");
        assert_eq!(v["passed"], true, "{rel}");
        // A bare directory is the author's: nothing is written into it.
        assert!(!dir.join(".bundle").exists(), "{rel}: .bundle written");
    }
    // The test form we do not run is a warning naming the file and a skipped test; the
    // timeout warning says which reading was taken.
    let (_, v) = bundle_test(&fixture("behaviours/test-forms"));
    let warnings = v["warnings"].to_string();
    assert!(warnings.contains("tests/test-006.json"), "{warnings}");
    assert!(warnings.contains("read as 30 s"), "{warnings}");
    let skipped: Vec<_> = results(&v)
        .into_iter()
        .filter(|(_, r)| r == "skipped")
        .collect();
    assert_eq!(
        skipped,
        vec![("test-forms/test-006".to_string(), "skipped".to_string())]
    );
    // Text output names the file too.
    let o = r(&[
        "bundle",
        "test",
        fixture("behaviours/test-forms").to_str().unwrap(),
    ]);
    assert!(
        text(&o.stderr).contains("warning: test-forms/tests/test-006.json"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn an_expectation_that_does_not_hold_fails_only_its_test() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("forms");
    copy_dir(&fixture("behaviours/test-forms"), &dir);
    // Wrong error text, an expected failure that succeeds, and a broken file.
    std::fs::write(
        dir.join("tests/test-002.json"),
        r#"{"input": {"n": "x"}, "expected_error": "some other message"}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("tests/test-005.json"),
        r#"{"input": {"n": 1}, "should_fail": true}"#,
    )
    .unwrap();
    std::fs::write(dir.join("tests/test-007.json"), "{ not json").unwrap();
    let (o, v) = bundle_test(&dir);
    assert!(!o.status.success());
    let res = results(&v);
    let verdict = |n: &str| {
        res.iter()
            .find(|(name, _)| name == &format!("forms/{n}"))
            .map(|(_, r)| r.as_str())
            .unwrap_or_else(|| panic!("{n} missing: {res:?}"))
            .to_string()
    };
    assert_eq!(verdict("test-001"), "passed");
    assert_eq!(verdict("test-002"), "failed");
    assert_eq!(verdict("test-003"), "passed");
    assert_eq!(verdict("test-004"), "passed");
    assert_eq!(verdict("test-005"), "failed");
    assert_eq!(verdict("test-006"), "skipped");
    assert_eq!(verdict("test-007"), "failed");
}

/// Imports `src` into a fresh directory and returns (output dir, the one bundle dir, stdout).
fn import_one(src: &Path, extra: &[&str]) -> (tempfile::TempDir, PathBuf, String) {
    let out = tempfile::tempdir().unwrap();
    let mut args = vec![
        "bundle",
        "import",
        src.to_str().unwrap(),
        "--id-prefix",
        "com.example.compat",
        "-o",
        out.path().to_str().unwrap(),
    ];
    args.extend(extra);
    let stdout = ok(&r(&args));
    let dirs: Vec<PathBuf> = std::fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}\n{stdout}");
    let dir = dirs[0].clone();
    (out, dir, stdout)
}

/// Validate, test and build an imported bundle as it is.
fn validate_test_build(dir: &Path) -> Value {
    let d = dir.to_str().unwrap();
    let o = r(&["bundle", "validate", d]);
    ok(&o);
    let (o, v) = bundle_test(dir);
    assert!(o.status.success(), "{v:#}\n{}", text(&o.stderr));
    assert_eq!(v["summary"]["failed"], 0, "{v:#}");
    let built = dir.parent().unwrap().join("built/");
    ok(&r(&["bundle", "build", d, "-o", built.to_str().unwrap()]));
    let archives: Vec<PathBuf> = std::fs::read_dir(&built)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(archives.len(), 1, "one archive in {}", built.display());
    // The archive's manifest carries the runtime switch, under the format version that has it
    // (a reader that does not know it refuses the archive rather than run it differently).
    let o = r(&[
        "--format",
        "json",
        "bundle",
        "inspect",
        archives[0].to_str().unwrap(),
    ]);
    let inspected: Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(inspected["manifest"]["format_version"], 2, "{inspected:#}");
    assert_eq!(inspected["manifest"]["bundle"]["runtime"], "ratchet-compat");
    v
}

/// The bundle's manifest as parsed by ratchet, as JSON under `bundle`.
fn manifest(dir: &Path) -> Value {
    let m = ratchet_formats::manifest::load_manifest(dir)
        .unwrap_or_else(|d| panic!("{}: {d:?}", dir.display()));
    json!({ "bundle": serde_json::to_value(m).unwrap() })
}

#[test]
fn every_task_layout_imports_and_passes() {
    for (rel, input, expected) in task_fixtures() {
        let (_out, dir, _) = import_one(&fixture(rel), &[]);
        let v = validate_test_build(&dir);
        let m = manifest(&dir);
        assert_eq!(m["bundle"]["runtime"], "ratchet-compat", "{rel}");
        let task = m["bundle"]["contents"]["tasks"][0]["path"]
            .as_str()
            .unwrap()
            .trim_start_matches("tasks/")
            .to_string();
        let o = run_path(&dir, Some(&task), input);
        assert_eq!(output_json(&o), expected, "{rel}");
        // A task with tests is verified by them.
        if rel != "oldest/sqrt" {
            assert_eq!(v["passed"], true, "{rel}: {v:#}");
        }
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        assert!(readme.contains("## Imported from Ratchet"), "{readme}");
    }
    // uuids, versions, labels, tags and descriptions are kept.
    let (_out, dir, _) = import_one(&fixture("flat/addition"), &[]);
    let meta: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("tasks/addition/metadata.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(meta["uuid"], "3b5b5d5e-0001-4c6a-9f00-000000000001");
    let m = manifest(&dir);
    assert_eq!(m["bundle"]["version"], "1.0.0");
    assert_eq!(m["bundle"]["name"], "Addition");
    assert_eq!(m["bundle"]["description"], "Adds two numbers");
    assert_eq!(m["bundle"]["keywords"], json!(["math", "sample"]));
    assert_eq!(dir.file_name().unwrap(), "com.example.compat.addition");
}

#[test]
fn behaviour_fixtures_import_with_their_domains() {
    for (rel, domain) in [
        ("behaviours/http-error", Some("api.example.com")),
        ("behaviours/content-length", Some("auth.example.com")),
        ("behaviours/error-classes", None),
    ] {
        let (_out, dir, stdout) = import_one(&fixture(rel), &[]);
        let v = validate_test_build(&dir);
        assert_eq!(v["passed"], true, "{rel}: {v:#}");
        let m = manifest(&dir);
        match domain {
            Some(d) => {
                assert_eq!(
                    m["bundle"]["permissions"]["network"]["domains"],
                    json!([d]),
                    "{rel}"
                );
                // Printed for the author to confirm.
                assert!(
                    stdout.contains("inferred") && stdout.contains(d),
                    "{stdout}"
                );
            }
            None => assert!(m["bundle"].get("permissions").is_none(), "{rel}"),
        }
    }
}

#[test]
fn meta_yaml_is_converted_into_files() {
    let (_out, dir, _) = import_one(&fixture("newest/greet"), &[]);
    let t = dir.join("tasks/greet");
    for f in [
        "main.js",
        "metadata.json",
        "input.schema.json",
        "output.schema.json",
        "tests/test-001.json",
        "tests/test-002.json",
    ] {
        assert!(t.join(f).is_file(), "{f} missing");
    }
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(t.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["uuid"], "3b5b5d5e-0009-4c6a-9f00-000000000009");
    assert_eq!(meta["label"], "Greet");
    let m = manifest(&dir);
    // "1.1" is made SemVer.
    assert_eq!(m["bundle"]["version"], "1.1.0");
    let v = validate_test_build(&dir);
    assert_eq!(tests_passed(&v), 2, "{v:#}");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(readme.contains("test_cases written to tests/"), "{readme}");
    let o = run_path(&dir, Some("greet"), json!({"who": "Ada"}));
    assert_eq!(output_json(&o), json!({"greeting": "Hello, Ada!"}));
}

#[test]
fn a_task_repository_imports_in_one_command() {
    let repo = fixture("repository");
    let (_out, dir, stdout) = import_one(&repo, &[]);
    // The unlisted task is reported, not imported.
    assert!(
        stdout.contains("tasks/unlisted-task") && stdout.contains("--include-unlisted"),
        "{stdout}"
    );
    let m = manifest(&dir);
    assert_eq!(dir.file_name().unwrap(), "com.example.compat.sample-tasks");
    assert_eq!(m["bundle"]["version"], "1.2.0");
    assert_eq!(m["bundle"]["license"], "MIT");
    let paths: Vec<&str> = m["bundle"]["contents"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["tasks/addition", "tasks/weather"]);
    assert_eq!(
        m["bundle"]["permissions"]["network"]["domains"],
        json!(["api.weather.example.com"])
    );
    let v = validate_test_build(&dir);
    assert_eq!(tests_passed(&v), 2, "{v:#}");
    assert!(v["warnings"].to_string().contains("timeout 30"), "{v:#}");
    // On request the unlisted task comes too.
    let (_out, dir, stdout) = import_one(&repo, &["--include-unlisted"]);
    assert!(
        stdout.contains("imported tasks missing from .ratchet/index.json"),
        "{stdout}"
    );
    let m = manifest(&dir);
    assert_eq!(
        m["bundle"]["contents"]["tasks"].as_array().unwrap().len(),
        3
    );
    let v = validate_test_build(&dir);
    assert_eq!(tests_passed(&v), 3, "{v:#}");
    // One bundle per task.
    let out = tempfile::tempdir().unwrap();
    ok(&r(&[
        "bundle",
        "import",
        repo.to_str().unwrap(),
        "--per-task",
        "-o",
        out.path().to_str().unwrap(),
    ]));
    let mut ids: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, ["com.example.addition", "com.example.weather"]);
    // Importing over an existing bundle is refused, and nothing is changed.
    let again = r(&[
        "bundle",
        "import",
        repo.to_str().unwrap(),
        "--per-task",
        "-o",
        out.path().to_str().unwrap(),
    ]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 2);
}

#[test]
fn import_refuses_what_is_not_ratchet() {
    let empty = tempfile::tempdir().unwrap();
    let o = r(&[
        "bundle",
        "import",
        empty.path().to_str().unwrap(),
        "-o",
        empty.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("not a Ratchet task repository"),
        "{}",
        text(&o.stderr)
    );
    // `ratchet bundle import .` in a task directory would copy the task into itself: refused,
    // and nothing is written.
    let root = tempfile::tempdir().unwrap();
    let task = root.path().join("addition");
    copy_dir(&fixture("flat/addition"), &task);
    let before = std::fs::read_dir(&task).unwrap().count();
    let o = r(&[
        "bundle",
        "import",
        task.to_str().unwrap(),
        "-o",
        task.join("out").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("would copy itself"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(std::fs::read_dir(&task).unwrap().count(), before);
}

/// A bundle holding the addition fixture, with `.ratchetignore` text.
fn bundle_with_ignore(ignore: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    copy_dir(
        &fixture("flat/addition"),
        &root.path().join("tasks/addition"),
    );
    std::fs::write(
        root.path().join("bundle.yaml"),
        "bundle:\n  id: com.example.ignore\n  name: Ignore\n  version: 1.0.0\n  description: d\n  license: MIT\n  contents:\n    tasks:\n      - path: tasks/addition\n",
    )
    .unwrap();
    std::fs::write(
        root.path().join("tasks/addition/tests/scratch.json"),
        "{ this is not JSON",
    )
    .unwrap();
    std::fs::write(root.path().join(".ratchetignore"), ignore).unwrap();
    root
}

#[test]
fn validate_and_build_agree_with_ratchetignore() {
    // The broken file is left out of the archive: validate no longer fails on it, and build
    // and test agree.
    let b = bundle_with_ignore("tasks/addition/tests/scratch.json\n");
    let d = b.path().to_str().unwrap();
    ok(&r(&["bundle", "validate", d]));
    let (o, v) = bundle_test(b.path());
    assert!(o.status.success(), "{v:#}");
    assert_eq!(tests_passed(&v), 1, "{v:#}");
    ok(&r(&[
        "bundle",
        "build",
        d,
        "-o",
        b.path().join("out/").to_str().unwrap(),
    ]));
    // Not ignored: validate reports it (a file build includes is validated).
    let b = bundle_with_ignore("# nothing\n");
    let o = r(&["bundle", "validate", b.path().to_str().unwrap()]);
    assert!(!o.status.success());
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(all.contains("scratch.json"), "{all}");
    // An ignored main.js is not in the archive: the task has no code.
    let b = bundle_with_ignore("tasks/addition/tests/scratch.json\nmain.js\n");
    let o = r(&["bundle", "validate", b.path().to_str().unwrap()]);
    assert!(!o.status.success());
    let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(all.contains("neither main.js nor main.wasm"), "{all}");
}

fn runtime() -> &'static Runtime {
    static RT: OnceLock<(tempfile::TempDir, Runtime)> = OnceLock::new();
    &RT.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let rt = Runtime::new(Some(d.path().join("modules")));
        (d, rt)
    })
    .1
}

/// A task in a temporary directory, run with a loopback server declared.
fn loopback_task(src: &str, runtime_kind: TaskRuntime, port: u16) -> (tempfile::TempDir, TaskSpec) {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("main.js"), src).unwrap();
    let mut spec = TaskSpec::lone(d.path()).unwrap();
    spec.runtime = runtime_kind;
    spec.permissions.network.domains =
        vec![DomainPattern::parse(&format!("http://127.0.0.1:{port}")).unwrap()];
    (d, spec)
}

#[test]
fn a_real_non_2xx_answer_throws_only_under_ratchet_compat() {
    let port = http_server(2);
    let src = "function main(i) { try { const r = fetch(i.url); return {ok: r.ok, status: r.status}; } catch (e) { return {threw: e.name, status: e.status, message: e.message, isHttp: e instanceof HttpError}; } }";
    let url = format!("http://127.0.0.1:{port}/missing");
    let (_d, spec) = loopback_task(src, TaskRuntime::RatchetCompat, port);
    let done = run_task(
        runtime(),
        &spec,
        &json!({"url": url}),
        &Policy::default(),
        &ExecOptions::default(),
    )
    .unwrap();
    assert_eq!(
        done.output,
        json!({"threw": "HttpError", "status": 404, "message": "HTTP 404: Not Found", "isHttp": true})
    );
    let (_d, spec) = loopback_task(src, TaskRuntime::Standard, port);
    let done = run_task(
        runtime(),
        &spec,
        &json!({"url": url}),
        &Policy::default(),
        &ExecOptions::default(),
    )
    .unwrap();
    assert_eq!(done.output, json!({"ok": false, "status": 404}));
}

#[test]
fn content_length_is_accepted_when_it_is_the_body_length() {
    let port = http_server(1);
    let src = "function main(i) { try { const r = fetch(i.url, {method: 'POST', headers: {'Content-Length': String(i.len)}}, 'abc'); return {status: r.status, body: r.body}; } catch (e) { return {threw: e.message}; } }";
    let url = format!("http://127.0.0.1:{port}/ok");
    let (_d, spec) = loopback_task(src, TaskRuntime::Standard, port);
    let done = run_task(
        runtime(),
        &spec,
        &json!({"url": url, "len": 3}),
        &Policy::default(),
        &ExecOptions::default(),
    )
    .unwrap();
    assert_eq!(
        done.output,
        json!({"status": 200, "body": {"hello": "world"}})
    );
    // A wrong length is refused before anything is sent, saying why.
    let done = run_task(
        runtime(),
        &spec,
        &json!({"url": url, "len": 5}),
        &Policy::default(),
        &ExecOptions::default(),
    )
    .unwrap();
    let msg = done.output["threw"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        msg.contains("does not match the body's length (3 bytes)"),
        "{msg}"
    );
    // A test's mock answers before the header rules (nothing is sent), after the domain check.
    let mock = ratchet_formats::task::HttpMock {
        url: "/ok".into(),
        method: None,
        response: json!({"status": 201, "body": {"mocked": true}}),
    };
    let opts = ExecOptions {
        mock: Some(mock),
        mounts: Vec::new(),
    };
    let done = run_task(
        runtime(),
        &spec,
        &json!({"url": url, "len": 5}),
        &Policy::default(),
        &opts,
    )
    .unwrap();
    assert_eq!(
        done.output,
        json!({"status": 201, "body": {"mocked": true}})
    );
    let done = run_task(
        runtime(),
        &spec,
        &json!({"url": "https://undeclared.example.com/ok", "len": 3}),
        &Policy::default(),
        &opts,
    )
    .unwrap();
    let msg = done.output["threw"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(msg.contains("not permitted"), "{msg}");
}
