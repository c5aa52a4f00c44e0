//! The PCI function a guest sees of an assigned device: what vfio-pci's
//! realize builds after it attached the host device, for any VMM.
//!
//! One place decides what is emulated, what is passed through and what is
//! mapped, as QEMU's hw/vfio/pci.c does (QEMU 10.2):
//!
//! | part | guest reads | guest writes | QEMU |
//! |---|---|---|---|
//! | IDs (with `x-pci-*-id`), class (with `x-pci-class-code`) | emulated | ignored | `vfio_pci_config_setup` |
//! | header type's multi-function bit | emulated (`multifunction`) | ignored | same |
//! | BARs 0-5 and the ROM BAR | emulated, with the sizing protocol | emulated | `pci_register_bar`, `vfio_bar_register` |
//! | COMMAND, STATUS and the rest of the header | the device | the device (its memory/I/O enables also decode the BARs here) | `vfio_pci_read_config`, `vfio_pci_write_config` |
//! | capability list pointers | emulated (hidden capabilities are skipped) | ignored | `vfio_add_std_cap`, `vfio_add_ext_cap` |
//! | MSI, MSI-X capabilities | emulated | emulated; enabling reaches the host through `VFIO_DEVICE_SET_IRQS` | `vfio_msi_enable`, `vfio_msix_enable` |
//! | PCIe capability | as the bus needs it ([`BusKind`]) | the device | `vfio_setup_pcie_cap` |
//! | power state (PM capability's PMCSR) | the device | the device, and tracked: the BARs decode in D0 only | `pci_pm_init`, `pci_pm_update` |
//! | BAR contents | mapped ([`MmapArea`]), except MSI-X table/PBA pages and with `x-no-mmap=on` | same | `vfio_region_mmap`, `vfio_pci_fixup_msix_region` |
//! | MSI-X table and PBA | emulated | emulated; unmasking a vector the first time reaches the host | `msix_init`, `vfio_msix_vector_use` |
//! | ROM contents | the device's ROM region, or `romfile=` | ignored | `vfio_rom_read`, `pci_add_option_rom` |
//!
//! A VMM hands config-space accesses of the function's slot to
//! [`PciFunction::config_read`] / [`PciFunction::config_write`], maps each
//! BAR's [`MmapArea`]s at the BAR's [`GuestBar::address`] (moving them on
//! [`Event::BarMoved`]), sends every other access inside a BAR to
//! [`PciFunction::bar_read`] / [`PciFunction::bar_write`], routes
//! [`PciFunction::vectors`] (on [`Event::VectorsChanged`]) and INTx, and
//! maps its guest memory (vm-memory's `GuestMemoryMmap`, or any
//! `GuestMemoryBackend`) for DMA with [`PciFunction::map_guest_memory`].

mod bars;
mod caps;
mod config;
mod dma;
mod host;
mod interrupts;
mod irq;
mod pm;

use qomgen::{Error, Result};
use vfio_bindings::bindings::vfio as vb;

pub use bars::{BarKind, GuestBar, MmapArea, ROM_BAR, Space};
pub use host::{HostFunction, VfioHost};
pub use irq::{Intx, MsiMessage, Route, Vector};

use crate::attach::{Bar, MsixInfo};
use crate::sys::SysError;
use config::*;
use irq::{MsiCap, MsixCap};

const CONFIG: u32 = vb::VFIO_PCI_CONFIG_REGION_INDEX;
const ROM: u32 = vb::VFIO_PCI_ROM_REGION_INDEX;
const INTX: u32 = vb::VFIO_PCI_INTX_IRQ_INDEX;
const MSI: u32 = vb::VFIO_PCI_MSI_IRQ_INDEX;
const MSIX: u32 = vb::VFIO_PCI_MSIX_IRQ_INDEX;

/// The bus the VMM puts the function on, which decides how its PCIe
/// capability is shown (QEMU's `vfio_setup_pcie_cap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BusKind {
    /// Conventional PCI with no PCIe above it (e.g. i440FX, or a VMM with
    /// only configuration mechanism #1): the PCIe capability is shown as
    /// the device has it, and no extended config space.
    #[default]
    Pci,
    /// Conventional PCI behind a bridge on a PCIe root complex: the PCIe
    /// capability is hidden (an express device there is no valid topology).
    PciUnderPcie,
    /// The root complex of a PCIe machine: endpoints become root-complex
    /// integrated endpoints without link registers; legacy endpoints lose
    /// the capability.
    PcieRoot,
    /// A PCIe root or downstream port: integrated endpoints become
    /// endpoints with a made-up x1 2.5 GT/s link.
    PciePort,
}

