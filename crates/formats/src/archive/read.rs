//! Reading an archive from untrusted bytes: everything is checked in memory, under limits,
//! before a single file is written.

use super::paths::{Clash, EntryPathProblem, PathSet, check_entry_path};
use super::{
    ArchiveError, CHECKSUM_FILE, ChecksumListProblem, Corruption, DIR_MODE, DeclaredKind,
    FILE_MODE, Limits, MANIFEST_JSON, ManifestProblem, PaxProblem, SIGNATURE_FILE,
    VERIFICATION_JSON, parse_checksum_list, sha256_hex,
};
use crate::manifest::{MANIFEST_FILE, RESOLVED_MANIFEST_FORMAT, ResolvedManifest};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// A fully verified archive, held in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleArchive {
    /// `.bundle/manifest.json`.
    pub manifest: ResolvedManifest,
    /// Every regular file, keyed by its `/`-separated path: the bundle's files, the `.bundle/`
    /// metadata and `bundle.sig` when present.
    pub files: BTreeMap<String, Vec<u8>>,
    /// `bundle.sig`, when present (not covered by the checksum list: it signs it).
    pub signature: Option<Vec<u8>>,
}

/// Reads and fully verifies an archive without touching the disk: the limits, entry types and
/// paths, duplicates, the checksum of every file against `.bundle/checksum.sha256` (which must
/// list every file but itself and `bundle.sig`), and `.bundle/manifest.json`.
pub fn read_archive<R: Read>(r: R, limits: &Limits) -> Result<BundleArchive, ArchiveError> {
    read_archive_unparsed(r, limits)?.parse_manifest()
}

/// An archive whose tar structure, limits, paths and checksums are verified, but whose
/// manifests are not parsed yet: a caller can check `bundle.sig` over the checksum list first
/// (binding it to the id and version it expects), then [`CheckedArchive::parse_manifest`].
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedArchive {
    files: BTreeMap<String, Vec<u8>>,
}

impl CheckedArchive {
    /// The raw `.bundle/checksum.sha256` (what `bundle.sig` signs; checked to list every file).
    pub fn checksum_list(&self) -> &[u8] {
        self.files.get(CHECKSUM_FILE).map_or(&[], Vec::as_slice)
    }

    /// `bundle.sig`, when present.
    pub fn signature(&self) -> Option<&[u8]> {
        self.files.get(SIGNATURE_FILE).map(Vec::as_slice)
    }

    /// Parses and checks `.bundle/manifest.json` and `bundle.yaml` (see [`read_archive`]).
    pub fn parse_manifest(self) -> Result<BundleArchive, ArchiveError> {
        parse_manifests(self.files)
    }
}

