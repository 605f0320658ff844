//! What the pages show, read from the registry: a bundle's index file, metadata, latest
//! archive (manifest, README, CHANGELOG), statistics and related lists; and, from the search
//! catalog, the summaries of the bundles of a facet value (author, category, tag) and of any id.
//!
//! Listing pages read the catalog rather than every bundle, so regenerating the page of one
//! category costs that category's facet file and summary blocks, whatever the registry's size.
//! Every file is read with a size limit, and a damaged one is an error naming it.

use crate::SiteError;
use ratchet_catalog::Summary;
use ratchet_catalog::files::{
    MAX_BLOCK, MAX_FACET, MAX_FACET_CHUNK, MAX_FORWARD, MAX_ROOT, ROOT_PATH, Root, block_path,
    facet_chunk_path, facet_path, forward_path, parse_block, parse_facet_chunk, parse_facet_head,
    parse_forward, parse_root,
};
use ratchet_formats::archive::{Limits, read_archive};
use ratchet_formats::index::{
    BundleMeta, IndexFile, IndexLine, RegistryConfig, archive_path, index_path, meta_path,
    read_limited, sha256_hex,
};
use ratchet_formats::manifest::{BundleId, Manifest};
use ratchet_stats::{RelatedFile, StatsFile};
use ratchet_trust::VerificationStatus;
use ratchet_trust::attest::Records;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

fn reg_err(file: &str, e: impl std::fmt::Display) -> SiteError {
    SiteError::Registry {
        file: file.to_string(),
        message: e.to_string(),
    }
}

/// Everything a bundle page shows.
pub struct BundleData {
    /// The id.
    pub id: BundleId,
    /// Every version, in file order.
    pub versions: Vec<IndexLine>,
    /// The version shown (latest unyanked), if any.
    pub latest: Option<IndexLine>,
    /// Its manifest.
    pub manifest: Option<Manifest>,
    /// README text.
    pub readme: Option<String>,
    /// CHANGELOG text.
    pub changelog: Option<String>,
    /// Metadata (deprecation, owners, attestations).
    pub meta: Option<BundleMeta>,
    /// Verification status of the latest version.
    pub status: Option<VerificationStatus>,
    /// Current owner key ids.
    pub owners: Vec<String>,
    /// Download statistics.
    pub stats: Option<StatsFile>,
    /// Related lists.
    pub related: Option<RelatedFile>,
    /// Problems that left a part of the page out (damaged statistics, owner chain).
    pub warnings: Vec<String>,
}

/// Reads registry and catalog files, caching summary blocks (a full generation reads each
/// block once).
pub struct Reader {
    dir: PathBuf,
    /// The registry's `config.json`.
    pub config: RegistryConfig,
    /// The catalog root (`None`: the registry has no catalog).
    pub root: Option<Root>,
    blocks: RefCell<HashMap<u32, Vec<Summary>>>,
}

impl Reader {
    /// Opens the registry at `dir`.
    pub fn open(dir: &Path) -> Result<Reader, SiteError> {
        let config = RegistryConfig::load(dir).map_err(|e| reg_err("config.json", e))?;
        let rp = dir.join(ROOT_PATH);
        let root = if rp.exists() {
            let b = read_limited(&rp, MAX_ROOT).map_err(|e| reg_err(ROOT_PATH, e))?;
            Some(parse_root(&b).map_err(|e| reg_err(ROOT_PATH, e))?)
        } else {
            None
        };
        Ok(Reader {
            dir: dir.to_path_buf(),
            config,
            root,
            blocks: RefCell::new(HashMap::new()),
        })
    }

