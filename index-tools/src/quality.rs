//! `ratchet-index advisory ...` and the report of `ratchet-index attest --verification`
//! (`index-format.md` §16.4, §16.6; output in `cli-output.md`).

use crate::{CliResult, open_for_change};
use clap::Subcommand;
use ratchet_publish::Registry;
use ratchet_quality::advisory;
use ratchet_term::{escape_line, out, print_json};
use ratchet_trust::keys::PublicKey;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `ratchet-index advisory ...`.
#[derive(Subcommand)]
pub enum AdvisoryCommand {
    /// Add security advisories (OSV records, ecosystem `Ratchet`) to the registry's
    /// advisories.jsonl; a record with the same id is replaced.
    Add {
        /// The registry directory.
        dir: PathBuf,
        /// OSV files: one record (`.json`), an array of records, or JSON lines (`.jsonl`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the registry's advisories.
    List {
        /// The registry directory.
        dir: PathBuf,
    },
}

/// Runs `ratchet-index advisory ...`.
pub fn advisory(cmd: AdvisoryCommand) -> CliResult {
    let o = out();
    match cmd {
        AdvisoryCommand::Add { dir, files } => {
            let reg = open_for_change(&dir)?;
            let mut new = Vec::new();
            for f in &files {
                new.extend(advisory::load(f)?);
            }
            let done = reg.add_advisories(new)?;
            if o.json() {
                print_json(
                    &json!({"advisories": done.iter().map(|(id, replaced)| json!({"id": id, "replaced": replaced})).collect::<Vec<_>>()}),
                )?;
            } else {
                for (id, replaced) in &done {
                    println!(
                        "{} advisory {}",
                        if *replaced { "Replaced" } else { "Added" },
                        escape_line(id)
                    );
                }
            }
        }
        AdvisoryCommand::List { dir } => {
            let reg = Registry::open(&dir)?;
            let list = reg.advisories()?;
            if o.json() {
                print_json(&json!({"advisories": list.iter().map(|a| json!({
                    "id": a.id,
                    "summary": a.summary,
                    "severity": a.severity,
                    "withdrawn": a.withdrawn,
                    "packages": a.affected.iter().map(|x| x.name.clone()).collect::<Vec<_>>(),
                })).collect::<Vec<_>>()}))?;
            } else {
                for a in &list {
                    let pkgs: Vec<&str> = a.affected.iter().map(|x| x.name.as_str()).collect();
                    println!(
                        "{}  {}  {}{}",
                        escape_line(&a.id),
                        escape_line(&pkgs.join(",")),
                        escape_line(a.summary.as_deref().unwrap_or("")),
                        if a.withdrawn { " (withdrawn)" } else { "" }
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks the report at `file` (a `verification.json` of `ratchet bundle check ARCHIVE`) against
/// the attested archive and stores it (`Registry::store_verified_report`); returns its path in
/// the registry (the attestation's `report=`).
pub fn store_report(
    reg: &Registry,
    file: &Path,
    id: &str,
    version: &str,
    sha256: &str,
    verifier: &PublicKey,
    date: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let bytes = ratchet_formats::index::read_limited(file, MAX_REPORT_BYTES)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    reg.store_verified_report(&bytes, id, version, sha256, verifier, date)
        .map_err(|e| format!("{}: {e}", file.display()).into())
}

/// Largest report read.
const MAX_REPORT_BYTES: u64 = 4 << 20;
