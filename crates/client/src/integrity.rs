//! The client side of registry integrity (`index-format.md` §9.7): before a command uses any
//! index, metadata or config file of a remote registry, it fetches the registry's signed
//! `timestamp`, refuses rollback, freeze and fork (`ratchet_tlog::client::check`), remembers the
//! newest snapshot, and then verifies every file it reads against that one snapshot's state map.
//!
//! Why a module of its own: the install pipeline fetches files in waves ([`crate::install`]);
//! this module adds three calls to it ([`Session::open`] before the first wave,
//! [`Session::node_paths`] to fetch the map proofs in the same wave as the files, and
//! [`Session::verify`] before a wave's files are used), so the checks live in one place and
//! the pipeline stays readable. Local directories are not checked (nothing crosses a network);
//! a remote registry without `timestamp` works with a warning, unless this client saw it signed
//! before (a stripped timestamp is refused).

use crate::events::{Event, SharedReporter};
use crate::paths::Paths;
use crate::registry::{FetchError, Fetcher};
use ratchet_formats::index::sha256_hex;
use ratchet_tlog::TlogError;
use ratchet_tlog::client::{ClientState, Policy, Refusal, check};
use ratchet_tlog::hash::{sha256, to_hex};
use ratchet_tlog::map::{self, MAX_NODE_BYTES, MapProof};
use ratchet_tlog::root::{RootFile, RootPin};
use ratchet_tlog::signed::MAX_TIMESTAMP_BYTES;
use ratchet_tlog::snapshot::{Snapshot, TIMESTAMP_PATH};
use ratchet_trust::keys::PublicKey;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::SystemTime;

/// The registry key chain's path.
pub const ROOT_PATH: &str = "root.json";

/// Why a command refused a registry's files. Nothing installed, pinned or locked changed.
#[derive(Debug, thiserror::Error)]
pub enum IntegrityError {
    /// The signed timestamp was refused: rollback, freeze, fork, bad signature.
    #[error("registry {registry}: {refusal}")]
    Refused {
        /// The registry.
        registry: String,
        /// What `ratchet_tlog::client::check` found.
        refusal: Refusal,
    },
    /// A file does not match the signed snapshot.
    #[error(
        "registry {registry}: {reason}; nothing was changed: the server or a mirror serves a file that is not in the registry's signed state (an old copy, a mix of two moments, or an altered file); try again later or use another mirror, and tell the registry's operator if it persists"
    )]
    Tampered {
        /// The registry.
        registry: String,
        /// The file and both digests.
        reason: String,
    },
    /// The registry served `timestamp` before and does not now.
    #[error(
        "registry {registry}: it has no signed timestamp any more, but this client saw it signed (snapshot {seen}): its files cannot be checked, so they are refused; if the registry really dropped signing, run `ratchet registry forget-state {registry}`"
    )]
    Stripped {
        /// The registry.
        registry: String,
        /// The snapshot seen before.
        seen: u64,
    },
    /// `root.json` is missing, unreadable, or does not match the pinned or given key.
    #[error("registry {registry}: root.json: {reason}")]
    Root {
        /// The registry.
        registry: String,
        /// Why.
        reason: String,
    },
    /// A network failure while fetching what the check needs.
    #[error("registry {registry}: cannot check its signed state: {source}")]
    Fetch {
        /// The registry.
        registry: String,
        /// The failure.
        #[source]
        source: Box<FetchError>,
    },
    /// A file this command had already verified changed when the registry's snapshot moved
    /// forward during the command (§9.7 step 3): using both would mix two moments.
    #[error(
        "registry {registry}: a publish changed {file} while this command was reading the registry (snapshot {from} moved to {to}); nothing was changed; run the command again"
    )]
    ChangedDuringCommand {
        /// The registry.
        registry: String,
        /// The file read before the snapshot moved.
        file: String,
        /// The snapshot the command started with.
        from: u64,
        /// The snapshot it moved to.
        to: u64,
    },
    /// The client's own state files cannot be read or written.
    #[error("{}: {reason}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Where a client keeps, per registry, the accepted snapshot and the registry key pin:
/// `DATA/trust/registries/<hash>.state.json` and `<hash>.root.json` (`index-format.md` §9.7).
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

impl StateStore {
    /// The store under `paths.data`.
    pub fn new(paths: &Paths) -> StateStore {
        StateStore {
            dir: paths.data.join("trust").join("registries"),
        }
    }

