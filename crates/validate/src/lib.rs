//! `ratchet-validate`: checks a bundle directory the way `ratchet bundle validate` and `ratchet-index publish` do.
//!
//! The manifest is parsed with every schema-level problem reported ([`ratchet_formats::manifest`]); then the
//! checks that need the rest of the directory or cross-field reasoning run: named files exist
//! and stay inside the bundle, task directories are complete, JSON files parse, schemas are valid
//! JSON Schema, dependencies are neither on the bundle itself nor duplicated, prices exist where
//! the model needs one. Every problem becomes a [`Diagnostic`]; nothing stops at the first one.
//!
//! [`scaffold`] writes a new bundle (`bundle init`) that passes these checks.

pub mod scaffold;

use ratchet_formats::diagnostic::Diagnostic;
use ratchet_formats::manifest::{self, Manifest, PricingModel};
use ratchet_formats::task;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// A workflow given as a directory keeps its definition in this file.
pub const WORKFLOW_DIR_FILE: &str = "workflow.yaml";

/// The outcome of validating a bundle directory.
#[derive(Debug, Clone)]
pub struct ValidationReport {
    /// The manifest, when it parsed.
    pub manifest: Option<Manifest>,
    /// Every problem found, errors first, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl ValidationReport {
    /// True when there is no error (warnings allowed).
    pub fn is_valid(&self) -> bool {
        self.manifest.is_some() && !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// The warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| !d.is_error())
    }
}

/// Validates the bundle in `dir`.
pub fn validate_bundle(dir: &Path) -> ValidationReport {
    if !dir.is_dir() {
        return ValidationReport {
            manifest: None,
            diagnostics: vec![Diagnostic::error(
                "not-a-bundle",
                dir.display().to_string(),
                "not a directory",
            )],
        };
    }
    let file = manifest::MANIFEST_FILE;
    let text = match std::fs::read_to_string(dir.join(file)) {
        Ok(t) => t,
        Err(e) => {
            return ValidationReport {
                manifest: None,
                diagnostics: vec![Diagnostic::error(
                    "missing-manifest",
                    file,
                    format!("cannot read {}: {e}", dir.join(file).display()),
                )],
            };
        }
    };
    let (raw, parsed) = manifest::parse_manifest_lenient(&text, file);
    let mut out = Vec::new();
    // The dependency and price checks read the raw document, so they also run when another
    // field does not fit the schema: one run reports everything.
    if let Some(raw) = &raw {
        check_raw_semantics(raw, &mut out);
        check_unsafe_chars(raw, &text, &mut out);
    }
    let manifest = match parsed {
        Ok(m) => {
            check_manifest_semantics(&m, &mut out);
            Some(m)
        }
        Err(diags) => {
            out.extend(diags);
            None
        }
    };
    // The files the manifest names are checked even when some other field is wrong, so one
    // run reports everything.
    if let Some(raw) = &raw {
        check_named_files(dir, raw, &mut out);
    }
    out.sort_by_key(|d| d.severity);
    ValidationReport {
        manifest,
        diagnostics: out,
    }
}

/// The paths a raw manifest names, with their field paths, per `contents` section (`""` for
/// `readme`/`changelog`). Entries that are not strings are skipped (the schema reports them).
fn raw_paths(raw: &Value) -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    let Some(bundle) = raw.get("bundle") else {
        return out;
    };
    for key in ["readme", "changelog"] {
        if let Some(p) = bundle.get(key).and_then(Value::as_str) {
            out.push(("", format!("bundle.{key}"), p.to_string()));
        }
    }
    for section in ["tasks", "workflows", "assets", "examples"] {
        let items = bundle
            .get("contents")
            .and_then(|c| c.get(section))
            .and_then(Value::as_array);
        for (i, item) in items.into_iter().flatten().enumerate() {
            if let Some(p) = item.get("path").and_then(Value::as_str) {
                out.push((
                    section,
                    format!("bundle.contents.{section}[{i}].path"),
                    p.to_string(),
                ));
            }
        }
    }
    out
}

