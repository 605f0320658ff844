//! `ratchet-audit`: the tamper-evident audit log of a registry (`ratchet-index`) and of a client
//! (`ratchet`), `index-format.md` §13.
//!
//! Enterprises must be able to say who changed what and when (publish, yank, deprecate,
//! approve, owner changes; installs, updates, removals, runs with the permissions granted) and
//! feed that to a SIEM. The log is append-only JSON lines, one entry a line, each carrying the
//! SHA-256 of the previous line (`prev`) and its own (`hash`, over the line's bytes before the
//! `hash` field), with a sequence number: editing, deleting, inserting or reordering any line
//! breaks the chain, which [`verify`] reports with the line number. Retention ([`prune`])
//! removes old lines from the start and appends a `retention` entry naming the first kept
//! line's number and `prev`, so a pruned log still verifies and an unrecorded removal at the
//! start does not. Truncating the end is detected against a head (sequence and hash) kept
//! elsewhere (`verify --head`; every export and verify prints it). [`export`] writes JSON
//! lines, CEF or RFC 5424 syslog with the documented field mapping.
//!
//! This crate never prints; every failure is an [`AuditError`] naming the file and line.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Longest line accepted, in bytes (an entry's details are bounded by what callers put in).
pub const MAX_LINE: usize = 64 * 1024;
/// `prev` of the first entry of a log.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The action of the entry [`prune`] appends.
pub const RETENTION_ACTION: &str = "retention";
/// The field that ends every line.
const HASH_FIELD: &str = ",\"hash\":\"";

/// What went wrong, with the file and (for a broken chain) the line.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The file cannot be read or written.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a valid entry, or the chain is broken there.
    #[error("{file}:{line}: {problem}")]
    Broken {
        /// The file.
        file: String,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        problem: Problem,
    },
    /// A time that is not RFC 3339 UTC.
    #[error("`{0}` is not an RFC 3339 time")]
    BadTime(String),
}

/// How a log is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Longer than [`MAX_LINE`].
    #[error("longer than {MAX_LINE} bytes")]
    TooLong,
    /// The last line has no newline: a write was cut off.
    #[error("the last line is incomplete (a write was cut off); the log cannot be appended to")]
    Torn,
    /// Not an entry (JSON or shape).
    #[error("not an audit entry: {0}")]
    NotAnEntry(String),
    /// The line's bytes do not hash to its `hash`: it was edited.
    #[error("the line was edited: its content hashes to {computed}, not to the hash it carries")]
    Edited {
        /// The hash of its bytes.
        computed: String,
    },
    /// The sequence number is not the previous one plus one.
    #[error(
        "entry number {found} follows entry {previous}: lines were deleted, inserted or reordered"
    )]
    Sequence {
        /// The previous line's number.
        previous: u64,
        /// This line's number.
        found: u64,
    },
    /// `prev` is not the previous line's hash.
    #[error(
        "its prev {found} is not the previous line's hash {expected}: lines were deleted, inserted, reordered or edited"
    )]
    Chain {
        /// The previous line's hash.
        expected: String,
        /// The `prev` it carries.
        found: String,
    },
    /// The first line is not entry 0 and no retention entry accounts for the lines before.
    #[error(
        "the log starts at entry {first_seq} and no retention entry records removing the entries before it: lines were deleted from the start"
    )]
    UnrecordedStart {
        /// The first line's number.
        first_seq: u64,
    },
    /// The expected head (from `--head`) is not in the log.
    #[error(
        "entry {seq} with hash {hash} is not in the log: it was truncated or rewritten after that head was recorded"
    )]
    HeadMissing {
        /// The expected sequence number.
        seq: u64,
        /// The expected hash.
        hash: String,
    },
}

/// Who wrote an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// `ratchet-index` (a registry change).
    Registry,
    /// `ratchet` (a client action).
    Client,
}

impl Source {
    /// The program that writes such entries.
    pub fn app_name(self) -> &'static str {
        match self {
            Source::Registry => "ratchet-index",
            Source::Client => "ratchet",
        }
    }
}

