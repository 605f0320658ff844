//! Where the writer reads and writes catalog files: a trait, so that `ratchet-index` can plug
//! in its registry directory (under its lock) and tests and benchmarks an in-memory map.

use crate::CatalogError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Reads and writes files of a registry, by path relative to its root (`catalog/root.json`).
pub trait CatalogStore {
    /// The file's bytes, `Ok(None)` when it does not exist; a file longer than `limit` bytes is
    /// [`CatalogError::TooLarge`] (the store reads at most `limit + 1` bytes).
    fn read(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, CatalogError>;
    /// Replaces the file (atomically: readers see the old or the new bytes).
    fn write(&mut self, path: &str, bytes: &[u8]) -> Result<(), CatalogError>;
    /// Removes the file; a missing file is not an error.
    fn remove(&mut self, path: &str) -> Result<(), CatalogError>;
    /// Every file whose path starts with `prefix`, sorted (used by rebuild and verify only).
    fn list(&self, prefix: &str) -> Result<Vec<String>, CatalogError>;
}

/// A store in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemStore {
    /// Path -> bytes.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl CatalogStore for MemStore {
    fn read(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, CatalogError> {
        match self.files.get(path) {
            None => Ok(None),
            Some(b) if b.len() as u64 > limit => Err(CatalogError::TooLarge {
                file: path.to_string(),
                limit,
            }),
            Some(b) => Ok(Some(b.clone())),
        }
    }
    fn write(&mut self, path: &str, bytes: &[u8]) -> Result<(), CatalogError> {
        self.files.insert(path.to_string(), bytes.to_vec());
        Ok(())
    }
    fn remove(&mut self, path: &str) -> Result<(), CatalogError> {
        self.files.remove(path);
        Ok(())
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>, CatalogError> {
        Ok(self
            .files
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect())
    }
}

/// A registry directory. Writes are temporary file + rename; `durable` adds an fsync per file
/// (a rebuild writes unsynced and calls [`DirStore::sync`] once at the end).
#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
    durable: bool,
}

impl DirStore {
    /// A store over the registry at `root`.
    pub fn new(root: &Path, durable: bool) -> Self {
        DirStore {
            root: root.to_path_buf(),
            durable,
        }
    }

    /// Flushes everything written to disk.
    pub fn sync(&self) -> Result<(), CatalogError> {
        ratchet_formats::fsutil::sync_filesystem(&self.root).map_err(|source| CatalogError::Write {
            file: self.root.display().to_string(),
            source,
        })
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

impl CatalogStore for DirStore {
    fn read(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, CatalogError> {
        match ratchet_formats::fsutil::read_at_most(&self.path(path), limit) {
            Ok(b) if b.len() as u64 > limit => Err(CatalogError::TooLarge {
                file: path.to_string(),
                limit,
            }),
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CatalogError::Fetch {
                file: path.to_string(),
                message: e.to_string(),
            }),
        }
    }
    fn write(&mut self, path: &str, bytes: &[u8]) -> Result<(), CatalogError> {
        let p = self.path(path);
        let r = if self.durable {
            ratchet_formats::fsutil::write_atomic(&p, bytes)
        } else {
            ratchet_formats::fsutil::write_atomic_unsynced(&p, bytes)
        };
        r.map_err(|source| CatalogError::Write {
            file: path.to_string(),
            source,
        })
    }
    fn remove(&mut self, path: &str) -> Result<(), CatalogError> {
        match std::fs::remove_file(self.path(path)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(CatalogError::Write {
                file: path.to_string(),
                source: e,
            }),
            _ => Ok(()),
        }
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>, CatalogError> {
        // Walk the directory part of the prefix.
        let dir = match prefix.rfind('/') {
            Some(i) => &prefix[..i],
            None => "",
        };
        let mut out = Vec::new();
        let mut stack = vec![self.path(dir)];
        while let Some(d) = stack.pop() {
            let rd = match std::fs::read_dir(&d) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(CatalogError::Fetch {
                        file: d.display().to_string(),
                        message: e.to_string(),
                    });
                }
            };
            for entry in rd.flatten() {
                let p = entry.path();
                let Ok(ft) = entry.file_type() else { continue };
                if ft.is_dir() {
                    stack.push(p);
                } else if ft.is_file() {
                    let rel = ratchet_formats::fsutil::rel_display(&self.root, &p);
                    if rel.starts_with(prefix)
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with(".tmp-"))
                    {
                        out.push(rel);
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }
}
