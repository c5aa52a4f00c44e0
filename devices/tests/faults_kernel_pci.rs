//! vfio-pci realize after the device is populated, on the real kernel of
//! the `vm/` guest: MSI-X and the capability checks, the display and
//! migration probes, shared groups and iommufd domains, and the KVM-VFIO
//! device (QEMU's `hw/vfio/pci.c: vfio_pci_realize` from
//! `vfio_msix_early_setup` on), with QEMU's exact messages and hints; split
//! from `faults_kernel.rs`.
//!
//! ```sh
//! vm/test-real-kernel --mode custom           # or: all modes
//! CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER=$PWD/vm/cargo-runner \
//!     cargo test -p qomgen-devices --test faults_kernel_pci -- --include-ignored
//! ```
//!
//! The failures are planned as in `faults_kernel.rs` (which says how), and
//! [`Case::fails`] checks that each left nothing behind. Every test is
//! `#[ignore]`d ("needs the real-kernel guest"); `vm/test-real-kernel`
//! runs them in the guest.

mod common;
#[path = "common/faults.rs"]
mod faults;

use qomgen::ObjectTree;
use qomgen_devices::models::vfio_pci::VfioPci;
use qomgen_devices::report::DeviceReport;
use qomgen_devices::sys::fault::Faults;
use qomgen_devices::sys::vfio::{DeviceInfo, RegionFlags};
use qomgen_devices::sys::{Errno, Op};
use vfio_bindings::bindings::vfio as vb;

use faults::*;

/// The guest's device; `detect` also takes the lock that serialises the tests.
type Guest = common::GuestDevice;

// ---------------------------------------------------------------------------
// MSI-X (`vfio_msix_early_setup`) and the capability checks
// (`vfio_pci_add_capabilities`)
//
// edu has MSI (at 0x40, the last capability) and no MSI-X, so the plan
// patches config space as the kernel returns it: MSI's next pointer leads to
// an MSI-X (or PCIe) capability at 0x50. edu's BAR0 is 1 MiB of 32-bit
// memory; BAR1-5 are not implemented.

/// vfio-pci places region N at offset N << 40 of the device fd.
const CONFIG: u64 = (vb::VFIO_PCI_CONFIG_REGION_INDEX as u64) << 40;
const READ_WRITE: u32 = vb::VFIO_REGION_INFO_FLAG_READ | vb::VFIO_REGION_INFO_FLAG_WRITE;
const MIGRATION: u32 = vb::VFIO_DEVICE_FEATURE_MIGRATION;

/// Config space with an MSI-X capability of 8 vectors at 0x50: table and PBA
/// as given (BIR in the low bits).
fn with_msix(p: &Faults, table: u32, pba: u32) -> &Faults {
    p.override_read(CONFIG + 0x41, &[0x50]);
    let mut cap = vec![0x11, 0x00, 0x07, 0x00];
    cap.extend_from_slice(&table.to_le_bytes());
    cap.extend_from_slice(&pba.to_le_bytes());
    p.override_read(CONFIG + 0x50, &cap)
}

/// [`with_msix`] with the table and PBA in BAR0, where they fit.
fn msix(p: &Faults) -> &Faults {
    with_msix(p, 0x2000, 0x3000)
}

