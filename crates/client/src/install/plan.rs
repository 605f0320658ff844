//! Planning: what an operation will change, decided from the resolution and the installed
//! state before anything is downloaded (and shown to the user before they confirm).

use super::state::{InstalledBundle, InstalledState, Lockfile, bundle_dir};
use super::{Client, InstallError};
use crate::events::{DowngradeReason, Event, Reporter};
use crate::resolver::DependencyGraph;
use ratchet_formats::index::{Deprecation, IndexLine};
use ratchet_formats::manifest::{BundleId, VersionReq};
use semver::Version;
use std::collections::BTreeMap;

/// One bundle of a [`Plan`].
#[derive(Debug, Clone)]
pub struct PlannedBundle {
    /// Its index line (version, hash, size, license, pricing, permissions).
    pub line: IndexLine,
    /// Already installed at this version: nothing to download.
    pub unchanged: bool,
    /// The version installed before, if another one.
    pub replaces: Option<Version>,
    /// Deprecation message, if deprecated (with the replacement, as `installed.json` keeps it).
    pub deprecated: Option<String>,
    /// The registry's deprecation record, if deprecated.
    pub deprecation: Option<Deprecation>,
    /// Why the version moves down, when it replaces a newer one.
    pub downgrade: Option<DowngradeReason>,
}

/// What an install will do, to show before asking for confirmation.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The resolved graph.
    pub graph: DependencyGraph,
    /// Every bundle of the result, in install order.
    pub bundles: Vec<PlannedBundle>,
    /// Installed bundles the result no longer contains.
    pub removed: Vec<BundleId>,
    /// The user's requests after this operation.
    pub requested: BTreeMap<BundleId, VersionReq>,
    /// The requests differ from the installed state's (e.g. a dependency now asked for by name).
    pub requests_changed: bool,
    /// Installed bundles from other registries: left exactly as they are.
    pub kept: BTreeMap<BundleId, InstalledBundle>,
}

impl Plan {
    /// Bytes to download (cached archives count too).
    pub fn download_size(&self) -> u64 {
        self.bundles
            .iter()
            .filter(|b| !b.unchanged)
            .map(|b| b.line.size)
            .sum()
    }

    /// True when the plan changes nothing.
    pub fn is_noop(&self) -> bool {
        !self.requests_changed
            && self.removed.is_empty()
            && self.bundles.iter().all(|b| b.unchanged)
    }
}

/// What to resolve.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// New requests (added to the installed ones; same id replaces).
    pub add: Vec<(BundleId, VersionReq)>,
    /// Requests to drop.
    pub drop: Vec<BundleId>,
    /// Bundles free to move to newer versions (`update`); empty keeps every installed version
    /// that still fits.
    pub unlock: Option<Vec<BundleId>>,
    /// Install exactly this lockfile.
    pub locked: Option<Lockfile>,
}

