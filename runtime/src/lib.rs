//! qomgen: declare a VMM device's properties once, on the struct, and get
//! static property tables, typed setters, `-device`/`-object` parsing, link
//! resolution, a lifecycle, and introspection.
//!
//! ```
//! use qomgen::{Device, DeviceImpl, ObjectTree};
//!
//! /// A demo device
//! #[derive(Device, Default)]
//! #[device(name = "demo-dev", category = Misc)]
//! pub struct Demo {
//!     /// Number of queues
//!     #[prop(default = 4, since = "1.0")]
//!     queues: u32,
//!     /// Use the fast path
//!     #[prop(name = "x-fast", default = false)]
//!     fast: bool,
//! }
//! impl DeviceImpl for Demo {}
//!
//! let mut tree = ObjectTree::new();
//! let dev = tree.device_add("demo-dev,id=d0,queues=8").unwrap();
//! assert_eq!(dev.borrow().downcast_ref::<Demo>().unwrap().queues, 8);
//! let err = tree.device_add("demo-dev,queues=many").unwrap_err();
//! assert_eq!(err.to_string(), "Parameter 'queues' expects integer");
//! ```

//!
//! # Map
//!
//! Every item has one path. The model is at the crate root:
//!
//! * declaring types: the derives [`Object`], [`Device`] and
//!   [`PropertyEnum`], the traits [`ObjectType`], [`ObjectImpl`],
//!   [`DeviceImpl`] and the realize context [`LifecycleCx`];
//! * what a derive produces: [`TypeInfo`] (with [`TypeKind`],
//!   [`DeviceMeta`], [`Category`]), its table of [`Property`] entries
//!   ([`PropertyDefault`], [`Accessors`] and their function types);
//! * property kinds: the trait [`PropertyKind`] (with [`Input`],
//!   [`ValueCx`], [`DefaultValue`]), QEMU's own kinds ([`Size`],
//!   [`Size32`], [`OnOffAuto`], [`OffAutoPciBar`], [`PciHostAddress`],
//!   [`PciDevfn`], [`CssDevId`], [`CcwLoadparm`], [`QemuUuid`]) and
//!   [`Link`];
//! * the types linked into the program: [`registry()`] ([`Registry`],
//!   [`TypeEntry`]);
//! * instances: [`ObjectTree`] (`-device`/`-object`, links, realize,
//!   deletion), [`ObjRef`], [`Instance`], [`Object`](trait@Object);
//! * option strings: [`Spec`], [`SpecKind`], [`SpecValue`];
//! * errors: [`Error`], [`Result`].
//!
//! Two modules group what is used apart from the model:
//!
//! * [`introspect`] — `-device X,help`, QMP's `device-list-properties` and
//!   `qom-list-types`, the JSON dump of every type and the diff of two
//!   dumps;
//! * [`opts`] — QEMU's option syntaxes (QemuOpts, JSON) and the scalar
//!   conversions of property values.

extern crate self as qomgen;

mod error;
mod group;
pub mod introspect;
mod kind;
mod kinds;
mod link;
mod object;
mod one_flavor;
pub mod opts;
mod property;
pub mod qmp;
mod registry;
mod spec;
mod suggest;
mod tree;
mod types;

pub use error::{Error, Result};
pub use group::PropertyGroup;
pub use kind::{DefaultValue, Input, PropertyKind, ValueCx};
pub use kinds::{
    CcwLoadparm, CssDevId, OffAutoPciBar, OnOffAuto, PciDevfn, PciHostAddress, QemuUuid, Size,
    Size32,
};
pub use link::{Link, LinkTarget};
pub use object::{DeviceImpl, LifecycleCx, Object, ObjectImpl, ObjectType};
pub use property::{Accessors, DefaultFn, GetFn, LinkFn, Property, PropertyDefault, SetFn};
pub use qomgen_macros::{Device, Object, PropertyEnum, PropertyGroup};
pub use registry::{Registry, TypeEntry, registry};
pub use spec::{Spec, SpecKind, SpecValue};
pub use tree::{Instance, ObjRef, ObjectTree};
pub use types::{Category, DeviceMeta, TypeInfo, TypeKind};

