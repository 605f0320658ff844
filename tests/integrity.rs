//! Registry integrity against hostile servers (issue 14, `index-format.md` §9.7 and §9.11): a
//! signed registry is served over loopback HTTP by a server that rolls back files, the whole
//! snapshot or `config.json`, freezes, mixes files of two snapshots, flips a yank back, drops a
//! deprecation, injects a verifier key, forks the log, strips the timestamp or acts as a mirror
//! serving an older copy. Each attack is refused with a typed error, and the client's installed
//! state, pins and lockfile are byte for byte unchanged.

mod common;
mod fault_server;

use common::copy_dir;
use fault_server::{Fault, serve};
use ratchet_client::events::{Event, EventLog};
use ratchet_client::install::{
    ApplyOptions, Client, InstallError, InstalledState, PlanRequest, apply, parse_spec, plan,
};
use ratchet_client::integrity::IntegrityError;
use ratchet_client::paths::Paths;
use ratchet_client::registry::RegistrySource;
use ratchet_formats::index::{index_path, meta_path};
use ratchet_formats::manifest::BundleId;
use ratchet_publish::{Registry, RegistryKey};
use ratchet_testkit::{Bundle, TestRegistry};
use ratchet_tlog::client::Refusal;
use ratchet_trust::keys::{self, SecretKey};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn id(s: &str) -> BundleId {
    BundleId::parse(s).unwrap()
}

/// A signed registry in `work/reg`, served from `work/served` (a copy the test controls).
struct Fixture {
    _t: tempfile::TempDir,
    work: PathBuf,
    tr: TestRegistry,
    owner: SecretKey,
    reg_key: PathBuf,
    served: PathBuf,
    srv: fault_server::Server,
    home: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let t = tempfile::tempdir().unwrap();
        let work = t.path().to_path_buf();
        let mut tr = TestRegistry::new(&work);
        let kp = keys::generate(&work.join("keys"), "registry", None).unwrap();
        tr.reg = tr.reg.clone().with_registry_key(
            RegistryKey::new(SecretKey::load(&kp.secret).unwrap(), 86400).unwrap(),
        );
        tr.reg.init_log("reg.test").unwrap();
        let owner = ratchet_testkit::secret_key(&work.join("keys"), "owner");
        Bundle::new("com.x.lib", "1.0.0").publish_signed(&tr, &owner);
        Bundle::new("com.x.app", "1.0.0")
            .dep("com.x.lib", "^1")
            .publish_signed(&tr, &owner);
        let served = work.join("served");
        copy_dir(&tr.dir(), &served);
        let srv = serve(served.clone(), Duration::ZERO);
        Fixture {
            home: work.join("home"),
            _t: t,
            work,
            tr,
            owner,
            reg_key: kp.secret,
            served,
            srv,
        }
    }

    /// Serves the registry as it is now (an rsync of the publisher's directory).
    fn sync(&self) {
        std::fs::remove_dir_all(&self.served).unwrap();
        copy_dir(&self.tr.dir(), &self.served);
    }

    /// Serves `dir` instead (an old copy: a mirror that fell behind, or a fork).
    fn serve_copy(&self, dir: &Path) {
        std::fs::remove_dir_all(&self.served).unwrap();
        copy_dir(dir, &self.served);
    }

    /// A copy of the registry as it is now.
    fn keep(&self, name: &str) -> PathBuf {
        let d = self.work.join(name);
        copy_dir(&self.tr.dir(), &d);
        d
    }

    fn file(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.tr.dir().join(rel)).unwrap()
    }

    /// Empties the client's cache of registry files (a client that has not read them yet),
    /// so the next command fetches what the server serves.
    fn cold(&self) {
        let _ = std::fs::remove_dir_all(self.home.join("cache/registries"));
    }

    fn open_with(
        &self,
        ids: &[&str],
        allow_expired: bool,
    ) -> (Result<Client, InstallError>, Arc<EventLog>) {
        let log = Arc::new(EventLog::default());
        let mut src = RegistrySource::from_location(&self.srv.url()).unwrap();
        src.allow_expired = allow_expired;
        let c = Client::open_reporting(
            Paths::under(self.home.clone()),
            src,
            false,
            &ids.iter().map(|s| id(s)).collect(),
            true,
            log.clone(),
        )
        .map(|mut c| {
            let f = std::sync::Arc::get_mut(&mut c.fetcher).unwrap();
            f.backoff = Duration::from_millis(5);
            f.attempts = 1;
            c
        });
        (c, log)
    }

    fn open(&self, ids: &[&str]) -> Result<Client, InstallError> {
        self.open_with(ids, false).0
    }

    fn install(&self, spec: &str) -> Result<InstalledState, InstallError> {
        let mut c = self.open(&[])?;
        let req = PlanRequest {
            add: vec![parse_spec(spec).unwrap()],
            ..Default::default()
        };
        let p = plan(&mut c, &req)?;
        apply(&c, &p, &ApplyOptions::default()).map(|a| a.state)
    }

    /// Every file of the client's data directory but the install lock: installed state,
    /// lockfile, owner pins, registry pins, remembered snapshot.
    fn data(&self) -> BTreeMap<String, Vec<u8>> {
        let d = self.home.join("data");
        ratchet_testkit::snapshot(&d)
            .into_iter()
            .filter(|(k, _)| !k.ends_with(".install.lock"))
            .collect()
    }

    fn installed(&self) -> BTreeMap<String, String> {
        InstalledState::load(&Paths::under(self.home.clone()))
            .unwrap()
            .bundles
            .iter()
            .map(|(k, v)| (k.to_string(), v.version.to_string()))
            .collect()
    }

    /// A second handle on the publisher's directory whose timestamps are valid `validity` s.
    fn publisher(&self, validity: u64) -> Registry {
        Registry::open(&self.tr.dir()).unwrap().with_registry_key(
            RegistryKey::new(SecretKey::load(&self.reg_key).unwrap(), validity).unwrap(),
        )
    }
}

