//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the same entry points
//! as the cargo-fuzz targets, on the stable toolchain: every input that once crashed a reader,
//! and every input that reached new code, keeps being checked by `cargo test --workspace`.

use std::path::PathBuf;

fn corpus_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

#[test]
fn every_target_has_a_corpus_and_every_input_passes() {
    let root = corpus_root();
    let mut total = 0;
    for (name, body) in ratchet_fuzz_entry::TARGETS {
        let dir = root.join(name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("corpus entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{}: empty corpus", dir.display());
        for f in &files {
            let data = std::fs::read(f).expect("corpus file");
            let outcome = std::panic::catch_unwind(|| body(&data));
            assert!(outcome.is_ok(), "{name}: {} fails", f.display());
        }
        total += files.len();
    }
    eprintln!("replayed {total} corpus inputs");
}

#[test]
fn every_target_has_a_fuzz_binary() {
    let targets = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    for (name, _) in ratchet_fuzz_entry::TARGETS {
        let f = targets.join(format!("{name}.rs"));
        let src = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(
            src.contains(&format!("ratchet_fuzz_entry::{name}(")),
            "{} does not call ratchet_fuzz_entry::{name}",
            f.display()
        );
    }
}
