//! YAML syntax errors as an author can act on them.
//!
//! The YAML parser reports what it expected and where it gave up, which for the usual mistakes
//! is a line or two after the cause and in the parser's own terms ("mapping values are not
//! allowed in this context"). This module turns such an error into a [`Diagnostic`] that shows
//! the offending line with a caret under the column and, for the common mistakes, says what to
//! change: a tab in the indentation, indentation that does not line up, an unquoted `: ` inside
//! a value, a value starting with a reserved character, an unclosed quote, `[` or `{`. It also
//! finds where a value is written ([`locate`]), so problems found later (against the schema)
//! can show their line too.

use crate::diagnostic::Diagnostic;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::cell::Cell;
use std::fmt;

/// A diagnostic for the YAML error `err` in `text` (the contents of `file`), its message after
/// `prefix`, with the offending line and a hint when one applies.
pub fn syntax_diagnostic(
    code: &'static str,
    file: &str,
    text: &str,
    err: &serde_norway::Error,
    prefix: &str,
) -> Diagnostic {
    let full = err.to_string();
    let mut d = Diagnostic::error(code, file, format!("{prefix}{}", strip_location(&full)));
    if let Some(loc) = err.location() {
        d = d.at_line(loc.line(), loc.column()).with_source(text);
        if let Some(h) = hint(text, loc.line(), loc.column(), &full) {
            d = d.with_hint(h);
        }
    }
    d
}

/// Where the value at `pointer` (a JSON pointer into the document, `/bundle/version`) is
/// written in `text`: its 1-based line and column, or `None` when the text does not parse or has
/// no such value. (The YAML parser places an error at the value being read: the walk below stops
/// with an error at the value sought and takes the error's position.)
pub fn locate(text: &str, pointer: &str) -> Option<(usize, usize)> {
    let path: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    if path.is_empty() {
        return None;
    }
    let found = Cell::new(false);
    let seed = Locate {
        path: &path,
        found: &found,
    };
    let err = seed
        .deserialize(serde_norway::Deserializer::from_str(text))
        .err()?;
    if !found.get() {
        return None;
    }
    err.location().map(|l| (l.line(), l.column()))
}

/// Walks a document towards `path` and fails, setting `found`, at the value there.
#[derive(Clone, Copy)]
struct Locate<'a> {
    path: &'a [String],
    found: &'a Cell<bool>,
}

impl Locate<'_> {
    fn here<E: serde::de::Error>(self) -> Result<(), E> {
        if self.path.is_empty() {
            self.found.set(true);
            Err(E::custom("the value sought"))
        } else {
            Ok(())
        }
    }
}

impl<'de> DeserializeSeed<'de> for Locate<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Locate<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.here()
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.here()
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.here()
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.here()
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.here()
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.here()
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.here()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.here()?;
        while let Some(key) = map.next_key::<serde_json::Value>()? {
            let key = match key {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            if key == self.path[0] {
                return map.next_value_seed(Locate {
                    path: &self.path[1..],
                    found: self.found,
                });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.here()?;
        let Ok(want) = self.path[0].parse::<usize>() else {
            return Ok(());
        };
        let mut i = 0;
        while i < want {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            i += 1;
        }
        seq.next_element_seed(Locate {
            path: &self.path[1..],
            found: self.found,
        })?;
        Ok(())
    }
}

/// The parser's message without its ` at line L column C, while ...` tail (the position is in
/// the diagnostic's own fields).
pub(crate) fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches([' ', '\t']).len()
}

