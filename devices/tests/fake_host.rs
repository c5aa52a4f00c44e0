//! Every selection and error path of vfio-pci, vfio-ccw, vfio-ap and the
//! iommufd object that a fake host (sysfs and `/dev` built in a tempdir,
//! regular files standing in for device nodes) can reach, each with QEMU's
//! exact message and hint (QEMU 10.2: `hw/vfio/pci.c: vfio_pci_realize`,
//! `hw/vfio/ccw.c: vfio_ccw_realize`, `hw/vfio/ap.c: vfio_ap_realize`,
//! `backends/iommufd.c`).
//!
//! A failing `device_add`/`object_add` must leave the tree as it was; every
//! helper here checks that. Paths that need a device node answering ioctls
//! (group viability and beyond, a successful bind) need a real kernel:
//! `real_kernel.rs` and the guest tests cover those.

mod common;
#[path = "common/fake.rs"]
mod fake;

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use common::{link, mdev, mkdir, node, pci_device, pci_real_dir, remove, write};
use qomgen_devices::attach::BackendPolicy;
use qomgen_devices::sys::fault::{Faults, Request};
use qomgen_devices::sys::{Errno, Op};
use uuid::Uuid;

use fake::*;

// ---------------------------------------------------------------------------
// Failures that several paths end in: each is QEMU's one text for one
// situation, so every test that reaches it checks the same message and hint.

/// Where a failing `device_add` stops.
enum Refusal<'a> {
    /// The host device path does not exist (`vfio_device_get_name`).
    NoSuchHost(&'a str),
    /// Neither host=, sysfsdev= nor fd= was given (`vfio_pci_realize`).
    NoHostDevice,
    /// fd= without an iommufd link (`vfio_device_get_name`).
    FdNeedsIommufd,
    /// x-balloon-allowed on a device, named so, that is no mdev (`vfio_pci_realize`).
    BalloonNotMdev(&'a str),
    /// `BDF` has no `iommu_group` link (`vfio_device_get_groupid`).
    NoIommuGroup,
    /// The legacy attach of `BDF` (group 5) finds no `/dev/vfio/5`
    /// (`hw/vfio/container-legacy.c: vfio_legacy_attach_device`).
    GroupNodeMissing,
    /// The group node is a regular file: `VFIO_GROUP_GET_STATUS` fails
    /// (`vfio_legacy_attach_device`).
    GroupStatus,
    /// The iommufd attach of `BDF` finds no `vfio-dev` directory (`iommufd_cdev_getfd`).
    NoVfioDevDir,
    /// The iommufd attach of `BDF` finds no `/dev/iommu` (`iommufd_backend_connect`).
    DevIommuMissing,
}

impl Refusal<'_> {
    /// QEMU's message and hint.
    fn text(&self) -> (String, Option<&'static str>) {
        match self {
            Refusal::NoSuchHost(path) => {
                (format!("vfio {path}: no such host device: {ENOENT}"), None)
            }
            Refusal::NoHostDevice => ("No provided host device".into(), Some(NO_HOST_HINT)),
            Refusal::FdNeedsIommufd => ("Use FD passing only with iommufd backend".into(), None),
            Refusal::BalloonNotMdev(name) => (
                format!(
                    "vfio {name}: x-balloon-allowed only potentially compatible with mdev devices"
                ),
                None,
            ),
            Refusal::NoIommuGroup => (
                format!("vfio {BDF}: no iommu_group found: {ENOENT}"),
                Some(NO_GROUP_HINT),
            ),
            Refusal::GroupNodeMissing => (
                format!("vfio {BDF}: Could not open '/dev/vfio/5': {ENOENT}"),
                None,
            ),
            Refusal::GroupStatus => (
                format!("vfio {BDF}: failed to get group 5 status: {ENOTTY}"),
                None,
            ),
            Refusal::NoVfioDevDir => (
                format!(
                    "vfio {BDF}: vfio {SYSFSDEV}/vfio-dev: couldn't open directory {SYSFSDEV}/vfio-dev: {ENOENT}"
                ),
                Some(CDEV_HINT),
            ),
            Refusal::DevIommuMissing => (
                format!("vfio {BDF}: Could not open '/dev/iommu': {ENOENT}"),
                Some(IOMMUFD_HINT),
            ),
        }
    }
}

