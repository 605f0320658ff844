//! Registry operations on real archives: publish, immutability, look-alikes, dependencies,
//! bad input, yank/deprecate, verify and gc.

mod common;

use common::*;
use ratchet_formats::index::{IndexFile, NamesFile, index_path, meta_path};
use ratchet_formats::manifest::BundleId;
use ratchet_publish::{PublishError, Registry};
use std::process::Command;

fn id(s: &str) -> BundleId {
    BundleId::parse(s).unwrap()
}

fn v(s: &str) -> semver::Version {
    semver::Version::parse(s).unwrap()
}

#[test]
fn publish_writes_archive_index_line_and_name() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path()).reg;
    let a = Bundle::new("com.test.alpha", "1.0.0").build(t.path());
    let p = reg.publish(&a, TIME).unwrap();
    assert!(p.new_bundle);
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(p.line.sha256, ratchet_formats::archive::sha256_hex(&bytes));
    assert_eq!(p.line.size, bytes.len() as u64);
    assert_eq!(
        std::fs::read(reg.root().join(&p.archive_file)).unwrap(),
        bytes
    );
    assert!(p.archive_file.contains(&p.line.sha256));
    let idx = std::fs::read_to_string(reg.root().join(index_path(&id("com.test.alpha")))).unwrap();
    assert_eq!(idx, p.line.to_line());
    assert!(idx.contains("\"published\":\"2026-01-01T00:00:00Z\""));
    assert!(
        idx.contains("\"max_memory\":67108864"),
        "resources are in the line: {idx}"
    );
    let b = Bundle::new("com.test.alpha", "1.1.0").build(t.path());
    assert!(!reg.publish(&b, TIME).unwrap().new_bundle);
    assert_eq!(
        std::fs::read_to_string(reg.root().join("names.txt")).unwrap(),
        "com.test.alpha\n"
    );
    let list = reg.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].latest().unwrap().version, v("1.1.0"));
    let r = assert_consistent(&reg);
    assert_eq!((r.bundles, r.versions, r.archives), (1, 2, 2));
}

#[test]
fn versions_are_immutable_even_with_the_same_content() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path()).reg;
    let a = Bundle::new("com.test.alpha", "1.0.0").build(t.path());
    reg.publish(&a, TIME).unwrap();
    let before = snapshot(reg.root());
    let e = reg.publish(&a, TIME).unwrap_err();
    assert!(matches!(e, PublishError::VersionExists { .. }), "{e}");
    assert!(e.to_string().contains("immutable"));
    // A different archive of the same version (other content) is refused too.
    let other = t.path().join("other");
    let b = Bundle::new("com.test.alpha", "1.0.0")
        .readme("changed")
        .build(&other);
    assert!(matches!(
        reg.publish(&b, TIME).unwrap_err(),
        PublishError::VersionExists { .. }
    ));
    // Build metadata does not make a new version.
    let c = Bundle::new("com.test.alpha", "1.0.0+rebuild").build(t.path());
    assert!(matches!(
        reg.publish(&c, TIME).unwrap_err(),
        PublishError::VersionExists { .. }
    ));
    assert_eq!(snapshot(reg.root()), before);
}

#[test]
fn look_alike_ids_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path()).reg;
    reg.publish(
        &Bundle::new("com.test.data-tools", "1.0.0").build(t.path()),
        TIME,
    )
    .unwrap();
    let before = snapshot(reg.root());
    for look_alike in [
        "com.test.data_tools",
        "com.test.datatools",
        "com.test-data.tools",
    ] {
        let e = reg
            .publish(&Bundle::new(look_alike, "1.0.0").build(t.path()), TIME)
            .unwrap_err();
        match &e {
            PublishError::LookAlike { existing, .. } => {
                assert_eq!(existing.as_str(), "com.test.data-tools")
            }
            other => panic!("{look_alike}: {other}"),
        }
    }
    assert_eq!(snapshot(reg.root()), before);
    reg.publish(
        &Bundle::new("com.test.data-tools2", "1.0.0").build(t.path()),
        TIME,
    )
    .unwrap();
}

