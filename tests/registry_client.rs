//! The registry client against real registries: a `file://`/directory registry (the committed
//! sample-index and one published by the test) and a fault-injecting HTTP server on loopback.

mod common;
mod fault_server;
mod tls_server;

use common::{
    assert_fails_with, install_from, ratchet, sample_index_for_http, text, unsigned_sample_index,
};

use fault_server::{Fault, serve};
use ratchet_client::events::{Event, EventLog};
use ratchet_client::install::{
    ApplyOptions, Client, InstallError, InstalledState, PlanRequest, apply, bundle_dir, parse_spec,
    plan,
};
use ratchet_client::paths::Paths;
use ratchet_client::registry::{FetchError, RegistrySource};
use ratchet_client::verify::Notice;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

fn sample_index() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-index")
}

fn client(home: &Path, url: &str, offline: bool) -> Result<Client, InstallError> {
    let mut c = Client::open(
        Paths::under(home.to_path_buf()),
        RegistrySource::from_location(url).unwrap(),
        offline,
    )?;
    std::sync::Arc::get_mut(&mut c.fetcher).unwrap().backoff = Duration::from_millis(5);
    Ok(c)
}

/// A client whose events are kept.
fn client_logged(home: &Path, url: &str) -> (Client, std::sync::Arc<EventLog>) {
    let log = std::sync::Arc::new(EventLog::default());
    let c = Client::open_reporting(
        Paths::under(home.to_path_buf()),
        RegistrySource::from_location(url).unwrap(),
        false,
        &Default::default(),
        true,
        log.clone(),
    )
    .unwrap();
    (c, log)
}

fn install(c: &mut Client, spec: &str) -> Result<InstalledState, InstallError> {
    let req = PlanRequest {
        add: vec![parse_spec(spec).unwrap()],
        ..Default::default()
    };
    let p = plan(c, &req)?;
    apply(c, &p, &ApplyOptions::default()).map(|a| a.state)
}

/// Every file under `home/data` with its bytes and modification time: what a dry run must
/// leave exactly as it was.
fn data_snapshot(home: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>, std::time::SystemTime)>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                out.push((p.clone(), Vec::new(), m.modified().unwrap()));
                walk(&p, out);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap(), m.modified().unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(&home.join("data"), &mut out);
    out.sort();
    out
}

fn installed(home: &Path) -> InstalledState {
    InstalledState::load(&Paths::under(home.to_path_buf())).unwrap()
}

fn id(s: &str) -> ratchet_formats::manifest::BundleId {
    ratchet_formats::manifest::BundleId::parse(s).unwrap()
}

