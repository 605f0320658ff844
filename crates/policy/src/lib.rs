//! `ratchet-policy`: the enterprise policies of a registry and of a client, and their
//! evaluation over a resolved dependency graph (`index-format.md` §12).
//!
//! The product plan's `enterprise:` block (approval workflow, compliance, audit log) is a
//! policy. A registry carries one in its signed `config.json` (`policies.enterprise`, the same
//! block in JSON) and `ratchet-index publish` refuses archives that break it; a client carries
//! one in `config/policy.yaml` (the block as written in the plan) and `ratchet bundle install`
//! refuses plans that break either. Both are the same [`Policy`], evaluated by [`evaluate`] over
//! a [`Graph`] of [`Node`]s, so publish, install and `ratchet policy check` cannot disagree.
//!
//! Rules: allowed licenses as SPDX expressions evaluated properly (`MIT OR GPL-3.0-only` passes
//! when `MIT` is allowed; `PROPRIETARY` and custom ids such as `COMPANY-APPROVED`, written
//! `LicenseRef-COMPANY-APPROVED` in a bundle, are supported), forbidden dependency patterns over
//! the whole graph (each refusal names the dependency path), a minimum verification status,
//! approvals per scope and role, and named security presets ([`Preset`]). This crate reads no
//! network and never prints: it returns [`Violation`]s.

use ratchet_formats::index::{IndexLine, RegistryConfig};
use ratchet_formats::manifest::{Permissions, Resources};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// The `policies` key of `config.json` that holds a registry's enterprise policy.
pub const CONFIG_KEY: &str = "enterprise";
/// Largest policy file read, in bytes.
pub const MAX_POLICY_LEN: u64 = 256 * 1024;

/// Why a policy file or block cannot be used. Says what and where.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file cannot be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_POLICY_LEN`].
    #[error("{file}: {size} bytes is more than the {MAX_POLICY_LEN} a policy file may have")]
    TooLarge {
        /// The file.
        file: String,
        /// Its size.
        size: u64,
    },
    /// The text does not parse as the `enterprise:` block.
    #[error("{file}: {path}: {message}")]
    Parse {
        /// The file (or `config.json: policies.enterprise`).
        file: String,
        /// The field path (`enterprise.compliance.required_licenses[2]`), `.` for the whole file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A value is of the right type but not allowed.
    #[error("{file}: {field}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// A policy file: the plan's top-level `enterprise:` block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// The block.
    pub enterprise: Enterprise,
}

/// The plan's `enterprise:` block. Unknown fields are refused (a misspelt rule must not
/// silently switch a rule off).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enterprise {
    /// Where the private registry is and how users sign in (informational for evaluation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_registry: Option<PrivateRegistry>,
    /// Approvals required per scope, by role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_workflow: Option<ApprovalWorkflow>,
    /// Licenses, forbidden dependencies, security preset, minimum verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliance: Option<Compliance>,
    /// The audit log's settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_log: Option<AuditLogSettings>,
}

/// `enterprise.private_registry`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivateRegistry {
    /// The registry's URL.
    #[serde(default)]
    pub url: Option<String>,
    /// How users sign in: `none`, `token`, `api-key`, `basic`, `oidc` or `saml`.
    #[serde(default)]
    pub auth_method: Option<String>,
}

/// `enterprise.approval_workflow`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalWorkflow {
    /// Off: no approval is required.
    #[serde(default)]
    pub enabled: bool,
    /// Which role approves which scopes.
    #[serde(default)]
    pub approvers: Vec<ApproverRole>,
}

/// One entry of `approval_workflow.approvers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproverRole {
    /// The role (`security_team`); its keys are `config.json` approver keys with this
    /// `approver-role`.
    pub role: String,
    /// The scopes it must approve (`security_scan`, `dependencies`, `compatibility`).
    #[serde(rename = "for")]
    pub scopes: Vec<String>,
}

/// `enterprise.compliance`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compliance {
    /// The allowed licenses (SPDX ids, `PROPRIETARY`, or custom ids). A bundle's license
    /// expression must be satisfiable with these alone. Absent: any license.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_licenses: Option<Vec<String>>,
    /// Bundle id patterns (`*` any run of characters, `?` one) no bundle of the graph may match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forbidden_dependencies: Vec<String>,
    /// A named preset ([`Preset`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_policy: Option<String>,
    /// The least verification status every bundle must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_verification: Option<Verification>,
}

