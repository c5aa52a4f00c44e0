//! Introspection: what QEMU shows about its types, from the static tables.
//!
//! * Help: the human texts of `-device help` ([`device_list_help`]),
//!   `-device NAME,help` ([`device_help`]), `-object help` and
//!   `-object NAME,help`, byte for byte as QEMU prints them, plus an opt-in
//!   annotated style ([`HelpStyle::extra`]).
//! * QMP-shaped answers as serde types: [`device_list_properties`],
//!   [`qom_list_properties`], [`qom_list_types`].
//! * [`dump()`] and [`diff()`]: one document describing every registered
//!   type, and a comparison of two such documents that classifies each
//!   change as breaking or compatible.
//!
//! QEMU instantiates a type to introspect it (to see instance properties).
//! Here every property lives in a static table, so introspection never
//! adds an object anywhere: it cannot have side effects on an
//! [`ObjectTree`](crate::ObjectTree), which is the invariant QEMU's
//! `device-introspect-test` checks. A default that is an expression rather
//! than a constant (`default = OnOffAuto::Auto`) is rendered from an
//! instance built by [`ObjectType::with_defaults`](crate::ObjectType::with_defaults)
//! and dropped (QEMU, too, builds an instance to list a type's
//! properties): building a type's default instance, its fields' `Default`
//! included, should have no effect outside it.
//!
//! ```
//! use qomgen::introspect::{self, HelpStyle};
//!
//! let err = introspect::device_help("no-such-device", &HelpStyle::QEMU).unwrap_err();
//! assert_eq!(err.to_string(), "Device 'no-such-device' not found");
//! let err = introspect::device_help("device", &HelpStyle::QEMU).unwrap_err();
//! assert_eq!(err.to_string(), "Parameter 'typename' expects a non-abstract device type");
//! ```
//!
//! ## Help texts
//!
//! The human help texts, byte-compatible with QEMU.
//!
//! | request | QEMU function | here |
//! |---|---|---|
//! | `-device help` | `qdev_print_devinfos(false)` | [`write_device_list`] with `show_no_user = false` |
//! | HMP `info qdm` | `qdev_print_devinfos(true)` | [`write_device_list`] with `show_no_user = true` |
//! | `-device NAME,help` | `qdev_device_help` | [`write_device_help`] |
//! | `-object help` | `user_creatable_print_help` | [`write_object_list`] |
//! | `-object NAME,help` | `user_creatable_print_type_properites` | [`write_object_help`] |
//!
//! Everything renders into any [`std::fmt::Write`] and allocates nothing
//! but what the writer itself does (a `String` with enough capacity
//! allocates nothing at all): lines are sorted in an array on the stack
//! (a selection over the static tables for an unusually long list) instead
//! of being collected into a heap buffer and sorted.
//! The only exception is the opt-in availability callback of
//! [`HelpStyle`], which returns a `String`.
//!
//! ### The device list (`-device help`)
//!
//! QEMU's `qdev_print_devinfos` walks the categories in `DeviceCategory`
//! order ([`Category::ALL`](crate::Category::ALL)); for each category that has at least one
//! listed device it prints the header, preceded by an empty line unless the
//! category is the first one of the enumeration (`"%s%s devices:\n", i ?
//! "\n" : ""`). So the output starts with an empty line whenever there are
//! no `Controller/Bridge/Hub` devices, and there is no empty line at the
//! end; we print exactly that. Devices are the non-abstract device types,
//! sorted by `strcasecmp` of the name (`object_class_get_list_sorted`); a
//! device without category is listed under `Uncategorized devices:`, last.
//! Types that are not user-creatable are left out of `-device help`
//! (`show_no_user = false`); `info qdm` lists them with `, no-user`. Each
//! line is `name "%s"`, then `, bus %s`, `, desc "%s"` (the inherited
//! description), `, no-user` when they apply (QEMU's `, alias "%s"` never
//! applies: there are no aliases).
//!
//! ### Property lines (`-device NAME,help`, `-object NAME,help`)
//!
//! QEMU's `object_property_help`: `"  " + name + "=<" + type + ">"`; if
//! there is a description or a default, spaces up to column 24 (only when
//! shorter) and `" - "`; the description; `" (default: X)"` with X as
//! [`DefaultValue`](crate::DefaultValue)'s `Display` (strings bare, bools `on`/`off`, numbers
//! and `[]` as JSON). The lines are sorted with `strcmp` over the whole
//! line. A header `NAME options:` precedes them, or the single line
//! `There are no options for NAME.` replaces them.
//!
//! ### The extra style
//!
//! [`HelpStyle::extra`] appends annotations to each property line, after
//! QEMU's text (so a line still starts with exactly QEMU's line, and sorting
//! is unchanged):
//!
//! ```text
//!   backend=<link<test-backend>> - Backend to use [since 9.0] (unavailable: no backend on this host)
//!   busnr=<uint8>          - Bus number, assigned at realize [read-only]
//!   weight=<uint64>        - Allowed to change while running (default: 0) [set-after-realize]
//!   x-offset=<uint16>      -  (default: 0) [unstable]
//! ```
//!
//! * `[...]`: comma-separated tags, present only if at least one applies,
//!   in this order: `since X` (the version that introduced the property),
//!   `unstable` (the name has QEMU's `x-` prefix: no compatibility promise),
//!   `read-only` (no setter), `write-only` (no getter), `set-after-realize`
//!   (may change on a realized device).
//! * `(unavailable: REASON)`: the availability callback returned
//!   `Some(REASON)`: the property exists but cannot work on this host
//!   (for example `/dev/iommu missing`).
//!
//! ## QMP answers
//!
//! QMP-shaped introspection: `device-list-properties`,
//! `qom-list-properties` and `qom-list-types`, as serde types.
//!
//! [`ObjectPropertyInfo`] serializes exactly as QMP's (`name`, `type`,
//! optional `description`, optional `default-value`) plus qomgen's own
//! fields. Those all start with `x-qomgen-`: QAPI member names are
//! lowercase words and never use that prefix (`x-` marks unstable QAPI
//! members, and no QEMU member is named after qomgen), so they cannot
//! clash with a present or future QMP field. A client that only knows QMP
//! ignores them; [`ObjectPropertyInfo::to_qmp`] removes them. Each is
//! omitted when it carries no information (absent / `false`):
//!
//! | field | JSON type | meaning |
//! |---|---|---|
//! | `x-qomgen-since` | string | QEMU version that introduced the property |
//! | `x-qomgen-unstable` | bool | name has the `x-` prefix: no compatibility promise |
//! | `x-qomgen-read-only` | bool | no setter (`... is not writable`) |
//! | `x-qomgen-write-only` | bool | no getter (`... is not readable`) |
//! | `x-qomgen-set-after-realize` | bool | may be set on a realized device |
//! | `x-qomgen-link-type` | string | target type of a `link<...>` property |
//!
//! Lists come in a fixed order (QEMU's is hash order, i.e. unspecified):
//! properties ancestors first in declaration order, types by name.
//!
//! ## The dump
//!
//! One document describing every registered type, to keep in a repository
//! and compare between versions with [`diff`](diff()).
//!
//! ```json
//! {
//!   "format-version": 1,
//!   "types": [
//!     {
//!       "name": "test-leaf",
//!       "parent": "test-bus-device",
//!       "abstract": false,
//!       "kind": "device",
//!       "user-creatable": true,
//!       "device": { "category": "misc", "bus": "TEST", "hotpluggable": true },
//!       "description": "Test device with every kind of property",
//!       "properties": [ { "name": "slot", "type": "int32", "default-value": -1, ... } ]
//!     }
//!   ]
//! }
//! ```
//!
//! Types are sorted by name. Every value is the *effective* one, as a user
//! sees it: the description, category and bus inherited where the type sets
//! none, and `properties` the whole table (ancestors' first, in declaration
//! order) as [`ObjectPropertyInfo`] with the `x-qomgen-` fields. The
//! implicit QOM properties (`type`, `realized`, ...) are not listed: they
//! are the same for every type. [`DUMP_FORMAT_VERSION`] changes whenever
//! the meaning of a field changes; [`Dump::from_json`] refuses other
//! versions.
//!
//! ## The diff
//!
//! Compares two [`Dump`]s: what a user of the old types would notice.
//!
//! Each [`Change`] has a [`Severity`]:
//!
//! * **breaking**: a command line, QMP command or migration stream that
//!   worked before may now fail or behave differently: a type or property
//!   removed, a type that became abstract, is no longer user-creatable or
//!   hotpluggable, changed between object and device or changed bus; a
//!   property whose type or default changed, that became read-only or
//!   write-only, or can no longer be set after realize.
//! * **unstable**: a change that would be breaking, but to a property or
//!   type whose name starts with `x-`, QEMU's mark for "no compatibility
//!   promise". Reported, but not counted by [`DiffReport::is_breaking`].
//! * **compatible**: everything else: types and properties added, and
//!   changes that relax a rule (became concrete, user-creatable,
//!   hotpluggable, writable, readable, settable after realize) or only
//!   touch documentation (description, since, category, parent).
//!
//! ### Human rendering
//!
//! [`DiffReport`]'s `Display` prints one line per change, each starting
//! with a label: `BREAKING: ` (breaking), `unstable: ` (unstable),
//! `added: ` (a type or property added) or `changed: ` (any other
//! compatible change), then a sentence naming the type, or the property as
//! `'type.property'`. Values are printed as in the dump: strings quoted,
//! JSON values as compact JSON, a missing value as `none`:
//!
//! ```text
//! BREAKING: property 'test-leaf.host' removed
//! BREAKING: property 'test-leaf.display' default changed from "off" to "auto"
//! added: property 'test-leaf.queues' (uint32)
//! changed: property 'test-leaf.weight' since changed from none to "9.1"
//! ```
//!
//! Changes come sorted by type name; within a type, type-level changes
//! first, then properties in the old table's order, then added properties
//! in the new table's order. Properties are compared per type, so a
//! property removed from a parent is reported for every type that had it.

