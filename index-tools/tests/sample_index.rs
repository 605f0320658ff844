//! The committed sample registry: `scripts/regen-sample-index.sh` rebuilds it byte for byte
//! (this test fails when `sample-index/` is out of date), it verifies, and it resolves.
//!
//! The script runs the `ratchet` binary next to `ratchet-index` in the target directory;
//! `cargo test --workspace` builds both.

mod common;

use ratchet_client::resolver::{Candidate, ResolveOptions, resolve_complete};
use ratchet_formats::manifest::{BundleId, VersionReq};
use ratchet_publish::Registry;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn committed_sample_index_is_up_to_date() {
    let index_bin = PathBuf::from(env!("CARGO_BIN_EXE_ratchet-index"));
    let ratchet_bin = index_bin.with_file_name(format!("ratchet{}", std::env::consts::EXE_SUFFIX));
    assert!(
        ratchet_bin.is_file(),
        "{} is missing: run `cargo test --workspace` (it builds both binaries)",
        ratchet_bin.display()
    );
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("sample-index");
    // Signatures made anew (a sample bundle changed) go to a copy, never into the repository.
    let sigs = t.path().join("signatures");
    std::fs::create_dir_all(&sigs).unwrap();
    for e in std::fs::read_dir(repo().join("sample-keys/signatures")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), sigs.join(e.file_name())).unwrap();
    }
    let run = Command::new("sh")
        .arg(repo().join("scripts/regen-sample-index.sh"))
        .arg(&out)
        .env("RATCHET_SAMPLE_SIGS", &sigs)
        .env("RATCHET", &ratchet_bin)
        .env("RATCHET_INDEX", &index_bin)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "regeneration failed:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let fresh = common::snapshot(&out);
    let committed = common::snapshot(&repo().join("sample-index"));
    let names =
        |m: &std::collections::BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&committed),
        names(&fresh),
        "sample-index/ is out of date: run scripts/regen-sample-index.sh"
    );
    for (path, bytes) in &fresh {
        assert!(
            committed[path] == *bytes,
            "sample-index/{path} is out of date: run scripts/regen-sample-index.sh"
        );
    }
}

/// The committed sample registry is signed with the SAMPLE registry key at a fixed time (so
/// its timestamp has expired): the signed files name the sample origin, and it verifies with
/// only the expired timestamp as a warning. (Byte-for-byte reproducibility is the test above.)
#[test]
fn committed_sample_index_is_signed_with_the_sample_registry_key() {
    let dir = repo().join("sample-index");
    let ts = std::fs::read_to_string(dir.join("timestamp")).unwrap();
    assert!(
        ts.contains("origin=samples.ratchet.invalid")
            && ts.contains("issued=2026-01-12T00:00:00Z")
            && ts.contains("expires=2026-02-11T00:00:00Z"),
        "{ts}"
    );
    let root = std::fs::read_to_string(dir.join("root.json")).unwrap();
    let key_id = std::fs::read_to_string(repo().join("sample-keys/sample-registry.pub")).unwrap();
    let key_line = key_id.lines().nth(1).unwrap();
    assert!(
        root.contains(key_line),
        "root.json names another key:\n{root}"
    );
    assert!(dir.join("log/checkpoint").is_file());
    let report = Registry::open(&dir).unwrap().verify();
    let found: Vec<&str> = report.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(found, ["timestamp-expired"], "{:?}", report.diagnostics);
    assert!(report.errors().next().is_none());
}

#[test]
fn sample_index_verifies_and_resolves_around_the_yanked_version() {
    let reg = Registry::open(&repo().join("sample-index")).unwrap();
    let report = reg.verify();
    // The sample registry is signed at a fixed time: its timestamp has expired (and only that).
    let found: Vec<&str> = report.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(found, ["timestamp-expired"], "{:?}", report.diagnostics);
    let bundles = reg.list().unwrap();
    assert_eq!(bundles.len(), 7);
    let source: HashMap<BundleId, Vec<Candidate>> = bundles
        .iter()
        .map(|b| {
            (
                b.id.clone(),
                b.versions.iter().map(Candidate::from).collect(),
            )
        })
        .collect();
    let legacy = bundles
        .iter()
        .find(|b| b.id.as_str() == "com.ratchet.legacy-json")
        .unwrap();
    assert_eq!(
        legacy
            .deprecated
            .as_ref()
            .unwrap()
            .replacement
            .as_ref()
            .unwrap()
            .as_str(),
        "com.oss.json-utils"
    );
    let yanked: Vec<String> = bundles
        .iter()
        .flat_map(|b| {
            b.versions
                .iter()
                .filter(|l| l.yanked)
                .map(|l| format!("{} {}", l.id, l.version))
        })
        .collect();
    assert_eq!(yanked, ["com.partner.api-connectors 3.3.0"]);

    let root = BundleId::parse("com.example.data-processing").unwrap();
    let opts = ResolveOptions {
        platform: None,
        ..Default::default()
    };
    let g = resolve_complete(&[(root, VersionReq::any())], &source, &opts).unwrap();
    let chosen: HashMap<&str, String> = g
        .nodes
        .values()
        .map(|n| (n.id.as_str(), n.version.to_string()))
        .collect();
    assert_eq!(
        chosen["com.partner.api-connectors"], "3.2.0",
        "the yanked 3.3.0 is avoided"
    );
    assert_eq!(
        chosen["com.ratchet.core-utils"], "1.2.0",
        ">=1.2.0, <2.0.0 from api-connectors and <2 from data-processing"
    );
    assert_eq!(
        g.install_order.last().unwrap().as_str(),
        "com.example.data-processing"
    );
}
