//! Air-gapped transfer (index-format.md §6.11): `ratchet bundle vendor` packs the bundles a
//! lockfile names into one tar file that is itself a registry directory, and `ratchet registry
//! add NAME FILE.tar` unpacks such a file and registers it.
//!
//! Why a registry and not a bespoke bundle list: the other side then installs with the usual
//! command and every usual check (archive hash and size, author signature against the owner
//! chain, the line against the signed manifest), and `--locked` gets exactly the same bytes.
//! Each bundle's archive, its locked index line (only that one: the other versions' archives
//! are not in the file) and its metadata file (owner chain, attestations, deprecation) are
//! copied, after the archive passed every install-time check here too, so a tampered cache or
//! registry is refused before anything is packed. The signed snapshot of the source registry
//! (§9) covers the whole registry and cannot vouch for a subset; it is checked when the files
//! are read here and not carried over.

use crate::install::{Client, InstallError, Lockfile};
use crate::paths::Paths;
use crate::registry::RegistrySource;
use crate::verify::{PinStore, TrustInputs, verify_for_install};
use ratchet_formats::index::{
    ARCHIVES_DIR, BundleMeta, CONFIG_FILE, INDEX_DIR, IndexLine, META_DIR, NAMES_FILE,
    RegistryConfig, RegistryKind, archive_path, index_path, meta_path,
};
use ratchet_formats::manifest::BundleId;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// Why vendoring or unpacking failed.
#[derive(Debug, thiserror::Error)]
pub enum VendorError {
    /// Opening a registry, fetching or reading the lockfile failed.
    #[error(transparent)]
    Install(#[from] InstallError),
    /// A locked version is not in its registry's index.
    #[error("{id} {version} (locked) is not in registry {registry}")]
    NotInRegistry {
        /// The bundle.
        id: String,
        /// The locked version.
        version: String,
        /// The registry.
        registry: String,
    },
    /// The registry's line disagrees with the lockfile.
    #[error(
        "{id} {version}: registry {registry} has sha256 {found}, the lockfile says {locked}; refusing to pack it"
    )]
    LockMismatch {
        /// The bundle.
        id: String,
        /// The version.
        version: String,
        /// The registry.
        registry: String,
        /// The registry's hash.
        found: String,
        /// The lockfile's hash.
        locked: String,
    },
    /// An archive failed a check.
    #[error("{id} {version}: {source}")]
    Trust {
        /// The bundle.
        id: String,
        /// The version.
        version: String,
        /// The check that failed.
        source: Box<ratchet_trust::TrustError>,
    },
    /// The lockfile names no bundle.
    #[error("{}: the lockfile names no bundle; nothing to vendor", path.display())]
    Empty {
        /// The lockfile.
        path: PathBuf,
    },
    /// A file cannot be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The tar file is not a vendored registry.
    #[error("{}: {problem}", path.display())]
    BadTar {
        /// The tar file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> VendorError + '_ {
    move |source| VendorError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What [`vendor`] packed.
#[derive(Debug, Clone)]
pub struct Vendored {
    /// The bundles, with their locked lines.
    pub bundles: Vec<IndexLine>,
    /// Bytes of archives packed.
    pub archive_bytes: u64,
    /// Size of the tar file.
    pub tar_bytes: u64,
}

/// Largest tar file [`unpack`] accepts (4 GiB) and largest single file in it (1 GiB).
const MAX_TAR: u64 = 4 << 30;
const MAX_ENTRY: u64 = 1 << 30;

/// Packs every bundle of `lockfile` into `out` (a tar file that is a registry directory):
/// fetches each locked line, metadata file and archive from the registry the lockfile names
/// (through the cache), checks each archive as an install would, then writes the tar
/// atomically. `allow_unsigned` lets unsigned bundles of local registries through, as at
/// install.
pub fn vendor(
    paths: &Paths,
    lockfile: &Path,
    out: &Path,
    offline: bool,
    allow_unsigned: bool,
) -> Result<Vendored, VendorError> {
    let lock = Lockfile::load(lockfile)?;
    if lock.bundles.is_empty() {
        return Err(VendorError::Empty {
            path: lockfile.to_path_buf(),
        });
    }
    let mut by_registry: BTreeMap<&str, Vec<&crate::install::LockedBundle>> = BTreeMap::new();
    for b in &lock.bundles {
        by_registry.entry(&b.registry).or_default().push(b);
    }
    let work = tempfile::tempdir_in(
        out.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )
    .map_err(io(out))?;
    let root = work.path().join("registry");
    let pins = PinStore::in_dir(work.path().join("pins"));
    let mut lines = Vec::new();
    let mut metas: BTreeMap<BundleId, BundleMeta> = BTreeMap::new();
    let mut archive_bytes = 0;
    let mut config_out = RegistryConfig::new("vendored", RegistryKind::Local);
    for (registry, bundles) in by_registry {
        let src = RegistrySource::select(&paths.config, Some(registry))
            .map_err(|e| VendorError::Install(e.into()))?;
        let label = src.label();
        let mut client = Client::open(paths.clone(), src, offline)?;
        let ids: BTreeSet<BundleId> = bundles.iter().map(|b| b.id.clone()).collect();
        client.load(&ids)?;
        // Keys and policies of the (first) source registry travel along: verifiers pinned
        // there stay meaningful for the attestations copied.
        if lines.is_empty() {
            config_out.keys = client.config.keys.clone();
            config_out.policies = client.config.policies.clone();
        }
        let mut wanted = Vec::new();
        for b in &bundles {
            let line = client.line(&b.id, &b.version).cloned().ok_or_else(|| {
                VendorError::NotInRegistry {
                    id: b.id.to_string(),
                    version: b.version.to_string(),
                    registry: label.clone(),
                }
            })?;
            if line.sha256 != b.sha256 || line.size != b.size {
                return Err(VendorError::LockMismatch {
                    id: b.id.to_string(),
                    version: b.version.to_string(),
                    registry: label.clone(),
                    found: line.sha256.clone(),
                    locked: b.sha256.clone(),
                });
            }
            wanted.push(line);
        }
        let items: Vec<(String, u64, String)> = wanted
            .iter()
            .map(|l| {
                (
                    client.config.download_url(&l.sha256),
                    l.size,
                    l.sha256.clone(),
                )
            })
            .collect();
        let results = std::sync::Mutex::new((0..items.len()).map(|_| None).collect::<Vec<_>>());
        client.fetcher.download_each(&items, None, |i, r| {
            if let Ok(mut v) = results.lock() {
                v[i] = Some(r);
            }
        });
        let results = results.into_inner().unwrap_or_default();
        for (line, r) in wanted.into_iter().zip(results) {
            let bytes = match r {
                Some(Ok(b)) => b,
                Some(Err(e)) => return Err(VendorError::Install(e.into())),
                None => {
                    return Err(VendorError::Io {
                        path: PathBuf::from(archive_path(&line.sha256)),
                        source: std::io::Error::other("the download did not finish"),
                    });
                }
            };
            let meta = client.meta(&line.id);
            let inputs = TrustInputs {
                line: &line,
                archive_bytes: &bytes,
                meta: meta.as_ref(),
                config: &client.config,
                allow_unsigned,
                local_source: client.fetcher.source().is_local(),
            };
            verify_for_install(&inputs, &pins).map_err(|source| VendorError::Trust {
                id: line.id.to_string(),
                version: line.version.to_string(),
                source: Box::new(source),
            })?;
            let path = root.join(archive_path(&line.sha256));
            write_new(&path, &bytes)?;
            archive_bytes += bytes.len() as u64;
            if let Some(m) = meta {
                metas.insert(line.id.clone(), m);
            }
            lines.push(line);
        }
    }
    // Archives are in place; then metadata, index files, names and config.
    for (id, meta) in &metas {
        write_new(&root.join(meta_path(id)), meta.to_json().as_bytes())?;
    }
    let mut names = String::new();
    for line in &lines {
        write_new(&root.join(index_path(&line.id)), line.to_line().as_bytes())?;
        names.push_str(line.id.as_str());
        names.push('\n');
    }
    for d in [INDEX_DIR, META_DIR, ARCHIVES_DIR] {
        std::fs::create_dir_all(root.join(d)).map_err(io(&root.join(d)))?;
    }
    write_new(&root.join(NAMES_FILE), names.as_bytes())?;
    write_new(&root.join(CONFIG_FILE), config_out.to_json().as_bytes())?;
    let tmp = work.path().join("out.tar");
    {
        let f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        let mut b = tar::Builder::new(std::io::BufWriter::new(f));
        b.mode(tar::HeaderMode::Deterministic);
        b.follow_symlinks(false);
        b.append_dir_all(".", &root).map_err(io(&tmp))?;
        let w = b.into_inner().map_err(io(&tmp))?;
        w.into_inner()
            .map_err(|e| io(&tmp)(e.into_error()))?
            .sync_all()
            .map_err(io(&tmp))?;
    }
    let tar_bytes = std::fs::metadata(&tmp).map_err(io(&tmp))?.len();
    std::fs::rename(&tmp, out).map_err(io(out))?;
    Ok(Vendored {
        bundles: lines,
        archive_bytes,
        tar_bytes,
    })
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), VendorError> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    std::fs::write(path, bytes).map_err(io(path))
}