/// `enterprise.audit_log`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditLogSettings {
    /// Append audit entries.
    #[serde(default)]
    pub enabled: bool,
    /// Entries older than this are pruned by `audit prune` (0: kept forever).
    #[serde(default)]
    pub retention_days: u32,
    /// Default export format: `siem` (= `cef`), `cef`, `syslog` or `json`.
    #[serde(default = "default_export")]
    pub export_format: String,
}

fn default_export() -> String {
    "json".to_string()
}

/// A verification level, ordered: unverified < community < official.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verification {
    /// No valid attestation.
    Unverified,
    /// Community verified (§7.5).
    Community,
    /// Officially verified by a registry verifier.
    Official,
}

impl Verification {
    /// The level of a status.
    pub fn of(s: &ratchet_trust::VerificationStatus) -> Verification {
        match s {
            ratchet_trust::VerificationStatus::Unverified => Verification::Unverified,
            ratchet_trust::VerificationStatus::CommunityVerified { .. } => Verification::Community,
            ratchet_trust::VerificationStatus::OfficiallyVerified { .. } => Verification::Official,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Verification::Unverified => "unverified",
            Verification::Community => "community verified",
            Verification::Official => "officially verified",
        }
    }
}

/// A named security preset (`compliance.security_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// `none`: nothing beyond the other rules.
    None,
    /// `standard`: every bundle signed.
    Standard,
    /// `enterprise-strict`: signed; officially verified; network only to named hosts over
    /// HTTPS (no `*.` wildcard, no `http://`); no system commands; resource limits at most
    /// [`STRICT_CAPS`] (an absent limit is the sandbox default, which is within them).
    EnterpriseStrict,
}

/// The limit caps of `enterprise-strict`: memory, CPU time (ms), disk and network bytes.
pub const STRICT_CAPS: (u64, u64, u64, u64) = (
    1024 * 1024 * 1024,
    300_000,
    1024 * 1024 * 1024,
    256 * 1024 * 1024,
);

impl Preset {
    /// The preset of a name; `None` for a name that is not a preset.
    pub fn parse(name: &str) -> Option<Preset> {
        match name {
            "none" => Some(Preset::None),
            "standard" => Some(Preset::Standard),
            "enterprise-strict" => Some(Preset::EnterpriseStrict),
            _ => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Preset::None => "none",
            Preset::Standard => "standard",
            Preset::EnterpriseStrict => "enterprise-strict",
        }
    }
}

/// A checked policy, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Where it came from (`registry corp (config.json)`, `client policy /home/u/.config/...`).
    pub source: String,
    /// The block as parsed.
    pub enterprise: Enterprise,
    licenses: Option<Vec<Allowed>>,
    forbidden: Vec<String>,
    preset: Preset,
}

/// One allowed license entry.
#[derive(Debug, Clone)]
enum Allowed {
    /// An SPDX license (`MIT`, `GPL-2.0+`).
    Spdx(spdx::Licensee),
    /// `PROPRIETARY` or a custom id: matches the same word or `LicenseRef-<word>`.
    Custom(String),
}

/// The scope and role of one valid approval of a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantedApproval {
    /// What was approved.
    pub scope: String,
    /// As which role.
    pub role: String,
}

/// One bundle version of a graph, with what the rules need to know about it.
#[derive(Debug, Clone)]
pub struct Node {
    /// The id.
    pub id: String,
    /// The version.
    pub version: semver::Version,
    /// The archive's SHA-256.
    pub sha256: String,
    /// Its license expression.
    pub license: String,
    /// Ids of its dependencies.
    pub dependencies: Vec<String>,
    /// Signed by an owner key.
    pub signed: bool,
    /// Its verification level.
    pub verification: Verification,
    /// Its valid approvals.
    pub approvals: Vec<GrantedApproval>,
    /// Declared permissions.
    pub permissions: Permissions,
    /// Declared limits.
    pub resources: Resources,
}

