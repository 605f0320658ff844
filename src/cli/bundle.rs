//! `ratchet bundle ...`: init, validate, build, inspect.

use super::{CliResult, Format};
use clap::Subcommand;
use ratchet::diagnostic::Diagnostic;
use ratchet::validate::validate_bundle;
use std::path::PathBuf;
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
