//! `ratchet-catalog`: the search catalog of a static registry (`index-format.md` §10).
//!
//! A registry is static files and has no server to run queries, so the catalog is an inverted
//! index cut into small files that a client fetches on demand: a root file with the global
//! statistics, term shards keyed by a term's first three characters (one more character below
//! a prefix whose shard grew past 24 KiB; every posting carries what is needed to score,
//! filter and sort, and a card with the result's summary and the keys of its facet values),
//! facet heads (one per facet value: its count, its chunks and the summaries of its first 50
//! members) with the value's set cut into chunks of 65536 ordinals, and blocks of result
//! summaries for listings. A text query costs two round trips, the root and one shard per word,
//! whatever its filters, sort and page: a one-word query is two requests and a two-word query
//! three, whatever the registry's size (§10.6); a publish rewrites only the files of the
//! changed bundle's terms, the heads of its facet values and one chunk per value it gains or
//! loses, its summary block, its forward file and the root.
//!
//! - [`doc`]: the document of a bundle ([`CatalogDoc`]), its terms, facets and summary;
//! - [`tokenize`]: the tokenizer shared by writer and reader;
//! - [`codec`]: the binary postings and ordinal sets inside the JSON files;
//! - [`files`]: the catalog files, their paths and their strict, bounded parsers;
//! - [`write`]: incremental update and full rebuild against a [`CatalogStore`];
//! - [`search`]: query evaluation against a caller-supplied [`Fetch`];
//! - [`registry`]: documents from a registry directory (the input of a rebuild).
//!
//! Everything read from a registry is hostile: every file has a size limit checked before it is
//! parsed, and a malformed, oversized or inconsistent file is a [`CatalogError`] naming it.

pub mod codec;
pub mod doc;
pub mod files;
pub mod registry;
pub mod search;
pub mod store;
pub mod tokenize;
pub mod write;

pub use doc::{CatalogDoc, Summary, Verified};
pub use search::{Fetch, Hit, PriceFilter, Query, Results, Sort, search};
pub use store::{CatalogStore, DirStore, MemStore};
pub use write::{Catalog, Change};

/// Characters of a term that choose its shard.
pub const PREFIX_CHARS: usize = 3;
/// Most postings a term's list keeps (the best by the champion key, §10.4).
pub const POSTINGS_CAP: usize = 100;
/// Most tags `root.json` counts (the popular ones, for `ratchet bundle tags --popular`).
pub const TOP_TAGS: usize = 200;
/// Summaries a facet head carries inline: those of the first members of its listing (§10.2),
/// as many as the largest page a query asks for, so that any page up to the 50th member of one
/// value costs the root and the head.
pub const PAGE_DOCS: usize = 50;
/// Documents per summary block.
pub const BLOCK_DOCS: u32 = 8;

/// A catalog file that cannot be used, named by its path in the registry.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be fetched or read.
    #[error("{file}: cannot read: {message}")]
    Fetch {
        /// Path of the file.
        file: String,
        /// What went wrong.
        message: String,
    },
    /// The file is larger than a reader accepts.
    #[error("{file}: more than the {limit} bytes a reader accepts")]
    TooLarge {
        /// Path of the file.
        file: String,
        /// The limit.
        limit: u64,
    },
    /// The file does not parse, or breaks a rule of its format.
    #[error("{file}: malformed: {message}")]
    Malformed {
        /// Path of the file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// The file is well-formed but disagrees with another catalog file.
    #[error("{file}: inconsistent with the catalog: {message}")]
    Inconsistent {
        /// Path of the file.
        file: String,
        /// What disagrees.
        message: String,
    },
    /// The file has a format version this reader does not know.
    #[error("{file}: catalog format {found} is not supported (known: {known})")]
    Unsupported {
        /// Path of the file.
        file: String,
        /// The version found.
        found: u32,
        /// The version known.
        known: u32,
    },
    /// The registry has no catalog (no `catalog/root.json`).
    #[error("the registry has no search catalog (catalog/root.json is missing)")]
    Missing,
    /// A write failed.
    #[error("{file}: cannot write: {source}")]
    Write {
        /// Path of the file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The query cannot be evaluated.
    #[error("invalid query: {0}")]
    Query(String),
}
