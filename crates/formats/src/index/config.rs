//! `config.json`: the one file a client reads first, from which it finds everything else.

use super::{FormatError, MAX_SMALL_FILE_LEN};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Version of the `config.json` format this crate writes and understands.
pub const CONFIG_FORMAT: u32 = 1;

/// The default download template: archives stored next to the index, by hash.
pub const DEFAULT_DL: &str = "archives/{sha256-prefix}/{sha256}.rbundle";

/// What kind of registry this is (the plan's registry types); a label the client's trust policy
/// keys on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RegistryKind {
    /// Open to everyone.
    Public,
    /// One organisation's registry.
    Private,
    /// Shared between partners.
    Partner,
    /// A directory on this machine or network share.
    #[default]
    Local,
}

impl RegistryKind {
    /// The kind as written in `config.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            RegistryKind::Public => "public",
            RegistryKind::Private => "private",
            RegistryKind::Partner => "partner",
            RegistryKind::Local => "local",
        }
    }
}

impl std::str::FromStr for RegistryKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "public" => Ok(RegistryKind::Public),
            "private" => Ok(RegistryKind::Private),
            "partner" => Ok(RegistryKind::Partner),
            "local" => Ok(RegistryKind::Local),
            _ => Err(format!(
                "unknown registry kind `{s}`: use public, private, partner or local"
            )),
        }
    }
}

/// Why a `config.json` cannot be used ([`RegistryConfig::check`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigProblem {
    /// A `format-version` this crate does not know.
    #[error(
        "format-version {found} is not supported (this client knows {CONFIG_FORMAT}); upgrade ratchet"
    )]
    UnsupportedFormat {
        /// The version the file declares.
        found: u32,
    },
    /// A `dl` template without the `{sha256}` marker.
    #[error("dl `{dl}` has no {{sha256}} marker: archive URLs must be content-addressed")]
    DlNotContentAddressed {
        /// The template.
        dl: String,
    },
    /// An absolute `dl` URL that is not http(s), or carries a user or password.
    #[error("dl `{dl}`: an absolute archive URL must be http(s) without a user or password")]
    BadAbsoluteDl {
        /// The template.
        dl: String,
    },
    /// A relative `dl` path that is not plain segments inside the registry.
    #[error(
        "dl `{dl}`: a relative archive path must be plain segments inside the registry (no `.` or `..` segments, no empty segment or leading `/`, no `%`, `\\`, `?`, `#` or `:`)"
    )]
    BadRelativeDl {
        /// The template.
        dl: String,
    },
    /// An empty `name`.
    #[error("name is empty")]
    EmptyName,
}

/// `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RegistryConfig {
    /// [`CONFIG_FORMAT`]; a client refuses a registry whose format it does not know.
    pub format_version: u32,
    /// Human-readable name of the registry.
    pub name: String,
    /// Public, private, partner or local.
    pub kind: RegistryKind,
    /// Download URL template with a `{sha256}` marker; relative templates resolve against the
    /// URL of `config.json`.
    pub dl: String,
    /// Optional API base URL (the optional server of later waves); absent for static registries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// When true, clients send their credentials with every index and download request.
    #[serde(default)]
    pub auth_required: bool,
    /// When true, every index file starts with its bundle's metadata line (index-format.md
    /// §6.3.1), so clients do not fetch `meta/` files.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub meta_in_index: bool,
    /// Reserved for registry keys (root, timestamp, verifier); empty until signing lands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<serde_json::Value>,
    /// Reserved for registry policies (allowed licenses, required signatures, ...).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub policies: serde_json::Map<String, serde_json::Value>,
}

/// Checks the `dl` template: an absolute `http(s)` URL, or a relative path that stays inside the
/// registry, spelled so that the URL a client joins and the file a publisher writes are the same
/// (plain segments: no `.`/`..`, no `%` escapes, no leading `/`, no `\\`, `?` or `#`).
fn check_dl(dl: &str) -> Result<(), ConfigProblem> {
    let sample = fill_dl(dl, &"a".repeat(64));
    if let Ok(u) = url::Url::parse(&sample) {
        return if matches!(u.scheme(), "http" | "https")
            && u.username().is_empty()
            && u.password().is_none()
        {
            Ok(())
        } else {
            Err(ConfigProblem::BadAbsoluteDl { dl: dl.to_string() })
        };
    }
    let bad_char = sample
        .chars()
        .any(|c| matches!(c, '%' | '\\' | '?' | '#' | ':'));
    let bad_segment = sample
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..");
    if bad_char || bad_segment {
        return Err(ConfigProblem::BadRelativeDl { dl: dl.to_string() });
    }
    Ok(())
}

impl RegistryConfig {
    /// A new configuration with the default layout.
    pub fn new(name: impl Into<String>, kind: RegistryKind) -> Self {
        RegistryConfig {
            format_version: CONFIG_FORMAT,
            name: name.into(),
            kind,
            dl: DEFAULT_DL.to_string(),
            api: None,
            auth_required: false,
            meta_in_index: false,
            keys: Vec::new(),
            policies: serde_json::Map::new(),
        }
    }

