//! The static security scan of task code (`index-format.md` §16.3).
//!
//! JavaScript source is tokenised (comments, strings, template literals and regular
//! expressions told apart from code, so a word in a comment is not a finding) and matched
//! against rules: code that builds code at run time (`eval`, the `Function` constructor, dynamic
//! `import()`, a string given to `setTimeout`), module loaders the runtime does not offer
//! (`require`, `import`), obfuscation markers, and every use of the network, files, commands and
//! the environment — compared with what the bundle declares, in the sandbox's own terms
//! ([`DomainPattern::matches`] for a `fetch` whose URL is written in the source). For a
//! WebAssembly task the imports are the evidence: `ratchet.fetch`, `ratchet.command`, WASI's
//! `path_open` and `environ_get`.
//!
//! A scan is a screen, not a proof: code can reach a capability in ways no pattern sees. What
//! the sandbox enforces at run time stays the guarantee; the scan makes the undeclared and the
//! unreviewable visible before anyone runs the bundle.

use ratchet_formats::manifest::{DomainPattern, Permissions};
use serde::Serialize;

/// Largest JavaScript source scanned (bytes); a larger one is itself a finding.
pub const MAX_SOURCE_BYTES: usize = 8 << 20;
/// Most findings kept per task (the rest are counted).
pub const MAX_FINDINGS: usize = 200;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fails the security check.
    Error,
    /// Reported; the check still passes.
    Warning,
}

/// One thing the scan found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable rule id (`eval`, `undeclared-network`, ...): what `allow:` names.
    pub rule: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// The task.
    pub task: String,
    /// The file, relative to the bundle (`tasks/x/main.js`).
    pub file: String,
    /// 1-based line (0 for a WebAssembly import).
    pub line: usize,
    /// 1-based column (0 for a WebAssembly import).
    pub column: usize,
    /// What and why.
    pub message: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        } else {
            write!(f, "{}: ", self.file)?;
        }
        write!(f, "{} [{}]", self.message, self.rule)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ident,
    Punct,
    Str,
    Template,
    Regex,
    Number,
}

#[derive(Debug, Clone)]
struct Tok {
    kind: Kind,
    /// Identifier or punctuator text; a string literal's value (escapes decoded roughly).
    text: String,
    line: usize,
    col: usize,
    /// Escape sequences in a string literal.
    escapes: usize,
}

