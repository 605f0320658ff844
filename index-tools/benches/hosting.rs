//! Hosting figures (issue #18), printed beside their goals; nothing is asserted about time.
//!
//! 1. Incremental mirror: a registry with a registry key (signed snapshot, §9) of
//!    `HOSTING_BENCH_BUNDLES` signed bundles (a comma-separated list of sizes, default
//!    `1000,10000`) served by Python's `http.server` on loopback is mirrored with
//!    `ratchet_client::mirror` (what `ratchet-index mirror` runs); 10 versions are published;
//!    the second run's requests and bytes are printed next to the registry's size, for each
//!    size. Goal: proportional to the change, not to the registry.
//! 2. Cold install of a 200-bundle graph (`ratchet_client::install::{plan, apply}`, what
//!    `ratchet install` runs, every check) from a git-hosted registry (`git daemon`,
//!    `git+git://`) versus the same registry over HTTP, each into an empty client home.
//!
//! 3. Publish latency to an S3-compatible server (moto's server from PyPI, which
//!    scripts/setup.sh installs into `target/moto-venv`): `ratchet-index publish
//!    s3://BUCKET/PREFIX` into a registry of `HOSTING_BENCH_S3_BUNDLES` bundles (a list,
//!    default `100,1000`: the figure should not grow with it),
//!    one process per publish as in CI, median of `HOSTING_BENCH_S3_PUBLISHES` (default 20),
//!    beside the same publishes into a directory.
//!
//! Run: `cargo bench -p index-tools --bench hosting` (release build; needs python3, git and
//! moto), or `cargo test -p index-tools --bench hosting` (debug build: the request and byte
//! counts are the same, the times are not). `HOSTING_BENCH_ONLY=s3` runs part 3 alone,
//! `HOSTING_BENCH_ONLY=mirror` part 1, `HOSTING_BENCH_ONLY=install` part 2.

use ratchet_client::mirror::{MirrorOptions, MirrorReport, mirror};
use ratchet_client::registry::RegistrySource;
use ratchet_testkit::{Bundle, TestRegistry, secret_key};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(port: u16) {
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "server on {port} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn http(dir: &Path) -> (Server, String) {
    let port = free_port();
    let child = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1"])
        .arg(port.to_string())
        .arg("--directory")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 (scripts/setup.sh installs it)");
    wait_for(port);
    (Server(child), format!("http://127.0.0.1:{port}/"))
}

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.invalid")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.invalid")
        .output()
        .expect("git (scripts/setup.sh installs it)");
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn git_daemon(base: &Path) -> (Server, u16) {
    let port = free_port();
    let child = Command::new("git")
        .args([
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--listen=127.0.0.1",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(base)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(port);
    (Server(child), port)
}

fn dir_size(dir: &Path) -> (u64, u64) {
    let (mut files, mut bytes) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                files += 1;
                bytes += m.len();
            }
        }
    }
    (files, bytes)
}

fn run(src: &str, dst: &Path) -> (MirrorReport, Duration) {
    let t = Instant::now();
    let r = mirror(
        RegistrySource::from_location(src).unwrap(),
        dst,
        &MirrorOptions::default(),
    )
    .unwrap();
    (r, t.elapsed())
}

/// A registry of `n` signed bundles in `work/reg`, each depending on an earlier one, with a
/// registry key (its changes logged, its state signed: §9).
fn registry(work: &Path, n: usize) -> (TestRegistry, ratchet_trust::SecretKey) {
    let key = secret_key(&work.join("keys"), "author");
    let rkey = secret_key(&work.join("keys"), "registry");
    let mut reg = TestRegistry::new(work);
    reg.reg = reg
        .reg
        .clone()
        .with_registry_key(ratchet_publish::RegistryKey::new(rkey, 86400).unwrap());
    reg.reg.init_log("bench.test").unwrap();
    for i in 0..n {
        let mut b = Bundle::new(&format!("com.bench.b{i}"), "1.0.0");
        if i > 0 {
            b = b.dep(&format!("com.bench.b{}", i / 2), "^1");
        }
        b.publish_signed(&reg, &key);
    }
    (reg, key)
}

fn main() {
    let sizes: Vec<usize> = std::env::var("HOSTING_BENCH_BUNDLES")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let only = std::env::var("HOSTING_BENCH_ONLY").unwrap_or_default();
    let t = tempfile::tempdir().unwrap();
    if only.is_empty() || only == "mirror" {
        for n in &sizes {
            incremental_mirror(&t.path().join(format!("inc{n}")), *n);
        }
    }
    if only.is_empty() || only == "install" {
        cold_install(&t.path().join("git"));
    }
    if only.is_empty() || only == "s3" {
        let sizes: Vec<usize> = std::env::var("HOSTING_BENCH_S3_BUNDLES")
            .unwrap_or_else(|_| "100,1000".into())
            .split(',')
            .filter_map(|v| v.trim().parse().ok())
            .collect();
        for n in sizes {
            s3_publish_latency(&t.path().join(format!("s3-{n}")), n);
        }
    }
}

