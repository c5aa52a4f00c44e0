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

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use qomgen::{Error, ObjectTree};
use qomgen_devices::attach::BackendPolicy;
use qomgen_devices::host::Host;
use qomgen_devices::models::iommufd::IommufdBackend;
use qomgen_devices::models::vfio_pci::VfioPci;
use qomgen_devices::report::DeviceReport;
use qomgen_devices::sys::fault::{Call, Faults, Request};
use qomgen_devices::sys::vfio::{DeviceFlags, DeviceInfo, RegionFlags};
use qomgen_devices::sys::{Errno, Op};
use vfio_bindings::bindings::vfio as vb;

static SERIAL: Mutex<()> = Mutex::new(());

const EDU_VENDOR: u16 = 0x1234;
const NOT_VIABLE_HINT: &str =
    "Please ensure all devices within the iommu_group are bound to their vfio bus driver.";
const VGA_HINT: &str = "device does not support requested feature x-vga";
/// edu's `VFIO_DEVICE_GET_INFO` shape: a PCI device with all the PCI
/// region and IRQ indexes (flags other than PCI do not matter to realize).
const EDU_INFO: DeviceInfo = DeviceInfo {
    flags: DeviceFlags::PCI,
    num_regions: vb::VFIO_PCI_NUM_REGIONS,
    num_irqs: vb::VFIO_PCI_NUM_IRQS,
};

/// The guest's device; `detect` also takes the lock that serialises the tests.
type Guest = common::GuestDevice;

/// The guest's device and the lock; panics outside the guest.
fn detect() -> (Guest, MutexGuard<'static, ()>) {
    // Naming a type of the crate keeps its inventory registrations.
    assert!(qomgen_devices::models::register().any(|n| n == "vfio-pci"));
    let lock = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    (Guest::detect(), lock)
}

impl Guest {
    fn spec(&self, extra: &str) -> String {
        format!("vfio-pci,host={},id=f0{extra}", self.bdf)
    }

    /// `failed to setup container for group N: `.
    fn container(&self, msg: &str) -> String {
        format!(
            "vfio {}: failed to setup container for group {}: {msg}",
            self.bdf, self.group
        )
    }
}

/// The `n` descriptor numbers the next opens will get (the lowest free ones).
fn next_fds(n: usize) -> Vec<i32> {
    let files: Vec<_> = (0..n)
        .map(|_| std::fs::File::open("/dev/null").expect("/dev/null"))
        .collect();
    files.iter().map(|f| f.as_raw_fd()).collect()
}

fn text(e: &Error) -> String {
    match e.hint() {
        Some(h) => format!("{} [hint: {h}]", e.message()),
        None => e.message().to_owned(),
    }
}

/// Successful kernel calls of `op` in the log.
fn ok_calls(calls: &[Call], op: Op) -> usize {
    calls
        .iter()
        .filter(|c| c.op == op && !c.injected && c.result.is_ok())
        .count()
}

/// One failing realize and the checks that it released everything.
struct Case<'g> {
    g: &'g Guest,
    tree: ObjectTree,
    /// `-object iommufd,id=io0` is in the tree.
    linked: bool,
}