// The whole config space is the first read; then MSI-X flags, table, PBA.
guest_cases! { |g| fails_legacy {
    msix_flags_read_fails(|p| msix(p).inject_nth(Op::RegionRead, 1, Errno::EIO),
        &g.vfio("failed to read PCI MSIX FLAGS: Input/output error"), None);
    msix_table_read_fails(|p| msix(p).inject_nth(Op::RegionRead, 2, Errno::EIO),
        &g.vfio("failed to read PCI MSIX TABLE: Input/output error"), None);
    msix_pba_read_fails(|p| msix(p).inject_nth(Op::RegionRead, 3, Errno::EIO),
        &g.vfio("failed to read PCI MSIX PBA: Input/output error"), None);
    /// realize reads the info of every IRQ index first; MSI-X's comes again.
    msix_irq_info_fails(
        |p| msix(p).inject_nth(Op::DeviceGetIrqInfo, vb::VFIO_PCI_NUM_IRQS as usize, Errno::EINVAL),
        &g.vfio("failed to get MSI-X irq info: Invalid argument"), None);
    msix_pba_outside_its_bar(|p| with_msix(p, 0x2000, 0x20_0000),
        &g.vfio("hardware reports invalid configuration, MSIX PBA outside of specified BAR"), None);
}}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn msix_found_and_relocated() {
    let (g, _l) = detect();
    let mut c = Case::new(&g);
    let p = plan();
    msix(&p);
    let m = realized_pci(&mut c, &g.spec(""), |s| s.msix).expect("MSI-X found");
    assert_eq!(
        (
            m.entries,
            m.table_bar,
            m.table_offset,
            m.pba_bar,
            m.pba_offset,
            m.relocated
        ),
        (8, 0, 0x2000, 0, 0x3000, false)
    );
    // A PBA outside its BAR is no error once the structures move.
    with_msix(&p, 0x2000, 0x20_0000);
    let (m, bars) = realized_pci(&mut c, &g.spec(",x-msix-relocation=bar0"), |s| {
        (s.msix, s.bars)
    });
    let m = m.expect("MSI-X found");
    // BAR0 doubles to 2 MiB; the table starts in its second half.
    assert_eq!(
        (bars[0].size, m.table_bar, m.table_offset, m.pba_offset),
        (0x20_0000, 0, 0x10_0000, 0x10_0080)
    );
    assert!(m.relocated);
    // BAR2 is free, and BAR3 too: a new 64-bit BAR of one page.
    let (m, bars) = realized_pci(&mut c, &g.spec(",x-msix-relocation=bar2"), |s| {
        (s.msix, s.bars)
    });
    let m = m.expect("MSI-X found");
    let page = 4096;
    assert_eq!(
        (
            bars[2].size,
            bars[2].mem64,
            m.table_bar,
            m.table_offset,
            m.pba_bar
        ),
        (page, true, 2, 0, 2)
    );
    drop(p);
}

guest_cases! { |g| fails_planned {
    msix_relocation_auto_unavailable(msix,
        &g.spec(",x-msix-relocation=auto"),
        &g.vfio("No automatic MSI-X relocation available for device 1234:11e8"), None);
    /// BAR1 made an I/O BAR (its register), still unimplemented (size 0).
    msix_relocation_to_an_io_bar(
        |p| msix(p).override_read(CONFIG + 0x14, &0x0000_c001u32.to_le_bytes()),
        &g.spec(",x-msix-relocation=bar1"),
        &g.vfio("Invalid MSI-X relocation BAR 1, I/O port BAR"), None);
    /// BAR0 made 64-bit: BAR1 is its upper half.
    msix_relocation_to_a_64_bit_bars_upper_half(
        |p| msix(p).override_read(CONFIG + 0x10, &0xfe00_0004u32.to_le_bytes()),
        &g.spec(",x-msix-relocation=bar1"),
        &g.vfio("Invalid MSI-X relocation BAR 1, consumed by 64-bit BAR 0"), None);
    /// BAR0 made 2 GiB (32-bit): it cannot double.
    msix_relocation_without_space_to_extend(
        |p| msix(p).override_region_info(vb::VFIO_PCI_BAR0_REGION_INDEX, READ_WRITE, 2 << 30),
        &g.spec(",x-msix-relocation=bar0"),
        &g.vfio("Invalid MSI-X relocation BAR 0, no space to extend 32-bit BAR"), None);
}}

guest_cases! { |g| fails_legacy {
    /// MSI's flags are read from the device again: the second read.
    msi_flags_read_fails(|p| p.inject_nth(Op::RegionRead, 1, Errno::EIO),
        &g.vfio("failed to add PCI capability 0x5[0xc0]@0x40: failed reading MSI PCI_CAP_FLAGS: Input/output error"), None);
    /// A PCIe capability of a root port (type 4) after MSI; it is checked
    /// first (QEMU adds capabilities from the end of the list), and spans
    /// up to 0x100.
    pcie_root_port_refused(|p| after_msi(p, &[0x10, 0x00, 0x42, 0x00]),
        &g.vfio("failed to add PCI capability 0x10[0xb0]@0x50: assignment of PCIe type 0x4 devices is not currently supported"), None);
}}

