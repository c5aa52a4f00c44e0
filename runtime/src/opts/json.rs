//! JSON option arguments (`-device {...}`, `-object {...}`) read as QEMU's
//! json-parser reads them in one respect serde_json does not: an object
//! that names a key twice, at any depth, is an error
//! (`JSON parse error, duplicate key`), where serde_json keeps the last
//! value silently. Syntax errors are told in QEMU's words
//! ([`qemu_message`]).

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::{Error, Result};

/// Parses `s` as one JSON value, refusing duplicate keys.
///
/// # Errors
/// `JSON parse error, duplicate key` (QEMU's text, from `parse_pair`), or
/// QEMU's text for any other syntax error ([`qemu_message`]).
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
            Error::new(qemu_message(s, &e))
        }
    })
}

/// What QEMU's JSON parser says about the syntax error serde_json found in
/// `input` (qobject/json-lexer.c, json-streamer.c, json-parser.c and
/// qjson.c's `qobject_from_json`): `Expecting a JSON value` for no value,
/// `Expecting at most one JSON value` for trailing text, `JSON parse
/// error, ` and `premature EOI`, `expecting value`, `invalid keyword
/// 'x'`, `stray '...'` (a character or string the lexer refuses),
/// `missing : in object pair`, `expected separator in dict` / `in list`,
/// `key is not a string in object`, `\uXXXX is not a valid Unicode
/// character`; `JSON nesting depth limit exceeded`. An error QEMU has no
/// counterpart for keeps serde_json's description, without its position.
pub fn qemu_message(input: &str, e: &serde_json::Error) -> String {
    let full = e.to_string();
    let what = match full.rfind(" at line ") {
        Some(at) => &full[..at],
        None => full.as_str(),
    };
    let at = byte_offset(input, e.line(), e.column());
    let rest = input.get(at..).unwrap_or_default();
    let here = rest.chars().next();
    let parse_error = |m: &str| format!("JSON parse error, {m}");
    // The lexer's error token: from the opening quote of the string being
    // read (or the number) to the offending character.
    let stray_from = |start: usize| {
        let end = (at + here.map_or(0, char::len_utf8)).min(input.len());
        parse_error(&format!(
            "stray '{}'",
            input.get(start..end).unwrap_or_default()
        ))
    };
    match what {
        // QEMU's lexer takes single-quoted strings; serde_json does not.
        "key must be a string" | "expected value" if here == Some('\'') => {
            parse_error("single-quoted strings are not supported: use double quotes")
        }
        "trailing characters" => "Expecting at most one JSON value".to_owned(),
        "recursion limit exceeded" => "JSON nesting depth limit exceeded".to_owned(),
        "EOF while parsing a value" if input.trim().is_empty() => {
            "Expecting a JSON value".to_owned()
        }
        "EOF while parsing a string" => parse_error(&format!(
            "stray '{}'",
            &input[open_string_start(input, input.len())..]
        )),
        m if m.starts_with("EOF while parsing") => parse_error("premature EOI"),
        "expected `:`" => parse_error("missing : in object pair"),
        "expected `,` or `]`" => parse_error("expected separator in list"),
        "expected `,` or `}`" => parse_error("expected separator in dict"),
        "trailing comma" => parse_error("expecting value"),
        "key must be a string" => match here {
            Some(c) if starts_value(c) => parse_error("key is not a string in object"),
            Some(c) if !lexes(c) => parse_error(&format!("stray '{c}'")),
            _ => parse_error("expecting value"),
        },
        "expected value" | "expected ident" => match here {
            Some(c) if c.is_ascii_lowercase() || what == "expected ident" => {
                let start = input[..at]
                    .rfind(|c: char| !c.is_ascii_lowercase())
                    .map_or(0, |i| i + 1);
                let len = input[start..]
                    .find(|c: char| !c.is_ascii_lowercase())
                    .unwrap_or(input.len() - start);
                parse_error(&format!("invalid keyword '{}'", &input[start..start + len]))
            }
            Some(c) if !lexes(c) => parse_error(&format!("stray '{c}'")),
            _ => parse_error("expecting value"),
        },
        "invalid escape"
        | "unexpected end of hex escape"
        | "invalid unicode code point"
        | "lone leading surrogate in hex escape"
        | "control character (\\u0000-\\u001F) found while parsing a string" => {
            // A complete `\uXXXX` the lexer took but that is no character
            // (a lone surrogate) is the parser's error; anything else the
            // lexer's.
            let escape = input[..at.min(input.len())]
                .rfind("\\u")
                .and_then(|u| input.get(u..u + 6))
                .filter(|e| e.bytes().skip(2).all(|b| b.is_ascii_hexdigit()));
            match escape {
                Some(e) if what != "invalid escape" && !what.starts_with("control") => {
                    parse_error(&format!("{e} is not a valid Unicode character"))
                }
                _ => stray_from(open_string_start(input, at)),
            }
        }
        "invalid number" => {
            let start = input[..at.min(input.len())]
                .rfind(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')))
                .map_or(0, |i| i + 1);
            stray_from(start)
        }
        _ => parse_error(what),
    }
}

/// The byte offset of serde_json's (1-based line, column) position, which
/// points at the offending byte (or the end of the input).
fn byte_offset(input: &str, line: usize, column: usize) -> usize {
    let line_start: usize = input
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let mut at = (line_start + column.saturating_sub(1)).min(input.len());
    while !input.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Where the string that is open at `at` begins (its opening quote).
fn open_string_start(input: &str, at: usize) -> usize {
    let mut start = None;
    let mut escaped = false;
    for (i, c) in input.char_indices().take_while(|&(i, _)| i < at) {
        match (start, c) {
            (Some(_), _) if escaped => escaped = false,
            (Some(_), '\\') => escaped = true,
            (Some(_), '"') => start = None,
            (None, '"') => start = Some(i),
            _ => {}
        }
    }
    start.unwrap_or(at)
}

/// Whether a JSON value can start with `c` (QEMU's lexer also takes `'`).
fn starts_value(c: char) -> bool {
    matches!(c, '{' | '[' | '-' | '\'' | '0'..='9') || c.is_ascii_lowercase()
}

/// Whether QEMU's lexer takes `c` outside a string: anything else is a
/// `stray` character.
fn lexes(c: char) -> bool {
    starts_value(c) || matches!(c, '}' | ']' | ',' | ':' | '"' | ' ' | '\t' | '\n' | '\r')
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
    fn syntax_errors_are_told_in_qemus_words() {
        for (input, qemu) in [
            ("", "Expecting a JSON value"),
            ("  ", "Expecting a JSON value"),
            (r#"{"a": 1"#, "JSON parse error, premature EOI"),
            (r#"{"a": "#, "JSON parse error, premature EOI"),
            ("[1, 2", "JSON parse error, premature EOI"),
            (r#"{"a": 1} x"#, "Expecting at most one JSON value"),
            ("{} {}", "Expecting at most one JSON value"),
            ("{}}", "Expecting at most one JSON value"),
            (r#"{"a": }"#, "JSON parse error, expecting value"),
            ("[1,]", "JSON parse error, expecting value"),
            (r#"{"a": 1,}"#, "JSON parse error, expecting value"),
            ("{,}", "JSON parse error, expecting value"),
            ("]", "JSON parse error, expecting value"),
            (r#"{"a": tru}"#, "JSON parse error, invalid keyword 'tru'"),
            (r#"{"a": nulL}"#, "JSON parse error, invalid keyword 'nul'"),
            (r#"{"a": x}"#, "JSON parse error, invalid keyword 'x'"),
            (r#"{"a": @}"#, "JSON parse error, stray '@'"),
            (r#"{"a" 1}"#, "JSON parse error, missing : in object pair"),
            (
                r#"{1: 2}"#,
                "JSON parse error, key is not a string in object",
            ),
            (
                r#"{"a": 1 "b": 2}"#,
                "JSON parse error, expected separator in dict",
            ),
            ("[1 2]", "JSON parse error, expected separator in list"),
            (r#"{"a": "b"#, r#"JSON parse error, stray '"b'"#),
            (r#"{"a": "\x"}"#, r#"JSON parse error, stray '"\x'"#),
            (
                r#"["\ud800"]"#,
                r#"JSON parse error, \ud800 is not a valid Unicode character"#,
            ),
            ("[1.]", "JSON parse error, stray '1.]'"),
            (
                "{'driver': 'x'}",
                "JSON parse error, single-quoted strings are not supported: use double quotes",
            ),
        ] {
            assert_eq!(parse(input).unwrap_err().to_string(), qemu, "{input:?}");
        }
        let deep = "[".repeat(10_000);
        assert_eq!(
            parse(&deep).unwrap_err().to_string(),
            "JSON nesting depth limit exceeded"
        );
        // A syntax error in a duplicate's value comes first, as in QEMU.
        assert_eq!(
            parse(r#"{"a": 1, "a": tru}"#).unwrap_err().to_string(),
            "JSON parse error, invalid keyword 'tru'"
        );
    }
}
