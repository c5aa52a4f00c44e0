//! DMA: device-visible buffers and their IOMMU mappings on either backend.

use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::ops::RangeInclusive;
use std::ptr::NonNull;

use nix::sys::mman::{MapFlags, MmapAdvise, ProtFlags};
use vfio_bindings::bindings::vfio as vb;

use crate::attach::Backend;
use crate::sys::Errno;
use crate::sys::vfio::DmaAccess;

use super::{DriverError, RegisterIo, Result, check_access, check_range};
use crate::sys::page_size;

/// Page-aligned, zero-filled anonymous memory that a device may access by
/// DMA once mapped with [`Dma::map`]; unmapped from the process on drop.
///
/// The memory is only ever touched with volatile raw-pointer accesses (the
/// device may write it at any time while mapped), so no Rust reference to it
/// exists. It is populated at creation (`MAP_POPULATE`) and excluded from
/// `fork` children (`MADV_DONTFORK`, as QEMU does for DMA memory), so a child
/// process can neither see it nor make the parent's pinned pages copy-on-write.
///
/// Typed accessors ([`RegisterIo`]) are little-endian and naturally aligned;
/// [`DmaBuffer::read_bytes`]/[`DmaBuffer::write_bytes`] copy any range.
/// `Send`, but not `Sync`: accesses from two threads at once would be a data
/// race, so safe code cannot share it across threads.
#[derive(Debug)]
pub struct DmaBuffer {
    ptr: NonNull<u8>,
    len: usize,
    /// Not `Sync` (raw pointer marker), `Send` is implemented below.
    _not_sync: PhantomData<*mut u8>,
}

// SAFETY: the buffer owns its mapping exclusively (nobody else unmaps it) and
// all accesses go through `&self` methods doing volatile raw-pointer
// operations; moving the owner to another thread moves that exclusive
// ownership with it. It stays `!Sync`, so no two threads access it at once.
unsafe impl Send for DmaBuffer {}

impl DmaBuffer {
    /// Allocates at least `len` bytes (rounded up to whole pages), zeroed.
    ///
    /// # Errors
    /// [`DriverError::Invalid`] for `len == 0` or an overflowing size;
    /// `mmap`/`madvise` failing.
    pub fn new(len: usize) -> Result<DmaBuffer> {
        let size = len
            .checked_next_multiple_of(page_size())
            .and_then(NonZeroUsize::new)
            .ok_or_else(|| DriverError::Invalid(format!("DMA buffer size {len}")))?;
        // SAFETY: a fresh private anonymous mapping placed by the kernel
        // (addr = None) cannot alias any existing memory of the process.
        let ptr = unsafe {
            nix::sys::mman::mmap_anonymous(
                None,
                size,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE | MapFlags::MAP_POPULATE,
            )
        }
        .map_err(|errno| DriverError::Os { op: "mmap", errno })?;
        let buf = DmaBuffer {
            ptr: ptr.cast(),
            len: size.get(),
            _not_sync: PhantomData,
        };
        // SAFETY: `ptr..ptr+len` is exactly the mapping just created and owned
        // by `buf`; MADV_DONTFORK only changes what fork() copies.
        unsafe { nix::sys::mman::madvise(ptr, buf.len, MmapAdvise::MADV_DONTFORK) }.map_err(
            |errno| DriverError::Os {
                op: "madvise",
                errno,
            },
        )?;
        Ok(buf)
    }

    /// Length in bytes (a multiple of the page size).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: empty buffers cannot be created.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Process virtual address of the first byte. Accesses through it must
    /// stay in bounds and be volatile (the device may write concurrently).
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    fn addr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    /// Copies `buf.len()` bytes at `offset` out of the buffer.
    ///
    /// # Errors
    /// [`DriverError::OutOfRange`] (also for an empty `buf`).
    pub fn read_bytes(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        check_range(offset as u64, buf.len() as u64, self.len as u64)?;
        let base = self.ptr.as_ptr().wrapping_add(offset);
        for (i, b) in buf.iter_mut().enumerate() {
            // SAFETY: offset + i < offset + buf.len() <= len: in bounds of the
            // live mapping owned by self; u8 has no alignment requirement, and
            // the access is volatile because the device may write it too.
            *b = unsafe { base.add(i).read_volatile() };
        }
        Ok(())
    }

