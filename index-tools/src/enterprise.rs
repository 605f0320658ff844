//! `ratchet-index` enterprise commands: the registry's policy, approver keys, approvals and the
//! audit log (`index-format.md` §7.7, §12, §13; output in `cli-output.md`).

use crate::{CliResult, ask_password, open_for_change};
use clap::Subcommand;
use ratchet_audit::{AuditLog, Source};
use ratchet_formats::manifest::BundleId;
use ratchet_publish::{PublishError, Registry, publish_time};
use ratchet_term::{escape_line, out, print_json};
use ratchet_trust::approve::{self, ApprovalFields};
use ratchet_trust::keys::{PublicKey, SecretKey};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// `ratchet-index policy ...`.
#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Set the registry's policy from a file holding the plan's `enterprise:` block (YAML);
    /// stored in config.json `policies.enterprise`, so it is signed with the configuration.
    Set {
        /// The registry directory.
        dir: PathBuf,
        /// The policy file.
        file: PathBuf,
    },
    /// Show the registry's policy.
    Show {
        /// The registry directory.
        dir: PathBuf,
    },
}

/// `ratchet-index approver ...`.
#[derive(Subcommand)]
pub enum ApproverCommand {
    /// Name a key as an approver of a role (config.json `keys`).
    Add {
        /// The registry directory.
        dir: PathBuf,
        /// The role (`security_team`), as the policy's `approval_workflow.approvers` names it.
        #[arg(long)]
        role: String,
        /// The approver's name.
        #[arg(long)]
        name: String,
        /// The approver's public key file.
        #[arg(long, value_name = "FILE.pub")]
        key: PathBuf,
    },
    /// List the approver keys.
    List {
        /// The registry directory.
        dir: PathBuf,
    },
}

/// `ratchet-index audit ...` (the registry's audit log, `.ratchet-index.audit.jsonl`).
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain; exits 1 naming the first broken line.
    Verify {
        /// The registry directory.
        dir: PathBuf,
        /// A head recorded earlier (`SEQ:HASH`, as verify prints it): also detects truncation.
        #[arg(long, value_name = "SEQ:HASH")]
        head: Option<String>,
    },
    /// Write the verified log to standard output for a SIEM.
    Export {
        /// The registry directory.
        dir: PathBuf,
        /// json (JSON lines), cef, syslog (RFC 5424) or siem (= cef); default: the policy's
        /// `audit_log.export_format`, else json.
        #[arg(long = "to", value_name = "FORMAT")]
        to: Option<String>,
        /// HOSTNAME of syslog messages (default: `-`).
        #[arg(long)]
        hostname: Option<String>,
    },
    /// Remove entries older than the retention period (the policy's `audit_log.retention_days`,
    /// or --retention-days), recording the removal in the log.
    Prune {
        /// The registry directory.
        dir: PathBuf,
        /// Days to keep.
        #[arg(long)]
        retention_days: Option<u32>,
    },
}

