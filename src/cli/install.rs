//! `ratchet bundle install/update/outdated/list/remove/info/deps`: the registry client commands.

use super::CliResult;
use clap::Args;
use ratchet_client::install::{
    self, ApplyOptions, Client, InstalledState, Lockfile, Plan, PlanRequest, apply, parse_spec,
    plan,
};
use ratchet_client::paths::Paths;
use ratchet_client::registry::RegistrySource;
use ratchet_client::resolver::DependencyGraph;
use ratchet_formats::index::IndexLine;
use ratchet_formats::manifest::{BundleId, Platform};
use ratchet_sandbox::Policy;
use ratchet_term::Format;
use serde_json::json;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

/// Where to fetch from.
#[derive(Args, Clone)]
pub struct RegistryArgs {
    /// Registry: a configured name, a URL, or a directory (default: the default registry).
    #[arg(long)]
    registry: Option<String>,
    /// Use only the local cache; say what is missing.
    #[arg(long)]
    offline: bool,
}

impl RegistryArgs {
    fn open(&self, paths: &Paths) -> Result<Client, Box<dyn std::error::Error>> {
        self.open_for(paths, &[])
    }

    /// Opens the registry and, in the same round trip, fetches the index files a resolution
    /// starts from: `ids` and the requests installed from this registry.
    fn open_for(
        &self,
        paths: &Paths,
        ids: &[BundleId],
    ) -> Result<Client, Box<dyn std::error::Error>> {
        let src = RegistrySource::select(&paths.config, self.registry.as_deref())?;
        let state = InstalledState::load(paths)?;
        let here = src.base.to_string();
        let mut first: std::collections::BTreeSet<BundleId> = ids.iter().cloned().collect();
        first.extend(
            state
                .bundles
                .iter()
                .filter(|(_, b)| b.registry == here && b.requested.is_some())
                .map(|(id, _)| id.clone()),
        );
        Ok(Client::open_prefetching(
            paths.clone(),
            src,
            self.offline,
            &first,
        )?)
    }
}

#[derive(Args)]
pub struct InstallArgs {
    /// Bundles to install: `ID` or `ID@REQUIREMENT` (e.g. `com.example.tools@^1.2`).
    specs: Vec<String>,
    #[command(flatten)]
    reg: RegistryArgs,
    /// Do not ask for confirmation.
    #[arg(long, short)]
    yes: bool,
    /// Install exactly what `ratchet.lock` says (or the lockfile given with --lockfile), or fail.
    #[arg(long)]
    locked: bool,
    /// The lockfile for --locked (default: the one in the data directory).
    #[arg(long, requires = "locked")]
    lockfile: Option<std::path::PathBuf>,
    /// Accept unsigned bundles from a `local` (development) registry. Nobody vouches for them.
    #[arg(long)]
    allow_unsigned: bool,
}

#[derive(Args)]
pub struct UpdateArgs {
    /// Bundles to update (default: all).
    ids: Vec<String>,
    #[command(flatten)]
    reg: RegistryArgs,
    /// Do not ask for confirmation.
    #[arg(long, short)]
    yes: bool,
    /// Accept unsigned bundles from a `local` (development) registry. Nobody vouches for them.
    #[arg(long)]
    allow_unsigned: bool,
}

fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    } else if bytes >= 1 << 10 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} B")
    }
}

fn show_plan(plan: &Plan, policy: &Policy) {
    for b in &plan.bundles {
        let l = &b.line;
        if b.unchanged {
            continue;
        }
        let what = match &b.replaces {
            Some(v) => format!("~ {} {v} -> {}", l.id, l.version),
            None => format!("+ {} {}", l.id, l.version),
        };
        eprintln!(
            "{what}  ({}, license {}, pricing {}){}",
            human(l.size),
            l.license,
            l.pricing.as_str(),
            if l.yanked { "  [yanked, locked]" } else { "" }
        );
        if let Some(d) = &b.deprecated {
            eprintln!("  warning: deprecated: {d}");
        }
        for line in ratchet_sandbox::policy::review(&l.permissions, &l.resources, policy).lines() {
            eprintln!("    {line}");
        }
    }
    for id in &plan.removed {
        eprintln!("- {id}");
    }
    let n = plan.bundles.iter().filter(|b| !b.unchanged).count();
    eprintln!(
        "{n} to install ({}), {} unchanged, {} to remove",
        human(plan.download_size()),
        plan.bundles.len() - n,
        plan.removed.len()
    );
}

