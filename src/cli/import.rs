//! `ratchet bundle import`: parses the arguments, calls `ratchet_formats::ratchet_import` and
//! prints what was written, what was inferred (for the author to confirm) and what to check.

use super::CliResult;
use clap::Args;
use ratchet_formats::ratchet_import::{ImportOptions, SourceKind, Split, import};
use ratchet_term::{escape, out, print_json};
use ratchet_validate::validate_bundle;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// `ratchet bundle import PATH`.
#[derive(Args)]
pub struct ImportArgs {
    /// A Ratchet task repository (.ratchet/registry.yaml + .ratchet/index.json + tasks/), a
    /// task directory in any of Ratchet's layouts, or a directory of task directories.
    path: PathBuf,
    /// Bundle ids are PREFIX.NAME.
    #[arg(long, value_name = "PREFIX", default_value = "com.example")]
    id_prefix: String,
    /// One bundle per task.
    #[arg(long, conflicts_with = "one_bundle")]
    per_task: bool,
    /// One bundle with every task (the default for a repository or a directory of tasks).
    #[arg(long)]
    one_bundle: bool,
    /// Also import tasks that are on disk but missing from .ratchet/index.json.
    #[arg(long)]
    include_unlisted: bool,
    /// Directory to write the bundle directories in (each named by its id).
    #[arg(short, long, default_value = ".")]
    out: PathBuf,
}

/// Runs `bundle import`.
pub fn run(args: ImportArgs) -> CliResult {
    let opts = ImportOptions {
        id_prefix: args.id_prefix,
        split: if args.per_task {
            Some(Split::PerTask)
        } else if args.one_bundle {
            Some(Split::OneBundle)
        } else {
            None
        },
        include_unlisted: args.include_unlisted,
        out: args.out,
    };
    let report = import(&args.path, &opts)?;
    // What was written is checked at once, so the author sees any problem now.
    let checked: Vec<_> = report
        .bundles
        .iter()
        .map(|b| validate_bundle(&b.dir))
        .collect();
    let valid = checked
        .iter()
        .all(ratchet_validate::ValidationReport::is_valid);
    if out().json() {
        print_json(&json!({
            "kind": match report.kind {
                SourceKind::Repository => "repository",
                SourceKind::TaskDir => "task",
                SourceKind::TaskCollection => "task-collection",
            },
            "bundles": report.bundles.iter().zip(&checked).map(|(b, v)| json!({
                "id": b.id,
                "version": b.version,
                "dir": b.dir,
                "tasks": b.tasks.iter().map(|t| json!({"name": t.name, "from": t.from, "notes": t.notes})).collect::<Vec<_>>(),
                "domains": b.domains.iter().map(|d| json!({"pattern": d.pattern, "seen_in": d.seen_in})).collect::<Vec<_>>(),
                "valid": v.is_valid(),
                "diagnostics": v.diagnostics,
            })).collect::<Vec<_>>(),
            "unlisted": report.unlisted,
            "unlisted_included": report.unlisted_included,
            "warnings": report.warnings,
        }))?;
    } else {
        for (b, v) in report.bundles.iter().zip(&checked) {
            println!(
                "wrote {} {} in {} ({} task{})",
                escape(&b.id),
                escape(&b.version),
                escape(&b.dir.display().to_string()),
                b.tasks.len(),
                if b.tasks.len() == 1 { "" } else { "s" }
            );
            for t in &b.tasks {
                println!(
                    "  tasks/{} <- {}",
                    escape(&t.name),
                    escape(&t.from.display().to_string())
                );
            }
            if b.domains.is_empty() {
                println!("  network: none (no URL in the sources)");
            } else {
                println!(
                    "  network domains inferred from the sources (check them in bundle.yaml before publishing):"
                );
                for d in &b.domains {
                    println!(
                        "    {}  (seen in {})",
                        escape(&d.pattern),
                        escape(&d.seen_in.join(", "))
                    );
                }
            }
            for d in &v.diagnostics {
                println!("  {}", escape(&d.to_string()));
            }
        }
        if !report.unlisted.is_empty() {
            let list = report
                .unlisted
                .iter()
                .map(|u| escape(u))
                .collect::<Vec<_>>()
                .join(", ");
            if report.unlisted_included {
                println!("imported tasks missing from .ratchet/index.json: {list}");
            } else {
                println!(
                    "not imported: tasks on disk missing from .ratchet/index.json: {list} (--include-unlisted imports them)"
                );
            }
        }
        for w in &report.warnings {
            eprintln!("warning: {}", escape(w));
        }
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
