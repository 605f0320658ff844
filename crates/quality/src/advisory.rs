//! Security advisories in the OSV format (<https://ossf.github.io/osv-schema/>) for Ratchet
//! bundles: the registry's `advisories.jsonl` (`index-format.md` §16.4), read with bounds, and
//! matched against a bundle and its resolved dependencies.
//!
//! The ecosystem is `Ratchet`, the package name is the bundle id, and versions are SemVer, so
//! `SEMVER` and `ECOSYSTEM` ranges are evaluated alike. Only the fields a match needs are read;
//! the rest of each record is kept as written so that the registry file round-trips.

use semver::Version;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// The OSV ecosystem name of Ratchet bundles.
pub const ECOSYSTEM: &str = "Ratchet";
/// The registry's advisory file.
pub const ADVISORIES_FILE: &str = "advisories.jsonl";
/// Largest advisory file read (bytes).
pub const MAX_FILE_BYTES: u64 = 32 << 20;
/// Longest record (bytes).
pub const MAX_RECORD_BYTES: usize = 256 << 10;
/// Most records in one file.
pub const MAX_RECORDS: usize = 100_000;
/// Most `affected` entries, ranges, events or listed versions in one record.
pub const MAX_ITEMS: usize = 10_000;

/// A problem with an advisory file.
#[derive(Debug, thiserror::Error)]
pub enum AdvisoryError {
    /// The file cannot be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("{file}: {size} bytes, more than the limit of {MAX_FILE_BYTES}")]
    TooLarge {
        /// The file.
        file: String,
        /// Its size.
        size: u64,
    },
    /// A record is not a valid OSV record for Ratchet.
    #[error("{file}:{line}: {message}")]
    Record {
        /// The file.
        file: String,
        /// 1-based line (1 for a `.json` file).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// One OSV record, as far as matching needs it; `raw` is the record as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Advisory {
    /// `id` (`RATCHET-2026-0001`, `GHSA-…`).
    pub id: String,
    /// `summary`, when given.
    pub summary: Option<String>,
    /// Severity: `database_specific.severity` (`LOW` … `CRITICAL`) or the first `severity[].score`.
    pub severity: Option<String>,
    /// `withdrawn`: a withdrawn advisory matches nothing.
    pub withdrawn: bool,
    /// The Ratchet packages it affects.
    pub affected: Vec<Affected>,
    /// The whole record.
    pub raw: Value,
}

/// One `affected` entry for the Ratchet ecosystem.
#[derive(Debug, Clone, PartialEq)]
pub struct Affected {
    /// The bundle id.
    pub name: String,
    /// `versions`: listed affected versions.
    pub versions: Vec<String>,
    /// `ranges` of type `SEMVER` or `ECOSYSTEM`.
    pub ranges: Vec<Vec<Event>>,
}

/// One event of a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Affected from this version (`"0"`: from the first).
    Introduced(Version),
    /// Not affected from this version on.
    Fixed(Version),
    /// Affected up to and including this version.
    LastAffected(Version),
}

#[derive(Deserialize)]
struct RawRecord {
    id: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    severity: Vec<RawSeverity>,
    #[serde(default)]
    database_specific: Option<Value>,
    #[serde(default)]
    affected: Vec<RawAffected>,
}

#[derive(Deserialize)]
struct RawSeverity {
    #[serde(default)]
    score: Option<String>,
}

#[derive(Deserialize)]
struct RawAffected {
    #[serde(default)]
    package: Option<RawPackage>,
    #[serde(default)]
    ranges: Vec<RawRange>,
    #[serde(default)]
    versions: Vec<String>,
}

#[derive(Deserialize)]
struct RawPackage {
    ecosystem: String,
    name: String,
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<serde_json::Map<String, Value>>,
}

fn version_of(s: &str) -> Result<Version, String> {
    if s == "0" {
        return Ok(Version::new(0, 0, 0));
    }
    Version::parse(s).map_err(|e| format!("`{s}` is not a SemVer version: {e}"))
}

