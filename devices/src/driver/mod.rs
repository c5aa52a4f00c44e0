//! Using a realized `vfio-pci` device from user space: register access,
//! DMA through the IOMMU, interrupts to eventfds, and reset.
//!
//! Realize ([`crate::attach::realize_pci`]) opens the device, attaches it to
//! an IOMMU backend (legacy container or iommufd) and maps its BARs. This
//! module is what a device model or a user-space driver uses afterwards:
//!
//! * [`Driver`] — a borrowed view of a realized device ([`Attached`]); every
//!   other handle borrows from it, so nothing here can outlive the device.
//! * [`Bar`] — one region (BAR0–5, ROM, config space) accessed with
//!   `pread`/`pwrite`; [`Mmio`] — the same region through its `mmap`, with
//!   bounds- and alignment-checked volatile accesses. Both implement
//!   [`RegisterIo`] (little-endian registers, one access of the given width).
//! * [`DmaBuffer`] — page-aligned anonymous memory the device may access;
//!   [`DmaMapping`] — that buffer mapped at an IOVA through whichever backend
//!   the device was realized with ([`Dma`]), unmapped on drop.
//! * [`IrqEventfds`] — INTx/MSI/MSI-X vectors delivered to eventfds, the IRQ
//!   index disabled on drop.
//! * [`Driver::reset`] — `VFIO_DEVICE_RESET`.
//!
//! [`edu`] is a complete driver for QEMU's `edu` device built on this API.
//!
//! # Invariants that keep safe code free of undefined behaviour
//!
//! * **Lifetimes.** [`Driver<'a>`] borrows the [`Attached`] state; [`Bar`],
//!   [`Mmio`], [`Dma`] and [`IrqEventfds`] carry the same `'a`, so the device
//!   fd, the BAR mappings and the IOMMU backend outlive every handle. A
//!   [`DmaMapping<'b>`] borrows both the backend and the [`DmaBuffer`]: the
//!   buffer cannot be freed (unmapped from the process) while the IOMMU still
//!   maps it, and the mapping is removed on drop.
//! * **Leaks are not unsafe.** If a [`DmaMapping`] is leaked
//!   (`mem::forget`), the buffer may later be freed while the IOVA is still
//!   mapped. Both backends pin the pages at map time and keep them pinned until
//!   unmap (or until the container/IOAS goes away), so the device keeps
//!   reaching those orphaned pages, never whatever the process maps at the
//!   same virtual address later. No-IOMMU containers, where the device would
//!   see physical addresses, are refused ([`DriverError::DmaUnavailable`]).
//! * **Shared memory is never a Rust reference.** Device-visible memory (BAR
//!   mappings, DMA buffers) is read and written only with volatile raw-pointer
//!   accesses, never through `&`/`&mut` slices, so a device writing it
//!   concurrently cannot invalidate what the compiler assumes about
//!   references. [`DmaBuffer`] is `Send` but not `Sync`: two threads cannot
//!   race on it through safe code.
//! * **Checked accesses.** Offsets are bounds- and alignment-checked and fail
//!   with [`DriverError`] instead of panicking; writes to a read-only region
//!   are refused before they could fault.
//! * **Not covered by the type system:** the *device* can still be told to do
//!   anything its registers allow, e.g. DMA to an IOVA that is not mapped
//!   (the IOMMU blocks it) or to one that is mapped to another buffer. And
//!   vfio-pci makes BAR mappings raise `SIGBUS` while memory decoding is
//!   disabled in `PCI_COMMAND`: call [`Driver::enable_device`] before MMIO.
//!   Such a signal terminates the process; it cannot corrupt memory.
//! * **Single-threaded object model.** [`Attached`] lives in the object tree
//!   (`Rc<RefCell<…>>`), so a [`Driver`] exists only while that object is
//!   borrowed: [`qomgen::ObjectTree::del_device`] on a borrowed device cannot
//!   free it (it is released when the last reference goes). Use
//!   [`with_driver`] to keep the borrow short.

mod dma;
pub mod edu;
mod irq;
mod region;

use std::time::Duration;

use qomgen::ObjRef;
use vfio_bindings::bindings::vfio as vb;

use crate::attach::{Attached, Backend};
use crate::models::vfio_pci::VfioPci;
use crate::sys::vfio::{Device, DeviceInfo, DmaAccess, IrqInfo};
use crate::sys::{Errno, SysError, strerror};

