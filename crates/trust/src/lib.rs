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
//! - [`approve`]: approvals by role (enterprise approval workflows), signed per scope.
//!
//! The checks an install makes with these pieces (and the client's pin store) live in the client
//! crate (`ratchet_client::verify`), which reads registries; this crate reads no network.
//!
//! Every refusal is its own [`TrustError`] variant with the facts as fields (expected and found
//! hashes, key ids, the bundle and version) and the underlying error as its `source`, so callers
//! and tests decide on variants, never on message text. This crate never prints and never
//! prompts: a password is asked for through the caller's [`keys::PasswordPrompt`].

pub mod approve;
pub mod attest;
pub mod bundle_sig;
pub mod keys;
pub mod owners;

pub use attest::VerificationStatus;
pub use keys::{KeyPairFiles, PublicKey, SecretKey, key_id};

/// A bundle and version, as refusals name them (`com.example.tool 1.2.0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleVersion {
    /// The bundle id.
    pub id: String,
    /// The version.
    pub version: semver::Version,
}

impl BundleVersion {
    /// The bundle `id` at `version`.
    pub fn new(id: impl Into<String>, version: semver::Version) -> BundleVersion {
        BundleVersion {
            id: id.into(),
            version,
        }
    }
}

impl std::fmt::Display for BundleVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.id, self.version)
    }
}

/// What is wrong with a key file's text ([`TrustError::BadKey`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyProblem {
    /// Only comments or blank lines.
    #[error("no key in the file")]
    NoKey,
    /// The key line is not base64.
    #[error("the key is not base64")]
    NotBase64,
    /// A secret key encrypted with an algorithm minisign does not know.
    #[error("unknown key encryption algorithm")]
    UnknownEncryption,
    /// Too short to be a key.
    #[error("the key is truncated")]
    Truncated,
    /// A secret key whose public half does not match its secret half.
    #[error("corrupted key (its halves do not match)")]
    Corrupted,
}

/// What is wrong with a signature's text ([`TrustError::BadSignature`]).
#[derive(Debug, thiserror::Error)]
pub enum SignatureProblem {
    /// Longer than any minisign signature.
    #[error("{len} bytes is too long")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// Not UTF-8 text.
    #[error("not UTF-8")]
    NotUtf8,
    /// A legacy (non-prehashed) minisign signature.
    #[error("legacy (non-prehashed) signatures are not accepted")]
    Legacy,
    /// No trusted comment to bind it.
    #[error("no trusted comment: {0}")]
    NoTrustedComment(#[source] minisign::PError),
}

/// What is wrong with the text of a signed statement: an owner statement
/// ([`TrustError::BadStatement`]) or an attestation ([`TrustError::BadAttestation`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementProblem {
    /// The first word is not the statement's tag.
    #[error("does not start with `{0}`")]
    NoTag(&'static str),
    /// A field is missing or out of order.
    #[error("expected `{field}=...`, found `{found}`")]
    ExpectedField {
        /// The field expected.
        field: &'static str,
        /// The word found.
        found: String,
    },
    /// A numeric field is not a number.
    #[error("{0} is not a number")]
    NotANumber(&'static str),
    /// The optional `retired=` field is malformed.
    #[error("expected `retired=<sha256>` or the end, found `{0}`")]
    BadRetired(String),
    /// Words after the last field.
    #[error("unexpected text after {0}")]
    TrailingText(&'static str),
    /// An owner key named twice.
    #[error("key {0} is listed twice")]
    DuplicateKey(String),
    /// No key, or more than [`owners::MAX_OWNER_KEYS`].
    #[error("1 to {0} keys are required")]
    KeyCount(usize),
    /// The genesis statement (trust on first publish) carries a signature.
    #[error("the genesis statement carries no signature")]
    SignedGenesis,
    /// An attestation kind other than `official` and `community`.
    #[error("unknown kind `{0}`")]
    UnknownKind(String),
    /// An attestation score outside 1 to 5.
    #[error("score must be 1 to 5")]
    BadScore,
}

/// Key ids joined for a message (`none` when there are none).
fn key_list(ids: &[String]) -> String {
    if ids.is_empty() {
        "none".to_string()
    } else {
        ids.join(", ")
    }
}

/// Why an owner chain no longer extends the one a client pinned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerChange {
    /// The genesis statement differs: the owner record was replaced.
    Replaced,
    /// The registry's chain is shorter than the pinned one.
    Rollback,
    /// The chain has the pinned length but another statement at the pinned position.
    Fork,
}

impl std::fmt::Display for OwnerChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OwnerChange::Replaced => "the owner record was replaced (different first owner)",
            OwnerChange::Rollback => {
                "the registry's owner chain is older than the one you saw (rollback)"
            }
            OwnerChange::Fork => "the owner chain forks from the one you saw",
        })
    }
}

