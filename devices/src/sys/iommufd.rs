//! iommufd handle (`/dev/iommu`, `linux/iommufd.h`).
//!
//! [`Iommufd`] wraps an owned fd: either one opened by
//! [`crate::host::Host::open_iommufd`] or one adopted from the caller
//! (`-object iommufd,fd=N`, via [`Iommufd::from_fd`]). QEMU never closes an
//! fd passed with `fd=`; to mirror that, adopt a duplicate
//! (`BorrowedFd::try_clone_to_owned`) so dropping the handle leaves the
//! caller's number open.
//!
//! All iommufd structs are extensible (`size` first); the kernel accepts a
//! larger struct as long as the tail it does not know is zero, so the
//! iommufd-bindings 0.2 (Linux 7.1) layouts work on older kernels (6.12).

use std::os::fd::AsRawFd;

pub use iommufd_bindings as bindings;
use iommufd_bindings as iob;

use super::ioctls;
use super::vfio::DmaAccess;
use super::{Errno, Op, Result, SysError, fault};

fn size_of_u32<T>() -> u32 {
    u32::try_from(std::mem::size_of::<T>()).expect("uAPI struct larger than 4 GiB")
}

fd_handle! {
    /// An open iommufd (`/dev/iommu`).
    Iommufd,
    /// Adopt an open iommufd (ownership is taken; see the module docs for
    /// the non-owning `fd=` case).
}

/// An allowed IOVA interval of an IOAS (`last` is inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IovaInterval {
    /// First IOVA.
    pub start: u64,
    /// Last IOVA (inclusive).
    pub last: u64,
}

/// `IOMMU_IOAS_IOVA_RANGES` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IovaRanges {
    /// Allowed intervals.
    pub ranges: Vec<IovaInterval>,
    /// Minimum IOVA alignment for map/copy (`out_iova_alignment`).
    pub alignment: u64,
}

/// Intel VT-d registers from `IOMMU_GET_HW_INFO` (`struct iommu_hw_info_vtd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VtdInfo {
    /// `iommu_hw_info_vtd_flags`.
    pub flags: u32,
    /// VT-d capability register.
    pub cap_reg: u64,
    /// VT-d extended capability register.
    pub ecap_reg: u64,
}

/// `IOMMU_GET_HW_INFO` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HwInfo {
    /// `iommu_hw_info_type` (1 = Intel VT-d, 2 = ARM SMMUv3, …).
    pub data_type: u32,
    /// `IOMMU_HW_CAP_*` bits.
    pub capabilities: u64,
    /// PASID width (0 = no PASID). Reported as 0 by kernels before 6.13.
    pub max_pasid_log2: u8,
    /// The type-specific data, exactly as long as the kernel reported.
    pub data: Vec<u8>,
}

impl HwInfo {
    /// `IOMMU_HW_CAP_DIRTY_TRACKING` (QEMU: `IOMMU instance for device %s
    /// doesn't support dirty tracking` otherwise).
    pub fn dirty_tracking(&self) -> bool {
        self.capabilities & u64::from(iob::iommufd_hw_capabilities_IOMMU_HW_CAP_DIRTY_TRACKING) != 0
    }

    /// The VT-d registers, if `data_type` is Intel VT-d and the data is long
    /// enough.
    pub fn intel_vtd(&self) -> Option<VtdInfo> {
        if self.data_type != iob::iommu_hw_info_type_IOMMU_HW_INFO_TYPE_INTEL_VTD {
            return None;
        }
        let d = &self.data;
        Some(VtdInfo {
            flags: u32::from_ne_bytes(d.get(0..4)?.try_into().ok()?),
            cap_reg: u64::from_ne_bytes(d.get(8..16)?.try_into().ok()?),
            ecap_reg: u64::from_ne_bytes(d.get(16..24)?.try_into().ok()?),
        })
    }
}

