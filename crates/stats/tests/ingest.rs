//! Ingestion over a copy of `sample-index/`: each log format, what must not count, sub-path
//! hosting, malformed lines, and idempotence (same log twice, grown log, killed run).

use flate2::Compression;
use flate2::write::GzEncoder;
use ratchet_formats::index::{IndexFile, NamesFile, index_path};
use ratchet_formats::manifest::BundleId;
use ratchet_stats::{Day, IngestOptions, LogFormat, StatsError, ingest, read_related, read_stats};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use ratchet_testkit::copy_dir;

/// A temporary copy of the sample registry and the archive hash of every (id, version).
fn sample() -> (
    tempfile::TempDir,
    PathBuf,
    BTreeMap<(String, String), String>,
) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reg");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample-index");
    copy_dir(&src, &dir);
    let mut hashes = BTreeMap::new();
    for id in NamesFile::load(&dir).unwrap().ids {
        let f = IndexFile::load(&dir.join(index_path(&id)), Some(&id)).unwrap();
        for l in f.versions() {
            hashes.insert((id.to_string(), l.version.to_string()), l.sha256.clone());
        }
    }
    (tmp, dir, hashes)
}

fn opts(format: LogFormat) -> IngestOptions {
    IngestOptions {
        format,
        today: Day::parse("2026-12-04").unwrap(),
    }
}

fn id(s: &str) -> BundleId {
    BundleId::parse(s).unwrap()
}

fn downloads(dir: &Path, bundle: &str) -> Option<(u64, BTreeMap<String, u64>)> {
    read_stats(dir, &id(bundle)).unwrap().map(|s| {
        (
            s.downloads,
            s.versions
                .iter()
                .map(|(v, c)| (v.clone(), c.total))
                .collect(),
        )
    })
}

fn combined(ip: &str, time: &str, req: &str, status: u16) -> String {
    format!("{ip} - - [{time}] \"{req}\" {status} 2541 \"-\" \"ratchet/0.1 (linux)\"\n")
}

