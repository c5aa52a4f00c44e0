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

/// What one failure path does: a `-device` or an `-object`, or another call.
#[derive(Clone, Copy)]
enum Attempt {
    Device(&'static str),
    Object(&'static str),
    Call(fn(&mut ObjectTree) -> qomgen::Result<()>),
}

use Attempt::{Call, Device, Object};

impl Attempt {
    fn run(self, tree: &mut ObjectTree) -> qomgen::Result<()> {
        match self {
            Device(spec) => tree.device_add(spec).map(drop),
            Object(spec) => tree.object_add(spec).map(drop),
            Call(f) => f(tree),
        }
    }
}

/// A failure path, and the start of the message it must give (so that a
/// cycle cannot pass by failing for the wrong reason).
type Failure = (&'static str, Attempt);

/// Every way a create/set/realize/unrealize can fail, each leaving the tree
/// as it was: one runs per cycle, in turn. `d0` (a realized `test-leaf`
/// linked to backend `be`) and `be` exist while they run.
const FAILURES: &[Failure] = &[
    (
        "'test-leef' is not a valid device model name",
        Device("test-leef,host=/x"),
    ),
    (
        "Property 'test-leaf.hots' not found",
        Device("test-leaf,hots=/x"),
    ),
    (
        "Parameter 'x-offset' expects uint16_t",
        Device("test-leaf,host=/x,x-offset=70000"),
    ),
    (
        "Parameter 'x-offset' expects integer",
        Device("test-leaf,host=/x,x-offset=many"),
    ),
    (
        "Parameter 'display' does not accept value 'maybe'",
        Device("test-leaf,host=/x,display=maybe"),
    ),
    (
        "Parameter 'buffer-size' expects size",
        Device("test-leaf,host=/x,buffer-size=1Q"),
    ),
    (
        "Property 'test-leaf.busnr' is not writable",
        Device("test-leaf,host=/x,busnr=3"),
    ),
    (
        "Property x-clique: valid range 0-15",
        Device("test-leaf,host=/x,x-clique=16"),
    ),
    ("No provided host device", Device("test-leaf,id=d1")),
    (
        "realize refused",
        Device("test-leaf,id=d1,host=/x,x-fail-realize=on"),
    ),
    // The parent's realize fails, after the parent part was set.
    (
        "ROM size 3 is not a power of two",
        Device("test-leaf,host=/x,romsize=3"),
    ),
    (
        "Parameter 'id' expects an identifier",
        Device("test-leaf,id=9x,host=/x"),
    ),
    (
        "Duplicate ID 'd0' for device",
        Device("test-leaf,id=d0,host=/x"),
    ),
    (
        "Bus 'pci.0' not found",
        Device("test-leaf,host=/x,bus=pci.0"),
    ),
    (
        "device_add creates; it does not print help",
        Device("test-leaf,help"),
    ),
    (
        "Parameter 'driver' expects a non-abstract device type",
        Device("test-bus-device"),
    ),
    (
        "Parameter 'driver' expects a pluggable device type",
        Device("test-builtin"),
    ),
    ("Parameter 'driver' is missing", Device("id=d2")),
    ("Device 'nope' not found", Device("test-leaf,backend=nope")),
    (
        "Invalid parameter type for 'backend', expected: test-backend",
        Device("test-leaf,backend=d0"),
    ),
    (
        "Parameter 'x-offset' expects uint64",
        Device(r#"{"driver":"test-leaf","host":"/x","x-offset":"1"}"#),
    ),
    ("JSON parse error", Device(r#"{"driver":"test-leaf","#)),
    // Objects: a failing `complete` must drop the backend it built.
    (
        "can't create backend: refused",
        Object("test-backend,id=be2,x-fail-complete=on"),
    ),
    ("Duplicate ID 'be' for object", Object("test-backend,id=be")),
    (
        "Could not parse object fd abc",
        Object("test-backend,id=be2,fd=abc"),
    ),
    (
        "Invalid parameter 'bogus'",
        Object("test-backend,id=be2,bogus=1"),
    ),
    ("Parameter 'id' is missing", Object("test-backend")),
    (
        "Parameter 'qom-type' does not accept value 'test-leaf'",
        Object("test-leaf,id=x"),
    ),
    // Lifecycle rules on what is in the tree.
    (
        "object 'be' is in use, can not be deleted",
        Call(|t| t.del_object("be")),
    ),
    (
        "Attempt to set property 'host' on device 'd0' (type 'test-leaf') after it was realized",
        Call(|t| t.set_device_property("d0", "host", Input::Str("/y"))),
    ),
    (
        "Parameter 'weight' expects integer",
        Call(|t| t.set_device_property("d0", "weight", Input::Str("heavy"))),
    ),
    ("Device 'nope' not found", Call(|t| t.del_device("nope"))),
    ("object 'nope' not found", Call(|t| t.del_object("nope"))),
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
        let err = fail.run(&mut tree).expect_err(expected);
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
