//! Preparing archives while resolution goes on: the archives of the versions the resolution
//! will most likely choose are downloaded with the next wave of index files and verified and
//! unpacked on the runtime's blocking pool, so no round trip is spent after resolution on what could come
//! before. [`super::apply()`] then takes what matches its plan and discards the rest.

use super::apply::{InstalledVersions, UnpackContext, Unpacked, meta_view, verify_and_unpack};
use super::plan::Plan;
use super::pool::{Pool, Task};
use super::state::{InstalledState, bundle_dir};
use super::{Client, InstallError};
use crate::paths::Paths;
use crate::resolver::ResolveOptions;
use ratchet_formats::index::IndexLine;
use ratchet_formats::manifest::{BundleId, VersionReq};
use semver::Version;
use std::collections::{BTreeSet, HashMap};

impl Client {
    /// [`Client::load`], downloading the archives of `guesses` in the same round trip and
    /// handing each to a preparation task as it arrives.
    pub(super) fn load_while_preparing(
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
        // The map proofs of these files travel in the same wave (index-format.md §9.7).
        let nodes = self.integrity.node_paths(&all);
        let files = all.len();
        all.extend(nodes.iter().cloned());
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
            })
            .collect();
        let workers = self
            .prepared
            .lock()
            .ok()
            .and_then(|p| p.as_ref().map(|p| (p.pool.clone(), p.ctx.clone())));
        // The archives leave with the wave's files but do not hold the wave up: they are
        // downloaded on a thread of their own, each handed to a preparation task as it
        // arrives, while the resolution goes on with the files.
        if let Some((pool, ctx)) = workers.filter(|_| !items.is_empty()) {
            let fetcher = self.fetcher.clone();
            let download = std::thread::spawn(move || {
                let started = std::sync::Mutex::new(Vec::new());
                fetcher.download_each(&items, None, |i, r| {
                    if let Ok(bytes) = r {
                        let job = jobs[i].clone();
                        let ctx = ctx.clone();
                        let key = key_of(&job.line);
                        let task = pool.spawn(move || {
                            let r =
                                verify_and_unpack(&ctx, &job.line, meta_view(&job.meta), &bytes);
                            (job.line, r)
                        });
                        if let Ok(mut s) = started.lock() {
                            s.push((key, task));
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
        let mut results = if all.is_empty() {
            Vec::new()
        } else {
            self.fetcher
                .get_many(&all, ratchet_formats::index::MAX_INDEX_FILE_LEN)
        };
        if !results.is_empty() {
            self.reporter.report(&super::client::wave_fetched(&results));
        }
        self.integrity
            .absorb_nodes(&nodes, results.split_off(files.min(results.len())));
        all.truncate(files);
        self.integrity.verify(
            &self.fetcher,
            &all,
            &mut results,
            ratchet_formats::index::MAX_INDEX_FILE_LEN,
        )?;
        self.ingest(want, results)
    }

    /// Starts preparing archives while resolution goes on: after each wave, the archives of
    /// the versions the resolution will most likely choose are downloaded with the next wave,
    /// verified and unpacked on the blocking pool; [`super::apply()`] then uses what matches its plan and
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
                // Two at a time: resolution goes on beside them.
                pool: Pool::new(self.fetcher.runtime(), 2),
                tasks: Vec::new(),
                downloads: Vec::new(),
                started: BTreeSet::new(),
            });
        }
    }

    /// The index lines of the versions the resolution will most likely choose among the
    /// bundles loaded so far (the newest release each requirement seen allows, or the locked
    /// version), not yet being prepared and not installed already.
    pub(super) fn guesses(
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
        for d in std::mem::take(&mut p.downloads) {
            // A download thread that panicked started nothing more: what it did not hand
            // over is downloaded again by `apply`.
            if let Ok(tasks) = d.join() {
                p.tasks.extend(tasks);
            }
        }
        Some(p)
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
