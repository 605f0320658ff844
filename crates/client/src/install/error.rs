//! [`InstallError`]: why an install, update or removal failed.

use crate::registry::FetchError;
use crate::resolver::ResolveError;
use ratchet_formats::manifest::BundleId;
use ratchet_trust::TrustError;
use semver::Version;
use std::path::{Path, PathBuf};

/// Why an install, update or removal failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// Fetching failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The registry or a file of it is malformed.
    #[error("{0}")]
    Registry(String),
    /// A requested bundle does not exist.
    #[error("no bundle `{id}` in registry {registry}{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    NotFound {
        /// The id asked for.
        id: String,
        /// The registry.
        registry: String,
        /// The closest listed id.
        suggestion: Option<String>,
    },
    /// An operation names a bundle that is not installed.
    #[error("{id} is not installed{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    NotInstalled {
        /// The id given.
        id: BundleId,
        /// The closest installed id, if one is close.
        suggestion: Option<BundleId>,
    },
    /// No versions satisfy the requirements.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// An archive failed its checks.
    #[error("{id} {version}: {message}")]
    Archive {
        /// The bundle.
        id: BundleId,
        /// Its version.
        version: Version,
        /// What is wrong.
        message: String,
    },
    /// A signature, owner or pin check refused the archive (`index-format.md` §7.6).
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// Local files.
    #[error("{path}: {message}")]
    Local {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The operation is refused.
    #[error("{0}")]
    Refused(String),
}

pub(crate) fn local(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |e| InstallError::Local {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}
