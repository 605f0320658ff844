//! Preparing archives while resolution goes on: the archives of the versions the resolution
//! will most likely choose are downloaded with the next wave of index files and verified and
//! unpacked on the install's worker threads (`pool`), so no round trip is spent after resolution on what could come
//! before. [`super::apply()`] then takes what matches its plan and discards the rest.

use super::apply::{InstalledVersions, UnpackContext, Unpacked, meta_view, verify_and_unpack};
use super::plan::Plan;
use super::pool::{Pool, Task};
use super::state::{InstalledState, bundle_dir};
use super::{Client, InstallError};
use crate::paths::Paths;
use crate::registry::FetchError;
use crate::resolver::ResolveOptions;
use ratchet_formats::index::prefetch::HintedArchive;
use ratchet_formats::index::{IndexFile, IndexLine, Prefetch};
use ratchet_formats::manifest::{BundleId, VersionReq};
use semver::Version;
use std::collections::{BTreeSet, HashMap};

impl Client {
    /// [`Client::load`], downloading the archives of `guesses` in the same round trip and
    /// handing each to a preparation task as it arrives.
    /// The ids of `hinted` are fetched only because a prefetch hint named them: they are read
    /// with a smaller limit, and one that fails or does not verify is left unloaded instead of
    /// failing the command (index-format.md §6.5.1).
    pub(super) fn load_while_preparing(
        &mut self,
        ids: &BTreeSet<BundleId>,
        hinted: &BTreeSet<BundleId>,
        guesses: Vec<IndexLine>,
    ) -> Result<(), InstallError> {
        // The bundles the resolution needs first, then those only a hint named.
        let (mut want, extra): (Vec<BundleId>, Vec<BundleId>) = ids
            .iter()
            .filter(|i| !self.lines.contains_key(*i))
            .cloned()
            .partition(|i| !hinted.contains(i));
        let needed = want.len();
        want.extend(extra);
        if want.is_empty() && guesses.is_empty() {
            return Ok(());
        }
        // The metadata files (deprecation, owners) travel in the same wave as the index files,
        // or in them (index-format.md §6.3.1): one or two files per bundle.
        let meta_files = !self.config.meta_in_index;
        let per = if meta_files { 2 } else { 1 };
        let mut all: Vec<String> = want
            .iter()
            .map(ratchet_formats::index::index_path)
            .collect();
        if meta_files {
            all.extend(want.iter().map(ratchet_formats::index::meta_path));
        }
        // The map proofs of these files travel in the same wave (index-format.md §9.7).
        let nodes = self.integrity.node_paths(&all);
        let files = all.len();
        all.extend(nodes.iter().cloned());
        // The prefetch hints of the resolution's roots travel with their index files (a root
        // loaded already had its hint asked for with it).
        let hint_ids: Vec<BundleId> = want
            .iter()
            .filter(|i| self.hint_roots.contains(*i))
            .cloned()
            .collect();
        let hints_at = all.len();
        all.extend(hint_ids.iter().map(ratchet_formats::index::prefetch_path));
        let workers = self.prepared.lock().ok().and_then(|p| {
            p.as_ref().map(|p| {
                let early = (p.early.clone(), p.installed.clone());
                (p.pool.clone(), p.ctx.clone(), early)
            })
        });
        let mut guesses = guesses;
        let mut early_items: Vec<(String, u64, String)> = Vec::new();
        if let Some((pool, ctx, (early, installed))) = &workers
            && let Ok(mut e) = early.lock()
        {
            // A guess whose archive a prefetch hint had fetched (or is fetching) starts from
            // those bytes, now that its index line has come.
            guesses.retain(|line| {
                let job = || self.job(line.clone());
                !e.paired.contains(&line.sha256) && !e.pair(&line.sha256, pool, ctx, job)
            });
            // An archive downloaded as a guess is not asked for again by a hint later.
            for l in &guesses {
                e.asked.insert(l.sha256.clone());
            }
            // The archives the hints name leave now, with the index files that will say
            // whether they are wanted (index-format.md §6.5.1).
            for a in self.hints.values().flat_map(|h| &h.archives) {
                // Each counts at least 16 KiB, so that hints of small (or empty) archives
                // make at most 4,096 requests too.
                let cost = a.size.max(EARLY_MIN_COST);
                if e.asked.contains(&a.sha256)
                    || installed.get(&a.id) == Some(&a.version)
                    || e.bytes.saturating_add(cost) > EARLY_BYTES
                {
                    continue;
                }
                e.bytes += cost;
                e.asked.insert(a.sha256.clone());
                e.archives.insert(a.sha256.clone(), None);
                early_items.push((
                    self.config.download_url(&a.sha256),
                    a.size,
                    a.sha256.clone(),
                ));
            }
        }
        let mut items: Vec<(String, u64, String)> = guesses
            .iter()
            .map(|l| {
                (
                    self.config.download_url(&l.sha256),
                    l.size,
                    l.sha256.clone(),
                )
            })
            .collect();
        let guessed = items.len();
        items.extend(early_items);
        let jobs: Vec<Job> = guesses.into_iter().map(|line| self.job(line)).collect();
        // The archives leave with the wave's files but do not hold the wave up: they are
        // downloaded on a thread of their own, each handed to a preparation task as it
        // arrives, while the resolution goes on with the files.
        if let Some((pool, ctx, (early, _))) = workers.clone().filter(|_| !items.is_empty()) {
            let fetcher = self.fetcher.clone();
            let download = std::thread::spawn(move || {
                let started = std::sync::Mutex::new(Vec::new());
                fetcher.download_each(&items, None, |i, r| {
                    if i >= guessed {
                        // A hinted archive: prepared if its index line is waiting for it,
                        // kept for the line otherwise. One that failed is dropped: `apply`
                        // downloads what was not prepared.
                        let sha = &items[i].2;
                        let Ok(mut e) = early.lock() else { return };
                        match r {
                            Ok(bytes) => match e.waiting.remove(sha) {
                                Some(job) => {
                                    e.archives.remove(sha);
                                    let task = start(&pool, &ctx, job, bytes);
                                    e.tasks.push(task);
                                }
                                None => {
                                    e.archives.insert(sha.clone(), Some(bytes));
                                }
                            },
                            Err(_) => {
                                e.archives.remove(sha);
                                // A line waiting for it is left to a guess (or `apply`).
                                if e.waiting.remove(sha).is_some() {
                                    e.paired.remove(sha);
                                }
                            }
                        }
                    } else if let Ok(bytes) = r {
                        let task = start(&pool, &ctx, jobs[i].clone(), bytes);
                        if let Ok(mut s) = started.lock() {
                            s.push(task);
                        }
                    }
                });
                started.into_inner().unwrap_or_default()
            });
            if let Ok(mut p) = self.prepared.lock()
                && let Some(p) = p.as_mut()
            {
                p.downloads.push(download);
            }
        }
        let n = want.len();
        let limits: Vec<u64> = (0..all.len())
            .map(|i| {
                if i >= hints_at {
                    ratchet_formats::index::prefetch::MAX_PREFETCH_FILE_LEN
                } else if i < per * n && i % n >= needed {
                    MAX_HINTED_FILE_LEN
                } else {
                    ratchet_formats::index::MAX_INDEX_FILE_LEN
                }
            })
            .collect();
        // Of an unsigned registry (no snapshot to check files against first), a bundle whose
        // hinted archive is on its way has that archive set to work as soon as its index and
        // metadata files are in, with the line of the hint's version, while the rest of the
        // wave arrives (index-format.md §8.4).
        let mut streamed: HashMap<usize, Vec<&HintedArchive>> = HashMap::new();
        if let Some((_, _, (early, installed))) = &workers
            && !self.integrity.is_signed()
            && let Ok(e) = early.lock()
        {
            let at: HashMap<&BundleId, usize> = want.iter().zip(0..).collect();
            for a in self.hints.values().flat_map(|h| &h.archives) {
                if let Some(&pos) = at.get(&a.id)
                    && e.archives.contains_key(&a.sha256)
                    && installed.get(&a.id) != Some(&a.version)
                {
                    streamed.entry(pos).or_default().push(a);
                }
            }
        }
        type Halves = (Option<Option<Vec<u8>>>, Option<Option<Vec<u8>>>);
        let halves: std::sync::Mutex<HashMap<usize, Halves>> = Default::default();
        let arrived = |i: usize, r: &Result<Option<Vec<u8>>, FetchError>| {
            let (Some((pool, ctx, (early, _))), Ok(body), true) = (&workers, r, i < per * n) else {
                return;
            };
            let Some(hinted) = streamed.get(&(i % n)) else {
                return;
            };
            let Ok(mut halves) = halves.lock() else {
                return;
            };
            let half = halves.entry(i % n).or_default();
            if i < n {
                half.0 = Some(body.clone());
            } else {
                half.1 = Some(body.clone());
            }
            if !meta_files {
                // The metadata is the index file's own line.
                half.1 = Some(None);
            }
            let (Some(Some(index)), Some(meta)) = half else {
                return;
            };
            let id = &want[i % n];
            let file = IndexFile::parse(index, &ratchet_formats::index::index_path(id), Some(id));
            // Taken only as the wave's ingestion will take them: a file with a problem is left
            // to it.
            let meta = if meta_files {
                super::client::parse_meta(id, meta.as_deref())
            } else {
                super::client::line_meta(file.meta.clone())
            };
            let Ok(meta) = meta else {
                return;
            };
            if file.problems().next().is_some() {
                return;
            }
            let Ok(mut e) = early.lock() else { return };
            for a in hinted {
                if let Some(line) = file
                    .versions()
                    .find(|l| l.version == a.version && l.sha256 == a.sha256 && !l.yanked)
                    && !e.paired.contains(&a.sha256)
                {
                    let job = || Job {
                        line: line.clone(),
                        meta: Ok(meta.clone()),
                    };
                    e.pair(&a.sha256, pool, ctx, job);
                }
            }
            halves.remove(&(i % n));
        };
        let mut results = if all.is_empty() {
            Vec::new()
        } else if streamed.is_empty() {
            self.fetcher.get_many_limited(&all, &limits)
        } else {
            self.fetcher.get_many_limited_each(&all, &limits, &arrived)
        };
        if !results.is_empty() {
            self.reporter.report(&super::client::wave_fetched(&results));
        }
        let hint_results = results.split_off(hints_at.min(results.len()));
        self.absorb_hints(&hint_ids, hint_results);
        self.integrity
            .absorb_nodes(&nodes, results.split_off(files.min(results.len())));
        all.truncate(files);
        // [index files][metadata files, when apart], each needed then hinted: two groups,
        // verified and taken in each its own way (the hinted one is empty but for the bundles
        // only a hint named).
        fn split<T>(v: Vec<T>, n: usize, needed: usize) -> (Vec<T>, Vec<T>) {
            let (mut need, mut hint) = (Vec::new(), Vec::new());
            for (i, x) in v.into_iter().enumerate() {
                if i % n < needed {
                    need.push(x)
                } else {
                    hint.push(x)
                }
            }
            (need, hint)
        }
        let (need_rels, hint_rels) = split(all, n, needed);
        let (mut need_results, mut hint_results) = split(results, n, needed);
        let hinted_ids = want.split_off(needed);
        self.integrity.verify(
            &self.fetcher,
            &need_rels,
            &mut need_results,
            ratchet_formats::index::MAX_INDEX_FILE_LEN,
        )?;
        self.ingest(want, need_results, meta_files)?;
        if !hinted_ids.is_empty()
            && self
                .integrity
                .verify(
                    &self.fetcher,
                    &hint_rels,
                    &mut hint_results,
                    MAX_HINTED_FILE_LEN,
                )
                .is_ok()
        {
            self.ingest_hinted(hinted_ids, hint_results, meta_files);
        }
        Ok(())
    }