/// Splits JavaScript source into tokens. Never fails: an unterminated literal ends at the end of
/// the source.
fn lex(src: &str) -> Vec<Tok> {
    let b: Vec<char> = src.chars().collect();
    let mut toks: Vec<Tok> = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    // Brace depth at which each open template literal's `${` started.
    let mut templates: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let adv = |i: &mut usize, line: &mut usize, col: &mut usize, c: char| {
        *i += 1;
        if c == '\n' {
            *line += 1;
            *col = 1;
        } else {
            *col += 1;
        }
    };
    while i < b.len() {
        let c = b[i];
        let (tl, tc) = (line, col);
        if c.is_whitespace() {
            adv(&mut i, &mut line, &mut col, c);
            continue;
        }
        if c == '/' && b.get(i + 1) == Some(&'/') {
            while i < b.len() && b[i] != '\n' {
                {
                    let c = b[i];
                    adv(&mut i, &mut line, &mut col, c);
                }
            }
            continue;
        }
        if c == '/' && b.get(i + 1) == Some(&'*') {
            adv(&mut i, &mut line, &mut col, '/');
            adv(&mut i, &mut line, &mut col, '*');
            while i < b.len() && !(b[i] == '*' && b.get(i + 1) == Some(&'/')) {
                {
                    let c = b[i];
                    adv(&mut i, &mut line, &mut col, c);
                }
            }
            i = (i + 2).min(b.len());
            col += 2;
            continue;
        }
        let template_resume = c == '}' && templates.last() == Some(&depth);
        if c == '`' || template_resume {
            if template_resume {
                templates.pop();
            }
            adv(&mut i, &mut line, &mut col, c);
            let mut text = String::new();
            let mut escapes = 0;
            while i < b.len() && b[i] != '`' {
                if b[i] == '\\' {
                    escapes += 1;
                    adv(&mut i, &mut line, &mut col, '\\');
                    if i < b.len() {
                        text.push(b[i]);
                        {
                            let c = b[i];
                            adv(&mut i, &mut line, &mut col, c);
                        }
                    }
                    continue;
                }
                if b[i] == '$' && b.get(i + 1) == Some(&'{') {
                    adv(&mut i, &mut line, &mut col, '$');
                    adv(&mut i, &mut line, &mut col, '{');
                    templates.push(depth);
                    break;
                }
                text.push(b[i]);
                {
                    let c = b[i];
                    adv(&mut i, &mut line, &mut col, c);
                }
            }
            if i < b.len() && b[i] == '`' {
                adv(&mut i, &mut line, &mut col, '`');
            }
            toks.push(Tok {
                kind: Kind::Template,
                text,
                line: tl,
                col: tc,
                escapes,
            });
            continue;
        }
        if c == '"' || c == '\'' {
            adv(&mut i, &mut line, &mut col, c);
            let mut text = String::new();
            let mut escapes = 0;
            while i < b.len() && b[i] != c && b[i] != '\n' {
                if b[i] == '\\' {
                    escapes += 1;
                    adv(&mut i, &mut line, &mut col, '\\');
                    let Some(&e) = b.get(i) else { break };
                    adv(&mut i, &mut line, &mut col, e);
                    // Decode \xHH and \uHHHH so "\x65val" reads as "eval".
                    let hex = |n: usize, i: &mut usize, col: &mut usize| -> Option<char> {
                        let s: String = b.get(*i..*i + n)?.iter().collect();
                        let v = u32::from_str_radix(&s, 16).ok()?;
                        *i += n;
                        *col += n;
                        char::from_u32(v)
                    };
                    match e {
                        'x' => text.extend(hex(2, &mut i, &mut col)),
                        'u' if b.get(i) != Some(&'{') => text.extend(hex(4, &mut i, &mut col)),
                        'n' => text.push('\n'),
                        't' => text.push('\t'),
                        other => text.push(other),
                    }
                    continue;
                }
                text.push(b[i]);
                {
                    let c = b[i];
                    adv(&mut i, &mut line, &mut col, c);
                }
            }
            if i < b.len() && b[i] == c {
                adv(&mut i, &mut line, &mut col, c);
            }
            toks.push(Tok {
                kind: Kind::Str,
                text,
                line: tl,
                col: tc,
                escapes,
            });
            continue;
        }
        if c == '/' && regex_allowed(toks.last()) {
            adv(&mut i, &mut line, &mut col, c);
            let mut class = false;
            while i < b.len() && b[i] != '\n' {
                let x = b[i];
                if x == '\\' {
                    adv(&mut i, &mut line, &mut col, x);
                    if i < b.len() {
                        {
                            let c = b[i];
                            adv(&mut i, &mut line, &mut col, c);
                        }
                    }
                    continue;
                }
                adv(&mut i, &mut line, &mut col, x);
                match x {
                    '[' => class = true,
                    ']' => class = false,
                    '/' if !class => break,
                    _ => {}
                }
            }
            while i < b.len() && b[i].is_ascii_alphabetic() {
                {
                    let c = b[i];
                    adv(&mut i, &mut line, &mut col, c);
                }
            }
            toks.push(Tok {
                kind: Kind::Regex,
                text: String::new(),
                line: tl,
                col: tc,
                escapes: 0,
            });
            continue;
        }
        if c.is_alphabetic() || c == '_' || c == '$' || c == '\\' {
            let mut text = String::new();
            while i < b.len()
                && (b[i].is_alphanumeric() || b[i] == '_' || b[i] == '$' || b[i] == '\\')
            {
                text.push(b[i]);
                {
                    let c = b[i];
                    adv(&mut i, &mut line, &mut col, c);
                }
            }
            toks.push(Tok {
                kind: Kind::Ident,
                text,
                line: tl,
                col: tc,
                escapes: 0,
            });
            continue;
        }
        if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '.' || b[i] == '_') {
                {
                    let c = b[i];
                    adv(&mut i, &mut line, &mut col, c);
                }
            }
            toks.push(Tok {
                kind: Kind::Number,
                text: String::new(),
                line: tl,
                col: tc,
                escapes: 0,
            });
            continue;
        }
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        // `?.` counts as `.` for property access.
        let text = if c == '?' && b.get(i + 1) == Some(&'.') {
            adv(&mut i, &mut line, &mut col, '?');
            ".".to_string()
        } else {
            c.to_string()
        };
        adv(&mut i, &mut line, &mut col, c);
        toks.push(Tok {
            kind: Kind::Punct,
            text,
            line: tl,
            col: tc,
            escapes: 0,
        });
    }
    toks
}