#[test]
fn dependencies_must_be_resolvable_in_the_registry() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path()).reg;
    let app = Bundle::new("com.test.app", "1.0.0")
        .dep("com.test.lib", "^2.0")
        .build(t.path());
    let before = snapshot(reg.root());
    let e = reg.publish(&app, TIME).unwrap_err();
    assert!(
        matches!(e, PublishError::UnresolvableDependency { .. }),
        "{e}"
    );
    assert!(e.to_string().contains("does not hold it"), "{e}");
    assert_eq!(snapshot(reg.root()), before);

    reg.publish(&Bundle::new("com.test.lib", "1.5.0").build(t.path()), TIME)
        .unwrap();
    let before = snapshot(reg.root());
    let e = reg.publish(&app, TIME).unwrap_err().to_string();
    assert!(
        e.contains("no published, unyanked version matches") && e.contains("1.5.0"),
        "{e}"
    );
    assert_eq!(snapshot(reg.root()), before);

    reg.publish(&Bundle::new("com.test.lib", "2.1.0").build(t.path()), TIME)
        .unwrap();
    reg.set_yanked(&id("com.test.lib"), &v("2.1.0"), true)
        .unwrap();
    let e = reg.publish(&app, TIME).unwrap_err().to_string();
    assert!(e.contains("2.1.0 (yanked)"), "{e}");

    reg.set_yanked(&id("com.test.lib"), &v("2.1.0"), false)
        .unwrap();
    reg.publish(&app, TIME).unwrap();
    assert_consistent(&reg);
}

#[test]
fn bad_archives_are_refused_naming_the_file() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path()).reg;
    reg.publish(
        &Bundle::new("com.test.alpha", "1.0.0").build(t.path()),
        TIME,
    )
    .unwrap();
    let before = snapshot(reg.root());
    let good = Bundle::new("com.test.beta", "1.0.0").build(t.path());
    let bytes = std::fs::read(&good).unwrap();

    let garbage = t.path().join("com.test.beta-1.0.0.rbundle");
    std::fs::write(&garbage, b"this is not gzip").unwrap();
    let e = reg.publish(&garbage, TIME).unwrap_err();
    assert!(
        matches!(e, PublishError::BadArchive { .. })
            && e.to_string().contains(&garbage.display().to_string()),
        "{e}"
    );

    std::fs::write(&garbage, &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(
        reg.publish(&garbage, TIME).unwrap_err(),
        PublishError::BadArchive { .. }
    ));

    let renamed = t.path().join("com.test.gamma-1.0.0.rbundle");
    std::fs::write(&renamed, &bytes).unwrap();
    let e = reg.publish(&renamed, TIME).unwrap_err();
    assert!(matches!(e, PublishError::NameMismatch { .. }), "{e}");
    assert!(e.to_string().contains("com.test.beta-1.0.0.rbundle"), "{e}");

    let missing = reg
        .publish(&t.path().join("nope.rbundle"), TIME)
        .unwrap_err();
    assert!(missing.to_string().contains("nope.rbundle"), "{missing}");

    // A well-formed archive of an invalid bundle (the task has no main.js).
    let invalid = Bundle::new("com.test.delta", "1.0.0")
        .edit(|d| std::fs::remove_file(d.join("tasks/addition/main.js")).unwrap())
        .build(&t.path().join("inv"));
    let e = reg.publish(&invalid, TIME).unwrap_err();
    assert!(matches!(e, PublishError::Invalid { .. }), "{e}");
    assert!(e.to_string().contains("task-missing-main"), "{e}");

    assert_eq!(snapshot(reg.root()), before);
}

#[test]
fn corrupt_registry_files_stop_changes_and_name_the_file() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path()).reg;
    reg.publish(
        &Bundle::new("com.test.alpha", "1.0.0").build(t.path()),
        TIME,
    )
    .unwrap();
    let idx = reg.root().join(index_path(&id("com.test.alpha")));
    let mut text = std::fs::read(&idx).unwrap();
    text.extend_from_slice(b"{\"v\":1,\"id\":\"com.test.al"); // partially written line
    std::fs::write(&idx, &text).unwrap();
    let before = snapshot(reg.root());
    let e = reg
        .publish(
            &Bundle::new("com.test.alpha", "1.1.0").build(t.path()),
            TIME,
        )
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PublishError::CorruptIndex { .. }), "{msg}");
    assert!(
        msg.contains(&index_path(&id("com.test.alpha"))) && msg.contains(":2:"),
        "{msg}"
    );
    assert!(
        reg.set_yanked(&id("com.test.alpha"), &v("1.0.0"), true)
            .is_err()
    );
    assert_eq!(snapshot(reg.root()), before);
    let report = reg.verify();
    assert!(!report.is_ok());
    assert!(
        report
            .errors()
            .any(|d| d.code == "bad-line" && d.message.starts_with("line 2"))
    );

    // Not a registry at all.
    let plain = t.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let e = Registry::open(&plain).unwrap_err().to_string();
    assert!(
        e.contains("is not a ratchet registry") && e.contains("config.json"),
        "{e}"
    );
    std::fs::write(plain.join("config.json"), "{\"name\": 1").unwrap();
    let e = Registry::open(&plain).unwrap_err().to_string();
    assert!(e.contains("config.json:1"), "{e}");
    assert!(
        Registry::init(reg.root(), "x", Default::default(), None).is_err(),
        "init refuses an existing registry"
    );
}

