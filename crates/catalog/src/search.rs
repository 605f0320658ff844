//! Query evaluation over the static catalog (`index-format.md` §10.6). A text query takes two
//! round trips whatever its filters, sort and page: the root, then the term shards of its words,
//! whose postings carry a card each (the result's summary and its facet keys), so a one-word
//! query is two requests and a two-word query three. A listing without text takes the root, the
//! facet heads of its values, the chunks of their sets unless the page is within the heads'
//! inline summaries of their first 50 members, and the summary blocks of the page's bundles
//! no head carries.
//!
//! The caller supplies the files through [`Fetch`] (HTTP, `file://`, a cache), one call per
//! round trip, so it can fetch a round's files in parallel; this module never does I/O. Every
//! file is size-checked before it is parsed and parsed by the strict parsers of
//! [`crate::files`], so a hostile registry can make a query fail with a clear error, never
//! panic or allocate without bound.

use crate::codec::Posting;
use crate::doc::{Summary, bucket_len, license_ids};
use crate::files::{
    self, MAX_BLOCK, MAX_FACET, MAX_FACET_CHUNK, MAX_ROOT, MAX_SHARD, ROOT_PATH, Root,
};
use crate::store::{CatalogStore, DirStore, MemStore};
use crate::tokenize::{fold, is_indexed, shard_key_in, words};
use crate::write::{B, K1};
use crate::{BLOCK_DOCS, CatalogError};
use ratchet_formats::manifest::Platform;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Most results one query returns (bounds the summary blocks fetched).
pub const MAX_LIMIT: usize = 50;
// A listing's page fits in its facet heads' inline summaries (§10.2).
const _: () = assert!(crate::PAGE_DOCS >= MAX_LIMIT);
/// Queries of at most this many terms are typo tolerant.
pub const TYPO_MAX_TERMS: usize = 3;
/// Shortest term (in characters) matched with one typo.
pub const TYPO_MIN_CHARS: usize = 4;
/// Shortest last term (in characters) expanded as a prefix.
pub const PREFIX_MIN_CHARS: usize = 3;
/// Weight of a term found by prefix expansion.
pub const PREFIX_WEIGHT: f64 = 0.8;
/// Weight of a term found with one typo.
pub const TYPO_WEIGHT: f64 = 0.6;
/// Queries of at least this many terms are natural-language queries (§10.6): filler words are
/// dropped and a bundle must match a share of the words instead of all of them.
pub const NL_MIN_TERMS: usize = 3;
/// Share of a natural-language query's words a bundle must match (rounded up, at least 2).
pub const NL_SHARE: f64 = 0.5;
/// Words of a natural-language query that say nothing about what is searched for (how a
/// question or a request is phrased). Dropped from queries of [`NL_MIN_TERMS`] or more words
/// only: `index-format.md` §10.6 lists them. They are not stop words of the index, so a short
/// query for one of them still finds it.
pub const NL_FILLER_WORDS: &[&str] = &[
    "about",
    "after",
    "also",
    "automatically",
    "before",
    "could",
    "do",
    "does",
    "each",
    "every",
    "get",
    "help",
    "how",
    "if",
    "just",
    "like",
    "make",
    "me",
    "my",
    "need",
    "new",
    "old",
    "should",
    "so",
    "some",
    "something",
    "them",
    "then",
    "there",
    "they",
    "their",
    "want",
    "way",
    "what",
    "when",
    "whenever",
    "which",
    "would",
];
/// Relevance factor of a deprecated bundle.
pub const DEPRECATED_FACTOR: f64 = 0.5;

/// Supplies catalog files, one call per round trip.
pub trait Fetch {
    /// Fetches `(path, limit)` pairs: for each, `Ok(Some(bytes))`, `Ok(None)` when the file does
    /// not exist (404), or an error. An implementation MUST NOT read more than `limit + 1`
    /// bytes of a file; a longer file is [`CatalogError::TooLarge`] (the reader checks again).
    fn fetch(&mut self, files: &[(String, u64)]) -> Vec<Result<Option<Vec<u8>>, CatalogError>>;
}

