//! The writer: incremental update on every publish, yank and deprecation, and full rebuild
//! (`index-format.md` §10.5).
//!
//! An update touches only the files of the changed bundle: the shards of its old and new
//! terms, the facet files of the values it gains or loses, its summary block, its forward file
//! and the root. The forward file records what was indexed last time, which is how stale
//! postings are removed on a re-publish or a yank without scanning anything. Files are written
//! in an order that keeps the catalog usable after a crash (shards, facets, block, forward
//! file, root last); a crash between writes leaves the root's generation behind the forward
//! file's change, which `verify` reports and `rebuild` repairs.

use crate::codec::{self, Posting};
use crate::doc::Summary;
use crate::doc::{CatalogDoc, ROOT_FACETS, bucket_len};
use crate::files::{
    self, DocBlock, FACET_CHUNK, FacetChunk, FacetFile, Forward, MAX_BLOCK, MAX_FACET,
    MAX_FACET_CHUNK, MAX_FORWARD, MAX_ROOT, MAX_SHARD, ROOT_PATH, Root, SHARD_TARGET,
};
use crate::store::CatalogStore;
use crate::tokenize::{shard_key, shard_key_in};
use crate::{BLOCK_DOCS, CatalogError, PAGE_DOCS, POSTINGS_CAP};
use ratchet_formats::manifest::BundleId;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};

/// BM25 parameters (§10.6).
pub const K1: f64 = 1.2;
/// BM25 length normalisation.
pub const B: f64 = 0.75;
/// Reference length of the champion key (in weighted tokens), fixed so that which postings a
/// capped list keeps never depends on the rest of the registry.
pub const REF_LEN: f64 = 100.0;

/// One change to the catalog.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The bundle was published, deprecated, un-deprecated, attested, or a yank left another
    /// version as its latest: (re)index it from this document.
    Upsert(Box<CatalogDoc>),
    /// Every version of the bundle is yanked: it is no longer searchable.
    Remove(BundleId),
}

/// Files an update or rebuild wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Files written or removed.
    pub files: usize,
    /// Bytes written.
    pub bytes: usize,
}

/// The catalog writer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Catalog;

/// `K1 * (1 - B + B * L / REF_LEN)` for every length bucket (`L` the length it stands for, in
/// weighted tokens), computed once: the champion key's length normalisation.
fn len_norm(b: u8) -> f64 {
    static TABLE: std::sync::OnceLock<[f64; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        std::array::from_fn(|i| K1 * (1.0 - B + B * bucket_len(i as u8) / 2.0 / REF_LEN))
    })[usize::from(b)]
}

/// The champion key of a posting: its BM25 term-frequency factor at the reference length.
/// Capped lists keep the postings with the highest keys (ties: lower ordinal).
pub fn champion_key(p: &Posting) -> f64 {
    let tf = f64::from(p.wtf) / 2.0;
    tf / (tf + len_norm(p.len_bucket))
}

/// A posting's place in champion order, best first (ties: lower ordinal), as one sortable
/// value: keys are never negative, so their bits order like them.
fn champion_rank(p: &Posting) -> (u64, u32) {
    (!champion_key(p).to_bits(), p.ord)
}

/// The `n` best postings of `ps` in champion order, by ordinal; `ps` when it has at most `n`.
fn best_by_champion(ps: &mut Vec<Posting>, n: usize) {
    if ps.len() <= n {
        return;
    }
    if n == 0 {
        ps.clear();
        return;
    }
    if ps.len() == n + 1 {
        // One over (an update's insertion): drop the worst, in place.
        let worst = (0..ps.len()).max_by_key(|&i| champion_rank(&ps[i]));
        if let Some(i) = worst {
            ps.remove(i);
        }
        return;
    }
    let mut ranked: Vec<((u64, u32), Posting)> =
        ps.iter().map(|p| (champion_rank(p), *p)).collect();
    ranked.select_nth_unstable_by(n - 1, |a, b| a.0.cmp(&b.0));
    ranked.truncate(n);
    ranked.sort_unstable_by_key(|r| r.0.1);
    ps.clear();
    ps.extend(ranked.into_iter().map(|r| r.1));
}

fn cap(ps: &mut Vec<Posting>, n: usize) {
    best_by_champion(ps, n);
}

/// A term's postings: as read (encoded) until the writer changes them.
#[derive(Debug, Clone)]
enum List<'a> {
    Encoded(Cow<'a, str>),
    Decoded(Vec<Posting>),
}

impl List<'_> {
    fn encoded(&self) -> Cow<'_, str> {
        match self {
            List::Encoded(s) => Cow::Borrowed(s),
            List::Decoded(ps) => codec::encode_postings(ps).into(),
        }
    }
}

/// The card of one posting, kept as the JSON it was read or made as.
#[derive(Debug, Clone)]
struct CardItem<'a> {
    ord: u32,
    json: Cow<'a, RawValue>,
}

