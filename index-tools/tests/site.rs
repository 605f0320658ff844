//! `ratchet-index site`: the generated marketplace, read back as HTML. Real bundles built into
//! real archives and published into a real registry; the pages are scanned tag by tag, so a
//! payload of a hostile bundle that reached the markup as a tag or an attribute is found.

mod common;
mod site_fixtures;

use common::{Bundle, TestRegistry};
use site_fixtures::{publish_xss, sample, yaml};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ratchet-index"))
}

fn run(args: &[&str]) -> std::process::Output {
    bin().args(args).output().expect("run ratchet-index")
}

/// Every tag of an HTML document (the text between `<` and `>`), lower-cased. Text the
/// generator escaped holds no `<`, so every `<` starts real markup.
fn tags(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        let after = &rest[i + 1..];
        let end = after.find('>').unwrap_or(after.len());
        out.push(after[..end].to_lowercase());
        rest = &after[end.min(after.len())..];
    }
    out
}

/// The attributes of a tag's text (`name a="v" b='w' c=x d`), names lower-cased, values with
/// the quotes removed (a quoted value may hold spaces and `=`).
fn attributes(tag: &str) -> Vec<(String, String)> {
    let c: Vec<char> = tag.chars().collect();
    let mut i = c.iter().position(|x| x.is_whitespace()).unwrap_or(c.len());
    let mut out = Vec::new();
    while i < c.len() {
        while i < c.len() && (c[i].is_whitespace() || c[i] == '/') {
            i += 1;
        }
        let start = i;
        while i < c.len() && !c[i].is_whitespace() && c[i] != '=' {
            i += 1;
        }
        let name: String = c[start..i].iter().collect();
        let mut value = String::new();
        if i < c.len() && c[i] == '=' {
            i += 1;
            if i < c.len() && (c[i] == '"' || c[i] == '\'') {
                let q = c[i];
                i += 1;
                while i < c.len() && c[i] != q {
                    value.push(c[i]);
                    i += 1;
                }
                i += 1;
            } else {
                while i < c.len() && !c[i].is_whitespace() {
                    value.push(c[i]);
                    i += 1;
                }
            }
        }
        if !name.is_empty() {
            out.push((name, value));
        }
    }
    out
}

