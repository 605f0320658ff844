//! Install checks the signature before it parses a manifest (`index-format.md` §7.6): an
//! archive whose `bundle.yaml` is a nesting bomb behind a consistent checksum list is refused
//! for its signature (wrong signer, missing on a registry that requires signatures) and never
//! reaches the manifest parser; the same archive signed by its owner does reach it, and is
//! refused as damaged, so the error kind says which check ran first.

use ratchet_client::verify::{InstallVerification, PinStore, TrustInputs, verify_for_install};
use ratchet_formats::archive::{ArchiveError, sha256_hex};
use ratchet_formats::index::{BundleMeta, IndexLine, RegistryConfig, RegistryKind};
use ratchet_formats::manifest::BundleId;
use ratchet_testkit::Bundle;
use ratchet_trust::keys::SecretKey;
use ratchet_trust::owners::OwnerChain;
use ratchet_trust::{TrustError, UnsignedRefusal};
use std::path::Path;

const ID: &str = "com.example.bomb";

/// 100k nested flow sequences: seconds of CPU for a YAML parser without the depth pre-scan.
fn bomb() -> Vec<u8> {
    let mut y = b"bundle: ".to_vec();
    y.extend(std::iter::repeat_n(b'[', 100_000));
    y.extend(std::iter::repeat_n(b']', 100_000));
    y.push(b'\n');
    y
}

/// The bomb archive (signed by `key` when given) and the index line a mirror would serve
/// for it: the line is taken from the fixture's valid manifest, as a hostile mirror would.
fn bomb_archive(work: &Path, key: Option<&SecretKey>) -> (Vec<u8>, IndexLine) {
    let path = Bundle::new(ID, "1.0.0").build_with_yaml(work, &bomb(), key);
    let bytes = std::fs::read(&path).unwrap();
    let valid = Bundle::new(ID, "1.0.0").build(&work.join("valid"));
    let m = ratchet_formats::archive::read_archive_file(&valid, &Default::default())
        .unwrap()
        .manifest
        .bundle;
    let line = IndexLine::from_manifest(
        &m,
        &sha256_hex(&bytes),
        bytes.len() as u64,
        ratchet_testkit::TIME,
    );
    (bytes, line)
}

fn meta_owned_by(key: &SecretKey) -> BundleMeta {
    let mut meta = BundleMeta::new(BundleId::parse(ID).unwrap());
    OwnerChain::genesis(ID, &[key.public().clone()]).store(&mut meta);
    meta
}

fn verify(
    dir: &Path,
    line: &IndexLine,
    bytes: &[u8],
    meta: Option<&BundleMeta>,
    config: &RegistryConfig,
) -> Result<InstallVerification, TrustError> {
    verify_for_install(
        &TrustInputs {
            line,
            archive_bytes: bytes,
            meta,
            config,
            allow_unsigned: true,
            local_source: true,
        },
        &PinStore::in_dir(dir.join("trust")),
    )
}

#[test]
fn a_manifest_bomb_signed_by_a_stranger_is_refused_for_its_signature() {
    let t = tempfile::tempdir().unwrap();
    let keys = t.path().join("keys");
    let (owner, evil) = (
        ratchet_testkit::secret_key(&keys, "owner"),
        ratchet_testkit::secret_key(&keys, "evil"),
    );
    let config = RegistryConfig::new("test", RegistryKind::Public);
    let (bytes, line) = bomb_archive(&t.path().join("evil"), Some(&evil));
    let e = verify(
        t.path(),
        &line,
        &bytes,
        Some(&meta_owned_by(&owner)),
        &config,
    )
    .unwrap_err();
    match &e {
        TrustError::SignatureRefused { source, .. } => assert!(
            matches!(&**source, TrustError::UnknownSigner { key_id, .. } if *key_id == evil.public().key_id()),
            "{source:?}"
        ),
        other => panic!("expected SignatureRefused (the manifest not parsed), got {other:?}"),
    }

    // Control: the owner's signature lets the archive through to the parser, which refuses the
    // bomb by its depth pre-scan. The refusal above is therefore the signature check's, made
    // before the parse.
    let (bytes, line) = bomb_archive(&t.path().join("owner"), Some(&owner));
    let e = verify(
        t.path(),
        &line,
        &bytes,
        Some(&meta_owned_by(&owner)),
        &config,
    )
    .unwrap_err();
    assert!(
        matches!(&e, TrustError::DamagedArchive { source, .. }
            if matches!(source, ArchiveError::BadManifest { entry, .. } if entry == "bundle.yaml")),
        "expected the manifest parser's refusal, got {e:?}"
    );
}

#[test]
fn an_unsigned_manifest_bomb_is_refused_where_signatures_are_required() {
    let t = tempfile::tempdir().unwrap();
    let (bytes, line) = bomb_archive(t.path(), None);
    let mut config = RegistryConfig::new("strict", RegistryKind::Local);
    config
        .policies
        .insert("require-signatures".into(), serde_json::Value::Bool(true));
    let e = verify(t.path(), &line, &bytes, None, &config).unwrap_err();
    assert!(
        matches!(&e, TrustError::UnsignedRefused { reason: UnsignedRefusal::RegistryRequiresSignatures { registry }, .. }
            if registry == "strict"),
        "expected the unsigned refusal (the manifest not parsed), got {e:?}"
    );
    // Where unsigned bundles may be installed (local, --allow-unsigned), the archive is parsed
    // and the depth pre-scan refuses it.
    let lax = RegistryConfig::new("lax", RegistryKind::Local);
    let e = verify(t.path(), &line, &bytes, None, &lax).unwrap_err();
    assert!(
        matches!(&e, TrustError::DamagedArchive { source: ArchiveError::BadManifest { entry, .. }, .. }
            if entry == "bundle.yaml"),
        "{e:?}"
    );
}
