//! The catalog files (`index-format.md` §10.2), their paths, and their parsers.
//!
//! Parsers are the only way the reader and the writer turn bytes into these types, and they
//! check every rule of the format a single file can break (version, the key a file is stored
//! under, sorted and unique entries, postings below the root's slot count), so that query
//! evaluation never meets an impossible value. The caller checks sizes before parsing: every
//! kind of file has a limit here.

use crate::codec::{self, Posting};
use crate::doc::Summary;
use crate::tokenize::{MAX_TERM_CHARS, shard_file_name, shard_key_in};
use crate::{BLOCK_DOCS, CatalogError, POSTINGS_CAP, PREFIX_CHARS};
use ratchet_formats::manifest::{BundleId, PricingModel};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Format version of the summary blocks and the forward files.
pub const CATALOG_FORMAT: u32 = 1;
/// Format version of the term shards: 2 since every posting has a result card (`c`) instead of
/// the first page's summaries (`s`) (§10.2); a version-1 reader refuses them, and this reader
/// refuses a shard of version 1 (the catalog is rebuilt: `ratchet-index catalog rebuild`, which
/// the publish tool runs when an update meets one).
pub const TERM_FORMAT: u32 = 2;
/// Format version of `catalog/root.json`: 2 since its `split` prefixes are written as one
/// trie string instead of a list (§10.2); a version-1 reader refuses it. A root of version 1 is
/// still read.
pub const ROOT_FORMAT: u32 = 2;
/// Format version of the facet files (heads and chunks): 2 since a facet value's set is cut
/// into chunks of [`FACET_CHUNK`] ordinals, 3 since a head carries the summaries of its first
/// 50 members, not 10 (§10.2); an older reader refuses them, and this reader refuses older
/// ones (the publish tool rebuilds the catalog when an update meets one).
pub const FACET_FORMAT: u32 = 3;
/// Ordinals per facet chunk: chunk `c` holds the members in `[c * FACET_CHUNK, (c + 1) *
/// FACET_CHUNK)`, at most 8 KiB as a bitmap.
pub const FACET_CHUNK: u32 = 65536;
/// The catalog's directory.
pub const CATALOG_DIR: &str = "catalog";
/// The root file.
pub const ROOT_PATH: &str = "catalog/root.json";

/// Largest root file a reader accepts.
pub const MAX_ROOT: u64 = 256 * 1024;
/// Largest term shard a reader accepts (writers keep shards under [`SHARD_TARGET`]).
pub const MAX_SHARD: u64 = 256 * 1024;
/// Size a writer keeps a term shard under, by cutting the longest posting lists further.
pub const SHARD_TARGET: usize = 24 * 1024;
/// Largest summary block a reader accepts.
pub const MAX_BLOCK: u64 = 64 * 1024;
/// Largest facet head file a reader accepts.
pub const MAX_FACET: u64 = 256 * 1024;
/// Largest facet chunk file a reader accepts (its set is at most 8 KiB as a bitmap).
pub const MAX_FACET_CHUNK: u64 = 32 * 1024;
/// Largest forward file a reader accepts.
pub const MAX_FORWARD: u64 = 256 * 1024;

/// `catalog/root.json`: global statistics and the counts of the small facets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Root {
    /// [`ROOT_FORMAT`] (1 in a root written before it).
    pub v: u32,
    /// Incremented by every update; a rebuild starts at 1.
    pub generation: u64,
    /// Searchable bundles.
    pub docs: u32,
    /// Ordinals handed out (every ordinal is below this).
    pub slots: u32,
    /// Sum of the searchable bundles' weighted lengths, in halves.
    pub total_len: u64,
    /// [`crate::PREFIX_CHARS`] of the writer.
    pub prefix_chars: u32,
    /// [`crate::BLOCK_DOCS`] of the writer.
    pub block_docs: u32,
    /// [`crate::POSTINGS_CAP`] of the writer.
    pub postings_cap: u32,
    /// Facet kind -> value -> searchable bundles with it, for the kinds of
    /// [`crate::doc::ROOT_FACETS`].
    pub facets: BTreeMap<String, BTreeMap<String, u32>>,
    /// Split shard prefixes: the terms that start with one of these and are longer than it
    /// live in shards keyed one character longer (§10.1).
    #[serde(default)]
    pub split: SplitSet,
    /// The most common tags (at most [`crate::TOP_TAGS`]) with their counts: exact after a
    /// rebuild, approximate between rebuilds (§10.2).
    #[serde(default)]
    pub tags: BTreeMap<String, u32>,
}

impl Root {
    /// An empty catalog.
    pub fn empty() -> Self {
        Root {
            v: ROOT_FORMAT,
            generation: 0,
            docs: 0,
            slots: 0,
            total_len: 0,
            prefix_chars: PREFIX_CHARS as u32,
            block_docs: BLOCK_DOCS,
            postings_cap: POSTINGS_CAP as u32,
            facets: BTreeMap::new(),
            split: SplitSet::default(),
            tags: BTreeMap::new(),
        }
    }

    /// Mean weighted length of a searchable bundle (1 when empty).
    pub fn avg_len(&self) -> f64 {
        if self.docs == 0 {
            1.0
        } else {
            (self.total_len as f64 / 2.0 / f64::from(self.docs)).max(1.0)
        }
    }
}

