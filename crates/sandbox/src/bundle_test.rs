//! `ratchet bundle test`: every task's test cases and the locally runnable quality checks of
//! `.ratchet/bundle-tests.yaml`, recorded in `.bundle/verification.json` (format in
//! `task-abi.md` §9).
//!
//! A check that cannot run here (an external scanner, an external suite, a platform other than
//! this one, a JavaScript task in a build without the JavaScript engine) is recorded as `skipped`
//! with the reason — never as `passed`.

use crate::execute::{ExecOptions, TaskSpec, run_task};
use crate::{Policy, RATCHET_MODULE, Runtime, WASI_MODULE};
use ratchet_formats::manifest::units::{ByteSize, Millis};
use ratchet_formats::manifest::{Manifest, Platform, load_manifest};
use ratchet_formats::task::{Expectation, HttpMock, TaskError, TaskKind, TaskTest, read_json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Where the quality checks are declared.
pub const CHECKS_FILE: &str = ".ratchet/bundle-tests.yaml";
/// Where the results go.
pub const VERIFICATION_FILE: &str = ".bundle/verification.json";

/// Result of one test or check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// It ran and passed.
    Passed,
    /// It ran and failed.
    Failed,
    /// It could not run here.
    Skipped,
}

/// One entry of `verification.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// `task-test`, `integration`, `performance`, `compatibility`, `security`, `permission-audit`.
    pub kind: String,
    /// What ran (`task/test-file` or the check's name).
    pub name: String,
    /// The verdict.
    pub result: Verdict,
    /// Why it failed or was skipped, or notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Wall-clock time of the run, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_ms: Option<f64>,
    /// Linear memory at the end of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Metering points used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_points: Option<u64>,
}

impl CheckResult {
    fn new(kind: &str, name: impl Into<String>, result: Verdict, message: Option<String>) -> Self {
        CheckResult {
            kind: kind.into(),
            name: name.into(),
            result,
            message,
            wall_ms: None,
            memory_bytes: None,
            cpu_points: None,
        }
    }
}

/// Counts per verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Passed.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Skipped.
    pub skipped: usize,
}

/// The bundle a verification is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRef {
    /// Bundle id.
    pub id: String,
    /// Version.
    pub version: String,
}

/// `.bundle/verification.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// Format version (1).
    pub format_version: u32,
    /// The tool that ran the tests.
    pub tool: String,
    /// The sandbox engine.
    pub engine: String,
    /// Which bundle.
    pub bundle: BundleRef,
    /// [`ratchet_formats::archive::sources_digest`] of the files tested: `bundle build` includes this
    /// file only while the bundle's files are still exactly these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<String>,
    /// True when nothing failed and at least one task test or integration test ran and passed
    /// (static checks alone do not make a bundle pass).
    pub passed: bool,
    /// Counts.
    pub summary: Summary,
    /// Every test and check.
    pub tests: Vec<CheckResult>,
    /// What the author should know that is not a test result: a test file in a form this
    /// runtime does not run (also a skipped test), a `timeout` read as seconds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Errors that prevent testing at all.
