//! Capabilities as the guest sees them: QEMU's `vfio_add_capabilities`,
//! `vfio_add_std_cap`, `vfio_setup_pcie_cap` and `vfio_add_ext_cap`
//! (hw/vfio/pci.c, QEMU 10.2).

use qomgen::{Error, Result};

use crate::attach::MsixInfo;

use super::config::{self, *};
use super::irq::{MsiCap, MsixCap};
use super::{BusKind, PciFunction};

const PCI_CAP_ID_PM: u8 = 0x01;
const PCI_CAP_ID_MSI: u8 = 0x05;
const PCI_CAP_ID_EXP: u8 = 0x10;
const PCI_CAP_ID_MSIX: u8 = 0x11;
const PCI_EXT_CAP_ID_ARI: u16 = 0x0e;
const PCI_EXT_CAP_ID_SRIOV: u16 = 0x10;
const PCI_EXT_CAP_ID_REBAR: u16 = 0x15;
const PCI_REBAR_CAP: usize = 4;
const PCI_REBAR_CTRL: usize = 8;
/// Bits 4-23 of the capability register: 1 MiB to 512 GiB.
const PCI_REBAR_CAP_SIZES: u32 = 0x00ff_fff0;
const PCI_REBAR_CTRL_BAR_IDX: u32 = 0x7;
const PCI_REBAR_CTRL_NBAR_MASK: u32 = 0xe0;
const PCI_REBAR_CTRL_NBAR_SHIFT: u32 = 5;
const PCI_REBAR_CTRL_BAR_SIZE: u32 = 0x1f00;
const PCI_REBAR_CTRL_BAR_SHIFT: u32 = 8;
const PCI_EXP_FLAGS_TYPE: u16 = 0x00f0;
const PCI_EXP_FLAGS_VERS: u16 = 0x000f;
const PCI_EXP_TYPE_ENDPOINT: u16 = 0x0;
const PCI_EXP_TYPE_LEG_END: u16 = 0x1;
const PCI_EXP_TYPE_RC_END: u16 = 0x9;
const PCI_EXP_LNKCAP: usize = 12;
const PCI_EXP_LNKCTL: usize = 16;
const PCI_EXP_LNKSTA: usize = 18;
const PCI_EXP_LNKCAP2: usize = 44;
const PCI_EXP_LNKCTL2: usize = 48;
const PCI_EXP_LNKSTA2: usize = 50;
const PCI_MSIX_MAX_ENTRIES: u16 = 2048;

