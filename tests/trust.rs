//! Install-time verification against every attack of the signing issue, with real archives
//! (built from the sample bundles), real minisign keys and, for interoperability, the `minisign`
//! command-line tool.

mod common;

use ratchet_client::verify::{Notice, PinStore, TrustInputs, verify_for_install};
use ratchet_formats::archive::{self, BuildOptions, Limits, build_archive, sha256_hex};
use ratchet_formats::index::{BundleMeta, IndexLine, RegistryConfig, RegistryKind};
use ratchet_formats::manifest::{BundleId, parse_manifest};
use ratchet_trust::attest::{self, AttestFields, AttestKind, VerificationStatus};
use ratchet_trust::bundle_sig::{self, sign_archive};
use ratchet_trust::keys::{self, PublicKey, SecretKey};
use ratchet_trust::owners::OwnerChain;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

fn sample(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-bundles")
        .join(rel)
}

/// Builds the sample bundle `rel` (e.g. `com.ratchet.core-utils/1.0.0`) and returns its bytes.
fn build(rel: &str, tmp: &Path) -> Vec<u8> {
    let dir = sample(rel);
    let text = std::fs::read_to_string(dir.join("bundle.yaml")).unwrap();
    let m = parse_manifest(&text, "bundle.yaml").unwrap();
    let out = tmp.join(format!("{}.rbundle", rel.replace('/', "-")));
    build_archive(&dir, &m, &out, &BuildOptions::default()).unwrap();
    std::fs::read(&out).unwrap()
}

fn sign(bytes: &[u8], sk: &SecretKey) -> Vec<u8> {
    let a = archive::read_archive(bytes, &Limits::default()).unwrap();
    let sig = sign_archive(&a, sk).unwrap();
    archive::with_signature(bytes, Some(sig.as_bytes()), &Limits::default()).unwrap()
}

fn line_for(bytes: &[u8]) -> IndexLine {
    let a = archive::read_archive(bytes, &Limits::default()).unwrap();
    let mut l = IndexLine::from_manifest(
        &a.manifest.bundle,
        &sha256_hex(bytes),
        bytes.len() as u64,
        "2026-01-01T00:00:00Z",
    );
    if let Some(sig) = &a.signature {
        l.signer = Some(
            bundle_sig::parse_sig(sig, "sig")
                .unwrap()
                .key_id
                .to_string(),
        );
    }
    l
}

fn meta_with(id: &str, chain: &OwnerChain) -> BundleMeta {
    let mut m = BundleMeta::new(BundleId::parse(id).unwrap());
    chain.store(&mut m);
    m
}

struct World {
    tmp: tempfile::TempDir,
    a: SecretKey,
    b: SecretKey,
    evil: SecretKey,
    config: RegistryConfig,
    pins: PinStore,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let key = |n: &str| ratchet_testkit::secret_key(&tmp.path().join("keys"), n);
    let (a, b, evil) = (key("a"), key("b"), key("evil"));
    let pins = PinStore::in_dir(tmp.path().join("data/trust"));
    World {
        config: RegistryConfig::new("test", RegistryKind::Public),
        a,
        b,
        evil,
        pins,
        tmp,
    }
}

const CORE: &str = "com.ratchet.core-utils";

fn check(
    w: &World,
    line: &IndexLine,
    bytes: &[u8],
    meta: Option<&BundleMeta>,
) -> Result<ratchet_client::verify::InstallVerification, String> {
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
    .map_err(|e| e.to_string())
}

fn assert_refused(
    r: Result<ratchet_client::verify::InstallVerification, String>,
    needle: &str,
) -> String {
    match r {
        Ok(_) => panic!("accepted, expected a refusal containing `{needle}`"),
        Err(e) => {
            assert!(e.contains(needle), "message `{e}` lacks `{needle}`");
            e
        }
    }
}

fn no_pins(w: &World) -> bool {
    std::fs::read_dir(w.pins.dir()).map_or(true, |mut d| d.next().is_none())
}

