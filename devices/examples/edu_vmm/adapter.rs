//! A throw-away [`PciFunctionApi`] over the existing driver API
//! ([`qomgen_devices::driver`]), enough for `edu`, until the real
//! `qomgen_devices::guest::pci::PciFunction` lands. Swapping it is a change
//! in this file and in `session.rs` only.
//!
//! What it does, and what the real function will do differently:
//!
//! * **Config space** is passed through to the kernel's config region
//!   (`pread`/`pwrite`), which vfio-pci already virtualizes: BAR registers
//!   (sizing reads return the mask, `vfio_bar_fixup` in
//!   drivers/vfio/pci/vfio_pci_config.c), the MSI capability's address and
//!   data, the ROM BAR. The adapter adds nothing of its own (no emulated
//!   capabilities, no INTx emulation, no ROM).
//! * **Reset**: at creation it clears `PCI_COMMAND` decoding/bus mastering
//!   and zeroes the BARs, as QEMU's `pci_device_reset` (hw/pci/pci.c) does
//!   for a function at machine reset, so the guest finds it unprogrammed
//!   instead of at the addresses the host firmware picked.
//! * **BARs** 0-5 are tracked from config writes: after a write to
//!   `PCI_COMMAND` or a BAR register the decoded addresses are recomputed
//!   (with QEMU's rules, `pci_bar_address` in hw/pci/pci.c) and changes
//!   are returned as [`Event::BarMoved`]. The mappable areas are the
//!   mappings realize made (none with `x-no-mmap=on`); trapped accesses
//!   use `pread`/`pwrite` of the BAR region.
//! * **MSI**: when the guest sets the MSI enable bit, the adapter enables
//!   the MSI index with `VFIO_DEVICE_SET_IRQS` (one eventfd per enabled
//!   vector) *before* passing the write on, because vfio-pci drops the
//!   enable bit of a write unless MSI is already enabled through the ioctl
//!   (`vfio_msi_config_write`). Clearing it disables the index. Each
//!   vector's eventfd is handed out as a duplicate descriptor of the one
//!   VFIO signals. No MSI-X.
//! * **DMA**: guest RAM is mapped at IOVA = GPA with
//!   [`qomgen_devices::driver::Dma::map_host`] (the small public addition
//!   this needed) and unmapped on drop.

use std::os::fd::{FromRawFd, IntoRawFd};

use qomgen_devices::driver::{DmaAccess, Driver, IrqEventfds, IrqKind};
use vm_memory::{GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion, MemoryRegionAddress};
use vmm_sys_util::eventfd::EventFd;

use crate::device_api::{
    BarKind, Event, GuestBar, MmapArea, MsiMessage, PciFunctionApi, Route, Space, Vector,
};

/// `PCI_COMMAND` offset.
const COMMAND: u16 = 0x04;
/// `PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER`.
const COMMAND_DECODE_MASTER: u16 = 0x7;
/// First BAR register.
const BAR0: u16 = 0x10;
/// `PCI_CAPABILITY_LIST`.
const CAP_PTR: u16 = 0x34;
/// `PCI_CAP_ID_MSI`.
const CAP_ID_MSI: u8 = 0x05;

/// The adapter: a borrowed [`Driver`] plus the guest-visible state it tracks.
pub struct Adapter<'a> {
    driver: Driver<'a>,
    bars: Vec<GuestBar>,
    /// Offset of the MSI capability.
    msi_cap: Option<u16>,
    /// The MSI index while the guest has it enabled.
    msi: Option<IrqEventfds<'a>>,
    vectors: Vec<Vector>,
    route: Route,
    /// Guest RAM ranges mapped for DMA: (IOVA, length).
    dma: Vec<(u64, u64)>,
}

