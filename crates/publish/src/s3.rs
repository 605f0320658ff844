//! Registries kept in an S3-compatible bucket (`s3://BUCKET/PREFIX`, index-format.md §15).
//!
//! The operations of this crate work on a directory. Rather than a second implementation of
//! every operation over objects, a registry in a bucket is kept in a working copy on this
//! machine (in the object cache, one per concurrent command, each under a lock), the operation
//! runs there exactly as on any directory (every check, the same files), and what it changed is
//! written back with conditional requests:
//!
//! - content-addressed files (archives, state map nodes, log tiles) with `If-None-Match: *`:
//!   never overwritten; an object already there with the same bytes is fine, different bytes
//!   are refused ([`S3Error::ImmutableDiffers`]);
//! - every other file with `If-Match` on the ETag it had when it was read (`If-None-Match: *`
//!   when it is new).
//!
//! Optimistic concurrency replaces the lock file: the object [`MARKER`] carries a generation
//! number. Checking out reads it first; a writer first uploads its new content-addressed
//! files, then moves the marker to "writing, generation + 1" with `If-Match` on the ETag it
//! read, writes the mutable files in the order readers expect (metadata and index files, then
//! `names.txt`, the catalog and the signed state, `timestamp` last) and clears the flag. A
//! writer whose marker update fails (412: another operation committed since its checkout) has
//! written nothing mutable; the caller runs the operation again on a fresh checkout, with
//! every check again. A checkout that finds the flag set waits for the writer (a flag older
//! than the lease, [`LEASE_ENV`], belongs to a writer that died and is taken over).
//!
//! Bringing a working copy up to date does not list the bucket: each operation writes a
//! journal of what it changed (`JOURNAL_DIR/<generation>`, with the new ETags) before it
//! clears its flag, and a checkout reads the journals of the generations since its copy's and
//! fetches the changed objects its cache lacks (objects are cached by key and ETag,
//! [`CACHE_ENV`]). A new copy, or one more than [`JOURNAL_KEEP`] generations behind, lists the
//! prefix instead. So an operation's requests do not grow with the registry. Credentials and the endpoint come from the standard AWS variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`); nothing here ever prints or stores them.

use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::path::Path as ObjPath;
use object_store::{
    Attribute, Attributes, ClientOptions, ObjectStore, PutMode, PutOptions, PutPayload,
    UpdateVersion,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The object (under the prefix) holding the registry's generation and writing flag.
pub const MARKER: &str = ".ratchet-index.s3";
/// Environment variable naming the directory of the object cache.
pub const CACHE_ENV: &str = "RATCHET_S3_CACHE";
/// Environment variable with the seconds after which a writing flag is taken over (default 300).
pub const LEASE_ENV: &str = "RATCHET_S3_LEASE";
/// Largest object read from a bucket (the largest archive a registry accepts is smaller).
pub const MAX_OBJECT: u64 = 1 << 30;
/// Most objects under one prefix.
pub const MAX_OBJECTS: usize = 5_000_000;
const MAX_MARKER: u64 = 64 * 1024;
const PARALLEL: usize = 16;
/// Where each generation's list of changed objects is kept (under the prefix).
pub const JOURNAL_DIR: &str = ".ratchet-index.s3.journal";
/// Journals kept: a working copy further behind lists the prefix instead.
pub const JOURNAL_KEEP: u64 = 256;
const MAX_JOURNAL: u64 = 16 << 20;
/// Most working copies of one registry on one machine (concurrent commands).
const MAX_SLOTS: usize = 64;

/// Why a registry in a bucket could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// The registry URL is not `s3://BUCKET[/PREFIX]`.
    #[error("`{url}` is not an S3 registry URL: {why} (expected s3://BUCKET/PREFIX)")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong.
        why: &'static str,
    },
    /// The S3 client could not be configured from the environment.
    #[error(
        "{url}: cannot set up the S3 client ({source}); set AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL, AWS_ALLOW_HTTP=true for a server other than AWS)"
    )]
    Config {
        /// The registry.
        url: String,
        /// What the client said.
        #[source]
        source: Box<object_store::Error>,
    },
    /// A request failed.
    #[error("{url}: {op} {key} failed: {source}")]
    Request {
        /// The registry.
        url: String,
        /// `GET`, `PUT`, `LIST` or `DELETE`.
        op: &'static str,
        /// The object (relative to the registry).
        key: String,
        /// What the store said.
        #[source]
        source: Box<object_store::Error>,
    },
    /// An object is larger than this tool reads.
    #[error(
        "{url}: {key} is {size} bytes, more than the {limit} ratchet-index reads from a bucket"
    )]
    TooLarge {
        /// The registry.
        url: String,
        /// The object.
        key: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The prefix holds more objects than this tool reads.
    #[error("{url}: holds more than {limit} objects")]
    TooMany {
        /// The registry.
        url: String,
        /// The limit.
        limit: usize,
    },
    /// An object key that is not a registry file path.
    #[error(
        "{url}: the object `{key}` is not a registry file (a path with an empty, `.` or `..` segment): remove it from the bucket"
    )]
    BadKey {
        /// The registry.
        url: String,
        /// The key (escaped by the caller before it is shown).
        key: String,
    },
    /// A content-addressed object in the bucket holds other bytes than the ones to write.
    #[error(
        "{url}: {key} already exists with different bytes ({existing} bytes, sha256 {existing_sha256}; this operation has {ours} bytes, sha256 {ours_sha256}): content-addressed files are never overwritten; the object in the bucket is damaged or was written by something else"
    )]
    ImmutableDiffers {
        /// The registry.
        url: String,
        /// The object.
        key: String,
        /// Size in the bucket.
        existing: usize,
        /// Its SHA-256.
        existing_sha256: String,
        /// Size written.
        ours: usize,
        /// Its SHA-256.
        ours_sha256: String,
    },
    /// A mutable object changed while this operation held the marker.
    #[error(
        "{url}: {key} changed while this operation was writing (something wrote to the bucket without going through {MARKER}); the registry may be inconsistent until the marker's lease ({lease} s) expires: then run `ratchet-index verify` and `ratchet-index gc` on it"
    )]
    LostRace {
        /// The registry.
        url: String,
        /// The object.
        key: String,
        /// The lease in seconds.
        lease: u64,
    },
    /// The marker object does not parse.
    #[error("{url}: {MARKER} is not a ratchet-index marker ({why})")]
    BadMarker {
        /// The registry.
        url: String,
        /// What is wrong.
        why: String,
    },
    /// A local file could not be read or written.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, S3Error>;

