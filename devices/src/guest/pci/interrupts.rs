//! Interrupt modes and their host side: QEMU's `vfio_intx_enable`,
//! `vfio_msi_enable`, `vfio_msi_disable`, `vfio_msix_enable`,
//! `vfio_msix_disable` and `vfio_disable_interrupts` (hw/vfio/pci.c,
//! QEMU 10.2). INTx is off while MSI or MSI-X is on: the kernel refuses to
//! enable one while another is.

use std::os::fd::BorrowedFd;

use qomgen::{Error, Result};

use super::irq::{self, Route, Vector};
use super::{Event, INTX, MSI, MSIX, Mode, PciFunction};

impl PciFunction {
    fn msi_route(&self, msix: bool) -> Route {
        let off = if msix {
            self.options.no_kvm_msix
        } else {
            self.options.no_kvm_msi
        };
        if off { Route::Userspace } else { Route::Irqfd }
    }

    /// QEMU's `vfio_disable_interrupts`: MSI/MSI-X off, then INTx off.
    pub(super) fn disable_interrupts(&mut self, events: &mut Vec<Event>) {
        match self.mode {
            Mode::Msi | Mode::Msix => {
                let index = if self.mode == Mode::Msi { MSI } else { MSIX };
                let _ = self.host.disable_irqs(index);
                self.vectors.clear();
                events.push(Event::VectorsChanged);
            }
            Mode::Intx => {
                let _ = self.host.disable_irqs(INTX);
                if let Some(i) = &mut self.intx {
                    i.enabled = false;
                }
                events.push(Event::IntxChanged);
            }
            Mode::None => {}
        }
        self.mode = Mode::None;
    }

    pub(super) fn intx_enable(
        &mut self,
        events: &mut Vec<Event>,
    ) -> std::result::Result<(), String> {
        let Some(intx) = &self.intx else {
            return Ok(());
        };
        let fds = [Some(irq::borrowed(intx.trigger()))];
        self.host
            .set_irq_eventfds(INTX, 0, &fds)
            .map_err(|e| format!("vfio: Error: Failed to setup INTx fd: {}", e.strerror()))?;
        if intx.route == Route::Irqfd
            && let Err(e) = self
                .host
                .set_unmask_eventfd(INTX, irq::borrowed(intx.resample()))
        {
            let _ = self.host.disable_irqs(INTX);
            return Err(format!(
                "vfio: Error: Failed to setup INTx unmask fd: {}",
                e.strerror()
            ));
        }
        if let Some(i) = &mut self.intx {
            i.enabled = true;
        }
        self.mode = Mode::Intx;
        events.push(Event::IntxChanged);
        Ok(())
    }

    /// The guest's end-of-interrupt for INTx delivered through the VMM
    /// ([`Route::Userspace`]): the host unmasks it (QEMU's `vfio_intx_eoi`).
    ///
    /// # Errors
    /// The unmask failing.
    pub fn intx_eoi(&mut self) -> Result<()> {
        self.host.unmask(INTX).map_err(|e| {
            Error::new(format!(
                "vfio: Error: Failed to unmask INTx: {}",
                e.strerror()
            ))
        })
    }

    fn new_vectors(&mut self, n: u32, route: Route) -> Option<Vec<Vector>> {
        let mut v = Vec::new();
        for i in 0..n {
            match Vector::new(i as u16, route) {
                Ok(x) => v.push(x),
                Err(e) => {
                    self.errors
                        .push(format!("vfio: Error: event_notifier_init failed: {e}"));
                    return None;
                }
            }
        }
        Some(v)
    }

    /// QEMU's `vfio_msi_enable` (`mode` [`Mode::Msi`]) and
    /// `vfio_msix_enable` ([`Mode::Msix`]): INTx off, one eventfd per
    /// vector handed to the host. For MSI-X every vector of the table gets
    /// its eventfd at once (QEMU adds them as the guest unmasks them; the
    /// host allocates more vectors here, the guest sees the same). When the
    /// host refuses, interrupts stay off: "Let's try leaving interrupts
    /// disabled and hope the guest driver notices and tries again."
    pub(super) fn vectors_enable(&mut self, mode: Mode, events: &mut Vec<Event>) {
        self.disable_interrupts(events);
        let (index, n) = match (mode, self.msi, &self.msix) {
            (Mode::Msi, Some(msi), _) => (MSI, msi.allocated(&self.cfg)),
            (Mode::Msix, _, Some(m)) => (
                MSIX,
                u32::from(m.entries).min(self.host.irq_count(MSIX)).max(1),
            ),
            _ => return,
        };
        let Some(vectors) = self.new_vectors(n, self.msi_route(mode == Mode::Msix)) else {
            return self.intx_reenable(events);
        };
        let fds: Vec<Option<BorrowedFd<'_>>> = vectors
            .iter()
            .map(|v| Some(irq::borrowed(v.eventfd())))
            .collect();
        if let Err(e) = self.host.set_irq_eventfds(index, 0, &fds) {
            if mode == Mode::Msi {
                self.errors.push(format!(
                    "vfio: Error: Failed to setup MSI fds: {}",
                    e.strerror()
                ));
                self.errors.push("vfio: Error: Failed to enable MSI".into());
            } else {
                self.errors.push(format!(
                    "vfio: failed to enable vectors, {}",
                    -(e.errno() as i32)
                ));
            }
            return;
        }
        drop(fds);
        self.vectors = vectors;
        self.mode = mode;
        self.refresh_vectors(events);
        events.push(Event::VectorsChanged);
        events.dedup();
    }

    /// QEMU's `vfio_msi_disable` and `vfio_msix_disable`: back to INTx.
    pub(super) fn vectors_disable(&mut self, events: &mut Vec<Event>) {
        self.disable_interrupts(events);
        self.intx_reenable(events);
    }

    fn intx_reenable(&mut self, events: &mut Vec<Event>) {
        if let Err(e) = self.intx_enable(events) {
            self.errors.push(e);
        }
    }

    /// Re-reads each vector's message and mask from the capability or
    /// table; reports a change.
    pub(super) fn refresh_vectors(&mut self, events: &mut Vec<Event>) {
        let mut changed = false;
        for v in &mut self.vectors {
            let (message, masked) = match (self.mode, &self.msi, &self.msix) {
                (Mode::Msi, Some(m), _) => (
                    m.message(&self.cfg, u32::from(v.index)),
                    m.masked(&self.cfg, u32::from(v.index)),
                ),
                (Mode::Msix, _, Some(m)) => (
                    m.message(usize::from(v.index)),
                    m.entry_masked(usize::from(v.index)) || m.function_masked(&self.cfg),
                ),
                _ => continue,
            };
            if v.message != message || v.masked != masked {
                v.message = message;
                v.masked = masked;
                changed = true;
            }
        }
        if changed && !events.contains(&Event::VectorsChanged) {
            events.push(Event::VectorsChanged);
        }
    }
}
