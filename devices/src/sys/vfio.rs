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

use std::ffi::{CString, c_void};
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

use nix::libc::{c_int, c_ulong};
use nix::sys::mman::{MapFlags, ProtFlags};
use uuid::Uuid;
pub use vfio_bindings::bindings::vfio as bindings;
use vfio_bindings::bindings::vfio as vb;

use super::ioctls;
use super::{Errno, Op, Result, SysError, fault};

fn argsz<T>() -> u32 {
    u32::try_from(std::mem::size_of::<T>()).expect("uAPI struct larger than 4 GiB")
}

fn to_off(op: Op, offset: u64) -> Result<nix::libc::off_t> {
    nix::libc::off_t::try_from(offset).map_err(|_| SysError::new(op, Errno::EINVAL))
}

// ---------------------------------------------------------------------------
// Capability chains (struct vfio_info_cap_header)

/// One entry of a VFIO capability chain: id, version and its byte offset
/// inside the info buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CapEntry {
    id: u16,
    version: u16,
    offset: usize,
}

fn rd_u16(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(buf.get(at..at + 2)?.try_into().ok()?))
}

fn rd_u32(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

fn rd_u64(buf: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(buf.get(at..at + 8)?.try_into().ok()?))
}

/// Walk a capability chain starting at `first` (0 = no capabilities).
/// Offsets are relative to the start of `buf` and must lie after the fixed
/// header (`min`) and inside the buffer; a loop or an out-of-range offset
/// yields `None` (malformed chain).
fn walk_caps(buf: &[u8], first: u32, min: usize) -> Option<Vec<CapEntry>> {
    let mut out = Vec::new();
    let mut next = first as usize;
    while next != 0 {
        if next < min || next + 8 > buf.len() || out.len() > buf.len() / 8 {
            return None;
        }
        if out.iter().any(|c: &CapEntry| c.offset == next) {
            return None;
        }
        let id = rd_u16(buf, next)?;
        let version = rd_u16(buf, next + 2)?;
        out.push(CapEntry {
            id,
            version,
            offset: next,
        });
        next = rd_u32(buf, next + 4)? as usize;
    }
    Some(out)
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

// ---------------------------------------------------------------------------
// Container

/// An open VFIO container (`/dev/vfio/vfio`), the legacy IOMMU backend.
#[derive(Debug)]
pub struct Container {
    fd: OwnedFd,
}

/// A DMA-able IOVA range reported by `VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE`
/// (`end` is inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IovaRange {
    /// First IOVA.
    pub start: u64,
    /// Last IOVA (inclusive).
    pub end: u64,
}

/// The migration capability of a type1 container
/// (`VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationCap {
    /// Capability flags.
    pub flags: u32,
    /// Supported page sizes for dirty tracking.
    pub pgsize_bitmap: u64,
    /// Maximum dirty bitmap size in bytes.
    pub max_dirty_bitmap_size: u64,
}

/// `VFIO_IOMMU_GET_INFO` result for a type1 container, capability chain
/// decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IommuInfo {
    /// `VFIO_IOMMU_INFO_*` flags.
    pub flags: u32,
    /// Supported IOVA page sizes (present when `VFIO_IOMMU_INFO_PGSIZES` is set).
    pub iova_pgsizes: Option<u64>,
    /// Usable IOVA ranges (empty when the capability is absent).
    pub iova_ranges: Vec<IovaRange>,
    /// Remaining DMA mappings (`VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL`), if reported.
    /// QEMU assumes 65535 when absent.
    pub dma_avail: Option<u32>,
    /// Dirty-tracking migration capability, if reported.
    pub migration: Option<MigrationCap>,
    /// Ids of capabilities this layer does not decode.
    pub unknown_caps: Vec<u16>,
}

/// DMA access permissions for [`Container::map_dma`] / [`super::iommufd::Iommufd::ioas_map`].
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
    /// Wrap an already-open container fd (ownership is taken).
    pub fn from_fd(fd: OwnedFd) -> Self {
        Container { fd }
    }

    /// Give the fd back.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// `VFIO_GET_API_VERSION`. QEMU requires [`bindings::VFIO_API_VERSION`] (0)
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
    /// [`bindings::VFIO_TYPE1v2_IOMMU`], [`bindings::VFIO_UNMAP_ALL`]) is supported.
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
        let mut want = base;
        for _ in 0..4 {
            let mut words = vec![0u64; (want as usize).div_ceil(8)];
            words[0] = pack2(want, 0); // argsz, flags
            // SAFETY: `words` is an 8-byte aligned buffer of at least `want`
            // bytes (rounded up), which is the `argsz` told to the kernel, and
            // starts with a `vfio_iommu_type1_info` header (argsz set, rest 0).
            // The kernel writes at most `argsz` bytes into it.
            let r = unsafe {
                ioctls::vfio_iommu_get_info(
                    self.fd.as_raw_fd(),
                    words.as_mut_ptr().cast::<vb::vfio_iommu_type1_info>(),
                )
            };
            call.tag(r)?;
            let buf = words_to_bytes(&words);
            let got = rd_u32(&buf, 0).unwrap_or(0);
            if got > want {
                want = got;
                continue;
            }
            let hdr = vb::vfio_iommu_type1_info {
                argsz: got,
                flags: rd_u32(&buf, 4).unwrap_or(0),
                iova_pgsizes: rd_u64(&buf, 8).unwrap_or(0),
                cap_offset: rd_u32(&buf, 16).unwrap_or(0),
                pad: 0,
            };
            return parse_iommu_info(&buf, &hdr)
                .ok_or(SysError::new(Op::IommuGetInfo, Errno::EPROTO));
        }
        Err(SysError::new(Op::IommuGetInfo, Errno::EPROTO))
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

fn parse_iommu_info(buf: &[u8], hdr: &vb::vfio_iommu_type1_info) -> Option<IommuInfo> {
    let mut info = IommuInfo {
        flags: hdr.flags,
        iova_pgsizes: (hdr.flags & vb::VFIO_IOMMU_INFO_PGSIZES != 0).then_some(hdr.iova_pgsizes),
        iova_ranges: Vec::new(),
        dma_avail: None,
        migration: None,
        unknown_caps: Vec::new(),
    };
    if hdr.flags & vb::VFIO_IOMMU_INFO_CAPS == 0 {
        return Some(info);
    }
    let min = std::mem::size_of::<vb::vfio_iommu_type1_info>();
    for cap in walk_caps(buf, hdr.cap_offset, min)? {
        let o = cap.offset;
        match u32::from(cap.id) {
            vb::VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE => {
                let n = rd_u32(buf, o + 8)? as usize;
                for i in 0..n {
                    let at = o + 16 + i * 16;
                    info.iova_ranges.push(IovaRange {
                        start: rd_u64(buf, at)?,
                        end: rd_u64(buf, at + 8)?,
                    });
                }
            }
            vb::VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION => {
                info.migration = Some(MigrationCap {
                    flags: rd_u32(buf, o + 8)?,
                    pgsize_bitmap: rd_u64(buf, o + 16)?,
                    max_dirty_bitmap_size: rd_u64(buf, o + 24)?,
                });
            }
            vb::VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL => info.dma_avail = Some(rd_u32(buf, o + 8)?),
            _ => info.unknown_caps.push(cap.id),
        }
    }
    Some(info)
}

