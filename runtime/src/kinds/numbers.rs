//! bool, integers and sizes, converted by QEMU's keyval and JSON visitor rules.

use serde_json::Value;

use crate::error::Result;
use crate::kind::{DefaultValue, PropertyKind, ValueCx};
use crate::opts::scalar::{parse_bool, parse_i64, parse_size, parse_u64, print_size};

impl PropertyKind for bool {
    const TYPE_NAME: &'static str = "bool";
    const DESCRIPTION: Option<&'static str> = Some("on/off");

    fn parse(s: &str, cx: &ValueCx<'_>) -> Result<Self> {
        parse_bool(s).ok_or_else(|| cx.expects("'on' or 'off'"))
    }

    fn from_json(v: &Value, cx: &ValueCx<'_>) -> Result<Self> {
        v.as_bool().ok_or_else(|| cx.invalid_type("boolean"))
    }

    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }

    fn print(&self) -> String {
        if *self { "on" } else { "off" }.to_owned()
    }

    fn default_value(&self) -> DefaultValue {
        DefaultValue::Bool(*self)
    }
}

/// A JSON number as QEMU's input visitor reads it for unsigned targets
/// (`qobject_input_type_uint64`, which `size` falls back to as well):
/// negative integers wrap; anything else, a string or a fraction alike,
/// `Parameter '<prop>' expects uint64`.
fn json_u64(v: &Value, cx: &ValueCx<'_>) -> Result<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_i64().map(|i| i as u64)),
        _ => None,
    }
    .ok_or_else(|| cx.expects("uint64"))
}

fn json_i64(v: &Value, cx: &ValueCx<'_>) -> Result<i64> {
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| cx.invalid_type("integer")),
        _ => Err(cx.invalid_type("integer")),
    }
}

/// An integer kind: parsed as 64 bits by `$parse`/`$json` (the unsigned or
/// signed rules above), then narrowed to `$t`, refusing what does not fit
/// with `Parameter '<prop>' expects $c`; its default is shown as
/// `DefaultValue::$default` of the 64-bit value.
macro_rules! int_kind {
    ($t:ty, $name:literal, $c:literal, $parse:ident, $json:ident, $default:ident, $wide:ty) => {
        impl PropertyKind for $t {
            const TYPE_NAME: &'static str = $name;

            fn parse(s: &str, cx: &ValueCx<'_>) -> Result<Self> {
                let v = $parse(s).ok_or_else(|| cx.expects("integer"))?;
                <$t>::try_from(v).map_err(|_| cx.expects($c))
            }

            fn from_json(v: &Value, cx: &ValueCx<'_>) -> Result<Self> {
                <$t>::try_from($json(v, cx)?).map_err(|_| cx.expects($c))
            }

            fn to_json(&self) -> Value {
                Value::from(*self)
            }

            fn print(&self) -> String {
                self.to_string()
            }

            fn default_value(&self) -> DefaultValue {
                DefaultValue::$default(*self as $wide)
            }
        }
    };
}

macro_rules! unsigned_kind {
    ($t:ty, $name:literal, $c:literal) => {
        int_kind!($t, $name, $c, parse_u64, json_u64, UInt, u64);
    };
}

macro_rules! signed_kind {
    ($t:ty, $name:literal, $c:literal) => {
        int_kind!($t, $name, $c, parse_i64, json_i64, Int, i64);
    };
}

unsigned_kind!(u8, "uint8", "uint8_t");
unsigned_kind!(u16, "uint16", "uint16_t");
unsigned_kind!(u32, "uint32", "uint32_t");
unsigned_kind!(u64, "uint64", "uint64");
unsigned_kind!(usize, "usize", "uint64");
signed_kind!(i8, "int8", "int8_t");
signed_kind!(i16, "int16", "int16_t");
signed_kind!(i32, "int32", "int32_t");
signed_kind!(i64, "int64", "int64");

/// A byte count (`size`): keyval accepts suffixes `k`/`M`/`G`/`T`/`P`/`E`
/// (powers of 1024) and fractions such as `1.5k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Size(pub u64);

/// A byte count that must fit 32 bits (QEMU's `size32`), shown as `size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Size32(pub u32);

impl PropertyKind for Size {
    const TYPE_NAME: &'static str = "size";

    fn parse(s: &str, cx: &ValueCx<'_>) -> Result<Self> {
        parse_size(s).map(Size).ok_or_else(|| cx.expects("size"))
    }

    fn from_json(v: &Value, cx: &ValueCx<'_>) -> Result<Self> {
        json_u64(v, cx).map(Size)
    }

    fn to_json(&self) -> Value {
        Value::from(self.0)
    }

    fn print(&self) -> String {
        print_size(self.0)
    }

    fn default_value(&self) -> DefaultValue {
        DefaultValue::UInt(self.0)
    }
}

impl PropertyKind for Size32 {
    const TYPE_NAME: &'static str = "size";

    fn parse(s: &str, cx: &ValueCx<'_>) -> Result<Self> {
        let v = parse_size(s).ok_or_else(|| cx.expects("size"))?;
        Self::narrow(v, cx)
    }

    fn from_json(v: &Value, cx: &ValueCx<'_>) -> Result<Self> {
        Self::narrow(json_u64(v, cx)?, cx)
    }

    fn to_json(&self) -> Value {
        Value::from(self.0)
    }

    fn print(&self) -> String {
        print_size(u64::from(self.0))
    }

    fn default_value(&self) -> DefaultValue {
        DefaultValue::UInt(u64::from(self.0))
    }
}

impl Size32 {
    fn narrow(v: u64, cx: &ValueCx<'_>) -> Result<Self> {
        u32::try_from(v).map(Size32).map_err(|_| {
            crate::Error::new(format!(
                "Property {}.{} doesn't take value {v} (maximum: {})",
                cx.type_name,
                cx.prop,
                u32::MAX
            ))
        })
    }
}
