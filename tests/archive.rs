//! `.rbundle` archives: round trip, reproducibility, and refusal of hostile archives built with
//! the tar crate.

use flate2::{Compression, write::GzEncoder};
use ratchet_formats::archive::{
    self, ArchiveError, BuildOptions, BundleArchive, CHECKSUM_FILE, Limits, MANIFEST_JSON,
    SIGNATURE_FILE, VERIFICATION_JSON, build_archive, bundle_files, read_archive,
    read_archive_file,
};
use ratchet_formats::manifest::{Manifest, load_manifest};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

fn new_bundle(dir: &Path) -> Manifest {
    ratchet_validate::scaffold::init_bundle(dir, Some("com.example.archive-test")).unwrap();
    load_manifest(dir).unwrap()
}

fn write(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// Every file under `dir`, keyed by `/`-separated relative path.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(
                    ratchet_formats::fsutil::rel_display(root, &p),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn build(dir: &Path, out: &Path) -> archive::BuiltArchive {
    let m = load_manifest(dir).unwrap();
    build_archive(dir, &m, out, &BuildOptions::default()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Round trip

#[test]
fn round_trip_build_read_extract() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let m = new_bundle(&src);
    let long = format!(
        "assets/{}/{}.txt",
        "deep".repeat(30),
        "long-name".repeat(10)
    );
    write(&src.join(&long), b"a path longer than 100 bytes");
    write(
        &src.join("assets/binary.bin"),
        &(0..=255u8).cycle().take(70_000).collect::<Vec<_>>(),
    );
    write(&src.join("assets/empty"), b"");
    write(&src.join("assets/résumé.md"), "non-ASCII name".as_bytes());
    // Left out: VCS directories, ignored files, generated files.
    write(&src.join(".git/HEAD"), b"ref: refs/heads/main\n");
    write(&src.join("assets/.hg/store"), b"x");
    write(
        &src.join("old.rbundle"),
        b"ignored by the scaffold's .ratchetignore",
    );
    write(&src.join("node_modules/x/index.js"), b"ignored");
    write(&src.join("bundle.sig"), b"stale signature");
    write(&src.join(".bundle/manifest.json"), b"stale");
    write(&src.join(".bundle/checksum.sha256"), b"stale");
    // A verification.json that describes exactly these sources is packed.
    let verification = format!(
        "{{\"bundle\": {{\"id\": \"com.example.archive-test\", \"version\": \"0.1.0\"}}, \"sources\": \"{}\", \"passed\": true}}\n",
        archive::sources_digest(&src).unwrap()
    );
    write(
        &src.join(".bundle/verification.json"),
        verification.as_bytes(),
    );

    let out = tmp.path().join("out").join(archive::archive_file_name(&m));
    let built = build_archive(&src, &m, &out, &BuildOptions::default()).unwrap();
    assert!(built.warnings.is_empty(), "{:?}", built.warnings);
    assert_eq!(
        out.file_name().unwrap(),
        "com.example.archive-test-0.1.0.rbundle"
    );
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(built.size, bytes.len() as u64);
    assert_eq!(built.sha256, archive::sha256_hex(&bytes));
    assert_eq!(built.path, out);

    let read = read_archive(bytes.as_slice(), &Limits::default()).unwrap();
    assert_eq!(read.manifest.bundle, m);
    assert_eq!(read.manifest.format_version, 1);
    assert!(read.signature.is_none());
    assert_eq!(built.files, read.files.len());
    assert_eq!(read.verification(), Some(verification.as_bytes()));
    // Once a source file changes, the results are stale: left out, with a warning.
    write(&src.join("assets/empty"), b"changed");
    let stale = tmp.path().join("stale.rbundle");
    let b2 = build_archive(&src, &m, &stale, &BuildOptions::default()).unwrap();
    assert!(
        b2.warnings[0].contains("files changed since the tests ran"),
        "{:?}",
        b2.warnings
    );
    let r2 = read_archive(
        std::fs::read(&stale).unwrap().as_slice(),
        &Limits::default(),
    )
    .unwrap();
    assert!(r2.verification().is_none());
    write(&src.join("assets/empty"), b"");

    // Exactly the source files that should be packed, byte for byte, plus the generated ones.
    let mut expected = tree(&src);
    expected.retain(|p, _| {
        !(p.starts_with(".git/")
            || p.starts_with("assets/.hg/")
            || p.ends_with(".rbundle")
            || p.starts_with("node_modules/")
            || p == "bundle.sig"
            || p == ".bundle/checksum.sha256")
    });
    expected.insert(MANIFEST_JSON.into(), read.files[MANIFEST_JSON].clone());
    expected.insert(CHECKSUM_FILE.into(), read.files[CHECKSUM_FILE].clone());
    assert_eq!(
        read.files.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    assert_eq!(read.files, expected);
    assert_ne!(read.files[MANIFEST_JSON], b"stale");
    assert!(read.files.contains_key(&long));
    assert!(
        read.files.contains_key(".ratchetignore"),
        ".ratchetignore is packed"
    );

    // The checksum list covers every file but itself, in sha256sum format, sorted.
    let list = std::str::from_utf8(read.checksum_list()).unwrap();
    let paths: Vec<&str> = list
        .lines()
        .map(|l| l.split_once("  ").unwrap().1)
        .collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    assert_eq!(paths.len(), read.files.len() - 1);
    assert!(
        paths.contains(&MANIFEST_JSON)
            && paths.contains(&VERIFICATION_JSON)
            && !paths.contains(&CHECKSUM_FILE)
    );

    // The same from the file, and extraction gives the same tree.
    assert_eq!(read_archive_file(&out, &Limits::default()).unwrap(), read);
    let dest = tmp.path().join("installed/com.example.archive-test");
    read.extract_to(&dest).unwrap();
    assert_eq!(tree(&dest), read.files);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dest.join("bundle.yaml")), 0o644);
        assert_eq!(mode(&dest.join("tasks/addition")), 0o755);
        assert_eq!(mode(&dest), 0o755);
    }
    assert!(matches!(
        read.extract_to(&dest),
        Err(ArchiveError::DestinationExists { .. })
    ));
    let leftovers: Vec<_> = std::fs::read_dir(dest.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec![std::ffi::OsString::from("com.example.archive-test")],
        "no temporary directory left behind"
    );
}

