//! Verifying mirrors (`ratchet-index mirror SRC DST`, index-format.md §6.12): copies a registry
//! (a directory, `http(s)://` or a git-hosted registry) into a directory, checking every file as
//! an installing client would before it is exposed.
//!
//! Why not rsync: a copy trusts its source. Here the source is read through the client's own
//! fetcher (size limits, deadlines, conditional requests) and its integrity session (the signed
//! timestamp, rollback and fork checks against the previous run, every index, metadata and
//! config file against the signed state map), and every archive passes the install-time checks
//! (hash and size against its line, signature against the owner chain, owner chains pinned
//! across runs, the line against the signed manifest) before it is written.
//!
//! Order and resumption: archives first, then metadata and index files, then the prefetch
//! hints of the bundles written (computed from the verified index files, as a publish does:
//! the source's are not signed state, so they are not copied), then `names.txt` and
//! `config.json`, each by temporary file and rename, so a reader of the mirror never sees a line
//! whose archive is missing. An archive the mirror already holds with the right hash is not
//! fetched again and a file whose bytes did not change is not rewritten, so a run that was
//! interrupted is resumed by running it again, and a run after a few publishes downloads the
//! changed files and the new archives only (index and metadata files are revalidated with
//! conditional requests). The mirror keeps its client state (HTTP cache, owner pins, the last
//! accepted snapshot) in `DST/.ratchet-index.mirror/`, which is never served.

use crate::events::{SharedReporter, no_reporter};
use crate::install::{InstallError, Lockfile};
use crate::integrity::{NODE_LIMIT, ROOT_PATH, Session};
use crate::paths::Paths;
use crate::registry::{Fetcher, RegistrySource};
use crate::verify::{PinStore, TrustInputs, verify_for_install};
use ratchet_formats::fsutil::write_atomic;
use ratchet_formats::index::{
    BundleMeta, CONFIG_FILE, IndexFile, IndexLine, MAX_INDEX_FILE_LEN, NAMES_FILE, NamesFile,
    RegistryConfig, archive_path, index_path, meta_path, prefetch, prefetch_path, sha256_hex,
};
use ratchet_formats::manifest::BundleId;
use ratchet_tlog::TlogError;
use ratchet_tlog::entry::LogEntry;
use ratchet_tlog::hash::Hash;
use ratchet_tlog::map::{MAX_DEPTH, Node, Slot, cas_path, node_path};
use ratchet_tlog::snapshot::{CHECKPOINT_PATH, Snapshot, TIMESTAMP_PATH};
use ratchet_tlog::tiles::{
    MAX_BUNDLE_BYTES, TILE_WIDTH, check_log_files, entries_path, log_files, parse_bundle,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// The mirror's own state directory inside the destination (never served, never copied).
pub const MIRROR_STATE_DIR: &str = ".ratchet-index.mirror";

/// The file (in [`MIRROR_STATE_DIR`]) recording the signed snapshot a complete run mirrored and
/// the selection it mirrored: the starting point of the next run's incremental pass.
pub const MIRRORED_FILE: &str = "mirrored.json";

/// Most log entries an incremental run reads (past this it revalidates every file instead).
pub const MAX_INCREMENTAL_ENTRIES: u64 = 100_000;

/// What [`MIRRORED_FILE`] holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Mirrored {
    /// The log size of the snapshot the mirror serves.
    size: u64,
    /// The selection it was made with (`all`, or `ids P1 P2 ...`).
    selection: String,
}

