//! `ratchet-fuzz-entry`: the body of every fuzz target, written once.
//!
//! Every reader of hostile input (a bundle's files, a registry's files, the client's own state,
//! a task's host-call requests) has one function here that feeds it arbitrary bytes and checks
//! the invariants that matter: no panic, output bounded by the input, and where a writer
//! exists, that what it writes reads back the same (`parse(write(parse(x))) == parse(x)`).
//!
//! The cargo-fuzz targets in `fuzz/fuzz_targets/` are one-line wrappers around [`TARGETS`]'s
//! functions (built on nightly with sanitizer coverage), and `tests/replay.rs` feeds every file
//! of `fuzz/corpus/<target>/` to the same function on the stable toolchain, so CI replays the
//! corpus with `cargo test --workspace`. A failed invariant panics, which is what both the
//! fuzzer and the test harness report.
//!
//! The sandbox crate is left out on purpose: it pulls in wasmer and the JavaScript engine,
//! which would make an instrumented build take far longer than the fuzzing itself. What the
//! sandbox decodes from a guest lives in `ratchet_formats::hostcall` for that reason.

use ratchet_client::install::state::{InstalledState, Lockfile};
use ratchet_client::registry::{ClientConfig, Credentials};
use ratchet_formats::archive::{
    Limits, parse_checksum_list, parse_resolved_manifest, read_archive_unparsed,
};
use ratchet_formats::index::{BundleMeta, IndexFile, NamesFile, ParsedLine, RegistryConfig};
use ratchet_formats::manifest::{ManifestFile, depth, parse_manifest};
use ratchet_formats::task::{TaskMetadata, TaskTest, parse_json};
use ratchet_formats::workflow::{parse_workflow, resolve};
use ratchet_trust::owners::OwnerChain;
use std::io::Write;
use std::path::Path;

/// The body of a fuzz target: feeds one input, panics when an invariant fails.
pub type Body = fn(&[u8]);

/// Every target: its name (the directory of its corpus and its cargo-fuzz binary) and its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("manifest", manifest),
    ("resolved_manifest", resolved_manifest),
    ("task_metadata", task_metadata),
    ("index_lines", index_lines),
    ("meta", meta),
    ("config", config),
    ("names", names),
    ("archive", archive),
    ("bundle_sig", bundle_sig),
    ("lockfile", lockfile),
    ("registries", registries),
    ("workflow", workflow),
    ("hostcall", hostcall),
];

/// Error text may quote the input, but never much more than it: a reader whose message grows
/// faster than its input (the 400 MB error of issue 13) fails here.
fn assert_bounded(what: &str, message: &str, input_len: usize) {
    let bound = 4 * input_len + 16 * 1024;
    assert!(
        message.len() <= bound,
        "{what}: a {input_len}-byte input gave a {}-byte message",
        message.len()
    );
}

/// The writer uses block style, which the depth pre-scan counts deeper than the flow style a
/// near-limit input may use: such a document is not expected to read back.
fn written_too_deep(yaml: &str) -> bool {
    depth::too_deep(yaml, depth::MAX_NESTING_DEPTH).is_some()
}

/// `bundle.yaml`: [`parse_manifest`]; an accepted manifest written back as YAML parses to the
/// same manifest.
pub fn manifest(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_manifest(text, "bundle.yaml") {
        Ok(m) => {
            let file = ManifestFile { bundle: m.clone() };
            let yaml = serde_norway::to_string(&file).expect("a parsed manifest serializes");
            if written_too_deep(&yaml) {
                return;
            }
            let again = parse_manifest(&yaml, "bundle.yaml")
                .unwrap_or_else(|d| panic!("written manifest does not parse: {d:?}\n{yaml}"));
            assert_eq!(again, m, "manifest round trip");
        }
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty(), "a refused manifest says why");
            let all: usize = diagnostics.iter().map(|d| d.to_string().len()).sum();
            assert!(
                all <= 64 * data.len() + 64 * 1024,
                "bundle.yaml: {} bytes of diagnostics for {} bytes",
                all,
                data.len()
            );
        }
    }
}

/// An archive's `.bundle/manifest.json` (the archive target rarely reaches it: a mutated
/// archive fails its checksums first); an accepted one written back reads the same.
pub fn resolved_manifest(data: &[u8]) {
    match parse_resolved_manifest(data) {
        Ok(m) => {
            let json = serde_json::to_vec(&m).expect("a resolved manifest serializes");
            let again = parse_resolved_manifest(&json).expect("written manifest.json parses");
            assert_eq!(again, m, "manifest.json round trip");
        }
        Err(e) => assert_bounded("manifest.json", &e.to_string(), data.len()),
    }
}

