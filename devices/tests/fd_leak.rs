//! No descriptor leaks on the failure paths a fake host reaches: 1,000
//! rounds of creating an iommufd object, a `device_add` that fails at one of
//! several stages (some after descriptors were opened), and deleting the
//! object; and 1,000 rounds of setting and dropping `fd=` values. Open
//! descriptors are counted through `/proc/self/fd` before and after.
//!
//! On a fake host the legacy path cannot get past the group: its status
//! ioctl fails with `ENOTTY` on the regular file standing in for
//! `/dev/vfio/<N>`, so `/dev/vfio/vfio` is never opened there. The most
//! descriptors a failing attempt holds here are on the iommufd path: the
//! device cdev (or its `fd=` duplicates) and `/dev/iommu`, when the bind
//! ioctl fails.
//!
//! 1,000 realize + unrealize cycles of a device that actually attaches
//! need a real kernel with a VFIO device; that cycle runs in the vfio-vm
//! guest (another engineer's test), not here.
//!
//! The tests are serialised: a test opening files on another thread would
//! change the count.

mod common;

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;

use common::{mdev, mkdir, node, open_fds, pci_cdev_entry, pci_device, write};
use qomgen::{Input, ObjectTree};
use qomgen_devices::attach::BackendPolicy;
use qomgen_devices::host::Host;
use qomgen_devices::models::iommufd::IommufdBackend;

static SERIAL: Mutex<()> = Mutex::new(());

const ROUNDS: usize = 1000;
const CCW_UUID: &str = "6dfd3ec5-e8b3-4e18-a6fe-57bc9eceb920";
const AP_UUID: &str = "4b0818b4-3fdb-4ec3-a0b1-0d1e4e5b0e11";

/// The fake host every round runs against:
/// * `0000:00:01.0`: group 5, `/dev/vfio/5` and `/dev/vfio/vfio` as files
///   (legacy path: group fd opened, status ioctl fails);
/// * `0000:00:02.0`: cdev `vfio0` with `/dev/vfio/devices/vfio0` as a file
///   (iommufd path: cdev and `/dev/iommu` opened, bind fails);
/// * `0000:00:03.0`: cdev `vfio1` listed in sysfs, node missing;
/// * `0000:00:04.0`: no IOMMU group;
/// * a vfio-ccw mdev (group 7, node a file) and a vfio-ap mdev (group 9).
fn build(root: &std::path::Path) {
    pci_device(root, "0000:00:01.0", Some(5));
    node(root, "vfio/5");
    node(root, "vfio/vfio");
    pci_device(root, "0000:00:02.0", Some(6));
    pci_cdev_entry(root, "0000:00:02.0", "vfio0", "511:0\n");
    node(root, "vfio/devices/vfio0");
    pci_device(root, "0000:00:03.0", Some(8));
    pci_cdev_entry(root, "0000:00:03.0", "vfio1", "511:1\n");
    pci_device(root, "0000:00:04.0", None);
    node(root, "iommu");
    let sch = "sys/devices/css0/0.0.0313";
    mkdir(root, sch);
    write(root, &format!("{sch}/pimpampom"), "80 80 ff\n");
    write(root, &format!("{sch}/chpids"), "00 00 00 00 00 00 00 00 \n");
    common::link(
        root,
        "sys/bus/css/devices/0.0.0313",
        "../../../devices/css0/0.0.0313",
    );
    mdev(root, sch, CCW_UUID, Some(7));
    node(root, "vfio/7");
    mdev(root, "sys/devices/vfio_ap/matrix", AP_UUID, Some(9));
    node(root, "vfio/9");
}

/// A descriptor of a regular file, to pass by `fd=`.
fn file_fd(root: &std::path::Path) -> OwnedFd {
    let p = root.join("passed");
    File::create(&p).unwrap();
    OwnedFd::from(File::options().read(true).write(true).open(p).unwrap())
}

/// The failing `device_add`s, each with the start of its expected message.
fn failures(passed: i32) -> Vec<(String, String)> {
    let enotty = "Inappropriate ioctl for device";
    vec![
        // Before anything is opened.
        ("vfio-pci".into(), "No provided host device".into()),
        (
            "vfio-pci,host=0000:00:04.0".into(),
            "vfio 0000:00:04.0: no iommu_group found".into(),
        ),
        // Legacy: the group fd is open when the status ioctl fails.
        (
            "vfio-pci,host=0000:00:01.0".into(),
            format!("vfio 0000:00:01.0: failed to get group 5 status: {enotty}"),
        ),
        // iommufd: cdev missing after the sysfs walk.
        (
            "vfio-pci,host=0000:00:03.0,iommufd=io".into(),
            "vfio 0000:00:03.0: vfio /sys/bus/pci/devices/0000:00:03.0/vfio-dev: Failed to open"
                .into(),
        ),
        // iommufd: cdev and /dev/iommu open when the bind fails.
        (
            "vfio-pci,host=0000:00:02.0,iommufd=io".into(),
            "vfio 0000:00:02.0: error bind device fd=".into(),
        ),
        // fd=: two duplicates of the passed descriptor and /dev/iommu open.
        (
            format!("vfio-pci,id=d0,iommufd=io,fd={passed}"),
            "vfio d0: error bind device fd=".into(),
        ),
        // fd= refused after the duplicate was taken.
        (
            format!("vfio-pci,fd={passed}"),
            "Use FD passing only with iommufd backend".into(),
        ),
        (
            format!("vfio-ccw,sysfsdev=/sys/bus/mdev/devices/{CCW_UUID}"),
            format!("failed to get group 7 status: {enotty}"),
        ),
        (
            format!("vfio-ccw,sysfsdev=/sys/bus/mdev/devices/{CCW_UUID},iommufd=io,fd={passed}"),
            "error bind device fd=".into(),
        ),
        (
            format!("vfio-ap,sysfsdev=/sys/bus/mdev/devices/{AP_UUID}"),
            format!("vfio {AP_UUID}: failed to get group 9 status: {enotty}"),
        ),
        (
            format!("vfio-ap,id=ap0,iommufd=io,fd={passed}"),
            "vfio ap0: error bind device fd=".into(),
        ),
    ]
}

