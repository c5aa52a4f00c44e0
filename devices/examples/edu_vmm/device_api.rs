//! What the VMM needs from an assigned PCI function, in the shape of
//! `qomgen_devices::guest::pci::PciFunction` (being written on main).
//!
//! The types are defined here for now so the VMM can be built and proved
//! against the existing driver API ([`crate::adapter`]); when the real
//! `PciFunction` lands, this module re-exports its types and the trait is
//! implemented for it (or dropped), without touching the VMM.

// The types mirror the whole `PciFunction` API; the VMM uses part of it.
#![allow(dead_code)]

use vm_memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::EventFd;

/// Address space a BAR decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// Memory space (MMIO).
    Memory,
    /// I/O port space.
    Io,
}

/// The kind of a BAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarKind {
    /// I/O space BAR.
    Io,
    /// 32-bit memory BAR.
    Mem32,
    /// 64-bit memory BAR (uses two BAR registers).
    Mem64,
    /// Expansion ROM.
    Rom,
}

/// A part of a BAR the VMM may map straight into the guest.
#[derive(Debug, Clone, Copy)]
pub struct MmapArea {
    /// Offset in the BAR.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// Host address of the mapping (valid while the function is realized).
    pub host: *mut u8,
}

/// One implemented BAR as the guest sees it.
#[derive(Debug, Clone)]
pub struct GuestBar {
    /// BAR index (0-5, the ROM is 6).
    pub index: u8,
    /// Kind.
    pub kind: BarKind,
    /// Size in bytes.
    pub size: u64,
    /// Prefetchable memory.
    pub prefetchable: bool,
    /// Guest address it decodes now: programmed and enabled in COMMAND.
    pub address: Option<u64>,
    /// Parts that may be mapped (at `address + offset`); the rest is trapped.
    pub areas: Vec<MmapArea>,
}

/// What a config or BAR write changed, for the VMM to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A BAR started, stopped or moved decoding.
    BarMoved {
        /// BAR index.
        bar: u8,
        /// Address it decoded before.
        old: Option<u64>,
        /// Address it decodes now.
        new: Option<u64>,
    },
    /// MSI/MSI-X vectors changed (enabled, disabled, message, mask).
    VectorsChanged,
    /// The INTx line changed.
    IntxChanged,
}

/// An MSI message as the guest programmed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsiMessage {
    /// Address (x86: 0xFEEx_xxxx).
    pub address: u64,
    /// Data (x86: vector and delivery mode).
    pub data: u32,
}

/// How a vector reaches the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The eventfd is bound to KVM with KVM_IRQFD on an MSI route.
    Irqfd,
    /// The VMM reads the eventfd and injects with KVM_SIGNAL_MSI
    /// (`x-no-kvm-msi=on`).
    Userspace,
}

/// One MSI/MSI-X vector in use.
#[derive(Debug)]
pub struct Vector {
    /// Vector number.
    pub index: u16,
    /// The message the guest programmed.
    pub message: MsiMessage,
    /// Masked by the guest.
    pub masked: bool,
    /// How the VMM must deliver it.
    pub route: Route,
    /// Signalled by the host device on each interrupt.
    pub eventfd: EventFd,
}

impl Vector {
    /// The eventfd the device signals.
    pub fn eventfd(&self) -> &EventFd {
        &self.eventfd
    }
}

/// The guest-facing PCI function the VMM drives: exactly the methods of
/// `PciFunction` it uses.
pub trait PciFunctionApi {
    /// Config read of 1, 2 or 4 bytes at `offset` (< 4096).
    fn config_read(&mut self, offset: u16, data: &mut [u8]);
    /// Config write of 1, 2 or 4 bytes at `offset`.
    fn config_write(&mut self, offset: u16, data: &[u8]) -> Vec<Event>;
    /// Implemented BARs.
    fn bars(&self) -> &[GuestBar];
    /// Which BAR decodes `addr` in `space` now, and the offset in it.
    fn bar_at(&self, addr: u64, space: Space) -> Option<(u8, u64)>;
    /// A trapped BAR read.
    fn bar_read(&mut self, bar: u8, offset: u64, data: &mut [u8]);
    /// A trapped BAR write.
    fn bar_write(&mut self, bar: u8, offset: u64, data: &[u8]) -> Vec<Event>;
    /// MSI/MSI-X vectors in use.
    fn vectors(&self) -> &[Vector];
    /// Maps all of guest RAM for the device's DMA at IOVA = GPA.
    ///
    /// # Errors
    /// Refused in no-IOMMU mode; the backend refusing.
    fn map_guest_memory(&mut self, mem: &GuestMemoryMmap) -> qomgen::Result<()>;
}
