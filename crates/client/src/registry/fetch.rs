//! Fetching registry files over HTTP(S) or from `file://` and plain directories.
//!
//! Index files are small and many: they are fetched in *waves* (every file of a wave at once),
//! cached per registry and revalidated with
//! `If-None-Match` / `If-Modified-Since` so a warm run only sends conditional requests and a 304
//! keeps the cached copy. `--offline` answers from the cache alone.
//!
//! A wave is issued at once, but the connections are not: every request takes a slot of its
//! host first ([`ratchet_http::hosts`]), at most a few per host on HTTP/1.1 (the client
//! configuration's `max-connections-per-host`, `RATCHET_HTTP_MAX_CONNECTIONS`), many streams of
//! one connection on HTTP/2. The rest wait in line, index files before archives, and go out on
//! the connections kept alive as each one frees up, so a static server with a small listen
//! backlog (Python's `http.server`) never sees more connection attempts than it can accept. A
//! host that struggles (refused, reset or timed-out connections, 429, 502-504) gets fewer
//! slots, and a `Retry-After` pauses it, instead of every request being retried at full width.
//!
//! Connection errors, timeouts
//! and 5xx are retried a bounded number of times with backoff; a refused server certificate is
//! not (it says how to trust a private certificate authority); 404 means "no such file"; 401/403
//! quote the start of the server's answer and name the `ratchet registry login` to run when
//! logging in can help. The HTTP client comes from [`ratchet_http`], the stack the sandbox's
//! `fetch` uses too (same trust roots, same proxy variables). Archives are read only up
//! to their indexed size and checked against their SHA-256 before anyone unpacks them; verified
//! archives are kept in a content-addressed cache, so reinstalling downloads nothing.
//!
//! Everything read here is hostile until checked by the caller (the index parser, the archive
//! reader): this module only bounds sizes and checks hashes.

use super::RegistrySource;
use ratchet_formats::index::sha256_hex;
use ratchet_http::hosts::{HostLimits, HostState, Permit, Priority};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// Why a fetch failed. Messages name the registry and URL, never a credential.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A response body arrived slower than the minimum transfer rate (slow retrieval).
    #[error("{url}: {source}")]
    TooSlow {
        /// The URL.
        url: String,
        /// How slow.
        #[source]
        source: ratchet_http::rate::SlowTransfer,
    },
    /// 401, or 403 without a credential: the registry wants a (valid) credential.
    #[error("{url}: HTTP {status}{}: registry `{registry}` {}: {advice}", said(answer), if *sent { "rejected the credential sent" } else { "needs a credential" })]
    Auth {
        /// The registry's name.
        registry: String,
        /// The URL.
        url: String,
        /// 401 or 403.
        status: u16,
        /// Whether a credential was sent with the request.
        sent: bool,
        /// The start of the server's answer, escaped (may be empty).
        answer: String,
        /// What to run ([`super::RegistrySource::login_advice`]).
        advice: String,
    },
    /// 403 although a credential was sent: the server knows who asks and refuses anyway (a
    /// missing permission, a blocked address); logging in again would not help.
    #[error(
        "{url}: HTTP 403 Forbidden{}: the server refuses access to registry `{registry}` with the credential sent; ask the registry's administrator for access",
        said(answer)
    )]
    Forbidden {
        /// The registry's name.
        registry: String,
        /// The URL.
        url: String,
        /// The start of the server's answer, escaped (may be empty).
        answer: String,
    },
    /// The server's TLS certificate was refused. Never retried.
    #[error("{url}: {}{advice}", problem.describe())]
    Certificate {
        /// The URL.
        url: String,
        /// How it was refused.
        problem: ratchet_http::CertificateProblem,
        /// How to trust the server's certificate authority (empty when that would not help).
        advice: String,
    },
    /// The HTTP client cannot be set up (a CA file that cannot be read or is not PEM).
    #[error(transparent)]
    Http(#[from] ratchet_http::HttpError),
    /// An unexpected HTTP status.
    #[error("{url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The connection failed (after retries).
    #[error("{url}: {message}")]
    Network {
        /// The URL.
        url: String,
        /// What happened.
        message: String,
    },
    /// More bytes than allowed.
    #[error("{url}: more than the {limit} bytes expected; stopped reading")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// Fewer bytes than the index says.
    #[error("{url}: got {got} bytes, the index says {expected}: the download is truncated")]
    Truncated {
        /// The URL.
        url: String,
        /// Bytes received.
        got: u64,
        /// Bytes expected.
        expected: u64,
    },
    /// The archive's hash is not the indexed one.
    #[error("{url}: sha256 is {got}, the index says {expected}: refusing the archive")]
    HashMismatch {
        /// The URL.
        url: String,
        /// Hash of what arrived.
        got: String,
        /// The indexed hash.
        expected: String,
    },
    /// `--offline` and the file is not cached.
    #[error(
        "offline: {what} is not in the cache of registry `{registry}`; run once without --offline"
    )]
    Offline {
        /// The registry.
        registry: String,
        /// The missing file.
        what: String,
    },
    /// A local file cannot be read or the cache cannot be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A registry file's location does not join onto the registry's root URL.
    #[error("{rel}: not a URL under {base}: {source}")]
    BadUrl {
        /// The location as the registry gives it.
        rel: String,
        /// The registry's root URL.
        base: String,
        /// Why.
        source: url::ParseError,
    },
    /// A registry names a location a client does not fetch from it (another scheme, a local
    /// file of a remote registry, credentials in the URL).
    #[error(
        "registry {registry} names `{rel}`, which a client does not fetch from a registry at {base} (only http(s) URLs, and file:// for a local registry, without credentials)"
    )]
    ForbiddenUrl {
        /// The registry's name.
        registry: String,
        /// The location as the registry gives it.
        rel: String,
        /// The registry's root URL.
        base: String,
    },
    /// A redirect from https to plain http.
    #[error("{from}: redirects to {to}, from https to plain {scheme}; refused")]
    InsecureRedirect {
        /// The URL redirecting.
        from: String,
        /// Where it redirects.
        to: String,
        /// The scheme it redirects to.
        scheme: String,
    },
    /// A redirect to a scheme other than http(s).
    #[error("{from}: redirects to {to}; only http(s) redirects are followed")]
    UnsupportedRedirect {
        /// The URL redirecting.
        from: String,
        /// Where it redirects.
        to: String,
    },
    /// More redirects than [`MAX_REDIRECTS`].
    #[error("{url}: more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects {
        /// The URL first asked for.
        url: String,
    },
    /// The task writing the cache did not finish (it panicked or was cancelled).
    #[error("writing the {what}: {source}")]
    CacheTask {
        /// `cache` or `archive cache`.
        what: &'static str,
        /// Why.
        source: tokio::task::JoinError,
    },
    /// A `file://` URL that is not a local path.
    #[error("{url}: not a local path")]
    NotALocalPath {
        /// The URL.
        url: String,
    },
    /// A git-hosted registry cannot be fetched ([`super::git`]).
    #[error(transparent)]
    Git(#[from] super::git::GitError),
}