/// Most split prefixes a root may list (a million generated bundles need about 10,000): bounds
/// what a hostile root expands to in memory (up to 40 characters per prefix).
pub const MAX_SPLITS: usize = 100_000;

/// The root's split shard prefixes: a sorted set of strings held in one buffer, so that reading
/// a root with thousands of them costs two allocations, not one per prefix (an update reads and
/// writes the root every time). Serialized as a trie string (§10.2: `acc(o(u)t) dev(1)` for
/// `acc`, `acco`, `accou`, `acct`, `dev`, `dev1`), a quarter of the size of a JSON list of the
/// same prefixes, which every query fetches; a list (a root of version 1) is read too.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SplitSet {
    buf: String,
    /// End of each prefix in `buf`, by increasing prefix.
    ends: Vec<usize>,
}

impl SplitSet {
    fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }

    fn find(&self, p: &str) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.ends.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid).cmp(p) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    /// Whether `p` is a split prefix.
    pub fn contains(&self, p: &str) -> bool {
        self.find(p).is_ok()
    }

    /// Adds `p`; false when it was there.
    pub fn insert(&mut self, p: &str) -> bool {
        let Err(i) = self.find(p) else { return false };
        let at = if i == 0 { 0 } else { self.ends[i - 1] };
        self.buf.insert_str(at, p);
        for e in &mut self.ends[i..] {
            *e += p.len();
        }
        self.ends.insert(i, at + p.len());
        true
    }

    /// The prefixes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.ends.len()).map(|i| self.get(i))
    }

    /// Number of prefixes.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

impl std::fmt::Debug for SplitSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<'a> FromIterator<&'a str> for SplitSet {
    fn from_iter<I: IntoIterator<Item = &'a str>>(it: I) -> Self {
        let mut s = SplitSet::default();
        for p in it {
            s.insert(p);
        }
        s
    }
}

impl SplitSet {
    /// The trie string of the set (§10.2). Every prefix longer than [`PREFIX_CHARS`] has its
    /// parent (one character shorter) in the set, so in sorted order each prefix is either a
    /// base (of [`PREFIX_CHARS`] characters) or a child of an earlier one.
    pub fn to_trie(&self) -> String {
        let mut out = String::with_capacity(self.buf.len() / 3);
        // The open path: each prefix with whether its children's `(` was written.
        let mut path: Vec<(&str, bool)> = Vec::new();
        for p in self.iter() {
            while let Some(&(top, open)) = path.last() {
                if p.len() > top.len() && p.starts_with(top) {
                    break;
                }
                path.pop();
                if open {
                    out.push(')');
                }
            }
            match path.last_mut() {
                None => {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    out.push_str(p);
                }
                Some((top, open)) => {
                    if !*open {
                        out.push('(');
                        *open = true;
                    }
                    out.push_str(&p[top.len()..]);
                }
            }
            path.push((p, false));
        }
        while let Some((_, open)) = path.pop() {
            if open {
                out.push(')');
            }
        }
        out
    }

    /// Reads a trie string (§10.2). Refuses anything but bases of [`PREFIX_CHARS`] characters
    /// (none a space or a parenthesis) separated by one space, each followed by its children in
    /// parentheses, each child one such character followed by its own, in increasing order
    /// without repeats, at most [`MAX_TERM_CHARS`] characters deep and at most [`MAX_SPLITS`]
    /// prefixes.
    pub fn from_trie(t: &str) -> Result<SplitSet, String> {
        /// What was read last.
        #[derive(PartialEq)]
        enum Last {
            Start,
            Space,
            Prefix,
            Open,
            Close,
        }
        let mut s = SplitSet::default();
        // Byte lengths of the prefixes whose children are open.
        let mut open: Vec<usize> = Vec::new();
        // The last prefix read.
        let mut cur = String::new();
        let mut last = Last::Start;
        let mut chars = t.char_indices();
        while let Some((at, c)) = chars.next() {
            let ok = match c {
                ' ' => open.is_empty() && matches!(last, Last::Prefix | Last::Close),
                '(' => last == Last::Prefix && cur.chars().count() < MAX_TERM_CHARS,
                ')' => !open.is_empty() && matches!(last, Last::Prefix | Last::Close),
                c => match open.last() {
                    Some(&parent) => {
                        cur.truncate(parent);
                        cur.push(c);
                        true
                    }
                    None if matches!(last, Last::Start | Last::Space) => {
                        cur.clear();
                        cur.push(c);
                        for _ in 1..PREFIX_CHARS {
                            match chars.next() {
                                Some((_, c)) if !matches!(c, ' ' | '(' | ')') => cur.push(c),
                                _ => {
                                    return Err(format!(
                                        "the base at byte {at} is not {PREFIX_CHARS} characters"
                                    ));
                                }
                            }
                        }
                        true
                    }
                    None => false,
                },
            };
            if !ok {
                return Err(format!("unexpected {c:?} at byte {at}"));
            }
            last = match c {
                ' ' => Last::Space,
                '(' => {
                    open.push(cur.len());
                    Last::Open
                }
                ')' => {
                    open.pop();
                    Last::Close
                }
                _ => {
                    if s.ends.len() >= MAX_SPLITS {
                        return Err(format!("more than {MAX_SPLITS} prefixes"));
                    }
                    if s.ends.last().is_some() && s.get(s.ends.len() - 1) >= cur.as_str() {
                        return Err(format!("prefix `{cur}` (at byte {at}) is out of order"));
                    }
                    s.buf.push_str(&cur);
                    s.ends.push(s.buf.len());
                    Last::Prefix
                }
            };
        }
        if !open.is_empty() || matches!(last, Last::Space | Last::Open) {
            return Err("ends inside the trie".into());
        }
        Ok(s)
    }
}