#[test]
fn combined_log_counts_only_complete_archive_gets_under_any_prefix() {
    let (_t, dir, h) = sample();
    let core10 = &h[&("com.ratchet.core-utils".into(), "1.0.0".into())];
    let core12 = &h[&("com.ratchet.core-utils".into(), "1.2.0".into())];
    let json = &h[&("com.oss.json-utils".into(), "1.2.0".into())];
    let a = |sha: &str| format!("archives/{}/{sha}.rbundle", &sha[..2]);
    let mut log = String::new();
    // Counted: plain, sub-path prefix, query string, another day (UTC conversion).
    log += &combined(
        "203.0.113.1",
        "03/Dec/2026:10:00:00 +0000",
        &format!("GET /{} HTTP/1.1", a(core10)),
        200,
    );
    log += &combined(
        "203.0.113.2",
        "03/Dec/2026:11:00:00 +0000",
        &format!("GET /registry/{} HTTP/2.0", a(core10)),
        200,
    );
    log += &combined(
        "203.0.113.3",
        "03/Dec/2026:12:00:00 +0000",
        &format!("GET /{}?token=x HTTP/1.1", a(core12)),
        200,
    );
    log += &combined(
        "2001:db8::1",
        "03/Dec/2026:23:30:00 -0200",
        &format!("GET /{} HTTP/1.1", a(json)),
        200,
    );
    // Not counted: 304, 404, 206, HEAD, POST, an index file, a hash nobody publishes, a
    // hash under the wrong shard directory.
    log += &combined(
        "203.0.113.4",
        "03/Dec/2026:10:00:00 +0000",
        &format!("GET /{} HTTP/1.1", a(core10)),
        304,
    );
    log += &combined(
        "203.0.113.4",
        "03/Dec/2026:10:00:00 +0000",
        &format!("GET /{} HTTP/1.1", a(core10)),
        404,
    );
    log += &combined(
        "203.0.113.4",
        "03/Dec/2026:10:00:00 +0000",
        &format!("GET /{} HTTP/1.1", a(core10)),
        206,
    );
    log += &combined(
        "203.0.113.4",
        "03/Dec/2026:10:00:00 +0000",
        &format!("HEAD /{} HTTP/1.1", a(core10)),
        200,
    );
    log += &combined(
        "203.0.113.4",
        "03/Dec/2026:10:00:00 +0000",
        &format!("POST /{} HTTP/1.1", a(core10)),
        200,
    );
    log += &combined(
        "203.0.113.4",
        "03/Dec/2026:10:00:00 +0000",
        "GET /index/41/69/com.ratchet.core-utils HTTP/1.1",
        200,
    );
    log += &combined(
        "203.0.113.4",
        "03/Dec/2026:10:00:00 +0000",
        &format!("GET /archives/00/{}.rbundle HTTP/1.1", "0".repeat(64)),
        200,
    );
    log += &combined(
        "203.0.113.4",
        "03/Dec/2026:10:00:00 +0000",
        &format!("GET /archives/zz/{core10}.rbundle HTTP/1.1"),
        200,
    );
    // Malformed: reported with its line number, not fatal.
    log += "this is not a log line\n";
    let path = dir.parent().unwrap().join("access.log");
    std::fs::write(&path, &log).unwrap();

    let r = ingest(&dir, std::slice::from_ref(&path), &opts(LogFormat::Auto)).unwrap();
    assert_eq!(r.downloads, 4);
    assert_eq!(r.logs[0].format, LogFormat::Combined);
    assert_eq!(r.logs[0].malformed, 1);
    assert_eq!(r.malformed[0].line, 13);
    assert!(r.malformed[0].file.ends_with("access.log"));
    let (total, per) = downloads(&dir, "com.ratchet.core-utils").unwrap();
    assert_eq!(total, 3);
    assert_eq!(per["1.0.0"], 2);
    assert_eq!(per["1.2.0"], 1);
    let s = read_stats(&dir, &id("com.oss.json-utils"))
        .unwrap()
        .unwrap();
    assert_eq!(
        s.versions["1.2.0"].days.keys().collect::<Vec<_>>(),
        ["2026-12-04"],
        "23:30 at -0200 is the next UTC day"
    );
    assert_eq!(s.as_of, "2026-12-04");
    assert!(downloads(&dir, "com.templates.devops").is_none());
    assert_eq!(r.summary.downloads, 4);
    assert_eq!(r.summary.first_day.as_deref(), Some("2026-12-03"));
    assert_eq!(
        r.changed,
        [id("com.oss.json-utils"), id("com.ratchet.core-utils")]
    );

    // Nothing is stored about who downloaded.
    for f in walk(&dir.join("stats")) {
        let text = std::fs::read_to_string(&f).unwrap();
        for secret in ["203.0.113", "2001:db8", "ratchet/0.1", "token"] {
            assert!(!text.contains(secret), "{} holds {secret}", f.display());
        }
    }

    // The same log again counts nothing and changes no file.
    let before = snapshot(&dir);
    let r = ingest(&dir, std::slice::from_ref(&path), &opts(LogFormat::Auto)).unwrap();
    assert_eq!((r.downloads, r.logs[0].new_bytes, r.batch), (0, 0, None));
    assert!(r.changed.is_empty());
    assert_eq!(snapshot(&dir), before);

    // The log grows (and ends in a torn line): only the new complete line counts.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(
        combined(
            "198.51.100.7",
            "04/Dec/2026:08:00:00 +0000",
            &format!("GET /{} HTTP/1.1", a(core12)),
            200,
        )
        .as_bytes(),
    )
    .unwrap();
    f.write_all(b"198.51.100.8 - - [04/Dec/2026:08:00:01 +0000] \"GET /")
        .unwrap();
    drop(f);
    let r = ingest(&dir, std::slice::from_ref(&path), &opts(LogFormat::Auto)).unwrap();
    assert_eq!(r.downloads, 1);
    assert_eq!(r.logs[0].already_ingested, log.len() as u64);
    assert_eq!(
        downloads(&dir, "com.ratchet.core-utils").unwrap().1["1.2.0"],
        2
    );
    let r = ingest(&dir, std::slice::from_ref(&path), &opts(LogFormat::Auto)).unwrap();
    assert_eq!(r.downloads, 0);
}

