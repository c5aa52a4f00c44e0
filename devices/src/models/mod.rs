//! The device models: each file is one datasheet, the struct with its
//! properties and then its realize logic.

pub mod ccw_device;
pub mod iommufd;
pub mod kinds;
pub mod pci_device;
pub mod vfio_ap;
pub mod vfio_ccw;
pub mod vfio_pci;