/// A term's cards: as read (their JSON, untouched) until the writer changes the term, then
/// each card still as JSON with its posting's ordinal (a rebuild borrows each bundle's card,
/// made once).
#[derive(Debug, Clone)]
enum Cards<'a> {
    Raw(&'a RawValue),
    Items(Vec<CardItem<'a>>),
}

impl<'a> Cards<'a> {
    fn empty() -> Self {
        Cards::Items(Vec::new())
    }

    /// Length of its compact JSON.
    fn json_len(&self) -> usize {
        match self {
            Cards::Raw(r) => r.get().len(),
            Cards::Items(v) => {
                1 + v
                    .iter()
                    .map(|i| i.json.get().len() + 1)
                    .sum::<usize>()
                    .max(1)
            }
        }
    }

    /// The cards as JSON, in the postings' order, the JSON as read parsed only as far as
    /// the list (errors name the shard `key`).
    fn into_cards(self, key: &str, t: &str) -> Result<Vec<Cow<'a, RawValue>>, CatalogError> {
        let bad = |e: serde_json::Error| CatalogError::Malformed {
            file: files::shard_path(key),
            message: format!("term `{t}`: {e}"),
        };
        match self {
            Cards::Raw(r) => {
                let items: Vec<&'a RawValue> = serde_json::from_str(r.get()).map_err(bad)?;
                // Each card is checked to be a card's list of 11 values, so an update does not
                // write a damaged one back (without building its strings: an update reads
                // thousands; readers check every field).
                #[derive(serde::Deserialize)]
                #[allow(dead_code)] // the fields are read to be checked, not used
                struct Shape(
                    IgnoredAny,
                    IgnoredAny,
                    IgnoredAny,
                    IgnoredAny,
                    IgnoredAny,
                    IgnoredAny,
                    IgnoredAny,
                    IgnoredAny,
                    IgnoredAny,
                    IgnoredAny,
                    IgnoredAny,
                );
                for i in &items {
                    serde_json::from_str::<Shape>(i.get()).map_err(bad)?;
                }
                Ok(items.into_iter().map(Cow::Borrowed).collect())
            }
            Cards::Items(v) => Ok(v.into_iter().map(|i| i.json).collect()),
        }
    }

    /// The term's postings (encoded `p`, checked against `df`, the root and the number of
    /// cards) and its cards with their postings' ordinals; the cards as read are parsed once.
    fn decode(
        self,
        t: &str,
        df: u32,
        p: &str,
        key: &str,
        root: &Root,
    ) -> Result<(Vec<Posting>, Vec<CardItem<'a>>), CatalogError> {
        let cards = self.into_cards(key, t)?;
        let ps = files::decode_term_parts(t, df, p, cards.len(), key, root)?;
        let items = ps
            .iter()
            .zip(cards)
            .map(|(p, json)| CardItem { ord: p.ord, json })
            .collect();
        Ok((ps, items))
    }
}

impl serde::Serialize for Cards<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        match self {
            Cards::Raw(r) => r.serialize(ser),
            Cards::Items(v) => ser.collect_seq(v.iter().map(|i| &*i.json)),
        }
    }
}

/// One term of a shard being written: df, postings, their cards.
#[derive(Debug, Clone)]
struct TermVal<'a> {
    df: u32,
    list: List<'a>,
    c: Cards<'a>,
}

/// A term entry as written (the fields of [`TermEntry`], in its order).
#[derive(serde::Serialize)]
struct OutEntry<'a> {
    t: Cow<'a, str>,
    df: u32,
    p: Cow<'a, str>,
    c: Cards<'a>,
}

/// A term shard as written (the fields of [`TermShard`], in its order).
#[derive(serde::Serialize)]
struct OutShard<'a, 'b> {
    v: u32,
    key: &'b str,
    terms: &'b [OutEntry<'a>],
}

impl TermVal<'_> {
    fn is_empty(&self) -> bool {
        self.df == 0
            || match &self.list {
                List::Encoded(s) => s.is_empty(),
                List::Decoded(ps) => ps.is_empty(),
            }
    }

    /// Estimated bytes in the shard file.
    fn size(&self, t: &str) -> usize {
        t.len() + self.list.encoded().len() + 24 + self.c.json_len() + 6
    }
}

/// A shard's terms; those read and not changed borrow from the bytes read.
type ShardMap<'a> = BTreeMap<Cow<'a, str>, TermVal<'a>>;

