//! A generated registry of signed bundles in a layered graph, for the registry benchmark
//! (`benches/registry.rs`) and the tests that install a graph of hundreds of bundles
//! (`tests/static_hosts.rs`). Shared by `#[path]`, so the two measure and check the same kind
//! of registry.
#![allow(dead_code)]

use ratchet_formats::archive::{BuildOptions, build_archive};
use ratchet_formats::index::{
    IndexLine, RegistryConfig, RegistryKind, archive_path, index_path, meta_path,
};
use ratchet_formats::manifest::load_manifest;
use std::path::Path;

/// Writes a registry whose graph has `depth` levels below one root, `n` bundles in all; every
/// bundle of a level is a dependency of some bundle of the level above. Returns the root id and total bytes of
/// the archives.
pub fn generate(dir: &Path, n: usize, depth: usize) -> (String, u64) {
    let per_level = (n - 1).div_ceil(depth);
    let mut widths = vec![1];
    let mut count = 1;
    for _ in 1..=depth {
        let k = per_level.min(n - count);
        widths.push(k);
        count += k;
    }
    generate_levels(dir, &widths, 0)
}

/// The bundles of [`generate_levels`]: level by level, each bundle with its dependencies (ids
/// of the next level). Level 0 is the root alone.
pub fn level_graph(widths: &[usize], extra: usize) -> Vec<Vec<(String, Vec<String>)>> {
    let mut levels: Vec<Vec<String>> = vec![vec!["com.bench.root".to_string()]];
    for (l, &k) in widths.iter().enumerate().skip(1) {
        levels.push((0..k).map(|i| format!("com.bench.l{l}-b{i}")).collect());
    }
    levels
        .iter()
        .enumerate()
        .map(|(l, ids)| {
            ids.iter()
                .enumerate()
                .map(|(i, id)| {
                    let deps: Vec<String> = match levels.get(l + 1) {
                        Some(next) if !next.is_empty() => {
                            // Every bundle of the next level is needed by someone; one more
                            // edge each, and `extra` more spread over the level.
                            let mut d: Vec<&String> = next
                                .iter()
                                .enumerate()
                                .filter(|(k, _)| k % ids.len() == i)
                                .map(|(_, x)| x)
                                .collect();
                            for j in 0..=extra {
                                let x = &next[(i + 1 + j * 7 + i * j * 13) % next.len()];
                                if !d.contains(&x) {
                                    d.push(x);
                                }
                            }
                            d.into_iter().cloned().collect()
                        }
                        _ => Vec::new(),
                    };
                    (id.clone(), deps)
                })
                .collect()
        })
        .collect()
}

