//! BARs as the guest sees them: the emulated registers with their sizing
//! masks, where each BAR decodes now, what of it a VMM may map straight
//! into the guest and what it must trap (QEMU's `pci_register_bar` and
//! `pci_bar_address` in hw/pci/pci.c, `vfio_bar_register` and
//! `vfio_pci_fixup_msix_region` in hw/vfio/pci.c, QEMU 10.2).

use crate::attach::{Bar, MsixInfo};
use crate::sys::vfio::{MappedRegion, RegionInfo};

use super::config::{
    ConfigSpace, Mask, PCI_BASE_ADDRESS_0, PCI_COMMAND, PCI_COMMAND_IO, PCI_COMMAND_MEMORY,
    PCI_ROM_ADDRESS, PCI_ROM_ADDRESS_ENABLE,
};

/// Index of the ROM BAR in [`super::PciFunction::bars`] and in the BAR
/// accessors (QEMU's `PCI_ROM_SLOT`).
pub const ROM_BAR: u8 = 6;

/// What a BAR decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarKind {
    /// I/O ports.
    Io,
    /// 32-bit memory.
    Mem32,
    /// 64-bit memory (it takes the next BAR register too).
    Mem64,
    /// The expansion ROM (memory, read-only, its own enable bit).
    Rom,
}

/// The address space a BAR decodes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// Memory (MMIO).
    Memory,
    /// I/O ports.
    Io,
}

/// One window of a BAR the VMM may map straight into the guest.
#[derive(Debug)]
pub struct MmapArea {
    /// Offset in the BAR: map it at the BAR's address plus this.
    pub offset: u64,
    /// Length in bytes (whole host pages).
    pub len: u64,
    /// The host mapping of the device's region at that offset.
    pub host: *mut u8,
    // Owns the mapping `host` points into.
    _map: MappedRegion,
}

// SAFETY: `host` points into `_map`, which this value owns and which is
// `Send`; the pointer moves with it and is only dereferenced by whoever
// maps it into a guest, under that code's own `unsafe`.
unsafe impl Send for MmapArea {}

/// A BAR as the guest sees it.
#[derive(Debug)]
pub struct GuestBar {
    /// 0-5, or [`ROM_BAR`].
    pub index: u8,
    /// What it decodes.
    pub kind: BarKind,
    /// Size in bytes (a power of two; may exceed the device's region when
    /// `x-msix-relocation` grew it).
    pub size: u64,
    /// The prefetchable bit of a memory BAR.
    pub prefetchable: bool,
    /// Where the guest decodes it now: programmed, and enabled in COMMAND
    /// (and, for the ROM, its enable bit). `None` while disabled or sized.
    pub address: Option<u64>,
    /// What the VMM may map into the guest (none with `x-no-mmap=on`, for
    /// I/O BARs and the ROM); everything else of the BAR is trapped.
    pub areas: Vec<MmapArea>,
}

impl GuestBar {
    /// The space it decodes in.
    pub fn space(&self) -> Space {
        match self.kind {
            BarKind::Io => Space::Io,
            _ => Space::Memory,
        }
    }
}

