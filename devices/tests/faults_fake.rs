//! The legacy container steps on a fake tree (regular files standing in for
//! `/dev/vfio/<N>` and `/dev/vfio/vfio`), for vfio-pci, vfio-ccw and
//! vfio-ap, each with QEMU's exact message (`hw/vfio/container-legacy.c:
//! vfio_legacy_attach_device`, reached from each device's realize).
//!
//! On a fake tree every ioctl fails with `ENOTTY`, so `fake_host.rs` stops
//! at `failed to get group N status`. With the sys layer's test seam
//! ([`qomgen_devices::sys::fault`]) answering `VFIO_GROUP_GET_STATUS` (and,
//! step by step, the next side-effect-free queries) instead of the file,
//! realize gets further, and each following step fails the way the file
//! makes it fail: no container node, an API version that cannot be read, no
//! IOMMU model, a group that cannot be set to the container. Every failure
//! must leave the tree unchanged and no descriptor open.

mod common;

use std::sync::{Mutex, MutexGuard};

use common::{err, node, open_fds, pci_device};
use qomgen::ObjectTree;
use qomgen_devices::host::Host;
use qomgen_devices::sys::fault::Faults;
use qomgen_devices::sys::{Errno, Op};
use vfio_bindings::bindings::vfio as vb;

const BDF: &str = "0000:00:01.0";
const ENOENT: &str = "No such file or directory";
const ENOTTY: &str = "Inappropriate ioctl for device";
const NOT_VIABLE_HINT: &str =
    "Please ensure all devices within the iommu_group are bound to their vfio bus driver.";
const CCW_UUID: &str = "6dfd3ec5-e8b3-4e18-a6fe-57bc9eceb920";
const AP_UUID: &str = "4b0818b4-3fdb-4ec3-a0b1-0d1e4e5b0e11";

/// Descriptors are counted process-wide: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

struct Fake {
    dir: tempfile::TempDir,
    tree: ObjectTree,
    _serial: MutexGuard<'static, ()>,
}

impl Fake {
    fn new() -> Fake {
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        common::assert_registry_complete();
        let dir = tempfile::tempdir().unwrap();
        let mut tree = ObjectTree::new();
        tree.set_resource(Host::fake(dir.path()));
        Fake {
            dir,
            tree,
            _serial: serial,
        }
    }