fn check_named_files(dir: &Path, raw: &Value, out: &mut Vec<Diagnostic>) {
    let file = manifest::MANIFEST_FILE;
    let canon_root = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let included = included_files(dir);
    for (section, field, rel) in raw_paths(raw) {
        let Some(p) = inside(dir, &rel) else { continue };
        match p.canonicalize() {
            Err(_) => {
                out.push(
                    Diagnostic::error(
                        "missing-path",
                        file,
                        format!("`{rel}` does not exist in the bundle"),
                    )
                    .at_field(field),
                );
                continue;
            }
            Ok(real) if !real.starts_with(&canon_root) => {
                out.push(
                    Diagnostic::error(
                        "unsafe-path",
                        file,
                        format!("`{rel}` leads outside the bundle (through a symbolic link)"),
                    )
                    .at_field(field),
                );
                continue;
            }
            Ok(_) => {}
        }
        match section {
            "tasks" if p.is_dir() => check_task_files(dir, &p, &field, included.as_ref(), out),
            "tasks" => out.push(
                Diagnostic::error(
                    "not-a-directory",
                    file,
                    format!("task path `{rel}` is a file; a task is a directory"),
                )
                .at_field(field),
            ),
            "workflows" if p.is_dir() => {
                let wf = p.join(WORKFLOW_DIR_FILE);
                if wf.is_file() {
                    check_workflow_file(dir, &wf, raw, out);
                } else {
                    out.push(
                        Diagnostic::error(
                            "missing-path",
                            file,
                            format!("workflow directory `{rel}` has no {WORKFLOW_DIR_FILE}"),
                        )
                        .at_field(field),
                    );
                }
            }
            "workflows" => check_workflow_file(dir, &p, raw, out),
            _ => {}
        }
    }
}

/// The cross-field checks that can run on the raw document (plain JSON), so they run even when
/// another field does not fit the schema: self and duplicate dependencies, a missing price, a
/// PROPRIETARY free bundle.
/// Ids, names, paths and permission patterns with a control or bidi character are refused: they
/// are shown in reviews and listings, where such a character could make a terminal show
/// something else (`network: none` over a declared domain).
fn check_unsafe_chars(raw: &Value, text: &str, out: &mut Vec<Diagnostic>) {
    let file = manifest::MANIFEST_FILE;
    let Some(b) = raw.get("bundle") else { return };
    // (JSON pointer, field path, value)
    let mut values: Vec<(String, String, &str)> = Vec::new();
    for key in ["id", "name", "readme", "changelog"] {
        if let Some(v) = b.get(key).and_then(Value::as_str) {
            values.push((format!("/bundle/{key}"), format!("bundle.{key}"), v));
        }
    }
    if let Some(contents) = b.get("contents").and_then(Value::as_object) {
        for (section, items) in contents {
            for (i, item) in items.as_array().into_iter().flatten().enumerate() {
                for key in ["name", "path"] {
                    if let Some(v) = item.get(key).and_then(Value::as_str) {
                        values.push((
                            format!("/bundle/contents/{section}/{i}/{key}"),
                            format!("bundle.contents.{section}[{i}].{key}"),
                            v,
                        ));
                    }
                }
            }
        }
    }
    fn strings<'a>(
        v: &'a Value,
        pointer: String,
        field: String,
        out: &mut Vec<(String, String, &'a str)>,
    ) {
        match v {
            Value::String(s) => out.push((pointer, field, s)),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    strings(item, format!("{pointer}/{i}"), format!("{field}[{i}]"), out);
                }
            }
            Value::Object(map) => {
                for (k, item) in map {
                    let esc = k.replace('~', "~0").replace('/', "~1");
                    strings(
                        item,
                        format!("{pointer}/{esc}"),
                        format!("{field}.{k}"),
                        out,
                    );
                }
            }
            _ => {}
        }
    }
    if let Some(p) = b.get("permissions") {
        strings(
            p,
            "/bundle/permissions".into(),
            "bundle.permissions".into(),
            &mut values,
        );
    }
    for (pointer, field, v) in values {
        if let Some((at, c)) = ratchet_formats::text::first_unsafe_in_line(v) {
            let mut d = Diagnostic::error(
                "unsafe-character",
                file,
                format!(
                    "character {} of the value is U+{:04X}, a control or bidi character; names, ids, paths and permission patterns may not hold one",
                    at + 1,
                    u32::from(c)
                ),
            )
            .at_field(field);
            if let Some((line, column)) = manifest::yaml::locate(text, &pointer) {
                d = d.at_line(line, column).with_source(text);
            }
            out.push(d);
        }
    }
}

