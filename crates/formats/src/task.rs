//! What a Ratchet task directory holds, as Ratchet uses it today.
//!
//! A task is a directory with `metadata.json`, optional `input.schema.json` /
//! `output.schema.json`, the code (`main.js` or `main.wasm`) and `tests/*.json`
//! (see `../shared/ratchet-task-format.md`). Bundles carry these unchanged, so the model here is
//! lenient about extra fields and strict only about what the runtime and tests rely on.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The metadata file of a task.
pub const METADATA_FILE: &str = "metadata.json";
/// JavaScript entry point.
pub const JS_MAIN: &str = "main.js";
/// WebAssembly entry point.
pub const WASM_MAIN: &str = "main.wasm";
/// Input schema file.
pub const INPUT_SCHEMA: &str = "input.schema.json";
/// Output schema file.
pub const OUTPUT_SCHEMA: &str = "output.schema.json";
/// Directory of test cases.
pub const TESTS_DIR: &str = "tests";

/// `metadata.json`. Only `version` and `description` are always present in Ratchet's tasks;
/// unknown fields are kept, not refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskMetadata {
    /// Ratchet's task uuid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// The task's own version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who wrote it (free form in Ratchet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Value>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The task's own time limit in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    /// The task's own memory limit (`"128MB"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<String>,
    /// Everything else, kept as is.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// One test case (`tests/*.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskTest {
    /// Short name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What it checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Input given to the task.
    pub input: Value,
    /// Output the task must return (JSON equality).
    pub expected_output: Value,
    /// Replaced network answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mock: Option<TestMock>,
}

/// `mock` of a test case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestMock {
    /// The HTTP mock: a fetch whose URL contains `url` (and whose method matches, when given)
    /// gets `response` without touching the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpMock>,
}

/// `mock.http`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpMock {
    /// Substring of the request URL.
    pub url: String,
    /// Method, when it must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The answer: `{ok, status, statusText, body}`.
    pub response: Value,
}

/// Which kind of code a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// `main.js`, run by the JavaScript engine inside the sandbox.
    JavaScript,
    /// `main.wasm`, a WASI command module.
    Wasm,
}

impl TaskKind {
    /// Detects the kind from the files present in `dir` (`main.wasm` wins when both exist).
    pub fn detect(dir: &Path) -> Option<TaskKind> {
        if dir.join(WASM_MAIN).is_file() {
            Some(TaskKind::Wasm)
        } else if dir.join(JS_MAIN).is_file() {
            Some(TaskKind::JavaScript)
        } else {
            None
        }
    }

    /// The entry file name for this kind.
    pub fn entry_file(self) -> &'static str {
        match self {
            TaskKind::JavaScript => JS_MAIN,
            TaskKind::Wasm => WASM_MAIN,
        }
    }
}

/// Errors reading a task directory.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A JSON file does not parse.
    #[error("{path}:{line}:{column}: invalid JSON: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// Neither `main.js` nor `main.wasm`.
    #[error("{0}: task has neither main.js nor main.wasm")]
    NoEntry(PathBuf),
}

/// Reads and parses a JSON file, with line and column on error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, TaskError> {
    let text = std::fs::read_to_string(path).map_err(|source| TaskError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_json(text.as_bytes(), path)
}

/// Parses JSON bytes (`metadata.json`, a schema, a test case) already read from `path`, which
/// names the file in errors: the same checks as [`read_json`], for callers that hold the bytes
/// (an archive's files, the fuzz targets).
pub fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    path: &Path,
) -> Result<T, TaskError> {
    serde_json::from_slice(bytes).map_err(|e| TaskError::Json {
        path: path.to_path_buf(),
        line: e.line(),
        column: e.column(),
        message: strip_json_position(&e.to_string()),
    })
}

/// Removes serde_json's trailing " at line X column Y" (we report position separately).
pub fn strip_json_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// A task directory, loaded.
#[derive(Debug, Clone)]
pub struct Task {
    /// The directory.
    pub dir: PathBuf,
    /// JavaScript or WebAssembly.
    pub kind: TaskKind,
    /// `metadata.json`.
    pub metadata: TaskMetadata,
    /// `input.schema.json`, when present.
    pub input_schema: Option<Value>,
    /// `output.schema.json`, when present.
    pub output_schema: Option<Value>,
}

impl Task {
    /// Loads a task directory (metadata, schemas, kind). Tests are read by [`Task::tests`].
    pub fn load(dir: &Path) -> Result<Task, TaskError> {
        let kind = TaskKind::detect(dir).ok_or_else(|| TaskError::NoEntry(dir.to_path_buf()))?;
        let metadata = read_json(&dir.join(METADATA_FILE))?;
        let optional = |name: &str| -> Result<Option<Value>, TaskError> {
            let p = dir.join(name);
            if p.is_file() {
                read_json(&p).map(Some)
            } else {
                Ok(None)
            }
        };
        Ok(Task {
            dir: dir.to_path_buf(),
            kind,
            metadata,
            input_schema: optional(INPUT_SCHEMA)?,
            output_schema: optional(OUTPUT_SCHEMA)?,
        })
    }

    /// The test files of the task (`tests/*.json`), sorted by name.
    pub fn test_files(&self) -> Vec<PathBuf> {
        test_files(&self.dir)
    }

    /// Reads every test case, in file-name order.
    pub fn tests(&self) -> Result<Vec<(PathBuf, TaskTest)>, TaskError> {
        self.test_files()
            .into_iter()
            .map(|p| read_json(&p).map(|t| (p, t)))
            .collect()
    }
}

/// `DIR/tests/*.json`, sorted.
pub fn test_files(task_dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(task_dir.join(TESTS_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json"))
        .collect();
    out.sort();
    out
}
