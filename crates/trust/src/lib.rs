//! `ratchet-trust`: signing and trust: author keys, bundle signatures, owner chains, attestations, and the checks
//! a client makes before it installs anything.
//!
//! Signatures are minisign (Ed25519) signatures, so authors can use the standard `minisign` tool
//! as well as ratchet. The normative formats are in `index-format.md`, section 7:
//!
//! - [`keys`]: generating, saving (secret keys mode 0600) and loading key pairs; key ids.
//! - [`bundle_sig`]: the signature over `.bundle/checksum.sha256` and its trusted comment, which
//!   binds the bundle id, version and checksum-list hash (no replay onto another bundle).
//! - [`owners`]: the owner chain kept in the registry (trust on first publish, rotations signed
//!   by a current owner).
//! - [`attest`]: verifier and community attestations, and [`attest::VerificationStatus`].
//!
//! The checks an install makes with these pieces (and the client's pin store) live in the client
//! crate (`ratchet_client::verify`), which reads registries; this crate reads no network.

pub mod attest;
pub mod bundle_sig;
pub mod keys;
pub mod owners;

pub use attest::VerificationStatus;
pub use keys::{KeyPairFiles, PublicKey, SecretKey, key_id};

/// Everything that can go wrong while signing or verifying. Messages say what failed and where.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// A file could not be read or written.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A key file or key string is malformed, or a password is wrong.
    #[error("{what}: {reason}")]
    BadKey {
        /// Which key (file or field).
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A signature does not parse.
    #[error("{what}: not a minisign signature: {reason}")]
    BadSignature {
        /// Where it came from.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// A signature does not verify, is bound to something else, or is by a key not trusted here.
    #[error("{0}")]
    Refused(String),
    /// The archive itself is broken or tampered with.
    #[error("archive: {0}")]
    Archive(#[from] ratchet_formats::archive::ArchiveError),
    /// A registry file (metadata, attestations) does not parse.
    #[error("{file}: {reason}")]
    BadRecord {
        /// The file or record.
        file: String,
        /// What is wrong.
        reason: String,
    },
}

/// Maps an I/O error on `path` to [`TrustError::Io`] naming the file.
pub fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> TrustError + '_ {
    move |source| TrustError::Io {
        file: path.display().to_string(),
        source,
    }
}
