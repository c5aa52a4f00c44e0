//! The part every VFIO device has: QEMU's `VFIODevice`
//! (include/hw/vfio/vfio-device.h), which `VFIOPCIDevice`, `VFIOCCWDevice`
//! and `VFIOAPDevice` each embed as `vdev`/`vbasedev`.

use std::path::PathBuf;

use qomgen::{Link, PropertyGroup, Result};

use super::IommufdState;
use super::{Attached, PassedFd, fd_param};

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
    pub(crate) iommufd: Option<Link<IommufdState>>,
    // A device fd passed by the management layer (QEMU's
    // `vfio_device_set_fd`, hw/vfio/device.c); no doc comment, as QEMU's
    // property has no description.
    #[prop(write_only, setter = VfioCommon::set_fd)]
    pub(crate) fd: Option<PassedFd>,
    /// What realize attached, released by unrealize (or drop).
    pub(crate) attached: Option<Attached>,
}

/// A VFIO device model as the code that needs no more than its common part
/// sees it (`--dry-run`'s [`super::plan`], the report): implemented by
/// vfio-pci, vfio-ccw and vfio-ap in `crate::models`, which also finds it
/// in an object (`crate::models::vfio_device`).
pub trait VfioDevice {
    /// The common part.
    fn common(&self) -> &VfioCommon;

    /// Where realize looks for the host device: `sysfsdev` (vfio-pci also
    /// takes `host`).
    fn host_path(&self) -> Option<PathBuf> {
        self.common().sysfsdev.as_deref().map(PathBuf::from)
    }

    /// Whether the device is PCI: an mdev only when its sysfsdev is one,
    /// where vfio-ccw and vfio-ap always are.
    fn is_pci(&self) -> bool {
        false
    }

    /// Whether `sysfsdev=` is needed even with `fd=` (vfio-ccw: QEMU's
    /// `vfio_ccw_realize`, hw/vfio/ccw.c, reads the subchannel from it).
    fn needs_sysfsdev(&self) -> bool {
        false
    }
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
