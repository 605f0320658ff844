//! The catalog document of one bundle: what is searched, filtered, sorted and shown.
//!
//! A document is built by the publisher from data it has already verified (the manifest of the
//! latest unyanked version, its README/CHANGELOG, the bundle's metadata and the verification
//! status it computed), so the catalog never holds anything the registry's own files do not
//! say. The same document yields the terms, the facet values and the summary shown in results.

use crate::codec::Posting;
use crate::tokenize::{id_terms, tokenize};
use ratchet_formats::manifest::{BundleId, Manifest, Platform, PricingModel};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest README or CHANGELOG text indexed, in bytes (the rest is not searched).
pub const MAX_LONG_TEXT: usize = 64 * 1024;
/// Longest description kept in a summary, in characters.
pub const SUMMARY_DESCRIPTION_CHARS: usize = 200;

/// Field boosts of the ranking (`index-format.md` §10.3): identity first, then curated
/// labels, then prose.
pub mod boost {
    /// Id segments.
    pub const ID: f64 = 3.0;
    /// Display name.
    pub const NAME: f64 = 3.0;
    /// Keywords, categories, task and workflow tags.
    pub const KEYWORD: f64 = 2.0;
    /// Task and workflow names.
    pub const ITEM_NAME: f64 = 2.0;
    /// Bundle description.
    pub const DESCRIPTION: f64 = 1.0;
    /// Task and workflow descriptions.
    pub const ITEM_DESCRIPTION: f64 = 0.8;
    /// README text.
    pub const README: f64 = 0.3;
    /// CHANGELOG text.
    pub const CHANGELOG: f64 = 0.1;
}

/// Verification status as the catalog records it (the publisher computes it, §7.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verified {
    /// No valid attestation.
    None,
    /// Community attestations from enough distinct keys.
    Community,
    /// Attested by a verifier key of `config.json`.
    Official,
}

impl Verified {
    /// The facet value: `none`, `community` or `official`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verified::None => "none",
            Verified::Community => "community",
            Verified::Official => "official",
        }
    }
    fn bits(self) -> u8 {
        match self {
            Verified::None => 0,
            Verified::Community => 1,
            Verified::Official => 2,
        }
    }
}

/// A price as the catalog shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocPrice {
    /// Amount in the currency's major unit.
    pub amount: f64,
    /// ISO 4217 code.
    pub currency: String,
    /// `one-time`, `monthly` or `yearly`.
    pub period: String,
}

/// A task or workflow, as indexed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocItem {
    /// Its name (last path component).
    pub name: String,
    /// Its description.
    #[serde(default)]
    pub description: String,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Everything the catalog knows about one bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogDoc {
    /// The bundle id.
    pub id: BundleId,
    /// Display name (of the latest unyanked version).
    pub name: String,
    /// Latest unyanked version.
    pub version: String,
    /// Description.
    pub description: String,
    /// Keywords.
    pub keywords: Vec<String>,
    /// Categories.
    pub categories: Vec<String>,
    /// Authors (the manifest has one `author`; kept as a list for later formats).
    pub authors: Vec<String>,
    /// SPDX expression or `PROPRIETARY`.
    pub license: String,
    /// Pricing model.
    pub pricing: PricingModel,
    /// The price, when the model has one.
    pub price: Option<DocPrice>,
    /// Verification status of the latest unyanked version.
    pub verified: Verified,
    /// Platforms it runs on (empty: all).
    pub platforms: Vec<Platform>,
    /// Requirement on the Ratchet version, as written.
    pub ratchet_version: Option<String>,
    /// Tasks and workflows.
    pub items: Vec<DocItem>,
    /// README text (indexed, not stored; at most [`MAX_LONG_TEXT`] bytes used).
    pub readme: String,
    /// CHANGELOG text (indexed, not stored).
    pub changelog: String,
    /// Publish time of the latest unyanked version (RFC 3339).
    pub updated: String,
    /// Downloads (0 until download statistics exist).
    pub downloads: u64,
    /// Trend: download velocity (0 until download statistics exist).
    pub trend: f64,
    /// Mean rating, 1 to 5 (none until reviews exist).
    pub rating: Option<f64>,
    /// Deprecated (demoted in relevance, flagged in results).
    pub deprecated: bool,
}

