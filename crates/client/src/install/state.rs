//! The installed state (`installed.json`) and the lockfile (`ratchet.lock`): what is installed,
//! and enough to install the same bytes elsewhere. `installed.json` is the commit point of
//! every operation; `ratchet.lock` is derived from it.

use super::{InstallError, local};
use crate::paths::Paths;
use ratchet_formats::index::NamesFile;
use ratchet_formats::manifest::{BundleId, Manifest, VersionReq, load_manifest};
use ratchet_trust::VerificationStatus;
use semver::Version;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The installed set, in the data directory.
pub const INSTALLED_FILE: &str = "installed.json";
/// The lockfile, in the data directory.
pub const LOCK_FILE: &str = "ratchet.lock";
/// Directory of the extracted bundles, in the data directory.
pub const BUNDLES_DIR: &str = "bundles";
/// Format version of `installed.json` and `ratchet.lock`.
pub const STATE_FORMAT: u32 = 1;

/// One installed bundle in `installed.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstalledBundle {
    /// The installed version.
    pub version: Version,
    /// Root URL of the registry it came from.
    pub registry: String,
    /// SHA-256 of its archive.
    pub sha256: String,
    /// Archive size in bytes.
    pub size: u64,
    /// The requirement the user asked for, when installed by request (not only as a dependency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<VersionReq>,
    /// Bundles it depends on.
    #[serde(default)]
    pub dependencies: Vec<BundleId>,
    /// Verification status of the installed archive when it was installed (§7.5).
    pub verification: VerificationStatus,
    /// Key id of the owner key that signed the archive; absent for an unsigned bundle
    /// installed with `--allow-unsigned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// The version was yanked when installed (locked versions may be).
    #[serde(default)]
    pub yanked: bool,
    /// Deprecation message seen at install time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<String>,
}

/// `installed.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstalledState {
    /// [`STATE_FORMAT`].
    #[serde(default = "state_format")]
    pub v: u32,
    /// Installed bundles by id (one version each).
    pub bundles: BTreeMap<BundleId, InstalledBundle>,
}

fn state_format() -> u32 {
    STATE_FORMAT
}

/// One entry of `ratchet.lock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedBundle {
    /// The bundle.
    pub id: BundleId,
    /// Exact version.
    pub version: Version,
    /// SHA-256 of the archive.
    pub sha256: String,
    /// Size of the archive.
    pub size: u64,
    /// Root URL of the source registry.
    pub registry: String,
}

/// `ratchet.lock`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockfile {
    /// [`STATE_FORMAT`].
    pub v: u32,
    /// What the user asked for.
    pub requested: BTreeMap<BundleId, VersionReq>,
    /// Every installed bundle, sorted by id.
    pub bundles: Vec<LockedBundle>,
}

pub(super) fn read_json<T: serde::de::DeserializeOwned + Default>(
    path: &Path,
) -> Result<T, InstallError> {
    match std::fs::read(path) {
        Ok(b) => parse_json(&b, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(local(path)(e)),
    }
}

/// Parses `installed.json` or `ratchet.lock` bytes read from `path` (which names the file in
/// errors).
fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    path: &Path,
) -> Result<T, InstallError> {
    serde_json::from_slice(bytes).map_err(|source| InstallError::LocalParse {
        path: path.to_path_buf(),
        source,
    })
}

pub(super) fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<(), InstallError> {
    let mut s = serde_json::to_string_pretty(v).expect("state serializes");
    s.push('\n');
    ratchet_formats::fsutil::write_atomic(path, s.as_bytes()).map_err(local(path))
}

impl InstalledState {
    /// Reads `installed.json` (absent: nothing installed).
    pub fn load(paths: &Paths) -> Result<Self, InstallError> {
        read_json(&paths.data.join(INSTALLED_FILE))
    }

    /// Parses `installed.json` bytes; `path` names the file in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, InstallError> {
        parse_json(bytes, path)
    }

    /// The lockfile describing this state.
    pub fn lockfile(&self) -> Lockfile {
        Lockfile {
            v: STATE_FORMAT,
            requested: self
                .bundles
                .iter()
                .filter_map(|(id, b)| b.requested.clone().map(|r| (id.clone(), r)))
                .collect(),
            bundles: self
                .bundles
                .iter()
                .map(|(id, b)| LockedBundle {
                    id: id.clone(),
                    version: b.version.clone(),
                    sha256: b.sha256.clone(),
                    size: b.size,
                    registry: b.registry.clone(),
                })
                .collect(),
        }
    }

    /// Writes `installed.json` (the commit point), then `ratchet.lock`.
    pub fn commit(&self, paths: &Paths) -> Result<(), InstallError> {
        write_json(&paths.data.join(INSTALLED_FILE), self)?;
        write_json(&paths.data.join(LOCK_FILE), &self.lockfile())
    }

    /// The installed id closest to `word` (a likely typo), if one is close; the same rule as
    /// the registry's "did you mean" ([`NamesFile::suggest`]).
    pub fn suggest(&self, word: &str) -> Option<BundleId> {
        let names = NamesFile {
            ids: self.bundles.keys().cloned().collect(),
            ..NamesFile::default()
        };
        names.suggest(word).filter(|s| s.as_str() != word).cloned()
    }

    /// Installed bundles that depend directly on `id`.
    pub fn dependents(&self, id: &BundleId) -> Vec<BundleId> {
        self.bundles
            .iter()
            .filter(|(_, b)| b.dependencies.contains(id))
            .map(|(i, _)| i.clone())
            .collect()
    }
}

