//! [`Client`]: one registry opened for one command, with the index and metadata files loaded
//! so far, fetched wave by wave as the resolution asks for them.

use super::InstallError;
use super::error::{MetaError, MetaResult};
use super::prepare::{Discovery, Prepared};
use crate::events::{Event, SharedReporter, no_reporter};
use crate::paths::Paths;
use crate::registry::{FetchError, Fetcher, RegistrySource};
use crate::resolver::{Candidate, DependencyGraph, Resolution, ResolveOptions};
use crate::verify::PinStore;
use ratchet_formats::index::{
    BundleMeta, FormatError, IndexFile, IndexLine, NamesFile, Prefetch, RegistryConfig,
    prefetch_path,
};
use ratchet_formats::manifest::{BundleId, VersionReq};
use ratchet_trust::VerificationStatus;
use ratchet_trust::attest::Records;
use semver::Version;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// A registry opened for one command: its config, and the index files loaded so far.
pub struct Client {
    /// Local directories.
    pub paths: Paths,
    /// The fetcher (shared with the threads that download archives while resolution goes on,
    /// [`Client::prepare_while_resolving`]).
    pub fetcher: Arc<Fetcher>,
    /// The registry's `config.json`.
    pub config: RegistryConfig,
    pub(super) lines: HashMap<BundleId, Vec<IndexLine>>,
    pub(super) cands: HashMap<BundleId, Vec<Candidate>>,
    /// Each loaded id's metadata file: `Ok(None)` when the registry has none, `Err` (the reason)
    /// when it could not be fetched or parsed; an install of the id then refuses to guess its
    /// owners.
    pub(super) metas: HashMap<BundleId, MetaResult>,
    pub(super) pins: PinStore,
    /// Hears what the client has to tell ([`crate::events`]).
    pub(super) reporter: SharedReporter,
    pub(super) ratchet_version: Version,
    /// The prefetch hints read (index-format.md §6.5.1): only the resolution's roots'.
    pub(super) hints: HashMap<BundleId, Prefetch>,
    /// The ids whose hint is asked for with their index file: the roots of a resolution.
    pub(super) hint_roots: BTreeSet<BundleId>,
    /// Archives being prepared while resolution goes on ([`Client::prepare_while_resolving`]).
    pub(super) prepared: std::sync::Mutex<Option<Prepared>>,
    /// The signed snapshot every registry file of this command is checked against.
    pub integrity: crate::integrity::Session,
}

impl Client {
    /// Opens `src`: fetches `config.json` (from the cache when offline).
    pub fn open(paths: Paths, src: RegistrySource, offline: bool) -> Result<Client, InstallError> {
        Self::open_prefetching(paths, src, offline, &BTreeSet::new())
    }

    /// [`Client::open_reporting`] with no reporter, `ids` the roots of a resolution.
    pub fn open_prefetching(
        paths: Paths,
        src: RegistrySource,
        offline: bool,
        ids: &BTreeSet<BundleId>,
    ) -> Result<Client, InstallError> {
        Self::open_reporting(paths, src, offline, ids, true, no_reporter())
    }