fn io_err(p: &Path) -> impl FnOnce(std::io::Error) -> S3Error + '_ {
    move |source| S3Error::Io {
        file: p.display().to_string(),
        source,
    }
}

/// `s3://BUCKET/PREFIX`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    /// The bucket name.
    pub bucket: String,
    /// The key prefix, without leading or trailing `/` (empty: the bucket's top).
    pub prefix: String,
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

impl S3Url {
    /// Whether `s` names a registry in a bucket (starts with `s3://`).
    pub fn is_s3(s: &str) -> bool {
        s.starts_with("s3://")
    }

    /// Parses `s3://BUCKET[/PREFIX][/]`.
    pub fn parse(s: &str) -> Result<S3Url> {
        let bad = |why| S3Error::BadUrl {
            url: s.to_string(),
            why,
        };
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| bad("it does not start with s3://"))?;
        if rest.contains(['?', '#', '\\']) || rest.chars().any(|c| c.is_control()) {
            return Err(bad("it holds `?`, `#`, `\\` or a control character"));
        }
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && !bucket.starts_with(['.', '-'])
            && !bucket.ends_with(['.', '-']);
        if !bucket_ok {
            return Err(bad(
                "the bucket name must be 3 to 63 lower-case letters, digits, `.` and `-`",
            ));
        }
        let prefix = prefix.trim_end_matches('/');
        if !prefix.is_empty()
            && prefix
                .split('/')
                .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        {
            return Err(bad("the prefix has an empty, `.` or `..` segment"));
        }
        Ok(S3Url {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The object key of a registry file.
    pub fn key(&self, rel: &str) -> String {
        if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }

    /// The last segment of the prefix, else the bucket: the registry's default name.
    pub fn leaf(&self) -> &str {
        self.prefix
            .rsplit('/')
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or(&self.bucket)
    }
}

/// How a registry file is written to a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// Content-addressed: created once with `If-None-Match: *`, cached for a year.
    Immutable,
    /// Rewritten by operations: `If-Match` on its ETag, short-lived in caches.
    Mutable,
}

/// The kind of a registry file (by its path relative to the registry).
pub fn file_kind(rel: &str) -> FileKind {
    if rel.starts_with("archives/")
        || rel.starts_with("state/nodes/")
        || rel.starts_with("log/tile/")
    {
        FileKind::Immutable
    } else {
        FileKind::Mutable
    }
}

/// Files named by the hash of their content (archives, state map nodes): written before the
/// marker is taken, since any operation that writes one writes the same bytes.
fn content_addressed(rel: &str) -> bool {
    rel.starts_with("archives/") || rel.starts_with("state/nodes/")
}

/// The `Content-Type` and `Cache-Control` an object is stored with (index-format.md §6.9,
/// §9.12 and §15).
pub fn headers(rel: &str) -> (&'static str, &'static str) {
    const YEAR: &str = "public, max-age=31536000, immutable";
    const SHORT: &str = "public, max-age=60, must-revalidate";
    const FIVE: &str = "public, max-age=300";
    let ext = rel.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    let ctype = match ext {
        _ if rel.starts_with("index/") => "application/json",
        "json" => "application/json",
        "jsonl" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        "rbundle" => "application/gzip",
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "xml" | "atom" => "application/atom+xml",
        _ if rel == "timestamp" || rel == "log/checkpoint" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    let cache = if file_kind(rel) == FileKind::Immutable {
        YEAR
    } else if rel == "timestamp" || rel.starts_with("state/map/") {
        "no-cache"
    } else if rel == "names.txt" || rel == "config.json" || rel.starts_with("site/") {
        FIVE
    } else {
        SHORT
    };
    (ctype, cache)
}

/// The order in which changed files are written: what a file names is written before it.
fn rank(rel: &str) -> u8 {
    match rel {
        _ if file_kind(rel) == FileKind::Immutable => 0,
        _ if rel.starts_with("meta/") || rel.starts_with("index/") => 1,
        "log/checkpoint" => 3,
        "timestamp" => 4,
        _ => 2,
    }
}

/// Files of a working directory that never go to the bucket: the lock, an interrupted
/// operation's marker, temporary files, a mirror's private state, `.gitignore`.
pub fn is_local_only(rel: &str) -> bool {
    rel == ratchet_formats::index::LOCK_FILE
        || rel == crate::PENDING_FILE
        || rel == ".gitignore"
        || rel == MARKER
        || rel == crate::AUDIT_FILE
        || rel.starts_with(".ratchet-index.s3.journal/")
        || rel.starts_with(".ratchet-index.mirror/")
        || rel.split('/').any(|seg| seg.starts_with(".tmp-"))
}

/// The marker's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MarkerState {
    /// Incremented by every operation that changed the registry.
    pub generation: u64,
    /// Set while an operation writes its mutable files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writing: Option<Writing>,
}

/// Who is writing since when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Writing {
    /// Unix seconds.
    pub since: u64,
    /// Host name and process id of the writer.
    pub by: String,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The lease after which a writing flag is taken over ([`LEASE_ENV`], default 300 s).
pub fn lease() -> u64 {
    std::env::var(LEASE_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|v: &u64| *v > 0)
        .unwrap_or(300)
}

/// A connection to a bucket holding a registry.
pub struct Bucket {
    url: S3Url,
    store: AmazonS3,
    rt: tokio::runtime::Runtime,
    endpoint: String,
}

/// What a conditional write found.
enum Put {
    Written(Option<String>),
    /// `If-None-Match: *` and the object exists, or `If-Match` and it changed.
    Refused,
}

/// One object of a listing.
struct Listed {
    rel: String,
    size: u64,
    etag: Option<String>,
}

/// What a checkout found when it read the marker.
pub enum Begin {
    /// Another operation is writing: try again a little later.
    Busy(Writing),
    /// The registry, checked out (`took_over`: a writer's flag had outlived its lease).
    Ready {
        /// The working directory.
        checkout: Checkout,
        /// The flag of a writer that did not finish, taken over.
        took_over: Option<Writing>,
    },
}

/// What the working copy records of a file: the ETag of the object it holds and the file's
/// stamp (inode, size, modification time) when it was last written from the bucket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Base {
    etag: Option<String>,
    stamp: Stamp,
}