/// A task's `metadata.json` and test case (`tests/*.json`): both models; both round-trip.
pub fn task_metadata(data: &[u8]) {
    let path = Path::new("metadata.json");
    match parse_json::<TaskMetadata>(data, path) {
        Ok(m) => {
            let json = serde_json::to_vec(&m).expect("metadata serializes");
            let again: TaskMetadata = parse_json(&json, path).expect("written metadata parses");
            assert_eq!(again, m, "metadata.json round trip");
        }
        Err(e) => assert_bounded("metadata.json", &e.to_string(), data.len()),
    }
    let test_path = Path::new("tests/t.json");
    match parse_json::<TaskTest>(data, test_path) {
        // Every form (expected_output, expected_error, expected/should_fail) is written back
        // in its own form and reads the same.
        Ok(t) => {
            let json = serde_json::to_vec(&t).expect("test case serializes");
            let again: TaskTest = parse_json(&json, test_path).expect("written test parses");
            assert_eq!(again, t, "test case round trip");
        }
        Err(e) => assert_bounded("test case", &e.to_string(), data.len()),
    }
    // The per-file reader used by `bundle test` and `validate`: never panics, bounded errors.
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data)
        && let Err(e) = ratchet_formats::task::parse_test_value(v, test_path)
    {
        assert_bounded("test case", &e.to_string(), data.len());
    }
}

/// Index file bytes: one parsed line per input line; every understood line written back
/// ([`ratchet_formats::index::IndexLine::to_line`]) parses to itself.
pub fn index_lines(data: &[u8]) {
    let file = IndexFile::parse(data, "index/co/m./com.a.b", None);
    let newlines = data.iter().filter(|&&b| b == b'\n').count();
    assert!(
        file.lines.len() <= newlines + 1,
        "more lines than the input has"
    );
    for (n, line) in &file.lines {
        match line {
            ParsedLine::Version(v) => {
                let text = v.to_line();
                let again = IndexFile::parse(text.as_bytes(), "again", Some(&v.id));
                match again.lines.as_slice() {
                    [(1, ParsedLine::Version(w))] => assert_eq!(w, v, "index line round trip"),
                    other => panic!("line {n} written back as {text:?} reads as {other:?}"),
                }
            }
            ParsedLine::Bad(p) => assert_bounded("index line", &p.to_string(), data.len()),
            ParsedLine::Skipped { .. } => {}
        }
    }
}

/// A bundle's metadata file, with the owner chain and attestations it may hold (the records
/// trust decisions are made from).
pub fn meta(data: &[u8]) {
    let m = match BundleMeta::parse(data, "meta.json") {
        Ok(m) => m,
        Err(e) => return assert_bounded("meta", &e.to_string(), data.len()),
    };
    let again = BundleMeta::parse(m.to_json().as_bytes(), "again").expect("written meta parses");
    assert_eq!(again, m, "meta round trip");
    match OwnerChain::from_meta(&m, "meta.json") {
        Ok(Some(chain)) => {
            if let Err(e) = chain.verify(m.id.as_str()) {
                assert_bounded("owners", &e.to_string(), data.len());
            }
        }
        Ok(None) => {}
        Err(e) => assert_bounded("owners", &e.to_string(), data.len()),
    }
    if let Err(e) = ratchet_trust::attest::from_meta(&m, "meta.json") {
        assert_bounded("attestations", &e.to_string(), data.len());
    }
}

/// A registry's `config.json`, and the verifier keys it names.
pub fn config(data: &[u8]) {
    let cfg = match RegistryConfig::parse(data, "config.json") {
        Ok(c) => c,
        Err(e) => return assert_bounded("config.json", &e.to_string(), data.len()),
    };
    let again = RegistryConfig::parse(cfg.to_json().as_bytes(), "again")
        .expect("written config.json parses");
    assert_eq!(again, cfg, "config.json round trip");
    let _ = cfg.download_url(&"0".repeat(64));
    let (_keys, problems) = ratchet_trust::attest::verifier_keys(&cfg);
    for p in problems {
        assert_bounded("verifier key", &p.to_string(), data.len());
    }
}

/// `names.txt`: ids in order, problems, the torn tail; "did you mean" over what was read.
pub fn names(data: &[u8]) {
    let f = NamesFile::parse(data, "names.txt");
    let newlines = data.iter().filter(|&&b| b == b'\n').count();
    assert!(f.ids.len() + f.problems.len() <= newlines);
    if let Some(first) = f.ids.first() {
        let word = format!("{}x", first.as_str());
        let _ = f.suggest(&word);
    }
    let _ = f.suggest(&String::from_utf8_lossy(&data[..data.len().min(64)]));
}

