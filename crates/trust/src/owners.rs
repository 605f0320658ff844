//! The owner chain of a bundle id: who may sign its versions (`index-format.md` §7.3).
//!
//! The first signed publish of an id records the signer's public key as the owner (trust on
//! first publish): statement 0, the *genesis*, unsigned. Every later change of the owner set is
//! a statement naming the complete new key set and the hash of the previous statement, signed
//! by a key of the previous set. The whole chain is kept in the bundle's metadata file, so any
//! client re-verifies it from the genesis and compares it with what it pinned.
//!
//! A statement that removes keys lists what they signed until then (`retired`, bound into the
//! signed text by its hash): archives signed by a removed key stay installable only if listed,
//! so a key that was rotated out (lost, compromised) cannot sign anything new.

use super::bundle_sig::{parse_sig, sign_bytes, verify_bytes};
use super::keys::{PublicKey, SecretKey};
use super::{StatementProblem, TrustError};
use ratchet_formats::archive::sha256_hex;
use ratchet_formats::index::BundleMeta;
use serde::{Deserialize, Serialize};

/// First word of every owner statement.
pub const OWNERS_TAG: &str = "ratchet-owners-v1";
/// Field of the metadata file holding the chain.
pub const OWNERS_FIELD: &str = "owners";
/// Most statements a chain may hold (endless-data defence).
pub const MAX_CHAIN: usize = 256;
/// Most keys an owner set may hold.
pub const MAX_OWNER_KEYS: usize = 16;

/// One statement of the chain. The statement text is what is signed, and is also the
/// signature's trusted comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEntry {
    /// `ratchet-owners-v1 id=<id> seq=<n> prev=<hash|-> keys=<key>,<key>... [retired=<hash>]`
    pub statement: String,
    /// minisign signature text by a key of the previous owner set; absent for the genesis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// What the keys this statement removes signed before it, as `<version> <archive sha256>`
    /// lines, sorted; its [`retired_hash`] is the statement's `retired=` field. Absent: the
    /// removed keys' signatures are accepted for nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<Vec<String>>,
}

/// One line of a retired list: `<version> <archive sha256>`.
pub fn retired_entry(version: &semver::Version, sha256: &str) -> String {
    format!("{version} {sha256}")
}

/// SHA-256 (hex) of a retired list: its lines, each followed by `\n`.
pub fn retired_hash(list: &[String]) -> String {
    let text: String = list.iter().map(|l| format!("{l}\n")).collect();
    sha256_hex(text.as_bytes())
}

/// The `owners` object of a metadata file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct OwnerChain {
    /// The statements, genesis first.
    pub chain: Vec<ChainEntry>,
}

/// The result of verifying a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedOwners {
    /// The genesis statement's owner keys (recorded on first publish).
    pub genesis: Vec<PublicKey>,
    /// The current owner keys (the last statement's).
    pub current: Vec<PublicKey>,
    /// Every key that was an owner at some point, in order of appearance.
    pub history: Vec<PublicKey>,
    /// SHA-256 of each statement's text, in order (`hashes[n]` is statement `n`'s).
    pub hashes: Vec<String>,
    /// Keys that are no longer owners, each with what it may still have signed (the retired
    /// list of the statement that last removed it; empty when that statement kept nothing).
    pub removed: Vec<(PublicKey, Vec<String>)>,
}

impl VerifiedOwners {
    /// Sequence number of the last statement.
    pub fn seq(&self) -> usize {
        self.hashes.len() - 1
    }

    /// Whether `key`'s signature is accepted on version `version` with archive `sha256`: a
    /// current owner's always; a removed owner's only for what its removal statement retired.
    pub fn may_sign(&self, key: &PublicKey, version: &semver::Version, sha256: &str) -> bool {
        if self.current.contains(key) {
            return true;
        }
        let entry = retired_entry(version, sha256);
        self.removed
            .iter()
            .any(|(k, list)| k == key && list.contains(&entry))
    }
}

struct Statement {
    id: String,
    seq: usize,
    prev: String,
    keys: Vec<PublicKey>,
    retired: Option<String>,
}

