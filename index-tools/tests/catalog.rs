//! The search catalog as `ratchet-index` keeps it (`index-format.md` §10.5): it follows every
//! publish, yank, un-yank, deprecation and attestation; `verify` compares it with a rebuild and
//! names an oversized, malformed or inconsistent file; a registry without one gets one from
//! the next publish or from `catalog rebuild`.

mod common;

use common::*;
use ratchet_catalog::{DirStore, Query, search};
use ratchet_formats::manifest::BundleId;
use ratchet_publish::Registry;
use std::path::Path;
use std::process::Command;

fn id(s: &str) -> BundleId {
    BundleId::parse(s).unwrap()
}

fn v(s: &str) -> semver::Version {
    semver::Version::parse(s).unwrap()
}

/// `(id, version, deprecated)` of every hit of `text`, best first.
fn find(dir: &Path, text: &str) -> Vec<(String, String, bool)> {
    let r = search(&mut DirStore::new(dir, false), &Query::text(text))
        .unwrap_or_else(|e| panic!("search {text}: {e}"));
    r.hits
        .into_iter()
        .map(|h| {
            (
                h.summary.id.to_string(),
                h.summary.version,
                h.summary.deprecated,
            )
        })
        .collect()
}

fn errors(reg: &Registry) -> Vec<String> {
    reg.verify()
        .errors()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
}

/// Every diagnostic of verify, errors and warnings, each after its code.
fn diagnostics(reg: &Registry) -> Vec<String> {
    reg.verify()
        .diagnostics
        .iter()
        .map(|d| format!("{} {d}", d.code))
        .collect()
}

fn two_bundles(t: &TestRegistry) {
    Bundle::new("com.test.alpha", "1.0.0")
        .description("Parses invoices from the ledger")
        .publish(t);
    Bundle::new("com.test.beta", "1.0.0")
        .description("Sends invoices by mail")
        .keyword("mailer")
        .publish(t);
}

#[test]
fn init_creates_an_empty_catalog_and_publish_fills_it() {
    let w = tempfile::tempdir().unwrap();
    let t = TestRegistry::new(w.path());
    assert!(t.dir().join("catalog/root.json").is_file());
    assert!(find(&t.dir(), "invoices").is_empty());
    two_bundles(&t);
    let hits = find(&t.dir(), "invoices");
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert_eq!(find(&t.dir(), "mailer")[0].0, "com.test.beta");
    assert_consistent(&t.reg);
}

#[test]
fn the_catalog_follows_yanks_and_deprecations() {
    let w = tempfile::tempdir().unwrap();
    let t = TestRegistry::new(w.path());
    two_bundles(&t);
    Bundle::new("com.test.alpha", "1.1.0")
        .description("Parses invoices from the ledger, faster")
        .publish(&t);
    assert_eq!(find(&t.dir(), "ledger")[0].1, "1.1.0");
    assert_eq!(find(&t.dir(), "faster").len(), 1);

    // Yanking the latest shows the previous version and drops the words only 1.1.0 had.
    t.reg
        .set_yanked(&id("com.test.alpha"), &v("1.1.0"), true)
        .unwrap();
    assert_eq!(find(&t.dir(), "ledger")[0].1, "1.0.0");
    assert!(find(&t.dir(), "faster").is_empty());
    assert_consistent(&t.reg);

    // Every version yanked: not searchable; un-yanked: back.
    t.reg
        .set_yanked(&id("com.test.alpha"), &v("1.0.0"), true)
        .unwrap();
    assert!(find(&t.dir(), "ledger").is_empty());
    assert_consistent(&t.reg);
    t.reg
        .set_yanked(&id("com.test.alpha"), &v("1.1.0"), false)
        .unwrap();
    assert_eq!(
        find(&t.dir(), "ledger"),
        [("com.test.alpha".into(), "1.1.0".into(), false)]
    );

    // Deprecation is in the summary and halves the score; undeprecate clears it.
    t.reg
        .deprecate(
            &id("com.test.alpha"),
            "use beta",
            Some(&id("com.test.beta")),
            TIME,
        )
        .unwrap();
    let hits = find(&t.dir(), "invoices");
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[1], ("com.test.alpha".into(), "1.1.0".into(), true));
    assert_consistent(&t.reg);
    t.reg.undeprecate(&id("com.test.alpha")).unwrap();
    assert!(!find(&t.dir(), "ledger")[0].2);
    assert_consistent(&t.reg);
}

