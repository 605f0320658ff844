//! `ratchet-index stats ingest`: access logs in, per-bundle download counts out
//! (`index-format.md` §11.2 to §11.5).
//!
//! Logs are streamed line by line with a bounded line buffer, so memory depends on the number of
//! (archive, day) pairs seen, not on the size of the logs. A record is reduced to "a download of
//! archive X on day D" or nothing the moment it is parsed. Re-ingesting a log counts only what
//! the ledger has not seen (its prefix hash), and a batch id in every stats file makes a run
//! that was killed half-way safe to repeat.

use crate::day::Day;
use crate::files::{
    self, LEDGER_PATH, Ledger, LedgerEntry, MAX_BATCHES, MAX_LEDGER, SUMMARY_PATH, StatsFile,
    Summary, stats_path,
};
use crate::parse::{Line, LogFormat, Parser};
use crate::{StatsError, io_err, read_opt, write_if_changed};
use ratchet_formats::index::{IndexFile, NamesFile, RegistryConfig, index_path};
use ratchet_formats::manifest::BundleId;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Longest log line read, in bytes; a longer line is malformed.
pub const MAX_LOG_LINE: usize = 64 * 1024;
/// Malformed lines reported one by one (the others are counted).
pub const MAX_REPORTED: usize = 20;

/// How to ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// The logs' format.
    pub format: LogFormat,
    /// Today: records dated after tomorrow are malformed.
    pub today: Day,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            format: LogFormat::Auto,
            today: Day::today(),
        }
    }
}

/// A skipped log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedLine {
    /// The log.
    pub file: String,
    /// 1-based line number.
    pub line: u64,
    /// Why.
    pub reason: &'static str,
}

/// What one log gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogReport {
    /// The log.
    pub file: String,
    /// Its format (detected or given).
    pub format: LogFormat,
    /// Bytes skipped because an earlier run ingested them.
    pub already_ingested: u64,
    /// Bytes read after those, up to the end of the last complete line.
    pub new_bytes: u64,
    /// Records read (after the skipped part).
    pub records: u64,
    /// Downloads counted.
    pub downloads: u64,
    /// Malformed lines.
    pub malformed: u64,
}

/// What an ingestion did.
#[derive(Debug, Clone)]
pub struct IngestReport {
    /// Per log.
    pub logs: Vec<LogReport>,
    /// The first [`MAX_REPORTED`] malformed lines.
    pub malformed: Vec<MalformedLine>,
    /// Downloads counted by this run.
    pub downloads: u64,
    /// The batch id (`None` when every log had been ingested already).
    pub batch: Option<String>,
    /// Stats files written.
    pub files_written: usize,
    /// The bundles whose stats file was written: the catalog documents to update (§10.5, "new
    /// download statistics").
    pub changed: Vec<BundleId>,
    /// The registry's summary after the run.
    pub summary: Summary,
}

/// The archives of the registry: hash -> (id, version), and the path suffix `dl` gives each.
struct Archives {
    by_hash: HashMap<String, usize>,
    entries: Vec<(BundleId, String, String)>,
}

impl Archives {
    fn load(dir: &Path) -> Result<Self, StatsError> {
        let config = RegistryConfig::load(dir)?;
        let names = NamesFile::load(dir)?;
        let mut a = Archives {
            by_hash: HashMap::new(),
            entries: Vec::new(),
        };
        for id in &names.ids {
            let path = dir.join(index_path(id));
            if !path.exists() {
                continue;
            }
            let index = IndexFile::load(&path, Some(id))?;
            for l in index.versions() {
                let url = config.download_url(&l.sha256);
                let suffix = match url.split_once("://") {
                    Some((_, rest)) => rest
                        .find('/')
                        .map_or("/".to_string(), |i| rest[i..].to_string()),
                    None => format!("/{url}"),
                };
                a.by_hash.insert(l.sha256.clone(), a.entries.len());
                a.entries.push((id.clone(), l.version.to_string(), suffix));
            }
        }
        Ok(a)
    }

    /// The archive a request path is for, if any.
    fn find(&self, path: &str) -> Option<usize> {
        let last = path.rsplit('/').next()?;
        let hash = hex_run(last)?;
        let i = *self.by_hash.get(hash)?;
        path.ends_with(self.entries[i].2.as_str()).then_some(i)
    }
}

