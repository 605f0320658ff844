//! `ratchet-publish`: operations on a local registry directory: init, publish, yank, deprecate, list, verify, gc.
//!
//! Both `ratchet-index` and `ratchet bundle publish --registry DIR` call this module, so a local
//! registry is maintained by one piece of code. Every change is made under the registry's lock
//! file (separate processes serialize on it) and in an order that never shows a broken state:
//! the immutable archive first, then the bundle's index file (temp file + rename), then the
//! append to `names.txt`. A publisher killed at any moment leaves at worst an unreferenced
//! archive or an id missing from `names.txt`, which [`Registry::verify`] reports as warnings and
//! [`Registry::gc`] repairs. Every refusal happens before the first write, so a refused publish
//! leaves the registry byte for byte unchanged.

mod catalog;
pub use catalog::RebuildReport;
pub mod s3;

use ratchet_formats::archive::{self, BundleArchive, Limits};
use ratchet_formats::diagnostic::Diagnostic;
use ratchet_formats::fsutil::write_atomic;
use ratchet_formats::index::{
    self, ARCHIVES_DIR, BundleMeta, CONFIG_FILE, Deprecation, INDEX_DIR, IndexFile, IndexLine,
    LOCK_FILE, META_DIR, NAMES_FILE, NamesFile, ParsedLine, RegistryConfig, RegistryKind,
    archive_path, index_path, meta_path,
};
use ratchet_formats::manifest::{BundleId, Manifest, VersionReq};
use ratchet_trust::TrustError;
use ratchet_trust::attest::{AttestFields, AttestKind, Attestation, requires_signatures};
use ratchet_trust::bundle_sig::{self, verify_archive};
use ratchet_trust::keys::PublicKey;
use ratchet_trust::owners::{ChainEntry, OwnerChain, VerifiedOwners};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Environment variable with a fixed publish time (seconds since the Unix epoch), for
/// reproducible registries.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// Why an operation on a registry was refused or failed. Nothing was changed when it is returned
/// by a refusal (every variant except `Io` during the write phase).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// `add_verifier` with an empty name.
    #[error("a verifier needs a name")]
    EmptyVerifierName,
    /// `gc` while `verify` finds errors: it could delete archives still in use.
    #[error("gc removes nothing while the registry has errors (it could delete archives still in use); fix these first (`ratchet-index verify`):\n{}", .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    GcRefused(Vec<Diagnostic>),
    /// The registry directory does not exist.
    #[error("{dir} is not a ratchet registry: no such directory")]
    NoSuchDirectory {
        /// The directory.
        dir: String,
    },
    /// The directory has no `config.json`.
    #[error(
        "{dir} is not a ratchet registry: it has no config.json (create one with `ratchet-index init`)"
    )]
    NoConfig {
        /// The directory.
        dir: String,
    },
    /// The directory's `config.json` does not parse.
    #[error("{dir} is not a ratchet registry: {source}")]
    BadConfig {
        /// The directory.
        dir: String,
        /// What is wrong with `config.json`.
        #[source]
        source: index::FormatError,
    },
    /// `init` on a directory that already holds a registry.
    #[error("{dir}: already holds a registry (config.json exists)")]
    AlreadyARegistry {
        /// The directory.
        dir: String,
    },
    /// `init` on a directory that holds other files.
    #[error("{dir}: is not empty; create a registry in a new directory")]
    DirectoryNotEmpty {
        /// The directory.
        dir: String,
    },
    /// `init` with settings `config.json` cannot hold (a `dl` template without `{{sha256}}`...).
    #[error("{dir}: {problem}")]
    BadInitConfig {
        /// The directory.
        dir: String,
        /// What the configuration check said.
        #[source]
        problem: index::ConfigProblem,
    },
    /// A registry file cannot be read or parsed.
    #[error(transparent)]
    Format(#[from] index::FormatError),
    /// An I/O error on a named file.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The archive file is larger than a registry accepts.
    #[error(
        "{file}: not a valid bundle archive: {size} bytes is more than the {limit} a registry accepts"
    )]
    ArchiveTooLarge {
        /// The archive file.
        file: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The archive cannot be read.
    #[error("{file}: not a valid bundle archive: {source}")]
    BadArchive {
        /// The archive file.
        file: String,
        /// What the archive reader refused.
        #[source]
        source: archive::ArchiveError,
    },
    /// The archive reads but cannot be extracted for validation.
    #[error("{file}: not a valid bundle archive: cannot extract: {source}")]
    CannotExtract {
        /// The archive file.
        file: String,
        /// What extraction refused.
        #[source]
        source: archive::ArchiveError,
    },
    /// The archive's `.bundle/manifest.json` is not what its `bundle.yaml` resolves to.
    #[error(
        "{file}: not a valid bundle archive: its .bundle/manifest.json disagrees with its bundle.yaml"
    )]
    ManifestDisagrees {
        /// The archive file.
        file: String,
    },
    /// The archive's file name does not match its manifest.
    #[error(
        "{file}: the archive's manifest is {id} {version}, so its file name must be `{expected}`"
    )]
    NameMismatch {
        /// The archive file.
        file: String,
        /// Id in the manifest.
        id: String,
        /// Version in the manifest.
        version: String,
        /// The name it should have.
        expected: String,
    },
    /// The bundle inside the archive does not validate.
    #[error("{file}: the bundle is invalid ({} error(s)):\n{}", diagnostics.len(), diagnostics.iter().map(|d| format!("  {d}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The archive file.
        file: String,
        /// The validation errors.
        diagnostics: Vec<Diagnostic>,
    },
    /// Versions are immutable.
    #[error(
        "{id} {version} is already published ({file}); versions are immutable: publish a new version"
    )]
    VersionExists {
        /// Bundle id.
        id: BundleId,
        /// Version.
        version: semver::Version,
        /// The index file holding it.
        file: String,
    },
    /// The id differs from an existing one only by separators.
    #[error(
        "{id} looks like {existing}, which the registry already holds (ids may not differ only by case, `.`, `-` or `_`)"
    )]
    LookAlike {
        /// The refused id.
        id: BundleId,
        /// The existing id.
        existing: BundleId,
    },
    /// A dependency the registry cannot satisfy.
    #[error("{id} depends on {dependency} {req}, but {}; publish the dependency first", match .available {
        None => "the registry does not hold it".to_string(),
        Some(have) => format!("no published, unyanked version matches (it has: {})", have.join(", ")),
    })]
    UnresolvableDependency {
        /// The bundle being published.
        id: BundleId,
        /// The dependency.
        dependency: BundleId,
        /// Its requirement.
        req: String,
        /// The versions the registry holds (`1.0.0`, `1.1.0 (yanked)`); `None` when it does
        /// not hold the dependency at all.
        available: Option<Vec<String>>,
    },
    /// The bundle's own index file has lines that do not parse; the registry needs repair.
    #[error("{file} is corrupt; fix or restore it before changing it:\n{}", problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    CorruptIndex {
        /// The index file.
        file: String,
        /// Its bad lines.
        problems: Vec<index::line::LineProblem>,
    },
    /// No such bundle.
    #[error("{0} is not in this registry")]
    UnknownBundle(BundleId),
    /// No such version.
    #[error("{0} {1} is not in this registry")]
    UnknownVersion(BundleId, semver::Version),
    /// A signature, owner or attestation check refused the change (`index-format.md` §7).
    #[error("{file}: {source}")]
    Untrusted {
        /// The archive, bundle or record concerned.
        file: String,
        /// The trust check's refusal (boxed: errors travel in `Result`s).
        #[source]
        source: Box<TrustError>,
    },
    /// An `--owner-key` of a publish is not a current owner of the id.
    #[error(
        "{file}: --owner-key {key_id} is not a current owner key of {id}; owners change only by a signed statement (`ratchet-index owner`)"
    )]
    OwnerKeyNotCurrent {
        /// The archive.
        file: String,
        /// The bundle id.
        id: BundleId,
        /// The key given.
        key_id: String,
    },
    /// The first signed publish of an id without `--owner-key`.
    #[error(
        "{file}: this is the first signed publish of {id}: it records the owner keys, so pass the signer's public key (and any co-owners') with --owner-key FILE.pub"
    )]
    OwnerKeysNeeded {
        /// The archive.
        file: String,
        /// The bundle id.
        id: BundleId,
    },
    /// More owner keys than an owner set may hold.
    #[error("{file}: at most {max} owner keys")]
    TooManyOwnerKeys {
        /// The archive.
        file: String,
        /// The limit.
        max: usize,
    },
    /// An unsigned archive of an id that has owners.
    #[error("{file}: {id} has owner key(s) {}: every new version must be signed by one of them (`ratchet bundle sign`)", .owners.join(", "))]
    UnsignedWithOwners {
        /// The archive.
        file: String,
        /// The bundle id.
        id: BundleId,
        /// The current owner key ids.
        owners: Vec<String>,
    },
    /// An unsigned archive on a registry that requires signatures.
    #[error(
        "{file}: registry `{registry}` requires signed bundles (config.json policies.require-signatures); sign it with `ratchet bundle sign`"
    )]
    SignaturesRequired {
        /// The archive.
        file: String,
        /// The registry's name.
        registry: String,
    },
    /// An owner statement for an id without owners.
    #[error("{file}: {id} has no owners yet: its first signed publish records them")]
    NoOwnersYet {
        /// The metadata file.
        file: String,
        /// The bundle id.
        id: BundleId,
    },
    /// An attestation's statement does not parse.
    #[error("attestation: {0}")]
    BadAttestation(#[source] ratchet_trust::StatementProblem),
    /// An attestation's version is not a version.
    #[error("attestation: version `{version}`: {source}")]
    AttestationVersion {
        /// The version as written.
        version: String,
        /// Why it does not parse.
        #[source]
        source: semver::Error,
    },
    /// An attestation's bundle id is not a valid id.
    #[error("attestation: bundle id `{id}`: {source}")]
    AttestationId {
        /// The id as written.
        id: String,
        /// Why it is not an id.
        #[source]
        source: ratchet_formats::manifest::id::IdError,
    },
    /// An attestation names no published archive.
    #[error("{file}: no line of {id} has version {version} and sha256 {sha256}")]
    AttestationOfUnknownArchive {
        /// The index file.
        file: String,
        /// The bundle id.
        id: BundleId,
        /// The version it names.
        version: String,
        /// The archive hash it names.
        sha256: String,
    },
    /// An official attestation not signed by a verifier key of `config.json`.
    #[error("attestation: the official attestation does not verify against the verifier keys in config.json: {}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    AttestationNotOfficial {
        /// What the check found.
        problems: Vec<ratchet_trust::attest::AttestationProblem>,
    },
    /// An attestation that does not count (bad signature, by an owner...).
    #[error("attestation: {problem}")]
    AttestationRejected {
        /// What the check found.
        #[source]
        problem: ratchet_trust::attest::AttestationProblem,
    },
    /// Owner keys given for an unsigned archive: owners are recorded only by a signed publish.
    #[error(
        "{file}: --owner-key was given, but the archive is not signed; owners are recorded only by a signed publish: sign it (`ratchet bundle sign`) or leave out --owner-key"
    )]
    OwnerKeysForUnsigned {
        /// The archive file.
        file: String,
    },
    /// A deprecation naming the deprecated bundle as its own replacement.
    #[error("{0} cannot be deprecated in favour of itself: --replacement must name another bundle")]
    SelfReplacement(BundleId),
    /// A publish time that is not RFC 3339 or a Unix time.
    #[error(
        "invalid publish time `{0}`: use RFC 3339 (2026-01-01T00:00:00Z) or seconds since the Unix epoch"
    )]
    BadTime(String),
    /// A change to a signed registry (it has `root.json`) without its registry key.
    #[error(
        "{dir} is a signed registry (root.json): every change is logged and signed with its registry key; give it with --registry-key FILE or RATCHET_REGISTRY_KEY"
    )]
    RegistryKeyNeeded {
        /// The registry directory.
        dir: String,
    },
    /// The registry key given is not the one `root.json` names.
    #[error(
        "registry key {given} is not this registry's current key {current} (root.json); nothing was changed"
    )]
    WrongRegistryKey {
        /// Key id of the key given.
        given: String,
        /// Key id of the current registry key.
        current: String,
    },
    /// The transparency log, state map or signed files are unusable (`index-format.md` §9).
    #[error("registry integrity: {0}")]
    Integrity(String),
    /// The search catalog cannot be read, written or rebuilt (the file is named).
    #[error("search catalog: {0}")]
    Catalog(#[from] ratchet_catalog::CatalogError),
    /// The change itself was written, but the search catalog could not follow it.
    #[error(
        "the change was made, but the search catalog was not updated ({0}); `ratchet-index catalog rebuild` repairs it"
    )]
    CatalogBehind(#[source] Box<PublishError>),
    /// The registry's enterprise policy (`config.json` `policies.enterprise`) is unusable.
    #[error("{0}")]
    Policy(#[source] ratchet_policy::PolicyError),
    /// The registry's policy refuses the archive; nothing was written.
    #[error("{file}: refused by the registry's policy:\n{}", .violations.iter().map(|v| format!("  {v}")).collect::<Vec<_>>().join("\n"))]
    PolicyRefused {
        /// The archive file.
        file: String,
        /// Every rule it breaks.
        violations: Vec<ratchet_policy::Violation>,
    },
    /// The change was made, but its audit entry could not be appended.
    #[error("the change was made, but its audit log entry could not be written: {0}")]
    AuditBehind(String),
    /// An approver role that is not a name.
    #[error("approver role `{0}`: use a-z, 0-9, `_` and `-`")]
    BadApproverRole(String),
    /// A verification report that cannot back an official attestation (`index-format.md`
    /// §16.6).
    #[error("verification report refused: {0}")]
    ReportRefused(String),
    /// An advisory file or record is not valid (`index-format.md` §16.4).
    #[error("advisory: {0}")]
    Advisory(String),
    /// An approval that does not verify against the approver keys of its role.
    #[error("approval refused: {0}")]
    ApprovalRejected(String),
    /// The change was made but the web marketplace (`site.json`'s `on_publish`) could not
    /// follow it.
    #[error(
        "the change was made, but the web pages were not updated ({0}); `ratchet-index site` regenerates them"
    )]
    SiteBehind(#[source] ratchet_site::SiteError),
}