mod diff;
mod dump;
mod help;
mod json;
pub(crate) mod reserved;

pub use diff::{Change, DiffReport, Severity, diff};
pub use dump::{DUMP_FORMAT_VERSION, DeviceDump, Dump, TypeDump, TypeKindName, dump};
pub use help::{
    Availability, HelpError, HelpStyle, device_help, device_list_help, object_help,
    object_list_help, write_device_help, write_device_help_for, write_device_list,
    write_object_help, write_object_help_for, write_object_list, write_property_help,
};
pub use json::{
    ObjectPropertyInfo, ObjectTypeInfo, device_list_properties, qom_list_properties, qom_list_types,
};

use crate::error::{Error, Result};
use crate::kind::{Input, ValueCx};
use crate::object::Object;
use crate::property::{Accessors, Property, PropertyDefault};
use crate::registry::registry;
use crate::types::{TypeInfo, TypeKind};

fn get_type(obj: &dyn Object, _: usize) -> serde_json::Value {
    obj.type_info().name.into()
}

fn get_false(_: &dyn Object, _: usize) -> serde_json::Value {
    false.into()
}

fn get_hotpluggable(obj: &dyn Object, _: usize) -> serde_json::Value {
    obj.type_info()
        .device_meta()
        .is_some_and(|m| m.hotpluggable)
        .into()
}

