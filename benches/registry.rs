//! Registry client figures. Prints; asserts nothing about time.
//!
//! 1. Cold install of a generated 200-bundle graph of depth 8 from a loopback HTTP server that
//!    adds 25 ms before every answer, side by side with the lower bound (goal ≤ 1.3×), best of
//!    three rounds; then a warm no-op install (goal: no body). First, before the heavier parts
//!    load the machine's disk. The server speaks HTTP/1.1, so the client uses at most 6
//!    connections to it (issue 22), each carrying one request per 25 ms: the bound is
//!    max(depth + 1, requests / connections) × 25 ms + transfer (it was (depth + 1) × 25 ms
//!    when the client opened 64 connections; `RATCHET_HTTP_MAX_CONNECTIONS=64` measures that
//!    width).
//! 2. Peak RSS of resolving and installing a 1,000-bundle graph from a `file://` registry
//!    (goal < 100 MB), in a fresh child process.
//! 3. Resolution time on a synthetic index of 10,000 bundles × 20 versions (in memory); then
//!    resolution alone at 2k, 10k, 30k and 100k bundles (issue 19: linear, time per bundle
//!    flat).
//!
//! 3b. Issue 19, graph shapes: the narrow 200-bundle graph (depth 8) and a wide 420-bundle
//!    graph (about 1,100 edges, breadth-first depth 10, one level of 114), cold and warm, at
//!    0, 25 and 100 ms per request: round trips seen by the server, requests, bytes, wall time
//!    and the lower bound (depth + 2) × delay; beside `cargo generate-lockfile` + `cargo fetch`
//!    of the same graph written as a Cargo sparse registry on the same kind of server, when
//!    cargo is on the machine. As the issue measured, both go through an nginx HTTP/2 front
//!    over TLS (a throwaway CA made at the start; `h2` rows, with the protocols nginx logged),
//!    and, with `RATCHET_BENCH_FRONTS=h2,h1`, straight to the delaying server (`h1` rows, where
//!    cargo makes one request per round trip: minutes at 100 ms); `RATCHET_BENCH_SHAPE_ROUNDS`
//!    sets the interleaved rounds (5, medians). The ratchet
//!    client runs in this process, so it is built with the bench's own profile (release).
//!    At 0 ms, one more cold install of each shape by each tool, in a process of its own, for
//!    its peak RSS (the `ratchet` binary built beside the bench under GNU time, as a user runs
//!    it; cargo's larger step): the issue asked that ratchet keep using the least memory.
//!    Goals: cold <= 0.8x cargo and within 1.2x of the bound; warm no-op 0 requests. Also `bundle build` of about 24 MB unsigned, `--sign` in one pass and
//!    the old build + rewrite (goal: signed <= 1.1x unsigned).
//! 4. Static hosts (issue 22): a cold install of a 400-bundle graph from nginx and from
//!    `python3 -m http.server` (as the README serves a registry) side by side, with requests,
//!    wall time and the machine's `TcpExt: ListenOverflows` delta (connection attempts dropped
//!    by a full listen queue; each costs a SYN retransmission, 1 s or more) during each run;
//!    goal: Python's server within 3x of nginx. Then Python's server again with 64 connections
//!    per host, the width the client used before it bounded connections per host
//!    (`RATCHET_BENCH_OLD_WIDTH=0` leaves that run out: it can take minutes).
//!
//! 5. Integrity (issue 14, `index-format.md` §9): the cost of one change of a signed registry
//!    (a yank: its own work is one small index file, the rest is the log entry, the state map,
//!    the checkpoint and the timestamp), of a publish of a new version and of a publish of a new
//!    bundle (each with its search catalog update, §10.5), at 1,000, 10,000 and 100,000 bundles
//!    (1,000,000 with `RATCHET_BENCH_1M=1`), each registry generated directly in the documented
//!    format ([`generate_signed`], with the catalog a registry of that size has: full facet sets)
//!    before any is measured, then measured in interleaved rounds
//!    (1k, 1M, 1k, 1M, ...: load on a shared machine hits every size alike; medians per size),
//!    goal: 100k (or 1M) / 1k <= 1.5; the extra bytes a
//!    cold install of the 200-bundle graph fetches for proofs, goal <= +10%; and the requests of
//!    a warm no-op install, goal 1.
//!
//! `RATCHET_BENCH_ONLY=static-hosts` runs part 4 alone, `RATCHET_BENCH_ONLY=integrity` part 5
//! (`RATCHET_BENCH_INTEGRITY_SIZES=1000,1000000` chooses its registry sizes; empty: none, the
//! proof bytes and the warm no-op alone),
//! `RATCHET_BENCH_ONLY=resolution` the resolution scaling (and resolution from files beside
//! cargo), `RATCHET_BENCH_ONLY=resolve-files` resolution from files beside cargo alone, `RATCHET_BENCH_ONLY=issue19` the
//! resolution scaling and part 3b, `RATCHET_BENCH_ONLY=shapes` the shapes table of part 3b
//! alone (`RATCHET_BENCH_DELAYS=0,25` chooses its delays), `RATCHET_BENCH_ONLY=sign` the
//! signing figures alone.
//!
//! Files live in a tmpfs (`/dev/shm`) when there is one: on this kind of virtual machine the
//! disk's stalls change the figures severalfold between runs (`RATCHET_BENCH_ON_DISK=1` measures
//! on disk anyway).
//!
//! The generated registries are signed like real ones (a minisign key, an owner record per
//! bundle), so the installs include every trust check of `index-format.md` §7.6.
//!
//! Run: `cargo bench --bench registry`.

#[path = "../tests/fault_server/mod.rs"]
mod fault_server;
#[path = "../tests/generated_registry/mod.rs"]
mod generated_registry;
#[path = "../tests/static_servers/mod.rs"]
mod static_servers;
// Finding nginx and python3 the way the tests do (only `find_tool` is used here).
#[allow(dead_code)]
#[path = "../tests/common/tools.rs"]
mod tools;

use generated_registry::generate;
use ratchet_client::install::{ApplyOptions, Client, PlanRequest, apply, parse_spec, plan};
use ratchet_client::paths::Paths;
use ratchet_client::registry::RegistrySource;
use ratchet_client::resolver::{Candidate, ResolveOptions, resolve_complete};
use ratchet_formats::index::{archive_path, index_path, meta_path};
use ratchet_formats::manifest::{BundleId, VersionReq};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const DELAY: Duration = Duration::from_millis(25);

fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn install_all(home: &Path, url: &str, root: &str) -> (Client, Duration, usize) {
    install_from(home, RegistrySource::from_location(url).unwrap(), root)
}

/// [`install_all`] from a source set up by the caller (its connections per host).
fn install_from(home: &Path, src: RegistrySource, root: &str) -> (Client, Duration, usize) {
    let t = Instant::now();
    let req = PlanRequest {
        add: vec![parse_spec(root).unwrap()],
        ..Default::default()
    };
    // As `ratchet bundle install` does: config.json and the first wave in one round trip.
    let mut c = Client::open_prefetching(
        Paths::under(home.to_path_buf()),
        src,
        false,
        &req.add.iter().map(|(id, _)| id.clone()).collect(),
    )
    .unwrap();
    // As `ratchet bundle install -y` does: archives prepared while resolving.
    c.prepare_while_resolving(false);
    let p = plan(&mut c, &req).unwrap();
    let n = p.bundles.iter().filter(|b| !b.unchanged).count();
    if !p.is_noop() {
        apply(&c, &p, &ApplyOptions::default()).unwrap();
    }
    (c, t.elapsed(), n)
}

/// GNU time, which reports a command's peak RSS (for the memory comparison with cargo).
const TIME: &str = "/usr/bin/time";

/// The peak RSS of `ratchet bundle install ROOT -y` from `url` in a fresh home, run as a user
/// runs it: the `ratchet` binary built beside this bench, under [`TIME`], with its defaults.
fn cli_peak_rss(home: &Path, url: &str, root: &str, ca: Option<&Path>) -> String {
    let Some(cli) = std::env::current_exe()
        .ok()
        .and_then(|e| Some(e.parent()?.parent()?.join("ratchet")))
        .filter(|p| p.is_file())
    else {
        return "not measured (no ratchet binary beside the bench)".to_string();
    };
    if !Path::new(TIME).is_file() {
        return format!("not measured ({TIME} missing)");
    }
    let run = |args: &[&std::ffi::OsStr], timed: Option<&Path>| {
        let mut cmd = match timed {
            Some(file) => {
                let mut c = std::process::Command::new(TIME);
                c.args(["-f", "%M", "-o"]).arg(file).arg(&cli);
                c
            }
            None => std::process::Command::new(&cli),
        };
        cmd.args(args)
            .env("RATCHET_HOME", home)
            .env_remove("RATCHET_HTTP_MAX_CONNECTIONS")
            .output()
            .map_err(|e| e.to_string())
            .and_then(|o| {
                if o.status.success() {
                    Ok(())
                } else {
                    Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
                }
            })
    };
    let mut add: Vec<&std::ffi::OsStr> = ["registry", "add", "bench", url, "--kind", "local"]
        .into_iter()
        .map(std::ffi::OsStr::new)
        .collect();
    if let Some(ca) = ca {
        add.push("--ca-file".as_ref());
        add.push(ca.as_os_str());
    }
    let file = home.with_extension("rss");
    let install: Vec<&std::ffi::OsStr> = ["bundle", "install", root, "--registry", "bench", "-y"]
        .into_iter()
        .map(std::ffi::OsStr::new)
        .collect();
    match run(&add, None).and_then(|()| run(&install, Some(&file))) {
        Ok(()) => std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .map_or("?".to_string(), |k| format!("{:.1} MB", k as f64 / 1024.0)),
        Err(e) => format!("failed: {e}"),
    }
}

/// Environment variable that makes the bench binary the measured child process.
const CHILD: &str = "RATCHET_BENCH_CHILD";

