//! `ratchet bundle validate`: the plan's example bundles validate, and every class of problem is
//! reported with its file and position, all at once.

use ratchet_formats::diagnostic::Diagnostic;
use ratchet_testkit::Bundle;
use ratchet_validate::validate_bundle;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh valid bundle (what `bundle init` writes, from `ratchet-testkit`) in a temp dir.
fn fresh() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = Bundle::new("com.example.fixture", "0.1.0").write(tmp.path());
    (tmp, dir)
}

/// Replaces `from` with `to` in the manifest (the text must be there).
fn edit_manifest(dir: &Path, from: &str, to: &str) {
    let p = dir.join("bundle.yaml");
    let text = fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "fixture text `{from}` not in manifest");
    fs::write(&p, text.replacen(from, to, 1)).unwrap();
}

fn codes(diags: &[Diagnostic]) -> Vec<&'static str> {
    diags.iter().map(|d| d.code).collect()
}

/// Asserts validation fails with exactly one diagnostic of `code`, and returns it.
fn single_error(dir: &Path, code: &str) -> Diagnostic {
    let report = validate_bundle(dir);
    assert!(!report.is_valid(), "expected `{code}`, bundle is valid");
    let errors: Vec<_> = report.errors().cloned().collect();
    assert_eq!(codes(&errors), vec![code], "{errors:#?}");
    errors.into_iter().next().unwrap()
}

#[test]
fn plan_examples_validate() {
    for (id, version) in [
        ("com.oss.json-utils", "1.2.0"),
        ("com.enterprise.salesforce-suite", "3.0.0"),
        ("com.templates.devops", "2.5.0"),
        ("com.example.data-processing", "2.1.0"),
    ] {
        let dir = repo().join("sample-bundles").join(id).join(version);
        let report = validate_bundle(&dir);
        assert!(report.is_valid(), "{id}: {:#?}", report.diagnostics);
        let m = report.manifest.unwrap();
        assert_eq!(m.id.as_str(), id);
        assert_eq!(m.version.to_string(), version);
    }
}

#[test]
fn plan_example_fields_are_modelled() {
    let sf = ratchet_formats::manifest::load_manifest(
        &repo().join("sample-bundles/com.enterprise.salesforce-suite/3.0.0"),
    )
    .unwrap();
    let pricing = sf.pricing.as_ref().unwrap();
    assert_eq!(
        pricing.model,
        ratchet_formats::manifest::PricingModel::Subscription
    );
    assert_eq!(pricing.trial_days, Some(14));
    assert_eq!(pricing.price.as_ref().unwrap().amount, 299.0);
    assert_eq!(
        sf.support.as_ref().unwrap().channels,
        vec!["email", "phone", "slack"]
    );
    assert!(
        sf.contents.tasks.iter().all(|t| t.exported),
        "exported defaults to true"
    );
    let devops = ratchet_formats::manifest::load_manifest(
        &repo().join("sample-bundles/com.templates.devops/2.5.0"),
    )
    .unwrap();
    let premium = devops
        .pricing
        .as_ref()
        .unwrap()
        .premium_tier
        .as_ref()
        .unwrap();
    assert_eq!(premium.price.as_ref().unwrap().amount, 49.0);
    assert_eq!(premium.workflows.len(), 3);
    let dp = ratchet_formats::manifest::load_manifest(
        &repo().join("sample-bundles/com.example.data-processing/2.1.0"),
    )
    .unwrap();
    assert!(!dp.contents.tasks[2].exported);
    assert_eq!(dp.dependencies[0].version.as_str(), ">=1.0.0 <2.0.0");
    assert_eq!(dp.requirements.platform.len(), 3);
}

#[test]
fn init_bundle_is_valid() {
    let (_t, dir) = fresh();
    let report = validate_bundle(&dir);
    assert!(report.is_valid(), "{:#?}", report.diagnostics);
    assert!(report.diagnostics.is_empty());
}

#[test]
fn bad_semver() {
    let (_t, dir) = fresh();
    edit_manifest(&dir, "version: \"0.1.0\"", "version: \"1.0\"");
    let d = single_error(&dir, "bad-semver");
    assert_eq!(d.field.as_deref(), Some("bundle.version"));
    assert!(d.message.contains("`1.0` is not a SemVer 2 version"), "{d}");
}

#[test]
fn unquoted_version_gets_a_hint() {
    let (_t, dir) = fresh();
    edit_manifest(&dir, "version: \"0.1.0\"", "version: 1.5");
    let d = single_error(&dir, "wrong-type");
    assert!(d.message.contains("quote it"), "{d}");
}