/// Whether a `/` after `prev` starts a regular expression (rather than dividing).
fn regex_allowed(prev: Option<&Tok>) -> bool {
    match prev {
        None => true,
        Some(t) => match t.kind {
            Kind::Ident => matches!(
                t.text.as_str(),
                "return"
                    | "typeof"
                    | "case"
                    | "do"
                    | "else"
                    | "in"
                    | "of"
                    | "new"
                    | "delete"
                    | "void"
                    | "throw"
                    | "instanceof"
                    | "yield"
                    | "await"
            ),
            Kind::Punct => !matches!(t.text.as_str(), ")" | "]" | "}"),
            _ => false,
        },
    }
}

/// What the bundle declares, in the sandbox's terms.
pub struct Declared<'a> {
    /// The manifest's permissions.
    pub permissions: &'a Permissions,
}

impl Declared<'_> {
    fn url_allowed(&self, url: &str) -> Option<bool> {
        let u = url::Url::parse(url).ok()?;
        let host = u.host_str()?;
        Some(
            self.permissions
                .network
                .domains
                .iter()
                .any(|d: &DomainPattern| d.matches(u.scheme(), host, u.port())),
        )
    }
}

struct Ctx<'a> {
    task: &'a str,
    file: &'a str,
    out: Vec<Finding>,
}

impl Ctx<'_> {
    fn add(&mut self, rule: &'static str, severity: Severity, t: &Tok, message: String) {
        self.out.push(Finding {
            rule,
            severity,
            task: self.task.to_string(),
            file: self.file.to_string(),
            line: t.line,
            column: t.col,
            message,
        });
    }
}

const GLOBAL_OBJECTS: [&str; 4] = ["globalThis", "window", "self", "global"];

