//! `ratchet-index stats related`: "similar bundles" and "often installed together"
//! (`index-format.md` §11.6).
//!
//! Similarity is lexical on purpose: the issue allows embeddings only from a model shipped
//! inside a registry package, and none fits (see §11.6), so bundles are compared as TF-IDF
//! vectors of their name, keywords, categories, task and workflow names and description, with
//! each category expanded by its most common keywords so that two bundles of one category
//! meet even when their authors chose different words. "Installed together" is read off the
//! dependency graph of the latest unyanked versions.

use crate::files::{MAX_RELATED, RelatedFile, Similar, Together, related_path};
use crate::{StatsError, io_err, read_opt, write_if_changed};
use ratchet_formats::archive::{Limits, read_archive};
use ratchet_formats::index::{
    BundleMeta, IndexFile, IndexLine, NamesFile, RegistryConfig, index_path, meta_path,
    read_limited, sha256_hex,
};
use ratchet_formats::manifest::BundleId;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// Boost of name words, keywords and categories.
pub const LABEL_WEIGHT: f64 = 3.0;
/// Boost of task and workflow names.
pub const ITEM_WEIGHT: f64 = 2.0;
/// Boost of description words.
pub const DESCRIPTION_WEIGHT: f64 = 1.0;
/// Weight of a keyword added by category expansion.
pub const EXPANSION_WEIGHT: f64 = 1.0;
/// Keywords a category is expanded with.
pub const EXPANSION_KEYWORDS: usize = 5;
/// Lowest similarity listed.
pub const MIN_SCORE: f64 = 0.05;
/// Terms held by more bundles than this do not make candidates (bounds the cost).
pub const MAX_CANDIDATE_DF: usize = 500;

/// Stop words (those of the search catalog, `index-format.md` §10.3).
const STOP: &[&str] = &[
    "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "in", "into", "is", "it",
    "its", "of", "on", "or", "that", "the", "this", "to", "with", "your", "you", "we", "our",
    "can", "will", "all", "any", "use", "uses", "using",
];

/// Lower-cased words of `text`, split at non-alphanumeric characters, without stop words and
/// one-character words.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 2)
        .map(str::to_lowercase)
        .filter(|w| !STOP.contains(&w.as_str()))
}

/// What similarity and the dependency graph need of one bundle.
#[derive(Debug, Clone, Default)]
pub struct RelDoc {
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Keywords.
    pub keywords: Vec<String>,
    /// Categories.
    pub categories: Vec<String>,
    /// Task and workflow names.
    pub items: Vec<String>,
    /// Dependencies of the latest unyanked version.
    pub dependencies: Vec<BundleId>,
    /// Deprecated (never listed as similar).
    pub deprecated: bool,
}

fn norm(s: &str) -> String {
    s.trim().to_lowercase()
}