#[test]
fn yank_and_deprecate_touch_only_their_bytes() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path()).reg;
    for ver in ["1.0.0", "1.1.0", "1.2.0"] {
        reg.publish(&Bundle::new("com.test.alpha", ver).build(t.path()), TIME)
            .unwrap();
    }
    reg.publish(&Bundle::new("com.test.beta", "1.0.0").build(t.path()), TIME)
        .unwrap();
    let a = id("com.test.alpha");
    let idx = reg.root().join(index_path(&a));
    let before = std::fs::read_to_string(&idx).unwrap();
    assert!(reg.set_yanked(&a, &v("1.1.0"), true).unwrap());
    assert!(
        !reg.set_yanked(&a, &v("1.1.0"), true).unwrap(),
        "second yank changes nothing"
    );
    let after = std::fs::read_to_string(&idx).unwrap();
    let (b, aft): (Vec<_>, Vec<_>) = (before.lines().collect(), after.lines().collect());
    assert_eq!((b[0], b[2]), (aft[0], aft[2]));
    assert_eq!(aft[1], b[1].replace("\"yanked\":false", "\"yanked\":true"));
    assert!(matches!(
        reg.set_yanked(&a, &v("9.0.0"), true),
        Err(PublishError::UnknownVersion(..))
    ));
    assert!(matches!(
        reg.set_yanked(&id("com.test.none"), &v("1.0.0"), true),
        Err(PublishError::UnknownBundle(..))
    ));

    reg.deprecate(&a, "use beta", Some(&id("com.test.beta")), TIME)
        .unwrap();
    // The version lines stay byte for byte; the index file's metadata line (the registry
    // says `meta-in-index`, §6.3.1) now holds the deprecation.
    let deprecated = std::fs::read_to_string(&idx).unwrap();
    let (first, rest) = deprecated.split_once('\n').unwrap();
    assert_eq!(rest, after, "deprecation does not rewrite version lines");
    assert!(
        first.starts_with(
            r#"{"v":2,"meta":{"v":1,"id":"com.test.alpha","deprecated":{"message":"use beta","#
        ),
        "{first}"
    );
    let meta = std::fs::read_to_string(reg.root().join(meta_path(&a))).unwrap();
    assert!(
        meta.contains("\"replacement\": \"com.test.beta\""),
        "{meta}"
    );
    let s = reg.bundle(&a).unwrap();
    assert_eq!(s.deprecated.clone().unwrap().message, "use beta");
    assert_eq!(s.latest().unwrap().version, v("1.2.0"));
    assert!(
        reg.deprecate(&a, "x", Some(&id("com.test.none")), TIME)
            .is_err()
    );
    assert!(reg.undeprecate(&a).unwrap());
    assert!(reg.bundle(&a).unwrap().deprecated.is_none());
    assert!(reg.set_yanked(&a, &v("1.1.0"), false).unwrap());
    let restored = std::fs::read_to_string(&idx).unwrap();
    let (first, rest) = restored.split_once('\n').unwrap();
    assert_eq!(rest, before, "unyank restores the version lines' bytes");
    assert_eq!(first, r#"{"v":2,"meta":{"v":1,"id":"com.test.alpha"}}"#);
    assert_consistent(&reg);
}

