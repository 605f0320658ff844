//! Web marketplace cost against registry size (issue 16): full generation at 1,000 and 10,000
//! bundles, one incremental update after a publish at each size (goal: independent of size;
//! also measured without the facet pages' state, i.e. reading every listed summary from the
//! catalog as updates did before it; each timing is the best of 5 real updates: the earlier
//! version of this bench deleted `state/recent.json` between runs, so runs 2-5 were full
//! generations and the figure was one sample),
//! and the page weight of home and a bundle page with its downloads chart (goal: < 100 KB
//! each). Prints each figure beside its goal; asserts nothing about time.
//!
//! The registries hold real archives (one built per bundle from the `bundle init` template
//! with its id, name, author, category and keyword changed), index files, names.txt and a
//! rebuilt search catalog, so every page reads what it reads in production.
//!
//! Run: `cargo bench -p index-tools --bench site` (release build). `SITE_BENCH_N` sets the
//! larger size (default 10000).

use ratchet_formats::archive::{BuildOptions, build_archive};
use ratchet_formats::index::{IndexLine, NAMES_FILE, RegistryKind, archive_path, index_path};
use ratchet_publish::Registry;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

const TIME: &str = "2026-01-01T00:00:00Z";

fn set_line(yaml: &str, prefix: &str, to: &str) -> String {
    let mut done = false;
    yaml.lines()
        .map(|l| {
            if !done && l.starts_with(prefix) {
                done = true;
                format!("{to}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// Writes bundle `i`'s sources into `src` (from the template `tpl`) and builds its archive.
fn archive(
    src: &Path,
    tpl: &str,
    i: usize,
    id: &str,
    version: &str,
) -> (Vec<u8>, ratchet_formats::manifest::Manifest) {
    let mut y = set_line(tpl, "  id: ", &format!("  id: \"{id}\""));
    y = set_line(&y, "  name: ", &format!("  name: \"Generated bundle {i}\""));
    y = set_line(&y, "  version: ", &format!("  version: \"{version}\""));
    y = set_line(
        &y,
        "    name: ",
        &format!("    name: \"Author {}\"", i % 300),
    );
    y = set_line(
        &y,
        "  keywords: ",
        &format!(
            "  keywords: [\"kw{}\", \"kw{}\"]\n  categories: [\"cat{}\"]",
            i % 50,
            i % 170,
            i % 20
        ),
    );
    y = set_line(
        &y,
        "  description: ",
        &format!(
            "  description: \"Generated bundle number {i}: parses, transforms and reports on data set {}.\"",
            i % 1000
        ),
    );
    std::fs::write(src.join("bundle.yaml"), y).unwrap();
    let readme = format!(
        "# Generated bundle {i}\n\n{}\n\n## Usage\n\n```sh\nratchet run com.gen.bundle-{i}/addition --input '{{\"num1\": 1, \"num2\": 2}}'\n```\n",
        "This bundle adds numbers and documents itself at some length. ".repeat(20)
    );
    std::fs::write(src.join("README.md"), readme).unwrap();
    let m = ratchet_formats::manifest::load_manifest(src).unwrap();
    let out = src.with_extension("rbundle");
    build_archive(src, &m, &out, &BuildOptions::default()).unwrap();
    (std::fs::read(&out).unwrap(), m)
}

/// A registry of `n` bundles with real archives and a rebuilt catalog.
fn generate(dir: &Path, work: &Path, n: usize) -> Registry {
    let reg = Registry::init(dir, "bench", RegistryKind::Local, None).unwrap();
    let src = work.join("tpl");
    if !src.exists() {
        ratchet_validate::scaffold::init_bundle(&src, Some("com.gen.template")).unwrap();
        std::fs::copy(src.join("bundle.yaml"), work.join("template.yaml")).unwrap();
    }
    let tpl = std::fs::read_to_string(work.join("template.yaml")).unwrap();
    let mut names = String::new();
    for i in 0..n {
        let id = format!("com.gen{}.bundle-{i}", i % 97);
        let (bytes, m) = archive(&src, &tpl, i, &id, "1.0.0");
        let sha = ratchet_formats::index::sha256_hex(&bytes);
        let ap = dir.join(archive_path(&sha));
        std::fs::create_dir_all(ap.parent().unwrap()).unwrap();
        std::fs::write(&ap, &bytes).unwrap();
        let line = IndexLine::from_manifest(&m, &sha, bytes.len() as u64, TIME);
        let ip = dir.join(index_path(&m.id));
        std::fs::create_dir_all(ip.parent().unwrap()).unwrap();
        std::fs::write(&ip, line.to_line()).unwrap();
        names.push_str(&id);
        names.push('\n');
    }
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(NAMES_FILE))
        .unwrap()
        .write_all(names.as_bytes())
        .unwrap();
    reg.catalog_rebuild().unwrap();
    reg
}

/// Download statistics for `id` (one version, a year of days), so its page draws the chart.
fn stats(dir: &Path, id: &str) {
    let id: ratchet_formats::manifest::BundleId = id.parse().unwrap();
    let as_of = ratchet_stats::Day::parse("2026-06-30").unwrap();
    let mut s = ratchet_stats::StatsFile::new(id.clone(), as_of);
    for d in 0..360 {
        s.add("1.0.0", as_of.plus(-d), 10 + (d as u64 * 7) % 50);
    }
    s.recompute(as_of);
    let p = dir.join(ratchet_stats::stats_path(&id));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, s.to_json()).unwrap();
}

struct Figures {
    n: usize,
    full_ms: f64,
    pages: usize,
    incremental_ms: f64,
    incremental_cold_ms: f64,
    incremental_files: usize,
    home: u64,
    bundle: u64,
}

fn run(n: usize) -> Figures {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("reg");
    let start = Instant::now();
    let reg = generate(&dir, t.path(), n);
    eprintln!(
        "  generated a registry of {n} bundles in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    stats(&dir, "com.gen0.bundle-0");
    let opts =
        ratchet_site::Options::for_registry(&dir, None, Some("https://r.example/site/")).unwrap();
    let start = Instant::now();
    let full = ratchet_site::generate(&dir, &opts).unwrap();
    let full_ms = start.elapsed().as_secs_f64() * 1000.0;

    // One publish (hook off: site.json has no on_publish), then the update it would trigger.
    let src = t.path().join("tpl");
    let tpl = std::fs::read_to_string(t.path().join("template.yaml")).unwrap();
    let (bytes, _) = archive(&src, &tpl, 7, "com.gen7.bundle-7", "1.1.0");
    let file = t.path().join("com.gen7.bundle-7-1.1.0.rbundle");
    std::fs::write(&file, bytes).unwrap();
    reg.publish(&file, "2026-02-01T00:00:00Z").unwrap();
    let id = "com.gen7.bundle-7".parse().unwrap();
    let mut best = f64::MAX;
    let mut written: Vec<String> = Vec::new();
    for _ in 0..5 {
        // Every file the update writes is removed first, so each run writes them all (an
        // unchanged page is otherwise skipped).
        for f in &written {
            let _ = std::fs::remove_file(opts.out.join(f));
        }
        let start = Instant::now();
        let r = ratchet_site::update(&dir, &opts, &id).unwrap();
        best = best.min(start.elapsed().as_secs_f64() * 1000.0);
        if written.is_empty() {
            // Pages and feeds only: without `state/recent.json` an update is a full generation.
            written = r.pages.iter().chain(&r.feeds).cloned().collect();
        }
    }
    // The same update without the facet pages' state (what an update cost before it existed:
    // every listed summary read from its catalog block, one block per listed bundle).
    let mut cold = f64::MAX;
    for _ in 0..5 {
        for f in &written {
            let _ = std::fs::remove_file(opts.out.join(f));
        }
        for k in ["author", "category", "tag"] {
            let _ = std::fs::remove_dir_all(opts.out.join("state").join(k));
        }
        let start = Instant::now();
        ratchet_site::update(&dir, &opts, &id).unwrap();
        cold = cold.min(start.elapsed().as_secs_f64() * 1000.0);
    }
    let files = written.len(); // pages and feeds
    let size = |p: &str| std::fs::metadata(opts.out.join(p)).unwrap().len();
    Figures {
        n,
        full_ms,
        pages: full.pages.len(),
        incremental_ms: best,
        incremental_cold_ms: cold,
        incremental_files: files,
        home: size("index.html"),
        bundle: size("b/com.gen0.bundle-0.html"),
    }
}

/// Words of the synthetic catalog's bundles (the browser part searches for some of them).
const WORDS: &[&str] = &[
    "csv",
    "json",
    "slack",
    "deploy",
    "kubernetes",
    "report",
    "parse",
    "backup",
    "email",
    "invoice",
    "github",
    "docker",
    "metrics",
    "alert",
    "sql",
    "postgres",
    "s3",
    "image",
    "resize",
    "translate",
    "schedule",
    "webhook",
    "pdf",
    "excel",
    "crm",
    "ticket",
    "jira",
    "log",
    "audit",
    "sync",
];

/// A registry whose catalog holds `n` synthetic bundles (no archives: the search page reads
/// only the catalog), with its site generated; for the in-browser figures.
fn catalog_registry(dir: &Path, n: usize) {
    use ratchet_catalog::{CatalogDoc, DirStore, Verified};
    use ratchet_formats::manifest::{BundleId, PricingModel};
    Registry::init(dir, "bench", RegistryKind::Local, None).unwrap();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let docs = (0..n).map(|i| {
        let id = BundleId::parse(&format!("com.gen{}.bundle-{i}", i % 997)).unwrap();
        let w: Vec<&str> = (0..6)
            .map(|_| WORDS[(next() % WORDS.len() as u64) as usize])
            .collect();
        let doc = CatalogDoc {
            id: id.clone(),
            name: format!("{} {} tool {i}", w[0], w[1]),
            version: "1.0.0".into(),
            description: format!(
                "Does {} with {} and {}, then {} the {}.",
                w[2], w[3], w[4], w[5], w[0]
            ),
            keywords: vec![w[0].to_string(), w[2].to_string()],
            categories: vec![["data", "devops", "integration", "reporting"][i % 4].to_string()],
            authors: vec![format!("author {}", i % 300)],
            license: "MIT".into(),
            pricing: PricingModel::Free,
            price: None,
            verified: Verified::None,
            platforms: Vec::new(),
            ratchet_version: None,
            items: Vec::new(),
            readme: String::new(),
            changelog: String::new(),
            updated: TIME.into(),
            downloads: next() % 5000,
            trend: 0.0,
            rating: None,
            deprecated: false,
        };
        (id, Some(doc))
    });
    let mut store = DirStore::new(dir, false);
    ratchet_catalog::Catalog::rebuild(&mut store, docs).unwrap();
    let opts = ratchet_site::Options::for_registry(dir, None, None).unwrap();
    ratchet_site::generate(dir, &opts).unwrap();
}

/// In-browser search at `n` bundles: python3 serves the registry, Debian's chromium (driven by
/// tests/browser/bench.cjs through playwright-core) types queries. Skipped, saying why, when
/// chromium, node or the playwright-core cache (tests/browser/run.sh installs it) is missing.
fn browser(n: usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let pw = std::env::var("RATCHET_BROWSER_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join("target/browser-node"))
        .join("node_modules/playwright-core");
    if !Path::new("/usr/bin/chromium").exists() || !pw.exists() {
        println!(
            "  in the browser: skipped (needs /usr/bin/chromium and {}; run the browser test once)",
            pw.display()
        );
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("reg");
    let start = Instant::now();
    catalog_registry(&dir, n);
    eprintln!(
        "  catalog of {n} synthetic bundles and its site in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut srv = std::process::Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(t.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let up = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && up.elapsed().as_secs() < 20
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let o = std::process::Command::new("node")
        .arg(root.join("tests/browser/bench.cjs"))
        .arg(format!("http://127.0.0.1:{port}/reg/site/"))
        .env("RATCHET_PLAYWRIGHT", &pw)
        .output()
        .unwrap();
    let _ = srv.kill();
    let _ = srv.wait();
    if !o.status.success() {
        println!(
            "  in the browser: failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        return;
    }
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    println!(
        "  in the browser at {n} bundles (python3 http.server on loopback; keystroke to rendered results, 120 ms typing pause included):"
    );
    for q in v.as_array().unwrap() {
        let f = |k: &str| {
            let x = &q[k];
            format!(
                "{} ms, {} request(s), {} bytes, {}",
                x["ms"],
                x["requests"],
                x["bytes"],
                x["status"].as_str().unwrap_or("")
            )
        };
        println!(
            "    {:<20} {:<12} first query on the page: {}; again: {}",
            format!("`{}`", q["query"].as_str().unwrap_or("")),
            q["category"]
                .as_str()
                .filter(|c| !c.is_empty())
                .map_or("".to_string(), |c| format!("category={c}")),
            f("cold"),
            f("warm")
        );
    }
    println!(
        "  (goal of the catalog: at most 3 round trips for one- and two-word queries, index-format.md §10.6)"
    );
}

fn main() {
    let big: usize = std::env::var("SITE_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let small = (big / 10).max(1);
    let a = run(small);
    let b = run(big);
    println!("web marketplace (ratchet-site)");
    for f in [&a, &b] {
        println!(
            "  {:>6} bundles: full generation {:>9.0} ms ({:.2} ms per bundle, {} pages); incremental update after one publish {:>6.1} ms ({} pages and feeds written)",
            f.n,
            f.full_ms,
            f.full_ms / f.n as f64,
            f.pages,
            f.incremental_ms,
            f.incremental_files
        );
    }
    println!(
        "  incremental at {} / at {}: {:.2} (goal: independent of size, about 1)",
        b.n,
        a.n,
        b.incremental_ms / a.incremental_ms
    );
    println!(
        "  the same update without the facet pages' state (every listed summary read from its catalog block, as before): {:.1} ms at {}, {:.1} ms at {} (ratio {:.2})",
        a.incremental_cold_ms,
        a.n,
        b.incremental_cold_ms,
        b.n,
        b.incremental_cold_ms / a.incremental_cold_ms
    );
    println!(
        "  page weight at {} bundles: home {} bytes, bundle page with chart and README {} bytes (goal: < 100 KB = 102400 bytes each)",
        b.n, b.home, b.bundle
    );
    let n: usize = std::env::var("SITE_BENCH_BROWSER_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    browser(n);
}
