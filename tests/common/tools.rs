//! The system tools some tests run (nginx, openssl, minisign, clang): no test skips in silence.
//!
//! A test that needs a tool which is not installed fails, naming the Debian package and
//! `scripts/setup.sh` (which installs every package the tests need) — unless the environment
//! variable `RATCHET_TEST_SKIP` lists the tool's group (`RATCHET_TEST_SKIP=nginx,minisign`, or
//! `all`). Then the test appends "group: test: reason" to the skip log and passes; the README's
//! test command (`scripts/test.sh`) prints that log after the run. The skip log is
//! `$RATCHET_TEST_SKIP_LOG`, else `ratchet-skipped-tests.txt` in cargo's `CARGO_TARGET_TMPDIR`.
//!
//! `RATCHET_TEST_TOOL_<NAME>` (e.g. `RATCHET_TEST_TOOL_NGINX=/opt/nginx/sbin/nginx`) names the
//! binary to use instead of looking it up; pointing it at a file that does not exist simulates a
//! machine without the tool.
//!
//! This file is shared by `tests/common/mod.rs` and `index-tools/tests/common/mod.rs`.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The variable listing the groups of tests to skip when their tools are missing.
pub const SKIP_VAR: &str = "RATCHET_TEST_SKIP";

/// The variable naming the skip log.
pub const SKIP_LOG_VAR: &str = "RATCHET_TEST_SKIP_LOG";

/// Directories searched after `PATH`: nginx lives in `/usr/sbin`, which is not on a normal
/// user's `PATH`.
const SBIN: [&str; 3] = ["/usr/sbin", "/sbin", "/usr/local/sbin"];

/// `RATCHET_TEST_TOOL_<BINARY>`: `-` and `.` become `_`, letters upper case.
pub fn override_var(binary: &str) -> String {
    let name: String = binary
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("RATCHET_TEST_TOOL_{name}")
}

/// Where `binary` is: the file its override variable names, else the first executable file of
/// that name in `PATH`, `/usr/sbin`, `/sbin` and `/usr/local/sbin`. `None` when there is none.
pub fn find_tool(binary: &str) -> Option<PathBuf> {
    let (name, dirs): (String, Vec<PathBuf>) = match std::env::var_os(override_var(binary)) {
        Some(o) if Path::new(&o).components().count() > 1 => {
            let p = PathBuf::from(o);
            return is_executable(&p).then_some(p);
        }
        Some(o) => (o.to_string_lossy().into_owned(), search_dirs()),
        None => (binary.to_string(), search_dirs()),
    };
    dirs.into_iter()
        .map(|d| d.join(&name))
        .find(|p| is_executable(p))
}

fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(SBIN.iter().map(PathBuf::from));
    dirs
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Whether `RATCHET_TEST_SKIP` opts `group` out (a list separated by commas or spaces; `all`
/// names every group).
pub fn opted_out(group: &str) -> bool {
    std::env::var(SKIP_VAR).is_ok_and(|v| {
        v.split([',', ' '])
            .map(str::trim)
            .any(|g| g == group || g == "all")
    })
}

/// The skip log's path.
pub fn skip_log() -> PathBuf {
    std::env::var_os(SKIP_LOG_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("ratchet-skipped-tests.txt"))
}

/// The running test as `test-binary::test_name` (libtest names each test's thread after it).
pub fn current_test() -> String {
    let t = std::thread::current();
    let name = match t.name() {
        Some(n) if n != "main" => n.to_string(),
        _ => "(a test run on the main thread)".to_string(),
    };
    format!("{}::{name}", env!("CARGO_CRATE_NAME"))
}

/// Records that the current test skipped itself (one line in the skip log, and on stderr).
pub fn record_skip(group: &str, reason: &str) {
    let line = format!("{group}: {}: {reason}", current_test());
    eprintln!("skipped: {line}");
    let log = skip_log();
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        // One write per line: O_APPEND keeps the lines of tests running in parallel whole.
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = written {
        panic!(
            "cannot record the skip of {line:?} in {}: {e}",
            log.display()
        );
    }
}

/// Where `binary` was looked for.
fn looked_in(binary: &str) -> String {
    let var = override_var(binary);
    match std::env::var_os(&var) {
        Some(o) => format!("{var}={}", o.to_string_lossy()),
        None => "PATH, /usr/sbin, /sbin, /usr/local/sbin".to_string(),
    }
}

/// What a missing tool's failure says: where it looked and what to install.
fn not_found(binary: &str, package: &str) -> String {
    format!(
        "`{binary}` not found (looked in {}); install the Debian package {package} \
         (scripts/setup.sh installs every package the tests need)",
        looked_in(binary)
    )
}

/// `binary`'s path, when it is installed. When it is not: if `RATCHET_TEST_SKIP` opts `group`
/// out, records the skip of the current test and returns `None` (the test then returns early
/// and passes); otherwise panics with a message naming `package` and `scripts/setup.sh`.
pub fn tool(group: &str, binary: &str, package: &str) -> Option<PathBuf> {
    if let Some(p) = find_tool(binary) {
        return Some(p);
    }
    if opted_out(group) {
        let looked = looked_in(binary);
        record_skip(
            group,
            &format!("`{binary}` not found ({looked}; Debian package {package})"),
        );
        return None;
    }
    let why = not_found(binary, package);
    panic!("{why}, or set {SKIP_VAR}={group} to skip the tests that need it");
}

/// Whether the current test may run: `binary` is installed. `false` when it is not and
/// `RATCHET_TEST_SKIP` opts `group` out (the skip is recorded); a panic naming `package` and
/// `scripts/setup.sh` when it is not and the group is not opted out.
pub fn require_tool(group: &str, binary: &str, package: &str) -> bool {
    tool(group, binary, package).is_some()
}

/// `binary`'s path, for a tool no test may skip: panics naming `package` and `scripts/setup.sh`
/// when it is missing. `why` says why it cannot be skipped.
pub fn needed_tool(binary: &str, package: &str, why: &str) -> PathBuf {
    find_tool(binary).unwrap_or_else(|| panic!("{}; {why}", not_found(binary, package)))
}
