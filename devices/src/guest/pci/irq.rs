//! Interrupts as the guest programs them: the emulated MSI and MSI-X
//! capabilities, the MSI-X table and PBA, and INTx (QEMU's `msi_init`
//! and `msix_init` in hw/pci/msi.c and msix.c; `vfio_msi_setup`,
//! `vfio_msi_enable`, `vfio_msix_enable`, `vfio_intx_enable` in
//! hw/vfio/pci.c, QEMU 10.2).

use std::os::fd::{AsRawFd, BorrowedFd};

use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

use super::config::{ConfigSpace, Mask};

const PCI_MSI_FLAGS: usize = 2;
const PCI_MSI_FLAGS_ENABLE: u16 = 0x1;
const PCI_MSI_FLAGS_QMASK: u16 = 0xe;
const PCI_MSI_FLAGS_QSIZE: u16 = 0x70;
const PCI_MSI_FLAGS_64BIT: u16 = 0x80;
const PCI_MSI_FLAGS_MASKBIT: u16 = 0x100;
const PCI_MSIX_FLAGS_QSIZE: u16 = 0x7ff;
const PCI_MSIX_FLAGS_MASKALL: u16 = 0x4000;
const PCI_MSIX_FLAGS_ENABLE: u16 = 0x8000;
/// Bytes of one MSI-X table entry.
pub(crate) const MSIX_ENTRY_SIZE: usize = 16;
const MSIX_CAP_LENGTH: usize = 12;
const PCI_MSIX_ENTRY_CTRL_MASKBIT: u32 = 1;

/// An MSI message: what the device writes, and where, to interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MsiMessage {
    /// Address (on x86, 0xFEEx_xxxx selects the local APIC).
    pub address: u64,
    /// Data (on x86, the vector and delivery mode).
    pub data: u32,
}

/// How a VMM delivers a vector or INTx, as `x-no-kvm-intx`,
/// `x-no-kvm-msi` and `x-no-kvm-msix` choose (QEMU's `vfio_add_kvm_msi_virq`
/// and `vfio_intx_enable_kvm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Straight from the eventfd to the guest: a KVM irqfd (with the
    /// resample eventfd for INTx), no VMM code on the path.
    Irqfd,
    /// Through the VMM: it reads the eventfd and injects the message (or
    /// asserts INTx, and calls [`super::PciFunction::intx_eoi`] on EOI).
    Userspace,
}

/// One MSI or MSI-X vector in use.
#[derive(Debug)]
pub struct Vector {
    /// Vector number (0-based).
    pub index: u16,
    /// The message as the guest programmed it (for MSI with several
    /// vectors, the data's low bits carry the vector number).
    pub message: MsiMessage,
    /// Masked by the guest (per-vector mask, or MSI-X's function mask): a
    /// VMM must not deliver it; signals wait in the eventfd and read as
    /// pending in the PBA until unmasked.
    pub masked: bool,
    /// How to deliver it.
    pub route: Route,
    eventfd: EventFd,
}

impl Vector {
    /// The eventfd the device signals for this vector.
    pub fn eventfd(&self) -> &EventFd {
        &self.eventfd
    }

    pub(crate) fn new(index: u16, route: Route) -> std::io::Result<Vector> {
        Ok(Vector {
            index,
            message: MsiMessage::default(),
            masked: false,
            route,
            eventfd: EventFd::new(EFD_NONBLOCK)?,
        })
    }

    /// A signal waits in the eventfd (without consuming it).
    pub(crate) fn signalled(&self) -> bool {
        readable(&self.eventfd)
    }
}

/// An eventfd as a borrowed descriptor, for `VFIO_DEVICE_SET_IRQS`.
pub(crate) fn borrowed(fd: &EventFd) -> BorrowedFd<'_> {
    // SAFETY: the descriptor is owned by `fd`, which outlives the borrow.
    unsafe { BorrowedFd::borrow_raw(fd.as_raw_fd()) }
}

fn readable(fd: &EventFd) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the call; timeout 0 never blocks.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n == 1 && p.revents & libc::POLLIN != 0
}

/// INTx of the function.
#[derive(Debug)]
pub struct Intx {
    /// Interrupt pin, 1 (INTA#) to 4 (INTD#).
    pub pin: u8,
    /// How to deliver it.
    pub route: Route,
    /// Whether the host signals it now (INTx is off while MSI or MSI-X is
    /// enabled).
    pub enabled: bool,
    trigger: EventFd,
    resample: EventFd,
}

impl Intx {
    pub(crate) fn new(pin: u8, route: Route) -> std::io::Result<Intx> {
        Ok(Intx {
            pin,
            route,
            enabled: false,
            trigger: EventFd::new(EFD_NONBLOCK)?,
            resample: EventFd::new(EFD_NONBLOCK)?,
        })
    }

    /// Signalled when the device asserts INTx (the host masks it until
    /// it is unmasked).
    pub fn trigger(&self) -> &EventFd {
        &self.trigger
    }