/// Inode, size and modification time (ns): an operation that rewrote a file changed it.
type Stamp = (u64, u64, i64);

/// The state of a working copy, `SLOT/state.json`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct SlotState {
    /// The generation the tree holds.
    generation: u64,
    /// The marker's ETag at that generation.
    marker_etag: Option<String>,
    /// False while an operation runs in the tree (or after one that did not commit): the
    /// next checkout first puts back what it changed.
    clean: bool,
    /// Every registry file of the tree.
    files: BTreeMap<String, Base>,
}

/// One generation's changes, the object `.ratchet-index.s3.journal/<generation>`.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Journal {
    generation: u64,
    /// Files written, with their new ETag (`None`: the store did not say).
    put: BTreeMap<String, Option<String>>,
    /// Files deleted.
    deleted: Vec<String>,
}

/// A registry checked out of a bucket into a working copy kept between commands (in the
/// object cache; one per concurrent command, each under an exclusive lock).
pub struct Checkout {
    _lock: std::fs::File,
    state_path: PathBuf,
    root: PathBuf,
    base: BTreeMap<String, Base>,
    marker_etag: Option<String>,
    marker: MarkerState,
    blobs: PathBuf,
    /// Objects fetched (not found in the cache).
    pub fetched: usize,
    /// Whether the checkout listed the prefix (a new working copy, or one too far behind the
    /// journal); else it read the journal of the generations since its last command.
    pub listed: bool,
    /// Requests the checkout sent (marker, listing pages counted as one, journals, objects).
    pub requests: usize,
}

/// One file an operation changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Written (new or rewritten).
    Put(String),
    /// Removed.
    Delete(String),
}

/// What a commit did.
#[derive(Debug)]
pub enum Committed {
    /// Another operation committed since the checkout: nothing mutable was written; run the
    /// operation again on a new checkout.
    Conflict,
    /// Every change is in the bucket.
    Done {
        /// Objects written.
        written: usize,
        /// Objects deleted.
        deleted: usize,
        /// The registry's new generation.
        generation: u64,
    },
}

impl Checkout {
    /// The registry directory to run the operation in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The generation checked out.
    pub fn generation(&self) -> u64 {
        self.marker.generation
    }

    /// The files the operation changed, in the order they are to be written (deletions
    /// last). Files whose stamp did not change are not read; a rewritten file with the same
    /// bytes is not a change.
    pub fn changes(&self) -> Result<Vec<Change>> {
        let mut seen = std::collections::BTreeSet::new();
        let mut puts = Vec::new();
        walk(&self.root, &self.root, &mut |rel, path| {
            if is_local_only(rel) {
                return Ok(());
            }
            seen.insert(rel.to_string());
            let changed = match self.base.get(rel) {
                None => true,
                Some(b) if stamp_of(path)? == b.stamp => false,
                Some(b) => {
                    let held = b
                        .etag
                        .as_ref()
                        .and_then(|e| std::fs::read(blob_path(&self.blobs, rel, e)).ok());
                    let now = std::fs::read(path).map_err(io_err(path))?;
                    held.is_none_or(|h| h != now)
                }
            };
            if changed {
                puts.push(rel.to_string());
            }
            Ok(())
        })?;
        puts.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
        let mut out: Vec<Change> = puts.into_iter().map(Change::Put).collect();
        out.extend(
            self.base
                .keys()
                .filter(|k| !seen.contains(*k))
                .map(|k| Change::Delete(k.clone())),
        );
        Ok(out)
    }

    /// Records that the operation changed nothing: the tree is the checkout's state.
    pub fn unchanged(&self) -> Result<()> {
        self.save(true, None)
    }

    fn save(&self, clean: bool, after: Option<(&MarkerState, Option<String>)>) -> Result<()> {
        self.save_with(self.base.clone(), clean, after)
    }

    /// Writes the working copy's state: `files`, and when `clean` the current stamps (files
    /// an operation rewrote with the same bytes).
    fn save_with(
        &self,
        mut files: BTreeMap<String, Base>,
        clean: bool,
        after: Option<(&MarkerState, Option<String>)>,
    ) -> Result<()> {
        if clean {
            for (rel, b) in files.iter_mut() {
                if let Ok(st) = stamp_of(&self.root.join(rel)) {
                    b.stamp = st;
                }
            }
        }
        let (generation, marker_etag) = match after {
            Some((m, e)) => (m.generation, e),
            None => (self.marker.generation, self.marker_etag.clone()),
        };
        let st = SlotState {
            generation,
            marker_etag,
            clean,
            files,
        };
        let bytes = serde_json::to_vec(&st).unwrap_or_default();
        ratchet_formats::fsutil::write_atomic_unsynced(&self.state_path, &bytes)
            .map_err(io_err(&self.state_path))
    }
}

/// The object of the journal of `generation`.
fn journal_rel(generation: u64) -> String {
    format!("{JOURNAL_DIR}/{generation}")
}