impl Node {
    /// The node of an index line (signed when the line names a signer), with its status and
    /// approvals.
    pub fn from_line(
        line: &IndexLine,
        verification: Verification,
        approvals: Vec<GrantedApproval>,
    ) -> Node {
        Node {
            id: line.id.as_str().to_string(),
            version: line.version.clone(),
            sha256: line.sha256.clone(),
            license: line.license.clone(),
            dependencies: line
                .dependencies
                .iter()
                .map(|d| d.bundle_id.as_str().to_string())
                .collect(),
            signed: line.signer.is_some(),
            verification,
            approvals,
            permissions: line.permissions.clone(),
            resources: line.resources.clone(),
        }
    }

    fn label(&self) -> String {
        format!("{} {}", self.id, self.version)
    }
}

/// A resolved graph: its nodes by id and the ids the user asked for.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    /// Every bundle, by id.
    pub nodes: BTreeMap<String, Node>,
    /// The requested ids (paths start there).
    pub roots: Vec<String>,
}

/// Which rules apply: at publish, verification and approvals cannot exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `ratchet-index publish`: licenses, forbidden ids, signatures, preset permissions and
    /// limits.
    Publish,
    /// Install and `policy check`: every rule.
    Install,
}

/// The kind of rule a violation broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// `compliance.required_licenses`.
    License,
    /// `compliance.forbidden_dependencies`.
    ForbiddenDependency,
    /// `compliance.minimum_verification` (or the preset's).
    MinimumVerification,
    /// `approval_workflow`.
    Approval,
    /// The preset's signature requirement.
    Signature,
    /// The preset's permission or limit rules.
    SecurityPolicy,
}

impl Rule {
    /// The rule's name as JSON shows it.
    pub fn name(self) -> &'static str {
        match self {
            Rule::License => "license",
            Rule::ForbiddenDependency => "forbidden-dependency",
            Rule::MinimumVerification => "minimum-verification",
            Rule::Approval => "approval",
            Rule::Signature => "signature",
            Rule::SecurityPolicy => "security-policy",
        }
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The policy's [`Policy::source`].
    pub policy: String,
    /// The rule kind.
    pub rule: Rule,
    /// The rule as written (`compliance.forbidden_dependencies: com.unknown.*`).
    pub setting: String,
    /// The offending bundle (`com.unknown.x 1.0.0`).
    pub bundle: String,
    /// The dependency path from a requested bundle to it, each `id version`.
    pub path: Vec<String>,
    /// What is wrong, and for approvals who must approve what.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} ({}): {}",
            self.policy, self.bundle, self.setting, self.message
        )?;
        if self.path.len() > 1 {
            write!(f, " [path: {}]", self.path.join(" -> "))?;
        }
        Ok(())
    }
}

fn parse_err(file: &str, e: serde_path_to_error::Error<impl std::fmt::Display>) -> PolicyError {
    let path = e.path().to_string();
    PolicyError::Parse {
        file: file.to_string(),
        path,
        message: e.inner().to_string(),
    }
}

impl Policy {
    /// Reads a client policy file (`config/policy.yaml`; YAML, so JSON too), bounded in size.
    pub fn load(path: &std::path::Path) -> Result<Policy, PolicyError> {
        let file = path.display().to_string();
        let io = |source| PolicyError::Io {
            file: file.clone(),
            source,
        };
        let f = std::fs::File::open(path).map_err(io)?;
        let size = f.metadata().map_err(io)?.len();
        if size > MAX_POLICY_LEN {
            return Err(PolicyError::TooLarge { file, size });
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(f, MAX_POLICY_LEN), &mut text)
            .map_err(io)?;
        Policy::parse_yaml(&text, &format!("client policy {file}"))
    }

    /// Parses the text of a policy file: the `enterprise:` block. `source` names it in errors
    /// and violations.
    pub fn parse_yaml(text: &str, source: &str) -> Result<Policy, PolicyError> {
        if text.len() as u64 > MAX_POLICY_LEN {
            return Err(PolicyError::TooLarge {
                file: source.to_string(),
                size: text.len() as u64,
            });
        }
        let de = serde_norway::Deserializer::from_str(text);
        let file: PolicyFile =
            serde_path_to_error::deserialize(de).map_err(|e| parse_err(source, e))?;
        Policy::new(file.enterprise, source)
    }

