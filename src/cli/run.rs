//! `ratchet run`: run a task or workflow in the sandbox.

use super::CliResult;
use clap::Args;
use ratchet_client::paths::Paths;
use ratchet_formats::manifest::{Manifest, load_manifest};
use ratchet_sandbox::execute::{ExecOptions, TaskSpec, run_task};
use ratchet_sandbox::isolate::Isolation;
use ratchet_sandbox::workflow::{StepEvent, WorkflowContext, load_workflow, run_workflow};
use ratchet_sandbox::{Policy, Runtime};
use ratchet_term::{UsageError, escape, out, print_json};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub struct RunArgs {
    /// `BUNDLE/TASK` or `BUNDLE/WORKFLOW` of an installed bundle; with `--path DIR` of a bundle,
    /// the task or workflow name.
    target: Option<String>,
    /// Run from source: a task directory, or a bundle directory (then name the task or workflow).
    #[arg(long, value_name = "DIR")]
    path: Option<PathBuf>,
    /// With --path of a bundle: the task to run.
    #[arg(long, conflicts_with = "workflow")]
    task: Option<String>,
    /// With --path of a bundle: the workflow to run.
    #[arg(long)]
    workflow: Option<String>,
    /// The input JSON: inline, `@FILE`, or `-` for standard input (default `{}`).
    #[arg(long, short)]
    input: Option<String>,
    /// Bind a declared path to a host directory, e.g. `--mount /data=./data` (repeatable).
    #[arg(long, value_name = "GUEST=HOST")]
    mount: Vec<String>,
    /// Print the declared and effective permissions before running.
    #[arg(long)]
    explain: bool,
    /// Do not use the compiled-module cache.
    #[arg(long)]
    no_cache: bool,
}

/// A usage error: reported at the top like every error (JSON on stderr under `--format json`),
/// with exit status 2.
fn usage(msg: impl std::fmt::Display) -> CliResult {
    Err(UsageError::new(msg).into())
}

/// A failure of the task or workflow itself: reported like every error, exit status 1.
fn failed(e: impl std::error::Error + 'static) -> CliResult {
    Err(Box::new(e))
}