/// Longest wait for the next bytes of a response (a stalled server fails an attempt after it).
pub const READ_IDLE_TIMEOUT: Duration = Duration::from_secs(20);

/// Most bytes of archives in hand at once by default (256 MiB): a wave's archives all go out
/// together unless they are large.
pub const DEFAULT_ARCHIVE_BUDGET: u64 = 256 << 20;

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;

/// Why one hop of a request failed: worth another attempt (the host struggled), or not.
enum Hop {
    Retry(String),
    Fail(FetchError),
}

/// Statuses that say the server is overloaded or its upstream is: the host's window shrinks.
fn overloaded(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// Environment variable naming a PEM file of extra trusted root certificates (a private
/// registry's own certificate authority), added to the usual roots ([`ratchet_http`]).
pub const CA_FILE_ENV: &str = ratchet_http::CA_FILE_ENV;

/// Most bytes of a refusal's body read to quote in the error.
const ANSWER_READ: usize = 4096;
/// Most characters of a refusal's body quoted in the error.
const ANSWER_SHOWN: usize = 160;

/// ` (the server said: "...")`, or nothing for an empty answer.
fn said(answer: &str) -> String {
    if answer.is_empty() {
        String::new()
    } else {
        format!(" (the server said: \"{answer}\")")
    }
}

/// The start of a response body for an error message: whitespace runs collapsed, cut to
/// [`ANSWER_SHOWN`] characters, control characters and quotes escaped (a hostile server cannot
/// write to the terminal), and the credential, should the server echo it, redacted.
fn excerpt(body: &[u8], secret: Option<&str>) -> String {
    let text = String::from_utf8_lossy(body);
    let mut flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(s) = secret.filter(|s| !s.is_empty()) {
        flat = flat.replace(s, "<redacted>");
    }
    let mut out: String = flat
        .chars()
        .take(ANSWER_SHOWN)
        .flat_map(char::escape_debug)
        .collect();
    if flat.chars().count() > ANSWER_SHOWN {
        out.push_str("...");
    }
    out
}

/// Request counters, for progress messages and the benchmark.
#[derive(Debug, Default)]
pub struct Stats {
    /// HTTP requests sent (retries included).
    pub requests: AtomicU64,
    /// Responses with a body (200).
    pub bodies: AtomicU64,
    /// 304 responses.
    pub not_modified: AtomicU64,
    /// Body bytes received.
    pub bytes: AtomicU64,
    /// Index waves fetched.
    pub waves: AtomicU64,
    /// Attempts that met a struggling host (a failed connection, a timeout, 429, 502-504);
    /// each shrank the host's window or was part of a round that did.
    pub troubles: AtomicU64,
}

/// What the cache keeps about a registry file besides its bytes.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_modified: Option<String>,
    /// The registry answered 404: it has no such file.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    absent: bool,
}

/// One cached registry file: a first line `ratchet-cache-v1 <meta JSON>`, then the file's bytes
/// (`index-format.md` §8.3). One file per entry: a wave of index files creates one cache
/// file each, not two.
struct CacheEntry {
    meta: CacheMeta,
    body: Vec<u8>,
}

/// First word of a cache entry.
const CACHE_TAG: &str = "ratchet-cache-v1 ";

impl CacheEntry {
    /// Reads an entry; `None` for anything else (an older cache layout, a damaged file), which
    /// then counts as not cached.
    fn parse(bytes: &[u8]) -> Option<CacheEntry> {
        let rest = bytes.strip_prefix(CACHE_TAG.as_bytes())?;
        let nl = rest.iter().position(|&b| b == b'\n')?;
        let meta = serde_json::from_slice(&rest[..nl]).ok()?;
        Some(CacheEntry {
            meta,
            body: rest[nl + 1..].to_vec(),
        })
    }

    fn render(meta: &CacheMeta, body: &[u8]) -> Vec<u8> {
        let mut out = CACHE_TAG.as_bytes().to_vec();
        out.extend(serde_json::to_vec(meta).expect("cache meta serializes"));
        out.push(b'\n');
        out.extend_from_slice(body);
        out
    }
}

/// What is called with each file of a wave as it arrives: its index in the wave and what
/// came (as [`Fetcher::get_many`] returns it).
pub type Arrived<'a> = dyn Fn(usize, &Result<Option<Vec<u8>>, FetchError>) + Sync + 'a;

