//! The two VFIO backends and the choice between them, and the groups this
//! process has open (shared by their devices).

use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use qomgen::{Error, LifecycleCx, Link, PropertyEnum, Result};
use vfio_bindings::bindings::vfio as vb;

use super::IommufdState;
use super::domains::{Domains, Joiner, Placement};
use super::kvm::KvmVfio;
use crate::host::{CdevError, CdevRejection, GroupError, Host, IommuGroup};
use crate::sys::Errno;
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
        link: Option<Link<IommufdState>>,
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
                group.members().names.retain(|n| n != name);
            }
            Backend::Iommufd {
                link,
                private,
                ioas,
                hwpt,
                hwpt_allocated,
                dirty_tracking,
                ..
            } => {
                let placement = Placement {
                    ioas: *ioas,
                    hwpt: *hwpt,
                    hwpt_allocated: *hwpt_allocated,
                    dirty_tracking: *dirty_tracking,
                };
                if let Some(p) = private {
                    // The HWPT holds the IOAS: free it first (QEMU's
                    // autodomains_put, then container_destroy).
                    if *hwpt_allocated {
                        let _ = p.destroy(*hwpt);
                    }
                    let _ = p.destroy(*ioas);
                } else if let Some(l) = link
                    && let Ok(mut b) = l.borrow_mut()
                {
                    let _ = b.with_domains(|fd, d| d.release(fd, &placement));
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
    members: Mutex<Members>,
}

/// The devices realized from a group, and whether the group lets RAM be
/// discarded under them (QEMU's per-group `ram_block_discard_allowed`).
#[derive(Debug, Default)]
struct Members {
    names: Vec<String>,
    discard_allowed: bool,
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
        self.members().names.clone()
    }

    fn members(&self) -> std::sync::MutexGuard<'_, Members> {
        // A poisoned list is still a valid list of names.
        self.members.lock().unwrap_or_else(|p| p.into_inner())
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

/// What the device model tells the backend about the device.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttachTraits {
    /// A mediated device (attached to the IOAS, not a HWPT of its own).
    pub(crate) mdev: bool,
    /// The device pins no guest pages, so RAM may be discarded under it
    /// (QEMU's `ram_block_discard_allowed`: vfio-ccw, vfio-ap, an mdev with
    /// `x-balloon-allowed`).
    pub(crate) discard_allowed: bool,
    /// vfio-pci's `vf-token`, when set.
    pub(crate) vf_token: Option<uuid::Uuid>,
}

