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
//! A child node whose whole subtree holds at most [`INLINE_LEAVES`] (2) leaves is also written
//! inline in its parent's file (pairs are the commonest node at the bottom of the trie), so a
//! proof often needs one file fewer and a client that reads most of a small map does not pay a
//! 32-byte hash and a file header for each of those nodes (index-format §9.3).
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
//! `SHA-256(0x10 || key || sha256 || size as u64 BE || entry as u64 BE)`, a node is
//! `SHA-256(0x11 || bitmap as u16 BE || the hashes of its non-empty slots in slot order)`.

use crate::TlogError;
use crate::hash::{Hash, sha256};
use crate::tiles::{Fetch, FileWrite, fetch_required};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};

/// Magic bytes opening every node file this crate writes (index-format §9.3).
pub const NODE_MAGIC: &[u8; 4] = b"RMN3";
/// Magic bytes of the first node format (two bitmaps, fixed 8-byte size and entry, no inline
/// children), still read: registries written before keep their nodes until they change.
pub const NODE_MAGIC_V1: &[u8; 4] = b"RMN1";
/// Most leaves a child node's whole subtree may hold for the child to be written inline in its
/// parent's file (so a client reading the parent needs no request for it). 2: only pairs, the
/// commonest node at the bottom of the trie; more would make every reader of the parent pay
/// for children it does not need (measured: with 4, a one-file proof at 1,000 files is 2.8 KB
/// instead of 1.7 KB).
pub const INLINE_LEAVES: usize = 2;
/// Largest node file: 16 inline pairs (2 leaves of at most 84 bytes each), each below a chain
/// of up to 63 one-slot nodes (4 bytes each), and the header: 6,728 bytes.
pub const MAX_NODE_BYTES: usize = 8 * 1024;
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

    /// The node file with every child as its hash (no inline children): `RMN3`, then the
    /// node's body (see [`NodeFile::encode`]).
    pub fn encode(&self) -> Vec<u8> {
        NodeFile::of(*self).encode()
    }

    /// The node file in the first format, `RMN1` (slot and leaf bitmaps, size and entry as
    /// u64 BE, children as hashes), which readers still accept.
    pub fn encode_v1(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 16 * LEAF_BYTES_V1);
        out.extend_from_slice(NODE_MAGIC_V1);
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
                    out.extend_from_slice(&l.value.size.to_be_bytes());
                    out.extend_from_slice(&l.entry.to_be_bytes());
                }
                Slot::Node(h) => out.extend_from_slice(h),
            }
        }
        out
    }

    /// Parses a node file, exactly (see [`NodeFile::decode`]): the node, with the hashes of
    /// its inline children computed.
    pub fn decode(file: &str, bytes: &[u8]) -> Result<Node, TlogError> {
        Ok(NodeFile::decode(file, bytes)?.node)
    }
}

/// A node file as parsed: the node and the children written inline in it (index-format
/// §9.3). The encoding is not hashed: a node's hash is over its slots, whichever children are
/// inline.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeFile {
    /// The node (an inline child's slot holds the child's hash, computed from it).
    pub node: Node,
    /// The children written inline, by slot.
    pub inline: [Option<Box<NodeFile>>; 16],
}

/// Slot kinds in an `RMN3` body: 2 bits per slot.
const KIND_EMPTY: u32 = 0;
const KIND_LEAF: u32 = 1;
const KIND_HASH: u32 = 2;
const KIND_INLINE: u32 = 3;

impl NodeFile {
    /// A node with no inline children.
    pub fn of(node: Node) -> NodeFile {
        NodeFile {
            node,
            inline: Default::default(),
        }
    }

    /// Leaves of the subtree this file holds (its leaves and its inline children's).
    pub fn leaves(&self) -> usize {
        let own = self
            .node
            .slots
            .iter()
            .filter(|s| matches!(s, Slot::Leaf(_)))
            .count();
        own + self
            .inline
            .iter()
            .flatten()
            .map(|c| c.leaves())
            .sum::<usize>()
    }

