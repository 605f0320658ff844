//! The publishing side of registry integrity (`index-format.md` §9.6): every change of a signed
//! registry becomes one entry of its transparency log, the state map follows, and a new
//! checkpoint and timestamp are signed, all under the registry lock.
//!
//! Why a module of its own: the operations in `lib.rs` own *what* changes; this module owns the
//! bookkeeping around them, with three calls per operation: [`Registry::begin_change`] (after
//! taking the lock: refuses a signed registry without its key, completes an interrupted
//! operation), [`Registry::intend`] (before the first write: `.ratchet-index.pending` names the
//! files) and [`Registry::commit_change`] (after the last write: log, map, checkpoint,
//! timestamp). A registry without `root.json` is unsigned and none of this happens (§9.12).

use crate::{PublishError, Registry, Result, io_err, walk};
use ratchet_formats::fsutil::write_atomic;
use ratchet_formats::index::{CONFIG_FILE, INDEX_DIR, META_DIR};
use ratchet_formats::manifest::BundleId;
use ratchet_tlog::TlogError;
use ratchet_tlog::entry::{EntryKind, FileChange, LogEntry};
use ratchet_tlog::hash::{Hash, from_hex};
use ratchet_tlog::map::FileDigest;
use ratchet_tlog::root::RootFile;
use ratchet_tlog::signed::{MAX_CHECKPOINT_BYTES, SignedCheckpoint};
use ratchet_tlog::snapshot::{self, CHECKPOINT_PATH, Operation, Publisher, TIMESTAMP_PATH};
use ratchet_tlog::tiles::{FileWrite, TileReader};
use ratchet_trust::keys::{PublicKey, SecretKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

/// The registry key chain (§9.2).
pub const ROOT_FILE: &str = "root.json";
/// Names the operation in progress (§9.6); never served.
pub const PENDING_FILE: &str = ".ratchet-index.pending";
/// Environment variable naming the registry's secret key file (the `--registry-key` option's
/// default). Its password comes from `RATCHET_KEY_PASSWORD` or a prompt, as for author keys.
pub const REGISTRY_KEY_ENV: &str = "RATCHET_REGISTRY_KEY";

/// The registry key a [`Registry`] signs checkpoints and timestamps with, and how long its
/// timestamps are valid.
#[derive(Debug)]
pub struct RegistryKey {
    sk: SecretKey,
    validity: u64,
}

impl RegistryKey {
    /// A registry key whose timestamps are valid for `validity` seconds (1 s to 30 days).
    pub fn new(sk: SecretKey, validity: u64) -> Result<RegistryKey> {
        if validity == 0 || validity > ratchet_tlog::signed::MAX_VALIDITY_SECS {
            return Err(PublishError::Integrity(format!(
                "a timestamp validity of {validity} s is not between 1 second and 30 days"
            )));
        }
        Ok(RegistryKey { sk, validity })
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        self.sk.public()
    }
}

/// What the signing side knows during one change.
pub(crate) struct Change {
    signing: Option<Signing>,
    op: Option<PendingOp>,
}

struct Signing {
    key: Arc<RegistryKey>,
    origin: String,
    /// The time signed into entries, checkpoint and timestamp (`None`: now).
    time: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingOp {
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    archive: Option<String>,
    files: Vec<String>,
}

/// The signed state after a change: what `ratchet-index` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedState {
    /// The registry's origin.
    pub origin: String,
    /// Log size (snapshot version).
    pub size: u64,
    /// Log root (hex).
    pub log_root: String,
    /// State map root (hex).
    pub state_root: String,
    /// Key id of the registry key.
    pub key_id: String,
}

fn tlog_err(e: TlogError) -> PublishError {
    PublishError::Integrity(e.to_string())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Reads `rel` under `root` for the tlog readers, refusing more than `limit` bytes.
fn read_limited(root: &Path, rel: &str, limit: usize) -> Result<Option<Vec<u8>>, TlogError> {
    let path = root.join(rel);
    let f = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(TlogError::Fetch {
                file: rel.to_string(),
                reason: e.to_string(),
            });
        }
    };
    let mut buf = Vec::new();
    f.take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| TlogError::Fetch {
            file: rel.to_string(),
            reason: e.to_string(),
        })?;
    if buf.len() > limit {
        return Err(TlogError::Malformed {
            file: rel.to_string(),
            reason: format!("more than {limit} bytes"),
        });
    }
    Ok(Some(buf))
}