#[test]
fn standard_tools_read_the_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    new_bundle(&src);
    let out = tmp.path().join("b.rbundle");
    build(&src, &out);
    let x = tmp.path().join("x");
    std::fs::create_dir(&x).unwrap();
    let tar = Command::new("tar")
        .arg("xzf")
        .arg(&out)
        .current_dir(&x)
        .status()
        .unwrap();
    assert!(tar.success());
    let check = Command::new("sha256sum")
        .args(["--check", "--strict", "--quiet", CHECKSUM_FILE])
        .current_dir(&x)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let listing = Command::new("tar").arg("tvzf").arg(&out).output().unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    for line in listing.lines() {
        assert!(line.starts_with("-rw-r--r-- 0/0 "), "{line}");
        assert!(line.contains("2024-01-01 00:00"), "{line}");
    }
    let first = listing.lines().next().unwrap();
    let last = listing.lines().last().unwrap();
    assert!(
        first.ends_with(MANIFEST_JSON) && last.ends_with(CHECKSUM_FILE),
        "{listing}"
    );
}

#[test]
fn verification_option_overrides_the_source_file() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let m = new_bundle(&src);
    let out = tmp.path().join("a.rbundle");
    build_archive(&src, &m, &out, &BuildOptions::default()).unwrap();
    assert!(
        read_archive_file(&out, &Limits::default())
            .unwrap()
            .verification()
            .is_none()
    );
    write(&src.join(VERIFICATION_JSON), b"{\"from\": \"source\"}");
    let opts = BuildOptions {
        verification: Some(b"{\"from\": \"option\"}".to_vec()),
        ..BuildOptions::default()
    };
    build_archive(&src, &m, &out, &opts).unwrap();
    assert_eq!(
        read_archive_file(&out, &Limits::default())
            .unwrap()
            .verification(),
        Some(&b"{\"from\": \"option\"}"[..])
    );
}

// ---------------------------------------------------------------------------------------------
// Which files are packed