    fn file(&self, registry: &str, ext: &str) -> PathBuf {
        let h = sha256_hex(registry.as_bytes());
        self.dir.join(format!("{}.{ext}", &h[..24]))
    }

    /// The accepted snapshot of a registry (root URL), if any.
    pub fn load_state(&self, registry: &str) -> Result<Option<ClientState>, IntegrityError> {
        let path = self.file(registry, "state.json");
        match read_small(&path)? {
            None => Ok(None),
            Some(b) => ClientState::from_json(&b, &path.display().to_string())
                .map(Some)
                .map_err(|e| IntegrityError::State {
                    path,
                    reason: format!("{e}; remove it with `ratchet registry forget-state`"),
                }),
        }
    }

    /// The pinned registry key chain head, if any.
    pub fn load_pin(&self, registry: &str) -> Result<Option<RootPin>, IntegrityError> {
        let path = self.file(registry, "root.json");
        match read_small(&path)? {
            None => Ok(None),
            Some(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| IntegrityError::State {
                    path,
                    reason: format!("{e}; remove it with `ratchet registry forget-state`"),
                }),
        }
    }

    fn save(
        &self,
        registry: &str,
        state: &ClientState,
        pin: &RootPin,
    ) -> Result<(), IntegrityError> {
        let p = self.file(registry, "root.json");
        let json = serde_json::to_string_pretty(pin).unwrap_or_default() + "\n";
        ratchet_formats::fsutil::write_atomic(&p, json.as_bytes()).map_err(|e| {
            IntegrityError::State {
                path: p,
                reason: e.to_string(),
            }
        })?;
        let p = self.file(registry, "state.json");
        ratchet_formats::fsutil::write_atomic(&p, state.to_json().as_bytes()).map_err(|e| {
            IntegrityError::State {
                path: p,
                reason: e.to_string(),
            }
        })
    }

    /// Forgets a registry's snapshot and key pin (`ratchet registry forget-state`): the next
    /// command trusts its `root.json` on first use again. False when there was nothing.
    pub fn forget(&self, registry: &str) -> Result<bool, IntegrityError> {
        let mut any = false;
        for ext in ["state.json", "root.json"] {
            let p = self.file(registry, ext);
            match std::fs::remove_file(&p) {
                Ok(()) => any = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(IntegrityError::State {
                        path: p,
                        reason: e.to_string(),
                    });
                }
            }
        }
        Ok(any)
    }
}

