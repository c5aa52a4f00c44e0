//! JSON option arguments (`-device {...}`, `-object {...}`) read as QEMU's
//! json-parser reads them in one respect serde_json does not: an object
//! that names a key twice, at any depth, is an error
//! (`JSON parse error, duplicate key`), where serde_json keeps the last
//! value silently.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::{Error, Result};

/// Parses `s` as one JSON value, refusing duplicate keys.
///
/// # Errors
/// `JSON parse error, duplicate key` (QEMU's text, from `parse_pair`), or
/// `JSON parse error, ` followed by serde_json's description of any other
/// syntax error.
pub fn parse(s: &str) -> Result<Value> {
    let duplicate = Cell::new(false);
    let mut de = serde_json::Deserializer::from_str(s);
    let parsed = Strict {
        duplicate: &duplicate,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| {
        // The flag tells our error from serde_json's, whose text for ours
        // would carry a position QEMU's does not.
        if duplicate.get() {
            Error::new("JSON parse error, duplicate key")
        } else {
            Error::new(format!("JSON parse error, {e}"))
        }
    })
}

/// Builds a [`Value`] as serde_json's own visitor does, but fails on a key
/// already in the object, and records that it was that failure.
#[derive(Clone, Copy)]
struct Strict<'f> {
    duplicate: &'f Cell<bool>,
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
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
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

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // QEMU parses the value before it looks for the key. One
            // probe of the map, as serde_json's own visitor makes: a key
            // already there gives back its old value.
            let value = map.next_value_seed(self)?;
            if object.insert(key, value).is_some() {
                self.duplicate.set(true);
                return Err(de::Error::custom("duplicate key"));
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for s in [
            r#"{"a": 1, "a": 2}"#,
            r#"{"a": 1, "b": {"c": 1, "c": 1}}"#,
            r#"{"a": [1, {"b": null, "b": null}]}"#,
            r#"[{"x": true, "y": 0, "x": false}]"#,
        ] {
            assert_eq!(
                parse(s).unwrap_err().to_string(),
                "JSON parse error, duplicate key",
                "{s}"
            );
        }
    }

    #[test]
    fn values_are_serde_jsons() {
        let s = r#"{"b": [1, -2, 2.5, "s\u00e9", null, true], "a": {"c": {}}, "n": 18446744073709551615}"#;
        let strict = parse(s).unwrap();
        assert_eq!(strict, serde_json::from_str::<Value>(s).unwrap());
        // Key order is kept (serde_json's `preserve_order`).
        let keys: Vec<_> = strict.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["b", "a", "n"]);
        // The same key in different objects is no duplicate.
        assert!(parse(r#"{"a": {"a": 1}, "b": {"a": 2}}"#).is_ok());
    }

    #[test]
    fn other_errors_keep_serde_jsons_text() {
        assert_eq!(
            parse(r#"{"a": 1"#).unwrap_err().to_string(),
            "JSON parse error, EOF while parsing an object at line 1 column 7"
        );
        assert_eq!(
            parse(r#"{"a": 1} x"#).unwrap_err().to_string(),
            "JSON parse error, trailing characters at line 1 column 10"
        );
        let deep = "[".repeat(10_000);
        assert!(
            parse(&deep)
                .unwrap_err()
                .to_string()
                .starts_with("JSON parse error, recursion limit exceeded")
        );
        // A syntax error in a duplicate's value comes first, as in QEMU.
        assert_eq!(
            parse(r#"{"a": 1, "a": tru}"#).unwrap_err().to_string(),
            "JSON parse error, expected ident at line 1 column 18"
        );
    }
}
