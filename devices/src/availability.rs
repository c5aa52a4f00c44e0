//! Which properties can work on this host, for help's annotated style.

use qomgen::{Property, TypeInfo};

use crate::host::Host;

/// What the host lacks for a property, if anything: the iommufd link and
/// `fd=` need `/dev/iommu`; a host device address needs VFIO's container or
/// cdev support.
pub fn check(
    host: &Host,
) -> impl Fn(&'static TypeInfo, &'static Property) -> Option<String> + use<> {
    let iommu = host.exists("/dev/iommu");
    let container = host.exists("/dev/vfio/vfio");
    let cdev = host.exists("/dev/vfio/devices") || host.exists("/sys/class/vfio-dev");
    move |ty, p| {
        let vfio = ty.is_a("vfio-pci")
            || ty.is_a("vfio-ccw")
            || ty.is_a("vfio-ap")
            || ty.name == "iommufd";
        if !vfio {
            return None;
        }
        match p.name {
            "iommufd" | "fd" if !iommu => Some("/dev/iommu missing".to_owned()),
            "host" | "sysfsdev" if !container && !cdev => {
                Some("no /dev/vfio/vfio and no vfio cdevs".to_owned())
            }
            _ => None,
        }
    }
}
