//! Attestations and the verification status shown by `info`, `list` and `install`
//! (`index-format.md` §7.4 and §7.5).
//!
//! An attestation is a signed statement about one exact archive: (id, version, archive sha256).
//! Officially verified means an attestation signed by a verifier key that the registry's
//! `config.json` names; community verified means attestations from enough distinct other keys.
//! Attestations live in the bundle's metadata file (`attestations`), next to the owner chain.

use super::bundle_sig::{parse_sig, sign_bytes, verify_bytes};
use super::keys::{PublicKey, SecretKey};
use super::{StatementProblem, TrustError};
use ratchet_formats::index::{BundleMeta, RegistryConfig};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// First word of every attestation statement.
pub const ATTEST_TAG: &str = "ratchet-attest-v1";
/// Field of the metadata file holding attestations.
pub const ATTESTATIONS_FIELD: &str = "attestations";
/// `config.json` policy: when true, unsigned bundles are refused.
pub const REQUIRE_SIGNATURES: &str = "require-signatures";
/// `config.json` policy: community attestations needed for CommunityVerified (default 2).
pub const COMMUNITY_MIN_VOTES: &str = "community-min-votes";
/// Default of [`COMMUNITY_MIN_VOTES`].
pub const DEFAULT_COMMUNITY_MIN_VOTES: u32 = 2;
/// Most attestations read per bundle (endless-data defence).
pub const MAX_ATTESTATIONS: usize = 1024;

/// How far a version has been checked by others than its author (the plan's shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum VerificationStatus {
    /// No valid attestation (or too few community ones).
    Unverified,
    /// Signed attestations from `votes` distinct keys; `score` is their mean (1 to 5).
    CommunityVerified {
        /// Distinct attesting keys.
        votes: u32,
        /// Mean score, 1.0 to 5.0.
        score: f64,
    },
    /// An attestation signed by a verifier key named in the registry's `config.json`.
    OfficiallyVerified {
        /// The verifier's name from `config.json`.
        verifier: String,
        /// When the verifier attested (RFC 3339).
        date: String,
        /// Where the verification report is, if published.
        report_url: Option<String>,
    },
}

impl std::fmt::Display for VerificationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerificationStatus::Unverified => write!(f, "unverified"),
            VerificationStatus::CommunityVerified { votes, score } => {
                write!(
                    f,
                    "community verified ({votes} votes from distinct unvetted keys, score {score:.1}/5)"
                )
            }
            VerificationStatus::OfficiallyVerified {
                verifier,
                date,
                report_url,
            } => {
                write!(f, "officially verified by {verifier} on {date}")?;
                if let Some(u) = report_url {
                    write!(f, " (report: {u})")?;
                }
                Ok(())
            }
        }
    }
}

/// A verifier key named in `config.json` (`keys: [{"role": "verifier", "name", "key"}]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    /// Shown as the verifier.
    pub name: String,
    /// The key.
    pub key: PublicKey,
}

