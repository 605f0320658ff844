//! `ratchet bundle check [DIR|ARCHIVE]`: the full quality check of `index-format.md` §16 —
//! `bundle test` plus the static security scan and advisories whether `bundle-tests.yaml`
//! declares them or not, compatibility against this runtime's Ratchet version, and, for an
//! archive, the archive's SHA-256 so that a verifier can attest the report.

use super::CliResult;
use ratchet_client::paths::Paths;
use ratchet_formats::archive::{self, Limits};
use ratchet_sandbox::bundle_test::{CheckOptions, check_bundle, write_verification};
use ratchet_sandbox::{Policy, Runtime};
use ratchet_term::out;
use std::path::{Path, PathBuf};

/// Arguments of `ratchet bundle check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// A bundle directory or a `.rbundle` archive (default: current directory).
    path: Option<PathBuf>,
    /// A local registry (directory or file:// URL): its advisories.jsonl, and its index to
    /// resolve the bundle's dependencies.
    #[arg(long, value_name = "DIR")]
    registry: Option<String>,
    /// More advisory files (OSV: `.json` record or array, or `.jsonl`); repeatable.
    #[arg(long, value_name = "FILE")]
    advisories: Vec<PathBuf>,
    /// Also write the report (verification.json) to this file; for an archive, the only place
    /// it is written.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Runs `ratchet bundle check`.
pub fn run(args: CheckArgs) -> CliResult {
    let format = out().format;
    let path = args.path.unwrap_or_else(|| PathBuf::from("."));
    let paths = Paths::detect();
    let policy = Policy::load(&paths.config)?;
    let ratchet_version = ratchet_client::registry::target_ratchet_version(&paths.config)?;
    let registry = args.registry.as_deref().map(registry_dir).transpose()?;

    // An archive is read (sizes bounded, every file against its checksum) and unpacked into a
    // temporary directory that is removed afterwards.
    let (dir, archive_sha, _tmp) = if path.is_file() {
        let bytes =
            ratchet_formats::index::read_limited(&path, Limits::default().max_archive_bytes)?;
        let a = archive::read_archive(&bytes[..], &Limits::default())?;
        let tmp = tempfile::tempdir()?;
        let dest = tmp.path().join("bundle");
        a.extract_to(&dest)?;
        (dest, Some(archive::sha256_hex(&bytes)), Some(tmp))
    } else {
        (path.clone(), None, None)
    };
    let manifest = ratchet_formats::manifest::load_manifest(&dir).map_err(|diags| {
        format!(
            "{}: not a valid bundle:\n{}",
            path.display(),
            diags
                .iter()
                .map(|d| format!("  {d}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;

    let mut advisories: Option<Vec<_>> = None;
    if let Some(reg) = &registry {
        advisories
            .get_or_insert_with(Vec::new)
            .extend(ratchet_quality::advisory::load(reg)?);
    }
    for f in &args.advisories {
        advisories
            .get_or_insert_with(Vec::new)
            .extend(ratchet_quality::advisory::load(f)?);
    }
    let dependencies = match &registry {
        Some(reg) => Some(ratchet_client::quality::resolve_in_dir(
            reg,
            &manifest,
            &ratchet_client::resolver::ResolveOptions {
                ratchet_version: ratchet_version.clone(),
                ..Default::default()
            },
        )?),
        None => None,
    };
    let rt = Runtime::new(Some(paths.cache.join("modules")))
        .isolated(ratchet_sandbox::isolate::Isolation::current_exe()?);
    let opts = CheckOptions {
        ratchet_version: Some(ratchet_version),
        advisories,
        dependencies,
        full: true,
    };
    let mut v = check_bundle(&rt, &dir, &policy, &opts)?;
    v.archive_sha256 = archive_sha;
    let mut written = PathBuf::new();
    if v.archive_sha256.is_none() {
        written = write_verification(&dir, &v)?;
    }
    if let Some(o) = &args.output {
        let mut text = serde_json::to_string_pretty(&v)?;
        text.push('\n');
        ratchet_formats::fsutil::write_atomic(o, text.as_bytes())?;
        written = o.clone();
    }
    super::bundle::render_verification(&v, &written, format)
}

/// A local registry given as a directory or a file:// URL.
fn registry_dir(s: &str) -> Result<PathBuf, String> {
    let p = match s.strip_prefix("file://") {
        Some(rest) => PathBuf::from(rest),
        None if s.contains("://") => {
            return Err(format!(
                "--registry {s}: bundle check reads a local registry (a directory or file:// URL); mirror a remote one first (ratchet-index mirror)"
            ));
        }
        None => PathBuf::from(s),
    };
    if !Path::new(&p).join("config.json").is_file() {
        return Err(format!(
            "--registry {s}: not a registry directory (no config.json)"
        ));
    }
    Ok(p)
}