/// What generated code reaches for; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use inventory;
    pub use serde_json;

    pub use crate::group::Placement;
    pub use crate::kind::Slot;
    pub use crate::kinds::{enum_from_json, enum_parse};
    pub use crate::one_flavor::{DerivesObject, DeviceNotAlsoObject, Probe, ProbeFallback};
    pub use crate::registry::{DEVICE, OBJECT, Registration};

    use crate::error::{Error, Result};
    use crate::object::{Object, ObjectType};
    use crate::property::{Property, PropertyDefault};
    use crate::types::{TypeInfo, TypeKind};

    /// The fast path of [`crate::ObjectTree::instantiate_spec`] alone: the
    /// instance when the spec takes it, `None` when the general path has to
    /// decide. Not for use outside the project's tests, which compare the
    /// two paths.
    pub fn instantiate_streaming(
        tree: &crate::ObjectTree,
        kind: crate::SpecKind,
        spec: &str,
    ) -> Option<crate::Instance> {
        tree.instantiate_streaming(kind, spec)
    }

    /// The part of `obj` that a property of `T` operates on.
    #[inline]
    pub fn part_mut<T: ObjectType>(obj: &mut dyn Object) -> Result<&mut T> {
        let name = obj.type_info().name;
        obj.downcast_mut::<T>().ok_or_else(|| wrong_type::<T>(name))
    }

    /// Shared counterpart of [`part_mut`].
    #[inline]
    pub fn part<T: ObjectType>(obj: &dyn Object) -> Option<&T> {
        obj.downcast_ref::<T>()
    }

    /// A table entry of the type `owner`, readable and writable. The
    /// calls below refine it where a property differs. It is a `const fn`
    /// so that the table stays a static in read-only memory, and one call
    /// per entry, with the description, `since` and default as arguments,
    /// because an entry's calls and coercions are what the compiler spends
    /// its time on. `owner` is the static the entry is part of: its
    /// accessors, written after the table in the same initializer, are
    /// checked after the entries' kinds (see `Slot`).
    #[allow(clippy::too_many_arguments)]
    pub const fn prop(
        owner: &'static TypeInfo,
        name: &'static str,
        type_name: &'static str,
        index: usize,
        description: Option<&'static str>,
        since: Option<&'static str>,
        default: PropertyDefault,
    ) -> Property {
        Property {
            name,
            type_name,
            description,
            default,
            since,
            link_type: None,
            index,
            owner,
            writable: true,
            readable: true,
            set_after_realize: false,
        }
    }

    /// A type's table, as the derive writes it: `&table([...])` rather
    /// than `&[...]`. Both are the same static array; but behind `&` an
    /// array literal of calls is checked for promotion element by element,
    /// and a call as a whole, which costs the compiler about 3% less on a
    /// crate of derived types (`bench/derive-cost.sh`).
    pub const fn table<const N: usize>(props: [Property; N]) -> [Property; N] {
        props
    }

    /// The type name an object (not a device) shows for a property of a
    /// kind named `type_name`: QOM's `string` for qdev's `str`, as QEMU's
    /// objects add string properties with `object_class_property_add_str`
    /// (qom/object.c); the rest unchanged.
    pub const fn object_type_name(type_name: &'static str) -> &'static str {
        if str_eq(type_name, "str") {
            "string"
        } else {
            type_name
        }
    }

    /// `p` without a setter.
    pub const fn read_only(mut p: Property) -> Property {
        p.writable = false;
        p
    }

    /// `p` without a getter.
    pub const fn write_only(mut p: Property) -> Property {
        p.readable = false;
        p
    }

    /// `p` as a link to objects of type `target`. `_kind` is the field
    /// kind's own type name, unused (the entry shows `link<target>`): naming
    /// it makes the table check the field's kind before the accessors do.
    pub const fn link(mut p: Property, target: &'static str, _kind: &'static str) -> Property {
        p.link_type = Some(target);
        p
    }

    /// `p` settable after realize.
    pub const fn set_after_realize(mut p: Property) -> Property {
        p.set_after_realize = true;
        p
    }

    /// The initial value of a field that is no property and has no
    /// `#[prop(skip, default = ...)]`: its `Default`. `F` is a marker
    /// type named like the field, so that the error for a type without
    /// `Default` names the field.
    #[diagnostic::on_unimplemented(
        message = "field `{F}` is no property, so it starts at `Default::default()`, and `{Self}` does not implement `Default`",
        label = "`{Self}` is not `Default`",
        note = "give the field its initial value with `#[prop(skip, default = ...)]`, or make it an `Option<{Self}>`"
    )]
    pub trait FieldDefault<F> {
        /// The field's initial value.
        fn field_default() -> Self;
    }

    impl<T: Default, F> FieldDefault<F> for T {
        #[inline]
        fn field_default() -> Self {
            T::default()
        }
    }

    /// A table entry to be overwritten (the initial value of a table
    /// built by [`flattened`]).
    const PLACEHOLDER: Property = prop(
        &OBJECT,
        "",
        "",
        usize::MAX,
        None,
        None,
        PropertyDefault::None,
    );

    /// The table of a type that flattens property groups: its own entries
    /// (`own`, indexed from 0) and each group's (indexed after the own ones
    /// and the groups before it), in the order `layout` gives, each group
    /// entry made the type's own (`owner`, its index, QOM's `string` for
    /// `str` on an object, the `since` a [`Placement::Member`] gives).
    /// `N` is the number of all of them. A member that names no property
    /// of its group is skipped: the derive reports it where it is written.
    pub const fn flattened<const N: usize>(
        owner: &'static TypeInfo,
        object: bool,
        own: &[Property],
        groups: &[&'static [Property]],
        layout: &[Placement],
    ) -> [Property; N] {
        let mut out = [PLACEHOLDER; N];
        let mut at = 0;
        let mut k = 0;
        while k < layout.len() {
            match layout[k] {
                Placement::Own(i) => {
                    if at < N && i < own.len() {
                        out[at] = own[i];
                        at += 1;
                    }
                }
                Placement::Member { group, name, since } => {
                    if let Some(j) = position(groups[group], name) {
                        let p = made_own(groups, group, j, owner, own.len(), object, since);
                        if at < N {
                            out[at] = p;
                            at += 1;
                        }
                    }
                }
                Placement::Rest(group) => {
                    let members = groups[group];
                    let mut j = 0;
                    while j < members.len() {
                        if !placed(layout, group, members[j].name) && at < N {
                            out[at] = made_own(groups, group, j, owner, own.len(), object, None);
                            at += 1;
                        }
                        j += 1;
                    }
                }
            }
            k += 1;
        }
        out
    }

    /// Entry `j` of group `group` as the embedding type's own.
    const fn made_own(
        groups: &[&'static [Property]],
        group: usize,
        j: usize,
        owner: &'static TypeInfo,
        own: usize,
        object: bool,
        since: Option<&'static str>,
    ) -> Property {
        let mut p = groups[group][j];
        let mut base = own;
        let mut g = 0;
        while g < group {
            base += groups[g].len();
            g += 1;
        }
        p.owner = owner;
        p.index = base + j;
        if object {
            p.type_name = object_type_name(p.type_name);
        }
        if since.is_some() {
            p.since = since;
        }
        p
    }

    /// Whether a [`Placement::Member`] of `layout` places `name` of `group`.
    const fn placed(layout: &[Placement], group: usize, name: &str) -> bool {
        let mut k = 0;
        while k < layout.len() {
            if let Placement::Member {
                group: g, name: n, ..
            } = layout[k]
                && g == group
                && str_eq(n, name)
            {
                return true;
            }
            k += 1;
        }
        false
    }

    /// The position of property `name` in `props`.
    const fn position(props: &[Property], name: &str) -> Option<usize> {
        let mut i = 0;
        while i < props.len() {
            if str_eq(props[i].name, name) {
                return Some(i);
            }
            i += 1;
        }
        None
    }

    /// Whether `props` (a group's) has a property `name`.
    pub const fn declares(props: &[Property], name: &str) -> bool {
        position(props, name).is_some()
    }

    /// Whether two groups have a property name in common.
    pub const fn overlap(a: &[Property], b: &[Property]) -> bool {
        let mut i = 0;
        while i < a.len() {
            if declares(b, a[i].name) {
                return true;
            }
            i += 1;
        }
        false
    }

    /// Whether `parent` or an ancestor declares a property of `props`.
    pub const fn inherits_any(parent: &TypeInfo, props: &[Property]) -> bool {
        let mut i = 0;
        while i < props.len() {
            if inherits_property(parent, props[i].name) {
                return true;
            }
            i += 1;
        }
        false
    }

    /// An accessor was called with an index its table does not have: the
    /// table and the accessor disagree, a bug in the generated code.
    #[cold]
    #[track_caller]
    pub fn bad_index(index: usize) -> ! {
        panic!("qomgen: no property at index {index} of this type's table")
    }

    #[cold]
    fn wrong_type<T: ObjectType>(name: &str) -> Error {
        Error::new(format!(
            "property of '{}' applied to an object of type '{name}'",
            T::TYPE_INFO.name
        ))
    }

    /// Whether `parent` or one of its ancestors declares a property
    /// `name`: a type with a `#[parent]` checks each of its own properties
    /// against this in a constant (QEMU aborts on a property added twice).
    pub const fn inherits_property(parent: &TypeInfo, name: &str) -> bool {
        let mut ty = Some(parent);
        while let Some(t) = ty {
            let props = t.own_properties;
            let mut i = 0;
            while i < props.len() {
                if str_eq(props[i].name, name) {
                    return true;
                }
                i += 1;
            }
            ty = t.parent;
        }
        false
    }

    /// Whether a link kind's target type (`PropertyKind::__LINK_TARGET`)
    /// is the QOM type `name`.
    pub const fn link_target_is(target: Option<&str>, name: &str) -> bool {
        match target {
            Some(t) => str_eq(t, name),
            None => false,
        }
    }

    /// The entry default of a property whose default is an expression:
    /// refused, when the table is evaluated, for a kind that takes no
    /// default (`PropertyKind::TAKES_DEFAULT`).
    pub const fn computed_default(takes_default: bool) -> crate::PropertyDefault {
        assert!(
            takes_default,
            "this property's kind takes no `default`: QEMU's string-like properties have none"
        );
        crate::PropertyDefault::Computed
    }

    /// Byte-wise string equality usable in constants (link target checks).
    pub const fn str_eq(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }

    /// The `user_creatable` a device type inherits from its parent.
    pub const fn inherited_user_creatable(parent: &TypeInfo) -> bool {
        match parent.kind {
            TypeKind::Device(m) => m.user_creatable,
            TypeKind::Object { user_creatable } => user_creatable,
        }
    }

    /// The `hotpluggable` a device type inherits from its parent.
    pub const fn inherited_hotpluggable(parent: &TypeInfo) -> bool {
        match parent.kind {
            TypeKind::Device(m) => m.hotpluggable,
            TypeKind::Object { .. } => true,
        }
    }
}