type Result<T, E = PublishError> = std::result::Result<T, E>;

/// The bundle id a signed statement names, as a [`BundleId`].
pub(crate) fn statement_id(id: &str) -> Result<BundleId> {
    BundleId::parse(id).map_err(|source| PublishError::AttestationId {
        id: id.to_string(),
        source,
    })
}

mod enterprise;
pub use enterprise::{AUDIT_FILE, PendingApproval};
mod integrity;
mod quality;
pub use quality::REPORTS_DIR;
/// The `.gitignore` that `init` writes, so that a registry kept in git (or copied by a tool
/// that honours it) never carries the publishers' lock, an interrupted operation's marker, a
/// mirror's state or temporary files (index-format.md §6.10).
pub const GITIGNORE: &str = "# Written by ratchet-index init: never part of the registry (index-format.md §6.10).\n/.ratchet-index.lock\n/.ratchet-index.pending\n/.ratchet-index.audit.jsonl\n/.ratchet-index.mirror/\n.tmp-*\n";

/// The name of the file [`GITIGNORE`] is written to.
pub const GITIGNORE_FILE: &str = ".gitignore";

pub use integrity::{PENDING_FILE, REGISTRY_KEY_ENV, ROOT_FILE, RegistryKey, SignedState};

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PublishError + '_ {
    move |source| PublishError::Io {
        file: path.display().to_string(),
        source,
    }
}

/// A publish time: RFC 3339 (`2026-01-01T00:00:00Z`) or Unix seconds, normalised to RFC 3339 UTC.
pub fn parse_time(s: &str) -> Result<String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(format_time(
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
        ));
    }
    humantime::parse_rfc3339(t)
        .map(format_time)
        .map_err(|_| PublishError::BadTime(s.to_string()))
}

fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A time given as RFC 3339 or Unix seconds, as Unix seconds.
pub fn parse_time_secs(s: &str) -> Result<u64> {
    let t = parse_time(s)?;
    humantime::parse_rfc3339(&t)
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .ok_or_else(|| PublishError::BadTime(s.to_string()))
}

/// The publish time to use: `explicit`, else `SOURCE_DATE_EPOCH`, else now.
pub fn publish_time(explicit: Option<&str>) -> Result<String> {
    if let Some(t) = explicit {
        return parse_time(t);
    }
    if let Ok(t) = std::env::var(SOURCE_DATE_EPOCH)
        && !t.is_empty()
    {
        return parse_time(&t);
    }
    Ok(format_time(SystemTime::now()))
}

/// Holds the registry's lock file; released on drop.
#[derive(Debug)]
pub struct RegistryLock {
    _file: File,
}

/// What [`Registry::publish`] did.
#[derive(Debug, Clone)]
pub struct Published {
    /// The line appended to the index file.
    pub line: IndexLine,
    /// Index file, relative to the registry root.
    pub index_file: String,
    /// Archive file, relative to the registry root.
    pub archive_file: String,
    /// True when this was the id's first version.
    pub new_bundle: bool,
    /// Validation warnings of the bundle.
    pub warnings: Vec<Diagnostic>,
}

impl Published {
    /// The JSON form of one published (or, in a dry run, publishable) version that both
    /// command lines print: its index line's identity and where it went (`cli-output.md`).
    pub fn summary_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.line.id,
            "version": self.line.version.to_string(),
            "size": self.line.size,
            "sha256": self.line.sha256,
            "signer": self.line.signer,
            "new_bundle": self.new_bundle,
            "index_file": self.index_file,
            "archive_file": self.archive_file,
        })
    }
}

/// One bundle in [`Registry::list`].
#[derive(Debug, Clone)]
pub struct BundleSummary {
    /// The id.
    pub id: BundleId,
    /// Its versions in file order.
    pub versions: Vec<IndexLine>,
    /// Its deprecation, if deprecated.
    pub deprecated: Option<Deprecation>,
}

impl BundleSummary {
    /// The highest version that is not yanked, if any.
    pub fn latest(&self) -> Option<&IndexLine> {
        self.versions
            .iter()
            .filter(|l| !l.yanked)
            .max_by(|a, b| a.version.cmp_precedence(&b.version))
    }
}

/// The outcome of [`Registry::verify`]: every problem, errors first.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Problems found (file = path relative to the registry root).
    pub diagnostics: Vec<Diagnostic>,
    /// Index files checked.
    pub bundles: usize,
    /// Version lines checked.
    pub versions: usize,
    /// Archives checked.
    pub archives: usize,
}

impl VerifyReport {
    /// True when no error was found (warnings allowed).
    pub fn is_ok(&self) -> bool {
        !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
}

/// What [`Registry::gc`] removed or repaired.
#[derive(Debug, Clone, Default)]
pub struct GcReport {
    /// Unreferenced archives removed (relative paths).
    pub removed_archives: Vec<String>,
    /// Leftover temporary files removed.
    pub removed_temp_files: Vec<String>,
    /// Ids appended to `names.txt` because an interrupted publish had not.
    pub added_names: Vec<BundleId>,
    /// Ids whose index file's metadata line was brought up to their metadata file (§6.3.1).
    pub rewritten_meta_lines: Vec<BundleId>,
    /// True when a torn last line of `names.txt` was cut off.
    pub repaired_names_tail: bool,
    /// True when the search catalog was behind the index (an interrupted change) and was
    /// rebuilt (or, in a dry run, would be).
    pub rebuilt_catalog: bool,
    /// Integrity files (map nodes, log tiles) no snapshot a reader may still hold needs
    /// (`index-format.md` §9.6), removed.
    pub removed_integrity: Vec<String>,
    /// Bundles whose prefetch hint (§6.5.1) was stale or damaged, rewritten.
    pub rewritten_hints: Vec<BundleId>,
    /// Prefetch files that named no bundle of the registry, removed.
    pub removed_hints: Vec<String>,
}

/// A registry directory on this machine.
#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
    config: RegistryConfig,
    registry_key: Option<std::sync::Arc<RegistryKey>>,
}

/// An archive read, checked and validated, ready to be published.
struct CheckedArchive {
    bundle: BundleArchive,
    bytes: Vec<u8>,
    sha256: String,
    manifest: Manifest,
    warnings: Vec<Diagnostic>,
}

impl Registry {
    /// Creates a registry in `dir` (which must be absent or empty): `config.json`, an empty
    /// `names.txt` and the top directories.
    pub fn init(dir: &Path, name: &str, kind: RegistryKind, dl: Option<&str>) -> Result<Registry> {
        let mut config = RegistryConfig::new(name, kind);
        // New registries carry each bundle's metadata in its index file (§6.3.1).
        config.meta_in_index = true;
        if let Some(dl) = dl {
            config.dl = dl.to_string();
        }
        Self::init_with(dir, config)
    }

    /// [`Registry::init`] with a whole `config.json` (e.g. `auth-required` or the
    /// `require-signatures` policy set), checked before anything is written.
    pub fn init_with(dir: &Path, config: RegistryConfig) -> Result<Registry> {
        let shown = dir.display().to_string();
        if dir.join(CONFIG_FILE).exists() {
            return Err(PublishError::AlreadyARegistry { dir: shown });
        }
        if dir.exists() {
            // A fresh clone of an empty git repository holds only `.git`: a registry may start
            // there (index-format.md §6.10).
            let entries = std::fs::read_dir(dir).map_err(io_err(dir))?;
            if entries.flatten().any(|e| e.file_name() != ".git") {
                return Err(PublishError::DirectoryNotEmpty { dir: shown });
            }
        }
        config
            .check()
            .map_err(|problem| PublishError::BadInitConfig {
                dir: shown.clone(),
                problem,
            })?;
        for sub in [INDEX_DIR, META_DIR, ARCHIVES_DIR] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        let names = dir.join(NAMES_FILE);
        write_atomic(&names, b"").map_err(io_err(&names))?;
        let ignore = dir.join(GITIGNORE_FILE);
        write_atomic(&ignore, GITIGNORE.as_bytes()).map_err(io_err(&ignore))?;
        let cfg = dir.join(CONFIG_FILE);
        write_atomic(&cfg, config.to_json().as_bytes()).map_err(io_err(&cfg))?;
        // An empty search catalog (§10), so that clients see "no results", not "no catalog".
        let mut store = ratchet_catalog::DirStore::new(dir, true);
        ratchet_catalog::Catalog::rebuild(&mut store, Vec::new())?;
        Ok(Registry {
            root: dir.to_path_buf(),
            config,
            registry_key: None,
        })
    }