/// Resolves a request against the installed state: installed versions are kept when they still
/// fit (so an install or update changes as little as possible).
pub fn plan(client: &mut Client, req: &PlanRequest) -> Result<Plan, InstallError> {
    let mut state = InstalledState::load(&client.paths)?;
    // Bundles installed from other registries are not this registry's to resolve: they stay
    // exactly as they are (each registry holds its bundles' dependencies, so a resolution
    // never needs another registry's bundles).
    let here = client.fetcher.source().base.to_string();
    let (mine, kept): (BTreeMap<_, _>, BTreeMap<_, _>) = std::mem::take(&mut state.bundles)
        .into_iter()
        .partition(|(id, b)| {
            b.registry == here
                || req
                    .locked
                    .as_ref()
                    .is_some_and(|l| l.bundles.iter().any(|x| &x.id == id))
        });
    state.bundles = mine;
    for (id, _) in &req.add {
        if let Some(k) = kept.get(id) {
            return Err(InstallError::InstalledFromElsewhere {
                id: id.clone(),
                installed_from: k.registry.clone(),
                registry: client.fetcher.source().label(),
            });
        }
    }
    let mut requested: BTreeMap<BundleId, VersionReq> = state
        .bundles
        .iter()
        .filter_map(|(id, b)| b.requested.clone().map(|r| (id.clone(), r)))
        .collect();
    let mut opts = client.resolve_options();
    if let Some(lock) = &req.locked {
        requested = lock.requested.clone();
        for b in &lock.bundles {
            opts.locked.insert(b.id.clone(), b.version.clone());
        }
    } else {
        for id in &req.drop {
            requested.remove(id);
        }
        for (id, r) in &req.add {
            requested.insert(id.clone(), r.clone());
        }
        for (id, b) in &state.bundles {
            let unlocked = match &req.unlock {
                None => false,
                Some(list) => list.is_empty() || list.contains(id),
            };
            if !unlocked && !req.add.iter().any(|(i, _)| i == id) {
                opts.locked.insert(id.clone(), b.version.clone());
            }
        }
    }
    let roots: Vec<(BundleId, VersionReq)> = requested
        .iter()
        .map(|(i, r)| (i.clone(), r.clone()))
        .collect();
    let graph = if roots.is_empty() {
        DependencyGraph {
            nodes: BTreeMap::new(),
            edges: Vec::new(),
            install_order: Vec::new(),
        }
    } else {
        client.resolve(&roots, &opts)?
    };
    if let Some(lock) = &req.locked {
        let resolved: BTreeMap<BundleId, Version> = graph
            .nodes
            .iter()
            .map(|(i, n)| (i.clone(), n.version.clone()))
            .collect();
        let locked: BTreeMap<BundleId, Version> = lock
            .bundles
            .iter()
            .map(|b| (b.id.clone(), b.version.clone()))
            .collect();
        if resolved != locked {
            return Err(InstallError::LockfileStale { locked, resolved });
        }
    }
    if let Some((id, k)) = graph.nodes.keys().find_map(|id| kept.get_key_value(id)) {
        return Err(InstallError::NeededFromElsewhere {
            id: id.clone(),
            installed_from: k.registry.clone(),
            registry: client.fetcher.source().label(),
        });
    }
    let mut bundles = Vec::new();
    for id in &graph.install_order {
        let node = &graph.nodes[id];
        let line = client.line(id, &node.version).cloned().ok_or_else(|| {
            InstallError::MissingIndexLine {
                id: id.clone(),
                version: node.version.clone(),
            }
        })?;
        if let Some(lock) = &req.locked
            && let Some(l) = lock.bundles.iter().find(|b| &b.id == id)
            && (l.sha256 != line.sha256 || l.size != line.size)
        {
            return Err(InstallError::LockedBytesDiffer {
                id: id.clone(),
                version: node.version.clone(),
                served_sha256: line.sha256.as_str().into(),
                served_size: line.size,
                locked_sha256: l.sha256.as_str().into(),
                locked_size: l.size,
            });
        }
        let prev = state.bundles.get(id);
        let deprecation = client
            .metas
            .get(id)
            .and_then(|m| m.as_ref().ok())
            .and_then(|m| m.as_ref())
            .and_then(|m| m.deprecated.as_ref());
        let prev_line = prev.and_then(|p| client.line(id, &p.version));
        let dir_present = prev.is_some_and(|p| bundle_dir(&client.paths, id, &p.version).is_dir());
        let b =
            planned_bundle(line, prev, prev_line, dir_present, deprecation).map_err(|served| {
                InstallError::InstalledVersionChanged {
                    id: id.clone(),
                    version: node.version.clone(),
                    installed_sha256: prev.map_or("?", |p| p.sha256.as_str()).into(),
                    served_sha256: served.into(),
                    registry: client.fetcher.source().label(),
                }
            })?;
        report_planned(client.reporter.as_ref(), &b);
        bundles.push(b);
    }
    let removed = state
        .bundles
        .keys()
        .filter(|id| !graph.nodes.contains_key(*id))
        .cloned()
        .collect();
    let before: BTreeMap<&BundleId, &VersionReq> = state
        .bundles
        .iter()
        .filter_map(|(id, b)| b.requested.as_ref().map(|r| (id, r)))
        .collect();
    let requests_changed = before != requested.iter().collect::<BTreeMap<_, _>>();
    crate::enterprise::check_plan(client, &bundles, &requested)?;
    Ok(Plan {
        graph,
        bundles,
        removed,
        requested,
        requests_changed,
        kept,
    })
}

