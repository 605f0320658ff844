//! The files of `stats/` and `related/` (`index-format.md` §11): their paths, their strict and
//! bounded parsers (a registry is hostile input to a reader) and their serialised form.

use crate::StatsError;
use crate::day::Day;
use ratchet_formats::index::shard_of;
use ratchet_formats::manifest::BundleId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Format version of every file of this module.
pub const FORMAT: u32 = 1;
/// Largest bundle stats file a reader accepts, in bytes.
pub const MAX_STATS_FILE: u64 = 2 * 1024 * 1024;
/// Largest `stats/summary.json` a reader accepts, in bytes.
pub const MAX_SUMMARY_FILE: u64 = 256 * 1024;
/// Largest related file a reader accepts, in bytes.
pub const MAX_RELATED_FILE: u64 = 64 * 1024;
/// Largest ingestion ledger a reader accepts, in bytes.
pub const MAX_LEDGER_FILE: u64 = 16 * 1024 * 1024;
/// Days of per-day counts a stats file keeps (the window ending with `as_of`).
pub const WINDOW_DAYS: i64 = 365;
/// Batches a stats file remembers.
pub const MAX_BATCHES: usize = 32;
/// Entries of a related list.
pub const MAX_RELATED: usize = 10;
/// Entries the ledger keeps.
pub const MAX_LEDGER: usize = 100_000;
/// `stats/summary.json`.
pub const SUMMARY_PATH: &str = "stats/summary.json";
/// `stats/ingested.json`.
pub const LEDGER_PATH: &str = "stats/ingested.json";

/// `stats/<aa>/<bb>/<id>.json`.
pub fn stats_path(id: &BundleId) -> String {
    let (a, b) = shard_of(id);
    format!("stats/{a}/{b}/{id}.json")
}

/// `related/<aa>/<bb>/<id>.json`.
pub fn related_path(id: &BundleId) -> String {
    let (a, b) = shard_of(id);
    format!("related/{a}/{b}/{id}.json")
}

fn malformed(file: &str, message: impl std::fmt::Display) -> StatsError {
    StatsError::Malformed {
        file: file.to_string(),
        message: message.to_string(),
    }
}

/// Size check, then JSON, then the format version: the first steps of every reader.
fn open<T: for<'de> Deserialize<'de>>(
    bytes: &[u8],
    file: &str,
    limit: u64,
) -> Result<T, StatsError> {
    if bytes.len() as u64 > limit {
        return Err(StatsError::TooLarge {
            file: file.to_string(),
            limit,
        });
    }
    #[derive(Deserialize)]
    struct Version {
        v: serde_json::Value,
    }
    let v: Version = serde_json::from_slice(bytes).map_err(|e| malformed(file, e))?;
    if v.v.as_u64() != Some(u64::from(FORMAT)) {
        return Err(StatsError::Unsupported {
            file: file.to_string(),
            found: v.v.to_string(),
        });
    }
    serde_json::from_slice(bytes).map_err(|e| malformed(file, e))
}

fn to_json(v: &impl Serialize) -> Vec<u8> {
    let mut out = serde_json::to_vec(v).unwrap_or_default();
    out.push(b'\n');
    out
}

/// One version's downloads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionCounts {
    /// All downloads ever counted.
    pub total: u64,
    /// `YYYY-MM-DD` -> downloads, for the days of the window.
    #[serde(default)]
    pub days: BTreeMap<String, u64>,
}

/// A bundle's download statistics, `stats/<aa>/<bb>/<id>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsFile {
    /// Format version, [`FORMAT`].
    pub v: u32,
    /// The bundle id.
    pub id: BundleId,
    /// The day the windowed figures are for.
    pub as_of: String,
    /// All downloads, all versions.
    pub downloads: u64,
    /// Downloads on the 7 days ending with `as_of`.
    pub last_7_days: u64,
    /// Downloads on the 30 days ending with `as_of`.
    pub last_30_days: u64,
    /// Download velocity (§11.5).
    pub trend: f64,
    /// Version -> counts.
    pub versions: BTreeMap<String, VersionCounts>,
    /// Ingestion batches applied to this file, oldest first.
    #[serde(default)]
    pub batches: Vec<String>,
}

