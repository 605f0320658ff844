//! The user's sandbox policy and the effective permissions of a run.
//!
//! A bundle *declares* what it needs (`permissions`, `resources` in `bundle.yaml`); the user's
//! policy (`sandbox-policy.yaml` in the configuration directory) says what they allow. A run gets
//! the intersection: a capability is usable only when both allow it, and every limit is the
//! lowest of the bundle's, the task's own and the policy's. The plan's sandbox policy levels are
//! the presets `strict`, `standard` and `trusted` (format in `task-abi.md`).

use super::limits::{
    DEFAULT_MAX_CPU_MS, DEFAULT_MAX_DISK, DEFAULT_MAX_MEMORY, DEFAULT_MAX_NETWORK,
    DEFAULT_MAX_OUTPUT, Limits,
};
use ratchet_formats::manifest::permissions::{DomainPattern, Permissions, Resources};
use ratchet_formats::manifest::units::{ByteSize, Millis};
use ratchet_formats::task::TaskMetadata;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// File name of the policy in the configuration directory.
pub const POLICY_FILE: &str = "sandbox-policy.yaml";

/// The plan's sandbox policy levels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// No network, files, commands or environment; small limits. For code you do not trust.
    Strict,
    /// Everything the bundle declares, within the default ceilings (the default).
    #[default]
    Standard,
    /// Everything the bundle declares, with high ceilings.
    Trusted,
}

impl Preset {
    /// The ceilings this preset puts on every run.
    pub fn ceilings(self) -> Limits {
        let (mem, cpu, disk, net, out) = match self {
            Preset::Strict => (128 << 20, 10_000, 16 << 20, 0, 1 << 20),
            Preset::Standard => (1 << 30, 300_000, 1 << 30, 256 << 20, 64 << 20),
            Preset::Trusted => (4 << 30, 3_600_000, 16 << 30, 16 << 30, 1 << 30),
        };
        Limits {
            max_memory: ByteSize(mem),
            max_cpu_time: Millis(cpu),
            wall_time: Millis(2 * cpu),
            max_disk: ByteSize(disk),
            max_network_bandwidth: ByteSize(net),
            max_output: ByteSize(out),
        }
    }
}

/// Limits the user sets in the policy (each optional; absent ones come from the preset).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyLimits {
    /// Memory ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory: Option<ByteSize>,
    /// CPU time ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cpu_time: Option<Millis>,
    /// Disk write ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_disk: Option<ByteSize>,
    /// Network transfer ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_network_bandwidth: Option<ByteSize>,
    /// stdout/stderr ceiling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output: Option<ByteSize>,
}

/// `sandbox-policy.yaml`. For each capability an absent list means "whatever the preset
/// allows", and a present list allows only what it names (an empty list denies all).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The starting point.
    #[serde(default)]
    pub preset: Preset,
    /// Domain patterns fetches may reach (same syntax as the manifest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Vec<DomainPattern>>,
    /// Guest paths that may be made visible read-only (a declared path is kept when it is one of
    /// these or below one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystem_read: Option<Vec<String>>,
    /// Guest paths that may be made visible read-write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystem_write: Option<Vec<String>>,
    /// Commands that may be started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<String>>,
    /// Environment variables that may be passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Vec<String>>,
    /// Host directories bound to guest paths (`/data: /home/me/data`); a declared path without
    /// a binding is an empty directory in the run's scratch area.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mounts: BTreeMap<String, PathBuf>,
    /// Ceilings.
    #[serde(default)]
    pub limits: PolicyLimits,
}

/// Errors reading the policy file.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Unreadable file.
    #[error("cannot read sandbox policy {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Invalid content.
    #[error("{path}: invalid sandbox policy: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (with line and column when known).
        message: String,
    },
}

impl Policy {
    /// Reads `DIR/sandbox-policy.yaml`; the default policy (`standard`) when it does not exist.
    pub fn load(config_dir: &Path) -> Result<Policy, PolicyError> {
        let path = config_dir.join(POLICY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Policy::parse(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Policy::default()),
            Err(source) => Err(PolicyError::Io { path, source }),
        }
    }

    /// Parses policy text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Policy, PolicyError> {
        let p: Policy = serde_norway::from_str(text).map_err(|e| PolicyError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        for k in p.mounts.keys() {
            ratchet_formats::manifest::permissions::check_fs_path(k).map_err(|m| {
                PolicyError::Invalid {
                    path: path.to_path_buf(),
                    message: format!("mounts: {m}"),
                }
            })?;
        }
        Ok(p)
    }

