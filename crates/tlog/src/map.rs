//! The state map: a Merkle commitment to every index, metadata and config file of a registry,
//! in which changing one file rewrites `O(log N)` small files and proving one file (present with
//! this hash and size, or absent) costs `O(log N)` bytes.
//!
//! Why a map and not the log: the log proves that something *was* published; a client reading an
//! index file must know that it is the *current* one (not an older, validly logged copy: an
//! un-yank). The map is a hexary Merkle trie keyed by `SHA-256(path)`: each node file holds up
//! to 16 slots (empty, a leaf with its key and file digest, or the hash of a child node), a
//! key sits at the shallowest depth where no other key shares its prefix, so the shape depends
//! only on the set of keys and the depth is about `log16(N) + 1` (6 at a million files). The
//! node at nibble prefix `3f` is the file `state/map/3/f/node`; the root is `state/map/node`.
//! Node paths follow from the path being proven, so a client fetches all nodes in one wave.
//!
//! Stable node paths change with every publish, so a client can read a node newer (or older)
//! than its checkpoint while a publish is being written, and a publisher killed mid-write can
//! leave them ahead of the signed state. Every node is therefore also written, immutable, at its
//! content address `state/nodes/<first 2 hex digits>/<node hash>`: the publisher reads the map
//! only from there, starting at the signed root (so a crash never damages what it builds on),
//! and a client whose stable node does not match the hash its parent names fetches that node by
//! its hash instead.
//!
//! Hashes (domain-separated from the log's RFC 6962 prefixes): a leaf is
//! `SHA-256(0x10 || key || sha256 || size as u64 BE)`, a node is
//! `SHA-256(0x11 || bitmap as u16 BE || the hashes of its non-empty slots in slot order)`.

use crate::TlogError;
use crate::hash::{Hash, sha256};
use crate::tiles::{Fetch, FileWrite, fetch_required};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};

/// Magic bytes opening every node file this crate writes (index-format §9.3).
pub const NODE_MAGIC: &[u8; 4] = b"RMN2";
/// Magic bytes of the first node format (fixed 8-byte size and entry), still read: registries
/// written before keep their nodes until they change.
pub const NODE_MAGIC_V1: &[u8; 4] = b"RMN1";
/// Largest node file: the header and 16 leaves of the longest encoding.
pub const MAX_NODE_BYTES: usize = 8 + 16 * (64 + 2 * MAX_VARINT);
const LEAF_BYTES_V1: usize = 32 + 32 + 8 + 8;
const MAX_VARINT: usize = 10;

/// Appends `v` as an unsigned LEB128 varint (7 bits a byte, low first; minimal).
fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a minimal unsigned LEB128 varint: `None` when truncated, over-long (a last byte of 0
/// after the first), or past 64 bits.
fn get_varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(MAX_VARINT) {
        let part = u64::from(byte & 0x7f);
        if i == 9 && part > 1 {
            return None;
        }
        v |= part << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return None;
            }
            return Some((v, i + 1));
        }
    }
    None
}
/// Deepest possible node (a key has 64 nibbles).
pub const MAX_DEPTH: usize = 64;

/// What the map records of a file: the SHA-256 and the length of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileDigest {
    /// SHA-256 of the file's bytes.
    pub sha256: Hash,
    /// Length in bytes (so a reader knows how much to read: endless data).
    pub size: u64,
}

impl FileDigest {
    /// The digest of these bytes.
    pub fn of(bytes: &[u8]) -> FileDigest {
        FileDigest {
            sha256: sha256(bytes),
            size: bytes.len() as u64,
        }
    }
}

/// A leaf: the key (`SHA-256(path)`) and the file's digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf {
    /// `SHA-256` of the path.
    pub key: Hash,
    /// The file's digest.
    pub value: FileDigest,
    /// The log entry that last set it (so its publication can be looked up and proven).
    pub entry: u64,
}

impl Leaf {
    /// `SHA-256(0x10 || key || sha256 || size BE || entry BE)`.
    pub fn hash(&self) -> Hash {
        let mut h = Sha256::new();
        h.update([0x10]);
        h.update(self.key);
        h.update(self.value.sha256);
        h.update(self.value.size.to_be_bytes());
        h.update(self.entry.to_be_bytes());
        h.finalize().into()
    }
}

/// One of a node's 16 slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Slot {
    /// No key has this prefix.
    #[default]
    Empty,
    /// Exactly one key has this prefix.
    Leaf(Leaf),
    /// Two or more keys: the hash of the child node.
    Node(Hash),
}

