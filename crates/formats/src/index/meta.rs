//! Per-bundle metadata that is not per version: deprecation now, owner keys later.
//!
//! It lives in its own file (`meta/ab/cd/<id>.json`) so that deprecating a bundle never rewrites
//! its version lines. Fields this crate does not know are kept when the file is rewritten, so a
//! newer tool's data (owners, reviews summary) survives an older tool's `deprecate`.

use super::{FormatError, MAX_SMALL_FILE_LEN};
use crate::manifest::BundleId;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Format version of metadata files.
pub const META_FORMAT: u32 = 1;

/// `meta/ab/cd/<id>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleMeta {
    /// [`META_FORMAT`].
    pub v: u32,
    /// The bundle id.
    pub id: BundleId,
    /// Set when the bundle is deprecated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<Deprecation>,
    /// Fields of later formats (e.g. `owners`), kept as they are.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Why a bundle should no longer be used, and what to use instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deprecation {
    /// Shown to users who install or depend on it.
    pub message: String,
    /// The bundle to use instead, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<BundleId>,
    /// When it was deprecated (RFC 3339, UTC).
    pub since: String,
}

impl BundleMeta {
    /// Empty metadata for an id.
    pub fn new(id: BundleId) -> Self {
        BundleMeta {
            v: META_FORMAT,
            id,
            deprecated: None,
            extra: serde_json::Map::new(),
        }
    }

    /// Parses a metadata file; `file` names it in errors. A file of a newer format is refused
    /// (readers treat the bundle as having no metadata and warn).
    pub fn parse(bytes: &[u8], file: &str) -> Result<Self, FormatError> {
        let err = |line, message| FormatError::Parse {
            file: file.to_string(),
            line,
            message,
        };
        let m: BundleMeta = serde_json::from_slice(bytes).map_err(|e| {
            err(
                Some(e.line()),
                crate::task::strip_json_position(&e.to_string()),
            )
        })?;
        if m.v != META_FORMAT {
            return Err(err(
                None,
                format!(
                    "metadata format {} is not supported (known: {META_FORMAT})",
                    m.v
                ),
            ));
        }
        Ok(m)
    }

    /// Reads a metadata file; `Ok(None)` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Self>, FormatError> {
        if !path.exists() {
            return Ok(None);
        }
        let bytes = super::read_limited(path, MAX_SMALL_FILE_LEN)?;
        Self::parse(&bytes, &path.display().to_string()).map(Some)
    }

    /// The metadata line of the bundle's index file (index-format.md §6.3.1): compact JSON
    /// after [`super::line::META_LINE_PREFIX`], with a trailing newline.
    pub fn to_line(&self) -> String {
        let prefix = std::str::from_utf8(super::line::META_LINE_PREFIX).unwrap_or_default();
        let body = serde_json::to_string(self).expect("meta serializes");
        format!("{prefix}{body}}}\n")
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("meta serializes");
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_unknown_fields() {
        let text = r#"{"v":1,"id":"com.a.b","owners":[{"key":"RWQ..."}],"deprecated":{"message":"old","since":"2026-01-01T00:00:00Z"}}"#;
        let m = BundleMeta::parse(text.as_bytes(), "m.json").unwrap();
        assert_eq!(m.deprecated.as_ref().unwrap().message, "old");
        let back = m.to_json();
        assert!(back.contains("owners") && back.contains("RWQ"), "{back}");
        assert!(
            BundleMeta::parse(b"{\"v\":1}", "m.json")
                .unwrap_err()
                .to_string()
                .starts_with("m.json:1")
        );
    }
}
