//! `Option<T>`: a property that may be left unset (QEMU's NODEFAULT kinds).

use serde_json::Value;

use crate::error::Result;
use crate::kind::{DefaultValue, Input, PropertyKind, ValueCx};
use crate::tree::ObjRef;

impl<T: PropertyKind> PropertyKind for Option<T> {
    const TYPE_NAME: &'static str = T::TYPE_NAME;
    const DESCRIPTION: Option<&'static str> = T::DESCRIPTION;
    const TAKES_DEFAULT: bool = T::TAKES_DEFAULT;
    const __LINK_TARGET: Option<&'static str> = T::__LINK_TARGET;

    fn parse(s: &str, cx: &ValueCx<'_>) -> Result<Self> {
        T::parse(s, cx).map(T::into_option)
    }

    fn from_json(v: &Value, cx: &ValueCx<'_>) -> Result<Self> {
        T::from_json(v, cx).map(T::into_option)
    }

    fn from_input(input: Input<'_>, cx: &ValueCx<'_>) -> Result<Self> {
        T::from_input(input, cx).map(T::into_option)
    }

    fn to_json(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::to_json)
    }

    fn print(&self) -> String {
        self.as_ref().map(T::print).unwrap_or_default()
    }

    fn default_value(&self) -> DefaultValue {
        self.as_ref()
            .map_or(DefaultValue::Str(""), T::default_value)
    }

    fn link_target(&self) -> Option<&ObjRef> {
        self.as_ref().and_then(T::link_target)
    }
}