    /// The ceilings: the preset's, lowered by the policy's own limits.
    pub fn ceilings(&self) -> Limits {
        let c = self.preset.ceilings();
        let l = &self.limits;
        let cpu = l
            .max_cpu_time
            .map_or(c.max_cpu_time, |v| v.min(c.max_cpu_time));
        Limits {
            max_memory: l.max_memory.map_or(c.max_memory, |v| v.min(c.max_memory)),
            max_cpu_time: cpu,
            wall_time: Millis(cpu.0.saturating_mul(2)),
            max_disk: l.max_disk.map_or(c.max_disk, |v| v.min(c.max_disk)),
            max_network_bandwidth: l
                .max_network_bandwidth
                .map_or(c.max_network_bandwidth, |v| v.min(c.max_network_bandwidth)),
            max_output: l.max_output.map_or(c.max_output, |v| v.min(c.max_output)),
        }
    }

    /// The effective permissions and limits for a task: `declared ∩ policy`, limits lowered by
    /// the task's own `timeout` / `memory_limit` when given.
    pub fn effective(
        &self,
        declared: &Permissions,
        resources: &Resources,
        task: Option<&TaskMetadata>,
    ) -> Effective {
        let strict = self.preset == Preset::Strict;
        let keep_list =
            |decl: &[String], allowed: &Option<Vec<String>>| -> (Vec<String>, Vec<String>) {
                decl.iter().cloned().partition(|d| {
                    !strict && allowed.as_ref().is_none_or(|a| a.iter().any(|x| x == d))
                })
            };
        let keep_paths =
            |decl: &[String], allowed: &Option<Vec<String>>| -> (Vec<String>, Vec<String>) {
                decl.iter().cloned().partition(|d| {
                    !strict
                        && allowed.as_ref().is_none_or(|a| {
                            a.iter()
                                .any(|x| path_within(&guest_path(d), &guest_path(x)))
                        })
                })
            };
        let (commands, denied_commands) = keep_list(&declared.commands, &self.commands);
        let (environment, denied_env) = keep_list(&declared.environment, &self.environment);
        let (fs_read, denied_read) = keep_paths(&declared.filesystem.read, &self.filesystem_read);
        let (fs_write, denied_write) =
            keep_paths(&declared.filesystem.write, &self.filesystem_write);
        let network = NetworkRule {
            declared: if strict {
                Vec::new()
            } else {
                declared.network.domains.clone()
            },
            policy: self.network.clone(),
            mocks_first: false,
        };

        let mut limits = requested_limits(resources, task).min(self.ceilings());
        limits.wall_time = Millis(limits.max_cpu_time.0.saturating_mul(2));
        if let Some(t) = task.and_then(TaskMetadata::timeout_ms) {
            limits.wall_time = limits.wall_time.min(Millis(t));
            limits.max_cpu_time = limits.max_cpu_time.min(Millis(t));
        }
        let mounts = self
            .mounts
            .iter()
            .map(|(g, h)| (guest_path(g), h.clone()))
            .filter(|(g, _)| fs_read.iter().chain(&fs_write).any(|d| guest_path(d) == *g))
            .collect();
        Effective {
            network,
            fs_read: fs_read.iter().map(|p| guest_path(p)).collect(),
            fs_write: fs_write.iter().map(|p| guest_path(p)).collect(),
            commands,
            environment,
            limits,
            mounts,
            denied: Denied {
                commands: denied_commands,
                environment: denied_env,
                filesystem: denied_read.into_iter().chain(denied_write).collect(),
            },
        }
    }
}

/// The four limits a bundle asks for, in one line (`memory 64 MiB, cpu 5s, ...`).
pub fn limits_line(r: &Limits) -> String {
    format!(
        "memory {}, cpu {}, disk {}, network {}",
        r.max_memory, r.max_cpu_time, r.max_disk, r.max_network_bandwidth
    )
}

/// What installing a bundle shows: its declared permissions and limits, then the effective
/// result under the user's policy.
pub fn review(declared: &Permissions, resources: &Resources, policy: &Policy) -> String {
    let mut s = String::from("declared permissions:\n");
    let list = declared.to_list();
    if list.is_empty() {
        s.push_str("  none (pure computation)\n");
    }
    for p in list {
        let _ = writeln!(s, "  {p}");
    }
    let _ = writeln!(
        s,
        "  limits: {}",
        limits_line(&requested_limits(resources, None))
    );
    let _ = writeln!(
        s,
        "effective under your sandbox policy (preset {:?}):",
        policy.preset
    );
    s.push_str(&policy.effective(declared, resources, None).describe());
    s
}