impl<'a> Adapter<'a> {
    /// Wraps a realized device and resets its guest-visible state.
    /// `no_kvm_msi` makes every vector [`Route::Userspace`].
    ///
    /// # Errors
    /// Config space not accessible.
    pub fn new(driver: Driver<'a>, no_kvm_msi: bool) -> Result<Self, String> {
        let cfg = driver.config().map_err(|e| format!("config region: {e}"))?;
        let w = |off: u16, data: &[u8]| {
            cfg.write(u64::from(off), data)
                .map_err(|e| format!("config write at {off:#x}: {e}"))
        };
        let mut cmd = [0u8; 2];
        cfg.read(u64::from(COMMAND), &mut cmd)
            .map_err(|e| format!("config read: {e}"))?;
        let cmd = u16::from_le_bytes(cmd) & !COMMAND_DECODE_MASTER;
        w(COMMAND, &cmd.to_le_bytes())?;

        let mut bars = Vec::new();
        let mut n = 0u8;
        while n < 6 {
            let reg = BAR0 + 4 * u16::from(n);
            let mut raw = [0u8; 4];
            cfg.read(u64::from(reg), &mut raw)
                .map_err(|e| format!("BAR{n} register: {e}"))?;
            let raw = u32::from_le_bytes(raw);
            let kind = if raw & 1 == 1 {
                BarKind::Io
            } else if raw & 0x6 == 0x4 {
                BarKind::Mem64
            } else {
                BarKind::Mem32
            };
            if let Ok(bar) = driver.bar(u32::from(n)) {
                w(reg, &[0; 4])?;
                if kind == BarKind::Mem64 {
                    w(reg + 4, &[0; 4])?;
                }
                bars.push(GuestBar {
                    index: n,
                    kind,
                    size: bar.size(),
                    prefetchable: kind != BarKind::Io && raw & 0x8 != 0,
                    address: None,
                    areas: bar
                        .mmio_areas()
                        .map(|m| MmapArea {
                            offset: m.start(),
                            len: m.len(),
                            host: m.as_ptr(),
                        })
                        .collect(),
                });
            }
            n += if kind == BarKind::Mem64 { 2 } else { 1 };
        }

        let mut a = Adapter {
            driver,
            bars,
            msi_cap: None,
            msi: None,
            vectors: Vec::new(),
            route: if no_kvm_msi {
                Route::Userspace
            } else {
                Route::Irqfd
            },
            dma: Vec::new(),
        };
        a.msi_cap = a.find_cap(CAP_ID_MSI);
        Ok(a)
    }

    fn cfg_read(&self, offset: u16, data: &mut [u8]) {
        let ok = self
            .driver
            .config()
            .and_then(|c| c.read(u64::from(offset), data));
        if ok.is_err() {
            // Past the end of config space, or a failed read: a master abort.
            data.fill(0xff);
        }
    }

    fn cfg_u8(&self, offset: u16) -> u8 {
        let mut b = [0u8; 1];
        self.cfg_read(offset, &mut b);
        b[0]
    }

    fn cfg_u16(&self, offset: u16) -> u16 {
        let mut b = [0u8; 2];
        self.cfg_read(offset, &mut b);
        u16::from_le_bytes(b)
    }

    fn cfg_u32(&self, offset: u16) -> u32 {
        let mut b = [0u8; 4];
        self.cfg_read(offset, &mut b);
        u32::from_le_bytes(b)
    }

    /// Walks the standard capability list (bounded, against loops).
    fn find_cap(&self, id: u8) -> Option<u16> {
        if self.cfg_u16(0x06) & 0x10 == 0 {
            return None;
        }
        let mut ptr = self.cfg_u8(CAP_PTR) & 0xfc;
        for _ in 0..48 {
            if ptr < 0x40 {
                return None;
            }
            if self.cfg_u8(u16::from(ptr)) == id {
                return Some(u16::from(ptr));
            }
            ptr = self.cfg_u8(u16::from(ptr) + 1) & 0xfc;
        }
        None
    }

    /// The address BAR `b` decodes now, per QEMU's `pci_bar_address`
    /// (hw/pci/pci.c): decoding enabled in COMMAND, not 0, not wrapping,
    /// a 32-bit BAR entirely below 4 GiB, an I/O BAR below 64 KiB.
    fn decoded(&self, b: &GuestBar, command: u16) -> Option<u64> {
        let reg = BAR0 + 4 * u16::from(b.index);
        let lo = self.cfg_u32(reg);
        let (enabled, addr, limit) = match b.kind {
            BarKind::Io => (command & 0x1 != 0, u64::from(lo & !0x3), 0xffff),
            BarKind::Mem32 => (
                command & 0x2 != 0,
                u64::from(lo & !0xf),
                u64::from(u32::MAX),
            ),
            BarKind::Mem64 => (
                command & 0x2 != 0,
                u64::from(self.cfg_u32(reg + 4)) << 32 | u64::from(lo & !0xf),
                u64::MAX,
            ),
            BarKind::Rom => return None,
        };
        let last = addr.checked_add(b.size.checked_sub(1)?)?;
        (enabled && addr != 0 && last > addr && last < limit).then_some(addr)
    }