/// Asserts that `r` is an integrity refusal and returns it.
fn refused<T>(r: Result<T, InstallError>) -> IntegrityError {
    match r {
        Err(InstallError::Integrity(e)) => *e,
        Err(e) => panic!("expected an integrity refusal, got: {e}"),
        Ok(_) => panic!("expected an integrity refusal, the command went on"),
    }
}

fn tampered(e: &IntegrityError, file: &str) {
    match e {
        IntegrityError::Tampered { reason, .. } => {
            assert!(reason.contains(file), "refusal names {reason}, not {file}")
        }
        e => panic!("expected a tampered-file refusal for {file}, got: {e}"),
    }
}

#[test]
fn rollback_yank_flip_deprecation_removal_and_verifier_injection_are_refused() {
    let f = Fixture::new();
    let app_index = index_path(&id("com.x.app"));
    let lib_index = index_path(&id("com.x.lib"));
    let app_meta = meta_path(&id("com.x.app"));
    let old_app_index = f.file(&app_index);
    let old_timestamp = f.file("timestamp");
    f.install("com.x.app").unwrap();
    assert_eq!(f.installed()["com.x.app"], "1.0.0");

    // New version, a yank and a deprecation with a CVE notice; the client updates.
    Bundle::new("com.x.app", "1.1.0")
        .dep("com.x.lib", "^1")
        .publish_signed(&f.tr, &f.owner);
    Bundle::new("com.x.lib", "1.1.0").publish_signed(&f.tr, &f.owner);
    let unyanked_lib = f.file(&lib_index);
    let undeprecated_meta = f.file(&app_meta);
    f.tr.reg
        .set_yanked(&id("com.x.lib"), &semver::Version::new(1, 0, 0), true)
        .unwrap();
    f.tr.reg
        .deprecate(
            &id("com.x.app"),
            "CVE-2026-0001: upgrade",
            None,
            "2026-02-01T00:00:00Z",
        )
        .unwrap();
    f.sync();
    f.install("com.x.app@1.1.0").unwrap();
    assert_eq!(f.installed()["com.x.app"], "1.1.0");
    let before = f.data();

    // Each attack meets a client whose cache does not hold the file yet.
    // 1. Rollback of one index file: the old, validly signed line set.
    f.srv.fault(
        &format!("/{app_index}"),
        Fault::Replace(old_app_index.clone()),
    );
    f.cold();
    tampered(&refused(f.open(&["com.x.app"])), &app_index);
    f.srv.faults.lock().unwrap().clear();

    // 2. Yank flipped back.
    f.srv
        .fault(&format!("/{lib_index}"), Fault::Replace(unyanked_lib));
    f.cold();
    tampered(&refused(f.open(&["com.x.lib"])), &lib_index);
    f.srv.faults.lock().unwrap().clear();

    // 3. Deprecation removed: the old metadata, and no metadata at all.
    f.srv
        .fault(&format!("/{app_meta}"), Fault::Replace(undeprecated_meta));
    f.cold();
    tampered(&refused(f.open(&["com.x.app"])), &app_meta);
    f.srv.fault(
        &format!("/{app_meta}"),
        Fault::Status("404 Not Found".into(), b"gone".to_vec()),
    );
    f.cold();
    tampered(&refused(f.open(&["com.x.app"])), &app_meta);
    f.srv.faults.lock().unwrap().clear();

    // 4. Verifier injection: config.json with a verifier key the registry never named.
    let evil = ratchet_testkit::secret_key(&f.work.join("keys"), "evil");
    let mut cfg: serde_json::Value = serde_json::from_slice(&f.file("config.json")).unwrap();
    cfg["keys"] = serde_json::json!([{"role": "verifier", "name": "Official", "key": evil.public().to_base64()}]);
    f.srv.fault(
        "/config.json",
        Fault::Replace(serde_json::to_vec(&cfg).unwrap()),
    );
    f.cold();
    tampered(&refused(f.open(&[])), "config.json");
    f.srv.faults.lock().unwrap().clear();

    // 5. Rollback of the whole snapshot: an old, validly signed timestamp.
    f.srv.fault("/timestamp", Fault::Replace(old_timestamp));
    match refused(f.open(&["com.x.app"])) {
        IntegrityError::Refused {
            refusal: Refusal::Rollback { seen, got },
            ..
        } => assert!(got < seen, "{got} < {seen}"),
        e => panic!("expected a rollback refusal, got {e}"),
    }
    f.srv.faults.lock().unwrap().clear();

    assert_eq!(before, f.data(), "a refusal changed the client's state");
    assert_eq!(f.installed()["com.x.app"], "1.1.0");
    // And the honest registry still works.
    f.open(&["com.x.app"]).unwrap();
}