/// What a result shows, stored in the document blocks (`catalog/docs/<n>.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The bundle's ordinal.
    pub ord: u32,
    /// The bundle id.
    pub id: BundleId,
    /// Display name.
    pub name: String,
    /// Latest unyanked version.
    pub version: String,
    /// Description, cut to [`SUMMARY_DESCRIPTION_CHARS`] characters.
    pub description: String,
    /// SPDX expression or `PROPRIETARY`.
    pub license: String,
    /// Pricing model.
    pub pricing: PricingModel,
    /// Price, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<DocPrice>,
    /// Verification status.
    pub verified: Verified,
    /// Downloads.
    pub downloads: u64,
    /// Trend.
    pub trend: f64,
    /// Rating, once reviews exist.
    pub rating: Option<f64>,
    /// Latest publish time.
    pub updated: String,
    /// Deprecated.
    pub deprecated: bool,
}

/// The indexed form of a document: weighted term frequencies, length and facet values.
#[derive(Debug, Clone, PartialEq)]
pub struct Indexed {
    /// Term -> weighted frequency, in halves (as stored in postings).
    pub terms: BTreeMap<String, u8>,
    /// Weighted length, in halves.
    pub len: u64,
    /// Facet kind -> values.
    pub facets: BTreeMap<String, Vec<String>>,
}

/// Facet kinds with one file per value (`catalog/facets/<kind>/...`).
pub const FACET_KINDS: &[&str] = &[
    "category",
    "tag",
    "author",
    "license",
    "pricing",
    "verified",
    "platform",
    "ratchet_version",
];

/// Facet kinds whose value counts the root file lists.
pub const ROOT_FACETS: &[&str] = &[
    "category",
    "license",
    "pricing",
    "verified",
    "platform",
    "ratchet_version",
];

/// The SPDX license ids an expression names (`MIT OR Apache-2.0` -> `MIT`, `Apache-2.0`);
/// `PROPRIETARY` and unparsable text stand for themselves.
pub fn license_ids(expr: &str) -> Vec<String> {
    let mut out: Vec<String> = match spdx::Expression::parse_mode(expr, spdx::ParseMode::LAX) {
        Ok(e) => e
            .requirements()
            .map(|r| r.req.license.to_string())
            .collect(),
        Err(_) => vec![expr.trim().to_string()],
    };
    out.sort();
    out.dedup();
    out
}

fn norm(v: &str) -> String {
    v.trim().to_lowercase()
}

impl CatalogDoc {
    /// The document of a bundle from the manifest of its latest unyanked version, that
    /// version's publish time, README and CHANGELOG text (if the archive holds them),
    /// whether it is deprecated, and its verification status. Downloads, trend and rating
    /// start empty; statistics and reviews fill them later.
    pub fn from_manifest(
        m: &Manifest,
        published: &str,
        readme: Option<&str>,
        changelog: Option<&str>,
        deprecated: bool,
        verified: Verified,
    ) -> Self {
        let cut = |s: Option<&str>| {
            let s = s.unwrap_or("");
            let mut end = s.len().min(MAX_LONG_TEXT);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s[..end].to_string()
        };
        let price = m
            .pricing
            .as_ref()
            .and_then(|p| p.price.as_ref())
            .map(|p| DocPrice {
                amount: p.amount,
                currency: p.currency.clone(),
                period: p
                    .period
                    .map(|x| {
                        serde_json::to_value(x)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default()
                    })
                    .unwrap_or_else(|| "one-time".into()),
            });
        let items = m
            .contents
            .tasks
            .iter()
            .chain(&m.contents.workflows)
            .map(|i| DocItem {
                name: i.name().to_string(),
                description: i.description.clone().unwrap_or_default(),
                tags: i.tags.clone(),
            })
            .collect();
        CatalogDoc {
            id: m.id.clone(),
            name: m.name.clone(),
            version: m.version.to_string(),
            description: m.description.clone(),
            keywords: m.keywords.clone(),
            categories: m.categories.clone(),
            authors: m.author.iter().map(|a| a.name.clone()).collect(),
            license: m.license.clone(),
            pricing: m.pricing_model(),
            price,
            verified,
            platforms: m.requirements.platform.clone(),
            ratchet_version: m
                .requirements
                .ratchet_version
                .as_ref()
                .map(|r| r.to_string()),
            items,
            readme: cut(readme),
            changelog: cut(changelog),
            updated: published.to_string(),
            downloads: 0,
            trend: 0.0,
            rating: None,
            deprecated,
        }
    }

