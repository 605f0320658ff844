//! `ratchet bundle search`, `ratchet bundle categories` and `ratchet bundle tags`: discovery
//! over the registries' search catalogs (`index-format.md` §10).
//!
//! The library (`ratchet-client`'s `search`, over `ratchet-catalog`) fetches and ranks; this
//! module parses the flags, asks every configured registry (or the one `--registry` names),
//! merges the pages and renders them. Every string from a catalog is escaped before it reaches
//! the terminal; JSON carries them as they are. Documents and exit codes: `cli-output.md`.

use super::CliResult;
use clap::Args;
use ratchet_catalog::search::{MAX_LIMIT, MAX_LOOKUP};
use ratchet_catalog::{Hit, PriceFilter, Query, Sort, Summary};
use ratchet_client::paths::Paths;
use ratchet_client::registry::fetch::Fetcher;
use ratchet_client::registry::{ClientConfig, RegistrySource};
use ratchet_client::search::{self, SearchError};
use ratchet_formats::manifest::BundleId;
use ratchet_stats::files::MAX_RELATED_FILE;
use ratchet_stats::{RelatedFile, related_path};
use ratchet_term::{escape_line, out, print_json};
use serde_json::{Value, json};
use std::process::ExitCode;

/// Which registries to ask.
#[derive(Args, Clone)]
pub struct SearchRegistryArgs {
    /// Ask only this registry: a configured name, a URL, or a directory (default: every
    /// configured registry).
    #[arg(long)]
    registry: Option<String>,
    /// Answer from the local cache only.
    #[arg(long)]
    offline: bool,
}

/// `ratchet bundle search`.
#[derive(Args)]
pub struct SearchArgs {
    /// Words to look for (in ids, names, descriptions, keywords, READMEs, task names...); may
    /// be empty when a filter is given.
    query: Vec<String>,
    /// Only bundles in this category (repeat: any of them).
    #[arg(long)]
    category: Vec<String>,
    /// Only bundles with this tag or keyword (repeat: any of them).
    #[arg(long)]
    tag: Vec<String>,
    /// Only bundles by this author (repeat: any of them).
    #[arg(long)]
    author: Vec<String>,
    /// Only bundles usable under this SPDX license id (repeat: any of them).
    #[arg(long)]
    license: Vec<String>,
    /// `free`, `paid`, or `max:N` (free, freemium, or a price of at most N).
    #[arg(long, value_name = "free|paid|max:N")]
    price: Option<PriceFilter>,
    /// Only community or officially verified bundles.
    #[arg(long)]
    verified: bool,
    /// relevance, downloads, rating, updated, trending or name.
    #[arg(long, default_value = "relevance")]
    sort: Sort,
    /// Results to show (at most 50; at most 20 with --similar).
    #[arg(long, default_value_t = 10)]
    limit: usize,
    /// Find bundles like this one (its registry's related list, `index-format.md` §11.3)
    /// instead of searching text.
    #[arg(long, value_name = "ID", conflicts_with_all = ["query", "category", "tag", "author", "license", "price", "verified", "sort", "offset"])]
    similar: Option<String>,
    /// Results to skip (with several registries, offset + limit is at most 50).
    #[arg(long, default_value_t = 0)]
    offset: usize,
    #[command(flatten)]
    reg: SearchRegistryArgs,
}

/// `ratchet bundle tags`.
#[derive(Args)]
pub struct TagsArgs {
    /// Most common first (default: by name).
    #[arg(long)]
    popular: bool,
    #[command(flatten)]
    reg: SearchRegistryArgs,
}

/// The registries to ask, with a fetcher each.
fn fetchers(
    paths: &Paths,
    reg: &SearchRegistryArgs,
) -> Result<Vec<Fetcher>, Box<dyn std::error::Error>> {
    let sources: Vec<RegistrySource> = match &reg.registry {
        Some(r) => vec![RegistrySource::select(&paths.config, Some(r))?],
        None => {
            let cfg = ClientConfig::load(&paths.config)?;
            if cfg.registries.is_empty() {
                // Same message as every other registry command.
                vec![RegistrySource::select(&paths.config, None)?]
            } else {
                cfg.registries
                    .keys()
                    .map(|n| RegistrySource::select(&paths.config, Some(n)))
                    .collect::<Result<_, _>>()?
            }
        }
    };
    sources
        .into_iter()
        .map(|s| Ok(Fetcher::new(s, &paths.cache, reg.offline)?))
        .collect()
}

