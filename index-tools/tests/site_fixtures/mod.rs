//! Fixtures of the site tests: two ordinary bundles and a hostile one, built from the
//! testkit's bundle with `bundle.yaml` edits (shared by `site.rs` and `site_browser.rs`).
#![allow(dead_code)]

use ratchet_testkit::{Bundle, TestRegistry};
use std::path::Path;

/// Replaces `from` by `to` in the bundle's `bundle.yaml` (the test's own fixture text).
pub fn yaml(from: &'static str, to: String) -> impl FnOnce(&Path) + 'static {
    move |src: &Path| {
        let p = src.join("bundle.yaml");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "fixture has no {from}");
        std::fs::write(&p, text.replacen(from, &to, 1)).unwrap();
    }
}

/// Replaces the first line of `bundle.yaml` that starts with `prefix` by `to`.
pub fn line_edit(prefix: &'static str, to: String) -> impl FnOnce(&Path) + 'static {
    move |src: &Path| {
        let p = src.join("bundle.yaml");
        let text = std::fs::read_to_string(&p).unwrap();
        let mut done = false;
        let out: String = text
            .lines()
            .map(|l| {
                if !done && l.starts_with(prefix) {
                    done = true;
                    format!("{to}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        assert!(done, "fixture has no line {prefix}");
        std::fs::write(&p, out).unwrap();
    }
}

pub fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// The payloads of the XSS bundle: each would run script if it reached the page unescaped.
const NAME: &str =
    "<script>window.__xss='name'</script><img src=x onerror=\"window.__xss='name-img'\">";
const DESCRIPTION: &str = "\"><svg onload=\"window.__xss='desc'\"></svg><a href=\"javascript:window.__xss='desc-a'\">x</a>";
const KEYWORD: &str = "<script>window.__xss='kw'</script>";
const AUTHOR: &str = "<img src=x onerror=\"window.__xss='author'\">";
const CATEGORY: &str = "<b onmouseover=\"window.__xss='cat'\">cat</b>";
const README: &str = "# Hostile README\n\nVisible paragraph.\n\n\
<script>window.__xss='readme-script'</script>\n\n\
<img src=\"x\" onerror=\"window.__xss='readme-img'\">\n\n\
[click me](javascript:window.__xss='readme-link')\n\n\
<a href=\"javascript:window.__xss='readme-a'\">raw link</a>\n\n\
<svg><script>window.__xss='svg-script'</script><animate onbegin=\"window.__xss='svg-anim'\"/></svg>\n\n\
<svg onload=\"window.__xss='svg-onload'\"></svg>\n\n\
<iframe src=\"javascript:window.__xss='iframe'\"></iframe>\n\n\
<div style=\"background:url(javascript:alert(1))\" onclick=\"window.__xss='div'\">div</div>\n\n\
<object data=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\"></object>\n\n\
<form action=\"javascript:alert(1)\"><button>go</button></form>\n\n\
<math><mtext><table><mglyph><style><img src=x onerror=\"window.__xss='mxss'\"></style></mglyph></table></mtext></math>\n";

/// Publishes a bundle whose README, name, description, keywords, author and category carry
/// script tags, event handlers, `javascript:` URLs and SVG payloads.
pub fn publish_xss(reg: &TestRegistry) {
    Bundle::new("com.evil.xss", "1.0.0")
        .readme(README)
        .edit(line_edit("  name: ", format!("  name: {}", js(NAME))))
        .edit(yaml("    name: \"Your Name\"", format!("    name: {}", js(AUTHOR))))
        .edit(yaml(
            "  description: \"Adds two numbers (a starting point: replace with what your bundle does).\"",
            format!("  description: {}\n  categories: [{}]", js(DESCRIPTION), js(CATEGORY)),
        ))
        .edit(yaml("keywords: [\"example\"]", format!("keywords: [{}, \"safe\"]", js(KEYWORD))))
        .publish(reg);
}

/// Two bundles: `com.acme.csv` (category data, README with a table) and `com.acme.report`
/// (category reporting, depends on it).
pub fn sample(reg: &TestRegistry) {
    Bundle::new("com.acme.csv", "1.0.0")
        .description("Reads and writes CSV files.")
        .keyword("csv")
        .readme("# CSV tools\n\nRead *CSV* files.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
        .edit(yaml(
            "  license: \"MIT\"",
            "  license: \"MIT\"\n  categories: [\"data\"]".into(),
        ))
        .publish(reg);
    Bundle::new("com.acme.report", "1.0.0")
        .description("Builds reports from CSV.")
        .dep("com.acme.csv", "^1")
        .edit(yaml(
            "  license: \"MIT\"",
            "  license: \"MIT\"\n  categories: [\"reporting\"]".into(),
        ))
        .publish(reg);
}