    /// [`Client::open`], fetching the index and metadata files of `ids` (the first wave of a
    /// resolution) together with `config.json`: index paths do not depend on the config, so
    /// this saves a round trip. With `roots` (the ids are what a resolution starts from), their
    /// prefetch hints (index-format.md §6.5.1) come in the same wave. Everything the client has
    /// to tell, from this first wave on, goes to `reporter`.
    pub fn open_reporting(
        paths: Paths,
        src: RegistrySource,
        offline: bool,
        ids: &BTreeSet<BundleId>,
        roots: bool,
        reporter: SharedReporter,
    ) -> Result<Client, InstallError> {
        let fetcher = Fetcher::new(src, &paths.cache, offline)?;
        let want: Vec<BundleId> = ids.iter().cloned().collect();
        let mut rels = vec![ratchet_formats::index::CONFIG_FILE.to_string()];
        rels.extend(want.iter().map(ratchet_formats::index::index_path));
        rels.extend(want.iter().map(ratchet_formats::index::meta_path));
        // A hint only saves round trips: offline, the cache answers at once anyway.
        let hint_ids: Vec<BundleId> = if roots && !offline {
            want.clone()
        } else {
            Vec::new()
        };
        let hint_rels: Vec<String> = hint_ids.iter().map(prefetch_path).collect();
        // The signed timestamp first: rollback, freeze and fork are refused before any file
        // is used (index-format.md §9.7). For a remote registry this client never saw signed
        // (nothing to compare a timestamp with, no cached copy to trust), the first wave goes
        // out together with the timestamp, saving a round trip; its files are still verified
        // (below) before anything uses them, should the registry turn out to be signed.
        let base = fetcher.source().base.clone();
        let speculate = !offline
            && base.scheme() != "file"
            && crate::integrity::StateStore::new(&paths)
                .load_state(base.as_str())
                .is_ok_and(|s| s.is_none());
        let files = rels.len();
        let (integrity, early) = if speculate {
            std::thread::scope(|scope| {
                let wave = scope.spawn(|| {
                    if rels.len() == 1 {
                        vec![fetcher.get(
                            ratchet_formats::index::CONFIG_FILE,
                            ratchet_formats::index::MAX_SMALL_FILE_LEN,
                        )]
                    } else {
                        let all: Vec<String> = rels.iter().chain(&hint_rels).cloned().collect();
                        fetcher.get_many_limited(&all, &first_wave_limits(rels.len(), all.len()))
                    }
                });
                let integrity = crate::integrity::Session::open(&fetcher, &paths, &reporter);
                // A panic in the wave's thread is the fetcher's bug: the wave is sent again.
                (integrity, wave.join().ok())
            })
        } else {
            (
                crate::integrity::Session::open(&fetcher, &paths, &reporter),
                None,
            )
        };
        let integrity = integrity?;
        let (mut results, hint_results) = match early {
            // The map proofs of the early wave's files (a registry signed after all) follow
            // in `verify`, one wave per level of the map.
            Some(mut results) => {
                reporter.report(&wave_fetched(&results));
                let hints = results.split_off(files.min(results.len()));
                (results, hints)
            }
            None => {
                // The map proofs of these files travel in the same wave (not the hints'
                // proofs: hints are not signed state, §9.3).
                let nodes = integrity.node_paths(&rels);
                rels.extend(nodes.iter().cloned());
                let hints_at = rels.len();
                rels.extend(hint_rels.iter().cloned());
                let mut results = if rels.len() == 1 {
                    vec![fetcher.get(
                        ratchet_formats::index::CONFIG_FILE,
                        ratchet_formats::index::MAX_SMALL_FILE_LEN,
                    )]
                } else {
                    fetcher.get_many_limited(&rels, &first_wave_limits(hints_at, rels.len()))
                };
                reporter.report(&wave_fetched(&results));
                let hints = results.split_off(hints_at.min(results.len()));
                integrity.absorb_nodes(&nodes, results.split_off(files.min(results.len())));
                rels.truncate(files);
                (results, hints)
            }
        };
        integrity.verify(
            &fetcher,
            &rels,
            &mut results,
            ratchet_formats::index::MAX_INDEX_FILE_LEN,
        )?;
        let config_result = results.remove(0);
        let bytes = config_result?.ok_or_else(|| InstallError::NotARegistry {
            registry: fetcher.source().base.to_string(),
        })?;
        if bytes.len() as u64 > ratchet_formats::index::MAX_SMALL_FILE_LEN {
            return Err(InstallError::ConfigTooLarge {
                registry: fetcher.source().base.to_string(),
                limit: ratchet_formats::index::MAX_SMALL_FILE_LEN,
            });
        }
        let file = format!("{}config.json", fetcher.source().base);
        let config =
            RegistryConfig::parse(&bytes, &file).map_err(InstallError::BadRegistryConfig)?;
        // A local directory needs no credential: nothing is sent anywhere.
        if config.auth_required
            && fetcher.source().auth.is_none()
            && !fetcher.offline()
            && fetcher.source().base.scheme() != "file"
            // git authenticates to a git-hosted registry itself (ssh agent, credential helper).
            && fetcher.source().git().is_none()
        {
            let src = fetcher.source();
            return Err(InstallError::AuthRequired {
                registry: src.name.clone(),
                advice: src.login_advice(),
            });
        }
        let pins = PinStore::new(&paths);
        let ratchet_version = crate::registry::target_ratchet_version(&paths.config)?;
        let mut config = config;
        for n in pins.pin_verifiers(fetcher.source().base.as_str(), &mut config)? {
            reporter.report(&Event::Trust(n));
        }
        let mut client = Client {
            pins,
            paths,
            fetcher: Arc::new(fetcher),
            config,
            lines: HashMap::new(),
            cands: HashMap::new(),
            metas: HashMap::new(),
            reporter,
            ratchet_version,
            prepared: std::sync::Mutex::new(None),
            integrity,
            hints: HashMap::new(),
            hint_roots: Default::default(),
        };
        client.absorb_hints(&hint_ids, hint_results);
        client.ingest(want, results, true)?;
        Ok(client)
    }

