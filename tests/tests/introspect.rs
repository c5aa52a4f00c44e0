//! Introspection on the fixture types: QEMU's exact help texts, the
//! QMP-shaped JSON, snapshots of both for every registered type, QEMU's
//! device-introspect invariants, and dump diffs.

use qomgen::introspect::{
    self, Change, Dump, HelpStyle, ObjectPropertyInfo, Severity, device_help, device_list_help,
    device_list_properties, diff, dump, object_help, object_list_help, qom_list_properties,
    qom_list_types,
};
use qomgen::{Input, ObjectTree, ObjectType, Property, TypeInfo, registry};
use qomgen_tests::{Backend, LIVE_BACKENDS, Leaf, take_events};
use serde_json::{Value, json};

/// Every registered type (touching a fixture type links the fixtures in).
fn all_types() -> &'static [&'static TypeInfo] {
    assert_eq!(Leaf::TYPE_INFO.name, "test-leaf");
    registry().types()
}

const LEAF_HELP: &str = "\
test-leaf options:
  backend=<link<test-backend>> - Backend to use
  buffer-size=<size>     - Buffer size (default: 18446744073709551615)
  busnr=<uint8>          - Bus number, assigned at realize
  display=<OnOffAuto>    - Display mode (default: off)
  host=<str>             - Host path of the assigned thing
  romsize=<uint32>       -  (default: 4294967295)
  slot=<int32>           - Slot on the bus (default: -1)
  token=<string>
  weight=<uint64>        - Allowed to change while running (default: 0)
  x-bus-quirk=<bool>     - on/off (default: on)
  x-clique=<uint8>       - NVIDIA GPUDirect Clique ID (0 - 15)
  x-fail-realize=<bool>  - Fail realize (to test cleanup) (default: off)
  x-offset=<uint16>      -  (default: 0)
";

#[test]
fn device_help_of_leaf_is_qemus_text() {
    all_types();
    assert_eq!(
        device_help("test-leaf", &HelpStyle::QEMU).unwrap(),
        LEAF_HELP
    );
    // Explicitly the default style.
    assert_eq!(
        device_help("test-leaf", &HelpStyle::default()).unwrap(),
        LEAF_HELP
    );
}

#[test]
fn object_help_of_backend_lists_settable_properties() {
    all_types();
    assert_eq!(
        object_help("test-backend", &HelpStyle::QEMU).unwrap(),
        "\
test-backend options:
  fd=<string>            - Descriptor number handed over by the caller
  window=<size>          - Size of the shared window (default: 4096)
  x-fail-complete=<bool> - Refuse to complete (to test failed creation) (default: off)
"
    );
    assert_eq!(
        device_help("test-backend", &HelpStyle::QEMU)
            .unwrap_err()
            .to_string(),
        "Parameter 'typename' expects a non-abstract device type"
    );
    assert_eq!(
        object_help("test-internal-object", &HelpStyle::QEMU).unwrap(),
        "There are no options for test-internal-object.\n"
    );
    assert_eq!(
        object_help("test-nope", &HelpStyle::QEMU)
            .unwrap_err()
            .to_string(),
        "Parameter 'qom-type' does not accept value 'test-nope'"
    );
    // Read-only `busnr` is shown by -device help but not by -object help.
    let as_object = object_help("test-leaf", &HelpStyle::QEMU).unwrap();
    assert!(!as_object.contains("busnr") && as_object.contains("\n  realized=<bool>\n"));
}

#[test]
fn device_help_errors_and_empty_tables() {
    all_types();
    let e = |t: &str| device_help(t, &HelpStyle::QEMU).unwrap_err().to_string();
    assert_eq!(e("nonexistent"), "Device 'nonexistent' not found");
    assert_eq!(
        e("device"),
        "Parameter 'typename' expects a non-abstract device type"
    );
    assert_eq!(
        e("test-bus-device"),
        "Parameter 'typename' expects a non-abstract device type"
    );
    assert_eq!(
        e("object"),
        "Parameter 'typename' expects a non-abstract device type"
    );
    // Help does not check user-creatability.
    assert_eq!(
        device_help("test-builtin", &HelpStyle::QEMU).unwrap(),
        "There are no options for test-builtin.\n"
    );
}

