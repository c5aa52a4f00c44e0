//! Properties checked on generated inputs (256 cases each, to keep CI quick):
//!
//! * every value kind prints what it parses back: `parse(print(x)) == x`,
//!   and `from_json(to_json(x)) == x`, for generated values and for
//!   whatever a generated string parses to;
//! * no input makes a parser panic: `Spec::parse` for `-device` and
//!   `-object`, `qemu_opts::parse`, each kind's `parse`
//!   and `from_json`, and `ObjectTree::device_add`/`object_add` on the
//!   fixture types — which also must leave the tree as it was when they fail;
//! * how QMP input is cut into reads does not change the monitor's replies.
//!
//! The fuzz targets in `fuzz/` (nightly, outside CI) cover the same parsers
//! with coverage guidance; see `fuzz/README.md`.

use std::cell::Cell;
use std::fmt::Debug;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config;
use qomgen::opts::qemu_opts;
use qomgen::{
    CcwLoadparm, CssDevId, ObjectTree, OffAutoPciBar, OnOffAuto, PciDevfn, PciHostAddress,
    PropertyKind, QemuUuid, Size, Size32, Spec, SpecKind, ValueCx, registry,
};
use qomgen_tests::{LIVE_BACKENDS, take_events};
use serde_json::Value;

/// 256 cases (`PROPTEST_CASES=N` for a longer local run), no regression
/// files written into the source tree.
fn config() -> Config {
    let default = Config::default();
    Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            default.cases
        } else {
            256
        },
        failure_persistence: None,
        ..default
    }
}

fn cx() -> ValueCx<'static> {
    ValueCx::new("proptest-type", "prop")
}

/// `parse(print(x)) == x` and `from_json(to_json(x)) == x`.
fn round_trips<K: PropertyKind + PartialEq + Debug>(x: &K) -> Result<(), TestCaseError> {
    let cx = cx();
    let s = x.print();
    match K::parse(&s, &cx) {
        Ok(back) => prop_assert_eq!(&back, x, "printed as {:?}", s),
        Err(e) => return Err(TestCaseError::fail(format!("{x:?} printed as {s:?}: {e}"))),
    }
    let j = x.to_json();
    match K::from_json(&j, &cx) {
        Ok(back) => prop_assert_eq!(&back, x, "as JSON {}", j),
        Err(e) => return Err(TestCaseError::fail(format!("{x:?} as JSON {j}: {e}"))),
    }
    Ok(())
}

/// Whatever `s` parses to round-trips; and neither parser panics on `s`
/// nor on `j`.
fn parsed_round_trips<K: PropertyKind + PartialEq + Debug>(
    s: &str,
    j: &Value,
) -> Result<(), TestCaseError> {
    let cx = cx();
    if let Ok(x) = K::parse(s, &cx) {
        round_trips(&x)?;
    }
    if let Ok(x) = K::from_json(j, &cx) {
        round_trips(&x)?;
    }
    Ok(())
}

fn on_off_auto() -> impl Strategy<Value = OnOffAuto> {
    select(vec![OnOffAuto::Auto, OnOffAuto::On, OnOffAuto::Off])
}

fn off_auto_pcibar() -> impl Strategy<Value = OffAutoPciBar> {
    use OffAutoPciBar::*;
    select(vec![Off, Auto, Bar0, Bar1, Bar2, Bar3, Bar4, Bar5])
}

fn pci_host_address() -> impl Strategy<Value = PciHostAddress> {
    (any::<u16>(), any::<u8>(), 0u8..=0x1f, 0u8..=7).prop_map(|(domain, bus, slot, function)| {
        PciHostAddress {
            domain,
            bus,
            slot,
            function,
        }
    })
}

fn css_dev_id() -> impl Strategy<Value = CssDevId> {
    (any::<u8>(), 0u8..=3, any::<u16>()).prop_map(|(cssid, ssid, devid)| CssDevId {
        cssid,
        ssid,
        devid,
    })
}