/// Metadata lines (index-format.md §6.3.1): `verify` finds a line behind, missing, bad or
/// unasked for; `gc` of an unsigned registry brings a line up to its metadata file.
#[test]
fn metadata_lines_follow_metadata_files() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path()).reg;
    assert!(reg.config().meta_in_index, "init writes meta-in-index");
    for b in ["com.test.alpha", "com.test.beta"] {
        reg.publish(&Bundle::new(b, "1.0.0").build(t.path()), TIME)
            .unwrap();
    }
    let a = id("com.test.alpha");
    let idx = reg.root().join(index_path(&a));
    let meta = reg.root().join(meta_path(&a));
    let codes =
        |reg: &Registry| -> Vec<&'static str> { reg.verify().errors().map(|d| d.code).collect() };
    // An unsigned bundle has no metadata: no file, no line.
    assert!(!meta.exists());
    assert_eq!(IndexFile::load(&idx, Some(&a)).unwrap().meta, None);
    reg.deprecate(&a, "use beta", Some(&id("com.test.beta")), TIME)
        .unwrap();
    let line = IndexFile::load(&idx, Some(&a))
        .unwrap()
        .meta
        .unwrap()
        .unwrap();
    assert_eq!(line.deprecated.unwrap().message, "use beta");
    assert!(
        codes(&reg).is_empty(),
        "{:?}",
        reg.verify().errors().collect::<Vec<_>>()
    );

    // A change that stopped between its two files: the metadata file is ahead.
    let synced = std::fs::read(&idx).unwrap();
    let ahead = std::fs::read_to_string(&meta)
        .unwrap()
        .replace("use beta", "use beta instead");
    std::fs::write(&meta, &ahead).unwrap();
    assert_eq!(codes(&reg), ["meta-line-differs"]);
    let dry = reg.gc_with(true).unwrap();
    assert_eq!(dry.rewritten_meta_lines, std::slice::from_ref(&a));
    assert_eq!(
        std::fs::read(&idx).unwrap(),
        synced,
        "a dry run writes nothing"
    );
    assert_eq!(
        reg.gc().unwrap().rewritten_meta_lines,
        std::slice::from_ref(&a)
    );
    assert!(codes(&reg).is_empty());
    let line = IndexFile::load(&idx, Some(&a))
        .unwrap()
        .meta
        .unwrap()
        .unwrap();
    assert_eq!(line.deprecated.unwrap().message, "use beta instead");
    // Version lines kept their bytes.
    assert_eq!(
        std::fs::read(&idx).unwrap().split(|&b| b == b'\n').nth(1),
        synced.split(|&b| b == b'\n').nth(1)
    );

    // A line removed (an index file written by an older tool) is missing; gc writes it.
    let without = ratchet_formats::index::with_meta_line(&std::fs::read(&idx).unwrap(), None);
    std::fs::write(&idx, &without).unwrap();
    assert_eq!(codes(&reg), ["missing-meta-line"]);
    assert_eq!(
        reg.gc().unwrap().rewritten_meta_lines,
        std::slice::from_ref(&a)
    );
    assert!(codes(&reg).is_empty());

    // A line about another bundle is an error gc leaves alone (it refuses to run).
    let other = ratchet_formats::index::BundleMeta::new(id("com.test.beta"));
    std::fs::write(
        &idx,
        ratchet_formats::index::with_meta_line(&without, Some(&other)),
    )
    .unwrap();
    assert_eq!(codes(&reg), ["bad-meta-line"]);
    assert!(reg.gc().is_err());
    std::fs::write(&idx, &without).unwrap();
    reg.gc().unwrap();

    // A registry without `meta-in-index` must not have lines: its clients ignore them.
    let cfg = reg.root().join("config.json");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("\"meta-in-index\": true", "\"meta-in-index\": false"),
    )
    .unwrap();
    let mut reg = Registry::open(reg.root()).unwrap();
    assert_eq!(codes(&reg), ["meta-line-without-config"]);
    // `ratchet-index meta-in-index` turns the key on (the line is right: nothing to rewrite).
    assert_eq!(reg.enable_meta_in_index().unwrap(), []);
    assert!(
        std::fs::read_to_string(&cfg)
            .unwrap()
            .contains("\"meta-in-index\": true")
    );
    assert_consistent(&reg);
    assert_eq!(
        reg.enable_meta_in_index().unwrap(),
        [],
        "nothing left to do"
    );
}

