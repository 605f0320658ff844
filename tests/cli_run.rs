//! `ratchet run`, `ratchet bundle test` and `ratchet bundle dev` as a user runs them, on a
//! bundle made at test time with tasks compiled by clang for wasm32-wasi.

mod common;

use common::{c_module, ratchet, text};
use serde_json::{Value, json};
use std::path::PathBuf;

fn write(path: PathBuf, content: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

const META: &str = r#"{"version": "1.0.0", "description": "test task"}"#;

/// A bundle with an echo task (passing and failing tests, a schema), a fetching task (with a
/// `mock.http` test), an internal task, a JavaScript task, a workflow and quality checks.
fn bundle() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let b = root.path().join("bundle");
    write(
        b.join("bundle.yaml"),
        r#"bundle:
  id: com.example.sandbox-test
  name: Sandbox test bundle
  version: 1.0.0
  description: Tasks for the sandbox tests
  license: MIT
  requirements:
    ratchet_version: ">=1.0.0"
    platform: [linux, macos]
  dependencies:
    - bundle_id: com.ratchet.core-utils
      version: ">=1.0.0"
  permissions:
    network:
      domains: ["api.example.com"]
  contents:
    tasks:
      - path: tasks/echo
      - path: tasks/fetcher
      - path: tasks/internal
        exported: false
      - path: tasks/js-task
    workflows:
      - path: workflows/pipeline.yaml
      - path: workflows/uses-dep.yaml
"#,
    );
    let probe = c_module("probe");
    for t in ["echo", "internal"] {
        write(b.join(format!("tasks/{t}/main.wasm")), &probe);
        write(b.join(format!("tasks/{t}/metadata.json")), META);
    }
    write(
        b.join("tasks/echo/input.schema.json"),
        r#"{"type": "object", "required": ["n"]}"#,
    );
    write(
        b.join("tasks/echo/tests/test-001.json"),
        r#"{"input": {"n": 1}, "expected_output": {"input": {"n": 1}, "args": 1}}"#,
    );
    write(
        b.join("tasks/echo/tests/test-002.json"),
        r#"{"input": {"n": 2}, "expected_output": {"wrong": true}}"#,
    );
    write(b.join("tasks/fetcher/main.wasm"), c_module("fetcher"));
    write(b.join("tasks/fetcher/metadata.json"), META);
    write(
        b.join("tasks/fetcher/tests/mocked.json"),
        r#"{"input": {"url":"https://api.example.com/users/1"},
            "expected_output": {"ok": true, "status": 200, "status_text": "OK", "url": "https://api.example.com/users/1", "headers": {}, "body": "{\"id\":1}", "mocked": true, "body_json": {"id": 1}},
            "mock": {"http": {"url": "api.example.com/users", "method": "GET", "response": {"ok": true, "status": 200, "statusText": "OK", "body": {"id": 1}}}}}"#,
    );
    write(
        b.join("tasks/js-task/main.js"),
        "function main(input) { return input; }\n",
    );
    write(b.join("tasks/js-task/metadata.json"), META);
    write(
        b.join("tasks/js-task/tests/t.json"),
        r#"{"input": {}, "expected_output": {}}"#,
    );
    write(
        b.join("workflows/pipeline.yaml"),
        r#"workflow:
  description: echo twice, the second step through the internal task
  steps:
    - name: first
      task: echo
    - name: second
      task: internal
      input:
        prev: "${steps.first.output.input}"
        label: "n is ${input.n}"
  output:
    result: "${steps.second.output.input}"
"#,
    );
    write(
        b.join("workflows/uses-dep.yaml"),
        "workflow:\n  steps:\n    - name: parse\n      task: com.ratchet.core-utils/json-parse\n",
    );
    write(
        b.join(".ratchet/bundle-tests.yaml"),
        r#"quality_checks:
  - name: "Security Scan"
    type: security
    tools: ["snyk-not-installed-here"]
  - name: "Performance Test"
    type: performance
    metrics:
      - max_execution_time: 5s
      - max_memory_usage: 512MB
  - name: "Compatibility Test"
    type: compatibility
    platforms: ["linux", "windows"]
    ratchet_versions: ["1.0", "0.9"]
  - name: "Integration Test"
    type: integration
    test_suites:
      - path: "tests/integration/"
      - external: "https://example.com/test-suite"
"#,
    );
    write(
        b.join("tests/integration/echo-3.json"),
        r#"{"task": "echo", "input": {"n": 3}, "expected_output": {"input": {"n": 3}, "args": 1}}"#,
    );
    (root, b)
}