/// One entry as stored (field order is the line's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// 0, 1, 2... in file order.
    pub seq: u64,
    /// When, RFC 3339 UTC with seconds.
    pub time: String,
    /// Registry or client.
    pub source: Source,
    /// Who (the OS user, or `RATCHET_AUDIT_ACTOR`).
    pub actor: String,
    /// What: `publish`, `yank`, `unyank`, `deprecate`, `undeprecate`, `approve`, `owners`,
    /// `install`, `update`, `remove`, `run`, `retention`.
    pub action: String,
    /// The registry (root URL or directory) the action concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// The bundle id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The archive's SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Anything else (permissions granted, scope, previous version...).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
    /// The previous line's hash ([`GENESIS_PREV`] for entry 0).
    pub prev: String,
    /// SHA-256 of this line's bytes up to (not including) `,"hash":`.
    pub hash: String,
}

/// What to append: an [`Entry`] without its place in the chain.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    /// What.
    pub action: String,
    /// Registry.
    pub registry: Option<String>,
    /// Bundle id.
    pub id: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// Archive SHA-256.
    pub sha256: Option<String>,
    /// Anything else.
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl From<&Entry> for Record {
    /// The record an entry was made from (its place in the chain left out), so an entry can
    /// be appended again to another log.
    fn from(e: &Entry) -> Record {
        Record {
            action: e.action.clone(),
            registry: e.registry.clone(),
            id: e.id.clone(),
            version: e.version.clone(),
            sha256: e.sha256.clone(),
            details: e.details.clone(),
        }
    }
}

impl Record {
    /// A record of `action` about bundle `id` at `version`.
    pub fn bundle(action: &str, id: &str, version: Option<&str>, sha256: Option<&str>) -> Record {
        Record {
            action: action.to_string(),
            id: Some(id.to_string()),
            version: version.map(str::to_string),
            sha256: sha256.map(str::to_string),
            ..Record::default()
        }
    }

    /// With a detail.
    pub fn with(mut self, key: &str, value: serde_json::Value) -> Record {
        self.details.insert(key.to_string(), value);
        self
    }

    /// With the registry.
    pub fn at(mut self, registry: &str) -> Record {
        self.registry = Some(registry.to_string());
        self
    }
}

/// The body of a line: an entry without `hash`, serialized in the line's field order.
#[derive(Serialize)]
struct Body<'a> {
    seq: u64,
    time: &'a str,
    source: Source,
    actor: &'a str,
    action: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    registry: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    details: &'a serde_json::Map<String, serde_json::Value>,
    prev: &'a str,
}

