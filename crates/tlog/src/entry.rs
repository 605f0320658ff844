//! Transparency log entries: one per change of a registry's signed state.
//!
//! Why entries name files and the resulting state root: an auditor (a witness, a mirror
//! operator, `ratchet registry audit`) replays the log from entry 0, applies each entry's file
//! digests to an empty state map and checks that it reaches each entry's `state`, and that the
//! last one is the checkpoint's; a registry that changed a file without logging it, or logged
//! something it did not do, is caught. The kinds say why files changed, for people reading
//! `ratchet-index log`.
//!
//! Format (text, `\n` after every line, at most [`crate::tiles::MAX_ENTRY_BYTES`]):
//!
//! ```text
//! ratchet-log-v1 <kind> id=<id|-> version=<version|-> archive=<sha256|-> time=<RFC 3339> state=<map root>
//! file <path> <sha256|-> <size|->
//! ```
//!
//! A file line with `-` removes the path from the state. Entries are canonical: a parsed entry
//! re-encodes to the same bytes, else it is refused.

use crate::TlogError;
use crate::hash::{Hash, from_hex, to_hex};
use crate::map::FileDigest;
use crate::tiles::MAX_ENTRY_BYTES;

/// First word of every entry.
pub const ENTRY_TAG: &str = "ratchet-log-v1";

/// Why the state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// The first entry of a registry's log (its `config.json`).
    Init,
    /// A bundle that existed before the registry had a log, added when it was upgraded.
    Import,
    /// A version was published.
    Publish,
    /// A version was yanked.
    Yank,
    /// A yank was undone.
    Unyank,
    /// A bundle was deprecated.
    Deprecate,
    /// A deprecation was removed.
    Undeprecate,
    /// An owner chain grew (genesis, key added, rotation).
    Owners,
    /// An attestation was added.
    Attest,
    /// `config.json` changed (verifier keys, policies).
    Config,
    /// The registry key was rotated (`root.json` changed).
    RegistryKey,
}

const KINDS: [(EntryKind, &str); 11] = [
    (EntryKind::Init, "init"),
    (EntryKind::Import, "import"),
    (EntryKind::Publish, "publish"),
    (EntryKind::Yank, "yank"),
    (EntryKind::Unyank, "unyank"),
    (EntryKind::Deprecate, "deprecate"),
    (EntryKind::Undeprecate, "undeprecate"),
    (EntryKind::Owners, "owners"),
    (EntryKind::Attest, "attest"),
    (EntryKind::Config, "config"),
    (EntryKind::RegistryKey, "registry-key"),
];

impl EntryKind {
    /// The word used in entries.
    pub fn as_str(self) -> &'static str {
        KINDS
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("?", |(_, s)| s)
    }

    /// The kind named by `s` (the word used in entries), if any.
    pub fn parse(s: &str) -> Option<EntryKind> {
        KINDS.iter().find(|(_, w)| *w == s).map(|(k, _)| *k)
    }
}

/// One file's new digest (`None`: removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Registry path (`index/b8/bc/com.oss.json-utils`).
    pub path: String,
    /// The new digest, or `None` when the file was removed.
    pub digest: Option<FileDigest>,
}

/// A log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Why the state changed.
    pub kind: EntryKind,
    /// The bundle concerned, if any.
    pub id: Option<String>,
    /// The version concerned, if any.
    pub version: Option<String>,
    /// The archive's SHA-256, for publish and yank entries.
    pub archive: Option<Hash>,
    /// When (Unix seconds, written as RFC 3339 UTC).
    pub time: u64,
    /// The state map root after this entry.
    pub state: Hash,
    /// The files it changed (at least one).
    pub files: Vec<FileChange>,
}

/// The last second RFC 3339 can write (`9999-12-31T23:59:59Z`).
pub const MAX_TIME: u64 = 253_402_300_799;