    /// The resample eventfd for a KVM irqfd (`KVM_IRQFD_FLAG_RESAMPLE`):
    /// KVM signals it on the guest's EOI and the host unmasks INTx. Only
    /// registered with the host for [`Route::Irqfd`].
    pub fn resample(&self) -> &EventFd {
        &self.resample
    }
}

/// The emulated MSI capability.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MsiCap {
    pub(crate) pos: usize,
    pub(crate) vectors: u32,
    is64: bool,
    maskbit: bool,
    /// QEMU's `msi_cap_size`.
    pub(crate) size: usize,
}

impl MsiCap {
    /// QEMU's `msi_init` on the copy, from the device's flags.
    pub(crate) fn init(cfg: &mut ConfigSpace, pos: usize) -> MsiCap {
        let ctrl = cfg.word(pos + PCI_MSI_FLAGS);
        let is64 = ctrl & PCI_MSI_FLAGS_64BIT != 0;
        let maskbit = ctrl & PCI_MSI_FLAGS_MASKBIT != 0;
        let log2 = (ctrl & PCI_MSI_FLAGS_QMASK) >> 1;
        let log2 = log2.min(5);
        let vectors = 1u32 << log2;
        let size = Self::size_of(ctrl);
        let mut flags = log2 << 1;
        if is64 {
            flags |= PCI_MSI_FLAGS_64BIT;
        }
        if maskbit {
            flags |= PCI_MSI_FLAGS_MASKBIT;
        }
        cfg.set_word(pos + PCI_MSI_FLAGS, flags);
        let cap = MsiCap {
            pos,
            vectors,
            is64,
            maskbit,
            size,
        };
        cfg.set_mask(
            Mask::W,
            pos + PCI_MSI_FLAGS,
            2,
            u32::from(PCI_MSI_FLAGS_QSIZE | PCI_MSI_FLAGS_ENABLE),
        );
        cfg.set_mask(Mask::W, pos + 4, 4, 0xffff_fffc);
        if is64 {
            cfg.set_mask(Mask::W, pos + 8, 4, u32::MAX);
        }
        cfg.set_mask(Mask::W, cap.data_at(), 2, 0xffff);
        if maskbit {
            cfg.set_mask(Mask::W, cap.data_at() + 4, 4, u32::MAX >> (32 - vectors));
        }
        // vfio_pci_config_setup: "QEMU emulates all of MSI & MSIX".
        for i in 0..size {
            cfg.emulated[pos + i] = 0xff;
        }
        cap
    }

    /// QEMU's `msi_cap_sizeof` for the device's flags: the bytes the
    /// capability's registers take.
    pub(crate) fn size_of(ctrl: u16) -> usize {
        let is64 = ctrl & PCI_MSI_FLAGS_64BIT != 0;
        let maskbit = ctrl & PCI_MSI_FLAGS_MASKBIT != 0;
        0xa + if maskbit { 0xa } else { 0 } + if is64 { 4 } else { 0 }
    }

    fn data_at(&self) -> usize {
        self.pos + if self.is64 { 12 } else { 8 }
    }