impl AsFd for Container {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<OwnedFd> for Container {
    fn from(fd: OwnedFd) -> Self {
        Container::from_fd(fd)
    }
}

// ---------------------------------------------------------------------------
// Group

/// An open VFIO group (`/dev/vfio/<N>` or `/dev/vfio/noiommu-<N>`).
#[derive(Debug)]
pub struct Group {
    fd: OwnedFd,
}

/// `VFIO_GROUP_GET_STATUS` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupStatus {
    /// Raw `VFIO_GROUP_FLAGS_*`.
    pub flags: u32,
}

impl GroupStatus {
    /// All devices of the group are bound to VFIO (or stub) drivers.
    /// QEMU: `group %d is not viable` when false.
    pub fn viable(&self) -> bool {
        self.flags & vb::VFIO_GROUP_FLAGS_VIABLE != 0
    }

    /// The group is already attached to a container.
    pub fn container_set(&self) -> bool {
        self.flags & vb::VFIO_GROUP_FLAGS_CONTAINER_SET != 0
    }
}

/// The name QEMU passes to `VFIO_GROUP_GET_DEVICE_FD`: `"<name>"`, or
/// `"<name> vf_token=<uuid>"` (lowercase, hyphenated) with a VF token.
pub fn device_fd_name(name: &str, vf_token: Option<&Uuid>) -> String {
    match vf_token {
        Some(t) => format!("{name} vf_token={}", t.hyphenated()),
        None => name.to_owned(),
    }
}

impl Group {
    /// Wrap an already-open group fd (ownership is taken).
    pub fn from_fd(fd: OwnedFd) -> Self {
        Group { fd }
    }

    /// Give the fd back.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// `VFIO_GROUP_GET_STATUS`.
    pub fn status(&self) -> Result<GroupStatus> {
        let call = fault::enter(Op::GroupGetStatus)?;
        if let Some(flags) = call.group_flags() {
            return Ok(GroupStatus { flags });
        }
        let mut st = vb::vfio_group_status {
            argsz: argsz::<vb::vfio_group_status>(),
            flags: 0,
        };
        // SAFETY: `st` is an initialised vfio_group_status that lives across
        // the call; the kernel writes only inside it.
        let r = unsafe { ioctls::vfio_group_get_status(self.fd.as_raw_fd(), &mut st) };
        call.tag(r)?;
        Ok(GroupStatus { flags: st.flags })
    }

    /// `VFIO_GROUP_SET_CONTAINER`: attach the group to `container`.
    pub fn set_container(&self, container: impl AsFd) -> Result<()> {
        let call = fault::enter(Op::GroupSetContainer)?;
        let cfd: c_int = container.as_fd().as_raw_fd();
        // SAFETY: the kernel reads one c_int from the pointer, which points at
        // a live local; the container fd stays open because it is borrowed.
        let r = unsafe { ioctls::vfio_group_set_container(self.fd.as_raw_fd(), &cfd) };
        call.tag(r).map(drop)
    }

    /// `VFIO_GROUP_UNSET_CONTAINER`.
    pub fn unset_container(&self) -> Result<()> {
        let call = fault::enter(Op::GroupUnsetContainer)?;
        // SAFETY: no argument; the group fd is live (borrowed from self).
        let r = unsafe { ioctls::vfio_group_unset_container(self.fd.as_raw_fd()) };
        call.tag(r).map(drop)
    }

    /// `VFIO_GROUP_GET_DEVICE_FD` with the raw name string (see
    /// [`device_fd_name`] for the `vf_token=` form). A name containing a NUL
    /// byte fails with `EINVAL` without calling the kernel. A missing or wrong
    /// VF token surfaces here (typically `EACCES`).
    pub fn device(&self, name: &str) -> Result<Device> {
        let call = fault::enter(Op::GroupGetDeviceFd)?;
        let cname =
            CString::new(name).map_err(|_| SysError::new(Op::GroupGetDeviceFd, Errno::EINVAL))?;
        call.request(|| fault::Request::DeviceName(name.to_owned()));
        // SAFETY: `cname` is a NUL-terminated string alive across the call;
        // the kernel copies at most a page from it and does not retain it.
        let r = unsafe { ioctls::vfio_group_get_device_fd(self.fd.as_raw_fd(), cname.as_ptr()) };
        let raw = call.tag(r)?;
        // SAFETY: on success VFIO_GROUP_GET_DEVICE_FD returns a new file
        // descriptor (opened O_RDWR|O_CLOEXEC by the kernel) that nobody else
        // owns; wrapping it transfers that ownership exactly once.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Device::from_fd(fd))
    }
}

impl AsFd for Group {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<OwnedFd> for Group {
    fn from(fd: OwnedFd) -> Self {
        Group::from_fd(fd)
    }
}

// ---------------------------------------------------------------------------
// Device

/// An open VFIO device fd (from a group, or a cdev `/dev/vfio/devices/vfioN`).
#[derive(Debug)]
pub struct Device {
    fd: OwnedFd,
}

/// `VFIO_DEVICE_GET_INFO` result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Raw `VFIO_DEVICE_FLAGS_*`.
    pub flags: u32,
    /// Number of regions.
    pub num_regions: u32,
    /// Number of IRQ indexes.
    pub num_irqs: u32,
}

impl DeviceInfo {
    /// `VFIO_DEVICE_FLAGS_PCI` (QEMU: `this isn't a PCI device` otherwise).
    pub fn is_pci(&self) -> bool {
        self.flags & vb::VFIO_DEVICE_FLAGS_PCI != 0
    }
    /// `VFIO_DEVICE_FLAGS_CCW` (QEMU: `Um, this isn't a vfio-ccw device`).
    pub fn is_ccw(&self) -> bool {
        self.flags & vb::VFIO_DEVICE_FLAGS_CCW != 0
    }
    /// `VFIO_DEVICE_FLAGS_AP`.
    pub fn is_ap(&self) -> bool {
        self.flags & vb::VFIO_DEVICE_FLAGS_AP != 0
    }
    /// `VFIO_DEVICE_FLAGS_PLATFORM`.
    pub fn is_platform(&self) -> bool {
        self.flags & vb::VFIO_DEVICE_FLAGS_PLATFORM != 0
    }
    /// `VFIO_DEVICE_FLAGS_RESET`: `VFIO_DEVICE_RESET` is supported.
    pub fn has_reset(&self) -> bool {
        self.flags & vb::VFIO_DEVICE_FLAGS_RESET != 0
    }
}

