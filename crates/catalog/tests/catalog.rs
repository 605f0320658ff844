//! The catalog end to end: built from `sample-index/`, searched with each facet and sort,
//! updated incrementally (equal to a rebuild), and refusing damaged files.

use ratchet_catalog::doc::{DocItem, DocPrice};
use ratchet_catalog::files::{self, ROOT_PATH};
use ratchet_catalog::registry::registry_docs;
use ratchet_catalog::{
    Catalog, CatalogDoc, CatalogError, CatalogStore, Change, MemStore, PriceFilter, Query, Sort,
    Verified, search,
};
use ratchet_formats::manifest::{BundleId, Platform, PricingModel};
use std::path::Path;

fn sample_store() -> MemStore {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample-index");
    let docs = registry_docs(&dir, &|line, _meta| {
        if line.id.as_str() == "com.ratchet.core-utils" {
            Verified::Official
        } else {
            Verified::None
        }
    })
    .unwrap();
    let mut store = MemStore::default();
    Catalog::rebuild(&mut store, docs).unwrap();
    store
}

fn ids(store: &mut MemStore, q: &Query) -> Vec<String> {
    search(store, q)
        .unwrap()
        .hits
        .into_iter()
        .map(|h| h.summary.id.to_string())
        .collect()
}

fn with(f: impl FnOnce(&mut Query)) -> Query {
    let mut q = Query::default();
    f(&mut q);
    q
}

#[test]
fn sample_index_text_search_follows_yanks_and_deprecations() {
    let mut s = sample_store();
    let r = search(&mut s, &Query::text("json")).unwrap();
    let got: Vec<_> = r.hits.iter().map(|h| h.summary.id.as_str()).collect();
    assert!(got.contains(&"com.oss.json-utils"), "{got:?}");
    assert!(got.contains(&"com.ratchet.core-utils"), "{got:?}");
    // The deprecated bundle is found, flagged, and ranked after the live json bundles.
    let legacy = r
        .hits
        .iter()
        .position(|h| h.summary.id.as_str() == "com.ratchet.legacy-json")
        .expect("deprecated bundles stay searchable");
    assert!(r.hits[legacy].summary.deprecated);
    assert!(legacy > got.iter().position(|i| *i == "com.oss.json-utils").unwrap());
    assert_eq!(
        ids(
            &mut s,
            &Query {
                include_deprecated: false,
                ..Query::text("json")
            }
        )
        .iter()
        .filter(|i| i.as_str() == "com.ratchet.legacy-json")
        .count(),
        0
    );
    // 3.3.0 of api-connectors is yanked: the catalog shows 3.2.0.
    let r = search(&mut s, &Query::text("connectors")).unwrap();
    let h = &r.hits[0];
    assert_eq!(h.summary.id.as_str(), "com.partner.api-connectors");
    assert_eq!(h.summary.version, "3.2.0");
    // A word only the README says is found.
    let readme = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../sample-bundles/com.oss.json-utils/1.2.0/README.md"),
    )
    .unwrap();
    assert!(readme.contains("infer a JSON Schema"));
    // `infer` is only in that README (not in any manifest): the README text is indexed.
    assert_eq!(ids(&mut s, &Query::text("infer")), ["com.oss.json-utils"]);
}

#[test]
fn sample_index_each_facet() {
    let mut s = sample_store();
    assert_eq!(
        ids(&mut s, &with(|q| q.categories = vec!["Data".into()])),
        ["com.oss.json-utils"]
    );
    assert_eq!(
        ids(&mut s, &with(|q| q.tags = vec!["http".into()])),
        ["com.partner.api-connectors"]
    );
    let mut by_team = ids(&mut s, &with(|q| q.authors = vec!["ratchet team".into()]));
    by_team.sort();
    assert_eq!(
        by_team,
        ["com.ratchet.core-utils", "com.ratchet.legacy-json"]
    );
    let apache = ids(&mut s, &with(|q| q.licenses = vec!["apache-2.0".into()]));
    assert!(
        apache.contains(&"com.ratchet.core-utils".to_string()),
        "{apache:?}"
    );
    assert!(!apache.contains(&"com.oss.json-utils".to_string()));
    let free = ids(&mut s, &with(|q| q.price = Some(PriceFilter::Free)));
    assert!(free.contains(&"com.ratchet.core-utils".to_string()));
    assert!(!free.contains(&"com.enterprise.salesforce-suite".to_string()));
    let paid = ids(&mut s, &with(|q| q.price = Some(PriceFilter::Paid)));
    assert!(
        paid.contains(&"com.enterprise.salesforce-suite".to_string()),
        "{paid:?}"
    );
    assert!(!paid.contains(&"com.ratchet.core-utils".to_string()));
    assert_eq!(
        ids(&mut s, &with(|q| q.verified = true)),
        ["com.ratchet.core-utils"]
    );
    // Price and verified filters on a text query use the postings.
    let q = Query {
        price: Some(PriceFilter::Max(50.0)),
        ..Query::text("salesforce")
    };
    assert!(ids(&mut s, &q).is_empty(), "299 USD is over 50");
    let q = Query {
        verified: true,
        ..Query::text("json")
    };
    assert_eq!(ids(&mut s, &q), ["com.ratchet.core-utils"]);
    // Categories listed in the root with their counts.
    let root = files::parse_root(&s.files[ROOT_PATH]).unwrap();
    assert_eq!(root.facets["category"]["data"], 1);
    assert_eq!(root.docs, 7);
}

fn doc(id: &str, name: &str, description: &str) -> CatalogDoc {
    CatalogDoc {
        id: BundleId::parse(id).unwrap(),
        name: name.into(),
        version: "1.0.0".into(),
        description: description.into(),
        keywords: vec![],
        categories: vec![],
        authors: vec![],
        license: "MIT".into(),
        pricing: PricingModel::Free,
        price: None,
        verified: Verified::None,
        platforms: vec![],
        ratchet_version: None,
        items: vec![],
        readme: String::new(),
        changelog: String::new(),
        updated: "2026-01-01T00:00:00Z".into(),
        downloads: 0,
        trend: 0.0,
        rating: None,
        deprecated: false,
    }
}