#[test]
fn device_and_object_lists() {
    all_types();
    // No Controller/Bridge/Hub device is user-creatable, so the first
    // header is preceded by QEMU's separator line.
    assert_eq!(
        device_list_help(false),
        "
Misc devices:
name \"test-leaf\", bus TEST, desc \"Test device with every kind of property\"
name \"test-leaf-nohotplug\", bus TEST, desc \"Test device with every kind of property\"
"
    );
    assert_eq!(
        device_list_help(true),
        "\
Controller/Bridge/Hub devices:
name \"test-builtin\", desc \"A device only the machine may create\", no-user

Misc devices:
name \"test-leaf\", bus TEST, desc \"Test device with every kind of property\"
name \"test-leaf-nohotplug\", bus TEST, desc \"Test device with every kind of property\"
"
    );
    assert_eq!(
        object_list_help(),
        "List of user creatable objects:\n  test-backend\n"
    );
}

#[test]
fn extra_style_annotates_lines() {
    all_types();
    let probe = |ty: &'static TypeInfo, p: &'static Property| {
        (p.link_type == Some("test-backend"))
            .then(|| format!("{} cannot reach a backend here", ty.name))
    };
    assert_eq!(
        device_help("test-leaf", &HelpStyle::extra_with(&probe)).unwrap(),
        "\
test-leaf options:
  backend=<link<test-backend>> - Backend to use [since 9.0] (unavailable: test-leaf cannot reach a backend here)
  buffer-size=<size>     - Buffer size (default: 18446744073709551615)
  busnr=<uint8>          - Bus number, assigned at realize [read-only]
  display=<OnOffAuto>    - Display mode (default: off)
  host=<str>             - Host path of the assigned thing [since 1.3]
  romsize=<uint32>       -  (default: 4294967295)
  slot=<int32>           - Slot on the bus (default: -1)
  token=<string> [write-only]
  weight=<uint64>        - Allowed to change while running (default: 0) [set-after-realize]
  x-bus-quirk=<bool>     - on/off (default: on) [unstable]
  x-clique=<uint8>       - NVIDIA GPUDirect Clique ID (0 - 15) [unstable]
  x-fail-realize=<bool>  - Fail realize (to test cleanup) (default: off) [unstable]
  x-offset=<uint16>      -  (default: 0) [unstable]
"
    );
    // Every extra line starts with exactly QEMU's line.
    let extra = device_help("test-leaf-nohotplug", &HelpStyle::EXTRA).unwrap();
    let plain = device_help("test-leaf-nohotplug", &HelpStyle::QEMU).unwrap();
    for (e, p) in extra.lines().zip(plain.lines()) {
        assert!(e.starts_with(p), "{e:?} vs {p:?}");
    }
}

#[test]
fn device_list_properties_matches_qmp_shape() {
    all_types();
    let props = device_list_properties("test-leaf").unwrap();
    let names: Vec<&str> = props.iter().map(|p| p.name.as_str()).collect();
    let table: Vec<&str> = Leaf::TYPE_INFO.properties().map(|p| p.name).collect();
    assert_eq!(names, table);
    let get = |n: &str| props.iter().find(|p| p.name == n).unwrap().clone();
    let qmp = |n: &str| serde_json::to_value(get(n).to_qmp()).unwrap();
    assert_eq!(
        qmp("x-bus-quirk"),
        json!({"name": "x-bus-quirk", "type": "bool", "description": "on/off", "default-value": true})
    );
    assert_eq!(
        qmp("display"),
        json!({"name": "display", "type": "OnOffAuto", "description": "Display mode", "default-value": "off"})
    );
    assert_eq!(
        qmp("slot"),
        json!({"name": "slot", "type": "int32", "description": "Slot on the bus", "default-value": -1})
    );
    assert_eq!(
        qmp("backend"),
        json!({"name": "backend", "type": "link<test-backend>", "description": "Backend to use"})
    );
    assert_eq!(qmp("token"), json!({"name": "token", "type": "string"}));
    assert_eq!(
        serde_json::to_value(get("backend")).unwrap(),
        json!({"name": "backend", "type": "link<test-backend>", "description": "Backend to use",
               "x-qomgen-since": "9.0", "x-qomgen-link-type": "test-backend"})
    );
    assert_eq!(
        serde_json::to_value(get("busnr")).unwrap(),
        json!({"name": "busnr", "type": "uint8", "description": "Bus number, assigned at realize", "x-qomgen-read-only": true})
    );
    assert_eq!(
        serde_json::to_value(get("weight")).unwrap(),
        json!({"name": "weight", "type": "uint64", "description": "Allowed to change while running",
               "default-value": 0, "x-qomgen-set-after-realize": true})
    );
    assert!(get("token").write_only && !get("token").read_only);
    assert!(get("x-offset").unstable && !get("host").unstable);
}

