//! The built-in property kinds: QEMU's `PropertyInfo`s as Rust types.

mod enums;
mod numbers;
mod option;
mod text;

pub use enums::{OffAutoPciBar, OnOffAuto};
pub use numbers::{Size, Size32};

#[doc(hidden)]
pub use enums::{enum_from_json, enum_parse};