/// `device_add spec` failing exactly as `r` says.
fn refused(f: &mut Fake, spec: &str, r: Refusal<'_>) {
    let (msg, hint) = r.text();
    f.fails_with(spec, &msg, hint);
}

/// `BDF` (group 5, cdev `vfio0` listed in sysfs) and an iommufd object `x`,
/// with the spec that links them: where every iommufd attach path starts.
fn linked_cdev() -> (Fake, String) {
    let mut f = Fake::new();
    f.iommufd("x");
    f.pci_with_cdev();
    (f, format!("vfio-pci,host={BDF},iommufd=x"))
}

/// `device_add vfio-pci,host=BDF` failing exactly as `r` says.
fn host_refused(f: &mut Fake, r: Refusal<'_>) {
    refused(f, &format!("vfio-pci,host={BDF}"), r);
}

/// A fake host with PCI device `BDF` in IOMMU group `group` (none: no
/// `iommu_group` link).
fn pci_host(group: Option<u32>) -> Fake {
    let f = Fake::new();
    pci_device(f.root(), BDF, group);
    f
}

/// An iommufd object `iommufd0` and an open regular file standing in for a
/// device descriptor, with its number for fd=; the file stays open while
/// the returned descriptor lives.
fn fd_passed() -> (Fake, OwnedFd, RawFd) {
    let mut f = Fake::new();
    f.iommufd("iommufd0");
    let fd = f.file_fd("devfd");
    let n = fd.as_raw_fd();
    (f, fd, n)
}

/// Everything up to the bind worked; the bind fails on the regular-file
/// stand-in (`iommufd_cdev_connect_and_bind`), with no hint.
fn fails_at_bind(f: &mut Fake, spec: &str, prefix: &str) {
    let (m, h) = f.fail(spec);
    assert_bind_enotty(&m, prefix);
    assert_eq!(h, None, "{spec}: hint");
}

// ---------------------------------------------------------------------------
// vfio-pci: choosing the host device (`vfio_pci_realize`, `vfio_device_get_name`)

#[test]
fn pci_without_any_host_device() {
    let mut f = Fake::new();
    refused(&mut f, "vfio-pci", Refusal::NoHostDevice);
    refused(&mut f, "vfio-pci,id=d0,x-vga=on", Refusal::NoHostDevice);
    // The hint names vfio-pci literally, also for the nohotplug variant.
    refused(&mut f, "vfio-pci-nohotplug", Refusal::NoHostDevice);
    assert!(f.tree.is_empty());
}

#[test]
fn pci_host_with_bad_syntax_never_reaches_realize() {
    let mut f = Fake::new();
    for bad in [
        "",
        "zz",
        "00:01",
        "00:20.0",       // slot > 0x1f
        "00:01.8",       // function > 7
        "00:01.a",       // function is decimal
        "100:01.0",      // bus > 0xff
        "10000:00:01.0", // domain > 0xffff
        "00:01.0x",      // trailing characters
        "0000:00:01.0:1",
        "00.01.0",
    ] {
        f.fails_with(
            &format!("vfio-pci,host={bad}"),
            &format!("Property 'vfio-pci.host' doesn't take value '{bad}'"),
            None,
        );
    }
}