#[test]
fn bad_requirement_names_the_dependency_index() {
    let (_t, dir) = fresh();
    edit_manifest(
        &dir,
        "  requirements:",
        "  dependencies:\n    - bundle_id: com.other.a\n      version: \"^1.0\"\n    - bundle_id: com.other.b\n      version: \">>2\"\n  requirements:",
    );
    let d = single_error(&dir, "bad-requirement");
    assert_eq!(d.field.as_deref(), Some("bundle.dependencies[1].version"));
    assert_eq!(d.file, "bundle.yaml");
}

#[test]
fn missing_task_directory() {
    let (_t, dir) = fresh();
    fs::remove_dir_all(dir.join("tasks/addition")).unwrap();
    let d = single_error(&dir, "missing-path");
    assert_eq!(d.field.as_deref(), Some("bundle.contents.tasks[0].path"));
}

#[test]
fn missing_readme() {
    let (_t, dir) = fresh();
    fs::remove_file(dir.join("README.md")).unwrap();
    let d = single_error(&dir, "missing-path");
    assert_eq!(d.field.as_deref(), Some("bundle.readme"));
}

#[test]
fn task_without_metadata() {
    let (_t, dir) = fresh();
    fs::remove_file(dir.join("tasks/addition/metadata.json")).unwrap();
    // Ratchet's oldest layout has none: a warning, and the bundle stays valid.
    let report = validate_bundle(&dir);
    assert!(report.is_valid(), "{:?}", report.diagnostics);
    let d = report
        .warnings()
        .find(|d| d.code == "task-missing-metadata")
        .expect("a task-missing-metadata warning");
    assert_eq!(d.file, "tasks/addition");
}

#[test]
fn task_without_code() {
    let (_t, dir) = fresh();
    fs::remove_file(dir.join("tasks/addition/main.js")).unwrap();
    single_error(&dir, "task-missing-main");
}

#[test]
fn invalid_json_schema_file_has_line_and_column() {
    let (_t, dir) = fresh();
    fs::write(
        dir.join("tasks/addition/input.schema.json"),
        "{\n  \"type\": \"object\",\n  oops\n}\n",
    )
    .unwrap();
    let d = single_error(&dir, "invalid-json");
    assert_eq!(d.file, "tasks/addition/input.schema.json");
    assert_eq!(d.line, Some(3));
    assert!(d.column.is_some());
}

#[test]
fn invalid_json_in_test_file() {
    let (_t, dir) = fresh();
    fs::write(
        dir.join("tasks/addition/tests/test-001.json"),
        "{\"input\": }",
    )
    .unwrap();
    let d = single_error(&dir, "invalid-json");
    assert_eq!(d.file, "tasks/addition/tests/test-001.json");
}

#[test]
fn schema_that_is_not_json_schema() {
    let (_t, dir) = fresh();
    fs::write(
        dir.join("tasks/addition/output.schema.json"),
        "{\"type\": \"bogus-type\"}",
    )
    .unwrap();
    let d = single_error(&dir, "invalid-schema");
    assert_eq!(d.file, "tasks/addition/output.schema.json");
}

#[test]
fn self_dependency() {
    let (_t, dir) = fresh();
    edit_manifest(
        &dir,
        "  requirements:",
        "  dependencies:\n    - bundle_id: com.example.fixture\n      version: \"*\"\n  requirements:",
    );
    let d = single_error(&dir, "self-dependency");
    assert_eq!(d.field.as_deref(), Some("bundle.dependencies[0].bundle_id"));
}

#[test]
fn duplicate_dependency() {
    let (_t, dir) = fresh();
    edit_manifest(
        &dir,
        "  requirements:",
        "  dependencies:\n    - bundle_id: com.x.y\n      version: \"^1\"\n    - bundle_id: com.x.y\n      version: \"^2\"\n  requirements:",
    );
    let d = single_error(&dir, "duplicate-dependency");
    assert_eq!(d.field.as_deref(), Some("bundle.dependencies[1].bundle_id"));
}

#[test]
fn absolute_and_dotdot_paths() {
    let (_t, dir) = fresh();
    edit_manifest(&dir, "readme: \"README.md\"", "readme: \"/etc/passwd\"");
    edit_manifest(
        &dir,
        "changelog: \"CHANGELOG.md\"",
        "changelog: \"../CHANGELOG.md\"",
    );
    let report = validate_bundle(&dir);
    let errors: Vec<_> = report.errors().collect();
    assert_eq!(
        codes(&errors.iter().map(|d| (*d).clone()).collect::<Vec<_>>()),
        vec!["unsafe-path", "unsafe-path"]
    );
    assert!(
        errors
            .iter()
            .any(|d| d.field.as_deref() == Some("bundle.readme") && d.message.contains("absolute"))
    );
    assert!(
        errors
            .iter()
            .any(|d| d.field.as_deref() == Some("bundle.changelog") && d.message.contains(".."))
    );
}