impl Fetch for MemStore {
    fn fetch(&mut self, files: &[(String, u64)]) -> Vec<Result<Option<Vec<u8>>, CatalogError>> {
        files.iter().map(|(p, l)| self.read(p, *l)).collect()
    }
}

impl Fetch for DirStore {
    fn fetch(&mut self, files: &[(String, u64)]) -> Vec<Result<Option<Vec<u8>>, CatalogError>> {
        files.iter().map(|(p, l)| self.read(p, *l)).collect()
    }
}

/// `--price`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PriceFilter {
    /// Pricing model `free`.
    Free,
    /// Any other model.
    Paid,
    /// Free, or a price of at most this amount (in the bundle's currency; a freemium bundle
    /// counts as free).
    Max(f64),
}

impl std::str::FromStr for PriceFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "free" => Ok(PriceFilter::Free),
            "paid" => Ok(PriceFilter::Paid),
            _ => s
                .strip_prefix("max:")
                .and_then(|n| n.parse::<f64>().ok())
                .filter(|n| n.is_finite() && *n >= 0.0)
                .map(PriceFilter::Max)
                .ok_or_else(|| format!("`{s}` is not a price filter: use free, paid or max:N")),
        }
    }
}

/// `--sort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// Best match first.
    #[default]
    Relevance,
    /// Most downloaded first.
    Downloads,
    /// Best rated first (unrated last).
    Rating,
    /// Most recently published first.
    Updated,
    /// Highest trend first.
    Trending,
    /// By name (its first three characters; then relevance).
    Name,
}

impl std::str::FromStr for Sort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "relevance" => Sort::Relevance,
            "downloads" => Sort::Downloads,
            "rating" => Sort::Rating,
            "updated" => Sort::Updated,
            "trending" => Sort::Trending,
            "name" => Sort::Name,
            _ => {
                return Err(format!(
                    "`{s}` is not a sort: use relevance, downloads, rating, updated, trending or name"
                ));
            }
        })
    }
}

/// A search.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Free text (may be empty when a facet filter is given).
    pub text: String,
    /// Bundles in any of these categories.
    pub categories: Vec<String>,
    /// Bundles with any of these tags.
    pub tags: Vec<String>,
    /// Bundles by any of these authors.
    pub authors: Vec<String>,
    /// Bundles whose license expression names any of these SPDX ids.
    pub licenses: Vec<String>,
    /// Price filter.
    pub price: Option<PriceFilter>,
    /// Only verified bundles (community or official).
    pub verified: bool,
    /// Only bundles that run on this platform.
    pub platform: Option<Platform>,
    /// Include deprecated bundles (ranked lower).
    pub include_deprecated: bool,
    /// Order of results.
    pub sort: Sort,
    /// Results to return, at most [`MAX_LIMIT`].
    pub limit: usize,
    /// Results to skip.
    pub offset: usize,
}

impl Default for Query {
    fn default() -> Self {
        Query {
            text: String::new(),
            categories: Vec::new(),
            tags: Vec::new(),
            authors: Vec::new(),
            licenses: Vec::new(),
            price: None,
            verified: false,
            platform: None,
            include_deprecated: true,
            sort: Sort::Relevance,
            limit: 20,
            offset: 0,
        }
    }
}

impl Query {
    /// A text query with the defaults.
    pub fn text(t: &str) -> Self {
        Query {
            text: t.to_string(),
            ..Query::default()
        }
    }
}

/// One result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// What to show.
    pub summary: Summary,
    /// Relevance score (0 for a listing without text).
    pub score: f64,
}

/// The answer to a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Results {
    /// Bundles that match (a lower bound when `capped`).
    pub total: usize,
    /// The page asked for.
    pub hits: Vec<Hit>,
    /// A term was so common that only its best postings are stored: `total` may be low.
    pub capped: bool,
    /// No bundle matched every term (in a natural-language query, §10.6: the required share of
    /// them); bundles matching fewer terms are ranked instead.
    pub relaxed: bool,
}