/// Config space with `cap` at 0x50, after edu's MSI.
fn after_msi<'p>(p: &'p Faults, cap: &[u8]) -> &'p Faults {
    p.override_read(CONFIG + 0x41, &[0x50])
        .override_read(CONFIG + 0x50, cap)
}

guest_cases! { |g| realizes_planned {
    /// A PCIe endpoint after MSI passes the capability checks.
    pcie_endpoint_accepted(|p| after_msi(p, &[0x10, 0x00, 0x02, 0x00]), &g.spec(""),
        |s| assert_eq!(s.capabilities.iter().map(|c| c.id).collect::<Vec<_>>(), [0x05, 0x10]));
}}

// ---------------------------------------------------------------------------
// Display (`vfio_display_probe`) and migration (`vfio_migration_realize`)

guest_cases! { |g| fails_then_plain {
    /// No plan: vfio-pci has no display planes (ENOTTY).
    display_unsupported(&g.spec(",display=on"),
        &g.vfio("vfio: device doesn't support any (known) display method"));
    ramfb_needs_a_display(&g.nohotplug(",ramfb=on,display=auto"),
        &g.vfio("ramfb=on requires display=on"));
    /// No display: ramfb's error comes before the resolution's ...
    ramfb_checked_before_the_resolution(&g.nohotplug(",ramfb=on,xres=800"),
        &g.vfio("ramfb=on requires display=on"));
    /// ... and before migration realize's (edu cannot migrate).
    ramfb_checked_before_migration(&g.nohotplug(",ramfb=on,enable-migration=on"),
        &g.vfio("ramfb=on requires display=on"));
    /// No plan: vfio-pci without a variant driver has no migration (ENOTTY).
    migration_unsupported(&g.spec(",enable-migration=on"),
        &format!("vfio {0}: {0}: VFIO migration is not supported in kernel", g.bdf));
}}

/// A device with region planes (no EDID region).
fn region_planes(p: &Faults) -> &Faults {
    p.override_gfx_planes(vb::VFIO_GFX_PLANE_TYPE_REGION)
}