impl Slot {
    fn hash(&self) -> Option<Hash> {
        match self {
            Slot::Empty => None,
            Slot::Leaf(l) => Some(l.hash()),
            Slot::Node(h) => Some(*h),
        }
    }
}

/// A node of the trie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Node {
    /// Slots by nibble.
    pub slots: [Slot; 16],
}

impl Node {
    /// `SHA-256(0x11 || bitmap || slot hashes)`.
    pub fn hash(&self) -> Hash {
        let mut h = Sha256::new();
        h.update([0x11]);
        h.update(self.bitmap().to_be_bytes());
        for s in &self.slots {
            if let Some(x) = s.hash() {
                h.update(x);
            }
        }
        h.finalize().into()
    }

    fn bitmap(&self) -> u16 {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| !matches!(s, Slot::Empty))
            .fold(0, |m, (i, _)| m | (1 << i))
    }

    /// The node file: `RMN2`, the slot bitmap and the leaf bitmap (u16 BE, bit i = slot i), then
    /// each non-empty slot in order: a leaf as key and sha256 (64 bytes), then size and entry
    /// as minimal unsigned LEB128 varints; a child as its hash (32 bytes).
    pub fn encode(&self) -> Vec<u8> {
        self.encode_as(false)
    }

    /// The node file in the first format, `RMN1` (size and entry as u64 BE), which readers
    /// still accept.
    pub fn encode_v1(&self) -> Vec<u8> {
        self.encode_as(true)
    }

    fn encode_as(&self, v1: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_NODE_BYTES);
        out.extend_from_slice(if v1 { NODE_MAGIC_V1 } else { NODE_MAGIC });
        out.extend_from_slice(&self.bitmap().to_be_bytes());
        let leaves = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s, Slot::Leaf(_)))
            .fold(0u16, |m, (i, _)| m | (1 << i));
        out.extend_from_slice(&leaves.to_be_bytes());
        for s in &self.slots {
            match s {
                Slot::Empty => {}
                Slot::Leaf(l) => {
                    out.extend_from_slice(&l.key);
                    out.extend_from_slice(&l.value.sha256);
                    if v1 {
                        out.extend_from_slice(&l.value.size.to_be_bytes());
                        out.extend_from_slice(&l.entry.to_be_bytes());
                    } else {
                        put_varint(&mut out, l.value.size);
                        put_varint(&mut out, l.entry);
                    }
                }
                Slot::Node(h) => out.extend_from_slice(h),
            }
        }
        out
    }

    /// Parses a node file, exactly: magic, a leaf bitmap within the slot bitmap, and exactly
    /// the bytes the bitmaps call for.
    pub fn decode(file: &str, bytes: &[u8]) -> Result<Node, TlogError> {
        let bad = |reason: String| TlogError::Malformed {
            file: file.to_string(),
            reason,
        };
        if bytes.len() > MAX_NODE_BYTES {
            return Err(bad(format!(
                "{} bytes, more than a node can have ({MAX_NODE_BYTES})",
                bytes.len()
            )));
        }
        if bytes.len() < 8 || (&bytes[..4] != NODE_MAGIC && &bytes[..4] != NODE_MAGIC_V1) {
            return Err(bad("not a state map node (no RMN2 or RMN1 header)".into()));
        }
        let v1 = &bytes[..4] == NODE_MAGIC_V1;
        let used = u16::from_be_bytes([bytes[4], bytes[5]]);
        let leaves = u16::from_be_bytes([bytes[6], bytes[7]]);
        if leaves & !used != 0 {
            return Err(bad("a leaf in an empty slot".into()));
        }
        let mut rest = &bytes[8..];
        let mut node = Node::default();
        for (i, slot) in node.slots.iter_mut().enumerate() {
            if used & (1 << i) == 0 {
                continue;
            }
            let h = |r: &[u8]| -> Hash { r.try_into().unwrap_or([0; 32]) };
            let truncated = || bad(format!("truncated at slot {i:x}"));
            if leaves & (1 << i) == 0 {
                if rest.len() < 32 {
                    return Err(truncated());
                }
                *slot = Slot::Node(h(&rest[..32]));
                rest = &rest[32..];
                continue;
            }
            if rest.len() < 64 {
                return Err(truncated());
            }
            let (key, sha) = (h(&rest[..32]), h(&rest[32..64]));
            rest = &rest[64..];
            let (size, entry) = if v1 {
                if rest.len() < LEAF_BYTES_V1 - 64 {
                    return Err(truncated());
                }
                let (mut size, mut entry) = ([0u8; 8], [0u8; 8]);
                size.copy_from_slice(&rest[..8]);
                entry.copy_from_slice(&rest[8..16]);
                rest = &rest[16..];
                (u64::from_be_bytes(size), u64::from_be_bytes(entry))
            } else {
                let bad_varint = || bad(format!("slot {i:x}: a truncated or non-minimal number"));
                let (size, n) = get_varint(rest).ok_or_else(bad_varint)?;
                rest = &rest[n..];
                let (entry, n) = get_varint(rest).ok_or_else(bad_varint)?;
                rest = &rest[n..];
                (size, entry)
            };
            *slot = Slot::Leaf(Leaf {
                key,
                value: FileDigest { sha256: sha, size },
                entry,
            });
        }
        if !rest.is_empty() {
            return Err(bad(format!("{} bytes after the last slot", rest.len())));
        }
        Ok(node)
    }
}

