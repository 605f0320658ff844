//! The bundle manifest, `bundle.yaml`: a typed model of every field in the product plan.
//!
//! Parsing is two-step so that an author sees every problem at once: the YAML is read into a
//! JSON value (syntax errors carry line and column), checked against the normative JSON Schema
//! in `bundle.schema.json` with our own formats (ids, SemVer, requirements, paths, currencies,
//! licenses, sizes...), each failure becoming a [`Diagnostic`] with its field path; only then is
//! it converted into [`Manifest`], which cannot fail any more. `index-format.md` documents every
//! field.

pub mod depth;
pub mod id;
pub mod permissions;
mod strict;
pub mod units;
pub mod version_req;
pub mod yaml;

pub use id::BundleId;
pub use permissions::{DomainPattern, Permission, Permissions, Resources};
pub use units::{ByteSize, Millis};
pub use version_req::VersionReq;

use crate::diagnostic::{Diagnostic, did_you_mean, pointer_to_field_path};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;
use std::sync::OnceLock;

/// The manifest's file name inside a bundle.
pub const MANIFEST_FILE: &str = "bundle.yaml";

/// The normative JSON Schema of `bundle.yaml` (also printed in `index-format.md`).
pub const MANIFEST_SCHEMA: &str = include_str!("bundle.schema.json");

/// Newest format version of `.bundle/manifest.json` (read: 1 and 2). A manifest without
/// `runtime` is written as version 1, byte for byte as before; one with `runtime` (a field
/// version-1 readers do not know, and must refuse rather than ignore) as version 2.
pub const RESOLVED_MANIFEST_FORMAT: u32 = 2;

/// `bundle.yaml` as a whole: everything sits under the `bundle:` key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// The manifest proper.
    pub bundle: Manifest,
}

/// The bundle manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Reverse-DNS id, unique in a registry.
    pub id: BundleId,
    /// Human-readable name.
    pub name: String,
    /// SemVer 2 version.
    pub version: semver::Version,
    /// Who made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Author>,
    /// What it does.
    pub description: String,
    /// SPDX license expression, or `PROPRIETARY`.
    pub license: String,
    /// How it is sold; absent means free.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Pricing>,
    /// Support terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support: Option<Support>,
    /// Search keywords.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// Marketplace categories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Path of the README inside the bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readme: Option<String>,
    /// Path of the changelog inside the bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changelog: Option<String>,
    /// Bundles this one needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
    /// Ratchet version and platforms it runs on.
    #[serde(default, skip_serializing_if = "Requirements::is_empty")]
    pub requirements: Requirements,
    /// Tasks, workflows, assets and examples it holds.
    #[serde(default)]
    pub contents: Contents,
    /// What its tasks may reach.
    #[serde(default, skip_serializing_if = "Permissions::is_empty")]
    pub permissions: Permissions,
    /// Resource limits for its tasks.
    #[serde(default, skip_serializing_if = "is_default")]
    pub resources: Resources,
    /// How its JavaScript tasks' globals behave (`task-abi.md` §1.1): `standard` (default) or
    /// `ratchet-compat` (Ratchet's `fetch`, which throws `HttpError` on a non-2xx status).
    #[serde(default, skip_serializing_if = "is_default")]
    pub runtime: TaskRuntime,
}

/// `bundle.runtime`: which behaviour the JavaScript runtime gives a bundle's tasks where
/// Ratchet's own engine and standard `fetch` differ.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskRuntime {
    /// Standard `fetch`: a non-2xx status is a response with `ok: false`.
    #[default]
    Standard,
    /// Ratchet's engine: `fetch` throws `HttpError(status, "HTTP <status>: <statusText>")` on
    /// a non-2xx status.
    RatchetCompat,
}

impl TaskRuntime {
    /// The name written in `bundle.yaml` (and passed to the JavaScript engine).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskRuntime::Standard => "standard",
            TaskRuntime::RatchetCompat => "ratchet-compat",
        }
    }
}

fn is_default<T: Default + PartialEq>(t: &T) -> bool {
    *t == T::default()
}

/// `bundle.author`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Author {
    /// Person or organisation.
    pub name: String,
    /// Contact address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Home page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
}

