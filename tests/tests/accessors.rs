//! The derive's shared accessors: one setter, getter, link reader and
//! default renderer per type, dispatching on the property's index. Checks
//! that every index reaches its own field, that defaults rendered as
//! constants and defaults rendered on demand agree with the kinds, and that
//! types whose properties are all read-only or all write-only work (their
//! setter or getter has no arm). The types live in this test binary only,
//! so the registry-wide snapshots do not see them.

use qomgen::{
    Device, DeviceImpl, Input, ObjectTree, ObjectType, OnOffAuto, PropertyDefault, PropertyKind,
    Result, Size, registry,
};
use serde_json::json;

/// Every shape of default the derive distinguishes.
#[derive(Device, Debug)]
#[device(name = "acc-defaults", category = Misc)]
struct Defaults {
    #[prop(default = true)]
    flag: bool,
    #[prop(default = 4)]
    queues: u16,
    #[prop(default = -1)]
    slot: i32,
    #[prop(default = u32::MAX)]
    romsize: u32,
    #[prop(default = 0x100)]
    offset: u64,
    #[prop(default = i64::MIN)]
    low: i64,
    #[prop(default = OnOffAuto::Auto)]
    mode: OnOffAuto,
    #[prop(default = Size(4096))]
    size: Size,
    #[prop(default = 2 + 3)]
    sum: u32,
    #[prop]
    name: Option<String>,
    #[prop(default = false)]
    last: bool,
}
impl DeviceImpl for Defaults {}

/// Only a read-only property: the setter has no arm.
#[derive(Device, Debug, Default)]
#[device(name = "acc-read-only", category = Misc)]
struct ReadOnly {
    #[prop(read_only, default = 7)]
    level: u8,
}
impl DeviceImpl for ReadOnly {}

/// Only a write-only property: the getter has no arm.
#[derive(Device, Debug, Default)]
#[device(name = "acc-write-only", category = Misc)]
struct WriteOnly {
    #[prop(write_only, setter = WriteOnly::set_secret)]
    secret: String,
}
impl DeviceImpl for WriteOnly {}

impl WriteOnly {
    fn set_secret(&mut self, v: &str) -> Result<()> {
        self.secret = v.to_uppercase();
        Ok(())
    }
}

/// The indices of a table are its positions, each once (a flattened
/// group's members, placed among the type's own properties, are numbered
/// after them: tests/flatten.rs).
#[test]
fn indices_number_the_own_table() {
    for ty in registry().types() {
        let mut indices: Vec<_> = ty.own_properties.iter().map(|p| p.index).collect();
        indices.sort_unstable();
        let positions: Vec<_> = (0..ty.own_properties.len()).collect();
        assert_eq!(indices, positions, "{}", ty.name);
    }
}

#[test]
fn defaults_agree_with_the_kinds_and_the_constructor() {
    let ty = Defaults::TYPE_INFO;
    let d = Defaults::with_defaults();
    let expected = [
        ("flag", d.flag.default_value()),
        ("queues", d.queues.default_value()),
        ("slot", d.slot.default_value()),
        ("romsize", d.romsize.default_value()),
        ("offset", d.offset.default_value()),
        ("low", d.low.default_value()),
        ("mode", d.mode.default_value()),
        ("size", d.size.default_value()),
        ("sum", d.sum.default_value()),
        ("last", d.last.default_value()),
    ];
    for (name, value) in expected {
        let p = ty.own_properties.iter().find(|p| p.name == name).unwrap();
        assert_eq!(p.default_value(), Some(value), "{name}");
    }
    assert_eq!(
        (d.flag, d.queues, d.slot, d.romsize, d.offset, d.low, d.sum),
        (true, 4, -1, u32::MAX, 0x100, i64::MIN, 5)
    );
    assert_eq!(
        (d.mode, d.size, d.last),
        (OnOffAuto::Auto, Size(4096), false)
    );
    let name = ty.own_properties.iter().find(|p| p.name == "name").unwrap();
    assert!(matches!(name.default, PropertyDefault::None));
    assert_eq!(name.default_value(), None);

    // Constants where the macro can render them, the renderer otherwise.
    let computed: Vec<_> = ty
        .own_properties
        .iter()
        .filter(|p| matches!(p.default, PropertyDefault::Computed))
        .map(|p| p.name)
        .collect();
    assert_eq!(computed, ["mode", "size", "sum"]);
}

#[test]
fn each_index_sets_and_reads_its_own_field() {
    let tree = ObjectTree::new();
    let mut inst = tree.instantiate("acc-defaults").unwrap();
    let values = [
        ("flag", "off", json!(false)),
        ("queues", "9", json!(9)),
        ("slot", "3", json!(3)),
        ("romsize", "8192", json!(8192)),
        ("offset", "17", json!(17)),
        ("low", "-5", json!(-5)),
        ("mode", "on", json!("on")),
        ("size", "1M", json!(1_048_576)),
        ("sum", "11", json!(11)),
        ("name", "gpu", json!("gpu")),
        ("last", "on", json!(true)),
    ];
    for (i, (name, value, _)) in values.iter().enumerate() {
        let before: Vec<_> = values
            .iter()
            .map(|(n, ..)| ObjectTree::get(inst.object(), n).unwrap())
            .collect();
        tree.set(&mut inst, name, Input::Str(value)).unwrap();
        for (j, (other, _, json)) in values.iter().enumerate() {
            let now = ObjectTree::get(inst.object(), other).unwrap();
            if j == i {
                assert_eq!(&now, json, "{name}");
            } else {
                assert_eq!(now, before[j], "setting {name} changed {other}");
            }
        }
    }
    // A failed conversion leaves the field as it was.
    let err = tree
        .set(&mut inst, "queues", Input::Str("many"))
        .unwrap_err();
    assert_eq!(err.to_string(), "Parameter 'queues' expects integer");
    assert_eq!(ObjectTree::get(inst.object(), "queues").unwrap(), 9);
}

#[test]
fn all_read_only_and_all_write_only_types() {
    let tree = ObjectTree::new();
    let mut ro = tree.instantiate("acc-read-only").unwrap();
    assert_eq!(ObjectTree::get(ro.object(), "level").unwrap(), 7);
    let err = tree.set(&mut ro, "level", Input::Str("1")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Property 'acc-read-only.level' is not writable"
    );

    let mut wo = tree.instantiate("acc-write-only").unwrap();
    tree.set(&mut wo, "secret", Input::Str("abc")).unwrap();
    assert_eq!(
        wo.object().downcast_ref::<WriteOnly>().unwrap().secret,
        "ABC"
    );
    let err = ObjectTree::get(wo.object(), "secret").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Property 'acc-write-only.secret' is not readable"
    );
}