impl Advisory {
    /// Reads one OSV record (a JSON object).
    pub fn from_value(raw: Value) -> Result<Advisory, String> {
        let r: RawRecord = serde_json::from_value(raw.clone()).map_err(|e| e.to_string())?;
        if r.id.is_empty()
            || r.id.len() > 128
            || r.id.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err("`id` must be 1 to 128 characters without spaces".into());
        }
        if r.affected.len() > MAX_ITEMS {
            return Err(format!("more than {MAX_ITEMS} `affected` entries"));
        }
        let mut affected = Vec::new();
        for (i, a) in r.affected.into_iter().enumerate() {
            let Some(p) = a.package else { continue };
            if p.ecosystem != ECOSYSTEM {
                continue;
            }
            if a.ranges.len() + a.versions.len() > MAX_ITEMS {
                return Err(format!(
                    "affected[{i}]: more than {MAX_ITEMS} ranges and versions"
                ));
            }
            let mut ranges = Vec::new();
            for (j, range) in a.ranges.into_iter().enumerate() {
                if !matches!(range.kind.as_str(), "SEMVER" | "ECOSYSTEM") {
                    continue;
                }
                if range.events.len() > MAX_ITEMS {
                    return Err(format!("affected[{i}].ranges[{j}]: too many events"));
                }
                let mut events = Vec::new();
                for e in range.events {
                    for (k, v) in e {
                        let v = v
                            .as_str()
                            .map(version_of)
                            .unwrap_or_else(|| Err(format!("`{k}` is not a string")))
                            .map_err(|m| format!("affected[{i}].ranges[{j}]: {m}"))?;
                        events.push(match k.as_str() {
                            "introduced" => Event::Introduced(v),
                            "fixed" => Event::Fixed(v),
                            "last_affected" => Event::LastAffected(v),
                            // `limit` bounds a git range; meaningless for SemVer versions.
                            _ => continue,
                        });
                    }
                }
                if !events.iter().any(|e| matches!(e, Event::Introduced(_))) {
                    return Err(format!("affected[{i}].ranges[{j}]: no `introduced` event"));
                }
                ranges.push(events);
            }
            affected.push(Affected {
                name: p.name,
                versions: a.versions,
                ranges,
            });
        }
        if affected.is_empty() {
            return Err(format!(
                "no `affected` entry with package.ecosystem `{ECOSYSTEM}`"
            ));
        }
        let severity = r
            .database_specific
            .as_ref()
            .and_then(|d| d.get("severity"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| r.severity.into_iter().find_map(|s| s.score));
        Ok(Advisory {
            id: r.id,
            summary: r.summary.map(|s| s.chars().take(1024).collect()),
            severity,
            withdrawn: r.withdrawn.is_some(),
            affected,
            raw,
        })
    }

    /// Whether `version` of bundle `id` is affected, and if so the first fixed version above
    /// it that a range names.
    pub fn affects(&self, id: &str, version: &Version) -> Option<Option<Version>> {
        if self.withdrawn {
            return None;
        }
        for a in self.affected.iter().filter(|a| a.name == id) {
            if a.versions
                .iter()
                .any(|v| Version::parse(v).is_ok_and(|v| v == *version))
            {
                return Some(fixed_after(a, version));
            }
            for events in &a.ranges {
                if in_range(events, version) {
                    return Some(fixed_after(a, version));
                }
            }
        }
        None
    }
}

/// OSV's evaluation: events in version order, each one at or below `v` switches the state.
fn in_range(events: &[Event], v: &Version) -> bool {
    let key = |e: &Event| match e {
        Event::Introduced(x) | Event::Fixed(x) | Event::LastAffected(x) => x.clone(),
    };
    let mut sorted: Vec<&Event> = events.iter().collect();
    sorted.sort_by_key(|e| key(e));
    let mut affected = false;
    for e in sorted {
        match e {
            Event::Introduced(x) if x <= v => affected = true,
            Event::Fixed(x) if x <= v => affected = false,
            Event::LastAffected(x) if x < v => affected = false,
            _ => {}
        }
    }
    affected
}