#[test]
fn a_run_killed_before_the_ledger_is_not_counted_twice() {
    let (_t, dir, h) = sample();
    let sha = &h[&("com.templates.devops".into(), "2.5.0".into())];
    let line = combined(
        "192.0.2.1",
        "01/Dec/2026:00:00:00 +0000",
        &format!("GET /archives/{}/{sha}.rbundle HTTP/1.1", &sha[..2]),
        200,
    );
    let path = dir.parent().unwrap().join("a.log");
    std::fs::write(&path, line.repeat(3)).unwrap();
    ingest(
        &dir,
        std::slice::from_ref(&path),
        &opts(LogFormat::Combined),
    )
    .unwrap();
    assert_eq!(downloads(&dir, "com.templates.devops").unwrap().0, 3);
    // As if the run had died after the stats files: no ledger, no summary.
    std::fs::remove_file(dir.join("stats/ingested.json")).unwrap();
    std::fs::remove_file(dir.join("stats/summary.json")).unwrap();
    let r = ingest(
        &dir,
        std::slice::from_ref(&path),
        &opts(LogFormat::Combined),
    )
    .unwrap();
    assert_eq!(r.downloads, 3, "read again");
    assert_eq!(
        downloads(&dir, "com.templates.devops").unwrap().0,
        3,
        "but applied once"
    );
    assert_eq!(r.summary.downloads, 3);
}

#[test]
fn gzip_cloudfront_and_s3_logs() {
    let (_t, dir, h) = sample();
    let sha = &h[&("com.partner.api-connectors".into(), "3.2.0".into())];
    let yanked = &h[&("com.partner.api-connectors".into(), "3.3.0".into())];
    let p = |s: &str| format!("/archives/{}/{s}.rbundle", &s[..2]);
    let cf = format!(
        "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query\n\
2026-11-30\t21:02:31\tLAX1\t2338\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t{}\t200\t-\tratchet/0.1\t-\n\
2026-11-30\t21:02:32\tLAX1\t2338\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t{}\t200\t-\tratchet/0.1\t-\n\
2026-11-30\t21:02:33\tLAX1\t0\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t{}\t304\t-\tratchet/0.1\t-\n\
2026-11-30\t21:02:34\tLAX1\t0\t192.0.2.100\tHEAD\td111111abcdef8.cloudfront.net\t{}\t200\t-\tratchet/0.1\t-\n\
2026-11-30\tnot-a-time\n",
        p(sha),
        p(yanked),
        p(sha),
        p(sha)
    );
    let gz = dir
        .parent()
        .unwrap()
        .join("E2EXAMPLE.2026-11-30-21.abcd.gz");
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(cf.as_bytes()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let s3 = format!(
        "79a59df900b9 registry-bucket [29/Nov/2026:00:00:38 +0000] 192.0.2.3 - 3E57427F3EXAMPLE REST.GET.OBJECT archives/x \"GET /registry-bucket{} HTTP/1.1\" 200 - 2338 2338 70 10 \"-\" \"ratchet/0.1\" -\n\
79a59df900b9 registry-bucket [29/Nov/2026:00:00:39 +0000] 192.0.2.3 - 3E57427F3EXAMPLE REST.GET.OBJECT archives/x \"GET /registry-bucket{} HTTP/1.1\" 403 AccessDenied 243 - 7 - \"-\" \"ratchet/0.1\" -\n\
79a59df900b9 registry-bucket [29/Nov/2026:00:00:40 +0000] 192.0.2.3 - 3E57427F3EXAMPLE S3.TRANSITION.OBJECT archives/x \"-\" - - - 2338 - - \"-\" \"-\" -\n",
        p(sha),
        p(sha)
    );
    let s3_path = dir.parent().unwrap().join("2026-11-29-00-00-38-EXAMPLE");
    std::fs::write(&s3_path, s3).unwrap();

    let r = ingest(&dir, &[gz.clone(), s3_path.clone()], &opts(LogFormat::Auto)).unwrap();
    assert_eq!(r.logs[0].format, LogFormat::CloudFront);
    assert_eq!(r.logs[1].format, LogFormat::S3);
    assert_eq!((r.logs[0].downloads, r.logs[0].malformed), (2, 1));
    assert_eq!((r.logs[1].downloads, r.logs[1].malformed), (1, 0));
    let (total, per) = downloads(&dir, "com.partner.api-connectors").unwrap();
    assert_eq!(total, 3);
    assert_eq!(per["3.2.0"], 2);
    assert_eq!(per["3.3.0"], 1, "a yanked version's downloads still count");
    // Both again: nothing new.
    assert_eq!(
        ingest(&dir, &[gz.clone(), s3_path], &opts(LogFormat::Auto))
            .unwrap()
            .downloads,
        0
    );
    // The gzip log grows by one more member (as `gzip >>` writes): only its line counts, in
    // the columns of the header ingested before.
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(
        format!(
            "2026-12-01\t01:00:00\tLAX1\t2338\t192.0.2.100\tGET\th\t{}\t200\t-\tratchet/0.1\t-\n",
            p(sha)
        )
        .as_bytes(),
    )
    .unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&gz).unwrap();
    f.write_all(&enc.finish().unwrap()).unwrap();
    drop(f);
    let r = ingest(&dir, &[gz], &opts(LogFormat::Auto)).unwrap();
    assert_eq!((r.downloads, r.logs[0].malformed), (1, 0));
    assert_eq!(r.logs[0].format, LogFormat::CloudFront);
    assert_eq!(
        downloads(&dir, "com.partner.api-connectors").unwrap().1["3.2.0"],
        3
    );
}

