//! A read-only survey of the host's VFIO/iommufd/KVM capabilities.
//!
//! [`HostProbe::gather`] never fails and never panics: every missing file or
//! failing call becomes `false`/`None`/an error string in the report, so it
//! runs on machines with no VFIO at all. Everything is read through a
//! [`Host`], so it works on fake trees too.

use std::path::Path;

use serde::Serialize;

use crate::host::{self, Host};
use crate::sys::vfio::bindings as vb;

/// Which devices count as "bound to vfio-pci".
pub const VFIO_PCI_DRIVER: &str = "vfio-pci";

/// The legacy container node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerProbe {
    /// `/dev/vfio/vfio` exists.
    pub present: bool,
    /// It could be opened `O_RDWR`.
    pub openable: bool,
    /// Open or ioctl failure text (`<path>: <strerror>` / `<OP>: <strerror>`).
    pub error: Option<String>,
    /// `VFIO_GET_API_VERSION`.
    pub api_version: Option<i32>,
    /// `VFIO_CHECK_EXTENSION(VFIO_TYPE1v2_IOMMU)`.
    pub type1v2: Option<bool>,
    /// `VFIO_CHECK_EXTENSION(VFIO_NOIOMMU_IOMMU)`.
    pub noiommu: Option<bool>,
}

/// The iommufd node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IommufdProbe {
    /// `/dev/iommu` exists.
    pub present: bool,
    /// It could be opened `O_RDWR`.
    pub openable: bool,
    /// Open failure text.
    pub error: Option<String>,
}

/// A PCI device bound to vfio-pci.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PciDeviceProbe {
    /// `DDDD:BB:DD.F`.
    pub bdf: String,
    /// `vvvv:dddd` (lowercase hex), if readable.
    pub vendor_device: Option<String>,
    /// Bound driver (basename of the `driver` link).
    pub driver: Option<String>,
    /// IOMMU group number.
    pub iommu_group: Option<u32>,
    /// Group lookup failure text, if any.
    pub iommu_group_error: Option<String>,
    /// Whether the group is a VFIO no-IOMMU group.
    pub noiommu: bool,
    /// Logical group node (`/dev/vfio/N` or `/dev/vfio/noiommu-N`).
    pub group_node: Option<String>,
    /// The group node exists.
    pub group_node_present: bool,
    /// First `vfio*` entry of `<sysfsdev>/vfio-dev`.
    pub cdev_name: Option<String>,
    /// `/dev/vfio/devices/<cdev_name>` exists.
    pub cdev_present: bool,
    /// The device is an mdev (QEMU's check).
    pub mdev: bool,
}

/// KVM availability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KvmProbe {
    /// `/dev/kvm` exists.
    pub dev_kvm: bool,
    /// Loaded KVM vendor modules among `kvm_intel`, `kvm_amd`, `kvm_pvm`
    /// (`/sys/module/<name>` exists).
    pub modules: Vec<String>,
}

/// The full report. Serialises to JSON with these field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostProbe {
    /// Root the probe ran against (`/` on the real system).
    pub root: String,
    /// Whether the root is a fake tree.
    pub fake: bool,
    /// `/dev/vfio/vfio`.
    pub vfio_container: ContainerProbe,
    /// `/dev/iommu`.
    pub iommufd: IommufdProbe,
    /// Number of entries of `/sys/kernel/iommu_groups`.
    pub iommu_groups: usize,
    /// No-IOMMU groups (from `/dev/vfio/noiommu-N` nodes and groups named
    /// `vfio-noiommu`), sorted.
    pub noiommu_groups: Vec<u32>,
    /// PCI devices bound to vfio-pci, sorted by BDF.
    pub vfio_pci_devices: Vec<PciDeviceProbe>,
    /// VFIO device cdevs are supported: `/sys/class/vfio-dev` or
    /// `/dev/vfio/devices` exists.
    pub vfio_cdev_supported: bool,
    /// KVM.
    pub kvm: KvmProbe,
}