/// A valid loadparm, as its parser builds it (the type has no public constructor).
fn ccw_loadparm() -> impl Strategy<Value = CcwLoadparm> {
    "[A-Za-z0-9. ]{0,8}".prop_map(|s| CcwLoadparm::parse(&s, &cx()).expect("valid loadparm"))
}

/// Any UUID, spelt in either case.
fn qemu_uuid() -> impl Strategy<Value = QemuUuid> {
    "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
        .prop_map(|s| QemuUuid::parse_str(&s).expect("valid uuid"))
}

/// Strings near what the kinds accept, plus anything printable.
fn kind_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,40}",
        "[ \t+-]{0,2}(0[xX])?[0-9a-fA-F]{1,22}",
        "[0-9]{1,20}(\\.[0-9]{0,4})?[bBkKmMgGtTpPeE]?",
        "[0-9a-fA-F]{0,5}(:[0-9a-fA-F]{0,3}){0,3}(\\.[0-9]{0,2})?",
        "[0-9a-f]{0,3}\\.[0-9a-f]{0,2}\\.[0-9a-f]{0,5}",
        "[0-9a-fA-F-]{30,40}",
        select(vec![
            "on", "off", "yes", "no", "true", "false", "y", "n", "auto", "bar0", "bar5", "-1", "",
        ])
        .prop_map(str::to_owned),
    ]
}

/// Any JSON value, nested a little.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1i64..=256).prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        kind_text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z-]{0,6}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Property names of the fixture types (those of the device and the
/// object that have the most, each with its parents'), and a few that are
/// not.
fn keys() -> Vec<&'static str> {
    ["test-leaf-nohotplug", "test-backend"]
        .into_iter()
        .flat_map(|t| registry().get(t).expect(t).info.properties())
        .map(|p| p.name)
        .chain(["id", "bus", "driver", "qom-type", "help", "?", ""])
        .collect()
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(keys()).prop_map(str::to_owned),
        1 => "no[a-z-]{0,6}",
        1 => "[a-z_?-]{1,3}(\\.[0-9a-z]{1,2}){0,3}",
        1 => "\\PC{0,6}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => kind_text(),
        1 => select(vec!["be", "d0", "/objects/be", "/machine/peripheral/d0", "nope", "/x"])
            .prop_map(str::to_owned),
        1 => "[a-z,=]{0,8}",
    ]
}

/// An option argument in QemuOpts/keyval syntax: a first item (usually a
/// type name), then `key=value`, bare flags and empty items.
fn option_text(types: &'static [&'static str]) -> impl Strategy<Value = String> {
    let first = prop_oneof![
        4 => select(types).prop_map(str::to_owned),
        1 => (key(), value()).prop_map(|(k, v)| format!("{k}={v}")),
        1 => "\\PC{0,10}",
    ];
    let item = prop_oneof![
        4 => (key(), value()).prop_map(|(k, v)| format!("{k}={v}")),
        1 => key(),
        1 => Just(String::new()),
    ];
    (first, prop::collection::vec(item, 0..8)).prop_map(|(f, items)| {
        let mut s = f;
        for i in items {
            s.push(',');
            s.push_str(&i);
        }
        s
    })
}

/// An option argument in JSON syntax: an object with a type key and
/// properties of any JSON type (or, rarely, not an object at all).
fn json_option_text(types: &'static [&'static str]) -> impl Strategy<Value = String> {
    let props = prop::collection::vec((key(), json_value()), 0..6);
    let object =
        (select(vec!["driver", "qom-type"]), select(types), props).prop_map(|(tk, t, props)| {
            let mut m = serde_json::Map::new();
            m.insert(tk.to_owned(), Value::from(t));
            m.extend(props);
            Value::Object(m).to_string()
        });
    prop_oneof![
        6 => object,
        1 => json_value().prop_map(|v| v.to_string()),
        1 => "\\{\\PC{0,20}",
    ]
}