/// One mmap-able window of a region (`VFIO_REGION_INFO_CAP_SPARSE_MMAP`),
/// relative to the region start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SparseArea {
    /// Offset from the region start.
    pub offset: u64,
    /// Length in bytes.
    pub size: u64,
}

/// A decoded region capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionCap {
    /// `VFIO_REGION_INFO_CAP_SPARSE_MMAP`: only these areas may be mmap'd.
    SparseMmap(Vec<SparseArea>),
    /// `VFIO_REGION_INFO_CAP_TYPE`: device-specific region type/subtype
    /// (e.g. `VFIO_REGION_TYPE_CCW` / `VFIO_REGION_SUBTYPE_CCW_SCHIB`).
    Type {
        /// Region type.
        type_: u32,
        /// Region subtype.
        subtype: u32,
    },
    /// `VFIO_REGION_INFO_CAP_MSIX_MAPPABLE`: the MSI-X table may be mmap'd.
    MsixMappable,
    /// Any other capability (id and version only).
    Other {
        /// Capability id.
        id: u16,
        /// Capability version.
        version: u16,
    },
}

/// `VFIO_DEVICE_GET_REGION_INFO` result with the capability chain decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionInfo {
    /// Region index.
    pub index: u32,
    /// Raw `VFIO_REGION_INFO_FLAG_*`.
    pub flags: u32,
    /// Region size in bytes.
    pub size: u64,
    /// Offset of the region within the device fd (for pread/pwrite/mmap).
    pub offset: u64,
    /// Decoded capabilities (in chain order).
    pub caps: Vec<RegionCap>,
}

impl RegionInfo {
    /// `VFIO_REGION_INFO_FLAG_READ`.
    pub fn readable(&self) -> bool {
        self.flags & vb::VFIO_REGION_INFO_FLAG_READ != 0
    }
    /// `VFIO_REGION_INFO_FLAG_WRITE`.
    pub fn writable(&self) -> bool {
        self.flags & vb::VFIO_REGION_INFO_FLAG_WRITE != 0
    }
    /// `VFIO_REGION_INFO_FLAG_MMAP`.
    pub fn mmappable(&self) -> bool {
        self.flags & vb::VFIO_REGION_INFO_FLAG_MMAP != 0
    }
    /// The sparse-mmap areas, if the region has that capability.
    pub fn sparse_areas(&self) -> Option<&[SparseArea]> {
        self.caps.iter().find_map(|c| match c {
            RegionCap::SparseMmap(a) => Some(a.as_slice()),
            _ => None,
        })
    }
    /// The `(type, subtype)` capability, if any.
    pub fn region_type(&self) -> Option<(u32, u32)> {
        self.caps.iter().find_map(|c| match c {
            RegionCap::Type { type_, subtype } => Some((*type_, *subtype)),
            _ => None,
        })
    }
}

/// `VFIO_DEVICE_GET_IRQ_INFO` result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IrqInfo {
    /// IRQ index.
    pub index: u32,
    /// Raw `VFIO_IRQ_INFO_*` flags.
    pub flags: u32,
    /// Number of vectors (0 = not available).
    pub count: u32,
}

impl IrqInfo {
    /// `VFIO_IRQ_INFO_EVENTFD`: eventfd signalling is supported.
    pub fn eventfd(&self) -> bool {
        self.flags & vb::VFIO_IRQ_INFO_EVENTFD != 0
    }
    /// `VFIO_IRQ_INFO_MASKABLE`.
    pub fn maskable(&self) -> bool {
        self.flags & vb::VFIO_IRQ_INFO_MASKABLE != 0
    }
    /// `VFIO_IRQ_INFO_AUTOMASKED` (level-triggered INTx).
    pub fn automasked(&self) -> bool {
        self.flags & vb::VFIO_IRQ_INFO_AUTOMASKED != 0
    }
    /// `VFIO_IRQ_INFO_NORESIZE`: vectors cannot be added once enabled.
    pub fn noresize(&self) -> bool {
        self.flags & vb::VFIO_IRQ_INFO_NORESIZE != 0
    }
}

/// The action of a `VFIO_DEVICE_SET_IRQS` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqAction {
    /// `VFIO_IRQ_SET_ACTION_TRIGGER`: signal / (with eventfds) deliver to eventfds.
    Trigger,
    /// `VFIO_IRQ_SET_ACTION_MASK`.
    Mask,
    /// `VFIO_IRQ_SET_ACTION_UNMASK` (with eventfds: resample/unmask eventfds).
    Unmask,
}

