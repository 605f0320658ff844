//! The pages and the order they are written in, for a full generation and for the incremental
//! update after one bundle changed.
//!
//! Layout of the output directory (every link relative, so it works under any sub-path):
//!
//! ```text
//! index.html  search.html  categories.html  feed.atom  feed.json
//! b/<id>.html  b/<id>.atom  b/<id>.json          one bundle: page and feeds
//! author/<h>.html  category/<h>.html  tag/<h>.html   <h>: the catalog's facet file name
//! key/<key id>.html                              bundles a key owns (or signed, without owners)
//! assets/site.css  assets/site.js
//! state/recent.json  state/b/<id>.json  state/keys/<key id>.json   what an update needs
//! state/<kind>/<h>.json                          the summaries a facet page lists
//! ```
//!
//! A file is rewritten only when its bytes change, and the report lists what was.
//!
//! An update costs the same whatever the registry's size: it reads the changed bundle's files,
//! one facet file per facet value it has or had, and the summaries its facet pages list from
//! `state/<kind>/<h>.json` (the page's previous list) rather than from the catalog's summary
//! blocks, so only the changed bundle's block and those of bundles that newly enter a list are
//! read (reading every listed summary from its block costs one block per listed bundle, up to
//! 48 a page, and lists fill up as the registry grows).

use crate::chart::downloads_svg;
use crate::data::{BundleData, Reader, daily};
use crate::feed::{Entry, Feed};
use crate::html::{Page, esc, ext_link};
use crate::markdown::render_markdown;
use crate::{Options, RECENT, Report, SiteError, io_err};
use ratchet_catalog::{Summary, Verified};
use ratchet_formats::manifest::{BundleId, Manifest, PricingModel};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::Path;

const CSS: &str = include_str!("../assets/site.css");
const JS: &str = include_str!("../assets/site.js");
/// Facet kinds with pages.
const KINDS: [&str; 3] = ["author", "category", "tag"];
/// Bundles listed on one facet or key page (the newest; the count says how many there are),
/// so regenerating one costs the same whatever the registry's size.
const LIST_MAX: usize = 48;

/// What an update needs to know about a bundle's previous pages.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct BundleState {
    /// Facet kind -> values it was listed under.
    facets: BTreeMap<String, Vec<String>>,
    /// Its owner keys (or, without owners, the key that signed its latest version).
    #[serde(default)]
    keys: Vec<String>,
}