    /// The preparation job of `line`, with its bundle's metadata as loaded.
    fn job(&self, line: IndexLine) -> Job {
        Job {
            meta: self.metas.get(&line.id).cloned().unwrap_or(Ok(None)),
            line,
        }
    }

    /// Starts preparing archives while resolution goes on: after each wave, the archives of
    /// the versions the resolution will most likely choose are downloaded with the next wave,
    /// verified and unpacked on worker threads; [`super::apply()`] then uses what matches its plan and
    /// removes the rest. For an install that will not ask for confirmation (`--yes`, no
    /// terminal), so no round trip is spent after resolution on what could come before.
    pub fn prepare_while_resolving(&mut self, allow_unsigned: bool) {
        // The install lock is held for the whole command: the installed state read now is the
        // one `apply` starts from.
        let installed = InstalledState::load(&self.paths).unwrap_or_default();
        let ctx = self.unpack_context(allow_unsigned, &installed);
        if let Ok(mut p) = self.prepared.lock() {
            *p = Some(Prepared {
                allow_unsigned,
                installed: ctx.installed.clone(),
                ctx,
                // Two at a time, behind the resolution going on beside them.
                pool: Pool::background(2),
                tasks: Vec::new(),
                downloads: Vec::new(),
                started: BTreeSet::new(),
                early: Default::default(),
            });
        }
    }