    /// Whether this file can be a parent's inline child: no child by hash, 2 to
    /// [`INLINE_LEAVES`] leaves in all.
    fn inlinable(&self) -> bool {
        let by_hash = self
            .node
            .slots
            .iter()
            .zip(&self.inline)
            .any(|(s, i)| matches!(s, Slot::Node(_)) && i.is_none());
        !by_hash && (2..=INLINE_LEAVES).contains(&self.leaves())
    }

    /// The node file: `RMN3`, then the body: the slot kinds (u32 BE; bits `2i` and `2i+1`
    /// are slot `i`'s kind: 0 empty, 1 leaf, 2 child by hash, 3 child inline), then each
    /// non-empty slot in order: a leaf as key and sha256 (64 bytes), then size and entry as
    /// minimal unsigned LEB128 varints; a child by hash as its 32-byte hash; an inline child
    /// as its own body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(NODE_MAGIC);
        self.put_body(&mut out);
        out
    }

    fn put_body(&self, out: &mut Vec<u8>) {
        let mut kinds = 0u32;
        for (i, (s, inl)) in self.node.slots.iter().zip(&self.inline).enumerate() {
            let k = match (s, inl) {
                (Slot::Empty, _) => KIND_EMPTY,
                (Slot::Leaf(_), _) => KIND_LEAF,
                (Slot::Node(_), None) => KIND_HASH,
                (Slot::Node(_), Some(_)) => KIND_INLINE,
            };
            kinds |= k << (2 * i);
        }
        out.extend_from_slice(&kinds.to_be_bytes());
        for (s, inl) in self.node.slots.iter().zip(&self.inline) {
            match (s, inl) {
                (Slot::Empty, _) => {}
                (Slot::Leaf(l), _) => {
                    out.extend_from_slice(&l.key);
                    out.extend_from_slice(&l.value.sha256);
                    put_varint(out, l.value.size);
                    put_varint(out, l.entry);
                }
                (Slot::Node(h), None) => out.extend_from_slice(h),
                (Slot::Node(_), Some(c)) => c.put_body(out),
            }
        }
    }

    /// Parses a node file, exactly: `RMN3` (or `RMN1`), and exactly the bytes its slots call
    /// for; minimal varints; an inline child holds 2 to [`INLINE_LEAVES`] leaves and no child
    /// by hash; at most [`MAX_NODE_BYTES`] bytes.
    pub fn decode(file: &str, bytes: &[u8]) -> Result<NodeFile, TlogError> {
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
            return Err(bad("not a state map node (no RMN3 or RMN1 header)".into()));
        }
        let mut rest = &bytes[4..];
        let f = if &bytes[..4] == NODE_MAGIC_V1 {
            NodeFile::of(decode_v1(&mut rest).map_err(bad)?)
        } else {
            decode_body(&mut rest, 0, false).map_err(bad)?
        };
        if !rest.is_empty() {
            return Err(bad(format!("{} bytes after the last slot", rest.len())));
        }
        Ok(f)
    }
}

fn take<'a>(rest: &mut &'a [u8], n: usize, what: &str) -> Result<&'a [u8], String> {
    if rest.len() < n {
        return Err(format!("truncated at {what}"));
    }
    let (b, tail) = rest.split_at(n);
    *rest = tail;
    Ok(b)
}

fn hash_of(b: &[u8]) -> Hash {
    b.try_into().unwrap_or([0; 32])
}

