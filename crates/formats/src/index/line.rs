//! Index files: one per bundle id, one JSON line per published version, append-only.
//!
//! A line carries everything a resolver and an install prompt need (dependencies, requirements,
//! permissions, resources, hash and size), so resolution never downloads an archive. Version
//! lines are never rewritten except their `yanked` flag. Each line has a schema version `v`:
//! readers skip lines of a version they do not know and ignore unknown top-level fields. A
//! registry that says `meta-in-index` starts each index file with the bundle's metadata line
//! (index-format.md §6.3.1), rewritten with its metadata file, so that a client needs one file
//! per bundle.

use super::FormatError;
use super::meta::BundleMeta;
use crate::manifest::{
    BundleId, Dependency, Manifest, Permissions, PricingModel, Requirements, Resources,
};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The line schema version this crate writes and reads.
pub const LINE_SCHEMA: u32 = 1;

/// One published version of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexLine {
    /// Line schema version, [`LINE_SCHEMA`].
    pub v: u32,
    /// The bundle id (the same as the index file's name).
    pub id: BundleId,
    /// The version.
    pub version: semver::Version,
    /// Bundles this version needs, with their requirements.
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
    /// Lower-case hex SHA-256 of the archive's bytes; also its download address.
    pub sha256: String,
    /// Size of the archive in bytes.
    pub size: u64,
    /// When it was published, RFC 3339 in UTC with seconds (`2026-01-01T00:00:00Z`).
    pub published: String,
    /// Ratchet versions and platforms it runs on.
    #[serde(default)]
    pub requirements: Requirements,
    /// SPDX expression or `PROPRIETARY`.
    pub license: String,
    /// Pricing model (`free` when the manifest declares none).
    pub pricing: PricingModel,
    /// Search keywords.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Declared permissions, shown before download.
    #[serde(default)]
    pub permissions: Permissions,
    /// Declared resource limits.
    #[serde(default)]
    pub resources: Resources,
    /// Key id of the author key that signed the archive; reserved for the signing work (absent
    /// means unsigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// Yanked versions are not picked by new resolutions; locked ones still install.
    #[serde(default)]
    pub yanked: bool,
}

impl IndexLine {
    /// The line for an archive with this manifest, hash and size, published at `published`.
    pub fn from_manifest(m: &Manifest, sha256: &str, size: u64, published: &str) -> Self {
        IndexLine {
            v: LINE_SCHEMA,
            id: m.id.clone(),
            version: m.version.clone(),
            dependencies: m.dependencies.clone(),
            sha256: sha256.to_string(),
            size,
            published: published.to_string(),
            requirements: m.requirements.clone(),
            license: m.license.clone(),
            pricing: m.pricing_model(),
            keywords: m.keywords.clone(),
            permissions: m.permissions.clone(),
            resources: m.resources.clone(),
            signer: None,
            yanked: false,
        }
    }

    /// The fields where this line and the archive's manifest disagree (empty when they agree).
    /// Publish time, yank flag, signer, hash and size are not in the manifest and not compared.
    pub fn disagreements(&self, m: &Manifest) -> Vec<&'static str> {
        let expected = IndexLine::from_manifest(m, &self.sha256, self.size, &self.published);
        let mut out = Vec::new();
        if self.id != expected.id {
            out.push("id");
        }
        if self.version != expected.version || self.version.build != expected.version.build {
            out.push("version");
        }
        if self.dependencies != expected.dependencies {
            out.push("dependencies");
        }
        if self.requirements != expected.requirements {
            out.push("requirements");
        }
        if self.license != expected.license {
            out.push("license");
        }
        if self.pricing != expected.pricing {
            out.push("pricing");
        }
        if self.keywords != expected.keywords {
            out.push("keywords");
        }
        if self.permissions != expected.permissions {
            out.push("permissions");
        }
        if self.resources != expected.resources {
            out.push("resources");
        }
        out
    }

    /// The line as written: compact JSON and a newline.
    pub fn to_line(&self) -> String {
        let mut s = serde_json::to_string(self).expect("index line serializes");
        s.push('\n');
        s
    }

    /// Checks what serde cannot: hash spelling and publish time.
    fn check(&self) -> Result<(), String> {
        if !super::is_sha256_hex(&self.sha256) {
            return Err(format!(
                "sha256 `{}` is not 64 lower-case hex digits",
                self.sha256
            ));
        }
        if humantime::parse_rfc3339(&self.published).is_err() {
            return Err(format!(
                "published `{}` is not an RFC 3339 UTC time such as 2026-01-01T00:00:00Z",
                self.published
            ));
        }
        Ok(())
    }
}