/// `key=value` items that the fixture devices mostly accept (some values
/// out of range, some realize failures), so that generated `-device`
/// arguments get past parsing and reach set and realize.
fn leaf_item() -> impl Strategy<Value = (String, Value)> {
    fn kv(k: &'static str, v: impl Into<Value>) -> (String, Value) {
        (k.to_owned(), v.into())
    }
    prop_oneof![
        3 => "/[a-z]{1,5}".prop_map(|v| kv("host", v)),
        2 => select(vec!["be", "/objects/be", "d0", "nope"]).prop_map(|v| kv("backend", v)),
        1 => (0u32..70_000).prop_map(|v| kv("x-offset", v)),
        1 => select(vec!["on", "off", "auto", "maybe"]).prop_map(|v| kv("display", v)),
        1 => (0u64..1 << 40).prop_map(|v| kv("buffer-size", v)),
        1 => (0u8..20).prop_map(|v| kv("x-clique", v)),
        1 => any::<u64>().prop_map(|v| kv("weight", v)),
        1 => prop::bool::weighted(0.2).prop_map(|v| kv("x-fail-realize", v)),
        1 => "[a-z]{0,4}".prop_map(|v| kv("token", v)),
        1 => (-3i64..40).prop_map(|v| kv("slot", v)),
        1 => select(vec![1u64, 3, 4096, 65536, 4_294_967_295]).prop_map(|v| kv("romsize", v)),
        1 => any::<bool>().prop_map(|v| kv("x-bus-quirk", v)),
        1 => any::<bool>().prop_map(|v| kv("ramfb", v)),
        1 => select(vec!["d1", "d2", "d0", "9x"]).prop_map(|v| kv("id", v)),
    ]
}

/// The keyval spelling of a JSON scalar (`true` → `on`).
fn keyval_value(v: &Value) -> String {
    match v {
        Value::Bool(b) => if *b { "on" } else { "off" }.to_owned(),
        Value::String(s) => s.replace(',', ",,"),
        other => other.to_string(),
    }
}

/// A `-device` argument for `test-leaf`/`test-leaf-nohotplug`, in keyval
/// or JSON syntax, built from [`leaf_item`]s.
fn leaf_spec() -> impl Strategy<Value = String> {
    (
        select(vec!["test-leaf", "test-leaf-nohotplug"]),
        prop::collection::vec(leaf_item(), 0..6),
        any::<bool>(),
    )
        .prop_map(|(driver, items, json)| {
            if json {
                let mut m = serde_json::Map::new();
                m.insert("driver".to_owned(), driver.into());
                m.extend(items);
                Value::Object(m).to_string()
            } else {
                let mut s = driver.to_owned();
                for (k, v) in items {
                    s.push_str(&format!(",{k}={}", keyval_value(&v)));
                }
                s
            }
        })
}

/// An `-object test-backend,...` argument that mostly succeeds.
fn backend_spec() -> impl Strategy<Value = String> {
    let id = proptest::option::weighted(0.85, "[a-z][a-z0-9]{0,2}|be|9x");
    let item = prop_oneof![
        "id=[a-z][a-z0-9]{0,2}",
        "window=[0-9]{1,4}[kM]?",
        "fd=-?[0-9]{1,3}",
        "fd=[a-z]{1,3}",
        "x-fail-complete=(on|off|off|off)",
    ];
    (id, prop::collection::vec(item, 0..4)).prop_map(|(id, items)| {
        let mut s = "test-backend".to_owned();
        for i in id.map(|id| format!("id={id}")).into_iter().chain(items) {
            s.push(',');
            s.push_str(&i);
        }
        s
    })
}

const DEVICE_TYPES: &[&str] = &[
    "test-leaf",
    "test-leaf-nohotplug",
    "test-bus-device",
    "test-builtin",
    "test-backend",
    "device",
    "help",
    "test-lea",
];

