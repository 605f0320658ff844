//! Archive refusals asserted by variant and typed cause: what cannot be packed, and archives
//! that are corrupt. Bundles come from the workspace's sample bundles.

use ratchet_formats::archive::{
    ArchiveError, BuildOptions, Corruption, IGNORE_FILE, Limits, PackProblem, build_archive,
    read_archive,
};
use ratchet_formats::manifest::{Manifest, parse_manifest};
use std::io::Write;
use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// A copy of a sample bundle in `tmp/src`, with its manifest.
fn sample(tmp: &Path) -> (std::path::PathBuf, Manifest) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../sample-bundles/com.ratchet.core-utils/1.0.0");
    let src = tmp.join("src");
    copy_dir(&from, &src);
    let text = std::fs::read_to_string(src.join("bundle.yaml")).unwrap();
    (src, parse_manifest(&text, "bundle.yaml").unwrap())
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_is_not_packed() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, m) = sample(tmp.path());
    std::os::unix::fs::symlink("/etc/passwd", src.join("passwd")).unwrap();
    let out = tmp.path().join("x.rbundle");
    let e = build_archive(&src, &m, &out, &BuildOptions::default()).unwrap_err();
    match &e {
        ArchiveError::Unpackable {
            path,
            problem: PackProblem::Symlink { target },
        } => {
            assert_eq!(path, "passwd");
            assert_eq!(target, "/etc/passwd");
        }
        other => panic!("expected Unpackable(Symlink), got {other:?}"),
    }
    assert!(!out.exists(), "no archive is left behind");
}

#[test]
fn an_ignored_manifest_is_not_packed() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, m) = sample(tmp.path());
    std::fs::write(src.join(IGNORE_FILE), "bundle.yaml\n").unwrap();
    let e = build_archive(
        &src,
        &m,
        &tmp.path().join("x.rbundle"),
        &BuildOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            &e,
            ArchiveError::Unpackable {
                problem: PackProblem::ManifestLeftOut,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn corrupt_archives_say_how() {
    // Not gzip at all: the decoder's error is kept as the cause.
    let e = read_archive(&b"plain text"[..], &Limits::default()).unwrap_err();
    match &e {
        ArchiveError::Malformed {
            where_,
            problem: Corruption::Decode(_),
        } => assert_eq!(where_, "at the start"),
        other => panic!("expected Malformed(Decode), got {other:?}"),
    }
    assert!(std::error::Error::source(&e).is_some());

    // A directory entry that carries data.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_path("docs/").unwrap();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(5);
    h.set_cksum();
    b.append(&h, &b"hello"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    let bytes = gz.finish().unwrap();
    let e = read_archive(bytes.as_slice(), &Limits::default()).unwrap_err();
    assert!(
        matches!(
            &e,
            ArchiveError::Malformed {
                problem: Corruption::DirectoryHasContent,
                where_,
            } if where_.contains("docs/")
        ),
        "{e:?}"
    );
}
