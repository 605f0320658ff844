//! Searching a registry's catalog (`index-format.md` §10.6) through the client's fetcher.
//!
//! `ratchet-catalog` evaluates queries over a caller-supplied [`Fetch`]; this module supplies
//! it from [`Fetcher`], so a search gets everything a registry fetch has: `file://`, http(s)
//! with credentials and conditional requests, the on-disk cache, `--offline` (answers from the
//! cache only), per-file size limits and timeouts. It also counts the requests and bytes of a
//! query, for `--verbose` and the benchmark. A registry without a catalog is
//! [`SearchError::NoCatalog`]; a catalog file that is too large, malformed or inconsistent is
//! [`SearchError::Damaged`], naming the file: no partial results are returned.

use crate::registry::fetch::{FetchError, Fetcher};
use ratchet_catalog::files::{self, MAX_ROOT, ROOT_PATH, Root};
use ratchet_catalog::{CatalogError, Fetch, Query, Results};

/// Why a registry could not be searched.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The registry publishes no `catalog/root.json`.
    #[error(
        "registry `{registry}` has no search catalog (catalog/root.json); its maintainer creates one with `ratchet-index catalog rebuild`"
    )]
    NoCatalog {
        /// The registry's label.
        registry: String,
    },
    /// A catalog file could not be fetched, or is oversized, malformed or inconsistent.
    #[error("registry `{registry}`: search catalog: {source}")]
    Damaged {
        /// The registry's label.
        registry: String,
        /// What is wrong, naming the file.
        #[source]
        source: CatalogError,
    },
    /// The query itself is invalid (e.g. `--limit` above 50).
    #[error("{0}")]
    Query(String),
}

/// [`Fetch`] over a registry's [`Fetcher`], counting requests and bytes.
pub struct CatalogFetch<'a> {
    fetcher: &'a Fetcher,
    /// Files asked for.
    pub requests: u64,
    /// Bytes received (or read from the cache).
    pub bytes: u64,
    /// Calls, i.e. round trips.
    pub rounds: u64,
}

impl<'a> CatalogFetch<'a> {
    /// A fetch over `fetcher`.
    pub fn new(fetcher: &'a Fetcher) -> Self {
        CatalogFetch {
            fetcher,
            requests: 0,
            bytes: 0,
            rounds: 0,
        }
    }
}

fn catalog_error(rel: &str, e: FetchError) -> CatalogError {
    match e {
        FetchError::TooLarge { limit, .. } => CatalogError::TooLarge {
            file: rel.to_string(),
            limit,
        },
        other => CatalogError::Fetch {
            file: rel.to_string(),
            message: other.to_string(),
        },
    }
}

impl Fetch for CatalogFetch<'_> {
    fn fetch(&mut self, list: &[(String, u64)]) -> Vec<Result<Option<Vec<u8>>, CatalogError>> {
        // One wave; the fetcher takes one limit, so ask for the largest and let the reader
        // check each file against its own (it does, before parsing).
        let limit = list.iter().map(|(_, l)| *l).max().unwrap_or(0);
        let rels: Vec<String> = list.iter().map(|(p, _)| p.clone()).collect();
        self.rounds += 1;
        self.requests += rels.len() as u64;
        let got = self.fetcher.get_many(&rels, limit);
        rels.iter()
            .zip(got)
            .map(|(rel, r)| {
                let r = r.map_err(|e| catalog_error(rel, e))?;
                self.bytes += r.as_ref().map_or(0, |b| b.len() as u64);
                Ok(r)
            })
            .collect()
    }
}

fn damaged(fetcher: &Fetcher, e: CatalogError) -> SearchError {
    let registry = fetcher.source().label();
    match e {
        CatalogError::Missing => SearchError::NoCatalog { registry },
        CatalogError::Query(q) => SearchError::Query(q),
        source => SearchError::Damaged { registry, source },
    }
}

/// Runs `q` against the catalog of the registry behind `fetcher`; returns the results and the
/// fetch counters.
pub fn search<'a>(
    fetcher: &'a Fetcher,
    q: &Query,
) -> Result<(Results, CatalogFetch<'a>), SearchError> {
    let mut f = CatalogFetch::new(fetcher);
    let r = ratchet_catalog::search(&mut f, q).map_err(|e| damaged(fetcher, e))?;
    Ok((r, f))
}

/// The catalog's root file (facet counts for `ratchet bundle categories` and `tags`).
pub fn root(fetcher: &Fetcher) -> Result<Root, SearchError> {
    let bytes = match fetcher.get(ROOT_PATH, MAX_ROOT) {
        Ok(Some(b)) => b,
        Ok(None) => return Err(damaged(fetcher, CatalogError::Missing)),
        Err(e) => return Err(damaged(fetcher, catalog_error(ROOT_PATH, e))),
    };
    if bytes.len() as u64 > MAX_ROOT {
        return Err(damaged(
            fetcher,
            CatalogError::TooLarge {
                file: ROOT_PATH.into(),
                limit: MAX_ROOT,
            },
        ));
    }
    files::parse_root(&bytes).map_err(|e| damaged(fetcher, e))
}

/// Looks up the catalog summaries of `ids` (at most 20) in the registry behind `fetcher`, for
/// a list of bundles found elsewhere (`ratchet bundle search --similar`): two round trips,
/// `ratchet_catalog::search::summaries_of`. An id that is not among its id terms' capped
/// postings is absent from the answer.
pub fn summaries<'a>(
    fetcher: &'a Fetcher,
    ids: &[ratchet_formats::manifest::BundleId],
) -> Result<
    (
        std::collections::HashMap<String, ratchet_catalog::Summary>,
        CatalogFetch<'a>,
    ),
    SearchError,
> {
    let mut f = CatalogFetch::new(fetcher);
    let r = ratchet_catalog::search::summaries_of(&mut f, ids).map_err(|e| damaged(fetcher, e))?;
    Ok((r, f))
}