const OBJECT_TYPES: &[&str] = &[
    "test-backend",
    "test-internal-object",
    "test-leaf",
    "object",
    "help",
    "test-backnd",
];

/// A tree holding backend `be` and device `d0` (linked to it), for specs
/// to collide with and link to.
fn populated_tree() -> ObjectTree {
    let mut tree = ObjectTree::new();
    tree.object_add("test-backend,id=be").unwrap();
    tree.device_add("test-leaf,id=d0,backend=be").unwrap();
    tree
}

/// `device_add`/`object_add` succeed by adding exactly one entry, or fail
/// leaving the tree and the live backends as they were.
fn add_is_all_or_nothing(
    tree: &mut ObjectTree,
    kind: SpecKind,
    spec: &str,
) -> Result<(), TestCaseError> {
    let (len, live) = (tree.len(), LIVE_BACKENDS.with(Cell::get));
    let result = match kind {
        SpecKind::Device => tree.device_add(spec),
        SpecKind::Object => tree.object_add(spec),
    };
    match result {
        Ok(_) => {
            prop_assert_eq!(tree.len(), len + 1, "{:?} added", spec);
        }
        Err(e) => {
            prop_assert!(!e.message().is_empty(), "{:?}: empty error", spec);
            prop_assert_eq!(
                tree.len(),
                len,
                "{:?} failed with {} but changed the tree",
                spec,
                e
            );
            prop_assert_eq!(
                LIVE_BACKENDS.with(Cell::get),
                live,
                "{:?} failed with {} but leaked a backend",
                spec,
                e
            );
        }
    }
    take_events();
    Ok(())
}

/// One property test per kind: `parse(print(x)) == x` and
/// `from_json(to_json(x)) == x` for each `x` generated as `$value`.
macro_rules! round_trip_tests {
    ($($name:ident($x:ident in $strategy:expr) => $value:expr;)*) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $name($x in $strategy) { round_trips(&$value)?; }
            )*
        }
    };
}

round_trip_tests! {
    bool_round_trips(x in any::<bool>()) => x;
    u8_round_trips(x in any::<u8>()) => x;
    u16_round_trips(x in any::<u16>()) => x;
    u32_round_trips(x in any::<u32>()) => x;
    u64_round_trips(x in any::<u64>()) => x;
    usize_round_trips(x in any::<usize>()) => x;
    i8_round_trips(x in any::<i8>()) => x;
    i16_round_trips(x in any::<i16>()) => x;
    i32_round_trips(x in any::<i32>()) => x;
    i64_round_trips(x in any::<i64>()) => x;
    size_round_trips(x in any::<u64>()) => Size(x);
    size32_round_trips(x in any::<u32>()) => Size32(x);
    on_off_auto_round_trips(x in on_off_auto()) => x;
    off_auto_pcibar_round_trips(x in off_auto_pcibar()) => x;
    pci_host_address_round_trips(x in pci_host_address()) => x;
    // `PciDevfn::AUTO` is left out: it prints as `-1`, which QEMU's
    // keyval setter rejects (`addr=-1` is an error in QEMU too), so it
    // has no keyval spelling; its JSON round trip is checked below.
    pci_devfn_round_trips(d in any::<u8>()) => PciDevfn(Some(d));
    css_dev_id_round_trips(x in css_dev_id()) => x;
    ccw_loadparm_round_trips(x in ccw_loadparm()) => x;
    qemu_uuid_round_trips(x in qemu_uuid()) => x;
}

