//! One entry of a static property table.

use crate::error::Result;
use crate::kind::{DefaultValue, Input, ValueCx};
use crate::object::Object;
use crate::tree::ObjRef;

/// Sets a property on an object from an input value.
pub type SetFn = fn(&mut dyn Object, Input<'_>, &ValueCx<'_>) -> Result<()>;
/// Reads a property as JSON (`qom-get`).
pub type GetFn = fn(&dyn Object) -> serde_json::Value;
/// Reads the target of a link property.
pub type LinkFn = fn(&dyn Object) -> Option<&ObjRef>;

/// A property, as the derive emits it into a `'static` table in read-only memory.
///
/// The table of a type holds only the properties it declares; the
/// properties a type shows are its ancestors' tables then its own
/// (see [`crate::TypeInfo::properties`]).
#[derive(Clone, Copy)]
pub struct Property {
    /// QOM name (`x-vga`).
    pub name: &'static str,
    /// QOM type string (`bool`, `link<iommufd>`, `string`).
    pub type_name: &'static str,
    /// Description shown by help and JSON: the declared one, else the kind's built-in one.
    pub description: Option<&'static str>,
    /// Default applied by the constructor, if the property has one.
    pub default: Option<fn() -> DefaultValue>,
    /// QEMU version that introduced the property (`"9.0"`), kept as data.
    pub since: Option<&'static str>,
    /// Target type name of a link property (`iommufd` for `link<iommufd>`).
    pub link_type: Option<&'static str>,
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
        self.default.map(|f| f())
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
