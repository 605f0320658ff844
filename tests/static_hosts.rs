//! The registry client against weak static hosts (issue 22): Python's `http.server`, run
//! exactly as the README shows it, serving a generated registry of a few hundred bundles; and a
//! loopback server that answers 503 and 429 to the first requests and counts the connections
//! open at once, to see the client lower its concurrency for a struggling host and complete.
//!
//! Only completion and behaviour are asserted here; how long installs take against each kind
//! of server is measured by the registry benchmark (`cargo bench --bench registry`, which
//! prints nginx and Python's server side by side).

mod common;
mod fault_server;
mod generated_registry;
mod static_servers;

use ratchet_client::registry::{Fetcher, RegistrySource};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The README's command line for serving a registry with Python: the test runs exactly this
/// (with a free port and the generated registry in place of `8000` and `/tmp/samples`, the
/// copy of `sample-index/` with a fresh timestamp that the README serves).
fn readme_python_command() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.trim_start().starts_with("python3 -m http.server"))
        .expect("the README shows how to serve a registry with python3 -m http.server");
    let cmd = line.split('#').next().unwrap();
    cmd.split_whitespace().map(str::to_string).collect()
}

#[test]
fn python_http_server_as_the_readme_shows_serves_a_graph_of_hundreds_of_bundles() {
    let Some(python) = common::tool("python", "python3", "python3") else {
        return;
    };
    assert_eq!(
        readme_python_command(),
        [
            "python3",
            "-m",
            "http.server",
            "8000",
            "--directory",
            "/tmp/samples"
        ],
        "the README changed how it serves a registry: make static_servers::python run that"
    );
    let t = tempfile::tempdir().unwrap();
    let reg = t.path().join("reg");
    // 300 bundles in 6 levels: every one in the root's closure.
    let (root, _) = generated_registry::generate(&reg, 300, 6);
    let srv = static_servers::python(&python, &reg);
    let home = t.path().join("home");
    let o = common::install_from(&home, &root, &srv.url());
    assert!(
        o.status.success(),
        "install failed: {}\n{}\nserver log (end): {}",
        common::text(&o.stdout),
        common::text(&o.stderr),
        tail(&srv.log)
    );
    // Every bundle of the registry is installed (index-format.md §8.4 layout).
    let names = std::fs::read_to_string(reg.join("names.txt")).unwrap();
    let ids: Vec<&str> = names.lines().collect();
    assert_eq!(ids.len(), 300);
    let missing: Vec<&&str> = ids
        .iter()
        .filter(|id| !home.join("data/bundles").join(id).join("1.0.0").is_dir())
        .collect();
    assert!(missing.is_empty(), "not installed: {missing:?}");

    // A second install of the same graph from the same server has nothing to do.
    let o = common::install_from(&home, &root, &srv.url());
    assert!(o.status.success(), "{}", common::text(&o.stderr));
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[test]
fn connections_per_host_out_of_range_are_refused_naming_the_setting() {
    let t = tempfile::tempdir().unwrap();
    let home = t.path().join("home");
    // Refused before anything is sent: nothing listens on port 9 of loopback anyway.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_ratchet"))
        .args([
            "bundle",
            "install",
            "com.bench.root",
            "--registry",
            "http://127.0.0.1:9/",
            "-y",
        ])
        .env("RATCHET_HOME", &home)
        .env("RATCHET_HTTP_MAX_CONNECTIONS", "0")
        .output()
        .unwrap();
    common::assert_fails_with(&o, "RATCHET_HTTP_MAX_CONNECTIONS=`0`");

    // The same in the client configuration (index-format.md §8.1).
    std::fs::create_dir_all(home.join("config")).unwrap();
    std::fs::write(
        home.join("config/registries.json"),
        r#"{"max-connections-per-host": 5000}"#,
    )
    .unwrap();
    let o = common::install_from(&home, "com.bench.root", "http://127.0.0.1:9/");
    common::assert_fails_with(&o, "max-connections-per-host 5000");
}

/// What the overloaded server saw: for each request in arrival order, how many connections
/// were open at that moment (itself included).
#[derive(Default)]
struct Seen {
    open_at_arrival: Mutex<Vec<usize>>,
}

/// A loopback HTTP/1.1 server, one thread per connection and one request per connection
/// (`Connection: close`, so open connections are requests in progress): requests 0-3 get 503,
/// 4-7 get 429 with `Retry-After: 1`, every later one `ok <path>` after `delay`.
fn overloaded_server(delay: Duration) -> (u16, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Seen::default());
    let open = Arc::new(AtomicUsize::new(0));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let (seen, open) = (s2.clone(), open.clone());
            let now_open = open.fetch_add(1, Ordering::SeqCst) + 1;
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(30))).ok();
                let mut reader = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let n = {
                    let mut v = seen.open_at_arrival.lock().unwrap();
                    v.push(now_open);
                    v.len() - 1
                };
                std::thread::sleep(delay);
                let (status, extra, body) = match n {
                    0..=3 => ("503 Service Unavailable", "", "busy".to_string()),
                    4..=7 => (
                        "429 Too Many Requests",
                        "Retry-After: 1\r\n",
                        "slow down".into(),
                    ),
                    _ => ("200 OK", "", format!("ok {path}")),
                };
                // Counted as closed before the answer goes out, so a client that starts the
                // next request the moment it has read this one is not counted twice.
                open.fetch_sub(1, Ordering::SeqCst);
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    (port, seen)
}

