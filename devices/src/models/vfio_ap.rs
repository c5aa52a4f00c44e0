//! `vfio-ap`: assign an s390 crypto adapter configuration (an mdev) through VFIO.

use qomgen::{Device, DeviceImpl, LifecycleCx, Result};

use crate::attach::{self, Attached, VfioCommon, VfioDevice};

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
    /// `sysfsdev`, `iommufd`, `fd` and what realize attached.
    #[prop(flatten, member(name = "sysfsdev", since = "3.1"))]
    pub(crate) vfio: VfioCommon,
}

impl VfioAp {
    /// What realize attached (interrupt notifiers included): `None` before
    /// realize and after unrealize.
    pub fn attached(&self) -> Option<&Attached> {
        self.vfio.attached()
    }
}

impl VfioDevice for VfioAp {
    fn common(&self) -> &VfioCommon {
        &self.vfio
    }
}

impl DeviceImpl for VfioAp {
    fn realize(&mut self, cx: &LifecycleCx<'_>) -> Result<()> {
        self.vfio.attached = Some(attach::realize_ap(&self.vfio, cx)?);
        Ok(())
    }

    fn unrealize(&mut self, _cx: &LifecycleCx<'_>) {
        self.vfio.attached = None;
    }
}