/// The terms one update removes from and adds to (with their weighted frequency) one shard.
type TermChanges<'a> = (Vec<&'a String>, Vec<(&'a String, u8)>);

/// Encodes a shard, cutting the longest list that can be cut (by encoded length with its cards;
/// the first such term) by a quarter, with their cards, until the shard is under [`SHARD_TARGET`]; a
/// shard that no cut can shrink further (lists of one posting) is written as it is. `None` when it has no term left.
fn encode_shard(
    key: &str,
    mut terms: ShardMap<'_>,
    root: &Root,
) -> Result<Option<Vec<u8>>, CatalogError> {
    terms.retain(|_, v| !v.is_empty());
    if terms.is_empty() {
        return Ok(None);
    }
    let mut entries: Vec<OutEntry> = terms
        .into_iter()
        .map(|(t, v)| OutEntry {
            p: match v.list {
                List::Encoded(p) => p,
                List::Decoded(ps) => Cow::Owned(codec::encode_postings(&ps)),
            },
            t,
            df: v.df,
            c: v.c,
        })
        .collect();
    let mut uncuttable: BTreeSet<usize> = BTreeSet::new();
    // A list's share of the shard: its postings and its cards.
    let weight = |e: &OutEntry| e.p.len() + e.c.json_len();
    loop {
        let bytes = files::to_json_sized(
            &OutShard {
                v: files::TERM_FORMAT,
                key,
                terms: &entries,
            },
            SHARD_TARGET + SHARD_TARGET / 2,
        );
        let longest = (0..entries.len())
            .filter(|i| !uncuttable.contains(i))
            .max_by(|&a, &b| {
                weight(&entries[a])
                    .cmp(&weight(&entries[b]))
                    .then(b.cmp(&a))
            });
        let Some(longest) = longest.filter(|_| bytes.len() > SHARD_TARGET) else {
            return Ok(Some(bytes));
        };
        let e = &mut entries[longest];
        let (mut ps, mut items) =
            std::mem::replace(&mut e.c, Cards::empty()).decode(&e.t, e.df, &e.p, key, root)?;
        let target = (ps.len() * 3 / 4).max(1);
        if target >= ps.len() {
            // Nothing to cut here: try the next longest list without serializing again.
            e.c = Cards::Items(items);
            uncuttable.insert(longest);
            let next = (0..entries.len())
                .filter(|i| !uncuttable.contains(i))
                .max_by(|&a, &b| {
                    weight(&entries[a])
                        .cmp(&weight(&entries[b]))
                        .then(b.cmp(&a))
                });
            if next.is_none() {
                return Ok(Some(bytes));
            }
            continue;
        }
        let mut order: Vec<((u64, u32), u32)> =
            ps.iter().map(|p| (champion_rank(p), p.ord)).collect();
        order.sort_unstable();
        let drop: BTreeSet<u32> = order
            .iter()
            .rev()
            .take(ps.len() - target)
            .map(|&(_, o)| o)
            .collect();
        ps.retain(|p| !drop.contains(&p.ord));
        items.retain(|i| !drop.contains(&i.ord));
        entries[longest].p = Cow::Owned(codec::encode_postings(&ps));
        entries[longest].c = Cards::Items(items);
    }
}

fn non_empty(terms: &mut ShardMap<'_>) {
    terms.retain(|_, v| !v.is_empty());
}

/// Writes the shard `key` (or removes it when empty). A shard over [`SHARD_TARGET`] that holds
/// terms longer than its key is split: its key joins the root's split prefixes and its terms
/// move to shards keyed one character longer (recursively); only a shard that cannot be split
/// has its longest lists cut.
fn store_shard<S: CatalogStore>(
    store: &mut S,
    key: &str,
    mut terms: ShardMap<'_>,
    root: &mut Root,
    stats: &mut WriteStats,
) -> Result<(), CatalogError> {
    non_empty(&mut terms);
    // Encode the changed lists once, for the size estimate and the file alike.
    for v in terms.values_mut() {
        if let List::Decoded(ps) = &v.list {
            v.list = List::Encoded(Cow::Owned(codec::encode_postings(ps)));
        }
    }
    let path = files::shard_path(key);
    let key_chars = key.chars().count();
    if terms.keys().any(|t| t.chars().count() > key_chars) {
        let size: usize = terms.iter().map(|(t, v)| v.size(t)).sum();
        if size > SHARD_TARGET {
            root.split.insert(key);
            let mut groups: BTreeMap<String, ShardMap<'_>> = BTreeMap::new();
            for (t, v) in terms {
                groups
                    .entry(shard_key_in(&t, &root.split))
                    .or_default()
                    .insert(t, v);
            }
            if !groups.contains_key(key) {
                store.remove(&path)?;
                stats.files += 1;
            }
            for (k, g) in groups {
                store_shard(store, &k, g, root, stats)?;
            }
            return Ok(());
        }
    }
    match encode_shard(key, terms, root)? {
        Some(bytes) => {
            store.write(&path, &bytes)?;
            stats.bytes += bytes.len();
        }
        None => store.remove(&path)?,
    }
    stats.files += 1;
    Ok(())
}

/// The card of a summary as compact JSON.
fn card_json(c: &files::Card) -> Result<Box<RawValue>, CatalogError> {
    serde_json::value::to_raw_value(c).map_err(|e| CatalogError::Query(format!("card: {e}")))
}

fn read<S: CatalogStore>(s: &S, path: &str, limit: u64) -> Result<Option<Vec<u8>>, CatalogError> {
    s.read(path, limit)
}

impl Catalog {
    /// Applies one change. Returns the files written.
    pub fn update<S: CatalogStore>(
        store: &mut S,
        change: &Change,
    ) -> Result<WriteStats, CatalogError> {
        let mut stats = WriteStats::default();
        let mut root = match read(store, ROOT_PATH, MAX_ROOT)? {
            Some(b) => files::parse_root(&b)?,
            None => Root::empty(),
        };
        let id = match change {
            Change::Upsert(d) => &d.id,
            Change::Remove(id) => id,
        };
        let fpath = files::forward_path(id);
        let old = match read(store, &fpath, MAX_FORWARD)? {
            Some(b) => Some(files::parse_forward(&b, id)?),
            None => None,
        };
        let ord = match (&old, change) {
            (Some(f), _) => f.ord,
            (None, Change::Remove(_)) => return Ok(stats),
            (None, Change::Upsert(_)) => {
                root.slots += 1;
                root.slots - 1
            }
        };
        if ord >= root.slots {
            return Err(CatalogError::Inconsistent {
                file: fpath,
                message: format!("ordinal {ord} is not below the root's {} slots", root.slots),
            });
        }
        let empty = Forward {
            v: files::CATALOG_FORMAT,
            id: id.clone(),
            ord,
            live: false,
            len: 0,
            terms: Vec::new(),
            facets: BTreeMap::new(),
        };
        let old = old.filter(|f| f.live).unwrap_or_else(|| empty.clone());
        let (new, new_doc) = match change {
            Change::Upsert(d) => {
                let ix = d.index();
                let fw = Forward {
                    live: true,
                    len: ix.len,
                    terms: ix.terms.keys().cloned().collect(),
                    facets: ix.facets.clone(),
                    ..empty.clone()
                };
                (fw, Some((d, ix)))
            }
            Change::Remove(_) => (empty.clone(), None),
        };

        let mut block_cache: HashMap<u32, Vec<Summary>> = HashMap::new();
        let mine_json = match &new_doc {
            Some((d, ix)) => Some(card_json(&files::Card::of(
                &d.summary(ord),
                &files::card_keys(&ix.facets),
            ))?),
            None => None,
        };
        // Term shards: group the old and the new terms by the shard they live in now.
        let mut groups: BTreeMap<String, TermChanges> = BTreeMap::new();
        for t in &old.terms {
            groups
                .entry(shard_key_in(t, &root.split))
                .or_default()
                .0
                .push(t);
        }
        if let Some((_, ix)) = &new_doc {
            for (t, &wtf) in &ix.terms {
                groups
                    .entry(shard_key_in(t, &root.split))
                    .or_default()
                    .1
                    .push((t, wtf));
            }
        }
        for (key, (old_terms, new_terms)) in groups {
            let path = files::shard_path(&key);
            let bytes = read(store, &path, MAX_SHARD)?;
            let mut terms: ShardMap<'_> = match &bytes {
                Some(b) => files::parse_shard_raw(b, &key, &root)?
                    .into_iter()
                    .map(|e| {
                        let v = TermVal {
                            df: e.df,
                            list: List::Encoded(e.p),
                            c: Cards::Raw(e.c),
                        };
                        (e.t, v)
                    })
                    .collect(),
                None => BTreeMap::new(),
            };
            // Decode only the lists this update changes.
            let decoded = |terms: &mut ShardMap<'_>, t: &str| -> Result<(), CatalogError> {
                if let Some(v) = terms.get_mut(t)
                    && let List::Encoded(s) = &mut v.list
                {
                    let (ps, items) = std::mem::replace(&mut v.c, Cards::empty())
                        .decode(t, v.df, s, &key, &root)?;
                    v.c = Cards::Items(items);
                    v.list = List::Decoded(ps);
                }
                Ok(())
            };
            let mut changed: Vec<&String> = Vec::new();
            for t in old_terms {
                decoded(&mut terms, t)?;
                if let Some(v) = terms.get_mut(t.as_str())
                    && let List::Decoded(ps) = &mut v.list
                {
                    v.df = v.df.saturating_sub(1);
                    ps.retain(|p| p.ord != ord);
                }
                changed.push(t);
            }
            if let Some((d, ix)) = &new_doc {
                for (t, wtf) in new_terms {
                    decoded(&mut terms, t)?;
                    let v = terms
                        .entry(Cow::Owned(t.clone()))
                        .or_insert_with(|| TermVal {
                            df: 0,
                            list: List::Decoded(Vec::new()),
                            c: Cards::empty(),
                        });
                    v.df += 1;
                    if let List::Decoded(ps) = &mut v.list {
                        let i = ps.partition_point(|p| p.ord < ord);
                        ps.insert(i, d.posting(ord, wtf, ix.len));
                        cap(ps, POSTINGS_CAP);
                    }
                    changed.push(t);
                }
            }
            // The cards of the changed lists: this bundle's new card, the others' as they
            // were (every posting had one).
            for t in changed {
                let Some(v) = terms.get_mut(t.as_str()) else {
                    continue;
                };
                let List::Decoded(ps) = &v.list else { continue };
                let Cards::Items(old_items) = &mut v.c else {
                    continue;
                };
                let mut old: HashMap<u32, Cow<'_, RawValue>> = std::mem::take(old_items)
                    .into_iter()
                    .map(|i| (i.ord, i.json))
                    .collect();
                let mut items = Vec::with_capacity(ps.len());
                for p in ps {
                    let json = match (&mine_json, old.remove(&p.ord)) {
                        (Some(m), _) if p.ord == ord => Cow::Borrowed(&**m),
                        (_, Some(x)) => x,
                        _ => {
                            return Err(CatalogError::Inconsistent {
                                file: files::shard_path(&key),
                                message: format!("term `{t}`: posting {} has no card", p.ord),
                            });
                        }
                    };
                    items.push(CardItem { ord: p.ord, json });
                }
                v.c = Cards::Items(items);
            }
            store_shard(store, &key, terms, &mut root, &mut stats)?;
        }

        // Facets.
        let pairs = |f: &Forward| -> BTreeSet<(String, String)> {
            f.facets
                .iter()
                .flat_map(|(k, vs)| vs.iter().map(move |v| (k.clone(), v.clone())))
                .collect()
        };
        let (old_pairs, new_pairs) = (pairs(&old), pairs(&new));
        let mine = match &new_doc {
            Some((d, _)) => Some(summary_json(&d.summary(ord))?),
            None => None,
        };
        for (kind, value) in old_pairs.union(&new_pairs) {
            let pair = (kind.clone(), value.clone());
            let adding = new_pairs.contains(&pair);
            let kept = adding && old_pairs.contains(&pair);
            let path = files::facet_path(kind, value);
            // The head's first page stays as the JSON it was read as.
            let head_bytes = read(store, &path, MAX_FACET)?;
            let (mut chunks, old_page) = match &head_bytes {
                Some(b) => {
                    let h = files::parse_facet_head_raw(b, kind, value, &root)?;
                    (h.chunks, h.s)
                }
                None => (Vec::new(), Vec::new()),
            };
            let old_ords: Vec<u32> = old_page.iter().map(|x| x.0).collect();
            if kept && !old_ords.contains(&ord) {
                continue; // neither its members nor its first page changed
            }
            // The bundle's chunk: read and changed only when it gains or loses the value.
            let c = ord / FACET_CHUNK;
            let cpath = files::facet_chunk_path(kind, value, c);
            // Its members minus c * FACET_CHUNK, in the form they are stored in: a bit to
            // flip in a common value's bitmap, not every member to decode and encode.
            let base = c * FACET_CHUNK;
            let mut set = codec::SetBuf::List(Vec::new());
            let mut changed = false;
            if !kept {
                set = read_facet_chunk_set(store, kind, value, c, &root)?;
                let present = set.contains(ord - base);
                set.set(ord - base, adding);
                changed = adding != present;
                let j = chunks.partition_point(|&(x, _)| x < c);
                let n = set.len() as u32;
                match (chunks.get(j).is_some_and(|&(x, _)| x == c), n) {
                    (true, 0) => {
                        chunks.remove(j);
                    }
                    (true, n) => chunks[j].1 = n,
                    (false, 0) => {}
                    (false, n) => chunks.insert(j, (c, n)),
                }
            }
            let count: u32 = chunks.iter().map(|&(_, n)| n).sum();
            // The listing's first page: the members up to the old page's last are the old
            // page plus or minus this bundle; when it left a full page, the next member comes
            // from the chunks after the old page's last (§10.5).
            let mut page_ords: Vec<u32> = old_ords.iter().copied().filter(|&o| o != ord).collect();
            let full = old_ords.len() >= PAGE_DOCS;
            let last = old_ords.last().copied();
            if adding && (!full || last.is_some_and(|l| ord <= l)) {
                let i = page_ords.partition_point(|&o| o < ord);
                page_ords.insert(i, ord);
            }
            page_ords.truncate(PAGE_DOCS);
            if full && page_ords.len() < PAGE_DOCS && (count as usize) > page_ords.len() {
                let l = last.unwrap_or(0);
                for &(x, _) in chunks.iter().filter(|&&(x, _)| x >= l / FACET_CHUNK) {
                    let above = if x == c && !kept {
                        // The members above l: all of them when l is below this chunk.
                        set.first_from(l.saturating_add(1).saturating_sub(base))
                            .map(|o| o + base)
                    } else {
                        read_facet_chunk(store, kind, value, x, &root)?
                            .into_iter()
                            .find(|&o| o > l)
                    };
                    if let Some(o) = above.filter(|&o| o > l) {
                        page_ords.push(o);
                        break;
                    }
                }
            }
            if !changed && page_ords == old_ords && !old_ords.contains(&ord) {
                continue;
            }
            if changed {
                if set.is_empty() {
                    store.remove(&cpath)?;
                } else {
                    let bytes = facet_chunk_set_bytes(kind, value, c, &set);
                    store.write(&cpath, &bytes)?;
                    stats.bytes += bytes.len();
                }
                stats.files += 1;
            }
            if count == 0 {
                store.remove(&path)?;
            } else {
                let mut page: Vec<Cow<'_, RawValue>> = Vec::with_capacity(page_ords.len());
                for o in page_ords {
                    page.push(match (&mine, old_page.iter().find(|x| x.0 == o)) {
                        (Some(m), _) if o == ord => Cow::Borrowed(&**m),
                        (_, Some(x)) => Cow::Borrowed(x.1),
                        _ => Cow::Owned(summary_json(&block_summary(
                            store,
                            o,
                            &root,
                            &mut block_cache,
                        )?)?),
                    });
                }
                let bytes = facet_head_bytes(kind, value, count, &chunks, &page);
                store.write(&path, &bytes)?;
                stats.bytes += bytes.len();
            }
            stats.files += 1;
            if kind == "tag" {
                note_tag(&mut root, value, count);
            }
            if ROOT_FACETS.contains(&kind.as_str()) {
                let counts = root.facets.entry(kind.clone()).or_default();
                if count == 0 {
                    counts.remove(value);
                } else {
                    counts.insert(value.clone(), count);
                }
                if counts.is_empty() {
                    root.facets.remove(kind);
                }
            }
        }

        // Summary block.
        let block = ord / BLOCK_DOCS;
        let bpath = files::block_path(block);
        let mut docs = match read(store, &bpath, MAX_BLOCK)? {
            Some(b) => files::parse_block(&b, block, &root)?,
            None => Vec::new(),
        };
        docs.retain(|d| d.ord != ord);
        if let Some((d, _)) = &new_doc {
            let i = docs.partition_point(|s| s.ord < ord);
            docs.insert(i, d.summary(ord));
        }
        if docs.is_empty() {
            store.remove(&bpath)?;
        } else {
            let bytes = block_bytes(block, docs);
            store.write(&bpath, &bytes)?;
            stats.bytes += bytes.len();
        }
        stats.files += 1;

        // Forward file, then the root.
        let bytes = files::to_json(&new);
        store.write(&fpath, &bytes)?;
        stats.bytes += bytes.len();
        root.total_len = root.total_len.saturating_sub(old.len) + new.len;
        root.docs = root.docs.saturating_sub(u32::from(old.live)) + u32::from(new.live);
        root.generation += 1;
        // A root read in version 1 is written in the current one (its `split` as a trie).
        root.v = files::ROOT_FORMAT;
        root.postings_cap = POSTINGS_CAP as u32;
        let bytes = files::to_json(&root);
        store.write(ROOT_PATH, &bytes)?;
        stats.bytes += bytes.len();
        stats.files += 2;
        Ok(stats)
    }

    /// Rebuilds the whole catalog from every bundle id in first-publish order (`names.txt`
    /// order), each with its document or `None` when it has no searchable version. Removes
    /// every other file under `catalog/`. The result is the catalog that updating an empty
    /// catalog with these documents in this order gives (§10.5).
    pub fn rebuild<S: CatalogStore>(
        store: &mut S,
        bundles: impl IntoIterator<Item = (BundleId, Option<CatalogDoc>)>,
    ) -> Result<WriteStats, CatalogError> {
        let mut stats = WriteStats::default();
        let mut root = Root::empty();
        let mut shards: BTreeMap<String, BTreeMap<String, (u32, Vec<Posting>)>> = BTreeMap::new();
        let mut facets: BTreeMap<(String, String), Vec<u32>> = BTreeMap::new();
        let mut blocks: BTreeMap<u32, Vec<crate::Summary>> = BTreeMap::new();
        let mut by_ord: HashMap<u32, Summary> = HashMap::new();
        let mut cards: HashMap<u32, Box<RawValue>> = HashMap::new();
        let mut forwards = Vec::new();
        let mut seen = BTreeSet::new();
        for (id, doc) in bundles {
            if !seen.insert(id.clone()) {
                return Err(CatalogError::Query(format!(
                    "rebuild: bundle {id} listed twice"
                )));
            }
            let ord = root.slots;
            root.slots += 1;
            let mut fw = Forward {
                v: files::CATALOG_FORMAT,
                id: id.clone(),
                ord,
                live: false,
                len: 0,
                terms: Vec::new(),
                facets: BTreeMap::new(),
            };
            if let Some(d) = doc {
                let ix = d.index();
                for (t, &wtf) in &ix.terms {
                    let e = shards
                        .entry(shard_key(t))
                        .or_default()
                        .entry(t.clone())
                        .or_default();
                    e.0 += 1;
                    e.1.push(d.posting(ord, wtf, ix.len));
                    if e.1.len() >= 4 * POSTINGS_CAP {
                        cap(&mut e.1, POSTINGS_CAP);
                    }
                }
                for (k, vs) in &ix.facets {
                    for v in vs {
                        facets.entry((k.clone(), v.clone())).or_default().push(ord);
                    }
                }
                blocks
                    .entry(ord / BLOCK_DOCS)
                    .or_default()
                    .push(d.summary(ord));
                cards.insert(
                    ord,
                    card_json(&files::Card::of(
                        &d.summary(ord),
                        &files::card_keys(&ix.facets),
                    ))?,
                );
                by_ord.insert(ord, d.summary(ord));
                root.docs += 1;
                root.total_len += ix.len;
                fw.live = true;
                fw.len = ix.len;
                fw.terms = ix.terms.keys().cloned().collect();
                fw.facets = ix.facets;
            }
            forwards.push(fw);
        }
        for old in store.list(&format!("{}/", files::CATALOG_DIR))? {
            store.remove(&old)?;
        }
        for (key, terms) in shards {
            let terms: ShardMap = terms
                .into_iter()
                .map(|(t, (df, mut ps))| {
                    cap(&mut ps, POSTINGS_CAP);
                    let items = ps
                        .iter()
                        .filter_map(|p| {
                            cards.get(&p.ord).map(|json| CardItem {
                                ord: p.ord,
                                json: Cow::Borrowed(&**json),
                            })
                        })
                        .collect();
                    let v = TermVal {
                        df,
                        list: List::Decoded(ps),
                        c: Cards::Items(items),
                    };
                    (Cow::Owned(t), v)
                })
                .collect();
            store_shard(store, &key, terms, &mut root, &mut stats)?;
        }
        let mut put = |store: &mut S, path: &str, bytes: Vec<u8>| -> Result<(), CatalogError> {
            store.write(path, &bytes)?;
            stats.files += 1;
            stats.bytes += bytes.len();
            Ok(())
        };
        let mut tags: Vec<(u32, &String)> = facets
            .iter()
            .filter(|((k, _), _)| k == "tag")
            .map(|((_, v), set)| (set.len() as u32, v))
            .collect();
        tags.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        root.tags = tags
            .into_iter()
            .take(crate::TOP_TAGS)
            .map(|(n, v)| (v.clone(), n))
            .collect();
        for ((kind, value), set) in facets {
            if ROOT_FACETS.contains(&kind.as_str()) {
                root.facets
                    .entry(kind.clone())
                    .or_default()
                    .insert(value.clone(), set.len() as u32);
            }
            let page = set
                .iter()
                .take(PAGE_DOCS)
                .filter_map(|o| by_ord.get(o).cloned())
                .collect();
            let mut chunks = Vec::new();
            for part in set.chunk_by(|a, b| a / FACET_CHUNK == b / FACET_CHUNK) {
                let c = part[0] / FACET_CHUNK;
                chunks.push((c, part.len() as u32));
                put(
                    store,
                    &files::facet_chunk_path(&kind, &value, c),
                    facet_chunk_bytes(&kind, &value, c, part),
                )?;
            }
            put(
                store,
                &files::facet_path(&kind, &value),
                facet_bytes(&kind, &value, set.len() as u32, chunks, page),
            )?;
        }
        for (block, docs) in blocks {
            put(store, &files::block_path(block), block_bytes(block, docs))?;
        }
        for fw in forwards {
            put(store, &files::forward_path(&fw.id), files::to_json(&fw))?;
        }
        root.generation = 1;
        put(store, ROOT_PATH, files::to_json(&root))?;
        Ok(stats)
    }
}