    /// Opens the registry in `dir`, refusing a directory without a valid `config.json`.
    pub fn open(dir: &Path) -> Result<Registry> {
        let shown = || dir.display().to_string();
        if !dir.is_dir() {
            return Err(PublishError::NoSuchDirectory { dir: shown() });
        }
        if !dir.join(CONFIG_FILE).is_file() {
            return Err(PublishError::NoConfig { dir: shown() });
        }
        let config = RegistryConfig::load(dir).map_err(|source| PublishError::BadConfig {
            dir: shown(),
            source,
        })?;
        Ok(Registry {
            root: dir.to_path_buf(),
            config,
            registry_key: None,
        })
    }

    /// The registry's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Its `config.json`.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Waits for and takes the registry's lock (an advisory lock on [`LOCK_FILE`]).
    pub fn lock(&self) -> Result<RegistryLock> {
        let path = self.root.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        file.lock().map_err(io_err(&path))?;
        Ok(RegistryLock { _file: file })
    }

    fn abs(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Where the archive with this hash is stored in this directory (`None` when `dl` is an
    /// absolute URL: archives are then hosted elsewhere).
    pub fn local_archive(&self, sha256: &str) -> Option<String> {
        let url = self.config.download_url(sha256);
        if url.contains("://") || url.starts_with('/') {
            return None;
        }
        Some(url)
    }

    fn archive_rel(&self, sha256: &str) -> String {
        self.local_archive(sha256)
            .unwrap_or_else(|| archive_path(sha256))
    }

    /// Loads the index file of `id`: `Ok(None)` when it has none.
    pub fn index_file(&self, id: &BundleId) -> Result<Option<(IndexFile, Vec<u8>)>> {
        let path = self.abs(&index_path(id));
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&path)(e)),
            Ok(_) => {}
        }
        let bytes = index::read_limited(&path, index::MAX_INDEX_FILE_LEN)?;
        let parsed = IndexFile::parse(&bytes, &index_path(id), Some(id));
        Ok(Some((parsed, bytes)))
    }

    /// The registry files a change of `id`'s metadata writes, in order: its metadata file, and
    /// its index file when index files carry the metadata line (§6.3.1).
    fn meta_files(&self, id: &BundleId) -> Vec<String> {
        let mut files = vec![meta_path(id)];
        if self.config.meta_in_index && self.abs(&index_path(id)).exists() {
            files.push(index_path(id));
        }
        files
    }

    /// Writes `id`'s metadata: its metadata file, then (`meta-in-index`) its index file with the
    /// new metadata line, version lines byte for byte as they were (§6.7 order).
    fn store_meta(&self, id: &BundleId, meta: &BundleMeta) -> Result<()> {
        let path = self.abs(&meta_path(id));
        write_atomic(&path, meta.to_json().as_bytes()).map_err(io_err(&path))?;
        sync_parent_dir(&path);
        crash_point("meta");
        if !self.config.meta_in_index {
            return Ok(());
        }
        let Some((_, bytes)) = self.index_file(id)? else {
            return Ok(());
        };
        let index_abs = self.abs(&index_path(id));
        write_atomic(&index_abs, &index::with_meta_line(&bytes, Some(meta)))
            .map_err(io_err(&index_abs))?;
        sync_parent_dir(&index_abs);
        Ok(())
    }

    /// Rewrites `id`'s index file so that its metadata line is its metadata file's content
    /// (`meta-in-index` registries; nothing when they agree): completes a metadata change that
    /// stopped between its two files.
    fn sync_meta_line(&self, id: &BundleId) -> Result<bool> {
        if !self.config.meta_in_index {
            return Ok(false);
        }
        let Some((parsed, bytes)) = self.index_file(id)? else {
            return Ok(false);
        };
        let meta = BundleMeta::load(&self.abs(&meta_path(id)))?;
        // A bad line is rewritten (or removed) whatever the file says.
        let line = match &parsed.meta {
            Some(Ok(m)) => Some(Some(m)),
            Some(Err(_)) => None,
            None => Some(None),
        };
        if line == Some(meta.as_ref()) {
            return Ok(false);
        }
        let index_abs = self.abs(&index_path(id));
        write_atomic(&index_abs, &index::with_meta_line(&bytes, meta.as_ref()))
            .map_err(io_err(&index_abs))?;
        sync_parent_dir(&index_abs);
        Ok(true)
    }

    fn index_file_clean(&self, id: &BundleId) -> Result<Option<(IndexFile, Vec<u8>)>> {
        let loaded = self.index_file(id)?;
        if let Some((parsed, _)) = &loaded {
            let problems: Vec<_> = parsed.problems().cloned().collect();
            if !problems.is_empty() {
                return Err(PublishError::CorruptIndex {
                    file: index_path(id),
                    problems,
                });
            }
        }
        Ok(loaded)
    }

    /// Reads, checks and validates an archive exactly as `ratchet bundle validate` would check
    /// its sources. Touches nothing in the registry. A signature is verified (see
    /// [`Registry::check_signature_first`]) before the manifests are parsed.
    fn check_archive(&self, file: &Path, owner_keys: &[PublicKey]) -> Result<CheckedArchive> {
        let shown = file.display().to_string();
        let limits = Limits::default();
        let size = std::fs::metadata(file).map_err(io_err(file))?.len();
        if size > limits.max_archive_bytes {
            return Err(PublishError::ArchiveTooLarge {
                file: shown,
                size,
                limit: limits.max_archive_bytes,
            });
        }
        let bytes = std::fs::read(file).map_err(io_err(file))?;
        let bad = |source| PublishError::BadArchive {
            file: shown.clone(),
            source,
        };
        let unparsed =
            archive::read_archive_unparsed(std::io::Cursor::new(&bytes), &limits).map_err(bad)?;
        self.check_signature_first(file, &unparsed, owner_keys)?;
        let bundle: BundleArchive = unparsed.parse_manifest().map_err(bad)?;
        let manifest = bundle.manifest.bundle.clone();
        let expected = archive::archive_file_name(&manifest);
        let actual = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if actual != expected {
            return Err(PublishError::NameMismatch {
                file: shown,
                id: manifest.id.to_string(),
                version: manifest.version.to_string(),
                expected,
            });
        }
        let tmp = tempfile::tempdir().map_err(io_err(Path::new("(temporary directory)")))?;
        let dest = tmp.path().join("bundle");
        bundle
            .extract_to_unsynced(&dest)
            .map_err(|source| PublishError::CannotExtract {
                file: shown.clone(),
                source,
            })?;
        let report = ratchet_validate::validate_bundle(&dest);
        let errors: Vec<Diagnostic> = report.errors().cloned().collect();
        if !errors.is_empty() {
            return Err(PublishError::Invalid {
                file: shown,
                diagnostics: errors,
            });
        }
        if report.manifest.as_ref() != Some(&manifest) {
            return Err(PublishError::ManifestDisagrees { file: shown });
        }
        let warnings = report.warnings().cloned().collect();
        let sha256 = index::sha256_hex(&bytes);
        Ok(CheckedArchive {
            bundle,
            bytes,
            sha256,
            manifest,
            warnings,
        })
    }

    /// The signature check that comes before any manifest is parsed (`index-format.md` §6.7):
    /// the id and version come from the signature's trusted comment (and must match the file
    /// name), the keys from that id's owner record, or `owner_keys` for an id without owners,
    /// and the signature must verify over the checksum list with that binding. An unsigned
    /// archive is refused here when the registry requires signatures; otherwise it is parsed
    /// (bounded by the manifest's depth pre-scan) and the owner rules of
    /// [`Registry::publish_with`] apply to it afterwards.
    fn check_signature_first(
        &self,
        file: &Path,
        unparsed: &archive::CheckedArchive,
        owner_keys: &[PublicKey],
    ) -> Result<()> {
        let shown = file.display().to_string();
        let untrusted = |source: TrustError| PublishError::Untrusted {
            file: shown.clone(),
            source: Box::new(source),
        };
        let Some(sig) = unparsed.signature() else {
            if requires_signatures(&self.config) {
                return Err(PublishError::SignaturesRequired {
                    file: shown,
                    registry: self.config.name.clone(),
                });
            }
            return Ok(());
        };
        let what = format!("bundle.sig of {shown}");
        let parsed = bundle_sig::parse_sig(sig, &what).map_err(untrusted)?;
        let claimed = bundle_sig::claimed_bundle(&parsed)
            .and_then(|(id, version)| Some((BundleId::parse(&id).ok()?, version)));
        let Some((id, version)) = claimed else {
            return Err(untrusted(TrustError::WrongBinding {
                what,
                found: parsed.trusted_comment.clone(),
                expected: format!(
                    "{} id=<id> version=<version> checksums=<sha256 of {}>",
                    bundle_sig::BUNDLE_SIG_TAG,
                    archive::CHECKSUM_FILE
                ),
            }));
        };
        let expected = format!("{id}-{version}.{}", archive::ARCHIVE_EXT);
        if file.file_name().is_none_or(|n| *n != *expected) {
            return Err(PublishError::NameMismatch {
                file: shown,
                id: id.to_string(),
                version: version.to_string(),
                expected,
            });
        }
        let (_, owners) = self.owners(&id)?;
        let (keys, keys_name) = match owners {
            Some((_, v)) => (v.current, format!("current owner keys of {id}")),
            None if owner_keys.is_empty() => {
                return Err(PublishError::OwnerKeysNeeded { file: shown, id });
            }
            None if owner_keys.len() > ratchet_trust::owners::MAX_OWNER_KEYS => {
                return Err(PublishError::TooManyOwnerKeys {
                    file: shown,
                    max: ratchet_trust::owners::MAX_OWNER_KEYS,
                });
            }
            None => (owner_keys.to_vec(), "given owner keys".to_string()),
        };
        bundle_sig::verify_signature(
            Some(sig),
            unparsed.checksum_list(),
            id.as_str(),
            &version,
            &keys,
            &keys_name,
        )
        .map_err(untrusted)?;
        Ok(())
    }

    /// Another id in the registry with the same skeleton as `id`, if any. Look-alikes share a
    /// shard directory, so this lists one small directory.
    pub fn look_alike(&self, id: &BundleId) -> Result<Option<BundleId>> {
        let rel = index_path(id);
        let dir = self.abs(&rel);
        let dir = dir.parent().expect("index path has a parent");
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(dir)(e)),
        };
        let skeleton = BundleId::skeleton(id.as_str());
        for entry in entries {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == id.as_str() {
                continue;
            }
            if BundleId::skeleton(&name) == skeleton
                && let Ok(other) = BundleId::parse(&name)
            {
                return Ok(Some(other));
            }
        }
        Ok(None)
    }

    fn check_dependencies(&self, m: &Manifest) -> Result<()> {
        for dep in &m.dependencies {
            let refuse = |available: Option<Vec<String>>| PublishError::UnresolvableDependency {
                id: m.id.clone(),
                dependency: dep.bundle_id.clone(),
                req: dep.version.to_string(),
                available,
            };
            let Some((file, _)) = self.index_file(&dep.bundle_id)? else {
                return Err(refuse(None));
            };
            if !file
                .versions()
                .any(|l| !l.yanked && dep.version.matches(&l.version))
            {
                let have: Vec<String> = file
                    .versions()
                    .map(|l| format!("{}{}", l.version, if l.yanked { " (yanked)" } else { "" }))
                    .collect();
                return Err(refuse(Some(have)));
            }
        }
        Ok(())
    }

    /// Publishes an archive. Checks everything first (archive, name, validation, immutability,
    /// look-alikes, dependencies) and changes nothing on refusal; then writes the archive, the
    /// index file and the names file, in that order, under the registry lock.
    pub fn publish(&self, file: &Path, published: &str) -> Result<Published> {
        self.publish_with(file, published, &[])
    }

    /// [`Registry::publish`] with owner enforcement (`index-format.md` §7.3): a signed archive
    /// of an id with owners must be signed by a current owner key; the first signed publish of
    /// an id records `owner_keys` (one of which must have made the signature) as its owners; an
    /// unsigned archive is refused when the id has owners, when the registry requires
    /// signatures, or when `owner_keys` are given (owners are recorded only by a signed
    /// publish). The line's `signer` is the signing key's id.
    pub fn publish_with(
        &self,
        file: &Path,
        published: &str,
        owner_keys: &[PublicKey],
    ) -> Result<Published> {
        self.publish_inner(file, published, owner_keys, true)
    }

    /// A dry run of [`Registry::publish_with`]: every check, against the registry as it is now,
    /// and the line that would be added, without writing anything (not even the lock file).
    pub fn check_publish(
        &self,
        file: &Path,
        published: &str,
        owner_keys: &[PublicKey],
    ) -> Result<Published> {
        self.publish_inner(file, published, owner_keys, false)
    }

    fn publish_inner(
        &self,
        file: &Path,
        published: &str,
        owner_keys: &[PublicKey],
        write: bool,
    ) -> Result<Published> {
        let published = parse_time(published)?;
        let checked = self.check_archive(file, owner_keys)?;
        if checked.bundle.signature.is_none() && !owner_keys.is_empty() {
            return Err(PublishError::OwnerKeysForUnsigned {
                file: file.display().to_string(),
            });
        }
        let _lock = if write { Some(self.lock()?) } else { None };
        let mut change = if write {
            Some(self.begin_change()?)
        } else {
            None
        };
        let m = &checked.manifest;
        let rel_index = index_path(&m.id);
        let existing = self.index_file_clean(&m.id)?;
        if let Some((parsed, _)) = &existing
            && let Some(line) = parsed.find(&m.version)
        {
            return Err(PublishError::VersionExists {
                id: m.id.clone(),
                version: line.version.clone(),
                file: rel_index,
            });
        }
        if let Some(other) = self.look_alike(&m.id)? {
            return Err(PublishError::LookAlike {
                id: m.id.clone(),
                existing: other,
            });
        }
        self.check_dependencies(m)?;
        let shown = file.display().to_string();
        self.check_policy(m, checked.bundle.signature.is_some(), &shown)?;
        let untrusted = |source: TrustError| PublishError::Untrusted {
            file: shown.clone(),
            source: Box::new(source),
        };
        let (mut meta, owners) = self.owners(&m.id)?;
        let id = m.id.as_str();
        let mut new_chain = None;
        let signer = match (&checked.bundle.signature, &owners) {
            (Some(_), Some((_, v))) => {
                let k = verify_archive(
                    &checked.bundle,
                    &v.current,
                    &format!("current owner keys of {id}"),
                )
                .map_err(untrusted)?;
                if let Some(given) = owner_keys.iter().find(|k| !v.current.contains(k)) {
                    return Err(PublishError::OwnerKeyNotCurrent {
                        file: shown,
                        id: m.id.clone(),
                        key_id: given.key_id(),
                    });
                }
                Some(k)
            }
            (Some(_), None) => {
                if owner_keys.is_empty() {
                    return Err(PublishError::OwnerKeysNeeded {
                        file: shown,
                        id: m.id.clone(),
                    });
                }
                if owner_keys.len() > ratchet_trust::owners::MAX_OWNER_KEYS {
                    return Err(PublishError::TooManyOwnerKeys {
                        file: shown,
                        max: ratchet_trust::owners::MAX_OWNER_KEYS,
                    });
                }
                let mut keys: Vec<PublicKey> = Vec::new();
                for k in owner_keys {
                    if !keys.contains(k) {
                        keys.push(k.clone());
                    }
                }
                let k = verify_archive(&checked.bundle, &keys, "given owner keys")
                    .map_err(untrusted)?;
                new_chain = Some(OwnerChain::genesis(id, &keys));
                Some(k)
            }
            (None, Some((_, v))) => {
                return Err(PublishError::UnsignedWithOwners {
                    file: shown,
                    id: m.id.clone(),
                    owners: v.current.iter().map(PublicKey::key_id).collect(),
                });
            }
            (None, None) => {
                if requires_signatures(&self.config) {
                    return Err(PublishError::SignaturesRequired {
                        file: shown,
                        registry: self.config.name.clone(),
                    });
                }
                None
            }
        };
        let mut warnings = checked.warnings;
        if signer.is_none() && self.config.kind != RegistryKind::Local {
            warnings.push(Diagnostic::warning(
                "unsigned",
                file.display().to_string(),
                format!(
                    "{} {} is not signed: clients install unsigned bundles only from local registries (--allow-unsigned), and `{}` is {}; sign it with `ratchet bundle sign`",
                    m.id,
                    m.version,
                    self.config.name,
                    self.config.kind.as_str()
                ),
            ));
        }

        let rel_archive = self.archive_rel(&checked.sha256);
        let mut line =
            IndexLine::from_manifest(m, &checked.sha256, checked.bytes.len() as u64, &published);
        line.signer = signer.map(|k| k.key_id());
        let new_bundle = existing.is_none();
        if !write {
            return Ok(Published {
                line,
                index_file: rel_index,
                archive_file: rel_archive,
                new_bundle,
                warnings,
            });
        }

        // The prefetch hint of the bundle's newest release (§6.5.1), with the new line.
        let mut lines: Vec<IndexLine> = existing
            .as_ref()
            .map(|(f, _)| f.versions().cloned().collect())
            .unwrap_or_default();
        lines.push(line.clone());
        // A hint only saves clients round trips: one that cannot be computed (a dependency's
        // index file unreadable) or written is a warning, never a failed publish.
        let hint = self.prefetch_hint(&m.id, &lines);
        if let Some(change) = change.as_mut() {
            let meta_rel = meta_path(&m.id);
            let mut files = vec![rel_index.as_str()];
            if new_chain.is_some() {
                files.insert(0, meta_rel.as_str());
            }
            let version = m.version.to_string();
            self.intend(
                change,
                ratchet_tlog::entry::EntryKind::Publish,
                Some(m.id.as_str()),
                Some(&version),
                Some(&checked.sha256),
                &files,
            )?;
        }
        // 1. The immutable, content-addressed archive.
        let archive_abs = self.abs(&rel_archive);
        let present =
            std::fs::metadata(&archive_abs).is_ok_and(|md| md.len() == checked.bytes.len() as u64);
        if !present {
            write_atomic(&archive_abs, &checked.bytes).map_err(io_err(&archive_abs))?;
            // The archive's rename must be durable before the index line that names it.
            sync_parent_dir(&archive_abs);
        }
        crash_point("archive");
        // 2. The owner record of a first signed publish (before the line that needs it).
        if let Some(chain) = new_chain {
            chain.store(&mut meta);
            let meta_abs = self.abs(&meta_path(&m.id));
            write_atomic(&meta_abs, meta.to_json().as_bytes()).map_err(io_err(&meta_abs))?;
            sync_parent_dir(&meta_abs);
        }
        crash_point("owners");
        // 3. The index file, old bytes plus one line, replaced atomically.
        let mut bytes = existing.map(|(_, b)| b).unwrap_or_default();
        bytes.extend_from_slice(line.to_line().as_bytes());
        if self.config.meta_in_index {
            // The metadata line (§6.3.1) is the metadata file's content, as written above.
            let has_meta = self.abs(&meta_path(&m.id)).exists();
            bytes = index::with_meta_line(&bytes, has_meta.then_some(&meta));
        }
        let index_abs = self.abs(&rel_index);
        write_atomic(&index_abs, &bytes).map_err(io_err(&index_abs))?;
        sync_parent_dir(&index_abs);
        crash_point("index");
        // 3b. The prefetch hint (not signed state: a hint only saves a client round trips).
        if let Err(e) = hint.and_then(|h| self.write_prefetch(&m.id, h.as_ref())) {
            warnings.push(Diagnostic::warning(
                "prefetch-not-written",
                index::prefetch_path(&m.id),
                format!("the prefetch hint was not written ({e}); `ratchet-index gc` writes it"),
            ));
        }
        // 4. The names file, appended when the id is new.
        if new_bundle {
            let names = self.abs(NAMES_FILE);
            index::names::append(&names, &m.id).map_err(io_err(&names))?;
        }
        // 5. The log entry, state map, checkpoint and timestamp (signed registries).
        if let Some(change) = change {
            self.commit_change(change)?;
        }
        // 6. The search catalog, last: it only names files written above (it is not part of
        //    the signed state, so a failure here leaves a signed, consistent registry).
        self.catalog_update(&m.id)?;
        let v = m.version.to_string();
        self.audit(ratchet_audit::Record::bundle(
            "publish",
            m.id.as_str(),
            Some(&v),
            Some(&checked.sha256),
        ))?;
        Ok(Published {
            line,
            index_file: rel_index,
            archive_file: rel_archive,
            new_bundle,
            warnings,
        })
    }

    /// Writes the prefetch hint file of `id` (§6.5.1) when it changed, or removes it when
    /// there is no hint.
    fn write_prefetch(&self, id: &BundleId, hint: Option<&index::Prefetch>) -> Result<()> {
        let abs = self.abs(&index::prefetch_path(id));
        index::prefetch::store(&self.root, id, hint).map_err(io_err(&abs))?;
        Ok(())
    }

    /// The prefetch hint (§6.5.1) of `id` whose versions are `lines`: the ids its newest
    /// release reaches, read from the index files here.
    fn prefetch_hint(&self, id: &BundleId, lines: &[IndexLine]) -> Result<Option<index::Prefetch>> {
        let mut failed = None;
        let hint = index::prefetch::compute(id, lines, |dep| match self.index_file(dep) {
            Ok(f) => f.map(|(f, _)| f.versions().cloned().collect()),
            Err(e) => {
                failed.get_or_insert(e);
                None
            }
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(hint),
        }
    }

    /// The metadata of an id (new when absent) and its verified owner chain, if it has one.
    pub fn owners(
        &self,
        id: &BundleId,
    ) -> Result<(BundleMeta, Option<(OwnerChain, VerifiedOwners)>)> {
        let rel = meta_path(id);
        let meta =
            BundleMeta::load(&self.abs(&rel))?.unwrap_or_else(|| BundleMeta::new(id.clone()));
        let bad = |source: TrustError| PublishError::Untrusted {
            file: rel.clone(),
            source: Box::new(source),
        };
        let Some(chain) = OwnerChain::from_meta(&meta, &rel).map_err(bad)? else {
            return Ok((meta, None));
        };
        let v = chain.verify(id.as_str()).map_err(bad)?;
        Ok((meta, Some((chain, v))))
    }

    /// Names `key` as a verifier of this registry in `config.json` (`index-format.md` §7.4):
    /// attestations it signs make versions officially verified. Replaces an entry with the
    /// same key. Clients that pinned the registry's verifiers see a new key as untrusted until
    /// their user accepts it.
    pub fn add_verifier(&mut self, name: &str, key: &PublicKey) -> Result<()> {
        if name.trim().is_empty() {
            return Err(PublishError::EmptyVerifierName);
        }
        self.update_keys(|keys| {
            keys.retain(|k| k.get("key").and_then(|v| v.as_str()) != Some(key.to_base64()));
            keys.push(serde_json::json!({
                "role": "verifier",
                "name": name,
                "key": key.to_base64(),
            }));
            true
        })?;
        Ok(())
    }

    /// Removes the verifier entry with this key id from `config.json`; false when none had it.
    pub fn remove_verifier(&mut self, key_id: &str) -> Result<bool> {
        self.update_keys(|keys| {
            let before = keys.len();
            keys.retain(|k| {
                let is_it = k.get("role").and_then(|v| v.as_str()) == Some("verifier")
                    && k.get("key")
                        .and_then(|v| v.as_str())
                        .and_then(|b| PublicKey::from_base64(b).ok())
                        .is_some_and(|pk| pk.key_id() == key_id);
                !is_it
            });
            keys.len() != before
        })
    }

    /// Changes `config.json`'s `keys` under the registry lock (see [`Registry::update_config`]).
    fn update_keys(
        &mut self,
        change: impl FnOnce(&mut Vec<serde_json::Value>) -> bool,
    ) -> Result<bool> {
        self.update_config(|config| change(&mut config.keys))
    }

    /// Turns `meta-in-index` on (index-format.md §6.3.1), or repairs a registry that has it:
    /// writes the metadata line of every index file whose line is not its metadata file's
    /// content (missing, behind, bad), then `config.json` when the key was off, all as one
    /// logged `config` change. Returns the ids whose line it wrote; nothing is written when
    /// every line is right and the key is on.
    pub fn enable_meta_in_index(&mut self) -> Result<Vec<BundleId>> {
        let _lock = self.lock()?;
        let mut tx = self.begin_change()?;
        let mut config = RegistryConfig::load(&self.root)?;
        let mut stale = Vec::new();
        for (rel, path) in walk(&self.root.join(INDEX_DIR), &self.root) {
            let id = path
                .file_name()
                .and_then(|n| BundleId::parse(&n.to_string_lossy()).ok());
            let Some(id) = id.filter(|id| !is_temp(&path) && index_path(id) == rel) else {
                continue;
            };
            let Some((parsed, _)) = self.index_file(&id)? else {
                continue;
            };
            let meta = BundleMeta::load(&self.abs(&meta_path(&id)))?;
            let line = match &parsed.meta {
                Some(Ok(m)) => Some(m),
                Some(Err(_)) => {
                    stale.push(id);
                    continue;
                }
                None => None,
            };
            if line != meta.as_ref() {
                stale.push(id);
            }
        }
        let turn_on = !config.meta_in_index;
        if stale.is_empty() && !turn_on {
            return Ok(stale);
        }
        let mut files: Vec<String> = stale.iter().map(index_path).collect();
        if turn_on {
            files.push(CONFIG_FILE.to_string());
        }
        let refs: Vec<&str> = files.iter().map(String::as_str).collect();
        self.intend_config(&mut tx, &refs)?;
        // The lines first: a client that sees the key finds every line written.
        self.config.meta_in_index = true;
        for id in &stale {
            self.sync_meta_line(id)?;
        }
        if turn_on {
            config.meta_in_index = true;
            let path = self.abs(CONFIG_FILE);
            write_atomic(&path, config.to_json().as_bytes()).map_err(io_err(&path))?;
        }
        self.commit_change(tx)?;
        self.config = config;
        self.audit(
            ratchet_audit::Record {
                action: "meta-in-index".into(),
                ..Default::default()
            }
            .with("lines", stale.len().into()),
        )?;
        Ok(stale)
    }

    /// Changes `config.json` under the registry lock: reloads the file, applies `change`, and
    /// writes the file (atomically, logged as a `config` change) only when `change` says it
    /// changed something; returns whether it did.
    pub(crate) fn update_config(
        &mut self,
        change: impl FnOnce(&mut RegistryConfig) -> bool,
    ) -> Result<bool> {
        let _lock = self.lock()?;
        let mut tx = self.begin_change()?;
        let mut config = RegistryConfig::load(&self.root)?;
        if !change(&mut config) {
            return Ok(false);
        }
        self.intend_config(&mut tx, &[CONFIG_FILE])?;
        let path = self.abs(CONFIG_FILE);
        write_atomic(&path, config.to_json().as_bytes()).map_err(io_err(&path))?;
        self.commit_change(tx)?;
        self.config = config;
        Ok(true)
    }

    /// What key `key_id` signed of `id` so far, as a retired list for an owner statement that
    /// removes the key (`<version> <archive sha256>` lines, `index-format.md` §7.3).
    pub fn signed_by(&self, id: &BundleId, key_id: &str) -> Result<Vec<String>> {
        Ok(self
            .index_file(id)?
            .map(|(f, _)| {
                f.versions()
                    .filter(|l| l.signer.as_deref() == Some(key_id))
                    .map(|l| ratchet_trust::owners::retired_entry(&l.version, &l.sha256))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Appends a signed owner statement (add or rotate keys) to an id's owner chain; refused
    /// unless the longer chain verifies (signed by a current owner key, right number and hash).
    pub fn add_owner_statement(&self, id: &BundleId, entry: ChainEntry) -> Result<VerifiedOwners> {
        let _lock = self.lock()?;
        let mut tx = self.begin_change()?;
        let rel = meta_path(id);
        let (mut meta, owners) = self.owners(id)?;
        let Some((mut chain, _)) = owners else {
            return Err(PublishError::NoOwnersYet {
                file: rel,
                id: id.clone(),
            });
        };
        let v = chain
            .append(id.as_str(), entry)
            .map_err(|source| PublishError::Untrusted {
                file: rel.clone(),
                source: Box::new(source),
            })?;
        chain.store(&mut meta);
        self.intend_meta(
            &mut tx,
            ratchet_tlog::entry::EntryKind::Owners,
            id,
            None,
            None,
        )?;
        self.store_meta(id, &meta)?;
        self.commit_change(tx)?;
        self.catalog_update(id)?;
        let keys: Vec<String> = v.current.iter().map(PublicKey::key_id).collect();
        self.audit(
            ratchet_audit::Record::bundle("owners", id.as_str(), None, None)
                .with("keys", keys.into()),
        )?;
        Ok(v)
    }

    /// Refuses a statement (attestation, approval) about an archive the registry does not list:
    /// `id`'s index file must hold `version` with this `sha256`. Call under the lock.
    pub(crate) fn require_published(
        &self,
        id: &BundleId,
        version: &str,
        sha256: &str,
    ) -> Result<()> {
        let Some((parsed, _)) = self.index_file_clean(id)? else {
            return Err(PublishError::UnknownBundle(id.clone()));
        };
        if !parsed
            .versions()
            .any(|l| l.version.to_string() == version && l.sha256 == sha256)
        {
            return Err(PublishError::AttestationOfUnknownArchive {
                file: index_path(id),
                id: id.clone(),
                version: version.to_string(),
                sha256: sha256.to_string(),
            });
        }
        Ok(())
    }

    /// Adds an attestation of one published archive to the bundle's metadata. An official one
    /// must be signed by a verifier key named in `config.json`.
    pub fn add_attestation(&self, a: Attestation) -> Result<()> {
        let fields = AttestFields::parse(&a.statement).map_err(PublishError::BadAttestation)?;
        let id = statement_id(&fields.id)?;
        let _lock = self.lock()?;
        let mut tx = self.begin_change()?;
        self.require_published(&id, &fields.version, &fields.sha256)?;
        let rel = meta_path(&id);
        let (mut meta, owners) = self.owners(&id)?;
        let mut list = ratchet_trust::attest::from_meta(&meta, &rel).map_err(|source| {
            PublishError::Untrusted {
                file: rel.clone(),
                source: Box::new(source),
            }
        })?;
        list.push(a);
        let version = semver::Version::parse(&fields.version).map_err(|source| {
            PublishError::AttestationVersion {
                version: fields.version.clone(),
                source,
            }
        })?;
        let current = owners.map(|(_, v)| v.current).unwrap_or_default();
        let (status, warnings) = ratchet_trust::attest::status(
            id.as_str(),
            &version,
            &fields.sha256,
            &list[list.len() - 1..],
            &self.config,
            &current,
        );
        if fields.kind == AttestKind::Official
            && !matches!(
                status,
                ratchet_trust::VerificationStatus::OfficiallyVerified { .. }
            )
        {
            return Err(PublishError::AttestationNotOfficial { problems: warnings });
        }
        if let Some(w) = warnings.first() {
            return Err(PublishError::AttestationRejected { problem: w.clone() });
        }
        ratchet_trust::attest::store(&mut meta, &list);
        self.intend_meta(
            &mut tx,
            ratchet_tlog::entry::EntryKind::Attest,
            &id,
            Some(&fields.version),
            Some(&fields.sha256),
        )?;
        self.store_meta(&id, &meta)?;
        self.commit_change(tx)?;
        self.catalog_update(&id)?;
        let kind = if fields.kind == AttestKind::Official {
            "official"
        } else {
            "community"
        };
        self.audit(
            ratchet_audit::Record::bundle(
                "attest",
                id.as_str(),
                Some(&fields.version),
                Some(&fields.sha256),
            )
            .with("kind", kind.into()),
        )?;
        Ok(())
    }

    /// Sets or clears the yanked flag of one version; returns false when it already had that
    /// value (nothing written).
    pub fn set_yanked(
        &self,
        id: &BundleId,
        version: &semver::Version,
        yanked: bool,
    ) -> Result<bool> {
        let _lock = self.lock()?;
        let mut tx = self.begin_change()?;
        let Some((parsed, bytes)) = self.index_file_clean(id)? else {
            return Err(PublishError::UnknownBundle(id.clone()));
        };
        let Some(line) = parsed.find(version) else {
            return Err(PublishError::UnknownVersion(id.clone(), version.clone()));
        };
        if line.yanked == yanked {
            return Ok(false);
        }
        let new = index::line::set_yanked(&bytes, version, yanked)
            .ok_or_else(|| PublishError::UnknownVersion(id.clone(), version.clone()))?;
        let rel = index_path(id);
        let kind = if yanked {
            ratchet_tlog::entry::EntryKind::Yank
        } else {
            ratchet_tlog::entry::EntryKind::Unyank
        };
        // The newest release may change: so may its prefetch hint (§6.5.1).
        let lines: Vec<IndexLine> = IndexFile::parse(&new, &rel, Some(id))
            .versions()
            .cloned()
            .collect();
        // Best effort, as in a publish: `verify` reports a stale hint and `gc` rewrites it.
        let hint = self.prefetch_hint(id, &lines);
        let v = version.to_string();
        let sha = line.sha256.clone();
        self.intend(
            &mut tx,
            kind,
            Some(id.as_str()),
            Some(&v),
            Some(&sha),
            &[&rel],
        )?;
        let path = self.abs(&rel);
        write_atomic(&path, &new).map_err(io_err(&path))?;
        let _ = hint.and_then(|h| self.write_prefetch(id, h.as_ref()));
        self.commit_change(tx)?;
        self.catalog_update(id)?;
        let action = if yanked { "yank" } else { "unyank" };
        self.audit(ratchet_audit::Record::bundle(
            action,
            id.as_str(),
            Some(&v),
            Some(&sha),
        ))?;
        Ok(true)
    }

    /// Marks a bundle deprecated (or updates the message) in its metadata file; version lines
    /// are not touched.
    pub fn deprecate(
        &self,
        id: &BundleId,
        message: &str,
        replacement: Option<&BundleId>,
        since: &str,
    ) -> Result<()> {
        let since = parse_time(since)?;
        if replacement == Some(id) {
            return Err(PublishError::SelfReplacement(id.clone()));
        }
        let _lock = self.lock()?;
        let mut tx = self.begin_change()?;
        if self.index_file(id)?.is_none() {
            return Err(PublishError::UnknownBundle(id.clone()));
        }
        if let Some(r) = replacement
            && self.index_file(r)?.is_none()
        {
            return Err(PublishError::UnknownBundle(r.clone()));
        }
        let rel = meta_path(id);
        let path = self.abs(&rel);
        let mut meta = BundleMeta::load(&path)?.unwrap_or_else(|| BundleMeta::new(id.clone()));
        meta.deprecated = Some(Deprecation {
            message: message.to_string(),
            replacement: replacement.cloned(),
            since,
        });
        self.intend_meta(
            &mut tx,
            ratchet_tlog::entry::EntryKind::Deprecate,
            id,
            None,
            None,
        )?;
        self.store_meta(id, &meta)?;
        self.commit_change(tx)?;
        self.catalog_update(id)?;
        self.audit(
            ratchet_audit::Record::bundle("deprecate", id.as_str(), None, None)
                .with("message", message.into())
                .with(
                    "replacement",
                    replacement.map(|r| r.as_str().to_string()).into(),
                ),
        )?;
        Ok(())
    }

    /// Removes a bundle's deprecation; false when it was not deprecated.
    pub fn undeprecate(&self, id: &BundleId) -> Result<bool> {
        let _lock = self.lock()?;
        let mut tx = self.begin_change()?;
        let rel = meta_path(id);
        let path = self.abs(&rel);
        let Some(mut meta) = BundleMeta::load(&path)? else {
            return Ok(false);
        };
        if meta.deprecated.take().is_none() {
            return Ok(false);
        }
        self.intend_meta(
            &mut tx,
            ratchet_tlog::entry::EntryKind::Undeprecate,
            id,
            None,
            None,
        )?;
        self.store_meta(id, &meta)?;
        self.commit_change(tx)?;
        self.catalog_update(id)?;
        self.audit(ratchet_audit::Record::bundle(
            "undeprecate",
            id.as_str(),
            None,
            None,
        ))?;
        Ok(true)
    }

    /// One bundle's versions and deprecation.
    pub fn bundle(&self, id: &BundleId) -> Result<BundleSummary> {
        let Some((parsed, _)) = self.index_file_clean(id)? else {
            return Err(PublishError::UnknownBundle(id.clone()));
        };
        let meta = BundleMeta::load(&self.abs(&meta_path(id)))?;
        Ok(BundleSummary {
            id: id.clone(),
            versions: parsed.versions().cloned().collect(),
            deprecated: meta.and_then(|m| m.deprecated),
        })
    }

    /// Every bundle listed in `names.txt`, sorted by id.
    pub fn list(&self) -> Result<Vec<BundleSummary>> {
        let names = NamesFile::load(&self.root)?;
        let mut ids = names.ids;
        ids.sort();
        ids.iter().map(|id| self.bundle(id)).collect()
    }

    /// A full consistency check; see `index-format.md` ("Verifying a registry").
    pub fn verify(&self) -> VerifyReport {
        Verifier {
            reg: self,
            report: VerifyReport::default(),
            index_ids: BTreeMap::new(),
        }
        .run()
    }

    /// Removes unreferenced archives and leftover temporary files, and repairs `names.txt`
    /// (torn last line, ids missing after an interrupted publish). Refuses when [`verify`]
    /// finds an error (a corrupt or misplaced index file, an id without its index file...),
    /// since it could not know which archives are referenced.
    ///
    /// [`verify`]: Registry::verify
    pub fn gc(&self) -> Result<GcReport> {
        self.gc_with(false)
    }

    /// [`Registry::gc`], or with `dry_run` what it would remove and repair, writing nothing
    /// (not even the lock file).
    pub fn gc_with(&self, dry_run: bool) -> Result<GcReport> {
        let _lock = if dry_run { None } else { Some(self.lock()?) };
        let remove = |path: &Path| -> Result<()> {
            if !dry_run {
                std::fs::remove_file(path).map_err(io_err(path))?;
            }
            Ok(())
        };
        // A metadata line behind its metadata file is an interrupted change gc completes, in a
        // registry without signed state (a signed one completes it with its next change).
        let repairable = |d: &Diagnostic| {
            !self.is_signed() && matches!(d.code, "missing-meta-line" | "meta-line-differs")
        };
        let (repairs, errors): (Vec<Diagnostic>, Vec<Diagnostic>) =
            self.verify().errors().cloned().partition(|d| repairable(d));
        if !errors.is_empty() {
            return Err(PublishError::GcRefused(errors));
        }
        let mut report = GcReport::default();
        for d in repairs {
            let id = std::path::Path::new(&d.file)
                .file_name()
                .and_then(|n| BundleId::parse(&n.to_string_lossy()).ok());
            if let Some(id) = id {
                if !dry_run {
                    self.sync_meta_line(&id)?;
                }
                report.rewritten_meta_lines.push(id);
            }
        }
        let mut referenced = BTreeSet::new();
        let mut ids = Vec::new();
        let mut lines_of: BTreeMap<BundleId, Vec<IndexLine>> = BTreeMap::new();
        for (rel, path) in walk(&self.root.join(INDEX_DIR), &self.root) {
            if is_temp(&path) {
                continue;
            }
            let Some(id) = path
                .file_name()
                .and_then(|n| BundleId::parse(&n.to_string_lossy()).ok())
            else {
                continue;
            };
            if index_path(&id) != rel {
                continue;
            }
            let Some((parsed, _)) = self.index_file_clean(&id)? else {
                continue;
            };
            for l in parsed.versions() {
                referenced.insert(self.archive_rel(&l.sha256));
            }
            lines_of.insert(id.clone(), parsed.versions().cloned().collect::<Vec<_>>());
            ids.push(id);
        }
        for dir in [
            INDEX_DIR,
            META_DIR,
            index::PREFETCH_DIR,
            ARCHIVES_DIR,
            ratchet_catalog::files::CATALOG_DIR,
            "state",
            "log",
        ] {
            for (rel, path) in walk(&self.root.join(dir), &self.root) {
                if is_temp(&path) {
                    remove(&path)?;
                    report.removed_temp_files.push(rel);
                } else if dir == ARCHIVES_DIR && !referenced.contains(&rel) {
                    remove(&path)?;
                    report.removed_archives.push(rel);
                }
            }
        }
        for entry in std::fs::read_dir(&self.root)
            .map_err(io_err(&self.root))?
            .flatten()
        {
            if is_temp(&entry.path()) {
                remove(&entry.path())?;
                report
                    .removed_temp_files
                    .push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        let names_path = self.abs(NAMES_FILE);
        report.repaired_names_tail = if dry_run {
            let bytes = std::fs::read(&names_path).unwrap_or_default();
            bytes.last().is_some_and(|&b| b != b'\n')
        } else {
            index::names::repair(&names_path).map_err(io_err(&names_path))?
        };
        let names: BTreeSet<BundleId> = NamesFile::load(&self.root)?.ids.into_iter().collect();
        for id in ids {
            if !names.contains(&id) {
                if !dry_run {
                    index::names::append(&names_path, &id).map_err(io_err(&names_path))?;
                }
                report.added_names.push(id);
            }
        }
        // 5. A search catalog left behind the index by an interrupted change.
        if self.catalog_check()?.is_some_and(|d| !d.is_empty()) {
            if !dry_run {
                self.catalog_rebuild_unlocked()?;
            }
            report.rebuilt_catalog = true;
        }
        // 5b. Prefetch hints a publish would write differently now (a dependency published
        //     since, or a registry written before hints), and files that name no bundle.
        let drift = hint_drift(&self.root, &lines_of);
        // Damaged files first: one at a bundle's own path is then written anew below (its
        // bundle counts as missing a hint).
        for (rel, code, _) in drift.bad {
            if code != "temp-file" {
                remove(&self.abs(&rel))?;
                report.removed_hints.push(rel);
            }
        }
        for id in drift.stale.into_iter().chain(drift.missing) {
            if !dry_run {
                let hint =
                    index::prefetch::compute(&id, &lines_of[&id], |d| lines_of.get(d).cloned());
                self.write_prefetch(&id, hint.as_ref())?;
            }
            report.rewritten_hints.push(id);
        }
        // 6. Map nodes and log tiles no recent snapshot needs.
        for rel in self.integrity_unneeded()? {
            remove(&self.abs(&rel))?;
            report.removed_integrity.push(rel);
        }
        Ok(report)
    }
}

/// In debug builds (the test suite), `RATCHET_PUBLISH_CRASH_AFTER=STEP` kills the process right
/// after that write step (`archive`, `owners`, `index`; `meta`: a metadata file, before the
/// index file's metadata line), so tests can check every crash point of
/// the write order deterministically. Release builds have no such hook.
fn crash_point(step: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("RATCHET_PUBLISH_CRASH_AFTER").is_ok_and(|v| v == step) {
        std::process::abort();
    }
    #[cfg(not(debug_assertions))]
    let _ = step;
}

/// Makes a rename in `path`'s directory durable (so that after a power loss the files written
/// later never exist without the ones written before). Best effort: some platforms cannot open
/// directories.
fn sync_parent_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
}

fn is_temp(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(".tmp-"))
}

/// Every file under `dir` as (path relative to `base` with `/`, absolute path), sorted.
fn walk(dir: &Path, base: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else {
                out.push((ratchet_formats::fsutil::rel_display(base, &p), p));
            }
        }
    }
    out.sort();
    out
}

struct Verifier<'a> {
    reg: &'a Registry,
    report: VerifyReport,
    /// Ids with an index file, and their parsed versions.
    index_ids: BTreeMap<BundleId, Vec<IndexLine>>,
}

impl Verifier<'_> {
    fn err(&mut self, code: &'static str, file: impl Into<String>, msg: impl Into<String>) {
        self.report
            .diagnostics
            .push(Diagnostic::error(code, file, msg));
    }

    fn warn(&mut self, code: &'static str, file: impl Into<String>, msg: impl Into<String>) {
        self.report
            .diagnostics
            .push(Diagnostic::warning(code, file, msg));
    }

    fn run(mut self) -> VerifyReport {
        let root = self.reg.root.clone();
        self.check_index_files(&root);
        self.check_cross_references();
        let referenced = self.check_archives(&root);
        self.check_archive_dir(&root, &referenced);
        self.check_names();
        self.check_meta(&root);
        self.check_prefetch(&root);
        for (file, msg) in self.reg.verify_integrity() {
            self.err("integrity", file, msg);
        }
        if let Some(msg) = self.reg.timestamp_expired() {
            self.warn("timestamp-expired", "timestamp", msg);
        }
        self.check_catalog();
        self.report.diagnostics.sort_by_key(|d| d.severity);
        self.report
    }

    /// The search catalog against a rebuild in memory (§10.5): a missing, extra, oversized,
    /// malformed or differing file is an error naming it; a registry without a catalog gets a
    /// warning (the next publish or `catalog rebuild` creates one).
    fn check_catalog(&mut self) {
        if self.report.diagnostics.iter().any(Diagnostic::is_error) {
            return; // the documents cannot be trusted to be rebuilt
        }
        match self.reg.catalog_check() {
            Ok(None) => self.warn(
                "no-catalog",
                ratchet_catalog::files::ROOT_PATH,
                "the registry has no search catalog; `ratchet-index catalog rebuild` creates it",
            ),
            Ok(Some(diffs)) => {
                let (stale, damaged): (Vec<_>, Vec<_>) = diffs
                    .into_iter()
                    .partition(|d| matches!(d.problem.as_str(), "missing" | "extra" | "differs"));
                // Oversized, malformed or unreadable: clients refuse it.
                for d in damaged {
                    self.err(
                        "catalog",
                        d.file,
                        format!("{}; `ratchet-index catalog rebuild` repairs it", d.problem),
                    );
                }
                // Behind the index (what an interrupted change leaves): searches may show
                // stale results; installs check everything anyway. One warning, naming the
                // first files.
                if let Some(first) = stale.first() {
                    let shown: Vec<String> = stale
                        .iter()
                        .take(5)
                        .map(|d| {
                            let what = match d.problem.as_str() {
                                "missing" => "missing",
                                "extra" => "extra: not part of the catalog a rebuild gives",
                                _ => "differs from a rebuild",
                            };
                            format!("{} {what}", d.file)
                        })
                        .collect();
                    self.warn(
                        "catalog-stale",
                        first.file.clone(),
                        format!(
                            "the search catalog is behind the index and metadata ({} file(s): {}{}); `ratchet-index gc` or `ratchet-index catalog rebuild` brings it up to date",
                            stale.len(),
                            shown.join(", "),
                            if stale.len() > 5 { ", ..." } else { "" }
                        ),
                    );
                }
            }
            Err(e) => self.err("catalog", ratchet_catalog::files::ROOT_PATH, e.to_string()),
        }
    }

    fn check_index_files(&mut self, root: &Path) {
        let mut skeletons: HashMap<String, BundleId> = HashMap::new();
        for (rel, path) in walk(&root.join(INDEX_DIR), root) {
            if is_temp(&path) {
                self.warn("temp-file", rel, "leftover temporary file of an interrupted write; `ratchet-index gc` removes it");
                continue;
            }
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let id = match BundleId::parse(&name) {
                Ok(id) => id,
                Err(e) => {
                    self.err(
                        "stray-file",
                        rel,
                        format!("not an index file: its name is not a bundle id ({e})"),
                    );
                    continue;
                }
            };
            if index_path(&id) != rel {
                self.err(
                    "misplaced-index",
                    rel.clone(),
                    format!("the index file of {id} belongs at {}", index_path(&id)),
                );
                continue;
            }
            if let Some(other) = skeletons.insert(BundleId::skeleton(id.as_str()), id.clone()) {
                self.err(
                    "look-alike",
                    rel.clone(),
                    format!("{id} and {other} differ only by separators"),
                );
            }
            let parsed = match IndexFile::load(&path, Some(&id)) {
                Ok(p) => p,
                Err(e) => {
                    self.err("unreadable", rel, e.to_string());
                    continue;
                }
            };
            self.report.bundles += 1;
            self.check_meta_line(root, &id, &rel, parsed.meta.as_ref());
            let mut versions: Vec<IndexLine> = Vec::new();
            for (n, line) in &parsed.lines {
                match line {
                    ParsedLine::Bad(p) => {
                        self.err("bad-line", rel.clone(), format!("line {n}: {}", p.message))
                    }
                    // The metadata line, checked above.
                    ParsedLine::Skipped { .. } if *n == 1 && parsed.meta.is_some() => {}
                    ParsedLine::Skipped { v } => self.warn(
                        "newer-line",
                        rel.clone(),
                        format!(
                            "line {n} has schema version {v}, newer than this tool; not checked"
                        ),
                    ),
                    ParsedLine::Version(l) => {
                        if let Some(first) = versions
                            .iter()
                            .find(|o| o.version.cmp_precedence(&l.version).is_eq())
                        {
                            self.err(
                                "duplicate-version",
                                rel.clone(),
                                format!(
                                    "line {n}: version {} is already published as {}",
                                    l.version, first.version
                                ),
                            );
                            continue;
                        }
                        versions.push((**l).clone());
                    }
                }
            }
            if parsed.lines.len() <= usize::from(parsed.meta.is_some()) {
                self.err("empty-index", rel, "index file has no version lines");
            }
            self.report.versions += versions.len();
            self.index_ids.insert(id, versions);
        }
    }

    fn check_cross_references(&mut self) {
        let mut found = Vec::new();
        for (id, versions) in &self.index_ids {
            for l in versions {
                for dep in &l.dependencies {
                    let problem = match self.index_ids.get(&dep.bundle_id) {
                        None => Some("the registry does not hold it".to_string()),
                        Some(vs) if !vs.iter().any(|c| dep.version.matches(&c.version)) => {
                            Some("no version of it matches".to_string())
                        }
                        _ => None,
                    };
                    if let Some(p) = problem {
                        found.push((
                            index_path(id),
                            format!(
                                "{id} {} depends on {} {}, but {p}",
                                l.version, dep.bundle_id, dep.version
                            ),
                        ));
                    }
                }
                if let Some(r) = &l.requirements.ratchet_version
                    && VersionReq::parse(r.as_str()).is_err()
                {
                    found.push((
                        index_path(id),
                        format!(
                            "{id} {}: requirements.ratchet_version does not parse",
                            l.version
                        ),
                    ));
                }
            }
        }
        for (file, msg) in found {
            self.err("unresolvable-dependency", file, msg);
        }
    }

    /// Checks every referenced archive; returns the set of referenced relative paths.
    fn check_archives(&mut self, root: &Path) -> BTreeSet<String> {
        let mut referenced = BTreeSet::new();
        let lines: Vec<IndexLine> = self.index_ids.values().flatten().cloned().collect();
        let mut checked: HashMap<String, Result<BundleArchive, String>> = HashMap::new();
        let mut owners: HashMap<BundleId, Option<VerifiedOwners>> = HashMap::new();
        for l in lines {
            let file = index_path(&l.id);
            // With an absolute `dl` the archives are hosted elsewhere, but publishing still
            // keeps them here under their content-addressed path: check those.
            let rel = self.reg.archive_rel(&l.sha256);
            referenced.insert(rel.clone());
            let outcome = checked
                .entry(rel.clone())
                .or_insert_with(|| check_one_archive(root, &rel, &l))
                .clone();
            match outcome {
                Err(msg) => self.err(
                    "bad-archive",
                    file,
                    format!("{} {}: {msg}", l.id, l.version),
                ),
                Ok(a) => {
                    let m = a.manifest.bundle.clone();
                    if let Some(msg) = self.check_signature(&l, &a, &mut owners) {
                        self.err(
                            "bad-signature",
                            file.clone(),
                            format!("{} {}: {msg}", l.id, l.version),
                        );
                    }
                    let mut diffs = l.disagreements(&m);
                    if m.id != l.id || !m.version.cmp_precedence(&l.version).is_eq() {
                        diffs.insert(0, "id/version");
                    }
                    if !diffs.is_empty() {
                        self.err(
                            "line-disagrees",
                            file,
                            format!(
                                "{} {}: the line and the manifest in {rel} disagree on {}",
                                l.id,
                                l.version,
                                diffs.join(", ")
                            ),
                        );
                    }
                }
            }
        }
        self.report.archives = checked.len();
        referenced
    }

    /// Re-checks a line's signature against the owner chain; `Some(problem)` when it fails.
    fn check_signature(
        &mut self,
        l: &IndexLine,
        a: &BundleArchive,
        cache: &mut HashMap<BundleId, Option<VerifiedOwners>>,
    ) -> Option<String> {
        let owners = cache
            .entry(l.id.clone())
            .or_insert_with(|| {
                self.reg
                    .owners(&l.id)
                    .ok()
                    .and_then(|(_, o)| o.map(|(_, v)| v))
            })
            .clone();
        match (&a.signature, &l.signer, owners) {
            (None, None, _) => {
                if requires_signatures(&self.reg.config) {
                    self.warn(
                        "unsigned-version",
                        index_path(&l.id),
                        format!(
                            "{} {} is not signed, but the registry requires signatures",
                            l.id, l.version
                        ),
                    );
                }
                None
            }
            (None, Some(s), _) => Some(format!(
                "the line names signer {s} but the archive has no bundle.sig"
            )),
            (Some(_), _, None) => {
                Some("the archive is signed but the bundle has no (valid) owner chain".into())
            }
            (Some(_), signer, Some(v)) => {
                match verify_archive(a, &v.history, &format!("owner keys of {}", l.id)) {
                    Err(e) => Some(e.to_string()),
                    Ok(k) if !v.may_sign(&k, &l.version, &l.sha256) => Some(format!(
                        "bundle.sig is by key {}, which is no longer an owner and had not signed this archive when it was removed",
                        k.key_id()
                    )),
                    Ok(k) if signer.as_deref() != Some(k.key_id().as_str()) => Some(format!(
                        "the line names signer {}, but bundle.sig is by key {}",
                        signer.as_deref().unwrap_or("(none)"),
                        k.key_id()
                    )),
                    Ok(_) => None,
                }
            }
        }
    }

    fn check_archive_dir(&mut self, root: &Path, referenced: &BTreeSet<String>) {
        for (rel, path) in walk(&root.join(ARCHIVES_DIR), root) {
            if is_temp(&path) {
                self.warn("temp-file", rel, "leftover temporary file of an interrupted write; `ratchet-index gc` removes it");
            } else if !referenced.contains(&rel) {
                self.warn("unreferenced-archive", rel, "no index line refers to this archive (interrupted publish?); `ratchet-index gc` removes it");
            }
        }
    }

    fn check_names(&mut self) {
        let names = match NamesFile::load(&self.reg.root) {
            Ok(n) => n,
            Err(e) => {
                self.err("unreadable", NAMES_FILE, e.to_string());
                return;
            }
        };
        if !self.reg.root.join(NAMES_FILE).is_file() {
            self.err("missing-names", NAMES_FILE, "the names file is missing");
        }
        for p in &names.problems {
            self.err(
                "bad-name",
                NAMES_FILE,
                format!("line {}: {}", p.line, p.message),
            );
        }
        if names.torn_tail {
            self.warn("torn-names", NAMES_FILE, "the last line has no newline (interrupted append); readers ignore it, `ratchet-index gc` cuts it");
        }
        let listed: BTreeSet<&BundleId> = names.ids.iter().collect();
        for id in &names.ids {
            if !self.index_ids.contains_key(id) {
                self.report.diagnostics.push(Diagnostic::error(
                    "orphan-name",
                    NAMES_FILE,
                    format!("{id} is listed but has no index file at {}", index_path(id)),
                ));
            }
        }
        let missing: Vec<BundleId> = self
            .index_ids
            .keys()
            .filter(|id| !listed.contains(id))
            .cloned()
            .collect();
        for id in missing {
            self.warn("unlisted-bundle", NAMES_FILE, format!("{id} has an index file but is not listed (interrupted publish?); `ratchet-index gc` adds it"));
        }
    }

    /// Prefetch hints (§6.5.1): each well-formed, at its place, and the hint a publish would
    /// write now. Only warnings: a client that finds a bad or stale hint loses round trips,
    /// nothing else; `ratchet-index gc` rewrites them. Stale and missing hints are counted in
    /// one warning each (a dependency's publish can leave thousands of dependents' stale).
    fn check_prefetch(&mut self, root: &Path) {
        let drift = hint_drift(root, &self.index_ids);
        for (rel, code, msg) in drift.bad {
            self.warn(code, rel, msg);
        }
        let some = |ids: &[BundleId]| {
            let mut s: Vec<String> = ids.iter().take(5).map(ToString::to_string).collect();
            if ids.len() > 5 {
                s.push(format!("and {} more", ids.len() - 5));
            }
            s.join(", ")
        };
        if !drift.stale.is_empty() {
            self.warn("stale-prefetch", index::PREFETCH_DIR, format!("{} prefetch hint(s) are not the ones a publish would write now (a dependency changed since; clients take extra round trips): {}; `ratchet-index gc` rewrites them", drift.stale.len(), some(&drift.stale)));
        }
        if !drift.missing.is_empty() {
            self.warn("missing-prefetch", index::PREFETCH_DIR, format!("{} bundle(s) with dependencies have no prefetch hint (clients discover their dependencies one level per round trip): {}; `ratchet-index gc` writes them", drift.missing.len(), some(&drift.missing)));
        }
    }

    /// An index file's metadata line (§6.3.1): present, the same metadata as the metadata file,
    /// exactly when `config.json` says `meta-in-index`.
    fn check_meta_line(
        &mut self,
        root: &Path,
        id: &BundleId,
        rel: &str,
        line: Option<&std::result::Result<BundleMeta, index::LineProblem>>,
    ) {
        if let Some(Err(p)) = line {
            self.err("bad-meta-line", rel, format!("line 1: {}", p.message));
            return;
        }
        if line.is_none() && !self.reg.config.meta_in_index {
            // The older layout: nothing to compare (the metadata file is `check_meta`'s).
            return;
        }
        if let Some(Ok(m)) = line
            && m.to_line().len() > index::MAX_LINE_LEN
        {
            self.warn(
                "long-meta-line",
                rel,
                format!(
                    "the metadata line is longer than {} bytes: readers that predate metadata lines report it as an invalid line instead of skipping it",
                    index::MAX_LINE_LEN
                ),
            );
        }
        let file = match BundleMeta::load(&root.join(meta_path(id))) {
            Ok(f) => f,
            // The metadata file's own problem is told by `check_meta`.
            Err(_) => return,
        };
        match (self.reg.config.meta_in_index, line, file) {
            (false, Some(Ok(_)), _) => self.err(
                "meta-line-without-config",
                rel,
                "the index file starts with a metadata line, but config.json does not say `meta-in-index`: clients ignore the line (`ratchet-index meta-in-index` turns the key on)",
            ),
            (true, None, Some(_)) => self.err(
                "missing-meta-line",
                rel,
                format!("config.json says `meta-in-index`, but this index file has no metadata line while {} exists: clients see no owners, attestations or deprecation (an interrupted change or an older publisher: `ratchet-index meta-in-index` writes the line)", meta_path(id)),
            ),
            (true, Some(Ok(m)), f) if f.as_ref() != Some(m) => self.err(
                "meta-line-differs",
                rel,
                format!("the metadata line is not the content of {} (clients with `meta-in-index` read the line; an interrupted change or an older publisher: `ratchet-index meta-in-index` rewrites it)", meta_path(id)),
            ),
            _ => {}
        }
    }

    fn check_meta(&mut self, root: &Path) {
        for (rel, path) in walk(&root.join(META_DIR), root) {
            if is_temp(&path) {
                self.warn("temp-file", rel, "leftover temporary file of an interrupted write; `ratchet-index gc` removes it");
                continue;
            }
            let meta = match BundleMeta::load(&path) {
                Ok(Some(m)) => m,
                Ok(None) => continue,
                Err(e) => {
                    self.err("bad-meta", rel, e.to_string());
                    continue;
                }
            };
            if meta_path(&meta.id) != rel {
                self.err(
                    "misplaced-meta",
                    rel,
                    format!(
                        "the metadata of {} belongs at {}",
                        meta.id,
                        meta_path(&meta.id)
                    ),
                );
                continue;
            }
            match OwnerChain::from_meta(&meta, &rel) {
                Ok(Some(c)) => {
                    if let Err(e) = c.verify(meta.id.as_str()) {
                        self.err("bad-owners", rel.clone(), e.to_string());
                    }
                }
                Ok(None) => {}
                Err(e) => self.err("bad-owners", rel.clone(), e.to_string()),
            }
            if let Err(e) = ratchet_trust::attest::from_meta(&meta, &rel) {
                self.err("bad-attestations", rel.clone(), e.to_string());
            }
            if !self.index_ids.contains_key(&meta.id) && meta.deprecated.is_none() {
                self.warn(
                    "orphan-meta",
                    rel.clone(),
                    format!(
                        "owner record for {}, which has no index file (interrupted first publish?)",
                        meta.id
                    ),
                );
            } else if !self.index_ids.contains_key(&meta.id) {
                self.err(
                    "orphan-meta",
                    rel.clone(),
                    format!("metadata for {}, which has no index file", meta.id),
                );
            }
            if let Some(r) = meta
                .deprecated
                .as_ref()
                .and_then(|d| d.replacement.as_ref())
                && !self.index_ids.contains_key(r)
            {
                self.warn(
                    "unknown-replacement",
                    rel,
                    format!("the replacement {r} is not in this registry"),
                );
            }
        }
    }
}

