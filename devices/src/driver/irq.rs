//! Interrupts delivered to eventfds (INTx, MSI, MSI-X).

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::eventfd::{EfdFlags, EventFd};
use vfio_bindings::bindings::vfio as vb;

use crate::sys::Errno;
use crate::sys::vfio::{Device, IrqAction, IrqInfo};

use super::{DriverError, Result};

/// A PCI interrupt mode, i.e. a VFIO IRQ index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqKind {
    /// Legacy INTx (level-triggered, automasked by vfio-pci).
    Intx,
    /// MSI.
    Msi,
    /// MSI-X.
    Msix,
}

impl IrqKind {
    /// The VFIO IRQ index (`VFIO_PCI_{INTX,MSI,MSIX}_IRQ_INDEX`).
    pub fn index(self) -> u32 {
        match self {
            IrqKind::Intx => vb::VFIO_PCI_INTX_IRQ_INDEX,
            IrqKind::Msi => vb::VFIO_PCI_MSI_IRQ_INDEX,
            IrqKind::Msix => vb::VFIO_PCI_MSIX_IRQ_INDEX,
        }
    }

    /// `INTx`, `MSI` or `MSI-X`.
    pub fn name(self) -> &'static str {
        match self {
            IrqKind::Intx => "INTx",
            IrqKind::Msi => "MSI",
            IrqKind::Msix => "MSI-X",
        }
    }
}

/// Vectors `0..n` of one IRQ index, each signalling its own eventfd.
///
/// Created by [`super::Driver::enable_irq`]. Dropping it disables the whole
/// index (`SET_IRQS` with `count = 0`) before the eventfds are closed, as QEMU
/// does on teardown. The kernel holds its own reference to each eventfd while
/// it is assigned, so the order cannot cause a use-after-close.
///
/// Eventfds are non-blocking: [`IrqEventfds::wait`] polls with a timeout,
/// [`IrqEventfds::take`] never blocks; [`IrqEventfds::eventfd`] hands one
/// out for an event loop.
#[derive(Debug)]
pub struct IrqEventfds<'a> {
    device: &'a Device,
    kind: IrqKind,
    fds: Vec<EventFd>,
}