/// The first half of [`read_archive`]: everything but parsing the manifests.
pub fn read_archive_unparsed<R: Read>(
    r: R,
    limits: &Limits,
) -> Result<CheckedArchive, ArchiveError> {
    let archive_over = Rc::new(Cell::new(false));
    let unpacked_over = Rc::new(Cell::new(false));
    let compressed = BufReader::with_capacity(
        64 << 10,
        Limited::new(r, limits.max_archive_bytes, archive_over.clone()),
    );
    let gz = flate2::bufread::GzDecoder::new(compressed);
    let mut tar = tar::Archive::new(Limited::new(
        gz,
        limits.max_unpacked_bytes,
        unpacked_over.clone(),
    ));

    let mut last: Option<String> = None;
    let fail = |last: &Option<String>, e: io::Error| -> ArchiveError {
        if archive_over.get() {
            ArchiveError::ArchiveTooLarge {
                name: "stream".into(),
                limit: limits.max_archive_bytes,
            }
        } else if unpacked_over.get() {
            ArchiveError::UnpackedTooLarge {
                entry: last.clone().unwrap_or_else(|| "(first entry)".into()),
                limit: limits.max_unpacked_bytes,
            }
        } else {
            ArchiveError::Malformed {
                where_: match last {
                    Some(name) => format!("after entry `{name}`"),
                    None => "at the start".into(),
                },
                problem: Corruption::Decode(e),
            }
        }
    };

    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut seen = PathSet::default();
    let mut count = 0usize;
    // Raw iteration: the tar crate would read GNU long names and PAX headers into memory
    // whatever size they declare. Here every extension header's declared size is checked
    // against its own limit before a byte of it is read.
    let entries = tar.entries().map_err(|e| fail(&last, e))?.raw(true);
    let mut ext = Extensions::default();
    let mut header_no = 0usize;
    for entry in entries {
        let mut entry = entry.map_err(|e| fail(&last, e))?;
        header_no += 1;
        let kind = entry.header().entry_type();
        let own_name = String::from_utf8_lossy(&entry.header().path_bytes()).into_owned();
        let declared = entry.size();
        let bad_ext = |problem: PaxProblem| ArchiveError::BadExtendedHeader {
            entry: own_name.clone(),
            header: header_no,
            problem,
        };
        let ext_kind = match kind {
            tar::EntryType::GNULongName => Some((DeclaredKind::LongName, MAX_LONG_NAME_BYTES)),
            tar::EntryType::GNULongLink => Some((DeclaredKind::LongLink, MAX_LONG_NAME_BYTES)),
            tar::EntryType::XHeader => Some((DeclaredKind::PaxHeader, MAX_PAX_HEADER_BYTES)),
            _ => None,
        };
        if let Some((what, limit)) = ext_kind {
            if declared > limit {
                return Err(ArchiveError::DeclaredTooLarge {
                    entry: own_name,
                    header: header_no,
                    what,
                    size: declared,
                    limit,
                });
            }
            let mut data = Vec::with_capacity(declared as usize);
            entry.read_to_end(&mut data).map_err(|e| fail(&last, e))?;
            if data.len() as u64 != declared {
                return Err(ArchiveError::Malformed {
                    where_: format!("at extension header `{own_name}` (tar header {header_no})"),
                    problem: Corruption::TruncatedEntry,
                });
            }
            ext.add(what, data).map_err(bad_ext)?;
            ext.last = Some((own_name, header_no));
            continue;
        }
        let Extensions {
            long_name,
            long_link,
            pax,
            last: _,
        } = std::mem::take(&mut ext);
        let mut pax = pax.unwrap_or_default();
        let take = |pax: &mut Vec<(String, Vec<u8>)>, key: &str| {
            pax.iter()
                .position(|(k, _)| k == key)
                .map(|i| pax.remove(i).1)
        };
        let pax_path = take(&mut pax, "path");
        let pax_link = take(&mut pax, "linkpath");
        if let Some(size) = take(&mut pax, "size")
            && size != declared.to_string().as_bytes()
        {
            return Err(bad_ext(PaxProblem::Unsupported { key: "size".into() }));
        }
        if let Some((key, _)) = pax.iter().find(|(k, _)| k.starts_with("GNU.sparse.")) {
            return Err(bad_ext(PaxProblem::Unsupported { key: key.clone() }));
        }
        let raw = match (pax_path, long_name) {
            (Some(_), Some(_)) => return Err(bad_ext(PaxProblem::Repeated { what: "path" })),
            (Some(p), None) => p,
            (None, Some(l)) => l,
            (None, None) => entry.header().path_bytes().into_owned(),
        };
        let link = match (pax_link, long_link) {
            (Some(_), Some(_)) => {
                return Err(bad_ext(PaxProblem::Repeated { what: "link name" }));
            }
            (Some(l), None) | (None, Some(l)) => Some(l),
            (None, None) => entry.header().link_name_bytes().map(|l| l.into_owned()),
        };
        let shown = String::from_utf8_lossy(&raw).into_owned();
        count += 1;
        if count > limits.max_entries {
            return Err(ArchiveError::TooManyEntries {
                entry: shown,
                limit: limits.max_entries,
            });
        }
        let Ok(name) = String::from_utf8(raw) else {
            return Err(ArchiveError::UnsafePath {
                entry: shown,
                reason: EntryPathProblem::NotUtf8,
            });
        };
        let is_dir = match kind {
            tar::EntryType::Regular => false,
            tar::EntryType::Directory => true,
            other => {
                let link = link.map(|l| String::from_utf8_lossy(&l).into_owned());
                return Err(ArchiveError::ForbiddenEntryType {
                    entry: name,
                    kind: describe(other, link),
                });
            }
        };
        let path = if is_dir {
            name.strip_suffix('/').unwrap_or(&name)
        } else {
            name.as_str()
        };
        check_entry_path(path).map_err(|reason| ArchiveError::UnsafePath {
            entry: name.clone(),
            reason,
        })?;
        seen.add(path, is_dir).map_err(|clash| match clash {
            Clash::Duplicate(first) => ArchiveError::DuplicateEntry {
                entry: name.clone(),
                first,
            },
            Clash::Conflict(prefix) => ArchiveError::PathConflict {
                entry: name.clone(),
                prefix,
            },
        })?;
        let size = declared;
        if size > limits.max_unpacked_bytes {
            return Err(ArchiveError::UnpackedTooLarge {
                entry: name,
                limit: limits.max_unpacked_bytes,
            });
        }
        // Files with a smaller limit of their own are refused on the declared size too.
        if path == SIGNATURE_FILE && size > MAX_SIGNATURE_BYTES {
            return Err(ArchiveError::DeclaredTooLarge {
                entry: name,
                header: header_no,
                what: DeclaredKind::Signature,
                size,
                limit: MAX_SIGNATURE_BYTES,
            });
        }
        if (path == MANIFEST_FILE || path == MANIFEST_JSON) && size > MAX_MANIFEST_BYTES as u64 {
            return Err(ArchiveError::BadManifest {
                entry: path.to_string(),
                problem: Box::new(too_big(usize::try_from(size).unwrap_or(usize::MAX))),
            });
        }
        last = Some(name.clone());
        if is_dir {
            if size != 0 {
                return Err(ArchiveError::Malformed {
                    where_: format!("at entry `{name}`"),
                    problem: Corruption::DirectoryHasContent,
                });
            }
            continue;
        }
        let mut data = Vec::with_capacity(size.min(16 << 20) as usize);
        entry.read_to_end(&mut data).map_err(|e| fail(&last, e))?;
        if data.len() as u64 != size {
            return Err(ArchiveError::Malformed {
                where_: format!("at entry `{name}`"),
                problem: Corruption::TruncatedEntry,
            });
        }
        files.insert(path.to_string(), data);
    }
    if let Some((entry, header)) = ext.last {
        return Err(ArchiveError::BadExtendedHeader {
            entry,
            header,
            problem: PaxProblem::Orphan,
        });
    }

    // After the end-of-archive marker: only zero padding, then the end of the gzip stream (which
    // checks its CRC), then nothing.
    // The tar crate stops at the first zero block; the second must follow (GNU tar refuses an
    // archive without them: it is truncated).
    let mut rest = tar.into_inner();
    let mut buf = [0u8; 8192];
    let mut zeros = 0usize;
    loop {
        let n = rest.read(&mut buf).map_err(|e| fail(&last, e))?;
        if n == 0 {
            if zeros < 512 {
                return Err(ArchiveError::NoEndOfArchive { last });
            }
            break;
        }
        zeros += n;
        if buf[..n].iter().any(|b| *b != 0) {
            return Err(ArchiveError::TrailingData {
                what: "after the end of the tar archive",
            });
        }
    }
    let mut compressed = rest.inner.into_inner();
    let leftover = compressed.fill_buf().map_err(|e| fail(&last, e))?;
    if !leftover.is_empty() {
        return Err(ArchiveError::TrailingData {
            what: "after the end of the gzip stream",
        });
    }

    verify_checksums(&files)?;
    Ok(CheckedArchive { files })
}