impl IrqAction {
    fn flag(self) -> u32 {
        match self {
            IrqAction::Trigger => vb::VFIO_IRQ_SET_ACTION_TRIGGER,
            IrqAction::Mask => vb::VFIO_IRQ_SET_ACTION_MASK,
            IrqAction::Unmask => vb::VFIO_IRQ_SET_ACTION_UNMASK,
        }
    }
}

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
    fn flags(self) -> ProtFlags {
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

impl Device {
    /// Wrap an already-open device fd (ownership is taken), e.g. from `fd=`
    /// or an opened cdev.
    pub fn from_fd(fd: OwnedFd) -> Self {
        Device { fd }
    }

    /// Give the fd back.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// `VFIO_DEVICE_GET_INFO` (flags, num_regions, num_irqs).
    pub fn info(&self) -> Result<DeviceInfo> {
        let call = fault::enter(Op::DeviceGetInfo)?;
        if let Some(info) = call.device_info() {
            return Ok(info);
        }
        let mut di = vb::vfio_device_info {
            argsz: argsz::<vb::vfio_device_info>(),
            ..Default::default()
        };
        // SAFETY: `di` is an initialised vfio_device_info living across the
        // call; with argsz == sizeof the kernel writes only inside it.
        let r = unsafe { ioctls::vfio_device_get_info(self.fd.as_raw_fd(), &mut di) };
        call.tag(r)?;
        Ok(DeviceInfo {
            flags: di.flags,
            num_regions: di.num_regions,
            num_irqs: di.num_irqs,
        })
    }

    /// `VFIO_DEVICE_GET_REGION_INFO(index)`, re-issued with the `argsz` the
    /// kernel reports so that the capability chain (sparse mmap areas, type,
    /// MSI-X mappable) is read and decoded. A malformed chain is `EPROTO`.
    pub fn region_info(&self, index: u32) -> Result<RegionInfo> {
        let call = fault::enter(Op::DeviceGetRegionInfo)?;
        if let Some(fake) = call.region_info(index) {
            return Ok(fake);
        }
        let base = argsz::<vb::vfio_region_info>();
        let mut want = base;
        for _ in 0..4 {
            let mut words = vec![0u64; (want as usize).div_ceil(8)];
            words[0] = pack2(want, 0); // argsz, flags
            words[1] = pack2(index, 0); // index, cap_offset
            // SAFETY: `words` is an 8-byte aligned, zero-initialised buffer
            // of at least `want` bytes starting with a vfio_region_info header
            // whose argsz is `want`; the kernel writes at most argsz bytes.
            let r = unsafe {
                ioctls::vfio_device_get_region_info(
                    self.fd.as_raw_fd(),
                    words.as_mut_ptr().cast::<vb::vfio_region_info>(),
                )
            };
            call.tag(r)?;
            let buf = words_to_bytes(&words);
            let got = rd_u32(&buf, 0).unwrap_or(0);
            if got > want {
                want = got;
                continue;
            }
            return parse_region_info(&buf)
                .ok_or(SysError::new(Op::DeviceGetRegionInfo, Errno::EPROTO));
        }
        Err(SysError::new(Op::DeviceGetRegionInfo, Errno::EPROTO))
    }

    /// `VFIO_DEVICE_GET_IRQ_INFO(index)`.
    pub fn irq_info(&self, index: u32) -> Result<IrqInfo> {
        let call = fault::enter(Op::DeviceGetIrqInfo)?;
        if let Some(fake) = call.irq_info(index) {
            return Ok(fake);
        }
        let mut ii = vb::vfio_irq_info {
            argsz: argsz::<vb::vfio_irq_info>(),
            index,
            ..Default::default()
        };
        // SAFETY: `ii` is an initialised vfio_irq_info living across the
        // call; the kernel writes only inside it.
        let r = unsafe { ioctls::vfio_device_get_irq_info(self.fd.as_raw_fd(), &mut ii) };
        call.tag(r)?;
        Ok(IrqInfo {
            index: ii.index,
            flags: ii.flags,
            count: ii.count,
        })
    }

    fn set_irqs_raw(
        &self,
        flags: u32,
        index: u32,
        start: u32,
        count: u32,
        data: &[u8],
    ) -> Result<()> {
        let call = fault::enter(Op::DeviceSetIrqs)?;
        let hdr = std::mem::size_of::<vb::vfio_irq_set>();
        let total = hdr + data.len();
        let argsz =
            u32::try_from(total).map_err(|_| SysError::new(Op::DeviceSetIrqs, Errno::EINVAL))?;
        let mut bytes = Vec::with_capacity(total.next_multiple_of(4));
        for v in [argsz, flags, index, start, count] {
            bytes.extend_from_slice(&v.to_ne_bytes());
        }
        bytes.extend_from_slice(data);
        bytes.resize(total.next_multiple_of(4), 0);
        let words: Vec<u32> = bytes
            .chunks_exact(4)
            .map(|c| u32::from_ne_bytes(c.try_into().expect("4 bytes")))
            .collect();
        // SAFETY: `words` is a 4-byte aligned buffer of at least `argsz`
        // bytes laid out as struct vfio_irq_set followed by `data`; it lives
        // across the call and the kernel only reads argsz bytes from it. Any
        // eventfds inside `data` are borrowed by the caller for the call.
        let r = unsafe {
            ioctls::vfio_device_set_irqs(
                self.fd.as_raw_fd(),
                words.as_ptr().cast::<vb::vfio_irq_set>(),
            )
        };
        call.tag(r).map(drop)
    }

    /// `VFIO_DEVICE_SET_IRQS` with `DATA_EVENTFD`: attach one eventfd per
    /// vector `start..start+fds.len()` of IRQ `index` (INTx, MSI, MSI-X, ERR,
    /// REQ, CCW IO/CRW/REQ, AP …). `None` de-assigns that vector (fd `-1`).
    /// With [`IrqAction::Unmask`] the fds are unmask (resample) eventfds.
    pub fn set_irq_eventfds(
        &self,
        index: u32,
        action: IrqAction,
        start: u32,
        fds: &[Option<BorrowedFd<'_>>],
    ) -> Result<()> {
        let count = u32::try_from(fds.len())
            .map_err(|_| SysError::new(Op::DeviceSetIrqs, Errno::EINVAL))?;
        let data: Vec<u8> = fds
            .iter()
            .flat_map(|f| f.map_or(-1, |f| f.as_raw_fd()).to_ne_bytes())
            .collect();
        self.set_irqs_raw(
            vb::VFIO_IRQ_SET_DATA_EVENTFD | action.flag(),
            index,
            start,
            count,
            &data,
        )
    }

    /// `VFIO_DEVICE_SET_IRQS` with `DATA_NONE` on `start..start+count`
    /// (e.g. unmask INTx, or trigger a loopback interrupt).
    pub fn set_irqs_none(
        &self,
        index: u32,
        action: IrqAction,
        start: u32,
        count: u32,
    ) -> Result<()> {
        self.set_irqs_raw(
            vb::VFIO_IRQ_SET_DATA_NONE | action.flag(),
            index,
            start,
            count,
            &[],
        )
    }

    /// `VFIO_DEVICE_SET_IRQS` with `DATA_BOOL`: one flag per vector.
    pub fn set_irqs_bool(
        &self,
        index: u32,
        action: IrqAction,
        start: u32,
        values: &[bool],
    ) -> Result<()> {
        let count = u32::try_from(values.len())
            .map_err(|_| SysError::new(Op::DeviceSetIrqs, Errno::EINVAL))?;
        let data: Vec<u8> = values.iter().map(|&b| u8::from(b)).collect();
        self.set_irqs_raw(
            vb::VFIO_IRQ_SET_DATA_BOOL | action.flag(),
            index,
            start,
            count,
            &data,
        )
    }

    /// Disable all vectors of IRQ `index` (`DATA_NONE | ACTION_TRIGGER`,
    /// `count = 0`), as QEMU does when tearing down INTx/MSI/MSI-X.
    pub fn disable_irqs(&self, index: u32) -> Result<()> {
        self.set_irqs_none(index, IrqAction::Trigger, 0, 0)
    }

    /// `VFIO_DEVICE_QUERY_GFX_PLANE` with `VFIO_GFX_PLANE_TYPE_PROBE |
    /// plane_type`: whether the device can present a display that way
    /// (`VFIO_GFX_PLANE_TYPE_DMABUF` or `VFIO_GFX_PLANE_TYPE_REGION`).
    /// vfio-pci answers `ENOTTY` for devices without a display.
    pub fn probe_gfx_plane(&self, plane_type: u32) -> Result<()> {
        let call = fault::enter(Op::DeviceQueryGfxPlane)?;
        if let Some(supported) = call.gfx_planes() {
            return if supported & plane_type != 0 {
                Ok(())
            } else {
                Err(SysError::new(Op::DeviceQueryGfxPlane, Errno::ENOTTY))
            };
        }
        let mut info = vb::vfio_device_gfx_plane_info {
            argsz: argsz::<vb::vfio_device_gfx_plane_info>(),
            flags: vb::VFIO_GFX_PLANE_TYPE_PROBE | plane_type,
            ..Default::default()
        };
        // SAFETY: `info` is an initialised vfio_device_gfx_plane_info living
        // across the call; with argsz == sizeof the kernel writes only inside it.
        let r = unsafe { ioctls::vfio_device_query_gfx_plane(self.fd.as_raw_fd(), &mut info) };
        call.tag(r).map(drop)
    }

    /// `VFIO_DEVICE_FEATURE` with `flags` (`GET`/`SET`/`PROBE` | feature)
    /// and `data` as the payload, read back after the call.
    fn feature(&self, flags: u32, data: &mut [u8]) -> Result<()> {
        let call = fault::enter(Op::DeviceFeature)?;
        let feature = flags & vb::VFIO_DEVICE_FEATURE_MASK;
        if let Some(answer) = call.feature(feature) {
            let value = answer.map_err(|e| SysError::new(Op::DeviceFeature, e))?;
            let bytes = value.to_ne_bytes();
            let n = data.len().min(8);
            data[..n].copy_from_slice(&bytes[..n]);
            return Ok(());
        }
        let total = 8 + data.len();
        let argsz =
            u32::try_from(total).map_err(|_| SysError::new(Op::DeviceFeature, Errno::EINVAL))?;
        let mut words = vec![0u64; total.div_ceil(8)];
        words[0] = pack2(argsz, flags);
        let mut bytes = words_to_bytes(&words);
        bytes[8..total].copy_from_slice(data);
        for (w, c) in words.iter_mut().zip(bytes.chunks(8)) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            *w = u64::from_ne_bytes(b);
        }
        // SAFETY: `words` is an 8-byte aligned buffer of at least `argsz`
        // bytes starting with a vfio_device_feature header whose argsz is
        // `argsz`; the kernel reads and writes at most argsz bytes.
        let r = unsafe {
            ioctls::vfio_device_feature(
                self.fd.as_raw_fd(),
                words.as_mut_ptr().cast::<vb::vfio_device_feature>(),
            )
        };
        call.tag(r)?;
        data.copy_from_slice(&words_to_bytes(&words)[8..total]);
        Ok(())
    }

    /// The device's migration flags (`VFIO_DEVICE_FEATURE_GET |
    /// VFIO_DEVICE_FEATURE_MIGRATION`: `VFIO_MIGRATION_STOP_COPY`, `P2P`,
    /// `PRE_COPY`). `ENOTTY` when the driver has no migration support.
    pub fn migration_flags(&self) -> Result<u64> {
        let mut data = [0u8; 8];
        self.feature(
            vb::VFIO_DEVICE_FEATURE_GET | vb::VFIO_DEVICE_FEATURE_MIGRATION,
            &mut data,
        )?;
        Ok(u64::from_ne_bytes(data))
    }

    /// Whether the device can track its own DMA writes (a
    /// `VFIO_DEVICE_FEATURE_PROBE` of `DMA_LOGGING_START`), QEMU's device
    /// dirty page tracking.
    pub fn dma_logging_supported(&self) -> bool {
        self.feature(
            vb::VFIO_DEVICE_FEATURE_PROBE
                | vb::VFIO_DEVICE_FEATURE_SET
                | vb::VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
            &mut [],
        )
        .is_ok()
    }

    /// `VFIO_DEVICE_RESET`.
    pub fn reset(&self) -> Result<()> {
        let call = fault::enter(Op::DeviceReset)?;
        // SAFETY: no argument; the fd is live (borrowed from self).
        let r = unsafe { ioctls::vfio_device_reset(self.fd.as_raw_fd()) };
        call.tag(r).map(drop)
    }

    /// `pread(2)` at absolute device-fd `offset` (a region's
    /// [`RegionInfo::offset`] plus the offset inside it). May return fewer
    /// bytes than requested.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let call = fault::enter(Op::RegionRead)?;
        let off = to_off(Op::RegionRead, offset)?;
        let n = call.tag(nix::sys::uio::pread(self.fd.as_fd(), buf, off))?;
        call.patch_read(offset, &mut buf[..n]);
        Ok(n)
    }

    /// `pwrite(2)` at absolute device-fd `offset`. May write fewer bytes.
    pub fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize> {
        let call = fault::enter(Op::RegionWrite)?;
        let off = to_off(Op::RegionWrite, offset)?;
        call.tag(nix::sys::uio::pwrite(self.fd.as_fd(), buf, off))
    }

    /// [`Device::read_at`] that fails with `EIO` on a short read (QEMU treats
    /// `pread() != len` as `failed to read device config space`).
    pub fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        match self.read_at(offset, buf)? {
            n if n == buf.len() => Ok(()),
            _ => Err(SysError::new(Op::RegionRead, Errno::EIO)),
        }
    }

    /// [`Device::write_at`] that fails with `EIO` on a short write.
    pub fn write_all_at(&self, offset: u64, buf: &[u8]) -> Result<()> {
        match self.write_at(offset, buf)? {
            n if n == buf.len() => Ok(()),
            _ => Err(SysError::new(Op::RegionWrite, Errno::EIO)),
        }
    }

    /// Read `buf.len()` bytes at `offset` inside `region` (bounds-checked
    /// against the region size: `EINVAL`; short read: `EIO`).
    pub fn region_read(&self, region: &RegionInfo, offset: u64, buf: &mut [u8]) -> Result<()> {
        let abs = region_abs(Op::RegionRead, region, offset, buf.len() as u64)?;
        self.read_exact_at(abs, buf)
    }

    /// Write `buf` at `offset` inside `region` (bounds-checked like
    /// [`Device::region_read`]).
    pub fn region_write(&self, region: &RegionInfo, offset: u64, buf: &[u8]) -> Result<()> {
        let abs = region_abs(Op::RegionWrite, region, offset, buf.len() as u64)?;
        self.write_all_at(abs, buf)
    }

    /// `mmap(2)` `len` bytes at `offset` inside `region` (`MAP_SHARED`).
    ///
    /// Fails with `EINVAL` if the region is not mmap-able, the range is empty
    /// or outside the region; alignment is checked by the kernel (`EINVAL`).
    /// With a sparse-mmap capability only the listed areas are mappable.
    pub fn mmap_region(
        &self,
        region: &RegionInfo,
        offset: u64,
        len: usize,
        prot: MapProt,
    ) -> Result<MappedRegion> {
        if !region.mmappable() {
            return Err(SysError::new(Op::RegionMmap, Errno::EINVAL));
        }
        let abs = region_abs(Op::RegionMmap, region, offset, len as u64)?;
        self.mmap_at(abs, len, prot)
    }

    /// `mmap(2)` `len` bytes of the device fd at absolute `offset`
    /// (`MAP_SHARED`), without region checks.
    pub fn mmap_at(&self, offset: u64, len: usize, prot: MapProt) -> Result<MappedRegion> {
        let call = fault::enter(Op::RegionMmap)?;
        let nz = NonZeroUsize::new(len).ok_or(SysError::new(Op::RegionMmap, Errno::EINVAL))?;
        let off = to_off(Op::RegionMmap, offset)?;
        // SAFETY: a fresh mapping chosen by the kernel (addr = None) cannot
        // alias existing Rust memory. The fd is live for the call; the
        // mapping keeps its own reference to the file afterwards.
        let r = unsafe {
            nix::sys::mman::mmap(
                None,
                nz,
                prot.flags(),
                MapFlags::MAP_SHARED,
                self.fd.as_fd(),
                off,
            )
        };
        let ptr = call.tag(r)?;
        Ok(MappedRegion { ptr, len })
    }

    /// `VFIO_DEVICE_BIND_IOMMUFD`: bind this (cdev) device to `iommufd`;
    /// returns the iommufd device id (`out_devid`). With `token`, sets
    /// `VFIO_DEVICE_BIND_FLAG_TOKEN` (kernels before that flag reject it with
    /// `EINVAL`; QEMU never passes a token on this path).
    pub fn bind_iommufd(&self, iommufd: impl AsFd, token: Option<&Uuid>) -> Result<u32> {
        let call = fault::enter(Op::DeviceBindIommufd)?;
        call.request(|| fault::Request::BindToken(token.copied()));
        let token_bytes = token.map(|t| *t.as_bytes());
        let mut bind = vb::vfio_device_bind_iommufd {
            argsz: argsz::<vb::vfio_device_bind_iommufd>(),
            flags: 0,
            iommufd: iommufd.as_fd().as_raw_fd(),
            out_devid: 0,
            token_uuid_ptr: 0,
        };
        if let Some(b) = &token_bytes {
            bind.flags = vb::VFIO_DEVICE_BIND_FLAG_TOKEN;
            bind.token_uuid_ptr = b.as_ptr() as u64;
        } else {
            // Kernels before the token flag know only the first 16 bytes.
            bind.argsz = 16;
        }
        // SAFETY: `bind` is initialised and lives across the call; when the
        // token flag is set, `token_uuid_ptr` points at 16 live bytes in
        // `token_bytes`. The iommufd stays open because it is borrowed.
        let r = unsafe { ioctls::vfio_device_bind_iommufd(self.fd.as_raw_fd(), &mut bind) };
        call.tag(r)?;
        Ok(bind.out_devid)
    }

    /// `VFIO_DEVICE_ATTACH_IOMMUFD_PT(pt_id)` where `pt_id` is an IOAS or HWPT
    /// id; returns the id written back by the kernel (for an IOAS: the HWPT
    /// it attached to).
    pub fn attach_iommufd_pt(&self, pt_id: u32) -> Result<u32> {
        let call = fault::enter(Op::DeviceAttachIommufdPt)?;
        let mut at = vb::vfio_device_attach_iommufd_pt {
            // argsz up to pt_id: understood by every kernel with cdev support
            argsz: 12,
            flags: 0,
            pt_id,
            pasid: 0,
        };
        // SAFETY: `at` is initialised and lives across the call; the kernel
        // reads/writes at most argsz (12) bytes of it.
        let r = unsafe { ioctls::vfio_device_attach_iommufd_pt(self.fd.as_raw_fd(), &mut at) };
        call.tag(r)?;
        Ok(at.pt_id)
    }

    /// `VFIO_DEVICE_DETACH_IOMMUFD_PT`.
    pub fn detach_iommufd_pt(&self) -> Result<()> {
        let call = fault::enter(Op::DeviceDetachIommufdPt)?;
        let dt = vb::vfio_device_detach_iommufd_pt {
            argsz: 8,
            flags: 0,
            pasid: 0,
        };
        // SAFETY: `dt` is initialised and lives across the call; the kernel
        // only reads argsz (8) bytes of it.
        let r = unsafe { ioctls::vfio_device_detach_iommufd_pt(self.fd.as_raw_fd(), &dt) };
        call.tag(r).map(drop)
    }
}

