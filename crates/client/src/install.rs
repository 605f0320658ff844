//! Installing bundles from a registry: resolve in waves, download, verify, unpack, commit.
//!
//! Layout under `Paths.data` (normative in `index-format.md` §8):
//! - `bundles/<id>/<version>/` — an extracted archive, written by the archive reader into a
//!   temporary directory and renamed into place;
//! - `installed.json` — the installed set (the commit point: it is replaced atomically after every
//!   bundle of an operation is in place, so a failure or a kill at any earlier moment leaves the
//!   previous installation as it was);
//! - `ratchet.lock` — exact versions, archive hashes and source registry, enough to reinstall the
//!   same bytes elsewhere (`--locked`).
//!
//! Resolution asks the [`Client`] for index files wave by wave ([`crate::resolver`]), so the
//! number of round trips follows the graph's depth.

use crate::paths::Paths;
use crate::registry::{FetchError, Fetcher, RegistrySource};
use crate::resolver::{Candidate, DependencyGraph, Resolution, ResolveError, ResolveOptions};
use crate::verify::{PinStore, TrustInputs, verify_for_install};
use ratchet_formats::index::{BundleMeta, IndexFile, IndexLine, NamesFile, RegistryConfig};
use ratchet_formats::manifest::{BundleId, Manifest, VersionReq, load_manifest};
use ratchet_trust::attest::Records;
use ratchet_trust::{TrustError, VerificationStatus};
use semver::Version;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The installed set, in the data directory.
pub const INSTALLED_FILE: &str = "installed.json";
/// The lockfile, in the data directory.
pub const LOCK_FILE: &str = "ratchet.lock";
/// Directory of the extracted bundles, in the data directory.
pub const BUNDLES_DIR: &str = "bundles";
/// Format version of `installed.json` and `ratchet.lock`.
pub const STATE_FORMAT: u32 = 1;

/// Why an install, update or removal failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// Fetching failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The registry or a file of it is malformed.
    #[error("{0}")]
    Registry(String),
    /// A requested bundle does not exist.
    #[error("no bundle `{id}` in registry {registry}{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    NotFound {
        /// The id asked for.
        id: String,
        /// The registry.
        registry: String,
        /// The closest listed id.
        suggestion: Option<String>,
    },
    /// No versions satisfy the requirements.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// An archive failed its checks.
    #[error("{id} {version}: {message}")]
    Archive {
        /// The bundle.
        id: BundleId,
        /// Its version.
        version: Version,
        /// What is wrong.
        message: String,
    },
    /// A signature, owner or pin check refused the archive (`index-format.md` §7.6).
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// Local files.
    #[error("{path}: {message}")]
    Local {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The operation is refused.
    #[error("{0}")]
    Refused(String),
}

fn local(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |e| InstallError::Local {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// One installed bundle in `installed.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstalledBundle {
    /// The installed version.
    pub version: Version,
    /// Root URL of the registry it came from.
    pub registry: String,
    /// SHA-256 of its archive.
    pub sha256: String,
    /// Archive size in bytes.
    pub size: u64,
    /// The requirement the user asked for, when installed by request (not only as a dependency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<VersionReq>,
    /// Bundles it depends on.
    #[serde(default)]
    pub dependencies: Vec<BundleId>,
    /// Verification status of the installed archive when it was installed (§7.5).
    pub verification: VerificationStatus,
    /// Key id of the owner key that signed the archive; absent for an unsigned bundle
    /// installed with `--allow-unsigned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// The version was yanked when installed (locked versions may be).
    #[serde(default)]
    pub yanked: bool,
    /// Deprecation message seen at install time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
}

/// `installed.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstalledState {
    /// [`STATE_FORMAT`].
    #[serde(default = "state_format")]
    pub v: u32,
    /// Installed bundles by id (one version each).
    pub bundles: BTreeMap<BundleId, InstalledBundle>,
}

fn state_format() -> u32 {
    STATE_FORMAT
}

/// One entry of `ratchet.lock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedBundle {
    /// The bundle.
    pub id: BundleId,
    /// Exact version.
    pub version: Version,
    /// SHA-256 of the archive.
    pub sha256: String,
    /// Size of the archive.
    pub size: u64,
    /// Root URL of the source registry.
    pub registry: String,
}

/// `ratchet.lock`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockfile {
    /// [`STATE_FORMAT`].
    pub v: u32,
    /// What the user asked for.
    pub requested: BTreeMap<BundleId, VersionReq>,
    /// Every installed bundle, sorted by id.
    pub bundles: Vec<LockedBundle>,
}

fn read_json<T: serde::de::DeserializeOwned + Default>(path: &Path) -> Result<T, InstallError> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| InstallError::Local {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(local(path)(e)),
    }
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<(), InstallError> {
    let mut s = serde_json::to_string_pretty(v).expect("state serializes");
    s.push('\n');
    ratchet_formats::fsutil::write_atomic(path, s.as_bytes()).map_err(local(path))
}

impl InstalledState {
    /// Reads `installed.json` (absent: nothing installed).
    pub fn load(paths: &Paths) -> Result<Self, InstallError> {
        read_json(&paths.data.join(INSTALLED_FILE))
    }

    /// The lockfile describing this state.
    pub fn lockfile(&self) -> Lockfile {
        Lockfile {
            v: STATE_FORMAT,
            requested: self
                .bundles
                .iter()
                .filter_map(|(id, b)| b.requested.clone().map(|r| (id.clone(), r)))
                .collect(),
            bundles: self
                .bundles
                .iter()
                .map(|(id, b)| LockedBundle {
                    id: id.clone(),
                    version: b.version.clone(),
                    sha256: b.sha256.clone(),
                    size: b.size,
                    registry: b.registry.clone(),
                })
                .collect(),
        }
    }

    /// Writes `installed.json` (the commit point), then `ratchet.lock`.
    pub fn commit(&self, paths: &Paths) -> Result<(), InstallError> {
        write_json(&paths.data.join(INSTALLED_FILE), self)?;
        write_json(&paths.data.join(LOCK_FILE), &self.lockfile())
    }

