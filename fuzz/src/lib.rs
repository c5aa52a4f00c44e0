//! What the fuzz targets share: the fixture types kept in the binary, a
//! tree to work on, the invariants a failed creation must keep, and the
//! value kinds by number.

use std::cell::Cell;
use std::hint::black_box;

use qomgen::{
    CcwLoadparm, CssDevId, ObjectTree, ObjectType, OffAutoPciBar, OnOffAuto, PciDevfn,
    PciHostAddress, PropertyKind, QemuUuid, Size, Size32, SpecKind, ValueCx,
};
use qomgen_tests::{
    Backend, Builtin, BusDevice, InternalObject, LIVE_BACKENDS, Leaf, LeafNoHotplug, take_events,
};
use serde_json::Value;

/// Refers to every fixture type, so that the linker keeps their
/// registrations (an object file nothing refers to is dropped with them).
pub fn keep_fixture_types() {
    for t in [
        Backend::TYPE_INFO,
        InternalObject::TYPE_INFO,
        BusDevice::TYPE_INFO,
        Leaf::TYPE_INFO,
        LeafNoHotplug::TYPE_INFO,
        Builtin::TYPE_INFO,
    ] {
        black_box(t);
    }
}

/// A tree with backend `be` and device `d0` linked to it.
pub fn populated_tree() -> ObjectTree {
    keep_fixture_types();
    let mut tree = ObjectTree::new();
    tree.object_add("test-backend,id=be").expect("backend");
    tree.device_add("test-leaf,id=d0,backend=be")
        .expect("device");
    tree
}

/// Adds `spec`; a success adds one entry, a failure changes nothing and
/// drops whatever it built.
pub fn add_all_or_nothing(tree: &mut ObjectTree, kind: SpecKind, spec: &str) {
    let (len, live) = (tree.len(), LIVE_BACKENDS.with(Cell::get));
    let result = match kind {
        SpecKind::Device => tree.device_add(spec),
        SpecKind::Object => tree.object_add(spec),
    };
    match result {
        Ok(_) => assert_eq!(tree.len(), len + 1, "{spec:?}"),
        Err(e) => {
            assert!(!e.message().is_empty(), "{spec:?}");
            assert_eq!(
                tree.len(),
                len,
                "{spec:?} failed ({e}) but changed the tree"
            );
            assert_eq!(LIVE_BACKENDS.with(Cell::get), live, "{spec:?} leaked ({e})");
        }
    }
    take_events();
}

/// `parse` then `parse(print(x)) == x`; `from_json` then
/// `from_json(to_json(x)) == x`.
fn check<K: PropertyKind + PartialEq + std::fmt::Debug>(s: &str, j: Option<&Value>) {
    let cx = ValueCx::new("fuzz-type", "prop");
    if let Ok(x) = K::parse(s, &cx) {
        let p = x.print();
        assert_eq!(
            K::parse(&p, &cx).ok().as_ref(),
            Some(&x),
            "{s:?} printed {p:?}"
        );
        assert_eq!(
            K::from_json(&x.to_json(), &cx).ok().as_ref(),
            Some(&x),
            "{s:?}"
        );
    }
    if let Some(j) = j
        && let Ok(x) = K::from_json(j, &cx)
    {
        assert_eq!(
            K::from_json(&x.to_json(), &cx).ok().as_ref(),
            Some(&x),
            "{j}"
        );
    }
}

/// Number of value kinds [`check_kind`] knows.
pub const KINDS: u8 = 20;

/// Runs kind number `k` (modulo [`KINDS`]) on a keyval string and, if given,
/// a JSON value.
pub fn check_kind(k: u8, s: &str, j: Option<&Value>) {
    match k % KINDS {
        0 => check::<bool>(s, j),
        1 => check::<u8>(s, j),
        2 => check::<u16>(s, j),
        3 => check::<u32>(s, j),
        4 => check::<u64>(s, j),
        5 => check::<i8>(s, j),
        6 => check::<i16>(s, j),
        7 => check::<i32>(s, j),
        8 => check::<i64>(s, j),
        9 => check::<usize>(s, j),
        10 => check::<Size>(s, j),
        11 => check::<Size32>(s, j),
        12 => check::<OnOffAuto>(s, j),
        13 => check::<OffAutoPciBar>(s, j),
        14 => check::<PciHostAddress>(s, j),
        // PciDevfn::AUTO has no keyval spelling (`-1` is refused, as by
        // QEMU), and no string parses to it, so the check holds.
        15 => check::<PciDevfn>(s, j),
        16 => check::<CssDevId>(s, j),
        17 => check::<CcwLoadparm>(s, j),
        18 => check::<QemuUuid>(s, j),
        _ => check::<Option<u32>>(s, j),
    }
}
