//! Bundle ids: reverse-DNS names such as `com.example.data-processing`.
//!
//! The rules (normative text in `index-format.md`, "Bundle ids"): 2 to 8 dot-separated segments,
//! each 1–63 characters of lowercase ASCII letters, digits, `-` and `_`, starting and ending with
//! a letter or digit; at most 128 characters in all. Ids are lowercase so they are the same on
//! case-insensitive file systems, and [`BundleId::skeleton`] folds separators so a registry can
//! refuse look-alike ids (`com.foo.a-b` vs `com.foo.a_b`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;
/// Longest segment accepted, in bytes.
pub const MAX_SEGMENT_LEN: usize = 63;

/// A validated bundle id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BundleId(String);

/// Why a string is not a bundle id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Empty string.
    #[error("bundle id is empty")]
    Empty,
    /// Longer than [`MAX_ID_LEN`].
    #[error("bundle id is {0} characters long; the maximum is {MAX_ID_LEN}")]
    TooLong(usize),
    /// Fewer than two segments.
    #[error(
        "bundle id `{0}` is not reverse-DNS: it needs at least two dot-separated segments (e.g. `com.example.{0}`)"
    )]
    TooFewSegments(String),
    /// More than eight segments.
    #[error("bundle id `{0}` has more than 8 segments")]
    TooManySegments(String),
    /// Upper-case letters.
    #[error("bundle id `{0}` contains upper-case letters; ids are lower-case: did you mean `{1}`?")]
    UpperCase(String, String),
    /// Empty or overlong segment.
    #[error("bundle id `{id}`: segment {index} is {problem}")]
    BadSegment {
        /// The id.
        id: String,
        /// 1-based segment number.
        index: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// A character outside the allowed set.
    #[error("bundle id `{0}` contains `{1}`; allowed are a-z, 0-9, `.`, `-` and `_`")]
    BadChar(String, char),
}

impl BundleId {
    /// Parses and validates an id.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if s.len() > MAX_ID_LEN {
            return Err(IdError::TooLong(s.len()));
        }
        if s.chars().any(|c| c.is_ascii_uppercase()) {
            let lower = s.to_ascii_lowercase();
            if BundleId::parse(&lower).is_ok() {
                return Err(IdError::UpperCase(s.to_string(), lower));
            }
        }
        if let Some(c) = s.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
        }) {
            return Err(IdError::BadChar(s.to_string(), c));
        }
        let segments: Vec<&str> = s.split('.').collect();
        if segments.len() < 2 {
            return Err(IdError::TooFewSegments(s.to_string()));
        }
        if segments.len() > 8 {
            return Err(IdError::TooManySegments(s.to_string()));
        }
        for (i, seg) in segments.iter().enumerate() {
            let problem = if seg.is_empty() {
                Some("empty".to_string())
            } else if seg.len() > MAX_SEGMENT_LEN {
                Some(format!(
                    "{} characters long (maximum {MAX_SEGMENT_LEN})",
                    seg.len()
                ))
            } else if !seg.starts_with(|c: char| c.is_ascii_alphanumeric())
                || !seg.ends_with(|c: char| c.is_ascii_alphanumeric())
            {
                Some(format!(
                    "`{seg}`, which must start and end with a letter or digit"
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(IdError::BadSegment {
                    id: s.to_string(),
                    index: i + 1,
                    problem,
                });
            }
        }
        Ok(BundleId(s.to_string()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id with separators removed and letters lowered: two ids with the same skeleton look
    /// alike and a registry keeps only the first (see `index-format.md`, "Look-alike ids").
    pub fn skeleton(s: &str) -> String {
        s.chars()
            .filter(|c| !matches!(c, '.' | '-' | '_'))
            .map(|c| c.to_ascii_lowercase())
            .collect()
    }
}

impl fmt::Display for BundleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for BundleId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BundleId::parse(s)
    }
}

impl AsRef<str> for BundleId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for BundleId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for BundleId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        BundleId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plan_ids() {
        for id in [
            "com.example.data-processing",
            "com.oss.json-utils",
            "com.ratchet.core-utils",
            "com.enterprise.salesforce-suite",
            "com.1password.cli",
            "org.x",
        ] {
            assert!(BundleId::parse(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn rejects_bad_ids_with_reasons() {
        assert!(matches!(
            BundleId::parse("json-utils"),
            Err(IdError::TooFewSegments(_))
        ));
        assert!(
            matches!(BundleId::parse("Com.Example.X"), Err(IdError::UpperCase(_, l)) if l == "com.example.x")
        );
        assert!(matches!(
            BundleId::parse("com..x"),
            Err(IdError::BadSegment { index: 2, .. })
        ));
        assert!(matches!(
            BundleId::parse("com.-x.y"),
            Err(IdError::BadSegment { index: 2, .. })
        ));
        assert!(matches!(
            BundleId::parse("com.ex ample"),
            Err(IdError::BadChar(_, ' '))
        ));
        assert!(matches!(
            BundleId::parse("com/evil/../x"),
            Err(IdError::BadChar(_, '/'))
        ));
        assert!(matches!(
            BundleId::parse(&"a.".repeat(70)),
            Err(IdError::TooLong(_))
        ));
        assert!(matches!(BundleId::parse(""), Err(IdError::Empty)));
    }

    #[test]
    fn skeleton_folds_case_and_separators() {
        assert_eq!(
            BundleId::skeleton("com.foo.a-b"),
            BundleId::skeleton("com.foo.a_b")
        );
        assert_eq!(BundleId::skeleton("com.foo-a.b"), "comfooab");
    }
}
