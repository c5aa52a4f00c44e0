//! The built-in property kinds: QEMU's `PropertyInfo`s as Rust types.

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
