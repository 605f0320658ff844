//! Applying a plan: download, verify and unpack what changed, save the owner pins, commit the
//! new installed state, delete what is no longer used; and removing installed bundles.

use super::error::{MetaError, MetaResult, PanickedTask};
use super::plan::{Plan, PlannedBundle};
use super::pool::Pool;
use super::prepare::{Prepared, PreparedMap, discard_prepared, discard_unused};
use super::state::{BUNDLES_DIR, InstalledBundle, InstalledState, STATE_FORMAT, bundle_dir};
use super::{Client, InstallError, local};
use crate::events::Event;
use crate::paths::Paths;
use crate::verify::{Notice, PinStore, TrustInputs, verify_for_install};
use ratchet_formats::index::{BundleMeta, IndexLine, RegistryConfig};
use ratchet_formats::manifest::BundleId;
use ratchet_trust::VerificationStatus;
use semver::Version;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

impl Client {
    /// What the unpacking tasks need, with `installed` as the installed state.
    pub(super) fn unpack_context(
        &self,
        allow_unsigned: bool,
        installed: &InstalledState,
    ) -> UnpackContext {
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
}

/// How [`apply`] runs.
#[derive(Clone, Default)]
pub struct ApplyOptions {
    /// `--allow-unsigned`: accept unsigned bundles from a `local` registry (§7.6, step 7).
    pub allow_unsigned: bool,
}

/// What [`apply`] did.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The committed installed state.
    pub state: InstalledState,
    /// What the user must be told: first-use pinning, owner rotations, unsigned installs,
    /// invalid attestations.
    pub notices: Vec<Notice>,
}

/// One bundle that passed every check and was unpacked.
pub(super) struct Unpacked {
    id: BundleId,
    status: VerificationStatus,
    signer: Option<String>,
    pin: Option<crate::verify::Pin>,
    version: Version,
    notices: Vec<Notice>,
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
    // needs no more work; the rest is downloaded, checked and unpacked now, while the
    // preparation tasks still running finish (the last wave's downloads do not wait for
    // them). Tasks that checked under other options, or whose version directory a download
    // here would share, are waited for first.
    let mut ready: PreparedMap = HashMap::new();
    let mut pending: Option<Prepared> = None;
    if let Some(p) = client.take_preparing() {
        let same_options = p.allow_unsigned() == opts.allow_unsigned;
        let shared_dir = p.keys().any(|(id, v, sha)| {
            todo.iter()
                .any(|b| &b.line.id == id && &b.line.version == v && &b.line.sha256 != sha)
        });
        if same_options && !shared_dir {
            pending = Some(p);
        } else {
            ready = p.finish();
            if !same_options {
                discard_prepared(paths, &old, std::mem::take(&mut ready));
            }
        }
    }
    let claimed = |b: &PlannedBundle| {
        let (id, v, sha) = (&b.line.id, &b.line.version, &b.line.sha256);
        pending
            .as_ref()
            .is_some_and(|p| p.keys().any(|k| (&k.0, &k.1, &k.2) == (id, v, sha)))
            || ready
                .get(&(id.clone(), v.clone()))
                .is_some_and(|(s, r)| s == sha && r.is_ok())
    };
    let (prepared, rest): (Vec<&PlannedBundle>, Vec<&PlannedBundle>) =
        todo.iter().copied().partition(|b| claimed(b));
    // Archives prepared while resolving arrived already: they count as downloaded.
    let prepared_bytes: u64 = prepared.iter().map(|b| b.line.size).sum();
    if prepared_bytes > 0 {
        client.reporter.report(&Event::DownloadProgress {
            bytes: prepared_bytes,
        });
    }
    let reporter = client.reporter.clone();
    let progress: crate::registry::fetch::Progress =
        Arc::new(move |bytes| reporter.report(&Event::DownloadProgress { bytes }));
    // Each archive is verified and unpacked (on worker threads, a few at a time: CPU and
    // disk bound) as soon as it has arrived, while the others are still downloading.
    let ctx = client.unpack_context(opts.allow_unsigned, &old);
    let pool = Pool::new(4);
    let mut outcomes = download_and_unpack(client, &rest, &ctx, &pool, &progress);
    if let Some(p) = pending {
        ready.extend(p.finish());
    }
    // A prepared archive that failed its checks (or whose task panicked) is done again.
    let mut again = Vec::new();
    for b in prepared {
        let key = (b.line.id.clone(), b.line.version.clone());
        match ready.remove(&key) {
            Some((sha, Ok(u))) if sha == b.line.sha256 => outcomes.push(Ok(u)),
            Some(other) => {
                ready.insert(key, other);
                again.push(b);
            }
            None => again.push(b),
        }
    }
    if !again.is_empty() {
        outcomes.extend(download_and_unpack(client, &again, &ctx, &pool, &progress));
    }
    // Prepared versions the plan does not use (wrong guesses): their directories go.
    discard_unused(paths, &old, plan, ready);
    // On any failure, the versions unpacked by this operation go again (nothing names them:
    // installed.json is unchanged), and the first error is the answer.
    let mut unpacked = match outcomes.into_iter().collect::<Result<Vec<Unpacked>, _>>() {
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
    // Archives finish in any order (prepared ahead, downloaded, done again): events and notices
    // go out in id order, the same on every run.
    unpacked.sort_by(|a, b| (&a.id, &a.version).cmp(&(&b.id, &b.version)));
    let mut verified = HashMap::new();
    let mut pins = Vec::new();
    let mut notices = Vec::new();
    for u in unpacked {
        client.reporter.report(&Event::ArchiveVerified {
            id: u.id.clone(),
            version: u.version.clone(),
            signer: u.signer.clone(),
            status: u.status.clone(),
        });
        notices.extend(u.notices);
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
                return Err(InstallError::NotVerified {
                    id: id.clone(),
                    version: b.line.version.clone(),
                });
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

    // One file for every pin (`data/trust/owners.json`), written once.
    client.pins.save_unsynced(&pins)?;
    if !todo.is_empty() || !pins.is_empty() {
        ratchet_formats::fsutil::sync_filesystem(&paths.data).map_err(local(&paths.data))?;
    }
    state.commit(paths)?;
    garbage_collect(paths, &old, &state);
    crate::enterprise::audit_applied(client, plan)?;
    // Told once the operation stands: a pin of an install that failed was never saved.
    for n in &notices {
        client.reporter.report(&Event::Trust(n.clone()));
    }
    Ok(Applied { state, notices })
}

/// Downloads `list`'s archives and verifies and unpacks each on `pool` as soon as it has
/// arrived; the outcomes, in the order the archives arrived.
fn download_and_unpack(
    client: &Client,
    list: &[&PlannedBundle],
    ctx: &UnpackContext,
    pool: &Pool,
    progress: &crate::registry::fetch::Progress,
) -> Vec<Result<Unpacked, InstallError>> {
    if list.is_empty() {
        return Vec::new();
    }
    let items: Vec<(String, u64, String)> = list
        .iter()
        .map(|b| {
            (
                client.config.download_url(&b.line.sha256),
                b.line.size,
                b.line.sha256.clone(),
            )
        })
        .collect();
    let started = std::sync::Mutex::new(Vec::new());
    client
        .fetcher
        .download_each(&items, Some(progress.clone()), |i, r| {
            let line = list[i].line.clone();
            let meta = client.metas.get(&line.id).cloned().unwrap_or(Ok(None));
            let ctx = ctx.clone();
            let task = pool.spawn(move || {
                let bytes = r?;
                verify_and_unpack(&ctx, &line, meta_view(&meta), &bytes)
            });
            if let Ok(mut s) = started.lock() {
                s.push(task);
            }
        });
    let tasks = started.into_inner().unwrap_or_default();
    pool.join(tasks)
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(InstallError::TaskPanicked {
                    task: PanickedTask::Unpack,
                })
            })
        })
        .collect()
}

