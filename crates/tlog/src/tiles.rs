//! The transparency log as static files: C2SP tlog-tiles layout under `log/`.
//!
//! Why tiles: a log of a million entries has two million hashes; serving them as immutable
//! tiles of 256 hashes lets any static host (and any CDN cache) serve proofs, lets an append
//! write only the right edge (one partial tile per level, `log256(N)` files), and lets a client
//! compute tile paths from the tree size alone, so every tile it needs goes in one request wave.
//!
//! Layout (`index-format.md` §9.5): `log/tile/<L>/<N>` holds the 256 hashes of height `8·L`
//! numbered `256·N ..`, `log/tile/entries/<N>` the 256 entries whose leaf hashes are tile
//! `0/N`; a tile with fewer than 256 hashes ends in `.p/<W>`. `N` is written in groups of three
//! digits, all but the last prefixed with `x` (`1234067` is `x001/x234/067`).

use crate::TlogError;
use crate::hash::{Hash, leaf_hash, node_hash};
use crate::tree::{self, HashSource};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Hashes per full tile (tile height 8).
pub const TILE_WIDTH: u64 = 256;
/// Largest log entry, in bytes.
pub const MAX_ENTRY_BYTES: usize = 16 * 1024;
/// Largest tile file: 256 hashes.
pub const MAX_TILE_BYTES: usize = 32 * 256;
/// Largest entry bundle: 256 entries with their 2-byte length prefixes.
pub const MAX_BUNDLE_BYTES: usize = 256 * (2 + MAX_ENTRY_BYTES);

/// Reads registry files for the readers of this crate. `limit` is the most bytes the file may
/// have: an implementation MUST stop reading past it (and may fail), so a hostile server cannot
/// feed endless data. `Ok(None)` means the file does not exist (404).
pub trait Fetch {
    /// Fetches `path` (relative to the registry root), at most `limit` bytes.
    fn fetch(&mut self, path: &str, limit: usize) -> Result<Option<Vec<u8>>, TlogError>;
}

impl<F> Fetch for F
where
    F: FnMut(&str, usize) -> Result<Option<Vec<u8>>, TlogError>,
{
    fn fetch(&mut self, path: &str, limit: usize) -> Result<Option<Vec<u8>>, TlogError> {
        self(path, limit)
    }
}

/// Fetches a file that must exist and be at most `limit` bytes.
pub(crate) fn fetch_required(
    f: &mut dyn Fetch,
    path: &str,
    limit: usize,
) -> Result<Vec<u8>, TlogError> {
    match f.fetch(path, limit)? {
        None => Err(TlogError::Fetch {
            file: path.to_string(),
            reason: "missing (404)".into(),
        }),
        Some(b) if b.len() > limit => Err(TlogError::Malformed {
            file: path.to_string(),
            reason: format!("{} bytes, more than the {limit} allowed", b.len()),
        }),
        Some(b) => Ok(b),
    }
}

/// A file a writer produced: its path relative to the registry root and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite {
    /// Path relative to the registry root.
    pub path: String,
    /// Complete content.
    pub bytes: Vec<u8>,
}

fn index_path(mut n: u64) -> String {
    let mut parts = vec![format!("{:03}", n % 1000)];
    n /= 1000;
    while n > 0 {
        parts.push(format!("x{:03}", n % 1000));
        n /= 1000;
    }
    parts.reverse();
    parts.join("/")
}

fn width_suffix(width: u64) -> String {
    if width < TILE_WIDTH {
        format!(".p/{width}")
    } else {
        String::new()
    }
}

/// Path of hash tile `index` at `level` holding `width` (1..=256) hashes.
pub fn tile_path(level: u32, index: u64, width: u64) -> String {
    format!(
        "log/tile/{level}/{}{}",
        index_path(index),
        width_suffix(width)
    )
}

/// Path of entry bundle `index` holding `width` (1..=256) entries.
pub fn entries_path(index: u64, width: u64) -> String {
    format!(
        "log/tile/entries/{}{}",
        index_path(index),
        width_suffix(width)
    )
}

