//! QEMU's QAPI enums used by properties, and the helpers behind
//! `#[derive(PropertyEnum)]`.

use serde_json::Value;

use crate::PropertyEnum;
use crate::error::Result;
use crate::kind::ValueCx;

/// Finds `s` among an enum's names: `Parameter '<p>' does not accept value '<s>'` otherwise.
#[doc(hidden)]
pub fn enum_parse(s: &str, names: &[&str], cx: &ValueCx<'_>) -> Result<usize> {
    names
        .iter()
        .position(|n| *n == s)
        .ok_or_else(|| cx.not_accepted(s))
}

/// JSON form of [`enum_parse`]: the value must be a JSON string.
#[doc(hidden)]
pub fn enum_from_json(v: &Value, names: &[&str], cx: &ValueCx<'_>) -> Result<usize> {
    enum_parse(cx.json_str(v)?, names, cx)
}

/// QEMU's `OnOffAuto`.
#[derive(PropertyEnum, Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[property_enum(name = "OnOffAuto", desc = "on/off/auto")]
pub enum OnOffAuto {
    /// `auto`: decide at realize time.
    #[default]
    Auto,
    /// `on`
    On,
    /// `off`
    Off,
}

/// QEMU's `OffAutoPCIBAR` (MSI-X relocation target).
#[derive(PropertyEnum, Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[property_enum(name = "OffAutoPCIBAR")]
pub enum OffAutoPciBar {
    /// `off`
    #[default]
    Off,
    /// `auto`
    Auto,
    /// `bar0`
    Bar0,
    /// `bar1`
    Bar1,
    /// `bar2`
    Bar2,
    /// `bar3`
    Bar3,
    /// `bar4`
    Bar4,
    /// `bar5`
    Bar5,
}