impl Iommufd {
    /// `IOMMU_IOAS_ALLOC`; returns the new IOAS id.
    pub fn ioas_alloc(&self) -> Result<u32> {
        let call = fault::enter(Op::IoasAlloc)?;
        let mut a = iob::iommu_ioas_alloc {
            size: size_of_u32::<iob::iommu_ioas_alloc>(),
            ..Default::default()
        };
        // SAFETY: `a` is an initialised iommu_ioas_alloc living across the
        // call; the kernel accesses only `size` bytes of it.
        let r = unsafe { ioctls::iommu_ioas_alloc(self.fd.as_raw_fd(), &mut a) };
        call.tag(r)?;
        Ok(a.out_ioas_id)
    }

    /// `IOMMU_DESTROY(id)` for any destroyable object (IOAS, HWPT, …).
    pub fn destroy(&self, id: u32) -> Result<()> {
        let call = fault::enter(Op::IommuDestroy)?;
        let d = iob::iommu_destroy {
            size: size_of_u32::<iob::iommu_destroy>(),
            id,
        };
        // SAFETY: `d` is initialised and lives across the call; read-only.
        let r = unsafe { ioctls::iommu_destroy(self.fd.as_raw_fd(), &d) };
        call.tag(r).map(drop)
    }

    /// `IOMMU_IOAS_MAP`: map `length` bytes of process memory at `user_va`
    /// into `ioas`. With `iova = Some(x)` the mapping is placed at `x`
    /// (`IOMMU_IOAS_MAP_FIXED_IOVA`), otherwise the kernel chooses. Returns
    /// the IOVA used. A PCI BAR mapping fails with `EFAULT` (QEMU's `PCI BAR?`
    /// warning).
    ///
    /// # Safety
    ///
    /// Same contract as [`super::vfio::Container::map_dma`]: the range must
    /// stay owned by the process while mapped and is shared with the device.
    pub unsafe fn ioas_map(
        &self,
        ioas: u32,
        user_va: u64,
        length: u64,
        iova: Option<u64>,
        access: DmaAccess,
    ) -> Result<u64> {
        let call = fault::enter(Op::IoasMap)?;
        let mut flags = 0;
        if iova.is_some() {
            flags |= iob::iommufd_ioas_map_flags_IOMMU_IOAS_MAP_FIXED_IOVA;
        }
        if access.read {
            flags |= iob::iommufd_ioas_map_flags_IOMMU_IOAS_MAP_READABLE;
        }
        if access.write {
            flags |= iob::iommufd_ioas_map_flags_IOMMU_IOAS_MAP_WRITEABLE;
        }
        let mut m = iob::iommu_ioas_map {
            size: size_of_u32::<iob::iommu_ioas_map>(),
            flags,
            ioas_id: ioas,
            __reserved: 0,
            user_va,
            length,
            iova: iova.unwrap_or(0),
        };
        // SAFETY: `m` is initialised and lives across the call; the kernel
        // accesses only `size` bytes. The user range is the caller's contract.
        let r = unsafe { ioctls::iommu_ioas_map(self.fd.as_raw_fd(), &mut m) };
        call.tag(r)?;
        Ok(m.iova)
    }

    /// [`Iommufd::ioas_map`] at exactly `iova`. `IOMMU_IOAS_MAP_FIXED_IOVA`
    /// makes the kernel place it there or fail, so a mapping elsewhere
    /// cannot happen; should it anyway, it is unmapped again and its IOVA
    /// returned as `Ok(Err(at))`, for the caller to report in its own words.
    ///
    /// # Safety
    ///
    /// As [`Iommufd::ioas_map`].
    pub unsafe fn ioas_map_fixed(
        &self,
        ioas: u32,
        user_va: u64,
        length: u64,
        iova: u64,
        access: DmaAccess,
    ) -> Result<std::result::Result<(), u64>> {
        // SAFETY: the caller's contract, passed on.
        let at = unsafe { self.ioas_map(ioas, user_va, length, Some(iova), access) }?;
        if at == iova {
            return Ok(Ok(()));
        }
        let _ = self.ioas_unmap(ioas, at, length);
        Ok(Err(at))
    }

