//! What `ratchet bundle check` needs from a registry (`index-format.md` §16.4): its security
//! advisories and the checked bundle's dependencies, resolved as an install would resolve them
//! today (newest unyanked versions that satisfy every requirement, PubGrub).
//!
//! Only local registries (a directory or `file://`) are read here: a verifier checks what it
//! holds, and a remote registry is mirrored first (`ratchet-index mirror`).

use crate::resolver::{Candidate, Resolution, ResolveError, ResolveOptions, resolve};
use ratchet_formats::index::{IndexFile, index_path};
use ratchet_formats::manifest::{BundleId, Manifest};
use ratchet_quality::advisory::GraphBundle;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;

/// Most index files read for one resolution (a hostile dependency web cannot make it endless).
pub const MAX_INDEX_FILES: usize = 10_000;

/// Why the dependencies could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum CheckContextError {
    /// An index file of the registry does not read.
    #[error("{file}: {message}")]
    Index {
        /// The file.
        file: String,
        /// Why.
        message: String,
    },
    /// Resolution failed.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// More than [`MAX_INDEX_FILES`] bundles are involved.
    #[error("more than {MAX_INDEX_FILES} bundles in the dependency graph")]
    TooLarge,
}

/// Resolves `m`'s dependencies against the registry directory `registry`: every resolved
/// bundle with its version and the dependency path that reaches it from `m`.
pub fn resolve_in_dir(
    registry: &Path,
    m: &Manifest,
    opts: &ResolveOptions,
) -> Result<Vec<GraphBundle>, CheckContextError> {
    let roots: Vec<_> = m
        .dependencies
        .iter()
        .map(|d| (d.bundle_id.clone(), d.version.clone()))
        .collect();
    if roots.is_empty() {
        return Ok(Vec::new());
    }
    let mut source: HashMap<BundleId, Vec<Candidate>> = HashMap::new();
    let graph = loop {
        match resolve(&roots, &source, opts)? {
            Resolution::Done(g) => break g,
            Resolution::NeedIndex(ids) => {
                for id in ids {
                    if source.len() >= MAX_INDEX_FILES {
                        return Err(CheckContextError::TooLarge);
                    }
                    let rel = index_path(&id);
                    let path = registry.join(&rel);
                    let list = if path.is_file() {
                        let f = IndexFile::load(&path, Some(&id)).map_err(|e| {
                            CheckContextError::Index {
                                file: rel.clone(),
                                message: e.to_string(),
                            }
                        })?;
                        f.versions().map(Candidate::from).collect()
                    } else {
                        Vec::new()
                    };
                    source.insert(id, list);
                }
            }
        }
    };
    // Shortest dependency path to each bundle, breadth first from the checked bundle.
    let root = m.id.to_string();
    let mut path_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut queue = VecDeque::new();
    for (id, _) in &roots {
        if !path_of.contains_key(id.as_str()) {
            path_of.insert(id.to_string(), vec![root.clone(), id.to_string()]);
            queue.push_back(id.clone());
        }
    }
    while let Some(id) = queue.pop_front() {
        let base = path_of[id.as_str()].clone();
        for e in graph.dependencies_of(&id) {
            if !path_of.contains_key(e.to.as_str()) {
                let mut p = base.clone();
                p.push(e.to.to_string());
                path_of.insert(e.to.to_string(), p);
                queue.push_back(e.to.clone());
            }
        }
    }
    Ok(graph
        .nodes
        .values()
        .map(|n| GraphBundle {
            id: n.id.to_string(),
            version: n.version.to_string(),
            path: path_of
                .get(n.id.as_str())
                .cloned()
                .unwrap_or_else(|| vec![root.clone(), n.id.to_string()]),
        })
        .collect())
}