/// Why an attestation, a bundle's trust records or a verifier entry do not count. Each is
/// skipped (the archive is then less verified, never refused by a reader); a writer
/// (`ratchet-index attest`) refuses the attestation it was given instead.
///
/// Two problems are equal when they are the same variant about the same attestation (or entry),
/// with causes of the same kind.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AttestationProblem {
    /// A `keys` entry of `config.json` with the verifier role but no valid `name` and `key`.
    #[error(
        "config.json: keys[{index}] is a verifier entry without a valid `name` and `key`; ignored"
    )]
    BadVerifierEntry {
        /// Its index in `keys`.
        index: usize,
    },
    /// The attestations of a metadata file do not parse: none of them counts.
    #[error("{source}; ignored")]
    UnreadableAttestations {
        /// Why.
        #[source]
        source: Arc<TrustError>,
    },
    /// The owner chain of a metadata file does not verify: the bundle counts as having no
    /// owners (so no community attestation is refused as the owners' own).
    #[error("{source}")]
    BadOwnerChain {
        /// Why.
        #[source]
        source: Arc<TrustError>,
    },
    /// An attestation whose statement does not parse.
    #[error("attestation {index} of {id}: malformed statement; ignored")]
    MalformedStatement {
        /// The bundle id.
        id: String,
        /// Its index in the bundle's list.
        index: usize,
        /// What is wrong with the statement.
        #[source]
        source: StatementProblem,
    },
    /// An attestation whose signature does not parse.
    #[error("{source}; ignored")]
    MalformedSignature {
        /// The bundle id.
        id: String,
        /// Its index in the bundle's list.
        index: usize,
        /// Why.
        #[source]
        source: Arc<TrustError>,
    },
    /// A community attestation signed by one of the bundle's owner keys.
    #[error(
        "attestation {index} of {id} is by an owner key; owners cannot vouch for their own bundle; ignored"
    )]
    ByOwner {
        /// The bundle id.
        id: String,
        /// Its index in the bundle's list.
        index: usize,
        /// The owner key's id.
        key_id: String,
    },
    /// A community attestation without the attester's public key.
    #[error("attestation {index} of {id}: no usable public key; ignored")]
    NoAttesterKey {
        /// The bundle id.
        id: String,
        /// Its index in the bundle's list.
        index: usize,
        /// Why.
        #[source]
        source: Arc<TrustError>,
    },
    /// An attestation whose signature does not verify: an official one by a key that is not a
    /// verifier key of `config.json` ([`TrustError::UnknownSigner`]), a bad signature...
    #[error("{source}; ignored")]
    NotVerified {
        /// The bundle id.
        id: String,
        /// Its index in the bundle's list.
        index: usize,
        /// Official or community.
        kind: AttestKind,
        /// Why.
        #[source]
        source: Arc<TrustError>,
    },
}

impl PartialEq for AttestationProblem {
    fn eq(&self, other: &Self) -> bool {
        use AttestationProblem as P;
        let same = |a: &Arc<TrustError>, b: &Arc<TrustError>| {
            std::mem::discriminant(&**a) == std::mem::discriminant(&**b)
        };
        match (self, other) {
            (P::BadVerifierEntry { index: a }, P::BadVerifierEntry { index: b }) => a == b,
            (P::UnreadableAttestations { source: a }, P::UnreadableAttestations { source: b })
            | (P::BadOwnerChain { source: a }, P::BadOwnerChain { source: b }) => same(a, b),
            (
                P::MalformedStatement { id, index, source },
                P::MalformedStatement {
                    id: i,
                    index: n,
                    source: s,
                },
            ) => id == i && index == n && source == s,
            (
                P::MalformedSignature { id, index, source },
                P::MalformedSignature {
                    id: i,
                    index: n,
                    source: s,
                },
            )
            | (
                P::NoAttesterKey { id, index, source },
                P::NoAttesterKey {
                    id: i,
                    index: n,
                    source: s,
                },
            ) => id == i && index == n && same(source, s),
            (
                P::ByOwner { id, index, key_id },
                P::ByOwner {
                    id: i,
                    index: n,
                    key_id: k,
                },
            ) => id == i && index == n && key_id == k,
            (
                P::NotVerified {
                    id,
                    index,
                    kind,
                    source,
                },
                P::NotVerified {
                    id: i,
                    index: n,
                    kind: k,
                    source: s,
                },
            ) => id == i && index == n && kind == k && same(source, s),
            _ => false,
        }
    }
}

impl Eq for AttestationProblem {}

/// Serialized as its message (what JSON documents of notices and warnings carry).
impl Serialize for AttestationProblem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The verifier keys of a registry; malformed entries are reported as problems and skipped.
pub fn verifier_keys(config: &RegistryConfig) -> (Vec<VerifierKey>, Vec<AttestationProblem>) {
    let mut keys = Vec::new();
    let mut warnings = Vec::new();
    for (i, k) in config.keys.iter().enumerate() {
        if k.get("role").and_then(|r| r.as_str()) != Some("verifier") {
            continue;
        }
        let name = k.get("name").and_then(|n| n.as_str());
        let key = k
            .get("key")
            .and_then(|n| n.as_str())
            .map(PublicKey::from_base64);
        match (name, key) {
            (Some(name), Some(Ok(key))) => keys.push(VerifierKey {
                name: name.to_string(),
                key,
            }),
            _ => warnings.push(AttestationProblem::BadVerifierEntry { index: i }),
        }
    }
    (keys, warnings)
}

