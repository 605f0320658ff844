//! Publish checks the author's signature against the owner record before it parses a manifest
//! (`index-format.md` §6.7): an archive whose `bundle.yaml` is a nesting bomb behind a
//! consistent checksum list is refused for its signature (a stranger's, one bound to nothing,
//! a missing one where the registry requires signatures) and the registry is unchanged; the
//! owner's signature lets the same archive reach the parser, which refuses it, so the error
//! kind says which check ran first.

use ratchet_formats::archive::ArchiveError;
use ratchet_formats::index::{RegistryConfig, RegistryKind};
use ratchet_publish::{PublishError, Registry};
use ratchet_testkit::{Bundle, TIME, secret_key, snapshot};
use ratchet_trust::TrustError;

const ID: &str = "com.example.bomb";

fn bomb() -> Vec<u8> {
    let mut y = b"bundle: ".to_vec();
    y.extend(std::iter::repeat_n(b'[', 100_000));
    y.extend(std::iter::repeat_n(b']', 100_000));
    y.push(b'\n');
    y
}

fn is_bad_yaml(e: &PublishError) -> bool {
    matches!(e, PublishError::BadArchive { source: ArchiveError::BadManifest { entry, .. }, .. }
        if entry == "bundle.yaml")
}

#[test]
fn a_manifest_bomb_is_refused_for_its_signature_before_it_is_parsed() {
    let t = tempfile::tempdir().unwrap();
    let keys = t.path().join("keys");
    let (owner, evil) = (secret_key(&keys, "owner"), secret_key(&keys, "evil"));
    let reg = Registry::init(&t.path().join("reg"), "test", RegistryKind::Public, None).unwrap();
    // The id gets owners by a first, valid signed publish.
    let v1 = Bundle::new(ID, "1.0.0").build_signed(&t.path().join("v1"), &owner);
    reg.publish_with(&v1, TIME, &[owner.public().clone()])
        .unwrap();
    let before = snapshot(&t.path().join("reg"));

    let by_evil =
        Bundle::new(ID, "1.1.0").build_with_yaml(&t.path().join("e"), &bomb(), Some(&evil));
    let e = reg.publish_with(&by_evil, TIME, &[]).unwrap_err();
    assert!(
        matches!(&e, PublishError::Untrusted { source, .. }
            if matches!(&**source, TrustError::UnknownSigner { key_id, .. } if *key_id == evil.public().key_id())),
        "expected the signature refusal (the manifest not parsed), got {e:?}"
    );
    // Naming itself as owner does not help: the id has owners.
    let e = reg
        .check_publish(&by_evil, TIME, &[evil.public().clone()])
        .unwrap_err();
    assert!(matches!(&e, PublishError::Untrusted { .. }), "{e:?}");

    // Control: the owner's signature over the same kind of archive gets it to the parser.
    let by_owner =
        Bundle::new(ID, "1.1.0").build_with_yaml(&t.path().join("o"), &bomb(), Some(&owner));
    let e = reg.publish_with(&by_owner, TIME, &[]).unwrap_err();
    assert!(is_bad_yaml(&e), "expected the manifest refusal, got {e:?}");
    assert_eq!(snapshot(&t.path().join("reg")), before);
}

#[test]
fn a_first_publish_verifies_against_the_given_owner_keys_before_parsing() {
    let t = tempfile::tempdir().unwrap();
    let keys = t.path().join("keys");
    let (owner, evil) = (secret_key(&keys, "owner"), secret_key(&keys, "evil"));
    let reg = Registry::init(&t.path().join("reg"), "test", RegistryKind::Public, None).unwrap();
    let by_evil = Bundle::new(ID, "1.0.0").build_with_yaml(t.path(), &bomb(), Some(&evil));
    let e = reg
        .publish_with(&by_evil, TIME, &[owner.public().clone()])
        .unwrap_err();
    assert!(
        matches!(&e, PublishError::Untrusted { source, .. }
            if matches!(&**source, TrustError::UnknownSigner { .. })),
        "{e:?}"
    );
    let e = reg.publish_with(&by_evil, TIME, &[]).unwrap_err();
    assert!(
        matches!(&e, PublishError::OwnerKeysNeeded { id, .. } if id.as_str() == ID),
        "{e:?}"
    );
}

#[test]
fn an_unsigned_manifest_bomb_is_refused_where_signatures_are_required() {
    let t = tempfile::tempdir().unwrap();
    let mut config = RegistryConfig::new("strict", RegistryKind::Public);
    config
        .policies
        .insert("require-signatures".into(), serde_json::Value::Bool(true));
    let strict = Registry::init_with(&t.path().join("strict"), config).unwrap();
    let unsigned = Bundle::new(ID, "1.0.0").build_with_yaml(t.path(), &bomb(), None);
    let e = strict.publish_with(&unsigned, TIME, &[]).unwrap_err();
    assert!(
        matches!(&e, PublishError::SignaturesRequired { registry, .. } if registry == "strict"),
        "expected the unsigned refusal (the manifest not parsed), got {e:?}"
    );
    // A registry that takes unsigned archives parses it, and the depth pre-scan refuses it.
    let lax = Registry::init(&t.path().join("lax"), "lax", RegistryKind::Local, None).unwrap();
    let e = lax.publish_with(&unsigned, TIME, &[]).unwrap_err();
    assert!(is_bad_yaml(&e), "{e:?}");
}

#[test]
fn a_signature_bound_to_nothing_or_to_another_name_is_refused_before_parsing() {
    let t = tempfile::tempdir().unwrap();
    let owner = secret_key(&t.path().join("keys"), "owner");
    let reg = Registry::init(&t.path().join("reg"), "test", RegistryKind::Public, None).unwrap();
    let path = Bundle::new(ID, "1.0.0").build_with_yaml(t.path(), &bomb(), Some(&owner));
    // Renamed: the file name disagrees with the id and version the signature claims.
    let renamed = t.path().join(format!("{ID}-2.0.0.rbundle"));
    std::fs::copy(&path, &renamed).unwrap();
    let e = reg
        .publish_with(&renamed, TIME, &[owner.public().clone()])
        .unwrap_err();
    assert!(
        matches!(&e, PublishError::NameMismatch { expected, .. } if *expected == format!("{ID}-1.0.0.rbundle")),
        "{e:?}"
    );
    // A signature whose trusted comment binds no bundle.
    let bytes = std::fs::read(&path).unwrap();
    let checked =
        ratchet_formats::archive::read_archive_unparsed(bytes.as_slice(), &Default::default())
            .unwrap();
    let sig =
        ratchet_trust::bundle_sig::sign_bytes(&owner, checked.checksum_list(), "nothing").unwrap();
    let rebound =
        ratchet_formats::archive::with_signature(&bytes, Some(sig.as_bytes()), &Default::default())
            .unwrap();
    std::fs::write(&path, rebound).unwrap();
    let e = reg
        .publish_with(&path, TIME, &[owner.public().clone()])
        .unwrap_err();
    assert!(
        matches!(&e, PublishError::Untrusted { source, .. }
            if matches!(&**source, TrustError::WrongBinding { found, .. } if found == "nothing")),
        "{e:?}"
    );
}
