//! vfio-ccw and vfio-ap realize failures after the attach (QEMU's
//! `hw/vfio/ccw.c: vfio_ccw_realize`, `hw/vfio/ap.c: vfio_ap_realize`), on
//! the real kernel of the `vm/` guest, with QEMU's exact messages; split
//! from `faults_kernel.rs`.
//!
//! ```sh
//! vm/test-real-kernel --mode custom           # or: all modes
//! CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER=$PWD/vm/cargo-runner \
//!     cargo test -p qomgen-devices --test faults_kernel_s390 -- --include-ignored
//! ```
//!
//! The failures are planned as in `faults_kernel.rs` (which says how), and
//! [`Case::fails`] checks that each left nothing behind. Every test is
//! `#[ignore]`d ("needs the real-kernel guest"); `vm/test-real-kernel`
//! runs them in the guest.

mod common;
#[path = "common/faults.rs"]
mod faults;

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use qomgen::ObjectTree;
use qomgen_devices::host::Host;
use qomgen_devices::sys::fault::Faults;
use qomgen_devices::sys::vfio::{DeviceFlags, DeviceInfo, RegionFlags};
use qomgen_devices::sys::{Errno, Op};
use vfio_bindings::bindings::vfio as vb;

use faults::*;

/// The guest's device; `detect` also takes the lock that serialises the tests.
type Guest = common::GuestDevice;

// ---------------------------------------------------------------------------
// vfio-ccw and vfio-ap after attach (`vfio_ccw_realize`: regions and IRQs;
// `vfio_ap_realize`)
//
// There is no s390 subchannel here, but the realize code after attach only
// talks to the device fd. So the edu cdev is passed with `fd=` (iommufd
// backend), under a host root holding a vfio-ccw mdev's sysfs (subchannel
// `0.0.0313`, its css files) and `/dev/iommu`, and the plan makes edu's info
// look like a ccw device's. Each attempt opens the cdev afresh: a bound
// device file stays bound until its last descriptor closes.

const CCW_UUID: &str = "6dfd3ec5-e8b3-4e18-a6fe-57bc9eceb920";

/// A host root for vfio-ccw/vfio-ap: mdev sysfs in files, `/dev/iommu` the real one.
fn s390_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path();
    let sch = r.join("sys/devices/css0/0.0.0313");
    std::fs::create_dir_all(sch.join(CCW_UUID)).unwrap();
    std::fs::write(sch.join("pimpampom"), "80 80 ff\n").unwrap();
    std::fs::write(sch.join("chpids"), "00 00 00 00 00 00 00 00 \n").unwrap();
    std::fs::create_dir_all(r.join("sys/bus/css/devices")).unwrap();
    std::os::unix::fs::symlink(sch.as_path(), r.join("sys/bus/css/devices/0.0.0313")).unwrap();
    std::fs::create_dir_all(r.join("sys/bus/mdev/devices")).unwrap();
    std::os::unix::fs::symlink(
        sch.join(CCW_UUID),
        r.join(format!("sys/bus/mdev/devices/{CCW_UUID}")),
    )
    .unwrap();
    std::fs::create_dir_all(r.join("dev")).unwrap();
    std::os::unix::fs::symlink("/dev/iommu", r.join("dev/iommu")).unwrap();
    root
}

/// vfio-ccw on the mdev of [`s390_root`] through `io0`; [`with_cdev`] adds
/// the cdev.
fn ccw_spec() -> String {
    format!("vfio-ccw,sysfsdev=/sys/bus/mdev/devices/{CCW_UUID},iommufd=io0")
}

/// The edu cdev, opened afresh, and the device `spec` (`vfio-ccw,...` or
/// `vfio-ap,...`, id `f0`) that passes it with `fd=`: a bound device file
/// stays bound until its last descriptor closes.
fn with_cdev(g: &Guest, spec: &str) -> (std::fs::File, String) {
    let file = cdev(g);
    let spec = format!("{spec},fd={},id=f0", file.as_raw_fd());
    (file, spec)
}

/// The edu cdev, opened afresh.
fn cdev(g: &Guest) -> std::fs::File {
    let sys = PathBuf::from(format!("/sys/bus/pci/devices/{}/vfio-dev", g.bdf));
    let name = std::fs::read_dir(sys)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|n| n.starts_with("vfio"))
        .unwrap();
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(Path::new("/dev/vfio/devices").join(name))
        .expect("open the cdev")
}