/// True when the registry's `config.json` requires signed bundles.
pub fn requires_signatures(config: &RegistryConfig) -> bool {
    config
        .policies
        .get(REQUIRE_SIGNATURES)
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// Kind of attestation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestKind {
    /// By a registry verifier.
    Official,
    /// By anyone else.
    Community,
}

/// One attestation as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attestation {
    /// `ratchet-attest-v1 kind=<official|community> id=<id> version=<v> sha256=<hex>
    /// date=<rfc3339> score=<1-5|-> report=<url|->`; also the signature's trusted comment.
    pub statement: String,
    /// minisign signature text over the statement.
    pub signature: String,
}

/// What an attestation says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestFields {
    /// Official or community.
    pub kind: AttestKind,
    /// Bundle id.
    pub id: String,
    /// Version.
    pub version: String,
    /// Archive SHA-256.
    pub sha256: String,
    /// RFC 3339 date.
    pub date: String,
    /// Score 1 to 5 (community).
    pub score: Option<u8>,
    /// Report URL.
    pub report: Option<String>,
}

impl AttestFields {
    /// The statement text.
    pub fn text(&self) -> String {
        format!(
            "{ATTEST_TAG} kind={} id={} version={} sha256={} date={} score={} report={}",
            match self.kind {
                AttestKind::Official => "official",
                AttestKind::Community => "community",
            },
            self.id,
            self.version,
            self.sha256,
            self.date,
            self.score.map_or("-".to_string(), |s| s.to_string()),
            self.report.as_deref().unwrap_or("-")
        )
    }

    /// Parses a statement.
    pub fn parse(text: &str) -> Result<AttestFields, StatementProblem> {
        let mut w = text.split(' ');
        if w.next() != Some(ATTEST_TAG) {
            return Err(StatementProblem::NoTag(ATTEST_TAG));
        }
        let mut field = |name: &'static str| -> Result<String, StatementProblem> {
            let x = w.next().unwrap_or_default();
            x.strip_prefix(name)
                .and_then(|r| r.strip_prefix('='))
                .map(str::to_string)
                .ok_or_else(|| StatementProblem::ExpectedField {
                    field: name,
                    found: x.to_string(),
                })
        };
        let kind = match field("kind")?.as_str() {
            "official" => AttestKind::Official,
            "community" => AttestKind::Community,
            k => return Err(StatementProblem::UnknownKind(k.to_string())),
        };
        let id = field("id")?;
        let version = field("version")?;
        let sha256 = field("sha256")?;
        let date = field("date")?;
        let score = match field("score")?.as_str() {
            "-" => None,
            s => Some(
                s.parse::<u8>()
                    .ok()
                    .filter(|s| (1..=5).contains(s))
                    .ok_or(StatementProblem::BadScore)?,
            ),
        };
        let report = match field("report")?.as_str() {
            "-" => None,
            r => Some(r.to_string()),
        };
        if w.next().is_some() {
            return Err(StatementProblem::TrailingText("`report=`"));
        }
        Ok(AttestFields {
            kind,
            id,
            version,
            sha256,
            date,
            score,
            report,
        })
    }
}

/// Signs an attestation. Fails when a field holds a space (the statement is space-separated).
pub fn attest(fields: &AttestFields, sk: &SecretKey) -> Result<Attestation, TrustError> {
    if [&fields.id, &fields.version, &fields.sha256, &fields.date]
        .into_iter()
        .chain(fields.report.as_ref())
        .any(|f| f.contains(char::is_whitespace) || f.is_empty())
    {
        return Err(TrustError::AttestationFieldSpaces);
    }
    let text = fields.text();
    AttestFields::parse(&text).map_err(TrustError::BadAttestation)?;
    Ok(Attestation {
        signature: sign_bytes(sk, text.as_bytes(), &text)?,
        statement: text,
    })
}