/// A line that could not be used, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct LineProblem {
    /// Path of the index file.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// One line of an index file after parsing.
#[derive(Debug, Clone, PartialEq)]
pub enum ParsedLine {
    /// A line this reader understands.
    Version(Box<IndexLine>),
    /// A line of a newer schema version, skipped.
    Skipped {
        /// Its schema version.
        v: u64,
    },
    /// A line that does not parse.
    Bad(LineProblem),
}

/// A parsed index file: every line in order, with its 1-based number.
#[derive(Debug, Clone, Default)]
pub struct IndexFile {
    /// `(line number, parsed line)` in file order. A metadata line is line 1, listed as
    /// [`ParsedLine::Skipped`] (as readers that predate it see it) and parsed into `meta`.
    pub lines: Vec<(usize, ParsedLine)>,
    /// The metadata line (index-format.md §6.3.1), when the file starts with one: the bundle's
    /// metadata, or what is wrong with the line.
    pub meta: Option<Result<BundleMeta, LineProblem>>,
}

impl IndexFile {
    /// Parses index file bytes. `file` names the file in problems; when `expected` is given,
    /// lines for another id are reported.
    pub fn parse(bytes: &[u8], file: &str, expected: Option<&BundleId>) -> IndexFile {
        let mut out = IndexFile::default();
        let bad = |line: usize, message: String| {
            ParsedLine::Bad(LineProblem {
                file: file.to_string(),
                line,
                message,
            })
        };
        let mut rest = bytes;
        let mut n = 0;
        if let Some((meta, after)) = split_meta_line(bytes) {
            n = 1;
            rest = after;
            out.lines.push((1, ParsedLine::Skipped { v: 2 }));
            out.meta = Some(meta.ok_or_else(|| LineProblem {
                file: file.to_string(),
                line: 1,
                message: format!(
                    "the metadata line is longer than {} bytes, has no newline or does not end with `}}`",
                    super::MAX_SMALL_FILE_LEN
                ),
            }).and_then(|m| {
                BundleMeta::parse(m, file)
                    .map_err(|e| LineProblem {
                        file: file.to_string(),
                        line: 1,
                        message: format!("metadata line: {e}"),
                    })
                    .and_then(|meta| match expected {
                        Some(id) if &meta.id != id => Err(LineProblem {
                            file: file.to_string(),
                            line: 1,
                            message: format!(
                                "the metadata line is about `{}`, but this is the index file of `{id}`",
                                meta.id
                            ),
                        }),
                        _ => Ok(meta),
                    })
            }));
        }
        while !rest.is_empty() {
            n += 1;
            let (raw, terminated) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let r = &rest[..i];
                    rest = &rest[i + 1..];
                    (r, true)
                }
                None => {
                    let r = rest;
                    rest = &[];
                    (r, false)
                }
            };
            if !terminated {
                out.lines.push((
                    n,
                    bad(
                        n,
                        "the last line has no newline: the file is partially written or corrupt"
                            .into(),
                    ),
                ));
                continue;
            }
            out.lines.push((n, parse_line(raw, file, n, expected)));
        }
        out
    }

    /// Reads and parses an index file.
    pub fn load(path: &Path, expected: Option<&BundleId>) -> Result<IndexFile, FormatError> {
        let bytes = super::read_limited(path, super::MAX_INDEX_FILE_LEN)?;
        Ok(IndexFile::parse(
            &bytes,
            &path.display().to_string(),
            expected,
        ))
    }

    /// The versions this reader understands, in file order.
    pub fn versions(&self) -> impl Iterator<Item = &IndexLine> {
        self.lines.iter().filter_map(|(_, l)| match l {
            ParsedLine::Version(v) => Some(&**v),
            _ => None,
        })
    }

    /// Lines that do not parse.
    pub fn problems(&self) -> impl Iterator<Item = &LineProblem> {
        self.lines.iter().filter_map(|(_, l)| match l {
            ParsedLine::Bad(p) => Some(p),
            _ => None,
        })
    }

    /// The line for `version` (same precedence, build metadata ignored), if any.
    pub fn find(&self, version: &semver::Version) -> Option<&IndexLine> {
        self.versions()
            .find(|l| l.version.cmp_precedence(version).is_eq())
    }
}