#[test]
fn a_mirror_serving_an_older_copy_and_a_mix_of_two_snapshots_are_refused() {
    let f = Fixture::new();
    let old = f.keep("old");
    Bundle::new("com.x.app", "1.1.0")
        .dep("com.x.lib", "^1")
        .publish_signed(&f.tr, &f.owner);
    f.sync();
    f.install("com.x.app").unwrap();
    assert_eq!(f.installed()["com.x.app"], "1.1.0");
    let before = f.data();

    // The mirror fell behind: a complete, consistent older copy.
    f.serve_copy(&old);
    match refused(f.open(&["com.x.app"])) {
        IntegrityError::Refused {
            refusal: Refusal::Rollback { .. },
            ..
        } => {}
        e => panic!("expected a rollback refusal, got {e}"),
    }
    assert_eq!(before, f.data());

    // A new client that never saw the new snapshot: the old timestamp with new index files.
    f.sync();
    let fresh = Fixture {
        home: f.work.join("home2"),
        ..f
    };
    fresh.srv.fault(
        "/timestamp",
        Fault::Replace(std::fs::read(old.join("timestamp")).unwrap()),
    );
    tampered(
        &refused(fresh.open(&["com.x.app"])),
        &index_path(&id("com.x.app")),
    );
    assert!(
        !fresh.home.join("data/installed.json").exists(),
        "nothing may be installed"
    );
}

/// The snapshot size this client remembers for the fixture's registry.
fn remembered(f: &Fixture) -> u64 {
    remembered_in(&f.home, &f.srv.url())
}