#[test]
fn pci_host_that_parses_but_does_not_exist() {
    let mut f = Fake::new();
    for (spec, path) in [
        (
            "vfio-pci,host=0000:99:00.0",
            "/sys/bus/pci/devices/0000:99:00.0",
        ),
        // Domain defaults to 0; the path is printed %04x:%02x:%02x.%01x.
        ("vfio-pci,host=1:2.3", "/sys/bus/pci/devices/0000:01:02.3"),
        (
            "vfio-pci,host=ffff:ff:1f.7",
            "/sys/bus/pci/devices/ffff:ff:1f.7",
        ),
        ("vfio-pci,sysfsdev=/sys/devices/nope", "/sys/devices/nope"),
    ] {
        refused(&mut f, spec, Refusal::NoSuchHost(path));
    }
}

#[test]
fn pci_sysfsdev_wins_over_host() {
    let mut f = pci_host(None);
    // host names a missing device, sysfsdev an existing one: sysfsdev is used.
    refused(
        &mut f,
        &format!("vfio-pci,host=0000:99:00.0,sysfsdev={SYSFSDEV}"),
        Refusal::NoIommuGroup,
    );
    // And the other way round: a missing sysfsdev is reported even though host exists.
    refused(
        &mut f,
        &format!("vfio-pci,host={BDF},sysfsdev=/sys/bus/pci/devices/0000:99:00.0"),
        Refusal::NoSuchHost("/sys/bus/pci/devices/0000:99:00.0"),
    );
}

// ---------------------------------------------------------------------------
// fd= (`hw/vfio/device.c: vfio_device_set_fd`, `backends/iommufd.c`)

#[test]
fn pci_fd_without_iommufd() {
    let mut f = Fake::new();
    let fd = f.file_fd("devfd");
    let n = fd.as_raw_fd();
    refused(&mut f, &format!("vfio-pci,fd={n}"), Refusal::FdNeedsIommufd);
    // fd= also wins over host/sysfsdev when choosing the name: still no iommufd.
    pci_device(f.root(), BDF, Some(5));
    refused(
        &mut f,
        &format!("vfio-pci,host={BDF},fd={n}"),
        Refusal::FdNeedsIommufd,
    );
    // A backend policy does not replace the link (QEMU: the link decides).
    f.tree.set_resource(BackendPolicy::Iommufd);
    refused(&mut f, &format!("vfio-pci,fd={n}"), Refusal::FdNeedsIommufd);
    // The caller's descriptor is untouched: the device took a duplicate.
    assert!(nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFD).is_ok());
}

#[test]
fn fd_values_that_are_not_descriptors() {
    let mut f = Fake::new();
    for t in ["vfio-pci", "vfio-ccw", "vfio-ap"] {
        for bad in ["abc", "-1", "", "1x", " 3", "+3"] {
            f.fails_with(
                &format!("{t},fd={bad}"),
                &format!("Could not parse object fd {bad}:Invalid file descriptor number '{bad}'"),
                None,
            );
        }
        f.fails_with(
            &format!("{t},fd={NEVER_OPEN_FD}"),
            &format!("Could not parse object fd {NEVER_OPEN_FD}:Bad file descriptor"),
            Some(FD_HINT),
        );
    }
}

#[test]
fn fd_name_is_the_id_or_the_number_passed() {
    // `vfio_device_get_name` / the example in `docs/devel/vfio-iommufd.rst`: `... x-balloon-allowed=on,fd=9: vfio VFIO_FD9: ...`.
    let (mut f, _fd, n) = fd_passed();
    refused(
        &mut f,
        &format!("vfio-pci,iommufd=iommufd0,x-balloon-allowed=on,fd={n}"),
        Refusal::BalloonNotMdev(&format!("VFIO_FD{n}")),
    );
    refused(
        &mut f,
        &format!("vfio-pci,id=gpu0,iommufd=iommufd0,x-balloon-allowed=on,fd={n}"),
        Refusal::BalloonNotMdev("gpu0"),
    );
    // With fd= a host= is not turned into a sysfs path (`vfio_pci_realize`), so it
    // cannot make the device an mdev.
    pci_device(f.root(), BDF, Some(5));
    refused(
        &mut f,
        &format!("vfio-pci,id=gpu0,host={BDF},iommufd=iommufd0,x-balloon-allowed=on,fd={n}"),
        Refusal::BalloonNotMdev("gpu0"),
    );
}