    /// Installed bundles that depend directly on `id`.
    pub fn dependents(&self, id: &BundleId) -> Vec<BundleId> {
        self.bundles
            .iter()
            .filter(|(_, b)| b.dependencies.contains(id))
            .map(|(i, _)| i.clone())
            .collect()
    }
}

impl Lockfile {
    /// Reads `ratchet.lock` from `path`.
    pub fn load(path: &Path) -> Result<Self, InstallError> {
        if !path.is_file() {
            return Err(InstallError::Refused(format!(
                "--locked: {} does not exist",
                path.display()
            )));
        }
        read_json(path)
    }
}

/// The lock file that serializes installs, updates and removals, in the data directory.
pub const INSTALL_LOCK_FILE: &str = ".install.lock";

/// Held while an operation changes the installation; released on drop.
#[derive(Debug)]
pub struct InstallLock {
    _file: std::fs::File,
}

/// Takes the installation lock (an exclusive advisory lock on `data/.install.lock`), waiting for
/// another ratchet process that holds it.
pub fn lock(paths: &Paths) -> Result<InstallLock, InstallError> {
    let path = paths.data.join(INSTALL_LOCK_FILE);
    std::fs::create_dir_all(&paths.data).map_err(local(&paths.data))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(local(&path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!("waiting for another ratchet process to finish changing the installation...");
            file.lock().map_err(local(&path))?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(local(&path)(e)),
    }
    // `installed.json` is the commit point and `ratchet.lock` is written right after it: a
    // lockfile older than installed.json (a process killed between the two) is brought up to
    // date. A newer one (say, copied there to install with --locked) is left alone.
    let installed = paths.data.join(INSTALLED_FILE);
    let lock_path = paths.data.join(LOCK_FILE);
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let Some(state_time) = mtime(&installed)
        && mtime(&lock_path).is_none_or(|t| t < state_time)
    {
        let state = InstalledState::load(paths)?;
        write_json(&lock_path, &state.lockfile())?;
    }
    Ok(InstallLock { _file: file })
}

/// The directory of an installed bundle version.
pub fn bundle_dir(paths: &Paths, id: &BundleId, version: &Version) -> PathBuf {
    paths
        .data
        .join(BUNDLES_DIR)
        .join(id.as_str())
        .join(version.to_string())
}

/// The directory and manifest of the installed bundle `id`.
pub fn find_installed(paths: &Paths, id: &BundleId) -> Result<(PathBuf, Manifest), InstallError> {
    let state = InstalledState::load(paths)?;
    let b = state.bundles.get(id).ok_or_else(|| {
        InstallError::Refused(format!(
            "{id} is not installed: install it with `ratchet bundle install {id}`"
        ))
    })?;
    let dir = bundle_dir(paths, id, &b.version);
    let m = load_manifest(&dir).map_err(|d| InstallError::Local {
        path: dir.clone(),
        message: d
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    })?;
    Ok((dir, m))
}

/// A registry opened for one command: its config, and the index files loaded so far.
pub struct Client {
    /// Local directories.
    pub paths: Paths,
    /// The fetcher.
    pub fetcher: Fetcher,
    /// The registry's `config.json`.
    pub config: RegistryConfig,
    lines: HashMap<BundleId, Vec<IndexLine>>,
    cands: HashMap<BundleId, Vec<Candidate>>,
    /// Each loaded id's metadata file: `Ok(None)` when the registry has none, `Err` (the reason)
    /// when it could not be fetched or parsed; an install of the id then refuses to guess its
    /// owners.
    metas: HashMap<BundleId, Result<Option<BundleMeta>, String>>,
    pins: PinStore,
    /// Problems seen in index files (bad lines are skipped).
    pub warnings: Vec<String>,
    ratchet_version: Version,
    /// Archives being prepared while resolution goes on ([`Client::prepare_while_resolving`]).
    prepared: std::sync::Mutex<Option<Prepared>>,
}

impl Client {
    /// Opens `src`: fetches `config.json` (from the cache when offline).
    pub fn open(paths: Paths, src: RegistrySource, offline: bool) -> Result<Client, InstallError> {
        Self::open_prefetching(paths, src, offline, &BTreeSet::new())
    }

    /// [`Client::open`], fetching the index and metadata files of `ids` (the first wave of a
    /// resolution) together with `config.json`: index paths do not depend on the config, so
    /// this saves a round trip.
    pub fn open_prefetching(
        paths: Paths,
        src: RegistrySource,
        offline: bool,
        ids: &BTreeSet<BundleId>,
    ) -> Result<Client, InstallError> {
        let fetcher = Fetcher::new(src, &paths.cache, offline)?;
        let want: Vec<BundleId> = ids.iter().cloned().collect();
        let mut rels = vec![ratchet_formats::index::CONFIG_FILE.to_string()];
        rels.extend(want.iter().map(ratchet_formats::index::index_path));
        rels.extend(want.iter().map(ratchet_formats::index::meta_path));
        let mut results = if want.is_empty() {
            vec![fetcher.get(
                ratchet_formats::index::CONFIG_FILE,
                ratchet_formats::index::MAX_SMALL_FILE_LEN,
            )]
        } else {
            fetcher.get_many(&rels, ratchet_formats::index::MAX_INDEX_FILE_LEN)
        };
        let config_result = results.remove(0);
        let bytes = config_result?.ok_or_else(|| {
            InstallError::Registry(format!(
                "{} has no config.json: it is not a ratchet registry",
                fetcher.source().base
            ))
        })?;
        if bytes.len() as u64 > ratchet_formats::index::MAX_SMALL_FILE_LEN {
            return Err(InstallError::Registry(format!(
                "{}config.json is larger than {} bytes",
                fetcher.source().base,
                ratchet_formats::index::MAX_SMALL_FILE_LEN
            )));
        }
        let file = format!("{}config.json", fetcher.source().base);
        let config = RegistryConfig::parse(&bytes, &file)
            .map_err(|e| InstallError::Registry(e.to_string()))?;
        // A local directory needs no credential: nothing is sent anywhere.
        if config.auth_required
            && fetcher.source().auth.is_none()
            && !fetcher.offline()
            && fetcher.source().base.scheme() != "file"
        {
            let src = fetcher.source();
            return Err(InstallError::Refused(format!(
                "registry `{}` requires authentication: {}",
                src.name,
                src.login_advice()
            )));
        }
        let pins = PinStore::new(&paths);
        let ratchet_version = crate::registry::target_ratchet_version(&paths.config)
            .map_err(|e| InstallError::Refused(e.to_string()))?;
        let mut config = config;
        let warnings = pins.pin_verifiers(fetcher.source().base.as_str(), &mut config)?;
        let mut client = Client {
            pins,
            paths,
            fetcher,
            config,
            lines: HashMap::new(),
            cands: HashMap::new(),
            metas: HashMap::new(),
            warnings,
            ratchet_version,
            prepared: std::sync::Mutex::new(None),
        };
        client.ingest(want, results)?;
        Ok(client)
    }

    /// Loads the index files of `ids` not loaded yet, all in one wave.
    pub fn load(&mut self, ids: &BTreeSet<BundleId>) -> Result<(), InstallError> {
        self.load_while_preparing(ids, Vec::new())
    }

    /// [`Client::load`], downloading the archives of `guesses` in the same round trip and
    /// handing each to the preparation workers as it arrives.
    fn load_while_preparing(
        &mut self,
        ids: &BTreeSet<BundleId>,
        guesses: Vec<IndexLine>,
    ) -> Result<(), InstallError> {
        let want: Vec<BundleId> = ids
            .iter()
            .filter(|i| !self.lines.contains_key(*i))
            .cloned()
            .collect();
        if want.is_empty() && guesses.is_empty() {
            return Ok(());
        }
        // The metadata files (deprecation, owners) travel in the same wave as the index files.
        let mut all: Vec<String> = want
            .iter()
            .map(ratchet_formats::index::index_path)
            .collect();
        all.extend(want.iter().map(ratchet_formats::index::meta_path));
        let items: Vec<(String, u64, String)> = guesses
            .iter()
            .map(|l| {
                (
                    self.config.download_url(&l.sha256),
                    l.size,
                    l.sha256.clone(),
                )
            })
            .collect();
        let jobs: Vec<Job> = guesses
            .into_iter()
            .map(|line| Job {
                meta: self.metas.get(&line.id).cloned().unwrap_or(Ok(None)),
                line,
                bytes: Vec::new(),
            })
            .collect();
        let sender = self
            .prepared
            .lock()
            .ok()
            .and_then(|p| p.as_ref().and_then(|p| p.tx.clone()));
        let sender = std::sync::Mutex::new(sender);
        let results = self.fetcher.get_many_while_downloading(
            &all,
            ratchet_formats::index::MAX_INDEX_FILE_LEN,
            &items,
            None,
            |i, r| {
                if let (Ok(bytes), Ok(tx)) = (r, sender.lock())
                    && let Some(tx) = tx.as_ref()
                {
                    let mut job = jobs[i].clone();
                    job.bytes = bytes;
                    let _ = tx.send(job);
                }
            },
        );
        self.ingest(want, results)
    }

    /// What the unpacking workers need, with `installed` as the installed state.
    fn unpack_context(&self, allow_unsigned: bool, installed: &InstalledState) -> UnpackContext {
        UnpackContext {
            paths: self.paths.clone(),
            config: self.config.clone(),
            pins: self.pins.clone(),
            allow_unsigned,
            local_source: self.fetcher.source().is_local(),
            installed: Arc::new(
                installed
                    .bundles
                    .iter()
                    .map(|(id, b)| (id.clone(), b.version.clone()))
                    .collect(),
            ),
        }
    }

    /// Starts preparing archives while resolution goes on: after each wave, the archives of
    /// the versions the resolution will most likely choose are downloaded with the next wave,
    /// verified and unpacked by worker threads; [`apply`] then uses what matches its plan and
    /// removes the rest. For an install that will not ask for confirmation (`--yes`, no
    /// terminal), so no round trip is spent after resolution on what could come before.
    pub fn prepare_while_resolving(&mut self, allow_unsigned: bool) {
        // The install lock is held for the whole command: the installed state read now is the
        // one `apply` starts from.
        let installed = InstalledState::load(&self.paths).unwrap_or_default();
        let ctx = self.unpack_context(allow_unsigned, &installed);
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let results: PreparedResults = Arc::default();
        let workers = (0..2)
            .map(|_| {
                let (rx, results, ctx) = (rx.clone(), results.clone(), ctx.clone());
                std::thread::spawn(move || {
                    loop {
                        let next = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => break,
                        };
                        let Ok(job) = next else { break };
                        let r =
                            verify_and_unpack(&ctx, &job.line, meta_view(&job.meta), &job.bytes);
                        if let Ok(mut m) = results.lock() {
                            m.insert(
                                (job.line.id.clone(), job.line.version.clone()),
                                (job.line.sha256.clone(), r),
                            );
                        }
                    }
                })
            })
            .collect();
        if let Ok(mut p) = self.prepared.lock() {
            *p = Some(Prepared {
                allow_unsigned,
                installed: ctx.installed.clone(),
                tx: Some(tx),
                workers,
                results,
                started: BTreeSet::new(),
            });
        }
    }

    /// The index lines of the versions the resolution will most likely choose among the
    /// bundles loaded so far (the newest release each requirement seen allows, or the locked
    /// version), not yet being prepared and not installed already.
    fn guesses(
        &mut self,
        roots: &[(BundleId, VersionReq)],
        opts: &ResolveOptions,
    ) -> Vec<IndexLine> {
        let Ok(mut guard) = self.prepared.lock() else {
            return Vec::new();
        };
        let Some(prepared) = guard.as_mut() else {
            return Vec::new();
        };
        let mut reqs: HashMap<BundleId, Vec<VersionReq>> = HashMap::new();
        for (id, r) in roots {
            reqs.entry(id.clone()).or_default().push(r.clone());
        }
        let mut queue: std::collections::VecDeque<BundleId> =
            roots.iter().map(|(id, _)| id.clone()).collect();
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        while let Some(id) = queue.pop_front() {
            if !seen.insert(id.clone()) {
                continue;
            }
            let Some(lines) = self.lines.get(&id) else {
                continue;
            };
            let pick = match opts.locked.get(&id) {
                Some(v) => lines.iter().find(|l| &l.version == v),
                None => {
                    crate::resolver::newest_release(lines, reqs.get(&id).map_or(&[], Vec::as_slice))
                }
            };
            let Some(line) = pick else { continue };
            for d in &line.dependencies {
                reqs.entry(d.bundle_id.clone())
                    .or_default()
                    .push(d.version.clone());
                queue.push_back(d.bundle_id.clone());
            }
            let already = prepared.installed.get(&id) == Some(&line.version);
            if !already && prepared.started.insert(id.clone()) {
                out.push(line.clone());
            }
        }
        out
    }

    /// Stops the preparation workers and takes what they prepared, with the `--allow-unsigned`
    /// they checked under.
    fn finish_preparing(&self) -> (PreparedMap, bool) {
        let Some(mut p) = self.prepared.lock().ok().and_then(|mut g| g.take()) else {
            return (HashMap::new(), false);
        };
        p.tx = None;
        for w in p.workers.drain(..) {
            let _ = w.join();
        }
        let results = p
            .results
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default();
        (results, p.allow_unsigned)
    }

    /// Takes in one wave's results: the index files of `want`, then their metadata files.
    fn ingest(
        &mut self,
        want: Vec<BundleId>,
        mut results: Vec<Result<Option<Vec<u8>>, FetchError>>,
    ) -> Result<(), InstallError> {
        if want.is_empty() {
            return Ok(());
        }
        let mut all: Vec<String> = want
            .iter()
            .map(ratchet_formats::index::index_path)
            .collect();
        all.extend(want.iter().map(ratchet_formats::index::meta_path));
        let meta_results = results.split_off(want.len());
        for ((id, rel), r) in want.iter().zip(&all[want.len()..]).zip(meta_results) {
            let m = match r {
                Ok(None) => Ok(None),
                Ok(Some(b)) => BundleMeta::parse(&b, rel)
                    .map(Some)
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = &m {
                self.warnings
                    .push(format!("metadata of {id} unavailable: {e}"));
            }
            self.metas.insert(id.clone(), m);
        }
        let rels = &all[..want.len()];
        let mut offline_missing = Vec::new();
        for ((id, rel), res) in want.into_iter().zip(rels).zip(results) {
            let bytes = match res {
                Ok(b) => b,
                Err(FetchError::Offline { .. }) => {
                    offline_missing.push(id.to_string());
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let mut lines = Vec::new();
            if let Some(b) = bytes {
                let f = IndexFile::parse(&b, rel, Some(&id));
                for p in f.problems() {
                    self.warnings.push(format!("skipped {p}"));
                }
                lines = f.versions().cloned().collect();
            }
            self.cands
                .insert(id.clone(), lines.iter().map(Candidate::from).collect());
            self.lines.insert(id, lines);
        }
        if !offline_missing.is_empty() {
            return Err(InstallError::Fetch(FetchError::Offline {
                registry: self.fetcher.source().name.clone(),
                what: format!("the index of {}", offline_missing.join(", ")),
            }));
        }
        Ok(())
    }

    /// Every version of `id` (fetching its index file); `NotFound` with a suggestion when the
    /// registry has no such bundle.
    pub fn versions(&mut self, id: &BundleId) -> Result<&[IndexLine], InstallError> {
        self.load(&BTreeSet::from([id.clone()]))?;
        if self.lines[id].is_empty() {
            return Err(self.not_found(id));
        }
        Ok(&self.lines[id])
    }

    fn not_found(&self, id: &BundleId) -> InstallError {
        let suggestion = self
            .fetcher
            .get(ratchet_formats::index::NAMES_FILE, 64 << 20)
            .ok()
            .flatten()
            .and_then(|b| {
                NamesFile::parse(&b, ratchet_formats::index::NAMES_FILE)
                    .suggest(id.as_str())
                    .map(ToString::to_string)
                    .filter(|s| s != id.as_str())
            });
        InstallError::NotFound {
            id: id.to_string(),
            registry: self.fetcher.source().label(),
            suggestion,
        }
    }

    /// The index line of `id` at `version`, when loaded.
    pub fn line(&self, id: &BundleId, version: &Version) -> Option<&IndexLine> {
        self.lines.get(id)?.iter().find(|l| &l.version == version)
    }

    /// Resolution options for this client: the targeted Ratchet version
    /// ([`crate::registry::target_ratchet_version`]) and this platform, nothing locked.
    pub fn resolve_options(&self) -> ResolveOptions {
        ResolveOptions {
            ratchet_version: self.ratchet_version.clone(),
            ..ResolveOptions::default()
        }
    }

    /// The bundle's metadata file (deprecation, owners, attestations), if any and readable;
    /// fetched with its index file.
    pub fn meta(&mut self, id: &BundleId) -> Option<BundleMeta> {
        self.load(&BTreeSet::from([id.clone()])).ok()?;
        self.metas.get(id)?.as_ref().ok()?.clone()
    }

    /// The trust records of `id` as the registry shows them now (§7.5): its attestations and
    /// owner chain, checked once; [`Records::status_of`] then gives each version's status.
    pub fn records(&mut self, id: &BundleId) -> Records {
        let meta = self.meta(id);
        Records::of(id.as_str(), meta.as_ref())
    }

    /// The verification status of one version ([`Client::records`] for several).
    pub fn status(&mut self, line: &IndexLine) -> VerificationStatus {
        self.records(&line.id).status_of(line, &self.config).0
    }

    /// Resolves `roots`, fetching index files wave by wave.
    pub fn resolve(
        &mut self,
        roots: &[(BundleId, VersionReq)],
        opts: &ResolveOptions,
    ) -> Result<DependencyGraph, InstallError> {
        let first: BTreeSet<BundleId> = roots.iter().map(|(i, _)| i.clone()).collect();
        self.load(&first)?;
        for (id, _) in roots {
            if self.lines[id].is_empty() {
                return Err(self.not_found(id));
            }
        }
        loop {
            match crate::resolver::resolve(roots, &self.cands, opts)? {
                Resolution::Done(g) => return Ok(g),
                Resolution::NeedIndex(ids) => {
                    let guesses = self.guesses(roots, opts);
                    self.load_while_preparing(&ids, guesses)?
                }
            }
        }
    }
}

/// One bundle of a [`Plan`].
#[derive(Debug, Clone)]
pub struct PlannedBundle {
    /// Its index line (version, hash, size, license, pricing, permissions).
    pub line: IndexLine,
    /// Already installed at this version: nothing to download.
    pub unchanged: bool,
    /// The version installed before, if another one.
    pub replaces: Option<Version>,
    /// Deprecation message, if deprecated.
    pub deprecated: Option<String>,
}

/// What an install will do, to show before asking for confirmation.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The resolved graph.
    pub graph: DependencyGraph,
    /// Every bundle of the result, in install order.
    pub bundles: Vec<PlannedBundle>,
    /// Installed bundles the result no longer contains.
    pub removed: Vec<BundleId>,
    /// The user's requests after this operation.
    pub requested: BTreeMap<BundleId, VersionReq>,
    /// The requests differ from the installed state's (e.g. a dependency now asked for by name).
    pub requests_changed: bool,
    /// Installed bundles from other registries: left exactly as they are.
    pub kept: BTreeMap<BundleId, InstalledBundle>,
}

impl Plan {
    /// Bytes to download (cached archives count too).
    pub fn download_size(&self) -> u64 {
        self.bundles
            .iter()
            .filter(|b| !b.unchanged)
            .map(|b| b.line.size)
            .sum()
    }

    /// True when the plan changes nothing.
    pub fn is_noop(&self) -> bool {
        !self.requests_changed
            && self.removed.is_empty()
            && self.bundles.iter().all(|b| b.unchanged)
    }
}

/// What to resolve.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// New requests (added to the installed ones; same id replaces).
    pub add: Vec<(BundleId, VersionReq)>,
    /// Requests to drop.
    pub drop: Vec<BundleId>,
    /// Bundles free to move to newer versions (`update`); empty keeps every installed version
    /// that still fits.
    pub unlock: Option<Vec<BundleId>>,
    /// Install exactly this lockfile.
    pub locked: Option<Lockfile>,
}

/// Resolves a request against the installed state: installed versions are kept when they still
/// fit (so an install or update changes as little as possible).
pub fn plan(client: &mut Client, req: &PlanRequest) -> Result<Plan, InstallError> {
    let mut state = InstalledState::load(&client.paths)?;
    // Bundles installed from other registries are not this registry's to resolve: they stay
    // exactly as they are (each registry holds its bundles' dependencies, so a resolution
    // never needs another registry's bundles).
    let here = client.fetcher.source().base.to_string();
    let (mine, kept): (BTreeMap<_, _>, BTreeMap<_, _>) = std::mem::take(&mut state.bundles)
        .into_iter()
        .partition(|(id, b)| {
            b.registry == here
                || req
                    .locked
                    .as_ref()
                    .is_some_and(|l| l.bundles.iter().any(|x| &x.id == id))
        });
    state.bundles = mine;
    for (id, _) in &req.add {
        if let Some(k) = kept.get(id) {
            return Err(InstallError::Refused(format!(
                "{id} is installed from registry {}; to take it from {} instead, `ratchet bundle remove {id}` first",
                k.registry,
                client.fetcher.source().label()
            )));
        }
    }
    let mut requested: BTreeMap<BundleId, VersionReq> = state
        .bundles
        .iter()
        .filter_map(|(id, b)| b.requested.clone().map(|r| (id.clone(), r)))
        .collect();
    let mut opts = client.resolve_options();
    if let Some(lock) = &req.locked {
        requested = lock.requested.clone();
        for b in &lock.bundles {
            opts.locked.insert(b.id.clone(), b.version.clone());
        }
    } else {
        for id in &req.drop {
            requested.remove(id);
        }
        for (id, r) in &req.add {
            requested.insert(id.clone(), r.clone());
        }
        for (id, b) in &state.bundles {
            let unlocked = match &req.unlock {
                None => false,
                Some(list) => list.is_empty() || list.contains(id),
            };
            if !unlocked && !req.add.iter().any(|(i, _)| i == id) {
                opts.locked.insert(id.clone(), b.version.clone());
            }
        }
    }
    let roots: Vec<(BundleId, VersionReq)> = requested
        .iter()
        .map(|(i, r)| (i.clone(), r.clone()))
        .collect();
    let graph = if roots.is_empty() {
        DependencyGraph {
            nodes: BTreeMap::new(),
            edges: Vec::new(),
            install_order: Vec::new(),
        }
    } else {
        client.resolve(&roots, &opts)?
    };
    if let Some(lock) = &req.locked {
        let got: BTreeMap<&BundleId, &Version> =
            graph.nodes.iter().map(|(i, n)| (i, &n.version)).collect();
        let want: BTreeMap<&BundleId, &Version> =
            lock.bundles.iter().map(|b| (&b.id, &b.version)).collect();
        if got != want {
            return Err(InstallError::Refused(
                "--locked: the lockfile no longer resolves to itself (its versions do not satisfy its requests here); run without --locked to update it".into(),
            ));
        }
    }
    if let Some((id, k)) = graph.nodes.keys().find_map(|id| kept.get_key_value(id)) {
        return Err(InstallError::Refused(format!(
            "this installation needs {id} from {}, but {id} is installed from registry {}; one installation holds one copy of a bundle: remove it first (`ratchet bundle remove {id}`) or install from that registry",
            client.fetcher.source().label(),
            k.registry
        )));
    }
    let mut bundles = Vec::new();
    for id in &graph.install_order {
        let node = &graph.nodes[id];
        let line = client.line(id, &node.version).cloned().ok_or_else(|| {
            InstallError::Registry(format!("{id} {}: no index line", node.version))
        })?;
        if let Some(lock) = &req.locked
            && let Some(l) = lock.bundles.iter().find(|b| &b.id == id)
            && (l.sha256 != line.sha256 || l.size != line.size)
        {
            return Err(InstallError::Refused(format!(
                "--locked: {id} {} is sha256 {} ({} bytes) in the registry but sha256 {} ({} bytes) in the lockfile: refusing different bytes",
                node.version, line.sha256, line.size, l.sha256, l.size
            )));
        }
        let prev = state.bundles.get(id);
        if let Some(p) = prev
            && p.version == node.version
            && p.sha256 != line.sha256
        {
            return Err(InstallError::Refused(format!(
                "{id} {} is installed with archive sha256 {}, but registry {} now serves {} for the same version; versions are immutable, so the registry was changed or is not the one it was installed from. Refusing; to accept the new bytes deliberately, `ratchet bundle remove {id}` and install it again",
                node.version,
                p.sha256,
                client.fetcher.source().label(),
                line.sha256
            )));
        }
        let unchanged = prev.is_some_and(|p| {
            p.version == node.version
                && p.sha256 == line.sha256
                && bundle_dir(&client.paths, id, &p.version).is_dir()
        });
        let replaces = prev
            .filter(|p| p.version != node.version)
            .map(|p| p.version.clone());
        let deprecated = client
            .metas
            .get(id)
            .and_then(|m| m.as_ref().ok())
            .and_then(|m| m.as_ref())
            .and_then(|m| m.deprecated.as_ref())
            .map(|d| match &d.replacement {
                Some(r) => format!("{} (use {r})", d.message),
                None => d.message.clone(),
            });
        bundles.push(PlannedBundle {
            line,
            unchanged,
            replaces,
            deprecated,
        });
    }
    let removed = state
        .bundles
        .keys()
        .filter(|id| !graph.nodes.contains_key(*id))
        .cloned()
        .collect();
    let before: BTreeMap<&BundleId, &VersionReq> = state
        .bundles
        .iter()
        .filter_map(|(id, b)| b.requested.as_ref().map(|r| (id, r)))
        .collect();
    let requests_changed = before != requested.iter().collect::<BTreeMap<_, _>>();
    Ok(Plan {
        graph,
        bundles,
        removed,
        requested,
        requests_changed,
        kept,
    })
}

/// How [`apply`] runs.
#[derive(Clone, Default)]
pub struct ApplyOptions {
    /// `--allow-unsigned`: accept unsigned bundles from a `local` registry (§7.6, step 7).
    pub allow_unsigned: bool,
    /// Hears about downloaded bytes (a progress bar).
    pub progress: Option<crate::registry::fetch::Progress>,
}

/// What [`apply`] did.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The committed installed state.
    pub state: InstalledState,
    /// What the user must be told: first-use pinning, owner rotations, unsigned installs,
    /// invalid attestations.
    pub warnings: Vec<String>,
}

