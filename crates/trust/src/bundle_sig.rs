//! `bundle.sig`: a minisign signature over `.bundle/checksum.sha256` whose trusted comment binds
//! the bundle id, version and the checksum list's hash (`index-format.md` §7.1).
//!
//! The checksum list covers every other file, so one signature covers the whole bundle; the
//! trusted comment is signed too (minisign's global signature), so a signature cannot be moved
//! onto another bundle or version, even one whose checksum list happens to match.

use super::keys::{PublicKey, SecretKey};
use super::{BundleVersion, SignatureProblem, TrustError, io_err};
use ratchet_formats::archive::{self, BundleArchive, Limits, sha256_hex};
use std::path::Path;

/// First word of the trusted comment of a bundle signature.
pub const BUNDLE_SIG_TAG: &str = "ratchet-bundle-v1";

/// The trusted comment a bundle signature must carry:
/// `ratchet-bundle-v1 id=<id> version=<version> checksums=<sha256 of checksum.sha256>`.
pub fn trusted_comment(id: &str, version: &semver::Version, checksum_list: &[u8]) -> String {
    format!(
        "{BUNDLE_SIG_TAG} id={id} version={version} checksums={}",
        sha256_hex(checksum_list)
    )
}

/// The trusted comment for an archive.
pub fn trusted_comment_for(archive: &BundleArchive) -> String {
    let b = &archive.manifest.bundle;
    trusted_comment(b.id.as_str(), &b.version, archive.checksum_list())
}

/// Signs `data` with `sk`, with this trusted comment; returns minisign's signature file text.
pub fn sign_bytes(sk: &SecretKey, data: &[u8], trusted: &str) -> Result<String, TrustError> {
    let untrusted = format!("signature from ratchet secret key {}", sk.public().key_id());
    let sig = minisign::sign(
        Some(sk.public().inner()),
        sk.inner(),
        std::io::Cursor::new(data),
        Some(trusted),
        Some(&untrusted),
    )
    .map_err(|source| TrustError::SigningFailed {
        key_id: sk.public().key_id(),
        source,
    })?;
    Ok(sig.into_string())
}

/// A parsed signature: the key id it names and its trusted comment.
#[derive(Clone)]
pub struct ParsedSig {
    boxed: minisign::SignatureBox,
    /// Key id of the signing key (16 hex digits).
    pub key_id: String,
    /// The trusted comment (authenticated only once verified).
    pub trusted_comment: String,
}

impl std::fmt::Debug for ParsedSig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ParsedSig({} `{}`)", self.key_id, self.trusted_comment)
    }
}

/// Parses minisign signature text; `what` names it in errors.
pub fn parse_sig(text: &[u8], what: &str) -> Result<ParsedSig, TrustError> {
    let bad = |problem: SignatureProblem| TrustError::BadSignature {
        what: what.to_string(),
        problem,
    };
    if text.len() > 4096 {
        return Err(bad(SignatureProblem::TooLong { len: text.len() }));
    }
    let s = std::str::from_utf8(text).map_err(|_| bad(SignatureProblem::NotUtf8))?;
    let boxed =
        minisign::SignatureBox::from_string(s).map_err(|source| TrustError::SignatureParse {
            what: what.to_string(),
            source,
        })?;
    if !boxed.is_prehashed() {
        return Err(bad(SignatureProblem::Legacy));
    }
    let trusted_comment = boxed
        .trusted_comment()
        .map_err(|e| bad(SignatureProblem::NoTrustedComment(e)))?;
    Ok(ParsedSig {
        key_id: super::keys::key_id(boxed.keynum()),
        boxed,
        trusted_comment,
    })
}

