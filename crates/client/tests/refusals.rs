//! Install-time refusals asserted by variant and fields: wrong checksum or size, a foreign
//! signer, a signature bound to another bundle id, a broken owner chain, owners replaced behind
//! a pin, unsigned bundles. Archives are built from the workspace's sample bundles.

use ratchet_client::verify::{InstallVerification, PinStore, TrustInputs, verify_for_install};
use ratchet_formats::archive::{self, BuildOptions, Limits, build_archive, sha256_hex};
use ratchet_formats::index::{BundleMeta, IndexLine, RegistryConfig, RegistryKind};
use ratchet_formats::manifest::{BundleId, parse_manifest};
use ratchet_trust::bundle_sig::{sign_archive, sign_bytes, trusted_comment};
use ratchet_trust::keys::SecretKey;
use ratchet_trust::owners::OwnerChain;
use ratchet_trust::{OwnerChange, TrustError, UnsignedRefusal};
use std::path::Path;

const CORE: &str = "com.ratchet.core-utils";

fn build(tmp: &Path) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../sample-bundles/com.ratchet.core-utils/1.0.0");
    let text = std::fs::read_to_string(dir.join("bundle.yaml")).unwrap();
    let m = parse_manifest(&text, "bundle.yaml").unwrap();
    let out = tmp.join("core-1.0.0.rbundle");
    build_archive(&dir, &m, &out, &BuildOptions::default()).unwrap();
    std::fs::read(&out).unwrap()
}

fn attach(bytes: &[u8], sig: &str) -> Vec<u8> {
    archive::with_signature(bytes, Some(sig.as_bytes()), &Limits::default()).unwrap()
}

fn sign(bytes: &[u8], sk: &SecretKey) -> Vec<u8> {
    let a = archive::read_archive(bytes, &Limits::default()).unwrap();
    attach(bytes, &sign_archive(&a, sk).unwrap())
}

fn line_for(bytes: &[u8]) -> IndexLine {
    let a = archive::read_archive(bytes, &Limits::default()).unwrap();
    IndexLine::from_manifest(
        &a.manifest.bundle,
        &sha256_hex(bytes),
        bytes.len() as u64,
        "2026-01-01T00:00:00Z",
    )
}

fn meta(chain: &OwnerChain) -> BundleMeta {
    let mut m = BundleMeta::new(BundleId::parse(CORE).unwrap());
    chain.store(&mut m);
    m
}

struct World {
    tmp: tempfile::TempDir,
    owner: SecretKey,
    other: SecretKey,
    evil: SecretKey,
    config: RegistryConfig,
    pins: PinStore,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let key = |n: &str| ratchet_testkit::secret_key(&tmp.path().join("keys"), n);
    let (owner, other, evil) = (key("owner"), key("other"), key("evil"));
    World {
        pins: PinStore::in_dir(tmp.path().join("trust")),
        config: RegistryConfig::new("test", RegistryKind::Public),
        owner,
        other,
        evil,
        tmp,
    }
}

fn check(
    w: &World,
    line: &IndexLine,
    bytes: &[u8],
    meta: Option<&BundleMeta>,
) -> Result<InstallVerification, TrustError> {
    verify_for_install(
        &TrustInputs {
            line,
            archive_bytes: bytes,
            meta,
            config: &w.config,
            allow_unsigned: false,
            local_source: false,
        },
        &w.pins,
    )
}

#[test]
fn wrong_checksum_and_size_name_both_values() {
    let w = world();
    let bytes = sign(&build(w.tmp.path()), &w.owner);
    let chain = OwnerChain::genesis(CORE, &[w.owner.public().clone()]);
    let mut line = line_for(&bytes);
    let real = line.sha256.clone();
    line.sha256 = "0".repeat(64);
    match check(&w, &line, &bytes, Some(&meta(&chain))).unwrap_err() {
        TrustError::ChecksumMismatch {
            bundle,
            expected,
            found,
        } => {
            assert_eq!(bundle.id, CORE);
            assert_eq!(bundle.version, semver::Version::new(1, 0, 0));
            assert_eq!(expected, "0".repeat(64));
            assert_eq!(found, real);
        }
        other => panic!("expected ChecksumMismatch, got {other:?}"),
    }
    let mut line = line_for(&bytes);
    line.size += 1;
    assert!(matches!(
        check(&w, &line, &bytes, Some(&meta(&chain))).unwrap_err(),
        TrustError::SizeMismatch { expected, found, .. } if expected == found + 1
    ));
}

#[test]
fn a_foreign_signer_is_refused_with_its_key_id() {
    let w = world();
    let bytes = sign(&build(w.tmp.path()), &w.evil);
    let chain = OwnerChain::genesis(CORE, &[w.owner.public().clone()]);
    let e = check(&w, &line_for(&bytes), &bytes, Some(&meta(&chain))).unwrap_err();
    let TrustError::SignatureRefused { bundle, source } = &e else {
        panic!("expected SignatureRefused, got {e:?}");
    };
    assert_eq!(bundle.id, CORE);
    assert!(
        matches!(&**source, TrustError::UnknownSigner { key_id, known, .. }
            if *key_id == w.evil.public().key_id() && *known == vec![w.owner.public().key_id()]),
        "{source:?}"
    );
    assert!(
        std::error::Error::source(&e).is_some(),
        "the signature's refusal is kept as the source"
    );
}

