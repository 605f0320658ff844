//! `ratchet-index stats ingest|show|related` over a temporary copy of `sample-index/`: the JSON
//! documents of `cli-output.md`, re-ingestion counting nothing, a log that is not a log
//! refused with a non-zero exit and nothing written, and a damaged stats file named.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ri(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ratchet-index"))
        .args(args)
        .output()
        .unwrap()
}

fn json_ok(o: &Output) -> Value {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    serde_json::from_slice(&o.stdout).unwrap()
}

use ratchet_testkit::copy_dir;

fn sample(tmp: &Path) -> PathBuf {
    let dir = tmp.join("reg");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-index"),
        &dir,
    );
    dir
}

/// The archive path of the first version of `id` in the sample index.
fn archive(dir: &Path, id: &str) -> String {
    let bid = ratchet_formats::manifest::BundleId::parse(id).unwrap();
    let f = ratchet_formats::index::IndexFile::load(
        &dir.join(ratchet_formats::index::index_path(&bid)),
        Some(&bid),
    )
    .unwrap();
    let sha = &f.versions().next().unwrap().sha256;
    format!("/archives/{}/{sha}.rbundle", &sha[..2])
}

#[test]
fn ingest_show_and_related_as_json() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sample(tmp.path());
    let reg = dir.to_str().unwrap();
    let core = archive(&dir, "com.ratchet.core-utils");
    let log = tmp.path().join("access.log");
    let mut text = String::new();
    for (day, n) in [("20", 4), ("28", 6), ("30", 10)] {
        for i in 0..n {
            text += &format!(
                "198.51.100.{i} - - [{day}/Nov/2026:12:00:00 +0000] \"GET /sub{core} HTTP/1.1\" 200 2541 \"-\" \"curl/8\"\n"
            );
        }
    }
    text += "198.51.100.1 - - [30/Nov/2026:12:00:00 +0000] \"GET /sub/names.txt HTTP/1.1\" 200 10 \"-\" \"curl/8\"\n";
    text += "not a log line\n";
    std::fs::write(&log, &text).unwrap();
    let log = log.to_str().unwrap();

    let j = json_ok(&ri(&[
        "--format",
        "json",
        "stats",
        "ingest",
        "--registry",
        reg,
        log,
    ]));
    assert_eq!(j["downloads"], 20);
    assert_eq!(j["logs"][0]["format"], "combined");
    assert_eq!(j["logs"][0]["records"], 21);
    assert_eq!(j["logs"][0]["malformed"], 1);
    assert_eq!(j["malformed"][0]["line"], 22);
    assert_eq!(j["summary"]["downloads"], 20);
    assert_eq!(j["summary"]["last_day"], "2026-11-30");
    assert!(j["batch"].is_string());
    // The search catalog follows: its document of the bundle now carries the downloads, so
    // `verify` (which compares the catalog with a rebuild) finds it up to date.
    assert_eq!(j["catalog_updated"], 1);
    let v = ri(&["verify", reg]);
    let verr = String::from_utf8_lossy(&v.stderr);
    assert!(v.status.success(), "{verr}");
    assert!(!verr.contains("catalog-stale"), "{verr}");

    let again = json_ok(&ri(&[
        "--format",
        "json",
        "stats",
        "ingest",
        "--registry",
        reg,
        log,
    ]));
    assert_eq!(again["downloads"], 0);
    assert_eq!(again["batch"], Value::Null);
    assert_eq!(again["summary"]["downloads"], 20);

    let s = json_ok(&ri(&[
        "--format",
        "json",
        "stats",
        "show",
        "--registry",
        reg,
        "com.ratchet.core-utils",
    ]));
    assert_eq!(s["stats"]["downloads"], 20);
    assert_eq!(s["stats"]["last_7_days"], 16);
    assert_eq!(s["stats"]["last_30_days"], 20);
    // trend = log2((16 + 5) / (4 / 4 + 5)) = log2(3.5)
    assert_eq!(s["stats"]["trend"], 1.807);
    assert_eq!(s["related"], Value::Null);

    let r = json_ok(&ri(&[
        "--format",
        "json",
        "stats",
        "related",
        "--registry",
        reg,
    ]));
    assert_eq!(r["bundles"], 7);
    let s = json_ok(&ri(&[
        "--format",
        "json",
        "stats",
        "show",
        "--registry",
        reg,
        "com.ratchet.core-utils",
    ]));
    assert_eq!(s["related"]["dependents"].as_array().unwrap().len(), 3);
    assert_eq!(s["related"]["rating"], Value::Null);

    // Text output names the figures.
    let o = ri(&["stats", "show", "--registry", reg, "com.ratchet.core-utils"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("20 download(s), 20 in the last 30 days"),
        "{out}"
    );
    assert!(
        out.contains("used by: com.example.data-processing"),
        "{out}"
    );

    // The registry stays consistent for `verify`.
    assert!(ri(&["verify", reg]).status.success());
}

#[test]
fn refusals() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = sample(tmp.path());
    let reg = dir.to_str().unwrap();
    let bad = tmp.path().join("notes.txt");
    std::fs::write(&bad, "hello\nworld\n").unwrap();
    let o = ri(&["stats", "ingest", "--registry", reg, bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("notes.txt") && err.contains("none of its 2"),
        "{err}"
    );
    assert!(!dir.join("stats").exists());

    let o = ri(&[
        "stats",
        "ingest",
        "--registry",
        reg,
        "--log-format",
        "xml",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));

    // Not a registry: refused, and no lock file is left there.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = ri(&[
        "stats",
        "ingest",
        "--registry",
        empty.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("config.json"));
    let o = ri(&["stats", "related", "--registry", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);

    let o = ri(&["stats", "show", "--registry", reg, "com.nobody.here"]);
    assert_eq!(o.status.code(), Some(1));

    // A damaged stats file is named.
    let id = ratchet_formats::manifest::BundleId::parse("com.oss.json-utils").unwrap();
    let rel = ratchet_stats::stats_path(&id);
    std::fs::create_dir_all(dir.join(&rel).parent().unwrap()).unwrap();
    std::fs::write(dir.join(&rel), vec![b' '; 3 << 20]).unwrap();
    let o = ri(&["stats", "show", "--registry", reg, "com.oss.json-utils"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&rel) && err.contains("more than"), "{err}");
}
