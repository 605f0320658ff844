//! Problems found in user input, reported all at once.
//!
//! Validation never stops at the first problem: it collects [`Diagnostic`]s, each naming the file,
//! the position (line/column or field path) and what is wrong, so an author fixes everything in
//! one round. A syntax error also carries the offending line of the file, shown with a caret
//! under the column, and a hint when the mistake is a common one (a tab in the indentation, an
//! unquoted `: `). The CLI prints them; `--format json` serialises them for tools.

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
    /// The line of the file the problem is on, as written (syntax errors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_line: Option<String>,
    /// How to fix it, when the problem is a common one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
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
            source_line: None,
            hint: None,
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

    /// The same diagnostic, showing its line of `text` (the file's contents) under the message;
    /// nothing changes when it has no line or `text` has no such line.
    pub fn with_source(mut self, text: &str) -> Self {
        if let Some(l) = self.line.and_then(|n| text.lines().nth(n.checked_sub(1)?)) {
            self.source_line = Some(l.to_string());
        }
        self
    }

    /// The same diagnostic, with a hint on how to fix it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
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
        write!(f, ": {}", self.message)?;
        let number = self.line.map(|l| l.to_string()).unwrap_or_default();
        let pad = " ".repeat(number.len());
        if let Some(src) = &self.source_line {
            // Tabs are shown as four spaces and control characters escaped, so the caret lines
            // up and the file cannot drive the terminal.
            let mut shown = String::new();
            let mut caret_at = 0;
            let col = self.column.unwrap_or(0);
            for (i, c) in src.chars().enumerate() {
                let piece = match c {
                    '\t' => "    ".to_string(),
                    c if c.is_control() => c.escape_debug().to_string(),
                    c => c.to_string(),
                };
                if i + 1 < col {
                    caret_at += piece.chars().count();
                }
                shown.push_str(&piece);
            }
            write!(f, "\n {number} | {shown}")?;
            if col > 0 {
                write!(f, "\n {pad} | {}^", " ".repeat(caret_at))?;
            }
        }
        if let Some(h) = &self.hint {
            write!(f, "\n {pad} = hint: {h}")?;
        }
        Ok(())
    }
}

/// How a value of the field `name` is written, for messages about a wrongly typed value in the
/// files Ratchet reads besides `bundle.yaml` (whose forms come from its schema): `timeout` is
/// `milliseconds as a number, e.g. 5000`.
pub fn expected_form(name: &str) -> Option<&'static str> {
    match name {
        "timeout" => Some("milliseconds as a number, e.g. 5000 (not \"5s\")"),
        "memory_limit" => Some("a size as a string with a unit, e.g. \"128MB\""),
        _ => None,
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

    #[test]
    fn source_line_with_caret_and_hint() {
        let text = "a: 1\n\tb: c: d\nlast\n";
        let d = Diagnostic::error("yaml-syntax", "f.yaml", "bad")
            .at_line(2, 5)
            .with_source(text)
            .with_hint("quote it");
        assert_eq!(
            d.to_string(),
            "error[yaml-syntax]: f.yaml:2:5: bad\n 2 |     b: c: d\n   |        ^\n   = hint: quote it"
        );
        // A line past the end, or none: no source shown.
        let d = Diagnostic::error("x", "f", "m")
            .at_line(9, 1)
            .with_source(text);
        assert_eq!(d.source_line, None);
        let d = Diagnostic::error("x", "f", "m").with_source(text);
        assert_eq!(d.source_line, None);
        // Control characters in the line are escaped.
        let d = Diagnostic::error("x", "f", "m")
            .at_line(1, 1)
            .with_source("k: \u{1b}[2J\n");
        assert!(!d.to_string().contains('\u{1b}'), "{d}");
    }
}