/// What a page must never hold: a script other than the site's own, an event handler, a
/// `javascript:`/`data:` URL, a style attribute, or an active element.
fn assert_inert(file: &str, html: &str) {
    for t in tags(html) {
        let name = t.split([' ', '\n', '\t', '/']).next().unwrap_or("");
        if name == "script" {
            assert!(
                t == "script src=\"../assets/site.js\" defer"
                    || t == "script src=\"assets/site.js\" defer",
                "{file}: foreign script tag <{t}>"
            );
        }
        for bad in [
            "iframe", "object", "embed", "img", "math", "style", "base", "frame", "video", "audio",
        ] {
            assert!(name != bad, "{file}: <{t}> survived");
        }
        assert!(!(name == "meta" && t.contains("refresh")), "{file}: <{t}>");
        if name == "svg" {
            assert!(
                t.starts_with("svg class=\"chart\""),
                "{file}: foreign <{t}>"
            );
        }
        for (an, value) in attributes(&t) {
            assert!(!an.starts_with("on"), "{file}: event handler in <{t}>");
            assert!(an != "style", "{file}: style attribute in <{t}>");
            // URL attributes: no script or inline-document URL (text attributes such as a
            // meta description may hold the escaped words).
            if [
                "href",
                "src",
                "action",
                "formaction",
                "xlink:href",
                "data",
                "poster",
            ]
            .contains(&an.as_str())
            {
                let v = value.trim_start();
                assert!(
                    !v.starts_with("javascript:"),
                    "{file}: javascript: URL in <{t}>"
                );
                assert!(!v.starts_with("data:"), "{file}: data: URL in <{t}>");
                assert!(
                    !v.starts_with("vbscript:"),
                    "{file}: vbscript: URL in <{t}>"
                );
            }
        }
    }
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, d: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

fn generate(dir: &Path) -> PathBuf {
    let o = run(&[
        "site",
        dir.to_str().unwrap(),
        "--base-url",
        "https://r.example/site",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    dir.join("site")
}

#[test]
fn pages_of_a_registry() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path());
    sample(&reg);
    let out = generate(&reg.dir());
    let f = files(&out);
    for p in [
        "index.html",
        "search.html",
        "categories.html",
        "feed.atom",
        "feed.json",
        "b/com.acme.csv.html",
        "b/com.acme.csv.atom",
        "b/com.acme.csv.json",
        "assets/site.css",
        "assets/site.js",
    ] {
        assert!(
            f.contains_key(p),
            "{p} missing; have {:?}",
            f.keys().collect::<Vec<_>>()
        );
    }
    let page = String::from_utf8(f["b/com.acme.csv.html"].clone()).unwrap();
    // README rendered from Markdown (emphasis, table), install command, dependents none yet.
    assert!(
        page.contains("<h1>CSV tools</h1>") && page.contains("<em>CSV</em>"),
        "{page}"
    );
    assert!(
        page.contains("<table>") && page.contains("<td>1</td>"),
        "{page}"
    );
    assert!(
        page.contains("ratchet bundle install com.acme.csv"),
        "{page}"
    );
    assert!(page.contains("Content-Security-Policy") && page.contains("default-src 'self'"));
    // Relative links only: the site works under any sub-path.
    for t in tags(&page) {
        for attr in ["href=\"", "src=\""] {
            if let Some(i) = t.find(attr) {
                let v = &t[i + attr.len()..];
                assert!(!v.starts_with('/'), "absolute path in <{t}>");
                assert!(!v.starts_with("http"), "external resource in <{t}>");
            }
        }
    }
    // The dependent's page links its dependency; category pages list their bundles.
    let report = String::from_utf8(f["b/com.acme.report.html"].clone()).unwrap();
    assert!(
        report.contains("<a href=\"com.acme.csv.html\">com.acme.csv</a>"),
        "{report}"
    );
    let cat = f
        .iter()
        .find(|(k, v)| {
            k.starts_with("category/") && String::from_utf8_lossy(v).contains("Category: data")
        })
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .expect("a page for category data");
    assert!(
        cat.contains("b/com.acme.csv.html") && !cat.contains("com.acme.report"),
        "{cat}"
    );
    // Feeds: absolute links from --base-url, one entry per publish.
    let feed: serde_json::Value = serde_json::from_slice(&f["feed.json"]).unwrap();
    assert_eq!(feed["items"].as_array().unwrap().len(), 2);
    assert!(
        String::from_utf8_lossy(&f["feed.atom"])
            .contains("https://r.example/site/b/com.acme.csv.html")
    );
    // Home lists both as recently updated.
    let home = String::from_utf8(f["index.html"].clone()).unwrap();
    assert!(home.contains("b/com.acme.report.html") && home.contains("b/com.acme.csv.html"));
    for (k, v) in &f {
        if k.ends_with(".html") {
            assert_inert(k, &String::from_utf8_lossy(v));
        }
    }
}

#[test]
fn hostile_bundle_is_inert_everywhere() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path());
    sample(&reg);
    publish_xss(&reg);
    let out = generate(&reg.dir());
    let f = files(&out);
    let page = String::from_utf8(f["b/com.evil.xss.html"].clone()).unwrap();
    // The README's text survives, its payloads do not.
    assert!(
        page.contains("<h1>Hostile README</h1>") && page.contains("Visible paragraph."),
        "{page}"
    );
    // The name is shown, as text.
    assert!(
        page.contains("&lt;script&gt;window.__xss=&#39;name&#39;&lt;/script&gt;"),
        "{page}"
    );
    let mut html_pages = 0;
    for (k, v) in &f {
        let text = String::from_utf8_lossy(v);
        if k.ends_with(".html") {
            html_pages += 1;
            assert_inert(k, &text);
        }
        if k.ends_with(".atom") {
            // XML: the payloads are escaped text of the entries.
            assert!(
                !text.contains("<script") && !text.contains("<img") && !text.contains("<svg"),
                "{k}: {text}"
            );
        }
    }
    assert!(html_pages >= 8, "{html_pages} pages");
    // The hostile author and category have pages, titled with the escaped value.
    assert!(
        f.iter().any(|(k, v)| k.starts_with("author/")
            && String::from_utf8_lossy(v).contains("Bundles by &lt;img")),
        "no author page"
    );
}