/// The attestations stored in a metadata file.
pub fn from_meta(meta: &BundleMeta, file: &str) -> Result<Vec<Attestation>, TrustError> {
    match meta.extra.get(ATTESTATIONS_FIELD) {
        None => Ok(Vec::new()),
        Some(v) => {
            let list: Vec<Attestation> =
                serde_json::from_value(v.clone()).map_err(|source| TrustError::RecordJson {
                    file: format!("{file}: attestations"),
                    source,
                })?;
            Ok(list.into_iter().take(MAX_ATTESTATIONS).collect())
        }
    }
}

/// Stores attestations into metadata.
pub fn store(meta: &mut BundleMeta, list: &[Attestation]) {
    meta.extra.insert(
        ATTESTATIONS_FIELD.to_string(),
        serde_json::to_value(list).expect("attestations serialize"),
    );
}

/// What a bundle's metadata file says about trust: its attestations and current owner keys,
/// read and checked once per bundle (the owner chain's signatures) and then asked per version
/// ([`Records::status_of`]). A malformed record or an invalid owner chain counts as no
/// attestations (or no owners) and is reported in the warnings.
#[derive(Debug, Clone, Default)]
pub struct Records {
    attestations: Vec<Attestation>,
    owners: Vec<PublicKey>,
    warnings: Vec<AttestationProblem>,
}

impl Records {
    /// Reads the records of bundle `id` from its metadata file (`meta`, if any).
    pub fn of(id: &str, meta: Option<&BundleMeta>) -> Records {
        let Some(m) = meta else {
            return Records::default();
        };
        let mut warnings = Vec::new();
        let file = format!("metadata of {id}");
        let attestations = from_meta(m, &file).unwrap_or_else(|e| {
            warnings.push(AttestationProblem::UnreadableAttestations {
                source: Arc::new(e),
            });
            Vec::new()
        });
        let owners = match super::owners::OwnerChain::from_meta(m, &file)
            .and_then(|c| c.map(|c| c.verify(id)).transpose())
        {
            Ok(v) => v.map(|v| v.current).unwrap_or_default(),
            Err(e) => {
                warnings.push(AttestationProblem::BadOwnerChain {
                    source: Arc::new(e),
                });
                Vec::new()
            }
        };
        Records {
            attestations,
            owners,
            warnings,
        }
    }

    /// The verification status of one index line of this bundle, checked against
    /// `config.json`'s verifier keys, with the records' warnings and the line's own.
    pub fn status_of(
        &self,
        line: &ratchet_formats::index::IndexLine,
        config: &RegistryConfig,
    ) -> (VerificationStatus, Vec<AttestationProblem>) {
        let (status, w) = status(
            line.id.as_str(),
            &line.version,
            &line.sha256,
            &self.attestations,
            config,
            &self.owners,
        );
        let mut warnings = self.warnings.clone();
        warnings.extend(w);
        (status, warnings)
    }
}