/// Scans the JavaScript source of task `task` (file `file`, relative to the bundle).
pub fn scan_js(task: &str, file: &str, src: &str, declared: &Declared) -> Vec<Finding> {
    let mut cx = Ctx {
        task,
        file,
        out: Vec::new(),
    };
    if src.len() > MAX_SOURCE_BYTES {
        cx.out.push(Finding {
            rule: "oversized-source",
            severity: Severity::Error,
            task: task.into(),
            file: file.into(),
            line: 0,
            column: 0,
            message: format!(
                "{} bytes of source, more than the scan's limit of {MAX_SOURCE_BYTES}: it cannot be reviewed",
                src.len()
            ),
        });
        return cx.out;
    }
    let toks = lex(src);
    let is = |i: usize, s: &str| {
        toks.get(i)
            .is_some_and(|t| t.kind == Kind::Punct && t.text == s)
    };
    let ident = |i: usize, s: &str| {
        toks.get(i)
            .is_some_and(|t| t.kind == Kind::Ident && t.text == s)
    };
    // A property name: after `.` (but not `...`).
    let is_prop = |i: usize| i > 0 && is(i - 1, ".") && !(i > 1 && is(i - 2, "."));
    // A declaration or a key, not a use: `function eval`, `{ fetch: 1 }`, `let fetch`.
    let declares = |i: usize| {
        i > 0
            && toks[i - 1].kind == Kind::Ident
            && matches!(
                toks[i - 1].text.as_str(),
                "function" | "let" | "const" | "var" | "class"
            )
    };
    let is_key = |i: usize| is(i + 1, ":") && i > 0 && (is(i - 1, "{") || is(i - 1, ","));
    // A global reached by a computed name: `globalThis["ev" + "al"]`, `this["eval"]`.
    for (i, t) in toks.iter().enumerate() {
        let global = t.kind == Kind::Ident
            && (GLOBAL_OBJECTS.contains(&t.text.as_str()) || t.text == "this")
            && !is_prop(i)
            && is(i + 1, "[");
        if !global {
            continue;
        }
        match toks.get(i + 2) {
            Some(s) if s.kind == Kind::Str && is(i + 3, "]") => {
                let name = s.text.as_str();
                if matches!(name, "eval" | "Function") {
                    cx.add(
                        "eval",
                        Severity::Error,
                        s,
                        format!("`{}[\"{name}\"]` runs a string as code", t.text),
                    );
                } else if name == "fetch" {
                    // Reported below with the network rules.
                } else if matches!(name, "require" | "process") {
                    cx.add(
                        "module-loader",
                        Severity::Error,
                        s,
                        format!("`{}[\"{name}\"]`: the runtime has no `{name}`", t.text),
                    );
                }
            }
            _ if t.text == "this" => {}
            _ => cx.add(
                "computed-global",
                Severity::Warning,
                t,
                format!(
                    "`{}[…]` reaches a global by a computed name the scan cannot read",
                    t.text
                ),
            ),
        }
    }
    for (i, t) in toks.iter().enumerate() {
        match t.kind {
            Kind::Str | Kind::Template => {
                let long_escaped = t.escapes >= 16 && t.escapes * 3 >= t.text.chars().count();
                if long_escaped {
                    cx.add(
                        "obfuscation",
                        Severity::Error,
                        t,
                        format!(
                            "a string literal written as {} escape sequences hides what it says",
                            t.escapes
                        ),
                    );
                }
                let blob = t.text.len() >= 512
                    && t.text
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+/=_-".contains(c));
                if blob {
                    cx.add(
                        "encoded-blob",
                        Severity::Warning,
                        t,
                        format!(
                            "a {}-character encoded string (base64 or hex) may hide code or data",
                            t.text.len()
                        ),
                    );
                }
                continue;
            }
            Kind::Ident => {}
            _ => continue,
        }
        let name = t.text.as_str();
        let prop = is_prop(i);
        let call = is(i + 1, "(");
        if name.contains('\\') {
            cx.add(
                "obfuscation",
                Severity::Error,
                t,
                "an identifier written with unicode escapes hides its name".into(),
            );
            continue;
        }
        if is_hex_mangled(name) {
            cx.add("obfuscation", Severity::Error, t, format!("`{name}`: identifiers of the `_0x…` form are the mark of an obfuscator; ship the source as written"));
            continue;
        }
        if declares(i) || is_key(i) {
            continue;
        }
        // `obj.constructor.constructor("…")` or `(()=>{}).constructor("…")`: the Function constructor.
        if prop
            && name == "constructor"
            && (call || (is(i + 1, ".") && ident(i + 2, "constructor")))
        {
            cx.add(
                "function-constructor",
                Severity::Error,
                t,
                "`.constructor(…)` reaches the Function constructor, which runs a string as code"
                    .into(),
            );
            continue;
        }
        if prop {
            // Member uses: `std.getenv`, `os.exec`, `process.env.X`, `navigator.sendBeacon`.
            let obj = if i >= 2 {
                toks[i - 2].text.as_str()
            } else {
                ""
            };
            match (obj, name) {
                ("os", "exec") | ("std", "popen") | ("std", "system") => cx.add(
                    "undeclared-command",
                    Severity::Error,
                    t,
                    format!("`{obj}.{name}` starts a command; the JavaScript runtime offers no commands (task-abi.md §1.1)"),
                ),
                ("std", "open" | "loadFile" | "fdopen" | "writeFile") | ("os", "open" | "readdir" | "remove" | "rename" | "readlink") => cx.add(
                    "undeclared-file",
                    Severity::Error,
                    t,
                    format!("`{obj}.{name}` uses files; the JavaScript runtime has no file access (task-abi.md §1.1)"),
                ),
                ("std", "getenv") => env_use(&mut cx, declared, t, toks.get(i + 2).filter(|s| s.kind == Kind::Str && is(i + 1, "(")).map(|s| s.text.clone())),
                ("process", "env") => {
                    let var = if is(i + 1, ".") {
                        toks.get(i + 2).filter(|x| x.kind == Kind::Ident).map(|x| x.text.clone())
                    } else if is(i + 1, "[") {
                        toks.get(i + 2).filter(|x| x.kind == Kind::Str).map(|x| x.text.clone())
                    } else {
                        None
                    };
                    env_use(&mut cx, declared, t, var);
                }
                ("navigator", "sendBeacon") => network_use(&mut cx, declared, t, None, "navigator.sendBeacon"),
                _ => {}
            }
            continue;
        }
        match name {
            "eval" => cx.add(
                "eval",
                Severity::Error,
                t,
                "`eval` runs a string as code, which no review can check".into(),
            ),
            "Function" if call || (i > 0 && ident(i - 1, "new")) => cx.add(
                "function-constructor",
                Severity::Error,
                t,
                "the `Function` constructor runs a string as code".into(),
            ),
            "import" if call => cx.add(
                "dynamic-import",
                Severity::Error,
                t,
                "dynamic `import()` loads code chosen at run time; the runtime loads no modules"
                    .into(),
            ),
            "import" if i == 0 || is(i - 1, ";") || is(i - 1, "}") => cx.add(
                "module-loader",
                Severity::Error,
                t,
                "`import` of a module: the runtime has no modules (task-abi.md §1.1), only main.js"
                    .into(),
            ),
            "require" if call => {
                let module = toks
                    .get(i + 2)
                    .filter(|s| s.kind == Kind::Str)
                    .map(|s| s.text.clone());
                let what = module.as_deref().unwrap_or("…");
                let base = what.trim_start_matches("node:");
                let (rule, why) = match base {
                    "fs" | "fs/promises" | "path" => ("undeclared-file", "files"),
                    "child_process" => ("undeclared-command", "commands"),
                    "http" | "https" | "net" | "tls" | "dgram" | "dns" | "http2" => {
                        ("undeclared-network", "the network outside `fetch`")
                    }
                    _ => ("module-loader", "modules"),
                };
                cx.add(rule, Severity::Error, t, format!("`require(\"{what}\")` asks for {why}; the runtime has no `require` (task-abi.md §1.1)"));
            }
            "setTimeout" | "setInterval"
                if call
                    && toks
                        .get(i + 2)
                        .is_some_and(|s| matches!(s.kind, Kind::Str | Kind::Template)) =>
            {
                cx.add(
                    "eval",
                    Severity::Error,
                    t,
                    format!("`{name}` with a string runs it as code"),
                )
            }
            "fetch" => {
                let url = if call {
                    toks.get(i + 2)
                        .filter(|s| matches!(s.kind, Kind::Str | Kind::Template))
                        // A template with `${…}` is only a prefix; its host is still known when
                        // the substitution comes after it.
                        .map(|s| s.text.clone())
                } else {
                    None
                };
                network_use(&mut cx, declared, t, url, "fetch");
            }
            "XMLHttpRequest" | "WebSocket" | "EventSource" => {
                network_use(&mut cx, declared, t, None, name)
            }
            "debugger" => cx.add(
                "debugger",
                Severity::Warning,
                t,
                "a `debugger` statement was left in".into(),
            ),
            "atob" | "unescape" if call => cx.add(
                "obfuscation-marker",
                Severity::Warning,
                t,
                format!("`{name}(…)` decodes text at run time, a common way to hide strings"),
            ),
            "fromCharCode" => {}
            _ => {}
        }
        // `String.fromCharCode(104, 116, …)` with many codes builds a hidden string.
        if name == "String" && is(i + 1, ".") && ident(i + 2, "fromCharCode") && is(i + 3, "(") {
            let mut n = 0;
            let mut j = i + 4;
            while j < toks.len() && !is(j, ")") && n < 1000 {
                if toks[j].kind == Kind::Number {
                    n += 1;
                }
                j += 1;
            }
            if n >= 8 {
                cx.add("obfuscation", Severity::Error, t, format!("`String.fromCharCode` with {n} character codes builds a string that the source hides"));
            }
        }
    }
    // Minified code: very long lines cannot be reviewed.
    if let Some((n, l)) = src.lines().enumerate().find(|(_, l)| l.len() > 2000) {
        cx.out.push(Finding {
            rule: "minified",
            severity: Severity::Warning,
            task: task.into(),
            file: file.into(),
            line: n + 1,
            column: 1,
            message: format!(
                "a line of {} characters: minified code is hard to review; ship the source",
                l.len()
            ),
        });
    }
    cx.out.truncate(MAX_FINDINGS);
    cx.out
}