impl Registry {
    /// This registry, signing its changes with `key` (needed for every change once the
    /// registry has a `root.json`).
    pub fn with_registry_key(mut self, key: RegistryKey) -> Registry {
        self.registry_key = Some(Arc::new(key));
        self
    }

    /// True when the registry has a registry key (`root.json`): its changes are logged and signed.
    pub fn is_signed(&self) -> bool {
        self.root.join(ROOT_FILE).is_file()
    }

    /// The verified `root.json`: origin and current registry key (`None`: unsigned registry).
    pub fn registry_root(&self) -> Result<Option<(String, PublicKey, RootFile)>> {
        let path = self.root.join(ROOT_FILE);
        let bytes = match read_limited(&self.root, ROOT_FILE, ratchet_tlog::root::MAX_ROOT_BYTES) {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(None),
            Err(e) => return Err(tlog_err(e)),
        };
        let rf = RootFile::parse(&bytes).map_err(tlog_err)?;
        let origin = rf.origin().ok_or_else(|| {
            PublishError::Integrity(format!(
                "{}: the first statement names no valid origin",
                path.display()
            ))
        })?;
        let v = rf.verify(&origin, None).map_err(tlog_err)?;
        Ok(Some((origin, v.key, rf)))
    }

    /// The signed checkpoint on disk, verified with the registry key (`None`: no log yet).
    pub fn signed_state(&self) -> Result<Option<SignedState>> {
        let Some((origin, key, _)) = self.registry_root()? else {
            return Ok(None);
        };
        let Some(b) =
            read_limited(&self.root, CHECKPOINT_PATH, MAX_CHECKPOINT_BYTES).map_err(tlog_err)?
        else {
            return Ok(None);
        };
        let sc = SignedCheckpoint::parse(&b, CHECKPOINT_PATH).map_err(tlog_err)?;
        sc.verify(std::slice::from_ref(&key), CHECKPOINT_PATH)
            .map_err(tlog_err)?;
        let c = sc.checkpoint;
        Ok(Some(SignedState {
            origin,
            size: c.size,
            log_root: ratchet_tlog::hash::to_hex(&c.log_root),
            state_root: ratchet_tlog::hash::to_hex(&c.state_root),
            key_id: key.key_id(),
        }))
    }

    /// The map nodes and log tiles `gc` removes (`index-format.md` §9.6): those no snapshot
    /// among the last [`snapshot::GC_KEEP_SNAPSHOTS`] or of the last
    /// [`snapshot::GC_KEEP_SECS`] seconds needs, and those of checkpoints never signed. Empty
    /// for an unsigned registry. The caller holds the lock.
    pub(crate) fn integrity_unneeded(&self) -> Result<Vec<String>> {
        let Some((_, key, _)) = self.registry_root()? else {
            return Ok(Vec::new());
        };
        let Some(b) =
            read_limited(&self.root, CHECKPOINT_PATH, MAX_CHECKPOINT_BYTES).map_err(tlog_err)?
        else {
            return Ok(Vec::new());
        };
        let sc = SignedCheckpoint::parse(&b, CHECKPOINT_PATH).map_err(tlog_err)?;
        sc.verify(std::slice::from_ref(&key), CHECKPOINT_PATH)
            .map_err(tlog_err)?;
        let mut files: Vec<String> = Vec::new();
        for dir in ["state", "log/tile"] {
            files.extend(
                walk(&self.root.join(dir), &self.root)
                    .into_iter()
                    .map(|(rel, _)| rel)
                    .filter(|rel| !rel.rsplit('/').next().unwrap_or("").starts_with(".tmp-")),
            );
        }
        let root = self.root.clone();
        let mut f = move |p: &str, limit: usize| read_limited(&root, p, limit);
        snapshot::gc_unneeded(&mut f, &sc.checkpoint, now_secs(), &files).map_err(tlog_err)
    }