/// A registry of the older layout (`init --no-meta-in-index`) gets its metadata lines from
/// `ratchet-index meta-in-index`, which also repairs lines a change left behind.
#[test]
fn meta_in_index_turns_an_older_registry_over() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("old");
    let ri = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ratchet-index"))
            .args(args)
            .output()
            .unwrap()
    };
    let d = dir.to_str().unwrap();
    assert!(ri(&["init", d, "--no-meta-in-index"]).status.success());
    let mut reg = Registry::open(&dir).unwrap();
    assert!(!reg.config().meta_in_index);
    for b in ["com.test.alpha", "com.test.beta"] {
        reg.publish(&Bundle::new(b, "1.0.0").build(t.path()), TIME)
            .unwrap();
    }
    let a = id("com.test.alpha");
    reg.deprecate(&a, "use beta", Some(&id("com.test.beta")), TIME)
        .unwrap();
    let idx = dir.join(index_path(&a));
    assert_eq!(
        IndexFile::load(&idx, Some(&a)).unwrap().meta,
        None,
        "no line yet"
    );
    let o = ri(&["meta-in-index", d]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("wrote the metadata line of com.test.alpha"),
        "{out}"
    );
    assert!(
        out.contains("turned on, 1 index file(s) rewritten"),
        "{out}"
    );
    reg = Registry::open(&dir).unwrap();
    assert!(reg.config().meta_in_index);
    let line = IndexFile::load(&idx, Some(&a))
        .unwrap()
        .meta
        .unwrap()
        .unwrap();
    assert_eq!(line.deprecated.unwrap().message, "use beta");
    assert_consistent(&reg);
    // An older publisher's deprecation (the metadata file alone): found, then repaired.
    let meta = dir.join(meta_path(&id("com.test.beta")));
    let mut m = ratchet_formats::index::BundleMeta::new(id("com.test.beta"));
    m.deprecated = Some(ratchet_formats::index::Deprecation {
        message: "gone".into(),
        replacement: None,
        since: TIME.into(),
    });
    std::fs::create_dir_all(meta.parent().unwrap()).unwrap();
    std::fs::write(&meta, m.to_json()).unwrap();
    assert_eq!(
        reg.verify().errors().map(|d| d.code).collect::<Vec<_>>(),
        ["missing-meta-line"]
    );
    assert_eq!(reg.enable_meta_in_index().unwrap(), [id("com.test.beta")]);
    assert_consistent(&reg);
}