/// Writes a registry whose graph has `widths[l]` bundles on level `l` (`widths[0]` is the
/// root, 1): every bundle of a level is a dependency of some bundle of the level above, which
/// also needs `1 + extra` more of the next level. Breadth-first depth `widths.len() - 1`.
/// Returns the root id and the total bytes of the archives.
pub fn generate_levels(dir: &Path, widths: &[usize], extra: usize) -> (String, u64) {
    use ratchet_formats::archive::{Limits, read_archive, sha256_hex, with_signature};
    use ratchet_trust::{SecretKey, bundle_sig::sign_archive, owners::OwnerChain};
    std::fs::create_dir_all(dir).unwrap();
    let kp = ratchet_trust::keys::generate(&dir.join(".keys"), "bench", None).unwrap();
    let sk = SecretKey::load(&kp.secret).unwrap();
    let mut config = RegistryConfig::new("bench", RegistryKind::Local);
    // As `ratchet-index init` writes it: metadata in the index files (§6.3.1).
    config.meta_in_index = true;
    std::fs::write(dir.join("config.json"), config.to_json()).unwrap();
    let graph = level_graph(widths, extra);
    let src = dir.join(".src");
    let mut names = String::new();
    let mut total = 0;
    let wat = "(module (memory (export \"memory\") 1) (func (export \"_start\")))";
    let wasm = wat::parse_str(wat).unwrap();
    let mut all_lines = std::collections::HashMap::new();
    for level in &graph {
        for (id, deps) in level {
            let mut yaml = format!(
                "bundle:\n  id: {id}\n  name: Bench\n  version: 1.0.0\n  description: generated\n  license: MIT\n"
            );
            if !deps.is_empty() {
                yaml.push_str("  dependencies:\n");
                for d in deps {
                    yaml.push_str(&format!("    - bundle_id: {d}\n      version: ^1.0\n"));
                }
            }
            yaml.push_str("  contents:\n    tasks:\n      - path: tasks/t\n");
            let b = src.join(id);
            std::fs::create_dir_all(b.join("tasks/t")).unwrap();
            std::fs::write(b.join("bundle.yaml"), yaml).unwrap();
            std::fs::write(b.join("tasks/t/main.wasm"), &wasm).unwrap();
            std::fs::write(
                b.join("tasks/t/metadata.json"),
                r#"{"version": "1.0.0", "description": "t"}"#,
            )
            .unwrap();
            let m = load_manifest(&b).unwrap();
            let out = src.join(format!("{id}.rbundle"));
            build_archive(&b, &m, &out, &BuildOptions::default()).unwrap();
            let unsigned = std::fs::read(&out).unwrap();
            let a = read_archive(&unsigned[..], &Limits::default()).unwrap();
            let sig = sign_archive(&a, &sk).unwrap();
            let bytes =
                with_signature(&unsigned, Some(sig.as_bytes()), &Limits::default()).unwrap();
            let sha = sha256_hex(&bytes);
            let dest = dir.join(archive_path(&sha));
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::write(&dest, &bytes).unwrap();
            total += bytes.len() as u64;
            let mut line =
                IndexLine::from_manifest(&m, &sha, bytes.len() as u64, "2026-01-01T00:00:00Z");
            line.signer = Some(sk.public().key_id());
            let mut meta = ratchet_formats::index::BundleMeta::new(m.id.clone());
            OwnerChain::genesis(id, &[sk.public().clone()]).store(&mut meta);
            let mp = dir.join(meta_path(&m.id));
            std::fs::create_dir_all(mp.parent().unwrap()).unwrap();
            std::fs::write(mp, serde_json::to_vec(&meta).unwrap()).unwrap();
            all_lines.insert(m.id.clone(), line.clone());
            let ip = dir.join(index_path(&m.id));
            std::fs::create_dir_all(ip.parent().unwrap()).unwrap();
            std::fs::write(
                ip,
                ratchet_formats::index::with_meta_line(line.to_line().as_bytes(), Some(&meta)),
            )
            .unwrap();
            names.push_str(id);
            names.push('\n');
        }
    }
    // The prefetch hints a publish writes (index-format.md §6.5.1).
    for (id, line) in &all_lines {
        let lines = [line.clone()];
        let hint = ratchet_formats::index::prefetch::compute(id, &lines, |d| {
            all_lines.get(d).map(|l| vec![l.clone()])
        });
        if let Some(h) = hint {
            let p = dir.join(ratchet_formats::index::prefetch_path(id));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, h.to_json()).unwrap();
        }
    }
    std::fs::write(dir.join("names.txt"), names).unwrap();
    std::fs::remove_dir_all(&src).unwrap();
    std::fs::remove_dir_all(dir.join(".keys")).unwrap();
    (graph[0][0].0.clone(), total)
}

/// Removes the prefetch hints of a registry [`generate_levels`] wrote, leaving it as a registry
/// written before hints existed: a client then discovers the graph one level per round trip.
pub fn strip_hints(dir: &Path) {
    std::fs::remove_dir_all(dir.join(ratchet_formats::index::PREFETCH_DIR)).unwrap();
}

/// Installs `root` from `src` into a fresh `home` as `ratchet bundle install -y` does (its
/// first wave with `config.json`, archives prepared while resolving); returns the number of
/// bundles the plan installed.
pub fn install_prepared(
    home: &Path,
    src: ratchet_client::registry::RegistrySource,
    root: &str,
) -> usize {
    use ratchet_client::install::{ApplyOptions, Client, PlanRequest, apply, parse_spec, plan};
    let req = PlanRequest {
        add: vec![parse_spec(root).unwrap()],
        ..Default::default()
    };
    let ids = req.add.iter().map(|(id, _)| id.clone()).collect();
    let paths = ratchet_client::paths::Paths::under(home.to_path_buf());
    let mut c = Client::open_prefetching(paths, src, false, &ids).unwrap();
    c.prepare_while_resolving(false);
    let p = plan(&mut c, &req).unwrap();
    apply(&c, &p, &ApplyOptions::default()).unwrap();
    p.bundles.len()
}
