//! The object model end to end on the fixture types: tables, defaults,
//! inheritance, setters, links, lifecycle rules and error texts.

use qomgen::{
    DefaultValue, Device, DeviceImpl, Error, Input, LifecycleCx, ObjectTree, OnOffAuto, Size,
    registry,
};
use qomgen_tests::{Backend, Clique, LIVE_BACKENDS, Leaf, LeafNoHotplug, take_events};
use serde_json::json;

/// A leaf whose own realize fails after its parents' succeeded. It lives
/// in this test binary only, so the registry-wide snapshots do not see it.
#[derive(Device, Debug)]
#[device(name = "test-leaf-failing", no_desc)]
struct FailingLeaf {
    #[parent]
    leaf: Leaf,
}

impl DeviceImpl for FailingLeaf {
    fn realize(&mut self, _cx: &LifecycleCx<'_>) -> qomgen::Result<()> {
        Err(Error::new("child realize refused"))
    }
}

fn record(s: impl Into<String>) {
    qomgen_tests::EVENTS.with(|e| e.borrow_mut().push(s.into()));
}

/// The root of a three-level family (in this binary only, as
/// `FailingLeaf`) whose every level records its hooks; `x-fail` names the
/// step that fails (`root pre_realize`, `mid realize`, ...).
#[derive(Device, Debug)]
#[device(name = "test-pre-root", no_desc)]
struct PreRoot {
    #[prop(name = "x-fail")]
    fail: Option<String>,
    /// Not a property: handed down by `test-pre-child`'s `pre_realize`.
    label: Option<String>,
}

impl PreRoot {
    fn step(&self, step: &str) -> qomgen::Result<()> {
        record(step);
        match &self.fail {
            Some(f) if f == step => Err(Error::new(format!("{step} refused"))),
            _ => Ok(()),
        }
    }
}

impl DeviceImpl for PreRoot {
    fn pre_realize(&mut self, _cx: &LifecycleCx<'_>) -> qomgen::Result<()> {
        self.step("root pre_realize")
    }

    fn realize(&mut self, _cx: &LifecycleCx<'_>) -> qomgen::Result<()> {
        self.step("root realize")?;
        // What a parent's realize sees of a subtype's setting.
        record(format!("root label {:?}", self.label));
        Ok(())
    }

    fn unrealize(&mut self, _cx: &LifecycleCx<'_>) {
        record("root unrealize");
    }
}

#[derive(Device, Debug)]
#[device(name = "test-pre-mid", no_desc)]
struct PreMid {
    #[parent]
    root: PreRoot,
}

impl DeviceImpl for PreMid {
    fn pre_realize(&mut self, _cx: &LifecycleCx<'_>) -> qomgen::Result<()> {
        self.root.step("mid pre_realize")
    }

    fn realize(&mut self, _cx: &LifecycleCx<'_>) -> qomgen::Result<()> {
        self.root.step("mid realize")
    }

    fn unrealize(&mut self, _cx: &LifecycleCx<'_>) {
        record("mid unrealize");
    }
}

#[derive(Device, Debug)]
#[device(name = "test-pre-child", no_desc)]
struct PreChild {
    #[parent]
    mid: PreMid,
    /// A setting of this type that the root's realize reads.
    #[prop]
    label: Option<String>,
}

impl DeviceImpl for PreChild {
    fn pre_realize(&mut self, _cx: &LifecycleCx<'_>) -> qomgen::Result<()> {
        self.mid.root.step("child pre_realize")?;
        self.mid.root.label = self.label.clone();
        Ok(())
    }

    fn realize(&mut self, _cx: &LifecycleCx<'_>) -> qomgen::Result<()> {
        self.mid.root.step("child realize")
    }

    fn unrealize(&mut self, _cx: &LifecycleCx<'_>) {
        record("child unrealize");
    }
}

fn err(r: qomgen::Result<impl Sized>) -> (String, Option<String>) {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => (e.message().to_owned(), e.hint().map(str::to_owned)),
    }
}

fn msg(r: qomgen::Result<impl Sized>) -> String {
    err(r).0
}

#[test]
fn registry_is_consistent_and_complete() {
    let reg = registry();
    assert!(reg.problems().is_empty(), "{:?}", reg.problems());
    for name in [
        "object",
        "device",
        "test-backend",
        "test-internal-object",
        "test-bus-device",
        "test-leaf",
        "test-leaf-nohotplug",
        "test-builtin",
    ] {
        assert!(reg.get(name).is_some(), "{name} not registered");
    }
}