#[cfg(unix)]
#[test]
fn symlink_escaping_the_bundle() {
    let (t, dir) = fresh();
    fs::write(t.path().join("outside.md"), "secret").unwrap();
    fs::remove_file(dir.join("README.md")).unwrap();
    std::os::unix::fs::symlink(t.path().join("outside.md"), dir.join("README.md")).unwrap();
    let d = single_error(&dir, "unsafe-path");
    assert_eq!(d.field.as_deref(), Some("bundle.readme"));
}

#[test]
fn paid_without_price() {
    let (_t, dir) = fresh();
    edit_manifest(
        &dir,
        "  keywords:",
        "  pricing:\n    model: paid\n  keywords:",
    );
    let d = single_error(&dir, "missing-price");
    assert_eq!(d.field.as_deref(), Some("bundle.pricing.price"));
}

#[test]
fn subscription_without_price() {
    let (_t, dir) = fresh();
    edit_manifest(
        &dir,
        "  keywords:",
        "  pricing:\n    model: subscription\n  keywords:",
    );
    single_error(&dir, "missing-price");
}

#[test]
fn negative_amount() {
    let (_t, dir) = fresh();
    edit_manifest(
        &dir,
        "  keywords:",
        "  pricing:\n    model: paid\n    price: { amount: -5, currency: USD }\n  keywords:",
    );
    let d = single_error(&dir, "negative-amount");
    assert_eq!(d.field.as_deref(), Some("bundle.pricing.price.amount"));
}

#[test]
fn unknown_currency() {
    let (_t, dir) = fresh();
    edit_manifest(
        &dir,
        "  keywords:",
        "  pricing:\n    model: paid\n    price: { amount: 5, currency: DOGE }\n  keywords:",
    );
    let d = single_error(&dir, "unknown-currency");
    assert!(d.message.contains("ISO 4217"));
}

#[test]
fn proprietary_free_is_a_warning() {
    let (_t, dir) = fresh();
    edit_manifest(&dir, "license: \"MIT\"", "license: \"PROPRIETARY\"");
    let report = validate_bundle(&dir);
    assert!(report.is_valid());
    let warnings: Vec<_> = report.warnings().collect();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].code, "proprietary-free");
}

#[test]
fn unknown_field_with_suggestion() {
    let (_t, dir) = fresh();
    edit_manifest(&dir, "  keywords:", "  descripton: typo\n  keywords:");
    let d = single_error(&dir, "unknown-field");
    assert_eq!(d.field.as_deref(), Some("bundle.descripton"));
    assert!(d.message.contains("did you mean `description`?"), "{d}");
}

#[test]
fn unknown_field_in_nested_definition() {
    let (_t, dir) = fresh();
    edit_manifest(&dir, "        exported: true", "        exproted: true");
    let d = single_error(&dir, "unknown-field");
    assert_eq!(
        d.field.as_deref(),
        Some("bundle.contents.tasks[0].exproted")
    );
    assert!(d.message.contains("did you mean `exported`?"), "{d}");
}

#[test]
fn yaml_syntax_error_has_position() {
    let (_t, dir) = fresh();
    edit_manifest(&dir, "  name:", "  name: [oops\n  x:");
    let d = single_error(&dir, "yaml-syntax");
    assert!(d.line.is_some() && d.column.is_some(), "{d}");
}

#[test]
fn bad_permission_entries() {
    let (_t, dir) = fresh();
    edit_manifest(
        &dir,
        "  permissions: {}",
        "  permissions:\n    network:\n      domains: [\"https://api.x.com/v1\"]\n    commands: [\"rm -rf /\"]\n    environment: [\"1BAD\"]",
    );
    let report = validate_bundle(&dir);
    let errors: Vec<_> = report.errors().collect();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(errors.iter().all(|d| d.code == "bad-permission"));
    assert!(
        errors
            .iter()
            .any(|d| d.field.as_deref() == Some("bundle.permissions.network.domains[0]"))
    );
}

