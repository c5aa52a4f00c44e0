//! Realize, shared by the VFIO devices: find the host device, attach it
//! through the legacy container or iommufd, read what the kernel reports,
//! and hold it all until unrealize. QEMU's order and error texts
//! (`hw/vfio/pci.c: vfio_pci_realize`, `hw/vfio/ccw.c: vfio_ccw_realize`,
//! `hw/vfio/ap.c: vfio_ap_realize`, `hw/vfio/device.c: vfio_device_attach`).

mod backend;
mod caps;
mod common;
mod css;
mod display;
mod domains;
mod fd;
mod iommufd;
mod kvm;
mod migration;
mod msix;
mod notifier;
mod pci;
mod plan;
mod s390;

use std::path::PathBuf;

pub use backend::{Backend, BackendChoice, BackendPolicy, SharedGroup};
pub use common::{VfioCommon, VfioDevice};
pub use css::CcwPlace;
pub use display::{Display, DisplayMethod, RamfbSettings};
pub use domains::Domains;
pub use fd::{PassedFd, fd_param};
pub use iommufd::IommufdState;
pub use kvm::KvmVfio;
pub use migration::{DirtyTracking, Migration};
pub use msix::{Bar, MsixInfo};
pub use notifier::IrqNotifier;
pub use pci::{PciCapability, PciOptions, PciSummary, realize_pci};
pub use plan::plan;
pub use s390::{realize_ap, realize_ccw};

use qomgen::{CssDevId, Error, LifecycleCx, Result};

use crate::host::Host;
use crate::sys::vfio::{Device, DeviceInfo, IrqInfo, MappedRegion, RegionInfo};
use crate::sys::{Errno, strerror};

/// One region as realize found it.
#[derive(Debug)]
pub struct Region {
    /// What the kernel reports.
    pub info: RegionInfo,
    /// The mappings realize made (the whole region, or its sparse areas).
    pub maps: Vec<(u64, MappedRegion)>,
}

/// Everything a realized VFIO device holds. Dropping it releases the
/// mappings, the device fd and the backend, in that order.
#[derive(Debug)]
pub struct Attached {
    /// Device name as QEMU derives it (BDF, mdev UUID, id or `VFIO_FD<n>`).
    pub name: String,
    /// Host sysfs path, when there is one.
    pub sysfsdev: Option<PathBuf>,
    /// `VFIO_DEVICE_GET_INFO`.
    pub info: DeviceInfo,
    /// Regions with their mappings.
    pub regions: Vec<Region>,
    /// IRQ indexes.
    pub irqs: Vec<IrqInfo>,
    /// PCI identity and capabilities (vfio-pci only).
    pub pci: Option<PciSummary>,
    /// Which backend, why, and where the device fd came from.
    pub choice: BackendChoice,
    /// The host subchannel (vfio-ccw only).
    pub subchannel: Option<CssDevId>,
    /// The host subchannel's channel-path ids, as its schib was built from
    /// them (vfio-ccw only).
    pub chpids: Option<[u8; 8]>,
    /// IRQ indexes signalling eventfds (vfio-ccw, vfio-ap); disabled on release.
    pub notifiers: Vec<IrqNotifier>,
    // Field order is drop order: the device fd must close before the
    // backend unwinds (QEMU: close device, then detach the group/container).
    device: Option<Device>,
    backend: Option<Backend>,
}

impl Attached {
    /// A device just attached, before regions and IRQs are read.
    pub(crate) fn new(
        name: String,
        sysfsdev: Option<PathBuf>,
        device: Device,
        backend: Backend,
        choice: BackendChoice,
    ) -> Result<Self> {
        let info = match device.info() {
            Ok(info) => info,
            Err(e) => {
                // Unwind as `Drop for Attached` does: close the device before
                // the backend lets go of the group/IOAS (with the device fd
                // open the kernel refuses VFIO_GROUP_UNSET_CONTAINER, EBUSY).
                backend.detach(&device);
                drop(device);
                drop(backend);
                return Err(Error::new(format!(
                    "error getting device info: {}",
                    e.strerror()
                )));
            }
        };
        Ok(Attached {
            name,
            sysfsdev,
            info,
            regions: Vec::new(),
            irqs: Vec::new(),
            pci: None,
            choice,
            subchannel: None,
            chpids: None,
            notifiers: Vec::new(),
            device: Some(device),
            backend: Some(backend),
        })
    }

    /// The device fd.
    pub fn device(&self) -> &Device {
        // Present from construction until drop.
        self.device
            .as_ref()
            .unwrap_or_else(|| unreachable!("device taken before drop"))
    }

    /// The backend the device is attached through.
    pub fn backend(&self) -> &Backend {
        self.backend
            .as_ref()
            .unwrap_or_else(|| unreachable!("backend taken before drop"))
    }

    /// The host subchannel of a vfio-ccw device.
    pub fn subchannel(&self) -> Option<CssDevId> {
        self.subchannel
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.regions.clear();
        if let Some(dev) = &self.device {
            // The kernel lets go of each eventfd before it is closed.
            for n in self.notifiers.drain(..) {
                let _ = dev.disable_irqs(n.index);
            }
        }
        if let (Some(dev), Some(b)) = (&self.device, &self.backend) {
            b.detach(dev);
        }
        self.device = None;
        self.backend = None;
    }
}

/// QEMU's `vfio_device_get_name` for a sysfs path: the path must exist;
/// the name is its basename.
pub(crate) fn sysfs_device_name(host: &Host, sysfsdev: &std::path::Path) -> Result<String> {
    host.stat_device(sysfsdev).map_err(|e| {
        Error::new(format!(
            "vfio {}: no such host device: {}",
            sysfsdev.display(),
            e.strerror()
        ))
    })?;
    Ok(Host::device_name(sysfsdev))
}

/// QEMU's `Could not open '<node>': <strerror>`, with [`open_hint`].
pub(crate) fn open_error(node: &str, errno: Errno, config: &str) -> Error {
    let e = Error::new(format!("Could not open '{node}': {}", strerror(errno)));
    match open_hint(errno, node, config) {
        Some(h) => e.with_hint(h),
        None => e,
    }
}

/// What to do about a node that would not open: one that does not exist
/// names the kernel option that makes it (`config`), one this process may
/// not open says so; any other failure (a directory, a dead device) is not
/// a missing option, and gets no hint.
pub(crate) fn open_hint(errno: Errno, node: &str, config: &str) -> Option<String> {
    match errno {
        Errno::ENOENT => Some(config_hint(config)),
        Errno::EACCES | Errno::EPERM => Some(access_hint(node)),
        _ => None,
    }
}

/// The hint for a node this process may not open.
pub(crate) fn access_hint(node: &str) -> String {
    format!("Run as root or grant access to {node}")
}

/// The hint for kernel support that is missing: the option that builds it.
pub(crate) fn config_hint(config: &str) -> String {
    format!("Is your kernel config missing {config}?")
}

/// The host to look things up on: the tree's `Host` resource, else `/`.
pub(crate) fn host_of<'a>(cx: &'a LifecycleCx<'_>, system: &'a Host) -> &'a Host {
    cx.resource::<Host>().unwrap_or(system)
}

/// The backend policy: the tree's resource, else QEMU's (legacy unless linked).
pub(crate) fn policy_of(cx: &LifecycleCx<'_>) -> BackendPolicy {
    cx.resource::<BackendPolicy>().copied().unwrap_or_default()
}
