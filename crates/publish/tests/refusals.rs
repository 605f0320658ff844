//! Publish refusals asserted by variant and fields: owner enforcement on signed and unsigned
//! archives, broken archives, registries that are not registries. Archives are built from the
//! workspace's sample bundles.

use ratchet_formats::archive::{ArchiveError, BuildOptions, archive_file_name, build_archive};
use ratchet_formats::index::{ConfigProblem, RegistryKind};
use ratchet_formats::manifest::parse_manifest;
use ratchet_publish::{PublishError, Registry};
use ratchet_trust::TrustError;
use ratchet_trust::bundle_sig::sign_archive_file;
use ratchet_trust::keys::{self, SecretKey};
use std::path::{Path, PathBuf};

const TIME: &str = "2026-01-01T00:00:00Z";

/// Builds sample `com.ratchet.core-utils/<version>` into `dir` under its canonical file name,
/// signed by `sk` when given.
fn archive(dir: &Path, version: &str, sk: Option<&SecretKey>) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../sample-bundles/com.ratchet.core-utils")
        .join(version);
    let m = parse_manifest(
        &std::fs::read_to_string(src.join("bundle.yaml")).unwrap(),
        "bundle.yaml",
    )
    .unwrap();
    let out_dir = dir.join(format!(
        "out-{}",
        sk.map_or("unsigned".into(), |k| k.public().key_id())
    ));
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join(archive_file_name(&m));
    build_archive(&src, &m, &out, &BuildOptions::default()).unwrap();
    if let Some(sk) = sk {
        sign_archive_file(&out, Some(sk), None, None).unwrap();
    }
    out
}

fn key(dir: &Path, name: &str) -> SecretKey {
    let kp = keys::generate(&dir.join("keys"), name, None).unwrap();
    SecretKey::load(&kp.secret).unwrap()
}

#[test]
fn owner_enforcement_refuses_by_variant() {
    let t = tempfile::tempdir().unwrap();
    let reg = Registry::init(&t.path().join("reg"), "test", RegistryKind::Public, None).unwrap();
    let (owner, evil) = (key(t.path(), "owner"), key(t.path(), "evil"));

    // The first signed publish must name its owners.
    let v1 = archive(t.path(), "1.0.0", Some(&owner));
    match reg.publish_with(&v1, TIME, &[]).unwrap_err() {
        PublishError::OwnerKeysNeeded { id, .. } => {
            assert_eq!(id.as_str(), "com.ratchet.core-utils")
        }
        other => panic!("expected OwnerKeysNeeded, got {other:?}"),
    }
    // Owner keys that did not make the signature.
    let e = reg
        .publish_with(&v1, TIME, &[evil.public().clone()])
        .unwrap_err();
    assert!(
        matches!(&e, PublishError::Untrusted { source, .. }
            if matches!(&**source, TrustError::UnknownSigner { key_id, .. } if *key_id == owner.public().key_id())),
        "{e:?}"
    );
    reg.publish_with(&v1, TIME, &[owner.public().clone()])
        .unwrap();

    // A foreign signer on the next version.
    let v12_evil = archive(t.path(), "1.2.0", Some(&evil));
    let e = reg.publish_with(&v12_evil, TIME, &[]).unwrap_err();
    match &e {
        PublishError::Untrusted { source, .. } => match &**source {
            TrustError::UnknownSigner { key_id, known, .. } => {
                assert_eq!(key_id, &evil.public().key_id());
                assert_eq!(known, &vec![owner.public().key_id()]);
            }
            other => panic!("expected UnknownSigner, got {other:?}"),
        },
        other => panic!("expected Untrusted, got {other:?}"),
    }
    assert!(std::error::Error::source(&e).is_some());

    // Unsigned, while the id has owners.
    let v12_unsigned = archive(t.path(), "1.2.0", None);
    match reg.publish_with(&v12_unsigned, TIME, &[]).unwrap_err() {
        PublishError::UnsignedWithOwners { owners, .. } => {
            assert_eq!(owners, vec![owner.public().key_id()]);
        }
        other => panic!("expected UnsignedWithOwners, got {other:?}"),
    }

    // Signed by the owner, but naming another key as owner.
    let v12 = archive(t.path(), "1.2.0", Some(&owner));
    match reg
        .publish_with(&v12, TIME, &[evil.public().clone()])
        .unwrap_err()
    {
        PublishError::OwnerKeyNotCurrent { key_id, .. } => {
            assert_eq!(key_id, evil.public().key_id());
        }
        other => panic!("expected OwnerKeyNotCurrent, got {other:?}"),
    }
    reg.publish_with(&v12, TIME, &[]).unwrap();
}