/// §9.7 step 3: a publish lands between the client's timestamp fetch and its index fetch
/// (the server answers the timestamp request with the snapshot the client started from, then
/// serves the newer files). The client fetches the timestamp once more, accepts the newer
/// snapshot (it extends the one it started with) and installs from it. Bounded: a file that
/// matches neither snapshot is refused after that one re-fetch, and a file read before the
/// snapshot moved that differs in the new one is refused as a mix of two moments.
#[test]
fn a_publish_during_an_install_is_followed_once_and_a_mix_is_refused() {
    let f = Fixture::new();
    let app_index = index_path(&id("com.x.app"));
    f.install("com.x.app").unwrap();
    let s1_app_index = f.file(&app_index);
    let s1 = remembered(&f);
    let s1_timestamp = f.file("timestamp");

    // 1. The publish lands after the timestamp was answered: followed once.
    Bundle::new("com.x.app", "1.1.0")
        .dep("com.x.lib", "^1")
        .publish_signed(&f.tr, &f.owner);
    f.sync();
    let s2_timestamp = f.file("timestamp");
    let ts0 = f.srv.count("/timestamp");
    f.srv
        .fault("/timestamp", Fault::ReplaceOnce(s1_timestamp.clone()));
    f.cold();
    f.install("com.x.app@1.1.0").unwrap();
    assert_eq!(f.installed()["com.x.app"], "1.1.0");
    assert_eq!(
        f.srv.count("/timestamp") - ts0,
        2,
        "the timestamp is fetched once more, once"
    );
    let s2 = remembered(&f);
    assert!(s2 > s1, "the newer snapshot is remembered: {s2} > {s1}");

    // 2. Another publish; the server serves an old index file (from neither snapshot the
    // client sees): after the one re-fetch of the timestamp, refused.
    Bundle::new("com.x.lib", "1.1.0").publish_signed(&f.tr, &f.owner);
    f.sync();
    let installed = f.data().remove("installed.json");
    let ts0 = f.srv.count("/timestamp");
    f.srv
        .fault("/timestamp", Fault::ReplaceOnce(s2_timestamp.clone()));
    f.srv.fault(
        &format!("/{app_index}"),
        Fault::Replace(s1_app_index.clone()),
    );
    f.cold();
    tampered(&refused(f.install("com.x.app@1.1.0")), &app_index);
    assert_eq!(f.srv.count("/timestamp") - ts0, 2, "one re-fetch, no more");
    assert_eq!(installed, f.data().remove("installed.json"));
    f.srv.faults.lock().unwrap().clear();
    // The newer snapshot passed every check, so it is remembered.
    let s3 = remembered(&f);
    assert!(s3 > s2);
    let s3_timestamp = f.file("timestamp");
    let s3_app_index = f.file(&app_index);

    // 3. Two more publishes; the app's index file is still the old one (read from the
    // snapshot the command started with), the lib's the newer one: the snapshot moves, but
    // the file already read changed in it, so the command is refused and nothing changes.
    Bundle::new("com.x.app", "1.2.0")
        .dep("com.x.lib", "^1")
        .publish_signed(&f.tr, &f.owner);
    Bundle::new("com.x.lib", "1.2.0").publish_signed(&f.tr, &f.owner);
    f.sync();
    let before = f.data();
    f.srv
        .fault("/timestamp", Fault::ReplaceOnce(s3_timestamp.clone()));
    f.srv
        .fault(&format!("/{app_index}"), Fault::Replace(s3_app_index));
    f.cold();
    match refused(f.open(&["com.x.app", "com.x.lib"])) {
        IntegrityError::ChangedDuringCommand { file, from, to, .. } => {
            assert_eq!(file, app_index);
            assert!(to > from && from == s3, "{from} -> {to}");
        }
        e => panic!("expected a changed-during-command refusal, got {e}"),
    }
    assert_eq!(before, f.data(), "a refusal changed the client's state");
    f.srv.faults.lock().unwrap().clear();
    // The honest registry still works.
    f.open(&["com.x.app", "com.x.lib"]).unwrap();
}