#[test]
fn pci_fd_with_an_mdev_sysfsdev_is_an_mdev() {
    // With fd= the sysfsdev is still QEMU's mdev check (`vfio_device_is_mdev`), so an mdev
    // passed by fd may have x-balloon-allowed and goes on to the bind.
    let (mut f, _fd, n) = fd_passed();
    let p = mdev(f.root(), &pci_real_dir("0000:00:02.0"), PCI_MDEV_UUID, None);
    fails_at_bind(
        &mut f,
        &format!("vfio-pci,id=gpu0,sysfsdev={p},iommufd=iommufd0,x-balloon-allowed=on,fd={n}"),
        "vfio gpu0: ",
    );
    // A sysfsdev that is no mdev still refuses it.
    pci_device(f.root(), BDF, Some(5));
    refused(
        &mut f,
        &format!(
            "vfio-pci,id=gpu0,sysfsdev={SYSFSDEV},iommufd=iommufd0,x-balloon-allowed=on,fd={n}"
        ),
        Refusal::BalloonNotMdev("gpu0"),
    );
    assert_eq!(f.backend_state("iommufd0"), (0, false));
}

#[test]
fn pci_fd_with_iommufd_reaches_the_bind() {
    let (mut f, _fd, n) = fd_passed();
    fails_at_bind(
        &mut f,
        &format!("vfio-pci,id=d0,iommufd=iommufd0,fd={n}"),
        "vfio d0: ",
    );
    fails_at_bind(
        &mut f,
        &format!("vfio-pci,iommufd=iommufd0,fd={n}"),
        &format!("vfio VFIO_FD{n}: "),
    );
    // Nothing is left connected, and the /dev/iommu the backend opened is closed.
    assert_eq!(f.backend_state("iommufd0"), (0, false));
    // An fd-passed backend: the bind goes to that descriptor.
    let io = f.file_fd("iommu-passed");
    f.tree
        .object_add(&format!("iommufd,id=iommufd1,fd={}", io.as_raw_fd()))
        .unwrap();
    fails_at_bind(
        &mut f,
        &format!("vfio-pci,id=d1,iommufd=iommufd1,fd={n}"),
        "vfio d1: ",
    );
    assert_eq!(f.backend_state("iommufd1"), (0, true));
}

// ---------------------------------------------------------------------------
// vfio-pci: checks before attach (`pci_qdev_realize`, then `vfio_pci_realize`)

#[test]
fn pci_device_checks_run_first() {
    let mut f = Fake::new();
    f.fails_with(
        "vfio-pci,acpi-index=16384",
        "acpi-index should be less or equal to 16383",
        None,
    );
    f.fails_with(
        "vfio-pci,romsize=3",
        "ROM size 3 is not a power of two",
        None,
    );
    // At the limits: on to the next check.
    refused(
        &mut f,
        "vfio-pci,acpi-index=16383,romsize=4096",
        Refusal::NoHostDevice,
    );
}

#[test]
fn balloon_allowed_only_for_mdev() {
    let mut f = pci_host(Some(5));
    refused(
        &mut f,
        &format!("vfio-pci,host={BDF},x-balloon-allowed=on"),
        Refusal::BalloonNotMdev(BDF),
    );
    // An mdev passes the check and goes on to attach.
    let p = mdev(f.root(), &pci_real_dir("0000:00:02.0"), PCI_MDEV_UUID, None);
    // An mdev without a group is no question of the IOMMU: no hint.
    f.fails_with(
        &format!("vfio-pci,sysfsdev={p},x-balloon-allowed=on"),
        &format!("vfio {PCI_MDEV_UUID}: no iommu_group found: {ENOENT}"),
        None,
    );
}

