//! Where each file of a registry lives.
//!
//! Ids are reverse-DNS, so a Cargo-style name prefix (`co/m./com.example.x`) would put almost
//! every index file in one directory. Index and metadata files are instead sharded by the first
//! four hex digits of the SHA-256 of the id's *skeleton* (`index/ab/cd/<id>`): the hash spreads
//! ids evenly over 65,536 directories, ids are lower-case so paths are safe on case-insensitive
//! file systems, the file name stays the readable id, and look-alike ids (same skeleton) land in
//! the same directory, so the publish tool checks look-alikes by listing one small directory.

use super::{ARCHIVES_DIR, INDEX_DIR, META_DIR, sha256_hex};
use crate::manifest::BundleId;

use crate::archive::ARCHIVE_EXT as ARCHIVE_EXTENSION;

/// The two shard directory names (`("ab", "cd")`) of an id: the first four hex digits of the
/// SHA-256 of its skeleton.
pub fn shard_of(id: &BundleId) -> (String, String) {
    let h = sha256_hex(BundleId::skeleton(id.as_str()).as_bytes());
    (h[0..2].to_string(), h[2..4].to_string())
}

/// The index file of an id, relative to the registry root: `index/ab/cd/<id>`.
pub fn index_path(id: &BundleId) -> String {
    let (a, b) = shard_of(id);
    format!("{INDEX_DIR}/{a}/{b}/{id}")
}

/// The metadata file of an id (deprecation, owners), relative to the root:
/// `meta/ab/cd/<id>.json`.
pub fn meta_path(id: &BundleId) -> String {
    let (a, b) = shard_of(id);
    format!("{META_DIR}/{a}/{b}/{id}.json")
}

/// `prefetch/<aa>/<bb>/<id>.json`: the bundle's prefetch hint (same shard directories as its
/// index file).
pub fn prefetch_path(id: &BundleId) -> String {
    let (a, b) = shard_of(id);
    format!("{}/{a}/{b}/{id}.json", super::PREFETCH_DIR)
}

/// The archive with this SHA-256 in the default layout: `archives/ab/<sha256>.rbundle`.
pub fn archive_path(sha256: &str) -> String {
    format!(
        "{ARCHIVES_DIR}/{}/{sha256}.{ARCHIVE_EXTENSION}",
        sha256.get(..2).unwrap_or(sha256)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn paths_are_readable_and_stable() {
        let id = BundleId::parse("com.oss.json-utils").unwrap();
        let p = index_path(&id);
        assert!(
            p.starts_with("index/") && p.ends_with("/com.oss.json-utils"),
            "{p}"
        );
        assert_eq!(p.split('/').count(), 4);
        assert_eq!(p, index_path(&id));
        let m = meta_path(&id);
        assert_eq!(m, format!("{}.json", p.replacen("index/", "meta/", 1)));
        assert_eq!(
            archive_path(&"ab".repeat(32)),
            format!("archives/ab/{}.rbundle", "ab".repeat(32))
        );
    }

    #[test]
    fn look_alikes_share_a_directory() {
        let a = BundleId::parse("com.foo.a-b").unwrap();
        let b = BundleId::parse("com.foo.a_b").unwrap();
        let c = BundleId::parse("com.foo-a.b").unwrap();
        assert_eq!(shard_of(&a), shard_of(&b));
        assert_eq!(shard_of(&a), shard_of(&c));
    }

    /// A million reverse-DNS ids shaped like real ones (few TLDs, many organisations).
    fn synthetic_ids(n: usize) -> Vec<BundleId> {
        let tlds = ["com", "com", "com", "com", "org", "io", "dev", "net"];
        let words = [
            "data", "json", "cloud", "sales", "force", "utils", "core", "etl", "api", "sync",
        ];
        (0..n)
            .map(|i| {
                let tld = tlds[i % tlds.len()];
                let org = format!("{}{}", words[(i / 7) % words.len()], i % 5003);
                let name = format!("{}-{}", words[(i / 13) % words.len()], i);
                BundleId::parse(&format!("{tld}.{org}.{name}")).unwrap()
            })
            .collect()
    }

    #[test]
    fn spread_of_a_million_ids() {
        let ids = synthetic_ids(1_000_000);
        let mut top: HashMap<String, usize> = HashMap::new();
        let mut leaf: HashMap<(String, String), usize> = HashMap::new();
        let mut cargo_style: HashMap<String, usize> = HashMap::new();
        for id in &ids {
            let (a, b) = shard_of(id);
            *top.entry(a.clone()).or_default() += 1;
            *leaf.entry((a, b)).or_default() += 1;
            let s = id.as_str();
            *cargo_style
                .entry(format!("{}/{}", &s[0..2], &s[2..4]))
                .or_default() += 1;
        }
        let mean_top = ids.len() as f64 / 256.0;
        let (tmin, tmax) = (*top.values().min().unwrap(), *top.values().max().unwrap());
        let lmax = *leaf.values().max().unwrap();
        let cargo_max = *cargo_style.values().max().unwrap();
        // A Cargo-style 2+2 prefix crowds reverse-DNS ids into a few directories.
        assert!(
            cargo_max as f64 > ids.len() as f64 * 0.05,
            "a 2+2 prefix put at most {cargo_max} ids in one directory"
        );
        assert_eq!(top.len(), 256);
        assert!(
            tmin as f64 > mean_top * 0.9 && (tmax as f64) < mean_top * 1.1,
            "uneven top level: {tmin}..{tmax}"
        );
        assert!(
            leaf.len() > 65_000,
            "only {} leaf directories used",
            leaf.len()
        );
        assert!(lmax <= 45, "a leaf directory holds {lmax} ids");
        assert!(
            cargo_max > 400_000,
            "the comparison should show the prefix problem"
        );
    }
}
