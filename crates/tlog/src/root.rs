//! The registry key and its rotations: `root.json`.
//!
//! Why a chain: a client pins the registry key on first use (or is given it with `registry add
//! --root-key`); the key must be able to change without every client re-pinning by hand, but a
//! server must not be able to swap it. So `root.json` holds a chain of statements, each naming
//! the key from then on and signed by the key before it (the first by itself, proving that its
//! holder has the secret half). A client that pinned statement `seq` with hash `head` accepts
//! a chain only when its statement `seq` has that hash, and follows it to the end.
//!
//! ```text
//! ratchet-registry-key-v1 origin=<origin> seq=<n> prev=<sha256 of statement n-1|-> key=<base64 public key>
//! ```

use crate::TlogError;
use crate::hash::{Hash, from_hex, sha256, to_hex};
use crate::signed::valid_origin;
use ratchet_trust::bundle_sig::{parse_sig, sign_bytes, verify_bytes};
use ratchet_trust::{PublicKey, SecretKey};
use serde::{Deserialize, Serialize};

/// First word of a registry key statement.
pub const ROOT_TAG: &str = "ratchet-registry-key-v1";
/// Largest `root.json`.
pub const MAX_ROOT_BYTES: usize = 256 * 1024;
/// Most statements in a chain.
pub const MAX_CHAIN: usize = 256;

/// One link: the statement and its minisign signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// The statement text.
    pub statement: String,
    /// minisign signature text over it (statement as trusted comment).
    pub signature: String,
}

/// The content of `root.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFile {
    /// Format, `1`.
    pub v: u32,
    /// The links, oldest first.
    pub chain: Vec<Link>,
}

/// What a client pins of a registry key chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RootPin {
    /// The registry's origin.
    pub origin: String,
    /// Position of the last statement seen.
    pub seq: usize,
    /// SHA-256 (hex) of that statement.
    pub head: String,
    /// The key it names (base64).
    pub key: String,
}

/// A verified chain: the current key and the pin to remember.
#[derive(Debug, Clone)]
pub struct VerifiedRoot {
    /// The key that signs checkpoints and timestamps now.
    pub key: PublicKey,
    /// What to remember.
    pub pin: RootPin,
    /// True when the chain moved past the pinned statement (tell the user).
    pub rotated: bool,
}

fn statement(origin: &str, seq: usize, prev: Option<&Hash>, key: &PublicKey) -> String {
    format!(
        "{ROOT_TAG} origin={origin} seq={seq} prev={} key={}",
        prev.map_or("-".into(), to_hex),
        key.to_base64()
    )
}

fn sign(sk: &SecretKey, text: &str) -> Result<String, TlogError> {
    sign_bytes(sk, text.as_bytes(), text).map_err(|e| TlogError::BadSignature {
        what: "root.json".into(),
        reason: e.to_string(),
    })
}

impl RootFile {
    /// A new chain whose only key is `sk`'s (self-signed).
    pub fn genesis(origin: &str, sk: &SecretKey) -> Result<RootFile, TlogError> {
        if !valid_origin(origin) {
            return Err(TlogError::Invalid(format!(
                "`{origin}` is not a valid origin"
            )));
        }
        let text = statement(origin, 0, None, sk.public());
        Ok(RootFile {
            v: 1,
            chain: vec![Link {
                signature: sign(sk, &text)?,
                statement: text,
            }],
        })
    }

    /// Appends a rotation to `new`, signed by the current key `current`.
    pub fn rotate(
        &mut self,
        origin: &str,
        current: &SecretKey,
        new: &PublicKey,
    ) -> Result<(), TlogError> {
        let v = self.verify(origin, None)?;
        if &v.key != current.public() {
            return Err(TlogError::Invalid(format!(
                "key {} is not the registry's current key {}",
                current.public().key_id(),
                v.key.key_id()
            )));
        }
        let prev = from_hex(&v.pin.head).unwrap_or([0; 32]);
        let text = statement(origin, self.chain.len(), Some(&prev), new);
        self.chain.push(Link {
            signature: sign(current, &text)?,
            statement: text,
        });
        Ok(())
    }

    /// Parses `root.json` (at most [`MAX_ROOT_BYTES`]).
    pub fn parse(bytes: &[u8]) -> Result<RootFile, TlogError> {
        let bad = |r: String| TlogError::Malformed {
            file: "root.json".into(),
            reason: r,
        };
        if bytes.len() > MAX_ROOT_BYTES {
            return Err(bad(format!(
                "{} bytes (limit {MAX_ROOT_BYTES})",
                bytes.len()
            )));
        }
        let f: RootFile = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if f.v != 1 {
            return Err(bad(format!("unknown format {}", f.v)));
        }
        if f.chain.is_empty() || f.chain.len() > MAX_CHAIN {
            return Err(bad(format!(
                "{} statements (1 to {MAX_CHAIN})",
                f.chain.len()
            )));
        }
        Ok(f)
    }

    /// The origin named by the first statement (unverified: pass it to [`RootFile::verify`],
    /// which checks every statement against it). What a client pins on first use.
    pub fn origin(&self) -> Option<String> {
        let first = self.chain.first()?;
        let o = first.statement.split(' ').nth(1)?.strip_prefix("origin=")?;
        crate::signed::valid_origin(o).then(|| o.to_string())
    }

    /// The key of statement `seq` (unverified), if it names one.
    pub fn key_at(&self, seq: usize) -> Option<PublicKey> {
        let s = &self.chain.get(seq)?.statement;
        PublicKey::from_base64(s.split(' ').nth(4)?.strip_prefix("key=")?).ok()
    }

