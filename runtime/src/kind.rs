//! The contract between a field type and the property machinery.

use crate::error::{Error, Result};
use crate::tree::{ObjRef, ObjectTree};

/// A value on its way into a property: a keyval string (`-device k=v`) or a
/// JSON value (`-device {...}`, QMP), which QEMU converts with different rules.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// A string from keyval/QemuOpts syntax; the kind converts it.
    Str(&'a str),
    /// A JSON value; its JSON type must match the kind (strict, as QMP).
    Json(&'a serde_json::Value),
}

/// Where a value is being parsed: which property of which type. Kinds use it
/// to build errors in QEMU's words, which name the property.
#[derive(Clone, Copy)]
pub struct ValueCx<'a> {
    /// QOM type name of the object being set (e.g. `vfio-pci`).
    pub type_name: &'a str,
    /// Property name (e.g. `host`).
    pub prop: &'a str,
    /// The tree the object lives in, for kinds that resolve names (links).
    pub tree: Option<&'a ObjectTree>,
}

impl<'a> ValueCx<'a> {
    /// A context without a tree (links cannot resolve).
    pub fn new(type_name: &'a str, prop: &'a str) -> Self {
        ValueCx {
            type_name,
            prop,
            tree: None,
        }
    }

    /// `Parameter '<prop>' expects <what>`
    pub fn expects(&self, what: &str) -> Error {
        Error::invalid_parameter_value(self.prop, what)
    }

    /// `Invalid parameter type for '<prop>', expected: <what>`
    pub fn invalid_type(&self, what: &str) -> Error {
        Error::invalid_parameter_type(self.prop, what)
    }

    /// `Parameter '<prop>' does not accept value '<value>'`
    pub fn not_accepted(&self, value: &str) -> Error {
        Error::new(format!(
            "Parameter '{}' does not accept value '{value}'",
            self.prop
        ))
    }

    /// `Property '<type>.<prop>' doesn't take value '<value>'` (qdev's generic parse error)
    pub fn doesnt_take(&self, value: &str) -> Error {
        Error::new(format!(
            "Property '{}.{}' doesn't take value '{value}'",
            self.type_name, self.prop
        ))
    }

    /// The string inside a JSON value, for kinds that QMP passes as strings.
    pub fn json_str<'v>(&self, v: &'v serde_json::Value) -> Result<&'v str> {
        v.as_str().ok_or_else(|| self.invalid_type("string"))
    }
}

/// A default value as it is stored in the static table and rendered by
/// introspection, without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// Rendered `on`/`off` in help, `true`/`false` in JSON.
    Bool(bool),
    /// A signed number (e.g. `-1` for `addr`).
    Int(i64),
    /// An unsigned number (e.g. `4294967295`).
    UInt(u64),
    /// A string (enum names, `auto`).
    Str(&'static str),
    /// An empty list (`[]`).
    EmptyList,
}

impl DefaultValue {
    /// The JSON rendering (QMP `default-value`).
    pub fn to_json(self) -> serde_json::Value {
        match self {
            DefaultValue::Bool(b) => b.into(),
            DefaultValue::Int(i) => i.into(),
            DefaultValue::UInt(u) => u.into(),
            DefaultValue::Str(s) => s.into(),
            DefaultValue::EmptyList => serde_json::Value::Array(Vec::new()),
        }
    }
}

impl std::fmt::Display for DefaultValue {
    /// The help rendering: strings bare, bools `on`/`off`, numbers decimal.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            DefaultValue::Bool(b) => f.write_str(if b { "on" } else { "off" }),
            DefaultValue::Int(i) => write!(f, "{i}"),
            DefaultValue::UInt(u) => write!(f, "{u}"),
            DefaultValue::Str(s) => f.write_str(s),
            DefaultValue::EmptyList => f.write_str("[]"),
        }
    }
}

/// A property's field, seen by a type's generated getter: one
/// implementation per kind, so that a getter's arm is a coercion of the
/// field's address rather than a call per property. Not a public API.
///
/// It is a supertrait of [`PropertyKind`] (and implemented for every kind)
/// so that a field type that is no kind gets one error, the kind's: the
/// compiler drops an unmet `Slot` bound at the same place as implied by it.
#[doc(hidden)]
pub trait Slot {
    /// The value as JSON.
    fn get(&self) -> serde_json::Value;
}

