//! Sizes and durations as authors write them (`"128MB"`, `"30s"`).
//!
//! Sizes accept a plain number of bytes or a number with `B`, `KB`/`KiB`, `MB`/`MiB`, `GB`/`GiB`;
//! the `KB`/`MB`/`GB` spellings are binary multiples (1024), as Ratchet's `memory_limit` uses them.
//! Durations accept a number of milliseconds or a humantime string (`500ms`, `30s`, `2m`).
//! Both serialise as plain integers (bytes, milliseconds) in generated files.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

/// A duration with millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl ByteSize {
    /// Parses `"128MB"`, `"1 GiB"`, `"4096"`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        if num.is_empty() {
            return Err(format!(
                "`{s}` is not a size: expected a number such as `128MB`"
            ));
        }
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            "t" | "tb" | "tib" => 1 << 40,
            other => {
                return Err(format!(
                    "`{s}` has unknown size unit `{other}`: use B, KB, MB, GB or TB"
                ));
            }
        };
        let value: f64 = num.parse().map_err(|_| format!("`{s}` is not a size"))?;
        let bytes = value * mult as f64;
        if !bytes.is_finite() || bytes > u64::MAX as f64 {
            return Err(format!("`{s}` is too large"));
        }
        Ok(ByteSize(bytes.round() as u64))
    }
}

impl Millis {
    /// Parses `"30s"`, `"500ms"`, `"2m"` or a bare number of milliseconds.
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Ok(ms) = t.parse::<u64>() {
            return Ok(Millis(ms));
        }
        humantime::parse_duration(t)
            .map(|d| Millis(d.as_millis().min(u64::MAX as u128) as u64))
            .map_err(|e| {
                format!("`{s}` is not a duration ({e}); write e.g. `500ms`, `30s` or `2m`")
            })
    }

    /// As a standard duration.
    pub fn duration(self) -> Duration {
        Duration::from_millis(self.0)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if b >= size {
                let v = b as f64 / size as f64;
                return if b.is_multiple_of(size) {
                    write!(f, "{} {unit}", b / size)
                } else {
                    write!(f, "{v:.1} {unit}")
                };
            }
        }
        write!(f, "{b} B")
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(1000) && self.0 > 0 {
            write!(f, "{}s", self.0 / 1000)
        } else {
            write!(f, "{}ms", self.0)
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrString {
    Num(u64),
    Str(String),
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumOrString::deserialize(d)? {
            NumOrString::Num(n) => Ok(ByteSize(n)),
            NumOrString::Str(s) => ByteSize::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumOrString::deserialize(d)? {
            NumOrString::Num(n) => Ok(Millis(n)),
            NumOrString::Str(s) => Millis::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("128MB").unwrap().0, 128 << 20);
        assert_eq!(ByteSize::parse("1 GiB").unwrap().0, 1 << 30);
        assert_eq!(ByteSize::parse("4096").unwrap().0, 4096);
        assert_eq!(ByteSize::parse("1.5KB").unwrap().0, 1536);
        assert!(
            ByteSize::parse("12 parsecs")
                .unwrap_err()
                .contains("unknown size unit")
        );
        assert!(ByteSize::parse("MB").is_err());
        assert_eq!(ByteSize(128 << 20).to_string(), "128 MiB");
    }

    #[test]
    fn durations() {
        assert_eq!(Millis::parse("5s").unwrap().0, 5000);
        assert_eq!(Millis::parse("500ms").unwrap().0, 500);
        assert_eq!(Millis::parse("2m").unwrap().0, 120_000);
        assert_eq!(Millis::parse("250").unwrap().0, 250);
        assert!(Millis::parse("soon").is_err());
    }
}