proptest! {
    #![proptest_config(config())]

    // Whatever a string or JSON value parses to round-trips too, and no
    // kind's parser panics on any input.

    #[test]
    fn kinds_never_panic_and_parsed_values_round_trip(s in kind_text(), j in json_value()) {
        parsed_round_trips::<bool>(&s, &j)?;
        parsed_round_trips::<u8>(&s, &j)?;
        parsed_round_trips::<u16>(&s, &j)?;
        parsed_round_trips::<u32>(&s, &j)?;
        parsed_round_trips::<u64>(&s, &j)?;
        parsed_round_trips::<usize>(&s, &j)?;
        parsed_round_trips::<i8>(&s, &j)?;
        parsed_round_trips::<i16>(&s, &j)?;
        parsed_round_trips::<i32>(&s, &j)?;
        parsed_round_trips::<i64>(&s, &j)?;
        parsed_round_trips::<Size>(&s, &j)?;
        parsed_round_trips::<Size32>(&s, &j)?;
        parsed_round_trips::<OnOffAuto>(&s, &j)?;
        parsed_round_trips::<OffAutoPciBar>(&s, &j)?;
        parsed_round_trips::<PciHostAddress>(&s, &j)?;
        parsed_round_trips::<CssDevId>(&s, &j)?;
        parsed_round_trips::<CcwLoadparm>(&s, &j)?;
        parsed_round_trips::<QemuUuid>(&s, &j)?;
        parsed_round_trips::<String>(&s, &j)?;
        // PciDevfn: see pci_devfn_round_trips for AUTO.
        let cx = cx();
        if let Ok(x) = PciDevfn::parse(&s, &cx) {
            prop_assert!(x != PciDevfn::AUTO, "{:?} parsed to AUTO", s);
            round_trips(&x)?;
        }
        if let Ok(x) = PciDevfn::from_json(&j, &cx) {
            prop_assert_eq!(PciDevfn::from_json(&x.to_json(), &cx).ok(), Some(x));
            if x != PciDevfn::AUTO {
                round_trips(&x)?;
            }
        }
        let _ = <Option<u32>>::parse(&s, &cx);
        let _ = <Option<PciHostAddress>>::from_json(&j, &cx);
    }

    // No parser panics.

    #[test]
    fn spec_parse_never_panics(s in "\\PC*", t in option_text(DEVICE_TYPES)) {
        for kind in [SpecKind::Device, SpecKind::Object] {
            let _ = Spec::parse(kind, &s);
            if let Ok(spec) = Spec::parse(kind, &t) {
                // Each key once, the last value winning.
                let mut keys: Vec<_> = spec.props.iter().map(|(k, _)| k.as_str()).collect();
                keys.sort_unstable();
                prop_assert!(keys.windows(2).all(|w| w[0] != w[1]), "{:?}", t);
                let _ = spec.resolve_type();
            }
        }
    }

    #[test]
    fn json_spec_parse_never_panics(s in json_option_text(DEVICE_TYPES)) {
        for kind in [SpecKind::Device, SpecKind::Object] {
            if let Ok(spec) = Spec::parse(kind, &s) {
                prop_assert_eq!(spec.json, s.starts_with('{'));
                let _ = spec.resolve_type();
            }
        }
    }

    #[test]
    fn qemu_opts_never_panics(
        s in prop_oneof!["\\PC*", option_text(DEVICE_TYPES)],
        implied in select(vec!["driver", "qom-type", ""]),
    ) {
        if let Ok(o) = qemu_opts::parse(&s, implied) {
            prop_assert!(o.warnings.len() % 2 == 0);
        }
    }

    // The tree: generated -device/-object arguments on the fixture types
    // never panic, and a failure changes nothing.

    #[test]
    fn device_add_never_panics_and_failures_change_nothing(
        specs in prop::collection::vec(
            prop_oneof![
                6 => leaf_spec(),
                1 => option_text(DEVICE_TYPES),
                1 => json_option_text(DEVICE_TYPES),
                1 => "\\PC*",
            ],
            1..5,
        ),
    ) {
        let mut tree = populated_tree();
        for s in &specs {
            add_is_all_or_nothing(&mut tree, SpecKind::Device, s)?;
        }
        drop(tree);
        take_events();
    }

    #[test]
    fn object_add_never_panics_and_failures_change_nothing(
        specs in prop::collection::vec(
            prop_oneof![
                6 => backend_spec(),
                1 => option_text(OBJECT_TYPES),
                1 => json_option_text(OBJECT_TYPES),
                1 => "\\PC*",
            ],
            1..5,
        ),
    ) {
        let live = LIVE_BACKENDS.with(Cell::get);
        let mut tree = populated_tree();
        for s in &specs {
            add_is_all_or_nothing(&mut tree, SpecKind::Object, s)?;
        }
        drop(tree);
        take_events();
        prop_assert_eq!(LIVE_BACKENDS.with(Cell::get), live);
    }
}