/// The trend of §11.5 from the week's downloads and those of the four weeks before.
pub fn trend(last_week: u64, four_weeks_before: u64) -> f64 {
    let w = last_week as f64;
    let b = four_weeks_before as f64 / 4.0;
    let t = ((w + 5.0) / (b + 5.0)).log2();
    (t * 1000.0).round() / 1000.0
}

impl StatsFile {
    /// An empty file for `id`.
    pub fn new(id: BundleId, as_of: Day) -> Self {
        StatsFile {
            v: FORMAT,
            id,
            as_of: as_of.to_string(),
            downloads: 0,
            last_7_days: 0,
            last_30_days: 0,
            trend: 0.0,
            versions: BTreeMap::new(),
            batches: Vec::new(),
        }
    }

    /// Parses and checks a stats file that should be `id`'s (`file` names it in errors).
    pub fn parse(bytes: &[u8], file: &str, id: &BundleId) -> Result<Self, StatsError> {
        let s: StatsFile = open(bytes, file, MAX_STATS_FILE)?;
        if &s.id != id {
            return Err(malformed(file, format!("is for {}, not {id}", s.id)));
        }
        let as_of = Day::parse(&s.as_of).ok_or_else(|| {
            malformed(file, format!("as_of `{}` is not a YYYY-MM-DD day", s.as_of))
        })?;
        let mut sum: u64 = 0;
        for (ver, c) in &s.versions {
            semver::Version::parse(ver)
                .map_err(|e| malformed(file, format!("version `{ver}`: {e}")))?;
            sum = sum
                .checked_add(c.total)
                .ok_or_else(|| malformed(file, "download counts overflow"))?;
            let mut in_window: u64 = 0;
            for (d, n) in &c.days {
                let day = Day::parse(d).ok_or_else(|| {
                    malformed(file, format!("{ver}: `{d}` is not a YYYY-MM-DD day"))
                })?;
                if day > as_of || day <= as_of.plus(-WINDOW_DAYS) {
                    return Err(malformed(
                        file,
                        format!("{ver}: day {d} is outside the window ending {as_of}"),
                    ));
                }
                in_window = in_window.saturating_add(*n);
                if *n == 0 || in_window > c.total {
                    return Err(malformed(
                        file,
                        format!("{ver}: day counts disagree with its total"),
                    ));
                }
            }
        }
        if sum != s.downloads {
            return Err(malformed(
                file,
                format!(
                    "downloads {} is not the sum of the versions' totals ({sum})",
                    s.downloads
                ),
            ));
        }
        if s.last_7_days > s.last_30_days || s.last_30_days > s.downloads || !s.trend.is_finite() {
            return Err(malformed(
                file,
                "last_7_days, last_30_days or trend is out of range",
            ));
        }
        if s.batches.len() > MAX_BATCHES * 4 {
            return Err(malformed(file, "too many batches"));
        }
        Ok(s)
    }

    /// The day figures are computed for.
    pub fn as_of_day(&self) -> Option<Day> {
        Day::parse(&self.as_of)
    }

    /// Adds `n` downloads of `version` on `day`.
    pub fn add(&mut self, version: &str, day: Day, n: u64) {
        let c = self.versions.entry(version.to_string()).or_default();
        c.total = c.total.saturating_add(n);
        *c.days.entry(day.to_string()).or_default() += n;
        self.downloads = self.downloads.saturating_add(n);
    }

    /// Moves the window to end with `as_of` (dropping older days, which stay in the totals) and
    /// recomputes `last_7_days`, `last_30_days` and `trend`.
    pub fn recompute(&mut self, as_of: Day) {
        self.as_of = as_of.to_string();
        let (mut w7, mut w30, mut prev28) = (0u64, 0u64, 0u64);
        for c in self.versions.values_mut() {
            c.days.retain(|d, n| {
                Day::parse(d).is_some_and(|d| d <= as_of && d > as_of.plus(-WINDOW_DAYS)) && *n > 0
            });
            for (d, n) in &c.days {
                let age = Day::parse(d).map_or(i64::MAX, |d| as_of.0 - d.0);
                if age < 7 {
                    w7 += n;
                } else if age < 35 {
                    prev28 += n;
                }
                if age < 30 {
                    w30 += n;
                }
            }
        }
        self.last_7_days = w7;
        self.last_30_days = w30;
        self.trend = trend(w7, prev28);
    }

