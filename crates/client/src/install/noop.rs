//! The warm no-op: deciding from local records alone that an install has nothing to do, so it
//! sends no request at all (issue 19; cargo's `fetch` with a lockfile makes none either).
//!
//! Why a module of its own: every other step of the pipeline starts by opening the registry
//! (signed timestamp, `config.json`, index files). This one runs before that and reads only
//! `installed.json`, `ratchet.lock` and the installed tree. It answers "nothing to do" only when
//! all of these hold, and otherwise leaves the decision to the full pipeline (which revalidates):
//!
//! - `ratchet.lock` exists and is exactly the lockfile of `installed.json` (an interrupted
//!   operation or a hand edit sends the command the long way);
//! - the request is already recorded: every bundle asked for is installed from this registry,
//!   requested with the same requirement, and its installed version satisfies it (or, for
//!   `--locked`, the lockfile given is the installed one);
//! - the installed state is intact: every bundle of this registry has its directory, every
//!   dependency it records is installed from the same registry, and every bundle is reachable
//!   from a request (nothing the full pipeline would remove).
//!
//! What it cannot see is news from the registry (a yank, a new version): an install with a
//! satisfied lockfile does not look for any, as cargo's does not; `ratchet bundle update` and
//! `ratchet bundle outdated` ask the registry.

use super::InstallError;
use super::state::{INSTALLED_FILE, InstalledState, LOCK_FILE, Lockfile, bundle_dir};
use crate::paths::Paths;
use ratchet_formats::manifest::{BundleId, VersionReq};
use semver::Version;
use std::collections::{BTreeMap, BTreeSet};

/// What an install that has nothing to do leaves as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Satisfied {
    /// The bundles of the registry concerned, dependencies before dependents.
    pub unchanged: Vec<(BundleId, Version)>,
    /// Bundles installed from other registries (left as they are).
    pub kept: Vec<BundleId>,
}

/// What the command asks for.
#[derive(Debug, Clone, Copy)]
pub enum Wanted<'a> {
    /// `install ID[@REQ]...` from the registry whose root URL is `registry`.
    Add {
        /// The registry's root URL (as `installed.json` records it).
        registry: &'a str,
        /// The requests.
        add: &'a [(BundleId, VersionReq)],
    },
    /// `install --locked`: exactly this lockfile, from the registries it names.
    Locked(&'a Lockfile),
}

/// `Some` when the installed state already satisfies `wanted` and is intact (see the module
/// documentation), judged from local files alone; `None` when the full pipeline must decide.
/// Errors only when `installed.json` exists and cannot be read: the full pipeline would fail
/// on it the same way.
pub fn satisfied_locally(
    paths: &Paths,
    wanted: Wanted<'_>,
) -> Result<Option<Satisfied>, InstallError> {
    let state = InstalledState::load(paths)?;
    if !paths.data.join(INSTALLED_FILE).is_file() {
        return Ok(None);
    }
    // A lockfile that cannot be read is the full pipeline's to repair.
    let Ok(on_disk) = Lockfile::load(&paths.data.join(LOCK_FILE)) else {
        return Ok(None);
    };
    let lockfile = state.lockfile();
    if on_disk != lockfile {
        return Ok(None);
    }
    // The bundles whose state this command judges, and the requests they must satisfy.
    let (scope, requests): (BTreeSet<&BundleId>, BTreeMap<&BundleId, &VersionReq>) = match wanted {
        Wanted::Locked(given) => {
            if given != &lockfile {
                return Ok(None);
            }
            (
                state.bundles.keys().collect(),
                lockfile.requested.iter().collect(),
            )
        }
        Wanted::Add { registry, add } => {
            for (id, req) in add {
                let Some(b) = state.bundles.get(id) else {
                    return Ok(None);
                };
                if b.registry != registry || b.requested.as_ref() != Some(req) {
                    return Ok(None);
                }
            }
            let scope: BTreeSet<&BundleId> = state
                .bundles
                .iter()
                .filter(|(_, b)| b.registry == registry)
                .map(|(id, _)| id)
                .collect();
            let requests = state
                .bundles
                .iter()
                .filter(|(id, _)| scope.contains(id))
                .filter_map(|(id, b)| b.requested.as_ref().map(|r| (id, r)))
                .collect();
            (scope, requests)
        }
    };
    for (id, req) in &requests {
        if !state
            .bundles
            .get(*id)
            .is_some_and(|b| req.matches(&b.version))
        {
            return Ok(None);
        }
    }
    // Intact: directories present, dependencies installed from the same registry.
    for id in &scope {
        let b = &state.bundles[*id];
        if !bundle_dir(paths, id, &b.version).is_dir() {
            return Ok(None);
        }
        for d in &b.dependencies {
            match state.bundles.get(d) {
                Some(dep) if dep.registry == b.registry => {}
                _ => return Ok(None),
            }
        }
    }
    // Everything in scope is needed by a request (the full pipeline removes the rest).
    let mut reached: BTreeSet<&BundleId> = BTreeSet::new();
    let mut stack: Vec<&BundleId> = requests.keys().copied().collect();
    while let Some(id) = stack.pop() {
        if reached.insert(id)
            && let Some(b) = state.bundles.get(id)
        {
            stack.extend(b.dependencies.iter());
        }
    }
    if scope.iter().any(|id| !reached.contains(id)) {
        return Ok(None);
    }
    let nodes: BTreeMap<&BundleId, Vec<&BundleId>> = scope
        .iter()
        .map(|id| (*id, state.bundles[*id].dependencies.iter().collect()))
        .collect();
    let unchanged = crate::resolver::order_dependencies_first(&nodes)
        .into_iter()
        .map(|id| (id.clone(), state.bundles[id].version.clone()))
        .collect();
    let kept = state
        .bundles
        .keys()
        .filter(|id| !scope.contains(id))
        .cloned()
        .collect();
    Ok(Some(Satisfied { unchanged, kept }))
}