    /// Moves `discovery` on over the bundles loaded so far ([`Discovery::step`]) and returns
    /// the ids it found to fetch, with the index lines of the versions picked for the first
    /// time that are to be prepared (not installed already, not being prepared).
    pub(super) fn discover(
        &self,
        discovery: &mut Discovery,
        opts: &ResolveOptions,
    ) -> (BTreeSet<BundleId>, Vec<IndexLine>) {
        let (fetch, picked) = discovery.step(&self.lines, &self.hints, opts);
        let Ok(mut guard) = self.prepared.lock() else {
            return (fetch, Vec::new());
        };
        let Some(prepared) = guard.as_mut() else {
            return (fetch, Vec::new());
        };
        let guesses = picked
            .into_iter()
            .filter(|l| prepared.installed.get(&l.id) != Some(&l.version))
            .filter(|l| prepared.started.insert(l.id.clone()))
            .collect();
        (fetch, guesses)
    }

    /// Waits for the preparation tasks and takes what they prepared, with the
    /// `--allow-unsigned` they checked under. (A task that panicked prepared nothing: its
    /// archive is done again by [`super::apply()`].)
    pub(super) fn finish_preparing(&self) -> (PreparedMap, bool) {
        match self.take_preparing() {
            Some(p) => {
                let allow_unsigned = p.allow_unsigned;
                (p.finish(), allow_unsigned)
            }
            None => (HashMap::new(), false),
        }
    }