pub fn policy(cmd: PolicyCommand) -> CliResult {
    let o = out();
    match cmd {
        PolicyCommand::Set { dir, file } => {
            let mut reg = open_for_change(&dir)?;
            let len = std::fs::metadata(&file)
                .map_err(|e| format!("{}: {e}", file.display()))?
                .len();
            if len > ratchet_policy::MAX_POLICY_LEN {
                return Err(
                    format!("{}: {len} bytes is too large for a policy", file.display()).into(),
                );
            }
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            reg.set_policy(&text, &file.display().to_string())?;
            if o.json() {
                print_json(
                    &json!({"policy": reg.config().policies.get(ratchet_policy::CONFIG_KEY)}),
                )?;
            } else {
                println!("{}: policy set from {}", dir.display(), file.display());
            }
        }
        PolicyCommand::Show { dir } => {
            let reg = Registry::open(&dir)?;
            let p = reg.policy()?;
            if o.json() {
                print_json(&json!({"policy": p.as_ref().map(|p| &p.enterprise)}))?;
            } else if let Some(p) = p {
                let yaml = serde_json::to_string_pretty(&json!({"enterprise": p.enterprise}))?;
                println!("{}", ratchet_term::escape(&yaml));
            } else {
                println!("no policy (`ratchet-index policy set DIR FILE`)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn approver(cmd: ApproverCommand) -> CliResult {
    let o = out();
    match cmd {
        ApproverCommand::Add {
            dir,
            role,
            name,
            key,
        } => {
            let mut reg = open_for_change(&dir)?;
            let pk = PublicKey::load(&key)?;
            reg.add_approver(&role, &name, &pk)?;
            if o.json() {
                print_json(&json!({"added": {"role": role, "name": name, "key_id": pk.key_id()}}))?;
            } else {
                println!(
                    "{}: approver {} ({}) added for role {role}",
                    dir.display(),
                    escape_line(&name),
                    pk.key_id()
                );
            }
        }
        ApproverCommand::List { dir } => {
            let reg = Registry::open(&dir)?;
            let (keys, bad) = approve::approver_keys(reg.config());
            for i in &bad {
                o.warn(format!("config.json: keys[{i}] is an approver entry without a valid `approver-role`, `name` and `key`; ignored"));
            }
            if o.json() {
                let list: Vec<_> = keys
                    .iter()
                    .map(|k| json!({"role": k.role, "name": k.name, "key_id": k.key.key_id()}))
                    .collect();
                print_json(&json!({"approvers": list}))?;
            } else if keys.is_empty() {
                println!("no approver keys (`ratchet-index approver add`)");
            } else {
                for k in keys {
                    println!("{}  {}  {}", k.key.key_id(), k.role, escape_line(&k.name));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `ratchet-index approve DIR ID VERSION --scope S --role R --key KEY`.
pub fn approve_cmd(
    dir: PathBuf,
    id: BundleId,
    version: semver::Version,
    scope: String,
    role: String,
    key: PathBuf,
    time: Option<String>,
) -> CliResult {
    let o = out();
    let reg = open_for_change(&dir)?;
    let b = reg.bundle(&id)?;
    let line = b
        .versions
        .iter()
        .find(|l| l.version == version)
        .ok_or_else(|| PublishError::UnknownVersion(id.clone(), version.clone()))?;
    let sk = SecretKey::load_with(&key, &mut ask_password)?;
    let fields = ApprovalFields {
        id: id.to_string(),
        version: version.to_string(),
        sha256: line.sha256.clone(),
        scope,
        role,
        date: publish_time(time.as_deref())?,
    };
    let a = approve::approve(&fields, &sk)?;
    let v = reg.add_approval(a)?;
    if o.json() {
        print_json(&json!({"approved": {
            "id": id, "version": version.to_string(), "sha256": fields.sha256,
            "scope": v.scope, "role": v.role, "approver": v.approver, "key_id": v.key_id,
        }}))?;
    } else {
        println!(
            "{id} {version} approved for {} as {} by {} ({})",
            v.scope,
            v.role,
            escape_line(&v.approver),
            v.key_id
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `ratchet-index approvals DIR [ID] [--pending]`.
pub fn approvals(dir: PathBuf, id: Option<BundleId>, pending: bool) -> CliResult {
    let o = out();
    let reg = Registry::open(&dir)?;
    let mut list = reg.approvals(id.as_ref())?;
    if pending {
        list.retain(|p| !p.missing.is_empty());
    }
    if o.json() {
        print_json(&json!({"approvals": list}))?;
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        println!(
            "{}",
            if pending {
                "nothing awaits approval"
            } else {
                "no versions"
            }
        );
    }
    for p in list {
        let done: Vec<String> = p
            .approved
            .iter()
            .map(|a| format!("{} by {} ({})", a.scope, escape_line(&a.approver), a.role))
            .collect();
        let missing: Vec<String> = p
            .missing
            .iter()
            .map(|m| format!("{} (role {})", m.scope, m.role))
            .collect();
        println!(
            "{} {}  approved: {}  missing: {}",
            p.id,
            p.version,
            if done.is_empty() {
                "-".into()
            } else {
                done.join(", ")
            },
            if missing.is_empty() {
                "-".into()
            } else {
                missing.join(", ")
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn audit(cmd: AuditCommand) -> CliResult {
    match cmd {
        AuditCommand::Verify { dir, head } => {
            let reg = Registry::open(&dir)?;
            let head = ratchet_term::audit::head_arg(head.as_deref())?;
            let v = ratchet_audit::verify(&reg.audit_path(), head.as_ref())?;
            ratchet_term::audit::print_verified(&v, &reg.audit_path())?;
        }
        AuditCommand::Export { dir, to, hostname } => {
            let reg = Registry::open(&dir)?;
            let policy = reg.policy()?;
            let name = to.or_else(|| {
                policy
                    .as_ref()
                    .and_then(|p| p.enterprise.audit_log.as_ref())
                    .map(|a| a.export_format.clone())
            });
            let format = ratchet_term::audit::export_format(name.as_deref())?;
            let mut stdout = std::io::stdout().lock();
            ratchet_audit::export(
                &reg.audit_path(),
                format,
                hostname.as_deref().unwrap_or("-"),
                &mut stdout,
            )?;
        }
        AuditCommand::Prune {
            dir,
            retention_days,
        } => {
            let reg = Registry::open(&dir)?;
            let days = match retention_days {
                Some(d) => d,
                None => reg
                    .policy()?
                    .and_then(|p| p.enterprise.audit_log.map(|a| a.retention_days))
                    .ok_or("no --retention-days and the registry's policy sets no audit_log.retention_days")?,
            };
            let log = AuditLog::new(reg.audit_path(), Source::Registry);
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
