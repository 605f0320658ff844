//! The bundle archive, `.rbundle`: a reproducible gzip-compressed tar, read as hostile input.
//!
//! Archives are how bundles travel: `ratchet bundle build` writes one from a bundle directory,
//! registries store them, clients download and unpack them. This module owns the format
//! (normative text: `index-format.md`, section 5):
//!
//! - [`build_archive`] writes the bundle's files (honouring `.ratchetignore`, leaving out VCS
//!   directories) plus the generated `.bundle/manifest.json` and `.bundle/checksum.sha256`, with
//!   every varying detail normalised (entry order, times, owners, modes, gzip header), so the
//!   same sources give byte-identical archives on any machine.
//! - [`read_archive`] reads an archive from untrusted bytes entirely in memory, enforcing
//!   [`Limits`] and rejecting every unsafe or unlisted entry before anything touches the disk;
//!   [`BundleArchive::extract_to`] then writes the verified files into a fresh directory.

mod build;
mod paths;
mod read;

pub use build::{
    BuildOptions, BuiltArchive, DEFAULT_MTIME, Signer, archive_file_name, build_archive,
    build_archive_signed, bundle_files, sources_digest, with_signature,
};
pub use paths::{EntryPathProblem, check_entry_path};
pub use read::{
    BundleArchive, CheckedArchive, MAX_LONG_NAME_BYTES, MAX_MANIFEST_BYTES, MAX_PAX_HEADER_BYTES,
    MAX_SIGNATURE_BYTES, parse_resolved_manifest, read_archive, read_archive_file,
    read_archive_unparsed,
};

use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// File extension of bundle archives (without the dot).
pub const ARCHIVE_EXT: &str = "rbundle";

/// Directory holding the generated metadata inside an archive.
pub const META_DIR: &str = ".bundle";
/// The resolved manifest, JSON ([`crate::manifest::ResolvedManifest`]).
pub const MANIFEST_JSON: &str = ".bundle/manifest.json";
/// SHA-256 of every other entry, in `sha256sum` format.
pub const CHECKSUM_FILE: &str = ".bundle/checksum.sha256";
/// Test results written by `ratchet bundle test`.
pub const VERIFICATION_JSON: &str = ".bundle/verification.json";
/// The author's signature over the checksum list; not itself listed in the checksum list.
pub const SIGNATURE_FILE: &str = "bundle.sig";
/// The ignore file read in every directory of a bundle (gitignore syntax).
pub const IGNORE_FILE: &str = ".ratchetignore";

/// Mode of every regular file in an archive and of every extracted file.
pub const FILE_MODE: u32 = 0o644;
/// Mode of every directory in an archive and of every extracted directory.
pub const DIR_MODE: u32 = 0o755;

/// Directories of version-control systems, never packed.
pub const VCS_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    ".bzr",
    "_darcs",
    "CVS",
    ".jj",
    ".pijul",
    ".fslckout",
];

/// Bounds on what a reader accepts, so a hostile archive cannot exhaust memory or disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most tar entries (files and directories) accepted.
    pub max_entries: usize,
    /// Most bytes of decompressed tar stream accepted (headers and padding included).
    pub max_unpacked_bytes: u64,
    /// Most bytes of compressed archive accepted.
    pub max_archive_bytes: u64,
}

impl Default for Limits {
    /// 10 000 entries, 512 MiB unpacked, 256 MiB compressed.
    fn default() -> Self {
        Limits {
            max_entries: 10_000,
            max_unpacked_bytes: 512 << 20,
            max_archive_bytes: 256 << 20,
        }
    }
}