/// One bundle that passed every check and was unpacked.
struct Unpacked {
    id: BundleId,
    status: VerificationStatus,
    signer: Option<String>,
    pin: Option<crate::verify::Pin>,
    warnings: Vec<String>,
}

/// Downloads, verifies (every check of `index-format.md` §7.6) and unpacks every changed bundle
/// of `plan`, then commits the new installed state and lockfile and saves the owner pins of
/// first installs and rotations. Until the commit nothing visible changes; after it, versions
/// no longer used are deleted.
pub fn apply(client: &Client, plan: &Plan, opts: &ApplyOptions) -> Result<Applied, InstallError> {
    let paths = &client.paths;
    let old = InstalledState::load(paths)?;
    let todo: Vec<&PlannedBundle> = plan.bundles.iter().filter(|b| !b.unchanged).collect();
    // What was prepared while resolving (the same archive, checked under the same options)
    // needs no more work; the rest is downloaded, checked and unpacked now.
    let (mut ready, prepared_unsigned) = client.finish_preparing();
    if prepared_unsigned != opts.allow_unsigned {
        discard_prepared(paths, &old, std::mem::take(&mut ready));
    }
    let mut early: Vec<Result<Unpacked, InstallError>> = Vec::new();
    let rest: Vec<&PlannedBundle> = todo
        .iter()
        .copied()
        .filter(|b| {
            let key = (b.line.id.clone(), b.line.version.clone());
            match ready.remove(&key) {
                Some((sha, Ok(u))) if sha == b.line.sha256 => {
                    early.push(Ok(u));
                    false
                }
                Some(other) => {
                    // Other bytes under that version, or a failed check: done again below.
                    ready.insert(key, other);
                    true
                }
                None => true,
            }
        })
        .collect();
    let items: Vec<(String, u64, String)> = rest
        .iter()
        .map(|b| {
            (
                client.config.download_url(&b.line.sha256),
                b.line.size,
                b.line.sha256.clone(),
            )
        })
        .collect();
    // Each archive is verified and unpacked (a few worker threads: CPU and disk bound) as soon
    // as it has arrived, while the others are still downloading.
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<Vec<u8>, FetchError>)>();
    let rx = std::sync::Mutex::new(rx);
    let ctx = client.unpack_context(opts.allow_unsigned, &old);
    let outcomes: Vec<Result<Unpacked, InstallError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4.min(rest.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let next = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => break,
                        };
                        let Ok((i, bytes)) = next else { break };
                        out.push(match bytes {
                            Ok(b) => {
                                let line = &rest[i].line;
                                let meta = client.metas.get(&line.id).map_or(Ok(None), meta_view);
                                verify_and_unpack(&ctx, line, meta, &b)
                            }
                            Err(e) => Err(e.into()),
                        });
                    }
                    out
                })
            })
            .collect();
        let tx = std::sync::Mutex::new(tx);
        client
            .fetcher
            .download_each(&items, opts.progress.clone(), |i, r| {
                if let Ok(tx) = tx.lock() {
                    let _ = tx.send((i, r));
                }
            });
        drop(tx);
        workers
            .into_iter()
            .flat_map(|w| {
                w.join().unwrap_or_else(|_| {
                    vec![Err(InstallError::Refused(
                        "an unpacking thread panicked".into(),
                    ))]
                })
            })
            .collect()
    });
    let outcomes: Vec<Result<Unpacked, InstallError>> = early.into_iter().chain(outcomes).collect();
    // Prepared versions the plan does not use (wrong guesses): their directories go.
    discard_unused(paths, &old, plan, ready);
    // On any failure, the versions unpacked by this operation go again (nothing names them:
    // installed.json is unchanged), and the first error is the answer.
    let unpacked = match outcomes.into_iter().collect::<Result<Vec<Unpacked>, _>>() {
        Ok(u) => u,
        Err(e) => {
            for b in &todo {
                let named = old
                    .bundles
                    .get(&b.line.id)
                    .is_some_and(|o| o.version == b.line.version);
                if !named {
                    let _ = std::fs::remove_dir_all(bundle_dir(paths, &b.line.id, &b.line.version));
                }
            }
            return Err(e);
        }
    };
    let mut verified = HashMap::new();
    let mut pins = Vec::new();
    let mut warnings = Vec::new();
    for u in unpacked {
        warnings.extend(u.warnings);
        pins.extend(u.pin);
        verified.insert(u.id, (u.status, u.signer));
    }
    let mut state = InstalledState {
        v: STATE_FORMAT,
        bundles: plan.kept.clone(),
    };
    let registry = client.fetcher.source().base.to_string();
    for b in &plan.bundles {
        let id = &b.line.id;
        let prev = old.bundles.get(id).filter(|_| b.unchanged);
        let (verification, signer) = match (verified.remove(id), prev) {
            (Some(v), _) => v,
            (None, Some(p)) => (p.verification.clone(), p.signer.clone()),
            (None, None) => {
                return Err(InstallError::Refused(format!(
                    "{id} {}: not verified (internal error: nothing checked it)",
                    b.line.version
                )));
            }
        };
        state.bundles.insert(
            id.clone(),
            InstalledBundle {
                version: b.line.version.clone(),
                registry: prev.map_or_else(|| registry.clone(), |p| p.registry.clone()),
                sha256: b.line.sha256.clone(),
                size: b.line.size,
                requested: plan.requested.get(id).cloned(),
                dependencies: b
                    .line
                    .dependencies
                    .iter()
                    .map(|d| d.bundle_id.clone())
                    .collect(),
                verification,
                signer,
                yanked: b.line.yanked,
                deprecated: b.deprecated.clone(),
            },
        );
    }
    // Every bundle passed: remember the owners seen (trust on first use, signed rotations)
    // before the commit, so a kill between the two can never leave an installed bundle whose
    // owners were not pinned. The pins and the unpacked files reach the disk before the
    // commit names them: one sync for all.
    // (A few threads: each pin is a file to create.)
    let saved: Vec<Result<(), TrustError>> = std::thread::scope(|scope| {
        let chunks: Vec<_> = pins
            .chunks(pins.len().div_ceil(4).max(1))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|p| client.pins.save_unsynced(p))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        chunks
            .into_iter()
            .flat_map(|c| {
                c.join().unwrap_or_else(|_| {
                    vec![Err(TrustError::WorkerPanicked {
                        what: "a pin-writing thread",
                    })]
                })
            })
            .collect()
    });
    for r in saved {
        r?;
    }
    if !todo.is_empty() || !pins.is_empty() {
        ratchet_formats::fsutil::sync_filesystem(&paths.data).map_err(local(&paths.data))?;
    }
    state.commit(paths)?;
    garbage_collect(paths, &old, &state);
    Ok(Applied { state, warnings })
}