/// One query term: the folded word, and the raw word when it is the last one and long enough
/// to be expanded as a prefix.
#[derive(Debug, Clone)]
struct QTerm {
    exact: Option<String>,
    prefix: Option<String>,
    typo: bool,
}

impl QTerm {
    /// The one shard a query word reads (§10.6): its own term's, where its prefix and typo
    /// matches are looked up too (the raw word's, for a word that is not indexed).
    fn shard_key(&self, root: &Root) -> String {
        match (&self.exact, &self.prefix) {
            (Some(w), _) | (None, Some(w)) => shard_key_in(w, &root.split),
            (None, None) => String::new(),
        }
    }
}

fn query_terms(text: &str) -> Vec<QTerm> {
    let mut raw: Vec<String> = words(text).collect();
    let open_end = text.chars().last().is_some_and(char::is_alphanumeric);
    let indexed = raw.iter().filter(|w| is_indexed(w)).count();
    if indexed >= NL_MIN_TERMS {
        let last = raw.last().cloned();
        let kept: Vec<String> = raw
            .iter()
            .filter(|w| !NL_FILLER_WORDS.contains(&w.as_str()))
            .cloned()
            .collect();
        if kept.iter().any(|w| is_indexed(w)) {
            // The last word stays the last word only when it was kept (a prefix is expanded
            // only from what is being typed).
            let last_kept = kept.last() == last.as_ref();
            raw = kept;
            if !last_kept {
                return terms_of(&raw, false);
            }
        }
    }
    terms_of(&raw, open_end)
}

fn terms_of(raw: &[String], open_end: bool) -> Vec<QTerm> {
    let mut out: Vec<QTerm> = Vec::new();
    for (i, w) in raw.iter().enumerate() {
        let last = i + 1 == raw.len() && open_end;
        let exact = is_indexed(w).then(|| fold(w));
        let prefix = (last && w.chars().count() >= PREFIX_MIN_CHARS).then(|| w.clone());
        if exact.is_none() && prefix.is_none() {
            continue;
        }
        if out
            .iter()
            .any(|q| q.exact.is_some() && q.exact == exact && prefix.is_none())
        {
            continue;
        }
        out.push(QTerm {
            exact,
            prefix,
            typo: false,
        });
    }
    if out.len() <= TYPO_MAX_TERMS {
        for q in &mut out {
            q.typo = q
                .exact
                .as_ref()
                .is_some_and(|e| e.chars().count() >= TYPO_MIN_CHARS);
        }
    }
    out
}

/// True when `a` and `b` are one insertion, deletion or substitution apart.
fn one_edit(a: &str, b: &str) -> bool {
    let (la, lb) = (a.chars().count(), b.chars().count());
    la.abs_diff(lb) <= 1 && strsim::levenshtein(a, b) == 1
}

fn license_value(v: &str) -> String {
    if v.trim().eq_ignore_ascii_case("proprietary") {
        return "PROPRIETARY".to_string();
    }
    if let Some(id) = spdx::license_id(v) {
        return id.name.to_string();
    }
    if let Some((id, _)) = spdx::imprecise_license_id(v) {
        return id.name.to_string();
    }
    license_ids(v).into_iter().next().unwrap_or_default()
}

/// Fetches and parses `catalog/root.json` (round 1 of every query); a registry without it has
/// One file's answer from a [`Fetch`]: its bytes, `None` when it is absent.
type Answer = Result<Option<Vec<u8>>, CatalogError>;

/// Fetches `wanted` in one round trip (none when there are none), one answer per file in
/// order: a fetcher that answers a different number is refused.
fn fetch_all(
    fetch: &mut impl Fetch,
    wanted: &[(String, u64)],
) -> Result<Vec<Answer>, CatalogError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let answers = fetch.fetch(wanted);
    if answers.len() != wanted.len() {
        return Err(CatalogError::Fetch {
            file: files::CATALOG_DIR.into(),
            message: "the fetcher answered a different number of files".into(),
        });
    }
    Ok(answers)
}

