//! The two entry points integration needs: [`Publisher`] (for `ratchet-index`: record an
//! operation, get the files to write in a crash-safe order) and [`Snapshot`] / [`audit`] (for
//! the client and `ratchet registry audit`: verify fetched files against an accepted
//! checkpoint, replay a whole log).
//!
//! Why here and not in `publish` / `client`: those crates own locking, file writing and HTTP;
//! this module owns the order and content of the integrity files, so both sides stay a thin
//! call (`index-format.md` §9.9 lists the steps).

use crate::TlogError;
use crate::entry::{EntryKind, FileChange, LogEntry};
use crate::hash::{Hash, empty_root as empty_log_root, leaf_hash, to_hex};
use crate::map::{self, FileDigest, Lookup, MapChange, MapProof, MapWriter};
use crate::signed::{Checkpoint, SignedCheckpoint, Timestamp, timestamp_file};
use crate::tiles::{Fetch, FileWrite, LogWriter, TileReader};
use crate::tree::{self, MemTree};
use ratchet_trust::{PublicKey, SecretKey};
use std::collections::{BTreeMap, HashMap};

/// Path of the checkpoint file.
pub const CHECKPOINT_PATH: &str = "log/checkpoint";
/// Path of the timestamp file.
pub const TIMESTAMP_PATH: &str = "timestamp";

/// One registry operation to record: why, and the new digest of every file it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Why the files changed.
    pub kind: EntryKind,
    /// The bundle, if any.
    pub id: Option<String>,
    /// The version, if any.
    pub version: Option<String>,
    /// The archive's SHA-256 (publish, yank).
    pub archive: Option<Hash>,
    /// The files, with their new digests (`None`: removed).
    pub files: Vec<FileChange>,
}

/// What to write for one commit, in order: `files` (new tiles, nodes), then `checkpoint`, then
/// `timestamp`; `removes` after that.
#[derive(Debug, Clone)]
pub struct Commit {
    /// Log tiles and entry bundles, content-addressed map nodes, then stable map nodes: write
    /// them first, in this order.
    pub files: Vec<FileWrite>,
    /// `log/checkpoint`: write after every file above.
    pub checkpoint: FileWrite,
    /// `timestamp`: write last.
    pub timestamp: FileWrite,
    /// Stable map node paths no longer used: remove after the timestamp (or leave).
    pub removes: Vec<String>,
    /// The new signed state.
    pub state: Checkpoint,
}

/// Records operations in a registry's log and state map.
pub struct Publisher<'a> {
    fetch: &'a mut dyn Fetch,
    origin: String,
    log: LogWriter,
    state_root: Hash,
}