pub use dma::{Dma, DmaBackendKind, DmaBuffer, DmaMapping};
pub use irq::{IrqEventfds, IrqKind};
pub use region::{Bar, Mmio, RegisterIo};

/// `PCI_COMMAND` (config offset 0x04).
pub const PCI_COMMAND: u64 = 0x04;
/// `PCI_COMMAND_IO`: I/O space decoding.
pub const PCI_COMMAND_IO: u16 = 0x1;
/// `PCI_COMMAND_MEMORY`: memory space decoding (BAR MMIO).
pub const PCI_COMMAND_MEMORY: u16 = 0x2;
/// `PCI_COMMAND_MASTER`: the device may issue DMA (and MSI writes).
pub const PCI_COMMAND_MASTER: u16 = 0x4;

/// What can go wrong using a realized device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The `vfio-pci` object is not realized (or was unrealized).
    #[error("device is not realized")]
    NotRealized,
    /// The object is not a `vfio-pci` device, or the attached device is not PCI.
    #[error("not a vfio-pci device: {0}")]
    NotPci(String),
    /// The device object is mutably borrowed elsewhere.
    #[error("device object is busy (borrowed mutably)")]
    Busy,
    /// The region index does not exist or has size 0 (an unimplemented BAR).
    #[error("region {0} does not exist or is empty")]
    NoRegion(u32),
    /// The region (or the requested part of it) is not `mmap`ed.
    #[error("region {index} has no mapping at offset {offset:#x}")]
    NotMapped {
        /// Region index.
        index: u32,
        /// Region offset that was asked for.
        offset: u64,
    },
    /// An access that does not fit the region, mapping or buffer.
    #[error("{size}-byte access at {offset:#x} is outside {len:#x} bytes")]
    OutOfRange {
        /// Offset of the access.
        offset: u64,
        /// Size of the access in bytes.
        size: u64,
        /// Size of what was accessed.
        len: u64,
    },
    /// A register access at an offset that is not a multiple of its size.
    #[error("{size}-byte access at {offset:#x} is not naturally aligned")]
    Misaligned {
        /// Offset of the access.
        offset: u64,
        /// Size of the access in bytes.
        size: u64,
    },
    /// A register access of a width other than 1, 2, 4 or 8 bytes.
    #[error("unsupported access width {0} (1, 2, 4 or 8 bytes)")]
    BadWidth(usize),
    /// A write to a region the kernel reports read-only.
    #[error("region {0} is read-only")]
    ReadOnly(u32),
    /// DMA cannot be mapped on this backend.
    #[error("DMA mapping unavailable: {0}")]
    DmaUnavailable(&'static str),
    /// The kernel unmapped a different amount than was mapped.
    #[error("unmap of {len:#x} bytes at IOVA {iova:#x} removed {got:#x} bytes")]
    UnmapMismatch {
        /// IOVA of the mapping.
        iova: u64,
        /// Bytes mapped.
        len: u64,
        /// Bytes the kernel reported unmapped.
        got: u64,
    },
    /// The IRQ index has fewer vectors than requested, or no eventfd support.
    #[error("IRQ index {index}: {requested} vector(s) requested, device has {available}")]
    IrqUnavailable {
        /// VFIO IRQ index.
        index: u32,
        /// Vectors requested.
        requested: u32,
        /// Vectors the device reports (0 when eventfds are unsupported).
        available: u32,
    },
    /// A vector number past the enabled ones.
    #[error("vector {vector} not enabled ({count} enabled)")]
    NoVector {
        /// The vector asked for.
        vector: usize,
        /// Vectors enabled.
        count: usize,
    },
    /// The device has no reset method (`VFIO_DEVICE_FLAGS_RESET` clear).
    #[error("device does not support VFIO_DEVICE_RESET")]
    ResetUnsupported,
    /// A wait ran out of time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// An argument the device or driver cannot accept.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// A VFIO/iommufd call failed.
    #[error(transparent)]
    Sys(#[from] SysError),
    /// Another system call failed.
    #[error("{op}: {}", strerror(*errno))]
    Os {
        /// The call.
        op: &'static str,
        /// Its errno.
        errno: Errno,
    },
}

/// Result of the driver API.
pub type Result<T> = std::result::Result<T, DriverError>;

/// Checks a register access: width 1/2/4/8, inside `len`, naturally aligned.
pub(crate) fn check_access(offset: u64, size: usize, len: u64) -> Result<()> {
    if !matches!(size, 1 | 2 | 4 | 8) {
        return Err(DriverError::BadWidth(size));
    }
    check_range(offset, size as u64, len)?;
    if !offset.is_multiple_of(size as u64) {
        return Err(DriverError::Misaligned {
            offset,
            size: size as u64,
        });
    }
    Ok(())
}

/// Checks that `offset..offset+size` lies inside `len` bytes (`size` > 0).
pub(crate) fn check_range(offset: u64, size: u64, len: u64) -> Result<()> {
    match offset.checked_add(size) {
        Some(end) if size > 0 && end <= len => Ok(()),
        _ => Err(DriverError::OutOfRange { offset, size, len }),
    }
}

/// A realized vfio-pci device, borrowed for driving it.
///
/// Cheap to copy: it is a reference to the device's [`Attached`] state.
#[derive(Debug, Clone, Copy)]
pub struct Driver<'a> {
    attached: &'a Attached,
}