fn fixed_after(a: &Affected, v: &Version) -> Option<Version> {
    a.ranges
        .iter()
        .flatten()
        .filter_map(|e| match e {
            Event::Fixed(x) if x > v => Some(x.clone()),
            _ => None,
        })
        .min()
}

/// Reads an advisory file: JSON lines (`advisories.jsonl`), one OSV record (`*.json`), or a
/// JSON array of records. A directory means its `advisories.jsonl` (a registry).
pub fn load(path: &Path) -> Result<Vec<Advisory>, AdvisoryError> {
    let path = if path.is_dir() {
        path.join(ADVISORIES_FILE)
    } else {
        path.to_path_buf()
    };
    let file = path.display().to_string();
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && path.ends_with(ADVISORIES_FILE) => {
            return Ok(Vec::new());
        }
        Err(source) => return Err(AdvisoryError::Io { file, source }),
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(AdvisoryError::TooLarge {
            file,
            size: meta.len(),
        });
    }
    let text = std::fs::read_to_string(&path).map_err(|source| AdvisoryError::Io {
        file: file.clone(),
        source,
    })?;
    parse(&text, &file)
}

/// Parses the text of an advisory file named `file` (for messages).
pub fn parse(text: &str, file: &str) -> Result<Vec<Advisory>, AdvisoryError> {
    let err = |line: usize, message: String| AdvisoryError::Record {
        file: file.to_string(),
        line,
        message,
    };
    // One JSON document (a record or an array of them) unless the file is JSON lines.
    let whole_document = !file.ends_with(".jsonl")
        && text.len() <= MAX_FILE_BYTES as usize
        && serde_json::from_str::<Value>(text).is_ok();
    if whole_document {
        if text.len() > MAX_FILE_BYTES as usize {
            return Err(err(1, "too large".into()));
        }
        let v: Value = serde_json::from_str(text).map_err(|e| err(e.line(), e.to_string()))?;
        let items = match v {
            Value::Array(a) if a.len() <= MAX_RECORDS => a,
            Value::Array(_) => return Err(err(1, format!("more than {MAX_RECORDS} records"))),
            other => vec![other],
        };
        return items
            .into_iter()
            .enumerate()
            .map(|(i, v)| Advisory::from_value(v).map_err(|m| err(1, format!("record {i}: {m}"))))
            .collect();
    }
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if line.len() > MAX_RECORD_BYTES {
            return Err(err(
                n + 1,
                format!("a record of more than {MAX_RECORD_BYTES} bytes"),
            ));
        }
        if out.len() >= MAX_RECORDS {
            return Err(err(n + 1, format!("more than {MAX_RECORDS} records")));
        }
        let v: Value = serde_json::from_str(line).map_err(|e| err(n + 1, e.to_string()))?;
        out.push(Advisory::from_value(v).map_err(|m| err(n + 1, m))?);
    }
    Ok(out)
}

/// Renders advisories as the registry's `advisories.jsonl`: one compact record per line, sorted
/// by id.
pub fn render(list: &[Advisory]) -> String {
    let mut sorted: Vec<&Advisory> = list.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut s = String::new();
    for a in sorted {
        s.push_str(&serde_json::to_string(&a.raw).expect("JSON serializes"));
        s.push('\n');
    }
    s
}

/// Adds `new` to `list`, replacing a record with the same id; true when one was replaced.
pub fn upsert(list: &mut Vec<Advisory>, new: Advisory) -> bool {
    if let Some(old) = list.iter_mut().find(|a| a.id == new.id) {
        *old = new;
        true
    } else {
        list.push(new);
        false
    }
}

