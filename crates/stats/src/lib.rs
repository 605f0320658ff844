//! `ratchet-stats`: download statistics and related bundles of a static registry
//! (`index-format.md` §11).
//!
//! A static registry has no server that could count downloads, but its host writes access logs.
//! This crate turns those logs into static per-bundle count files without keeping anything about
//! who downloaded (no addresses, no user agents), and computes the "similar" and "often
//! installed together" lists that `ratchet bundle info` shows, so discovery works from plain
//! files like the rest of the registry.
//!
//! - [`day`]: UTC days as numbers;
//! - [`parse`]: the three log formats, reduced to method, path, status and day;
//! - [`files`]: the `stats/` and `related/` files and their bounded, strict readers;
//! - [`ingest`]: `ratchet-index stats ingest` (idempotent, under the registry lock);
//! - [`related`]: `ratchet-index stats related` (lexical TF-IDF similarity and the dependency
//!   graph).
//!
//! Libraries never print: every operation returns a report for the command line to render.

pub mod day;
pub mod files;
pub mod ingest;
pub mod parse;
pub mod related;

pub use day::Day;
pub use files::{RelatedFile, StatsFile, Summary, related_path, stats_path};
pub use ingest::{IngestOptions, IngestReport, ingest};
pub use parse::LogFormat;

use std::path::Path;

/// Why a statistics operation or file failed, always naming the file.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// A file cannot be read or written.
    #[error("{file}: {source}")]
    Io {
        /// Path of the file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is larger than a reader accepts.
    #[error("{file}: more than the {limit} bytes a reader accepts")]
    TooLarge {
        /// Path of the file.
        file: String,
        /// The limit.
        limit: u64,
    },
    /// A file does not parse or breaks a rule of its format.
    #[error("{file}: malformed: {message}")]
    Malformed {
        /// Path of the file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A file has a format version this reader does not know.
    #[error("{file}: format version {found} is not supported (known: 1)")]
    Unsupported {
        /// Path of the file.
        file: String,
        /// The `v` found.
        found: String,
    },
    /// A log cannot be used as a whole.
    #[error("{file}: {message}")]
    Log {
        /// Path of the log.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A registry file (config, names, index) cannot be read.
    #[error(transparent)]
    Registry(#[from] ratchet_formats::index::FormatError),
}

pub(crate) fn io_err(path: &Path) -> impl Fn(std::io::Error) -> StatsError + '_ {
    move |source| StatsError::Io {
        file: path.display().to_string(),
        source,
    }
}

/// Holds the registry's publish lock (the advisory lock on `.ratchet-index.lock` that
/// `ratchet-publish` takes), released on drop.
#[derive(Debug)]
pub struct RegistryLock {
    _file: std::fs::File,
}

/// Waits for and takes the registry's publish lock, so statistics are never written while a
/// publish, yank or another ingestion is writing.
pub fn lock(dir: &Path) -> Result<RegistryLock, StatsError> {
    let path = dir.join(ratchet_formats::index::LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err(&path))?;
    file.lock().map_err(io_err(&path))?;
    Ok(RegistryLock { _file: file })
}

/// Reads `rel` under `dir` when it exists (at most `limit` bytes, one more to detect a larger
/// file); `Ok(None)` when it does not.
pub(crate) fn read_opt(dir: &Path, rel: &str, limit: u64) -> Result<Option<Vec<u8>>, StatsError> {
    use std::io::Read;
    let path = dir.join(rel);
    let f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(&path)(e)),
    };
    let mut buf = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(io_err(&path))?;
    if buf.len() as u64 > limit {
        return Err(StatsError::TooLarge {
            file: rel.to_string(),
            limit,
        });
    }
    Ok(Some(buf))
}

/// Writes `rel` under `dir` atomically, unless it already holds exactly `bytes`; true when
/// written.
pub(crate) fn write_if_changed(
    dir: &Path,
    rel: &str,
    bytes: &[u8],
    old: Option<&[u8]>,
) -> Result<bool, StatsError> {
    if old == Some(bytes) {
        return Ok(false);
    }
    let path = dir.join(rel);
    ratchet_formats::fsutil::write_atomic(&path, bytes).map_err(io_err(&path))?;
    Ok(true)
}

/// A bundle's stats file as a registry reader sees it (the catalog and `ratchet-index stats
/// show`): `Ok(None)` when the registry has none.
pub fn read_stats(
    dir: &Path,
    id: &ratchet_formats::manifest::BundleId,
) -> Result<Option<StatsFile>, StatsError> {
    let rel = stats_path(id);
    match read_opt(dir, &rel, files::MAX_STATS_FILE)? {
        Some(b) => StatsFile::parse(&b, &rel, id).map(Some),
        None => Ok(None),
    }
}

/// A bundle's related file, `Ok(None)` when the registry has none.
pub fn read_related(
    dir: &Path,
    id: &ratchet_formats::manifest::BundleId,
) -> Result<Option<RelatedFile>, StatsError> {
    let rel = related_path(id);
    match read_opt(dir, &rel, files::MAX_RELATED_FILE)? {
        Some(b) => RelatedFile::parse(&b, &rel, id).map(Some),
        None => Ok(None),
    }
}