/// Whether an install will stop to ask for confirmation (on a terminal, without `--yes`).
/// When it will not, the archives are prepared while resolution goes on.
fn will_ask(yes: bool) -> bool {
    !yes && std::io::stdin().is_terminal()
}

fn confirm(yes: bool) -> Result<bool, Box<dyn std::error::Error>> {
    if !will_ask(yes) {
        return Ok(true);
    }
    eprint!("proceed? [y/N] ");
    std::io::stderr().flush()?;
    let mut s = String::new();
    std::io::stdin().lock().read_line(&mut s)?;
    Ok(matches!(s.trim(), "y" | "Y" | "yes"))
}

fn execute(client: &Client, plan: &Plan, yes: bool, allow_unsigned: bool) -> CliResult {
    for w in &client.warnings {
        eprintln!("warning: {w}");
    }
    if allow_unsigned {
        eprintln!(
            "WARNING: --allow-unsigned: unsigned bundles from a local registry will be installed with no proof of who made them"
        );
    }
    if !plan.kept.is_empty() {
        eprintln!(
            "note: {} bundle(s) installed from other registries are left as they are ({})",
            plan.kept.len(),
            plan.kept
                .keys()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if plan.is_noop() {
        eprintln!("nothing to do: everything is installed");
        return Ok(ExitCode::SUCCESS);
    }
    let policy = Policy::load(&client.paths.config)?;
    show_plan(plan, &policy);
    if !confirm(yes)? {
        eprintln!("cancelled; nothing changed");
        return Ok(ExitCode::FAILURE);
    }
    let total = plan.download_size();
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
        ) {
            b.set_style(style);
        }
        Some(b)
    } else {
        if client.fetcher.offline() {
            eprintln!("from the cache: {}", human(total));
        } else {
            eprintln!("downloading {}", human(total));
        }
        None
    };
    let progress: Option<ratchet_client::registry::fetch::Progress> = bar.clone().map(|b| {
        let f: ratchet_client::registry::fetch::Progress = Arc::new(move |n| b.inc(n));
        f
    });
    let opts = ApplyOptions {
        allow_unsigned,
        progress,
    };
    let result = apply(client, plan, &opts);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let applied = result.map_err(|e| {
        if InstalledState::load(&client.paths).is_ok_and(|s| !s.bundles.is_empty()) {
            format!("{e} (the previous installation is unchanged)")
        } else {
            format!("{e} (nothing was installed)")
        }
    })?;
    // First-use pins say the same thing for every bundle of a registry: once per key set.
    let mut pinned: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for w in &applied.warnings {
        match w
            .strip_prefix("first install of ")
            .and_then(|r| r.split_once(": trusting and pinning its owner key(s) "))
        {
            Some((id, keys)) => pinned.entry(keys).or_default().push(id),
            None if w.starts_with("WARNING") => eprintln!("{w}"),
            None => eprintln!("warning: {w}"),
        }
    }
    for (keys, ids) in pinned {
        eprintln!(
            "note: first install of {}: trusting and pinning owner key(s) {keys}",
            ids.join(", ")
        );
    }
    for b in &plan.bundles {
        if !b.unchanged {
            let s = &applied.state.bundles[&b.line.id];
            eprintln!(
                "installed {} {} ({}, {})",
                b.line.id,
                b.line.version,
                signed_by(s.signer.as_deref()),
                status_text(&s.verification)
            );
        }
    }
    for id in &plan.removed {
        eprintln!("removed {id}");
    }
    if plan.bundles.iter().all(|b| b.unchanged) && plan.removed.is_empty() {
        eprintln!("recorded the request; every bundle was already installed");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn install(args: InstallArgs) -> CliResult {
    let paths = Paths::detect();
    let _lock = install::lock(&paths)?;
    if args.locked {
        let path = args
            .lockfile
            .clone()
            .unwrap_or_else(|| paths.data.join(install::LOCK_FILE));
        let lock = Lockfile::load(&path)?;
        if !args.specs.is_empty() {
            return Err("--locked installs the lockfile: name no bundles".into());
        }
        // With --registry, everything from there; without, each bundle from the registry the
        // lockfile records for it, one registry after the other.
        let groups: Vec<(RegistryArgs, Lockfile)> = if args.reg.registry.is_some() {
            vec![(args.reg.clone(), lock)]
        } else {
            let mut by_registry: std::collections::BTreeMap<String, Lockfile> = Default::default();
            for b in &lock.bundles {
                let g = by_registry
                    .entry(b.registry.clone())
                    .or_insert_with(|| Lockfile {
                        v: lock.v,
                        ..Default::default()
                    });
                g.bundles.push(b.clone());
                if let Some(r) = lock.requested.get(&b.id) {
                    g.requested.insert(b.id.clone(), r.clone());
                }
            }
            by_registry
                .into_iter()
                .map(|(registry, l)| {
                    let mut r = args.reg.clone();
                    r.registry = Some(registry);
                    (r, l)
                })
                .collect()
        };
        for (reg, group) in groups {
            let ids: Vec<BundleId> = group.requested.keys().cloned().collect();
            let mut client = reg.open_for(&paths, &ids)?;
            if !will_ask(args.yes) {
                client.prepare_while_resolving(args.allow_unsigned);
            }
            let req = PlanRequest {
                locked: Some(group),
                ..Default::default()
            };
            let plan = plan(&mut client, &req)?;
            let code = execute(&client, &plan, args.yes, args.allow_unsigned)?;
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.specs.is_empty() {
        return Err("name the bundles to install: `ratchet bundle install ID[@REQ]...`".into());
    }
    let mut req = PlanRequest::default();
    for s in &args.specs {
        req.add.push(parse_spec(s)?);
    }
    let ids: Vec<BundleId> = req.add.iter().map(|(id, _)| id.clone()).collect();
    let mut client = args.reg.open_for(&paths, &ids)?;
    if !will_ask(args.yes) {
        client.prepare_while_resolving(args.allow_unsigned);
    }
    let plan = plan(&mut client, &req)?;
    execute(&client, &plan, args.yes, args.allow_unsigned)
}

fn signed_by(signer: Option<&str>) -> String {
    signer.map_or_else(|| "UNSIGNED".to_string(), |k| format!("signed by {k}"))
}

/// A verification status as the CLI shows it: `unverified` alone reads like "signature not
/// checked", so it says what is missing (an attestation; the signature was checked).
fn status_text(v: &ratchet_trust::VerificationStatus) -> String {
    match v {
        ratchet_trust::VerificationStatus::Unverified => "no attestation (unverified)".into(),
        other => other.to_string(),
    }
}

pub fn update(args: UpdateArgs) -> CliResult {
    let paths = Paths::detect();
    let _lock = install::lock(&paths)?;
    let mut client = args.reg.open_for(&paths, &[])?;
    if !will_ask(args.yes) {
        client.prepare_while_resolving(args.allow_unsigned);
    }
    let ids = args
        .ids
        .iter()
        .map(|s| BundleId::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let state = InstalledState::load(&paths)?;
    let here = client.fetcher.source().base.to_string();
    for id in &ids {
        match state.bundles.get(id) {
            None => {
                return Err(format!("{id} is not installed: `ratchet bundle install {id}`").into());
            }
            Some(b) if b.registry != here => {
                return Err(format!(
                    "{id} is installed from registry {}: pass `--registry {}` to update it",
                    b.registry, b.registry
                )
                .into());
            }
            Some(_) => {}
        }
    }
    let req = PlanRequest {
        unlock: Some(ids),
        ..Default::default()
    };
    let plan = plan(&mut client, &req)?;
    execute(&client, &plan, args.yes, args.allow_unsigned)
}

pub fn outdated(reg: RegistryArgs, format: Format) -> CliResult {
    let paths = Paths::detect();
    let state = InstalledState::load(&paths)?;
    let mut client = reg.open(&paths)?;
    let here = client.fetcher.source().base.to_string();
    let (mine, others): (Vec<_>, Vec<_>) =
        state.bundles.iter().partition(|(_, b)| b.registry == here);
    if !others.is_empty() {
        eprintln!(
            "note: {} bundle(s) installed from other registries are not checked here (pass their --registry)",
            others.len()
        );
    }
    if mine.is_empty() {
        println!(
            "nothing checked: no installed bundle comes from {}",
            client.fetcher.source().label()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let ids = mine.iter().map(|(id, _)| (*id).clone()).collect();
    client.load(&ids)?;
    // What holds each bundle back: its own request and the requirements of the installed
    // bundles that depend on it.
    let mut reqs: std::collections::BTreeMap<
        &BundleId,
        Vec<ratchet_formats::manifest::VersionReq>,
    > = Default::default();
    for (id, b) in &mine {
        if let Some(r) = &b.requested {
            reqs.entry(*id).or_default().push(r.clone());
        }
        if let Some(l) = client.line(id, &b.version) {
            for d in &l.dependencies {
                if let Some((dep, _)) = mine.iter().find(|(x, _)| **x == d.bundle_id) {
                    reqs.entry(*dep).or_default().push(d.version.clone());
                }
            }
        }
    }
    let mut rows = Vec::new();
    for (id, b) in &mine {
        let Ok(versions) = client.versions(id) else {
            continue;
        };
        let newest = |reqs: &[ratchet_formats::manifest::VersionReq]| {
            ratchet_client::resolver::newest_release(versions, reqs).map(|l| l.version.clone())
        };
        let latest = newest(&[]);
        let compatible = newest(reqs.get(*id).map_or(&[], Vec::as_slice));
        if let Some(l) = latest
            && l > b.version
        {
            let update = compatible.filter(|c| c > &b.version);
            rows.push(json!({
                "id": id,
                "installed": b.version.to_string(),
                "latest": l.to_string(),
                "update": update.map(|v| v.to_string()),
            }));
        }
    }
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else if rows.is_empty() {
        println!(
            "everything from {} is up to date",
            client.fetcher.source().label()
        );
    } else {
        for r in &rows {
            let id = r["id"].as_str().unwrap_or("");
            let (installed, latest) = (
                r["installed"].as_str().unwrap_or(""),
                r["latest"].as_str().unwrap_or(""),
            );
            match r["update"].as_str() {
                Some(u) if u == latest => println!("{id}  {installed} -> {latest}"),
                Some(u) => println!(
                    "{id}  {installed} -> {latest}  (`update` takes {u}: the requirements on it allow no more)"
                ),
                None => println!(
                    "{id}  {installed} -> {latest}  (`update` keeps {installed}: the requirements on it allow no newer version)"
                ),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn list(format: Format) -> CliResult {
    let paths = Paths::detect();
    let state = InstalledState::load(&paths)?;
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&state.bundles)?);
        return Ok(ExitCode::SUCCESS);
    }
    if state.bundles.is_empty() {
        println!("no bundles installed");
    }
    for (id, b) in &state.bundles {
        let mut notes = Vec::new();
        if b.requested.is_none() {
            notes.push("dependency".to_string());
        }
        if b.yanked {
            notes.push("warning: yanked".to_string());
        }
        if let Some(d) = &b.deprecated {
            notes.push(format!("warning: deprecated: {d}"));
        }
        println!(
            "{id}\t{}\t{}\t{}, {}{}",
            b.version,
            b.registry,
            signed_by(b.signer.as_deref()),
            status_text(&b.verification),
            if notes.is_empty() {
                String::new()
            } else {
                format!("\t{}", notes.join("; "))
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn remove(ids: Vec<String>, cascade: bool) -> CliResult {
    let paths = Paths::detect();
    let ids = ids
        .iter()
        .map(|s| BundleId::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let _lock = install::lock(&paths)?;
    let gone = install::remove(&paths, &ids, cascade)?;
    for id in gone {
        eprintln!("removed {id}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn info(id: String, reg: RegistryArgs, format: Format) -> CliResult {
    let paths = Paths::detect();
    let id = BundleId::parse(&id)?;
    let mut client = reg.open_for(&paths, std::slice::from_ref(&id))?;
    let versions: Vec<IndexLine> = client.versions(&id)?.to_vec();
    for w in &client.warnings {
        eprintln!("warning: {w}");
    }
    let meta = client.meta(&id);
    let records = client.records(&id);
    let statuses: Vec<_> = versions
        .iter()
        .map(|l| records.status_of(l, &client.config).0)
        .collect();
    if format == Format::Json {
        let versions: Vec<serde_json::Value> = versions
            .iter()
            .zip(&statuses)
            .map(|(l, s)| {
                let mut v = serde_json::to_value(l).unwrap_or_default();
                v["verification"] = serde_json::to_value(s).unwrap_or_default();
                v
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "id": id,
                "deprecated": meta.as_ref().and_then(|m| m.deprecated.clone()),
                "versions": versions,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("{id}");
    if let Some(d) = meta.and_then(|m| m.deprecated) {
        println!(
            "  DEPRECATED since {}: {}{}",
            d.since,
            d.message,
            d.replacement
                .map(|r| format!(" (use {r})"))
                .unwrap_or_default()
        );
    }
    let policy = Policy::load(&paths.config)?;
    for (l, status) in versions.iter().zip(&statuses) {
        let status = status_text(status);
        println!(
            "{} {}{}  license {}, pricing {}, {}, signer {}, {status}",
            l.id,
            l.version,
            if l.yanked { " [yanked]" } else { "" },
            l.license,
            l.pricing.as_str(),
            human(l.size),
            l.signer.as_deref().unwrap_or("none (unsigned)")
        );
        if let Some(r) = &l.requirements.ratchet_version {
            println!("  requires ratchet {r}");
        }
        if !l.requirements.platform.is_empty() {
            println!("  platforms: {}", Platform::join(&l.requirements.platform));
        }
        for d in &l.dependencies {
            println!("  depends on {} {}", d.bundle_id, d.version);
        }
        for line in ratchet_sandbox::policy::review(&l.permissions, &l.resources, &policy).lines() {
            println!("  {line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn deps(spec: String, reg: RegistryArgs, invert: bool, format: Format) -> CliResult {
    let paths = Paths::detect();
    let (id, req) = parse_spec(&spec)?;
    let graph = if invert {
        // Who depends on ID, among the installed bundles.
        let state = InstalledState::load(&paths)?;
        if !state.bundles.contains_key(&id) {
            return Err(format!(
                "{id} is not installed: --invert shows which installed bundles depend on it"
            )
            .into());
        }
        dependents_graph(&installed_graph(&state), &id)
    } else {
        let mut client = reg.open_for(&paths, std::slice::from_ref(&id))?;
        let opts = client.resolve_options();
        client.resolve(&[(id.clone(), req)], &opts)?
    };
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&graph)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    tree(&graph, &id, None, "", invert, &mut out, &mut Vec::new());
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// The installed bundles as a graph (requirements are not kept in the installed state: `*`).
fn installed_graph(state: &InstalledState) -> DependencyGraph {
    let nodes = state
        .bundles
        .iter()
        .map(|(id, b)| {
            (
                id.clone(),
                ratchet_client::resolver::BundleNode {
                    id: id.clone(),
                    version: b.version.clone(),
                    requested: b.requested.is_some(),
                },
            )
        })
        .collect();
    let edges = state
        .bundles
        .iter()
        .flat_map(|(id, b)| {
            b.dependencies
                .iter()
                .map(move |d| ratchet_client::resolver::DependencyEdge {
                    from: id.clone(),
                    to: d.clone(),
                    req: ratchet_formats::manifest::VersionReq::any(),
                })
        })
        .collect();
    DependencyGraph {
        nodes,
        edges,
        install_order: Vec::new(),
    }
}

/// The part of `g` that depends on `id`, directly or not (with `id` itself).
fn dependents_graph(g: &DependencyGraph, id: &BundleId) -> DependencyGraph {
    let mut keep = std::collections::BTreeSet::from([id.clone()]);
    let mut todo = vec![id.clone()];
    while let Some(x) = todo.pop() {
        for from in g.dependents_of(&x) {
            if keep.insert(from.clone()) {
                todo.push(from.clone());
            }
        }
    }
    DependencyGraph {
        nodes: g
            .nodes
            .iter()
            .filter(|(k, _)| keep.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        edges: g
            .edges
            .iter()
            .filter(|e| keep.contains(&e.from) && keep.contains(&e.to))
            .cloned()
            .collect(),
        install_order: Vec::new(),
    }
}

/// Prints `id` and its dependencies (or, `invert`, its dependents) as a tree.
fn tree(
    g: &DependencyGraph,
    id: &BundleId,
    req: Option<String>,
    prefix: &str,
    invert: bool,
    out: &mut String,
    seen: &mut Vec<BundleId>,
) {
    let v = g
        .nodes
        .get(id)
        .map(|n| n.version.to_string())
        .unwrap_or_default();
    out.push_str(&format!(
        "{id} {v}{}{}\n",
        req.map(|r| format!(" ({r})")).unwrap_or_default(),
        if seen.contains(id) { " (cycle)" } else { "" }
    ));
    if seen.contains(id) {
        return;
    }
    seen.push(id.clone());
    let children: Vec<(BundleId, Option<String>)> = if invert {
        g.dependents_of(id)
            .into_iter()
            .map(|from| (from.clone(), None))
            .collect()
    } else {
        g.dependencies_of(id)
            .into_iter()
            .map(|e| (e.to.clone(), Some(e.req.to_string())))
            .collect()
    };
    let n = children.len();
    for (i, (c, r)) in children.into_iter().enumerate() {
        let last = i + 1 == n;
        out.push_str(prefix);
        out.push_str(if last { "└── " } else { "├── " });
        let p = format!("{prefix}{}", if last { "    " } else { "│   " });
        tree(g, &c, r, &p, invert, out, seen);
    }
    seen.pop();
}