impl PciFunction {
    /// QEMU's `vfio_add_capabilities`: the standard list rebuilt from the
    /// device's (MSI and MSI-X emulated, PCIe as the bus needs it, PM's
    /// power state tracked), then
    /// the extended list without SR-IOV and ARI (and a Resizable BAR one
    /// that cannot show its size).
    ///
    /// # Errors
    /// An MSI, MSI-X or PM capability whose registers run into the next
    /// capability or past the header, or MSI-X without vectors: QEMU's
    /// `pci_add_capability` (overlap) and `msix_init` refuse them, and
    /// `vfio_add_std_cap` fails realize with the message prefixed here.
    pub(super) fn add_capabilities(&mut self, msix: Option<&MsixInfo>) -> Result<()> {
        let caps = config::std_caps(&self.cfg);
        if caps.is_empty() {
            return Ok(());
        }
        for cap in &caps {
            let need = match cap.id {
                PCI_CAP_ID_MSI => MsiCap::size_of(self.cfg.word(cap.pos + 2)),
                PCI_CAP_ID_MSIX if msix.is_some() => MsixCap::SIZE,
                PCI_CAP_ID_PM => super::pm::PCI_PM_SIZEOF,
                _ => continue,
            };
            let fail = |why: String| {
                Err(Error::new(format!(
                    "failed to add PCI capability 0x{:x}[0x{:x}]@0x{:x}: {why}",
                    cap.id, cap.size, cap.pos
                )))
            };
            if need > cap.size {
                return fail(format!("it needs 0x{need:x} bytes"));
            }
            // msix_init: 1 to 2048 vectors.
            if cap.id == PCI_CAP_ID_MSIX
                && msix.is_some_and(|m| !(1..=PCI_MSIX_MAX_ENTRIES).contains(&m.entries))
            {
                return fail("The number of MSI-X vectors is invalid".into());
            }
        }
        // "Begin the rebuild, use QEMU emulated list bits".
        self.cfg.emulated[PCI_CAPABILITY_LIST] = 0xff;
        self.cfg.emulated[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
        let mut kept = Vec::new();
        for cap in &caps {
            // "Use emulated next pointer to allow dropping caps".
            self.cfg.emulated[cap.pos + 1] = 0xff;
            let keep = match cap.id {
                PCI_CAP_ID_MSI => {
                    self.msi = Some(MsiCap::init(&mut self.cfg, cap.pos));
                    true
                }
                PCI_CAP_ID_MSIX => match msix {
                    Some(info) => {
                        self.msix = Some(MsixCap::init(&mut self.cfg, cap.pos, info));
                        true
                    }
                    None => false,
                },
                PCI_CAP_ID_EXP => self.setup_pcie_cap(cap.pos, cap.size),
                PCI_CAP_ID_PM => {
                    self.pm_init(cap.pos);
                    true
                }
                _ => true,
            };
            if keep {
                // pci_add_capability: capabilities are read-only unless set up otherwise.
                if !matches!(cap.id, PCI_CAP_ID_MSI | PCI_CAP_ID_MSIX | PCI_CAP_ID_PM) {
                    self.cfg.set_mask_range(
                        Mask::W,
                        cap.pos,
                        cap.size.min(PCI_CONFIG_SPACE_SIZE - cap.pos),
                        0,
                    );
                }
                kept.push(cap.pos);
            }
        }
        let first = kept.first().copied().unwrap_or(0);
        self.cfg.bytes[PCI_CAPABILITY_LIST] = first as u8;
        if kept.is_empty() {
            self.cfg.bytes[PCI_STATUS] &= !PCI_STATUS_CAP_LIST;
        } else {
            self.cfg.bytes[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
        }
        for (i, &pos) in kept.iter().enumerate() {
            self.cfg.bytes[pos + 1] = kept.get(i + 1).copied().unwrap_or(0) as u8;
        }
        self.add_ext_caps();
        Ok(())
    }

    /// QEMU's `vfio_setup_pcie_cap`: whether the capability stays, and the
    /// fields emulated for the bus.
    fn setup_pcie_cap(&mut self, pos: usize, size: usize) -> bool {
        let flags = self.cfg.word(pos + 2);
        let kind = (flags & PCI_EXP_FLAGS_TYPE) >> 4;
        if !matches!(
            kind,
            PCI_EXP_TYPE_ENDPOINT | PCI_EXP_TYPE_LEG_END | PCI_EXP_TYPE_RC_END
        ) {
            // Realize refused these already (caps::check_std_caps).
            return false;
        }
        let keep = match self.options.bus {
            BusKind::Pci => true,
            BusKind::PciUnderPcie => false,
            BusKind::PcieRoot => match kind {
                PCI_EXP_TYPE_ENDPOINT => {
                    self.cfg.add_emulated_word(
                        pos + 2,
                        PCI_EXP_TYPE_RC_END << 4,
                        PCI_EXP_FLAGS_TYPE,
                    );
                    if size > PCI_EXP_LNKCTL {
                        self.emulate_in_cap(pos, size, PCI_EXP_LNKCAP, 4, 0);
                        self.emulate_in_cap(pos, size, PCI_EXP_LNKCTL, 2, 0);
                        self.emulate_in_cap(pos, size, PCI_EXP_LNKSTA, 2, 0);
                        if size > PCI_EXP_LNKCAP2 {
                            self.emulate_in_cap(pos, size, PCI_EXP_LNKCAP2, 4, 0);
                            self.emulate_in_cap(pos, size, PCI_EXP_LNKCTL2, 2, 0);
                            self.emulate_in_cap(pos, size, PCI_EXP_LNKSTA2, 2, 0);
                        }
                    }
                    true
                }
                PCI_EXP_TYPE_LEG_END => false,
                _ => true,
            },
            BusKind::PciePort => {
                if kind == PCI_EXP_TYPE_RC_END {
                    self.cfg.add_emulated_word(
                        pos + 2,
                        PCI_EXP_TYPE_ENDPOINT << 4,
                        PCI_EXP_FLAGS_TYPE,
                    );
                    // PCI_EXP_LNK_MLW_1 | PCI_EXP_LNK_LS_25.
                    self.emulate_in_cap(pos, size, PCI_EXP_LNKCAP, 4, 0x10 | 0x1);
                    self.emulate_in_cap(pos, size, PCI_EXP_LNKCTL, 2, 0);
                }
                // Link status emulated, so the guest sees the negotiated width and speed.
                if PCI_EXP_LNKSTA + 2 <= size {
                    let sta = self.cfg.word(pos + PCI_EXP_LNKSTA);
                    self.cfg
                        .add_emulated_word(pos + PCI_EXP_LNKSTA, sta, 0x03f0 | 0x000f);
                }
                true
            }
        };
        // "Intel 82599 SR-IOV VFs report an invalid PCIe capability version
        // 0 (Niantic errate #35) causing Windows to error with a Code 10":
        // QEMU reports version 1 for any capability it keeps.
        if keep && flags & PCI_EXP_FLAGS_VERS == 0 {
            self.cfg.add_emulated_word(pos + 2, 1, PCI_EXP_FLAGS_VERS);
        }
        keep
    }

    /// `vfio_add_emulated_long` / `_word` (all bits, read-only) of the
    /// `len`-byte register at `off` in the PCIe capability at `pos`, when
    /// it lies inside the capability's `size` bytes. QEMU writes it
    /// regardless, into the next capability or past the header of a
    /// capability cut short; here such a register stays the device's.
    fn emulate_in_cap(&mut self, pos: usize, size: usize, off: usize, len: usize, val: u32) {
        if off + len > size || pos + off + len > self.cfg.len() {
            return;
        }
        if len == 4 {
            self.cfg.add_emulated_long(pos + off, val, !0);
        } else {
            self.cfg.add_emulated_word(pos + off, val as u16, !0);
        }
    }

    /// QEMU's `vfio_add_ext_cap`: SR-IOV (read-only VF BARs confuse
    /// firmware), ARI (needs next-function virtualization) and those the
    /// kernel masked (ID 0) are hidden.
    fn add_ext_caps(&mut self) {
        if self.cfg.len() < PCIE_CONFIG_SPACE_SIZE || self.cfg.long(PCI_CONFIG_SPACE_SIZE) == 0 {
            return;
        }
        let caps = config::ext_caps(&self.cfg);
        let mut kept = Vec::new();
        for &c in &caps {
            let keep = match c.id {
                // ID 0: a capability the kernel masked.
                0 | PCI_EXT_CAP_ID_SRIOV | PCI_EXT_CAP_ID_ARI => false,
                PCI_EXT_CAP_ID_REBAR => self.setup_rebar_ecap(c.pos),
                _ => true,
            };
            if keep {
                kept.push(c);
            }
        }
        for c in &caps {
            // Next pointers are emulated, so a dropped capability is skipped.
            let em = self.cfg.emulated_bits(c.pos, 4) | 0xfff0_0000;
            self.cfg.set_mask(Mask::Emulated, c.pos, 4, em);
            self.cfg.set_mask(Mask::W, c.pos, 4, 0);
        }
        // The head at 0x100 is emulated whole: ID 0 when its capability is hidden.
        self.cfg
            .set_mask(Mask::Emulated, PCI_CONFIG_SPACE_SIZE, 4, u32::MAX);
        let header = |id: u16, ver: u8, next: usize| {
            u32::from(id) | (u32::from(ver) << 16) | ((next as u32) << 20)
        };
        let head_next = match kept.first() {
            Some(c) if c.pos == PCI_CONFIG_SPACE_SIZE => None,
            first => Some(first.map_or(0, |c| c.pos)),
        };
        if let Some(next) = head_next {
            self.cfg.set_long(PCI_CONFIG_SPACE_SIZE, header(0, 0, next));
        }
        for (i, c) in kept.iter().enumerate() {
            let next = kept.get(i + 1).map_or(0, |n| n.pos);
            self.cfg.set_long(c.pos, header(c.id, c.version, next));
        }
    }

    /// QEMU's `vfio_setup_rebar_ecap`: each resizable BAR shows only its
    /// current size, in the capability register and the control register,
    /// both read-only ("a write of an unsupported value is undefined"),
    /// since the guest cannot resize a BAR the host sized. A current size
    /// outside 1 MiB to 512 GiB (which hardware must support one of) hides
    /// the capability; so does a BAR entry past config space.
    fn setup_rebar_ecap(&mut self, pos: usize) -> bool {
        let ctrl = self.cfg.long(pos + PCI_REBAR_CTRL);
        let nbar = (ctrl & PCI_REBAR_CTRL_NBAR_MASK) >> PCI_REBAR_CTRL_NBAR_SHIFT;
        for i in 0..nbar as usize {
            let at = pos + i * 8;
            if at + PCI_REBAR_CTRL + 4 > self.cfg.len() {
                return false;
            }
            let ctrl = self.cfg.long(at + PCI_REBAR_CTRL);
            let size = (ctrl & PCI_REBAR_CTRL_BAR_SIZE) >> PCI_REBAR_CTRL_BAR_SHIFT;
            let cap = if size <= 27 { 1u32 << (size + 4) } else { 0 };
            if cap & PCI_REBAR_CAP_SIZES == 0 {
                return false;
            }
            let ctrl = ctrl
                & (PCI_REBAR_CTRL_BAR_SIZE | PCI_REBAR_CTRL_NBAR_MASK | PCI_REBAR_CTRL_BAR_IDX);
            self.cfg
                .add_emulated_long(at + PCI_REBAR_CAP, cap, u32::MAX);
            self.cfg
                .add_emulated_long(at + PCI_REBAR_CTRL, ctrl, u32::MAX);
        }
        true
    }
}