/// Why `--allow-unsigned` could not be honoured for an unsigned bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnsignedRefusal {
    /// The id has owner keys (pinned or in the registry): every version must be signed.
    HasOwners,
    /// The registry's `config.json` requires signatures.
    RegistryRequiresSignatures {
        /// The registry's name.
        registry: String,
    },
    /// `--allow-unsigned` was not given.
    NotAllowed,
    /// The registry's `config.json` does not say it is `local`.
    NotLocalKind {
        /// The registry's name.
        registry: String,
        /// The kind it declares.
        kind: String,
    },
    /// The registry says it is local but is reached over the network and not configured local.
    RemoteSource {
        /// The registry's name.
        registry: String,
    },
}

/// Everything that can go wrong while signing or verifying. Messages say what failed and where;
/// each refusal is its own variant, so callers decide on the variant, never on the text.
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
    /// A key file's text is malformed.
    #[error("{what}: {problem}")]
    BadKey {
        /// Which key (file or field).
        what: String,
        /// What is wrong.
        problem: KeyProblem,
    },
    /// minisign refused a key (malformed, or the password does not decrypt it).
    #[error("{what}: {source}")]
    MinisignKey {
        /// Which key (file or field).
        what: String,
        /// What minisign said.
        #[source]
        source: minisign::PError,
    },
    /// A key name that cannot be a file name.
    #[error("key name `{name}`: use letters, digits, `-`, `_` and `.` (not first)")]
    InvalidKeyName {
        /// The name.
        name: String,
    },
    /// A key file that would be overwritten.
    #[error("{}: already exists; choose another --name or remove it", .path.display())]
    KeyFileExists {
        /// The file.
        path: std::path::PathBuf,
    },
    /// minisign could not generate a key pair.
    #[error("key generation: {0}")]
    KeyGeneration(#[source] minisign::PError),
    /// minisign could not sign.
    #[error("signing with key {key_id}: {source}")]
    SigningFailed {
        /// The signing key.
        key_id: String,
        /// What minisign said.
        #[source]
        source: minisign::PError,
    },
    /// An encrypted secret key was loaded without a password.
    #[error("{what}: the secret key is password-protected: set {env} or run interactively")]
    PasswordNeeded {
        /// The key file.
        what: String,
        /// The environment variable that can hold the password.
        env: &'static str,
    },
    /// The password of an encrypted secret key could not be obtained.
    #[error("cannot read the password for {what} ({source}); set {env}")]
    PasswordUnavailable {
        /// The key file.
        what: String,
        /// Why the caller's password source failed.
        #[source]
        source: std::io::Error,
        /// The environment variable that can hold the password instead.
        env: &'static str,
    },
    /// minisign cannot parse a signature.
    #[error("{what}: not a minisign signature: {source}")]
    SignatureParse {
        /// Where it came from.
        what: String,
        /// What minisign said.
        #[source]
        source: minisign::PError,
    },
    /// A signature does not parse.
    #[error("{what}: not a minisign signature: {problem}")]
    BadSignature {
        /// Where it came from.
        what: String,
        /// What is wrong.
        #[source]
        problem: SignatureProblem,
    },
    /// The archive itself is broken or tampered with.
    #[error("archive: {0}")]
    Archive(#[from] ratchet_formats::archive::ArchiveError),
    /// A record (owner chain, attestations) in a metadata file is not the expected JSON.
    #[error("{file}: {source}")]
    RecordJson {
        /// The file and field.
        file: String,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// A pin file of the client's trust store does not parse.
    #[error(
        "{file}: {source}; repair or remove the file (removing it forgets the keys it pinned: they are pinned again on the next use)"
    )]
    BadPin {
        /// The pin file.
        file: String,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
    /// The client's pin file has a format version this client does not know (written by a
    /// newer client).
    #[error(
        "{file}: pin file format {version} is not known to this version of ratchet (it knows 1); upgrade ratchet"
    )]
    BadPinVersion {
        /// The pin file.
        file: String,
        /// The version it says.
        version: u32,
    },
    /// An owner statement names a key that does not parse.
    #[error("{what}: {source}")]
    BadStatementKey {
        /// The statement (`owner statement 1 of com.a.b`).
        what: String,
        /// The key's error.
        #[source]
        source: Box<TrustError>,
    },
    /// The text of an owner statement does not parse.
    #[error("{what}: {problem}")]
    BadStatement {
        /// The statement (`owner statement 1 of com.a.b`).
        what: String,
        /// What is wrong.
        problem: StatementProblem,
    },

    // Signatures (bundle_sig).
    /// A signature is by a key that is not one of the keys trusted for it.
    #[error("{what} is signed by key {key_id}, which is not one of the {keys_name} ({})", key_list(.known))]
    UnknownSigner {
        /// What was signed (`bundle.sig of com.a.b 1.0.0`).
        what: String,
        /// The key id the signature names.
        key_id: String,
        /// What the trusted keys are (`owner keys of com.a.b`).
        keys_name: String,
        /// The trusted key ids.
        known: Vec<String>,
    },
    /// A signature's trusted comment binds it to something else (another bundle, version,
    /// checksum list or statement).
    #[error(
        "{what}: the signature is bound to `{found}`, not to `{expected}`: it was made for something else (another bundle, version, checksum list or statement)"
    )]
    WrongBinding {
        /// What was signed.
        what: String,
        /// The trusted comment the signature carries.
        found: String,
        /// The trusted comment it must carry.
        expected: String,
    },
    /// A signature by a trusted key does not verify over the data.
    #[error(
        "{what}: the signature by key {key_id} does not verify ({source}): the signed data or its trusted comment was changed"
    )]
    SignatureMismatch {
        /// What was signed.
        what: String,
        /// The signing key's id.
        key_id: String,
        /// What minisign said.
        #[source]
        source: minisign::PError,
    },
    /// An archive has no `bundle.sig`.
    #[error("{bundle} is not signed (no bundle.sig)")]
    NotSigned {
        /// The bundle.
        bundle: Box<BundleVersion>,
    },
    /// Signing was asked for with neither a secret key nor a signature file.
    #[error("nothing to sign with: give a secret key or a signature file")]
    NothingToSignWith,

    // Owner chains (owners).
    /// The owner chain has no statement.
    #[error("the owner chain of {id} is empty")]
    EmptyOwnerChain {
        /// The bundle id.
        id: String,
    },
    /// The owner chain is longer than [`owners::MAX_CHAIN`].
    #[error("the owner chain of {id} has more than {max} statements")]
    OwnerChainTooLong {
        /// The bundle id.
        id: String,
        /// The limit.
        max: usize,
    },
    /// A statement names another bundle.
    #[error(
        "owner statement {seq} of {id} is about {about}, not {id}: statements cannot be moved between bundles"
    )]
    StatementForAnotherBundle {
        /// The bundle id.
        id: String,
        /// Position of the statement in the chain.
        seq: usize,
        /// The id the statement names.
        about: String,
    },
    /// A statement's sequence number is not its position.
    #[error(
        "owner statement {seq} of {id} says seq={found}: statements were removed, reordered or replayed"
    )]
    StatementOutOfOrder {
        /// The bundle id.
        id: String,
        /// Position of the statement in the chain.
        seq: usize,
        /// The number it carries.
        found: usize,
    },
    /// A statement's `prev` is not the previous statement's hash.
    #[error(
        "owner statement {seq} of {id} names previous statement {found} but the previous statement's hash is {expected}: the chain was altered"
    )]
    OwnerChainBroken {
        /// The bundle id.
        id: String,
        /// Position of the statement in the chain.
        seq: usize,
        /// The previous hash it names.
        found: String,
        /// The previous statement's actual hash (`-` before the genesis).
        expected: String,
    },
    /// A change of owners carries no signature.
    #[error(
        "owner statement {seq} of {id} is not signed; a change of owners must be signed by a current owner key"
    )]
    StatementNotSigned {
        /// The bundle id.
        id: String,
        /// Position of the statement in the chain.
        seq: usize,
    },
    /// A statement's retired list does not match the hash it signs.
    #[error(
        "owner statement {seq} of {id}: its retired list does not match the hash the statement signs: the list was altered"
    )]
    RetiredListAltered {
        /// The bundle id.
        id: String,
        /// Position of the statement in the chain.
        seq: usize,
    },
    /// A statement signs a retired list that is not there.
    #[error("owner statement {seq} of {id} signs a retired list, but the list is missing")]
    RetiredListMissing {
        /// The bundle id.
        id: String,
        /// Position of the statement in the chain.
        seq: usize,
    },
    /// A statement carries a retired list its signed text does not name.
    #[error(
        "owner statement {seq} of {id} carries a retired list that its signed text does not name"
    )]
    RetiredListUnsigned {
        /// The bundle id.
        id: String,
        /// Position of the statement in the chain.
        seq: usize,
    },
    /// A statement was to be signed with a key that is not a current owner.
    #[error("key {key_id} is not a current owner key of {id}; sign with one of: {}", .current.join(", "))]
    NotCurrentOwner {
        /// The bundle id.
        id: String,
        /// The key that was to sign.
        key_id: String,
        /// The current owner key ids.
        current: Vec<String>,
    },

    // Attestations (attest).
    /// An attestation field is empty or holds white space.
    #[error("attestation fields must be non-empty and hold no spaces")]
    AttestationFieldSpaces,
    /// An attestation statement does not parse.
    #[error("attestation: {0}")]
    BadAttestation(#[source] StatementProblem),
    /// A community attestation's signature carries no `key=` in its untrusted comment.
    #[error("no key= in the untrusted comment")]
    NoAttesterKey,

    // Install-time checks (`ratchet_client::verify`).
    /// The archive's size differs from the index line's.
    #[error("{bundle}: the archive is {found} bytes but the index says {expected}; refusing it")]
    SizeMismatch {
        /// The bundle.
        bundle: Box<BundleVersion>,
        /// Size in the index line.
        expected: u64,
        /// Size of the archive.
        found: u64,
    },
    /// The archive's SHA-256 differs from the index line's.
    #[error(
        "{bundle}: the archive's SHA-256 is {found} but the index says {expected}; refusing it"
    )]
    ChecksumMismatch {
        /// The bundle.
        bundle: Box<BundleVersion>,
        /// SHA-256 in the index line.
        expected: String,
        /// SHA-256 of the archive.
        found: String,
    },
    /// The archive does not read (a file differs from the checksum list, bad entry...).
    #[error("{bundle}: the archive is damaged or tampered with: {source}")]
    DamagedArchive {
        /// The bundle.
        bundle: Box<BundleVersion>,
        /// What the archive reader refused.
        #[source]
        source: ratchet_formats::archive::ArchiveError,
    },
    /// The index line names an archive of another bundle or version.
    #[error(
        "the index line for {bundle} points at an archive of {found}: the index was tampered with"
    )]
    ArchiveOfAnotherBundle {
        /// What the line says.
        bundle: Box<BundleVersion>,
        /// What the archive is.
        found: Box<BundleVersion>,
    },
    /// The index line repeats manifest fields with other values than the archive's.
    #[error("the index line for {bundle} disagrees with its archive's manifest on {}: the index was tampered with; refusing it", .fields.join(", "))]
    IndexDisagrees {
        /// The bundle.
        bundle: Box<BundleVersion>,
        /// The fields that differ (`dependencies`, `permissions`...).
        fields: Vec<&'static str>,
    },
    /// The registry's owner chain does not verify.
    #[error("{bundle}: the registry's owner chain is invalid: {source}")]
    InvalidOwnerChain {
        /// The bundle.
        bundle: Box<BundleVersion>,
        /// The chain's refusal.
        #[source]
        source: Box<TrustError>,
    },
    /// Owners were pinned for the id, but the registry now records none.
    #[error("{bundle}: you pinned owner key(s) {} for {}, but the registry now records no owner for it: the owner record was removed. If you trust the change, accept it deliberately with `ratchet key forget {}` (removes {}) and install again.", .pinned.join(", "), .bundle.id, .bundle.id, .pin_file.display())]
    OwnerRecordRemoved {
        /// The bundle.
        bundle: Box<BundleVersion>,
        /// The pinned key ids.
        pinned: Vec<String>,
        /// The pin file.
        pin_file: std::path::PathBuf,
    },
    /// The registry's owner chain does not extend the pinned one.
    #[error("{bundle}: the owners of {} changed without a valid rotation chain: you pinned key(s) {} (statement {pinned_seq}), the registry now says {} ({change}). If you trust the change, accept it deliberately with `ratchet key forget {}` (removes {}) and install again.", .bundle.id, .pinned.join(", "), .now.join(", "), .bundle.id, .pin_file.display())]
    OwnersChanged {
        /// The bundle.
        bundle: Box<BundleVersion>,
        /// The pinned key ids.
        pinned: Vec<String>,
        /// The pinned statement number.
        pinned_seq: usize,
        /// The registry's current owner key ids.
        now: Vec<String>,
        /// How the chain differs.
        change: OwnerChange,
        /// The pin file.
        pin_file: std::path::PathBuf,
    },
    /// `bundle.sig` does not verify against the owner keys.
    #[error("{bundle}: {source}")]
    SignatureRefused {
        /// The bundle.
        bundle: Box<BundleVersion>,
        /// The signature's refusal.
        #[source]
        source: Box<TrustError>,
    },
    /// Signed by a key rotated out before it signed this archive.
    #[error("{bundle} is signed by key {key_id}, which is no longer an owner of {} and had not signed this archive when it was removed; refusing it (a rotated-out key cannot sign new versions)", .bundle.id)]
    RetiredSigner {
        /// The bundle.
        bundle: Box<BundleVersion>,
        /// The signing key.
        key_id: String,
    },
    /// The index line's `signer` is not the key that made `bundle.sig`.
    #[error(
        "{bundle}: the index says it is signed by key {index_signer}, but bundle.sig is by key {key_id}"
    )]
    SignerMismatch {
        /// The bundle.
        bundle: Box<BundleVersion>,
        /// The line's `signer`.
        index_signer: String,
        /// The key that signed.
        key_id: String,
    },
    /// A signed bundle whose id has no owner record.
    #[error("{bundle} is signed, but the registry records no owner keys for {}, so nobody can tell whether the signer may sign it; refusing it", .bundle.id)]
    SignedWithoutOwners {
        /// The bundle.
        bundle: Box<BundleVersion>,
    },
    /// An unsigned bundle that may not be installed.
    #[error("{bundle} is not signed{}", unsigned_reason(.bundle, .reason))]
    UnsignedRefused {
        /// The bundle.
        bundle: Box<BundleVersion>,
        /// Why it may not be installed unsigned.
        reason: UnsignedRefusal,
    },
    /// A worker thread of the caller's panicked; nothing it did can be trusted.
    #[error("{what} panicked")]
    WorkerPanicked {
        /// The worker (`a pin-writing thread`).
        what: &'static str,
    },
}

fn unsigned_reason(bundle: &BundleVersion, r: &UnsignedRefusal) -> String {
    match r {
        UnsignedRefusal::HasOwners => format!(
            ", but {} has owner keys: every version must be signed by an owner; refusing it (--allow-unsigned does not override owners)",
            bundle.id
        ),
        UnsignedRefusal::RegistryRequiresSignatures { registry } => {
            format!(" and registry `{registry}` requires signatures")
        }
        UnsignedRefusal::NotAllowed => " (no bundle.sig); refusing it. For a local development registry only, --allow-unsigned installs it anyway".to_string(),
        UnsignedRefusal::NotLocalKind { registry, kind } => format!(
            "; --allow-unsigned is only for `local` registries and `{registry}` is {kind}"
        ),
        UnsignedRefusal::RemoteSource { registry } => format!(
            "; --allow-unsigned is only for local registries: `{registry}` says it is local, but it is reached over the network and you did not configure it as local (`ratchet registry add NAME URL --kind local`)"
        ),
    }
}

/// Maps an I/O error on `path` to [`TrustError::Io`] naming the file.
pub fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> TrustError + '_ {
    move |source| TrustError::Io {
        file: path.display().to_string(),
        source,
    }
}