/// The archive reader with the default limits. Input that is not gzip is taken as the tar
/// stream and compressed first, so the fuzzer mutates tar headers rather than deflate blocks.
pub fn archive(data: &[u8]) {
    let gz;
    let bytes = if data.starts_with(&[0x1f, 0x8b]) {
        data
    } else {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).expect("gzip to memory");
        gz = enc.finish().expect("gzip to memory");
        &gz
    };
    let checked = match read_archive_unparsed(bytes, &Limits::default()) {
        Ok(c) => c,
        Err(e) => return assert_bounded("archive", &e.to_string(), data.len()),
    };
    let list = parse_checksum_list(checked.checksum_list()).expect("a checked list parses");
    if let Some(sig) = checked.signature() {
        let _ = ratchet_trust::bundle_sig::parse_sig(sig, "bundle.sig");
    }
    match checked.parse_manifest() {
        Ok(a) => {
            assert!(a.files.len() > list.len(), "every listed file is held");
            let size: usize = a.files.values().map(Vec::len).sum();
            assert!(size as u64 <= Limits::default().max_unpacked_bytes);
        }
        Err(e) => assert_bounded("archive manifest", &e.to_string(), data.len()),
    }
}

/// `bundle.sig` (minisign text).
pub fn bundle_sig(data: &[u8]) {
    match ratchet_trust::bundle_sig::parse_sig(data, "bundle.sig") {
        Ok(sig) => assert!(sig.trusted_comment.len() <= data.len()),
        Err(e) => assert_bounded("bundle.sig", &e.to_string(), data.len()),
    }
}

/// `installed.json` and `ratchet.lock`; both round-trip, and the lockfile derived from a state
/// reads back.
pub fn lockfile(data: &[u8]) {
    let p = Path::new("ratchet.lock");
    match Lockfile::parse(data, p) {
        Ok(l) => {
            let json = serde_json::to_vec(&l).expect("lockfile serializes");
            assert_eq!(
                Lockfile::parse(&json, p).expect("written lockfile parses"),
                l
            );
        }
        Err(e) => assert_bounded("ratchet.lock", &e.to_string(), data.len()),
    }
    let p = Path::new("installed.json");
    match InstalledState::parse(data, p) {
        Ok(s) => {
            let json = serde_json::to_vec(&s).expect("state serializes");
            assert_eq!(
                InstalledState::parse(&json, p).expect("written state parses"),
                s
            );
            let lock = serde_json::to_vec(&s.lockfile()).expect("lockfile serializes");
            Lockfile::parse(&lock, p).expect("derived lockfile parses");
        }
        Err(e) => assert_bounded("installed.json", &e.to_string(), data.len()),
    }
}

/// `registries.json` and `credentials.json`. A credentials error never quotes the file (it
/// holds secrets).
pub fn registries(data: &[u8]) {
    let p = Path::new("registries.json");
    match ClientConfig::parse(data, p) {
        Ok(c) => {
            let json = serde_json::to_vec(&c).expect("config serializes");
            assert_eq!(
                ClientConfig::parse(&json, p).expect("written config parses"),
                c
            );
        }
        Err(e) => assert_bounded("registries.json", &e.to_string(), data.len()),
    }
    let p = Path::new("credentials.json");
    match Credentials::parse(data, p) {
        Ok(c) => {
            let json = serde_json::to_vec(&c).expect("credentials serialize");
            let again = Credentials::parse(&json, p).expect("written credentials parse");
            assert!(again.secrets.keys().eq(c.secrets.keys()));
        }
        Err(e) => {
            let m = e.to_string();
            assert!(
                m.len() < 200 + p.as_os_str().len(),
                "credentials error: {m}"
            );
        }
    }
}

/// A workflow file: parse, write back, parse again; every template resolves or says why.
pub fn workflow(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let wf = match parse_workflow(text) {
        Ok(w) => w,
        Err(e) => return assert_bounded("workflow", &e.message, data.len()),
    };
    let yaml = serde_norway::to_string(&serde_json::json!({ "workflow": &wf }))
        .expect("workflow serializes");
    if written_too_deep(&yaml) {
        return;
    }
    let again = parse_workflow(&yaml)
        .unwrap_or_else(|e| panic!("written workflow does not parse: {e:?}\n{yaml}"));
    assert_eq!(again, wf, "workflow round trip");
    let scope = serde_json::json!({"input": {"a": [1, "two"]}, "steps": {}});
    for step in &wf.steps {
        if let Some(input) = &step.input
            && let Ok(v) = resolve(input, &scope)
        {
            // Resolving substitutes values already held: it cannot grow without bound.
            let out = serde_json::to_string(&v).expect("value serializes");
            assert_bounded("workflow resolve", &out, data.len());
        }
    }
}

/// The host-call decoder: the bytes a guest passes to `ratchet.fetch` and `ratchet.command`.
pub fn hostcall(data: &[u8]) {
    use ratchet_formats::hostcall::{decode_command, decode_fetch};
    match decode_fetch(data) {
        Ok(r) => assert!(r.url.len() <= data.len()),
        Err(m) => assert_bounded("fetch request", &m, data.len()),
    }
    match decode_command(data) {
        Ok(r) => assert!(r.args.iter().map(String::len).sum::<usize>() <= data.len()),
        Err(m) => assert_bounded("command request", &m, data.len()),
    }
}