#[test]
fn verify_names_an_oversized_malformed_or_inconsistent_catalog_file() {
    let w = tempfile::tempdir().unwrap();
    let t = TestRegistry::new(w.path());
    two_bundles(&t);
    let dir = t.dir();
    let block = dir.join("catalog/docs/0.json");
    let good = std::fs::read(&block).unwrap();

    // Inconsistent: a summary naming a version the index does not have.
    let text = String::from_utf8(good.clone())
        .unwrap()
        .replace("\"1.0.0\"", "\"9.9.9\"");
    std::fs::write(&block, text).unwrap();
    // A stale catalog is a warning (what an interrupted change leaves), which gc repairs.
    assert!(errors(&t.reg).is_empty());
    let d = diagnostics(&t.reg);
    assert!(
        d.iter().any(|e| e.starts_with("catalog-stale")
            && e.contains("catalog/docs/0.json")
            && e.contains("differs from a rebuild")),
        "{d:?}"
    );
    assert!(t.reg.gc().unwrap().rebuilt_catalog);
    assert_eq!(std::fs::read(&block).unwrap(), good);
    assert!(t.reg.verify().diagnostics.is_empty());

    // Malformed.
    std::fs::write(&block, b"{not json").unwrap();
    let e = errors(&t.reg);
    assert!(
        e.iter()
            .any(|e| e.contains("catalog/docs/0.json") && e.contains("malformed")),
        "{e:?}"
    );

    // Oversized: more than a reader accepts for a summary block.
    std::fs::write(&block, vec![b' '; 70 * 1024]).unwrap();
    let e = errors(&t.reg);
    assert!(
        e.iter()
            .any(|e| e.contains("catalog/docs/0.json") && e.contains("bytes")),
        "{e:?}"
    );
    assert!(
        t.reg.gc().is_err(),
        "gc refuses while the catalog is damaged"
    );

    // A missing and an extra file.
    std::fs::remove_file(&block).unwrap();
    std::fs::write(dir.join("catalog/docs/7.json"), &good).unwrap();
    let e = diagnostics(&t.reg);
    assert!(
        e.iter()
            .any(|e| e.contains("catalog/docs/0.json") && e.contains("catalog/docs/0.json missing")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|e| e.contains("catalog/docs/7.json") && e.contains("catalog/docs/7.json extra")),
        "{e:?}"
    );

    // A rebuild repairs everything.
    let r = t.reg.catalog_rebuild().unwrap();
    assert_eq!((r.bundles, r.searchable), (2, 2));
    assert_consistent(&t.reg);
    assert_eq!(std::fs::read(&block).unwrap(), good);
}

