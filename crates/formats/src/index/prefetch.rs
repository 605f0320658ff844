//! Prefetch hints: the bundles a bundle's newest release needs, all the way down.
//!
//! A client discovers a dependency graph one level per round trip: it learns what a bundle
//! needs only when that bundle's index file arrives. On a deep graph over a slow link that is
//! most of an install's time (ten levels at 100 ms is a second of waiting). The publisher knows
//! the whole graph already, so it writes, beside the bundle's index file, the ids its newest
//! release reaches and the archives of the versions a fresh install picks for them
//! (`prefetch/<aa>/<bb>/<id>.json`, `index-format.md` §6.5.1); a client fetches the hint of each
//! bundle it was asked for with that bundle's index file, and every index file and archive the
//! hint names in its second round trip instead of one level at a time. A file of its own,
//! not a field of the metadata file every install reads for every bundle: only the requested
//! bundles' hints are read. A hint only ever makes a client fetch files it checks as usual: a
//! stale or wrong hint costs requests, never correctness.

use super::line::IndexLine;
use super::{FormatError, MAX_SMALL_FILE_LEN};
use crate::manifest::BundleId;
use semver::Version;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet, VecDeque};

/// Format version of prefetch files.
pub const PREFETCH_FORMAT: u32 = 1;

/// Most ids a hint lists; a writer keeps the nearest ones (breadth first), a reader refuses a
/// longer list.
pub const MAX_PREFETCH_IDS: usize = 1024;

/// Largest prefetch file a reader accepts.
pub const MAX_PREFETCH_FILE_LEN: u64 = MAX_SMALL_FILE_LEN;

/// A bundle's prefetch hint: the ids the dependencies of `version` reach, nearest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prefetch {
    /// [`PREFETCH_FORMAT`].
    pub v: u32,
    /// The bundle the hint is about.
    pub id: BundleId,
    /// The version the hint was computed for: the bundle's highest unyanked release when the
    /// registry last wrote the file.
    pub version: Version,
    /// The bundles that version's dependencies reach (not the bundle itself), breadth first,
    /// without repeats, at most [`MAX_PREFETCH_IDS`].
    pub ids: Vec<BundleId>,
    /// The archives of the versions the walk picked (the bundle's own aside), in the order it
    /// picked them, without repeats, at most [`MAX_PREFETCH_IDS`]: a client downloads them in
    /// the round trip that brings the index files, and uses one only for an index line with
    /// the same digest. Absent (empty) in hints written before archives were listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub archives: Vec<HintedArchive>,
}

/// An archive a hint names: the version it is of, its content address and size, as in that
/// version's index line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HintedArchive {
    /// The bundle.
    pub id: BundleId,
    /// The version picked.
    pub version: Version,
    /// The archive's SHA-256, 64 lower-case hex digits.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