/// Fetches the files of one registry.
pub struct Fetcher {
    src: RegistrySource,
    /// Built in [`Fetcher::new`] for a remote registry (so a bad CA file stops the command at
    /// once), on first use for a local one, which needs HTTP only if it names remote archives.
    client: std::sync::OnceLock<reqwest::Client>,
    http: ratchet_http::HttpConfig,
    rt: tokio::runtime::Runtime,
    /// Permits for the cache's file work on the blocking pool ([`file_work_slots`]).
    file_slots: Arc<tokio::sync::Semaphore>,
    cache_dir: PathBuf,
    archive_cache: PathBuf,
    offline: bool,
    /// Slots per host: the bound on connections (HTTP/1) or streams (HTTP/2) to each host.
    hosts: Arc<HostLimits>,
    /// Most bytes of archives (by their indexed sizes) downloaded and held at once by one
    /// call; the files of a wave are not bounded here (the host slots pace every request).
    pub archive_budget: u64,
    /// Attempts per request (1 = no retry).
    pub attempts: u32,
    /// First retry delay (doubles each time).
    pub backoff: Duration,
    /// Longest time one attempt may take, body included (slow-retrieval defence; a server
    /// that sends nothing for [`READ_IDLE_TIMEOUT`] fails the attempt sooner).
    pub timeout: Duration,
    /// Counters.
    pub stats: Arc<Stats>,
    /// Serve cached registry files without asking the server (set by the integrity check
    /// when the registry's signed timestamp is unchanged: every file read is then verified
    /// against the same signed snapshot, so a cached copy is as good as a fresh one).
    cache_first: std::sync::atomic::AtomicBool,
    /// The slowest body transfer accepted (`RATCHET_HTTP_MIN_RATE`, default 1 KiB/s averaged
    /// over 10 s windows): a drip-fed file fails in bounded time. Never retried.
    pub min_rate: ratchet_http::rate::MinRate,
    /// The `file://` URL of the checkout a git-hosted registry's files are read from
    /// ([`super::git`]); `None` for other registries.
    git_root: Option<url::Url>,
}

/// The fetcher's HTTP client: a connection that negotiated HTTP/2 releases the requests its
/// host held until the protocol was known ([`HostLimits::negotiated_h2`]), a moment later
/// ([`ratchet_http::hosts::ALPN_SETTLE`]) so that the client has pooled it by then.
fn http_client(
    http: &ratchet_http::HttpConfig,
    hosts: &Arc<HostLimits>,
) -> Result<reqwest::Client, FetchError> {
    let hosts = Arc::downgrade(hosts);
    let h2 = move || {
        let hosts = hosts.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                tokio::time::sleep(ratchet_http::hosts::ALPN_SETTLE).await;
                if let Some(h) = hosts.upgrade() {
                    h.negotiated_h2();
                }
            });
        }
    };
    Ok(http.client_watching_alpn(Arc::new(h2))?)
}

/// A wave's cache writer: each entry is written on the blocking pool as soon as its file has
/// arrived, while the rest of the wave is still on its way (one writer at a time, taking
/// whatever has queued up meanwhile, each directory created once), so that only the last few
/// entries are left to write when the wave is in. [`CacheWriter::finish`] gives the entries
/// that could not be written, by position in the wave.
#[derive(Default)]
struct CacheWriter {
    state: std::sync::Mutex<WriterState>,
}

#[derive(Default)]
struct WriterState {
    /// Entries waiting for the writer: (position in the wave, cache file, entry).
    queue: Vec<(usize, PathBuf, Vec<u8>)>,
    /// A writer is running (it takes the queue before it stops).
    running: bool,
    /// The writers started, to wait for.
    writers: Vec<tokio::task::JoinHandle<()>>,
    /// Entries handed to a writer and not written yet (a writer that did not finish leaves
    /// its entries here).
    pending: std::collections::BTreeMap<usize, PathBuf>,
    /// Entries that could not be written.
    failed: Vec<(usize, FetchError)>,
    /// Directories created (or found) in this wave.
    made: std::collections::HashSet<PathBuf>,
}

impl CacheWriter {
    fn lock(&self) -> std::sync::MutexGuard<'_, WriterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues one entry, starting a writer when none is running. Called on the runtime.
    fn push(self: &Arc<Self>, i: usize, path: PathBuf, bytes: Vec<u8>) {
        let mut st = self.lock();
        st.pending.insert(i, path.clone());
        st.queue.push((i, path, bytes));
        if !st.running {
            st.running = true;
            let me = self.clone();
            let writer = tokio::task::spawn_blocking(move || me.drain());
            st.writers.push(writer);
        }
    }

    /// Writes what is queued until the queue is empty.
    fn drain(&self) {
        loop {
            let (batch, mut made) = {
                let mut st = self.lock();
                if st.queue.is_empty() {
                    st.running = false;
                    return;
                }
                (std::mem::take(&mut st.queue), std::mem::take(&mut st.made))
            };
            let mut failed = Vec::new();
            let mut written = Vec::new();
            for (i, path, bytes) in batch {
                let dir = path.parent().map(Path::to_path_buf);
                let r = match dir {
                    Some(d) if !made.contains(&d) => std::fs::create_dir_all(&d).map(|()| {
                        made.insert(d);
                    }),
                    _ => Ok(()),
                }
                .and_then(|()| ratchet_formats::fsutil::write_atomic_unsynced(&path, &bytes));
                match r {
                    Ok(()) => written.push(i),
                    Err(source) => failed.push((i, FetchError::Io { path, source })),
                }
            }
            let mut st = self.lock();
            // One writer runs at a time, so the set taken above is the whole of it: put back,
            // not merged (a merge rehashes every directory of the wave once per batch).
            if st.made.is_empty() {
                st.made = made;
            } else {
                st.made.extend(made);
            }
            for i in written.iter().chain(failed.iter().map(|(i, _)| i)) {
                st.pending.remove(i);
            }
            st.failed.extend(failed);
        }
    }

    /// Waits for the writers; returns the entries that could not be written.
    async fn finish(&self) -> Vec<(usize, FetchError)> {
        loop {
            let writers = std::mem::take(&mut self.lock().writers);
            if writers.is_empty() {
                break;
            }
            for w in writers {
                let _ = w.await;
            }
        }
        let mut st = self.lock();
        let mut failed = std::mem::take(&mut st.failed);
        // A writer that did not finish (it panicked): none of its entries is known to be
        // written.
        for (i, path) in std::mem::take(&mut st.pending) {
            let source = std::io::Error::other("the cache writer failed");
            failed.push((i, FetchError::Io { path, source }));
        }
        failed
    }
}

