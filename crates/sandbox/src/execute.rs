//! Running a task of a bundle (or a lone task directory) from source: the glue between a task
//! directory and the sandbox.
//!
//! It loads the task, computes the effective permissions (the bundle's declaration ∩ the user's
//! policy, limits lowered by the task's own metadata), validates the input against
//! `input.schema.json`, runs `main.wasm` with the input on stdin, parses stdout as JSON and
//! validates it against `output.schema.json` (`task-abi.md` §2). JavaScript tasks run the
//! embedded JavaScript engine module ([`crate::js`]) through the same path, with the same
//! permissions and limits.

use crate::{Effective, Policy, RunError, RunOutcome, Runtime, TaskRun, Usage};
use ratchet_formats::manifest::{Manifest, Permissions, Resources, TaskRuntime};
use ratchet_formats::task::{HttpMock, Task, TaskError, TaskKind};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Why a task did not produce a valid output.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The task directory is not loadable.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// This build has no JavaScript engine (the wasm32-wasi toolchain was missing).
    #[error("{}: {}", .0.display(), crate::js::NOT_BUILT)]
    JavaScriptUnavailable(PathBuf),
    /// The module cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The input does not match `input.schema.json`.
    #[error(
        "the input does not match {}: {message}",
        ratchet_formats::task::INPUT_SCHEMA
    )]
    InputSchema {
        /// Every problem, with JSON paths.
        message: String,
    },
    /// The sandbox could not start the run.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The task failed (exit status, trap, limit).
    #[error("task `{task}` failed: {message}")]
    Failed {
        /// The task's name.
        task: String,
        /// What happened, with the end of stderr.
        message: String,
        /// Measurements of the failed run.
        usage: Usage,
    },
    /// The task succeeded but its output is not acceptable.
    #[error("task `{task}` produced an invalid output: {message}")]
    BadOutput {
        /// The task's name.
        task: String,
        /// What is wrong.
        message: String,
        /// Measurements of the run.
        usage: Usage,
    },
}

impl ExecError {
    /// Measurements, when the task ran.
    pub fn usage(&self) -> Option<Usage> {
        match self {
            ExecError::Failed { usage, .. } | ExecError::BadOutput { usage, .. } => Some(*usage),
            _ => None,
        }
    }
}

/// A successful run.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The output JSON.
    pub output: Value,
    /// Everything the sandbox reported.
    pub outcome: RunOutcome,
}

/// One task ready to run: the task and its bundle's declarations.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    /// The task directory, loaded.
    pub task: Task,
    /// Name used in messages (`bundle-id/task` or the directory name).
    pub name: String,
    /// The bundle's `permissions` (empty for a lone task directory).
    pub permissions: Permissions,
    /// The bundle's `resources`.
    pub resources: Resources,
    /// How the JavaScript globals behave (`bundle.runtime`, `task-abi.md` §1.1).
    pub runtime: TaskRuntime,
    /// A bare Ratchet task directory: a test's mock answers before the domain check, since
    /// nothing is declared to check it against (`task-abi.md` §4.1).
    pub mocks_first: bool,
}

impl TaskSpec {
    /// A task directory on its own: nothing declared, default limits.
    pub fn lone(dir: &Path) -> Result<TaskSpec, ExecError> {
        let task = Task::load(dir)?;
        let name = dir
            .file_name()
            .map_or_else(|| "task".to_string(), |n| n.to_string_lossy().into_owned());
        Ok(TaskSpec {
            task,
            name,
            permissions: Permissions::default(),
            resources: Resources::default(),
            runtime: TaskRuntime::Standard,
            mocks_first: false,
        })
    }

    /// A Ratchet task directory as Ratchet wrote it (no `bundle.yaml`): like [`TaskSpec::lone`]
    /// (nothing declared), with Ratchet's runtime behaviour ([`TaskRuntime::RatchetCompat`]).
    pub fn ratchet_task(dir: &Path) -> Result<TaskSpec, ExecError> {
        let mut spec = TaskSpec::lone(dir)?;
        spec.runtime = TaskRuntime::RatchetCompat;
        spec.mocks_first = true;
        Ok(spec)
    }