impl Prefetch {
    /// Parses a prefetch file; `file` names it in errors. `Ok(None)` for a file of a format
    /// this reader does not know (a newer writer's: ignored, not an error). Refuses a file over
    /// [`MAX_PREFETCH_FILE_LEN`], or whose `ids` are too many, repeat an id or name the bundle
    /// itself.
    pub fn parse(bytes: &[u8], file: &str) -> Result<Option<Prefetch>, FormatError> {
        let err = |line, message: String| FormatError::Parse {
            file: file.to_string(),
            line,
            message,
        };
        if bytes.len() as u64 > MAX_PREFETCH_FILE_LEN {
            return Err(err(
                None,
                format!("larger than {MAX_PREFETCH_FILE_LEN} bytes"),
            ));
        }
        let json = |e: serde_json::Error| {
            err(
                Some(e.line()),
                crate::task::strip_json_position(&e.to_string()),
            )
        };
        #[derive(Deserialize)]
        struct Format {
            v: u32,
        }
        if serde_json::from_slice::<Format>(bytes).map_err(json)?.v != PREFETCH_FORMAT {
            return Ok(None);
        }
        let p: Prefetch = serde_json::from_slice(bytes).map_err(json)?;
        if p.ids.len() > MAX_PREFETCH_IDS {
            return Err(err(
                None,
                format!("{} ids, more than {MAX_PREFETCH_IDS}", p.ids.len()),
            ));
        }
        let mut seen = HashSet::new();
        if let Some(bad) = p.ids.iter().find(|i| **i == p.id || !seen.insert(*i)) {
            return Err(err(
                None,
                format!("{bad} is listed twice or is the bundle itself"),
            ));
        }
        if p.archives.len() > MAX_PREFETCH_IDS {
            return Err(err(
                None,
                format!(
                    "{} archives, more than {MAX_PREFETCH_IDS}",
                    p.archives.len()
                ),
            ));
        }
        let mut digests = HashSet::new();
        for (k, a) in p.archives.iter().enumerate() {
            if a.sha256.len() != 64
                || !a
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(err(
                    None,
                    format!("archive {k}'s sha256 is not 64 lower-case hex digits"),
                ));
            }
            if !digests.insert(a.sha256.as_str()) {
                return Err(err(None, format!("archive {} is listed twice", a.sha256)));
            }
        }
        Ok(Some(p))
    }

    /// Compact JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string(self).expect("a hint serializes");
        s.push('\n');
        s
    }
}

/// Writes `hint` as the prefetch file of `id` under the registry directory `root`, or removes
/// that file when `hint` is `None` (§6.5.1). Returns whether the file changed (an unchanged
/// file is not rewritten).
pub fn store(
    root: &std::path::Path,
    id: &BundleId,
    hint: Option<&Prefetch>,
) -> std::io::Result<bool> {
    let path = root.join(super::prefetch_path(id));
    match hint {
        Some(h) => {
            let bytes = h.to_json();
            if std::fs::read(&path).is_ok_and(|b| b == bytes.as_bytes()) {
                return Ok(false);
            }
            crate::fsutil::write_atomic(&path, bytes.as_bytes())?;
            Ok(true)
        }
        None => match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        },
    }
}

/// The highest unyanked release (not a pre-release) among `lines`: the version a plain
/// `install ID` picks, and the one a hint is computed for.
pub fn newest_release(lines: &[IndexLine]) -> Option<&IndexLine> {
    lines
        .iter()
        .filter(|l| !l.yanked && l.version.pre.is_empty())
        .max_by(|a, b| a.version.cmp(&b.version))
}

/// Computes the hint of `root` (its newest release's line among `lines`) by walking the
/// dependencies as a client would pick them with nothing locked: for each requirement, the
/// highest unyanked release that matches it. `index` gives the lines of an id (`None` when it
/// has no index file). Returns `None` when the bundle has no release or its release has no
/// dependencies.
pub fn compute(
    root: &BundleId,
    lines: &[IndexLine],
    mut index: impl FnMut(&BundleId) -> Option<Vec<IndexLine>>,
) -> Option<Prefetch> {
    let top = newest_release(lines)?;
    if top.dependencies.is_empty() {
        return None;
    }
    let mut ids: Vec<BundleId> = Vec::new();
    let mut archives: Vec<HintedArchive> = Vec::new();
    let mut digests: HashSet<String> = HashSet::new();
    let mut listed: HashSet<BundleId> = HashSet::from([root.clone()]);
    // (id, version) pairs whose dependencies were taken in; an id reached by two requirements
    // that pick different versions contributes both versions' dependencies.
    let mut expanded: BTreeSet<(BundleId, Version)> = BTreeSet::new();
    let mut queue: VecDeque<(BundleId, Version, Vec<_>)> = VecDeque::new();
    queue.push_back((root.clone(), top.version.clone(), top.dependencies.clone()));
    let mut cache: std::collections::HashMap<BundleId, Option<Vec<IndexLine>>> =
        std::collections::HashMap::new();
    while let Some((id, version, deps)) = queue.pop_front() {
        if !expanded.insert((id, version)) {
            continue;
        }
        for d in deps {
            if listed.insert(d.bundle_id.clone()) {
                if ids.len() == MAX_PREFETCH_IDS {
                    return Some(fit(Prefetch {
                        v: PREFETCH_FORMAT,
                        id: root.clone(),
                        version: top.version.clone(),
                        ids,
                        archives,
                    }));
                }
                ids.push(d.bundle_id.clone());
            }
            let dep_lines = cache
                .entry(d.bundle_id.clone())
                .or_insert_with(|| index(&d.bundle_id));
            let Some(dep_lines) = dep_lines else { continue };
            let pick = dep_lines
                .iter()
                .filter(|l| !l.yanked && d.version.matches(&l.version))
                .max_by(|a, b| a.version.cmp(&b.version));
            if let Some(l) = pick {
                if archives.len() < MAX_PREFETCH_IDS
                    && d.bundle_id != *root
                    && digests.insert(l.sha256.clone())
                {
                    archives.push(HintedArchive {
                        id: d.bundle_id.clone(),
                        version: l.version.clone(),
                        sha256: l.sha256.clone(),
                        size: l.size,
                    });
                }
                queue.push_back((
                    d.bundle_id.clone(),
                    l.version.clone(),
                    l.dependencies.clone(),
                ));
            }
        }
    }
    Some(fit(Prefetch {
        v: PREFETCH_FORMAT,
        id: root.clone(),
        version: top.version.clone(),
        ids,
        archives,
    }))
}