#[test]
fn pci_override_ids_and_display_are_checked_after_attach_as_in_qemu() {
    // QEMU checks the override ids in vfio_pci_config_setup and display
    // support at the end of realize, both after the device is attached, so
    // on a host without an IOMMU group the attach error comes first (the
    // checks themselves run in the real-kernel tests).
    let mut f = pci_host(None);
    for extra in [
        "x-pci-vendor-id=65535",
        "x-pci-device-id=65536",
        "x-pci-sub-vendor-id=65536",
        "x-pci-sub-device-id=65536",
        "x-pci-class-code=16777216",
        "xres=1024",
        "yres=768,display=auto",
    ] {
        refused(
            &mut f,
            &format!("vfio-pci,host={BDF},{extra}"),
            Refusal::NoIommuGroup,
        );
    }
    // So are vfio-pci-nohotplug's ramfb settings: its pre_realize only
    // hands them to vfio-pci's realize, which checks them after the display
    // probe.
    for extra in [
        "ramfb=on",
        "ramfb=on,xres=800",
        "x-ramfb-migrate=on,enable-migration=off",
    ] {
        refused(
            &mut f,
            &format!("vfio-pci-nohotplug,host={BDF},{extra}"),
            Refusal::NoIommuGroup,
        );
    }
}

#[test]
fn pci_property_values_rejected_at_set_time() {
    let mut f = Fake::new();
    f.fails_with(
        "vfio-pci,x-nv-gpudirect-clique=16",
        "Property x-nv-gpudirect-clique: valid range 0-15",
        None,
    );
    f.fails_with(
        "vfio-pci,x-msix-relocation=bar6",
        "Parameter 'x-msix-relocation' does not accept value 'bar6'",
        None,
    );
    f.fails_with(
        "vfio-pci,vf-token=not-a-uuid",
        "Property 'vfio-pci.vf-token' doesn't take value 'not-a-uuid'",
        None,
    );
    f.fails_with("vfio-pci,iommufd=nope", "Device 'nope' not found", None);
    f.fails_with("vfio-pci,bus=pci.0", "Bus 'pci.0' not found", None);
    f.fails_with(
        "vfio-pci,x-pci-vendor-id=4294967296",
        "Parameter 'x-pci-vendor-id' expects uint32_t",
        None,
    );
}

// ---------------------------------------------------------------------------
// vfio-pci: legacy attach (`hw/vfio/container-legacy.c: vfio_legacy_attach_device`)

#[test]
fn pci_legacy_no_iommu_group() {
    let mut f = pci_host(None);
    host_refused(&mut f, Refusal::NoIommuGroup);
    // A regular file where the link should be: readlink gives EINVAL.
    write(f.root(), &format!("{}/iommu_group", pci_real_dir(BDF)), "5");
    f.fails_with(
        &format!("vfio-pci,host={BDF}"),
        &format!("vfio {BDF}: no iommu_group found: Invalid argument"),
        Some(NO_GROUP_HINT),
    );
}

#[test]
fn pci_legacy_bad_group_link() {
    let mut f = pci_host(None);
    link(
        f.root(),
        &format!("{}/iommu_group", pci_real_dir(BDF)),
        "../../../kernel/iommu_groups/abc",
    );
    f.fails_with(
        &format!("vfio-pci,host={BDF}"),
        &format!("vfio {BDF}: failed to read ../../../kernel/iommu_groups/abc: Invalid argument"),
        None,
    );
}

#[test]
fn pci_legacy_group_node_missing() {
    let mut f = pci_host(Some(5));
    host_refused(&mut f, Refusal::GroupNodeMissing);
    // The container node's presence changes nothing: the group comes first.
    node(f.root(), "vfio/vfio");
    host_refused(&mut f, Refusal::GroupNodeMissing);
}