impl BusKind {
    fn express(self) -> bool {
        matches!(self, BusKind::PcieRoot | BusKind::PciePort)
    }
}

/// The ROM the function offers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RomSource {
    /// The device's own ROM region (`rombar` not 0, no `romfile`).
    #[default]
    Device,
    /// The contents of `romfile=`, in a BAR of `size` bytes (`romsize`, or
    /// the file's size rounded up to a power of two), or with `rombar=0`
    /// in no BAR: QEMU then hands it to the firmware.
    File {
        /// The file's bytes.
        image: Vec<u8>,
        /// The ROM BAR's size.
        size: u64,
        /// Whether the guest sees it in the ROM BAR (`rombar` not 0).
        bar: bool,
    },
    /// No ROM BAR (`rombar=0`, or `romfile=""`).
    None,
}

/// What the property table decides about the guest-facing function.
#[derive(Debug, Clone, Default)]
pub struct FunctionOptions {
    /// `x-pci-vendor-id`.
    pub vendor_id: Option<u16>,
    /// `x-pci-device-id`.
    pub device_id: Option<u16>,
    /// `x-pci-sub-vendor-id`.
    pub sub_vendor_id: Option<u16>,
    /// `x-pci-sub-device-id`.
    pub sub_device_id: Option<u16>,
    /// `x-pci-class-code` (24 bits).
    pub class_code: Option<u32>,
    /// `x-no-mmap`: trap every BAR access.
    pub no_mmap: bool,
    /// `multifunction`.
    pub multifunction: bool,
    /// `x-no-kvm-intx`: deliver INTx through the VMM.
    pub no_kvm_intx: bool,
    /// `x-no-kvm-msi`: deliver MSI through the VMM.
    pub no_kvm_msi: bool,
    /// `x-no-kvm-msix`: deliver MSI-X through the VMM.
    pub no_kvm_msix: bool,
    /// `romfile`, `rombar`, `romsize`.
    pub rom: RomSource,
    /// Where the VMM places the function.
    pub bus: BusKind,
}

/// What realize learned of the device, that the function is built from.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The device's config space as read at realize (256 or 4096 bytes).
    pub config: Vec<u8>,
    /// The BARs (sizes after any MSI-X relocation).
    pub bars: [Bar; 6],
    /// Where MSI-X's table and PBA are, after any relocation.
    pub msix: Option<MsixInfo>,
}

/// What a config or BAR write changed that the VMM must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A BAR now decodes elsewhere, or no longer (`None`): move its mapped
    /// areas and its trap.
    BarMoved {
        /// BAR index (or [`ROM_BAR`]).
        bar: u8,
        /// Where it decoded before.
        old: Option<u64>,
        /// Where it decodes now.
        new: Option<u64>,
    },
    /// MSI or MSI-X vectors were enabled, disabled, reprogrammed, masked
    /// or unmasked: rebuild routes from [`PciFunction::vectors`].
    VectorsChanged,
    /// INTx was enabled or disabled ([`PciFunction::intx`]).
    IntxChanged,
}

/// Which interrupt the host signals now (QEMU's `vdev->interrupt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    None,
    Intx,
    Msi,
    Msix,
}

/// Where a trapped BAR access lands (see `PciFunction::bar_part`).
enum BarPart {
    /// The emulated MSI-X table, at this offset into it.
    MsixTable(usize),
    /// The emulated PBA, at this offset into it.
    MsixPba(usize),
    /// Past the device's region: space a relocation added to the BAR; or
    /// an MSI-X table or PBA access of a width or alignment QEMU's
    /// `msix_table_mmio_ops` / `msix_pba_mmio_ops` do not take (4 or 8
    /// bytes, naturally aligned): reads 0, writes go nowhere, as QEMU's
    /// memory core answers an invalid access (`unassigned_mem_read`).
    Added,
    /// The device's region of this index.
    Region(u32),
}

