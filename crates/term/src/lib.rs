//! `ratchet-term`: what both command lines (`ratchet` and `ratchet-index`) share when they talk
//! to a terminal. Libraries return values and events; only the CLIs render, through this crate.
//!
//! - [`GlobalArgs`]: the flags every command of both binaries takes (`--format`, `-q`, `-v`,
//!   `--color`), flattened into each CLI's top-level parser;
//! - [`Output`]: what those flags decided, set once in `main` ([`Output::install`]) and read by
//!   every handler through [`out`];
//! - [`report_error`]: the one error-chain printer (text, or one JSON object on stderr when JSON
//!   was asked for);
//! - [`completions`] and [`man_pages`]: shell completion scripts and roff man pages generated
//!   from a CLI's clap definition, so both binaries document exactly the flags they parse;
//! - [`UsageError`] and [`exit_code_for`]: exit status 0 on success, 1 on failure, 2 on a usage
//!   error (as clap's own);
//! - [`escape`]: makes a string that came from a bundle, a registry or a task safe to print
//!   (control characters and bidi overrides made visible);
//! - [`audit`]: how both show an audit log's verification, export format and prune.

pub mod audit;

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

/// Output format of every printing command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people.
    #[default]
    Text,
    /// For tools: one JSON document on stdout (schemas in `cli-output.md`); errors as one JSON
    /// object on stderr.
    Json,
}

/// When to colour output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set.
    #[default]
    Auto,
    /// Always (even through a pipe).
    Always,
    /// Never.
    Never,
}

/// Flags shared by every command of both binaries.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct GlobalArgs {
    /// Output format: text for people, json for tools (schemas in cli-output.md).
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print only errors and the result itself.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more (repeat for more detail).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Colour: auto (on a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// What the global flags decided for this process.
#[derive(Clone, Debug)]
pub struct Output {
    /// The output format.
    pub format: Format,
    /// -1 quiet, 0 normal, 1.. verbose.
    pub verbosity: i8,
    /// Whether stdout may carry colour.
    pub color_stdout: bool,
    /// Whether stderr may carry colour.
    pub color_stderr: bool,
    /// Whether stderr is a terminal (progress bars, prompts).
    pub stderr_is_terminal: bool,
}

impl Default for Output {
    fn default() -> Self {
        Output {
            format: Format::Text,
            verbosity: 0,
            color_stdout: false,
            color_stderr: false,
            stderr_is_terminal: false,
        }
    }
}

static OUTPUT: OnceLock<Output> = OnceLock::new();

impl Output {
    /// Decides the output from the flags, the environment (`NO_COLOR`) and whether the streams
    /// are terminals.
    pub fn from_args(args: &GlobalArgs) -> Output {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let stdout_tty = std::io::stdout().is_terminal();
        let stderr_tty = std::io::stderr().is_terminal();
        let color = |tty: bool| match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        Output {
            format: args.format,
            verbosity: if args.quiet {
                -1
            } else {
                args.verbose.min(i8::MAX as u8) as i8
            },
            color_stdout: color(stdout_tty),
            color_stderr: color(stderr_tty),
            stderr_is_terminal: stderr_tty,
        }
    }

    /// Makes this the process's output settings (first call wins) and returns them.
    pub fn install(self) -> &'static Output {
        OUTPUT.get_or_init(|| self)
    }

    /// JSON was asked for.
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }

    /// `-q` was given.
    pub fn quiet(&self) -> bool {
        self.verbosity < 0
    }

    /// `-v` was given at least `level` times.
    pub fn verbose(&self, level: i8) -> bool {
        self.verbosity >= level
    }

    /// Prints a progress or status line on stderr, unless quiet or JSON output (where stderr is
    /// reserved for errors). The text is printed as given: escape hostile parts first.
    pub fn status(&self, line: impl std::fmt::Display) {
        if !self.quiet() && !self.json() {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }

    /// Prints a warning on stderr (also under `-q`; not under JSON output, where warnings
    /// travel in the document).
    pub fn warn(&self, line: impl std::fmt::Display) {
        if !self.json() {
            let prefix = self.paint_stderr("warning:", "33");
            let _ = writeln!(std::io::stderr().lock(), "{prefix} {line}");
        }
    }

    /// `text` in the ANSI colour `code` when stderr takes colour.
    pub fn paint_stderr(&self, text: &str, code: &str) -> String {
        paint(self.color_stderr, text, code)
    }

    /// `text` in the ANSI colour `code` when stdout takes colour.
    pub fn paint_stdout(&self, text: &str, code: &str) -> String {
        paint(self.color_stdout, text, code)
    }
}

fn paint(on: bool, text: &str, code: &str) -> String {
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// The process's output settings ([`Output::install`]d in `main`; defaults before that).
pub fn out() -> &'static Output {
    OUTPUT.get_or_init(Output::default)
}