#[test]
fn run_task_from_bundle_source() {
    let (root, b) = bundle();
    let home = root.path().join("home");
    let bs = b.to_str().unwrap();
    let o = ratchet(
        &home,
        &["run", "--path", bs, "echo", "--input", r#"{"n": 5}"#],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v, json!({"input": {"n": 5}, "args": 1}));
    assert!(
        home.join("cache/modules").read_dir().unwrap().count() >= 1,
        "compiled module cached under RATCHET_HOME"
    );

    // Input from a file and from stdin.
    write(root.path().join("in.json"), r#"{"n": 6}"#);
    let o = ratchet(
        &home,
        &[
            "run",
            "--path",
            bs,
            "--task",
            "echo",
            "--input",
            &format!("@{}", root.path().join("in.json").display()),
        ],
    );
    assert!(text(&o.stdout).contains("6"), "{}", text(&o.stderr));

    // Schema violation: exit 1, message names the schema.
    let o = ratchet(&home, &["run", "--path", bs, "echo", "--input", "{}"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("input.schema.json"),
        "{}",
        text(&o.stderr)
    );

    // Internal task: not runnable from outside the bundle.
    let o = ratchet(&home, &["run", "--path", bs, "internal"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("not exported"),
        "{}",
        text(&o.stderr)
    );

    // JavaScript runs in the sandbox too.
    let o = ratchet(
        &home,
        &["run", "--path", bs, "js-task", "--input", r#"{"js":1}"#],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v, serde_json::json!({"js": 1}));

    // Undeclared network: refused, and the message says so.
    let o = ratchet(
        &home,
        &[
            "run",
            "--path",
            bs,
            "fetcher",
            "--input",
            r#"{"url":"https://evil.example.net/"}"#,
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("not permitted"),
        "{}",
        text(&o.stderr)
    );

    // An installed bundle that is not installed: said plainly.
    let o = ratchet(&home, &["run", "com.example.sandbox-test/echo"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("com.example.sandbox-test is not installed"),
        "{}",
        text(&o.stderr)
    );

    // --explain shows the effective permissions; the policy file narrows them.
    write(
        home.join("config/sandbox-policy.yaml"),
        "network: []\nlimits:\n  max_memory: 64MB\n",
    );
    let o = ratchet(
        &home,
        &[
            "run",
            "--path",
            bs,
            "echo",
            "--input",
            r#"{"n": 1}"#,
            "--explain",
        ],
    );
    assert!(o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("network:      none") && err.contains("memory 64 MiB"),
        "{err}"
    );
}

#[test]
fn run_lone_task_directory() {
    let (root, b) = bundle();
    let home = root.path().join("home");
    let o = ratchet(
        &home,
        &[
            "run",
            "--path",
            b.join("tasks/internal").to_str().unwrap(),
            "--input",
            "[1,2]",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        serde_json::from_slice::<Value>(&o.stdout).unwrap(),
        json!({"input": [1, 2], "args": 1})
    );
}

#[test]
fn run_workflow_from_bundle_source() {
    let (root, b) = bundle();
    let home = root.path().join("home");
    let bs = b.to_str().unwrap();
    let o = ratchet(
        &home,
        &["run", "--path", bs, "pipeline", "--input", r#"{"n": 4}"#],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v, json!({"result": {"prev": {"n": 4}, "label": "n is 4"}}));
    // A step failing stops the workflow and names the step.
    let o = ratchet(
        &home,
        &[
            "run",
            "--path",
            bs,
            "--workflow",
            "pipeline",
            "--input",
            "{}",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("step `first`"),
        "{}",
        text(&o.stderr)
    );
    // A dependency's task needs installed bundles.
    let o = ratchet(&home, &["run", "--path", bs, "uses-dep"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("needs dependency com.ratchet.core-utils, which is not installed"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn bundle_test_writes_verification() {
    let (root, b) = bundle();
    let home = root.path().join("home");
    let o = ratchet(&home, &["bundle", "test", b.to_str().unwrap()]);
    let out = text(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "one test fails on purpose\n{out}\n{}",
        text(&o.stderr)
    );
    assert!(
        out.contains("PASS task-test         echo/test-001"),
        "{out}"
    );
    assert!(
        out.contains("FAIL task-test         echo/test-002"),
        "{out}"
    );
    assert!(out.contains("PASS task-test         js-task/t"), "{out}");

    let v: Value =
        serde_json::from_slice(&std::fs::read(b.join(".bundle/verification.json")).unwrap())
            .unwrap();
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["passed"], false);
    assert!(v["tool"].as_str().unwrap().starts_with("ratchet "));
    let find = |name: &str| -> Value {
        v["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing: {v:#}"))
    };
    assert_eq!(find("echo/test-001")["result"], "passed");
    assert!(find("echo/test-001")["wall_ms"].as_f64().unwrap() > 0.0);
    assert!(find("echo/test-001")["memory_bytes"].as_u64().unwrap() > 0);
    assert_eq!(find("echo/test-002")["result"], "failed");
    assert_eq!(
        find("fetcher/mocked")["result"],
        "passed",
        "mock.http answered the fetch"
    );
    assert_eq!(
        find("js-task/t")["result"],
        "passed",
        "{:?}",
        find("js-task/t")
    );
    assert_eq!(find("Performance Test")["result"], "passed");
    assert_eq!(find("Compatibility Test [linux]")["result"], "passed");
    assert_eq!(
        find("Compatibility Test [windows]")["result"],
        "failed",
        "not in requirements.platform"
    );
    assert_eq!(find("Compatibility Test [ratchet 0.9]")["result"], "failed");
    assert_eq!(find("Compatibility Test [ratchet 1.0]")["result"], "passed");
    assert_eq!(find("tests/integration/echo-3.json")["result"], "passed");
    assert_eq!(
        find("Integration Test [https://example.com/test-suite]")["result"],
        "skipped"
    );
    assert_eq!(
        find("Security Scan [snyk-not-installed-here]")["result"],
        "skipped"
    );
    assert_eq!(
        find("fetcher")["result"],
        "passed",
        "fetch import with declared network"
    );
    let summary = &v["summary"];
    let total = summary["passed"].as_u64().unwrap()
        + summary["failed"].as_u64().unwrap()
        + summary["skipped"].as_u64().unwrap();
    assert_eq!(total as usize, v["tests"].as_array().unwrap().len());
    assert!(
        out.contains(&format!(
            "{} passed, {} failed, {} skipped",
            summary["passed"], summary["failed"], summary["skipped"]
        )),
        "{out}"
    );
}

#[test]
fn permission_audit_flags_undeclared_fetch() {
    let (root, b) = bundle();
    let home = root.path().join("home");
    let manifest = std::fs::read_to_string(b.join("bundle.yaml")).unwrap();
    std::fs::write(
        b.join("bundle.yaml"),
        manifest.replace(
            "  permissions:\n    network:\n      domains: [\"api.example.com\"]\n",
            "",
        ),
    )
    .unwrap();
    std::fs::remove_file(b.join(".ratchet/bundle-tests.yaml")).unwrap();
    let o = ratchet(
        &home,
        &["bundle", "test", b.to_str().unwrap(), "--format", "json"],
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let audit = v["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "permission-audit" && t["name"] == "fetcher")
        .unwrap()
        .clone();
    assert_eq!(audit["result"], "failed");
    assert!(
        audit["message"]
            .as_str()
            .unwrap()
            .contains("declares no network domains")
    );
    let mocked = v["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "fetcher/mocked")
        .unwrap()
        .clone();
    assert_eq!(
        mocked["result"], "failed",
        "a mock does not bypass the permission check"
    );
}

#[test]
fn bundle_dev_validates_and_tests() {
    let (root, b) = bundle();
    let home = root.path().join("home");
    let o = ratchet(
        &home,
        &[
            "bundle",
            "dev",
            b.to_str().unwrap(),
            "--rounds",
            "1",
            "--interval",
            "10",
        ],
    );
    let out = text(&o.stdout);
    assert!(
        out.contains("change detected") && out.contains("passed,"),
        "{out}\n{}",
        text(&o.stderr)
    );
    assert!(b.join(".bundle/verification.json").is_file());
}

#[test]
fn bundle_test_runs_javascript_tasks() {
    let root = tempfile::tempdir().unwrap();
    let b = root.path().join("js-only");
    write(
        b.join("bundle.yaml"),
        "bundle:\n  id: com.example.js-only\n  name: JS only\n  version: 1.0.0\n  description: d\n  license: MIT\n  contents:\n    tasks:\n      - path: tasks/t\n",
    );
    write(
        b.join("tasks/t/main.js"),
        "function main(i) { return { n: i.n + 1 }; }\n",
    );
    write(b.join("tasks/t/metadata.json"), META);
    write(
        b.join("tasks/t/tests/a.json"),
        r#"{"input": {"n": 1}, "expected_output": {"n": 2}}"#,
    );
    let home = root.path().join("home");
    let o = ratchet(&home, &["bundle", "test", b.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("PASS task-test"),
        "{}",
        text(&o.stdout)
    );
    let v: Value =
        serde_json::from_slice(&std::fs::read(b.join(".bundle/verification.json")).unwrap())
            .unwrap();
    assert_eq!(v["passed"], true);
    assert_eq!(v["tests"][0]["name"], "t/a");
    assert!(v["tests"][0]["cpu_points"].as_u64().unwrap() > 0);

    // A wrong expectation fails the run.
    write(
        b.join("tasks/t/tests/b.json"),
        r#"{"input": {"n": 1}, "expected_output": {"n": 3}}"#,
    );
    let o = ratchet(&home, &["bundle", "test", b.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("expected {\"n\":3} but got {\"n\":2}"),
        "{}",
        text(&o.stdout)
    );

    // Without any test, the static audit alone does not make the bundle pass.
    std::fs::remove_dir_all(b.join("tasks/t/tests")).unwrap();
    let o = ratchet(&home, &["bundle", "test", b.to_str().unwrap()]);
    assert!(
        text(&o.stdout).contains("the bundle is not verified"),
        "{}",
        text(&o.stdout)
    );
    let v: Value =
        serde_json::from_slice(&std::fs::read(b.join(".bundle/verification.json")).unwrap())
            .unwrap();
    assert_eq!(v["passed"], false, "{v}");
    assert_eq!(v["summary"]["failed"], 0);
}