/// Installs `root` from `url` into `home` in a fresh child process and returns what it printed:
/// its peak RSS is the install's alone (not the registry generator's).
fn child_install(home: &Path, url: &str, root: &str) -> String {
    let o = std::process::Command::new(std::env::current_exe().unwrap())
        .env(CHILD, "1")
        .args([home.to_str().unwrap(), url, root])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Fetches every file an install of the whole registry needs (index and metadata files, or index
/// files alone when they carry the metadata, then
/// archives, each set at once) with no resolution, verification or unpacking: the transfer
/// part of the lower bound.
fn transfer_only(home: &Path, url: &str, reg: &Path) -> Duration {
    let t = Instant::now();
    let f = ratchet_client::registry::Fetcher::new(
        RegistrySource::from_location(url).unwrap(),
        &home.join("cache"),
        false,
    )
    .unwrap();
    let mut rels = Vec::new();
    let mut items = Vec::new();
    // The metadata travels in the index files of a `meta-in-index` registry (§6.3.1).
    let meta_files = !ratchet_formats::index::RegistryConfig::load(reg)
        .unwrap()
        .meta_in_index;
    for entry in std::fs::read_to_string(reg.join("names.txt"))
        .unwrap()
        .lines()
    {
        let id = BundleId::parse(entry).unwrap();
        rels.push(index_path(&id));
        if meta_files {
            rels.push(meta_path(&id));
        }
        let bytes = std::fs::read(reg.join(index_path(&id))).unwrap();
        let file = ratchet_formats::index::IndexFile::parse(&bytes, "bench", Some(&id));
        let l = file.versions().next().unwrap();
        items.push((archive_path(&l.sha256), l.size, l.sha256.clone()));
    }
    let got = f.get_many(&rels, 1 << 20);
    assert!(got.iter().all(|r| r.is_ok()));
    let ok = std::sync::atomic::AtomicUsize::new(0);
    f.download_each(&items, None, |_, r| {
        if r.is_ok() {
            ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    assert_eq!(ok.into_inner(), items.len());
    t.elapsed()
}

fn main() {
    if std::env::var_os(CHILD).is_some() {
        let a: Vec<String> = std::env::args().skip(1).collect();
        let (_, wall, n) = install_all(Path::new(&a[0]), &a[1], &a[2]);
        println!(
            "{n} bundles installed in {:.0} ms; peak RSS {:.1} MB",
            wall.as_secs_f64() * 1000.0,
            peak_rss_kib().unwrap_or(0) as f64 / 1024.0
        );
        return;
    }
    // In memory (tmpfs) when the machine has one, so the figures are about waves and work, not
    // about this machine's disk, whose stalls vary them severalfold; RATCHET_BENCH_ON_DISK=1
    // measures on the default temporary directory instead.
    let shm = Path::new("/dev/shm");
    let tmp = if shm.is_dir() && std::env::var_os("RATCHET_BENCH_ON_DISK").is_none() {
        println!("(files in {}: tmpfs)", shm.display());
        tempfile::tempdir_in(shm).unwrap()
    } else {
        println!("(files in {})", std::env::temp_dir().display());
        tempfile::tempdir().unwrap()
    };

    if std::env::var("RATCHET_BENCH_ONLY").as_deref() == Ok("static-hosts") {
        static_hosts(tmp.path());
        return;
    }
    if std::env::var("RATCHET_BENCH_ONLY").as_deref() == Ok("resolution") {
        resolution_scaling();
        return;
    }
    if std::env::var("RATCHET_BENCH_ONLY").as_deref() == Ok("resolve-files") {
        resolution_beside_cargo();
        return;
    }
    if std::env::var("RATCHET_BENCH_ONLY").as_deref() == Ok("issue19") {
        resolution_scaling();
        sign_in_one_pass(tmp.path());
        shapes(tmp.path());
        return;
    }
    if std::env::var("RATCHET_BENCH_ONLY").as_deref() == Ok("shapes") {
        shapes(tmp.path());
        return;
    }
    if std::env::var("RATCHET_BENCH_ONLY").as_deref() == Ok("sign") {
        sign_in_one_pass(tmp.path());
        return;
    }
    if std::env::var("RATCHET_BENCH_ONLY").as_deref() == Ok("integrity") {
        integrity(tmp.path());
        return;
    }

    // 1. 200 bundles, depth 8, 25 ms per request.
    let depth = 8;
    let reg = tmp.path().join("reg200");
    let (root, bytes) = generate(&reg, 200, depth);
    let srv = fault_server::serve(reg.clone(), DELAY);
    let plain = fault_server::serve(reg.clone(), Duration::ZERO);
    // Three rounds (fresh caches each time), interleaved, so machine noise hits all alike;
    // the best of each is compared (noise only ever adds time), the medians are shown too.
    let (mut walls, mut transfers, mut no_delays) = (Vec::new(), Vec::new(), Vec::new());
    let mut first = None;
    for round in 0..3 {
        ratchet_formats::fsutil::sync_filesystem(tmp.path()).unwrap();
        let (c, wall, n) = install_all(
            &tmp.path().join(format!("home200-{round}")),
            &srv.url(),
            &root,
        );
        walls.push(wall);
        if first.is_none() {
            first = Some((c, n, srv.log.lock().unwrap().len()));
        }
        // Transfer on loopback: every file fetched once, all at once, with no delay, no work.
        transfers.push(transfer_only(
            &tmp.path().join(format!("home-transfer-{round}")),
            &plain.url(),
            &reg,
        ));
        no_delays.push(
            install_all(
                &tmp.path().join(format!("home-plain-{round}")),
                &plain.url(),
                &root,
            )
            .1,
        );
    }
    let best = |v: &mut Vec<Duration>| {
        v.sort();
        v[0]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (c, n, logged) = first.unwrap();
    let s = &c.fetcher.stats;
    let (wall, transfer, no_delay) = (best(&mut walls), best(&mut transfers), best(&mut no_delays));
    // The server speaks HTTP/1.1: each of the client's connections to it (6 unless
    // RATCHET_HTTP_MAX_CONNECTIONS says otherwise, issue 22) carries one request per 25 ms, so
    // the requests / connections delays bound the install as well as the depth does.
    let conns = u32::try_from(ratchet_http::max_connections(None).unwrap()).unwrap();
    let requests = u32::try_from(c.fetcher.stats.requests.load(Ordering::Relaxed)).unwrap_or(0);
    let serial = requests.div_ceil(conns);
    let bound = DELAY * (depth as u32 + 1).max(serial) + transfer;
    let log = srv.log.lock().unwrap()[..logged].to_vec();
    let count = |needle: &str| log.iter().filter(|(p, _, _)| p.contains(needle)).count();
    println!(
        "cold install, 200 bundles, depth {depth}, +25 ms per request: {n} bundles, {} requests ({} index files + {} metadata files in {} waves, config in the first + {} archives), {} KiB, wall best {:.0} ms (median {:.0}, max {:.0}, 3 rounds)",
        s.requests.load(Ordering::Relaxed),
        count("/index/"),
        count("/meta/"),
        s.waves.load(Ordering::Relaxed),
        count("/archives/"),
        bytes / 1024,
        ms(wall),
        ms(walls[1]),
        ms(walls[2])
    );
    println!(
        "  lower bound max(depth+1 = {}, {requests} requests / {conns} connections = {serial}) x 25 ms + transfer (best {:.0} ms: every file fetched at once, no delay, no work) = {:.0} ms; ratio {:.2} (goal <= 1.3)",
        depth + 1,
        ms(transfer),
        ms(bound),
        wall.as_secs_f64() / bound.as_secs_f64()
    );
    println!(
        "  the same install with no delay (resolution, signature checks, unpacking included): best {:.0} ms",
        ms(no_delay)
    );
    let home = tmp.path().join("home200-0");
    let archives = srv.count("/archives/");
    let (c, wall, n) = install_all(&home, &srv.url(), &root);
    let s = &c.fetcher.stats;
    println!(
        "warm no-op install: {n} bundles changed, {} requests, {} answered 304, {} bodies, {} archive requests, wall {:.0} ms",
        s.requests.load(Ordering::Relaxed),
        s.not_modified.load(Ordering::Relaxed),
        s.bodies.load(Ordering::Relaxed),
        srv.count("/archives/") - archives,
        wall.as_secs_f64() * 1000.0
    );

    // 2. Peak RSS, 1,000 bundles, measured in a child process.
    let big = tmp.path().join("reg1000");
    let (root, bytes) = generate(&big, 1000, 8);
    // An install makes its files durable with one syncfs: flush what the generator wrote
    // first, so the install does not pay for it.
    ratchet_formats::fsutil::sync_filesystem(tmp.path()).unwrap();
    let url = url::Url::from_directory_path(&big).unwrap().to_string();
    let said = child_install(&tmp.path().join("home1000"), &url, &root);
    println!(
        "1,000-bundle graph from file:// ({} KiB of signed archives), fresh process: {said} (goal < 100 MB)",
        bytes / 1024
    );

    // 3. Resolution on 10,000 bundles x 20 versions, then resolution alone at growing sizes.
    resolution_10k();
    resolution_scaling();

    // 3b. Issue 19: signing in one pass; graph shapes and delays, beside cargo.
    sign_in_one_pass(tmp.path());
    shapes(tmp.path());

    // 4. nginx and Python's http.server side by side.
    static_hosts(tmp.path());

    // 5. Signed snapshots and the transparency log.
    integrity(tmp.path());
}

/// Part 3: resolution on a synthetic index of 10,000 bundles x 20 versions (in memory).
fn resolution_10k() {
    let n_bundles = 10_000;
    let ids: Vec<BundleId> = (0..n_bundles)
        .map(|i| BundleId::parse(&format!("com.synth.b{i}")).unwrap())
        .collect();
    let mut index: HashMap<BundleId, Vec<Candidate>> = HashMap::new();
    let any1 = VersionReq::parse("^1.0").unwrap();
    for (i, id) in ids.iter().enumerate() {
        let mut versions = Vec::new();
        for v in 0..20u64 {
            let deps = (1..=3)
                .map(|k| i * 7 + k * 13 + v as usize)
                .filter(|&j| j > i && j < n_bundles)
                .map(|j| (ids[j].clone(), any1.clone()))
                .collect();
            versions.push(Candidate {
                version: semver::Version::new(1, v, 0),
                dependencies: deps,
                yanked: v == 19,
                ratchet_version: None,
                platforms: Vec::new(),
            });
        }
        index.insert(id.clone(), versions);
    }
    let roots: Vec<(BundleId, VersionReq)> = (0..50)
        .map(|i| (ids[i * 3].clone(), any1.clone()))
        .collect();
    let t = Instant::now();
    let g = resolve_complete(&roots, &index, &ResolveOptions::default()).unwrap();
    println!(
        "resolution, synthetic index of {n_bundles} bundles x 20 versions, 50 roots: {} bundles chosen in {:.0} ms",
        g.nodes.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );
}

/// A synthetic index of `n` bundles x 5 versions where the root's graph takes in every bundle:
/// bundle i needs 3i+1, 3i+2, 3i+3 and 7i+13 (when they exist), so about 1.15 edges per
/// bundle and a depth of log3(n).
fn synthetic_tree(n: usize) -> (Vec<BundleId>, HashMap<BundleId, Vec<Candidate>>) {
    let ids: Vec<BundleId> = (0..n)
        .map(|i| BundleId::parse(&format!("com.synth.b{i}")).unwrap())
        .collect();
    let any1 = VersionReq::parse("^1.0").unwrap();
    let mut index = HashMap::new();
    for (i, id) in ids.iter().enumerate() {
        let deps: Vec<(BundleId, VersionReq)> = [i * 3 + 1, i * 3 + 2, i * 3 + 3, i * 7 + 13]
            .into_iter()
            .filter(|&j| j < n)
            .map(|j| (ids[j].clone(), any1.clone()))
            .collect();
        let versions = (0..5u64)
            .map(|v| Candidate {
                version: semver::Version::new(1, v, 0),
                dependencies: deps.clone(),
                yanked: false,
                ratchet_version: None,
                platforms: Vec::new(),
            })
            .collect();
        index.insert(id.clone(), versions);
    }
    (ids, index)
}

/// Resolution alone (in memory, every index file loaded) at 2k, 10k, 30k and 100k bundles,
/// with the install order: time per bundle should stay flat (linear, issue 19).
fn resolution_scaling() {
    let any1 = VersionReq::parse("^1.0").unwrap();
    let mut per = Vec::new();
    for n in [2_000usize, 10_000, 30_000, 100_000] {
        let (ids, index) = synthetic_tree(n);
        let t = Instant::now();
        let g = resolve_complete(
            &[(ids[0].clone(), any1.clone())],
            &index,
            &ResolveOptions::default(),
        )
        .unwrap();
        let took = t.elapsed();
        assert_eq!(g.install_order.len(), n);
        per.push(took.as_secs_f64() / n as f64);
        println!(
            "resolution alone, {n} bundles x 5 versions ({} edges): {:.0} ms, {:.1} us per bundle",
            g.edges.len(),
            took.as_secs_f64() * 1000.0,
            took.as_secs_f64() * 1e6 / n as f64
        );
    }
    println!(
        "  time per bundle, 100k / 2k: {:.2} (linear: about 1; the old install order was quadratic)",
        per[3] / per[0]
    );
    resolution_beside_cargo();
}

/// Resolution from files on this machine, beside cargo (issue 19: "resolution at 30k <= cargo's
/// time"): the graph of [`synthetic_tree`] written as a `file://` ratchet registry (one index
/// file of 5 versions per bundle, no metadata files) and as a Cargo local registry (the same
/// index lines in cargo's layout), then ratchet's plan (reading every index file, resolving,
/// ordering) beside `cargo generate-lockfile` (reading, resolving, writing `Cargo.lock`), each
/// in a fresh home. Medians of 3 interleaved rounds. `RATCHET_BENCH_RESOLVE_SIZES=2000,30000`
/// chooses the sizes.
fn resolution_beside_cargo() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let sizes: Vec<usize> = std::env::var("RATCHET_BENCH_RESOLVE_SIZES")
        .unwrap_or_else(|_| "2000,10000,30000".into())
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .collect();
    println!(
        "resolution from files on this machine, ratchet (file:// registry) beside cargo generate-lockfile (local registry), medians of 3 interleaved rounds:"
    );
    for n in sizes {
        let tmp = bench_tmp();
        let (ids, index) = synthetic_tree(n);
        let reg = tmp.path().join("ratchet-reg");
        let creg = tmp.path().join("cargo-reg");
        std::fs::create_dir_all(&reg).unwrap();
        std::fs::write(
            reg.join("config.json"),
            ratchet_formats::index::RegistryConfig::new(
                "bench",
                ratchet_formats::index::RegistryKind::Local,
            )
            .to_json(),
        )
        .unwrap();
        let cname = |id: &BundleId| id.as_str().trim_start_matches("com.").replace('.', "-");
        let mut names = String::new();
        for id in &ids {
            let (mut ours, mut theirs) = (String::new(), String::new());
            for c in &index[id] {
                let deps: Vec<serde_json::Value> = c
                    .dependencies
                    .iter()
                    .map(|(d, r)| serde_json::json!({"bundle_id": d.as_str(), "version": r.to_string()}))
                    .collect();
                let line = serde_json::json!({"v": 1, "id": id.as_str(), "version": c.version.to_string(),
                    "dependencies": deps, "sha256": "0".repeat(64), "size": 1,
                    "published": "2026-01-01T00:00:00Z", "requirements": {}, "license": "MIT",
                    "pricing": "free", "keywords": [], "permissions": {}, "resources": {},
                    "yanked": false});
                ours.push_str(&format!("{line}\n"));
                let cdeps: Vec<serde_json::Value> = c
                    .dependencies
                    .iter()
                    .map(|(d, r)| {
                        serde_json::json!({"name": cname(d), "req": r.to_string(), "features": [],
                            "optional": false, "default_features": true, "target": null,
                            "kind": "normal"})
                    })
                    .collect();
                let cline = serde_json::json!({"name": cname(id), "vers": c.version.to_string(),
                    "deps": cdeps, "cksum": "0".repeat(64), "features": {}, "yanked": false});
                theirs.push_str(&format!("{cline}\n"));
            }
            let ip = reg.join(index_path(id));
            std::fs::create_dir_all(ip.parent().unwrap()).unwrap();
            std::fs::write(ip, ours).unwrap();
            let cp = creg.join("index").join(cargo_index_path(&cname(id)));
            std::fs::create_dir_all(cp.parent().unwrap()).unwrap();
            std::fs::write(cp, theirs).unwrap();
            names.push_str(id.as_str());
            names.push('\n');
        }
        std::fs::write(reg.join("names.txt"), names).unwrap();
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        let mut chosen = 0;
        for round in 0..3 {
            let home = tmp.path().join(format!("home-{round}"));
            let src = RegistrySource::from_location(reg.to_str().unwrap()).unwrap();
            let t = Instant::now();
            let mut c = Client::open(Paths::under(home), src, false).unwrap();
            let req = PlanRequest {
                add: vec![parse_spec(ids[0].as_str()).unwrap()],
                ..Default::default()
            };
            let p = plan(&mut c, &req).unwrap();
            ours.push(t.elapsed());
            chosen = p.bundles.len();
            let work = tmp.path().join(format!("cargo-{round}"));
            match cargo_generate_lockfile(&cargo, &work, &creg, &cname(&ids[0])) {
                Ok(d) => theirs.push(d),
                Err(e) => println!("  {n}: cargo: {e}"),
            }
        }
        let med = |v: &mut Vec<Duration>| {
            v.sort();
            v.get(v.len() / 2).copied()
        };
        let (o, t) = (med(&mut ours).unwrap(), med(&mut theirs));
        println!(
            "  {n} bundles x 5 versions ({chosen} chosen): ratchet {:.0} ms, cargo {}; ratio {} (goal at 30k: <= 1)",
            ms(o),
            t.map_or("-".into(), |t| format!("{:.0} ms", ms(t))),
            t.map_or("-".into(), |t| format!(
                "{:.2}",
                o.as_secs_f64() / t.as_secs_f64()
            ))
        );
    }
}

/// A temporary directory in the tmpfs when there is one (as `main` chooses).
fn bench_tmp() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() && std::env::var_os("RATCHET_BENCH_ON_DISK").is_none() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

/// Milliseconds of a duration.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `cargo generate-lockfile` of a project depending on `root` from the local registry `reg`
/// (source replacement of crates.io), in its own `CARGO_HOME`; its wall time.
fn cargo_generate_lockfile(
    cargo: &str,
    work: &Path,
    reg: &Path,
    root: &str,
) -> Result<Duration, String> {
    let (home, project) = (work.join("home"), work.join("project"));
    std::fs::create_dir_all(project.join("src")).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(project.join("src/lib.rs"), "").unwrap();
    std::fs::write(
        project.join("Cargo.toml"),
        format!("[package]\nname = \"bench-app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n{root} = \"1.0\"\n"),
    )
    .unwrap();
    std::fs::write(
        home.join("config.toml"),
        format!(
            "[source.crates-io]\nreplace-with = \"bench\"\n\n[source.bench]\nlocal-registry = \"{}\"\n",
            reg.display()
        ),
    )
    .unwrap();
    let t = Instant::now();
    let o = std::process::Command::new(cargo)
        .arg("generate-lockfile")
        .current_dir(&project)
        .env("CARGO_HOME", &home)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .map_err(|e| format!("cannot run {cargo}: {e}"))?;
    let took = t.elapsed();
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        return Err(format!(
            "generate-lockfile failed: {}",
            err.lines().last().unwrap_or("")
        ));
    }
    Ok(took)
}

/// A registry key whose timestamps are valid for a day.
fn registry_key(dir: &Path) -> ratchet_publish::RegistryKey {
    let kp = ratchet_trust::keys::generate(dir, "registry", None).unwrap();
    ratchet_publish::RegistryKey::new(ratchet_trust::SecretKey::load(&kp.secret).unwrap(), 86400)
        .unwrap()
}

/// A signed registry of `n` bundles written directly in the documented format
/// (`index-format.md` §9): `com.bench.target 1.0.0` published for real (archive, index and
/// metadata files), `root.json`, a log of an `init` entry and one `import` entry per bundle
/// (tiles and entry bundles), the state map over every file (`map::build`: content-addressed
/// and stable node files), `log/checkpoint` and `timestamp`. The other `n - 1` bundles' index
/// files are in the log and the map but not on disk (a change never reads them, and a million
/// small files would take minutes and gigabytes); entries carry a zero `state` (no audit here).
/// The search catalog is a rebuild over all `n` bundles (§10.5, see [`write_catalog`]), as a
/// registry of that size has it: full facet sets, capped term lists, `n` summaries.
/// Returns the registry, with its key, and the log size.
fn generate_signed(dir: &Path, work: &Path, n: usize) -> (ratchet_publish::Registry, u64) {
    use ratchet_publish::Registry;
    use ratchet_tlog::entry::{EntryKind, FileChange, LogEntry};
    use ratchet_tlog::map::{self, FileDigest};
    use ratchet_tlog::signed::{Checkpoint, Timestamp, timestamp_file};
    const T0: u64 = 1_767_225_600;
    let reg = Registry::init(
        dir,
        "bench",
        ratchet_formats::index::RegistryKind::Local,
        None,
    )
    .unwrap();
    let first = ratchet_testkit::Bundle::new("com.bench.target", "1.0.0").build(work);
    reg.publish(&first, ratchet_testkit::TIME).unwrap();
    let kp = ratchet_trust::keys::generate(work, "registry", None).unwrap();
    let sk = ratchet_trust::SecretKey::load(&kp.secret).unwrap();
    let origin = "bench.example";
    let root = ratchet_tlog::root::RootFile::genesis(origin, &sk).unwrap();
    std::fs::write(dir.join("root.json"), root.to_json()).unwrap();
    let write = |path: &str, bytes: &[u8]| {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    };
    let mut files: Vec<(String, FileDigest, u64)> = Vec::new();
    let mut entries: Vec<Vec<u8>> = Vec::new();
    let mut record = |kind: EntryKind, id: Option<String>, changed: Vec<(String, FileDigest)>| {
        let index = entries.len() as u64;
        let e = LogEntry {
            kind,
            id,
            version: None,
            archive: None,
            time: T0,
            state: [0; 32],
            files: changed
                .iter()
                .map(|(path, d)| FileChange {
                    path: path.clone(),
                    digest: Some(*d),
                })
                .collect(),
        };
        entries.push(e.encode().unwrap());
        files.extend(changed.into_iter().map(|(p, d)| (p, d, index)));
    };
    let on_disk = |rel: &str| FileDigest::of(&std::fs::read(dir.join(rel)).unwrap());
    record(
        EntryKind::Init,
        None,
        ["config.json", "root.json"]
            .iter()
            .map(|p| (p.to_string(), on_disk(p)))
            .collect(),
    );
    let target = BundleId::parse("com.bench.target").unwrap();
    record(
        EntryKind::Import,
        Some(target.to_string()),
        [index_path(&target), meta_path(&target)]
            .into_iter()
            .filter(|p| dir.join(p).is_file())
            .map(|p| {
                let d = on_disk(&p);
                (p, d)
            })
            .collect(),
    );
    for i in 1..n {
        let id = BundleId::parse(&format!("com.bench.b{i}")).unwrap();
        let line = format!("{{\"v\":1,\"id\":\"{id}\",\"n\":{i}}}\n");
        record(
            EntryKind::Import,
            Some(id.to_string()),
            vec![(index_path(&id), FileDigest::of(line.as_bytes()))],
        );
    }
    write_catalog(&reg, n);
    let (state_root, nodes) = map::build(files).unwrap();
    for f in nodes {
        write(&f.path, &f.bytes);
    }
    let mut log = ratchet_tlog::tiles::LogWriter::new();
    for chunk in entries.chunks(65536) {
        for f in log.append(chunk).unwrap() {
            write(&f.path, &f.bytes);
        }
    }
    let cp = Checkpoint {
        origin: origin.into(),
        size: entries.len() as u64,
        log_root: log.root(),
        state_root,
        time: T0,
    };
    let sig = cp.sign(&sk).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ts = Timestamp::for_checkpoint(&cp, now, 86400);
    write(
        "timestamp",
        timestamp_file(&sig, &ts, &sk).unwrap().as_bytes(),
    );
    write("log/checkpoint", sig.as_bytes());
    let key = ratchet_publish::RegistryKey::new(sk, 86400).unwrap();
    (reg.with_registry_key(key), entries.len() as u64)
}

/// A catalog store that drops the forward files of every bundle but `keep` (a million small
/// files only writers of those bundles read) and writes every other file to the registry.
struct SkipForwards {
    inner: ratchet_catalog::DirStore,
    keep: String,
}

impl ratchet_catalog::CatalogStore for SkipForwards {
    fn read(
        &self,
        path: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, ratchet_catalog::CatalogError> {
        ratchet_catalog::CatalogStore::read(&self.inner, path, limit)
    }
    fn write(&mut self, path: &str, bytes: &[u8]) -> Result<(), ratchet_catalog::CatalogError> {
        if path.starts_with("catalog/fwd/") && path != self.keep {
            return Ok(());
        }
        ratchet_catalog::CatalogStore::write(&mut self.inner, path, bytes)
    }
    fn remove(&mut self, path: &str) -> Result<(), ratchet_catalog::CatalogError> {
        ratchet_catalog::CatalogStore::remove(&mut self.inner, path)
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>, ratchet_catalog::CatalogError> {
        ratchet_catalog::CatalogStore::list(&self.inner, prefix)
    }
}

/// The search catalog of the generated registry (`index-format.md` §10): a rebuild over
/// `com.bench.target` (ordinal 0, its real document) and `n - 1` bundles `com.bench.b<i>`
/// whose documents are the target's with their own id and name, so every facet value the
/// target has (license, pricing, verified, platform, ratchet_version, category, tag, author)
/// is shared by all `n` bundles (full facet sets: a bitmap of `n / 8` bytes), every term of
/// the target's text has `n` postings (capped), and each bundle adds its own id term. The
/// other bundles' forward files are left out (only an update of that bundle reads one).
fn write_catalog(reg: &ratchet_publish::Registry, n: usize) {
    let docs = reg.catalog_docs().unwrap();
    let (target, Some(doc)) = docs.into_iter().next().unwrap() else {
        panic!("the target has a catalog document")
    };
    let keep = ratchet_catalog::files::forward_path(&target);
    let mut store = SkipForwards {
        inner: ratchet_catalog::DirStore::new(reg.root(), false),
        keep,
    };
    let first = doc.clone();
    let all = std::iter::once((target, Some(first))).chain((1..n).map(|i| {
        let id = BundleId::parse(&format!("com.bench.b{i}")).unwrap();
        let mut d = doc.clone();
        d.id = id.clone();
        d.name = format!("Bench b{i}");
        (id, Some(d))
    }));
    ratchet_catalog::Catalog::rebuild(&mut store, all).unwrap();
}

/// Part 5: publish cost at growing sizes, proof bytes of a cold install, warm no-op requests.
fn integrity(tmp: &Path) {
    use ratchet_publish::Registry;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut sizes = vec![1_000usize, 10_000, 100_000];
    if std::env::var_os("RATCHET_BENCH_1M").is_some() {
        sizes.push(1_000_000);
    }
    if let Ok(v) = std::env::var("RATCHET_BENCH_INTEGRITY_SIZES") {
        sizes = v.split(',').filter_map(|n| n.trim().parse().ok()).collect();
    }
    // Every registry is generated first and kept; then the measurements go in interleaved
    // rounds (1k, 1M, 1k, 1M, ...), so that load on a shared machine hits every size alike,
    // and medians are taken per size.
    struct Sized {
        n: usize,
        dir: std::path::PathBuf,
        reg: Registry,
        archives: Vec<std::path::PathBuf>,
        fresh: Vec<std::path::PathBuf>,
        yanks: Vec<Duration>,
        publishes: Vec<Duration>,
        firsts: Vec<Duration>,
        catalogs: Vec<Duration>,
    }
    const ROUNDS: usize = 15;
    const YANKS_PER_ROUND: usize = 4;
    let mut regs = Vec::new();
    for &n in &sizes {
        let dir = tmp.join(format!("signed-{n}"));
        let work = tmp.join(format!("signed-{n}-work"));
        let t = Instant::now();
        let (reg, entries) = generate_signed(&dir, &work, n);
        let generated = t.elapsed();
        let nodes = count_files(&dir.join("state/map"));
        println!(
            "signed registry of {n} bundles: generated directly in {:.1} s ({entries} log entries, {nodes} stable map nodes)",
            generated.as_secs_f64(),
        );
        let root = std::fs::read(dir.join(ratchet_catalog::files::ROOT_PATH)).unwrap();
        let splits = ratchet_catalog::files::parse_root(&root)
            .unwrap()
            .split
            .len();
        let facets = dir.join("catalog/facets");
        // Facet heads are `facets/<kind>/<h>.json`; their chunks are below `facets/<kind>/<h>/`.
        let heads: usize = std::fs::read_dir(&facets)
            .into_iter()
            .flatten()
            .flatten()
            .map(|k| {
                std::fs::read_dir(k.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .count()
            })
            .sum();
        println!(
            "  its catalog: root.json {} KiB ({splits} split prefixes), {heads} facet heads and {} chunks, {} KiB in all (an update reads the heads of the bundle's values and one chunk per value it gains or loses), {} term shards, {} summary blocks",
            root.len() / 1024,
            count_files(&facets) - heads,
            dir_bytes(&facets) / 1024,
            count_files(&dir.join("catalog/terms")),
            count_files(&dir.join("catalog/docs")),
        );
        let archives: Vec<_> = (1..=ROUNDS)
            .map(|k| {
                ratchet_testkit::Bundle::new("com.bench.target", &format!("1.0.{k}")).build(&work)
            })
            .collect();
        let fresh: Vec<_> = (1..=ROUNDS)
            .map(|k| {
                ratchet_testkit::Bundle::new(&format!("com.bench.new{k}"), "1.0.0").build(&work)
            })
            .collect();
        regs.push(Sized {
            n,
            dir,
            reg,
            archives,
            fresh,
            yanks: Vec::new(),
            publishes: Vec::new(),
            firsts: Vec::new(),
            catalogs: Vec::new(),
        });
    }
    // Gigabytes of fresh files at a million: without this their writeback lands in the measured
    // operations (each fsync waits for it).
    let _ = std::process::Command::new("sync").status();
    let id = BundleId::parse("com.bench.target").unwrap();
    let v = semver::Version::new(1, 0, 0);
    for round in 0..ROUNDS {
        for s in regs.iter_mut() {
            for r in 0..YANKS_PER_ROUND {
                let t = Instant::now();
                s.reg.set_yanked(&id, &v, r % 2 == 0).unwrap();
                s.yanks.push(t.elapsed());
            }
            let t = Instant::now();
            s.reg
                .publish(&s.archives[round], ratchet_testkit::TIME)
                .unwrap();
            s.publishes.push(t.elapsed());
            let t = Instant::now();
            s.reg
                .publish(&s.fresh[round], ratchet_testkit::TIME)
                .unwrap();
            s.firsts.push(t.elapsed());
            // The search catalog's share: the same update for the target alone (§10.5).
            let t = Instant::now();
            s.reg.catalog_refresh(std::slice::from_ref(&id)).unwrap();
            s.catalogs.push(t.elapsed());
        }
    }
    // Medians: on a shared machine a few operations stall on the disk or the scheduler.
    let median = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        v[v.len() / 2]
    };
    let mut yank_ms = Vec::new();
    for s in &regs {
        let (yank, publish, first, catalog) = (
            median(&s.yanks),
            median(&s.publishes),
            median(&s.firsts),
            median(&s.catalogs),
        );
        println!(
            "  {} bundles: one yank {:.2} ms, one publish (new version) {:.2} ms, one publish of a new bundle {:.2} ms (medians of {}, {} and {}, {ROUNDS} interleaved rounds; archive checks and the catalog update included); the catalog update alone {:.2} ms",
            s.n,
            ms(yank),
            ms(publish),
            ms(first),
            s.yanks.len(),
            s.publishes.len(),
            s.firsts.len(),
            ms(catalog),
        );
        yank_ms.push((s.n, yank, publish, first, catalog));
    }
    if let (Some(&(n0, y0, p0, f0, c0)), Some(&(n1, y1, p1, f1, c1))) =
        (yank_ms.first(), yank_ms.last())
    {
        let r = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        println!(
            "  change cost {n1} / {n0} bundles (medians of interleaved rounds): yank {:.2}, publish (new version) {:.2}, publish of a new bundle {:.2} (goal <= 1.5); the catalog update alone {:.2}, a publish less its catalog update (difference of medians) {:.2}",
            r(y1, y0),
            r(p1, p0),
            r(f1, f0),
            r(c1, c0),
            r(p1.saturating_sub(c1), p0.saturating_sub(c0)),
        );
    }
    // Gigabytes at a million: removed before the next part.
    for s in regs {
        let _ = std::fs::remove_dir_all(&s.dir);
        let _ = std::fs::remove_dir_all(tmp.join(format!("signed-{}-work", s.n)));
    }
    // Proof bytes: the same 200-bundle graph, unsigned and signed, cold installs.
    let plain = tmp.join("int-plain");
    let (root, _) = generate(&plain, 200, 8);
    let signed = tmp.join("int-signed");
    copy_tree(&plain, &signed);
    Registry::open(&signed)
        .unwrap()
        .with_registry_key(registry_key(&tmp.join("int-keys")))
        .init_log("bench.example")
        .unwrap();
    let s_plain = fault_server::serve(plain.clone(), Duration::ZERO);
    let s_signed = fault_server::serve(signed.clone(), Duration::ZERO);
    let (c0, w0, _) = install_all(&tmp.join("int-home-plain"), &s_plain.url(), &root);
    let (c1, w1, _) = install_all(&tmp.join("int-home-signed"), &s_signed.url(), &root);
    let b0 = c0.fetcher.stats.bytes.load(Ordering::Relaxed);
    let b1 = c1.fetcher.stats.bytes.load(Ordering::Relaxed);
    println!(
        "cold install of the 200-bundle graph: unsigned {} KiB in {} requests ({:.0} ms), signed {} KiB in {} requests ({:.0} ms); extra {} KiB = {:+.1}% of all bytes (goal <= +10%), {:+.1}% of the registry files' bytes; {} files verified with {} KiB of map nodes",
        b0 / 1024,
        c0.fetcher.stats.requests.load(Ordering::Relaxed),
        ms(w0),
        b1 / 1024,
        c1.fetcher.stats.requests.load(Ordering::Relaxed),
        ms(w1),
        (b1 - b0) / 1024,
        (b1 - b0) as f64 * 100.0 / b0 as f64,
        (b1 - b0) as f64 * 100.0 / (b0 as f64 - archive_bytes(&plain) as f64).max(1.0),
        c1.integrity.files_verified.load(Ordering::Relaxed),
        c1.integrity.proof_bytes.load(Ordering::Relaxed) / 1024,
    );
    println!(
        "  the signed registry's whole state map: {} KiB in {} stable node files; timestamp {} B, root.json {} B",
        dir_bytes(&signed.join("state/map")) / 1024,
        count_files(&signed.join("state/map")),
        std::fs::metadata(signed.join("timestamp")).map_or(0, |m| m.len()),
        std::fs::metadata(signed.join("root.json")).map_or(0, |m| m.len()),
    );
    // Warm no-op on the signed registry.
    let before = s_signed.log.lock().unwrap().len();
    let (c, wall, n) = install_all(&tmp.join("int-home-signed"), &s_signed.url(), &root);
    println!(
        "warm no-op install from the signed registry: {n} bundles changed, {} requests (goal 1: the timestamp), {} sent to the server, wall {:.0} ms",
        c.fetcher.stats.requests.load(Ordering::Relaxed),
        s_signed.log.lock().unwrap().len() - before,
        ms(wall)
    );
}

/// Files and directories below `dir` (0 when it does not exist).
fn count_entries(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            n += 1;
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(e.path());
            }
        }
    }
    n
}

/// The client's bookkeeping files (`index-format.md` §7.6, §8.4): the same few files whatever
/// the number of bundles, so not counted against the per-file limit of issue 19.
const STATE_FILES: &[&str] = &[
    "data/installed.json",
    "data/ratchet.lock",
    "data/.install.lock",
    "data/trust/owners.json",
];

fn count_files(dir: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(e.path());
            } else {
                n += 1;
            }
        }
    }
    n
}

