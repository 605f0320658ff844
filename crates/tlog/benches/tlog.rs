//! Benchmark of the registry integrity structures (prints figures; asserts nothing about time).
//!
//! For registries of 1k, 100k and 1M bundles, generated directly in the documented format (one
//! index file per bundle in the state map, one publish entry per bundle in the log):
//! - the cost of one publish (open the log's edge and the map, record the entry, sign the
//!   checkpoint and timestamp) and how many files it writes;
//! - the proof bytes a client fetches for one file, and for 200 files sharing upper nodes;
//! - the consistency proof a client fetches after 100 more publishes;
//! - the CPU to verify a timestamp and 200 files.
//!
//! Run: `cargo bench -p ratchet-tlog --bench tlog` (`RATCHET_TLOG_BENCH_MAX=100000` to stop
//! earlier).

use ratchet_tlog::TlogError;
use ratchet_tlog::client::{self, Policy};
use ratchet_tlog::entry::{EntryKind, FileChange};
use ratchet_tlog::map::{self, FileDigest};
use ratchet_tlog::signed::{Checkpoint, Timestamp, timestamp_file};
use ratchet_tlog::snapshot::{Operation, Publisher, Snapshot};
use ratchet_tlog::tiles::LogWriter;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::Instant;

type Store = HashMap<String, Rc<Vec<u8>>>;

const T0: u64 = 1_767_225_600;

fn index_path(i: u64) -> String {
    let id = format!("com.bench.bundle-{i}");
    let h = ratchet_tlog::hash::sha256(id.as_bytes());
    format!("index/{:02x}/{:02x}/{id}", h[0], h[1])
}

fn line(i: u64) -> Vec<u8> {
    format!(
        "{{\"v\":1,\"id\":\"com.bench.bundle-{i}\",\"version\":\"1.0.0\",\"dependencies\":[],\"sha256\":\"{}\",\"size\":2541,\"published\":\"2026-01-01T00:00:00Z\",\"requirements\":{{}},\"license\":\"MIT\",\"pricing\":\"free\",\"keywords\":[],\"permissions\":{{}},\"resources\":{{}},\"yanked\":false}}\n",
        ratchet_tlog::hash::to_hex(&ratchet_tlog::hash::sha256(&i.to_be_bytes()))
    )
    .into_bytes()
}

fn publish_entry(i: u64) -> Vec<u8> {
    let e = ratchet_tlog::entry::LogEntry {
        kind: EntryKind::Publish,
        id: Some(format!("com.bench.bundle-{i}")),
        version: Some("1.0.0".into()),
        archive: Some(ratchet_tlog::hash::sha256(&i.to_be_bytes())),
        time: T0,
        // Generated directly: the intermediate states are not recomputed (no audit here).
        state: [0; 32],
        files: vec![FileChange {
            path: index_path(i),
            digest: Some(FileDigest::of(&line(i))),
        }],
    };
    e.encode().expect("entry")
}

/// A registry of `n` bundles: map nodes, log tiles (and the last entry bundle), checkpoint.
fn generate(n: u64, sk: &ratchet_trust::SecretKey) -> Store {
    let mut store = Store::new();
    let (state_root, nodes) =
        map::build((0..n).map(|i| (index_path(i), FileDigest::of(&line(i)), i))).expect("map");
    for f in nodes {
        store.insert(f.path, Rc::new(f.bytes));
    }
    let mut log = LogWriter::new();
    let chunk = 65536;
    let mut i = 0;
    while i < n {
        let end = (i + chunk).min(n);
        let entries: Vec<Vec<u8>> = (i..end).map(publish_entry).collect();
        for f in log.append(&entries).expect("append") {
            // Full entry bundles are not needed by anything measured here.
            if !f.path.starts_with("log/tile/entries/") || f.path.contains(".p/") {
                store.insert(f.path, Rc::new(f.bytes));
            }
        }
        i = end;
    }
    let cp = Checkpoint {
        origin: "bench.example".into(),
        size: n,
        log_root: log.root(),
        state_root,
        time: T0,
    };
    let sig = cp.sign(sk).expect("sign");
    let ts = Timestamp::for_checkpoint(&cp, T0, 86400);
    store.insert(
        "timestamp".into(),
        Rc::new(timestamp_file(&sig, &ts, sk).unwrap().into_bytes()),
    );
    store.insert("log/checkpoint".into(), Rc::new(sig.into_bytes()));
    store
}