#[test]
fn pci_legacy_group_status_ioctl_fails() {
    let mut f = pci_host(Some(5));
    node(f.root(), "vfio/5");
    node(f.root(), "vfio/vfio");
    host_refused(&mut f, Refusal::GroupStatus);
    // The vf-token only changes the name passed to GET_DEVICE_FD, later.
    refused(
        &mut f,
        &format!("vfio-pci,host={BDF},vf-token=9ad2b38b-3d4e-4e0f-a9f5-1a0e8b2c2b7e"),
        Refusal::GroupStatus,
    );
}

#[test]
fn pci_legacy_noiommu_group_node() {
    // No /dev/vfio/5 but /dev/vfio/noiommu-5: the no-IOMMU node is opened.
    let mut f = pci_host(Some(5));
    node(f.root(), "vfio/noiommu-5");
    host_refused(&mut f, Refusal::GroupStatus);
}

// ---------------------------------------------------------------------------
// vfio-pci: iommufd attach (`hw/vfio/iommufd.c: iommufd_cdev_attach`)

#[test]
fn pci_iommufd_without_vfio_dev_dir() {
    let mut f = Fake::new();
    f.iommufd("x");
    pci_device(f.root(), BDF, Some(5));
    refused(
        &mut f,
        &format!("vfio-pci,host={BDF},iommufd=x"),
        Refusal::NoVfioDevDir,
    );
    // The link also accepts the absolute path.
    refused(
        &mut f,
        &format!("vfio-pci,host={BDF},iommufd=/objects/x"),
        Refusal::NoVfioDevDir,
    );
    assert_eq!(f.backend_state("x"), (0, false));
}

#[test]
fn pci_iommufd_cdev_errors() {
    let mut f = Fake::new();
    f.iommufd("x");
    pci_device(f.root(), BDF, Some(5));
    let spec = format!("vfio-pci,host={BDF},iommufd=x");
    let pre = format!("vfio {BDF}: vfio {SYSFSDEV}/vfio-dev: ");
    let real = pci_real_dir(BDF);

    mkdir(f.root(), &format!("{real}/vfio-dev/other"));
    f.fails_with(
        &spec,
        &format!("{pre}failed to find vfio-dev/vfioX/dev"),
        Some(CDEV_HINT),
    );

    mkdir(f.root(), &format!("{real}/vfio-dev/vfio0"));
    f.fails_with(
        &spec,
        &format!("{pre}failed to load \"{SYSFSDEV}/vfio-dev/vfio0/dev\""),
        Some(CDEV_HINT),
    );

    // A malformed attribute is no missing kernel option.
    for bad in ["", "garbage\n", "511\n", "x:1\n", "5:\n"] {
        write(f.root(), &format!("{real}/vfio-dev/vfio0/dev"), bad);
        f.fails_with(
            &spec,
            &format!("{pre}failed to get major:minor for \"{SYSFSDEV}/vfio-dev/vfio0/dev\""),
            None,
        );
    }

    write(f.root(), &format!("{real}/vfio-dev/vfio0/dev"), "511:0\n");
    f.fails_with(
        &spec,
        &format!("{pre}Failed to open /dev/vfio/devices/vfio0"),
        Some(CDEV_HINT),
    );
    assert_eq!(f.backend_state("x"), (0, false));
}

#[test]
fn pci_cdev_node_that_will_not_open() {
    // Only a node that does not exist names CONFIG_VFIO_DEVICE_CDEV (above);
    // one this process may not open says so, any other failure says nothing.
    let (mut f, spec) = linked_cdev();
    let msg =
        format!("vfio {BDF}: vfio {SYSFSDEV}/vfio-dev: Failed to open /dev/vfio/devices/vfio0");
    node(f.root(), "vfio/devices/vfio0");
    for errno in [Errno::EACCES, Errno::EPERM] {
        // The first open is the node; the /dev/char fallback is missing.
        let faults = Faults::install();
        faults.inject(Op::Open, errno);
        f.fails_with(
            &spec,
            &msg,
            Some("Run as root or grant access to /dev/vfio/devices/vfio0"),
        );
        assert!(faults.pending().is_empty());
    }
    // Denied on the fallback after a missing node: still the permission.
    node(f.root(), "char/511:0");
    remove(f.root(), "dev/vfio/devices/vfio0");
    let faults = Faults::install();
    faults.inject_nth(Op::Open, 1, Errno::EACCES);
    f.fails_with(
        &spec,
        &msg,
        Some("Run as root or grant access to /dev/char/511:0"),
    );
    assert!(faults.pending().is_empty());
    drop(faults);
    // A directory where the node should be (EISDIR), fallback missing.
    remove(f.root(), "dev/char/511:0");
    mkdir(f.root(), "dev/vfio/devices/vfio0");
    f.fails_with(&spec, &msg, None);
    assert_eq!(f.backend_state("x"), (0, false));
}