    /// The registry directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn opt_read(&self, rel: &str, limit: u64) -> Result<Option<Vec<u8>>, SiteError> {
        let p = self.dir.join(rel);
        match std::fs::metadata(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(reg_err(rel, e)),
            Ok(_) => read_limited(&p, limit)
                .map(Some)
                .map_err(|e| reg_err(rel, e)),
        }
    }

    fn archive_rel(&self, sha: &str) -> String {
        let url = self.config.download_url(sha);
        if url.contains("://") || url.starts_with('/') {
            archive_path(sha)
        } else {
            url
        }
    }

    /// The data of `id`'s page; `None` when it has no index file.
    pub fn bundle(&self, id: &BundleId) -> Result<Option<BundleData>, SiteError> {
        let ipath = index_path(id);
        if !self.dir.join(&ipath).exists() {
            return Ok(None);
        }
        let index =
            IndexFile::load(&self.dir.join(&ipath), Some(id)).map_err(|e| reg_err(&ipath, e))?;
        let versions: Vec<IndexLine> = index.versions().cloned().collect();
        let latest = ratchet_catalog::registry::latest_unyanked(&index).cloned();
        let mpath = meta_path(id);
        let meta = BundleMeta::load(&self.dir.join(&mpath)).map_err(|e| reg_err(&mpath, e))?;
        let mut warnings = Vec::new();
        let (mut manifest, mut readme, mut changelog, mut status) = (None, None, None, None);
        if let Some(line) = &latest {
            let apath = self.archive_rel(&line.sha256);
            let bytes =
                read_limited(&self.dir.join(&apath), line.size).map_err(|e| reg_err(&apath, e))?;
            if bytes.len() as u64 != line.size || sha256_hex(&bytes) != line.sha256 {
                return Err(reg_err(
                    &apath,
                    "size or SHA-256 differs from the index line",
                ));
            }
            let archive =
                read_archive(&bytes[..], &Limits::default()).map_err(|e| reg_err(&apath, e))?;
            let m = archive.manifest.bundle.clone();
            if &m.id != id || m.version != line.version {
                return Err(reg_err(
                    &apath,
                    "the archive's manifest is not the index line's",
                ));
            }
            let text = |p: &Option<String>| {
                p.as_ref()
                    .and_then(|p| archive.files.get(p.trim_start_matches("./")))
                    .map(|b| String::from_utf8_lossy(b).into_owned())
            };
            readme = text(&m.readme);
            changelog = text(&m.changelog);
            let (s, _) = Records::of(id.as_str(), meta.as_ref()).status_of(line, &self.config);
            status = Some(s);
            manifest = Some(m);
        }
        let mut owners = Vec::new();
        if let Some(m) = &meta {
            match ratchet_trust::owners::OwnerChain::from_meta(m, &mpath)
                .and_then(|c| c.map(|c| c.verify(id.as_str())).transpose())
            {
                Ok(Some(v)) => owners = v.current.iter().map(|k| k.key_id()).collect(),
                Ok(None) => {}
                Err(e) => warnings.push(format!("{mpath}: owner keys not shown: {e}")),
            }
        }
        let stats = ratchet_stats::read_stats(&self.dir, id).unwrap_or_else(|e| {
            warnings.push(format!("downloads not shown: {e}"));
            None
        });
        let related = ratchet_stats::read_related(&self.dir, id).unwrap_or_else(|e| {
            warnings.push(format!("dependents not shown: {e}"));
            None
        });
        Ok(Some(BundleData {
            id: id.clone(),
            versions,
            latest,
            manifest,
            readme,
            changelog,
            meta,
            status,
            owners,
            stats,
            related,
            warnings,
        }))
    }

    fn block(&self, n: u32, root: &Root) -> Result<Vec<Summary>, SiteError> {
        if let Some(b) = self.blocks.borrow().get(&n) {
            return Ok(b.clone());
        }
        let rel = block_path(n);
        let docs = match self.opt_read(&rel, MAX_BLOCK)? {
            Some(b) => parse_block(&b, n, root).map_err(|e| reg_err(&rel, e))?,
            None => Vec::new(),
        };
        self.blocks.borrow_mut().insert(n, docs.clone());
        Ok(docs)
    }

    /// The summaries of `ords`, in that order (ordinals without one are skipped).
    pub fn summaries(&self, ords: &[u32]) -> Result<Vec<Summary>, SiteError> {
        let Some(root) = &self.root else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(ords.len());
        for &o in ords {
            let b = self.block(o / ratchet_catalog::BLOCK_DOCS, root)?;
            if let Some(s) = b.iter().find(|s| s.ord == o) {
                out.push(s.clone());
            }
        }
        Ok(out)
    }

    /// What the catalog indexed for `id` (ordinal, searchable, facet values); `None` when it
    /// was never indexed.
    pub fn forward(
        &self,
        id: &BundleId,
    ) -> Result<Option<ratchet_catalog::files::Forward>, SiteError> {
        let rel = forward_path(id);
        match self.opt_read(&rel, MAX_FORWARD)? {
            Some(b) => Ok(Some(parse_forward(&b, id).map_err(|e| reg_err(&rel, e))?)),
            None => Ok(None),
        }
    }

    /// The catalog summary of `id`, when it is searchable.
    pub fn summary_of(&self, id: &BundleId) -> Result<Option<Summary>, SiteError> {
        match self.forward(id)? {
            Some(f) if f.live => Ok(self.summaries(&[f.ord])?.into_iter().next()),
            _ => Ok(None),
        }
    }

    /// The number of bundles with facet `kind`=`value` and the ordinals of the newest `max` of
    /// them (highest ordinals: the most recently added first); `None` when no bundle has it.
    /// Reads the value's facet head and its last chunks (as many as hold `max` bundles); the
    /// caller fetches the summaries it does not already have.
    pub fn facet_newest(
        &self,
        kind: &str,
        value: &str,
        max: usize,
    ) -> Result<Option<(usize, Vec<u32>)>, SiteError> {
        let Some(root) = &self.root else {
            return Ok(None);
        };
        let rel = facet_path(kind, value);
        let Some(b) = self.opt_read(&rel, MAX_FACET)? else {
            return Ok(None);
        };
        let head = parse_facet_head(&b, kind, value, root).map_err(|e| reg_err(&rel, e))?;
        let mut newest = Vec::new();
        for &(c, _) in head.chunks.iter().rev() {
            if newest.len() >= max {
                break;
            }
            let crel = facet_chunk_path(kind, value, c);
            let Some(b) = self.opt_read(&crel, MAX_FACET_CHUNK)? else {
                continue;
            };
            let members =
                parse_facet_chunk(&b, kind, value, c, root).map_err(|e| reg_err(&crel, e))?;
            newest.extend(members.iter().rev().take(max - newest.len()));
        }
        Ok(Some((head.count as usize, newest)))
    }

    /// `stats/summary.json`'s trending ids (empty without statistics).
    pub fn trending(&self) -> Result<Vec<BundleId>, SiteError> {
        let rel = "stats/summary.json";
        match self.opt_read(rel, 256 * 1024)? {
            Some(b) => Ok(ratchet_stats::Summary::parse(&b, rel)
                .map_err(|e| reg_err(rel, e))?
                .trending),
            None => Ok(Vec::new()),
        }
    }
}

/// Downloads per day number (all versions summed) of a stats file.
pub fn daily(stats: &StatsFile) -> (BTreeMap<i64, u64>, i64) {
    let mut m = BTreeMap::new();
    for c in stats.versions.values() {
        for (d, n) in &c.days {
            if let Some(day) = ratchet_stats::Day::parse(d) {
                *m.entry(day.0).or_default() += n;
            }
        }
    }
    let as_of = stats.as_of_day().map_or(0, |d| d.0);
    (m, as_of)
}