fn read_small(path: &std::path::Path) -> Result<Option<Vec<u8>>, IntegrityError> {
    match std::fs::read(path) {
        Ok(b) if b.len() <= 64 * 1024 => Ok(Some(b)),
        Ok(_) => Err(IntegrityError::State {
            path: path.to_path_buf(),
            reason: "larger than 64 KiB".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IntegrityError::State {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }),
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What a session needs to fetch the timestamp once more mid-command (§9.7 step 3).
struct Recheck {
    store: StateStore,
    base: String,
    pin: RootPin,
    key: PublicKey,
    mirror_keys: Vec<PublicKey>,
    allow_expired: bool,
    reporter: SharedReporter,
    /// The accepted state the session verifies against now.
    state: Mutex<ClientState>,
    /// Set once the timestamp was fetched again: at most once per command.
    done: AtomicBool,
}

/// What one command checks its registry files against.
pub struct Session {
    registry: String,
    /// `None`: nothing to check (a local directory, or an unsigned remote registry). Replaced
    /// at most once per command, when the registry moved forward during it (§9.7 step 3).
    snapshot: RwLock<Option<Snapshot>>,
    /// `None` for unchecked sessions.
    recheck: Option<Recheck>,
    /// Every file verified in this command and what the snapshot says of it (`None`: absent),
    /// checked again against a newer snapshot when the registry moves during the command.
    verified: Mutex<BTreeMap<String, Option<map::FileDigest>>>,
    /// The accepted `timestamp` file's bytes (what a mirror copies).
    timestamp: Mutex<Option<Vec<u8>>>,
    /// Nodes below the root to prefetch along each path.
    depth: usize,
    /// Map nodes fetched in a wave, by path, for the proofs of that wave's files.
    nodes: Mutex<HashMap<String, Option<Vec<u8>>>>,
    /// Bytes of map proofs fetched (the benchmark's "extra proof bytes").
    pub proof_bytes: AtomicU64,
    /// Files verified.
    pub files_verified: AtomicU64,
    /// True when the timestamp was unchanged and cached files are used without requests.
    pub warm: bool,
}

fn tlog_fetch<'a>(
    fetcher: &'a Fetcher,
    fresh: bool,
) -> impl FnMut(&str, usize) -> Result<Option<Vec<u8>>, TlogError> + 'a {
    move |p: &str, limit: usize| {
        let r = if fresh {
            fetcher.get_fresh(p, limit as u64)
        } else {
            fetcher.get(p, limit as u64)
        };
        r.map_err(|e| TlogError::Fetch {
            file: p.to_string(),
            reason: e.to_string(),
        })
    }
}

impl Session {
    /// A session that checks nothing (local directories).
    pub fn unchecked(registry: &str) -> Session {
        Session {
            registry: registry.to_string(),
            snapshot: RwLock::new(None),
            recheck: None,
            verified: Mutex::new(BTreeMap::new()),
            timestamp: Mutex::new(None),
            depth: 0,
            nodes: Mutex::new(HashMap::new()),
            proof_bytes: AtomicU64::new(0),
            files_verified: AtomicU64::new(0),
            warm: false,
        }
    }

    /// True when the registry's files are checked against a signed snapshot.
    pub fn is_signed(&self) -> bool {
        self.snap().is_some()
    }

    /// The snapshot (log size) files are checked against.
    pub fn snapshot_size(&self) -> Option<u64> {
        self.snap().map(|s| s.size)
    }

    /// The signed snapshot this command's files are checked against (`None`: unchecked).
    pub fn snapshot(&self) -> Option<Snapshot> {
        self.snap()
    }

    /// The bytes of the accepted `timestamp` file of [`Session::snapshot`] (its first four
    /// lines are `log/checkpoint`), for a mirror that copies the signed state.
    pub fn timestamp_file(&self) -> Option<Vec<u8>> {
        self.timestamp.lock().ok().and_then(|t| t.clone())
    }

    /// The snapshot files are checked against now.
    fn snap(&self) -> Option<Snapshot> {
        self.snapshot.read().ok().and_then(|s| s.clone())
    }

    /// Fetches and checks the registry's `timestamp` (§9.7 steps 1 and 2), saves the accepted
    /// state, and returns the session that verifies the command's files. A local directory
    /// gives an unchecked session.
    pub fn open(
        fetcher: &Fetcher,
        paths: &Paths,
        reporter: &SharedReporter,
    ) -> Result<Session, IntegrityError> {
        let src = fetcher.source();
        let base = src.base.to_string();
        let name = src.name.clone();
        if src.base.scheme() == "file" {
            return Ok(Session::unchecked(&name));
        }
        let store = StateStore::new(paths);
        let seen = store.load_state(&base)?;
        let pin = store.load_pin(&base)?;
        let fetch_err = |source| IntegrityError::Fetch {
            registry: name.clone(),
            source: Box::new(source),
        };
        let ts = match fetcher.get_fresh(TIMESTAMP_PATH, MAX_TIMESTAMP_BYTES as u64) {
            Ok(t) => t,
            // Offline with no cached timestamp (a cache from before signed snapshots): the
            // cached files are used as they are, as before.
            Err(FetchError::Offline { .. }) => return Ok(Session::unchecked(&name)),
            Err(e) => return Err(fetch_err(e)),
        };
        let Some(ts) = ts else {
            if let Some(s) = &seen {
                return Err(IntegrityError::Stripped {
                    registry: name,
                    seen: s.size,
                });
            }
            if src.configured_kind != Some(ratchet_formats::index::RegistryKind::Local) {
                reporter.report(&Event::Integrity {
                    message: format!(
                        "registry {name} publishes no signed timestamp: its files cannot be checked for rollback, freeze or tampering by a mirror"
                    ),
                    loud: false,
                });
            }
            return Ok(Session::unchecked(&name));
        };
        // The registry key: pinned, or from root.json (first use, or a rotation). The bytes of
        // a root.json fetched here are the ones verified against the snapshot below (one
        // request for it, not two).
        let mut root_fetched = None;
        let (mut key, mut pin) = match &pin {
            Some(p) => {
                let k = PublicKey::from_base64(&p.key).map_err(|e| IntegrityError::State {
                    path: store.file(&base, "root.json"),
                    reason: e.to_string(),
                })?;
                (k, p.clone())
            }
            None => {
                let (k, p, b) = fetch_root(fetcher, &name, src.root_key.as_deref(), None)?;
                root_fetched = Some(b);
                if src.root_key.is_none() {
                    reporter.report(&Event::Integrity {
                        message: format!(
                            "first use of registry {name}: trusting and pinning its registry key {} (origin {})",
                            k.key_id(),
                            p.origin
                        ),
                        loud: false,
                    });
                }
                (k, p)
            }
        };
        let mut mirror_keys = Vec::new();
        for m in &src.mirror_keys {
            mirror_keys.push(PublicKey::from_base64(m).map_err(|e| IntegrityError::Root {
                registry: name.clone(),
                reason: format!("mirror key `{m}` in registries.json: {e}"),
            })?);
        }
        let policy = Policy {
            now: now_secs(),
            allow_expired: src.allow_expired || fetcher.offline(),
        };
        let mut f = tlog_fetch(fetcher, false);
        let mut accepted = check(
            seen.as_ref(),
            &ts,
            &[key.clone()],
            &mirror_keys,
            &policy,
            &mut f,
        );
        if let Err(Refusal::BadSignature { .. }) = &accepted {
            // The key may have rotated: a longer chain that extends the pin is accepted.
            let (k, p, b) = fetch_root(fetcher, &name, None, Some(&pin))?;
            root_fetched = Some(b);
            if k != key {
                reporter.report(&Event::Integrity {
                    message: format!(
                        "registry {name} rotated its registry key from {} to {} (signed by the old key)",
                        key.key_id(),
                        k.key_id()
                    ),
                    loud: false,
                });
                key = k;
                pin = p;
                accepted = check(
                    seen.as_ref(),
                    &ts,
                    &[key.clone()],
                    &mirror_keys,
                    &policy,
                    &mut f,
                );
            }
        }
        let accepted = accepted.map_err(|refusal| IntegrityError::Refused {
            registry: name.clone(),
            refusal,
        })?;
        if accepted.state.origin != pin.origin {
            return Err(IntegrityError::Refused {
                registry: name.clone(),
                refusal: Refusal::WrongOrigin {
                    pinned: pin.origin.clone(),
                    got: accepted.state.origin.clone(),
                },
            });
        }
        if accepted.expired && !fetcher.offline() {
            reporter.report(&Event::Integrity {
                message: format!(
                    "--allow-expired: registry {name}'s signed timestamp expired at {}; its files may be stale (yanks and security fixes may be missing)",
                    ratchet_tlog::entry::format_time(accepted.verified.timestamp.expires)
                ),
                loud: true,
            });
        }
        let warm = seen.as_ref().is_some_and(|s| {
            *s == accepted.state && accepted.verified.timestamp.issued <= s.timestamp_issued
        });
        // Save before using any file verified against it (§9.7 step 3).
        store.save(&base, &accepted.state, &pin)?;
        let snapshot = Snapshot::of(&accepted.verified.checkpoint);
        // The levels whose nodes almost all exist (at least 4 files per node, with about two
        // files per log entry): prefetched in the same wave as the files; deeper nodes, which
        // may not exist, are fetched in one more wave when a proof needs them.
        let mut depth = 1;
        let mut n = snapshot.size.saturating_mul(2);
        while n >= 64 {
            n /= 16;
            depth += 1;
        }
        let session = Session {
            registry: name,
            snapshot: RwLock::new(Some(snapshot)),
            recheck: Some(Recheck {
                store,
                base,
                pin,
                key,
                mirror_keys,
                allow_expired: policy.allow_expired,
                reporter: reporter.clone(),
                state: Mutex::new(accepted.state.clone()),
                done: AtomicBool::new(false),
            }),
            verified: Mutex::new(BTreeMap::new()),
            timestamp: Mutex::new(Some(ts)),
            depth,
            nodes: Mutex::new(HashMap::new()),
            proof_bytes: AtomicU64::new(0),
            files_verified: AtomicU64::new(0),
            warm,
        };
        fetcher.set_cache_first(warm);
        // root.json itself is part of the signed state: the copy fetched above, else the
        // cached (warm) or revalidated one.
        let root_bytes = match root_fetched {
            Some(b) => Ok(Some(b)),
            None => fetcher
                .get(ROOT_PATH, ratchet_tlog::root::MAX_ROOT_BYTES as u64)
                .map_err(|source| IntegrityError::Fetch {
                    registry: session.registry.clone(),
                    source: Box::new(source),
                }),
        };
        if let Ok(b) = root_bytes {
            session.verify(
                fetcher,
                &[ROOT_PATH.to_string()],
                &mut [Ok(b)],
                ratchet_tlog::root::MAX_ROOT_BYTES as u64,
            )?;
        }
        Ok(session)
    }

    /// The map node files to fetch in the same wave as `rels` (their proofs' stable paths,
    /// not fetched yet in this command).
    pub fn node_paths(&self, rels: &[String]) -> Vec<String> {
        if !self.is_signed() {
            return Vec::new();
        }
        let have = self
            .nodes
            .lock()
            .map(|n| n.keys().cloned().collect::<BTreeSet<_>>());
        let have = have.unwrap_or_default();
        let mut out = BTreeSet::new();
        for r in rels {
            for p in map::stable_paths(r, self.depth) {
                if !have.contains(&p) {
                    out.insert(p);
                }
            }
        }
        out.into_iter().collect()
    }

    /// Takes the node files of a wave (`paths` and their results, as fetched).
    pub fn absorb_nodes(
        &self,
        paths: &[String],
        results: Vec<Result<Option<Vec<u8>>, FetchError>>,
    ) {
        if let Ok(mut n) = self.nodes.lock() {
            for (p, r) in paths.iter().zip(results) {
                if let Ok(b) = r {
                    n.insert(p.clone(), b);
                }
            }
        }
    }

    /// Verifies one wave's files against the snapshot (§9.7 step 3): a file that does not
    /// match is fetched once more from the server (a stale cached copy); if it still does not
    /// match, the registry may have moved on since the command fetched its timestamp (a
    /// publish in progress), so the timestamp is fetched once more: when it moved forward
    /// (and passes every check of step 2), the files verified so far are checked against the
    /// new snapshot and the file verified again; anything else is refused. At most one
    /// re-fetch of the timestamp per command. Fetch errors are left for the caller.
    pub fn verify(
        &self,
        fetcher: &Fetcher,
        rels: &[String],
        results: &mut [Result<Option<Vec<u8>>, FetchError>],
        limit: u64,
    ) -> Result<(), IntegrityError> {
        let Some(snap) = self.snap() else {
            return Ok(());
        };
        // Nodes the proofs need below the prefetched levels: one wave per level, not one
        // request after another.
        let paths: Vec<&String> = rels
            .iter()
            .zip(results.iter())
            .filter(|(_, r)| r.is_ok())
            .map(|(p, _)| p)
            .collect();
        self.fetch_proof_nodes(fetcher, &snap, &paths);
        for (rel, r) in rels.iter().zip(results.iter_mut()) {
            let Ok(bytes) = r else { continue };
            if self.verify_one(fetcher, rel, bytes.as_deref()).is_ok() {
                continue;
            }
            let fresh = match fetcher.get_fresh(rel, limit) {
                Ok(b) => b,
                Err(e) => {
                    *r = Err(e);
                    continue;
                }
            };
            if let Err(e) = self.verify_one_fresh(fetcher, rel, fresh.as_deref()) {
                if !self.advance(fetcher)? {
                    return Err(e);
                }
                self.verify_one_fresh(fetcher, rel, fresh.as_deref())?;
            }
            *r = Ok(fresh);
        }
        Ok(())
    }

    /// Fetches, one wave per map level, the node files the proofs of `paths` need that this
    /// session does not hold yet.
    fn fetch_proof_nodes(&self, fetcher: &Fetcher, snap: &Snapshot, paths: &[&String]) {
        for _ in 0..map::MAX_DEPTH {
            let missing = self.missing_nodes(snap, paths);
            if missing.is_empty() {
                break;
            }
            let got = fetcher.get_many(&missing, NODE_LIMIT);
            self.absorb_nodes(&missing, got);
        }
    }

    /// §9.7 step 3: fetches `timestamp` once more (at most once per command). When the
    /// registry moved forward and the new timestamp passes every check of step 2 against the
    /// snapshot this command accepted, the new state is saved, every file verified so far is
    /// checked against the new snapshot (a file that changed is refused: the command read it
    /// from the old one), and the session verifies against the new snapshot from now on.
    /// `Ok(false)`: nothing moved (or it was done already), so the mismatch stands.
    fn advance(&self, fetcher: &Fetcher) -> Result<bool, IntegrityError> {
        let Some(rc) = &self.recheck else {
            return Ok(false);
        };
        if rc.done.swap(true, Ordering::SeqCst) {
            return Ok(false);
        }
        let Some(old) = self.snap() else {
            return Ok(false);
        };
        let registry = self.registry.clone();
        let ts = fetcher
            .get_fresh(TIMESTAMP_PATH, MAX_TIMESTAMP_BYTES as u64)
            .map_err(|source| IntegrityError::Fetch {
                registry: registry.clone(),
                source: Box::new(source),
            })?
            .ok_or_else(|| IntegrityError::Stripped {
                registry: registry.clone(),
                seen: old.size,
            })?;
        let seen = rc
            .state
            .lock()
            .map_err(|_| IntegrityError::State {
                path: rc.store.dir.clone(),
                reason: "poisoned lock".into(),
            })?
            .clone();
        let policy = Policy {
            now: now_secs(),
            allow_expired: rc.allow_expired,
        };
        let mut f = tlog_fetch(fetcher, false);
        let accepted = check(
            Some(&seen),
            &ts,
            std::slice::from_ref(&rc.key),
            &rc.mirror_keys,
            &policy,
            &mut f,
        )
        .map_err(|refusal| IntegrityError::Refused {
            registry: registry.clone(),
            refusal,
        })?;
        if !accepted.advanced {
            return Ok(false);
        }
        let new = Snapshot::of(&accepted.verified.checkpoint);
        // Everything this command read so far must say the same in the new snapshot.
        let before: Vec<(String, Option<map::FileDigest>)> = self
            .verified
            .lock()
            .map(|v| v.iter().map(|(k, d)| (k.clone(), *d)).collect())
            .unwrap_or_default();
        let paths: Vec<&String> = before.iter().map(|(p, _)| p).collect();
        self.fetch_proof_nodes(fetcher, &new, &paths);
        for (path, digest) in &before {
            let proof = self.proof(fetcher, &new, path, false)?;
            let now = proof
                .verify(&new.state_root, path)
                .map_err(|e| self.tampered(e))?;
            let same = match (now, digest) {
                (map::Lookup::Present { digest: d, .. }, Some(was)) => d == *was,
                (map::Lookup::Absent, None) => true,
                _ => false,
            };
            if !same {
                // Nothing is remembered on a refusal: the next command sees the new snapshot.
                return Err(IntegrityError::ChangedDuringCommand {
                    registry,
                    file: path.clone(),
                    from: old.size,
                    to: new.size,
                });
            }
        }
        rc.store.save(&rc.base, &accepted.state, &rc.pin)?;
        if let Ok(mut s) = rc.state.lock() {
            *s = accepted.state.clone();
        }
        rc.reporter.report(&Event::Integrity {
            message: format!(
                "registry {registry} moved from snapshot {} to {} during this command (a publish); its files are checked against snapshot {}",
                old.size, new.size, new.size
            ),
            loud: false,
        });
        // Cached copies were right for the old snapshot only.
        fetcher.set_cache_first(false);
        if let Ok(mut t) = self.timestamp.lock() {
            *t = Some(ts);
        }
        if let Ok(mut s) = self.snapshot.write() {
            *s = Some(new);
        }
        Ok(true)
    }

    /// The first node file each proof of `paths` needs that this session has not fetched yet.
    fn missing_nodes(&self, snap: &Snapshot, paths: &[&String]) -> Vec<String> {
        let mut missing = BTreeSet::new();
        for rel in paths {
            let mut first = None;
            let mut f = |p: &str, _: usize| -> Result<Option<Vec<u8>>, TlogError> {
                match self.nodes.lock().ok().and_then(|n| n.get(p).cloned()) {
                    Some(b) => Ok(b),
                    None => {
                        first = Some(p.to_string());
                        Err(TlogError::Invalid("not fetched yet".into()))
                    }
                }
            };
            let _ = MapProof::fetch(&mut f, &snap.state_root, rel);
            if let Some(p) = first {
                missing.insert(p);
            }
        }
        missing.into_iter().collect()
    }

    fn verify_one(
        &self,
        fetcher: &Fetcher,
        rel: &str,
        bytes: Option<&[u8]>,
    ) -> Result<(), IntegrityError> {
        self.verify_with(fetcher, rel, bytes, false)
    }

    fn verify_one_fresh(
        &self,
        fetcher: &Fetcher,
        rel: &str,
        bytes: Option<&[u8]>,
    ) -> Result<(), IntegrityError> {
        self.verify_with(fetcher, rel, bytes, true)
    }

    fn verify_with(
        &self,
        fetcher: &Fetcher,
        rel: &str,
        bytes: Option<&[u8]>,
        fresh: bool,
    ) -> Result<(), IntegrityError> {
        let Some(snap) = self.snap() else {
            return Ok(());
        };
        let proof = self.proof(fetcher, &snap, rel, fresh)?;
        map::verify_file(&proof, &snap.state_root, rel, bytes).map_err(|e| self.tampered(e))?;
        self.proof_bytes
            .fetch_add(proof.len_bytes() as u64, Ordering::Relaxed);
        self.files_verified.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut v) = self.verified.lock() {
            v.insert(rel.to_string(), bytes.map(map::FileDigest::of));
        }
        Ok(())
    }

    /// The map proof of `rel` in `snap`, from the nodes this session holds (`fresh`: from the
    /// server, bypassing every cache), fetching what is missing.
    fn proof(
        &self,
        fetcher: &Fetcher,
        snap: &Snapshot,
        rel: &str,
        fresh: bool,
    ) -> Result<MapProof, IntegrityError> {
        let mut net = tlog_fetch(fetcher, fresh);
        let nodes = &self.nodes;
        let mut f = |p: &str, limit: usize| -> Result<Option<Vec<u8>>, TlogError> {
            if !fresh && let Some(b) = nodes.lock().ok().and_then(|n| n.get(p).cloned()) {
                return Ok(b);
            }
            let b = net(p, limit)?;
            if let Ok(mut n) = nodes.lock() {
                n.insert(p.to_string(), b.clone());
            }
            Ok(b)
        };
        MapProof::fetch(&mut f, &snap.state_root, rel).map_err(|e| self.tampered(e))
    }

    /// Proves that the log entry which last set `rel` is in the signed log and records the
    /// file's current digest (an inclusion proof from the log's tiles, `index-format.md` §9.7
    /// step 4): costs an entry bundle and a few tiles, so it runs on demand (`--verify-log`).
    /// `None` for an unchecked registry.
    pub fn verify_logged(
        &self,
        fetcher: &Fetcher,
        rel: &str,
    ) -> Result<Option<ratchet_tlog::entry::LogEntry>, IntegrityError> {
        let Some(snap) = self.snap() else {
            return Ok(None);
        };
        let mut f = tlog_fetch(fetcher, false);
        snap.verify_logged(&mut f, rel)
            .map(Some)
            .map_err(|e| self.tampered(e))
    }

    fn tampered(&self, e: TlogError) -> IntegrityError {
        IntegrityError::Tampered {
            registry: self.registry.clone(),
            reason: e.to_string(),
        }
    }
}

