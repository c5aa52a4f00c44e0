//! One document describing every registered type, to keep in a repository Documented in [the module](super).

use serde::{Deserialize, Serialize};

use super::json::ObjectPropertyInfo;
use crate::error::{Error, Result};
use crate::registry::registry;
use crate::types::{Category, TypeInfo, TypeKind};

/// Version of the dump format written by [`dump`].
pub const DUMP_FORMAT_VERSION: u32 = 1;

/// Every registered type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dump {
    /// [`DUMP_FORMAT_VERSION`] of the writer.
    #[serde(rename = "format-version")]
    pub format_version: u32,
    /// The types, sorted by name.
    pub types: Vec<TypeDump>,
}

/// Object or device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TypeKindName {
    /// A plain object (`-object`).
    Object,
    /// A device (`-device`).
    Device,
}

/// What a device type adds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceDump {
    /// Category (lowercase: `bridge`, `usb`, `storage`, `network`, `input`,
    /// `display`, `sound`, `misc`, `cpu`, `watchdog`, `uncategorized`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Bus kind (`PCI`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus: Option<String>,
    /// Whether the device can be hot-plugged.
    pub hotpluggable: bool,
}

/// One type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeDump {
    /// Type name.
    pub name: String,
    /// Parent type name; omitted for a root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Whether the type is abstract.
    #[serde(rename = "abstract")]
    pub abstract_: bool,
    /// Object or device.
    pub kind: TypeKindName,
    /// `-device` (devices) or `-object` (objects) may create it.
    #[serde(rename = "user-creatable")]
    pub user_creatable: bool,
    /// Device metadata; present exactly for devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceDump>,
    /// Effective description, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Every property, ancestors' first.
    pub properties: Vec<ObjectPropertyInfo>,
}

/// The lowercase name of a category in a dump.
pub(crate) fn category_name(c: Category) -> &'static str {
    match c {
        Category::Bridge => "bridge",
        Category::Usb => "usb",
        Category::Storage => "storage",
        Category::Network => "network",
        Category::Input => "input",
        Category::Display => "display",
        Category::Sound => "sound",
        Category::Misc => "misc",
        Category::Cpu => "cpu",
        Category::Watchdog => "watchdog",
        Category::Uncategorized => "uncategorized",
    }
}

impl TypeDump {
    /// The description of one type.
    pub fn from_type(ty: &'static TypeInfo) -> Self {
        let (kind, user_creatable, device) = match ty.kind {
            TypeKind::Object { user_creatable } => (TypeKindName::Object, user_creatable, None),
            TypeKind::Device(own) => {
                // device_meta() is Some for devices; it adds what is inherited.
                let meta = ty.device_meta().unwrap_or(own);
                let dev = DeviceDump {
                    category: meta.category.map(|c| category_name(c).to_owned()),
                    bus: meta.bus.map(str::to_owned),
                    hotpluggable: meta.hotpluggable,
                };
                (TypeKindName::Device, meta.user_creatable, Some(dev))
            }
        };
        TypeDump {
            name: ty.name.to_owned(),
            parent: ty.parent.map(|p| p.name.to_owned()),
            abstract_: ty.abstract_,
            kind,
            user_creatable,
            device,
            description: ty.effective_description().map(str::to_owned),
            properties: ty
                .properties()
                .map(ObjectPropertyInfo::from_property)
                .collect(),
        }
    }

    /// A property by name.
    pub fn property(&self, name: &str) -> Option<&ObjectPropertyInfo> {
        self.properties.iter().find(|p| p.name == name)
    }

    /// Mutable access to a property by name (to edit a dump, e.g. in tests).
    pub fn property_mut(&mut self, name: &str) -> Option<&mut ObjectPropertyInfo> {
        self.properties.iter_mut().find(|p| p.name == name)
    }
}

impl Dump {
    /// A type by name.
    pub fn get(&self, name: &str) -> Option<&TypeDump> {
        self.types.iter().find(|t| t.name == name)
    }

    /// Mutable access to a type by name (to edit a dump, e.g. in tests).
    pub fn get_mut(&mut self, name: &str) -> Option<&mut TypeDump> {
        self.types.iter_mut().find(|t| t.name == name)
    }

    /// Pretty JSON, with a final newline (for files under version control).
    pub fn to_json_pretty(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Reads a dump written by [`Dump::to_json_pretty`] (or any JSON of
    /// the same shape).
    ///
    /// # Errors
    /// Malformed JSON or a different [`DUMP_FORMAT_VERSION`].
    pub fn from_json(s: &str) -> Result<Dump> {
        let d: Dump =
            serde_json::from_str(s).map_err(|e| Error::new(format!("invalid type dump: {e}")))?;
        if d.format_version != DUMP_FORMAT_VERSION {
            return Err(Error::new(format!(
                "type dump has format version {}, expected {DUMP_FORMAT_VERSION}",
                d.format_version
            )));
        }
        Ok(d)
    }
}

/// Describes every registered type.
pub fn dump() -> Dump {
    Dump {
        format_version: DUMP_FORMAT_VERSION,
        types: registry()
            .types()
            .iter()
            .map(|t| TypeDump::from_type(t))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_round_trips_and_checks_version() {
        let d = dump();
        assert_eq!(d.format_version, DUMP_FORMAT_VERSION);
        let text = d.to_json_pretty();
        assert_eq!(Dump::from_json(&text).unwrap(), d);
        let old = text.replacen("\"format-version\": 1", "\"format-version\": 0", 1);
        assert_eq!(
            Dump::from_json(&old).unwrap_err().to_string(),
            "type dump has format version 0, expected 1"
        );
        assert!(Dump::from_json("{").is_err());
    }

    #[test]
    fn roots_are_described() {
        let d = dump();
        let dev = d.get("device").unwrap();
        assert_eq!(dev.kind, TypeKindName::Device);
        assert!(dev.abstract_ && dev.user_creatable);
        assert_eq!(dev.parent.as_deref(), Some("object"));
        assert_eq!(
            dev.device,
            Some(DeviceDump {
                category: None,
                bus: None,
                hotpluggable: true
            })
        );
        let obj = d.get("object").unwrap();
        assert_eq!(
            (obj.kind, obj.parent.as_deref(), obj.device.as_ref()),
            (TypeKindName::Object, None, None)
        );
        let names: Vec<_> = d.types.iter().map(|t| t.name.as_str()).collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]));
    }
}