#[test]
fn qom_list_properties_adds_the_implicit_ones() {
    all_types();
    let names = |t: &str| -> Vec<String> {
        qom_list_properties(t)
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect()
    };
    assert_eq!(
        names("test-backend"),
        ["type", "fd", "window", "x-fail-complete"]
    );
    assert_eq!(names("test-internal-object"), ["type"]);
    let leaf = names("test-leaf");
    assert_eq!(
        leaf[..5],
        [
            "type",
            "realized",
            "hotpluggable",
            "hotplugged",
            "parent_bus"
        ]
    );
    assert_eq!(leaf.len(), 5 + Leaf::TYPE_INFO.properties().count());
    // Abstract classes too.
    assert_eq!(names("test-bus-device").len(), 5 + 4);
    let implicit: Vec<Value> = qom_list_properties("test-leaf").unwrap()[..5]
        .iter()
        .map(|p| serde_json::to_value(p.to_qmp()).unwrap())
        .collect();
    assert_eq!(
        implicit,
        [
            json!({"name": "type", "type": "string"}),
            json!({"name": "realized", "type": "bool"}),
            json!({"name": "hotpluggable", "type": "bool"}),
            json!({"name": "hotplugged", "type": "bool"}),
            json!({"name": "parent_bus", "type": "link<bus>"}),
        ]
    );
    assert_eq!(
        qom_list_properties("nonexistent").unwrap_err().to_string(),
        "Class 'nonexistent' not found"
    );
}

/// What a snapshot shows for one type: every help text and JSON answer,
/// errors as their messages.
fn help_texts(name: &str) -> String {
    let show = |r: qomgen::Result<String>| r.unwrap_or_else(|e| format!("error: {e}\n"));
    format!(
        "-device {name},help\n{}\n-object {name},help\n{}\n-device {name},help (extra)\n{}",
        show(device_help(name, &HelpStyle::QEMU)),
        show(object_help(name, &HelpStyle::QEMU)),
        show(device_help(name, &HelpStyle::EXTRA)),
    )
}

fn json_answers(name: &str) -> Value {
    let show = |r: qomgen::Result<Vec<ObjectPropertyInfo>>| match r {
        Ok(v) => serde_json::to_value(v).unwrap(),
        Err(e) => json!({"error": e.to_string()}),
    };
    json!({
        "device-list-properties": show(device_list_properties(name)),
        "qom-list-properties": show(qom_list_properties(name)),
    })
}

#[test]
fn snapshots_of_every_registered_type() {
    for ty in all_types() {
        insta::assert_snapshot!(format!("help-{}", ty.name), help_texts(ty.name));
        insta::assert_json_snapshot!(format!("json-{}", ty.name), json_answers(ty.name));
    }
    insta::assert_snapshot!("device-list", device_list_help(false));
    insta::assert_snapshot!("info-qdm", device_list_help(true));
    insta::assert_snapshot!("object-list", object_list_help());
    insta::assert_json_snapshot!("qom-list-types", qom_list_types(None, true));
    insta::assert_json_snapshot!("dump", dump());
}

/// Everything observable about a tree: ids, types and readable values.
fn fingerprint(tree: &ObjectTree) -> Vec<String> {
    let mut out = Vec::new();
    let mut describe = |kind: &str, id: Option<&str>, obj: &qomgen::ObjRef| {
        let obj = obj.borrow();
        let ty = obj.type_info();
        let values: Vec<String> = ty
            .properties()
            .filter(|p| !p.is_write_only())
            .map(|p| format!("{}={}", p.name, ObjectTree::get(&**obj, p.name).unwrap()))
            .collect();
        out.push(format!("{kind} {id:?} {} [{}]", ty.name, values.join(",")));
    };
    for (id, obj) in tree.objects() {
        describe("object", Some(id), obj);
    }
    for (id, obj) in tree.devices() {
        describe("device", id, obj);
    }
    out
}

/// Runs every introspection entry point on `name`; none may panic.
fn introspect_everything(name: &str) {
    for style in [HelpStyle::QEMU, HelpStyle::EXTRA] {
        let _ = device_help(name, &style);
        let _ = object_help(name, &style);
    }
    let _ = device_list_properties(name);
    let _ = qom_list_properties(name);
    let _ = qom_list_types(Some(name), true);
    let _ = qom_list_types(Some(name), false);
}