    /// The tags of the document: keywords and task/workflow tags, lower-cased, sorted, unique.
    pub fn tags(&self) -> Vec<String> {
        let mut t: Vec<String> = self
            .keywords
            .iter()
            .chain(self.items.iter().flat_map(|i| &i.tags))
            .map(|s| norm(s))
            .filter(|s| !s.is_empty())
            .collect();
        t.sort();
        t.dedup();
        t
    }

    /// Terms, length and facet values.
    pub fn index(&self) -> Indexed {
        let mut w: BTreeMap<String, f64> = BTreeMap::new();
        let mut len = 0.0;
        let mut add = |terms: Vec<String>, b: f64| {
            for t in terms {
                *w.entry(t).or_default() += b;
                len += b;
            }
        };
        add(id_terms(self.id.as_str()), boost::ID);
        add(tokenize(&self.name), boost::NAME);
        for k in self.keywords.iter().chain(&self.categories) {
            add(tokenize(k), boost::KEYWORD);
        }
        add(tokenize(&self.description), boost::DESCRIPTION);
        for i in &self.items {
            add(tokenize(&i.name), boost::ITEM_NAME);
            add(tokenize(&i.description), boost::ITEM_DESCRIPTION);
            for t in &i.tags {
                add(tokenize(t), boost::KEYWORD);
            }
        }
        add(tokenize(&self.readme), boost::README);
        add(tokenize(&self.changelog), boost::CHANGELOG);
        let terms = w
            .into_iter()
            .map(|(t, f)| (t, (f * 2.0).round().clamp(1.0, 255.0) as u8))
            .collect();
        let mut facets = BTreeMap::new();
        let mut put = |k: &str, mut v: Vec<String>| {
            v.retain(|s| !s.is_empty());
            v.sort();
            v.dedup();
            if !v.is_empty() {
                facets.insert(k.to_string(), v);
            }
        };
        put(
            "category",
            self.categories.iter().map(|s| norm(s)).collect(),
        );
        put("tag", self.tags());
        put("author", self.authors.iter().map(|s| norm(s)).collect());
        put("license", license_ids(&self.license));
        put("pricing", vec![self.pricing.as_str().to_string()]);
        put("verified", vec![self.verified.as_str().to_string()]);
        put(
            "platform",
            if self.platforms.is_empty() {
                vec!["linux".into(), "macos".into(), "windows".into()]
            } else {
                self.platforms
                    .iter()
                    .map(|p| p.name().to_string())
                    .collect()
            },
        );
        put(
            "ratchet_version",
            vec![self.ratchet_version.clone().unwrap_or_else(|| "*".into())],
        );
        Indexed {
            terms,
            len: (len * 2.0).round() as u64,
            facets,
        }
    }

    /// The summary shown in results.
    pub fn summary(&self, ord: u32) -> Summary {
        // Every text is cut, so that a summary stays within about 4 KiB whatever a manifest
        // says, and a facet head of 50 of them within a reader's limit (§10.2).
        let cut = |s: &str, n: usize| -> String { s.chars().take(n).collect() };
        Summary {
            ord,
            id: self.id.clone(),
            name: cut(&self.name, 200),
            version: cut(&self.version, 64),
            description: cut(&self.description, SUMMARY_DESCRIPTION_CHARS),
            license: cut(&self.license, 128),
            pricing: self.pricing,
            price: self.price.as_ref().map(|p| DocPrice {
                amount: p.amount,
                currency: cut(&p.currency, 8),
                period: cut(&p.period, 16),
            }),
            verified: self.verified,
            downloads: self.downloads,
            trend: self.trend,
            rating: self.rating,
            updated: cut(&self.updated, 40),
            deprecated: self.deprecated,
        }
    }