/// The guest-facing PCI function of an assigned device.
#[derive(Debug)]
pub struct PciFunction {
    host: Box<dyn HostFunction>,
    cfg: ConfigSpace,
    bars: Vec<GuestBar>,
    msi: Option<MsiCap>,
    msix: Option<MsixCap>,
    /// The power-management capability's position (see `pm`).
    pm: Option<usize>,
    mode: Mode,
    vectors: Vec<Vector>,
    intx: Option<Intx>,
    options: FunctionOptions,
    rom: Option<Vec<u8>>,
    dma: Vec<(u64, u64)>,
    errors: Vec<String>,
    /// The host's region size of each BAR 0-5 (0: none), read once: a
    /// trapped access is bounded by it without asking the host each time.
    region_sizes: [u64; 6],
}

fn host_page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

impl PciFunction {
    /// Builds the function over `host`, as QEMU's vfio-pci realize does
    /// after the device is attached (`vfio_pci_config_setup`,
    /// `vfio_bars_register`, `vfio_add_capabilities`, `vfio_intx_enable`).
    ///
    /// # Errors
    /// Enabling INTx on the host failing (QEMU's `Failed to setup INTx fd`),
    /// or no eventfd to be had; an MSI or MSI-X capability QEMU's
    /// `vfio_add_std_cap` refuses (see `add_capabilities`).
    pub fn new(
        host: Box<dyn HostFunction>,
        layout: &Layout,
        options: FunctionOptions,
    ) -> Result<PciFunction> {
        let size = if options.bus.express() && layout.config.len() >= PCIE_CONFIG_SPACE_SIZE {
            PCIE_CONFIG_SPACE_SIZE
        } else {
            PCI_CONFIG_SPACE_SIZE
        };
        let mut cfg = ConfigSpace::new(&layout.config, size);
        // "QEMU can choose to expose the ROM or not".
        cfg.set_mask(Mask::Emulated, PCI_ROM_ADDRESS, 4, u32::MAX);
        if let Some(v) = options.vendor_id {
            cfg.add_emulated_word(PCI_VENDOR_ID, v, !0);
        }
        if let Some(v) = options.device_id {
            cfg.add_emulated_word(PCI_DEVICE_ID, v, !0);
        }
        if let Some(v) = options.sub_vendor_id {
            cfg.add_emulated_word(PCI_SUBSYSTEM_VENDOR_ID, v, !0);
        }
        if let Some(v) = options.sub_device_id {
            cfg.add_emulated_word(PCI_SUBSYSTEM_ID, v, !0);
        }
        if let Some(c) = options.class_code {
            // The class code is the upper 24 bits of PCI_CLASS_REVISION.
            cfg.add_emulated_long(PCI_CLASS_PROG - 1, c << 8, !0xff);
        }
        cfg.emulated[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_MULTI_FUNCTION;
        if options.multifunction {
            cfg.bytes[PCI_HEADER_TYPE] |= PCI_HEADER_TYPE_MULTI_FUNCTION;
        } else {
            cfg.bytes[PCI_HEADER_TYPE] &= !PCI_HEADER_TYPE_MULTI_FUNCTION;
        }
        let rom_size = match &options.rom {
            RomSource::Device => host.region(ROM).map_or(0, |r| r.size),
            RomSource::File {
                size, bar: true, ..
            } => *size,
            RomSource::File { bar: false, .. } | RomSource::None => 0,
        };
        let rom = match &options.rom {
            RomSource::File { image, .. } => Some(image.clone()),
            _ => None,
        };
        let mut regs = [0u32; 6];
        for (i, r) in regs.iter_mut().enumerate() {
            let at = PCI_BASE_ADDRESS_0 + 4 * i;
            *r = u32::from_le_bytes([
                layout.config.get(at).copied().unwrap_or(0),
                layout.config.get(at + 1).copied().unwrap_or(0),
                layout.config.get(at + 2).copied().unwrap_or(0),
                layout.config.get(at + 3).copied().unwrap_or(0),
            ]);
        }
        let mut bars = bars::register(&mut cfg, &layout.bars, &regs, rom_size);
        let mut errors = Vec::new();
        if !options.no_mmap {
            let page = host_page_size();
            for bar in bars
                .iter_mut()
                .filter(|b| matches!(b.kind, BarKind::Mem32 | BarKind::Mem64))
            {
                let index = u32::from(bar.index);
                let Some(region) = host.region(index) else {
                    continue;
                };
                for (off, len) in
                    bars::mappable_areas(region, bar.index, layout.msix.as_ref(), page)
                {
                    match host.mmap(index, off, len) {
                        Ok(m) => bar.areas.push(bars::area(off, m)),
                        // QEMU's vfio_bar_register: the BAR still works, trapped.
                        Err(_) => errors.push(format!(
                            "Failed to mmap {} BAR {}. Performance may be slow",
                            host.name(),
                            bar.index
                        )),
                    }
                }
            }
        }
        let region_sizes = std::array::from_fn(|i| host.region(i as u32).map_or(0, |r| r.size));
        let mut f = PciFunction {
            host,
            cfg,
            bars,
            msi: None,
            msix: None,
            pm: None,
            mode: Mode::None,
            vectors: Vec::new(),
            intx: None,
            options,
            rom,
            dma: Vec::new(),
            errors,
            region_sizes,
        };
        f.add_capabilities(layout.msix.as_ref())?;
        f.quiesce();
        let pin = f.cfg.byte(PCI_INTERRUPT_PIN);
        if (1..=4).contains(&pin) && f.host.irq_count(INTX) > 0 {
            let route = if f.options.no_kvm_intx {
                Route::Userspace
            } else {
                Route::Irqfd
            };
            f.intx = Some(Intx::new(pin, route).map_err(|e| {
                Error::new(format!("vfio: Error: event_notifier_init failed: {e}"))
            })?);
            if let Err(e) = f.intx_enable(&mut Vec::new()) {
                return Err(Error::new(e));
            }
        }
        Ok(f)
    }

    /// The state a guest finds at machine reset (QEMU's
    /// `vfio_pci_pre_reset` and `pci_do_device_reset`): no I/O or memory
    /// decoding, no bus mastering, INTx not disabled, whatever the
    /// device's previous user left.
    fn quiesce(&mut self) {
        let cmd = self.config_word(PCI_COMMAND as u16)
            & !(PCI_COMMAND_IO
                | PCI_COMMAND_MEMORY
                | PCI_COMMAND_MASTER
                | PCI_COMMAND_INTX_DISABLE);
        self.config_write(PCI_COMMAND as u16, &cmd.to_le_bytes());
    }

    fn config_word(&mut self, at: u16) -> u16 {
        let mut b = [0u8; 2];
        self.config_read(at, &mut b);
        u16::from_le_bytes(b)
    }

    /// The device's name (its BDF for a host device).
    pub fn name(&self) -> &str {
        self.host.name()
    }

    /// The BARs the guest sees (the ROM as [`ROM_BAR`]).
    pub fn bars(&self) -> &[GuestBar] {
        &self.bars
    }

    /// BAR `index`, if the function has it.
    pub fn bar(&self, index: u8) -> Option<&GuestBar> {
        self.bars.iter().find(|b| b.index == index)
    }

    /// The BAR decoding `addr` in `space` now, and the offset in it.
    pub fn bar_at(&self, addr: u64, space: Space) -> Option<(u8, u64)> {
        self.bars.iter().find_map(|b| {
            let base = b.address?;
            (b.space() == space && addr >= base && addr - base < b.size)
                .then(|| (b.index, addr - base))
        })
    }

    /// The MSI or MSI-X vectors in use (empty with INTx or none), by
    /// [`Vector::index`]: with MSI every vector the guest allocated, with
    /// MSI-X those it has unmasked since enabling it (QEMU's
    /// `vfio_msix_vector_use`), so a VMM re-reads them on
    /// [`Event::VectorsChanged`].
    pub fn vectors(&self) -> &[Vector] {
        &self.vectors
    }

    /// INTx, if the device has a pin.
    pub fn intx(&self) -> Option<&Intx> {
        self.intx.as_ref()
    }

    /// The bytes of `romfile=`, whatever `rombar` says: with `rombar=0`
    /// QEMU hands them to the firmware instead of a BAR.
    pub fn rom_image(&self) -> Option<&[u8]> {
        match &self.options.rom {
            RomSource::File { image, .. } => Some(image),
            _ => None,
        }
    }

    /// Failures of the host accesses behind trapped reads and writes (which
    /// QEMU reports with `error_report` and goes on), oldest first; taking
    /// them clears the list.
    pub fn take_errors(&mut self) -> Vec<String> {
        std::mem::take(&mut self.errors)
    }

    /// A guest read of config space: `data.len()` bytes (1, 2 or 4) at
    /// `offset`, emulated bits from the function's copy and the others
    /// from the device (QEMU's `vfio_pci_read_config`). Reads outside the
    /// config space or of another width read as all ones.
    pub fn config_read(&mut self, offset: u16, data: &mut [u8]) {
        let at = usize::from(offset);
        let len = data.len();
        if !matches!(len, 1 | 2 | 4) || at % len != 0 || at + len > self.cfg.len() {
            data.fill(0xff);
            return;
        }
        let full = u32::MAX >> (32 - 8 * len);
        let emu = self.cfg.emulated_bits(at, len);
        let mut phys = 0;
        if !emu & full != 0 {
            let mut b = [0u8; 4];
            match self.host.read(CONFIG, u64::from(offset), &mut b[..len]) {
                Ok(()) => phys = u32::from_le_bytes(b),
                Err(e) => {
                    self.errors.push(format!(
                        "vfio_pci_read_config({}, 0x{at:x}, 0x{len:x}) failed: {}",
                        self.host.name(),
                        e.strerror()
                    ));
                    phys = full;
                }
            }
        }
        let v = (self.cfg.value(at, len) & emu) | (phys & !emu);
        data.copy_from_slice(&v.to_le_bytes()[..len]);
    }

    /// A guest write to config space (QEMU's `vfio_pci_write_config`):
    /// everything goes to the device, which filters what it virtualizes;
    /// the function's copy takes the writable bits, and MSI/MSI-X enables
    /// and BAR moves take effect.
    pub fn config_write(&mut self, offset: u16, data: &[u8]) -> Vec<Event> {
        let at = usize::from(offset);
        let len = data.len();
        let mut events = Vec::new();
        if !matches!(len, 1 | 2 | 4) || at % len != 0 || at + len > self.cfg.len() {
            return events;
        }
        if let Err(e) = self.host.write(CONFIG, u64::from(offset), data) {
            let mut b = [0u8; 4];
            b[..len].copy_from_slice(data);
            self.errors.push(format!(
                "vfio_pci_write_config({}, 0x{at:x}, 0x{:x}, 0x{len:x}) failed: {}",
                self.host.name(),
                u32::from_le_bytes(b),
                e.strerror()
            ));
        }
        let overlaps = |pos: usize, size: usize| at < pos + size && pos < at + len;
        if let Some(msi) = self.msi.filter(|m| overlaps(m.pos, m.size)) {
            let was = msi.enabled(&self.cfg);
            self.cfg.write(at, data);
            msi.clamp_qsize(&mut self.cfg);
            match (was, msi.enabled(&self.cfg)) {
                (false, true) => self.vectors_enable(Mode::Msi, &mut events),
                (true, false) => self.vectors_disable(&mut events),
                (true, true) => self.refresh_vectors(&mut events),
                (false, false) => {}
            }
        } else if let Some(was) = self
            .msix
            .as_ref()
            .filter(|m| overlaps(m.pos, 12))
            .map(|m| (m.enabled(&self.cfg), m.function_masked(&self.cfg)))
        {
            self.cfg.write(at, data);
            let now = self.msix.as_ref().map_or(was, |m| {
                (m.enabled(&self.cfg), m.function_masked(&self.cfg))
            });
            match (was, now) {
                ((false, _), (true, _)) => self.vectors_enable(Mode::Msix, &mut events),
                ((true, _), (false, _)) => self.vectors_disable(&mut events),
                ((true, a), (true, b)) if a != b => self.msix_update(&mut events),
                _ => {}
            }
        } else {
            let old_pm = self.pm_state();
            self.cfg.write(at, data);
            let new_pm = self.pm_update(at, len, old_pm);
            if bars::touches_decode(at, len) || (old_pm == 0) != (new_pm == 0) {
                self.update_mappings(&mut events);
            }
        }
        events
    }

    /// QEMU's `pci_update_mappings`: recompute where each BAR decodes,
    /// nowhere outside D0.
    fn update_mappings(&mut self, events: &mut Vec<Event>) {
        let d0 = self.pm_state() == 0;
        for i in 0..self.bars.len() {
            let new = bars::decode(&self.cfg, &self.bars[i]).filter(|_| d0);
            let bar = &mut self.bars[i];
            if new != bar.address {
                events.push(Event::BarMoved {
                    bar: bar.index,
                    old: bar.address,
                    new,
                });
                bar.address = new;
            }
        }
    }

    /// A trapped guest read of `data.len()` bytes at `offset` in BAR `bar`:
    /// the MSI-X table and PBA are emulated, the ROM read from its source,
    /// the rest read from the device. Unknown BARs and offsets past the
    /// BAR read as all ones; a relocation's added space reads as zeros.
    pub fn bar_read(&mut self, bar: u8, offset: u64, data: &mut [u8]) {
        let Some(size) = self.bar(bar).map(|b| b.size) else {
            data.fill(0xff);
            return;
        };
        let len = data.len() as u64;
        if data.is_empty() || offset.checked_add(len).is_none_or(|e| e > size) {
            data.fill(0xff);
            return;
        }
        if bar == ROM_BAR {
            return self.rom_read(offset, data);
        }
        match self.bar_part(bar, offset, len) {
            BarPart::MsixTable(at) => {
                if let Some(m) = &self.msix {
                    data.copy_from_slice(&m.table[at..at + data.len()]);
                }
            }
            BarPart::MsixPba(at) => {
                let pba = self.pba();
                data.copy_from_slice(&pba[at..at + data.len()]);
            }
            BarPart::Added => data.fill(0),
            BarPart::Region(index) => {
                if let Err(e) = self.host.read(index, offset, data) {
                    self.region_error("read", index, offset, len, &e);
                    data.fill(0xff);
                }
            }
        }
    }

    /// A trapped guest write at `offset` in BAR `bar` (see
    /// [`PciFunction::bar_read`]). The ROM is read-only.
    pub fn bar_write(&mut self, bar: u8, offset: u64, data: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        let Some(size) = self.bar(bar).map(|b| b.size) else {
            return events;
        };
        let len = data.len() as u64;
        if bar == ROM_BAR || data.is_empty() || offset.checked_add(len).is_none_or(|e| e > size) {
            return events;
        }
        match self.bar_part(bar, offset, len) {
            BarPart::MsixTable(at) => {
                if let Some(m) = &mut self.msix {
                    m.write_table(at, data);
                }
                if self.mode == Mode::Msix {
                    self.msix_update(&mut events);
                }
            }
            // The PBA is read-only; a relocation's added space ignores writes.
            BarPart::MsixPba(_) | BarPart::Added => {}
            BarPart::Region(index) => {
                if let Err(e) = self.host.write(index, offset, data) {
                    self.region_error("write", index, offset, len, &e);
                }
            }
        }
        events
    }

    /// Which part of BAR `bar` an in-bounds access of `len` bytes at
    /// `offset` lands in, the one decision [`PciFunction::bar_read`] and
    /// [`PciFunction::bar_write`] share.
    fn bar_part(&self, bar: u8, offset: u64, len: u64) -> BarPart {
        if let Some(m) = &self.msix {
            let touches = |b: u8, start: u64, size: u64| {
                b == bar && offset < start.saturating_add(size) && start < offset + len
            };
            let valid = matches!(len, 4 | 8) && offset.is_multiple_of(len);
            if !valid
                && (touches(m.table_bar, m.table_offset, m.table_len())
                    || touches(m.pba_bar, m.pba_offset, m.pba_len()))
            {
                return BarPart::Added;
            }
            if bar == m.table_bar
                && offset >= m.table_offset
                && offset + len <= m.table_offset + m.table_len()
            {
                return BarPart::MsixTable((offset - m.table_offset) as usize);
            }
            if bar == m.pba_bar
                && offset >= m.pba_offset
                && offset + len <= m.pba_offset + m.pba_len()
            {
                return BarPart::MsixPba((offset - m.pba_offset) as usize);
            }
        }
        let region_size = self
            .region_sizes
            .get(usize::from(bar))
            .copied()
            .unwrap_or(0);
        if offset + len > region_size {
            BarPart::Added
        } else {
            BarPart::Region(u32::from(bar))
        }
    }

    /// Records a failed trapped access as QEMU reports it. Out of line:
    /// the trapped path stays short.
    #[cold]
    #[inline(never)]
    fn region_error(&mut self, op: &str, index: u32, offset: u64, len: u64, e: &SysError) {
        self.errors.push(format!(
            "vfio_region_{op}({}:region{index}+0x{offset:x}, {len}) failed: {}",
            self.host.name(),
            e.strerror()
        ));
    }

    /// The PBA: a masked vector whose eventfd holds a signal is pending.
    fn pba(&self) -> Vec<u8> {
        let Some(m) = &self.msix else {
            return Vec::new();
        };
        let mut pba = vec![0u8; m.pba_len() as usize];
        if self.mode == Mode::Msix {
            for v in self.vectors.iter().filter(|v| v.masked && v.signalled()) {
                pba[usize::from(v.index) / 8] |= 1 << (v.index % 8);
            }
        }
        pba
    }

    fn rom_read(&mut self, offset: u64, data: &mut [u8]) {
        if self.rom.is_none() {
            self.rom = Some(self.load_rom());
        }
        let rom = self.rom.as_deref().unwrap_or_default();
        for (i, b) in data.iter_mut().enumerate() {
            // Past the image, a ROM reads as all ones (QEMU's vfio_rom_read).
            *b = rom.get(offset as usize + i).copied().unwrap_or(0xff);
        }
    }

    /// QEMU's `vfio_pci_load_rom`: the whole ROM region, once.
    fn load_rom(&mut self) -> Vec<u8> {
        let size = self.host.region(ROM).map_or(0, |r| r.size);
        let mut buf = vec![0xffu8; usize::try_from(size).unwrap_or(0)];
        if !buf.is_empty()
            && let Err(e) = self.host.read(ROM, 0, &mut buf)
        {
            self.errors
                .push(format!("vfio: Error reading device ROM: {}", e.strerror()));
            buf.fill(0xff);
        }
        self.fix_rom_device_id(&mut buf);
        buf
    }

    /// QEMU's `vfio_pci_load_rom`: "if the vendor is correct but the
    /// device ID doesn't match, store the correct device ID and recompute
    /// the checksum" (the IDs the guest sees, `x-pci-*-id` included), so
    /// the firmware runs the ROM for the function.
    fn fix_rom_device_id(&self, rom: &mut [u8]) {
        let word = |rom: &[u8], at: usize| {
            rom.get(at..at + 2)
                .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
        };
        if word(rom, 0) != 0xaa55 {
            return;
        }
        let pcir = usize::from(word(rom, 0x18));
        if pcir + 8 >= rom.len() || &rom[pcir..pcir + 4] != b"PCIR" {
            return;
        }
        let (vendor, device) = (self.cfg.word(PCI_VENDOR_ID), self.cfg.word(PCI_DEVICE_ID));
        if word(rom, pcir + 4) != vendor || word(rom, pcir + 6) == device {
            return;
        }
        rom[pcir + 6..pcir + 8].copy_from_slice(&device.to_le_bytes());
        rom[6] = 0;
        let sum = rom.iter().fold(0u8, |s, &b| s.wrapping_add(b));
        rom[6] = sum.wrapping_neg();
    }
}

impl Drop for PciFunction {
    fn drop(&mut self) {
        // QEMU's vfio_exitfn: interrupts off, then the DMA mappings go
        // with the memory listener.
        self.disable_interrupts(&mut Vec::new());
        for (g, l) in std::mem::take(&mut self.dma) {
            let _ = self.host.dma_unmap(g, l);
        }
    }
}

#[cfg(test)]
mod tests;
// A VMM serves MMIO exits on its vCPU threads: the function moves there.
const _: () = {
    const fn is_send<T: Send>() {}
    is_send::<PciFunction>();
};