fn get_null(_: &dyn Object, _: usize) -> serde_json::Value {
    serde_json::Value::Null
}

fn set_realized(_: &mut dyn Object, _: usize, _: Input<'_>, cx: &ValueCx<'_>) -> Result<()> {
    Err(Error::new(format!(
        "Property '{}.realized' is changed by realizing or deleting the device, not by setting it",
        cx.type_name
    )))
}

/// The owner of the implicit properties: not a registered type, only the
/// accessors, which dispatch on the index as a derived type's do.
static IMPLICIT: TypeInfo = TypeInfo {
    name: "qomgen-implicit-properties",
    rust_name: "qomgen::introspect::IMPLICIT",
    accessors: &Accessors {
        set: set_realized,
        get: get_implicit,
        link: None,
        default: Accessors::NONE.default,
    },
    ..crate::registry::OBJECT
};

fn get_implicit(obj: &dyn Object, index: usize) -> serde_json::Value {
    match index {
        0 => get_type(obj, index),
        2 => get_hotpluggable(obj, index),
        4 => get_null(obj, index),
        _ => get_false(obj, index),
    }
}

const fn implicit(name: &'static str, type_name: &'static str, index: usize) -> Property {
    Property {
        name,
        type_name,
        description: None,
        default: PropertyDefault::None,
        since: None,
        link_type: None,
        index,
        owner: &IMPLICIT,
        writable: false,
        readable: true,
        set_after_realize: false,
    }
}