impl<'a> Publisher<'a> {
    /// Opens the registry behind `fetch` (the publisher's own directory): reads and verifies
    /// `log/checkpoint` with the registry key (absent: a registry without a log yet) and the
    /// log's right edge, refusing tiles that do not match the checkpoint.
    pub fn open(
        fetch: &'a mut dyn Fetch,
        origin: &str,
        registry_key: &PublicKey,
    ) -> Result<Publisher<'a>, TlogError> {
        let (size, log_root, state_root) =
            match fetch.fetch(CHECKPOINT_PATH, crate::signed::MAX_CHECKPOINT_BYTES)? {
                None => (0, empty_log_root(), map::empty_root()),
                Some(b) => {
                    let sc = SignedCheckpoint::parse(&b, CHECKPOINT_PATH)?;
                    sc.verify(std::slice::from_ref(registry_key), CHECKPOINT_PATH)?;
                    let c = sc.checkpoint;
                    if c.origin != origin {
                        return Err(TlogError::Malformed {
                            file: CHECKPOINT_PATH.into(),
                            reason: format!("signed for origin `{}`, not `{origin}`", c.origin),
                        });
                    }
                    (c.size, c.log_root, c.state_root)
                }
            };
        let log = LogWriter::open(fetch, size)?;
        if log.root() != log_root {
            return Err(TlogError::Malformed {
                file: "log/tile".into(),
                reason: format!(
                    "the log's tiles at size {size} do not hash to the root in {CHECKPOINT_PATH}"
                ),
            });
        }
        Ok(Publisher {
            fetch,
            origin: origin.to_string(),
            log,
            state_root,
        })
    }

    /// Log size (the snapshot version).
    pub fn size(&self) -> u64 {
        self.log.size()
    }

    /// Records `ops` (one log entry each) at time `now`, signs the checkpoint and a timestamp
    /// valid for `validity` seconds with `sk`. The files MUST be written (in [`Commit`]'s order)
    /// before the next commit; on error nothing changed.
    pub fn commit(
        &mut self,
        ops: &[Operation],
        sk: &SecretKey,
        now: u64,
        validity: u64,
    ) -> Result<Commit, TlogError> {
        if ops.is_empty() {
            return Err(TlogError::Invalid("nothing to commit".into()));
        }
        let mut log = self.log.clone();
        let mut w = MapWriter::new(&mut *self.fetch, self.state_root);
        let mut entries = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            let index = log.size() + i as u64;
            for f in &op.files {
                if !crate::entry::valid_path(&f.path) {
                    return Err(TlogError::Invalid(format!(
                        "`{}` is not a registry path",
                        f.path
                    )));
                }
                w.set(&f.path, f.digest, index)?;
            }
            let e = LogEntry {
                kind: op.kind,
                id: op.id.clone(),
                version: op.version.clone(),
                archive: op.archive,
                time: now,
                state: w.root(),
                files: op.files.clone(),
            };
            entries.push(e.encode()?);
        }
        let state_root = w.root();
        let mut files = log.append(&entries)?;
        let mut removes = Vec::new();
        let mut stable = Vec::new();
        for c in w.changes() {
            match c {
                MapChange::Write(f) if f.path.starts_with("state/nodes/") => files.push(f),
                MapChange::Write(f) => stable.push(f),
                MapChange::Remove(p) => removes.push(p),
            }
        }
        // Content-addressed nodes before stable ones (index-format §9.6).
        files.extend(stable);
        let state = Checkpoint {
            origin: self.origin.clone(),
            size: log.size(),
            log_root: log.root(),
            state_root,
            time: now,
        };
        let cp_text = state.sign(sk)?;
        let ts = Timestamp::for_checkpoint(&state, now, validity);
        let ts_text = timestamp_file(&cp_text, &ts, sk)?;
        self.log = log;
        self.state_root = state_root;
        Ok(Commit {
            files,
            checkpoint: FileWrite {
                path: CHECKPOINT_PATH.into(),
                bytes: cp_text.into_bytes(),
            },
            timestamp: FileWrite {
                path: TIMESTAMP_PATH.into(),
                bytes: ts_text.into_bytes(),
            },
            removes,
            state,
        })
    }
}

impl Publisher<'_> {
    /// The stable map node files along `paths`, rewritten from the signed state: what a
    /// publisher that finds `.ratchet-index.pending` writes for the paths of the interrupted
    /// operation when it does not redo it (`index-format.md` §9.6).
    pub fn restore_stable(&mut self, paths: &[&str]) -> Result<Vec<FileWrite>, TlogError> {
        let mut w = MapWriter::new(&mut *self.fetch, self.state_root);
        for p in paths {
            w.restore(p)?;
        }
        Ok(w.changes()
            .into_iter()
            .filter_map(|c| match c {
                MapChange::Write(f) if f.path.starts_with("state/map/") => Some(f),
                _ => None,
            })
            .collect())
    }
}

/// A new `timestamp` for the registry's current `log/checkpoint` (the daily re-signing, or a
/// mirror's freshness signature with its own key): the checkpoint is verified with
/// `registry_key` first, so nobody re-signs a checkpoint the registry did not sign.
pub fn refresh_timestamp(
    checkpoint_file: &[u8],
    registry_key: &PublicKey,
    sk: &SecretKey,
    now: u64,
    validity: u64,
) -> Result<FileWrite, TlogError> {
    let sc = SignedCheckpoint::parse(checkpoint_file, CHECKPOINT_PATH)?;
    sc.verify(std::slice::from_ref(registry_key), CHECKPOINT_PATH)?;
    let ts = Timestamp::for_checkpoint(&sc.checkpoint, now, validity);
    let text = std::str::from_utf8(checkpoint_file).unwrap_or_default();
    Ok(FileWrite {
        path: TIMESTAMP_PATH.into(),
        bytes: timestamp_file(text, &ts, sk)?.into_bytes(),
    })
}