#[cfg(test)]
mod tests {
    use super::super::state::fixture::{bundle, state};
    use super::*;

    fn id(s: &str) -> BundleId {
        BundleId::parse(s).unwrap()
    }

    /// An installed app (requested `*`) and its library, committed with their directories.
    fn installed() -> (tempfile::TempDir, Paths, InstalledState) {
        let t = tempfile::tempdir().unwrap();
        let paths = Paths::under(t.path().to_path_buf());
        let s = state(vec![
            (
                "com.example.app",
                bundle("2.1.0", &["com.example.lib"], true),
            ),
            ("com.example.lib", bundle("1.2.0", &[], false)),
        ]);
        for (i, b) in &s.bundles {
            std::fs::create_dir_all(bundle_dir(&paths, i, &b.version)).unwrap();
        }
        s.commit(&paths).unwrap();
        (t, paths, s)
    }

    fn add(spec: &[(&str, &str)]) -> Vec<(BundleId, VersionReq)> {
        spec.iter()
            .map(|(i, r)| (id(i), VersionReq::parse(r).unwrap()))
            .collect()
    }

    const REG: &str = "file:///r/";

    #[test]
    fn a_recorded_request_on_an_intact_state_is_satisfied() {
        let (_t, paths, s) = installed();
        let wanted = add(&[("com.example.app", "*")]);
        let got = satisfied_locally(
            &paths,
            Wanted::Add {
                registry: REG,
                add: &wanted,
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            got.unchanged,
            vec![
                (id("com.example.lib"), Version::new(1, 2, 0)),
                (id("com.example.app"), Version::new(2, 1, 0))
            ]
        );
        assert!(got.kept.is_empty());
        let lock = s.lockfile();
        assert!(
            satisfied_locally(&paths, Wanted::Locked(&lock))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn anything_new_or_damaged_goes_the_long_way() {
        let wanted = add(&[("com.example.app", "*")]);
        let check = |paths: &Paths, w: &[(BundleId, VersionReq)]| {
            satisfied_locally(
                paths,
                Wanted::Add {
                    registry: REG,
                    add: w,
                },
            )
            .unwrap()
        };
        // Nothing installed.
        let t = tempfile::tempdir().unwrap();
        assert_eq!(check(&Paths::under(t.path().to_path_buf()), &wanted), None);
        // Another requirement, a bundle not installed, one installed only as a dependency,
        // another registry.
        let (_t, paths, s) = installed();
        assert_eq!(check(&paths, &add(&[("com.example.app", "^2")])), None);
        assert_eq!(check(&paths, &add(&[("com.example.other", "*")])), None);
        assert_eq!(check(&paths, &add(&[("com.example.lib", "*")])), None);
        assert_eq!(
            satisfied_locally(
                &paths,
                Wanted::Add {
                    registry: "https://elsewhere.example/",
                    add: &wanted
                }
            )
            .unwrap(),
            None
        );
        // A lockfile that is not the installed one.
        let mut other = s.lockfile();
        other.bundles[0].version = Version::new(2, 0, 0);
        assert_eq!(
            satisfied_locally(&paths, Wanted::Locked(&other)).unwrap(),
            None
        );
        // A lockfile on disk that differs from installed.json, or none.
        let lock_path = paths.data.join(LOCK_FILE);
        std::fs::write(&lock_path, "{\"v\":1,\"requested\":{},\"bundles\":[]}").unwrap();
        assert_eq!(check(&paths, &wanted), None);
        std::fs::remove_file(&lock_path).unwrap();
        assert_eq!(check(&paths, &wanted), None);
        // A bundle's directory gone.
        let (_t, paths, s) = installed();
        let lib = id("com.example.lib");
        std::fs::remove_dir_all(bundle_dir(&paths, &lib, &s.bundles[&lib].version)).unwrap();
        assert_eq!(check(&paths, &wanted), None);
        // A recorded dependency that is not installed; a bundle nothing needs.
        let (_t, paths, mut s) = installed();
        s.bundles.remove(&lib);
        s.commit(&paths).unwrap();
        assert_eq!(check(&paths, &wanted), None);
        let (_t, paths, mut s) = installed();
        s.bundles
            .get_mut(&id("com.example.app"))
            .unwrap()
            .dependencies
            .clear();
        s.commit(&paths).unwrap();
        assert_eq!(check(&paths, &wanted), None);
    }
}