/// What verifying and unpacking an archive needs, owned, so a worker thread can do it.
#[derive(Clone)]
struct UnpackContext {
    paths: Paths,
    config: RegistryConfig,
    pins: PinStore,
    allow_unsigned: bool,
    local_source: bool,
    /// The installed versions (whose files are never replaced).
    installed: InstalledVersions,
}

/// The installed version of each id, shared by the unpacking workers.
type InstalledVersions = Arc<BTreeMap<BundleId, Version>>;

/// A metadata file as fetched (`Err`: unusable, with the reason), borrowed.
fn meta_view(m: &Result<Option<BundleMeta>, String>) -> Result<Option<&BundleMeta>, &str> {
    m.as_ref().map(Option::as_ref).map_err(String::as_str)
}

/// One archive for the preparation workers.
#[derive(Clone)]
struct Job {
    line: IndexLine,
    meta: Result<Option<BundleMeta>, String>,
    bytes: Vec<u8>,
}

/// What the preparation workers made, by (id, version): the archive's sha256 and the outcome.
type PreparedMap = HashMap<(BundleId, Version), (String, Result<Unpacked, InstallError>)>;

/// [`PreparedMap`], shared with the workers.
type PreparedResults = Arc<std::sync::Mutex<PreparedMap>>;

/// The preparation workers of a [`Client`].
struct Prepared {
    /// `--allow-unsigned` as the workers checked with.
    allow_unsigned: bool,
    /// The installed versions when preparation started.
    installed: InstalledVersions,
    tx: Option<std::sync::mpsc::Sender<Job>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    results: PreparedResults,
    started: BTreeSet<BundleId>,
}