/// The verification status of one archive (id, version, sha256) from the attestations, the
/// registry's verifier keys and the bundle's owner keys (owners cannot vouch for themselves).
/// Invalid attestations are skipped and reported in the returned problems.
pub fn status(
    id: &str,
    version: &semver::Version,
    sha256: &str,
    attestations: &[Attestation],
    config: &RegistryConfig,
    owners: &[PublicKey],
) -> (VerificationStatus, Vec<AttestationProblem>) {
    let (verifiers, mut warnings) = verifier_keys(config);
    let verifier_pks: Vec<PublicKey> = verifiers.iter().map(|v| v.key.clone()).collect();
    let min_votes = config
        .policies
        .get(COMMUNITY_MIN_VOTES)
        .and_then(|v| v.as_u64())
        .map_or(DEFAULT_COMMUNITY_MIN_VOTES, |v| v.clamp(1, 1000) as u32);
    let version = version.to_string();
    let mut official = None;
    let mut voters: Vec<String> = Vec::new();
    let mut scores: Vec<u8> = Vec::new();
    for (i, a) in attestations.iter().enumerate() {
        let what = format!("attestation {i} of {id}");
        let f = match AttestFields::parse(&a.statement) {
            Ok(f) => f,
            Err(source) => {
                warnings.push(AttestationProblem::MalformedStatement {
                    id: id.to_string(),
                    index: i,
                    source,
                });
                continue;
            }
        };
        if f.id != id || f.version != version || f.sha256 != sha256 {
            continue; // about another version or archive
        }
        let sig = match parse_sig(a.signature.as_bytes(), &what) {
            Ok(s) => s,
            Err(e) => {
                warnings.push(AttestationProblem::MalformedSignature {
                    id: id.to_string(),
                    index: i,
                    source: Arc::new(e),
                });
                continue;
            }
        };
        let not_verified = |e: TrustError| AttestationProblem::NotVerified {
            id: id.to_string(),
            index: i,
            kind: f.kind,
            source: Arc::new(e),
        };
        match f.kind {
            AttestKind::Official => {
                match verify_bytes(
                    &sig,
                    a.statement.as_bytes(),
                    &a.statement,
                    &verifier_pks,
                    &what,
                    "verifier keys in config.json",
                ) {
                    Ok(k) => {
                        let name = verifiers
                            .iter()
                            .find(|v| v.key == k)
                            .map(|v| v.name.clone())
                            .unwrap_or_default();
                        official.get_or_insert(VerificationStatus::OfficiallyVerified {
                            verifier: name,
                            date: f.date,
                            report_url: f.report,
                        });
                    }
                    Err(e) => warnings.push(not_verified(e)),
                }
            }
            AttestKind::Community => {
                if owners.iter().any(|o| o.key_id() == sig.key_id) {
                    warnings.push(AttestationProblem::ByOwner {
                        id: id.to_string(),
                        index: i,
                        key_id: sig.key_id.clone(),
                    });
                    continue;
                }
                if voters.contains(&sig.key_id) {
                    continue; // one vote per key
                }
                // Community keys are not known in advance: the signature proves the statement
                // was made by the key it names, and distinct keys are counted.
                let pk = match community_key(a) {
                    Ok(pk) => pk,
                    Err(e) => {
                        warnings.push(AttestationProblem::NoAttesterKey {
                            id: id.to_string(),
                            index: i,
                            source: Arc::new(e),
                        });
                        continue;
                    }
                };
                match verify_bytes(
                    &sig,
                    a.statement.as_bytes(),
                    &a.statement,
                    &[pk],
                    &what,
                    "attester's key",
                ) {
                    Ok(_) => {
                        voters.push(sig.key_id.clone());
                        scores.push(f.score.unwrap_or(3));
                    }
                    Err(e) => warnings.push(not_verified(e)),
                }
            }
        }
    }
    if let Some(o) = official {
        return (o, warnings);
    }
    if voters.len() as u32 >= min_votes {
        let score = scores.iter().map(|s| f64::from(*s)).sum::<f64>() / scores.len() as f64;
        return (
            VerificationStatus::CommunityVerified {
                votes: voters.len() as u32,
                score,
            },
            warnings,
        );
    }
    (VerificationStatus::Unverified, warnings)
}

/// The attester's public key, carried in the signature's untrusted comment as `key=<base64>`
/// for community attestations (nobody vouches for it; only distinctness counts).
fn community_key(a: &Attestation) -> Result<PublicKey, TrustError> {
    let first = a.signature.lines().next().unwrap_or_default();
    let k = first
        .split(' ')
        .find_map(|w| w.strip_prefix("key="))
        .ok_or(TrustError::NoAttesterKey)?;
    PublicKey::from_base64(k)
}

/// Signs a community attestation and puts the attester's public key into the signature's
/// untrusted comment (`key=<base64>`), so that others can count it.
pub fn attest_community(fields: &AttestFields, sk: &SecretKey) -> Result<Attestation, TrustError> {
    let mut a = attest(fields, sk)?;
    let rest: Vec<&str> = a.signature.lines().skip(1).collect();
    a.signature = format!(
        "untrusted comment: community attestation key={}\n{}\n",
        sk.public().to_base64(),
        rest.join("\n")
    );
    Ok(a)
}