#[test]
fn broken_archives_and_non_registries_are_refused_by_variant() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("reg");
    let mut reg = Registry::init(&dir, "test", RegistryKind::Local, None).unwrap();
    assert!(matches!(
        Registry::init(&dir, "again", RegistryKind::Local, None).unwrap_err(),
        PublishError::AlreadyARegistry { .. }
    ));
    assert!(matches!(
        Registry::open(&t.path().join("nowhere")).unwrap_err(),
        PublishError::NoSuchDirectory { .. }
    ));
    let other = t.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("x"), b"x").unwrap();
    assert!(matches!(
        Registry::open(&other).unwrap_err(),
        PublishError::NoConfig { .. }
    ));
    assert!(matches!(
        Registry::init(&other, "x", RegistryKind::Local, None).unwrap_err(),
        PublishError::DirectoryNotEmpty { .. }
    ));
    // A `dl` template that leaves the registry, or is not content-addressed, is refused before
    // anything is written.
    let fresh = t.path().join("fresh");
    assert!(matches!(
        Registry::init(&fresh, "x", RegistryKind::Local, Some("../elsewhere/{sha256}")).unwrap_err(),
        PublishError::BadInitConfig {
            problem: ConfigProblem::BadRelativeDl { dl },
            ..
        } if dl == "../elsewhere/{sha256}"
    ));
    assert!(matches!(
        Registry::init(
            &fresh,
            "x",
            RegistryKind::Local,
            Some("archives/all.rbundle")
        )
        .unwrap_err(),
        PublishError::BadInitConfig {
            problem: ConfigProblem::DlNotContentAddressed { .. },
            ..
        }
    ));
    assert!(!fresh.join("config.json").exists());

    let garbage = t.path().join("com.ratchet.core-utils-1.0.0.rbundle");
    std::fs::write(&garbage, b"not gzip").unwrap();
    let e = reg.publish(&garbage, TIME).unwrap_err();
    assert!(
        matches!(
            &e,
            PublishError::BadArchive {
                source: ArchiveError::Malformed { .. },
                ..
            }
        ),
        "{e:?}"
    );

    let pk = key(t.path(), "v").public().clone();
    assert!(matches!(
        reg.add_verifier(" ", &pk).unwrap_err(),
        PublishError::EmptyVerifierName
    ));
}

#[test]
fn attestations_that_do_not_count_are_refused_by_variant() {
    use ratchet_trust::attest::{self, AttestFields, AttestKind, AttestationProblem};
    let t = tempfile::tempdir().unwrap();
    let mut reg =
        Registry::init(&t.path().join("reg"), "test", RegistryKind::Public, None).unwrap();
    let (owner, evil, verifier) = (
        key(t.path(), "owner"),
        key(t.path(), "evil"),
        key(t.path(), "verifier"),
    );
    let v1 = archive(t.path(), "1.0.0", Some(&owner));
    reg.publish_with(&v1, TIME, &[owner.public().clone()])
        .unwrap();
    reg.add_verifier("acme", verifier.public()).unwrap();
    let fields = |kind| AttestFields {
        kind,
        id: "com.ratchet.core-utils".into(),
        version: "1.0.0".into(),
        sha256: ratchet_formats::archive::sha256_hex(&std::fs::read(&v1).unwrap()),
        date: TIME.into(),
        score: None,
        report: None,
    };

    // An official attestation signed by a key that is not a verifier key of config.json.
    let a = attest::attest(&fields(AttestKind::Official), &evil).unwrap();
    match reg.add_attestation(a).unwrap_err() {
        PublishError::AttestationNotOfficial { problems } => match problems.as_slice() {
            [
                AttestationProblem::NotVerified {
                    id,
                    index,
                    kind: AttestKind::Official,
                    source,
                },
            ] => {
                assert_eq!(id, "com.ratchet.core-utils");
                assert_eq!(*index, 0);
                assert!(
                    matches!(&**source, TrustError::UnknownSigner { key_id, known, .. }
                        if *key_id == evil.public().key_id() && *known == vec![verifier.public().key_id()]),
                    "{source:?}"
                );
            }
            other => panic!("expected one NotVerified, got {other:?}"),
        },
        other => panic!("expected AttestationNotOfficial, got {other:?}"),
    }

    // A community attestation by the bundle's own owner.
    let a = attest::attest_community(&fields(AttestKind::Community), &owner).unwrap();
    let e = reg.add_attestation(a).unwrap_err();
    match &e {
        PublishError::AttestationRejected {
            problem: AttestationProblem::ByOwner { key_id, .. },
        } => assert_eq!(*key_id, owner.public().key_id()),
        other => panic!("expected AttestationRejected(ByOwner), got {other:?}"),
    }
    assert!(std::error::Error::source(&e).is_some());
    assert!(
        e.to_string()
            .contains("owners cannot vouch for their own bundle"),
        "{e}"
    );

    // The verifier's own attestation is stored.
    let a = attest::attest(&fields(AttestKind::Official), &verifier).unwrap();
    reg.add_attestation(a).unwrap();
}
