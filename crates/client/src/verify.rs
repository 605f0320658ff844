//! Everything a client checks before it installs an archive, and the local pin store
//! (`index-format.md` §7.6).
//!
//! [`verify_for_install`] takes what the client fetched (the index line, the archive bytes,
//! the bundle's metadata file and `config.json`, all hostile) and what it remembers (the owner
//! keys it pinned on its first install of the id), and either refuses with a message that says
//! what failed, or returns the verified archive, its [`VerificationStatus`] and the pin to save
//! once the install has succeeded. It writes nothing itself.

use ratchet_formats::archive::{self, BundleArchive, Limits, sha256_hex};
use ratchet_formats::index::{BundleMeta, IndexLine, RegistryConfig, RegistryKind};
use ratchet_trust::attest::{self, VerificationStatus, requires_signatures};
use ratchet_trust::bundle_sig::{self, verify_signature};
use ratchet_trust::keys::PublicKey;
use ratchet_trust::owners::{OwnerChain, VerifiedOwners};
use ratchet_trust::{BundleVersion, OwnerChange, TrustError, UnsignedRefusal, io_err};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What the client fetched for one version, all of it unverified.
#[derive(Debug, Clone, Copy)]
pub struct TrustInputs<'a> {
    /// The index line chosen by the resolver (sha256, size, signer).
    pub line: &'a IndexLine,
    /// The downloaded archive.
    pub archive_bytes: &'a [u8],
    /// The bundle's metadata file (owner chain, attestations), if the registry has one.
    pub meta: Option<&'a BundleMeta>,
    /// The registry's `config.json` (verifier keys, policies, kind).
    pub config: &'a RegistryConfig,
    /// `--allow-unsigned`: accept an unsigned bundle from a `local` registry.
    pub allow_unsigned: bool,
    /// The user vouches that the registry is local (a directory on this machine, or configured
    /// as `local` in `registries.json`); see [`crate::registry::RegistrySource::is_local`]. A
    /// remote host cannot make itself local by writing `"kind": "local"` in its `config.json`.
    pub local_source: bool,
}

/// The owner keys a client saw for an id, as stored in `data/trust/<id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// Format, 1.
    pub v: u32,
    /// The bundle id.
    pub id: String,
    /// The genesis statement of the owner chain.
    pub genesis: String,
    /// Number of the last statement seen.
    pub seq: usize,
    /// SHA-256 of the last statement seen.
    pub head: String,
    /// The owner keys after that statement (base64), for messages.
    pub keys: Vec<String>,
}

impl Pin {
    fn from_owners(id: &str, chain: &OwnerChain, v: &VerifiedOwners) -> Pin {
        Pin {
            v: 1,
            id: id.to_string(),
            genesis: chain.chain[0].statement.clone(),
            seq: v.seq(),
            head: v.hashes[v.seq()].clone(),
            keys: v
                .current
                .iter()
                .map(|k| k.to_base64().to_string())
                .collect(),
        }
    }

    /// The key ids of the pinned owner keys (`?` for one that does not parse).
    pub fn key_id_list(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| PublicKey::from_base64(k).map_or_else(|_| "?".into(), |k| k.key_id()))
            .collect()
    }
}