/// Prints an error with its chain of causes on stderr: text (`error: ...` then `caused by:`
/// lines, each cause said once) or, under `--format json`, one JSON object
/// `{"error": {"message": ..., "causes": [...]}}`. Every string is escaped for the terminal.
pub fn report_error(e: &(dyn std::error::Error + 'static)) {
    let mut causes = Vec::new();
    let mut said = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        // Many messages already end with their cause; say each thing once.
        let text = s.to_string();
        if !said.contains(&text) {
            causes.push(text.clone());
            said = text;
        }
        source = s.source();
    }
    let o = out();
    let mut err = std::io::stderr().lock();
    if o.json() {
        let doc = serde_json::json!({"error": {"message": e.to_string(), "causes": causes}});
        let _ = writeln!(err, "{doc}");
    } else {
        let _ = writeln!(
            err,
            "{} {}",
            o.paint_stderr("error:", "1;31"),
            escape(&e.to_string())
        );
        for c in causes {
            let _ = writeln!(err, "  caused by: {}", escape(&c));
        }
    }
}

/// Exit status of a command that failed because of how it was called (a usage error), the
/// same status clap gives its own usage errors. Success is 0, any other failure 1.
pub const EXIT_USAGE: u8 = 2;

/// An error in how the command was called (a missing or malformed argument that clap cannot
/// check): reported like any error, but the process exits with [`EXIT_USAGE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl UsageError {
    /// A usage error saying `msg`.
    pub fn new(msg: impl std::fmt::Display) -> Self {
        UsageError(msg.to_string())
    }
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The exit code for an error a command returned: [`EXIT_USAGE`] when it (or a cause) is a
/// [`UsageError`], else 1.
pub fn exit_code_for(e: &(dyn std::error::Error + 'static)) -> std::process::ExitCode {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<UsageError>() {
            return std::process::ExitCode::from(EXIT_USAGE);
        }
        cur = err.source();
    }
    std::process::ExitCode::FAILURE
}

/// Reports an error (as [`report_error`]) and returns its exit code (as [`exit_code_for`]):
/// what both binaries' `main` does with the error of a command.
pub fn fail(e: &(dyn std::error::Error + 'static)) -> std::process::ExitCode {
    report_error(e);
    exit_code_for(e)
}

/// Parses the command line into `P`, like `P::parse()`, except that a usage error under
/// `--format json` is one JSON error object on stderr (as [`report_error`] writes), still with
/// clap's exit status 2. Help and version requests print as usual.
pub fn parse_args<P: clap::Parser>() -> P {
    let e = match P::try_parse() {
        Ok(p) => return p,
        Err(e) => e,
    };
    use clap::error::ErrorKind;
    let shows = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if shows || !json_requested(std::env::args_os().skip(1)) {
        e.exit();
    }
    let rendered = e.render().to_string();
    // The error (with the arguments it lists) is the message; the tip and usage lines follow.
    let lines: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let split = lines
        .iter()
        .position(|l| l.starts_with("Usage:") || l.starts_with("tip:") || l.starts_with("For more"))
        .unwrap_or(lines.len());
    let message = lines[..split].join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    let hints = &lines[split..];
    let doc = serde_json::json!({"error": {"message": message, "causes": hints}});
    let _ = writeln!(std::io::stderr().lock(), "{doc}");
    std::process::exit(e.exit_code());
}

/// Whether the arguments ask for `--format json` (before a `--`).
fn json_requested(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    let mut prev_format = false;
    for a in args {
        let a = a.to_string_lossy();
        if a == "--" {
            break;
        }
        if (prev_format && a == "json") || a == "--format=json" {
            return true;
        }
        prev_format = a == "--format";
    }
    false
}

/// A shell that `completions` writes a script for.
pub use clap_complete::Shell;

/// Writes the completion script of `cmd` (a CLI's whole clap definition) for `shell` to `out`.
pub fn completions(
    mut cmd: clap::Command,
    shell: Shell,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, out);
    out.flush()
}

/// Writes man pages of `cmd` (a CLI's whole clap definition): with `dir`, one roff page per
/// command and subcommand (`ratchet.1`, `ratchet-bundle.1`, `ratchet-bundle-build.1`, ...),
/// creating the directory, and returns the files written; without, prints the top page on
/// stdout and returns nothing.
pub fn man_pages(
    mut cmd: clap::Command,
    dir: Option<&std::path::Path>,
) -> std::io::Result<Vec<std::path::PathBuf>> {
    // Building propagates the version and the binary names down to every subcommand.
    cmd.build();
    let Some(dir) = dir else {
        let mut stdout = std::io::stdout().lock();
        clap_mangen::Man::new(cmd).render(&mut stdout)?;
        stdout.flush()?;
        return Ok(Vec::new());
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
    let mut written = Vec::new();
    // Every page names the program and its version (a subcommand has no version of its own).
    let source = format!(
        "{} {}",
        cmd.get_name(),
        cmd.get_version().unwrap_or_default()
    );
    write_man_tree(cmd, dir, &source, &mut written)?;
    Ok(written)
}

fn write_man_tree(
    cmd: clap::Command,
    dir: &std::path::Path,
    source: &str,
    written: &mut Vec<std::path::PathBuf>,
) -> std::io::Result<()> {
    // Sub-pages are named by their path of commands (`ratchet-bundle-build`), as git's and
    // cargo's are; a subcommand's own `name` is just its last word.
    let page = cmd.get_display_name().unwrap_or(cmd.get_name()).to_string();
    let path = dir.join(format!("{page}.1"));
    let mut bytes = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .source(source)
        .render(&mut bytes)?;
    std::fs::write(&path, bytes)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    written.push(path);
    for sub in cmd.get_subcommands() {
        // `help` is clap's own subcommand, added by building: it has no page of its own.
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        let sub = sub
            .clone()
            .display_name(format!("{page}-{}", sub.get_name()));
        write_man_tree(sub, dir, source, written)?;
    }
    Ok(())
}

/// Prints `value` as pretty JSON on stdout (the document of a `--format json` command).
pub fn print_json(value: &impl serde::Serialize) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value).map_err(std::io::Error::other)?;
    writeln!(stdout)
}

