//! Documents from a registry directory: what `ratchet-index` feeds the writer.
//!
//! The publisher already holds every input after a publish, yank or deprecation; this module is
//! for `catalog rebuild` and for tests, and shows the one rule integration must follow: a
//! bundle's document is built from its latest unyanked version (highest precedence, a release
//! preferred over a pre-release), its archive (README, CHANGELOG, checked against the index
//! line's hash) and its metadata (deprecation). Verification status is the caller's: it needs
//! the trust policy of `ratchet-trust`, which this crate does not depend on.

use crate::CatalogError;
use crate::doc::{CatalogDoc, Verified};
use ratchet_formats::archive::{Limits, read_archive};
use ratchet_formats::index::{
    BundleMeta, IndexFile, IndexLine, NamesFile, archive_path, index_path, meta_path, read_limited,
    sha256_hex,
};
use ratchet_formats::manifest::BundleId;
use std::path::Path;

/// The version a bundle is shown and searched as: the highest unyanked release, else the
/// highest unyanked pre-release; `None` when every version is yanked.
pub fn latest_unyanked(index: &IndexFile) -> Option<&IndexLine> {
    fn best<'a>(it: impl Iterator<Item = &'a IndexLine>) -> Option<&'a IndexLine> {
        it.max_by(|a, b| a.version.cmp_precedence(&b.version))
    }
    let live = || index.versions().filter(|l| !l.yanked);
    best(live().filter(|l| l.version.pre.is_empty())).or_else(|| best(live()))
}

fn err(file: &str, message: impl std::fmt::Display) -> CatalogError {
    CatalogError::Fetch {
        file: file.to_string(),
        message: message.to_string(),
    }
}

/// The document of `id` in the registry at `dir`, `None` when it has no unyanked version.
/// `verified` gives the verification status of a version from its line and the metadata.
/// Archives are read from the default layout (`archives/<aa>/<sha256>.rbundle`).
pub fn doc_from_registry(
    dir: &Path,
    id: &BundleId,
    verified: &dyn Fn(&IndexLine, Option<&BundleMeta>) -> Verified,
) -> Result<Option<CatalogDoc>, CatalogError> {
    doc_from_registry_with(dir, id, &archive_path, verified)
}

/// [`doc_from_registry`] with the path (relative to `dir`) of the archive of a SHA-256 given
/// by `archive` (a registry whose `dl` template stores archives elsewhere).
pub fn doc_from_registry_with(
    dir: &Path,
    id: &BundleId,
    archive: &dyn Fn(&str) -> String,
    verified: &dyn Fn(&IndexLine, Option<&BundleMeta>) -> Verified,
) -> Result<Option<CatalogDoc>, CatalogError> {
    let ipath = index_path(id);
    let index = IndexFile::load(&dir.join(&ipath), Some(id)).map_err(|e| err(&ipath, e))?;
    let Some(line) = latest_unyanked(&index) else {
        return Ok(None);
    };
    let mpath = meta_path(id);
    let meta = BundleMeta::load(&dir.join(&mpath)).map_err(|e| err(&mpath, e))?;
    let apath = archive(&line.sha256);
    let bytes = read_limited(&dir.join(&apath), line.size).map_err(|e| err(&apath, e))?;
    if bytes.len() as u64 != line.size || sha256_hex(&bytes) != line.sha256 {
        return Err(err(&apath, "size or SHA-256 differs from the index line"));
    }
    let archive = read_archive(&bytes[..], &Limits::default()).map_err(|e| err(&apath, e))?;
    let m = &archive.manifest.bundle;
    if &m.id != id || m.version != line.version {
        return Err(err(
            &apath,
            "the archive's manifest is not the index line's",
        ));
    }
    let text = |p: &Option<String>| {
        p.as_ref()
            .and_then(|p| archive.files.get(p.trim_start_matches("./")))
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    let (readme, changelog) = (text(&m.readme), text(&m.changelog));
    let mut doc = CatalogDoc::from_manifest(
        m,
        &line.published,
        readme.as_deref(),
        changelog.as_deref(),
        meta.as_ref().is_some_and(|m| m.deprecated.is_some()),
        verified(line, meta.as_ref()),
    );
    (doc.downloads, doc.trend) = download_stats(dir, id)?;
    Ok(Some(doc))
}

/// The bundle's downloads and trend from its stats file (`index-format.md` §11.3), read with
/// the size limit and checks of `ratchet-stats`; (0, 0) when the registry has none. A damaged
/// stats file is an error naming it, like any other input of the document.
pub fn download_stats(dir: &Path, id: &BundleId) -> Result<(u64, f64), CatalogError> {
    match ratchet_stats::read_stats(dir, id) {
        Ok(Some(s)) => Ok((s.downloads, s.trend)),
        Ok(None) => Ok((0, 0.0)),
        Err(e) => {
            let file = ratchet_stats::stats_path(id);
            Err(match e {
                ratchet_stats::StatsError::TooLarge { limit, .. } => {
                    CatalogError::TooLarge { file, limit }
                }
                ratchet_stats::StatsError::Malformed { message, .. } => {
                    CatalogError::Malformed { file, message }
                }
                other => err(&file, other),
            })
        }
    }
}

/// Every bundle of the registry at `dir` in `names.txt` order, with its document: the input of
/// [`crate::Catalog::rebuild`].
pub fn registry_docs(
    dir: &Path,
    verified: &dyn Fn(&IndexLine, Option<&BundleMeta>) -> Verified,
) -> Result<Vec<(BundleId, Option<CatalogDoc>)>, CatalogError> {
    registry_docs_with(dir, &archive_path, verified)
}

/// [`registry_docs`] with archive paths given by `archive` (see [`doc_from_registry_with`]).
pub fn registry_docs_with(
    dir: &Path,
    archive: &dyn Fn(&str) -> String,
    verified: &dyn Fn(&IndexLine, Option<&BundleMeta>) -> Verified,
) -> Result<Vec<(BundleId, Option<CatalogDoc>)>, CatalogError> {
    let names = NamesFile::load(dir).map_err(|e| err("names.txt", e))?;
    names
        .ids
        .into_iter()
        .map(|id| {
            let d = doc_from_registry_with(dir, &id, archive, verified)?;
            Ok((id, d))
        })
        .collect()
}
