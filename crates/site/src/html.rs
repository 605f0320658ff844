//! HTML escaping and the page shell shared by every page.
//!
//! Every string from a registry goes through [`esc`] (text and attribute values alike: it
//! escapes `&`, `<`, `>`, `"` and `'`, and drops control characters), so a hostile name or
//! description can never open a tag or an attribute. The shell sets the Content-Security-Policy
//! (no inline script or style, nothing from another origin) and links the one stylesheet and the
//! one script relative to the page, so the site works under any sub-path.

use std::fmt::Write;

/// The policy every page carries: only files of the site's own origin, no inline code.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       object-src 'none'; base-uri 'none'; form-action 'self'";

/// `s` escaped for HTML text and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => o.push(c),
        }
    }
    o
}

/// An external link from a bundle's manifest (author website, support URL), only when it is a
/// plain http(s) URL; anything else is shown as text.
pub fn ext_link(url: &str, text: &str) -> String {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        format!(
            "<a href=\"{}\" rel=\"nofollow noopener noreferrer\">{}</a>",
            esc(url),
            esc(text)
        )
    } else {
        esc(text)
    }
}

/// One page: its title, where it is (`root`: the relative path from it to the site root, `""`
/// or `"../"`), its main content, and the feeds it advertises.
pub struct Page<'a> {
    /// The site's title.
    pub site: &'a str,
    /// The page's title.
    pub title: &'a str,
    /// Relative path to the site root.
    pub root: &'a str,
    /// One-line description (meta description).
    pub description: &'a str,
    /// Alternate feeds: (type, href relative to the page, title).
    pub feeds: Vec<(&'a str, String, String)>,
    /// `<main>` content.
    pub main: String,
    /// Which navigation item is current.
    pub nav: &'a str,
}

impl Page<'_> {
    /// The whole document.
    pub fn render(&self) -> String {
        let r = self.root;
        let mut o = String::with_capacity(self.main.len() + 2048);
        let _ = write!(
            o,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"referrer\" content=\"no-referrer\">\n\
             <title>{} · {}</title>\n<meta name=\"description\" content=\"{}\">\n\
             <link rel=\"stylesheet\" href=\"{r}assets/site.css\">\n",
            esc(self.title),
            esc(self.site),
            esc(self.description)
        );
        for (ty, href, title) in &self.feeds {
            let _ = writeln!(
                o,
                "<link rel=\"alternate\" type=\"{ty}\" href=\"{}\" title=\"{}\">",
                esc(href),
                esc(title)
            );
        }
        let cur = |n: &str| {
            if n == self.nav {
                " aria-current=\"page\""
            } else {
                ""
            }
        };
        let _ = write!(
            o,
            "<script src=\"{r}assets/site.js\" defer></script>\n</head>\n<body>\n\
             <a class=\"skip\" href=\"#main\">Skip to content</a>\n\
             <header class=\"top\"><nav aria-label=\"Site\"><a class=\"brand\" href=\"{r}index.html\"{}>{}</a> \
             <a href=\"{r}search.html\"{}>Search</a> <a href=\"{r}categories.html\"{}>Categories</a> \
             <a href=\"{r}feed.atom\">Feed</a></nav>\
             <form class=\"quick\" role=\"search\" action=\"{r}search.html\" method=\"get\">\
             <label for=\"top-q\">Search bundles</label> <input id=\"top-q\" name=\"q\" type=\"search\">\
             <button type=\"submit\">Search</button></form></header>\n\
             <main id=\"main\">\n{}\n</main>\n\
             <footer><p>A static marketplace of the registry. Pages read without JavaScript. \
             <a href=\"{r}feed.atom\">Atom</a> · <a href=\"{r}feed.json\">JSON Feed</a></p></footer>\n\
             </body>\n</html>\n",
            cur("home"),
            esc(self.site),
            cur("search"),
            cur("categories"),
            self.main
        );
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>\"a\" & 'b'</script>\u{7}"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn only_http_links_are_links() {
        assert!(ext_link("javascript:alert(1)", "x").starts_with('x'));
        let l = ext_link("https://e.com/\"onmouseover=\"x", "t");
        assert!(
            l.contains("href=\"https://e.com/&quot;onmouseover=&quot;x\""),
            "{l}"
        );
        assert!(ext_link("https://e.com/a b", "t") == "t");
    }
}
