//! Inputs at the edges of what the derive accepts: raw identifiers, paths
//! through `Self`, user items named like the generated code's locals. Each
//! case once failed to compile or misbehaved. The types live in this test
//! binary only, so the registry-wide snapshots do not see them.

use qomgen::{Device, DeviceImpl, Input, ObjectTree};
use serde_json::json;

/// A field whose name is a keyword, written as a raw identifier.
#[derive(Device, Debug, Default)]
#[device(name = "edge-raw", category = Misc)]
struct Raw {
    #[prop(default = 3)]
    r#loop: u32,
    #[prop]
    r#move_to: bool,
}
impl DeviceImpl for Raw {}

#[test]
fn a_raw_field_name_is_the_property_name_without_r_hash() {
    let names: Vec<_> = qomgen::introspect::qom_list_properties("edge-raw")
        .unwrap()
        .iter()
        .map(|p| p.name.clone())
        .collect();
    assert_eq!(
        names,
        [
            "type",
            "realized",
            "hotpluggable",
            "hotplugged",
            "parent_bus",
            "loop",
            "move-to"
        ]
    );
    let tree = ObjectTree::new();
    let mut inst = tree.instantiate("edge-raw").unwrap();
    assert_eq!(ObjectTree::get(inst.object(), "loop").unwrap(), json!(3));
    tree.set(&mut inst, "loop", Input::Str("9")).unwrap();
    tree.set(&mut inst, "move-to", Input::Str("on")).unwrap();
    assert_eq!(ObjectTree::get(inst.object(), "loop").unwrap(), json!(9));
    assert_eq!(
        ObjectTree::get(inst.object(), "move-to").unwrap(),
        json!(true)
    );
}