fn hex(d: &[u8]) -> String {
    let mut s = String::with_capacity(d.len() * 2);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn sha(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The line (with its newline) and the entry of `record` at `seq` after `prev`.
fn make_line(
    seq: u64,
    prev: &str,
    time: &str,
    source: Source,
    actor: &str,
    r: &Record,
) -> (String, Entry) {
    let body = Body {
        seq,
        time,
        source,
        actor,
        action: &r.action,
        registry: r.registry.as_deref(),
        id: r.id.as_deref(),
        version: r.version.as_deref(),
        sha256: r.sha256.as_deref(),
        details: &r.details,
        prev,
    };
    let mut text = serde_json::to_string(&body).expect("an entry serializes");
    text.pop(); // the closing brace
    let hash = sha(text.as_bytes());
    let line = format!("{text}{HASH_FIELD}{hash}\"}}\n");
    let entry = Entry {
        seq,
        time: time.to_string(),
        source,
        actor: actor.to_string(),
        action: r.action.clone(),
        registry: r.registry.clone(),
        id: r.id.clone(),
        version: r.version.clone(),
        sha256: r.sha256.clone(),
        details: r.details.clone(),
        prev: prev.to_string(),
        hash,
    };
    (line, entry)
}

/// Checks one line's own hash and parses it.
fn check_line(line: &[u8]) -> Result<Entry, Problem> {
    if line.len() > MAX_LINE {
        return Err(Problem::TooLong);
    }
    let text = std::str::from_utf8(line).map_err(|_| Problem::NotAnEntry("not UTF-8".into()))?;
    let cut = text
        .len()
        .checked_sub(HASH_FIELD.len() + 64 + 2)
        .filter(|&c| text.is_char_boundary(c) && text[c..].starts_with(HASH_FIELD))
        .ok_or_else(|| Problem::NotAnEntry("it does not end with the `hash` field".into()))?;
    let entry: Entry =
        serde_json::from_str(text).map_err(|e| Problem::NotAnEntry(e.to_string()))?;
    let computed = sha(&line[..cut]);
    if computed != entry.hash {
        return Err(Problem::Edited { computed });
    }
    Ok(entry)
}

/// Now, RFC 3339 UTC with seconds.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// The acting user: `RATCHET_AUDIT_ACTOR`, else `USER`, else `LOGNAME`, else `unknown`.
pub fn current_actor() -> String {
    ["RATCHET_AUDIT_ACTOR", "USER", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".to_string())
}

/// An audit log file.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
    source: Source,
}

/// The last entry of a log: its number and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Head {
    /// Its sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}

impl AuditLog {
    /// The log at `path`, written by `source`.
    pub fn new(path: impl Into<PathBuf>, source: Source) -> AuditLog {
        AuditLog {
            path: path.into(),
            source,
        }
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self) -> impl Fn(std::io::Error) -> AuditError + '_ {
        move |source| AuditError::Io {
            file: self.path.display().to_string(),
            source,
        }
    }

    /// Appends `record` by `actor` at `time` (RFC 3339 UTC), under an exclusive lock on the
    /// file (concurrent writers take turns). Reads only the end of the file, so the cost does
    /// not grow with the log. Refuses to append after a torn or invalid last line.
    pub fn append_at(&self, record: &Record, actor: &str, time: &str) -> Result<Entry, AuditError> {
        if let Some(d) = self.path.parent() {
            std::fs::create_dir_all(d).map_err(self.io())?;
        }
        let mut f = loop {
            let f = OpenOptions::new()
                .create(true)
                .read(true)
                .append(true)
                .open(&self.path)
                .map_err(self.io())?;
            f.lock().map_err(self.io())?;
            // `prune` replaces the file while holding the old one's lock: append to the file
            // that is at the path now, never to a replaced one.
            if same_file(&f, &self.path) {
                break f;
            }
        };
        let (seq, prev) = match self.last(&mut f)? {
            None => (0, GENESIS_PREV.to_string()),
            Some(h) => (h.seq + 1, h.hash),
        };
        let (line, entry) = make_line(seq, &prev, time, self.source, actor, record);
        f.write_all(line.as_bytes()).map_err(self.io())?;
        f.flush().map_err(self.io())?;
        Ok(entry)
    }

    /// [`AuditLog::append_at`] now, by [`current_actor`].
    pub fn append(&self, record: &Record) -> Result<Entry, AuditError> {
        self.append_at(record, &current_actor(), &now())
    }

    /// The last entry's number and hash, read from the end of the open file.
    fn last(&self, f: &mut File) -> Result<Option<Head>, AuditError> {
        let len = f.metadata().map_err(self.io())?.len();
        if len == 0 {
            return Ok(None);
        }
        let take = len.min(MAX_LINE as u64 + 1);
        f.seek(SeekFrom::Start(len - take)).map_err(self.io())?;
        let mut buf = Vec::with_capacity(take as usize);
        Read::by_ref(f)
            .take(take)
            .read_to_end(&mut buf)
            .map_err(self.io())?;
        let broken = |problem| AuditError::Broken {
            file: self.path.display().to_string(),
            line: 0,
            problem,
        };
        if buf.last() != Some(&b'\n') {
            return Err(broken(Problem::Torn));
        }
        buf.pop();
        let start = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if start == 0 && take < len {
            return Err(broken(Problem::TooLong));
        }
        let e = check_line(&buf[start..]).map_err(broken)?;
        Ok(Some(Head {
            seq: e.seq,
            hash: e.hash,
        }))
    }
}

#[cfg(unix)]
fn same_file(f: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (f.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_: &File, _: &Path) -> bool {
    true
}

/// What [`verify`] found in a valid log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Entries checked.
    pub entries: u64,
    /// The first entry's number (0 unless pruned).
    pub first_seq: u64,
    /// The last entry, when any.
    pub head: Option<Head>,
}

/// Reads a log line by line (each bounded by [`MAX_LINE`]), calling `each` with every valid
/// entry in order after checking the chain; stops at the first problem.
fn walk(
    path: &Path,
    mut each: impl FnMut(&Entry, &[u8]) -> Result<(), AuditError>,
) -> Result<Verified, AuditError> {
    let file = path.display().to_string();
    let io = |source| AuditError::Io {
        file: file.clone(),
        source,
    };
    let mut r = BufReader::with_capacity(256 * 1024, File::open(path).map_err(io)?);
    let mut buf = Vec::new();
    let mut n = 0u64;
    let mut prev: Option<Entry> = None;
    let mut first: Option<(u64, String)> = None;
    let mut last_retention: Option<(u64, String)> = None;
    loop {
        buf.clear();
        let got = r
            .by_ref()
            .take(MAX_LINE as u64 + 2)
            .read_until(b'\n', &mut buf)
            .map_err(io)?;
        if got == 0 {
            break;
        }
        n += 1;
        let broken = |problem| AuditError::Broken {
            file: file.clone(),
            line: n,
            problem,
        };
        if buf.last() != Some(&b'\n') {
            return Err(broken(if buf.len() > MAX_LINE {
                Problem::TooLong
            } else {
                Problem::Torn
            }));
        }
        buf.pop();
        let e = check_line(&buf).map_err(broken)?;
        match &prev {
            None => {
                if e.seq == 0 && e.prev != GENESIS_PREV {
                    return Err(broken(Problem::Chain {
                        expected: GENESIS_PREV.into(),
                        found: e.prev.clone(),
                    }));
                }
                first = Some((e.seq, e.prev.clone()));
            }
            Some(p) => {
                if e.seq != p.seq + 1 {
                    return Err(broken(Problem::Sequence {
                        previous: p.seq,
                        found: e.seq,
                    }));
                }
                if e.prev != p.hash {
                    return Err(broken(Problem::Chain {
                        expected: p.hash.clone(),
                        found: e.prev.clone(),
                    }));
                }
            }
        }
        if e.action == RETENTION_ACTION {
            let s = e.details.get("first_seq").and_then(|v| v.as_u64());
            let h = e.details.get("first_prev").and_then(|v| v.as_str());
            if let (Some(s), Some(h)) = (s, h) {
                last_retention = Some((s, h.to_string()));
            }
        }
        each(&e, &buf)?;
        prev = Some(e);
    }
    let first_seq = first.as_ref().map_or(0, |f| f.0);
    if let Some((s, p)) = &first
        && *s != 0
        && last_retention.as_ref() != Some(&(*s, p.clone()))
    {
        return Err(AuditError::Broken {
            file,
            line: 1,
            problem: Problem::UnrecordedStart { first_seq: *s },
        });
    }
    Ok(Verified {
        entries: n,
        first_seq,
        head: prev.map(|e| Head {
            seq: e.seq,
            hash: e.hash,
        }),
    })
}

/// Verifies a whole log: every line's hash, numbers and chain, the start (entry 0, or the
/// start the last retention entry recorded) and, when given, that `head` (a sequence number
/// and hash recorded earlier) is still in it. A missing file is an I/O error.
pub fn verify(path: &Path, head: Option<&Head>) -> Result<Verified, AuditError> {
    let mut seen = head.is_none();
    let v = walk(path, |e, _| {
        if let Some(h) = head
            && e.seq == h.seq
            && e.hash == h.hash
        {
            seen = true;
        }
        Ok(())
    })?;
    if let (false, Some(h)) = (seen, head) {
        return Err(AuditError::Broken {
            file: path.display().to_string(),
            line: v.entries,
            problem: Problem::HeadMissing {
                seq: h.seq,
                hash: h.hash.clone(),
            },
        });
    }
    Ok(v)
}

/// Parses `SEQ:HASH` (as `audit verify` prints a head).
pub fn parse_head(s: &str) -> Option<Head> {
    let (seq, hash) = s.split_once(':')?;
    let seq = seq.parse().ok()?;
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Head {
        seq,
        hash: hash.to_ascii_lowercase(),
    })
}

