//! MSI-X discovery and relocation: QEMU's `vfio_msix_early_setup` and
//! `vfio_pci_relocate_msix` (`hw/vfio/pci.c`).

use qomgen::{Error, OffAutoPciBar, Result};
use vfio_bindings::bindings::vfio as vb;

use crate::sys::vfio::{Device, RegionInfo};

const PCI_MSIX_FLAGS: u64 = 2;
const PCI_MSIX_TABLE: u64 = 4;
const PCI_MSIX_PBA: u64 = 8;
const PCI_MSIX_FLAGS_QSIZE: u16 = 0x07ff;
const PCI_MSIX_FLAGS_BIRMASK: u32 = 7;
const PCI_MSIX_ENTRY_SIZE: u64 = 16;
const GIB: u64 = 1 << 30;

/// One BAR as config space and the region info describe it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Bar {
    /// Region size (0: the BAR is not implemented, or is the upper half of a 64-bit BAR).
    pub size: u64,
    /// An I/O port BAR.
    pub ioport: bool,
    /// A 64-bit memory BAR (it consumes the next BAR slot).
    pub mem64: bool,
}

/// The six BARs from the config-space registers and the region sizes.
pub(super) fn bars(space: &[u8], sizes: &[u64]) -> [Bar; 6] {
    let mut bars = [Bar::default(); 6];
    for (i, bar) in bars.iter_mut().enumerate() {
        let at = 0x10 + 4 * i;
        let reg = space
            .get(at..at + 4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let ioport = reg & 1 != 0;
        *bar = Bar {
            size: sizes.get(i).copied().unwrap_or(0),
            ioport,
            mem64: !ioport && reg & 0x6 == 0x4,
        };
    }
    bars
}

/// Where the MSI-X table and PBA live, after any relocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MsixInfo {
    /// Number of vectors.
    pub entries: u16,
    /// BAR of the vector table.
    pub table_bar: u8,
    /// Offset of the table in its BAR.
    pub table_offset: u64,
    /// BAR of the pending-bit array.
    pub pba_bar: u8,
    /// Offset of the PBA in its BAR.
    pub pba_offset: u64,
    /// `VFIO_IRQ_INFO_NORESIZE`: vectors cannot be added once MSI-X is enabled.
    pub noresize: bool,
    /// Moved by `x-msix-relocation` (the guest sees the table and PBA here).
    pub relocated: bool,
}

/// Reads the MSI-X capability at `pos` (when the device has one), checks
/// it against the BARs, and relocates it as `x-msix-relocation` asks.
/// `bars` is updated with a relocation's new or grown BAR.
pub(super) fn early_setup(
    device: &Device,
    config: &RegionInfo,
    pos: Option<u16>,
    bars: &mut [Bar; 6],
    ids: (u16, u16),
    relocation: OffAutoPciBar,
) -> Result<Option<MsixInfo>> {
    let Some(pos) = pos else { return Ok(None) };
    let pos = u64::from(pos);
    let read = |off: u64, what: &str, buf: &mut [u8]| {
        device
            .region_read(config, pos + off, buf)
            .map_err(|e| Error::new(format!("failed to read PCI MSIX {what}: {}", e.strerror())))
    };
    let mut ctrl = [0u8; 2];
    read(PCI_MSIX_FLAGS, "FLAGS", &mut ctrl)?;
    let mut table = [0u8; 4];
    read(PCI_MSIX_TABLE, "TABLE", &mut table)?;
    let mut pba = [0u8; 4];
    read(PCI_MSIX_PBA, "PBA", &mut pba)?;
    let (ctrl, table, pba) = (
        u16::from_le_bytes(ctrl),
        u32::from_le_bytes(table),
        u32::from_le_bytes(pba),
    );
    let irq = device
        .irq_info(vb::VFIO_PCI_MSIX_IRQ_INDEX)
        .map_err(|e| Error::new(format!("failed to get MSI-X irq info: {}", e.strerror())))?;
    let mut msix = MsixInfo {
        entries: (ctrl & PCI_MSIX_FLAGS_QSIZE) + 1,
        table_bar: (table & PCI_MSIX_FLAGS_BIRMASK) as u8,
        table_offset: u64::from(table & !PCI_MSIX_FLAGS_BIRMASK),
        pba_bar: (pba & PCI_MSIX_FLAGS_BIRMASK) as u8,
        pba_offset: u64::from(pba & !PCI_MSIX_FLAGS_BIRMASK),
        noresize: irq.noresize(),
        relocated: false,
    };
    let pba_bar_size = bars.get(usize::from(msix.pba_bar)).map_or(0, |b| b.size);
    if msix.pba_offset >= pba_bar_size {
        let (vendor, device_id) = ids;
        // QEMU's quirks for hardware known to report a wrong PBA offset.
        if vendor == 0x1425 && device_id & 0xff00 == 0x5800 {
            // Chelsio T5 VFs report 0x8000 in an 8 KiB BAR.
            msix.pba_offset = 0x1000;
        } else if vendor == 0x1d22 && device_id == 0x3685 {
            // Baidu Kunlun VFs report 0x460000 in a 64 KiB BAR.
            msix.pba_offset = 0xb400;
        } else if relocation == OffAutoPciBar::Off {
            return Err(Error::new(
                "hardware reports invalid configuration, MSIX PBA outside of specified BAR",
            ));
        }
    }
    relocate(&mut msix, bars, ids, relocation)?;
    Ok(Some(msix))
}

