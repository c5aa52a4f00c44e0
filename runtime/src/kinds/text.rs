//! Strings (`str`).

use serde_json::Value;

use crate::error::Result;
use crate::kind::{DefaultValue, PropertyKind, ValueCx};

impl PropertyKind for String {
    const TYPE_NAME: &'static str = "str";
    const TAKES_DEFAULT: bool = false;

    fn parse(s: &str, _cx: &ValueCx<'_>) -> Result<Self> {
        Ok(s.to_owned())
    }

    fn from_json(v: &Value, cx: &ValueCx<'_>) -> Result<Self> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| cx.invalid_type("string"))
    }

    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }

    fn print(&self) -> String {
        self.clone()
    }

    fn default_value(&self) -> DefaultValue {
        // Defaults live in read-only tables; QEMU's string properties never have one.
        DefaultValue::Str("")
    }
}