/// Largest GNU long name or long link name (`L`/`K` header) a reader reads (4 KiB).
pub const MAX_LONG_NAME_BYTES: u64 = 4 << 10;
/// Largest PAX extended header (`x`) a reader reads (64 KiB).
pub const MAX_PAX_HEADER_BYTES: u64 = 64 << 10;
/// Largest `bundle.sig` a reader reads (16 KiB; a minisign signature is under 1 KiB).
pub const MAX_SIGNATURE_BYTES: u64 = 16 << 10;

/// Extension headers seen since the last member: each kind at most once.
#[derive(Default)]
struct Extensions {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<(String, Vec<u8>)>>,
    /// The last extension header's own name and position.
    last: Option<(String, usize)>,
}

impl Extensions {
    fn add(&mut self, what: DeclaredKind, data: Vec<u8>) -> Result<(), PaxProblem> {
        match what {
            DeclaredKind::LongName | DeclaredKind::LongLink => {
                let slot = if what == DeclaredKind::LongName {
                    &mut self.long_name
                } else {
                    &mut self.long_link
                };
                if slot.is_some() {
                    return Err(PaxProblem::Repeated {
                        what: if what == DeclaredKind::LongName {
                            "GNU long name"
                        } else {
                            "GNU long link"
                        },
                    });
                }
                // The name is NUL-terminated (and may be NUL-padded).
                let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
                let mut data = data;
                data.truncate(end);
                *slot = Some(data);
            }
            _ => {
                if self.pax.is_some() {
                    return Err(PaxProblem::Repeated { what: "PAX header" });
                }
                self.pax = Some(parse_pax(&data)?);
            }
        }
        Ok(())
    }
}