    /// Recomputes every BAR's decoded address; the moves.
    fn refresh_bars(&mut self) -> Vec<Event> {
        let command = self.cfg_u16(COMMAND);
        let mut events = Vec::new();
        for i in 0..self.bars.len() {
            let new = self.decoded(&self.bars[i], command);
            let b = &mut self.bars[i];
            if b.address != new {
                events.push(Event::BarMoved {
                    bar: b.index,
                    old: b.address,
                    new,
                });
                b.address = new;
            }
        }
        events
    }

    /// Enables or disables the MSI index to follow a write of the MSI
    /// flags word (`new_flags`), before the write reaches the kernel.
    fn msi_enable(&mut self, new_flags: u16) {
        let enable = new_flags & 1 != 0;
        if enable && self.msi.is_none() {
            // Multiple Message Enable (bits 6:4): 2^n vectors.
            let count = 1u32 << ((new_flags >> 4) & 0x7).min(5);
            match self.driver.enable_irq(IrqKind::Msi, count) {
                Ok(irqs) => self.msi = Some(irqs),
                Err(e) => eprintln!("adapter: enabling MSI with {count} vector(s): {e}"),
            }
        } else if !enable {
            self.msi = None;
        }
    }

    /// Rebuilds [`Adapter::vectors`] from the (virtualized) MSI capability.
    fn refresh_vectors(&mut self) {
        self.vectors.clear();
        let (Some(cap), Some(irqs)) = (self.msi_cap, self.msi.as_ref()) else {
            return;
        };
        let flags = self.cfg_u16(cap + 2);
        let is64 = flags & 0x80 != 0;
        let maskable = flags & 0x100 != 0;
        let lo = self.cfg_u32(cap + 4);
        let (hi, data_at) = if is64 {
            (self.cfg_u32(cap + 8), cap + 0xc)
        } else {
            (0, cap + 8)
        };
        let data = self.cfg_u16(data_at);
        let mask = if maskable {
            self.cfg_u32(data_at + 4)
        } else {
            0
        };
        for v in 0..irqs.len() {
            let Ok(fd) = irqs.eventfd(v).and_then(|fd| {
                fd.try_clone_to_owned()
                    .map_err(|e| qomgen_devices::driver::DriverError::Invalid(e.to_string()))
            }) else {
                eprintln!("adapter: cannot duplicate the eventfd of MSI vector {v}");
                continue;
            };
            // SAFETY: `fd` is a freshly duplicated, owned descriptor of an
            // eventfd (created by IrqEventfds); EventFd takes ownership.
            let eventfd = unsafe { EventFd::from_raw_fd(fd.into_raw_fd()) };
            let v16 = u16::try_from(v).unwrap_or(u16::MAX);
            self.vectors.push(Vector {
                index: v16,
                message: MsiMessage {
                    address: u64::from(hi) << 32 | u64::from(lo),
                    // Multiple vectors: the low data bits carry the number
                    // (PCI Local Bus spec 6.8.1.6).
                    data: u32::from(data) | u32::from(v16),
                },
                masked: mask & (1 << (v % 32)) != 0,
                route: self.route,
                eventfd,
            });
        }
    }
}

/// Whether `a..a+alen` and `b..b+blen` overlap.
fn overlaps(a: u16, alen: usize, b: u16, blen: usize) -> bool {
    let (a, b) = (usize::from(a), usize::from(b));
    a < b + blen && b < a + alen
}