/// An accepted checkpoint, against which a client verifies every file it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The state map root.
    pub state_root: Hash,
    /// The log size.
    pub size: u64,
    /// The log root.
    pub log_root: Hash,
}

impl Snapshot {
    /// The snapshot of an accepted checkpoint.
    pub fn of(c: &Checkpoint) -> Snapshot {
        Snapshot {
            state_root: c.state_root,
            size: c.size,
            log_root: c.log_root,
        }
    }

    /// Verifies a fetched registry file (`None`: the server answered 404) against the signed
    /// state, fetching its map proof through `fetch`. Returns the proof's size in bytes.
    pub fn verify_file(
        &self,
        fetch: &mut dyn Fetch,
        path: &str,
        bytes: Option<&[u8]>,
    ) -> Result<usize, TlogError> {
        let proof = MapProof::fetch(fetch, &self.state_root, path)?;
        map::verify_file(&proof, &self.state_root, path, bytes)?;
        Ok(proof.len_bytes())
    }

    /// Proves that the log entry that last set `path` is in the log and names the file's
    /// current digest: the transparency check (`ratchet verify --log`, audits). Costs an entry
    /// bundle and a few tiles, so clients do it on demand, not on every install.
    pub fn verify_logged(&self, fetch: &mut dyn Fetch, path: &str) -> Result<LogEntry, TlogError> {
        let proof = MapProof::fetch(fetch, &self.state_root, path)?;
        let Lookup::Present { digest, entry } = proof.verify(&self.state_root, path)? else {
            return Err(TlogError::Invalid(format!(
                "{path} is not in this snapshot"
            )));
        };
        let mut r = TileReader::new(fetch, self.size);
        let bytes = r.entry(entry)?;
        let p = tree::inclusion_proof(&mut r, entry, self.size)?;
        tree::verify_inclusion(&leaf_hash(&bytes), entry, self.size, &p, &self.log_root)?;
        let e = LogEntry::parse(&bytes, &format!("log entry {entry}"))?;
        if !e
            .files
            .iter()
            .any(|f| f.path == path && f.digest == Some(digest))
        {
            return Err(TlogError::BadProof(format!(
                "log entry {entry} does not record {path} with the digest the state map has"
            )));
        }
        Ok(e)
    }
}

/// How many snapshots before the current one keep their map nodes and log tiles through a
/// `gc`, however old (index-format §9.6).
pub const GC_KEEP_SNAPSHOTS: u64 = 16;
/// Snapshots signed this recently (seconds) keep their map nodes and log tiles through a `gc`:
/// a reader holding one of them (a long install, a CDN copy) can still read its proofs.
pub const GC_KEEP_SECS: u64 = 7 * 86400;