/// What to change, for the mistakes that produce `message` at `line`:`column` (1-based).
fn hint(text: &str, line: usize, column: usize, message: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    if message.contains("while scanning a quoted scalar") {
        return Some(
            "a quoted value is not closed: add the closing quote (inside double quotes, write `\\\"` for a quote)"
                .into(),
        );
    }
    if message.contains("while parsing a flow sequence") {
        return Some("a `[` list is not closed: end it with `]`".into());
    }
    if message.contains("while parsing a flow mapping") {
        return Some("a `{` mapping is not closed: end it with `}`".into());
    }
    let cur = *lines.get(line.checked_sub(1)?)?;
    let indent = indent_of(cur);
    if cur[..indent].contains('\t') || message.contains("tab character") {
        return Some(
            "this line is indented with a tab; YAML indents with spaces only: replace the tab with spaces"
                .into(),
        );
    }
    let at = cur.chars().nth(column.saturating_sub(1));
    if message.starts_with("found character that cannot start any token")
        && let Some(c @ ('@' | '`' | '%')) = at
    {
        return Some(format!(
            "a plain value cannot start with `{c}`: quote the value, e.g. \"{c}...\""
        ));
    }
    let previous = lines[..line - 1]
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    if message.starts_with("mapping values are not allowed") {
        // `key: some: text`: the error is at a colon after the key's own.
        let mut start = indent;
        let mut rest = &cur[indent..];
        if let Some(r) = rest.strip_prefix("- ") {
            start += 2;
            rest = r;
        }
        if let Some(first) = rest.find(": ")
            && column.saturating_sub(1) > start + first
        {
            let key = rest[..first].trim();
            let value = rest[first + 1..].trim();
            let quoted = value.replace('\\', "\\\\").replace('"', "\\\"");
            return Some(format!(
                "the value of `{key}` contains `: `, which YAML reads as the start of another key; quote the value: {key}: \"{quoted}\""
            ));
        }
    }
    let structural = message.starts_with("mapping values are not allowed")
        || message.starts_with("did not find expected key")
        || message.starts_with("did not find expected '-' indicator")
        || message.contains("expected <block end>");
    if structural {
        if let Some(p) = previous {
            let above = indent_of(p);
            if above != indent {
                return Some(format!(
                    "inconsistent indentation: this line is indented by {indent} space(s), the line above by {above}; the keys of one mapping (and the items of one list) start in the same column, what belongs to a key is indented further than the key"
                ));
            }
        }
        return Some(
            "check the indentation here and on the lines above: the keys of one mapping start in the same column".into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(text: &str) -> Diagnostic {
        let e = serde_norway::from_str::<serde_json::Value>(text).unwrap_err();
        syntax_diagnostic("yaml-syntax", "bundle.yaml", text, &e, "not valid YAML: ")
    }

    #[test]
    fn a_tab_in_the_indentation() {
        for text in ["bundle:\n\tid: x\n", "bundle:\n  id: x\n\tname: y\n"] {
            let d = diag(text);
            assert!(d.hint.as_deref().unwrap().contains("tab"), "{d}");
            assert!(d.source_line.as_deref().unwrap().starts_with('\t'), "{d}");
        }
    }

    #[test]
    fn an_unquoted_colon_in_a_value() {
        let d = diag("bundle:\n  id: x\n  description: Usage: run it\n");
        assert_eq!(d.line, Some(3));
        assert_eq!(
            d.hint.as_deref(),
            Some(
                "the value of `description` contains `: `, which YAML reads as the start of another key; quote the value: description: \"Usage: run it\""
            )
        );
        let shown = d.to_string();
        assert!(
            shown.ends_with(
                "\n 3 |   description: Usage: run it\n   |                     ^\n   = hint: the value of `description` contains `: `, which YAML reads as the start of another key; quote the value: description: \"Usage: run it\""
            ),
            "{shown}"
        );
    }

    #[test]
    fn inconsistent_indentation() {
        for (text, line) in [
            ("bundle:\n  id: x\n   name: y\n", 3),
            ("bundle:\n  id: x\n name: y\n", 3),
            (
                "bundle:\n  contents:\n    tasks:\n      - path: a\n       exported: true\n",
                5,
            ),
        ] {
            let d = diag(text);
            assert_eq!(d.line, Some(line), "{d}");
            assert!(
                d.hint
                    .as_deref()
                    .unwrap()
                    .starts_with("inconsistent indentation"),
                "{d}"
            );
        }
    }

    #[test]
    fn values_are_located_by_their_path() {
        let text = "bundle:\n  id: x\n  resources:\n    max_cpu_time: [5]\n  contents:\n    tasks:\n      - path: a\n      - path: b\n        exported: \"yes\"\n";
        assert_eq!(locate(text, "/bundle/id"), Some((2, 7)));
        assert_eq!(
            locate(text, "/bundle/resources/max_cpu_time"),
            Some((4, 19))
        );
        assert_eq!(
            locate(text, "/bundle/contents/tasks/1/exported"),
            Some((9, 19))
        );
        assert_eq!(locate(text, "/bundle/contents/tasks/2"), None);
        assert_eq!(locate(text, "/bundle/nothing"), None);
        assert_eq!(locate(text, ""), None);
        // A syntax error before the value: not found.
        assert_eq!(locate("x: [unclosed\nbundle: 1\n", "/bundle"), None);
    }

    #[test]
    fn unclosed_brackets_and_quotes() {
        let d = diag("bundle:\n  keywords: [a, b\n");
        assert!(d.hint.as_deref().unwrap().contains('['), "{d}");
        let d = diag("bundle:\n  description: \"unterminated\n  id: x\n");
        assert!(d.hint.as_deref().unwrap().contains("quote"), "{d}");
        let d = diag("bundle:\n  description: @home\n");
        assert!(d.hint.as_deref().unwrap().contains("`@`"), "{d}");
    }
}