/// Fetches and verifies `root.json`: with `given` (base64, `--root-key`), the chain must name
/// that key; with `pin`, it must extend the pinned statement; else trust on first use.
/// Returns the key, the pin and the file's bytes.
fn fetch_root(
    fetcher: &Fetcher,
    registry: &str,
    given: Option<&str>,
    pin: Option<&RootPin>,
) -> Result<(PublicKey, RootPin, Vec<u8>), IntegrityError> {
    let bad = |reason: String| IntegrityError::Root {
        registry: registry.to_string(),
        reason,
    };
    let bytes = fetcher
        .get_fresh(ROOT_PATH, ratchet_tlog::root::MAX_ROOT_BYTES as u64)
        .map_err(|source| IntegrityError::Fetch {
            registry: registry.to_string(),
            source: Box::new(source),
        })?
        .ok_or_else(|| {
            bad("missing, but the registry signs a timestamp: it cannot be checked; tell the registry's operator".into())
        })?;
    let rf = RootFile::parse(&bytes).map_err(|e| bad(e.to_string()))?;
    let origin = match pin {
        Some(p) => p.origin.clone(),
        None => rf
            .origin()
            .ok_or_else(|| bad("its first statement names no valid origin".into()))?,
    };
    let start = match (given, pin) {
        (_, Some(p)) => Some(p.clone()),
        (Some(g), None) => {
            let want = PublicKey::from_base64(g).map_err(|e| bad(format!("--root-key: {e}")))?;
            let seq = (0..rf.chain.len())
                .find(|&i| rf.key_at(i).as_ref() == Some(&want))
                .ok_or_else(|| {
                    bad(format!(
                        "does not name the registry key {} given with --root-key: this is not the registry you meant, or its key was replaced",
                        want.key_id()
                    ))
                })?;
            Some(RootPin {
                origin: origin.clone(),
                seq,
                head: to_hex(&sha256(rf.chain[seq].statement.as_bytes())),
                key: want.to_base64().to_string(),
            })
        }
        (None, None) => None,
    };
    let v = rf
        .verify(&origin, start.as_ref())
        .map_err(|e| bad(e.to_string()))?;
    Ok((v.key, v.pin, bytes))
}