/// `ratchet-index mirror` copies the signed snapshot (root.json, log tiles and entries, map
/// nodes, checkpoint, timestamp) after checking it, so clients verify the mirror exactly as the
/// registry: an install from the mirror is checked, `registry audit` replays the mirror's log,
/// the next run copies only what changed and a client follows it (consistency proof from the
/// mirror's tiles), and a source whose log entries were altered is refused with the mirror's
/// signed state unchanged.
#[test]
fn a_mirror_copies_the_signed_snapshot_so_clients_verify_it() {
    use ratchet_client::mirror::{MirrorError, MirrorOptions, mirror};
    let f = Fixture::new();
    let dst = f.work.join("mirror");
    let src = || RegistrySource::from_location(&f.srv.url()).unwrap();
    let r = mirror(src(), &dst, &MirrorOptions::default()).unwrap();
    let size = remembered_in(&f.work.join("mirror/.ratchet-index.mirror"), &f.srv.url());
    assert_eq!(r.snapshot, Some(size), "{r:?}");
    assert!(r.signed_files >= 6, "{r:?}");
    for p in ["timestamp", "log/checkpoint", "root.json", "state/map/node"] {
        assert!(dst.join(p).is_file(), "{p} copied");
    }
    assert_eq!(
        std::fs::read(dst.join("timestamp")).unwrap(),
        f.file("timestamp")
    );
    assert_eq!(
        std::fs::read(dst.join("log/checkpoint")).unwrap(),
        f.file("log/checkpoint")
    );

    // A client of the mirror checks it as it would check the registry.
    let msrv = serve(dst.clone(), Duration::ZERO);
    let home = f.work.join("home-m");
    let install = |spec: &str| {
        let mut c = Client::open(
            Paths::under(home.clone()),
            RegistrySource::from_location(&msrv.url()).unwrap(),
            false,
        )
        .unwrap();
        assert!(
            c.integrity.is_signed(),
            "the mirror serves a signed snapshot"
        );
        let req = PlanRequest {
            add: vec![parse_spec(spec).unwrap()],
            ..Default::default()
        };
        let p = plan(&mut c, &req).unwrap();
        apply(&c, &p, &ApplyOptions::default()).unwrap();
        c.integrity.snapshot_size().unwrap()
    };
    assert_eq!(install("com.x.app"), size);
    let o = common::ratchet(
        &home,
        &["registry", "audit", &msrv.url(), "--format", "json"],
    );
    assert!(o.status.success(), "{}", common::text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["entries"], size, "{v}");

    // The source moves on: the next run copies the new tiles and nodes, and the
    // mirror's client follows it.
    Bundle::new("com.x.app", "1.1.0")
        .dep("com.x.lib", "^1")
        .publish_signed(&f.tr, &f.owner);
    f.sync();
    let r2 = mirror(src(), &dst, &MirrorOptions::default()).unwrap();
    assert_eq!(r2.snapshot, Some(size + 1), "{r2:?}");
    eprintln!(
        "mirror: signed files written: first run {}, after one publish {}",
        r.signed_files, r2.signed_files
    );
    assert_eq!(install("com.x.app@1.1.0"), size + 1);

    // An entry rewritten at the source (its log no longer hashes to the signed root):
    // refused, and the mirror still serves its last verified snapshot.
    Bundle::new("com.x.lib", "1.1.0").publish_signed(&f.tr, &f.owner);
    f.sync();
    let bundle = format!("log/tile/entries/000.p/{}", size + 2);
    let mut b = f.file(&bundle);
    let pos = b.windows(8).position(|w| w == b"publish ").unwrap();
    b[pos..pos + 7].copy_from_slice(b"import ");
    f.srv.fault(&format!("/{bundle}"), Fault::Replace(b));
    let before = std::fs::read(dst.join("timestamp")).unwrap();
    match mirror(src(), &dst, &MirrorOptions::default()) {
        Err(MirrorError::Signed { file, .. }) => assert!(file.starts_with("log/"), "{file}"),
        r => panic!("expected the altered log to be refused, got {r:?}"),
    }
    assert_eq!(std::fs::read(dst.join("timestamp")).unwrap(), before);
    assert!(!dst.join(&bundle).exists());
}

/// The snapshot size remembered under `home` for `url`.
fn remembered_in(home: &Path, url: &str) -> u64 {
    ratchet_client::integrity::StateStore::new(&Paths::under(home.to_path_buf()))
        .load_state(RegistrySource::from_location(url).unwrap().base.as_str())
        .unwrap()
        .expect("a remembered snapshot")
        .size
}

/// `gc` removes the map nodes and log tiles no snapshot needs (here those of a checkpoint a
/// killed publisher never signed) and keeps what a reader of a recent snapshot needs: a client
/// that started before a publish and a gc goes on verifying against the snapshot it started
/// with (content-addressed nodes), without fetching the timestamp again.
#[test]
fn gc_removes_unneeded_snapshot_files_and_keeps_what_a_reader_mid_install_needs() {
    let f = Fixture::new();
    let mut c = f.open(&["com.x.app"]).unwrap();
    let s1 = c.integrity.snapshot_size().unwrap();
    let dir = f.tr.dir();
    let junk_node = format!("state/nodes/ab/{}", "ab".repeat(32));
    let junk_tile = format!("log/tile/0/000.p/{}", s1 + 7);
    for j in [&junk_node, &junk_tile] {
        std::fs::create_dir_all(dir.join(j).parent().unwrap()).unwrap();
        std::fs::write(dir.join(j), b"never signed").unwrap();
    }
    // A dry run removes nothing.
    let dry = f.tr.reg.gc_with(true).unwrap();
    assert!(dry.removed_integrity.contains(&junk_node), "{dry:?}");
    assert!(dir.join(&junk_node).is_file());
    Bundle::new("com.x.other", "1.0.0").publish_signed(&f.tr, &f.owner);
    let r = f.tr.reg.gc().unwrap();
    let mut removed = r.removed_integrity.clone();
    removed.sort();
    let mut want = vec![junk_node.clone(), junk_tile.clone()];
    want.sort();
    assert_eq!(removed, want, "only files no snapshot needs");
    assert!(!dir.join(&junk_node).exists() && !dir.join(&junk_tile).exists());
    assert!(f.tr.reg.verify().errors().next().is_none());
    f.sync();
    let ts0 = f.srv.count("/timestamp");
    let req = PlanRequest {
        add: vec![parse_spec("com.x.app").unwrap()],
        ..Default::default()
    };
    plan(&mut c, &req).unwrap();
    assert_eq!(f.srv.count("/timestamp"), ts0, "no re-fetch was needed");
    assert_eq!(c.integrity.snapshot_size(), Some(s1));
    // And a new client reads the collected registry.
    f.cold();
    f.install("com.x.other").unwrap();
}