/// What verifying and unpacking an archive needs, owned, so a blocking task can do it.
#[derive(Clone)]
pub(super) struct UnpackContext {
    pub(super) paths: Paths,
    pub(super) config: RegistryConfig,
    pub(super) pins: PinStore,
    pub(super) allow_unsigned: bool,
    pub(super) local_source: bool,
    /// The installed versions (whose files are never replaced).
    pub(super) installed: InstalledVersions,
}

/// The installed version of each id, shared by the unpacking tasks.
pub(super) type InstalledVersions = Arc<BTreeMap<BundleId, Version>>;

/// A metadata file as fetched (`Err`: unusable, with the reason), borrowed.
pub(super) fn meta_view(m: &MetaResult) -> Result<Option<&BundleMeta>, &Arc<MetaError>> {
    m.as_ref().map(Option::as_ref)
}

/// Checks one archive (§7.6) and unpacks it into its version directory.
pub(super) fn verify_and_unpack(
    ctx: &UnpackContext,
    line: &IndexLine,
    meta: Result<Option<&BundleMeta>, &Arc<MetaError>>,
    bytes: &[u8],
) -> Result<Unpacked, InstallError> {
    let id = &line.id;
    let version = &line.version;
    let meta = meta.map_err(|source| InstallError::UnusableMeta {
        id: id.clone(),
        version: version.clone(),
        source: source.clone(),
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
            return Err(InstallError::WouldReplaceInstalled {
                id: id.clone(),
                version: version.clone(),
            });
        }
        std::fs::remove_dir_all(&dest).map_err(local(&dest))?;
    }
    v.archive
        .extract_to_unsynced(&dest)
        .map_err(|source| InstallError::Unpack {
            id: id.clone(),
            version: version.clone(),
            source: Box::new(source),
        })?;
    Ok(Unpacked {
        id: id.clone(),
        status: v.status,
        signer: v.signer.map(|k| k.key_id()),
        pin: v.pin_update,
        version: version.clone(),
        notices: v.notices,
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

/// What removing bundles will do, decided from the installed state alone ([`plan_removal`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Removal {
    /// Every bundle that goes, with its installed version, by id: the ones asked for, their
    /// dependents (with `cascade`), and dependencies nobody needs any more.
    pub removed: BTreeMap<BundleId, Version>,
    /// The installed state after the removal.
    pub state: InstalledState,
}

/// Decides a removal: refuses an id that is not installed (with the closest installed id) and,
/// unless `cascade`, an id another installed bundle depends on; with `cascade` those
/// dependents go too. Dependencies nobody requested and nobody needs any more go as well.
/// Writes nothing.
pub fn plan_removal(
    old: &InstalledState,
    ids: &[BundleId],
    cascade: bool,
) -> Result<Removal, InstallError> {
    let mut gone: BTreeSet<BundleId> = BTreeSet::new();
    for id in ids {
        if !old.bundles.contains_key(id) {
            return Err(InstallError::NotInstalled {
                id: id.clone(),
                suggestion: old.suggest(id.as_str()),
            });
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
                    return Err(InstallError::Needed {
                        id: id.clone(),
                        dependent: d,
                    });
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
    Ok(Removal {
        removed: gone
            .into_iter()
            .map(|id| {
                let v = old.bundles[&id].version.clone();
                (id, v)
            })
            .collect(),
        state: new,
    })
}

/// Removes installed bundles ([`plan_removal`] decides what goes), commits the new installed
/// state and lockfile, then deletes the removed versions' files. Call it with the
/// installation lock held.
pub fn remove(paths: &Paths, ids: &[BundleId], cascade: bool) -> Result<Removal, InstallError> {
    let old = InstalledState::load(paths)?;
    let removal = plan_removal(&old, ids, cascade)?;
    removal.state.commit(paths)?;
    garbage_collect(paths, &old, &removal.state);
    crate::enterprise::audit_removed(paths, &removal.removed)?;
    Ok(removal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::state::fixture::{bundle, state};

    fn id(s: &str) -> BundleId {
        BundleId::parse(s).unwrap()
    }

    /// app -> lib -> base; tool -> base; tool requested, lib and base dependencies only.
    fn sample() -> InstalledState {
        state(vec![
            (
                "com.example.app",
                bundle("1.0.0", &["com.example.lib"], true),
            ),
            (
                "com.example.lib",
                bundle("1.1.0", &["com.example.base"], false),
            ),
            ("com.example.base", bundle("0.3.0", &[], false)),
            (
                "com.example.tool",
                bundle("2.0.0", &["com.example.base"], true),
            ),
        ])
    }

    fn ids(r: &Removal) -> Vec<&str> {
        r.removed.keys().map(BundleId::as_str).collect()
    }

    #[test]
    fn removing_a_bundle_takes_the_dependencies_nobody_needs() {
        let r = plan_removal(&sample(), &[id("com.example.app")], false).unwrap();
        // base stays: tool still needs it.
        assert_eq!(ids(&r), ["com.example.app", "com.example.lib"]);
        assert_eq!(r.removed[&id("com.example.lib")], Version::new(1, 1, 0));
        let left: Vec<&str> = r.state.bundles.keys().map(BundleId::as_str).collect();
        assert_eq!(left, ["com.example.base", "com.example.tool"]);
    }

    #[test]
    fn a_needed_bundle_is_refused_unless_cascade() {
        let s = sample();
        match plan_removal(&s, &[id("com.example.lib")], false) {
            Err(InstallError::Needed { id: i, dependent }) => {
                assert_eq!(i, id("com.example.lib"));
                assert_eq!(dependent, id("com.example.app"));
            }
            other => panic!("{other:?}"),
        }
        let r = plan_removal(&s, &[id("com.example.base")], true).unwrap();
        assert_eq!(r.removed.len(), 4);
        assert!(r.state.bundles.is_empty());
    }

    #[test]
    fn an_unknown_id_is_refused_with_the_closest_installed_one() {
        match plan_removal(&sample(), &[id("com.example.tol")], false) {
            Err(InstallError::NotInstalled { id: i, suggestion }) => {
                assert_eq!(i, id("com.example.tol"));
                assert_eq!(suggestion, Some(id("com.example.tool")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn removal_writes_state_and_lockfile_and_deletes_the_files() {
        let t = tempfile::tempdir().unwrap();
        let paths = Paths::under(t.path().to_path_buf());
        std::fs::create_dir_all(&paths.data).unwrap();
        let s = sample();
        s.commit(&paths).unwrap();
        for (i, b) in &s.bundles {
            std::fs::create_dir_all(bundle_dir(&paths, i, &b.version)).unwrap();
        }
        let r = remove(&paths, &[id("com.example.tool")], false).unwrap();
        assert_eq!(ids(&r), ["com.example.tool"]);
        assert_eq!(InstalledState::load(&paths).unwrap(), r.state);
        assert!(!bundle_dir(&paths, &id("com.example.tool"), &Version::new(2, 0, 0)).exists());
        assert!(bundle_dir(&paths, &id("com.example.base"), &Version::new(0, 3, 0)).exists());
    }
}