/// Everything that can go wrong building or reading an archive. Each variant names the file or
/// archive entry concerned.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file in the bundle directory cannot be packed (symbolic link, device, bad name...).
    #[error("cannot pack `{path}`: {problem}")]
    Unpackable {
        /// Path relative to the bundle root.
        path: String,
        /// Why.
        #[source]
        problem: PackProblem,
    },
    /// `SOURCE_DATE_EPOCH` is set but is not a usable time stamp.
    #[error("SOURCE_DATE_EPOCH=`{value}` is not a number of seconds since 1970 (0 to {max})")]
    BadSourceDateEpoch {
        /// The variable's value.
        value: String,
        /// Largest value accepted.
        max: u64,
    },
    /// The archive is not a well-formed gzip-compressed tar.
    #[error("archive is corrupt {where_}: {problem}")]
    Malformed {
        /// Where: `at the start`, `after entry `x``, ...
        where_: String,
        /// What is wrong.
        #[source]
        problem: Corruption,
    },
    /// Bytes follow the end of the gzip stream or the end of the tar archive.
    #[error("archive has data after its end ({what}); refusing it")]
    TrailingData {
        /// Which end.
        what: &'static str,
    },
    /// The compressed archive is larger than [`Limits::max_archive_bytes`].
    #[error("archive {name} is larger than the limit of {limit} bytes")]
    ArchiveTooLarge {
        /// The file, or `stream`.
        name: String,
        /// The limit.
        limit: u64,
    },
    /// The decompressed content would exceed [`Limits::max_unpacked_bytes`] (gzip bomb).
    #[error("entry `{entry}`: decompressed archive exceeds the limit of {limit} bytes")]
    UnpackedTooLarge {
        /// The entry being read when the limit was reached.
        entry: String,
        /// The limit.
        limit: u64,
    },
    /// More entries than [`Limits::max_entries`].
    #[error("entry `{entry}`: archive has more than {limit} entries")]
    TooManyEntries {
        /// The first entry over the limit.
        entry: String,
        /// The limit.
        limit: usize,
    },
    /// An entry's path is absolute, has `..`, is not UTF-8, or is otherwise unsafe.
    #[error("entry `{entry}`: unsafe path: {reason}")]
    UnsafePath {
        /// The path as found (lossily decoded).
        entry: String,
        /// Why.
        #[source]
        reason: EntryPathProblem,
    },
    /// An entry is not a regular file or directory (symbolic link, hard link, device, FIFO...).
    #[error("entry `{entry}`: {kind} entries are not allowed in a bundle archive")]
    ForbiddenEntryType {
        /// The entry.
        entry: String,
        /// What it is (`symbolic link to /etc/passwd`, `character device`, ...).
        kind: String,
    },
    /// The same path twice (compared case-insensitively, as some file systems do).
    #[error("entry `{entry}`: duplicate of entry `{first}`")]
    DuplicateEntry {
        /// The second occurrence.
        entry: String,
        /// The first one.
        first: String,
    },
    /// A path is used both as a file and as a directory.
    #[error("entry `{entry}`: `{prefix}` is both a file and a directory")]
    PathConflict {
        /// The entry.
        entry: String,
        /// The conflicting path.
        prefix: String,
    },
    /// A required metadata entry is missing, or a listed file is absent.
    #[error("entry `{entry}` is missing: {reason}")]
    MissingEntry {
        /// The entry.
        entry: String,
        /// Why it was expected.
        reason: &'static str,
    },
    /// A file entry is not listed in `.bundle/checksum.sha256`.
    #[error("entry `{entry}` is not listed in .bundle/checksum.sha256")]
    NotListed {
        /// The entry.
        entry: String,
    },
    /// A file's SHA-256 differs from the one listed.
    #[error("entry `{entry}`: SHA-256 is {actual}, but .bundle/checksum.sha256 says {expected}")]
    ChecksumMismatch {
        /// The entry.
        entry: String,
        /// Listed hash.
        expected: String,
        /// Hash of the content.
        actual: String,
    },
    /// `.bundle/checksum.sha256` is not in the required format.
    #[error(".bundle/checksum.sha256:{line}: {reason}")]
    BadChecksumList {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        #[source]
        reason: ChecksumListProblem,
    },
    /// `.bundle/manifest.json` (or `bundle.yaml`) is invalid or disagrees with the rest.
    #[error("entry `{entry}`: {problem}")]
    BadManifest {
        /// The entry.
        entry: String,
        /// What is wrong (boxed: it can be large, and errors travel in `Result`s).
        #[source]
        problem: Box<ManifestProblem>,
    },
    /// The extraction destination already exists.
    #[error("{}: already exists; extract into a new directory", path.display())]
    DestinationExists {
        /// The destination.
        path: PathBuf,
    },
    /// A header declares more bytes than its kind may hold (GNU long name, PAX header,
    /// `bundle.sig`); refused before any of them is read. (An oversized manifest is
    /// [`ManifestProblem::TooLarge`], also refused on its declared size.)
    #[error(
        "entry `{entry}` (tar header {header}): {what} declares {size} bytes; at most {limit} are accepted"
    )]
    DeclaredTooLarge {
        /// The entry's name as far as known: the member's path, or the extension header's own
        /// name field (`././@LongLink`, `PaxHeaders/...`).
        entry: String,
        /// 1-based position of the tar header in the archive.
        header: usize,
        /// What the header describes.
        what: DeclaredKind,
        /// The declared size.
        size: u64,
        /// The limit for that kind.
        limit: u64,
    },
    /// A PAX extended header or GNU long name/link header is malformed or ambiguous.
    #[error("entry `{entry}` (tar header {header}): {problem}")]
    BadExtendedHeader {
        /// The extension header's own name field.
        entry: String,
        /// 1-based position of the tar header in the archive.
        header: usize,
        /// What is wrong.
        problem: PaxProblem,
    },
    /// The tar stream ends without its end-of-archive marker (two zero blocks): truncated.
    #[error(
        "archive ends without the tar end-of-archive marker (two zero blocks) after {}; it is truncated",
        last.as_deref().map_or_else(|| "its start".to_string(), |l| format!("entry `{l}`"))
    )]
    NoEndOfArchive {
        /// The last entry read, if any.
        last: Option<String>,
    },
}