impl<'g> Case<'g> {
    fn new(g: &'g Guest) -> Case<'g> {
        Case {
            g,
            tree: ObjectTree::new(),
            linked: false,
        }
    }

    /// With `-object iommufd,id=io0` (devices link it with `,iommufd=io0`).
    fn linked(g: &'g Guest) -> Case<'g> {
        let mut c = Case::new(g);
        c.tree
            .object_add("iommufd,id=io0")
            .unwrap_or_else(|e| panic!("object_add iommufd: {}", text(&e)));
        c.linked = true;
        c
    }

    /// `device_add(spec)` under `plan` must fail with exactly `msg` and
    /// `hint`, reach every injection, and leave nothing behind; then
    /// `clean` (the same device without the faulty property) realizes.
    #[track_caller]
    fn fails(
        &mut self,
        plan: Option<Faults>,
        spec: &str,
        msg: &str,
        hint: Option<&str>,
        clean: &str,
    ) {
        let before_fds = common::open_fds();
        self.fails_only(plan, spec, msg, hint);
        let dev = self
            .tree
            .device_add(clean)
            .unwrap_or_else(|e| panic!("{clean} after the failure: {}", text(&e)));
        {
            let d = dev.borrow();
            let d = d.downcast_ref::<VfioPci>().expect("vfio-pci");
            let a = d.attached().expect("attached");
            assert_eq!(a.pci.as_ref().expect("pci").vendor_id, EDU_VENDOR);
        }
        drop(dev);
        self.tree.del_device("f0").expect("del_device f0");
        assert_eq!(
            common::open_fds(),
            before_fds,
            "{clean}: descriptors leaked"
        );
    }

    /// [`Case::fails`] without the clean realize.
    #[track_caller]
    fn fails_only(&mut self, plan: Option<Faults>, spec: &str, msg: &str, hint: Option<&str>) {
        let before_len = self.tree.len();
        let before_fds = common::open_fds();
        let e = match self.tree.device_add(spec) {
            Ok(_) => panic!("{spec}: realized, expected {msg:?}"),
            Err(e) => e,
        };
        println!("{spec}: {}", text(&e));
        assert_eq!(e.message(), msg, "{spec}");
        assert_eq!(e.hint(), hint, "{spec}: hint");
        if let Some(plan) = plan {
            assert!(
                plan.pending().is_empty(),
                "{spec}: injections not reached: {:?}",
                plan.pending()
            );
            let calls = plan.calls();
            drop(plan);
            // Clean-up the kernel refused would leave state behind.
            for c in &calls {
                if matches!(
                    c.op,
                    Op::GroupUnsetContainer | Op::IommuDestroy | Op::DeviceDetachIommufdPt
                ) {
                    assert!(
                        c.injected || c.result.is_ok(),
                        "{spec}: clean-up {:?} failed: {calls:?}",
                        c
                    );
                }
            }
            assert_eq!(
                ok_calls(&calls, Op::GroupSetContainer),
                ok_calls(&calls, Op::GroupUnsetContainer),
                "{spec}: a container set by the failed realize was not unset: {calls:?}"
            );
            assert_eq!(
                ok_calls(&calls, Op::IoasAlloc) + ok_calls(&calls, Op::HwptAlloc),
                ok_calls(&calls, Op::IommuDestroy),
                "{spec}: an IOAS or HWPT allocated by the failed realize was not destroyed: {calls:?}"
            );
        }
        assert_eq!(self.tree.len(), before_len, "{spec}: the tree changed");
        assert!(self.tree.device("f0").is_none());
        assert_eq!(common::open_fds(), before_fds, "{spec}: descriptors leaked");
        if self.linked {
            let obj = self.tree.object("io0").expect("io0");
            let b = obj.borrow();
            let b = b.downcast_ref::<IommufdBackend>().expect("iommufd object");
            assert_eq!(b.users(), 0, "{spec}: io0 still has a user");
            assert!(b.iommufd().is_none(), "{spec}: io0 kept /dev/iommu open");
        }
    }

    /// [`Case::fails`] for a legacy realize of the guest's device under `plan`.
    #[track_caller]
    fn legacy(&mut self, plan: Faults, msg: &str, hint: Option<&str>) {
        let spec = self.g.spec("");
        self.fails(Some(plan), &spec, msg, hint, &spec);
    }

    /// [`Case::fails`] for an iommufd realize (linked `io0`, or a private
    /// iommufd by policy) under `plan`.
    #[track_caller]
    fn iommufd(&mut self, plan: Faults, msg: &str) {
        let spec = if self.linked {
            self.g.spec(",iommufd=io0")
        } else {
            self.tree.set_resource(BackendPolicy::Iommufd);
            self.g.spec("")
        };
        self.fails(Some(plan), &spec, msg, None, &spec);
    }
}

fn plan() -> Faults {
    Faults::install()
}

fn viable(p: &Faults) {
    p.override_group_flags(vb::VFIO_GROUP_FLAGS_VIABLE);
}

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
        &format!("vfio {}: invalid PCI vendor ID provided", g.bdf),
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

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn device_info_fails() {
    let (g, _l) = detect();
    let msg = format!("vfio {}: error getting device info: Bad address", g.bdf);
    let p = plan();
    p.inject(Op::DeviceGetInfo, Errno::EFAULT);
    Case::new(&g).legacy(p, &msg, None);
    if g.full() {
        let p = plan();
        p.inject(Op::DeviceGetInfo, Errno::EFAULT);
        Case::linked(&g).iommufd(p, &msg);
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
        let msg = format!("vfio {}: {msg}", g.bdf);
        let p = plan();
        p.override_device_info(info);
        Case::new(&g).legacy(p, &msg, None);
        if g.full() {
            let p = plan();
            p.override_device_info(info);
            Case::linked(&g).iommufd(p, &msg);
        }
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
        &format!(
            "vfio {}: failed to get region 0 info: Invalid argument",
            g.bdf
        ),
        None,
    );
    // The config region comes after BAR0-5 and the ROM.
    let msg = format!(
        "vfio {}: failed to get config info: Invalid argument",
        g.bdf
    );
    let p = plan();
    p.inject_nth(
        Op::DeviceGetRegionInfo,
        vb::VFIO_PCI_CONFIG_REGION_INDEX as usize,
        Errno::EINVAL,
    );
    Case::new(&g).legacy(p, &msg, None);
    if g.full() {
        let p = plan();
        p.inject_nth(
            Op::DeviceGetRegionInfo,
            vb::VFIO_PCI_CONFIG_REGION_INDEX as usize,
            Errno::EINVAL,
        );
        Case::linked(&g).iommufd(p, &msg);
    }
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn config_space_read_fails() {
    let (g, _l) = detect();
    let msg = format!(
        "vfio {}: failed to read device config space: Input/output error",
        g.bdf
    );
    let p = plan();
    p.inject(Op::RegionRead, Errno::EIO);
    Case::new(&g).legacy(p, &msg, None);
    if g.full() {
        let p = plan();
        p.inject(Op::RegionRead, Errno::EIO);
        Case::linked(&g).iommufd(p, &msg);
    }
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
        &format!("vfio {}: failed to get irq 0 info: Invalid argument", g.bdf),
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
        &format!(
            "vfio {}: unexpected VGA info, flags 0x1, size 0xc0000",
            g.bdf
        ),
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
        &format!(
            "vfio {}: unexpected VGA info, flags 0x3, size 0xbffff",
            g.bdf
        ),
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
        let msg = format!("vfio {}: {msg}", g.bdf);
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
    let (g, _l) = detect();
    if !g.full() {
        println!("iommufd_bind_fails: no iommufd + cdev on this kernel");
        return;
    }
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
    let (g, _l) = detect();
    if !g.full() {
        println!("iommufd_ioas_alloc_fails: no iommufd + cdev on this kernel");
        return;
    }
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
            &format!(
                "vfio {}: Failed to allocate ioas: Cannot allocate memory",
                g.bdf
            ),
        );
    }
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn iommufd_attach_fails() {
    let (g, _l) = detect();
    if !g.full() {
        println!("iommufd_attach_fails: no iommufd + cdev on this kernel");
        return;
    }
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

/// Configures a plan.
type Setup = Box<dyn Fn(&Faults)>;

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
    let (g, _l) = detect();
    if !g.full() {
        println!("ccw_checks_after_attach: no iommufd + cdev on this kernel");
        return;
    }
    let root = s390_root();
    let sysfsdev = format!("/sys/bus/mdev/devices/{CCW_UUID}");
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
        let mut c = Case::new(&g);
        c.tree.set_resource(Host::with_root(root.path()));
        c.tree.object_add("iommufd,id=io0").expect("object_add");
        c.linked = true;
        let file = cdev(&g);
        let spec = format!(
            "vfio-ccw,sysfsdev={sysfsdev},iommufd=io0,fd={},id=f0",
            file.as_raw_fd()
        );
        let p = plan();
        setup(&p);
        c.fails_only(Some(p), &spec, &msg, None);
        drop(file);
        // Released: the same device realizes as a ccw device now, then goes.
        let file = cdev(&g);
        let spec = format!(
            "vfio-ccw,sysfsdev={sysfsdev},iommufd=io0,fd={},id=f0",
            file.as_raw_fd()
        );
        let p = plan();
        ccw_ok(&p);
        c.tree
            .device_add(&spec)
            .unwrap_or_else(|e| panic!("{spec}: {}", text(&e)));
        drop(p);
        c.tree.del_device("f0").expect("del_device");
    }
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
    let (g, _l) = detect();
    if !g.full() {
        println!("ccw_interrupt_notifiers: no iommufd + cdev on this kernel");
        return;
    }
    let root = s390_root();
    let sysfsdev = format!("/sys/bus/mdev/devices/{CCW_UUID}");
    let mut tree = ObjectTree::new();
    tree.set_resource(Host::with_root(root.path()));
    tree.object_add("iommufd,id=io0").expect("object_add");
    let fds = common::open_fds();
    let file = cdev(&g);
    let spec = format!(
        "vfio-ccw,sysfsdev={sysfsdev},iommufd=io0,fd={},id=f0",
        file.as_raw_fd()
    );
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
            "vfio-ccw,sysfsdev={sysfsdev},devno=fe.0.0000,id=f1"
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
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn ap_device_info_fails() {
    let (g, _l) = detect();
    if !g.full() {
        println!("ap_device_info_fails: no iommufd + cdev on this kernel");
        return;
    }
    let mut c = Case::linked(&g);
    let file = cdev(&g);
    let spec = format!("vfio-ap,iommufd=io0,fd={},id=f0", file.as_raw_fd());
    let p = plan();
    p.inject(Op::DeviceGetInfo, Errno::EFAULT);
    c.fails_only(
        Some(p),
        &spec,
        "vfio f0: error getting device info: Bad address",
        None,
    );
    drop(file);
    let file = cdev(&g);
    let spec = format!("vfio-ap,iommufd=io0,fd={},id=f0", file.as_raw_fd());
    c.tree
        .device_add(&spec)
        .unwrap_or_else(|e| panic!("{spec}: {}", text(&e)));
    c.tree.del_device("f0").expect("del_device");
}

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

/// Config space with an MSI-X capability of 8 vectors at 0x50: table and PBA
/// as given (BIR in the low bits).
fn with_msix(p: &Faults, table: u32, pba: u32) {
    p.override_read(CONFIG + 0x41, &[0x50]);
    let mut cap = vec![0x11, 0x00, 0x07, 0x00];
    cap.extend_from_slice(&table.to_le_bytes());
    cap.extend_from_slice(&pba.to_le_bytes());
    p.override_read(CONFIG + 0x50, &cap);
}

fn realized_pci<R>(
    c: &mut Case<'_>,
    spec: &str,
    f: impl FnOnce(&qomgen_devices::attach::PciSummary) -> R,
) -> R {
    let dev = c
        .tree
        .device_add(spec)
        .unwrap_or_else(|e| panic!("{spec}: {}", text(&e)));
    let r = {
        let d = dev.borrow();
        let d = d.downcast_ref::<VfioPci>().expect("vfio-pci");
        f(d.attached().expect("attached").pci.as_ref().expect("pci"))
    };
    drop(dev);
    c.tree.del_device("f0").expect("del_device f0");
    r
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn msix_setup_fails() {
    let (g, _l) = detect();
    let clean = g.spec("");
    // The whole config space is the first read; then MSI-X flags, table, PBA.
    for (skip, what) in [(1, "FLAGS"), (2, "TABLE"), (3, "PBA")] {
        let p = plan();
        with_msix(&p, 0x2000, 0x3000);
        p.inject_nth(Op::RegionRead, skip, Errno::EIO);
        Case::new(&g).fails(
            Some(p),
            &clean,
            &format!(
                "vfio {}: failed to read PCI MSIX {what}: Input/output error",
                g.bdf
            ),
            None,
            &clean,
        );
    }
    // realize reads the info of every IRQ index first; MSI-X's comes again.
    let p = plan();
    with_msix(&p, 0x2000, 0x3000);
    p.inject_nth(
        Op::DeviceGetIrqInfo,
        vb::VFIO_PCI_NUM_IRQS as usize,
        Errno::EINVAL,
    );
    Case::new(&g).fails(
        Some(p),
        &clean,
        &format!(
            "vfio {}: failed to get MSI-X irq info: Invalid argument",
            g.bdf
        ),
        None,
        &clean,
    );
    // A PBA past the end of BAR0.
    let p = plan();
    with_msix(&p, 0x2000, 0x20_0000);
    Case::new(&g).fails(
        Some(p),
        &clean,
        &format!(
            "vfio {}: hardware reports invalid configuration, MSIX PBA outside of specified BAR",
            g.bdf
        ),
        None,
        &clean,
    );
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn msix_found_and_relocated() {
    let (g, _l) = detect();
    let mut c = Case::new(&g);
    let p = plan();
    with_msix(&p, 0x2000, 0x3000);
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

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn msix_relocation_fails() {
    let (g, _l) = detect();
    let clean = g.spec("");
    let cases: [(&str, Setup, &str); 4] = [
        (
            "auto",
            Box::new(|_| {}),
            "No automatic MSI-X relocation available for device 1234:11e8",
        ),
        // BAR1 made an I/O BAR (its register), still unimplemented (size 0).
        (
            "bar1",
            Box::new(|p| {
                p.override_read(CONFIG + 0x14, &0x0000_c001u32.to_le_bytes());
            }),
            "Invalid MSI-X relocation BAR 1, I/O port BAR",
        ),
        // BAR0 made 64-bit: BAR1 is its upper half.
        (
            "bar1",
            Box::new(|p| {
                p.override_read(CONFIG + 0x10, &0xfe00_0004u32.to_le_bytes());
            }),
            "Invalid MSI-X relocation BAR 1, consumed by 64-bit BAR 0",
        ),
        // BAR0 made 2 GiB (32-bit): it cannot double.
        (
            "bar0",
            Box::new(|p| {
                p.override_region_info(
                    vb::VFIO_PCI_BAR0_REGION_INDEX,
                    vb::VFIO_REGION_INFO_FLAG_READ | vb::VFIO_REGION_INFO_FLAG_WRITE,
                    2 << 30,
                );
            }),
            "Invalid MSI-X relocation BAR 0, no space to extend 32-bit BAR",
        ),
    ];
    for (bar, setup, msg) in cases {
        let p = plan();
        with_msix(&p, 0x2000, 0x3000);
        setup(&p);
        Case::new(&g).fails(
            Some(p),
            &g.spec(&format!(",x-msix-relocation={bar}")),
            &format!("vfio {}: {msg}", g.bdf),
            None,
            &clean,
        );
    }
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn capability_checks_fail() {
    let (g, _l) = detect();
    let clean = g.spec("");
    // MSI's flags are read from the device again: the second read.
    let p = plan();
    p.inject_nth(Op::RegionRead, 1, Errno::EIO);
    Case::new(&g).fails(
        Some(p),
        &clean,
        &format!(
            "vfio {}: failed to add PCI capability 0x5[0xc0]@0x40: failed reading MSI PCI_CAP_FLAGS: Input/output error",
            g.bdf
        ),
        None,
        &clean,
    );
    // A PCIe capability of a root port (type 4) after MSI; it is checked
    // first (QEMU adds capabilities from the end of the list), and spans
    // up to 0x100.
    let p = plan();
    p.override_read(CONFIG + 0x41, &[0x50]);
    p.override_read(CONFIG + 0x50, &[0x10, 0x00, 0x42, 0x00]);
    Case::new(&g).fails(
        Some(p),
        &clean,
        &format!(
            "vfio {}: failed to add PCI capability 0x10[0xb0]@0x50: assignment of PCIe type 0x4 devices is not currently supported",
            g.bdf
        ),
        None,
        &clean,
    );
    // An endpoint passes.
    let mut c = Case::new(&g);
    let p = plan();
    p.override_read(CONFIG + 0x41, &[0x50]);
    p.override_read(CONFIG + 0x50, &[0x10, 0x00, 0x02, 0x00]);
    let ids: Vec<u16> = realized_pci(&mut c, &clean, |s| {
        s.capabilities.iter().map(|c| c.id).collect()
    });
    assert_eq!(ids, [0x05, 0x10]);
}

// ---------------------------------------------------------------------------
// Display (`vfio_display_probe`) and migration (`vfio_migration_realize`)

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn display_probe() {
    let (g, _l) = detect();
    let clean = g.spec("");
    // No plan: vfio-pci has no display planes (ENOTTY).
    Case::new(&g).fails(
        None,
        &g.spec(",display=on"),
        &format!(
            "vfio {}: vfio: device doesn't support any (known) display method",
            g.bdf
        ),
        None,
        &clean,
    );
    let mut c = Case::new(&g);
    assert_eq!(
        realized_pci(&mut c, &g.spec(",display=auto"), |s| s.display),
        None
    );
    // A device with region planes but no EDID region.
    let p = plan();
    p.override_gfx_planes(vb::VFIO_GFX_PLANE_TYPE_REGION);
    Case::new(&g).fails(
        Some(p),
        &g.spec(",display=on,xres=1024,yres=768"),
        &format!("vfio {}: xres and yres properties need edid support", g.bdf),
        None,
        &clean,
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
    let nh = |extra: &str| format!("vfio-pci-nohotplug,host={},id=f0{extra}", g.bdf);
    let clean = g.spec("");
    Case::new(&g).fails(
        None,
        &nh(",ramfb=on,display=auto"),
        &format!("vfio {}: ramfb=on requires display=on", g.bdf),
        None,
        &clean,
    );
    let p = plan();
    p.override_gfx_planes(vb::VFIO_GFX_PLANE_TYPE_REGION);
    Case::new(&g).fails(
        Some(p),
        &nh(",display=on,ramfb=on,x-ramfb-migrate=on,enable-migration=off"),
        &format!("vfio {}: x-ramfb-migrate requires enable-migration", g.bdf),
        None,
        &clean,
    );
    // Without ramfb, x-ramfb-migrate=on is turned off with a warning.
    let mut c = Case::new(&g);
    realized_pci(
        &mut c,
        &nh(",x-ramfb-migrate=on,enable-migration=off"),
        |_| (),
    );
    let w: Vec<String> = c.tree.take_warnings().iter().map(text).collect();
    assert_eq!(
        w,
        ["x-ramfb-migrate=on but ramfb=off. Forcing x-ramfb-migrate to off."]
    );
    let p = plan();
    p.override_gfx_planes(vb::VFIO_GFX_PLANE_TYPE_REGION);
    realized_pci(&mut c, &nh(",display=on,ramfb=on"), |s| {
        assert!(s.display.is_some())
    });
    drop(p);
}

/// vfio-pci-nohotplug's ramfb settings are checked inside vfio-pci's
/// realize, at QEMU's points: after the display probe, `ramfb` before
/// `xres`/`yres`, then `x-ramfb-migrate`, then migration realize.
#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn nohotplug_ramfb_checks_run_in_qemus_order() {
    let (g, _l) = detect();
    const FORCED: &str = "x-ramfb-migrate=on but ramfb=off. Forcing x-ramfb-migrate to off.";
    let b = &g.bdf;
    let nh = |extra: &str| format!("vfio-pci-nohotplug,host={b},id=f0{extra}");
    let clean = g.spec("");
    // No display: ramfb's error comes before the resolution's ...
    Case::new(&g).fails(
        None,
        &nh(",ramfb=on,xres=800"),
        &format!("vfio {b}: ramfb=on requires display=on"),
        None,
        &clean,
    );
    // ... and before migration realize's (edu cannot migrate).
    Case::new(&g).fails(
        None,
        &nh(",ramfb=on,enable-migration=on"),
        &format!("vfio {b}: ramfb=on requires display=on"),
        None,
        &clean,
    );
    // A display without EDID: ramfb passes, the resolution does not, and
    // x-ramfb-migrate is not looked at yet.
    let p = plan();
    p.override_gfx_planes(vb::VFIO_GFX_PLANE_TYPE_REGION);
    Case::new(&g).fails(
        Some(p),
        &nh(",display=on,ramfb=on,xres=800,x-ramfb-migrate=on,enable-migration=off"),
        &format!("vfio {b}: xres and yres properties need edid support"),
        None,
        &clean,
    );
    // x-ramfb-migrate's warning comes before migration realize's error ...
    let mut c = Case::new(&g);
    c.fails(
        None,
        &nh(",x-ramfb-migrate=on,enable-migration=on"),
        &format!("vfio {b}: {b}: VFIO migration is not supported in kernel"),
        None,
        &clean,
    );
    let w: Vec<String> = c.tree.take_warnings().iter().map(text).collect();
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
        prop_after_realize(&mut c, &nh(",x-ramfb-migrate=on,enable-migration=on")),
        "off"
    );
    let w: Vec<String> = c.tree.take_warnings().iter().map(text).collect();
    assert_eq!(
        w,
        [
            FORCED.to_owned(),
            format!("{b}: VFIO device doesn't support device and IOMMU dirty tracking")
        ]
    );
    drop(p);
    // The property reads what realize resolved it to, as QEMU's does.
    assert_eq!(prop_after_realize(&mut c, &nh("")), "auto");
    assert_eq!(
        prop_after_realize(&mut c, &nh(",enable-migration=off")),
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
    // No plan: vfio-pci without a variant driver has no migration (ENOTTY).
    Case::new(&g).fails(
        None,
        &g.spec(",enable-migration=on"),
        &format!("vfio {b}: {b}: VFIO migration is not supported in kernel"),
        None,
        &clean,
    );
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
    let mig = vb::VFIO_DEVICE_FEATURE_MIGRATION;
    for (answer, err) in [
        (Err(Errno::EINVAL), "-22 (Invalid argument)"),
        // Without stop-copy there is no migration to speak of.
        (Ok(0), "-95 (Operation not supported)"),
    ] {
        let p = plan();
        p.override_feature(mig, answer);
        Case::new(&g).fails(
            Some(p),
            &g.spec(",enable-migration=on"),
            &format!(
                "vfio {b}: {b}: Migration couldn't be initialized for VFIO device, err: {err}"
            ),
            None,
            &clean,
        );
    }
    // A migratable device without dirty tracking (legacy: no IOMMU tracking;
    // edu: no DMA logging): blocked under auto, a warning under on.
    let stop_copy = u64::from(vb::VFIO_MIGRATION_STOP_COPY);
    let p = plan();
    p.override_feature(mig, Ok(stop_copy));
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
    let w: Vec<String> = c.tree.take_warnings().iter().map(text).collect();
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
    assert_eq!(
        text(&e),
        format!("vfio {}: device is already attached", g.bdf)
    );
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
    assert_eq!(
        text(&e),
        format!("vfio {}: device is already attached", g.bdf)
    );
    tree.del_device("a").expect("del_device a");
    other
        .device_add(&b)
        .unwrap_or_else(|e| panic!("{b} in the other tree: {}", text(&e)));
    other.del_device("b").expect("del_device b");
    assert_eq!(common::open_fds(), fds);
}

#[test]
#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
fn iommufd_domain_fails() {
    let (g, _l) = detect();
    if !g.full() {
        println!("iommufd_domain_fails: no iommufd + cdev on this kernel");
        return;
    }
    for linked in [true, false] {
        let c = || {
            if linked {
                Case::linked(&g)
            } else {
                Case::new(&g)
            }
        };
        let p = plan();
        p.inject(Op::GetHwInfo, Errno::EOPNOTSUPP);
        c().iommufd(
            p,
            &format!(
                "vfio {}: Failed to get hardware info: Operation not supported",
                g.bdf
            ),
        );
        let p = plan();
        p.inject(Op::HwptAlloc, Errno::ENOMEM);
        c().iommufd(
            p,
            &format!(
                "vfio {}: Failed to allocate hwpt: Cannot allocate memory",
                g.bdf
            ),
        );
    }
    // IOVA ranges that cannot be read are a warning, with QEMU's fallback hint.
    let mut c = Case::linked(&g);
    let p = plan();
    p.inject(Op::IoasIovaRanges, Errno::EINVAL);
    realized_pci(&mut c, &g.spec(",iommufd=io0"), |_| ());
    let w: Vec<String> = c.tree.take_warnings().iter().map(text).collect();
    assert_eq!(
        w,
        [
            "Cannot get IOVA ranges: Invalid argument [hint: Fallback to default 64bit IOVA range and 4K page size]"
        ]
    );
    drop(p);
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
    let w: Vec<String> = c.tree.take_warnings().iter().map(text).collect();
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
    let w: Vec<String> = c.tree.take_warnings().iter().map(text).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    let prefix = format!("group ID {}: Failed to add fd ", g.group);
    assert!(
        w[0].starts_with(&prefix) && w[0].ends_with(&format!(" to KVM VFIO device: {enotty}")),
        "{w:?}"
    );
    if !g.full() {
        return;
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