    /// Stops preparing and hands over the preparation tasks without waiting for them (only for
    /// the downloads still on their way, at most a round trip): [`super::apply()`] downloads
    /// what was not prepared while they finish.
    pub(super) fn take_preparing(&self) -> Option<Prepared> {
        let mut p = self.prepared.lock().ok().and_then(|mut g| g.take())?;
        // The command waits for what is left: it runs at the normal priority.
        p.pool.foreground();
        for d in std::mem::take(&mut p.downloads) {
            // A download thread that panicked started nothing more: what it did not hand
            // over is downloaded again by `apply`.
            if let Ok(tasks) = d.join() {
                p.tasks.extend(tasks);
            }
        }
        // Every download has ended: what a hint fetched and no line took is dropped.
        if let Ok(mut e) = p.early.lock() {
            let tasks = std::mem::take(&mut e.tasks);
            p.tasks.extend(tasks);
        }
        Some(p)
    }
}

/// Starts the preparation task of `job` with its archive's `bytes`.
fn start(pool: &Pool, ctx: &UnpackContext, job: Job, bytes: Vec<u8>) -> (PreparedKey, PrepareTask) {
    let ctx = ctx.clone();
    let key = key_of(&job.line);
    let task = pool.spawn(move || {
        let r = verify_and_unpack(&ctx, &job.line, meta_view(&job.meta), &bytes);
        (job.line, r)
    });
    (key, task)
}

/// Most bytes of archives one resolution downloads because prefetch hints named them, before
/// an index line asked for them (each counted as at least [`EARLY_MIN_COST`]).
pub(super) const EARLY_BYTES: u64 = 64 << 20;

/// What a hinted archive counts against [`EARLY_BYTES`] at least: so at most
/// [`MAX_HINTED`] of them per resolution.
const EARLY_MIN_COST: u64 = EARLY_BYTES / MAX_HINTED as u64;

/// Archives downloaded because a prefetch hint named them, before the index line that picks
/// them has arrived (index-format.md §6.5.1), and their pairing with that line when it does.
/// An archive is used only for an index line with its digest, and checked as any other.
#[derive(Default)]
pub(super) struct Early {
    /// The digests asked for: `None` while on the way, the bytes once arrived (and not yet
    /// asked for by a line).
    archives: HashMap<String, Option<Vec<u8>>>,
    /// Lines whose archive is on the way, by digest.
    waiting: HashMap<String, Job>,
    /// Every digest asked for (each once, whatever came of it).
    asked: std::collections::HashSet<String>,
    /// The digests given a line (being prepared, or waiting for their archive): a guess of
    /// the same line is not downloaded or prepared again.
    paired: std::collections::HashSet<String>,
    /// Bytes asked for so far (at most [`EARLY_BYTES`]).
    bytes: u64,
    /// The tasks started for a line and its archive.
    tasks: Vec<(PreparedKey, PrepareTask)>,
}