/// What [`prune`] removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Entries removed.
    pub removed: u64,
    /// Entries kept (with the new retention entry).
    pub kept: u64,
}

/// Removes the entries older than `retention_days` before `now` (RFC 3339) from the start of
/// a valid log and appends a `retention` entry recording the first kept entry's number and
/// `prev`, under the log's lock; the file is replaced atomically. `retention_days` 0 keeps
/// everything. Nothing is written when nothing is old enough.
pub fn prune(
    log: &AuditLog,
    retention_days: u32,
    now: &str,
    actor: &str,
) -> Result<Pruned, AuditError> {
    if retention_days == 0 {
        return Ok(Pruned {
            removed: 0,
            kept: 0,
        });
    }
    let t = humantime::parse_rfc3339(now).map_err(|_| AuditError::BadTime(now.to_string()))?;
    let cutoff = t - std::time::Duration::from_secs(u64::from(retention_days) * 86_400);
    let cutoff = humantime::format_rfc3339_seconds(cutoff).to_string();
    let lock = OpenOptions::new()
        .read(true)
        .append(true)
        .open(log.path())
        .map_err(log.io())?;
    lock.lock().map_err(log.io())?;
    let mut kept: Vec<u8> = Vec::new();
    let mut removed = 0u64;
    let mut keeping = false;
    let mut first: Option<(u64, String)> = None;
    let mut kept_n = 0u64;
    let v = walk(log.path(), |e, line| {
        // Times are written by this crate in one format, so they compare as text.
        if !keeping && e.time.as_str() < cutoff.as_str() {
            removed += 1;
            return Ok(());
        }
        if !keeping {
            first = Some((e.seq, e.prev.clone()));
        }
        keeping = true;
        kept.extend_from_slice(line);
        kept.push(b'\n');
        kept_n += 1;
        Ok(())
    })?;
    if removed == 0 {
        return Ok(Pruned {
            removed: 0,
            kept: kept_n,
        });
    }
    let head = v.head.expect("a log with removed entries has a head");
    let (first_seq, first_prev) = first.unwrap_or((head.seq + 1, head.hash.clone()));
    let rec = Record {
        action: RETENTION_ACTION.to_string(),
        details: serde_json::Map::from_iter([
            ("first_seq".to_string(), first_seq.into()),
            ("first_prev".to_string(), first_prev.into()),
            ("removed".to_string(), removed.into()),
            ("retention_days".to_string(), retention_days.into()),
        ]),
        ..Record::default()
    };
    let (line, _) = make_line(head.seq + 1, &head.hash, now, log.source, actor, &rec);
    kept.extend_from_slice(line.as_bytes());
    let tmp = log.path().with_extension("prune.tmp");
    std::fs::write(&tmp, &kept).map_err(log.io())?;
    std::fs::rename(&tmp, log.path()).map_err(log.io())?;
    Ok(Pruned {
        removed,
        kept: kept_n + 1,
    })
}