#[test]
fn pci_devfn_auto_round_trips_through_json() {
    let cx = cx();
    let auto = PciDevfn::AUTO;
    assert_eq!(PciDevfn::from_json(&auto.to_json(), &cx).unwrap(), auto);
}

/// Every readable property of an instance, as `qom-get` returns it.
fn readable_values(obj: &dyn qomgen::Object) -> Vec<(&'static str, Value)> {
    obj.type_info()
        .properties()
        .filter(|p| p.readable)
        .map(|p| (p.name, ObjectTree::get(obj, p.name).unwrap()))
        .collect()
}

/// The same outcome: both succeed, or both fail with the same text.
fn same_outcome<T, U>(
    a: &qomgen::Result<T>,
    b: &qomgen::Result<U>,
    spec: &str,
) -> Result<bool, TestCaseError> {
    match (a, b) {
        (Ok(_), Ok(_)) => Ok(true),
        (Err(x), Err(y)) => {
            prop_assert_eq!(x.to_string(), y.to_string(), "{:?}", spec);
            prop_assert_eq!(x.hint(), y.hint(), "{:?}", spec);
            Ok(false)
        }
        _ => Err(TestCaseError::fail(format!(
            "{spec:?}: one path succeeded, the other failed"
        ))),
    }
}

/// Two instances of `spec` alike: the same type, the same readable values.
fn same_instance_values(
    a: &qomgen::Instance,
    b: &qomgen::Instance,
    spec: &str,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.type_info().name, b.type_info().name, "{:?}", spec);
    prop_assert_eq!(
        readable_values(a.object()),
        readable_values(b.object()),
        "{:?}",
        spec
    );
    Ok(())
}

/// [`same_outcome`] for two instantiations of `spec`, and where both
/// succeed, [`same_instance_values`].
fn same_instances(
    a: &qomgen::Result<qomgen::Instance>,
    b: &qomgen::Result<qomgen::Instance>,
    spec: &str,
) -> Result<(), TestCaseError> {
    if let (true, Ok(a), Ok(b)) = (same_outcome(a, b, spec)?, a, b) {
        same_instance_values(a, b, spec)?;
    }
    Ok(())
}

/// `device_add` / `object_add` and their `_spec` forms after `Spec::parse`
/// agree on `spec`: same outcome, same tree size.
fn same_add(kind: SpecKind, spec: &str) -> Result<(), TestCaseError> {
    let (mut a, mut b) = (populated_tree(), populated_tree());
    let (borrowed, owned) = match kind {
        SpecKind::Device => (
            a.device_add(spec),
            Spec::parse(kind, spec).and_then(|parsed| b.device_add_spec(&parsed)),
        ),
        SpecKind::Object => (
            a.object_add(spec),
            Spec::parse(kind, spec).and_then(|parsed| b.object_add_spec(&parsed)),
        ),
    };
    same_outcome(&borrowed, &owned, spec)?;
    prop_assert_eq!(a.len(), b.len());
    drop((a, b));
    take_events();
    Ok(())
}

