//! Link properties against QEMU's rules: a link value resolves by the
//! link's type first (`object_resolve_link`), a target may be busy or be
//! the device itself, an empty value clears the link, and a device leaving
//! the tree lets go of what it links to. `Peer` lives in this test binary only, so the
//! registry-wide snapshots do not see it.

use std::cell::Cell;
use std::rc::Rc;
use std::thread::LocalKey;

use qomgen::{Device, DeviceImpl, Input, Link, ObjectTree};
use qomgen_tests::{Counted, Leaf, LiveCount, take_events};

thread_local! {
    /// Live `Peer` devices, to prove a deleted one is dropped.
    static LIVE_PEERS: Cell<usize> = const { Cell::new(0) };
}

/// Counts live peers in [`LIVE_PEERS`].
#[derive(Debug)]
struct Peers;

impl LiveCount for Peers {
    const COUNT: &'static LocalKey<Cell<usize>> = &LIVE_PEERS;
}

/// A device that links to another of its type after realize, itself
/// included; the field is a bare `Link`, where the fixtures use `Option`.
#[derive(Device, Debug)]
#[device(name = "test-peer", no_desc)]
struct Peer {
    #[prop(link = "test-peer", set_after_realize)]
    peer: Link<Peer>,
    _counted: Counted<Peers>,
}

impl DeviceImpl for Peer {}

fn live_peers() -> usize {
    LIVE_PEERS.with(Cell::get)
}

fn msg(r: qomgen::Result<impl Sized>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.message().to_owned(),
    }
}

/// The object `dev`'s `backend` link points at, if any.
fn backend_of(dev: &qomgen::ObjRef) -> Option<qomgen::ObjRef> {
    let obj = dev.borrow();
    let leaf = obj.downcast_ref::<Leaf>().unwrap();
    leaf.backend.as_ref().and_then(|l| l.object().cloned())
}

#[test]
fn a_bare_id_resolves_to_the_object_of_the_links_type() {
    let mut tree = ObjectTree::new();
    tree.object_add("test-backend,id=b0").unwrap();
    tree.device_add("test-leaf,id=b0,host=x").unwrap();
    // `b0` names a backend and a leaf; the link wants a backend.
    let dev = tree.device_add("test-leaf,id=l2,backend=b0").unwrap();
    let target = backend_of(&dev).unwrap();
    assert!(Rc::ptr_eq(&target, tree.object("b0").unwrap()));
    assert_eq!(
        msg(tree.resolve_path("b0")),
        "Path 'b0' does not uniquely identify an object"
    );
}

#[test]
fn link_resolution_follows_object_resolve_link() {
    let mut tree = ObjectTree::new();
    // An object and a device named `x`, neither a backend.
    let internal = tree.instantiate("test-internal-object").unwrap();
    tree.add_object(internal, "x").unwrap();
    tree.device_add("test-leaf,id=x,host=h").unwrap();
    // Nothing of the link's type; QEMU's untyped look finds two, which
    // means a wrong type, not an ambiguous path.
    for (spec, expected) in [
        (
            "test-leaf,backend=x",
            "Invalid parameter type for 'backend', expected: test-backend",
        ),
        (
            "test-leaf,backend=/objects/x",
            "Invalid parameter type for 'backend', expected: test-backend",
        ),
        (
            "test-leaf,backend=/machine/peripheral/x",
            "Invalid parameter type for 'backend', expected: test-backend",
        ),
        (
            "test-leaf,backend=/objects/nope",
            "Device '/objects/nope' not found",
        ),
    ] {
        assert_eq!(msg(tree.device_add(spec)), expected, "{spec}");
    }
    // Two of the link's type: ambiguous.
    assert_eq!(
        msg(tree.resolve_link("x", "peer", "object")),
        "Path 'x' does not uniquely identify an object"
    );
    let by_type = tree.resolve_link("x", "peer", "device").unwrap();
    assert!(Rc::ptr_eq(&by_type, tree.device("x").unwrap()));
    assert_eq!(
        msg(tree.resolve_link("y", "peer", "object")),
        "Device 'y' not found"
    );
    // Failures registered nothing.
    assert_eq!(tree.len(), 2);
}