#[test]
fn signed_bundle_installs_and_pins_on_first_use() {
    let w = world();
    let bytes = sign(&build("com.ratchet.core-utils/1.0.0", w.tmp.path()), &w.a);
    let line = line_for(&bytes);
    let chain = OwnerChain::genesis(CORE, &[w.a.public().clone()]);
    let meta = meta_with(CORE, &chain);
    let v = check(&w, &line, &bytes, Some(&meta)).unwrap();
    assert_eq!(v.signer.as_ref(), Some(w.a.public()));
    assert_eq!(v.status, VerificationStatus::Unverified);
    let pin = v.pin_update.expect("first install pins");
    assert_eq!(
        v.notices,
        vec![Notice::OwnersPinned {
            id: CORE.to_string(),
            key_ids: vec![w.a.public().key_id()],
        }]
    );
    assert!(no_pins(&w), "verification writes nothing");
    w.pins.save(&pin).unwrap();
    let v = check(&w, &line, &bytes, Some(&meta)).unwrap();
    assert!(v.pin_update.is_none());
}

#[test]
fn tampered_file_is_refused() {
    let w = world();
    let bytes = sign(&build("com.ratchet.core-utils/1.0.0", w.tmp.path()), &w.a);
    // A hostile host changes one file and serves an index line matching the new bytes.
    let bad = rewrite(&bytes, |path, data| {
        if path == "bundle.yaml" {
            data.extend_from_slice(b"# evil\n");
        }
    });
    let mut line = line_for(&bytes);
    line.sha256 = sha256_hex(&bad);
    line.size = bad.len() as u64;
    let meta = meta_with(CORE, &OwnerChain::genesis(CORE, &[w.a.public().clone()]));
    let e = assert_refused(check(&w, &line, &bad, Some(&meta)), "tampered");
    assert!(e.contains("bundle.yaml") && e.contains("SHA-256"), "{e}");
    assert!(no_pins(&w));
}

#[test]
fn tampered_checksum_list_is_refused() {
    let w = world();
    let bytes = sign(&build("com.ratchet.core-utils/1.0.0", w.tmp.path()), &w.a);
    let a = archive::read_archive(bytes.as_slice(), &Limits::default()).unwrap();
    let old = sha256_hex(&a.files["bundle.yaml"]);
    let mut new_yaml = a.files["bundle.yaml"].clone();
    new_yaml.extend_from_slice(b"# evil\n");
    let new = sha256_hex(&new_yaml);
    // The file and the checksum list are changed consistently: only the signature can tell.
    let bad = rewrite(&bytes, |path, data| {
        if path == "bundle.yaml" {
            *data = new_yaml.clone();
        } else if path == ".bundle/checksum.sha256" {
            *data = String::from_utf8(data.clone())
                .unwrap()
                .replace(&old, &new)
                .into_bytes();
        }
    });
    let line = line_for(&bad);
    let meta = meta_with(CORE, &OwnerChain::genesis(CORE, &[w.a.public().clone()]));
    let e = assert_refused(check(&w, &line, &bad, Some(&meta)), "bound to");
    assert!(e.contains("checksum list"), "{e}");
    assert!(no_pins(&w));
}

#[test]
fn signature_from_unknown_key_is_refused() {
    let w = world();
    let bytes = sign(
        &build("com.ratchet.core-utils/1.0.0", w.tmp.path()),
        &w.evil,
    );
    let line = line_for(&bytes);
    let meta = meta_with(CORE, &OwnerChain::genesis(CORE, &[w.a.public().clone()]));
    let e = assert_refused(
        check(&w, &line, &bytes, Some(&meta)),
        "not one of the owner keys",
    );
    assert!(e.contains(&w.evil.public().key_id()), "{e}");
    // Signed but no owner record at all: refused too.
    assert_refused(check(&w, &line, &bytes, None), "records no owner keys");
    assert!(no_pins(&w));
}

#[test]
fn signature_moved_to_another_version_or_bundle_is_refused() {
    let w = world();
    let v1 = sign(&build("com.ratchet.core-utils/1.0.0", w.tmp.path()), &w.a);
    let v12 = build("com.ratchet.core-utils/1.2.0", w.tmp.path());
    let json = build("com.oss.json-utils/1.2.0", w.tmp.path());
    let sig = archive::read_archive(v1.as_slice(), &Limits::default())
        .unwrap()
        .signature
        .unwrap();
    let meta = meta_with(CORE, &OwnerChain::genesis(CORE, &[w.a.public().clone()]));
    let moved = archive::with_signature(&v12, Some(&sig), &Limits::default()).unwrap();
    let e = assert_refused(
        check(&w, &line_for(&moved), &moved, Some(&meta)),
        "bound to",
    );
    assert!(
        e.contains("version=1.0.0") || e.contains("does not verify"),
        "{e}"
    );
    let jid = "com.oss.json-utils";
    let jmeta = meta_with(jid, &OwnerChain::genesis(jid, &[w.a.public().clone()]));
    let moved = archive::with_signature(&json, Some(&sig), &Limits::default()).unwrap();
    assert_refused(
        check(&w, &line_for(&moved), &moved, Some(&jmeta)),
        "not to `ratchet-bundle-v1 id=com.oss.json-utils",
    );
    assert!(no_pins(&w));
}