#[test]
fn verify_finds_every_kind_of_damage_and_gc_repairs_leftovers() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path()).reg;
    reg.publish(&Bundle::new("com.test.lib", "1.0.0").build(t.path()), TIME)
        .unwrap();
    let p = reg
        .publish(
            &Bundle::new("com.test.app", "1.0.0")
                .dep("com.test.lib", "^1")
                .build(t.path()),
            TIME,
        )
        .unwrap();
    let p2 = reg
        .publish(&Bundle::new("com.test.app", "1.1.0").build(t.path()), TIME)
        .unwrap();
    assert_consistent(&reg);
    let root = reg.root().to_path_buf();
    let app_idx = root.join(index_path(&id("com.test.app")));
    let lib_idx = root.join(index_path(&id("com.test.lib")));
    let original = std::fs::read_to_string(&app_idx).unwrap();

    let codes = |reg: &Registry| {
        let mut c: Vec<&'static str> = reg.verify().diagnostics.iter().map(|d| d.code).collect();
        c.sort();
        c
    };
    // Tampered archive bytes.
    let arch = root.join(&p.archive_file);
    let good = std::fs::read(&arch).unwrap();
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 20] ^= 0xff;
    std::fs::write(&arch, &bad).unwrap();
    assert_eq!(codes(&reg), ["bad-archive"]);
    std::fs::remove_file(&arch).unwrap();
    assert!(reg.verify().diagnostics[0].message.contains("missing"));
    std::fs::write(&arch, &good).unwrap();

    // A line that disagrees with its archive's manifest; a duplicate version; a bad line.
    std::fs::write(
        &app_idx,
        original.replacen("\"license\":\"MIT\"", "\"license\":\"GPL-3.0\"", 1),
    )
    .unwrap();
    let r = reg.verify();
    assert!(
        r.errors()
            .any(|d| d.code == "line-disagrees" && d.message.contains("license")),
        "{:?}",
        r.diagnostics
    );
    let first = original.lines().next().unwrap();
    std::fs::write(&app_idx, format!("{original}{first}\n")).unwrap();
    assert_eq!(codes(&reg), ["duplicate-version"]);
    std::fs::write(
        &app_idx,
        format!("{original}{{\"v\":1}}\n{{\"v\":99,\"future\":true}}\n"),
    )
    .unwrap();
    let r = reg.verify();
    assert_eq!(r.errors().count(), 1, "{:?}", r.diagnostics);
    assert!(
        r.diagnostics
            .iter()
            .any(|d| d.code == "bad-line" && d.message.starts_with("line 3"))
    );
    assert!(
        r.diagnostics.iter().any(|d| d.code == "newer-line"),
        "unknown schema versions are skipped with a note"
    );
    std::fs::write(&app_idx, &original).unwrap();

    // A dependency that disappeared, an orphan name.
    let lib = std::fs::read(&lib_idx).unwrap();
    std::fs::remove_file(&lib_idx).unwrap();
    let c = codes(&reg);
    assert!(
        c.contains(&"unresolvable-dependency")
            && c.contains(&"orphan-name")
            && c.contains(&"unreferenced-archive"),
        "{c:?}"
    );
    std::fs::write(&lib_idx, lib).unwrap();
    assert_consistent(&reg);

    // Leftovers of interrupted publishes are warnings; gc removes or repairs them.
    std::fs::write(
        root.join("archives/ab/")
            .join(format!("{}.rbundle", "ab".repeat(32))),
        b"x",
    )
    .ok();
    std::fs::create_dir_all(root.join("archives/ab")).unwrap();
    std::fs::write(
        root.join("archives/ab/")
            .join(format!("{}.rbundle", "ab".repeat(32))),
        b"x",
    )
    .unwrap();
    std::fs::write(app_idx.parent().unwrap().join(".tmp-abc"), b"partial").unwrap();
    std::fs::write(root.join("names.txt"), "com.test.lib\ncom.test.ap").unwrap();
    let r = assert_consistent(&reg);
    let mut w: Vec<&str> = r.diagnostics.iter().map(|d| d.code).collect();
    w.sort();
    assert_eq!(
        w,
        [
            // names.txt lost com.test.app, so a rebuild would not index it.
            "catalog-stale",
            "temp-file",
            "torn-names",
            "unlisted-bundle",
            "unreferenced-archive"
        ]
    );
    let g = reg.gc().unwrap();
    assert_eq!(g.removed_archives.len(), 1);
    assert_eq!(g.removed_temp_files.len(), 1);
    assert_eq!(g.added_names, vec![id("com.test.app")]);
    assert!(g.repaired_names_tail);
    assert!(
        reg.verify().diagnostics.is_empty(),
        "{:?}",
        reg.verify().diagnostics
    );
    assert!(
        root.join(&p2.archive_file).exists(),
        "gc keeps referenced archives"
    );
    let names = NamesFile::load(&root).unwrap();
    assert_eq!(names.ids.len(), 2);
    let parsed = IndexFile::load(&app_idx, None).unwrap();
    assert_eq!(parsed.versions().count(), 2);

    // gc refuses, and deletes nothing, while verify finds errors: an index file replaced by
    // a directory would otherwise make its archives look unreferenced.
    let moved = t.path().join("app-index");
    std::fs::rename(&app_idx, &moved).unwrap();
    std::fs::create_dir(&app_idx).unwrap();
    let e = reg.gc().unwrap_err().to_string();
    assert!(
        e.contains("gc removes nothing while the registry has errors"),
        "{e}"
    );
    assert!(root.join(&p.archive_file).exists() && root.join(&p2.archive_file).exists());
    std::fs::remove_dir(&app_idx).unwrap();
    std::fs::rename(&moved, &app_idx).unwrap();
    assert_consistent(&reg);
}

