// The property names QOM and qdev give every object or device. Plain data
// with no `use`: qomgen-macros's tests include this file to check that the
// derive rejects exactly these names (`macros/src/check.rs`).

/// The property QOM's `object` class gives every type: `type`.
pub const OBJECT_IMPLICIT_NAMES: &[&str] = &["type"];

/// The properties QEMU's `device` class gives every device besides `type`.
pub const DEVICE_IMPLICIT_NAMES: &[&str] =
    &["realized", "hotpluggable", "hotplugged", "parent_bus"];

/// The prefix of qdev's legacy properties, which device help hides.
pub const LEGACY_PREFIX: &str = "legacy-";
