//! Download statistics reach the catalog: a document built from a registry carries the
//! downloads and trend of its `stats/` file (`index-format.md` §11), sorting by downloads
//! follows them, and a damaged stats file is refused naming it.

use ratchet_catalog::registry::{doc_from_registry, registry_docs};
use ratchet_catalog::{Catalog, CatalogError, MemStore, Query, Sort, Verified, search};
use ratchet_formats::manifest::BundleId;
use ratchet_stats::{Day, IngestOptions, LogFormat, ingest};
use std::path::Path;

use ratchet_testkit::copy_dir;

fn line_for(dir: &Path, id: &str, n: usize) -> String {
    let bid = BundleId::parse(id).unwrap();
    let f = ratchet_formats::index::IndexFile::load(
        &dir.join(ratchet_formats::index::index_path(&bid)),
        Some(&bid),
    )
    .unwrap();
    let sha = &f.versions().last().unwrap().sha256;
    format!(
        "192.0.2.1 - - [01/Dec/2026:00:00:00 +0000] \"GET /archives/{}/{sha}.rbundle HTTP/1.1\" 200 1 \"-\" \"-\"\n",
        &sha[..2]
    )
    .repeat(n)
}

#[test]
fn documents_carry_download_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reg");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample-index"),
        &dir,
    );
    let log = tmp.path().join("access.log");
    let text = line_for(&dir, "com.oss.json-utils", 7) + &line_for(&dir, "com.templates.devops", 3);
    std::fs::write(&log, text).unwrap();
    ingest(
        &dir,
        &[log],
        &IngestOptions {
            format: LogFormat::Combined,
            today: Day::parse("2026-12-02").unwrap(),
        },
    )
    .unwrap();
    let none = |_: &_, _: Option<&_>| Verified::None;
    let json = BundleId::parse("com.oss.json-utils").unwrap();
    let doc = doc_from_registry(&dir, &json, &none).unwrap().unwrap();
    assert_eq!(doc.downloads, 7);
    assert_eq!(doc.trend, ratchet_stats::files::trend(7, 0));
    let core = BundleId::parse("com.ratchet.core-utils").unwrap();
    assert_eq!(
        doc_from_registry(&dir, &core, &none)
            .unwrap()
            .unwrap()
            .downloads,
        0
    );

    let mut store = MemStore::default();
    Catalog::rebuild(&mut store, registry_docs(&dir, &none).unwrap()).unwrap();
    let q = Query {
        text: "json".into(),
        sort: Sort::Downloads,
        ..Query::default()
    };
    let hits = search(&mut store, &q).unwrap().hits;
    assert_eq!(hits[0].summary.id, json);
    assert_eq!(hits[0].summary.downloads, 7);

    // A damaged stats file is an error naming it.
    let rel = ratchet_stats::stats_path(&json);
    std::fs::write(dir.join(&rel), "{\"v\":1,\"id\":\"com.oss.json-utils\"").unwrap();
    let e = doc_from_registry(&dir, &json, &none).unwrap_err();
    assert!(matches!(e, CatalogError::Malformed { .. }), "{e}");
    assert!(e.to_string().contains(&rel), "{e}");
    std::fs::write(dir.join(&rel), vec![b' '; 3 << 20]).unwrap();
    let e = doc_from_registry(&dir, &json, &none).unwrap_err();
    assert!(matches!(e, CatalogError::TooLarge { .. }), "{e}");
}
