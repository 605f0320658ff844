//! Dependency resolution with PubGrub, driven in waves by what the index has delivered.
//!
//! The client does not download the whole index: it resolves with the index files it has, and
//! when the resolver reaches a bundle whose file is missing it stops and reports *every* missing
//! file of that wave ([`Resolution::NeedIndex`]); the caller fetches them in parallel and calls
//! again. Packages already known are decided first, so each wave collects all the missing files
//! of one level of the graph and round trips grow with the graph's depth, not its size.
//!
//! Requirements keep the meaning of `index-format.md` (§2): a requirement becomes a PubGrub range
//! whose upper bounds exclude that version's pre-releases, and pre-releases of a bundle are only
//! candidates when some requirement on it names a pre-release. Yanked versions are candidates
//! only when locked; versions whose `requirements` exclude this client (Ratchet version, platform)
//! are reported as unusable with the reason. The result is a [`DependencyGraph`].
//!
//! A failure is [`ResolveError::NoSolution`]: PubGrub's derivation tree with typed reasons
//! ([`Unusable`]), the [`Fact`]s drawn from it and the versions each named bundle could use
//! ([`AvailableVersions`]), all structured; the text (facts, PubGrub's step-by-step report,
//! hints) is rendered only when the error is displayed.

use pubgrub::{
    DefaultStringReporter, Dependencies, DependencyConstraints, DependencyProvider, DerivationTree,
    External, PackageResolutionStatistics, PubGrubError, Ranges, Reporter,
};
use ratchet_formats::index::IndexLine;
use ratchet_formats::manifest::{BundleId, Platform, VersionReq};
use semver::Version;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// One published version of a bundle, as far as resolution cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The version.
    pub version: Version,
    /// What it depends on.
    pub dependencies: Vec<(BundleId, VersionReq)>,
    /// Withdrawn by its publisher.
    pub yanked: bool,
    /// Ratchet versions it works with.
    pub ratchet_version: Option<VersionReq>,
    /// Platforms it runs on (empty: all).
    pub platforms: Vec<Platform>,
}

impl From<&IndexLine> for Candidate {
    /// What the resolver needs of one index line.
    fn from(line: &IndexLine) -> Self {
        Candidate {
            version: line.version.clone(),
            dependencies: line
                .dependencies
                .iter()
                .map(|d| (d.bundle_id.clone(), d.version.clone()))
                .collect(),
            yanked: line.yanked,
            ratchet_version: line.requirements.ratchet_version.clone(),
            platforms: line.requirements.platform.clone(),
        }
    }
}

/// Where the resolver reads candidates from. `None` means "this bundle's index file has not been
/// fetched yet"; `Some(&[])` means "fetched, and the bundle does not exist".
pub trait CandidateSource {
    /// The candidates of `id`, or `None` when its index file is not loaded.
    fn candidates(&self, id: &BundleId) -> Option<&[Candidate]>;
}

impl CandidateSource for HashMap<BundleId, Vec<Candidate>> {
    fn candidates(&self, id: &BundleId) -> Option<&[Candidate]> {
        self.get(id).map(Vec::as_slice)
    }
}

/// What the resolver must respect besides requirements.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    /// The Ratchet version this client targets (checked against `requirements.ratchet_version`).
    pub ratchet_version: Version,
    /// The platform to check `requirements.platform` against (`None`: do not check).
    pub platform: Option<Platform>,
    /// Exact versions to keep when they still satisfy the requirements (lockfile); a locked
    /// yanked version stays usable.
    pub locked: HashMap<BundleId, Version>,
}

impl Default for ResolveOptions {
    fn default() -> Self {
        ResolveOptions {
            ratchet_version: crate::registry::DEFAULT_RATCHET_VERSION,
            platform: Platform::current(),
            locked: HashMap::new(),
        }
    }
}

/// A resolved set of bundles: the plan's `DependencyGraph`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DependencyGraph {
    /// Every bundle in the solution, by id.
    pub nodes: BTreeMap<BundleId, BundleNode>,
    /// "`from` depends on `to` with requirement `req`".
    pub edges: Vec<DependencyEdge>,
    /// Ids in an order where every bundle comes after its dependencies.
    pub install_order: Vec<BundleId>,
}

/// A bundle in a [`DependencyGraph`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleNode {
    /// The bundle.
    pub id: BundleId,
    /// The chosen version.
    #[serde(serialize_with = "ser_display")]
    pub version: Version,
    /// Asked for by the user (not only pulled in by another bundle).
    pub requested: bool,
}

/// An edge of a [`DependencyGraph`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DependencyEdge {
    /// The dependent bundle.
    pub from: BundleId,
    /// The dependency.
    pub to: BundleId,
    /// The requirement as its author wrote it.
    pub req: VersionReq,
}

fn ser_display<S: serde::Serializer, T: fmt::Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl DependencyGraph {
    /// The bundles that depend directly on `id`.
    pub fn dependents_of(&self, id: &BundleId) -> Vec<&BundleId> {
        self.edges
            .iter()
            .filter(|e| &e.to == id)
            .map(|e| &e.from)
            .collect()
    }

    /// The direct dependencies of `id`, with requirements.
    pub fn dependencies_of(&self, id: &BundleId) -> Vec<&DependencyEdge> {
        self.edges.iter().filter(|e| &e.from == id).collect()
    }
}

/// The outcome of one resolution attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Everything resolved.
    Done(DependencyGraph),
    /// These index files are needed before resolution can go on (fetch them all, then retry).
    NeedIndex(BTreeSet<BundleId>),
}

/// Why resolution failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No set of versions satisfies every requirement: PubGrub's derivation tree and what it
    /// says, rendered when displayed.
    #[error("cannot find a set of versions that satisfies every requirement:\n{0}")]
    NoSolution(Box<NoSolution>),
    /// [`resolve_complete`] was given a source without these bundles' index files.
    #[error("resolver failed: index files missing for: {}", .0.iter().map(BundleId::as_str).collect::<Vec<_>>().join(", "))]
    IndexFilesMissing(BTreeSet<BundleId>),
    /// Internal resolver failure.
    #[error("resolver failed: {0}")]
    Internal(String),
}

/// The resolver's view of a package: the user's request, or a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Package {
    /// What the user asked for (PubGrub's root package).
    Root,
    /// A bundle.
    Bundle(BundleId),
}

impl fmt::Display for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Package::Root => f.write_str("your request"),
            Package::Bundle(id) => f.write_str(id.as_str()),
        }
    }
}

/// The version sets the resolver works with.
pub type VS = Ranges<Version>;

