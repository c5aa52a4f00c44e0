//! Shared helpers of the devices crate's integration tests: fake sysfs and
//! `/dev` trees in a tempdir, error unpacking, the registry check, an
//! open-fd counter, and the real-kernel guest's device (or a panic outside
//! the guest).
//!
//! Each test binary uses a different subset, hence the `dead_code` and
//! `unused_macros` allowances.
#![allow(dead_code, unused_macros)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use qomgen::{ObjectType, registry};
use qomgen_devices::models::vfio_pci::VfioPci;

#[path = "../../src/testtree.rs"]
mod testtree;
#[allow(unused_imports)] // not every test binary builds trees
pub use testtree::*;

/// Every type the devices crate registers.
pub const DEVICE_TYPES: [&str; 10] = [
    "iommufd",
    "pci-device",
    "vfio-pci-device",
    "vfio-pci",
    "vfio-pci-nohotplug",
    "ccw-device",
    "s390-ccw",
    "vfio-ccw",
    "ap-device",
    "vfio-ap",
];

/// Asserts the registry holds every device type of the crate and no
/// inconsistency. Naming `VfioPci` makes the linker keep the crate's
/// `inventory` registrations in this test binary.
pub fn assert_registry_complete() {
    let reg = registry();
    assert!(reg.problems().is_empty(), "{:?}", reg.problems());
    for name in DEVICE_TYPES {
        assert!(reg.get(name).is_some(), "{name} is not registered");
    }
    assert!(std::ptr::eq(
        reg.get("vfio-pci").unwrap().info,
        <VfioPci as ObjectType>::TYPE_INFO
    ));
}

/// An error as one line: its message, then its hint if it has one.
pub fn text(e: &qomgen::Error) -> String {
    match e.hint() {
        Some(h) => format!("{} [hint: {h}]", e.message()),
        None => e.message().to_owned(),
    }
}

/// The message and hint of an error, panicking on success.
pub fn err<T>(r: qomgen::Result<T>) -> (String, Option<String>) {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => (e.message().to_owned(), e.hint().map(str::to_owned)),
    }
}

/// Number of descriptors open in this process (entries of `/proc/self/fd`,
/// minus the one `read_dir` itself holds while listing).
pub fn open_fds() -> usize {
    // read_dir's own descriptor is counted too; subtract it.
    fs::read_dir("/proc/self/fd").unwrap().count() - 1
}

/// The running test's name (libtest names each test's thread after it).
pub fn test_name() -> String {
    std::thread::current().name().unwrap_or("?").to_owned()
}

/// The BDFs bound to vfio-pci in the real-kernel guest (`VFIOVM_BDFS`, set
/// by vm/guest-init.sh), at least one.
///
/// Panics outside the guest. Every test that calls this is marked
/// `#[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]`, so a
/// plain `cargo test` lists it as ignored; vm/test-real-kernel runs it in
/// the guest with `--include-ignored`. Run anyway outside the guest
/// (`--include-ignored` without vm/cargo-runner), it fails rather than
/// passing without having tested anything; vm/test-real-kernel recognises
/// the message as a binary that ran outside the guest.
#[track_caller]
pub fn guest_bdfs() -> Vec<String> {
    let Ok(bdfs) = std::env::var("VFIOVM_BDFS") else {
        panic!(
            "VFIOVM_BDFS is not set (not inside the qomgen vm guest): \
             this test needs the real-kernel guest; run it with vm/test-real-kernel"
        );
    };
    let bdfs: Vec<String> = bdfs.split_whitespace().map(str::to_owned).collect();
    assert!(
        !bdfs.is_empty(),
        "VFIOVM_BDFS is set but empty: the guest bound no device to vfio-pci"
    );
    bdfs
}

/// The first BDF of [`guest_bdfs`]; panics outside the guest.
#[track_caller]
pub fn guest_bdf() -> String {
    guest_bdfs().swap_remove(0)
}

/// Serialises the tests of a binary that open the guest's device: the
/// kernel lets one user open it at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// What `find` returns, found with the binary's lock held, and the lock. A
/// test that failed while holding the lock does not stop the others.
fn serialised<T>(find: impl FnOnce() -> T) -> (T, MutexGuard<'static, ()>) {
    let lock = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    (find(), lock)
}

/// The binary's lock, then [`guest_bdf`]; panics outside the guest.
pub fn locked_guest_bdf() -> (String, MutexGuard<'static, ()>) {
    serialised(guest_bdf)
}

/// The binary's lock, then [`GuestDevice::detect`]; panics outside the guest.
pub fn locked_guest() -> (GuestDevice, MutexGuard<'static, ()>) {
    serialised(GuestDevice::detect)
}

/// Two `#[test]`s of `check(&guest, iommufd)`, `#[ignore]`d as needing the
/// real-kernel guest (vm/test-real-kernel runs them there): `$legacy` on
/// the legacy container, `$iommufd` through iommufd, each with the binary's
/// lock held. `check` decides what a kernel without iommufd means for it.
macro_rules! backend_tests {
    ($check:ident: $legacy:ident, $iommufd:ident) => {
        #[test]
        #[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
        fn $legacy() {
            let (g, _l) = $crate::common::locked_guest();
            $check(&g, false);
        }

        #[test]
        #[ignore = "needs the real-kernel guest (vm/test-real-kernel)"]
        fn $iommufd() {
            let (g, _l) = $crate::common::locked_guest();
            $check(&g, true);
        }
    };
}
#[allow(unused_imports)] // only the binaries with a test per backend use it
pub(crate) use backend_tests;