#[test]
fn ratchetignore_rules_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    // A .gitignore and an .ignore above and inside the bundle must not matter.
    write(&tmp.path().join(".gitignore"), b"*\n");
    write(&tmp.path().join(".ratchetignore"), b"*\n");
    let src = tmp.path().join("src");
    new_bundle(&src);
    write(&src.join(".gitignore"), b"README.md\nkept.log\n");
    write(&src.join(".ignore"), b"CHANGELOG.md\n");
    write(
        &src.join(".ratchetignore"),
        b"*.log\n!important.log\nbuild/\n",
    );
    write(&src.join("a.log"), b"x");
    write(&src.join("important.log"), b"x");
    write(&src.join("build/out.txt"), b"x");
    write(&src.join("sub/.ratchetignore"), b"secret.txt\n");
    write(&src.join("sub/secret.txt"), b"x");
    write(&src.join("sub/public.txt"), b"x");
    write(&src.join("secret.txt"), b"not ignored at the root");
    write(&src.join("sub/deeper/.svn/entries"), b"x");
    let files: Vec<String> = bundle_files(&src)
        .unwrap()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    for kept in [
        ".gitignore",
        ".ignore",
        "CHANGELOG.md",
        "README.md",
        "important.log",
        "secret.txt",
        "sub/public.txt",
        "sub/.ratchetignore",
    ] {
        assert!(
            files.iter().any(|f| f == kept),
            "{kept} missing from {files:?}"
        );
    }
    for gone in [
        "a.log",
        "build/out.txt",
        "sub/secret.txt",
        "sub/deeper/.svn/entries",
    ] {
        assert!(!files.iter().any(|f| f == gone), "{gone} packed: {files:?}");
    }
    let mut sorted = files.clone();
    sorted.sort();
    assert_eq!(files, sorted);
}

#[test]
fn unpackable_sources_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let m = new_bundle(&src);
    let out = tmp.path().join("a.rbundle");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("/etc/passwd", src.join("link")).unwrap();
        let err = build_archive(&src, &m, &out, &BuildOptions::default()).unwrap_err();
        assert!(
            err.to_string().contains("`link`") && err.to_string().contains("symbolic link"),
            "{err}"
        );
        std::fs::remove_file(src.join("link")).unwrap();
    }
    write(&src.join("tasks/addition/Main.js"), b"case twin");
    let err = build_archive(&src, &m, &out, &BuildOptions::default()).unwrap_err();
    assert!(err.to_string().contains("letter case"), "{err}");
    std::fs::remove_file(src.join("tasks/addition/Main.js")).unwrap();
    write(&src.join("what?.txt"), b"x");
    let err = build_archive(&src, &m, &out, &BuildOptions::default()).unwrap_err();
    assert!(err.to_string().contains("what?.txt"), "{err}");
    std::fs::remove_file(src.join("what?.txt")).unwrap();
    // A task the manifest names must not be ignored away.
    write(&src.join(".ratchetignore"), b"tasks/\n");
    let err = build_archive(&src, &m, &out, &BuildOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("tasks/addition")
            && err.to_string().contains("bundle.contents.tasks[0].path"),
        "{err}"
    );
    assert!(!out.exists(), "no archive after a failed build");
    let leftovers = std::fs::read_dir(tmp.path()).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary file left behind");
}

// ---------------------------------------------------------------------------------------------
// Reproducibility

fn copy_tree(from: &Path, to: &Path, reverse: bool, mode: u32, mtime: std::time::SystemTime) {
    let mut files: Vec<_> = tree(from).into_iter().collect();
    if reverse {
        files.reverse();
    }
    for (rel, data) in files {
        let p = to.join(&rel);
        write(&p, &data);
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(mtime).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let _ = mode;
    }
}

#[test]
fn builds_are_byte_identical_from_different_copies() {
    let tmp = tempfile::tempdir().unwrap();
    let orig = tmp.path().join("orig");
    new_bundle(&orig);
    write(
        &orig.join("assets/data.json"),
        &b"{\"k\": 1}\n".repeat(5000),
    );
    let a = tmp.path().join("first/place/bundle");
    let b = tmp.path().join("elsewhere/other-name");
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    copy_tree(&orig, &a, false, 0o644, old);
    copy_tree(&orig, &b, true, 0o755, std::time::SystemTime::now());
    let ba = build(&a, &tmp.path().join("a.rbundle"));
    let bb = build(&b, &tmp.path().join("b.rbundle"));
    assert_eq!(ba.sha256, bb.sha256);
    assert_eq!(
        std::fs::read(&ba.path).unwrap(),
        std::fs::read(&bb.path).unwrap()
    );

    // SOURCE_DATE_EPOCH changes the time stamps, and only them.
    let m = load_manifest(&a).unwrap();
    let opts = BuildOptions::with_source_date_epoch(Some("1700000000")).unwrap();
    let c = build_archive(&a, &m, &tmp.path().join("c.rbundle"), &opts).unwrap();
    assert_ne!(c.sha256, ba.sha256);
    let bytes = std::fs::read(&c.path).unwrap();
    let mut t = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    for e in t.entries().unwrap() {
        let e = e.unwrap();
        assert_eq!(e.header().mtime().unwrap(), 1_700_000_000);
        assert_eq!(e.header().uid().unwrap(), 0);
        assert_eq!(e.header().mode().unwrap(), 0o644);
    }
    assert_eq!(&bytes[4..8], &[0, 0, 0, 0], "no gzip time stamp");
}

