//! `ratchet-index stats`: download statistics from access logs and related-bundle lists
//! (`index-format.md` §11). Parses arguments, calls `ratchet_stats`, renders.

use clap::Subcommand;
use ratchet_formats::index::index_path;
use ratchet_formats::manifest::BundleId;
use ratchet_stats::{IngestOptions, LogFormat};
use ratchet_term::{escape_line, out, print_json};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// `ratchet-index stats ...`.
#[derive(Subcommand)]
pub enum StatsCommand {
    /// Count archive downloads from access logs (nginx/Apache combined, S3 server access,
    /// CloudFront standard; gzip or not) into stats/. No address or user agent is stored;
    /// a log ingested before counts only its new lines.
    Ingest {
        /// The registry directory.
        #[arg(long, default_value = ".")]
        registry: PathBuf,
        /// Log format: auto (detected per file), combined, s3 or cloudfront. (`--format` is
        /// the global output format.)
        #[arg(long = "log-format", default_value = "auto")]
        log_format: LogFormat,
        /// Log files.
        #[arg(required = true)]
        logs: Vec<PathBuf>,
    },
    /// Show a bundle's download figures and related bundles.
    Show {
        /// The registry directory.
        #[arg(long, default_value = ".")]
        registry: PathBuf,
        /// Bundle id.
        id: BundleId,
    },
    /// Recompute every bundle's similar and often-installed-together lists (related/).
    Related {
        /// The registry directory.
        #[arg(long, default_value = ".")]
        registry: PathBuf,
    },
}

type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

/// Runs a `stats` subcommand.
pub fn run(cmd: StatsCommand) -> CliResult {
    let o = out();
    match cmd {
        StatsCommand::Ingest {
            registry,
            log_format,
            logs,
        } => {
            let r = ratchet_stats::ingest(
                &registry,
                &logs,
                &IngestOptions {
                    format: log_format,
                    ..IngestOptions::default()
                },
            )?;
            // The catalog's downloads and trend (§10.2) follow the new figures.
            let catalog_updated =
                ratchet_publish::Registry::open(&registry)?.catalog_refresh(&r.changed)?;
            let malformed: u64 = r.logs.iter().map(|l| l.malformed).sum();
            if o.json() {
                print_json(&json!({
                    "logs": r.logs.iter().map(|l| json!({
                        "file": l.file,
                        "format": l.format.as_str(),
                        "already_ingested_bytes": l.already_ingested,
                        "new_bytes": l.new_bytes,
                        "records": l.records,
                        "downloads": l.downloads,
                        "malformed": l.malformed,
                    })).collect::<Vec<_>>(),
                    "malformed": r.malformed.iter().map(|m| json!({
                        "file": m.file, "line": m.line, "reason": m.reason,
                    })).collect::<Vec<_>>(),
                    "downloads": r.downloads,
                    "batch": r.batch,
                    "files_written": r.files_written,
                    "changed": r.changed,
                    "catalog_updated": catalog_updated,
                    "summary": r.summary,
                }))?;
                return Ok(ExitCode::SUCCESS);
            }
            for m in &r.malformed {
                o.warn(format!(
                    "{}:{}: malformed log line skipped: {}",
                    escape_line(&m.file),
                    m.line,
                    m.reason
                ));
            }
            if malformed > r.malformed.len() as u64 {
                o.warn(format!(
                    "{} more malformed line(s) skipped",
                    malformed - r.malformed.len() as u64
                ));
            }
            for l in &r.logs {
                let seen = if l.already_ingested > 0 {
                    format!(" (first {} bytes ingested before)", l.already_ingested)
                } else {
                    String::new()
                };
                println!(
                    "{}: {} log, {} record(s), {} download(s), {} malformed{seen}",
                    escape_line(&l.file),
                    l.format.as_str(),
                    l.records,
                    l.downloads,
                    l.malformed
                );
            }
            let s = &r.summary;
            println!(
                "{} download(s) counted, {} stats file(s) written; registry: {} download(s), {} in the 30 days to {}",
                r.downloads,
                r.files_written,
                s.downloads,
                s.last_30_days,
                s.last_day.as_deref().unwrap_or("-")
            );
            if catalog_updated > 0 {
                println!("search catalog updated for {catalog_updated} bundle(s)");
            }
        }
        StatsCommand::Show { registry, id } => {
            let stats = ratchet_stats::read_stats(&registry, &id)?;
            let related = ratchet_stats::read_related(&registry, &id)?;
            if stats.is_none() && related.is_none() && !registry.join(index_path(&id)).exists() {
                return Err(format!("no bundle {id} in {}", registry.display()).into());
            }
            if o.json() {
                print_json(&json!({"id": id, "stats": stats, "related": related}))?;
                return Ok(ExitCode::SUCCESS);
            }
            match &stats {
                Some(s) => {
                    println!(
                        "{id}: {} download(s), {} in the last 30 days, {} in the last 7 (as of {}), trend {:+.3}",
                        s.downloads, s.last_30_days, s.last_7_days, s.as_of, s.trend
                    );
                    for (v, c) in s.versions.iter().rev() {
                        let d30: u64 = c
                            .days
                            .iter()
                            .filter(|(d, _)| {
                                ratchet_stats::Day::parse(d)
                                    .zip(s.as_of_day())
                                    .is_some_and(|(d, a)| a.0 - d.0 < 30)
                            })
                            .map(|(_, n)| n)
                            .sum();
                        println!("  {v}: {} total, {d30} in the last 30 days", c.total);
                    }
                }
                None => println!("{id}: no downloads recorded"),
            }
            if let Some(r) = &related {
                let ids = |v: Vec<String>| {
                    if v.is_empty() {
                        "-".to_string()
                    } else {
                        v.join(", ")
                    }
                };
                println!(
                    "  similar: {}",
                    ids(r
                        .similar
                        .iter()
                        .map(|s| format!("{} ({:.2})", s.id, s.score))
                        .collect())
                );
                println!(
                    "  often installed together: {}",
                    ids(r
                        .together
                        .iter()
                        .map(|t| format!("{} ({})", t.id, t.count))
                        .collect())
                );
                println!(
                    "  used by: {}",
                    ids(r.dependents.iter().map(ToString::to_string).collect())
                );
            }
        }
        StatsCommand::Related { registry } => {
            let r = ratchet_stats::related::refresh(&registry)?;
            if o.json() {
                print_json(&json!({
                    "bundles": r.bundles,
                    "written": r.written,
                    "removed": r.removed,
                    "skipped": r.skipped.iter().map(|(id, why)| json!({"id": id, "reason": why})).collect::<Vec<_>>(),
                }))?;
                return Ok(ExitCode::SUCCESS);
            }
            for (id, why) in &r.skipped {
                o.warn(format!("{id} left out: {}", escape_line(why)));
            }
            println!(
                "related lists of {} bundle(s): {} file(s) written, {} removed",
                r.bundles, r.written, r.removed
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