fn check_raw_semantics(raw: &Value, out: &mut Vec<Diagnostic>) {
    let file = manifest::MANIFEST_FILE;
    let Some(b) = raw.get("bundle") else { return };
    let id = b.get("id").and_then(Value::as_str);
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let deps = b.get("dependencies").and_then(Value::as_array);
    for (i, d) in deps.into_iter().flatten().enumerate() {
        let Some(dep) = d.get("bundle_id").and_then(Value::as_str) else {
            continue;
        };
        let field = format!("bundle.dependencies[{i}].bundle_id");
        if Some(dep) == id {
            out.push(
                Diagnostic::error(
                    "self-dependency",
                    file,
                    format!("`{dep}` depends on itself"),
                )
                .at_field(field.clone()),
            );
        }
        if let Some(first) = seen.insert(dep, i) {
            out.push(
                Diagnostic::error(
                    "duplicate-dependency",
                    file,
                    format!("`{dep}` is already listed as bundle.dependencies[{first}]; merge the requirements into one entry"),
                )
                .at_field(field),
            );
        }
    }
    let model = b
        .get("pricing")
        .and_then(|p| p.get("model"))
        .and_then(Value::as_str)
        .unwrap_or("free");
    if matches!(model, "paid" | "subscription")
        && b.get("pricing").and_then(|p| p.get("price")).is_none()
    {
        out.push(
            Diagnostic::error(
                "missing-price",
                file,
                format!("pricing model `{model}` needs a price {{amount, currency, period}}"),
            )
            .at_field("bundle.pricing.price"),
        );
    }
    if b.get("license").and_then(Value::as_str) == Some("PROPRIETARY") && model == "free" {
        out.push(
            Diagnostic::warning(
                "proprietary-free",
                file,
                "license is PROPRIETARY but the bundle is free: users may not be allowed to use it; pick an open license or a paid model",
            )
            .at_field("bundle.license"),
        );
    }
}

/// Checks that need more than one field of a manifest that fits the schema (the ones that can
/// run on the raw document are in [`check_raw_semantics`]).
pub fn check_manifest_semantics(m: &Manifest, out: &mut Vec<Diagnostic>) {
    let file = manifest::MANIFEST_FILE;
    let model = m.pricing_model();
    if let Some(p) = &m.pricing
        && model == PricingModel::Subscription
        && p.price
            .as_ref()
            .is_some_and(|pr| matches!(pr.period, None | Some(manifest::PricePeriod::OneTime)))
    {
        out.push(
            Diagnostic::error(
                "bad-value",
                file,
                "a subscription is billed `monthly` or `yearly`, not once",
            )
            .at_field("bundle.pricing.price.period"),
        );
    }
    if let Some(p) = &m.pricing {
        let names: HashSet<&str> = m
            .contents
            .tasks
            .iter()
            .chain(&m.contents.workflows)
            .map(|i| i.name())
            .collect();
        for (tier_name, tier) in [
            ("free_tier", &p.free_tier),
            ("premium_tier", &p.premium_tier),
        ] {
            let Some(tier) = tier else { continue };
            for (kind, list) in [("tasks", &tier.tasks), ("workflows", &tier.workflows)] {
                for (i, name) in list.iter().enumerate() {
                    if !names.contains(name.as_str()) {
                        out.push(
                            Diagnostic::warning(
                                "unknown-tier-item",
                                file,
                                format!("`{name}` is not a task or workflow in bundle.contents"),
                            )
                            .at_field(format!("bundle.pricing.{tier_name}.{kind}[{i}]")),
                        );
                    }
                }
            }
        }
    }
    let mut names: HashMap<(&str, &str), usize> = HashMap::new();
    for (section, items) in m.contents.sections().into_iter().take(2) {
        for (i, item) in items.iter().enumerate() {
            if let Some(first) = names.insert((section, item.name()), i) {
                out.push(
                    Diagnostic::error(
                        "duplicate-name",
                        file,
                        format!("`{}` has the same name as bundle.contents.{section}[{first}]; {section} are called by name", item.name()),
                    )
                    .at_field(format!("bundle.contents.{section}[{i}].path")),
                );
            }
        }
    }
}

/// Resolves `rel` inside `root`; `None` when it is unsafe (already reported by the schema).
fn inside(root: &Path, rel: &str) -> Option<PathBuf> {
    manifest::check_rel_path(rel).ok()?;
    Some(root.join(rel.trim_end_matches('/')))
}