/// no catalog.
fn fetch_root(fetch: &mut impl Fetch) -> Result<Root, CatalogError> {
    let bytes = checked(
        one(fetch.fetch(&[(ROOT_PATH.to_string(), MAX_ROOT)]), ROOT_PATH),
        ROOT_PATH,
        MAX_ROOT,
    )?
    .ok_or(CatalogError::Missing)?;
    files::parse_root(&bytes)
}

fn one<T>(r: Vec<Result<T, CatalogError>>, file: &str) -> Result<T, CatalogError> {
    r.into_iter().next().unwrap_or_else(|| {
        Err(CatalogError::Fetch {
            file: file.to_string(),
            message: "the fetcher returned no answer".into(),
        })
    })
}

fn checked(
    got: Result<Option<Vec<u8>>, CatalogError>,
    file: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>, CatalogError> {
    match got? {
        Some(b) if b.len() as u64 > limit => Err(CatalogError::TooLarge {
            file: file.to_string(),
            limit,
        }),
        other => Ok(other),
    }
}

fn idf(n: u32, df: u32) -> f64 {
    let (n, df) = (f64::from(n), f64::from(df.min(n)));
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

fn term_score(p: &Posting, df: u32, root: &Root) -> f64 {
    let tf = f64::from(p.wtf) / 2.0;
    let len = bucket_len(p.len_bucket) / 2.0;
    idf(root.docs, df) * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len / root.avg_len()))
}

fn passes(p: &Posting, q: &Query) -> bool {
    if q.verified && p.flags & 0b11 == 0 {
        return false;
    }
    if !q.include_deprecated && p.flags & 0b100 != 0 {
        return false;
    }
    if let Some(pl) = q.platform {
        let bit = crate::doc::platform_bits(&[pl]);
        if (p.flags >> 3) & bit == 0 {
            return false;
        }
    }
    match q.price {
        None => true,
        Some(PriceFilter::Free) => p.model == 0,
        Some(PriceFilter::Paid) => p.model != 0,
        Some(PriceFilter::Max(n)) => p.model == 0 || p.model == 2 || f64::from(p.price) <= n,
    }
}

