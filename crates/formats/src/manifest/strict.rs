//! A YAML document read into a JSON value in one pass, refusing a mapping that repeats a key.
//!
//! YAML keeps the last of two equal keys; a reader that keeps the first would see another
//! manifest, so a duplicate is an error. Checking that with a walk of its own parsed every
//! manifest twice, and parsing is most of what reading an archive's `bundle.yaml` costs (every
//! install parses one per archive): this reader builds the value and checks the keys in the
//! same pass. Scalars become exactly what `serde_json::Value` makes of them.

use serde::Deserialize;
use serde::de::value::{
    BoolDeserializer, F64Deserializer, I64Deserializer, I128Deserializer, U64Deserializer,
    U128Deserializer,
};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::Cell;
use std::fmt;

/// What went wrong in [`from_str`].
#[derive(Debug)]
pub(crate) enum StrictError {
    /// The text is not a YAML value that JSON can hold.
    Syntax(serde_norway::Error),
    /// A mapping repeats a key (the error says which and where).
    DuplicateKey(serde_norway::Error),
}

/// Reads `text` as one YAML document into a JSON value, failing on the first mapping that
/// repeats a key.
pub(crate) fn from_str(text: &str) -> Result<Value, StrictError> {
    let duplicate = Cell::new(false);
    let de = serde_norway::Deserializer::from_str(text);
    Strict {
        duplicate: &duplicate,
    }
    .deserialize(de)
    .map_err(|e| match duplicate.get() {
        true => StrictError::DuplicateKey(e),
        false => StrictError::Syntax(e),
    })
}

/// The seed (and visitor) of one value; `duplicate` is set when a repeated key ends the read.
#[derive(Clone, Copy)]
struct Strict<'a> {
    duplicate: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        Value::deserialize(BoolDeserializer::<E>::new(v))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        Value::deserialize(I64Deserializer::<E>::new(v))
    }
    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Value, E> {
        Value::deserialize(I128Deserializer::<E>::new(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        Value::deserialize(U64Deserializer::<E>::new(v))
    }
    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Value, E> {
        Value::deserialize(U128Deserializer::<E>::new(v))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Value::deserialize(F64Deserializer::<E>::new(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element_seed(self)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        // A key is read as `serde_json::Value` reads one (a string; a YAML scalar key such as
        // `1` or `true` is read as its text), so `1` and `"1"` are the same key here as there.
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                self.duplicate.set(true);
                return Err(serde::de::Error::custom(format!(
                    "duplicate key `{k}`: YAML keeps only the last one; write it once"
                )));
            }
            let v = map.next_value_seed(self)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(text: &str) -> (Result<Value, String>, Result<Value, String>) {
        let strict = match from_str(text) {
            Ok(v) => Ok(v),
            Err(StrictError::Syntax(e)) => Err(format!("syntax: {e}")),
            Err(StrictError::DuplicateKey(e)) => Err(format!("duplicate: {e}")),
        };
        let plain = serde_norway::from_str::<Value>(text).map_err(|e| e.to_string());
        (strict, plain)
    }

    #[test]
    fn a_document_without_repeated_keys_reads_as_serde_json_reads_it() {
        let text = "bundle:\n  id: com.example.x\n  version: 1.0.0\n  n: 3\n  neg: -4\n  big: 18446744073709551615\n  f: 1.5\n  t: true\n  nul: ~\n  empty:\n  list: [a, 1, {k: v}]\n  1: one\n  anchors: &a {x: 1}\n  again: *a\n";
        let (strict, plain) = both(text);
        assert_eq!(strict.unwrap(), plain.unwrap());
    }

    #[test]
    fn a_repeated_key_is_refused_at_any_depth_and_is_told_from_a_syntax_error() {
        for text in [
            "a: 1\na: 2\n",
            "outer:\n  list:\n    - k: 1\n      k: 2\n",
            "\"1\": x\n1: y\n",
        ] {
            let (strict, plain) = both(text);
            let e = strict.unwrap_err();
            assert!(
                e.starts_with("duplicate: ") && e.contains("duplicate key"),
                "{text:?}: {e}"
            );
            assert!(plain.is_ok(), "serde keeps the last key silently: {text:?}");
        }
        let (strict, _) = both("a: [1, 2\n");
        assert!(strict.unwrap_err().starts_with("syntax:"));
    }
}