/// `x-msix-relocation`: move the table and PBA to the end of an existing
/// BAR (doubling it) or into an unused one.
fn relocate(
    msix: &mut MsixInfo,
    bars: &mut [Bar; 6],
    (vendor, device_id): (u16, u16),
    relocation: OffAutoPciBar,
) -> Result<()> {
    let target = match relocation {
        OffAutoPciBar::Off => return Ok(()),
        // QEMU's table of devices known to work with a given BAR is empty.
        OffAutoPciBar::Auto => {
            return Err(Error::new(format!(
                "No automatic MSI-X relocation available for device {vendor:04x}:{device_id:04x}"
            )));
        }
        OffAutoPciBar::Bar0 => 0,
        OffAutoPciBar::Bar1 => 1,
        OffAutoPciBar::Bar2 => 2,
        OffAutoPciBar::Bar3 => 3,
        OffAutoPciBar::Bar4 => 4,
        OffAutoPciBar::Bar5 => 5,
    };
    let entries = u64::from(msix.entries);
    let page = crate::sys::page_size() as u64;
    // The structures' real size, on pages of their own, as a power of two.
    let size = (entries * PCI_MSIX_ENTRY_SIZE + entries.next_multiple_of(64) / 8)
        .next_multiple_of(page)
        .next_power_of_two();
    if bars[target].ioport {
        return Err(Error::new(format!(
            "Invalid MSI-X relocation BAR {target}, I/O port BAR"
        )));
    }
    if bars[target].size == 0 && target > 0 && bars[target - 1].mem64 {
        return Err(Error::new(format!(
            "Invalid MSI-X relocation BAR {target}, consumed by 64-bit BAR {}",
            target - 1
        )));
    }
    if bars[target].size > GIB && !bars[target].mem64 {
        return Err(Error::new(format!(
            "Invalid MSI-X relocation BAR {target}, no space to extend 32-bit BAR"
        )));
    }
    if bars[target].size == 0 {
        // A new BAR: 64-bit when the next slot is free too.
        if target < 5 && bars[target + 1].size == 0 {
            bars[target].mem64 = true;
        }
        bars[target].size = size;
        msix.table_offset = 0;
    } else {
        bars[target].size = (bars[target].size * 2).max(size * 2);
        // The table starts halfway into the grown BAR: a separate host page.
        msix.table_offset = bars[target].size / 2;
    }
    msix.table_bar = target as u8;
    msix.pba_bar = target as u8;
    msix.pba_offset = msix.table_offset + entries * PCI_MSIX_ENTRY_SIZE;
    msix.relocated = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msix(entries: u16) -> MsixInfo {
        MsixInfo {
            entries,
            table_bar: 0,
            table_offset: 0x2000,
            pba_bar: 0,
            pba_offset: 0x3000,
            noresize: false,
            relocated: false,
        }
    }

    fn mem(size: u64, mem64: bool) -> Bar {
        Bar {
            size,
            ioport: false,
            mem64,
        }
    }

    #[test]
    fn relocation_grows_a_bar_or_adds_one() {
        let mut bars = [
            mem(0x4000, false),
            Bar::default(),
            Bar::default(),
            Bar::default(),
            Bar::default(),
            Bar::default(),
        ];
        let mut m = msix(64);
        relocate(&mut m, &mut bars, (0x1234, 0x11e8), OffAutoPciBar::Bar0).unwrap();
        assert_eq!(
            (bars[0].size, m.table_offset, m.pba_offset),
            (0x8000, 0x4000, 0x4400)
        );
        assert!(m.relocated);
        let mut m = msix(64);
        relocate(&mut m, &mut bars, (0x1234, 0x11e8), OffAutoPciBar::Bar2).unwrap();
        assert_eq!(
            (bars[2].size, bars[2].mem64, m.table_bar, m.table_offset),
            (0x1000, true, 2, 0)
        );
        // The last slot has no neighbour to pair with.
        let mut m = msix(2048);
        relocate(&mut m, &mut bars, (0x1234, 0x11e8), OffAutoPciBar::Bar5).unwrap();
        assert_eq!((bars[5].size, bars[5].mem64), (0x10000, false));
    }

    #[test]
    fn relocation_errors_have_qemus_texts() {
        let io = Bar {
            size: 0x100,
            ioport: true,
            mem64: false,
        };
        let mut bars = [
            mem(0x4000, true),
            Bar::default(),
            io,
            mem(2 * GIB, false),
            Bar::default(),
            Bar::default(),
        ];
        for (r, text) in [
            (
                OffAutoPciBar::Auto,
                "No automatic MSI-X relocation available for device 8086:1521",
            ),
            (
                OffAutoPciBar::Bar2,
                "Invalid MSI-X relocation BAR 2, I/O port BAR",
            ),
            (
                OffAutoPciBar::Bar1,
                "Invalid MSI-X relocation BAR 1, consumed by 64-bit BAR 0",
            ),
            (
                OffAutoPciBar::Bar3,
                "Invalid MSI-X relocation BAR 3, no space to extend 32-bit BAR",
            ),
        ] {
            let e = relocate(&mut msix(4), &mut bars, (0x8086, 0x1521), r).unwrap_err();
            assert_eq!(e.to_string(), text, "{r:?}");
        }
        let before = bars;
        relocate(&mut msix(4), &mut bars, (0, 0), OffAutoPciBar::Off).unwrap();
        assert_eq!(bars, before);
    }

    #[test]
    fn bars_decode_io_and_64_bit_registers() {
        let mut space = vec![0u8; 64];
        space[0x10..0x14].copy_from_slice(&0xfe00_000cu32.to_le_bytes()); // mem64, prefetch
        space[0x18..0x1c].copy_from_slice(&0x0000_c001u32.to_le_bytes()); // I/O
        let b = bars(&space, &[0x1000, 0, 0x20]);
        assert_eq!(b[0], mem(0x1000, true));
        assert_eq!(b[1], Bar::default());
        assert!(b[2].ioport && !b[2].mem64 && b[2].size == 0x20);
    }
}