#[test]
fn valid_rotation_chain_is_followed_and_broken_one_refused() {
    let w = world();
    let mut chain = OwnerChain::genesis(CORE, &[w.a.public().clone()]);
    // The client installed 1.0.0 while `a` was the owner.
    let v1 = sign(&build("com.ratchet.core-utils/1.0.0", w.tmp.path()), &w.a);
    let r = check(&w, &line_for(&v1), &v1, Some(&meta_with(CORE, &chain))).unwrap();
    w.pins.save(&r.pin_update.unwrap()).unwrap();
    // a rotates to b, keeping what a signed so far (1.0.0); 1.2.0 is signed by b.
    let kept = vec![format!("1.0.0 {}", sha256_hex(&v1))];
    let st = chain
        .statement(CORE, &[w.b.public().clone()], &w.a, Some(kept))
        .unwrap();
    chain.append(CORE, st).unwrap();
    let v12 = sign(&build("com.ratchet.core-utils/1.2.0", w.tmp.path()), &w.b);
    let r = check(&w, &line_for(&v12), &v12, Some(&meta_with(CORE, &chain))).unwrap();
    let np = r.pin_update.expect("rotation advances the pin");
    assert_eq!(np.seq, 1);
    assert!(
        r.notices.iter().any(|n| matches!(n,
            Notice::RotationAccepted { from, to, .. }
                if from == &vec![w.a.public().key_id()] && to.contains(&w.b.public().key_id()))),
        "{:?}",
        r.notices
    );
    // Old versions signed by the rotated-out key still verify.
    check(&w, &line_for(&v1), &v1, Some(&meta_with(CORE, &chain))).unwrap();
    w.pins.save(&np).unwrap();
    // Anything else the rotated-out key signs is refused: a lost or stolen key cannot publish.
    let late = sign(&build("com.ratchet.core-utils/2.0.0", w.tmp.path()), &w.a);
    assert_refused(
        check(&w, &line_for(&late), &late, Some(&meta_with(CORE, &chain))),
        "no longer an owner of com.ratchet.core-utils",
    );
    // A retired list edited by the host no longer matches the signed statement.
    let mut edited = chain.clone();
    edited.chain[1]
        .retired
        .as_mut()
        .unwrap()
        .push(format!("2.0.0 {}", sha256_hex(&late)));
    assert_refused(
        check(&w, &line_for(&late), &late, Some(&meta_with(CORE, &edited))),
        "retired list does not match",
    );
    // A rotation that retires nothing revokes everything the old key signed.
    let mut revoked = OwnerChain::genesis(CORE, &[w.a.public().clone()]);
    let st = revoked
        .statement(CORE, &[w.b.public().clone()], &w.a, None)
        .unwrap();
    revoked.append(CORE, st).unwrap();
    let pins2 = PinStore::in_dir(w.tmp.path().join("other-trust"));
    let e = verify_for_install(
        &TrustInputs {
            line: &line_for(&v1),
            archive_bytes: &v1,
            meta: Some(&meta_with(CORE, &revoked)),
            config: &w.config,
            allow_unsigned: false,
            local_source: false,
        },
        &pins2,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no longer an owner"), "{e}");

    // Broken: the host appends a "rotation" to evil signed by evil itself.
    let mut broken = chain.clone();
    let text = ratchet_trust::owners::statement_text(
        CORE,
        2,
        Some(&sha256_hex(broken.chain[1].statement.as_bytes())),
        &[w.evil.public().clone()],
        None,
    );
    broken.chain.push(ratchet_trust::owners::ChainEntry {
        signature: Some(bundle_sig::sign_bytes(&w.evil, text.as_bytes(), &text).unwrap()),
        statement: text,
        retired: None,
    });
    let ve = sign(
        &build("com.ratchet.core-utils/2.0.0", w.tmp.path()),
        &w.evil,
    );
    assert_refused(
        check(&w, &line_for(&ve), &ve, Some(&meta_with(CORE, &broken))),
        "owner chain is invalid",
    );
    // Rollback: the host serves the chain from before the rotation the client saw.
    let old = OwnerChain::genesis(CORE, &[w.a.public().clone()]);
    assert_refused(
        check(&w, &line_for(&v1), &v1, Some(&meta_with(CORE, &old))),
        "rollback",
    );
    assert_eq!(w.pins.load(CORE).unwrap().unwrap().seq, 1, "pin unchanged");
}

#[test]
fn owner_key_swapped_by_hostile_host_is_refused() {
    let w = world();
    let v1 = sign(&build("com.ratchet.core-utils/1.0.0", w.tmp.path()), &w.a);
    let good = meta_with(CORE, &OwnerChain::genesis(CORE, &[w.a.public().clone()]));
    let r = check(&w, &line_for(&v1), &v1, Some(&good)).unwrap();
    w.pins.save(&r.pin_update.unwrap()).unwrap();
    // The host replaces the owner record and re-signs with its own key.
    let evil_meta = meta_with(CORE, &OwnerChain::genesis(CORE, &[w.evil.public().clone()]));
    let ve = sign(
        &build("com.ratchet.core-utils/1.2.0", w.tmp.path()),
        &w.evil,
    );
    let e = assert_refused(
        check(&w, &line_for(&ve), &ve, Some(&evil_meta)),
        "changed without a valid rotation chain",
    );
    assert!(
        e.contains(&w.a.public().key_id()) && e.contains(&w.evil.public().key_id()),
        "{e}"
    );
    assert!(
        e.contains("ratchet key forget com.ratchet.core-utils"),
        "{e}"
    );
    // The host removes the owner record and serves an unsigned build.
    let unsigned = build("com.ratchet.core-utils/1.2.0", w.tmp.path());
    assert_refused(check(&w, &line_for(&unsigned), &unsigned, None), "no owner");
    // After deliberately forgetting the pin, the new owner is accepted (and pinned).
    assert!(w.pins.forget(CORE).unwrap());
    assert!(check(&w, &line_for(&ve), &ve, Some(&evil_meta)).is_ok());
}

#[test]
fn index_line_pointing_at_another_bundles_archive_is_refused() {
    let w = world();
    let json = sign(&build("com.oss.json-utils/1.2.0", w.tmp.path()), &w.a);
    let core = sign(&build("com.ratchet.core-utils/1.0.0", w.tmp.path()), &w.a);
    let mut line = line_for(&core);
    line.sha256 = sha256_hex(&json);
    line.size = json.len() as u64;
    let meta = meta_with(CORE, &OwnerChain::genesis(CORE, &[w.a.public().clone()]));
    assert_refused(
        check(&w, &line, &json, Some(&meta)),
        "points at an archive of com.oss.json-utils",
    );
    // Size and hash are checked against the line first.
    let line = line_for(&core);
    assert_refused(
        check(&w, &line, &json, Some(&meta)),
        "bytes but the index says",
    );
    let mut l2 = line.clone();
    l2.size = json.len() as u64;
    assert_refused(check(&w, &l2, &json, Some(&meta)), "SHA-256");
    // A wrong `signer` in the line.
    let mut l3 = line_for(&core);
    l3.signer = Some("0000000000000000".into());
    assert_refused(
        check(&w, &l3, &core, Some(&meta)),
        "the index says it is signed by key",
    );
    // A line that shows fewer permissions, other limits or other dependencies than the
    // archive declares: the review and the resolution were based on a lie.
    let api = sign(
        &build("com.partner.api-connectors/3.2.0", w.tmp.path()),
        &w.a,
    );
    let api_id = "com.partner.api-connectors";
    let api_meta = meta_with(
        api_id,
        &OwnerChain::genesis(api_id, &[w.a.public().clone()]),
    );
    let mut l4 = line_for(&api);
    assert!(!l4.permissions.network.is_empty());
    l4.permissions = Default::default();
    let e = assert_refused(
        check(&w, &l4, &api, Some(&api_meta)),
        "disagrees with its archive's manifest on permissions",
    );
    assert!(e.contains("tampered"), "{e}");
    let mut l5 = line_for(&api);
    l5.dependencies.clear();
    l5.resources = Default::default();
    assert_refused(
        check(&w, &l5, &api, Some(&api_meta)),
        "on dependencies, resources",
    );
    assert!(no_pins(&w));
}

#[test]
fn unsigned_bundles_need_allow_unsigned_on_a_local_registry() {
    let mut w = world();
    let bytes = build("com.ratchet.core-utils/1.0.0", w.tmp.path());
    let line = line_for(&bytes);
    assert_refused(check(&w, &line, &bytes, None), "--allow-unsigned");
    let run = |w: &World, local_source: bool| {
        verify_for_install(
            &TrustInputs {
                line: &line,
                archive_bytes: &bytes,
                meta: None,
                config: &w.config,
                allow_unsigned: true,
                local_source,
            },
            &w.pins,
        )
        .map_err(|e| e.to_string())
    };
    assert_refused(run(&w, true), "only for `local` registries");
    w.config.kind = RegistryKind::Local;
    // A remote host calling itself local is not enough.
    assert_refused(run(&w, false), "reached over the network");
    let ok = run(&w, true).unwrap();
    assert!(ok.signer.is_none());
    assert!(
        ok.notices
            .iter()
            .any(|n| matches!(n, Notice::Unsigned { .. })),
        "{:?}",
        ok.notices
    );
    w.config
        .policies
        .insert(attest::REQUIRE_SIGNATURES.into(), true.into());
    assert_refused(run(&w, true), "requires signatures");
    // An id with owners never accepts unsigned versions.
    w.config.policies.clear();
    let meta = meta_with(CORE, &OwnerChain::genesis(CORE, &[w.a.public().clone()]));
    let r = verify_for_install(
        &TrustInputs {
            line: &line,
            archive_bytes: &bytes,
            meta: Some(&meta),
            config: &w.config,
            allow_unsigned: true,
            local_source: true,
        },
        &w.pins,
    );
    assert!(r.unwrap_err().to_string().contains("has owner keys"));
}

#[test]
fn verification_status_from_attestations() {
    let mut w = world();
    let bytes = sign(&build("com.ratchet.core-utils/1.0.0", w.tmp.path()), &w.a);
    let line = line_for(&bytes);
    let mut meta = meta_with(CORE, &OwnerChain::genesis(CORE, &[w.a.public().clone()]));
    let fields = |kind, score| AttestFields {
        kind,
        id: CORE.into(),
        version: "1.0.0".into(),
        sha256: line.sha256.clone(),
        date: "2026-02-01T00:00:00Z".into(),
        score,
        report: None,
    };
    // Community: b and evil vote (2 distinct keys); a (the owner) cannot vote for itself.
    let list = vec![
        attest::attest_community(&fields(AttestKind::Community, Some(5)), &w.b).unwrap(),
        attest::attest_community(&fields(AttestKind::Community, Some(4)), &w.evil).unwrap(),
        attest::attest_community(&fields(AttestKind::Community, Some(4)), &w.evil).unwrap(),
        attest::attest_community(&fields(AttestKind::Community, Some(5)), &w.a).unwrap(),
    ];
    attest::store(&mut meta, &list);
    let v = check(&w, &line, &bytes, Some(&meta)).unwrap();
    assert_eq!(
        v.status,
        VerificationStatus::CommunityVerified {
            votes: 2,
            score: 4.5
        }
    );
    // Official: signed by a verifier key named in config.json. Before it is named: ignored.
    let mut off = fields(AttestKind::Official, None);
    off.report = Some("https://example.com/r/1".into());
    let mut all = list.clone();
    all.push(attest::attest(&off, &w.b).unwrap());
    attest::store(&mut meta, &all);
    let v = check(&w, &line, &bytes, Some(&meta)).unwrap();
    assert!(matches!(
        v.status,
        VerificationStatus::CommunityVerified { .. }
    ));
    w.config.keys.push(serde_json::json!({
        "role": "verifier", "name": "Ratchet Security Team", "key": w.b.public().to_base64()
    }));
    let v = check(&w, &line, &bytes, Some(&meta)).unwrap();
    assert_eq!(
        v.status,
        VerificationStatus::OfficiallyVerified {
            verifier: "Ratchet Security Team".into(),
            date: "2026-02-01T00:00:00Z".into(),
            report_url: Some("https://example.com/r/1".into())
        }
    );
    // An attestation for another archive hash does not count.
    let mut other = off.clone();
    other.sha256 = "0".repeat(64);
    attest::store(&mut meta, &[attest::attest(&other, &w.b).unwrap()]);
    let v = check(&w, &line, &bytes, Some(&meta)).unwrap();
    assert_eq!(v.status, VerificationStatus::Unverified);
}

/// Rewrites an archive's entries through `f` (a hostile host), keeping everything else.
fn rewrite(bytes: &[u8], mut f: impl FnMut(&str, &mut Vec<u8>)) -> Vec<u8> {
    let mut src = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut out = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for e in src.entries().unwrap() {
        let mut e = e.unwrap();
        let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        f(&path, &mut data);
        let mut h = e.header().clone();
        h.set_size(data.len() as u64);
        out.append_data(&mut h, &path, data.as_slice()).unwrap();
    }
    out.into_inner().unwrap().finish().unwrap()
}

// ---- interoperability with the minisign command-line tool ----

/// The `minisign` tool (Debian package minisign): a missing tool fails the test unless
/// `RATCHET_TEST_SKIP` lists `minisign` (tests/common/tools.rs).
fn minisign_tool() -> Option<PathBuf> {
    common::tool("minisign", "minisign", "minisign")
}

#[test]
fn ratchet_signature_verifies_with_minisign_tool() {
    let Some(minisign) = minisign_tool() else {
        return;
    };
    let w = world();
    let bytes = sign(&build("com.ratchet.core-utils/1.0.0", w.tmp.path()), &w.a);
    let a = archive::read_archive(bytes.as_slice(), &Limits::default()).unwrap();
    let d = w.tmp.path().join("interop");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("checksum.sha256"), a.checksum_list()).unwrap();
    std::fs::write(d.join("bundle.sig"), a.signature.as_ref().unwrap()).unwrap();
    std::fs::write(d.join("a.pub"), w.a.public().to_box()).unwrap();
    let out = Command::new(&minisign)
        .args([
            "-V",
            "-p",
            "a.pub",
            "-m",
            "checksum.sha256",
            "-x",
            "bundle.sig",
        ])
        .current_dir(&d)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "minisign -V failed: {text}");
    assert!(
        text.contains("ratchet-bundle-v1 id=com.ratchet.core-utils version=1.0.0"),
        "{text}"
    );
    // And minisign refuses it with another key.
    std::fs::write(d.join("b.pub"), w.b.public().to_box()).unwrap();
    let out = Command::new(&minisign)
        .args([
            "-V",
            "-p",
            "b.pub",
            "-m",
            "checksum.sha256",
            "-x",
            "bundle.sig",
        ])
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn minisign_tool_signature_and_keys_work_in_ratchet() {
    let Some(minisign) = minisign_tool() else {
        return;
    };
    let w = world();
    let d = w.tmp.path().join("mtool");
    std::fs::create_dir_all(&d).unwrap();
    let out = Command::new(&minisign)
        .args(["-G", "-W", "-p", "m.pub", "-s", "m.key"])
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pk = PublicKey::load(&d.join("m.pub")).unwrap();
    // minisign's own (unencrypted) secret key file loads in ratchet.
    let sk = SecretKey::load(&d.join("m.key")).unwrap();
    assert_eq!(sk.public(), &pk);

    let unsigned = build("com.ratchet.core-utils/1.0.0", w.tmp.path());
    let path = d.join("com.ratchet.core-utils-1.0.0.rbundle");
    std::fs::write(&path, &unsigned).unwrap();
    let a = archive::read_archive(unsigned.as_slice(), &Limits::default()).unwrap();
    std::fs::write(d.join("checksum.sha256"), a.checksum_list()).unwrap();
    let comment = bundle_sig::trusted_comment_for(&a);
    let out = Command::new(&minisign)
        .args([
            "-S",
            "-s",
            "m.key",
            "-m",
            "checksum.sha256",
            "-x",
            "tool.sig",
            "-t",
            &comment,
        ])
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sig = std::fs::read(d.join("tool.sig")).unwrap();
    bundle_sig::sign_archive_file(&path, None, Some(&sig), Some(&pk)).unwrap();
    let signed = std::fs::read(&path).unwrap();
    let meta = meta_with(CORE, &OwnerChain::genesis(CORE, std::slice::from_ref(&pk)));
    let v = check(&w, &line_for(&signed), &signed, Some(&meta)).unwrap();
    assert_eq!(v.signer, Some(pk.clone()));
    // A tool signature with a wrong trusted comment is refused when attached.
    let out = Command::new(&minisign)
        .args([
            "-S",
            "-s",
            "m.key",
            "-m",
            "checksum.sha256",
            "-x",
            "bad.sig",
            "-t",
            "hello",
        ])
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(out.status.success());
    let bad = std::fs::read(d.join("bad.sig")).unwrap();
    let e = bundle_sig::sign_archive_file(&path, None, Some(&bad), Some(&pk)).unwrap_err();
    assert!(e.to_string().contains("bound to `hello`"), "{e}");
}