guest_cases! { |g| fails_planned {
    resolution_needs_edid(region_planes,
        &g.spec(",display=on,xres=1024,yres=768"),
        &g.vfio("xres and yres properties need edid support"), None);
    ramfb_migration_needs_migration(region_planes,
        &g.nohotplug(",display=on,ramfb=on,x-ramfb-migrate=on,enable-migration=off"),
        &g.vfio("x-ramfb-migrate requires enable-migration"), None);
    /// A display without EDID: ramfb passes, the resolution does not, and
    /// x-ramfb-migrate is not looked at yet.
    ramfb_passes_before_the_resolution(region_planes,
        &g.nohotplug(",display=on,ramfb=on,xres=800,x-ramfb-migrate=on,enable-migration=off"),
        &g.vfio("xres and yres properties need edid support"), None);
    migration_feature_fails(|p| p.override_feature(MIGRATION, Err(Errno::EINVAL)),
        &g.spec(",enable-migration=on"),
        &format!("vfio {0}: {0}: Migration couldn't be initialized for VFIO device, err: -22 (Invalid argument)", g.bdf), None);
    /// Without stop-copy there is no migration to speak of.
    migration_without_stop_copy(|p| p.override_feature(MIGRATION, Ok(0)),
        &g.spec(",enable-migration=on"),
        &format!("vfio {0}: {0}: Migration couldn't be initialized for VFIO device, err: -95 (Operation not supported)", g.bdf), None);
}}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn display_probe() {
    let (g, _l) = detect();
    let mut c = Case::new(&g);
    assert_eq!(
        realized_pci(&mut c, &g.spec(",display=auto"), |s| s.display),
        None
    );
    // dma-buf planes and an EDID region at index 9.
    let p = plan();
    p.override_gfx_planes(vb::VFIO_GFX_PLANE_TYPE_DMABUF | vb::VFIO_GFX_PLANE_TYPE_REGION);
    p.override_device_info(DeviceInfo {
        num_regions: vb::VFIO_PCI_NUM_REGIONS + 1,
        ..EDU_INFO
    });
    p.override_region(qomgen_devices::sys::vfio::RegionInfo {
        index: vb::VFIO_PCI_NUM_REGIONS,
        flags: RegionFlags::READ | RegionFlags::WRITE,
        size: 0x1000,
        offset: 0,
        caps: vec![qomgen_devices::sys::vfio::RegionCap::Type {
            type_: vb::VFIO_REGION_TYPE_GFX,
            subtype: vb::VFIO_REGION_SUBTYPE_GFX_EDID,
        }],
    });
    let d = realized_pci(&mut c, &g.spec(",display=on,xres=1024,yres=768"), |s| {
        s.display
    })
    .expect("display");
    assert_eq!(d.method, qomgen_devices::attach::DisplayMethod::Dmabuf);
    assert_eq!(d.edid_region, Some(vb::VFIO_PCI_NUM_REGIONS));
    drop(p);
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn nohotplug_ramfb_checks() {
    let (g, _l) = detect();
    // Without ramfb, x-ramfb-migrate=on is turned off with a warning.
    let mut c = Case::new(&g);
    realized_pci(
        &mut c,
        &g.nohotplug(",x-ramfb-migrate=on,enable-migration=off"),
        |_| (),
    );
    let w = c.warnings();
    assert_eq!(
        w,
        ["x-ramfb-migrate=on but ramfb=off. Forcing x-ramfb-migrate to off."]
    );
    planned_pci(
        &mut c,
        region_planes,
        &g.nohotplug(",display=on,ramfb=on"),
        |s| assert!(s.display.is_some()),
    );
}

/// vfio-pci-nohotplug's ramfb settings are checked inside vfio-pci's
/// realize, at QEMU's points: after the display probe, `ramfb` before
/// `xres`/`yres` (the `ramfb_checked_*` and `ramfb_passes_*` tests), then
/// `x-ramfb-migrate`, then migration realize.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn nohotplug_ramfb_checks_run_in_qemus_order() {
    let (g, _l) = detect();
    const FORCED: &str = "x-ramfb-migrate=on but ramfb=off. Forcing x-ramfb-migrate to off.";
    let b = &g.bdf;
    let clean = g.spec("");
    // x-ramfb-migrate's warning comes before migration realize's error ...
    let mut c = Case::new(&g);
    c.fails(
        None,
        &g.nohotplug(",x-ramfb-migrate=on,enable-migration=on"),
        &format!("vfio {b}: {b}: VFIO migration is not supported in kernel"),
        None,
        &clean,
    );
    let w = c.warnings();
    assert_eq!(w, [FORCED]);
    // ... and before its warning, on a device that migrates without dirty
    // tracking (legacy: no IOMMU tracking; edu: no DMA logging).
    let p = plan();
    p.override_feature(
        vb::VFIO_DEVICE_FEATURE_MIGRATION,
        Ok(u64::from(vb::VFIO_MIGRATION_STOP_COPY)),
    );
    let prop_after_realize = |c: &mut Case<'_>, spec: &str| {
        let dev = c
            .tree
            .device_add(spec)
            .unwrap_or_else(|e| panic!("{spec}: {}", text(&e)));
        let v = ObjectTree::get(&**dev.borrow(), "x-ramfb-migrate").expect("x-ramfb-migrate");
        drop(dev);
        c.tree.del_device("f0").expect("del_device f0");
        v
    };
    assert_eq!(
        prop_after_realize(
            &mut c,
            &g.nohotplug(",x-ramfb-migrate=on,enable-migration=on")
        ),
        "off"
    );
    let w = c.warnings();
    assert_eq!(
        w,
        [
            FORCED.to_owned(),
            format!("{b}: VFIO device doesn't support device and IOMMU dirty tracking")
        ]
    );
    drop(p);
    // The property reads what realize resolved it to, as QEMU's does.
    assert_eq!(prop_after_realize(&mut c, &g.nohotplug("")), "auto");
    assert_eq!(
        prop_after_realize(&mut c, &g.nohotplug(",enable-migration=off")),
        "off"
    );
    assert!(c.tree.take_warnings().is_empty());
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn migration_probe() {
    use qomgen_devices::attach::{DirtyTracking, Migration};
    let (g, _l) = detect();
    let clean = g.spec("");
    let b = &g.bdf;
    let mut c = Case::new(&g);
    let blocked = |reason: String| Migration::Blocked { reason };
    assert_eq!(
        realized_pci(&mut c, &clean, |s| s.migration.clone()),
        blocked(format!("{b}: VFIO migration is not supported in kernel"))
    );
    assert_eq!(
        realized_pci(&mut c, &g.spec(",enable-migration=off"), |s| s
            .migration
            .clone()),
        blocked(format!("{b}: Migration is disabled for VFIO device"))
    );
    // A migratable device without dirty tracking (legacy: no IOMMU tracking;
    // edu: no DMA logging): blocked under auto, a warning under on.
    let stop_copy = u64::from(vb::VFIO_MIGRATION_STOP_COPY);
    let p = plan();
    p.override_feature(MIGRATION, Ok(stop_copy));
    let no_dirty = format!("{b}: VFIO device doesn't support device and IOMMU dirty tracking");
    assert_eq!(
        realized_pci(&mut c, &clean, |s| s.migration.clone()),
        blocked(no_dirty.clone())
    );
    assert!(c.tree.take_warnings().is_empty());
    assert_eq!(
        realized_pci(&mut c, &g.spec(",enable-migration=on"), |s| s
            .migration
            .clone()),
        Migration::Supported {
            flags: stop_copy,
            dirty_tracking: DirtyTracking::None
        }
    );
    let w = c.warnings();
    assert_eq!(w, [no_dirty]);
    // With device dirty tracking, unless turned off.
    p.override_feature(vb::VFIO_DEVICE_FEATURE_DMA_LOGGING_START, Ok(0));
    assert_eq!(
        realized_pci(&mut c, &clean, |s| s.migration.clone()),
        Migration::Supported {
            flags: stop_copy,
            dirty_tracking: DirtyTracking::Device
        }
    );
    assert!(matches!(
        realized_pci(&mut c, &g.spec(",x-device-dirty-page-tracking=off"), |s| s
            .migration
            .clone()),
        Migration::Blocked { .. }
    ));
    drop(p);
    // A failover primary is not probed at all (QEMU calls
    // vfio_migration_realize only without failover_pair_id): no blocker,
    // and enable-migration=on cannot fail.
    let p = plan();
    let spec = g.spec(",failover_pair_id=net0,enable-migration=on");
    let dev = c
        .tree
        .device_add(&spec)
        .unwrap_or_else(|e| panic!("{spec}: {}", text(&e)));
    {
        let d = dev.borrow();
        let report = DeviceReport::of(&**d, Some("f0"))
            .expect("a VFIO device")
            .to_string();
        assert!(
            report.contains(
                "\n  migration: not probed: failover primary of net0, unplugged before migration\n"
            ),
            "{report}"
        );
        let d = d.downcast_ref::<VfioPci>().expect("vfio-pci");
        let s = d.attached().expect("attached").pci.as_ref().expect("pci");
        assert_eq!(
            s.migration,
            Migration::Failover {
                pair: "net0".to_owned()
            }
        );
    }
    let calls = p.calls();
    assert!(calls.iter().all(|c| c.op != Op::DeviceFeature), "{calls:?}");
    drop(dev);
    c.tree.del_device("f0").expect("del_device f0");
}