impl Serialize for SplitSet {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(&self.to_trie())
    }
}

impl<'de> Deserialize<'de> for SplitSet {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        /// Appends one string to the buffer without allocating it on its own.
        struct Push<'s>(&'s mut SplitSet);
        impl<'de> serde::de::DeserializeSeed<'de> for Push<'_> {
            type Value = ();
            fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
                de.deserialize_str(self)
            }
        }
        impl serde::de::Visitor<'_> for Push<'_> {
            type Value = ();
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
                self.0.buf.push_str(v);
                self.0.ends.push(self.0.buf.len());
                Ok(())
            }
        }
        struct Any;
        impl<'de> serde::de::Visitor<'de> for Any {
            type Value = SplitSet;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a trie string or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SplitSet, E> {
                SplitSet::from_trie(v).map_err(|e| E::custom(format!("split: {e}")))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<SplitSet, A::Error> {
                let mut s = SplitSet::default();
                while a.next_element_seed(Push(&mut s))?.is_some() {}
                // Written sorted and without repeats; anything else is put in order.
                let sorted = (1..s.ends.len()).all(|i| s.get(i - 1) < s.get(i));
                if sorted {
                    Ok(s)
                } else {
                    let mut v: Vec<&str> = s.iter().collect();
                    v.sort_unstable();
                    v.dedup();
                    Ok(v.into_iter().collect())
                }
            }
        }
        de.deserialize_any(Any)
    }
}

/// One term of a shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermEntry {
    /// The term.
    pub t: String,
    /// Searchable bundles holding it (may exceed the postings kept).
    pub df: u32,
    /// The postings, encoded ([`codec::encode_postings`]).
    pub p: String,
    /// The result card of every posting, in the postings' order (§10.2).
    pub c: Vec<Card>,
}

/// A result card (§10.2): what a result shows of a bundle that its posting does not carry, and
/// the keys of its facet values, as a JSON array `[id, name, version, description, license,
/// price, downloads, trend, rating, updated, keys]`. Its ordinal, pricing model, verification
/// status and deprecation are the posting's. Every posting of a term has one, so a text query
/// fetches neither a summary block nor a facet file for a bundle its terms matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Card(
    pub BundleId,
    pub String,
    pub String,
    pub String,
    pub String,
    pub Option<crate::doc::DocPrice>,
    pub u64,
    pub f64,
    pub Option<f64>,
    pub String,
    /// The keys of its `category`, `tag`, `author` and `license` values ([`facet_key`]),
    /// sorted, as [`codec::encode_keys`] writes them.
    pub String,
);

/// Most facet keys a card may hold: the sum of [`CARD_FACET_LIMITS`].
pub const MAX_CARD_KEYS: usize = 100;

/// Most values of each kind of [`CARD_FACETS`] a card carries keys of (the first by value, in
/// byte order): a bundle with more tags is still listed under every one of them, but a text
/// query filtered by one of the others does not find it (§10.2).
pub const CARD_FACET_LIMITS: [usize; 4] = [16, 64, 4, 16];

/// The facet kinds a card carries keys of, in the order of their 2-bit number in a key.
pub const CARD_FACETS: [&str; 4] = ["category", "tag", "author", "license"];

/// The key of a facet value in a card (§10.2): the kind's number (its place in
/// [`CARD_FACETS`]) in the top 2 bits, and the first 30 bits of the SHA-256 of the
/// (normalised) value; `None` for a kind cards do not carry.
pub fn facet_key(kind: &str, value: &str) -> Option<u32> {
    let k = CARD_FACETS.iter().position(|&c| c == kind)? as u32;
    let h = Sha256::digest(value.as_bytes());
    Some(k << 30 | u32::from_be_bytes([h[0], h[1], h[2], h[3]]) >> 2)
}

