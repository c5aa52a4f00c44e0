//! Every vfio-pci realize failure that follows a successful open, on the
//! real kernel of the `vm/` guest (QEMU's `edu` bound to vfio-pci), each
//! with QEMU's exact message and hint (`hw/vfio/pci.c: vfio_pci_realize`
//! from the attach on), and
//! the successful counterparts of the planned ones (MSI-X found and
//! relocated, a display with EDID, a migratable device, a shared group).
//!
//! ```sh
//! vm/test-real-kernel --mode custom           # or: all modes
//! CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER=$PWD/vm/cargo-runner \
//!     cargo test -p qomgen-devices --test faults_kernel -- --include-ignored
//! ```
//!
//! A healthy kernel answers these calls successfully, so most failures are
//! planned with the sys layer's test seam ([`qomgen_devices::sys::fault`]):
//! an injected errno or an overridden answer stands in for the kernel's
//! (the call is then not issued at all), while every other call of the
//! realize goes to the kernel. Where the kernel fails by itself (a VF token
//! on a PF, edu's missing VGA region, the override properties, the display
//! check), no plan is used.
//!
//! After each failure, [`Case::fails`] checks that it left nothing behind:
//! the tree is unchanged, no descriptor is open that was not open before,
//! the kernel accepted every clean-up call realize made (a container that was
//! set is unset again, an IOAS that was allocated is destroyed, each with
//! success), a linked iommufd object has no user left, and then the same
//! device realizes cleanly.
//!
//! Every test is `#[ignore]`d ("needs the real-kernel guest"): a plain
//! `cargo test` lists them as ignored. `vm/test-real-kernel` runs them in the
//! guest with `--include-ignored`; there (and anywhere else they are run) a
//! missing `VFIOVM_BDFS` makes each one fail, never pass.

mod common;
#[path = "common/faults.rs"]
mod faults;

use qomgen::ObjectTree;
use qomgen_devices::host::Host;
use qomgen_devices::sys::fault::{Faults, Request};
use qomgen_devices::sys::vfio::{DeviceFlags, DeviceInfo};
use qomgen_devices::sys::{Errno, Op};
use vfio_bindings::bindings::vfio as vb;

use faults::*;

/// The guest's device; `detect` also takes the lock that serialises the tests.
type Guest = common::GuestDevice;