#[test]
fn a_busy_target_is_an_error_not_a_panic() {
    take_events();
    let mut tree = ObjectTree::new();
    tree.object_add("test-backend,id=b0").unwrap();
    let b0 = tree.object("b0").unwrap().clone();
    let guard = b0.borrow_mut();
    // Resolving reads the type from the tree; the leaf's realize then
    // borrows the backend, which `Link::borrow` reports.
    assert_eq!(
        msg(tree.device_add("test-leaf,id=d,backend=b0")),
        "object 'b0' is busy"
    );
    drop(guard);
    assert!(tree.device("d").is_none());
    tree.device_add("test-leaf,id=d,backend=b0").unwrap();
}

#[test]
fn a_device_links_to_itself_after_realize() {
    let mut tree = ObjectTree::new();
    let p1 = tree.device_add("test-peer,id=p1").unwrap();
    // `set_device_property` holds `p1` mutably while the link resolves to it.
    tree.set_device_property("p1", "peer", Input::Str("p1"))
        .unwrap();
    let obj = p1.borrow();
    let peer = obj.downcast_ref::<Peer>().unwrap();
    assert!(Rc::ptr_eq(peer.peer.object().unwrap(), &p1));
    assert_eq!(
        ObjectTree::get(&**obj, "peer").unwrap(),
        serde_json::json!("p1")
    );
}

#[test]
fn an_empty_value_clears_the_link() {
    let mut tree = ObjectTree::new();
    tree.object_add("test-backend,id=b0").unwrap();
    let l4 = tree.device_add("test-leaf,id=l4,host=x,backend=").unwrap();
    assert!(backend_of(&l4).is_none());
    let l5 = tree
        .device_add(r#"{"driver": "test-leaf", "id": "l5", "host": "x", "backend": ""}"#)
        .unwrap();
    assert!(backend_of(&l5).is_none());

    // Set, then cleared: the `Option` field is `None`, not `Some(unset)`.
    let mut inst = tree.instantiate("test-leaf").unwrap();
    let linked = |inst: &qomgen::Instance| {
        let leaf = inst.object().downcast_ref::<Leaf>().unwrap();
        leaf.backend.is_some()
    };
    tree.set(&mut inst, "backend", Input::Str("b0")).unwrap();
    assert!(linked(&inst));
    tree.set(&mut inst, "backend", Input::Str("")).unwrap();
    assert!(!linked(&inst));

    // A bare `Link`, cleared after realize.
    let p = tree.device_add("test-peer,id=p").unwrap();
    tree.set_device_property("p", "peer", Input::Str("p"))
        .unwrap();
    tree.set_device_property("p", "peer", Input::Json(&serde_json::json!("")))
        .unwrap();
    let obj = p.borrow();
    let peer = obj.downcast_ref::<Peer>().unwrap();
    assert!(!peer.peer.is_set() && peer.peer.path().is_none());
    assert_eq!(
        ObjectTree::get(&**obj, "peer").unwrap(),
        serde_json::json!("")
    );
}

#[test]
fn deleted_devices_let_go_of_their_links() {
    let live = live_peers();
    let mut tree = ObjectTree::new();
    tree.device_add("test-peer,id=p1").unwrap();
    tree.set_device_property("p1", "peer", Input::Str("p1"))
        .unwrap();
    tree.del_device("p1").unwrap();
    assert_eq!(live_peers(), live, "its link to itself kept p1 alive");

    // A cycle: each keeps the other alive until both are deleted.
    tree.device_add("test-peer,id=a").unwrap();
    tree.device_add("test-peer,id=b,peer=a").unwrap();
    tree.set_device_property("a", "peer", Input::Str("b"))
        .unwrap();
    tree.del_device("a").unwrap();
    assert_eq!(live_peers(), live + 2, "b still links to a");
    tree.del_device("b").unwrap();
    assert_eq!(live_peers(), live, "the cycle kept a and b alive");

    // The same when the tree goes.
    tree.device_add("test-peer,id=c").unwrap();
    tree.set_device_property("c", "peer", Input::Str("c"))
        .unwrap();
    drop(tree);
    assert_eq!(live_peers(), live);
}