/// Verifies `sig` over `data` with the one key of `keys` it names, and checks that its trusted
/// comment is exactly `expected_comment`. Returns the signing key. `what` and `keys_name` make
/// the messages ("bundle.sig of com.a.b 1.0.0", "owner keys of com.a.b").
pub fn verify_bytes(
    sig: &ParsedSig,
    data: &[u8],
    expected_comment: &str,
    keys: &[PublicKey],
    what: &str,
    keys_name: &str,
) -> Result<PublicKey, TrustError> {
    let Some(key) = keys.iter().find(|k| k.key_id() == sig.key_id) else {
        return Err(TrustError::UnknownSigner {
            what: what.to_string(),
            key_id: sig.key_id.clone(),
            keys_name: keys_name.to_string(),
            known: keys.iter().map(PublicKey::key_id).collect(),
        });
    };
    if sig.trusted_comment != expected_comment {
        return Err(TrustError::WrongBinding {
            what: what.to_string(),
            found: sig.trusted_comment.clone(),
            expected: expected_comment.to_string(),
        });
    }
    minisign::verify(
        key.inner(),
        &sig.boxed,
        std::io::Cursor::new(data),
        true,
        false,
        false,
    )
    .map_err(|source| TrustError::SignatureMismatch {
        what: what.to_string(),
        key_id: sig.key_id.clone(),
        source,
    })?;
    Ok(key.clone())
}

/// Verifies the archive's `bundle.sig` against `keys`: the signature over the checksum list and
/// its binding to this archive's id, version and checksum list. The files themselves were
/// checked against the list when the archive was read. Returns the signing key.
pub fn verify_archive(
    archive: &BundleArchive,
    keys: &[PublicKey],
    keys_name: &str,
) -> Result<PublicKey, TrustError> {
    let b = &archive.manifest.bundle;
    verify_signature(
        archive.signature.as_deref(),
        archive.checksum_list(),
        b.id.as_str(),
        &b.version,
        keys,
        keys_name,
    )
}

/// [`verify_archive`] for an archive whose manifest is not parsed yet
/// ([`ratchet_formats::archive::CheckedArchive`]): `signature` is its raw `bundle.sig` (`None`
/// when it has none), bound to the `id` and `version` the caller expects (from the index line,
/// or from the signature's own claim, [`claimed_bundle`]). Install and publish call this before
/// they parse a manifest, so a hostile manifest is parsed only once its signer is trusted
/// (`index-format.md` §6.7, §7.6). Returns the signing key.
pub fn verify_signature(
    signature: Option<&[u8]>,
    checksum_list: &[u8],
    id: &str,
    version: &semver::Version,
    keys: &[PublicKey],
    keys_name: &str,
) -> Result<PublicKey, TrustError> {
    let what = format!("bundle.sig of {id} {version}");
    let Some(sig) = signature else {
        return Err(TrustError::NotSigned {
            bundle: Box::new(BundleVersion::new(id, version.clone())),
        });
    };
    let parsed = parse_sig(sig, &what)?;
    verify_bytes(
        &parsed,
        checksum_list,
        &trusted_comment(id, version, checksum_list),
        keys,
        &what,
        keys_name,
    )
}

/// The id and version a bundle signature's trusted comment claims
/// (`ratchet-bundle-v1 id=<id> version=<version> checksums=<hex>`), `None` when the comment
/// does not have that shape. Unauthenticated until the signature verifies: a publisher uses it
/// only to pick the keys to verify with, before the manifest is parsed.
pub fn claimed_bundle(sig: &ParsedSig) -> Option<(String, semver::Version)> {
    let mut words = sig.trusted_comment.split(' ');
    if words.next() != Some(BUNDLE_SIG_TAG) {
        return None;
    }
    let id = words.next()?.strip_prefix("id=")?;
    let version = words.next()?.strip_prefix("version=")?;
    let checksums = words.next()?.strip_prefix("checksums=")?;
    if words.next().is_some() || id.is_empty() || checksums.is_empty() {
        return None;
    }
    Some((id.to_string(), semver::Version::parse(version).ok()?))
}

/// Signs an archive's checksum list: the `bundle.sig` text for it.
pub fn sign_archive(archive: &BundleArchive, sk: &SecretKey) -> Result<String, TrustError> {
    sign_bytes(sk, archive.checksum_list(), &trusted_comment_for(archive))
}