/// The sorted facet keys of a bundle's facet values (kind -> values).
pub fn card_keys(facets: &BTreeMap<String, Vec<String>>) -> Vec<u32> {
    let mut keys: Vec<u32> = Vec::new();
    for (kind, limit) in CARD_FACETS.iter().zip(CARD_FACET_LIMITS) {
        let mut values: Vec<&String> = facets.get(*kind).into_iter().flatten().collect();
        values.sort_unstable();
        values.dedup();
        keys.extend(
            values
                .into_iter()
                .take(limit)
                .filter_map(|v| facet_key(kind, v)),
        );
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

impl Card {
    /// The card of a summary, with the bundle's facet keys ([`card_keys`]).
    pub fn of(s: &Summary, keys: &[u32]) -> Card {
        Card(
            s.id.clone(),
            s.name.clone(),
            s.version.clone(),
            s.description.clone(),
            s.license.clone(),
            s.price.clone(),
            s.downloads,
            s.trend,
            s.rating,
            s.updated.clone(),
            codec::encode_keys(keys),
        )
    }

    /// Its facet keys, checked.
    pub fn keys(&self) -> Result<Vec<u32>, codec::DecodeError> {
        codec::decode_keys(&self.10, MAX_CARD_KEYS)
    }

    /// The summary of the bundle of posting `p` with this card; `None` when the posting's
    /// pricing code is unknown.
    pub fn into_summary(self, p: &Posting) -> Option<Summary> {
        let pricing = match p.model {
            0 => PricingModel::Free,
            1 => PricingModel::Paid,
            2 => PricingModel::Freemium,
            3 => PricingModel::Subscription,
            _ => return None,
        };
        let verified = match p.flags & 0b11 {
            0 => crate::Verified::None,
            1 => crate::Verified::Community,
            2 => crate::Verified::Official,
            _ => return None,
        };
        let Card(
            id,
            name,
            version,
            description,
            license,
            price,
            downloads,
            trend,
            rating,
            updated,
            _,
        ) = self;
        Some(Summary {
            ord: p.ord,
            id,
            name,
            version,
            description,
            license,
            pricing,
            price,
            verified,
            downloads,
            trend,
            rating,
            updated,
            deprecated: p.flags & 0b100 != 0,
        })
    }
}

/// `catalog/terms/<key>.json`: the terms starting with one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermShard {
    /// [`TERM_FORMAT`].
    pub v: u32,
    /// The shard key: the first [`crate::PREFIX_CHARS`] characters of its terms.
    pub key: String,
    /// Terms, sorted, unique.
    pub terms: Vec<TermEntry>,
}

/// `catalog/docs/<n>.json`: the summaries of ordinals `n * 8 .. n * 8 + 8`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocBlock {
    /// [`CATALOG_FORMAT`].
    pub v: u32,
    /// The block number.
    pub block: u32,
    /// Summaries of the searchable bundles of the block, by ordinal.
    pub docs: Vec<Summary>,
}

/// `catalog/facets/<kind>/<h>.json`: the head of one facet value's set of bundles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FacetFile {
    /// [`FACET_FORMAT`].
    pub v: u32,
    /// Facet kind.
    pub kind: String,
    /// The value (normalised as §10.3 says).
    pub value: String,
    /// Number of bundles.
    pub count: u32,
    /// The non-empty chunks `(c, members)`, by increasing `c`; the members sum to `count`.
    pub chunks: Vec<(u32, u32)>,
    /// The summaries of the listing's first [`crate::PAGE_DOCS`] members (its lowest
    /// ordinals, by ordinal, §10.2), so that listing one value up to them costs no chunk and no
    /// block.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub s: Vec<Summary>,
}

/// `catalog/facets/<kind>/<h>/<c>.json`: the members of one facet value in the ordinal range
/// `[c * FACET_CHUNK, (c + 1) * FACET_CHUNK)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FacetChunk {
    /// [`FACET_FORMAT`].
    pub v: u32,
    /// Facet kind.
    pub kind: String,
    /// The value.
    pub value: String,
    /// The chunk number `c`.
    pub chunk: u32,
    /// The members minus `c * FACET_CHUNK` ([`codec::encode_set`]).
    pub docs: String,
}

/// `catalog/fwd/<aa>/<bb>/<id>.json`: what the writer indexed for a bundle, so that an update
/// removes exactly its old postings and facet memberships. Clients never read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forward {
    /// [`CATALOG_FORMAT`].
    pub v: u32,
    /// The bundle id.
    pub id: BundleId,
    /// Its ordinal (kept for ever, also while it is not searchable).
    pub ord: u32,
    /// Searchable (false when every version is yanked).
    pub live: bool,
    /// Its weighted length, in halves.
    pub len: u64,
    /// Its terms.
    pub terms: Vec<String>,
    /// Its facet values.
    pub facets: BTreeMap<String, Vec<String>>,
}

/// The largest size a reader accepts for the catalog file at `path` (by its directory).
pub fn limit_for(path: &str) -> u64 {
    let rest = path.strip_prefix("catalog/").unwrap_or(path);
    match rest.split('/').next() {
        Some("terms") => MAX_SHARD,
        Some("facets") if rest.split('/').count() > 3 => MAX_FACET_CHUNK,
        Some("facets") => MAX_FACET,
        Some("docs") => MAX_BLOCK,
        Some("fwd") => MAX_FORWARD,
        _ => MAX_ROOT,
    }
}

/// Path of a term shard.
pub fn shard_path(key: &str) -> String {
    format!("{CATALOG_DIR}/terms/{}.json", shard_file_name(key))
}

/// Path of a summary block.
pub fn block_path(block: u32) -> String {
    format!("{CATALOG_DIR}/docs/{block}.json")
}

