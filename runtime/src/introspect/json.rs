//! QMP-shaped introspection: `device-list-properties`, Documented in [the module](super).

use serde::{Deserialize, Serialize};

use super::{device_properties, lookup_class, lookup_device, qom_properties};
use crate::error::Result;
use crate::property::Property;
use crate::registry::registry;
use crate::types::TypeInfo;

fn is_false(b: &bool) -> bool {
    !*b
}

/// One property as QMP's `ObjectPropertyInfo`, plus qomgen's `x-qomgen-`
/// fields (see the [module docs](crate::introspect)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectPropertyInfo {
    /// Property name.
    pub name: String,
    /// QOM type string (`bool`, `str`, `link<iommufd>`, ...).
    #[serde(rename = "type")]
    pub type_: String,
    /// Description, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Default value as JSON (`false`, `-1`, `"auto"`), if any.
    #[serde(
        rename = "default-value",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub default_value: Option<serde_json::Value>,
    /// QEMU version that introduced the property.
    #[serde(
        rename = "x-qomgen-since",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub since: Option<String>,
    /// The name has the `x-` prefix.
    #[serde(
        rename = "x-qomgen-unstable",
        default,
        skip_serializing_if = "is_false"
    )]
    pub unstable: bool,
    /// The property has no setter.
    #[serde(
        rename = "x-qomgen-read-only",
        default,
        skip_serializing_if = "is_false"
    )]
    pub read_only: bool,
    /// The property has no getter.
    #[serde(
        rename = "x-qomgen-write-only",
        default,
        skip_serializing_if = "is_false"
    )]
    pub write_only: bool,
    /// The property may be set on a realized device.
    #[serde(
        rename = "x-qomgen-set-after-realize",
        default,
        skip_serializing_if = "is_false"
    )]
    pub set_after_realize: bool,
    /// Target type of a link property.
    #[serde(
        rename = "x-qomgen-link-type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub link_type: Option<String>,
}

impl ObjectPropertyInfo {
    /// The description of a table entry.
    pub fn from_property(p: &Property) -> Self {
        ObjectPropertyInfo {
            name: p.name.to_owned(),
            type_: p.type_name.to_owned(),
            description: p.description.map(str::to_owned),
            default_value: p.default_value().map(|d| d.to_json()),
            since: p.since.map(str::to_owned),
            unstable: p.is_unstable(),
            read_only: p.is_read_only(),
            write_only: p.is_write_only(),
            set_after_realize: p.set_after_realize,
            link_type: p.link_type.map(str::to_owned),
        }
    }

    /// The same without the `x-qomgen-` fields: exactly QMP's object.
    #[must_use]
    pub fn to_qmp(&self) -> Self {
        ObjectPropertyInfo {
            name: self.name.clone(),
            type_: self.type_.clone(),
            description: self.description.clone(),
            default_value: self.default_value.clone(),
            since: None,
            unstable: false,
            read_only: false,
            write_only: false,
            set_after_realize: false,
            link_type: None,
        }
    }
}

/// One type as QMP's `ObjectTypeInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectTypeInfo {
    /// Type name.
    pub name: String,
    /// Whether the type is abstract; omitted when `false`, as QEMU does.
    #[serde(rename = "abstract", default, skip_serializing_if = "is_false")]
    pub abstract_: bool,
    /// Parent type name; omitted for a root type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

impl ObjectTypeInfo {
    /// The description of `ty`.
    pub fn from_type(ty: &TypeInfo) -> Self {
        ObjectTypeInfo {
            name: ty.name.to_owned(),
            abstract_: ty.abstract_,
            parent: ty.parent.map(|p| p.name.to_owned()),
        }
    }
}

/// QMP `device-list-properties`: every property of a concrete device type,
/// without the five implicit ones (`type`, `realized`, `hotpluggable`,
/// `hotplugged`, `parent_bus`) and `legacy-*`. Read-only and write-only
/// properties are included.
///
/// # Errors
/// `Device '%s' not found`; `Parameter 'typename' expects a non-abstract
/// device type` for an abstract type or one that is not a device.
pub fn device_list_properties(typename: &str) -> Result<Vec<ObjectPropertyInfo>> {
    let ty = lookup_device(typename)?;
    Ok(device_properties(ty)
        .map(ObjectPropertyInfo::from_property)
        .collect())
}