    /// The file's JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Checks every link, and that the chain extends `pin` when given (a chain that replaced,
    /// forked or dropped the pinned statement is refused). Returns the current key and the pin
    /// to remember.
    pub fn verify(&self, origin: &str, pin: Option<&RootPin>) -> Result<VerifiedRoot, TlogError> {
        let refuse = |r: String| TlogError::BadSignature {
            what: "root.json".into(),
            reason: r,
        };
        let mut prev: Option<(Hash, PublicKey)> = None;
        for (seq, link) in self.chain.iter().enumerate() {
            let what = format!("root.json statement {seq}");
            let w: Vec<&str> = link.statement.split(' ').collect();
            let [tag, o, s, p, k] = w.as_slice() else {
                return Err(refuse(format!("{what} is malformed")));
            };
            let key = k
                .strip_prefix("key=")
                .ok_or_else(|| refuse(format!("{what}: no key")))
                .and_then(|k| PublicKey::from_base64(k).map_err(|e| refuse(e.to_string())))?;
            let expect = statement(origin, seq, prev.as_ref().map(|(h, _)| h), &key);
            if *tag != ROOT_TAG || *o != format!("origin={origin}") || link.statement != expect {
                return Err(refuse(format!(
                    "{what} is not `{expect}` (origin {o}, {s}, {p})"
                )));
            }
            let signer = prev.as_ref().map_or(&key, |(_, k)| k).clone();
            let sig =
                parse_sig(link.signature.as_bytes(), &what).map_err(|e| refuse(e.to_string()))?;
            verify_bytes(
                &sig,
                link.statement.as_bytes(),
                &link.statement,
                &[signer],
                &what,
                if seq == 0 {
                    "key it names"
                } else {
                    "previous registry key"
                },
            )
            .map_err(|e| refuse(e.to_string()))?;
            prev = Some((sha256(link.statement.as_bytes()), key));
        }
        let (head, key) = prev.ok_or_else(|| refuse("empty chain".into()))?;
        let last = self.chain.len() - 1;
        let mut rotated = false;
        if let Some(pin) = pin {
            let at = self
                .chain
                .get(pin.seq)
                .map(|l| to_hex(&sha256(l.statement.as_bytes())));
            if pin.origin != origin || at.as_deref() != Some(pin.head.as_str()) {
                return Err(refuse(format!(
                    "the registry key chain does not extend the one pinned (statement {} with hash {}): the registry key was replaced, not rotated; if that is expected, run `ratchet registry forget-state NAME` and give the new key with --root-key",
                    pin.seq, pin.head
                )));
            }
            rotated = last > pin.seq;
        }
        Ok(VerifiedRoot {
            pin: RootPin {
                origin: origin.to_string(),
                seq: last,
                head: to_hex(&head),
                key: key.to_base64().to_string(),
            },
            key,
            rotated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signed::tests::key;

    #[test]
    fn genesis_rotation_pins_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let (k0, k1, k2, thief) = (
            key(dir.path(), "k0"),
            key(dir.path(), "k1"),
            key(dir.path(), "k2"),
            key(dir.path(), "thief"),
        );
        let o = "reg.example";
        let mut root = RootFile::genesis(o, &k0).unwrap();
        let v0 = root.verify(o, None).unwrap();
        assert_eq!(&v0.key, k0.public());
        let pin0 = v0.pin;
        root.rotate(o, &k0, k1.public()).unwrap();
        let parsed = RootFile::parse(root.to_json().as_bytes()).unwrap();
        let v1 = parsed.verify(o, Some(&pin0)).unwrap();
        assert!(v1.rotated);
        assert_eq!(&v1.key, k1.public());
        // The old key can no longer rotate.
        assert!(root.clone().rotate(o, &k0, k2.public()).is_err());
        root.rotate(o, &k1, k2.public()).unwrap();
        let v2 = root.verify(o, Some(&v1.pin)).unwrap();
        assert_eq!(&v2.key, k2.public());
        // Rolling the chain back to before the pin, replacing it, forking it: refused.
        let mut short = root.clone();
        short.chain.truncate(1);
        assert!(short.verify(o, Some(&v2.pin)).is_err());
        let replaced = RootFile::genesis(o, &thief).unwrap();
        let e = replaced.verify(o, Some(&pin0)).unwrap_err().to_string();
        assert!(e.contains("replaced"), "{e}");
        let mut forked = RootFile::genesis(o, &k0).unwrap();
        forked.rotate(o, &k0, thief.public()).unwrap();
        assert!(forked.verify(o, Some(&v1.pin)).is_err());
        // A link signed by the wrong key, a statement for another origin, edited text.
        let mut bad = root.clone();
        let text = statement(o, 2, Some(&[0; 32]), thief.public());
        bad.chain[2] = Link {
            signature: sign(&thief, &text).unwrap(),
            statement: text,
        };
        assert!(bad.verify(o, None).is_err());
        assert!(root.verify("other.example", None).is_err());
        let mut edited = root.clone();
        edited.chain[1].statement = edited.chain[1].statement.replace("seq=1", "seq=01");
        assert!(edited.verify(o, None).is_err());
        assert!(RootFile::parse(b"{\"v\":1,\"chain\":[]}").is_err());
        assert!(RootFile::parse(&vec![b' '; MAX_ROOT_BYTES + 1]).is_err());
    }
}