    fn root(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// `device_add(spec)` fails with exactly `msg`/`hint`, leaves the tree
    /// and the open descriptors as they were, and reached every injection.
    #[track_caller]
    fn fails_with(&mut self, faults: &Faults, spec: &str, msg: &str, hint: Option<&str>) {
        let before = (self.tree.len(), open_fds());
        let (m, h) = err(self.tree.device_add(spec));
        assert_eq!(m, msg, "{spec}");
        assert_eq!(h.as_deref(), hint, "{spec}: hint");
        assert_eq!((self.tree.len(), open_fds()), before, "{spec}: left state");
        assert!(
            faults.pending().is_empty(),
            "{spec}: {:?}",
            faults.pending()
        );
    }
}

/// The container steps for a device whose group is `group` (node `node`
/// under `/dev/vfio`) and whose messages carry `prefix`.
fn container_steps(f: &mut Fake, spec: &str, prefix: &str, group: u32, node_name: &str) {
    node(f.root(), &format!("vfio/{node_name}"));
    let setup = format!("{prefix}failed to setup container for group {group}: ");

    // Not viable: the status says so.
    let faults = Faults::install();
    faults.override_group_flags(0);
    f.fails_with(
        &faults,
        spec,
        &format!("{prefix}group {group} is not viable"),
        Some(NOT_VIABLE_HINT),
    );
    drop(faults);

    // Viable, and every other step answered by the files.
    let faults = Faults::install();
    faults.override_group_flags(vb::VFIO_GROUP_FLAGS_VIABLE);
    f.fails_with(
        &faults,
        spec,
        &format!("{setup}Could not open '/dev/vfio/vfio': {ENOENT}"),
        Some("Is your kernel config missing CONFIG_VFIO_CONTAINER?"),
    );
    node(f.root(), "vfio/vfio");
    // One this process may not open (the group node is opened first).
    faults.inject_nth(Op::Open, 1, Errno::EACCES);
    f.fails_with(
        &faults,
        spec,
        &format!("{setup}Could not open '/dev/vfio/vfio': Permission denied"),
        Some("Run as root or grant access to /dev/vfio/vfio"),
    );
    // QEMU compares VFIO_GET_API_VERSION's return value: -1 on ENOTTY.
    f.fails_with(
        &faults,
        spec,
        &format!("{setup}supported vfio version: 0, reported version: -1"),
        None,
    );
    faults.override_api_version(vb::VFIO_API_VERSION as i32);
    // VFIO_CHECK_EXTENSION fails (ENOTTY): no model is supported.
    f.fails_with(
        &faults,
        spec,
        &format!("{setup}No available IOMMU models"),
        None,
    );
    for ext in [
        vb::VFIO_TYPE1v2_IOMMU,
        vb::VFIO_TYPE1_IOMMU,
        vb::VFIO_NOIOMMU_IOMMU,
    ] {
        faults.override_extension(ext, true);
    }
    f.fails_with(
        &faults,
        spec,
        &format!("{setup}Failed to set group container: {ENOTTY}"),
        None,
    );
    // An injected errno instead of the file's ENOTTY.
    faults.inject(Op::GroupSetContainer, Errno::EBUSY);
    f.fails_with(
        &faults,
        spec,
        &format!("{setup}Failed to set group container: Device or resource busy"),
        None,
    );
    // The log: the status was always answered by the plan (never asked);
    // each container call reached the file and failed; nothing after
    // VFIO_GROUP_SET_CONTAINER was issued.
    let calls = faults.calls();
    assert!(calls.iter().all(|c| c.op != Op::GroupGetStatus));
    assert!(calls.iter().all(|c| c.result.is_err()), "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| !matches!(c.op, Op::SetIommu | Op::GroupGetDeviceFd)),
        "{calls:?}"
    );
    assert_eq!(
        calls.last().map(|c| (c.op, c.injected)),
        Some((Op::GroupSetContainer, true))
    );
}

/// [`container_steps`] of vfio-pci `BDF` in group 5, whose node is
/// `node_name`; returns the fake for what the caller checks after.
fn pci_container_steps(node_name: &str) -> Fake {
    let mut f = Fake::new();
    pci_device(f.root(), BDF, Some(5));
    let spec = format!("vfio-pci,host={BDF}");
    container_steps(&mut f, &spec, &format!("vfio {BDF}: "), 5, node_name);
    f
}

#[test]
fn pci_legacy_container_steps() {
    assert!(pci_container_steps("5").tree.is_empty());
}

#[test]
fn pci_legacy_noiommu_container_steps() {
    // A no-IOMMU group (only /dev/vfio/noiommu-5): the one candidate model
    // is VFIO_NOIOMMU_IOMMU.
    pci_container_steps("noiommu-5");
}

#[test]
fn ccw_legacy_container_steps_have_no_prefix() {
    let mut f = Fake::new();
    let r = f.root().to_path_buf();
    let sch = "sys/devices/css0/0.0.0313";
    common::mkdir(&r, sch);
    common::link(
        &r,
        "sys/bus/css/devices/0.0.0313",
        "../../../devices/css0/0.0.0313",
    );
    common::write(&r, &format!("{sch}/pimpampom"), "80 80 ff\n");
    common::write(&r, &format!("{sch}/chpids"), "00 00 00 00 00 00 00 00 \n");
    let p = common::mdev(&r, sch, CCW_UUID, Some(7));
    container_steps(&mut f, &format!("vfio-ccw,sysfsdev={p}"), "", 7, "7");
}

#[test]
fn ap_legacy_container_steps_are_prefixed_with_the_uuid() {
    let mut f = Fake::new();
    let r = f.root().to_path_buf();
    let p = common::mdev(&r, "sys/devices/vfio_ap/matrix", AP_UUID, Some(9));
    container_steps(
        &mut f,
        &format!("vfio-ap,sysfsdev={p}"),
        &format!("vfio {AP_UUID}: "),
        9,
        "9",
    );
}