#[test]
fn absolute_dl_archives_are_still_verified_here() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("reg");
    let reg = Registry::init(
        &root,
        "cdn",
        ratchet_formats::index::RegistryKind::Public,
        Some("https://cdn.example.com/{sha256}.rbundle"),
    )
    .unwrap();
    let p = reg
        .publish(&Bundle::new("com.test.lib", "1.0.0").build(t.path()), TIME)
        .unwrap();
    let r = assert_consistent(&reg);
    assert_eq!(r.archives, 1, "{:?}", r.diagnostics);
    std::fs::write(root.join(&p.archive_file), b"garbage").unwrap();
    assert!(
        reg.verify().errors().any(|d| d.code == "bad-archive"),
        "{:?}",
        reg.verify().diagnostics
    );
    // A relative `dl` may not leave the registry.
    let e = Registry::init(
        &t.path().join("reg2"),
        "x",
        ratchet_formats::index::RegistryKind::Local,
        Some("../escaped/{sha256}.rbundle"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("`..` segments"), "{e}");
    // Nor by any other spelling a URL parser reads as leaving it.
    for dl in [
        "archives/%2e%2e/%2e%2e/escape/{sha256}.rbundle",
        "/etc/{sha256}",
        "//other-host/{sha256}",
        "a/xy://../../../{sha256}",
        "file:///srv/{sha256}",
        "https://user:pw@cdn.example.com/{sha256}",
    ] {
        let r = Registry::init(
            &t.path().join("reg3"),
            "x",
            ratchet_formats::index::RegistryKind::Local,
            Some(dl),
        );
        assert!(r.is_err(), "{dl} accepted");
    }
}