/// The key of a registry path: `SHA-256` of its bytes.
pub fn key_of(path: &str) -> Hash {
    sha256(path.as_bytes())
}

fn nibble(key: &Hash, depth: usize) -> usize {
    let b = key[depth / 2];
    (if depth.is_multiple_of(2) {
        b >> 4
    } else {
        b & 15
    }) as usize
}

/// The file of the node at a nibble prefix: `state/map/3/f/node` for `[3, 15]`.
pub fn node_path(prefix: &[u8]) -> String {
    let mut s = String::from("state/map/");
    for n in prefix {
        s.push(char::from_digit(u32::from(*n), 16).unwrap_or('?'));
        s.push('/');
    }
    s.push_str("node");
    s
}

/// The immutable, content-addressed copy of a node: `state/nodes/ab/abcd...`.
pub fn cas_path(hash: &Hash) -> String {
    let h = crate::hash::to_hex(hash);
    format!("state/nodes/{}/{h}", &h[..2])
}

/// The stable node paths along `path`'s key down to `depth` nodes (root first), for a client
/// that prefetches a proof in one request wave (`depth` about `log16(files) + 2`).
pub fn stable_paths(path: &str, depth: usize) -> Vec<String> {
    let key = key_of(path);
    (0..depth.min(MAX_DEPTH))
        .map(|d| node_path(&(0..d).map(|i| nibble(&key, i) as u8).collect::<Vec<u8>>()))
        .collect()
}

/// The root of the empty map (a root node with no slots).
pub fn empty_root() -> Hash {
    Node::default().hash()
}

/// A change of the map's files: write a node, or remove one no longer needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapChange {
    /// Write this node file.
    Write(FileWrite),
    /// Remove this node file (after the new timestamp is written; old snapshots may still be
    /// read for a while, so a publisher may also leave it).
    Remove(String),
}

/// Updates the map: reads the nodes along the changed paths (by content address, from the
/// signed root, through a [`Fetch`] on the publisher's own directory), applies the changes,
/// and returns the node files to write.
pub struct MapWriter<'a> {
    fetch: &'a mut dyn Fetch,
    root: Hash,
    nodes: HashMap<Vec<u8>, Node>,
    dirty: BTreeSet<Vec<u8>>,
    removed: BTreeSet<Vec<u8>>,
}