fn parse_statement(text: &str, what: &str) -> Result<Statement, TrustError> {
    let bad = |problem: StatementProblem| TrustError::BadStatement {
        what: what.to_string(),
        problem,
    };
    let mut words = text.split(' ');
    if words.next() != Some(OWNERS_TAG) {
        return Err(bad(StatementProblem::NoTag(OWNERS_TAG)));
    }
    let mut field = |name: &'static str| -> Result<String, TrustError> {
        let w = words.next().unwrap_or_default();
        w.strip_prefix(name)
            .and_then(|r| r.strip_prefix('='))
            .map(str::to_string)
            .ok_or_else(|| {
                bad(StatementProblem::ExpectedField {
                    field: name,
                    found: w.to_string(),
                })
            })
    };
    let id = field("id")?;
    let seq = field("seq")?
        .parse::<usize>()
        .map_err(|_| bad(StatementProblem::NotANumber("seq")))?;
    let prev = field("prev")?;
    let keys_text = field("keys")?;
    let retired = match words.next() {
        None => None,
        Some(w) => Some(
            w.strip_prefix("retired=")
                .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or_else(|| bad(StatementProblem::BadRetired(w.to_string())))?
                .to_string(),
        ),
    };
    if words.next().is_some() {
        return Err(bad(StatementProblem::TrailingText("the last field")));
    }
    let mut keys = Vec::new();
    for k in keys_text.split(',') {
        let k = PublicKey::from_base64(k).map_err(|e| TrustError::BadStatementKey {
            what: what.to_string(),
            source: Box::new(e),
        })?;
        if keys.contains(&k) {
            return Err(bad(StatementProblem::DuplicateKey(k.key_id())));
        }
        keys.push(k);
    }
    if keys.is_empty() || keys.len() > MAX_OWNER_KEYS {
        return Err(bad(StatementProblem::KeyCount(MAX_OWNER_KEYS)));
    }
    Ok(Statement {
        id,
        seq,
        prev,
        keys,
        retired,
    })
}

/// The text of a statement (with `retired=<hash>` when `retired` is given).
pub fn statement_text(
    id: &str,
    seq: usize,
    prev: Option<&str>,
    keys: &[PublicKey],
    retired: Option<&[String]>,
) -> String {
    let keys: Vec<&str> = keys.iter().map(PublicKey::to_base64).collect();
    let mut text = format!(
        "{OWNERS_TAG} id={id} seq={seq} prev={} keys={}",
        prev.unwrap_or("-"),
        keys.join(",")
    );
    if let Some(list) = retired {
        text.push_str(&format!(" retired={}", retired_hash(list)));
    }
    text
}

impl OwnerChain {
    /// A new chain whose genesis names `keys` (trust on first publish).
    pub fn genesis(id: &str, keys: &[PublicKey]) -> OwnerChain {
        OwnerChain {
            chain: vec![ChainEntry {
                statement: statement_text(id, 0, None, keys, None),
                signature: None,
                retired: None,
            }],
        }
    }

