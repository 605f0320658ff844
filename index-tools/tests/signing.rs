//! `ratchet-index` with signed archives: owner recorded on first signed publish, later versions
//! refused unless signed by an owner, rotation through `owner rotate`, attestations, and the
//! committed sample registry's signatures.

mod common;

use common::*;
use ratchet_formats::archive::{self, Limits};
use ratchet_trust::bundle_sig;
use ratchet_trust::keys::{self, SecretKey};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ri(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ratchet-index"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn signed(work: &Path, id: &str, version: &str, key: &Path) -> PathBuf {
    Bundle::new(id, version).build_signed(work, &SecretKey::load(key).unwrap())
}

#[test]
fn owners_rotation_and_attestations_through_the_cli() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path()).reg;
    let dir = reg.root().to_str().unwrap().to_string();
    let kdir = t.path().join("keys");
    let a = keys::generate(&kdir, "a", None).unwrap();
    let b = keys::generate(&kdir, "b", None).unwrap();
    let s = |p: &PathBuf| p.to_str().unwrap().to_string();

    let w = t.path().join("w1");
    std::fs::create_dir_all(&w).unwrap();
    let v1 = signed(&w, "com.test.signed", "1.0.0", &a.secret);
    let o = ri(&["publish", &dir, &s(&v1)]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--owner-key"), "{}", text(&o));
    let o = ri(&["publish", &dir, &s(&v1), "--owner-key", &s(&a.public)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&format!("signed by {}", a.key.key_id())));

    // b is not an owner yet.
    let w2 = t.path().join("w2");
    std::fs::create_dir_all(&w2).unwrap();
    let v2 = signed(&w2, "com.test.signed", "1.1.0", &b.secret);
    let o = ri(&["publish", &dir, &s(&v2)]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("not one of the current owner keys"),
        "{}",
        text(&o)
    );

    // a rotates to b (statement written by the owner, applied by the operator).
    let st = t.path().join("rotate.json");
    let o = ri(&[
        "owner",
        "rotate",
        &dir,
        "com.test.signed",
        "--key",
        &s(&a.secret),
        "--new",
        &s(&b.public),
        "--statement-out",
        &s(&st),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = ri(&["owner", "apply", &dir, "com.test.signed", &s(&st)]);
    assert!(o.status.success(), "{}", text(&o));
    let o = ri(&["publish", &dir, &s(&v2)]);
    assert!(o.status.success(), "{}", text(&o));
    // Applying the same statement again is refused (wrong sequence number).
    let o = ri(&["owner", "apply", &dir, "com.test.signed", &s(&st)]);
    assert!(!o.status.success());
    let o = ri(&["owner", "show", &dir, "com.test.signed"]);
    assert!(
        text(&o).contains(&format!("current owner key(s): {}", b.key.key_id())),
        "{}",
        text(&o)
    );

    // Official attestation: refused until config.json names the verifier.
    let ver = keys::generate(&kdir, "verifier", None).unwrap();
    let o = ri(&[
        "attest",
        &dir,
        "com.test.signed",
        "1.1.0",
        "--key",
        &s(&ver.secret),
        "--official",
        "--report",
        "https://example.com/r",
        "--time",
        TIME,
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("verifier keys"), "{}", text(&o));
    let o = ri(&[
        "verifier",
        "add",
        &dir,
        "--name",
        "Test Verifier",
        "--key",
        &s(&ver.public),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = ri(&["verifier", "list", &dir]);
    assert!(
        text(&o).contains(&format!("{}  Test Verifier", ver.key.key_id())),
        "{}",
        text(&o)
    );
    let o = ri(&[
        "attest",
        &dir,
        "com.test.signed",
        "1.1.0",
        "--key",
        &s(&ver.secret),
        "--official",
        "--report",
        "https://example.com/r",
        "--time",
        TIME,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = ri(&["list", &dir, "com.test.signed"]);
    let out = text(&o);
    assert!(
        out.contains("officially verified by Test Verifier"),
        "{out}"
    );
    assert!(
        out.contains(&format!("signed by {}", a.key.key_id())),
        "{out}"
    );
    let o = ri(&["verify", &dir]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn committed_sample_registry_is_signed_by_the_sample_key() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let pk = keys::PublicKey::load(&repo.join("sample-keys/sample-author.pub")).unwrap();
    let reg = ratchet_publish::Registry::open(&repo.join("sample-index")).unwrap();
    let mut n = 0;
    for b in reg.list().unwrap() {
        let (_, owners) = reg.owners(&b.id).unwrap();
        assert_eq!(owners.unwrap().1.current, vec![pk.clone()], "{}", b.id);
        for l in &b.versions {
            assert_eq!(l.signer.as_deref(), Some(pk.key_id().as_str()));
            let rel = reg.local_archive(&l.sha256).unwrap();
            let a = archive::read_archive_file(&reg.root().join(rel), &Limits::default()).unwrap();
            bundle_sig::verify_archive(&a, std::slice::from_ref(&pk), "sample key").unwrap();
            n += 1;
        }
    }
    assert_eq!(n, 10);
    let readme = std::fs::read_to_string(repo.join("sample-keys/README.md")).unwrap();
    assert!(readme.contains("SAMPLE ONLY"));
}
