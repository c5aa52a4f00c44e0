//! The power-management capability's power state: QEMU's `pci_pm_init`,
//! `pci_pm_state` and `pci_pm_update` (hw/pci/pci.c, QEMU 10.0), which
//! vfio-pci's `vfio_add_std_cap` uses for the device's own capability.
//! The guest reads PMCSR from the device, and its writes reach the
//! device; the copy tracks the state so that the BARs decode in D0 only.

use super::PciFunction;
use super::config::Mask;

/// PMC, the capabilities register, and PMCSR, control/status.
const PCI_PM_PMC: usize = 2;
const PCI_PM_CTRL: usize = 4;
const PCI_PM_CAP_D1: u16 = 0x0200;
const PCI_PM_CAP_D2: u16 = 0x0400;
const PCI_PM_CTRL_STATE_MASK: u16 = 0x0003;
/// `PCI_PM_SIZEOF`: what `pci_pm_init` adds.
pub(super) const PCI_PM_SIZEOF: usize = 8;

impl PciFunction {
    /// `pci_pm_init` on the capability at `pos`: the guest may write the
    /// power state.
    pub(super) fn pm_init(&mut self, pos: usize) {
        self.pm = Some(pos);
        self.cfg.set_mask(
            Mask::W,
            pos + PCI_PM_CTRL,
            2,
            u32::from(PCI_PM_CTRL_STATE_MASK),
        );
    }

    /// `pci_pm_state`: D0 (0) to D3hot (3); D0 without the capability.
    pub(super) fn pm_state(&self) -> u16 {
        self.pm.map_or(0, |pos| {
            self.cfg.word(pos + PCI_PM_CTRL) & PCI_PM_CTRL_STATE_MASK
        })
    }

    /// `pci_pm_update` after a write of `len` bytes at `at` was applied to
    /// the copy: "Transitions to D1 & D2 are only allowed if supported.
    /// Devices may only transition to higher D-states or to D0"; a
    /// refused one leaves `old`. Returns the state now.
    pub(super) fn pm_update(&mut self, at: usize, len: usize, old: u16) -> u16 {
        let Some(pos) = self.pm else {
            return old;
        };
        let ctrl = pos + PCI_PM_CTRL;
        if !(at..at + len).contains(&ctrl) {
            return old;
        }
        let new = self.pm_state();
        let pmc = self.cfg.word(pos + PCI_PM_PMC);
        if (pmc & PCI_PM_CAP_D1 == 0 && new == 1)
            || (pmc & PCI_PM_CAP_D2 == 0 && new == 2)
            || (old != 0 && new != 0 && new < old)
        {
            let w = self.cfg.word(ctrl) & !PCI_PM_CTRL_STATE_MASK;
            self.cfg.set_word(ctrl, w | old);
            return old;
        }
        new
    }
}