/// What the bundle (and the task's metadata) ask for, with defaults for what they leave out.
pub fn requested_limits(resources: &Resources, task: Option<&TaskMetadata>) -> Limits {
    let mut memory = resources.max_memory.unwrap_or(ByteSize(DEFAULT_MAX_MEMORY));
    if let Some(m) = task
        .and_then(|t| t.memory_limit.as_deref())
        .and_then(|m| ByteSize::parse(m).ok())
    {
        memory = memory.min(m);
    }
    let cpu = resources.max_cpu_time.unwrap_or(Millis(DEFAULT_MAX_CPU_MS));
    Limits {
        max_memory: memory,
        max_cpu_time: cpu,
        wall_time: Millis(cpu.0.saturating_mul(2)),
        max_disk: resources.max_disk.unwrap_or(ByteSize(DEFAULT_MAX_DISK)),
        max_network_bandwidth: resources
            .max_network_bandwidth
            .unwrap_or(ByteSize(DEFAULT_MAX_NETWORK)),
        max_output: ByteSize(DEFAULT_MAX_OUTPUT),
    }
}

/// A declared path as the guest sees it: absolute, `/`-separated, no trailing or doubled `/`
/// (`output` → `/output`).
pub fn guest_path(p: &str) -> String {
    let parts: Vec<&str> = p
        .split(['/', '\\'])
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    format!("/{}", parts.join("/"))
}

/// True when guest path `p` is `base` or below it.
fn path_within(p: &str, base: &str) -> bool {
    base == "/" || p == base || p.strip_prefix(base).is_some_and(|r| r.starts_with('/'))
}

/// Network access: a request is allowed when a declared pattern matches it and, if the policy
/// lists domains, a policy pattern matches it too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRule {
    /// The bundle's patterns.
    pub declared: Vec<DomainPattern>,
    /// The user's patterns, when the policy restricts the network.
    pub policy: Option<Vec<DomainPattern>>,
    /// A test's `mock.http` answers before the domain check: set only for a bare Ratchet task
    /// directory (no `bundle.yaml`, so nothing declared to check a mock against), where it is
    /// safe because a mocked request never leaves the machine (`task-abi.md` §4.1).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mocks_first: bool,
}

impl NetworkRule {
    /// True when `scheme://host:port` may be fetched.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        self.declared.iter().any(|d| d.matches(scheme, host, port))
            && self
                .policy
                .as_ref()
                .is_none_or(|p| p.iter().any(|d| d.matches(scheme, host, port)))
    }

    /// True when no request can be allowed.
    pub fn is_closed(&self) -> bool {
        self.declared.is_empty() || self.policy.as_ref().is_some_and(|p| p.is_empty())
    }

    /// The bundle's patterns as a comma-separated list, `none` when it declares none.
    pub fn declared_list(&self) -> String {
        if self.declared.is_empty() {
            return "none".to_string();
        }
        join_patterns(&self.declared)
    }
}

/// Domain patterns as a comma-separated list.
fn join_patterns(patterns: &[DomainPattern]) -> String {
    patterns
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Declared capabilities the policy removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denied {
    /// Commands.
    pub commands: Vec<String>,
    /// Environment variables.
    pub environment: Vec<String>,
    /// File-system paths.
    pub filesystem: Vec<String>,
}

/// The effective permissions and limits of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effective {
    /// Fetch rule.
    pub network: NetworkRule,
    /// Guest paths visible read-only.
    pub fs_read: Vec<String>,
    /// Guest paths visible read-write.
    pub fs_write: Vec<String>,
    /// Commands the task may start.
    pub commands: Vec<String>,
    /// Environment variables passed (when set on the host).
    pub environment: Vec<String>,
    /// Limits.
    pub limits: Limits,
    /// Host directories bound to guest paths (others are empty scratch directories).
    pub mounts: BTreeMap<String, PathBuf>,
    /// What the policy removed from the declaration.
    pub denied: Denied,
}

impl Effective {
    /// Nothing allowed, default limits: a pure computation.
    pub fn pure(limits: Limits) -> Effective {
        Effective {
            limits,
            ..Effective::default()
        }
    }