/// The cache file of an object's bytes at an ETag.
fn blob_path(blobs: &Path, rel: &str, etag: &str) -> PathBuf {
    let id = Sha256::digest(format!("{rel}\n{etag}").as_bytes());
    blobs.join(hex(&id[..20]))
}

fn stamp_of(p: &Path) -> Result<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(p).map_err(io_err(p))?;
    Ok((m.ino(), m.len(), m.mtime() * 1_000_000_000 + m.mtime_nsec()))
}

/// Puts the cached bytes of `rel` at `etag` into the tree (a hard link for immutable files, a
/// copy for the others); returns the new file's stamp.
fn materialize(root: &Path, blobs: &Path, rel: &str, etag: &str) -> Result<Stamp> {
    let blob = blob_path(blobs, rel, etag);
    let dst = root.join(rel);
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let _ = std::fs::remove_file(&dst);
    if file_kind(rel) != FileKind::Immutable || std::fs::hard_link(&blob, &dst).is_err() {
        let tmp = dst.with_file_name(format!(
            ".tmp-s3-{}",
            dst.file_name().and_then(|n| n.to_str()).unwrap_or("f")
        ));
        std::fs::copy(&blob, &tmp).map_err(io_err(&blob))?;
        std::fs::rename(&tmp, &dst).map_err(io_err(&dst))?;
    }
    stamp_of(&dst)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Calls `f(relative path, path)` for every regular file under `dir`.
fn walk(root: &Path, dir: &Path, f: &mut dyn FnMut(&str, &Path) -> Result<()>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut entries: Vec<_> = entries
        .collect::<std::io::Result<_>>()
        .map_err(io_err(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let ft = e.file_type().map_err(io_err(&path))?;
        if ft.is_dir() {
            walk(root, &path, f)?;
        } else if ft.is_file() {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            f(&rel, &path)?;
        }
    }
    Ok(())
}

/// The directory of the object cache: [`CACHE_ENV`], else `$XDG_CACHE_HOME/ratchet-index/s3`,
/// else `~/.cache/ratchet-index/s3`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(CACHE_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(d).join("ratchet-index/s3");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(h).join(".cache/ratchet-index/s3");
    }
    std::env::temp_dir().join("ratchet-index-s3")
}

fn valid_rel(rel: &str) -> bool {
    !rel.is_empty()
        && rel
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains('\\'))
}

