//! Quality checks (`index-format.md` §16) with the real `ratchet` binary: `ratchet bundle check`
//! runs every task test in the sandbox worker, measures it against `bundle-tests.yaml`, scans
//! the task code against the declared permissions, matches OSV advisories against the bundle
//! and its dependencies resolved in a real registry, compares `ratchet_versions` with the
//! runtime, and writes a report that a registry verifier attests.

mod common;

use common::{ratchet, ratchet_env, text};
use ratchet_testkit::{Bundle, TestRegistry};
use serde_json::Value;
use std::path::{Path, PathBuf};

const ADD_JS: &str = "(function (input) {\n  return { sum: input.num1 + input.num2 };\n})\n";

const CHECKS: &str = r#"quality_checks:
  - name: "Security Scan"
    type: security
  - name: "Performance Test"
    type: performance
    metrics:
      - max_execution_time: 5s
      - max_memory_usage: 512MB
  - name: "Compatibility Test"
    type: compatibility
    ratchet_versions: ["1.0", "2.0"]
"#;

/// A bundle source with `main.js` = `js` and `.ratchet/bundle-tests.yaml` = `checks`.
fn bundle(work: &Path, id: &str, js: &str, checks: &str) -> Bundle {
    let (js, checks) = (js.to_string(), checks.to_string());
    let _ = work;
    Bundle::new(id, "1.0.0").edit(move |src| {
        std::fs::write(src.join("tasks/addition/main.js"), js).unwrap();
        std::fs::create_dir_all(src.join(".ratchet")).unwrap();
        std::fs::write(src.join(".ratchet/bundle-tests.yaml"), checks).unwrap();
    })
}

fn check(home: &Path, args: &[&str]) -> (bool, Value, String) {
    check_env(home, args, &[])
}

fn check_env(home: &Path, args: &[&str], env: &[(&str, &str)]) -> (bool, Value, String) {
    let mut all = vec!["bundle", "check"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let o = ratchet_env(home, &all, env);
    let err = text(&o.stderr);
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout not JSON ({e}): {}\n{err}", text(&o.stdout)));
    (o.status.success(), v, err)
}

fn result<'a>(v: &'a Value, kind: &str, name: &str) -> &'a Value {
    v["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == kind && t["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} result `{name}`: {v:#}"))
}

fn set_permissions(src: &Path, block: &str) {
    let y = std::fs::read_to_string(src.join("bundle.yaml")).unwrap();
    std::fs::write(
        src.join("bundle.yaml"),
        y.replace("  permissions: {}\n", block),
    )
    .unwrap();
}

#[test]
fn a_clean_bundle_passes_every_check() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let src = bundle(t.path(), "com.test.clean", ADD_JS, CHECKS).write(t.path());
    let s = src.to_str().unwrap();
    let (ok, v, err) = check(&home, &[s]);
    assert!(ok, "{v:#}\n{err}");
    assert_eq!(v["passed"], true);
    assert_eq!(v["verification"]["status"], "unverified");
    assert_eq!(v["ratchet_version"], "1.0.0");
    assert_eq!(
        result(&v, "task-test", "addition/test-001")["result"],
        "passed"
    );
    assert_eq!(result(&v, "security", "addition")["result"], "passed");
    let perf = result(&v, "performance", "Performance Test");
    assert_eq!(perf["result"], "passed");
    assert!(perf["wall_ms"].as_f64().unwrap() > 0.0, "{perf}");
    assert!(perf["memory_bytes"].as_u64().unwrap() > 0, "{perf}");
    assert_eq!(
        result(&v, "compatibility", "Compatibility Test [ratchet 1.0]")["result"],
        "passed"
    );
    assert_eq!(
        result(&v, "compatibility", "Compatibility Test [ratchet 2.0]")["result"],
        "skipped"
    );
    assert_eq!(
        result(&v, "advisories", "Security Scan [advisories]")["result"],
        "skipped",
        "no advisory source given"
    );
    // The report is written where `bundle test` writes it.
    let written: Value =
        serde_json::from_slice(&std::fs::read(src.join(".bundle/verification.json")).unwrap())
            .unwrap();
    assert_eq!(written, v);
}