/// Part 1 at one registry size.
fn incremental_mirror(work: &Path, n: usize) {
    let started = Instant::now();
    let (reg, key) = registry(work, n);
    eprintln!(
        "(generated {n} signed bundles in {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let (server, url) = http(&reg.dir());
    let dst = work.join("mirror");
    let (cold, cold_t) = run(&url, &dst);
    for i in 0..10 {
        Bundle::new(&format!("com.bench.b{i}"), "1.1.0").publish_signed(&reg, &key);
    }
    let (warm, warm_t) = run(&url, &dst);
    let (files, bytes) = dir_size(&reg.dir());
    println!("incremental mirror over HTTP (python http.server), signed registry of {n} bundles:");
    println!("  registry size:          {files} files, {bytes} bytes");
    println!(
        "  cold mirror:            {} requests, {} bytes, {:.2} s",
        cold.requests,
        cold.bytes,
        cold_t.as_secs_f64()
    );
    println!(
        "  after 10 publishes:     {} requests, {} bytes, {:.2} s ({} archives, {} files written, {}incremental)",
        warm.requests,
        warm.bytes,
        warm_t.as_secs_f64(),
        warm.archives_copied,
        warm.files_written.len(),
        if warm.incremental_from.is_some() {
            ""
        } else {
            "not "
        }
    );
    // The same change read by revalidating every file (what an unsigned source, or a run
    // without the record of the previous one, costs).
    for i in 10..20 {
        Bundle::new(&format!("com.bench.b{i}"), "1.1.0").publish_signed(&reg, &key);
    }
    std::fs::remove_file(dst.join(".ratchet-index.mirror/mirrored.json")).unwrap();
    let (full, full_t) = run(&url, &dst);
    println!(
        "  10 more, every file revalidated (no record of the last run; unsigned sources): {} requests, {} bytes, {:.2} s",
        full.requests,
        full.bytes,
        full_t.as_secs_f64()
    );
    println!(
        "  goal: requests and bytes proportional to the change (10 of {n} bundles), not to the registry"
    );
    println!(
        "    per changed version: {:.1} requests, {:.0} bytes (compare across registry sizes: flat = proportional to the change)",
        warm.requests as f64 / 10.0,
        warm.bytes as f64 / 10.0
    );
    drop(server);
}

/// Part 2: a cold install of 200 bundles from git and from HTTP.
fn cold_install(work: &Path) {
    let (reg, _) = registry(work, 200);
    git(&reg.dir(), &["init", "-q", "-b", "main"]);
    git(&reg.dir(), &["add", "-A"]);
    git(&reg.dir(), &["commit", "-q", "-m", "registry"]);
    git(work, &["clone", "-q", "--bare", "reg", "reg.git"]);
    let (_daemon, port) = git_daemon(work);
    let (_http, url) = http(&reg.dir());
    let install = |src: &str, home: &Path| -> (Duration, usize, u64, u64) {
        use ratchet_client::install::{ApplyOptions, Client, PlanRequest, apply, parse_spec, plan};
        let t = Instant::now();
        let mut c = Client::open(
            ratchet_client::paths::Paths::under(home.to_path_buf()),
            RegistrySource::from_location(src).unwrap(),
            false,
        )
        .unwrap();
        // The leaves b100..b199 pull in the rest: 200 bundles.
        let req = PlanRequest {
            add: (100..200)
                .map(|i| parse_spec(&format!("com.bench.b{i}")).unwrap())
                .collect(),
            ..Default::default()
        };
        let p = plan(&mut c, &req).unwrap();
        apply(&c, &p, &ApplyOptions::default()).unwrap();
        let d = t.elapsed();
        let stats = &c.fetcher.stats;
        (
            d,
            p.bundles.len(),
            stats.requests.load(std::sync::atomic::Ordering::Relaxed),
            stats.bytes.load(std::sync::atomic::Ordering::Relaxed),
        )
    };
    let (http_t, hn, hreq, hbytes) = install(&url, &work.join("home-http"));
    let git_url = format!("git+git://127.0.0.1:{port}/reg.git#branch=main");
    let (git_t, gn, _, _) = install(&git_url, &work.join("home-git"));
    println!(
        "cold install of a 200-bundle graph (resolve, fetch, verify, unpack; empty client home):"
    );
    println!(
        "  HTTP (python http.server):                    {:.2} s, {hn} bundles, {hreq} requests, {hbytes} bytes",
        http_t.as_secs_f64()
    );
    println!(
        "  git daemon (git+git://, shallow fetch + read): {:.2} s, {gn} bundles",
        git_t.as_secs_f64()
    );
    println!("  goal: none set (a comparison)");
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `ratchet-index publish` into a bucket of moto's S3 server versus into a directory.
fn s3_publish_latency(base: &Path, n: usize) {
    let venv = std::env::var_os("RATCHET_MOTO_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/moto-venv"));
    if !venv.join("bin/moto_server").is_file() {
        println!(
            "publish latency to an S3 server: not measured: no moto at {} (scripts/setup.sh installs it)",
            venv.display()
        );
        return;
    }
    let runs: usize = std::env::var("HOSTING_BENCH_S3_PUBLISHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        .max(1);
    let work = base.join("s3");
    let (reg, key) = registry(&work, n);
    let port = free_port();
    let moto = Server(
        Command::new(venv.join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(port);
    let endpoint = format!("http://127.0.0.1:{port}");
    // The starting registry goes into the bucket as it is (as `aws s3 sync` would put it).
    let script = format!(
        "import boto3, os\ns3 = boto3.client('s3', endpoint_url='{endpoint}', aws_access_key_id='b', aws_secret_access_key='b', region_name='us-east-1')\ns3.create_bucket(Bucket='bench')\nroot = {:?}\nfor d, _, fs in os.walk(root):\n    for f in fs:\n        p = os.path.join(d, f)\n        k = os.path.relpath(p, root)\n        if not k.startswith('.ratchet-index.') and '.tmp-' not in k:\n            s3.upload_file(p, 'bench', 'reg/' + k)\n",
        reg.dir().display().to_string()
    );
    let o = Command::new(venv.join("bin/python"))
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pub_key = work.join("keys/author.pub");
    let archives: Vec<_> = (0..=runs)
        .map(|i| {
            Bundle::new(&format!("com.bench.s3new{i}"), "1.0.0")
                .build_signed(&work.join(format!("new{i}")), &key)
        })
        .collect();
    let last_breakdown = std::cell::RefCell::new(String::new());
    let publish = |target: &str, archive: &Path| -> Duration {
        let t = Instant::now();
        let o = Command::new(env!("CARGO_BIN_EXE_ratchet-index"))
            .args(["-v", "publish", target])
            .arg(archive)
            .arg("--owner-key")
            .arg(&pub_key)
            .arg("--registry-key")
            .arg(work.join("keys/registry.key"))
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("RATCHET_S3_CACHE", work.join("cache"))
            .output()
            .unwrap();
        let d = t.elapsed();
        let err = String::from_utf8_lossy(&o.stderr);
        let split: Vec<&str> = err
            .lines()
            .filter(|l| l.contains(": attempt ") || l.contains("checkout removed"))
            .collect();
        if !split.is_empty() {
            *last_breakdown.borrow_mut() = split.join("; ");
        }
        assert!(
            o.status.success(),
            "publish to {target}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        d
    };
    // The first publish fills the object cache (every object fetched once).
    let cold = publish("s3://bench/reg", &archives[0]);
    let mut s3: Vec<Duration> = archives[1..]
        .iter()
        .map(|a| publish("s3://bench/reg", a))
        .collect();
    let breakdown = last_breakdown.borrow().clone();
    let mut dir: Vec<Duration> = archives[1..]
        .iter()
        .map(|a| publish(reg.dir().to_str().unwrap(), a))
        .collect();
    let s3_median = median(&mut s3);
    let dir_median = median(&mut dir);
    drop(moto);
    println!(
        "publish latency, `ratchet-index publish` (one process each), registry of {n} signed bundles:"
    );
    println!(
        "  S3 (moto server on loopback): median {:.0} ms of {runs} (max {:.0} ms); first publish with a cold object cache {:.0} ms",
        s3_median.as_secs_f64() * 1e3,
        s3.last().unwrap().as_secs_f64() * 1e3,
        cold.as_secs_f64() * 1e3
    );
    println!("  last S3 publish: {breakdown}");
    println!(
        "  directory:                     median {:.0} ms of {runs}",
        dir_median.as_secs_f64() * 1e3
    );
    println!(
        "  goal: none set (the issue asks for the figure); a publish reads the marker and the journals since its working copy's generation (no listing) and writes each changed object with a conditional PUT"
    );
}
