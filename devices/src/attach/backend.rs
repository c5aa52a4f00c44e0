//! The two VFIO backends and the choice between them.

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use qomgen::{Error, Link, PropertyEnum, Result};
use vfio_bindings::bindings::vfio as vb;

use crate::host::{CdevError, GroupError, Host, IommuGroup};
use crate::models::iommufd::IommufdBackend;
use crate::sys::iommufd::Iommufd;
use crate::sys::vfio::{Container, Device, Group};

/// Which backend a device without an `iommufd=` link uses. An `iommufd=`
/// link always means iommufd, as in QEMU; `fd=` always needs one.
#[derive(PropertyEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[property_enum(name = "VfioBackendPolicy")]
pub enum BackendPolicy {
    /// QEMU's rule: the legacy container.
    #[default]
    Legacy,
    /// iommufd when `/dev/iommu` and the device's cdev exist, else legacy.
    Auto,
    /// iommufd (a private one when no `iommufd=` object is linked).
    Iommufd,
}

/// What realize decided, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendChoice {
    /// `legacy` or `iommufd`.
    pub backend: &'static str,
    /// Why that backend.
    pub reason: String,
    /// Where the device fd came from (group, cdev path, or `fd=`).
    pub fd_source: String,
}

/// An attached backend; dropping it releases what attach acquired.
#[derive(Debug)]
pub enum Backend {
    /// Group in a type1 (or no-IOMMU) container.
    Legacy {
        /// IOMMU group number.
        group_id: u32,
        /// The group, set to `container`.
        group: Group,
        /// The container.
        container: Container,
        /// IOMMU type set on the container.
        iommu_type: u32,
    },
    /// Device bound to an iommufd and attached to an IOAS.
    Iommufd {
        /// The linked backend object, or `None` for a private iommufd.
        link: Option<Link<IommufdBackend>>,
        /// A private iommufd (policy `iommufd`/`auto` without a link).
        private: Option<Iommufd>,
        /// iommufd device id.
        devid: u32,
        /// IOAS the device is attached to.
        ioas: u32,
        /// HWPT the kernel attached the device to.
        hwpt: u32,
    },
}

impl Backend {
    /// Undoes the attach while the device fd is still open.
    pub(crate) fn detach(&self, dev: &Device) {
        if let Backend::Iommufd { .. } = self {
            // Closing the device fd would detach too; doing it first is
            // QEMU's order and reports nothing on failure, as QEMU's does.
            let _ = dev.detach_iommufd_pt();
        }
    }

    /// The iommufd to issue IOAS operations on, if iommufd-backed.
    pub fn with_iommufd<R>(&self, f: impl FnOnce(&Iommufd, u32) -> R) -> Option<R> {
        match self {
            Backend::Iommufd {
                private: Some(p),
                ioas,
                ..
            } => Some(f(p, *ioas)),
            Backend::Iommufd {
                link: Some(l),
                ioas,
                ..
            } => {
                let b = l.borrow().ok()?;
                let fd = b.iommufd()?;
                Some(f(fd, *ioas))
            }
            _ => None,
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        match self {
            Backend::Legacy { group, .. } => {
                let _ = group.unset_container();
            }
            Backend::Iommufd {
                link,
                private,
                ioas,
                ..
            } => {
                if let Some(p) = private {
                    let _ = p.destroy(*ioas);
                } else if let Some(l) = link
                    && let Ok(mut b) = l.borrow_mut()
                {
                    if let Some(fd) = b.iommufd() {
                        let _ = fd.destroy(*ioas);
                    }
                    b.disconnect();
                }
            }
        }
    }
}

/// Picks and attaches the backend (reference §7.1, plus the policy), and
/// opens the device: from `fd=`, the cdev, or the group.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attach(
    fd: Option<&super::PassedFd>,
    link: Option<&Link<IommufdBackend>>,
    policy: BackendPolicy,
    host: &Host,
    sysfsdev: Option<&Path>,
    name: &str,
    token: Option<&uuid::Uuid>,
) -> Result<(Backend, Device, BackendChoice)> {
    let cdev_present = sysfsdev.is_some_and(|p| cdev_available(host, p));
    let (use_iommufd, reason) = match (link, policy) {
        (Some(l), _) => (true, format!("iommufd={} is set", l.path().unwrap_or(""))),
        (None, BackendPolicy::Legacy) => (false, "no iommufd= link (QEMU's default)".to_owned()),
        (None, BackendPolicy::Iommufd) => (true, "backend policy is iommufd".to_owned()),
        (None, BackendPolicy::Auto) => match (host.exists("/dev/iommu"), cdev_present) {
            (true, true) => (
                true,
                "policy auto: /dev/iommu and the device cdev exist".to_owned(),
            ),
            (false, _) => (
                false,
                "policy auto: /dev/iommu not found (CONFIG_IOMMUFD)".to_owned(),
            ),
            // A sysfs vfio-dev entry without its /dev node is a no-IOMMU
            // device (the kernel makes no cdev for those), not a missing option.
            (true, false) if sysfsdev.is_some_and(|p| host.exists(p.join("vfio-dev"))) => (
                false,
                "policy auto: the device's vfio-dev cdev has no /dev node (no-IOMMU devices get none)"
                    .to_owned(),
            ),
            (true, false) => (
                false,
                "policy auto: no vfio-dev cdev (CONFIG_VFIO_DEVICE_CDEV)".to_owned(),
            ),
        },
    };
    if !use_iommufd {
        let path =
            sysfsdev.ok_or_else(|| Error::new("Use FD passing only with iommufd backend"))?;
        let dev_name = crate::sys::vfio::device_fd_name(name, token);
        let (backend, device, source) = attach_legacy(host, path, &dev_name)?;
        return Ok((
            backend,
            device,
            BackendChoice {
                backend: "legacy",
                reason,
                fd_source: source,
            },
        ));
    }
    let (device, source) = match (fd, sysfsdev) {
        (Some(fd), _) => {
            let n = fd.number();
            let dup = fd
                .try_clone()
                .map_err(|e| Error::new(format!("Could not use fd={n}: {e}")))?;
            (Device::from_fd(dup), format!("fd={n}"))
        }
        (None, Some(path)) => open_cdev(host, path)?,
        (None, None) => return Err(Error::new("No provided host device")),
    };
    let backend = attach_iommufd(link.cloned(), host, &device, name, token)?;
    Ok((
        backend,
        device,
        BackendChoice {
            backend: "iommufd",
            reason,
            fd_source: source,
        },
    ))
}