/// The property QOM's `object` class adds to every type: `type` (`string`,
/// read-only). It is not in any table; [`qom_properties`] adds it.
pub static OBJECT_IMPLICIT_PROPERTIES: [Property; 1] = [implicit("type", "string", 0)];

/// The properties QEMU's `device` class adds to every device: `realized`
/// (`bool`, settable), `hotpluggable` and `hotplugged` (`bool`, read-only),
/// `parent_bus` (`link<bus>`, read-only).
///
/// They exist for introspection only: their getters report an instance that
/// is not in a tree (not realized, not hot-plugged, no bus), and `realized`
/// cannot actually be set through them (the tree realizes devices).
pub static DEVICE_IMPLICIT_PROPERTIES: [Property; 4] = [
    Property {
        writable: true,
        ..implicit("realized", "bool", 1)
    },
    implicit("hotpluggable", "bool", 2),
    implicit("hotplugged", "bool", 3),
    Property {
        link_type: Some("bus"),
        ..implicit("parent_bus", "link<bus>", 4)
    },
];

/// The implicit properties of `ty`: `type`, and for devices the four of
/// [`DEVICE_IMPLICIT_PROPERTIES`].
pub fn implicit_properties(
    ty: &'static TypeInfo,
) -> impl Iterator<Item = &'static Property> + Clone {
    let device: &'static [Property] = if ty.is_device() {
        &DEVICE_IMPLICIT_PROPERTIES
    } else {
        &[]
    };
    OBJECT_IMPLICIT_PROPERTIES.iter().chain(device)
}

/// Whether `device-list-properties` / `-device X,help` hide a property of
/// this name: `type`, `realized`, `hotpluggable`, `hotplugged`,
/// `parent_bus`, and any name starting with `legacy-`.
/// The derive rejects these names for a device's own properties, so only
/// the implicit properties themselves have them.
pub fn is_hidden_device_property(name: &str) -> bool {
    reserved::OBJECT_IMPLICIT_NAMES.contains(&name)
        || reserved::DEVICE_IMPLICIT_NAMES.contains(&name)
        || name.starts_with(reserved::LEGACY_PREFIX)
}

