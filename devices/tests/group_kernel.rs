//! Two devices of one IOMMU group, on the real kernel: `vm/test-real-kernel`'s
//! `group` mode puts two `edu` functions behind a PCIe-to-PCI bridge, which
//! makes the IOMMU group them (with the bridge). The kernel opens a group
//! node once, so both devices must share it (`vfio_legacy_attach_device`);
//! with two devices, migration needs both to support P2P (step 8).
//!
//! ```sh
//! vm/test-real-kernel --mode group
//! ```
//!
//! Every test is `#[ignore]`d ("needs the real-kernel guest"): a plain
//! `cargo test` lists them as ignored. `vm/test-real-kernel` runs them in the
//! guest with `--include-ignored`; there (and anywhere else they are run) a
//! missing `VFIOVM_BDFS` makes each one fail, never pass.

mod common;

use std::sync::{Arc, MutexGuard};

use qomgen::{ObjRef, ObjectTree};
use qomgen_devices::attach::{Attached, Backend, SharedGroup};
use qomgen_devices::models::vfio_ap::VfioAp;
use qomgen_devices::models::vfio_pci::VfioPci;

use common::text;

/// The group's two devices: the first as `GuestDevice` sees it, the second's
/// BDF; and the lock. Panics outside the guest.
fn detect() -> (common::GuestDevice, String, MutexGuard<'static, ()>) {
    assert!(qomgen_devices::models::register().any(|n| n == "vfio-pci"));
    let (g, lock) = common::locked_guest();
    let bdfs = common::guest_bdfs();
    let second = bdfs
        .get(1)
        .unwrap_or_else(|| panic!("group mode binds two devices, VFIOVM_BDFS={bdfs:?}"))
        .clone();
    let group = std::fs::read_link(format!("/sys/bus/pci/devices/{second}/iommu_group"))
        .expect("iommu_group link");
    assert!(
        group.ends_with(g.group.to_string()),
        "{} and {second} are not in one group ({group:?})",
        g.bdf
    );
    (g, second, lock)
}

fn add(tree: &mut ObjectTree, spec: &str) -> ObjRef {
    tree.device_add(spec)
        .unwrap_or_else(|e| panic!("{spec}: {}", text(&e)))
}

/// Deletes each device of `ids` (no reference to it left) from `tree`.
#[track_caller]
fn del_devices(tree: &mut ObjectTree, ids: &[&str]) {
    for id in ids {
        tree.del_device(id)
            .unwrap_or_else(|e| panic!("del_device {id}: {}", text(&e)));
    }
}

/// `device_add(spec)` fails (`what` says which attempt); the error.
#[track_caller]
fn refused(tree: &mut ObjectTree, spec: &str, what: &str) -> qomgen::Error {
    tree.device_add(spec).map(drop).expect_err(what)
}

fn with_attached<R>(dev: &ObjRef, f: impl FnOnce(&Attached) -> R) -> R {
    let d = dev.borrow();
    let a = match (d.downcast_ref::<VfioPci>(), d.downcast_ref::<VfioAp>()) {
        (Some(p), _) => p.attached(),
        (None, Some(ap)) => ap.attached(),
        _ => panic!("not a VFIO device"),
    };
    f(a.expect("attached"))
}

fn group_of(dev: &ObjRef) -> Arc<SharedGroup> {
    with_attached(dev, |a| match a.backend() {
        Backend::Legacy { group, .. } => Arc::clone(group),
        other => panic!("legacy expected, got {other:?}"),
    })
}

