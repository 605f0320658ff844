//! `ratchet bundle publish FILE --registry DIR|file://URL` runs the same publish code as
//! `ratchet-index publish`.

mod common;

use common::{ratchet, text};
use ratchet_formats::index::index_path;
use ratchet_formats::manifest::BundleId;
use ratchet_testkit::{Bundle, TestRegistry};

#[test]
fn publish_into_a_directory_and_a_file_url() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let reg = TestRegistry::new(t.path());
    let reg_dir = reg.dir();
    let a = Bundle::new("com.test.utils", "1.0.0").build(t.path());
    let b = Bundle::new("com.test.utils", "1.2.0").build(t.path());
    let out = t.path().join("out");
    let o = ratchet(
        &home,
        &[
            "bundle",
            "publish",
            a.to_str().unwrap(),
            "--registry",
            reg_dir.to_str().unwrap(),
            "--publish-time",
            "2026-01-01T00:00:00Z",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let url = url::Url::from_directory_path(&reg_dir).unwrap().to_string();
    let o = ratchet(
        &home,
        &["bundle", "publish", b.to_str().unwrap(), "--registry", &url],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let id = BundleId::parse("com.test.utils").unwrap();
    let idx = std::fs::read_to_string(reg_dir.join(index_path(&id))).unwrap();
    assert_eq!(idx.lines().count(), 2);
    assert!(reg.reg.verify().is_ok());

    // Refusals: same version again, a remote URL, a directory that is not a registry.
    let o = ratchet(
        &home,
        &["bundle", "publish", a.to_str().unwrap(), "--registry", &url],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("immutable"));
    let o = ratchet(
        &home,
        &[
            "bundle",
            "publish",
            a.to_str().unwrap(),
            "--registry",
            "https://registry.example.com/",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("not supported"));
    let o = ratchet(
        &home,
        &[
            "bundle",
            "publish",
            a.to_str().unwrap(),
            "--registry",
            out.to_str().unwrap(),
        ],
    );
    assert!(text(&o.stderr).contains("not a ratchet registry"));
    assert_eq!(
        std::fs::read_to_string(reg_dir.join(index_path(&id))).unwrap(),
        idx
    );
}