fn one_round(tree: &mut ObjectTree, spec: &str, expected: &str) {
    tree.object_add("iommufd,id=io").unwrap();
    let e = tree.device_add(spec).unwrap_err();
    assert!(
        e.message().starts_with(expected),
        "{spec}: {} (expected {expected}…)",
        e.message()
    );
    assert_eq!(
        tree.len(),
        1,
        "{spec}: only the iommufd object is in the tree"
    );
    {
        let obj = tree.object("io").unwrap().borrow();
        let b = obj.downcast_ref::<IommufdBackend>().unwrap();
        assert_eq!((b.users(), b.iommufd().is_some()), (0, false), "{spec}");
    }
    tree.del_object("io").unwrap();
    assert!(tree.is_empty());
}

#[test]
fn failing_device_add_leaks_no_descriptor() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::assert_registry_complete();
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let passed = file_fd(dir.path());
    let cases = failures(passed.as_raw_fd());
    let mut tree = ObjectTree::new();
    tree.set_resource(Host::fake(dir.path()));

    // One warm-up pass so anything initialised once is not counted.
    for (spec, expected) in &cases {
        one_round(&mut tree, spec, expected);
    }
    let before = open_fds();
    for i in 0..ROUNDS {
        let (spec, expected) = &cases[i % cases.len()];
        one_round(&mut tree, spec, expected);
    }
    assert_eq!(
        open_fds(),
        before,
        "descriptors leaked over {ROUNDS} rounds"
    );
}

#[test]
fn failing_device_add_with_a_private_iommufd_leaks_no_descriptor() {
    // Policy auto, no link: realize opens /dev/iommu itself, then the bind fails.
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let mut tree = ObjectTree::new();
    tree.set_resource(Host::fake(dir.path()));
    tree.set_resource(BackendPolicy::Auto);
    let spec = "vfio-pci,host=0000:00:02.0";
    let round = |tree: &mut ObjectTree| {
        let e = tree.device_add(spec).unwrap_err();
        assert!(
            e.message()
                .starts_with("vfio 0000:00:02.0: error bind device fd="),
            "{}",
            e.message()
        );
        assert!(tree.is_empty());
    };
    round(&mut tree);
    let before = open_fds();
    for _ in 0..ROUNDS {
        round(&mut tree);
    }
    assert_eq!(open_fds(), before);
}

#[test]
fn setting_and_dropping_fd_values_leaks_no_descriptor() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::assert_registry_complete();
    let dir = tempfile::tempdir().unwrap();
    node(dir.path(), "iommu");
    let real = File::open("/dev/null").unwrap();
    let mut tree = ObjectTree::new();
    tree.set_resource(Host::fake(dir.path()));

    let round = |tree: &mut ObjectTree| {
        // A fresh duplicate of a real descriptor each round, closed at the end.
        let dup = OwnedFd::from(real.try_clone().unwrap());
        let n = dup.as_raw_fd().to_string();
        for ty in ["vfio-pci", "vfio-ccw", "vfio-ap"] {
            let mut inst = tree.instantiate(ty).unwrap();
            tree.set(&mut inst, "fd", Input::Str(&n)).unwrap();
            // Set again: the first duplicate is replaced and must close.
            tree.set(&mut inst, "fd", Input::Str(&n)).unwrap();
            // A bad value leaves the current one in place.
            assert!(tree.set(&mut inst, "fd", Input::Str("x")).is_err());
            drop(inst);
        }
        // An iommufd object that takes the descriptor, then goes.
        tree.object_add(&format!("iommufd,id=io,fd={n}")).unwrap();
        tree.del_object("io").unwrap();
        // And one that is dropped with the tree's other contents.
        tree.object_add(&format!("iommufd,id=io2,fd={n}")).unwrap();
        tree.clear();
        assert!(tree.is_empty());
        drop(dup);
    };
    round(&mut tree);
    let before = open_fds();
    for _ in 0..ROUNDS {
        round(&mut tree);
    }
    assert_eq!(open_fds(), before);
}