    /// The enterprise policy of a registry's `config.json` (`policies.enterprise`), if any.
    pub fn from_config(
        config: &RegistryConfig,
        source: &str,
    ) -> Result<Option<Policy>, PolicyError> {
        let Some(v) = config.policies.get(CONFIG_KEY) else {
            return Ok(None);
        };
        let e: Enterprise = serde_path_to_error::deserialize(v.clone())
            .map_err(|e| parse_err(&format!("{source}: policies.enterprise"), e))?;
        Policy::new(e, source).map(Some)
    }

    /// Checks a block and prepares it for evaluation.
    pub fn new(enterprise: Enterprise, source: &str) -> Result<Policy, PolicyError> {
        let invalid = |field: &str, message: String| PolicyError::Invalid {
            file: source.to_string(),
            field: field.to_string(),
            message,
        };
        let c = enterprise.compliance.clone().unwrap_or_default();
        let licenses =
            match &c.required_licenses {
                None => None,
                Some(list) => {
                    let mut out = Vec::new();
                    for (i, l) in list.iter().enumerate() {
                        out.push(allowed(l).map_err(|m| {
                            invalid(&format!("compliance.required_licenses[{i}]"), m)
                        })?);
                    }
                    Some(out)
                }
            };
        for (i, p) in c.forbidden_dependencies.iter().enumerate() {
            if p.is_empty()
                || p.len() > 128
                || !p.bytes().all(|b| {
                    b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || matches!(b, b'.' | b'-' | b'_' | b'*' | b'?')
                })
            {
                return Err(invalid(
                    &format!("compliance.forbidden_dependencies[{i}]"),
                    format!(
                        "`{}` is not a bundle id pattern (a-z, 0-9, `.`, `-`, `_`, `*`, `?`)",
                        p.escape_debug()
                    ),
                ));
            }
        }
        let preset = match &c.security_policy {
            None => Preset::None,
            Some(n) => Preset::parse(n).ok_or_else(|| {
                invalid(
                    "compliance.security_policy",
                    format!(
                        "unknown preset `{}`; known: none, standard, enterprise-strict",
                        n.escape_debug()
                    ),
                )
            })?,
        };
        if let Some(w) = &enterprise.approval_workflow {
            for (i, a) in w.approvers.iter().enumerate() {
                if !ratchet_trust::approve::valid_name(&a.role) {
                    return Err(invalid(
                        &format!("approval_workflow.approvers[{i}].role"),
                        format!(
                            "`{}` is not a role name (a-z, 0-9, `_`, `-`)",
                            a.role.escape_debug()
                        ),
                    ));
                }
                if let Some(s) = a
                    .scopes
                    .iter()
                    .find(|s| !ratchet_trust::approve::valid_name(s))
                {
                    return Err(invalid(
                        &format!("approval_workflow.approvers[{i}].for"),
                        format!(
                            "`{}` is not a scope name (a-z, 0-9, `_`, `-`)",
                            s.escape_debug()
                        ),
                    ));
                }
            }
        }
        if let Some(a) = &enterprise.audit_log
            && !matches!(a.export_format.as_str(), "siem" | "cef" | "syslog" | "json")
        {
            return Err(invalid(
                "audit_log.export_format",
                format!(
                    "`{}` is not one of siem, cef, syslog, json",
                    a.export_format.escape_debug()
                ),
            ));
        }
        Ok(Policy {
            source: source.to_string(),
            forbidden: c.forbidden_dependencies.clone(),
            enterprise,
            licenses,
            preset,
        })
    }

    /// The security preset.
    pub fn preset(&self) -> Preset {
        self.preset
    }

    /// The (scope, role) pairs every version must be approved for: empty unless the approval
    /// workflow is enabled.
    pub fn required_approvals(&self) -> Vec<GrantedApproval> {
        let Some(w) = self
            .enterprise
            .approval_workflow
            .as_ref()
            .filter(|w| w.enabled)
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for a in &w.approvers {
            for s in &a.scopes {
                let g = GrantedApproval {
                    scope: s.clone(),
                    role: a.role.clone(),
                };
                if !out.contains(&g) {
                    out.push(g);
                }
            }
        }
        out
    }

    /// The least verification level: the stricter of `minimum_verification` and the preset's.
    pub fn minimum_verification(&self) -> Verification {
        let own = self
            .enterprise
            .compliance
            .as_ref()
            .and_then(|c| c.minimum_verification)
            .unwrap_or(Verification::Unverified);
        let preset = if self.preset == Preset::EnterpriseStrict {
            Verification::Official
        } else {
            Verification::Unverified
        };
        own.max(preset)
    }