#[test]
fn a_file_that_is_not_a_log_changes_nothing() {
    let (_t, dir, h) = sample();
    let sha = &h[&("com.oss.json-utils".into(), "1.2.0".into())];
    let good = dir.parent().unwrap().join("good.log");
    std::fs::write(
        &good,
        combined(
            "h",
            "01/Dec/2026:00:00:00 +0000",
            &format!("GET /archives/{}/{sha}.rbundle HTTP/1.1", &sha[..2]),
            200,
        ),
    )
    .unwrap();
    let bad = dir.parent().unwrap().join("notes.txt");
    std::fs::write(&bad, "hello\nworld\n").unwrap();
    let e = ingest(&dir, &[good.clone(), bad], &opts(LogFormat::Combined)).unwrap_err();
    assert!(matches!(e, StatsError::Log { .. }));
    assert!(e.to_string().contains("notes.txt"), "{e}");
    assert!(e.to_string().contains("none of its 2"), "{e}");
    assert!(!dir.join("stats").exists(), "nothing written");
    // A record dated in the future is malformed.
    let future = dir.parent().unwrap().join("future.log");
    std::fs::write(
        &future,
        combined("h", "01/Jan/2027:00:00:00 +0000", "GET /x HTTP/1.1", 200),
    )
    .unwrap();
    let e = ingest(&dir, &[future], &opts(LogFormat::Combined)).unwrap_err();
    assert!(e.to_string().contains("dated after tomorrow"), "{e}");
    // A damaged stats file stops an ingestion (its counts would be lost), naming it.
    ingest(
        &dir,
        std::slice::from_ref(&good),
        &opts(LogFormat::Combined),
    )
    .unwrap();
    let rel = ratchet_stats::stats_path(&id("com.oss.json-utils"));
    std::fs::write(dir.join(&rel), "{\"v\":1,\"id\":\"com.oss.json-utils\"}").unwrap();
    std::fs::write(
        &good,
        combined(
            "h",
            "02/Dec/2026:00:00:00 +0000",
            &format!("GET /archives/{}/{sha}.rbundle HTTP/1.1", &sha[..2]),
            200,
        ),
    )
    .unwrap();
    let e = ingest(&dir, &[good], &opts(LogFormat::Combined)).unwrap_err();
    assert!(e.to_string().contains(&rel), "{e}");
}

#[test]
fn related_files_over_the_sample_registry() {
    let (_t, dir, _) = sample();
    let r = ratchet_stats::related::refresh(&dir).unwrap();
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    assert_eq!(r.bundles, 7);
    let core = read_related(&dir, &id("com.ratchet.core-utils"))
        .unwrap()
        .unwrap();
    assert_eq!(
        core.dependents,
        [
            id("com.example.data-processing"),
            id("com.partner.api-connectors"),
            id("com.templates.devops")
        ]
    );
    assert_eq!(core.together[0].id, id("com.partner.api-connectors"));
    assert_eq!(core.together[0].count, 1);
    let json = read_related(&dir, &id("com.oss.json-utils"))
        .unwrap()
        .unwrap();
    assert!(
        json.similar
            .iter()
            .all(|s| s.id != id("com.ratchet.legacy-json")),
        "deprecated: {json:?}"
    );
    assert!(!json.similar.is_empty(), "{json:?}");
    // A second run changes nothing.
    assert_eq!(ratchet_stats::related::refresh(&dir).unwrap().written, 0);
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

fn snapshot(d: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walk(d)
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(p).unwrap()))
        .collect()
}