#[test]
fn fetch_without_network_permission_fails_the_scan() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let js = "(function (input) {\n  if (input.num1 < 0) {\n    return fetch('https://api.example.com/x').json();\n  }\n  return { sum: input.num1 + input.num2 };\n})\n";
    let src = bundle(t.path(), "com.test.fetcher", js, CHECKS).write(t.path());
    let s = src.to_str().unwrap();
    let (ok, v, _) = check(&home, &[s]);
    assert!(!ok, "{v:#}");
    assert_eq!(v["passed"], false);
    let sec = result(&v, "security", "addition");
    assert_eq!(sec["result"], "failed");
    let f = &sec["findings"][0];
    assert_eq!(f["rule"], "undeclared-network");
    assert_eq!(f["severity"], "error");
    assert_eq!(f["file"], "tasks/addition/main.js");
    assert_eq!(
        (f["line"].as_u64(), f["column"].as_u64()),
        (Some(3), Some(12))
    );
    // The tests themselves ran and passed: only the scan failed.
    assert_eq!(
        result(&v, "task-test", "addition/test-001")["result"],
        "passed"
    );

    // Another host than the declared one is still undeclared, by the sandbox's matching.
    set_permissions(
        &src,
        "  permissions:\n    network:\n      domains: [\"other.example.com\"]\n",
    );
    let (ok, v, _) = check(&home, &[s]);
    assert!(!ok);
    assert!(
        result(&v, "security", "addition")["message"]
            .as_str()
            .unwrap()
            .contains("fetches `https://api.example.com/x`")
    );
    // Declared: the scan passes.
    let y = std::fs::read_to_string(src.join("bundle.yaml")).unwrap();
    std::fs::write(
        src.join("bundle.yaml"),
        y.replace("other.example.com", "api.example.com"),
    )
    .unwrap();
    let (ok, v, err) = check(&home, &[s]);
    assert!(ok, "{v:#}\n{err}");
    assert_eq!(result(&v, "security", "addition")["result"], "passed");
}