/// Whether the device has a cdev node to open: the first `vfio*` entry of
/// `<sysfsdev>/vfio-dev` and its `/dev/vfio/devices/` node (policy `auto`).
pub(crate) fn cdev_available(host: &Host, sysfsdev: &Path) -> bool {
    host.list_dir(sysfsdev.join("vfio-dev"))
        .ok()
        .and_then(|entries| entries.into_iter().find(|n| n.starts_with("vfio")))
        .is_some_and(|n| host.exists(Host::vfio_cdev_path(&n)))
}

/// The failing step's message, with QEMU's text.
fn sys(msg: impl std::fmt::Display, e: crate::sys::SysError) -> Error {
    Error::new(format!("{msg}: {}", e.strerror()))
}

/// Legacy attach (reference §7.2): group → viability → container → type1 → device fd.
pub(crate) fn attach_legacy(
    host: &Host,
    sysfsdev: &Path,
    dev_name: &str,
) -> Result<(Backend, Device, String)> {
    let group: IommuGroup = host.iommu_group(sysfsdev).map_err(|e| match e {
        GroupError::NoIommuGroup { errno, .. } => {
            Error::new(format!("no iommu_group found: {}", crate::sys::strerror(errno)))
                .with_hint("Is the IOMMU enabled (intel_iommu=on / amd_iommu=on), or is vfio's noiommu mode wanted?")
        }
        GroupError::BadGroupLink { target } => Error::new(format!(
            "failed to read {}: {}",
            target.display(),
            crate::sys::strerror(nix::errno::Errno::EINVAL)
        )),
    })?;
    let gid = group.id;
    let gpath = group.dev_path();
    let gfd = host.open_group(&group).map_err(|e| {
        let err = Error::new(format!(
            "Could not open '{}': {}",
            gpath.display(),
            e.strerror()
        ));
        // A group node opens once: QEMU reports its own reuse as "device is
        // already attached"; here the kernel's EBUSY is what there is to say.
        if e.errno() == nix::errno::Errno::EBUSY {
            err.with_hint(
                "The group is already open: is a device of it assigned elsewhere, or twice here?",
            )
        } else {
            err
        }
    })?;
    let status = gfd
        .status()
        .map_err(|e| sys(format_args!("failed to get group {gid} status"), e))?;
    if !status.viable() {
        return Err(Error::new(format!("group {gid} is not viable")).with_hint(
            "Please ensure all devices within the iommu_group are bound to their vfio bus driver.",
        ));
    }
    let prefix = format!("failed to setup container for group {gid}: ");
    let container = host.open_container().map_err(|e| {
        Error::new(format!(
            "{prefix}Could not open '/dev/vfio/vfio': {}",
            e.strerror()
        ))
    })?;
    // QEMU compares the raw ioctl return value, so a failing ioctl reports -1.
    let version = container.api_version().unwrap_or(-1);
    if version != vb::VFIO_API_VERSION as i32 {
        return Err(Error::new(format!(
            "{prefix}supported vfio version: {}, reported version: {version}",
            vb::VFIO_API_VERSION
        )));
    }
    let candidates: &[u32] = if group.noiommu {
        &[vb::VFIO_NOIOMMU_IOMMU]
    } else {
        &[vb::VFIO_TYPE1v2_IOMMU, vb::VFIO_TYPE1_IOMMU]
    };
    let iommu_type = candidates
        .iter()
        .copied()
        .find(|&t| container.check_extension(t).unwrap_or(false))
        .ok_or_else(|| Error::new(format!("{prefix}No available IOMMU models")))?;
    gfd.set_container(&container)
        .map_err(|e| sys(format_args!("{prefix}Failed to set group container"), e))?;
    let finish = || -> Result<Device> {
        container
            .set_iommu(iommu_type)
            .map_err(|e| sys(format_args!("{prefix}Failed to set iommu for container"), e))?;
        if iommu_type != vb::VFIO_NOIOMMU_IOMMU {
            container
                .iommu_info()
                .map_err(|e| sys(format_args!("{prefix}Failed to get VFIO IOMMU info"), e))?;
        }
        gfd.device(dev_name).map_err(|e| {
            sys(format_args!("error getting device from group {gid}"), e).with_hint(format!(
                "Verify all devices in group {gid} are bound to vfio-<bus> or pci-stub and not already in use"
            ))
        })
    };
    match finish() {
        Ok(device) => {
            let source = format!("group {gid} ({})", gpath.display());
            Ok((
                Backend::Legacy {
                    group_id: gid,
                    group: gfd,
                    container,
                    iommu_type,
                },
                device,
                source,
            ))
        }
        Err(e) => {
            let _ = gfd.unset_container();
            Err(e)
        }
    }
}

