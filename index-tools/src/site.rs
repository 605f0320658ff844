//! `ratchet-index site`: generates the registry's static web marketplace (`index-format.md`
//! §14). Parses arguments, calls `ratchet_site`, renders what was written.

use ratchet_term::{escape_line, out, print_json};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// `ratchet-index site [REGISTRY] [--out DIR] [--base-url URL]`.
#[derive(clap::Args)]
pub struct SiteArgs {
    /// The registry directory.
    #[arg(default_value = ".")]
    registry: PathBuf,
    /// Where to write the site (default: site.json's `out`, else REGISTRY/site).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The absolute URL the site is served at (used in the feeds; default: site.json's
    /// `base_url`, else relative links).
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
}

type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

/// Runs `site`.
pub fn run(args: SiteArgs) -> CliResult {
    let o = out();
    // Refuse a directory that is not a registry before anything is written.
    ratchet_publish::Registry::open(&args.registry)?;
    let opts = ratchet_site::Options::for_registry(
        &args.registry,
        args.out.as_deref(),
        args.base_url.as_deref(),
    )?;
    let r = ratchet_site::generate(&args.registry, &opts)?;
    if o.json() {
        print_json(&json!({
            "out": r.out,
            "bundles": r.bundles,
            "pages_written": r.pages.len(),
            "feeds_written": r.feeds.len(),
            "other_written": r.other.len(),
            "removed": r.removed,
            "bytes": r.bytes,
            "warnings": r.warnings,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    for w in &r.warnings {
        o.warn(escape_line(w));
    }
    if !o.quiet() {
        println!(
            "site: {} bundle(s); {} page(s), {} feed(s) and {} other file(s) written ({} bytes) to {}",
            r.bundles,
            r.pages.len(),
            r.feeds.len(),
            r.other.len(),
            r.bytes,
            escape_line(&r.out.display().to_string())
        );
    }
    Ok(ExitCode::SUCCESS)
}
