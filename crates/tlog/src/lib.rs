//! `ratchet-tlog`: registry integrity as static files (`index-format.md` §9).
//!
//! Why this crate exists: author signatures (§7) say *who* made an archive, but not whether the
//! index, metadata and config files a client reads are the registry's current ones. A server or
//! mirror could serve old files (rollback, un-yank), stop updating (freeze), mix files from two
//! moments, or show different users different registries (fork). This crate holds the pieces
//! that stop those attacks, with no network code (callers supply a [`tiles::Fetch`]):
//!
//! - [`hash`]: RFC 6962 hashing and the map's own domain-separated hashes;
//! - [`tree`]: RFC 6962 roots, inclusion and consistency proofs and their verification;
//! - [`tiles`]: the transparency log as C2SP-style tiles; [`tiles::LogWriter`] appends;
//! - [`map`]: the state map, a hexary Merkle trie keyed by the SHA-256 of each file path,
//!   committing to every index, metadata and config file, stored as one small file per node;
//! - [`entry`]: the log entries (publish, yank, deprecation, owners, attestation, config);
//! - [`signed`]: the signed checkpoint and the expiring timestamp;
//! - [`root`]: `root.json`, the registry key and its rotations, each signed by the key before;
//! - [`snapshot`]: the integration API: [`snapshot::Publisher`] and [`snapshot::Snapshot`], [`snapshot::audit`];
//! - [`client`]: what a client remembers per registry, and its refusals (rollback, freeze,
//!   fork, bad signature).

pub mod client;
pub mod entry;
pub mod hash;
pub mod map;
pub mod root;
pub mod signed;
pub mod snapshot;
pub mod tiles;
pub mod tree;

pub use hash::Hash;

/// Everything that can go wrong reading or writing these structures. Messages say what and where.
#[derive(Debug, thiserror::Error)]
pub enum TlogError {
    /// A file does not have the exact format it must have.
    #[error("{file}: {reason}")]
    Malformed {
        /// The file (registry path) or record.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be fetched (missing, or the fetcher failed).
    #[error("{file}: cannot fetch: {reason}")]
    Fetch {
        /// The file (registry path).
        file: String,
        /// Why.
        reason: String,
    },
    /// A proof does not verify: the files fetched are not the ones the signed root commits to.
    #[error("proof refused: {0}")]
    BadProof(String),
    /// A signature is malformed, by an unknown key, or does not verify.
    #[error("{what}: {reason}")]
    BadSignature {
        /// Which signed file or statement.
        what: String,
        /// Why.
        reason: String,
    },
    /// The caller asked for something impossible (a leaf past the end, a bad path).
    #[error("{0}")]
    Invalid(String),
}