impl<'a> MapWriter<'a> {
    /// A writer over the map whose signed root is `root` ([`empty_root`] for a new registry).
    pub fn new(fetch: &'a mut dyn Fetch, root: Hash) -> MapWriter<'a> {
        MapWriter {
            fetch,
            root,
            nodes: HashMap::new(),
            dirty: BTreeSet::new(),
            removed: BTreeSet::new(),
        }
    }

    fn load(&mut self, prefix: &[u8], expect: &Hash) -> Result<Node, TlogError> {
        if let Some(n) = self.nodes.get(prefix) {
            return Ok(*n);
        }
        let node = if prefix.is_empty() && *expect == empty_root() {
            Node::default()
        } else {
            let path = cas_path(expect);
            let node = Node::decode(&path, &fetch_required(self.fetch, &path, MAX_NODE_BYTES)?)?;
            if node.hash() != *expect {
                return Err(TlogError::Malformed {
                    file: path,
                    reason: "does not hash to its name: the state map is damaged".into(),
                });
            }
            node
        };
        self.nodes.insert(prefix.to_vec(), node);
        Ok(node)
    }

    fn store(&mut self, prefix: &[u8], node: Node) {
        self.removed.remove(prefix);
        self.dirty.insert(prefix.to_vec());
        self.nodes.insert(prefix.to_vec(), node);
    }

    fn remove(&mut self, prefix: &[u8]) {
        self.dirty.remove(prefix);
        self.removed.insert(prefix.to_vec());
        self.nodes.remove(prefix);
    }

    /// Sets (`Some`) or removes (`None`) the digest recorded for `path`.
    /// `entry` is the index of the log entry that makes the change.
    pub fn set(
        &mut self,
        path: &str,
        value: Option<FileDigest>,
        entry: u64,
    ) -> Result<(), TlogError> {
        let key = key_of(path);
        let mut prefix = Vec::new();
        let root = self.root;
        let leaf = value.map(|value| Leaf { key, value, entry });
        if let Slot::Node(h) = self.set_at(&mut prefix, &key, leaf, &root)? {
            self.root = h;
        }
        Ok(())
    }

    /// Returns what the parent's slot becomes.
    fn set_at(
        &mut self,
        prefix: &mut Vec<u8>,
        key: &Hash,
        value: Option<Leaf>,
        expect: &Hash,
    ) -> Result<Slot, TlogError> {
        let d = prefix.len();
        if d >= MAX_DEPTH {
            return Err(TlogError::Invalid("two paths with the same SHA-256".into()));
        }
        let mut node = self.load(prefix, expect)?;
        let s = nibble(key, d);
        let new = match (node.slots[s], value) {
            (Slot::Empty, None) => Slot::Empty,
            (Slot::Empty, Some(v)) => Slot::Leaf(v),
            (Slot::Leaf(l), None) if l.key == *key => Slot::Empty,
            (Slot::Leaf(l), Some(v)) if l.key == *key => Slot::Leaf(v),
            (Slot::Leaf(l), None) => Slot::Leaf(l),
            (Slot::Leaf(other), Some(v)) => {
                prefix.push(s as u8);
                let r = self.pair(prefix, other, v);
                prefix.pop();
                r?
            }
            (Slot::Node(h), v) => {
                prefix.push(s as u8);
                let r = self.set_at(prefix, key, v, &h);
                prefix.pop();
                r?
            }
        };
        if node.slots[s] == new {
            return Ok(Slot::Node(node.hash()));
        }
        node.slots[s] = new;
        let used: Vec<&Slot> = node
            .slots
            .iter()
            .filter(|x| !matches!(x, Slot::Empty))
            .collect();
        if d > 0 {
            match used.as_slice() {
                [] => {
                    self.remove(prefix);
                    return Ok(Slot::Empty);
                }
                [Slot::Leaf(l)] => {
                    let l = *l;
                    self.remove(prefix);
                    return Ok(Slot::Leaf(l));
                }
                _ => {}
            }
        }
        self.store(prefix, node);
        Ok(Slot::Node(node.hash()))
    }

    /// A new node at `prefix` holding two leaves that share it.
    fn pair(&mut self, prefix: &mut Vec<u8>, a: Leaf, b: Leaf) -> Result<Slot, TlogError> {
        let d = prefix.len();
        if d >= MAX_DEPTH {
            return Err(TlogError::Invalid("two paths with the same SHA-256".into()));
        }
        let (na, nb) = (nibble(&a.key, d), nibble(&b.key, d));
        let mut node = Node::default();
        if na != nb {
            node.slots[na] = Slot::Leaf(a);
            node.slots[nb] = Slot::Leaf(b);
        } else {
            prefix.push(na as u8);
            let r = self.pair(prefix, a, b);
            prefix.pop();
            node.slots[na] = r?;
        }
        self.store(prefix, node);
        Ok(Slot::Node(node.hash()))
    }

    /// Marks every node on `path`'s key, as the signed state has them, for rewriting, so that
    /// [`MapWriter::changes`] writes their stable copies again: the repair of stable nodes left
    /// ahead of the signed state by a publisher that was killed (`index-format.md` §9.6).
    pub fn restore(&mut self, path: &str) -> Result<(), TlogError> {
        let key = key_of(path);
        let mut prefix = Vec::new();
        let mut expect = self.root;
        loop {
            let node = self.load(&prefix, &expect)?;
            self.dirty.insert(prefix.clone());
            match node.slots[nibble(&key, prefix.len())] {
                Slot::Node(h) if prefix.len() + 1 < MAX_DEPTH => {
                    prefix.push(nibble(&key, prefix.len()) as u8);
                    expect = h;
                }
                _ => return Ok(()),
            }
        }
    }

    /// The root hash after the changes made so far.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// The node files to write (each at its stable path and its content address) and the stable
    /// paths to remove, for the changes made so far; the writer forgets them. Write them all
    /// before the checkpoint that names the new root; content-addressed nodes are never removed
    /// by a publish (`gc` removes those no recent snapshot uses).
    pub fn changes(&mut self) -> Vec<MapChange> {
        let mut out = Vec::new();
        for p in std::mem::take(&mut self.dirty) {
            let node = self.nodes[&p];
            let bytes = node.encode();
            out.push(MapChange::Write(FileWrite {
                path: cas_path(&node.hash()),
                bytes: bytes.clone(),
            }));
            out.push(MapChange::Write(FileWrite {
                path: node_path(&p),
                bytes,
            }));
        }
        out.extend(
            std::mem::take(&mut self.removed)
                .into_iter()
                .map(|p| MapChange::Remove(node_path(&p))),
        );
        out
    }
}

/// Builds a whole map at once from `(path, digest, entry)` triples: the node files (stable and
/// content-addressed) and the root. `O(N)` hashing, for upgrading an existing registry in place
/// and for benchmarks; the result is the same map that setting the files one by one gives.
pub fn build(
    files: impl IntoIterator<Item = (String, FileDigest, u64)>,
) -> Result<(Hash, Vec<FileWrite>), TlogError> {
    let mut leaves: Vec<Leaf> = files
        .into_iter()
        .map(|(p, value, entry)| Leaf {
            key: key_of(&p),
            value,
            entry,
        })
        .collect();
    leaves.sort_unstable_by_key(|a| a.key);
    if leaves.windows(2).any(|w| w[0].key == w[1].key) {
        return Err(TlogError::Invalid("a path is listed twice".into()));
    }
    let mut out = Vec::new();
    let mut prefix = Vec::new();
    let root = build_node(&leaves, &mut prefix, &mut out);
    Ok((root, out))
}

fn build_node(leaves: &[Leaf], prefix: &mut Vec<u8>, out: &mut Vec<FileWrite>) -> Hash {
    let d = prefix.len();
    let mut node = Node::default();
    let mut rest = leaves;
    for n in 0..16usize {
        let k = rest.iter().take_while(|l| nibble(&l.key, d) == n).count();
        let (group, tail) = rest.split_at(k);
        rest = tail;
        node.slots[n] = match group {
            [] => Slot::Empty,
            [one] => Slot::Leaf(*one),
            many => {
                prefix.push(n as u8);
                let h = build_node(many, prefix, out);
                prefix.pop();
                Slot::Node(h)
            }
        };
    }
    let bytes = node.encode();
    let hash = node.hash();
    out.push(FileWrite {
        path: cas_path(&hash),
        bytes: bytes.clone(),
    });
    out.push(FileWrite {
        path: node_path(prefix),
        bytes,
    });
    hash
}

/// What the map says about a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The file exists with this digest, set by this log entry.
    Present {
        /// The file's digest.
        digest: FileDigest,
        /// Index of the log entry that last set it.
        entry: u64,
    },
    /// The file does not exist in this snapshot.
    Absent,
}

