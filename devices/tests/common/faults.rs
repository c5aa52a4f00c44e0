//! What the `faults_kernel*` test binaries share: the guest's device and
//! the lock that serialises the tests, the expected texts they share,
//! [`Case`], one failing realize and the checks that it released
//! everything, and the fault families (`fails_legacy`, `fails_on_both`,
//! `fails_on_iommufd`, `fails_planned`, `fails_then_plain`) whose cases
//! `guest_cases!` makes one test each.
//!
//! Each binary uses a different subset, hence the allowances.
#![allow(dead_code, unused_imports, unused_macros)]

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::MutexGuard;

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

pub use super::common::text;
use super::{Guest, common};

pub const EDU_VENDOR: u16 = 0x1234;
pub const NOT_VIABLE_HINT: &str =
    "Please ensure all devices within the iommu_group are bound to their vfio bus driver.";
pub const VGA_HINT: &str = "device does not support requested feature x-vga";
/// edu's `VFIO_DEVICE_GET_INFO` shape: a PCI device with all the PCI
/// region and IRQ indexes (flags other than PCI do not matter to realize).
pub const EDU_INFO: DeviceInfo = DeviceInfo {
    flags: DeviceFlags::PCI,
    num_regions: vb::VFIO_PCI_NUM_REGIONS,
    num_irqs: vb::VFIO_PCI_NUM_IRQS,
};

/// The guest's device and the lock; panics outside the guest.
pub fn detect() -> (Guest, MutexGuard<'static, ()>) {
    // Naming a type of the crate keeps its inventory registrations.
    assert!(qomgen_devices::models::register().any(|n| n == "vfio-pci"));
    common::locked_guest()
}

/// Whether the guest's kernel has iommufd and its device a cdev; where
/// not, checks that the iommufd path is refused in words that say what is
/// missing ([`Guest::assert_iommufd_refused`]), which the running test
/// then checks instead of its case.
pub fn has_iommufd(g: &Guest) -> bool {
    if !g.full() {
        g.assert_iommufd_refused();
    }
    g.full()
}

/// Runs `test` on the guest's device, the lock held, where [`has_iommufd`].
pub fn on_iommufd_guest(test: impl FnOnce(&Guest)) {
    let (g, _l) = detect();
    if has_iommufd(&g) {
        test(&g);
    }
}

