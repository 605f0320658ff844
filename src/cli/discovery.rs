//! What `bundle info` shows beyond the index: download figures (`stats/`) and related bundles
//! (`related/`), `index-format.md` §11. Both files are optional: a registry without them shows
//! no such lines and no JSON fields; a damaged or oversized file is a warning naming it, never a
//! failure of `info`.

use ratchet_client::install::Client;
use ratchet_client::registry::FetchError;
use ratchet_formats::manifest::BundleId;
use ratchet_stats::files::{MAX_RELATED_FILE, MAX_STATS_FILE};
use ratchet_stats::{RelatedFile, StatsFile, related_path, stats_path};
use ratchet_term::escape_line;
use serde_json::{Value, json};

/// The discovery files of one bundle, as far as they could be read.
pub struct Discovery {
    stats: Option<StatsFile>,
    related: Option<RelatedFile>,
    /// Why a file was left out.
    pub warnings: Vec<String>,
}

/// Fetches (http(s), file:// or the cache when offline) and checks the bundle's stats and
/// related files, in one round trip.
pub fn fetch(client: &Client, id: &BundleId) -> Discovery {
    let (srel, rrel) = (stats_path(id), related_path(id));
    let limit = MAX_STATS_FILE.max(MAX_RELATED_FILE);
    let mut got = client
        .fetcher
        .get_many(&[srel.clone(), rrel.clone()], limit)
        .into_iter();
    let mut warnings = Vec::new();
    let mut take = |r: Option<Result<Option<Vec<u8>>, FetchError>>, rel: &str| match r {
        Some(Ok(b)) => b,
        // Not in the cache while offline: as if absent (the figures are optional).
        Some(Err(FetchError::Offline { .. })) | None => None,
        Some(Err(e)) => {
            warnings.push(format!("{rel}: left out: {e}"));
            None
        }
    };
    let (sb, rb) = (take(got.next(), &srel), take(got.next(), &rrel));
    let stats = sb.and_then(|b| {
        StatsFile::parse(&b, &srel, id)
            .map_err(|e| warnings.push(format!("left out: {e}")))
            .ok()
    });
    let related = rb.and_then(|b| {
        RelatedFile::parse(&b, &rrel, id)
            .map_err(|e| warnings.push(format!("left out: {e}")))
            .ok()
    });
    Discovery {
        stats,
        related,
        warnings,
    }
}

fn trend_word(t: f64) -> &'static str {
    if t >= 0.5 {
        "rising"
    } else if t <= -0.5 {
        "falling"
    } else {
        "steady"
    }
}

impl Discovery {
    /// Adds the JSON fields of `cli-output.md` (`bundle info`) to `doc`.
    pub fn add_json(&self, doc: &mut Value) {
        if let Some(s) = &self.stats {
            doc["downloads"] = json!({
                "total": s.downloads,
                "last_7_days": s.last_7_days,
                "last_30_days": s.last_30_days,
                "as_of": s.as_of,
                "versions": s.versions.iter().map(|(v, c)| (v.clone(), json!(c.total))).collect::<serde_json::Map<_, _>>(),
            });
            doc["trend"] = json!(s.trend);
        }
        if let Some(r) = &self.related {
            doc["similar"] = json!(r.similar);
            doc["together"] = json!(r.together);
            doc["dependents"] = json!(r.dependents);
        }
        doc["rating"] = json!(self.related.as_ref().and_then(|r| r.rating));
        doc["warnings"] = json!(self.warnings);
    }

    /// The text lines (indented under the id).
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(s) = &self.stats {
            out.push(format!(
                "  downloads: {} total, {} in the last 30 days (as of {}), trend {:+.2} ({})",
                s.downloads,
                s.last_30_days,
                escape_line(&s.as_of),
                s.trend,
                trend_word(s.trend)
            ));
        }
        if let Some(r) = &self.related {
            let list = |v: Vec<String>| -> Option<String> { (!v.is_empty()).then(|| v.join(", ")) };
            if let Some(l) = list(
                r.similar
                    .iter()
                    .map(|s| escape_line(s.id.as_str()).into_owned())
                    .collect(),
            ) {
                out.push(format!("  similar: {l}"));
            }
            if let Some(l) = list(
                r.together
                    .iter()
                    .map(|t| format!("{} ({})", escape_line(t.id.as_str()), t.count))
                    .collect(),
            ) {
                out.push(format!("  often installed together: {l}"));
            }
            if let Some(l) = list(
                r.dependents
                    .iter()
                    .map(|d| escape_line(d.as_str()).into_owned())
                    .collect(),
            ) {
                out.push(format!("  used by: {l}"));
            }
        }
        out
    }
}