/// What a header with a declared size describes ([`ArchiveError::DeclaredTooLarge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclaredKind {
    /// A GNU long name (`L`).
    LongName,
    /// A GNU long link name (`K`).
    LongLink,
    /// A PAX extended header (`x`).
    PaxHeader,
    /// `bundle.sig`.
    Signature,
}

impl std::fmt::Display for DeclaredKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeclaredKind::LongName => "its GNU long-name header",
            DeclaredKind::LongLink => "its GNU long-link header",
            DeclaredKind::PaxHeader => "its PAX extended header",
            DeclaredKind::Signature => "the signature",
        })
    }
}

/// What is wrong with a PAX extended header or a GNU long name
/// ([`ArchiveError::BadExtendedHeader`]). Readers are as strict as GNU tar, so no two tools
/// can read one archive differently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaxProblem {
    /// A record's length field is missing, not decimal, too small, or runs past the header.
    #[error("PAX record {record} has an invalid length field")]
    BadLength {
        /// 1-based record number.
        record: usize,
    },
    /// A record does not end with a newline where its length says.
    #[error("PAX record {record} does not end with a newline")]
    NoNewline {
        /// 1-based record number.
        record: usize,
    },
    /// A record has no `=` or an empty key.
    #[error("PAX record {record} is not `key=value`")]
    NoEquals {
        /// 1-based record number.
        record: usize,
    },
    /// A record's key is not UTF-8.
    #[error("PAX record {record} has a key that is not UTF-8")]
    KeyNotUtf8 {
        /// 1-based record number.
        record: usize,
    },
    /// The same key twice in one header (tools disagree on which one wins).
    #[error("PAX key `{key}` appears twice in one header")]
    DuplicateKey {
        /// The key.
        key: String,
    },
    /// A key this reader does not honour and cannot safely ignore (`size` differing from the
    /// header, `GNU.sparse.*`).
    #[error("PAX key `{key}` is not supported here")]
    Unsupported {
        /// The key.
        key: String,
    },
    /// Two extension headers of one kind for the same member, or a GNU long name and a PAX
    /// `path` both naming it.
    #[error("{what} given twice for the same member")]
    Repeated {
        /// `path`, `link name` or `PAX header`.
        what: &'static str,
    },
    /// An extension header with no member after it.
    #[error("extension header not followed by a member")]
    Orphan,
}