/// Formats Unix seconds as RFC 3339 UTC with seconds (`2026-01-01T00:00:00Z`); times past
/// [`MAX_TIME`] are written as `MAX_TIME`.
pub fn format_time(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.min(MAX_TIME));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Parses exactly the form [`format_time`] writes.
pub fn parse_time(s: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339(s).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    (secs <= MAX_TIME && format_time(secs) == s).then_some(secs)
}

/// A registry path as the state map keys it: 1 to 512 bytes of `a-z 0-9 . _ - /`, relative,
/// with no empty, `.` or `..` segment. (Ids are lower-case, so every registry file qualifies.)
pub fn valid_path(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 512
        && p.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-' | b'/')
        })
        && p.split('/').all(|s| !s.is_empty() && s != "." && s != "..")
}

fn valid_word(s: &str) -> bool {
    !s.is_empty() && s.len() <= 256 && s.bytes().all(|b| b.is_ascii_graphic() && b != b'=')
}

impl LogEntry {
    /// The entry's bytes. Fails on fields that cannot be written unambiguously.
    pub fn encode(&self) -> Result<Vec<u8>, TlogError> {
        let bad = |r: String| Err(TlogError::Invalid(format!("log entry: {r}")));
        for (name, v) in [("id", &self.id), ("version", &self.version)] {
            if let Some(v) = v
                && (!valid_word(v) || v == "-")
            {
                return bad(format!("{name} `{v}` is not a single word"));
            }
        }
        if self.files.is_empty() {
            return bad("an entry changes at least one file".into());
        }
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let mut s = format!(
            "{ENTRY_TAG} {} id={} version={} archive={} time={} state={}\n",
            self.kind.as_str(),
            dash(&self.id),
            dash(&self.version),
            self.archive.as_ref().map_or("-".into(), to_hex),
            format_time(self.time),
            to_hex(&self.state)
        );
        for f in &self.files {
            if !valid_path(&f.path) {
                return bad(format!("`{}` is not a registry path", f.path));
            }
            match &f.digest {
                Some(d) => s.push_str(&format!(
                    "file {} {} {}\n",
                    f.path,
                    to_hex(&d.sha256),
                    d.size
                )),
                None => s.push_str(&format!("file {} - -\n", f.path)),
            }
        }
        if s.len() > MAX_ENTRY_BYTES {
            return bad(format!("{} bytes (limit {MAX_ENTRY_BYTES})", s.len()));
        }
        Ok(s.into_bytes())
    }