/// Runs a query. Files come from `fetch`: in two calls for a text query, two to four for a
/// listing.
pub fn search(fetch: &mut impl Fetch, q: &Query) -> Result<Results, CatalogError> {
    if q.limit > MAX_LIMIT {
        return Err(CatalogError::Query(format!(
            "limit {} is more than {MAX_LIMIT}",
            q.limit
        )));
    }
    // Round 1: the root.
    let root = fetch_root(fetch)?;

    // Round 2: term shards and facet files.
    let qterms = query_terms(&q.text);
    let mut facet_filters: Vec<Vec<(String, String)>> = Vec::new();
    let norm = |v: &String| v.trim().to_lowercase();
    for (kind, values) in [
        (
            "category",
            q.categories.iter().map(norm).collect::<Vec<_>>(),
        ),
        ("tag", q.tags.iter().map(norm).collect()),
        ("author", q.authors.iter().map(norm).collect()),
        (
            "license",
            q.licenses.iter().map(|v| license_value(v)).collect(),
        ),
    ] {
        if !values.is_empty() {
            facet_filters.push(values.into_iter().map(|v| (kind.to_string(), v)).collect());
        }
    }
    let text_query = !qterms.is_empty();
    if !text_query {
        if !q.text.trim().is_empty() && facet_filters.is_empty() {
            return Ok(Results {
                total: 0,
                hits: Vec::new(),
                capped: false,
                relaxed: false,
            });
        }
        // A listing: the flag filters become facet files too.
        if q.verified {
            facet_filters.push(vec![
                ("verified".into(), "community".into()),
                ("verified".into(), "official".into()),
            ]);
        }
        if let Some(pl) = q.platform {
            facet_filters.push(vec![("platform".into(), pl.name().into())]);
        }
        match q.price {
            None => {}
            Some(PriceFilter::Free) => facet_filters.push(vec![("pricing".into(), "free".into())]),
            Some(PriceFilter::Paid) => facet_filters.push(
                ["paid", "freemium", "subscription"]
                    .iter()
                    .map(|m| ("pricing".to_string(), m.to_string()))
                    .collect(),
            ),
            Some(PriceFilter::Max(_)) => {
                return Err(CatalogError::Query(
                    "--price max:N needs a text query (prices are in the postings)".into(),
                ));
            }
        }
        if facet_filters.is_empty() {
            return Err(CatalogError::Query(
                "give search text or at least one filter".into(),
            ));
        }
        if q.sort != Sort::Relevance {
            return Err(CatalogError::Query(
                "a listing without search text is in publish order; other sorts need text".into(),
            ));
        }
    }
    let keys: BTreeSet<String> = qterms.iter().map(|t| t.shard_key(&root)).collect();
    let mut requests: Vec<(String, u64)> = keys
        .iter()
        .map(|k| (files::shard_path(k), MAX_SHARD))
        .collect();
    // A text query filters by the facet keys of its postings' cards (§10.6): it reads no
    // facet file.
    let facet_pairs: BTreeSet<(String, String)> = if text_query {
        BTreeSet::new()
    } else {
        facet_filters.iter().flatten().cloned().collect()
    };
    requests.extend(
        facet_pairs
            .iter()
            .map(|(k, v)| (files::facet_path(k, v), MAX_FACET)),
    );
    let answers = fetch_all(fetch, &requests)?;
    let mut answers = answers.into_iter();
    let mut shards: HashMap<String, Vec<files::DecodedTerm>> = HashMap::new();
    for k in &keys {
        let path = files::shard_path(k);
        let got = checked(answers.next().expect("counted"), &path, MAX_SHARD)?;
        let terms = match got {
            Some(b) => files::parse_shard(&b, k, &root)?,
            None => Vec::new(),
        };
        shards.insert(k.clone(), terms);
    }
    // Summaries carried by the matched terms' cards (§10.2) and by the facet heads (the first
    // page of their listing), and the cards' facet keys.
    let mut inline: HashMap<u32, Summary> = HashMap::new();
    let mut card_keys: HashMap<u32, &[u32]> = HashMap::new();
    let mut heads: HashMap<(String, String), files::FacetFile> = HashMap::new();
    for (kind, value) in &facet_pairs {
        let path = files::facet_path(kind, value);
        let got = checked(answers.next().expect("counted"), &path, MAX_FACET)?;
        if let Some(b) = got {
            let h = files::parse_facet_head(&b, kind, value, &root)?;
            for s in &h.s {
                inline.entry(s.ord).or_insert_with(|| s.clone());
            }
            heads.insert((kind.clone(), value.clone()), h);
        }
    }

    // The words' matches, before the facet filter (by their cards' keys).
    let mut capped = false;
    let mut relaxed = false;
    let mut per_term: Vec<HashMap<u32, (f64, Posting)>> = Vec::new();
    if text_query {
        for qt in &qterms {
            let mut m: HashMap<u32, (f64, Posting)> = HashMap::new();
            for (t, df, ps, cards, keys) in shards.get(&qt.shard_key(&root)).into_iter().flatten() {
                let w = if qt.exact.as_ref() == Some(t) {
                    1.0
                } else if qt
                    .prefix
                    .as_ref()
                    .is_some_and(|p| t.starts_with(p.as_str()))
                {
                    PREFIX_WEIGHT
                } else if qt.typo && qt.exact.as_ref().is_some_and(|e| one_edit(e, t)) {
                    TYPO_WEIGHT
                } else {
                    continue;
                };
                capped |= (*df as usize) > ps.len();
                for (s, keys) in cards.iter().zip(keys) {
                    inline.entry(s.ord).or_insert_with(|| s.clone());
                    card_keys.entry(s.ord).or_insert(keys);
                }
                for p in ps {
                    if !passes(p, q) {
                        continue;
                    }
                    let s = w * term_score(p, *df, &root);
                    let e = m.entry(p.ord).or_insert((0.0, *p));
                    if s > e.0 {
                        e.0 = s;
                    }
                }
            }
            per_term.push(m);
        }
    }

    // Round 3 (only for a listing that needs them): the facet chunks. A listing of one value
    // whose page is within the head's inline first page needs none; otherwise the chunks every
    // filter group may hold.
    let mut first_page_only: Option<(Vec<u32>, usize)> = None;
    if !text_query
        && let [group] = facet_filters.as_slice()
        && let [pair] = group.as_slice()
    {
        match heads.get(pair) {
            None => first_page_only = Some((Vec::new(), 0)),
            Some(h)
                if q.offset.saturating_add(q.limit) <= h.s.len()
                    || h.s.len() == h.count as usize =>
            {
                first_page_only = Some((h.s.iter().map(|s| s.ord).collect(), h.count as usize));
            }
            Some(_) => {}
        }
    }
    // A listing of several values of a kind a bundle has one value of (`--verified` is
    // community or official; `--price paid`): the union's lowest ordinals are among each
    // head's inline first page, and its size is the sum of the counts.
    if !text_query
        && let [group] = facet_filters.as_slice()
        && group.len() > 1
        && group
            .iter()
            .all(|(k, _)| matches!(k.as_str(), "verified" | "pricing"))
    {
        let present: Vec<&files::FacetFile> = group.iter().filter_map(|p| heads.get(p)).collect();
        let complete = present.iter().all(|h| h.s.len() == h.count as usize);
        if complete || q.offset.saturating_add(q.limit) <= crate::PAGE_DOCS {
            let mut ords: Vec<u32> = present
                .iter()
                .flat_map(|h| h.s.iter().map(|s| s.ord))
                .collect();
            ords.sort_unstable();
            ords.dedup();
            if !complete {
                ords.truncate(crate::PAGE_DOCS);
            }
            let count = present.iter().map(|h| h.count as usize).sum();
            first_page_only = Some((ords, count));
        }
    }
    let mut sets: HashMap<(String, String), Vec<u32>> = HashMap::new();
    if !text_query && first_page_only.is_none() && !facet_filters.is_empty() {
        let mut wanted: Option<BTreeSet<u32>> = None;
        for group in &facet_filters {
            let u: BTreeSet<u32> = group
                .iter()
                .filter_map(|p| heads.get(p))
                .flat_map(|h| h.chunks.iter().map(|&(c, _)| c))
                .collect();
            wanted = Some(match wanted {
                None => u,
                Some(w) => w.intersection(&u).copied().collect(),
            });
        }
        let wanted = wanted.unwrap_or_default();
        let mut reqs: Vec<(String, u64)> = Vec::new();
        let mut which: Vec<((String, String), u32)> = Vec::new();
        // A head whose inline first page holds every member (50 or fewer) needs no chunk.
        let complete = |h: &files::FacetFile| h.s.len() == h.count as usize;
        for (pair, h) in &heads {
            for &(c, _) in &h.chunks {
                if wanted.contains(&c) && !complete(h) {
                    reqs.push((
                        files::facet_chunk_path(&pair.0, &pair.1, c),
                        MAX_FACET_CHUNK,
                    ));
                    which.push((pair.clone(), c));
                }
            }
        }
        let answers = fetch_all(fetch, &reqs)?;
        let mut have: HashMap<(String, String), BTreeSet<u32>> = HashMap::new();
        let mut parts: HashMap<(String, String), BTreeMap<u32, Vec<u32>>> = HashMap::new();
        for ((pair, c), ((path, _), got)) in which.into_iter().zip(reqs.iter().zip(answers)) {
            if let Some(b) = checked(got, path, MAX_FACET_CHUNK)? {
                let members = files::parse_facet_chunk(&b, &pair.0, &pair.1, c, &root)?;
                have.entry(pair.clone()).or_default().insert(c);
                parts.entry(pair).or_default().insert(c, members);
            }
        }
        for (pair, h) in &heads {
            if complete(h) {
                sets.insert(pair.clone(), h.s.iter().map(|s| s.ord).collect());
                continue;
            }
            let members: Vec<u32> = parts
                .remove(pair)
                .unwrap_or_default()
                .into_values()
                .flatten()
                .collect();
            files::check_facet_page(h, &members, &have.remove(pair).unwrap_or_default())?;
            sets.insert(pair.clone(), members);
        }
    }
    // Facet filter: AND across kinds, OR within one kind; for a text query, by its cards' keys.
    if text_query && !facet_filters.is_empty() {
        let mut groups: Vec<Vec<u32>> = Vec::new();
        for g in &facet_filters {
            let mut keys = Vec::new();
            for (k, v) in g {
                keys.push(files::facet_key(k, v).ok_or_else(|| {
                    CatalogError::Query(format!("cards carry no keys of facet `{k}`"))
                })?);
            }
            groups.push(keys);
        }
        for m in &mut per_term {
            m.retain(|o, _| {
                card_keys.get(o).is_some_and(|have| {
                    groups
                        .iter()
                        .all(|g| g.iter().any(|k| have.binary_search(k).is_ok()))
                })
            });
        }
    }
    let mut allowed: Option<BTreeSet<u32>> = None;
    if !text_query && first_page_only.is_none() {
        for group in &facet_filters {
            let union: BTreeSet<u32> = group
                .iter()
                .flat_map(|p| sets.get(p).into_iter().flatten().copied())
                .collect();
            allowed = Some(match allowed {
                None => union,
                Some(a) => a.intersection(&union).copied().collect(),
            });
        }
    }

    // Scoring.
    let mut ranked: Vec<(u32, f64, Posting)> = Vec::new();
    if text_query {
        // How many words a bundle must match: all of them, or in a natural-language query a
        // share of them (§10.6).
        let n = per_term.len();
        let need = if n >= NL_MIN_TERMS {
            ((n as f64 * NL_SHARE).ceil() as usize).max(2)
        } else {
            n
        };
        let combine = |need: usize| -> Vec<(u32, f64, Posting)> {
            let mut acc: BTreeMap<u32, (usize, f64, Posting)> = BTreeMap::new();
            for m in &per_term {
                for (&o, &(s, p)) in m {
                    let e = acc.entry(o).or_insert((0, 0.0, p));
                    e.0 += 1;
                    e.1 += s;
                }
            }
            acc.into_iter()
                .filter(|(_, (m, _, _))| *m >= need)
                .map(|(o, (_, s, p))| {
                    let f = if p.flags & 0b100 != 0 {
                        DEPRECATED_FACTOR
                    } else {
                        1.0
                    };
                    (o, s * f, p)
                })
                .collect()
        };
        // None: ask for one word fewer, down to one.
        ranked = combine(need);
        let mut level = need;
        while ranked.is_empty() && level > 1 {
            level -= 1;
            ranked = combine(level);
            relaxed = !ranked.is_empty();
        }
        let by_score = |a: &(u32, f64, Posting), b: &(u32, f64, Posting)| {
            b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
        };
        match q.sort {
            Sort::Relevance => ranked.sort_by(by_score),
            Sort::Downloads => ranked.sort_by(|a, b| {
                b.2.downloads
                    .cmp(&a.2.downloads)
                    .then_with(|| by_score(a, b))
            }),
            Sort::Rating => {
                ranked.sort_by(|a, b| b.2.rating.cmp(&a.2.rating).then_with(|| by_score(a, b)))
            }
            Sort::Updated => {
                ranked.sort_by(|a, b| b.2.updated.cmp(&a.2.updated).then_with(|| by_score(a, b)))
            }
            Sort::Trending => ranked.sort_by(|a, b| {
                (b.2.trend as i8)
                    .cmp(&(a.2.trend as i8))
                    .then_with(|| by_score(a, b))
            }),
            Sort::Name => {
                ranked.sort_by(|a, b| a.2.name_key.cmp(&b.2.name_key).then_with(|| by_score(a, b)))
            }
        }
    }
    let (listing, total): (Vec<u32>, usize) = if text_query {
        let l: Vec<u32> = ranked.iter().map(|r| r.0).collect();
        let n = l.len();
        (l, n)
    } else if let Some((ords, count)) = first_page_only {
        (ords, count)
    } else {
        let l: Vec<u32> = allowed.unwrap_or_default().into_iter().collect();
        let n = l.len();
        (l, n)
    };
    let page: Vec<(u32, f64)> = listing
        .iter()
        .enumerate()
        .skip(q.offset)
        .take(q.limit)
        .map(|(i, &o)| (o, ranked.get(i).map_or(0.0, |r| r.1)))
        .collect();

    // Round 3 or 4 (a listing only; a text query has every card): the summary blocks of the
    // page's bundles that no fetched file carries.
    let mut summaries: HashMap<u32, Summary> = HashMap::new();
    for (o, _) in &page {
        if let Some(s) = inline.remove(o) {
            summaries.insert(*o, s);
        }
    }
    let blocks: BTreeSet<u32> = page
        .iter()
        .filter(|(o, _)| !summaries.contains_key(o))
        .map(|(o, _)| o / BLOCK_DOCS)
        .collect();
    if !blocks.is_empty() {
        let reqs: Vec<(String, u64)> = blocks
            .iter()
            .map(|&b| (files::block_path(b), MAX_BLOCK))
            .collect();
        let answers = fetch_all(fetch, &reqs)?;
        for (&b, got) in blocks.iter().zip(answers) {
            let path = files::block_path(b);
            if let Some(bytes) = checked(got, &path, MAX_BLOCK)? {
                for s in files::parse_block(&bytes, b, &root)? {
                    summaries.entry(s.ord).or_insert(s);
                }
            }
        }
    }
    let mut hits = Vec::with_capacity(page.len());
    for (o, score) in page {
        let summary = summaries
            .remove(&o)
            .ok_or_else(|| CatalogError::Inconsistent {
                file: files::block_path(o / BLOCK_DOCS),
                message: format!("no summary for ordinal {o}, which postings or facets name"),
            })?;
        hits.push(Hit { summary, score });
    }
    Ok(Results {
        total,
        hits,
        capped,
        relaxed,
    })
}