impl<T: PropertyKind> Slot for T {
    #[inline]
    fn get(&self) -> serde_json::Value {
        self.to_json()
    }
}

/// A type that can be the field of a `#[prop]`: it knows its QOM type
/// string, how to parse itself from keyval strings and JSON, and how to print
/// itself back.
///
/// Implement it for your own value types (see the NVIDIA GPUDirect clique in
/// the devices crate for an example). `parse(print(x)) == x` must hold for
/// every value that has a keyval spelling (QEMU's `addr` has none for
/// "automatic": only JSON `-1`, so [`crate::PciDevfn::AUTO`] round-trips
/// through JSON alone).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a property kind, so it cannot be the field of a `#[prop]`",
    label = "no property kind for this type",
    note = "use a built-in kind (bool, u8/u16/u32/u64, i32/i64, usize, String, Size, OnOffAuto, OffAutoPciBar, QemuUuid, PciHostAddress, PciDevfn, CssDevId, CcwLoadparm, Link<T>) or `Option<_>` of one",
    note = "or implement `qomgen::PropertyKind` for `{Self}`, or make the property `#[prop(write_only, setter = ...)]`"
)]
pub trait PropertyKind: Sized + 'static + Slot {
    /// QOM type string shown by introspection (`uint32`, `str`, `OnOffAuto`, ...).
    const TYPE_NAME: &'static str;
    /// Description used when the property declares none (QEMU's `PropertyInfo.description`).
    const DESCRIPTION: Option<&'static str> = None;
    /// Whether a property of this kind may declare a `default`. `false`
    /// for the string-like kinds, whose QEMU properties have none and
    /// whose [`PropertyKind::default_value`] cannot render one from a
    /// static table: the derive then refuses `#[prop(default = ...)]`
    /// rather than show a default that is not the field's.
    const TAKES_DEFAULT: bool = true;
    /// For a link kind, the QOM name of its target type: what the derive
    /// checks `link = "..."` against, through this trait so that a target
    /// that is no registered type fails once, as the field's kind. Not
    /// meant to be overridden outside the crate.
    #[doc(hidden)]
    const __LINK_TARGET: Option<&'static str> = None;

    /// Converts a keyval string (`-device k=v`).
    fn parse(s: &str, cx: &ValueCx<'_>) -> Result<Self>;

    /// Converts a JSON value with QMP's strict typing.
    fn from_json(v: &serde_json::Value, cx: &ValueCx<'_>) -> Result<Self>;

    /// The value as `qom-get` would return it.
    fn to_json(&self) -> serde_json::Value;

    /// The keyval string that [`PropertyKind::parse`] turns back into `self`.
    fn print(&self) -> String;

    /// How a default of this value is stored in the static table.
    fn default_value(&self) -> DefaultValue;

    /// Converts either kind of input; links override this to resolve ids.
    fn from_input(input: Input<'_>, cx: &ValueCx<'_>) -> Result<Self> {
        match input {
            Input::Str(s) => Self::parse(s, cx),
            Input::Json(v) => Self::from_json(v, cx),
        }
    }

    /// Converts `input` and stores it in `self`; on error `self` keeps its
    /// value. What a derived type's setter calls for each field; not meant
    /// to be overridden.
    #[doc(hidden)]
    #[inline]
    fn set_from(&mut self, input: Input<'_>, cx: &ValueCx<'_>) -> Result<()> {
        *self = Self::from_input(input, cx)?;
        Ok(())
    }

    /// The object this value links to, for link kinds.
    fn link_target(&self) -> Option<&ObjRef> {
        None
    }

    /// `Some(self)`, or `None` for a value that means "unset" (an empty
    /// link path), so that an `Option` field holding this kind becomes
    /// `None` rather than `Some` of nothing. Not meant to be overridden
    /// outside the crate.
    #[doc(hidden)]
    #[inline]
    fn into_option(self) -> Option<Self> {
        Some(self)
    }
}