/// Cache reads and writes on the runtime's blocking pool at once ([`Fetcher::file_work`]): one
/// per core, at least 4 and at most 16. Unbounded, a wave of hundreds of archives started a
/// thread per archive for its cache probe, each then joined when the fetcher was dropped: a
/// wide cold install spent more time creating and joining threads than in the file work they
/// did. The bound is ours, not only the pool's, so that the resolver's lookups (which use the
/// same pool) never queue behind disk work.
fn file_work_slots() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get().clamp(4, 16))
}

/// Status, body, and the ETag and Last-Modified of a response.
type Response = (u16, Vec<u8>, (Option<String>, Option<String>));

/// Called with each chunk's length while archives download.
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

impl Fetcher {
    /// A fetcher for `src`, caching under `cache_root` (`Paths.cache`).
    pub fn new(src: RegistrySource, cache_root: &Path, offline: bool) -> Result<Self, FetchError> {
        let slots = file_work_slots();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            // Tokio's default (512) is a bound it reaches: a task handed over while the thread
            // that just finished one is not yet idle gets a new thread, so a wide install's
            // hundreds of short cache writes started 30 to 60 threads, each with its stack and
            // malloc arena. Twice the file work leaves as many threads for the lookups.
            .max_blocking_threads(2 * slots)
            .enable_all()
            .build()
            .map_err(|source| FetchError::Io {
                path: PathBuf::from("(tokio runtime)"),
                source,
            })?;
        // Redirects are followed by hand (`request`, as every client of ratchet-http does), so
        // credentials are attached per hop and only for the registry's own origin.
        let max_connections = ratchet_http::max_connections(src.max_connections)?;
        let http = ratchet_http::HttpConfig {
            ca_files: src.ca_file.iter().cloned().collect(),
            read_timeout: Some(READ_IDLE_TIMEOUT),
            max_connections_per_host: max_connections,
            ..ratchet_http::HttpConfig::default()
        };
        let hosts = Arc::new(HostLimits::new(max_connections));
        let client = std::sync::OnceLock::new();
        if src.base.scheme() != "file" {
            let _ = client.set(http_client(&http, &hosts)?);
        }
        let key = sha256_hex(src.base.as_str().as_bytes());
        let git_root = match src.git() {
            Some(spec) => {
                let dir = super::git::sync(&src.name, &key[..12], &spec, cache_root, offline)?;
                Some(url::Url::from_directory_path(&dir).map_err(|()| {
                    FetchError::NotALocalPath {
                        url: dir.display().to_string(),
                    }
                })?)
            }
            None => None,
        };
        let safe: String = src
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(32)
            .collect();
        Ok(Fetcher {
            cache_dir: cache_root
                .join("registries")
                .join(format!("{safe}-{}", &key[..12])),
            archive_cache: cache_root.join("archives"),
            src,
            client,
            http,
            rt,
            file_slots: Arc::new(tokio::sync::Semaphore::new(slots)),
            offline,
            hosts,
            archive_budget: DEFAULT_ARCHIVE_BUDGET,
            attempts: 4,
            backoff: Duration::from_millis(100),
            timeout: Duration::from_secs(600),
            stats: Arc::new(Stats::default()),
            cache_first: std::sync::atomic::AtomicBool::new(false),
            min_rate: ratchet_http::rate::MinRate::from_env()?,
            git_root,
        })
    }

    /// The registry being fetched from.
    pub fn source(&self) -> &RegistrySource {
        &self.src
    }

    /// True for `--offline`.
    pub fn offline(&self) -> bool {
        self.offline
    }

    /// Connections per host on HTTP/1 (configuration, `RATCHET_HTTP_MAX_CONNECTIONS`, default).
    pub fn max_connections(&self) -> usize {
        self.hosts.max_connections()
    }

    /// The slots of the registry's host as they are now (window, peak in flight, halvings), if
    /// a request went there.
    pub fn host_state(&self) -> Option<HostState> {
        self.hosts.state(&self.src.base)
    }