/// Picks and attaches the backend (QEMU's `hw/vfio/device.c: vfio_device_attach`:
/// the `iommufd` link alone decides; plus qomgen's policy), and opens the
/// device: from `fd=`, the cdev, or the group. `vfio` gives the `fd=` and
/// `iommufd=` the user set; `sysfsdev` is the device's path (from
/// `sysfsdev=` or vfio-pci's `host=`), `name` its QEMU name.
pub(crate) fn attach(
    vfio: &super::VfioCommon,
    cx: &LifecycleCx<'_>,
    host: &Host,
    sysfsdev: Option<&Path>,
    name: &str,
    t: AttachTraits,
) -> Result<(Backend, Device, BackendChoice)> {
    let (fd, link) = (vfio.fd.as_ref(), vfio.iommufd.as_ref());
    let token = t.vf_token.as_ref();
    let mdev = t.mdev;
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
        let (mut backend, device, source) =
            attach_legacy(host, path, name, token, t.discard_allowed)?;
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

/// Legacy attach (`hw/vfio/container-legacy.c: vfio_legacy_attach_device`): group → viability → container → type1
/// → device fd, or the device fd from a group already open here.
pub(crate) fn attach_legacy(
    host: &Host,
    sysfsdev: &Path,
    name: &str,
    token: Option<&uuid::Uuid>,
    discard_allowed: bool,
) -> Result<(Backend, Device, String)> {
    let group: IommuGroup = host.iommu_group(sysfsdev).map_err(|e| match e {
        GroupError::NoIommuGroup { errno, .. } => {
            let e = Error::new(format!(
                "no iommu_group found: {}",
                crate::sys::strerror(errno)
            ));
            // Only a PCI device lacks a group for want of an IOMMU; a
            // path that is no device (a file, /tmp) or an mdev does not.
            if host.is_pci_device(sysfsdev) {
                e.with_hint(format!(
                    "Is the IOMMU enabled, or is vfio's noiommu mode wanted? {}",
                    host.iommu_enable_hint()
                ))
            } else {
                e
            }
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
    if shared.members().names.iter().any(|n| n == name) {
        return Err(Error::new("device is already attached"));
    }
    let dev_name = crate::sys::vfio::device_fd_name(name, token);
    let device = shared.group.device(&dev_name).map_err(|e| {
        sys(format_args!("error getting device from group {gid}"), e).with_hint(format!(
            "Verify all devices in group {gid} are bound to vfio-<bus> or pci-stub and not already in use"
        ))
    })?;
    {
        let mut m = shared.members();
        // Only devices that pin no guest pages allow discarding; one that
        // pins them makes it unsafe for the whole group.
        if discard_allowed != m.discard_allowed {
            if !m.names.is_empty() {
                return Err(Error::new(
                    "Inconsistent setting of support for discarding RAM (e.g., balloon) within group",
                ));
            }
            m.discard_allowed = discard_allowed;
        }
        m.names.push(name.to_owned());
    }
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
        super::open_error("/dev/vfio/vfio", e.errno, "CONFIG_VFIO_CONTAINER").prepend(&prefix)
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
        members: Mutex::new(Members::default()),
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

/// The device cdev, with QEMU's doubled prefix and [`cdev_hint`].
pub(crate) fn open_cdev(host: &Host, sysfsdev: &Path) -> Result<(Device, String)> {
    let cdev = host.open_cdev(sysfsdev).map_err(|e: CdevError| {
        let err = Error::new(format!("vfio {}: {e}", e.dir().display()));
        match cdev_hint(&e) {
            Some(h) => err.with_hint(h),
            None => err,
        }
    })?;
    Ok((cdev.device, cdev.path.display().to_string()))
}

/// A kernel without CONFIG_VFIO_DEVICE_CDEV has no `vfio-dev/vfioN/dev`
/// (or, before the vfio device class, no `vfio-dev` at all) and no node:
/// those name the option. A node this process may not open says so; a
/// malformed `dev` or a node of the wrong kind is no missing option.
fn cdev_hint(e: &CdevError) -> Option<String> {
    const CONFIG: &str = "CONFIG_VFIO_DEVICE_CDEV";
    let path_hint = |errno, p: &Path| super::open_hint(errno, &p.display().to_string(), CONFIG);
    match e {
        CdevError::OpenDir { dir, errno } => path_hint(*errno, dir),
        CdevError::Load { path, errno, .. } => path_hint(*errno, path),
        CdevError::NoVfioDev { .. } => Some(super::config_hint(CONFIG)),
        CdevError::MajorMinor { .. } => None,
        CdevError::Open { attempts, .. } => {
            let denied = attempts
                .iter()
                .find(|(_, r)| matches!(r, CdevRejection::Open(Errno::EACCES | Errno::EPERM)));
            let missing = attempts
                .iter()
                .all(|(_, r)| *r == CdevRejection::Open(Errno::ENOENT));
            match denied {
                Some((node, _)) => path_hint(Errno::EACCES, node),
                None if missing => Some(super::config_hint(CONFIG)),
                None => None,
            }
        }
    }
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

/// Binds the device to an iommufd and attaches it (`hw/vfio/iommufd.c: iommufd_cdev_attach`): a
/// linked backend's IOAS and HWPTs are shared with its other devices.
fn attach_iommufd(
    link: Option<Link<IommufdState>>,
    host: &Host,
    t: &Target<'_>,
) -> Result<Backend> {
    match link {
        Some(l) => {
            let placed = {
                let mut b = l.borrow_mut()?;
                b.connect(host)?;
                let placed = b
                    .with_domains(|fd, d| bind_and_attach(fd, d, t))
                    .and_then(|r| r);
                if placed.is_err() {
                    b.disconnect();
                }
                placed?
            };
            Ok(placed.into_backend(Some(l), None))
        }
        None => {
            let fd = host
                .open_iommufd()
                .map_err(|e| super::open_error("/dev/iommu", e.errno, "CONFIG_IOMMUFD"))?;
            // A private iommufd serves this device alone.
            let placed = bind_and_attach(&fd, &mut Domains::default(), t)?;
            Ok(placed.into_backend(None, Some(fd)))
        }
    }
}

/// What an iommufd attach produced.
struct Attachment {
    devid: u32,
    placement: Placement,
    kvm: Option<KvmVfio>,
}

impl Attachment {
    fn into_backend(self, link: Option<Link<IommufdState>>, private: Option<Iommufd>) -> Backend {
        let p = self.placement;
        Backend::Iommufd {
            link,
            private,
            devid: self.devid,
            ioas: p.ioas,
            hwpt: p.hwpt,
            hwpt_allocated: p.hwpt_allocated,
            dirty_tracking: p.dirty_tracking,
            kvm: self.kvm,
        }
    }
}

/// KVM (when the tree has it), BIND_IOMMUFD, then the IOAS and HWPT
/// ([`Domains::attach`]); undoes what it did on failure. An IOAS whose IOVA
/// ranges cannot be read is a warning, as in QEMU.
fn bind_and_attach(iommufd: &Iommufd, domains: &mut Domains, t: &Target<'_>) -> Result<Attachment> {
    let device = t.device;
    // QEMU adds the device file to KVM before binding it (fatal on this path).
    let kvm = t.cx.resource::<KvmVfio>().cloned();
    if let Some(k) = &kvm {
        k.add(device.as_fd())?;
    }
    let raw = iommufd.as_fd().as_raw_fd();
    let devfd = device.as_fd().as_raw_fd();
    let placed = device
        .bind_iommufd(iommufd, t.vf_token)
        .map_err(|e| {
            sys(
                format_args!("error bind device fd={devfd} to iommufd={raw}"),
                e,
            )
        })
        .and_then(|devid| {
            let j = Joiner {
                device,
                devid,
                name: t.name,
                mdev: t.mdev,
            };
            domains.attach(iommufd, &j).map(|p| (devid, p))
        });
    let (devid, placement) = match placed {
        Ok(p) => p,
        Err(e) => {
            if let Some(k) = &kvm {
                k.del(device.as_fd());
            }
            return Err(e);
        }
    };
    if let Err(e) = iommufd.ioas_iova_ranges(placement.ioas) {
        t.cx.warn(
            sys("Cannot get IOVA ranges", e)
                .with_hint("Fallback to default 64bit IOVA range and 4K page size"),
        );
    }
    Ok(Attachment {
        devid,
        placement,
        kvm,
    })
}
