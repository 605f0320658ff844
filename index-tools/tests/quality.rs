//! `ratchet-index advisory add|list` (OSV records into `advisories.jsonl`) and `ratchet-index
//! attest --verification` (a verification report stored and named by an official attestation),
//! `index-format.md` §16.4 and §16.6.

mod common;

use common::*;
use ratchet_trust::keys;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output};

fn ri(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ratchet-index"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

fn osv(id: &str, name: &str) -> Value {
    json!({"schema_version": "1.6.0", "id": id, "modified": "2026-12-01T00:00:00Z",
        "summary": "bad things", "affected": [{"package": {"ecosystem": "Ratchet", "name": name},
        "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.0.1"}]}]}]})
}

#[test]
fn advisories_are_added_replaced_and_refused_with_a_location() {
    let t = tempfile::tempdir().unwrap();
    let tr = TestRegistry::new(t.path());
    let dir = s(&tr.dir());
    let one = t.path().join("one.json");
    std::fs::write(&one, osv("RATCHET-2026-0002", "com.test.b").to_string()).unwrap();
    let many = t.path().join("many.json");
    std::fs::write(
        &many,
        json!([
            osv("RATCHET-2026-0001", "com.test.a"),
            osv("RATCHET-2026-0003", "com.test.c")
        ])
        .to_string(),
    )
    .unwrap();
    let o = ri(&["advisory", "add", &dir, &s(&one), &s(&many)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("Added advisory RATCHET-2026-0003"),
        "{}",
        text(&o)
    );
    let file = std::fs::read_to_string(tr.dir().join("advisories.jsonl")).unwrap();
    let ids: Vec<String> = file
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        ids,
        [
            "RATCHET-2026-0001",
            "RATCHET-2026-0002",
            "RATCHET-2026-0003"
        ]
    );

    // The same id again replaces the record.
    let mut changed = osv("RATCHET-2026-0002", "com.test.b");
    changed["summary"] = json!("worse things");
    std::fs::write(&one, changed.to_string()).unwrap();
    let o = ri(&["advisory", "add", &dir, &s(&one), "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v,
        json!({"advisories": [{"id": "RATCHET-2026-0002", "replaced": true}]})
    );
    let o = ri(&["advisory", "list", &dir]);
    assert!(
        text(&o).contains("RATCHET-2026-0002  com.test.b  worse things"),
        "{}",
        text(&o)
    );

    // A record for no Ratchet package, or with a bad range: refused, naming file and line;
    // nothing written.
    let before = snapshot(&tr.dir());
    let bad = t.path().join("bad.jsonl");
    let mut other = osv("X-1", "com.test.x");
    other["affected"][0]["package"]["ecosystem"] = json!("npm");
    std::fs::write(&bad, format!("{}\n{}\n", osv("OK-1", "com.test.a"), other)).unwrap();
    let o = ri(&["advisory", "add", &dir, &s(&bad)]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("bad.jsonl:2: no `affected` entry with package.ecosystem `Ratchet`"),
        "{}",
        text(&o)
    );
    assert_eq!(snapshot(&tr.dir()), before);
}

#[test]
fn attest_stores_a_passing_report_and_refuses_others() {
    let t = tempfile::tempdir().unwrap();
    let tr = TestRegistry::new(t.path());
    let dir = s(&tr.dir());
    let line = Bundle::new("com.test.good", "1.0.0").publish(&tr);
    let kdir = t.path().join("keys");
    let ver = keys::generate(&kdir, "verifier", None).unwrap();
    let o = ri(&[
        "verifier",
        "add",
        &dir,
        "--name",
        "Sec",
        "--key",
        &s(&ver.public),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // What `ratchet bundle check ARCHIVE -o FILE` writes (the fields the registry checks).
    let report = |passed: bool, failed: u64, sha: &str| {
        json!({"format_version": 1, "tool": "ratchet 0.1.0", "engine": "x",
            "bundle": {"id": "com.test.good", "version": "1.0.0"}, "archive_sha256": sha,
            "ratchet_version": "1.0.0", "verification": {"status": "unverified"},
            "passed": passed, "summary": {"passed": 3, "failed": failed, "skipped": 0}, "tests": []})
    };
    let file = t.path().join("report.json");
    let attest = |file: &Path| {
        ri(&[
            "attest",
            &dir,
            "com.test.good",
            "1.0.0",
            "--key",
            &s(&ver.secret),
            "--official",
            "--verification",
            &s(file),
            "--time",
            TIME,
            "--format",
            "json",
        ])
    };
    let before = snapshot(&tr.dir());
    for (r, why) in [
        (report(false, 1, &line.sha256), "did not pass (1 failed)"),
        (report(true, 0, &"ab".repeat(32)), "not the published"),
    ] {
        std::fs::write(&file, r.to_string()).unwrap();
        let o = attest(&file);
        assert!(!o.status.success());
        assert!(text(&o).contains(why), "{}", text(&o));
        assert_eq!(snapshot(&tr.dir()), before, "nothing written");
    }
    // --verification needs --official.
    let o = ri(&[
        "attest",
        &dir,
        "com.test.good",
        "1.0.0",
        "--key",
        &s(&ver.secret),
        "--verification",
        &s(&file),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    std::fs::write(&file, report(true, 0, &line.sha256).to_string()).unwrap();
    let o = attest(&file);
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rel = v["attested"]["report"].as_str().unwrap().to_string();
    assert!(
        rel.starts_with(&format!("reports/{}/", line.sha256)),
        "{rel}"
    );
    let stored = std::fs::read(tr.dir().join(&rel)).unwrap();
    // Content-addressed: the name holds the stored bytes' SHA-256.
    assert!(rel.ends_with(&format!(
        "{}.json",
        ratchet_formats::archive::sha256_hex(&stored)
    )));
    let stored: Value = serde_json::from_slice(&stored).unwrap();
    assert_eq!(
        stored["verification"],
        json!({"status": "officially-verified", "verifier": "Sec", "date": TIME, "report_url": null})
    );
    // The signed statement names the report.
    let id = ratchet_formats::manifest::BundleId::parse("com.test.good").unwrap();
    let meta =
        std::fs::read_to_string(tr.dir().join(ratchet_formats::index::meta_path(&id))).unwrap();
    assert!(meta.contains(&format!("report={rel}")), "{meta}");
    assert_consistent(&tr.reg);
}