#[test]
fn dev_iommu_that_will_not_open() {
    // Linked object and private iommufd alike: CONFIG_IOMMUFD only for a
    // missing /dev/iommu (pci_iommufd_dev_iommu_gone_at_attach,
    // policy_iommufd_without_link_opens_dev_iommu_itself).
    for linked in [true, false] {
        let mut f = Fake::new();
        let spec = if linked {
            f.iommufd("x");
            format!("vfio-pci,host={BDF},iommufd=x")
        } else {
            node(f.root(), "iommu");
            f.tree.set_resource(BackendPolicy::Iommufd);
            format!("vfio-pci,host={BDF}")
        };
        f.pci_with_cdev();
        node(f.root(), "vfio/devices/vfio0");
        let msg = |e: &str| format!("vfio {BDF}: Could not open '/dev/iommu': {e}");
        for (errno, text) in [
            (Errno::EACCES, "Permission denied"),
            (Errno::EPERM, "Operation not permitted"),
        ] {
            // The cdev node is opened first.
            let faults = Faults::install();
            faults.inject_nth(Op::Open, 1, errno);
            f.fails_with(
                &spec,
                &msg(text),
                Some("Run as root or grant access to /dev/iommu"),
            );
            assert!(faults.pending().is_empty());
        }
        remove(f.root(), "dev/iommu");
        mkdir(f.root(), "dev/iommu");
        f.fails_with(&spec, &msg("Is a directory"), None);
        if linked {
            assert_eq!(f.backend_state("x"), (0, false));
        }
    }
}

#[test]
fn pci_iommufd_dev_char_fallback() {
    // The /dev/char/<major>:<minor> fallback is opened when the
    // /dev/vfio/devices node is missing; the bind then fails on it.
    let (mut f, spec) = linked_cdev();
    node(f.root(), "char/511:0");
    fails_at_bind(&mut f, &spec, &format!("vfio {BDF}: "));
}

#[test]
fn pci_iommufd_dev_iommu_gone_at_attach() {
    // The object was created while /dev/iommu existed; it is opened lazily
    // by the first device, after the cdev (`iommufd_cdev_attach`: `iommufd_cdev_getfd`, then
    // `iommufd_cdev_connect_and_bind`).
    let (mut f, spec) = linked_cdev();
    node(f.root(), "vfio/devices/vfio0");
    remove(f.root(), "dev/iommu");
    refused(&mut f, &spec, Refusal::DevIommuMissing);
    assert_eq!(f.backend_state("x"), (0, false));
}

#[test]
fn pci_iommufd_bind_fails_on_a_regular_file() {
    let (mut f, spec) = linked_cdev();
    node(f.root(), "vfio/devices/vfio0");
    for _ in 0..3 {
        fails_at_bind(&mut f, &spec, &format!("vfio {BDF}: "));
        // The failed attach disconnected and closed /dev/iommu again.
        assert_eq!(f.backend_state("x"), (0, false));
    }
    // The object is not in use, so it can go.
    f.tree.del_object("x").unwrap();
    assert!(f.tree.is_empty());
}