/// Something an install must tell the user that is not a refusal: trust decided on first use,
/// an accepted owner rotation, an unsigned archive let in, an attestation that does not count.
/// Typed so that a front end decides how to group and render them (every string in it came
/// from a registry: escape it before printing it on a terminal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// First install of an id: its owner keys were trusted and will be pinned.
    OwnersPinned {
        /// The bundle id.
        id: String,
        /// Key ids of the owner keys pinned.
        key_ids: Vec<String>,
    },
    /// The owners of an id changed by a valid signed rotation; the new keys will be pinned.
    RotationAccepted {
        /// The bundle id.
        id: String,
        /// Key ids pinned before.
        from: Vec<String>,
        /// Key ids pinned after.
        to: Vec<String>,
    },
    /// An unsigned archive accepted with `--allow-unsigned` from a local registry.
    Unsigned {
        /// The bundle id.
        id: String,
        /// Its version.
        version: semver::Version,
    },
    /// First use of a registry: its verifier keys were trusted and pinned.
    VerifiersPinned {
        /// The registry's root URL.
        registry: String,
        /// `(name, key id)` of each verifier key pinned.
        verifiers: Vec<(String, String)>,
    },
    /// A registry names a verifier key not pinned for it: its attestations are ignored.
    VerifierIgnored {
        /// The registry's root URL.
        registry: String,
        /// The name `config.json` gives the key.
        name: String,
        /// Its key id (`?` when unreadable).
        key_id: String,
        /// The pin file `ratchet key forget --registry` removes.
        pin_file: PathBuf,
    },
    /// An attestation or verifier key that does not count (malformed, bad signature...), as
    /// `ratchet-trust` describes it.
    Attestation {
        /// The bundle id.
        id: String,
        /// What is wrong with it (in JSON, its message).
        #[serde(rename = "message")]
        problem: attest::AttestationProblem,
    },
}

impl std::fmt::Display for Notice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::OwnersPinned { id, key_ids } => write!(
                f,
                "first install of {id}: trusting and pinning its owner key(s) {}",
                key_ids.join(", ")
            ),
            Notice::RotationAccepted { id, from, to } => write!(
                f,
                "the owners of {id} changed by a signed rotation: key(s) {} -> {}",
                from.join(", "),
                to.join(", ")
            ),
            Notice::Unsigned { id, version } => write!(
                f,
                "installing UNSIGNED {id} {version} (--allow-unsigned): nobody vouches for its content"
            ),
            Notice::VerifiersPinned {
                registry,
                verifiers,
            } => write!(
                f,
                "first use of registry {registry}: trusting and pinning its verifier key(s) {}",
                verifiers
                    .iter()
                    .map(|(n, k)| format!("{n} ({k})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Notice::VerifierIgnored {
                registry,
                name,
                key_id,
                pin_file,
            } => write!(
                f,
                "registry {registry} names a verifier key you did not see before ({name}, {key_id}): its attestations are ignored. If you trust the change, `ratchet key forget --registry {registry}` (removes {}) pins the registry's verifiers again",
                pin_file.display()
            ),
            Notice::Attestation { id, problem } => write!(f, "{id}: {problem}"),
        }
    }
}

/// The client's pinned owner keys: one file, `data/trust/owners.json`, for every id
/// (`index-format.md` §7.6). Pin files of earlier versions (`data/trust/<id>.json`, one per id)
/// are still read, and each is folded into `owners.json` the next time its id's pin is saved.
///
/// One file, not one per id: an install of a large graph would otherwise create as many files
/// as bundles just to remember their owners (issue 19's file budget). Reads are served from a
/// copy loaded once per store; writes re-read the file under an advisory lock on the directory,
/// change it and replace it atomically, so two processes never lose each other's pins.
#[derive(Debug, Clone)]
pub struct PinStore {
    dir: PathBuf,
    loaded: std::sync::Arc<std::sync::Mutex<Option<PinMap>>>,
}

/// The pins of every id, as stored in `owners.json`.
type PinMap = std::collections::BTreeMap<String, Pin>;

/// The file format of `data/trust/owners.json`.
#[derive(Debug, Serialize, Deserialize)]
struct PinFile {
    /// Format, 1.
    v: u32,
    /// Id -> pin.
    pins: PinMap,
}

/// The name of the one pin file in a pin store's directory.
const PIN_FILE: &str = "owners.json";

impl PinStore {
    /// The pin store under `paths.data` (`data/trust`).
    pub fn new(paths: &crate::paths::Paths) -> PinStore {
        PinStore::in_dir(paths.data.join("trust"))
    }

    /// A pin store in this directory.
    pub fn in_dir(dir: impl Into<PathBuf>) -> PinStore {
        PinStore {
            dir: dir.into(),
            loaded: Default::default(),
        }
    }

    /// The file that holds the pins (of every id): what a user edits or a refusal names.
    pub fn file(&self, _id: &str) -> PathBuf {
        self.dir.join(PIN_FILE)
    }