fn region_abs(op: Op, region: &RegionInfo, offset: u64, len: u64) -> Result<u64> {
    let end = offset
        .checked_add(len)
        .ok_or(SysError::new(op, Errno::EINVAL))?;
    if len == 0 || end > region.size {
        return Err(SysError::new(op, Errno::EINVAL));
    }
    region
        .offset
        .checked_add(offset)
        .ok_or(SysError::new(op, Errno::EINVAL))
}

fn parse_region_info(buf: &[u8]) -> Option<RegionInfo> {
    let flags = rd_u32(buf, 4)?;
    let mut info = RegionInfo {
        index: rd_u32(buf, 8)?,
        flags,
        size: rd_u64(buf, 16)?,
        offset: rd_u64(buf, 24)?,
        caps: Vec::new(),
    };
    if flags & vb::VFIO_REGION_INFO_FLAG_CAPS == 0 {
        return Some(info);
    }
    let min = std::mem::size_of::<vb::vfio_region_info>();
    for cap in walk_caps(buf, rd_u32(buf, 12)?, min)? {
        let o = cap.offset;
        info.caps.push(match u32::from(cap.id) {
            vb::VFIO_REGION_INFO_CAP_SPARSE_MMAP => {
                let n = rd_u32(buf, o + 8)? as usize;
                let mut areas = Vec::with_capacity(n.min(64));
                for i in 0..n {
                    let at = o + 16 + i * 16;
                    areas.push(SparseArea {
                        offset: rd_u64(buf, at)?,
                        size: rd_u64(buf, at + 8)?,
                    });
                }
                RegionCap::SparseMmap(areas)
            }
            vb::VFIO_REGION_INFO_CAP_TYPE => RegionCap::Type {
                type_: rd_u32(buf, o + 8)?,
                subtype: rd_u32(buf, o + 12)?,
            },
            vb::VFIO_REGION_INFO_CAP_MSIX_MAPPABLE => RegionCap::MsixMappable,
            _ => RegionCap::Other {
                id: cap.id,
                version: cap.version,
            },
        });
    }
    Some(info)
}