/// Every tile and entry bundle path a reader of a log of `size` entries reads from: the full
/// tiles of each level, the partial tile at each level's right edge, the entry bundles. What a
/// complete copy of the log (a mirror, `index-format.md` §9.8) holds; partial tiles of smaller
/// sizes are only read by clients holding an older checkpoint, which a copy refuses anyway.
pub fn log_files(size: u64) -> Vec<String> {
    let mut out = Vec::new();
    let mut level = 0u32;
    while level < 8 && (size >> (8 * level)) > 0 {
        let n = size >> (8 * level);
        out.extend((0..n / TILE_WIDTH).map(|t| tile_path(level, t, TILE_WIDTH)));
        if !n.is_multiple_of(TILE_WIDTH) {
            out.push(tile_path(level, n / TILE_WIDTH, n % TILE_WIDTH));
        }
        level += 1;
    }
    out.extend((0..size / TILE_WIDTH).map(|t| entries_path(t, TILE_WIDTH)));
    if !size.is_multiple_of(TILE_WIDTH) {
        out.push(entries_path(size / TILE_WIDTH, size % TILE_WIDTH));
    }
    out
}

/// Checks a copy of the log of `size` entries (every file of [`log_files`], read through
/// `fetch`) before it is exposed: each file of `check` (the new ones; the others were checked
/// when they were copied) is verified against its neighbours: an entry bundle's entries hash
/// to the level-0 tile of the same number, and each hash of a tile above level 0 is the root
/// of the full tile below it; finally the tiles must hash to the signed `root`. So a copy
/// holds exactly the log its checkpoint signs, every entry included.
pub fn check_log_files(
    fetch: &mut dyn Fetch,
    size: u64,
    root: &Hash,
    check: &BTreeSet<String>,
) -> Result<(), TlogError> {
    let mut level = 0u32;
    while level < 8 && (size >> (8 * level)) > 0 {
        let n = size >> (8 * level);
        for t in 0..n.div_ceil(TILE_WIDTH) {
            let width = (n - t * TILE_WIDTH).min(TILE_WIDTH);
            let path = tile_path(level, t, width);
            let epath = entries_path(t, width);
            if !(check.contains(&path) || level == 0 && check.contains(&epath)) {
                continue;
            }
            let bytes = fetch_required(fetch, &path, (32 * width) as usize)?;
            let hashes = parse_tile(&path, &bytes, width)?;
            if level == 0 {
                let b = fetch_required(fetch, &epath, MAX_BUNDLE_BYTES)?;
                let entries = parse_bundle(&epath, &b, width)?;
                if !entries
                    .iter()
                    .map(|e| leaf_hash(e))
                    .eq(hashes.iter().copied())
                {
                    return Err(TlogError::Malformed {
                        file: epath,
                        reason: format!("its entries do not hash to {path}"),
                    });
                }
                continue;
            }
            for (k, h) in hashes.iter().enumerate() {
                let below = tile_path(level - 1, t * TILE_WIDTH + k as u64, TILE_WIDTH);
                let b = fetch_required(fetch, &below, MAX_TILE_BYTES)?;
                if reduce(&parse_tile(&below, &b, TILE_WIDTH)?) != *h {
                    return Err(TlogError::Malformed {
                        file: path,
                        reason: format!("hash {k} is not the root of {below}"),
                    });
                }
            }
        }
        level += 1;
    }
    let got = tree::root(&mut TileReader::new(fetch, size), size)?;
    if got != *root {
        return Err(TlogError::BadProof(format!(
            "the log's tiles at size {size} do not hash to the signed log root"
        )));
    }
    Ok(())
}

/// Root of a perfect run of hashes (length a power of two).
fn reduce(hashes: &[Hash]) -> Hash {
    let mut v = hashes.to_vec();
    while v.len() > 1 {
        v = v.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
    }
    v[0]
}

fn parse_tile(path: &str, bytes: &[u8], width: u64) -> Result<Vec<Hash>, TlogError> {
    if bytes.len() as u64 != 32 * width {
        return Err(TlogError::Malformed {
            file: path.to_string(),
            reason: format!(
                "{} bytes; a tile of {width} hashes has {}",
                bytes.len(),
                32 * width
            ),
        });
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect())
}

/// Encodes an entry bundle: each entry as a 2-byte big-endian length and its bytes. Entries
/// must be at most [`MAX_ENTRY_BYTES`] ([`LogWriter::append`] checks it).
pub fn encode_bundle(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        out.extend_from_slice(&(e.len() as u16).to_be_bytes());
        out.extend_from_slice(e);
    }
    out
}