#[test]
fn a_registry_without_a_catalog_gets_one_from_the_next_publish_or_a_rebuild() {
    let w = tempfile::tempdir().unwrap();
    let t = TestRegistry::new(w.path());
    two_bundles(&t);
    let dir = t.dir();
    let full = snapshot(&dir);
    std::fs::remove_dir_all(dir.join("catalog")).unwrap();
    let r = t.reg.verify();
    assert!(r.is_ok());
    assert!(
        r.diagnostics
            .iter()
            .any(|d| d.to_string().contains("no search catalog")),
        "{:?}",
        r.diagnostics
    );

    // The command line rebuilds the same files the publishes wrote (generation aside).
    let o = Command::new(env!("CARGO_BIN_EXE_ratchet-index"))
        .args(["catalog", "rebuild"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("2 searchable bundle(s) of 2"), "{out}");
    let rebuilt = snapshot(&dir);
    let differing: Vec<&String> = full
        .keys()
        .filter(|k| k.starts_with("catalog/") && k.as_str() != "catalog/root.json")
        .filter(|k| full.get(*k) != rebuilt.get(*k))
        .collect();
    assert!(differing.is_empty(), "{differing:?}");
    assert_consistent(&t.reg);

    // Without a catalog, the next publish writes a whole one, old bundles included.
    std::fs::remove_dir_all(dir.join("catalog")).unwrap();
    Bundle::new("com.test.gamma", "1.0.0")
        .description("Archives invoices")
        .publish(&t);
    assert_eq!(find(&dir, "invoices").len(), 3);
    assert_consistent(&t.reg);
}

#[test]
fn attestations_change_the_verification_status_searched_and_shown() {
    let w = tempfile::tempdir().unwrap();
    let mut t = TestRegistry::new(w.path());
    two_bundles(&t);
    let verifier = ratchet_testkit::secret_key(w.path(), "verifier");
    t.reg.add_verifier("Ratchet", verifier.public()).unwrap();
    let line = t
        .reg
        .bundle(&id("com.test.alpha"))
        .unwrap()
        .latest()
        .unwrap()
        .clone();
    let fields = ratchet_trust::attest::AttestFields {
        kind: ratchet_trust::attest::AttestKind::Official,
        id: "com.test.alpha".into(),
        version: line.version.to_string(),
        sha256: line.sha256.clone(),
        date: TIME.into(),
        score: None,
        report: None,
    };
    let a = ratchet_trust::attest::attest(&fields, &verifier).unwrap();
    t.reg.add_attestation(a).unwrap();
    let q = Query {
        verified: true,
        ..Query::text("invoices")
    };
    let r = search(&mut DirStore::new(&t.dir(), false), &q).unwrap();
    assert_eq!(r.hits.len(), 1);
    assert_eq!(r.hits[0].summary.id.as_str(), "com.test.alpha");
    assert_eq!(r.hits[0].summary.verified.as_str(), "official");
    assert_consistent(&t.reg);
}

#[test]
fn archives_stored_under_a_custom_dl_path_are_indexed() {
    let w = tempfile::tempdir().unwrap();
    let dir = w.path().join("reg");
    let mut config = ratchet_formats::index::RegistryConfig::new(
        "blobs",
        ratchet_formats::index::RegistryKind::Local,
    );
    config.dl = "blobs/{sha256}.rbundle".into();
    let reg = Registry::init_with(&dir, config).unwrap();
    let a = Bundle::new("com.test.alpha", "1.0.0")
        .description("Parses invoices")
        .build(w.path());
    let p = reg.publish(&a, TIME).unwrap();
    assert!(p.archive_file.starts_with("blobs/"), "{}", p.archive_file);
    assert_eq!(find(&dir, "invoices").len(), 1);
    assert_consistent(&reg);
}

/// A catalog whose facet files or term shards have an older format (facet files before their
/// sets were cut into chunks or their heads carried 50 summaries, term shards before postings
/// carried cards, §10.2) is rebuilt by the next publish instead of failing it.
#[test]
fn a_publish_rebuilds_a_catalog_with_files_of_an_older_format() {
    // Term shards and facet files of version 1; facet files alone one version back (what a
    // registry written by the previous release holds).
    rebuilds_with(&["catalog/facets/license", "catalog/terms"], |_| 1);
    rebuilds_with(&["catalog/facets/license"], |v| v - 1);
}

fn rebuilds_with(dirs: &[&str], back: fn(u32) -> u32) {
    let w = tempfile::tempdir().unwrap();
    let t = TestRegistry::new(w.path());
    two_bundles(&t);
    let dir = t.dir();
    let older: Vec<_> = dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(dir.join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    for d in dirs {
        assert!(older.iter().any(|p| p.starts_with(dir.join(d))), "{d}");
    }
    let version = |p: &std::path::Path| {
        ratchet_catalog::files::format_for(&format!(
            "catalog/{}",
            p.strip_prefix(&dir)
                .unwrap()
                .strip_prefix("catalog")
                .unwrap()
                .display()
        ))
    };
    let current = |p: &std::path::Path| format!("{{\"v\":{},", version(p));
    for p in &older {
        let text = std::fs::read_to_string(p).unwrap();
        assert!(text.starts_with(&current(p)), "{}", p.display());
        let was = format!("{{\"v\":{},", back(version(p)));
        std::fs::write(p, text.replacen(&current(p), &was, 1)).unwrap();
    }
    Bundle::new("com.test.gamma", "1.0.0")
        .description("Archives invoices")
        .publish(&t);
    for p in older.iter().filter(|p| p.exists()) {
        assert!(std::fs::read_to_string(p).unwrap().starts_with(&current(p)));
    }
    assert_eq!(find(&dir, "invoices").len(), 3);
    assert_consistent(&t.reg);
}
