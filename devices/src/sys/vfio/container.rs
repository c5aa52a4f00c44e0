//! The VFIO container (`/dev/vfio/vfio`): API version, extensions, IOMMU
//! model, type1 info, DMA map/unmap (legacy backend).

use std::os::fd::{AsFd, AsRawFd};

use nix::libc::c_ulong;
use vfio_bindings::bindings::vfio as vb;

use super::super::{Errno, Op, Result, SysError, fault, ioctls};
use super::{IommuInfo, argbuf, argsz};
use crate::sys::info::{parse_iommu_info, rd_u32, rd_u64};

fd_handle! {
    /// An open VFIO container (`/dev/vfio/vfio`), the legacy IOMMU backend.
    Container,
    /// Wrap an already-open container fd (ownership is taken).
}

/// DMA access permissions for [`Container::map_dma`] / [`crate::sys::iommufd::Iommufd::ioas_map`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaAccess {
    /// The device may read the memory.
    pub read: bool,
    /// The device may write the memory.
    pub write: bool,
}

impl DmaAccess {
    /// Read and write.
    pub const READ_WRITE: DmaAccess = DmaAccess {
        read: true,
        write: true,
    };
    /// Read-only (device reads guest memory).
    pub const READ_ONLY: DmaAccess = DmaAccess {
        read: true,
        write: false,
    };
}

impl Container {
    /// `VFIO_GET_API_VERSION`. QEMU requires [`super::bindings::VFIO_API_VERSION`] (0)
    /// and reports `supported vfio version: %d, reported version: %d` otherwise.
    pub fn api_version(&self) -> Result<i32> {
        let call = fault::enter(Op::GetApiVersion)?;
        if let Some(v) = call.api_version() {
            return Ok(v);
        }
        // SAFETY: VFIO_GET_API_VERSION takes no argument; the fd is live
        // because it is borrowed from `self`.
        let r = unsafe { ioctls::vfio_get_api_version(self.fd.as_raw_fd()) };
        call.tag(r)
    }

    /// `VFIO_CHECK_EXTENSION(ext)`: whether the extension (e.g.
    /// [`super::bindings::VFIO_TYPE1v2_IOMMU`], [`super::bindings::VFIO_UNMAP_ALL`]) is supported.
    pub fn check_extension(&self, ext: u32) -> Result<bool> {
        let call = fault::enter(Op::CheckExtension)?;
        if let Some(v) = call.extension(ext) {
            return Ok(v);
        }
        let r = ioctls::ioctl_with_value(
            self.fd.as_fd(),
            ioctls::VFIO_CHECK_EXTENSION,
            c_ulong::from(ext),
        );
        call.tag(r).map(|v| v > 0)
    }

    /// `VFIO_SET_IOMMU(iommu_type)`; requires at least one group attached.
    pub fn set_iommu(&self, iommu_type: u32) -> Result<()> {
        let call = fault::enter(Op::SetIommu)?;
        let r = ioctls::ioctl_with_value(
            self.fd.as_fd(),
            ioctls::VFIO_SET_IOMMU,
            c_ulong::from(iommu_type),
        );
        call.tag(r).map(drop)
    }

    /// `VFIO_IOMMU_GET_INFO`, re-issued with the larger `argsz` the kernel
    /// asks for so that the whole capability chain is read. A malformed chain
    /// is reported as `EPROTO`.
    pub fn iommu_info(&self) -> Result<IommuInfo> {
        let call = fault::enter(Op::IommuGetInfo)?;
        let base = argsz::<vb::vfio_iommu_type1_info>();
        let buf = argbuf::get_info(call, Op::IommuGetInfo, base, &[], |arg| {
            // SAFETY: `arg` is an 8-byte aligned buffer of at least the
            // `argsz` its header tells the kernel, starting with a
            // `vfio_iommu_type1_info` header (argsz set, rest 0). The kernel
            // writes at most `argsz` bytes into it.
            unsafe { ioctls::vfio_iommu_get_info(self.fd.as_raw_fd(), arg.as_mut_ptr()) }
        })?;
        let hdr = vb::vfio_iommu_type1_info {
            argsz: rd_u32(&buf, 0).unwrap_or(0),
            flags: rd_u32(&buf, 4).unwrap_or(0),
            iova_pgsizes: rd_u64(&buf, 8).unwrap_or(0),
            cap_offset: rd_u32(&buf, 16).unwrap_or(0),
            pad: 0,
        };
        parse_iommu_info(&buf, &hdr).ok_or(SysError::new(Op::IommuGetInfo, Errno::EPROTO))
    }

    /// `VFIO_IOMMU_MAP_DMA`: map `size` bytes of this process's memory at
    /// `vaddr` to `iova`. The kernel pins the pages.
    ///
    /// # Safety
    ///
    /// `vaddr..vaddr+size` must be memory this process owns for as long as
    /// the mapping exists, and the caller must treat it as shared with the
    /// device: with write access the device may modify it at any time, so it
    /// must not back Rust objects that assume exclusive access (e.g. a live
    /// `&mut` or ordinary heap data). Freed memory must be unmapped first.
    pub unsafe fn map_dma(
        &self,
        vaddr: u64,
        iova: u64,
        size: u64,
        access: DmaAccess,
    ) -> Result<()> {
        let mut flags = 0;
        if access.read {
            flags |= vb::VFIO_DMA_MAP_FLAG_READ;
        }
        if access.write {
            flags |= vb::VFIO_DMA_MAP_FLAG_WRITE;
        }
        let call = fault::enter(Op::MapDma)?;
        let map = vb::vfio_iommu_type1_dma_map {
            argsz: argsz::<vb::vfio_iommu_type1_dma_map>(),
            flags,
            vaddr,
            iova,
            size,
        };
        // SAFETY: `map` is a fully initialised vfio_iommu_type1_dma_map that
        // lives across the call; the kernel only reads it. The validity of the
        // user range is the caller's contract (see `# Safety`).
        let r = unsafe { ioctls::vfio_iommu_map_dma(self.fd.as_raw_fd(), &map) };
        call.tag(r).map(drop)
    }

    /// `VFIO_IOMMU_UNMAP_DMA` of `iova..iova+size`; returns the number of
    /// bytes the kernel unmapped.
    pub fn unmap_dma(&self, iova: u64, size: u64) -> Result<u64> {
        self.unmap(iova, size, 0)
    }

    /// `VFIO_IOMMU_UNMAP_DMA` with `VFIO_DMA_UNMAP_FLAG_ALL` (needs the
    /// `VFIO_UNMAP_ALL` extension); returns the number of bytes unmapped.
    pub fn unmap_all(&self) -> Result<u64> {
        self.unmap(0, 0, vb::VFIO_DMA_UNMAP_FLAG_ALL)
    }

    fn unmap(&self, iova: u64, size: u64, flags: u32) -> Result<u64> {
        let call = fault::enter(Op::UnmapDma)?;
        let mut unmap = vb::vfio_iommu_type1_dma_unmap {
            argsz: argsz::<vb::vfio_iommu_type1_dma_unmap>(),
            flags,
            iova,
            size,
            ..Default::default()
        };
        // SAFETY: `unmap` is an initialised vfio_iommu_type1_dma_unmap without
        // the dirty-bitmap flag, so the kernel reads/writes only its fixed
        // 24 bytes, which live across the call.
        let r = unsafe { ioctls::vfio_iommu_unmap_dma(self.fd.as_raw_fd(), &mut unmap) };
        call.tag(r)?;
        Ok(unmap.size)
    }
}
