//! What the VFIO info ioctls report, decoded: device info, region info
//! with its capability chain, IRQ info, and the type1 IOMMU info of a
//! container. The wrappers in [`super::vfio`] fill these from the kernel's
//! buffers; the fault seam ([`super::fault`]) can stand in for the kernel
//! with them. Public through [`super::vfio`].

use bitflags::bitflags;
use vfio_bindings::bindings::vfio as vb;

// ---------------------------------------------------------------------------
// Flags (the `flags` words of struct vfio_device_info, vfio_region_info and
// vfio_irq_info). Bits the kernel sets that are not named here are kept
// (`const _ = !0`), so a flags word prints as the kernel reported it.

bitflags! {
    /// `VFIO_DEVICE_FLAGS_*` of `VFIO_DEVICE_GET_INFO` (QEMU:
    /// hw/vfio/device.c, `vfio_device_get_info`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct DeviceFlags: u32 {
        /// `VFIO_DEVICE_FLAGS_RESET`: `VFIO_DEVICE_RESET` is supported.
        const RESET = vb::VFIO_DEVICE_FLAGS_RESET;
        /// `VFIO_DEVICE_FLAGS_PCI`.
        const PCI = vb::VFIO_DEVICE_FLAGS_PCI;
        /// `VFIO_DEVICE_FLAGS_PLATFORM`.
        const PLATFORM = vb::VFIO_DEVICE_FLAGS_PLATFORM;
        /// `VFIO_DEVICE_FLAGS_AMBA`.
        const AMBA = vb::VFIO_DEVICE_FLAGS_AMBA;
        /// `VFIO_DEVICE_FLAGS_CCW`.
        const CCW = vb::VFIO_DEVICE_FLAGS_CCW;
        /// `VFIO_DEVICE_FLAGS_AP`.
        const AP = vb::VFIO_DEVICE_FLAGS_AP;
        /// `VFIO_DEVICE_FLAGS_FSL_MC`.
        const FSL_MC = vb::VFIO_DEVICE_FLAGS_FSL_MC;
        /// `VFIO_DEVICE_FLAGS_CAPS`: the info has a capability chain.
        const CAPS = vb::VFIO_DEVICE_FLAGS_CAPS;
        /// `VFIO_DEVICE_FLAGS_CDX`.
        const CDX = vb::VFIO_DEVICE_FLAGS_CDX;
        const _ = !0;
    }
}

bitflags! {
    /// `VFIO_REGION_INFO_FLAG_*` of `VFIO_DEVICE_GET_REGION_INFO` (QEMU:
    /// hw/vfio/region.c, `vfio_region_setup`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct RegionFlags: u32 {
        /// `VFIO_REGION_INFO_FLAG_READ`.
        const READ = vb::VFIO_REGION_INFO_FLAG_READ;
        /// `VFIO_REGION_INFO_FLAG_WRITE`.
        const WRITE = vb::VFIO_REGION_INFO_FLAG_WRITE;
        /// `VFIO_REGION_INFO_FLAG_MMAP`.
        const MMAP = vb::VFIO_REGION_INFO_FLAG_MMAP;
        /// `VFIO_REGION_INFO_FLAG_CAPS`: the info has a capability chain.
        const CAPS = vb::VFIO_REGION_INFO_FLAG_CAPS;
        const _ = !0;
    }
}

bitflags! {
    /// `VFIO_IRQ_INFO_*` of `VFIO_DEVICE_GET_IRQ_INFO` (QEMU:
    /// hw/vfio/pci.c, `vfio_populate_device`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct IrqFlags: u32 {
        /// `VFIO_IRQ_INFO_EVENTFD`: eventfd signalling is supported.
        const EVENTFD = vb::VFIO_IRQ_INFO_EVENTFD;
        /// `VFIO_IRQ_INFO_MASKABLE`.
        const MASKABLE = vb::VFIO_IRQ_INFO_MASKABLE;
        /// `VFIO_IRQ_INFO_AUTOMASKED` (level-triggered INTx).
        const AUTOMASKED = vb::VFIO_IRQ_INFO_AUTOMASKED;
        /// `VFIO_IRQ_INFO_NORESIZE`: vectors cannot be added once enabled.
        const NORESIZE = vb::VFIO_IRQ_INFO_NORESIZE;
        const _ = !0;
    }
}

// ---------------------------------------------------------------------------
// Capability chains (struct vfio_info_cap_header)

