//! Enterprise hooks of a registry (`index-format.md` §12, §7.7, §13): the registry's policy
//! (`config.json` `policies.enterprise`) refuses archives at publish, approver keys and
//! approvals are added here, and every change is appended to the registry's audit log when the
//! policy switches it on. Kept apart from `lib.rs` so each operation there needs one call.

use super::{PublishError, Registry, Result};
use ratchet_audit::{AuditLog, Record, Source};
use ratchet_formats::index::{IndexLine, meta_path};
use ratchet_formats::manifest::{BundleId, Manifest};
use ratchet_policy::{GrantedApproval, Graph, Node, Policy, Stage, Verification};
use ratchet_trust::approve::{Approval, ApprovalFields, valid_approvals};
use ratchet_trust::keys::PublicKey;
use std::collections::BTreeMap;

/// The registry's audit log, beside its lock file and, like it, never served
/// (`index-format.md` §13.1).
pub const AUDIT_FILE: &str = ".ratchet-index.audit.jsonl";

/// Most bundles a publish-time policy graph visits (a hostile or huge dependency web cannot make
/// a publish endless).
const MAX_GRAPH: usize = 10_000;

/// A version whose required approvals are not all there (`ratchet-index approvals --pending`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PendingApproval {
    /// The bundle.
    pub id: String,
    /// The version.
    pub version: String,
    /// Its archive's SHA-256.
    pub sha256: String,
    /// What is missing: each scope and the role that must approve it.
    pub missing: Vec<GrantedApproval>,
    /// What is there.
    pub approved: Vec<ratchet_trust::approve::ValidApproval>,
}

impl Registry {
    /// The registry's enterprise policy, if its `config.json` has one.
    pub fn policy(&self) -> Result<Option<Policy>> {
        Policy::from_config(
            &self.config,
            &format!("registry `{}` policy", self.config.name),
        )
        .map_err(PublishError::Policy)
    }

    /// The registry's audit log file.
    pub fn audit_path(&self) -> std::path::PathBuf {
        self.root.join(AUDIT_FILE)
    }

    /// Appends `record` to the audit log when the registry's policy enables it. Called once
    /// per change, after the change is committed.
    pub(crate) fn audit(&self, record: Record) -> Result<()> {
        let enabled = matches!(self.policy(), Ok(Some(p)) if p.audit_enabled());
        if !enabled {
            return Ok(());
        }
        AuditLog::new(self.audit_path(), Source::Registry)
            .append(&record.at(&self.root.display().to_string()))
            .map(|_| ())
            .map_err(|e| PublishError::AuditBehind(e.to_string()))
    }

    /// Refuses `m` when the registry's policy forbids it (§12.3): its license, a forbidden id in
    /// it or its dependency graph (newest unyanked matching versions, as a resolver would pick
    /// today), an unsigned archive or permissions and limits the preset forbids. Verification
    /// and approvals come after publishing and are checked by clients.
    pub(crate) fn check_policy(&self, m: &Manifest, signed: bool, file: &str) -> Result<()> {
        let Some(policy) = self.policy()? else {
            return Ok(());
        };
        let mut line = IndexLine::from_manifest(m, "-", 0, "-");
        line.signer = signed.then(|| "-".to_string());
        let mut graph = Graph {
            nodes: BTreeMap::new(),
            roots: vec![m.id.as_str().to_string()],
        };
        let mut todo = vec![line];
        while let Some(line) = todo.pop() {
            if graph.nodes.contains_key(line.id.as_str()) || graph.nodes.len() >= MAX_GRAPH {
                continue;
            }
            for d in &line.dependencies {
                if graph.nodes.contains_key(d.bundle_id.as_str()) {
                    continue;
                }
                if let Some((f, _)) = self.index_file(&d.bundle_id)?
                    && let Some(best) = f
                        .versions()
                        .filter(|l| !l.yanked && d.version.matches(&l.version))
                        .max_by(|a, b| a.version.cmp(&b.version))
                {
                    todo.push(best.clone());
                }
            }
            graph.nodes.insert(
                line.id.as_str().to_string(),
                Node::from_line(&line, Verification::Unverified, Vec::new()),
            );
        }
        let violations = ratchet_policy::evaluate(&[&policy], &graph, Stage::Publish);
        if violations.is_empty() {
            Ok(())
        } else {
            Err(PublishError::PolicyRefused {
                file: file.to_string(),
                violations,
            })
        }
    }

    /// Replaces the registry's enterprise policy (`config.json` `policies.enterprise`) with the
    /// `enterprise:` block of a policy file's text; checked first, logged as a config change.
    pub fn set_policy(&mut self, text: &str, file: &str) -> Result<()> {
        let p = Policy::parse_yaml(text, file).map_err(PublishError::Policy)?;
        let value = serde_json::to_value(&p.enterprise).expect("a policy serializes");
        self.update_config(|c| {
            c.policies
                .insert(ratchet_policy::CONFIG_KEY.to_string(), value.clone());
            true
        })?;
        self.audit(Record {
            action: "policy".into(),
            details: serde_json::Map::from_iter([("policy".to_string(), value)]),
            ..Record::default()
        })
    }

