//! `.ratchet/bundle-tests.yaml`: the plan's `quality_checks` list, read with bounds and with
//! errors that say the file, the field and the line (`index-format.md` §16).
//!
//! The file is the author's, and a registry verifier reads it from archives it did not write,
//! so it is hostile input: its size, the number of checks and of entries in each list are
//! bounded before anything is interpreted.

use ratchet_formats::manifest::units::{ByteSize, Millis};
use serde_json::Value;
use std::fmt;

/// Where the file lives in a bundle.
pub const CHECKS_FILE: &str = ".ratchet/bundle-tests.yaml";
/// Largest file read (bytes).
pub const MAX_FILE_BYTES: u64 = 256 * 1024;
/// Most entries in `quality_checks`.
pub const MAX_CHECKS: usize = 64;
/// Most entries in one list of a check (`tools`, `metrics`, `platforms`, `ratchet_versions`,
/// `test_suites`, `allow`).
pub const MAX_LIST: usize = 64;
/// Longest string value (characters).
pub const MAX_STRING: usize = 1024;

/// The kind of a check (`type:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckType {
    /// Static scan, advisories, external scanners.
    Security,
    /// Measured task runs against `metrics`.
    Performance,
    /// `platforms` and `ratchet_versions`.
    Compatibility,
    /// `test_suites`.
    Integration,
    /// A type this version does not know (reported as skipped, never refused: newer files
    /// stay readable).
    Other(String),
}

impl CheckType {
    /// The word written in the file.
    pub fn as_str(&self) -> &str {
        match self {
            CheckType::Security => "security",
            CheckType::Performance => "performance",
            CheckType::Compatibility => "compatibility",
            CheckType::Integration => "integration",
            CheckType::Other(s) => s,
        }
    }
}

/// One entry of `test_suites`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suite {
    /// `path:` a directory of test cases inside the bundle.
    Path(String),
    /// `external:` a URL (not run locally).
    External(String),
}

/// One entry of `quality_checks`.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityCheck {
    /// `name:` (default: the type).
    pub name: String,
    /// `type:`.
    pub kind: CheckType,
    /// `tools:` external scanners (security).
    pub tools: Vec<String>,
    /// `metrics: - max_execution_time:` (performance).
    pub max_execution_time: Option<Millis>,
    /// `metrics: - max_memory_usage:` (performance).
    pub max_memory_usage: Option<ByteSize>,
    /// `platforms:` (compatibility).
    pub platforms: Vec<String>,
    /// `ratchet_versions:` as written (`"1.0"`, `2`), compatibility.
    pub ratchet_versions: Vec<String>,
    /// `test_suites:` (integration).
    pub test_suites: Vec<Suite>,
    /// `allow:` rule ids of the static scan this bundle accepts, each with a reason in the
    /// file's comments (security; our addition, optional).
    pub allow: Vec<String>,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChecksFile {
    /// `quality_checks:` in file order.
    pub quality_checks: Vec<QualityCheck>,
}

impl ChecksFile {
    /// The checks of one type.
    pub fn of(&self, kind: &CheckType) -> impl Iterator<Item = &QualityCheck> {
        self.quality_checks.iter().filter(move |c| &c.kind == kind)
    }
}