#[test]
fn signing_keeps_the_archive_reproducible_apart_from_the_signature() {
    let w = world();
    let bytes = build("com.ratchet.core-utils/1.0.0", w.tmp.path());
    let s1 = sign(&bytes, &w.a);
    let s2 = sign(&s1, &w.a); // re-signing replaces bundle.sig
    let a1 = archive::read_archive(s1.as_slice(), &Limits::default()).unwrap();
    let a2 = archive::read_archive(s2.as_slice(), &Limits::default()).unwrap();
    let strip = |b: &[u8]| archive::with_signature(b, None, &Limits::default()).unwrap();
    assert_eq!(
        strip(&s1),
        bytes,
        "removing the signature gives the original bytes back"
    );
    assert_eq!(strip(&s2), bytes);
    assert_eq!(a1.files.len(), a2.files.len());
    assert_eq!(a1.checksum_list(), a2.checksum_list());
}

// ---- registry side: owners enforced at publish, re-checked by verify ----

fn write_signed(w: &World, rel: &str, sk: Option<&SecretKey>) -> PathBuf {
    let bytes = build(rel, w.tmp.path());
    let bytes = match sk {
        Some(k) => sign(&bytes, k),
        None => bytes,
    };
    let dir = w.tmp.path().join("out");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("{}.rbundle", rel.replace('/', "-")));
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn publish_enforces_owners_and_verify_rechecks() {
    use ratchet_publish::Registry;
    let w = world();
    let reg_dir = w.tmp.path().join("reg");
    let reg = Registry::init(&reg_dir, "t", RegistryKind::Local, None).unwrap();
    let t = "2026-01-01T00:00:00Z";
    let v1 = write_signed(&w, "com.ratchet.core-utils/1.0.0", Some(&w.a));
    let e = reg.publish(&v1, t).unwrap_err().to_string();
    assert!(e.contains("--owner-key"), "{e}");
    let e = reg
        .publish_with(&v1, t, &[w.b.public().clone()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("not one of the given owner key"), "{e}");
    let p = reg.publish_with(&v1, t, &[w.a.public().clone()]).unwrap();
    assert_eq!(p.line.signer, Some(w.a.public().key_id()));
    let id = BundleId::parse(CORE).unwrap();
    let (_, owners) = reg.owners(&id).unwrap();
    assert_eq!(owners.unwrap().1.current, vec![w.a.public().clone()]);

    // Later versions: unsigned refused, signed by a non-owner refused, owner accepted.
    let v12u = write_signed(&w, "com.ratchet.core-utils/1.2.0", None);
    let e = reg.publish(&v12u, t).unwrap_err().to_string();
    assert!(e.contains("must be signed"), "{e}");
    let v12e = write_signed(&w, "com.ratchet.core-utils/1.2.0", Some(&w.evil));
    let e = reg
        .publish_with(&v12e, t, &[w.evil.public().clone()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("not one of the current owner keys"), "{e}");
    // Rotation a -> b, then b publishes.
    let (_, owners) = reg.owners(&id).unwrap();
    let (chain, _) = owners.unwrap();
    let e = chain
        .statement(CORE, &[w.evil.public().clone()], &w.evil, None)
        .unwrap_err();
    assert!(e.to_string().contains("not a current owner"));
    let st = chain
        .statement(
            CORE,
            &[w.b.public().clone()],
            &w.a,
            Some(reg.signed_by(&id, &w.a.public().key_id()).unwrap()),
        )
        .unwrap();
    reg.add_owner_statement(&id, st).unwrap();
    let v12b = write_signed(&w, "com.ratchet.core-utils/1.2.0", Some(&w.b));
    reg.publish(&v12b, t).unwrap();
    let report = reg.verify();
    assert!(report.is_ok(), "{:?}", report.diagnostics);

    // A hostile edit of the owner record is caught by verify.
    let meta_path = reg_dir.join(ratchet_formats::index::meta_path(&id));
    let text = std::fs::read_to_string(&meta_path).unwrap();
    std::fs::write(
        &meta_path,
        text.replace(w.a.public().to_base64(), w.evil.public().to_base64()),
    )
    .unwrap();
    let report = reg.verify();
    assert!(
        report
            .errors()
            .any(|d| d.to_string().contains("bad-owners")),
        "{:?}",
        report.diagnostics
    );

    // A registry that requires signatures refuses unsigned bundles.
    let reg2_dir = w.tmp.path().join("reg2");
    Registry::init(&reg2_dir, "strict", RegistryKind::Public, None).unwrap();
    let cfg_path = reg2_dir.join("config.json");
    let mut cfg = RegistryConfig::load(&reg2_dir).unwrap();
    cfg.policies
        .insert(attest::REQUIRE_SIGNATURES.into(), true.into());
    std::fs::write(&cfg_path, cfg.to_json()).unwrap();
    let reg2 = Registry::open(&reg2_dir).unwrap();
    let u = write_signed(&w, "com.ratchet.core-utils/1.0.0", None);
    let e = reg2.publish(&u, t).unwrap_err().to_string();
    assert!(e.contains("requires signed bundles"), "{e}");
}

// ---- the `ratchet` command line ----

fn ratchet(home: &Path, args: &[&str], password: Option<&str>) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ratchet"));
    c.args(args)
        .env("RATCHET_HOME", home)
        .env_remove(keys::PASSWORD_ENV)
        .stdin(std::process::Stdio::null());
    if let Some(p) = password {
        c.env(keys::PASSWORD_ENV, p);
    }
    c.output().unwrap()
}

#[test]
fn cli_generates_keys_signs_and_says_what_failed() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let o = ratchet(&home, &["key", "generate", "--name", "me"], Some("pw"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sk_file = home.join("data/keys/me.key");
    let secret = std::fs::read_to_string(&sk_file).unwrap();
    let secret_line = secret.lines().nth(1).unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        !out.contains(secret_line),
        "the secret key is never printed"
    );
    assert!(SecretKey::is_encrypted_text(&secret).unwrap());
    let o = ratchet(&home, &["key", "list"], None);
    assert!(String::from_utf8_lossy(&o.stdout).contains("(with secret key)"));

    // Build and sign; without the password (no terminal) signing fails clearly.
    let out_dir = t.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let src = sample("com.ratchet.core-utils/1.0.0");
    let (src_s, out_s, key_s) = (
        src.to_str().unwrap(),
        out_dir.to_str().unwrap(),
        sk_file.to_str().unwrap(),
    );
    let o = ratchet(
        &home,
        &["bundle", "build", src_s, "--out", out_s, "--sign", key_s],
        None,
    );
    assert!(!o.status.success());
    let o = ratchet(
        &home,
        &["bundle", "build", src_s, "--out", out_s, "--sign", key_s],
        Some("pw"),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let file = out_dir.join("com.ratchet.core-utils-1.0.0.rbundle");
    let f = file.to_str().unwrap();
    let o = ratchet(&home, &["bundle", "verify", f], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("bound to com.ratchet.core-utils 1.0.0"));
    // Another key: the signature check fails and names the signer.
    let other = keys::generate(&t.path().join("k"), "other", None).unwrap();
    let o = ratchet(
        &home,
        &[
            "bundle",
            "verify",
            f,
            "--key",
            other.public.to_str().unwrap(),
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("FAILED signature"));
    // A tampered file: the file check fails and names the entry.
    let bytes = std::fs::read(&file).unwrap();
    let bad = rewrite(&bytes, |p, d| {
        if p == "bundle.yaml" {
            d.push(b'#');
        }
    });
    std::fs::write(&file, bad).unwrap();
    let o = ratchet(&home, &["bundle", "verify", f], None);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("FAILED file check") && err.contains("bundle.yaml"),
        "{err}"
    );
}

#[test]
fn the_first_signed_publish_can_record_co_owners() {
    let w = world();
    let reg =
        ratchet_publish::Registry::init(&w.tmp.path().join("reg"), "t", RegistryKind::Local, None)
            .unwrap();
    let t = "2026-01-01T00:00:00Z";
    let v1 = write_signed(&w, "com.ratchet.core-utils/1.0.0", Some(&w.a));
    reg.publish_with(&v1, t, &[w.a.public().clone(), w.b.public().clone()])
        .unwrap();
    let (_, owners) = reg.owners(&BundleId::parse(CORE).unwrap()).unwrap();
    assert_eq!(
        owners.unwrap().1.current,
        vec![w.a.public().clone(), w.b.public().clone()]
    );
    // The co-owner publishes the next version without any statement.
    let v12 = write_signed(&w, "com.ratchet.core-utils/1.2.0", Some(&w.b));
    reg.publish(&v12, t).unwrap();
}
