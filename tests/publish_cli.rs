//! `ratchet bundle publish FILE --registry DIR|file://URL` runs the same publish code as
//! `ratchet-index publish`.

use ratchet_formats::index::{RegistryKind, index_path};
use ratchet_formats::manifest::BundleId;
use ratchet_publish::Registry;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ratchet");

fn ratchet(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn publish_into_a_directory_and_a_file_url() {
    let t = tempfile::tempdir().unwrap();
    let reg_dir = t.path().join("reg");
    let reg = Registry::init(&reg_dir, "local", RegistryKind::Local, None).unwrap();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-bundles");
    let out = t.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    for v in ["1.0.0", "1.2.0"] {
        let src = samples.join(format!("com.ratchet.core-utils/{v}"));
        let o = ratchet(&[
            "bundle",
            "build",
            src.to_str().unwrap(),
            "--out",
            &format!("{}/", out.display()),
        ]);
        assert!(o.status.success(), "{o:?}");
    }
    let a = out.join("com.ratchet.core-utils-1.0.0.rbundle");
    let b = out.join("com.ratchet.core-utils-1.2.0.rbundle");
    let o = ratchet(&[
        "bundle",
        "publish",
        a.to_str().unwrap(),
        "--registry",
        reg_dir.to_str().unwrap(),
        "--publish-time",
        "2026-01-01T00:00:00Z",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let url = url::Url::from_directory_path(&reg_dir).unwrap().to_string();
    let o = ratchet(&["bundle", "publish", b.to_str().unwrap(), "--registry", &url]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let id = BundleId::parse("com.ratchet.core-utils").unwrap();
    let idx = std::fs::read_to_string(reg_dir.join(index_path(&id))).unwrap();
    assert_eq!(idx.lines().count(), 2);
    assert!(reg.verify().is_ok());

    // Refusals: same version again, a remote URL, a directory that is not a registry.
    let o = ratchet(&["bundle", "publish", a.to_str().unwrap(), "--registry", &url]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("immutable"));
    let o = ratchet(&[
        "bundle",
        "publish",
        a.to_str().unwrap(),
        "--registry",
        "https://registry.example.com/",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not supported"));
    let o = ratchet(&[
        "bundle",
        "publish",
        a.to_str().unwrap(),
        "--registry",
        out.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a ratchet registry"));
    assert_eq!(
        std::fs::read_to_string(reg_dir.join(index_path(&id))).unwrap(),
        idx
    );
}