/// The proof for one path: the node files along its key's prefix, root first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapProof {
    /// The node files' bytes, root first.
    pub nodes: Vec<Vec<u8>>,
}

impl MapProof {
    /// Fetches the node files along `path`'s key, from the root down to the slot that holds
    /// its leaf or is empty: each at its stable path, or at its content address when the stable
    /// copy is not the node `root` (then its parent) names (a publish in progress). Nothing is
    /// trusted until [`MapProof::verify`].
    pub fn fetch(fetch: &mut dyn Fetch, root: &Hash, path: &str) -> Result<MapProof, TlogError> {
        let key = key_of(path);
        let mut prefix = Vec::new();
        let mut nodes = Vec::new();
        let mut expect = *root;
        loop {
            let p = node_path(&prefix);
            let mut bytes = fetch.fetch(&p, MAX_NODE_BYTES)?.unwrap_or_default();
            let fits = bytes.len() <= MAX_NODE_BYTES
                && Node::decode(&p, &bytes).is_ok_and(|n| n.hash() == expect);
            if !fits {
                bytes = fetch_required(fetch, &cas_path(&expect), MAX_NODE_BYTES)?;
            }
            let node = Node::decode(&p, &bytes)?;
            nodes.push(bytes);
            let s = nibble(&key, prefix.len());
            match node.slots[s] {
                Slot::Node(h) if prefix.len() + 1 < MAX_DEPTH => {
                    prefix.push(s as u8);
                    expect = h;
                }
                _ => return Ok(MapProof { nodes }),
            }
        }
    }