    /// True when the audit log is switched on.
    pub fn audit_enabled(&self) -> bool {
        self.enterprise
            .audit_log
            .as_ref()
            .is_some_and(|a| a.enabled)
    }

    /// True when `license` (an SPDX expression or `PROPRIETARY`) is allowed. `None` (no rule)
    /// allows everything.
    pub fn license_allowed(&self, license: &str) -> bool {
        let Some(list) = &self.licenses else {
            return true;
        };
        license_allowed(list, license)
    }
}

fn allowed(entry: &str) -> Result<Allowed, String> {
    let e = entry.trim();
    if e.is_empty() || e.contains(char::is_whitespace) {
        return Err(format!(
            "`{}` is not one license id (write each allowed license as its own entry)",
            entry.escape_debug()
        ));
    }
    if !e.starts_with("LicenseRef-")
        && let Ok(l) = spdx::Licensee::parse(e)
    {
        return Ok(Allowed::Spdx(l));
    }
    let word = e.strip_prefix("LicenseRef-").unwrap_or(e);
    if word.is_empty()
        || !word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(format!(
            "`{}` is neither an SPDX license id nor a custom id (letters, digits, `-`, `.`)",
            entry.escape_debug()
        ));
    }
    Ok(Allowed::Custom(word.to_string()))
}

fn license_allowed(list: &[Allowed], license: &str) -> bool {
    let license = license.trim();
    let custom = |word: &str| {
        list.iter()
            .any(|a| matches!(a, Allowed::Custom(c) if c == word))
    };
    if license == "PROPRIETARY" {
        return custom("PROPRIETARY");
    }
    let mode = spdx::ParseMode {
        allow_unknown: true,
        ..spdx::ParseMode::STRICT
    };
    let Ok(expr) = spdx::Expression::parse_mode(license, mode) else {
        // Not an expression at all: only a custom entry naming the very text allows it.
        return custom(license);
    };
    expr.evaluate(|req| match &req.license {
        spdx::LicenseItem::Spdx { .. } => list.iter().any(|a| match a {
            Allowed::Spdx(l) => l.satisfies(req),
            Allowed::Custom(_) => false,
        }),
        spdx::LicenseItem::Other(r) => {
            r.doc_ref.is_none() && {
                let w = r.lic_ref.strip_prefix("LicenseRef-").unwrap_or(&r.lic_ref);
                custom(w)
            }
        }
    })
}