/// One entry of a VFIO capability chain: id, version and its byte offset
/// inside the info buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CapEntry {
    id: u16,
    version: u16,
    offset: usize,
}

pub(super) fn rd_u16(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(buf.get(at..at + 2)?.try_into().ok()?))
}

pub(super) fn rd_u32(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

pub(super) fn rd_u64(buf: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(buf.get(at..at + 8)?.try_into().ok()?))
}

/// Walk a capability chain starting at `first` (0 = no capabilities).
/// Offsets are relative to the start of `buf` and must lie after the fixed
/// header (`min`) and inside the buffer; a loop or an out-of-range offset
/// yields `None` (malformed chain).
pub(super) fn walk_caps(buf: &[u8], first: u32, min: usize) -> Option<Vec<CapEntry>> {
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

pub(super) fn parse_iommu_info(buf: &[u8], hdr: &vb::vfio_iommu_type1_info) -> Option<IommuInfo> {
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

/// `VFIO_DEVICE_GET_INFO` result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceInfo {
    /// `VFIO_DEVICE_FLAGS_*`.
    pub flags: DeviceFlags,
    /// Number of regions.
    pub num_regions: u32,
    /// Number of IRQ indexes.
    pub num_irqs: u32,
}

impl DeviceInfo {
    /// `VFIO_DEVICE_FLAGS_PCI` (QEMU: `this isn't a PCI device` otherwise).
    pub fn is_pci(&self) -> bool {
        self.flags.contains(DeviceFlags::PCI)
    }
    /// `VFIO_DEVICE_FLAGS_CCW` (QEMU: `Um, this isn't a vfio-ccw device`).
    pub fn is_ccw(&self) -> bool {
        self.flags.contains(DeviceFlags::CCW)
    }
    /// `VFIO_DEVICE_FLAGS_AP`.
    pub fn is_ap(&self) -> bool {
        self.flags.contains(DeviceFlags::AP)
    }
    /// `VFIO_DEVICE_FLAGS_PLATFORM`.
    pub fn is_platform(&self) -> bool {
        self.flags.contains(DeviceFlags::PLATFORM)
    }
    /// `VFIO_DEVICE_FLAGS_RESET`: `VFIO_DEVICE_RESET` is supported.
    pub fn has_reset(&self) -> bool {
        self.flags.contains(DeviceFlags::RESET)
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
    /// `VFIO_REGION_INFO_FLAG_*`.
    pub flags: RegionFlags,
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
        self.flags.contains(RegionFlags::READ)
    }
    /// `VFIO_REGION_INFO_FLAG_WRITE`.
    pub fn writable(&self) -> bool {
        self.flags.contains(RegionFlags::WRITE)
    }
    /// `VFIO_REGION_INFO_FLAG_MMAP`.
    pub fn mmappable(&self) -> bool {
        self.flags.contains(RegionFlags::MMAP)
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
    /// `VFIO_IRQ_INFO_*` flags.
    pub flags: IrqFlags,
    /// Number of vectors (0 = not available).
    pub count: u32,
}

impl IrqInfo {
    /// `VFIO_IRQ_INFO_EVENTFD`: eventfd signalling is supported.
    pub fn eventfd(&self) -> bool {
        self.flags.contains(IrqFlags::EVENTFD)
    }
    /// `VFIO_IRQ_INFO_MASKABLE`.
    pub fn maskable(&self) -> bool {
        self.flags.contains(IrqFlags::MASKABLE)
    }
    /// `VFIO_IRQ_INFO_AUTOMASKED` (level-triggered INTx).
    pub fn automasked(&self) -> bool {
        self.flags.contains(IrqFlags::AUTOMASKED)
    }
    /// `VFIO_IRQ_INFO_NORESIZE`: vectors cannot be added once enabled.
    pub fn noresize(&self) -> bool {
        self.flags.contains(IrqFlags::NORESIZE)
    }
}

pub(super) fn parse_region_info(buf: &[u8]) -> Option<RegionInfo> {
    let flags = RegionFlags::from_bits_retain(rd_u32(buf, 4)?);
    let mut info = RegionInfo {
        index: rd_u32(buf, 8)?,
        flags,
        size: rd_u64(buf, 16)?,
        offset: rd_u64(buf, 24)?,
        caps: Vec::new(),
    };
    if !flags.contains(RegionFlags::CAPS) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