    /// Total bytes of the proof.
    pub fn len_bytes(&self) -> usize {
        self.nodes.iter().map(Vec::len).sum()
    }

    /// Checks the proof against a signed map root and says what it proves about `path`.
    pub fn verify(&self, root: &Hash, path: &str) -> Result<Lookup, TlogError> {
        let key = key_of(path);
        let mut expect = *root;
        for (d, bytes) in self.nodes.iter().enumerate() {
            let file = node_path(&(0..d).map(|i| nibble(&key, i) as u8).collect::<Vec<u8>>());
            let node = Node::decode(&file, bytes)?;
            if node.hash() != expect {
                return Err(TlogError::BadProof(format!(
                    "{file} is not the node the signed state names (for {path}): it is from another snapshot or was changed"
                )));
            }
            match node.slots[nibble(&key, d)] {
                Slot::Empty => return self.end(d, path, Lookup::Absent),
                Slot::Leaf(l) if l.key == key => {
                    return self.end(
                        d,
                        path,
                        Lookup::Present {
                            digest: l.value,
                            entry: l.entry,
                        },
                    );
                }
                Slot::Leaf(_) => return self.end(d, path, Lookup::Absent),
                Slot::Node(h) => expect = h,
            }
        }
        Err(TlogError::BadProof(format!(
            "the state map proof for {path} stops after {} nodes, before its leaf",
            self.nodes.len()
        )))
    }

    fn end(&self, d: usize, path: &str, r: Lookup) -> Result<Lookup, TlogError> {
        if d + 1 != self.nodes.len() {
            return Err(TlogError::BadProof(format!(
                "the state map proof for {path} has nodes past its leaf"
            )));
        }
        Ok(r)
    }
}