/// The device cdev, with QEMU's doubled prefix and the kernel-config hint.
pub(crate) fn open_cdev(host: &Host, sysfsdev: &Path) -> Result<(Device, String)> {
    let cdev = host.open_cdev(sysfsdev).map_err(|e: CdevError| {
        Error::new(format!("vfio {}: {e}", e.dir().display()))
            .with_hint("Is your kernel config missing CONFIG_VFIO_DEVICE_CDEV?")
    })?;
    Ok((cdev.device, cdev.path.display().to_string()))
}

/// Binds `device` to an iommufd and attaches it to a new IOAS (reference §7.3).
pub(crate) fn attach_iommufd(
    link: Option<Link<IommufdBackend>>,
    host: &Host,
    device: &Device,
    name: &str,
    vf_token: Option<&uuid::Uuid>,
) -> Result<Backend> {
    match link {
        Some(l) => {
            let ids = {
                let mut b = l.borrow_mut()?;
                let ids = {
                    let fd = b.connect(host)?;
                    bind_and_attach(fd, device, name, vf_token)
                };
                if ids.is_err() {
                    b.disconnect();
                }
                ids?
            };
            let (devid, ioas, hwpt) = ids;
            Ok(Backend::Iommufd {
                link: Some(l),
                private: None,
                devid,
                ioas,
                hwpt,
            })
        }
        None => {
            let fd = host.open_iommufd().map_err(|e| {
                Error::new(format!("Could not open '/dev/iommu': {}", e.strerror()))
                    .with_hint("Is your kernel config missing CONFIG_IOMMUFD?")
            })?;
            let (devid, ioas, hwpt) = bind_and_attach(&fd, device, name, vf_token)?;
            Ok(Backend::Iommufd {
                link: None,
                private: Some(fd),
                devid,
                ioas,
                hwpt,
            })
        }
    }
}

/// BIND_IOMMUFD, IOAS_ALLOC, ATTACH_IOMMUFD_PT; undoes the IOAS on failure.
fn bind_and_attach(
    iommufd: &Iommufd,
    device: &Device,
    name: &str,
    vf_token: Option<&uuid::Uuid>,
) -> Result<(u32, u32, u32)> {
    let raw = iommufd.as_fd().as_raw_fd();
    let devfd = device.as_fd().as_raw_fd();
    let devid = device.bind_iommufd(iommufd, vf_token).map_err(|e| {
        sys(
            format_args!("error bind device fd={devfd} to iommufd={raw}"),
            e,
        )
    })?;
    let ioas = iommufd
        .ioas_alloc()
        .map_err(|e| sys("Failed to allocate ioas", e))?;
    match device.attach_iommufd_pt(ioas) {
        Ok(hwpt) => Ok((devid, ioas, hwpt)),
        Err(e) => {
            let _ = iommufd.destroy(ioas);
            Err(sys(
                format_args!("[iommufd={raw}] error attach {name} ({devfd}) to id={ioas}"),
                e,
            ))
        }
    }
}
