//! Problems found in user input, reported all at once.
//!
//! Validation never stops at the first problem: it collects [`Diagnostic`]s, each naming the file,
//! the position (line/column or field path) and what is wrong, so an author fixes everything in
//! one round. The CLI prints them; `--format json` serialises them for tools.

use serde::Serialize;
use std::fmt;

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Makes the bundle invalid: it cannot be built or published.
    Error,
    /// Worth fixing, but the bundle is still valid.
    Warning,
}

/// One problem in a bundle, with where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable, kebab-case name of the problem class (`bad-semver`, `missing-path`, ...).
    pub code: &'static str,
    /// The file, relative to the bundle root (`bundle.yaml`, `tasks/add/input.schema.json`).
    pub file: String,
    /// 1-based line, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// Field path inside the file (`bundle.dependencies[1].version`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong, in words.
    pub message: String,
}

impl Diagnostic {
    /// An error in `file`.
    pub fn error(code: &'static str, file: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            file: file.into(),
            line: None,
            column: None,
            field: None,
            message: message.into(),
        }
    }

    /// A warning in `file`.
    pub fn warning(
        code: &'static str,
        file: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, file, message)
        }
    }

    /// The same diagnostic, located at a field path.
    pub fn at_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The same diagnostic, located at a 1-based line and column.
    pub fn at_line(mut self, line: usize, column: usize) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{sev}[{}]: {}", self.code, self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Converts a JSON pointer (`/bundle/dependencies/1/version`) into the field-path notation used
/// in messages (`bundle.dependencies[1].version`).
pub fn pointer_to_field_path(pointer: &str) -> String {
    let mut out = String::new();
    for raw in pointer.split('/').skip(1) {
        let seg = raw.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&seg);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    out
}

/// The closest candidate to `word`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(&word.to_ascii_lowercase(), &c.to_ascii_lowercase());
        if score >= 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_paths_render_with_indices() {
        assert_eq!(
            pointer_to_field_path("/bundle/dependencies/1/version"),
            "bundle.dependencies[1].version"
        );
        assert_eq!(pointer_to_field_path(""), "");
        assert_eq!(pointer_to_field_path("/a~1b/c"), "a/b.c");
    }

    #[test]
    fn suggestions_only_for_close_words() {
        let fields = ["keywords", "categories", "license"];
        assert_eq!(did_you_mean("keywrods", fields), Some("keywords"));
        assert_eq!(did_you_mean("licence", fields), Some("license"));
        assert_eq!(did_you_mean("zzz", fields), None);
    }

    #[test]
    fn display_names_file_position_and_field() {
        let d =
            Diagnostic::error("bad-semver", "bundle.yaml", "not SemVer").at_field("bundle.version");
        assert_eq!(
            d.to_string(),
            "error[bad-semver]: bundle.yaml: bundle.version: not SemVer"
        );
        let d = Diagnostic::warning("x", "a.json", "m").at_line(3, 4);
        assert_eq!(d.to_string(), "warning[x]: a.json:3:4: m");
    }
}
