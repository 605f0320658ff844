//! What a bundle may reach (`permissions`) and how much it may use (`resources`).
//!
//! Every bundle declares these in `bundle.yaml`; the index repeats them so a client can show them
//! before downloading, and the sandbox enforces them (intersected with the user's policy). The
//! plan's [`Permission`] kinds are kept as the vocabulary: network domains, file-system read and
//! write paths, system commands and environment variables.

use super::units::{ByteSize, Millis};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The `permissions` section of a manifest. Everything absent is denied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// Hosts the bundle's tasks may fetch from.
    #[serde(default, skip_serializing_if = "NetworkPermission::is_empty")]
    pub network: NetworkPermission,
    /// Paths the tasks may read or write.
    #[serde(default, skip_serializing_if = "FilesystemPermission::is_empty")]
    pub filesystem: FilesystemPermission,
    /// Programs the tasks may start (by name, found on the host's `PATH`, never through a shell).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// Environment variables the tasks may read (passed only when set on the host).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<String>,
}

/// `permissions.network`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkPermission {
    /// Domain patterns (see [`DomainPattern`]).
    #[serde(default)]
    pub domains: Vec<DomainPattern>,
}

impl NetworkPermission {
    /// True when no domain is declared.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }
}

/// `permissions.filesystem`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesystemPermission {
    /// Directories visible read-only.
    #[serde(default)]
    pub read: Vec<String>,
    /// Directories visible read-write.
    #[serde(default)]
    pub write: Vec<String>,
}

impl FilesystemPermission {
    /// True when no path is declared.
    pub fn is_empty(&self) -> bool {
        self.read.is_empty() && self.write.is_empty()
    }
}

/// One permission, in the plan's vocabulary (`BundleSecurity.permissions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    /// Fetch from these domains.
    NetworkAccess {
        /// Domain patterns.
        domains: Vec<String>,
    },
    /// Read these paths.
    FileSystemRead {
        /// Path patterns.
        paths: Vec<String>,
    },
    /// Write these paths.
    FileSystemWrite {
        /// Path patterns.
        paths: Vec<String>,
    },
    /// Start these programs.
    SystemCommand {
        /// Command names.
        commands: Vec<String>,
    },
    /// Read these environment variables.
    EnvironmentVariables {
        /// Variable names.
        vars: Vec<String>,
    },
}

impl Permissions {
    /// The declaration as a list of the plan's permission kinds (empty kinds left out).
    pub fn to_list(&self) -> Vec<Permission> {
        let mut out = Vec::new();
        if !self.network.domains.is_empty() {
            out.push(Permission::NetworkAccess {
                domains: self.network.domains.iter().map(|d| d.to_string()).collect(),
            });
        }
        if !self.filesystem.read.is_empty() {
            out.push(Permission::FileSystemRead {
                paths: self.filesystem.read.clone(),
            });
        }
        if !self.filesystem.write.is_empty() {
            out.push(Permission::FileSystemWrite {
                paths: self.filesystem.write.clone(),
            });
        }
        if !self.commands.is_empty() {
            out.push(Permission::SystemCommand {
                commands: self.commands.clone(),
            });
        }
        if !self.environment.is_empty() {
            out.push(Permission::EnvironmentVariables {
                vars: self.environment.clone(),
            });
        }
        out
    }

    /// True when nothing is declared (a pure computation bundle).
    pub fn is_empty(&self) -> bool {
        self.to_list().is_empty()
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Permission::NetworkAccess { domains } => write!(f, "network: {}", domains.join(", ")),
            Permission::FileSystemRead { paths } => write!(f, "read files: {}", paths.join(", ")),
            Permission::FileSystemWrite { paths } => write!(f, "write files: {}", paths.join(", ")),
            Permission::SystemCommand { commands } => {
                write!(f, "run commands: {}", commands.join(", "))
            }
            Permission::EnvironmentVariables { vars } => {
                write!(f, "environment: {}", vars.join(", "))
            }
        }
    }
}

/// The `resources` section: upper limits for one task run. Absent limits take the runtime's
/// defaults (see `task-abi.md`); the user's policy may lower any of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// Maximum memory (linear memory of the module).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory: Option<ByteSize>,
    /// Maximum CPU time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cpu_time: Option<Millis>,
    /// Maximum bytes written to the scratch area.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_disk: Option<ByteSize>,
    /// Maximum bytes transferred by fetches in one run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_network_bandwidth: Option<ByteSize>,
}

/// A network permission entry: `api.example.com`, `*.example.com`, optionally with a port
/// (`localhost:8080`) and an `http://` prefix that also allows plain HTTP (default: HTTPS only).
/// `*.example.com` matches every sub-domain of `example.com` but not `example.com` itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainPattern {
    /// Plain HTTP allowed as well as HTTPS.
    pub allow_http: bool,
    /// Leading `*.`: sub-domains of `host` match.
    pub wildcard: bool,
    /// The host name or IPv4 literal, lower-case.
    pub host: String,
    /// A fixed port, when given.
    pub port: Option<u16>,
}