/// The related lists of every bundle of `docs`.
pub fn compute(docs: &BTreeMap<BundleId, RelDoc>) -> BTreeMap<BundleId, RelatedFile> {
    let ids: Vec<&BundleId> = docs.keys().collect();
    // Category expansion: the keywords most bundles of each category have.
    let mut cat_kw: HashMap<String, HashMap<String, usize>> = HashMap::new();
    for d in docs.values() {
        let kws: BTreeSet<String> = d.keywords.iter().map(|k| norm(k)).collect();
        for c in d
            .categories
            .iter()
            .map(|c| norm(c))
            .collect::<BTreeSet<_>>()
        {
            let m = cat_kw.entry(c).or_default();
            for k in &kws {
                *m.entry(k.clone()).or_default() += 1;
            }
        }
    }
    let expansion: HashMap<String, Vec<String>> = cat_kw
        .into_iter()
        .map(|(c, m)| {
            let mut v: Vec<(usize, String)> = m.into_iter().map(|(k, n)| (n, k)).collect();
            v.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            (
                c,
                v.into_iter()
                    .take(EXPANSION_KEYWORDS)
                    .map(|x| x.1)
                    .collect(),
            )
        })
        .collect();

    // Weighted bags of terms.
    let bags: Vec<HashMap<String, f64>> = docs
        .values()
        .map(|d| {
            let mut w: HashMap<String, f64> = HashMap::new();
            let mut add = |t: String, x: f64| *w.entry(t).or_default() += x;
            for t in words(&d.name) {
                add(t, LABEL_WEIGHT);
            }
            for k in &d.keywords {
                words(k).for_each(|t| add(t, LABEL_WEIGHT));
                add(format!("kw:{}", norm(k)), LABEL_WEIGHT);
            }
            for c in &d.categories {
                words(c).for_each(|t| add(t, LABEL_WEIGHT));
                add(format!("cat:{}", norm(c)), LABEL_WEIGHT);
                for k in expansion.get(&norm(c)).into_iter().flatten() {
                    add(format!("kw:{k}"), EXPANSION_WEIGHT);
                }
            }
            for i in &d.items {
                words(i).for_each(|t| add(t, ITEM_WEIGHT));
            }
            words(&d.description).for_each(|t| add(t, DESCRIPTION_WEIGHT));
            w
        })
        .collect();
    let n = bags.len();
    let mut df: HashMap<&str, usize> = HashMap::new();
    for b in &bags {
        for t in b.keys() {
            *df.entry(t.as_str()).or_default() += 1;
        }
    }
    let dropped = |t: &str| n >= 20 && df[t] * 2 > n;
    // TF-IDF vectors, normalised, and the inverted index of the candidate terms.
    let mut vecs: Vec<Vec<(String, f64)>> = Vec::with_capacity(n);
    for b in &bags {
        let mut v: Vec<(String, f64)> = b
            .iter()
            .filter(|(t, _)| !dropped(t))
            .map(|(t, tf)| {
                (
                    t.clone(),
                    tf * (1.0 + n as f64 / df[t.as_str()] as f64).ln(),
                )
            })
            .collect();
        let len = v.iter().map(|(_, x)| x * x).sum::<f64>().sqrt();
        if len > 0.0 {
            v.iter_mut().for_each(|(_, x)| *x /= len);
        }
        v.sort_by(|a, b| a.0.cmp(&b.0));
        vecs.push(v);
    }
    let mut postings: HashMap<&str, Vec<(usize, f64)>> = HashMap::new();
    for (i, v) in vecs.iter().enumerate() {
        for (t, x) in v {
            if df[t.as_str()] <= MAX_CANDIDATE_DF {
                postings.entry(t.as_str()).or_default().push((i, *x));
            }
        }
    }

    // Dependency graph.
    let mut dependents: BTreeMap<&BundleId, BTreeSet<&BundleId>> = BTreeMap::new();
    for (id, d) in docs {
        for dep in &d.dependencies {
            if dep != id && docs.contains_key(dep) {
                dependents.entry(dep).or_default().insert(id);
            }
        }
    }

    let docs_v: Vec<&RelDoc> = docs.values().collect();
    let mut out = BTreeMap::new();
    for (i, id) in ids.iter().enumerate() {
        let mut scores: HashMap<usize, f64> = HashMap::new();
        for (t, x) in &vecs[i] {
            for (j, y) in postings.get(t.as_str()).into_iter().flatten() {
                if *j != i && !docs_v[*j].deprecated {
                    *scores.entry(*j).or_default() += x * y;
                }
            }
        }
        let mut sim: Vec<(f64, usize)> = scores
            .into_iter()
            .map(|(j, s)| (((s * 1000.0).round() / 1000.0).min(1.0), j))
            .filter(|(s, _)| *s >= MIN_SCORE)
            .collect();
        sim.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| ids[a.1].cmp(ids[b.1])));
        let similar = sim
            .into_iter()
            .take(MAX_RELATED)
            .map(|(score, j)| Similar {
                id: ids[j].clone(),
                score,
            })
            .collect();
        let deps_of_me = dependents.get(*id);
        let mut together: BTreeMap<&BundleId, u64> = BTreeMap::new();
        for d in deps_of_me.into_iter().flatten() {
            for other in docs[*d].dependencies.iter().collect::<BTreeSet<_>>() {
                if other != *id && docs.contains_key(other) {
                    *together.entry(other).or_default() += 1;
                }
            }
        }
        let mut together: Vec<(&BundleId, u64)> = together.into_iter().collect();
        together.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        out.insert(
            (*id).clone(),
            RelatedFile {
                v: crate::files::FORMAT,
                id: (*id).clone(),
                similar,
                dependents: deps_of_me
                    .into_iter()
                    .flatten()
                    .take(MAX_RELATED)
                    .map(|d| (*d).clone())
                    .collect(),
                together: together
                    .into_iter()
                    .take(MAX_RELATED)
                    .map(|(id, count)| Together {
                        id: id.clone(),
                        count,
                    })
                    .collect(),
                rating: None,
            },
        );
    }
    out
}