    /// A human-readable summary (for install and `run --explain`).
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        let net = if self.network.declared.is_empty() {
            "none".to_string()
        } else if self.network.is_closed() {
            format!(
                "none (denied by your policy; the bundle asks for {})",
                self.network.declared_list()
            )
        } else {
            let d = self.network.declared_list();
            match &self.network.policy {
                Some(p) => format!(
                    "{d} (only where the policy also allows: {})",
                    join_patterns(p)
                ),
                None => d,
            }
        };
        let _ = writeln!(s, "  network:      {net}");
        let _ = writeln!(s, "  read files:   {}", list(&self.fs_read));
        let _ = writeln!(s, "  write files:  {}", list(&self.fs_write));
        let _ = writeln!(s, "  commands:     {}", list(&self.commands));
        let _ = writeln!(s, "  environment:  {}", list(&self.environment));
        let l = &self.limits;
        let _ = writeln!(
            s,
            "  limits:       memory {}, cpu {}, wall {}, disk {}, network {}, output {}",
            l.max_memory,
            l.max_cpu_time,
            l.wall_time,
            l.max_disk,
            l.max_network_bandwidth,
            l.max_output
        );
        let d = &self.denied;
        for (what, v) in [
            ("commands", &d.commands),
            ("environment", &d.environment),
            ("files", &d.filesystem),
        ] {
            if !v.is_empty() {
                let _ = writeln!(s, "  denied by policy ({what}): {}", v.join(", "));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared() -> (Permissions, Resources) {
        let p: Permissions = serde_json::from_value(serde_json::json!({
            "network": {"domains": ["api.example.com", "*.github.com"]},
            "filesystem": {"read": ["/data/in"], "write": ["output"]},
            "commands": ["git", "curl"],
            "environment": ["HOME", "API_TOKEN"]
        }))
        .unwrap();
        let r: Resources = serde_json::from_value(
            serde_json::json!({"max_memory": "512MB", "max_cpu_time": "20s"}),
        )
        .unwrap();
        (p, r)
    }

    #[test]
    fn standard_keeps_declaration_and_caps_limits() {
        let (p, r) = declared();
        let e = Policy::default().effective(&p, &r, None);
        assert!(e.network.allows("https", "api.example.com", None));
        assert!(e.network.allows("https", "raw.github.com", Some(443)));
        assert!(!e.network.allows("https", "evil.com", None));
        assert_eq!(e.fs_write, vec!["/output".to_string()]);
        assert_eq!(e.commands, vec!["git", "curl"]);
        assert_eq!(e.limits.max_memory, ByteSize(512 << 20));
        assert_eq!(e.limits.max_cpu_time, Millis(20_000));
        assert_eq!(e.limits.max_disk, ByteSize(DEFAULT_MAX_DISK));
    }

    #[test]
    fn policy_intersects() {
        let (p, r) = declared();
        let policy = Policy::parse(
            "network: [api.example.com]\ncommands: [git]\nenvironment: []\nfilesystem_write: []\nlimits:\n  max_memory: 64MB\n",
            Path::new("p.yaml"),
        )
        .unwrap();
        let meta = TaskMetadata {
            timeout: Some(5000),
            memory_limit: Some("32MB".into()),
            ..Default::default()
        };
        let e = policy.effective(&p, &r, Some(&meta));
        assert!(e.network.allows("https", "api.example.com", None));
        assert!(
            !e.network.allows("https", "raw.github.com", None),
            "policy does not list it"
        );
        assert_eq!(e.commands, vec!["git"]);
        assert_eq!(e.denied.commands, vec!["curl"]);
        assert!(e.environment.is_empty());
        assert!(e.fs_write.is_empty());
        assert_eq!(e.fs_read, vec!["/data/in".to_string()]);
        assert_eq!(
            e.limits.max_memory,
            ByteSize(32 << 20),
            "task's own memory_limit is lowest"
        );
        assert_eq!(e.limits.max_cpu_time, Millis(5000));
        assert!(e.describe().contains("denied by policy (commands): curl"));
    }

    #[test]
    fn review_shows_declaration_and_effect() {
        let (p, r) = declared();
        let policy = Policy::parse("commands: []\n", Path::new("p.yaml")).unwrap();
        let text = review(&p, &r, &policy);
        assert!(text.contains("run commands: git, curl"), "{text}");
        assert!(
            text.contains("denied by policy (commands): git, curl"),
            "{text}"
        );
        assert!(text.contains("memory 512 MiB"), "{text}");
    }

    #[test]
    fn strict_denies_everything() {
        let (p, r) = declared();
        let policy = Policy {
            preset: Preset::Strict,
            ..Default::default()
        };
        let e = policy.effective(&p, &r, None);
        assert!(e.network.is_closed());
        assert!(e.commands.is_empty() && e.environment.is_empty() && e.fs_read.is_empty());
        assert_eq!(e.limits.max_memory, ByteSize(128 << 20));
        assert_eq!(e.limits.max_network_bandwidth, ByteSize(0));
    }

    #[test]
    fn bad_policy_is_an_error() {
        assert!(Policy::parse("preset: lax\n", Path::new("p.yaml")).is_err());
        assert!(Policy::parse("mounts: {\"../x\": /tmp}\n", Path::new("p.yaml")).is_err());
        assert_eq!(guest_path("a//b/"), "/a/b");
        assert!(path_within("/data/in", "/data"));
        assert!(!path_within("/database", "/data"));
    }
}