fn is_hex_mangled(name: &str) -> bool {
    name.strip_prefix("_0x")
        .is_some_and(|r| r.len() >= 4 && r.chars().all(|c| c.is_ascii_hexdigit()))
}

fn env_use(cx: &mut Ctx, declared: &Declared, t: &Tok, var: Option<String>) {
    let env = &declared.permissions.environment;
    match var {
        Some(v) if env.contains(&v) => cx.add(
            "environment-unavailable",
            Severity::Warning,
            t,
            format!("reads environment variable `{v}` (declared), but the JavaScript runtime has no `process` or `std`: it is never set there (task-abi.md §1.1)"),
        ),
        Some(v) => cx.add(
            "undeclared-environment",
            Severity::Error,
            t,
            format!("reads environment variable `{v}`, which permissions.environment does not declare"),
        ),
        None if env.is_empty() => cx.add(
            "undeclared-environment",
            Severity::Error,
            t,
            "reads the environment, and permissions.environment declares no variable".into(),
        ),
        None => cx.add(
            "environment-unavailable",
            Severity::Warning,
            t,
            "reads the environment by a computed name; the JavaScript runtime has no `process`".into(),
        ),
    }
}

fn network_use(cx: &mut Ctx, declared: &Declared, t: &Tok, url: Option<String>, what: &str) {
    let domains = &declared.permissions.network.domains;
    if what != "fetch" {
        cx.add(
            "undeclared-network",
            Severity::Error,
            t,
            format!("`{what}` is not offered by the runtime: the network is reached only through `fetch` to declared domains"),
        );
        return;
    }
    match url.as_deref().map(|u| (u, declared.url_allowed(u))) {
        Some((u, Some(false))) => cx.add(
            "undeclared-network",
            Severity::Error,
            t,
            format!(
                "fetches `{u}`, whose host permissions.network.domains does not allow{}",
                if domains.is_empty() { " (none declared)" } else { "" }
            ),
        ),
        Some((_, Some(true))) => {}
        _ if domains.is_empty() => cx.add(
            "undeclared-network",
            Severity::Error,
            t,
            "uses `fetch`, but the bundle declares no network domains (every request would be refused)".into(),
        ),
        // A URL computed at run time: the sandbox checks it against the declared domains.
        _ => {}
    }
}