/// Parses an entry bundle that must hold exactly `width` entries and nothing else.
pub fn parse_bundle(path: &str, bytes: &[u8], width: u64) -> Result<Vec<Vec<u8>>, TlogError> {
    let bad = |reason: String| TlogError::Malformed {
        file: path.to_string(),
        reason,
    };
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if out.len() as u64 == width {
            return Err(bad(format!("more than the {width} entries it should hold")));
        }
        let [a, b, tail @ ..] = rest else {
            return Err(bad(format!("entry {} has a torn length", out.len())));
        };
        let n = u16::from_be_bytes([*a, *b]) as usize;
        if n > MAX_ENTRY_BYTES {
            return Err(bad(format!(
                "entry {} has {n} bytes (limit {MAX_ENTRY_BYTES})",
                out.len()
            )));
        }
        if tail.len() < n {
            return Err(bad(format!("entry {} is truncated", out.len())));
        }
        out.push(tail[..n].to_vec());
        rest = &tail[n..];
    }
    if out.len() as u64 != width {
        return Err(bad(format!("{} entries instead of {width}", out.len())));
    }
    Ok(out)
}

/// Reads a log of a known size (taken from a verified checkpoint) through fetched tiles: a
/// [`HashSource`] for the proofs of [`crate::tree`]. Tiles are cached; nothing fetched is
/// trusted, since every proof computed from them is verified against the signed root.
pub struct TileReader<'a> {
    fetch: &'a mut dyn Fetch,
    size: u64,
    cache: HashMap<(u32, u64), Vec<Hash>>,
    bytes: u64,
    files: u64,
}

impl<'a> TileReader<'a> {
    /// A reader of the log of `size` entries.
    pub fn new(fetch: &'a mut dyn Fetch, size: u64) -> TileReader<'a> {
        TileReader {
            fetch,
            size,
            cache: HashMap::new(),
            bytes: 0,
            files: 0,
        }
    }

    /// Bytes and files fetched so far.
    pub fn fetched(&self) -> (u64, u64) {
        (self.bytes, self.files)
    }

    fn tile(&mut self, level: u32, index: u64) -> Result<&[Hash], TlogError> {
        if !self.cache.contains_key(&(level, index)) {
            let n = self.size >> (8 * level);
            let width = (n - index * TILE_WIDTH).min(TILE_WIDTH);
            let path = tile_path(level, index, width);
            let bytes = fetch_required(self.fetch, &path, (32 * width) as usize)?;
            self.bytes += bytes.len() as u64;
            self.files += 1;
            let hashes = parse_tile(&path, &bytes, width)?;
            self.cache.insert((level, index), hashes);
        }
        Ok(&self.cache[&(level, index)])
    }

    /// The entry at `index` and a check that it hashes to the leaf the tiles hold. (The
    /// caller still needs an inclusion proof against a signed root to trust either.)
    pub fn entry(&mut self, index: u64) -> Result<Vec<u8>, TlogError> {
        if index >= self.size {
            return Err(TlogError::Invalid(format!(
                "entry {index} is not in a log of {} entries",
                self.size
            )));
        }
        let t = index / TILE_WIDTH;
        let width = (self.size - t * TILE_WIDTH).min(TILE_WIDTH);
        let path = entries_path(t, width);
        let limit = (width as usize) * (2 + MAX_ENTRY_BYTES);
        let bytes = fetch_required(self.fetch, &path, limit)?;
        self.bytes += bytes.len() as u64;
        self.files += 1;
        let mut all = parse_bundle(&path, &bytes, width)?;
        Ok(all.swap_remove((index % TILE_WIDTH) as usize))
    }
}

impl HashSource for TileReader<'_> {
    fn node(&mut self, height: u32, index: u64) -> Result<Hash, TlogError> {
        let end = (index as u128 + 1) << height;
        if height > 63 || end > self.size as u128 {
            return Err(TlogError::Invalid(format!(
                "node {height}/{index} is outside a log of {} entries",
                self.size
            )));
        }
        let (level, j) = (height / 8, height % 8);
        let first = index << j;
        let (t, off) = (first / TILE_WIDTH, (first % TILE_WIDTH) as usize);
        let tile = self.tile(level, t)?;
        let run = tile.get(off..off + (1usize << j)).ok_or_else(|| {
            TlogError::Invalid(format!("node {height}/{index} is not in tile {level}/{t}"))
        })?;
        Ok(reduce(run))
    }
}