/// Prints the result of a run: the output document as it is (text), or under `--format json`
/// `{"output": ..., "stderr": ...}`; the task's standard error goes to stderr in text mode,
/// escaped when stderr is a terminal.
fn print_output(output: &Value, stderr: &[u8]) -> CliResult {
    let o = out();
    let stderr = String::from_utf8_lossy(stderr);
    if o.json() {
        print_json(&json!({"output": output, "stderr": stderr}))?;
    } else {
        println!("{}", serde_json::to_string_pretty(output)?);
        if !stderr.trim().is_empty() && !o.quiet() {
            if o.stderr_is_terminal {
                eprint!("{}", escape(&stderr));
            } else {
                eprint!("{stderr}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// "has no task or workflow named `name`", with the closest name when one is close.
fn unknown_name(manifest: &Manifest, name: &str) -> String {
    let names = manifest
        .contents
        .tasks
        .iter()
        .filter(|t| t.exported)
        .chain(manifest.contents.workflows.iter())
        .map(|t| t.name());
    let hint = ratchet_formats::diagnostic::did_you_mean(name, names)
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default();
    format!(
        "{} has no task or workflow named `{name}`{hint}",
        manifest.id
    )
}

fn read_input(spec: Option<&str>) -> Result<Value, Box<dyn std::error::Error>> {
    let text = match spec {
        None => "{}".to_string(),
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s
        }
        Some(s) => match s.strip_prefix('@') {
            Some(file) => std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read input file {file}: {e}"))?,
            None => s.to_string(),
        },
    };
    serde_json::from_str(&text).map_err(|e| format!("the input is not JSON: {e}").into())
}

pub fn run(args: RunArgs) -> CliResult {
    let paths = Paths::detect();
    // An installed `BUNDLE/NAME` comes with its loaded manifest; `--path` is looked at below.
    let (path, installed) = match (&args.path, &args.target) {
        (Some(p), _) => (p.clone(), None),
        (None, Some(t)) => {
            let Some((id, name)) = t.split_once('/') else {
                return usage(format_args!(
                    "`{t}`: write BUNDLE/TASK or BUNDLE/WORKFLOW, e.g. com.example.tools/convert"
                ));
            };
            let id = match ratchet_formats::manifest::BundleId::parse(id) {
                Ok(i) => i,
                Err(e) => return usage(format_args!("`{t}`: {e}")),
            };
            match ratchet_client::install::find_installed(&paths, &id) {
                Ok((dir, manifest)) => (dir, Some((manifest, name.to_string()))),
                Err(e @ ratchet_client::install::InstallError::NeedsInstall { .. }) => {
                    return usage(e);
                }
                Err(e) => return Err(e.into()),
            }
        }
        (None, None) => {
            return usage(
                "name a task: `ratchet run BUNDLE/TASK` or `ratchet run --path DIR [NAME]`",
            );
        }
    };
    let input = match read_input(args.input.as_deref()) {
        Ok(v) => v,
        Err(e) => return usage(e),
    };
    let mut mounts = Vec::new();
    for m in &args.mount {
        let Some((g, h)) = m.split_once('=') else {
            return usage(format_args!(
                "--mount {m}: write GUEST=HOST, e.g. /data=./data"
            ));
        };
        let host = std::fs::canonicalize(h).map_err(|e| format!("--mount {m}: {h}: {e}"))?;
        mounts.push((g.to_string(), host));
    }
    let policy = Policy::load(&paths.config)?;
    // Every task (and workflow step) runs in a worker process under OS limits (task-abi.md §10).
    let rt = Runtime::new((!args.no_cache).then(|| paths.cache.join("modules")))
        .isolated(Isolation::current_exe()?);
    let opts = ExecOptions { mock: None, mounts };

    let (manifest, name) = match installed {
        Some((m, name)) => (m, Some(name)),
        None => {
            if !path.is_dir() {
                return usage(format_args!("{}: no such directory", path.display()));
            }
            if !path
                .join(ratchet_formats::manifest::MANIFEST_FILE)
                .is_file()
            {
                if args.target.is_some() || args.task.is_some() || args.workflow.is_some() {
                    return usage(format_args!(
                        "{} is a task directory (no bundle.yaml): do not name a task or workflow",
                        path.display()
                    ));
                }
                // A bare Ratchet task directory runs as Ratchet runs it (task-abi.md §1.1).
                let spec = TaskSpec::ratchet_task(&path)?;
                return run_one(&rt, &spec, &input, &policy, &opts, args.explain);
            }
            match load_manifest(&path) {
                Ok(m) => (
                    m,
                    args.task
                        .clone()
                        .or(args.workflow.clone())
                        .or(args.target.clone()),
                ),
                Err(diags) => {
                    if !out().json() {
                        for d in &diags {
                            eprintln!("{}", escape(&d.to_string()));
                        }
                    }
                    return Err(format!("{} is not a valid bundle", path.display()).into());
                }
            }
        }
    };
    let Some(name) = name else {
        let tasks: Vec<&str> = manifest.contents.tasks.iter().map(|t| t.name()).collect();
        let wfs: Vec<&str> = manifest
            .contents
            .workflows
            .iter()
            .map(|t| t.name())
            .collect();
        return usage(format_args!(
            "name a task ({}) or workflow ({}) of {}",
            tasks.join(", "),
            wfs.join(", "),
            manifest.id
        ));
    };
    let task = manifest
        .contents
        .tasks
        .iter()
        .find(|t| t.name() == name)
        .filter(|_| args.workflow.is_none());
    let workflow = manifest
        .contents
        .workflows
        .iter()
        .find(|t| t.name() == name)
        .filter(|_| args.task.is_none());
    let result = match (task, workflow) {
        (Some(item), _) => {
            if !item.exported {
                return usage(format_args!(
                    "task `{name}` of {} is not exported (exported: false): only the bundle's own workflows can call it",
                    manifest.id
                ));
            }
            let spec = TaskSpec::in_bundle(&path, &manifest, &item.path)?;
            run_one(&rt, &spec, &input, &policy, &opts, args.explain)
        }
        (None, Some(item)) => run_wf(
            &paths,
            &rt,
            &path,
            &manifest,
            &item.path,
            &input,
            &policy,
            &opts,
            args.explain,
        ),
        (None, None) => return usage(unknown_name(&manifest, &name)),
    };
    // The client's audit log (when its policy enables it): runs of installed bundles, with the
    // permissions their manifest declares (the most the sandbox grants).
    if args.target.is_some() {
        let ok = matches!(result, Ok(c) if c == std::process::ExitCode::SUCCESS);
        let granted = serde_json::to_value(&manifest.permissions).unwrap_or_default();
        ratchet_client::enterprise::audit_run(
            &paths,
            manifest.id.as_str(),
            &manifest.version.to_string(),
            &format!("{}/{name}", manifest.id),
            ok,
            granted,
        )?;
    }
    result
}

fn run_one(
    rt: &Runtime,
    spec: &TaskSpec,
    input: &Value,
    policy: &Policy,
    opts: &ExecOptions,
    explain: bool,
) -> CliResult {
    if let Some(w) = spec.task.metadata.timeout_warning()
        && !out().json()
    {
        eprintln!(
            "warning: {}: {}",
            escape(&spec.task.dir.join("metadata.json").display().to_string()),
            escape(&w)
        );
    }
    if explain {
        eprintln!("{}", escape(&spec.name));
        // Permissions name hosts, paths and variables the bundle chose: escaped.
        let review = ratchet_sandbox::policy::review(&spec.permissions, &spec.resources, policy);
        eprint!("{}", escape(&review.to_string()));
        eprintln!("this task (its metadata.json limits applied):");
        eprint!("{}", escape(&spec.effective(policy).describe().to_string()));
        explain_isolation();
    }
    match run_task(rt, spec, input, policy, opts) {
        Ok(done) => print_output(&done.output, &done.outcome.stderr),
        Err(e) => failed(e),
    }
}

/// `--explain`: how runs are isolated here (worker, OS limits, Landlock and seccomp as detected).
fn explain_isolation() {
    eprintln!("isolation (detected on this system, task-abi.md §10):");
    eprint!("{}", ratchet_sandbox::isolate::describe_isolation());
}

#[allow(clippy::too_many_arguments)]
fn run_wf(
    paths: &Paths,
    rt: &Runtime,
    dir: &Path,
    manifest: &Manifest,
    wf_path: &str,
    input: &Value,
    policy: &Policy,
    opts: &ExecOptions,
    explain: bool,
) -> CliResult {
    let wf = load_workflow(&dir.join(wf_path))?;
    // Each dependency is looked up (installed state read, manifest validated) once per run,
    // however many steps call it.
    let found = RefCell::new(HashMap::new());
    let deps = |id: &ratchet_formats::manifest::BundleId| {
        found
            .borrow_mut()
            .entry(id.clone())
            .or_insert_with(|| ratchet_client::install::find_installed(paths, id).ok())
            .clone()
    };
    let ctx = WorkflowContext {
        rt,
        policy,
        deps: &deps,
        opts,
    };
    if explain {
        explain_isolation();
    }
    let result = run_workflow(&ctx, dir, manifest, &wf, input, |e| {
        if !explain {
            return;
        }
        match e {
            StepEvent::Start(step, spec) => {
                eprintln!(
                    "step `{}`: {} ({})",
                    escape(&step.name),
                    escape(&step.task.to_string()),
                    escape(&spec.name)
                );
                eprint!("{}", escape(&spec.effective(policy).describe().to_string()));
            }
            StepEvent::Done(step, _) => eprintln!("step `{}` done", escape(&step.name)),
        }
    });
    match result {
        Ok(out) => print_output(&out, b""),
        Err(e) => failed(e),
    }
}