/// `bundle.pricing`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    /// The pricing model.
    pub model: PricingModel,
    /// The price (required for `paid` and `subscription`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    /// Length of a free trial, in days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_days: Option<u32>,
    /// What the free tier includes (freemium).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_tier: Option<Tier>,
    /// What the premium tier includes, and its price (freemium).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub premium_tier: Option<Tier>,
}

/// Pricing models of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PricingModel {
    /// No charge.
    Free,
    /// One payment.
    Paid,
    /// Free tier plus a paid tier.
    Freemium,
    /// Recurring payment.
    Subscription,
}

impl PricingModel {
    /// The model's name as written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            PricingModel::Free => "free",
            PricingModel::Paid => "paid",
            PricingModel::Freemium => "freemium",
            PricingModel::Subscription => "subscription",
        }
    }
}

/// A price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Amount in the currency's major unit (9.99).
    pub amount: f64,
    /// ISO 4217 code (`USD`).
    pub currency: String,
    /// Billing period; absent means one-time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<PricePeriod>,
}

/// Billing periods of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PricePeriod {
    /// Pay once.
    OneTime,
    /// Every month.
    Monthly,
    /// Every year.
    Yearly,
}

/// A pricing tier (`free_tier`, `premium_tier`): what it includes and what it costs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// The tier's price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    /// Task names included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<String>,
    /// Workflow names included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workflows: Vec<String>,
    /// Other features, in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

/// `bundle.support`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Support {
    /// Support level (`community`, `premium`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Response-time promise (`24h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<String>,
    /// Channels (`email`, `phone`, `slack`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// Support address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Support page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// One entry of `bundle.dependencies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    /// The bundle needed.
    pub bundle_id: BundleId,
    /// Which versions of it will do.
    pub version: VersionReq,
}

/// `bundle.requirements`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// Ratchet versions the bundle works with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratchet_version: Option<VersionReq>,
    /// Platforms it runs on; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platform: Vec<Platform>,
}

impl Requirements {
    /// True when nothing is required.
    pub fn is_empty(&self) -> bool {
        self.ratchet_version.is_none() && self.platform.is_empty()
    }
}

/// Operating systems a bundle can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Linux.
    Linux,
    /// macOS.
    Macos,
    /// Windows.
    Windows,
}

impl Platform {
    /// The platform this program runs on, if it is one of the three.
    pub fn current() -> Option<Platform> {
        match std::env::consts::OS {
            "linux" => Some(Platform::Linux),
            "macos" => Some(Platform::Macos),
            "windows" => Some(Platform::Windows),
            _ => None,
        }
    }

    /// The name the manifest uses (`linux`, `macos`, `windows`).
    pub fn name(self) -> &'static str {
        match self {
            Platform::Linux => "linux",
            Platform::Macos => "macos",
            Platform::Windows => "windows",
        }
    }

    /// `platforms` as a comma-separated list of names, for messages.
    pub fn join(platforms: &[Platform]) -> String {
        platforms
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `bundle.contents`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contents {
    /// Task directories.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<ContentItem>,
    /// Workflow files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workflows: Vec<ContentItem>,
    /// Shared resources (files or directories).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assets: Vec<ContentItem>,
    /// Usage examples (files or directories).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<ContentItem>,
}

/// One entry of `contents.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentItem {
    /// Relative path inside the bundle.
    pub path: String,
    /// Callable from other bundles and from `ratchet run` (default `true`; `false` keeps a task
    /// internal to its bundle).
    #[serde(default = "yes")]
    pub exported: bool,
    /// Search tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// What it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn yes() -> bool {
    true
}

impl ContentItem {
    /// The item's name: the last path component without extension (`tasks/json-parse` →
    /// `json-parse`, `workflows/etl.yaml` → `etl`). Tasks and workflows are called by it.
    pub fn name(&self) -> &str {
        item_name(&self.path)
    }
}

/// The name of a content item at `path` ([`ContentItem::name`]), for callers that only have the
/// path (the raw document in validation).
pub fn item_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    let last = trimmed.rsplit('/').next().unwrap_or(trimmed);
    match last.rsplit_once('.') {
        Some((stem, "yaml" | "yml" | "json")) if !stem.is_empty() => stem,
        _ => last,
    }
}

impl Manifest {
    /// The effective pricing model (`free` when no pricing is declared).
    pub fn pricing_model(&self) -> PricingModel {
        self.pricing
            .as_ref()
            .map_or(PricingModel::Free, |p| p.model)
    }