/// How a registry's prefetch hints (§6.5.1) differ from what publishes would write now.
#[derive(Debug, Default)]
struct HintDrift {
    /// Files under `prefetch/` that are damaged, misplaced, left by an interrupted write or
    /// name a bundle without an index file: (path, diagnostic code, message).
    bad: Vec<(String, &'static str, String)>,
    /// Bundles whose hint file differs from the hint a publish would write now (or exists
    /// where none is due).
    stale: Vec<BundleId>,
    /// Bundles due a hint that have no hint file.
    missing: Vec<BundleId>,
}

/// Compares the hint files under `root` with the hints computed from `lines_of` (every
/// bundle's index lines).
fn hint_drift(root: &Path, lines_of: &BTreeMap<BundleId, Vec<IndexLine>>) -> HintDrift {
    let mut drift = HintDrift::default();
    let mut found = BTreeSet::new();
    for (rel, path) in walk(&root.join(index::PREFETCH_DIR), root) {
        if is_temp(&path) {
            drift.bad.push((
                rel,
                "temp-file",
                "leftover temporary file of an interrupted write; `ratchet-index gc` removes it"
                    .into(),
            ));
            continue;
        }
        let hint = match index::read_limited(&path, index::prefetch::MAX_PREFETCH_FILE_LEN)
            .and_then(|b| index::Prefetch::parse(&b, &rel))
        {
            Ok(Some(h)) => h,
            // A newer tool's format: left alone (this tool cannot tell whether it is stale).
            Ok(None) => {
                if let Some(id) = path
                    .file_name()
                    .and_then(|n| {
                        n.to_string_lossy()
                            .strip_suffix(".json")
                            .map(str::to_string)
                    })
                    .and_then(|n| BundleId::parse(&n).ok())
                {
                    found.insert(id);
                }
                continue;
            }
            Err(e) => {
                drift.bad.push((rel, "bad-prefetch", format!("{e} (clients ignore it; `ratchet-index gc` removes it and writes the bundle's hint)")));
                continue;
            }
        };
        if index::prefetch_path(&hint.id) != rel {
            let msg = format!(
                "the prefetch hint of {} belongs at {} (`ratchet-index gc` removes it)",
                hint.id,
                index::prefetch_path(&hint.id)
            );
            drift.bad.push((rel, "bad-prefetch", msg));
            continue;
        }
        let Some(lines) = lines_of.get(&hint.id) else {
            let msg = format!(
                "a prefetch hint for {}, which has no index file (`ratchet-index gc` removes it)",
                hint.id
            );
            drift.bad.push((rel, "orphan-prefetch", msg));
            continue;
        };
        found.insert(hint.id.clone());
        let expected = index::prefetch::compute(&hint.id, lines, |d| lines_of.get(d).cloned());
        if expected.as_ref() != Some(&hint) {
            drift.stale.push(hint.id);
        }
    }
    for (id, lines) in lines_of {
        if !found.contains(id)
            && index::prefetch::compute(id, lines, |d| lines_of.get(d).cloned()).is_some()
        {
            drift.missing.push(id.clone());
        }
    }
    drift
}

/// Reads one archive from the registry and checks size, hash and that it opens.
fn check_one_archive(root: &Path, rel: &str, l: &IndexLine) -> Result<BundleArchive, String> {
    let path = root.join(rel);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("archive {rel} is missing"));
        }
        Err(e) => return Err(format!("archive {rel} cannot be read: {e}")),
    };
    if bytes.len() as u64 != l.size {
        return Err(format!(
            "archive {rel} is {} bytes, the line says {}",
            bytes.len(),
            l.size
        ));
    }
    let sha = index::sha256_hex(&bytes);
    if sha != l.sha256 {
        return Err(format!(
            "archive {rel} has sha256 {sha}, not the {} its name and line claim",
            l.sha256
        ));
    }
    archive::read_archive(std::io::Cursor::new(&bytes), &Limits::default())
        .map_err(|e| format!("archive {rel} does not open: {e}"))
}
