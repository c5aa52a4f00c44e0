//! `--dry-run`: what realize would open, worked out from sysfs without
//! opening any device node.

use std::path::Path;

use super::{BackendPolicy, VfioDevice};
use crate::host::Host;

/// The steps realize would take, one line each.
pub fn plan(dev: &dyn VfioDevice, host: &Host, policy: BackendPolicy) -> Vec<String> {
    let vfio = dev.common();
    let sysfsdev = dev.host_path();
    let link = vfio.iommufd.as_ref();
    let fd = vfio.fd.as_ref().map(super::PassedFd::number);
    let mut steps = Vec::new();
    // What realize refuses whatever the host has: vfio-ccw needs sysfsdev=
    // even with fd=, and fd= needs the link whatever the backend policy.
    let refused = if sysfsdev.is_none() && (fd.is_none() || dev.needs_sysfsdev()) {
        Some("no host device given")
    } else if fd.is_some() && link.is_none() {
        Some("fd= without an iommufd= link")
    } else {
        None
    };
    if let Some(why) = refused {
        steps.push(format!("{why}: realize would fail"));
        return steps;
    }
    match (fd, &sysfsdev) {
        (Some(n), _) => steps.push(format!("use the device fd {n} (fd=)")),
        (None, Some(p)) => steps.push(format!("stat {}", p.display())),
        (None, None) => {}
    }
    let iommufd = match (link, policy) {
        (Some(_), _) | (None, BackendPolicy::Iommufd) => true,
        (None, BackendPolicy::Legacy) => false,
        (None, BackendPolicy::Auto) => {
            host.exists("/dev/iommu")
                && sysfsdev
                    .as_ref()
                    .is_some_and(|p| super::backend::cdev_available(host, p))
        }
    };
    if iommufd {
        if let (None, Some(p)) = (fd, &sysfsdev) {
            steps.push(cdev_step(host, p));
        }
        let passed = link
            .and_then(|l| l.borrow().ok())
            .is_some_and(|b| b.fd.is_some());
        if passed {
            steps.push("use the iommufd passed to the iommufd object".to_owned());
        } else {
            steps.push("open /dev/iommu".to_owned());
        }
        // vfio-ccw and vfio-ap are mdevs, as a vfio-pci sysfsdev may be:
        // those attach to the IOAS, the others to a HWPT of their own.
        let mdev = !dev.is_pci()
            || super::pci::mdev_path(vfio, sysfsdev.as_deref()).is_some_and(|p| host.is_mdev(p));
        steps.push(if mdev {
            "VFIO_DEVICE_BIND_IOMMUFD, IOMMU_IOAS_ALLOC, VFIO_DEVICE_ATTACH_IOMMUFD_PT (to the IOAS)"
                .to_owned()
        } else {
            "VFIO_DEVICE_BIND_IOMMUFD, IOMMU_IOAS_ALLOC, IOMMU_GET_HW_INFO, IOMMU_HWPT_ALLOC, VFIO_DEVICE_ATTACH_IOMMUFD_PT"
                .to_owned()
        });
    } else if let Some(p) = &sysfsdev {
        match host.iommu_group(p) {
            Ok(g) => steps.push(format!(
                "open {} (IOMMU group {})",
                g.dev_path().display(),
                g.id
            )),
            Err(e) => steps.push(format!("find the IOMMU group: {e}")),
        }
        steps.push("open /dev/vfio/vfio, VFIO_SET_IOMMU, VFIO_GROUP_GET_DEVICE_FD".to_owned());
    }
    steps.push("VFIO_DEVICE_GET_INFO, region and IRQ info".to_owned());
    steps
}

fn cdev_step(host: &Host, sysfsdev: &Path) -> String {
    let dir = sysfsdev.join("vfio-dev");
    match host.list_dir(&dir) {
        Ok(entries) => match entries.iter().find(|n| n.starts_with("vfio")) {
            Some(n) => format!(
                "open {} (from {})",
                Host::vfio_cdev_path(n).display(),
                dir.join(n).display()
            ),
            None => format!("no vfioN entry in {}", dir.display()),
        },
        Err(e) => format!("no cdev: {e}"),
    }
}