    /// The posting of this document for a term with weighted frequency `wtf` and the
    /// document's weighted length `len`.
    pub fn posting(&self, ord: u32, wtf: u8, len: u64) -> Posting {
        let mut flags = self.verified.bits();
        if self.deprecated {
            flags |= 1 << 2;
        }
        flags |= platform_bits(&self.platforms) << 3;
        Posting {
            ord,
            wtf,
            len_bucket: len_bucket(len),
            flags,
            model: model_code(self.pricing),
            price: self
                .price
                .as_ref()
                .map_or(0, |p| p.amount.ceil().clamp(0.0, 65535.0) as u16),
            downloads: ((1.0 + self.downloads as f64).log2() * 2000.0)
                .round()
                .min(65535.0) as u16,
            rating: self
                .rating
                .map_or(0, |r| (r * 10.0).round().clamp(1.0, 50.0) as u8),
            trend: ((self.trend * 10.0).round().clamp(-128.0, 127.0) as i8) as u8,
            updated: days_since_2020(&self.updated),
            name_key: name_key(&self.name),
        }
    }
}

/// Bits of the platforms (linux 1, macos 2, windows 4); all three when none are named.
pub fn platform_bits(ps: &[Platform]) -> u8 {
    if ps.is_empty() {
        return 0b111;
    }
    ps.iter().fold(0, |acc, p| {
        acc | match p {
            Platform::Linux => 1,
            Platform::Macos => 2,
            Platform::Windows => 4,
        }
    })
}

/// Pricing model code of postings.
pub fn model_code(m: PricingModel) -> u8 {
    match m {
        PricingModel::Free => 0,
        PricingModel::Paid => 1,
        PricingModel::Freemium => 2,
        PricingModel::Subscription => 3,
    }
}

/// Length bucket: `round(ln(1 + len) * 20)`, saturating at 255.
pub fn len_bucket(len: u64) -> u8 {
    ((1.0 + len as f64).ln() * 20.0).round().min(255.0) as u8
}

/// The length a bucket stands for.
pub fn bucket_len(b: u8) -> f64 {
    (f64::from(b) / 20.0).exp() - 1.0
}

/// Days from 2020-01-01 to an RFC 3339 time (0 when earlier or unparsable).
pub fn days_since_2020(t: &str) -> u16 {
    const EPOCH_2020: u64 = 1_577_836_800;
    humantime::parse_rfc3339(t)
        .ok()
        .and_then(|s| s.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| {
            (d.as_secs().saturating_sub(EPOCH_2020) / 86_400).min(65_535) as u16
        })
}

/// The name's first three characters (lower-case; `a-z0-9` in order, anything else sorts
/// first) in base 37, so that `name` sorts need nothing but the postings.
pub fn name_key(name: &str) -> u16 {
    let mut k: u16 = 0;
    let mut chars = name.chars().flat_map(char::to_lowercase);
    for _ in 0..3 {
        let d = match chars.next() {
            None => 0,
            Some(c @ '0'..='9') => 1 + (c as u16 - '0' as u16),
            Some(c @ 'a'..='z') => 11 + (c as u16 - 'a' as u16),
            Some(_) => 0,
        };
        k = k * 37 + d;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn license_expressions_give_each_id() {
        assert_eq!(license_ids("MIT OR Apache-2.0"), ["Apache-2.0", "MIT"]);
        assert_eq!(license_ids("PROPRIETARY"), ["PROPRIETARY"]);
        assert_eq!(license_ids("LicenseRef-Acme"), ["LicenseRef-Acme"]);
    }

    #[test]
    fn name_keys_sort_like_names() {
        assert!(name_key("alpha") < name_key("beta"));
        assert!(name_key("ab") < name_key("abc"));
        assert!(name_key("Zed") > name_key("yak"));
    }
}