#[test]
fn cli_exit_codes_and_messages() {
    let t = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_ratchet-index");
    let reg = t.path().join("reg");
    let run = |args: &[&str]| Command::new(bin).args(args).output().unwrap();
    let out = run(&[
        "init",
        reg.to_str().unwrap(),
        "--name",
        "cli",
        "--kind",
        "partner",
    ]);
    assert!(out.status.success(), "{out:?}");
    let cfg = std::fs::read_to_string(reg.join("config.json")).unwrap();
    assert!(cfg.contains("\"kind\": \"partner\""));
    let a = Bundle::new("com.test.alpha", "1.0.0").build(t.path());
    let out = run(&[
        "publish",
        reg.to_str().unwrap(),
        a.to_str().unwrap(),
        "--publish-time",
        "1767225600",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        std::fs::read_to_string(reg.join(index_path(&id("com.test.alpha"))))
            .unwrap()
            .contains(TIME)
    );
    let out = run(&["publish", reg.to_str().unwrap(), a.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already published"));
    let out = run(&["verify", reg.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let out = run(&["list", reg.to_str().unwrap(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["bundles"][0]["latest"], "1.0.0");
    std::fs::write(reg.join(index_path(&id("com.test.alpha"))), "garbage\n").unwrap();
    let out = run(&["verify", reg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&index_path(&id("com.test.alpha"))) && err.contains("line 1"),
        "{err}"
    );
    let out = run(&["verify", t.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a ratchet registry"));
}

/// index-format.md §6.5.1: every publish and yank writes the prefetch hint of the bundle's
/// newest release (the ids its dependencies reach, nearest first); verify reports a damaged,
/// stale or missing hint as a warning and gc rewrites it.
#[test]
fn publish_and_yank_write_the_prefetch_hint_of_the_newest_release() {
    use ratchet_formats::index::{Prefetch, prefetch_path};
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path()).reg;
    let publish = |b: Bundle| reg.publish(&b.build(t.path()), TIME).unwrap();
    publish(Bundle::new("com.test.leaf", "1.0.0"));
    publish(Bundle::new("com.test.mid", "1.0.0").dep("com.test.leaf", "^1"));
    publish(Bundle::new("com.test.other", "1.0.0"));
    let file = |i: &str| reg.root().join(prefetch_path(&id(i)));
    let hint = |i: &str| {
        let bytes = std::fs::read(file(i)).ok()?;
        let p = Prefetch::parse(&bytes, "hint").unwrap().unwrap();
        assert_eq!(p.id, id(i));
        let ids: Vec<String> = p.ids.iter().map(ToString::to_string).collect();
        Some((p.version.to_string(), ids))
    };
    assert_eq!(hint("com.test.leaf"), None, "no dependencies: no hint file");
    assert_eq!(
        hint("com.test.mid"),
        Some(("1.0.0".into(), vec!["com.test.leaf".into()]))
    );
    publish(Bundle::new("com.test.app", "1.0.0").dep("com.test.mid", "^1"));
    assert_eq!(
        hint("com.test.app"),
        Some((
            "1.0.0".into(),
            vec!["com.test.mid".into(), "com.test.leaf".into()]
        ))
    );
    // A newer release that needs something else: the hint follows it.
    publish(Bundle::new("com.test.app", "2.0.0").dep("com.test.other", "^1"));
    assert_eq!(
        hint("com.test.app"),
        Some(("2.0.0".into(), vec!["com.test.other".into()]))
    );
    // An older line's patch does not change what the newest release needs.
    publish(Bundle::new("com.test.app", "1.0.1").dep("com.test.mid", "^1"));
    assert_eq!(hint("com.test.app").unwrap().0, "2.0.0");
    // Yanking the newest release makes 1.0.1 the newest: its hint; un-yanking brings 2.0.0's.
    assert!(
        reg.set_yanked(&id("com.test.app"), &v("2.0.0"), true)
            .unwrap()
    );
    assert_eq!(
        hint("com.test.app"),
        Some((
            "1.0.1".into(),
            vec!["com.test.mid".into(), "com.test.leaf".into()]
        ))
    );
    assert!(
        reg.set_yanked(&id("com.test.app"), &v("2.0.0"), false)
            .unwrap()
    );
    assert_eq!(hint("com.test.app").unwrap().0, "2.0.0");
    let warnings = |reg: &Registry| -> Vec<(String, String)> {
        let r = reg.verify();
        assert!(r.is_ok(), "hints are never errors: {:?}", r.diagnostics);
        r.diagnostics
            .iter()
            .filter(|d| d.code.ends_with("-prefetch"))
            .map(|d| (d.code.to_string(), d.file.clone()))
            .collect()
    };
    assert_eq!(warnings(&reg), []);
    // A dependency's new release that needs more: mid's hint is now stale (hints are written
    // for the bundle published, not its dependents).
    publish(Bundle::new("com.test.extra", "1.0.0"));
    publish(Bundle::new("com.test.leaf", "1.1.0").dep("com.test.extra", "^1"));
    let messages = |code: &str| -> Vec<String> {
        reg.verify()
            .diagnostics
            .iter()
            .filter(|d| d.code == code)
            .map(|d| d.message.clone())
            .collect()
    };
    let stale = messages("stale-prefetch");
    assert_eq!(stale.len(), 1, "one warning for all: {stale:?}");
    assert!(
        stale[0].starts_with("1 prefetch hint(s)") && stale[0].contains("com.test.mid"),
        "{stale:?}"
    );
    // Damaged, misplaced, orphaned: all reported.
    std::fs::write(file("com.test.app"), b"{not json").unwrap();
    let orphan = reg.root().join(prefetch_path(&id("com.test.gone")));
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(
        &orphan,
        r#"{"v":1,"id":"com.test.gone","version":"1.0.0","ids":["com.test.leaf"]}"#,
    )
    .unwrap();
    let found = warnings(&reg);
    assert!(
        found.contains(&("bad-prefetch".into(), prefetch_path(&id("com.test.app")))),
        "{found:?}"
    );
    // A registry written before hints: one warning counts the bundles without one.
    std::fs::remove_file(file("com.test.mid")).unwrap();
    let missing = messages("missing-prefetch");
    assert!(
        missing.len() == 1 && missing[0].contains("com.test.mid"),
        "{missing:?}"
    );
    assert!(
        found.contains(&(
            "orphan-prefetch".into(),
            prefetch_path(&id("com.test.gone"))
        )),
        "{found:?}"
    );
    // gc rewrites every hint as a publish would now and removes the orphan.
    let before = snapshot(reg.root());
    let dry = reg.gc_with(true).unwrap();
    assert_eq!(snapshot(reg.root()), before, "a dry run changes nothing");
    let r = reg.gc_with(false).unwrap();
    assert_eq!(r.rewritten_hints, dry.rewritten_hints);
    assert!(r.rewritten_hints.contains(&id("com.test.mid")), "{r:?}");
    assert!(r.rewritten_hints.contains(&id("com.test.app")), "{r:?}");
    let mut removed = r.removed_hints.clone();
    removed.sort();
    let mut expected = [
        prefetch_path(&id("com.test.app")),
        prefetch_path(&id("com.test.gone")),
    ];
    expected.sort();
    assert_eq!(removed, expected);
    assert_eq!(warnings(&reg), []);
    assert_eq!(
        hint("com.test.mid"),
        Some((
            "1.0.0".into(),
            vec!["com.test.leaf".into(), "com.test.extra".into()]
        ))
    );
    assert_eq!(hint("com.test.app").unwrap().0, "2.0.0");
}