impl<'a> Driver<'a> {
    /// The driver view of a realized `vfio-pci` (or `vfio-pci-nohotplug`).
    ///
    /// # Errors
    /// [`DriverError::NotRealized`] before realize or after unrealize.
    pub fn new(dev: &'a VfioPci) -> Result<Self> {
        Self::from_attached(dev.attached().ok_or(DriverError::NotRealized)?)
    }

    /// The driver view of attached device state.
    ///
    /// # Errors
    /// [`DriverError::NotPci`] when the device is not a PCI device.
    pub fn from_attached(attached: &'a Attached) -> Result<Self> {
        if !attached.info.is_pci() {
            return Err(DriverError::NotPci(format!(
                "{} reports VFIO device flags {:#x}",
                attached.name,
                attached.info.flags.bits()
            )));
        }
        Ok(Driver { attached })
    }

    /// The attached state (regions, IRQ indexes, PCI summary, backend choice).
    pub fn attached(&self) -> &'a Attached {
        self.attached
    }

    /// The device name (its BDF for a host device).
    pub fn name(&self) -> &'a str {
        &self.attached.name
    }

    /// `VFIO_DEVICE_GET_INFO` as realize read it.
    pub fn info(&self) -> DeviceInfo {
        self.attached.info
    }

    pub(crate) fn device(&self) -> &'a Device {
        self.attached.device()
    }

    pub(crate) fn backend(&self) -> &'a Backend {
        self.attached.backend()
    }

    /// Region `index` (`VFIO_PCI_*_REGION_INDEX`) as realize found it.
    ///
    /// # Errors
    /// [`DriverError::NoRegion`] for an unknown index or a region of size 0.
    pub fn region(&self, index: u32) -> Result<Bar<'a>> {
        let region = self
            .attached
            .regions
            .iter()
            .find(|r| r.info.index == index && r.info.size > 0)
            .ok_or(DriverError::NoRegion(index))?;
        Ok(Bar::new(self.device(), region))
    }

    /// BAR `n` (0–5).
    ///
    /// # Errors
    /// [`DriverError::NoRegion`] for `n > 5` or an unimplemented BAR.
    pub fn bar(&self, n: u32) -> Result<Bar<'a>> {
        if n > vb::VFIO_PCI_BAR5_REGION_INDEX {
            return Err(DriverError::NoRegion(n));
        }
        self.region(vb::VFIO_PCI_BAR0_REGION_INDEX + n)
    }

    /// The PCI configuration space region (`pread`/`pwrite` only; vfio-pci
    /// virtualizes parts of it).
    ///
    /// # Errors
    /// [`DriverError::NoRegion`] if realize did not record it.
    pub fn config(&self) -> Result<Bar<'a>> {
        self.region(vb::VFIO_PCI_CONFIG_REGION_INDEX)
    }

    /// `PCI_COMMAND` from config space.
    ///
    /// # Errors
    /// The config read failing.
    pub fn command(&self) -> Result<u16> {
        self.config()?.read_u16(PCI_COMMAND)
    }

    /// Sets `PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER` (Linux's
    /// `pci_enable_device` + `pci_set_master`): BAR mappings become
    /// accessible and the device may DMA and send MSIs. Returns the new value.
    ///
    /// # Errors
    /// The config access failing.
    pub fn enable_device(&self) -> Result<u16> {
        let cfg = self.config()?;
        let cmd = cfg.read_u16(PCI_COMMAND)? | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
        cfg.write_u16(PCI_COMMAND, cmd)?;
        cfg.read_u16(PCI_COMMAND)
    }

    /// The DMA interface of the device's IOMMU backend.
    pub fn dma(&self) -> Dma<'a> {
        Dma::new(self.backend())
    }

    /// Maps `buffer` at `iova` for the device: shorthand for
    /// [`Dma::map`] on [`Driver::dma`].
    ///
    /// # Errors
    /// As [`Dma::map`].
    pub fn map_dma<'b>(
        &self,
        buffer: &'b DmaBuffer,
        iova: u64,
        access: DmaAccess,
    ) -> Result<DmaMapping<'b>>
    where
        'a: 'b,
    {
        self.dma().map(buffer, iova, access)
    }

    /// The IRQ index as realize read it (`None` if the index does not exist).
    pub fn irq_info(&self, kind: IrqKind) -> Option<IrqInfo> {
        self.attached
            .irqs
            .iter()
            .find(|i| i.index == kind.index())
            .copied()
    }

    /// Delivers `vectors` vectors of `kind` to fresh eventfds
    /// (`VFIO_DEVICE_SET_IRQS`, `DATA_EVENTFD | ACTION_TRIGGER`). The index is
    /// disabled again when the returned value is dropped.
    ///
    /// Only one interrupt mode is active on a PCI device at a time: vfio-pci
    /// refuses MSI while INTx eventfds are set (and so on), with `EINVAL`.
    ///
    /// # Errors
    /// [`DriverError::IrqUnavailable`], eventfd creation, `SET_IRQS` failing.
    pub fn enable_irq(&self, kind: IrqKind, vectors: u32) -> Result<IrqEventfds<'a>> {
        let info = self.irq_info(kind);
        IrqEventfds::enable(self.device(), kind, info, vectors)
    }

    /// `VFIO_DEVICE_RESET`. vfio-pci saves and restores the config space
    /// around the reset, so `PCI_COMMAND` (and with it BAR access) survives.
    ///
    /// # Errors
    /// [`DriverError::ResetUnsupported`] without `VFIO_DEVICE_FLAGS_RESET`;
    /// the ioctl failing.
    pub fn reset(&self) -> Result<()> {
        if !self.info().has_reset() {
            return Err(DriverError::ResetUnsupported);
        }
        Ok(self.device().reset()?)
    }
}