/// The entry paths `bundle build` puts in the archive (`.ratchetignore` applied), so that
/// validation checks exactly the files a build ships; `None` when the directory cannot be
/// listed (the build reports why), and then every file is checked.
pub fn included_files(root: &Path) -> Option<HashSet<String>> {
    ratchet_formats::archive::bundle_files(root)
        .ok()
        .map(|files| files.into_iter().map(|(rel, _)| rel).collect())
}

/// Checks one task directory: metadata, entry point, schemas, tests (only the files a build
/// includes, [`included_files`]).
pub fn check_task_dir(root: &Path, dir: &Path, field: &str, out: &mut Vec<Diagnostic>) {
    check_task_files(root, dir, field, included_files(root).as_ref(), out);
}

fn check_task_files(
    root: &Path,
    dir: &Path,
    field: &str,
    included: Option<&HashSet<String>>,
    out: &mut Vec<Diagnostic>,
) {
    let rel = |p: &Path| ratchet_formats::fsutil::rel_display(root, p);
    // A file `.ratchetignore` leaves out is not in the archive: it is neither checked nor
    // counted as present.
    let shipped = |p: &Path| -> bool {
        p.is_file()
            && included.is_none_or(|set| {
                p.strip_prefix(root).ok().is_some_and(|r| {
                    let entry: Vec<String> = r
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect();
                    set.contains(&entry.join("/"))
                })
            })
    };
    let meta = dir.join(task::METADATA_FILE);
    if !shipped(&meta) {
        // Ratchet's oldest layout has no metadata.json; the task runs without one.
        out.push(
            Diagnostic::warning(
                "task-missing-metadata",
                rel(dir),
                format!(
                    "task directory has no {} (Ratchet's oldest layout): it runs with no uuid, version or limits of its own",
                    task::METADATA_FILE
                ),
            )
            .at_field(field),
        );
    } else if let Some(v) = check_json_file(root, &meta, out) {
        if let Err(e) = serde_path_to_error::deserialize::<_, task::TaskMetadata>(v.clone()) {
            // A wrongly typed field of known form (`timeout: "5s"`) says how it is written.
            let form = match e.path().iter().next_back() {
                Some(serde_path_to_error::Segment::Map { key }) => {
                    ratchet_formats::diagnostic::expected_form(key)
                }
                _ => None,
            };
            let message = match form {
                Some(f) => format!("{}; write {f}", e.inner()),
                None => e.inner().to_string(),
            };
            out.push(at_path(
                Diagnostic::error("invalid-metadata", rel(&meta), message),
                e.path(),
            ));
        } else {
            if let Some(limit) = v.get("memory_limit").and_then(Value::as_str)
                && let Err(e) = manifest::ByteSize::parse(limit)
            {
                out.push(Diagnostic::error("bad-value", rel(&meta), e).at_field("memory_limit"));
            }
            if let Ok(m) = serde_json::from_value::<task::TaskMetadata>(v)
                && let Some(w) = m.timeout_warning()
            {
                out.push(
                    Diagnostic::warning("timeout-in-seconds", rel(&meta), w).at_field("timeout"),
                );
            }
        }
    }
    let has_main = [task::JS_MAIN, task::WASM_MAIN]
        .iter()
        .any(|m| shipped(&dir.join(m)));
    if !has_main {
        out.push(
            Diagnostic::error(
                "task-missing-main",
                rel(dir),
                format!(
                    "task directory has neither {} nor {}",
                    task::JS_MAIN,
                    task::WASM_MAIN
                ),
            )
            .at_field(field),
        );
    }
    for schema_name in [task::INPUT_SCHEMA, task::OUTPUT_SCHEMA] {
        let p = dir.join(schema_name);
        if shipped(&p)
            && let Some(schema) = check_json_file(root, &p, out)
            && let Err(e) = jsonschema::validator_for(&schema)
        {
            out.push(
                Diagnostic::error(
                    "invalid-schema",
                    rel(&p),
                    format!("not a valid JSON Schema: {e}"),
                )
                .at_field(pointer_or_top(e.instance_path().as_str())),
            );
        }
    }
    // Each test file on its own: a form this runtime does not run is a warning (the test is
    // skipped), a malformed field an error; neither stops the other files.
    for test in task::test_files(dir) {
        if !shipped(&test) {
            continue;
        }
        let Some(v) = check_json_file(root, &test, out) else {
            continue;
        };
        match task::parse_test_value(v, &test) {
            Ok(_) => {}
            Err(task::TaskError::UnsupportedTest { reason, .. }) => out.push(Diagnostic::warning(
                "unsupported-test",
                rel(&test),
                format!(
                    "not a test this runtime runs ({reason}): `bundle test` skips it; write {{input, expected_output}}, {{input, expected_error}} or {{input, expected, should_fail}}"
                ),
            )),
            Err(task::TaskError::InvalidTest { field, message, .. }) => {
                let d = Diagnostic::error(
                    "invalid-test",
                    rel(&test),
                    format!("not a valid test case: {message}"),
                );
                out.push(match field {
                    Some(f) => d.at_field(f),
                    None => d,
                });
            }
            Err(e) => out.push(Diagnostic::error("invalid-test", rel(&test), e.to_string())),
        }
    }
}