/// SIEM export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The entries as they are, one JSON object a line.
    JsonLines,
    /// ArcSight Common Event Format, one event a line.
    Cef,
    /// RFC 5424 syslog messages, one a line.
    Syslog,
}

impl Format {
    /// `json`, `cef`, `syslog`, or `siem` (= `cef`).
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "json" | "jsonl" => Some(Format::JsonLines),
            "cef" | "siem" => Some(Format::Cef),
            "syslog" | "rfc5424" => Some(Format::Syslog),
            _ => None,
        }
    }
}

/// The private enterprise number in RFC 5424 structured data ids (`ratchet@32473`): 32473 is
/// the number RFC 5612 reserves for documentation; deployments may map it.
pub const SD_ID: &str = "ratchet@32473";

/// Verifies `path` and writes every entry to `out` in `format` (`hostname` for syslog's
/// HOSTNAME, `-` when unknown). Nothing is written from a log that does not verify.
pub fn export(
    path: &Path,
    format: Format,
    hostname: &str,
    out: &mut dyn Write,
) -> Result<Verified, AuditError> {
    let v = verify(path, None)?;
    let file = path.display().to_string();
    walk(path, |e, line| {
        let io = |source| AuditError::Io {
            file: "standard output".into(),
            source,
        };
        match format {
            Format::JsonLines => {
                out.write_all(line).map_err(io)?;
                out.write_all(b"\n").map_err(io)?;
            }
            Format::Cef => writeln!(out, "{}", cef(e)).map_err(io)?,
            Format::Syslog => writeln!(out, "{}", syslog(e, hostname)).map_err(io)?,
        }
        Ok(())
    })
    .map_err(|e| match e {
        AuditError::Io { file: f, source } if f == file => AuditError::Io { file, source },
        e => e,
    })?;
    Ok(v)
}