#[test]
fn a_struggling_host_gets_fewer_connections_and_everything_arrives() {
    const LIMIT: usize = 8;
    const FILES: usize = 80;
    let (port, seen) = overloaded_server(Duration::from_millis(40));
    let t = tempfile::tempdir().unwrap();
    let mut src = RegistrySource::from_location(&format!("http://127.0.0.1:{port}/")).unwrap();
    // As `"max-connections-per-host": 8` in registries.json would set it.
    src.max_connections = Some(LIMIT);
    let mut f = Fetcher::new(src, &t.path().join("cache"), false).unwrap();
    if std::env::var_os("RATCHET_HTTP_MAX_CONNECTIONS").is_none() {
        assert_eq!(f.max_connections(), LIMIT);
    }
    f.backoff = Duration::from_millis(10);
    let rels: Vec<String> = (0..FILES).map(|i| format!("index/f{i}")).collect();
    let got = f.get_many(&rels, 1024);
    for (rel, r) in rels.iter().zip(&got) {
        let body = r.as_ref().unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(body.as_deref(), Some(format!("ok /{rel}").as_bytes()));
    }
    let limit = f.max_connections();
    let open = seen.open_at_arrival.lock().unwrap().clone();
    // Every file once, plus one retry for each of the eight refused.
    assert_eq!(open.len(), FILES + 8, "{open:?}");
    assert_eq!(f.stats.troubles.load(Ordering::Relaxed), 8);
    let host = f.host_state().unwrap();
    assert_eq!(
        host.halvings, 1,
        "one round of trouble halves once: {host:?}"
    );
    assert!(open.iter().all(|&n| n <= limit), "over the limit: {open:?}");
    // The next requests after the trouble: at most half the limit plus the little it has
    // grown back by then (1/window per success), never the full width again at once.
    let after = &open[8..8 + 12];
    let most = after.iter().copied().max().unwrap();
    assert!(
        most < limit,
        "the client did not lower its concurrency: {most} connections at once after the trouble (limit {limit}); all: {open:?}"
    );
}

/// Issue 19: without prefetch hints, a cold install takes depth + 2 round trips however wide
/// a level is: the signed timestamp, `config.json` and the root's files in the first, one per
/// level after that (each level's index and metadata files all at once, with the archives of
/// the level above), and the last level's archives. With the hints a publish writes
/// (index-format.md §6.5.1), it takes 2 whatever the depth: the root's files, then every index
/// and metadata file the root's hint names with every archive it names. Counted from the server's
/// request arrival times (a request that came once every earlier one was answered starts a
/// round trip), over an HTTP/1.1 pool sized for the widest wave.
#[test]
fn a_wide_level_takes_one_round_trip() {
    let (width, depth) = (100, 3);
    let waves = cold_install_waves(width, depth, false);
    assert!(
        waves.len() <= depth + 2,
        "{} round trips for depth {depth} (requests per round trip: {waves:?})",
        waves.len()
    );
    // A level's index files (which carry the metadata, index-format.md §6.3.1) went out
    // together: one round trip of at least width requests.
    assert!(waves.iter().any(|&n| n >= width), "{waves:?}");
    let waves = cold_install_waves(width, depth, true);
    assert!(
        waves.len() <= 2,
        "{} round trips with hints for depth {depth} (requests per round trip: {waves:?})",
        waves.len()
    );
    // Every level's index files and archives went out in the second round trip.
    assert!(waves.iter().any(|&n| n >= 2 * width * depth), "{waves:?}");
}

/// Installs a generated graph (`width` bundles on each of `depth` levels below one root) from
/// a server that delays every answer, with or without prefetch hints; returns the requests of
/// each round trip.
fn cold_install_waves(width: usize, depth: usize, hints: bool) -> Vec<usize> {
    let t = tempfile::tempdir().unwrap();
    let reg = t.path().join("reg");
    let (root, _) = generated_registry::generate(&reg, 1 + width * depth, depth);
    if !hints {
        generated_registry::strip_hints(&reg);
    }
    // Longer than opening a few hundred connections at once takes on a loaded machine.
    let delay = Duration::from_millis(300);
    let srv = fault_server::serve(reg, delay);
    let mut src = RegistrySource::from_location(&srv.url()).unwrap();
    src.max_connections = Some(1024);
    let installed = generated_registry::install_prepared(&t.path().join("home"), src, &root);
    assert_eq!(installed, 1 + width * depth);
    let times = srv.times.lock().unwrap().clone();
    let waves = fault_server::waves(&times, delay);
    // config.json, the timestamp, the root's prefetch hint (found or not) and its metadata
    // file (asked for before config.json says that index files carry the metadata, §6.3.1),
    // then an index file and an archive per bundle: a hint that names only bundles of the
    // graph adds no other request.
    assert_eq!(times.len(), 4 + 2 * (1 + width * depth), "{waves:?}");
    waves
}