impl Drop for Client {
    /// Prepared archives no plan used (a failed or declined install): their directories go.
    fn drop(&mut self) {
        let (left, _) = self.finish_preparing();
        if !left.is_empty() {
            let installed = InstalledState::load(&self.paths).unwrap_or_default();
            discard_prepared(&self.paths, &installed, left);
        }
    }
}

/// [`discard_prepared`] for what a plan does not use either (a prepared version equal to a
/// planned one is kept: the plan's own unpacking replaces it).
fn discard_unused(paths: &Paths, old: &InstalledState, plan: &Plan, mut left: PreparedMap) {
    left.retain(|(id, v), _| {
        let planned = plan
            .bundles
            .iter()
            .any(|b| &b.line.id == id && &b.line.version == v);
        let named = old.bundles.get(id).is_some_and(|b| &b.version == v);
        !planned && !named
    });
    discard_prepared(paths, old, left);
}

/// Removes the directories of prepared archives that nothing uses (the installed state does
/// not name their version).
fn discard_prepared(paths: &Paths, installed: &InstalledState, left: PreparedMap) {
    for ((id, version), (_, r)) in left {
        let named = installed
            .bundles
            .get(&id)
            .is_some_and(|b| b.version == version);
        if r.is_ok() && !named {
            let _ = std::fs::remove_dir_all(bundle_dir(paths, &id, &version));
        }
    }
}