/// A map node's size limit, for callers that fetch node files in a wave.
pub const NODE_LIMIT: u64 = MAX_NODE_BYTES as u64;

/// What `ratchet registry audit` found on a registry that replayed cleanly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSummary {
    /// The snapshot audited (log size).
    pub size: u64,
    /// Log entries replayed.
    pub entries: u64,
    /// Files of the final state fetched and compared.
    pub files: u64,
    /// Files whose served bytes differ from the signed state: (path, what).
    pub mismatches: Vec<(String, String)>,
}

/// Replays a registry's whole log (`index-format.md` §9.9): checks its timestamp as every
/// command does (and remembers it), reads every entry, recomputes the log root and the state
/// map from the entries, compares it with the signed one, then fetches every file of the final
/// state and compares its digest. What a witness or a mirror operator runs.
pub fn audit(
    fetcher: &Fetcher,
    paths: &Paths,
    reporter: &SharedReporter,
) -> Result<AuditSummary, IntegrityError> {
    let session = Session::open(fetcher, paths, reporter)?;
    // An audit checks what the server serves now, never the cache.
    fetcher.set_cache_first(false);
    let name = fetcher.source().name.clone();
    let local_snapshot;
    let current = session.snap();
    let snap = match &current {
        Some(s) => s,
        None if fetcher.source().base.scheme() == "file" => {
            // A local directory: read its checkpoint (no freshness to judge here).
            let b = fetcher
                .get(ratchet_tlog::snapshot::CHECKPOINT_PATH, 2048)
                .map_err(|source| IntegrityError::Fetch {
                    registry: name.clone(),
                    source: Box::new(source),
                })?
                .ok_or_else(|| IntegrityError::Root {
                    registry: name.clone(),
                    reason: "the registry has no transparency log (log/checkpoint)".into(),
                })?;
            let (key, _, _) =
                fetch_root(fetcher, &name, fetcher.source().root_key.as_deref(), None)?;
            let sc = ratchet_tlog::signed::SignedCheckpoint::parse(&b, "log/checkpoint")
                .and_then(|sc| {
                    sc.verify(std::slice::from_ref(&key), "log/checkpoint")
                        .map(|_| sc)
                })
                .map_err(|e| IntegrityError::Root {
                    registry: name.clone(),
                    reason: e.to_string(),
                })?;
            local_snapshot = Snapshot::of(&sc.checkpoint);
            &local_snapshot
        }
        None => {
            return Err(IntegrityError::Root {
                registry: name,
                reason: "the registry publishes no signed timestamp: there is no log to audit"
                    .into(),
            });
        }
    };
    let checkpoint = ratchet_tlog::signed::Checkpoint {
        origin: String::new(),
        size: snap.size,
        log_root: snap.log_root,
        state_root: snap.state_root,
        time: 0,
    };
    let mut f = tlog_fetch(fetcher, false);
    let report = ratchet_tlog::snapshot::audit(&mut f, &checkpoint).map_err(|e| {
        IntegrityError::Tampered {
            registry: name.clone(),
            reason: format!("the log does not replay to the signed state: {e}"),
        }
    })?;
    let rels: Vec<String> = report.files.keys().cloned().collect();
    let mut mismatches = Vec::new();
    for chunk in rels.chunks(256) {
        let got = fetcher.get_many(chunk, ratchet_formats::index::MAX_INDEX_FILE_LEN);
        for (rel, r) in chunk.iter().zip(got) {
            let (digest, entry) = report.files[rel];
            match r {
                Ok(Some(b)) if map::FileDigest::of(&b) == digest => {}
                Ok(Some(b)) => mismatches.push((
                    rel.clone(),
                    format!(
                        "served {} bytes with SHA-256 {}, log entry {entry} recorded {} bytes with SHA-256 {}",
                        b.len(),
                        to_hex(&sha256(&b)),
                        digest.size,
                        to_hex(&digest.sha256)
                    ),
                )),
                Ok(None) => mismatches.push((
                    rel.clone(),
                    format!("missing (404), but log entry {entry} recorded it"),
                )),
                Err(e) => mismatches.push((rel.clone(), format!("cannot fetch: {e}"))),
            }
        }
    }
    Ok(AuditSummary {
        size: snap.size,
        entries: report.entries,
        files: rels.len() as u64,
        mismatches,
    })
}