/// True when bundle id `id` matches `pattern` (`*`: any run of characters, `?`: one).
pub fn id_matches(pattern: &str, id: &str) -> bool {
    let p = pattern.as_bytes();
    let s = id.as_bytes();
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// The shortest dependency path from a root to every node reachable from the roots (nodes
/// that none reaches get a path of themselves alone).
fn paths(graph: &Graph) -> HashMap<&str, Vec<&str>> {
    let mut prev: HashMap<&str, Option<&str>> = HashMap::new();
    let mut queue = VecDeque::new();
    for r in &graph.roots {
        if graph.nodes.contains_key(r) && !prev.contains_key(r.as_str()) {
            prev.insert(r.as_str(), None);
            queue.push_back(r.as_str());
        }
    }
    while let Some(id) = queue.pop_front() {
        for d in &graph.nodes[id].dependencies {
            if let Some((k, _)) = graph.nodes.get_key_value(d)
                && !prev.contains_key(k.as_str())
            {
                prev.insert(k.as_str(), Some(id));
                queue.push_back(k.as_str());
            }
        }
    }
    let mut out = HashMap::new();
    for id in graph.nodes.keys() {
        let mut path = vec![id.as_str()];
        let mut cur = id.as_str();
        while let Some(Some(p)) = prev.get(cur) {
            path.push(p);
            cur = p;
        }
        path.reverse();
        out.insert(id.as_str(), path);
    }
    out
}

/// Evaluates `policies` over `graph` at `stage`: every violation of every policy, in graph
/// order (by id), each with the dependency path from a requested bundle.
pub fn evaluate(policies: &[&Policy], graph: &Graph, stage: Stage) -> Vec<Violation> {
    let paths = paths(graph);
    let mut out = Vec::new();
    for p in policies {
        for (id, node) in &graph.nodes {
            let start = out.len();
            check_node(p, node, stage, &mut out);
            // The path is spelt out only for bundles that broke a rule.
            if out.len() > start {
                let path: Vec<String> = paths[id.as_str()]
                    .iter()
                    .map(|i| graph.nodes[*i].label())
                    .collect();
                for v in &mut out[start..] {
                    v.path = path.clone();
                }
            }
        }
    }
    out
}

fn check_node(p: &Policy, n: &Node, stage: Stage, out: &mut Vec<Violation>) {
    let mut v = |rule: Rule, setting: String, message: String| {
        out.push(Violation {
            policy: p.source.clone(),
            rule,
            setting,
            bundle: n.label(),
            path: Vec::new(),
            message,
        })
    };
    if !p.license_allowed(&n.license) {
        let allowed = p
            .enterprise
            .compliance
            .as_ref()
            .and_then(|c| c.required_licenses.clone())
            .unwrap_or_default()
            .join(", ");
        v(
            Rule::License,
            "compliance.required_licenses".into(),
            format!(
                "license `{}` is not satisfiable with the allowed licenses ({allowed})",
                n.license.escape_debug()
            ),
        );
    }
    for pat in &p.forbidden {
        if id_matches(pat, &n.id) {
            v(
                Rule::ForbiddenDependency,
                format!("compliance.forbidden_dependencies: {pat}"),
                format!("{} matches the forbidden pattern `{pat}`", n.id),
            );
        }
    }
    let preset = p.preset;
    if matches!(preset, Preset::Standard | Preset::EnterpriseStrict) && !n.signed {
        v(
            Rule::Signature,
            format!("compliance.security_policy: {}", preset.name()),
            "not signed; the preset requires every bundle to be signed by its owner".into(),
        );
    }
    if preset == Preset::EnterpriseStrict {
        let setting = || "compliance.security_policy: enterprise-strict".to_string();
        for d in &n.permissions.network.domains {
            if d.wildcard || d.allow_http {
                v(
                    Rule::SecurityPolicy,
                    setting(),
                    format!(
                        "network permission `{d}` is {}; the preset allows only named hosts over HTTPS",
                        if d.wildcard {
                            "a wildcard"
                        } else {
                            "plain HTTP"
                        }
                    ),
                );
            }
        }
        if !n.permissions.commands.is_empty() {
            v(
                Rule::SecurityPolicy,
                setting(),
                format!(
                    "declares system commands ({}); the preset allows none",
                    n.permissions.commands.join(", ").escape_debug()
                ),
            );
        }
        let r = &n.resources;
        let (mem, cpu, disk, net) = STRICT_CAPS;
        let caps = [
            ("max_memory", r.max_memory.map(|b| b.0), mem, "bytes"),
            ("max_cpu_time", r.max_cpu_time.map(|m| m.0), cpu, "ms"),
            ("max_disk", r.max_disk.map(|b| b.0), disk, "bytes"),
            (
                "max_network_bandwidth",
                r.max_network_bandwidth.map(|b| b.0),
                net,
                "bytes",
            ),
        ];
        for (name, value, cap, unit) in caps {
            if let Some(x) = value
                && x > cap
            {
                v(
                    Rule::SecurityPolicy,
                    setting(),
                    format!("resources.{name} is {x} {unit}, above the preset's cap of {cap}"),
                );
            }
        }
    }
    if stage == Stage::Publish {
        return;
    }
    let min = p.minimum_verification();
    if n.verification < min {
        v(
            Rule::MinimumVerification,
            if preset == Preset::EnterpriseStrict && min == Verification::Official {
                "compliance.security_policy: enterprise-strict".into()
            } else {
                "compliance.minimum_verification".into()
            },
            format!(
                "is {}; the policy requires at least {}",
                n.verification.name(),
                min.name()
            ),
        );
    }
    for need in p.required_approvals() {
        if !n.approvals.contains(&need) {
            v(
                Rule::Approval,
                format!("approval_workflow: {} for {}", need.role, need.scope),
                format!(
                    "not approved for {}: an approver of role `{}` must approve it (`ratchet-index approve DIR {} {} --scope {} --role {} --key KEY`)",
                    need.scope, need.role, n.id, n.version, need.scope, need.role
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests;