    /// Names `key` as an approver of `role` in `config.json` (replacing an entry with the same
    /// key and role).
    pub fn add_approver(&mut self, role: &str, name: &str, key: &PublicKey) -> Result<()> {
        if !ratchet_trust::approve::valid_name(role) {
            return Err(PublishError::BadApproverRole(role.to_string()));
        }
        if name.trim().is_empty() {
            return Err(PublishError::EmptyVerifierName);
        }
        self.update_config(|c| {
            c.keys.retain(|k| {
                !(k.get("role").and_then(|v| v.as_str()) == Some("approver")
                    && k.get("approver-role").and_then(|v| v.as_str()) == Some(role)
                    && k.get("key").and_then(|v| v.as_str()) == Some(key.to_base64()))
            });
            c.keys.push(serde_json::json!({
                "role": "approver",
                "approver-role": role,
                "name": name,
                "key": key.to_base64(),
            }));
            true
        })?;
        self.audit(
            Record {
                action: "approver-add".into(),
                ..Record::default()
            }
            .with("role", role.into())
            .with("name", name.into())
            .with("key_id", key.key_id().into()),
        )
    }

    /// Adds an approval of one published archive to the bundle's metadata file; refused unless
    /// it verifies against an approver key of the role it names (§7.7). Logged in the
    /// transparency log as an `attest` entry (it changes the metadata file the same way).
    pub fn add_approval(&self, a: Approval) -> Result<ratchet_trust::approve::ValidApproval> {
        let f = ApprovalFields::parse(&a.statement).map_err(PublishError::BadAttestation)?;
        let id = crate::statement_id(&f.id)?;
        let _lock = self.lock()?;
        let mut tx = self.begin_change()?;
        self.require_published(&id, &f.version, &f.sha256)?;
        let (ok, problems) = valid_approvals(
            id.as_str(),
            &f.version,
            &f.sha256,
            std::slice::from_ref(&a),
            &self.config,
        );
        let Some(valid) = ok.into_iter().next() else {
            return Err(PublishError::ApprovalRejected(
                problems
                    .first()
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "it does not verify".into()),
            ));
        };
        let rel = meta_path(&id);
        let (mut meta, _) = self.owners(&id)?;
        let mut list = ratchet_trust::approve::from_meta(&meta, &rel).map_err(|source| {
            PublishError::Untrusted {
                file: rel.clone(),
                source: Box::new(source),
            }
        })?;
        list.push(a);
        ratchet_trust::approve::store(&mut meta, &list);
        self.intend_meta(
            &mut tx,
            ratchet_tlog::entry::EntryKind::Attest,
            &id,
            Some(&f.version),
            Some(&f.sha256),
        )?;
        self.store_meta(&id, &meta)?;
        self.commit_change(tx)?;
        self.audit(
            Record::bundle("approve", id.as_str(), Some(&f.version), Some(&f.sha256))
                .with("scope", f.scope.clone().into())
                .with("role", f.role.clone().into())
                .with("approver", valid.approver.clone().into())
                .with("key_id", valid.key_id.clone().into()),
        )?;
        Ok(valid)
    }

    /// Every unyanked version with the approvals the registry's policy requires, and what is
    /// missing (`ratchet-index approvals [--pending]`), by id then version. `id` limits it to one
    /// bundle.
    pub fn approvals(&self, id: Option<&BundleId>) -> Result<Vec<PendingApproval>> {
        let need = self
            .policy()?
            .map(|p| p.required_approvals())
            .unwrap_or_default();
        let bundles = match id {
            Some(id) => vec![self.bundle(id)?],
            None => self.list()?,
        };
        let mut out = Vec::new();
        for b in bundles {
            let rel = meta_path(&b.id);
            let (meta, _) = self.owners(&b.id)?;
            let list = ratchet_trust::approve::from_meta(&meta, &rel).unwrap_or_default();
            for l in b.versions.iter().filter(|l| !l.yanked) {
                let v = l.version.to_string();
                let (ok, _) = valid_approvals(b.id.as_str(), &v, &l.sha256, &list, &self.config);
                let missing = need
                    .iter()
                    .filter(|n| !ok.iter().any(|a| a.scope == n.scope && a.role == n.role))
                    .cloned()
                    .collect();
                out.push(PendingApproval {
                    id: b.id.as_str().to_string(),
                    version: v,
                    sha256: l.sha256.clone(),
                    missing,
                    approved: ok,
                });
            }
        }
        Ok(out)
    }
}