fn archive_bytes(reg: &Path) -> u64 {
    dir_bytes(&reg.join("archives"))
}

/// Bytes of the files below `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                n += m.len();
            }
        }
    }
    n
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Part 4: the same cold install from nginx and from `python3 -m http.server`.
fn static_hosts(tmp: &Path) {
    let (n, depth) = (400, 8);
    let reg = tmp.join("reg-static");
    let (root, bytes) = generate(&reg, n, depth);
    ratchet_formats::fsutil::sync_filesystem(tmp).unwrap();
    println!(
        "static hosts: cold install of a {n}-bundle graph (depth {depth}, {} KiB of archives) on loopback:",
        bytes / 1024
    );
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    // One run: fresh home, cold caches; prints a line and returns the wall time.
    let run = |label: &str, url: &str, home: &str, width: Option<usize>| -> Duration {
        let mut src = RegistrySource::from_location(url).unwrap();
        src.max_connections = width;
        let before = static_servers::listen_overflows();
        let (c, wall, installed) = install_from(&tmp.join(home), src, &root);
        let after = static_servers::listen_overflows();
        let s = &c.fetcher.stats;
        let h = c.fetcher.host_state();
        let overflows = match (before, after) {
            (Some(b), Some(a)) => format!("+{}", a.saturating_sub(b)),
            _ => "n/a".to_string(),
        };
        println!(
            "  {label:<44} {installed} bundles, {} requests, wall {:>7.0} ms, ListenOverflows {overflows}, {} troubles; {} connections per host, window {} of {} (peak {} in flight, {} halvings{})",
            s.requests.load(Ordering::Relaxed),
            ms(wall),
            s.troubles.load(Ordering::Relaxed),
            c.fetcher.max_connections(),
            h.map_or(0, |h| h.window),
            h.map_or(0, |h| h.ceiling),
            h.map_or(0, |h| h.peak),
            h.map_or(0, |h| h.halvings),
            if h.is_some_and(|h| h.multiplexed) {
                ", HTTP/2"
            } else {
                ""
            },
        );
        wall
    };
    let nginx = tools::find_tool("nginx").map(|b| static_servers::nginx(&b, &reg));
    let python = tools::find_tool("python3").map(|b| static_servers::python(&b, &reg));
    if nginx.is_none() {
        println!("  nginx: not installed (scripts/setup.sh installs nginx-light); skipped");
    }
    if python.is_none() {
        println!("  python3: not installed; skipped");
    }
    // Two rounds, interleaved, best of each compared (noise only ever adds time).
    let (mut nginx_walls, mut python_walls) = (Vec::new(), Vec::new());
    for round in 0..2 {
        if let Some(srv) = &nginx {
            nginx_walls.push(run(
                &format!("nginx (HTTP/1.1 keep-alive), round {}", round + 1),
                &srv.url(),
                &format!("home-nginx-{round}"),
                None,
            ));
        }
        if let Some(srv) = &python {
            python_walls.push(run(
                &format!("python3 -m http.server (HTTP/1.0), round {}", round + 1),
                &srv.url(),
                &format!("home-python-{round}"),
                None,
            ));
        }
    }
    if let (Some(a), Some(b)) = (nginx_walls.iter().min(), python_walls.iter().min()) {
        println!(
            "  best: nginx {:.0} ms, python3 -m http.server {:.0} ms; ratio {:.2} (goal <= 3)",
            ms(*a),
            ms(*b),
            b.as_secs_f64() / a.as_secs_f64()
        );
    }
    if let Some(srv) = &python
        && std::env::var("RATCHET_BENCH_OLD_WIDTH").as_deref() != Ok("0")
    {
        run(
            "python3 -m http.server, 64 per host (old)",
            &srv.url(),
            "home-python-64",
            Some(64),
        );
    }
}

