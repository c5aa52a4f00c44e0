//! The two VFIO backends and the choice between them.

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use qomgen::{Error, LifecycleCx, Link, PropertyEnum, Result};
use vfio_bindings::bindings::vfio as vb;

use super::kvm::KvmVfio;
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
        /// The group and its container, shared with the other devices of
        /// the group realized in this process.
        group: Arc<SharedGroup>,
        /// IOMMU type set on the container.
        iommu_type: u32,
        /// The device's name in the group's device list.
        name: String,
        /// The KVM-VFIO device the group was added to, if the tree has one.
        kvm: Option<KvmVfio>,
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
        /// HWPT the device is attached to.
        hwpt: u32,
        /// The HWPT was allocated for this device (`IOMMU_HWPT_ALLOC`, freed
        /// on drop), rather than picked by the kernel for an mdev attached
        /// straight to the IOAS.
        hwpt_allocated: bool,
        /// The HWPT tracks dirty pages (allocated with
        /// `IOMMU_HWPT_ALLOC_DIRTY_TRACKING`), QEMU's IOMMU dirty tracking.
        dirty_tracking: bool,
        /// The KVM-VFIO device the device file was added to, if the tree has one.
        kvm: Option<KvmVfio>,
    },
}

impl Backend {
    /// Undoes the attach while the device fd is still open.
    pub(crate) fn detach(&self, dev: &Device) {
        if let Backend::Iommufd { kvm, .. } = self {
            // Closing the device fd would detach too; doing it first is
            // QEMU's order and reports nothing on failure, as QEMU's does.
            let _ = dev.detach_iommufd_pt();
            if let Some(k) = kvm {
                k.del(dev.as_fd());
            }
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
            Backend::Legacy {
                group,
                name,
                group_id,
                kvm,
                ..
            } => {
                if let Some(k) = kvm {
                    k.release_group(*group_id, group.group().as_fd());
                }
                // The last device of the group drops the group itself.
                group.devices().retain(|n| n != name);
            }
            Backend::Iommufd {
                link,
                private,
                ioas,
                hwpt,
                hwpt_allocated,
                ..
            } => {
                // The HWPT holds the IOAS: free it first (QEMU's
                // autodomains_put, then container_destroy).
                let free = |fd: &Iommufd| {
                    if *hwpt_allocated {
                        let _ = fd.destroy(*hwpt);
                    }
                    let _ = fd.destroy(*ioas);
                };
                if let Some(p) = private {
                    free(p);
                } else if let Some(l) = link
                    && let Ok(mut b) = l.borrow_mut()
                {
                    if let Some(fd) = b.iommufd() {
                        free(fd);
                    }
                    b.disconnect();
                }
            }
        }
    }
}

/// An IOMMU group opened by this process and set to its container.
///
/// The kernel lets a group node be opened once, so every device of one
/// group realized here shares it, as QEMU's group list does: the first
/// device opens and sets up the group, the others get their device fd from
/// it, and the last one to go unsets the container and closes both.
#[derive(Debug)]
pub struct SharedGroup {
    group: Group,
    iommu_type: u32,
    container: Container,
    devices: Mutex<Vec<String>>,
}

impl SharedGroup {
    /// The group fd.
    pub fn group(&self) -> &Group {
        &self.group
    }

    /// The container the group is set to.
    pub fn container(&self) -> &Container {
        &self.container
    }

    /// Names of the devices realized from the group.
    pub fn device_names(&self) -> Vec<String> {
        self.devices().clone()
    }