#[test]
fn device_introspect_invariants() {
    let types = all_types();
    let mut tree = ObjectTree::new();
    let backend = tree.instantiate("test-backend").unwrap();
    tree.add_object(backend, "b0").unwrap();
    let mut leaf = tree.instantiate("test-leaf").unwrap();
    tree.set(&mut leaf, "backend", Input::Str("b0")).unwrap();
    tree.realize(leaf, Some("d0")).unwrap();
    let mut anon = tree.instantiate("test-leaf-nohotplug").unwrap();
    tree.set(&mut anon, "host", Input::Str("/sys/x")).unwrap();
    tree.realize(anon, None).unwrap();
    take_events();
    let before = fingerprint(&tree);
    let live = LIVE_BACKENDS.with(|c| c.get());

    // The invariants of QEMU's `tests/qtest/device-introspect-test.c`.
    // test_device_intro_list: listing devices (abstract included) and `device_add help` work.
    assert!(!qom_list_types(Some("device"), true).is_empty());
    let _ = device_list_help(false);
    let _ = device_list_help(true);
    let _ = object_list_help();

    // test_qom_list_fields: `abstract` present-and-true exactly for the types missing from
    // the abstract=false listing, and exactly for abstract types.
    let with_abstract = qom_list_types(None, true);
    let concrete = qom_list_types(None, false);
    assert_eq!(with_abstract.len(), types.len());
    for t in &with_abstract {
        let info = registry().get(&t.name).unwrap().info;
        assert_eq!(t.abstract_, info.abstract_, "{}", t.name);
        assert_eq!(
            t.abstract_,
            !concrete.iter().any(|c| c.name == t.name),
            "{}",
            t.name
        );
        let v = serde_json::to_value(t).unwrap();
        assert_eq!(
            v.get("abstract"),
            t.abstract_.then_some(&Value::Bool(true)),
            "{}",
            t.name
        );
        assert_eq!(t.parent.as_deref(), info.parent.map(|p| p.name));
    }

    // test_qom_list_parents: every type listed for `implements=X` has X on its parent chain
    // (walked through the listing's own `parent` fields).
    let parent_of = |n: &str| {
        with_abstract
            .iter()
            .find(|t| t.name == n)
            .and_then(|t| t.parent.clone())
    };
    for implements in [
        "object",
        "device",
        "test-bus-device",
        "test-leaf",
        "test-backend",
    ] {
        let listed = qom_list_types(Some(implements), true);
        assert!(!listed.is_empty(), "{implements}");
        for t in listed {
            let mut chain = Some(t.name.clone());
            let mut found = false;
            while let Some(n) = chain {
                found |= n == implements;
                chain = parent_of(&n);
            }
            assert!(found, "{} does not derive from {implements}", t.name);
        }
    }
    assert_eq!(
        qom_list_types(Some("device"), true).len(),
        types.iter().filter(|t| t.is_device()).count()
    );

    // test_device_intro_{none,abstract,concrete}: nonexistent, abstract and every registered type (concrete
    // or not): no panic, nothing created, the tree unchanged.
    for name in ["nonexistent", "device", "", "test-leaf,,help", "\u{0}"]
        .into_iter()
        .chain(types.iter().map(|t| t.name))
    {
        introspect_everything(name);
        assert_eq!(fingerprint(&tree), before, "after introspecting {name:?}");
    }
    assert_eq!(LIVE_BACKENDS.with(|c| c.get()), live);
    assert!(
        take_events().is_empty(),
        "introspection ran lifecycle hooks"
    );
    let _ = dump();
    assert_eq!(fingerprint(&tree), before);
    assert_eq!(tree.len(), 3);
}

#[test]
fn every_device_help_line_is_formatted_and_sorted_like_qemu() {
    for ty in all_types() {
        let Ok(text) = device_help(ty.name, &HelpStyle::QEMU) else {
            assert!(ty.abstract_ || !ty.is_device(), "{}", ty.name);
            continue;
        };
        let lines: Vec<&str> = text.lines().skip(1).collect();
        let mut sorted = lines.clone();
        sorted.sort_unstable(); // byte order = strcmp
        assert_eq!(lines, sorted, "{}", ty.name);
        let shown = introspect::device_properties(ty).count();
        assert_eq!(lines.len(), shown, "{}", ty.name);
    }
}

/// Applies `f` to property `prop` of every type in `dump` that has it.
fn edit_property(dump: &mut Dump, prop: &str, f: impl Fn(&mut ObjectPropertyInfo)) {
    for t in &mut dump.types {
        if let Some(p) = t.property_mut(prop) {
            f(p);
        }
    }
}