    /// The file's bytes.
    pub fn to_json(&self) -> Vec<u8> {
        to_json(self)
    }
}

/// `stats/summary.json`: registry-wide figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Format version.
    pub v: u32,
    /// First day covered by an ingested log.
    pub first_day: Option<String>,
    /// Last day covered by an ingested log (the `as_of` of every stats file).
    pub last_day: Option<String>,
    /// All downloads.
    pub downloads: u64,
    /// Downloads on the 30 days ending with `last_day`.
    pub last_30_days: u64,
    /// Bundles with a stats file.
    pub bundles: u64,
    /// The most trending bundles, highest first.
    pub trending: Vec<BundleId>,
    /// Log slices ingested so far.
    pub logs: u64,
}

impl Summary {
    /// Parses and checks the summary.
    pub fn parse(bytes: &[u8], file: &str) -> Result<Self, StatsError> {
        let s: Summary = open(bytes, file, MAX_SUMMARY_FILE)?;
        for d in s.first_day.iter().chain(&s.last_day) {
            Day::parse(d)
                .ok_or_else(|| malformed(file, format!("`{d}` is not a YYYY-MM-DD day")))?;
        }
        if s.trending.len() > 20 || s.last_30_days > s.downloads {
            return Err(malformed(file, "trending or last_30_days out of range"));
        }
        Ok(s)
    }

    /// The file's bytes.
    pub fn to_json(&self) -> Vec<u8> {
        to_json(self)
    }
}

/// A similar bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Similar {
    /// Its id.
    pub id: BundleId,
    /// Cosine similarity, in (0, 1].
    pub score: f64,
}

/// A bundle often installed together with this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Together {
    /// Its id.
    pub id: BundleId,
    /// Dependents that depend on both.
    pub count: u64,
}

/// `related/<aa>/<bb>/<id>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelatedFile {
    /// Format version.
    pub v: u32,
    /// The bundle id.
    pub id: BundleId,
    /// Similar bundles, best first.
    #[serde(default)]
    pub similar: Vec<Similar>,
    /// Bundles that depend on this one.
    #[serde(default)]
    pub dependents: Vec<BundleId>,
    /// Bundles installed together with this one, most often first.
    #[serde(default)]
    pub together: Vec<Together>,
    /// Mean rating (reserved: `null` until reviews exist).
    #[serde(default)]
    pub rating: Option<f64>,
}

impl RelatedFile {
    /// Parses and checks a related file that should be `id`'s.
    pub fn parse(bytes: &[u8], file: &str, id: &BundleId) -> Result<Self, StatsError> {
        let r: RelatedFile = open(bytes, file, MAX_RELATED_FILE)?;
        if &r.id != id {
            return Err(malformed(file, format!("is for {}, not {id}", r.id)));
        }
        if r.similar.len() > MAX_RELATED
            || r.dependents.len() > MAX_RELATED
            || r.together.len() > MAX_RELATED
        {
            return Err(malformed(
                file,
                format!("a list holds more than {MAX_RELATED} bundles"),
            ));
        }
        let names_self = r.similar.iter().any(|s| &s.id == id)
            || r.dependents.contains(id)
            || r.together.iter().any(|t| &t.id == id);
        if names_self {
            return Err(malformed(file, "a list names the bundle itself"));
        }
        if r.similar.iter().any(|s| !(s.score > 0.0 && s.score <= 1.0)) {
            return Err(malformed(file, "a similarity score is outside (0, 1]"));
        }
        if r.rating.is_some_and(|x| !(1.0..=5.0).contains(&x)) {
            return Err(malformed(file, "rating is outside 1 to 5"));
        }
        Ok(r)
    }

    /// The file's bytes.
    pub fn to_json(&self) -> Vec<u8> {
        to_json(self)
    }
}

/// One ingested log slice: the hash and length of a log's bytes up to the end of its last
/// complete line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Lower-case hex SHA-256 of the first `bytes` (decompressed) bytes of the log.
    pub sha256: String,
    /// Their number.
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the log's first line (its first 64 KiB, without `\n`): which
    /// entries a log may continue, known from its first line.
    #[serde(default)]
    pub head: String,
}