    fn devices(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        // A poisoned list is still a valid list of names.
        self.devices.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for SharedGroup {
    fn drop(&mut self) {
        let _ = self.group.unset_container();
    }
}

/// The open groups, by the path of their node (under the host's root, so
/// trees rooted elsewhere never share). Entries die with their last device.
static GROUPS: Mutex<Vec<(PathBuf, Weak<SharedGroup>)>> = Mutex::new(Vec::new());

fn open_groups() -> std::sync::MutexGuard<'static, Vec<(PathBuf, Weak<SharedGroup>)>> {
    GROUPS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Picks and attaches the backend (reference §7.1, plus the policy), and
/// opens the device: from `fd=`, the cdev, or the group.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attach(
    fd: Option<&super::PassedFd>,
    link: Option<&Link<IommufdBackend>>,
    cx: &LifecycleCx<'_>,
    host: &Host,
    sysfsdev: Option<&Path>,
    name: &str,
    token: Option<&uuid::Uuid>,
    mdev: bool,
) -> Result<(Backend, Device, BackendChoice)> {
    let policy = super::policy_of(cx);
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
        let (mut backend, device, source) = attach_legacy(host, path, name, token)?;
        if let (
            Some(k),
            Backend::Legacy {
                group_id,
                group,
                kvm,
                ..
            },
        ) = (cx.resource::<KvmVfio>(), &mut backend)
        {
            // Not fatal on this path, as in QEMU.
            match k.add_group(*group_id, group.group().as_fd()) {
                Ok(_) => *kvm = Some(k.clone()),
                Err(e) => cx.warn(e.prepend(format_args!("group ID {group_id}: "))),
            }
        }
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
    let target = Target {
        device: &device,
        name,
        vf_token: token,
        mdev,
        cx,
    };
    let backend = attach_iommufd(link.cloned(), host, &target)?;
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

/// Legacy attach (reference §7.2): group → viability → container → type1
/// → device fd, or the device fd from a group already open here.
pub(crate) fn attach_legacy(
    host: &Host,
    sysfsdev: &Path,
    name: &str,
    token: Option<&uuid::Uuid>,
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
    let key = host.resolve(&gpath);
    let mut groups = open_groups();
    groups.retain(|(_, g)| g.strong_count() > 0);
    let shared = match groups
        .iter()
        .find(|(p, _)| *p == key)
        .and_then(|(_, g)| g.upgrade())
    {
        Some(shared) => shared,
        None => {
            let shared = Arc::new(open_group(host, &group)?);
            groups.push((key, Arc::downgrade(&shared)));
            shared
        }
    };
    drop(groups);
    if shared.devices().iter().any(|n| n == name) {
        return Err(Error::new("device is already attached"));
    }
    let dev_name = crate::sys::vfio::device_fd_name(name, token);
    let device = shared.group.device(&dev_name).map_err(|e| {
        sys(format_args!("error getting device from group {gid}"), e).with_hint(format!(
            "Verify all devices in group {gid} are bound to vfio-<bus> or pci-stub and not already in use"
        ))
    })?;
    shared.devices().push(name.to_owned());
    let iommu_type = shared.iommu_type;
    let source = format!("group {gid} ({})", gpath.display());
    Ok((
        Backend::Legacy {
            group_id: gid,
            group: shared,
            iommu_type,
            name: name.to_owned(),
            kvm: None,
        },
        device,
        source,
    ))
}

/// Opens a group not open yet and sets it to a new container.
fn open_group(host: &Host, group: &IommuGroup) -> Result<SharedGroup> {
    let gid = group.id;
    let gpath = group.dev_path();
    let gfd = host.open_group(group).map_err(|e| {
        let err = Error::new(format!(
            "Could not open '{}': {}",
            gpath.display(),
            e.strerror()
        ));
        // A group node opens once per system: this process shares its own
        // opens, so EBUSY means another holder.
        if e.errno() == nix::errno::Errno::EBUSY {
            err.with_hint(
                "The group is already open: is a device of it assigned by another process?",
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
    // From here the group is set to the container: dropping it unsets.
    let shared = SharedGroup {
        group: gfd,
        iommu_type,
        container,
        devices: Mutex::new(Vec::new()),
    };
    shared
        .container
        .set_iommu(iommu_type)
        .map_err(|e| sys(format_args!("{prefix}Failed to set iommu for container"), e))?;
    if iommu_type != vb::VFIO_NOIOMMU_IOMMU {
        shared
            .container
            .iommu_info()
            .map_err(|e| sys(format_args!("{prefix}Failed to get VFIO IOMMU info"), e))?;
    }
    Ok(shared)
}

/// The device cdev, with QEMU's doubled prefix and the kernel-config hint.
pub(crate) fn open_cdev(host: &Host, sysfsdev: &Path) -> Result<(Device, String)> {
    let cdev = host.open_cdev(sysfsdev).map_err(|e: CdevError| {
        Error::new(format!("vfio {}: {e}", e.dir().display()))
            .with_hint("Is your kernel config missing CONFIG_VFIO_DEVICE_CDEV?")
    })?;
    Ok((cdev.device, cdev.path.display().to_string()))
}

/// What the iommufd path attaches, and where it reports warnings.
struct Target<'a> {
    device: &'a Device,
    name: &'a str,
    vf_token: Option<&'a uuid::Uuid>,
    /// mdevs are attached straight to the IOAS (QEMU: "mdevs aren't
    /// physical devices and will fail with auto domains").
    mdev: bool,
    cx: &'a LifecycleCx<'a>,
}

/// Binds the device to an iommufd and attaches it to a new IOAS (reference §7.3).
fn attach_iommufd(
    link: Option<Link<IommufdBackend>>,
    host: &Host,
    t: &Target<'_>,
) -> Result<Backend> {
    match link {
        Some(l) => {
            let ids = {
                let mut b = l.borrow_mut()?;
                let ids = {
                    let fd = b.connect(host)?;
                    bind_and_attach(fd, t)
                };
                if ids.is_err() {
                    b.disconnect();
                }
                ids?
            };
            Ok(ids.into_backend(Some(l), None))
        }
        None => {
            let fd = host.open_iommufd().map_err(|e| {
                Error::new(format!("Could not open '/dev/iommu': {}", e.strerror()))
                    .with_hint("Is your kernel config missing CONFIG_IOMMUFD?")
            })?;
            let ids = bind_and_attach(&fd, t)?;
            Ok(ids.into_backend(None, Some(fd)))
        }
    }
}

/// The ids an iommufd attach produced.
struct Attachment {
    devid: u32,
    ioas: u32,
    hwpt: u32,
    hwpt_allocated: bool,
    dirty_tracking: bool,
    kvm: Option<KvmVfio>,
}

impl Attachment {
    fn into_backend(self, link: Option<Link<IommufdBackend>>, private: Option<Iommufd>) -> Backend {
        Backend::Iommufd {
            link,
            private,
            devid: self.devid,
            ioas: self.ioas,
            hwpt: self.hwpt,
            hwpt_allocated: self.hwpt_allocated,
            dirty_tracking: self.dirty_tracking,
            kvm: self.kvm,
        }
    }
}

/// BIND_IOMMUFD, IOAS_ALLOC, then (QEMU's auto domains) GET_HW_INFO,
/// HWPT_ALLOC (with dirty tracking when the IOMMU has it) and
/// ATTACH_IOMMUFD_PT to the HWPT — or, for an mdev, ATTACH to the IOAS.
/// Undoes what it allocated on failure. An IOAS whose IOVA ranges cannot
/// be read is a warning, as in QEMU.
fn bind_and_attach(iommufd: &Iommufd, t: &Target<'_>) -> Result<Attachment> {
    let device = t.device;
    // QEMU adds the device file to KVM before binding it (fatal on this path).
    let kvm = t.cx.resource::<KvmVfio>().cloned();
    if let Some(k) = &kvm {
        k.add(device.as_fd())?;
    }
    let attached = bind_and_attach_ids(iommufd, t);
    match (attached, &kvm) {
        (Ok(mut a), _) => {
            a.kvm = kvm;
            Ok(a)
        }
        (Err(e), Some(k)) => {
            k.del(device.as_fd());
            Err(e)
        }
        (Err(e), None) => Err(e),
    }
}

fn bind_and_attach_ids(iommufd: &Iommufd, t: &Target<'_>) -> Result<Attachment> {
    let raw = iommufd.as_fd().as_raw_fd();
    let device = t.device;
    let devfd = device.as_fd().as_raw_fd();
    let devid = device.bind_iommufd(iommufd, t.vf_token).map_err(|e| {
        sys(
            format_args!("error bind device fd={devfd} to iommufd={raw}"),
            e,
        )
    })?;
    let ioas = iommufd
        .ioas_alloc()
        .map_err(|e| sys("Failed to allocate ioas", e))?;
    let attach_err = |id: u32, e| {
        sys(
            format_args!(
                "[iommufd={raw}] error attach {} ({devfd}) to id={id}",
                t.name
            ),
            e,
        )
    };
    let attached = if t.mdev {
        device
            .attach_iommufd_pt(ioas)
            .map(|hwpt| (hwpt, false, false))
            .map_err(|e| attach_err(ioas, e))
    } else {
        auto_domain(iommufd, devid, ioas).and_then(|(hwpt, dirty)| {
            match device.attach_iommufd_pt(hwpt) {
                Ok(_) => Ok((hwpt, true, dirty)),
                Err(e) => {
                    let _ = iommufd.destroy(hwpt);
                    Err(attach_err(hwpt, e))
                }
            }
        })
    };
    let (hwpt, hwpt_allocated, dirty_tracking) = match attached {
        Ok(a) => a,
        Err(e) => {
            let _ = iommufd.destroy(ioas);
            return Err(e);
        }
    };
    if let Err(e) = iommufd.ioas_iova_ranges(ioas) {
        t.cx.warn(
            sys("Cannot get IOVA ranges", e)
                .with_hint("Fallback to default 64bit IOVA range and 4K page size"),
        );
    }
    Ok(Attachment {
        devid,
        ioas,
        hwpt,
        hwpt_allocated,
        dirty_tracking,
        kvm: None,
    })
}

/// A HWPT for the device on `ioas`, with dirty tracking when the IOMMU
/// reports it (QEMU's `iommufd_cdev_autodomains_get`).
fn auto_domain(iommufd: &Iommufd, devid: u32, ioas: u32) -> Result<(u32, bool)> {
    let info = iommufd
        .get_hw_info(devid)
        .map_err(|e| sys("Failed to get hardware info", e))?;
    let dirty = info.dirty_tracking();
    let flags = if dirty {
        crate::sys::iommufd::bindings::iommufd_hwpt_alloc_flags_IOMMU_HWPT_ALLOC_DIRTY_TRACKING
    } else {
        0
    };
    let hwpt = iommufd
        .hwpt_alloc(devid, ioas, flags)
        .map_err(|e| sys("Failed to allocate hwpt", e))?;
    Ok((hwpt, dirty))
}
