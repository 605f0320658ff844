//! The compatibility check: the `ratchet_versions` a bundle declares in
//! `.ratchet/bundle-tests.yaml` against the Ratchet version this runtime implements and the
//! bundle's own `requirements.ratchet_version` (`index-format.md` §16.5).

use ratchet_formats::manifest::VersionReq;
use semver::Version;

/// The result of one comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Holds, with a note.
    Passed(String),
    /// Does not hold: why.
    Failed(String),
    /// Cannot be checked here: why.
    Skipped(String),
}

/// One compared version: the label (`ratchet 1.0`) and its outcome.
pub type Compared = (String, Outcome);

/// Whether `declared` (`"1"`, `"1.0"`, `"1.0.3"`) names `v` at the precision it is written in.
fn covers(declared: &str, v: &Version) -> Option<bool> {
    let parts: Vec<u64> = declared
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [ma] => Some(*ma == v.major),
        [ma, mi] => Some(*ma == v.major && *mi == v.minor),
        [ma, mi, pa] => Some(*ma == v.major && *mi == v.minor && *pa == v.patch),
        _ => None,
    }
}

fn padded(text: &str) -> Option<Version> {
    let p = match text.split('.').count() {
        1 => format!("{text}.0.0"),
        2 => format!("{text}.0"),
        _ => text.to_string(),
    };
    Version::parse(&p).ok()
}

/// Compares the declared `ratchet_versions` with `runtime` (the Ratchet version this runtime
/// implements) and with `requirement` (`requirements.ratchet_version` of the manifest).
pub fn ratchet_versions(
    declared: &[String],
    requirement: Option<&VersionReq>,
    runtime: &Version,
) -> Vec<Compared> {
    let mut out = Vec::new();
    let mut runtime_listed = false;
    for text in declared {
        let label = format!("ratchet {text}");
        let (Some(v), Some(here)) = (padded(text), covers(text, runtime)) else {
            out.push((
                label,
                Outcome::Failed(format!("`{text}` is not a version (write e.g. `1.0`)")),
            ));
            continue;
        };
        if let Some(req) = requirement
            && !req.matches(&v)
        {
            out.push((
                label,
                Outcome::Failed(format!(
                    "requirements.ratchet_version `{req}` excludes {text}"
                )),
            ));
            continue;
        }
        if here {
            runtime_listed = true;
            out.push((
                label,
                Outcome::Passed(format!(
                    "this runtime implements Ratchet {runtime}: the tests above ran on it"
                )),
            ));
        } else {
            out.push((
                label,
                Outcome::Skipped(format!(
                    "this runtime implements Ratchet {runtime}, not {text}: declared, not run here"
                )),
            ));
        }
    }
    let label = format!("ratchet {runtime} (this runtime)");
    if let Some(req) = requirement
        && !req.matches(runtime)
    {
        out.push((
            label,
            Outcome::Failed(format!(
                "requirements.ratchet_version `{req}` excludes this runtime's Ratchet {runtime}: the bundle cannot be installed or run here"
            )),
        ));
    } else if !declared.is_empty() && !runtime_listed {
        out.push((
            label,
            Outcome::Failed(format!(
                "this runtime implements Ratchet {runtime}, which ratchet_versions ({}) does not list: the bundle does not claim to work here",
                declared.join(", ")
            )),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(declared: &[&str], req: Option<&str>, runtime: &str) -> Vec<(String, &'static str)> {
        let d: Vec<String> = declared.iter().map(|s| s.to_string()).collect();
        let r = req.map(|r| VersionReq::parse(r).unwrap());
        ratchet_versions(&d, r.as_ref(), &Version::parse(runtime).unwrap())
            .into_iter()
            .map(|(l, o)| {
                (
                    l,
                    match o {
                        Outcome::Passed(_) => "passed",
                        Outcome::Failed(_) => "failed",
                        Outcome::Skipped(_) => "skipped",
                    },
                )
            })
            .collect()
    }

    #[test]
    fn the_runtime_must_be_listed_and_allowed() {
        assert_eq!(
            run(&["1.0", "1.1", "2.0"], Some(">=1.0.0"), "1.0.0"),
            [
                ("ratchet 1.0".to_string(), "passed"),
                ("ratchet 1.1".to_string(), "skipped"),
                ("ratchet 2.0".to_string(), "skipped")
            ]
        );
        let r = run(&["2.0"], None, "1.0.0");
        assert_eq!(r.last().unwrap().1, "failed");
        let r = run(&["1.0"], Some(">=2.0.0"), "1.0.4");
        assert!(r.iter().all(|(_, o)| *o == "failed"), "{r:?}");
        assert_eq!(run(&["x.y"], None, "1.0.0")[0].1, "failed");
        assert!(run(&[], None, "1.0.0").is_empty());
    }
}