fn probe_container(host: &Host) -> ContainerProbe {
    let mut p = ContainerProbe {
        present: host.exists(host::VFIO_CONTAINER_PATH),
        openable: false,
        error: None,
        api_version: None,
        type1v2: None,
        noiommu: None,
    };
    let c = match host.open_container() {
        Ok(c) => c,
        Err(e) => {
            p.error = Some(e.to_string());
            return p;
        }
    };
    p.openable = true;
    match c.api_version() {
        Ok(v) => p.api_version = Some(v),
        Err(e) => {
            p.error = Some(e.to_string());
            return p;
        }
    }
    p.type1v2 = c.check_extension(vb::VFIO_TYPE1v2_IOMMU).ok();
    p.noiommu = c.check_extension(vb::VFIO_NOIOMMU_IOMMU).ok();
    p
}

fn probe_iommufd(host: &Host) -> IommufdProbe {
    let present = host.exists(host::IOMMU_PATH);
    match host.open_iommufd() {
        Ok(_) => IommufdProbe {
            present,
            openable: true,
            error: None,
        },
        Err(e) => IommufdProbe {
            present,
            openable: false,
            error: Some(e.to_string()),
        },
    }
}

fn probe_pci_device(host: &Host, bdf: &str, driver: Option<String>) -> PciDeviceProbe {
    let dir = Host::pci_device_dir(bdf);
    let (iommu_group, iommu_group_error, noiommu, group_node) = match host.iommu_group(&dir) {
        Ok(g) => (Some(g.id), None, g.noiommu, Some(g.dev_path())),
        Err(e) => (None, Some(e.to_string()), false, None),
    };
    let cdev_name = host
        .list_dir(dir.join("vfio-dev"))
        .ok()
        .and_then(|names| names.into_iter().find(|n| n.starts_with("vfio")));
    PciDeviceProbe {
        bdf: bdf.to_owned(),
        vendor_device: host.pci_ids(&dir).map(|(v, d)| format!("{v:04x}:{d:04x}")),
        driver,
        iommu_group,
        iommu_group_error,
        noiommu,
        group_node_present: group_node.as_ref().is_some_and(|p| host.exists(p)),
        group_node: group_node.map(|p| p.display().to_string()),
        cdev_present: cdev_name
            .as_deref()
            .is_some_and(|n| host.exists(Host::vfio_cdev_path(n))),
        cdev_name,
        mdev: host.is_mdev(&dir),
    }
}