impl DomainPattern {
    /// Parses a domain pattern.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut rest = s.trim();
        let mut allow_http = false;
        if let Some(r) = rest.strip_prefix("http://") {
            allow_http = true;
            rest = r;
        } else if let Some(r) = rest.strip_prefix("https://") {
            rest = r;
        } else if rest.contains("://") {
            return Err(format!("`{s}`: only http:// and https:// are allowed"));
        }
        if rest.contains('/') {
            return Err(format!(
                "`{s}` is a URL; declare only the host (e.g. `api.example.com`)"
            ));
        }
        let (host_part, port) = match rest.rsplit_once(':') {
            Some((h, p)) => {
                let port = p
                    .parse::<u16>()
                    .map_err(|_| format!("`{s}`: `{p}` is not a port number"))?;
                (h, Some(port))
            }
            None => (rest, None),
        };
        let (wildcard, host) = match host_part.strip_prefix("*.") {
            Some(h) => (true, h),
            None => (false, host_part),
        };
        if host.is_empty() {
            return Err(format!("`{s}` names no host"));
        }
        if host.contains('*') {
            return Err(format!(
                "`{s}`: `*` is allowed only as the whole first label (`*.example.com`)"
            ));
        }
        if host.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(format!("`{s}`: write host names in lower case"));
        }
        for label in host.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(format!("`{s}`: `{label}` is not a valid host name label"));
            }
        }
        if wildcard && !host.contains('.') {
            return Err(format!(
                "`{s}`: a wildcard must sit above a registrable domain (`*.example.com`)"
            ));
        }
        Ok(DomainPattern {
            allow_http,
            wildcard,
            host: host.to_string(),
            port,
        })
    }

    /// True when a request to `scheme://host:port` is allowed by this entry.
    pub fn matches(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme_ok = scheme.eq_ignore_ascii_case("https")
            || (self.allow_http && scheme.eq_ignore_ascii_case("http"));
        if !scheme_ok {
            return false;
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let host_ok = if self.wildcard {
            host.len() > self.host.len() + 1
                && host.ends_with(&self.host)
                && host.as_bytes()[host.len() - self.host.len() - 1] == b'.'
        } else {
            host == self.host
        };
        host_ok && (self.port.is_none() || self.port == port)
    }
}

impl fmt::Display for DomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.allow_http {
            f.write_str("http://")?;
        }
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

impl Serialize for DomainPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DomainPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DomainPattern::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Checks a file-system permission path: a directory as the task sees it (`/data`, `output`),
/// without `..`, globs or NUL bytes.
pub fn check_fs_path(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err("path is empty".into());
    }
    if s.contains('\0') {
        return Err(format!("`{s}` contains a NUL byte"));
    }
    if s.split(['/', '\\']).any(|c| c == "..") {
        return Err(format!("`{s}` contains `..`"));
    }
    if s.contains(['*', '?', '[']) {
        return Err(format!(
            "`{s}`: glob patterns are not supported; name a directory"
        ));
    }
    Ok(())
}

/// Checks a command name: a program name without path separators or shell syntax.
pub fn check_command(s: &str) -> Result<(), String> {
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'))
    {
        return Err(format!(
            "`{s}` is not a command name: use the program's name (e.g. `git`), no paths, spaces or shell syntax"
        ));
    }
    Ok(())
}

/// Checks an environment variable name (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn check_env_var(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("`{s}` is not an environment variable name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_patterns() {
        let p = DomainPattern::parse("*.example.com").unwrap();
        assert!(p.matches("https", "api.example.com", Some(443)));
        assert!(p.matches("https", "a.b.example.com", None));
        assert!(!p.matches("https", "example.com", None));
        assert!(!p.matches("https", "evilexample.com", None));
        assert!(
            !p.matches("http", "api.example.com", None),
            "https only by default"
        );
        let p = DomainPattern::parse("http://127.0.0.1:8080").unwrap();
        assert!(p.matches("http", "127.0.0.1", Some(8080)));
        assert!(!p.matches("http", "127.0.0.1", Some(8081)));
        assert_eq!(p.to_string(), "http://127.0.0.1:8080");
        for bad in [
            "",
            "ftp://x.com",
            "https://x.com/path",
            "*.com",
            "a.*.com",
            "X.com",
            "x.com:99999",
            "bad_host.com",
        ] {
            assert!(DomainPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn other_permission_checks() {
        assert!(check_fs_path("/data").is_ok());
        assert!(check_fs_path("output").is_ok());
        assert!(check_fs_path("../etc").is_err());
        assert!(check_fs_path("data/*.json").is_err());
        assert!(check_command("git").is_ok());
        assert!(check_command("/bin/sh").is_err());
        assert!(check_command("rm -rf").is_err());
        assert!(check_env_var("API_TOKEN").is_ok());
        assert!(check_env_var("1X").is_err());
    }
}
