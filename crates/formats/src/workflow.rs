//! The workflow file format: named steps that call tasks, each step's input built from the
//! workflow input and earlier steps' outputs (`task-abi.md` §8).
//!
//! This module parses and checks a workflow and resolves its `${...}` templates; running one
//! belongs to the sandbox crate (`ratchet_sandbox::workflow`), so validation and publishing can
//! check workflows without a runtime.

use crate::manifest::depth;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The file: `workflow:` at the top.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkflowFile {
    workflow: Workflow,
}

/// A workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the workflow input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    /// The steps, run in order.
    pub steps: Vec<Step>,
    /// The workflow's output (default: the last step's output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique name (`[a-z0-9_-]+`), used in references.
    pub name: String,
    /// `TASK` (this bundle) or `BUNDLE_ID/TASK` (an exported task of a dependency).
    pub task: String,
    /// The step's input template (default: the workflow input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
}

/// Errors loading a workflow file.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowFileError {
    /// Unreadable file.
    #[error("cannot read workflow {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a valid workflow.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Why a workflow's text is not a valid workflow: the message and, when known, the line and
/// column (1-based) it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowSyntaxError {
    /// What is wrong, starting with the field path (`workflow.steps[1].input`).
    pub message: String,
    /// Line and column, when the YAML parser knows them.
    pub location: Option<(usize, usize)>,
}

/// Parses and checks a workflow's text (`task-abi.md` §8): the structure, step names, task
/// references and every `${...}` reference (`input...` or an earlier step's output).
pub fn parse_workflow(text: &str) -> Result<Workflow, WorkflowSyntaxError> {
    let invalid = |message: String| WorkflowSyntaxError {
        message,
        location: None,
    };
    // The YAML parser's time grows with the square of the nesting depth, and a workflow comes
    // from a bundle: bound the depth with the manifest's linear pre-scan first.
    if let Some(at) = depth::too_deep(text, depth::MAX_NESTING_DEPTH) {
        return Err(WorkflowSyntaxError {
            message: format!(
                "nested more than {} levels deep; a workflow is never that deep",
                depth::MAX_NESTING_DEPTH
            ),
            location: Some(at),
        });
    }
    let file: WorkflowFile = serde_norway::from_str(text).map_err(|e| WorkflowSyntaxError {
        message: e.to_string(),
        location: e.location().map(|l| (l.line(), l.column())),
    })?;
    let wf = file.workflow;
    if wf.steps.is_empty() {
        return Err(invalid(
            "workflow.steps: a workflow needs at least one step".into(),
        ));
    }
    let mut seen = HashSet::new();
    for (i, s) in wf.steps.iter().enumerate() {
        if s.name.is_empty()
            || !s
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            return Err(invalid(format!(
                "workflow.steps[{i}].name: `{}` must match [a-z0-9_-]+",
                s.name
            )));
        }
        if s.task.is_empty() || s.task.matches('/').count() > 1 {
            return Err(invalid(format!(
                "workflow.steps[{i}].task: `{}` must be TASK or BUNDLE_ID/TASK",
                s.task
            )));
        }
        if let Some(input) = &s.input {
            check_refs(input, &seen)
                .map_err(|m| invalid(format!("workflow.steps[{i}].input: {m}")))?;
        }
        if !seen.insert(s.name.as_str()) {
            return Err(invalid(format!(
                "workflow.steps[{i}].name: `{}` is used twice",
                s.name
            )));
        }
    }
    if let Some(output) = &wf.output {
        check_refs(output, &seen).map_err(|m| invalid(format!("workflow.output: {m}")))?;
    }
    Ok(wf)
}

/// Checks every `${PATH}` in a template: `PATH` is `input[.…]` or `steps.NAME.output[.…]` with
/// `NAME` in `earlier`.
fn check_refs(template: &Value, earlier: &HashSet<&str>) -> Result<(), String> {
    match template {
        Value::String(s) => {
            let mut rest = s.as_str();
            while let Some(i) = rest.find("${") {
                let after = &rest[i + 2..];
                if let Some(inner) = after.strip_prefix('{') {
                    let inner = inner.split("}}").next().unwrap_or(inner).trim();
                    return Err(format!(
                        "`${{{{ {inner} }}}}` is not a reference here: write `${{{inner}}}` (one pair of braces)"
                    ));
                }
                let end = after
                    .find('}')
                    .ok_or_else(|| format!("unclosed `${{` in \"{s}\""))?;
                let path = after[..end].trim();
                let mut segs = path.split('.');
                let ok = match segs.next() {
                    Some("input") => true,
                    Some("steps") => {
                        let name = segs.next().unwrap_or("");
                        if !earlier.contains(name) {
                            return Err(format!(
                                "`${{{path}}}`: `{name}` is not an earlier step (only outputs of earlier steps can be referenced)"
                            ));
                        }
                        segs.next() == Some("output")
                    }
                    _ => false,
                };
                if !ok || path.split('.').any(str::is_empty) {
                    return Err(format!(
                        "`${{{path}}}` is not a reference: write `${{input.KEY}}` or `${{steps.NAME.output.KEY}}`"
                    ));
                }
                rest = &after[end + 1..];
            }
            Ok(())
        }
        Value::Array(a) => a.iter().try_for_each(|v| check_refs(v, earlier)),
        Value::Object(m) => m.values().try_for_each(|v| check_refs(v, earlier)),
        _ => Ok(()),
    }
}