    /// Where an earlier version kept an id's pin.
    fn legacy_file(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// The pin of an id, if any.
    pub fn load(&self, id: &str) -> Result<Option<Pin>, TrustError> {
        let found = {
            let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
            if loaded.is_none() {
                *loaded = Some(self.read_all()?);
            }
            loaded.as_ref().and_then(|m| m.get(id).cloned())
        };
        match found {
            Some(p) => Ok(Some(p)),
            None => read_pin(&self.legacy_file(id)),
        }
    }

    /// Saves a pin (synced).
    pub fn save(&self, pin: &Pin) -> Result<(), TrustError> {
        self.save_all(std::slice::from_ref(pin), true)
    }

    /// Saves pins without syncing them: for a caller that saves many and then makes them
    /// durable at once ([`ratchet_formats::fsutil::sync_filesystem`]) before relying on them.
    pub fn save_unsynced(&self, pins: &[Pin]) -> Result<(), TrustError> {
        self.save_all(pins, false)
    }

    /// Forgets an id's pin, to accept a new owner deliberately; false when there was none.
    pub fn forget(&self, id: &str) -> Result<bool, TrustError> {
        let removed = self.update(|m| m.remove(id).is_some(), true)?;
        let legacy = remove_pin(&self.legacy_file(id))?;
        Ok(removed || legacy)
    }

    /// Where pins live.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn save_all(&self, pins: &[Pin], durable: bool) -> Result<(), TrustError> {
        if pins.is_empty() {
            return Ok(());
        }
        self.update(
            |m| {
                for p in pins {
                    m.insert(p.id.clone(), p.clone());
                }
                true
            },
            durable,
        )?;
        // The pins now live in `owners.json`: an older per-id file would only shadow nothing.
        for p in pins {
            remove_pin(&self.legacy_file(&p.id))?;
        }
        Ok(())
    }

    /// Reads `owners.json` (empty when there is none).
    fn read_all(&self) -> Result<PinMap, TrustError> {
        let path = self.dir.join(PIN_FILE);
        let file: Option<PinFile> = read_pin(&path)?;
        match file {
            None => Ok(PinMap::new()),
            Some(f) if f.v == 1 => Ok(f.pins),
            Some(f) => Err(TrustError::BadPinVersion {
                file: path.display().to_string(),
                version: f.v,
            }),
        }
    }

    /// Re-reads `owners.json` under the directory's lock, applies `change`, and writes it back
    /// when `change` says it changed something. Returns what `change` returned.
    fn update(
        &self,
        change: impl FnOnce(&mut PinMap) -> bool,
        durable: bool,
    ) -> Result<bool, TrustError> {
        std::fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let dir = std::fs::File::open(&self.dir).map_err(io_err(&self.dir))?;
        dir.lock().map_err(io_err(&self.dir))?;
        let mut map = self.read_all()?;
        let changed = change(&mut map);
        if changed {
            write_pin(
                &self.dir.join(PIN_FILE),
                &PinFile {
                    v: 1,
                    pins: map.clone(),
                },
                durable,
            )?;
        }
        *self.loaded.lock().unwrap_or_else(|e| e.into_inner()) = Some(map);
        Ok(changed)
    }
}

/// The verifier keys a client saw for a registry on first use, as stored in
/// `data/trust/registries/<hash of the registry URL>.json` (`index-format.md` §7.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifierPin {
    /// Format, 1.
    pub v: u32,
    /// The registry's root URL.
    pub registry: String,
    /// The verifier keys (base64) and their names when first seen.
    pub verifiers: Vec<PinnedVerifier>,
}

/// One pinned verifier key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedVerifier {
    /// The name `config.json` gave it.
    pub name: String,
    /// The public key (base64).
    pub key: String,
}

impl PinStore {
    /// The verifier pin file of a registry root URL.
    pub fn verifiers_file(&self, registry: &str) -> PathBuf {
        let h = sha256_hex(registry.as_bytes());
        self.dir
            .join("registries")
            .join(format!("{}.json", &h[..24]))
    }

