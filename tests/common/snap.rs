//! Snapshot helpers for the CLI output tests of both binaries (`tests/cli_snapshots.rs` and
//! `index-tools/tests/cli_snapshots.rs` include this file): a command's exit code, stdout and
//! stderr as one text, and insta settings whose filters replace what differs between machines
//! and runs, so the committed `.snap` files hold on any machine:
//!
//! - the test's work directory (temp paths, `file://` URLs of it) becomes `[WORK]`;
//! - sha256 hashes (64 lower-case hex digits) become `[SHA256]`;
//! - minisign key ids (16 upper-case hex digits) become `[KEYID]`;
//! - RFC 3339 times become `[TIME]`;
//! - the tool's own version (`ratchet 0.1.0`, `ratchet-index 0.1.0`) becomes `[VERSION]`.

// Each binary's snapshot file uses its own part of these helpers.
#![allow(dead_code)]

use std::path::Path;
use std::process::Output;

/// `exit: CODE`, then stdout and stderr under their own headings, with `work` (as given and
/// canonicalized) replaced by `[WORK]`.
pub fn render(o: &Output, work: &Path) -> String {
    let code = o
        .status
        .code()
        .map_or_else(|| "signal".to_string(), |c| c.to_string());
    let mut s = format!(
        "exit: {code}\n--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let mut roots = vec![work.display().to_string()];
    if let Ok(c) = work.canonicalize() {
        roots.push(c.display().to_string());
    }
    // The longer first, so that one root inside another is replaced whole.
    roots.sort_by_key(|r| std::cmp::Reverse(r.len()));
    for r in roots {
        s = s.replace(&r, "[WORK]");
    }
    s
}

/// insta settings with the filters listed in the module doc, to bind for a test's scope.
pub fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\b[0-9a-f]{64}\b", "[SHA256]");
    s.add_filter(r"\b[0-9A-F]{16}\b", "[KEYID]");
    s.add_filter(
        r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
        "[TIME]",
    );
    s.add_filter(
        &format!(
            r"\b(ratchet(-index)?) {}\b",
            env!("CARGO_PKG_VERSION").replace('.', r"\.")
        ),
        "$1 [VERSION]",
    );
    s.set_prepend_module_to_snapshot(false);
    s
}

/// [`settings`] that also replace sizes by `[SIZE]` (`N KiB`, JSON `"size"` and `"bytes"`):
/// for output about signed archives, whose size changes by a few bytes from one signing to the
/// next (minisign adds random noise to each signature, and the archive is compressed).
pub fn settings_signed() -> insta::Settings {
    let mut s = settings();
    s.add_filter(r"\b\d+(\.\d+)? KiB\b", "[SIZE]");
    s.add_filter(r#""(size|bytes)": \d+"#, r#""$1": [SIZE]"#);
    s
}
