//! `ratchet bundle info` shows download figures and related bundles (`index-format.md` §11,
//! `cli-output.md`) from a copy of `sample-index/` with real `stats/` and `related/` files made
//! by `ratchet-stats` from a real log: over a directory (file://), over a loopback HTTP server,
//! offline from the cache; absent files omit the fields, damaged ones are warnings.

mod common;
mod fault_server;

use common::{ratchet, text};
use fault_server::{Fault, serve};
use ratchet_formats::manifest::BundleId;
use ratchet_stats::{Day, IngestOptions, LogFormat};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CORE: &str = "com.ratchet.core-utils";

/// A copy of the sample registry with 12 downloads of core-utils (10 in the last week) and the
/// related lists computed.
fn registry_with_stats(tmp: &Path) -> PathBuf {
    // Served over HTTP too: a copy with a fresh timestamp.
    let dir = common::sample_index_for_http(tmp);
    let id = BundleId::parse(CORE).unwrap();
    let index = ratchet_formats::index::IndexFile::load(
        &dir.join(ratchet_formats::index::index_path(&id)),
        Some(&id),
    )
    .unwrap();
    let sha = &index.versions().last().unwrap().sha256;
    let get = |day: &str| {
        format!(
            "203.0.113.5 - - [{day}/Nov/2026:08:00:00 +0000] \"GET /archives/{}/{sha}.rbundle HTTP/1.1\" 200 100 \"-\" \"ratchet\"\n",
            &sha[..2]
        )
    };
    let log = tmp.join("access.log");
    std::fs::write(&log, get("01").repeat(2) + &get("28").repeat(10)).unwrap();
    ratchet_stats::ingest(
        &dir,
        &[log],
        &IngestOptions {
            format: LogFormat::Auto,
            today: Day::parse("2026-11-30").unwrap(),
        },
    )
    .unwrap();
    ratchet_stats::related::refresh(&dir).unwrap();
    dir
}

fn info_json(home: &Path, reg: &str, extra: &[&str]) -> (Value, String) {
    let mut args = vec![
        "bundle",
        "info",
        CORE,
        "--registry",
        reg,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let o = ratchet(home, &args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    (serde_json::from_slice(&o.stdout).unwrap(), text(&o.stderr))
}

fn assert_figures(j: &Value) {
    assert_eq!(j["downloads"]["total"], 12, "{j:#}");
    assert_eq!(j["downloads"]["last_30_days"], 12);
    assert_eq!(j["downloads"]["last_7_days"], 10);
    assert_eq!(j["downloads"]["as_of"], "2026-11-28");
    assert_eq!(j["downloads"]["versions"]["2.0.0"], 12);
    assert_eq!(j["trend"], ratchet_stats::files::trend(10, 2));
    let dependents: Vec<&str> = j["dependents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        dependents,
        [
            "com.example.data-processing",
            "com.partner.api-connectors",
            "com.templates.devops"
        ]
    );
    assert_eq!(j["together"][0]["id"], "com.partner.api-connectors");
    assert!(j["similar"].is_array());
    assert_eq!(j["rating"], Value::Null);
    assert_eq!(j["warnings"], serde_json::json!([]));
}

#[test]
fn info_over_a_directory_and_without_statistics() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = registry_with_stats(tmp.path());
    let home = tmp.path().join("home");
    let (j, _) = info_json(&home, dir.to_str().unwrap(), &[]);
    assert_figures(&j);
    assert_eq!(
        j["versions"].as_array().unwrap().len(),
        3,
        "the index part is unchanged"
    );

    let o = ratchet(
        &home,
        &["bundle", "info", CORE, "--registry", dir.to_str().unwrap()],
    );
    let out = text(&o.stdout);
    assert!(
        out.contains(
            "  downloads: 12 total, 12 in the last 30 days (as of 2026-11-28), trend +1.45 (rising)"
        ),
        "{out}"
    );
    assert!(
        out.contains("  often installed together: com.partner.api-connectors (1)"),
        "{out}"
    );
    assert!(out.contains("  used by: com.example.data-processing, com.partner.api-connectors, com.templates.devops"), "{out}");

    // The committed sample registry has no statistics: the fields are omitted, no warning.
    let plain = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-index");
    let (j, err) = info_json(&home, plain.to_str().unwrap(), &[]);
    for k in ["downloads", "trend", "similar", "together", "dependents"] {
        assert!(j.get(k).is_none(), "{k}: {j:#}");
    }
    assert_eq!(j["rating"], Value::Null);
    assert!(err.is_empty(), "{err}");
    let o = ratchet(
        &home,
        &[
            "bundle",
            "info",
            CORE,
            "--registry",
            plain.to_str().unwrap(),
        ],
    );
    assert!(!text(&o.stdout).contains("downloads:"));

    // Damaged files: a warning naming each, the rest of `info` as usual.
    let id = BundleId::parse(CORE).unwrap();
    let srel = ratchet_stats::stats_path(&id);
    let rrel = ratchet_stats::related_path(&id);
    std::fs::write(
        dir.join(&srel),
        "{\"v\":1,\"id\":\"com.ratchet.core-utils\",\"downloads\":-1}",
    )
    .unwrap();
    std::fs::write(dir.join(&rrel), vec![b'x'; 70 * 1024]).unwrap();
    let o = ratchet(
        &home,
        &["bundle", "info", CORE, "--registry", dir.to_str().unwrap()],
    );
    assert!(o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains(&srel) && err.contains("malformed"), "{err}");
    assert!(err.contains(&rrel), "{err}");
    assert!(!text(&o.stdout).contains("downloads:"));
    let (j, _) = info_json(&home, dir.to_str().unwrap(), &[]);
    assert!(j.get("downloads").is_none());
    assert_eq!(j["warnings"].as_array().unwrap().len(), 2, "{j:#}");
}

#[test]
fn info_over_http_and_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = registry_with_stats(tmp.path());
    let srv = serve(dir.clone(), Duration::ZERO);
    let home = tmp.path().join("home");
    let (j, _) = info_json(&home, &srv.url(), &[]);
    assert_figures(&j);
    assert_eq!(srv.count("/stats/"), 1);
    assert_eq!(srv.count("/related/"), 1);

    // From the cache, sending nothing.
    let before = srv.log.lock().unwrap().len();
    let (j, _) = info_json(&home, &srv.url(), &["--offline"]);
    assert_figures(&j);
    assert_eq!(srv.log.lock().unwrap().len(), before);

    // A hostile host: an oversized stats file is cut off and named, a missing related file is
    // simply absent.
    let id = BundleId::parse(CORE).unwrap();
    srv.fault(
        &format!("/{}", ratchet_stats::stats_path(&id)),
        Fault::Replace(vec![b' '; 3 << 20]),
    );
    std::fs::remove_file(dir.join(ratchet_stats::related_path(&id))).unwrap();
    // A new client: a warm one takes every file from its cache while the signed timestamp is
    // unchanged (index-format.md §9.7 step 1), so it would not see what the host serves now.
    let (j, _) = info_json(&tmp.path().join("home2"), &srv.url(), &[]);
    assert!(
        j.get("downloads").is_none() && j.get("similar").is_none(),
        "{j:#}"
    );
    let w = j["warnings"].as_array().unwrap();
    assert_eq!(w.len(), 1, "{j:#}");
    assert!(w[0].as_str().unwrap().contains("stats/"), "{j:#}");
}