/// The first run of exactly 64 lower-case hex digits in `s`.
fn hex_run(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
    let mut i = 0;
    while i < b.len() {
        if hex(b[i]) {
            let start = i;
            while i < b.len() && hex(b[i]) {
                i += 1;
            }
            if i - start == 64 {
                return Some(&s[start..i]);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// A log opened for reading, decompressed when it starts with the gzip magic bytes.
fn open_log(path: &Path) -> Result<Box<dyn BufRead>, StatsError> {
    let f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut r = BufReader::with_capacity(64 * 1024, f);
    let head = r.fill_buf().map_err(io_err(path))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(BufReader::with_capacity(
            64 * 1024,
            flate2::bufread::MultiGzDecoder::new(r),
        )))
    } else {
        Ok(Box::new(r))
    }
}

/// Reads one line into `buf` (at most [`MAX_LOG_LINE`] bytes kept), feeding every byte to
/// `hash`. Returns (bytes consumed, ended with `\n`, too long); 0 bytes at the end.
fn next_line(
    r: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    hash: &mut Sha256,
) -> std::io::Result<(u64, bool, bool)> {
    buf.clear();
    let (mut consumed, mut too_long) = (0u64, false);
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok((consumed, false, too_long));
        }
        let (take, done) = match avail.iter().position(|&c| c == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        hash.update(&avail[..take]);
        let content = if done {
            &avail[..take - 1]
        } else {
            &avail[..take]
        };
        if buf.len() + content.len() > MAX_LOG_LINE {
            too_long = true;
        } else if !too_long {
            buf.extend_from_slice(content);
        }
        r.consume(take);
        consumed += take as u64;
        if done {
            return Ok((consumed, true, too_long));
        }
    }
}

/// The ledger by first-line hash, then by length: the hashes of the slices ingested.
type Known = HashMap<String, HashMap<u64, Vec<String>>>;

/// Counts of one log: (archive, day) -> downloads.
type Counts = HashMap<(usize, Day), u64>;

struct LogResult {
    report: LogReport,
    counts: Counts,
    malformed: Vec<MalformedLine>,
    slice: Option<(LedgerEntry, u64)>,
}

/// Where reading a log starts: after the longest prefix the ledger lists (0 when none).
struct Prefix {
    /// Length of that prefix.
    skip: u64,
    /// The reader, hash and line count right after it, when the prefix pass stopped there
    /// (the usual case of a log ingested whole before), so it is not read twice.
    resume: Option<(Box<dyn BufRead>, Sha256, u64)>,
    /// The last CloudFront `#Fields` line of the prefix (it names the new lines' columns).
    fields: Option<String>,
    /// The hash of the log's first line (none when it has no complete line).
    head: Option<String>,
}

/// Finds the ingested prefix with a pass that only splits lines and hashes, so a log ingested
/// before is not parsed again.
fn ingested_prefix(path: &Path, known: &Known) -> Result<Prefix, StatsError> {
    let mut p = Prefix {
        skip: 0,
        resume: None,
        fields: None,
        head: None,
    };
    let mut r = open_log(path)?;
    let (mut hash, mut buf) = (Sha256::new(), Vec::new());
    let (mut offset, mut line_no, mut fields) = (0u64, 0u64, None);
    let mut clean = true;
    // The first line says which ledger entries this log may continue.
    let (n, complete, _) =
        next_line(&mut *r, &mut buf, &mut hash).map_err(|e| StatsError::Log {
            file: path.display().to_string(),
            message: format!("cannot read: {e}"),
        })?;
    if !complete {
        return Ok(p);
    }
    let head = hex(&Sha256::digest(&buf));
    p.head = Some(head.clone());
    let Some(ledger) = known.get(&head) else {
        return Ok(p);
    };
    let max = ledger.keys().copied().max().unwrap_or(0);
    offset += n;
    line_no += 1;
    if buf.starts_with(b"#Fields:") {
        fields = Some(String::from_utf8_lossy(&buf).into_owned());
    }
    if let Some(hashes) = ledger.get(&offset)
        && hashes.contains(&hex(&hash.clone().finalize()))
    {
        p.skip = offset;
        p.fields = fields.clone();
    }
    while offset < max {
        let (n, complete, _) =
            next_line(&mut *r, &mut buf, &mut hash).map_err(|e| StatsError::Log {
                file: path.display().to_string(),
                message: format!("cannot read after byte {offset}: {e}"),
            })?;
        if n == 0 || !complete {
            clean = n == 0;
            break;
        }
        offset += n;
        line_no += 1;
        if buf.starts_with(b"#Fields:") {
            fields = Some(String::from_utf8_lossy(&buf).into_owned());
        }
        if let Some(hashes) = ledger.get(&offset)
            && hashes.contains(&hex(&hash.clone().finalize()))
        {
            p.skip = offset;
            p.fields = fields.clone();
        }
    }
    if clean && p.skip == offset && offset > 0 {
        p.resume = Some((r, hash, line_no));
    }
    Ok(p)
}

fn read_log(
    path: &Path,
    archives: &Archives,
    ledger: &Known,
    opts: &IngestOptions,
) -> Result<LogResult, StatsError> {
    let file = path.display().to_string();
    let prefix = ingested_prefix(path, ledger)?;
    let skip = prefix.skip;
    let mut parser = Parser::new(opts.format);
    if let Some(f) = &prefix.fields {
        parser.line(f);
    }
    let mut buf = Vec::new();
    let (mut r, mut hash, mut offset, mut line_no) = match prefix.resume {
        Some((r, hash, lines)) => (r, hash, skip, lines),
        None => (open_log(path)?, Sha256::new(), 0u64, 0u64),
    };
    let mut counts = Counts::new();
    let mut malformed = Vec::new();
    let (mut records, mut bad, mut lines, mut downloads) = (0u64, 0u64, 0u64, 0u64);
    let latest = opts.today.plus(1);
    loop {
        let before = hash.clone();
        let (n, complete, too_long) =
            next_line(&mut *r, &mut buf, &mut hash).map_err(|e| StatsError::Log {
                file: file.clone(),
                message: format!("cannot read after byte {offset}: {e}"),
            })?;
        if n == 0 {
            break;
        }
        if !complete {
            // A torn last line: left for the next run, and not part of the hashed slice.
            hash = before;
            break;
        }
        offset += n;
        line_no += 1;
        if offset <= skip {
            // Ingested by an earlier run: hashed (the new slice's hash covers the whole prefix),
            // not parsed.
            continue;
        }
        let mut bad_line = |reason| {
            bad += 1;
            if malformed.len() < MAX_REPORTED {
                malformed.push(MalformedLine {
                    file: file.clone(),
                    line: line_no,
                    reason,
                });
            }
        };
        if too_long {
            lines += 1;
            bad_line("line longer than 64 KiB");
            continue;
        }
        let text = String::from_utf8_lossy(&buf);
        match parser.line(&text) {
            Line::Skip => {}
            Line::Malformed(why) => {
                lines += 1;
                bad_line(why);
            }
            Line::Record(rec) => {
                lines += 1;
                if rec.day > latest {
                    bad_line("dated after tomorrow");
                    continue;
                }
                records += 1;
                if rec.method == "GET"
                    && rec.status == 200
                    && let Some(a) = archives.find(rec.path)
                {
                    *counts.entry((a, rec.day)).or_default() += 1;
                    downloads += 1;
                }
            }
        }
    }
    if lines > 0 && bad == lines {
        return Err(StatsError::Log {
            file,
            message: format!(
                "none of its {lines} record line(s) is a {} log line (first: line {}: {})",
                match parser.format() {
                    LogFormat::Auto => "recognised",
                    f => f.as_str(),
                },
                malformed.first().map_or(0, |m| m.line),
                malformed.first().map_or("", |m| m.reason)
            ),
        });
    }
    let slice = (offset > skip).then(|| {
        (
            LedgerEntry {
                sha256: hex(&hash.finalize()),
                bytes: offset,
                head: prefix.head.clone().unwrap_or_default(),
            },
            skip,
        )
    });
    Ok(LogResult {
        report: LogReport {
            file,
            format: parser.format(),
            already_ingested: skip,
            new_bytes: offset - skip,
            records,
            downloads,
            malformed: bad,
        },
        counts,
        malformed,
        slice,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every stats file of the registry, as (relative path, id) pairs.
fn stats_files(dir: &Path) -> Result<Vec<(String, BundleId)>, StatsError> {
    let mut out = Vec::new();
    let root = dir.join("stats");
    let list = |p: &Path| -> Result<Vec<(String, bool)>, StatsError> {
        match std::fs::read_dir(p) {
            Ok(rd) => rd
                .map(|e| {
                    let e = e.map_err(io_err(p))?;
                    let is_dir = e.file_type().map_err(io_err(p))?.is_dir();
                    Ok((e.file_name().to_string_lossy().into_owned(), is_dir))
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io_err(p)(e)),
        }
    };
    for (a, a_dir) in list(&root)? {
        if !a_dir || a.starts_with('.') {
            continue;
        }
        for (b, b_dir) in list(&root.join(&a))? {
            if !b_dir || b.starts_with('.') {
                continue;
            }
            for (name, is_dir) in list(&root.join(&a).join(&b))? {
                if is_dir || name.starts_with('.') {
                    continue;
                }
                let rel = format!("stats/{a}/{b}/{name}");
                let id = name
                    .strip_suffix(".json")
                    .and_then(|n| BundleId::parse(n).ok())
                    .filter(|id| stats_path(id) == rel)
                    .ok_or_else(|| StatsError::Malformed {
                        file: rel.clone(),
                        message: "not a stats file name of §11.1 (stats/<aa>/<bb>/<id>.json)"
                            .into(),
                    })?;
                out.push((rel, id));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Ingests `logs` into the registry at `dir` (see the module documentation).
pub fn ingest(
    dir: &Path,
    logs: &[PathBuf],
    opts: &IngestOptions,
) -> Result<IngestReport, StatsError> {
    // A directory that is not a registry gets no lock file.
    RegistryConfig::load(dir)?;
    let _lock = crate::lock(dir)?;
    let archives = Archives::load(dir)?;
    let mut ledger = match read_opt(dir, LEDGER_PATH, files::MAX_LEDGER_FILE)? {
        Some(b) => Ledger::parse(&b, LEDGER_PATH)?,
        None => Ledger::default(),
    };
    let old_summary = match read_opt(dir, SUMMARY_PATH, files::MAX_SUMMARY_FILE)? {
        Some(b) => Summary::parse(&b, SUMMARY_PATH)?,
        None => Summary {
            v: files::FORMAT,
            ..Summary::default()
        },
    };
    let mut known: Known = HashMap::new();
    for e in &ledger.logs {
        known
            .entry(e.head.clone())
            .or_default()
            .entry(e.bytes)
            .or_default()
            .push(e.sha256.clone());
    }

    // Read every log before writing anything: a log that is not a log stops the run unchanged.
    let mut results = Vec::new();
    for path in logs {
        results.push(read_log(path, &archives, &known, opts)?);
    }
    let slices: Vec<&(LedgerEntry, u64)> =
        results.iter().filter_map(|r| r.slice.as_ref()).collect();
    let batch = (!slices.is_empty()).then(|| {
        let mut h = Sha256::new();
        for (e, start) in &slices {
            h.update(format!("{} {} {}\n", e.sha256, start, e.bytes));
        }
        hex(&h.finalize())[..16].to_string()
    });

    // Per bundle: (version, day) -> downloads.
    let mut add: BTreeMap<BundleId, Vec<(String, Day, u64)>> = BTreeMap::new();
    let (mut first, mut last) = (
        old_summary.first_day.as_deref().and_then(Day::parse),
        old_summary.last_day.as_deref().and_then(Day::parse),
    );
    for r in &results {
        for (&(a, day), &n) in &r.counts {
            let (id, version, _) = &archives.entries[a];
            add.entry(id.clone())
                .or_default()
                .push((version.clone(), day, n));
            first = Some(first.map_or(day, |f| f.min(day)));
            last = Some(last.map_or(day, |l| l.max(day)));
        }
    }

    let mut files_written = 0;
    let mut changed = Vec::new();
    let mut summary = Summary {
        v: files::FORMAT,
        first_day: first.map(|d| d.to_string()),
        last_day: last.map(|d| d.to_string()),
        logs: old_summary.logs + slices.len() as u64,
        ..Summary::default()
    };
    let mut trending: Vec<(f64, BundleId)> = Vec::new();
    if let (Some(as_of), Some(batch)) = (last, batch.as_deref()) {
        let mut existing = stats_files(dir)?;
        for id in add.keys() {
            let rel = stats_path(id);
            if !existing.iter().any(|(r, _)| *r == rel) {
                existing.push((rel, id.clone()));
            }
        }
        for (rel, id) in existing {
            let old = read_opt(dir, &rel, files::MAX_STATS_FILE)?;
            let mut s = match &old {
                Some(b) => StatsFile::parse(b, &rel, &id)?,
                None => StatsFile::new(id.clone(), as_of),
            };
            if let Some(adds) = add.get(&id)
                && !s.batches.iter().any(|b| b == batch)
            {
                for (v, d, n) in adds {
                    s.add(v, *d, *n);
                }
                s.batches.push(batch.to_string());
                let extra = s.batches.len().saturating_sub(MAX_BATCHES);
                s.batches.drain(..extra);
            }
            s.recompute(as_of);
            if write_if_changed(dir, &rel, &s.to_json(), old.as_deref())? {
                files_written += 1;
                changed.push(id.clone());
            }
            summary.downloads += s.downloads;
            summary.last_30_days += s.last_30_days;
            summary.bundles += 1;
            if s.last_7_days >= 10 {
                trending.push((s.trend, id));
            }
        }
        trending.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        summary.trending = trending.into_iter().take(20).map(|(_, id)| id).collect();
        let old = read_opt(dir, SUMMARY_PATH, files::MAX_SUMMARY_FILE)?;
        write_if_changed(dir, SUMMARY_PATH, &summary.to_json(), old.as_deref())?;
        for (e, _) in &slices {
            ledger.logs.push(e.clone());
        }
        let extra = ledger.logs.len().saturating_sub(MAX_LEDGER);
        ledger.logs.drain(..extra);
        let path = dir.join(LEDGER_PATH);
        ratchet_formats::fsutil::write_atomic(&path, &ledger.to_json()).map_err(io_err(&path))?;
    } else {
        summary = old_summary;
        if !slices.is_empty() {
            // New lines, but no download among them: remember them all the same.
            for (e, _) in &slices {
                ledger.logs.push(e.clone());
            }
            summary.logs += slices.len() as u64;
            summary.v = files::FORMAT;
            let old = read_opt(dir, SUMMARY_PATH, files::MAX_SUMMARY_FILE)?;
            write_if_changed(dir, SUMMARY_PATH, &summary.to_json(), old.as_deref())?;
            let path = dir.join(LEDGER_PATH);
            ratchet_formats::fsutil::write_atomic(&path, &ledger.to_json())
                .map_err(io_err(&path))?;
        }
    }
    let mut malformed = Vec::new();
    for r in &results {
        for m in &r.malformed {
            if malformed.len() < MAX_REPORTED {
                malformed.push(m.clone());
            }
        }
    }
    Ok(IngestReport {
        downloads: results.iter().map(|r| r.report.downloads).sum(),
        logs: results.into_iter().map(|r| r.report).collect(),
        malformed,
        batch,
        files_written,
        changed,
        summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_runs() {
        let h = "a".repeat(64);
        assert_eq!(hex_run(&format!("{h}.rbundle")), Some(h.as_str()));
        assert_eq!(hex_run(&format!("x{h}")), Some(h.as_str()));
        assert_eq!(hex_run(&format!("{h}a.rbundle")), None);
        assert_eq!(hex_run("names.txt"), None);
    }

    #[test]
    fn long_lines_are_cut_but_hashed() {
        let text = format!("{}\nshort\ntorn", "x".repeat(MAX_LOG_LINE + 10));
        let mut r: &[u8] = text.as_bytes();
        let (mut buf, mut h) = (Vec::new(), Sha256::new());
        let (n, done, long) = next_line(&mut r, &mut buf, &mut h).unwrap();
        assert_eq!((n as usize, done, long), (MAX_LOG_LINE + 11, true, true));
        assert_eq!(
            next_line(&mut r, &mut buf, &mut h).unwrap(),
            (6, true, false)
        );
        assert_eq!(buf, b"short");
        assert_eq!(
            next_line(&mut r, &mut buf, &mut h).unwrap(),
            (4, false, false)
        );
        assert_eq!(
            next_line(&mut r, &mut buf, &mut h).unwrap(),
            (0, false, false)
        );
    }
}