impl PciFunctionApi for Adapter<'_> {
    fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        self.cfg_read(offset, data);
    }

    fn config_write(&mut self, offset: u16, data: &[u8]) -> Vec<Event> {
        let msi_flags = self.msi_cap.map(|c| c + 2);
        let was_enabled = self.msi.is_some();
        if let Some(f) = msi_flags.filter(|&f| overlaps(offset, data.len(), f, 2)) {
            // The flags word after this write.
            let mut word = self.cfg_u16(f).to_le_bytes();
            for (i, b) in data.iter().enumerate() {
                let at = usize::from(offset) + i;
                if let Some(k) = at.checked_sub(usize::from(f)).filter(|&k| k < 2) {
                    word[k] = *b;
                }
            }
            let new = u16::from_le_bytes(word);
            if new & 1 != 0 {
                self.msi_enable(new);
            }
            self.write_through(offset, data);
            if new & 1 == 0 {
                self.msi_enable(new);
            }
        } else {
            self.write_through(offset, data);
        }
        let new_enable = !was_enabled && self.msi.is_some();
        let mut events = Vec::new();
        if overlaps(offset, data.len(), COMMAND, 2) || overlaps(offset, data.len(), BAR0, 24) {
            events.extend(self.refresh_bars());
        }
        if let Some(cap) = self.msi_cap
            && overlaps(offset, data.len(), cap, 24)
        {
            let key = |v: &Vec<Vector>| -> Vec<(u16, MsiMessage, bool)> {
                v.iter().map(|v| (v.index, v.message, v.masked)).collect()
            };
            let before = key(&self.vectors);
            self.refresh_vectors();
            // A new enable always re-routes: the eventfds are new.
            if before != key(&self.vectors) || new_enable {
                events.push(Event::VectorsChanged);
            }
        }
        events
    }

    fn bars(&self) -> &[GuestBar] {
        &self.bars
    }

    fn bar_at(&self, addr: u64, space: Space) -> Option<(u8, u64)> {
        self.bars.iter().find_map(|b| {
            let bspace = if b.kind == BarKind::Io {
                Space::Io
            } else {
                Space::Memory
            };
            let base = b.address?;
            (bspace == space && addr >= base && addr - base < b.size)
                .then(|| (b.index, addr - base))
        })
    }

    fn bar_read(&mut self, bar: u8, offset: u64, data: &mut [u8]) {
        let r = self
            .driver
            .bar(u32::from(bar))
            .and_then(|b| b.read(offset, data));
        if let Err(e) = r {
            eprintln!("adapter: BAR{bar} read at {offset:#x}: {e}");
            data.fill(0xff);
        }
    }

    fn bar_write(&mut self, bar: u8, offset: u64, data: &[u8]) -> Vec<Event> {
        let r = self
            .driver
            .bar(u32::from(bar))
            .and_then(|b| b.write(offset, data));
        if let Err(e) = r {
            eprintln!("adapter: BAR{bar} write at {offset:#x}: {e}");
        }
        Vec::new()
    }

    fn vectors(&self) -> &[Vector] {
        &self.vectors
    }

    fn map_guest_memory(&mut self, mem: &GuestMemoryMmap) -> qomgen::Result<()> {
        let dma = self.driver.dma();
        for region in mem.iter() {
            let gpa = region.start_addr().0;
            let len = region.len();
            let host = region
                .get_host_address(MemoryRegionAddress(0))
                .map_err(|e| qomgen::Error::new(format!("guest RAM at {gpa:#x}: {e}")))?;
            // SAFETY: `host..host+len` is the anonymous mapping vm-memory made
            // for this region; the VMM keeps `mem` alive until after this
            // adapter is dropped, and Drop unmaps it here first. Guest RAM is
            // only accessed through vm-memory's volatile accessors, never as
            // Rust references assuming exclusivity.
            unsafe { dma.map_host(host, len, gpa, DmaAccess::READ_WRITE) }.map_err(|e| {
                qomgen::Error::new(format!(
                    "mapping guest RAM {gpa:#x}+{len:#x} for DMA (IOVA = GPA): {e}"
                ))
            })?;
            self.dma.push((gpa, len));
        }
        Ok(())
    }
}

impl Adapter<'_> {
    fn write_through(&self, offset: u16, data: &[u8]) {
        let r = self
            .driver
            .config()
            .and_then(|c| c.write(u64::from(offset), data));
        if let Err(e) = r {
            // Writes past the end or to read-only bits are dropped, as on
            // real hardware.
            eprintln!("adapter: config write at {offset:#x}: {e}");
        }
    }
}

impl Drop for Adapter<'_> {
    fn drop(&mut self) {
        self.vectors.clear();
        self.msi = None;
        let dma = self.driver.dma();
        for (iova, len) in self.dma.drain(..) {
            if let Err(e) = dma.unmap_host(iova, len) {
                eprintln!("adapter: unmapping guest RAM at IOVA {iova:#x}: {e}");
            }
        }
    }
}