    /// The chain in a metadata file, if it has one.
    pub fn from_meta(meta: &BundleMeta, file: &str) -> Result<Option<OwnerChain>, TrustError> {
        match meta.extra.get(OWNERS_FIELD) {
            None => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|source| TrustError::RecordJson {
                    file: format!("{file}: owners"),
                    source,
                }),
        }
    }

    /// Stores the chain into metadata.
    pub fn store(&self, meta: &mut BundleMeta) {
        meta.extra.insert(
            OWNERS_FIELD.to_string(),
            serde_json::to_value(self).expect("owner chain serializes"),
        );
    }

    /// Verifies the whole chain for bundle `id`: every statement names the id, numbers follow,
    /// each names the previous statement's hash and is signed by a key of the previous set.
    pub fn verify(&self, id: &str) -> Result<VerifiedOwners, TrustError> {
        if self.chain.is_empty() {
            return Err(TrustError::EmptyOwnerChain { id: id.to_string() });
        }
        if self.chain.len() > MAX_CHAIN {
            return Err(TrustError::OwnerChainTooLong {
                id: id.to_string(),
                max: MAX_CHAIN,
            });
        }
        let mut current: Vec<PublicKey> = Vec::new();
        let mut genesis = Vec::new();
        let mut history: Vec<PublicKey> = Vec::new();
        let mut hashes: Vec<String> = Vec::new();
        let mut removed: Vec<(PublicKey, Vec<String>)> = Vec::new();
        for (n, entry) in self.chain.iter().enumerate() {
            let what = format!("owner statement {n} of {id}");
            let st = parse_statement(&entry.statement, &what)?;
            if st.id != id {
                return Err(TrustError::StatementForAnotherBundle {
                    id: id.to_string(),
                    seq: n,
                    about: st.id,
                });
            }
            if st.seq != n {
                return Err(TrustError::StatementOutOfOrder {
                    id: id.to_string(),
                    seq: n,
                    found: st.seq,
                });
            }
            let expected_prev = hashes.last().map_or("-", String::as_str);
            if st.prev != expected_prev {
                return Err(TrustError::OwnerChainBroken {
                    id: id.to_string(),
                    seq: n,
                    found: st.prev,
                    expected: expected_prev.to_string(),
                });
            }
            if n == 0 {
                if entry.signature.is_some() {
                    return Err(TrustError::BadStatement {
                        what,
                        problem: StatementProblem::SignedGenesis,
                    });
                }
                genesis = st.keys.clone();
            } else {
                let Some(sig) = &entry.signature else {
                    return Err(TrustError::StatementNotSigned {
                        id: id.to_string(),
                        seq: n,
                    });
                };
                let parsed = parse_sig(sig.as_bytes(), &what)?;
                verify_bytes(
                    &parsed,
                    entry.statement.as_bytes(),
                    &entry.statement,
                    &current,
                    &what,
                    &format!("owner keys of {id} before statement {n}"),
                )?;
            }
            let list = match (&st.retired, &entry.retired) {
                (None, None) => Vec::new(),
                (Some(h), Some(list)) if *h == retired_hash(list) => list.clone(),
                (Some(_), Some(_)) => {
                    return Err(TrustError::RetiredListAltered {
                        id: id.to_string(),
                        seq: n,
                    });
                }
                (Some(_), None) => {
                    return Err(TrustError::RetiredListMissing {
                        id: id.to_string(),
                        seq: n,
                    });
                }
                (None, Some(_)) => {
                    return Err(TrustError::RetiredListUnsigned {
                        id: id.to_string(),
                        seq: n,
                    });
                }
            };
            for k in &current {
                if !st.keys.contains(k) {
                    removed.retain(|(r, _)| r != k);
                    removed.push((k.clone(), list.clone()));
                }
            }
            removed.retain(|(r, _)| !st.keys.contains(r));
            for k in &st.keys {
                if !history.contains(k) {
                    history.push(k.clone());
                }
            }
            current = st.keys;
            hashes.push(sha256_hex(entry.statement.as_bytes()));
        }
        Ok(VerifiedOwners {
            genesis,
            current,
            history,
            hashes,
            removed,
        })
    }

    /// A new statement setting the owner set to `new_keys`, signed by `sk` (which must be a
    /// current owner key). The chain must verify. When the statement removes keys, `retired`
    /// lists what they signed that stays installable (`<version> <archive sha256>`; `None`
    /// revokes everything they signed). Returns the entry to [`OwnerChain::append`].
    pub fn statement(
        &self,
        id: &str,
        new_keys: &[PublicKey],
        sk: &SecretKey,
        retired: Option<Vec<String>>,
    ) -> Result<ChainEntry, TrustError> {
        let v = self.verify(id)?;
        if !v.current.contains(sk.public()) {
            return Err(TrustError::NotCurrentOwner {
                id: id.to_string(),
                key_id: sk.public().key_id(),
                current: v.current.iter().map(PublicKey::key_id).collect(),
            });
        }
        let removes = v.current.iter().any(|k| !new_keys.contains(k));
        let retired = retired.filter(|_| removes).map(|mut l| {
            l.sort();
            l.dedup();
            l
        });
        let text = statement_text(
            id,
            v.seq() + 1,
            v.hashes.last().map(String::as_str),
            new_keys,
            retired.as_deref(),
        );
        let signature = sign_bytes(sk, text.as_bytes(), &text)?;
        Ok(ChainEntry {
            statement: text,
            signature: Some(signature),
            retired,
        })
    }

    /// Appends a statement, refusing it unless the longer chain verifies.
    pub fn append(&mut self, id: &str, entry: ChainEntry) -> Result<VerifiedOwners, TrustError> {
        let mut next = self.clone();
        next.chain.push(entry);
        let v = next.verify(id)?;
        *self = next;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dir: &std::path::Path, name: &str) -> SecretKey {
        let kp = super::super::keys::generate(dir, name, None).unwrap();
        SecretKey::load(&kp.secret).unwrap()
    }

    #[test]
    fn valid_rotation_chain() {
        let d = tempfile::tempdir().unwrap();
        let (a, b, c) = (key(d.path(), "a"), key(d.path(), "b"), key(d.path(), "c"));
        let id = "com.example.x";
        let mut chain = OwnerChain::genesis(id, &[a.public().clone()]);
        let add = chain
            .statement(id, &[a.public().clone(), b.public().clone()], &a, None)
            .unwrap();
        chain.append(id, add).unwrap();
        // b rotates a out and c in.
        let rot = chain
            .statement(id, &[b.public().clone(), c.public().clone()], &b, None)
            .unwrap();
        let v = chain.append(id, rot).unwrap();
        assert_eq!(v.current, vec![b.public().clone(), c.public().clone()]);
        assert_eq!(v.genesis, vec![a.public().clone()]);
        assert_eq!(v.history.len(), 3);
        assert_eq!(v.seq(), 2);
        // a is no longer an owner: it cannot sign a statement.
        let e = chain
            .statement(id, &[a.public().clone()], &a, None)
            .unwrap_err();
        assert!(e.to_string().contains("not a current owner"), "{e}");
        match &e {
            TrustError::NotCurrentOwner {
                id: i,
                key_id,
                current,
            } => {
                assert_eq!(i, id);
                assert_eq!(key_id, &a.public().key_id());
                assert_eq!(current, &vec![b.public().key_id(), c.public().key_id()]);
            }
            other => panic!("expected NotCurrentOwner, got {other:?}"),
        }
        // Round trip through metadata.
        let mut meta = BundleMeta::new(ratchet_formats::manifest::BundleId::parse(id).unwrap());
        chain.store(&mut meta);
        let back = BundleMeta::parse(meta.to_json().as_bytes(), "m").unwrap();
        assert_eq!(OwnerChain::from_meta(&back, "m").unwrap().unwrap(), chain);
    }

    #[test]
    fn broken_chains_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let (a, b, evil) = (
            key(d.path(), "a"),
            key(d.path(), "b"),
            key(d.path(), "evil"),
        );
        let id = "com.example.x";
        let base = OwnerChain::genesis(id, &[a.public().clone()]);

        // Signed by a key that is not an owner.
        let mut forged = base.clone();
        let text = statement_text(
            id,
            1,
            Some(&sha256_hex(base.chain[0].statement.as_bytes())),
            &[evil.public().clone()],
            None,
        );
        forged.chain.push(ChainEntry {
            signature: Some(sign_bytes(&evil, text.as_bytes(), &text).unwrap()),
            statement: text,
            retired: None,
        });
        let e = forged.verify(id).unwrap_err();
        assert!(
            matches!(&e, TrustError::UnknownSigner { key_id, known, .. }
                if *key_id == evil.public().key_id() && *known == vec![a.public().key_id()]),
            "{e:?}"
        );
        assert!(e.to_string().contains("not one of the owner keys"), "{e}");

        // Unsigned change.
        let mut unsigned = forged.clone();
        unsigned.chain[1].signature = None;
        let e = unsigned.verify(id).unwrap_err();
        assert!(
            matches!(&e, TrustError::StatementNotSigned { seq: 1, .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("not signed"), "{e}");

        // Statement text edited after signing.
        let mut good = base.clone();
        let st = good.statement(id, &[b.public().clone()], &a, None).unwrap();
        good.append(id, st).unwrap();
        let mut edited = good.clone();
        edited.chain[1].statement = edited.chain[1]
            .statement
            .replace(b.public().to_base64(), evil.public().to_base64());
        let e = edited.verify(id).unwrap_err();
        assert!(
            matches!(&e, TrustError::WrongBinding { found, expected, .. }
                if found.contains(b.public().to_base64()) && expected.contains(evil.public().to_base64())),
            "{e:?}"
        );
        assert!(e.to_string().contains("bound to"), "{e}");

        // A statement from another bundle's chain.
        let other = OwnerChain::genesis("com.example.y", &[a.public().clone()]);
        let st = other
            .statement("com.example.y", &[b.public().clone()], &a, None)
            .unwrap();
        let mut moved = base.clone();
        moved.chain.push(st);
        let e = moved.verify(id).unwrap_err();
        assert!(
            matches!(&e, TrustError::StatementForAnotherBundle { id: i, seq: 1, about }
                if i == id && about == "com.example.y"),
            "{e:?}"
        );
        assert!(e.to_string().contains("cannot be moved"), "{e}");

        // Genesis replaced under an existing statement: prev hash no longer matches.
        let mut regen = good.clone();
        regen.chain[0] = OwnerChain::genesis(id, &[evil.public().clone()]).chain[0].clone();
        let e = regen.verify(id).unwrap_err();
        match &e {
            TrustError::OwnerChainBroken {
                seq,
                found,
                expected,
                ..
            } => {
                assert_eq!(*seq, 1);
                assert_eq!(found, &sha256_hex(good.chain[0].statement.as_bytes()));
                assert_eq!(expected, &sha256_hex(regen.chain[0].statement.as_bytes()));
            }
            other => panic!("expected OwnerChainBroken, got {other:?}"),
        }
        assert!(e.to_string().contains("altered"), "{e}");

        // Statement dropped (replayed seq).
        let mut dropped = good.clone();
        let st2 = dropped
            .statement(id, &[a.public().clone()], &b, None)
            .unwrap();
        dropped.append(id, st2).unwrap();
        dropped.chain.remove(1);
        assert!(dropped.verify(id).is_err());

        // Retired lists: altered, missing, or not signed.
        let mut rot = base.clone();
        let st = rot
            .statement(
                id,
                &[b.public().clone()],
                &a,
                Some(vec!["1.0.0 aa".to_string()]),
            )
            .unwrap();
        rot.append(id, st).unwrap();
        let mut altered = rot.clone();
        altered.chain[1].retired = Some(vec!["9.9.9 bb".to_string()]);
        assert!(matches!(
            altered.verify(id).unwrap_err(),
            TrustError::RetiredListAltered { seq: 1, .. }
        ));
        let mut missing = rot.clone();
        missing.chain[1].retired = None;
        assert!(matches!(
            missing.verify(id).unwrap_err(),
            TrustError::RetiredListMissing { seq: 1, .. }
        ));
        let mut unnamed = good.clone();
        unnamed.chain[1].retired = Some(vec!["1.0.0 aa".to_string()]);
        assert!(matches!(
            unnamed.verify(id).unwrap_err(),
            TrustError::RetiredListUnsigned { seq: 1, .. }
        ));
        assert!(matches!(
            OwnerChain::default().verify(id).unwrap_err(),
            TrustError::EmptyOwnerChain { .. }
        ));

        // Malformed statement text is a typed problem, not a refusal.
        let mut twice = base.clone();
        twice.chain[0].statement =
            statement_text(id, 0, None, &[a.public().clone(), a.public().clone()], None);
        assert_eq!(
            match twice.verify(id).unwrap_err() {
                TrustError::BadStatement { problem, .. } => problem,
                other => panic!("expected BadStatement, got {other:?}"),
            },
            StatementProblem::DuplicateKey(a.public().key_id())
        );
        let mut signed_genesis = base.clone();
        signed_genesis.chain[0].signature = good.chain[1].signature.clone();
        assert!(matches!(
            signed_genesis.verify(id).unwrap_err(),
            TrustError::BadStatement {
                problem: StatementProblem::SignedGenesis,
                ..
            }
        ));
        let mut garbled = base.clone();
        garbled.chain[0].statement = format!("{OWNERS_TAG} id={id} seq=zero prev=- keys=x");
        assert!(matches!(
            garbled.verify(id).unwrap_err(),
            TrustError::BadStatement {
                problem: StatementProblem::NotANumber("seq"),
                ..
            }
        ));
    }
}