/// Cuts `hint` to what a reader accepts ([`MAX_PREFETCH_FILE_LEN`]): the farthest archives
/// first, then the farthest ids (1,024 long ids with their archives can be larger).
fn fit(mut hint: Prefetch) -> Prefetch {
    let limit = MAX_PREFETCH_FILE_LEN as usize;
    let mut len = hint.to_json().len();
    while len > limit {
        // Each entry costs at least its own length; cut a batch at a time.
        let over = len - limit;
        if !hint.archives.is_empty() {
            let cut = (over / 100).clamp(1, hint.archives.len());
            hint.archives.truncate(hint.archives.len() - cut);
        } else if !hint.ids.is_empty() {
            let cut = (over / 300).clamp(1, hint.ids.len());
            hint.ids.truncate(hint.ids.len() - cut);
        } else {
            break;
        }
        len = hint.to_json().len();
    }
    hint
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn line(id: &str, version: &str, deps: &[(&str, &str)], yanked: bool) -> IndexLine {
        let deps: Vec<_> = deps
            .iter()
            .map(|(d, r)| serde_json::json!({"bundle_id": d, "version": r}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "v": 1, "id": id, "version": version, "dependencies": deps,
            "sha256": crate::archive::sha256_hex(format!("{id}@{version}").as_bytes()),
            "size": 10, "published": "2026-01-01T00:00:00Z",
            "requirements": {}, "license": "MIT", "pricing": "free", "keywords": [],
            "permissions": {}, "resources": {}, "yanked": yanked,
        }))
        .unwrap()
    }

    fn id(s: &str) -> BundleId {
        BundleId::parse(s).unwrap()
    }

    #[test]
    fn walks_newest_matching_releases_breadth_first() {
        let mut reg: HashMap<BundleId, Vec<IndexLine>> = HashMap::new();
        reg.insert(
            id("com.a.b"),
            vec![
                line("com.a.b", "1.0.0", &[("com.a.old", "^1")], false),
                line(
                    "com.a.b",
                    "2.0.0",
                    &[("com.a.c", "^1"), ("com.a.d", "^1")],
                    false,
                ),
                line("com.a.b", "3.0.0", &[("com.a.yanked", "^1")], true),
            ],
        );
        reg.insert(
            id("com.a.c"),
            vec![
                line("com.a.c", "1.0.0", &[("com.a.x", "^1")], false),
                line("com.a.c", "1.1.0", &[("com.a.e", "^1")], false),
                line("com.a.c", "2.0.0", &[("com.a.y", "^1")], false),
            ],
        );
        reg.insert(
            id("com.a.d"),
            vec![line("com.a.d", "1.0.0", &[("com.a.e", "^1")], false)],
        );
        reg.insert(
            id("com.a.e"),
            vec![line("com.a.e", "1.0.0", &[("com.a.f", "^1")], false)],
        );
        let root = id("com.a.b");
        let hint = compute(&root, &reg[&root], |i| reg.get(i).cloned()).unwrap();
        assert_eq!(hint.version, Version::new(2, 0, 0));
        let got: Vec<&str> = hint.ids.iter().map(BundleId::as_str).collect();
        // Nearest first; 1.1.0 of c (not 2.0.0, not 1.0.0); an id without an index file (f)
        // is listed, its dependencies unknown.
        assert_eq!(got, ["com.a.c", "com.a.d", "com.a.e", "com.a.f"]);
        // The archives of the versions picked, in the order picked, each once (e is reached
        // twice at one version).
        let want: Vec<String> = [
            ("com.a.c", "1.1.0"),
            ("com.a.d", "1.0.0"),
            ("com.a.e", "1.0.0"),
        ]
        .iter()
        .map(|(i, v)| crate::archive::sha256_hex(format!("{i}@{v}").as_bytes()))
        .collect();
        let digests: Vec<String> = hint.archives.iter().map(|a| a.sha256.clone()).collect();
        assert_eq!(digests, want);
        assert!(hint.archives.iter().all(|a| a.size == 10));
    }

    #[test]
    fn no_hint_without_a_release_or_without_dependencies() {
        let root = id("com.a.b");
        assert!(compute(&root, &[line("com.a.b", "1.0.0", &[], false)], |_| None).is_none());
        assert!(
            compute(
                &root,
                &[line("com.a.b", "1.0.0-rc.1", &[("com.a.c", "^1")], false)],
                |_| None
            )
            .is_none()
        );
    }

    #[test]
    fn a_long_chain_is_cut_at_the_limit_and_a_cycle_ends() {
        let name = |k: usize| format!("com.chain.b{k}");
        // A chain of `n` bundles whose last one points back at the first: a cycle.
        let chain = |n: usize| {
            move |i: &BundleId| {
                let k: usize = i
                    .as_str()
                    .trim_start_matches("com.chain.b")
                    .parse()
                    .unwrap();
                let next = if k + 1 == n { 0 } else { k + 1 };
                Some(vec![line(
                    i.as_str(),
                    "1.0.0",
                    &[(&name(next), "^1")],
                    false,
                )])
            }
        };
        let root = id(&name(0));
        let long = chain(MAX_PREFETCH_IDS + 10);
        let hint = compute(&root, &long(&root).unwrap(), long).unwrap();
        assert_eq!(hint.ids.len(), MAX_PREFETCH_IDS);
        assert_eq!(hint.ids[0].as_str(), "com.chain.b1");
        // 1,024 ids of the longest kind with their archives would not fit a reader's limit:
        // the file is cut to fit, archives first.
        let long_name = |k: usize| format!("com.{}.{}b{k}", "x".repeat(55), "y".repeat(55));
        let long = move |i: &BundleId| {
            let k: usize = i.as_str().rsplit('b').next().unwrap().parse().unwrap();
            Some(vec![line(
                i.as_str(),
                "1.0.0",
                &[(&long_name(k + 1), "^1")],
                false,
            )])
        };
        let root = id(&long_name(0));
        let hint = compute(&root, &long(&root).unwrap(), long).unwrap();
        let text = hint.to_json();
        assert!(text.len() as u64 <= MAX_PREFETCH_FILE_LEN, "{}", text.len());
        assert!(
            Prefetch::parse(text.as_bytes(), "p.json")
                .unwrap()
                .is_some()
        );
        assert_eq!(hint.ids.len(), MAX_PREFETCH_IDS);
        assert!(hint.archives.len() < MAX_PREFETCH_IDS && !hint.archives.is_empty());
        let root = id(&name(0));
        let short = chain(5);
        let hint = compute(&root, &short(&root).unwrap(), short).unwrap();
        assert_eq!(hint.ids.len(), 4, "{:?}", hint.ids);
    }

    #[test]
    fn a_file_reads_back_and_a_bad_one_is_refused_naming_it() {
        let h = Prefetch {
            v: PREFETCH_FORMAT,
            id: id("com.a.b"),
            version: Version::new(1, 0, 0),
            ids: vec![id("com.a.c")],
            archives: Vec::new(),
        };
        let text = h.to_json();
        // Written before archives were listed, and read so still.
        assert_eq!(
            text,
            "{\"v\":1,\"id\":\"com.a.b\",\"version\":\"1.0.0\",\"ids\":[\"com.a.c\"]}\n"
        );
        assert_eq!(
            Prefetch::parse(text.as_bytes(), "p.json").unwrap(),
            Some(h.clone())
        );
        let digest = "ab".repeat(32);
        let with = Prefetch {
            archives: vec![HintedArchive {
                id: id("com.a.c"),
                version: Version::new(1, 2, 0),
                sha256: digest.clone(),
                size: 7,
            }],
            ..h
        };
        let text = with.to_json();
        assert!(text.ends_with(&format!(",\"archives\":[{{\"id\":\"com.a.c\",\"version\":\"1.2.0\",\"sha256\":\"{digest}\",\"size\":7}}]}}\n")), "{text}");
        assert_eq!(
            Prefetch::parse(text.as_bytes(), "p.json").unwrap(),
            Some(with)
        );
        // A newer format, whatever its shape: not this reader's, not an error.
        assert_eq!(
            Prefetch::parse(br#"{"v":2,"hints":{"x":1}}"#, "p.json").unwrap(),
            None
        );
        for (bad, why) in [
            (
                r#"{"id":"com.a.b","version":"1.0.0","ids":[]}"#,
                "missing field `v`",
            ),
            (
                r#"{"v":1,"id":"com.a.b","version":"x","ids":[]}"#,
                "version",
            ),
            (
                r#"{"v":1,"id":"com.a.b","version":"1.0.0","ids":["NOT AN ID"]}"#,
                "id",
            ),
            (
                r#"{"v":1,"id":"com.a.b","version":"1.0.0","ids":["com.a.b"]}"#,
                "itself",
            ),
            (
                r#"{"v":1,"id":"com.a.b","version":"1.0.0","ids":["com.a.c","com.a.c"]}"#,
                "twice",
            ),
            ("[", "EOF"),
            (
                r#"{"v":1,"id":"com.a.b","version":"1.0.0","ids":[],"archives":[{"id":"com.a.c","version":"1.0.0","sha256":"AB","size":1}]}"#,
                "archive 0's sha256",
            ),
            (
                &format!(
                    r#"{{"v":1,"id":"com.a.b","version":"1.0.0","ids":[],"archives":[{{"id":"com.a.c","version":"1.0.0","sha256":"{0}","size":1}},{{"id":"com.a.d","version":"1.0.0","sha256":"{0}","size":1}}]}}"#,
                    "0".repeat(64)
                ),
                "listed twice",
            ),
            (
                r#"{"v":1,"id":"com.a.b","version":"1.0.0","ids":[],"archives":[{"id":"com.a.c","version":"1.0.0","sha256":"x"}]}"#,
                "size",
            ),
        ] {
            let e = Prefetch::parse(bad.as_bytes(), "p.json")
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("p.json"), "{e}");
            assert!(e.contains(why), "{bad}: {e}");
        }
        let many: Vec<String> = (0..=MAX_PREFETCH_IDS)
            .map(|k| format!("\"com.a.x{k}\""))
            .collect();
        let text = format!(
            r#"{{"v":1,"id":"com.a.b","version":"1.0.0","ids":[{}]}}"#,
            many.join(",")
        );
        let e = Prefetch::parse(text.as_bytes(), "p.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than 1024"), "{e}");
        let huge = vec![b' '; MAX_PREFETCH_FILE_LEN as usize + 1];
        assert!(Prefetch::parse(&huge, "p.json").is_err());
    }
}