/// Vendor id read through the device fd: the device works.
fn vendor(dev: &ObjRef) -> u16 {
    with_attached(dev, |a| {
        let config = &a.regions.last().expect("config region").info;
        let mut id = [0u8; 2];
        a.device()
            .region_read(config, 0, &mut id)
            .expect("config read");
        u16::from_le_bytes(id)
    })
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn both_functions_share_the_group_and_container() {
    let (g, second, _l) = detect();
    let fds = common::open_fds();
    let mut tree = ObjectTree::new();
    let a = add(&mut tree, &format!("vfio-pci,host={},id=a", g.bdf));
    let after_a = common::open_fds();
    let b = add(&mut tree, &format!("vfio-pci,host={second},id=b"));
    // The second device costs its own fd only: group and container are shared.
    assert_eq!(common::open_fds(), after_a + 1);
    let (ga, gb) = (group_of(&a), group_of(&b));
    assert!(Arc::ptr_eq(&ga, &gb));
    assert_eq!(ga.device_names(), [g.bdf.clone(), second.clone()]);
    drop((ga, gb));
    assert_eq!((vendor(&a), vendor(&b)), (0x1234, 0x1234));
    // The first one leaves; the second keeps the group and works on.
    drop(a);
    tree.del_device("a").expect("del_device a");
    assert_eq!(vendor(&b), 0x1234);
    assert_eq!(group_of(&b).device_names(), std::slice::from_ref(&second));
    drop(b);
    tree.del_device("b").expect("del_device b");
    assert_eq!(common::open_fds(), fds, "group or container left open");
    // And in the other order, from two trees of one process.
    let mut other = ObjectTree::new();
    let b = add(&mut other, &format!("vfio-pci,host={second},id=b"));
    let a = add(&mut tree, &format!("vfio-pci,host={},id=a", g.bdf));
    assert!(Arc::ptr_eq(&group_of(&a), &group_of(&b)));
    drop((a, b));
    other.del_device("b").expect("del_device b");
    tree.del_device("a").expect("del_device a");
    assert_eq!(common::open_fds(), fds);
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn discarding_ram_must_be_consistent_within_the_group() {
    let (g, second, _l) = detect();
    let fds = common::open_fds();
    const MSG: &str =
        "Inconsistent setting of support for discarding RAM (e.g., balloon) within group";
    // vfio-ap pins no guest pages (discarding allowed), vfio-pci does.
    // vfio-ap's realize does not check the bus, so a PCI function stands in.
    let ap = |bdf: &str, id: &str| format!("vfio-ap,sysfsdev=/sys/bus/pci/devices/{bdf},id={id}");
    let mut tree = ObjectTree::new();
    let a = add(&mut tree, &format!("vfio-pci,host={},id=a", g.bdf));
    let e = refused(&mut tree, &ap(&second, "b"), "mixed group");
    assert_eq!(text(&e), format!("vfio {second}: {MSG}"));
    assert!(tree.device("b").is_none());
    drop(a);
    tree.del_device("a").expect("del_device a");
    assert_eq!(common::open_fds(), fds);
    let b = add(&mut tree, &ap(&second, "b"));
    let _ = tree.take_warnings();
    let e = refused(
        &mut tree,
        &format!("vfio-pci,host={},id=a", g.bdf),
        "mixed group",
    );
    assert_eq!(text(&e), format!("vfio {}: {MSG}", g.bdf));
    // Two devices that both allow it are fine.
    let c = add(&mut tree, &ap(&g.bdf, "c"));
    drop((b, c));
    del_devices(&mut tree, &["b", "c"]);
    assert_eq!(common::open_fds(), fds);
}

/// A member with no driver claims no DMA, so the kernel still calls the
/// group viable and the other member realizes (a member bound to a DMA
/// driver would make it "not viable"; the guest has no driver for edu,
/// and that path is tested with a planned status in faults_kernel).
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn a_member_without_a_driver_keeps_the_group_viable() {
    let (g, second, _l) = detect();
    let dev = format!("/sys/bus/pci/devices/{second}");
    std::fs::write(format!("{dev}/driver/unbind"), &second).expect("unbind");
    let mut tree = ObjectTree::new();
    let outcome = tree
        .device_add(&format!("vfio-pci,host={},id=a", g.bdf))
        .map(|d| vendor(&d))
        .map_err(|e| text(&e));
    let _ = tree.del_device("a");
    // Rebind before judging, so the other tests find the device as it was.
    std::fs::write("/sys/bus/pci/drivers_probe", &second).expect("drivers_probe");
    let driver = std::fs::read_link(format!("{dev}/driver")).expect("rebound");
    assert!(
        driver.ends_with("vfio-pci"),
        "{second} rebound to {driver:?}"
    );
    assert_eq!(outcome, Ok(0x1234), "with {second} unbound");
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn iommufd_binds_each_function_but_not_while_the_group_is_open() {
    let (g, second, _l) = detect();
    if !g.full() {
        return g.assert_iommufd_refused();
    }
    let fds = common::open_fds();
    let mut tree = ObjectTree::new();
    tree.object_add("iommufd,id=io0").expect("object_add");
    let a = add(
        &mut tree,
        &format!("vfio-pci,host={},iommufd=io0,id=a", g.bdf),
    );
    let b = add(
        &mut tree,
        &format!("vfio-pci,host={second},iommufd=io0,id=b"),
    );
    let devid = |d: &ObjRef| {
        with_attached(d, |a| match a.backend() {
            Backend::Iommufd { devid, .. } => *devid,
            other => panic!("iommufd expected, got {other:?}"),
        })
    };
    assert_ne!(devid(&a), devid(&b));
    // One IOAS for the backend, and one HWPT: the kernel gives a group one
    // domain, so the second function joins the first one's.
    let placed = |d: &ObjRef| {
        with_attached(d, |a| match a.backend() {
            Backend::Iommufd { ioas, hwpt, .. } => (*ioas, *hwpt),
            other => panic!("iommufd expected, got {other:?}"),
        })
    };
    assert_eq!(placed(&a), placed(&b));
    assert_eq!((vendor(&a), vendor(&b)), (0x1234, 0x1234));
    drop((a, b));
    del_devices(&mut tree, &["a", "b"]);
    // The group open through the legacy path: the kernel will not bind the
    // other function's cdev (it would escape the container's isolation).
    let a = add(&mut tree, &format!("vfio-pci,host={},id=a", g.bdf));
    let e = refused(
        &mut tree,
        &format!("vfio-pci,host={second},iommufd=io0,id=b"),
        "bind while the group is open",
    );
    assert!(
        e.message()
            .starts_with(&format!("vfio {second}: error bind device fd="))
            && e.message().ends_with(": Device or resource busy"),
        "{}",
        text(&e)
    );
    drop(a);
    tree.del_device("a").expect("del_device a");
    tree.clear();
    assert_eq!(common::open_fds(), fds);
}

/// Two migratable devices (planned: edu has no migration driver) must both
/// support P2P migration (`hw/vfio/migration.c`).
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn several_migratable_devices_need_p2p() {
    use qomgen_devices::attach::Migration;
    use qomgen_devices::sys::fault::Faults;
    use vfio_bindings::bindings::vfio as vb;
    let (g, second, _l) = detect();
    const MSG: &str =
        "Multiple VFIO devices migration is supported only if all of them support P2P migration";
    let stop_copy = u64::from(vb::VFIO_MIGRATION_STOP_COPY);
    let p2p = u64::from(vb::VFIO_MIGRATION_P2P);
    let migration =
        |d: &ObjRef| with_attached(d, |a| a.pci.as_ref().expect("pci").migration.clone());
    let plan = Faults::install();
    // Device dirty tracking, so that dirty tracking is not what blocks.
    plan.override_feature(vb::VFIO_DEVICE_FEATURE_DMA_LOGGING_START, Ok(0));
    plan.override_feature(vb::VFIO_DEVICE_FEATURE_MIGRATION, Ok(stop_copy));
    let mut tree = ObjectTree::new();
    let a = add(&mut tree, &format!("vfio-pci,host={},id=a", g.bdf));
    assert!(matches!(migration(&a), Migration::Supported { .. }));
    let e = refused(
        &mut tree,
        &format!("vfio-pci,host={second},id=b,enable-migration=on"),
        "two migratable devices without P2P",
    );
    assert_eq!(text(&e), format!("vfio {second}: {MSG}"));
    let b = add(&mut tree, &format!("vfio-pci,host={second},id=b"));
    assert_eq!(
        migration(&b),
        Migration::Blocked {
            reason: MSG.to_owned()
        }
    );
    drop(b);
    tree.del_device("b").expect("del_device b");
    // With P2P on both (the plan answers for both devices), both migrate.
    drop(a);
    tree.del_device("a").expect("del_device a");
    plan.override_feature(vb::VFIO_DEVICE_FEATURE_MIGRATION, Ok(stop_copy | p2p));
    let a = add(&mut tree, &format!("vfio-pci,host={},id=a", g.bdf));
    let b = add(
        &mut tree,
        &format!("vfio-pci,host={second},id=b,enable-migration=on"),
    );
    assert!(matches!(migration(&a), Migration::Supported { .. }));
    assert!(matches!(migration(&b), Migration::Supported { .. }));
    drop((a, b));
    tree.clear();
}
