//! Builders for fake sysfs and `/dev` trees in a temporary directory, as
//! the kernel lays them out. One source for the crate's unit tests and its
//! integration tests (`tests/common`), included by `#[path]` in both.
//! They panic when the file system refuses: they only build test fixtures.
//!
//! Each includer uses a different subset.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

/// `mkdir -p root/rel`.
pub fn mkdir(root: &Path, rel: &str) {
    fs::create_dir_all(root.join(rel)).unwrap();
}

/// Writes `content` to `root/rel`, creating parents.
pub fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

/// `ln -s target root/rel`, creating parents.
pub fn link(root: &Path, rel: &str, target: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    symlink(target, p).unwrap();
}

/// Removes `root/rel` (file or symlink).
pub fn remove(root: &Path, rel: &str) {
    fs::remove_file(root.join(rel)).unwrap();
}

/// The real sysfs directory of PCI device `bdf` in the fake tree.
pub fn pci_real_dir(bdf: &str) -> String {
    format!("sys/devices/pci0000:00/{bdf}")
}

/// A PCI device `bdf` as the kernel shows it: the real directory under
/// `sys/devices/pci0000:00/`, the `sys/bus/pci/devices/<bdf>` link, a
/// `subsystem` link to `/sys/bus/pci`, and, if `group` is given, an
/// `iommu_group` link to `/sys/kernel/iommu_groups/<group>`.
pub fn pci_device(root: &Path, bdf: &str, group: Option<u32>) {
    let real = pci_real_dir(bdf);
    mkdir(root, &real);
    link(
        root,
        &format!("sys/bus/pci/devices/{bdf}"),
        &format!("../../../devices/pci0000:00/{bdf}"),
    );
    sys_link(root, &real, "subsystem", PCI_TO_SYS, "bus/pci");
    if let Some(g) = group {
        iommu_group(root, &real, PCI_TO_SYS, g);
    }
}

/// How a link in a PCI device's real directory leads back to `/sys`.
const PCI_TO_SYS: &str = "../../../";

/// `sys/<target>` (created) and the link `<real>/<name>` to it, spelt
/// relative as the kernel spells it: `to_sys` leads from `real` to `/sys`.
fn sys_link(root: &Path, real: &str, name: &str, to_sys: &str, target: &str) {
    mkdir(root, &format!("sys/{target}"));
    link(
        root,
        &format!("{real}/{name}"),
        &format!("{to_sys}{target}"),
    );
}

/// IOMMU group `g` with its `devices` directory, and the `iommu_group`
/// link to it from device directory `real` (see [`sys_link`]).
fn iommu_group(root: &Path, real: &str, to_sys: &str, g: u32) {
    mkdir(root, &format!("sys/kernel/iommu_groups/{g}/devices"));
    sys_link(
        root,
        real,
        "iommu_group",
        to_sys,
        &format!("kernel/iommu_groups/{g}"),
    );
}

/// `<sysfsdev>/vfio-dev/<name>/dev` with `content` (e.g. `511:0\n`).
pub fn pci_cdev_entry(root: &Path, bdf: &str, name: &str, content: &str) {
    write(
        root,
        &format!("{}/vfio-dev/{name}/dev", pci_real_dir(bdf)),
        content,
    );
}

/// A device node stand-in: an empty regular file at `root/dev/<rel>`.
/// Opening it works; every ioctl on it fails with `ENOTTY`.
pub fn node(root: &Path, rel: &str) {
    write(root, &format!("dev/{rel}"), "");
}

/// An mdev `uuid` of parent directory `parent_rel` (relative to the root,
/// e.g. `sys/devices/css0/0.0.0313`), with `subsystem` → `/sys/bus/mdev`
/// and the `sys/bus/mdev/devices/<uuid>` link. Returns the logical
/// `/sys/bus/mdev/devices/<uuid>` path.
pub fn mdev(root: &Path, parent_rel: &str, uuid: &str, group: Option<u32>) -> String {
    let real = format!("{parent_rel}/{uuid}");
    mkdir(root, &real);
    let to_sys = format!("{}sys/", "../".repeat(real.split('/').count()));
    sys_link(root, &real, "subsystem", &to_sys, "bus/mdev");
    link(
        root,
        &format!("sys/bus/mdev/devices/{uuid}"),
        &format!("../../../../{real}"),
    );
    if let Some(g) = group {
        iommu_group(root, &real, &to_sys, g);
    }
    format!("/sys/bus/mdev/devices/{uuid}")
}

/// [`pci_device`] in group `group`, bound to `driver`, with `vendor` and
/// `device` files for `ids` and optionally the cdev entry `(name, dev)`.
pub fn pci_host_device(
    root: &Path,
    bdf: &str,
    group: u32,
    driver: Option<&str>,
    ids: (u16, u16),
    cdev: Option<(&str, &str)>,
) {
    pci_device(root, bdf, Some(group));
    let real = pci_real_dir(bdf);
    if let Some(d) = driver {
        sys_link(
            root,
            &real,
            "driver",
            PCI_TO_SYS,
            &format!("bus/pci/drivers/{d}"),
        );
    }
    write(
        root,
        &format!("{real}/vendor"),
        &format!("0x{:04x}\n", ids.0),
    );
    write(
        root,
        &format!("{real}/device"),
        &format!("0x{:04x}\n", ids.1),
    );
    if let Some((name, dev)) = cdev {
        pci_cdev_entry(root, bdf, name, dev);
    }
}