    /// Parses an entry; `what` names it in errors (`log entry 1234`).
    pub fn parse(bytes: &[u8], what: &str) -> Result<LogEntry, TlogError> {
        let bad = |r: &str| TlogError::Malformed {
            file: what.to_string(),
            reason: r.to_string(),
        };
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(bad("too long"));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8"))?;
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("no final newline"))?;
        let mut lines = body.split('\n');
        let head: Vec<&str> = lines.next().unwrap_or("").split(' ').collect();
        let [tag, kind, id, version, archive, time, state] = head.as_slice() else {
            return Err(bad("the first line does not have 7 fields"));
        };
        if *tag != ENTRY_TAG {
            return Err(bad("not a ratchet-log-v1 entry"));
        }
        fn field<'v>(name: &str, v: &'v str, what: &str) -> Result<&'v str, TlogError> {
            v.strip_prefix(name).ok_or_else(|| TlogError::Malformed {
                file: what.to_string(),
                reason: format!("expected `{name}...`"),
            })
        }
        let opt = |v: &str| (v != "-").then(|| v.to_string());
        let archive = match field("archive=", archive, what)? {
            "-" => None,
            h => Some(from_hex(h).ok_or_else(|| bad("archive is not a SHA-256"))?),
        };
        let mut files = Vec::new();
        for (n, line) in lines.enumerate() {
            let w: Vec<&str> = line.split(' ').collect();
            let ["file", path, sha, size] = w.as_slice() else {
                return Err(bad(&format!("file line {} is malformed", n + 1)));
            };
            let digest = match (*sha, *size) {
                ("-", "-") => None,
                (h, s) => Some(FileDigest {
                    sha256: from_hex(h)
                        .ok_or_else(|| bad(&format!("file line {}: bad SHA-256", n + 1)))?,
                    size: s
                        .parse()
                        .map_err(|_| bad(&format!("file line {}: bad size", n + 1)))?,
                }),
            };
            files.push(FileChange {
                path: path.to_string(),
                digest,
            });
        }
        let e = LogEntry {
            kind: EntryKind::parse(kind).ok_or_else(|| bad(&format!("unknown kind `{kind}`")))?,
            id: opt(field("id=", id, what)?),
            version: opt(field("version=", version, what)?),
            archive,
            time: parse_time(field("time=", time, what)?).ok_or_else(|| bad("bad time"))?,
            state: from_hex(field("state=", state, what)?).ok_or_else(|| bad("bad state root"))?,
            files,
        };
        match e.encode() {
            Ok(b) if b == bytes => Ok(e),
            Ok(_) => Err(bad("not in canonical form")),
            Err(err) => Err(bad(&err.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LogEntry {
        LogEntry {
            kind: EntryKind::Publish,
            id: Some("com.oss.json-utils".into()),
            version: Some("1.2.0+build.5".into()),
            archive: Some([7; 32]),
            time: 1_767_225_600,
            state: [9; 32],
            files: vec![
                FileChange {
                    path: "index/b8/bc/com.oss.json-utils".into(),
                    digest: Some(FileDigest::of(b"line\n")),
                },
                FileChange {
                    path: "meta/b8/bc/com.oss.json-utils.json".into(),
                    digest: None,
                },
            ],
        }
    }

    #[test]
    fn round_trip_and_strictness() {
        let e = sample();
        let b = e.encode().unwrap();
        let text = String::from_utf8(b.clone()).unwrap();
        assert!(text.starts_with(
            "ratchet-log-v1 publish id=com.oss.json-utils version=1.2.0+build.5 archive=0707"
        ));
        assert!(text.contains("time=2026-01-01T00:00:00Z"));
        assert!(text.ends_with("file meta/b8/bc/com.oss.json-utils.json - -\n"));
        assert_eq!(LogEntry::parse(&b, "e").unwrap(), e);
        // Torn, extra space, capital hex, unknown kind, no files, a path escaping the registry.
        for bad in [
            text.trim_end().to_string(),
            text.replacen(" id=", "  id=", 1),
            text.replacen("archive=07", "archive=0A", 1),
            text.replacen("publish", "delete", 1),
            text.lines().next().unwrap().to_string() + "\n",
            text.replacen("file index/", "file ../", 1),
            text.replacen("T00:00:00Z", "T00:00:00.5Z", 1),
            text.replacen(" - -", " - 5", 1),
        ] {
            assert!(LogEntry::parse(bad.as_bytes(), "e").is_err(), "{bad}");
        }
        let e2 = LogEntry {
            id: Some("two words".into()),
            ..sample()
        };
        assert!(e2.encode().is_err());
        let huge = LogEntry {
            files: (0..400)
                .map(|i| FileChange {
                    path: format!("index/aa/bb/com.example.bundle-number-{i}"),
                    digest: Some(FileDigest::of(b"x")),
                })
                .collect(),
            ..sample()
        };
        assert!(huge.encode().is_err());
        assert!(LogEntry::parse(&vec![b'a'; MAX_ENTRY_BYTES + 1], "e").is_err());
        assert_eq!(parse_time("2026-01-01T00:00:00Z"), Some(1_767_225_600));
        assert_eq!(parse_time("2026-01-01 00:00:00Z"), None);
        assert_eq!(format_time(u64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(parse_time("9999-12-31T23:59:59Z"), Some(MAX_TIME));
        assert!(valid_path("config.json") && !valid_path("/abs") && !valid_path("a//b"));
        assert!(!valid_path("Index/x"));
    }
}
