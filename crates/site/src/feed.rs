//! Atom and JSON Feed documents of publishes (the plan's `bundleUpdates` subscription, for any
//! feed reader): registry-wide (the newest publishes) and per bundle (its versions).

use crate::html::esc;
use serde::{Deserialize, Serialize};

/// One publish, as feeds and the "recently updated" list show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Bundle id.
    pub id: String,
    /// Version published.
    pub version: String,
    /// Display name.
    pub name: String,
    /// Description (first 200 characters).
    pub description: String,
    /// Publish time, RFC 3339.
    pub published: String,
}

/// A feed's identity: title, self path (relative to the site root) and page path.
pub struct Feed<'a> {
    /// Feed title.
    pub title: &'a str,
    /// Path of the feed's page relative to the site root (`index.html`, `b/<id>.html`).
    pub page: &'a str,
    /// Path of the feed file itself, without extension (`feed`, `b/<id>`).
    pub stem: &'a str,
    /// The site's absolute base URL, if known (else links stay relative to the site root).
    pub base: Option<&'a str>,
}

impl Feed<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.unwrap_or(""))
    }

    /// The Atom document.
    pub fn atom(&self, entries: &[Entry]) -> String {
        let updated = entries
            .iter()
            .map(|e| e.published.as_str())
            .max()
            .unwrap_or("1970-01-01T00:00:00Z");
        let mut o = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
             <title>{}</title>\n<id>{}</id>\n<updated>{}</updated>\n\
             <link rel=\"self\" href=\"{}\"/>\n<link rel=\"alternate\" href=\"{}\"/>\n",
            esc(self.title),
            esc(&self.url(&format!("{}.atom", self.stem))),
            esc(updated),
            esc(&self.url(&format!("{}.atom", self.stem))),
            esc(&self.url(self.page)),
        );
        for e in entries {
            let link = self.url(&format!("b/{}.html", e.id));
            o.push_str(&format!(
                "<entry>\n<title>{} {}</title>\n<id>{}#{}</id>\n<updated>{}</updated>\n\
                 <link rel=\"alternate\" href=\"{}\"/>\n<author><name>{}</name></author>\n\
                 <summary>{}</summary>\n</entry>\n",
                esc(&e.name),
                esc(&e.version),
                esc(&link),
                esc(&e.version),
                esc(&e.published),
                esc(&link),
                esc(&e.id),
                esc(&e.description),
            ));
        }
        o.push_str("</feed>\n");
        o
    }

    /// The JSON Feed 1.1 document.
    pub fn json(&self, entries: &[Entry]) -> String {
        let items: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                let link = self.url(&format!("b/{}.html", e.id));
                serde_json::json!({
                    "id": format!("{link}#{}", e.version),
                    "url": link,
                    "title": format!("{} {}", e.name, e.version),
                    "content_text": e.description,
                    "date_published": e.published,
                    "tags": [e.id],
                })
            })
            .collect();
        let mut v = serde_json::json!({
            "version": "https://jsonfeed.org/version/1.1",
            "title": self.title,
            "home_page_url": self.url(self.page),
            "feed_url": self.url(&format!("{}.json", self.stem)),
            "items": items,
        });
        if self.base.is_none() {
            // Relative URLs: readers resolve them against the feed's own URL's directory.
            v["_ratchet"] = serde_json::json!({"relative_to": "site root"});
        }
        let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_escape_and_list_entries() {
        let e = Entry {
            id: "com.x.a".into(),
            version: "1.0.0".into(),
            name: "<b>A</b>".into(),
            description: "d & e".into(),
            published: "2026-01-01T00:00:00Z".into(),
        };
        let f = Feed {
            title: "T",
            page: "index.html",
            stem: "feed",
            base: Some("https://r.example/site/"),
        };
        let a = f.atom(std::slice::from_ref(&e));
        assert!(
            a.contains("<title>&lt;b&gt;A&lt;/b&gt; 1.0.0</title>"),
            "{a}"
        );
        assert!(a.contains("https://r.example/site/b/com.x.a.html"), "{a}");
        let j: serde_json::Value = serde_json::from_str(&f.json(&[e])).unwrap();
        assert_eq!(j["items"][0]["title"], "<b>A</b> 1.0.0");
        assert_eq!(
            j["items"][0]["url"],
            "https://r.example/site/b/com.x.a.html"
        );
    }
}
