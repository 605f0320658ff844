//! `ratchet bundle ...`: init, validate, build, inspect.

use super::{CliResult, Format};
use clap::Subcommand;
use ratchet::archive::{self, BuildOptions, Limits};
use ratchet::diagnostic::Diagnostic;
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
    /// Validate a bundle directory and pack it into a reproducible `<id>-<version>.rbundle`.
    ///
    /// Files matched by `.ratchetignore` and version-control directories are left out.
    /// `SOURCE_DATE_EPOCH` sets the time stamp written into the archive.
    Build {
        /// Bundle directory (default: current directory).
        dir: Option<PathBuf>,
        /// Archive file to write, or an existing directory to write `<id>-<version>.rbundle` in
        /// (default: the current directory).
        #[arg(short, long)]
        out: Option<PathBuf>,
    },
    /// Verify an archive and show its manifest and files, without extracting it.
    Inspect {
        /// The `.rbundle` file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Publish an archive into a local registry (a directory or file:// URL).
    Publish(super::publish::PublishArgs),
}

pub fn run(cmd: BundleCommand) -> CliResult {
    match cmd {
        BundleCommand::Publish(args) => super::publish::run(args),
        BundleCommand::Build { dir, out } => build(dir.unwrap_or_else(|| PathBuf::from(".")), out),
        BundleCommand::Inspect { file, format } => inspect(&file, format),
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

fn build(dir: PathBuf, out: Option<PathBuf>) -> CliResult {
    let report = validate_bundle(&dir);
    let Some(manifest) = report.manifest.as_ref().filter(|_| report.is_valid()) else {
        print_report(&report.diagnostics, None, false);
        eprintln!("not building: fix the errors above first");
        return Ok(ExitCode::FAILURE);
    };
    for d in report.warnings() {
        eprintln!("{d}");
    }
    let opts = BuildOptions::from_env_checked()?;
    let name = archive::archive_file_name(manifest);
    let out = match out {
        None => PathBuf::from(&name),
        Some(p) if p.is_dir() => p.join(&name),
        Some(p) => p,
    };
    let built = archive::build_archive(&dir, manifest, &out, &opts)?;
    let limits = Limits::default();
    if built.files > limits.max_entries
        || built.unpacked_size > limits.max_unpacked_bytes
        || built.size > limits.max_archive_bytes
    {
        eprintln!(
            "warning: this archive exceeds the default reader limits ({} entries, {} bytes unpacked, {} bytes compressed); registries and clients may refuse it",
            limits.max_entries, limits.max_unpacked_bytes, limits.max_archive_bytes
        );
    }
    println!(
        "Built {} {}: {}",
        manifest.id,
        manifest.version,
        built.path.display()
    );
    println!("  files:  {}", built.files);
    println!(
        "  size:   {} bytes ({} unpacked)",
        built.size, built.unpacked_size
    );
    println!("  sha256: {}", built.sha256);
    Ok(ExitCode::SUCCESS)
}

fn inspect(file: &Path, format: Format) -> CliResult {
    let limits = Limits::default();
    let len = std::fs::metadata(file)
        .map_err(|e| format!("{}: {e}", file.display()))?
        .len();
    if len > limits.max_archive_bytes {
        return Err(format!(
            "{}: archive is larger than the limit of {} bytes",
            file.display(),
            limits.max_archive_bytes
        )
        .into());
    }
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let sha256 = archive::sha256_hex(&bytes);
    let bundle = archive::read_archive(bytes.as_slice(), &limits)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let m = &bundle.manifest.bundle;
    match format {
        Format::Json => {
            let files: Vec<_> = bundle
                .files
                .iter()
                .map(|(p, d)| serde_json::json!({"path": p, "size": d.len(), "sha256": archive::sha256_hex(d)}))
                .collect();
            let verification = bundle.verification().map(|v| {
                serde_json::from_slice::<serde_json::Value>(v).unwrap_or_else(|_| {
                    serde_json::Value::String(String::from_utf8_lossy(v).into_owned())
                })
            });
            let out = serde_json::json!({
                "archive": {"path": file.display().to_string(), "size": bytes.len(), "sha256": sha256},
                "manifest": bundle.manifest,
                "signed": bundle.signature.is_some(),
                "verification": verification,
                "files": files,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Format::Text => {
            println!("{} {} ({})", m.id, m.version, m.name);
            println!("  {}", m.description.trim().replace('\n', "\n  "));
            if let Some(a) = &m.author {
                println!(
                    "  author:       {}{}",
                    a.name,
                    a.email
                        .as_ref()
                        .map(|e| format!(" <{e}>"))
                        .unwrap_or_default()
                );
            }
            println!("  license:      {}", m.license);
            println!("  pricing:      {}", m.pricing_model().as_str());
            if !m.dependencies.is_empty() {
                let deps: Vec<String> = m
                    .dependencies
                    .iter()
                    .map(|d| format!("{} {}", d.bundle_id, d.version))
                    .collect();
                println!("  dependencies: {}", deps.join(", "));
            }
            for (section, items) in m.contents.sections() {
                if !items.is_empty() {
                    let names: Vec<String> = items
                        .iter()
                        .map(|i| {
                            if i.exported {
                                i.name().to_string()
                            } else {
                                format!("{} (internal)", i.name())
                            }
                        })
                        .collect();
                    println!(
                        "  {section}:{:width$}{}",
                        "",
                        names.join(", "),
                        width = 13 - section.len()
                    );
                }
            }
            println!("  archive:      {} bytes, sha256 {sha256}", bytes.len());
            println!(
                "  signature:    {}",
                if bundle.signature.is_some() {
                    "bundle.sig present (not checked here)"
                } else {
                    "none"
                }
            );
            println!(
                "  verification: {}",
                if bundle.verification().is_some() {
                    "present"
                } else {
                    "none"
                }
            );
            println!(
                "Files ({}, {} bytes):",
                bundle.files.len(),
                bundle.content_size()
            );
            let width = bundle
                .files
                .values()
                .map(|d| d.len().to_string().len())
                .max()
                .unwrap_or(1);
            for (p, d) in &bundle.files {
                println!("  {:>width$}  {p}", d.len());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
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