/// What a WebAssembly task's imports (`module.field`) show, against what the bundle declares.
pub fn scan_wasm_imports(
    task: &str,
    file: &str,
    imports: &[String],
    permissions: &Permissions,
) -> Vec<Finding> {
    let has = |m: &str, f: &str| imports.iter().any(|i| i.split_once('.') == Some((m, f)));
    let mut out = Vec::new();
    let mut add = |rule: &'static str, severity, message: String| {
        out.push(Finding {
            rule,
            severity,
            task: task.into(),
            file: file.into(),
            line: 0,
            column: 0,
            message,
        })
    };
    if has("ratchet", "fetch") && permissions.network.domains.is_empty() {
        add("undeclared-network", Severity::Error, "imports ratchet.fetch but the bundle declares no network domains (every fetch would be refused)".into());
    }
    if has("ratchet", "command") && permissions.commands.is_empty() {
        add("undeclared-command", Severity::Error, "imports ratchet.command but the bundle declares no commands (every command would be refused)".into());
    }
    let fs = &permissions.filesystem;
    // libc links these for any use of files or getenv, so they are warnings: the sandbox shows
    // the task nothing undeclared.
    if has("wasi_snapshot_preview1", "path_open") && fs.read.is_empty() && fs.write.is_empty() {
        add(
            "undeclared-file",
            Severity::Warning,
            "imports path_open but the bundle declares no filesystem paths (every open fails)"
                .into(),
        );
    }
    if has("wasi_snapshot_preview1", "environ_get") && permissions.environment.is_empty() {
        add(
            "undeclared-environment",
            Severity::Warning,
            "imports environ_get but the bundle declares no environment variables (it sees none)"
                .into(),
        );
    }
    out
}