#[test]
fn every_problem_reported_at_once() {
    let (_t, dir) = fresh();
    edit_manifest(&dir, "version: \"0.1.0\"", "version: \"one\"");
    edit_manifest(&dir, "license: \"MIT\"", "license: \"Not A License\"");
    edit_manifest(&dir, "  keywords:", "  keywrods: [x]\n  keywords:");
    let report = validate_bundle(&dir);
    let mut c = codes(&report.diagnostics);
    c.sort();
    assert_eq!(c, vec!["bad-license", "bad-semver", "unknown-field"]);
}

#[test]
fn cross_field_problems_are_reported_with_schema_errors() {
    let (_t, dir) = fresh();
    edit_manifest(&dir, "version: \"0.1.0\"", "version: \"one\"");
    edit_manifest(
        &dir,
        "  requirements:",
        "  pricing:\n    model: paid\n  dependencies:\n    - bundle_id: com.example.fixture\n      version: \"*\"\n    - bundle_id: com.x.y\n      version: \"^1\"\n    - bundle_id: com.x.y\n      version: \"^2\"\n  requirements:",
    );
    let report = validate_bundle(&dir);
    let mut c = codes(&report.diagnostics);
    c.sort();
    assert_eq!(
        c,
        vec![
            "bad-semver",
            "duplicate-dependency",
            "missing-price",
            "self-dependency"
        ],
        "{:#?}",
        report.diagnostics
    );
}

#[test]
fn duplicate_task_names() {
    let (_t, dir) = fresh();
    fs::create_dir_all(dir.join("more")).unwrap();
    let copy = |from: &Path, to: &Path| {
        fs::create_dir_all(to.join("tests")).unwrap();
        for f in ["metadata.json", "main.js", "tests/test-001.json"] {
            fs::copy(from.join(f), to.join(f)).unwrap();
        }
    };
    copy(&dir.join("tasks/addition"), &dir.join("more/addition"));
    edit_manifest(
        &dir,
        "        tags: [\"math\"]",
        "        tags: [\"math\"]\n      - path: \"more/addition\"",
    );
    let d = single_error(&dir, "duplicate-name");
    assert_eq!(d.field.as_deref(), Some("bundle.contents.tasks[1].path"));
}

fn ratchet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ratchet"))
}