fn store_of(docs: Vec<CatalogDoc>) -> MemStore {
    let mut s = MemStore::default();
    Catalog::rebuild(&mut s, docs.into_iter().map(|d| (d.id.clone(), Some(d)))).unwrap();
    s
}

#[test]
fn each_sort() {
    let mut a = doc("org.x.alpha", "Alpha csv", "csv reader");
    a.downloads = 10;
    a.rating = Some(4.5);
    a.trend = -1.0;
    a.updated = "2026-03-01T00:00:00Z".into();
    let mut b = doc("org.x.bravo", "Bravo csv", "csv csv csv writer");
    b.downloads = 1000;
    b.rating = Some(3.0);
    b.trend = 2.5;
    b.updated = "2025-01-01T00:00:00Z".into();
    let mut c = doc("org.x.charlie", "Charlie csv", "csv tools");
    c.downloads = 100;
    c.trend = 0.5;
    c.updated = "2026-06-01T00:00:00Z".into();
    let mut s = store_of(vec![c, b, a]);
    let sorted = |s: &mut MemStore, sort| {
        ids(
            s,
            &Query {
                sort,
                ..Query::text("csv")
            },
        )
    };
    assert_eq!(
        sorted(&mut s, Sort::Downloads),
        ["org.x.bravo", "org.x.charlie", "org.x.alpha"]
    );
    assert_eq!(
        sorted(&mut s, Sort::Rating),
        ["org.x.alpha", "org.x.bravo", "org.x.charlie"]
    );
    assert_eq!(
        sorted(&mut s, Sort::Updated),
        ["org.x.charlie", "org.x.alpha", "org.x.bravo"]
    );
    assert_eq!(
        sorted(&mut s, Sort::Trending),
        ["org.x.bravo", "org.x.charlie", "org.x.alpha"]
    );
    assert_eq!(
        sorted(&mut s, Sort::Name),
        ["org.x.alpha", "org.x.bravo", "org.x.charlie"]
    );
    // Relevance: bravo says csv most often.
    assert_eq!(sorted(&mut s, Sort::Relevance)[0], "org.x.bravo");
    // Limit and offset.
    let q = Query {
        sort: Sort::Name,
        limit: 1,
        offset: 1,
        ..Query::text("csv")
    };
    let r = search(&mut s, &q).unwrap();
    assert_eq!(r.total, 3);
    assert_eq!(r.hits.len(), 1);
    assert_eq!(r.hits[0].summary.id.as_str(), "org.x.bravo");
}

#[test]
fn field_boosts_prefix_typos_and_expression_licenses() {
    let mut named = doc("org.x.kafka-bridge", "Kafka Bridge", "moves messages");
    named.license = "MIT OR Apache-2.0".into();
    named.platforms = vec![Platform::Linux];
    let mut readme_only = doc("org.x.stream-tools", "Stream tools", "moves messages");
    readme_only.readme = "Works with kafka and other brokers.".into();
    readme_only.license = "Apache-2.0".into();
    let mut tagged = doc("org.x.queue-kit", "Queue kit", "moves messages");
    tagged.items = vec![DocItem {
        name: "publish".into(),
        description: "publishes to a broker".into(),
        tags: vec!["kafka".into()],
    }];
    tagged.pricing = PricingModel::Paid;
    tagged.price = Some(DocPrice {
        amount: 20.0,
        currency: "EUR".into(),
        period: "one-time".into(),
    });
    let mut s = store_of(vec![readme_only, tagged, named]);
    assert_eq!(
        ids(&mut s, &Query::text("kafka")),
        [
            "org.x.kafka-bridge",
            "org.x.queue-kit",
            "org.x.stream-tools"
        ],
        "name > tag > README"
    );
    assert_eq!(
        ids(&mut s, &Query::text("kaf"))[0],
        "org.x.kafka-bridge",
        "prefix"
    );
    assert_eq!(
        ids(&mut s, &Query::text("kafkq"))[0],
        "org.x.kafka-bridge",
        "one typo"
    );
    assert!(
        ids(&mut s, &Query::text("kafkq brokerz messagez rust")).is_empty(),
        "long queries are exact"
    );
    assert!(
        ids(&mut s, &Query::text("kaf ")).is_empty(),
        "a finished word is not a prefix"
    );
    for lic in ["MIT", "Apache-2.0"] {
        let got = ids(&mut s, &with(|q| q.licenses = vec![lic.into()]));
        assert!(
            got.contains(&"org.x.kafka-bridge".to_string()),
            "{lic}: {got:?}"
        );
    }
    let q = Query {
        platform: Some(Platform::Windows),
        ..Query::text("kafka")
    };
    assert!(!ids(&mut s, &q).contains(&"org.x.kafka-bridge".to_string()));
    let q = Query {
        price: Some(PriceFilter::Max(19.0)),
        ..Query::text("kafka")
    };
    assert!(!ids(&mut s, &q).contains(&"org.x.queue-kit".to_string()));
    let q = Query {
        price: Some(PriceFilter::Max(20.0)),
        ..Query::text("kafka")
    };
    assert!(ids(&mut s, &q).contains(&"org.x.queue-kit".to_string()));
    // No bundle has both words: the query is relaxed to either.
    let r = search(&mut s, &Query::text("kafka zebra")).unwrap();
    assert!(r.relaxed && !r.hits.is_empty());
}

/// A tiny deterministic generator (no dependency needed for a test).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.next() as usize % xs.len()]
    }
}

const WORDS: &[&str] = &[
    "json",
    "csv",
    "parse",
    "validate",
    "kafka",
    "deploy",
    "docker",
    "kubernetes",
    "slack",
    "notify",
    "report",
    "pdf",
    "image",
    "resize",
    "backup",
    "sync",
    "mail",
    "invoice",
    "crm",
    "ledger",
    "metrics",
    "alert",
    "cron",
    "schedule",
];

fn random_doc(r: &mut Lcg, id: &str) -> CatalogDoc {
    let mut d = doc(
        id,
        &format!("{} {}", r.pick(WORDS), r.pick(WORDS)),
        &(0..8).map(|_| r.pick(WORDS)).collect::<Vec<_>>().join(" "),
    );
    d.keywords = vec![r.pick(WORDS).into(), r.pick(WORDS).into()];
    d.categories = vec![r.pick(&["data", "devops", "finance"]).into()];
    d.authors = vec![r.pick(&["Ann", "Bob"]).into()];
    d.license = r.pick(&["MIT", "Apache-2.0", "MIT OR Apache-2.0"]).into();
    d.verified = [Verified::None, Verified::Community, Verified::Official][r.next() as usize % 3];
    d.deprecated = r.next().is_multiple_of(5);
    d.downloads = r.next() % 10_000;
    d.readme = (0..20).map(|_| r.pick(WORDS)).collect::<Vec<_>>().join(" ");
    d
}

