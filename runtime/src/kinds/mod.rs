//! The built-in property kinds: QEMU's `PropertyInfo`s as Rust types.

/// The items of a kind whose value is a string in both syntaxes, its
/// `Display` form, and which takes no static default, its entry showing
/// `""` (QEMU's string-like qdev properties without one).
macro_rules! displayed_string_kind {
    () => {
        const TYPE_NAME: &'static str = "str";
        const TAKES_DEFAULT: bool = false;

        fn from_json(v: &Value, cx: &ValueCx<'_>) -> Result<Self> {
            Self::parse(cx.json_str(v)?, cx)
        }

        fn to_json(&self) -> Value {
            self.to_string().into()
        }

        fn print(&self) -> String {
            self.to_string()
        }

        fn default_value(&self) -> DefaultValue {
            DefaultValue::Str("")
        }
    };
}

mod ccw;
mod enums;
mod numbers;
mod option;
mod pci;
mod text;
mod uuid;

pub use ccw::{CcwLoadparm, CssDevId};
pub use enums::{OffAutoPciBar, OnOffAuto};
pub use numbers::{Size, Size32};
pub use pci::{PciDevfn, PciHostAddress};
pub use uuid::QemuUuid;

#[doc(hidden)]
pub use enums::{enum_from_json, enum_parse};
