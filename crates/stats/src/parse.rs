//! Access-log records: the three log formats a registry's host writes (nginx/Apache combined,
//! S3 server access logs, CloudFront standard logs), reduced at once to what a download count
//! needs: method, path, status and UTC day (`index-format.md` §11.2). Addresses, user agents
//! and every other field are skipped while parsing and never leave this module.

use crate::day::{Day, parse_clf_time};

/// A log format (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Detect each file's format from its first record.
    Auto,
    /// nginx/Apache combined (or common) log format.
    Combined,
    /// S3 server access logs.
    S3,
    /// CloudFront standard logs (W3C extended, tab-separated).
    CloudFront,
}

impl LogFormat {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Auto => "auto",
            LogFormat::Combined => "combined",
            LogFormat::S3 => "s3",
            LogFormat::CloudFront => "cloudfront",
        }
    }
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => LogFormat::Auto,
            "combined" | "common" | "nginx" | "apache" => LogFormat::Combined,
            "s3" => LogFormat::S3,
            "cloudfront" => LogFormat::CloudFront,
            _ => {
                return Err(format!(
                    "unknown log format `{s}` (expected auto, combined, s3 or cloudfront)"
                ));
            }
        })
    }
}

/// What a log record says about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Request path, without the query string.
    pub path: &'a str,
    /// Response status.
    pub status: u16,
    /// UTC day of the request.
    pub day: Day,
}

/// What a line of a log is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    /// A request record.
    Record(Record<'a>),
    /// A comment, header or empty line (not a record).
    Skip,
    /// A line that is not a record of the format: why.
    Malformed(&'static str),
}

/// The columns of a CloudFront log, from its `#Fields` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloudFrontColumns {
    date: usize,
    time: usize,
    method: usize,
    uri: usize,
    status: usize,
}

impl Default for CloudFrontColumns {
    /// CloudFront's documented order: `date time x-edge-location sc-bytes c-ip cs-method
    /// cs(Host) cs-uri-stem sc-status ...`.
    fn default() -> Self {
        CloudFrontColumns {
            date: 0,
            time: 1,
            method: 5,
            uri: 7,
            status: 8,
        }
    }
}

impl CloudFrontColumns {
    /// The columns named by a `#Fields:` line, `None` when one of the needed fields is missing.
    pub fn from_header(line: &str) -> Option<Self> {
        let fields: Vec<&str> = line
            .strip_prefix("#Fields:")?
            .split_ascii_whitespace()
            .collect();
        let at = |n: &str| fields.iter().position(|f| *f == n);
        Some(CloudFrontColumns {
            date: at("date")?,
            time: at("time")?,
            method: at("cs-method")?,
            uri: at("cs-uri-stem")?,
            status: at("sc-status")?,
        })
    }
}

/// A line parser for one log file: knows the format (once detected) and, for CloudFront, the
/// columns.
#[derive(Debug, Clone)]
pub struct Parser {
    format: LogFormat,
    columns: CloudFrontColumns,
}

/// Splits a common-log line into fields: space-separated, `"..."` and `[...]` being one field
/// each (without their delimiters; `\"` inside quotes does not end them).
fn fields(line: &str) -> Option<Vec<&str>> {
    let b = line.as_bytes();
    let mut out = Vec::with_capacity(12);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' => i += 1,
            b'"' => {
                let start = i + 1;
                let mut j = start;
                loop {
                    match b.get(j)? {
                        b'\\' => j += 2,
                        b'"' => break,
                        _ => j += 1,
                    }
                }
                out.push(line.get(start..j)?);
                i = j + 1;
            }
            b'[' => {
                let j = i + 1 + line[i + 1..].find(']')?;
                out.push(&line[i + 1..j]);
                i = j + 1;
            }
            _ => {
                let j = line[i..].find(' ').map_or(b.len(), |k| i + k);
                out.push(&line[i..j]);
                i = j;
            }
        }
        if out.len() >= 12 {
            break;
        }
    }
    Some(out)
}

fn status(s: &str) -> Option<u16> {
    if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|n| (100..600).contains(n))
}

fn strip_query(p: &str) -> &str {
    p.split(['?', '#']).next().unwrap_or(p)
}

