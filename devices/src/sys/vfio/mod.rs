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

mod container;
mod device;
mod group;
mod mapping;

pub use vfio_bindings::bindings::vfio as bindings;

pub use super::info::{
    DeviceInfo, IommuInfo, IovaRange, IrqInfo, MigrationCap, RegionCap, RegionInfo, SparseArea,
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

/// Two native-endian u32 fields as they lie in one aligned u64 word.
fn pack2(lo_addr: u32, hi_addr: u32) -> u64 {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&lo_addr.to_ne_bytes());
    b[4..].copy_from_slice(&hi_addr.to_ne_bytes());
    u64::from_ne_bytes(b)
}

fn words_to_bytes(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_ne_bytes()).collect()
}