/// The name of a facet value's page: the catalog's facet file name (16 hex digits of SHA-256),
/// so the in-browser search links to the same pages.
pub fn facet_slug(value: &str) -> String {
    let h = Sha256::digest(value.as_bytes());
    h[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn key_slug(key: &str) -> Option<&str> {
    (!key.is_empty() && key.len() <= 64 && key.chars().all(|c| c.is_ascii_alphanumeric()))
        .then_some(key)
}

/// `s` percent-encoded for a URL query value (everything but unreserved characters).
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn norm(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Writes the site.
pub struct Generator<'a> {
    opts: &'a Options,
    reader: Reader,
    title: String,
    report: Report,
    /// In an update: the ordinal of the changed bundle, whose summary is read afresh while the
    /// facet pages' other summaries come from their state. `None` in a full generation, which
    /// reads every summary from the catalog.
    changed: Option<Option<u32>>,
}

impl<'a> Generator<'a> {
    /// Opens the registry at `dir` for generating into `opts.out`.
    pub fn new(dir: &Path, opts: &'a Options) -> Result<Self, SiteError> {
        let reader = Reader::open(dir)?;
        let title = opts
            .config
            .title
            .clone()
            .unwrap_or_else(|| format!("{} bundles", reader.config.name));
        Ok(Generator {
            opts,
            reader,
            title,
            report: Report {
                out: opts.out.clone(),
                ..Report::default()
            },
            changed: None,
        })
    }

    fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<(), SiteError> {
        let p = self.opts.out.join(rel);
        if std::fs::read(&p).is_ok_and(|old| old == bytes) {
            return Ok(());
        }
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        ratchet_formats::fsutil::write_atomic_unsynced(&p, bytes).map_err(io_err(&p))?;
        self.report.bytes += bytes.len() as u64;
        let list = if rel.ends_with(".html") {
            &mut self.report.pages
        } else if rel.ends_with(".atom") || (rel.ends_with(".json") && !rel.starts_with("state/")) {
            &mut self.report.feeds
        } else {
            &mut self.report.other
        };
        list.push(rel.to_string());
        Ok(())
    }

    fn remove(&mut self, rel: &str) -> Result<(), SiteError> {
        let p = self.opts.out.join(rel);
        match std::fs::remove_file(&p) {
            Ok(()) => {
                self.report.removed.push(rel.to_string());
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    fn read_state<T: for<'de> Deserialize<'de> + Default>(&self, rel: &str) -> T {
        std::fs::read(self.opts.out.join(rel))
            .ok()
            .filter(|b| b.len() < 16 * 1024 * 1024)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn write_state<T: Serialize>(&mut self, rel: &str, v: &T) -> Result<(), SiteError> {
        let mut b = serde_json::to_vec(v).unwrap_or_default();
        b.push(b'\n');
        self.write(rel, &b)
    }

    /// The whole site.
    pub fn full(mut self) -> Result<Report, SiteError> {
        self.write("assets/site.css", CSS.as_bytes())?;
        self.write("assets/site.js", JS.as_bytes())?;
        let names = ratchet_formats::index::NamesFile::load(self.reader.dir()).map_err(|e| {
            SiteError::Registry {
                file: "names.txt".into(),
                message: e.to_string(),
            }
        })?;
        let mut recent: Vec<Entry> = Vec::new();
        let mut facets: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for id in &names.ids {
            let Some(state) = self.bundle(id, &mut recent)? else {
                continue;
            };
            for (k, vs) in &state.facets {
                if let Some(kind) = KINDS.iter().find(|x| *x == k) {
                    facets.entry(kind).or_default().extend(vs.iter().cloned());
                }
            }
            for k in &state.keys {
                keys.entry(k.clone()).or_default().push(id.to_string());
            }
            recent.sort_by(|a, b| b.published.cmp(&a.published).then(a.id.cmp(&b.id)));
            recent.truncate(RECENT);
        }
        for (kind, values) in &facets {
            for v in values {
                self.facet_page(kind, v)?;
            }
        }
        for (k, ids) in &keys {
            self.write_state(&format!("state/keys/{k}.json"), ids)?;
            self.key_page(k, ids)?;
        }
        self.write_state("state/recent.json", &recent)?;
        self.shared_pages(&recent)?;
        Ok(self.report)
    }

    /// After `id` changed: only the pages that show it.
    pub fn incremental(mut self, id: &BundleId) -> Result<Report, SiteError> {
        if !self.opts.out.join("state/recent.json").exists() {
            return self.full();
        }
        // The script and style sheet this build carries (unchanged ones are not rewritten): a
        // newer script reads catalog formats an older one refuses.
        self.write("assets/site.css", CSS.as_bytes())?;
        self.write("assets/site.js", JS.as_bytes())?;
        let state_rel = format!("state/b/{id}.json");
        let old: BundleState = self.read_state(&state_rel);
        self.changed = Some(self.reader.forward(id)?.map(|f| f.ord));
        let mut recent: Vec<Entry> = self.read_state("state/recent.json");
        recent.retain(|e| e.id != id.as_str());
        let new = self.bundle(id, &mut recent)?.unwrap_or_default();
        recent.sort_by(|a, b| b.published.cmp(&a.published).then(a.id.cmp(&b.id)));
        recent.truncate(RECENT);
        for kind in KINDS {
            let mut values: BTreeSet<&String> = BTreeSet::new();
            values.extend(old.facets.get(kind).into_iter().flatten());
            values.extend(new.facets.get(kind).into_iter().flatten());
            for v in values {
                self.facet_page(kind, v)?;
            }
        }
        let keys: BTreeSet<&String> = old.keys.iter().chain(new.keys.iter()).collect();
        for k in keys {
            let rel = format!("state/keys/{k}.json");
            let mut ids: Vec<String> = self.read_state(&rel);
            ids.retain(|x| x != id.as_str());
            if new.keys.contains(k) {
                ids.push(id.to_string());
                ids.sort();
            }
            self.write_state(&rel, &ids)?;
            self.key_page(k, &ids)?;
        }
        self.write_state("state/recent.json", &recent)?;
        self.shared_pages(&recent)?;
        Ok(self.report)
    }

    /// Writes `id`'s page and feeds and its state; adds its unyanked versions to `recent`.
    fn bundle(
        &mut self,
        id: &BundleId,
        recent: &mut Vec<Entry>,
    ) -> Result<Option<BundleState>, SiteError> {
        let state_rel = format!("state/b/{id}.json");
        let Some(d) = self.reader.bundle(id)? else {
            self.remove(&format!("b/{id}.html"))?;
            self.remove(&format!("b/{id}.atom"))?;
            self.remove(&format!("b/{id}.json"))?;
            self.remove(&state_rel)?;
            return Ok(None);
        };
        self.report.bundles += 1;
        for w in &d.warnings {
            self.report.warnings.push(format!("{id}: {w}"));
        }
        let fwd = self.reader.forward(id)?;
        let mut state = BundleState::default();
        if let Some(f) = &fwd
            && f.live
        {
            for k in KINDS {
                if let Some(v) = f.facets.get(k) {
                    state.facets.insert(k.to_string(), v.clone());
                }
            }
        }
        state.keys = if d.owners.is_empty() {
            d.latest
                .as_ref()
                .and_then(|l| l.signer.as_deref())
                .into_iter()
                .collect::<Vec<_>>()
        } else {
            d.owners.iter().map(String::as_str).collect()
        }
        .into_iter()
        .filter_map(key_slug)
        .map(str::to_string)
        .collect();
        let entries = bundle_entries(&d);
        let html = self.bundle_page(&d, &state);
        self.write(&format!("b/{id}.html"), html.as_bytes())?;
        let title = format!(
            "{} releases",
            d.manifest.as_ref().map_or(id.as_str(), |m| &m.name)
        );
        let page = format!("b/{id}.html");
        let stem = format!("b/{id}");
        let feed = Feed {
            title: &title,
            page: &page,
            stem: &stem,
            base: self.opts.config.base_url.as_deref(),
        };
        let (atom, json) = (feed.atom(&entries), feed.json(&entries));
        self.write(&format!("b/{id}.atom"), atom.as_bytes())?;
        self.write(&format!("b/{id}.json"), json.as_bytes())?;
        self.write_state(&state_rel, &state)?;
        recent.extend(entries);
        Ok(Some(state))
    }

    fn page(&self, title: &str, root: &str, description: &str, nav: &str, main: String) -> String {
        Page {
            site: &self.title,
            title,
            root,
            description,
            feeds: vec![
                (
                    "application/atom+xml",
                    format!("{root}feed.atom"),
                    format!("{} (Atom)", self.title),
                ),
                (
                    "application/feed+json",
                    format!("{root}feed.json"),
                    format!("{} (JSON Feed)", self.title),
                ),
            ],
            main,
            nav,
        }
        .render()
    }

    fn bundle_page(&self, d: &BundleData, state: &BundleState) -> String {
        let r = "../";
        let id = d.id.as_str();
        let mut o = String::new();
        let name = d.manifest.as_ref().map_or(id, |m| m.name.as_str());
        let deprecation = d.meta.as_ref().and_then(|m| m.deprecated.as_ref());
        let _ = write!(
            o,
            "<article class=\"bundle\"><header><h1>{}</h1><p class=\"id\">{}",
            esc(name),
            esc(id)
        );
        if let Some(l) = &d.latest {
            let _ = write!(
                o,
                " <span class=\"ver\">{}</span>",
                esc(&l.version.to_string())
            );
        }
        if let Some(s) = &d.status {
            let _ = write!(o, " {}", status_badge(s));
        }
        if deprecation.is_some() {
            o.push_str(" <span class=\"badge deprecated\">Deprecated</span>");
        }
        o.push_str("</p>");
        if let Some(m) = &d.manifest {
            let _ = write!(o, "<p class=\"desc\">{}</p>", esc(&m.description));
        }
        o.push_str("</header>");
        if let Some(dep) = deprecation {
            let _ = write!(
                o,
                "<section class=\"notice\" aria-labelledby=\"dep-h\"><h2 id=\"dep-h\">Deprecated since {}</h2><p>{}</p>",
                esc(&dep.since),
                esc(&dep.message)
            );
            if let Some(rep) = &dep.replacement {
                let _ = write!(
                    o,
                    "<p>Use <a href=\"{0}.html\">{0}</a> instead.</p>",
                    esc(rep.as_str())
                );
            }
            o.push_str("</section>");
        }
        let Some(m) = &d.manifest else {
            o.push_str("<p class=\"notice\">Every version of this bundle is yanked: nothing can be installed.</p>");
            versions_section(&mut o, d);
            o.push_str("</article>");
            return self.page(name, r, "", "", o);
        };
        // Install.
        let cmd = format!("ratchet bundle install {id}");
        let _ = write!(
            o,
            "<section aria-labelledby=\"inst-h\"><h2 id=\"inst-h\">Install</h2>\
             <div class=\"install\"><pre><code id=\"install-cmd\">{}</code></pre>\
             <button type=\"button\" class=\"copy\" data-copy=\"install-cmd\" hidden>Copy</button>\
             <span class=\"copied\" role=\"status\" aria-live=\"polite\"></span></div></section>",
            esc(&cmd)
        );
        // Facts.
        o.push_str("<section aria-labelledby=\"about-h\"><h2 id=\"about-h\">About</h2><dl class=\"facts\">");
        let _ = write!(o, "<dt>License</dt><dd>{}</dd>", esc(&m.license));
        if let Some(a) = &m.author {
            let slug = facet_slug(&norm(&a.name));
            let _ = write!(
                o,
                "<dt>Author</dt><dd><a href=\"{r}author/{slug}.html\">{}</a>",
                esc(&a.name)
            );
            if let Some(w) = &a.website {
                let _ = write!(o, " · {}", ext_link(w, "website"));
            }
            o.push_str("</dd>");
        }
        links_dd(&mut o, "Categories", r, "category", &m.categories);
        let tags = state.facets.get("tag").cloned().unwrap_or_default();
        links_dd(&mut o, "Tags", r, "tag", &tags);
        if let Some(s) = &d.status {
            let _ = write!(o, "<dt>Verification</dt><dd>{}</dd>", esc(&status_words(s)));
        }
        let signer = d.latest.as_ref().and_then(|l| l.signer.clone());
        match &signer {
            Some(k) => {
                let _ = match key_slug(k) {
                    Some(s) => write!(
                        o,
                        "<dt>Signed by</dt><dd>key <a href=\"{r}key/{s}.html\"><code>{}</code></a></dd>",
                        esc(k)
                    ),
                    None => write!(o, "<dt>Signed by</dt><dd>key <code>{}</code></dd>", esc(k)),
                };
            }
            None => o.push_str("<dt>Signed by</dt><dd>not signed</dd>"),
        }
        if !d.owners.is_empty() {
            o.push_str("<dt>Owner keys</dt><dd>");
            for (i, k) in d.owners.iter().enumerate() {
                if i > 0 {
                    o.push_str(", ");
                }
                let _ = match key_slug(k) {
                    Some(s) => write!(o, "<a href=\"{r}key/{s}.html\"><code>{}</code></a>", esc(k)),
                    None => write!(o, "<code>{}</code>", esc(k)),
                };
            }
            o.push_str("</dd>");
        }
        if let Some(s) = m.support.as_ref() {
            let json = serde_json::to_value(s).unwrap_or_default();
            if let Some(u) = json.get("url").and_then(|u| u.as_str()) {
                let _ = write!(o, "<dt>Support</dt><dd>{}</dd>", ext_link(u, u));
            }
        }
        let req = &m.requirements;
        if let Some(v) = &req.ratchet_version {
            let _ = write!(o, "<dt>Needs Ratchet</dt><dd>{}</dd>", esc(&v.to_string()));
        }
        let platforms = if req.platform.is_empty() {
            "Linux, macOS and Windows".to_string()
        } else {
            req.platform
                .iter()
                .map(|p| format!("{p:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = write!(
            o,
            "<dt>Platforms</dt><dd>{}</dd></dl></section>",
            esc(&platforms)
        );
        pricing_section(&mut o, m);
        permissions_section(&mut o, m);
        // Downloads.
        if let Some(s) = &d.stats {
            let (days, as_of) = daily(s);
            let _ = write!(
                o,
                "<section aria-labelledby=\"dl-h\"><h2 id=\"dl-h\">Downloads</h2><p>{} in all, {} in the last 30 days, {} in the last 7.</p>{}</section>",
                s.downloads,
                s.last_30_days,
                s.last_7_days,
                downloads_svg(&days, as_of, 26)
            );
        }
        // Dependencies and dependents.
        o.push_str("<section aria-labelledby=\"deps-h\"><h2 id=\"deps-h\">Dependencies</h2>");
        if m.dependencies.is_empty() {
            o.push_str("<p>None.</p>");
        } else {
            o.push_str("<ul>");
            for dep in &m.dependencies {
                let _ = write!(
                    o,
                    "<li><a href=\"{}.html\">{}</a> <code>{}</code></li>",
                    dep.bundle_id,
                    esc(dep.bundle_id.as_str()),
                    esc(&dep.version.to_string())
                );
            }
            o.push_str("</ul>");
        }
        let dependents = d
            .related
            .as_ref()
            .map(|r| r.dependents.clone())
            .unwrap_or_default();
        o.push_str("<h3>Used by</h3>");
        if dependents.is_empty() {
            o.push_str("<p>No bundle depends on it (as of the last related-bundles run).</p>");
        } else {
            o.push_str("<ul>");
            for dep in &dependents {
                let _ = write!(
                    o,
                    "<li><a href=\"{dep}.html\">{}</a></li>",
                    esc(dep.as_str())
                );
            }
            o.push_str("</ul>");
        }
        o.push_str("</section>");
        versions_section(&mut o, d);
        if let Some(t) = &d.readme {
            let _ = write!(
                o,
                "<section class=\"readme\" aria-labelledby=\"readme-h\"><h2 id=\"readme-h\">README</h2><div class=\"md\">{}</div></section>",
                render_markdown(t)
            );
        }
        if let Some(t) = &d.changelog {
            let _ = write!(
                o,
                "<section aria-labelledby=\"cl-h\"><h2 id=\"cl-h\">Changelog</h2><details><summary>Show the changelog</summary><div class=\"md\">{}</div></details></section>",
                render_markdown(t)
            );
        }
        let _ = write!(
            o,
            "<p class=\"feeds\">Follow new versions: <a href=\"{id}.atom\">Atom</a> · <a href=\"{id}.json\">JSON Feed</a></p></article>"
        );
        let mut p = Page {
            site: &self.title,
            title: name,
            root: r,
            description: &m.description,
            feeds: vec![
                (
                    "application/atom+xml",
                    format!("{id}.atom"),
                    format!("{name} releases (Atom)"),
                ),
                (
                    "application/feed+json",
                    format!("{id}.json"),
                    format!("{name} releases (JSON Feed)"),
                ),
            ],
            main: String::new(),
            nav: "",
        };
        p.main = o;
        p.render()
    }

    fn facet_page(&mut self, kind: &str, value: &str) -> Result<(), SiteError> {
        let slug = facet_slug(value);
        let rel = format!("{kind}/{slug}.html");
        let state_rel = format!("state/{kind}/{slug}.json");
        let Some((count, newest)) = self.reader.facet_newest(kind, value, LIST_MAX)? else {
            self.remove(&state_rel)?;
            return self.remove(&rel);
        };
        // The summaries the page listed before, except the changed bundle's (an update only).
        let mut known: BTreeMap<u32, Summary> = match self.changed {
            Some(changed) => self
                .read_state::<Vec<Summary>>(&state_rel)
                .into_iter()
                .filter(|s| Some(s.ord) != changed)
                .map(|s| (s.ord, s))
                .collect(),
            None => BTreeMap::new(),
        };
        let missing: Vec<u32> = newest
            .iter()
            .copied()
            .filter(|o| !known.contains_key(o))
            .collect();
        for s in self.reader.summaries(&missing)? {
            known.insert(s.ord, s);
        }
        let list: Vec<Summary> = newest.iter().filter_map(|o| known.remove(o)).collect();
        self.write_state(&state_rel, &list)?;
        let what = match kind {
            "author" => "Bundles by",
            "category" => "Category:",
            _ => "Tag:",
        };
        let title = format!("{what} {value}");
        let mut o = format!("<h1>{}</h1><p>{count} bundle(s)", esc(&title));
        if count > list.len() {
            let _ = write!(o, "; the {} added most recently are listed", list.len());
            let _ = write!(
                o,
                " (<a href=\"../search.html?{kind}={}\">search them</a>)",
                esc(&percent(value))
            );
        }
        o.push_str(".</p>");
        cards(&mut o, "../", &list);
        let html = self.page(&title, "../", &title, "", o);
        self.write(&rel, html.as_bytes())
    }

    fn key_page(&mut self, key: &str, ids: &[String]) -> Result<(), SiteError> {
        let rel = format!("key/{key}.html");
        if ids.is_empty() {
            return self.remove(&rel);
        }
        let mut list = Vec::new();
        for id in ids.iter().take(LIST_MAX) {
            if let Ok(id) = id.parse::<BundleId>()
                && let Some(s) = self.reader.summary_of(&id)?
            {
                list.push(s);
            }
        }
        let title = format!("Bundles of key {key}");
        let mut o = format!(
            "<h1>Bundles of key <code>{}</code></h1><p>Bundles this key owns (or, for a bundle \
             without recorded owners, whose latest version it signed).</p>",
            esc(key)
        );
        cards(&mut o, "../", &list);
        let html = self.page(&title, "../", &title, "", o);
        self.write(&rel, html.as_bytes())
    }

    /// The search page: the words, every filter of `ratchet bundle search` (category, tag,
    /// author, license, price, platform, verified), the sort, and a pager. Every field's name
    /// is its URL parameter, so a submitted form (without the script) and the script's URL
    /// are the same shareable link (§14.2).
    fn search_page(&self, cats: &BTreeMap<String, u32>, tags: &BTreeMap<String, u32>) -> String {
        let facets = |k: &str| {
            self.reader
                .root
                .as_ref()
                .and_then(|x| x.facets.get(k).cloned())
                .unwrap_or_default()
        };
        let select = |o: &mut String,
                      id: &str,
                      label: &str,
                      any: &str,
                      opts: &[(String, String)]| {
            let _ = write!(
                o,
                "<span class=\"field\"><label for=\"{id}\">{label}</label> <select id=\"{id}\" name=\"{id}\"><option value=\"\">{any}</option>"
            );
            for (v, text) in opts {
                let _ = write!(o, "<option value=\"{}\">{}</option>", esc(v), esc(text));
            }
            o.push_str("</select></span> ");
        };
        let counted = |m: &BTreeMap<String, u32>| -> Vec<(String, String)> {
            m.iter()
                .map(|(v, n)| (v.clone(), format!("{v} ({n})")))
                .collect()
        };
        let mut o = format!(
            "<h1>Search</h1><form id=\"search\" role=\"search\" action=\"search.html\" method=\"get\" \
             data-registry=\"{}\"><p class=\"words\"><label for=\"q\">Words</label> <input id=\"q\" name=\"q\" type=\"search\" autocomplete=\"off\"> \
             <button type=\"submit\">Search</button></p><fieldset class=\"filters\"><legend>Filters</legend>",
            esc(&self.opts.config.registry)
        );
        select(&mut o, "category", "Category", "Any", &counted(cats));
        o.push_str(
            "<span class=\"field\"><label for=\"tag\">Tag</label> <input id=\"tag\" name=\"tag\" list=\"tag-list\" autocomplete=\"off\" size=\"12\"><datalist id=\"tag-list\">",
        );
        for t in tags.keys() {
            let _ = write!(o, "<option value=\"{}\"></option>", esc(t));
        }
        o.push_str(
            "</datalist></span> <span class=\"field\"><label for=\"author\">Author</label> <input id=\"author\" name=\"author\" autocomplete=\"off\" size=\"14\"></span> ",
        );
        select(
            &mut o,
            "license",
            "License",
            "Any",
            &counted(&facets("license")),
        );
        let price: Vec<(String, String)> = [
            ("free", "Free"),
            ("paid", "Paid (any model but free)"),
            ("max:5", "Free, or at most 5"),
            ("max:20", "Free, or at most 20"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        select(&mut o, "price", "Price", "Any", &price);
        let platforms: Vec<(String, String)> = [
            ("linux", "Linux"),
            ("macos", "macOS"),
            ("windows", "Windows"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        select(&mut o, "platform", "Platform", "Any", &platforms);
        o.push_str(
            "<span class=\"field\"><input id=\"verified\" name=\"verified\" type=\"checkbox\" value=\"1\"> \
             <label for=\"verified\">Verified only</label></span> ",
        );
        let sorts: Vec<(String, String)> = [
            ("downloads", "Most downloaded"),
            ("rating", "Best rated"),
            ("updated", "Recently updated"),
            ("trending", "Trending"),
            ("name", "Name"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        select(&mut o, "sort", "Sort", "Best match", &sorts);
        o.push_str(
            "</fieldset></form>\
             <noscript><p class=\"notice\">Searching needs JavaScript. Without it, browse the \
             <a href=\"categories.html\">categories and tags</a> or the home page's lists.</p></noscript>\
             <p id=\"status\" role=\"status\" aria-live=\"polite\"></p><ol id=\"results\" class=\"cards\"></ol>\
             <nav id=\"pager\" class=\"pager\" aria-label=\"Result pages\" hidden>\
             <button type=\"button\" id=\"prev\">Previous page</button> \
             <button type=\"button\" id=\"next\">Next page</button></nav>",
        );
        self.page("Search", "", "Search the registry's bundles", "search", o)
    }

    /// Home, search, categories and the registry feeds.
    fn shared_pages(&mut self, recent: &[Entry]) -> Result<(), SiteError> {
        let r = "";
        let mut o = String::new();
        let docs = self.reader.root.as_ref().map_or(0, |x| x.docs);
        let _ = write!(
            o,
            "<section class=\"hero\"><h1>{}</h1><p>{docs} bundle(s) of automation tasks.</p>\
             <form role=\"search\" action=\"search.html\" method=\"get\"><label for=\"home-q\">Find a bundle</label> \
             <input id=\"home-q\" name=\"q\" type=\"search\" placeholder=\"e.g. csv, slack, deploy\"> \
             <button type=\"submit\">Search</button></form></section>",
            esc(&self.title)
        );
        let mut featured = Vec::new();
        for id in self.opts.config.featured.clone() {
            if let Some(s) = self.reader.summary_of(&id)? {
                featured.push(s);
            }
        }
        if !featured.is_empty() {
            o.push_str("<section aria-labelledby=\"feat-h\"><h2 id=\"feat-h\">Featured</h2>");
            cards(&mut o, r, &featured);
            o.push_str("</section>");
        }
        let mut trending = Vec::new();
        for id in self.reader.trending()?.iter().take(8) {
            if let Some(s) = self.reader.summary_of(id)? {
                trending.push(s);
            }
        }
        if !trending.is_empty() {
            o.push_str("<section aria-labelledby=\"trend-h\"><h2 id=\"trend-h\">Trending</h2>");
            cards(&mut o, r, &trending);
            o.push_str("</section>");
        }
        o.push_str("<section aria-labelledby=\"new-h\"><h2 id=\"new-h\">Recently updated</h2><ul class=\"recent\">");
        let mut seen = BTreeSet::new();
        for e in recent.iter().filter(|e| seen.insert(e.id.clone())).take(12) {
            let _ = write!(
                o,
                "<li><a href=\"b/{}.html\">{}</a> <span class=\"ver\">{}</span> <time datetime=\"{}\">{}</time><br><span class=\"desc\">{}</span></li>",
                e.id,
                esc(&e.name),
                esc(&e.version),
                esc(&e.published),
                esc(e.published.get(..10).unwrap_or(&e.published)),
                esc(&e.description)
            );
        }
        o.push_str("</ul></section>");
        let cats = self
            .reader
            .root
            .as_ref()
            .and_then(|x| x.facets.get("category").cloned())
            .unwrap_or_default();
        o.push_str("<section aria-labelledby=\"cat-h\"><h2 id=\"cat-h\">Categories</h2>");
        facet_links(&mut o, r, "category", &cats);
        o.push_str("</section>");
        let html = self.page("Home", r, &self.title.clone(), "home", o);
        self.write("index.html", html.as_bytes())?;

        // Categories and popular tags.
        let tags = self
            .reader
            .root
            .as_ref()
            .map(|x| x.tags.clone())
            .unwrap_or_default();
        let mut o = String::from("<h1>Categories</h1>");
        facet_links(&mut o, r, "category", &cats);
        o.push_str("<h2>Popular tags</h2>");
        facet_links(&mut o, r, "tag", &tags);
        let html = self.page("Categories", r, "Categories and tags", "categories", o);
        self.write("categories.html", html.as_bytes())?;

        // Search: works with the script; without it, says so and links the listings.
        let html = self.search_page(&cats, &tags);
        self.write("search.html", html.as_bytes())?;

        // Registry feeds.
        let feed = Feed {
            title: &self.title.clone(),
            page: "index.html",
            stem: "feed",
            base: self.opts.config.base_url.as_deref(),
        };
        let (atom, json) = (feed.atom(recent), feed.json(recent));
        self.write("feed.atom", atom.as_bytes())?;
        self.write("feed.json", json.as_bytes())
    }
}

fn bundle_entries(d: &BundleData) -> Vec<Entry> {
    let (name, description) = match &d.manifest {
        Some(m) => (m.name.clone(), m.description.chars().take(200).collect()),
        None => (d.id.to_string(), String::new()),
    };
    let mut v: Vec<Entry> = d
        .versions
        .iter()
        .filter(|l| !l.yanked)
        .map(|l| Entry {
            id: d.id.to_string(),
            version: l.version.to_string(),
            name: name.clone(),
            description: description.clone(),
            published: l.published.clone(),
        })
        .collect();
    v.sort_by(|a, b| {
        b.published
            .cmp(&a.published)
            .then(b.version.cmp(&a.version))
    });
    v
}

fn status_badge(s: &ratchet_trust::VerificationStatus) -> &'static str {
    use ratchet_trust::VerificationStatus as V;
    match s {
        V::Unverified => "<span class=\"badge none\">Unverified</span>",
        V::CommunityVerified { .. } => "<span class=\"badge community\">Community verified</span>",
        V::OfficiallyVerified { .. } => "<span class=\"badge official\">Officially verified</span>",
    }
}

fn status_words(s: &ratchet_trust::VerificationStatus) -> String {
    use ratchet_trust::VerificationStatus as V;
    match s {
        V::Unverified => "Not verified: no attestation from a verifier of this registry.".into(),
        V::CommunityVerified { votes, score } => {
            format!("Community verified: {votes} reviewer(s), mean score {score:.1} of 5.")
        }
        V::OfficiallyVerified { verifier, date, .. } => {
            format!(
                "Officially verified by {verifier} on {}.",
                date.get(..10).unwrap_or(date)
            )
        }
    }
}

fn links_dd(o: &mut String, label: &str, r: &str, kind: &str, values: &[String]) {
    if values.is_empty() {
        return;
    }
    let _ = write!(o, "<dt>{label}</dt><dd>");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            o.push_str(", ");
        }
        let _ = write!(
            o,
            "<a href=\"{r}{kind}/{}.html\">{}</a>",
            facet_slug(&norm(v)),
            esc(v)
        );
    }
    o.push_str("</dd>");
}

fn facet_links(o: &mut String, r: &str, kind: &str, values: &BTreeMap<String, u32>) {
    if values.is_empty() {
        o.push_str("<p>None yet.</p>");
        return;
    }
    o.push_str("<ul class=\"facets\">");
    for (v, n) in values {
        let _ = write!(
            o,
            "<li><a href=\"{r}{kind}/{}.html\">{}</a> <span class=\"n\">{n}</span></li>",
            facet_slug(v),
            esc(v)
        );
    }
    o.push_str("</ul>");
}

/// Result cards of summaries (`r`: the page's path to the site root).
fn cards(o: &mut String, r: &str, list: &[Summary]) {
    o.push_str("<ol class=\"cards\">");
    for s in list {
        let _ = write!(
            o,
            "<li class=\"card\"><a href=\"{r}b/{}.html\">{}</a> <span class=\"ver\">{}</span>",
            s.id,
            esc(&s.name),
            esc(&s.version)
        );
        match s.verified {
            Verified::Official => {
                o.push_str(" <span class=\"badge official\">Officially verified</span>")
            }
            Verified::Community => {
                o.push_str(" <span class=\"badge community\">Community verified</span>")
            }
            Verified::None => {}
        }
        if s.deprecated {
            o.push_str(" <span class=\"badge deprecated\">Deprecated</span>");
        }
        let _ = write!(
            o,
            "<p>{}</p><p class=\"meta\">{} · {} · {} download(s)</p></li>",
            esc(&s.description),
            esc(&s.license),
            s.pricing.as_str(),
            s.downloads
        );
    }
    o.push_str("</ol>");
}

fn versions_section(o: &mut String, d: &BundleData) {
    o.push_str("<section aria-labelledby=\"ver-h\"><h2 id=\"ver-h\">Versions</h2><table><thead><tr><th scope=\"col\">Version</th><th scope=\"col\">Published</th><th scope=\"col\">Size</th><th scope=\"col\">Signed by</th><th scope=\"col\">Status</th></tr></thead><tbody>");
    let mut vs: Vec<_> = d.versions.iter().collect();
    vs.sort_by(|a, b| b.version.cmp_precedence(&a.version));
    let deprecated = d.meta.as_ref().is_some_and(|m| m.deprecated.is_some());
    for l in vs {
        let mut marks = Vec::new();
        if l.yanked {
            marks.push("<span class=\"badge yanked\">Yanked</span>");
        }
        if deprecated {
            marks.push("<span class=\"badge deprecated\">Deprecated</span>");
        }
        if d.latest.as_ref().is_some_and(|x| x.version == l.version) {
            marks.push("<span class=\"badge latest\">Latest</span>");
        }
        let _ = write!(
            o,
            "<tr><td>{}</td><td><time datetime=\"{}\">{}</time></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&l.version.to_string()),
            esc(&l.published),
            esc(l.published.get(..10).unwrap_or(&l.published)),
            size_words(l.size),
            l.signer
                .as_deref()
                .map_or("not signed".to_string(), |k| format!(
                    "<code>{}</code>",
                    esc(k)
                )),
            marks.join(" ")
        );
    }
    o.push_str("</tbody></table></section>");
}

fn size_words(n: u64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MiB", n as f64 / 1048576.0)
    } else if n >= 1024 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

fn price_words(p: &ratchet_formats::manifest::Price) -> String {
    use ratchet_formats::manifest::PricePeriod;
    let per = match p.period {
        Some(PricePeriod::Monthly) => " per month",
        Some(PricePeriod::Yearly) => " per year",
        _ => " once",
    };
    format!("{:.2} {}{per}", p.amount, p.currency)
}

fn pricing_section(o: &mut String, m: &Manifest) {
    o.push_str("<section aria-labelledby=\"price-h\"><h2 id=\"price-h\">Pricing</h2>");
    let Some(p) = &m.pricing else {
        o.push_str("<p>Free.</p></section>");
        return;
    };
    let model = match p.model {
        PricingModel::Free => "Free.",
        PricingModel::Paid => "Paid: one purchase.",
        PricingModel::Freemium => "Freemium: a free tier and a paid tier.",
        PricingModel::Subscription => "Subscription.",
    };
    let _ = write!(o, "<p>{model}");
    if let Some(pr) = &p.price {
        let _ = write!(o, " {}.", esc(&price_words(pr)));
    }
    if let Some(t) = p.trial_days {
        let _ = write!(o, " Free trial: {t} day(s).");
    }
    o.push_str("</p>");
    for (label, tier) in [
        ("Free tier", &p.free_tier),
        ("Premium tier", &p.premium_tier),
    ] {
        let Some(t) = tier else { continue };
        let _ = write!(o, "<h3>{label}</h3><ul>");
        if let Some(pr) = &t.price {
            let _ = write!(o, "<li>{}</li>", esc(&price_words(pr)));
        }
        for x in &t.tasks {
            let _ = write!(o, "<li>Task {}</li>", esc(x));
        }
        for x in &t.workflows {
            let _ = write!(o, "<li>Workflow {}</li>", esc(x));
        }
        for x in &t.features {
            let _ = write!(o, "<li>{}</li>", esc(x));
        }
        o.push_str("</ul>");
    }
    o.push_str("</section>");
}

/// Permissions and limits in plain words.
fn permissions_section(o: &mut String, m: &Manifest) {
    let p = &m.permissions;
    o.push_str("<section aria-labelledby=\"perm-h\"><h2 id=\"perm-h\">Permissions</h2><ul class=\"perms\">");
    let mut any = false;
    for d in &p.network.domains {
        any = true;
        let host = if d.wildcard {
            format!("any sub-domain of {}", d.host)
        } else {
            d.host.clone()
        };
        let how = if d.allow_http {
            "HTTPS or plain HTTP"
        } else {
            "HTTPS only"
        };
        let _ = write!(o, "<li>Connects to {} ({how})</li>", esc(&host));
    }
    for d in &p.filesystem.read {
        any = true;
        let _ = write!(o, "<li>Reads files in <code>{}</code></li>", esc(d));
    }
    for d in &p.filesystem.write {
        any = true;
        let _ = write!(
            o,
            "<li>Reads and writes files in <code>{}</code></li>",
            esc(d)
        );
    }
    for c in &p.commands {
        any = true;
        let _ = write!(o, "<li>Runs the program <code>{}</code></li>", esc(c));
    }
    for e in &p.environment {
        any = true;
        let _ = write!(
            o,
            "<li>Reads the environment variable <code>{}</code></li>",
            esc(e)
        );
    }
    if !any {
        o.push_str("<li>None: no network, files, programs or environment variables.</li>");
    }
    o.push_str("</ul><h3>Limits</h3><ul>");
    let res = &m.resources;
    let mut lim = false;
    if let Some(x) = &res.max_memory {
        lim = true;
        let _ = write!(o, "<li>At most {} of memory</li>", esc(&x.to_string()));
    }
    if let Some(x) = &res.max_cpu_time {
        lim = true;
        let _ = write!(
            o,
            "<li>At most {} of CPU time per run</li>",
            esc(&x.to_string())
        );
    }
    if let Some(x) = &res.max_disk {
        lim = true;
        let _ = write!(
            o,
            "<li>Writes at most {} to its scratch area</li>",
            esc(&x.to_string())
        );
    }
    if let Some(x) = &res.max_network_bandwidth {
        lim = true;
        let _ = write!(
            o,
            "<li>Transfers at most {} over the network per run</li>",
            esc(&x.to_string())
        );
    }
    if !lim {
        o.push_str("<li>The sandbox's default limits.</li>");
    }
    o.push_str("</ul></section>");
}