/// Why a published version cannot be used by this client (PubGrub's custom incompatibility).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// Withdrawn by its publisher, and not locked.
    Yanked,
    /// Its `requirements.ratchet_version` excludes the Ratchet version this client targets.
    RatchetVersion {
        /// What the version requires.
        needs: VersionReq,
        /// What this client targets.
        client: Version,
    },
    /// Its `requirements.platform` excludes this platform.
    Platform {
        /// The platforms it runs on.
        runs_on: Vec<Platform>,
    },
    /// The index does not list the version.
    NotInIndex,
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unusable::Yanked => f.write_str("because it was yanked by its publisher"),
            Unusable::RatchetVersion { needs, client } => write!(
                f,
                "because it needs Ratchet {needs} and this client targets Ratchet {client}"
            ),
            Unusable::Platform { runs_on } => {
                write!(f, "because it runs only on {}", Platform::join(runs_on))
            }
            Unusable::NotInIndex => f.write_str("because it is not in the index"),
        }
    }
}

/// One fact behind a failed resolution, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// The user asked for `id` in `range`.
    Requested {
        /// The bundle.
        id: BundleId,
        /// The versions asked for.
        range: VS,
    },
    /// Versions `from_range` of `from` need `dep` in `range`.
    Needs {
        /// The dependent bundle.
        from: BundleId,
        /// Its versions concerned.
        from_range: VS,
        /// The dependency.
        dep: BundleId,
        /// The versions of the dependency they accept.
        range: VS,
    },
    /// `id` has no version in `range` (in the index, or usable by the resolver).
    NoVersions {
        /// The bundle.
        id: BundleId,
        /// The versions that do not exist.
        range: VS,
    },
    /// Versions `range` of `id` exist but cannot be used.
    Unusable {
        /// The bundle.
        id: BundleId,
        /// The versions concerned.
        range: VS,
        /// Why.
        reason: Unusable,
    },
}

impl Fact {
    /// Requests first, then needs, then what is missing or unusable.
    fn rank(&self) -> u8 {
        match self {
            Fact::Requested { .. } => 0,
            Fact::Needs { .. } => 1,
            Fact::NoVersions { .. } | Fact::Unusable { .. } => 2,
        }
    }
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fact::Requested { id, range } => write!(f, "you asked for {id} {}", range_text(range)),
            Fact::Needs {
                from,
                from_range,
                dep,
                range,
            } => write!(
                f,
                "{} needs {dep} {}",
                subject(&Package::Bundle(from.clone()), from_range),
                range_text(range)
            ),
            Fact::NoVersions { id, range } => {
                let other = range.complement();
                if range == &Ranges::full() {
                    write!(f, "{id} has no versions at all")
                } else if let Some(v) = other.as_singleton() {
                    write!(f, "{id} has no version other than {v}")
                } else {
                    write!(f, "{id} has no version in {}", range_text(range))
                }
            }
            Fact::Unusable { id, range, reason } => write!(
                f,
                "{} cannot be used {reason}",
                subject(&Package::Bundle(id.clone()), range)
            ),
        }
    }
}

/// The versions of a bundle this client could use, for a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailableVersions {
    /// The bundle.
    pub id: BundleId,
    /// Its usable versions (not yanked, allowed here, pre-releases only when asked for),
    /// oldest first; empty when none is.
    pub versions: Vec<Version>,
}

/// A failed resolution: PubGrub's derivation tree (how the facts clash), the facts themselves
/// and, for every bundle the tree names, the versions this client could use. Displayed as the
/// facts, the step-by-step report of PubGrub's reporter and the hints.
#[derive(Debug, Clone)]
pub struct NoSolution {
    /// PubGrub's derivation tree (with "no versions" nodes collapsed).
    pub tree: DerivationTree<Package, VS, Unusable>,
    /// The facts behind the failure, each once, requests first.
    pub facts: Vec<Fact>,
    /// Hints: the usable versions of every bundle the tree names, in order of appearance.
    pub available: Vec<AvailableVersions>,
}

impl fmt::Display for NoSolution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("  these cannot all hold at once:")?;
        for fact in &self.facts {
            write!(f, "\n  - {fact}")?;
        }
        let detail = humanize(&DefaultStringReporter::report(&self.tree));
        f.write_str("\n  why, step by step:\n")?;
        f.write_str(&detail.replace("\n  ", "\n    ").replacen("  ", "    ", 1))?;
        for a in &self.available {
            if a.versions.is_empty() {
                write!(f, "\n  note: {} has no version this client can use", a.id)?;
            } else {
                let shown: Vec<String> = a
                    .versions
                    .iter()
                    .rev()
                    .take(8)
                    .rev()
                    .map(Version::to_string)
                    .collect();
                write!(
                    f,
                    "\n  note: available versions of {}: {}",
                    a.id,
                    shown.join(", ")
                )?;
            }
        }
        Ok(())
    }
}

/// The newest release among `lines` (not yanked, not a pre-release) that every one of `reqs`
/// allows: what a resolution without other constraints picks.
pub fn newest_release<'a>(
    lines: &'a [ratchet_formats::index::IndexLine],
    reqs: &[VersionReq],
) -> Option<&'a ratchet_formats::index::IndexLine> {
    let ranges: Vec<_> = reqs.iter().map(req_to_range).collect();
    lines
        .iter()
        .filter(|l| !l.yanked && l.version.pre.is_empty())
        .filter(|l| ranges.iter().all(|r| r.contains(&l.version)))
        .max_by(|a, b| a.version.cmp(&b.version))
}

pub use ratchet_formats::manifest::version_req::req_to_range;

/// `(major, minor, patch)`.
type Triple = (u64, u64, u64);

struct Provider<'a, S: CandidateSource> {
    roots: Vec<(BundleId, VersionReq)>,
    source: &'a S,
    opts: &'a ResolveOptions,
    /// Per bundle, the `MAJOR.MINOR.PATCH` triples some requirement names with a pre-release
    /// tag: only pre-releases of those may be chosen (`index-format.md` §2).
    prerelease_ok: RefCell<BTreeMap<BundleId, BTreeSet<Triple>>>,
    /// Index files found missing in this attempt.
    missing: RefCell<BTreeSet<BundleId>>,
    /// Pre-release versions a previous attempt chose though no requirement of its solution
    /// names them (only requirements of versions PubGrub later dropped did): not candidates.
    banned: BTreeSet<(BundleId, Version)>,
}

#[derive(Debug, thiserror::Error)]
#[error("index file of {0} not loaded")]
struct NeedFetch(BundleId);

