//! `ratchet bundle test`: every task's test cases and the locally runnable quality checks of
//! `.ratchet/bundle-tests.yaml`, recorded in `.bundle/verification.json` (format in
//! `task-abi.md` §9).
//!
//! A check that cannot run here (an external scanner, an external suite, a platform other than
//! this one, a JavaScript task in a build without the JavaScript engine) is recorded as `skipped`
//! with the reason — never as `passed`.

use crate::execute::{ExecOptions, TaskSpec, run_task};
use crate::{Policy, RATCHET_MODULE, Runtime, WASI_MODULE};
use ratchet_formats::manifest::units::ByteSize;
use ratchet_formats::manifest::{Manifest, Platform, load_manifest};
use ratchet_formats::task::{Expectation, HttpMock, TaskError, TaskKind, TaskTest, read_json};
use ratchet_quality::advisory::{Advisory, AdvisoryMatch, GraphBundle};
use ratchet_quality::scan::{Declared, Finding, Severity};
use ratchet_quality::spec::{CheckType, ChecksFile, QualityCheck, Suite};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Where the quality checks are declared (`index-format.md` §16).
pub const CHECKS_FILE: &str = ratchet_quality::spec::CHECKS_FILE;
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
    /// What the static security scan found (`security` and `permission-audit` results).
    /// Written, not read back (a report is read as JSON by those who check it).
    #[serde(default, skip_deserializing, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// The advisories that match the bundle or a resolved dependency (`advisories` results).
    #[serde(default, skip_deserializing, skip_serializing_if = "Vec::is_empty")]
    pub advisories: Vec<AdvisoryMatch>,
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
            findings: Vec::new(),
            advisories: Vec::new(),
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
    /// The archive checked (`ratchet bundle check ARCHIVE`): its SHA-256, which an attestation
    /// of this report names (`index-format.md` §16.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_sha256: Option<String>,
    /// The Ratchet version the checks ran against (`ratchet bundle check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratchet_version: Option<String>,
    /// The plan's `VerificationStatus` of what was checked: `unverified` for a check anyone ran;
    /// a report stored with an official attestation says `officially-verified`
    /// (`ratchet bundle check`, `ratchet-index attest --verification`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<ratchet_trust::VerificationStatus>,
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

/// What `ratchet bundle check` adds to `bundle test` (`index-format.md` §16).
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// The Ratchet version this runtime implements, for the compatibility check (default
    /// [`ratchet_quality::RUNTIME_RATCHET_VERSION`]).
    pub ratchet_version: Option<semver::Version>,
    /// Security advisories to match (`None`: no advisory source was given, the advisory check
    /// is skipped).
    pub advisories: Option<Vec<Advisory>>,
    /// The bundle's resolved dependencies (`None`: not resolved; advisories are matched against
    /// the bundle alone, and the result says so).
    pub dependencies: Option<Vec<GraphBundle>>,
    /// Run the security scan and the advisory check even when `bundle-tests.yaml` declares no
    /// `security` check (a verifier's check does not depend on the author opting in).
    pub full: bool,
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
    check_bundle(rt, dir, policy, &CheckOptions::default())
}

