//! What the `fake_host*` test binaries share: the fake host ([`Fake`],
//! a sysfs and `/dev` in a tempdir with a tree that uses it, and its
//! checking helpers) and the expected texts they share.
//!
//! Each binary uses a different subset, hence the allowances.
#![allow(dead_code, unused_imports)]

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use super::common::{
    self, err, link, mdev, mkdir, node, pci_cdev_entry, pci_device, pci_real_dir, remove, write,
};
use qomgen::ObjectTree;
use qomgen_devices::attach::BackendPolicy;
use qomgen_devices::host::Host;
use qomgen_devices::models::iommufd::IommufdBackend;
use qomgen_devices::sys::fault::{Faults, Request};
use qomgen_devices::sys::{Errno, Op};
use uuid::Uuid;

pub const BDF: &str = "0000:00:01.0";
pub const SYSFSDEV: &str = "/sys/bus/pci/devices/0000:00:01.0";
pub const ENOENT: &str = "No such file or directory";
pub const ENOTTY: &str = "Inappropriate ioctl for device";
pub const NO_HOST_HINT: &str = "Use -device vfio-pci,host=DDDD:BB:DD.F or -device vfio-pci,fd=DEVICE_FD or -device vfio-pci,sysfsdev=PATH_TO_DEVICE";
pub const CDEV_HINT: &str = "Is your kernel config missing CONFIG_VFIO_DEVICE_CDEV?";
pub const IOMMUFD_HINT: &str = "Is your kernel config missing CONFIG_IOMMUFD?";
/// The fake tree has no /proc/cpuinfo: the vendor is unknown.
pub const NO_GROUP_HINT: &str = "Is the IOMMU enabled, or is vfio's noiommu mode wanted? Unknown if this platform has IOMMU support";
pub const FD_HINT: &str = "The descriptor must be open in this process (inherited from the caller)";
pub const CCW_UUID: &str = "6dfd3ec5-e8b3-4e18-a6fe-57bc9eceb920";
pub const AP_UUID: &str = "4b0818b4-3fdb-4ec3-a0b1-0d1e4e5b0e11";
pub const PCI_MDEV_UUID: &str = "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001";
/// A descriptor number that is never open (above any RLIMIT_NOFILE a test
/// runs with), so `fcntl(F_GETFD)` fails with `EBADF` deterministically.
pub const NEVER_OPEN_FD: i32 = 999_999;

/// A fake host in a tempdir and a tree that uses it.
pub struct Fake {
    pub dir: tempfile::TempDir,
    pub tree: ObjectTree,
}

impl Fake {
    pub fn new() -> Fake {
        common::assert_registry_complete();
        let dir = tempfile::tempdir().unwrap();
        let mut tree = ObjectTree::new();
        tree.set_resource(Host::fake(dir.path()));
        Fake { dir, tree }
    }

    pub fn with_policy(policy: BackendPolicy) -> Fake {
        let mut f = Fake::new();
        f.tree.set_resource(policy);
        f
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `device_add` that must fail and leave the tree unchanged.
    pub fn fail(&mut self, spec: &str) -> (String, Option<String>) {
        let before = self.tree.len();
        let e = err(self.tree.device_add(spec));
        assert_eq!(self.tree.len(), before, "{spec}: the tree changed");
        e
    }

    /// `device_add` failing with exactly `msg` and `hint`.
    pub fn fails_with(&mut self, spec: &str, msg: &str, hint: Option<&str>) {
        let (m, h) = self.fail(spec);
        assert_eq!(m, msg, "{spec}");
        assert_eq!(h.as_deref(), hint, "{spec}: hint");
    }

    /// `object_add` that must fail and leave the tree unchanged.
    pub fn fail_object(&mut self, spec: &str) -> (String, Option<String>) {
        let before = self.tree.len();
        let e = err(self.tree.object_add(spec));
        assert_eq!(self.tree.len(), before, "{spec}: the tree changed");
        e
    }

    /// `-object iommufd,id=<id>` with a `/dev/iommu` stand-in present.
    pub fn iommufd(&mut self, id: &str) {
        node(self.root(), "iommu");
        self.tree.object_add(&format!("iommufd,id={id}")).unwrap();
    }

    /// The backend object's user count and whether it holds an fd.
    pub fn backend_state(&self, id: &str) -> (u32, bool) {
        let obj = self.tree.object(id).unwrap().borrow();
        let b = obj.downcast_ref::<IommufdBackend>().unwrap();
        (b.users(), b.iommufd().is_some())
    }

    /// An open regular file of the tempdir, as a descriptor to pass by `fd=`.
    pub fn file_fd(&self, name: &str) -> OwnedFd {
        let p = self.root().join(name);
        File::create(&p).unwrap();
        OwnedFd::from(File::options().read(true).write(true).open(p).unwrap())
    }

    /// PCI device `BDF` in group 5 with a cdev entry `vfio0` (`511:0`).
    pub fn pci_with_cdev(&self) {
        pci_device(self.root(), BDF, Some(5));
        pci_cdev_entry(self.root(), BDF, "vfio0", "511:0\n");
    }

    /// A vfio-ccw mdev under subchannel `0.0.0313`, with the subchannel's
    /// `pimpampom`/`chpids` files when `css_files`. Returns its sysfs path.
    pub fn ccw_mdev(&self, group: Option<u32>, css_files: bool) -> String {
        let r = self.root();
        let sch = "sys/devices/css0/0.0.0313";
        mkdir(r, sch);
        link(
            r,
            "sys/bus/css/devices/0.0.0313",
            "../../../devices/css0/0.0.0313",
        );
        if css_files {
            write(r, &format!("{sch}/pimpampom"), "80 80 ff\n");
            write(r, &format!("{sch}/chpids"), "00 00 00 00 00 00 00 00 \n");
        }
        mdev(r, sch, CCW_UUID, group)
    }

    /// A vfio-ap mdev under the matrix device. Returns its sysfs path.
    pub fn ap_mdev(&self, group: Option<u32>) -> String {
        mdev(self.root(), "sys/devices/vfio_ap/matrix", AP_UUID, group)
    }
}

/// Checks `vfio <name>: error bind device fd=<n> to iommufd=<m>: ENOTTY`
/// (the numbers are whatever descriptors the attempt used) and returns them.
pub fn assert_bind_enotty(msg: &str, prefix: &str) -> (i32, i32) {
    let rest = msg
        .strip_prefix(prefix)
        .and_then(|m| m.strip_prefix("error bind device fd="))
        .and_then(|m| m.strip_suffix(&format!(": {ENOTTY}")))
        .unwrap_or_else(|| panic!("unexpected bind error: {msg}"));
    let (dev, iommufd) = rest.split_once(" to iommufd=").unwrap();
    (dev.parse().unwrap(), iommufd.parse().unwrap())
}