/// Why a mirror run stopped. Nothing refused is written; files verified before the refusal
/// (archives only, since they come first) stay, unreferenced until a run succeeds.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// Fetching, the integrity check or reading the lockfile failed.
    #[error(transparent)]
    Install(#[from] InstallError),
    /// The source has no `config.json`.
    #[error("{source_label}: no config.json: not a registry")]
    NotARegistry {
        /// The source.
        source_label: String,
    },
    /// An index file of the source has invalid lines.
    #[error("{file}: {problem}; refusing to mirror it")]
    BadIndex {
        /// The file.
        file: String,
        /// The first problem.
        problem: String,
    },
    /// An archive failed a check.
    #[error("{id} {version}: {source}")]
    Trust {
        /// The bundle.
        id: String,
        /// The version.
        version: String,
        /// The check that failed.
        source: Box<ratchet_trust::TrustError>,
    },
    /// A locked version is not in the source.
    #[error("{id} {version} (locked) is not in {source_label}")]
    NotInSource {
        /// The bundle.
        id: String,
        /// The version.
        version: String,
        /// The source.
        source_label: String,
    },
    /// A pattern that is not an id pattern.
    #[error("`{pattern}`: use an id with `*` wildcards, e.g. `com.example.*`")]
    BadPattern {
        /// The pattern.
        pattern: String,
    },
    /// A signed snapshot file (map node, log tile, entry bundle) of the source does not match
    /// the signed state: nothing of the snapshot was exposed.
    #[error("{file}: {reason}; refusing to mirror the signed snapshot")]
    Signed {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A file cannot be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MirrorError + '_ {
    move |source| MirrorError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Which bundles to mirror.
#[derive(Debug, Clone, Default)]
pub enum Selection {
    /// Every bundle of `names.txt`.
    #[default]
    All,
    /// Ids matching any of these patterns (`*` matches any run of characters), with every
    /// version, and the bundles they depend on (so the mirror is complete).
    Patterns(Vec<String>),
    /// The bundles and versions of a lockfile, and only those versions.
    Lockfile(PathBuf),
}

/// How a run is done.
#[derive(Debug, Clone, Default)]
pub struct MirrorOptions {
    /// What to copy.
    pub selection: Selection,
    /// Let unsigned archives through (only where an install would, with `--allow-unsigned`, from
    /// a registry the user vouches is local).
    pub allow_unsigned: bool,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct MirrorReport {
    /// Bundles mirrored.
    pub bundles: usize,
    /// Versions mirrored.
    pub versions: usize,
    /// Archives fetched, checked and written.
    pub archives_copied: usize,
    /// Archives the mirror already held (hash checked).
    pub archives_present: usize,
    /// Registry files written (or, for a prefetch hint no longer due, removed) because they
    /// changed (index, metadata, prefetch hints, names, config).
    pub files_written: Vec<String>,
    /// Registry files that were already up to date.
    pub files_unchanged: usize,
    /// Requests sent to the source (HTTP; 0 for directories and git checkouts).
    pub requests: u64,
    /// Body bytes received from the source (HTTP).
    pub bytes: u64,
    /// Whether the source's signed snapshot was checked (§9).
    pub signed: bool,
    /// The signed snapshot (log size) the mirror now serves, when it copied one (§9.8): a
    /// signed source mirrored whole or by id patterns. `None`: the mirror serves no signed
    /// state (an unsigned source, or a lockfile selection, whose index files are cut down).
    pub snapshot: Option<u64>,
    /// Signed snapshot files written (log tiles and entry bundles, map nodes, `root.json`,
    /// `log/checkpoint`, `timestamp`); files the mirror already held are not counted.
    pub signed_files: usize,
    /// When the run was incremental (§6.12): the log size it started from. Only the files that
    /// the log's entries since then name were read (and `bundles`/`versions` count those);
    /// `None`: every file of the selection was revalidated.
    pub incremental_from: Option<u64>,
}

/// The lines of the index file of `id` the mirror `dst` holds (verified when it was written),
/// for a prefetch hint; `None` when it has none or it cannot be read.
fn read_index(dst: &Path, id: &BundleId) -> Option<Vec<IndexLine>> {
    let rel = index_path(id);
    let bytes = ratchet_formats::index::read_limited(&dst.join(&rel), MAX_INDEX_FILE_LEN).ok()?;
    Some(
        IndexFile::parse(&bytes, &rel, Some(id))
            .versions()
            .cloned()
            .collect(),
    )
}

/// An id's index file bytes, metadata file bytes (if any) and the lines to mirror.
type Fetched = (Vec<u8>, Option<Vec<u8>>, Vec<IndexLine>);

/// True when `id` matches `pattern` (`*` matches any run of characters, even none).
fn glob(pattern: &str, id: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == id;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !id.starts_with(first) || id.len() < first.len() + last.len() || !id.ends_with(last) {
        return false;
    }
    let mut rest = &id[first.len()..id.len() - last.len()];
    for p in &parts[1..parts.len() - 1] {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    true
}

/// The id whose index or metadata file `path` is (`None` for any other file).
fn id_of_path(path: &str) -> Option<BundleId> {
    let last = path.rsplit('/').next()?;
    if path.starts_with("index/") {
        let id: BundleId = last.parse().ok()?;
        (index_path(&id) == path).then_some(id)
    } else if path.starts_with("meta/") {
        let id: BundleId = last.strip_suffix(".json")?.parse().ok()?;
        (meta_path(&id) == path).then_some(id)
    } else {
        None
    }
}

/// Writes `bytes` to `path` (temporary file and rename) unless it already holds them; returns
/// whether it wrote.
fn put(path: &Path, bytes: &[u8]) -> Result<bool, MirrorError> {
    if std::fs::read(path).is_ok_and(|b| b == bytes) {
        return Ok(false);
    }
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    write_atomic(path, bytes).map_err(io(path))?;
    Ok(true)
}

/// Mirrors `src` into the directory `dst` (created if needed). See the module documentation.
pub fn mirror(
    src: RegistrySource,
    dst: &Path,
    opts: &MirrorOptions,
) -> Result<MirrorReport, MirrorError> {
    mirror_reporting(src, dst, opts, no_reporter())
}

/// [`mirror`], telling `reporter` what the client has to say (integrity notices).
pub fn mirror_reporting(
    src: RegistrySource,
    dst: &Path,
    opts: &MirrorOptions,
    reporter: SharedReporter,
) -> Result<MirrorReport, MirrorError> {
    if let Selection::Patterns(ps) = &opts.selection {
        for p in ps {
            let ok = !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-*".contains(c));
            if !ok {
                return Err(MirrorError::BadPattern { pattern: p.clone() });
            }
        }
    }
    let label = src.label();
    let state = dst.join(MIRROR_STATE_DIR);
    std::fs::create_dir_all(&state).map_err(io(&state))?;
    let paths = Paths::under(state.clone());
    let fetcher = Fetcher::new(src, &paths.cache, false).map_err(InstallError::from)?;
    // The snapshot the previous run accepted, to tell whether the source moved since.
    let before = crate::integrity::StateStore::new(&paths)
        .load_state(fetcher.source().base.as_ref())
        .ok()
        .flatten()
        .map(|s| s.size);
    let session = Session::open(&fetcher, &paths, &reporter).map_err(InstallError::from)?;
    let moved = !session.is_signed() || before != session.snapshot_size();
    let pins = PinStore::new(&paths);
    let mut report = MirrorReport {
        signed: session.is_signed(),
        ..MirrorReport::default()
    };

    // config.json and names.txt first (config is signed state; names is append-only).
    let verified = |rels: &[String]| -> Result<Vec<Option<Vec<u8>>>, MirrorError> {
        let nodes = session.node_paths(rels);
        let mut all = rels.to_vec();
        all.extend(nodes.iter().cloned());
        let mut results = fetcher.get_many(&all, MAX_INDEX_FILE_LEN);
        session.absorb_nodes(&nodes, results.split_off(rels.len()));
        session
            .verify(&fetcher, rels, &mut results, MAX_INDEX_FILE_LEN)
            .map_err(InstallError::from)?;
        results
            .into_iter()
            .map(|r| r.map_err(|e| MirrorError::Install(e.into())))
            .collect()
    };
    let config_bytes = verified(&[CONFIG_FILE.to_string()])?
        .remove(0)
        .ok_or_else(|| MirrorError::NotARegistry {
            source_label: label.clone(),
        })?;
    let config = RegistryConfig::parse(&config_bytes, CONFIG_FILE)
        .map_err(|e| MirrorError::Install(InstallError::BadRegistryConfig(e)))?;

    // The signed snapshot, fetched and checked before any index file is written, so a
    // refusal exposes nothing; written last. An incremental run (the mirror holds a complete
    // copy of an earlier snapshot of the same selection) reads the log's new entries to learn
    // which files changed (§6.12).
    let selection_key = match &opts.selection {
        Selection::All => Some("all".to_string()),
        Selection::Patterns(ps) => Some(format!("ids {}", ps.join(" "))),
        Selection::Lockfile(_) => None,
    };
    let mirrored_path = state.join(MIRRORED_FILE);
    let since: Option<u64> = match (&selection_key, session.snapshot()) {
        (Some(key), Some(snap)) => std::fs::read(&mirrored_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Mirrored>(&b).ok())
            .filter(|m| {
                &m.selection == key
                    && m.size <= snap.size
                    && snap.size - m.size <= MAX_INCREMENTAL_ENTRIES
                    && dst.join(TIMESTAMP_PATH).is_file()
                    && dst.join(NAMES_FILE).is_file()
            })
            .map(|m| m.size),
        _ => None,
    };
    let mut logged: Option<Vec<String>> = None;
    let signed = match (&selection_key, session.snapshot(), session.timestamp_file()) {
        (Some(_), Some(snap), Some(ts)) => {
            let root = verified(&[ROOT_PATH.to_string()])?
                .remove(0)
                .ok_or_else(|| MirrorError::Signed {
                    file: ROOT_PATH.into(),
                    reason: "missing, but the registry signs a timestamp".into(),
                })?;
            let mut files = vec![(ROOT_PATH.to_string(), root)];
            let (log, changed) = copy_log(&fetcher, dst, &snap, since)?;
            logged = changed;
            files.extend(log);
            files.extend(copy_map(&fetcher, dst, &snap)?);
            let checkpoint: Vec<u8> = ts
                .split_inclusive(|b| *b == b'\n')
                .take(4)
                .flatten()
                .copied()
                .collect();
            files.push((CHECKPOINT_PATH.to_string(), checkpoint));
            files.push((TIMESTAMP_PATH.to_string(), ts));
            Some((snap.size, files))
        }
        _ => None,
    };
    // The ids whose index or metadata file the new entries name, in log order.
    let changed_ids: Option<Vec<BundleId>> = logged.as_ref().map(|paths| {
        let mut seen = BTreeSet::new();
        paths
            .iter()
            .filter_map(|p| id_of_path(p))
            .filter(|id| seen.insert(id.clone()))
            .collect()
    });
    if changed_ids.is_some() {
        report.incremental_from = since;
    }
    let held_names = match &changed_ids {
        Some(_) => Some(std::fs::read(dst.join(NAMES_FILE)).map_err(io(&dst.join(NAMES_FILE)))?),
        None => None,
    };
    // names.txt is not in the signed state, so a stale copy would go unnoticed: when the
    // source moved (or is unsigned) it is fetched whole, since a server's validators (the
    // modification time to the second) can answer 304 for a file appended within the second
    // of the previous run.
    // An incremental run does not read it: the mirror's copy and the log's new ids suffice.
    let names_bytes = if let Some(held) = &held_names {
        held.clone()
    } else {
        let b = if moved {
            fetcher.get_fresh(NAMES_FILE, 64 << 20)
        } else {
            fetcher.get(NAMES_FILE, 64 << 20)
        };
        b.map_err(|e| MirrorError::Install(e.into()))?
            .unwrap_or_default()
    };
    let names = NamesFile::parse(&names_bytes, NAMES_FILE);

    // Which ids (and, for a lockfile, which versions).
    let mut locked: Option<BTreeMap<BundleId, BTreeSet<semver::Version>>> = None;
    let mut want: BTreeSet<BundleId> = match &opts.selection {
        Selection::All => names.ids.iter().cloned().collect(),
        Selection::Patterns(ps) => names
            .ids
            .iter()
            .filter(|id| ps.iter().any(|p| glob(p, id.as_str())))
            .cloned()
            .collect(),
        Selection::Lockfile(f) => {
            let lock = Lockfile::load(f)?;
            let mut m: BTreeMap<BundleId, BTreeSet<semver::Version>> = BTreeMap::new();
            for b in lock.bundles {
                m.entry(b.id).or_default().insert(b.version);
            }
            let ids = m.keys().cloned().collect();
            locked = Some(m);
            ids
        }
    };

    // Index and metadata files, wave by wave (dependencies of a pattern's bundles join in).
    // Incremental: only the changed ids the mirror holds or the selection takes.
    let mut files: BTreeMap<BundleId, Fetched> = BTreeMap::new();
    let mut todo: Vec<BundleId> = match &changed_ids {
        None => want.iter().cloned().collect(),
        Some(changed) => {
            let held: BTreeSet<&BundleId> = names.ids.iter().collect();
            let take: Vec<BundleId> = changed
                .iter()
                .filter(|id| match &opts.selection {
                    Selection::Patterns(ps) => {
                        held.contains(id) || ps.iter().any(|p| glob(p, id.as_str()))
                    }
                    _ => true,
                })
                .cloned()
                .collect();
            want.extend(take.iter().cloned());
            take
        }
    };
    while !todo.is_empty() {
        let mut rels: Vec<String> = todo.iter().map(index_path).collect();
        rels.extend(todo.iter().map(meta_path));
        let mut got = verified(&rels)?;
        let metas = got.split_off(todo.len());
        let mut next = BTreeSet::new();
        for ((id, index), meta) in todo.iter().zip(got).zip(metas) {
            let rel = index_path(id);
            let Some(index) = index else {
                if let Some(l) = &locked {
                    let v = l[id].iter().next().map(ToString::to_string);
                    return Err(MirrorError::NotInSource {
                        id: id.to_string(),
                        version: v.unwrap_or_default(),
                        source_label: label.clone(),
                    });
                }
                continue;
            };
            let parsed = IndexFile::parse(&index, &rel, Some(id));
            if let Some(p) = parsed.problems().next() {
                return Err(MirrorError::BadIndex {
                    file: rel,
                    problem: p.to_string(),
                });
            }
            let file_meta = match &meta {
                Some(m) => Some(BundleMeta::parse(m, &meta_path(id)).map_err(|e| {
                    MirrorError::BadIndex {
                        file: meta_path(id),
                        problem: e.to_string(),
                    }
                })?),
                None => None,
            };
            // The mirror checks archives against the metadata file; clients of a
            // `meta-in-index` registry read the index file's line (index-format.md §6.3.1): both
            // must say the same, or the check would vouch for metadata nobody reads.
            if config.meta_in_index {
                let line_meta = match &parsed.meta {
                    Some(Err(p)) => {
                        return Err(MirrorError::BadIndex {
                            file: rel,
                            problem: p.to_string(),
                        });
                    }
                    Some(Ok(m)) => Some(m),
                    None => None,
                };
                if line_meta != file_meta.as_ref() {
                    return Err(MirrorError::BadIndex {
                        file: rel,
                        problem: format!(
                            "its metadata line is not the content of {} (the source is inconsistent: `ratchet-index verify` there)",
                            meta_path(id)
                        ),
                    });
                }
            }
            let mut lines: Vec<IndexLine> = parsed.versions().cloned().collect();
            if let Some(l) = &locked {
                let versions = &l[id];
                lines.retain(|line| versions.contains(&line.version));
                for v in versions {
                    if !lines.iter().any(|line| &line.version == v) {
                        return Err(MirrorError::NotInSource {
                            id: id.to_string(),
                            version: v.to_string(),
                            source_label: label.clone(),
                        });
                    }
                }
            } else if matches!(opts.selection, Selection::Patterns(_)) {
                for line in &lines {
                    for d in &line.dependencies {
                        if !want.contains(&d.bundle_id) {
                            next.insert(d.bundle_id.clone());
                        }
                    }
                }
            }
            files.insert(id.clone(), (index, meta, lines));
        }
        want.extend(next.iter().cloned());
        todo = next.into_iter().collect();
    }

    // Archives: the ones the mirror lacks are fetched and checked, then written.
    let mut missing = Vec::new();
    for (_, meta, lines) in files.values() {
        for line in lines {
            let path = dst.join(archive_path(&line.sha256));
            let present = std::fs::read(&path)
                .is_ok_and(|b| b.len() as u64 == line.size && sha256_hex(&b) == line.sha256);
            if present {
                report.archives_present += 1;
            } else {
                missing.push((line.clone(), meta.clone()));
            }
        }
    }
    let items: Vec<(String, u64, String)> = missing
        .iter()
        .map(|(l, _)| (config.download_url(&l.sha256), l.size, l.sha256.clone()))
        .collect();
    let results = std::sync::Mutex::new((0..items.len()).map(|_| None).collect::<Vec<_>>());
    fetcher.download_each(&items, None, |i, r| {
        if let Ok(mut v) = results.lock() {
            v[i] = Some(r);
        }
    });
    let results = results.into_inner().unwrap_or_default();
    for ((line, meta), r) in missing.iter().zip(results) {
        let bytes = match r {
            Some(Ok(b)) => b,
            Some(Err(e)) => return Err(MirrorError::Install(e.into())),
            None => {
                return Err(MirrorError::Io {
                    path: PathBuf::from(archive_path(&line.sha256)),
                    source: std::io::Error::other("the download did not finish"),
                });
            }
        };
        let meta = match meta {
            Some(m) => Some(BundleMeta::parse(m, &meta_path(&line.id)).map_err(|e| {
                MirrorError::BadIndex {
                    file: meta_path(&line.id),
                    problem: e.to_string(),
                }
            })?),
            None => None,
        };
        let inputs = TrustInputs {
            line,
            archive_bytes: &bytes,
            meta: meta.as_ref(),
            config: &config,
            allow_unsigned: opts.allow_unsigned,
            local_source: fetcher.source().is_local(),
        };
        let checked = verify_for_install(&inputs, &pins).map_err(|source| MirrorError::Trust {
            id: line.id.to_string(),
            version: line.version.to_string(),
            source: Box::new(source),
        })?;
        if let Some(pin) = &checked.pin_update {
            pins.save(pin).map_err(|source| MirrorError::Trust {
                id: line.id.to_string(),
                version: line.version.to_string(),
                source: Box::new(source),
            })?;
        }
        let path = dst.join(archive_path(&line.sha256));
        put(&path, &bytes)?;
        report.archives_copied += 1;
    }

    // Then metadata and index files, then names.txt and config.json.
    let mut record = |rel: String, wrote: bool| {
        if wrote {
            report.files_written.push(rel);
        } else {
            report.files_unchanged += 1;
        }
    };
    for (id, (_, meta, _)) in &files {
        if let Some(m) = meta {
            let rel = meta_path(id);
            record(rel.clone(), put(&dst.join(&rel), m)?);
        }
    }
    for (id, (index, _, lines)) in &files {
        let rel = index_path(id);
        let bytes = if locked.is_some() {
            // The locked versions' lines, after the source's metadata line as it is (§6.3.1).
            let head = match ratchet_formats::index::line::split_meta_line(index) {
                Some((_, after)) => &index[..index.len() - after.len()],
                None => &[][..],
            };
            let mut out = head.to_vec();
            out.extend(
                lines
                    .iter()
                    .map(IndexLine::to_line)
                    .collect::<String>()
                    .into_bytes(),
            );
            out
        } else {
            index.clone()
        };
        record(rel.clone(), put(&dst.join(&rel), &bytes)?);
        report.bundles += 1;
        report.versions += lines.len();
    }
    // The prefetch hints of the bundles written (index-format.md §6.5.1), computed here from
    // the mirror's own, verified index files as a publish computes them: a source's hints are
    // not signed state, so they are not copied.
    for (id, (_, _, lines)) in &files {
        let hint = prefetch::compute(id, lines, |d| match files.get(d) {
            Some((_, _, l)) => Some(l.clone()),
            None => read_index(dst, d),
        });
        let rel = prefetch_path(id);
        let changed = prefetch::store(dst, id, hint.as_ref()).map_err(io(&dst.join(&rel)))?;
        if hint.is_some() || changed {
            record(rel, changed);
        }
    }
    let names_out = match (&opts.selection, &changed_ids) {
        // Incremental: the mirror's names.txt, with the new ids appended in log order (then
        // dependencies a pattern newly takes).
        (_, Some(changed)) => {
            let held: BTreeSet<&BundleId> = names.ids.iter().collect();
            let mut out = names_bytes.clone();
            if !out.is_empty() && !out.ends_with(b"\n") {
                // A torn last line (§6.6) is cut off.
                let keep = out.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                out.truncate(keep);
            }
            let mut added = BTreeSet::new();
            for id in changed.iter().chain(files.keys()) {
                if files.contains_key(id) && !held.contains(id) && added.insert(id.clone()) {
                    out.extend_from_slice(format!("{id}\n").as_bytes());
                }
            }
            out
        }
        (Selection::All, None) => names_bytes,
        _ => names
            .ids
            .iter()
            .filter(|id| files.contains_key(*id))
            .map(|id| format!("{id}\n"))
            .collect::<String>()
            .into_bytes(),
    };
    record(NAMES_FILE.into(), put(&dst.join(NAMES_FILE), &names_out)?);
    record(
        CONFIG_FILE.into(),
        put(&dst.join(CONFIG_FILE), &config_bytes)?,
    );
    // Last, the signed snapshot (index-format §9.8), in a publisher's order (§9.6): root.json,
    // log tiles, map nodes, then log/checkpoint and the timestamp, which commit it.
    if locked.is_some() {
        // Cut-down index files are not the signed ones: serve no signed state rather than
        // one every client would refuse.
        for rel in [TIMESTAMP_PATH, CHECKPOINT_PATH] {
            let _ = std::fs::remove_file(dst.join(rel));
        }
    } else if let Some((size, files)) = signed {
        let mut n = 0;
        for (rel, bytes) in &files {
            n += usize::from(put(&dst.join(rel), bytes)?);
        }
        report.signed_files = n;
        report.snapshot = Some(size);
    }
    // The starting point of the next run: only once everything is written.
    match (&selection_key, report.snapshot) {
        (Some(key), Some(size)) => {
            let m = Mirrored {
                size,
                selection: key.clone(),
            };
            let bytes = serde_json::to_vec(&m).unwrap_or_default();
            write_atomic(&mirrored_path, &bytes).map_err(io(&mirrored_path))?;
        }
        _ => {
            let _ = std::fs::remove_file(&mirrored_path);
        }
    }
    // The fetcher keeps every archive it downloads in its cache; the mirror itself is the copy.
    let _ = std::fs::remove_dir_all(paths.cache.join("archives"));
    report.requests = fetcher.stats.requests.load(Ordering::Relaxed);
    report.bytes = fetcher.stats.bytes.load(Ordering::Relaxed);
    Ok(report)
}

/// A file to write: its registry path and bytes.
type FileOut = (String, Vec<u8>);

/// A map node fetched and checked: its nibble prefix, hash and bytes.
type FetchedNode = (Vec<u8>, Hash, Vec<u8>);

/// Fetches the log tiles and entry bundles of `snap`'s log the mirror lacks (tiles are
/// immutable: one it holds is not fetched again) and checks them all
/// (`ratchet_tlog::tiles::check_log_files`: entries, tiles and the signed log root). Returns
/// the files to write.
///
/// With `since` (the log size of the snapshot the mirror holds), also returns the paths the
/// entries `since..snap.size` name, in log order: read from the entry bundles just checked (or
/// held), so they are the signed log's.
fn copy_log(
    fetcher: &Fetcher,
    dst: &Path,
    snap: &Snapshot,
    since: Option<u64>,
) -> Result<(Vec<FileOut>, Option<Vec<String>>), MirrorError> {
    let want: Vec<String> = log_files(snap.size)
        .into_iter()
        .filter(|p| !dst.join(p).is_file())
        .collect();
    let mut got: HashMap<String, Vec<u8>> = HashMap::new();
    for chunk in want.chunks(256) {
        for (p, r) in chunk
            .iter()
            .zip(fetcher.get_many(chunk, MAX_BUNDLE_BYTES as u64))
        {
            match r.map_err(|e| MirrorError::Install(e.into()))? {
                Some(b) => got.insert(p.clone(), b),
                None => {
                    return Err(MirrorError::Signed {
                        file: p.clone(),
                        reason: "missing (404), but the signed log needs it".into(),
                    });
                }
            };
        }
    }
    let check: BTreeSet<String> = want.iter().cloned().collect();
    let mut f = |p: &str, limit: usize| -> Result<Option<Vec<u8>>, TlogError> {
        if let Some(b) = got.get(p) {
            return Ok(Some(b.clone()));
        }
        // Files copied by an earlier run were checked then.
        match std::fs::read(dst.join(p)) {
            Ok(b) if b.len() <= limit => Ok(Some(b)),
            _ => Ok(None),
        }
    };
    check_log_files(&mut f, snap.size, &snap.log_root, &check).map_err(|e| {
        MirrorError::Signed {
            file: "log/tile".into(),
            reason: e.to_string(),
        }
    })?;
    let changed = match since {
        Some(from) if from <= snap.size => {
            let mut paths = Vec::new();
            let mut t = from / TILE_WIDTH;
            while t * TILE_WIDTH < snap.size {
                let width = (snap.size - t * TILE_WIDTH).min(TILE_WIDTH);
                let path = entries_path(t, width);
                let bad = |reason: String| MirrorError::Signed {
                    file: path.clone(),
                    reason,
                };
                let bytes = f(&path, MAX_BUNDLE_BYTES)
                    .map_err(|e| bad(e.to_string()))?
                    .ok_or_else(|| bad("missing, but the signed log needs it".into()))?;
                let entries = parse_bundle(&path, &bytes, width).map_err(|e| bad(e.to_string()))?;
                for (i, e) in entries.iter().enumerate() {
                    if t * TILE_WIDTH + (i as u64) < from {
                        continue;
                    }
                    let entry = LogEntry::parse(e, &path).map_err(|e| bad(e.to_string()))?;
                    paths.extend(entry.files.into_iter().map(|c| c.path));
                }
                t += 1;
            }
            Some(paths)
        }
        _ => None,
    };
    let out = want
        .into_iter()
        .filter_map(|p| got.remove(&p).map(|b| (p, b)))
        .collect();
    Ok((out, changed))
}

/// Fetches the state map of `snap` the mirror lacks, one request wave per level: every node
/// at its stable path (at its content address when the stable copy is another snapshot's),
/// checked against the hash its parent (the signed root, for the root) names. Returns the files
/// to write, at both paths, deepest level first, so a node the mirror holds at both paths has
/// its whole subtree and a later run fetches only the nodes that changed. Stable nodes the new
/// state no longer uses stay (a client falls back to content addresses).
fn copy_map(fetcher: &Fetcher, dst: &Path, snap: &Snapshot) -> Result<Vec<FileOut>, MirrorError> {
    let held = |prefix: &[u8], h: &Hash| {
        let cas = std::fs::read(dst.join(cas_path(h)));
        cas.is_ok_and(|b| {
            Node::decode("", &b).is_ok_and(|n| n.hash() == *h)
                && std::fs::read(dst.join(node_path(prefix))).is_ok_and(|s| s == b)
        })
    };
    let mut level: Vec<(Vec<u8>, Hash)> = vec![(Vec::new(), snap.state_root)];
    let mut levels: Vec<Vec<FetchedNode>> = Vec::new();
    while !level.is_empty() {
        let todo: Vec<(Vec<u8>, Hash)> = level.into_iter().filter(|(p, h)| !held(p, h)).collect();
        let stable: Vec<String> = todo.iter().map(|(p, _)| node_path(p)).collect();
        let mut got: Vec<Option<Vec<u8>>> = fetcher
            .get_many(&stable, NODE_LIMIT)
            .into_iter()
            .zip(&todo)
            .map(|(r, (_, h))| {
                r.ok()
                    .flatten()
                    .filter(|b| Node::decode("", b).is_ok_and(|n| n.hash() == *h))
            })
            .collect();
        // Stable copies of another snapshot: by content address.
        let (idx, cas): (Vec<usize>, Vec<String>) = got
            .iter()
            .enumerate()
            .filter(|(_, b)| b.is_none())
            .map(|(i, _)| (i, cas_path(&todo[i].1)))
            .unzip();
        for (i, r) in idx.into_iter().zip(fetcher.get_many(&cas, NODE_LIMIT)) {
            got[i] = r.map_err(|e| MirrorError::Install(e.into()))?;
        }
        let mut next = Vec::new();
        let mut this = Vec::new();
        for ((prefix, h), b) in todo.into_iter().zip(got) {
            let file = cas_path(&h);
            let b = b.ok_or_else(|| MirrorError::Signed {
                file: file.clone(),
                reason: "missing (404), but the signed state map needs it".into(),
            })?;
            let node = Node::decode(&file, &b).map_err(|e| MirrorError::Signed {
                file: file.clone(),
                reason: e.to_string(),
            })?;
            if node.hash() != h {
                return Err(MirrorError::Signed {
                    file,
                    reason: "not the node the signed state names".into(),
                });
            }
            for (i, slot) in node.slots.iter().enumerate() {
                if let Slot::Node(c) = slot
                    && prefix.len() + 1 < MAX_DEPTH
                {
                    let mut p = prefix.clone();
                    p.push(i as u8);
                    next.push((p, *c));
                }
            }
            this.push((prefix, h, b));
        }
        levels.push(this);
        level = next;
    }
    let mut out = Vec::new();
    for (prefix, h, b) in levels.into_iter().rev().flatten() {
        out.push((cas_path(&h), b.clone()));
        out.push((node_path(&prefix), b));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn id_patterns() {
        assert!(glob("com.example.*", "com.example.tools"));
        assert!(glob("*tools", "com.example.tools"));
        assert!(glob("com.*.tools", "com.example.tools"));
        assert!(glob("com.example.tools", "com.example.tools"));
        assert!(!glob("com.example.*", "com.other.tools"));
        assert!(!glob("com.*.x*", "com.example.tools"));
        assert!(!glob("a*a", "a"));
    }
}