#[test]
fn freeze_is_refused_unless_allowed_loudly() {
    let f = Fixture::new();
    f.install("com.x.app").unwrap();
    // The registry stops re-signing: its last timestamp was valid for one second.
    f.publisher(1).refresh_timestamp(None).unwrap();
    f.sync();
    std::thread::sleep(Duration::from_millis(2100));
    let before = f.data();
    match refused(f.open(&["com.x.app"])) {
        IntegrityError::Refused {
            refusal: Refusal::Expired { .. },
            ..
        } => {}
        e => panic!("expected a freeze refusal, got {e}"),
    }
    assert_eq!(before, f.data());
    let (c, log) = f.open_with(&["com.x.app"], true);
    c.unwrap();
    assert!(
        log.events().iter().any(
            |e| matches!(e, Event::Integrity { loud: true, message } if message.contains("expired"))
        ),
        "--allow-expired must warn loudly: {:?}",
        log.events()
    );
}

#[test]
fn a_fork_and_a_stripped_timestamp_are_refused() {
    let f = Fixture::new();
    let fork_dir = f.keep("fork");
    // Two histories signed by the same key from the same point.
    let fork = Registry::open(&fork_dir)
        .unwrap()
        .with_registry_key(RegistryKey::new(SecretKey::load(&f.reg_key).unwrap(), 86400).unwrap());
    fork.set_yanked(&id("com.x.app"), &semver::Version::new(1, 0, 0), true)
        .unwrap();
    f.tr.reg
        .set_yanked(&id("com.x.lib"), &semver::Version::new(1, 0, 0), true)
        .unwrap();
    f.sync();
    f.open(&["com.x.app"]).unwrap();
    let before = f.data();
    f.serve_copy(&fork_dir);
    match refused(f.open(&["com.x.app"])) {
        IntegrityError::Refused {
            refusal: Refusal::Fork { .. },
            ..
        } => {}
        e => panic!("expected a fork refusal, got {e}"),
    }
    assert_eq!(before, f.data());

    // The timestamp disappears (a server that strips the signed state).
    f.sync();
    f.srv.fault(
        "/timestamp",
        Fault::Status("404 Not Found".into(), b"no".to_vec()),
    );
    assert!(matches!(
        refused(f.open(&["com.x.app"])),
        IntegrityError::Stripped { .. }
    ));
    assert_eq!(before, f.data());
}

#[test]
fn unsigned_remote_registries_warn_and_work_and_key_pins_hold() {
    let t = tempfile::tempdir().unwrap();
    let tr = TestRegistry::new(t.path());
    let owner = ratchet_testkit::secret_key(&t.path().join("k"), "owner");
    Bundle::new("com.x.lib", "1.0.0").publish_signed(&tr, &owner);
    let srv = serve(tr.dir(), Duration::ZERO);
    let log = Arc::new(EventLog::default());
    Client::open_reporting(
        Paths::under(t.path().join("home")),
        RegistrySource::from_location(&srv.url()).unwrap(),
        false,
        &[id("com.x.lib")].into_iter().collect(),
        true,
        log.clone(),
    )
    .unwrap();
    assert!(
        log.events().iter().any(|e| matches!(e,
            Event::Integrity { message, loud: false } if message.contains("no signed timestamp"))),
        "{:?}",
        log.events()
    );

    // A registry whose root.json names another key than the one given with --root-key.
    let f = Fixture::new();
    let other = ratchet_testkit::secret_key(&f.work.join("keys"), "other");
    let mut src = RegistrySource::from_location(&f.srv.url()).unwrap();
    src.root_key = Some(other.public().to_base64().to_string());
    let r = Client::open(Paths::under(f.home.clone()), src, false);
    assert!(matches!(
        refused(r),
        IntegrityError::Root { reason, .. } if reason.contains("--root-key")
    ));
    // The right key works.
    let mut src = RegistrySource::from_location(&f.srv.url()).unwrap();
    let root: serde_json::Value = serde_json::from_slice(&f.file("root.json")).unwrap();
    let stmt = root["chain"][0]["statement"].as_str().unwrap();
    src.root_key = Some(stmt.rsplit("key=").next().unwrap().to_string());
    Client::open(Paths::under(f.home.clone()), src, false).unwrap();
}

