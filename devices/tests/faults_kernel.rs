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

const CONFIG_INDEX: u32 = vb::VFIO_PCI_CONFIG_REGION_INDEX;
const MSIX_INDEX: u32 = vb::VFIO_PCI_MSIX_IRQ_INDEX;
const READ_WRITE: u32 = vb::VFIO_REGION_INFO_FLAG_READ | vb::VFIO_REGION_INFO_FLAG_WRITE;

// ---------------------------------------------------------------------------
// Legacy: group and container (`vfio_legacy_attach_device`)

guest_cases! { |g| fails_legacy {
    group_status_ioctl_fails(|p| p.inject(Op::GroupGetStatus, Errno::EFAULT),
        &format!("vfio {}: failed to get group {} status: Bad address", g.bdf, g.group), None);
    group_not_viable(|p| p.override_group_flags(0),
        &format!("vfio {}: group {} is not viable", g.bdf, g.group), Some(NOT_VIABLE_HINT));
    container_api_version(|p| viable(p).override_api_version(1),
        &g.container("supported vfio version: 0, reported version: 1"), None);
    /// QEMU compares the ioctl's return value: a failing ioctl reports -1.
    container_api_version_ioctl_fails(|p| p.inject(Op::GetApiVersion, Errno::ENOTTY),
        &g.container("supported vfio version: 0, reported version: -1"), None);
    container_no_iommu_models(no_iommu_models,
        &g.container("No available IOMMU models"), None);
    /// QEMU takes a failing VFIO_CHECK_EXTENSION for "not supported": every
    /// candidate (type1v2 and type1, or no-IOMMU) fails.
    container_check_extension_fails(|p| check_extension_fails(p, g.noiommu),
        &g.container("No available IOMMU models"), None);
    container_set_group_container_fails(|p| p.inject(Op::GroupSetContainer, Errno::EBUSY),
        &g.container("Failed to set group container: Device or resource busy"), None);
    /// The group was set to the container: the failed realize must unset it
    /// (checked by `Case::fails` from the call log).
    container_set_iommu_fails(|p| p.inject(Op::SetIommu, Errno::EINVAL),
        &g.container("Failed to set iommu for container: Invalid argument"), None);
}}

/// The type1 models and no-IOMMU, all reported unsupported.
fn no_iommu_models(p: &Faults) -> &Faults {
    for ext in [
        vb::VFIO_TYPE1v2_IOMMU,
        vb::VFIO_TYPE1_IOMMU,
        vb::VFIO_NOIOMMU_IOMMU,
    ] {
        p.override_extension(ext, false);
    }
    p
}