#[test]
fn table_lists_parent_properties_first_in_declaration_order() {
    let leaf = registry().get("test-leaf").unwrap().info;
    let names: Vec<_> = leaf.properties().map(|p| p.name).collect();
    assert_eq!(
        names,
        [
            "slot",
            "romsize",
            "x-bus-quirk",
            "busnr",
            "host",
            "backend",
            "x-offset",
            "display",
            "buffer-size",
            "x-clique",
            "weight",
            "x-fail-realize",
            "token",
        ]
    );
    let nohp = registry().get("test-leaf-nohotplug").unwrap().info;
    assert_eq!(nohp.properties().count(), names.len() + 1);
    assert_eq!(nohp.properties().last().unwrap().name, "ramfb");
    assert_eq!(nohp.parent.unwrap().name, "test-leaf");
    assert!(nohp.is_a("test-bus-device") && nohp.is_a("device") && !nohp.is_a("test-backend"));
}

#[test]
fn table_entries_carry_types_descriptions_defaults_and_flags() {
    let entry = registry().get("test-leaf").unwrap();
    let p = |n| entry.property(n).unwrap();

    assert_eq!(p("host").type_name, "str");
    assert_eq!(
        p("host").description,
        Some("Host path of the assigned thing")
    );
    assert_eq!(p("host").default_value(), None);
    assert_eq!(p("host").since, Some("1.3"));

    assert_eq!(p("backend").type_name, "link<test-backend>");
    assert_eq!(p("backend").link_type, Some("test-backend"));
    assert_eq!(p("backend").description, Some("Backend to use"));

    assert_eq!(p("x-offset").type_name, "uint16");
    assert_eq!(p("x-offset").description, None);
    assert_eq!(p("x-offset").default_value(), Some(DefaultValue::UInt(0)));
    assert!(p("x-offset").is_unstable() && !p("host").is_unstable());

    assert_eq!(p("display").type_name, "OnOffAuto");
    assert_eq!(p("display").default_value(), Some(DefaultValue::Str("off")));

    assert_eq!(p("buffer-size").type_name, "size");
    assert_eq!(
        p("buffer-size").default_value(),
        Some(DefaultValue::UInt(u64::MAX))
    );

    // A custom kind brings its own type string and built-in description.
    assert_eq!(p("x-clique").type_name, "uint8");
    assert_eq!(
        p("x-clique").description,
        Some("NVIDIA GPUDirect Clique ID (0 - 15)")
    );

    // Inherited entries: bool without description gets the kind's `on/off`.
    assert_eq!(p("x-bus-quirk").description, Some("on/off"));
    assert_eq!(
        p("x-bus-quirk").default_value(),
        Some(DefaultValue::Bool(true))
    );
    assert_eq!(p("slot").default_value(), Some(DefaultValue::Int(-1)));
    assert_eq!(
        p("romsize").default_value().unwrap().to_string(),
        "4294967295"
    );

    assert!(p("busnr").is_read_only() && !p("busnr").is_write_only());
    assert_eq!(p("token").type_name, "string");
    assert!(p("token").is_write_only() && !p("token").is_read_only());
    assert!(p("weight").set_after_realize && !p("host").set_after_realize);
}

#[test]
fn type_metadata_is_inherited_where_unset() {
    let meta = |n| registry().get(n).unwrap().info.device_meta().unwrap();
    let leaf = meta("test-leaf");
    assert_eq!(leaf.bus, Some("TEST"));
    assert_eq!(leaf.category, Some(qomgen::Category::Misc));
    assert!(leaf.user_creatable && leaf.hotpluggable);
    let nohp = meta("test-leaf-nohotplug");
    assert_eq!(nohp.category, Some(qomgen::Category::Misc));
    assert!(!nohp.hotpluggable && nohp.user_creatable);
    assert!(!meta("test-builtin").user_creatable);
    let info = |n| registry().get(n).unwrap().info;
    assert_eq!(
        info("test-leaf").effective_description(),
        Some("Test device with every kind of property")
    );
    assert_eq!(
        info("test-leaf-nohotplug").effective_description(),
        info("test-leaf").effective_description()
    );
    assert!(info("test-bus-device").abstract_ && info("test-bus-device").instantiate.is_none());
    assert!(info("test-backend").is_user_creatable_object());
    assert!(!info("test-internal-object").is_user_creatable_object());
}