/// Runs `f` with a [`Driver`] for the realized `vfio-pci` in `obj` (as
/// returned by [`qomgen::ObjectTree::device_add`]), borrowing the object
/// only for the call.
///
/// # Errors
/// [`DriverError::Busy`] if the object is mutably borrowed,
/// [`DriverError::NotPci`] if it is not a vfio-pci device,
/// [`DriverError::NotRealized`].
pub fn with_driver<R>(obj: &ObjRef, f: impl FnOnce(Driver<'_>) -> R) -> Result<R> {
    let guard = obj.try_borrow().map_err(|_| DriverError::Busy)?;
    let name = guard.type_info().name;
    let dev = guard
        .downcast_ref::<VfioPci>()
        .ok_or_else(|| DriverError::NotPci(format!("object type '{name}'")))?;
    Ok(f(Driver::new(dev)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_checks() {
        assert_eq!(check_access(0, 4, 8), Ok(()));
        assert_eq!(check_access(4, 4, 8), Ok(()));
        assert_eq!(
            check_access(8, 4, 8),
            Err(DriverError::OutOfRange {
                offset: 8,
                size: 4,
                len: 8
            })
        );
        assert_eq!(
            check_access(2, 4, 8),
            Err(DriverError::Misaligned { offset: 2, size: 4 })
        );
        assert_eq!(check_access(0, 3, 8), Err(DriverError::BadWidth(3)));
        assert!(check_access(u64::MAX - 1, 8, u64::MAX).is_err());
        assert!(check_range(0, 0, 8).is_err());
        assert_eq!(
            DriverError::OutOfRange {
                offset: 0x100000,
                size: 4,
                len: 0x100000
            }
            .to_string(),
            "4-byte access at 0x100000 is outside 0x100000 bytes"
        );
        assert_eq!(
            DriverError::Os {
                op: "mmap",
                errno: Errno::ENOMEM
            }
            .to_string(),
            "mmap: Cannot allocate memory"
        );
    }
}