/// `instantiate_spec` and `Spec::parse` + `instantiate` agree on `spec`.
fn same_instance(kind: SpecKind, spec: &str) -> Result<(), TestCaseError> {
    let tree = populated_tree();
    let borrowed = tree.instantiate_spec(kind, spec);
    let owned = Spec::parse(kind, spec).and_then(|parsed| parsed.instantiate(&tree));
    same_instances(&borrowed, &owned, spec)?;
    drop(tree);
    take_events();
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    // The borrowing parse behind `instantiate_spec`, `device_add` and
    // `object_add` against the owned `Spec` path.

    #[test]
    fn instantiate_spec_is_spec_parse_then_instantiate_device(
        s in prop_oneof![
            6 => leaf_spec(),
            2 => option_text(DEVICE_TYPES),
            1 => json_option_text(DEVICE_TYPES),
            1 => "\\PC*",
        ],
    ) {
        same_instance(SpecKind::Device, &s)?;
    }

    #[test]
    fn instantiate_spec_is_spec_parse_then_instantiate_object(
        s in prop_oneof![
            3 => backend_spec(),
            3 => json_option_text(OBJECT_TYPES),
            2 => option_text(OBJECT_TYPES),
            1 => "\\PC*",
        ],
    ) {
        same_instance(SpecKind::Object, &s)?;
    }

    #[test]
    fn device_add_is_device_add_spec(
        s in prop_oneof![
            6 => leaf_spec(),
            2 => option_text(DEVICE_TYPES),
            1 => json_option_text(DEVICE_TYPES),
        ],
    ) {
        same_add(SpecKind::Device, &s)?;
    }

    #[test]
    fn object_add_is_object_add_spec(
        s in prop_oneof![
            6 => backend_spec(),
            2 => option_text(OBJECT_TYPES),
            1 => json_option_text(OBJECT_TYPES),
        ],
    ) {
        same_add(SpecKind::Object, &s)?;
    }
}

/// Items for the fast path of `instantiate_spec`: mostly valid
/// `test-leaf` properties, with repeated keys (the pool is small), type
/// keys, `id` (well-formed or not), `bus`, help, short-form flags,
/// escaped commas, unknown keys and bad values mixed in.
fn streaming_item() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => leaf_item().prop_map(|(k, v)| format!("{k}={}", keyval_value(&v))),
        1 => select(vec![
            "driver=test-leaf",
            "driver=test-leaf-nohotplug",
            "qom-type=test-backend",
            "id=d9",
            "id=9x",
            "bus=pci.0",
            "help",
            "?",
            "help=on",
            "x-fail-realize",
            "nox-fail-realize",
            "host=/a,,b",
            "host=,,",
            "token=a,,,,b",
            "x-offset=1,,2",
            "nope=1",
            "x-offset=70000",
            "display=maybe",
            "",
            "=",
            "window=4k",
            "fd=-1",
        ])
        .prop_map(str::to_owned),
    ]
}

/// A keyval argument aimed at the fast path (see [`streaming_item`]).
fn streaming_spec(first: &'static [&'static str]) -> impl Strategy<Value = String> {
    (
        select(first),
        prop::collection::vec(streaming_item(), 0..10),
    )
        .prop_map(|(f, items)| {
            let mut s = f.to_owned();
            for i in items {
                s.push(',');
                s.push_str(&i);
            }
            s
        })
}

/// The fast path of `instantiate_spec`, where it answers, gives what the
/// general path (`Spec::parse` + `instantiate`) gives; `instantiate_spec`
/// agrees with the general path everywhere. Returns whether the fast
/// path answered.
fn streaming_is_general(kind: SpecKind, spec: &str) -> Result<bool, TestCaseError> {
    let tree = populated_tree();
    let general = Spec::parse(kind, spec).and_then(|parsed| parsed.instantiate(&tree));
    let streamed = qomgen::__private::instantiate_streaming(&tree, kind, spec);
    let answered = streamed.is_some();
    if let Some(fast) = streamed {
        let Ok(general) = &general else {
            return Err(TestCaseError::fail(format!(
                "{spec:?}: the fast path succeeded, the general path failed"
            )));
        };
        same_instance_values(&fast, general, spec)?;
    }
    let via = tree.instantiate_spec(kind, spec);
    same_instances(&via, &general, spec)?;
    drop(tree);
    take_events();
    Ok(answered)
}