    /// Called right after taking the lock for a change: `None` signing for an unsigned
    /// registry; for a signed one, refuses a missing or wrong registry key before anything is
    /// written, and completes an operation a killed publisher left in `.ratchet-index.pending`.
    pub(crate) fn begin_change(&self) -> Result<Change> {
        let Some((origin, current, _)) = self.registry_root()? else {
            return Ok(Change {
                signing: None,
                op: None,
            });
        };
        let Some(key) = self.registry_key.clone() else {
            return Err(PublishError::RegistryKeyNeeded {
                dir: self.root.display().to_string(),
            });
        };
        if key.public() != &current {
            return Err(PublishError::WrongRegistryKey {
                given: key.public().key_id(),
                current: current.key_id(),
            });
        }
        if !self.root.join(CHECKPOINT_PATH).is_file() {
            return Err(PublishError::Integrity(format!(
                "{} has root.json but no log/checkpoint: an upgrade was interrupted; run `ratchet-index init-log` again",
                self.root.display()
            )));
        }
        let signing = Signing {
            key,
            origin,
            time: None,
        };
        let pending = self.root.join(PENDING_FILE);
        if pending.is_file() {
            let bytes = std::fs::read(&pending).map_err(io_err(&pending))?;
            let op: PendingOp = serde_json::from_slice(&bytes).map_err(|e| {
                PublishError::Integrity(format!(
                    "{}: unreadable ({e}); remove it after checking the registry with `ratchet-index verify`",
                    pending.display()
                ))
            })?;
            // A metadata change that stopped between its two files: the metadata file was
            // written first, so the index file's metadata line is brought up to it.
            if let Some(id) = op.id.as_deref().and_then(|i| BundleId::parse(i).ok())
                && op.files.len() == 2
                && op.files == self.meta_files(&id)
            {
                self.sync_meta_line(&id)?;
            }
            self.commit_ops(&signing, std::slice::from_ref(&op))?;
        }
        Ok(Change {
            signing: Some(signing),
            op: None,
        })
    }

    /// [`Self::intend`] for a change of registry-wide files (`config.json`, the advisories):
    /// a `config` entry naming `files`, with no bundle, version or archive.
    pub(crate) fn intend_config(&self, change: &mut Change, files: &[&str]) -> Result<()> {
        self.intend(change, EntryKind::Config, None, None, None, files)
    }

    /// Called before the first write of a change: records the operation and the registry
    /// files it will change in `.ratchet-index.pending` (signed registries only).
    pub(crate) fn intend(
        &self,
        change: &mut Change,
        kind: EntryKind,
        id: Option<&str>,
        version: Option<&str>,
        archive: Option<&str>,
        files: &[&str],
    ) -> Result<()> {
        if change.signing.is_none() {
            return Ok(());
        }
        let op = PendingOp {
            kind: kind.as_str().to_string(),
            id: id.map(str::to_string),
            version: version.map(str::to_string),
            archive: archive.map(str::to_string),
            files: files.iter().map(|f| f.to_string()).collect(),
        };
        let path = self.root.join(PENDING_FILE);
        let json = serde_json::to_vec(&op).unwrap_or_default();
        write_atomic(&path, &json).map_err(io_err(&path))?;
        change.op = Some(op);
        Ok(())
    }

    /// [`Registry::intend`] for a change of `id`'s metadata: the files it writes are those of
    /// `Registry::meta_files` (the metadata file, and the index file with its metadata line).
    pub(crate) fn intend_meta(
        &self,
        change: &mut Change,
        kind: EntryKind,
        id: &BundleId,
        version: Option<&str>,
        archive: Option<&str>,
    ) -> Result<()> {
        let files = self.meta_files(id);
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        self.intend(change, kind, Some(id.as_str()), version, archive, &files)
    }