/// Runs `each` on every registry. With one registry its error is the command's; with several,
/// a registry without a catalog is a warning and the others are still asked (a damaged catalog
/// stays an error: results would be partial).
fn each_registry<T>(
    fetchers: &[Fetcher],
    mut each: impl FnMut(&Fetcher) -> Result<T, SearchError>,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, T)>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    for f in fetchers {
        match each(f) {
            Ok(t) => out.push((f.source().name.clone(), t)),
            Err(e @ SearchError::NoCatalog { .. }) if fetchers.len() > 1 => {
                warnings.push(e.to_string())
            }
            Err(SearchError::Query(q)) => return Err(Box::new(ratchet_term::UsageError(q))),
            Err(e) => return Err(e.into()),
        }
    }
    if out.is_empty() && !warnings.is_empty() {
        return Err(warnings.join("; ").into());
    }
    Ok(out)
}

fn price_text(s: &Summary) -> String {
    match &s.price {
        Some(p) => {
            let period = if p.period.is_empty() || p.period == "once" {
                String::new()
            } else {
                format!("/{}", p.period)
            };
            format!("{} {} {}{period}", s.pricing.as_str(), p.amount, p.currency)
        }
        None => s.pricing.as_str().to_string(),
    }
}

fn hit_json(registry: &str, h: &Hit) -> Value {
    let s = &h.summary;
    json!({
        "id": s.id,
        "name": s.name,
        "version": s.version,
        "description": s.description,
        "registry": registry,
        "license": s.license,
        "pricing": s.pricing.as_str(),
        "price": s.price.as_ref().map(|p| json!({"amount": p.amount, "currency": p.currency, "period": p.period})),
        "verified": s.verified.as_str(),
        "downloads": s.downloads,
        "trend": s.trend,
        "rating": s.rating,
        "updated": s.updated,
        "deprecated": s.deprecated,
        "score": (h.score * 1000.0).round() / 1000.0,
    })
}