/// Keeps the root's popular tags up to date with one tag's new count: a listed tag takes its
/// new count (leaving at 0); an unlisted one enters when the list has room or it is more
/// common than the least common listed tag, which then leaves (ties: the greater name
/// leaves). A listed tag that becomes rarer stays until a rebuild: the list is approximate.
fn note_tag(root: &mut Root, tag: &str, count: u32) {
    if count == 0 {
        root.tags.remove(tag);
        return;
    }
    let least = || {
        root.tags
            .iter()
            .min_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(t, &n)| (t.clone(), n))
    };
    if root.tags.contains_key(tag) || root.tags.len() < crate::TOP_TAGS {
        root.tags.insert(tag.to_string(), count);
    } else if let Some((t, n)) = least()
        && (count > n || (count == n && tag < t.as_str()))
    {
        root.tags.remove(&t);
        root.tags.insert(tag.to_string(), count);
    }
}

/// The summary of ordinal `o` from its block (read once per update and block).
fn block_summary<S: CatalogStore>(
    store: &S,
    o: u32,
    root: &Root,
    cache: &mut HashMap<u32, Vec<Summary>>,
) -> Result<Summary, CatalogError> {
    let block = o / BLOCK_DOCS;
    if let std::collections::hash_map::Entry::Vacant(e) = cache.entry(block) {
        let docs = match read(store, &files::block_path(block), MAX_BLOCK)? {
            Some(b) => files::parse_block(&b, block, root)?,
            None => Vec::new(),
        };
        e.insert(docs);
    }
    cache[&block]
        .iter()
        .find(|s| s.ord == o)
        .cloned()
        .ok_or_else(|| CatalogError::Inconsistent {
            file: files::block_path(block),
            message: format!("no summary for ordinal {o}, which a posting names"),
        })
}