#[test]
fn incremental_updates_equal_a_rebuild() {
    for seed in 0..12 {
        let mut r = Lcg(seed);
        let mut inc = MemStore::default();
        let mut order: Vec<BundleId> = Vec::new();
        let mut state: std::collections::BTreeMap<BundleId, Option<CatalogDoc>> =
            Default::default();
        for _ in 0..60 {
            let id = BundleId::parse(&format!("org.gen.b{}", r.next() % 15)).unwrap();
            let change =
                if state.get(&id).is_some_and(|d| d.is_some()) && r.next().is_multiple_of(3) {
                    // A yank of every version, or a deprecation flip.
                    if r.next().is_multiple_of(2) {
                        Change::Remove(id.clone())
                    } else {
                        let mut d = state[&id].clone().unwrap();
                        d.deprecated = !d.deprecated;
                        Change::Upsert(Box::new(d))
                    }
                } else {
                    Change::Upsert(Box::new(random_doc(&mut r, id.as_str())))
                };
            Catalog::update(&mut inc, &change).unwrap();
            if !order.contains(&id) {
                order.push(id.clone());
            }
            state.insert(
                id,
                match change {
                    Change::Upsert(d) => Some(*d),
                    Change::Remove(_) => None,
                },
            );
        }
        let mut full = MemStore::default();
        Catalog::rebuild(
            &mut full,
            order.iter().map(|id| (id.clone(), state[id].clone())),
        )
        .unwrap();
        // Equal file for file, except the root's generation counter.
        let strip = |s: &MemStore| {
            let mut f = s.files.clone();
            let mut root = files::parse_root(&f[ROOT_PATH]).unwrap();
            root.generation = 0;
            f.insert(ROOT_PATH.into(), files::to_json(&root));
            f
        };
        let (a, b) = (strip(&inc), strip(&full));
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "seed {seed}"
        );
        for (k, v) in &a {
            assert_eq!(
                String::from_utf8_lossy(v),
                String::from_utf8_lossy(&b[k]),
                "seed {seed}: {k}"
            );
        }
        // And the same answers.
        for w in ["json", "kafka", "report"] {
            assert_eq!(
                search(&mut inc, &Query::text(w)).unwrap(),
                search(&mut full, &Query::text(w)).unwrap()
            );
        }
    }
}

fn expect_err(s: &mut MemStore, q: &Query, want: &str) {
    match search(s, q) {
        Err(e) => {
            let m = e.to_string();
            assert!(m.contains(want), "`{m}` lacks `{want}`");
        }
        Ok(r) => panic!("accepted: {r:?}"),
    }
}