#[test]
fn constructor_applies_every_default_including_the_parents() {
    let tree = ObjectTree::new();
    let inst = tree.instantiate("test-leaf-nohotplug").unwrap();
    let d = inst.object().downcast_ref::<LeafNoHotplug>().unwrap();
    assert_eq!(d.leaf.bus.slot, -1);
    assert_eq!(d.leaf.bus.romsize, u32::MAX);
    assert!(d.leaf.bus.quirk);
    assert_eq!(d.leaf.display, OnOffAuto::Off);
    assert_eq!(d.leaf.buffer_size, Size(u64::MAX));
    assert_eq!(d.leaf.host, None);
    assert!(!d.ramfb);
    // Upcasting reaches the embedded parents.
    assert_eq!(inst.object().downcast_ref::<Leaf>().unwrap().offset, 0);
    assert!(inst.object().downcast_ref::<Backend>().is_none());
}

#[test]
fn typed_setters_convert_strings_and_json() {
    let tree = ObjectTree::new();
    let mut inst = tree.instantiate("test-leaf").unwrap();
    tree.set(&mut inst, "x-offset", Input::Str("0x10")).unwrap();
    tree.set(&mut inst, "display", Input::Str("auto")).unwrap();
    tree.set(&mut inst, "buffer-size", Input::Str("1.5k"))
        .unwrap();
    tree.set(&mut inst, "slot", Input::Json(&json!(-1)))
        .unwrap();
    tree.set(&mut inst, "x-bus-quirk", Input::Str("no"))
        .unwrap();
    tree.set(&mut inst, "x-clique", Input::Json(&json!(15)))
        .unwrap();
    tree.set(&mut inst, "host", Input::Json(&json!("/sys/x")))
        .unwrap();
    tree.set(&mut inst, "token", Input::Str("secret")).unwrap();
    let d = inst.object().downcast_ref::<Leaf>().unwrap();
    assert_eq!(d.offset, 16);
    assert_eq!(d.display, OnOffAuto::Auto);
    assert_eq!(d.buffer_size, Size(1536));
    assert!(!d.bus.quirk);
    assert_eq!(d.clique, Some(Clique(15)));
    assert_eq!(d.host.as_deref(), Some("/sys/x"));
    assert_eq!(d.token.as_deref(), Some("secret"));
    assert_eq!(
        ObjectTree::get(inst.object(), "x-offset").unwrap(),
        json!(16)
    );
    assert_eq!(
        ObjectTree::get(inst.object(), "display").unwrap(),
        json!("auto")
    );
}

#[test]
fn setter_errors_use_qemu_texts() {
    let tree = ObjectTree::new();
    let mut inst = tree.instantiate("test-leaf").unwrap();
    // Each setting is refused with its text.
    let mut refused = |k: &str, v: Input<'_>, text: &str| {
        assert_eq!(msg(tree.set(&mut inst, k, v)), text, "{k} = {v:?}");
    };
    refused(
        "x-offset",
        Input::Str("x"),
        "Parameter 'x-offset' expects integer",
    );
    refused(
        "x-offset",
        Input::Str("65536"),
        "Parameter 'x-offset' expects uint16_t",
    );
    // QEMU's plain visitor: any non-integer is a bad uint64 value, not a
    // bad type; a negative integer wraps, then fails the range check.
    for v in [json!("1"), json!(true), json!(1.5), json!(null), json!([1])] {
        refused(
            "x-offset",
            Input::Json(&v),
            "Parameter 'x-offset' expects uint64",
        );
    }
    refused(
        "x-offset",
        Input::Json(&json!(-1)),
        "Parameter 'x-offset' expects uint16_t",
    );
    refused(
        "weight",
        Input::Json(&json!("5")),
        "Parameter 'weight' expects uint64",
    );
    // `size` falls back to uint64 in the plain visitor.
    for v in [json!("5"), json!(2.0), json!(false)] {
        refused(
            "buffer-size",
            Input::Json(&v),
            "Parameter 'buffer-size' expects uint64",
        );
    }
    // Signed kinds keep QEMU's type error.
    for v in [json!("1"), json!(1.5)] {
        refused(
            "slot",
            Input::Json(&v),
            "Invalid parameter type for 'slot', expected: integer",
        );
    }
    refused(
        "x-bus-quirk",
        Input::Str("offer"),
        "Parameter 'x-bus-quirk' expects 'on' or 'off'",
    );
    refused(
        "x-bus-quirk",
        Input::Json(&json!(1)),
        "Invalid parameter type for 'x-bus-quirk', expected: boolean",
    );
    refused(
        "display",
        Input::Str("maybe"),
        "Parameter 'display' does not accept value 'maybe'",
    );
    refused(
        "buffer-size",
        Input::Str("1Z"),
        "Parameter 'buffer-size' expects size",
    );
    refused(
        "x-clique",
        Input::Str("16"),
        "Property x-clique: valid range 0-15",
    );
    refused(
        "slot",
        Input::Str("2147483648"),
        "Parameter 'slot' expects int32_t",
    );
    refused(
        "host",
        Input::Json(&json!(1)),
        "Invalid parameter type for 'host', expected: string",
    );
    refused(
        "busnr",
        Input::Str("1"),
        "Property 'test-leaf.busnr' is not writable",
    );
    let (m, hint) = err(tree.set(&mut inst, "hots", Input::Str("x")));
    assert_eq!(m, "Property 'test-leaf.hots' not found");
    assert_eq!(hint.as_deref(), Some("Did you mean 'host'?"));
    assert_eq!(
        msg(ObjectTree::get(inst.object(), "token")),
        "Property 'test-leaf.token' is not readable"
    );
}

