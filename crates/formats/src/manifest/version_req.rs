//! Version requirements as bundle authors write them.
//!
//! The plan spells requirements several ways: `">=1.0.0 <2.0.0"`, `"^3.2.0"`, `"~1.2"`, `"*"`,
//! `"=1.0.0"`, and comma-separated lists. [`VersionReq::parse`] accepts all of them and gives them
//! Cargo's meaning (the `semver` crate's), which `index-format.md` ("Version requirements")
//! states exactly. The text the author wrote is kept, so manifests round-trip unchanged.

use pubgrub::Ranges;
use semver::{BuildMetadata, Prerelease, Version};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A parsed version requirement that remembers the author's spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionReq {
    raw: String,
    req: semver::VersionReq,
}

/// Why a requirement does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version requirement `{raw}`: {reason}")]
pub struct ReqError {
    /// The text as written.
    pub raw: String,
    /// What is wrong.
    pub reason: String,
}

const OPERATORS: [&str; 7] = [">=", "<=", ">", "<", "=", "^", "~"];

impl VersionReq {
    /// Parses a requirement. Comparators are separated by commas and/or spaces and must all hold;
    /// an operator may be separated from its version by spaces (`>= 1.0`).
    pub fn parse(raw: &str) -> Result<Self, ReqError> {
        let err = |reason: String| ReqError {
            raw: raw.to_string(),
            reason,
        };
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(err("it is empty; use `*` for any version".into()));
        }
        if trimmed.contains("||") {
            return Err(err(
                "alternatives (`||`) are not supported; write one range".into(),
            ));
        }
        let mut comparators: Vec<String> = Vec::new();
        let mut pending_op: Option<String> = None;
        for token in trimmed
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
        {
            if OPERATORS.contains(&token) {
                if pending_op.is_some() {
                    return Err(err(format!("operator `{token}` follows another operator")));
                }
                pending_op = Some(token.to_string());
                continue;
            }
            let comparator = match pending_op.take() {
                Some(op) => format!("{op}{token}"),
                None => token.to_string(),
            };
            comparators.push(comparator);
        }
        if let Some(op) = pending_op {
            return Err(err(format!("operator `{op}` has no version after it")));
        }
        let normalized = comparators.join(", ");
        let req = semver::VersionReq::parse(&normalized).map_err(|e| err(e.to_string()))?;
        Ok(VersionReq {
            raw: trimmed.to_string(),
            req,
        })
    }

    /// Any version (`*`).
    pub fn any() -> Self {
        VersionReq {
            raw: "*".into(),
            req: semver::VersionReq::STAR,
        }
    }

    /// True when `version` satisfies every comparator. Pre-releases match only when a
    /// comparator names the same major.minor.patch with a pre-release (Cargo's rule).
    pub fn matches(&self, version: &semver::Version) -> bool {
        self.req.matches(version)
    }

    /// The text the author wrote (trimmed).
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The normalized `semver` requirement.
    pub fn semver(&self) -> &semver::VersionReq {
        &self.req
    }

    /// True when some comparator names a pre-release, i.e. the author asked for pre-releases.
    pub fn mentions_prerelease(&self) -> bool {
        self.prerelease_triples().next().is_some()
    }

    /// `(MAJOR, MINOR, PATCH)` of each comparator with a pre-release tag (absent parts as 0):
    /// the releases whose pre-releases this requirement names (`index-format.md` §2).
    pub fn prerelease_triples(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.req
            .comparators
            .iter()
            .filter(|c| !c.pre.is_empty())
            .map(|c| (c.major, c.minor.unwrap_or(0), c.patch.unwrap_or(0)))
    }
}

impl fmt::Display for VersionReq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl std::str::FromStr for VersionReq {
    type Err = ReqError;
    fn from_str(s: &str) -> Result<Self, ReqError> {
        VersionReq::parse(s)
    }
}