/// A facet head's bytes from its first page as JSON: the same bytes as [`facet_bytes`] gives
/// for the summaries that JSON holds.
fn facet_head_bytes(
    kind: &str,
    value: &str,
    count: u32,
    chunks: &[(u32, u32)],
    page: &[Cow<'_, RawValue>],
) -> Vec<u8> {
    /// [`files::FacetFile`]'s fields, in its order.
    #[derive(serde::Serialize)]
    struct Out<'a> {
        v: u32,
        kind: &'a str,
        value: &'a str,
        count: u32,
        chunks: &'a [(u32, u32)],
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        s: &'a [Cow<'a, RawValue>],
    }
    files::to_json(&Out {
        v: files::FACET_FORMAT,
        kind,
        value,
        count,
        chunks,
        s: page,
    })
}

/// A summary as compact JSON.
fn summary_json(s: &Summary) -> Result<Box<RawValue>, CatalogError> {
    serde_json::value::to_raw_value(s).map_err(|e| CatalogError::Query(format!("summary: {e}")))
}

fn facet_bytes(
    kind: &str,
    value: &str,
    count: u32,
    chunks: Vec<(u32, u32)>,
    page: Vec<Summary>,
) -> Vec<u8> {
    files::to_json(&FacetFile {
        v: files::FACET_FORMAT,
        kind: kind.to_string(),
        value: value.to_string(),
        count,
        chunks,
        s: page,
    })
}