fn decode_v1(rest: &mut &[u8]) -> Result<Node, String> {
    let head = take(rest, 4, "the header")?;
    let used = u16::from_be_bytes([head[0], head[1]]);
    let leaves = u16::from_be_bytes([head[2], head[3]]);
    if leaves & !used != 0 {
        return Err("a leaf in an empty slot".into());
    }
    let mut node = Node::default();
    for (i, slot) in node.slots.iter_mut().enumerate() {
        if used & (1 << i) == 0 {
            continue;
        }
        let at = format!("slot {i:x}");
        *slot = if leaves & (1 << i) == 0 {
            Slot::Node(hash_of(take(rest, 32, &at)?))
        } else {
            let b = take(rest, LEAF_BYTES_V1, &at)?;
            let (mut size, mut entry) = ([0u8; 8], [0u8; 8]);
            size.copy_from_slice(&b[64..72]);
            entry.copy_from_slice(&b[72..80]);
            Slot::Leaf(Leaf {
                key: hash_of(&b[..32]),
                value: FileDigest {
                    sha256: hash_of(&b[32..64]),
                    size: u64::from_be_bytes(size),
                },
                entry: u64::from_be_bytes(entry),
            })
        };
    }
    Ok(node)
}

/// One `RMN3` body at `depth` (0: the file's own node); `inline`: it is a parent's inline
/// child.
fn decode_body(rest: &mut &[u8], depth: usize, inline: bool) -> Result<NodeFile, String> {
    let head = take(rest, 4, "a node's slot kinds")?;
    let kinds = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let mut f = NodeFile::default();
    for i in 0..16 {
        let at = format!("slot {i:x} at depth {depth}");
        f.node.slots[i] = match (kinds >> (2 * i)) & 3 {
            KIND_EMPTY => Slot::Empty,
            KIND_LEAF => {
                let b = take(rest, 64, &at)?;
                let num = |rest: &mut &[u8]| {
                    let (v, n) = get_varint(rest)
                        .ok_or_else(|| format!("{at}: a truncated or non-minimal number"))?;
                    *rest = &rest[n..];
                    Ok::<u64, String>(v)
                };
                let size = num(rest)?;
                let entry = num(rest)?;
                Slot::Leaf(Leaf {
                    key: hash_of(&b[..32]),
                    value: FileDigest {
                        sha256: hash_of(&b[32..64]),
                        size,
                    },
                    entry,
                })
            }
            KIND_HASH if inline => {
                return Err(format!("{at}: an inline child with a child by hash"));
            }
            KIND_HASH => Slot::Node(hash_of(take(rest, 32, &at)?)),
            _ => {
                if depth + 1 >= MAX_DEPTH {
                    return Err(format!("{at}: inline children nested too deep"));
                }
                let c = decode_body(rest, depth + 1, true)?;
                if !c.inlinable() {
                    return Err(format!(
                        "{at}: an inline child holds {} leaves (2 to {INLINE_LEAVES} allowed, none by hash)",
                        c.leaves()
                    ));
                }
                let h = c.node.hash();
                f.inline[i] = Some(Box::new(c));
                Slot::Node(h)
            }
        };
    }
    Ok(f)
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
            let file =
                NodeFile::decode(&path, &fetch_required(self.fetch, &path, MAX_NODE_BYTES)?)?;
            if file.node.hash() != *expect {
                return Err(TlogError::Malformed {
                    file: path,
                    reason: "does not hash to its name: the state map is damaged".into(),
                });
            }
            // Its inline children are read with it (verified by its hash).
            let mut at = prefix.to_vec();
            self.hold_inline(&mut at, &file);
            file.node
        };
        self.nodes.insert(prefix.to_vec(), node);
        Ok(node)
    }

    fn hold_inline(&mut self, prefix: &mut Vec<u8>, file: &NodeFile) {
        for (s, c) in file.inline.iter().enumerate() {
            if let Some(c) = c {
                prefix.push(s as u8);
                self.nodes.entry(prefix.clone()).or_insert(c.node);
                self.hold_inline(prefix, c);
                prefix.pop();
            }
        }
    }

    /// The file of the node at `prefix`, with every child the writer holds that fits inline
    /// (at most [`INLINE_LEAVES`] leaves in its subtree) written inline. A child the writer
    /// never read was by hash in the file it came from, so it is big or from an `RMN1` file.
    fn file_of(&self, prefix: &mut Vec<u8>, node: Node) -> NodeFile {
        let mut f = NodeFile::of(node);
        for s in 0..16 {
            if let Slot::Node(h) = node.slots[s] {
                prefix.push(s as u8);
                f.inline[s] = self.inline_child(prefix, &h).map(Box::new);
                prefix.pop();
            }
        }
        f
    }

    fn inline_child(&self, prefix: &mut Vec<u8>, expect: &Hash) -> Option<NodeFile> {
        let node = self.nodes.get(prefix.as_slice())?;
        let own = node
            .slots
            .iter()
            .filter(|s| matches!(s, Slot::Leaf(_)))
            .count();
        if own > INLINE_LEAVES || prefix.len() >= MAX_DEPTH || node.hash() != *expect {
            return None;
        }
        let f = self.file_of(prefix, *node);
        f.inlinable().then_some(f)
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
        for mut p in std::mem::take(&mut self.dirty) {
            let node = self.nodes[&p];
            let bytes = self.file_of(&mut p, node).encode();
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
    let (root, _) = build_node(&leaves, &mut prefix, &mut out);
    Ok((root, out))
}

/// Writes the node at `prefix` and those below; returns its hash and, when it fits inline in
/// its parent's file, its file.
fn build_node(
    leaves: &[Leaf],
    prefix: &mut Vec<u8>,
    out: &mut Vec<FileWrite>,
) -> (Hash, Option<NodeFile>) {
    let d = prefix.len();
    let mut file = NodeFile::default();
    let mut rest = leaves;
    for n in 0..16usize {
        let k = rest.iter().take_while(|l| nibble(&l.key, d) == n).count();
        let (group, tail) = rest.split_at(k);
        rest = tail;
        file.node.slots[n] = match group {
            [] => Slot::Empty,
            [one] => Slot::Leaf(*one),
            many => {
                prefix.push(n as u8);
                let (h, inline) = build_node(many, prefix, out);
                prefix.pop();
                file.inline[n] = inline.map(Box::new);
                Slot::Node(h)
            }
        };
    }
    let bytes = file.encode();
    let hash = file.node.hash();
    out.push(FileWrite {
        path: cas_path(&hash),
        bytes: bytes.clone(),
    });
    out.push(FileWrite {
        path: node_path(prefix),
        bytes,
    });
    let inline = (!prefix.is_empty() && file.inlinable()).then_some(file);
    (hash, inline)
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
            let file = NodeFile::decode(&p, &bytes)?;
            nodes.push(bytes);
            match walk(&file, &key, prefix.len()) {
                Walk::Next { depth, hash } => {
                    prefix = (0..depth).map(|i| nibble(&key, i) as u8).collect();
                    expect = hash;
                }
                Walk::End(_) | Walk::TooDeep => return Ok(MapProof { nodes }),
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
        let mut d = 0;
        for (i, bytes) in self.nodes.iter().enumerate() {
            let file = node_path(&(0..d).map(|i| nibble(&key, i) as u8).collect::<Vec<u8>>());
            let parsed = NodeFile::decode(&file, bytes)?;
            if parsed.node.hash() != expect {
                return Err(TlogError::BadProof(format!(
                    "{file} is not the node the signed state names (for {path}): it is from another snapshot or was changed"
                )));
            }
            match walk(&parsed, &key, d) {
                Walk::End(r) => return self.end(i, path, r),
                Walk::TooDeep => {
                    return Err(TlogError::BadProof(format!(
                        "the state map proof for {path} goes deeper than a key has nibbles"
                    )));
                }
                Walk::Next { depth, hash } => {
                    d = depth;
                    expect = hash;
                }
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

/// Where a key's walk through one node file ends.
enum Walk {
    /// At its leaf, an empty slot or another key's leaf.
    End(Lookup),
    /// At a child by hash: the node at `depth` (in another file) must hash to `hash`.
    Next { depth: usize, hash: Hash },
    /// A child below the 64th nibble: no valid map has one.
    TooDeep,
}

/// Follows `key` from `file`'s node (at `depth`) through its inline children.
fn walk(file: &NodeFile, key: &Hash, depth: usize) -> Walk {
    let (mut f, mut d) = (file, depth);
    loop {
        let s = nibble(key, d);
        match f.node.slots[s] {
            Slot::Empty => return Walk::End(Lookup::Absent),
            Slot::Leaf(l) if l.key == *key => {
                return Walk::End(Lookup::Present {
                    digest: l.value,
                    entry: l.entry,
                });
            }
            Slot::Leaf(_) => return Walk::End(Lookup::Absent),
            // A key has 64 nibbles: a child below the last one would be two paths with one
            // hash, so the proof is bad.
            Slot::Node(_) if d + 1 >= MAX_DEPTH => return Walk::TooDeep,
            Slot::Node(hash) => match &f.inline[s] {
                Some(c) => {
                    f = c;
                    d += 1;
                }
                None => return Walk::Next { depth: d + 1, hash },
            },
        }
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

    /// Every node of at most INLINE_LEAVES leaves comes inline with its parent: a proof never
    /// fetches one.
    #[test]
    fn small_children_come_inline() {
        let set: BTreeMap<String, FileDigest> = (0..400)
            .map(|i| (format!("index/{i}"), FileDigest::of(&[i as u8])))
            .collect();
        let (root, files) = fresh_root(&set);
        let mut asked = BTreeSet::new();
        for p in set.keys() {
            let mut f = |p: &str, _: usize| {
                asked.insert(p.to_string());
                Ok(files.get(p).cloned())
            };
            let proof = MapProof::fetch(&mut f, &root, p).unwrap();
            assert!(proof.verify(&root, p).is_ok());
        }
        assert!(asked.len() >= 17, "{}", asked.len());
        for p in &asked {
            let f = NodeFile::decode(p, &files[p]).unwrap();
            assert!(p == "state/map/node" || !f.inlinable(), "{p} came alone");
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
        bad[7] |= 1; // a leaf kind on slot 0, with no bytes for it
        assert!(Node::decode("f", &bad).is_err());
        // Inline children: 2 leaves, none by hash; the node's hash is the same either way.
        let leaf = |k: u8| {
            Slot::Leaf(Leaf {
                key: [k; 32],
                value: FileDigest::of(&[k]),
                entry: 1,
            })
        };
        let with_child = |child: NodeFile| {
            let mut f = NodeFile::of(n);
            f.node.slots[3] = Slot::Node(child.node.hash());
            f.inline[3] = Some(Box::new(child));
            f
        };
        let mut child = NodeFile::default();
        for k in 0..INLINE_LEAVES as u8 {
            child.node.slots[usize::from(k)] = leaf(k);
        }
        let ok = with_child(child.clone()).encode();
        let parsed = NodeFile::decode("f", &ok).unwrap();
        assert_eq!(parsed.leaves(), 1 + INLINE_LEAVES);
        assert_eq!(Node::decode("f", &ok).unwrap().hash(), parsed.node.hash());
        assert_eq!(
            parsed.node.encode().len() + 4 + INLINE_LEAVES * 66 - 32,
            ok.len()
        );
        let mut more = child.clone();
        more.node.slots[15] = leaf(15);
        assert!(NodeFile::decode("f", &with_child(more).encode()).is_err());
        let mut one = NodeFile::default();
        one.node.slots[0] = leaf(0);
        assert!(NodeFile::decode("f", &with_child(one).encode()).is_err());
        let mut by_hash = child;
        by_hash.node.slots[9] = Slot::Node([7; 32]);
        let e = NodeFile::decode("f", &with_child(by_hash).encode()).unwrap_err();
        assert!(e.to_string().contains("by hash"), "{e}");
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
        // A child the root names by hash (one inline in the root's file is read from there).
        let rootfile = NodeFile::decode("root", &files[&cas_path(&root)]).unwrap();
        let child = (0..16)
            .find_map(|s| match (rootfile.node.slots[s], &rootfile.inline[s]) {
                (Slot::Node(h), None) => Some(cas_path(&h)),
                _ => None,
            })
            .unwrap();
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