/// Parses PAX records (`<len> <key>=<value>\n`, `<len>` counting the whole record) as strictly
/// as GNU tar: a bad length, a missing `=` or newline, a non-UTF-8 key or a repeated key refuses
/// the header.
pub(crate) fn parse_pax(mut data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, PaxProblem> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut record = 0usize;
    while !data.is_empty() {
        record += 1;
        let digits = data.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 20 || data.get(digits) != Some(&b' ') {
            return Err(PaxProblem::BadLength { record });
        }
        let len: usize = std::str::from_utf8(&data[..digits])
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or(PaxProblem::BadLength { record })?;
        // At least `<digits> =\n`.
        if len < digits + 3 || len > data.len() {
            return Err(PaxProblem::BadLength { record });
        }
        let (rec, rest) = data.split_at(len);
        data = rest;
        let Some((b'\n', body)) = rec[digits + 1..].split_last() else {
            return Err(PaxProblem::NoNewline { record });
        };
        let Some(eq) = body.iter().position(|b| *b == b'=') else {
            return Err(PaxProblem::NoEquals { record });
        };
        if eq == 0 {
            return Err(PaxProblem::NoEquals { record });
        }
        let key = std::str::from_utf8(&body[..eq])
            .map_err(|_| PaxProblem::KeyNotUtf8 { record })?
            .to_string();
        if out.iter().any(|(k, _)| *k == key) {
            return Err(PaxProblem::DuplicateKey { key });
        }
        out.push((key, body[eq + 1..].to_vec()));
    }
    Ok(out)
}

fn describe(kind: tar::EntryType, link: Option<String>) -> String {
    let to = |what: &str| match &link {
        Some(l) => format!("{what} (to `{l}`)"),
        None => what.to_string(),
    };
    match kind {
        tar::EntryType::Symlink => to("symbolic link"),
        tar::EntryType::Link => to("hard link"),
        tar::EntryType::Char => "character device".into(),
        tar::EntryType::Block => "block device".into(),
        tar::EntryType::Fifo => "FIFO".into(),
        tar::EntryType::Continuous => "contiguous file".into(),
        tar::EntryType::GNUSparse => "GNU sparse file".into(),
        tar::EntryType::XGlobalHeader => "PAX global header".into(),
        other => format!("type `{}`", other.as_byte().escape_ascii()),
    }
}

