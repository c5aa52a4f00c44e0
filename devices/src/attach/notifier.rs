//! Interrupt notifiers that vfio-ccw and vfio-ap register at realize: an
//! eventfd per IRQ index, signalled by the kernel (QEMU's
//! `vfio_ccw_register_irq_notifier` / `vfio_ap_register_irq_notifier`).

use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::eventfd::EventFd;
use qomgen::{Error, Result};

#[cfg(test)]
use crate::sys::vfio::DeviceFlags;
use crate::sys::vfio::{Device, DeviceInfo, IrqAction};

/// One IRQ index signalling an eventfd, until the device is released.
#[derive(Debug)]
pub struct IrqNotifier {
    /// IRQ index.
    pub index: u32,
    fd: EventFd,
}

impl IrqNotifier {
    /// The eventfd the kernel signals, for the VMM's event loop.
    pub fn eventfd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Registers an eventfd for IRQ `index`, one of the bus's `known` indexes.
/// `Ok(Err(_))`: the kernel refused the eventfd (`VFIO_DEVICE_SET_IRQS`);
/// QEMU then drops the notifier without an error, the caller warns.
pub(super) fn register(
    device: &Device,
    info: &DeviceInfo,
    index: u32,
    known: &[u32],
) -> Result<std::result::Result<IrqNotifier, Error>> {
    if !known.contains(&index) {
        return Err(Error::new(format!("vfio: Unsupported device irq({index})")));
    }
    if info.num_irqs < index + 1 {
        return Err(Error::new(format!(
            "vfio: IRQ {index} not available (number of irqs {})",
            info.num_irqs
        )));
    }
    let irq = device
        .irq_info(index)
        .map_err(|e| Error::new(format!("vfio: Error getting irq info: {}", e.strerror())))?;
    if irq.count < 1 {
        return Err(Error::new("vfio: Error getting irq info, count=0"));
    }
    let fd = crate::sys::eventfd().map_err(|e| {
        Error::new(format!(
            "vfio: Unable to init event notifier for irq ({index}): {}",
            e.strerror()
        ))
    })?;
    Ok(
        match device.set_irq_eventfds(index, IrqAction::Trigger, 0, &[Some(fd.as_fd())]) {
            Ok(()) => Ok(IrqNotifier { index, fd }),
            Err(e) => Err(Error::new(format!(
                "vfio: Failed to set up IRQ {index} signaling: {}",
                e.strerror()
            ))),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_the_bus_does_not_have_is_refused_first() {
        let null = std::fs::File::open("/dev/null").unwrap();
        let dev = Device::from_fd(null.into());
        let info = DeviceInfo {
            flags: DeviceFlags::empty(),
            num_irqs: 0,
            num_regions: 0,
        };
        let e = register(&dev, &info, 3, &[0, 1, 2]).unwrap_err();
        assert_eq!(e.to_string(), "vfio: Unsupported device irq(3)");
        let e = register(&dev, &info, 2, &[0, 1, 2]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "vfio: IRQ 2 not available (number of irqs 0)"
        );
    }
}