/// How a metadata line starts (index-format.md §6.3.1), byte for byte.
pub const META_LINE_PREFIX: &[u8] = b"{\"v\":2,\"meta\":";

/// When `bytes` (an index file) start with a metadata line: the metadata object it holds
/// (`None` when the line is longer than a metadata file may be, or has no newline) and the
/// bytes after the line.
pub fn split_meta_line(bytes: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    let rest = bytes.strip_prefix(META_LINE_PREFIX)?;
    let cap = usize::try_from(super::MAX_SMALL_FILE_LEN).unwrap_or(usize::MAX);
    let Some(end) = rest.iter().take(cap + 2).position(|&b| b == b'\n') else {
        let after = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(&[][..], |i| &rest[i + 1..]);
        return Some((None, after));
    };
    let object = rest[..end].strip_suffix(b"}");
    Some((object, &rest[end + 1..]))
}

/// Index file bytes with `meta` as their metadata line (replacing the one they had; none when
/// `meta` is `None`), the version lines byte for byte as they were.
pub fn with_meta_line(bytes: &[u8], meta: Option<&BundleMeta>) -> Vec<u8> {
    let lines = match split_meta_line(bytes) {
        Some((_, after)) => after,
        None => bytes,
    };
    let mut out = Vec::with_capacity(lines.len() + 512);
    if let Some(m) = meta {
        out.extend_from_slice(m.to_line().as_bytes());
    }
    out.extend_from_slice(lines);
    out
}

fn parse_line(raw: &[u8], file: &str, n: usize, expected: Option<&BundleId>) -> ParsedLine {
    let bad = |message: String| {
        ParsedLine::Bad(LineProblem {
            file: file.to_string(),
            line: n,
            message,
        })
    };
    if raw.len() > super::MAX_LINE_LEN {
        return bad(format!(
            "line is {} bytes long; the limit is {}",
            raw.len(),
            super::MAX_LINE_LEN
        ));
    }
    let value: serde_json::Value = match serde_json::from_slice(raw) {
        Ok(v) => v,
        Err(e) => {
            return bad(format!(
                "not JSON: {}",
                crate::task::strip_json_position(&e.to_string())
            ));
        }
    };
    let Some(obj) = value.as_object() else {
        return bad("a line must be a JSON object".into());
    };
    let v = match obj.get("v").and_then(serde_json::Value::as_u64) {
        Some(v) => v,
        None => return bad("field `v` (schema version) is missing or not a number".into()),
    };
    if v == 0 {
        return bad("schema version 0 does not exist".into());
    }
    if v > u64::from(LINE_SCHEMA) {
        return ParsedLine::Skipped { v };
    }
    let line: IndexLine = match serde_json::from_value(value) {
        Ok(l) => l,
        Err(e) => return bad(e.to_string()),
    };
    if let Err(m) = line.check() {
        return bad(m);
    }
    if let Some(id) = expected
        && &line.id != id
    {
        return bad(format!(
            "line is for `{}`, but this is the index file of `{id}`",
            line.id
        ));
    }
    ParsedLine::Version(Box::new(line))
}