/// Path of a facet value's file: its name is the first 16 hex digits of the SHA-256 of the
/// value, so that any value (spaces, slashes, Unicode) maps to a safe name.
pub fn facet_path(kind: &str, value: &str) -> String {
    let h = Sha256::digest(value.as_bytes());
    let hex: String = h[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{CATALOG_DIR}/facets/{kind}/{hex}.json")
}

/// Path of chunk `c` of a facet value's set.
pub fn facet_chunk_path(kind: &str, value: &str, c: u32) -> String {
    let head = facet_path(kind, value);
    format!("{}/{c}.json", head.trim_end_matches(".json"))
}

/// The format version a reader knows for the catalog file at `path`.
pub fn format_for(path: &str) -> u32 {
    if path.starts_with("catalog/facets/") {
        FACET_FORMAT
    } else if path.starts_with("catalog/terms/") {
        TERM_FORMAT
    } else if path == ROOT_PATH {
        ROOT_FORMAT
    } else {
        CATALOG_FORMAT
    }
}

/// Path of a forward file (same shard directories as the index file).
pub fn forward_path(id: &BundleId) -> String {
    let (a, b) = ratchet_formats::index::shard_of(id);
    format!("{CATALOG_DIR}/fwd/{a}/{b}/{id}.json")
}

/// Compact JSON and a newline.
pub fn to_json<T: Serialize>(t: &T) -> Vec<u8> {
    to_json_sized(t, 4096)
}

/// [`to_json`] into a buffer of `capacity` bytes to start with (a file's expected size).
pub fn to_json_sized<T: Serialize>(t: &T, capacity: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut v, t).expect("catalog files serialize");
    v.push(b'\n');
    v
}

fn malformed(file: &str, message: impl Into<String>) -> CatalogError {
    CatalogError::Malformed {
        file: file.to_string(),
        message: message.into(),
    }
}

fn parse_json<'a, T: Deserialize<'a>>(bytes: &'a [u8], file: &str) -> Result<T, CatalogError> {
    parse_json_v(bytes, file, CATALOG_FORMAT)
}

fn parse_json_v<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    file: &str,
    known: u32,
) -> Result<T, CatalogError> {
    // Check the format version first, so a newer file says so instead of failing on a field.
    #[derive(Deserialize)]
    struct V {
        v: Option<u32>,
    }
    let v: V = serde_json::from_slice(bytes).map_err(|e| malformed(file, e.to_string()))?;
    match v.v {
        Some(found) if found == known => {}
        Some(found) => {
            return Err(CatalogError::Unsupported {
                file: file.to_string(),
                found,
                known,
            });
        }
        None => return Err(malformed(file, "no format version `v`")),
    }
    serde_json::from_slice(bytes).map_err(|e| malformed(file, e.to_string()))
}

/// Parses `catalog/root.json`.
pub fn parse_root(bytes: &[u8]) -> Result<Root, CatalogError> {
    let f = ROOT_PATH;
    let r: Root = match parse_json_v(bytes, f, ROOT_FORMAT) {
        // A root written before the trie string (its `split` a list) is read as well.
        Err(CatalogError::Unsupported { found: 1, .. }) => parse_json_v(bytes, f, 1)?,
        r => r?,
    };
    // The form of `split` goes with the version: a list in version 1, a trie string after.
    #[derive(Deserialize)]
    struct Form<'a> {
        #[serde(borrow, default)]
        split: Option<&'a serde_json::value::RawValue>,
    }
    let form: Form = serde_json::from_slice(bytes).map_err(|e| malformed(f, e.to_string()))?;
    let list = form.split.is_some_and(|r| r.get().starts_with('['));
    if form.split.is_some() && list != (r.v == 1) {
        return Err(malformed(
            f,
            format!(
                "`split` is a {} in a root of version {}",
                if list { "list" } else { "string" },
                r.v
            ),
        ));
    }
    if r.v == ROOT_FORMAT && r.postings_cap as usize != POSTINGS_CAP {
        return Err(malformed(
            f,
            format!(
                "postings_cap {} differs from this reader's {POSTINGS_CAP}",
                r.postings_cap
            ),
        ));
    }
    if r.prefix_chars != PREFIX_CHARS as u32 || r.block_docs != BLOCK_DOCS {
        return Err(malformed(
            f,
            format!(
                "prefix_chars {} / block_docs {} differ from this reader's {PREFIX_CHARS} / {BLOCK_DOCS}",
                r.prefix_chars, r.block_docs
            ),
        ));
    }
    if r.docs > r.slots {
        return Err(malformed(
            f,
            format!("{} searchable bundles but only {} slots", r.docs, r.slots),
        ));
    }
    for (kind, values) in &r.facets {
        if let Some((v, n)) = values.iter().find(|&(_, &n)| n == 0 || n > r.docs) {
            return Err(malformed(
                f,
                format!("facet {kind}={v} counts {n} bundles of {}", r.docs),
            ));
        }
    }
    if r.tags.len() > crate::TOP_TAGS {
        return Err(malformed(
            f,
            format!(
                "{} popular tags, more than {}",
                r.tags.len(),
                crate::TOP_TAGS
            ),
        ));
    }
    if let Some((t, n)) = r.tags.iter().find(|&(_, &n)| n == 0 || n > r.docs) {
        return Err(malformed(
            f,
            format!("tag {t} counts {n} bundles of {}", r.docs),
        ));
    }
    for p in r.split.iter() {
        let n = p.chars().count();
        let parent = p.char_indices().next_back().map_or("", |(i, _)| &p[..i]);
        if !(PREFIX_CHARS..=MAX_TERM_CHARS).contains(&n)
            || (n > PREFIX_CHARS && !r.split.contains(parent))
        {
            return Err(malformed(
                f,
                format!("split prefix `{p}` is not a valid shard key"),
            ));
        }
    }
    Ok(r)
}