/// One `#[test]` per case of a fault family. In
/// `guest_cases! { |g| check { name(args..); .. } }` each `name(args..);`
/// becomes a test, `#[ignore]`d as needing the real-kernel guest
/// (vm/test-real-kernel runs it there), that [`detect`]s the guest's device
/// as `g` (the arguments may use it) and calls `check(&g, args..)`. Doc
/// comments before a name go to its test.
macro_rules! guest_cases {
    (|$g:ident| $check:ident { $($(#[$attr:meta])* $name:ident($($arg:expr),+ $(,)?);)+ }) => {$(
        $(#[$attr])*
        #[test]
        #[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
        fn $name() {
            let ($g, _l) = $crate::faults::detect();
            $check(&$g, $($arg),+);
        }
    )+};
}
pub(crate) use guest_cases;

/// A legacy realize of the guest's device fails with exactly `msg` and
/// `hint` once `arm` has set up a fresh plan.
#[track_caller]
pub fn fails_legacy(
    g: &Guest,
    arm: impl FnOnce(&Faults) -> &Faults,
    msg: &str,
    hint: Option<&str>,
) {
    let p = plan();
    arm(&p);
    Case::new(g).legacy(p, msg, hint);
}

/// [`fails_legacy`] with no hint, then, when the guest has iommufd and
/// cdevs, the same with a linked iommufd object.
#[track_caller]
pub fn fails_on_both(g: &Guest, arm: impl Fn(&Faults) -> &Faults, msg: &str) {
    fails_legacy(g, &arm, msg, None);
    if g.full() {
        let p = plan();
        arm(&p);
        Case::linked(g).iommufd(p, msg);
    }
}

/// An iommufd realize of the guest's device, with a linked object and then
/// with a private one, fails with exactly `msg(fds)` once `arm` has set up
/// a fresh plan; `fds` are the descriptors the device cdev and
/// `/dev/iommu` will get (the lowest free ones, opened in that order). On a
/// kernel without iommufd and cdevs, the refusal is checked instead
/// ([`has_iommufd`]).
#[track_caller]
pub fn fails_on_iommufd(
    g: &Guest,
    arm: impl Fn(&Faults) -> &Faults,
    msg: impl Fn(&[i32]) -> String,
) {
    if !has_iommufd(g) {
        return;
    }
    for linked in [true, false] {
        let mut c = if linked {
            Case::linked(g)
        } else {
            Case::new(g)
        };
        let fds = next_fds(2);
        let p = plan();
        arm(&p);
        c.iommufd(p, &msg(&fds));
    }
}

impl Guest {
    pub fn spec(&self, extra: &str) -> String {
        format!("vfio-pci,host={},id=f0{extra}", self.bdf)
    }

    /// The guest's device as `vfio-pci-nohotplug` (id `f0`), with `extra`.
    pub fn nohotplug(&self, extra: &str) -> String {
        format!("vfio-pci-nohotplug,host={},id=f0{extra}", self.bdf)
    }

    /// `vfio BDF: msg`, how QEMU prefixes the device's errors.
    pub fn vfio(&self, msg: &str) -> String {
        format!("vfio {}: {msg}", self.bdf)
    }

    /// `failed to setup container for group N: `.
    pub fn container(&self, msg: &str) -> String {
        format!(
            "vfio {}: failed to setup container for group {}: {msg}",
            self.bdf, self.group
        )
    }
}

/// The `n` descriptor numbers the next opens will get (the lowest free ones).
pub fn next_fds(n: usize) -> Vec<i32> {
    let files: Vec<_> = (0..n)
        .map(|_| std::fs::File::open("/dev/null").expect("/dev/null"))
        .collect();
    files.iter().map(|f| f.as_raw_fd()).collect()
}

/// Successful kernel calls of `op` in the log.
pub fn ok_calls(calls: &[Call], op: Op) -> usize {
    calls
        .iter()
        .filter(|c| c.op == op && !c.injected && c.result.is_ok())
        .count()
}

/// One failing realize and the checks that it released everything.
pub struct Case<'g> {
    pub g: &'g Guest,
    pub tree: ObjectTree,
    /// `-object iommufd,id=io0` is in the tree.
    pub linked: bool,
}

impl<'g> Case<'g> {
    pub fn new(g: &'g Guest) -> Case<'g> {
        Case {
            g,
            tree: ObjectTree::new(),
            linked: false,
        }
    }

    /// With `-object iommufd,id=io0` (devices link it with `,iommufd=io0`).
    pub fn linked(g: &'g Guest) -> Case<'g> {
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
    pub fn fails(
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
    pub fn fails_only(&mut self, plan: Option<Faults>, spec: &str, msg: &str, hint: Option<&str>) {
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

    /// The warnings realize reported since last asked, as text.
    pub fn warnings(&mut self) -> Vec<String> {
        self.tree.take_warnings().iter().map(text).collect()
    }

    /// [`Case::fails`] for a legacy realize of the guest's device under `plan`.
    #[track_caller]
    pub fn legacy(&mut self, plan: Faults, msg: &str, hint: Option<&str>) {
        let spec = self.g.spec("");
        self.fails(Some(plan), &spec, msg, hint, &spec);
    }

    /// [`Case::fails`] for an iommufd realize (linked `io0`, or a private
    /// iommufd by policy) under `plan`.
    #[track_caller]
    pub fn iommufd(&mut self, plan: Faults, msg: &str) {
        let spec = if self.linked {
            self.g.spec(",iommufd=io0")
        } else {
            self.tree.set_resource(BackendPolicy::Iommufd);
            self.g.spec("")
        };
        self.fails(Some(plan), &spec, msg, None, &spec);
    }
}

/// A fresh [`Case`] (no iommufd object), no plan: `spec` fails with
/// exactly `msg` and no hint, then the guest's plain device realizes.
#[track_caller]
pub fn fails_then_plain(g: &Guest, spec: &str, msg: &str) {
    Case::new(g).fails(None, spec, msg, None, &g.spec(""));
}

/// [`fails_then_plain`] under a fresh plan that `arm` has set up, with
/// `hint`: the plan's injections must all be reached.
#[track_caller]
pub fn fails_planned(
    g: &Guest,
    arm: impl FnOnce(&Faults) -> &Faults,
    spec: &str,
    msg: &str,
    hint: Option<&str>,
) {
    let p = plan();
    arm(&p);
    Case::new(g).fails(Some(p), spec, msg, hint, &g.spec(""));
}

/// Configures a plan.
pub type Setup = Box<dyn Fn(&Faults)>;

pub fn plan() -> Faults {
    Faults::install()
}

pub fn viable(p: &Faults) -> &Faults {
    p.override_group_flags(vb::VFIO_GROUP_FLAGS_VIABLE)
}

/// Adds `spec` (id `f0`) to `c`'s tree, runs `f` on its PCI summary, then
/// deletes it again.
pub fn realized_pci<R>(
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

/// [`realized_pci`] under a fresh plan that `arm` has set up.
pub fn planned_pci<R>(
    c: &mut Case<'_>,
    arm: impl FnOnce(&Faults) -> &Faults,
    spec: &str,
    f: impl FnOnce(&qomgen_devices::attach::PciSummary) -> R,
) -> R {
    let p = plan();
    arm(&p);
    realized_pci(c, spec, f)
}

/// A fresh [`Case`]: `spec` realizes under a fresh plan that `arm` has set
/// up, and `check` passes on its PCI summary.
#[track_caller]
pub fn realizes_planned(
    g: &Guest,
    arm: impl FnOnce(&Faults) -> &Faults,
    spec: &str,
    check: impl FnOnce(&qomgen_devices::attach::PciSummary),
) {
    planned_pci(&mut Case::new(g), arm, spec, check);
}