/// Registers the BARs in the copy: type bits, sizing write masks and
/// emulated bits (QEMU's `pci_register_bar`; vfio emulates every BAR
/// register so that relocation can add or grow BARs).
pub(crate) fn register(
    cfg: &mut ConfigSpace,
    bars: &[Bar; 6],
    host_regs: &[u32; 6],
    rom_size: u64,
) -> Vec<GuestBar> {
    for i in 0..6 {
        let at = PCI_BASE_ADDRESS_0 + 4 * i;
        cfg.set_mask(Mask::Emulated, at, 4, u32::MAX);
        cfg.set_long(at, 0);
    }
    cfg.set_long(PCI_ROM_ADDRESS, 0);
    let mut out = Vec::new();
    let mut i = 0;
    while i < 6 {
        let b = bars[i];
        if b.size == 0 {
            i += 1;
            continue;
        }
        let at = PCI_BASE_ADDRESS_0 + 4 * i;
        let (kind, type_bits) = if b.ioport {
            (BarKind::Io, 1)
        } else if b.mem64 {
            (BarKind::Mem64, 0x4 | (host_regs[i] & 0x8))
        } else {
            (BarKind::Mem32, host_regs[i] & 0x8)
        };
        let wmask = !(b.size - 1);
        cfg.set_long(at, type_bits);
        cfg.set_mask(Mask::W, at, 4, (wmask as u32) & !type_low_bits(kind));
        if kind == BarKind::Mem64 && i < 5 {
            cfg.set_mask(Mask::W, at + 4, 4, (wmask >> 32) as u32);
        }
        out.push(GuestBar {
            index: i as u8,
            kind,
            size: b.size,
            prefetchable: type_bits & 0x8 != 0,
            address: None,
            areas: Vec::new(),
        });
        i += if kind == BarKind::Mem64 { 2 } else { 1 };
    }
    if rom_size > 0 {
        cfg.set_mask(
            Mask::W,
            PCI_ROM_ADDRESS,
            4,
            (!(rom_size - 1) as u32) | PCI_ROM_ADDRESS_ENABLE,
        );
        out.push(GuestBar {
            index: ROM_BAR,
            kind: BarKind::Rom,
            size: rom_size,
            prefetchable: false,
            address: None,
            areas: Vec::new(),
        });
    }
    out
}

fn type_low_bits(kind: BarKind) -> u32 {
    match kind {
        BarKind::Io => 0x3,
        BarKind::Rom => 0x7fe,
        _ => 0xf,
    }
}

/// Where `bar` decodes under the copy's registers, QEMU's
/// `pci_bar_address`: nothing while its space is disabled in COMMAND, at
/// address 0, while sized (the all-ones address wraps or leaves the
/// space), or for the ROM without its enable bit.
pub(crate) fn decode(cfg: &ConfigSpace, bar: &GuestBar) -> Option<u64> {
    let cmd = cfg.word(PCI_COMMAND);
    let (enabled, reg) = match bar.kind {
        BarKind::Io => (cmd & PCI_COMMAND_IO != 0, reg_at(bar.index)),
        BarKind::Rom => {
            let r = cfg.long(PCI_ROM_ADDRESS);
            (
                cmd & PCI_COMMAND_MEMORY != 0 && r & PCI_ROM_ADDRESS_ENABLE != 0,
                PCI_ROM_ADDRESS,
            )
        }
        _ => (cmd & PCI_COMMAND_MEMORY != 0, reg_at(bar.index)),
    };
    if !enabled {
        return None;
    }
    let mut addr = u64::from(cfg.long(reg));
    if bar.kind == BarKind::Mem64 {
        addr |= u64::from(cfg.long(reg + 4)) << 32;
    }
    let addr = addr & !(bar.size - 1) & !u64::from(type_low_bits(bar.kind));
    let last = addr.checked_add(bar.size - 1)?;
    // QEMU: a BAR at 0 is unmapped, and so is one whose last byte is the
    // all-ones address (64-bit) or at or past 4 GiB (the others): what a
    // BAR reads as while the guest sizes it.
    let sized = match bar.kind {
        BarKind::Mem64 => last == u64::MAX,
        _ => last >= u64::from(u32::MAX),
    };
    (addr != 0 && !sized).then_some(addr)
}

fn reg_at(index: u8) -> usize {
    PCI_BASE_ADDRESS_0 + 4 * usize::from(index)
}

/// Whether a config write at `at..at+len` may have moved a BAR.
pub(crate) fn touches_decode(at: usize, len: usize) -> bool {
    let end = at + len;
    let overlaps = |s: usize, l: usize| at < s + l && s < end;
    overlaps(PCI_BASE_ADDRESS_0, 24) || overlaps(PCI_COMMAND, 2) || overlaps(PCI_ROM_ADDRESS, 4)
}