/// Parses a term shard stored under `key` and checks everything but the postings and cards:
/// the key, the order and shard of every term, `df` against the root ([`parse_shard`] decodes
/// the rest).
fn parse_shard_undecoded(
    bytes: &[u8],
    key: &str,
    root: &Root,
) -> Result<Vec<TermEntry>, CatalogError> {
    let f = shard_path(key);
    let s: TermShard = parse_json_v(bytes, &f, TERM_FORMAT)?;
    check_shard(
        &f,
        &s.key,
        key,
        root,
        s.terms.iter().map(|e| (e.t.as_str(), e.df)),
    )?;
    Ok(s.terms)
}

/// A term of a shard as the writer reads it: its cards (`c`) kept as the JSON they were read
/// as, parsed only when the writer changes the term.
/// Borrowed from the bytes read.
#[derive(Debug, Deserialize)]
pub struct RawTermEntry<'a> {
    /// The term.
    #[serde(borrow)]
    pub t: std::borrow::Cow<'a, str>,
    /// Searchable bundles holding it.
    pub df: u32,
    /// The postings, encoded.
    #[serde(borrow)]
    pub p: std::borrow::Cow<'a, str>,
    /// The cards as read (a JSON array).
    #[serde(borrow)]
    pub c: &'a serde_json::value::RawValue,
}

#[derive(Deserialize)]
struct RawTermShard<'a> {
    #[serde(borrow)]
    key: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    terms: Vec<RawTermEntry<'a>>,
}

/// Parses a term shard stored under `key` with the checks of [`parse_shard`], but leaves every
/// term's cards unparsed (checked only to be a JSON array): what an update needs, which
/// rewrites most of a shard's terms as they were read.
pub fn parse_shard_raw<'a>(
    bytes: &'a [u8],
    key: &str,
    root: &Root,
) -> Result<Vec<RawTermEntry<'a>>, CatalogError> {
    let f = shard_path(key);
    let s: RawTermShard = parse_json_v(bytes, &f, TERM_FORMAT)?;
    check_shard(&f, &s.key, key, root, s.terms.iter().map(|e| (&*e.t, e.df)))?;
    if let Some(e) = s.terms.iter().find(|e| !e.c.get().starts_with('[')) {
        return Err(malformed(&f, format!("term `{}`: `c` is not a list", e.t)));
    }
    Ok(s.terms)
}

/// The checks of a shard's terms that need no decoding: its key, the order and shard of every
/// term, `df` against the root.
fn check_shard<'a>(
    f: &str,
    stored_key: &str,
    key: &str,
    root: &Root,
    terms: impl Iterator<Item = (&'a str, u32)>,
) -> Result<(), CatalogError> {
    if stored_key != key {
        return Err(malformed(
            f,
            format!("holds key `{stored_key}`, not `{key}`"),
        ));
    }
    let mut prev: Option<&str> = None;
    for (t, df) in terms {
        if prev.is_some_and(|p| p >= t) {
            return Err(malformed(f, format!("term `{t}` out of order or repeated")));
        }
        prev = Some(t);
        if shard_key_in(t, &root.split) != key || t.chars().count() > MAX_TERM_CHARS || t.is_empty()
        {
            return Err(malformed(f, format!("term `{t}` does not belong here")));
        }
        if df > root.docs {
            return Err(CatalogError::Inconsistent {
                file: f.to_string(),
                message: format!(
                    "term `{t}` is in {df} bundles but the root counts {}",
                    root.docs
                ),
            });
        }
    }
    Ok(())
}

/// Decodes the postings and cards of one term of shard `key`, checking them against `df`, the
/// root and each other: the summaries of its postings, in the same order.
pub fn decode_term(e: TermEntry, key: &str, root: &Root) -> Result<CardedTerm, CatalogError> {
    let ps = decode_term_parts(&e.t, e.df, &e.p, e.c.len(), key, root)?;
    let mut out = Vec::with_capacity(ps.len());
    let mut keys = Vec::with_capacity(ps.len());
    for (p, c) in ps.iter().zip(e.c) {
        keys.push(c.keys().map_err(|d| {
            malformed(
                &shard_path(key),
                format!("term `{}`: card of posting {}: {d}", e.t, p.ord),
            )
        })?);
        let s = c.into_summary(p).ok_or_else(|| {
            malformed(
                &shard_path(key),
                format!("term `{}`: posting {} has unknown codes", e.t, p.ord),
            )
        })?;
        out.push(s);
    }
    Ok((ps, out, keys))
}

/// A term's postings with, for each, its summary and its facet keys.
pub type CardedTerm = (Vec<Posting>, Vec<Summary>, Vec<Vec<u32>>);

/// The postings of term `t` with `df`, encoded postings `p` and `cards` cards, checked.
pub fn decode_term_parts(
    t: &str,
    df: u32,
    p: &str,
    cards: usize,
    key: &str,
    root: &Root,
) -> Result<Vec<Posting>, CatalogError> {
    let f = shard_path(key);
    let ps = codec::decode_postings(p, root.slots, MAX_SHARD as usize)
        .map_err(|d| malformed(&f, format!("term `{t}`: {d}")))?;
    if ps.is_empty() || ps.len() > POSTINGS_CAP || (df as usize) < ps.len() {
        return Err(malformed(
            &f,
            format!("term `{t}`: {} postings for df {df}", ps.len()),
        ));
    }
    if cards != ps.len() {
        return Err(malformed(
            &f,
            format!("term `{t}`: {cards} cards for {} postings", ps.len()),
        ));
    }
    Ok(ps)
}