/// Unpacks a vendored registry tar into `dest` (which must not exist), refusing anything but
/// plain files and directories at plain relative paths, and files over the size limits; the
/// directory appears (by rename) only once everything is written. Returns `dest`.
pub fn unpack(tar_file: &Path, dest: &Path) -> Result<PathBuf, VendorError> {
    let bad = |problem: String| VendorError::BadTar {
        path: tar_file.to_path_buf(),
        problem,
    };
    if dest.exists() {
        return Err(VendorError::Io {
            path: dest.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "already exists; remove it or choose another name",
            ),
        });
    }
    let len = std::fs::metadata(tar_file).map_err(io(tar_file))?.len();
    if len > MAX_TAR {
        return Err(bad(format!("larger than {MAX_TAR} bytes")));
    }
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let work = tempfile::tempdir_in(parent).map_err(io(parent))?;
    let f = std::fs::File::open(tar_file).map_err(io(tar_file))?;
    let mut a = tar::Archive::new(f);
    for entry in a.entries().map_err(io(tar_file))? {
        let mut entry = entry.map_err(io(tar_file))?;
        let path = entry.path().map_err(io(tar_file))?.into_owned();
        let mut rel = PathBuf::new();
        for c in path.components() {
            match c {
                std::path::Component::Normal(n) => rel.push(n),
                std::path::Component::CurDir => {}
                _ => {
                    return Err(bad(format!(
                        "entry `{}` is not a plain relative path",
                        path.display()
                    )));
                }
            }
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            std::fs::create_dir_all(work.path().join(&rel)).map_err(io(work.path()))?;
            continue;
        }
        if !kind.is_file() {
            return Err(bad(format!(
                "entry `{}` is not a file or directory",
                path.display()
            )));
        }
        if entry.size() > MAX_ENTRY {
            return Err(bad(format!(
                "entry `{}` is larger than {MAX_ENTRY} bytes",
                path.display()
            )));
        }
        let target = work.path().join(&rel);
        if let Some(d) = target.parent() {
            std::fs::create_dir_all(d).map_err(io(d))?;
        }
        let mut out = std::fs::File::create(&target).map_err(io(&target))?;
        std::io::copy(&mut (&mut entry).take(MAX_ENTRY), &mut out).map_err(io(&target))?;
    }
    let reg = work.path();
    if !reg.join(CONFIG_FILE).is_file() {
        return Err(bad("no config.json: not a vendored registry".into()));
    }
    RegistryConfig::load(reg).map_err(|e| bad(e.to_string()))?;
    let kept = work.keep();
    std::fs::rename(&kept, dest).map_err(io(dest))?;
    Ok(dest.to_path_buf())
}