/// Signs the archive file at `path` in place (temp file + rename) with `sk`, or attaches the
/// given signature text (made elsewhere, e.g. by `minisign`), which must verify against
/// `check_key` when one is given. Returns the signature text.
pub fn sign_archive_file(
    path: &Path,
    sk: Option<&SecretKey>,
    external: Option<&[u8]>,
    check_key: Option<&PublicKey>,
) -> Result<String, TrustError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let limits = Limits::default();
    let mut archive = archive::read_archive(std::io::Cursor::new(&bytes), &limits)?;
    let sig = match (sk, external) {
        (Some(sk), _) => sign_archive(&archive, sk)?,
        (None, Some(text)) => String::from_utf8_lossy(text).into_owned(),
        (None, None) => {
            return Err(TrustError::NothingToSignWith);
        }
    };
    archive.signature = Some(sig.clone().into_bytes());
    let check: Vec<PublicKey> = check_key
        .cloned()
        .or_else(|| sk.map(|k| k.public().clone()))
        .into_iter()
        .collect();
    if !check.is_empty() {
        verify_archive(&archive, &check, "given keys")?;
    } else {
        parse_sig(sig.as_bytes(), "signature")?;
    }
    let out = archive::with_signature(&bytes, Some(sig.as_bytes()), &limits)?;
    ratchet_formats::fsutil::write_atomic(path, &out).map_err(io_err(path))?;
    Ok(sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dir: &Path, name: &str) -> SecretKey {
        let kp = crate::keys::generate(dir, name, None).unwrap();
        SecretKey::load(&kp.secret).unwrap()
    }

    #[test]
    fn refusals_are_typed() {
        let d = tempfile::tempdir().unwrap();
        let (owner, evil) = (key(d.path(), "owner"), key(d.path(), "evil"));
        let v = semver::Version::new(1, 0, 0);
        let list = b"abc  tasks/x.wasm\n";
        let comment = trusted_comment("com.a.b", &v, list);
        let keys = [owner.public().clone()];
        let verify = |sig: &str, data: &[u8], expected: &str| {
            let parsed = parse_sig(sig.as_bytes(), "sig").unwrap();
            verify_bytes(
                &parsed,
                data,
                expected,
                &keys,
                "bundle.sig of com.a.b 1.0.0",
                "owner keys of com.a.b",
            )
        };

        let good = sign_bytes(&owner, list, &comment).unwrap();
        assert_eq!(
            verify(&good, list, &comment).unwrap(),
            owner.public().clone()
        );

        // A foreign signer.
        let foreign = sign_bytes(&evil, list, &comment).unwrap();
        match verify(&foreign, list, &comment).unwrap_err() {
            TrustError::UnknownSigner {
                key_id,
                known,
                keys_name,
                ..
            } => {
                assert_eq!(key_id, evil.public().key_id());
                assert_eq!(known, vec![owner.public().key_id()]);
                assert_eq!(keys_name, "owner keys of com.a.b");
            }
            other => panic!("expected UnknownSigner, got {other:?}"),
        }

        // A signature whose trusted comment names another bundle id.
        let other_id = trusted_comment("com.evil.x", &v, list);
        let moved = sign_bytes(&owner, list, &other_id).unwrap();
        match verify(&moved, list, &comment).unwrap_err() {
            TrustError::WrongBinding {
                found, expected, ..
            } => {
                assert!(found.contains("id=com.evil.x"), "{found}");
                assert!(expected.contains("id=com.a.b"), "{expected}");
            }
            other => panic!("expected WrongBinding, got {other:?}"),
        }

        // The right key and comment over other data.
        let e = verify(&good, b"other data", &comment).unwrap_err();
        assert!(
            matches!(&e, TrustError::SignatureMismatch { key_id, .. } if *key_id == owner.public().key_id()),
            "{e:?}"
        );
        assert!(
            std::error::Error::source(&e).is_some(),
            "minisign's error is the source"
        );
    }

    #[test]
    fn signing_needs_a_key_or_a_signature() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("x.rbundle");
        std::fs::write(&path, b"not read").unwrap();
        // The archive is read first: a non-archive is an archive error, not a refusal to sign.
        assert!(matches!(
            sign_archive_file(&path, None, None, None).unwrap_err(),
            TrustError::Archive(_)
        ));
    }
}