#[test]
fn pci_nil_vf_token_is_not_sent() {
    // QEMU's qemu_uuid_is_null: an all-zero vf-token means "not set". The
    // bind is the step a fake tree reaches; the legacy name string is
    // checked on the real kernel (faults_kernel.rs).
    let (mut f, spec) = linked_cdev();
    node(f.root(), "vfio/devices/vfio0");
    let token = "2ab74924-c335-45f4-9b16-8569e5b08258";
    for (value, sent) in [
        ("00000000-0000-0000-0000-000000000000", None),
        (token, Some(Uuid::parse_str(token).unwrap())),
    ] {
        let faults = Faults::install();
        fails_at_bind(
            &mut f,
            &format!("{spec},vf-token={value}"),
            &format!("vfio {BDF}: "),
        );
        assert_eq!(faults.requests(), [Request::BindToken(sent)], "{value}");
    }
}

// ---------------------------------------------------------------------------
// Backend policy (QEMU's `vfio_device_attach` plus qomgen's policy resource)

/// `BDF` in group 5 under `policy` (none set: the default), its cdev listed
/// in sysfs when `cdev`, and the device nodes `nodes`: the policy tests
/// differ only in which of these a host has.
fn policy_host(policy: Option<BackendPolicy>, cdev: bool, nodes: &[&str]) -> Fake {
    let f = policy.map_or_else(Fake::new, Fake::with_policy);
    if cdev {
        f.pci_with_cdev();
    } else {
        pci_device(f.root(), BDF, Some(5));
    }
    for n in nodes {
        node(f.root(), n);
    }
    f
}

#[test]
fn policy_legacy_is_the_default_even_with_iommufd_available() {
    for policy in [None, Some(BackendPolicy::Legacy)] {
        let mut f = policy_host(policy, true, &["iommu", "vfio/devices/vfio0"]);
        host_refused(&mut f, Refusal::GroupNodeMissing);
    }
}

#[test]
fn policy_auto_without_dev_iommu_is_legacy() {
    let mut f = policy_host(Some(BackendPolicy::Auto), true, &["vfio/devices/vfio0"]);
    host_refused(&mut f, Refusal::GroupNodeMissing);
}

#[test]
fn policy_auto_without_cdev_is_legacy() {
    let mut f = policy_host(Some(BackendPolicy::Auto), false, &["iommu"]);
    host_refused(&mut f, Refusal::GroupNodeMissing);
}

#[test]
fn policy_auto_with_dev_iommu_and_cdev_is_iommufd() {
    // cdev listed in sysfs but its node missing: auto falls back to legacy.
    let mut f = policy_host(Some(BackendPolicy::Auto), true, &["iommu"]);
    host_refused(&mut f, Refusal::GroupNodeMissing);
    // Everything present: a private iommufd is opened and the bind fails on it.
    node(f.root(), "vfio/devices/vfio0");
    fails_at_bind(
        &mut f,
        &format!("vfio-pci,host={BDF}"),
        &format!("vfio {BDF}: "),
    );
}

#[test]
fn policy_iommufd_without_link_opens_dev_iommu_itself() {
    let mut f = policy_host(Some(BackendPolicy::Iommufd), true, &["vfio/devices/vfio0"]);
    host_refused(&mut f, Refusal::DevIommuMissing);
    // And without a cdev it does not fall back to legacy.
    let mut f = policy_host(Some(BackendPolicy::Iommufd), false, &["vfio/5"]);
    host_refused(&mut f, Refusal::NoVfioDevDir);
}

#[test]
fn policy_never_overrides_a_link() {
    // As in QEMU's `vfio_device_attach`, the link alone decides, whatever the policy.
    for policy in [
        BackendPolicy::Legacy,
        BackendPolicy::Auto,
        BackendPolicy::Iommufd,
    ] {
        let mut f = policy_host(Some(policy), false, &["vfio/5"]);
        f.iommufd("x");
        refused(
            &mut f,
            &format!("vfio-pci,host={BDF},iommufd=x"),
            Refusal::NoVfioDevDir,
        );
    }
}

// ---------------------------------------------------------------------------