    /// Every path the manifest names, with its field path, for existence and safety checks.
    pub fn named_paths(&self) -> Vec<(String, &str)> {
        let mut out = Vec::new();
        if let Some(r) = &self.readme {
            out.push(("bundle.readme".to_string(), r.as_str()));
        }
        if let Some(c) = &self.changelog {
            out.push(("bundle.changelog".to_string(), c.as_str()));
        }
        for (section, items) in self.contents.sections() {
            for (i, item) in items.iter().enumerate() {
                out.push((
                    format!("bundle.contents.{section}[{i}].path"),
                    item.path.as_str(),
                ));
            }
        }
        out
    }
}

impl Contents {
    /// The four sections with their names, in manifest order.
    pub fn sections(&self) -> [(&'static str, &[ContentItem]); 4] {
        [
            ("tasks", &self.tasks),
            ("workflows", &self.workflows),
            ("assets", &self.assets),
            ("examples", &self.examples),
        ]
    }
}

/// `.bundle/manifest.json` inside an archive: the resolved manifest with a format version, so
/// readers never need to parse YAML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedManifest {
    /// 1, or [`RESOLVED_MANIFEST_FORMAT`] (2) when the manifest has `runtime`.
    pub format_version: u32,
    /// The tool that wrote it (`ratchet 0.1.0`).
    pub generator: String,
    /// The manifest, every default filled in.
    pub bundle: Manifest,
}

impl ResolvedManifest {
    /// Wraps a manifest.
    pub fn new(bundle: Manifest) -> Self {
        ResolvedManifest {
            format_version: if bundle.runtime == TaskRuntime::Standard {
                1
            } else {
                RESOLVED_MANIFEST_FORMAT
            },
            generator: format!("ratchet {}", crate::TOOL_VERSION),
            bundle,
        }
    }
}

/// Parses `bundle.yaml` text. On failure returns every problem found; `file` names the file in
/// diagnostics.
pub fn parse_manifest(text: &str, file: &str) -> Result<Manifest, Vec<Diagnostic>> {
    let (_, result) = parse_manifest_lenient(text, file);
    result
}

/// Like [`parse_manifest`], but also returns the raw document when the text is YAML at all, so
/// callers can go on checking the files it names even when some field is wrong.
pub fn parse_manifest_lenient(
    text: &str,
    file: &str,
) -> (Option<Value>, Result<Manifest, Vec<Diagnostic>>) {
    // The parser's time grows with the square of the nesting depth: bound it first.
    if let Some((line, column)) = depth::too_deep(text, depth::MAX_NESTING_DEPTH) {
        let d = Diagnostic::error(
            "yaml-too-deep",
            file,
            format!(
                "nested more than {} levels deep; a manifest is never that deep",
                depth::MAX_NESTING_DEPTH
            ),
        )
        .at_line(line, column)
        .with_source(text);
        return (None, Err(vec![d]));
    }
    // YAML keeps the last of two equal keys; a reader that keeps the first would see another
    // manifest, so a duplicate is an error (found in the same pass as the value is read).
    let value: Value = match strict::from_str(text) {
        Ok(v) => v,
        Err(strict::StrictError::Syntax(e)) => {
            let d = yaml::syntax_diagnostic("yaml-syntax", file, text, &e, "not valid YAML: ");
            return (None, Err(vec![d]));
        }
        Err(strict::StrictError::DuplicateKey(e)) => {
            let d = yaml::syntax_diagnostic("yaml-syntax", file, text, &e, "");
            // The document as YAML reads it (the last of the repeated keys), for callers that
            // go on checking the files it names.
            return (serde_norway::from_str(text).ok(), Err(vec![d]));
        }
    };
    let diags = check_against_schema(&value, file, text);
    if !diags.is_empty() {
        return (Some(value), Err(diags));
    }
    let result = match ManifestFile::deserialize(&value) {
        Ok(m) => Ok(m.bundle),
        Err(e) => Err(vec![Diagnostic::error(
            "invalid-manifest",
            file,
            e.to_string(),
        )]),
    };
    (Some(value), result)
}

/// Reads and parses `DIR/bundle.yaml`.
pub fn load_manifest(dir: &Path) -> Result<Manifest, Vec<Diagnostic>> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        vec![Diagnostic::error(
            "missing-manifest",
            MANIFEST_FILE,
            format!("cannot read {}: {e}", path.display()),
        )]
    })?;
    parse_manifest(&text, MANIFEST_FILE)
}