impl<S: CandidateSource> Provider<'_, S> {
    fn usable(&self, id: &BundleId, c: &Candidate) -> bool {
        let v = &c.version;
        if !v.pre.is_empty() && self.banned.contains(&(id.clone(), v.clone())) {
            return false;
        }
        v.pre.is_empty()
            || self
                .prerelease_ok
                .borrow()
                .get(id)
                .is_some_and(|t| t.contains(&(v.major, v.minor, v.patch)))
    }

    /// Why `c` cannot be used by this client, if it cannot.
    fn unusable_reason(&self, id: &BundleId, c: &Candidate) -> Option<Unusable> {
        let locked = self.opts.locked.get(id) == Some(&c.version);
        if c.yanked && !locked {
            return Some(Unusable::Yanked);
        }
        if let Some(req) = &c.ratchet_version
            && !req.matches(&self.opts.ratchet_version)
        {
            return Some(Unusable::RatchetVersion {
                needs: req.clone(),
                client: self.opts.ratchet_version.clone(),
            });
        }
        if let Some(p) = self.opts.platform
            && !c.platforms.is_empty()
            && !c.platforms.contains(&p)
        {
            return Some(Unusable::Platform {
                runs_on: c.platforms.clone(),
            });
        }
        None
    }

    fn note_requirement(&self, id: &BundleId, req: &VersionReq) -> VS {
        for t in req.prerelease_triples() {
            self.prerelease_ok
                .borrow_mut()
                .entry(id.clone())
                .or_default()
                .insert(t);
        }
        if self.source.candidates(id).is_none() {
            self.missing.borrow_mut().insert(id.clone());
        }
        req_to_range(req)
    }
}

impl<S: CandidateSource> DependencyProvider for Provider<'_, S> {
    type P = Package;
    type V = Version;
    type VS = VS;
    type M = Unusable;
    type Priority = (bool, std::cmp::Reverse<usize>, u32);
    type Err = NeedFetch;

    fn prioritize(
        &self,
        package: &Package,
        range: &VS,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        match package {
            Package::Root => (true, std::cmp::Reverse(0), u32::MAX),
            Package::Bundle(id) => match self.source.candidates(id) {
                // Decide every known bundle before touching an unknown one, so a wave collects
                // all the missing files of its level.
                None => (false, std::cmp::Reverse(0), 0),
                Some(cands) => {
                    let n = cands.iter().filter(|c| range.contains(&c.version)).count();
                    (true, std::cmp::Reverse(n), stats.conflict_count())
                }
            },
        }
    }

    fn choose_version(&self, package: &Package, range: &VS) -> Result<Option<Version>, NeedFetch> {
        let id = match package {
            Package::Root => return Ok(Some(Version::new(0, 0, 0))),
            Package::Bundle(id) => id,
        };
        let Some(cands) = self.source.candidates(id) else {
            self.missing.borrow_mut().insert(id.clone());
            return Err(NeedFetch(id.clone()));
        };
        let in_range = |c: &&Candidate| range.contains(&c.version) && self.usable(id, c);
        if let Some(locked) = self.opts.locked.get(id)
            && let Some(c) = cands.iter().filter(in_range).find(|c| &c.version == locked)
        {
            return Ok(Some(c.version.clone()));
        }
        // Highest usable version first; unusable ones only when nothing else is left (so the
        // error can say why they were refused).
        let best = cands
            .iter()
            .filter(in_range)
            .filter(|c| self.unusable_reason(id, c).is_none())
            .map(|c| &c.version)
            .max()
            .or_else(|| cands.iter().filter(in_range).map(|c| &c.version).max());
        Ok(best.cloned())
    }

    fn get_dependencies(
        &self,
        package: &Package,
        version: &Version,
    ) -> Result<Dependencies<Package, VS, Unusable>, NeedFetch> {
        let mut deps: Vec<(Package, VS)> = Vec::new();
        match package {
            Package::Root => {
                for (id, req) in &self.roots {
                    let range = self.note_requirement(id, req);
                    deps.push((Package::Bundle(id.clone()), range));
                }
            }
            Package::Bundle(id) => {
                let Some(c) = self
                    .source
                    .candidates(id)
                    .and_then(|cs| cs.iter().find(|c| &c.version == version))
                else {
                    return Ok(Dependencies::Unavailable(Unusable::NotInIndex));
                };
                if let Some(reason) = self.unusable_reason(id, c) {
                    return Ok(Dependencies::Unavailable(reason));
                }
                for (dep, req) in &c.dependencies {
                    let range = self.note_requirement(dep, req);
                    deps.push((Package::Bundle(dep.clone()), range));
                }
            }
        }
        Ok(Dependencies::Available(
            deps.into_iter()
                .collect::<DependencyConstraints<Package, VS>>(),
        ))
    }
}

/// One resolution attempt over the candidates loaded so far.
pub fn resolve(
    roots: &[(BundleId, VersionReq)],
    source: &impl CandidateSource,
    opts: &ResolveOptions,
) -> Result<Resolution, ResolveError> {
    // Which pre-releases may be chosen is learnt while PubGrub reads requirements, including
    // those of versions it then drops. A pre-release chosen only thanks to such a requirement is
    // banned and the resolution runs again (at most once per pre-release candidate).
    let mut banned = BTreeSet::new();
    loop {
        match resolve_once(roots, source, opts, banned.clone())? {
            Resolution::Done(g) => {
                let offending = unnamed_prereleases(roots, &g);
                if offending.is_empty() {
                    return Ok(Resolution::Done(g));
                }
                banned.extend(offending);
            }
            need => return Ok(need),
        }
    }
}

/// Chosen pre-release versions that no requirement of the solution (the roots' or a chosen
/// version's) names by `MAJOR.MINOR.PATCH` with a pre-release tag.
fn unnamed_prereleases(
    roots: &[(BundleId, VersionReq)],
    g: &DependencyGraph,
) -> Vec<(BundleId, Version)> {
    let named: BTreeSet<(&BundleId, (u64, u64, u64))> = roots
        .iter()
        .map(|(i, r)| (i, r))
        .chain(g.edges.iter().map(|e| (&e.to, &e.req)))
        .flat_map(|(id, r)| r.prerelease_triples().map(move |t| (id, t)))
        .collect();
    g.nodes
        .values()
        .filter(|n| !n.version.pre.is_empty())
        .filter(|n| {
            let v = &n.version;
            !named.contains(&(&n.id, (v.major, v.minor, v.patch)))
        })
        .map(|n| (n.id.clone(), n.version.clone()))
        .collect()
}

fn resolve_once(
    roots: &[(BundleId, VersionReq)],
    source: &impl CandidateSource,
    opts: &ResolveOptions,
    banned: BTreeSet<(BundleId, Version)>,
) -> Result<Resolution, ResolveError> {
    let provider = Provider {
        roots: roots.to_vec(),
        source,
        opts,
        prerelease_ok: RefCell::new(BTreeMap::new()),
        missing: RefCell::new(BTreeSet::new()),
        banned,
    };
    match pubgrub::resolve(&provider, Package::Root, Version::new(0, 0, 0)) {
        Ok(solution) => Ok(Resolution::Done(build_graph(
            roots,
            source,
            solution.into_iter().collect(),
        ))),
        Err(PubGrubError::ErrorChoosingVersion { .. })
        | Err(PubGrubError::ErrorRetrievingDependencies { .. }) => {
            Ok(Resolution::NeedIndex(provider.missing.into_inner()))
        }
        Err(PubGrubError::NoSolution(mut tree)) => {
            let missing = provider.missing.take();
            if !missing.is_empty() {
                // Some requirement pointed at a file we have not seen: fetch before judging.
                return Ok(Resolution::NeedIndex(missing));
            }
            tree.collapse_no_versions();
            let facts = facts(&tree);
            let available = available_versions(&tree, source, &provider);
            Err(ResolveError::NoSolution(Box::new(NoSolution {
                tree,
                facts,
                available,
            })))
        }
        Err(e) => Err(ResolveError::Internal(e.to_string())),
    }
}

