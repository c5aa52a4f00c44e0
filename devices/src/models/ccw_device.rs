//! `ccw-device` and `s390-ccw`: the abstract channel-subsystem devices that
//! vfio-ccw derives from.

use qomgen::{CssDevId, Device, DeviceImpl};

/// The channel-subsystem device base type (`ccw-device`).
#[derive(Device, Debug)]
#[device(name = "ccw-device", abstract, bus = "virtual-css-bus", no_desc)]
pub struct CcwDevice {
    #[prop]
    pub(crate) devno: Option<CssDevId>,
    /// Read-only identifier of an I/O device in the channel subsystem, example: fe.1.23ab
    #[prop(name = "dev_id", read_only)]
    pub(crate) dev_id: Option<CssDevId>,
    /// Read-only identifier of an I/O device in the channel subsystem, example: fe.1.23ab
    #[prop(name = "subch_id", read_only)]
    pub(crate) subch_id: Option<CssDevId>,
}

impl DeviceImpl for CcwDevice {}

/// The abstract s390 CCW passthrough base type (`s390-ccw`).
#[derive(Device, Debug)]
#[device(name = "s390-ccw", abstract, no_desc)]
pub struct S390Ccw {
    #[parent]
    pub(crate) ccw: CcwDevice,
    #[prop]
    pub(crate) bootindex: Option<i32>,
}

impl DeviceImpl for S390Ccw {}