/// edu's info as a ccw device: `num_regions` regions, `num_irqs` IRQs.
fn ccw_info(num_regions: u32, num_irqs: u32) -> DeviceInfo {
    DeviceInfo {
        flags: DeviceFlags::CCW,
        num_regions,
        num_irqs,
    }
}

/// A plan under which edu passes vfio-ccw's checks: one I/O region of the
/// uAPI's size (124 bytes) and one IRQ (edu's INTx answers for index 0).
fn ccw_ok(p: &Faults) {
    p.override_device_info(ccw_info(1, 1)).override_region_info(
        vb::VFIO_CCW_CONFIG_REGION_INDEX,
        3,
        124,
    );
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn ccw_checks_after_attach() {
    on_iommufd_guest(|g| {
        let root = s390_root();
        let cases: Vec<(Setup, String)> = vec![
            (
                Box::new(|_| {}),
                "vfio: Um, this isn't a vfio-ccw device".into(),
            ),
            (
                Box::new(|p| {
                    p.override_device_info(ccw_info(0, 4));
                }),
                "vfio: too few regions (0), expected at least 1".into(),
            ),
            (
                Box::new(|p| {
                    p.override_device_info(ccw_info(1, 4))
                        .inject(Op::DeviceGetRegionInfo, Errno::EINVAL);
                }),
                "vfio: Error getting config info: Invalid argument".into(),
            ),
            (
                // edu's BAR0 (1 MiB) is not a 124-byte I/O region.
                Box::new(|p| {
                    p.override_device_info(ccw_info(1, 4));
                }),
                "vfio: Unexpected size of the I/O region".into(),
            ),
            (
                Box::new(|p| {
                    ccw_ok(p);
                    p.override_device_info(ccw_info(1, 0));
                }),
                "vfio: IRQ 0 not available (number of irqs 0)".into(),
            ),
            (
                Box::new(|p| {
                    ccw_ok(p);
                    p.inject(Op::DeviceGetIrqInfo, Errno::EINVAL);
                }),
                "vfio: Error getting irq info: Invalid argument".into(),
            ),
            (
                Box::new(|p| {
                    p.inject(Op::DeviceGetInfo, Errno::EFAULT);
                }),
                "error getting device info: Bad address".into(),
            ),
            (
                Box::new(|p| {
                    ccw_ok(p);
                    p.override_irq_info(vb::VFIO_CCW_IO_IRQ_INDEX, vb::VFIO_IRQ_INFO_EVENTFD, 0);
                }),
                "vfio: Error getting irq info, count=0".into(),
            ),
            (
                Box::new(|p| {
                    ccw_ok(p);
                    p.inject(Op::Eventfd, Errno::EMFILE);
                }),
                "vfio: Unable to init event notifier for irq (0): Too many open files".into(),
            ),
        ];
        // A device-specific region of the CCW type with a size other than the uAPI's.
        let cases = cases.into_iter().chain(
            [
                (vb::VFIO_REGION_SUBTYPE_CCW_ASYNC_CMD, "async cmd"),
                (vb::VFIO_REGION_SUBTYPE_CCW_SCHIB, "schib"),
                (vb::VFIO_REGION_SUBTYPE_CCW_CRW, "CRW"),
            ]
            .into_iter()
            .map(|(subtype, what)| -> (Setup, String) {
                (
                    Box::new(move |p| {
                        ccw_ok(p);
                        p.override_device_info(ccw_info(2, 1));
                        p.override_region(ccw_region(1, subtype, 3));
                    }),
                    format!("vfio: Unexpected size of the {what} region"),
                )
            }),
        );
        for (setup, msg) in cases {
            let mut c = Case::new(g);
            c.tree.set_resource(Host::with_root(root.path()));
            c.tree.object_add("iommufd,id=io0").expect("object_add");
            c.linked = true;
            let (file, spec) = with_cdev(g, &ccw_spec());
            let p = plan();
            setup(&p);
            c.fails_only(Some(p), &spec, &msg, None);
            drop(file);
            // Released: the same device realizes as a ccw device now, then goes.
            let (_file, spec) = with_cdev(g, &ccw_spec());
            let p = plan();
            ccw_ok(&p);
            c.tree
                .device_add(&spec)
                .unwrap_or_else(|e| panic!("{spec}: {}", text(&e)));
            drop(p);
            c.tree.del_device("f0").expect("del_device");
        }
    });
}

/// A CCW-type device-specific region at `index`.
fn ccw_region(index: u32, subtype: u32, size: u64) -> qomgen_devices::sys::vfio::RegionInfo {
    qomgen_devices::sys::vfio::RegionInfo {
        index,
        flags: RegionFlags::READ | RegionFlags::WRITE,
        size,
        offset: 0,
        caps: vec![qomgen_devices::sys::vfio::RegionCap::Type {
            type_: vb::VFIO_REGION_TYPE_CCW,
            subtype,
        }],
    }
}

/// A ccw device with a CRW region registers the I/O and CRW interrupts
/// (edu's INTx and MSI indexes answer for them); the request interrupt is
/// best effort: edu's index 2 (MSI-X) has no vector, a warning. Released
/// with the device.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn ccw_interrupt_notifiers() {
    use qomgen_devices::models::vfio_ccw::VfioCcw;
    use qomgen_devices::sys::ccw::CcwCrwRegion;
    on_iommufd_guest(|g| {
        let root = s390_root();
        let mut tree = ObjectTree::new();
        tree.set_resource(Host::with_root(root.path()));
        tree.object_add("iommufd,id=io0").expect("object_add");
        let fds = common::open_fds();
        let (file, spec) = with_cdev(g, &ccw_spec());
        let p = plan();
        ccw_ok(&p);
        p.override_device_info(ccw_info(2, 3));
        p.override_region(ccw_region(
            1,
            vb::VFIO_REGION_SUBTYPE_CCW_CRW,
            CcwCrwRegion::SIZE as u64,
        ));
        let dev = tree
            .device_add(&spec)
            .unwrap_or_else(|e| panic!("{spec}: {}", text(&e)));
        {
            let d = dev.borrow();
            let a = d
                .downcast_ref::<VfioCcw>()
                .expect("vfio-ccw")
                .attached()
                .expect("attached");
            let idx: Vec<u32> = a.notifiers.iter().map(|n| n.index).collect();
            assert_eq!(idx, [vb::VFIO_CCW_IO_IRQ_INDEX]);
        }
        // vfio-pci runs one interrupt type at a time: with INTx (the I/O
        // interrupt here) enabled it refuses MSI (the CRW one). A refused
        // assignment is a warning, as QEMU carries on without that notifier.
        let w: Vec<String> = tree.take_warnings().iter().map(text).collect();
        assert_eq!(
            w,
            [
                "vfio: Failed to set up IRQ 1 signaling: Invalid argument",
                "vfio: Error getting irq info, count=0"
            ]
        );
        // Without a devno it took the first place of the virtual css.
        let prop = |name: &str| ObjectTree::get(&**dev.borrow(), name).expect(name);
        assert_eq!(prop("dev_id"), "fe.0.0000");
        assert_eq!(prop("subch_id"), "fe.0.0000");
        // That bus id is taken now (checked before the device is touched).
        let e = tree
            .device_add(&format!(
                "vfio-ccw,sysfsdev=/sys/bus/mdev/devices/{CCW_UUID},devno=fe.0.0000,id=f1"
            ))
            .map(drop)
            .expect_err("a taken devno");
        assert_eq!(text(&e), "Device fe.0.0000 already exists");
        drop(dev);
        drop(p);
        tree.del_device("f0").expect("del_device");
        drop(file);
        assert_eq!(
            common::open_fds(),
            fds,
            "an eventfd or the device stayed open"
        );
    });
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn ap_device_info_fails() {
    on_iommufd_guest(|g| {
        let mut c = Case::linked(g);
        let (file, spec) = with_cdev(g, "vfio-ap,iommufd=io0");
        let p = plan();
        p.inject(Op::DeviceGetInfo, Errno::EFAULT);
        c.fails_only(
            Some(p),
            &spec,
            "vfio f0: error getting device info: Bad address",
            None,
        );
        drop(file);
        let (_file, spec) = with_cdev(g, "vfio-ap,iommufd=io0");
        c.tree
            .device_add(&spec)
            .unwrap_or_else(|e| panic!("{spec}: {}", text(&e)));
        c.tree.del_device("f0").expect("del_device");
    });
}