impl<'a> IrqEventfds<'a> {
    pub(crate) fn enable(
        device: &'a Device,
        kind: IrqKind,
        info: Option<IrqInfo>,
        vectors: u32,
    ) -> Result<Self> {
        let available = info.filter(IrqInfo::eventfd).map_or(0, |i| i.count);
        if vectors == 0 || vectors > available {
            return Err(DriverError::IrqUnavailable {
                index: kind.index(),
                requested: vectors,
                available,
            });
        }
        let fds = (0..vectors)
            .map(|_| EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK))
            .collect::<nix::Result<Vec<_>>>()
            .map_err(|errno| DriverError::Os {
                op: "eventfd",
                errno,
            })?;
        let borrowed: Vec<Option<BorrowedFd<'_>>> = fds.iter().map(|f| Some(f.as_fd())).collect();
        device.set_irq_eventfds(kind.index(), IrqAction::Trigger, 0, &borrowed)?;
        Ok(IrqEventfds { device, kind, fds })
    }

    /// The interrupt mode.
    pub fn kind(&self) -> IrqKind {
        self.kind
    }

    /// Number of vectors enabled.
    pub fn len(&self) -> usize {
        self.fds.len()
    }

    /// Always `false`: at least one vector is enabled.
    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    fn fd(&self, vector: usize) -> Result<&EventFd> {
        self.fds.get(vector).ok_or(DriverError::NoVector {
            vector,
            count: self.fds.len(),
        })
    }

    /// The eventfd of `vector`, e.g. to register with an event loop.
    ///
    /// # Errors
    /// [`DriverError::NoVector`].
    pub fn eventfd(&self, vector: usize) -> Result<BorrowedFd<'_>> {
        Ok(self.fd(vector)?.as_fd())
    }

    /// Interrupts counted on `vector` since the last read, without blocking
    /// (0 if none).
    ///
    /// # Errors
    /// [`DriverError::NoVector`], the read failing.
    pub fn take(&self, vector: usize) -> Result<u64> {
        match self.fd(vector)?.read() {
            Ok(n) => Ok(n),
            Err(Errno::EAGAIN) => Ok(0),
            Err(errno) => Err(DriverError::Os {
                op: "eventfd read",
                errno,
            }),
        }
    }

    /// Waits up to `timeout` for `vector` to fire; returns the count read.
    /// A timeout beyond what the clock can represent (`Duration::MAX`)
    /// waits without a deadline.
    ///
    /// # Errors
    /// [`DriverError::Timeout`], [`DriverError::NoVector`], `poll` failing.
    pub fn wait(&self, vector: usize, timeout: Duration) -> Result<u64> {
        let fd = self.fd(vector)?;
        let deadline = Instant::now().checked_add(timeout);
        loop {
            let n = self.take(vector)?;
            if n > 0 {
                return Ok(n);
            }
            let t = match deadline.map(|d| d.saturating_duration_since(Instant::now())) {
                None => PollTimeout::NONE,
                Some(left) if left.is_zero() => return Err(DriverError::Timeout(timeout)),
                // Round up so a sub-millisecond remainder still waits.
                Some(left) => PollTimeout::try_from(left.as_millis().saturating_add(1))
                    .unwrap_or(PollTimeout::MAX),
            };
            let mut pfd = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut pfd, t) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(errno) => return Err(DriverError::Os { op: "poll", errno }),
            }
        }
    }

    /// Unmasks INTx after the device has been serviced (vfio-pci masks the
    /// line when it fires): `SET_IRQS(INTX, DATA_NONE | ACTION_UNMASK)`.
    /// For MSI/MSI-X this is refused by the kernel.
    ///
    /// # Errors
    /// The ioctl failing.
    pub fn unmask(&self) -> Result<()> {
        Ok(self
            .device
            .set_irqs_none(self.kind.index(), IrqAction::Unmask, 0, 1)?)
    }

    /// Signals `vector` from the kernel side (`DATA_NONE | ACTION_TRIGGER`),
    /// a loopback test of the eventfd wiring that does not involve the device.
    ///
    /// # Errors
    /// [`DriverError::NoVector`], the ioctl failing.
    pub fn trigger(&self, vector: usize) -> Result<()> {
        self.fd(vector)?;
        let start = u32::try_from(vector).map_err(|_| DriverError::NoVector {
            vector,
            count: self.fds.len(),
        })?;
        Ok(self
            .device
            .set_irqs_none(self.kind.index(), IrqAction::Trigger, start, 1)?)
    }

    /// Disables the index now and reports the outcome (drop does the same
    /// silently).
    ///
    /// # Errors
    /// The ioctl failing.
    pub fn disable(mut self) -> Result<()> {
        let r = self.device.disable_irqs(self.kind.index());
        // Drop must not disable a second time.
        self.fds.clear();
        Ok(r?)
    }
}

impl Drop for IrqEventfds<'_> {
    fn drop(&mut self) {
        if !self.fds.is_empty() {
            let _ = self.device.disable_irqs(self.kind.index());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::OwnedFd;

    use super::*;
    use crate::sys::vfio::IrqFlags;

    #[test]
    fn unavailable_vectors_are_refused_before_any_ioctl() {
        let dev = Device::from_fd(OwnedFd::from(tempfile::tempfile().unwrap()));
        let msi = IrqInfo {
            index: vb::VFIO_PCI_MSI_IRQ_INDEX,
            flags: IrqFlags::EVENTFD,
            count: 1,
        };
        let e = IrqEventfds::enable(&dev, IrqKind::Msi, Some(msi), 2).unwrap_err();
        assert_eq!(
            e,
            DriverError::IrqUnavailable {
                index: 1,
                requested: 2,
                available: 1
            }
        );
        assert!(IrqEventfds::enable(&dev, IrqKind::Msi, Some(msi), 0).is_err());
        assert!(IrqEventfds::enable(&dev, IrqKind::Msix, None, 1).is_err());
        let no_eventfd = IrqInfo {
            flags: IrqFlags::empty(),
            ..msi
        };
        assert!(matches!(
            IrqEventfds::enable(&dev, IrqKind::Msi, Some(no_eventfd), 1),
            Err(DriverError::IrqUnavailable { available: 0, .. })
        ));
        // A file is not a VFIO device: the ioctl itself fails, as an error.
        assert!(matches!(
            IrqEventfds::enable(&dev, IrqKind::Msi, Some(msi), 1),
            Err(DriverError::Sys(_))
        ));
        assert_eq!(IrqKind::Msix.index(), 2);
        assert_eq!(IrqKind::Intx.name(), "INTx");
    }
}