#[test]
fn eval_fails_the_scan_unless_allowed() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let js = "(function (input) {\n  return { sum: eval('input.num1 + input.num2') };\n})\n";
    let src = bundle(t.path(), "com.test.evil", js, CHECKS).write(t.path());
    let s = src.to_str().unwrap();
    let (ok, v, _) = check(&home, &[s]);
    assert!(!ok);
    let sec = result(&v, "security", "addition");
    assert_eq!(sec["result"], "failed");
    assert_eq!(sec["findings"][0]["rule"], "eval");
    assert_eq!(sec["findings"][0]["line"], 2);
    // The task works (eval exists in the engine): the tests pass, the scan does not.
    assert_eq!(
        result(&v, "task-test", "addition/test-001")["result"],
        "passed"
    );

    // `bundle test` without a declared security check: the permission audit only warns.
    std::fs::remove_file(src.join(".ratchet/bundle-tests.yaml")).unwrap();
    let o = ratchet(&home, &["bundle", "test", s, "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));

    // The author accepts the rule: a warning that says so.
    std::fs::write(
        src.join(".ratchet/bundle-tests.yaml"),
        "quality_checks:\n  - name: Security Scan\n    type: security\n    allow: [eval]\n",
    )
    .unwrap();
    let (ok, v, err) = check(&home, &[s]);
    assert!(ok, "{v:#}\n{err}");
    let sec = result(&v, "security", "addition");
    assert_eq!(sec["findings"][0]["severity"], "warning");
    assert!(
        sec["message"]
            .as_str()
            .unwrap()
            .contains("allowed by bundle-tests.yaml")
    );
}

fn osv(id: &str, package: &str, events: &str) -> String {
    format!(
        r#"{{"schema_version":"1.6.0","id":"{id}","modified":"2026-12-01T00:00:00Z","summary":"json-parse evaluates its input","database_specific":{{"severity":"HIGH"}},"affected":[{{"package":{{"ecosystem":"Ratchet","name":"{package}"}},"ranges":[{{"type":"SEMVER","events":{events}}}]}}]}}"#
    )
}

#[test]
fn an_osv_advisory_matching_a_resolved_dependency_fails() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let tr = TestRegistry::new(t.path());
    Bundle::new("com.test.base", "1.0.0").publish(&tr);
    Bundle::new("com.test.lib", "1.0.0")
        .dep("com.test.base", "^1.0")
        .publish(&tr);
    Bundle::new("com.test.lib", "1.1.0")
        .dep("com.test.base", "^1.0")
        .publish(&tr);
    let src = bundle(t.path(), "com.test.app", ADD_JS, CHECKS)
        .dep("com.test.lib", "^1.0")
        .write(t.path());
    let s = src.to_str().unwrap();
    let reg = tr.dir();
    let r = reg.to_str().unwrap();

    // An advisory on a version the resolver does not pick, and one on another bundle: no match.
    let adv = ratchet_quality::advisory::parse(
        &format!(
            "{}\n{}\n",
            osv(
                "RATCHET-2026-0001",
                "com.test.lib",
                r#"[{"introduced":"0"},{"fixed":"1.1.0"}]"#
            ),
            osv(
                "RATCHET-2026-0002",
                "com.test.other",
                r#"[{"introduced":"0"}]"#
            )
        ),
        "test.jsonl",
    )
    .unwrap();
    tr.reg.add_advisories(adv).unwrap();
    let (ok, v, err) = check(&home, &[s, "--registry", r]);
    assert!(ok, "{v:#}\n{err}");
    let a = result(&v, "advisories", "Security Scan [advisories]");
    assert_eq!(a["result"], "passed");
    assert!(
        a["message"]
            .as_str()
            .unwrap()
            .contains("2 resolved dependencies"),
        "{a}"
    );

    // An advisory on the transitive dependency, from the registry: found with its path.
    let adv = ratchet_quality::advisory::parse(
        &osv(
            "RATCHET-2026-0003",
            "com.test.base",
            r#"[{"introduced":"0"},{"fixed":"1.0.1"}]"#,
        ),
        "base.json",
    )
    .unwrap();
    tr.reg.add_advisories(adv).unwrap();
    let (ok, v, _) = check(&home, &[s, "--registry", r]);
    assert!(!ok);
    let a = result(&v, "advisories", "Security Scan [advisories]");
    assert_eq!(a["result"], "failed");
    let m = &a["advisories"][0];
    assert_eq!(m["advisory"], "RATCHET-2026-0003");
    assert_eq!(m["id"], "com.test.base");
    assert_eq!(m["version"], "1.0.0");
    assert_eq!(m["fixed"], "1.0.1");
    assert_eq!(
        m["path"],
        serde_json::json!(["com.test.app", "com.test.lib", "com.test.base"])
    );
    assert!(
        a["message"]
            .as_str()
            .unwrap()
            .contains("com.test.app -> com.test.lib -> com.test.base")
    );

    // An advisory file given on the command line is read too (and names the bundle itself).
    let file = t.path().join("own.json");
    std::fs::write(
        &file,
        osv(
            "GHSA-aaaa-bbbb-cccc",
            "com.test.app",
            r#"[{"introduced":"1.0.0"},{"last_affected":"1.0.0"}]"#,
        ),
    )
    .unwrap();
    let (ok, v, _) = check(&home, &[s, "--advisories", file.to_str().unwrap()]);
    assert!(!ok);
    let a = result(&v, "advisories", "Security Scan [advisories]");
    assert_eq!(a["advisories"][0]["advisory"], "GHSA-aaaa-bbbb-cccc");
    assert!(
        a["message"]
            .as_str()
            .unwrap()
            .contains("GHSA-aaaa-bbbb-cccc affects com.test.app 1.0.0"),
        "{a}"
    );
    // A broken advisory file is an error naming it and its line.
    std::fs::write(&file, "{\"id\": \"X\", \"affected\": []}\n").unwrap();
    let o = ratchet(
        &home,
        &["bundle", "check", s, "--advisories", file.to_str().unwrap()],
    );
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("own.json:1: ")
            && text(&o.stderr).contains("no `affected` entry with package.ecosystem `Ratchet`"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn a_task_exceeding_the_declared_time_or_memory_fails() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let slow = "(function (input) {\n  const t = Date.now();\n  while (Date.now() - t < 400) {}\n  return { sum: input.num1 + input.num2 };\n})\n";
    let checks = "quality_checks:\n  - name: Performance Test\n    type: performance\n    metrics:\n      - max_execution_time: 100ms\n";
    let src = bundle(t.path(), "com.test.slow", slow, checks).write(t.path());
    let s = src.to_str().unwrap();
    let (ok, v, _) = check(&home, &[s]);
    assert!(!ok);
    let p = result(&v, "performance", "Performance Test");
    assert_eq!(p["result"], "failed");
    assert!(p["wall_ms"].as_f64().unwrap() >= 400.0, "{p}");
    assert!(
        p["message"]
            .as_str()
            .unwrap()
            .contains("addition/test-001: ")
            && p["message"]
                .as_str()
                .unwrap()
                .contains("> max_execution_time 100ms"),
        "{p}"
    );
    assert_eq!(
        result(&v, "task-test", "addition/test-001")["result"],
        "passed"
    );

    // Memory: the JavaScript engine's linear memory is several MiB, more than 1MB.
    std::fs::write(
        src.join(".ratchet/bundle-tests.yaml"),
        "quality_checks:\n  - name: Performance Test\n    type: performance\n    metrics:\n      - max_execution_time: 10s\n      - max_memory_usage: 1MB\n",
    )
    .unwrap();
    let (ok, v, _) = check(&home, &[s]);
    assert!(!ok);
    let p = result(&v, "performance", "Performance Test");
    assert_eq!(p["result"], "failed");
    assert!(
        p["message"]
            .as_str()
            .unwrap()
            .contains("> max_memory_usage 1"),
        "{p}"
    );
}

#[test]
fn an_incompatible_ratchet_version_fails() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let checks = "quality_checks:\n  - name: Compatibility Test\n    type: compatibility\n    ratchet_versions: [\"2.0\"]\n";
    let src = bundle(t.path(), "com.test.future", ADD_JS, checks).write(t.path());
    let s = src.to_str().unwrap();
    let (ok, v, _) = check(&home, &[s]);
    assert!(!ok);
    let c = result(
        &v,
        "compatibility",
        "Compatibility Test [ratchet 1.0.0 (this runtime)]",
    );
    assert_eq!(c["result"], "failed");
    assert!(
        c["message"].as_str().unwrap().contains("does not list"),
        "{c}"
    );
    // A runtime that implements 2.0 (the client's target version) passes.
    let (ok, v, err) = check_env(&home, &[s], &[("RATCHET_TARGET_VERSION", "2.0.0")]);
    assert!(ok, "{v:#}\n{err}");
    assert_eq!(v["ratchet_version"], "2.0.0");
    assert_eq!(
        result(&v, "compatibility", "Compatibility Test [ratchet 2.0]")["result"],
        "passed"
    );
    // A listed version that the manifest's own requirement excludes fails.
    let y = std::fs::read_to_string(src.join("bundle.yaml")).unwrap();
    std::fs::write(
        src.join("bundle.yaml"),
        y.replace(">=1.0.0", ">=1.0.0, <2.0.0"),
    )
    .unwrap();
    let (ok, v, _) = check_env(&home, &[s], &[("RATCHET_TARGET_VERSION", "2.0.0")]);
    assert!(!ok);
    assert_eq!(
        result(&v, "compatibility", "Compatibility Test [ratchet 2.0]")["result"],
        "failed"
    );
}