impl Early {
    /// Gives the archive `sha256` the line of `job` when a hint asked for that archive: its
    /// task starts now if it has arrived, when it arrives otherwise. False when no hint asked
    /// for it, or its download failed.
    fn pair(
        &mut self,
        sha256: &str,
        pool: &Pool,
        ctx: &UnpackContext,
        job: impl FnOnce() -> Job,
    ) -> bool {
        match self.archives.get(sha256) {
            Some(Some(_)) => {
                if let Some(Some(bytes)) = self.archives.remove(sha256) {
                    let task = start(pool, ctx, job(), bytes);
                    self.tasks.push(task);
                }
            }
            Some(None) => {
                self.waiting.insert(sha256.to_string(), job());
            }
            None => return false,
        }
        self.paired.insert(sha256.to_string());
        true
    }
}

/// A preparation task: it gives the index line it prepared and the outcome.
type PrepareTask = Task<(IndexLine, Result<Unpacked, InstallError>)>;

/// The archive a preparation task works on: (id, version, sha256).
pub(super) type PreparedKey = (BundleId, Version, String);

fn key_of(line: &IndexLine) -> PreparedKey {
    (line.id.clone(), line.version.clone(), line.sha256.clone())
}

impl Prepared {
    /// `--allow-unsigned` as the tasks check with.
    pub(super) fn allow_unsigned(&self) -> bool {
        self.allow_unsigned
    }

    /// The archives a task is working on (each downloaded already, being or been checked).
    pub(super) fn keys(&self) -> impl Iterator<Item = &PreparedKey> {
        self.tasks.iter().map(|(k, _)| k)
    }

    /// Waits for the tasks and takes what they prepared.
    pub(super) fn finish(self) -> PreparedMap {
        let tasks = self.tasks.into_iter().map(|(_, t)| t).collect();
        self.pool
            .join(tasks)
            .into_iter()
            .flatten()
            .map(|(line, r)| ((line.id, line.version), (line.sha256, r)))
            .collect()
    }
}

/// One archive for the preparation tasks (its bytes come with the download).
#[derive(Clone)]
pub(super) struct Job {
    line: IndexLine,
    meta: super::error::MetaResult,
}

/// What the preparation tasks made, by (id, version): the archive's sha256 and the outcome.
pub(super) type PreparedMap =
    HashMap<(BundleId, Version), (String, Result<Unpacked, InstallError>)>;

