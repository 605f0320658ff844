//! Helpers shared by the registry tests: real bundles built into real archives, and the system
//! tools tests need (`tests/common/tools.rs`, shared with the root package's tests: a missing
//! tool fails its tests unless `RATCHET_TEST_SKIP` opts its group out).
#![allow(dead_code)]

#[path = "../../../tests/common/tools.rs"]
mod tools;
// No index-tools test needs a system tool yet; the helpers are here for the first that does.
#[allow(unused_imports)]
pub use tools::*;

use ratchet_formats::archive::{BuildOptions, archive_file_name, build_archive};
use ratchet_publish::Registry;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Publish time used by tests.
pub const TIME: &str = "2026-01-01T00:00:00Z";

/// Creates a valid bundle `id` `version` depending on `deps` (id, requirement) under `work`,
/// and builds its archive into `work/out/`. `edit` may change the bundle directory before the
/// build (to make it invalid, say).
pub fn archive_with(
    work: &Path,
    id: &str,
    version: &str,
    deps: &[(&str, &str)],
    edit: impl FnOnce(&Path),
) -> PathBuf {
    let src = work.join(format!("src/{id}-{version}"));
    ratchet_validate::scaffold::init_bundle(&src, Some(id)).unwrap();
    let yaml_path = src.join("bundle.yaml");
    let mut yaml = std::fs::read_to_string(&yaml_path)
        .unwrap()
        .replace("version: \"0.1.0\"", &format!("version: \"{version}\""));
    if !deps.is_empty() {
        let mut block = String::from("  dependencies:\n");
        for (d, req) in deps {
            block.push_str(&format!(
                "    - bundle_id: \"{d}\"\n      version: \"{req}\"\n"
            ));
        }
        yaml = yaml.replace("  requirements:\n", &format!("{block}  requirements:\n"));
    }
    std::fs::write(&yaml_path, yaml).unwrap();
    edit(&src);
    let m = match ratchet_formats::manifest::load_manifest(&src) {
        Ok(m) => m,
        Err(d) => panic!("{d:?}"),
    };
    let out = work.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let path = out.join(archive_file_name(&m));
    build_archive(&src, &m, &path, &BuildOptions::default()).unwrap();
    path
}

/// A valid archive.
pub fn archive(work: &Path, id: &str, version: &str, deps: &[(&str, &str)]) -> PathBuf {
    archive_with(work, id, version, deps, |_| {})
}

/// A new, empty registry in `work/reg`.
pub fn registry(work: &Path) -> Registry {
    Registry::init(
        &work.join("reg"),
        "test",
        ratchet_formats::index::RegistryKind::Local,
        None,
    )
    .unwrap()
}

/// Every file of a directory (but the lock file) with its bytes.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if e.file_name() != ratchet_formats::index::LOCK_FILE {
                out.insert(
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// Asserts that verify finds no error, printing what it found otherwise.
pub fn assert_consistent(reg: &Registry) -> ratchet_publish::VerifyReport {
    let r = reg.verify();
    assert!(
        r.is_ok(),
        "verify failed:\n{}",
        r.diagnostics
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    r
}
