//! `ratchet-site`: the web marketplace of a registry, generated as static files beside it.
//!
//! A Ratchet registry is static files with no server, so its marketplace is too: HTML pages
//! (home, search, one page per bundle, author, owner-key, category and tag pages), Atom and JSON
//! feeds, one CSS and one JavaScript file. It is hosted wherever the registry is (GitHub Pages,
//! S3, nginx), under any sub-path (every link is relative), with no external resource and a
//! strict Content-Security-Policy (no inline script or style). Every page reads without
//! JavaScript; the script only adds search-as-you-type (against the registry's own search
//! catalog, `index-format.md` §10) and the install command's copy button.
//!
//! Everything a page shows comes from the registry (index lines, metadata, archives, catalog,
//! statistics) and is hostile: text is HTML-escaped, README and CHANGELOG Markdown is rendered
//! by pulldown-cmark and then cleaned by ammonia's allow-list, and every file is read with a
//! size limit.
//!
//! - [`generate`]: the whole site (`ratchet-index site`);
//! - [`update`]: after one bundle changed, only the pages that show it (its page and feeds, its
//!   author, owner-key, category and tag pages, home and the registry feeds);
//! - [`SiteConfig`]: `site.json`, the operator's settings (`index-format.md` §14).
//!
//! Libraries never print: both return a [`Report`] of the files written.

mod chart;
mod data;
mod feed;
mod html;
mod markdown;
mod pages;

pub use markdown::render_markdown;
pub use pages::facet_slug;

use ratchet_formats::manifest::BundleId;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The site's settings file at the registry root.
pub const CONFIG_FILE: &str = "site.json";
/// Largest `site.json` read.
pub const MAX_CONFIG: u64 = 64 * 1024;
/// Most featured bundles shown.
pub const MAX_FEATURED: usize = 24;
/// Publishes kept in the registry-wide feeds and the "recently updated" list.
pub const RECENT: usize = 50;

/// Why the site could not be generated, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    /// A file could not be read or written.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A registry file is malformed, too large or inconsistent.
    #[error("{file}: {message}")]
    Registry {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// `site.json` or an option is invalid.
    #[error("{file}: {message}")]
    Config {
        /// The file (or option).
        file: String,
        /// What is wrong.
        message: String,
    },
}

pub(crate) fn io_err(path: &Path) -> impl Fn(std::io::Error) -> SiteError + '_ {
    move |source| SiteError::Io {
        file: path.display().to_string(),
        source,
    }
}

/// `site.json` (`index-format.md` §14): where the site goes and what the operator sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// Format version, 1.
    pub v: u32,
    /// Output directory, relative to the registry root (default `site`).
    #[serde(default = "default_out")]
    pub out: String,
    /// Absolute URL the site is served at, ending in `/` (used in feeds); none: feeds carry
    /// relative links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// URL of the registry root relative to the site root (default `../`: the site is served
    /// from the registry's `site/` directory). The in-browser search reads `catalog/` there.
    #[serde(default = "default_registry")]
    pub registry: String,
    /// The site's title (default: the registry's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Bundle ids shown as featured on the home page, in order.
    #[serde(default)]
    pub featured: Vec<BundleId>,
    /// Regenerate the pages a change affects on every publish, yank, deprecation, attestation.
    #[serde(default)]
    pub on_publish: bool,
}

fn default_out() -> String {
    "site".into()
}
fn default_registry() -> String {
    "../".into()
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig {
            v: 1,
            out: default_out(),
            base_url: None,
            registry: default_registry(),
            title: None,
            featured: Vec::new(),
            on_publish: false,
        }
    }
}

