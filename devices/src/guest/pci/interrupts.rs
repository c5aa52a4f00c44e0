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

    /// One vector with its eventfd; on failure the error is recorded.
    fn new_vector(&mut self, index: u16, route: Route) -> Option<Vector> {
        Vector::new(index, route)
            .map_err(|e| {
                self.errors
                    .push(format!("vfio: Error: event_notifier_init failed: {e}"))
            })
            .ok()
    }

    /// QEMU's `vfio_msi_enable` (`mode` [`Mode::Msi`]) and
    /// `vfio_msix_enable` ([`Mode::Msix`]), after INTx is off.
    pub(super) fn vectors_enable(&mut self, mode: Mode, events: &mut Vec<Event>) {
        self.disable_interrupts(events);
        match mode {
            Mode::Msi => self.msi_enable(events),
            Mode::Msix => self.msix_enable(events),
            Mode::Intx | Mode::None => {}
        }
    }

    /// Every vector the guest allocated gets its eventfd at once. When
    /// the host refuses, or an eventfd cannot be made, interrupts stay
    /// off: "Let's try leaving interrupts disabled and hope the guest
    /// figures out to fall back to INTx for this device."
    fn msi_enable(&mut self, events: &mut Vec<Event>) {
        let Some(msi) = self.msi else {
            return;
        };
        let route = self.msi_route(false);
        let mut vectors = Vec::new();
        for i in 0..msi.allocated(&self.cfg) as u16 {
            match self.new_vector(i, route) {
                Some(v) => vectors.push(v),
                None => return self.errors.push("vfio: Error: Failed to enable MSI".into()),
            }
        }
        let fds = eventfds_by_index(&vectors);
        if let Err(e) = self.host.set_irq_eventfds(MSI, 0, &fds) {
            self.errors.push(format!(
                "vfio: Error: Failed to setup MSI fds: {}",
                e.strerror()
            ));
            self.errors.push("vfio: Error: Failed to enable MSI".into());
            return;
        }
        drop(fds);
        self.vectors = vectors;
        self.mode = Mode::Msi;
        self.refresh_vectors(events);
        events.push(Event::VectorsChanged);
        events.dedup();
    }

    /// Only the vectors the guest has unmasked get an eventfd (the rest
    /// when it unmasks them, [`PciFunction::msix_update`]), so that the
    /// host allocates no interrupt the guest does not use. With none, the
    /// device still enters MSI-X mode through vector 0 without an eventfd
    /// (QEMU's `vfio_enable_msix_no_vec`: "some communication channels
    /// between VF & PF or PF & fw rely on the physical state of the
    /// device").
    fn msix_enable(&mut self, events: &mut Vec<Event>) {
        self.mode = Mode::Msix;
        for i in self.msix_unused_unmasked() {
            if let Some(v) = self.new_vector(i, self.msi_route(true)) {
                self.vectors.push(v);
            }
        }
        let result = if self.vectors.is_empty() {
            self.host
                .set_irq_eventfds(MSIX, 0, &[None])
                .map_err(|e| format!("vfio: failed to enable MSI-X, {}", e.strerror()))
        } else {
            self.msix_set_all()
        };
        if let Err(e) = result {
            self.errors.push(e);
        }
        self.refresh_vectors(events);
        events.push(Event::VectorsChanged);
        events.dedup();
    }

    /// The MSI-X vectors the guest has unmasked that have no eventfd yet,
    /// among those the host has.
    fn msix_unused_unmasked(&self) -> Vec<u16> {
        let Some(m) = &self.msix else {
            return Vec::new();
        };
        let n = u32::from(m.entries).min(self.host.irq_count(MSIX)) as u16;
        (0..n)
            .filter(|&i| !m.masked(&self.cfg, usize::from(i)))
            .filter(|&i| self.vectors.iter().all(|v| v.index != i))
            .collect()
    }

    /// QEMU's `vfio_enable_vectors` for MSI-X.
    fn msix_set_all(&self) -> std::result::Result<(), String> {
        self.host
            .set_irq_eventfds(MSIX, 0, &eventfds_by_index(&self.vectors))
            .map_err(|e| format!("vfio: failed to enable vectors, {}", e.strerror()))
    }

    /// After a write to the MSI-X table or to the function mask: QEMU's
    /// `vfio_msix_vector_use` for every vector the guest unmasked that has
    /// no eventfd yet, then each vector's message and mask re-read. A
    /// vector masked again keeps its eventfd, whose signals then read as
    /// pending (QEMU's `vfio_msix_vector_release`).
    pub(super) fn msix_update(&mut self, events: &mut Vec<Event>) {
        for i in self.msix_unused_unmasked() {
            let Some(v) = self.new_vector(i, self.msi_route(true)) else {
                continue;
            };
            let resizing = self.vectors.iter().all(|u| u.index < i);
            let at = self.vectors.partition_point(|u| u.index < i);
            self.vectors.insert(at, v);
            let noresize = self.msix.as_ref().is_some_and(|m| m.noresize);
            let result = if noresize && resizing {
                let _ = self.host.disable_irqs(MSIX);
                self.msix_set_all()
            } else {
                let fd = [Some(irq::borrowed(self.vectors[at].eventfd()))];
                self.host
                    .set_irq_eventfds(MSIX, u32::from(i), &fd)
                    .map_err(|e| {
                        format!(
                            "vfio {}: Failed to set up TRIGGER eventfd signaling for interrupt MSIX-{i}: VFIO_DEVICE_SET_IRQS failure: {}",
                            self.host.name(),
                            e.strerror()
                        )
                    })
            };
            if let Err(e) = result {
                self.errors.push(e);
            }
            events.push(Event::VectorsChanged);
        }
        self.refresh_vectors(events);
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
                    m.masked(&self.cfg, usize::from(v.index)),
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

/// QEMU's `vfio_enable_vectors` argument: vectors `0..=` the highest in
/// use, each its eventfd, those not in use none (`-1`).
fn eventfds_by_index(vectors: &[Vector]) -> Vec<Option<BorrowedFd<'_>>> {
    let n = vectors.iter().map(|v| v.index + 1).max().unwrap_or(0);
    let mut fds = vec![None; usize::from(n)];
    for v in vectors {
        fds[usize::from(v.index)] = Some(irq::borrowed(v.eventfd()));
    }
    fds
}