#[test]
fn cli_exit_codes_and_json() {
    let (_t, dir) = fresh();
    let ok = ratchet()
        .args(["bundle", "validate"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).contains("com.example.fixture 0.1.0 is valid"));

    edit_manifest(&dir, "version: \"0.1.0\"", "version: \"x\"");
    fs::remove_file(dir.join("tasks/addition/main.js")).unwrap();
    let bad = ratchet()
        .args(["bundle", "validate", "--format", "json"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(v["valid"], false);
    let diags = v["diagnostics"].as_array().unwrap();
    // A wrong field does not stop the checks of the files the manifest names.
    let mut found: Vec<&str> = diags.iter().map(|d| d["code"].as_str().unwrap()).collect();
    found.sort();
    assert_eq!(found, vec!["bad-semver", "task-missing-main"], "{v}");
    let semver = diags.iter().find(|d| d["code"] == "bad-semver").unwrap();
    assert_eq!(semver["field"], "bundle.version");
    // Schema problems are placed on their line too.
    let line = semver["line"].as_u64().expect("a line") as usize;
    let manifest = fs::read_to_string(dir.join("bundle.yaml")).unwrap();
    assert!(
        manifest.lines().nth(line - 1).unwrap().contains("version:"),
        "{v}"
    );
    assert_eq!(
        semver["source_line"].as_str(),
        manifest.lines().nth(line - 1)
    );

    let text = ratchet()
        .args(["bundle", "validate"])
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(
        stderr.contains(&format!(
            "error[bad-semver]: bundle.yaml:{line}:{}: bundle.version:",
            semver["column"]
        )),
        "{stderr}"
    );
}

#[test]
fn cli_init_then_validate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("new-bundle");
    let out = ratchet()
        .args(["bundle", "init"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ratchet()
        .args(["bundle", "validate"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("com.example.new-bundle"));
    let again = ratchet()
        .args(["bundle", "init"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
}

#[test]
fn duplicate_yaml_keys_are_refused() {
    let (_t, dir) = fresh();
    edit_manifest(
        &dir,
        "version: \"0.1.0\"",
        "version: \"0.1.0\"\n  version: \"9.9.9\"",
    );
    let d = single_error(&dir, "yaml-syntax");
    assert!(d.message.contains("duplicate key `version`"), "{d}");
    assert!(d.line.is_some(), "{d:?}");
}

#[test]
fn invalid_metadata_and_test_name_the_field() {
    let (_t, dir) = fresh();
    let meta = dir.join("tasks/addition/metadata.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&meta).unwrap()).unwrap();
    v["timeout"] = "5s".into();
    fs::write(&meta, v.to_string()).unwrap();
    let d = single_error(&dir, "invalid-metadata");
    assert_eq!(d.field.as_deref(), Some("timeout"));
    assert_eq!(d.file, "tasks/addition/metadata.json");
    assert!(
        d.message.contains("milliseconds as a number, e.g. 5000"),
        "{d}"
    );

    let (_t, dir) = fresh();
    let test = dir.join("tasks/addition/tests/test-001.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&test).unwrap()).unwrap();
    v["mock"] = serde_json::json!({"http": {"url": 5}});
    fs::write(&test, v.to_string()).unwrap();
    let d = single_error(&dir, "invalid-test");
    assert_eq!(d.field.as_deref(), Some("mock.http.url"));
}

#[test]
fn missing_manifest_and_task_file_instead_of_directory() {
    let (_t, dir) = fresh();
    fs::remove_file(dir.join("bundle.yaml")).unwrap();
    single_error(&dir, "missing-manifest");
    let (_t, dir) = fresh();
    fs::remove_dir_all(dir.join("tasks/addition")).unwrap();
    fs::write(dir.join("tasks/addition"), "not a directory").unwrap();
    let d = single_error(&dir, "not-a-directory");
    assert_eq!(d.field.as_deref(), Some("bundle.contents.tasks[0].path"));
}

/// A YAML mistake in `bundle.yaml` shows the line with a caret under the column and a hint,
/// in the library's diagnostic and in what `ratchet bundle validate` prints.
#[test]
fn yaml_mistakes_show_the_line_with_a_caret_and_a_hint() {
    let cases = [
        // An unquoted `: ` in a value.
        (
            "description: ",
            "description: Usage: add numbers\n  x_: ",
            "quote the value: description: \"Usage: add numbers",
        ),
        // A tab in the indentation.
        ("  name: ", "\tname: ", "indented with a tab"),
        // A key indented one space too far.
        ("  license: ", "   license: ", "inconsistent indentation"),
    ];
    for (from, to, hint) in cases {
        let (_t, dir) = fresh();
        edit_manifest(&dir, from, to);
        let d = single_error(&dir, "yaml-syntax");
        assert!(d.hint.as_deref().is_some_and(|h| h.contains(hint)), "{d}");
        let line = d.line.expect("a line");
        let text = fs::read_to_string(dir.join("bundle.yaml")).unwrap();
        assert_eq!(d.source_line.as_deref(), text.lines().nth(line - 1), "{d}");

        let o = Command::new(env!("CARGO_BIN_EXE_ratchet"))
            .args(["bundle", "validate"])
            .arg(&dir)
            .env("RATCHET_HOME", dir.join(".home"))
            .output()
            .unwrap();
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(&format!(" {line} | ")), "{err}");
        assert!(err.contains("^\n"), "{err}");
        assert!(err.contains("= hint: "), "{err}");
    }
}

#[test]
fn control_and_bidi_characters_are_refused_where_they_are_written() {
    // A bundle name with a right-to-left override: refused alone, located.
    let (_t, dir) = fresh();
    edit_manifest(&dir, "\n  name: \"", "\n  name: \"Evil\u{202e}gnp.");
    let d = single_error(&dir, "unsafe-character");
    assert_eq!(d.field.as_deref(), Some("bundle.name"));
    assert_eq!(d.line, Some(4), "{d}");
    assert!(d.message.contains("U+202E"), "{d}");

    // An escape sequence in a permission pattern and an isolate in a task name.
    let (_t, dir) = fresh();
    edit_manifest(
        &dir,
        "  permissions: {}",
        "  permissions:\n    network:\n      domains: [\"api\\e[2K.example.com\"]",
    );
    edit_manifest(
        &dir,
        "      - path: \"tasks/addition\"",
        "      - path: \"tasks/addition\"\n        name: \"add\u{2066}\"",
    );
    let report = validate_bundle(&dir);
    let unsafe_at: Vec<(Option<&str>, Option<usize>)> = report
        .errors()
        .filter(|d| d.code == "unsafe-character")
        .map(|d| (d.field.as_deref(), d.line))
        .collect();
    assert!(
        unsafe_at
            .iter()
            .any(|(f, l)| *f == Some("bundle.permissions.network.domains[0]") && l.is_some()),
        "{:#?}",
        report.diagnostics
    );
    assert!(
        unsafe_at
            .iter()
            .any(|(f, l)| *f == Some("bundle.contents.tasks[0].name") && l.is_some()),
        "{:#?}",
        report.diagnostics
    );
}