/// Parses `ID[@REQ]`.
pub fn parse_spec(spec: &str) -> Result<(BundleId, VersionReq), InstallError> {
    let (id, req) = match spec.split_once('@') {
        Some((i, r)) => (i, r),
        None => (spec, "*"),
    };
    let id = BundleId::parse(id).map_err(|source| InstallError::BadSpecId {
        spec: spec.to_string(),
        source,
    })?;
    let req = VersionReq::parse(req).map_err(|source| InstallError::BadSpecRequirement {
        spec: spec.to_string(),
        source,
    })?;
    Ok((id, req))
}

/// What the plan does with one resolved bundle (its index `line`), given what is installed:
/// `prev` (the installed entry, if any), `prev_line` (the index line of the installed version,
/// if the index still lists it) and whether its directory is present. `Err` with the served
/// sha256 when the same version is served with other bytes (versions are immutable).
pub(super) fn planned_bundle(
    line: IndexLine,
    prev: Option<&InstalledBundle>,
    prev_line: Option<&IndexLine>,
    dir_present: bool,
    deprecation: Option<&Deprecation>,
) -> Result<PlannedBundle, String> {
    if let Some(p) = prev
        && p.version == line.version
        && p.sha256 != line.sha256
    {
        return Err(line.sha256.clone());
    }
    let unchanged = prev.is_some_and(|p| p.version == line.version && dir_present);
    let replaces = prev
        .filter(|p| p.version != line.version)
        .map(|p| p.version.clone());
    let downgrade = prev
        .filter(|p| line.version < p.version)
        .map(|_| match prev_line {
            None => DowngradeReason::GoneFromIndex,
            Some(l) if l.yanked => DowngradeReason::Yanked,
            Some(_) => DowngradeReason::Requirements,
        });
    let deprecated = deprecation.map(|d| match &d.replacement {
        Some(r) => format!("{} (use {r})", d.message),
        None => d.message.clone(),
    });
    Ok(PlannedBundle {
        line,
        unchanged,
        replaces,
        deprecated,
        deprecation: deprecation.cloned(),
        downgrade,
    })
}

