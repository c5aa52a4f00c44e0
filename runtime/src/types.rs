//! Static type descriptions: what a QOM type is, who its parent is, what it can do.

use crate::object::Object;
use crate::property::{Accessors, Property};

/// QEMU's device categories (`DeviceCategory`), in the order `-device help` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// `Controller/Bridge/Hub devices`
    Bridge,
    /// `USB devices`
    Usb,
    /// `Storage devices`
    Storage,
    /// `Network devices`
    Network,
    /// `Input devices`
    Input,
    /// `Display devices`
    Display,
    /// `Sound devices`
    Sound,
    /// `Misc devices`
    Misc,
    /// `CPU devices`
    Cpu,
    /// `Watchdog devices`
    Watchdog,
    /// `Uncategorized devices`
    Uncategorized,
}

impl Category {
    /// All categories in listing order.
    pub const ALL: [Category; 11] = [
        Category::Bridge,
        Category::Usb,
        Category::Storage,
        Category::Network,
        Category::Input,
        Category::Display,
        Category::Sound,
        Category::Misc,
        Category::Cpu,
        Category::Watchdog,
        Category::Uncategorized,
    ];

    /// The header QEMU prints above the category in `-device help`.
    pub const fn header(self) -> &'static str {
        match self {
            Category::Bridge => "Controller/Bridge/Hub devices:",
            Category::Usb => "USB devices:",
            Category::Storage => "Storage devices:",
            Category::Network => "Network devices:",
            Category::Input => "Input devices:",
            Category::Display => "Display devices:",
            Category::Sound => "Sound devices:",
            Category::Misc => "Misc devices:",
            Category::Cpu => "CPU devices:",
            Category::Watchdog => "Watchdog devices:",
            Category::Uncategorized => "Uncategorized devices:",
        }
    }
}

/// What a device type declares beyond an object type.
#[derive(Debug, Clone, Copy)]
pub struct DeviceMeta {
    /// Category for `-device help`; `None` inherits the parent's.
    pub category: Option<Category>,
    /// Bus kind (`PCI`, `virtual-css-bus`, `ap-bus`); `None` inherits.
    pub bus: Option<&'static str>,
    /// Whether `-device` may create it.
    pub user_creatable: bool,
    /// Whether it can be hot-plugged.
    pub hotpluggable: bool,
}

/// Object or device.
#[derive(Debug, Clone, Copy)]
pub enum TypeKind {
    /// A plain object; `user_creatable` types can be made with `-object`.
    Object {
        /// Implements QEMU's `user-creatable` interface.
        user_creatable: bool,
    },
    /// A device (`-device`).
    Device(DeviceMeta),
}

/// A registered QOM type, built by the derive as a `'static` constant.
pub struct TypeInfo {
    /// QOM type name (`vfio-pci`).
    pub name: &'static str,
    /// Parent type, or `None` for a root (`object`, `device`).
    pub parent: Option<&'static TypeInfo>,
    /// Abstract types cannot be instantiated.
    pub abstract_: bool,
    /// Description (`-device help`'s `desc`); `None` inherits the parent's.
    pub description: Option<&'static str>,
    /// Object or device, with device metadata.
    pub kind: TypeKind,
    /// Properties this type itself declares, in declaration order.
    pub own_properties: &'static [Property],
    /// Builds an instance with every default applied; `None` for abstract types.
    pub instantiate: Option<fn() -> Box<dyn Object>>,
    /// Rust type behind the QOM type, for diagnostics.
    pub rust_name: &'static str,
    /// How the entries of `own_properties` read and write an instance
    /// ([`Accessors::NONE`] for a type without properties).
    pub accessors: &'static Accessors,
}

impl TypeInfo {
    /// The ancestor chain from the root down to `self`.
    pub fn lineage(&'static self) -> impl DoubleEndedIterator<Item = &'static TypeInfo> + Clone {
        // Types are a few levels deep; a fixed array keeps this allocation-free.
        let mut chain: [Option<&'static TypeInfo>; 16] = [None; 16];
        let mut n = 0;
        let mut t = Some(self);
        while let Some(ty) = t {
            assert!(
                n < chain.len(),
                "type hierarchy deeper than 16 levels at {}",
                self.name
            );
            chain[n] = Some(ty);
            n += 1;
            t = ty.parent;
        }
        chain.into_iter().take(n).flatten().rev()
    }

    /// Every property the type shows: ancestors' first, as QEMU lists them.
    pub fn properties(&'static self) -> impl Iterator<Item = &'static Property> + Clone {
        self.lineage().flat_map(|t| t.own_properties.iter())
    }

    /// Whether `self` is `ancestor` or derives from it.
    pub fn is_a(&'static self, ancestor: &str) -> bool {
        self.lineage().any(|t| t.name == ancestor)
    }

    /// Whether this is a device type.
    pub const fn is_device(&self) -> bool {
        matches!(self.kind, TypeKind::Device(_))
    }

    /// Device metadata with category, bus and description inherited where unset.
    pub fn device_meta(&'static self) -> Option<DeviceMeta> {
        let TypeKind::Device(mut meta) = self.kind else {
            return None;
        };
        for t in self.lineage().rev().skip(1) {
            if let TypeKind::Device(p) = t.kind {
                meta.category = meta.category.or(p.category);
                meta.bus = meta.bus.or(p.bus);
            }
        }
        Some(meta)
    }

    /// The description, inherited from the nearest ancestor that has one.
    pub fn effective_description(&'static self) -> Option<&'static str> {
        self.lineage().rev().find_map(|t| t.description)
    }

    /// Whether `-object` may create it.
    pub const fn is_user_creatable_object(&self) -> bool {
        matches!(
            self.kind,
            TypeKind::Object {
                user_creatable: true
            }
        )
    }
}

impl std::fmt::Debug for TypeInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypeInfo")
            .field("name", &self.name)
            .field("parent", &self.parent.map(|p| p.name))
            .field("abstract", &self.abstract_)
            .finish_non_exhaustive()
    }
}