/// The members of chunk `c` of a facet set (none when the chunk file is absent).
fn read_facet_chunk<S: CatalogStore>(
    store: &S,
    kind: &str,
    value: &str,
    c: u32,
    root: &files::Root,
) -> Result<Vec<u32>, CatalogError> {
    let base = c * FACET_CHUNK;
    let set = read_facet_chunk_set(store, kind, value, c, root)?;
    Ok(set.to_vec().into_iter().map(|o| base + o).collect())
}

/// [`read_facet_chunk`] as stored ([`files::parse_facet_chunk_set`]); empty when missing.
fn read_facet_chunk_set<S: CatalogStore>(
    store: &S,
    kind: &str,
    value: &str,
    c: u32,
    root: &files::Root,
) -> Result<codec::SetBuf, CatalogError> {
    match read(
        store,
        &files::facet_chunk_path(kind, value, c),
        MAX_FACET_CHUNK,
    )? {
        Some(b) => files::parse_facet_chunk_set(&b, kind, value, c, root),
        None => Ok(codec::SetBuf::List(Vec::new())),
    }
}

/// Chunk `c` of a facet value's set, holding `members` (all in the chunk's range).
fn facet_chunk_bytes(kind: &str, value: &str, c: u32, members: &[u32]) -> Vec<u8> {
    let base = c * FACET_CHUNK;
    let rel: Vec<u32> = members.iter().map(|&o| o - base).collect();
    facet_chunk_set_bytes(kind, value, c, &codec::SetBuf::List(rel))
}