/// Adds the field path of a deserialization error (none for the top level).
fn at_path(d: Diagnostic, path: &serde_path_to_error::Path) -> Diagnostic {
    let p = path.to_string();
    if p == "." { d } else { d.at_field(p) }
}

fn pointer_or_top(pointer: &str) -> String {
    let f = ratchet_formats::diagnostic::pointer_to_field_path(pointer);
    if f.is_empty() {
        "(top level)".into()
    } else {
        f
    }
}

/// Parses a JSON file, reporting syntax errors with line and column.
fn check_json_file(root: &Path, path: &Path, out: &mut Vec<Diagnostic>) -> Option<Value> {
    match task::read_json::<Value>(path) {
        Ok(v) => Some(v),
        Err(task::TaskError::Json {
            line,
            column,
            message,
            ..
        }) => {
            out.push(
                Diagnostic::error(
                    "invalid-json",
                    ratchet_formats::fsutil::rel_display(root, path),
                    format!("invalid JSON: {message}"),
                )
                .at_line(line, column),
            );
            None
        }
        Err(e) => {
            out.push(Diagnostic::error(
                "unreadable",
                ratchet_formats::fsutil::rel_display(root, path),
                e.to_string(),
            ));
            None
        }
    }
}

/// Checks a workflow file (`task-abi.md` §8): its structure and references, and that each step
/// calls a task of this bundle or a task of a declared dependency.
fn check_workflow_file(root: &Path, path: &Path, raw: &Value, out: &mut Vec<Diagnostic>) {
    let file = ratchet_formats::fsutil::rel_display(root, path);
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            out.push(Diagnostic::error("unreadable", file, e.to_string()));
            return;
        }
    };
    let wf = match ratchet_formats::workflow::parse_workflow(&text) {
        Ok(wf) => wf,
        Err(e) => {
            let mut d = Diagnostic::error("invalid-workflow", file, e.message);
            if let Some((line, col)) = e.location {
                d = d.at_line(line, col);
            }
            out.push(d);
            return;
        }
    };
    let bundle = raw.get("bundle");
    let tasks: Vec<&str> = bundle
        .and_then(|b| b.get("contents"))
        .and_then(|c| c.get("tasks"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.get("path").and_then(Value::as_str))
        .map(ratchet_formats::manifest::item_name)
        .collect();
    let id = bundle.and_then(|b| b.get("id")).and_then(Value::as_str);
    let deps: Vec<&str> = bundle
        .and_then(|b| b.get("dependencies"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| d.get("bundle_id").and_then(Value::as_str))
        .collect();
    for (i, step) in wf.steps.iter().enumerate() {
        let problem = match step.task.split_once('/') {
            None if !tasks.contains(&step.task.as_str()) => Some(format!(
                "task `{}` is not a task of this bundle (bundle.contents.tasks)",
                step.task
            )),
            Some((dep, name)) if Some(dep) == id && !tasks.contains(&name) => Some(format!(
                "task `{name}` is not a task of this bundle (bundle.contents.tasks)"
            )),
            Some((dep, _)) if Some(dep) != id && !deps.contains(&dep) => Some(format!(
                "`{dep}` is not in bundle.dependencies, so its tasks cannot be called"
            )),
            _ => None,
        };
        if let Some(p) = problem {
            out.push(Diagnostic::error(
                "invalid-workflow",
                file.clone(),
                format!("workflow.steps[{i}].task: {p}"),
            ));
        }
    }
}
