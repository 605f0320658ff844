//! `ratchet bundle install/update/outdated/list/remove/info/deps`: the registry client commands.
//!
//! The client library reports what happens as typed events ([`Event`]); [`CliReporter`] renders
//! them: status lines on stderr (hidden by `-q`, more with `-v`), warnings on stderr, a progress
//! bar on a terminal. Under `--format json` nothing but errors reaches stderr: the events are
//! collected into the command's JSON document on stdout (schemas in `cli-output.md`).

use super::CliResult;
use clap::Args;
use ratchet_client::events::{Event, EventLog, Reporter, SharedReporter};
use ratchet_client::install::{
    self, ApplyOptions, Client, InstalledState, Lockfile, Plan, PlanRequest, apply, parse_spec,
    plan,
};
use ratchet_client::paths::Paths;
use ratchet_client::registry::RegistrySource;
use ratchet_client::resolver::DependencyGraph;
use ratchet_client::verify::Notice;
use ratchet_formats::index::IndexLine;
use ratchet_formats::manifest::{BundleId, Platform};
use ratchet_sandbox::Policy;
use ratchet_term::{Format, escape_line, out};
use serde_json::{Value, json};
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

/// Where to fetch from.
#[derive(Args, Clone)]
pub struct RegistryArgs {
    /// Registry: a configured name, a URL, or a directory (default: the default registry).
    #[arg(long)]
    registry: Option<String>,
    /// Use only the local cache; say what is missing.
    #[arg(long)]
    offline: bool,
    /// Accept the registry's signed timestamp although it expired (an air-gapped mirror that
    /// cannot re-sign in time), with a warning; rollback and fork are still refused.
    #[arg(long)]
    allow_expired: bool,
    /// Also prove that the transparency log holds the entry behind each bundle installed or
    /// changed (an inclusion proof from the log's tiles; costs a few requests per bundle).
    #[arg(long)]
    verify_log: bool,
}

impl RegistryArgs {
    fn open(
        &self,
        paths: &Paths,
        reporter: SharedReporter,
    ) -> Result<Client, Box<dyn std::error::Error>> {
        self.open_for(paths, &[], true, reporter)
    }

