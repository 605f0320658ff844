//! How both command lines show the audit log: `ratchet audit` (the client's log) and
//! `ratchet-index audit` (a registry's) verify, export and prune logs of the same format, so they
//! parse `--to` and print the outcome in one place.

use crate::{UsageError, escape, out, print_json};
use ratchet_audit::{Format, Head, Pruned, Verified};
use serde_json::json;
use std::io::Write;
use std::path::Path;

/// The export format `--to NAME` (or a policy's `export_format`) names; JSON lines when none.
pub fn export_format(name: Option<&str>) -> Result<Format, UsageError> {
    match name {
        None => Ok(Format::JsonLines),
        Some(n) => Format::parse(n).ok_or_else(|| {
            UsageError::new(format!(
                "--to `{}`: use json, cef, syslog or siem",
                escape(n)
            ))
        }),
    }
}

/// The head `--head SEQ:HASH` names, if given.
pub fn head_arg(head: Option<&str>) -> Result<Option<Head>, UsageError> {
    head.map(|h| {
        ratchet_audit::parse_head(h).ok_or_else(|| {
            UsageError::new(format!(
                "--head `{}`: expected SEQ:HASH (64 hex digits)",
                escape(h)
            ))
        })
    })
    .transpose()
}

/// Prints what verifying the log at `path` found: its head and entry range, or that it is
/// empty (a `verified` object with `--format json`).
pub fn print_verified(v: &Verified, path: &Path) -> std::io::Result<()> {
    if out().json() {
        return print_json(&json!({ "verified": v }));
    }
    let file = path.display().to_string();
    // Written, not `println!`ed: a closed stdout is an error to report, not a panic.
    let mut stdout = std::io::stdout().lock();
    match &v.head {
        None => writeln!(stdout, "{}: empty log", escape(&file)),
        Some(h) => writeln!(
            stdout,
            "{}: {} entries verified (entries {} to {}); head {}:{}",
            escape(&file),
            v.entries,
            v.first_seq,
            h.seq,
            h.seq,
            h.hash
        ),
    }
}

/// Prints what a prune removed and kept (a `pruned` object with `--format json`).
pub fn print_pruned(p: &Pruned) -> std::io::Result<()> {
    if out().json() {
        return print_json(&json!({ "pruned": p }));
    }
    writeln!(
        std::io::stdout().lock(),
        "{} entries removed, {} kept",
        p.removed,
        p.kept
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_format_names_and_default() {
        assert_eq!(export_format(None).unwrap(), Format::JsonLines);
        assert_eq!(export_format(Some("siem")).unwrap(), Format::Cef);
        assert_eq!(export_format(Some("rfc5424")).unwrap(), Format::Syslog);
        let e = export_format(Some("x\u{1b}ml")).unwrap_err().to_string();
        assert!(e.contains("x\\x1bml"), "{e}");
        assert!(e.contains("use json, cef, syslog or siem"), "{e}");
    }

    #[test]
    fn head_arg_parses_or_names_the_flag() {
        assert_eq!(head_arg(None).unwrap(), None);
        let h = head_arg(Some(&format!("7:{}", "a".repeat(64))))
            .unwrap()
            .unwrap();
        assert_eq!((h.seq, h.hash.len()), (7, 64));
        let e = head_arg(Some("7:zz\u{202e}")).unwrap_err().to_string();
        assert!(e.starts_with("--head `7:zz\\u{202e}`"), "{e}");
    }
}