/// The version a bundle is shown as: the highest unyanked release, else the highest unyanked
/// pre-release.
fn latest_unyanked(index: &IndexFile) -> Option<&IndexLine> {
    fn best<'a>(it: impl Iterator<Item = &'a IndexLine>) -> Option<&'a IndexLine> {
        it.max_by(|a, b| a.version.cmp_precedence(&b.version))
    }
    let live = || index.versions().filter(|l| !l.yanked);
    best(live().filter(|l| l.version.pre.is_empty())).or_else(|| best(live()))
}

/// The document of one bundle, read from its latest unyanked version's archive (checked
/// against the index line), `None` when every version is yanked.
fn read_doc(dir: &Path, config: &RegistryConfig, id: &BundleId) -> Result<Option<RelDoc>, String> {
    let index = IndexFile::load(&dir.join(index_path(id)), Some(id)).map_err(|e| e.to_string())?;
    let Some(line) = latest_unyanked(&index) else {
        return Ok(None);
    };
    let meta = BundleMeta::load(&dir.join(meta_path(id))).map_err(|e| e.to_string())?;
    let mut doc = RelDoc {
        keywords: line.keywords.clone(),
        dependencies: line
            .dependencies
            .iter()
            .map(|d| d.bundle_id.clone())
            .collect(),
        deprecated: meta.is_some_and(|m| m.deprecated.is_some()),
        ..RelDoc::default()
    };
    let url = config.download_url(&line.sha256);
    if url.contains("://") {
        // Archives hosted elsewhere: the index line's keywords are all there is locally.
        return Ok(Some(doc));
    }
    let bytes = read_limited(&dir.join(&url), line.size).map_err(|e| e.to_string())?;
    if bytes.len() as u64 != line.size || sha256_hex(&bytes) != line.sha256 {
        return Err(format!(
            "{url}: size or SHA-256 differs from the index line"
        ));
    }
    let archive =
        read_archive(&bytes[..], &Limits::default()).map_err(|e| format!("{url}: {e}"))?;
    let m = archive.manifest.bundle;
    if &m.id != id || m.version != line.version {
        return Err(format!(
            "{url}: the archive's manifest is not the index line's"
        ));
    }
    doc.name = m.name;
    doc.description = m.description;
    doc.categories = m.categories;
    doc.items = m
        .contents
        .tasks
        .iter()
        .chain(&m.contents.workflows)
        .map(|i| i.name().to_string())
        .collect();
    Ok(Some(doc))
}

/// What [`refresh`] did.
#[derive(Debug, Clone, Default)]
pub struct RelatedReport {
    /// Bundles with a related file.
    pub bundles: usize,
    /// Files written (new or changed).
    pub written: usize,
    /// Files removed (bundles gone or wholly yanked).
    pub removed: usize,
    /// Bundles left out, with the reason (unreadable index, metadata or archive).
    pub skipped: Vec<(BundleId, String)>,
}