/// Checks one archive (§7.6) and unpacks it into its version directory.
fn verify_and_unpack(
    ctx: &UnpackContext,
    line: &IndexLine,
    meta: Result<Option<&BundleMeta>, &str>,
    bytes: &[u8],
) -> Result<Unpacked, InstallError> {
    let id = &line.id;
    let version = &line.version;
    let meta = meta.map_err(|e| InstallError::Archive {
        id: id.clone(),
        version: version.clone(),
        message: format!("cannot check its owners: the registry's metadata file is unusable ({e})"),
    })?;
    let v = verify_for_install(
        &TrustInputs {
            line,
            archive_bytes: bytes,
            meta,
            config: &ctx.config,
            allow_unsigned: ctx.allow_unsigned,
            local_source: ctx.local_source,
        },
        &ctx.pins,
    )?;
    let dest = bundle_dir(&ctx.paths, id, version);
    if dest.exists() {
        // Never the installed copy (plan refuses other bytes for an installed version): a
        // leftover of an interrupted operation. Replace it.
        if ctx.installed.get(id) == Some(version) {
            return Err(InstallError::Refused(format!(
                "{id} {version} is installed with other bytes; refusing to replace its files"
            )));
        }
        std::fs::remove_dir_all(&dest).map_err(local(&dest))?;
    }
    v.archive
        .extract_to_unsynced(&dest)
        .map_err(|e| InstallError::Archive {
            id: id.clone(),
            version: version.clone(),
            message: e.to_string(),
        })?;
    Ok(Unpacked {
        id: id.clone(),
        status: v.status,
        signer: v.signer.map(|k| k.key_id()),
        pin: v.pin_update,
        warnings: v.warnings,
    })
}