/// The integrity files a registry no longer needs (`gc`, index-format §9.6), among `files`
/// (the registry paths it holds under `state/` and `log/tile/`). Kept: every content-addressed
/// map node reachable from the state root of the checkpoint `c` or of one of the snapshots
/// before it that are among the last [`GC_KEEP_SNAPSHOTS`] or whose log entry is at most
/// [`GC_KEEP_SECS`] older than `now`; the stable node of every node of the current map; and
/// every tile and entry bundle of those snapshots' log sizes. Everything else goes: nodes and
/// tiles written for a checkpoint that was never signed (a killed publisher), nodes only old
/// snapshots used, partial tiles of old sizes, stable nodes at prefixes the map no longer has.
/// Reads the log's entry bundles and the map nodes through `fetch`; a node of the current map
/// that is missing is an error (nothing should be removed from a damaged registry).
pub fn gc_unneeded(
    fetch: &mut dyn Fetch,
    c: &Checkpoint,
    now: u64,
    files: &[String],
) -> Result<Vec<String>, TlogError> {
    use crate::map::{Node, Slot, cas_path, node_path};
    use crate::tiles::{MAX_BUNDLE_BYTES, TILE_WIDTH, entries_path, log_files, parse_bundle};
    // The snapshots to keep, newest first: (log size, state root).
    let mut keep: Vec<(u64, Hash)> = vec![(c.size, c.state_root)];
    let mut bundle: Option<(u64, Vec<Vec<u8>>)> = None;
    // The snapshot of log size `size` has the state its last entry (`size - 1`) names.
    let mut size = c.size.saturating_sub(1);
    while size >= 1 {
        let idx = size - 1;
        let t = idx / TILE_WIDTH;
        if bundle.as_ref().is_none_or(|(bt, _)| *bt != t) {
            let width = (c.size - t * TILE_WIDTH).min(TILE_WIDTH);
            let path = entries_path(t, width);
            let b = crate::tiles::fetch_required(fetch, &path, MAX_BUNDLE_BYTES)?;
            bundle = Some((t, parse_bundle(&path, &b, width)?));
        }
        let entries = bundle
            .as_ref()
            .map(|(_, e)| e.as_slice())
            .unwrap_or_default();
        let raw = entries
            .get((idx - t * TILE_WIDTH) as usize)
            .ok_or_else(|| TlogError::Invalid(format!("log entry {idx} is missing")))?;
        let e = LogEntry::parse(raw, &format!("log entry {idx}"))?;
        let recent = e.time.saturating_add(GC_KEEP_SECS) >= now;
        if c.size - size > GC_KEEP_SNAPSHOTS && !recent {
            break;
        }
        keep.push((size, e.state));
        size -= 1;
    }
    let mut needed: std::collections::HashSet<String> = std::collections::HashSet::new();
    for (size, _) in &keep {
        needed.extend(log_files(*size));
    }
    // Map nodes: the current map (stable paths too), then older roots (what is missing there
    // was removed by an earlier gc or never existed: no error).
    let mut seen: std::collections::HashSet<Hash> = std::collections::HashSet::new();
    for (n, (_, root)) in keep.iter().enumerate() {
        let current = n == 0;
        let mut stack: Vec<(Vec<u8>, Hash)> = vec![(Vec::new(), *root)];
        while let Some((prefix, h)) = stack.pop() {
            if !seen.insert(h) && !current {
                continue;
            }
            let cas = cas_path(&h);
            let bytes = match fetch.fetch(&cas, crate::map::MAX_NODE_BYTES)? {
                Some(b) => b,
                None if current => {
                    return Err(TlogError::Fetch {
                        file: cas,
                        reason: "missing (404), but the signed state map needs it".into(),
                    });
                }
                None => continue,
            };
            let node = Node::decode(&cas, &bytes)?;
            if node.hash() != h {
                return Err(TlogError::BadProof(format!(
                    "{cas} does not hash to its name"
                )));
            }
            needed.insert(cas);
            if current {
                needed.insert(node_path(&prefix));
            }
            for (k, slot) in node.slots.iter().enumerate() {
                if let Slot::Node(child) = slot
                    && prefix.len() + 1 < crate::map::MAX_DEPTH
                {
                    let mut p = prefix.clone();
                    p.push(k as u8);
                    stack.push((p, *child));
                }
            }
        }
    }
    Ok(files
        .iter()
        .filter(|f| (f.starts_with("state/") || f.starts_with("log/tile/")) && !needed.contains(*f))
        .cloned()
        .collect())
}

/// What an audit found: the files of the final state, for the caller to fetch and compare.
#[derive(Debug, Clone, Default)]
pub struct AuditReport {
    /// Entries replayed.
    pub entries: u64,
    /// Every file of the final state, with its digest and the entry that last set it.
    pub files: BTreeMap<String, (FileDigest, u64)>,
}