    /// Copies `data` into the buffer at `offset`.
    ///
    /// # Errors
    /// [`DriverError::OutOfRange`] (also for an empty `data`).
    pub fn write_bytes(&self, offset: usize, data: &[u8]) -> Result<()> {
        check_range(offset as u64, data.len() as u64, self.len as u64)?;
        let base = self.ptr.as_ptr().wrapping_add(offset);
        for (i, b) in data.iter().enumerate() {
            // SAFETY: in bounds as in `read_bytes`; no reference to this
            // memory exists, so a volatile store breaks no aliasing rule, and
            // `!Sync` rules out a concurrent access from another thread.
            unsafe { base.add(i).write_volatile(*b) };
        }
        Ok(())
    }

    /// Sets every byte to `value`.
    pub fn fill(&self, value: u8) {
        for i in 0..self.len {
            // SAFETY: i < len: in bounds of the owned mapping (see write_bytes).
            unsafe { self.ptr.as_ptr().add(i).write_volatile(value) };
        }
    }

    /// A copy of the whole buffer.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.len];
        // `v` is exactly `len` bytes long, so this cannot fail.
        let _ = self.read_bytes(0, &mut v);
        v
    }
}

impl DmaBuffer {
    /// Pointer to a `T` (u8/u16/u32/u64) at `offset`, after checking that
    /// it lies inside the buffer and is naturally aligned.
    fn slot<T>(&self, offset: u64) -> Result<*mut T> {
        check_access(offset, std::mem::size_of::<T>(), self.len as u64)?;
        // offset + size_of::<T>() <= len, so the pointer stays in the mapping.
        Ok(self.ptr.as_ptr().wrapping_add(offset as usize).cast())
    }

    fn load<T: Copy>(&self, offset: u64) -> Result<T> {
        let p = self.slot::<T>(offset)?;
        // SAFETY: `slot` checked that `p..p+size_of::<T>()` is inside the live
        // mapping owned by self and that `offset` is a multiple of the size;
        // the base is page aligned, so `p` is aligned for the integer `T`.
        // Volatile, because the device may write the memory.
        Ok(unsafe { p.read_volatile() })
    }

    fn store<T: Copy>(&self, offset: u64, v: T) -> Result<()> {
        let p = self.slot::<T>(offset)?;
        // SAFETY: in bounds and aligned as in `load`; no Rust reference covers
        // the buffer, so the store breaks no aliasing rule, and `!Sync` rules
        // out a concurrent access from another thread.
        unsafe { p.write_volatile(v) };
        Ok(())
    }
}

// `buf`/`data` hold the bytes as they lie in memory (native order of the
// loaded value); the typed accessors decode them as little-endian.
impl RegisterIo for DmaBuffer {
    fn read_access(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        match buf.len() {
            1 => buf[0] = self.load::<u8>(offset)?,
            2 => buf.copy_from_slice(&self.load::<u16>(offset)?.to_ne_bytes()),
            4 => buf.copy_from_slice(&self.load::<u32>(offset)?.to_ne_bytes()),
            8 => buf.copy_from_slice(&self.load::<u64>(offset)?.to_ne_bytes()),
            n => return Err(DriverError::BadWidth(n)),
        }
        Ok(())
    }

    fn write_access(&self, offset: u64, data: &[u8]) -> Result<()> {
        match *data {
            [b] => self.store(offset, b),
            [a, b] => self.store(offset, u16::from_ne_bytes([a, b])),
            [a, b, c, d] => self.store(offset, u32::from_ne_bytes([a, b, c, d])),
            [a, b, c, d, e, f, g, h] => {
                self.store(offset, u64::from_ne_bytes([a, b, c, d, e, f, g, h]))
            }
            _ => Err(DriverError::BadWidth(data.len())),
        }
    }
}

impl Drop for DmaBuffer {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in `new`, owned by
        // this value and unmapped only here; no reference into it exists. An
        // IOMMU mapping that was leaked keeps its own page pins, so the device
        // cannot reach whatever is mapped at this address afterwards.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr.cast(), self.len) };
    }
}

/// Which IOMMU backend a device was realized with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmaBackendKind {
    /// Legacy VFIO container, type1 IOMMU (`VFIO_IOMMU_MAP_DMA`).
    Legacy,
    /// Legacy VFIO container in no-IOMMU mode: no DMA mappings possible.
    NoIommu,
    /// iommufd IOAS (`IOMMU_IOAS_MAP`).
    Iommufd,
}

/// The DMA interface of a realized device: maps buffers into its IOVA space
/// through the legacy container or the iommufd IOAS, whichever it uses.
#[derive(Debug, Clone, Copy)]
pub struct Dma<'a> {
    backend: &'a Backend,
}

impl<'a> Dma<'a> {
    pub(crate) fn new(backend: &'a Backend) -> Self {
        Dma { backend }
    }

