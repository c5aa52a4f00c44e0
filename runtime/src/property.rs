//! One entry of a static property table.

use crate::error::Result;
use crate::kind::{DefaultValue, Input, ValueCx};
use crate::object::Object;
use crate::tree::ObjRef;
use crate::types::TypeInfo;

/// Sets property number `index` of the type's table (its [`Property::index`])
/// on an object from an input value.
///
/// The derive emits one such function per type, which dispatches on `index`
/// to the field: the type's [`Accessors::set`].
pub type SetFn = fn(&mut dyn Object, usize, Input<'_>, &ValueCx<'_>) -> Result<()>;
/// Reads property number `index` of the type's table as JSON (`qom-get`).
pub type GetFn = fn(&dyn Object, usize) -> serde_json::Value;
/// Reads the target of link property number `index` of the type's table.
pub type LinkFn = fn(&dyn Object, usize) -> Option<&ObjRef>;
/// Renders the default of property number `index` of the type's table, for
/// defaults that cannot be rendered when the table is built (see
/// [`PropertyDefault::Computed`]).
pub type DefaultFn = fn(usize) -> DefaultValue;

/// How a property's default is stored in the static table.
#[derive(Clone, Copy, Debug)]
pub enum PropertyDefault {
    /// The property has no default (the field starts at `Default::default()`).
    None,
    /// The default, rendered when the table was built (`default = 4`,
    /// `default = false`, `default = u32::MAX` on a built-in number or bool).
    Value(DefaultValue),
    /// The default is an expression whose rendering goes through the kind's
    /// [`PropertyKind::default_value`](crate::PropertyKind::default_value),
    /// which cannot run in a constant: the function renders it on demand,
    /// given the property's [`Property::index`], through the renderer of
    /// the type that declares it ([`Accessors::default`]).
    Computed,
}

/// The functions through which a type's table reads and writes its
/// instances, shared by every entry (each passes its [`Property::index`]).
/// The derive emits them once per type; a table entry reaches them through
/// its [`Property::owner`].
#[derive(Clone, Copy, Debug)]
pub struct Accessors {
    /// Sets a property (not called for read-only ones).
    pub set: SetFn,
    /// Reads a property as JSON (not called for write-only ones).
    pub get: GetFn,
    /// Reads the target of a link property; `None` if the type has no links.
    pub link: Option<LinkFn>,
    /// Renders a [`PropertyDefault::Computed`] default.
    pub default: DefaultFn,
}

impl Accessors {
    /// The accessors of a type that declares no property (never called),
    /// and the default renderer of one whose defaults are all constants.
    pub const NONE: Accessors = Accessors {
        set: |_, index, _, _| crate::__private::bad_index(index),
        get: |_, index| crate::__private::bad_index(index),
        link: None,
        default: |index| crate::__private::bad_index(index),
    };
}

/// A property, as the derive emits it into a `'static` table in read-only memory.
///
/// The table of a type holds only the properties it declares; the
/// properties a type shows are its ancestors' tables then its own
/// (see [`crate::TypeInfo::properties`]). The accessors are shared by the
/// whole table (its [`owner`](Property::owner)'s [`Accessors`]) and take the
/// property's [`index`](Property::index); call them through
/// [`Property::set_on`], [`Property::get_from`] and
/// [`Property::link_target`]. An entry thus holds no function of its own,
/// which is what keeps a table cheap to compile.
#[derive(Clone, Copy)]
pub struct Property {
    /// QOM name (`x-vga`).
    pub name: &'static str,
    /// QOM type string (`bool`, `link<iommufd>`, `string`).
    pub type_name: &'static str,
    /// Description shown by help and JSON: the declared one, else the kind's built-in one.
    pub description: Option<&'static str>,
    /// Default applied by the constructor, if the property has one.
    pub default: PropertyDefault,
    /// QEMU version that introduced the property (`"9.0"`), kept as data.
    pub since: Option<&'static str>,
    /// Target type name of a link property (`iommufd` for `link<iommufd>`).
    pub link_type: Option<&'static str>,
    /// What the accessors dispatch on: the position of the property in its
    /// type's own table, except that the members of a flattened property
    /// group ([`crate::PropertyGroup`]), which the table places among the
    /// type's own properties, are numbered after those.
    pub index: usize,
    /// The type whose table holds the entry; its [`TypeInfo::accessors`]
    /// read and write the property.
    pub owner: &'static TypeInfo,
    /// Whether the property can be set (`false`: read-only).
    pub writable: bool,
    /// Whether the property can be read (`false`: write-only).
    pub readable: bool,
    /// Settable after realize (QEMU's `realized_set_allowed`).
    pub set_after_realize: bool,
}

impl Property {
    /// Whether the name marks the property as unstable (`x-` prefix, QEMU's convention).
    pub const fn is_unstable(&self) -> bool {
        let b = self.name.as_bytes();
        b.len() > 2 && b[0] == b'x' && b[1] == b'-'
    }

    /// Whether the property cannot be set (`Property '...' is not writable`).
    pub const fn is_read_only(&self) -> bool {
        !self.writable
    }

    /// Whether the property cannot be read (`Property '...' is not readable`).
    pub const fn is_write_only(&self) -> bool {
        !self.readable
    }

    /// The default, rendered without allocating.
    pub fn default_value(&self) -> Option<DefaultValue> {
        match self.default {
            PropertyDefault::None => None,
            PropertyDefault::Value(v) => Some(v),
            PropertyDefault::Computed => Some((self.owner.accessors.default)(self.index)),
        }
    }

    /// Sets the property on `obj`; `None` if it is read-only.
    ///
    /// `obj` must be an instance of the type that shows the property.
    pub fn set_on(
        &self,
        obj: &mut dyn Object,
        value: Input<'_>,
        cx: &ValueCx<'_>,
    ) -> Option<Result<()>> {
        self.writable
            .then(|| (self.owner.accessors.set)(obj, self.index, value, cx))
    }

    /// Reads the property of `obj` as JSON; `None` if it is write-only.
    pub fn get_from(&self, obj: &dyn Object) -> Option<serde_json::Value> {
        self.readable
            .then(|| (self.owner.accessors.get)(obj, self.index))
    }

    /// The object a link property of `obj` points at; `None` for an unset
    /// link and for properties that are not links.
    pub fn link_target<'o>(&self, obj: &'o dyn Object) -> Option<&'o ObjRef> {
        self.link_type?;
        self.owner
            .accessors
            .link
            .and_then(|link| link(obj, self.index))
    }
}

impl std::fmt::Debug for Property {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Property")
            .field("name", &self.name)
            .field("type_name", &self.type_name)
            .field("description", &self.description)
            .field("default", &self.default_value())
            .field("since", &self.since)
            .field("read_only", &self.is_read_only())
            .field("write_only", &self.is_write_only())
            .finish()
    }
}