/// `ratchet bundle search`.
pub fn search(args: SearchArgs) -> CliResult {
    let o = out();
    if args.limit == 0 || args.limit > MAX_LIMIT {
        return Err(Box::new(ratchet_term::UsageError(format!(
            "--limit must be 1 to {MAX_LIMIT}"
        ))));
    }
    let paths = Paths::detect();
    let fetchers = fetchers(&paths, &args.reg)?;
    if let Some(id) = &args.similar {
        return similar(&fetchers, id, args.limit);
    }
    let several = fetchers.len() > 1;
    if several && args.offset.saturating_add(args.limit) > MAX_LIMIT {
        return Err(Box::new(ratchet_term::UsageError(format!(
            "across several registries --offset + --limit is at most {MAX_LIMIT}; pick one with --registry to page further"
        ))));
    }
    let q = Query {
        text: args.query.join(" "),
        categories: args.category,
        tags: args.tag,
        authors: args.author,
        licenses: args.license,
        price: args.price,
        verified: args.verified,
        sort: args.sort,
        limit: if several {
            args.offset.saturating_add(args.limit)
        } else {
            args.limit
        },
        offset: if several { 0 } else { args.offset },
        ..Query::default()
    };
    let mut warnings = Vec::new();
    let mut counters = (0u64, 0u64, 0u64);
    let answers = each_registry(
        &fetchers,
        |f| {
            let (r, c) = search::search(f, &q)?;
            counters.0 += c.rounds;
            counters.1 += c.requests;
            counters.2 += c.bytes;
            Ok(r)
        },
        &mut warnings,
    )?;
    let total: usize = answers.iter().map(|(_, r)| r.total).sum();
    let capped = answers.iter().any(|(_, r)| r.capped);
    let relaxed = answers.iter().any(|(_, r)| r.relaxed);
    let mut hits: Vec<(String, Hit)> = answers
        .into_iter()
        .flat_map(|(n, r)| r.hits.into_iter().map(move |h| (n.clone(), h)))
        .collect();
    if several {
        // Merge by the sort's key, then relevance, then id (stable across registries).
        let key = |h: &Hit| -> f64 {
            let s = &h.summary;
            match q.sort {
                Sort::Relevance | Sort::Name => 0.0,
                Sort::Downloads => s.downloads as f64,
                Sort::Rating => s.rating.unwrap_or(0.0),
                Sort::Updated => 0.0,
                Sort::Trending => s.trend,
            }
        };
        hits.sort_by(|(_, a), (_, b)| {
            let by = match q.sort {
                Sort::Name => a
                    .summary
                    .name
                    .to_lowercase()
                    .cmp(&b.summary.name.to_lowercase()),
                Sort::Updated => b.summary.updated.cmp(&a.summary.updated),
                _ => key(b).total_cmp(&key(a)),
            };
            by.then(b.score.total_cmp(&a.score))
                .then(a.summary.id.cmp(&b.summary.id))
        });
        hits = hits
            .into_iter()
            .skip(args.offset)
            .take(args.limit)
            .collect();
    }
    if o.verbose(1) {
        o.status(format_args!(
            "search: {} round trip(s), {} request(s), {} byte(s)",
            counters.0, counters.1, counters.2
        ));
    }
    if o.json() {
        print_json(&json!({
            "query": q.text,
            "total": total,
            "offset": args.offset,
            "capped": capped,
            "relaxed": relaxed,
            "results": hits.iter().map(|(n, h)| hit_json(n, h)).collect::<Vec<_>>(),
            "warnings": warnings,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    for w in &warnings {
        o.warn(escape_line(w));
    }
    if hits.is_empty() {
        println!(
            "No bundle matches{}.",
            if q.text.trim().is_empty() {
                String::new()
            } else {
                format!(" `{}`", escape_line(q.text.trim()))
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    if relaxed {
        println!("No bundle matches every word; these match some of them:");
    }
    for (n, h) in &hits {
        let registry = several.then(|| format!(", registry {}", escape_line(n)));
        print_result(&h.summary, None, registry.as_deref().unwrap_or(""));
    }
    println!(
        "{} of {}{} result(s){}",
        hits.len(),
        if capped { "at least " } else { "" },
        total,
        if args.offset > 0 {
            format!(" (from {})", args.offset.saturating_add(1))
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// `ratchet bundle search --similar ID`: the bundles the related lists (§11.3) of the
/// registries asked name as similar to `id`, best first, with their catalog summaries where
/// the catalog carries them.
fn similar(fetchers: &[Fetcher], id: &str, limit: usize) -> CliResult {
    let o = out();
    let id = BundleId::parse(id).map_err(|e| {
        Box::new(ratchet_term::UsageError(format!(
            "--similar: `{}` is not a bundle id: {e}",
            escape_line(id)
        ))) as Box<dyn std::error::Error>
    })?;
    let limit = limit.min(MAX_LOOKUP);
    let rel = related_path(&id);
    let mut warnings = Vec::new();
    let mut missing = Vec::new();
    // (registry, similar id, similarity, summary)
    let mut rows: Vec<(String, BundleId, f64, Option<Summary>)> = Vec::new();
    let mut found_list = false;
    for f in fetchers {
        let name = f.source().name.clone();
        let bytes = match f.get(&rel, MAX_RELATED_FILE) {
            Ok(Some(b)) => b,
            Ok(None) => {
                missing.push(f.source().label());
                continue;
            }
            Err(e) => return Err(format!("registry `{}`: {rel}: {e}", f.source().label()).into()),
        };
        let related = RelatedFile::parse(&bytes, &rel, &id)
            .map_err(|e| format!("registry `{}`: {e}", f.source().label()))?;
        found_list = true;
        let list: Vec<(BundleId, f64)> = related
            .similar
            .into_iter()
            .take(limit)
            .map(|s| (s.id, s.score))
            .collect();
        let ids: Vec<BundleId> = list.iter().map(|(i, _)| i.clone()).collect();
        let mut sums = match search::summaries(f, &ids) {
            Ok((m, c)) => {
                if o.verbose(1) {
                    o.status(format_args!(
                        "search --similar: registry {}: 1 related file, then {} round trip(s), {} request(s), {} byte(s) of catalog",
                        escape_line(&name),
                        c.rounds,
                        c.requests,
                        c.bytes
                    ));
                }
                m
            }
            // No catalog: the ids are still shown.
            Err(e @ SearchError::NoCatalog { .. }) => {
                warnings.push(e.to_string());
                Default::default()
            }
            Err(e) => return Err(e.into()),
        };
        for (sid, score) in list {
            let summary = sums.remove(sid.as_str());
            rows.push((name.clone(), sid, score, summary));
        }
    }
    if !found_list {
        return Err(format!(
            "no related-bundle list for {id} ({rel}) in {}: the registry has not computed related bundles (its maintainer runs `ratchet-index stats related`) or does not hold {id}",
            missing
                .iter()
                .map(|m| format!("registry `{m}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
        .into());
    }
    rows.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.1.cmp(&b.1)));
    rows.truncate(limit);
    let several = fetchers.len() > 1;
    if o.json() {
        let results: Vec<Value> = rows
            .iter()
            .map(|(n, sid, score, s)| match s {
                Some(s) => {
                    let mut v = hit_json(
                        n,
                        &Hit {
                            summary: s.clone(),
                            score: *score,
                        },
                    );
                    v["in_catalog"] = json!(true);
                    v
                }
                None => json!({"id": sid, "registry": n, "score": (score * 1000.0).round() / 1000.0, "in_catalog": false}),
            })
            .collect();
        print_json(&json!({
            "similar_to": id,
            "total": results.len(),
            "results": results,
            "warnings": warnings,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    for w in &warnings {
        o.warn(escape_line(w));
    }
    if rows.is_empty() {
        println!("No bundle is like {} yet.", escape_line(id.as_str()));
        return Ok(ExitCode::SUCCESS);
    }
    println!("Bundles like {}:", escape_line(id.as_str()));
    for (n, sid, score, s) in &rows {
        let reg = if several {
            format!(", registry {}", escape_line(n))
        } else {
            String::new()
        };
        match s {
            Some(s) => print_result(s, Some(format!("similarity {score:.2}")), &reg),
            None => println!(
                "{}  similarity {score:.2}, not in the search catalog{reg}",
                escape_line(sid.as_str())
            ),
        }
    }
    println!("{} result(s)", rows.len());
    Ok(ExitCode::SUCCESS)
}

/// Counts per value over every registry asked, most common first (then by value).
fn merged(lists: Vec<(String, Vec<(String, u32)>)>) -> Vec<(String, u32)> {
    let mut all: std::collections::BTreeMap<String, u32> = Default::default();
    for (_, l) in lists {
        for (v, n) in l {
            *all.entry(v).or_default() += n;
        }
    }
    let mut v: Vec<(String, u32)> = all.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

fn print_counts(kind: &str, counts: &[(String, u32)], warnings: &[String]) -> CliResult {
    let o = out();
    if o.json() {
        let list: Vec<Value> = counts
            .iter()
            .map(|(v, n)| json!({"name": v, "bundles": n}))
            .collect();
        print_json(&json!({ kind: list, "warnings": warnings }))?;
        return Ok(ExitCode::SUCCESS);
    }
    for w in warnings {
        o.warn(escape_line(w));
    }
    if counts.is_empty() {
        println!("No {kind} yet.");
    }
    for (v, n) in counts {
        println!("{}\t{n}", escape_line(v));
    }
    Ok(ExitCode::SUCCESS)
}

/// `ratchet bundle categories`.
pub fn categories(reg: SearchRegistryArgs) -> CliResult {
    let paths = Paths::detect();
    let fetchers = fetchers(&paths, &reg)?;
    let mut warnings = Vec::new();
    let lists = each_registry(
        &fetchers,
        |f| {
            let root = search::root(f)?;
            Ok(root
                .facets
                .get("category")
                .map(|m| m.iter().map(|(k, &n)| (k.clone(), n)).collect())
                .unwrap_or_default())
        },
        &mut warnings,
    )?;
    print_counts("categories", &merged(lists), &warnings)
}

/// `ratchet bundle tags`.
pub fn tags(args: TagsArgs) -> CliResult {
    let paths = Paths::detect();
    let fetchers = fetchers(&paths, &args.reg)?;
    let mut warnings = Vec::new();
    let lists = each_registry(
        &fetchers,
        |f| {
            let root = search::root(f)?;
            Ok(root.tags.into_iter().collect())
        },
        &mut warnings,
    )?;
    let mut counts = merged(lists);
    if !args.popular {
        counts.sort_by(|a, b| a.0.cmp(&b.0));
    }
    print_counts("tags", &counts, &warnings)
}

/// One result: `ID VERSION  [FIRST, ]PRICE, VERIFIED, N downloads[, DEPRECATED]SUFFIX`, then
/// its description on one indented line. Every string from the catalog is escaped.
fn print_result(s: &Summary, first: Option<String>, suffix: &str) {
    let mut notes: Vec<String> = first.into_iter().collect();
    notes.push(price_text(s));
    notes.push(match s.verified.as_str() {
        "none" => "unverified".to_string(),
        v => format!("{v} verified"),
    });
    notes.push(format!("{} downloads", s.downloads));
    if s.deprecated {
        notes.push("DEPRECATED".into());
    }
    println!(
        "{} {}  {}{suffix}",
        escape_line(s.id.as_str()),
        escape_line(&s.version),
        notes.join(", ")
    );
    if !s.description.is_empty() {
        println!("    {}", escape_line(&one_line(&s.description)));
    }
}

/// A description as one line: the catalog keeps the author's line breaks, a result list shows
/// the words (runs of white space become one space; other control characters are still escaped
/// by the caller).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