#[test]
fn cli_build_is_reproducible_and_honours_source_date_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let orig = tmp.path().join("orig");
    new_bundle(&orig);
    let a = tmp.path().join("a/bundle");
    let b = tmp.path().join("b/copy");
    copy_tree(&orig, &a, false, 0o600, std::time::SystemTime::now());
    copy_tree(&orig, &b, true, 0o644, std::time::SystemTime::UNIX_EPOCH);
    let run = |dir: &Path, out: &Path, epoch: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_ratchet"))
            .args(["bundle", "build"])
            .arg(dir)
            .arg("-o")
            .arg(out)
            .env("SOURCE_DATE_EPOCH", epoch)
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let (ok, text) = run(&a, &tmp.path().join("1.rbundle"), "1700000000");
    assert!(ok, "{text}");
    assert!(
        text.contains("sha256: ") && text.contains("1.rbundle"),
        "{text}"
    );
    let (ok, text) = run(&b, &tmp.path().join("2.rbundle"), "1700000000");
    assert!(ok, "{text}");
    assert_eq!(
        std::fs::read(tmp.path().join("1.rbundle")).unwrap(),
        std::fs::read(tmp.path().join("2.rbundle")).unwrap()
    );
    let (ok, text) = run(&b, &tmp.path().join("3.rbundle"), "soon");
    assert!(!ok && text.contains("SOURCE_DATE_EPOCH"), "{text}");
    assert!(!tmp.path().join("3.rbundle").exists());
}

// ---------------------------------------------------------------------------------------------
// CLI

