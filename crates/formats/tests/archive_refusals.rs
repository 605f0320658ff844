//! Archive refusals asserted by variant and typed cause: what cannot be packed, and archives
//! that are corrupt. Bundles come from the workspace's sample bundles.

use ratchet_formats::archive::{
    ArchiveError, BuildOptions, Corruption, IGNORE_FILE, Limits, PackProblem, PaxProblem,
    build_archive, read_archive,
};
use ratchet_formats::manifest::{Manifest, parse_manifest};
use std::io::Write;
use std::path::Path;

use ratchet_testkit::copy_dir;

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

// ---- Hostile tar headers, written block by block ----

/// One 512-byte GNU header block.
fn header(kind: tar::EntryType, name: &[u8], size: u64) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_entry_type(kind);
    h.set_cksum();
    h.as_bytes().to_vec()
}

/// Appends a header and its data, padded to a whole block.
fn member(out: &mut Vec<u8>, kind: tar::EntryType, name: &[u8], data: &[u8]) {
    out.extend(header(kind, name, data.len() as u64));
    out.extend(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// The two zero blocks that end a tar archive.
fn end(out: &mut Vec<u8>) {
    out.extend([0u8; 1024]);
}

fn gz(tar: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(tar).unwrap();
    gz.finish().unwrap()
}

/// One PAX record, its length field counting the whole record.
fn pax_record(key: &[u8], value: &[u8]) -> Vec<u8> {
    let body = key.len() + 1 + value.len() + 1;
    let mut len = body + 2;
    while len != body + 1 + len.to_string().len() {
        len = body + 1 + len.to_string().len();
    }
    let mut r = format!("{len} ").into_bytes();
    r.extend(key);
    r.push(b'=');
    r.extend(value);
    r.push(b'\n');
    r
}

/// A PAX header holding `records`, then a small regular file, then the end blocks.
fn with_pax(records: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    member(
        &mut t,
        tar::EntryType::XHeader,
        b"PaxHeaders/a.txt",
        records,
    );
    member(&mut t, tar::EntryType::Regular, b"a.txt", b"hello");
    end(&mut t);
    gz(&t)
}

fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[test]
fn a_huge_long_name_or_pax_header_is_refused_before_it_is_read() {
    use ratchet_formats::archive::{DeclaredKind, MAX_LONG_NAME_BYTES, MAX_PAX_HEADER_BYTES};
    const HUGE: u64 = 400 << 20;
    for (kind, name, what, limit) in [
        (
            tar::EntryType::GNULongName,
            &b"././@LongLink"[..],
            DeclaredKind::LongName,
            MAX_LONG_NAME_BYTES,
        ),
        (
            tar::EntryType::GNULongLink,
            &b"././@LongLink"[..],
            DeclaredKind::LongLink,
            MAX_LONG_NAME_BYTES,
        ),
        (
            tar::EntryType::XHeader,
            &b"PaxHeaders/x"[..],
            DeclaredKind::PaxHeader,
            MAX_PAX_HEADER_BYTES,
        ),
    ] {
        // 400 MiB of name in a few hundred KB of archive, as an attacker would send it.
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&header(kind, name, HUGE)).unwrap();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..(HUGE >> 20) {
            enc.write_all(&chunk).unwrap();
        }
        let mut rest = Vec::new();
        member(&mut rest, tar::EntryType::Regular, b"x", b"x");
        end(&mut rest);
        enc.write_all(&rest).unwrap();
        let bytes = enc.finish().unwrap();
        assert!(bytes.len() < 8 << 20, "{}", bytes.len());

        let before = peak_rss_bytes();
        let e = read_archive(bytes.as_slice(), &Limits::default()).unwrap_err();
        let after = peak_rss_bytes();
        match &e {
            ArchiveError::DeclaredTooLarge {
                entry,
                header,
                what: w,
                size,
                limit: l,
            } => {
                assert_eq!(entry.as_bytes(), name);
                assert_eq!(*header, 1);
                assert_eq!(*w, what);
                assert_eq!(*size, HUGE);
                assert_eq!(*l, limit);
            }
            other => panic!("expected DeclaredTooLarge, got {other:?}"),
        }
        let shown = e.to_string();
        assert!(shown.len() < 300, "the error stays short: {shown}");
        assert!(
            shown.contains(&String::from_utf8_lossy(name).into_owned()),
            "{shown}"
        );
        if let (Some(b), Some(a)) = (before, after) {
            assert!(
                a.saturating_sub(b) < 100 << 20,
                "peak memory grew by {} bytes",
                a - b
            );
        }
    }
}

#[test]
fn an_oversized_signature_or_manifest_is_refused_before_it_is_read() {
    use ratchet_formats::archive::{DeclaredKind, MAX_SIGNATURE_BYTES, ManifestProblem};
    for name in ["bundle.sig", "bundle.yaml", ".bundle/manifest.json"] {
        let mut t = Vec::new();
        member(&mut t, tar::EntryType::Regular, b"a.txt", b"hello");
        member(
            &mut t,
            tar::EntryType::Regular,
            name.as_bytes(),
            &vec![b'x'; 2 << 20],
        );
        end(&mut t);
        let e = read_archive(gz(&t).as_slice(), &Limits::default()).unwrap_err();
        match &e {
            ArchiveError::DeclaredTooLarge {
                entry,
                header: 2,
                what: DeclaredKind::Signature,
                size,
                limit,
            } if name == "bundle.sig" => {
                assert_eq!(entry, name);
                assert_eq!(*size, 2 << 20);
                assert_eq!(*limit, MAX_SIGNATURE_BYTES);
            }
            ArchiveError::BadManifest { entry, problem } if name != "bundle.sig" => {
                assert_eq!(entry, name);
                assert!(
                    matches!(**problem, ManifestProblem::TooLarge { size, .. } if size == 2 << 20),
                    "{problem:?}"
                );
            }
            other => panic!("{name}: got {other:?}"),
        }
    }
}

#[test]
fn duplicate_pax_records_are_refused() {
    // GNU tar and Python take the last `path`; refusing is the only reading no tool disputes.
    let mut recs = pax_record(b"path", b"shown.txt");
    recs.extend(pax_record(b"path", b"installed.txt"));
    let e = read_archive(with_pax(&recs).as_slice(), &Limits::default()).unwrap_err();
    match &e {
        ArchiveError::BadExtendedHeader {
            entry,
            header: 1,
            problem: PaxProblem::DuplicateKey { key },
        } => {
            assert_eq!(entry, "PaxHeaders/a.txt");
            assert_eq!(key, "path");
        }
        other => panic!("expected DuplicateKey, got {other:?}"),
    }
    assert!(e.to_string().contains("PaxHeaders/a.txt"), "{e}");

    // Two PAX headers for one member.
    let mut t = Vec::new();
    member(
        &mut t,
        tar::EntryType::XHeader,
        b"PaxHeaders/1",
        &pax_record(b"path", b"a"),
    );
    member(
        &mut t,
        tar::EntryType::XHeader,
        b"PaxHeaders/2",
        &pax_record(b"path", b"b"),
    );
    member(&mut t, tar::EntryType::Regular, b"a.txt", b"hello");
    end(&mut t);
    let e = read_archive(gz(&t).as_slice(), &Limits::default()).unwrap_err();
    assert!(
        matches!(
            &e,
            ArchiveError::BadExtendedHeader {
                header: 2,
                problem: PaxProblem::Repeated { .. },
                ..
            }
        ),
        "{e:?}"
    );

    // A GNU long name and a PAX path for the same member.
    let mut t = Vec::new();
    member(
        &mut t,
        tar::EntryType::GNULongName,
        b"././@LongLink",
        b"one.txt\0",
    );
    member(
        &mut t,
        tar::EntryType::XHeader,
        b"PaxHeaders/2",
        &pax_record(b"path", b"two.txt"),
    );
    member(&mut t, tar::EntryType::Regular, b"a.txt", b"hello");
    end(&mut t);
    let e = read_archive(gz(&t).as_slice(), &Limits::default()).unwrap_err();
    assert!(
        matches!(
            &e,
            ArchiveError::BadExtendedHeader {
                header: 3,
                problem: PaxProblem::Repeated { what: "path" },
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn malformed_pax_records_are_refused() {
    let mut bad_key = pax_record(b"pa\xfftoo", b"x");
    bad_key.extend(pax_record(b"path", b"a.txt"));
    let cases: Vec<(&str, Vec<u8>, PaxProblem)> = vec![
        (
            "length past the end",
            b"99 path=a.txt\n".to_vec(),
            PaxProblem::BadLength { record: 1 },
        ),
        (
            "length not a number",
            b"1x path=a.txt\n".to_vec(),
            PaxProblem::BadLength { record: 1 },
        ),
        (
            "no length",
            b"path=a.txt\n".to_vec(),
            PaxProblem::BadLength { record: 1 },
        ),
        (
            "length too short",
            [pax_record(b"mtime", b"1"), b"13 path=a.txt\n".to_vec()].concat(),
            PaxProblem::NoNewline { record: 2 },
        ),
        (
            "no equals sign",
            b"12 pathaaaa\n".to_vec(),
            PaxProblem::NoEquals { record: 1 },
        ),
        (
            "empty key",
            b"9 =a.txt\n".to_vec(),
            PaxProblem::NoEquals { record: 1 },
        ),
        (
            "key not UTF-8",
            bad_key,
            PaxProblem::KeyNotUtf8 { record: 1 },
        ),
        (
            "size differing from the header",
            pax_record(b"size", b"100"),
            PaxProblem::Unsupported { key: "size".into() },
        ),
        (
            "sparse",
            pax_record(b"GNU.sparse.map", b"0,5"),
            PaxProblem::Unsupported {
                key: "GNU.sparse.map".into(),
            },
        ),
    ];
    for (what, records, expected) in cases {
        let e = read_archive(with_pax(&records).as_slice(), &Limits::default()).unwrap_err();
        // Record syntax is refused at the PAX header; a key the member cannot carry, at the
        // member.
        let named = if matches!(expected, PaxProblem::Unsupported { .. }) {
            "a.txt"
        } else {
            "PaxHeaders/a.txt"
        };
        match &e {
            ArchiveError::BadExtendedHeader { entry, problem, .. } => {
                assert_eq!(entry, named, "{what}");
                assert_eq!(problem, &expected, "{what}");
            }
            other => panic!("{what}: expected BadExtendedHeader, got {other:?}"),
        }
    }

    // Well-formed records pass the tar stage: the archive is then refused for lacking its
    // checksum list, which shows the PAX header itself was accepted and its path honoured.
    let mut ok = pax_record(b"mtime", b"1700000000.5");
    ok.extend(pax_record(b"path", b"renamed.txt"));
    ok.extend(pax_record(b"size", b"5"));
    let e = read_archive(with_pax(&ok).as_slice(), &Limits::default()).unwrap_err();
    assert!(
        matches!(&e, ArchiveError::MissingEntry { entry, .. } if entry == ".bundle/checksum.sha256"),
        "{e:?}"
    );

    // An extension header with no member after it.
    let mut t = Vec::new();
    member(
        &mut t,
        tar::EntryType::XHeader,
        b"PaxHeaders/x",
        &pax_record(b"path", b"a"),
    );
    end(&mut t);
    let e = read_archive(gz(&t).as_slice(), &Limits::default()).unwrap_err();
    assert!(
        matches!(
            &e,
            ArchiveError::BadExtendedHeader {
                entry,
                header: 1,
                problem: PaxProblem::Orphan,
            } if entry == "PaxHeaders/x"
        ),
        "{e:?}"
    );
}

#[test]
fn a_tar_without_its_end_blocks_is_refused() {
    for zero_blocks in [0usize, 1] {
        let mut t = Vec::new();
        member(&mut t, tar::EntryType::Regular, b"a.txt", b"hello");
        t.extend(vec![0u8; 512 * zero_blocks]);
        let e = read_archive(gz(&t).as_slice(), &Limits::default()).unwrap_err();
        match &e {
            ArchiveError::NoEndOfArchive { last } => {
                assert_eq!(last.as_deref(), Some("a.txt"), "{zero_blocks} zero blocks")
            }
            other => panic!("{zero_blocks} zero blocks: expected NoEndOfArchive, got {other:?}"),
        }
        assert!(e.to_string().contains("`a.txt`"), "{e}");
    }
    // With both blocks the tar stage passes (refused later for the missing checksum list).
    let mut t = Vec::new();
    member(&mut t, tar::EntryType::Regular, b"a.txt", b"hello");
    end(&mut t);
    let e = read_archive(gz(&t).as_slice(), &Limits::default()).unwrap_err();
    assert!(matches!(&e, ArchiveError::MissingEntry { .. }), "{e:?}");
}

#[test]
fn a_deeply_nested_manifest_is_refused_before_it_is_parsed() {
    // 100 000 nested brackets: the YAML parser would take tens of seconds (quadratic in depth).
    let text = format!(
        "bundle:\n  id: com.example.deep\n  description: {}{}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let diags = parse_manifest(&text, "bundle.yaml").unwrap_err();
    let d = &diags[0];
    assert_eq!(d.code, "yaml-too-deep", "{d:?}");
    assert_eq!(d.file, "bundle.yaml");
    assert_eq!(d.line, Some(3));
    // `  description: ` is 15 columns; the 63rd bracket inside the two block levels is too deep.
    assert_eq!(d.column, Some(16 + 62));
    // Deep block nesting too.
    let mut text = String::from("bundle:\n");
    for depth in 1..100 {
        text.push_str(&" ".repeat(depth * 2));
        text.push_str("k:\n");
    }
    let diags = parse_manifest(&text, "bundle.yaml").unwrap_err();
    assert_eq!(diags[0].code, "yaml-too-deep", "{:?}", diags[0]);
    // The sample manifests are far from the limit.
    let sample = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../sample-bundles/com.ratchet.core-utils/1.0.0/bundle.yaml");
    let text = std::fs::read_to_string(sample).unwrap();
    assert!(parse_manifest(&text, "bundle.yaml").is_ok());
}

#[test]
fn checksums_are_verified_before_manifests_are_parsed() {
    use ratchet_formats::archive::{
        ManifestProblem, read_archive_unparsed, render_checksum_list, sha256_hex,
    };
    // Consistent checksums, a manifest that is not JSON: the first half accepts it and hands
    // out the checksum list and signature (to check the signature first), the second refuses.
    let yaml = b"bundle: {}\n".to_vec();
    let json = b"not json".to_vec();
    let sig = b"untrusted comment: x\n".to_vec();
    let list = render_checksum_list(&[
        (".bundle/manifest.json".into(), sha256_hex(&json)),
        ("bundle.yaml".into(), sha256_hex(&yaml)),
    ]);
    let mut t = Vec::new();
    member(
        &mut t,
        tar::EntryType::Regular,
        b".bundle/checksum.sha256",
        &list,
    );
    member(
        &mut t,
        tar::EntryType::Regular,
        b".bundle/manifest.json",
        &json,
    );
    member(&mut t, tar::EntryType::Regular, b"bundle.yaml", &yaml);
    member(&mut t, tar::EntryType::Regular, b"bundle.sig", &sig);
    end(&mut t);
    let bytes = gz(&t);
    let checked = read_archive_unparsed(bytes.as_slice(), &Limits::default()).unwrap();
    assert_eq!(checked.checksum_list(), list.as_slice());
    assert_eq!(checked.signature(), Some(sig.as_slice()));
    let e = checked.parse_manifest().unwrap_err();
    assert!(
        matches!(&e, ArchiveError::BadManifest { entry, problem }
            if entry == ".bundle/manifest.json" && matches!(**problem, ManifestProblem::NotJson(_))),
        "{e:?}"
    );
    // A file that differs from the list is refused by the first half already.
    let mut t = Vec::new();
    member(
        &mut t,
        tar::EntryType::Regular,
        b".bundle/checksum.sha256",
        &list,
    );
    member(
        &mut t,
        tar::EntryType::Regular,
        b".bundle/manifest.json",
        b"altered",
    );
    member(&mut t, tar::EntryType::Regular, b"bundle.yaml", &yaml);
    end(&mut t);
    let e = read_archive_unparsed(gz(&t).as_slice(), &Limits::default()).unwrap_err();
    assert!(matches!(&e, ArchiveError::ChecksumMismatch { .. }), "{e:?}");
}

#[test]
fn the_sample_registry_archives_still_read() {
    // The stricter reader (end blocks, PAX, declared sizes) accepts every archive published so far.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample-index/archives");
    let mut n = 0;
    for shard in std::fs::read_dir(&root).unwrap() {
        for f in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let path = f.unwrap().path();
            ratchet_formats::archive::read_archive_file(&path, &Limits::default())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n > 0);
}
