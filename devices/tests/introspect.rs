//! Introspection of every device type: help and QMP JSON as reviewed
//! snapshots (a property change shows up as a diff), the JSON agreeing
//! with QEMU's names, types and defaults, and QEMU's device-introspect
//! invariants.

use qomgen::introspect::{self, HelpStyle};
use qomgen::{ObjectTree, registry};
use serde_json::json;

fn types() -> Vec<&'static str> {
    qomgen_devices::models::register().collect()
}

#[test]
fn help_and_json_snapshots_of_every_device_type() {
    for name in types() {
        let ty = registry().get(name).unwrap().info;
        let help = if ty.is_device() {
            introspect::device_help(name, &HelpStyle::QEMU)
        } else {
            introspect::object_help(name, &HelpStyle::QEMU)
        };
        let help = help.unwrap_or_else(|e| format!("error: {e}\n"));
        insta::assert_snapshot!(format!("help-{name}"), help);
        let props = introspect::qom_list_properties(name).unwrap();
        insta::assert_json_snapshot!(format!("qom-list-properties-{name}"), props);
    }
}

#[test]
fn device_list_properties_has_qemus_names_types_and_defaults() {
    let _ = types();
    let props = introspect::device_list_properties("vfio-pci").unwrap();
    let get = |n: &str| {
        serde_json::to_value(props.iter().find(|p| p.name == n).unwrap().to_qmp()).unwrap()
    };
    assert_eq!(
        get("x-vga"),
        json!({"name": "x-vga", "type": "bool", "description": "Expose VGA address spaces for device", "default-value": false})
    );
    assert_eq!(get("x-msix-relocation")["default-value"], "off");
    assert_eq!(get("x-msix-relocation")["type"], "OffAutoPCIBAR");
    assert_eq!(
        get("iommufd"),
        json!({"name": "iommufd", "type": "link<iommufd>", "description": "Set host IOMMUFD backend device"})
    );
    assert_eq!(get("fd"), json!({"name": "fd", "type": "string"}));
    assert_eq!(get("addr")["default-value"], -1);
    assert_eq!(
        get("x-migration-max-queued-buffers-size")["default-value"],
        json!(u64::MAX)
    );
    // QEMU hides these from device-list-properties.
    for hidden in [
        "type",
        "realized",
        "hotpluggable",
        "hotplugged",
        "parent_bus",
    ] {
        assert!(props.iter().all(|p| p.name != hidden), "{hidden}");
    }
    let iommufd = introspect::qom_list_properties("iommufd").unwrap();
    let names: Vec<_> = iommufd
        .iter()
        .map(|p| (p.name.as_str(), p.type_.as_str()))
        .collect();
    assert_eq!(names, [("type", "string"), ("fd", "string")]);
}

#[test]
fn introspection_never_creates_objects_or_panics() {
    let mut tree = ObjectTree::new();
    tree.device_add("vfio-pci,id=x").unwrap_err();
    let before = tree.len();
    let abstract_types: Vec<_> = registry()
        .types()
        .iter()
        .filter(|t| t.abstract_)
        .map(|t| t.name)
        .collect();
    for name in types()
        .into_iter()
        .chain(["nonexistent", "device", "object"])
        .chain(abstract_types.iter().copied())
    {
        let _ = introspect::device_help(name, &HelpStyle::QEMU);
        let _ = introspect::object_help(name, &HelpStyle::EXTRA);
        let _ = introspect::device_list_properties(name);
        let _ = introspect::qom_list_properties(name);
    }
    assert_eq!(tree.len(), before);
    for t in introspect::qom_list_types(None, true) {
        let info = registry().get(&t.name).unwrap().info;
        assert_eq!(t.abstract_, info.abstract_, "{}", t.name);
    }
}