/// QMP `qom-list-properties`: every property of any type, abstract or not,
/// including the implicit `type` (`string`) and, for devices, `realized`,
/// `hotpluggable`, `hotplugged` (`bool`) and `parent_bus` (`link<bus>`).
///
/// # Errors
/// `Class '%s' not found`.
pub fn qom_list_properties(typename: &str) -> Result<Vec<ObjectPropertyInfo>> {
    let ty = lookup_class(typename)?;
    Ok(qom_properties(ty)
        .map(ObjectPropertyInfo::from_property)
        .collect())
}

/// QMP `qom-list-types`: the types that are `implements` or derive from it
/// (all types if `None`; none if `implements` is unknown, as in QEMU),
/// abstract ones only if `include_abstract`. Sorted by name.
pub fn qom_list_types(implements: Option<&str>, include_abstract: bool) -> Vec<ObjectTypeInfo> {
    registry()
        .types()
        .iter()
        .filter(|t| include_abstract || !t.abstract_)
        .filter(|t| implements.is_none_or(|i| t.is_a(i)))
        .map(|t| ObjectTypeInfo::from_type(t))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roots_are_listed_with_qemus_shape() {
        let all = qom_list_types(None, true);
        let object = all.iter().find(|t| t.name == "object").unwrap();
        assert_eq!(
            serde_json::to_value(object).unwrap(),
            json!({"name": "object", "abstract": true})
        );
        let device = all.iter().find(|t| t.name == "device").unwrap();
        assert_eq!(
            serde_json::to_value(device).unwrap(),
            json!({"name": "device", "abstract": true, "parent": "object"})
        );
        assert!(
            !qom_list_types(Some("device"), false)
                .iter()
                .any(|t| t.name == "device")
        );
        assert!(qom_list_types(Some("no-such-type"), true).is_empty());
    }

    #[test]
    fn implicit_properties_of_roots() {
        let props = qom_list_properties("object").unwrap();
        assert_eq!(
            serde_json::to_value(&props).unwrap(),
            json!([{"name": "type", "type": "string", "x-qomgen-read-only": true}])
        );
        let qmp: Vec<_> = qom_list_properties("device")
            .unwrap()
            .iter()
            .map(ObjectPropertyInfo::to_qmp)
            .collect();
        assert_eq!(
            serde_json::to_value(&qmp).unwrap(),
            json!([
                {"name": "type", "type": "string"},
                {"name": "realized", "type": "bool"},
                {"name": "hotpluggable", "type": "bool"},
                {"name": "hotplugged", "type": "bool"},
                {"name": "parent_bus", "type": "link<bus>"},
            ])
        );
        assert_eq!(
            qom_list_properties("nope").unwrap_err().to_string(),
            "Class 'nope' not found"
        );
        assert_eq!(
            device_list_properties("nope").unwrap_err().to_string(),
            "Device 'nope' not found"
        );
        assert_eq!(
            device_list_properties("device").unwrap_err().to_string(),
            "Parameter 'typename' expects a non-abstract device type"
        );
    }

    #[test]
    fn property_info_round_trips() {
        let info = ObjectPropertyInfo {
            name: "x-vga".into(),
            type_: "bool".into(),
            description: Some("Expose VGA address spaces for device".into()),
            default_value: Some(json!(false)),
            since: Some("1.5".into()),
            unstable: true,
            read_only: false,
            write_only: false,
            set_after_realize: false,
            link_type: None,
        };
        let v = serde_json::to_value(&info).unwrap();
        assert_eq!(
            v,
            json!({"name": "x-vga", "type": "bool", "description": "Expose VGA address spaces for device",
                   "default-value": false, "x-qomgen-since": "1.5", "x-qomgen-unstable": true})
        );
        assert_eq!(
            serde_json::from_value::<ObjectPropertyInfo>(v).unwrap(),
            info
        );
        assert_eq!(
            serde_json::to_value(info.to_qmp()).unwrap(),
            json!({"name": "x-vga", "type": "bool", "description": "Expose VGA address spaces for device", "default-value": false})
        );
    }
}