fn noiommu_groups(host: &Host) -> Vec<u32> {
    let mut ids: Vec<u32> = host
        .list_dir("/dev/vfio")
        .unwrap_or_default()
        .iter()
        .filter_map(|n| n.strip_prefix("noiommu-")?.parse().ok())
        .collect();
    for g in host.list_dir(host::IOMMU_GROUPS_DIR).unwrap_or_default() {
        let named = host
            .read_to_string(Path::new(host::IOMMU_GROUPS_DIR).join(&g).join("name"))
            .is_ok_and(|n| n.trim_end() == host::NOIOMMU_GROUP_NAME);
        if let (true, Ok(id)) = (named, g.parse()) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

impl HostProbe {
    /// Survey `host`. Never fails; see the module docs.
    pub fn gather(host: &Host) -> HostProbe {
        let mut bdfs = host.list_dir(host::PCI_DEVICES_DIR).unwrap_or_default();
        bdfs.sort();
        let vfio_pci_devices = bdfs
            .iter()
            .filter_map(|bdf| {
                let driver = host.driver(Host::pci_device_dir(bdf));
                (driver.as_deref() == Some(VFIO_PCI_DRIVER))
                    .then(|| probe_pci_device(host, bdf, driver))
            })
            .collect();
        let modules = ["kvm_intel", "kvm_amd", "kvm_pvm"]
            .into_iter()
            .filter(|m| host.exists(format!("/sys/module/{m}")))
            .map(str::to_owned)
            .collect();
        HostProbe {
            root: host.root().display().to_string(),
            fake: host.is_fake(),
            vfio_container: probe_container(host),
            iommufd: probe_iommufd(host),
            iommu_groups: host.list_dir(host::IOMMU_GROUPS_DIR).map_or(0, |v| v.len()),
            noiommu_groups: noiommu_groups(host),
            vfio_pci_devices,
            vfio_cdev_supported: host.exists("/sys/class/vfio-dev")
                || host.exists(host::VFIO_CDEV_DIR),
            kvm: KvmProbe {
                dev_kvm: host.exists("/dev/kvm"),
                modules,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testtree::*;

    #[test]
    fn empty_tree_has_nothing_and_does_not_panic() {
        let t = tempfile::tempdir().unwrap();
        let p = HostProbe::gather(&Host::fake(t.path()));
        assert!(p.fake);
        assert!(!p.vfio_container.present && !p.vfio_container.openable);
        assert_eq!(
            p.vfio_container.error.as_deref(),
            Some("/dev/vfio/vfio: No such file or directory")
        );
        assert!(!p.iommufd.present && !p.iommufd.openable);
        assert_eq!(p.iommu_groups, 0);
        assert!(p.noiommu_groups.is_empty());
        assert!(p.vfio_pci_devices.is_empty());
        assert!(!p.vfio_cdev_supported);
        assert!(!p.kvm.dev_kvm && p.kvm.modules.is_empty());
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["vfio_container"]["present"], false);
    }

    #[test]
    fn populated_tree() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        pci_host_device(
            r,
            "0000:00:03.0",
            5,
            Some("vfio-pci"),
            (0x1234, 0x11e8),
            Some(("vfio0", "511:0\n")),
        );
        pci_host_device(r, "0000:00:02.0", 4, Some("e1000e"), (0x8086, 0x10d3), None);
        pci_host_device(
            r,
            "0000:00:05.0",
            0,
            Some("vfio-pci"),
            (0x1af4, 0x1000),
            None,
        );
        write(r, "sys/kernel/iommu_groups/0/name", "vfio-noiommu\n");
        write(r, "dev/vfio/vfio", "");
        write(r, "dev/vfio/5", "");
        write(r, "dev/vfio/noiommu-0", "");
        write(r, "dev/vfio/devices/vfio0", "");
        write(r, "dev/kvm", "");
        mkdir(r, "sys/module/kvm_pvm");
        mkdir(r, "sys/class/vfio-dev");

        let p = HostProbe::gather(&Host::fake(r));
        assert!(p.vfio_container.present && p.vfio_container.openable);
        // a regular file answers no ioctl
        assert_eq!(p.vfio_container.api_version, None);
        assert_eq!(
            p.vfio_container.error.as_deref(),
            Some("VFIO_GET_API_VERSION: Inappropriate ioctl for device")
        );
        assert!(!p.iommufd.present);
        assert_eq!(p.iommu_groups, 3);
        assert_eq!(p.noiommu_groups, [0]);
        assert!(p.vfio_cdev_supported);
        assert_eq!(
            p.kvm,
            KvmProbe {
                dev_kvm: true,
                modules: vec!["kvm_pvm".into()]
            }
        );
        let bdfs: Vec<&str> = p.vfio_pci_devices.iter().map(|d| d.bdf.as_str()).collect();
        assert_eq!(bdfs, ["0000:00:03.0", "0000:00:05.0"]);
        let edu = &p.vfio_pci_devices[0];
        assert_eq!(edu.vendor_device.as_deref(), Some("1234:11e8"));
        assert_eq!(edu.driver.as_deref(), Some("vfio-pci"));
        assert_eq!(edu.iommu_group, Some(5));
        assert_eq!(edu.group_node.as_deref(), Some("/dev/vfio/5"));
        assert!(edu.group_node_present);
        assert_eq!(edu.cdev_name.as_deref(), Some("vfio0"));
        assert!(edu.cdev_present && !edu.noiommu && !edu.mdev);
        let noiommu = &p.vfio_pci_devices[1];
        assert!(noiommu.noiommu);
        assert_eq!(noiommu.group_node.as_deref(), Some("/dev/vfio/noiommu-0"));
        assert!(noiommu.group_node_present);
        assert_eq!(noiommu.cdev_name, None);
        assert!(!noiommu.cdev_present);
    }

    #[test]
    fn system_probe_does_not_panic() {
        let p = HostProbe::gather(&Host::system());
        assert!(!p.fake);
        serde_json::to_string(&p).unwrap();
    }
}