impl Lockfile {
    /// Reads `ratchet.lock` from `path`.
    pub fn load(path: &Path) -> Result<Self, InstallError> {
        if !path.is_file() {
            return Err(InstallError::LockfileMissing {
                path: path.to_path_buf(),
            });
        }
        read_json(path)
    }

    /// Parses `ratchet.lock` bytes; `path` names the file in errors.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, InstallError> {
        parse_json(bytes, path)
    }
}

/// The directory of an installed bundle version.
pub fn bundle_dir(paths: &Paths, id: &BundleId, version: &Version) -> PathBuf {
    paths
        .data
        .join(BUNDLES_DIR)
        .join(id.as_str())
        .join(version.to_string())
}

/// The directory and manifest of the installed bundle `id`.
pub fn find_installed(paths: &Paths, id: &BundleId) -> Result<(PathBuf, Manifest), InstallError> {
    let state = InstalledState::load(paths)?;
    let b = state
        .bundles
        .get(id)
        .ok_or_else(|| InstallError::NeedsInstall { id: id.clone() })?;
    let dir = bundle_dir(paths, id, &b.version);
    let m = load_manifest(&dir).map_err(|problems| InstallError::InstalledManifest {
        path: dir.clone(),
        problems,
    })?;
    Ok((dir, m))
}

/// Installed states for the unit tests of the install modules.
#[cfg(test)]
pub(super) mod fixture {
    use super::*;

    /// An installed bundle at `version`, depending on `deps`, requested with `*` when
    /// `requested`.
    pub fn bundle(version: &str, deps: &[&str], requested: bool) -> InstalledBundle {
        InstalledBundle {
            version: Version::parse(version).unwrap(),
            registry: "file:///r/".into(),
            sha256: format!("{:0>64}", version.replace('.', "")),
            size: 10,
            requested: requested.then(VersionReq::any),
            dependencies: deps.iter().map(|d| BundleId::parse(d).unwrap()).collect(),
            verification: VerificationStatus::Unverified,
            signer: Some("88C5B48CF4BBD599".into()),
            yanked: false,
            deprecated: None,
        }
    }

    /// An installed state of `(id, bundle)` pairs.
    pub fn state(bundles: Vec<(&str, InstalledBundle)>) -> InstalledState {
        InstalledState {
            v: STATE_FORMAT,
            bundles: bundles
                .into_iter()
                .map(|(id, b)| (BundleId::parse(id).unwrap(), b))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{bundle, state};
    use super::*;

    fn id(s: &str) -> BundleId {
        BundleId::parse(s).unwrap()
    }

    fn sample() -> InstalledState {
        state(vec![
            (
                "com.example.app",
                bundle("2.1.0", &["com.example.lib"], true),
            ),
            ("com.example.lib", bundle("1.2.0", &[], false)),
        ])
    }

    #[test]
    fn installed_state_round_trips_through_its_file() {
        let t = tempfile::tempdir().unwrap();
        let paths = Paths::under(t.path().to_path_buf());
        assert_eq!(
            InstalledState::load(&paths).unwrap(),
            InstalledState::default()
        );
        std::fs::create_dir_all(&paths.data).unwrap();
        let s = sample();
        s.commit(&paths).unwrap();
        assert_eq!(InstalledState::load(&paths).unwrap(), s);
        let lock = Lockfile::load(&paths.data.join(LOCK_FILE)).unwrap();
        assert_eq!(lock, s.lockfile());
    }

    #[test]
    fn the_lockfile_keeps_requests_and_every_bundle_sorted() {
        let lock = sample().lockfile();
        assert_eq!(lock.v, STATE_FORMAT);
        assert_eq!(
            lock.requested,
            BTreeMap::from([(id("com.example.app"), VersionReq::any())])
        );
        let ids: Vec<&str> = lock.bundles.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, ["com.example.app", "com.example.lib"]);
        assert_eq!(lock.bundles[1].version, Version::new(1, 2, 0));
        assert_eq!(
            lock.bundles[1].sha256,
            sample().bundles[&id("com.example.lib")].sha256
        );
    }

    #[test]
    fn a_damaged_state_file_is_an_error_naming_it() {
        let t = tempfile::tempdir().unwrap();
        let paths = Paths::under(t.path().to_path_buf());
        std::fs::create_dir_all(&paths.data).unwrap();
        std::fs::write(paths.data.join(INSTALLED_FILE), "{not json").unwrap();
        match InstalledState::load(&paths) {
            Err(InstallError::LocalParse { path, .. }) => {
                assert_eq!(path, paths.data.join(INSTALLED_FILE))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn locked_without_a_lockfile_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("ratchet.lock");
        match Lockfile::load(&path) {
            Err(InstallError::LockfileMissing { path: p }) => assert_eq!(p, path),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dependents_and_suggestions() {
        let s = sample();
        assert_eq!(
            s.dependents(&id("com.example.lib")),
            [id("com.example.app")]
        );
        assert!(s.dependents(&id("com.example.app")).is_empty());
        assert_eq!(s.suggest("com.example.lbi"), Some(id("com.example.lib")));
        assert_eq!(s.suggest("com.example.lib"), None);
        assert_eq!(s.suggest("org.other.thing"), None);
    }
}
