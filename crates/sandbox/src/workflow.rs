//! Running a workflow: each step runs in the sandbox with the permissions of the bundle its
//! task belongs to, so a workflow never widens what any task may do. The file format (parsing,
//! checks, templates) is `ratchet_formats::workflow`.

use crate::execute::{ExecError, ExecOptions, TaskSpec, check_schema, run_task};
use crate::{Policy, Runtime};
use ratchet_formats::manifest::{BundleId, Manifest};
pub use ratchet_formats::workflow::{
    Step, Workflow, WorkflowFileError, WorkflowSyntaxError, load_workflow, parse_workflow, resolve,
};
use serde_json::{Map, Value};
use std::path::Path;

/// Errors running a workflow.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The workflow file cannot be loaded.
    #[error(transparent)]
    File(#[from] WorkflowFileError),
    /// A step cannot run.
    #[error("step `{step}`: {message}")]
    Step {
        /// The step's name.
        step: String,
        /// Why.
        message: String,
    },
    /// A step's task failed.
    #[error("step `{step}`: {source}")]
    Task {
        /// The step's name.
        step: String,
        /// What happened.
        source: Box<ExecError>,
    },
}

/// Finds an installed dependency: its directory and manifest, or `None` when it is not installed.
pub type DependencyLookup<'a> = &'a dyn Fn(&BundleId) -> Option<(std::path::PathBuf, Manifest)>;

/// Finds the task a step calls: in the workflow's bundle, or an exported task of a dependency.
fn step_task(
    bundle_dir: &Path,
    manifest: &Manifest,
    step: &Step,
    deps: DependencyLookup<'_>,
) -> Result<TaskSpec, WorkflowError> {
    let err = |message: String| WorkflowError::Step {
        step: step.name.clone(),
        message,
    };
    let name = match step.task.split_once('/') {
        None => step.task.as_str(),
        Some((id, name)) if id == manifest.id.to_string() => name,
        Some((id, name)) => {
            let Some(dep) = manifest
                .dependencies
                .iter()
                .find(|d| d.bundle_id.to_string() == id)
            else {
                return Err(err(format!(
                    "task `{}`: {id} is not a dependency of {}",
                    step.task, manifest.id
                )));
            };
            return dependency_task(manifest, step, dep, name, deps);
        }
    };
    let item = manifest
        .contents
        .tasks
        .iter()
        .find(|t| t.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = manifest.contents.tasks.iter().map(|t| t.name()).collect();
            err(format!(
                "{} has no task `{name}` (tasks: {})",
                manifest.id,
                names.join(", ")
            ))
        })?;
    TaskSpec::in_bundle(bundle_dir, manifest, &item.path).map_err(task_error(step))
}

/// The exported task `name` of the installed dependency `dep`.
fn dependency_task(
    manifest: &Manifest,
    step: &Step,
    dep: &ratchet_formats::manifest::Dependency,
    name: &str,
    deps: DependencyLookup<'_>,
) -> Result<TaskSpec, WorkflowError> {
    let err = |message: String| WorkflowError::Step {
        step: step.name.clone(),
        message,
    };
    let id = &dep.bundle_id;
    let Some((dir, dm)) = deps(id) else {
        return Err(err(format!(
            "task `{}` needs dependency {id}, which is not installed (`ratchet bundle install {id}`)",
            step.task
        )));
    };
    let Some(item) = dm.contents.tasks.iter().find(|t| t.name() == name) else {
        return Err(err(format!("{id} {} has no task `{name}`", dm.version)));
    };
    if !item.exported {
        return Err(err(format!(
            "task `{name}` of {id} is not exported: other bundles cannot call it"
        )));
    }
    // The resolver's meaning of the requirement (index-format.md §2), pre-releases included.
    if !ratchet_formats::manifest::version_req::req_to_range(&dep.version).contains(&dm.version) {
        return Err(err(format!(
            "{id} {} is installed but {} needs {}",
            dm.version, manifest.id, dep.version
        )));
    }
    TaskSpec::in_bundle(&dir, &dm, &item.path).map_err(task_error(step))
}

/// Wraps a task's failure as the failure of `step`.
fn task_error(step: &Step) -> impl FnOnce(ExecError) -> WorkflowError + '_ {
    |source| WorkflowError::Task {
        step: step.name.clone(),
        source: Box::new(source),
    }
}

/// What a step reports to the caller of [`run_workflow`].
pub enum StepEvent<'a> {
    /// The step is about to run this task (with its own bundle's permissions).
    Start(&'a Step, &'a TaskSpec),
    /// The step finished with this output.
    Done(&'a Step, &'a Value),
}

/// What a workflow run uses besides the workflow: the runtime, the user's policy, where
/// installed dependencies are, and the run options (mounts) every step gets.
pub struct WorkflowContext<'a> {
    /// The sandbox runtime.
    pub rt: &'a Runtime,
    /// The user's sandbox policy.
    pub policy: &'a Policy,
    /// Finds installed dependencies.
    pub deps: DependencyLookup<'a>,
    /// Options for every step's run (mounts apply to steps that declare the path).
    pub opts: &'a ExecOptions,
}

/// Runs a workflow of the bundle in `bundle_dir` with `input`; `progress` hears about each step.
/// Steps of the form `DEPENDENCY-ID/TASK` run the exported task of the dependency that
/// `ctx.deps` finds (the installed copy).
pub fn run_workflow(
    ctx: &WorkflowContext<'_>,
    bundle_dir: &Path,
    manifest: &Manifest,
    wf: &Workflow,
    input: &Value,
    mut progress: impl FnMut(StepEvent<'_>),
) -> Result<Value, WorkflowError> {
    if let Some(schema) = &wf.input_schema {
        check_schema(schema, input).map_err(|m| WorkflowError::Step {
            step: "(workflow input)".into(),
            message: m,
        })?;
    }
    let mut steps = Map::new();
    let mut last = Value::Null;
    for step in &wf.steps {
        let scope = serde_json::json!({"input": input, "steps": steps});
        let step_input = match &step.input {
            Some(t) => resolve(t, &scope).map_err(|message| WorkflowError::Step {
                step: step.name.clone(),
                message,
            })?,
            None => input.clone(),
        };
        let spec = step_task(bundle_dir, manifest, step, ctx.deps)?;
        progress(StepEvent::Start(step, &spec));
        let done =
            run_task(ctx.rt, &spec, &step_input, ctx.policy, ctx.opts).map_err(task_error(step))?;
        progress(StepEvent::Done(step, &done.output));
        last = done.output.clone();
        steps.insert(
            step.name.clone(),
            serde_json::json!({"output": done.output}),
        );
    }
    match &wf.output {
        Some(t) => {
            let scope = serde_json::json!({"input": input, "steps": steps});
            resolve(t, &scope).map_err(|message| WorkflowError::Step {
                step: "(workflow output)".into(),
                message,
            })
        }
        None => Ok(last),
    }
}