/// Why a file of a bundle directory cannot be packed ([`ArchiveError::Unpackable`]).
#[derive(Debug, thiserror::Error)]
pub enum PackProblem {
    /// The file name is not UTF-8.
    #[error("the name is not valid UTF-8")]
    NonUtf8Name,
    /// A symbolic link.
    #[error(
        "it is a symbolic link (to `{target}`); archives hold only regular files: copy the target or list it in {IGNORE_FILE}"
    )]
    Symlink {
        /// Where it points (empty when unreadable).
        target: String,
    },
    /// A device, FIFO or socket.
    #[error("it is not a regular file (device, FIFO or socket); list it in {IGNORE_FILE}")]
    SpecialFile,
    /// The path breaks a portability rule ([`check_entry_path`]).
    #[error(transparent)]
    UnportablePath(EntryPathProblem),
    /// Another file has the same path but for letter case.
    #[error(
        "differs from `{first}` only in letter case; both cannot exist on case-insensitive file systems"
    )]
    CaseDuplicate {
        /// The other file.
        first: String,
    },
    /// A file and a directory clash when letter case is ignored.
    #[error("clashes with `{other}` on case-insensitive file systems")]
    CaseConflict {
        /// The other path.
        other: String,
    },
    /// The directory walk failed (unreadable directory, bad ignore file...).
    #[error(transparent)]
    Walk(#[from] ignore::Error),
    /// The resolved manifest does not serialize.
    #[error(transparent)]
    Serialize(#[from] serde_json::Error),
    /// `bundle.yaml` is absent or ignored.
    #[error("the manifest is missing or left out by {IGNORE_FILE}; every archive holds it")]
    ManifestLeftOut,
    /// A path the manifest names is ignored or holds no file.
    #[error("{field} names it, but it is left out by {IGNORE_FILE} (or holds no file)")]
    NamedPathLeftOut {
        /// The manifest field (`bundle.tasks[0].module`...).
        field: String,
    },
}

/// How an archive is corrupt ([`ArchiveError::Malformed`]).
#[derive(Debug, thiserror::Error)]
pub enum Corruption {
    /// The gzip or tar decoder failed.
    #[error(transparent)]
    Decode(#[from] std::io::Error),
    /// A directory entry carries data.
    #[error("a directory entry has content")]
    DirectoryHasContent,
    /// An entry has fewer bytes than its header says.
    #[error("the entry is truncated")]
    TruncatedEntry,
}

/// What is wrong with an archive's manifest ([`ArchiveError::BadManifest`]).
#[derive(Debug, thiserror::Error)]
pub enum ManifestProblem {
    /// Larger than [`MAX_MANIFEST_BYTES`].
    #[error("is {size} bytes; a manifest may have at most {max}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// `bundle.yaml` is not UTF-8.
    #[error("not UTF-8: {0}")]
    NotUtf8(#[from] std::str::Utf8Error),
    /// `bundle.yaml` does not validate: its first problem.
    #[error("{}", .0.as_ref().map_or_else(|| "invalid manifest".to_string(), ToString::to_string))]
    Invalid(Option<crate::diagnostic::Diagnostic>),
    /// `.bundle/manifest.json` is not JSON.
    #[error("not valid JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// `.bundle/manifest.json` has an unknown `format_version`.
    #[error(
        "format_version {found} is not supported (this ratchet reads {supported}); upgrade ratchet"
    )]
    UnsupportedFormat {
        /// The version found.
        found: u64,
        /// The version this reader reads.
        supported: u32,
    },
    /// `.bundle/manifest.json` has no numeric `format_version`.
    #[error("`format_version` is missing or not a number")]
    NoFormatVersion,
    /// `.bundle/manifest.json` is JSON but not a resolved manifest.
    #[error(transparent)]
    Schema(serde_json::Error),
    /// A path the manifest names is unsafe.
    #[error("{field}: {reason}")]
    UnsafeNamedPath {
        /// The field.
        field: String,
        /// The path rule it breaks.
        #[source]
        reason: crate::manifest::RelPathProblem,
    },
    /// `.bundle/manifest.json` and `bundle.yaml` name different bundles or versions.
    #[error("describes {json_id} {json_version} but bundle.yaml is {yaml_id} {yaml_version}")]
    OtherBundle {
        /// Id in `.bundle/manifest.json`.
        json_id: String,
        /// Version in `.bundle/manifest.json`.
        json_version: semver::Version,
        /// Id in `bundle.yaml`.
        yaml_id: String,
        /// Version in `bundle.yaml`.
        yaml_version: semver::Version,
    },
    /// `.bundle/manifest.json` differs from `bundle.yaml` in another field.
    #[error("disagrees with bundle.yaml (a field other than id and version differs)")]
    Disagrees,
    /// A path the manifest names is not in the archive.
    #[error("{field} names `{path}`, which the archive does not hold")]
    NamedPathMissing {
        /// The field.
        field: String,
        /// The path.
        path: String,
    },
}

impl ArchiveError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ArchiveError {
        let path = path.into();
        move |source| ArchiveError::Io { path, source }
    }
}

/// Lowercase hexadecimal SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Renders a checksum list: one `<hex>  <path>\n` line per entry, sorted by path bytes.
pub fn render_checksum_list(entries: &[(String, String)]) -> Vec<u8> {
    let mut sorted: Vec<&(String, String)> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = Vec::with_capacity(sorted.len() * 80);
    for (path, hex) in sorted {
        out.extend_from_slice(hex.as_bytes());
        out.extend_from_slice(b"  ");
        out.extend_from_slice(path.as_bytes());
        out.push(b'\n');
    }
    out
}