/// What the guest's kernel offers, read from `/dev` and sysfs.
#[derive(Debug)]
pub struct GuestDevice {
    /// The device bound to vfio-pci.
    pub bdf: String,
    /// IOMMU group number.
    pub group: u32,
    /// `/dev/vfio/<group>` or `/dev/vfio/noiommu-<group>`.
    pub group_node: PathBuf,
    /// vfio no-IOMMU mode (`run-in-guest --noiommu`).
    pub noiommu: bool,
    /// `/dev/iommu` exists (CONFIG_IOMMUFD).
    pub iommufd: bool,
    /// The `vfioN` entry of `<sysfsdev>/vfio-dev`: the vfio device class
    /// registers it on every kernel here, cdev or not.
    pub vfio_dev: String,
    /// `/dev/vfio/devices/vfioN`, when the kernel created it
    /// (CONFIG_VFIO_DEVICE_CDEV, and not a no-IOMMU device).
    pub cdev: Option<PathBuf>,
}

impl GuestDevice {
    /// The guest's device and what its kernel offers; panics outside the
    /// guest (see [`guest_bdfs`]).
    #[track_caller]
    pub fn detect() -> GuestDevice {
        let bdf = guest_bdf();
        let sys = PathBuf::from(format!("/sys/bus/pci/devices/{bdf}"));
        let driver = std::fs::read_link(sys.join("driver")).expect("driver link");
        assert!(driver.ends_with("vfio-pci"), "{bdf} is bound to {driver:?}");
        let group: u32 = std::fs::read_link(sys.join("iommu_group"))
            .expect("iommu_group link")
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse().ok())
            .expect("numeric iommu group");
        let noiommu_node = PathBuf::from(format!("/dev/vfio/noiommu-{group}"));
        let (group_node, noiommu) = if noiommu_node.exists() {
            (noiommu_node, true)
        } else {
            (PathBuf::from(format!("/dev/vfio/{group}")), false)
        };
        assert!(group_node.exists(), "{} missing", group_node.display());
        let vfio_dev = std::fs::read_dir(sys.join("vfio-dev"))
            .expect("<sysfsdev>/vfio-dev")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .find(|n| n.starts_with("vfio"))
            .expect("a vfioN entry in <sysfsdev>/vfio-dev");
        let cdev = Some(Path::new("/dev/vfio/devices").join(&vfio_dev)).filter(|p| p.exists());
        let g = GuestDevice {
            bdf,
            group,
            group_node,
            noiommu,
            iommufd: Path::new("/dev/iommu").exists(),
            vfio_dev,
            cdev,
        };
        println!("{}: {g:?} (mode: {})", test_name(), g.mode());
        g
    }

    pub fn mode(&self) -> &'static str {
        match (self.noiommu, self.iommufd, self.cdev.is_some()) {
            (false, true, true) => "vIOMMU, iommufd + cdev",
            (true, _, _) => "no-IOMMU (legacy only)",
            (false, false, _) => "no /dev/iommu (Debian kernel: legacy only)",
            (false, true, false) => "iommufd without cdev",
        }
    }

    /// `-object iommufd` refused on a kernel without `/dev/iommu`, in
    /// QEMU's words with the option to enable.
    #[track_caller]
    pub fn assert_iommufd_missing(&self, e: &qomgen::Error) {
        assert_eq!(
            e.message(),
            "can't create iommufd object: /dev/iommu not found"
        );
        assert_eq!(
            e.hint(),
            Some("Is your kernel config missing CONFIG_IOMMUFD?")
        );
    }

    /// The cdev lookup failure on this kernel: `vfio-dev/vfioN` is in sysfs
    /// (the vfio device class always registers it) but has no `dev`
    /// attribute when the kernel makes no char device for it.
    #[track_caller]
    pub fn assert_cdev_missing(&self, e: &qomgen::Error) {
        let dir = format!("/sys/bus/pci/devices/{}/vfio-dev", self.bdf);
        assert_eq!(
            e.message(),
            format!(
                "vfio {}: vfio {dir}: failed to load \"{dir}/{}/dev\"",
                self.bdf, self.vfio_dev
            )
        );
        assert_eq!(
            e.hint(),
            Some("Is your kernel config missing CONFIG_VFIO_DEVICE_CDEV?")
        );
    }

    /// Where the kernel lacks iommufd or the device its cdev, what a test
    /// of the iommufd path checks instead: the path is refused with the
    /// words that say what is missing, and nothing is left registered.
    #[track_caller]
    pub fn assert_iommufd_refused(&self) {
        assert!(!self.full(), "both backends are usable here");
        let mut tree = qomgen::ObjectTree::new();
        match tree.object_add("iommufd,id=io0") {
            Err(e) => self.assert_iommufd_missing(&e),
            Ok(_) => {
                let spec = format!("vfio-pci,host={},iommufd=io0,id=d0", self.bdf);
                match tree.device_add(&spec) {
                    Err(e) => self.assert_cdev_missing(&e),
                    Ok(_) => panic!("{spec}: realized without a cdev"),
                }
                assert!(tree.device("d0").is_none(), "{spec} left registered");
            }
        }
        println!(
            "{}: the iommufd path is refused here ({})",
            test_name(),
            self.mode()
        );
    }

    /// Both backends usable on this kernel.
    pub fn full(&self) -> bool {
        self.iommufd && self.cdev.is_some() && !self.noiommu
    }

    /// This device as `vfio-pci` with id `id`, linked to the iommufd
    /// object `io0` when `iommufd`.
    pub fn vfio_pci(&self, id: &str, iommufd: bool) -> String {
        let link = if iommufd { ",iommufd=io0" } else { "" };
        format!("vfio-pci,host={},id={id}{link}", self.bdf)
    }
}