#[test]
fn cli_refuses_invalid_bundles_and_inspects_archives() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    new_bundle(&src);
    let ratchet = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_ratchet"))
            .args(args)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    // Default output: <id>-<version>.rbundle in the current directory.
    let (code, out, err) = ratchet(&["bundle", "build", "src"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let file = tmp.path().join("com.example.archive-test-0.1.0.rbundle");
    assert!(file.is_file());
    let (code, out, _) = ratchet(&[
        "bundle",
        "inspect",
        "com.example.archive-test-0.1.0.rbundle",
    ]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("com.example.archive-test 0.1.0")
            && out.contains("tasks/addition/main.js")
            && out.contains("addition"),
        "{out}"
    );
    let (code, out, _) = ratchet(&[
        "bundle",
        "inspect",
        "--format",
        "json",
        "com.example.archive-test-0.1.0.rbundle",
    ]);
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["manifest"]["bundle"]["id"], "com.example.archive-test");
    assert_eq!(
        v["archive"]["sha256"],
        archive::sha256_hex(&std::fs::read(&file).unwrap())
    );
    assert!(
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == "bundle.yaml")
    );
    assert_eq!(v["signed"], false);

    // -o to an existing directory.
    std::fs::create_dir(tmp.path().join("dist")).unwrap();
    let (code, _, _) = ratchet(&["bundle", "build", "src", "-o", "dist"]);
    assert_eq!(code, Some(0));
    assert!(
        tmp.path()
            .join("dist/com.example.archive-test-0.1.0.rbundle")
            .is_file()
    );

    // Invalid bundle: every diagnostic printed, nothing written.
    std::fs::remove_dir_all(tmp.path().join("dist")).unwrap();
    std::fs::create_dir(tmp.path().join("dist")).unwrap();
    let yaml = std::fs::read_to_string(src.join("bundle.yaml")).unwrap();
    let broken = yaml
        .replace("version: \"0.1.0\"", "version: \"zero\"")
        .replace("license: \"MIT\"", "license: \"Nope-1\"");
    std::fs::write(src.join("bundle.yaml"), broken).unwrap();
    let (code, _, err) = ratchet(&["bundle", "build", "src", "-o", "dist"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("bundle.version") && err.contains("bundle.license"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(tmp.path().join("dist")).unwrap().count(),
        0
    );

    // Inspecting a corrupt file fails, naming it.
    std::fs::write(tmp.path().join("bad.rbundle"), b"not an archive").unwrap();
    let (code, _, err) = ratchet(&["bundle", "inspect", "bad.rbundle"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("bad.rbundle") && err.contains("corrupt"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Hostile archives, written entry by entry with the tar crate

/// One raw tar entry, written without the tar crate's path checks.
#[derive(Clone)]
struct Raw {
    name: Vec<u8>,
    kind: tar::EntryType,
    data: Vec<u8>,
    link: Vec<u8>,
    /// A PAX `path` record overriding `name`.
    pax_path: Option<Vec<u8>>,
    /// A size written in the header that differs from the data's.
    claimed_size: Option<u64>,
}

fn file(name: &str, data: &[u8]) -> Raw {
    Raw {
        name: name.as_bytes().to_vec(),
        kind: tar::EntryType::Regular,
        data: data.to_vec(),
        link: vec![],
        pax_path: None,
        claimed_size: None,
    }
}

fn special(name: &str, kind: tar::EntryType, link: &str) -> Raw {
    Raw {
        kind,
        link: link.as_bytes().to_vec(),
        ..file(name, b"")
    }
}

fn tar_bytes(entries: &[Raw]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        if let Some(p) = &e.pax_path {
            b.append_pax_extensions([("path", p.as_slice())]).unwrap();
        }
        let mut h = tar::Header::new_gnu();
        if e.name.len() <= 100 {
            h.as_old_mut().name[..e.name.len()].copy_from_slice(&e.name);
        } else {
            // GNU long name, as GNU tar writes it.
            let mut l = tar::Header::new_gnu();
            l.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
            l.set_entry_type(tar::EntryType::GNULongName);
            l.set_size(e.name.len() as u64 + 1);
            l.set_cksum();
            let mut name = e.name.clone();
            name.push(0);
            b.append(&l, name.as_slice()).unwrap();
            h.as_old_mut().name[..100].copy_from_slice(&e.name[..100]);
        }
        h.as_old_mut().linkname[..e.link.len()].copy_from_slice(&e.link);
        h.set_entry_type(e.kind);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_size(e.claimed_size.unwrap_or(e.data.len() as u64));
        h.set_cksum();
        if e.claimed_size.is_some() {
            // Written raw: the header lies about what follows.
            b.get_mut().extend_from_slice(h.as_bytes());
            b.get_mut().extend_from_slice(&e.data);
            continue;
        }
        b.append(&h, e.data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// The entries of a valid archive of the scaffolded bundle.
fn valid_entries() -> Vec<Raw> {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    new_bundle(&src);
    let out = tmp.path().join("v.rbundle");
    build(&src, &out);
    let bytes = std::fs::read(&out).unwrap();
    let mut t = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
    t.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path_bytes().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            Raw {
                name,
                ..file("", &data)
            }
        })
        .collect()
}

/// Rewrites the checksum list to cover every regular entry (so a test fails for its own reason).
fn relist(mut entries: Vec<Raw>) -> Vec<Raw> {
    let mut lines: Vec<(String, String)> = entries
        .iter()
        .filter(|e| e.kind == tar::EntryType::Regular && e.pax_path.is_none())
        .filter_map(|e| String::from_utf8(e.name.clone()).ok())
        .filter(|n| n != CHECKSUM_FILE && n != SIGNATURE_FILE)
        .map(|n| {
            let data = &entries
                .iter()
                .find(|e| e.name == n.as_bytes())
                .unwrap()
                .data;
            (n, archive::sha256_hex(data))
        })
        .collect();
    lines.sort();
    lines.dedup_by(|a, b| a.0 == b.0);
    let list = archive::render_checksum_list(&lines);
    for e in &mut entries {
        if e.name == CHECKSUM_FILE.as_bytes() {
            e.data = list.clone();
        }
    }
    entries
}

fn read(entries: &[Raw]) -> Result<BundleArchive, ArchiveError> {
    read_archive(gzip(&tar_bytes(entries)).as_slice(), &Limits::default())
}

/// Adds `extra` before the checksum list (last entry), relists, and reads.
fn read_with(extra: Vec<Raw>) -> Result<BundleArchive, ArchiveError> {
    let mut entries = valid_entries();
    let last = entries.pop().unwrap();
    entries.extend(extra);
    entries.push(last);
    read(&relist(entries))
}

#[track_caller]
fn assert_refused<T: std::fmt::Debug>(
    result: Result<T, ArchiveError>,
    names: &str,
    what: &str,
) -> ArchiveError {
    let err = result.expect_err("hostile archive accepted");
    let msg = err.to_string();
    assert!(msg.contains(names), "error does not name `{names}`: {msg}");
    assert!(msg.contains(what), "error does not say `{what}`: {msg}");
    err
}

#[test]
fn valid_archive_rebuilt_with_the_tar_crate_is_accepted() {
    let a = read(&valid_entries()).unwrap();
    assert_eq!(a.manifest.bundle.id.as_str(), "com.example.archive-test");
    // Directory entries with safe paths are fine.
    let a = read_with(vec![
        special("tasks/", tar::EntryType::Directory, ""),
        special("empty-dir", tar::EntryType::Directory, ""),
    ])
    .unwrap();
    assert!(a.files.contains_key("bundle.yaml"));
    // bundle.sig is accepted unlisted and exposed.
    let a = read_with(vec![file(SIGNATURE_FILE, b"untrusted comment: x\nRW...\n")]).unwrap();
    assert_eq!(
        a.signature.as_deref(),
        Some(&b"untrusted comment: x\nRW...\n"[..])
    );
}

#[test]
fn refuses_unsafe_paths() {
    assert_refused(
        read_with(vec![file("/etc/passwd", b"x")]),
        "/etc/passwd",
        "absolute",
    );
    assert_refused(read_with(vec![file("../evil", b"x")]), "../evil", "..");
    assert_refused(
        read_with(vec![file("tasks/../../evil", b"x")]),
        "tasks/../../evil",
        "..",
    );
    assert_refused(read_with(vec![file("./a", b"x")]), "./a", "`.` component");
    assert_refused(
        read_with(vec![file("C:/windows", b"x")]),
        "C:/windows",
        "absolute",
    );
    assert_refused(
        read_with(vec![file("a\\..\\..\\b", b"x")]),
        "a\\..\\..\\b",
        "`\\`",
    );
    assert_refused(
        read_with(vec![special("../up/", tar::EntryType::Directory, "")]),
        "../up/",
        "..",
    );
    let long = format!("{}/../../../../etc/cron.d/x", "a".repeat(120));
    assert_refused(read_with(vec![file(&long, b"x")]), "etc/cron.d/x", "..");
    let mut pax = file("innocent.txt", b"x");
    pax.pax_path = Some(b"../pax-escape".to_vec());
    assert_refused(read_with(vec![pax]), "../pax-escape", "..");
    let mut bad_utf8 = file("x", b"x");
    bad_utf8.name = b"caf\xe9".to_vec();
    assert_refused(read_with(vec![bad_utf8]), "caf", "UTF-8");
}

#[test]
fn refuses_links_devices_and_other_types() {
    assert_refused(
        read_with(vec![special(
            "link",
            tar::EntryType::Symlink,
            "/etc/passwd",
        )]),
        "link",
        "symbolic link (to `/etc/passwd`)",
    );
    assert_refused(
        read_with(vec![special(
            "inside",
            tar::EntryType::Symlink,
            "README.md",
        )]),
        "inside",
        "symbolic link",
    );
    assert_refused(
        read_with(vec![special("hard", tar::EntryType::Link, "/etc/shadow")]),
        "hard",
        "hard link",
    );
    assert_refused(
        read_with(vec![special("hard2", tar::EntryType::Link, "bundle.yaml")]),
        "hard2",
        "hard link",
    );
    assert_refused(
        read_with(vec![special("tty", tar::EntryType::Char, "")]),
        "tty",
        "character device",
    );
    assert_refused(
        read_with(vec![special("sda", tar::EntryType::Block, "")]),
        "sda",
        "block device",
    );
    assert_refused(
        read_with(vec![special("pipe", tar::EntryType::Fifo, "")]),
        "pipe",
        "FIFO",
    );
}

#[test]
fn refuses_duplicates_and_conflicts() {
    assert_refused(
        read_with(vec![file("README.md", b"second copy")]),
        "README.md",
        "duplicate",
    );
    let err = assert_refused(
        read_with(vec![file("readme.md", b"case twin")]),
        "readme.md",
        "duplicate of entry `README.md`",
    );
    assert!(matches!(err, ArchiveError::DuplicateEntry { .. }));
    assert_refused(
        read_with(vec![file("README.md/x", b"x")]),
        "README.md/x",
        "both a file and a directory",
    );
    assert_refused(
        read_with(vec![special("bundle.yaml/", tar::EntryType::Directory, "")]),
        "bundle.yaml/",
        "both a file and a directory",
    );
}

#[test]
fn refuses_unlisted_missing_and_altered_files() {
    // Not listed: add a file after relisting.
    let mut entries = relist(valid_entries());
    let last = entries.pop().unwrap();
    entries.push(file("smuggled.js", b"evil()"));
    entries.push(last);
    assert!(matches!(
        assert_refused(read(&entries), "smuggled.js", "not listed"),
        ArchiveError::NotListed { .. }
    ));

    // Altered content.
    let mut entries = valid_entries();
    let main = entries
        .iter_mut()
        .find(|e| e.name == b"tasks/addition/main.js")
        .unwrap();
    main.data = b"(function () { return { sum: 42 }; })".to_vec();
    assert!(matches!(
        assert_refused(read(&entries), "tasks/addition/main.js", "SHA-256"),
        ArchiveError::ChecksumMismatch { .. }
    ));

    // Listed but absent.
    let mut entries = valid_entries();
    entries.retain(|e| e.name != b"README.md");
    assert_refused(read(&entries), "README.md", "missing");

    // No checksum list at all.
    let mut entries = valid_entries();
    entries.retain(|e| e.name != CHECKSUM_FILE.as_bytes());
    assert_refused(read(&entries), CHECKSUM_FILE, "missing");

    // The list must not list bundle.sig (it is signed separately).
    let mut entries = valid_entries();
    let last = entries.pop().unwrap();
    entries.push(file(SIGNATURE_FILE, b"sig"));
    entries.push(last);
    let mut lines = archive::parse_checksum_list(&entries.last().unwrap().data).unwrap();
    lines.push((SIGNATURE_FILE.into(), archive::sha256_hex(b"sig")));
    entries.last_mut().unwrap().data = archive::render_checksum_list(&lines);
    assert_refused(
        read(&entries),
        CHECKSUM_FILE,
        "`bundle.sig` must not be listed",
    );

    // A malformed list names its line.
    let mut entries = valid_entries();
    entries
        .last_mut()
        .unwrap()
        .data
        .extend_from_slice(b"garbage\n");
    assert_refused(read(&entries), ".bundle/checksum.sha256:", "garbage");
}

#[test]
fn refuses_bad_manifests() {
    let with_manifest = |json: serde_json::Value| {
        let mut entries = valid_entries();
        let m = entries
            .iter_mut()
            .find(|e| e.name == MANIFEST_JSON.as_bytes())
            .unwrap();
        m.data = serde_json::to_vec(&json).unwrap();
        read(&relist(entries))
    };
    let good: serde_json::Value = serde_json::from_slice(
        &valid_entries()
            .into_iter()
            .find(|e| e.name == MANIFEST_JSON.as_bytes())
            .unwrap()
            .data,
    )
    .unwrap();

    let mut v = good.clone();
    // 2 is the version with `runtime` (Ratchet compatibility); 3 is not known.
    v["format_version"] = 3.into();
    assert_refused(
        with_manifest(v),
        MANIFEST_JSON,
        "format_version 3 is not supported",
    );
    let mut v = good.clone();
    v["bundle"]["id"] = "Not An Id".into();
    assert_refused(with_manifest(v), MANIFEST_JSON, "bundle id");
    let mut v = good.clone();
    v["bundle"]["version"] = "1.0".into();
    assert_refused(with_manifest(v), MANIFEST_JSON, "version");
    let mut v = good.clone();
    v["bundle"]["id"] = "com.example.someone-else".into();
    assert_refused(
        with_manifest(v),
        MANIFEST_JSON,
        "but bundle.yaml is com.example.archive-test",
    );
    let mut v = good.clone();
    v["bundle"]["readme"] = "../../etc/passwd".into();
    assert_refused(with_manifest(v), MANIFEST_JSON, "bundle.readme");
    // A resolved manifest that shows other permissions (or anything else) than bundle.yaml.
    let mut v = good.clone();
    v["bundle"]["license"] = "Apache-2.0".into();
    assert_refused(
        with_manifest(v),
        MANIFEST_JSON,
        "disagrees with bundle.yaml",
    );
    let mut v = good.clone();
    v["bundle"]["permissions"] = serde_json::json!({"network": {"domains": ["api.example.com"]}});
    assert_refused(
        with_manifest(v),
        MANIFEST_JSON,
        "disagrees with bundle.yaml",
    );
    // A task named by the manifest but not in the archive.
    let mut entries = valid_entries();
    entries.retain(|e| !e.name.starts_with(b"tasks/"));
    assert_refused(
        read(&relist(entries)),
        "bundle.contents.tasks[0].path",
        "which the archive does not hold",
    );

    // A huge manifest is not parsed at all.
    let mut entries = valid_entries();
    let yaml = entries
        .iter_mut()
        .find(|e| e.name == b"bundle.yaml")
        .unwrap();
    yaml.data.extend(b"# padding\n".repeat(200_000));
    assert_refused(
        read(&relist(entries)),
        "bundle.yaml",
        "a manifest may have at most 1048576",
    );

    let mut entries = valid_entries();
    entries.retain(|e| e.name != MANIFEST_JSON.as_bytes());
    assert_refused(read(&relist(entries)), MANIFEST_JSON, "missing");
    let mut entries = valid_entries();
    entries.retain(|e| e.name != b"bundle.yaml");
    assert_refused(read(&relist(entries)), "bundle.yaml", "missing");
}

#[test]
fn refuses_oversized_archives_and_gzip_bombs() {
    // Too many entries.
    let limits = Limits {
        max_entries: 5,
        ..Limits::default()
    };
    let tar = tar_bytes(&relist(valid_entries()));
    let err = read_archive(gzip(&tar).as_slice(), &limits).unwrap_err();
    assert!(
        matches!(err, ArchiveError::TooManyEntries { limit: 5, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("entry `"), "{err}");

    // A gzip bomb: 64 MiB of zeros in one entry compresses to ~64 KiB.
    let bomb = gzip(&tar_bytes(&[file("bomb.bin", &vec![0u8; 64 << 20])]));
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    let limits = Limits {
        max_unpacked_bytes: 8 << 20,
        ..Limits::default()
    };
    assert_refused(
        read_archive(bomb.as_slice(), &limits),
        "bomb.bin",
        "exceeds the limit of 8388608 bytes",
    );

    // Many entries that are each small but add up.
    let many: Vec<Raw> = (0..40)
        .map(|i| file(&format!("f{i}"), &vec![0u8; 1 << 20]))
        .collect();
    let err = read_archive(
        gzip(&tar_bytes(&many)).as_slice(),
        &Limits {
            max_unpacked_bytes: 16 << 20,
            ..Limits::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, ArchiveError::UnpackedTooLarge { .. }),
        "{err}"
    );

    // A header claiming a huge size is refused before anything is allocated.
    let mut liar = file("liar.bin", b"short");
    liar.claimed_size = Some(1 << 40);
    assert_refused(
        read_archive(gzip(&tar_bytes(&[liar])).as_slice(), &Limits::default()),
        "liar.bin",
        "exceeds the limit",
    );

    // Compressed size over the cap, from a stream and from a file.
    let valid = gzip(&tar_bytes(&relist(valid_entries())));
    let limits = Limits {
        max_archive_bytes: 100,
        ..Limits::default()
    };
    assert!(matches!(
        read_archive(valid.as_slice(), &limits),
        Err(ArchiveError::ArchiveTooLarge { .. })
    ));
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("big.rbundle");
    std::fs::write(&p, &valid).unwrap();
    assert_refused(
        read_archive_file(&p, &limits),
        "big.rbundle",
        "larger than the limit of 100 bytes",
    );
    // At exactly the limit it is fine.
    let exact = Limits {
        max_archive_bytes: valid.len() as u64,
        ..Limits::default()
    };
    read_archive(valid.as_slice(), &exact).unwrap();
}

#[test]
fn refuses_corrupt_and_trailing_data() {
    let valid = gzip(&tar_bytes(&relist(valid_entries())));
    read_archive(valid.as_slice(), &Limits::default()).unwrap();

    assert_refused(
        read_archive(&b"plain text, not gzip"[..], &Limits::default()),
        "at the start",
        "corrupt",
    );
    let mut truncated = valid.clone();
    truncated.truncate(valid.len() / 2);
    assert!(matches!(
        read_archive(truncated.as_slice(), &Limits::default()),
        Err(ArchiveError::Malformed { .. })
    ));
    let mut flipped = valid.clone();
    let n = flipped.len();
    flipped[n - 6] ^= 0xff; // inside the CRC-32 / length trailer
    assert!(read_archive(flipped.as_slice(), &Limits::default()).is_err());

    // A second gzip member hiding more entries.
    let mut concatenated = valid.clone();
    concatenated.extend(gzip(&tar_bytes(&[file("hidden.js", b"evil()")])));
    assert_refused(
        read_archive(concatenated.as_slice(), &Limits::default()),
        "",
        "after the end of the gzip stream",
    );

    // Data after the tar end-of-archive marker inside the gzip stream.
    let mut tar = tar_bytes(&relist(valid_entries()));
    tar.extend(tar_bytes(&[file("hidden.js", b"evil()")]));
    assert_refused(
        read_archive(gzip(&tar).as_slice(), &Limits::default()),
        "",
        "after the end of the tar archive",
    );
}

#[test]
fn extraction_never_writes_outside_the_destination() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = read(&valid_entries()).unwrap();
    // `files` is public: a caller could put anything there; extraction checks again.
    a.files.insert("../outside.txt".into(), b"x".to_vec());
    let dest = tmp.path().join("d/dest");
    assert_refused(a.extract_to(&dest), "../outside.txt", "..");
    assert!(!tmp.path().join("d/outside.txt").exists());
    assert!(!dest.exists());
    assert_eq!(
        std::fs::read_dir(tmp.path().join("d")).unwrap().count(),
        0,
        "temporary directory removed"
    );
    let _: PathBuf = dest;
}