impl Serialize for VersionReq {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for VersionReq {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        VersionReq::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Converts a requirement into a PubGrub range: the exact meaning `index-format.md` §2 gives
/// requirements, pre-releases included. The resolver and every other check of "does this version
/// satisfy that requirement" use it, so they never disagree.
pub fn req_to_range(req: &VersionReq) -> Ranges<Version> {
    let mut range = Ranges::full();
    for c in &req.semver().comparators {
        range = range.intersection(&comparator_range(c));
    }
    range
}

fn v(major: u64, minor: u64, patch: u64) -> Version {
    Version::new(major, minor, patch)
}

/// The lowest version of `major.minor.patch`, below all its pre-releases: an exclusive upper
/// bound here keeps that version's pre-releases out.
fn floor(major: u64, minor: u64, patch: u64) -> Version {
    Version {
        major,
        minor,
        patch,
        pre: Prerelease::new("0").unwrap_or(Prerelease::EMPTY),
        build: BuildMetadata::EMPTY,
    }
}

/// The first `(major, minor, patch)` after every version of `major`, of `major.minor`, or of
/// `major.minor.patch`; `None` when there is none (the part is `u64::MAX`). Requirements come
/// from index lines too, so this must never overflow.
fn after_major(maj: u64) -> Option<(u64, u64, u64)> {
    maj.checked_add(1).map(|m| (m, 0, 0))
}

fn after_minor(maj: u64, mi: u64) -> Option<(u64, u64, u64)> {
    mi.checked_add(1)
        .map(|m| (maj, m, 0))
        .or_else(|| after_major(maj))
}

fn after_patch(maj: u64, mi: u64, pa: u64) -> Option<(u64, u64, u64)> {
    pa.checked_add(1)
        .map(|p| (maj, mi, p))
        .or_else(|| after_minor(maj, mi))
}

fn comparator_range(c: &semver::Comparator) -> Ranges<Version> {
    use semver::Op;
    let (maj, min, pat) = (c.major, c.minor, c.patch);
    let exact = |pre: &Prerelease| Version {
        major: maj,
        minor: min.unwrap_or(0),
        patch: pat.unwrap_or(0),
        pre: pre.clone(),
        build: BuildMetadata::EMPTY,
    };
    // Exclusive upper bounds sit below the bound's pre-releases; `None` is no bound at all.
    let until = |lo: Version, hi: Option<(u64, u64, u64)>| match hi {
        Some((a, b, c)) => Ranges::between(lo, floor(a, b, c)),
        None => Ranges::higher_than(lo),
    };
    let below = |hi: Option<(u64, u64, u64)>| {
        hi.map_or_else(Ranges::full, |(a, b, c)| {
            Ranges::strictly_lower_than(floor(a, b, c))
        })
    };
    let from = |lo: Option<(u64, u64, u64)>| {
        lo.map_or_else(Ranges::empty, |(a, b, c)| Ranges::higher_than(v(a, b, c)))
    };
    // [lower, upper) for a partial version: `1` is [1.0.0, 2.0.0), `1.2` is [1.2.0, 1.3.0).
    let partial_span = || match (min, pat) {
        (None, _) => until(v(maj, 0, 0), after_major(maj)),
        (Some(mi), None) => until(v(maj, mi, 0), after_minor(maj, mi)),
        (Some(mi), Some(pa)) => Ranges::singleton(Version {
            major: maj,
            minor: mi,
            patch: pa,
            pre: c.pre.clone(),
            build: BuildMetadata::EMPTY,
        }),
    };
    match c.op {
        Op::Exact | Op::Wildcard => partial_span(),
        Op::Greater => match (min, pat) {
            (None, _) => from(after_major(maj)),
            (Some(mi), None) => from(after_minor(maj, mi)),
            (Some(_), Some(_)) => Ranges::strictly_higher_than(exact(&c.pre)),
        },
        Op::GreaterEq => Ranges::higher_than(exact(&c.pre)),
        Op::Less => Ranges::strictly_lower_than(if c.pre.is_empty() {
            floor(maj, min.unwrap_or(0), pat.unwrap_or(0))
        } else {
            exact(&c.pre)
        }),
        Op::LessEq => match (min, pat) {
            (None, _) => below(after_major(maj)),
            (Some(mi), None) => below(after_minor(maj, mi)),
            (Some(_), Some(_)) => Ranges::lower_than(exact(&c.pre)),
        },
        Op::Tilde => match (min, pat) {
            (None, _) => until(v(maj, 0, 0), after_major(maj)),
            (Some(mi), _) => until(exact(&c.pre), after_minor(maj, mi)),
        },
        Op::Caret => {
            let upper = match (maj, min, pat) {
                (0, None, _) => after_major(0),
                (0, Some(0), None) => after_minor(0, 0),
                (0, Some(0), Some(p)) => after_patch(0, 0, p),
                (0, Some(mi), _) => after_minor(0, mi),
                (m, _, _) => after_major(m),
            };
            until(exact(&c.pre), upper)
        }
        _ => Ranges::full(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> semver::Version {
        semver::Version::parse(s).unwrap()
    }

    fn m(req: &str, version: &str) -> bool {
        VersionReq::parse(req).unwrap().matches(&v(version))
    }

    #[test]
    fn plan_spellings() {
        assert!(m(">=1.0.0 <2.0.0", "1.9.3"));
        assert!(!m(">=1.0.0 <2.0.0", "2.0.0"));
        assert!(m(">=1.0.0, <2.0.0", "1.0.0"));
        assert!(m(">= 1.0.0, < 2.0.0", "1.5.0"));
        assert!(m("^3.2.0", "3.9.0"));
        assert!(!m("^3.2.0", "4.0.0"));
        assert!(!m("^3.2.0", "3.1.9"));
        assert!(m("~1.2", "1.2.9"));
        assert!(!m("~1.2", "1.3.0"));
        assert!(m("*", "0.0.1"));
        assert!(m("=1.0.0", "1.0.0"));
        assert!(!m("=1.0.0", "1.0.1"));
        assert!(m("1.2", "1.9.0"), "bare version means caret");
        assert!(!m("^0.2.3", "0.3.0"), "caret on 0.x pins the minor");
    }

    #[test]
    fn prereleases_only_when_named() {
        assert!(!m(">=1.0.0", "2.0.0-beta.1"));
        assert!(m(">=2.0.0-beta.1", "2.0.0-beta.2"));
        assert!(
            VersionReq::parse(">=2.0.0-beta.1")
                .unwrap()
                .mentions_prerelease()
        );
    }

    #[test]
    fn errors_explain() {
        for bad in ["", "1.0 || 2.0", ">=", ">= >= 1", "abc", "^1.2.3.4"] {
            let e = VersionReq::parse(bad).unwrap_err();
            assert!(!e.reason.is_empty(), "{bad}");
        }
    }

    #[test]
    fn keeps_spelling() {
        assert_eq!(
            VersionReq::parse(" >=1.0.0 <2.0.0 ").unwrap().to_string(),
            ">=1.0.0 <2.0.0"
        );
    }
}
