//! `ratchet bundle search`, `categories` and `tags` over the committed `sample-index/`
//! (`index-format.md` §10, `cli-output.md`): each facet and sort, `file://` and a real
//! loopback HTTP server, `--offline` from the cache, several configured registries, and the
//! refusals: a registry without a catalog, an oversized, malformed or inconsistent catalog
//! file (named, exit 1, no partial results), hostile text escaped on the terminal.

mod common;
#[path = "common/snap.rs"]
mod snap;

use common::{copy_dir, ratchet, text};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-index")
}

/// A copy of sample-index that a test may change.
fn sample_copy(t: &Path) -> PathBuf {
    let d = t.join("reg");
    copy_dir(&sample(), &d);
    d
}

/// `ratchet --format json bundle ARGS`, which must succeed with nothing on stderr.
fn json(home: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--format", "json", "bundle"];
    all.extend_from_slice(args);
    let o = ratchet(home, &all);
    assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    assert!(o.stderr.is_empty(), "{}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The ids of a search's results, in order.
fn ids(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// `bundle search ARGS --registry sample-index`: the ids found.
fn found(home: &Path, args: &[&str]) -> Vec<String> {
    let reg = sample();
    let mut all = vec!["search"];
    all.extend_from_slice(args);
    all.extend(["--registry", reg.to_str().unwrap()]);
    ids(&json(home, &all))
}

#[test]
fn text_queries_rank_by_relevance_with_prefixes_and_typos() {
    let t = tempfile::tempdir().unwrap();
    let h = t.path();
    // The name and keyword outweigh a mention in a description; the deprecated one is last.
    let json_hits = found(h, &["json"]);
    assert_eq!(json_hits[0], "com.oss.json-utils");
    assert_eq!(json_hits.last().unwrap(), "com.ratchet.legacy-json");
    assert_eq!(json_hits.len(), 4, "{json_hits:?}");
    // Stemmed plural, prefix of the last word, one typo.
    assert_eq!(found(h, &["connector"]), ["com.partner.api-connectors"]);
    assert_eq!(found(h, &["salesfo"]), ["com.enterprise.salesforce-suite"]);
    assert_eq!(
        found(h, &["salesforse"]),
        ["com.enterprise.salesforce-suite"]
    );
    // Every word must match; none matching: nothing.
    assert_eq!(found(h, &["json", "pretty"]), ["com.ratchet.legacy-json"]);
    assert!(found(h, &["zzqqxx"]).is_empty());
    // Several words, none matching them all: bundles matching some, and the answer says so.
    let v = json(
        h,
        &[
            "search",
            "kubernetes",
            "zzqqxx",
            "--registry",
            sample().to_str().unwrap(),
        ],
    );
    assert_eq!(ids(&v), ["com.templates.devops"]);
    assert_eq!(v["relaxed"], true);
}

#[test]
fn each_facet_filters() {
    let t = tempfile::tempdir().unwrap();
    let h = t.path();
    assert_eq!(found(h, &["--category", "data"]), ["com.oss.json-utils"]);
    assert_eq!(
        found(h, &["--category", "Integration", "--category", "utilities"]),
        ["com.ratchet.core-utils", "com.partner.api-connectors"]
    );
    assert!(found(h, &["--category", "data", "--category", "nope"]).len() == 1);
    assert_eq!(
        found(h, &["json", "--category", "integration"]),
        ["com.partner.api-connectors"]
    );
    assert!(found(h, &["salesforce", "--category", "data"]).is_empty());
    assert_eq!(
        found(h, &["json", "--tag", "validation"]),
        ["com.oss.json-utils"]
    );
    assert_eq!(
        found(h, &["--author", "Ratchet Team"]),
        ["com.ratchet.core-utils", "com.ratchet.legacy-json"]
    );
    // Case and SPDX spelling do not matter; an expression counts under each id.
    assert_eq!(
        found(h, &["--license", "proprietary"]),
        ["com.enterprise.salesforce-suite"]
    );
    let apache = found(h, &["--license", "Apache-2.0"]);
    assert_eq!(apache, ["com.ratchet.core-utils", "com.templates.devops"]);
    // AND across kinds, OR within one.
    assert_eq!(
        found(
            h,
            &[
                "--license",
                "MIT",
                "--license",
                "Apache-2.0",
                "--author",
                "ratchet team"
            ]
        )
        .len(),
        2
    );
    assert_eq!(found(h, &["--price", "free"]).len(), 4);
    assert_eq!(
        found(h, &["--price", "paid"]),
        [
            "com.enterprise.salesforce-suite",
            "com.example.data-processing",
            "com.templates.devops"
        ]
    );
    // max:N needs text; freemium counts as affordable, a 299 USD subscription does not.
    let cheap = found(h, &["suite", "--price", "max:10"]);
    assert_eq!(cheap, ["com.example.data-processing"]);
    assert_eq!(found(h, &["suite"]).len(), 2);
    // Nothing in the sample is verified.
    assert!(found(h, &["json", "--verified"]).is_empty());
}

#[test]
fn verified_filter_and_status_follow_an_attestation() {
    let t = tempfile::tempdir().unwrap();
    let reg_dir = sample_copy(t.path());
    let mut reg = ratchet_publish::Registry::open(&reg_dir)
        .unwrap()
        .with_registry_key(ratchet_testkit::sample_registry_key());
    let key = ratchet_testkit::secret_key(t.path(), "verifier");
    reg.add_verifier("Ratchet", key.public()).unwrap();
    let id = ratchet_formats::manifest::BundleId::parse("com.oss.json-utils").unwrap();
    let line = reg.bundle(&id).unwrap().latest().unwrap().clone();
    let fields = ratchet_trust::attest::AttestFields {
        kind: ratchet_trust::attest::AttestKind::Official,
        id: id.to_string(),
        version: line.version.to_string(),
        sha256: line.sha256.clone(),
        date: "2026-02-01T00:00:00Z".into(),
        score: None,
        report: None,
    };
    reg.add_attestation(ratchet_trust::attest::attest(&fields, &key).unwrap())
        .unwrap();
    let v = json(
        t.path(),
        &[
            "search",
            "json",
            "--verified",
            "--registry",
            reg_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(ids(&v), ["com.oss.json-utils"]);
    assert_eq!(v["results"][0]["verified"], "official");
}

#[test]
fn each_sort() {
    let t = tempfile::tempdir().unwrap();
    let h = t.path();
    // "suite" and "data" words: published 2026-01-08 (salesforce) and 01-09 (data-processing).
    assert_eq!(
        found(h, &["suite", "--sort", "updated"]),
        [
            "com.example.data-processing",
            "com.enterprise.salesforce-suite"
        ]
    );
    assert_eq!(
        found(h, &["json", "--sort", "name"]),
        [
            "com.oss.json-utils",         // "JSO..."
            "com.ratchet.legacy-json",    // "LEG..."
            "com.partner.api-connectors", // "PAR..."
            "com.ratchet.core-utils",     // "RAT..."
        ]
    );
    // No downloads, ratings or trends yet: those sorts fall back to relevance.
    let relevance = found(h, &["json"]);
    for sort in ["downloads", "rating", "trending", "relevance"] {
        assert_eq!(found(h, &["json", "--sort", sort]), relevance, "{sort}");
    }
    // Pages.
    assert_eq!(found(h, &["json", "--limit", "2"]), relevance[..2]);
    assert_eq!(
        found(h, &["json", "--limit", "2", "--offset", "2"]),
        relevance[2..]
    );
}

#[test]
fn output_snapshots() {
    let t = tempfile::tempdir().unwrap();
    let reg = sample();
    let r = reg.to_str().unwrap();
    let _g = snap::settings().bind_to_scope();
    let run = |args: &[&str]| snap::render(&ratchet(t.path(), args), &reg);
    insta::assert_snapshot!(
        "search_text",
        run(&["bundle", "search", "json", "--registry", r])
    );
    insta::assert_snapshot!(
        "search_json",
        run(&[
            "--format",
            "json",
            "bundle",
            "search",
            "suite",
            "--registry",
            r
        ])
    );
    insta::assert_snapshot!(
        "search_none",
        run(&["bundle", "search", "nothing-like-this", "--registry", r])
    );
    insta::assert_snapshot!(
        "categories",
        run(&["bundle", "categories", "--registry", r])
    );
    insta::assert_snapshot!(
        "tags_popular_json",
        run(&[
            "--format",
            "json",
            "bundle",
            "tags",
            "--popular",
            "--registry",
            r
        ])
    );
}

/// A static file server on loopback serving `dir`, counting the requests it answers.
fn serve(dir: PathBuf) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
            }
            c.fetch_add(1, Ordering::SeqCst);
            let path = line.split_whitespace().nth(1).unwrap_or("/");
            let file = dir.join(path.trim_start_matches('/'));
            let (status, body) = match std::fs::read(&file) {
                Ok(b) if !path.contains("..") => ("200 OK", b),
                _ => ("404 Not Found", Vec::new()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    (format!("http://127.0.0.1:{port}/"), count)
}

#[test]
fn over_http_then_offline_from_the_cache_and_across_registries() {
    let t = tempfile::tempdir().unwrap();
    let h = t.path();
    let (url, requests) = serve(sample());
    let over_http = json(
        h,
        &["search", "json", "--tag", "validation", "--registry", &url],
    );
    assert_eq!(ids(&over_http), ["com.oss.json-utils"]);
    // Root and one shard: the tag is among the keys of the posting's card, and the summary is
    // its card (index-format.md §10.6).
    let asked = requests.load(Ordering::SeqCst);
    assert_eq!(asked, 2);
    // One word: root and shard, nothing else (index-format.md §10.6).
    let one = json(h, &["search", "pipeline", "--registry", &url]);
    assert_eq!(ids(&one), ["com.example.data-processing"]);
    assert_eq!(requests.load(Ordering::SeqCst), asked + 2);
    let asked = asked + 2;
    let offline = json(
        h,
        &[
            "search",
            "json",
            "--tag",
            "validation",
            "--registry",
            &url,
            "--offline",
        ],
    );
    assert_eq!(offline["results"], over_http["results"]);
    assert_eq!(
        requests.load(Ordering::SeqCst),
        asked,
        "--offline asked the server"
    );
    // Not in the cache: offline says so.
    let o = ratchet(
        h,
        &[
            "bundle",
            "search",
            "devops",
            "--registry",
            &url,
            "--offline",
        ],
    );
    common::assert_fails_with(&o, "not in the cache");

    // Two configured registries: results from both, each naming its registry.
    let other = sample_copy(h);
    for (name, loc) in [("web", url.as_str()), ("disk", other.to_str().unwrap())] {
        let o = ratchet(h, &["registry", "add", name, loc, "--kind", "local"]);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let both = json(h, &["search", "salesforce"]);
    let regs: Vec<&str> = both["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["registry"].as_str().unwrap())
        .collect();
    assert_eq!(regs.len(), 2, "{both}");
    assert!(regs.contains(&"web") && regs.contains(&"disk"), "{regs:?}");
    assert_eq!(both["total"], 2);
}

#[test]
fn a_registry_without_a_catalog_or_with_a_damaged_one_is_named() {
    let t = tempfile::tempdir().unwrap();
    let h = t.path();
    let reg = sample_copy(h);
    let r = reg.to_str().unwrap().to_string();
    let search = |args: &[&str]| {
        let mut all = vec!["bundle", "search"];
        all.extend_from_slice(args);
        all.extend(["--registry", r.as_str()]);
        ratchet(h, &all)
    };
    let shard = reg.join("catalog/terms/jso.json");
    let good = std::fs::read(&shard).unwrap();

    std::fs::write(
        &shard,
        b"{\"v\":1,\"key\":\"jso\",\"terms\":[{\"t\":\"json\"",
    )
    .unwrap();
    let o = search(&["json"]);
    common::assert_fails_with(&o, "catalog/terms/jso.json: malformed");
    assert!(o.stdout.is_empty(), "partial results: {}", text(&o.stdout));

    std::fs::write(&shard, vec![b' '; 300 * 1024]).unwrap();
    common::assert_fails_with(&search(&["json"]), "catalog/terms/jso.json");

    // A term whose postings lost a card...
    let mut b: Value = serde_json::from_slice(&good).unwrap();
    let term = b["terms"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|t| t["t"] == "json")
        .unwrap();
    term["c"].as_array_mut().unwrap().pop();
    std::fs::write(&shard, serde_json::to_vec(&b).unwrap()).unwrap();
    let o = search(&["json"]);
    common::assert_fails_with(
        &o,
        "catalog/terms/jso.json: malformed: term `json`: 3 cards for 4 postings",
    );
    std::fs::write(&shard, &good).unwrap();
    // ... and a listing whose facet head's first page lost a summary (index-format.md §10.2).
    let facets = reg.join("catalog/facets/category");
    let facet = std::fs::read_dir(&facets)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            // Heads only: their chunks are in directories beside them.
            p.is_file()
                && std::fs::read_to_string(p)
                    .unwrap()
                    .contains("\"value\":\"data\"")
        })
        .expect("the facet file of category data");
    let mut f: Value = serde_json::from_slice(&std::fs::read(&facet).unwrap()).unwrap();
    f["s"].as_array_mut().unwrap().remove(0);
    std::fs::write(&facet, serde_json::to_vec(&f).unwrap()).unwrap();
    let o = search(&["--category", "data"]);
    common::assert_fails_with(
        &o,
        "inconsistent with the catalog: inline summaries of ordinals",
    );

    std::fs::remove_dir_all(reg.join("catalog")).unwrap();
    let o = search(&["json"]);
    common::assert_fails_with(&o, "has no search catalog");
    let o = ratchet(h, &["bundle", "categories", "--registry", &r]);
    common::assert_fails_with(&o, "has no search catalog");
}

#[test]
fn text_from_the_catalog_is_escaped_on_the_terminal() {
    let t = tempfile::tempdir().unwrap();
    let h = t.path();
    let reg = sample_copy(h);
    // The card of com.oss.json-utils among the postings of `json`.
    let shard = reg.join("catalog/terms/jso.json");
    let mut b: Value = serde_json::from_slice(&std::fs::read(&shard).unwrap()).unwrap();
    let term = b["terms"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|t| t["t"] == "json")
        .unwrap();
    let card = term["c"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c[0] == "com.oss.json-utils")
        .unwrap();
    card[3] = Value::from("evil \u{1b}[2J\u{202e} text\nsecond  line");
    std::fs::write(&shard, serde_json::to_vec(&b).unwrap()).unwrap();
    let o = ratchet(
        h,
        &[
            "bundle",
            "search",
            "json",
            "--registry",
            reg.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{202e}'),
        "{out:?}"
    );
    assert!(out.contains("\\x1b[2J"), "{out}");
    // A description's line breaks become single spaces: one result keeps one line.
    assert!(out.contains(" text second line\n"), "{out:?}");
    // JSON carries the string as it is.
    let v = json(h, &["search", "json", "--registry", reg.to_str().unwrap()]);
    assert_eq!(
        v["results"][0]["description"],
        "evil \u{1b}[2J\u{202e} text\nsecond  line"
    );
}

#[test]
fn usage_errors_exit_2() {
    let t = tempfile::tempdir().unwrap();
    let reg = sample();
    let r = reg.to_str().unwrap();
    for (args, says) in [
        (
            vec!["bundle", "search", "--registry", r],
            "give search text or at least one filter",
        ),
        (
            vec![
                "bundle",
                "search",
                "json",
                "--sort",
                "stars",
                "--registry",
                r,
            ],
            "not a sort",
        ),
        (
            vec![
                "bundle",
                "search",
                "json",
                "--price",
                "cheap",
                "--registry",
                r,
            ],
            "not a price filter",
        ),
        (
            vec!["bundle", "search", "json", "--limit", "51", "--registry", r],
            "--limit must be 1 to 50",
        ),
        (
            vec![
                "bundle",
                "search",
                "--category",
                "data",
                "--sort",
                "name",
                "--registry",
                r,
            ],
            "other sorts need text",
        ),
    ] {
        let o = ratchet(t.path(), &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains(says),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
}

#[test]
fn similar_lists_the_related_bundles_with_their_summaries() {
    let t = tempfile::tempdir().unwrap();
    let h = t.path().join("home");
    let reg = sample_copy(t.path());
    let r = reg.to_str().unwrap();
    // Before `ratchet-index stats related`: no related/ lists, a clear error naming the file.
    let o = ratchet(
        &h,
        &[
            "bundle",
            "search",
            "--similar",
            "com.oss.json-utils",
            "--registry",
            r,
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("no related-bundle list for com.oss.json-utils")
            && err.contains("related/")
            && err.contains("ratchet-index stats related"),
        "{err}"
    );
    // What `ratchet-index stats related` runs.
    ratchet_stats::related::refresh(&reg).unwrap();
    let want = ratchet_stats::read_related(&reg, &"com.oss.json-utils".parse().unwrap())
        .unwrap()
        .unwrap();
    assert!(!want.similar.is_empty(), "the sample has similar bundles");
    let v = json(
        &h,
        &["search", "--similar", "com.oss.json-utils", "--registry", r],
    );
    assert_eq!(v["similar_to"], "com.oss.json-utils");
    let got = ids(&v);
    let expected: Vec<String> = want.similar.iter().map(|s| s.id.to_string()).collect();
    assert_eq!(got, expected.iter().take(10).cloned().collect::<Vec<_>>());
    // Summaries come from the catalog: the version and description of each live bundle.
    for r in v["results"].as_array().unwrap() {
        if r["in_catalog"] == true {
            assert!(r["version"].as_str().is_some_and(|s| !s.is_empty()), "{r}");
        }
    }
    assert!(
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["in_catalog"] == true),
        "{v}"
    );
    // Text: a heading, then the bundles with their similarity.
    let o = ratchet(
        &h,
        &[
            "bundle",
            "search",
            "--similar",
            "com.oss.json-utils",
            "--limit",
            "2",
            "--registry",
            r,
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.starts_with("Bundles like com.oss.json-utils:\n"),
        "{out}"
    );
    assert!(
        out.contains(&expected[0]) && out.contains("similarity "),
        "{out}"
    );
    assert!(
        out.ends_with(&format!("{} result(s)\n", expected.len().min(2))),
        "{out}"
    );
    // --similar with search text is a usage error.
    let o = ratchet(
        &h,
        &[
            "bundle",
            "search",
            "json",
            "--similar",
            "com.oss.json-utils",
            "--registry",
            r,
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
}