fn schema_value() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        serde_json::from_str(MANIFEST_SCHEMA).expect("bundle.schema.json is valid JSON (tested)")
    })
}

fn validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let mut opts = jsonschema::options().should_validate_formats(true);
        for (name, _) in FORMATS {
            opts = opts.with_format(*name, move |s: &str| format_problem(name, s).is_none());
        }
        opts.build(schema_value())
            .expect("bundle.schema.json is a valid schema (tested)")
    })
}

/// Our custom JSON Schema formats and the diagnostic code each failure gets.
const FORMATS: &[(&str, &str)] = &[
    ("bundle-id", "bad-id"),
    ("semver", "bad-semver"),
    ("version-req", "bad-requirement"),
    ("rel-path", "unsafe-path"),
    ("currency", "unknown-currency"),
    ("license", "bad-license"),
    ("email-address", "bad-value"),
    ("web-url", "bad-value"),
    ("size", "bad-value"),
    ("duration", "bad-value"),
    ("domain-pattern", "bad-permission"),
    ("fs-path", "bad-permission"),
    ("command", "bad-permission"),
    ("env-var", "bad-permission"),
];

/// Why `value` fails the custom `format`, or `None` when it passes.
fn format_problem(format: &str, value: &str) -> Option<String> {
    match format {
        "bundle-id" => BundleId::parse(value).err().map(|e| e.to_string()),
        "semver" => semver::Version::parse(value).err().map(|e| {
            format!("`{value}` is not a SemVer 2 version (MAJOR.MINOR.PATCH[-PRE][+BUILD]): {e}")
        }),
        "version-req" => VersionReq::parse(value).err().map(|e| e.to_string()),
        "rel-path" => check_rel_path(value).err().map(|e| e.to_string()),
        "currency" => iso_currency::Currency::from_code(value)
            .is_none()
            .then(|| format!("`{value}` is not an ISO 4217 currency code (e.g. USD, EUR, GBP)")),
        "license" => check_license(value).err(),
        "email-address" => {
            let ok = value.split_once('@').is_some_and(|(u, d)| {
                !u.is_empty() && d.contains('.') && !value.contains(char::is_whitespace)
            });
            (!ok).then(|| format!("`{value}` is not an e-mail address"))
        }
        "web-url" => match url::Url::parse(value) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => None,
            _ => Some(format!("`{value}` is not an http(s) URL")),
        },
        "size" => ByteSize::parse(value).err(),
        "duration" => Millis::parse(value).err(),
        "domain-pattern" => DomainPattern::parse(value).err(),
        "fs-path" => permissions::check_fs_path(value).err(),
        "command" => permissions::check_command(value).err(),
        "env-var" => permissions::check_env_var(value).err(),
        _ => None,
    }
}

/// Checks a path inside the bundle: relative, `/`-separated, no `..`, no NUL.
pub fn check_rel_path(p: &str) -> Result<(), RelPathProblem> {
    let path = || p.to_string();
    if p.is_empty() {
        return Err(RelPathProblem::Empty);
    }
    if p.starts_with('/') || p.starts_with('\\') || p.as_bytes().get(1) == Some(&b':') {
        return Err(RelPathProblem::Absolute { path: path() });
    }
    if p.contains('\\') {
        return Err(RelPathProblem::Backslash { path: path() });
    }
    if p.contains('\0') {
        return Err(RelPathProblem::Nul { path: path() });
    }
    if p.split('/').any(|c| c == "..") {
        return Err(RelPathProblem::ParentComponent { path: path() });
    }
    Ok(())
}

/// Why a path is not relative to the bundle root ([`check_rel_path`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelPathProblem {
    /// The empty path.
    #[error("path is empty")]
    Empty,
    /// An absolute path (`/x`, `\\x`, `C:x`).
    #[error("`{path}` is absolute; paths must be relative to the bundle root")]
    Absolute {
        /// The path.
        path: String,
    },
    /// A `\\` separator.
    #[error("`{path}` uses `\\`; separate path components with `/`")]
    Backslash {
        /// The path.
        path: String,
    },
    /// A NUL byte.
    #[error("`{path}` contains a NUL byte")]
    Nul {
        /// The path.
        path: String,
    },
    /// A `..` component.
    #[error("`{path}` contains `..`; paths must stay inside the bundle")]
    ParentComponent {
        /// The path.
        path: String,
    },
}

