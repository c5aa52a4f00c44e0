//! `vfio-ccw`: assign an s390 I/O subchannel (an mdev) through VFIO.

use qomgen::{CcwLoadparm, CssDevId, Device, DeviceImpl, Error, LifecycleCx, Result};

use super::ccw_device::S390Ccw;
use crate::attach::{self, Attached, CcwPlace, VfioCommon, VfioDevice};

/// VFIO-based subchannel assignment
#[derive(Device, Debug)]
#[device(name = "vfio-ccw", category = Misc)]
pub struct VfioCcw {
    #[parent]
    pub(crate) s390: S390Ccw,
    /// Force unlimited prefetch
    // Kept for the interface: channel programs are not translated here.
    #[prop(name = "force-orb-pfch", default = false, since = "3.0")]
    pub(crate) force_orb_pfch: bool,
    /// Define which devices that can be used for booting
    #[prop(since = "9.2")]
    pub(crate) loadparm: Option<CcwLoadparm>,
    /// `sysfsdev`, `iommufd`, `fd` and what realize attached; `fd` comes
    /// last, as in QEMU (hw/vfio/ccw.c, `vfio_ccw_class_init` adds it
    /// after the static properties).
    #[prop(
        flatten,
        member(name = "sysfsdev", since = "2.10", before = "force-orb-pfch"),
        member(name = "iommufd", before = "loadparm")
    )]
    pub(crate) vfio: VfioCommon,
}

impl VfioCcw {
    /// The guest-side bus id and subchannel (`dev_id`, `subch_id`) while realized.
    pub(crate) fn bus_ids(&self) -> (Option<CssDevId>, Option<CssDevId>) {
        (self.s390.ccw.dev_id, self.s390.ccw.subch_id)
    }

    /// Where the device sits in the guest's channel subsystem while realized.
    fn place(&self) -> CcwPlace {
        CcwPlace {
            dev_id: self.s390.ccw.dev_id,
            subch_id: self.s390.ccw.subch_id,
            chpids: self.attached().and_then(|a| a.chpids),
        }
    }

    /// What realize attached (interrupt notifiers included): `None` before
    /// realize and after unrealize.
    pub fn attached(&self) -> Option<&Attached> {
        self.vfio.attached()
    }
}

impl VfioDevice for VfioCcw {
    fn common(&self) -> &VfioCommon {
        &self.vfio
    }

    fn needs_sysfsdev(&self) -> bool {
        true
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
        let others: Vec<CcwPlace> = cx
            .tree
            .devices()
            .filter_map(|(_, d)| Some(d.try_borrow().ok()?.downcast_ref::<VfioCcw>()?.place()))
            .collect();
        let (attached, (dev_id, subch_id)) =
            attach::realize_ccw(&self.vfio, self.s390.ccw.devno, &others, cx)?;
        self.s390.ccw.dev_id = Some(dev_id);
        self.s390.ccw.subch_id = Some(subch_id);
        self.vfio.attached = Some(attached);
        Ok(())
    }

    fn unrealize(&mut self, _cx: &LifecycleCx<'_>) {
        self.vfio.attached = None;
        self.s390.ccw.subch_id = None;
        self.s390.ccw.dev_id = None;
    }
}