/// Appends to the log and says which files to write. It holds the right edge of the tree (the
/// partial tile of each level and the partial entry bundle): `O(log N)` hashes, read back with
/// [`LogWriter::open`] from `O(log N)` files.
#[derive(Debug, Clone, Default)]
pub struct LogWriter {
    size: u64,
    edges: Vec<Vec<Hash>>,
    bundle: Vec<Vec<u8>>,
}

struct EdgeSource<'a>(&'a LogWriter);

impl HashSource for EdgeSource<'_> {
    fn node(&mut self, height: u32, index: u64) -> Result<Hash, TlogError> {
        let w = self.0;
        let (level, j) = (height / 8, height % 8);
        let n = w.size >> (8 * level);
        let start = (n / TILE_WIDTH) * TILE_WIDTH;
        let first = index << j;
        let edge = w
            .edges
            .get(level as usize)
            .map_or(&[][..], |e| e.as_slice());
        let run = first
            .checked_sub(start)
            .and_then(|o| edge.get(o as usize..o as usize + (1usize << j)))
            .ok_or_else(|| {
                TlogError::Invalid(format!("node {height}/{index} is not on the right edge"))
            })?;
        Ok(reduce(run))
    }
}

impl LogWriter {
    /// The writer of a new, empty log.
    pub fn new() -> LogWriter {
        LogWriter::default()
    }

    /// Opens a log of `size` entries by reading its right edge (one partial tile per level and
    /// the partial entry bundle). Compare [`LogWriter::root`] with the last checkpoint before
    /// appending, so a damaged edge is never extended.
    pub fn open(fetch: &mut dyn Fetch, size: u64) -> Result<LogWriter, TlogError> {
        let mut w = LogWriter {
            size,
            ..LogWriter::default()
        };
        let mut level = 0u32;
        while level < 8 && (size >> (8 * level)) > 0 {
            let n = size >> (8 * level);
            let width = n % TILE_WIDTH;
            let edge = if width > 0 {
                let path = tile_path(level, n / TILE_WIDTH, width);
                let bytes = fetch_required(fetch, &path, (32 * width) as usize)?;
                parse_tile(&path, &bytes, width)?
            } else {
                Vec::new()
            };
            w.edges.push(edge);
            level += 1;
        }
        let width = size % TILE_WIDTH;
        if width > 0 {
            let path = entries_path(size / TILE_WIDTH, width);
            let bytes = fetch_required(fetch, &path, MAX_BUNDLE_BYTES)?;
            w.bundle = parse_bundle(&path, &bytes, width)?;
            // The partial level-0 tile must hold these entries' leaf hashes.
            let leaves: Vec<Hash> = w.bundle.iter().map(|e| leaf_hash(e)).collect();
            if w.edges.first() != Some(&leaves) {
                return Err(TlogError::Malformed {
                    file: path,
                    reason: "its entries do not hash to the partial tile at level 0".into(),
                });
            }
        }
        Ok(w)
    }

    /// Number of entries.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 6962 root of the log.
    pub fn root(&self) -> Hash {
        tree::root(&mut EdgeSource(self), self.size)
            .expect("the right edge holds every node of the root's decomposition")
    }