/// Checks the checksum list against the files.
fn verify_checksums(files: &BTreeMap<String, Vec<u8>>) -> Result<(), ArchiveError> {
    let list = files.get(CHECKSUM_FILE).ok_or(ArchiveError::MissingEntry {
        entry: CHECKSUM_FILE.into(),
        reason: "every archive carries the checksum list of its files",
    })?;
    let parsed = parse_checksum_list(list)?;
    if let Some(line) = parsed
        .iter()
        .position(|(p, _)| p == CHECKSUM_FILE || p == SIGNATURE_FILE)
    {
        return Err(ArchiveError::BadChecksumList {
            line: line + 1,
            reason: ChecksumListProblem::ListsItself {
                path: parsed[line].0.clone(),
            },
        });
    }
    let listed: HashMap<String, String> = parsed.into_iter().collect();
    for (path, data) in files {
        if path == CHECKSUM_FILE || path == SIGNATURE_FILE {
            continue;
        }
        let Some(expected) = listed.get(path) else {
            return Err(ArchiveError::NotListed {
                entry: path.clone(),
            });
        };
        let actual = sha256_hex(data);
        if &actual != expected {
            return Err(ArchiveError::ChecksumMismatch {
                entry: path.clone(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    let mut missing: Vec<&String> = listed.keys().filter(|p| !files.contains_key(*p)).collect();
    missing.sort();
    if let Some(p) = missing.first() {
        return Err(ArchiveError::MissingEntry {
            entry: (*p).clone(),
            reason: "it is listed in .bundle/checksum.sha256",
        });
    }
    Ok(())
}

/// Parses `.bundle/manifest.json` and `bundle.yaml` and checks they agree with each other and
/// with the files.
fn parse_manifests(files: BTreeMap<String, Vec<u8>>) -> Result<BundleArchive, ArchiveError> {
    let manifest =
        parse_resolved_manifest(files.get(MANIFEST_JSON).ok_or(ArchiveError::MissingEntry {
            entry: MANIFEST_JSON.into(),
            reason: "every archive carries its resolved manifest",
        })?)?;
    let yaml = files.get(MANIFEST_FILE).ok_or(ArchiveError::MissingEntry {
        entry: MANIFEST_FILE.into(),
        reason: "every archive carries the bundle's manifest",
    })?;
    let bad_yaml = |problem: ManifestProblem| ArchiveError::BadManifest {
        entry: MANIFEST_FILE.into(),
        problem: Box::new(problem),
    };
    if yaml.len() > MAX_MANIFEST_BYTES {
        return Err(bad_yaml(too_big(yaml.len())));
    }
    let text = std::str::from_utf8(yaml).map_err(|e| bad_yaml(ManifestProblem::NotUtf8(e)))?;
    let source = crate::manifest::parse_manifest(text, MANIFEST_FILE)
        .map_err(|diags| bad_yaml(ManifestProblem::Invalid(diags.into_iter().next())))?;
    if source.id != manifest.bundle.id || source.version != manifest.bundle.version {
        return Err(ArchiveError::BadManifest {
            entry: MANIFEST_JSON.into(),
            problem: Box::new(ManifestProblem::OtherBundle {
                json_id: manifest.bundle.id.to_string(),
                json_version: manifest.bundle.version.clone(),
                yaml_id: source.id.to_string(),
                yaml_version: source.version.clone(),
            }),
        });
    }
    // Readers show and enforce the resolved manifest (permissions, limits, dependencies): it
    // must say exactly what the bundle's own bundle.yaml says.
    if source != manifest.bundle {
        return Err(ArchiveError::BadManifest {
            entry: MANIFEST_JSON.into(),
            problem: Box::new(ManifestProblem::Disagrees),
        });
    }
    for (field, p) in manifest.bundle.named_paths() {
        let p = p.trim_start_matches("./").trim_end_matches('/');
        let dir = format!("{p}/");
        if !files.contains_key(p) && !files.keys().any(|k| k.starts_with(&dir)) {
            return Err(ArchiveError::BadManifest {
                entry: MANIFEST_FILE.into(),
                problem: Box::new(ManifestProblem::NamedPathMissing {
                    field,
                    path: p.to_string(),
                }),
            });
        }
    }
    let signature = files.get(SIGNATURE_FILE).cloned();
    Ok(BundleArchive {
        manifest,
        files,
        signature,
    })
}

/// Largest `bundle.yaml` or `.bundle/manifest.json` a reader parses (1 MiB).
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;

fn too_big(size: usize) -> ManifestProblem {
    ManifestProblem::TooLarge {
        size,
        max: MAX_MANIFEST_BYTES,
    }
}

/// Parses `.bundle/manifest.json`: a supported `format_version`, a valid manifest, safe paths.
/// Public for the fuzz target of this reader (`crates/fuzz-entry`).
pub fn parse_resolved_manifest(bytes: &[u8]) -> Result<ResolvedManifest, ArchiveError> {
    let bad = |problem: ManifestProblem| ArchiveError::BadManifest {
        entry: MANIFEST_JSON.into(),
        problem: Box::new(problem),
    };
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(bad(too_big(bytes.len())));
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| bad(ManifestProblem::NotJson(e)))?;
    match value
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(v) if (1..=u64::from(RESOLVED_MANIFEST_FORMAT)).contains(&v) => {}
        Some(v) => {
            return Err(bad(ManifestProblem::UnsupportedFormat {
                found: v,
                supported: RESOLVED_MANIFEST_FORMAT,
            }));
        }
        None => return Err(bad(ManifestProblem::NoFormatVersion)),
    }
    let m: ResolvedManifest =
        serde_json::from_value(value).map_err(|e| bad(ManifestProblem::Schema(e)))?;
    for (field, p) in m.bundle.named_paths() {
        crate::manifest::check_rel_path(p)
            .map_err(|reason| bad(ManifestProblem::UnsafeNamedPath { field, reason }))?;
    }
    Ok(m)
}

/// Reads and verifies the archive file at `path` (see [`read_archive`]).
pub fn read_archive_file(path: &Path, limits: &Limits) -> Result<BundleArchive, ArchiveError> {
    let file = std::fs::File::open(path).map_err(ArchiveError::io(path))?;
    let len = file.metadata().map_err(ArchiveError::io(path))?.len();
    if len > limits.max_archive_bytes {
        return Err(ArchiveError::ArchiveTooLarge {
            name: path.display().to_string(),
            limit: limits.max_archive_bytes,
        });
    }
    read_archive(file, limits)
}

impl BundleArchive {
    /// The raw `.bundle/checksum.sha256` (what `bundle.sig` signs).
    pub fn checksum_list(&self) -> &[u8] {
        self.files.get(CHECKSUM_FILE).map_or(&[], Vec::as_slice)
    }

    /// `.bundle/verification.json`, when present.
    pub fn verification(&self) -> Option<&[u8]> {
        self.files.get(VERIFICATION_JSON).map(Vec::as_slice)
    }

    /// Total size of the files, in bytes.
    pub fn content_size(&self) -> u64 {
        self.files.values().map(|d| d.len() as u64).sum()
    }

    /// Writes every file into the new directory `dest` (files 0644, directories 0755): into a
    /// temporary directory beside it first, renamed into place when complete, so `dest` either
    /// does not exist or is complete. `dest` must not exist. Every file is synced to disk.
    pub fn extract_to(&self, dest: &Path) -> Result<(), ArchiveError> {
        self.extract(dest, true)
    }

    /// [`BundleArchive::extract_to`] without syncing each file: for a caller that makes many
    /// extractions durable at once ([`crate::fsutil::sync_filesystem`]) before it relies on
    /// them, or that only reads them back (a temporary copy).
    pub fn extract_to_unsynced(&self, dest: &Path) -> Result<(), ArchiveError> {
        self.extract(dest, false)
    }

    fn extract(&self, dest: &Path, durable: bool) -> Result<(), ArchiveError> {
        if dest.symlink_metadata().is_ok() {
            return Err(ArchiveError::DestinationExists {
                path: dest.to_path_buf(),
            });
        }
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        // Asking for DIR_MODE: a parent made here under a permissive umask (000, 002) must not
        // be writable by others, who could then swap the checked tree.
        create_dir_all(&parent).map_err(ArchiveError::io(&parent))?;
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-extract-")
            .tempdir_in(&parent)
            .map_err(ArchiveError::io(&parent))?;
        set_mode(tmp.path(), DIR_MODE)?;
        // Directories this extraction made (inside its own fresh directory): each is created
        // once, not tried again (and checked) for every file in it.
        let mut made: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
        for (rel, data) in &self.files {
            // `files` is public: check again rather than trust whoever filled it.
            check_entry_path(rel).map_err(|reason| ArchiveError::UnsafePath {
                entry: rel.clone(),
                reason,
            })?;
            let mut target = tmp.path().to_path_buf();
            let parts: Vec<&str> = rel.split('/').collect();
            for dir in &parts[..parts.len() - 1] {
                target.push(dir);
                if made.contains(&target) {
                    continue;
                }
                match create_dir(&target) {
                    Ok(()) => {
                        if !umask_keeps(DIR_MODE) {
                            set_mode(&target, DIR_MODE)?;
                        }
                        made.insert(target.clone());
                    }
                    Err(e)
                        if e.kind() == io::ErrorKind::AlreadyExists
                            && target.symlink_metadata().is_ok_and(|m| m.is_dir()) => {}
                    Err(e) => {
                        return Err(ArchiveError::Io {
                            path: target,
                            source: e,
                        });
                    }
                }
            }
            target.push(parts[parts.len() - 1]);
            write_new_file(&target, data, durable)?;
        }
        let kept = tmp.keep();
        if dest.symlink_metadata().is_ok() {
            let _ = std::fs::remove_dir_all(&kept);
            return Err(ArchiveError::DestinationExists {
                path: dest.to_path_buf(),
            });
        }
        std::fs::rename(&kept, dest).map_err(|e| {
            let _ = std::fs::remove_dir_all(&kept);
            ArchiveError::Io {
                path: dest.to_path_buf(),
                source: e,
            }
        })
    }
}

/// Creates `path`, which must not exist (so no collision on any file system overwrites a file).
fn write_new_file(path: &Path, data: &[u8], durable: bool) -> Result<(), ArchiveError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(FILE_MODE);
    }
    let mut f = opts.open(path).map_err(ArchiveError::io(path))?;
    // The umask may have taken bits the mode asked for.
    #[cfg(unix)]
    if !umask_keeps(FILE_MODE) {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))
            .map_err(ArchiveError::io(path))?;
    }
    f.write_all(data).map_err(ArchiveError::io(path))?;
    if durable {
        f.sync_all().map_err(ArchiveError::io(path))?;
    }
    Ok(())
}