#[test]
fn directory_registry_install_yank_lock_remove() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path();
    let reg = sample_index();
    let reg = reg.to_str().unwrap();
    // No registry configured and none given: said plainly.
    let o = ratchet(home, &["bundle", "install", "com.example.data-processing"]);
    assert_fails_with(&o, "--registry");

    let o = ratchet(
        home,
        &[
            "bundle",
            "install",
            "com.example.data-processing",
            "--registry",
            reg,
            "--yes",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("declared permissions") && err.contains("api.partner.example"),
        "{err}"
    );
    assert!(
        err.contains("license MIT") && err.contains("pricing freemium"),
        "{err}"
    );
    let s = installed(home);
    // 3.3.0 is yanked: never chosen by a new resolution.
    assert_eq!(
        s.bundles[&id("com.partner.api-connectors")]
            .version
            .to_string(),
        "3.2.0"
    );
    assert_eq!(
        s.bundles[&id("com.ratchet.core-utils")].version.to_string(),
        "1.2.0"
    );
    assert!(
        s.bundles[&id("com.example.data-processing")]
            .requested
            .is_some()
    );
    let lock: Value =
        serde_json::from_slice(&std::fs::read(home.join("data/ratchet.lock")).unwrap()).unwrap();
    assert_eq!(lock["bundles"].as_array().unwrap().len(), 3);
    assert_eq!(
        lock["bundles"][0]["sha256"].as_str().unwrap().len(),
        64,
        "{lock}"
    );
    let o = ratchet(home, &["bundle", "list", "--format", "json"]);
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        list["com.ratchet.core-utils"]["verification"]["status"],
        "unverified"
    );
    // Signed by the sample key, whose owner record was pinned on this first install.
    let sample_key = "88C5B48CF4BBD599";
    assert_eq!(list["com.ratchet.core-utils"]["signer"], sample_key);
    // One line for all three: the same owner key.
    let pin_lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("trusting and pinning"))
        .collect();
    assert_eq!(pin_lines.len(), 1, "{err}");
    assert!(
        pin_lines[0].starts_with("note: first install of ")
            && pin_lines[0].contains("com.ratchet.core-utils")
            && pin_lines[0].contains("com.example.data-processing")
            && pin_lines[0].ends_with("owner key(s) 88C5B48CF4BBD599"),
        "{err}"
    );
    assert!(
        std::fs::read_to_string(home.join("data/trust/owners.json"))
            .unwrap()
            .contains("\"com.ratchet.core-utils\":")
    );
    let o = ratchet(home, &["bundle", "list"]);
    assert!(
        text(&o.stdout).contains(&format!(
            "signed by {sample_key}, no attestation (unverified)"
        )),
        "{}",
        text(&o.stdout)
    );

    // A second install changes nothing.
    let o = ratchet(
        home,
        &[
            "bundle",
            "install",
            "com.example.data-processing",
            "--registry",
            reg,
        ],
    );
    assert!(
        text(&o.stderr).contains("nothing to do"),
        "{}",
        text(&o.stderr)
    );

    // deps --invert: who depends on a bundle, among the installed ones.
    let o = ratchet(
        home,
        &["bundle", "deps", "com.ratchet.core-utils", "--invert"],
    );
    assert_eq!(
        text(&o.stdout),
        "com.ratchet.core-utils 1.2.0\n├── com.example.data-processing 2.1.0\n└── com.partner.api-connectors 3.2.0\n    └── com.example.data-processing 2.1.0\n"
    );

    // remove --dry-run says what would go and changes nothing; a typo gets a suggestion, in
    // remove and in update.
    let snap = data_snapshot(home);
    let o = ratchet(
        home,
        &[
            "bundle",
            "remove",
            "com.partner.api-connectors",
            "--cascade",
            "--dry-run",
            "--format",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let gone: Vec<&str> = doc["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        gone,
        [
            "com.example.data-processing",
            "com.partner.api-connectors",
            "com.ratchet.core-utils"
        ],
        "{doc}"
    );
    assert_eq!(
        data_snapshot(home),
        snap,
        "a dry run wrote to the data directory"
    );
    let o = ratchet(home, &["bundle", "remove", "com.ratchet.core-utlis"]);
    assert_fails_with(&o, "not installed; did you mean `com.ratchet.core-utils`?");
    let o = ratchet(
        home,
        &[
            "bundle",
            "update",
            "com.ratchet.core-utlis",
            "--registry",
            reg,
        ],
    );
    assert_fails_with(&o, "not installed; did you mean `com.ratchet.core-utils`?");

    // remove refuses while needed; --cascade removes the dependents and orphans.
    let o = ratchet(home, &["bundle", "remove", "com.ratchet.core-utils"]);
    assert_fails_with(&o, "com.example.data-processing depends on");
    assert_eq!(installed(home).bundles.len(), 3);
    let o = ratchet(
        home,
        &[
            "bundle",
            "remove",
            "com.partner.api-connectors",
            "--cascade",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(installed(home).bundles.is_empty());
    assert!(!home.join("data/bundles/com.ratchet.core-utils").exists());

    // A lockfile that names the yanked 3.3.0 installs it exactly (--locked), and list warns.
    let idx = std::fs::read_to_string(sample_index().join(ratchet_formats::index::index_path(
        &id("com.partner.api-connectors"),
    )))
    .unwrap();
    let yanked: Value = serde_json::from_str(idx.lines().nth(1).unwrap()).unwrap();
    assert_eq!(yanked["yanked"], true);
    let cu = std::fs::read_to_string(sample_index().join(ratchet_formats::index::index_path(&id(
        "com.ratchet.core-utils",
    ))))
    .unwrap();
    let cu12: Value = serde_json::from_str(cu.lines().nth(1).unwrap()).unwrap();
    let lock = json!({"v": 1, "requested": {"com.partner.api-connectors": "*"}, "bundles": [
        {"id": "com.partner.api-connectors", "version": "3.3.0", "sha256": yanked["sha256"], "size": yanked["size"], "registry": "x"},
        {"id": "com.ratchet.core-utils", "version": "1.2.0", "sha256": cu12["sha256"], "size": cu12["size"], "registry": "x"},
    ]});
    let lf = t.path().join("other.lock");
    std::fs::write(&lf, lock.to_string()).unwrap();
    let o = ratchet(
        home,
        &[
            "bundle",
            "install",
            "--locked",
            "--lockfile",
            lf.to_str().unwrap(),
            "--registry",
            reg,
            "-y",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        installed(home).bundles[&id("com.partner.api-connectors")]
            .version
            .to_string(),
        "3.3.0"
    );
    let o = ratchet(home, &["bundle", "list"]);
    assert!(text(&o.stdout).contains("yanked"), "{}", text(&o.stdout));
    // Same bytes as the registry's archive.
    let bytes =
        std::fs::read(home.join("data/bundles/com.partner.api-connectors/3.3.0/bundle.yaml"))
            .unwrap();
    assert!(!bytes.is_empty());

    // outdated ignores the yanked 3.3.0 (nothing newer that is not yanked) and lists the
    // dependency 1.2.0 -> 2.0.0; update re-resolves and moves off the yanked version; a second
    // update changes nothing.
    let o = ratchet(
        home,
        &["bundle", "outdated", "--registry", reg, "--format", "json"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let rows: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        rows,
        json!([
            {"id": "com.partner.api-connectors", "installed": "3.3.0", "latest": null, "update": null,
             "yanked": true, "gone": false, "deprecated": null},
            {"id": "com.ratchet.core-utils", "installed": "1.2.0", "latest": "2.0.0", "update": null,
             "yanked": false, "gone": false, "deprecated": null},
        ])
    );
    // --exit-code: 1 when something is outdated; the text shows the yanked installed version.
    let o = ratchet(
        home,
        &["bundle", "outdated", "--registry", reg, "--exit-code"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("com.partner.api-connectors  3.3.0  [installed version yanked]"),
        "{}",
        text(&o.stdout)
    );
    // --dry-run says what update would do (a downgrade off the yanked version, and why) and
    // writes nothing; under --format json, stderr stays empty.
    let before = data_snapshot(home);
    let o = ratchet(
        home,
        &[
            "bundle",
            "update",
            "--registry",
            reg,
            "--dry-run",
            "--format",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stderr), "");
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["command"], "update");
    assert_eq!(doc["dry_run"], true);
    let change = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "com.partner.api-connectors")
        .cloned()
        .unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(change["action"], "downgrade", "{doc}");
    assert_eq!(change["from"], "3.3.0");
    assert_eq!(change["version"], "3.2.0");
    assert_eq!(change["downgrade_reason"], "yanked");
    assert!(
        doc["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "downgraded"
                && e["id"] == "com.partner.api-connectors"
                && e["why"] == "yanked"),
        "{doc}"
    );
    assert_eq!(
        data_snapshot(home),
        before,
        "a dry run wrote to the data directory"
    );
    // Under -q the plan is hidden, but a downgrade is still said.
    let o = ratchet(
        home,
        &["bundle", "update", "--registry", reg, "--dry-run", "-q"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stderr),
        "warning: downgrade: com.partner.api-connectors 3.3.0 -> 3.2.0 (the installed version was yanked)\n"
    );
    let o = ratchet(home, &["bundle", "update", "--registry", reg, "-y"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(
            "com.partner.api-connectors 3.3.0 -> 3.2.0 (downgrade: the installed version was yanked)"
        ),
        "{}",
        text(&o.stderr)
    );
    let o = ratchet(home, &["bundle", "update", "--registry", reg, "-y"]);
    assert!(
        text(&o.stderr).contains("nothing to do"),
        "{}",
        text(&o.stderr)
    );
    // Installing another bundle keeps every installed version (changes as little as possible).
    // A dry run of it first: the plan, nothing written.
    let snap = data_snapshot(home);
    let o = ratchet(
        home,
        &[
            "bundle",
            "install",
            "com.ratchet.legacy-json",
            "--registry",
            reg,
            "--dry-run",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("+ com.ratchet.legacy-json ")
            && text(&o.stderr).contains("dry run: nothing was changed"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(
        data_snapshot(home),
        snap,
        "a dry run wrote to the data directory"
    );
    let before = installed(home);
    let o = ratchet(
        home,
        &[
            "bundle",
            "install",
            "com.ratchet.legacy-json",
            "--registry",
            reg,
            "-y",
            "--format",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stderr), "", "JSON output keeps stderr for errors");
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let legacy = &doc["changes"][0];
    assert_eq!(legacy["id"], "com.ratchet.legacy-json", "{doc}");
    assert_eq!(legacy["action"], "install");
    assert_eq!(legacy["signer"], "88C5B48CF4BBD599");
    assert!(legacy["deprecated"]["message"].is_string(), "{doc}");
    assert_eq!(
        doc["unchanged"].as_array().unwrap().len(),
        before.bundles.len(),
        "{doc}"
    );
    let events = doc["events"].as_array().unwrap();
    assert!(
        !events.iter().any(|e| e["event"] == "download_progress"),
        "{doc}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "archive_verified" && e["id"] == "com.ratchet.legacy-json"),
        "{doc}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "deprecated" && e["id"] == "com.ratchet.legacy-json"),
        "{doc}"
    );
    let after = installed(home);
    for (id, b) in &before.bundles {
        assert_eq!(after.bundles[id].version, b.version);
    }
    assert_eq!(after.bundles.len(), before.bundles.len() + 1);
    let o = ratchet(home, &["bundle", "list"]);
    assert!(
        text(&o.stdout).contains("warning: deprecated"),
        "{}",
        text(&o.stdout)
    );

    // A lockfile whose hash differs from the registry is refused.
    let mut bad = lock.clone();
    bad["bundles"][1]["sha256"] = json!("0".repeat(64));
    std::fs::write(&lf, bad.to_string()).unwrap();
    let o = ratchet(
        home,
        &[
            "bundle",
            "install",
            "--locked",
            "--lockfile",
            lf.to_str().unwrap(),
            "--registry",
            reg,
            "-y",
        ],
    );
    assert_fails_with(&o, "refusing different bytes");

    // deps and info.
    let o = ratchet(
        home,
        &[
            "bundle",
            "deps",
            "com.example.data-processing",
            "--registry",
            reg,
        ],
    );
    let out = text(&o.stdout);
    assert!(
        out.contains("└── com.partner.api-connectors 3.2.0 (^3.2.0)"),
        "{out}"
    );
    let o = ratchet(
        home,
        &[
            "bundle",
            "deps",
            "com.example.data-processing",
            "--registry",
            reg,
            "--format",
            "json",
        ],
    );
    let g: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(g["install_order"].as_array().unwrap().len(), 3);
    let o = ratchet(
        home,
        &[
            "bundle",
            "info",
            "com.partner.api-connectors",
            "--registry",
            reg,
        ],
    );
    let out = text(&o.stdout);
    assert!(
        out.contains("3.3.0 [yanked]")
            && out.contains("signer 88C5B48CF4BBD599, no attestation (unverified)"),
        "{out}"
    );
    let o = ratchet(
        home,
        &[
            "bundle",
            "install",
            "com.ratchet.core-util",
            "--registry",
            reg,
        ],
    );
    assert!(
        text(&o.stderr).contains("did you mean `com.ratchet.core-utils`"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn http_waves_revalidation_and_offline() {
    let t = tempfile::tempdir().unwrap();
    let srv = serve(sample_index_for_http(t.path()), Duration::ZERO);
    let mut c = client(t.path(), &srv.url(), false).unwrap();
    install(&mut c, "com.example.data-processing").unwrap();
    // Wave 1: the requested bundle; wave 2: both of its dependencies at once.
    assert_eq!(srv.count("/index/"), 3, "{:?}", srv.log.lock().unwrap());
    assert_eq!(srv.count("/archives/"), 3);
    assert_eq!(
        srv.count("salesforce"),
        0,
        "never fetches what the resolution does not need"
    );
    // The signed timestamp + root.json (once: the copy fetched to pin its key is the one
    // verified against the snapshot) + 2 state map nodes + config + the requested bundle's
    // prefetch hint + 3 index files and their 3 metadata files (owners) + 3 archives, no
    // retries.
    let log = srv.log.lock().unwrap().clone();
    assert_eq!(
        log.iter().filter(|(p, _, _)| p == "/root.json").count(),
        1,
        "{log:?}"
    );
    assert_eq!(
        c.fetcher.stats.requests.load(Ordering::Relaxed),
        15,
        "{:?}",
        srv.log.lock().unwrap()
    );
    // The two index waves, plus the map node proving root.json and the deeper map node (a wave per
    // level, index-format.md §9.7 step 3).
    assert_eq!(c.fetcher.stats.waves.load(Ordering::Relaxed), 4);

    // Warm: the signed timestamp is unchanged, so one request (the timestamp, never
    // conditional: index-format.md §9.7 step 1) and every other file from the cache.
    let before = srv.log.lock().unwrap().len();
    let mut c = client(t.path(), &srv.url(), false).unwrap();
    let p = plan(
        &mut c,
        &PlanRequest {
            add: vec![parse_spec("com.example.data-processing").unwrap()],
            ..Default::default()
        },
    )
    .unwrap();
    assert!(p.is_noop());
    let warm: Vec<String> = srv.log.lock().unwrap()[before..]
        .iter()
        .map(|(p, _, _)| p.clone())
        .collect();
    assert_eq!(warm, ["/timestamp"]);
    assert_eq!(c.fetcher.stats.requests.load(Ordering::Relaxed), 1);
    assert_eq!(srv.count("/archives/"), 3);

    // Offline: resolves from the cache; names what is missing.
    let mut c = client(t.path(), &srv.url(), true).unwrap();
    let before = srv.log.lock().unwrap().len();
    let g = c
        .resolve(
            &[parse_spec("com.example.data-processing").unwrap()],
            &Default::default(),
        )
        .unwrap();
    assert_eq!(g.nodes.len(), 3);
    let e = c
        .resolve(
            &[parse_spec("com.templates.devops").unwrap()],
            &Default::default(),
        )
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("offline") && e.contains("com.templates.devops"),
        "{e}"
    );
    assert_eq!(
        srv.log.lock().unwrap().len(),
        before,
        "offline sends nothing"
    );
}

#[test]
fn http_not_found_and_5xx_retries() {
    let t = tempfile::tempdir().unwrap();
    let srv = serve(sample_index_for_http(t.path()), Duration::ZERO);
    let mut c = client(t.path(), &srv.url(), false).unwrap();
    let e = install(&mut c, "com.oss.json-util")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no bundle `com.oss.json-util`")
            && e.contains("did you mean `com.oss.json-utils`"),
        "{e}"
    );

    let path = format!(
        "/{}",
        ratchet_formats::index::index_path(&id("com.oss.json-utils"))
    );
    srv.fault(&path, Fault::Fail(2));
    install(&mut c, "com.oss.json-utils").unwrap();
    assert_eq!(srv.count(&path), 3, "two 503s, then success");

    // A server that never answers: each attempt times out, then a clear error.
    let path = format!(
        "/{}",
        ratchet_formats::index::index_path(&id("com.templates.devops"))
    );
    srv.fault(&path, Fault::Stall);
    std::sync::Arc::get_mut(&mut c.fetcher).unwrap().timeout = Duration::from_millis(200);
    let e = install(&mut c, "com.templates.devops")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("timed out") && e.contains("after 4 attempts"),
        "{e}"
    );
    assert_eq!(srv.count(&path), 4);

    // Too many failures: a clear error after bounded attempts.
    let path = format!(
        "/{}",
        ratchet_formats::index::index_path(&id("com.ratchet.legacy-json"))
    );
    srv.fault(&path, Fault::Fail(100));
    let e = install(&mut c, "com.ratchet.legacy-json")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("HTTP 503") && e.contains("after 4 attempts"),
        "{e}"
    );
}

fn archive_path_of(version_line: usize) -> (String, u64) {
    let cu = std::fs::read_to_string(sample_index().join(ratchet_formats::index::index_path(&id(
        "com.ratchet.core-utils",
    ))))
    .unwrap();
    let l: Value = serde_json::from_str(cu.lines().nth(version_line).unwrap()).unwrap();
    let sha = l["sha256"].as_str().unwrap();
    (
        format!("/{}", ratchet_formats::index::archive_path(sha)),
        l["size"].as_u64().unwrap(),
    )
}

#[test]
fn bad_downloads_leave_the_previous_installation() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path();
    let srv = serve(sample_index_for_http(t.path()), Duration::ZERO);
    let mut c = client(home, &srv.url(), false).unwrap();
    install(&mut c, "com.ratchet.core-utils@=1.0.0").unwrap();
    let before = std::fs::read(home.join("data/installed.json")).unwrap();
    let paths = Paths::under(home.to_path_buf());
    let old_dir = bundle_dir(
        &paths,
        &id("com.ratchet.core-utils"),
        &"1.0.0".parse().unwrap(),
    );
    assert!(old_dir.join("bundle.yaml").is_file());

    let (path, size) = archive_path_of(1); // 1.2.0
    let check = |e: InstallError, needle: &str| {
        let s = e.to_string();
        assert!(s.contains(needle), "{s}");
        assert_eq!(
            std::fs::read(home.join("data/installed.json")).unwrap(),
            before
        );
        assert!(old_dir.join("bundle.yaml").is_file());
        assert!(
            !home
                .join("data/bundles/com.ratchet.core-utils/1.2.0")
                .exists()
        );
    };
    srv.fault(&path, Fault::Truncate);
    check(
        install(&mut c, "com.ratchet.core-utils@^1.2").unwrap_err(),
        "broke off",
    );
    srv.fault(&path, Fault::Replace(vec![b'x'; size as usize]));
    let e = install(&mut c, "com.ratchet.core-utils@^1.2").unwrap_err();
    assert!(
        matches!(e, InstallError::Fetch(FetchError::HashMismatch { .. })),
        "{e}"
    );
    check(e, "sha256");
    srv.fault(&path, Fault::Replace(vec![b'x'; size as usize + 10]));
    check(
        install(&mut c, "com.ratchet.core-utils@^1.2").unwrap_err(),
        "more than",
    );
    srv.fault(&path, Fault::Replace(vec![b'x'; size as usize - 10]));
    check(
        install(&mut c, "com.ratchet.core-utils@^1.2").unwrap_err(),
        "truncated",
    );

    // Fixed server: the update goes through and the old version's files are gone.
    srv.faults.lock().unwrap().clear();
    install(&mut c, "com.ratchet.core-utils@^1.2").unwrap();
    assert!(!old_dir.exists());
    assert_eq!(
        installed(home).bundles[&id("com.ratchet.core-utils")]
            .version
            .to_string(),
        "1.2.0"
    );
}

#[test]
fn kill_during_install_leaves_the_previous_state() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path();
    let srv = serve(sample_index_for_http(t.path()), Duration::ZERO);
    let o = install_from(home, "com.ratchet.core-utils@=1.0.0", &srv.url());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let before = std::fs::read(home.join("data/installed.json")).unwrap();
    let (path, _) = archive_path_of(1);
    srv.fault(&path, Fault::Stall);
    let mut child = Command::new(env!("CARGO_BIN_EXE_ratchet"))
        .args([
            "bundle",
            "install",
            "com.ratchet.core-utils@^1.2",
            "--registry",
            &srv.url(),
            "-y",
        ])
        .env("RATCHET_HOME", home)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while srv.count(&path) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the download never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        std::fs::read(home.join("data/installed.json")).unwrap(),
        before
    );
    assert!(
        home.join("data/bundles/com.ratchet.core-utils/1.0.0/bundle.yaml")
            .is_file()
    );
    srv.faults.lock().unwrap().clear();
    let o = install_from(home, "com.ratchet.core-utils@^1.2", &srv.url());
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        installed(home).bundles[&id("com.ratchet.core-utils")]
            .version
            .to_string(),
        "1.2.0"
    );
}

fn write(path: PathBuf, content: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

const HELLO_WAT: &str = include_str!("sandbox-modules/hello.wat");

#[test]
fn install_and_run_an_installed_task_and_a_dependency_task() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let reg = t.path().join("reg");
    ratchet_publish::Registry::init(
        &reg,
        "local",
        ratchet_formats::index::RegistryKind::Local,
        None,
    )
    .unwrap();
    let lib = t.path().join("lib");
    write(
        lib.join("bundle.yaml"),
        "bundle:\n  id: com.example.wat-lib\n  name: Wat lib\n  version: 1.0.0\n  description: d\n  license: MIT\n  contents:\n    tasks:\n      - path: tasks/hello\n      - path: tasks/secret\n        exported: false\n",
    );
    for task in ["hello", "secret"] {
        write(
            lib.join(format!("tasks/{task}/main.wasm")),
            wat::parse_str(HELLO_WAT).unwrap(),
        );
        write(
            lib.join(format!("tasks/{task}/metadata.json")),
            r#"{"version": "1.0.0", "description": "t"}"#,
        );
    }
    let app = t.path().join("app");
    write(
        app.join("bundle.yaml"),
        "bundle:\n  id: com.example.wat-app\n  name: Wat app\n  version: 1.0.0\n  description: d\n  license: MIT\n  dependencies:\n    - bundle_id: com.example.wat-lib\n      version: ^1.0\n  contents:\n    workflows:\n      - path: workflows/flow.yaml\n      - path: workflows/bad.yaml\n",
    );
    write(
        app.join("workflows/flow.yaml"),
        "workflow:\n  steps:\n    - name: greet\n      task: com.example.wat-lib/hello\n  output:\n    said: \"${steps.greet.output.hello}\"\n",
    );
    write(
        app.join("workflows/bad.yaml"),
        "workflow:\n  steps:\n    - name: peek\n      task: com.example.wat-lib/secret\n",
    );
    let out = t.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    for (dir, file) in [
        (&lib, "com.example.wat-lib-1.0.0.rbundle"),
        (&app, "com.example.wat-app-1.0.0.rbundle"),
    ] {
        let o = ratchet(
            &home,
            &[
                "bundle",
                "build",
                dir.to_str().unwrap(),
                "--out",
                &format!("{}/", out.display()),
            ],
        );
        assert!(o.status.success(), "{}", text(&o.stderr));
        let o = ratchet(
            &home,
            &[
                "bundle",
                "publish",
                out.join(file).to_str().unwrap(),
                "--registry",
                reg.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let url = url::Url::from_directory_path(&reg).unwrap().to_string();
    let o = ratchet(
        &home,
        &["registry", "add", "local", &url, "--kind", "local"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    // Not installed yet: said plainly.
    let o = ratchet(&home, &["run", "com.example.wat-app/flow"]);
    assert!(
        text(&o.stderr).contains("not installed"),
        "{}",
        text(&o.stderr)
    );
    // Unsigned bundles: refused without --allow-unsigned, and nothing is installed.
    let o = ratchet(&home, &["bundle", "install", "com.example.wat-app", "-y"]);
    assert_fails_with(&o, "is not signed (no bundle.sig); refusing it");
    assert!(!home.join("data/installed.json").exists());
    assert!(!home.join("data/bundles/com.example.wat-lib").exists());
    let o = ratchet(
        &home,
        &[
            "bundle",
            "install",
            "com.example.wat-app",
            "-y",
            "--allow-unsigned",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("WARNING: installing UNSIGNED com.example.wat-lib 1.0.0"),
        "{}",
        text(&o.stderr)
    );
    let o = ratchet(&home, &["bundle", "list"]);
    assert!(
        text(&o.stdout).contains("UNSIGNED, no attestation (unverified)"),
        "{}",
        text(&o.stdout)
    );

    let o = ratchet(&home, &["run", "com.example.wat-app/flow"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        serde_json::from_slice::<Value>(&o.stdout).unwrap(),
        json!({"said": "wat"})
    );
    let o = ratchet(&home, &["run", "com.example.wat-lib/hello"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        serde_json::from_slice::<Value>(&o.stdout).unwrap(),
        json!({"hello": "wat"})
    );
    let o = ratchet(&home, &["run", "com.example.wat-lib/secret"]);
    assert_fails_with(&o, "not exported");
    let o = ratchet(&home, &["run", "com.example.wat-app/bad"]);
    assert_fails_with(&o, "not exported");
}

#[test]
fn concurrent_installs_take_turns() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path();
    let reg = sample_index();
    let specs = [
        "com.ratchet.legacy-json",
        "com.oss.json-utils",
        "com.enterprise.salesforce-suite",
        "com.partner.api-connectors",
    ];
    let children: Vec<_> = specs
        .iter()
        .map(|s| {
            Command::new(env!("CARGO_BIN_EXE_ratchet"))
                .args([
                    "bundle",
                    "install",
                    s,
                    "--registry",
                    reg.to_str().unwrap(),
                    "-y",
                ])
                .env("RATCHET_HOME", home)
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let s = installed(home);
    for spec in specs {
        assert!(
            s.bundles[&id(spec)].requested.is_some(),
            "{spec} lost: {s:?}"
        );
    }
}

fn tree_bytes(dir: &Path, base: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            tree_bytes(&p, base, out);
        } else {
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            out.push((rel, std::fs::read(&p).unwrap()));
        }
    }
}

#[test]
fn a_lockfile_reinstalls_the_same_bytes_elsewhere() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    let srv = serve(sample_index_for_http(t.path()), Duration::ZERO);
    let o = install_from(&a, "com.enterprise.salesforce-suite", &srv.url());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let lock = a.join("data/ratchet.lock");
    let o = ratchet(
        &b,
        &[
            "bundle",
            "install",
            "--locked",
            "--lockfile",
            lock.to_str().unwrap(),
            "--registry",
            sample_index().to_str().unwrap(),
            "-y",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    // Without --registry, the lockfile's own registry is used.
    let c = t.path().join("c");
    let o = ratchet(
        &c,
        &[
            "bundle",
            "install",
            "--locked",
            "--lockfile",
            lock.to_str().unwrap(),
            "-y",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(installed(&c).bundles.len(), 3);
    let (mut fa, mut fb) = (Vec::new(), Vec::new());
    tree_bytes(&a.join("data/bundles"), &a.join("data/bundles"), &mut fa);
    tree_bytes(&b.join("data/bundles"), &b.join("data/bundles"), &mut fb);
    assert!(fa.len() > 5);
    assert_eq!(fa, fb);
    let la: Value = serde_json::from_slice(&std::fs::read(&lock).unwrap()).unwrap();
    let lb: Value =
        serde_json::from_slice(&std::fs::read(b.join("data/ratchet.lock")).unwrap()).unwrap();
    for (x, y) in la["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .zip(lb["bundles"].as_array().unwrap())
    {
        assert_eq!(
            (&x["id"], &x["version"], &x["sha256"]),
            (&y["id"], &y["version"], &y["sha256"])
        );
    }
}

/// The lines of an index file of the sample registry, as JSON values.
fn index_lines(bundle: &str) -> Vec<Value> {
    std::fs::read_to_string(sample_index().join(ratchet_formats::index::index_path(&id(bundle))))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn index_bytes(lines: &[Value]) -> Vec<u8> {
    lines
        .iter()
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .into_bytes()
}

/// A hostile host (the HTTP server rewriting what it serves) cannot get anything installed:
/// every refusal leaves `installed.json`, the installed files and the pins as they were.
#[test]
fn a_hostile_host_gets_nothing_installed() {
    use ratchet_formats::archive::{Limits, sha256_hex, with_signature};
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    // Unsigned: what the client checks beyond a signed snapshot (what a host, or a thief of the
    // registry key, could otherwise serve); a signed registry refuses these files before
    // (tests/integrity.rs), and a warm client would not even fetch them again.
    let srv = serve(unsigned_sample_index(t.path()), Duration::ZERO);
    let mut c = client(&home, &srv.url(), false).unwrap();
    install(&mut c, "com.ratchet.core-utils@=1.0.0").unwrap();
    let state = home.join("data/installed.json");
    let pin = home.join("data/trust/owners.json");
    let (before, pin_before) = (std::fs::read(&state).unwrap(), std::fs::read(&pin).unwrap());
    let core = "com.ratchet.core-utils";
    let index_url = format!("/{}", ratchet_formats::index::index_path(&id(core)));
    let meta_url = format!("/{}", ratchet_formats::index::meta_path(&id(core)));
    let lines = index_lines(core);
    let (v12_path, _) = archive_path_of(1);
    let v12 = std::fs::read(sample_index().join(v12_path.trim_start_matches('/'))).unwrap();
    let attempt = |needle: &str| {
        let mut c = client(&home, &srv.url(), false).unwrap();
        let e = install(&mut c, "com.ratchet.core-utils@^1.2")
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "`{e}` lacks `{needle}`");
        assert_eq!(std::fs::read(&state).unwrap(), before);
        assert_eq!(std::fs::read(&pin).unwrap(), pin_before);
        assert!(!home.join("data/bundles").join(core).join("1.2.0").exists());
        assert!(
            home.join("data/bundles")
                .join(core)
                .join("1.0.0/bundle.yaml")
                .is_file()
        );
        srv.faults.lock().unwrap().clear();
    };

    // 1. The owner record replaced by one naming the host's own key.
    let kp = ratchet_trust::keys::generate(&t.path().join("keys"), "evil", None).unwrap();
    let evil = ratchet_trust::SecretKey::load(&kp.secret).unwrap();
    let mut meta = ratchet_formats::index::BundleMeta::new(id(core));
    ratchet_trust::owners::OwnerChain::genesis(core, &[evil.public().clone()]).store(&mut meta);
    srv.fault(
        &meta_url,
        Fault::Replace(serde_json::to_vec(&meta).unwrap()),
    );
    attempt("changed without a valid rotation chain");

    // 2. The 1.2.0 line pointing at another bundle's validly signed archive.
    let other = &index_lines("com.oss.json-utils")[0];
    let mut l = lines.clone();
    l[1]["sha256"] = other["sha256"].clone();
    l[1]["size"] = other["size"].clone();
    srv.fault(&index_url, Fault::Replace(index_bytes(&l)));
    attempt("points at an archive of com.oss.json-utils");

    // 3. The signature stripped, and the line rewritten to match the unsigned archive.
    let unsigned = with_signature(&v12, None, &Limits::default()).unwrap();
    let mut l = lines.clone();
    l[1]["sha256"] = json!(sha256_hex(&unsigned));
    l[1]["size"] = json!(unsigned.len());
    l[1].as_object_mut().unwrap().remove("signer");
    srv.fault(&index_url, Fault::Replace(index_bytes(&l)));
    srv.fault(
        &format!(
            "/{}",
            ratchet_formats::index::archive_path(&sha256_hex(&unsigned))
        ),
        Fault::Replace(unsigned.clone()),
    );
    attempt("is not signed, but com.ratchet.core-utils has owner keys");

    // 4. The archive re-signed by the host's key (the owner record left alone).
    let a = ratchet_formats::archive::read_archive(&v12[..], &Limits::default()).unwrap();
    let sig = ratchet_trust::bundle_sig::sign_archive(&a, &evil).unwrap();
    let resigned = with_signature(&v12, Some(sig.as_bytes()), &Limits::default()).unwrap();
    let mut l = lines.clone();
    l[1]["sha256"] = json!(sha256_hex(&resigned));
    l[1]["size"] = json!(resigned.len());
    srv.fault(&index_url, Fault::Replace(index_bytes(&l)));
    srv.fault(
        &format!(
            "/{}",
            ratchet_formats::index::archive_path(&sha256_hex(&resigned))
        ),
        Fault::Replace(resigned.clone()),
    );
    attempt("owner keys of com.ratchet.core-utils");

    // The honest registry again: the update goes through.
    let mut c = client(&home, &srv.url(), false).unwrap();
    install(&mut c, "com.ratchet.core-utils@^1.2").unwrap();
    assert_eq!(
        installed(&home).bundles[&id(core)].version.to_string(),
        "1.2.0"
    );
}

/// Verifier keys come from `config.json`, which the host writes: they are pinned on first use,
/// and a key the host adds later makes nothing "officially verified".
#[test]
fn verifier_keys_are_pinned_on_first_use() {
    use ratchet_trust::attest::{AttestFields, AttestKind, attest, store};
    use ratchet_trust::{SecretKey, VerificationStatus};
    let t = tempfile::tempdir().unwrap();
    // Unsigned: the host edits config.json and metadata by hand (a signed registry refuses that
    // before any verifier is looked at: tests/integrity.rs, verifier injection).
    let reg = unsigned_sample_index(t.path());
    let key = |n: &str| ratchet_testkit::secret_key(&t.path().join("k"), n);
    let (team, evil) = (key("team"), key("evil"));
    let core = "com.ratchet.core-utils";
    let line = &index_lines(core)[0];
    let attested = |sk: &SecretKey| {
        let a = attest(
            &AttestFields {
                kind: AttestKind::Official,
                id: core.into(),
                version: "1.0.0".into(),
                sha256: line["sha256"].as_str().unwrap().into(),
                date: "2026-02-01T00:00:00Z".into(),
                score: None,
                report: None,
            },
            sk,
        )
        .unwrap();
        let meta_path = reg.join(ratchet_formats::index::meta_path(&id(core)));
        let mut meta =
            ratchet_formats::index::BundleMeta::parse(&std::fs::read(&meta_path).unwrap(), "m")
                .unwrap();
        store(&mut meta, &[a]);
        serde_json::to_vec(&meta).unwrap()
    };
    let config_with = |name: &str, sk: &SecretKey| {
        let mut c: Value =
            serde_json::from_slice(&std::fs::read(reg.join("config.json")).unwrap()).unwrap();
        c["keys"] = json!([{"role": "verifier", "name": name, "key": sk.public().to_base64()}]);
        serde_json::to_vec(&c).unwrap()
    };
    std::fs::write(reg.join("config.json"), config_with("Team", &team)).unwrap();
    std::fs::write(
        reg.join(ratchet_formats::index::meta_path(&id(core))),
        attested(&team),
    )
    .unwrap();
    let srv = serve(reg.clone(), Duration::ZERO);
    let home = t.path().join("home");
    let status = |c: &mut Client| {
        let l = c.versions(&id(core)).unwrap()[0].clone();
        c.status(&l)
    };
    let (mut c, log) = client_logged(&home, &srv.url());
    assert!(log.events().iter().any(|e| matches!(e,
        Event::Trust(Notice::VerifiersPinned { verifiers, .. })
            if verifiers.iter().any(|(name, _)| name == "Team"))));
    assert!(
        matches!(status(&mut c), VerificationStatus::OfficiallyVerified { verifier, .. } if verifier == "Team")
    );

    // The host swaps in its own "verifier" and attestation.
    srv.fault(
        "/config.json",
        Fault::Replace(config_with("Ratchet Security Team", &evil)),
    );
    srv.fault(
        &format!("/{}", ratchet_formats::index::meta_path(&id(core))),
        Fault::Replace(attested(&evil)),
    );
    let (mut c, log) = client_logged(&home, &srv.url());
    assert!(
        log.events().iter().any(|e| matches!(e,
            Event::Trust(Notice::VerifierIgnored { name, .. }) if name == "Ratchet Security Team")),
        "{:?}",
        log.events()
    );
    assert_eq!(status(&mut c), VerificationStatus::Unverified);
    // Accepted deliberately: forgotten, then pinned anew.
    let o = ratchet(&home, &["key", "forget", "--registry", &srv.url()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let mut c = client(&home, &srv.url(), false).unwrap();
    assert!(
        matches!(status(&mut c), VerificationStatus::OfficiallyVerified { verifier, .. } if verifier == "Ratchet Security Team")
    );
}

/// A `meta-in-index` registry (index-format.md §6.3.1): the client takes each bundle's metadata
/// (owners, deprecation) from its index file's first line and asks for no metadata file after
/// its first round trip; a metadata file that says otherwise is not read, and a host that swaps
/// the owner key in the line gets nothing installed.
#[test]
fn metadata_lines_stand_for_metadata_files() {
    use ratchet_formats::index::{BundleMeta, index_path, meta_path, with_meta_line};
    use ratchet_trust::owners::OwnerChain;
    let t = tempfile::tempdir().unwrap();
    // Unsigned, so that the test can rewrite files by hand (a signed registry refuses that
    // before any owner is looked at).
    let reg = unsigned_sample_index(t.path());
    let evil = ratchet_testkit::secret_key(&t.path().join("k"), "evil");
    let evil_meta = |b: &str| {
        let mut m = BundleMeta::new(id(b));
        OwnerChain::genesis(b, std::slice::from_ref(evil.public())).store(&mut m);
        m
    };
    let mut c: Value =
        serde_json::from_slice(&std::fs::read(reg.join("config.json")).unwrap()).unwrap();
    c["meta-in-index"] = json!(true);
    std::fs::write(reg.join("config.json"), serde_json::to_vec(&c).unwrap()).unwrap();
    let names = std::fs::read_to_string(reg.join("names.txt")).unwrap();
    for name in names.lines() {
        let b = id(name);
        let Some(meta) = BundleMeta::load(&reg.join(meta_path(&b))).unwrap() else {
            continue;
        };
        let ip = reg.join(index_path(&b));
        let bytes = with_meta_line(&std::fs::read(&ip).unwrap(), Some(&meta));
        std::fs::write(&ip, bytes).unwrap();
        // Not read by a client of this registry: the line is the metadata.
        std::fs::write(reg.join(meta_path(&b)), evil_meta(name).to_json()).unwrap();
    }
    let srv = serve(reg.clone(), Duration::ZERO);
    let home = t.path().join("home");
    let mut c = client(&home, &srv.url(), false).unwrap();
    let state = install(&mut c, "com.example.data-processing").unwrap();
    assert_eq!(state.bundles.len(), 3);
    assert!(
        state.bundles.values().all(|b| b.signer.is_some()),
        "{state:?}"
    );
    // This client read config.json before naming a bundle: no metadata file at all (the
    // CLI's first round trip, which names the bundles asked for, takes theirs with it).
    assert_eq!(srv.count("/meta/"), 0, "{:?}", srv.log.lock().unwrap());
    assert_eq!(srv.count("/index/"), 3);
    let legacy = c.meta(&id("com.ratchet.legacy-json")).unwrap();
    assert_eq!(
        legacy.deprecated.unwrap().replacement,
        Some(id("com.oss.json-utils"))
    );
    assert_eq!(srv.count("/meta/"), 0);

    // The host swaps the owner key in a metadata line: the archive's signature no longer
    // verifies against the bundle's owners, and nothing changes.
    let dep = "com.partner.api-connectors";
    let ip = index_path(&id(dep));
    let swapped = with_meta_line(
        &std::fs::read(reg.join(&ip)).unwrap(),
        Some(&evil_meta(dep)),
    );
    srv.fault(&format!("/{ip}"), Fault::Replace(swapped));
    let home2 = t.path().join("home2");
    let before = installed(&home2);
    let mut c = client(&home2, &srv.url(), false).unwrap();
    let e = install(&mut c, "com.example.data-processing").unwrap_err();
    assert!(e.to_string().contains(dep), "{e}");
    assert_eq!(installed(&home2), before);
}

/// Credentials go only to the registry's own origin, on every redirect hop; a remote registry
/// cannot make the client read local files.
#[test]
fn credentials_stay_with_their_origin_and_remote_registries_stay_remote() {
    use ratchet_client::registry::{Auth, AuthMethod, Secret};
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (
        serve(sample_index_for_http(&t.path().join("a")), Duration::ZERO),
        serve(sample_index_for_http(&t.path().join("b")), Duration::ZERO),
    );
    let idx = format!(
        "/{}",
        ratchet_formats::index::index_path(&id("com.oss.json-utils"))
    );
    // The registry redirects one index file to another host (another origin).
    a.fault(&idx, Fault::Redirect(format!("{}{}", b.url(), &idx[1..])));
    let mut src = RegistrySource::from_location(&a.url()).unwrap();
    src.auth = Some(Auth {
        method: AuthMethod::ApiKey {
            header: "X-Api-Key".into(),
        },
        secret: Secret::new("APIKEY-SECRET-123"),
    });
    let mut c = Client::open(Paths::under(t.path().join("h")), src, false).unwrap();
    install(&mut c, "com.oss.json-utils").unwrap();
    let sent = |s: &fault_server::Server| {
        s.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == &idx)
            .map(|(_, _, auth)| auth.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(sent(&a), vec![Some("APIKEY-SECRET-123".to_string())]);
    assert_eq!(sent(&b), vec![None], "the other origin got the key");

    // A remote registry whose `dl` points at local files.
    // Unsigned: the host edits config.json by hand.
    let reg = unsigned_sample_index(t.path());
    let mut cfg: Value =
        serde_json::from_slice(&std::fs::read(reg.join("config.json")).unwrap()).unwrap();
    cfg["dl"] = json!("file:///etc/passwd?{sha256}");
    std::fs::write(reg.join("config.json"), cfg.to_string()).unwrap();
    let srv = serve(reg, Duration::ZERO);
    let e = client(&t.path().join("h2"), &srv.url(), false)
        .err()
        .expect("a file:// dl is refused")
        .to_string();
    assert!(e.contains("must be http(s)"), "{e}");
    assert!(!e.contains("root:"), "{e}");
}

#[test]
fn same_version_new_bytes_is_refused_and_a_stale_lockfile_is_repaired() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path();
    // Unsigned: the host serves other bytes for an installed version, which a signed registry
    // refuses before (tests/integrity.rs); this is what the client checks beyond that.
    let srv = serve(unsigned_sample_index(t.path()), Duration::ZERO);
    let o = install_from(home, "com.oss.json-utils", &srv.url());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let lock = home.join("data/ratchet.lock");
    let good = std::fs::read(&lock).unwrap();
    // A kill between the commit (installed.json) and the lockfile leaves it stale (older than
    // installed.json): the next operation writes it again from installed.json.
    std::fs::write(&lock, "{\"v\": 1, \"requested\": {}, \"bundles\": []}").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&lock)
        .unwrap()
        .set_modified(std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000))
        .unwrap();
    let o = install_from(home, "com.oss.json-utils", &srv.url());
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(std::fs::read(&lock).unwrap(), good);

    // The registry now serves other bytes for the installed version.
    let mut lines = index_lines("com.oss.json-utils");
    let other = &index_lines("com.ratchet.legacy-json")[0];
    lines[0]["sha256"] = other["sha256"].clone();
    srv.fault(
        &format!(
            "/{}",
            ratchet_formats::index::index_path(&id("com.oss.json-utils"))
        ),
        Fault::Replace(index_bytes(&lines)),
    );
    let before = std::fs::read(home.join("data/installed.json")).unwrap();
    // The same request again would be a warm no-op (no request): a new requirement, which
    // the installed version still satisfies, makes the install read the index.
    let o = install_from(home, "com.oss.json-utils@^1", &srv.url());
    assert_fails_with(&o, "versions are immutable");
    assert_eq!(
        std::fs::read(home.join("data/installed.json")).unwrap(),
        before
    );
    // Also from a lockfile that names the other bytes: the installed files stay.
    let mut l: Value = serde_json::from_slice(&good).unwrap();
    l["bundles"][0]["sha256"] = other["sha256"].clone();
    let lf = t.path().join("other.lock");
    std::fs::write(&lf, l.to_string()).unwrap();
    let o = ratchet(
        home,
        &[
            "bundle",
            "install",
            "--locked",
            "--lockfile",
            lf.to_str().unwrap(),
            "--registry",
            &srv.url(),
            "-y",
        ],
    );
    assert_fails_with(&o, "versions are immutable");
    assert_eq!(
        std::fs::read(home.join("data/installed.json")).unwrap(),
        before
    );
    assert!(
        home.join("data/bundles/com.oss.json-utils/1.2.0/bundle.yaml")
            .is_file()
    );
}

#[test]
fn a_conflict_is_explained_and_installs_nothing() {
    let t = tempfile::tempdir().unwrap();
    let reg = sample_index();
    let o = ratchet(
        t.path(),
        &[
            "bundle",
            "install",
            "com.example.data-processing",
            "com.templates.devops",
            "--registry",
            reg.to_str().unwrap(),
            "-y",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let e = text(&o.stderr);
    for line in [
        "  - you asked for com.example.data-processing (any version)",
        "  - you asked for com.templates.devops (any version)",
        "  - every version of com.example.data-processing needs com.ratchet.core-utils >=1.0.0, <2.0.0",
        "  - com.templates.devops 2.5.0 needs com.ratchet.core-utils >=2.0.0, <3.0.0",
        "  note: available versions of com.ratchet.core-utils: 1.0.0, 1.2.0, 2.0.0",
    ] {
        assert!(e.lines().any(|l| l == line), "no line `{line}` in:\n{e}");
    }
    assert!(!t.path().join("data/installed.json").exists());
}

/// Bundles from several registries live side by side: each operation resolves against its own
/// registry and leaves the others' bundles alone; a lockfile reinstalls each from its own.
#[test]
fn bundles_from_two_registries_coexist() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let reg_b = t.path().join("team");
    ratchet_publish::Registry::init(
        &reg_b,
        "team",
        ratchet_formats::index::RegistryKind::Local,
        None,
    )
    .unwrap();
    let lib = t.path().join("lib");
    write(
        lib.join("bundle.yaml"),
        "bundle:\n  id: com.team.wat-lib\n  name: Wat lib\n  version: 1.0.0\n  description: d\n  license: MIT\n  contents:\n    tasks:\n      - path: tasks/hello\n",
    );
    write(
        lib.join("tasks/hello/main.wasm"),
        wat::parse_str(HELLO_WAT).unwrap(),
    );
    write(
        lib.join("tasks/hello/metadata.json"),
        r#"{"version": "1.0.0", "description": "t"}"#,
    );
    let out = t.path().join("out/");
    let o = ratchet(
        &home,
        &[
            "bundle",
            "build",
            lib.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = ratchet(
        &home,
        &[
            "bundle",
            "publish",
            out.join("com.team.wat-lib-1.0.0.rbundle").to_str().unwrap(),
            "--registry",
            reg_b.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let a = sample_index();
    let (a, b) = (a.to_str().unwrap(), reg_b.to_str().unwrap());
    let o = install_from(&home, "com.oss.json-utils", a);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = ratchet(
        &home,
        &[
            "bundle",
            "install",
            "com.team.wat-lib",
            "--registry",
            b,
            "-y",
            "--allow-unsigned",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("left as they are (com.oss.json-utils)"),
        "{}",
        text(&o.stderr)
    );
    let s = installed(&home);
    assert_eq!(s.bundles.len(), 2);
    assert_ne!(
        s.bundles[&id("com.oss.json-utils")].registry,
        s.bundles[&id("com.team.wat-lib")].registry
    );
    // Updating against one registry keeps the other's bundle.
    let o = ratchet(&home, &["bundle", "update", "--registry", a, "-y"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(installed(&home).bundles.len(), 2);
    let o = ratchet(&home, &["bundle", "outdated", "--registry", a]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // Taking the same id from another registry is refused, saying what to do.
    let o = install_from(&home, "com.team.wat-lib", a);
    assert_fails_with(&o, "is installed from registry");
    // The lockfile reinstalls each bundle from its own registry.
    let other = t.path().join("other");
    let lock = home.join("data/ratchet.lock");
    let o = ratchet(
        &other,
        &[
            "bundle",
            "install",
            "--locked",
            "--lockfile",
            lock.to_str().unwrap(),
            "-y",
            "--allow-unsigned",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(installed(&other).bundles.len(), 2);
}

fn version_dirs(home: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let root = home.join("data/bundles");
    for id in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        for v in std::fs::read_dir(id.path()).into_iter().flatten().flatten() {
            out.push(format!(
                "{}/{}",
                id.file_name().to_string_lossy(),
                v.file_name().to_string_lossy()
            ));
        }
    }
    out.sort();
    out
}

/// Archives prepared while resolving (as `install -y` does): the result is the same as without,
/// the archives of earlier waves travel with later waves, and nothing prepared but unused or
/// failed is left behind.
#[test]
fn archives_prepared_while_resolving() {
    let t = tempfile::tempdir().unwrap();
    let srv = serve(sample_index_for_http(t.path()), Duration::ZERO);
    let home = t.path().join("home");
    let prepared_install = |home: &Path, spec: &str| {
        let mut c = client(home, &srv.url(), false).unwrap();
        c.prepare_while_resolving(false);
        let p = plan(
            &mut c,
            &PlanRequest {
                add: vec![parse_spec(spec).unwrap()],
                ..Default::default()
            },
        )?;
        let waves = c.fetcher.stats.waves.load(Ordering::Relaxed);
        let during = srv.count("/archives/");
        apply(&c, &p, &ApplyOptions::default()).map(|a| (a.state, waves, during))
    };
    let (state, waves, during) = prepared_install(&home, "com.example.data-processing").unwrap();
    // The two index waves, the map node proving root.json and a deeper state map node.
    assert_eq!(waves, 4);
    assert_eq!(state.bundles.len(), 3);
    // The root's archive came with the second wave, before the resolution was done, and the
    // last wave's as soon as that wave was in (on a thread of their own: by the end of the
    // plan they may still be on their way, so `during` is not exact); each archive was
    // downloaded once.
    assert!(during <= 3, "{during}");
    assert_eq!(srv.count("/archives/"), 3);
    assert_eq!(
        version_dirs(&home),
        [
            "com.example.data-processing/2.1.0",
            "com.partner.api-connectors/3.2.0",
            "com.ratchet.core-utils/1.2.0"
        ]
    );
    // A wrong guess: core-utils asked for by itself looks like 2.0.0 after the first wave, but
    // salesforce-suite's dependency api-connectors (second wave) needs it below 2. The prepared
    // 2.0.0 goes; 1.2.0 is installed.
    let third = t.path().join("third");
    let mut c = client(&third, &srv.url(), false).unwrap();
    c.prepare_while_resolving(false);
    let p = plan(
        &mut c,
        &PlanRequest {
            add: vec![
                parse_spec("com.ratchet.core-utils").unwrap(),
                parse_spec("com.enterprise.salesforce-suite").unwrap(),
            ],
            ..Default::default()
        },
    )
    .unwrap();
    apply(&c, &p, &ApplyOptions::default()).unwrap();
    // Only a guess downloads 2.0.0, once (on a thread of its own: by the end of the plan it
    // may still be on its way; apply waits for it).
    let (v2, _) = archive_path_of(2);
    assert_eq!(srv.count(&v2), 1, "2.0.0 was prepared");
    assert_eq!(
        version_dirs(&third),
        [
            "com.enterprise.salesforce-suite/3.0.0",
            "com.partner.api-connectors/3.2.0",
            "com.ratchet.core-utils/1.2.0"
        ]
    );
    // A bad archive of a dependency fails the install: the root's archive, already prepared
    // and unpacked, goes again, and nothing is installed.
    let other = t.path().join("other");
    let (path, _) = archive_path_of(1); // core-utils 1.2.0
    srv.fault(&path, Fault::Replace(b"not an archive".to_vec()));
    let e = prepared_install(&other, "com.example.data-processing")
        .unwrap_err()
        .to_string();
    assert!(e.contains("the download is truncated"), "{e}");
    assert!(!other.join("data/installed.json").exists());
    assert!(
        version_dirs(&other).is_empty(),
        "{:?}",
        version_dirs(&other)
    );
}

/// An HTTPS registry whose certificate comes from a private CA: without the CA the install
/// stops at once (no retries) saying how to trust it; a CA file that is not PEM is refused
/// naming it; with `registry add --ca-file` (or SSL_CERT_FILE) it works.
#[test]
fn private_ca_is_trusted_per_registry_and_certificate_errors_are_not_retried() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    let srv = tls_server::serve_tls(sample_index_for_http(t.path()));
    let url = srv.url();

    let o = install_from(&home, "com.oss.json-utils", &url);
    let err = text(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("certificate authority this machine does not trust"),
        "{err}"
    );
    assert!(
        err.contains("--ca-file") && err.contains("SSL_CERT_FILE"),
        "{err}"
    );
    assert!(!err.contains("attempts"), "{err}");
    // The signed timestamp, config.json, the index file, the metadata file and the prefetch
    // hint of the first wave (which goes out with the timestamp): one connection each, none
    // retried (four attempts each would be twenty).
    assert!(
        srv.connections() <= 5,
        "{} connections: the certificate error was retried",
        srv.connections()
    );

    let not_pem = t.path().join("ca.txt");
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
    let add = |ca: &Path| {
        ratchet(
            &home,
            &[
                "registry",
                "add",
                "corp",
                &url,
                "--kind",
                "private",
                "--ca-file",
                ca.to_str().unwrap(),
            ],
        )
    };
    let o = add(&not_pem);
    assert_fails_with(&o, "ca.txt");
    assert_fails_with(&o, "not a PEM file");

    let ca = srv.write_ca(t.path());
    let o = add(&ca);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let cfg: Value = serde_json::from_slice(
        &std::fs::read(Paths::under(home.clone()).config.join("registries.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cfg["registries"]["corp"]["ca-file"], ca.to_str().unwrap());
    let o = install_from(&home, "com.oss.json-utils", "corp");
    assert!(o.status.success(), "{}", text(&o.stderr));

    // SSL_CERT_FILE trusts it for every connection, the URL given directly.
    let other = t.path().join("other");
    let o = Command::new(env!("CARGO_BIN_EXE_ratchet"))
        .args([
            "bundle",
            "install",
            "com.oss.json-utils",
            "--registry",
            &url,
            "-y",
        ])
        .env("RATCHET_HOME", &other)
        .env("SSL_CERT_FILE", &ca)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    // ... and a SSL_CERT_FILE that is not PEM is an error naming it and the variable.
    let o = Command::new(env!("CARGO_BIN_EXE_ratchet"))
        .args([
            "bundle",
            "install",
            "com.oss.json-utils",
            "--registry",
            &url,
            "-y",
        ])
        .env("RATCHET_HOME", t.path().join("third"))
        .env("SSL_CERT_FILE", &not_pem)
        .output()
        .unwrap();
    assert_fails_with(&o, "ca.txt");
    assert_fails_with(&o, "SSL_CERT_FILE");
}

/// A 401/403 says what the server answered (escaped, any echoed credential redacted), and
/// suggests `registry login` only when logging in could help.
#[test]
fn refusals_quote_the_server_and_advise_login_only_when_it_helps() {
    use ratchet_client::registry::{Auth, AuthMethod, Fetcher, Secret};
    let t = tempfile::tempdir().unwrap();
    let srv = serve(sample_index_for_http(t.path()), Duration::ZERO);
    let get = |src: RegistrySource| {
        let f = Fetcher::new(src, &t.path().join("cache"), false).unwrap();
        f.get("config.json", 1 << 20).unwrap_err()
    };

    // No credential sent: a 403 is a missing credential, with the server's words, escaped.
    srv.fault(
        "/config.json",
        Fault::Status(
            "403 Forbidden".into(),
            b"<p>\x1b[31mSign in\n   first</p>".to_vec(),
        ),
    );
    let e = get(RegistrySource::from_location(&srv.url()).unwrap());
    assert!(
        matches!(
            &e,
            FetchError::Auth {
                status: 403,
                sent: false,
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(msg.contains("HTTP 403"), "{msg}");
    assert!(msg.contains("Sign in first"), "{msg}");
    assert!(!msg.contains('\x1b') && msg.contains("\\u{1b}"), "{msg}");
    assert!(msg.contains("registry login"), "{msg}");

    // A credential sent and refused with 403: the server's answer, no login advice, and the
    // credential the server echoed is not repeated.
    srv.fault(
        "/config.json",
        Fault::Status(
            "403 Forbidden".into(),
            b"key KEY-SECRET-42 lacks the scope read:corp".to_vec(),
        ),
    );
    let mut src = RegistrySource::from_location(&srv.url()).unwrap();
    src.auth = Some(Auth {
        method: AuthMethod::Token,
        secret: Secret::new("KEY-SECRET-42"),
    });
    let e = get(src.clone());
    assert!(matches!(&e, FetchError::Forbidden { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("HTTP 403") && msg.contains("lacks the scope read:corp"),
        "{msg}"
    );
    assert!(!msg.contains("registry login"), "{msg}");
    assert!(!msg.contains("KEY-SECRET-42"), "{msg}");

    // A credential sent and refused with 401: it is not valid, replacing it helps.
    srv.fault(
        "/config.json",
        Fault::Status("401 Unauthorized".into(), b"token expired".to_vec()),
    );
    let e = get(src);
    assert!(
        matches!(
            &e,
            FetchError::Auth {
                status: 401,
                sent: true,
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("rejected the credential sent") && msg.contains("token expired"),
        "{msg}"
    );
}

/// `-q` keeps only warnings and trust notes on stderr; `-v` adds the per-wave and per-archive
/// lines.
#[test]
fn quiet_and_verbose_install_output() {
    let t = tempfile::tempdir().unwrap();
    let reg = sample_index();
    let reg = reg.to_str().unwrap();
    let quiet = t.path().join("quiet");
    let o = ratchet(
        &quiet,
        &[
            "bundle",
            "install",
            "com.ratchet.core-utils",
            "--registry",
            reg,
            "-y",
            "-q",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.starts_with("note: first install of com.ratchet.core-utils: trusting and pinning")
            && err.lines().count() == 1,
        "{err}"
    );
    let verbose = t.path().join("verbose");
    let o = ratchet(
        &verbose,
        &[
            "bundle",
            "install",
            "com.ratchet.core-utils",
            "--registry",
            reg,
            "-y",
            "-v",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("fetched "), "{err}");
    assert!(
        err.contains("verified com.ratchet.core-utils 2.0.0 (signed by 88C5B48CF4BBD599"),
        "{err}"
    );
    assert!(
        err.contains("installed com.ratchet.core-utils 2.0.0"),
        "{err}"
    );
}

/// `--locked` with a lockfile whose requests resolve to other versions than it lists is refused
/// as stale, naming both sets of versions; one naming other bytes than the registry serves is
/// refused with both hashes.
#[test]
fn locked_refusals_are_typed() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path();
    let reg = sample_index();
    let url = reg.to_str().unwrap();
    let cu = std::fs::read_to_string(reg.join(ratchet_formats::index::index_path(&id(
        "com.ratchet.core-utils",
    ))))
    .unwrap();
    let cu12: Value = serde_json::from_str(cu.lines().nth(1).unwrap()).unwrap();
    let lock = |requested: &str, sha256: &Value| -> ratchet_client::install::Lockfile {
        serde_json::from_value(json!({"v": 1, "requested": {"com.ratchet.core-utils": requested}, "bundles": [
            {"id": "com.ratchet.core-utils", "version": "1.2.0", "sha256": sha256, "size": cu12["size"], "registry": "x"},
        ]}))
        .unwrap()
    };
    let mut c = client(home, url, false).unwrap();
    let req = PlanRequest {
        locked: Some(lock("^2", &cu12["sha256"])),
        ..Default::default()
    };
    match plan(&mut c, &req) {
        Err(InstallError::LockfileStale { locked, resolved }) => {
            assert_eq!(
                locked[&id("com.ratchet.core-utils")],
                semver::Version::new(1, 2, 0)
            );
            assert_eq!(
                resolved[&id("com.ratchet.core-utils")],
                semver::Version::new(2, 0, 0)
            );
        }
        other => panic!("{other:?}"),
    }
    let zeros = json!("0".repeat(64));
    let req = PlanRequest {
        locked: Some(lock("^1", &zeros)),
        ..Default::default()
    };
    match plan(&mut c, &req) {
        Err(InstallError::LockedBytesDiffer {
            id: i,
            version,
            served_sha256,
            locked_sha256,
            ..
        }) => {
            assert_eq!(i, id("com.ratchet.core-utils"));
            assert_eq!(version, semver::Version::new(1, 2, 0));
            assert_eq!(&*served_sha256, cu12["sha256"].as_str().unwrap());
            assert_eq!(*locked_sha256, *"0".repeat(64));
        }
        other => panic!("{other:?}"),
    }
    assert!(installed(home).bundles.is_empty());
}

/// A directory that is not a registry, and `ratchet run` of a bundle that is not installed,
/// are refused by variant.
#[test]
fn registry_and_installed_refusals_are_typed() {
    let t = tempfile::tempdir().unwrap();
    let empty = t.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    match client(&t.path().join("home"), empty.to_str().unwrap(), false) {
        Err(InstallError::NotARegistry { registry }) => {
            assert!(registry.starts_with("file://"), "{registry}");
        }
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("an empty directory opened as a registry"),
    }
    let paths = Paths::under(t.path().join("home"));
    match ratchet_client::install::find_installed(&paths, &id("com.example.absent")) {
        Err(InstallError::NeedsInstall { id: i }) => assert_eq!(i, id("com.example.absent")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_warm_no_op_install_sends_no_request() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path();
    let srv = serve(sample_index_for_http(t.path()), Duration::ZERO);
    let sent = || srv.log.lock().unwrap().len();
    let o = install_from(home, "com.example.data-processing", &srv.url());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let cold = sent();
    assert!(cold > 0);

    // The same request, the state and lockfile intact: nothing is asked of the server.
    let o = install_from(home, "com.example.data-processing", &srv.url());
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("nothing to do"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(sent(), cold, "{:?}", &srv.log.lock().unwrap()[cold..]);
    // The same with --locked and with JSON output, which lists what is left unchanged
    // (dependencies first).
    let o = ratchet(home, &["bundle", "install", "--locked", "-y"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = ratchet(
        home,
        &[
            "bundle",
            "install",
            "com.example.data-processing",
            "--registry",
            &srv.url(),
            "-y",
            "--format",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(sent(), cold, "{:?}", &srv.log.lock().unwrap()[cold..]);
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["changed"], json!(false));
    let unchanged: Vec<&str> = doc["unchanged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(unchanged.len(), 3, "{doc}");
    assert_eq!(unchanged[2], "com.example.data-processing", "{doc}");

    // A new requirement asks the registry (and changes nothing else).
    let o = install_from(home, "com.example.data-processing@^2", &srv.url());
    assert!(o.status.success(), "{}", text(&o.stderr));
    let asked = sent();
    assert!(asked > cold);
    // A bundle directory gone: the install sees it from local records and reinstalls it.
    let state = installed(home);
    let (dep, b) = state
        .bundles
        .iter()
        .find(|(_, b)| b.requested.is_none())
        .unwrap();
    let dir = bundle_dir(&Paths::under(home.to_path_buf()), dep, &b.version);
    std::fs::remove_dir_all(&dir).unwrap();
    let o = install_from(home, "com.example.data-processing@^2", &srv.url());
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(sent() > asked);
    assert!(dir.is_dir());
}

/// index-format.md §6.5.1: a prefetch hint only decides what is fetched early. A damaged hint
/// is reported and ignored; a hostile one that names bundles the graph does not need (or that
/// do not exist) costs their requests and nothing else: nothing is picked, downloaded or
/// installed for them, and the install is the same.
#[test]
fn a_damaged_or_hostile_prefetch_hint_costs_requests_only() {
    let t = tempfile::tempdir().unwrap();
    let srv = serve(sample_index_for_http(t.path()), Duration::ZERO);
    let root = id("com.example.data-processing");
    let hint_path = format!("/{}", ratchet_formats::index::prefetch_path(&root));

    srv.fault(&hint_path, Fault::Replace(b"{\"v\":1,\"id\":".to_vec()));
    let (mut c, log) = client_logged(&t.path().join("a"), &srv.url());
    let state = install(&mut c, root.as_str()).unwrap();
    assert_eq!(state.bundles.len(), 3);
    assert!(
        log.events().iter().any(|e| matches!(e,
            Event::IndexProblem { message } if message.contains("ignored a prefetch hint"))),
        "{:?}",
        log.events()
    );

    let bogus: Vec<String> = (0..40).map(|k| format!("com.nowhere.b{k}")).collect();
    let hostile = ratchet_formats::index::Prefetch {
        v: 1,
        id: root.clone(),
        version: semver::Version::new(2, 1, 0),
        ids: ["com.enterprise.salesforce-suite", "com.ratchet.core-utils"]
            .iter()
            .map(|s| s.to_string())
            .chain(bogus)
            .map(|s| id(&s))
            .collect(),
        // Archives: one of a bundle the graph does not need (downloaded, never used), one that
        // does not exist (404), and one too large for what hints may fetch (never asked for).
        archives: [
            (
                "com.enterprise.salesforce-suite",
                "070d1f372e2057563553e96ef6a0ea352f53edfe9d873170abac1b424b9be3f9",
                4414,
            ),
            ("com.ratchet.core-utils", &"0".repeat(64), 3552),
            ("com.partner.api-connectors", &"1".repeat(64), 1 << 40),
        ]
        .iter()
        .map(
            |(i, sha, size)| ratchet_formats::index::prefetch::HintedArchive {
                id: id(i),
                version: semver::Version::new(3, 0, 0),
                sha256: sha.to_string(),
                size: *size,
            },
        )
        .collect(),
    };
    srv.fault(&hint_path, Fault::Replace(hostile.to_json().into_bytes()));
    // Files only the hint names that fail (refused, oversized, not JSON lines) do not fail
    // the install: those bundles are not needed.
    let path_of = |k: usize| {
        format!(
            "/{}",
            ratchet_formats::index::index_path(&id(&format!("com.nowhere.b{k}")))
        )
    };
    srv.fault(
        &path_of(0),
        Fault::Status("403 Forbidden".into(), b"no".to_vec()),
    );
    srv.fault(&path_of(1), Fault::Replace(vec![b'x'; 2 << 20]));
    srv.fault(&path_of(2), Fault::Replace(b"not an index line\n".to_vec()));
    let before = srv.log.lock().unwrap().len();
    let (mut c, _) = client_logged(&t.path().join("b"), &srv.url());
    // As `bundle install -y` does: archives (a hint's among them) fetched while resolving.
    c.prepare_while_resolving(false);
    let state = install(&mut c, root.as_str()).unwrap();
    let ids: Vec<&str> = state.bundles.keys().map(|i| i.as_str()).collect();
    assert_eq!(
        ids,
        [
            "com.example.data-processing",
            "com.partner.api-connectors",
            "com.ratchet.core-utils"
        ]
    );
    let log: Vec<String> = srv.log.lock().unwrap()[before..]
        .iter()
        .map(|(p, _, _)| p.clone())
        .collect();
    let count = |s: &str| log.iter().filter(|p| p.contains(s)).count();
    // Every named bundle's index and metadata files were asked for, once each (the bogus
    // ones answered 404), except the one served with bytes the signed snapshot does not know,
    // which was asked for once more as any such file is (index-format.md §9.7); the bundle
    // not needed was fetched but not downloaded.
    assert_eq!(count("/index/"), 3 + 1 + 40 + 1, "{log:?}");
    assert_eq!(count("nowhere"), 2 * 40 + 1, "{log:?}");
    assert_eq!(count("salesforce"), 2, "{log:?}");
    // The three the install needs (the hint did not name them: each fetched by its line),
    // the unneeded one and the missing one; not the one over the limit.
    assert_eq!(count("/archives/"), 3 + 2, "{log:?}");
    assert_eq!(count("070d1f37"), 1, "{log:?}");
    assert_eq!(count(&"0".repeat(64)), 1, "{log:?}");
    assert_eq!(count(&"1".repeat(64)), 0, "{log:?}");
    // The unneeded archive, checked and unpacked early as a guess, left nothing behind.
    let mut dirs: Vec<String> = std::fs::read_dir(t.path().join("b/data/bundles"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert_eq!(dirs, ids, "{dirs:?}");
}

/// Installed files are 0644 and directories 0755 whatever the installing process's umask,
/// and no directory on the way is writable by others: under 000 (a service with
/// `UMask=0000`) or 002 (a desktop user's) another user cannot swap a checked file, and under
/// 077 the bundles' own trees keep their modes.
#[cfg(unix)]
#[test]
fn installed_modes_do_not_depend_on_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    // `depth` 0 is a bundle's directory (data/bundles/<id>), 1 a version's and below the
    // archive's own tree.
    fn walk(dir: &Path, depth: usize, bad: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let mode = m.permissions().mode() & 0o777;
            let want = if m.is_dir() { 0o755 } else { 0o644 };
            if mode & 0o022 != 0 || (depth > 0 && mode != want) {
                bad.push(format!("{} {mode:o}", p.display()));
            }
            if m.is_dir() {
                walk(&p, depth + 1, bad);
            }
        }
    }
    let reg = sample_index();
    for umask in [0o000, 0o002, 0o077] {
        let home = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ratchet"));
        cmd.args([
            "bundle",
            "install",
            "com.example.data-processing",
            "--registry",
        ])
        .arg(&reg)
        .arg("-y")
        .env("RATCHET_HOME", home.path());
        // SAFETY: umask is async-signal-safe and only changes the child's file mode mask.
        unsafe {
            cmd.pre_exec(move || {
                libc::umask(umask);
                Ok(())
            });
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        let mut bad = Vec::new();
        let bundles = home.path().join("data/bundles");
        walk(&bundles, 0, &mut bad);
        assert!(bad.is_empty(), "umask {umask:03o}: {bad:?}");
        assert!(std::fs::read_dir(&bundles).unwrap().count() >= 3);
    }
}