    /// `IOMMU_IOAS_UNMAP` of `iova..iova+length` (0/`u64::MAX` unmaps
    /// everything); returns the number of bytes unmapped.
    pub fn ioas_unmap(&self, ioas: u32, iova: u64, length: u64) -> Result<u64> {
        let call = fault::enter(Op::IoasUnmap)?;
        let mut u = iob::iommu_ioas_unmap {
            size: size_of_u32::<iob::iommu_ioas_unmap>(),
            ioas_id: ioas,
            iova,
            length,
        };
        // SAFETY: `u` is initialised and lives across the call; the kernel
        // accesses only `size` bytes.
        let r = unsafe { ioctls::iommu_ioas_unmap(self.fd.as_raw_fd(), &mut u) };
        call.tag(r)?;
        Ok(u.length)
    }

    /// `IOMMU_IOAS_IOVA_RANGES`: size probe, then fetch (repeated if the
    /// count grew in between, `EMSGSIZE`).
    pub fn ioas_iova_ranges(&self, ioas: u32) -> Result<IovaRanges> {
        let call = fault::enter(Op::IoasIovaRanges)?;
        let mut cap: usize = 0;
        for _ in 0..4 {
            let mut ranges = vec![iob::iommu_iova_range::default(); cap];
            let mut q = iob::iommu_ioas_iova_ranges {
                size: size_of_u32::<iob::iommu_ioas_iova_ranges>(),
                ioas_id: ioas,
                num_iovas: u32::try_from(cap)
                    .map_err(|_| SysError::new(Op::IoasIovaRanges, Errno::E2BIG))?,
                __reserved: 0,
                allowed_iovas: ranges.as_mut_ptr() as u64,
                out_iova_alignment: 0,
            };
            // SAFETY: `q` is initialised and lives across the call;
            // `allowed_iovas` points at `num_iovas` writable, properly aligned
            // iommu_iova_range elements (or is unused when 0), and the kernel
            // writes at most `num_iovas` of them.
            let r = unsafe { ioctls::iommu_ioas_iova_ranges(self.fd.as_raw_fd(), &mut q) };
            call.note(&r);
            match r {
                Ok(_) if q.num_iovas as usize <= cap => {
                    ranges.truncate(q.num_iovas as usize);
                    return Ok(IovaRanges {
                        ranges: ranges
                            .iter()
                            .map(|r| IovaInterval {
                                start: r.start,
                                last: r.last,
                            })
                            .collect(),
                        alignment: q.out_iova_alignment,
                    });
                }
                Ok(_) | Err(Errno::EMSGSIZE) => cap = q.num_iovas as usize,
                Err(e) => return Err(SysError::new(Op::IoasIovaRanges, e)),
            }
        }
        Err(SysError::new(Op::IoasIovaRanges, Errno::EMSGSIZE))
    }

    /// `IOMMU_GET_HW_INFO` for the bound device `dev_id` (from
    /// [`super::vfio::Device::bind_iommufd`]). The type-specific data is read
    /// completely (re-issued with the length the kernel reports).
    pub fn get_hw_info(&self, dev_id: u32) -> Result<HwInfo> {
        let call = fault::enter(Op::GetHwInfo)?;
        let mut len: usize = 64;
        for _ in 0..4 {
            let mut data = vec![0u64; len.div_ceil(8)];
            let mut hi = iob::iommu_hw_info {
                size: size_of_u32::<iob::iommu_hw_info>(),
                dev_id,
                data_len: u32::try_from(len)
                    .map_err(|_| SysError::new(Op::GetHwInfo, Errno::E2BIG))?,
                data_uptr: data.as_mut_ptr() as u64,
                ..Default::default()
            };
            // SAFETY: `hi` is initialised (zeroed by Default) and lives
            // across the call; `data_uptr` points at `data_len` writable bytes
            // of `data`, which the kernel fills (at most data_len bytes).
            let r = unsafe { ioctls::iommu_get_hw_info(self.fd.as_raw_fd(), &mut hi) };
            call.tag(r)?;
            let got = hi.data_len as usize;
            if got > len {
                len = got;
                continue;
            }
            let mut bytes: Vec<u8> = data.iter().flat_map(|w| w.to_ne_bytes()).collect();
            bytes.truncate(got);
            // SAFETY: reading a union field of plain u32 integers: both
            // variants (`in_data_type`/`out_data_type`) are u32 at the same
            // offset, so any bit pattern is valid.
            let data_type = unsafe { hi.__bindgen_anon_1.out_data_type };
            return Ok(HwInfo {
                data_type,
                capabilities: hi.out_capabilities,
                max_pasid_log2: hi.out_max_pasid_log2,
                data: bytes,
            });
        }
        Err(SysError::new(Op::GetHwInfo, Errno::EMSGSIZE))
    }