/// Chunk `c` of a facet value's set, holding `set` (its members minus `c * FACET_CHUNK`).
fn facet_chunk_set_bytes(kind: &str, value: &str, c: u32, set: &codec::SetBuf) -> Vec<u8> {
    files::to_json(&FacetChunk {
        v: files::FACET_FORMAT,
        kind: kind.to_string(),
        value: value.to_string(),
        chunk: c,
        docs: set.encode(),
    })
}

fn block_bytes(block: u32, docs: Vec<crate::Summary>) -> Vec<u8> {
    files::to_json(&DocBlock {
        v: files::CATALOG_FORMAT,
        block,
        docs,
    })
}

/// One way a stored catalog differs from a rebuild of the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The catalog file.
    pub file: String,
    /// What differs: `missing`, `extra`, `differs`, `malformed: ...` or `unreadable: ...` (too
    /// large for a reader, or an I/O error).
    pub problem: String,
}

impl Catalog {
    /// Compares the catalog in `store` with a rebuild from `bundles` (same input as
    /// [`Catalog::rebuild`]), the root's generation aside: what `ratchet-index verify` reports.
    /// A capped or cut posting list that an update could not refill (§10.5) shows up as a
    /// differing shard; `rebuild` repairs every difference.
    pub fn verify<S: CatalogStore>(
        store: &S,
        bundles: impl IntoIterator<Item = (BundleId, Option<CatalogDoc>)>,
    ) -> Result<Vec<Difference>, CatalogError> {
        let mut fresh = crate::MemStore::default();
        Catalog::rebuild(&mut fresh, bundles)?;
        let mut out = Vec::new();
        let stored = store.list(&format!("{}/", files::CATALOG_DIR))?;
        let without_generation = |b: &[u8]| -> Option<Vec<u8>> {
            let mut r = files::parse_root(b).ok()?;
            r.generation = 0;
            r.tags.clear(); // approximate between rebuilds
            r.v = files::ROOT_FORMAT; // a root of version 1 says the same in an older form
            r.postings_cap = POSTINGS_CAP as u32;
            Some(files::to_json(&r))
        };
        for path in &stored {
            let Some(want) = fresh.files.get(path) else {
                out.push(Difference {
                    file: path.clone(),
                    problem: "extra".into(),
                });
                continue;
            };
            let got = match store.read(path, files::limit_for(path)) {
                Ok(Some(b)) => b,
                Ok(None) => {
                    out.push(Difference {
                        file: path.clone(),
                        problem: "missing".into(),
                    });
                    continue;
                }
                Err(e) => {
                    out.push(Difference {
                        file: path.clone(),
                        problem: format!("unreadable: {e}"),
                    });
                    continue;
                }
            };
            let same = if path == ROOT_PATH {
                without_generation(&got).is_some_and(|g| Some(g) == without_generation(want))
            } else {
                &got == want
            };
            if !same {
                let problem = match serde_json::from_slice::<serde_json::Value>(&got) {
                    Err(e) => format!("malformed: {e}"),
                    // A root of version 1 is read (and stale), not malformed.
                    Ok(v)
                        if v.get("v").and_then(|v| v.as_u64()).is_none_or(|v| {
                            v != u64::from(files::format_for(path))
                                && !(path == ROOT_PATH && v == 1)
                        }) =>
                    {
                        "malformed: no known format version `v`".to_string()
                    }
                    // A root clients refuse (a damaged split trie, counts over `docs`).
                    Ok(_) if path == ROOT_PATH => match files::parse_root(&got) {
                        Err(e) => format!("malformed: {e}"),
                        Ok(_) => "differs".to_string(),
                    },
                    Ok(_) => "differs".to_string(),
                };
                out.push(Difference {
                    file: path.clone(),
                    problem,
                });
            }
        }
        for path in fresh.files.keys() {
            if stored.binary_search(path).is_err() {
                out.push(Difference {
                    file: path.clone(),
                    problem: "missing".into(),
                });
            }
        }
        Ok(out)
    }
}