/// Rewrites index file bytes with the `yanked` flag of `version` set to `yanked`, leaving every
/// other line byte for byte as it was. Returns `None` when no line has that version.
pub fn set_yanked(bytes: &[u8], version: &semver::Version, yanked: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() + 8);
    let mut found = false;
    for raw in bytes.split_inclusive(|&b| b == b'\n') {
        let body = raw.strip_suffix(b"\n").unwrap_or(raw);
        let hit = if found {
            None
        } else {
            serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| {
                    let s = v.get("version")?.as_str()?;
                    let ver = semver::Version::parse(s).ok()?;
                    let known = v.get("v")?.as_u64()? <= u64::from(LINE_SCHEMA);
                    (known && ver.cmp_precedence(version).is_eq()).then_some(v)
                })
        };
        match hit {
            Some(mut v) => {
                found = true;
                v["yanked"] = serde_json::Value::Bool(yanked);
                out.extend_from_slice(serde_json::to_string(&v).expect("json").as_bytes());
                out.push(b'\n');
            }
            None => out.extend_from_slice(raw),
        }
    }
    found.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(version: &str) -> IndexLine {
        let yaml = format!(
            "bundle:\n  id: com.oss.json-utils\n  name: JSON utils\n  version: {version}\n  description: d\n  license: MIT\n  \
             keywords: [json]\n  dependencies:\n    - bundle_id: com.ratchet.core-utils\n      version: \"^1.0\"\n  \
             permissions:\n    network:\n      domains: [api.example.com]\n  resources:\n    max_memory: 64MB\n"
        );
        let m = crate::manifest::parse_manifest(&yaml, "bundle.yaml").unwrap();
        IndexLine::from_manifest(&m, &"a".repeat(64), 1234, "2026-01-01T00:00:00Z")
    }

    #[test]
    fn round_trip() {
        let l = sample("1.0.0");
        let text = l.to_line();
        assert!(
            text.starts_with(r#"{"v":1,"id":"com.oss.json-utils","version":"1.0.0""#),
            "{text}"
        );
        assert!(!text.contains("signer"));
        let f = IndexFile::parse(text.as_bytes(), "f", Some(&l.id));
        assert_eq!(f.versions().collect::<Vec<_>>(), vec![&l]);
    }

    #[test]
    fn metadata_line_first_then_versions() {
        let l = sample("1.0.0");
        let mut meta = BundleMeta::new(l.id.clone());
        meta.extra
            .insert("owners".into(), serde_json::json!({"keys": ["RWQ"]}));
        let bytes = with_meta_line(l.to_line().as_bytes(), Some(&meta));
        assert!(bytes.starts_with(META_LINE_PREFIX));
        let f = IndexFile::parse(&bytes, "f", Some(&l.id));
        assert_eq!(f.meta, Some(Ok(meta.clone())));
        assert_eq!(f.versions().collect::<Vec<_>>(), vec![&l]);
        assert_eq!(f.problems().count(), 0);
        // Version lines keep their numbers after it; a reader that predates the line skips it.
        assert_eq!(f.lines[0], (1, ParsedLine::Skipped { v: 2 }));
        assert_eq!(f.lines[1].0, 2);
        // Replacing it leaves the version lines byte for byte; removing it restores the file.
        let mut newer = meta.clone();
        newer.deprecated = Some(crate::index::Deprecation {
            message: "old".into(),
            replacement: None,
            since: "2026-01-02T00:00:00Z".into(),
        });
        let again = with_meta_line(&bytes, Some(&newer));
        assert_eq!(IndexFile::parse(&again, "f", None).meta, Some(Ok(newer)));
        assert_eq!(with_meta_line(&again, None), l.to_line().into_bytes());
        // A yank keeps the metadata line as it is.
        let yanked = set_yanked(&bytes, &l.version, true).unwrap();
        assert!(yanked.starts_with(meta.to_line().as_bytes()));
        // Without one, nothing changes.
        assert_eq!(
            IndexFile::parse(l.to_line().as_bytes(), "f", None).meta,
            None
        );
    }

    #[test]
    fn bad_metadata_lines_are_problems() {
        let l = sample("1.0.0");
        let other = BundleMeta::new(BundleId::parse("com.other.thing").unwrap());
        let bytes = with_meta_line(l.to_line().as_bytes(), Some(&other));
        let f = IndexFile::parse(&bytes, "idx", Some(&l.id));
        let e = f.meta.clone().unwrap().unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("com.other.thing"), "{e}");
        assert_eq!(f.versions().count(), 1, "the version lines still count");
        // Not JSON inside, and no end.
        let mut junk = META_LINE_PREFIX.to_vec();
        junk.extend_from_slice(b"nope}\n");
        assert!(IndexFile::parse(&junk, "idx", None).meta.unwrap().is_err());
        let mut endless = META_LINE_PREFIX.to_vec();
        endless.extend(std::iter::repeat_n(b' ', 300 * 1024));
        endless.extend_from_slice(b"}\n");
        endless.extend_from_slice(l.to_line().as_bytes());
        let f = IndexFile::parse(&endless, "idx", None);
        assert!(
            f.meta
                .clone()
                .unwrap()
                .unwrap_err()
                .message
                .contains("longer than")
        );
        assert_eq!(f.versions().count(), 1);
    }

    #[test]
    fn unknown_fields_ignored_unknown_versions_skipped() {
        let mut v: serde_json::Value = serde_json::from_str(&sample("1.0.0").to_line()).unwrap();
        v["future_field"] = serde_json::json!({"x": 1});
        let mut text = serde_json::to_string(&v).unwrap();
        text.push('\n');
        text.push_str("{\"v\":2,\"id\":\"com.oss.json-utils\",\"whatever\":true}\n");
        text.push_str(&sample("1.1.0").to_line());
        let f = IndexFile::parse(text.as_bytes(), "f", None);
        assert_eq!(f.versions().count(), 2);
        assert!(matches!(f.lines[1].1, ParsedLine::Skipped { v: 2 }));
        assert_eq!(f.problems().count(), 0);
    }

    #[test]
    fn bad_lines_are_reported_with_file_and_number() {
        let good = sample("1.0.0").to_line();
        let other = sample("1.1.0")
            .to_line()
            .replace("com.oss.json-utils", "com.oss.other");
        let bad_hash = sample("1.2.0").to_line().replace(&"a".repeat(64), "xyz");
        let text = format!(
            "{good}not json\n[1]\n{{\"id\":1}}\n{other}{bad_hash}{{\"v\":1,\"id\":\"com.oss.json-utils\"}}\n{good}"
        );
        let text = &text[..text.len() - 10]; // torn last line
        let id = BundleId::parse("com.oss.json-utils").unwrap();
        let f = IndexFile::parse(text.as_bytes(), "index/ab/cd/com.oss.json-utils", Some(&id));
        let problems: Vec<String> = f.problems().map(|p| p.to_string()).collect();
        assert_eq!(problems.len(), 7, "{problems:#?}");
        for (p, n) in problems.iter().zip(2..) {
            assert!(
                p.starts_with(&format!("index/ab/cd/com.oss.json-utils:{n}: ")),
                "{p}"
            );
        }
        assert!(problems[0].contains("not JSON"));
        assert!(problems[2].contains("`v`"));
        assert!(problems[3].contains("com.oss.other"));
        assert!(problems[4].contains("sha256"));
        assert!(problems[6].contains("partially written"));
    }

    #[test]
    fn yank_touches_only_its_line() {
        let skipped = "{\"v\":7,\"version\":\"1.1.0\",\"x\":1}\n";
        let text = format!(
            "{}{skipped}{}",
            sample("1.0.0").to_line(),
            sample("1.1.0").to_line()
        );
        let out = set_yanked(
            text.as_bytes(),
            &semver::Version::parse("1.1.0").unwrap(),
            true,
        )
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        let orig: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], orig[0]);
        assert_eq!(
            lines[1], orig[1],
            "lines of unknown schema versions are left alone"
        );
        assert_eq!(
            lines[2],
            orig[2].replace("\"yanked\":false", "\"yanked\":true")
        );
        assert!(
            set_yanked(
                text.as_bytes(),
                &semver::Version::parse("9.0.0").unwrap(),
                true
            )
            .is_none()
        );
    }
}