/// Recomputes every related file of the registry at `dir` under its lock.
pub fn refresh(dir: &Path) -> Result<RelatedReport, StatsError> {
    // A directory that is not a registry gets no lock file.
    let config = RegistryConfig::load(dir)?;
    let _lock = crate::lock(dir)?;
    let names = NamesFile::load(dir)?;
    let mut report = RelatedReport::default();
    let mut docs = BTreeMap::new();
    for id in &names.ids {
        match read_doc(dir, &config, id) {
            Ok(Some(d)) => {
                docs.insert(id.clone(), d);
            }
            Ok(None) => {}
            Err(e) => report.skipped.push((id.clone(), e)),
        }
    }
    let related = compute(&docs);
    for (id, r) in &related {
        let rel = related_path(id);
        // An unreadable or oversized old file is simply replaced.
        let old = read_opt(dir, &rel, crate::files::MAX_RELATED_FILE)
            .ok()
            .flatten();
        if write_if_changed(dir, &rel, &r.to_json(), old.as_deref())? {
            report.written += 1;
        }
    }
    report.bundles = related.len();
    // Remove the files of bundles that have none now.
    let root = dir.join("related");
    if let Ok(rd) = std::fs::read_dir(&root) {
        for a in rd.flatten() {
            for b in std::fs::read_dir(a.path()).into_iter().flatten().flatten() {
                for f in std::fs::read_dir(b.path()).into_iter().flatten().flatten() {
                    let name = f.file_name().to_string_lossy().into_owned();
                    let keep = name
                        .strip_suffix(".json")
                        .and_then(|n| BundleId::parse(n).ok())
                        .is_some_and(|id| related.contains_key(&id));
                    if !keep && !name.starts_with(".tmp-") {
                        std::fs::remove_file(f.path()).map_err(io_err(&f.path()))?;
                        report.removed += 1;
                    }
                }
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> BundleId {
        BundleId::parse(s).unwrap()
    }

    fn doc(name: &str, kw: &[&str], cat: &[&str], deps: &[&str]) -> RelDoc {
        RelDoc {
            name: name.into(),
            description: format!("{name} for automation"),
            keywords: kw.iter().map(|s| s.to_string()).collect(),
            categories: cat.iter().map(|s| s.to_string()).collect(),
            items: vec![],
            dependencies: deps.iter().map(|s| id(s)).collect(),
            deprecated: false,
        }
    }

    #[test]
    fn similar_and_together() {
        let mut docs = BTreeMap::new();
        docs.insert(
            id("com.a.json"),
            doc("JSON tools", &["json", "parse"], &["data"], &[]),
        );
        docs.insert(
            id("com.a.yaml"),
            doc("YAML tools", &["yaml", "parse"], &["data"], &[]),
        );
        docs.insert(id("com.a.csv"), doc("CSV reader", &["csv"], &["data"], &[]));
        docs.insert(
            id("com.a.k8s"),
            doc("Kubernetes deploy", &["kubernetes"], &["devops"], &[]),
        );
        docs.insert(
            id("com.a.app1"),
            doc(
                "App one",
                &["app"],
                &["apps"],
                &["com.a.json", "com.a.yaml"],
            ),
        );
        docs.insert(
            id("com.a.app2"),
            doc(
                "App two",
                &["app"],
                &["apps"],
                &["com.a.json", "com.a.yaml", "com.a.csv"],
            ),
        );
        let mut old = doc("Old JSON tools", &["json", "parse"], &["data"], &[]);
        old.deprecated = true;
        docs.insert(id("com.a.oldjson"), old);
        let r = compute(&docs);
        let json = &r[&id("com.a.json")];
        assert_eq!(json.similar[0].id, id("com.a.yaml"), "{json:?}");
        assert!(json.similar.iter().all(|s| s.id != id("com.a.k8s")));
        assert!(
            json.similar.iter().all(|s| s.id != id("com.a.oldjson")),
            "deprecated is never listed"
        );
        // Category expansion: csv shares no keyword with json but the data category's top
        // keywords (parse, json, yaml) bring them together.
        assert!(
            r[&id("com.a.csv")]
                .similar
                .iter()
                .any(|s| s.id == id("com.a.json"))
        );
        assert_eq!(json.dependents, vec![id("com.a.app1"), id("com.a.app2")]);
        assert_eq!(
            json.together,
            vec![
                Together {
                    id: id("com.a.yaml"),
                    count: 2
                },
                Together {
                    id: id("com.a.csv"),
                    count: 1
                }
            ]
        );
        assert!(r[&id("com.a.k8s")].dependents.is_empty());
        for f in r.values() {
            let bytes = f.to_json();
            assert_eq!(&RelatedFile::parse(&bytes, "r", &f.id).unwrap(), f);
        }
    }
}
