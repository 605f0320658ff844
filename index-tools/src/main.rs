//! `ratchet-index`: maintains a static Ratchet registry directory.
//!
//! A thin command line over `ratchet::publish` (the operations) and `ratchet::index` (the file
//! formats): it parses arguments, calls the library and prints. The format it writes is
//! specified in `index-format.md`, section 6.

use clap::{Parser, Subcommand, ValueEnum};
use ratchet::index::RegistryKind;
use ratchet::manifest::BundleId;
use ratchet::publish::{Registry, publish_time};
use std::path::PathBuf;
use std::process::ExitCode;

/// Maintain a static Ratchet registry: publish archives, yank, deprecate, list, verify.
#[derive(Parser)]
#[command(name = "ratchet-index", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Default, ValueEnum)]
enum Format {
    #[default]
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Create an empty registry in a new or empty directory.
    Init {
        /// The registry directory.
        dir: PathBuf,
        /// Registry name shown to users (default: the directory name).
        #[arg(long)]
        name: Option<String>,
        /// public, private, partner or local.
        #[arg(long, default_value = "local")]
        kind: RegistryKind,
        /// Download URL template with a `{sha256}` marker (default: archives next to the index).
        #[arg(long = "dl-url")]
        dl_url: Option<String>,
    },
    /// Validate archives and add them to the registry (in the order given; stops at the first
    /// refusal, which changes nothing).
    Publish {
        /// The registry directory.
        dir: PathBuf,
        /// `.rbundle` archives.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Publish time (RFC 3339 or Unix seconds; default: SOURCE_DATE_EPOCH, else now).
        #[arg(long)]
        publish_time: Option<String>,
    },
    /// Mark a version yanked: new resolutions avoid it, locked installs still get it.
    Yank {
        /// The registry directory.
        dir: PathBuf,
        /// Bundle id.
        id: BundleId,
        /// Version.
        version: semver::Version,
    },
    /// Clear a version's yanked flag.
    Unyank {
        /// The registry directory.
        dir: PathBuf,
        /// Bundle id.
        id: BundleId,
        /// Version.
        version: semver::Version,
    },
    /// Deprecate a bundle (all its versions), optionally naming its replacement.
    Deprecate {
        /// The registry directory.
        dir: PathBuf,
        /// Bundle id.
        id: BundleId,
        /// Why, shown to users.
        #[arg(long, required_unless_present = "undo")]
        message: Option<String>,
        /// The bundle to use instead.
        #[arg(long)]
        replacement: Option<BundleId>,
        /// Remove the deprecation instead.
        #[arg(long, conflicts_with_all = ["message", "replacement"])]
        undo: bool,
        /// Deprecation time (RFC 3339 or Unix seconds; default: SOURCE_DATE_EPOCH, else now).
        #[arg(long)]
        time: Option<String>,
    },
    /// List the registry's bundles, or one bundle's versions.
    List {
        /// The registry directory.
        dir: PathBuf,
        /// Show this bundle's versions.
        id: Option<BundleId>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Check the whole registry; prints every problem and exits non-zero on any error.
    Verify {
        /// The registry directory.
        dir: PathBuf,
    },
    /// Remove unreferenced archives and temporary files left by interrupted publishes, and
    /// repair names.txt.
    Gc {
        /// The registry directory.
        dir: PathBuf,
    },
}

type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

fn run(cmd: Command) -> CliResult {
    match cmd {
        Command::Init {
            dir,
            name,
            kind,
            dl_url,
        } => {
            let name = name.unwrap_or_else(|| {
                dir.canonicalize()
                    .unwrap_or_else(|_| dir.clone())
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "registry".into())
            });
            let reg = Registry::init(&dir, &name, kind, dl_url.as_deref())?;
            println!(
                "Created {} registry `{}` in {}",
                kind.as_str(),
                reg.config().name,
                dir.display()
            );
        }
        Command::Publish {
            dir,
            files,
            publish_time: time,
        } => {
            let reg = Registry::open(&dir)?;
            let time = publish_time(time.as_deref())?;
            for (i, file) in files.iter().enumerate() {
                match reg.publish(file, &time) {
                    Ok(p) => {
                        for w in &p.warnings {
                            eprintln!("{w}");
                        }
                        println!(
                            "Published {} {} ({} bytes, sha256 {}){}",
                            p.line.id,
                            p.line.version,
                            p.line.size,
                            p.line.sha256,
                            if p.new_bundle { " (new bundle)" } else { "" }
                        );
                    }
                    Err(e) => {
                        if i > 0 {
                            eprintln!(
                                "{} archive(s) before this one were published; the rest were not tried",
                                i
                            );
                        }
                        return Err(e.into());
                    }
                }
            }
        }
        Command::Yank { dir, id, version } => {
            let changed = Registry::open(&dir)?.set_yanked(&id, &version, true)?;
            println!(
                "{id} {version} {}",
                if changed {
                    "yanked"
                } else {
                    "was already yanked"
                }
            );
        }
        Command::Unyank { dir, id, version } => {
            let changed = Registry::open(&dir)?.set_yanked(&id, &version, false)?;
            println!(
                "{id} {version} {}",
                if changed {
                    "unyanked"
                } else {
                    "was not yanked"
                }
            );
        }
        Command::Deprecate {
            dir,
            id,
            message,
            replacement,
            undo,
            time,
        } => {
            let reg = Registry::open(&dir)?;
            if undo {
                let changed = reg.undeprecate(&id)?;
                println!(
                    "{id} {}",
                    if changed {
                        "is no longer deprecated"
                    } else {
                        "was not deprecated"
                    }
                );
            } else {
                let message = message.expect("clap requires --message");
                reg.deprecate(
                    &id,
                    &message,
                    replacement.as_ref(),
                    &publish_time(time.as_deref())?,
                )?;
                match replacement {
                    Some(r) => println!("{id} deprecated in favour of {r}"),
                    None => println!("{id} deprecated"),
                }
            }
        }
        Command::List { dir, id, format } => {
            let reg = Registry::open(&dir)?;
            let bundles = match &id {
                Some(id) => vec![reg.bundle(id)?],
                None => reg.list()?,
            };
            match format {
                Format::Json => {
                    let out: Vec<_> = bundles
                        .iter()
                        .map(|b| {
                            serde_json::json!({
                                "id": b.id,
                                "latest": b.latest().map(|l| l.version.to_string()),
                                "deprecated": b.deprecated,
                                "versions": b.versions,
                            })
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&out)?);
                }
                Format::Text if id.is_some() => {
                    let b = &bundles[0];
                    if let Some(d) = &b.deprecated {
                        println!("{} is deprecated: {}", b.id, d.message);
                    }
                    for l in &b.versions {
                        println!(
                            "{} {}  {} bytes  {}  {}{}",
                            l.id,
                            l.version,
                            l.size,
                            l.published,
                            &l.sha256[..12],
                            if l.yanked { "  (yanked)" } else { "" }
                        );
                    }
                }
                Format::Text => {
                    for b in &bundles {
                        let latest = b
                            .latest()
                            .map_or("(all yanked)".to_string(), |l| l.version.to_string());
                        let dep = if b.deprecated.is_some() {
                            "  (deprecated)"
                        } else {
                            ""
                        };
                        println!("{}  {latest}  {} version(s){dep}", b.id, b.versions.len());
                    }
                    println!("{} bundle(s)", bundles.len());
                }
            }
        }
        Command::Verify { dir } => {
            let reg = Registry::open(&dir)?;
            let report = reg.verify();
            for d in &report.diagnostics {
                eprintln!("{d}");
            }
            let errors = report.errors().count();
            let warnings = report.diagnostics.len() - errors;
            let summary = format!(
                "{} bundle(s), {} version(s), {} archive(s): {errors} error(s), {warnings} warning(s)",
                report.bundles, report.versions, report.archives
            );
            if report.is_ok() {
                println!("{} is consistent: {summary}", dir.display());
            } else {
                eprintln!("{} is NOT consistent: {summary}", dir.display());
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Gc { dir } => {
            let r = Registry::open(&dir)?.gc()?;
            for a in &r.removed_archives {
                println!("removed unreferenced archive {a}");
            }
            for t in &r.removed_temp_files {
                println!("removed temporary file {t}");
            }
            for id in &r.added_names {
                println!("added {id} to names.txt");
            }
            if r.repaired_names_tail {
                println!("cut a torn last line off names.txt");
            }
            println!(
                "gc: {} archive(s) and {} temporary file(s) removed, {} name(s) added",
                r.removed_archives.len(),
                r.removed_temp_files.len(),
                r.added_names.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