/// A term of a shard, decoded: term, df, postings, and the summary and facet keys of each
/// posting.
pub type DecodedTerm = (String, u32, Vec<Posting>, Vec<Summary>, Vec<Vec<u32>>);

/// Parses a term shard stored under `key`, against the root's slot count; returns the shard
/// with its postings and cards decoded, term by term.
pub fn parse_shard(bytes: &[u8], key: &str, root: &Root) -> Result<Vec<DecodedTerm>, CatalogError> {
    parse_shard_undecoded(bytes, key, root)?
        .into_iter()
        .map(|e| {
            let (t, df) = (e.t.clone(), e.df);
            let (ps, s, k) = decode_term(e, key, root)?;
            Ok((t, df, ps, s, k))
        })
        .collect()
}

/// Parses summary block `block`.
pub fn parse_block(bytes: &[u8], block: u32, root: &Root) -> Result<Vec<Summary>, CatalogError> {
    let f = block_path(block);
    let b: DocBlock = parse_json(bytes, &f)?;
    if b.block != block {
        return Err(malformed(
            &f,
            format!("holds block {}, not {block}", b.block),
        ));
    }
    let mut prev = None;
    for d in &b.docs {
        if d.ord / BLOCK_DOCS != block || d.ord >= root.slots || prev.is_some_and(|p| p >= d.ord) {
            return Err(malformed(
                &f,
                format!("ordinal {} out of place ({})", d.ord, d.id),
            ));
        }
        prev = Some(d.ord);
    }
    Ok(b.docs)
}

/// Parses the head of the facet value `kind`=`value` and checks it on its own: its chunk list
/// (increasing, non-empty chunks below the root's slots, summing to `count`) and its first page
/// (`min(count, PAGE_DOCS)` increasing ordinals, each in a listed chunk). That the page holds
/// the lowest members is checked by [`check_facet_page`] once the chunks are read.
pub fn parse_facet_head(
    bytes: &[u8],
    kind: &str,
    value: &str,
    root: &Root,
) -> Result<FacetFile, CatalogError> {
    let f = facet_path(kind, value);
    let ff: FacetFile = parse_json_v(bytes, &f, FACET_FORMAT)?;
    let ords: Vec<u32> = ff.s.iter().map(|s| s.ord).collect();
    check_facet_head(
        &f,
        (&ff.kind, &ff.value),
        (kind, value),
        ff.count,
        &ff.chunks,
        &ords,
        root,
    )?;
    Ok(ff)
}

/// A facet head as the writer reads it: its first page kept as the JSON it was read as, each
/// summary parsed only as far as its ordinal.
#[derive(Debug)]
pub struct RawFacetHead<'a> {
    /// Number of bundles.
    pub count: u32,
    /// The non-empty chunks `(c, members)`.
    pub chunks: Vec<(u32, u32)>,
    /// The first page: each summary's ordinal and JSON.
    pub s: Vec<(u32, &'a serde_json::value::RawValue)>,
}

/// Parses a facet head as [`parse_facet_head`] does, with the same checks of the head, but
/// leaves its summaries as JSON checked only for their ordinal and the presence of every other
/// field (readers check them whole): what an update needs, which writes most of them back as
/// they were.
pub fn parse_facet_head_raw<'a>(
    bytes: &'a [u8],
    kind: &str,
    value: &str,
    root: &Root,
) -> Result<RawFacetHead<'a>, CatalogError> {
    #[derive(Deserialize)]
    struct Head<'a> {
        #[serde(borrow)]
        kind: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        value: std::borrow::Cow<'a, str>,
        count: u32,
        chunks: Vec<(u32, u32)>,
        #[serde(borrow, default)]
        s: Vec<&'a serde_json::value::RawValue>,
    }
    /// A summary's shape: its ordinal, and every other field present (not built).
    #[derive(Deserialize)]
    #[allow(dead_code)] // the fields are read to be checked, not used
    struct Shape {
        ord: u32,
        id: IgnoredAny,
        name: IgnoredAny,
        version: IgnoredAny,
        description: IgnoredAny,
        license: IgnoredAny,
        pricing: IgnoredAny,
        verified: IgnoredAny,
        downloads: IgnoredAny,
        trend: IgnoredAny,
        rating: IgnoredAny,
        updated: IgnoredAny,
        deprecated: IgnoredAny,
    }
    let f = facet_path(kind, value);
    let h: Head = parse_json_v(bytes, &f, FACET_FORMAT)?;
    let mut s = Vec::with_capacity(h.s.len());
    for json in h.s {
        if !json.get().starts_with('{') {
            return Err(malformed(&f, "a summary is not an object"));
        }
        let o: Shape =
            serde_json::from_str(json.get()).map_err(|e| malformed(&f, e.to_string()))?;
        s.push((o.ord, json));
    }
    let ords: Vec<u32> = s.iter().map(|x| x.0).collect();
    check_facet_head(
        &f,
        (&h.kind, &h.value),
        (kind, value),
        h.count,
        &h.chunks,
        &ords,
        root,
    )?;
    Ok(RawFacetHead {
        count: h.count,
        chunks: h.chunks,
        s,
    })
}