/// Tells `reporter` what a planned bundle calls for: a yanked version kept, a deprecation, a
/// downgrade.
fn report_planned(reporter: &dyn Reporter, b: &PlannedBundle) {
    let id = &b.line.id;
    if b.line.yanked {
        reporter.report(&Event::Yanked {
            id: id.clone(),
            version: b.line.version.clone(),
        });
    }
    if let Some(d) = &b.deprecation {
        reporter.report(&Event::Deprecated {
            id: id.clone(),
            message: d.message.clone(),
            replacement: d.replacement.clone(),
        });
    }
    if let (Some(why), Some(from)) = (b.downgrade, &b.replaces) {
        reporter.report(&Event::Downgraded {
            id: id.clone(),
            from: from.clone(),
            to: b.line.version.clone(),
            why,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratchet_trust::VerificationStatus;

    fn line(version: &str, sha: &str, yanked: bool) -> IndexLine {
        serde_json::from_value(serde_json::json!({
            "v": 1, "id": "com.example.tools", "version": version, "dependencies": [],
            "sha256": sha, "size": 10, "published": "2026-01-01T00:00:00Z",
            "requirements": {}, "license": "MIT", "pricing": "free", "keywords": [],
            "permissions": {}, "resources": {}, "yanked": yanked,
        }))
        .unwrap()
    }

    fn installed(version: &str, sha: &str) -> InstalledBundle {
        InstalledBundle {
            version: Version::parse(version).unwrap(),
            registry: "file:///r/".into(),
            sha256: sha.into(),
            size: 10,
            requested: None,
            dependencies: Vec::new(),
            verification: VerificationStatus::Unverified,
            signer: None,
            yanked: false,
            deprecated: None,
        }
    }

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn a_new_bundle_is_installed() {
        let b = planned_bundle(line("1.0.0", "aa", false), None, None, false, None).unwrap();
        assert!(!b.unchanged);
        assert_eq!((b.replaces, b.downgrade), (None, None));
    }

    #[test]
    fn the_installed_version_is_unchanged_only_while_its_files_are_there() {
        let prev = installed("1.0.0", "aa");
        let l = line("1.0.0", "aa", false);
        let b = planned_bundle(l.clone(), Some(&prev), Some(&l), true, None).unwrap();
        assert!(b.unchanged && b.replaces.is_none());
        // Its directory was deleted: unpacked again, replacing nothing.
        let b = planned_bundle(l.clone(), Some(&prev), Some(&l), false, None).unwrap();
        assert!(!b.unchanged && b.replaces.is_none());
    }

    #[test]
    fn other_bytes_for_an_installed_version_are_refused() {
        let prev = installed("1.0.0", "aa");
        let l = line("1.0.0", "bb", false);
        assert_eq!(
            planned_bundle(l.clone(), Some(&prev), Some(&l), true, None).unwrap_err(),
            "bb"
        );
    }

    #[test]
    fn an_upgrade_replaces_without_a_downgrade() {
        let prev = installed("1.0.0", "aa");
        let b = planned_bundle(line("1.1.0", "bb", false), Some(&prev), None, true, None).unwrap();
        assert_eq!(b.replaces, Some(v("1.0.0")));
        assert_eq!(b.downgrade, None);
    }

    #[test]
    fn a_downgrade_says_why() {
        let prev = installed("2.0.0", "aa");
        let to = line("1.0.0", "bb", false);
        let cases = [
            (Some(line("2.0.0", "aa", true)), DowngradeReason::Yanked),
            (None, DowngradeReason::GoneFromIndex),
            (
                Some(line("2.0.0", "aa", false)),
                DowngradeReason::Requirements,
            ),
        ];
        for (prev_line, why) in cases {
            let b =
                planned_bundle(to.clone(), Some(&prev), prev_line.as_ref(), true, None).unwrap();
            assert_eq!(b.replaces, Some(v("2.0.0")));
            assert_eq!(b.downgrade, Some(why));
        }
    }

    #[test]
    fn deprecation_is_kept_with_its_replacement() {
        let d = Deprecation {
            message: "old".into(),
            replacement: Some(BundleId::parse("com.example.new").unwrap()),
            since: "2026-01-01T00:00:00Z".into(),
        };
        let b = planned_bundle(line("1.0.0", "aa", false), None, None, false, Some(&d)).unwrap();
        assert_eq!(b.deprecated.as_deref(), Some("old (use com.example.new)"));
        assert_eq!(b.deprecation, Some(d));
    }

    #[test]
    fn planned_events_cover_yanked_deprecated_and_downgraded() {
        let log = crate::events::EventLog::default();
        let prev = installed("2.0.0", "aa");
        let d = Deprecation {
            message: "old".into(),
            replacement: None,
            since: "2026-01-01T00:00:00Z".into(),
        };
        let b = planned_bundle(
            line("1.0.0", "bb", true),
            Some(&prev),
            Some(&line("2.0.0", "aa", true)),
            true,
            Some(&d),
        )
        .unwrap();
        report_planned(&log, &b);
        let id = BundleId::parse("com.example.tools").unwrap();
        assert_eq!(
            log.events(),
            vec![
                Event::Yanked {
                    id: id.clone(),
                    version: v("1.0.0")
                },
                Event::Deprecated {
                    id: id.clone(),
                    message: "old".into(),
                    replacement: None
                },
                Event::Downgraded {
                    id,
                    from: v("2.0.0"),
                    to: v("1.0.0"),
                    why: DowngradeReason::Yanked
                },
            ]
        );
    }

    #[test]
    fn specs_parse_with_and_without_a_requirement() {
        let (id, req) = parse_spec("com.example.tools@^1.2").unwrap();
        assert_eq!(id.as_str(), "com.example.tools");
        assert_eq!(req.to_string(), "^1.2");
        let (_, req) = parse_spec("com.example.tools").unwrap();
        assert_eq!(req, VersionReq::any());
        assert!(matches!(
            parse_spec("Not An Id"),
            Err(InstallError::BadSpecId { spec, .. }) if spec == "Not An Id"
        ));
        assert!(matches!(
            parse_spec("com.example.tools@not-a-req"),
            Err(InstallError::BadSpecRequirement { spec, .. }) if spec == "com.example.tools@not-a-req"
        ));
    }
}