/// Deletes the directories of versions in `old` that `new` no longer uses (best effort: a
/// leftover directory is harmless and replaced by the next install).
fn garbage_collect(paths: &Paths, old: &InstalledState, new: &InstalledState) {
    for (id, b) in &old.bundles {
        if new.bundles.get(id).map(|n| &n.version) != Some(&b.version) {
            let _ = std::fs::remove_dir_all(bundle_dir(paths, id, &b.version));
            let parent = paths.data.join(BUNDLES_DIR).join(id.as_str());
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// Removes installed bundles. Refuses while another installed bundle needs one of them, unless
/// `cascade` (then those go too). Dependencies nobody needs any more are removed as well.
/// Returns the removed ids.
pub fn remove(
    paths: &Paths,
    ids: &[BundleId],
    cascade: bool,
) -> Result<Vec<BundleId>, InstallError> {
    let old = InstalledState::load(paths)?;
    let mut gone: BTreeSet<BundleId> = BTreeSet::new();
    for id in ids {
        if !old.bundles.contains_key(id) {
            return Err(InstallError::Refused(format!("{id} is not installed")));
        }
        gone.insert(id.clone());
    }
    loop {
        let mut added = false;
        for id in gone.clone() {
            for d in old.dependents(&id) {
                if gone.contains(&d) {
                    continue;
                }
                if !cascade {
                    return Err(InstallError::Refused(format!(
                        "{d} depends on {id}: remove it first, or use --cascade to remove both"
                    )));
                }
                gone.insert(d);
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    let mut new = old.clone();
    for id in &gone {
        new.bundles.remove(id);
    }
    // Drop dependencies nobody requested and nobody needs any more.
    loop {
        let needed: BTreeSet<BundleId> = new
            .bundles
            .values()
            .flat_map(|b| b.dependencies.iter().cloned())
            .collect();
        let orphans: Vec<BundleId> = new
            .bundles
            .iter()
            .filter(|(id, b)| b.requested.is_none() && !needed.contains(*id))
            .map(|(id, _)| id.clone())
            .collect();
        if orphans.is_empty() {
            break;
        }
        for o in orphans {
            new.bundles.remove(&o);
            gone.insert(o);
        }
    }
    new.commit(paths)?;
    garbage_collect(paths, &old, &new);
    Ok(gone.into_iter().collect())
}

/// Parses `ID[@REQ]`.
pub fn parse_spec(spec: &str) -> Result<(BundleId, VersionReq), InstallError> {
    let (id, req) = match spec.split_once('@') {
        Some((i, r)) => (i, r),
        None => (spec, "*"),
    };
    let id = BundleId::parse(id).map_err(|e| InstallError::Refused(format!("`{spec}`: {e}")))?;
    let req =
        VersionReq::parse(req).map_err(|e| InstallError::Refused(format!("`{spec}`: {e}")))?;
    Ok((id, req))
}
