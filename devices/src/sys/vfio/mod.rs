//! VFIO container, group and device handles (`linux/vfio.h`).
//!
//! * [`Container`] — `/dev/vfio/vfio`: API version, extensions, IOMMU model,
//!   type1 info, DMA map/unmap (legacy backend).
//! * [`Group`] — `/dev/vfio/<N>` (or `/dev/vfio/noiommu-<N>`): status,
//!   container attach/detach, device fd by name (incl. `vf_token=`).
//! * [`Device`] — a device fd from [`Group::device`] or a cdev
//!   `/dev/vfio/devices/vfioN`: info, regions (with capability chain),
//!   IRQs, region I/O, mmap ([`MappedRegion`]), reset, and the iommufd
//!   bind/attach/detach calls.
//!
//! The constants of the uAPI (`VFIO_TYPE1v2_IOMMU`, `VFIO_PCI_*_INDEX`,
//! flag bits, …) are re-exported as [`bindings`].

mod argbuf;
mod container;
mod device;
mod group;
mod mapping;

pub use vfio_bindings::bindings::vfio as bindings;

pub use super::info::{
    DeviceFlags, DeviceInfo, IommuInfo, IovaRange, IrqFlags, IrqInfo, MigrationCap, RegionCap,
    RegionFlags, RegionInfo, SparseArea,
};
pub use container::{Container, DmaAccess};
pub use device::{Device, IrqAction};
pub use group::{Group, GroupStatus, device_fd_name};
pub use mapping::{MapProt, MappedRegion};

use super::{Errno, Op, Result, SysError};

fn argsz<T>() -> u32 {
    u32::try_from(std::mem::size_of::<T>()).expect("uAPI struct larger than 4 GiB")
}

fn to_off(op: Op, offset: u64) -> Result<nix::libc::off_t> {
    nix::libc::off_t::try_from(offset).map_err(|_| SysError::new(op, Errno::EINVAL))
}