/// The checks of a facet head `f` that holds `got` (kind, value), `count`, `chunks` and a first
/// page of ordinals `ords`, stored for `want`.
fn check_facet_head(
    f: &str,
    got: (&str, &str),
    want: (&str, &str),
    count: u32,
    chunks: &[(u32, u32)],
    ords: &[u32],
    root: &Root,
) -> Result<(), CatalogError> {
    if got != want {
        return Err(malformed(
            f,
            format!("holds {}={}, not {}={}", got.0, got.1, want.0, want.1),
        ));
    }
    let mut prev: Option<u32> = None;
    let mut sum: u64 = 0;
    for &(c, n) in chunks {
        if prev.is_some_and(|p| p >= c)
            || n == 0
            || n > FACET_CHUNK
            || u64::from(c) * u64::from(FACET_CHUNK) >= u64::from(root.slots)
        {
            return Err(malformed(
                f,
                format!("chunk {c} ({n} bundles) out of place"),
            ));
        }
        prev = Some(c);
        sum += u64::from(n);
    }
    if sum != u64::from(count) || count > root.slots {
        return Err(malformed(
            f,
            format!("count {count} but its chunks hold {sum} bundles"),
        ));
    }
    let ok = ords.len() == (count as usize).min(crate::PAGE_DOCS)
        && ords.windows(2).all(|w| w[0] < w[1])
        && ords
            .iter()
            .all(|&o| o < root.slots && chunks.iter().any(|&(c, _)| c == o / FACET_CHUNK));
    if !ok {
        return Err(CatalogError::Inconsistent {
            file: f.to_string(),
            message: format!("inline summaries of ordinals {ords:?} cannot be its first page"),
        });
    }
    Ok(())
}

/// Parses chunk `c` of the facet value `kind`=`value`; returns its members (absolute
/// ordinals, increasing).
pub fn parse_facet_chunk(
    bytes: &[u8],
    kind: &str,
    value: &str,
    c: u32,
    root: &Root,
) -> Result<Vec<u32>, CatalogError> {
    let base = c * FACET_CHUNK;
    let set = parse_facet_chunk_set(bytes, kind, value, c, root)?;
    Ok(set.to_vec().into_iter().map(|o| base + o).collect())
}

/// [`parse_facet_chunk`] as stored: the members minus `c * FACET_CHUNK`, in the set's own form
/// (for a writer that changes one member).
pub fn parse_facet_chunk_set(
    bytes: &[u8],
    kind: &str,
    value: &str,
    c: u32,
    root: &Root,
) -> Result<codec::SetBuf, CatalogError> {
    let f = facet_chunk_path(kind, value, c);
    let fc: FacetChunk = parse_json_v(bytes, &f, FACET_FORMAT)?;
    if fc.kind != kind || fc.value != value || fc.chunk != c {
        return Err(malformed(
            &f,
            format!(
                "holds {}={} chunk {}, not {kind}={value} chunk {c}",
                fc.kind, fc.value, fc.chunk
            ),
        ));
    }
    let base = u64::from(c) * u64::from(FACET_CHUNK);
    let room = (u64::from(root.slots).saturating_sub(base)).min(u64::from(FACET_CHUNK)) as u32;
    let set = codec::SetBuf::decode(&fc.docs, room, MAX_FACET_CHUNK as usize)
        .map_err(|d| malformed(&f, d.to_string()))?;
    if set.is_empty() {
        return Err(malformed(&f, "an empty chunk"));
    }
    Ok(set)
}

/// Checks a head's first page against the lowest members of its set, when `members` (the
/// union of some of its chunks, increasing) includes its first chunks up to the page's last
/// ordinal; otherwise there is nothing to check.
pub fn check_facet_page(
    head: &FacetFile,
    members: &[u32],
    have: &BTreeSet<u32>,
) -> Result<(), CatalogError> {
    let Some(last) = head.s.last() else {
        return Ok(());
    };
    let needed = head
        .chunks
        .iter()
        .map(|&(c, _)| c)
        .take_while(|&c| c <= last.ord / FACET_CHUNK);
    let mut all = true;
    for c in needed {
        all &= have.contains(&c);
    }
    if !all {
        return Ok(());
    }
    let want: Vec<u32> = members.iter().take(crate::PAGE_DOCS).copied().collect();
    let got: Vec<u32> = head.s.iter().map(|s| s.ord).collect();
    if got != want {
        return Err(CatalogError::Inconsistent {
            file: facet_path(&head.kind, &head.value),
            message: format!("inline summaries of ordinals {got:?}, its first page is {want:?}"),
        });
    }
    Ok(())
}

/// Parses the forward file of `id`.
pub fn parse_forward(bytes: &[u8], id: &BundleId) -> Result<Forward, CatalogError> {
    let f = forward_path(id);
    let fw: Forward = parse_json(bytes, &f)?;
    if &fw.id != id {
        return Err(malformed(&f, format!("holds {}, not {id}", fw.id)));
    }
    Ok(fw)
}
