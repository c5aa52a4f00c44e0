//! Soak: 10,000 create → set → realize → (set) → unrealize cycles on the
//! fixture types, each cycle also taking one of the failure paths in turn.
//! At the end nothing may have leaked: the open descriptors
//! (`/proc/self/fd`), the size of the object tree and the count of live
//! backends are back where they started.
//!
//! One test in this file on purpose: the descriptor count is per process,
//! so another test running in parallel would disturb it.

use std::cell::Cell;

use qomgen::{Input, ObjectTree};
use qomgen_tests::{LIVE_BACKENDS, Leaf, take_events};

const CYCLES: usize = 10_000;

fn live_backends() -> usize {
    LIVE_BACKENDS.with(Cell::get)
}

/// Open descriptors of this process (the directory handle that reads them
/// is open during both counts, so it cancels out).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// What one failure path does, and the start of the message it must give
/// (so that a cycle cannot pass by failing for the wrong reason).
type Failure = (&'static str, fn(&mut ObjectTree) -> qomgen::Result<()>);

/// Every way a create/set/realize/unrealize can fail, each leaving the tree
/// as it was: one runs per cycle, in turn. `d0` (a realized `test-leaf`
/// linked to backend `be`) and `be` exist while they run.
const FAILURES: &[Failure] = &[
    ("'test-leef' is not a valid device model name", |t| {
        t.device_add("test-leef,host=/x").map(drop)
    }),
    ("Property 'test-leaf.hots' not found", |t| {
        t.device_add("test-leaf,hots=/x").map(drop)
    }),
    ("Parameter 'x-offset' expects uint16_t", |t| {
        t.device_add("test-leaf,host=/x,x-offset=70000").map(drop)
    }),
    ("Parameter 'x-offset' expects integer", |t| {
        t.device_add("test-leaf,host=/x,x-offset=many").map(drop)
    }),
    ("Parameter 'display' does not accept value 'maybe'", |t| {
        t.device_add("test-leaf,host=/x,display=maybe").map(drop)
    }),
    ("Parameter 'buffer-size' expects size", |t| {
        t.device_add("test-leaf,host=/x,buffer-size=1Q").map(drop)
    }),
    ("Property 'test-leaf.busnr' is not writable", |t| {
        t.device_add("test-leaf,host=/x,busnr=3").map(drop)
    }),
    ("Property x-clique: valid range 0-15", |t| {
        t.device_add("test-leaf,host=/x,x-clique=16").map(drop)
    }),
    ("No provided host device", |t| {
        t.device_add("test-leaf,id=d1").map(drop)
    }),
    ("realize refused", |t| {
        t.device_add("test-leaf,id=d1,host=/x,x-fail-realize=on")
            .map(drop)
    }),
    // The parent's realize fails, after the parent part was set.
    ("ROM size 3 is not a power of two", |t| {
        t.device_add("test-leaf,host=/x,romsize=3").map(drop)
    }),
    ("Parameter 'id' expects an identifier", |t| {
        t.device_add("test-leaf,id=9x,host=/x").map(drop)
    }),
    ("Duplicate ID 'd0' for device", |t| {
        t.device_add("test-leaf,id=d0,host=/x").map(drop)
    }),
    ("Bus 'pci.0' not found", |t| {
        t.device_add("test-leaf,host=/x,bus=pci.0").map(drop)
    }),
    ("device_add creates; it does not print help", |t| {
        t.device_add("test-leaf,help").map(drop)
    }),
    (
        "Parameter 'driver' expects a non-abstract device type",
        |t| t.device_add("test-bus-device").map(drop),
    ),
    ("Parameter 'driver' expects a pluggable device type", |t| {
        t.device_add("test-builtin").map(drop)
    }),
    ("Parameter 'driver' is missing", |t| {
        t.device_add("id=d2").map(drop)
    }),
    ("Device 'nope' not found", |t| {
        t.device_add("test-leaf,backend=nope").map(drop)
    }),
    (
        "Invalid parameter type for 'backend', expected: test-backend",
        |t| t.device_add("test-leaf,backend=d0").map(drop),
    ),
    ("Parameter 'x-offset' expects uint64", |t| {
        t.device_add(r#"{"driver":"test-leaf","host":"/x","x-offset":"1"}"#)
            .map(drop)
    }),
    ("JSON parse error", |t| {
        t.device_add(r#"{"driver":"test-leaf","#).map(drop)
    }),
    // Objects: a failing `complete` must drop the backend it built.
    ("can't create backend: refused", |t| {
        t.object_add("test-backend,id=be2,x-fail-complete=on")
            .map(drop)
    }),
    ("Duplicate ID 'be' for object", |t| {
        t.object_add("test-backend,id=be").map(drop)
    }),
    ("Could not parse object fd abc", |t| {
        t.object_add("test-backend,id=be2,fd=abc").map(drop)
    }),
    ("Invalid parameter 'bogus'", |t| {
        t.object_add("test-backend,id=be2,bogus=1").map(drop)
    }),
    ("Parameter 'id' is missing", |t| {
        t.object_add("test-backend").map(drop)
    }),
    (
        "Parameter 'qom-type' does not accept value 'test-leaf'",
        |t| t.object_add("test-leaf,id=x").map(drop),
    ),
    // Lifecycle rules on what is in the tree.
    ("object 'be' is in use, can not be deleted", |t| {
        t.del_object("be")
    }),
    (
        "Attempt to set property 'host' on device 'd0' (type 'test-leaf') after it was realized",
        |t| t.set_device_property("d0", "host", Input::Str("/y")),
    ),
    ("Parameter 'weight' expects integer", |t| {
        t.set_device_property("d0", "weight", Input::Str("heavy"))
    }),
    ("Device 'nope' not found", |t| t.del_device("nope")),
    ("object 'nope' not found", |t| t.del_object("nope")),
];

#[test]
fn ten_thousand_cycles_leak_nothing() {
    let fds = open_fds();
    let live = live_backends();
    let mut tree = ObjectTree::new();
    let empty = tree.len();
    let mut seen = vec![0usize; FAILURES.len()];

    for i in 0..CYCLES {
        // Successes: a backend object, a device linked to it and set after realize.
        tree.object_add("test-backend,id=be,window=64k").unwrap();
        let dev = tree
            .device_add("test-leaf,id=d0,backend=be,x-offset=3,display=on,weight=1")
            .unwrap();
        assert_eq!(tree.len(), empty + 2);
        tree.set_device_property("d0", "weight", Input::Str("7"))
            .unwrap();
        {
            let obj = dev.borrow();
            let leaf = obj.downcast_ref::<Leaf>().unwrap();
            assert_eq!(
                (leaf.weight, leaf.realized_with.as_deref()),
                (7, Some("window=65536"))
            );
        }
        drop(dev);
        // A device without id in every tenth cycle: it stays until the tree goes.
        if i % 10 == 0 {
            let mut scratch = ObjectTree::new();
            scratch.object_add("test-backend,id=b").unwrap();
            scratch.device_add("test-leaf,backend=b").unwrap();
            scratch
                .device_add(r#"{"driver":"test-leaf-nohotplug","host":"/z","ramfb":true}"#)
                .unwrap();
            assert_eq!(scratch.len(), 3);
            assert_eq!(live_backends(), live + 2);
        }

        // One failure path, in turn; the tree is as it was after it.
        let k = i % FAILURES.len();
        let (expected, fail) = FAILURES[k];
        let err = fail(&mut tree).expect_err(expected);
        assert!(
            err.message().starts_with(expected),
            "cycle {i}: expected {expected:?}, got {err:?}"
        );
        seen[k] += 1;
        assert_eq!(tree.len(), empty + 2, "cycle {i}: {expected}");
        assert_eq!(live_backends(), live + 1, "cycle {i}: {expected}");

        // Unrealize and delete, in dependency order.
        tree.del_device("d0").unwrap();
        tree.del_object("be").unwrap();
        assert_eq!(tree.len(), empty);
        take_events();
    }

    assert!(seen.iter().all(|&n| n > 0), "every failure path ran");
    assert_eq!(tree.len(), empty, "object tree size");
    assert_eq!(live_backends(), live, "live backends");
    drop(tree);
    assert_eq!(live_backends(), live, "live backends after the tree");
    assert_eq!(open_fds(), fds, "open file descriptors");
}