    /// The backend behind this interface.
    pub fn kind(&self) -> DmaBackendKind {
        match self.backend {
            Backend::Legacy { iommu_type, .. } if *iommu_type == vb::VFIO_NOIOMMU_IOMMU => {
                DmaBackendKind::NoIommu
            }
            Backend::Legacy { .. } => DmaBackendKind::Legacy,
            Backend::Iommufd { .. } => DmaBackendKind::Iommufd,
        }
    }

    /// The IOVA ranges the IOMMU accepts (inclusive), as the kernel reports
    /// them (`VFIO_IOMMU_GET_INFO` / `IOMMU_IOAS_IOVA_RANGES`).
    ///
    /// # Errors
    /// [`DriverError::DmaUnavailable`] in no-IOMMU mode or when the iommufd
    /// object is busy; the query failing.
    pub fn iova_ranges(&self) -> Result<Vec<RangeInclusive<u64>>> {
        match self.backend {
            Backend::Legacy { .. } if self.kind() == DmaBackendKind::NoIommu => Err(
                DriverError::DmaUnavailable("no-IOMMU container has no IOVA space"),
            ),
            Backend::Legacy { group, .. } => Ok(group
                .container()
                .iommu_info()?
                .iova_ranges
                .iter()
                .map(|r| r.start..=r.end)
                .collect()),
            Backend::Iommufd { .. } => {
                let r = self
                    .backend
                    .with_iommufd(|fd, ioas| fd.ioas_iova_ranges(ioas))
                    .ok_or(DriverError::DmaUnavailable("iommufd object is busy"))??;
                Ok(r.ranges.iter().map(|i| i.start..=i.last).collect())
            }
        }
    }

    /// Maps all of `buffer` at `iova` (page aligned) with `access` for the
    /// device. The mapping borrows the buffer, so the buffer outlives it, and
    /// it is removed when the [`DmaMapping`] is dropped.
    ///
    /// # Errors
    /// [`DriverError::DmaUnavailable`] in no-IOMMU mode (the device would see
    /// physical addresses) or when a linked iommufd object is busy;
    /// [`DriverError::Invalid`] if `iova + len` overflows; the kernel refusing
    /// (`EINVAL` unaligned, `EEXIST` overlapping, `ENOSPC`/`ERANGE` outside
    /// the aperture, …).
    pub fn map<'b>(
        &self,
        buffer: &'b DmaBuffer,
        iova: u64,
        access: DmaAccess,
    ) -> Result<DmaMapping<'b>>
    where
        'a: 'b,
    {
        let len = buffer.len() as u64;
        if iova.checked_add(len).is_none() {
            return Err(DriverError::Invalid(format!(
                "IOVA {iova:#x} + {len:#x} overflows"
            )));
        }
        match self.backend {
            Backend::Legacy { .. } if self.kind() == DmaBackendKind::NoIommu => {
                return Err(DriverError::DmaUnavailable(
                    "no-IOMMU container: the device would use physical addresses",
                ));
            }
            Backend::Legacy { group, .. } => {
                // SAFETY: the range is `buffer`'s own anonymous mapping, which
                // the returned DmaMapping borrows: it stays mapped in the
                // process until the IOMMU mapping is removed on drop. If the
                // DmaMapping is leaked the kernel keeps the pages pinned, so
                // the device never reaches memory reused by the process. The
                // buffer is only accessed with volatile raw-pointer operations
                // (no Rust reference covers it), so device writes cannot
                // break aliasing assumptions.
                unsafe { group.container().map_dma(buffer.addr(), iova, len, access) }?;
            }
            Backend::Iommufd { .. } => {
                let placed = self
                    .backend
                    .with_iommufd(|fd, ioas| {
                        // SAFETY: as for the legacy map above (same buffer,
                        // same ownership and access rules; iommufd pins the
                        // pages too).
                        unsafe { fd.ioas_map_fixed(ioas, buffer.addr(), len, iova, access) }
                    })
                    .ok_or(DriverError::DmaUnavailable("iommufd object is busy"))??;
                if let Err(at) = placed {
                    return Err(DriverError::Invalid(format!(
                        "kernel mapped at {at:#x} instead of {iova:#x}"
                    )));
                }
            }
        }
        Ok(DmaMapping {
            backend: self.backend,
            buffer,
            iova,
            len,
            mapped: true,
        })
    }
}

