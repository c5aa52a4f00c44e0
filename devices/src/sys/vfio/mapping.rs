//! A `MAP_SHARED` mapping of a device region ([`MappedRegion`]) and its
//! protection ([`MapProt`]).

use std::ffi::c_void;
#[cfg(test)]
use std::num::NonZeroUsize;
use std::ptr::NonNull;

#[cfg(test)]
use nix::sys::mman::MapFlags;
use nix::sys::mman::ProtFlags;

#[cfg(test)]
use super::super::{Errno, Op, Result, SysError};

/// Memory protection of a [`MappedRegion`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapProt {
    /// `PROT_READ`.
    pub read: bool,
    /// `PROT_WRITE`.
    pub write: bool,
}

impl MapProt {
    /// Read and write.
    pub const READ_WRITE: MapProt = MapProt {
        read: true,
        write: true,
    };
    /// Read-only.
    pub const READ_ONLY: MapProt = MapProt {
        read: true,
        write: false,
    };
    pub(super) fn flags(self) -> ProtFlags {
        let mut p = ProtFlags::PROT_NONE;
        if self.read {
            p |= ProtFlags::PROT_READ;
        }
        if self.write {
            p |= ProtFlags::PROT_WRITE;
        }
        p
    }
}

/// A `MAP_SHARED` mapping of (part of) a device region; unmapped on drop.
///
/// Accessors use volatile loads/stores of the natural width (MMIO
/// semantics). They panic on out-of-range or misaligned offsets, like slice
/// indexing; check with [`MappedRegion::contains`] first when the offset comes
/// from a guest. The mapping stays valid after the [`Device`](super::Device) is dropped
/// (the kernel keeps the file referenced by the mapping).
#[derive(Debug)]
pub struct MappedRegion {
    pub(super) ptr: NonNull<c_void>,
    pub(super) len: usize,
}

// SAFETY: the mapping is plain process memory owned exclusively by this value
// (unmapped only in Drop); moving the owner to another thread is fine.
unsafe impl Send for MappedRegion {}
// SAFETY: `&self` methods only perform volatile loads/stores through raw
// pointers (no Rust references into the mapping are handed out), which is
// the access model for device memory shared with hardware anyway.
unsafe impl Sync for MappedRegion {}

/// The public load and store of each width: one typed face of
/// `MappedRegion::load`/`store` per integer type.
macro_rules! volatile_access {
    ($($read:ident, $write:ident: $t:ty, $bits:literal;)*) => {$(
        #[doc = concat!("Volatile ", $bits, "-bit load. Panics if out of range or not naturally aligned.")]
        pub fn $read(&self, offset: usize) -> $t {
            self.load(offset)
        }
        #[doc = concat!("Volatile ", $bits, "-bit store. Panics if out of range or not naturally aligned.")]
        /// Faults (SIGSEGV) if the mapping was created read-only.
        pub fn $write(&self, offset: usize, v: $t) {
            self.store(offset, v)
        }
    )*};
}

impl MappedRegion {
    /// `len` bytes of anonymous shared memory, standing in for a device
    /// mapping in tests of code that maps regions.
    #[cfg(test)]
    pub(crate) fn anonymous(len: usize) -> Result<MappedRegion> {
        let nz = NonZeroUsize::new(len).ok_or(SysError::new(Op::RegionMmap, Errno::EINVAL))?;
        // SAFETY: a fresh anonymous mapping chosen by the kernel cannot
        // alias existing Rust memory.
        let r = unsafe {
            nix::sys::mman::mmap_anonymous(
                None,
                nz,
                MapProt::READ_WRITE.flags(),
                MapFlags::MAP_SHARED,
            )
        };
        let ptr = r.map_err(|e| SysError::new(Op::RegionMmap, e))?;
        Ok(MappedRegion { ptr, len })
    }

    /// Length of the mapping in bytes (never 0).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: empty mappings cannot be created.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Base address of the mapping.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr().cast()
    }

    /// Whether an access of `size` bytes at `offset` is in range and naturally
    /// aligned (size must be 1, 2, 4 or 8).
    pub fn contains(&self, offset: usize, size: usize) -> bool {
        matches!(size, 1 | 2 | 4 | 8)
            && offset.is_multiple_of(size)
            && offset.checked_add(size).is_some_and(|e| e <= self.len)
    }

    fn at<T>(&self, offset: usize) -> *mut T {
        let size = std::mem::size_of::<T>();
        assert!(
            self.contains(offset, size),
            "MappedRegion access of {size} bytes at {offset:#x} outside {:#x} bytes or misaligned",
            self.len
        );
        // `offset + size <= len`, so the pointer stays inside the mapping.
        self.as_ptr().wrapping_add(offset).cast()
    }

    fn load<T>(&self, offset: usize) -> T {
        let p = self.at::<T>(offset);
        // SAFETY: `at` checked bounds and natural alignment (the mapping base
        // is page aligned) inside the live mapping.
        unsafe { p.read_volatile() }
    }

    fn store<T>(&self, offset: usize, v: T) {
        let p = self.at::<T>(offset);
        // SAFETY: as in `load`; no Rust reference to this memory exists, so a
        // volatile store cannot break aliasing.
        unsafe { p.write_volatile(v) }
    }

    volatile_access! {
        read_u8, write_u8: u8, "8";
        read_u16, write_u16: u16, "16";
        read_u32, write_u32: u32, "32";
        read_u64, write_u64: u64, "64";
    }
}

impl Drop for MappedRegion {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` describe exactly the mapping created in
        // `Device::mmap_at`, owned by this value and not unmapped elsewhere;
        // no references into it outlive `self`.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr, self.len) };
    }
}
