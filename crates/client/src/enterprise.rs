//! Enterprise hooks of the client (`index-format.md` §12-§13): the plan of an install or
//! update is refused when it breaks the registry's policy (`config.json` `policies.enterprise`,
//! signed with the configuration) or the client's (`config/policy.yaml`), naming the rule and
//! the dependency path; installs, updates, removals and runs are appended to the client's audit
//! log (`data/audit.jsonl`) when the client's policy enables it. One call from each pipeline
//! step; the rules themselves are `ratchet-policy`'s.

use crate::install::{Client, InstallError, PlannedBundle};
use crate::paths::Paths;
use ratchet_audit::{AuditLog, Record, Source};
use ratchet_formats::manifest::{BundleId, VersionReq};
use ratchet_policy::{GrantedApproval, Graph, Node, Policy, Stage, Verification, Violation};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The client's policy file, in the configuration directory.
pub const POLICY_FILE: &str = "policy.yaml";
/// The client's audit log, in the data directory.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// Why the enterprise checks could not run or refused.
#[derive(Debug, thiserror::Error)]
pub enum EnterpriseError {
    /// A policy file or block is unusable.
    #[error(transparent)]
    Policy(#[from] ratchet_policy::PolicyError),
    /// The plan breaks a policy.
    #[error("refused by policy:\n{}", .0.iter().map(|v| format!("  {v}")).collect::<Vec<_>>().join("\n"))]
    Refused(Vec<Violation>),
    /// The audit log could not be written.
    #[error("the change was made, but its audit log entry could not be written: {0}")]
    Audit(#[from] ratchet_audit::AuditError),
}

/// The client's policy file path.
pub fn policy_path(paths: &Paths) -> PathBuf {
    paths.config.join(POLICY_FILE)
}

/// The client's audit log path.
pub fn audit_path(paths: &Paths) -> PathBuf {
    paths.data.join(AUDIT_FILE)
}

/// The client's policy, when `config/policy.yaml` exists.
pub fn client_policy(paths: &Paths) -> Result<Option<Policy>, EnterpriseError> {
    let p = policy_path(paths);
    if !p.exists() {
        return Ok(None);
    }
    Ok(Some(Policy::load(&p)?))
}

/// The registry's policy, when its `config.json` has one.
pub fn registry_policy(client: &Client) -> Result<Option<Policy>, EnterpriseError> {
    Ok(Policy::from_config(
        &client.config,
        &format!("registry {} policy", client.fetcher.source().label()),
    )?)
}

/// The policy node of one planned bundle: its verification status and valid approvals as the
/// registry's metadata shows them now.
pub fn node(client: &mut Client, line: &ratchet_formats::index::IndexLine) -> Node {
    let records = client.records(&line.id);
    let (status, _) = records.status_of(line, &client.config);
    let approvals = match client.meta(&line.id) {
        None => Vec::new(),
        Some(meta) => {
            let file = format!("metadata of {}", line.id);
            let list = ratchet_trust::approve::from_meta(&meta, &file).unwrap_or_default();
            let (ok, _) = ratchet_trust::approve::valid_approvals(
                line.id.as_str(),
                &line.version.to_string(),
                &line.sha256,
                &list,
                &client.config,
            );
            ok.into_iter()
                .map(|a| GrantedApproval {
                    scope: a.scope,
                    role: a.role,
                })
                .collect()
        }
    };
    Node::from_line(line, Verification::of(&status), approvals)
}

/// Every violation of the registry's and the client's policies by `bundles` (the whole
/// resolved graph), with paths from `requested`.
pub fn violations(
    client: &mut Client,
    bundles: &[&ratchet_formats::index::IndexLine],
    requested: &[BundleId],
) -> Result<Vec<Violation>, EnterpriseError> {
    let reg = registry_policy(client)?;
    let own = client_policy(&client.paths)?;
    let policies: Vec<&Policy> = reg.iter().chain(own.iter()).collect();
    if policies.is_empty() {
        return Ok(Vec::new());
    }
    let mut graph = Graph {
        nodes: BTreeMap::new(),
        roots: requested.iter().map(|i| i.as_str().to_string()).collect(),
    };
    for line in bundles {
        let n = node(client, line);
        graph.nodes.insert(n.id.clone(), n);
    }
    Ok(ratchet_policy::evaluate(&policies, &graph, Stage::Install))
}

/// Refuses a plan that breaks a policy (called by [`crate::install::plan()`]).
pub(crate) fn check_plan(
    client: &mut Client,
    bundles: &[PlannedBundle],
    requested: &BTreeMap<BundleId, VersionReq>,
) -> Result<(), InstallError> {
    let lines: Vec<_> = bundles.iter().map(|b| &b.line).collect();
    let roots: Vec<BundleId> = requested.keys().cloned().collect();
    let v =
        violations(client, &lines, &roots).map_err(|e| InstallError::Enterprise(Box::new(e)))?;
    if v.is_empty() {
        Ok(())
    } else {
        Err(InstallError::Enterprise(Box::new(
            EnterpriseError::Refused(v),
        )))
    }
}

fn audit_log(paths: &Paths) -> Option<AuditLog> {
    match client_policy(paths) {
        Ok(Some(p)) if p.audit_enabled() => Some(AuditLog::new(audit_path(paths), Source::Client)),
        _ => None,
    }
}

/// Appends one entry per changed bundle of an applied plan (`install` for a new bundle,
/// `update` for another version, with the permissions it declares) and one `remove` per
/// bundle it dropped, when the client's policy enables the audit log.
pub(crate) fn audit_applied(
    client: &Client,
    plan: &crate::install::Plan,
) -> Result<(), InstallError> {
    let Some(log) = audit_log(&client.paths) else {
        return Ok(());
    };
    let registry = client.fetcher.source().base.to_string();
    let audit = |r: Record| {
        log.append(&r.at(&registry))
            .map(|_| ())
            .map_err(|e| InstallError::Enterprise(Box::new(EnterpriseError::Audit(e))))
    };
    for b in plan.bundles.iter().filter(|b| !b.unchanged) {
        let v = b.line.version.to_string();
        let mut r = Record::bundle(
            if b.replaces.is_some() {
                "update"
            } else {
                "install"
            },
            b.line.id.as_str(),
            Some(&v),
            Some(&b.line.sha256),
        )
        .with(
            "permissions",
            serde_json::to_value(&b.line.permissions).unwrap_or_default(),
        );
        if let Some(p) = &b.replaces {
            r = r.with("previous", p.to_string().into());
        }
        audit(r)?;
    }
    for id in &plan.removed {
        audit(Record::bundle("remove", id.as_str(), None, None))?;
    }
    Ok(())
}

/// Appends one `remove` entry per removed bundle, when the client's policy enables it.
pub(crate) fn audit_removed(
    paths: &Paths,
    removed: &BTreeMap<BundleId, semver::Version>,
) -> Result<(), InstallError> {
    let Some(log) = audit_log(paths) else {
        return Ok(());
    };
    for (id, v) in removed {
        log.append(&Record::bundle(
            "remove",
            id.as_str(),
            Some(&v.to_string()),
            None,
        ))
        .map_err(|e| InstallError::Enterprise(Box::new(EnterpriseError::Audit(e))))?;
    }
    Ok(())
}

/// Appends a `run` entry (task, outcome and the permissions granted to it), when the client's
/// policy enables the audit log. For the `ratchet run` command.
pub fn audit_run(
    paths: &Paths,
    id: &str,
    version: &str,
    task: &str,
    ok: bool,
    granted: serde_json::Value,
) -> Result<(), EnterpriseError> {
    let Some(log) = audit_log(paths) else {
        return Ok(());
    };
    log.append(
        &Record::bundle("run", id, Some(version), None)
            .with("task", task.into())
            .with("ok", ok.into())
            .with("granted", granted),
    )?;
    Ok(())
}
