//! `ratchet bundle ...`: init, validate, test, dev.

use super::{CliResult, Format};
use clap::Subcommand;
use ratchet::bundle_test::{Verdict, test_bundle, write_verification};
use ratchet::diagnostic::Diagnostic;
use ratchet::paths::Paths;
use ratchet::sandbox::{Policy, Runtime};
use ratchet::validate::validate_bundle;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum BundleCommand {
    /// Create a new bundle with one example task that validates and builds as is.
    Init {
        /// Directory to create the bundle in (default: current directory).
        dir: Option<PathBuf>,
        /// Bundle id (reverse-DNS, e.g. com.example.my-bundle); default from the directory name.
        #[arg(long)]
        id: Option<String>,
    },
    /// Check a bundle directory and report every problem at once.
    Validate {
        /// Bundle directory (default: current directory).
        dir: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Run every task's tests and the local quality checks; write .bundle/verification.json.
    Test {
        /// Bundle directory (default: current directory).
        dir: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Watch the bundle and re-validate and re-test on every change.
    Dev {
        /// Bundle directory (default: current directory).
        dir: Option<PathBuf>,
        /// Polling interval in milliseconds.
        #[arg(long, default_value_t = 500)]
        interval: u64,
        /// Stop after this many rounds (for scripts and tests; default: run until interrupted).
        #[arg(long, hide = true)]
        rounds: Option<u32>,
    },
}

pub fn run(cmd: BundleCommand) -> CliResult {
    match cmd {
        BundleCommand::Init { dir, id } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from("."));
            let files = ratchet::scaffold::init_bundle(&dir, id.as_deref())?;
            println!(
                "Created bundle in {} ({} files)",
                dir.display(),
                files.len()
            );
            println!(
                "Next: ratchet bundle validate {0} && ratchet bundle build {0}",
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        BundleCommand::Validate { dir, format } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from("."));
            let report = validate_bundle(&dir);
            let valid = report.is_valid();
            match format {
                Format::Json => {
                    let out = serde_json::json!({
                        "valid": valid,
                        "bundle": report.manifest.as_ref().map(|m| serde_json::json!({"id": m.id, "version": m.version.to_string()})),
                        "diagnostics": report.diagnostics,
                    });
                    println!("{}", serde_json::to_string_pretty(&out)?);
                }
                Format::Text => print_report(&report.diagnostics, report.manifest.as_ref(), valid),
            }
            Ok(if valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        BundleCommand::Test { dir, format } => {
            run_tests(&dir.unwrap_or_else(|| PathBuf::from(".")), format)
        }
        BundleCommand::Dev {
            dir,
            interval,
            rounds,
        } => dev(&dir.unwrap_or_else(|| PathBuf::from(".")), interval, rounds),
    }
}

fn run_tests(dir: &Path, format: Format) -> CliResult {
    let paths = Paths::detect();
    let policy = Policy::load(&paths.config)?;
    let rt = Runtime::new(Some(paths.cache.join("modules")));
    let v = test_bundle(&rt, dir, &policy)?;
    let written = write_verification(dir, &v)?;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&v)?),
        Format::Text => {
            for t in &v.tests {
                let tag = match t.result {
                    Verdict::Passed => "PASS",
                    Verdict::Failed => "FAIL",
                    Verdict::Skipped => "SKIP",
                };
                let ms = t
                    .wall_ms
                    .map(|m| format!(" ({m:.1} ms)"))
                    .unwrap_or_default();
                println!("{tag} {:<17} {}{ms}", t.kind, t.name);
                if let Some(m) = &t.message
                    && t.result != Verdict::Passed
                {
                    println!("     {}", m.replace('\n', "\n     "));
                }
            }
            println!(
                "{} passed, {} failed, {} skipped",
                v.summary.passed, v.summary.failed, v.summary.skipped
            );
            if v.summary.passed == 0 && v.summary.failed == 0 {
                println!(
                    "nothing could run here: the bundle is not verified (see the reasons above)"
                );
            }
            eprintln!("wrote {}", written.display());
        }
    }
    Ok(if v.summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A cheap fingerprint of the bundle's files (paths, sizes, modification times), ignoring the
/// generated `.bundle/` directory.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.file_name()
                .is_some_and(|n| n == ".bundle" || n == "target" || n == ".git")
            {
                continue;
            }
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(p),
                Ok(m) => out.push((p, m.len(), m.modified().unwrap_or(std::time::UNIX_EPOCH))),
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}

fn dev(dir: &Path, interval: u64, rounds: Option<u32>) -> CliResult {
    println!("watching {} (Ctrl-C to stop)", dir.display());
    let mut last = None;
    let mut done = 0u32;
    loop {
        let now = fingerprint(dir);
        if last.as_ref() != Some(&now) {
            last = Some(now);
            println!("--- change detected: validating");
            let report = validate_bundle(dir);
            print_report(
                &report.diagnostics,
                report.manifest.as_ref(),
                report.is_valid(),
            );
            if report.is_valid() {
                println!("--- testing");
                if let Err(e) = run_tests(dir, Format::Text) {
                    eprintln!("error: {e}");
                }
            }
            done += 1;
            if rounds.is_some_and(|r| done >= r) {
                return Ok(ExitCode::SUCCESS);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(interval));
    }
}

fn print_report(diags: &[Diagnostic], manifest: Option<&ratchet::manifest::Manifest>, valid: bool) {
    for d in diags {
        eprintln!("{d}");
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    match (valid, manifest) {
        (true, Some(m)) => println!("{} {} is valid ({warnings} warning(s))", m.id, m.version),
        _ => eprintln!("bundle is invalid: {errors} error(s), {warnings} warning(s)"),
    }
}