impl Bucket {
    /// Connects to the bucket of `url` with the client settings of the AWS environment
    /// variables. Nothing is sent yet.
    pub fn connect(url: &S3Url) -> Result<Bucket> {
        let allow_http = std::env::var("AWS_ALLOW_HTTP")
            .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
            .unwrap_or(false);
        let options = ClientOptions::new()
            .with_allow_http(allow_http)
            .with_connect_timeout(Duration::from_secs(10))
            .with_timeout(Duration::from_secs(120));
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .or_else(|_| std::env::var("AWS_ENDPOINT"))
            .unwrap_or_default();
        let store = AmazonS3Builder::from_env()
            .with_bucket_name(&url.bucket)
            .with_client_options(options)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_retry(retry_config())
            .build()
            .map_err(|source| S3Error::Config {
                url: url.to_string(),
                source: Box::new(source),
            })?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|source| S3Error::Io {
                file: "tokio runtime".into(),
                source,
            })?;
        Ok(Bucket {
            url: url.clone(),
            store,
            rt,
            endpoint,
        })
    }

    /// The registry's URL.
    pub fn url(&self) -> &S3Url {
        &self.url
    }

    fn path(&self, rel: &str) -> Result<ObjPath> {
        ObjPath::parse(self.url.key(rel)).map_err(|_| S3Error::BadKey {
            url: self.url.to_string(),
            key: rel.to_string(),
        })
    }

    fn req(&self, op: &'static str, rel: &str) -> impl FnOnce(object_store::Error) -> S3Error {
        let (url, key) = (self.url.to_string(), rel.to_string());
        move |source| S3Error::Request {
            url,
            op,
            key,
            source: Box::new(source),
        }
    }

    /// Reads an object (`None`: there is none), refusing one larger than `limit`.
    fn get(&self, rel: &str, limit: u64) -> Result<Fetched> {
        let path = self.path(rel)?;
        self.rt.block_on(async {
            get_limited(&self.store, &path, limit)
                .await
                .map_err(|e| self.fail("GET", rel, e))
        })
    }

    fn fail(&self, op: &'static str, rel: &str, e: GetFail) -> S3Error {
        match e {
            GetFail::Store(source) => self.req(op, rel)(*source),
            GetFail::TooLarge(size, limit) => S3Error::TooLarge {
                url: self.url.to_string(),
                key: rel.to_string(),
                size,
                limit,
            },
        }
    }

    fn put(&self, rel: &str, bytes: Vec<u8>, mode: PutMode) -> Result<Put> {
        self.rt.block_on(self.put_async(rel, bytes, mode))
    }

    async fn put_async(&self, rel: &str, bytes: Vec<u8>, mode: PutMode) -> Result<Put> {
        let path = self.path(rel)?;
        let (ctype, cache) = headers(rel);
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, ctype.into());
        attributes.insert(Attribute::CacheControl, cache.into());
        let opts = PutOptions {
            mode,
            attributes,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&path, PutPayload::from(bytes), opts)
            .await
        {
            Ok(r) => Ok(Put::Written(r.e_tag)),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(Put::Refused),
            Err(e) => Err(self.req("PUT", rel)(e)),
        }
    }

    /// Writes a file of the checkout that is never overwritten (`If-None-Match: *`); an
    /// existing object with the same bytes is fine, other bytes are refused. `true`: written.
    async fn create(&self, co: &Checkout, rel: &str) -> Result<Wrote> {
        let p = co.root.join(rel);
        let bytes = std::fs::read(&p).map_err(io_err(&p))?;
        match self.put_async(rel, bytes.clone(), PutMode::Create).await? {
            Put::Written(e) => Ok((true, e)),
            Put::Refused => {
                let path = self.path(rel)?;
                let (existing, etag) = get_limited(&self.store, &path, MAX_OBJECT)
                    .await
                    .map_err(|e| self.fail("GET", rel, e))?
                    .unwrap_or_default();
                if existing != bytes {
                    return Err(S3Error::ImmutableDiffers {
                        url: self.url.to_string(),
                        key: rel.to_string(),
                        existing: existing.len(),
                        existing_sha256: hex(&Sha256::digest(&existing)),
                        ours: bytes.len(),
                        ours_sha256: hex(&Sha256::digest(&bytes)),
                    });
                }
                Ok((false, etag))
            }
        }
    }

    /// Writes one changed file of the checkout under the marker: a mutable file with `If-Match`
    /// on the ETag it was checked out with (`If-None-Match: *` when new), a log tile as
    /// [`Bucket::create`]. `true`: written.
    async fn write_one(&self, co: &Checkout, rel: &str) -> Result<Wrote> {
        if file_kind(rel) == FileKind::Immutable {
            return self.create(co, rel).await;
        }
        let mode = match co.base.get(rel).and_then(|b| b.etag.clone()) {
            Some(e) => PutMode::Update(UpdateVersion {
                e_tag: Some(e),
                version: None,
            }),
            None => PutMode::Create,
        };
        let p = co.root.join(rel);
        let bytes = std::fs::read(&p).map_err(io_err(&p))?;
        match self.put_async(rel, bytes, mode).await? {
            Put::Written(e) => Ok((true, e)),
            Put::Refused => Err(S3Error::LostRace {
                url: self.url.to_string(),
                key: rel.to_string(),
                lease: lease(),
            }),
        }
    }

    /// Runs `write` on every file of `rels` at once (up to [`PARALLEL`]); what each did.
    /// What was written goes into the object cache under its new ETag, so the next
    /// checkout on this machine does not fetch it back.
    fn write_all<'a, F, Fut>(
        &'a self,
        co: &Checkout,
        rels: &[&'a str],
        write: F,
    ) -> Result<Vec<(String, Wrote)>>
    where
        F: Fn(&'a str) -> Fut,
        Fut: std::future::Future<Output = Result<Wrote>> + 'a,
    {
        let done: Vec<(&str, Wrote)> = self.rt.block_on(
            futures::stream::iter(rels.iter().map(|rel| {
                let w = write(rel);
                async move { Ok::<_, S3Error>((*rel, w.await?)) }
            }))
            .buffer_unordered(PARALLEL)
            .try_collect(),
        )?;
        let mut out = Vec::new();
        for (rel, wrote) in done {
            if let (_, Some(etag)) = &wrote {
                // Best effort: a cache that misses an object fetches it next time.
                let _ = std::fs::copy(co.root.join(rel), blob_path(&co.blobs, rel, etag));
            }
            out.push((rel.to_string(), wrote));
        }
        Ok(out)
    }

    /// The directory of this registry's object cache and working copies under `cache`.
    fn cache_dir(&self, cache: &Path) -> PathBuf {
        let id = Sha256::digest(
            format!(
                "{}\n{}\n{}",
                self.endpoint, self.url.bucket, self.url.prefix
            )
            .as_bytes(),
        );
        cache.join("registries").join(hex(&id[..16]))
    }

    /// Takes the first working copy of this registry no other command holds (created if
    /// needed): its lock file (held until the checkout is dropped) and directory.
    fn lock_slot(&self, dir: &Path) -> Result<(std::fs::File, PathBuf)> {
        use std::os::unix::io::AsRawFd;
        for n in 0..MAX_SLOTS {
            let slot = dir.join(format!("work-{n}"));
            std::fs::create_dir_all(&slot).map_err(io_err(&slot))?;
            let lock_path = slot.join("lock");
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)
                .map_err(io_err(&lock_path))?;
            // SAFETY: flock on a file descriptor this function owns.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok((f, slot));
            }
        }
        Err(S3Error::Io {
            file: dir.display().to_string(),
            source: std::io::Error::other(format!(
                "all {MAX_SLOTS} working copies are in use by other commands"
            )),
        })
    }

    fn list(&self) -> Result<Vec<Listed>> {
        let prefix = if self.url.prefix.is_empty() {
            None
        } else {
            Some(
                ObjPath::parse(&self.url.prefix).map_err(|_| S3Error::BadKey {
                    url: self.url.to_string(),
                    key: self.url.prefix.clone(),
                })?,
            )
        };
        let strip = if self.url.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.url.prefix)
        };
        let mut out = Vec::new();
        self.rt.block_on(async {
            let mut s = self.store.list(prefix.as_ref());
            while let Some(m) = s.try_next().await.map_err(self.req("LIST", ""))? {
                let key = m.location.as_ref();
                let Some(rel) = key.strip_prefix(&strip) else {
                    continue;
                };
                if out.len() >= MAX_OBJECTS {
                    return Err(S3Error::TooMany {
                        url: self.url.to_string(),
                        limit: MAX_OBJECTS,
                    });
                }
                out.push(Listed {
                    rel: rel.to_string(),
                    size: m.size,
                    etag: m.e_tag,
                });
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Reads the marker and, unless another operation is writing, brings a working copy of
    /// the registry (kept under `cache` between commands) to the marker's generation: from the
    /// journal of the generations since the copy's last command (one request each, then the
    /// changed objects the cache lacks), or, for a new copy or one too far behind, by listing
    /// the prefix and fetching what the cache lacks. What an earlier command changed in the
    /// copy without committing is put back first.
    pub fn begin(&self, cache: &Path) -> Result<Begin> {
        let (marker, marker_etag) = match self.get(MARKER, MAX_MARKER)? {
            None => (MarkerState::default(), None),
            Some((bytes, etag)) => {
                let m: MarkerState =
                    serde_json::from_slice(&bytes).map_err(|e| S3Error::BadMarker {
                        url: self.url.to_string(),
                        why: e.to_string(),
                    })?;
                (m, etag)
            }
        };
        let mut requests = 1;
        let mut took_over = None;
        if let Some(w) = &marker.writing {
            if now().saturating_sub(w.since) < lease() {
                return Ok(Begin::Busy(w.clone()));
            }
            took_over = Some(w.clone());
        }
        let dir = self.cache_dir(cache);
        let blobs = dir.join("blobs");
        std::fs::create_dir_all(&blobs).map_err(io_err(&blobs))?;
        let (lock, slot) = self.lock_slot(&dir)?;
        let root = slot.join("tree").join(self.url.leaf());
        std::fs::create_dir_all(&root).map_err(io_err(&root))?;
        let state_path = slot.join("state.json");
        let mut st: SlotState = std::fs::read(&state_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        // Leftovers of an operation that did not commit here: put back, else list again.
        if !st.clean && !st.files.is_empty() && !self.restore(&root, &blobs, &mut st)? {
            st = SlotState::default();
        }
        for rel in [crate::PENDING_FILE, crate::AUDIT_FILE] {
            let _ = std::fs::remove_file(root.join(rel));
        }
        // What changed in the bucket since the copy's generation.
        let current = st.generation == marker.generation
            && marker.generation > 0
            && (st.marker_etag.is_none() || st.marker_etag == marker_etag)
            && !st.files.is_empty();
        let journal = if current || st.files.is_empty() || st.generation >= marker.generation {
            None
        } else if marker.generation - st.generation <= JOURNAL_KEEP {
            let gens: Vec<u64> = (st.generation + 1..=marker.generation).collect();
            requests += gens.len();
            let got: Vec<(u64, Fetched)> = self.rt.block_on(async {
                futures::stream::iter(gens.into_iter().map(|g| async move {
                    let rel = journal_rel(g);
                    let path = self.path(&rel)?;
                    let r = get_limited(&self.store, &path, MAX_JOURNAL)
                        .await
                        .map_err(|e| self.fail("GET", &rel, e))?;
                    Ok::<_, S3Error>((g, r))
                }))
                .buffered(PARALLEL)
                .try_collect()
                .await
            })?;
            let mut merged: BTreeMap<String, Option<Option<String>>> = BTreeMap::new();
            let mut complete = true;
            for (g, r) in got {
                let j = r.and_then(|(b, _)| serde_json::from_slice::<Journal>(&b).ok());
                match j {
                    Some(j) if j.generation == g => {
                        for (rel, e) in j.put {
                            merged.insert(rel, Some(e));
                        }
                        for rel in j.deleted {
                            merged.insert(rel, None);
                        }
                    }
                    _ => complete = false,
                }
            }
            complete.then_some(merged)
        } else {
            None
        };
        let listed = !current && journal.is_none();
        // The objects to fetch (rel, known ETag) and the files to remove.
        let mut want: Vec<(String, Option<String>)> = Vec::new();
        let mut gone: Vec<String> = Vec::new();
        if let Some(changed) = journal {
            for (rel, e) in changed {
                if is_local_only(&rel) {
                    continue;
                }
                match e {
                    None => gone.push(rel),
                    Some(e) => {
                        let held = st.files.get(&rel).and_then(|b| b.etag.as_ref());
                        if e.is_none() || held != e.as_ref() {
                            want.push((rel, e));
                        }
                    }
                }
            }
        } else if listed {
            requests += 1;
            let objects: Vec<Listed> = self
                .list()?
                .into_iter()
                .filter(|l| !is_local_only(&l.rel))
                .collect();
            let mut keep = std::collections::BTreeSet::new();
            for l in &objects {
                if !valid_rel(&l.rel) {
                    return Err(S3Error::BadKey {
                        url: self.url.to_string(),
                        key: l.rel.clone(),
                    });
                }
                if l.size > MAX_OBJECT {
                    return Err(S3Error::TooLarge {
                        url: self.url.to_string(),
                        key: l.rel.clone(),
                        size: l.size,
                        limit: MAX_OBJECT,
                    });
                }
                keep.insert(l.rel.clone());
                let held = st.files.get(&l.rel);
                let same = held.is_some_and(|b| {
                    b.etag.is_some()
                        && b.etag == l.etag
                        && stamp_of(&root.join(&l.rel)).is_ok_and(|s| s == b.stamp)
                });
                if !same {
                    want.push((l.rel.clone(), l.etag.clone()));
                }
            }
            // Files of the tree the bucket no longer has.
            let mut extra = Vec::new();
            walk(&root, &root, &mut |rel, _| {
                if !is_local_only(rel) && !keep.contains(rel) {
                    extra.push(rel.to_string());
                }
                Ok(())
            })?;
            st.files.retain(|rel, _| keep.contains(rel));
            gone.extend(extra);
        }
        for rel in &gone {
            if !valid_rel(rel) {
                continue;
            }
            let _ = std::fs::remove_file(root.join(rel));
            st.files.remove(rel);
        }
        // Fetch what the cache lacks, several at a time.
        let mut missing = Vec::new();
        for (rel, e) in want {
            if !valid_rel(&rel) {
                return Err(S3Error::BadKey {
                    url: self.url.to_string(),
                    key: rel,
                });
            }
            match e {
                Some(e) if blob_path(&blobs, &rel, &e).is_file() => {
                    let stamp = materialize(&root, &blobs, &rel, &e)?;
                    st.files.insert(
                        rel,
                        Base {
                            etag: Some(e),
                            stamp,
                        },
                    );
                }
                _ => missing.push(rel),
            }
        }
        let fetched = missing.len();
        requests += fetched;
        let got: Vec<(String, Fetched)> = self.rt.block_on(async {
            futures::stream::iter(missing.into_iter().map(|rel| async move {
                let path = self.path(&rel)?;
                let r = get_limited(&self.store, &path, MAX_OBJECT)
                    .await
                    .map_err(|e| self.fail("GET", &rel, e))?;
                Ok::<_, S3Error>((rel, r))
            }))
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await
        })?;
        for (rel, r) in got {
            // Deleted since the listing: whoever deleted it committed, so the marker update
            // of this operation will fail and it will run again.
            let Some((bytes, etag)) = r else {
                let _ = std::fs::remove_file(root.join(&rel));
                st.files.remove(&rel);
                continue;
            };
            let etag = etag.unwrap_or_default();
            let blob = blob_path(&blobs, &rel, &etag);
            ratchet_formats::fsutil::write_atomic_unsynced(&blob, &bytes).map_err(io_err(&blob))?;
            let stamp = materialize(&root, &blobs, &rel, &etag)?;
            st.files.insert(
                rel,
                Base {
                    etag: Some(etag).filter(|e| !e.is_empty()),
                    stamp,
                },
            );
        }
        let co = Checkout {
            _lock: lock,
            state_path,
            root,
            base: st.files,
            marker_etag,
            marker,
            blobs,
            fetched,
            listed,
            requests,
        };
        // The tree is at the marker's generation; an operation is about to change it.
        co.save(false, None)?;
        Ok(Begin::Ready {
            checkout: co,
            took_over,
        })
    }

    /// Puts back what an operation changed in a working copy without committing it: files it
    /// wrote or removed, from the object cache; files it added, removed. `false`: something
    /// could not be put back (the copy is then rebuilt from a listing).
    fn restore(&self, root: &Path, blobs: &Path, st: &mut SlotState) -> Result<bool> {
        let mut seen = std::collections::BTreeSet::new();
        let mut todo: Vec<String> = Vec::new();
        let mut added: Vec<String> = Vec::new();
        walk(root, root, &mut |rel, path| {
            if is_local_only(rel) {
                return Ok(());
            }
            seen.insert(rel.to_string());
            match st.files.get(rel) {
                None => added.push(rel.to_string()),
                Some(b) if stamp_of(path).ok() != Some(b.stamp) => todo.push(rel.to_string()),
                Some(_) => {}
            }
            Ok(())
        })?;
        todo.extend(st.files.keys().filter(|k| !seen.contains(*k)).cloned());
        for rel in added {
            let _ = std::fs::remove_file(root.join(rel));
        }
        for rel in todo {
            let Some(b) = st.files.get_mut(&rel) else {
                continue;
            };
            let Some(e) = b.etag.clone() else {
                return Ok(false);
            };
            if !blob_path(blobs, &rel, &e).is_file() {
                return Ok(false);
            }
            b.stamp = materialize(root, blobs, &rel, &e)?;
        }
        st.clean = true;
        Ok(true)
    }

    /// Whether the registry is still at the state `co` checked out: the marker has the ETag
    /// the checkout read and no writer. `false` means an operation committed (or began to)
    /// since, so what the checkout read may mix two states.
    pub fn still_current(&self, co: &Checkout) -> Result<bool> {
        let now = self.get(MARKER, MAX_MARKER)?;
        Ok(match (now, &co.marker_etag) {
            (None, None) => true,
            (Some((bytes, etag)), Some(read)) => {
                etag.as_ref() == Some(read)
                    && serde_json::from_slice::<MarkerState>(&bytes)
                        .is_ok_and(|m| m.writing.is_none())
            }
            _ => false,
        })
    }

    /// Writes `changes` of `co` to the bucket (see the module documentation for the order and
    /// the conditions).
    pub fn commit(&self, co: &Checkout, changes: &[Change]) -> Result<Committed> {
        let puts: Vec<&str> = changes
            .iter()
            .filter_map(|c| match c {
                Change::Put(rel) => Some(rel.as_str()),
                Change::Delete(_) => None,
            })
            .collect();
        // 1. New content-addressed files (named by their hash), before anything names them;
        //    harmless if this operation loses the race below (unreferenced until `gc`).
        let first: Vec<&str> = puts
            .iter()
            .copied()
            .filter(|r| content_addressed(r))
            .collect();
        let mut results = self.write_all(co, &first, |rel| self.create(co, rel))?;
        // 2. The marker: this operation's turn, if nobody committed since the checkout.
        let generation = co.marker.generation + 1;
        let who = format!(
            "{} pid {}",
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "localhost".into()),
            std::process::id()
        );
        let writing = MarkerState {
            generation,
            writing: Some(Writing {
                since: now(),
                by: who,
            }),
        };
        let mode = match &co.marker_etag {
            Some(e) => PutMode::Update(UpdateVersion {
                e_tag: Some(e.clone()),
                version: None,
            }),
            None => PutMode::Create,
        };
        let marker_bytes = |m: &MarkerState| {
            let mut v = serde_json::to_vec(m).unwrap_or_default();
            v.push(b'\n');
            v
        };
        let mut marker_etag = match self.put(MARKER, marker_bytes(&writing), mode)? {
            Put::Refused => return Ok(Committed::Conflict),
            Put::Written(e) => e,
        };
        if marker_etag.is_none() {
            marker_etag = self.get(MARKER, MAX_MARKER)?.and_then(|(_, e)| e);
        }
        // 3. The other files, rank by rank (what a file names is written before it), the
        //    files of one rank at once; then the deletions.
        let rest: Vec<&str> = puts
            .iter()
            .copied()
            .filter(|r| !content_addressed(r))
            .collect();
        for group in rest.chunk_by(|a, b| rank(a) == rank(b)) {
            results.extend(self.write_all(co, group, |rel| self.write_one(co, rel))?);
        }
        let mut deleted = 0;
        let mut removed = Vec::new();
        for c in changes {
            if let Change::Delete(rel) = c {
                let path = self.path(rel)?;
                match self.rt.block_on(self.store.delete(&path)) {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                    Err(e) => return Err(self.req("DELETE", rel)(e)),
                }
                removed.push(rel.clone());
            }
        }
        let written = results.iter().filter(|(_, (w, _))| *w).count();
        // The journal of this generation, before the flag is cleared (a checkout waits while
        // it is set, so every journal it reads is complete); the one `JOURNAL_KEEP` older goes.
        let journal = Journal {
            generation,
            // Every file put, also those the bucket already held with the same bytes (an
            // earlier attempt's content-addressed files, which no journal named).
            put: results
                .iter()
                .map(|(rel, (_, e))| (rel.clone(), e.clone()))
                .collect(),
            deleted: removed.clone(),
        };
        let bytes = serde_json::to_vec(&journal).unwrap_or_default();
        self.put(&journal_rel(generation), bytes, PutMode::Overwrite)?;
        if generation > JOURNAL_KEEP {
            let old = self.path(&journal_rel(generation - JOURNAL_KEEP))?;
            let _ = self.rt.block_on(self.store.delete(&old));
        }
        // 4. Done: clear the flag.
        let done = MarkerState {
            generation,
            writing: None,
        };
        let mode = match marker_etag {
            Some(e) => PutMode::Update(UpdateVersion {
                e_tag: Some(e),
                version: None,
            }),
            None => PutMode::Overwrite,
        };
        let final_etag = match self.put(MARKER, marker_bytes(&done), mode)? {
            Put::Refused => {
                return Err(S3Error::LostRace {
                    url: self.url.to_string(),
                    key: MARKER.to_string(),
                    lease: lease(),
                });
            }
            Put::Written(e) => e,
        };
        // The working copy now holds this generation: the written files with their ETags.
        let mut after = co.base.clone();
        for (rel, (_, etag)) in &results {
            let stamp = stamp_of(&co.root.join(rel))?;
            after.insert(
                rel.clone(),
                Base {
                    etag: etag.clone(),
                    stamp,
                },
            );
        }
        for rel in &removed {
            after.remove(rel);
        }
        co.save_with(after, true, Some((&done, final_etag)))?;
        Ok(Committed::Done {
            written,
            deleted,
            generation,
        })
    }
}

/// What a conditional write did: whether it wrote (`false`: the same bytes were there), and
/// the object's ETag when the store said it.
type Wrote = (bool, Option<String>);

/// An object's bytes and ETag; `None`: there is no such object.
type Fetched = Option<(Vec<u8>, Option<String>)>;

enum GetFail {
    Store(Box<object_store::Error>),
    TooLarge(u64, u64),
}

async fn get_limited(
    store: &AmazonS3,
    path: &ObjPath,
    limit: u64,
) -> std::result::Result<Fetched, GetFail> {
    let r = match store.get(path).await {
        Ok(r) => r,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(GetFail::Store(Box::new(e))),
    };
    if r.meta.size > limit {
        return Err(GetFail::TooLarge(r.meta.size, limit));
    }
    let etag = r.meta.e_tag.clone();
    let mut body = Vec::with_capacity(r.meta.size as usize);
    let mut s = r.into_stream();
    while let Some(chunk) = s.next().await {
        let chunk = chunk.map_err(|e| GetFail::Store(Box::new(e)))?;
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(GetFail::TooLarge(
                body.len() as u64 + chunk.len() as u64,
                limit,
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some((body, etag)))
}

/// How a bucket's requests are retried: object_store's policy (10 retries within 3 minutes,
/// exponential backoff with jitter), but with a first backoff of 250 ms growing threefold, so
/// that the retries of a request span seconds, not the 1 to 3 s that its default (100 ms,
/// twofold) can add up to: a store that stalls for a moment (a busy host, a full listen
/// queue) should slow a publish down, not fail it.
fn retry_config() -> object_store::RetryConfig {
    object_store::RetryConfig {
        backoff: object_store::BackoffConfig {
            init_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(15),
            base: 3.0,
        },
        max_retries: 10,
        retry_timeout: Duration::from_secs(180),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = S3Url::parse("s3://my-bucket/team/registry/").unwrap();
        assert_eq!(u.bucket, "my-bucket");
        assert_eq!(u.prefix, "team/registry");
        assert_eq!(u.key("names.txt"), "team/registry/names.txt");
        assert_eq!(u.leaf(), "registry");
        assert_eq!(u.to_string(), "s3://my-bucket/team/registry");
        let top = S3Url::parse("s3://bkt").unwrap();
        assert_eq!(top.key("config.json"), "config.json");
        assert_eq!(top.leaf(), "bkt");
        for bad in [
            "s3://",
            "s3://B/x",
            "s3://ab/x",
            "s3://bkt/a//b",
            "s3://bkt/../x",
            "s3://bkt/x?y",
            "http://bkt/x",
        ] {
            assert!(S3Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kinds_and_headers() {
        let a = "archives/ab/abcdef.rbundle";
        assert_eq!(file_kind(a), FileKind::Immutable);
        assert_eq!(
            headers(a),
            ("application/gzip", "public, max-age=31536000, immutable")
        );
        assert_eq!(file_kind("index/co/m./com.x"), FileKind::Mutable);
        assert_eq!(
            headers("index/co/m./com.x").1,
            "public, max-age=60, must-revalidate"
        );
        assert_eq!(
            headers("names.txt"),
            ("text/plain; charset=utf-8", "public, max-age=300")
        );
        assert_eq!(headers("timestamp").1, "no-cache");
        assert_eq!(headers("catalog/root.json").0, "application/json");
        assert!(rank(a) < rank("index/x/y/z") && rank("index/x/y/z") < rank("names.txt"));
        assert!(
            rank("names.txt") < rank("log/checkpoint")
                && rank("log/checkpoint") < rank("timestamp")
        );
        assert!(is_local_only(".ratchet-index.lock") && is_local_only("index/.tmp-x"));
        assert!(is_local_only(".ratchet-index.audit.jsonl"));
        assert!(is_local_only(".ratchet-index.s3.journal/7"));
    }
}