    /// Checks the fields a client relies on.
    pub fn check(&self) -> Result<(), ConfigProblem> {
        if self.format_version != CONFIG_FORMAT {
            return Err(ConfigProblem::UnsupportedFormat {
                found: self.format_version,
            });
        }
        if !self.dl.contains("{sha256}") {
            return Err(ConfigProblem::DlNotContentAddressed {
                dl: self.dl.clone(),
            });
        }
        check_dl(&self.dl)?;
        if self.name.trim().is_empty() {
            return Err(ConfigProblem::EmptyName);
        }
        Ok(())
    }

    /// Parses `config.json` text; `file` names it in errors.
    pub fn parse(text: &[u8], file: &str) -> Result<Self, FormatError> {
        let cfg: RegistryConfig = serde_json::from_slice(text).map_err(|e| FormatError::Parse {
            file: file.to_string(),
            line: Some(e.line()),
            message: crate::task::strip_json_position(&e.to_string()),
        })?;
        cfg.check().map_err(|problem| FormatError::BadConfig {
            file: file.to_string(),
            problem,
        })?;
        Ok(cfg)
    }

    /// Reads `DIR/config.json`.
    pub fn load(registry: &Path) -> Result<Self, FormatError> {
        let path = registry.join(super::CONFIG_FILE);
        let bytes = super::read_limited(&path, MAX_SMALL_FILE_LEN)?;
        Self::parse(&bytes, &path.display().to_string())
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("config serializes");
        s.push('\n');
        s
    }

    /// The download location of the archive with this hash: the `dl` template with its markers
    /// filled (still relative when the template is).
    pub fn download_url(&self, sha256: &str) -> String {
        fill_dl(&self.dl, sha256)
    }
}

/// The `dl` template with its markers filled for `sha256`.
fn fill_dl(dl: &str, sha256: &str) -> String {
    dl.replace("{sha256-prefix}", sha256.get(..2).unwrap_or(sha256))
        .replace("{sha256}", sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_unknown_fields() {
        let c = RegistryConfig::new("samples", RegistryKind::Local);
        let back = RegistryConfig::parse(c.to_json().as_bytes(), "config.json").unwrap();
        assert_eq!(back, c);
        let with_extra = r#"{"format-version":1,"name":"x","kind":"public","dl":"https://cdn/{sha256}","future":{"a":1}}"#;
        let c = RegistryConfig::parse(with_extra.as_bytes(), "config.json").unwrap();
        assert_eq!(c.kind, RegistryKind::Public);
        assert_eq!(c.download_url("ab12"), "https://cdn/ab12");
    }

    #[test]
    fn refuses_bad_configs_naming_the_file() {
        let no_marker =
            r#"{"format-version":1,"name":"x","kind":"local","dl":"archives/x.rbundle"}"#;
        let e = RegistryConfig::parse(no_marker.as_bytes(), "r/config.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("r/config.json") && e.contains("{sha256}"), "{e}");
        let future = r#"{"format-version":9,"name":"x","kind":"local","dl":"{sha256}"}"#;
        assert!(
            RegistryConfig::parse(future.as_bytes(), "c")
                .unwrap_err()
                .to_string()
                .contains("format-version 9")
        );
        let e = RegistryConfig::parse(b"{\n  \"name\": ", "c.json")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.json:2"), "{e}");
    }

    #[test]
    fn check_names_the_problem_by_variant() {
        let mut c = RegistryConfig::new("x", RegistryKind::Local);
        c.dl = "../outside/{sha256}".into();
        assert!(
            matches!(c.check(), Err(ConfigProblem::BadRelativeDl { dl }) if dl == "../outside/{sha256}")
        );
        c.dl = "ftp://cdn/{sha256}".into();
        assert!(matches!(
            c.check(),
            Err(ConfigProblem::BadAbsoluteDl { .. })
        ));
        c.dl = "archives/x.rbundle".into();
        assert!(matches!(
            c.check(),
            Err(ConfigProblem::DlNotContentAddressed { .. })
        ));
        c.dl = DEFAULT_DL.into();
        c.format_version = 9;
        assert_eq!(
            c.check(),
            Err(ConfigProblem::UnsupportedFormat { found: 9 })
        );
        c.format_version = CONFIG_FORMAT;
        c.name = " ".into();
        assert_eq!(c.check(), Err(ConfigProblem::EmptyName));
        match RegistryConfig::parse(c.to_json().as_bytes(), "r/config.json") {
            Err(FormatError::BadConfig { file, problem }) => {
                assert_eq!(file, "r/config.json");
                assert_eq!(problem, ConfigProblem::EmptyName);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn default_dl_fills_prefix() {
        let c = RegistryConfig::new("x", RegistryKind::Local);
        assert_eq!(c.download_url("abcdef"), "archives/ab/abcdef.rbundle");
    }
}