    /// Called after the last write of a change: appends the log entry, updates the map, signs a
    /// new checkpoint and timestamp, and removes `.ratchet-index.pending`.
    pub(crate) fn commit_change(&self, change: Change) -> Result<()> {
        let (Some(signing), Some(op)) = (change.signing, change.op) else {
            return Ok(());
        };
        self.commit_ops(&signing, &[op])?;
        Ok(())
    }

    fn commit_ops(&self, signing: &Signing, ops: &[PendingOp]) -> Result<SignedState> {
        let mut operations = Vec::with_capacity(ops.len());
        for op in ops {
            operations.push(self.operation(op)?);
        }
        self.commit_operations(signing, &operations)
    }

    fn operation(&self, op: &PendingOp) -> Result<Operation> {
        let kind = EntryKind::parse(&op.kind).ok_or_else(|| {
            PublishError::Integrity(format!("unknown operation `{}` in {PENDING_FILE}", op.kind))
        })?;
        let mut files = Vec::with_capacity(op.files.len());
        for f in &op.files {
            let path = self.root.join(f);
            let digest = match std::fs::read(&path) {
                Ok(b) => Some(FileDigest::of(&b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    return Err(PublishError::Io {
                        file: path.display().to_string(),
                        source: e,
                    });
                }
            };
            files.push(FileChange {
                path: f.clone(),
                digest,
            });
        }
        let archive = match &op.archive {
            None => None,
            Some(h) => Some(from_hex(h).ok_or_else(|| {
                PublishError::Integrity(format!("`{h}` is not a SHA-256 in {PENDING_FILE}"))
            })?),
        };
        Ok(Operation {
            kind,
            id: op.id.clone(),
            version: op.version.clone(),
            archive,
            files,
        })
    }

    fn commit_operations(&self, signing: &Signing, ops: &[Operation]) -> Result<SignedState> {
        let root = self.root.clone();
        let mut fetch = |p: &str, limit: usize| -> Result<Option<Vec<u8>>, TlogError> {
            read_limited(&root, p, limit)
        };
        let key = &signing.key;
        // The checkpoint on disk is signed by the current key or, right after a rotation (or
        // one that was interrupted), by an earlier key of the chain.
        let mut chain_keys = vec![key.public().clone()];
        if let Some((_, _, rf)) = self.registry_root()? {
            for seq in (0..rf.chain.len()).rev() {
                if let Some(k) = rf.key_at(seq)
                    && !chain_keys.contains(&k)
                {
                    chain_keys.push(k);
                }
            }
        }
        let open_key = match read_limited(&self.root, CHECKPOINT_PATH, MAX_CHECKPOINT_BYTES)
            .map_err(tlog_err)?
        {
            Some(b) => SignedCheckpoint::parse(&b, CHECKPOINT_PATH)
                .and_then(|sc| sc.verify(&chain_keys, CHECKPOINT_PATH))
                .map_err(tlog_err)?,
            None => key.public().clone(),
        };
        let mut publisher =
            Publisher::open(&mut fetch, &signing.origin, &open_key).map_err(tlog_err)?;
        let commit = publisher
            .commit(
                ops,
                &key.sk,
                signing.time.unwrap_or_else(now_secs),
                key.validity,
            )
            .map_err(tlog_err)?;
        drop(publisher);
        for f in &commit.files {
            self.write_file(f)?;
        }
        self.write_file(&commit.checkpoint)?;
        self.write_file(&commit.timestamp)?;
        let pending = self.root.join(PENDING_FILE);
        if pending.exists() {
            std::fs::remove_file(&pending).map_err(io_err(&pending))?;
        }
        for r in &commit.removes {
            let _ = std::fs::remove_file(self.root.join(r));
        }
        let c = commit.state;
        Ok(SignedState {
            origin: c.origin,
            size: c.size,
            log_root: ratchet_tlog::hash::to_hex(&c.log_root),
            state_root: ratchet_tlog::hash::to_hex(&c.state_root),
            key_id: key.public().key_id(),
        })
    }

    fn write_file(&self, f: &FileWrite) -> Result<()> {
        let path = self.root.join(&f.path);
        write_atomic(&path, &f.bytes).map_err(io_err(&path))
    }

    /// Gives the registry a registry key (`index-format.md` §9.12), in place: writes
    /// `root.json` (the key, self-signed, for `origin`), then one `init` entry
    /// (`config.json`, `root.json`) and one `import` entry per existing bundle (its index and
    /// metadata files), the state map, the checkpoint and the first timestamp. Resumes an
    /// upgrade that was interrupted before its checkpoint; refuses a registry that has a log.
    pub fn init_log(&self, origin: &str) -> Result<SignedState> {
        self.init_log_at(origin, None)
    }

    /// [`Registry::init_log`] with the time signed into its entries, checkpoint and timestamp
    /// (`None`: now). A fixed time makes the upgrade reproducible (the sample registry), but the
    /// timestamp is valid from then: one in the past expires early (index-format.md §9.12).
    pub fn init_log_at(&self, origin: &str, time: Option<u64>) -> Result<SignedState> {
        let Some(key) = self.registry_key.clone() else {
            return Err(PublishError::RegistryKeyNeeded {
                dir: self.root.display().to_string(),
            });
        };
        let _lock = self.lock()?;
        if self.root.join(CHECKPOINT_PATH).is_file() {
            return Err(PublishError::Integrity(format!(
                "{} already has a transparency log (log/checkpoint); rotate its key with `ratchet-index key rotate`",
                self.root.display()
            )));
        }
        let root_path = self.root.join(ROOT_FILE);
        match self.registry_root()? {
            Some((o, k, _)) if o == origin && &k == key.public() => {}
            Some((o, k, _)) => {
                return Err(PublishError::Integrity(format!(
                    "{} has a root.json for origin `{o}` and key {} from an interrupted upgrade; remove it to start again with origin `{origin}` and key {}",
                    self.root.display(),
                    k.key_id(),
                    key.public().key_id()
                )));
            }
            None => {
                let rf = RootFile::genesis(origin, &key.sk).map_err(tlog_err)?;
                write_atomic(&root_path, rf.to_json().as_bytes()).map_err(io_err(&root_path))?;
            }
        }
        let mut ops = vec![PendingOp {
            kind: EntryKind::Init.as_str().into(),
            id: None,
            version: None,
            archive: None,
            files: vec![CONFIG_FILE.into(), ROOT_FILE.into()],
        }];
        let mut bundles: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for dir in [INDEX_DIR, META_DIR] {
            for (rel, path) in walk(&self.root.join(dir), &self.root) {
                if crate::is_temp(&path) {
                    continue;
                }
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let id = name.strip_suffix(".json").unwrap_or(&name).to_string();
                bundles.entry(id).or_default().push(rel);
            }
        }
        for (id, files) in bundles {
            ops.push(PendingOp {
                kind: EntryKind::Import.as_str().into(),
                id: ratchet_formats::manifest::BundleId::parse(&id)
                    .is_ok()
                    .then_some(id),
                version: None,
                archive: None,
                files,
            });
        }
        let signing = Signing {
            key,
            origin: origin.to_string(),
            time,
        };
        self.commit_ops(&signing, &ops)
    }

    /// Re-signs the timestamp for the current checkpoint (what a cron job runs at least twice
    /// per validity period) with the registry key, or with a mirror key (`mirror`: the key only
    /// vouches for freshness; the checkpoint is verified with the registry key first).
    pub fn refresh_timestamp(&self, mirror: Option<&RegistryKey>) -> Result<SignedState> {
        let _lock = self.lock()?;
        let Some((_, current, _)) = self.registry_root()? else {
            return Err(PublishError::Integrity(format!(
                "{} has no registry key (root.json): run `ratchet-index init-log` first",
                self.root.display()
            )));
        };
        let signer: &RegistryKey = match (mirror, self.registry_key.as_deref()) {
            (Some(m), _) => m,
            (None, Some(k)) => {
                if k.public() != &current {
                    return Err(PublishError::WrongRegistryKey {
                        given: k.public().key_id(),
                        current: current.key_id(),
                    });
                }
                k
            }
            (None, None) => {
                return Err(PublishError::RegistryKeyNeeded {
                    dir: self.root.display().to_string(),
                });
            }
        };
        let cp = read_limited(&self.root, CHECKPOINT_PATH, MAX_CHECKPOINT_BYTES)
            .map_err(tlog_err)?
            .ok_or_else(|| {
                PublishError::Integrity(format!(
                    "{} has no log/checkpoint: run `ratchet-index init-log` first",
                    self.root.display()
                ))
            })?;
        let ts =
            snapshot::refresh_timestamp(&cp, &current, &signer.sk, now_secs(), signer.validity)
                .map_err(tlog_err)?;
        self.write_file(&ts)?;
        drop(_lock);
        self.signed_state()?
            .ok_or_else(|| PublishError::Integrity("the checkpoint vanished".into()))
    }

    /// Rotates the registry key (`index-format.md` §9.2): appends a statement naming `new`'s
    /// public key, signed by the current key (this registry's), and logs it; the checkpoint and
    /// timestamp of that change are signed by the new key, which signs from now on.
    pub fn rotate_registry_key(&self, new: RegistryKey) -> Result<SignedState> {
        let _lock = self.lock()?;
        let change = self.begin_change()?;
        let Some(signing) = change.signing else {
            return Err(PublishError::Integrity(format!(
                "{} has no registry key (root.json): run `ratchet-index init-log` first",
                self.root.display()
            )));
        };
        let Some((origin, _, mut rf)) = self.registry_root()? else {
            return Err(PublishError::Integrity("root.json vanished".into()));
        };
        rf.rotate(&origin, &signing.key.sk, new.public())
            .map_err(tlog_err)?;
        let mut change = Change {
            signing: Some(Signing {
                key: Arc::new(new),
                origin,
                time: None,
            }),
            op: None,
        };
        self.intend(
            &mut change,
            EntryKind::RegistryKey,
            None,
            None,
            None,
            &[ROOT_FILE],
        )?;
        let path = self.root.join(ROOT_FILE);
        write_atomic(&path, rf.to_json().as_bytes()).map_err(io_err(&path))?;
        let (Some(signing), Some(op)) = (change.signing, change.op) else {
            return Err(PublishError::Integrity("no operation recorded".into()));
        };
        self.commit_ops(&signing, &[op])
    }

    /// The log entries from index `from` on (at most `limit`), read from the tiles and
    /// checked against the signed checkpoint's log root.
    pub fn log_entries(&self, from: u64, limit: u64) -> Result<Vec<(u64, LogEntry)>> {
        let Some(state) = self.signed_state()? else {
            return Err(PublishError::Integrity(format!(
                "{} has no transparency log: run `ratchet-index init-log` first",
                self.root.display()
            )));
        };
        let root = self.root.clone();
        let mut fetch = |p: &str, limit: usize| -> Result<Option<Vec<u8>>, TlogError> {
            read_limited(&root, p, limit)
        };
        let mut r = TileReader::new(&mut fetch, state.size);
        let mut out = Vec::new();
        let end = state.size.min(from.saturating_add(limit));
        let log_root: Hash = from_hex(&state.log_root).unwrap_or_default();
        if ratchet_tlog::tree::root(&mut r, state.size).map_err(tlog_err)? != log_root {
            return Err(PublishError::Integrity(
                "the log's tiles do not hash to the signed checkpoint".into(),
            ));
        }
        for i in from..end {
            let bytes = r.entry(i).map_err(tlog_err)?;
            let e = LogEntry::parse(&bytes, &format!("log entry {i}")).map_err(tlog_err)?;
            out.push((i, e));
        }
        Ok(out)
    }

    /// When the registry's `timestamp` expired (now or earlier), the warning to give: HTTP
    /// clients refuse the registry as frozen until `ratchet-index timestamp` signs a new one
    /// (a local directory source does not check it). `None` when it is valid or absent.
    pub fn timestamp_expired(&self) -> Option<String> {
        let ts = read_limited(&self.root, TIMESTAMP_PATH, 4096).ok()??;
        let st = ratchet_tlog::signed::SignedTimestamp::parse(&ts, TIMESTAMP_PATH).ok()?;
        (st.timestamp.expires <= now_secs()).then(|| {
            format!(
                "expired at {}: HTTP clients refuse the registry as frozen (run `ratchet-index timestamp`)",
                ratchet_tlog::entry::format_time(st.timestamp.expires)
            )
        })
    }

    /// Replays the whole log against the files on disk (`ratchet-index verify` on a signed
    /// registry): problems as (file, message). An expired timestamp is not among them: the
    /// signed state is intact, only its freshness lapsed ([`Registry::timestamp_expired`]).
    pub fn verify_integrity(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let state = match self.signed_state() {
            Ok(Some(s)) => s,
            Ok(None) if self.is_signed() => {
                return vec![(
                    CHECKPOINT_PATH.into(),
                    "missing: the registry has root.json but no log".into(),
                )];
            }
            Ok(None) => return problems,
            Err(e) => return vec![(CHECKPOINT_PATH.into(), e.to_string())],
        };
        let root = self.root.clone();
        let mut fetch = |p: &str, limit: usize| -> Result<Option<Vec<u8>>, TlogError> {
            read_limited(&root, p, limit)
        };
        let Some(cp) = read_limited(&self.root, CHECKPOINT_PATH, MAX_CHECKPOINT_BYTES)
            .ok()
            .flatten()
            .and_then(|b| SignedCheckpoint::parse(&b, CHECKPOINT_PATH).ok())
        else {
            return vec![(CHECKPOINT_PATH.into(), "unreadable".into())];
        };
        let report = match snapshot::audit(&mut fetch, &cp.checkpoint) {
            Ok(r) => r,
            Err(e) => return vec![("log".into(), e.to_string())],
        };
        if let Ok(Some(ts)) = read_limited(&self.root, TIMESTAMP_PATH, 4096)
            && let Ok(st) = ratchet_tlog::signed::SignedTimestamp::parse(&ts, TIMESTAMP_PATH)
        {
            if st.checkpoint.checkpoint != cp.checkpoint {
                problems.push((
                    TIMESTAMP_PATH.into(),
                    format!(
                        "names snapshot {}, but log/checkpoint is snapshot {}",
                        st.checkpoint.checkpoint.size, state.size
                    ),
                ));
            }
        } else {
            problems.push((TIMESTAMP_PATH.into(), "missing or unreadable".into()));
        }
        for (path, (digest, entry)) in &report.files {
            match std::fs::read(self.root.join(path)) {
                Ok(b) if FileDigest::of(&b) == *digest => {}
                Ok(_) => problems.push((
                    path.clone(),
                    format!(
                        "differs from what log entry {entry} recorded: changed without being logged"
                    ),
                )),
                Err(_) => problems.push((
                    path.clone(),
                    format!("missing, but log entry {entry} recorded it"),
                )),
            }
        }
        let mut on_disk = vec![CONFIG_FILE.to_string(), ROOT_FILE.to_string()];
        for dir in [INDEX_DIR, META_DIR] {
            for (rel, path) in walk(&self.root.join(dir), &self.root) {
                if !crate::is_temp(&path) {
                    on_disk.push(rel);
                }
            }
        }
        for rel in on_disk {
            if !report.files.contains_key(&rel) && self.root.join(&rel).is_file() {
                problems.push((
                    rel,
                    "is not in the signed state: written without being logged".into(),
                ));
            }
        }
        problems
    }
}