#[derive(Default)]
struct Counter {
    bytes: Cell<u64>,
    files: Cell<u64>,
}

fn fetcher<'s>(
    store: &'s Store,
    count: &'s Counter,
    seen: Option<&'s std::cell::RefCell<HashSet<String>>>,
) -> impl FnMut(&str, usize) -> Result<Option<Vec<u8>>, TlogError> + 's {
    move |p: &str, _limit: usize| {
        let got = store.get(p).map(|b| b.as_ref().clone());
        if let Some(b) = &got {
            let fresh = seen.is_none_or(|s| s.borrow_mut().insert(p.to_string()));
            if fresh {
                count.bytes.set(count.bytes.get() + b.len() as u64);
                count.files.set(count.files.get() + 1);
            }
        }
        Ok(got)
    }
}

fn main() {
    let max: u64 = std::env::var("RATCHET_TLOG_BENCH_MAX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let kp = ratchet_trust::keys::generate(dir.path(), "bench", None).expect("key");
    let sk = ratchet_trust::SecretKey::load(&kp.secret).expect("key");
    let pk = sk.public().clone();
    let mut publish_us = Vec::new();
    println!("ratchet-tlog benchmark (release build; figures, not assertions)");
    for n in [1_000u64, 100_000, 1_000_000] {
        if n > max {
            continue;
        }
        let t = Instant::now();
        let mut store = generate(n, &sk);
        let gen_s = t.elapsed().as_secs_f64();
        let old_ts = store["timestamp"].as_ref().clone();
        let seen_state = {
            let zero = Counter::default();
            let mut f = fetcher(&store, &zero, None);
            let policy = Policy {
                now: T0 + 10,
                allow_expired: false,
            };
            client::check(
                None,
                &old_ts,
                std::slice::from_ref(&pk),
                &[],
                &policy,
                &mut f,
            )
            .expect("accept")
            .state
        };

        // Publishing: 100 new bundles, one commit each, files written into the store.
        let rounds = 100u64;
        let mut times = Vec::new();
        let (mut files_written, mut bytes_written, mut removed) = (0usize, 0usize, 0usize);
        for k in 0..rounds {
            let i = n + k;
            let path = index_path(i);
            let op = Operation {
                kind: EntryKind::Publish,
                id: Some(format!("com.bench.bundle-{i}")),
                version: Some("1.0.0".into()),
                archive: None,
                files: vec![FileChange {
                    path,
                    digest: Some(FileDigest::of(&line(i))),
                }],
            };
            let t = Instant::now();
            let commit = {
                let zero = Counter::default();
                let mut f = fetcher(&store, &zero, None);
                let mut p = Publisher::open(&mut f, "bench.example", &pk).expect("open");
                p.commit(&[op], &sk, T0 + 100 + k, 86400).expect("commit")
            };
            times.push(t.elapsed().as_secs_f64() * 1e6);
            files_written += commit.files.len() + 2;
            bytes_written += commit.files.iter().map(|f| f.bytes.len()).sum::<usize>()
                + commit.checkpoint.bytes.len()
                + commit.timestamp.bytes.len();
            removed += commit.removes.len();
            for f in commit
                .files
                .into_iter()
                .chain([commit.checkpoint, commit.timestamp])
            {
                store.insert(f.path, Rc::new(f.bytes));
            }
            for p in commit.removes {
                store.remove(&p);
            }
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let median = times[times.len() / 2];
        publish_us.push((n, median));
        println!(
            "\n{n} bundles (generated in {gen_s:.1} s)\n  publish: median {median:.0} µs, p90 {:.0} µs; {:.1} files ({:.0} bytes) written, {:.2} stable nodes removed per publish",
            times[times.len() * 9 / 10],
            files_written as f64 / rounds as f64,
            bytes_written as f64 / rounds as f64,
            removed as f64 / rounds as f64
        );

        // Client: accept the new timestamp (consistency proof from the snapshot seen before).
        let size = n + rounds;
        let ts = store["timestamp"].as_ref().clone();
        let cons_bytes = Counter::default();
        let acc = {
            let mut f = fetcher(&store, &cons_bytes, None);
            let policy = Policy {
                now: T0 + 1000,
                allow_expired: false,
            };
            client::check(
                Some(&seen_state),
                &ts,
                std::slice::from_ref(&pk),
                &[],
                &policy,
                &mut f,
            )
            .expect("accept")
        };
        let snap = Snapshot::of(&acc.verified.checkpoint);
        assert_eq!(snap.size, size);

        // Proof bytes: one file alone, and 200 files with shared nodes fetched once.
        let picks: Vec<u64> = (0..200u64).map(|j| (j * 7919 + 13) % size).collect();
        let mut one = Vec::new();
        for &i in &picks {
            let b = Counter::default();
            let mut f = fetcher(&store, &b, None);
            snap.verify_file(&mut f, &index_path(i), Some(&line(i)))
                .expect("verify");
            one.push((b.bytes.get(), b.files.get()));
        }
        let shared_bytes = Counter::default();
        let seen = std::cell::RefCell::new(HashSet::new());
        let mut prefetched: HashMap<String, Vec<u8>> = HashMap::new();
        {
            let mut f = fetcher(&store, &shared_bytes, Some(&seen));
            let mut record = |p: &str, l: usize| {
                let r = f(p, l)?;
                if let Some(b) = &r {
                    prefetched.insert(p.to_string(), b.clone());
                }
                Ok(r)
            };
            for &i in &picks {
                snap.verify_file(&mut record, &index_path(i), Some(&line(i)))
                    .expect("verify");
            }
        }
        // An install reads each bundle's index file and its metadata file (absent here: an
        // absence proof), with nodes shared across all of them.
        let install = Counter::default();
        {
            let seen = std::cell::RefCell::new(HashSet::new());
            let mut f = fetcher(&store, &install, Some(&seen));
            for &i in &picks {
                let index = index_path(i);
                snap.verify_file(&mut f, &index, Some(&line(i)))
                    .expect("verify");
                let meta = format!("meta/{}.json", &index["index/".len()..]);
                snap.verify_file(&mut f, &meta, None).expect("absent");
            }
        }
        let data_bytes: usize = picks.iter().map(|&i| line(i).len()).sum();
        let avg_one = one.iter().map(|x| x.0).sum::<u64>() as f64 / one.len() as f64;
        let avg_nodes = one.iter().map(|x| x.1).sum::<u64>() as f64 / one.len() as f64;
        println!(
            "  proof for one file: {avg_one:.0} bytes on average ({} to {}), {avg_nodes:.1} node files",
            one.iter().map(|x| x.0).min().unwrap_or(0),
            one.iter().map(|x| x.0).max().unwrap_or(0),
        );
        println!(
            "  proofs for 200 files: {} bytes in {} node files ({:.0} bytes per file; the 200 index files are {} bytes)",
            shared_bytes.bytes.get(),
            shared_bytes.files.get(),
            shared_bytes.bytes.get() as f64 / 200.0,
            data_bytes
        );
        println!(
            "  proofs for a 200-bundle install (index + metadata files): {} bytes in {} node files",
            install.bytes.get(),
            install.files.get()
        );
        println!(
            "  consistency proof after {rounds} publishes: {} bytes in {} tiles",
            cons_bytes.bytes.get(),
            cons_bytes.files.get()
        );

        // Verification CPU: the timestamp (2 signatures + consistency) and 200 files, from
        // prefetched bytes (no I/O).
        let reps = 20;
        let t = Instant::now();
        for _ in 0..reps {
            let mut f = |p: &str, _l: usize| Ok(prefetched.get(p).cloned());
            for &i in &picks {
                snap.verify_file(&mut f, &index_path(i), Some(&line(i)))
                    .expect("verify");
            }
        }
        let files_ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
        let t = Instant::now();
        for _ in 0..reps {
            let zero = Counter::default();
            let mut f = fetcher(&store, &zero, None);
            let policy = Policy {
                now: T0 + 1000,
                allow_expired: false,
            };
            client::check(
                Some(&seen_state),
                &ts,
                std::slice::from_ref(&pk),
                &[],
                &policy,
                &mut f,
            )
            .expect("accept");
        }
        let ts_ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
        println!(
            "  verification CPU: 200 files {files_ms:.2} ms, timestamp with consistency proof {ts_ms:.2} ms"
        );
    }
    if let (Some((a, ca)), Some((b, cb))) = (publish_us.first(), publish_us.last()) {
        println!(
            "\npublish cost ratio {b} / {a} bundles: {:.2} (goal <= 1.5)",
            cb / ca
        );
    }
}
