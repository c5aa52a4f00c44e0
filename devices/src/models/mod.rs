//! The device models: each file is one datasheet, the struct with its
//! properties and then its realize logic.

pub mod ccw_device;
pub mod iommufd;
pub mod kinds;
pub mod pci_device;
pub mod vfio_ap;
pub mod vfio_ccw;
pub mod vfio_pci;

use qomgen::{Object, ObjectType, TypeInfo};

use crate::attach::VfioDevice;

/// Every type this crate declares. Referencing it keeps each registration
/// in the final binary: a linker drops object files nothing refers to,
/// and with them their `inventory` constructors.
pub static TYPES: [&TypeInfo; 10] = [
    iommufd::IommufdBackend::TYPE_INFO,
    pci_device::PciDevice::TYPE_INFO,
    vfio_pci::VfioPciDevice::TYPE_INFO,
    vfio_pci::VfioPci::TYPE_INFO,
    vfio_pci::VfioPciNohotplug::TYPE_INFO,
    ccw_device::CcwDevice::TYPE_INFO,
    ccw_device::S390Ccw::TYPE_INFO,
    vfio_ccw::VfioCcw::TYPE_INFO,
    vfio_ap::ApDevice::TYPE_INFO,
    vfio_ap::VfioAp::TYPE_INFO,
];

/// The VFIO device `obj` is (vfio-pci and its nohotplug variant,
/// vfio-ccw, vfio-ap); `None` for any other object.
pub fn vfio_device(obj: &dyn Object) -> Option<&dyn VfioDevice> {
    if let Some(d) = obj.downcast_ref::<vfio_pci::VfioPci>() {
        return Some(d);
    }
    if let Some(d) = obj.downcast_ref::<vfio_ccw::VfioCcw>() {
        return Some(d);
    }
    obj.downcast_ref::<vfio_ap::VfioAp>()
        .map(|d| d as &dyn VfioDevice)
}

/// Makes sure every device type of this crate is registered (see [`TYPES`])
/// and returns their names.
pub fn register() -> impl Iterator<Item = &'static str> {
    std::hint::black_box(&TYPES).iter().map(|t| t.name)
}