/// Level widths of the wide graph of issue 19: 420 bundles, breadth-first depth 10, one level of
/// 114 (with one extra edge per bundle, about 1,100 edges).
const WIDE: [usize; 11] = [1, 3, 9, 24, 50, 114, 90, 60, 38, 22, 9];

/// The level widths [`generated_registry::generate`] gives `n` bundles in `depth` levels.
fn narrow_widths(n: usize, depth: usize) -> Vec<usize> {
    let per_level = (n - 1).div_ceil(depth);
    let mut widths = vec![1];
    let mut count = 1;
    for _ in 1..=depth {
        let k = per_level.min(n - count);
        widths.push(k);
        count += k;
    }
    widths
}

/// One measured run: round trips seen by the server, requests, bytes, wall time.
#[derive(Clone)]
struct Run {
    waves: Option<usize>,
    requests: usize,
    bytes: u64,
    wall: Duration,
    /// Where the time above the round trips went ([`trace`]); empty with no delay.
    trace: String,
}

/// User + system CPU time of this process so far (every thread).
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Where a run's time went, from the arrival times the server logged since `from`: the client's
/// start-up before the first request (head), the client's work between the last answer of one
/// round trip and the first request of the next (gaps, one per boundary), the spread of each
/// round trip's arrivals (requests of one wave that left late), and the work after the last
/// answer (tail: unpacking the last archives, pins, sync, commit).
fn trace(
    srv: &fault_server::Server,
    from: usize,
    delay: Duration,
    start: Instant,
    end: Instant,
) -> String {
    if delay.is_zero() {
        return String::new();
    }
    let mut times = srv.times.lock().unwrap()[from..].to_vec();
    times.sort();
    // (first, last) arrival of each round trip, grouped as `fault_server::waves` does.
    let mut waves: Vec<(Instant, Instant)> = Vec::new();
    for t in times {
        match waves.last_mut() {
            Some((_, last)) if t.duration_since(*last) < delay => *last = t,
            _ => waves.push((t, t)),
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (Some(first), Some(last)) = (waves.first(), waves.last()) else {
        return String::new();
    };
    let head = first.0.saturating_duration_since(start);
    let tail = end.saturating_duration_since(last.1 + delay);
    let gaps: Vec<Duration> = waves
        .windows(2)
        .map(|w| w[1].0.saturating_duration_since(w[0].1 + delay))
        .collect();
    let spread: Duration = waves.iter().map(|(a, b)| *b - *a).sum();
    format!(
        "head {:.0} ms, gaps {} ms (sum {:.0}), spread {:.0} ms, tail {:.0} ms",
        ms(head),
        gaps.iter()
            .map(|g| format!("{:.0}", ms(*g)))
            .collect::<Vec<_>>()
            .join("/"),
        ms(gaps.iter().sum()),
        ms(spread),
        ms(tail)
    )
}

/// Round trips and requests the server saw since `from` (round trips only with a delay: with
/// none, nothing separates them).
fn seen(srv: &fault_server::Server, from: usize, delay: Duration) -> (Option<usize>, usize) {
    let times = srv.times.lock().unwrap()[from..].to_vec();
    let waves = (!delay.is_zero()).then(|| fault_server::waves(&times, delay).len());
    (waves, times.len())
}

/// Where a tool of the shapes table sends its requests: the delaying server itself (plain
/// HTTP/1.1) or an nginx HTTP/2 front over TLS before it ([`static_servers::nginx_h2_front`]).
struct Front {
    /// The root URL the tool is given.
    url: String,
    /// The CA file that makes the front's certificate trusted (`None` for plain HTTP).
    ca: Option<std::path::PathBuf>,
    /// The nginx front, kept running while it is used.
    nginx: Option<static_servers::StaticServer>,
}

impl Front {
    /// The protocols the front's access log shows since line `from` (`HTTP/2.0 x 512`), and
    /// the log's length now.
    fn protocols(&self, from: usize) -> (String, usize) {
        let Some(n) = &self.nginx else {
            return ("HTTP/1.1 (no front)".into(), 0);
        };
        let text = std::fs::read_to_string(n.access_log()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let mut count: std::collections::BTreeMap<&str, usize> = Default::default();
        let mut connections = std::collections::HashSet::new();
        for l in lines.iter().skip(from) {
            let words: Vec<&str> = l.split_whitespace().collect();
            *count.entry(words.first().unwrap_or(&"?")).or_default() += 1;
            connections.insert(words.get(3).copied().unwrap_or("?"));
        }
        let said = count
            .iter()
            .map(|(p, n)| format!("{p} x {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        (
            format!("{said} over {} connections", connections.len()),
            lines.len(),
        )
    }
}

/// One cell of the shapes table for its summary: shape, delay (ms), front, ratchet's cold
/// install against cargo's and against the bound.
type Cell<'a> = (String, u64, &'a str, Option<f64>, Option<f64>);

/// A throwaway certificate authority and a server certificate for `127.0.0.1` it issued, as
/// PEM files under `dir`: (CA, certificate, key).
fn throwaway_certificate(
    dir: &Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    std::fs::create_dir_all(dir).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ratchet bench CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let (ca_pem, cert, key) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    std::fs::write(&cert, leaf.pem()).unwrap();
    std::fs::write(&key, leaf_key.serialize_pem()).unwrap();
    (ca_pem, cert, key)
}

/// A ratchet install as `ratchet bundle install ROOT -y` runs it: first the local no-op check
/// (no request when the state and lockfile already say it all), then open, resolve in waves,
/// prepare while resolving, apply. The HTTP/1.1 pool is sized for the widest wave.
fn ratchet_run(
    home: &Path,
    srv: &fault_server::Server,
    front: &Front,
    root: &str,
    delay: Duration,
) -> Run {
    let from = srv.times.lock().unwrap().len();
    let cpu0 = cpu_time();
    let t = Instant::now();
    let paths = Paths::under(home.to_path_buf());
    let add = vec![parse_spec(root).unwrap()];
    let mut src = RegistrySource::from_location(&front.url).unwrap();
    src.max_connections = Some(1024);
    src.ca_file = front.ca.clone();
    let here = src.base.to_string();
    let wanted = ratchet_client::install::Wanted::Add {
        registry: &here,
        add: &add,
    };
    let mut bytes = 0;
    if ratchet_client::install::satisfied_locally(&paths, wanted)
        .unwrap()
        .is_none()
    {
        let (c, _, _) = install_from(home, src, root);
        bytes = c.fetcher.stats.bytes.load(Ordering::Relaxed);
    }
    let wall = t.elapsed();
    let (waves, requests) = seen(srv, from, delay);
    Run {
        waves,
        requests,
        bytes,
        wall,
        trace: format!(
            "CPU {:.0} ms (user + system of the process, the loopback server's threads included){}",
            (cpu_time().saturating_sub(cpu0)).as_secs_f64() * 1000.0,
            match trace(srv, from, delay, t, t + wall) {
                s if s.is_empty() => String::new(),
                s => format!("; {s}"),
            }
        ),
    }
}

/// The crate name of a generated bundle id (`com.bench.l3-b7` -> `b-l3-b7`).
fn crate_name(id: &str) -> String {
    format!("b-{}", id.trim_start_matches("com.bench."))
}

/// A sparse index path of a crate name (cargo's layout).
fn cargo_index_path(name: &str) -> String {
    match name.len() {
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}

/// Writes the graph as a Cargo sparse registry under `dir` (served at `url`): an index line and
/// a small `.crate` per bundle, dependencies as in the bundle graph.
fn write_cargo_registry(dir: &Path, url: &str, graph: &[Vec<(String, Vec<String>)>]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        format!("{{\"dl\": \"{url}crates/{{crate}}/{{version}}/download\"}}"),
    )
    .unwrap();
    for (id, deps) in graph.iter().flatten() {
        let name = crate_name(id);
        let mut toml = format!(
            "[package]\nname = \"{name}\"\nversion = \"1.0.0\"\nedition = \"2021\"\n\n[dependencies]\n"
        );
        for d in deps {
            toml.push_str(&format!("{} = \"^1.0\"\n", crate_name(d)));
        }
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        ));
        for (path, body) in [
            ("Cargo.toml", toml.as_bytes()),
            ("src/lib.rs", b"" as &[u8]),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, format!("{name}-1.0.0/{path}"), body)
                .unwrap();
        }
        let krate = tar.into_inner().unwrap().finish().unwrap();
        let sha = ratchet_formats::index::sha256_hex(&krate);
        let dl = dir.join(format!("crates/{name}/1.0.0/download"));
        std::fs::create_dir_all(dl.parent().unwrap()).unwrap();
        std::fs::write(dl, &krate).unwrap();
        let deps_json: Vec<serde_json::Value> = deps
            .iter()
            .map(|d| {
                serde_json::json!({"name": crate_name(d), "req": "^1.0", "features": [],
                    "optional": false, "default_features": true, "target": null,
                    "kind": "normal"})
            })
            .collect();
        let line = serde_json::json!({"name": name, "vers": "1.0.0", "deps": deps_json,
            "cksum": sha, "features": {}, "yanked": false});
        let ip = dir.join(cargo_index_path(&name));
        std::fs::create_dir_all(ip.parent().unwrap()).unwrap();
        std::fs::write(ip, format!("{line}\n")).unwrap();
    }
}