#[derive(Debug, thiserror::Error)]
pub enum BundleTestError {
    /// The manifest does not load.
    #[error("{dir}: not a valid bundle:\n{details}")]
    Manifest {
        /// The bundle directory.
        dir: PathBuf,
        /// The diagnostics.
        details: String,
    },
    /// `.ratchet/bundle-tests.yaml` is invalid.
    #[error("{path}: {message}")]
    Checks {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// One entry of `quality_checks` (the plan's fields; unknown ones are ignored).
#[derive(Debug, Clone, Deserialize)]
struct QualityCheck {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    tools: Vec<String>,
    #[serde(default)]
    metrics: Vec<serde_json::Map<String, Value>>,
    #[serde(default)]
    platforms: Vec<String>,
    #[serde(default)]
    ratchet_versions: Vec<Value>,
    #[serde(default)]
    test_suites: Vec<Suite>,
}

#[derive(Debug, Clone, Deserialize)]
struct Suite {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    external: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct ChecksFile {
    #[serde(default)]
    quality_checks: Vec<QualityCheck>,
}

/// An integration test case: a task test that names its task.
#[derive(Debug, Clone, Deserialize)]
struct IntegrationCase {
    task: String,
    #[serde(flatten)]
    test: TaskTest,
}

/// A measured run, for the performance check.
struct Measured {
    name: String,
    wall_ms: f64,
    memory_bytes: u64,
}

/// Runs every test and check of the bundle in `dir`. A directory without `bundle.yaml` that
/// holds a task (`main.js` or `main.wasm`) is a bare Ratchet task directory: its own tests run,
/// as [`TaskSpec::ratchet_task`] runs it (nothing declared, Ratchet's runtime behaviour).
pub fn test_bundle(
    rt: &Runtime,
    dir: &Path,
    policy: &Policy,
) -> Result<Verification, BundleTestError> {
    if !dir.join(ratchet_formats::manifest::MANIFEST_FILE).is_file()
        && TaskKind::detect(dir).is_some()
    {
        return Ok(test_task_dir(rt, dir, policy));
    }
    let manifest = load_manifest(dir).map_err(|diags| BundleTestError::Manifest {
        dir: dir.to_path_buf(),
        details: diags
            .iter()
            .map(|d| format!("  {d}"))
            .collect::<Vec<_>>()
            .join("\n"),
    })?;
    let checks_path = dir.join(CHECKS_FILE);
    let checks: ChecksFile = match std::fs::read_to_string(&checks_path) {
        Ok(t) => serde_norway::from_str(&t).map_err(|e| BundleTestError::Checks {
            path: checks_path.clone(),
            message: e.to_string(),
        })?,
        Err(_) => ChecksFile::default(),
    };

    let mut results = Vec::new();
    let mut warnings = Vec::new();
    let mut measured = Vec::new();
    // The test files a build ships (`.ratchetignore` applied), as `bundle validate` checks them.
    let included: Option<std::collections::HashSet<PathBuf>> =
        ratchet_formats::archive::bundle_files(dir)
            .ok()
            .map(|files| files.into_iter().map(|(_, p)| p).collect());
    let canon = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    for item in &manifest.contents.tasks {
        let task_name = item.name().to_string();
        let spec = match TaskSpec::in_bundle(dir, &manifest, &item.path) {
            Ok(s) => s,
            Err(e) => {
                results.push(CheckResult::new(
                    "task-test",
                    &task_name,
                    Verdict::Failed,
                    Some(e.to_string()),
                ));
                continue;
            }
        };
        let shipped = |p: &Path| {
            included.as_ref().is_none_or(|set| {
                p.strip_prefix(dir)
                    .is_ok_and(|rel| set.contains(&canon.join(rel)))
            })
        };
        task_tests(
            rt,
            &spec,
            &task_name,
            policy,
            &shipped,
            &mut measured,
            &mut results,
            &mut warnings,
        );
    }

    for check in &checks.quality_checks {
        match check.kind.as_str() {
            "performance" => results.push(performance(check, &measured)),
            "compatibility" => results.extend(compatibility(check, &manifest)),
            "integration" => results.extend(integration(
                rt,
                dir,
                &manifest,
                check,
                policy,
                &mut measured,
            )),
            "security" => results.extend(security(rt, dir, &manifest, check)),
            other => results.push(CheckResult::new(
                other,
                &check.name,
                Verdict::Skipped,
                Some(format!(
                    "check type `{other}` is not known to this version of ratchet"
                )),
            )),
        }
    }
    if !checks.quality_checks.iter().any(|c| c.kind == "security") {
        results.extend(permission_audit(rt, dir, &manifest));
    }

    let mut summary = Summary::default();
    for r in &results {
        match r.result {
            Verdict::Passed => summary.passed += 1,
            Verdict::Failed => summary.failed += 1,
            Verdict::Skipped => summary.skipped += 1,
        }
    }
    Ok(Verification {
        format_version: 1,
        tool: format!("ratchet {}", ratchet_formats::TOOL_VERSION),
        engine: rt.cache().engine_tag().to_string(),
        bundle: BundleRef {
            id: manifest.id.to_string(),
            version: manifest.version.to_string(),
        },
        sources: ratchet_formats::archive::sources_digest(dir).ok(),
        // Static checks alone prove nothing about behaviour: a pass needs a test that ran.
        passed: summary.failed == 0
            && results.iter().any(|r| {
                r.result == Verdict::Passed
                    && matches!(r.kind.as_str(), "task-test" | "integration")
            }),
        summary,
        tests: results,
        warnings,
    })
}

/// Runs the tests of one task: each test file on its own (a file that does not read fails, a
/// form this runtime does not run is skipped with a warning naming it), so one file never stops
/// the others.
#[allow(clippy::too_many_arguments)]
fn task_tests(
    rt: &Runtime,
    spec: &TaskSpec,
    task_name: &str,
    policy: &Policy,
    shipped: &dyn Fn(&Path) -> bool,
    measured: &mut Vec<Measured>,
    results: &mut Vec<CheckResult>,
    warnings: &mut Vec<String>,
) {
    if let Some(w) = spec.task.metadata.timeout_warning() {
        warnings.push(format!(
            "{task_name}: {}: {w}",
            ratchet_formats::task::METADATA_FILE
        ));
    }
    let tests: Vec<_> = spec
        .task
        .tests()
        .into_iter()
        .filter(|(p, _)| shipped(p))
        .collect();
    if tests.is_empty() {
        results.push(CheckResult::new(
            "task-test",
            task_name,
            Verdict::Skipped,
            Some("the task has no tests/*.json".into()),
        ));
    }
    for (path, test) in tests {
        let stem = path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        let name = format!("{task_name}/{stem}");
        match test {
            Ok(test) => results.push(run_case(
                rt,
                spec,
                &name,
                &test,
                policy,
                measured,
                "task-test",
            )),
            Err(TaskError::UnsupportedTest { reason, .. }) => {
                let file = format!(
                    "{task_name}/{}/{}",
                    ratchet_formats::task::TESTS_DIR,
                    path.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                );
                warnings.push(format!(
                    "{file}: not a test this runtime runs ({reason}); skipped"
                ));
                results.push(CheckResult::new(
                    "task-test",
                    name,
                    Verdict::Skipped,
                    Some(format!("{file} is not a test this runtime runs: {reason}")),
                ));
            }
            Err(e) => results.push(CheckResult::new(
                "task-test",
                name,
                Verdict::Failed,
                Some(e.to_string()),
            )),
        }
    }
}

/// `bundle test` of a bare Ratchet task directory (no `bundle.yaml`): the task's own tests.
fn test_task_dir(rt: &Runtime, dir: &Path, policy: &Policy) -> Verification {
    let mut results = Vec::new();
    let mut warnings = Vec::new();
    let mut measured = Vec::new();
    let name = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "task".into());
    let mut version = "0.0.0".to_string();
    match TaskSpec::ratchet_task(dir) {
        Ok(spec) => {
            if let Some(v) = &spec.task.metadata.version {
                version.clone_from(v);
            }
            task_tests(
                rt,
                &spec,
                &name,
                policy,
                &|_| true,
                &mut measured,
                &mut results,
                &mut warnings,
            );
        }
        Err(e) => results.push(CheckResult::new(
            "task-test",
            &name,
            Verdict::Failed,
            Some(e.to_string()),
        )),
    }
    let mut summary = Summary::default();
    for r in &results {
        match r.result {
            Verdict::Passed => summary.passed += 1,
            Verdict::Failed => summary.failed += 1,
            Verdict::Skipped => summary.skipped += 1,
        }
    }
    Verification {
        format_version: 1,
        tool: format!("ratchet {}", ratchet_formats::TOOL_VERSION),
        engine: rt.cache().engine_tag().to_string(),
        bundle: BundleRef { id: name, version },
        sources: None,
        passed: summary.failed == 0 && summary.passed > 0,
        summary,
        tests: results,
        warnings,
    }
}

/// Writes `DIR/.bundle/verification.json` atomically.
pub fn write_verification(dir: &Path, v: &Verification) -> std::io::Result<PathBuf> {
    let path = dir.join(VERIFICATION_FILE);
    let mut text = serde_json::to_string_pretty(v).map_err(std::io::Error::other)?;
    text.push('\n');
    ratchet_formats::fsutil::write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

fn run_case(
    rt: &Runtime,
    spec: &TaskSpec,
    name: &str,
    test: &TaskTest,
    policy: &Policy,
    measured: &mut Vec<Measured>,
    kind: &str,
) -> CheckResult {
    if spec.task.kind == TaskKind::JavaScript && crate::js::engine().is_none() {
        return CheckResult::new(
            kind,
            name,
            Verdict::Skipped,
            Some(crate::js::NOT_BUILT.into()),
        );
    }
    let mock: Option<HttpMock> = test.mock.as_ref().and_then(|m| m.http.clone());
    let opts = ExecOptions {
        mock,
        mounts: Vec::new(),
    };
    match run_task(rt, spec, &test.input, policy, &opts) {
        Ok(done) => {
            let u = done.outcome.usage;
            // The task's time: compiling or loading the module (seconds for the JavaScript
            // engine on a cold cache) is ratchet's, not the task's.
            let run_ms = (u.wall_ms - u.load_ms).max(0.0);
            measured.push(Measured {
                name: name.to_string(),
                wall_ms: run_ms,
                memory_bytes: u.memory_bytes,
            });
            let (verdict, message) = match &test.expect {
                Expectation::Output(expected) if done.output == *expected => {
                    (Verdict::Passed, None)
                }
                Expectation::Output(expected) => (
                    Verdict::Failed,
                    Some(format!("expected {expected} but got {}", done.output)),
                ),
                Expectation::Error(e) => (
                    Verdict::Failed,
                    Some(format!(
                        "expected the task to fail with `{e}`, but it returned {}",
                        done.output
                    )),
                ),
                Expectation::Failure(_) => (
                    Verdict::Failed,
                    Some(format!(
                        "expected the task to fail (should_fail), but it returned {}",
                        done.output
                    )),
                ),
            };
            CheckResult {
                wall_ms: Some(round(run_ms)),
                memory_bytes: Some(u.memory_bytes),
                cpu_points: Some(u.cpu_points),
                ..CheckResult::new(kind, name, verdict, message)
            }
        }
        Err(e) => {
            let text = e.to_string();
            let wanted = match &test.expect {
                Expectation::Output(_) => None,
                Expectation::Error(m) => Some(Some(m)),
                Expectation::Failure(m) => Some(m.as_ref()),
            };
            // An expected failure passes when its text (a message, or a class name such as
            // `ValidationError`) is in the error; a limit or a refused start is never one.
            let expected_failure = matches!(
                e,
                crate::execute::ExecError::Failed { .. }
                    | crate::execute::ExecError::InputSchema { .. }
                    | crate::execute::ExecError::BadOutput { .. }
            ) && !text.contains("the task was stopped:");
            let (verdict, message) = match wanted {
                Some(None) if expected_failure => (Verdict::Passed, None),
                Some(Some(m)) if expected_failure && text.contains(m.as_str()) => {
                    (Verdict::Passed, None)
                }
                Some(Some(m)) => (
                    Verdict::Failed,
                    Some(format!("expected a failure with `{m}`, got: {text}")),
                ),
                _ => (Verdict::Failed, Some(text)),
            };
            let mut r = CheckResult::new(kind, name, verdict, message);
            if let Some(u) = e.usage() {
                r.wall_ms = Some(round((u.wall_ms - u.load_ms).max(0.0)));
                r.memory_bytes = Some(u.memory_bytes);
                r.cpu_points = Some(u.cpu_points);
            }
            r
        }
    }
}

fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// A YAML scalar as text (`5s`, `1.0`, `2`).
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn metric(check: &QualityCheck, key: &str) -> Option<String> {
    check
        .metrics
        .iter()
        .find_map(|m| m.get(key))
        .map(value_text)
}

fn performance(check: &QualityCheck, measured: &[Measured]) -> CheckResult {
    let kind = "performance";
    let fail = |msg: String| CheckResult::new(kind, &check.name, Verdict::Failed, Some(msg));
    let time = match metric(check, "max_execution_time")
        .map(|s| Millis::parse(&s))
        .transpose()
    {
        Ok(t) => t,
        Err(e) => return fail(format!("max_execution_time: {e}")),
    };
    let memory = match metric(check, "max_memory_usage")
        .map(|s| ByteSize::parse(&s))
        .transpose()
    {
        Ok(m) => m,
        Err(e) => return fail(format!("max_memory_usage: {e}")),
    };
    if time.is_none() && memory.is_none() {
        return CheckResult::new(
            kind,
            &check.name,
            Verdict::Skipped,
            Some("no max_execution_time or max_memory_usage metric".into()),
        );
    }
    if measured.is_empty() {
        return CheckResult::new(
            kind,
            &check.name,
            Verdict::Skipped,
            Some("no task test ran, so nothing was measured".into()),
        );
    }
    let mut problems = Vec::new();
    for m in measured {
        if let Some(t) = time
            && m.wall_ms > t.0 as f64
        {
            problems.push(format!(
                "{}: {:.1} ms > max_execution_time {t}",
                m.name, m.wall_ms
            ));
        }
        if let Some(b) = memory
            && m.memory_bytes > b.0
        {
            problems.push(format!(
                "{}: {} > max_memory_usage {b}",
                m.name,
                ByteSize(m.memory_bytes)
            ));
        }
    }
    let slowest = measured.iter().map(|m| m.wall_ms).fold(0.0, f64::max);
    let largest = measured.iter().map(|m| m.memory_bytes).max().unwrap_or(0);
    let mut r = if problems.is_empty() {
        CheckResult::new(
            kind,
            &check.name,
            Verdict::Passed,
            Some(format!(
                "{} runs measured; slowest {slowest:.1} ms, largest memory {}",
                measured.len(),
                ByteSize(largest)
            )),
        )
    } else {
        CheckResult::new(
            kind,
            &check.name,
            Verdict::Failed,
            Some(problems.join("; ")),
        )
    };
    r.wall_ms = Some(round(slowest));
    r.memory_bytes = Some(largest);
    r
}

fn compatibility(check: &QualityCheck, manifest: &Manifest) -> Vec<CheckResult> {
    let kind = "compatibility";
    let mut out = Vec::new();
    let current = Platform::current();
    let declared = &manifest.requirements.platform;
    for p in &check.platforms {
        let name = format!("{} [{p}]", check.name);
        let parsed: Option<Platform> = serde_json::from_value(Value::String(p.to_lowercase())).ok();
        let Some(parsed) = parsed else {
            out.push(CheckResult::new(
                kind,
                name,
                Verdict::Failed,
                Some(format!("`{p}` is not a platform (linux, macos, windows)")),
            ));
            continue;
        };
        if !declared.is_empty() && !declared.contains(&parsed) {
            out.push(CheckResult::new(
                kind,
                name,
                Verdict::Failed,
                Some(format!(
                    "`{p}` is tested but requirements.platform does not list it"
                )),
            ));
        } else if Some(parsed) == current {
            out.push(CheckResult::new(
                kind,
                name,
                Verdict::Passed,
                Some("this platform: the task tests above ran here".into()),
            ));
        } else {
            out.push(CheckResult::new(
                kind,
                name,
                Verdict::Skipped,
                Some(format!("cannot test {p} on this machine")),
            ));
        }
    }
    for v in &check.ratchet_versions {
        let text = value_text(v);
        let name = format!("{} [ratchet {text}]", check.name);
        let padded = match text.split('.').count() {
            1 => format!("{text}.0.0"),
            2 => format!("{text}.0"),
            _ => text.clone(),
        };
        let Ok(version) = semver::Version::parse(&padded) else {
            out.push(CheckResult::new(
                kind,
                name,
                Verdict::Failed,
                Some(format!("`{text}` is not a version")),
            ));
            continue;
        };
        match &manifest.requirements.ratchet_version {
            Some(req) if !req.matches(&version) => out.push(CheckResult::new(
                kind,
                name,
                Verdict::Failed,
                Some(format!("requirements.ratchet_version `{req}` excludes {text}")),
            )),
            _ => out.push(CheckResult::new(
                kind,
                name,
                Verdict::Passed,
                Some("consistent with requirements.ratchet_version (declaration check; that Ratchet version was not run)".into()),
            )),
        }
    }
    if out.is_empty() {
        out.push(CheckResult::new(
            kind,
            &check.name,
            Verdict::Skipped,
            Some("no platforms or ratchet_versions listed".into()),
        ));
    }
    out
}

fn integration(
    rt: &Runtime,
    dir: &Path,
    manifest: &Manifest,
    check: &QualityCheck,
    policy: &Policy,
    measured: &mut Vec<Measured>,
) -> Vec<CheckResult> {
    let kind = "integration";
    let mut out = Vec::new();
    for suite in &check.test_suites {
        if let Some(url) = &suite.external {
            out.push(CheckResult::new(
                kind,
                format!("{} [{url}]", check.name),
                Verdict::Skipped,
                Some("external test suites are not run locally".into()),
            ));
            continue;
        }
        let Some(rel) = &suite.path else { continue };
        let suite_dir = dir.join(rel);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&suite_dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        if files.is_empty() {
            out.push(CheckResult::new(
                kind,
                format!("{} [{rel}]", check.name),
                Verdict::Failed,
                Some(format!("{rel} holds no *.json test case")),
            ));
        }
        for f in files {
            let name = format!(
                "{}/{}",
                rel.trim_end_matches('/'),
                f.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            );
            let case: IntegrationCase = match read_json(&f) {
                Ok(c) => c,
                Err(e) => {
                    out.push(CheckResult::new(
                        kind,
                        name,
                        Verdict::Failed,
                        Some(format!(
                            "{e} (expected {{task, input, expected_output, mock?}})"
                        )),
                    ));
                    continue;
                }
            };
            let Some(item) = manifest
                .contents
                .tasks
                .iter()
                .find(|t| t.name() == case.task)
            else {
                out.push(CheckResult::new(
                    kind,
                    name,
                    Verdict::Failed,
                    Some(format!("no task `{}` in the bundle", case.task)),
                ));
                continue;
            };
            match TaskSpec::in_bundle(dir, manifest, &item.path) {
                Ok(spec) => out.push(run_case(
                    rt, &spec, &name, &case.test, policy, measured, kind,
                )),
                Err(e) => out.push(CheckResult::new(
                    kind,
                    name,
                    Verdict::Failed,
                    Some(e.to_string()),
                )),
            }
        }
    }
    out
}

fn security(
    rt: &Runtime,
    dir: &Path,
    manifest: &Manifest,
    check: &QualityCheck,
) -> Vec<CheckResult> {
    let mut out = permission_audit(rt, dir, manifest);
    for tool in &check.tools {
        let installed = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
        let message = if installed {
            format!("`{tool}` is installed, but running external scanners is not implemented yet")
        } else {
            format!("external scanner `{tool}` is not installed")
        };
        out.push(CheckResult::new(
            "security",
            format!("{} [{tool}]", check.name),
            Verdict::Skipped,
            Some(message),
        ));
    }
    out
}

/// The static permission audit: what each WebAssembly task imports (and each JavaScript task's
/// source names: `fetch`) versus what the bundle declares.
fn permission_audit(rt: &Runtime, dir: &Path, manifest: &Manifest) -> Vec<CheckResult> {
    let kind = "permission-audit";
    let mut out = Vec::new();
    let mut any_fetch = false;
    let mut any_command = false;
    for item in &manifest.contents.tasks {
        let task_dir = dir.join(&item.path);
        let name = item.name().to_string();
        let imports = match TaskKind::detect(&task_dir) {
            Some(TaskKind::Wasm) => {
                let path = task_dir.join(TaskKind::Wasm.entry_file());
                // The size is checked before the module is read.
                std::fs::metadata(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|m| crate::check_module_size(m.len()).map_err(|e| e.to_string()))
                    .and_then(|()| std::fs::read(&path).map_err(|e| e.to_string()))
                    .and_then(|b| rt.module_imports(&b).map_err(|e| e.to_string()))
            }
            // JavaScript reaches the host only through the global `fetch` (the engine offers
            // no commands): a source that names it counts as importing `ratchet.fetch`.
            Some(TaskKind::JavaScript) => {
                std::fs::read_to_string(task_dir.join(TaskKind::JavaScript.entry_file()))
                    .map_err(|e| e.to_string())
                    .map(|src| {
                        if js_names_fetch(&src) {
                            vec![format!("{RATCHET_MODULE}.fetch")]
                        } else {
                            Vec::new()
                        }
                    })
            }
            None => continue,
        };
        let imports = match imports {
            Ok(i) => i,
            Err(e) => {
                out.push(CheckResult::new(kind, &name, Verdict::Failed, Some(e)));
                continue;
            }
        };
        let has = |module: &str, field: &str| {
            imports
                .iter()
                .any(|i| i.split_once('.') == Some((module, field)))
        };
        let fetch = has(RATCHET_MODULE, "fetch");
        let command = has(RATCHET_MODULE, "command");
        any_fetch |= fetch;
        any_command |= command;
        let mut problems = Vec::new();
        if fetch && manifest.permissions.network.domains.is_empty() {
            problems.push("imports ratchet.fetch but the bundle declares no network domains (every fetch would be refused)".to_string());
        }
        if command && manifest.permissions.commands.is_empty() {
            problems.push("imports ratchet.command but the bundle declares no commands (every command would be refused)".to_string());
        }
        let files = has(WASI_MODULE, "path_open");
        let env = has(WASI_MODULE, "environ_get");
        let uses: Vec<&str> = [
            (fetch, "fetch"),
            (command, "command"),
            (files, "files"),
            (env, "environment"),
        ]
        .iter()
        .filter(|(u, _)| *u)
        .map(|(_, n)| *n)
        .collect();
        let mut notes = Vec::new();
        let fs = &manifest.permissions.filesystem;
        if files && fs.read.is_empty() && fs.write.is_empty() {
            notes.push("it imports path_open but the bundle declares no filesystem paths (every open fails)");
        }
        if env && manifest.permissions.environment.is_empty() {
            notes.push("it imports environ_get but the bundle declares no environment variables (it sees none)");
        }
        out.push(if problems.is_empty() {
            CheckResult::new(
                kind,
                &name,
                Verdict::Passed,
                Some(format!(
                    "uses: {}{}",
                    if uses.is_empty() {
                        "no capability".to_string()
                    } else {
                        uses.join(", ")
                    },
                    if notes.is_empty() {
                        String::new()
                    } else {
                        format!("; note: {}", notes.join("; "))
                    }
                )),
            )
        } else {
            CheckResult::new(kind, &name, Verdict::Failed, Some(problems.join("; ")))
        });
    }
    let all_known = manifest
        .contents
        .tasks
        .iter()
        .all(|t| TaskKind::detect(&dir.join(&t.path)).is_some());
    let mut notes = Vec::new();
    if all_known && !any_fetch && !manifest.permissions.network.domains.is_empty() {
        notes.push("network domains are declared but no task imports ratchet.fetch");
    }
    if all_known && !any_command && !manifest.permissions.commands.is_empty() {
        notes.push("commands are declared but no task imports ratchet.command");
    }
    if !notes.is_empty() {
        out.push(CheckResult::new(
            kind,
            "unused declarations",
            Verdict::Passed,
            Some(format!(
                "note: {} (declare only what you use)",
                notes.join("; ")
            )),
        ));
    }
    out
}

/// Whether JavaScript source names `fetch` as code (not inside a comment or a string literal):
/// the static audit's view of "this task uses the network".
fn js_names_fetch(src: &str) -> bool {
    let b = src.as_bytes();
    let mut code = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                code.push(b' ');
            }
            c => {
                code.push(c);
                i += 1;
            }
        }
    }
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$';
    code.windows(5).enumerate().any(|(at, w)| {
        w == b"fetch"
            && (at == 0 || !word(code[at - 1]))
            && code.get(at + 5).is_none_or(|c| !word(*c))
    })
}

#[cfg(test)]
mod audit_tests {
    use super::js_names_fetch;

    #[test]
    fn fetch_is_found_in_code_only() {
        assert!(js_names_fetch("const r = fetch('https://x');"));
        assert!(js_names_fetch("const f = fetch; f(u)"));
        assert!(
            js_names_fetch("`${fetch(u)}`"),
            "template literals are scanned"
        );
        assert!(!js_names_fetch("// we do not fetch anything\nreturn 1"));
        assert!(!js_names_fetch("/* fetch */ return 'fetch(x)' + \"fetch\""));
        assert!(!js_names_fetch("prefetch(x); refetching = 1"));
    }
}