/// Parses a checksum list strictly: `<64 lowercase hex>  <path>` lines, each ending in `\n`,
/// paths valid entry paths, in strictly increasing byte order. Returns (path, hex) pairs.
pub fn parse_checksum_list(bytes: &[u8]) -> Result<Vec<(String, String)>, ArchiveError> {
    let bad =
        |line: usize, reason: ChecksumListProblem| ArchiveError::BadChecksumList { line, reason };
    let text = std::str::from_utf8(bytes).map_err(|e| bad(1, ChecksumListProblem::NotUtf8(e)))?;
    if text.is_empty() {
        return Err(bad(1, ChecksumListProblem::Empty));
    }
    let Some(body) = text.strip_suffix('\n') else {
        return Err(bad(
            text.lines().count(),
            ChecksumListProblem::NoFinalNewline,
        ));
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, line) in body.split('\n').enumerate() {
        let n = i + 1;
        let (hex, path) = line.split_once("  ").ok_or_else(|| {
            bad(
                n,
                ChecksumListProblem::NotALine {
                    line: line.to_string(),
                },
            )
        })?;
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad(
                n,
                ChecksumListProblem::BadHash {
                    hash: hex.to_string(),
                },
            ));
        }
        check_entry_path(path).map_err(|reason| {
            bad(
                n,
                ChecksumListProblem::BadPath {
                    path: path.to_string(),
                    reason,
                },
            )
        })?;
        if let Some((prev, _)) = out.last()
            && prev.as_bytes() >= path.as_bytes()
        {
            return Err(bad(
                n,
                ChecksumListProblem::OutOfOrder {
                    path: path.to_string(),
                    previous: prev.clone(),
                },
            ));
        }
        out.push((path.to_string(), hex.to_string()));
    }
    Ok(out)
}

/// What is wrong with a line of `.bundle/checksum.sha256` ([`ArchiveError::BadChecksumList`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumListProblem {
    /// The list is not UTF-8.
    #[error("not UTF-8: {0}")]
    NotUtf8(#[source] std::str::Utf8Error),
    /// The list is empty.
    #[error("the list is empty")]
    Empty,
    /// The last line does not end with `\n`.
    #[error("the last line does not end with a newline")]
    NoFinalNewline,
    /// A line that is not `<sha256>  <path>`.
    #[error("`{}` is not `<sha256>  <path>`", line.escape_debug())]
    NotALine {
        /// The line.
        line: String,
    },
    /// A hash that is not 64 lowercase hexadecimal digits.
    #[error("`{}` is not 64 lowercase hexadecimal digits", hash.escape_debug())]
    BadHash {
        /// The hash as found.
        hash: String,
    },
    /// A path that cannot be an archive entry.
    #[error("path `{}`: {reason}", path.escape_debug())]
    BadPath {
        /// The path as found.
        path: String,
        /// The rule it breaks.
        #[source]
        reason: EntryPathProblem,
    },
    /// A path not after the previous one in byte order.
    #[error(
        "`{path}` is out of order or listed twice (after `{previous}`); lines are sorted by path"
    )]
    OutOfOrder {
        /// The path.
        path: String,
        /// The path of the line before.
        previous: String,
    },
    /// The list names itself or the signature file.
    #[error("`{path}` must not be listed")]
    ListsItself {
        /// The path.
        path: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_of_known_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn checksum_list_round_trips_and_is_strict() {
        let entries = vec![
            ("b".to_string(), sha256_hex(b"b")),
            ("a/x".to_string(), sha256_hex(b"a")),
        ];
        let text = render_checksum_list(&entries);
        let parsed = parse_checksum_list(&text).unwrap();
        assert_eq!(parsed[0].0, "a/x");
        assert_eq!(parsed.len(), 2);
        let swapped = format!("{}  b\n{}  a/x\n", sha256_hex(b"b"), sha256_hex(b"a"));
        assert!(matches!(
            parse_checksum_list(swapped.as_bytes()),
            Err(ArchiveError::BadChecksumList { line: 2, reason: ChecksumListProblem::OutOfOrder { path, previous } })
                if path == "a/x" && previous == "b"
        ));
        let upper = format!("{}  b\n", sha256_hex(b"b").to_uppercase());
        assert!(matches!(
            parse_checksum_list(upper.as_bytes()),
            Err(ArchiveError::BadChecksumList {
                line: 1,
                reason: ChecksumListProblem::BadHash { .. }
            })
        ));
        let unsafe_path = format!("{}  ../b\n", sha256_hex(b"b"));
        assert!(matches!(
            parse_checksum_list(unsafe_path.as_bytes()),
            Err(ArchiveError::BadChecksumList { reason: ChecksumListProblem::BadPath { path, .. }, .. })
                if path == "../b"
        ));
        let no_newline = format!("{}  b", sha256_hex(b"b"));
        assert!(matches!(
            parse_checksum_list(no_newline.as_bytes()),
            Err(ArchiveError::BadChecksumList {
                reason: ChecksumListProblem::NoFinalNewline,
                ..
            })
        ));
    }
}