/// A range as a requirement reads: `any version` for the full range, PubGrub's text otherwise
/// (without the synthetic `-0` bounds).
fn range_text(r: &VS) -> String {
    if r == &Ranges::full() {
        "(any version)".into()
    } else {
        humanize(&r.to_string()).trim().to_string()
    }
}

/// `every version of P`, `P 1.2.0` or `P >=1.0.0, <2.0.0`.
fn subject(p: &Package, r: &VS) -> String {
    if r == &Ranges::full() {
        format!("every version of {p}")
    } else if let Some(v) = r.as_singleton() {
        format!("{p} {v}")
    } else {
        format!("{p} {}", range_text(r))
    }
}

/// The facts behind a failed resolution, in words a user can act on: what was asked for, which
/// bundle needs what, what does not exist or cannot be used. Each appears once; the derivation
/// (how they clash) is the tree's.
fn facts(tree: &DerivationTree<Package, VS, Unusable>) -> Vec<Fact> {
    fn walk(t: &DerivationTree<Package, VS, Unusable>, out: &mut Vec<Fact>) {
        match t {
            DerivationTree::Derived(d) => {
                walk(&d.cause1, out);
                walk(&d.cause2, out);
            }
            DerivationTree::External(e) => {
                let fact = match e {
                    External::NotRoot(..) => return,
                    External::FromDependencyOf(Package::Root, _, Package::Bundle(d), r) => {
                        Fact::Requested {
                            id: d.clone(),
                            range: r.clone(),
                        }
                    }
                    External::FromDependencyOf(Package::Bundle(p), r1, Package::Bundle(d), r2) => {
                        Fact::Needs {
                            from: p.clone(),
                            from_range: r1.clone(),
                            dep: d.clone(),
                            range: r2.clone(),
                        }
                    }
                    External::NoVersions(Package::Bundle(p), r) => Fact::NoVersions {
                        id: p.clone(),
                        range: r.clone(),
                    },
                    External::Custom(Package::Bundle(p), r, why) => Fact::Unusable {
                        id: p.clone(),
                        range: r.clone(),
                        reason: why.clone(),
                    },
                    // Nothing depends on the root and the root always has its one version.
                    External::FromDependencyOf(..)
                    | External::NoVersions(Package::Root, _)
                    | External::Custom(Package::Root, ..) => return,
                };
                if !out.contains(&fact) {
                    out.push(fact);
                }
            }
        }
    }
    let mut facts = Vec::new();
    walk(tree, &mut facts);
    facts.sort_by_key(Fact::rank);
    facts
}

/// Makes PubGrub's report read like our requirements: hides the synthetic `-0` bounds and
/// names the empty and full ranges.
fn humanize(report: &str) -> String {
    let mut out = String::with_capacity(report.len());
    let bytes = report.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Drop "-0" right after a digit when followed by a separator (our pre-release floor).
        if bytes[i] == b'-'
            && i > 0
            && bytes[i - 1].is_ascii_digit()
            && bytes.get(i + 1) == Some(&b'0')
            && bytes.get(i + 2).is_none_or(|b| {
                !b.is_ascii_alphanumeric()
                    && (*b != b'.' || bytes.get(i + 3).is_none_or(|c| !c.is_ascii_digit()))
            })
        {
            i += 2;
            continue;
        }
        let ch = report[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    let out = out.replace(" ∅", " (no version)");
    out.lines()
        .map(|l| {
            let l = l
                .replace("your request 0.0.0 depends on", "you asked for")
                .replace("your request depends on", "you asked for");
            let l = l.replace(
                "your request 0.0.0 is forbidden",
                "your request cannot be satisfied",
            );
            format!("  {l}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// For every bundle the tree names, in order of appearance, the versions this client could use:
/// what a user needs to pick a requirement that works.
fn available_versions<S: CandidateSource>(
    tree: &DerivationTree<Package, VS, Unusable>,
    source: &S,
    provider: &Provider<'_, S>,
) -> Vec<AvailableVersions> {
    fn named<'t>(t: &'t DerivationTree<Package, VS, Unusable>, out: &mut Vec<&'t BundleId>) {
        let mut add = |p: &'t Package| {
            if let Package::Bundle(id) = p
                && !out.contains(&id)
            {
                out.push(id);
            }
        };
        match t {
            DerivationTree::Derived(d) => {
                named(&d.cause1, out);
                named(&d.cause2, out);
            }
            DerivationTree::External(External::FromDependencyOf(p, _, d, _)) => {
                add(p);
                add(d);
            }
            DerivationTree::External(
                External::NoVersions(p, _) | External::Custom(p, ..) | External::NotRoot(p, _),
            ) => add(p),
        }
    }
    let mut ids = Vec::new();
    named(tree, &mut ids);
    ids.into_iter()
        .filter_map(|id| {
            let cands = source.candidates(id)?;
            let mut versions: Vec<Version> = cands
                .iter()
                .filter(|c| provider.usable(id, c) && provider.unusable_reason(id, c).is_none())
                .map(|c| c.version.clone())
                .collect();
            versions.sort();
            Some(AvailableVersions {
                id: id.clone(),
                versions,
            })
        })
        .collect()
}

fn build_graph(
    roots: &[(BundleId, VersionReq)],
    source: &impl CandidateSource,
    solution: BTreeMap<Package, Version>,
) -> DependencyGraph {
    let requested: BTreeSet<&BundleId> = roots.iter().map(|(id, _)| id).collect();
    let mut nodes = BTreeMap::new();
    let mut edges = Vec::new();
    for (pkg, version) in &solution {
        let Package::Bundle(id) = pkg else { continue };
        nodes.insert(
            id.clone(),
            BundleNode {
                id: id.clone(),
                version: version.clone(),
                requested: requested.contains(id),
            },
        );
        if let Some(c) = source
            .candidates(id)
            .and_then(|cs| cs.iter().find(|c| &c.version == version))
        {
            for (dep, req) in &c.dependencies {
                edges.push(DependencyEdge {
                    from: id.clone(),
                    to: dep.clone(),
                    req: req.clone(),
                });
            }
        }
    }
    let install_order = topological_order(&nodes, &edges);
    DependencyGraph {
        nodes,
        edges,
        install_order,
    }
}

/// Dependencies before dependents; ties (and cycles, which PubGrub allows) broken by id so the
/// order is deterministic ([`order_dependencies_first`]).
fn topological_order(
    nodes: &BTreeMap<BundleId, BundleNode>,
    edges: &[DependencyEdge],
) -> Vec<BundleId> {
    let mut deps: BTreeMap<&BundleId, Vec<&BundleId>> =
        nodes.keys().map(|k| (k, Vec::new())).collect();
    for e in edges {
        if let Some(d) = deps.get_mut(&e.from) {
            d.push(&e.to);
        }
    }
    order_dependencies_first(&deps)
        .into_iter()
        .cloned()
        .collect()
}

/// The ids of `deps` (each with its dependencies) with dependencies first, level by level
/// (Kahn's algorithm on indegree counts): each level is the ids whose dependencies are all
/// placed, in id order. In a cycle nobody is ready: the smallest id left is placed next.
/// Dependencies outside `deps`, repeated ones and self-dependencies are ignored. Linear in ids
/// and edges, apart from sorting each level.
pub(crate) fn order_dependencies_first<'a>(
    deps: &BTreeMap<&'a BundleId, Vec<&'a BundleId>>,
) -> Vec<&'a BundleId> {
    // Ids by position in id order (the map's order).
    let ids: Vec<&BundleId> = deps.keys().copied().collect();
    let pos: HashMap<&BundleId, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    // `waiting[i]`: how many distinct dependencies of i are not placed yet; `dependents[j]`:
    // the ids waiting for j.
    let mut waiting = vec![0usize; ids.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); ids.len()];
    let mut seen: std::collections::HashSet<(usize, usize)> = std::collections::HashSet::new();
    for (from, list) in deps.values().enumerate() {
        for to in list {
            if let Some(&to) = pos.get(to)
                && from != to
                && seen.insert((from, to))
            {
                waiting[from] += 1;
                dependents[to].push(from);
            }
        }
    }
    let mut placed = vec![false; ids.len()];
    let mut order = Vec::with_capacity(ids.len());
    let mut level: Vec<usize> = (0..ids.len()).filter(|&i| waiting[i] == 0).collect();
    // The smallest id not placed yet, for breaking cycles (only moves forward).
    let mut smallest = 0;
    while order.len() < ids.len() {
        if level.is_empty() {
            while placed[smallest] {
                smallest += 1;
            }
            level.push(smallest);
        }
        for &i in &level {
            placed[i] = true;
            order.push(ids[i]);
        }
        let mut next = Vec::new();
        for &i in &level {
            for &d in &dependents[i] {
                waiting[d] -= 1;
                if waiting[d] == 0 && !placed[d] {
                    next.push(d);
                }
            }
        }
        // Positions follow id order: sorting them sorts the level by id.
        next.sort_unstable();
        level = next;
    }
    order
}