impl AsFd for Device {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<OwnedFd> for Device {
    fn from(fd: OwnedFd) -> Self {
        Device::from_fd(fd)
    }
}

// ---------------------------------------------------------------------------
// MappedRegion

/// A `MAP_SHARED` mapping of (part of) a device region; unmapped on drop.
///
/// Accessors use volatile loads/stores of the natural width (MMIO
/// semantics). They panic on out-of-range or misaligned offsets, like slice
/// indexing; check with [`MappedRegion::contains`] first when the offset comes
/// from a guest. The mapping stays valid after the [`Device`] is dropped
/// (the kernel keeps the file referenced by the mapping).
#[derive(Debug)]
pub struct MappedRegion {
    ptr: NonNull<c_void>,
    len: usize,
}

// SAFETY: the mapping is plain process memory owned exclusively by this value
// (unmapped only in Drop); moving the owner to another thread is fine.
unsafe impl Send for MappedRegion {}
// SAFETY: `&self` methods only perform volatile loads/stores through raw
// pointers (no Rust references into the mapping are handed out), which is
// the access model for device memory shared with hardware anyway.
unsafe impl Sync for MappedRegion {}

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

    /// Volatile 8-bit load. Panics if out of range.
    pub fn read_u8(&self, offset: usize) -> u8 {
        let p = self.at::<u8>(offset);
        // SAFETY: `at` checked that `p` lies inside the live mapping.
        unsafe { p.read_volatile() }
    }
    /// Volatile 16-bit load. Panics if out of range or misaligned.
    pub fn read_u16(&self, offset: usize) -> u16 {
        let p = self.at::<u16>(offset);
        // SAFETY: `at` checked bounds and natural alignment (the mapping base
        // is page aligned) inside the live mapping.
        unsafe { p.read_volatile() }
    }
    /// Volatile 32-bit load. Panics if out of range or misaligned.
    pub fn read_u32(&self, offset: usize) -> u32 {
        let p = self.at::<u32>(offset);
        // SAFETY: as in `read_u16`.
        unsafe { p.read_volatile() }
    }
    /// Volatile 64-bit load. Panics if out of range or misaligned.
    pub fn read_u64(&self, offset: usize) -> u64 {
        let p = self.at::<u64>(offset);
        // SAFETY: as in `read_u16`.
        unsafe { p.read_volatile() }
    }
    /// Volatile 8-bit store. Panics if out of range. Faults (SIGSEGV) if the
    /// mapping was created read-only.
    pub fn write_u8(&self, offset: usize, v: u8) {
        let p = self.at::<u8>(offset);
        // SAFETY: in-bounds pointer into the live mapping; no Rust reference
        // to this memory exists, so a volatile store cannot break aliasing.
        unsafe { p.write_volatile(v) }
    }
    /// Volatile 16-bit store. Panics if out of range or misaligned.
    pub fn write_u16(&self, offset: usize, v: u16) {
        let p = self.at::<u16>(offset);
        // SAFETY: as in `write_u8`, plus natural alignment checked by `at`.
        unsafe { p.write_volatile(v) }
    }
    /// Volatile 32-bit store. Panics if out of range or misaligned.
    pub fn write_u32(&self, offset: usize, v: u32) {
        let p = self.at::<u32>(offset);
        // SAFETY: as in `write_u16`.
        unsafe { p.write_volatile(v) }
    }
    /// Volatile 64-bit store. Panics if out of range or misaligned.
    pub fn write_u64(&self, offset: usize, v: u64) {
        let p = self.at::<u64>(offset);
        // SAFETY: as in `write_u16`.
        unsafe { p.write_volatile(v) }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn put32(buf: &mut [u8], at: usize, v: u32) {
        buf[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }
    fn put64(buf: &mut [u8], at: usize, v: u64) {
        buf[at..at + 8].copy_from_slice(&v.to_ne_bytes());
    }
    fn cap_hdr(buf: &mut [u8], at: usize, id: u16, version: u16, next: u32) {
        buf[at..at + 2].copy_from_slice(&id.to_ne_bytes());
        buf[at + 2..at + 4].copy_from_slice(&version.to_ne_bytes());
        put32(buf, at + 4, next);
    }

    #[test]
    fn region_info_without_caps() {
        let mut b = vec![0u8; 32];
        put32(&mut b, 0, 32);
        put32(
            &mut b,
            4,
            vb::VFIO_REGION_INFO_FLAG_READ | vb::VFIO_REGION_INFO_FLAG_WRITE,
        );
        put32(&mut b, 8, 7);
        put64(&mut b, 16, 256);
        put64(&mut b, 24, 0x70000000000);
        let ri = parse_region_info(&b).unwrap();
        assert_eq!(ri.index, 7);
        assert_eq!(ri.size, 256);
        assert_eq!(ri.offset, 0x70000000000);
        assert!(ri.readable() && ri.writable() && !ri.mmappable());
        assert!(ri.caps.is_empty());
        assert_eq!(ri.sparse_areas(), None);
    }

    #[test]
    fn region_info_cap_chain_sparse_type_msix() {
        // header 32 | sparse @32 (16 + 2*16 = 48) | type @80 (16) | msix @96 (8) | other @104
        let mut b = vec![0u8; 112];
        put32(&mut b, 0, 112);
        put32(
            &mut b,
            4,
            vb::VFIO_REGION_INFO_FLAG_READ
                | vb::VFIO_REGION_INFO_FLAG_MMAP
                | vb::VFIO_REGION_INFO_FLAG_CAPS,
        );
        put32(&mut b, 12, 32);
        put64(&mut b, 16, 0x4000);
        cap_hdr(
            &mut b,
            32,
            vb::VFIO_REGION_INFO_CAP_SPARSE_MMAP as u16,
            1,
            80,
        );
        put32(&mut b, 40, 2);
        put64(&mut b, 48, 0);
        put64(&mut b, 56, 0x1000);
        put64(&mut b, 64, 0x3000);
        put64(&mut b, 72, 0x1000);
        cap_hdr(&mut b, 80, vb::VFIO_REGION_INFO_CAP_TYPE as u16, 1, 96);
        put32(&mut b, 88, vb::VFIO_REGION_TYPE_CCW);
        put32(&mut b, 92, vb::VFIO_REGION_SUBTYPE_CCW_SCHIB);
        cap_hdr(
            &mut b,
            96,
            vb::VFIO_REGION_INFO_CAP_MSIX_MAPPABLE as u16,
            1,
            104,
        );
        cap_hdr(&mut b, 104, 0x77, 3, 0);
        let ri = parse_region_info(&b).unwrap();
        assert_eq!(
            ri.sparse_areas().unwrap(),
            &[
                SparseArea {
                    offset: 0,
                    size: 0x1000
                },
                SparseArea {
                    offset: 0x3000,
                    size: 0x1000
                }
            ]
        );
        assert_eq!(
            ri.region_type(),
            Some((vb::VFIO_REGION_TYPE_CCW, vb::VFIO_REGION_SUBTYPE_CCW_SCHIB))
        );
        assert_eq!(ri.caps[2], RegionCap::MsixMappable);
        assert_eq!(
            ri.caps[3],
            RegionCap::Other {
                id: 0x77,
                version: 3
            }
        );
    }

    #[test]
    fn malformed_cap_chains_are_rejected() {
        let mut b = vec![0u8; 48];
        put32(&mut b, 4, vb::VFIO_REGION_INFO_FLAG_CAPS);
        // loop: cap @32 points to itself
        put32(&mut b, 12, 32);
        cap_hdr(&mut b, 32, 2, 1, 32);
        assert!(parse_region_info(&b).is_none());
        // offset inside the fixed header
        put32(&mut b, 12, 8);
        assert!(parse_region_info(&b).is_none());
        // offset past the end
        put32(&mut b, 12, 44);
        assert!(parse_region_info(&b).is_none());
        // sparse area count larger than the buffer
        put32(&mut b, 12, 32);
        cap_hdr(
            &mut b,
            32,
            vb::VFIO_REGION_INFO_CAP_SPARSE_MMAP as u16,
            1,
            0,
        );
        put32(&mut b, 40, 1000);
        assert!(parse_region_info(&b).is_none());
    }

    #[test]
    fn iommu_info_caps() {
        // header 24 | iova ranges @24 (16 + 16) | dma avail @56 (12) | pad | migration @72 (32)
        let mut b = vec![0u8; 104];
        let hdr = vb::vfio_iommu_type1_info {
            argsz: 104,
            flags: vb::VFIO_IOMMU_INFO_PGSIZES | vb::VFIO_IOMMU_INFO_CAPS,
            iova_pgsizes: 0x1000,
            cap_offset: 24,
            pad: 0,
        };
        cap_hdr(
            &mut b,
            24,
            vb::VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE as u16,
            1,
            56,
        );
        put32(&mut b, 32, 1);
        put64(&mut b, 40, 0);
        put64(&mut b, 48, 0xfedf_ffff);
        cap_hdr(
            &mut b,
            56,
            vb::VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL as u16,
            1,
            72,
        );
        put32(&mut b, 64, 65535);
        cap_hdr(
            &mut b,
            72,
            vb::VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION as u16,
            1,
            0,
        );
        put32(&mut b, 80, 0);
        put64(&mut b, 88, 0x1000);
        put64(&mut b, 96, 1 << 20);
        let info = parse_iommu_info(&b, &hdr).unwrap();
        assert_eq!(info.iova_pgsizes, Some(0x1000));
        assert_eq!(
            info.iova_ranges,
            vec![IovaRange {
                start: 0,
                end: 0xfedf_ffff
            }]
        );
        assert_eq!(info.dma_avail, Some(65535));
        assert_eq!(info.migration.unwrap().max_dirty_bitmap_size, 1 << 20);
        assert!(info.unknown_caps.is_empty());
    }

    #[test]
    fn device_fd_name_with_and_without_token() {
        assert_eq!(device_fd_name("0000:00:01.0", None), "0000:00:01.0");
        let t = Uuid::parse_str("AABBCCDD-0011-2233-4455-66778899AABB").unwrap();
        assert_eq!(
            device_fd_name("0000:00:01.0", Some(&t)),
            "0000:00:01.0 vf_token=aabbccdd-0011-2233-4455-66778899aabb"
        );
    }

    fn temp_device(content: &[u8]) -> Device {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(content).unwrap();
        Device::from_fd(OwnedFd::from(f))
    }

    #[test]
    fn ioctls_on_a_non_vfio_fd_report_op_and_errno() {
        let d = temp_device(b"x");
        let e = d.info().unwrap_err();
        assert_eq!((e.op(), e.errno()), (Op::DeviceGetInfo, Errno::ENOTTY));
        assert_eq!(d.region_info(0).unwrap_err().op(), Op::DeviceGetRegionInfo);
        assert_eq!(d.irq_info(0).unwrap_err().errno(), Errno::ENOTTY);
        assert_eq!(d.disable_irqs(1).unwrap_err().op(), Op::DeviceSetIrqs);
        assert_eq!(d.reset().unwrap_err().op(), Op::DeviceReset);
        assert_eq!(
            d.detach_iommufd_pt().unwrap_err().op(),
            Op::DeviceDetachIommufdPt
        );
        let g = Group::from_fd(temp_device(b"").into_fd());
        assert_eq!(g.status().unwrap_err().errno(), Errno::ENOTTY);
        assert_eq!(g.device("a\0b").unwrap_err().errno(), Errno::EINVAL);
        assert_eq!(
            g.device("0000:00:01.0").unwrap_err().op(),
            Op::GroupGetDeviceFd
        );
        let c = Container::from_fd(temp_device(b"").into_fd());
        assert_eq!(c.api_version().unwrap_err().op(), Op::GetApiVersion);
        assert_eq!(
            c.check_extension(vb::VFIO_TYPE1v2_IOMMU)
                .unwrap_err()
                .errno(),
            Errno::ENOTTY
        );
        assert_eq!(c.iommu_info().unwrap_err().op(), Op::IommuGetInfo);
        assert_eq!(c.unmap_dma(0, 4096).unwrap_err().op(), Op::UnmapDma);
    }

    #[test]
    fn pread_pwrite_and_mmap_on_a_file() {
        let mut content = vec![0u8; 8192];
        content[0x1000..0x1004].copy_from_slice(&0x010000edu32.to_ne_bytes());
        let d = temp_device(&content);
        let region = RegionInfo {
            index: 0,
            flags: vb::VFIO_REGION_INFO_FLAG_READ
                | vb::VFIO_REGION_INFO_FLAG_WRITE
                | vb::VFIO_REGION_INFO_FLAG_MMAP,
            size: 0x1000,
            offset: 0x1000,
            caps: vec![],
        };
        let mut id = [0u8; 4];
        d.region_read(&region, 0, &mut id).unwrap();
        assert_eq!(u32::from_ne_bytes(id), 0x010000ed);
        assert_eq!(
            d.region_read(&region, 0xffe, &mut id).unwrap_err().errno(),
            Errno::EINVAL
        );
        d.region_write(&region, 8, &[1, 2, 3, 4]).unwrap();
        // short read past EOF
        let mut big = [0u8; 16];
        assert_eq!(
            d.read_exact_at(8190, &mut big).unwrap_err().errno(),
            Errno::EIO
        );

        let m = d
            .mmap_region(&region, 0, 0x1000, MapProt::READ_WRITE)
            .unwrap();
        assert_eq!(m.len(), 0x1000);
        assert!(!m.is_empty());
        assert_eq!(m.read_u32(0), 0x010000ed);
        assert_eq!(m.read_u32(8), u32::from_ne_bytes([1, 2, 3, 4]));
        m.write_u64(16, 0x1122_3344_5566_7788);
        assert_eq!(m.read_u64(16), 0x1122_3344_5566_7788);
        assert_eq!(m.read_u16(16), 0x7788);
        assert_eq!(m.read_u8(17), 0x77);
        assert!(m.contains(0xffc, 4));
        assert!(!m.contains(0xffe, 4));
        assert!(!m.contains(2, 4));
        drop(m);
        // MAP_SHARED: the store reached the file
        let mut back = [0u8; 8];
        d.read_exact_at(0x1010, &mut back).unwrap();
        assert_eq!(u64::from_ne_bytes(back), 0x1122_3344_5566_7788);

        let ro = RegionInfo {
            flags: vb::VFIO_REGION_INFO_FLAG_READ,
            ..region.clone()
        };
        assert_eq!(
            d.mmap_region(&ro, 0, 0x1000, MapProt::READ_ONLY)
                .unwrap_err()
                .errno(),
            Errno::EINVAL
        );
        assert_eq!(
            d.mmap_at(0, 0, MapProt::READ_ONLY).unwrap_err().errno(),
            Errno::EINVAL
        );
    }

    #[test]
    #[should_panic(expected = "outside")]
    fn mapped_region_out_of_range_panics() {
        let d = temp_device(&[0u8; 4096]);
        let m = d.mmap_at(0, 4096, MapProt::READ_ONLY).unwrap();
        m.read_u32(4096);
    }
}