/// `VFIO_CHECK_EXTENSION` fails for each candidate model: no-IOMMU alone
/// in no-IOMMU mode, type1v2 then type1 otherwise.
fn check_extension_fails(p: &Faults, noiommu: bool) -> &Faults {
    p.inject(Op::CheckExtension, Errno::EINVAL);
    if noiommu {
        p
    } else {
        p.inject(Op::CheckExtension, Errno::EINVAL)
    }
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
    fails_legacy(
        &g,
        |p| p.inject(Op::IommuGetInfo, Errno::EFAULT),
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
    // Nothing planned: the kernel refuses the token itself, and the plan's
    // call log still shows that realize cleaned up after it.
    fails_planned(
        &g,
        |p| p,
        &g.spec(",vf-token=2ab74924-c335-45f4-9b16-8569e5b08258"),
        &msg("Invalid argument"),
        Some(&hint),
    );
    fails_legacy(
        &g,
        |p| p.inject(Op::GroupGetDeviceFd, Errno::EACCES),
        &msg("Permission denied"),
        Some(&hint),
    );
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

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn device_info_fails() {
    let (g, _l) = detect();
    let msg = g.vfio("error getting device info: Bad address");
    fails_legacy(
        &g,
        |p| p.inject(Op::DeviceGetInfo, Errno::EFAULT),
        &msg,
        None,
    );
    fails_on_iommufd(
        &g,
        |p| p.inject(Op::DeviceGetInfo, Errno::EFAULT),
        |_| msg.clone(),
    );
}

guest_cases! { |g| fails_on_both {
    device_info_not_pci(
        |p| p.override_device_info(DeviceInfo { flags: DeviceFlags::PLATFORM, ..EDU_INFO }),
        &g.vfio("this isn't a PCI device"));
    device_info_too_few_regions(
        |p| p.override_device_info(DeviceInfo { num_regions: CONFIG_INDEX, ..EDU_INFO }),
        &g.vfio(&format!("unexpected number of io regions {CONFIG_INDEX}")));
    device_info_too_few_irqs(
        |p| p.override_device_info(DeviceInfo { num_irqs: MSIX_INDEX, ..EDU_INFO }),
        &g.vfio(&format!("unexpected number of irqs {MSIX_INDEX}")));
    /// The config region comes after BAR0-5 and the ROM.
    config_region_info_fails(
        |p| p.inject_nth(Op::DeviceGetRegionInfo, CONFIG_INDEX as usize, Errno::EINVAL),
        &g.vfio("failed to get config info: Invalid argument"));
    config_space_read_fails(|p| p.inject(Op::RegionRead, Errno::EIO),
        &g.vfio("failed to read device config space: Input/output error"));
}}

guest_cases! { |g| fails_legacy {
    /// BAR0 (QEMU: "failed to get region %d info").
    region_info_fails(|p| p.inject(Op::DeviceGetRegionInfo, Errno::EINVAL),
        &g.vfio("failed to get region 0 info: Invalid argument"), None);
    /// Not in the reference: QEMU reads only the ERR/REQ IRQ info at realize
    /// (and only traces a failure); this crate reads every index and fails on
    /// INTx/MSI/MSI-X.
    irq_info_fails(|p| p.inject(Op::DeviceGetIrqInfo, Errno::EINVAL),
        &g.vfio("failed to get irq 0 info: Invalid argument"), None);
}}

guest_cases! { |g| realizes_planned {
    /// A config region shorter than a header (planned: 8 bytes at offset 0,
    /// which is BAR0 for vfio-pci) reads as zeros past its end, as QEMU's
    /// zeroed copy does: no capability list, no panic.
    short_config_region(|p| p.override_region_info(CONFIG_INDEX, READ_WRITE, 8), &g.spec(""),
        |s| assert_eq!((s.class_code, s.capabilities.len()), (0, 0)));
}}

/// No plan: the kernel has no VGA region for edu.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn x_vga() {
    let (g, _l) = detect();
    fails_then_plain(
        &g,
        &g.spec(",x-vga=on"),
        &format!(
            "vfio {}: failed getting region info for VGA region index {}: Invalid argument",
            g.bdf,
            vb::VFIO_PCI_VGA_REGION_INDEX
        ),
    );
}

/// A VGA region of the wrong shape, planned: `flags` and `size` as the
/// kernel would report them.
fn vga_region(p: &Faults, flags: u32, size: u64) -> &Faults {
    p.override_region_info(vb::VFIO_PCI_VGA_REGION_INDEX, flags, size)
}

guest_cases! { |g| fails_planned {
    x_vga_read_only_region(|p| vga_region(p, vb::VFIO_REGION_INFO_FLAG_READ, 0xc_0000),
        &g.spec(",x-vga=on"), &g.vfio("unexpected VGA info, flags 0x1, size 0xc0000"), Some(VGA_HINT));
    x_vga_short_region(|p| vga_region(p, READ_WRITE, 0xb_ffff),
        &g.spec(",x-vga=on"), &g.vfio("unexpected VGA info, flags 0x3, size 0xbffff"), Some(VGA_HINT));
}}

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

guest_cases! { |g| fails_on_iommufd {
    iommufd_bind_fails(|p| p.inject(Op::DeviceBindIommufd, Errno::EBUSY),
        |fds| format!("vfio {}: error bind device fd={} to iommufd={}: Device or resource busy",
            g.bdf, fds[0], fds[1]));
    iommufd_ioas_alloc_fails(|p| p.inject(Op::IoasAlloc, Errno::ENOMEM),
        |_| g.vfio("Failed to allocate ioas: Cannot allocate memory"));
    /// A fresh iommufd numbers its objects from 1: the bound device is 1,
    /// the IOAS 2, the HWPT allocated for the device 3.
    iommufd_attach_fails(|p| p.inject(Op::DeviceAttachIommufdPt, Errno::EINVAL),
        |fds| format!("vfio {}: [iommufd={}] error attach {} ({}) to id=3: Invalid argument",
            g.bdf, fds[1], g.bdf, fds[0]));
}}