#[test]
fn a_warm_no_op_sends_one_request() {
    let f = Fixture::new();
    f.install("com.x.app").unwrap();
    // A second, cold-cache-free look revalidates once after the install.
    f.open(&["com.x.app", "com.x.lib"]).unwrap();
    let n0 = f.srv.log.lock().unwrap().len();
    let mut c = f.open(&["com.x.app"]).unwrap();
    assert!(
        c.integrity.warm,
        "an unchanged timestamp makes a warm session"
    );
    let req = PlanRequest {
        add: vec![parse_spec("com.x.app").unwrap()],
        ..Default::default()
    };
    let p = plan(&mut c, &req).unwrap();
    assert!(p.bundles.iter().all(|b| b.unchanged), "nothing to do");
    let sent: Vec<String> = f.srv.log.lock().unwrap()[n0..]
        .iter()
        .map(|(p, _, _)| p.clone())
        .collect();
    assert_eq!(
        sent,
        ["/timestamp"],
        "a warm no-op sends only the timestamp"
    );
    // After a publish the timestamp changes and files are revalidated (and verified).
    f.tr.reg
        .set_yanked(&id("com.x.lib"), &semver::Version::new(1, 0, 0), true)
        .unwrap();
    f.sync();
    let c = f.open(&["com.x.app"]).unwrap();
    assert!(!c.integrity.warm);
}

#[test]
fn a_drip_fed_file_fails_in_bounded_time() {
    let f = Fixture::new();
    let app_index = index_path(&id("com.x.app"));
    f.srv.fault(
        &format!("/{app_index}"),
        Fault::Drip(Duration::from_millis(400)),
    );
    let started = std::time::Instant::now();
    let o = common::ratchet_env(
        &f.home,
        &[
            "bundle",
            "install",
            "com.x.app",
            "--registry",
            &f.srv.url(),
            "-y",
        ],
        &[
            ("RATCHET_HTTP_MIN_RATE", "100"),
            ("RATCHET_HTTP_MIN_RATE_WINDOW", "2"),
        ],
    );
    let took = started.elapsed();
    common::assert_fails_with(&o, "too slow");
    assert!(
        took < Duration::from_secs(15),
        "a drip must fail within a window or two, took {took:?}"
    );
    assert!(!f.home.join("data/installed.json").exists());
}

#[test]
fn audit_replays_the_log_and_names_a_file_changed_behind_its_back() {
    let f = Fixture::new();
    f.tr.reg
        .deprecate(
            &id("com.x.lib"),
            "use com.x.app",
            None,
            "2026-02-01T00:00:00Z",
        )
        .unwrap();
    f.sync();
    let o = common::ratchet(
        &f.home,
        &["registry", "audit", &f.srv.url(), "--format", "json"],
    );
    assert!(o.status.success(), "{}", common::text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["entries"], v["snapshot"]);
    assert!(v["files"].as_u64().unwrap() >= 6, "{v}");
    // The host edits a metadata file without logging it (deprecation dropped).
    let meta = meta_path(&id("com.x.lib"));
    let mut m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.served.join(&meta)).unwrap()).unwrap();
    m.as_object_mut().unwrap().remove("deprecated");
    std::fs::write(f.served.join(&meta), serde_json::to_vec(&m).unwrap()).unwrap();
    let o = common::ratchet(&f.home, &["registry", "audit", &f.srv.url()]);
    common::assert_fails_with(&o, &meta);
    assert!(common::text(&o.stdout).contains("FAILED"));
}

