// The property names QOM and qdev give every object or device, the option
// keys `-device`/`-object` read themselves, and the types qomgen registers
// itself. Plain data with no `use`: qomgen-macros's tests include this
// file to check that the derive rejects exactly these names
// (`macros/src/check.rs`).

/// The property QOM's `object` class gives every type: `type`.
pub const OBJECT_IMPLICIT_NAMES: &[&str] = &["type"];

/// The properties QEMU's `device` class gives every device besides `type`.
pub const DEVICE_IMPLICIT_NAMES: &[&str] =
    &["realized", "hotpluggable", "hotplugged", "parent_bus"];

/// The prefix of qdev's legacy properties, which device help hides.
pub const LEGACY_PREFIX: &str = "legacy-";

/// The keys `-device` takes for itself before it sets the rest as
/// properties (QEMU's `qdev_device_add_from_qdict`, system/qdev-monitor.c,
/// deletes `driver`, `bus` and `id` from the options it applies): a
/// device property of one of these names can never be set.
pub const DEVICE_OPTION_KEYS: &[&str] = &["driver", "bus", "id"];

/// The keys `-object` takes for itself (QEMU's `user_creatable_add_dict`,
/// qom/object_interfaces.c, deletes `qom-type` and `id`): an object
/// property of one of these names can never be set.
pub const OBJECT_OPTION_KEYS: &[&str] = &["qom-type", "id"];

/// The QOM types qomgen itself registers (`qomgen::__private::OBJECT` and
/// `DEVICE`): no derived type may take their names. Read by the derive and
/// by the registry's test, which compares it with those statics.
#[allow(dead_code)]
pub const BUILTIN_TYPE_NAMES: &[&str] = &["object", "device"];