/// Applies a check's `allow:` list: an allowed finding becomes a warning saying so.
pub fn apply_allow(findings: &mut [Finding], allow: &[String]) {
    for f in findings {
        if f.severity == Severity::Error && allow.iter().any(|a| a == f.rule) {
            f.severity = Severity::Warning;
            f.message.push_str(" (allowed by bundle-tests.yaml)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perms(yaml: &str) -> Permissions {
        serde_norway::from_str(yaml).unwrap()
    }

    fn rules(src: &str, p: &Permissions) -> Vec<(&'static str, Severity)> {
        scan_js("t", "tasks/t/main.js", src, &Declared { permissions: p })
            .into_iter()
            .map(|f| (f.rule, f.severity))
            .collect()
    }

    #[test]
    fn eval_and_friends() {
        let p = Permissions::default();
        assert_eq!(rules("eval('1+1')", &p), [("eval", Severity::Error)]);
        assert_eq!(
            rules("const e = eval; e(x)", &p),
            [("eval", Severity::Error)]
        );
        assert_eq!(
            rules("new Function('return 1')", &p),
            [("function-constructor", Severity::Error)]
        );
        assert_eq!(
            rules("[].constructor.constructor('x')()", &p)[0].0,
            "function-constructor"
        );
        assert_eq!(
            rules("import('./x.js')", &p),
            [("dynamic-import", Severity::Error)]
        );
        assert_eq!(
            rules("globalThis['ev' + 'al'](s)", &p),
            [("computed-global", Severity::Warning)]
        );
        assert_eq!(rules("globalThis[\"\\x65val\"](s)", &p)[0].0, "eval");
        assert_eq!(
            rules("setTimeout('alert(1)', 5)", &p),
            [("eval", Severity::Error)]
        );
        // Words in comments, strings, regexes and property names are not code.
        assert!(rules("// eval(x)\n/* new Function */ const s = 'eval(1)'; const r = /eval\\(/; o.eval = 1; function f(){ return { eval: 2 } }", &p).is_empty());
    }

    #[test]
    fn obfuscation() {
        let p = Permissions::default();
        assert_eq!(
            rules("var _0x1a2b = ['x']; f(_0x1a2b[0])", &p)[0].0,
            "obfuscation"
        );
        let escaped = format!("const s = \"{}\";", "\\x41".repeat(20));
        assert_eq!(rules(&escaped, &p), [("obfuscation", Severity::Error)]);
        assert_eq!(
            rules("String.fromCharCode(104,116,116,112,115,58,47,47)", &p)[0].0,
            "obfuscation"
        );
        assert_eq!(
            rules(&format!("x = {};", "1+".repeat(1200) + "1"), &p),
            [("minified", Severity::Warning)]
        );
    }

    #[test]
    fn network_against_declared_domains() {
        let none = Permissions::default();
        assert_eq!(
            rules("fetch('https://api.example.com/x')", &none),
            [("undeclared-network", Severity::Error)]
        );
        assert_eq!(
            rules("const r = fetch(url)", &none),
            [("undeclared-network", Severity::Error)]
        );
        let p = perms("network: {domains: [api.example.com]}");
        assert!(rules("fetch('https://api.example.com/x'); fetch(url); fetch(`https://api.example.com/${id}`)", &p).is_empty());
        assert_eq!(
            rules("fetch('https://evil.example.net/')", &p),
            [("undeclared-network", Severity::Error)]
        );
        assert_eq!(
            rules("fetch('http://api.example.com/')", &p),
            [("undeclared-network", Severity::Error)],
            "http needs http:// in the pattern"
        );
        assert_eq!(rules("new WebSocket(u)", &p)[0].0, "undeclared-network");
    }

    #[test]
    fn files_commands_environment() {
        let none = Permissions::default();
        assert_eq!(
            rules("const fs = require('fs')", &none),
            [("undeclared-file", Severity::Error)]
        );
        assert_eq!(
            rules("require('node:child_process').exec('ls')", &none)[0].0,
            "undeclared-command"
        );
        assert_eq!(
            rules("os.exec(['ls'])", &none),
            [("undeclared-command", Severity::Error)]
        );
        assert_eq!(
            rules("const t = process.env.API_TOKEN", &none),
            [("undeclared-environment", Severity::Error)]
        );
        let p = perms("environment: [API_TOKEN]");
        assert_eq!(
            rules("process.env['API_TOKEN']", &p),
            [("environment-unavailable", Severity::Warning)]
        );
        assert_eq!(
            rules("std.getenv('HOME')", &p),
            [("undeclared-environment", Severity::Error)]
        );
    }

    #[test]
    fn allow_turns_an_error_into_a_warning() {
        let p = Permissions::default();
        let mut f = scan_js("t", "m.js", "eval(x)", &Declared { permissions: &p });
        apply_allow(&mut f, &["eval".into()]);
        assert_eq!(f[0].severity, Severity::Warning);
    }

    #[test]
    fn wasm_imports() {
        let p = Permissions::default();
        let f = scan_wasm_imports(
            "t",
            "m.wasm",
            &[
                "ratchet.fetch".into(),
                "wasi_snapshot_preview1.environ_get".into(),
            ],
            &p,
        );
        assert_eq!(
            f.iter().map(|f| (f.rule, f.severity)).collect::<Vec<_>>(),
            [
                ("undeclared-network", Severity::Error),
                ("undeclared-environment", Severity::Warning)
            ]
        );
    }
}