    /// Opens the registry and, in the same round trip, fetches the index files a resolution
    /// starts from: `ids` and the requests installed from this registry (with their prefetch
    /// hints when `resolve`: the command resolves from them, index-format.md §6.5.1).
    fn open_for(
        &self,
        paths: &Paths,
        ids: &[BundleId],
        resolve: bool,
        reporter: SharedReporter,
    ) -> Result<Client, Box<dyn std::error::Error>> {
        let mut src = RegistrySource::select(&paths.config, self.registry.as_deref())?;
        src.allow_expired = self.allow_expired;
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
        Ok(Client::open_reporting(
            paths.clone(),
            src,
            self.offline,
            &first,
            resolve,
            reporter,
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
    /// Resolve and show what would change; download, unpack and write nothing.
    #[arg(long)]
    dry_run: bool,
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
    /// Resolve and show what would change; download, unpack and write nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args)]
pub struct OutdatedArgs {
    #[command(flatten)]
    reg: RegistryArgs,
    /// Exit with status 1 when an installed bundle has a newer version (for scripts and CI).
    #[arg(long)]
    exit_code: bool,
}

#[derive(Args)]
pub struct RemoveArgs {
    /// Bundle ids.
    #[arg(required = true)]
    ids: Vec<String>,
    /// Also remove the bundles that depend on them.
    #[arg(long)]
    cascade: bool,
    /// Show what would be removed; change nothing.
    #[arg(long)]
    dry_run: bool,
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

/// Renders the client's events for the terminal and keeps them all for the JSON document.
pub(super) struct CliReporter {
    log: EventLog,
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl CliReporter {
    pub(super) fn new() -> Arc<CliReporter> {
        Arc::new(CliReporter {
            log: EventLog::default(),
            bar: Mutex::new(None),
        })
    }

    /// Shows a progress bar of `total` bytes while the closure runs (on a terminal, in text
    /// mode, unless quiet).
    fn with_bar<T>(&self, total: u64, f: impl FnOnce() -> T) -> T {
        let o = out();
        if o.stderr_is_terminal && !o.json() && !o.quiet() {
            let b = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
            ) {
                b.set_style(style);
            }
            if let Ok(mut g) = self.bar.lock() {
                *g = Some(b);
            }
        }
        let r = f();
        if let Some(b) = self.bar.lock().ok().and_then(|mut g| g.take()) {
            b.finish_and_clear();
        }
        r
    }
}

impl Reporter for CliReporter {
    fn report(&self, event: &Event) {
        // Progress means nothing once the command is over: the document leaves it out.
        if !matches!(event, Event::DownloadProgress { .. }) {
            self.log.report(event);
        }
        let o = out();
        if o.json() {
            return;
        }
        match event {
            Event::WaveFetched { files, bytes } => {
                if o.verbose(1) {
                    o.status(format!(
                        "fetched {files} registry file(s), {}",
                        human(*bytes)
                    ));
                }
            }
            Event::DownloadProgress { bytes } => {
                if let Ok(g) = self.bar.lock()
                    && let Some(b) = g.as_ref()
                {
                    b.inc(*bytes);
                }
            }
            Event::ArchiveVerified {
                id,
                version,
                signer,
                status,
            } => {
                if o.verbose(1) {
                    o.status(format!(
                        "verified {id} {version} ({}, {})",
                        signed_by(signer.as_deref()),
                        escape_line(&status_text(status))
                    ));
                }
            }
            // Grouped by key set once the operation stands (see `print_pins`).
            Event::Trust(Notice::OwnersPinned { .. }) => {}
            Event::Trust(n @ Notice::Unsigned { .. }) => {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "{} {}",
                    o.paint_stderr("WARNING:", "1;31"),
                    escape_line(&n.to_string())
                );
            }
            Event::Trust(n @ Notice::VerifiersPinned { .. }) => {
                o.status(format!("note: {}", escape_line(&n.to_string())));
            }
            Event::Trust(n) => o.warn(escape_line(&n.to_string())),
            // Plan data: shown with the plan (`show_plan`), which `-q` hides; a downgrade is
            // never silent, so under `-q` it is a warning of its own.
            Event::Downgraded { id, from, to, why } if o.quiet() => {
                o.warn(format!("downgrade: {id} {from} -> {to} ({why})"));
            }
            Event::Yanked { .. } | Event::Deprecated { .. } | Event::Downgraded { .. } => {}
            Event::WaitingForLock { .. } => {
                o.status(
                    "waiting for another ratchet process to finish changing the installation...",
                );
            }
            Event::IndexProblem { message } => o.warn(escape_line(message)),
            Event::Integrity {
                message,
                loud: true,
            } => {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "{} {}",
                    o.paint_stderr("WARNING:", "1;31"),
                    escape_line(message)
                );
            }
            Event::Integrity { message, .. } => o.warn(escape_line(message)),
        }
    }
}

fn show_plan(plan: &Plan, policy: &Policy) {
    let o = out();
    for b in &plan.bundles {
        let l = &b.line;
        if b.unchanged {
            continue;
        }
        let what = match (&b.replaces, b.downgrade) {
            (Some(v), Some(why)) => format!("v {} {v} -> {} (downgrade: {why})", l.id, l.version),
            (Some(v), None) => format!("~ {} {v} -> {}", l.id, l.version),
            (None, _) => format!("+ {} {}", l.id, l.version),
        };
        o.status(format!(
            "{what}  ({}, license {}, pricing {}){}",
            human(l.size),
            escape_line(&l.license.to_string()),
            escape_line(l.pricing.as_str()),
            if l.yanked { "  [yanked, locked]" } else { "" }
        ));
        if let Some(d) = &b.deprecated {
            o.warn(format!("{} is deprecated: {}", l.id, escape_line(d)));
        }
        for line in ratchet_sandbox::policy::review(&l.permissions, &l.resources, policy).lines() {
            o.status(format!("    {}", escape_line(line)));
        }
    }
    for id in &plan.removed {
        o.status(format!("- {id}"));
    }
    let n = plan.bundles.iter().filter(|b| !b.unchanged).count();
    o.status(format!(
        "{n} to install ({}), {} unchanged, {} to remove",
        human(plan.download_size()),
        plan.bundles.len() - n,
        plan.removed.len()
    ));
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
    if out().json() {
        return Err("--format json does not ask for confirmation: pass --yes to proceed (or --dry-run to see the plan)".into());
    }
    eprint!("proceed? [y/N] ");
    std::io::stderr().flush()?;
    let mut s = String::new();
    std::io::stdin().lock().read_line(&mut s)?;
    Ok(matches!(s.trim(), "y" | "Y" | "yes"))
}

/// The JSON document of `install` and `update` (one for every registry a `--locked` install
/// touches), built as the command goes.
#[derive(Default)]
struct ChangeReport {
    changes: Vec<Value>,
    unchanged: Vec<Value>,
    removed: Vec<Value>,
    kept: Vec<String>,
}

impl ChangeReport {
    /// Records what `plan` does (after `apply`, with the committed state's signer and status).
    fn add(&mut self, plan: &Plan, before: &InstalledState, after: Option<&InstalledState>) {
        for b in &plan.bundles {
            let l = &b.line;
            let row = json!({"id": l.id, "version": l.version.to_string()});
            if b.unchanged {
                self.unchanged.push(row);
                continue;
            }
            let action = match (&b.replaces, b.downgrade) {
                (Some(_), Some(_)) => "downgrade",
                (Some(_), None) => "update",
                (None, _) if before.bundles.contains_key(&l.id) => "reinstall",
                (None, _) => "install",
            };
            let mut row = json!({
                "id": l.id,
                "action": action,
                "version": l.version.to_string(),
                "from": b.replaces.as_ref().map(ToString::to_string),
                "downgrade_reason": b.downgrade,
                "size": l.size,
                "yanked": l.yanked,
                "deprecated": b.deprecation,
            });
            if let Some(s) = after.and_then(|a| a.bundles.get(&l.id)) {
                row["signer"] = json!(s.signer);
                row["verification"] = json!(s.verification);
            }
            self.changes.push(row);
        }
        for id in &plan.removed {
            self.removed.push(json!({
                "id": id,
                "version": before.bundles.get(id).map(|b| b.version.to_string()),
            }));
        }
        self.kept
            .extend(plan.kept.keys().map(|k| k.as_str().to_string()));
    }

    fn print(self, command: &str, dry_run: bool, reporter: &CliReporter) -> std::io::Result<()> {
        let changed = !self.changes.is_empty() || !self.removed.is_empty();
        ratchet_term::print_json(&json!({
            "command": command,
            "dry_run": dry_run,
            "changed": changed,
            "changes": self.changes,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "kept": self.kept,
            "events": reporter.log.events(),
        }))
    }
}

/// How `execute` runs.
struct Execution<'a> {
    yes: bool,
    allow_unsigned: bool,
    dry_run: bool,
    reporter: &'a Arc<CliReporter>,
}

/// Shows the plan, asks, applies it; records what happened in `report`.
fn execute(
    client: &Client,
    plan: &Plan,
    x: &Execution<'_>,
    report: &mut ChangeReport,
) -> CliResult {
    let o = out();
    let before = InstalledState::load(&client.paths)?;
    if x.allow_unsigned && !o.json() {
        eprintln!(
            "{} --allow-unsigned: unsigned bundles from a local registry will be installed with no proof of who made them",
            o.paint_stderr("WARNING:", "1;31")
        );
    }
    if !plan.kept.is_empty() {
        o.status(format!(
            "note: {} bundle(s) installed from other registries are left as they are ({})",
            plan.kept.len(),
            plan.kept
                .keys()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if plan.is_noop() {
        report.add(plan, &before, None);
        o.status("nothing to do: everything is installed");
        return Ok(ExitCode::SUCCESS);
    }
    let policy = Policy::load(&client.paths.config)?;
    show_plan(plan, &policy);
    if x.dry_run {
        report.add(plan, &before, None);
        o.status("dry run: nothing was changed");
        return Ok(ExitCode::SUCCESS);
    }
    if !confirm(x.yes)? {
        o.status("cancelled; nothing changed");
        return Ok(ExitCode::FAILURE);
    }
    let total = plan.download_size();
    if !o.stderr_is_terminal {
        if client.fetcher.offline() {
            o.status(format!("from the cache: {}", human(total)));
        } else {
            o.status(format!("downloading {}", human(total)));
        }
    }
    let opts = ApplyOptions {
        allow_unsigned: x.allow_unsigned,
    };
    let result = x.reporter.with_bar(total, || apply(client, plan, &opts));
    let applied = result.map_err(|e| {
        if before.bundles.is_empty() {
            format!("{e} (nothing was installed)")
        } else {
            format!("{e} (the previous installation is unchanged)")
        }
    })?;
    print_pins(&applied.notices);
    for b in &plan.bundles {
        if !b.unchanged {
            let s = &applied.state.bundles[&b.line.id];
            o.status(format!(
                "installed {} {} ({}, {})",
                b.line.id,
                b.line.version,
                signed_by(s.signer.as_deref()),
                escape_line(&status_text(&s.verification))
            ));
        }
    }
    for id in &plan.removed {
        o.status(format!("removed {id}"));
    }
    if plan.bundles.iter().all(|b| b.unchanged) && plan.removed.is_empty() {
        o.status("recorded the request; every bundle was already installed");
    }
    report.add(plan, &before, Some(&applied.state));
    Ok(ExitCode::SUCCESS)
}

/// First-use pins say the same thing for every bundle of a registry: one line per key set.
/// Shown under `-q` too (trust was decided); not under JSON (the events carry them).
fn print_pins(notices: &[Notice]) {
    if out().json() {
        return;
    }
    let mut pinned: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for n in notices {
        if let Notice::OwnersPinned { id, key_ids } = n {
            pinned.entry(key_ids.join(", ")).or_default().push(id);
        }
    }
    for (keys, ids) in pinned {
        eprintln!(
            "note: first install of {}: trusting and pinning owner key(s) {}",
            escape_line(&ids.join(", ")),
            escape_line(&keys)
        );
    }
}

/// Takes the installation lock, except for a dry run: that writes nothing, and taking the lock
/// can write (it creates the lock file and repairs a stale lockfile).
fn lock_unless_dry(
    paths: &Paths,
    dry_run: bool,
    reporter: &CliReporter,
) -> Result<Option<install::InstallLock>, Box<dyn std::error::Error>> {
    if dry_run {
        return Ok(None);
    }
    Ok(Some(install::lock(paths, reporter)?))
}

pub fn install(args: InstallArgs) -> CliResult {
    let paths = Paths::detect();
    let reporter = CliReporter::new();
    let shared: SharedReporter = reporter.clone();
    let _lock = lock_unless_dry(&paths, args.dry_run, &reporter)?;
    let x = Execution {
        yes: args.yes,
        allow_unsigned: args.allow_unsigned,
        dry_run: args.dry_run,
        reporter: &reporter,
    };
    // Archives are prepared while resolving only when nothing will stop the install.
    let prepare = !args.dry_run && !will_ask(args.yes);
    let mut report = ChangeReport::default();
    if args.locked {
        let path = args
            .lockfile
            .clone()
            .unwrap_or_else(|| paths.data.join(install::LOCK_FILE));
        let lock = Lockfile::load(&path)?;
        if !args.specs.is_empty() {
            return Err("--locked installs the lockfile: name no bundles".into());
        }
        // The installed lockfile, intact: nothing to ask any registry.
        if let Some(done) = install::satisfied_locally(&paths, install::Wanted::Locked(&lock))? {
            return nothing_to_do(&done, args.dry_run, &reporter);
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
            let mut client = reg.open_for(&paths, &ids, true, shared.clone())?;
            if prepare {
                client.prepare_while_resolving(args.allow_unsigned);
            }
            let req = PlanRequest {
                locked: Some(group),
                ..Default::default()
            };
            let plan = plan(&mut client, &req)?;
            if reg.verify_log {
                client.verify_logged(&plan)?;
            }
            let code = execute(&client, &plan, &x, &mut report)?;
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
        }
    } else {
        if args.specs.is_empty() {
            return Err("name the bundles to install: `ratchet bundle install ID[@REQ]...`".into());
        }
        let mut req = PlanRequest::default();
        for s in &args.specs {
            req.add.push(parse_spec(s)?);
        }
        // Already installed as asked, with an intact state and lockfile: no request at all.
        let here = RegistrySource::select(&paths.config, args.reg.registry.as_deref())?
            .base
            .to_string();
        let wanted = install::Wanted::Add {
            registry: &here,
            add: &req.add,
        };
        if let Some(done) = install::satisfied_locally(&paths, wanted)? {
            return nothing_to_do(&done, args.dry_run, &reporter);
        }
        let ids: Vec<BundleId> = req.add.iter().map(|(id, _)| id.clone()).collect();
        let mut client = args.reg.open_for(&paths, &ids, true, shared)?;
        if prepare {
            client.prepare_while_resolving(args.allow_unsigned);
        }
        let plan = plan(&mut client, &req)?;
        if args.reg.verify_log {
            client.verify_logged(&plan)?;
        }
        let code = execute(&client, &plan, &x, &mut report)?;
        if code != ExitCode::SUCCESS {
            return Ok(code);
        }
    }
    if out().json() {
        report.print("install", args.dry_run, &reporter)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// What `install` says when the local records show that it has nothing to do (no request
/// was sent): the same as for a plan that changes nothing.
fn nothing_to_do(
    done: &install::Satisfied,
    dry_run: bool,
    reporter: &Arc<CliReporter>,
) -> CliResult {
    let o = out();
    if !done.kept.is_empty() {
        o.status(format!(
            "note: {} bundle(s) installed from other registries are left as they are ({})",
            done.kept.len(),
            done.kept
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    o.status("nothing to do: everything is installed");
    if o.json() {
        let report = ChangeReport {
            unchanged: done
                .unchanged
                .iter()
                .map(|(id, v)| json!({"id": id, "version": v.to_string()}))
                .collect(),
            kept: done.kept.iter().map(|k| k.as_str().to_string()).collect(),
            ..ChangeReport::default()
        };
        report.print("install", dry_run, reporter)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn signed_by(signer: Option<&str>) -> String {
    signer.map_or_else(
        || "UNSIGNED".to_string(),
        |k| format!("signed by {}", escape_line(k)),
    )
}

/// A verification status as the CLI shows it: `unverified` alone reads like "signature not
/// checked", so it says what is missing (an attestation; the signature was checked).
fn status_text(v: &ratchet_trust::VerificationStatus) -> String {
    match v {
        ratchet_trust::VerificationStatus::Unverified => "no attestation (unverified)".into(),
        other => other.to_string(),
    }
}

/// Parses ids given on the command line and checks that each is installed (from the registry
/// `here`, when given), saying which installed id was probably meant.
fn installed_ids(
    state: &InstalledState,
    given: &[String],
    here: Option<&str>,
) -> Result<Vec<BundleId>, Box<dyn std::error::Error>> {
    let mut ids = Vec::new();
    for s in given {
        let id = match BundleId::parse(s) {
            Ok(id) => id,
            Err(e) => {
                return Err(match state.suggest(s) {
                    Some(m) => format!("`{}`: {e}; did you mean `{m}`?", escape_line(s)).into(),
                    None => format!("`{}`: {e}", escape_line(s)).into(),
                });
            }
        };
        match state.bundles.get(&id) {
            None => {
                return Err(install::InstallError::NotInstalled {
                    suggestion: state.suggest(id.as_str()),
                    id,
                }
                .into());
            }
            Some(b) if here.is_some_and(|h| b.registry != h) => {
                return Err(format!(
                    "{id} is installed from registry {}: pass `--registry {}` to update it",
                    escape_line(&b.registry),
                    escape_line(&b.registry)
                )
                .into());
            }
            Some(_) => ids.push(id),
        }
    }
    Ok(ids)
}

pub fn update(args: UpdateArgs) -> CliResult {
    let paths = Paths::detect();
    let reporter = CliReporter::new();
    let _lock = lock_unless_dry(&paths, args.dry_run, &reporter)?;
    let state = InstalledState::load(&paths)?;
    // Unknown ids are refused before anything is fetched.
    installed_ids(&state, &args.ids, None)?;
    let mut client = args.reg.open_for(&paths, &[], true, reporter.clone())?;
    let here = client.fetcher.source().base.to_string();
    let ids = installed_ids(&state, &args.ids, Some(&here))?;
    if !args.dry_run && !will_ask(args.yes) {
        client.prepare_while_resolving(args.allow_unsigned);
    }
    let req = PlanRequest {
        unlock: Some(ids),
        ..Default::default()
    };
    let plan = plan(&mut client, &req)?;
    let x = Execution {
        yes: args.yes,
        allow_unsigned: args.allow_unsigned,
        dry_run: args.dry_run,
        reporter: &reporter,
    };
    let mut report = ChangeReport::default();
    let code = execute(&client, &plan, &x, &mut report)?;
    if code == ExitCode::SUCCESS && out().json() {
        report.print("update", args.dry_run, &reporter)?;
    }
    Ok(code)
}

pub fn outdated(args: OutdatedArgs, format: Format) -> CliResult {
    let paths = Paths::detect();
    let state = InstalledState::load(&paths)?;
    let reporter = CliReporter::new();
    let mut client = args.reg.open(&paths, reporter.clone())?;
    let here = client.fetcher.source().base.to_string();
    let (mine, others): (Vec<_>, Vec<_>) =
        state.bundles.iter().partition(|(_, b)| b.registry == here);
    if !others.is_empty() {
        out().status(format!(
            "note: {} bundle(s) installed from other registries are not checked here (pass their --registry)",
            others.len()
        ));
    }
    if mine.is_empty() {
        if format == Format::Json {
            println!("[]");
        } else {
            println!(
                "nothing checked: no installed bundle comes from {}",
                escape_line(&client.fetcher.source().label())
            );
        }
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
        let deprecated = client.meta(id).and_then(|m| m.deprecated);
        let Ok(versions) = client.versions(id) else {
            continue;
        };
        // The installed version as the registry lists it now: yanked, or gone.
        let listed = versions.iter().find(|l| l.version == b.version);
        let newest = |reqs: &[ratchet_formats::manifest::VersionReq]| {
            ratchet_client::resolver::newest_release(versions, reqs).map(|l| l.version.clone())
        };
        let latest = newest(&[]).filter(|l| l > &b.version);
        let row = OutdatedRow {
            id: (*id).clone(),
            installed: b.version.clone(),
            update: newest(reqs.get(*id).map_or(&[], Vec::as_slice)).filter(|c| c > &b.version),
            latest,
            yanked: listed.is_some_and(|l| l.yanked),
            gone: listed.is_none(),
            deprecated,
        };
        if row.latest.is_some() || row.yanked || row.gone || row.deprecated.is_some() {
            rows.push(row);
        }
    }
    let any_outdated = rows.iter().any(|r| r.latest.is_some());
    if format == Format::Json {
        ratchet_term::print_json(&rows)?;
    } else if rows.is_empty() {
        println!(
            "everything from {} is up to date",
            escape_line(&client.fetcher.source().label())
        );
    } else {
        for r in &rows {
            println!("{}", r.text());
        }
    }
    if args.exit_code && any_outdated {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// One line of `outdated`: an installed bundle with a newer version, or whose installed
/// version is yanked, gone from the index or deprecated.
#[derive(serde::Serialize)]
struct OutdatedRow {
    id: BundleId,
    installed: semver::Version,
    /// The newest release, when newer than the installed version.
    latest: Option<semver::Version>,
    /// The newest release the requirements on it allow, when newer (what `update` takes).
    update: Option<semver::Version>,
    yanked: bool,
    gone: bool,
    deprecated: Option<ratchet_formats::index::Deprecation>,
}

impl OutdatedRow {
    fn text(&self) -> String {
        let (id, installed) = (&self.id, &self.installed);
        let mut line = match (&self.latest, &self.update) {
            (None, _) => format!("{id}  {installed}"),
            (Some(l), Some(u)) if u == l => format!("{id}  {installed} -> {l}"),
            (Some(l), Some(u)) => format!(
                "{id}  {installed} -> {l}  (`update` takes {u}: the requirements on it allow no more)"
            ),
            (Some(l), None) => format!(
                "{id}  {installed} -> {l}  (`update` keeps {installed}: the requirements on it allow no newer version)"
            ),
        };
        if self.yanked {
            line.push_str("  [installed version yanked]");
        }
        if self.gone {
            line.push_str("  [installed version gone from the index]");
        }
        if let Some(d) = &self.deprecated {
            line.push_str(&format!("  [deprecated: {}", escape_line(&d.message)));
            if let Some(r) = &d.replacement {
                line.push_str(&format!("; use {r}"));
            }
            line.push(']');
        }
        line
    }
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
            notes.push(format!("warning: deprecated: {}", escape_line(d)));
        }
        println!(
            "{id}\t{}\t{}\t{}, {}{}",
            b.version,
            escape_line(&b.registry),
            signed_by(b.signer.as_deref()),
            escape_line(&status_text(&b.verification)),
            if notes.is_empty() {
                String::new()
            } else {
                format!("\t{}", notes.join("; "))
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn remove(args: RemoveArgs) -> CliResult {
    let paths = Paths::detect();
    let reporter = CliReporter::new();
    let _lock = lock_unless_dry(&paths, args.dry_run, &reporter)?;
    let state = InstalledState::load(&paths)?;
    let ids = installed_ids(&state, &args.ids, None)?;
    let removal = if args.dry_run {
        install::plan_removal(&state, &ids, args.cascade)?
    } else {
        install::remove(&paths, &ids, args.cascade)?
    };
    let o = out();
    for (id, v) in &removal.removed {
        if args.dry_run {
            o.status(format!("would remove {id} {v}"));
        } else {
            o.status(format!("removed {id} {v}"));
        }
    }
    if args.dry_run {
        o.status("dry run: nothing was changed");
    }
    if o.json() {
        ratchet_term::print_json(&json!({
            "command": "remove",
            "dry_run": args.dry_run,
            "removed": removal
                .removed
                .iter()
                .map(|(id, v)| json!({"id": id, "version": v.to_string()}))
                .collect::<Vec<_>>(),
            "events": reporter.log.events(),
        }))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn info(id: String, reg: RegistryArgs, format: Format) -> CliResult {
    let paths = Paths::detect();
    let id = BundleId::parse(&id)?;
    let mut client = reg.open_for(&paths, std::slice::from_ref(&id), false, CliReporter::new())?;
    let versions: Vec<IndexLine> = client.versions(&id)?.to_vec();
    let meta = client.meta(&id);
    let records = client.records(&id);
    let statuses: Vec<_> = versions
        .iter()
        .map(|l| records.status_of(l, &client.config).0)
        .collect();
    let discovery = super::discovery::fetch(&client, &id);
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
        let mut doc = json!({
            "id": id,
            "deprecated": meta.as_ref().and_then(|m| m.deprecated.clone()),
            "versions": versions,
        });
        discovery.add_json(&mut doc);
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    for w in &discovery.warnings {
        out().warn(escape_line(w));
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
    for line in discovery.lines() {
        println!("{line}");
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
        let mut client =
            reg.open_for(&paths, std::slice::from_ref(&id), true, CliReporter::new())?;
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
