//! `ratchet-index mirror SRC DST`: the command line of the verifying mirror
//! (`ratchet_client::mirror`, index-format.md §6.12). Parses, runs, prints.

use ratchet_client::mirror::{MirrorOptions, MirrorReport, Selection, mirror};
use ratchet_client::registry::RegistrySource;
use ratchet_term::{escape_line, out, print_json};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Runs one mirror pass and prints what it did.
pub fn run(
    src: &str,
    dst: &Path,
    ids: Vec<String>,
    lockfile: Option<PathBuf>,
    allow_unsigned: bool,
) -> Result<std::process::ExitCode, Box<dyn std::error::Error>> {
    let selection = match (ids.is_empty(), lockfile) {
        (_, Some(f)) => Selection::Lockfile(f),
        (false, None) => Selection::Patterns(ids),
        (true, None) => Selection::All,
    };
    let source = RegistrySource::from_location(src)?;
    let label = source.label();
    let r: MirrorReport = mirror(
        source,
        dst,
        &MirrorOptions {
            selection,
            allow_unsigned,
        },
    )?;
    if out().json() {
        print_json(&json!({
            "source": label,
            "destination": dst.display().to_string(),
            "signed": r.signed,
            "bundles": r.bundles,
            "versions": r.versions,
            "archives_copied": r.archives_copied,
            "archives_present": r.archives_present,
            "files_written": r.files_written,
            "files_unchanged": r.files_unchanged,
            "requests": r.requests,
            "bytes": r.bytes,
            "snapshot": r.snapshot,
            "signed_files": r.signed_files,
            "incremental_from": r.incremental_from,
        }))?;
    } else {
        println!(
            "Mirrored {} bundle(s), {} version(s) from {} to {}{}",
            r.bundles,
            r.versions,
            escape_line(&label),
            dst.display(),
            if r.signed {
                " (signed snapshot checked)"
            } else {
                ""
            }
        );
        println!(
            "  archives: {} copied, {} already there; files: {} written, {} unchanged; {} request(s), {} bytes received",
            r.archives_copied,
            r.archives_present,
            r.files_written.len(),
            r.files_unchanged,
            r.requests,
            r.bytes
        );
        if let Some(from) = r.incremental_from {
            println!(
                "  incremental: read the files the log's entries {from}.. name (bundle and version counts are of those)"
            );
        }
        if let Some(s) = r.snapshot {
            println!(
                "  signed snapshot {s} copied ({} file(s) written)",
                r.signed_files
            );
        }
        if out().verbose(1) {
            for f in &r.files_written {
                println!("  wrote {}", escape_line(f));
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