#[test]
fn a_rotated_registry_key_is_followed_and_a_replaced_one_is_refused() {
    let f = Fixture::new();
    f.open(&["com.x.app"]).unwrap();
    let kp2 = keys::generate(&f.work.join("keys"), "registry2", None).unwrap();
    f.publisher(86400)
        .rotate_registry_key(
            RegistryKey::new(SecretKey::load(&kp2.secret).unwrap(), 86400).unwrap(),
        )
        .unwrap();
    f.sync();
    let (c, log) = f.open_with(&["com.x.app"], false);
    c.unwrap();
    assert!(
        log.events()
            .iter()
            .any(|e| matches!(e, Event::Integrity { message, .. } if message.contains("rotated"))),
        "{:?}",
        log.events()
    );
    let before = f.data();
    // A thief's registry: the same origin, a root.json self-signed by another key.
    let t2 = tempfile::tempdir().unwrap();
    let mut thief = TestRegistry::new(t2.path());
    let tk = keys::generate(&t2.path().join("keys"), "thief", None).unwrap();
    thief.reg = thief
        .reg
        .clone()
        .with_registry_key(RegistryKey::new(SecretKey::load(&tk.secret).unwrap(), 86400).unwrap());
    thief.reg.init_log("reg.test").unwrap();
    Bundle::new("com.x.app", "9.0.0").publish_signed(&thief, &f.owner);
    f.serve_copy(&thief.dir());
    match refused(f.open(&["com.x.app"])) {
        IntegrityError::Root { reason, .. } => {
            assert!(reason.contains("pinned"), "{reason}")
        }
        e => panic!("expected a root.json refusal, got {e}"),
    }
    assert_eq!(before, f.data());
}

#[test]
fn a_mirror_key_vouches_for_freshness_only_for_clients_that_opted_in() {
    let f = Fixture::new();
    let mk = keys::generate(&f.work.join("keys"), "mirror", None).unwrap();
    let mirror_pub = ratchet_trust::keys::PublicKey::load(&mk.public).unwrap();
    // The air-gapped mirror re-signs freshness for the registry's checkpoint.
    Registry::open(&f.tr.dir())
        .unwrap()
        .refresh_timestamp(Some(
            &RegistryKey::new(SecretKey::load(&mk.secret).unwrap(), 3600).unwrap(),
        ))
        .unwrap();
    f.sync();
    match refused(f.open(&["com.x.app"])) {
        IntegrityError::Refused {
            refusal: Refusal::BadSignature { .. },
            ..
        } => {}
        e => panic!("a client that did not opt in must refuse, got {e}"),
    }
    let mut src = RegistrySource::from_location(&f.srv.url()).unwrap();
    src.mirror_keys = vec![mirror_pub.to_base64().to_string()];
    Client::open(Paths::under(f.home.clone()), src, false).unwrap();
}

#[test]
fn verify_log_proves_inclusion_and_refuses_an_altered_entry() {
    let f = Fixture::new();
    let o = common::ratchet(
        &f.home,
        &[
            "bundle",
            "install",
            "com.x.app",
            "--registry",
            &f.srv.url(),
            "-y",
            "--verify-log",
        ],
    );
    assert!(o.status.success(), "{}", common::text(&o.stderr));
    // The server alters the log's entries (what the state map points at stays the same).
    let size = f.tr.reg.signed_state().unwrap().unwrap().size;
    let path = ratchet_tlog::tiles::entries_path(0, size);
    let mut bytes = std::fs::read(f.served.join(&path)).unwrap();
    let at = bytes
        .windows(7)
        .rposition(|w| w == b"publish")
        .expect("a publish entry");
    bytes[at + 1] = b'a';
    f.srv.fault(&format!("/{path}"), Fault::Replace(bytes));
    let home2 = f.work.join("home-verify-log");
    let o = common::ratchet(
        &home2,
        &[
            "bundle",
            "install",
            "com.x.app",
            "--registry",
            &f.srv.url(),
            "-y",
            "--verify-log",
        ],
    );
    common::assert_fails_with(&o, "proof refused");
    assert!(!home2.join("data/installed.json").exists());
    // Without --verify-log the entries are not read: the install goes on.
    let o = common::ratchet(
        &f.work.join("home-no-log"),
        &[
            "bundle",
            "install",
            "com.x.app",
            "--registry",
            &f.srv.url(),
            "-y",
        ],
    );
    assert!(o.status.success(), "{}", common::text(&o.stderr));
}