/// Checks fetched file bytes (or a 404: `None`) against the map root: the one call a client
/// makes per index, metadata or config file it reads.
pub fn verify_file(
    proof: &MapProof,
    root: &Hash,
    path: &str,
    bytes: Option<&[u8]>,
) -> Result<(), TlogError> {
    let got = proof.verify(root, path)?;
    match (got, bytes) {
        (Lookup::Absent, None) => Ok(()),
        (Lookup::Present { digest: d, .. }, Some(b)) if d == FileDigest::of(b) => Ok(()),
        (Lookup::Present { digest: d, .. }, Some(b)) => Err(TlogError::BadProof(format!(
            "{path}: the registry's signed state has {} bytes with SHA-256 {}, the server sent {} bytes with SHA-256 {}: an old, newer or altered copy",
            d.size,
            crate::hash::to_hex(&d.sha256),
            b.len(),
            crate::hash::to_hex(&sha256(b))
        ))),
        (Lookup::Present { .. }, None) => Err(TlogError::BadProof(format!(
            "{path}: the server says it does not exist, but the registry's signed state has it"
        ))),
        (Lookup::Absent, Some(_)) => Err(TlogError::BadProof(format!(
            "{path}: not in the registry's signed state, yet the server sent it"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap};

    type Files = HashMap<String, Vec<u8>>;

    fn apply(files: &mut Files, changes: Vec<MapChange>) {
        for c in changes {
            match c {
                MapChange::Write(w) => {
                    files.insert(w.path, w.bytes);
                }
                MapChange::Remove(p) => {
                    files.remove(&p);
                }
            }
        }
    }

    fn fetcher(files: &Files) -> impl FnMut(&str, usize) -> Result<Option<Vec<u8>>, TlogError> {
        move |p: &str, _| Ok(files.get(p).cloned())
    }

    /// Builds the map from scratch for a set of (path, digest): the canonical root.
    fn fresh_root(set: &BTreeMap<String, FileDigest>) -> (Hash, Files) {
        let mut files = Files::new();
        let empty = Files::new();
        let mut f = fetcher(&empty);
        let mut w = MapWriter::new(&mut f, empty_root());
        for (p, d) in set {
            w.set(p, Some(*d), 7).unwrap();
        }
        let root = w.root();
        apply(&mut files, w.changes());
        (root, files)
    }

    #[test]
    fn updates_match_a_fresh_build_and_proofs_verify() {
        let mut files = Files::new();
        let mut set = BTreeMap::new();
        let mut root = empty_root();
        for step in 0..600u32 {
            // Add mostly, sometimes change or remove an earlier path.
            let (path, value) = match step % 5 {
                3 if step > 10 => (format!("index/{:04}", step / 3), None),
                4 => (
                    format!("index/{:04}", step / 2),
                    Some(FileDigest::of(format!("v{step}").as_bytes())),
                ),
                _ => (
                    format!("index/{step:04}"),
                    Some(FileDigest::of(format!("{step}").as_bytes())),
                ),
            };
            let changes = {
                let mut f = fetcher(&files);
                let mut w = MapWriter::new(&mut f, root);
                w.set(&path, value, 7).unwrap();
                root = w.root();
                w.changes()
            };
            // One file changed: at most the nodes on its path (plus a split) are rewritten.
            assert!(changes.len() <= 16, "step {step}: {}", changes.len());
            apply(&mut files, changes);
            match value {
                Some(v) => set.insert(path, v),
                None => set.remove(&path),
            };
            if step % 50 == 0 || step == 599 {
                let (fresh, fresh_files) = fresh_root(&set);
                assert_eq!(root, fresh, "step {step}: the map depends on its history");
                let stable = |f: &Files| -> BTreeMap<String, Vec<u8>> {
                    f.iter()
                        .filter(|(k, _)| k.starts_with("state/map/"))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                };
                assert_eq!(
                    stable(&files),
                    stable(&fresh_files),
                    "step {step}: stale nodes"
                );
            }
        }
        let mut f = fetcher(&files);
        for i in 0..700u32 {
            let path = format!("index/{i:04}");
            let proof = MapProof::fetch(&mut f, &root, &path).unwrap();
            assert!(proof.nodes.len() <= 5);
            let want = set.get(&path).copied();
            let got = proof.verify(&root, &path).unwrap();
            let want = want.map_or(Lookup::Absent, |digest| Lookup::Present {
                digest,
                entry: 7,
            });
            assert_eq!(got, want, "{path}");
        }
    }

    /// The paths a client prefetches in one wave are the ones the proof reads.
    #[test]
    fn prefetch_paths_cover_the_proof() {
        let set: BTreeMap<String, FileDigest> = (0..3000)
            .map(|i| (format!("index/{i}"), FileDigest::of(&[i as u8])))
            .collect();
        let (root, files) = fresh_root(&set);
        for i in (0..3000).step_by(97) {
            let path = format!("index/{i}");
            let asked = std::cell::RefCell::new(Vec::new());
            let mut f = |p: &str, _: usize| {
                asked.borrow_mut().push(p.to_string());
                Ok(files.get(p).cloned())
            };
            MapProof::fetch(&mut f, &root, &path).unwrap();
            let asked = asked.into_inner();
            let predicted = stable_paths(&path, asked.len());
            assert_eq!(asked, predicted, "{path}");
            assert!(stable_paths(&path, 64).starts_with(&asked));
        }
    }

    #[test]
    fn bulk_build_equals_incremental() {
        let set: BTreeMap<String, FileDigest> = (0..500)
            .map(|i| (format!("index/{i}"), FileDigest::of(&[i as u8])))
            .collect();
        let (root, files) = fresh_root(&set);
        let (broot, bfiles) = build(set.iter().map(|(p, d)| (p.clone(), *d, 7))).unwrap();
        assert_eq!(root, broot);
        let bfiles: Files = bfiles.into_iter().map(|f| (f.path, f.bytes)).collect();
        assert_eq!(files, bfiles);
        assert_eq!(build(Vec::new()).unwrap().0, empty_root());
        let twice = vec![("a".to_string(), FileDigest::of(b""), 0); 2];
        assert!(build(twice).is_err());
    }

    #[test]
    fn tampered_and_foreign_proofs_are_refused() {
        let set: BTreeMap<String, FileDigest> = (0..300)
            .map(|i| (format!("meta/{i}.json"), FileDigest::of(&[i as u8])))
            .collect();
        let (root, files) = fresh_root(&set);
        let mut f = fetcher(&files);
        let path = "meta/7.json";
        let proof = MapProof::fetch(&mut f, &root, path).unwrap();
        verify_file(&proof, &root, path, Some(&[7])).unwrap();
        // Wrong bytes, a 404 for a present file, an old root.
        assert!(verify_file(&proof, &root, path, Some(&[8])).is_err());
        assert!(verify_file(&proof, &root, path, None).is_err());
        assert!(verify_file(&proof, &empty_root(), path, Some(&[7])).is_err());
        // The proof of another path.
        assert!(verify_file(&proof, &root, "meta/8.json", Some(&[8])).is_err());
        // A flipped bit anywhere in any node, a dropped node, an extra node.
        for n in 0..proof.nodes.len() {
            for i in 0..proof.nodes[n].len() {
                let mut p = proof.clone();
                p.nodes[n][i] ^= 4;
                assert!(verify_file(&p, &root, path, Some(&[7])).is_err(), "{n} {i}");
            }
        }
        let mut p = proof.clone();
        p.nodes.pop();
        assert!(p.verify(&root, path).is_err());
        let mut p = proof.clone();
        p.nodes.push(Node::default().encode());
        assert!(p.verify(&root, path).is_err());
        // Absence is proven, and a fabricated file is refused.
        let ghost = "meta/ghost.json";
        let p = MapProof::fetch(&mut f, &root, ghost).unwrap();
        verify_file(&p, &root, ghost, None).unwrap();
        assert!(verify_file(&p, &root, ghost, Some(b"{}")).is_err());
    }

    #[test]
    fn node_files_are_parsed_strictly() {
        let mut n = Node::default();
        n.slots[3] = Slot::Node([1; 32]);
        n.slots[9] = Slot::Leaf(Leaf {
            key: [2; 32],
            value: FileDigest {
                sha256: [3; 32],
                size: 9,
            },
            entry: 12,
        });
        let b = n.encode();
        assert_eq!(Node::decode("f", &b).unwrap(), n);
        // The first format is still read, to the same node (same hash).
        let v1 = n.encode_v1();
        assert!(v1.len() > b.len());
        assert_eq!(Node::decode("f", &v1).unwrap(), n);
        // Varints: minimal only, at most 64 bits.
        let mut big = n;
        if let Slot::Leaf(l) = &mut big.slots[9] {
            l.value.size = u64::MAX;
            l.entry = 300;
        }
        assert_eq!(Node::decode("f", &big.encode()).unwrap(), big);
        assert_eq!(get_varint(&[0x80, 0x00]), None, "over-long");
        assert_eq!(get_varint(&[0xff; 10]), None, "past 64 bits");
        assert_eq!(get_varint(&[0xac, 0x02]), Some((300, 2)));
        let mut long = b.clone();
        long.push(0);
        assert!(Node::decode("f", &long).is_err());
        assert!(Node::decode("f", &b[..b.len() - 1]).is_err());
        assert!(Node::decode("f", &b[..5]).is_err());
        assert!(Node::decode("f", &vec![0; MAX_NODE_BYTES + 1]).is_err());
        let mut bad = b.clone();
        bad[7] |= 1; // a leaf bit on an empty slot
        assert!(Node::decode("f", &bad).is_err());
        let mut bad = b.clone();
        bad[0] = b'X';
        let e = Node::decode("state/map/node", &bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("state/map/node"), "{e}");
        assert_eq!(node_path(&[3, 15]), "state/map/3/f/node");
        assert_eq!(node_path(&[]), "state/map/node");
    }

    #[test]
    fn a_damaged_child_is_not_built_upon() {
        let set: BTreeMap<String, FileDigest> = (0..100)
            .map(|i| (format!("index/{i}"), FileDigest::of(&[i as u8])))
            .collect();
        let (root, mut files) = fresh_root(&set);
        // Stable copies ahead of or behind the signed state do not matter to the writer...
        files.insert("state/map/node".into(), Node::default().encode());
        let rootfile = cas_path(&root);
        let child = files
            .keys()
            .find(|k| k.starts_with("state/nodes/") && **k != rootfile)
            .unwrap()
            .clone();
        {
            let mut f = fetcher(&files);
            let mut w = MapWriter::new(&mut f, root);
            w.set("index/0", None, 7).unwrap();
        }
        // ...nor to a client, which falls back to the content address.
        {
            let mut f = fetcher(&files);
            let p = MapProof::fetch(&mut f, &root, "index/5").unwrap();
            verify_file(&p, &root, "index/5", Some(&[5])).unwrap();
        }
        // A damaged content-addressed node is refused, naming it.
        let mut node = Node::decode(&child, &files[&child]).unwrap();
        node.slots.rotate_left(1);
        files.insert(child.clone(), node.encode());
        let mut f = fetcher(&files);
        let mut w = MapWriter::new(&mut f, root);
        let mut err = None;
        for (p, _) in set.iter() {
            if let Err(e) = w.set(p, None, 7) {
                err = Some(e.to_string());
                break;
            }
        }
        let e = err.expect("the damaged node was used");
        assert!(e.contains(&child) && e.contains("damaged"), "{e}");
    }
}