/// `METHOD PATH [PROTOCOL]` of a request line.
fn request(r: &str) -> Option<(&str, &str)> {
    let mut it = r.split(' ');
    let method = it.next().filter(|m| !m.is_empty())?;
    let path = it.next().filter(|p| !p.is_empty())?;
    Some((method, strip_query(path)))
}

fn common<'a>(fields: &[&'a str], time: usize) -> Line<'a> {
    if fields.get(time + if time == 3 { 1 } else { 6 }) == Some(&"-") {
        // S3 operations without an HTTP request line (internal copies, lifecycle).
        return Line::Skip;
    }
    let (Some(t), Some(req), Some(st)) = (
        fields.get(time),
        fields.get(time + if time == 3 { 1 } else { 6 }),
        fields.get(time + if time == 3 { 2 } else { 7 }),
    ) else {
        return Line::Malformed("too few fields");
    };
    let Some(day) = parse_clf_time(t) else {
        return Line::Malformed("no valid [time]");
    };
    let Some(status) = status(st) else {
        return Line::Malformed("no valid status");
    };
    let Some((method, path)) = request(req) else {
        return Line::Malformed("no valid \"METHOD PATH\" request");
    };
    Line::Record(Record {
        method,
        path,
        status,
        day,
    })
}

impl Parser {
    /// A parser for `format` (`Auto`: detected from the first record it sees).
    pub fn new(format: LogFormat) -> Self {
        Parser {
            format,
            columns: CloudFrontColumns::default(),
        }
    }

    /// The format in use (`Auto` until a record has been seen).
    pub fn format(&self) -> LogFormat {
        self.format
    }

    fn detect(&mut self, line: &str) {
        if line.starts_with("#Version") || line.starts_with("#Fields") || line.contains('\t') {
            self.format = LogFormat::CloudFront;
        } else if let Some(f) = fields(line) {
            // S3: `OWNER BUCKET [TIME] ...`; combined: `HOST IDENT USER [TIME] ...`.
            let bracket = line.find('[');
            let before = bracket.map(|b| line[..b].split_ascii_whitespace().count());
            self.format = match before {
                Some(2) if f.len() > 9 => LogFormat::S3,
                _ => LogFormat::Combined,
            };
        }
    }