#[test]
fn damaged_catalog_files_are_refused_with_the_file_named() {
    let base = store_of(vec![
        doc("org.x.alpha", "Alpha", "csv reader"),
        doc("org.x.beta", "Beta", "csv writer"),
    ]);
    let q = Query::text("csv");
    let shard = files::shard_path("csv");

    // Oversized.
    let mut s = base.clone();
    s.files.insert(shard.clone(), vec![b' '; 300 * 1024]);
    expect_err(&mut s, &q, "catalog/terms/csv.json: more than");
    // Malformed JSON.
    let mut s = base.clone();
    s.files.insert(shard.clone(), b"{\"v\":1,\"key\":".to_vec());
    expect_err(&mut s, &q, "catalog/terms/csv.json: malformed");
    // Wrong key, bad postings, an older format.
    let mut s = base.clone();
    s.files
        .insert(shard.clone(), br#"{"v":2,"key":"abc","terms":[]}"#.to_vec());
    expect_err(&mut s, &q, "holds key `abc`");
    let mut s = base.clone();
    s.files.insert(
        shard.clone(),
        br#"{"v":2,"key":"csv","terms":[{"t":"csv","df":1,"p":"AAAA","c":[]}]}"#.to_vec(),
    );
    expect_err(&mut s, &q, "term `csv`: truncated posting");
    let mut s = base.clone();
    s.files
        .insert(shard.clone(), br#"{"v":1,"key":"csv","terms":[]}"#.to_vec());
    expect_err(
        &mut s,
        &q,
        "catalog/terms/csv.json: catalog format 1 is not supported (known: 2)",
    );
    // Cards: one missing, one that is not a card.
    let text = String::from_utf8(base.files[&shard].clone()).unwrap();
    let cards_at = text.find(r#","c":[["#).unwrap() + 5;
    let second = cards_at + text[cards_at + 1..].find(r#",["org.x.beta""#).unwrap() + 1;
    let mut s = base.clone();
    let mut one = text.clone();
    one.replace_range(cards_at + 1..second + 1, "");
    s.files.insert(shard.clone(), one.into_bytes());
    expect_err(&mut s, &q, "term `csv`: 1 cards for 2 postings");
    let mut s = base.clone();
    s.files.insert(
        shard.clone(),
        text.replacen(r#"["org.x.beta""#, r#"[7,"org.x.beta""#, 1)
            .into_bytes(),
    );
    expect_err(&mut s, &q, "catalog/terms/csv.json: malformed");
    // A card whose facet keys repeat.
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["terms"][0]["c"][0][10] = "AAAAAAAAAAA".into();
    let mut s = base.clone();
    s.files
        .insert(shard.clone(), serde_json::to_vec(&v).unwrap());
    expect_err(
        &mut s,
        &q,
        "catalog/terms/csv.json: malformed: term `csv`: card of posting 0: facet keys out of order or repeated",
    );
    let mut s = base.clone();
    s.files
        .insert(ROOT_PATH.into(), br#"{"v":3,"whatever":true}"#.to_vec());
    expect_err(&mut s, &q, "catalog format 3 is not supported");
    // A root whose split trie is damaged.
    let mut s = base.clone();
    let root = String::from_utf8(s.files[ROOT_PATH].clone()).unwrap();
    assert!(root.contains(r#""split":"""#), "{root}");
    s.files.insert(
        ROOT_PATH.into(),
        root.replace(r#""split":"""#, r#""split":"csv((""#)
            .into_bytes(),
    );
    expect_err(&mut s, &q, "split: unexpected '(' at byte 4");
    // The form of `split` goes with the version, and a version-2 root has this reader's cap.
    let mut s = base.clone();
    s.files.insert(
        ROOT_PATH.into(),
        root.replace(r#""split":"""#, r#""split":[]"#).into_bytes(),
    );
    expect_err(&mut s, &q, "`split` is a list in a root of version 2");
    let mut s = base.clone();
    s.files.insert(
        ROOT_PATH.into(),
        root.replace(r#""postings_cap":100"#, r#""postings_cap":300"#)
            .into_bytes(),
    );
    expect_err(&mut s, &q, "postings_cap 300 differs");
    // A root of version 1 (split as a list) is still read.
    let mut s = base.clone();
    s.files.insert(
        ROOT_PATH.into(),
        root.replace(r#""v":2"#, r#""v":1"#)
            .replace(r#""split":"""#, r#""split":[]"#)
            .into_bytes(),
    );
    assert_eq!(
        search(&mut s, &q).unwrap(),
        search(&mut base.clone(), &q).unwrap()
    );
    // Every posting has its card: a README-only mention needs no summary block.
    let mut quiet = doc("org.x.gamma", "Gamma", "something else");
    quiet.readme = "csv csv".into();
    let mut s = store_of(vec![quiet]);
    s.remove(&files::block_path(0)).unwrap();
    assert_eq!(ids(&mut s, &q), ["org.x.gamma"]);
    // A root counting fewer bundles than a term.
    let mut s = base.clone();
    let mut root = files::parse_root(&s.files[ROOT_PATH]).unwrap();
    root.docs = 1;
    root.facets.clear();
    s.files.insert(ROOT_PATH.into(), files::to_json(&root));
    expect_err(&mut s, &q, "the root counts 1");
    // No catalog at all.
    let mut s = MemStore::default();
    assert!(matches!(search(&mut s, &q), Err(CatalogError::Missing)));
    // The writer refuses to update over a damaged shard rather than losing data.
    let mut s = base.clone();
    s.files.insert(shard, b"[]".to_vec());
    let err = Catalog::update(
        &mut s,
        &Change::Upsert(Box::new(doc("org.x.gamma", "Gamma", "csv"))),
    )
    .unwrap_err();
    assert!(err.to_string().contains("catalog/terms/csv.json"), "{err}");
}

#[test]
fn a_republish_removes_stale_postings() {
    let mut s = store_of(vec![doc("org.x.alpha", "Alpha", "csv reader")]);
    Catalog::update(
        &mut s,
        &Change::Upsert(Box::new(doc("org.x.alpha", "Alpha", "yaml reader"))),
    )
    .unwrap();
    assert!(ids(&mut s, &Query::text("csv")).is_empty());
    assert_eq!(ids(&mut s, &Query::text("yaml")), ["org.x.alpha"]);
    assert!(
        !s.files.contains_key(&files::shard_path("csv")),
        "empty shards are removed"
    );
    Catalog::update(
        &mut s,
        &Change::Remove(BundleId::parse("org.x.alpha").unwrap()),
    )
    .unwrap();
    assert!(ids(&mut s, &Query::text("yaml")).is_empty());
    let root = files::parse_root(&s.files[ROOT_PATH]).unwrap();
    assert_eq!((root.docs, root.slots, root.total_len), (0, 1, 0));
    assert!(root.facets.is_empty());
}

/// Asserts two catalogs hold the same files, the root's generation aside; names the first
/// file that differs.
fn assert_same(a: &MemStore, b: &MemStore) {
    let strip = |s: &MemStore| {
        let mut f = s.files.clone();
        let mut root = files::parse_root(&f[ROOT_PATH]).unwrap();
        root.generation = 0;
        f.insert(ROOT_PATH.into(), files::to_json(&root));
        f
    };
    let (a, b) = (strip(a), strip(b));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    if let Some(k) = a.keys().find(|k| a[*k] != b[*k]) {
        panic!("{k} differs");
    }
}

#[test]
fn capped_lists_match_a_rebuild_when_only_adding() {
    // 320 bundles share `csv`: its list reaches the cap.
    let mut inc = MemStore::default();
    let mut all = Vec::new();
    for i in 0..320 {
        let mut d = doc(
            &format!("org.cap.b{i}"),
            &format!("Bundle {i}"),
            "csv tools",
        );
        d.readme = "csv ".repeat(i % 7);
        Catalog::update(&mut inc, &Change::Upsert(Box::new(d.clone()))).unwrap();
        all.push(d);
    }
    let mut full = store_of(all);
    assert_same(&inc, &full);
    let root = files::parse_root(&full.files[ROOT_PATH]).unwrap();
    let terms = files::parse_shard(&full.files[&files::shard_path("csv")], "csv", &root).unwrap();
    assert_eq!(
        (terms[0].1, terms[0].2.len()),
        (320, ratchet_catalog::POSTINGS_CAP)
    );
    let r = search(&mut full, &Query::text("csv")).unwrap();
    assert!(r.capped && r.total == ratchet_catalog::POSTINGS_CAP);
    // The kept postings are the best: bundles saying `csv` most often in their README.
    let best: usize = r.hits[0].summary.id.as_str()["org.cap.b".len()..]
        .parse()
        .unwrap();
    assert_eq!(best % 7, 6, "{best}");
}

#[test]
fn a_shard_over_its_size_target_is_split() {
    // Six capped terms in one shard are more than the shard's size target, and so are
    // thousands of rare terms with one prefix (`devNNNN` organisations).
    let all: Vec<_> = (0..700)
        .map(|i| {
            doc(
                &format!("org.dev{i}.tool"),
                &format!("Bundle {i}"),
                "csv csvalpha csvbeta csvgamma csvdelta csvepsilon",
            )
        })
        .collect();
    let mut full = store_of(all.clone());
    let root = files::parse_root(&full.files[ROOT_PATH]).unwrap();
    assert!(
        root.split.contains("csv") && root.split.contains("dev"),
        "{:?}",
        root.split
    );
    for (p, b) in &full.files {
        if p.starts_with("catalog/terms/") {
            assert!(b.len() <= files::SHARD_TARGET, "{p}: {}", b.len());
        }
    }
    let alpha = files::parse_shard(&full.files[&files::shard_path("csva")], "csva", &root).unwrap();
    assert_eq!(alpha.len(), 1);
    assert_eq!(
        (alpha[0].1, alpha[0].2.len()),
        (700, ratchet_catalog::POSTINGS_CAP)
    );
    assert!(
        !full.files.contains_key(&files::shard_path("dev")),
        "nothing is exactly `dev`"
    );
    let exact = files::parse_shard(&full.files[&files::shard_path("csv")], "csv", &root).unwrap();
    assert_eq!(
        exact.len(),
        1,
        "only the term equal to the split prefix stays"
    );
    let r = search(&mut full, &Query::text("csvalpha")).unwrap();
    assert!(r.capped && r.total == ratchet_catalog::POSTINGS_CAP);
    assert_eq!(ids(&mut full, &Query::text("dev217"))[0], "org.dev217.tool");
    assert_eq!(
        ids(&mut full, &Query::text("csvgam"))[..1].len(),
        1,
        "prefix below a split"
    );
    // A catalog grown by updates splits the same shards.
    let mut inc = MemStore::default();
    for d in all {
        Catalog::update(&mut inc, &Change::Upsert(Box::new(d))).unwrap();
    }
    let inc_root = files::parse_root(&inc.files[ROOT_PATH]).unwrap();
    assert_eq!(inc_root.split, root.split);
    assert_eq!(ids(&mut inc, &Query::text("dev217"))[0], "org.dev217.tool");
}

#[test]
fn verify_reports_what_differs_from_a_rebuild() {
    let docs = vec![
        doc("org.x.alpha", "Alpha", "csv reader"),
        doc("org.x.beta", "Beta", "csv writer reading"),
    ];
    let input = || docs.iter().map(|d| (d.id.clone(), Some(d.clone())));
    let mut s = store_of(docs.clone());
    assert_eq!(Catalog::verify(&s, input()).unwrap(), []);
    // A stale catalog: beta was re-published but the catalog was not updated.
    let mut changed = docs.clone();
    changed[1].description = "yaml writer".into();
    let diffs =
        Catalog::verify(&s, changed.iter().map(|d| (d.id.clone(), Some(d.clone())))).unwrap();
    let files_named: Vec<_> = diffs.iter().map(|d| d.file.as_str()).collect();
    assert!(files_named.contains(&"catalog/terms/yam.json"), "{diffs:?}");
    assert!(files_named.contains(&"catalog/terms/csv.json"), "{diffs:?}");
    // An extra file and a damaged root.
    s.files
        .insert("catalog/terms/zzz.json".into(), b"{}".to_vec());
    s.files.insert(ROOT_PATH.into(), b"nonsense".to_vec());
    let diffs = Catalog::verify(&s, input()).unwrap();
    assert!(
        diffs
            .iter()
            .any(|d| d.file == "catalog/terms/zzz.json" && d.problem == "extra")
    );
    assert!(
        diffs
            .iter()
            .any(|d| d.file == ROOT_PATH && d.problem.starts_with("malformed"))
    );
    // A root that is JSON of the right version but whose split trie clients refuse is
    // malformed, not merely stale; the same root of version 1 (split as a list) is neither.
    let good = String::from_utf8(store_of(docs.clone()).files[ROOT_PATH].clone()).unwrap();
    s.files.insert(
        ROOT_PATH.into(),
        good.replace(r#""split":"""#, r#""split":"c""#).into_bytes(),
    );
    let diffs = Catalog::verify(&s, input()).unwrap();
    assert!(
        diffs
            .iter()
            .any(|d| d.file == ROOT_PATH && d.problem.contains("split: the base at byte 0")),
        "{diffs:?}"
    );
    let mut s = store_of(docs.clone());
    s.files.insert(
        ROOT_PATH.into(),
        good.replace(r#""v":2"#, r#""v":1"#)
            .replace(r#""split":"""#, r#""split":[]"#)
            .into_bytes(),
    );
    assert_eq!(Catalog::verify(&s, input()).unwrap(), []);
}

/// A small generated corpus of `n` background bundles from [`WORDS`] plus `planted`.
fn corpus_with(n: u64, planted: Vec<CatalogDoc>) -> MemStore {
    let mut r = Lcg(7);
    let mut docs: Vec<CatalogDoc> = (0..n)
        .map(|i| random_doc(&mut r, &format!("org.gen.b{i}")))
        .collect();
    docs.extend(planted);
    store_of(docs)
}

#[test]
fn word_forms_round_trip_between_the_writer_and_queries() {
    let mut d = doc(
        "org.x.log-shipper",
        "Log shipper",
        "Ships rotated logs and retries failed deliveries.",
    );
    d.keywords = vec!["logging".into()];
    let mut s = corpus_with(40, vec![d]);
    // Every form of the words the bundle holds finds it, first.
    for q in [
        "log", "logs", "logging", "logged", "ship", "shipping", "shipped", "rotate", "rotating",
        "retry", "retries", "fail", "failing", "fails", "delivery",
    ] {
        let got = ids(&mut s, &Query::text(&format!("{q} ")));
        assert_eq!(
            got.first().map(String::as_str),
            Some("org.x.log-shipper"),
            "query {q:?}: {got:?}"
        );
    }
}

#[test]
fn a_natural_language_query_ranks_the_bundle_it_describes_first() {
    // The bundle says "slack alert"; the question says "alerts", "slack", "builds", "fail",
    // with filler words and words no bundle has: no bundle matches every word.
    let mut target = doc(
        "org.x.slack-alert",
        "Slack alert",
        "Posts an alert to a slack channel when a build breaks.",
    );
    target.keywords = vec!["slack".into(), "alert".into(), "ci".into()];
    // Distractors: one word each, however often.
    let mut only_slack = doc(
        "org.x.slack-export",
        "Slack export",
        "Exports slack history.",
    );
    only_slack.readme = "slack slack slack".into();
    let only_alert = doc("org.x.alert-mail", "Alert mail", "Mails an alert digest.");
    let mut s = corpus_with(60, vec![only_slack, target, only_alert]);
    let q = Query::text("how do I send alerts to slack when my builds fail?");
    let r = search(&mut s, &q).unwrap();
    assert_eq!(
        r.hits.first().map(|h| h.summary.id.as_str()),
        Some("org.x.slack-alert"),
        "{:?}",
        r.hits
            .iter()
            .map(|h| h.summary.id.as_str())
            .collect::<Vec<_>>()
    );
    // It matched a share of the words, so the answer is not relaxed; and a bundle holding one
    // word only is left out.
    assert!(!r.relaxed);
    assert!(
        !r.hits
            .iter()
            .any(|h| h.summary.id.as_str() == "org.x.alert-mail")
    );
    // A two-word query still needs both words.
    let r = search(&mut s, &Query::text("slack zebra")).unwrap();
    assert!(r.relaxed);
}

/// A [`ratchet_catalog::Fetch`] over a store that counts the files asked for in each round trip.
struct Counting<'a> {
    store: &'a MemStore,
    rounds: Vec<Vec<String>>,
}

impl ratchet_catalog::Fetch for Counting<'_> {
    fn fetch(&mut self, files: &[(String, u64)]) -> Vec<Result<Option<Vec<u8>>, CatalogError>> {
        self.rounds
            .push(files.iter().map(|(p, _)| p.clone()).collect());
        files.iter().map(|(p, l)| self.store.read(p, *l)).collect()
    }
}

fn counted(store: &MemStore, q: &Query) -> (ratchet_catalog::Results, Vec<Vec<String>>) {
    let mut f = Counting {
        store,
        rounds: Vec::new(),
    };
    let r = search(&mut f, q).unwrap();
    (r, f.rounds)
}

#[test]
fn a_listing_of_one_facet_value_finds_its_first_page_inline() {
    let s = corpus_with(1000, vec![]);
    let q = with(|q| {
        q.categories = vec!["finance".into()];
        q.limit = 10;
    });
    let (r, rounds) = counted(&s, &q);
    assert_eq!(r.hits.len(), 10);
    assert!(r.total > 60, "{}", r.total);
    // The root and the facet file; no summary block.
    assert_eq!(rounds.concat().len(), 2, "{rounds:?}");
    // So are the next pages up to the 50th member ...
    let page = |offset: usize, limit: usize| {
        counted(
            &s,
            &Query {
                offset,
                limit,
                ..q.clone()
            },
        )
    };
    let (r5, rounds) = page(40, 10);
    assert_eq!(
        (r5.hits.len(), rounds.concat().len()),
        (10, 2),
        "{rounds:?}"
    );
    let (r50, rounds) = page(0, 50);
    assert_eq!(
        (r50.hits.len(), rounds.concat().len()),
        (50, 2),
        "{rounds:?}"
    );
    assert_eq!(r50.hits[40..], r5.hits[..]);
    // ... and later ones come from the chunks and blocks.
    let (r6, rounds) = page(50, 10);
    assert!(
        rounds.concat().iter().any(|p| p.contains("/docs/")),
        "{rounds:?}"
    );
    assert!(r6.hits[0].summary.ord > r50.hits[49].summary.ord);
    // A facet file whose page names other bundles than its first ones is refused.
    let mut bad = s.clone();
    let path = files::facet_path("category", "finance");
    let text = String::from_utf8(bad.files[&path].clone()).unwrap();
    let first = r.hits[0].summary.ord;
    bad.files.insert(
        path.clone(),
        text.replacen(&format!("\"ord\":{first},"), "\"ord\":99999,", 1)
            .into_bytes(),
    );
    expect_err(
        &mut bad,
        &q,
        &format!("{path}: inconsistent with the catalog: inline summaries of ordinals"),
    );
}

/// A facet value's set is cut into chunks of 65536 ordinals (§10.2): a rebuild writes one file
/// per non-empty chunk, updates keep them as a rebuild would, and queries read only the chunks
/// they need.
#[test]
fn facet_sets_are_cut_into_chunks_that_updates_keep_like_a_rebuild() {
    const C: u32 = files::FACET_CHUNK;
    // Searchable bundles around the chunk boundaries; unsearchable ones in between.
    let live: Vec<u32> = (0..4)
        .chain(C - 46..C + 6)
        .chain(2 * C + 1..2 * C + 4)
        .collect();
    let n = 2 * C + 5;
    let id = |o: u32| BundleId::parse(&format!("org.gen.b{o}")).unwrap();
    let mk = |o: u32| {
        let mut d = doc(id(o).as_str(), &format!("gen {o}"), "a chunky widget");
        d.categories = vec![
            if o.is_multiple_of(2) { "even" } else { "odd" }.into(),
            "all".into(),
        ];
        d.authors = vec![if o < C { "Ann" } else { "Bob" }.into()];
        d
    };
    let mut state: Vec<(BundleId, Option<CatalogDoc>)> = (0..n)
        .map(|o| (id(o), live.contains(&o).then(|| mk(o))))
        .collect();
    let mut s = MemStore::default();
    Catalog::rebuild(&mut s, state.clone()).unwrap();
    let root = files::parse_root(&s.files[ROOT_PATH]).unwrap();
    let head = files::parse_facet_head(
        &s.files[&files::facet_path("category", "all")],
        "category",
        "all",
        &root,
    )
    .unwrap();
    assert_eq!(
        (head.count, head.chunks.clone()),
        (59, vec![(0, 50), (1, 6), (2, 3)])
    );
    for c in 0..3 {
        let p = files::facet_chunk_path("category", "all", c);
        assert!(s.files[&p].len() < 200, "{p}");
    }
    let ords = |r: &ratchet_catalog::Results| -> Vec<u32> {
        r.hits.iter().map(|h| h.summary.ord).collect()
    };
    // A first page is the head's inline page; a later one reads the value's chunks.
    let all = with(|q| {
        q.categories = vec!["all".into()];
        q.limit = 50;
    });
    let (r, rounds) = counted(&s, &all);
    assert_eq!(ords(&r), live[..50]);
    assert_eq!((r.total, rounds.concat().len()), (59, 2), "{rounds:?}");
    let (r, rounds) = counted(
        &s,
        &Query {
            offset: 50,
            ..all.clone()
        },
    );
    assert_eq!(ords(&r), live[50..]);
    assert_eq!(r.total, 59);
    assert_eq!(rounds[2].len(), 3, "{rounds:?}");
    // Two kinds: only the chunks both may hold.
    let (r, rounds) = counted(
        &s,
        &with(|q| {
            q.categories = vec!["even".into()];
            q.authors = vec!["bob".into()];
        }),
    );
    assert_eq!(ords(&r), [C, C + 2, C + 4, 2 * C + 2]);
    assert!(
        !rounds.concat().iter().any(|p| p.ends_with("/0.json")),
        "{rounds:?}"
    );
    // A text query with a filter reads no facet file: its postings' cards carry the keys of
    // their bundles' values.
    let (r, rounds) = counted(
        &s,
        &with(|q| {
            q.text = format!("{}", 2 * C + 2);
            q.categories = vec!["all".into()];
        }),
    );
    // (with its one-typo neighbours, all in chunk 2)
    assert_eq!(ords(&r)[0], 2 * C + 2);
    assert!(ords(&r).iter().all(|o| o / C == 2), "{:?}", ords(&r));
    let fetched = rounds.concat();
    assert!(
        !fetched.iter().any(|p| p.starts_with("catalog/facets/")),
        "{rounds:?}"
    );
    assert_eq!(rounds.len(), 2, "root, then the shards: {rounds:?}");
    let (r, _) = counted(
        &s,
        &with(|q| {
            q.text = "chunky".into();
            q.categories = vec!["odd".into()];
            q.limit = 50;
        }),
    );
    let mut got = ords(&r);
    got.sort();
    let odd: Vec<u32> = live.iter().copied().filter(|o| o % 2 == 1).collect();
    assert_eq!(got, odd);

    // Updates: the first page loses a member (its next one is in the next chunk), a chunk
    // empties, a new member lands in the last chunk, a member changes its values.
    let mut changes = vec![
        Change::Remove(id(C - 46)),
        Change::Upsert(Box::new(mk(2 * C + 4))),
    ];
    changes.extend((C..C + 6).map(|o| Change::Remove(id(o))));
    let mut moved = mk(C - 45);
    moved.categories = vec!["all".into()];
    changes.push(Change::Upsert(Box::new(moved)));
    for ch in &changes {
        Catalog::update(&mut s, ch).unwrap();
        let (o, d) = match ch {
            Change::Remove(i) => (i.as_str()[9..].parse::<u32>().unwrap(), None),
            Change::Upsert(d) => (
                d.id.as_str()[9..].parse::<u32>().unwrap(),
                Some((**d).clone()),
            ),
        };
        state[o as usize].1 = d;
    }
    let mut full = MemStore::default();
    Catalog::rebuild(&mut full, state.clone()).unwrap();
    assert_same(&s, &full);
    assert!(Catalog::verify(&s, state.clone()).unwrap().is_empty());
    assert!(
        !s.files
            .contains_key(&files::facet_chunk_path("category", "all", 1))
    );
    let (r, _) = counted(
        &s,
        &with(|q| {
            q.categories = vec!["all".into()];
            q.limit = 50;
        }),
    );
    let want: Vec<u32> = (0..4)
        .chain(C - 45..C)
        .chain(2 * C + 1..2 * C + 5)
        .collect();
    assert_eq!(ords(&r), want[..50]);
    assert_eq!(r.total, 53);

    // An update refuses a head whose inline summary lost its fields (it would write it back).
    let mut damaged = s.clone();
    let hp = files::facet_path("category", "all");
    let mut head: serde_json::Value = serde_json::from_slice(&damaged.files[&hp]).unwrap();
    head["s"][0] = serde_json::json!({"ord": head["s"][0]["ord"].clone()});
    damaged
        .files
        .insert(hp.clone(), serde_json::to_vec(&head).unwrap());
    let e = Catalog::update(&mut damaged, &Change::Upsert(Box::new(mk(2 * C + 5))))
        .unwrap_err()
        .to_string();
    assert!(e.contains(&hp) && e.contains("missing field `id`"), "{e}");
    // A chunk stored under another number, and a head of an older format, are refused.
    let mut bad = s.clone();
    let p = files::facet_chunk_path("category", "all", 2);
    let t = String::from_utf8(bad.files[&p].clone()).unwrap();
    bad.files.insert(
        p.clone(),
        t.replace("\"chunk\":2", "\"chunk\":0").into_bytes(),
    );
    expect_err(
        &mut bad,
        &Query {
            offset: 50,
            ..all.clone()
        },
        &format!("{p}: malformed: holds category=all chunk 0"),
    );
    let mut old = s.clone();
    let p = files::facet_path("category", "all");
    let t = String::from_utf8(old.files[&p].clone()).unwrap();
    old.files
        .insert(p.clone(), t.replace("\"v\":3", "\"v\":2").into_bytes());
    expect_err(
        &mut old,
        &all,
        &format!("{p}: catalog format 2 is not supported"),
    );
    // Verify names a chunk that is missing or differs.
    let mut stale = s.clone();
    stale
        .files
        .remove(&files::facet_chunk_path("category", "all", 2));
    let d = Catalog::verify(&stale, state).unwrap();
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        (d[0].file.as_str(), d[0].problem.as_str()),
        (
            files::facet_chunk_path("category", "all", 2).as_str(),
            "missing"
        )
    );
}

/// The writer keeps the cards of the terms it does not change as it read them, and parses
/// those it changes: damaged cards are refused with the shard named either way, and untouched
/// ones are written back byte for byte.
#[test]
fn an_update_refuses_damaged_cards_and_keeps_untouched_ones_as_read() {
    let base = vec![
        doc("org.x.alpha", "Alpha", "csv reader"),
        doc("org.x.beta", "Beta", "csv writer reading"),
    ];
    let shard = files::shard_path("csv");
    let republish = Change::Upsert(Box::new(doc("org.x.alpha", "Alpha", "csv parser")));
    for (damage, want) in [
        (r#""c":5"#, "is not a list"),
        (
            r#""c":[["org.x.alpha"],["org.x.beta"]]"#,
            "term `csv`: invalid length 1",
        ),
        (r#""c":[]"#, "term `csv`: 0 cards for 2 postings"),
    ] {
        let mut s = store_of(base.clone());
        let text = String::from_utf8(s.files[&shard].clone()).unwrap();
        let at = text.find(r#""c":["#).expect("csv has cards");
        let end = at + text[at..].find("]]").unwrap() + 2;
        let damaged = format!("{}{damage}{}", &text[..at], &text[end..]);
        s.files.insert(shard.clone(), damaged.into_bytes());
        let e = Catalog::update(&mut s, &republish).unwrap_err().to_string();
        assert!(e.contains(&shard) && e.contains(want), "{damage}: {e}");
    }
    // `rea` holds `reader` (changed) and `read` (kept as read): the result equals a rebuild.
    let mut s = store_of(base.clone());
    Catalog::update(&mut s, &republish).unwrap();
    let rea = String::from_utf8(s.files[&files::shard_path("rea")].clone()).unwrap();
    assert!(rea.contains(r#""t":"read","#), "{rea}");
    let mut all = base;
    all[0] = doc("org.x.alpha", "Alpha", "csv parser");
    assert_same(&s, &store_of(all));
}

/// A listing of `--verified` (community or official) reads the two heads and, within their
/// inline first pages, no chunk; past them it reads the chunks.
#[test]
fn a_verified_listing_is_the_union_of_two_heads_first_pages() {
    use ratchet_catalog::Verified;
    let docs: Vec<CatalogDoc> = (0..160)
        .map(|i| {
            let mut d = doc(&format!("org.v.b{i}"), &format!("B{i}"), "verified things");
            d.verified = match i % 3 {
                0 => Verified::None,
                1 => Verified::Community,
                _ => Verified::Official,
            };
            d
        })
        .collect();
    let s = store_of(docs);
    let want: Vec<u32> = (0..160).filter(|i| i % 3 != 0).collect();
    let q = with(|q| {
        q.verified = true;
        q.limit = 10;
    });
    let (r, rounds) = counted(&s, &q);
    let ords = |r: &ratchet_catalog::Results| -> Vec<u32> {
        r.hits.iter().map(|h| h.summary.ord).collect()
    };
    assert_eq!(ords(&r), want[..10]);
    assert_eq!(r.total, want.len());
    assert_eq!(rounds.len(), 2, "root, then the two heads: {rounds:?}");
    assert_eq!(rounds[1].len(), 2, "{rounds:?}");
    // So is every page up to the 50th member; past it, the sets themselves.
    let page = |offset: usize| {
        counted(
            &s,
            &Query {
                offset,
                ..q.clone()
            },
        )
    };
    let (r, rounds) = page(40);
    assert_eq!(ords(&r), want[40..50]);
    assert_eq!(rounds.len(), 2, "{rounds:?}");
    let (r, rounds) = page(50);
    assert_eq!(ords(&r), want[50..60]);
    assert_eq!(r.total, want.len());
    assert!(rounds.len() > 2, "{rounds:?}");
}

/// A lower-cased `İ` is `i` and a combining dot (not alphanumeric): a shard of such terms that
/// grows past its target is split, and its prefix survives the root's trie string.
#[test]
fn a_split_prefix_with_a_combining_mark_round_trips() {
    let docs: Vec<CatalogDoc> = (0..160)
        .map(|i| {
            doc(
                &format!("org.tr.b{i}"),
                &format!("B{i}"),
                &format!("İstanbul{i} route"),
            )
        })
        .collect();
    let mut s = store_of(docs.clone());
    let root = files::parse_root(&s.files[ROOT_PATH]).unwrap();
    assert!(root.split.contains("i\u{307}s"), "{:?}", root.split);
    assert_eq!(ids(&mut s, &Query::text("İstanbul42"))[0], "org.tr.b42");
    // Grown by updates, it is read back at every step.
    let mut inc = MemStore::default();
    for d in docs {
        Catalog::update(&mut inc, &Change::Upsert(Box::new(d))).unwrap();
    }
    assert_same(&inc, &s);
}

/// A card carries the keys of at most 16 categories, 64 tags, 4 authors and 16 licenses: a
/// bundle with more tags is listed under every one, and found by a filtered text query under
/// the first 64 (by value).
#[test]
fn a_card_carries_a_bounded_number_of_facet_keys() {
    let mut d = doc("org.many.tags", "Many", "tagged widget");
    d.keywords = (0..100).map(|i| format!("t{i:03}")).collect();
    let mut s = store_of(vec![d]);
    let text = String::from_utf8(s.files[&files::shard_path("wid")].clone()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys =
        ratchet_catalog::codec::decode_keys(v["terms"][0]["c"][0][10].as_str().unwrap(), 100)
            .unwrap();
    assert!(keys.len() <= files::MAX_CARD_KEYS, "{}", keys.len());
    let tagged = |s: &mut MemStore, tag: &str, text: &str| {
        ids(
            s,
            &with(|q| {
                q.text = text.into();
                q.tags = vec![tag.into()];
            }),
        )
    };
    assert_eq!(tagged(&mut s, "t063", "widget"), ["org.many.tags"]);
    assert!(tagged(&mut s, "t064", "widget").is_empty());
    assert_eq!(
        tagged(&mut s, "t099", ""),
        ["org.many.tags"],
        "listed under every tag"
    );
}

/// A summary's texts are cut, so that 50 of them stay within a facet head's reader limit
/// whatever a manifest holds (§10.2).
#[test]
fn a_summary_cuts_every_text() {
    let mut d = doc("org.long.texts", &"n".repeat(5000), &"d".repeat(5000));
    d.version = format!("1.0.0-{}", "a".repeat(5000));
    d.license = format!("LicenseRef-{}", "x".repeat(5000));
    d.updated = "u".repeat(5000);
    let s = d.summary(0);
    assert_eq!(
        [
            s.name.chars().count(),
            s.version.chars().count(),
            s.description.chars().count(),
            s.license.chars().count(),
            s.updated.chars().count()
        ],
        [200, 64, 200, 128, 40]
    );
    let many: Vec<CatalogDoc> = (0..60)
        .map(|i| {
            let mut x = d.clone();
            x.id = BundleId::parse(&format!("org.long.t{i}")).unwrap();
            x.categories = vec!["same".into()];
            x
        })
        .collect();
    let store = store_of(many);
    let head = &store.files[&files::facet_path("category", "same")];
    assert!((head.len() as u64) < files::MAX_FACET, "{}", head.len());
}
