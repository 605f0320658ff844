//! The downloads-over-time chart: an inline SVG bar chart, no script and no style attribute
//! (colours come from the stylesheet's classes), with a text alternative for screen readers.

use std::collections::BTreeMap;
use std::fmt::Write;

/// Width and height of the drawing, in SVG units.
const W: f64 = 600.0;
const H: f64 = 120.0;

/// An SVG of downloads per week for the `weeks` weeks ending with `as_of` (`days`: day number
/// -> downloads, summed over versions). Empty string when there is nothing to draw.
pub fn downloads_svg(days: &BTreeMap<i64, u64>, as_of: i64, weeks: usize) -> String {
    if days.is_empty() || weeks == 0 {
        return String::new();
    }
    let mut bins = vec![0u64; weeks];
    for (&d, &n) in days {
        let age = as_of - d;
        if age < 0 {
            continue;
        }
        let w = (age / 7) as usize;
        if w < weeks {
            bins[weeks - 1 - w] += n;
        }
    }
    let max = bins.iter().copied().max().unwrap_or(0).max(1);
    let total: u64 = bins.iter().sum();
    let bw = W / weeks as f64;
    let mut o = String::new();
    let _ = write!(
        o,
        "<svg class=\"chart\" viewBox=\"0 0 {W} {}\" role=\"img\" aria-labelledby=\"chart-t\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title id=\"chart-t\">Downloads per week, last {weeks} \
         weeks: {total} in all, at most {max} in one week</title>",
        H + 16.0
    );
    let _ = write!(
        o,
        "<line class=\"axis\" x1=\"0\" y1=\"{H}\" x2=\"{W}\" y2=\"{H}\"/>"
    );
    for (i, &n) in bins.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let h = (n as f64 / max as f64 * (H - 4.0)).max(1.0);
        let _ = write!(
            o,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{n}</title></rect>",
            i as f64 * bw + 1.0,
            H - h,
            (bw - 2.0).max(1.0),
            h
        );
    }
    let _ = write!(
        o,
        "<text class=\"label\" x=\"0\" y=\"{}\">{weeks} weeks ago</text>\
         <text class=\"label\" x=\"{W}\" y=\"{}\" text-anchor=\"end\">this week</text></svg>",
        H + 14.0,
        H + 14.0
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_highest_week() {
        let days = BTreeMap::from([(100, 10), (99, 10), (90, 5), (10, 1000)]);
        let s = downloads_svg(&days, 100, 4);
        assert_eq!(s.matches("<rect").count(), 2, "{s}");
        assert!(
            s.contains("height=\"116.0\""),
            "the highest week fills the chart: {s}"
        );
        assert!(s.contains("25 in all"), "{s}");
        assert_eq!(downloads_svg(&BTreeMap::new(), 100, 4), "");
    }
}
