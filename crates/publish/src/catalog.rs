//! The registry's search catalog (`index-format.md` §10), kept in step with the index.
//!
//! Every operation that changes what a bundle looks like in search (publish, yank and un-yank,
//! deprecation, attestation, owner statements) calls [`Registry::catalog_update`] once, under
//! the registry lock and after the registry's own files are written, so the catalog never names
//! a version or archive that is not there yet. The update is incremental (`ratchet-catalog`
//! rewrites only the files of the one bundle); a registry without a catalog gets a full one the
//! first time, and `ratchet-index catalog rebuild` recomputes it from scratch. The verification
//! status a result shows is computed here exactly as the client computes it before installing
//! (`ratchet-trust`'s attestation policy against `config.json`'s verifier keys).

use crate::{PublishError, Registry, Result};
use ratchet_catalog::files::ROOT_PATH;
use ratchet_catalog::registry::{doc_from_registry_with, registry_docs_with};
use ratchet_catalog::write::{Difference, WriteStats};
use ratchet_catalog::{Catalog, CatalogDoc, CatalogStore, Change, DirStore, Verified};
use ratchet_formats::index::{BundleMeta, IndexLine};
use ratchet_formats::manifest::BundleId;
use ratchet_trust::VerificationStatus;
use ratchet_trust::attest::Records;

/// What `catalog rebuild` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildReport {
    /// Bundles of `names.txt`.
    pub bundles: usize,
    /// Those with an unyanked version (searchable).
    pub searchable: usize,
    /// Files and bytes written.
    pub written: WriteStats,
}

impl Registry {
    /// The verification status of a version as a client computes it (§7.5).
    fn catalog_verified(&self, line: &IndexLine, meta: Option<&BundleMeta>) -> Verified {
        let (status, _) = Records::of(line.id.as_str(), meta).status_of(line, self.config());
        match status {
            VerificationStatus::Unverified => Verified::None,
            VerificationStatus::CommunityVerified { .. } => Verified::Community,
            VerificationStatus::OfficiallyVerified { .. } => Verified::Official,
        }
    }

    /// Every bundle of `names.txt`, in order, with its catalog document (`None` when every
    /// version is yanked): the input of a rebuild and of the catalog check.
    pub fn catalog_docs(&self) -> Result<Vec<(BundleId, Option<CatalogDoc>)>> {
        let verified = |l: &IndexLine, m: Option<&BundleMeta>| self.catalog_verified(l, m);
        let archive = |sha: &str| self.archive_rel(sha);
        Ok(registry_docs_with(self.root(), &archive, &verified)?)
    }

    /// Brings the catalog up to date for `id` after a change the caller has written (the
    /// caller holds the lock). A registry without a catalog gets a full one.
    pub(crate) fn catalog_update(&self, id: &BundleId) -> Result<()> {
        let mut store = DirStore::new(self.root(), true);
        if store
            .read(ROOT_PATH, ratchet_catalog::files::MAX_ROOT)
            .map_err(behind)?
            .is_none()
        {
            Catalog::rebuild(&mut store, self.catalog_docs().map_err(behind_p)?).map_err(behind)?;
            store.sync().map_err(behind)?;
            return self.site_update(id);
        }
        let verified = |l: &IndexLine, m: Option<&BundleMeta>| self.catalog_verified(l, m);
        let archive = |sha: &str| self.archive_rel(sha);
        let change =
            match doc_from_registry_with(self.root(), id, &archive, &verified).map_err(behind)? {
                Some(d) => Change::Upsert(Box::new(d)),
                None => Change::Remove(id.clone()),
            };
        match Catalog::update(&mut store, &change) {
            // A catalog written before facet sets were cut into chunks or heads carried 50
            // summaries, or before term shards carried a card per posting (§10.2): rebuild it.
            // (Versions start at 1: a `v` of 0 is damage, which the update reports.)
            Err(ratchet_catalog::CatalogError::Unsupported { file, found, .. })
                if (1..ratchet_catalog::files::format_for(&file)).contains(&found) =>
            {
                Catalog::rebuild(&mut store, self.catalog_docs().map_err(behind_p)?)
                    .map_err(behind)?;
                store.sync().map_err(behind)?;
            }
            r => {
                r.map_err(behind)?;
            }
        }
        self.site_update(id)
    }

    /// The web marketplace's pages that show `id`, when `site.json` asks for them on every
    /// change (`index-format.md` §12); they read the catalog, so this runs after it.
    fn site_update(&self, id: &BundleId) -> Result<()> {
        ratchet_site::on_change(self.root(), id).map_err(PublishError::SiteBehind)?;
        Ok(())
    }

    /// Brings the catalog up to date for `ids` after a change made by another writer (new
    /// download statistics, §11.4), under the registry lock. Does nothing when the registry has
    /// no catalog (the next publish or `catalog rebuild` makes a full one). Returns the number
    /// of documents updated.
    pub fn catalog_refresh(&self, ids: &[BundleId]) -> Result<usize> {
        if ids.is_empty() || !self.root().join(ROOT_PATH).exists() {
            return Ok(0);
        }
        let _lock = self.lock()?;
        for id in ids {
            self.catalog_update(id)?;
        }
        Ok(ids.len())
    }

    /// Recomputes the whole catalog from the registry, under the registry lock (§10.5).
    pub fn catalog_rebuild(&self) -> Result<RebuildReport> {
        let _lock = self.lock()?;
        self.catalog_rebuild_unlocked()
    }

    /// [`Registry::catalog_rebuild`] for a caller that holds the lock.
    pub(crate) fn catalog_rebuild_unlocked(&self) -> Result<RebuildReport> {
        let docs = self.catalog_docs()?;
        let bundles = docs.len();
        let searchable = docs.iter().filter(|(_, d)| d.is_some()).count();
        let mut store = DirStore::new(self.root(), false);
        let written = Catalog::rebuild(&mut store, docs)?;
        store.sync()?;
        Ok(RebuildReport {
            bundles,
            searchable,
            written,
        })
    }

    /// How the stored catalog differs from a rebuild of the registry (empty: up to date);
    /// `None` when the registry has no catalog.
    pub fn catalog_check(&self) -> Result<Option<Vec<Difference>>> {
        let store = DirStore::new(self.root(), false);
        if !self.root().join(ROOT_PATH).exists() {
            return Ok(None);
        }
        let docs = self.catalog_docs()?;
        Ok(Some(Catalog::verify(&store, docs)?))
    }
}

/// The registry's own change was written but the catalog could not follow it.
fn behind(e: ratchet_catalog::CatalogError) -> PublishError {
    PublishError::CatalogBehind(Box::new(PublishError::Catalog(e)))
}

fn behind_p(e: PublishError) -> ratchet_catalog::CatalogError {
    match e {
        PublishError::Catalog(c) => c,
        other => ratchet_catalog::CatalogError::Fetch {
            file: "names.txt".into(),
            message: other.to_string(),
        },
    }
}