/// A [`DmaBuffer`] mapped at an IOVA for the device; unmapped on drop.
///
/// Borrows the buffer (which therefore cannot be freed first) and the
/// device's backend (which therefore cannot be detached first). The buffer
/// stays accessible through [`DmaMapping::buffer`] or the original shared
/// reference while the device uses it.
#[derive(Debug)]
pub struct DmaMapping<'b> {
    backend: &'b Backend,
    buffer: &'b DmaBuffer,
    iova: u64,
    len: u64,
    mapped: bool,
}

impl<'b> DmaMapping<'b> {
    /// IOVA of the first byte.
    pub fn iova(&self) -> u64 {
        self.iova
    }

    /// Mapped length in bytes (the buffer length).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Always `false`: buffers are never empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The mapped buffer.
    pub fn buffer(&self) -> &'b DmaBuffer {
        self.buffer
    }

    /// The IOVA of byte `offset` of the buffer.
    ///
    /// # Errors
    /// [`DriverError::OutOfRange`] for `offset >= len`.
    pub fn iova_at(&self, offset: u64) -> Result<u64> {
        check_range(offset, 1, self.len)?;
        Ok(self.iova + offset)
    }

    /// Removes the mapping now and reports the outcome (drop does the same
    /// silently).
    ///
    /// # Errors
    /// The unmap failing, [`DriverError::UnmapMismatch`] if the kernel
    /// removed a different amount (someone unmapped it behind our back).
    pub fn unmap(mut self) -> Result<()> {
        self.mapped = false;
        let got = unmap(self.backend, self.iova, self.len)?;
        if got != self.len {
            return Err(DriverError::UnmapMismatch {
                iova: self.iova,
                len: self.len,
                got,
            });
        }
        Ok(())
    }
}

fn unmap(backend: &Backend, iova: u64, len: u64) -> Result<u64> {
    match backend {
        Backend::Legacy { group, .. } => Ok(group.container().unmap_dma(iova, len)?),
        Backend::Iommufd { .. } => Ok(backend
            .with_iommufd(|fd, ioas| fd.ioas_unmap(ioas, iova, len))
            .ok_or(DriverError::Os {
                op: "IOMMU_IOAS_UNMAP",
                errno: Errno::EBUSY,
            })??),
    }
}

impl Drop for DmaMapping<'_> {
    fn drop(&mut self) {
        if self.mapped {
            // A failure leaves the pages pinned by the kernel (never reused
            // memory reachable by the device); nothing more can be done here.
            let _ = unmap(self.backend, self.iova, self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_is_page_sized_zeroed_and_bounds_checked() {
        let page = page_size();
        let b = DmaBuffer::new(1).unwrap();
        assert_eq!(b.len(), page);
        assert!(!b.is_empty());
        assert_eq!(b.as_ptr() as usize % page, 0);
        assert!(b.to_vec().iter().all(|&x| x == 0));
        assert!(DmaBuffer::new(0).is_err());
        assert!(DmaBuffer::new(usize::MAX).is_err());

        b.write_bytes(10, &[1, 2, 3]).unwrap();
        let mut out = [0u8; 5];
        b.read_bytes(9, &mut out).unwrap();
        assert_eq!(out, [0, 1, 2, 3, 0]);
        assert!(b.write_bytes(page - 1, &[1, 2]).is_err());
        assert!(b.read_bytes(page, &mut out).is_err());
        assert!(b.read_bytes(usize::MAX, &mut out).is_err());
        assert!(b.write_bytes(0, &[]).is_err());

        b.write_u32(0x100, 0x0102_0304).unwrap();
        assert_eq!(b.read_u8(0x100).unwrap(), 0x04);
        assert_eq!(b.read_u16(0x102).unwrap(), 0x0102);
        assert_eq!(b.read_u32(0x100).unwrap(), 0x0102_0304);
        b.write_u64(0x108, u64::MAX - 1).unwrap();
        assert_eq!(b.read_u64(0x108).unwrap(), u64::MAX - 1);
        b.write_u16(0x110, 0xbeef).unwrap();
        b.write_u8(0x112, 0x7f).unwrap();
        assert_eq!(b.read_u32(0x110).unwrap(), 0x007f_beef);
        assert!(matches!(
            b.read_u32(0x101),
            Err(DriverError::Misaligned { .. })
        ));
        assert!(matches!(
            b.read_u64(page as u64),
            Err(DriverError::OutOfRange { .. })
        ));

        b.fill(0xa5);
        assert!(b.to_vec().iter().all(|&x| x == 0xa5));
        // Movable to another thread (Send).
        let b = std::thread::spawn(move || {
            b.write_u8(0, 1).unwrap();
            b
        })
        .join()
        .unwrap();
        assert_eq!(b.read_u8(0).unwrap(), 1);
    }
}
