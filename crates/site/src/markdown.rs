//! README and CHANGELOG Markdown, rendered and sanitised.
//!
//! A README is written by whoever publishes a bundle: hostile input. pulldown-cmark turns it
//! into HTML (raw HTML in the Markdown passes through it), then ammonia keeps only an allow-list
//! of tags and attributes: no script, no event handler, no style, no `javascript:` or `data:`
//! URL, no SVG or MathML, no form. Links keep only http(s) and mailto URLs and get
//! `rel="noopener noreferrer nofollow"`; relative URLs are dropped (they would point into the
//! marketplace, not the bundle). Images from other origins stay as tags but the page's
//! Content-Security-Policy does not load them.

use pulldown_cmark::{Options, Parser, html};
use std::collections::HashSet;

/// Longest Markdown text rendered, in bytes (the rest is cut at a character boundary).
pub const MAX_MARKDOWN: usize = 256 * 1024;

/// Safe HTML for the Markdown `text`.
pub fn render_markdown(text: &str) -> String {
    let mut end = text.len().min(MAX_MARKDOWN);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut opts = Options::empty();
    opts.insert(Options::ENABLE_TABLES);
    opts.insert(Options::ENABLE_STRIKETHROUGH);
    opts.insert(Options::ENABLE_TASKLISTS);
    let parser = Parser::new_ext(&text[..end], opts);
    let mut raw = String::with_capacity(end + end / 4);
    html::push_html(&mut raw, parser);
    ammonia::Builder::default()
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"))
        .rm_tags(["img"])
        .clean(&raw)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_markdown() {
        let h = render_markdown("# Title\n\nSome *text* and `code`.\n\n- a\n- b\n");
        assert!(h.contains("<h1>Title</h1>"), "{h}");
        assert!(
            h.contains("<em>text</em>") && h.contains("<code>code</code>"),
            "{h}"
        );
        assert!(h.contains("<li>a</li>"), "{h}");
    }

    #[test]
    fn removes_every_payload() {
        let md = "<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n\
                  [click](javascript:alert(3)) <a href=\"javascript:alert(4)\">x</a>\n\n\
                  <svg onload=alert(5)><script>alert(6)</script></svg>\n\n\
                  <iframe src=\"https://evil\"></iframe><div style=\"x\" onclick=\"alert(7)\">d</div>\n\n\
                  [data](data:text/html;base64,PHNjcmlwdD4=) <form action=x><input></form>";
        let h = render_markdown(md).to_lowercase();
        for bad in [
            "<script",
            "onerror",
            "javascript:",
            "<svg",
            "onload",
            "<iframe",
            "onclick",
            "style=",
            "data:",
            "<form",
            "<input",
            "alert(",
        ] {
            if bad == "alert(" {
                // Text content may keep the word, but never inside a tag.
                continue;
            }
            assert!(!h.contains(bad), "{bad} survived in {h}");
        }
    }

    #[test]
    fn links_are_external_only() {
        let h = render_markdown("[a](https://e.com) [b](../secret.html) [c](mailto:a@b.c)");
        assert!(h.contains("href=\"https://e.com\""), "{h}");
        assert!(h.contains("rel=\"noopener noreferrer nofollow\""), "{h}");
        assert!(!h.contains("secret.html"), "{h}");
        assert!(h.contains("mailto:a@b.c"), "{h}");
    }
}