    /// A task of a bundle directory, with the bundle's declarations.
    pub fn in_bundle(
        bundle_dir: &Path,
        manifest: &Manifest,
        task_path: &str,
    ) -> Result<TaskSpec, ExecError> {
        let dir = bundle_dir.join(task_path);
        let task = Task::load(&dir)?;
        let short = Path::new(task_path.trim_end_matches('/'))
            .file_name()
            .map_or_else(
                || task_path.to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
        Ok(TaskSpec {
            task,
            name: format!("{}/{short}", manifest.id),
            permissions: manifest.permissions.clone(),
            resources: manifest.resources.clone(),
            runtime: manifest.runtime,
            mocks_first: false,
        })
    }

    /// The effective permissions under `policy`.
    pub fn effective(&self, policy: &Policy) -> Effective {
        policy.effective(
            &self.permissions,
            &self.resources,
            Some(&self.task.metadata),
        )
    }
}

/// Options of one execution.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Answers fetches (tests).
    pub mock: Option<HttpMock>,
    /// Extra host directories bound to declared guest paths (`run --mount`).
    pub mounts: Vec<(String, PathBuf)>,
}

/// Validates `value` against a JSON Schema; every problem as `path: message`.
pub fn check_schema(schema: &Value, value: &Value) -> Result<(), String> {
    let validator =
        jsonschema::validator_for(schema).map_err(|e| format!("the schema is not valid: {e}"))?;
    let problems: Vec<String> = validator
        .iter_errors(value)
        .map(|e| {
            let path = e.instance_path().as_str().to_string();
            format!(
                "{}: {e}",
                if path.is_empty() {
                    "(top level)".to_string()
                } else {
                    path
                }
            )
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Runs a task with `input` and returns its validated output.
pub fn run_task(
    rt: &Runtime,
    spec: &TaskSpec,
    input: &Value,
    policy: &Policy,
    opts: &ExecOptions,
) -> Result<Executed, ExecError> {
    let js_engine = match spec.task.kind {
        TaskKind::JavaScript => Some(
            crate::js::engine()
                .ok_or_else(|| ExecError::JavaScriptUnavailable(spec.task.dir.clone()))?,
        ),
        TaskKind::Wasm => None,
    };
    if let Some(schema) = &spec.task.input_schema {
        check_schema(schema, input).map_err(|message| ExecError::InputSchema { message })?;
    }
    let module = if js_engine.is_some() {
        Vec::new()
    } else {
        let wasm_path = spec.task.dir.join(TaskKind::Wasm.entry_file());
        let io = |source| ExecError::Io {
            path: wasm_path.clone(),
            source,
        };
        let len = std::fs::metadata(&wasm_path).map_err(io)?.len();
        crate::check_module_size(len)?;
        std::fs::read(&wasm_path).map_err(io)?
    };
    let mut permissions = spec.effective(policy);
    permissions.network.mocks_first = spec.mocks_first;
    for (guest, host) in &opts.mounts {
        let g = crate::policy::guest_path(guest);
        if permissions.fs_read.contains(&g) || permissions.fs_write.contains(&g) {
            permissions.mounts.insert(g, host.clone());
        } else {
            return Err(ExecError::Run(RunError::Mount(format!(
                "--mount {guest}: the task may not see {g} (declared and allowed paths: {})",
                permissions
                    .fs_read
                    .iter()
                    .chain(&permissions.fs_write)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))));
        }
    }
    let max_memory = permissions.limits.max_memory.0;
    let mut run = TaskRun {
        name: spec.name.clone(),
        module,
        args: Vec::new(),
        stdin: serde_json::to_vec(input).unwrap_or_default(),
        mounts: Vec::new(),
        permissions,
        fetch_mock: opts.mock.clone(),
    };
    if js_engine.is_some() {
        crate::js::prepare(
            &mut run,
            &spec.task.dir,
            spec.task.kind.entry_file(),
            spec.runtime,
        );
    }
    let mut outcome = rt.run_task_run(&run, js_engine.is_some())?;
    if js_engine.is_some() {
        crate::js::interpret(&mut outcome, max_memory);
    }
    if !outcome.success() {
        return Err(ExecError::Failed {
            task: spec.name.clone(),
            message: if js_engine.is_some() {
                crate::js::failure_message(&outcome)
            } else {
                outcome.failure_message()
            },
            usage: outcome.usage,
        });
    }
    let text = String::from_utf8_lossy(&outcome.stdout);
    let text = replace_lone_surrogates(text.trim());
    let output: Value = serde_json::from_str(&text).map_err(|e| ExecError::BadOutput {
        task: spec.name.clone(),
        message: format!(
            "output is not JSON ({e}); stdout began with {:?}",
            text.chars().take(80).collect::<String>()
        ),
        usage: outcome.usage,
    })?;
    if let Some(schema) = &spec.task.output_schema {
        check_schema(schema, &output).map_err(|m| ExecError::BadOutput {
            task: spec.name.clone(),
            message: format!(
                "does not match {}: {m}",
                ratchet_formats::task::OUTPUT_SCHEMA
            ),
            usage: outcome.usage,
        })?;
    }
    Ok(Executed { output, outcome })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_problems_name_paths() {
        let schema =
            json!({"type": "object", "properties": {"n": {"type": "number"}}, "required": ["n"]});
        assert!(check_schema(&schema, &json!({"n": 1})).is_ok());
        let e = check_schema(&schema, &json!({"n": "x"})).unwrap_err();
        assert!(e.contains("/n"), "{e}");
        let e = check_schema(&schema, &json!({})).unwrap_err();
        assert!(e.contains("(top level)"), "{e}");
    }
}

/// JavaScript strings may hold unpaired UTF-16 surrogates, which `JSON.stringify` writes as
/// `\\udXXX` escapes that no Unicode text can carry (serde_json refuses them). Each unpaired one
/// becomes U+FFFD, the replacement character, so such an output is still an output.
fn replace_lone_surrogates(text: &str) -> std::borrow::Cow<'_, str> {
    fn escape_at(b: &[u8], i: usize) -> Option<u16> {
        let hex = b.get(i + 2..i + 6)?;
        if b[i] != b'\\' || b[i + 1] != b'u' {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    }
    let b = text.as_bytes();
    if !text.contains("\\ud") && !text.contains("\\uD") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            // An escaped backslash is not the start of an escape.
            if b.get(i + 1) == Some(&b'\\') {
                i += 2;
                continue;
            }
            if let Some(u) = escape_at(b, i) {
                let high = (0xD800..0xDC00).contains(&u);
                let low = (0xDC00..0xE000).contains(&u);
                let paired =
                    high && escape_at(b, i + 6).is_some_and(|n| (0xDC00..0xE000).contains(&n));
                if paired {
                    i += 12;
                    continue;
                }
                if high || low {
                    out.push_str(&text[last..i]);
                    out.push_str("\\ufffd");
                    i += 6;
                    last = i;
                    continue;
                }
            }
        }
        i += 1;
    }
    out.push_str(&text[last..]);
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod surrogate_tests {
    use super::replace_lone_surrogates as fix;

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        assert_eq!(fix(r#"{"s":"a\ud800b"}"#), r#"{"s":"a\ufffdb"}"#);
        assert_eq!(fix(r#""\udc00""#), r#""\ufffd""#);
        // A pair stays a pair; an escaped backslash is not an escape.
        assert_eq!(fix(r#""\ud83d\ude00""#), r#""\ud83d\ude00""#);
        assert_eq!(fix(r#""\\ud800""#), r#""\\ud800""#);
        let v: serde_json::Value = serde_json::from_str(&fix(r#"{"s":"x\ud800"}"#)).unwrap();
        assert_eq!(v["s"], "x\u{fffd}");
    }
}