/// Reads and checks a workflow file ([`parse_workflow`]).
pub fn load_workflow(path: &Path) -> Result<Workflow, WorkflowFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| WorkflowFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_workflow(&text).map_err(|e| WorkflowFileError::Invalid {
        path: path.to_path_buf(),
        message: e.message,
    })
}

/// Looks up `PATH` (`input.a.0`, `steps.x.output.b`) in the scope.
fn lookup<'a>(scope: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(scope, |v, seg| match v {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// Replaces `${PATH}` references in a template (`task-abi.md` §8).
pub fn resolve(template: &Value, scope: &Value) -> Result<Value, String> {
    Ok(match template {
        Value::String(s) => {
            let trimmed = s.trim();
            if let Some(path) = trimmed.strip_prefix("${").and_then(|r| r.strip_suffix('}'))
                && !path.contains("${")
            {
                return lookup(scope, path.trim())
                    .cloned()
                    .ok_or_else(|| missing(path.trim()));
            }
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(i) = rest.find("${") {
                out.push_str(&rest[..i]);
                let after = &rest[i + 2..];
                let end = after
                    .find('}')
                    .ok_or_else(|| format!("unclosed `${{` in \"{s}\""))?;
                let path = after[..end].trim();
                match lookup(scope, path) {
                    Some(Value::String(v)) => out.push_str(v),
                    Some(v) => out.push_str(&v.to_string()),
                    None => return Err(missing(path)),
                }
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|v| resolve(v, scope))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(k.clone(), resolve(v, scope)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

fn missing(path: &str) -> String {
    if path.starts_with("steps.") {
        format!("`${{{path}}}` has no value (only outputs of earlier steps can be referenced)")
    } else {
        format!("`${{{path}}}` has no value")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_resolve() {
        let scope =
            json!({"input": {"name": "x", "n": [1, 2]}, "steps": {"a": {"output": {"v": true}}}});
        assert_eq!(resolve(&json!("${input}"), &scope).unwrap(), scope["input"]);
        assert_eq!(
            resolve(&json!({"k": "${ steps.a.output.v }"}), &scope).unwrap(),
            json!({"k": true})
        );
        assert_eq!(
            resolve(&json!("n=${input.n.1}, name=${input.name}"), &scope).unwrap(),
            json!("n=2, name=x")
        );
        assert_eq!(
            resolve(&json!(["${input.n}", 3]), &scope).unwrap(),
            json!([[1, 2], 3])
        );
        let e = resolve(&json!("${steps.b.output}"), &scope).unwrap_err();
        assert!(e.contains("earlier steps"), "{e}");
        assert!(resolve(&json!("${input"), &scope).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        // 200 000 brackets: the YAML parser alone would take minutes (quadratic in depth).
        let n = 200_000;
        let text = format!(
            "workflow:\n  steps:\n    - {{name: a, task: t, input: {}{}}}\n",
            "[".repeat(n),
            "]".repeat(n)
        );
        let e = parse_workflow(&text).unwrap_err();
        assert!(e.message.contains("levels deep"), "{}", e.message);
        assert_eq!(e.location.map(|(line, _)| line), Some(3));
        // Nesting a real workflow uses is still accepted.
        let ok = "workflow:\n  steps:\n    - {name: a, task: t, input: {a: [[{b: [1]}]]}}\n";
        assert!(parse_workflow(ok).is_ok());
    }

    #[test]
    fn invalid_workflows_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("w.yaml");
        for (text, needle) in [
            ("workflow:\n  steps: []\n", "at least one step"),
            (
                "workflow:\n  steps:\n    - {name: A, task: t}\n",
                "[a-z0-9_-]+",
            ),
            (
                "workflow:\n  steps:\n    - {name: a, task: t}\n    - {name: a, task: t}\n",
                "used twice",
            ),
            (
                "workflow:\n  steps:\n    - {name: a, task: t, extra: 1}\n",
                "unknown field",
            ),
            (
                "workflow:\n  steps:\n    - name: a\n      task: t\n      input:\n        x: ${{ input.x }}\n",
                "workflow.steps[0].input: `${{ input.x }}` is not a reference here: write `${input.x}`",
            ),
            (
                "workflow:\n  steps:\n    - {name: a, task: t, input: \"${steps.b.output}\"}\n    - {name: b, task: t}\n",
                "`b` is not an earlier step",
            ),
            (
                "workflow:\n  steps:\n    - {name: a, task: t}\n  output: \"${steps.a.result}\"\n",
                "workflow.output: `${steps.a.result}` is not a reference",
            ),
        ] {
            std::fs::write(&p, text).unwrap();
            let e = load_workflow(&p).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
        std::fs::write(
            &p,
            "workflow:\n  steps:\n    - {name: a, task: t}\n  output: \"${steps.a.output}\"\n",
        )
        .unwrap();
        assert_eq!(load_workflow(&p).unwrap().steps.len(), 1);
    }
}
