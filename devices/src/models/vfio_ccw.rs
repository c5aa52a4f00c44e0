//! `vfio-ccw`: assign an s390 I/O subchannel (an mdev) through VFIO.

use qomgen::{CcwLoadparm, CssDevId, Device, DeviceImpl, Error, LifecycleCx, Link, Result};

use super::ccw_device::S390Ccw;
use super::iommufd::IommufdBackend;
use crate::attach::{self, Attached};

/// VFIO-based subchannel assignment
#[derive(Device, Debug)]
#[device(name = "vfio-ccw", category = Misc)]
pub struct VfioCcw {
    #[parent]
    pub(crate) s390: S390Ccw,
    /// Host sysfs path of assigned device
    #[prop(since = "2.10")]
    pub(crate) sysfsdev: Option<String>,
    /// Force unlimited prefetch
    // Kept for the interface: channel programs are not translated here.
    #[prop(name = "force-orb-pfch", default = false, since = "3.0")]
    pub(crate) force_orb_pfch: bool,
    /// Set host IOMMUFD backend device
    #[prop(link = "iommufd", since = "9.0")]
    pub(crate) iommufd: Option<Link<IommufdBackend>>,
    /// Define which devices that can be used for booting
    #[prop(since = "9.2")]
    pub(crate) loadparm: Option<CcwLoadparm>,
    #[prop(write_only, setter = VfioCcw::set_fd)]
    pub(crate) fd: Option<attach::PassedFd>,
    /// What realize attached, released by unrealize (or drop).
    pub(crate) attached: Option<Attached>,
}

impl VfioCcw {
    /// The guest-side bus id and subchannel (`dev_id`, `subch_id`) while realized.
    pub(crate) fn bus_ids(&self) -> (Option<CssDevId>, Option<CssDevId>) {
        (self.s390.ccw.dev_id, self.s390.ccw.subch_id)
    }

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

impl DeviceImpl for VfioCcw {
    fn realize(&mut self, cx: &LifecycleCx<'_>) -> Result<()> {
        if self
            .loadparm
            .as_ref()
            .is_some_and(|l| !l.as_str().is_empty())
            && self.s390.bootindex.is_none()
        {
            return Err(Error::new("LOADPARM is only valid for boot devices!"));
        }
        let (attached, (dev_id, subch_id)) = attach::realize_ccw(self, cx)?;
        self.s390.ccw.dev_id = Some(dev_id);
        self.s390.ccw.subch_id = Some(subch_id);
        self.attached = Some(attached);
        Ok(())
    }

    fn unrealize(&mut self, _cx: &LifecycleCx<'_>) {
        self.attached = None;
        self.s390.ccw.subch_id = None;
        self.s390.ccw.dev_id = None;
    }
}