    /// Loads the index files of `ids` not loaded yet, all in one wave.
    pub fn load(&mut self, ids: &BTreeSet<BundleId>) -> Result<(), InstallError> {
        self.load_while_preparing(ids, &BTreeSet::new(), Vec::new())
    }

    /// Takes in the prefetch hint files of `ids` (one result each, in order): a hint that
    /// does not parse or names another bundle is reported and ignored, a missing one is none.
    pub(super) fn absorb_hints(
        &mut self,
        ids: &[BundleId],
        results: Vec<Result<Option<Vec<u8>>, FetchError>>,
    ) {
        for (id, r) in ids.iter().zip(results) {
            let Ok(Some(bytes)) = r else { continue };
            let rel = prefetch_path(id);
            match Prefetch::parse(&bytes, &rel) {
                // A format this client does not know: a newer registry's, not a problem.
                Ok(None) => {}
                Ok(Some(h)) if &h.id == id => {
                    self.hints.insert(id.clone(), h);
                }
                Ok(Some(h)) => self.reporter.report(&Event::IndexProblem {
                    message: format!("ignored the prefetch hint {rel}: it is about {}", h.id),
                }),
                Err(e) => self.reporter.report(&Event::IndexProblem {
                    message: format!("ignored a prefetch hint: {e}"),
                }),
            }
        }
    }

    /// Takes in one wave's results: the index files of `want`, then (`meta_files`) their
    /// metadata files. Without them, or of a registry whose config says `meta-in-index`, each
    /// bundle's metadata is its index file's metadata line (index-format.md §6.3.1).
    pub(super) fn ingest(
        &mut self,
        want: Vec<BundleId>,
        results: Vec<Result<Option<Vec<u8>>, FetchError>>,
        meta_files: bool,
    ) -> Result<(), InstallError> {
        self.ingest_mode(want, results, false, meta_files)
    }

    /// [`Client::ingest`] for bundles fetched only because a prefetch hint named them
    /// (index-format.md §6.5.1): a bundle whose index or metadata file failed to arrive, or
    /// has a problem, is left unloaded and quietly, so that it is fetched again (and its
    /// problems told) only if a requirement reaches it. A hint never fails a command.
    pub(super) fn ingest_hinted(
        &mut self,
        want: Vec<BundleId>,
        results: Vec<Result<Option<Vec<u8>>, FetchError>>,
        meta_files: bool,
    ) {
        let _ = self.ingest_mode(want, results, true, meta_files);
    }