/// `stats/ingested.json`: what was ingested (writers only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// Format version.
    pub v: u32,
    /// Slices, oldest first.
    pub logs: Vec<LedgerEntry>,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            v: FORMAT,
            logs: Vec::new(),
        }
    }
}

impl Ledger {
    /// Parses and checks the ledger.
    pub fn parse(bytes: &[u8], file: &str) -> Result<Self, StatsError> {
        let l: Ledger = open(bytes, file, MAX_LEDGER_FILE)?;
        if l.logs
            .iter()
            .any(|e| !ratchet_formats::index::is_sha256_hex(&e.sha256))
        {
            return Err(malformed(
                file,
                "an entry's sha256 is not 64 lower-case hex digits",
            ));
        }
        Ok(l)
    }

    /// The file's bytes.
    pub fn to_json(&self) -> Vec<u8> {
        to_json(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> BundleId {
        BundleId::parse("com.example.tools").unwrap()
    }

    #[test]
    fn trend_formula() {
        assert_eq!(trend(0, 0), 0.0);
        assert_eq!(trend(15, 20), 1.0); // (15+5)/(5+5)
        assert_eq!(trend(0, 60), -2.0); // 5/20
        assert_eq!(trend(3, 0), 0.678);
        assert_eq!(trend(100, 0), 4.392);
    }

    #[test]
    fn window_and_figures() {
        let as_of = Day::parse("2026-12-04").unwrap();
        let mut s = StatsFile::new(id(), as_of);
        s.add("1.0.0", as_of, 4);
        s.add("1.0.0", as_of.plus(-6), 1);
        s.add("1.1.0", as_of.plus(-7), 8);
        s.add("1.1.0", as_of.plus(-400), 100);
        s.recompute(as_of);
        assert_eq!((s.downloads, s.last_7_days, s.last_30_days), (113, 5, 13));
        assert_eq!(s.trend, trend(5, 8));
        assert_eq!(s.versions["1.1.0"].total, 108);
        assert_eq!(
            s.versions["1.1.0"].days.len(),
            1,
            "the 400-day-old count is folded"
        );
        let bytes = s.to_json();
        assert_eq!(StatsFile::parse(&bytes, "f", &id()).unwrap(), s);
    }

    #[test]
    fn bad_stats_files_are_refused() {
        let as_of = Day::parse("2026-12-04").unwrap();
        let mut s = StatsFile::new(id(), as_of);
        s.add("1.0.0", as_of, 4);
        s.recompute(as_of);
        let good = String::from_utf8(s.to_json()).unwrap();
        let cases = [
            (
                good.replace("\"downloads\":4", "\"downloads\":5"),
                "not the sum",
            ),
            (
                good.replace("com.example.tools", "com.example.other"),
                "is for",
            ),
            (good.replace("\"v\":1", "\"v\":2"), "format"),
            (
                good.replace("\"as_of\":\"2026-12-04\"", "\"as_of\":\"2026-12-03\""),
                "outside the window",
            ),
            (good.replace("1.0.0", "one"), "version"),
            ("{\"v\":1".to_string(), "EOF"),
        ];
        for (text, want) in cases {
            let e = StatsFile::parse(text.as_bytes(), "stats/x.json", &id()).unwrap_err();
            assert!(e.to_string().contains(want), "{e} lacks {want}");
            assert!(e.to_string().contains("stats/x.json"));
        }
        let big = vec![b' '; MAX_STATS_FILE as usize + 1];
        assert!(matches!(
            StatsFile::parse(&big, "f", &id()),
            Err(StatsError::TooLarge { .. })
        ));
    }

    #[test]
    fn related_files_are_checked() {
        let ok = r#"{"v":1,"id":"com.example.tools","similar":[{"id":"com.example.a","score":0.5}],"dependents":[],"together":[],"rating":null}"#;
        assert!(RelatedFile::parse(ok.as_bytes(), "r", &id()).is_ok());
        let selfish = ok.replace("com.example.a", "com.example.tools");
        assert!(RelatedFile::parse(selfish.as_bytes(), "r", &id()).is_err());
        let score = ok.replace("0.5", "1.5");
        assert!(RelatedFile::parse(score.as_bytes(), "r", &id()).is_err());
        let bad_id = ok.replace("com.example.a", "Not An Id");
        assert!(RelatedFile::parse(bad_id.as_bytes(), "r", &id()).is_err());
    }
}