#[test]
fn diff_reports_real_changes() {
    all_types();
    let old = dump();
    let mut new = old.clone();
    // `host` removed from test-leaf (and so from its subclass).
    for t in &mut new.types {
        t.properties.retain(|p| p.name != "host");
    }
    // `display` now defaults to auto.
    edit_property(&mut new, "display", |p| {
        p.default_value = Some(json!("auto"))
    });
    // `slot` (declared by the abstract bus device) becomes read-only.
    edit_property(&mut new, "slot", |p| p.read_only = true);
    // A new property on the no-hotplug variant.
    let nohp = new.get_mut("test-leaf-nohotplug").unwrap();
    nohp.properties.push(ObjectPropertyInfo {
        name: "queues".into(),
        type_: "uint32".into(),
        description: Some("Number of queues".into()),
        default_value: Some(json!(4)),
        since: Some("11.0".into()),
        unstable: false,
        read_only: false,
        write_only: false,
        set_after_realize: false,
        link_type: None,
    });
    // An unstable property removed: reported, not breaking.
    for t in &mut new.types {
        t.properties.retain(|p| p.name != "x-offset");
    }
    // Documentation only.
    edit_property(&mut new, "weight", |p| {
        p.description = Some("Scheduling weight".into())
    });

    let report = diff(&old, &new);
    assert_eq!(
        report.to_string(),
        "\
BREAKING: property 'test-bus-device.slot' became read-only
BREAKING: property 'test-leaf.slot' became read-only
BREAKING: property 'test-leaf.host' removed
unstable: property 'test-leaf.x-offset' removed
BREAKING: property 'test-leaf.display' default changed from \"off\" to \"auto\"
changed: property 'test-leaf.weight' description changed from \"Allowed to change while running\" to \"Scheduling weight\"
BREAKING: property 'test-leaf-nohotplug.slot' became read-only
BREAKING: property 'test-leaf-nohotplug.host' removed
unstable: property 'test-leaf-nohotplug.x-offset' removed
BREAKING: property 'test-leaf-nohotplug.display' default changed from \"off\" to \"auto\"
changed: property 'test-leaf-nohotplug.weight' description changed from \"Allowed to change while running\" to \"Scheduling weight\"
added: property 'test-leaf-nohotplug.queues' (uint32)
"
    );
    assert!(report.is_breaking());
    assert_eq!(report.breaking().count(), 7);
    assert!(report.changes.contains(&Change::DefaultChanged {
        type_name: "test-leaf".into(),
        property: "display".into(),
        old: Some(json!("off")),
        new: Some(json!("auto")),
    }));
    let severities: Vec<Severity> = report.changes.iter().map(Change::severity).collect();
    assert_eq!(
        severities
            .iter()
            .filter(|s| **s == Severity::Unstable)
            .count(),
        2
    );

    // The reverse direction: additions are compatible, the rest is not.
    let back = diff(&new, &old);
    assert!(back.is_breaking());
    assert!(
        back.to_string()
            .contains("added: property 'test-leaf.host' (str)\n")
    );
    assert!(
        back.to_string()
            .contains("BREAKING: property 'test-leaf-nohotplug.queues' removed\n")
    );
    assert!(
        back.to_string()
            .contains("changed: property 'test-leaf.slot' is no longer read-only\n")
    );

    // Only compatible changes: not breaking.
    let mut compat = old.clone();
    compat
        .get_mut("test-leaf")
        .unwrap()
        .properties
        .retain(|p| p.name != "x-clique");
    edit_property(&mut compat, "ramfb", |p| p.since = Some("10.2".into()));
    let r = diff(&compat, &old);
    assert!(!r.is_breaking());
    assert_eq!(
        r.to_string(),
        "added: property 'test-leaf.x-clique' (uint8)\n\
         changed: property 'test-leaf-nohotplug.ramfb' since changed from \"10.2\" to \"10.1\"\n"
    );
}

#[test]
fn dump_survives_a_json_round_trip() {
    all_types();
    let d = dump();
    assert_eq!(d.types.len(), registry().types().len());
    let back = Dump::from_json(&d.to_json_pretty()).unwrap();
    assert!(diff(&d, &back).is_empty());
    let leaf = d.get("test-leaf").unwrap();
    assert_eq!(
        leaf.device.as_ref().and_then(|x| x.category.as_deref()),
        Some("misc")
    );
    assert_eq!(leaf.properties.len(), Leaf::TYPE_INFO.properties().count());
    assert!(d.get("test-backend").unwrap().user_creatable);
    assert_eq!(Backend::TYPE_INFO.name, "test-backend");
}