    /// Appends entries; returns the tile and bundle files to write (new paths only: tiles are
    /// immutable, so they can be written before the checkpoint that names the new size).
    pub fn append(&mut self, entries: &[Vec<u8>]) -> Result<Vec<FileWrite>, TlogError> {
        if let Some((i, e)) = entries
            .iter()
            .enumerate()
            .find(|(_, e)| e.len() > MAX_ENTRY_BYTES)
        {
            return Err(TlogError::Invalid(format!(
                "log entry {i} has {} bytes (limit {MAX_ENTRY_BYTES})",
                e.len()
            )));
        }
        let mut out = BTreeMap::new();
        let mut dirty = BTreeSet::new();
        let mut bundle_dirty = false;
        for e in entries {
            self.bundle.push(e.clone());
            self.size += 1;
            if self.bundle.len() as u64 == TILE_WIDTH {
                let idx = self.size / TILE_WIDTH - 1;
                out.insert(entries_path(idx, TILE_WIDTH), encode_bundle(&self.bundle));
                self.bundle.clear();
                bundle_dirty = false;
            } else {
                bundle_dirty = true;
            }
            let mut h = leaf_hash(e);
            let mut level = 0usize;
            loop {
                if self.edges.len() <= level {
                    self.edges.push(Vec::new());
                }
                self.edges[level].push(h);
                if self.edges[level].len() as u64 == TILE_WIDTH {
                    let full = std::mem::take(&mut self.edges[level]);
                    let idx = (self.size >> (8 * level)) / TILE_WIDTH - 1;
                    out.insert(tile_path(level as u32, idx, TILE_WIDTH), full.concat());
                    dirty.remove(&level);
                    h = reduce(&full);
                    level += 1;
                } else {
                    dirty.insert(level);
                    break;
                }
            }
        }
        for level in dirty {
            let n = self.size >> (8 * level);
            let edge = &self.edges[level];
            out.insert(
                tile_path(level as u32, n / TILE_WIDTH, edge.len() as u64),
                edge.concat(),
            );
        }
        if bundle_dirty {
            out.insert(
                entries_path(self.size / TILE_WIDTH, self.bundle.len() as u64),
                encode_bundle(&self.bundle),
            );
        }
        Ok(out
            .into_iter()
            .map(|(path, bytes)| FileWrite { path, bytes })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{MemTree, consistency_proof, inclusion_proof, root, verify_consistency};
    use std::collections::HashMap;

    fn entry(i: u64) -> Vec<u8> {
        format!("entry {i}\n").into_bytes()
    }

    type Files = HashMap<String, Vec<u8>>;

    fn fetcher(files: &Files) -> impl FnMut(&str, usize) -> Result<Option<Vec<u8>>, TlogError> {
        move |p: &str, limit: usize| Ok(files.get(p).map(|b| b[..b.len().min(limit + 1)].to_vec()))
    }

    #[test]
    fn paths_follow_c2sp() {
        assert_eq!(tile_path(0, 0, 256), "log/tile/0/000");
        assert_eq!(tile_path(1, 1234067, 256), "log/tile/1/x001/x234/067");
        assert_eq!(tile_path(2, 5, 17), "log/tile/2/005.p/17");
        assert_eq!(entries_path(1000, 3), "log/tile/entries/x001/000.p/3");
    }

    /// Builds logs by appending in uneven batches, writing the files, reopening the writer from
    /// the files between batches; the root always equals the in-memory tree's, every append
    /// writes few files, and proofs computed from the tiles verify.
    #[test]
    fn writer_tiles_and_reader_agree_with_the_memory_tree() {
        let mut files: Files = HashMap::new();
        let mut mem = MemTree::new();
        let mut w = LogWriter::new();
        let mut roots = vec![crate::hash::empty_root()];
        let batches = [1u64, 2, 3, 250, 1, 7, 300, 255, 1, 1, 66000, 5];
        let mut i = 0u64;
        for (b, &n) in batches.iter().enumerate() {
            let entries: Vec<Vec<u8>> = (i..i + n).map(entry).collect();
            let written = w.append(&entries).unwrap();
            if n == 1 {
                assert!(written.len() <= 4, "{written:?}");
            }
            for f in written {
                assert!(
                    !files.contains_key(&f.path),
                    "tiles are immutable: {}",
                    f.path
                );
                files.insert(f.path, f.bytes);
            }
            for e in &entries {
                mem.push(leaf_hash(e));
                let n = mem.size();
                roots.push(root(&mut mem, n).unwrap());
            }
            i += n;
            assert_eq!(w.root(), *roots.last().unwrap(), "batch {b}");
            // Reopen from the files.
            let mut f = fetcher(&files);
            w = LogWriter::open(&mut f, i).unwrap();
            assert_eq!(w.root(), *roots.last().unwrap());
        }
        let size = i;
        let mut f = fetcher(&files);
        let mut r = TileReader::new(&mut f, size);
        assert_eq!(root(&mut r, size).unwrap(), roots[size as usize]);
        for idx in [0, 1, 255, 256, 65535, 65536, size - 1] {
            let p = inclusion_proof(&mut r, idx, size).unwrap();
            let e = r.entry(idx).unwrap();
            assert_eq!(e, entry(idx));
            crate::tree::verify_inclusion(&leaf_hash(&e), idx, size, &p, &roots[size as usize])
                .unwrap();
        }
        for old in [1, 3, 6, 256, 257, 518, 65536, size - 1] {
            let p = consistency_proof(&mut r, old, size).unwrap();
            verify_consistency(old, size, &p, &roots[old as usize], &roots[size as usize]).unwrap();
        }
        // Older sizes read their own (partial) tiles, which are still there.
        for old in [6u64, 257, 564, 821] {
            let mut f = fetcher(&files);
            let mut r = TileReader::new(&mut f, old);
            assert_eq!(root(&mut r, old).unwrap(), roots[old as usize]);
        }
    }

    /// A log grown one entry at a time to 600 (every size has its partial tiles): at every size
    /// the tiles give the memory tree's root, and proofs from them verify.
    #[test]
    fn tiles_at_every_size_up_to_600() {
        let mut files: Files = HashMap::new();
        let mut mem = MemTree::new();
        let mut w = LogWriter::new();
        let mut roots = vec![crate::hash::empty_root()];
        for i in 0..600u64 {
            for f in w.append(&[entry(i)]).unwrap() {
                files.insert(f.path, f.bytes);
            }
            mem.push(leaf_hash(&entry(i)));
            roots.push(w.root());
        }
        for n in 1..=600u64 {
            let mut f = fetcher(&files);
            let mut r = TileReader::new(&mut f, n);
            let rn = roots[n as usize];
            assert_eq!(root(&mut r, n).unwrap(), rn, "{n}");
            assert_eq!(root(&mut mem, n).unwrap(), rn, "{n}");
            for i in [0, n / 3, n - 1] {
                let p = inclusion_proof(&mut r, i, n).unwrap();
                crate::tree::verify_inclusion(&leaf_hash(&entry(i)), i, n, &p, &rn).unwrap();
            }
            for m in [1, n / 2, n - 1] {
                let p = consistency_proof(&mut r, m, n).unwrap();
                verify_consistency(m, n, &p, &roots[m as usize], &rn).unwrap();
            }
        }
    }

    #[test]
    fn damaged_tiles_and_bundles_are_refused() {
        let mut w = LogWriter::new();
        let written = w.append(&(0..300).map(entry).collect::<Vec<_>>()).unwrap();
        let files: Files = written.into_iter().map(|f| (f.path, f.bytes)).collect();
        let good_root = w.root();
        // Truncated, oversized and tampered tiles.
        for (path, change) in [
            ("log/tile/0/001.p/44", 0usize),
            ("log/tile/0/001.p/44", 1),
            ("log/tile/0/000", 2),
            ("log/tile/entries/001.p/44", 0),
            ("log/tile/entries/001.p/44", 1),
            ("log/tile/entries/001.p/44", 2),
        ] {
            let mut bad = files.clone();
            let b = bad.get_mut(path).unwrap();
            match change {
                0 => {
                    b.pop();
                }
                1 => b.extend_from_slice(&[0; 32]),
                _ => {
                    let last = b.len() - 1;
                    b[last] ^= 1;
                }
            }
            let mut f = fetcher(&bad);
            let opened = LogWriter::open(&mut f, 300);
            let ok_root = opened
                .as_ref()
                .map(|w| w.root() == good_root)
                .unwrap_or(false);
            let mut f = fetcher(&bad);
            let mut r = TileReader::new(&mut f, 300);
            let read_root = root(&mut r, 300).ok();
            let entry_ok = r.entry(299).ok() == Some(entry(299));
            let proof_ok = inclusion_proof(&mut r, 5, 300).is_ok_and(|p| {
                crate::tree::verify_inclusion(&leaf_hash(&entry(5)), 5, 300, &p, &good_root).is_ok()
            });
            assert!(
                !ok_root || read_root != Some(good_root) || !entry_ok || !proof_ok,
                "{path} change {change} went unnoticed"
            );
        }
        // A missing tile is an error naming it.
        let mut none = |_: &str, _: usize| Ok(None);
        let e = LogWriter::open(&mut none, 300).unwrap_err().to_string();
        assert!(e.contains("log/tile/0/001.p/44"), "{e}");
        // Bundles: wrong count, torn length.
        assert!(parse_bundle("b", &encode_bundle(&[entry(1)]), 2).is_err());
        assert!(parse_bundle("b", &[0], 1).is_err());
        assert!(parse_bundle("b", &[0, 5, 1], 1).is_err());
        assert!(w.append(&[vec![0; MAX_ENTRY_BYTES + 1]]).is_err());
    }
}