/// A problem in `bundle-tests.yaml`: the field (JSON pointer), the line and column when known,
/// and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    /// The field, as a path (`quality_checks[1].metrics[0].max_execution_time`), empty for the
    /// whole file.
    pub field: String,
    /// 1-based line and column, when known.
    pub location: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl SpecError {
    /// The error without the file name: `LINE:COL: FIELD: MESSAGE`.
    pub fn detail(&self) -> String {
        let mut s = String::new();
        if let Some((l, c)) = self.location {
            s.push_str(&format!("line {l} column {c}: "));
        }
        if !self.field.is_empty() {
            s.push_str(&format!("{}: ", self.field));
        }
        s.push_str(&self.message);
        s
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(CHECKS_FILE)?;
        if let Some((l, c)) = self.location {
            write!(f, ":{l}:{c}")?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Reads `DIR/.ratchet/bundle-tests.yaml`: `Ok(None)` when the bundle has none.
pub fn load(dir: &std::path::Path) -> Result<Option<ChecksFile>, SpecError> {
    let path = dir.join(CHECKS_FILE);
    let whole = |message: String| SpecError {
        field: String::new(),
        location: None,
        message,
    };
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(whole(e.to_string())),
    };
    if !meta.is_file() {
        return Err(whole("not a regular file".into()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(whole(format!(
            "{} bytes, more than the limit of {MAX_FILE_BYTES}",
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| whole(e.to_string()))?;
    parse(&text).map(Some)
}

/// Parses the text of `bundle-tests.yaml`.
pub fn parse(text: &str) -> Result<ChecksFile, SpecError> {
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(SpecError {
            field: String::new(),
            location: None,
            message: format!("more than {MAX_FILE_BYTES} bytes"),
        });
    }
    let doc: Value = serde_norway::from_str(text).map_err(|e| SpecError {
        field: String::new(),
        location: e.location().map(|l| (l.line(), l.column())),
        message: strip_location(&e.to_string()),
    })?;
    let r = Reader { text };
    let top = match &doc {
        Value::Null => return Ok(ChecksFile::default()),
        Value::Object(m) => m,
        _ => return Err(r.err(&[], "expected a mapping with `quality_checks`")),
    };
    let Some(list) = top.get("quality_checks") else {
        return Ok(ChecksFile::default());
    };
    let at = [Seg::Key("quality_checks")];
    let items = match list {
        Value::Null => return Ok(ChecksFile::default()),
        Value::Array(a) => a,
        _ => return Err(r.err(&at, "expected a list of checks")),
    };
    if items.len() > MAX_CHECKS {
        return Err(r.err(
            &at,
            &format!(
                "{} checks, more than the limit of {MAX_CHECKS}",
                items.len()
            ),
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        out.push(r.check(item, i)?);
    }
    Ok(ChecksFile {
        quality_checks: out,
    })
}

#[derive(Clone, Copy)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

struct Reader<'t> {
    text: &'t str,
}

impl Reader<'_> {
    fn err(&self, path: &[Seg], message: &str) -> SpecError {
        let mut field = String::new();
        let mut pointer = String::new();
        for s in path {
            match s {
                Seg::Key(k) => {
                    if !field.is_empty() {
                        field.push('.');
                    }
                    field.push_str(k);
                    pointer.push('/');
                    pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                }
                Seg::Index(i) => {
                    field.push_str(&format!("[{i}]"));
                    pointer.push_str(&format!("/{i}"));
                }
            }
        }
        SpecError {
            location: if pointer.is_empty() {
                None
            } else {
                ratchet_formats::manifest::yaml::locate(self.text, &pointer)
            },
            field,
            message: message.to_string(),
        }
    }

    fn check(&self, item: &Value, i: usize) -> Result<QualityCheck, SpecError> {
        let base = [Seg::Key("quality_checks"), Seg::Index(i)];
        let Value::Object(m) = item else {
            return Err(self.err(&base, "expected a mapping with `name` and `type`"));
        };
        let at = |k: &'static str| [base[0], base[1], Seg::Key(k)];
        let kind = match m.get("type") {
            Some(v) => {
                let t = self.string(v, &at("type"))?;
                match t.as_str() {
                    "security" => CheckType::Security,
                    "performance" => CheckType::Performance,
                    "compatibility" => CheckType::Compatibility,
                    "integration" => CheckType::Integration,
                    _ => CheckType::Other(t),
                }
            }
            None => {
                return Err(self.err(
                    &base,
                    "missing `type` (security, performance, compatibility or integration)",
                ));
            }
        };
        let name = match m.get("name") {
            Some(v) => self.string(v, &at("name"))?,
            None => kind.as_str().to_string(),
        };
        let mut c = QualityCheck {
            name,
            kind,
            tools: self.strings(m.get("tools"), &at("tools"))?,
            max_execution_time: None,
            max_memory_usage: None,
            platforms: self.strings(m.get("platforms"), &at("platforms"))?,
            ratchet_versions: self.strings(m.get("ratchet_versions"), &at("ratchet_versions"))?,
            test_suites: Vec::new(),
            allow: self.strings(m.get("allow"), &at("allow"))?,
        };
        for (j, v) in self
            .list(m.get("metrics"), &at("metrics"))?
            .iter()
            .enumerate()
        {
            let here = [base[0], base[1], Seg::Key("metrics"), Seg::Index(j)];
            let Value::Object(mm) = v else {
                return Err(self.err(
                    &here,
                    "expected `max_execution_time: 5s` or `max_memory_usage: 512MB`",
                ));
            };
            for (k, v) in mm {
                let field = [here[0], here[1], here[2], here[3], Seg::Key(k)];
                let text = self.scalar(v, &field)?;
                match k.as_str() {
                    "max_execution_time" => {
                        c.max_execution_time =
                            Some(Millis::parse(&text).map_err(|e| self.err(&field, &e))?);
                    }
                    "max_memory_usage" => {
                        c.max_memory_usage =
                            Some(ByteSize::parse(&text).map_err(|e| self.err(&field, &e))?);
                    }
                    other => {
                        return Err(self.err(
                            &field,
                            &format!(
                                "unknown metric `{other}` (max_execution_time, max_memory_usage)"
                            ),
                        ));
                    }
                }
            }
        }
        for (j, v) in self
            .list(m.get("test_suites"), &at("test_suites"))?
            .iter()
            .enumerate()
        {
            let here = [base[0], base[1], Seg::Key("test_suites"), Seg::Index(j)];
            let suite = match v {
                Value::Object(s) => match (s.get("path"), s.get("external")) {
                    (Some(p), None) => Suite::Path(
                        self.string(p, &[here[0], here[1], here[2], here[3], Seg::Key("path")])?,
                    ),
                    (None, Some(u)) => Suite::External(self.string(
                        u,
                        &[here[0], here[1], here[2], here[3], Seg::Key("external")],
                    )?),
                    _ => {
                        return Err(
                            self.err(&here, "expected exactly one of `path` and `external`")
                        );
                    }
                },
                _ => return Err(self.err(&here, "expected `path: DIR` or `external: URL`")),
            };
            if let Suite::Path(p) = &suite
                && (p.starts_with('/') || p.split('/').any(|s| s == ".."))
            {
                return Err(self.err(
                    &[here[0], here[1], here[2], here[3], Seg::Key("path")],
                    "must be a relative path inside the bundle (no `..`, not absolute)",
                ));
            }
            c.test_suites.push(suite);
        }
        Ok(c)
    }

    fn list<'v>(&self, v: Option<&'v Value>, at: &[Seg]) -> Result<&'v [Value], SpecError> {
        match v {
            None | Some(Value::Null) => Ok(&[]),
            Some(Value::Array(a)) if a.len() <= MAX_LIST => Ok(a),
            Some(Value::Array(a)) => Err(self.err(
                at,
                &format!("{} entries, more than the limit of {MAX_LIST}", a.len()),
            )),
            Some(_) => Err(self.err(at, "expected a list")),
        }
    }

    fn strings(&self, v: Option<&Value>, at: &[Seg]) -> Result<Vec<String>, SpecError> {
        let mut out = Vec::new();
        for (i, x) in self.list(v, at)?.iter().enumerate() {
            let mut here = at.to_vec();
            here.push(Seg::Index(i));
            out.push(self.scalar(x, &here)?);
        }
        Ok(out)
    }

    /// A string, or a number written bare (`1.0`, `2`) as its text.
    fn scalar(&self, v: &Value, at: &[Seg]) -> Result<String, SpecError> {
        match v {
            Value::Number(n) => Ok(n.to_string()),
            _ => self.string(v, at),
        }
    }

    fn string(&self, v: &Value, at: &[Seg]) -> Result<String, SpecError> {
        match v {
            Value::String(s) if s.chars().count() <= MAX_STRING => Ok(s.clone()),
            Value::String(_) => Err(self.err(at, &format!("longer than {MAX_STRING} characters"))),
            _ => Err(self.err(at, "expected a string")),
        }
    }
}

/// The parser's message without its " at line N column M" (the location is kept apart).
fn strip_location(s: &str) -> String {
    match s.find(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = r#"
quality_checks:
  - name: "Security Scan"
    type: security
    tools: ["snyk", "trivy"]

  - name: "Performance Test"
    type: performance
    metrics:
      - max_execution_time: 5s
      - max_memory_usage: 512MB

  - name: "Compatibility Test"
    type: compatibility
    platforms: ["linux", "macos", "windows"]
    ratchet_versions: ["1.0", "1.1", "2.0"]

  - name: "Integration Test"
    type: integration
    test_suites:
      - path: "tests/integration/"
      - external: "https://example.com/test-suite"
"#;

    #[test]
    fn the_plans_file_reads_as_written() {
        let f = parse(PLAN).unwrap();
        assert_eq!(f.quality_checks.len(), 4);
        assert_eq!(f.quality_checks[0].tools, ["snyk", "trivy"]);
        assert_eq!(f.quality_checks[1].max_execution_time, Some(Millis(5000)));
        assert_eq!(
            f.quality_checks[1].max_memory_usage,
            Some(ByteSize(512 << 20))
        );
        assert_eq!(f.quality_checks[2].ratchet_versions, ["1.0", "1.1", "2.0"]);
        assert_eq!(
            f.quality_checks[3].test_suites,
            [
                Suite::Path("tests/integration/".into()),
                Suite::External("https://example.com/test-suite".into())
            ]
        );
    }

    #[test]
    fn bare_numbers_are_versions() {
        let f = parse("quality_checks:\n  - type: compatibility\n    ratchet_versions: [1.0, 2]\n")
            .unwrap();
        assert_eq!(f.quality_checks[0].ratchet_versions, ["1.0", "2"]);
        assert_eq!(f.quality_checks[0].name, "compatibility");
    }

    #[test]
    fn errors_name_the_field_and_line() {
        let e = parse(&PLAN.replace("5s", "5 parsecs")).unwrap_err();
        assert_eq!(e.field, "quality_checks[1].metrics[0].max_execution_time");
        assert_eq!(e.location.map(|l| l.0), Some(10));
        assert!(
            e.to_string().starts_with(".ratchet/bundle-tests.yaml:10:"),
            "{e}"
        );
        let e = parse("quality_checks:\n  - name: x\n").unwrap_err();
        assert!(e.message.contains("missing `type`"), "{e}");
        let e = parse("quality_checks: [\n").unwrap_err();
        assert!(e.location.is_some(), "{e}");
        let e = parse("quality_checks:\n  - type: integration\n    test_suites: [{path: ../x}]\n")
            .unwrap_err();
        assert!(e.message.contains("inside the bundle"), "{e}");
    }

    #[test]
    fn bounds() {
        let many = format!(
            "quality_checks:\n{}",
            "  - type: security\n".repeat(MAX_CHECKS + 1)
        );
        assert!(parse(&many).unwrap_err().message.contains("limit"));
        let long = format!(
            "quality_checks:\n  - type: security\n    tools: [{}]\n",
            vec!["a"; MAX_LIST + 1].join(",")
        );
        assert!(parse(&long).unwrap_err().message.contains("limit"));
    }
}