    pub(crate) fn enabled(&self, cfg: &ConfigSpace) -> bool {
        cfg.word(self.pos + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_ENABLE != 0
    }

    /// QEMU's `msi_write_config`: while MSI is enabled, a QSIZE above
    /// QMASK ("not legal by spec") is clamped to QMASK in config space.
    pub(crate) fn clamp_qsize(&self, cfg: &mut ConfigSpace) {
        let flags = cfg.word(self.pos + PCI_MSI_FLAGS);
        let num = (flags & PCI_MSI_FLAGS_QSIZE) >> 4;
        let max = (flags & PCI_MSI_FLAGS_QMASK) >> 1;
        if flags & PCI_MSI_FLAGS_ENABLE != 0 && num > max {
            let flags = (flags & !PCI_MSI_FLAGS_QSIZE) | (max << 4);
            cfg.set_word(self.pos + PCI_MSI_FLAGS, flags);
        }
    }

    /// QEMU's `msi_nr_vectors_allocated`: what the guest enabled.
    pub(crate) fn allocated(&self, cfg: &ConfigSpace) -> u32 {
        let qsize = (cfg.word(self.pos + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_QSIZE) >> 4;
        (1u32 << qsize.min(5)).min(self.vectors)
    }

    /// QEMU's `msi_get_message`.
    pub(crate) fn message(&self, cfg: &ConfigSpace, vector: u32) -> MsiMessage {
        let lo = u64::from(cfg.long(self.pos + 4));
        let hi = if self.is64 {
            u64::from(cfg.long(self.pos + 8))
        } else {
            0
        };
        let nr = self.allocated(cfg);
        let data = u32::from(cfg.word(self.data_at()));
        MsiMessage {
            address: lo | (hi << 32),
            data: (data & !(nr - 1)) | vector,
        }
    }

    pub(crate) fn masked(&self, cfg: &ConfigSpace, vector: u32) -> bool {
        self.maskbit && cfg.long(self.data_at() + 4) & (1 << vector) != 0
    }
}

/// The emulated MSI-X capability, table and PBA.
#[derive(Debug, Clone)]
pub(crate) struct MsixCap {
    pub(crate) pos: usize,
    pub(crate) entries: u16,
    pub(crate) table_bar: u8,
    pub(crate) table_offset: u64,
    pub(crate) pba_bar: u8,
    pub(crate) pba_offset: u64,
    /// `VFIO_IRQ_INFO_NORESIZE`: the host takes no vector once MSI-X is
    /// on, so a vector past the enabled ones means disabling and enabling
    /// them all again.
    pub(crate) noresize: bool,
    pub(crate) table: Vec<u8>,
}

impl MsixCap {
    /// The capability's bytes (QEMU's `MSIX_CAP_LENGTH`).
    pub(crate) const SIZE: usize = MSIX_CAP_LENGTH;

    /// QEMU's `msix_init` on the copy: the table and PBA where realize
    /// placed them (after any `x-msix-relocation`), every vector masked.
    pub(crate) fn init(cfg: &mut ConfigSpace, pos: usize, info: &crate::attach::MsixInfo) -> Self {
        let entries = info.entries;
        cfg.set_word(pos + 2, (entries - 1) & PCI_MSIX_FLAGS_QSIZE);
        cfg.set_long(
            pos + 4,
            info.table_offset as u32 | u32::from(info.table_bar),
        );
        cfg.set_long(pos + 8, info.pba_offset as u32 | u32::from(info.pba_bar));
        cfg.set_mask(
            Mask::W,
            pos + 2,
            2,
            u32::from(PCI_MSIX_FLAGS_MASKALL | PCI_MSIX_FLAGS_ENABLE),
        );
        cfg.set_mask(Mask::W, pos + 4, 4, 0);
        cfg.set_mask(Mask::W, pos + 8, 4, 0);
        for i in 0..MSIX_CAP_LENGTH {
            cfg.emulated[pos + i] = 0xff;
        }
        let mut table = vec![0u8; usize::from(entries) * MSIX_ENTRY_SIZE];
        for e in table.chunks_mut(MSIX_ENTRY_SIZE) {
            e[12..16].copy_from_slice(&PCI_MSIX_ENTRY_CTRL_MASKBIT.to_le_bytes());
        }
        MsixCap {
            pos,
            entries,
            table_bar: info.table_bar,
            table_offset: info.table_offset,
            pba_bar: info.pba_bar,
            pba_offset: info.pba_offset,
            noresize: info.noresize,
            table,
        }
    }

    pub(crate) fn table_len(&self) -> u64 {
        self.table.len() as u64
    }

    pub(crate) fn pba_len(&self) -> u64 {
        u64::from(self.entries).div_ceil(64) * 8
    }

    pub(crate) fn enabled(&self, cfg: &ConfigSpace) -> bool {
        cfg.word(self.pos + 2) & PCI_MSIX_FLAGS_ENABLE != 0
    }

    pub(crate) fn function_masked(&self, cfg: &ConfigSpace) -> bool {
        cfg.word(self.pos + 2) & PCI_MSIX_FLAGS_MASKALL != 0
    }

    fn entry_long(&self, vector: usize, field: usize) -> u32 {
        let at = vector * MSIX_ENTRY_SIZE + field;
        u32::from_le_bytes([
            self.table[at],
            self.table[at + 1],
            self.table[at + 2],
            self.table[at + 3],
        ])
    }

    pub(crate) fn message(&self, vector: usize) -> MsiMessage {
        MsiMessage {
            address: u64::from(self.entry_long(vector, 0))
                | (u64::from(self.entry_long(vector, 4)) << 32),
            data: self.entry_long(vector, 8),
        }
    }

    pub(crate) fn entry_masked(&self, vector: usize) -> bool {
        self.entry_long(vector, 12) & PCI_MSIX_ENTRY_CTRL_MASKBIT != 0
    }

    /// QEMU's `msix_is_masked`: by its vector control or by the function.
    pub(crate) fn masked(&self, cfg: &ConfigSpace, vector: usize) -> bool {
        self.entry_masked(vector) || self.function_masked(cfg)
    }

    /// A guest write to the table: every field is writable, the vector
    /// control's reserved bits excepted (QEMU's `msix_table_mmio_write`).
    pub(crate) fn write_table(&mut self, offset: usize, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            let at = offset + i;
            if at >= self.table.len() {
                break;
            }
            let field = at % MSIX_ENTRY_SIZE;
            self.table[at] = match field {
                12 => b & PCI_MSIX_ENTRY_CTRL_MASKBIT as u8,
                13..=15 => 0,
                _ => b,
            };
        }
    }
}
