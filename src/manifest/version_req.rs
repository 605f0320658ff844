//! Version requirements as bundle authors write them.
//!
//! The plan spells requirements several ways: `">=1.0.0 <2.0.0"`, `"^3.2.0"`, `"~1.2"`, `"*"`,
//! `"=1.0.0"`, and comma-separated lists. [`VersionReq::parse`] accepts all of them and gives them
//! Cargo's meaning (the `semver` crate's), which `index-format.md` ("Version requirements")
//! states exactly. The text the author wrote is kept, so manifests round-trip unchanged.

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