/// The windows of a BAR's region the guest may reach without a trap:
/// the region's mmap-able areas (its sparse areas, else all of it),
/// minus the host pages holding the MSI-X table and PBA, which are
/// emulated. I/O BARs are never mapped.
pub(crate) fn mappable_areas(
    region: &RegionInfo,
    bar: u8,
    msix: Option<&MsixInfo>,
    page: u64,
) -> Vec<(u64, u64)> {
    if !region.mmappable() || region.size == 0 {
        return Vec::new();
    }
    let mut areas: Vec<(u64, u64)> = match region.sparse_areas() {
        Some(a) => a
            .iter()
            .filter(|a| a.size > 0)
            .map(|a| (a.offset, a.offset.saturating_add(a.size).min(region.size)))
            .filter(|(s, e)| s < e)
            .collect(),
        None => vec![(0, region.size)],
    };
    if let Some(m) = msix {
        let table_len = u64::from(m.entries) * 16;
        let pba_len = u64::from(m.entries).div_ceil(64) * 8;
        for (b, off, len) in [
            (m.table_bar, m.table_offset, table_len),
            (m.pba_bar, m.pba_offset, pba_len),
        ] {
            if b != bar {
                continue;
            }
            let start = off & !(page - 1);
            let end = (off + len).div_ceil(page) * page;
            areas = areas
                .into_iter()
                .flat_map(|(s, e)| {
                    let mut v = Vec::new();
                    if s < start.min(e) {
                        v.push((s, start.min(e)));
                    }
                    if end.max(s) < e {
                        v.push((end.max(s), e));
                    }
                    v
                })
                .collect();
        }
    }
    // mmap needs whole pages at page-aligned offsets.
    areas
        .into_iter()
        .filter_map(|(s, e)| {
            let s = s.div_ceil(page) * page;
            let e = e & !(page - 1);
            (s < e).then_some((s, e - s))
        })
        .collect()
}

/// A mapped window, owning its host mapping.
pub(crate) fn area(offset: u64, map: MappedRegion) -> MmapArea {
    MmapArea {
        offset,
        len: map.len() as u64,
        host: map.as_ptr(),
        _map: map,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::vfio::{RegionCap, RegionFlags, SparseArea};

    fn region(size: u64, caps: Vec<RegionCap>) -> RegionInfo {
        RegionInfo {
            index: 0,
            flags: RegionFlags::from_bits_retain(0x7),
            size,
            offset: 0,
            caps,
        }
    }

    fn msix(table_offset: u64, pba_offset: u64, entries: u16) -> MsixInfo {
        MsixInfo {
            entries,
            table_bar: 0,
            table_offset,
            pba_bar: 0,
            pba_offset,
            noresize: false,
            relocated: false,
        }
    }

    #[test]
    fn msix_table_and_pba_pages_are_never_mappable() {
        let r = region(0x4000, vec![]);
        // Table at 0x2000 (one page), PBA at 0x3000: two windows are left.
        let m = msix(0x2000, 0x3000, 16);
        assert_eq!(mappable_areas(&r, 0, Some(&m), 0x1000), [(0, 0x2000)]);
        // Table in the middle, PBA right behind it in the same page.
        let m = msix(0x1000, 0x1800, 8);
        assert_eq!(
            mappable_areas(&r, 0, Some(&m), 0x1000),
            [(0, 0x1000), (0x2000, 0x2000)]
        );
        // Another BAR's table does not touch this one.
        assert_eq!(mappable_areas(&r, 2, Some(&m), 0x1000), [(0, 0x4000)]);
    }

    #[test]
    fn sparse_areas_are_what_may_be_mapped() {
        let r = region(
            0x10000,
            vec![RegionCap::SparseMmap(vec![
                SparseArea {
                    offset: 0,
                    size: 0x3000,
                },
                SparseArea {
                    offset: 0x8000,
                    size: 0x8000,
                },
                SparseArea {
                    offset: 0x5000,
                    size: 0,
                },
            ])],
        );
        assert_eq!(
            mappable_areas(&r, 0, None, 0x1000),
            [(0, 0x3000), (0x8000, 0x8000)]
        );
        // A sub-page BAR cannot be mapped at all.
        assert!(mappable_areas(&region(0x100, vec![]), 0, None, 0x1000).is_empty());
        // Not mmap-able: nothing.
        let mut r = region(0x4000, vec![]);
        r.flags = RegionFlags::from_bits_retain(0x3);
        assert!(mappable_areas(&r, 0, None, 0x1000).is_empty());
    }
}
