//! The files of a static registry: `config.json`, per-bundle index files, per-bundle metadata,
//! the names file and the content-addressed archive paths.
//!
//! A registry is only static files (normative text: `index-format.md`, "The registry layout"),
//! so both sides need the same model: the client reads these files from any URL, and the publish
//! tool (the `ratchet-publish` crate) rewrites them in a local directory. This module holds the formats
//! and nothing that does I/O beyond reading and writing one file: parsing tolerates unknown
//! fields and skips lines of unknown schema versions, and reports every bad line with its file
//! and line number.

pub mod config;
pub mod line;
pub mod meta;
pub mod names;
pub mod path;
pub mod prefetch;

pub use config::{ConfigProblem, RegistryConfig, RegistryKind};
pub use line::{IndexFile, IndexLine, LineProblem, ParsedLine, with_meta_line};
pub use meta::{BundleMeta, Deprecation};
pub use names::NamesFile;
pub use path::{archive_path, index_path, meta_path, prefetch_path, shard_of};
pub use prefetch::Prefetch;

/// `config.json`, at the registry root.
pub const CONFIG_FILE: &str = "config.json";
/// Directory of the per-bundle index files.
pub const INDEX_DIR: &str = "index";
/// Directory of the per-bundle metadata files.
pub const META_DIR: &str = "meta";
/// Directory of the prefetch hints (`index-format.md` §6.5.1).
pub const PREFETCH_DIR: &str = "prefetch";
/// Directory of the content-addressed archives.
pub const ARCHIVES_DIR: &str = "archives";
/// The names file: every id, one a line, append-only.
pub const NAMES_FILE: &str = "names.txt";
/// The lock file publishers serialize on (never served, never mirrored).
pub const LOCK_FILE: &str = ".ratchet-index.lock";

/// Longest index line a reader accepts, in bytes (endless-data defence).
pub const MAX_LINE_LEN: usize = 64 * 1024;
/// Largest index file a reader accepts, in bytes.
pub const MAX_INDEX_FILE_LEN: u64 = 16 * 1024 * 1024;
/// Largest `config.json` or metadata file a reader accepts, in bytes.
pub const MAX_SMALL_FILE_LEN: u64 = 256 * 1024;

/// A file of the registry that cannot be read or parsed, named by its path.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The file cannot be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// Path of the file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than a reader accepts.
    #[error("{file}: {size} bytes is more than the {limit} bytes a reader accepts")]
    TooLarge {
        /// Path of the file.
        file: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The file does not parse.
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Parse {
        /// Path of the file.
        file: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// `config.json` parses but cannot be used.
    #[error("{file}: {problem}")]
    BadConfig {
        /// Path of the file.
        file: String,
        /// What is wrong.
        #[source]
        problem: config::ConfigProblem,
    },
}

/// Reads a file no larger than `limit` bytes.
pub fn read_limited(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, FormatError> {
    let file = path.display().to_string();
    let buf = crate::fsutil::read_at_most(path, limit).map_err(|source| FormatError::Io {
        file: file.clone(),
        source,
    })?;
    if buf.len() as u64 > limit {
        return Err(FormatError::TooLarge {
            file,
            size: buf.len() as u64,
            limit,
        });
    }
    Ok(buf)
}

pub use crate::archive::sha256_hex;

/// True when `s` is 64 lower-case hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
