//! `bundle build --sign` writes the archive once (issue 19): the signature is produced from the
//! checksum list while the archive is written, and the file is the one an unsigned build
//! followed by `with_signature` (the old second pass) gives.

use ratchet_formats::archive::{
    BuildOptions, Limits, build_archive, build_archive_signed, read_archive, with_signature,
};
use ratchet_formats::manifest::load_manifest;

#[test]
fn a_signed_build_in_one_pass_equals_build_then_sign() {
    let t = tempfile::tempdir().unwrap();
    let src = ratchet_testkit::Bundle::new("com.example.onepass", "1.2.3").write(t.path());
    let m = load_manifest(&src).unwrap();
    let plain = t.path().join("plain.rbundle");
    build_archive(&src, &m, &plain, &BuildOptions::default()).unwrap();
    let two_pass = with_signature(
        &std::fs::read(&plain).unwrap(),
        Some(b"signature text\n"),
        &Limits::default(),
    )
    .unwrap();

    let one = t.path().join("one.rbundle");
    let mut seen = Vec::new();
    let mut sign = |list: &[u8]| -> std::io::Result<Vec<u8>> {
        seen = list.to_vec();
        Ok(b"signature text\n".to_vec())
    };
    let built = build_archive_signed(&src, &m, &one, &BuildOptions::default(), &mut sign).unwrap();
    let bytes = std::fs::read(&one).unwrap();
    assert_eq!(bytes, two_pass, "one pass writes what two passes wrote");
    // The figures are the signed file's, and the signer saw the archive's checksum list.
    assert_eq!(built.size, bytes.len() as u64);
    assert_eq!(built.sha256, ratchet_formats::archive::sha256_hex(&bytes));
    let a = read_archive(std::io::Cursor::new(&bytes), &Limits::default()).unwrap();
    assert_eq!(a.checksum_list(), seen.as_slice());
    assert_eq!(a.signature.as_deref(), Some(&b"signature text\n"[..]));
    let unsigned = read_archive(
        std::io::Cursor::new(std::fs::read(&plain).unwrap()),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(a.files.len(), unsigned.files.len() + 1);
}

#[test]
fn a_signer_that_fails_leaves_no_archive() {
    let t = tempfile::tempdir().unwrap();
    let src = ratchet_testkit::Bundle::new("com.example.onepass", "1.0.0").write(t.path());
    let m = load_manifest(&src).unwrap();
    let out = t.path().join("out.rbundle");
    let mut sign =
        |_: &[u8]| -> std::io::Result<Vec<u8>> { Err(std::io::Error::other("no key today")) };
    let err = build_archive_signed(&src, &m, &out, &BuildOptions::default(), &mut sign)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no key today"), "{err}");
    assert!(!out.exists());
}