/// Checks a license: an SPDX expression (`MIT`, `Apache-2.0 OR MIT`, `LicenseRef-x`) or
/// `PROPRIETARY`.
pub fn check_license(s: &str) -> Result<(), String> {
    if s == "PROPRIETARY" {
        return Ok(());
    }
    spdx::Expression::parse(s).map(|_| ()).map_err(|e| {
        format!(
            "`{s}` is not an SPDX license expression or `PROPRIETARY`: {}",
            e.reason
        )
    })
}

/// Schema failures of `value` (parsed from `text`), each with its field path and, where the
/// value is written in `text`, its line shown with a caret.
fn check_against_schema(value: &Value, file: &str, text: &str) -> Vec<Diagnostic> {
    let place = |d: Diagnostic, pointer: &str| match yaml::locate(text, pointer) {
        Some((line, column)) => d.at_line(line, column).with_source(text),
        None => d,
    };
    // The usual case, a valid manifest, stops at the first check: no error is built.
    if validator().is_valid(value) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for err in validator().iter_errors(value) {
        let pointer = err.instance_path().as_str().to_string();
        let field = pointer_to_field_path(&pointer);
        let shown_field = if field.is_empty() {
            "(top level)".to_string()
        } else {
            field.clone()
        };
        use jsonschema::error::ValidationErrorKind as K;
        let (code, message) = match err.kind() {
            K::AdditionalProperties { unexpected } => {
                let known = known_properties(err.schema_path().as_str());
                for name in unexpected {
                    let mut msg = format!("unknown field `{name}`");
                    if let Some(s) = did_you_mean(name, known.iter().map(String::as_str)) {
                        msg.push_str(&format!("; did you mean `{s}`?"));
                    } else if !known.is_empty() {
                        msg.push_str(&format!("; expected one of: {}", known.join(", ")));
                    }
                    let path = if field.is_empty() {
                        name.clone()
                    } else {
                        format!("{field}.{name}")
                    };
                    out.push(place(
                        Diagnostic::error("unknown-field", file, msg).at_field(path),
                        &format!("{pointer}/{}", name.replace('~', "~0").replace('/', "~1")),
                    ));
                }
                continue;
            }
            K::Required { property } => {
                let name = property.as_str().unwrap_or("?");
                let path = if field.is_empty() {
                    name.to_string()
                } else {
                    format!("{field}.{name}")
                };
                out.push(
                    Diagnostic::error(
                        "missing-field",
                        file,
                        format!("required field `{name}` is missing"),
                    )
                    .at_field(path),
                );
                continue;
            }
            K::Format { format } => {
                let code = FORMATS
                    .iter()
                    .find(|(n, _)| n == format)
                    .map_or("bad-value", |(_, c)| *c);
                let msg = err
                    .instance()
                    .as_str()
                    .and_then(|s| format_problem(format, s))
                    .unwrap_or_else(|| err.to_string());
                (code, msg)
            }
            K::Minimum { .. } if pointer.ends_with("/amount") => (
                "negative-amount",
                format!("amount {} is negative", err.instance()),
            ),
            K::Type { .. } => {
                let hint = if field.ends_with("version") && err.instance().is_number() {
                    " (quote it, e.g. \"1.0.0\": YAML reads bare numbers as numbers)"
                } else {
                    ""
                };
                let message = match expected_form(err.schema_path().as_str()) {
                    Some(form) => format!(
                        "`{}` is the wrong type: expected {form}{hint}",
                        err.instance()
                    ),
                    None => format!("{err}{hint}"),
                };
                ("wrong-type", message)
            }
            K::Minimum { .. } => {
                let message = match expected_form(err.schema_path().as_str()) {
                    Some(form) => format!("{err}; expected {form}"),
                    None => err.to_string(),
                };
                ("bad-value", message)
            }
            _ => ("bad-value", err.to_string()),
        };
        out.push(place(
            Diagnostic::error(code, file, message).at_field(shown_field),
            &pointer,
        ));
    }
    out
}