impl SiteConfig {
    /// Reads `site.json` of the registry at `dir`: `Ok(None)` when it has none.
    pub fn load(dir: &Path) -> Result<Option<SiteConfig>, SiteError> {
        let path = dir.join(CONFIG_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = ratchet_formats::index::read_limited(&path, MAX_CONFIG).map_err(|e| {
            SiteError::Config {
                file: CONFIG_FILE.into(),
                message: e.to_string(),
            }
        })?;
        let c: SiteConfig = serde_json::from_slice(&bytes).map_err(|e| SiteError::Config {
            file: CONFIG_FILE.into(),
            message: e.to_string(),
        })?;
        c.check(CONFIG_FILE)?;
        Ok(Some(c))
    }

    /// Checks the settings (`file` names where they came from in errors).
    pub fn check(&self, file: &str) -> Result<(), SiteError> {
        let bad = |message: String| SiteError::Config {
            file: file.to_string(),
            message,
        };
        if self.v != 1 {
            return Err(bad(format!(
                "format version {} is not supported (known: 1)",
                self.v
            )));
        }
        let out = Path::new(&self.out);
        if self.out.is_empty()
            || out.is_absolute()
            || out
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(bad(format!(
                "out `{}` must be a relative path inside the registry without `..`",
                self.out
            )));
        }
        if let Some(u) = &self.base_url
            && (!(u.starts_with("https://") || u.starts_with("http://"))
                || !u.ends_with('/')
                || u.chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '"'))
        {
            return Err(bad(format!(
                "base_url `{u}` must be an http(s) URL ending in `/`"
            )));
        }
        if self.registry.contains("://")
            || self.registry.starts_with("//")
            || !self.registry.ends_with('/')
            || self
                .registry
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>'))
        {
            return Err(bad(format!(
                "registry `{}` must be a same-origin relative path ending in `/` (the site's \
                 Content-Security-Policy allows fetches from its own origin only)",
                self.registry
            )));
        }
        if self.featured.len() > MAX_FEATURED {
            return Err(bad(format!(
                "featured lists more than {MAX_FEATURED} bundles"
            )));
        }
        Ok(())
    }
}

/// What [`generate`] or [`update`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The output directory.
    pub out: PathBuf,
    /// HTML pages written (paths relative to `out`).
    pub pages: Vec<String>,
    /// Feeds written.
    pub feeds: Vec<String>,
    /// Other files written (assets, the site's state).
    pub other: Vec<String>,
    /// Pages removed (a category or tag no bundle has any more).
    pub removed: Vec<String>,
    /// Bundles whose pages were generated.
    pub bundles: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Parts of pages left out (a damaged statistics file, an owner chain that does not
    /// verify), each naming the bundle and file.
    pub warnings: Vec<String>,
}

impl Report {
    /// Every file written.
    pub fn files(&self) -> usize {
        self.pages.len() + self.feeds.len() + self.other.len()
    }
}

/// Options of a generation: the config, with the output directory resolved.
#[derive(Debug, Clone)]
pub struct Options {
    /// The settings.
    pub config: SiteConfig,
    /// Where the files go.
    pub out: PathBuf,
}

impl Options {
    /// The registry's `site.json` (or the defaults) with `out` and `base_url` overriding it.
    pub fn for_registry(
        dir: &Path,
        out: Option<&Path>,
        base_url: Option<&str>,
    ) -> Result<Options, SiteError> {
        let mut config = SiteConfig::load(dir)?.unwrap_or_default();
        if let Some(u) = base_url {
            config.base_url = Some(if u.ends_with('/') {
                u.to_string()
            } else {
                format!("{u}/")
            });
            config.check("--base-url")?;
        }
        let out = match out {
            Some(o) => o.to_path_buf(),
            None => dir.join(&config.out),
        };
        Ok(Options { config, out })
    }
}

/// Generates the whole site of the registry at `dir`.
pub fn generate(dir: &Path, opts: &Options) -> Result<Report, SiteError> {
    pages::Generator::new(dir, opts)?.full()
}

/// Regenerates the pages that show `id` after a change to it (publish, yank, deprecation,
/// attestation, new statistics): its page and feeds, its author's, owner key's, categories' and
/// tags' pages, home and the registry feeds. A site never generated gets a full generation.
pub fn update(dir: &Path, opts: &Options, id: &BundleId) -> Result<Report, SiteError> {
    pages::Generator::new(dir, opts)?.incremental(id)
}

/// The hook of the publish tool: when the registry's `site.json` has `on_publish`, runs
/// [`update`] for `id` into the configured directory; `Ok(None)` otherwise.
pub fn on_change(dir: &Path, id: &BundleId) -> Result<Option<Report>, SiteError> {
    match SiteConfig::load(dir)? {
        Some(c) if c.on_publish => {
            let out = dir.join(&c.out);
            update(dir, &Options { config: c, out }, id).map(Some)
        }
        _ => Ok(None),
    }
}
