//! The chain detects edits, deletions, insertions and reorderings; retention keeps it
//! verifiable; exports follow the documented mapping.

use super::*;

fn log_with(n: usize) -> (tempfile::TempDir, AuditLog) {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::new(dir.path().join("audit.jsonl"), Source::Registry);
    for i in 0..n {
        let r = Record::bundle(
            "publish",
            &format!("com.a.b{i}"),
            Some("1.0.0"),
            Some(&"ab".repeat(32)),
        )
        .with("note", serde_json::json!("x"));
        log.append_at(&r, "alice", &format!("2026-01-{:02}T00:00:00Z", i + 1))
            .unwrap();
    }
    (dir, log)
}

fn lines(log: &AuditLog) -> Vec<String> {
    std::fs::read_to_string(log.path())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write(log: &AuditLog, lines: &[String]) {
    let mut s = lines.join("\n");
    s.push('\n');
    std::fs::write(log.path(), s).unwrap();
}

fn problem(log: &AuditLog) -> (u64, Problem) {
    match verify(log.path(), None) {
        Err(AuditError::Broken { line, problem, .. }) => (line, problem),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

#[test]
fn a_valid_log_verifies() {
    let (_d, log) = log_with(5);
    let v = verify(log.path(), None).unwrap();
    assert_eq!(v.entries, 5);
    assert_eq!(v.first_seq, 0);
    let head = v.head.unwrap();
    assert_eq!(head.seq, 4);
    assert_eq!(verify(log.path(), Some(&head)).unwrap().entries, 5);
    let first: Entry = serde_json::from_str(&lines(&log)[0]).unwrap();
    assert_eq!(first.prev, GENESIS_PREV);
    assert_eq!(first.actor, "alice");
}

#[test]
fn an_edited_line_is_detected() {
    let (_d, log) = log_with(5);
    let mut l = lines(&log);
    l[2] = l[2].replace("alice", "mallory");
    write(&log, &l);
    let (line, p) = problem(&log);
    assert_eq!(line, 3);
    assert!(matches!(p, Problem::Edited { .. }), "{p:?}");
}

#[test]
fn an_edited_line_with_a_recomputed_hash_breaks_the_next_link() {
    let (_d, log) = log_with(5);
    let mut l = lines(&log);
    let cut = l[2].rfind(",\"hash\":\"").unwrap();
    let body = l[2][..cut].replace("alice", "mallory");
    l[2] = format!("{body},\"hash\":\"{}\"}}", sha(body.as_bytes()));
    write(&log, &l);
    let (line, p) = problem(&log);
    assert_eq!(line, 4);
    assert!(matches!(p, Problem::Chain { .. }), "{p:?}");
}

#[test]
fn a_deleted_line_is_detected() {
    let (_d, log) = log_with(5);
    let mut l = lines(&log);
    l.remove(2);
    write(&log, &l);
    let (line, p) = problem(&log);
    assert_eq!(line, 3);
    assert_eq!(
        p,
        Problem::Sequence {
            previous: 1,
            found: 3
        }
    );
}

#[test]
fn deleting_the_first_lines_is_detected() {
    let (_d, log) = log_with(5);
    let l = lines(&log);
    write(&log, &l[2..]);
    let (line, p) = problem(&log);
    assert_eq!(line, 1);
    assert_eq!(p, Problem::UnrecordedStart { first_seq: 2 });
}

#[test]
fn a_reordered_line_is_detected() {
    let (_d, log) = log_with(5);
    let mut l = lines(&log);
    l.swap(1, 2);
    write(&log, &l);
    let (line, p) = problem(&log);
    assert_eq!(line, 2);
    assert_eq!(
        p,
        Problem::Sequence {
            previous: 0,
            found: 2
        }
    );
}

#[test]
fn truncation_is_detected_against_a_recorded_head() {
    let (_d, log) = log_with(5);
    let head = verify(log.path(), None).unwrap().head.unwrap();
    let l = lines(&log);
    write(&log, &l[..3]);
    assert!(
        verify(log.path(), None).is_ok(),
        "a shorter prefix is a valid log on its own"
    );
    match verify(log.path(), Some(&head)) {
        Err(AuditError::Broken {
            problem: Problem::HeadMissing { seq, .. },
            ..
        }) => assert_eq!(seq, 4),
        other => panic!("{other:?}"),
    }
    assert_eq!(parse_head(&format!("4:{}", head.hash)), Some(head));
    assert_eq!(parse_head("4:xyz"), None);
}

#[test]
fn a_torn_last_line_stops_appends() {
    let (_d, log) = log_with(2);
    let mut bytes = std::fs::read(log.path()).unwrap();
    bytes.truncate(bytes.len() - 10);
    std::fs::write(log.path(), &bytes).unwrap();
    let e = log
        .append(&Record::bundle("yank", "com.a.b", None, None))
        .unwrap_err();
    assert!(
        matches!(
            e,
            AuditError::Broken {
                problem: Problem::Torn,
                ..
            }
        ),
        "{e}"
    );
    assert!(matches!(problem(&log).1, Problem::Torn));
}

#[test]
fn retention_prunes_and_stays_verifiable() {
    let (_d, log) = log_with(10); // 2026-01-01 .. 2026-01-10
    let p = prune(&log, 5, "2026-01-12T00:00:00Z", "ops").unwrap();
    assert_eq!(p.removed, 6); // before 2026-01-07
    let v = verify(log.path(), None).unwrap();
    assert_eq!(v.first_seq, 6);
    assert_eq!(v.entries, 5);
    let last: Entry = serde_json::from_str(lines(&log).last().unwrap()).unwrap();
    assert_eq!(last.action, RETENTION_ACTION);
    // Appends continue the chain.
    log.append_at(
        &Record::bundle("yank", "com.a.b1", Some("1.0.0"), None),
        "bob",
        "2026-01-12T00:00:01Z",
    )
    .unwrap();
    assert_eq!(verify(log.path(), None).unwrap().entries, 6);
    // Removing one more line at the start, beyond what the retention entry records: detected.
    let l = lines(&log);
    write(&log, &l[1..]);
    assert_eq!(
        problem(&log),
        (1, Problem::UnrecordedStart { first_seq: 7 })
    );
    // Nothing old enough: nothing written.
    let (_d2, log2) = log_with(3);
    let before = std::fs::read(log2.path()).unwrap();
    assert_eq!(
        prune(&log2, 365, "2026-01-05T00:00:00Z", "ops")
            .unwrap()
            .removed,
        0
    );
    assert_eq!(std::fs::read(log2.path()).unwrap(), before);
}

#[test]
fn exports_follow_the_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::new(dir.path().join("a.jsonl"), Source::Client);
    let r = Record::bundle("install", "com.a.b", Some("1.0.0"), Some(&"cd".repeat(32)))
        .at("https://r.example/")
        .with(
            "permissions",
            serde_json::json!(["network: api.example.com"]),
        );
    log.append_at(&r, "eve|x=y\\z\"]", "2026-02-03T04:05:06Z")
        .unwrap();
    let mut out = Vec::new();
    export(log.path(), Format::JsonLines, "h", &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        std::fs::read_to_string(log.path()).unwrap()
    );
    let mut out = Vec::new();
    export(log.path(), Format::Cef, "h", &mut out).unwrap();
    let cef = String::from_utf8(out).unwrap();
    assert!(cef.starts_with("CEF:0|Ratchet|ratchet-registry|"), "{cef}");
    assert!(
        cef.contains("|install|ratchet install com.a.b 1.0.0 by eve\\|x=y\\\\z\"]|3|"),
        "{cef}"
    );
    assert!(cef.contains("rt=1770091506000"), "{cef}");
    assert!(cef.contains("suser=eve|x\\=y\\\\z\"]"), "{cef}");
    assert!(cef.contains("cs1Label=bundleId cs1=com.a.b"), "{cef}");
    let mut out = Vec::new();
    export(log.path(), Format::Syslog, "host.example", &mut out).unwrap();
    let sys = String::from_utf8(out).unwrap();
    assert!(
        sys.starts_with("<110>1 2026-02-03T04:05:06Z host.example ratchet - install [ratchet@32473 seq=\"0\" actor=\"eve|x=y\\\\z\\\"\\]\""),
        "{sys}"
    );
    assert!(sys.contains(" id=\"com.a.b\""), "{sys}");
    assert_eq!(sys.lines().count(), 1);
    // A broken log exports nothing.
    let mut l = lines(&log);
    l[0] = l[0].replace("eve", "eva");
    write(&log, &l);
    let mut out = Vec::new();
    assert!(export(log.path(), Format::Cef, "h", &mut out).is_err());
    assert!(out.is_empty());
}

#[test]
fn concurrent_appends_keep_one_chain() {
    let (_d, log) = log_with(1);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    log.append_at(
                        &Record::bundle("install", &format!("com.t{t}.b{i}"), None, None),
                        "ci",
                        "2026-03-01T00:00:00Z",
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(verify(log.path(), None).unwrap().entries, 101);
}