/// The properties `device-list-properties` and `-device X,help` show for
/// `ty`: its table (ancestors first) minus the hidden names.
pub fn device_properties(ty: &'static TypeInfo) -> impl Iterator<Item = &'static Property> + Clone {
    ty.properties()
        .filter(|p| !is_hidden_device_property(p.name))
}

/// The properties `qom-list-properties` shows for `ty`: the implicit ones,
/// then its table (ancestors first), nothing hidden.
pub fn qom_properties(ty: &'static TypeInfo) -> impl Iterator<Item = &'static Property> + Clone {
    implicit_properties(ty).chain(ty.properties())
}

/// A type by name, with `device-list-properties`' checks: it exists
/// (`Device '%s' not found`), is a device and is not abstract
/// (`Parameter 'typename' expects a non-abstract device type`).
///
/// # Errors
/// The two texts above.
pub fn lookup_device(typename: &str) -> Result<&'static TypeInfo> {
    let ty = registry()
        .get(typename)
        .map(|e| e.info)
        .ok_or_else(|| Error::new(format!("Device '{typename}' not found")))?;
    check_device(ty)?;
    Ok(ty)
}

pub(crate) fn check_device(ty: &'static TypeInfo) -> Result<()> {
    if !ty.is_device() || ty.abstract_ {
        return Err(Error::invalid_parameter_value(
            "typename",
            "a non-abstract device type",
        ));
    }
    Ok(())
}

/// A type by name, with `qom-list-properties`' check: `Class '%s' not found`.
///
/// # Errors
/// The text above.
pub fn lookup_class(typename: &str) -> Result<&'static TypeInfo> {
    registry()
        .get(typename)
        .map(|e| e.info)
        .ok_or_else(|| Error::new(format!("Class '{typename}' not found")))
}

/// Whether `-object` may create `ty` (the same rule the object tree applies).
pub(crate) fn is_creatable_object(ty: &TypeInfo) -> bool {
    !ty.abstract_
        && matches!(
            ty.kind,
            TypeKind::Object {
                user_creatable: true
            }
        )
}

/// `strcasecmp` (ASCII case folding, as glibc in the C locale), then plain
/// byte order to make distinct names never compare equal. QEMU sorts type
/// lists with `object_class_get_list_sorted`, which uses `strcasecmp`.
pub(crate) fn type_name_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
        .then_with(|| a.cmp(b))
}

/// Lists up to this long are sorted on the stack; longer ones fall back to
/// [`for_each_selected`]. A type's table or the list of types is far shorter.
const STACK_SORT_MAX: usize = 256;

/// Visits the items of `items` in the order given by `cmp`, without
/// allocating. Items are told apart by position, so equal keys are all
/// visited (in iteration order).
///
/// Up to [`STACK_SORT_MAX`] items are copied into an array on the stack and
/// sorted there by `(cmp, position)`, a total order, so the unstable sort
/// visits them exactly as the selection would; O(n log n) instead of the
/// selection's O(n²), which dominated `-device vfio-pci,help`.
pub(crate) fn for_each_sorted<T: Copy, I, E>(
    items: I,
    mut cmp: impl FnMut(T, T) -> std::cmp::Ordering,
    mut visit: impl FnMut(T) -> std::result::Result<(), E>,
) -> std::result::Result<(), E>
where
    I: Iterator<Item = T> + Clone,
{
    let mut buf: [Option<(T, usize)>; STACK_SORT_MAX] = [None; STACK_SORT_MAX];
    let mut n = 0;
    for (i, item) in items.clone().enumerate() {
        let Some(slot) = buf.get_mut(n) else {
            return for_each_selected(items, cmp, visit);
        };
        *slot = Some((item, i));
        n += 1;
    }
    let sorted = &mut buf[..n];
    // Every one of the first `n` slots is `Some`.
    sorted.sort_unstable_by(|a, b| match (a, b) {
        (Some(a), Some(b)) => cmp(a.0, b.0).then(a.1.cmp(&b.1)),
        _ => std::cmp::Ordering::Equal,
    });
    for &(item, _) in sorted.iter().flatten() {
        visit(item)?;
    }
    Ok(())
}