    fn ingest_mode(
        &mut self,
        want: Vec<BundleId>,
        mut results: Vec<Result<Option<Vec<u8>>, FetchError>>,
        hinted: bool,
        meta_files: bool,
    ) -> Result<(), InstallError> {
        if want.is_empty() {
            return Ok(());
        }
        let meta_results: Vec<Option<Result<Option<Vec<u8>>, FetchError>>> = if meta_files {
            results
                .split_off(want.len())
                .into_iter()
                .map(Some)
                .collect()
        } else {
            want.iter().map(|_| None).collect()
        };
        let mut offline_missing = Vec::new();
        for ((id, res), m) in want.into_iter().zip(results).zip(meta_results) {
            let file_meta = |m: Result<Option<Vec<u8>>, FetchError>| -> MetaResult {
                match m {
                    Ok(b) => parse_meta(&id, b.as_deref()),
                    Err(e) => Err(Arc::new(MetaError::Fetch(e))),
                }
            };
            let bytes = match res {
                Ok(b) => b,
                Err(_) if hinted => continue,
                Err(FetchError::Offline { .. }) => {
                    offline_missing.push(id.to_string());
                    let meta = if self.config.meta_in_index {
                        Ok(None)
                    } else {
                        m.map_or(Ok(None), file_meta)
                    };
                    self.metas.insert(id, meta);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let rel = ratchet_formats::index::index_path(&id);
            let mut file = bytes.map(|b| IndexFile::parse(&b, &rel, Some(&id)));
            // Of a `meta-in-index` registry, the line is the metadata even when the first
            // round trip (sent before config.json said so) brought the file too; of another,
            // a line is never read.
            let meta: MetaResult = if self.config.meta_in_index {
                line_meta(file.as_mut().and_then(|f| f.meta.take()))
            } else {
                m.map_or(Ok(None), file_meta)
            };
            if hinted && meta.is_err() {
                continue;
            }
            if let Err(e) = &meta {
                self.reporter.report(&Event::IndexProblem {
                    message: format!("metadata of {id} unavailable: {e}"),
                });
            }
            let mut lines = Vec::new();
            if let Some(f) = file {
                if hinted && f.problems().next().is_some() {
                    continue;
                }
                for p in f.problems() {
                    self.reporter.report(&Event::IndexProblem {
                        message: format!("skipped {p}"),
                    });
                }
                lines = f.versions().cloned().collect();
            }
            self.metas.insert(id.clone(), meta);
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

    /// Proves, for every bundle `plan` installs or changes, that the transparency log holds the
    /// entry that last set its index file (`--verify-log`, `index-format.md` §9.7 step 4).
    /// Returns how many were proven (0 for a registry without signed snapshots).
    pub fn verify_logged(&self, plan: &super::Plan) -> Result<usize, InstallError> {
        let mut n = 0;
        for b in plan.bundles.iter().filter(|b| !b.unchanged) {
            let rel = ratchet_formats::index::index_path(&b.line.id);
            if self.integrity.verify_logged(&self.fetcher, &rel)?.is_some() {
                n += 1;
            }
        }
        Ok(n)
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

    /// Resolves `roots`, fetching index files wave by wave: each wave fetches what the
    /// versions picked so far name ([`Discovery`], a level of the graph per wave), the
    /// resolver runs once nothing is left to discover, and asks for more only if it went
    /// elsewhere (a conflict).
    pub fn resolve(
        &mut self,
        roots: &[(BundleId, VersionReq)],
        opts: &ResolveOptions,
    ) -> Result<DependencyGraph, InstallError> {
        let first: BTreeSet<BundleId> = roots.iter().map(|(i, _)| i.clone()).collect();
        if !self.fetcher.offline() {
            self.hint_roots.extend(first.iter().cloned());
        }
        self.load(&first)?;
        for (id, _) in roots {
            if self.lines[id].is_empty() {
                return Err(self.not_found(id));
            }
        }
        let mut discovery = Discovery::new(roots);
        loop {
            let (found, guesses) = self.discover(&mut discovery, opts);
            // Offline, only what the resolver asks for is read: a guess the cache cannot
            // answer must not fail the command.
            if !found.is_empty() && !self.fetcher.offline() {
                let hinted = discovery.hint_only(&found);
                self.load_while_preparing(&found, &hinted, guesses)?;
                discovery.loaded(&found);
                continue;
            }
            // The archives of the last bundles picked leave before the resolver runs.
            self.load_while_preparing(&BTreeSet::new(), &BTreeSet::new(), guesses)?;
            match crate::resolver::resolve(roots, &self.cands, opts)? {
                Resolution::Done(g) => return Ok(g),
                Resolution::NeedIndex(ids) => {
                    self.load_while_preparing(&ids, &BTreeSet::new(), Vec::new())?;
                    discovery.loaded(&ids);
                }
            }
        }
    }
}

/// The read limits of a first wave of `len` files whose prefetch hints start at `hints_at`:
/// index-file sized before, a hint's own limit (§6.5.1) after.
fn first_wave_limits(hints_at: usize, len: usize) -> Vec<u64> {
    (0..len)
        .map(|i| {
            if i < hints_at {
                ratchet_formats::index::MAX_INDEX_FILE_LEN
            } else {
                ratchet_formats::index::prefetch::MAX_PREFETCH_FILE_LEN
            }
        })
        .collect()
}

/// The [`Event::WaveFetched`] of one wave's results.
pub(super) fn wave_fetched(results: &[Result<Option<Vec<u8>>, FetchError>]) -> Event {
    Event::WaveFetched {
        files: results.len(),
        bytes: results
            .iter()
            .map(|r| {
                r.as_ref()
                    .ok()
                    .and_then(Option::as_ref)
                    .map_or(0, |b| b.len() as u64)
            })
            .sum(),
    }
}

/// A bundle's metadata from its index file's metadata line (index-format.md §6.3.1): none
/// without a line, unusable when the line is bad.
pub(super) fn line_meta(
    line: Option<Result<BundleMeta, ratchet_formats::index::LineProblem>>,
) -> MetaResult {
    match line {
        None => Ok(None),
        Some(Ok(m)) => Ok(Some(m)),
        Some(Err(p)) => Err(Arc::new(MetaError::Parse(FormatError::Parse {
            file: p.file,
            line: Some(p.line),
            message: p.message,
        }))),
    }
}

/// The metadata file of `id` as fetched (`None`: absent, a `404`), parsed.
pub(super) fn parse_meta(id: &BundleId, bytes: Option<&[u8]>) -> MetaResult {
    match bytes {
        None => Ok(None),
        Some(b) => BundleMeta::parse(b, &ratchet_formats::index::meta_path(id))
            .map(Some)
            .map_err(|e| Arc::new(MetaError::Parse(e))),
    }
}