// ---------------------------------------------------------------------------
// Legacy: group and container (`vfio_legacy_attach_device`)

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn group_status_ioctl_fails() {
    let (g, _l) = detect();
    let p = plan();
    p.inject(Op::GroupGetStatus, Errno::EFAULT);
    Case::new(&g).legacy(
        p,
        &format!(
            "vfio {}: failed to get group {} status: Bad address",
            g.bdf, g.group
        ),
        None,
    );
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn group_not_viable() {
    let (g, _l) = detect();
    let p = plan();
    p.override_group_flags(0);
    Case::new(&g).legacy(
        p,
        &format!("vfio {}: group {} is not viable", g.bdf, g.group),
        Some(NOT_VIABLE_HINT),
    );
}

/// `/dev/vfio/vfio` missing: a host root whose `/sys` and group node are the
/// real ones, without the container node. No fault plan.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn container_node_missing() {
    let (g, _l) = detect();
    let root = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink("/sys", root.path().join("sys")).unwrap();
    std::fs::create_dir_all(root.path().join("dev/vfio")).unwrap();
    let node = g.group_node.file_name().unwrap();
    std::os::unix::fs::symlink(&g.group_node, root.path().join("dev/vfio").join(node)).unwrap();
    let mut c = Case::new(&g);
    c.tree.set_resource(Host::with_root(root.path()));
    let spec = g.spec("");
    let before = common::open_fds();
    let e = c.tree.device_add(&spec).expect_err("no /dev/vfio/vfio");
    println!("{spec}: {}", text(&e));
    assert_eq!(
        e.message(),
        g.container("Could not open '/dev/vfio/vfio': No such file or directory")
    );
    assert_eq!(
        e.hint(),
        Some("Is your kernel config missing CONFIG_VFIO_CONTAINER?")
    );
    assert!(c.tree.is_empty());
    assert_eq!(common::open_fds(), before);
    // With the node, the same root realizes.
    std::os::unix::fs::symlink("/dev/vfio/vfio", root.path().join("dev/vfio/vfio")).unwrap();
    c.fails(
        None,
        &g.spec(",x-pci-vendor-id=0xffff"),
        &g.vfio("invalid PCI vendor ID provided"),
        None,
        &spec,
    );
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn container_api_version() {
    let (g, _l) = detect();
    let p = plan();
    viable(&p);
    p.override_api_version(1);
    Case::new(&g).legacy(
        p,
        &g.container("supported vfio version: 0, reported version: 1"),
        None,
    );
    // QEMU compares the ioctl's return value: a failing ioctl reports -1.
    let p = plan();
    p.inject(Op::GetApiVersion, Errno::ENOTTY);
    Case::new(&g).legacy(
        p,
        &g.container("supported vfio version: 0, reported version: -1"),
        None,
    );
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn container_no_iommu_models() {
    let (g, _l) = detect();
    let p = plan();
    for ext in [
        vb::VFIO_TYPE1v2_IOMMU,
        vb::VFIO_TYPE1_IOMMU,
        vb::VFIO_NOIOMMU_IOMMU,
    ] {
        p.override_extension(ext, false);
    }
    Case::new(&g).legacy(p, &g.container("No available IOMMU models"), None);
    // QEMU takes a failing VFIO_CHECK_EXTENSION for "not supported": every
    // candidate (type1v2 and type1, or no-IOMMU) fails.
    let p = plan();
    p.inject(Op::CheckExtension, Errno::EINVAL);
    if !g.noiommu {
        p.inject(Op::CheckExtension, Errno::EINVAL);
    }
    Case::new(&g).legacy(p, &g.container("No available IOMMU models"), None);
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn container_set_group_container_fails() {
    let (g, _l) = detect();
    let p = plan();
    p.inject(Op::GroupSetContainer, Errno::EBUSY);
    Case::new(&g).legacy(
        p,
        &g.container("Failed to set group container: Device or resource busy"),
        None,
    );
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn container_set_iommu_fails() {
    let (g, _l) = detect();
    let p = plan();
    p.inject(Op::SetIommu, Errno::EINVAL);
    // The group was set to the container: the failed realize must unset it
    // (checked by `Case::fails` from the call log).
    Case::new(&g).legacy(
        p,
        &g.container("Failed to set iommu for container: Invalid argument"),
        None,
    );
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn container_iommu_info_fails() {
    let (g, _l) = detect();
    if g.noiommu {
        // A no-IOMMU container has no type1 info; realize does not ask.
        let p = plan();
        p.inject(Op::IommuGetInfo, Errno::EFAULT);
        let mut t = ObjectTree::new();
        t.device_add(&g.spec(""))
            .unwrap_or_else(|e| panic!("no-IOMMU realize: {}", text(&e)));
        assert_eq!(p.pending(), [Op::IommuGetInfo]);
        return;
    }
    let p = plan();
    p.inject(Op::IommuGetInfo, Errno::EFAULT);
    Case::new(&g).legacy(
        p,
        &g.container("Failed to get VFIO IOMMU info: Bad address"),
        None,
    );
}

/// `VFIO_GROUP_GET_DEVICE_FD` refused by the kernel itself: a VF token on a
/// device that is not a VF (nor a PF with VFs) is `EINVAL` in vfio-pci.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn group_get_device_fd_fails() {
    let (g, _l) = detect();
    let hint = format!(
        "Verify all devices in group {} are bound to vfio-<bus> or pci-stub and not already in use",
        g.group
    );
    let msg = |e: &str| {
        format!(
            "vfio {}: error getting device from group {}: {e}",
            g.bdf, g.group
        )
    };
    let p = plan();
    Case::new(&g).fails(
        Some(p),
        &g.spec(",vf-token=2ab74924-c335-45f4-9b16-8569e5b08258"),
        &msg("Invalid argument"),
        Some(&hint),
        &g.spec(""),
    );
    let p = plan();
    p.inject(Op::GroupGetDeviceFd, Errno::EACCES);
    Case::new(&g).legacy(p, &msg("Permission denied"), Some(&hint));
}

/// An all-zero `vf-token` is no token (QEMU's `qemu_uuid_is_null`): this
/// kernel refuses any token for edu (above), so the realize shows that
/// none was sent, and the log shows what was.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn nil_vf_token_is_not_sent() {
    let (g, _l) = detect();
    let nil = ",vf-token=00000000-0000-0000-0000-000000000000";
    let p = plan();
    let mut t = ObjectTree::new();
    t.device_add(&g.spec(nil))
        .unwrap_or_else(|e| panic!("legacy, nil vf-token: {}", text(&e)));
    assert_eq!(p.requests(), [Request::DeviceName(g.bdf.clone())]);
    drop(t);
    drop(p);
    if g.full() {
        let p = plan();
        let mut t = ObjectTree::new();
        t.object_add("iommufd,id=io0")
            .unwrap_or_else(|e| panic!("object_add iommufd: {}", text(&e)));
        t.device_add(&g.spec(&format!(",iommufd=io0{nil}")))
            .unwrap_or_else(|e| panic!("iommufd, nil vf-token: {}", text(&e)));
        assert_eq!(p.requests(), [Request::BindToken(None)]);
    }
}

// ---------------------------------------------------------------------------
// Device info and population (`vfio_pci_populate_device`), both backends

/// Realize fails with `msg` once `arm` has set up a fresh plan: on the
/// legacy backend, then, when the guest has iommufd and cdevs, with a
/// linked iommufd object.
fn fails_on_both(g: &Guest, arm: impl Fn(&Faults) -> &Faults, msg: &str) {
    let p = plan();
    arm(&p);
    Case::new(g).legacy(p, msg, None);
    if g.full() {
        let p = plan();
        arm(&p);
        Case::linked(g).iommufd(p, msg);
    }
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn device_info_fails() {
    let (g, _l) = detect();
    let msg = g.vfio("error getting device info: Bad address");
    fails_on_both(&g, |p| p.inject(Op::DeviceGetInfo, Errno::EFAULT), &msg);
    if g.full() {
        let p = plan();
        p.inject(Op::DeviceGetInfo, Errno::EFAULT);
        Case::new(&g).iommufd(p, &msg);
    }
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn device_info_shape() {
    let (g, _l) = detect();
    let cases = [
        (
            DeviceInfo {
                flags: DeviceFlags::PLATFORM,
                ..EDU_INFO
            },
            "this isn't a PCI device".to_owned(),
        ),
        (
            DeviceInfo {
                num_regions: vb::VFIO_PCI_CONFIG_REGION_INDEX,
                ..EDU_INFO
            },
            format!(
                "unexpected number of io regions {}",
                vb::VFIO_PCI_CONFIG_REGION_INDEX
            ),
        ),
        (
            DeviceInfo {
                num_irqs: vb::VFIO_PCI_MSIX_IRQ_INDEX,
                ..EDU_INFO
            },
            format!("unexpected number of irqs {}", vb::VFIO_PCI_MSIX_IRQ_INDEX),
        ),
    ];
    for (info, msg) in cases {
        let msg = g.vfio(&msg);
        fails_on_both(&g, |p| p.override_device_info(info), &msg);
    }
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn region_info_fails() {
    let (g, _l) = detect();
    // BAR0 (QEMU: "failed to get region %d info").
    let p = plan();
    p.inject(Op::DeviceGetRegionInfo, Errno::EINVAL);
    Case::new(&g).legacy(
        p,
        &g.vfio("failed to get region 0 info: Invalid argument"),
        None,
    );
    // The config region comes after BAR0-5 and the ROM.
    let msg = g.vfio("failed to get config info: Invalid argument");
    let config = vb::VFIO_PCI_CONFIG_REGION_INDEX as usize;
    fails_on_both(
        &g,
        |p| p.inject_nth(Op::DeviceGetRegionInfo, config, Errno::EINVAL),
        &msg,
    );
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn config_space_read_fails() {
    let (g, _l) = detect();
    let msg = g.vfio("failed to read device config space: Input/output error");
    fails_on_both(&g, |p| p.inject(Op::RegionRead, Errno::EIO), &msg);
}

/// A config region shorter than a header (planned: 8 bytes at offset 0,
/// which is BAR0 for vfio-pci) reads as zeros past its end, as QEMU's
/// zeroed copy does: no capability list, no panic.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn short_config_region() {
    let (g, _l) = detect();
    let p = plan();
    p.override_region_info(
        vb::VFIO_PCI_CONFIG_REGION_INDEX,
        vb::VFIO_REGION_INFO_FLAG_READ | vb::VFIO_REGION_INFO_FLAG_WRITE,
        8,
    );
    let mut c = Case::new(&g);
    let (class, caps) = realized_pci(&mut c, &g.spec(""), |s| {
        (s.class_code, s.capabilities.len())
    });
    assert_eq!((class, caps), (0, 0));
    drop(p);
}

/// Not in the reference: QEMU reads only the ERR/REQ IRQ info at realize
/// (and only traces a failure); this crate reads every index and fails on
/// INTx/MSI/MSI-X.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn irq_info_fails() {
    let (g, _l) = detect();
    let p = plan();
    p.inject(Op::DeviceGetIrqInfo, Errno::EINVAL);
    Case::new(&g).legacy(
        p,
        &g.vfio("failed to get irq 0 info: Invalid argument"),
        None,
    );
}

/// No plan: the kernel has no VGA region for edu. Then a VGA region of the
/// wrong shape (read-only), planned.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn x_vga() {
    let (g, _l) = detect();
    let spec = g.spec(",x-vga=on");
    let clean = g.spec("");
    Case::new(&g).fails(
        None,
        &spec,
        &format!(
            "vfio {}: failed getting region info for VGA region index {}: Invalid argument",
            g.bdf,
            vb::VFIO_PCI_VGA_REGION_INDEX
        ),
        None,
        &clean,
    );
    let p = plan();
    p.override_region_info(
        vb::VFIO_PCI_VGA_REGION_INDEX,
        vb::VFIO_REGION_INFO_FLAG_READ,
        0xc_0000,
    );
    Case::new(&g).fails(
        Some(p),
        &spec,
        &g.vfio("unexpected VGA info, flags 0x1, size 0xc0000"),
        Some(VGA_HINT),
        &clean,
    );
    let p = plan();
    p.override_region_info(
        vb::VFIO_PCI_VGA_REGION_INDEX,
        vb::VFIO_REGION_INFO_FLAG_READ | vb::VFIO_REGION_INFO_FLAG_WRITE,
        0xb_ffff,
    );
    Case::new(&g).fails(
        Some(p),
        &spec,
        &g.vfio("unexpected VGA info, flags 0x3, size 0xbffff"),
        Some(VGA_HINT),
        &clean,
    );
}

/// The override properties and the display check: the kernel attaches the
/// device, realize then refuses (no plan).
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn override_ids_and_display_after_attach() {
    let (g, _l) = detect();
    let clean = g.spec("");
    let cases = [
        (",x-pci-vendor-id=0xffff", "invalid PCI vendor ID provided"),
        (",x-pci-device-id=0x10000", "invalid PCI device ID provided"),
        (
            ",x-pci-sub-vendor-id=0x10000",
            "invalid PCI subsystem vendor ID provided",
        ),
        (
            ",x-pci-sub-device-id=0x10000",
            "invalid PCI subsystem device ID provided",
        ),
        (
            ",x-pci-class-code=0x1000000",
            "invalid PCI class code provided",
        ),
        (",xres=800", "xres and yres properties require display=on"),
        (",yres=600", "xres and yres properties require display=on"),
    ];
    for (extra, msg) in cases {
        let msg = g.vfio(msg);
        Case::new(&g).fails(None, &g.spec(extra), &msg, None, &clean);
        if g.full() {
            let spec = g.spec(&format!(",iommufd=io0{extra}"));
            Case::linked(&g).fails(None, &spec, &msg, None, &clean);
        }
    }
}

// ---------------------------------------------------------------------------
// iommufd (`hw/vfio/iommufd.c: iommufd_cdev_attach`)

/// The device cdev and `/dev/iommu` are opened in that order, each getting
/// the lowest free descriptor.
fn bind_msg(g: &Guest, fds: &[i32], strerror: &str) -> String {
    format!(
        "vfio {}: error bind device fd={} to iommufd={}: {strerror}",
        g.bdf, fds[0], fds[1]
    )
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn iommufd_bind_fails() {
    let Some((g, _l)) = detect_full("iommufd_bind_fails") else {
        return;
    };
    for linked in [true, false] {
        let mut c = if linked {
            Case::linked(&g)
        } else {
            Case::new(&g)
        };
        let fds = next_fds(2);
        let p = plan();
        p.inject(Op::DeviceBindIommufd, Errno::EBUSY);
        c.iommufd(p, &bind_msg(&g, &fds, "Device or resource busy"));
    }
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn iommufd_ioas_alloc_fails() {
    let Some((g, _l)) = detect_full("iommufd_ioas_alloc_fails") else {
        return;
    };
    for linked in [true, false] {
        let mut c = if linked {
            Case::linked(&g)
        } else {
            Case::new(&g)
        };
        let p = plan();
        p.inject(Op::IoasAlloc, Errno::ENOMEM);
        c.iommufd(
            p,
            &g.vfio("Failed to allocate ioas: Cannot allocate memory"),
        );
    }
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn iommufd_attach_fails() {
    let Some((g, _l)) = detect_full("iommufd_attach_fails") else {
        return;
    };
    for linked in [true, false] {
        let mut c = if linked {
            Case::linked(&g)
        } else {
            Case::new(&g)
        };
        let fds = next_fds(2);
        let p = plan();
        p.inject(Op::DeviceAttachIommufdPt, Errno::EINVAL);
        // A fresh iommufd numbers its objects from 1: the bound device is 1,
        // the IOAS 2, the HWPT allocated for the device 3.
        c.iommufd(
            p,
            &format!(
                "vfio {}: [iommufd={}] error attach {} ({}) to id=3: Invalid argument",
                g.bdf, fds[1], g.bdf, fds[0]
            ),
        );
    }
}
