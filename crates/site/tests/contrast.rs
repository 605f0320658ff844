//! The accessibility audit of the stylesheet: WCAG 2.2 contrast of every text colour against the
//! backgrounds it is drawn on (1.4.3: at least 4.5:1, all of the site's text being normal-sized
//! or smaller), and of the focus outline, the form controls' borders and the chart's bars
//! against their surroundings (1.4.11: at least 3:1).
//!
//! The colours are read from `assets/site.css` itself (its `:root` custom properties and the
//! rules named below), so a changed colour is measured again; and every colour the stylesheet
//! gives text (`color`, `fill`) must be one this audit measures, so a new one cannot slip by.

use std::collections::BTreeMap;

const CSS: &str = include_str!("../assets/site.css");

/// Rules of the stylesheet: selector -> property -> value (later declarations win).
fn rules(css: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut text = String::new();
    let mut rest = css;
    while let Some(i) = rest.find("/*") {
        text.push_str(&rest[..i]);
        rest = rest[i..].find("*/").map_or("", |j| &rest[i + j + 2..]);
    }
    text.push_str(rest);
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for block in text.split('}') {
        let Some((sel, body)) = block.split_once('{') else {
            continue;
        };
        for sel in sel.split(',') {
            let sel = sel.split_whitespace().collect::<Vec<_>>().join(" ");
            let decls = out.entry(sel).or_default();
            for d in body.split(';') {
                if let Some((p, v)) = d.split_once(':') {
                    decls.insert(p.trim().to_string(), v.trim().to_string());
                }
            }
        }
    }
    out
}

struct Sheet(BTreeMap<String, BTreeMap<String, String>>);

impl Sheet {
    /// The colour of `prop` in the rule `sel` (custom properties resolved), as `#rrggbb`.
    fn colour(&self, sel: &str, prop: &str) -> String {
        let v = self
            .0
            .get(sel)
            .and_then(|d| d.get(prop))
            .unwrap_or_else(|| panic!("site.css has no `{prop}` in `{sel}`"));
        self.resolve(v)
    }

    fn resolve(&self, v: &str) -> String {
        // The first colour in the value (`1px solid #8c959f`, `3px solid var(--x)`).
        let v = v.trim();
        if let Some(i) = v.find("var(--") {
            let name = &v[i + 4..v[i..].find(')').map_or(v.len(), |j| i + j)];
            return self.colour(":root", name);
        }
        let hex = v
            .split_whitespace()
            .find(|w| w.starts_with('#'))
            .unwrap_or_else(|| panic!("`{v}` holds no #rrggbb colour"));
        match hex.len() {
            7 => hex.to_lowercase(),
            4 => {
                let c: Vec<char> = hex[1..].chars().collect();
                format!("#{0}{0}{1}{1}{2}{2}", c[0], c[1], c[2]).to_lowercase()
            }
            _ => panic!("`{hex}` is not #rgb or #rrggbb"),
        }
    }
}

/// Relative luminance (WCAG 2.2).
fn luminance(hex: &str) -> f64 {
    let ch = |i: usize| {
        let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * ch(1) + 0.7152 * ch(3) + 0.0722 * ch(5)
}

fn ratio(a: &str, b: &str) -> f64 {
    let (x, y) = (luminance(a), luminance(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

#[test]
fn the_contrast_formula_matches_wcag_examples() {
    assert!((ratio("#000000", "#ffffff") - 21.0).abs() < 1e-9);
    assert!((ratio("#777777", "#ffffff") - 4.48).abs() < 0.01);
    assert!((ratio("#ffffff", "#ffffff") - 1.0).abs() < 1e-9);
}

#[test]
fn every_colour_pair_meets_wcag_aa() {
    let s = Sheet(rules(CSS));
    let bg = s.colour(":root", "--bg");
    let panel = s.colour(":root", "--panel");
    let notice = s.colour(".notice", "background");
    let body = s.colour("body", "background");
    assert_eq!(body, bg, "the body's background is --bg");
    // (what, foreground, background, minimum)
    let mut pairs: Vec<(String, String, String, f64)> = Vec::new();
    let mut text = |what: &str, fg: String, on: &[(&str, &String)]| {
        for (bg_name, b) in on {
            pairs.push((
                format!("{what} on {bg_name}"),
                fg.clone(),
                (*b).clone(),
                4.5,
            ));
        }
    };
    let all = [("page", &bg), ("header/panel", &panel), ("notice", &notice)];
    text("body text", s.colour("body", "color"), &all);
    text("links", s.colour("a", "color"), &all);
    text(
        "muted text (meta, versions, footer)",
        s.colour(".meta", "color"),
        &all,
    );
    text("version numbers", s.colour(".ver", "color"), &all);
    text(
        "status line",
        s.colour("#status", "color"),
        &[("page", &bg)],
    );
    text(
        "filters legend",
        s.colour(".filters legend", "color"),
        &[("page", &bg)],
    );
    text(
        "brand",
        s.colour(".brand", "color"),
        &[("header/panel", &panel)],
    );
    text("footer", s.colour("footer", "color"), &[("page", &bg)]);
    text(
        "copied note",
        s.colour(".copied", "color"),
        &[("page", &bg)],
    );
    for b in [
        ".badge.official",
        ".badge.community",
        ".badge.none",
        ".badge.deprecated",
        ".badge.latest",
    ] {
        text(
            b,
            s.colour(b, "color"),
            &[("page", &bg), ("notice", &notice)],
        );
    }
    text(
        "button label",
        s.colour("button", "color"),
        &[("button", &s.colour("button", "background"))],
    );
    text(
        "disabled button label",
        s.colour("button:disabled", "color"),
        &[(
            "disabled button",
            &s.colour("button:disabled", "background"),
        )],
    );
    text(
        "chart labels",
        s.colour(".chart .label", "fill"),
        &[("page", &bg)],
    );
    // Non-text contrast (1.4.11): what identifies a control or its state.
    let focus = s.colour("a:focus-visible", "outline");
    for (what, b) in [("page", &bg), ("header/panel", &panel), ("notice", &notice)] {
        pairs.push((
            format!("focus outline on {what}"),
            focus.clone(),
            b.clone(),
            3.0,
        ));
    }
    let border = s.colour("input", "border");
    for (what, b) in [("page", &bg), ("header/panel", &panel)] {
        pairs.push((
            format!("form control border on {what}"),
            border.clone(),
            b.clone(),
            3.0,
        ));
    }
    pairs.push((
        "chart bars on page".into(),
        s.colour(".chart .bar", "fill"),
        bg.clone(),
        3.0,
    ));

    let mut failures = Vec::new();
    for (what, fg, b, min) in &pairs {
        let r = ratio(fg, b);
        println!("{r:>6.2}:1 (min {min}) {what}: {fg} on {b}");
        if r < *min {
            failures.push(format!("{what}: {fg} on {b} is {r:.2}:1, below {min}:1"));
        }
    }
    assert!(
        failures.is_empty(),
        "contrast below WCAG AA:\n{}",
        failures.join("\n")
    );

    // Every colour the stylesheet gives text is one measured above.
    let measured: std::collections::BTreeSet<&String> = pairs.iter().map(|p| &p.1).collect();
    for (sel, decls) in &s.0 {
        for (p, v) in decls {
            if (p == "color" || p == "fill") && v != "inherit" && v != "currentColor" {
                let c = s.resolve(v);
                assert!(
                    measured.contains(&c),
                    "`{sel} {{ {p}: {v} }}` ({c}) is a text colour the audit does not measure"
                );
            }
        }
    }
}