// ---------------------------------------------------------------------------
// Groups shared by devices (legacy) and iommufd domains

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn group_is_shared_and_a_device_attaches_once() {
    let (g, _l) = detect();
    let mut tree = ObjectTree::new();
    let fds = common::open_fds();
    let a = format!("vfio-pci,host={},id=a", g.bdf);
    tree.device_add(&a)
        .unwrap_or_else(|e| panic!("{a}: {}", text(&e)));
    let during = common::open_fds();
    let b = format!("vfio-pci,host={},id=b", g.bdf);
    let e = tree
        .device_add(&b)
        .map(drop)
        .expect_err("the same device twice");
    assert_eq!(text(&e), g.vfio("device is already attached"));
    assert!(tree.device("b").is_none());
    assert_eq!(
        common::open_fds(),
        during,
        "the refused device left a descriptor"
    );
    // The first one is untouched; once it is gone the group is released.
    assert!(tree.device("a").is_some());
    tree.del_device("a").expect("del_device a");
    assert_eq!(
        common::open_fds(),
        fds,
        "the group or container stayed open"
    );
    tree.device_add(&b)
        .unwrap_or_else(|e| panic!("{b} after a: {}", text(&e)));
    tree.del_device("b").expect("del_device b");
    // Under the same group node, from another tree (another VM model in
    // the same process): the kernel's one-open rule is process-wide.
    let mut other = ObjectTree::new();
    tree.device_add(&a)
        .unwrap_or_else(|e| panic!("{a} again: {}", text(&e)));
    let e = other
        .device_add(&b)
        .map(drop)
        .expect_err("the same device from another tree");
    assert_eq!(text(&e), g.vfio("device is already attached"));
    tree.del_device("a").expect("del_device a");
    other
        .device_add(&b)
        .unwrap_or_else(|e| panic!("{b} in the other tree: {}", text(&e)));
    other.del_device("b").expect("del_device b");
    assert_eq!(common::open_fds(), fds);
}