/// Replays the whole log of a verified checkpoint: every entry is read and parsed, the log root
/// recomputed from them, the state map rebuilt from their file changes (each entry's `state`
/// checked), and the final map root compared with the checkpoint's. What `ratchet registry
/// audit`, witnesses and mirror operators run.
pub fn audit(fetch: &mut dyn Fetch, c: &Checkpoint) -> Result<AuditReport, TlogError> {
    let mut store: HashMap<String, Vec<u8>> = HashMap::new();
    let mut tree = MemTree::new();
    let mut report = AuditReport::default();
    let mut root = map::empty_root();
    let mut r = TileReader::new(fetch, c.size);
    for i in 0..c.size {
        let bytes = r.entry(i)?;
        tree.push(leaf_hash(&bytes));
        let what = format!("log entry {i}");
        let e = LogEntry::parse(&bytes, &what)?;
        let mut get = |p: &str, _: usize| Ok(store.get(p).cloned());
        let mut w = MapWriter::new(&mut get, root);
        for f in &e.files {
            w.set(&f.path, f.digest, i)?;
            match f.digest {
                Some(d) => report.files.insert(f.path.clone(), (d, i)),
                None => report.files.remove(&f.path),
            };
        }
        root = w.root();
        for ch in w.changes() {
            if let MapChange::Write(f) = ch
                && f.path.starts_with("state/nodes/")
            {
                store.insert(f.path, f.bytes);
            }
        }
        if root != e.state {
            return Err(TlogError::BadProof(format!(
                "{what}: its changes lead to state {}, it claims {}",
                to_hex(&root),
                to_hex(&e.state)
            )));
        }
        report.entries += 1;
    }
    let log_root = tree::root(&mut tree, c.size)?;
    if log_root != c.log_root {
        return Err(TlogError::BadProof(
            "the entries do not hash to the checkpoint's log root".into(),
        ));
    }
    if root != c.state_root {
        return Err(TlogError::BadProof(format!(
            "replaying the log gives state {}, the checkpoint signs {}",
            to_hex(&root),
            to_hex(&c.state_root)
        )));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{self, Policy};
    use crate::signed::tests::key;

    type Files = HashMap<String, Vec<u8>>;

    fn write(files: &mut Files, c: &Commit) {
        for f in &c.files {
            files.insert(f.path.clone(), f.bytes.clone());
        }
        files.insert(c.checkpoint.path.clone(), c.checkpoint.bytes.clone());
        files.insert(c.timestamp.path.clone(), c.timestamp.bytes.clone());
        for p in &c.removes {
            files.remove(p);
        }
    }

    fn op(kind: EntryKind, id: &str, files: &[(&str, Option<&[u8]>)]) -> Operation {
        Operation {
            kind,
            id: Some(id.into()),
            version: Some("1.0.0".into()),
            archive: None,
            files: files
                .iter()
                .map(|(p, b)| FileChange {
                    path: p.to_string(),
                    digest: b.map(FileDigest::of),
                })
                .collect(),
        }
    }

    const T0: u64 = 1_767_225_600;

    /// A registry's life: publishes, a yank, a deprecation removed; the client follows it,
    /// verifies files, refuses the rolled-back index and the un-yank; the audit replays it.
    #[test]
    fn publish_verify_audit() {
        let dir = tempfile::tempdir().unwrap();
        let sk = key(dir.path(), "registry");
        let pk = sk.public().clone();
        let mut files = Files::new();
        let mut data: Files = Files::new();
        let commit = |files: &mut Files, ops: &[Operation], now: u64| {
            let snapshot = files.clone();
            let mut f = move |p: &str, _: usize| Ok(snapshot.get(p).cloned());
            let mut p = Publisher::open(&mut f, "reg.example", &pk).unwrap();
            let c = p.commit(ops, &sk, now, 86400).unwrap();
            write(files, &c);
            c
        };
        let cfg = b"{\"format-version\":1}".to_vec();
        data.insert("config.json".into(), cfg.clone());
        commit(
            &mut files,
            &[op(EntryKind::Init, "-x", &[("config.json", Some(&cfg))])],
            T0,
        );
        let mut ids = Vec::new();
        for i in 0..40u64 {
            let id = format!("com.example.b{i}");
            let path = format!("index/00/00/{id}");
            let line = format!("{{\"v\":1,\"id\":\"{id}\",\"yanked\":false}}\n").into_bytes();
            data.insert(path.clone(), line.clone());
            commit(
                &mut files,
                &[op(EntryKind::Publish, &id, &[(&path, Some(&line))])],
                T0 + i,
            );
            ids.push((id, path));
        }
        let old_index = data[&ids[3].1].clone();
        let yanked = String::from_utf8(old_index.clone())
            .unwrap()
            .replace("false", "true");
        data.insert(ids[3].1.clone(), yanked.clone().into_bytes());
        let c = commit(
            &mut files,
            &[op(
                EntryKind::Yank,
                &ids[3].0,
                &[(&ids[3].1, Some(yanked.as_bytes()))],
            )],
            T0 + 100,
        );
        assert_eq!(c.state.size, 42);
        // The client accepts the timestamp and verifies files against it.
        let all = files.clone();
        let mut f = move |p: &str, _: usize| Ok(all.get(p).cloned());
        let policy = Policy {
            now: T0 + 200,
            allow_expired: false,
        };
        let acc = client::check(
            None,
            &files["timestamp"],
            std::slice::from_ref(&pk),
            &[],
            &policy,
            &mut f,
        )
        .unwrap();
        let snap = Snapshot::of(&acc.verified.checkpoint);
        for (_, path) in &ids {
            snap.verify_file(&mut f, path, Some(&data[path])).unwrap();
        }
        snap.verify_file(&mut f, "config.json", Some(&cfg)).unwrap();
        snap.verify_file(&mut f, "index/00/00/com.example.none", None)
            .unwrap();
        // Un-yank (the old line served again): refused with both digests.
        let e = snap
            .verify_file(&mut f, &ids[3].1, Some(&old_index))
            .unwrap_err()
            .to_string();
        assert!(e.contains(&ids[3].1) && e.contains("signed state"), "{e}");
        // A file the registry deleted, served anyway; a file withheld.
        assert!(
            snap.verify_file(&mut f, "index/00/00/com.example.ghost", Some(b"x"))
                .is_err()
        );
        assert!(snap.verify_file(&mut f, &ids[5].1, None).is_err());
        // Transparency: the yank is logged, and is the entry that set the file.
        let e = snap.verify_logged(&mut f, &ids[3].1).unwrap();
        assert_eq!(e.kind, EntryKind::Yank);
        // Audit replays everything.
        let report = audit(&mut f, &acc.verified.checkpoint).unwrap();
        assert_eq!(report.entries, 42);
        assert_eq!(report.files.len(), 41);
        for (path, (d, _)) in &report.files {
            assert_eq!(FileDigest::of(&data[path]), *d, "{path}");
        }
        // A registry that rewrote a logged entry is caught by the audit.
        let mut bad = files.clone();
        let b = bad.get_mut("log/tile/entries/000.p/42").unwrap();
        let pos = b.windows(8).position(|w| w == b"publish ").unwrap();
        b[pos..pos + 7].copy_from_slice(b"import ");
        let mut f2 = move |p: &str, _: usize| Ok(bad.get(p).cloned());
        assert!(audit(&mut f2, &acc.verified.checkpoint).is_err());
        // The daily re-signing keeps the snapshot and moves the expiry.
        let fresh =
            refresh_timestamp(&files["log/checkpoint"], &pk, &sk, T0 + 90000, 86400).unwrap();
        let later = Policy {
            now: T0 + 90100,
            allow_expired: false,
        };
        let acc2 = client::check(
            Some(&acc.state),
            &fresh.bytes,
            std::slice::from_ref(&pk),
            &[],
            &later,
            &mut f,
        )
        .unwrap();
        assert!(!acc2.advanced);
        // A publisher killed after writing nodes but before the checkpoint: the stable nodes
        // are ahead of the signed state; clients fall back to content addresses, and
        // restore_stable puts the signed nodes back.
        let target = ids[7].1.clone();
        let newer = b"{\"v\":1,\"yanked\":true}\n".to_vec();
        let crashed = {
            let all = files.clone();
            let mut f = move |p: &str, _: usize| Ok(all.get(p).cloned());
            let mut p = Publisher::open(&mut f, "reg.example", &pk).unwrap();
            p.commit(
                &[op(EntryKind::Yank, &ids[7].0, &[(&target, Some(&newer))])],
                &sk,
                T0 + 300,
                86400,
            )
            .unwrap()
        };
        for f in &crashed.files {
            files.insert(f.path.clone(), f.bytes.clone());
        }
        let stable_only = |files: &Files| {
            let all = files.clone();
            move |p: &str, _: usize| -> Result<Option<Vec<u8>>, TlogError> {
                if p.starts_with("state/nodes/") {
                    return Ok(None);
                }
                Ok(all.get(p).cloned())
            }
        };
        let mut f = stable_only(&files);
        assert!(
            snap.verify_file(&mut f, &target, Some(&data[&target]))
                .is_err()
        );
        let all = files.clone();
        let mut f = move |p: &str, _: usize| Ok(all.get(p).cloned());
        snap.verify_file(&mut f, &target, Some(&data[&target]))
            .unwrap();
        let restored = {
            let all = files.clone();
            let mut f = move |p: &str, _: usize| Ok(all.get(p).cloned());
            let mut p = Publisher::open(&mut f, "reg.example", &pk).unwrap();
            p.restore_stable(&[&target]).unwrap()
        };
        assert!(!restored.is_empty());
        for f in restored {
            files.insert(f.path, f.bytes);
        }
        let mut f = stable_only(&files);
        snap.verify_file(&mut f, &target, Some(&data[&target]))
            .unwrap();
        // Opening with the wrong key, or over damaged tiles, is refused.
        let stranger = key(dir.path(), "stranger");
        let all = files.clone();
        let mut f3 = move |p: &str, _: usize| Ok(all.get(p).cloned());
        assert!(Publisher::open(&mut f3, "reg.example", stranger.public()).is_err());
        let all = files.clone();
        let mut f5 = move |p: &str, _: usize| Ok(all.get(p).cloned());
        let e = Publisher::open(&mut f5, "other.example", &pk)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("other.example"), "{e}");
        // A mirror cannot get a timestamp for a checkpoint the registry did not sign.
        let forged = Checkpoint {
            size: 99,
            ..acc.verified.checkpoint.clone()
        }
        .sign(&stranger)
        .unwrap();
        assert!(refresh_timestamp(forged.as_bytes(), &pk, &stranger, T0, 60).is_err());
        let mut bad = files.clone();
        bad.insert("log/tile/0/000.p/42".into(), vec![0; 42 * 32]);
        let mut f4 = move |p: &str, _: usize| Ok(bad.get(p).cloned());
        assert!(Publisher::open(&mut f4, "reg.example", &pk).is_err());
    }

    /// `gc` keeps what readers of the last snapshots need and removes the rest: nodes only
    /// old snapshots used, partial tiles of old sizes, and files of a checkpoint never signed.
    #[test]
    fn gc_keeps_recent_snapshots_and_removes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let sk = key(dir.path(), "registry");
        let pk = sk.public().clone();
        let mut files = Files::new();
        let mut data = Files::new();
        let mut commits = Vec::new();
        let n = 40u64;
        for i in 0..n {
            let id = format!("com.example.b{}", i % 7);
            let path = format!("index/00/00/{id}");
            let line = format!("{{\"v\":1,\"id\":\"{id}\",\"n\":{i}}}\n").into_bytes();
            data.insert(path.clone(), line.clone());
            let snapshot = files.clone();
            let mut f = move |p: &str, _: usize| Ok(snapshot.get(p).cloned());
            let mut p = Publisher::open(&mut f, "reg.example", &pk).unwrap();
            let c = p
                .commit(
                    &[op(EntryKind::Publish, &id, &[(&path, Some(&line))])],
                    &sk,
                    T0 + i,
                    86400,
                )
                .unwrap();
            write(&mut files, &c);
            commits.push((c.state.clone(), data.clone()));
        }
        // A publisher killed before its checkpoint: tiles and nodes nobody names.
        let crashed = {
            let all = files.clone();
            let mut f = move |p: &str, _: usize| Ok(all.get(p).cloned());
            let mut p = Publisher::open(&mut f, "reg.example", &pk).unwrap();
            let path = "index/00/00/com.example.crash";
            p.commit(
                &[op(
                    EntryKind::Publish,
                    "com.example.crash",
                    &[(path, Some(b"x\n"))],
                )],
                &sk,
                T0 + n,
                86400,
            )
            .unwrap()
        };
        let leftovers: Vec<String> = crashed
            .files
            .iter()
            .filter(|f| !files.contains_key(&f.path))
            .map(|f| f.path.clone())
            .collect();
        assert!(!leftovers.is_empty());
        for f in &crashed.files {
            files
                .entry(f.path.clone())
                .or_insert_with(|| f.bytes.clone());
        }
        let current = commits.last().unwrap().0.clone();
        let list: Vec<String> = files.keys().cloned().collect();
        let all = files.clone();
        let mut f = move |p: &str, _: usize| Ok(all.get(p).cloned());
        // A month later: only the last GC_KEEP_SNAPSHOTS snapshots are kept.
        let gone = gc_unneeded(&mut f, &current, T0 + 30 * 86400, &list).unwrap();
        for l in &leftovers {
            assert!(gone.contains(l), "{l} (never signed) is removed");
        }
        assert!(
            gone.iter()
                .any(|g| g.starts_with("state/nodes/") && !leftovers.contains(g)),
            "nodes of old snapshots are removed"
        );
        assert!(gone.iter().any(|g| g.starts_with("log/tile/0/000.p/")));
        // Within a week, every snapshot is kept: only the leftovers go.
        let mut recent = gc_unneeded(&mut f, &current, T0 + 86400, &list).unwrap();
        recent.sort();
        let mut want = leftovers.clone();
        want.sort();
        assert_eq!(recent, want);
        for g in &gone {
            files.remove(g);
        }
        // Readers of the kept snapshots still verify every file, and the log is consistent.
        let all = files.clone();
        let mut f = move |p: &str, _: usize| Ok(all.get(p).cloned());
        for (c, data) in &commits[(n - 1 - GC_KEEP_SNAPSHOTS) as usize..] {
            let snap = Snapshot::of(c);
            for (path, bytes) in data {
                snap.verify_file(&mut f, path, Some(bytes)).unwrap();
            }
            let mut r = TileReader::new(&mut f, current.size);
            let proof = tree::consistency_proof(&mut r, c.size, current.size).unwrap();
            tree::verify_consistency(c.size, current.size, &proof, &c.log_root, &current.log_root)
                .unwrap();
        }
        // An older snapshot's proof is gone (its reader fetches the timestamp again).
        let (old, old_data) = &commits[2];
        let (path, bytes) = old_data.iter().next().unwrap();
        assert!(
            Snapshot::of(old)
                .verify_file(&mut f, path, Some(bytes))
                .is_err()
        );
        // The publisher goes on from what is left, and the audit still replays everything.
        let mut p = Publisher::open(&mut f, "reg.example", &pk).unwrap();
        let c = p
            .commit(
                &[op(
                    EntryKind::Yank,
                    "com.example.b1",
                    &[("index/00/00/com.example.b1", Some(b"y\n"))],
                )],
                &sk,
                T0 + 31 * 86400,
                86400,
            )
            .unwrap();
        write(&mut files, &c);
        let all = files.clone();
        let mut f = move |p: &str, _: usize| Ok(all.get(p).cloned());
        assert_eq!(audit(&mut f, &c.state).unwrap().entries, n + 1);
    }
}
