//! `vfio-ap`: assign an s390 crypto adapter configuration (an mdev) through VFIO.

use qomgen::{Device, DeviceImpl, LifecycleCx, Link, Result};

use super::iommufd::IommufdBackend;
use crate::attach::{self, Attached};

/// The adjunct-processor device base type (`ap-device`).
#[derive(Device, Debug)]
#[device(
    name = "ap-device",
    abstract,
    desc = "AP device class",
    hotpluggable = false
)]
pub struct ApDevice {}

impl DeviceImpl for ApDevice {}

/// VFIO-based AP device assignment
#[derive(Device, Debug)]
#[device(name = "vfio-ap", category = Misc, bus = "ap-bus", hotpluggable = true)]
pub struct VfioAp {
    #[parent]
    pub(crate) ap: ApDevice,
    /// Host sysfs path of assigned device
    #[prop(since = "3.1")]
    pub(crate) sysfsdev: Option<String>,
    /// Set host IOMMUFD backend device
    #[prop(link = "iommufd", since = "9.0")]
    pub(crate) iommufd: Option<Link<IommufdBackend>>,
    #[prop(write_only, setter = VfioAp::set_fd)]
    pub(crate) fd: Option<attach::PassedFd>,
    /// What realize attached, released by unrealize (or drop).
    pub(crate) attached: Option<Attached>,
}

impl VfioAp {
    /// What realize attached (interrupt notifiers included): `None` before
    /// realize and after unrealize.
    pub fn attached(&self) -> Option<&Attached> {
        self.attached.as_ref()
    }

    fn set_fd(&mut self, value: &str) -> Result<()> {
        self.fd = Some(attach::fd_param(value, "object fd")?);
        Ok(())
    }
}

impl DeviceImpl for VfioAp {
    fn realize(&mut self, cx: &LifecycleCx<'_>) -> Result<()> {
        self.attached = Some(attach::realize_ap(self, cx)?);
        Ok(())
    }

    fn unrealize(&mut self, _cx: &LifecycleCx<'_>) {
        self.attached = None;
    }
}