#[test]
fn publish_regenerates_only_what_it_changes() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path());
    std::fs::write(
        reg.dir().join("site.json"),
        br#"{"v": 1, "on_publish": true}"#,
    )
    .unwrap();
    sample(&reg);
    for i in 0..6 {
        Bundle::new(&format!("com.other.b{i}"), "1.0.0")
            .description("Another bundle.")
            .edit(yaml(
                "  license: \"MIT\"",
                "  license: \"MIT\"\n  categories: [\"misc\"]".into(),
            ))
            .publish(&reg);
    }
    let out = reg.dir().join("site");
    let before = files(&out);
    assert!(
        before.contains_key("b/com.other.b5.html"),
        "the publish hook generated the site"
    );
    // A full generation now changes nothing: the hook's incremental pages equal a full run's.
    let o = run(&["site", reg.dir().to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["pages_written"], 0, "{j}");
    assert_eq!(j["feeds_written"], 0, "{j}");

    Bundle::new("com.acme.csv", "1.1.0")
        .description("Reads and writes CSV files.")
        .keyword("csv")
        .edit(yaml(
            "  license: \"MIT\"",
            "  license: \"MIT\"\n  categories: [\"data\"]".into(),
        ))
        .publish(&reg);
    let after = files(&out);
    let changed: Vec<&String> = after
        .keys()
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    let slug = ratchet_site::facet_slug;
    let mut expected: Vec<String> = vec![
        "b/com.acme.csv.html".into(),
        "b/com.acme.csv.atom".into(),
        "b/com.acme.csv.json".into(),
        format!("author/{}.html", slug("your name")),
        format!("category/{}.html", slug("data")),
        format!("tag/{}.html", slug("csv")),
        format!("tag/{}.html", slug("math")),
        "index.html".into(),
        "feed.atom".into(),
        "feed.json".into(),
        "state/recent.json".into(),
        // The summaries the changed facet pages list (an update reads them from here).
        format!("state/author/{}.json", slug("your name")),
        format!("state/category/{}.json", slug("data")),
        format!("state/tag/{}.json", slug("csv")),
        format!("state/tag/{}.json", slug("math")),
    ];
    expected.sort();
    let mut changed: Vec<String> = changed.into_iter().cloned().collect();
    changed.sort();
    assert_eq!(changed, expected);
    // The other bundles' pages and the other categories' pages were not rewritten.
    assert_eq!(before["b/com.other.b3.html"], after["b/com.other.b3.html"]);
    let page = String::from_utf8(after["b/com.acme.csv.html"].clone()).unwrap();
    assert!(
        page.contains("<td>1.1.0</td>") && page.contains("<td>1.0.0</td>"),
        "both versions listed"
    );

    // Yanking marks the version and takes it out of the feeds.
    reg.reg
        .set_yanked(
            &"com.acme.csv".parse().unwrap(),
            &semver::Version::new(1, 1, 0),
            true,
        )
        .unwrap();
    let page = std::fs::read_to_string(out.join("b/com.acme.csv.html")).unwrap();
    assert!(page.contains("Yanked"), "{page}");
    let feed = std::fs::read_to_string(out.join("b/com.acme.csv.atom")).unwrap();
    assert!(!feed.contains("1.1.0") && feed.contains("1.0.0"), "{feed}");

    // A site written by an older tool gets this tool's script with the next change (a newer
    // script reads catalog formats an older one refuses).
    std::fs::write(out.join("assets/site.js"), b"// an older script\n").unwrap();
    reg.reg
        .set_yanked(
            &"com.acme.csv".parse().unwrap(),
            &semver::Version::new(1, 1, 0),
            false,
        )
        .unwrap();
    let js = std::fs::read_to_string(out.join("assets/site.js")).unwrap();
    assert!(js.contains("HEAD_PAGE"), "the script was not rewritten");
}

#[test]
fn bad_config_and_directories_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path());
    sample(&reg);
    std::fs::write(
        reg.dir().join("site.json"),
        br#"{"v": 1, "out": "../outside"}"#,
    )
    .unwrap();
    let o = run(&["site", reg.dir().to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("site.json") && err.contains("out"), "{err}");
    assert!(!t.path().join("outside").exists() && !reg.dir().join("site").exists());

    std::fs::write(reg.dir().join("site.json"), b"{not json").unwrap();
    let o = run(&["site", reg.dir().to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("site.json"));

    std::fs::remove_file(reg.dir().join("site.json")).unwrap();
    let o = run(&["site", t.path().join("nope").to_str().unwrap()]);
    assert!(!o.status.success());
    let o = run(&[
        "site",
        reg.dir().to_str().unwrap(),
        "--base-url",
        "javascript:alert(1)",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--base-url"));
    assert!(
        !reg.dir().join("site").exists(),
        "nothing written on a refusal"
    );
}

#[test]
fn owner_key_pages_list_a_keys_bundles() {
    let t = tempfile::tempdir().unwrap();
    let reg = TestRegistry::new(t.path());
    let key = ratchet_testkit::secret_key(t.path(), "owner");
    let key_id = key.public().key_id();
    Bundle::new("com.signed.one", "1.0.0").publish_signed(&reg, &key);
    Bundle::new("com.signed.two", "1.0.0").publish_signed(&reg, &key);
    sample(&reg);
    let out = generate(&reg.dir());
    let page = std::fs::read_to_string(out.join(format!("key/{key_id}.html")))
        .unwrap_or_else(|e| panic!("no page for key {key_id}: {e}"));
    assert!(
        page.contains("b/com.signed.one.html") && page.contains("b/com.signed.two.html"),
        "{page}"
    );
    assert!(
        !page.contains("com.acme.csv"),
        "unsigned bundles are not the key's: {page}"
    );
    let bundle = std::fs::read_to_string(out.join("b/com.signed.one.html")).unwrap();
    assert!(
        bundle.contains(&format!("../key/{key_id}.html")),
        "{bundle}"
    );
}