    /// Parses one line (without its `\n`).
    pub fn line<'a>(&mut self, line: &'a str) -> Line<'a> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            return Line::Skip;
        }
        if self.format == LogFormat::Auto {
            self.detect(line);
        }
        match self.format {
            LogFormat::CloudFront => self.cloudfront(line),
            LogFormat::Combined | LogFormat::Auto => match fields(line) {
                Some(f) => common(&f, 3),
                None => Line::Malformed("unbalanced quotes or brackets"),
            },
            LogFormat::S3 => match fields(line) {
                Some(f) => common(&f, 2),
                None => Line::Malformed("unbalanced quotes or brackets"),
            },
        }
    }

    fn cloudfront<'a>(&mut self, line: &'a str) -> Line<'a> {
        if line.starts_with('#') {
            if line.starts_with("#Fields:") {
                match CloudFrontColumns::from_header(line) {
                    Some(c) => self.columns = c,
                    None => {
                        return Line::Malformed(
                            "#Fields lacks date, time, cs-method, cs-uri-stem or sc-status",
                        );
                    }
                }
            }
            return Line::Skip;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let c = self.columns;
        let get = |i: usize| f.get(i).copied();
        let (Some(date), Some(time), Some(method), Some(uri), Some(st)) = (
            get(c.date),
            get(c.time),
            get(c.method),
            get(c.uri),
            get(c.status),
        ) else {
            return Line::Malformed("too few tab-separated fields");
        };
        let Some(day) = Day::parse(date) else {
            return Line::Malformed("no valid date");
        };
        if time.len() != 8 || time.as_bytes()[2] != b':' || time.as_bytes()[5] != b':' {
            return Line::Malformed("no valid time");
        }
        let Some(status) = status(st) else {
            return Line::Malformed("no valid status");
        };
        if method.is_empty() || uri.is_empty() {
            return Line::Malformed("no method or path");
        }
        Line::Record(Record {
            method,
            path: strip_query(uri),
            status,
            day,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(fmt: LogFormat, l: &str) -> (String, String, u16, String) {
        match Parser::new(fmt).line(l) {
            Line::Record(r) => (
                r.method.to_string(),
                r.path.to_string(),
                r.status,
                r.day.to_string(),
            ),
            other => panic!("{l}: {other:?}"),
        }
    }

    #[test]
    fn combined_lines() {
        let l = r#"203.0.113.9 - - [04/Dec/2026:10:00:01 +0000] "GET /archives/ab/x.rbundle?x=1 HTTP/1.1" 200 2541 "-" "ratchet/0.1 \"quoted\"""#;
        assert_eq!(
            rec(LogFormat::Auto, l),
            (
                "GET".into(),
                "/archives/ab/x.rbundle".into(),
                200,
                "2026-12-04".into()
            )
        );
        // Common format (no referer and agent) parses too.
        let l = r#"::1 - alice [04/Dec/2026:23:59:59 -0100] "HEAD /a HTTP/1.0" 304 0"#;
        assert_eq!(
            rec(LogFormat::Combined, l),
            ("HEAD".into(), "/a".into(), 304, "2026-12-05".into())
        );
        let mut p = Parser::new(LogFormat::Combined);
        assert!(matches!(p.line("garbage"), Line::Malformed(_)));
        assert!(matches!(
            p.line(r#"h - - [04/Dec/2026:10:00:01 +0000] "GET /a HTTP/1.1" 2x0 1"#),
            Line::Malformed("no valid status")
        ));
        assert!(matches!(
            p.line(r#"h - - [04/Dec/2026:10:00:01 +0000] "GET /a HTTP/1.1 200 1"#),
            Line::Malformed(_)
        ));
        assert_eq!(p.line("   "), Line::Skip);
    }

    #[test]
    fn s3_lines() {
        let l = r#"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 [06/Feb/2026:00:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be 3E57427F3EXAMPLE REST.GET.OBJECT archives/ab/x.rbundle "GET /awsexamplebucket1/archives/ab/x.rbundle HTTP/1.1" 200 - 2541 2541 70 10 "-" "S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ECDHE-RSA-AES128-GCM-SHA256 AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.2 - -"#;
        let mut p = Parser::new(LogFormat::Auto);
        let Line::Record(r) = p.line(l) else { panic!() };
        assert_eq!(p.format(), LogFormat::S3);
        assert_eq!(
            (r.method, r.path, r.status, r.day.to_string().as_str()),
            (
                "GET",
                "/awsexamplebucket1/archives/ab/x.rbundle",
                200,
                "2026-02-06"
            )
        );
        let l = r#"owner bucket [06/Feb/2026:00:00:38 +0000] 192.0.2.3 - REQ S3.TRANSITION.OBJECT key "-" - - - 5 - - "-" "-" -"#;
        assert_eq!(Parser::new(LogFormat::S3).line(l), Line::Skip);
        let l = r#"owner bucket [06/Feb/2026:00:00:38 +0000] 192.0.2.3 - REQ REST.GET.OBJECT key "GET /k HTTP/1.1" OK"#;
        assert!(matches!(
            Parser::new(LogFormat::S3).line(l),
            Line::Malformed(_)
        ));
    }

    #[test]
    fn cloudfront_lines_follow_the_fields_header() {
        let mut p = Parser::new(LogFormat::Auto);
        assert_eq!(p.line("#Version: 1.0"), Line::Skip);
        assert_eq!(p.format(), LogFormat::CloudFront);
        assert_eq!(
            p.line("#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status"),
            Line::Skip
        );
        let Line::Record(r) = p.line(
            "2026-12-04\t21:02:31\tLAX1\t2541\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/archives/ab/x.rbundle\t200",
        ) else {
            panic!()
        };
        assert_eq!(
            (r.method, r.status, r.day.to_string().as_str()),
            ("GET", 200, "2026-12-04")
        );
        // A header with another column order.
        let mut p = Parser::new(LogFormat::CloudFront);
        p.line("#Fields: sc-status cs-uri-stem cs-method time date");
        let Line::Record(r) = p.line("404\t/x\tGET\t00:00:00\t2026-01-02") else {
            panic!()
        };
        assert_eq!((r.path, r.status), ("/x", 404));
        assert!(matches!(p.line("404\t/x"), Line::Malformed(_)));
        assert!(matches!(
            p.line("404\t/x\tGET\t00:00:00\t2026-02-30"),
            Line::Malformed(_)
        ));
    }
}
