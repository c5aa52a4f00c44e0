//! One entry of a static property table.

use crate::error::Result;
use crate::kind::{DefaultValue, Input, ValueCx};
use crate::object::Object;
use crate::tree::ObjRef;

/// Sets property number `index` of the type's table (its [`Property::index`])
/// on an object from an input value.
///
/// The derive emits one such function per type, which dispatches on `index`
/// to the field; every entry of the table points at it.
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
    /// given the property's [`Property::index`].
    Computed(DefaultFn),
}

/// A property, as the derive emits it into a `'static` table in read-only memory.
///
/// The table of a type holds only the properties it declares; the
/// properties a type shows are its ancestors' tables then its own
/// (see [`crate::TypeInfo::properties`]). The accessors (`set`, `get`,
/// `link`) are shared by the whole table and take the property's
/// [`index`](Property::index); call them through [`Property::set_on`],
/// [`Property::get_from`] and [`Property::link_target`].
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
    /// Position of the property in its type's own table: what the accessors
    /// dispatch on.
    pub index: usize,
    /// Setter, `None` for read-only properties.
    pub set: Option<SetFn>,
    /// Getter, `None` for write-only properties.
    pub get: Option<GetFn>,
    /// For link properties: the object the link currently points at.
    pub link: Option<LinkFn>,
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
        self.set.is_none()
    }

    /// Whether the property cannot be read (`Property '...' is not readable`).
    pub const fn is_write_only(&self) -> bool {
        self.get.is_none()
    }

    /// The default, rendered without allocating.
    pub fn default_value(&self) -> Option<DefaultValue> {
        match self.default {
            PropertyDefault::None => None,
            PropertyDefault::Value(v) => Some(v),
            PropertyDefault::Computed(f) => Some(f(self.index)),
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
        self.set.map(|set| set(obj, self.index, value, cx))
    }

    /// Reads the property of `obj` as JSON; `None` if it is write-only.
    pub fn get_from(&self, obj: &dyn Object) -> Option<serde_json::Value> {
        self.get.map(|get| get(obj, self.index))
    }

    /// The object a link property of `obj` points at; `None` for an unset
    /// link and for properties that are not links.
    pub fn link_target<'o>(&self, obj: &'o dyn Object) -> Option<&'o ObjRef> {
        self.link.and_then(|link| link(obj, self.index))
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