/// A bundle of the checked graph: itself or a resolved dependency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GraphBundle {
    /// Bundle id.
    pub id: String,
    /// Resolved version.
    pub version: String,
    /// How it is reached from the checked bundle (`[root, dep, …]`); `[root]` for itself.
    pub path: Vec<String>,
}

/// An advisory that matches a bundle of the graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdvisoryMatch {
    /// The advisory id.
    pub advisory: String,
    /// Its summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Its severity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// The affected bundle.
    pub id: String,
    /// Its version.
    pub version: String,
    /// The dependency path to it.
    pub path: Vec<String>,
    /// The first fixed version above it, when the advisory names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
}

/// Every advisory matching a bundle of `graph`.
pub fn matches(advisories: &[Advisory], graph: &[GraphBundle]) -> Vec<AdvisoryMatch> {
    let mut out = Vec::new();
    for b in graph {
        let Ok(v) = Version::parse(&b.version) else {
            continue;
        };
        for a in advisories {
            if let Some(fixed) = a.affects(&b.id, &v) {
                out.push(AdvisoryMatch {
                    advisory: a.id.clone(),
                    summary: a.summary.clone(),
                    severity: a.severity.clone(),
                    id: b.id.clone(),
                    version: b.version.clone(),
                    path: b.path.clone(),
                    fixed: fixed.map(|f| f.to_string()),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adv(affected: &str) -> Advisory {
        let v: Value = serde_json::from_str(&format!(
            r#"{{"schema_version":"1.6.0","id":"RATCHET-2026-0001","modified":"2026-01-01T00:00:00Z","summary":"bad","affected":[{affected}]}}"#
        ))
        .unwrap();
        Advisory::from_value(v).unwrap()
    }

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn ranges() {
        let a = adv(
            r#"{"package":{"ecosystem":"Ratchet","name":"com.x.y"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.2.1"},{"introduced":"2.0.0"},{"last_affected":"2.1.0"}]}]}"#,
        );
        assert_eq!(a.affects("com.x.y", &v("1.2.0")), Some(Some(v("1.2.1"))));
        assert_eq!(a.affects("com.x.y", &v("1.2.1")), None);
        assert_eq!(a.affects("com.x.y", &v("2.1.0")), Some(None));
        assert_eq!(a.affects("com.x.y", &v("2.1.1")), None);
        assert_eq!(a.affects("com.other", &v("1.0.0")), None);
        let listed =
            adv(r#"{"package":{"ecosystem":"Ratchet","name":"com.x.y"},"versions":["1.0.0"]}"#);
        assert!(listed.affects("com.x.y", &v("1.0.0")).is_some());
        assert!(listed.affects("com.x.y", &v("1.0.1")).is_none());
    }

    #[test]
    fn bad_records_are_located() {
        let e = parse("{\"id\":\"A\",\"affected\":[]}\n", "advisories.jsonl").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("advisories.jsonl:1: no `affected`"),
            "{e}"
        );
        let e = parse("\n{\"id\":\"A\",\"affected\":[{\"package\":{\"ecosystem\":\"Ratchet\",\"name\":\"a.b\"},\"ranges\":[{\"type\":\"SEMVER\",\"events\":[{\"introduced\":\"x\"}]}]}]}\n", "f.jsonl").unwrap_err();
        assert!(
            e.to_string()
                .contains(":2: affected[0].ranges[0]: `x` is not"),
            "{e}"
        );
        assert!(parse("{nope\n", "f.jsonl").is_err());
    }

    #[test]
    fn upsert_and_render_round_trip() {
        let mut list = vec![adv(
            r#"{"package":{"ecosystem":"Ratchet","name":"a.b"},"versions":["1.0.0"]}"#,
        )];
        let first = list[0].clone();
        assert!(upsert(&mut list, first));
        let text = render(&list);
        assert_eq!(parse(&text, "a.jsonl").unwrap(), list);
    }
}
