//! `ratchet policy check` and `ratchet audit ...`: the enterprise policy over a lockfile (for
//! CI) and the client's audit log (`index-format.md` §12-§13, output in `cli-output.md`).

use super::CliResult;
use clap::{Args, Subcommand};
use ratchet_client::enterprise;
use ratchet_client::install::{Client, Lockfile};
use ratchet_client::paths::Paths;
use ratchet_client::registry::RegistrySource;
use ratchet_term::{escape, out, print_json};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

/// `ratchet policy ...`.
#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Check every bundle of a lockfile against the registry's and this client's policies;
    /// exits 1 naming each broken rule, bundle and dependency path.
    Check(CheckArgs),
}

/// `ratchet policy check`.
#[derive(Args)]
pub struct CheckArgs {
    /// The lockfile (default: the data directory's ratchet.lock).
    #[arg(long, value_name = "FILE")]
    lockfile: Option<PathBuf>,
    /// Only the cached registry files.
    #[arg(long)]
    offline: bool,
}

/// `ratchet audit ...` (this client's audit log, or any log with --file).
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain; exits 1 naming the first broken line.
    Verify {
        /// The log (default: the data directory's audit.jsonl).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// A head recorded earlier (`SEQ:HASH`): also detects truncation.
        #[arg(long, value_name = "SEQ:HASH")]
        head: Option<String>,
    },
    /// Write the verified log to standard output for a SIEM.
    Export {
        /// The log (default: the data directory's audit.jsonl).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
        /// json (JSON lines), cef, syslog (RFC 5424) or siem (= cef); default: the client
        /// policy's `audit_log.export_format`, else json.
        #[arg(long = "to", value_name = "FORMAT")]
        to: Option<String>,
        /// HOSTNAME of syslog messages (default: `-`).
        #[arg(long)]
        hostname: Option<String>,
    },
    /// Remove entries older than the retention period (the client policy's
    /// `audit_log.retention_days`, or --retention-days), recording the removal.
    Prune {
        /// Days to keep.
        #[arg(long)]
        retention_days: Option<u32>,
    },
}

pub fn policy(cmd: PolicyCommand) -> CliResult {
    match cmd {
        PolicyCommand::Check(args) => check(args),
    }
}

fn check(args: CheckArgs) -> CliResult {
    let paths = Paths::detect();
    let file = args
        .lockfile
        .unwrap_or_else(|| paths.data.join(ratchet_client::install::LOCK_FILE));
    let lock = Lockfile::load(&file)?;
    let mut by_registry: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for b in &lock.bundles {
        by_registry.entry(b.registry.clone()).or_default().push(b);
    }
    let roots: Vec<_> = lock.requested.keys().cloned().collect();
    let mut violations = Vec::new();
    for (registry, bundles) in by_registry {
        let src = RegistrySource::select(&paths.config, Some(&registry))?;
        let ids: BTreeSet<_> = bundles.iter().map(|b| b.id.clone()).collect();
        let mut client = Client::open_reporting(
            paths.clone(),
            src,
            args.offline,
            &ids,
            false,
            ratchet_client::events::no_reporter(),
        )?;
        client.load(&ids)?;
        let mut lines = Vec::new();
        for b in &bundles {
            let line = client.line(&b.id, &b.version).cloned().ok_or_else(|| {
                format!(
                    "{}: {} {} is locked but {} has no such version",
                    file.display(),
                    b.id,
                    b.version,
                    escape(&registry)
                )
            })?;
            if line.sha256 != b.sha256 {
                return Err(format!(
                    "{}: {} {} is locked with archive {} but {} now serves {}; refusing to check another archive",
                    file.display(),
                    b.id,
                    b.version,
                    b.sha256,
                    escape(&registry),
                    line.sha256
                )
                .into());
            }
            lines.push(line);
        }
        let refs: Vec<_> = lines.iter().collect();
        violations.extend(enterprise::violations(&mut client, &refs, &roots)?);
    }
    let o = out();
    if o.json() {
        print_json(&json!({
            "lockfile": file.display().to_string(),
            "checked": lock.bundles.len(),
            "ok": violations.is_empty(),
            "violations": violations,
        }))?;
    } else {
        for v in &violations {
            println!("{}", escape(&v.to_string()));
        }
        println!(
            "policy check: {} bundle(s) of {}, {}",
            lock.bundles.len(),
            file.display(),
            if violations.is_empty() {
                "no violation".to_string()
            } else {
                format!("{} violation(s)", violations.len())
            }
        );
    }
    Ok(if violations.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn audit(cmd: AuditCommand) -> CliResult {
    let paths = Paths::detect();
    let default = || enterprise::audit_path(&paths);
    match cmd {
        AuditCommand::Verify { file, head } => {
            let file = file.unwrap_or_else(default);
            let head = ratchet_term::audit::head_arg(head.as_deref())?;
            let v = ratchet_audit::verify(&file, head.as_ref())?;
            ratchet_term::audit::print_verified(&v, &file)?;
        }
        AuditCommand::Export { file, to, hostname } => {
            let file = file.unwrap_or_else(default);
            let name = match to {
                Some(t) => Some(t),
                None => enterprise::client_policy(&paths)?
                    .and_then(|p| p.enterprise.audit_log)
                    .map(|a| a.export_format),
            };
            let format = ratchet_term::audit::export_format(name.as_deref())?;
            ratchet_audit::export(
                &file,
                format,
                hostname.as_deref().unwrap_or("-"),
                &mut std::io::stdout().lock(),
            )?;
        }
        AuditCommand::Prune { retention_days } => {
            let days = match retention_days {
                Some(d) => d,
                None => enterprise::client_policy(&paths)?
                    .and_then(|p| p.enterprise.audit_log.map(|a| a.retention_days))
                    .ok_or("no --retention-days and the client policy sets no audit_log.retention_days")?,
            };
            let log = ratchet_audit::AuditLog::new(default(), ratchet_audit::Source::Client);
            let p = ratchet_audit::prune(
                &log,
                days,
                &ratchet_audit::now(),
                &ratchet_audit::current_actor(),
            )?;
            ratchet_term::audit::print_pruned(&p)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