#[test]
fn a_signature_bound_to_another_bundle_id_is_refused() {
    let w = world();
    let bytes = build(w.tmp.path());
    let a = archive::read_archive(bytes.as_slice(), &Limits::default()).unwrap();
    let list = a.checksum_list();
    let v = a.manifest.bundle.version.clone();
    // The owner's genuine signature over the same checksum list, made for another bundle id.
    let comment = trusted_comment("com.ratchet.other", &v, list);
    let sig = sign_bytes(&w.owner, list, &comment).unwrap();
    let bytes = attach(&bytes, &sig);
    let chain = OwnerChain::genesis(CORE, &[w.owner.public().clone()]);
    let e = check(&w, &line_for(&bytes), &bytes, Some(&meta(&chain))).unwrap_err();
    // The signature is checked before the manifest is parsed (§7.6), so what the client knows
    // of the archive is what its signature claims: another bundle's archive.
    let TrustError::ArchiveOfAnotherBundle { bundle, found } = &e else {
        panic!("expected ArchiveOfAnotherBundle, got {e:?}");
    };
    assert_eq!(bundle.id, CORE);
    assert_eq!(found.id, "com.ratchet.other");
    assert_eq!(found.version, v);
}

#[test]
fn a_broken_owner_chain_and_replaced_owners_are_refused() {
    let w = world();
    let bytes = sign(&build(w.tmp.path()), &w.owner);
    let line = line_for(&bytes);
    let mut chain = OwnerChain::genesis(CORE, &[w.owner.public().clone()]);
    let st = chain
        .statement(
            CORE,
            &[w.owner.public().clone(), w.other.public().clone()],
            &w.owner,
            None,
        )
        .unwrap();
    chain.append(CORE, st).unwrap();

    // Genesis swapped under a signed statement: the chain no longer links.
    let mut broken = chain.clone();
    broken.chain[0] = OwnerChain::genesis(CORE, &[w.evil.public().clone()]).chain[0].clone();
    let e = check(&w, &line, &bytes, Some(&meta(&broken))).unwrap_err();
    let TrustError::InvalidOwnerChain { source, .. } = &e else {
        panic!("expected InvalidOwnerChain, got {e:?}");
    };
    assert!(
        matches!(&**source, TrustError::OwnerChainBroken { seq: 1, .. }),
        "{source:?}"
    );

    // First install pins the owners; a registry that later names other owners is refused.
    let ok = check(&w, &line, &bytes, Some(&meta(&chain))).unwrap();
    w.pins.save(&ok.pin_update.unwrap()).unwrap();
    let swapped = OwnerChain::genesis(CORE, &[w.evil.public().clone()]);
    let evil_bytes = sign(&build(w.tmp.path()), &w.evil);
    match check(
        &w,
        &line_for(&evil_bytes),
        &evil_bytes,
        Some(&meta(&swapped)),
    )
    .unwrap_err()
    {
        TrustError::OwnersChanged {
            pinned,
            now,
            change,
            pin_file,
            ..
        } => {
            assert_eq!(change, OwnerChange::Replaced);
            assert_eq!(
                pinned,
                vec![w.owner.public().key_id(), w.other.public().key_id()]
            );
            assert_eq!(now, vec![w.evil.public().key_id()]);
            assert_eq!(pin_file, w.pins.file(CORE));
        }
        other => panic!("expected OwnersChanged, got {other:?}"),
    }
    // The owner record removed altogether.
    assert!(matches!(
        check(&w, &line, &bytes, None).unwrap_err(),
        TrustError::OwnerRecordRemoved { .. }
    ));
}

#[test]
fn unsigned_bundles_say_why_they_are_refused() {
    let w = world();
    let bytes = build(w.tmp.path());
    let line = line_for(&bytes);
    assert!(matches!(
        check(&w, &line, &bytes, None).unwrap_err(),
        TrustError::UnsignedRefused {
            reason: UnsignedRefusal::NotAllowed,
            ..
        }
    ));
    let chain = OwnerChain::genesis(CORE, &[w.owner.public().clone()]);
    assert!(matches!(
        check(&w, &line, &bytes, Some(&meta(&chain))).unwrap_err(),
        TrustError::UnsignedRefused {
            reason: UnsignedRefusal::HasOwners,
            ..
        }
    ));
    // Allowed by the flag, but the registry is not local.
    let e = verify_for_install(
        &TrustInputs {
            line: &line,
            archive_bytes: &bytes,
            meta: None,
            config: &w.config,
            allow_unsigned: true,
            local_source: true,
        },
        &w.pins,
    )
    .unwrap_err();
    assert!(
        matches!(&e, TrustError::UnsignedRefused { reason: UnsignedRefusal::NotLocalKind { kind, .. }, .. } if kind == "public"),
        "{e:?}"
    );
}