/// [`for_each_sorted`] for any number of items, without allocating: a
/// selection over the (cloneable) iterator, each step taking the smallest
/// item greater than the previous one. Quadratic.
pub(crate) fn for_each_selected<T: Copy, I, E>(
    items: I,
    mut cmp: impl FnMut(T, T) -> std::cmp::Ordering,
    mut visit: impl FnMut(T) -> std::result::Result<(), E>,
) -> std::result::Result<(), E>
where
    I: Iterator<Item = T> + Clone,
{
    use std::cmp::Ordering::{Greater, Less};
    let mut last: Option<(T, usize)> = None;
    loop {
        let mut best: Option<(T, usize)> = None;
        for (i, item) in items.clone().enumerate() {
            let key = (item, i);
            let mut order = |a: (T, usize), b: (T, usize)| cmp(a.0, b.0).then(a.1.cmp(&b.1));
            if last.is_some_and(|l| order(key, l) != Greater) {
                continue;
            }
            if best.is_none_or(|b| order(key, b) == Less) {
                best = Some(key);
            }
        }
        match best {
            Some(b) => {
                visit(b.0)?;
                last = Some(b);
            }
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_visit_orders_and_keeps_duplicates() {
        let items = [3, 1, 2, 1];
        let mut seen = Vec::new();
        for_each_sorted(
            items.iter().copied(),
            |a: i32, b| a.cmp(&b),
            |x| {
                seen.push(x);
                Ok::<(), ()>(())
            },
        )
        .unwrap();
        assert_eq!(seen, [1, 1, 2, 3]);
        // Past the stack limit (the selection) and below it (the sort), the
        // same order: by key, then by position.
        for len in [
            0,
            1,
            7,
            STACK_SORT_MAX,
            STACK_SORT_MAX + 1,
            3 * STACK_SORT_MAX,
        ] {
            let items: Vec<(u32, usize)> = (0..len)
                .map(|i| ((i as u32).wrapping_mul(2_654_435_761) % 97, i))
                .collect();
            // What `walk` visits of `items`, ordered by the key.
            macro_rules! visited {
                ($walk:ident) => {{
                    let mut seen = Vec::new();
                    $walk(
                        items.iter().copied(),
                        |a, b| a.0.cmp(&b.0),
                        |x| {
                            seen.push(x);
                            Ok::<(), ()>(())
                        },
                    )
                    .unwrap();
                    seen
                }};
            }
            let sorted = visited!(for_each_sorted);
            let selected = visited!(for_each_selected);
            let mut expected = items.clone();
            expected.sort();
            assert_eq!(sorted, expected, "{len}");
            assert_eq!(selected, expected, "{len}");
        }
        let mut none = 0;
        for_each_sorted(
            std::iter::empty::<i32>(),
            |a, b| a.cmp(&b),
            |_| {
                none += 1;
                Ok::<(), ()>(())
            },
        )
        .unwrap();
        assert_eq!(none, 0);
    }

    #[test]
    fn type_names_sort_like_strcasecmp() {
        use std::cmp::Ordering::*;
        assert_eq!(type_name_cmp("ABC", "abd"), Less);
        assert_eq!(type_name_cmp("b", "A"), Greater);
        assert_eq!(type_name_cmp("a", "A"), Greater);
        assert_eq!(type_name_cmp("x", "x"), Equal);
    }

    #[test]
    fn hidden_names_match_qemu() {
        for n in [
            "type",
            "realized",
            "hotpluggable",
            "hotplugged",
            "parent_bus",
            "legacy-foo",
        ] {
            assert!(is_hidden_device_property(n), "{n}");
        }
        assert!(!is_hidden_device_property("host") && !is_hidden_device_property("legacy"));
        // The reserved names (which the derive rejects) are the implicit
        // properties' names.
        let names = |ps: &[Property]| ps.iter().map(|p| p.name).collect::<Vec<_>>();
        assert_eq!(
            names(&OBJECT_IMPLICIT_PROPERTIES),
            reserved::OBJECT_IMPLICIT_NAMES
        );
        assert_eq!(
            names(&DEVICE_IMPLICIT_PROPERTIES),
            reserved::DEVICE_IMPLICIT_NAMES
        );
    }
}