guest_cases! { |g| fails_on_iommufd {
    iommufd_hw_info_fails(|p| p.inject(Op::GetHwInfo, Errno::EOPNOTSUPP),
        |_| g.vfio("Failed to get hardware info: Operation not supported"));
    iommufd_hwpt_alloc_fails(|p| p.inject(Op::HwptAlloc, Errno::ENOMEM),
        |_| g.vfio("Failed to allocate hwpt: Cannot allocate memory"));
}}

/// IOVA ranges that cannot be read are a warning, with QEMU's fallback hint.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn iommufd_iova_ranges_warn() {
    on_iommufd_guest(|g| {
        let mut c = Case::linked(g);
        planned_pci(
            &mut c,
            |p| p.inject(Op::IoasIovaRanges, Errno::EINVAL),
            &g.spec(",iommufd=io0"),
            |_| (),
        );
        let w = c.warnings();
        assert_eq!(
            w,
            [
                "Cannot get IOVA ranges: Invalid argument [hint: Fallback to default 64bit IOVA range and 4K page size]"
            ]
        );
    });
}

// ---------------------------------------------------------------------------
// The KVM-VFIO device (`hw/vfio/helpers.c: vfio_kvm_device_add_fd`). The guest has no KVM: a descriptor that
// is not a VM (or not a KVM device) makes the kernel refuse with ENOTTY,
// which is what these paths report. Creating the device on a real VM is
// tested on the host (`sys::kvm`).

fn null_fd() -> std::os::fd::OwnedFd {
    std::fs::File::open("/dev/null").expect("/dev/null").into()
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn kvm_vfio_device_fails() {
    use qomgen_devices::attach::KvmVfio;
    use qomgen_devices::sys::kvm::KvmVfioDevice;
    let (g, _l) = detect();
    let enotty = "Inappropriate ioctl for device";
    // Legacy: reported, not fatal, and the group is not counted as added.
    let mut c = Case::new(&g);
    let kvm = KvmVfio::for_vm(null_fd());
    c.tree.set_resource(kvm.clone());
    realized_pci(&mut c, &g.spec(""), |_| ());
    let w = c.warnings();
    assert_eq!(
        w,
        [format!(
            "group ID {}: Failed to create KVM VFIO device: {enotty}",
            g.group
        )]
    );
    assert!(kvm.groups().is_empty());
    let kvm = KvmVfio::with_device(KvmVfioDevice::from_fd(null_fd()));
    c.tree.set_resource(kvm);
    realized_pci(&mut c, &g.spec(""), |_| ());
    let w = c.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    let prefix = format!("group ID {}: Failed to add fd ", g.group);
    assert!(
        w[0].starts_with(&prefix) && w[0].ends_with(&format!(" to KVM VFIO device: {enotty}")),
        "{w:?}"
    );
    if !g.full() {
        return g.assert_iommufd_refused();
    }
    // iommufd: fatal, before the bind; the device cdev is the fd added.
    let spec = g.spec(",iommufd=io0");
    let mut c = Case::linked(&g);
    c.tree.set_resource(KvmVfio::for_vm(null_fd()));
    c.fails_only(
        Some(plan()),
        &spec,
        &format!("vfio {}: Failed to create KVM VFIO device: {enotty}", g.bdf),
        None,
    );
    c.tree
        .set_resource(KvmVfio::with_device(KvmVfioDevice::from_fd(null_fd())));
    let cdev_fd = next_fds(1)[0];
    c.fails_only(
        Some(plan()),
        &spec,
        &format!(
            "vfio {}: Failed to add fd {cdev_fd} to KVM VFIO device: {enotty}",
            g.bdf
        ),
        None,
    );
}