    /// Runs cache file work `f` on the runtime's blocking pool, at most [`file_work_slots`] at
    /// a time (the rest wait here, on the runtime, not for a thread of their own).
    async fn file_work<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        // The semaphore is never closed: a permit always comes.
        let permit = self.file_slots.clone().acquire_owned().await.ok();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
    }

    /// The URL of a registry file (`rel` relative to the root, or an absolute `dl` URL). A
    /// remote registry cannot point the client at local files, other schemes or URLs with
    /// credentials in them.
    fn url(&self, rel: &str) -> Result<url::Url, FetchError> {
        let base = &self.src.base;
        let u = base.join(rel).map_err(|source| FetchError::BadUrl {
            rel: rel.to_string(),
            base: base.to_string(),
            source,
        })?;
        // A git-hosted registry's own files are read from its checkout, and never from
        // outside it; a `dl` URL elsewhere must be http(s) like any remote registry's.
        if let Some(root) = &self.git_root {
            let mut plain = base.clone();
            plain.set_fragment(None);
            if let Some(inside) = u.as_str().strip_prefix(plain.as_str()) {
                if let Ok(file) = root.join(inside)
                    && file.as_str().starts_with(root.as_str())
                    && file.query().is_none()
                    && file.fragment().is_none()
                {
                    return Ok(file);
                }
            } else if matches!(u.scheme(), "http" | "https")
                && u.username().is_empty()
                && u.password().is_none()
            {
                return Ok(u);
            }
            return Err(FetchError::ForbiddenUrl {
                registry: self.src.name.clone(),
                rel: rel.to_string(),
                base: base.to_string(),
            });
        }
        let allowed = match u.scheme() {
            "http" | "https" => true,
            "file" => base.scheme() == "file",
            _ => false,
        };
        if !allowed || !u.username().is_empty() || u.password().is_some() {
            return Err(FetchError::ForbiddenUrl {
                registry: self.src.name.clone(),
                rel: rel.to_string(),
                base: base.to_string(),
            });
        }
        Ok(u)
    }

    /// Fetches one registry file (relative to the root) of at most `limit` bytes; `Ok(None)` when
    /// the registry does not have it.
    pub fn get(&self, rel: &str, limit: u64) -> Result<Option<Vec<u8>>, FetchError> {
        self.rt.block_on(self.get_async(rel.to_string(), limit))
    }

    /// [`Fetcher::get`] asking the server for the whole file, even in cache-first mode and
    /// without `If-None-Match` / `If-Modified-Since`: for the signed `timestamp` and for a
    /// cached copy that did not verify. Servers derive validators from the modification time
    /// to the second and the size (nginx's ETag, `Last-Modified`), so a file rewritten within
    /// the same second at the same size (a timestamp naming the next snapshot, an index file
    /// whose yank flag flipped) would otherwise be answered 304 with the old copy.
    pub fn get_fresh(&self, rel: &str, limit: u64) -> Result<Option<Vec<u8>>, FetchError> {
        self.rt
            .block_on(self.get_async_mode(rel.to_string(), limit, false, false, None))
    }

    /// Serve cached registry files without a request from now on (`true`), or revalidate each
    /// (`false`, the default). Only for files verified against a signed snapshot afterwards.
    pub fn set_cache_first(&self, on: bool) {
        self.cache_first.store(on, Ordering::Relaxed);
    }

    /// The runtime that carries the requests, for work that should share its threads (the
    /// install verifies and unpacks archives on worker threads of its own).
    pub fn runtime(&self) -> tokio::runtime::Handle {
        self.rt.handle().clone()
    }

    /// Fetches every file of one wave at once, results in the same order.
    pub fn get_many(
        &self,
        rels: &[String],
        limit: u64,
    ) -> Vec<Result<Option<Vec<u8>>, FetchError>> {
        self.get_many_while_downloading(rels, &|_| limit, &[], None, |_, _| {})
    }

    /// [`Fetcher::get_many`] with a read limit per file (`limits[i]` for `rels[i]`).
    pub fn get_many_limited(
        &self,
        rels: &[String],
        limits: &[u64],
    ) -> Vec<Result<Option<Vec<u8>>, FetchError>> {
        self.get_many_limited_each(rels, limits, &|_, _| {})
    }

    /// [`Fetcher::get_many_limited`], handing each file to `arrived` (with its index in
    /// `rels`) as soon as it is in, so the caller can start on it while the others are still
    /// coming. `arrived` must be quick. What it saw is what the call returns, except that a
    /// file whose cache entry could not be written is returned as that error.
    pub fn get_many_limited_each(
        &self,
        rels: &[String],
        limits: &[u64],
        arrived: &Arrived<'_>,
    ) -> Vec<Result<Option<Vec<u8>>, FetchError>> {
        let limit = |i: usize| limits.get(i).copied().unwrap_or(0);
        self.wave(rels, &limit, arrived, &[], None, |_, _| {})
    }

    /// [`Fetcher::get_many`] with archive downloads (as in [`Fetcher::download_each`]) in the
    /// same round trip; each archive goes to `done` as soon as it has arrived and been checked.
    /// Everything is issued at once; the host slots pace the requests, the wave's files before
    /// any archive. A call without files is not a wave.
    pub fn get_many_while_downloading(
        &self,
        rels: &[String],
        limit: &(dyn Fn(usize) -> u64 + Sync),
        archives: &[(String, u64, String)],
        progress: Option<Progress>,
        done: impl Fn(usize, Result<Vec<u8>, FetchError>) + Sync,
    ) -> Vec<Result<Option<Vec<u8>>, FetchError>> {
        self.wave(rels, limit, &|_, _| {}, archives, progress, done)
    }

    /// [`Fetcher::get_many_while_downloading`] with each file handed to `arrived` as it comes
    /// ([`Fetcher::get_many_limited_each`]).
    fn wave(
        &self,
        rels: &[String],
        limit: &(dyn Fn(usize) -> u64 + Sync),
        arrived: &Arrived<'_>,
        archives: &[(String, u64, String)],
        progress: Option<Progress>,
        done: impl Fn(usize, Result<Vec<u8>, FetchError>) + Sync,
    ) -> Vec<Result<Option<Vec<u8>>, FetchError>> {
        if !rels.is_empty() {
            self.stats.waves.fetch_add(1, Ordering::Relaxed);
        }
        // Every file of the wave is issued at once, however wide the wave (a fixed cap here
        // split a level of 114 bundles into two round trips, issue 19): the host slots pace
        // the network, the wave's files first in each host's line (`Priority::Urgent`).
        // Archives, held in memory until checked, have a bound on the bytes in hand at once
        // (their indexed sizes, in KiB): many small archives go out together, one larger than
        // the whole budget takes all of it.
        let budget = (self.archive_budget / 1024).clamp(1, 1 << 30) as u32;
        let archive_sem = Arc::new(tokio::sync::Semaphore::new(budget as usize));
        let done = &done;
        // The wave's cache entries are written as their files arrive, on the blocking pool, one
        // writer at a time (not one blocking task per file: hundreds of thread hand-offs per
        // wide wave; nor all once the wave is in: that held the next wave up by the time it
        // took).
        let batch = Arc::new(CacheWriter::default());
        let batch = &batch;
        self.rt.block_on(async {
            let cache_first = self.cache_first.load(Ordering::Relaxed);
            let gets = rels.iter().enumerate().map(|(i, r)| async move {
                let got = self
                    .get_async_mode(r.clone(), limit(i), cache_first, true, Some((batch, i)))
                    .await;
                arrived(i, &got);
                got
            });
            let downloads = archives.iter().enumerate().map(|(i, (loc, size, sha))| {
                let sem = archive_sem.clone();
                let progress = progress.clone();
                let kib = u32::try_from(size.div_ceil(1024))
                    .unwrap_or(u32::MAX)
                    .clamp(1, budget);
                async move {
                    let _permit = sem.acquire_many(kib).await;
                    let r = self
                        .download_async(loc.clone(), *size, sha.clone(), progress)
                        .await;
                    done(i, r);
                }
            });
            // `futures`' join_all polls only the futures that were woken (a ready queue): one
            // that polled every pending future on each wake-up cost the wide waves' hundreds
            // of requests quadratic work between the last answer and the next wave.
            let (mut got, _) = tokio::join!(
                futures::future::join_all(gets),
                futures::future::join_all(downloads)
            );
            for (i, e) in batch.finish().await {
                // A file whose cache entry could not be written fails as it did when each
                // was written on its own; one that was absent (404) never fails.
                if matches!(got.get(i), Some(Ok(Some(_)))) {
                    got[i] = Err(e);
                }
            }
            got
        })
    }

    async fn get_async(&self, rel: String, limit: u64) -> Result<Option<Vec<u8>>, FetchError> {
        let cache_first = self.cache_first.load(Ordering::Relaxed);
        self.get_async_mode(rel, limit, cache_first, true, None)
            .await
    }

    /// One file: from the cache without a request when `cache_first` and cached; else from
    /// the server, revalidating the cached copy when `conditional`. With `batch` (the wave's
    /// cache writer and this file's position in the wave), its cache entry goes to that writer
    /// ([`CacheWriter`]) instead of being written here.
    async fn get_async_mode(
        &self,
        rel: String,
        limit: u64,
        cache_first: bool,
        conditional: bool,
        batch: Option<(&Arc<CacheWriter>, usize)>,
    ) -> Result<Option<Vec<u8>>, FetchError> {
        let url = self.url(&rel)?;
        if url.scheme() == "file" {
            return read_local(&url, limit);
        }
        let cached = self.cache_dir.join(&rel);
        let entry = std::fs::read(&cached)
            .ok()
            .and_then(|b| CacheEntry::parse(&b));
        if cache_first
            && let Some(e) = &entry
            && e.body.len() as u64 <= limit
        {
            return Ok((!e.meta.absent).then(|| e.body.clone()));
        }
        if self.offline {
            return match entry {
                Some(e) if e.meta.absent => Ok(None),
                Some(e) => Ok(Some(e.body)),
                None => Err(FetchError::Offline {
                    registry: self.src.name.clone(),
                    what: rel,
                }),
            };
        }
        let mut headers = Vec::new();
        if let Some(e) = entry.as_ref().filter(|e| conditional && !e.meta.absent) {
            if let Some(t) = &e.meta.etag {
                headers.push(("if-none-match".to_string(), t.clone()));
            }
            if let Some(l) = &e.meta.last_modified {
                headers.push(("if-modified-since".to_string(), l.clone()));
            }
        }
        let (status, body, resp_headers) = self
            .request(&url, &headers, limit, None, Priority::Urgent)
            .await?;
        let store = |meta: CacheMeta, body: Vec<u8>| async move {
            let bytes = CacheEntry::render(&meta, &body);
            if let Some((writer, i)) = batch {
                writer.push(i, cached, bytes);
                return Ok(());
            }
            // File writes go to the blocking pool, off the threads that carry the requests.
            self.file_work(move || {
                ratchet_formats::fsutil::write_atomic_unsynced(&cached, &bytes).map_err(|source| {
                    FetchError::Io {
                        path: cached,
                        source,
                    }
                })
            })
            .await
            .map_err(|source| FetchError::CacheTask {
                what: "cache",
                source,
            })?
        };
        match (status, entry) {
            (304, Some(e)) if !e.meta.absent => {
                self.stats.not_modified.fetch_add(1, Ordering::Relaxed);
                Ok(Some(e.body))
            }
            (200, _) => {
                let meta = CacheMeta {
                    etag: resp_headers.0,
                    last_modified: resp_headers.1,
                    absent: false,
                };
                store(meta, body.clone()).await?;
                Ok(Some(body))
            }
            (404 | 410, _) => {
                let meta = CacheMeta {
                    absent: true,
                    ..CacheMeta::default()
                };
                // Remembered for --offline only; never an error.
                let _ = store(meta, Vec::new()).await;
                Ok(None)
            }
            (s, _) => Err(FetchError::Status {
                url: url.to_string(),
                status: s,
            }),
        }
    }

    /// Sends a GET with retries; returns status, body (bounded by `limit`) and the response's
    /// ETag and Last-Modified. Each attempt holds a slot of the host until its body has been
    /// read, and tells the host's window how it went.
    async fn request(
        &self,
        url: &url::Url,
        headers: &[(String, String)],
        limit: u64,
        progress: Option<&Progress>,
        priority: Priority,
    ) -> Result<Response, FetchError> {
        let mut delay = self.backoff;
        let mut last_err = String::new();
        for attempt in 0..self.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            let (mut resp, sent, permit) =
                match self.send_following_redirects(url, headers, priority).await {
                    Ok(r) => r,
                    Err(Hop::Retry(e)) => {
                        last_err = e;
                        continue;
                    }
                    Err(Hop::Fail(e)) => return Err(e),
                };
            let status = resp.status().as_u16();
            if overloaded(status) {
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| ratchet_http::hosts::parse_retry_after(v, SystemTime::now()));
                self.trouble(permit, retry_after);
                last_err = format!("HTTP {status}");
                continue;
            }
            if status >= 500 {
                // The server answers, with an error of its own: nothing about its load.
                drop(permit);
                last_err = format!("HTTP {status}");
                continue;
            }
            if status == 401 || status == 403 {
                return Err(self.refusal(url, status, sent, resp).await);
            }
            let h = |n: reqwest::header::HeaderName| {
                resp.headers()
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let meta = (h(reqwest::header::ETAG), h(reqwest::header::LAST_MODIFIED));
            if status != 200 {
                permit.success();
                return Ok((status, Vec::new(), meta));
            }
            if let Some(len) = resp.content_length()
                && len > limit
            {
                return Err(FetchError::TooLarge {
                    url: url.to_string(),
                    limit,
                });
            }
            let mut body = Vec::new();
            let mut failed = None;
            let mut guard = self.min_rate.guard(std::time::Instant::now());
            loop {
                // A drip-fed body fails within one window of falling below the floor.
                let next = match guard.deadline() {
                    Some(d) => match tokio::time::timeout_at(d.into(), resp.chunk()).await {
                        Ok(r) => r,
                        Err(_) => {
                            if let Err(slow) = guard.record(0, std::time::Instant::now()) {
                                return Err(FetchError::TooSlow {
                                    url: url.to_string(),
                                    source: slow,
                                });
                            }
                            continue;
                        }
                    },
                    None => resp.chunk().await,
                };
                match next {
                    Ok(Some(c)) => {
                        if let Err(slow) = guard.record(c.len() as u64, std::time::Instant::now()) {
                            return Err(FetchError::TooSlow {
                                url: url.to_string(),
                                source: slow,
                            });
                        }
                        if body.len() as u64 + c.len() as u64 > limit {
                            return Err(FetchError::TooLarge {
                                url: url.to_string(),
                                limit,
                            });
                        }
                        self.stats
                            .bytes
                            .fetch_add(c.len() as u64, Ordering::Relaxed);
                        if let Some(p) = progress {
                            p(c.len() as u64);
                        }
                        body.extend_from_slice(&c);
                    }
                    Ok(None) => break,
                    Err(e) => {
                        failed = Some(describe(&e));
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                self.trouble(permit, None);
                last_err = format!("the transfer broke off after {} bytes: {e}", body.len());
                continue;
            }
            permit.success();
            self.stats.bodies.fetch_add(1, Ordering::Relaxed);
            return Ok((status, body, meta));
        }
        Err(FetchError::Network {
            url: url.to_string(),
            message: format!("{last_err} (after {} attempts)", self.attempts.max(1)),
        })
    }

    /// Reports a struggling host: its window shrinks (once per round), `retry_after` pauses it.
    fn trouble(&self, permit: Permit, retry_after: Option<Duration>) {
        self.stats.troubles.fetch_add(1, Ordering::Relaxed);
        permit.trouble(retry_after);
    }

    /// Sends one GET and follows up to [`MAX_REDIRECTS`] redirects. The credential goes only to
    /// URLs of the registry's own origin (scheme, host, port), on every hop; a redirect from
    /// `https` to `http` is refused. Also says whether the last hop carried the credential, and
    /// hands on the slot of the last hop's host. A refused server certificate is not retried:
    /// another attempt meets the same certificate.
    async fn send_following_redirects(
        &self,
        url: &url::Url,
        headers: &[(String, String)],
        priority: Priority,
    ) -> Result<(reqwest::Response, bool, Permit), Hop> {
        let mut at = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            // One slot at a time: the previous hop's slot is given back before this one waits.
            let permit = self.hosts.acquire(&at, priority).await;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let client = match self.client.get() {
                Some(c) => c,
                None => {
                    let built = http_client(&self.http, &self.hosts).map_err(Hop::Fail)?;
                    self.client.get_or_init(|| built)
                }
            };
            let mut req = client.get(at.as_str()).timeout(self.timeout);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let mut sent = false;
            if let Some(auth) = &self.src.auth
                && same_origin(&at, &self.src.base)
                && let Some((k, v)) = auth.header()
            {
                req = req.header(k, v);
                sent = true;
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    return Err(match ratchet_http::certificate_problem(&e) {
                        Some(problem) => Hop::Fail(self.certificate_error(&at, problem)),
                        None => {
                            // Refused, reset, timed out: the host may be struggling.
                            self.trouble(permit, None);
                            Hop::Retry(describe(&e))
                        }
                    });
                }
            };
            permit.answered(resp.version() == reqwest::Version::HTTP_2);
            if !resp.status().is_redirection() || resp.status().as_u16() == 304 {
                return Ok((resp, sent, permit));
            }
            permit.success();
            let next = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|l| at.join(l).ok())
                .ok_or_else(|| {
                    Hop::Fail(FetchError::Status {
                        url: at.to_string(),
                        status: resp.status().as_u16(),
                    })
                })?;
            if at.scheme() == "https" && next.scheme() != "https" {
                return Err(Hop::Fail(FetchError::InsecureRedirect {
                    from: at.to_string(),
                    to: next.to_string(),
                    scheme: next.scheme().to_string(),
                }));
            }
            if !matches!(next.scheme(), "http" | "https") {
                return Err(Hop::Fail(FetchError::UnsupportedRedirect {
                    from: at.to_string(),
                    to: next.to_string(),
                }));
            }
            at = next;
        }
        Err(Hop::Fail(FetchError::TooManyRedirects {
            url: url.to_string(),
        }))
    }

    /// The error for a refused server certificate, with how to trust a private CA when that is
    /// what would help.
    fn certificate_error(
        &self,
        url: &url::Url,
        problem: ratchet_http::CertificateProblem,
    ) -> FetchError {
        use ratchet_http::CertificateProblem as P;
        let advice = match problem {
            P::UnknownIssuer | P::Other => {
                let name = if self.src.configured_kind.is_some() {
                    self.src.name.as_str()
                } else {
                    "NAME"
                };
                format!(
                    "; if the registry uses its own certificate authority, trust it for this registry with `ratchet registry add {name} {} --ca-file CA.pem`, or for every connection with SSL_CERT_FILE=CA.pem (a file of PEM certificates)",
                    self.src.base
                )
            }
            P::Expired | P::WrongName => String::new(),
        };
        FetchError::Certificate {
            url: url.to_string(),
            problem,
            advice,
        }
    }

    /// The error for a 401 or 403: what the server answered, and `registry login` only when
    /// logging in could help (no credential was sent, or the one sent was not accepted: 401).
    async fn refusal(
        &self,
        url: &url::Url,
        status: u16,
        sent: bool,
        mut resp: reqwest::Response,
    ) -> FetchError {
        let mut body = Vec::new();
        while body.len() < ANSWER_READ {
            match resp.chunk().await {
                Ok(Some(c)) => body.extend_from_slice(&c[..c.len().min(ANSWER_READ - body.len())]),
                _ => break,
            }
        }
        let secret = self.src.auth.as_ref().map(|a| a.secret.expose());
        let answer = excerpt(&body, secret);
        if status == 403 && sent {
            return FetchError::Forbidden {
                registry: self.src.name.clone(),
                url: url.to_string(),
                answer,
            };
        }
        FetchError::Auth {
            registry: self.src.name.clone(),
            url: url.to_string(),
            status,
            sent,
            answer,
            advice: self.src.login_advice(),
        }
    }

    /// Downloads many archives at once (bounded), handing each to `done` (with its index in
    /// `items`) as soon as it has arrived and been checked, so the caller can work on it while
    /// the others are still coming. `done` must be quick (send it to a worker).
    pub fn download_each(
        &self,
        items: &[(String, u64, String)],
        progress: Option<Progress>,
        done: impl Fn(usize, Result<Vec<u8>, FetchError>) + Sync,
    ) {
        self.get_many_while_downloading(&[], &|_| 0, items, progress, done);
    }

    /// Where a verified archive with this hash is cached.
    fn cached_archive(&self, sha256: &str) -> PathBuf {
        self.archive_cache.join(format!("{sha256}.rbundle"))
    }

    async fn download_async(
        &self,
        location: String,
        size: u64,
        sha256: String,
        progress: Option<Progress>,
    ) -> Result<Vec<u8>, FetchError> {
        let url = self.url(&location)?;
        let cache = self.cached_archive(&sha256);
        // Reading and hashing a cached archive, like writing one, goes to the blocking pool so
        // the wave's requests on the runtime are not held up.
        let hit = {
            let (cache, sha256) = (cache.clone(), sha256.clone());
            self.file_work(move || {
                if !std::fs::metadata(&cache).is_ok_and(|m| m.len() == size) {
                    return None;
                }
                std::fs::read(&cache)
                    .ok()
                    .filter(|b| sha256_hex(b) == sha256)
            })
            .await
            .ok()
            .flatten()
        };
        if let Some(b) = hit {
            return Ok(b);
        }
        let body = if url.scheme() == "file" {
            match read_local(&url, size)? {
                Some(b) => b,
                None => {
                    return Err(FetchError::Status {
                        url: url.to_string(),
                        status: 404,
                    });
                }
            }
        } else {
            if self.offline {
                return Err(FetchError::Offline {
                    registry: self.src.name.clone(),
                    what: format!("archive {location}"),
                });
            }
            let (status, body, _) = self
                .request(&url, &[], size, progress.as_ref(), Priority::Bulk)
                .await?;
            if status != 200 {
                return Err(FetchError::Status {
                    url: url.to_string(),
                    status,
                });
            }
            body
        };
        if (body.len() as u64) < size {
            return Err(FetchError::Truncated {
                url: url.to_string(),
                got: body.len() as u64,
                expected: size,
            });
        }
        let got = sha256_hex(&body);
        if got != sha256 {
            return Err(FetchError::HashMismatch {
                url: url.to_string(),
                got,
                expected: sha256,
            });
        }
        if url.scheme() == "file" {
            return Ok(body);
        }
        // The cache is best effort: a failed write only costs a download next time.
        self.file_work(move || {
            let _ = ratchet_formats::fsutil::write_atomic_unsynced(&cache, &body);
            body
        })
        .await
        .map_err(|source| FetchError::CacheTask {
            what: "archive cache",
            source,
        })
    }
}

fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "transfer failed"
    };
    let mut s = kind.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

fn read_local(url: &url::Url, limit: u64) -> Result<Option<Vec<u8>>, FetchError> {
    let path = url.to_file_path().map_err(|()| FetchError::NotALocalPath {
        url: url.to_string(),
    })?;
    let buf = match ratchet_formats::fsutil::read_at_most(&path, limit) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(FetchError::Io { path, source }),
    };
    if buf.len() as u64 > limit {
        return Err(FetchError::TooLarge {
            url: url.to_string(),
            limit,
        });
    }
    Ok(Some(buf))
}

#[cfg(test)]
mod tests {
    use super::{ANSWER_SHOWN, CacheEntry, CacheMeta, excerpt, said};

    #[test]
    fn excerpts_are_short_flat_escaped_and_redacted() {
        assert_eq!(excerpt(b"", None), "");
        assert_eq!(said(""), "");
        assert_eq!(
            excerpt(b"  no\n\taccess \x1b[2J for \"tok-1\"  ", Some("tok-1")),
            "no access \\u{1b}[2J for \\\"<redacted>\\\""
        );
        let long = "a".repeat(ANSWER_SHOWN + 50);
        let e = excerpt(long.as_bytes(), None);
        assert_eq!(e, format!("{}...", "a".repeat(ANSWER_SHOWN)));
        // Bytes that are not UTF-8 do not fail the message.
        assert_eq!(excerpt(&[0xff, b'x'], None), "\u{fffd}x");
    }

    #[test]
    fn cache_entries_round_trip_and_anything_else_is_a_miss() {
        let meta = CacheMeta {
            etag: Some("\"abc\"".into()),
            last_modified: None,
            absent: false,
        };
        let bytes = CacheEntry::render(&meta, b"line 1\nline 2\n");
        let back = CacheEntry::parse(&bytes).unwrap();
        assert_eq!(back.body, b"line 1\nline 2\n");
        assert_eq!(back.meta.etag.as_deref(), Some("\"abc\""));
        assert!(!back.meta.absent);
        // The old layout (bare bytes), a torn header, garbage: not cached.
        assert!(CacheEntry::parse(b"{\"v\":1}\n").is_none());
        assert!(CacheEntry::parse(b"ratchet-cache-v1 {\"etag\":").is_none());
        assert!(CacheEntry::parse(b"ratchet-cache-v1 not json\nbody").is_none());
        let absent = CacheMeta {
            absent: true,
            ..CacheMeta::default()
        };
        assert!(
            CacheEntry::parse(&CacheEntry::render(&absent, b""))
                .unwrap()
                .meta
                .absent
        );
    }
}