/// The preparation tasks of a [`Client`].
pub(super) struct Prepared {
    /// `--allow-unsigned` as the tasks check with.
    allow_unsigned: bool,
    /// The installed versions when preparation started.
    installed: InstalledVersions,
    /// What the tasks check and unpack with.
    ctx: UnpackContext,
    /// Where they run.
    pool: Pool,
    /// The tasks started so far, with the archive each works on: each gives the index line it
    /// prepared and the outcome.
    tasks: Vec<(PreparedKey, PrepareTask)>,
    /// The threads downloading archives (each gives the tasks it started).
    downloads: Vec<std::thread::JoinHandle<Vec<(PreparedKey, PrepareTask)>>>,
    /// Ids whose guessed version is being prepared.
    started: BTreeSet<BundleId>,
    /// The archives hints named, downloaded ahead of their index lines.
    early: std::sync::Arc<std::sync::Mutex<Early>>,
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
pub(super) fn discard_unused(
    paths: &Paths,
    old: &InstalledState,
    plan: &Plan,
    mut left: PreparedMap,
) {
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
pub(super) fn discard_prepared(paths: &Paths, installed: &InstalledState, left: PreparedMap) {
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

/// The versions a resolution will most likely choose, found as index files come in: for each
/// bundle reached from the roots, the newest release every requirement seen so far allows (or
/// the locked version), and the bundles its dependencies name. Each file is looked at when it
/// arrives and again only when a new requirement reaches its bundle; a bundle whose pick
/// changes adds the dependencies of the new pick too (the union is fetched), so the waves
/// follow the graph level by level without running the resolver after each one. The resolver
/// runs once nothing is left to fetch (and asks for more if a conflict took it elsewhere).
pub(super) struct Discovery {
    /// The requirements seen so far, per bundle.
    reqs: HashMap<BundleId, Vec<VersionReq>>,
    /// The version picked so far, per bundle.
    picks: HashMap<BundleId, Version>,
    /// The picks whose dependencies were taken in.
    expanded: std::collections::HashSet<(BundleId, Version)>,
    /// Bundles to look at again (new file, or new requirement), each queued once at a time.
    queue: std::collections::VecDeque<BundleId>,
    /// The bundles in `queue`.
    queued: std::collections::HashSet<BundleId>,
    /// Bundles fetched because a prefetch hint named them (at most [`MAX_HINTED`]).
    hinted: std::collections::HashSet<BundleId>,
}

/// Largest index or metadata file read for a bundle only a prefetch hint named (1 MiB): a
/// larger one is fetched again, with the usual limit, if a requirement reaches its bundle.
pub(super) const MAX_HINTED_FILE_LEN: u64 = 1 << 20;

/// Most bundles one resolution fetches because prefetch hints named them: a hint only saves
/// round trips, so a registry's hints cannot make a client fetch without end.
pub(super) const MAX_HINTED: usize = 4 * ratchet_formats::index::prefetch::MAX_PREFETCH_IDS;

impl Discovery {
    /// Discovery from the resolution's roots.
    pub(super) fn new(roots: &[(BundleId, VersionReq)]) -> Discovery {
        let mut reqs: HashMap<BundleId, Vec<VersionReq>> = HashMap::new();
        for (id, r) in roots {
            reqs.entry(id.clone()).or_default().push(r.clone());
        }
        let mut d = Discovery {
            reqs,
            picks: HashMap::new(),
            expanded: Default::default(),
            queue: Default::default(),
            queued: Default::default(),
            hinted: Default::default(),
        };
        d.loaded(roots.iter().map(|(id, _)| id));
        d
    }

    /// Bundles whose index files just came in, to look at.
    pub(super) fn loaded<'a>(&mut self, ids: impl IntoIterator<Item = &'a BundleId>) {
        for id in ids {
            self.enqueue(id);
        }
    }

    /// The ids of `ids` that only a prefetch hint named (no requirement reaches them yet).
    pub(super) fn hint_only(&self, ids: &BTreeSet<BundleId>) -> BTreeSet<BundleId> {
        ids.iter()
            .filter(|i| self.hinted.contains(*i) && !self.reqs.contains_key(*i))
            .cloned()
            .collect()
    }

    fn enqueue(&mut self, id: &BundleId) {
        if self.queued.insert(id.clone()) {
            self.queue.push_back(id.clone());
        }
    }

    /// Looks at every bundle queued whose index file is loaded: returns the bundles reached
    /// whose index files are not loaded (to fetch), with those the prefetch hints of the
    /// bundles picked name (`hints`, index-format.md §6.5.1), and the index lines picked for
    /// the first time.
    fn step(
        &mut self,
        lines: &HashMap<BundleId, Vec<IndexLine>>,
        hints: &HashMap<BundleId, Prefetch>,
        opts: &ResolveOptions,
    ) -> (BTreeSet<BundleId>, Vec<IndexLine>) {
        let mut fetch = BTreeSet::new();
        let mut picked = Vec::new();
        while let Some(id) = self.queue.pop_front() {
            self.queued.remove(&id);
            // A bundle fetched only because a hint named it is not reached (yet): nothing
            // is picked for it until a requirement names it.
            if self.hinted.contains(&id) && !self.reqs.contains_key(&id) {
                continue;
            }
            let Some(versions) = lines.get(&id) else {
                fetch.insert(id);
                continue;
            };
            let pick = match opts.locked.get(&id) {
                Some(v) => versions.iter().find(|l| &l.version == v),
                None => crate::resolver::newest_release(
                    versions,
                    self.reqs.get(&id).map_or(&[], Vec::as_slice),
                ),
            };
            let Some(line) = pick else { continue };
            if self.picks.get(&id) == Some(&line.version) {
                continue;
            }
            if self
                .picks
                .insert(id.clone(), line.version.clone())
                .is_none()
            {
                picked.push(line.clone());
            }
            if let Some(hint) = hints.get(&id) {
                self.follow_hint(hint, &line.version, lines, &mut fetch);
            }
            if !self.expanded.insert((id, line.version.clone())) {
                continue;
            }
            for d in &line.dependencies {
                // A requirement seen already changes nothing (many dependents of one bundle
                // mostly share a few requirements).
                let reqs = self.reqs.entry(d.bundle_id.clone()).or_default();
                if reqs.contains(&d.version) && self.picks.contains_key(&d.bundle_id) {
                    continue;
                }
                if !reqs.contains(&d.version) {
                    reqs.push(d.version.clone());
                }
                self.enqueue(&d.bundle_id);
            }
        }
        (fetch, picked)
    }

    /// Adds to `fetch` the bundles `hint` names, when it is about `version` (the version
    /// picked), that are not loaded or hinted already.
    fn follow_hint(
        &mut self,
        hint: &Prefetch,
        version: &Version,
        lines: &HashMap<BundleId, Vec<IndexLine>>,
        fetch: &mut BTreeSet<BundleId>,
    ) {
        if &hint.version != version {
            return;
        }
        for h in &hint.ids {
            if self.hinted.len() >= MAX_HINTED {
                break;
            }
            if !lines.contains_key(h) && self.hinted.insert(h.clone()) {
                fetch.insert(h.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> BundleId {
        BundleId::parse(s).unwrap()
    }

    fn line(bundle: &str, version: &str, deps: &[(&str, &str)]) -> IndexLine {
        let deps: Vec<_> = deps
            .iter()
            .map(|(d, r)| serde_json::json!({"bundle_id": d, "version": r}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "v": 1, "id": bundle, "version": version, "dependencies": deps,
            "sha256": "aa", "size": 10, "published": "2026-01-01T00:00:00Z",
            "requirements": {}, "license": "MIT", "pricing": "free", "keywords": [],
            "permissions": {}, "resources": {}, "yanked": false,
        }))
        .unwrap()
    }

    fn picked(lines: &[IndexLine]) -> Vec<String> {
        lines
            .iter()
            .map(|l| format!("{}@{}", l.id, l.version))
            .collect()
    }

    #[test]
    fn discovery_goes_level_by_level_and_fetches_the_deps_of_a_changed_pick_too() {
        let (a, b, c, d, e) = (
            id("com.t.a"),
            id("com.t.b"),
            id("com.t.c"),
            id("com.t.d"),
            id("com.t.e"),
        );
        let opts = ResolveOptions::default();
        let req = |s: &str| VersionReq::parse(s).unwrap();
        let mut lines: HashMap<BundleId, Vec<IndexLine>> = HashMap::new();
        lines.insert(
            a.clone(),
            vec![line(
                "com.t.a",
                "1.0.0",
                &[("com.t.b", "*"), ("com.t.c", "*")],
            )],
        );
        let mut disc = Discovery::new(&[(a.clone(), req("*"))]);
        let (fetch, got) = disc.step(&lines, &HashMap::new(), &opts);
        assert_eq!(fetch, BTreeSet::from([b.clone(), c.clone()]));
        assert_eq!(picked(&got), ["com.t.a@1.0.0"]);
        // Nothing new came in: nothing to do.
        assert_eq!(
            disc.step(&lines, &HashMap::new(), &opts),
            (BTreeSet::new(), Vec::new())
        );

        // b's newest version needs d 2.x; c then narrows b to 1.x, whose pick needs e: both
        // d and e are fetched, b is picked (for preparation) once.
        lines.insert(
            b.clone(),
            vec![
                line("com.t.b", "1.0.0", &[("com.t.e", "*")]),
                line("com.t.b", "2.0.0", &[("com.t.d", "*")]),
            ],
        );
        lines.insert(
            c.clone(),
            vec![line("com.t.c", "1.0.0", &[("com.t.b", "^1")])],
        );
        disc.loaded([&b, &c]);
        let (fetch, got) = disc.step(&lines, &HashMap::new(), &opts);
        assert_eq!(fetch, BTreeSet::from([d.clone(), e.clone()]));
        assert_eq!(picked(&got), ["com.t.b@2.0.0", "com.t.c@1.0.0"]);

        // A locked version is picked whatever is newer.
        let mut opts = ResolveOptions::default();
        opts.locked.insert(a.clone(), Version::new(1, 0, 0));
        lines
            .get_mut(&a)
            .unwrap()
            .push(line("com.t.a", "1.1.0", &[]));
        let mut disc = Discovery::new(&[(a.clone(), req("*"))]);
        let (_, got) = disc.step(&lines, &HashMap::new(), &opts);
        assert_eq!(picked(&got)[0], "com.t.a@1.0.0");
    }

    fn hint(bundle: &str, version: &str, ids: &[&str]) -> (BundleId, Prefetch) {
        (
            id(bundle),
            Prefetch {
                v: 1,
                id: id(bundle),
                version: Version::parse(version).unwrap(),
                ids: ids.iter().map(|i| id(i)).collect(),
                archives: Vec::new(),
            },
        )
    }

    #[test]
    fn a_hint_of_the_picked_version_is_fetched_at_once_and_nothing_is_picked_for_it() {
        let opts = ResolveOptions::default();
        let req = |s: &str| VersionReq::parse(s).unwrap();
        let (a, b, c, d) = (id("com.t.a"), id("com.t.b"), id("com.t.c"), id("com.t.d"));
        let mut lines: HashMap<BundleId, Vec<IndexLine>> = HashMap::new();
        lines.insert(
            a.clone(),
            vec![line("com.t.a", "1.0.0", &[("com.t.b", "*")])],
        );
        // c is named by the hint (a stale one: b no longer needs it) and so is d.
        let hints = HashMap::from([hint("com.t.a", "1.0.0", &["com.t.b", "com.t.c", "com.t.d"])]);
        let mut disc = Discovery::new(&[(a.clone(), req("*"))]);
        let (fetch, got) = disc.step(&lines, &hints, &opts);
        assert_eq!(fetch, BTreeSet::from([b.clone(), c.clone(), d.clone()]));
        assert_eq!(picked(&got), ["com.t.a@1.0.0"]);
        // The second wave brings all three; only what a requirement reaches is picked (so
        // only its archive is prepared).
        lines.insert(
            b.clone(),
            vec![line("com.t.b", "1.0.0", &[("com.t.d", "*")])],
        );
        lines.insert(c.clone(), vec![line("com.t.c", "1.0.0", &[])]);
        lines.insert(d.clone(), vec![line("com.t.d", "1.0.0", &[])]);
        disc.loaded([&b, &c, &d]);
        let (fetch, got) = disc.step(&lines, &hints, &opts);
        assert_eq!(fetch, BTreeSet::new(), "nothing left to fetch");
        assert_eq!(picked(&got), ["com.t.b@1.0.0", "com.t.d@1.0.0"]);

        // A hint about another version than the one picked is not followed.
        let hints = HashMap::from([hint("com.t.a", "2.0.0", &["com.t.c"])]);
        let mut lines2 = HashMap::new();
        lines2.insert(a.clone(), lines[&a].clone());
        let mut disc = Discovery::new(&[(a.clone(), req("*"))]);
        let (fetch, _) = disc.step(&lines2, &hints, &opts);
        assert_eq!(fetch, BTreeSet::from([b.clone()]));
    }

    #[test]
    fn hints_cannot_make_a_resolution_fetch_without_end() {
        let opts = ResolveOptions::default();
        let mut lines: HashMap<BundleId, Vec<IndexLine>> = HashMap::new();
        let names: Vec<String> = (0..MAX_HINTED + 10)
            .map(|k| format!("com.t.h{k}"))
            .collect();
        // Several roots, each with a full hint of new ids: the total stops at MAX_HINTED.
        let per = ratchet_formats::index::prefetch::MAX_PREFETCH_IDS;
        let roots: Vec<(BundleId, VersionReq)> = (0..5)
            .map(|r| (id(&format!("com.t.r{r}")), VersionReq::parse("*").unwrap()))
            .collect();
        let mut hints = HashMap::new();
        for (r, (rid, _)) in roots.iter().enumerate() {
            lines.insert(rid.clone(), vec![line(rid.as_str(), "1.0.0", &[])]);
            let ids: Vec<&str> = names
                [(r * per).min(names.len())..((r + 1) * per).min(names.len())]
                .iter()
                .map(String::as_str)
                .collect();
            let (k, h) = hint(rid.as_str(), "1.0.0", &ids);
            hints.insert(k, h);
        }
        let mut disc = Discovery::new(&roots);
        let (fetch, _) = disc.step(&lines, &hints, &opts);
        assert_eq!(fetch.len(), MAX_HINTED);
    }
}