#[test]
fn device_add_creates_sets_realizes_parent_first() {
    take_events();
    let mut tree = ObjectTree::new();
    let dev = tree
        .device_add("test-leaf,host=/sys/x,id=d0,x-offset=7")
        .unwrap();
    assert_eq!(take_events(), ["bus-device realize", "leaf realize"]);
    assert_eq!(dev.borrow().downcast_ref::<Leaf>().unwrap().bus.busnr, 1);
    assert_eq!(ObjectTree::get(&**dev.borrow(), "busnr").unwrap(), json!(1));
    tree.del_device("d0").unwrap();
    assert_eq!(take_events(), ["leaf unrealize", "bus-device unrealize"]);
    assert!(tree.is_empty());
}

#[test]
fn device_add_errors() {
    let mut tree = ObjectTree::new();
    let (m, hint) = err(tree.device_add("test-lef"));
    assert_eq!(m, "'test-lef' is not a valid device model name");
    assert_eq!(hint.as_deref(), Some("Did you mean 'test-leaf'?"));
    for (spec, expected) in [
        (
            "test-bus-device",
            "Parameter 'driver' expects a non-abstract device type",
        ),
        (
            "test-builtin",
            "Parameter 'driver' expects a pluggable device type",
        ),
        (
            "test-backend,id=x",
            "'test-backend' is not a valid device model name",
        ),
        ("{\"host\": \"x\"}", "Parameter 'driver' is missing"),
    ] {
        assert_eq!(msg(tree.device_add(spec)), expected, "{spec}");
    }
    for driver in ["5", "true", "null", "{}"] {
        assert_eq!(
            msg(tree.device_add(&format!(r#"{{"driver": {driver}, "host": "x"}}"#))),
            "Parameter 'driver' is missing",
            "{driver}"
        );
    }
    // `-object` reads its type through QAPI, which wants a string.
    assert_eq!(
        msg(tree.object_add(r#"{"qom-type": 5, "id": "o"}"#)),
        "Invalid parameter type for 'qom-type', expected: string"
    );
    let (m, hint) = err(tree.device_add("test-leaf,id=1x,host=a"));
    assert_eq!(m, "Parameter 'id' expects an identifier");
    assert_eq!(
        hint.as_deref(),
        Some("Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.")
    );
    let (m, hint) = err(tree.device_add("test-leaf"));
    assert_eq!(m, "No provided host device");
    assert_eq!(
        hint.as_deref(),
        Some("Use -device test-leaf,host=PATH or -device test-leaf,backend=ID")
    );
    assert_eq!(
        msg(tree.device_add("test-leaf,host=a,romsize=3")),
        "ROM size 3 is not a power of two"
    );
    assert_eq!(
        msg(tree.device_add("test-leaf,host=a,bus=pci.0")),
        "Bus 'pci.0' not found"
    );
    tree.device_add("test-leaf,host=a,id=dup").unwrap();
    assert_eq!(
        msg(tree.device_add("test-leaf,host=b,id=dup")),
        "Duplicate ID 'dup' for device"
    );
    // JSON has no QemuOpts list: qdev_set_id's text.
    assert_eq!(
        msg(tree.device_add(r#"{"driver": "test-leaf", "host": "b", "id": "dup"}"#)),
        "Duplicate device ID 'dup'"
    );
    // Only the one good device is in the tree: failures registered nothing.
    assert_eq!(tree.len(), 1);
}

#[test]
fn json_device_spec_uses_strict_json_types() {
    let mut tree = ObjectTree::new();
    tree.device_add(
        r#"{"driver": "test-leaf", "id": "j", "host": "/x", "x-offset": 3, "x-bus-quirk": false}"#,
    )
    .unwrap();
    let d = tree.device("j").unwrap().borrow();
    let leaf = d.downcast_ref::<Leaf>().unwrap();
    assert_eq!(leaf.offset, 3);
    assert!(!leaf.bus.quirk);
    drop(d);
    assert_eq!(
        msg(tree.device_add(r#"{"driver": "test-leaf", "host": "/x", "x-offset": "3"}"#)),
        "Parameter 'x-offset' expects uint64"
    );
    // A negative integer wraps, as in QEMU.
    tree.device_add(r#"{"driver": "test-leaf", "id": "w", "host": "/x", "weight": -1}"#)
        .unwrap();
    let d = tree.device("w").unwrap().borrow();
    assert_eq!(d.downcast_ref::<Leaf>().unwrap().weight, u64::MAX);
}

#[test]
fn json_specs_refuse_duplicate_keys_at_any_depth() {
    let mut tree = ObjectTree::new();
    for spec in [
        r#"{"driver":"test-leaf","x-offset":"bad","x-offset":3,"host":"a","id":"d1"}"#,
        r#"{"driver":"nope","driver":"test-leaf","host":"a"}"#,
        r#"{"driver":"test-leaf","host":"a","x":{"k":1,"k":1}}"#,
    ] {
        assert_eq!(
            msg(tree.device_add(spec)),
            "JSON parse error, duplicate key",
            "{spec}"
        );
    }
    assert_eq!(
        msg(tree.object_add(r#"{"qom-type":"test-backend","id":"x","id":"b2"}"#)),
        "JSON parse error, duplicate key"
    );
    assert_eq!(
        msg(qomgen::Spec::parse(
            qomgen::SpecKind::Device,
            r#"{"driver":"test-leaf","a":[{"b":1,"b":2}]}"#
        )),
        "JSON parse error, duplicate key"
    );
    assert!(tree.is_empty());
}

#[test]
fn objects_links_and_their_rules() {
    let mut tree = ObjectTree::new();
    tree.object_add("test-backend,id=b0,window=8k").unwrap();
    let dev = tree.device_add("test-leaf,id=d0,backend=b0").unwrap();
    assert_eq!(
        dev.borrow()
            .downcast_ref::<Leaf>()
            .unwrap()
            .realized_with
            .as_deref(),
        Some("window=8192")
    );
    assert_eq!(
        ObjectTree::get(&**dev.borrow(), "backend").unwrap(),
        json!("b0")
    );
    // Absolute paths resolve too.
    tree.device_add("test-leaf,id=d1,backend=/objects/b0")
        .unwrap();

    assert_eq!(
        msg(tree.del_object("b0")),
        "object 'b0' is in use, can not be deleted"
    );
    assert_eq!(
        msg(tree.set_device_property("d0", "backend", Input::Str("b0"))),
        "Attempt to set link property 'backend' on device 'd0' (type 'test-leaf') after it was realized"
    );
    assert_eq!(
        msg(tree.set_device_property("d0", "host", Input::Str("/y"))),
        "Attempt to set property 'host' on device 'd0' (type 'test-leaf') after it was realized"
    );
    // The missing setter is found before the realized check.
    assert_eq!(
        msg(tree.set_device_property("d0", "busnr", Input::Str("1"))),
        "Property 'test-leaf.busnr' is not writable"
    );
    tree.set_device_property("d0", "weight", Input::Str("5"))
        .unwrap();
    assert_eq!(
        ObjectTree::get(&**dev.borrow(), "weight").unwrap(),
        json!(5)
    );
    drop(dev);

    tree.del_device("d0").unwrap();
    tree.del_device("d1").unwrap();
    tree.del_object("b0").unwrap();
    assert_eq!(msg(tree.del_object("b0")), "object 'b0' not found");
}

#[test]
fn link_resolution_errors() {
    let mut tree = ObjectTree::new();
    assert_eq!(
        msg(tree.device_add("test-leaf,backend=nope")),
        "Device 'nope' not found"
    );
    tree.device_add("test-leaf,id=other,host=x").unwrap();
    assert_eq!(
        msg(tree.device_add("test-leaf,backend=other")),
        "Invalid parameter type for 'backend', expected: test-backend"
    );
    assert_eq!(
        msg(tree.device_add(r#"{"driver": "test-leaf", "backend": 1}"#)),
        "Invalid parameter type for 'backend', expected: string"
    );
    // `other` now also names a backend: the link takes the one of its type.
    tree.object_add("test-backend,id=other").unwrap();
    tree.device_add("test-leaf,backend=other").unwrap();
}

#[test]
fn object_add_errors_and_failed_creation_leaves_nothing() {
    let mut tree = ObjectTree::new();
    let before = LIVE_BACKENDS.with(|c| c.get());
    assert_eq!(
        msg(tree.object_add("id=x")),
        "Parameter 'qom-type' is missing"
    );
    let (m, hint) = err(tree.object_add("test-backnd,id=x"));
    assert_eq!(
        m,
        "Parameter 'qom-type' does not accept value 'test-backnd'"
    );
    assert_eq!(hint.as_deref(), Some("Did you mean 'test-backend'?"));
    for (spec, expected) in [
        (
            "test-internal-object,id=x",
            "object type 'test-internal-object' isn't supported by object-add",
        ),
        ("test-backend", "Parameter 'id' is missing"),
        ("test-backend,id=-x", "Parameter 'id' expects an identifier"),
        ("test-backend,id=x,bogus=1", "Invalid parameter 'bogus'"),
        (
            r#"{"qom-type": "test-backend", "id": "x", "bogus": 1}"#,
            "Parameter 'bogus' is unexpected",
        ),
        (
            "test-backend,id=x,fd=abc",
            "Could not parse object fd abc:Invalid file descriptor number 'abc'",
        ),
    ] {
        assert_eq!(msg(tree.object_add(spec)), expected, "{spec}");
    }
    let (m, hint) = err(tree.object_add("test-backend,id=x,x-fail-complete=on"));
    assert_eq!(m, "can't create backend: refused");
    assert_eq!(hint.as_deref(), Some("Is x-fail-complete set?"));
    // A device is realized, never added as an object.
    let leaf = tree.instantiate("test-leaf").unwrap();
    assert_eq!(
        msg(tree.add_object(leaf, "dev-as-obj")),
        "object type 'test-leaf' isn't supported by object-add"
    );
    assert!(tree.is_empty());
    assert_eq!(LIVE_BACKENDS.with(|c| c.get()), before);

    tree.object_add("test-backend,id=x,fd=3").unwrap();
    assert_eq!(
        tree.object("x")
            .unwrap()
            .borrow()
            .downcast_ref::<Backend>()
            .unwrap()
            .fd,
        Some(3)
    );
    assert!(
        tree.object("x")
            .unwrap()
            .borrow()
            .downcast_ref::<Backend>()
            .unwrap()
            .completed
    );
    assert_eq!(
        msg(tree.object_add("test-backend,id=x")),
        "Duplicate ID 'x' for object"
    );
}

#[test]
fn failed_realize_registers_nothing_and_drops_the_instance() {
    take_events();
    let mut tree = ObjectTree::new();
    tree.object_add("test-backend,id=b").unwrap();
    let live = LIVE_BACKENDS.with(|c| c.get());
    assert_eq!(
        msg(tree.device_add("test-leaf,id=d,backend=b,x-fail-realize=on")),
        "realize refused"
    );
    assert!(tree.device("d").is_none());
    // The failed device's link was dropped with it: the backend can go.
    tree.del_object("b").unwrap();
    assert_eq!(LIVE_BACKENDS.with(|c| c.get()), live - 1);
}

#[test]
fn failed_realize_undoes_the_parents_realize() {
    take_events();
    let mut tree = ObjectTree::new();
    // The leaf's realize fails: its parent's is undone.
    assert_eq!(
        msg(tree.device_add("test-leaf,host=x,x-fail-realize=on")),
        "realize refused"
    );
    assert_eq!(
        take_events(),
        ["bus-device realize", "bus-device unrealize"]
    );
    // Two levels up, most derived first, each undone once.
    assert_eq!(
        msg(tree.device_add("test-leaf-failing,host=x")),
        "child realize refused"
    );
    assert_eq!(
        take_events(),
        [
            "bus-device realize",
            "leaf realize",
            "leaf unrealize",
            "bus-device unrealize"
        ]
    );
    // A parent that fails undoes its own parents; the child's realize never runs.
    assert_eq!(
        msg(tree.device_add("test-leaf-failing,host=x,romsize=3")),
        "ROM size 3 is not a power of two"
    );
    assert!(take_events().is_empty());
    assert!(tree.is_empty());
}

#[test]
fn pre_realize_runs_most_derived_first_before_every_realize() {
    take_events();
    let mut tree = ObjectTree::new();
    tree.device_add("test-pre-child,id=c,label=vga").unwrap();
    assert_eq!(
        take_events(),
        [
            "child pre_realize",
            "mid pre_realize",
            "root pre_realize",
            "root realize",
            "root label Some(\"vga\")",
            "mid realize",
            "child realize",
        ]
    );
    tree.del_device("c").unwrap();
    assert_eq!(
        take_events(),
        ["child unrealize", "mid unrealize", "root unrealize"]
    );
    // A type without a parent: its own two hooks.
    tree.device_add("test-pre-root,id=r").unwrap();
    assert_eq!(
        take_events(),
        ["root pre_realize", "root realize", "root label None"]
    );
    tree.del_device("r").unwrap();
    take_events();
    assert!(tree.is_empty());
}

#[test]
fn failed_pre_realize_realizes_nothing_and_registers_nothing() {
    take_events();
    let mut tree = ObjectTree::new();
    // Each pre_realize that fails stops the chain there: no realize runs,
    // so there is no unrealize either, and the device is not added.
    for (step, events) in [
        ("child pre_realize", &["child pre_realize"][..]),
        ("mid pre_realize", &["child pre_realize", "mid pre_realize"]),
        (
            "root pre_realize",
            &["child pre_realize", "mid pre_realize", "root pre_realize"],
        ),
    ] {
        assert_eq!(
            msg(tree.device_add(&format!("test-pre-child,id=c,x-fail={step}"))),
            format!("{step} refused")
        );
        assert_eq!(take_events(), events, "{step}");
        assert!(tree.device("c").is_none());
        assert!(tree.is_empty());
    }
    assert_eq!(
        msg(tree.device_add("test-pre-root,id=r,x-fail=root pre_realize")),
        "root pre_realize refused"
    );
    assert_eq!(take_events(), ["root pre_realize"]);
    assert!(tree.is_empty());
    // A realize failing after every pre_realize ran undoes the realized
    // parents, and nothing of the pre_realize hooks.
    assert_eq!(
        msg(tree.device_add("test-pre-child,id=c,x-fail=child realize")),
        "child realize refused"
    );
    assert_eq!(
        take_events(),
        [
            "child pre_realize",
            "mid pre_realize",
            "root pre_realize",
            "root realize",
            "root label None",
            "mid realize",
            "child realize",
            "mid unrealize",
            "root unrealize",
        ]
    );
    assert!(tree.is_empty());
}

#[test]
fn abstract_types_cannot_be_instantiated() {
    let tree = ObjectTree::new();
    for (spec, expected) in [
        (
            "test-bus-device",
            "object type 'test-bus-device' is abstract",
        ),
        ("device", "object type 'device' is abstract"),
        ("nonexistent", "Class 'nonexistent' not found"),
    ] {
        assert_eq!(msg(tree.instantiate(spec)), expected, "{spec}");
    }
}

#[test]
fn short_form_booleans_warn_like_qemu() {
    let spec = qomgen::Spec::parse(
        qomgen::SpecKind::Device,
        "test-leaf,x-bus-quirk,nox-fail-realize",
    )
    .unwrap();
    assert_eq!(
        spec.warnings,
        [
            "short-form boolean option 'x-bus-quirk' deprecated",
            "Please use x-bus-quirk=on instead",
            "short-form boolean option 'nox-fail-realize' deprecated",
            "Please use x-fail-realize=off instead",
        ]
    );
}