    /// Forgets the verifier keys pinned for a registry; false when there were none.
    pub fn forget_verifiers(&self, registry: &str) -> Result<bool, TrustError> {
        remove_pin(&self.verifiers_file(registry))
    }

    /// Trust on first use for a registry's verifier keys. `config.json` is written by whoever
    /// hosts the registry, so the verifier keys it names (which make bundles "officially
    /// verified") are pinned the first time this client reads the registry; later, keys that
    /// were not pinned are removed from `config` (so nothing they sign counts) with a warning
    /// saying how to accept them (`ratchet key forget --registry`). Returns what the user must
    /// be told.
    pub fn pin_verifiers(
        &self,
        registry: &str,
        config: &mut RegistryConfig,
    ) -> Result<Vec<Notice>, TrustError> {
        let (served, _) = attest::verifier_keys(config);
        let path = self.verifiers_file(registry);
        let pinned: Option<VerifierPin> = read_pin(&path)?;
        let Some(pin) = pinned else {
            if served.is_empty() {
                return Ok(Vec::new());
            }
            let pin = VerifierPin {
                v: 1,
                registry: registry.to_string(),
                verifiers: served
                    .iter()
                    .map(|v| PinnedVerifier {
                        name: v.name.clone(),
                        key: v.key.to_base64().to_string(),
                    })
                    .collect(),
            };
            write_pin(&path, &pin, true)?;
            return Ok(vec![Notice::VerifiersPinned {
                registry: registry.to_string(),
                verifiers: served
                    .iter()
                    .map(|v| (v.name.clone(), v.key.key_id()))
                    .collect(),
            }]);
        };
        let trusted: Vec<&str> = pin.verifiers.iter().map(|v| v.key.as_str()).collect();
        let mut warnings = Vec::new();
        config.keys.retain(|k| {
            if k.get("role").and_then(|r| r.as_str()) != Some("verifier") {
                return true;
            }
            let key = k.get("key").and_then(|x| x.as_str()).unwrap_or("");
            if trusted.contains(&key) {
                return true;
            }
            let name = k.get("name").and_then(|x| x.as_str()).unwrap_or("?");
            let key_id = PublicKey::from_base64(key).map_or_else(|_| "?".into(), |k| k.key_id());
            warnings.push(Notice::VerifierIgnored {
                registry: registry.to_string(),
                name: name.to_string(),
                key_id,
                pin_file: path.clone(),
            });
            false
        });
        Ok(warnings)
    }
}