/// Bytes of the files the server answered with a body since `from` (no `If-None-Match`).
fn served_bytes(srv: &fault_server::Server, root: &Path, from: usize) -> u64 {
    srv.log.lock().unwrap()[from..]
        .iter()
        .filter(|(_, inm, _)| !inm)
        .filter_map(|(p, _, _)| std::fs::metadata(root.join(p.trim_start_matches('/'))).ok())
        .map(|m| m.len())
        .sum()
}

/// Which cargo run [`cargo_run`] makes.
enum CargoRun<'a> {
    /// `generate-lockfile` + `fetch` in a fresh `CARGO_HOME`.
    Cold,
    /// `fetch` again.
    Warm,
    /// [`CargoRun::Cold`] under GNU time, which appends each step's peak RSS (KiB) to the file.
    ColdMeasured(&'a Path),
}

/// `cargo generate-lockfile` + `cargo fetch` (or `cargo fetch` alone, [`CargoRun::Warm`]) of a
/// project depending on the root crate, with its own `CARGO_HOME` whose config replaces
/// crates.io by the sparse registry `srv` serves. An error saying why when cargo fails.
fn cargo_run(
    work: &Path,
    srv: &fault_server::Server,
    front: &Front,
    reg: &Path,
    root: &str,
    delay: Duration,
    run: CargoRun<'_>,
) -> Result<Run, String> {
    let (warm, rss) = match run {
        CargoRun::Cold => (false, None),
        CargoRun::Warm => (true, None),
        CargoRun::ColdMeasured(file) => (false, Some(file)),
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let home = work.join("cargo-home");
    let project = work.join("project");
    if !warm {
        std::fs::create_dir_all(project.join("src")).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(project.join("src/lib.rs"), "").unwrap();
        std::fs::write(
            project.join("Cargo.toml"),
            format!(
                "[package]\nname = \"bench-app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n{} = \"1.0\"\n",
                crate_name(root)
            ),
        )
        .unwrap();
        std::fs::write(
            home.join("config.toml"),
            format!(
                "[source.crates-io]\nreplace-with = \"bench\"\n\n[source.bench]\nregistry = \"sparse+{}\"\n\n[net]\noffline = false\n",
                front.url
            ),
        )
        .unwrap();
    }
    let from = srv.times.lock().unwrap().len();
    let t = Instant::now();
    let steps: &[&str] = if warm {
        &["fetch"]
    } else {
        &["generate-lockfile", "fetch"]
    };
    for step in steps {
        // With `rss`, under GNU time, which appends the peak RSS (KiB) of the step's largest
        // process to that file.
        let mut cmd = match rss {
            Some(file) => {
                let mut c = std::process::Command::new(TIME);
                c.args(["-a", "-f", "%M", "-o"]).arg(file).arg(&cargo);
                c
            }
            None => std::process::Command::new(&cargo),
        };
        if let Some(ca) = &front.ca {
            cmd.env("CARGO_HTTP_CAINFO", ca);
        }
        let o = cmd
            .arg(step)
            .current_dir(&project)
            .env("CARGO_HOME", &home)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_REGISTRIES_CRATES_IO_PROTOCOL")
            .output()
            .map_err(|e| format!("cannot run {cargo}: {e}"))?;
        if !o.status.success() {
            let err = String::from_utf8_lossy(&o.stderr);
            return Err(format!(
                "cargo {step} failed: {}",
                err.lines().last().unwrap_or("")
            ));
        }
    }
    let wall = t.elapsed();
    let (waves, requests) = seen(srv, from, delay);
    Ok(Run {
        waves,
        requests,
        bytes: served_bytes(srv, reg, from),
        wall,
        trace: String::new(),
    })
}

/// Issue 19's table: the narrow 200-bundle graph and the wide 420-bundle graph, cold and warm,
/// at 0, 25 and 100 ms per request, ratchet and cargo side by side on the same loopback server
/// with the lower bound (depth + 2) x delay of a client that discovers the graph level by
/// level; the `no-hint` rows are ratchet on the same registry without its prefetch hints
/// (index-format.md §6.5), which discovers it so. As the issue measured: behind an nginx HTTP/2
/// front over TLS (a throwaway CA made here; `h2` rows), and directly on the delaying server
/// (HTTP/1.1, thread per connection; ratchet's pool sized for the widest wave; `h1` rows,
/// where cargo makes one request per round trip). `RATCHET_BENCH_FRONTS=h2,h1` measures both
/// (default `h2`). Medians of 5 interleaved rounds for cold installs
/// (`RATCHET_BENCH_SHAPE_ROUNDS`).
fn shapes(tmp: &Path) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let cargo_here = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let nginx = tools::find_tool("nginx");
    let mut fronts: Vec<&str> = match std::env::var("RATCHET_BENCH_FRONTS") {
        Ok(v) => v
            .split(',')
            .map(str::trim)
            .filter_map(|f| ["h2", "h1"].into_iter().find(|k| *k == f))
            .collect(),
        // Straight to the delaying server, cargo speaks HTTP/1.1 without multiplexing: one
        // request per round trip (10.7 s for the narrow graph at 25 ms, minutes at 100 ms), so
        // the h1 rows are asked for (`RATCHET_BENCH_FRONTS=h2,h1`), not run by default.
        Err(_) => vec!["h2"],
    };
    if nginx.is_none() && fronts.contains(&"h2") {
        println!(
            "  nginx: not installed (scripts/setup.sh installs nginx-light): no HTTP/2 front, h1 rows only"
        );
        fronts.retain(|f| *f != "h2");
        if fronts.is_empty() {
            fronts.push("h1");
        }
    }
    let rounds: usize = std::env::var("RATCHET_BENCH_SHAPE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let (ca, cert, key) = throwaway_certificate(&tmp.join("front-tls"));
    println!(
        "issue 19: cold and warm installs by graph shape and delay; ratchet beside {} (generate-lockfile + fetch), same server; medians of {rounds} interleaved rounds",
        cargo_here
            .as_deref()
            .unwrap_or("cargo (not found: skipped)")
    );
    println!(
        "  front h2: nginx, TLS + HTTP/2 (1,024 streams), proxying to the delaying loopback server; h1: that server directly (HTTP/1.1)"
    );
    println!(
        "  {:<7} {:>5} {:<3} {:<8} {:<4} {:>6} {:>8} {:>8} {:>9} {:>9} {:>8} {:>9}",
        "shape",
        "delay",
        "via",
        "tool",
        "run",
        "waves",
        "requests",
        "KiB",
        "wall ms",
        "bound ms",
        "x bound",
        "x cargo"
    );
    let shapes: [(&str, Vec<usize>, usize); 2] = [
        ("narrow", narrow_widths(200, 8), 0),
        ("wide", WIDE.to_vec(), 1),
    ];
    // (shape, delay, front, ratchet cold / cargo cold, ratchet cold / bound) per cell, for
    // the summary beside the goals.
    let mut summary: Vec<Cell> = Vec::new();
    for (shape, widths, extra) in shapes {
        let reg = tmp.join(format!("shape-{shape}"));
        let (root, _) = generated_registry::generate_levels(&reg, &widths, extra);
        // The same registry without prefetch hints (index-format.md §6.5.1), as one written
        // before them: the client then discovers the graph one level per round trip.
        let plain = tmp.join(format!("shape-{shape}-nohint"));
        generated_registry::generate_levels(&plain, &widths, extra);
        generated_registry::strip_hints(&plain);
        let graph = generated_registry::level_graph(&widths, extra);
        let edges: usize = graph.iter().flatten().map(|(_, d)| d.len()).sum();
        let depth = widths.len() - 1;
        println!(
            "  {shape}: {} bundles, {edges} edges, breadth-first depth {depth}, widest level {}",
            widths.iter().sum::<usize>(),
            widths.iter().max().unwrap()
        );
        // RATCHET_BENCH_DELAYS=25 (comma-separated milliseconds) measures those delays alone.
        let delays: Vec<u64> = std::env::var("RATCHET_BENCH_DELAYS")
            .ok()
            .map(|v| v.split(',').filter_map(|d| d.trim().parse().ok()).collect())
            .unwrap_or_else(|| vec![0, 25, 100]);
        for delay_ms in delays {
            for &via in &fronts {
                let delay = Duration::from_millis(delay_ms);
                let srv = fault_server::serve(reg.clone(), delay);
                let psrv = fault_server::serve(plain.clone(), delay);
                let creg = tmp.join(format!("cargo-{shape}-{delay_ms}-{via}"));
                let csrv = fault_server::serve(creg.clone(), delay);
                let front = |port: u16, plain: String| match (via, &nginx) {
                    ("h2", Some(n)) => {
                        let f = static_servers::nginx_h2_front(n, port, &cert, &key);
                        Front {
                            url: f.https_url(),
                            ca: Some(ca.clone()),
                            nginx: Some(f),
                        }
                    }
                    _ => Front {
                        url: plain,
                        ca: None,
                        nginx: None,
                    },
                };
                let rfront = front(srv.port, srv.url());
                let pfront = front(psrv.port, psrv.url());
                let cfront = front(csrv.port, csrv.url());
                if cargo_here.is_some() {
                    write_cargo_registry(&creg, &cfront.url, &graph);
                }
                let bound = delay * (depth as u32 + 2);
                let (mut r_cold, mut c_cold, mut p_cold) = (Vec::new(), Vec::new(), Vec::new());
                let mut r_warm = None;
                let mut c_warm = None;
                let mut cargo_err = None;
                for round in 0..rounds {
                    let home = tmp.join(format!("h-{shape}-{delay_ms}-{via}-{round}"));
                    r_cold.push(ratchet_run(&home, &srv, &rfront, &root, delay));
                    if round == 0 {
                        r_warm = Some(ratchet_run(&home, &srv, &rfront, &root, delay));
                    }
                    let home = tmp.join(format!("p-{shape}-{delay_ms}-{via}-{round}"));
                    p_cold.push(ratchet_run(&home, &psrv, &pfront, &root, delay));
                    if cargo_here.is_some() && cargo_err.is_none() {
                        let work = tmp.join(format!("c-{shape}-{delay_ms}-{via}-{round}"));
                        match cargo_run(&work, &csrv, &cfront, &creg, &root, delay, CargoRun::Cold)
                        {
                            Ok(r) => {
                                c_cold.push(r);
                                if round == 0 {
                                    c_warm = cargo_run(
                                        &work,
                                        &csrv,
                                        &cfront,
                                        &creg,
                                        &root,
                                        delay,
                                        CargoRun::Warm,
                                    )
                                    .ok();
                                }
                            }
                            Err(e) => cargo_err = Some(e),
                        }
                    }
                }
                let median = |v: &mut Vec<Run>| -> Option<Run> {
                    v.sort_by_key(|r| r.wall);
                    v.get(v.len() / 2).cloned()
                };
                let (rc, cc) = (median(&mut r_cold), median(&mut c_cold));
                let pc = median(&mut p_cold);
                let row = |tool: &str, run: &str, r: Option<&Run>, other: Option<&Run>| {
                    let Some(r) = r else { return };
                    let x_bound = if bound.is_zero() || run == "warm" {
                        "-".to_string()
                    } else {
                        format!("{:.2}", r.wall.as_secs_f64() / bound.as_secs_f64())
                    };
                    let x_cargo = match other {
                        Some(o) if tool != "cargo" && !o.wall.is_zero() => {
                            format!("{:.2}", r.wall.as_secs_f64() / o.wall.as_secs_f64())
                        }
                        _ => "-".to_string(),
                    };
                    println!(
                        "  {:<7} {:>3}ms {:<3} {:<8} {:<4} {:>6} {:>8} {:>8} {:>9.0} {:>9.0} {:>8} {:>9}",
                        shape,
                        delay_ms,
                        via,
                        tool,
                        run,
                        r.waves.map_or("-".to_string(), |w| w.to_string()),
                        r.requests,
                        r.bytes / 1024,
                        ms(r.wall),
                        ms(bound),
                        x_bound,
                        x_cargo
                    );
                };
                if delay_ms == 0 && via == fronts[0] {
                    // Issue 19, memory ("keep it so"): one more cold install of each, in a
                    // fresh process of its own, for its peak RSS.
                    let ours = cli_peak_rss(
                        &tmp.join(format!("rss-{shape}")),
                        &rfront.url,
                        &root,
                        rfront.ca.as_deref(),
                    );
                    let theirs = match (&cargo_here, Path::new(TIME).is_file()) {
                        (Some(_), true) => {
                            let file = tmp.join(format!("rss-cargo-{shape}.txt"));
                            let work = tmp.join(format!("rss-cargo-{shape}"));
                            match cargo_run(
                                &work,
                                &csrv,
                                &cfront,
                                &creg,
                                &root,
                                delay,
                                CargoRun::ColdMeasured(&file),
                            ) {
                                Ok(_) => std::fs::read_to_string(&file)
                                    .ok()
                                    .and_then(|t| {
                                        t.lines().filter_map(|l| l.trim().parse::<u64>().ok()).max()
                                    })
                                    .map_or("?".to_string(), |k| {
                                        format!("{:.1} MB", k as f64 / 1024.0)
                                    }),
                                Err(e) => e,
                            }
                        }
                        (None, _) => "not found".to_string(),
                        (_, false) => format!("not measured ({TIME} missing)"),
                    };
                    println!(
                        "  {shape}: peak RSS of a cold install, each tool in a process of its own: ratchet {ours} (`bundle install -y`), cargo {theirs} (the larger of generate-lockfile and fetch)"
                    );
                    // Issue 19, fewer files: what one cold install left on disk.
                    let home = tmp.join(format!("h-{shape}-0-{via}-0"));
                    let part = |p: &str| count_entries(&home.join(p));
                    println!(
                        "  {shape}: files and directories a cold install created: ratchet {} (cache {}, data/bundles {}, data/trust {}), cargo {} (CARGO_HOME)",
                        count_entries(&home),
                        part("cache"),
                        part("data/bundles"),
                        part("data/trust"),
                        count_entries(&tmp.join(format!("c-{shape}-0-{via}-0/cargo-home")))
                    );
                    // The requirement: at most one file per registry file (each fetched once
                    // by a cold install: its requests) and per installed file (the archives'
                    // files). The client's own bookkeeping is a fixed set of files whatever the
                    // graph (`index-format.md` §7.6, §8.4), listed by name.
                    let cold = r_cold[0].requests;
                    let installed = count_files(&home.join("data/bundles"));
                    let cache = count_files(&home.join("cache"));
                    let files = count_files(&home);
                    let state: Vec<String> = STATE_FILES
                        .iter()
                        .filter(|f| home.join(f).exists())
                        .map(|f| f.to_string())
                        .collect();
                    let other = files - cache - installed - state.len();
                    println!(
                        "  {shape}: files (not directories) a cold install created: {files} = cache {cache} (limit: one per registry file fetched, {cold}: {}) + data/bundles {installed} (limit: one per installed file, {installed}) + the client's state files {} ({}) + other {other} (limit 0): {}",
                        if cache <= cold { "met" } else { "NOT met" },
                        state.len(),
                        state.join(", "),
                        if cache <= cold && other == 0 {
                            "met"
                        } else {
                            "NOT met"
                        }
                    );
                    if std::env::var_os("RATCHET_BENCH_LIST").is_some() {
                        let _ = std::process::Command::new("find").arg(&home).status();
                    }
                }
                row("ratchet", "cold", rc.as_ref(), cc.as_ref());
                if let Some(r) = rc.as_ref() {
                    println!("      ratchet cold (median run): {}", r.trace);
                }
                row("no-hint", "cold", pc.as_ref(), cc.as_ref());
                row("cargo", "cold", cc.as_ref(), None);
                row("ratchet", "warm", r_warm.as_ref(), c_warm.as_ref());
                row("cargo", "warm", c_warm.as_ref(), None);
                if let Some(e) = cargo_err {
                    println!("  (cargo: {e})");
                }
                if rfront.nginx.is_some() {
                    println!(
                        "      requests the front saw in all rounds (cold and warm; at 0 ms, the memory runs too): ratchet {}; cargo {}",
                        rfront.protocols(0).0,
                        cfront.protocols(0).0
                    );
                }
                summary.push((
                    shape.to_string(),
                    delay_ms,
                    via,
                    rc.as_ref()
                        .zip(cc.as_ref())
                        .map(|(r, c)| r.wall.as_secs_f64() / c.wall.as_secs_f64()),
                    rc.as_ref()
                        .filter(|_| !bound.is_zero())
                        .map(|r| r.wall.as_secs_f64() / bound.as_secs_f64()),
                ));
            }
        }
    }
    println!(
        "  goals: cold <= 0.8x cargo at every delay and shape and within 1.2x of the bound; warm no-op 0 requests"
    );
    for (shape, delay_ms, via, x_cargo, x_bound) in summary {
        let judge = |x: Option<f64>, goal: f64| match x {
            Some(x) => format!(
                "{x:.2} (goal <= {goal}: {})",
                if x <= goal { "met" } else { "NOT met" }
            ),
            None => "-".into(),
        };
        println!(
            "  summary {shape:<6} {delay_ms:>3} ms {via}: ratchet cold x cargo {}, x bound {}",
            judge(x_cargo, 0.8),
            judge(x_bound, 1.2)
        );
    }
}

/// Issue 19, signing in one pass: `bundle build` of a bundle with about 24 MB of files,
/// unsigned, signed in one pass (as `build --sign` now does) and signed the old way (build,
/// then rewrite the archive with its signature); medians of interleaved rounds. Goal: signed
/// <= 1.1x unsigned.
fn sign_in_one_pass(tmp: &Path) {
    use ratchet_formats::archive::{BuildOptions, build_archive, build_archive_signed};
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let work = tmp.join("sign-bench");
    let src = ratchet_testkit::Bundle::new("com.bench.big", "1.0.0").write(&work);
    // Compressible but not trivial text: about 24 MB in 96 files.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for f in 0..96 {
        let mut text = String::with_capacity(256 << 10);
        while text.len() < 250 << 10 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            text.push_str(&format!("line {f} value {} word{}\n", x % 100_000, x % 977));
        }
        std::fs::write(src.join(format!("data-{f}.txt")), text).unwrap();
    }
    let m = ratchet_formats::manifest::load_manifest(&src).unwrap();
    let sk = ratchet_testkit::secret_key(&work, "signer");
    let opts = BuildOptions::default();
    let plain = work.join("plain.rbundle");
    let one = work.join("one.rbundle");
    let two = work.join("two.rbundle");
    let mut unsigned_build = || build_archive(&src, &m, &plain, &opts).unwrap().size;
    let mut signed_build = || {
        let mut sign = |list: &[u8]| -> std::io::Result<Vec<u8>> {
            let c = ratchet_trust::bundle_sig::trusted_comment(m.id.as_str(), &m.version, list);
            ratchet_trust::bundle_sig::sign_bytes(&sk, list, &c)
                .map(String::into_bytes)
                .map_err(std::io::Error::other)
        };
        build_archive_signed(&src, &m, &one, &opts, &mut sign)
            .unwrap()
            .size
    };
    let mut two_pass_build = || {
        let b = build_archive(&src, &m, &two, &opts).unwrap();
        ratchet_trust::bundle_sig::sign_archive_file(&two, Some(&sk), None, None).unwrap();
        b.size
    };
    // Interleaved rounds (unsigned, signed, old way, unsigned, ...), so the machine's load
    // hits the three alike; medians and the median of the per-round ratios (the load of one
    // round cancels out of its ratio). RATCHET_BENCH_SIGN_ROUNDS chooses the rounds (5).
    let rounds: usize = std::env::var("RATCHET_BENCH_SIGN_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let (mut u, mut sg, mut tw, mut ratios) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut size = 0;
    let time = |f: &mut dyn FnMut() -> u64| {
        let t = Instant::now();
        let n = f();
        (t.elapsed(), n)
    };
    for _ in 0..rounds {
        let (a, n) = time(&mut unsigned_build);
        let (b, _) = time(&mut signed_build);
        let (c, _) = time(&mut two_pass_build);
        size = n;
        ratios.push(b.as_secs_f64() / a.as_secs_f64());
        u.push(a);
        sg.push(b);
        tw.push(c);
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    ratios.sort_by(f64::total_cmp);
    let per_round = ratios[ratios.len() / 2];
    let (unsigned, signed, two_pass) = (median(&mut u), median(&mut sg), median(&mut tw));
    println!(
        "bundle build of {} MB of files ({} KiB archive), medians of {rounds} interleaved rounds: unsigned {:.0} ms, --sign in one pass {:.0} ms ({:.2}x; median of the rounds' ratios {:.2}x, range {:.2}-{:.2}; goal <= 1.1), the old build + rewrite {:.0} ms ({:.2}x)",
        24,
        size / 1024,
        ms(unsigned),
        ms(signed),
        signed.as_secs_f64() / unsigned.as_secs_f64(),
        per_round,
        ratios[0],
        ratios[ratios.len() - 1],
        ms(two_pass),
        two_pass.as_secs_f64() / unsigned.as_secs_f64()
    );
}
