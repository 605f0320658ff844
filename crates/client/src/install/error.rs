//! [`InstallError`]: why an install, update or removal failed. Each refusal is its own variant
//! with the ids, versions, hashes and paths it is about, the cause kept as its source: callers
//! decide on the variant, never on the text.

use crate::registry::{ConfigError, FetchError};
use crate::resolver::ResolveError;
use ratchet_formats::archive::ArchiveError;
use ratchet_formats::index::FormatError;
use ratchet_formats::manifest::BundleId;
use ratchet_formats::manifest::id::IdError;
use ratchet_formats::manifest::version_req::ReqError;
use ratchet_trust::TrustError;
use semver::Version;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

impl From<crate::integrity::IntegrityError> for InstallError {
    fn from(e: crate::integrity::IntegrityError) -> Self {
        InstallError::Integrity(Box::new(e))
    }
}

/// Why an install, update or removal failed.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// An enterprise policy refused the plan, is unusable, or the audit log could not be
    /// written (`index-format.md` §12-§13).
    #[error(transparent)]
    Enterprise(Box<crate::enterprise::EnterpriseError>),
    /// Fetching failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The registry's signed state refused what the server sent (`index-format.md` §9.7).
    #[error(transparent)]
    Integrity(Box<crate::integrity::IntegrityError>),
    /// The client configuration (`registries.json`, `RATCHET_TARGET_VERSION`) is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The registry has no `config.json`: it is not a ratchet registry.
    #[error("{registry} has no config.json: it is not a ratchet registry")]
    NotARegistry {
        /// The registry's root URL.
        registry: String,
    },
    /// The registry's `config.json` is larger than the limit for small files.
    #[error("{registry}config.json is larger than {limit} bytes")]
    ConfigTooLarge {
        /// The registry's root URL (ending in `/`).
        registry: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The registry's `config.json` does not parse.
    #[error(transparent)]
    BadRegistryConfig(FormatError),
    /// The resolution chose a version the index has no line for (a registry changing under us).
    #[error("{id} {version}: no index line")]
    MissingIndexLine {
        /// The bundle.
        id: BundleId,
        /// The version chosen.
        version: Version,
    },
    /// The registry requires a credential and none is configured.
    #[error("registry `{registry}` requires authentication: {advice}")]
    AuthRequired {
        /// The registry's name (or location as given).
        registry: String,
        /// What to run to give it one ([`crate::registry::RegistrySource::login_advice`]).
        advice: String,
    },
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
    /// A command needs an installed bundle (`run BUNDLE/TASK`) that is not installed.
    #[error("{id} is not installed: install it with `ratchet bundle install {id}`")]
    NeedsInstall {
        /// The bundle.
        id: BundleId,
    },
    /// `ID[@REQ]` with an id that is not a bundle id.
    #[error("`{spec}`: {source}")]
    BadSpecId {
        /// The spec as given.
        spec: String,
        /// Why the id is not one.
        source: IdError,
    },
    /// `ID@REQ` with a requirement that does not parse.
    #[error("`{spec}`: {source}")]
    BadSpecRequirement {
        /// The spec as given.
        spec: String,
        /// Why the requirement does not parse.
        source: ReqError,
    },
    /// `--locked` without a lockfile.
    #[error("--locked: {} does not exist", path.display())]
    LockfileMissing {
        /// Where the lockfile was looked for.
        path: PathBuf,
    },
    /// `--locked`: the lockfile's requests resolve to other versions than it lists.
    #[error(
        "--locked: the lockfile no longer resolves to itself (its versions do not satisfy its requests here); run without --locked to update it"
    )]
    LockfileStale {
        /// The versions the lockfile lists.
        locked: BTreeMap<BundleId, Version>,
        /// The versions its requests resolve to here.
        resolved: BTreeMap<BundleId, Version>,
    },
    /// `--locked`: the registry serves other bytes than the lockfile names.
    #[error(
        "--locked: {id} {version} is sha256 {served_sha256} ({served_size} bytes) in the registry but sha256 {locked_sha256} ({locked_size} bytes) in the lockfile: refusing different bytes"
    )]
    LockedBytesDiffer {
        /// The bundle.
        id: BundleId,
        /// Its version.
        version: Version,
        /// The archive hash the registry lists.
        served_sha256: Box<str>,
        /// The archive size the registry lists.
        served_size: u64,
        /// The archive hash the lockfile names.
        locked_sha256: Box<str>,
        /// The archive size the lockfile names.
        locked_size: u64,
    },
    /// A bundle asked for is installed from another registry.
    #[error(
        "{id} is installed from registry {installed_from}; to take it from {registry} instead, `ratchet bundle remove {id}` first"
    )]
    InstalledFromElsewhere {
        /// The bundle.
        id: BundleId,
        /// The registry it is installed from (root URL).
        installed_from: String,
        /// The registry of this operation (its label).
        registry: String,
    },
    /// The resolution needs a bundle that is installed from another registry.
    #[error(
        "this installation needs {id} from {registry}, but {id} is installed from registry {installed_from}; one installation holds one copy of a bundle: remove it first (`ratchet bundle remove {id}`) or install from that registry"
    )]
    NeededFromElsewhere {
        /// The bundle.
        id: BundleId,
        /// The registry it is installed from (root URL).
        installed_from: String,
        /// The registry of this operation (its label).
        registry: String,
    },
    /// The registry serves other bytes for an installed version (versions are immutable).
    #[error(
        "{id} {version} is installed with archive sha256 {installed_sha256}, but registry {registry} now serves {served_sha256} for the same version; versions are immutable, so the registry was changed or is not the one it was installed from. Refusing; to accept the new bytes deliberately, `ratchet bundle remove {id}` and install it again"
    )]
    InstalledVersionChanged {
        /// The bundle.
        id: BundleId,
        /// The installed version.
        version: Version,
        /// The archive hash installed.
        installed_sha256: Box<str>,
        /// The archive hash the registry serves now.
        served_sha256: Box<str>,
        /// The registry (its label).
        registry: String,
    },
    /// An unpacked version directory would replace the files of the installed version.
    #[error("{id} {version} is installed with other bytes; refusing to replace its files")]
    WouldReplaceInstalled {
        /// The bundle.
        id: BundleId,
        /// The installed version.
        version: Version,
    },
    /// No check ran for a bundle of the plan (a bug: every new version is verified).
    #[error("{id} {version}: not verified (internal error: nothing checked it)")]
    NotVerified {
        /// The bundle.
        id: BundleId,
        /// Its version.
        version: Version,
    },
    /// Removing a bundle another installed bundle depends on, without `--cascade`.
    #[error("{dependent} depends on {id}: remove it first, or use --cascade to remove both")]
    Needed {
        /// The bundle asked to be removed.
        id: BundleId,
        /// An installed bundle that depends on it.
        dependent: BundleId,
    },
    /// A task of the worker threads (`pool`) panicked.
    #[error("{}", match task {
        PanickedTask::Unpack => "an archive could not be checked: its unpacking task panicked",
    })]
    TaskPanicked {
        /// Which task.
        task: PanickedTask,
    },
    /// No versions satisfy the requirements.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The owners of an archive cannot be checked: its metadata file is unusable.
    #[error(
        "{id} {version}: cannot check its owners: the registry's metadata file is unusable ({source})"
    )]
    UnusableMeta {
        /// The bundle.
        id: BundleId,
        /// Its version.
        version: Version,
        /// Why the metadata file is unusable.
        source: Arc<MetaError>,
    },
    /// An archive cannot be unpacked.
    #[error("{id} {version}: {source}")]
    Unpack {
        /// The bundle.
        id: BundleId,
        /// Its version.
        version: Version,
        /// What is wrong.
        source: Box<ArchiveError>,
    },
    /// A signature, owner or pin check refused the archive (`index-format.md` §7.6).
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// A local file cannot be read or written.
    #[error("{}: {source}", path.display())]
    Local {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A local state file does not parse.
    #[error("{}: {source}", path.display())]
    LocalParse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// The manifest of an installed bundle is unusable.
    #[error("{}: {}", path.display(), problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InstalledManifest {
        /// The bundle's directory.
        path: PathBuf,
        /// What is wrong with its manifest.
        problems: Vec<ratchet_formats::diagnostic::Diagnostic>,
    },
}

/// A task of the worker threads ([`InstallError::TaskPanicked`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanickedTask {
    /// Verifying and unpacking an archive.
    Unpack,
}

/// Why a bundle's metadata file is unusable ([`InstallError::UnusableMeta`]).
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// It could not be fetched.
    #[error(transparent)]
    Fetch(FetchError),
    /// It does not parse.
    #[error(transparent)]
    Parse(FormatError),
}

/// A bundle's metadata file as fetched: `Ok(None)` when it has none, `Err` when it is unusable
/// (shared by the tasks that verify its archives).
pub(crate) type MetaResult = Result<Option<ratchet_formats::index::BundleMeta>, Arc<MetaError>>;

pub(crate) fn local(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Local {
        path: path.to_path_buf(),
        source,
    }
}
