//! What the guest-facing function needs of the host device, as a trait:
//! the real VFIO device implements it ([`VfioHost`]), and tests implement
//! it with an in-memory device, so every rule of the function can be
//! checked without a kernel.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use vfio_bindings::bindings::vfio as vb;

use crate::attach::{Attached, Backend, SharedGroup};
use crate::sys::iommufd::Iommufd;
use crate::sys::vfio::{Device, DmaAccess, IrqAction, MapProt, MappedRegion, RegionInfo};
use crate::sys::{Errno, Op, Result, SysError};

/// The host side of an assigned PCI function: its regions, its interrupt
/// indexes and the IOMMU its DMA goes through.
///
/// Region and IRQ indexes are VFIO's (`VFIO_PCI_BAR0_REGION_INDEX` …
/// `VFIO_PCI_CONFIG_REGION_INDEX`, `VFIO_PCI_INTX_IRQ_INDEX` …). It is
/// `Send` so that the function can move to the thread that serves the
/// guest's accesses (a VMM's vCPU thread).
pub trait HostFunction: std::fmt::Debug + Send {
    /// The device's name for messages (its BDF for a host device).
    fn name(&self) -> &str;
    /// Region `index` as the kernel describes it, `None` if absent.
    fn region(&self, index: u32) -> Option<&RegionInfo>;
    /// `pread` of `buf.len()` bytes at `offset` in region `index`.
    fn read(&self, index: u32, offset: u64, buf: &mut [u8]) -> Result<()>;
    /// `pwrite` of `data` at `offset` in region `index`.
    fn write(&self, index: u32, offset: u64, data: &[u8]) -> Result<()>;
    /// Maps `len` bytes at `offset` of region `index` into the process.
    /// The default refuses: a host without mappings is fully trapped.
    fn mmap(&self, index: u32, offset: u64, len: u64) -> Result<MappedRegion> {
        let _ = (index, offset, len);
        Err(SysError::new(Op::RegionMmap, Errno::ENOTSUP))
    }
    /// Vectors of IRQ `index` (`VFIO_DEVICE_GET_IRQ_INFO`'s count).
    fn irq_count(&self, index: u32) -> u32;
    /// Attaches one eventfd per vector `start..` of IRQ `index`
    /// (`VFIO_IRQ_SET_ACTION_TRIGGER`); `None` detaches that vector.
    fn set_irq_eventfds(
        &self,
        index: u32,
        start: u32,
        fds: &[Option<BorrowedFd<'_>>],
    ) -> Result<()>;
    /// Attaches the unmask (resample) eventfd of IRQ `index`
    /// (`VFIO_IRQ_SET_ACTION_UNMASK` with an eventfd).
    fn set_unmask_eventfd(&self, index: u32, fd: BorrowedFd<'_>) -> Result<()>;
    /// Unmasks IRQ `index` (`VFIO_IRQ_SET_ACTION_UNMASK`, no data).
    fn unmask(&self, index: u32) -> Result<()>;
    /// Disables every vector of IRQ `index`.
    fn disable_irqs(&self, index: u32) -> Result<()>;
    /// Whether DMA goes through an IOMMU (`false`: no-IOMMU mode, where the
    /// device would use host physical addresses).
    fn dma_translated(&self) -> bool;
    /// Maps `len` bytes of process memory at `host` for the device at `iova`.
    ///
    /// # Safety
    /// `host..host+len` must be memory the process owns and keeps mapped
    /// until [`HostFunction::dma_unmap`] of the same range: the device
    /// reads and writes it at any time.
    unsafe fn dma_map(&self, iova: u64, host: *mut u8, len: u64) -> Result<()>;
    /// Removes the mapping of `iova..iova+len`.
    fn dma_unmap(&self, iova: u64, len: u64) -> Result<()>;
}

/// Where a realized device's DMA mappings go.
#[derive(Debug)]
enum DmaTarget {
    /// The group's type1 container, shared with the group's other devices.
    Container(Arc<SharedGroup>),
    /// An iommufd (a duplicate of the backend's descriptor) and the IOAS.
    Iommufd { fd: Iommufd, ioas: u32 },
    /// A no-IOMMU container: nothing can be mapped.
    None,
}

/// The real host device: a duplicate of the realized device's descriptor
/// and of its backend's, so the function owns what it uses and cannot
/// outlive a descriptor it borrows.
#[derive(Debug)]
pub struct VfioHost {
    name: String,
    device: Device,
    regions: Vec<RegionInfo>,
    irq_counts: Vec<u32>,
    dma: DmaTarget,
}

fn dup(fd: BorrowedFd<'_>, op: Op) -> Result<OwnedFd> {
    fd.try_clone_to_owned()
        .map_err(|e| SysError::new(op, Errno::from_raw(e.raw_os_error().unwrap_or(0))))
}

impl VfioHost {
    /// The host side of a realized vfio-pci device.
    ///
    /// # Errors
    /// Duplicating the device or iommufd descriptor failing (`EMFILE`, …).
    pub fn new(a: &Attached) -> Result<VfioHost> {
        let device = Device::from_fd(dup(a.device().as_fd(), Op::DeviceGetInfo)?);
        let dma = match a.backend() {
            Backend::Legacy {
                iommu_type, group, ..
            } => {
                if *iommu_type == vb::VFIO_NOIOMMU_IOMMU {
                    DmaTarget::None
                } else {
                    DmaTarget::Container(Arc::clone(group))
                }
            }
            b @ Backend::Iommufd { ioas, .. } => {
                let fd = b
                    .with_iommufd(|fd, _| dup(fd.as_fd(), Op::IoasMap))
                    .ok_or(SysError::new(Op::IoasMap, Errno::EBUSY))??;
                DmaTarget::Iommufd {
                    fd: Iommufd::from_fd(fd),
                    ioas: *ioas,
                }
            }
        };
        Ok(VfioHost {
            name: a.name.clone(),
            device,
            regions: a.regions.iter().map(|r| r.info.clone()).collect(),
            irq_counts: a.irqs.iter().map(|i| i.count).collect(),
            dma,
        })
    }
}

impl HostFunction for VfioHost {
    fn name(&self) -> &str {
        &self.name
    }

    fn region(&self, index: u32) -> Option<&RegionInfo> {
        self.regions.iter().find(|r| r.index == index)
    }

    fn read(&self, index: u32, offset: u64, buf: &mut [u8]) -> Result<()> {
        let r = self
            .region(index)
            .ok_or(SysError::new(Op::RegionRead, Errno::EINVAL))?;
        self.device.region_read(r, offset, buf)
    }

    fn write(&self, index: u32, offset: u64, data: &[u8]) -> Result<()> {
        let r = self
            .region(index)
            .ok_or(SysError::new(Op::RegionWrite, Errno::EINVAL))?;
        self.device.region_write(r, offset, data)
    }

    fn mmap(&self, index: u32, offset: u64, len: u64) -> Result<MappedRegion> {
        let r = self
            .region(index)
            .ok_or(SysError::new(Op::RegionMmap, Errno::EINVAL))?;
        let prot = if r.writable() {
            MapProt::READ_WRITE
        } else {
            MapProt::READ_ONLY
        };
        let len = usize::try_from(len).map_err(|_| SysError::new(Op::RegionMmap, Errno::EINVAL))?;
        self.device.mmap_region(r, offset, len, prot)
    }

    fn irq_count(&self, index: u32) -> u32 {
        self.irq_counts.get(index as usize).copied().unwrap_or(0)
    }

    fn set_irq_eventfds(
        &self,
        index: u32,
        start: u32,
        fds: &[Option<BorrowedFd<'_>>],
    ) -> Result<()> {
        self.device
            .set_irq_eventfds(index, IrqAction::Trigger, start, fds)
    }

    fn set_unmask_eventfd(&self, index: u32, fd: BorrowedFd<'_>) -> Result<()> {
        self.device
            .set_irq_eventfds(index, IrqAction::Unmask, 0, &[Some(fd)])
    }

    fn unmask(&self, index: u32) -> Result<()> {
        self.device.set_irqs_none(index, IrqAction::Unmask, 0, 1)
    }

    fn disable_irqs(&self, index: u32) -> Result<()> {
        self.device.disable_irqs(index)
    }

    fn dma_translated(&self) -> bool {
        !matches!(self.dma, DmaTarget::None)
    }

    unsafe fn dma_map(&self, iova: u64, host: *mut u8, len: u64) -> Result<()> {
        match &self.dma {
            // SAFETY: the caller keeps `host..host+len` mapped and owned
            // until it is unmapped (this function's contract).
            DmaTarget::Container(g) => unsafe {
                g.container()
                    .map_dma(host as u64, iova, len, DmaAccess::READ_WRITE)
            },
            DmaTarget::Iommufd { fd, ioas } => {
                // SAFETY: as above.
                unsafe { fd.ioas_map_fixed(*ioas, host as u64, len, iova, DmaAccess::READ_WRITE) }?
                    .map_err(|_| SysError::new(Op::IoasMap, Errno::EINVAL))
            }
            DmaTarget::None => Err(SysError::new(Op::MapDma, Errno::EPERM)),
        }
    }

    fn dma_unmap(&self, iova: u64, len: u64) -> Result<()> {
        match &self.dma {
            DmaTarget::Container(g) => g.container().unmap_dma(iova, len).map(drop),
            DmaTarget::Iommufd { fd, ioas } => fd.ioas_unmap(*ioas, iova, len).map(drop),
            DmaTarget::None => Err(SysError::new(Op::UnmapDma, Errno::EPERM)),
        }
    }
}