/// Resolves against a source that already holds every needed file (tests, offline use):
/// a [`Resolution::NeedIndex`] becomes an error naming the missing bundles.
pub fn resolve_complete(
    roots: &[(BundleId, VersionReq)],
    source: &impl CandidateSource,
    opts: &ResolveOptions,
) -> Result<DependencyGraph, ResolveError> {
    match resolve(roots, source, opts)? {
        Resolution::Done(g) => Ok(g),
        Resolution::NeedIndex(ids) => Err(ResolveError::IndexFilesMissing(ids)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> BundleId {
        BundleId::parse(s).unwrap()
    }

    fn req(s: &str) -> VersionReq {
        VersionReq::parse(s).unwrap()
    }

    fn cand(version: &str, deps: &[(&str, &str)]) -> Candidate {
        Candidate {
            version: Version::parse(version).unwrap(),
            dependencies: deps.iter().map(|(d, r)| (id(d), req(r))).collect(),
            yanked: false,
            ratchet_version: None,
            platforms: vec![],
        }
    }

    type Index = HashMap<BundleId, Vec<Candidate>>;

    fn index(entries: Vec<(&str, Vec<Candidate>)>) -> Index {
        entries.into_iter().map(|(k, v)| (id(k), v)).collect()
    }

    fn opts() -> ResolveOptions {
        ResolveOptions {
            platform: Some(Platform::Linux),
            ..Default::default()
        }
    }

    fn versions(g: &DependencyGraph) -> Vec<String> {
        g.nodes
            .values()
            .map(|n| format!("{}@{}", n.id, n.version))
            .collect()
    }

    #[test]
    fn ranges_follow_the_spec() {
        let r = |s: &str| req_to_range(&req(s));
        let ver = |s: &str| Version::parse(s).unwrap();
        assert!(r("^1.2.3").contains(&ver("1.9.0")));
        assert!(!r("^1.2.3").contains(&ver("2.0.0")));
        assert!(!r("^1.2.3").contains(&ver("2.0.0-alpha")));
        assert!(r("^0.2.3").contains(&ver("0.2.9")));
        assert!(!r("^0.2.3").contains(&ver("0.3.0")));
        assert!(!r("^0.0.3").contains(&ver("0.0.4")));
        assert!(r("~1.2").contains(&ver("1.2.7")));
        assert!(!r("~1.2").contains(&ver("1.3.0")));
        assert!(r(">=1.0.0 <2.0.0").contains(&ver("1.0.0")));
        assert!(!r(">=1.0.0 <2.0.0").contains(&ver("2.0.0")));
        assert!(r("=1.0.0").contains(&ver("1.0.0")));
        assert!(!r("=1.0.0").contains(&ver("1.0.1")));
        assert!(r("*").contains(&ver("7.0.0")));
        assert!(r("<=1.2").contains(&ver("1.2.9")));
        assert!(!r(">1.2").contains(&ver("1.2.9")));
        assert!(r(">1.2").contains(&ver("1.3.0")));
        assert!(r("1.*").contains(&ver("1.5.0")));
        // Every comparator agrees with VersionReq::matches on release versions.
        for rq in [
            "^1.2.3",
            "~1.2",
            ">=1.0.0 <2.0.0",
            "=1.0.0",
            "*",
            "<=1.2",
            ">1.2",
            "1.*",
            "^0.2",
            "~1",
            "<2",
        ] {
            for vv in [
                "0.1.0", "0.2.5", "1.0.0", "1.2.0", "1.2.3", "1.2.9", "1.3.0", "1.9.9", "2.0.0",
                "3.1.4",
            ] {
                assert_eq!(
                    r(rq).contains(&ver(vv)),
                    req(rq).matches(&ver(vv)),
                    "{rq} vs {vv}"
                );
            }
        }
    }

    #[test]
    fn picks_highest_matching_and_orders_install() {
        let idx = index(vec![
            (
                "com.app.main",
                vec![cand("1.0.0", &[("com.lib.a", "^1.0"), ("com.lib.b", "*")])],
            ),
            (
                "com.lib.a",
                vec![
                    cand("1.0.0", &[]),
                    cand("1.4.0", &[("com.lib.c", ">=2")]),
                    cand("2.0.0", &[]),
                ],
            ),
            ("com.lib.b", vec![cand("0.3.0", &[("com.lib.c", "^2.1")])]),
            (
                "com.lib.c",
                vec![cand("2.0.0", &[]), cand("2.1.0", &[]), cand("3.0.0", &[])],
            ),
        ]);
        let g = resolve_complete(&[(id("com.app.main"), req("*"))], &idx, &opts()).unwrap();
        assert_eq!(
            versions(&g),
            vec![
                "com.app.main@1.0.0",
                "com.lib.a@1.4.0",
                "com.lib.b@0.3.0",
                "com.lib.c@2.1.0"
            ]
        );
        let pos = |s: &str| {
            g.install_order
                .iter()
                .position(|i| i.as_str() == s)
                .unwrap()
        };
        assert!(pos("com.lib.c") < pos("com.lib.a"));
        assert!(pos("com.lib.c") < pos("com.lib.b"));
        assert!(pos("com.lib.a") < pos("com.app.main"));
        assert!(g.nodes[&id("com.app.main")].requested);
        assert!(!g.nodes[&id("com.lib.c")].requested);
        assert_eq!(g.dependents_of(&id("com.lib.c")).len(), 2);
    }

    #[test]
    fn waves_follow_depth() {
        let full = index(vec![
            (
                "com.x.a",
                vec![cand("1.0.0", &[("com.x.b", "*"), ("com.x.c", "*")])],
            ),
            ("com.x.b", vec![cand("1.0.0", &[("com.x.d", "*")])]),
            ("com.x.c", vec![cand("1.0.0", &[("com.x.d", "*")])]),
            ("com.x.d", vec![cand("1.0.0", &[])]),
        ]);
        let mut loaded: Index = HashMap::new();
        let mut waves = Vec::new();
        loop {
            match resolve(&[(id("com.x.a"), req("*"))], &loaded, &opts()).unwrap() {
                Resolution::Done(g) => {
                    assert_eq!(g.nodes.len(), 4);
                    break;
                }
                Resolution::NeedIndex(ids) => {
                    for i in &ids {
                        loaded.insert(i.clone(), full[i].clone());
                    }
                    waves.push(ids.into_iter().map(|i| i.to_string()).collect::<Vec<_>>());
                }
            }
        }
        assert_eq!(
            waves,
            vec![vec!["com.x.a"], vec!["com.x.b", "com.x.c"], vec!["com.x.d"]]
        );
    }

    #[test]
    fn yanked_only_when_locked() {
        let mut yanked = cand("1.1.0", &[]);
        yanked.yanked = true;
        let idx = index(vec![("com.x.a", vec![cand("1.0.0", &[]), yanked])]);
        let g = resolve_complete(&[(id("com.x.a"), req("^1"))], &idx, &opts()).unwrap();
        assert_eq!(versions(&g), vec!["com.x.a@1.0.0"]);
        let mut o = opts();
        o.locked.insert(id("com.x.a"), Version::new(1, 1, 0));
        let g = resolve_complete(&[(id("com.x.a"), req("^1"))], &idx, &o).unwrap();
        assert_eq!(versions(&g), vec!["com.x.a@1.1.0"]);
        let err = resolve_complete(&[(id("com.x.a"), req("=1.1.0"))], &idx, &opts())
            .unwrap_err()
            .to_string();
        assert!(err.contains("yanked"), "{err}");
    }

    #[test]
    fn prereleases_only_when_asked() {
        let idx = index(vec![(
            "com.x.a",
            vec![cand("1.0.0", &[]), cand("2.0.0-beta.1", &[])],
        )]);
        let g = resolve_complete(&[(id("com.x.a"), req("*"))], &idx, &opts()).unwrap();
        assert_eq!(versions(&g), vec!["com.x.a@1.0.0"]);
        let g = resolve_complete(&[(id("com.x.a"), req(">=2.0.0-beta.1"))], &idx, &opts()).unwrap();
        assert_eq!(versions(&g), vec!["com.x.a@2.0.0-beta.1"]);
        // Only pre-releases of the MAJOR.MINOR.PATCH the requirement names: not 3.0.0-alpha.1.
        let idx = index(vec![(
            "com.x.a",
            vec![
                cand("2.0.0-beta.1", &[]),
                cand("2.0.0", &[]),
                cand("3.0.0-alpha.1", &[]),
            ],
        )]);
        let g = resolve_complete(&[(id("com.x.a"), req(">=2.0.0-beta.1"))], &idx, &opts()).unwrap();
        assert_eq!(versions(&g), vec!["com.x.a@2.0.0"]);
    }

    #[test]
    fn a_dropped_version_does_not_unlock_prereleases() {
        // com.x.a 2.0.0 asks for a pre-release of com.x.c but cannot be chosen (it needs a
        // com.x.d that does not exist): its requirement must not leak into the solution.
        let idx = index(vec![
            (
                "com.x.d",
                vec![cand("2.0.0", &[("com.x.a", "*"), ("com.x.c", ">=1.0.0")])],
            ),
            (
                "com.x.a",
                vec![
                    cand("1.0.0", &[]),
                    cand("2.0.0", &[("com.x.c", ">=1.2.0-beta.1"), ("com.x.d", "^9")]),
                ],
            ),
            (
                "com.x.c",
                vec![
                    cand("1.0.0", &[]),
                    cand("1.1.0", &[]),
                    cand("1.2.0-beta.1", &[]),
                ],
            ),
        ]);
        let g = resolve_complete(&[(id("com.x.d"), req("=2.0.0"))], &idx, &opts()).unwrap();
        assert_eq!(
            versions(&g),
            vec!["com.x.a@1.0.0", "com.x.c@1.1.0", "com.x.d@2.0.0"]
        );
    }

    #[test]
    fn huge_version_parts_neither_panic_nor_match_everything() {
        let idx = index(vec![(
            "com.x.a",
            vec![cand("1.0.0", &[]), cand("2.0.0", &[])],
        )]);
        let max = u64::MAX;
        for r in [
            format!("^{max}"),
            format!(">{max}"),
            format!("~1.{max}"),
            format!("<={max}"),
            format!("{max}.*"),
            format!("^0.0.{max}"),
        ] {
            let result = resolve_complete(&[(id("com.x.a"), req(&r))], &idx, &opts());
            match r.as_str() {
                x if x.starts_with("<=") => assert!(result.is_ok(), "{r}: {result:?}"),
                _ => assert!(result.is_err(), "{r} matched something"),
            }
        }
    }

    #[test]
    fn locked_versions_are_kept() {
        let idx = index(vec![(
            "com.x.a",
            vec![cand("1.0.0", &[]), cand("1.5.0", &[])],
        )]);
        let mut o = opts();
        o.locked.insert(id("com.x.a"), Version::new(1, 0, 0));
        let g = resolve_complete(&[(id("com.x.a"), req("^1"))], &idx, &o).unwrap();
        assert_eq!(versions(&g), vec!["com.x.a@1.0.0"]);
    }

    #[test]
    fn ratchet_version_and_platform_are_checked() {
        let mut new = cand("2.0.0", &[]);
        new.ratchet_version = Some(req(">=3.0.0"));
        let mut win = cand("1.5.0", &[]);
        win.platforms = vec![Platform::Windows];
        let idx = index(vec![("com.x.a", vec![cand("1.0.0", &[]), win, new])]);
        let g = resolve_complete(&[(id("com.x.a"), req("*"))], &idx, &opts()).unwrap();
        assert_eq!(versions(&g), vec!["com.x.a@1.0.0"]);
        let err = resolve_complete(&[(id("com.x.a"), req("^2"))], &idx, &opts())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("needs Ratchet >=3.0.0 and this client targets Ratchet 1.0.0"),
            "{err}"
        );
        let err = resolve_complete(&[(id("com.x.a"), req("=1.5.0"))], &idx, &opts())
            .unwrap_err()
            .to_string();
        assert!(err.contains("runs only on windows"), "{err}");
    }

    #[test]
    fn conflict_between_two_requirements_names_the_chain() {
        let idx = index(vec![
            (
                "com.app.web",
                vec![cand("1.0.0", &[("com.lib.core", "^1.0")])],
            ),
            (
                "com.app.cli",
                vec![cand("2.0.0", &[("com.lib.core", "^2.0")])],
            ),
            ("com.lib.core", vec![cand("1.3.0", &[]), cand("2.1.0", &[])]),
        ]);
        let err = resolve_complete(
            &[(id("com.app.web"), req("*")), (id("com.app.cli"), req("*"))],
            &idx,
            &opts(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("com.app.web depends on com.lib.core >=1.0.0, <2.0.0"),
            "{err}"
        );
        assert!(
            err.contains("com.app.cli 2.0.0 depends on com.lib.core >=2.0.0, <3.0.0"),
            "{err}"
        );
        assert!(!err.contains("-0"), "{err}");
    }

    #[test]
    fn conflict_through_a_chain_lists_every_link() {
        let idx = index(vec![
            ("com.x.a", vec![cand("1.0.0", &[("com.x.b", "^1")])]),
            ("com.x.b", vec![cand("1.4.0", &[("com.x.c", "~1.2")])]),
            ("com.x.c", vec![cand("1.2.5", &[]), cand("2.0.0", &[])]),
        ]);
        let err = resolve_complete(
            &[(id("com.x.a"), req("*")), (id("com.x.c"), req("^2"))],
            &idx,
            &opts(),
        )
        .unwrap_err()
        .to_string();
        for line in [
            "  these cannot all hold at once:",
            "  - you asked for com.x.a (any version)",
            "  - you asked for com.x.c >=2.0.0, <3.0.0",
            "  - com.x.a 1.0.0 needs com.x.b >=1.0.0, <2.0.0",
            "  - com.x.b >=1.0.0, <2.0.0 needs com.x.c >=1.2.0, <1.3.0",
            "  why, step by step:",
        ] {
            assert!(
                err.lines().any(|l| l == line),
                "no line `{line}` in:\n{err}"
            );
        }
        assert!(!err.contains("-0"), "{err}");
    }

    #[test]
    fn only_yanked_versions_left_is_explained() {
        let mut y = cand("1.1.0", &[]);
        y.yanked = true;
        let idx = index(vec![
            ("com.x.a", vec![cand("1.0.0", &[("com.x.b", "^1.1")])]),
            ("com.x.b", vec![cand("1.0.0", &[]), y]),
        ]);
        let err = resolve_complete(&[(id("com.x.a"), req("*"))], &idx, &opts())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("  - com.x.b 1.1.0 cannot be used because it was yanked by its publisher"),
            "{err}"
        );
        assert!(
            err.contains("  - com.x.a 1.0.0 needs com.x.b >=1.1.0, <2.0.0"),
            "{err}"
        );
    }

    #[test]
    fn missing_version_is_explained() {
        let idx = index(vec![
            ("com.x.a", vec![cand("1.0.0", &[("com.x.b", "^3")])]),
            ("com.x.b", vec![cand("2.0.0", &[])]),
        ]);
        let err = resolve_complete(&[(id("com.x.a"), req("*"))], &idx, &opts())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("available versions of com.x.b: 2.0.0"),
            "{err}"
        );
        assert!(err.contains("com.x.a depends on com.x.b"), "{err}");
    }

    #[test]
    fn unknown_bundle() {
        let idx = index(vec![("com.x.a", vec![])]);
        let err = resolve_complete(&[(id("com.x.a"), req("*"))], &idx, &opts())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("com.x.a has no version this client can use"),
            "{err}"
        );
    }

    #[test]
    fn cycles_still_resolve() {
        let idx = index(vec![
            ("com.x.a", vec![cand("1.0.0", &[("com.x.b", "*")])]),
            ("com.x.b", vec![cand("1.0.0", &[("com.x.a", "*")])]),
        ]);
        let g = resolve_complete(&[(id("com.x.a"), req("*"))], &idx, &opts()).unwrap();
        assert_eq!(g.install_order.len(), 2);
    }

    /// The order before Kahn's algorithm (quadratic): kept as the reference the linear one
    /// must agree with, cycles included.
    fn reference_order(
        nodes: &BTreeMap<BundleId, BundleNode>,
        edges: &[DependencyEdge],
    ) -> Vec<BundleId> {
        let mut remaining: BTreeMap<&BundleId, BTreeSet<&BundleId>> =
            nodes.keys().map(|k| (k, BTreeSet::new())).collect();
        for e in edges {
            if e.from != e.to
                && nodes.contains_key(&e.to)
                && let Some(deps) = remaining.get_mut(&e.from)
            {
                deps.insert(&e.to);
            }
        }
        let mut order = Vec::new();
        while !remaining.is_empty() {
            let ready: Vec<&BundleId> = remaining
                .iter()
                .filter(|(_, d)| d.is_empty())
                .map(|(k, _)| *k)
                .collect();
            let next = if ready.is_empty() {
                remaining.keys().take(1).copied().collect()
            } else {
                ready
            };
            for id in next {
                remaining.remove(id);
                for deps in remaining.values_mut() {
                    deps.remove(id);
                }
                order.push(id.clone());
            }
        }
        order
    }

    /// A graph of `n` nodes with `m` pseudo-random edges (self-loops, duplicates, cycles and
    /// edges to unknown nodes included).
    fn random_graph(
        n: usize,
        m: usize,
        seed: u64,
    ) -> (BTreeMap<BundleId, BundleNode>, Vec<DependencyEdge>) {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let name = |i: u64| id(&format!("com.g.n{i}"));
        let nodes = (0..n as u64)
            .map(|i| {
                let b = BundleNode {
                    id: name(i),
                    version: Version::new(1, 0, 0),
                    requested: false,
                };
                (b.id.clone(), b)
            })
            .collect();
        let edges = (0..m)
            .map(|_| {
                let a = next() % n as u64;
                // Mostly towards higher numbers (a DAG), sometimes back (a cycle) or outside.
                let b = match next() % 10 {
                    0 => next() % n as u64,
                    1 => n as u64 + 1,
                    _ => a + 1 + next() % 5,
                };
                DependencyEdge {
                    from: name(a),
                    to: name(b),
                    req: req("*"),
                }
            })
            .collect();
        (nodes, edges)
    }

    #[test]
    fn install_order_agrees_with_the_reference_on_random_graphs() {
        for seed in 1..60u64 {
            let n = 1 + (seed as usize * 7) % 40;
            let (nodes, edges) = random_graph(n, n * 2, seed);
            assert_eq!(
                topological_order(&nodes, &edges),
                reference_order(&nodes, &edges),
                "seed {seed}"
            );
        }
    }

    #[test]
    fn install_order_puts_dependencies_first_on_a_large_graph() {
        // 60,000 nodes: the quadratic order spent minutes on this; Kahn's algorithm a blink.
        let n = 60_000u64;
        let name = |i: u64| id(&format!("com.g.n{i}"));
        let nodes: BTreeMap<BundleId, BundleNode> = (0..n)
            .map(|i| {
                let b = BundleNode {
                    id: name(i),
                    version: Version::new(1, 0, 0),
                    requested: false,
                };
                (b.id.clone(), b)
            })
            .collect();
        let edges: Vec<DependencyEdge> = (0..n)
            .flat_map(|i| [i * 2 + 1, i * 2 + 2, i + 7])
            .enumerate()
            .filter(|&(_, to)| to < n)
            .map(|(k, to)| DependencyEdge {
                from: name(k as u64 / 3),
                to: name(to),
                req: req("*"),
            })
            .collect();
        let order = topological_order(&nodes, &edges);
        assert_eq!(order.len(), n as usize);
        let at: HashMap<&BundleId, usize> =
            order.iter().enumerate().map(|(i, id)| (id, i)).collect();
        for e in &edges {
            assert!(at[&e.to] < at[&e.from], "{} before {}", e.to, e.from);
        }
    }

    /// The failure of a resolution expected to have none.
    fn no_solution(err: ResolveError) -> NoSolution {
        match err {
            ResolveError::NoSolution(n) => *n,
            other => panic!("expected NoSolution, got {other:?}"),
        }
    }

    fn unusable_reasons(n: &NoSolution) -> Vec<(String, Unusable)> {
        n.facts
            .iter()
            .filter_map(|f| match f {
                Fact::Unusable { id, reason, .. } => Some((id.to_string(), reason.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn unusable_versions_are_reported_as_typed_facts() {
        let mut yanked = cand("1.1.0", &[]);
        yanked.yanked = true;
        let mut new = cand("2.0.0", &[]);
        new.ratchet_version = Some(req(">=3.0.0"));
        let mut win = cand("1.5.0", &[]);
        win.platforms = vec![Platform::Windows];
        let idx = index(vec![(
            "com.x.a",
            vec![cand("1.0.0", &[]), yanked, win, new],
        )]);
        let fail = |r: &str| {
            no_solution(resolve_complete(&[(id("com.x.a"), req(r))], &idx, &opts()).unwrap_err())
        };

        let n = fail("=1.1.0");
        assert_eq!(
            unusable_reasons(&n),
            vec![("com.x.a".to_string(), Unusable::Yanked)]
        );
        assert_eq!(
            n.facts[0].rank(),
            0,
            "the request comes first: {:?}",
            n.facts
        );
        assert!(matches!(&n.facts[0], Fact::Requested { id: i, .. } if i == &id("com.x.a")));

        let n = fail("^2");
        assert_eq!(
            unusable_reasons(&n),
            vec![(
                "com.x.a".to_string(),
                Unusable::RatchetVersion {
                    needs: req(">=3.0.0"),
                    client: opts().ratchet_version,
                }
            )]
        );

        let n = fail("=1.5.0");
        assert_eq!(
            unusable_reasons(&n),
            vec![(
                "com.x.a".to_string(),
                Unusable::Platform {
                    runs_on: vec![Platform::Windows]
                }
            )]
        );
        // The hint lists what this client can use: not the yanked, too new or Windows-only ones.
        assert_eq!(
            n.available,
            vec![AvailableVersions {
                id: id("com.x.a"),
                versions: vec![Version::new(1, 0, 0)],
            }]
        );
    }

    #[test]
    fn a_conflict_keeps_the_derivation_tree_and_its_facts() {
        let idx = index(vec![
            ("com.x.a", vec![cand("1.0.0", &[("com.x.b", "^3")])]),
            ("com.x.b", vec![cand("2.0.0", &[])]),
        ]);
        let n =
            no_solution(resolve_complete(&[(id("com.x.a"), req("*"))], &idx, &opts()).unwrap_err());
        assert!(
            matches!(n.tree, DerivationTree::Derived(_)),
            "a derived failure: {:?}",
            n.tree
        );
        assert!(n.facts.iter().any(|f| matches!(
            f,
            Fact::Needs { from, dep, range, .. }
                if from == &id("com.x.a") && dep == &id("com.x.b") && range.contains(&Version::new(3, 1, 0))
                    && !range.contains(&Version::new(2, 0, 0))
        )), "{:?}", n.facts);
        assert_eq!(n.facts.len(), 2, "{:?}", n.facts);
        let b = n.available.iter().find(|a| a.id == id("com.x.b")).unwrap();
        assert_eq!(b.versions, vec![Version::new(2, 0, 0)]);
        // Facts are ranked: requests, then needs, then what is missing.
        let ranks: Vec<u8> = n.facts.iter().map(Fact::rank).collect();
        assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{ranks:?}");
    }

    #[test]
    fn an_unknown_bundle_has_no_usable_version() {
        let idx = index(vec![("com.x.a", vec![])]);
        let n =
            no_solution(resolve_complete(&[(id("com.x.a"), req("*"))], &idx, &opts()).unwrap_err());
        assert_eq!(
            n.available,
            vec![AvailableVersions {
                id: id("com.x.a"),
                versions: vec![],
            }]
        );
        let missing =
            resolve_complete(&[(id("com.x.z"), req("*"))], &index(vec![]), &opts()).unwrap_err();
        assert!(
            matches!(&missing, ResolveError::IndexFilesMissing(ids) if ids.contains(&id("com.x.z"))),
            "{missing:?}"
        );
    }
}