const STREAMING_FIRST: &[&str] = &[
    "test-leaf",
    "test-leaf",
    "test-leaf-nohotplug",
    "driver=test-leaf",
    "test-leaf,,x",
    "test-backend",
    "test-lea",
    "id=d1",
    "help",
    "",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn instantiate_spec_fast_path_is_general_path_device(s in streaming_spec(STREAMING_FIRST)) {
        streaming_is_general(SpecKind::Device, &s)?;
    }

    #[test]
    fn instantiate_spec_fast_path_is_general_path_object(
        s in prop_oneof![
            2 => streaming_spec(STREAMING_FIRST),
            1 => backend_spec(),
            2 => prop::collection::vec(
                select(vec![
                    "id=b", "id=9x", "window=4k", "window=x", "fd=-1", "fd=a",
                    "x-fail-complete", "bus=x", "qom-type=test-backend",
                    "qom-type=test-internal-object", "help", "driver=x",
                ]),
                0..6,
            )
            .prop_map(|items| format!("test-backend,{}", items.join(","))),
        ],
    ) {
        streaming_is_general(SpecKind::Object, &s)?;
    }
}

/// The fast path answers for plain specs (else the property above would
/// compare nothing) and leaves the unusual ones to the general path.
#[test]
fn instantiate_spec_fast_path_takes_plain_specs_only() {
    let fast = |kind, spec: &str| streaming_is_general(kind, spec).unwrap();
    let d = SpecKind::Device;
    for plain in [
        "test-leaf",
        "test-leaf,id=d1,host=/x,x-offset=3,display=on,backend=be,bus=pci.0",
        "driver=test-leaf,x-fail-realize,host=/a,,b,id=d1",
        "test-leaf-nohotplug,buffer-size=1.5G,weight=0x10,token=t",
    ] {
        assert!(fast(d, plain), "{plain:?}");
    }
    assert!(fast(
        SpecKind::Object,
        "test-backend,id=b,window=4k,x-fail-complete"
    ));
    // `bus` is a property like any other for `-object`.
    assert!(!fast(SpecKind::Object, "test-backend,id=b,bus=x"));
    for unusual in [
        // A repeated key, a second type, help, a bad id after a good
        // property and after a bad one, a failing property, no type first.
        "test-leaf,x-offset=1,host=/x,x-offset=2",
        "test-leaf,host=/x,driver=test-leaf",
        "test-leaf,help",
        "test-leaf,host=/x,id=9x",
        "test-leaf,x-offset=70000,id=9x",
        "test-leaf,x-offset=70000",
        "test-leaf,nope=1",
        "host=/x,driver=test-leaf",
        "test-backend,id=b",
        "{\"driver\":\"test-leaf\"}",
        "",
    ] {
        assert!(!fast(d, unusual), "{unusual:?}");
    }
}

/// Bytes that look like requests often enough to reach the commands.
fn qmp_input() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"{'execute': ".to_vec()),
        Just(b"'qom-list', 'arguments': {'path': '/'}}".to_vec()),
        Just(b"\"id\": [1, {\"a\": null}], ".to_vec()),
        Just(b"'query-version'}".to_vec()),
        Just(b"{]\n".to_vec()),
        Just(b"'\\u12".to_vec()),
        prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(config())]

    /// The fuzz target's property (fuzz/fuzz_targets/qmp.rs) in CI:
    /// no input panics or ends the session, and how the input is cut
    /// into reads does not change the replies.
    #[test]
    fn qmp_any_input_any_cut(input in qmp_input(), piece in 1usize..17) {
        let replies = |piece| qomgen_tests::qmp_replies(&mut ObjectTree::new(), &input, piece);
        prop_assert_eq!(replies(input.len()), replies(piece));
    }
}