#[test]
fn a_bad_bundle_tests_file_is_located() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let src = bundle(
        t.path(),
        "com.test.badfile",
        ADD_JS,
        &CHECKS.replace("5s", "5 parsecs"),
    )
    .write(t.path());
    let o = ratchet(&home, &["bundle", "check", src.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("line 7 column ")
            && err.contains(
                ": quality_checks[1].metrics[0].max_execution_time: `5 parsecs` is not a duration"
            ),
        "{err}"
    );
    assert!(!src.join(".bundle/verification.json").exists());
}

fn archive_of(work: &Path, b: Bundle) -> PathBuf {
    b.build(work)
}

#[test]
fn an_archive_report_is_attested_by_a_verifier() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let mut tr = TestRegistry::new(t.path());
    let kdir = t.path().join("keys");
    let verifier = ratchet_testkit::secret_key(&kdir, "verifier");
    let other = ratchet_testkit::secret_key(&kdir, "other");
    tr.reg
        .add_verifier("Security Team", verifier.public())
        .unwrap();
    let archive = archive_of(t.path(), bundle(t.path(), "com.test.good", ADD_JS, CHECKS));
    let line = tr.publish_file(&archive);
    let report = t.path().join("report.json");
    let (ok, v, err) = check(
        &home,
        &[
            archive.to_str().unwrap(),
            "--registry",
            tr.dir().to_str().unwrap(),
            "-o",
            report.to_str().unwrap(),
        ],
    );
    assert!(ok, "{v:#}\n{err}");
    assert_eq!(v["archive_sha256"], line.sha256.as_str());
    let bytes = std::fs::read(&report).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), v);

    let date = "2026-12-05T00:00:00Z";
    // Not a verifier, another archive, a failing report: refused, nothing stored.
    let e = tr
        .reg
        .store_verified_report(
            &bytes,
            "com.test.good",
            "1.0.0",
            &line.sha256,
            other.public(),
            date,
        )
        .unwrap_err();
    assert!(e.to_string().contains("not a verifier"), "{e}");
    let e = tr
        .reg
        .store_verified_report(
            &bytes,
            "com.test.good",
            "1.0.0",
            &"0".repeat(64),
            verifier.public(),
            date,
        )
        .unwrap_err();
    assert!(e.to_string().contains("not the published"), "{e}");
    let mut failing = v.clone();
    failing["passed"] = Value::Bool(false);
    let e = tr
        .reg
        .store_verified_report(
            &serde_json::to_vec(&failing).unwrap(),
            "com.test.good",
            "1.0.0",
            &line.sha256,
            verifier.public(),
            date,
        )
        .unwrap_err();
    assert!(e.to_string().contains("did not pass"), "{e}");
    assert!(!tr.dir().join("reports").exists());

    // A passing report of the published archive: stored, attested, officially verified.
    let rel = tr
        .reg
        .store_verified_report(
            &bytes,
            "com.test.good",
            "1.0.0",
            &line.sha256,
            verifier.public(),
            date,
        )
        .unwrap();
    assert!(
        rel.starts_with(&format!("reports/{}/", line.sha256)),
        "{rel}"
    );
    let stored: Value =
        serde_json::from_slice(&std::fs::read(tr.dir().join(&rel)).unwrap()).unwrap();
    assert_eq!(stored["verification"]["status"], "officially-verified");
    assert_eq!(stored["verification"]["verifier"], "Security Team");
    let a = ratchet_trust::attest::attest(
        &ratchet_trust::attest::AttestFields {
            kind: ratchet_trust::attest::AttestKind::Official,
            id: "com.test.good".into(),
            version: "1.0.0".into(),
            sha256: line.sha256.clone(),
            date: date.into(),
            score: None,
            report: Some(rel.clone()),
        },
        &verifier,
    )
    .unwrap();
    tr.reg.add_attestation(a).unwrap();
    let o = ratchet(
        &home,
        &[
            "bundle",
            "info",
            "com.test.good",
            "--registry",
            tr.dir().to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    let info = text(&o.stdout);
    assert!(
        info.contains("officially-verified") && info.contains(&rel),
        "{info}\n{}",
        text(&o.stderr)
    );
}