fn cef_header(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '|' => o.push_str("\\|"),
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

fn cef_value(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '=' => o.push_str("\\="),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// One entry as a CEF event (mapping in `index-format.md` §13.4).
pub fn cef(e: &Entry) -> String {
    let ms = humantime::parse_rfc3339(&e.time)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis());
    let name = describe(e);
    let mut ext = vec![
        format!("rt={ms}"),
        format!("suser={}", cef_value(&e.actor)),
        format!("act={}", cef_value(&e.action)),
        format!("deviceProcessName={}", e.source.app_name()),
        format!("cn1Label=seq cn1={}", e.seq),
    ];
    let mut cs = |n: u8, label: &str, v: &Option<String>| {
        if let Some(v) = v {
            ext.push(format!("cs{n}Label={label} cs{n}={}", cef_value(v)));
        }
    };
    cs(1, "bundleId", &e.id);
    cs(2, "version", &e.version);
    cs(3, "sha256", &e.sha256);
    cs(4, "registry", &e.registry);
    cs(5, "entryHash", &Some(e.hash.clone()));
    if !e.details.is_empty() {
        cs(
            6,
            "details",
            &Some(serde_json::Value::Object(e.details.clone()).to_string()),
        );
    }
    format!(
        "CEF:0|Ratchet|ratchet-registry|{}|{}|{}|{}|{}",
        env!("CARGO_PKG_VERSION"),
        cef_header(&e.action),
        cef_header(&name),
        severity(e).0,
        ext.join(" ")
    )
}

/// (CEF severity 0-10, syslog severity 0-7) of an entry: removals and yanks are notices,
/// everything else informational.
fn severity(e: &Entry) -> (u8, u8) {
    match e.action.as_str() {
        "yank" | "remove" | "owners" | "retention" | "deprecate" => (5, 5),
        _ => (3, 6),
    }
}

/// A one-line description of an entry.
pub fn describe(e: &Entry) -> String {
    let what = match (&e.id, &e.version) {
        (Some(i), Some(v)) => format!(" {i} {v}"),
        (Some(i), None) => format!(" {i}"),
        _ => String::new(),
    };
    format!("{} {}{what} by {}", e.source.app_name(), e.action, e.actor)
}

fn sd_value(s: &str) -> String {
    let mut o = String::new();
    for c in s.chars() {
        match c {
            '"' | '\\' | ']' => {
                o.push('\\');
                o.push(c);
            }
            c if c.is_control() => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

fn printable_token(s: &str, max: usize) -> String {
    let t: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if t.is_empty() { "-".into() } else { t }
}

/// One entry as an RFC 5424 syslog message, facility 13 (log audit) (mapping in
/// `index-format.md` §13.4).
pub fn syslog(e: &Entry, hostname: &str) -> String {
    let pri = 13 * 8 + u32::from(severity(e).1);
    let mut sd = format!(
        "[{SD_ID} seq=\"{}\" actor=\"{}\" hash=\"{}\" prev=\"{}\"",
        e.seq,
        sd_value(&e.actor),
        e.hash,
        e.prev
    );
    for (k, v) in [
        ("registry", &e.registry),
        ("id", &e.id),
        ("version", &e.version),
        ("sha256", &e.sha256),
    ] {
        if let Some(v) = v {
            sd.push_str(&format!(" {k}=\"{}\"", sd_value(v)));
        }
    }
    if !e.details.is_empty() {
        sd.push_str(&format!(
            " details=\"{}\"",
            sd_value(&serde_json::Value::Object(e.details.clone()).to_string())
        ));
    }
    sd.push(']');
    let msg: String = describe(e)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(
        "<{pri}>1 {} {} {} - {} {sd} {msg}",
        e.time,
        printable_token(hostname, 255),
        e.source.app_name(),
        printable_token(&e.action, 32),
    )
}

#[cfg(test)]
mod tests;
