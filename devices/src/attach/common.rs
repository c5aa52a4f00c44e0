//! The part every VFIO device has: QEMU's `VFIODevice`
//! (include/hw/vfio/vfio-device.h), which `VFIOPCIDevice`, `VFIOCCWDevice`
//! and `VFIOAPDevice` each embed as `vdev`/`vbasedev`.

use qomgen::{Link, PropertyGroup, Result};

use super::{Attached, PassedFd, fd_param};
use crate::models::iommufd::IommufdBackend;

/// The host device to attach and how, and what realize attached. Each
/// VFIO device flattens it into its properties (`#[prop(flatten)]`); a
/// device gives `sysfsdev` the version it added it in, QEMU's differ.
#[derive(PropertyGroup, Debug)]
pub struct VfioCommon {
    /// Host sysfs path of assigned device
    #[prop]
    pub(crate) sysfsdev: Option<String>,
    /// Set host IOMMUFD backend device
    #[prop(link = "iommufd", since = "9.0")]
    pub(crate) iommufd: Option<Link<IommufdBackend>>,
    // A device fd passed by the management layer (QEMU's
    // `vfio_device_set_fd`, hw/vfio/device.c); no doc comment, as QEMU's
    // property has no description.
    #[prop(write_only, setter = VfioCommon::set_fd)]
    pub(crate) fd: Option<PassedFd>,
    /// What realize attached, released by unrealize (or drop).
    pub(crate) attached: Option<Attached>,
}

impl VfioCommon {
    /// What realize attached (interrupt notifiers included): `None` before
    /// realize and after unrealize.
    pub fn attached(&self) -> Option<&Attached> {
        self.attached.as_ref()
    }

    fn set_fd(&mut self, value: &str) -> Result<()> {
        self.fd = Some(fd_param(value, "object fd")?);
        Ok(())
    }
}
