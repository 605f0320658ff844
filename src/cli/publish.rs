//! `ratchet bundle publish FILE --registry DIR|file://URL`: publish into a local registry.
//!
//! The same code as `ratchet-index publish` (`ratchet_publish`); remote registries are
//! maintained by their owners with `ratchet-index`, so only directories are accepted here.

use super::CliResult;
use ratchet_publish::{Registry, publish_time};
use ratchet_term::{escape, out, print_json};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `ratchet bundle publish`.
#[derive(clap::Args)]
pub struct PublishArgs {
    /// The `.rbundle` archive (made by `ratchet bundle build`).
    file: PathBuf,
    /// The registry: a directory or a `file://` URL.
    #[arg(long)]
    registry: String,
    /// Publish time (RFC 3339 or Unix seconds; default: SOURCE_DATE_EPOCH, else now).
    #[arg(long)]
    publish_time: Option<String>,
    /// The signer's public key, recorded as an owner on an id's first signed publish (repeat
    /// it to record co-owners; the archive must be signed by one of them).
    #[arg(long, value_name = "FILE.pub")]
    owner_key: Vec<PathBuf>,
    /// Check everything and say what would be published, without writing anything.
    #[arg(long)]
    dry_run: bool,
}

/// The directory a `--registry` value names.
fn registry_dir(arg: &str) -> Result<PathBuf, String> {
    if let Some((scheme, _)) = arg.split_once("://") {
        if scheme != "file" {
            return Err(format!(
                "publishing to `{arg}` is not supported: `ratchet bundle publish` writes local registries only \
                 (a directory or file:// URL); publish into a copy with `ratchet-index` and sync it to the host"
            ));
        }
        let url = url::Url::parse(arg).map_err(|e| format!("`{arg}` is not a valid URL: {e}"))?;
        return url
            .to_file_path()
            .map_err(|_| format!("`{arg}` does not name a local directory"));
    }
    Ok(PathBuf::from(arg))
}

/// Runs `ratchet bundle publish`.
pub fn run(args: PublishArgs) -> CliResult {
    let dir = registry_dir(&args.registry)?;
    let mut reg = Registry::open(&dir)?;
    // A signed registry (index-format.md §9) needs its registry key for every change: the file
    // named by RATCHET_REGISTRY_KEY (password: RATCHET_KEY_PASSWORD or a prompt).
    if reg.is_signed()
        && !args.dry_run
        && let Some(path) = std::env::var_os(ratchet_publish::REGISTRY_KEY_ENV)
    {
        let sk =
            ratchet_trust::keys::SecretKey::load_with(std::path::Path::new(&path), &mut |p| {
                rpassword::prompt_password(p)
            })?;
        reg = reg.with_registry_key(ratchet_publish::RegistryKey::new(sk, 24 * 3600)?);
    }
    let owner_keys = args
        .owner_key
        .iter()
        .map(|p| ratchet_trust::keys::PublicKey::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    let time = publish_time(args.publish_time.as_deref())?;
    let p = if args.dry_run {
        reg.check_publish(&args.file, &time, &owner_keys)?
    } else {
        reg.publish_with(&args.file, &time, &owner_keys)?
    };
    if out().json() {
        print_json(&json!({
            "dry_run": args.dry_run,
            "registry": dir.display().to_string(),
            "published": [p.summary_json()],
            "warnings": p.warnings,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    for w in &p.warnings {
        eprintln!("{}", escape(&w.to_string()));
    }
    println!(
        "{} {} {} to {} ({} bytes, sha256 {})",
        if args.dry_run {
            "Would publish"
        } else {
            "Published"
        },
        p.line.id,
        p.line.version,
        dir.display(),
        p.line.size,
        p.line.sha256
    );
    if out().verbose(1) {
        println!("  index file:   {}", p.index_file);
        println!("  archive file: {}", p.archive_file);
    }
    if args.dry_run {
        println!("dry run: nothing was written");
    }
    Ok(ExitCode::SUCCESS)
}