/// Reads a pin file (`None` when there is none).
fn read_pin<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, TrustError> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|source| TrustError::BadPin {
                file: path.display().to_string(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Writes a pin file (temp file + rename; synced when `durable`).
fn write_pin<T: Serialize>(path: &Path, pin: &T, durable: bool) -> Result<(), TrustError> {
    let mut text = serde_json::to_string_pretty(pin).expect("pins serialize");
    text.push('\n');
    let write = if durable {
        ratchet_formats::fsutil::write_atomic
    } else {
        ratchet_formats::fsutil::write_atomic_unsynced
    };
    write(path, text.as_bytes()).map_err(io_err(path))
}

/// Removes a pin file; false when there was none.
fn remove_pin(path: &Path) -> Result<bool, TrustError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// What [`verify_for_install`] established.
#[derive(Debug, Clone)]
pub struct InstallVerification {
    /// The verified archive (every file checked against the checksum list).
    pub archive: BundleArchive,
    /// The owner key that signed it; `None` only for an unsigned bundle accepted with
    /// `allow_unsigned`.
    pub signer: Option<PublicKey>,
    /// Attestation status of this exact archive.
    pub status: VerificationStatus,
    /// The pin to save with [`PinStore::save`] after the install succeeded (first install of
    /// the id, or owners changed by a valid signed rotation).
    pub pin_update: Option<Pin>,
    /// Things the user must be told (first-use pinning, rotations, unsigned installs, attestations
    /// that do not count).
    pub notices: Vec<Notice>,
}

/// Every check of an install, in order: archive size and SHA-256 against the index line; every
/// file against `.bundle/checksum.sha256` (the manifests not parsed yet); the owner chain in the
/// registry; the chain against the keys pinned for the id; the signature (bound to the line's id
/// and version and the checksum list) against the owner keys; the line's `signer`; only then
/// the manifests, and the archive's id, version and every other field the line repeats
/// (dependencies, permissions, resources...) against the line.
/// Unsigned bundles are refused unless `allow_unsigned` is set, the registry is `local`, it does
/// not require signatures and the id has no owners. Nothing is written.
pub fn verify_for_install(
    inputs: &TrustInputs<'_>,
    pins: &PinStore,
) -> Result<InstallVerification, TrustError> {
    let line = inputs.line;
    let id = line.id.as_str();
    let bundle = || Box::new(BundleVersion::new(id, line.version.clone()));
    let bytes = inputs.archive_bytes;
    if bytes.len() as u64 != line.size {
        return Err(TrustError::SizeMismatch {
            bundle: bundle(),
            expected: line.size,
            found: bytes.len() as u64,
        });
    }
    let actual = sha256_hex(bytes);
    if actual != line.sha256 {
        return Err(TrustError::ChecksumMismatch {
            bundle: bundle(),
            expected: line.sha256.clone(),
            found: actual,
        });
    }
    // Structure and checksums only: the manifests are parsed once the signature is checked
    // (or the unsigned archive accepted), so a hostile mirror cannot make every client parse a
    // manifest nobody signed (`index-format.md` §7.6).
    let damaged = |source| TrustError::DamagedArchive {
        bundle: bundle(),
        source,
    };
    let checked = archive::read_archive_unparsed(std::io::Cursor::new(bytes), &Limits::default())
        .map_err(damaged)?;

    let meta_file = format!("metadata of {id}");
    let chain = match inputs.meta {
        Some(meta) => OwnerChain::from_meta(meta, &meta_file)?,
        None => None,
    };
    let owners = match &chain {
        Some(c) => Some(c.verify(id).map_err(|e| TrustError::InvalidOwnerChain {
            bundle: bundle(),
            source: Box::new(e),
        })?),
        None => None,
    };
    let pin = pins.load(id)?;
    let mut notices = Vec::new();
    let mut pin_update = None;
    match (&pin, &chain, &owners) {
        (Some(p), _, None) => {
            return Err(TrustError::OwnerRecordRemoved {
                bundle: bundle(),
                pinned: p.key_id_list(),
                pin_file: pins.file(id),
            });
        }
        (Some(p), Some(c), Some(v)) => {
            let same_genesis = c.chain[0].statement == p.genesis;
            let extends = same_genesis && v.hashes.get(p.seq) == Some(&p.head);
            if !extends {
                let change = if !same_genesis {
                    OwnerChange::Replaced
                } else if v.hashes.len() <= p.seq {
                    OwnerChange::Rollback
                } else {
                    OwnerChange::Fork
                };
                return Err(TrustError::OwnersChanged {
                    bundle: bundle(),
                    pinned: p.key_id_list(),
                    pinned_seq: p.seq,
                    now: v.current.iter().map(PublicKey::key_id).collect(),
                    change,
                    pin_file: pins.file(id),
                });
            }
            if v.seq() > p.seq {
                let np = Pin::from_owners(id, c, v);
                notices.push(Notice::RotationAccepted {
                    id: id.to_string(),
                    from: p.key_id_list(),
                    to: np.key_id_list(),
                });
                pin_update = Some(np);
            }
        }
        (None, Some(c), Some(v)) => {
            let np = Pin::from_owners(id, c, v);
            notices.push(Notice::OwnersPinned {
                id: id.to_string(),
                key_ids: np.key_id_list(),
            });
            pin_update = Some(np);
        }
        _ => {}
    }

    let signer = match (checked.signature(), &owners) {
        (Some(_), Some(v)) => {
            let k = verify_signature(
                checked.signature(),
                checked.checksum_list(),
                id,
                &line.version,
                &v.history,
                &format!("owner keys of {id}"),
            )
            .map_err(|e| match (&e, signed_for_another(&checked, &v.history)) {
                // Authentic, but bound to another id or version: the line points at another
                // bundle's archive.
                (TrustError::WrongBinding { .. }, Some(found)) => {
                    TrustError::ArchiveOfAnotherBundle {
                        bundle: bundle(),
                        found: Box::new(found),
                    }
                }
                _ => TrustError::SignatureRefused {
                    bundle: bundle(),
                    source: Box::new(e),
                },
            })?;
            if !v.may_sign(&k, &line.version, &line.sha256) {
                return Err(TrustError::RetiredSigner {
                    bundle: bundle(),
                    key_id: k.key_id(),
                });
            }
            if let Some(s) = &line.signer
                && *s != k.key_id()
            {
                return Err(TrustError::SignerMismatch {
                    bundle: bundle(),
                    index_signer: s.clone(),
                    key_id: k.key_id(),
                });
            }
            Some(k)
        }
        (Some(_), None) => {
            return Err(TrustError::SignedWithoutOwners { bundle: bundle() });
        }
        (None, _) => {
            let unsigned = |reason| TrustError::UnsignedRefused {
                bundle: bundle(),
                reason,
            };
            if owners.is_some() || pin.is_some() {
                return Err(unsigned(UnsignedRefusal::HasOwners));
            }
            if requires_signatures(inputs.config) {
                return Err(unsigned(UnsignedRefusal::RegistryRequiresSignatures {
                    registry: inputs.config.name.clone(),
                }));
            }
            if !inputs.allow_unsigned {
                return Err(unsigned(UnsignedRefusal::NotAllowed));
            }
            if inputs.config.kind != RegistryKind::Local {
                return Err(unsigned(UnsignedRefusal::NotLocalKind {
                    registry: inputs.config.name.clone(),
                    kind: inputs.config.kind.as_str().to_string(),
                }));
            }
            if !inputs.local_source {
                return Err(unsigned(UnsignedRefusal::RemoteSource {
                    registry: inputs.config.name.clone(),
                }));
            }
            notices.push(Notice::Unsigned {
                id: id.to_string(),
                version: line.version.clone(),
            });
            None
        }
    };

    // Only now the manifests: signed by a key the client trusts for this id, or an unsigned
    // archive the user let in (then the depth pre-scan is the bound).
    let archive = checked.parse_manifest().map_err(damaged)?;
    let m = &archive.manifest.bundle;
    if m.id != line.id || m.version != line.version {
        return Err(TrustError::ArchiveOfAnotherBundle {
            bundle: bundle(),
            found: Box::new(BundleVersion::new(m.id.as_str(), m.version.clone())),
        });
    }

    // What the client showed and resolved with came from the line: it must be what the
    // (signed) archive declares.
    let diffs = line.disagreements(m);
    if !diffs.is_empty() {
        return Err(TrustError::IndexDisagrees {
            bundle: bundle(),
            fields: diffs,
        });
    }

    let attestations = match inputs.meta {
        Some(meta) => attest::from_meta(meta, &meta_file)?,
        None => Vec::new(),
    };
    let current = owners.map(|v| v.current).unwrap_or_default();
    let (status, w) = attest::status(
        id,
        &line.version,
        &line.sha256,
        &attestations,
        inputs.config,
        &current,
    );
    notices.extend(w.into_iter().map(|problem| Notice::Attestation {
        id: id.to_string(),
        problem,
    }));
    Ok(InstallVerification {
        archive,
        signer,
        status,
        pin_update,
        notices,
    })
}

/// The id and version an archive's signature claims, when it verifies with that binding
/// against `keys`: an authentic archive of another bundle (or version), named without parsing
/// its manifest.
fn signed_for_another(
    checked: &archive::CheckedArchive,
    keys: &[PublicKey],
) -> Option<BundleVersion> {
    let sig = checked.signature()?;
    let parsed = bundle_sig::parse_sig(sig, "bundle.sig").ok()?;
    let (id, version) = bundle_sig::claimed_bundle(&parsed)?;
    bundle_sig::verify_signature(
        Some(sig),
        checked.checksum_list(),
        &id,
        &version,
        keys,
        "owner keys",
    )
    .ok()?;
    Some(BundleVersion::new(id.as_str(), version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(id: &str, seq: usize) -> Pin {
        Pin {
            v: 1,
            id: id.into(),
            genesis: format!("genesis of {id}"),
            seq,
            head: format!("{seq:064x}"),
            keys: vec!["k".into()],
        }
    }

    #[test]
    fn every_pin_lives_in_one_file_and_an_older_per_id_file_is_still_honoured() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("trust");
        std::fs::create_dir_all(&dir).unwrap();
        // A pin written by an earlier version, one file per id.
        let old = pin("com.example.old", 2);
        std::fs::write(
            dir.join("com.example.old.json"),
            serde_json::to_vec(&old).unwrap(),
        )
        .unwrap();
        let store = PinStore::in_dir(&dir);
        assert_eq!(store.load("com.example.old").unwrap(), Some(old.clone()));
        store
            .save_unsynced(&[pin("com.example.a", 0), pin("com.example.b", 1)])
            .unwrap();
        // Another process (another store) saves its own pin meanwhile: nothing is lost.
        PinStore::in_dir(&dir)
            .save(&pin("com.example.c", 0))
            .unwrap();
        store.save(&pin("com.example.old", 3)).unwrap();
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            vec!["owners.json".to_string()],
            "the per-id file was folded in"
        );
        let fresh = PinStore::in_dir(&dir);
        for (id, seq) in [
            ("com.example.a", 0),
            ("com.example.b", 1),
            ("com.example.c", 0),
            ("com.example.old", 3),
        ] {
            assert_eq!(fresh.load(id).unwrap(), Some(pin(id, seq)), "{id}");
        }
        assert!(fresh.forget("com.example.b").unwrap());
        assert!(!fresh.forget("com.example.b").unwrap());
        assert_eq!(PinStore::in_dir(&dir).load("com.example.b").unwrap(), None);
        assert_eq!(fresh.file("com.example.a"), dir.join("owners.json"));
    }

    #[test]
    fn a_damaged_or_newer_pin_file_is_refused_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("owners.json"), b"{\"v\":1,\"pins\":").unwrap();
        let e = PinStore::in_dir(tmp.path())
            .load("com.example.a")
            .unwrap_err();
        assert!(
            matches!(e, TrustError::BadPin { ref file, .. } if file.ends_with("owners.json")),
            "{e}"
        );
        std::fs::write(tmp.path().join("owners.json"), b"{\"v\":2,\"pins\":{}}").unwrap();
        let e = PinStore::in_dir(tmp.path())
            .load("com.example.a")
            .unwrap_err();
        assert!(
            matches!(e, TrustError::BadPinVersion { version: 2, .. }),
            "{e}"
        );
        // Nothing is written over a file this client cannot read.
        let e = PinStore::in_dir(tmp.path())
            .save(&pin("com.example.a", 0))
            .unwrap_err();
        assert!(matches!(e, TrustError::BadPinVersion { .. }), "{e}");
        assert_eq!(
            std::fs::read(tmp.path().join("owners.json")).unwrap(),
            b"{\"v\":2,\"pins\":{}}"
        );
    }

    #[test]
    fn an_attestation_notice_carries_the_problem_and_keeps_its_json_shape() {
        let n = Notice::Attestation {
            id: "com.example.tools".into(),
            problem: attest::AttestationProblem::ByOwner {
                id: "com.example.tools".into(),
                index: 2,
                key_id: "ABCD".into(),
            },
        };
        assert!(matches!(
            &n,
            Notice::Attestation {
                problem: attest::AttestationProblem::ByOwner { index: 2, .. },
                ..
            }
        ));
        assert_eq!(
            serde_json::to_value(&n).unwrap(),
            serde_json::json!({
                "notice": "attestation",
                "id": "com.example.tools",
                "message": "attestation 2 of com.example.tools is by an owner key; owners cannot vouch for their own bundle; ignored"
            })
        );
        assert_eq!(
            n.to_string(),
            "com.example.tools: attestation 2 of com.example.tools is by an owner key; owners cannot vouch for their own bundle; ignored"
        );
    }
}