/// Makes a string safe to print on a terminal: C0 and C1 control characters (except newline and
/// tab), DEL, and Unicode bidi controls and other invisible format characters become visible
/// escapes (`\x1b`, `\u{202e}`), so text from a bundle, a registry or a task can neither move the
/// cursor, retitle the window, write the clipboard, nor reorder what the reader sees. A
/// backslash is left as it is.
pub fn escape(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            if (c as u32) < 0x100 {
                let _ = write!(out, "\\x{:02x}", c as u32);
            } else {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Like [`escape`], but a newline is escaped too: for values shown on one line.
pub fn escape_line(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains('\n') {
        return escape(s);
    }
    std::borrow::Cow::Owned(escape(s).replace('\n', "\\n"))
}

/// Whether `c` must not reach a terminal as it is: the one definition readers also use to
/// refuse such characters in names and paths (`ratchet_formats::text`).
pub fn needs_escape(c: char) -> bool {
    ratchet_formats::text::is_unsafe_char(c)
}

/// Makes the process end quietly, like other Unix tools, when the reader of its output goes
/// away (`ratchet ... | head`). Rust ignores SIGPIPE by default, which turns every later print
/// into a panic. Call it first thing in `main`, before any thread starts.
pub fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: sets the default disposition of one signal; no handler runs our code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Caps glibc's malloc at two arenas, as a command's process starts (before it starts any
/// thread). glibc gives each thread that allocates under contention an arena of its own, up to
/// eight per core, and freed memory stays in the arena it came from: a wide install's dozen
/// short-lived worker threads left megabytes spread over a dozen arenas. Two keep the peak
/// lower with no measurable cost in time on two cores (the registry bench prints the peak
/// beside cargo's). Other C libraries: nothing to do.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: sets one allocator parameter; called by `main` before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_terminal_controls_and_bidi() {
        assert_eq!(escape("plain text\nok\t!"), "plain text\nok\t!");
        assert_eq!(escape("\x1b]52;c;AAAA\x07"), "\\x1b]52;c;AAAA\\x07");
        assert_eq!(escape("a\rb"), "a\\x0db");
        assert_eq!(escape("evil\u{202e}txt"), "evil\\u{202e}txt");
        assert_eq!(escape("\u{9b}2J"), "\\x9b2J");
        assert_eq!(escape("zero\u{200b}width"), "zero\\u{200b}width");
        assert_eq!(escape_line("two\nlines"), "two\\nlines");
        assert!(matches!(escape("é ünïcode"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn json_is_requested_before_a_double_dash_only() {
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(json_requested(
            args(&["list", "--format", "json"]).into_iter()
        ));
        assert!(json_requested(args(&["--format=json", "list"]).into_iter()));
        assert!(!json_requested(args(&["--format", "text"]).into_iter()));
        assert!(!json_requested(
            args(&["run", "--", "--format", "json"]).into_iter()
        ));
    }

    #[test]
    fn usage_errors_exit_2_wherever_they_are_in_the_chain() {
        #[derive(Debug)]
        struct Wrap(UsageError);
        impl std::fmt::Display for Wrap {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "wrapped")
            }
        }
        impl std::error::Error for Wrap {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let usage = UsageError::new("bad flag");
        assert_eq!(
            exit_code_for(&usage),
            std::process::ExitCode::from(EXIT_USAGE)
        );
        assert_eq!(
            exit_code_for(&Wrap(usage)),
            std::process::ExitCode::from(EXIT_USAGE)
        );
        let io = std::io::Error::other("disk full");
        assert_eq!(exit_code_for(&io), std::process::ExitCode::FAILURE);
    }

    #[test]
    fn quiet_and_verbose_levels() {
        let args = GlobalArgs {
            quiet: true,
            ..Default::default()
        };
        let o = Output::from_args(&args);
        assert!(o.quiet() && !o.verbose(1));
        let args = GlobalArgs {
            verbose: 2,
            color: ColorChoice::Always,
            format: Format::Json,
            ..Default::default()
        };
        let o = Output::from_args(&args);
        assert!(o.verbose(2) && !o.verbose(3) && o.json() && o.color_stdout);
        let args = GlobalArgs {
            color: ColorChoice::Never,
            ..Default::default()
        };
        assert!(!Output::from_args(&args).color_stderr);
    }
}