/// [`test_bundle`] with the options of `ratchet bundle check`: the runtime's Ratchet version,
/// advisories and resolved dependencies, and the security checks whether declared or not.
pub fn check_bundle(
    rt: &Runtime,
    dir: &Path,
    policy: &Policy,
    opts: &CheckOptions,
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
    let checks: ChecksFile = ratchet_quality::spec::load(dir)
        .map_err(|e| BundleTestError::Checks {
            path: dir.join(CHECKS_FILE),
            message: e.detail(),
        })?
        .unwrap_or_default();
    let runtime_version = opts
        .ratchet_version
        .clone()
        .unwrap_or(ratchet_quality::RUNTIME_RATCHET_VERSION);

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

    let mut security_ran = false;
    for check in &checks.quality_checks {
        match &check.kind {
            CheckType::Performance => results.push(performance(check, &measured)),
            CheckType::Compatibility => {
                results.extend(compatibility(check, &manifest, &runtime_version))
            }
            CheckType::Integration => results.extend(integration(
                rt,
                dir,
                &manifest,
                check,
                policy,
                &mut measured,
            )),
            CheckType::Security => {
                security_ran = true;
                results.extend(security(rt, dir, &manifest, Some(check), opts));
            }
            CheckType::Other(other) => results.push(CheckResult::new(
                other,
                &check.name,
                Verdict::Skipped,
                Some(format!(
                    "check type `{other}` is not known to this version of ratchet"
                )),
            )),
        }
    }
    if !security_ran {
        if opts.full {
            results.extend(security(rt, dir, &manifest, None, opts));
        } else {
            results.extend(static_scan(
                rt,
                dir,
                &manifest,
                "permission-audit",
                &[],
                false,
            ));
        }
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
        archive_sha256: None,
        ratchet_version: opts.full.then(|| runtime_version.to_string()),
        verification: opts
            .full
            .then_some(ratchet_trust::VerificationStatus::Unverified),
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
        archive_sha256: None,
        ratchet_version: None,
        verification: None,
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

fn performance(check: &QualityCheck, measured: &[Measured]) -> CheckResult {
    let kind = "performance";
    let time = check.max_execution_time;
    let memory = check.max_memory_usage;
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

fn compatibility(
    check: &QualityCheck,
    manifest: &Manifest,
    runtime: &semver::Version,
) -> Vec<CheckResult> {
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
    for (label, outcome) in ratchet_quality::compat::ratchet_versions(
        &check.ratchet_versions,
        manifest.requirements.ratchet_version.as_ref(),
        runtime,
    ) {
        let name = format!("{} [{label}]", check.name);
        let (verdict, message) = match outcome {
            ratchet_quality::compat::Outcome::Passed(m) => (Verdict::Passed, m),
            ratchet_quality::compat::Outcome::Failed(m) => (Verdict::Failed, m),
            ratchet_quality::compat::Outcome::Skipped(m) => (Verdict::Skipped, m),
        };
        out.push(CheckResult::new(kind, name, verdict, Some(message)));
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
        let rel = match suite {
            Suite::External(url) => {
                out.push(CheckResult::new(
                    kind,
                    format!("{} [{url}]", check.name),
                    Verdict::Skipped,
                    Some("external test suites are not run locally".into()),
                ));
                continue;
            }
            Suite::Path(rel) => rel,
        };
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
    check: Option<&QualityCheck>,
    opts: &CheckOptions,
) -> Vec<CheckResult> {
    let allow = check.map_or(&[][..], |c| &c.allow[..]);
    let mut out = static_scan(rt, dir, manifest, "security", allow, true);
    let name = check.map_or("security", |c| c.name.as_str());
    out.push(advisories(manifest, name, opts));
    for tool in check.map_or(&[][..], |c| &c.tools[..]) {
        let installed = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
        let message = if installed {
            format!("`{tool}` is installed, but running external scanners is not implemented yet")
        } else {
            format!("external scanner `{tool}` is not installed")
        };
        out.push(CheckResult::new(
            "security",
            format!("{name} [{tool}]"),
            Verdict::Skipped,
            Some(message),
        ));
    }
    out
}

/// The advisory check: every advisory against the bundle and its resolved dependencies.
fn advisories(manifest: &Manifest, check_name: &str, opts: &CheckOptions) -> CheckResult {
    let kind = "advisories";
    let name = format!("{check_name} [advisories]");
    let Some(list) = &opts.advisories else {
        return CheckResult::new(
            kind,
            name,
            Verdict::Skipped,
            Some("no advisory source: give --registry or --advisories".into()),
        );
    };
    let root = manifest.id.to_string();
    let mut graph = vec![GraphBundle {
        id: root.clone(),
        version: manifest.version.to_string(),
        path: vec![root],
    }];
    graph.extend(opts.dependencies.iter().flatten().cloned());
    let found = ratchet_quality::advisory::matches(list, &graph);
    let scope = match &opts.dependencies {
        Some(d) => format!("the bundle and {} resolved dependencies", d.len()),
        None if manifest.dependencies.is_empty() => "the bundle (no dependencies)".to_string(),
        None => "the bundle only: its dependencies were not resolved (give --registry)".to_string(),
    };
    let mut r = if found.is_empty() {
        CheckResult::new(
            kind,
            name,
            Verdict::Passed,
            Some(format!("{} advisories, none affects {scope}", list.len())),
        )
    } else {
        let lines: Vec<String> = found
            .iter()
            .map(|m| {
                format!(
                    "{} affects {} {} ({}){}{}",
                    m.advisory,
                    m.id,
                    m.version,
                    m.path.join(" -> "),
                    m.summary
                        .as_deref()
                        .map(|s| format!(": {s}"))
                        .unwrap_or_default(),
                    m.fixed
                        .as_deref()
                        .map(|f| format!("; fixed in {f}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        CheckResult::new(kind, name, Verdict::Failed, Some(lines.join("; ")))
    };
    r.advisories = found;
    r
}

/// The static scan of every task (`index-format.md` §16.3): what its code does versus what the
/// bundle declares. `strict`: every rule at its severity (a `security` check); otherwise (the
/// permission audit `bundle test` runs when no `security` check is declared) only undeclared
/// network and command use fails, and the other findings are warnings.
fn static_scan(
    rt: &Runtime,
    dir: &Path,
    manifest: &Manifest,
    kind: &str,
    allow: &[String],
    strict: bool,
) -> Vec<CheckResult> {
    let mut out = Vec::new();
    let mut any_fetch = false;
    let mut any_command = false;
    let declared = Declared {
        permissions: &manifest.permissions,
    };
    for item in &manifest.contents.tasks {
        let task_dir = dir.join(&item.path);
        let name = item.name().to_string();
        let Some(task_kind) = TaskKind::detect(&task_dir) else {
            continue;
        };
        let rel = format!(
            "{}/{}",
            item.path.trim_end_matches('/'),
            task_kind.entry_file()
        );
        let path = task_dir.join(task_kind.entry_file());
        let scanned: Result<(Vec<Finding>, Vec<&str>), String> = match task_kind {
            TaskKind::Wasm => std::fs::metadata(&path)
                .map_err(|e| e.to_string())
                .and_then(|m| crate::check_module_size(m.len()).map_err(|e| e.to_string()))
                .and_then(|()| std::fs::read(&path).map_err(|e| e.to_string()))
                .and_then(|b| rt.module_imports(&b).map_err(|e| e.to_string()))
                .map(|imports| {
                    let has = |m: &str, f: &str| {
                        imports.iter().any(|i| i.split_once('.') == Some((m, f)))
                    };
                    let uses = [
                        (has(RATCHET_MODULE, "fetch"), "fetch"),
                        (has(RATCHET_MODULE, "command"), "command"),
                        (has(WASI_MODULE, "path_open"), "files"),
                        (has(WASI_MODULE, "environ_get"), "environment"),
                    ]
                    .iter()
                    .filter(|(u, _)| *u)
                    .map(|(_, n)| *n)
                    .collect();
                    (
                        ratchet_quality::scan::scan_wasm_imports(
                            &name,
                            &rel,
                            &imports,
                            &manifest.permissions,
                        ),
                        uses,
                    )
                }),
            TaskKind::JavaScript => std::fs::File::open(&path)
                .and_then(|f| {
                    // Read at most one byte past the scan's limit: a larger source is a finding.
                    let mut b = Vec::new();
                    std::io::Read::read_to_end(
                        &mut std::io::Read::take(
                            f,
                            ratchet_quality::scan::MAX_SOURCE_BYTES as u64 + 1,
                        ),
                        &mut b,
                    )?;
                    Ok(String::from_utf8_lossy(&b).into_owned())
                })
                .map_err(|e| e.to_string())
                .map(|src| {
                    let uses = if js_names_fetch(&src) {
                        vec!["fetch"]
                    } else {
                        Vec::new()
                    };
                    (
                        ratchet_quality::scan::scan_js(&name, &rel, &src, &declared),
                        uses,
                    )
                }),
        };
        let (mut findings, uses) = match scanned {
            Ok(x) => x,
            Err(e) => {
                out.push(CheckResult::new(kind, &name, Verdict::Failed, Some(e)));
                continue;
            }
        };
        any_fetch |= uses.contains(&"fetch");
        any_command |= uses.contains(&"command");
        ratchet_quality::scan::apply_allow(&mut findings, allow);
        if !strict {
            for f in &mut findings {
                if !matches!(f.rule, "undeclared-network" | "undeclared-command") {
                    f.severity = Severity::Warning;
                }
            }
        }
        let errors: Vec<String> = findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.to_string())
            .collect();
        let warnings: Vec<String> = findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .map(|f| f.to_string())
            .collect();
        let mut r = if errors.is_empty() {
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
                    if warnings.is_empty() {
                        String::new()
                    } else {
                        format!("; note: {}", warnings.join("; "))
                    }
                )),
            )
        } else {
            CheckResult::new(kind, &name, Verdict::Failed, Some(errors.join("; ")))
        };
        r.findings = findings;
        out.push(r);
    }
    let all_known = manifest
        .contents
        .tasks
        .iter()
        .all(|t| TaskKind::detect(&dir.join(&t.path)).is_some());
    let mut notes = Vec::new();
    if all_known && !any_fetch && !manifest.permissions.network.domains.is_empty() {
        notes.push("network domains are declared but no task uses fetch");
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