/// How a value is written, for the schema node whose keyword at `schema_path` (`.../type`,
/// `.../minimum`) failed: sizes and durations by their format, anything else by its type.
fn expected_form(schema_path: &str) -> Option<&'static str> {
    let (parent, _) = schema_path.rsplit_once('/')?;
    let node = schema_node(parent)?;
    match node.get("format").and_then(Value::as_str) {
        Some("size") => {
            return Some(
                "a size: a number of bytes (e.g. 1048576) or a string with a unit (e.g. \"128MB\")",
            );
        }
        Some("duration") => {
            return Some(
                "a duration: milliseconds as a number (e.g. 5000) or a string with a unit (e.g. \"5s\")",
            );
        }
        _ => {}
    }
    Some(match node.get("type").and_then(Value::as_str)? {
        "integer" => "a whole number without quotes, e.g. 14",
        "number" => "a number without quotes, e.g. 9.99",
        "boolean" => "true or false, without quotes",
        "array" => "a list: `[a, b]`, or one `- item` per line indented under the key",
        "object" => "a mapping: `key: value` lines indented under the key",
        "string" => {
            "text (quote it when YAML would read it as something else: \"1.0\", \"yes\", \"null\")"
        }
        _ => return None,
    })
}

/// The schema node at a keyword path of the validator, following `$ref`s.
fn schema_node(schema_path: &str) -> Option<&'static Value> {
    let root = schema_value();
    let mut node = root;
    for raw in schema_path.split('/').skip(1) {
        if raw == "$ref" {
            let target = node.get("$ref")?.as_str()?.strip_prefix('#')?;
            node = root.pointer(target)?;
            continue;
        }
        let seg = raw.replace("~1", "/").replace("~0", "~");
        node = match node {
            Value::Object(m) => m.get(&seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

/// The property names the schema allows at the object whose `additionalProperties` failed.
fn known_properties(schema_path: &str) -> Vec<String> {
    let base = schema_path
        .strip_suffix("/additionalProperties")
        .unwrap_or(schema_path);
    let node = if base.is_empty() {
        Some(schema_value())
    } else {
        schema_value().pointer(base).or_else(|| {
            // Paths through "$ref" name the referenced definition's keyword path.
            base.rsplit_once("/$ref")
                .and_then(|(_, rest)| schema_value().pointer(&format!("/$defs{rest}")))
        })
    };
    node.and_then(|n| n.get("properties"))
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_builds() {
        let _ = validator();
    }

    /// `check_against_schema` skips the walk for errors when `is_valid` says yes: the two must
    /// agree, for every kind of failure the schema has (a jsonschema upgrade that changed one
    /// shortcut would let a bad manifest through silently).
    #[test]
    fn schema_fast_path_agrees_with_the_errors() {
        let base = "bundle:\n  id: com.example.x\n  name: X\n  version: 1.0.0\n  description: d\n  license: MIT\n";
        let bad = [
            "  keywrods: [a]\n",
            "  resources:\n    max_cpu_time: [5]\n",
            "  resources:\n    max_memory: lots\n",
            "  dependencies:\n    - bundle_id: com.a.b\n      version: '>>1'\n",
            "  dependencies:\n    - bundle_id: Not-An-Id\n      version: '1'\n",
            "  dependencies:\n    - version: '1'\n",
            "  homepage: ftp://x\n",
            "  author:\n    name: A\n    email: nobody\n",
            "  pricing:\n    model: paid\n    price:\n      amount: 5\n      currency: XXQ\n",
            "  pricing:\n    model: sometimes\n",
            "  categories: 7\n",
        ];
        let value = |extra: &str| strict::from_str(&format!("{base}{extra}")).unwrap();
        let agree = |v: &Value| {
            let fast = validator().is_valid(v);
            let none = validator().iter_errors(v).next().is_none();
            assert_eq!(fast, none, "{v}");
            fast
        };
        assert!(agree(&value("")));
        for extra in bad {
            assert!(!agree(&value(extra)), "accepted: {extra}");
        }
        for (old, new) in [
            ("1.0.0", "1.0"),
            ("com.example.x", "Com.Example"),
            ("MIT", "NOT A LICENSE ("),
        ] {
            let v = strict::from_str(&base.replace(old, new)).unwrap();
            assert!(!agree(&v), "accepted: {new}");
        }
        let mut missing = value("");
        missing["bundle"].as_object_mut().unwrap().remove("name");
        assert!(!agree(&missing));
    }

    #[test]
    fn minimal_manifest_parses() {
        let m = parse_manifest(
            "bundle:\n  id: com.example.x\n  name: X\n  version: 1.0.0\n  description: d\n  license: MIT\n",
            "bundle.yaml",
        )
        .unwrap();
        assert_eq!(m.id.as_str(), "com.example.x");
        assert_eq!(m.pricing_model(), PricingModel::Free);
    }

    #[test]
    fn all_errors_reported_with_paths() {
        let text = "bundle:\n  id: Com.Example\n  name: X\n  version: 1.0\n  description: d\n  license: MIT\n  keywrods: [a]\n  dependencies:\n    - bundle_id: com.a.b\n      version: '>=1.0'\n    - bundle_id: com.c.d\n      version: '>>1'\n";
        let errs = parse_manifest(text, "bundle.yaml").unwrap_err();
        let text: Vec<String> = errs.iter().map(|d| d.to_string()).collect();
        let joined = text.join("\n");
        assert!(
            joined.contains("bundle.keywrods: unknown field `keywrods`; did you mean `keywords`?"),
            "{joined}"
        );
        assert!(
            joined.contains("bundle.dependencies[1].version"),
            "{joined}"
        );
        assert!(joined.contains("bundle.version"), "{joined}");
        assert!(joined.contains("bad-id"), "{joined}");
        assert_eq!(errs.len(), 4, "{joined}");
    }

    #[test]
    fn yaml_syntax_error_has_line() {
        let errs = parse_manifest("bundle:\n  id: [unclosed\n", "bundle.yaml").unwrap_err();
        assert_eq!(errs[0].code, "yaml-syntax");
        assert!(errs[0].line.is_some());
    }

    #[test]
    fn wrongly_typed_values_say_the_expected_form() {
        let base = "bundle:\n  id: com.example.x\n  name: X\n  version: 1.0.0\n  description: d\n  license: MIT\n";
        let one = |extra: &str| {
            let errs = parse_manifest(&format!("{base}{extra}"), "bundle.yaml").unwrap_err();
            assert_eq!(errs.len(), 1, "{errs:?}");
            errs.into_iter().next().unwrap()
        };
        let d = one("  resources:\n    max_cpu_time: [5]\n");
        assert_eq!(d.code, "wrong-type");
        assert_eq!((d.line, d.column), (Some(8), Some(19)), "{d}");
        assert_eq!(d.source_line.as_deref(), Some("    max_cpu_time: [5]"));
        assert_eq!(d.field.as_deref(), Some("bundle.resources.max_cpu_time"));
        assert!(
            d.message
                .contains("expected a duration: milliseconds as a number (e.g. 5000)"),
            "{d}"
        );
        let d = one("  resources:\n    max_memory: true\n");
        assert!(
            d.message
                .starts_with("`true` is the wrong type: expected a size"),
            "{d}"
        );
        let d = one("  resources:\n    max_disk: -1\n");
        assert!(d.message.contains("expected a size"), "{d}");
        let d = one("  pricing:\n    model: free\n    trial_days: \"14\"\n");
        assert!(d.message.contains("a whole number without quotes"), "{d}");
        let d = one("  keywords: foo\n");
        assert!(d.message.contains("a list"), "{d}");
        let d = one("  contents:\n    tasks:\n      - path: a\n        exported: \"yes\"\n");
        assert!(d.message.contains("true or false"), "{d}");
        // A duration written with a unit is fine.
        assert!(
            parse_manifest(
                &format!("{base}  resources:\n    max_cpu_time: 5s\n"),
                "bundle.yaml"
            )
            .is_ok()
        );
    }

    #[test]
    fn content_item_names() {
        let item = |p: &str| ContentItem {
            path: p.into(),
            exported: true,
            tags: vec![],
            description: None,
        };
        assert_eq!(item("tasks/json-parse").name(), "json-parse");
        assert_eq!(item("tasks/json-parse/").name(), "json-parse");
        assert_eq!(item("workflows/etl.yaml").name(), "etl");
    }

    #[test]
    fn licenses() {
        assert!(check_license("MIT").is_ok());
        assert!(check_license("Apache-2.0 OR MIT").is_ok());
        assert!(check_license("PROPRIETARY").is_ok());
        assert!(check_license("Nonsense-License-9").is_err());
    }
}