/// Most bundles [`summaries_of`] looks up at once.
pub const MAX_LOOKUP: usize = 20;

/// Looks up the summaries of `ids` (at most [`MAX_LOOKUP`]) in two round trips, for a list of
/// bundles that comes from elsewhere (`ratchet bundle search --similar`, §11.3): the root, then
/// the shards of the last two id terms of each id (§10.3; the joined dashed segment, e.g.
/// `jsonutil`, comes last and is rare), whose cards carry the summaries of the (at most
/// `postings_cap`) bundles that term describes best. An id found on no such list is left out of
/// the answer (the caller shows it without a summary); an id that is not searchable (all
/// versions yanked) is never found. Files are size-checked and parsed as for [`search`].
pub fn summaries_of(
    fetch: &mut impl Fetch,
    ids: &[ratchet_formats::manifest::BundleId],
) -> Result<HashMap<String, Summary>, CatalogError> {
    if ids.len() > MAX_LOOKUP {
        return Err(CatalogError::Query(format!(
            "at most {MAX_LOOKUP} bundles are looked up at once, not {}",
            ids.len()
        )));
    }
    let root = fetch_root(fetch)?;
    let keys: BTreeSet<String> = ids
        .iter()
        .flat_map(|id| {
            let t = crate::tokenize::id_terms(id.as_str());
            let n = t.len();
            t.into_iter().skip(n.saturating_sub(2))
        })
        .map(|t| shard_key_in(&t, &root.split))
        .collect();
    let mut out = HashMap::new();
    if keys.is_empty() {
        return Ok(out);
    }
    let reqs: Vec<(String, u64)> = keys
        .iter()
        .map(|k| (files::shard_path(k), MAX_SHARD))
        .collect();
    let answers = fetch_all(fetch, &reqs)?;
    let wanted: BTreeSet<&str> = ids.iter().map(|i| i.as_str()).collect();
    for (k, got) in keys.iter().zip(answers) {
        let path = files::shard_path(k);
        if let Some(bytes) = checked(got, &path, MAX_SHARD)? {
            for (_, _, _, summaries, _) in files::parse_shard(&bytes, k, &root)? {
                for s in summaries {
                    if wanted.contains(s.id.as_str()) {
                        out.entry(s.id.to_string()).or_insert(s);
                    }
                }
            }
        }
    }
    Ok(out)
}