/// Creates the directory `path` asking for [`DIR_MODE`] (less the umask), not the usual 0777.
fn create_dir(path: &Path) -> io::Result<()> {
    dir_builder().create(path)
}

/// [`create_dir`] for `path` and every missing directory above it.
fn create_dir_all(path: &Path) -> io::Result<()> {
    dir_builder().recursive(true).create(path)
}

fn dir_builder() -> std::fs::DirBuilder {
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(DIR_MODE);
    }
    b
}

/// Whether a file or directory created with `mode` gets exactly `mode` under this process's
/// umask, so that setting it again after creation (a system call per extracted file) is
/// needless. Known on Linux (`/proc/self/status`, read once); elsewhere, or when it cannot be
/// read, the answer is no and the mode is set explicitly.
fn umask_keeps(mode: u32) -> bool {
    static UMASK: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    let umask = UMASK.get_or_init(|| {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
        u32::from_str_radix(line.trim(), 8).ok()
    });
    umask.is_some_and(|u| mode & u == 0)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), ArchiveError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(ArchiveError::io(path))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<(), ArchiveError> {
    Ok(())
}

/// A reader that fails once more than `limit` bytes have come through, and says so in `over`.
struct Limited<R> {
    inner: R,
    left: u64,
    over: Rc<Cell<bool>>,
}

impl<R> Limited<R> {
    fn new(inner: R, limit: u64, over: Rc<Cell<bool>>) -> Self {
        Limited {
            inner,
            left: limit,
            over,
        }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // Ask for one byte more than allowed, to tell "exactly at the limit" from "over it".
        let want = buf
            .len()
            .min(usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            self.over.set(true);
            return Err(io::Error::other("size limit exceeded"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