    /// `IOMMU_HWPT_ALLOC` of a kernel-managed HWPT for `dev_id` on `pt_id`
    /// (an IOAS), with `iommufd_hwpt_alloc_flags` (e.g.
    /// `IOMMU_HWPT_ALLOC_DIRTY_TRACKING`, `IOMMU_HWPT_ALLOC_NEST_PARENT`);
    /// returns the HWPT id. QEMU: `Failed to allocate hwpt: <strerror>`.
    pub fn hwpt_alloc(&self, dev_id: u32, pt_id: u32, flags: u32) -> Result<u32> {
        let call = fault::enter(Op::HwptAlloc)?;
        let mut a = iob::iommu_hwpt_alloc {
            size: size_of_u32::<iob::iommu_hwpt_alloc>(),
            flags,
            dev_id,
            pt_id,
            data_type: iob::iommu_hwpt_data_type_IOMMU_HWPT_DATA_NONE,
            ..Default::default()
        };
        // SAFETY: `a` is initialised and lives across the call; with
        // DATA_NONE the kernel dereferences no user pointer.
        let r = unsafe { ioctls::iommu_hwpt_alloc(self.fd.as_raw_fd(), &mut a) };
        call.tag(r)?;
        Ok(a.out_hwpt_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::OwnedFd;

    #[test]
    fn ioctls_on_a_non_iommufd_report_op_and_errno() {
        let f = tempfile::tempfile().unwrap();
        let i = Iommufd::from_fd(OwnedFd::from(f));
        let e = i.ioas_alloc().unwrap_err();
        assert_eq!((e.op(), e.errno()), (Op::IoasAlloc, Errno::ENOTTY));
        assert_eq!(i.destroy(1).unwrap_err().op(), Op::IommuDestroy);
        assert_eq!(i.ioas_unmap(1, 0, 4096).unwrap_err().op(), Op::IoasUnmap);
        assert_eq!(i.ioas_iova_ranges(1).unwrap_err().op(), Op::IoasIovaRanges);
        assert_eq!(i.get_hw_info(1).unwrap_err().op(), Op::GetHwInfo);
        assert_eq!(i.hwpt_alloc(1, 2, 0).unwrap_err().op(), Op::HwptAlloc);
        let buf = [0u8; 4096];
        // SAFETY: the ioctl fails (ENOTTY) before anything is mapped.
        let fixed =
            unsafe { i.ioas_map_fixed(1, buf.as_ptr() as u64, 4096, 0, DmaAccess::READ_WRITE) };
        assert_eq!(fixed.unwrap_err().op(), Op::IoasMap);
        assert_eq!(
            e.to_string(),
            "IOMMU_IOAS_ALLOC: Inappropriate ioctl for device"
        );
    }

    #[test]
    fn hw_info_decoding() {
        let mut data = vec![0u8; 24];
        data[8..16].copy_from_slice(&0x00d2_0086_8c2f_0462u64.to_ne_bytes());
        data[16..24].copy_from_slice(&0x0000_0000_00f0_50dau64.to_ne_bytes());
        let hi = HwInfo {
            data_type: 1,
            capabilities: 1,
            max_pasid_log2: 0,
            data,
        };
        let v = hi.intel_vtd().unwrap();
        assert_eq!(v.cap_reg, 0x00d2_0086_8c2f_0462);
        assert_eq!(v.ecap_reg, 0xf0_50da);
        assert!(hi.dirty_tracking());
        let other = HwInfo {
            data_type: 2,
            ..hi.clone()
        };
        assert_eq!(other.intel_vtd(), None);
    }
}
