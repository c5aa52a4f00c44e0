//! All filesystem access of the VFIO layer: sysfs lookups and device nodes.
//!
//! A [`Host`] has a root directory. Callers always pass and receive
//! *logical* absolute paths — the paths QEMU would use and print, such as
//! `/sys/bus/pci/devices/0000:01:00.0` or `/dev/vfio/devices/vfio0` — and the
//! host maps them under its root with [`Host::resolve`]. Error values carry
//! logical paths too, so messages look the same for a test tree and for the
//! real machine.
//!
//! # Fake trees
//!
//! [`Host::fake`] points the layer at a directory built by a test (e.g. with
//! `tempfile`): `sys/bus/pci/devices/<BDF>/…` with real symlinks for
//! `iommu_group`, `driver`, `subsystem`, and `dev/…` for device nodes.
//! In a fake tree a "device node" may be a **regular file**:
//!
//! * every open (`/dev/vfio/vfio`, `/dev/vfio/<N>`, `/dev/iommu`, cdevs)
//!   simply opens the file `O_RDWR|O_CLOEXEC`; ioctls on it then fail with
//!   `ENOTTY`, which is how tests reach the ioctl error paths;
//! * the cdev check of [`Host::open_cdev`] (must be a char device with the
//!   `dev_t` from `vfio-dev/vfioN/dev`) accepts a regular file **only when
//!   the host is fake**, and then skips the `dev_t` comparison. A real char
//!   device in a fake tree (e.g. a symlink to `/dev/null`) is still checked.
//!
//! [`Host::system`] (root `/`) and [`Host::with_root`] (another root holding
//! real nodes, e.g. a container's view) never accept a regular file as a
//! cdev.

use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use crate::sys::iommufd::Iommufd;
use crate::sys::vfio::{Container, Device, Group};
use crate::sys::{Errno, Op, fault, strerror};

/// Logical path of the legacy VFIO container node.
pub const VFIO_CONTAINER_PATH: &str = "/dev/vfio/vfio";
/// Logical path of the iommufd node.
pub const IOMMU_PATH: &str = "/dev/iommu";
/// Logical directory of the VFIO device cdevs.
pub const VFIO_CDEV_DIR: &str = "/dev/vfio/devices";
/// Logical directory of the PCI devices in sysfs.
pub const PCI_DEVICES_DIR: &str = "/sys/bus/pci/devices";
/// Logical directory of the IOMMU groups in sysfs.
pub const IOMMU_GROUPS_DIR: &str = "/sys/kernel/iommu_groups";
/// Logical path the mdev check compares `realpath(<sysfsdev>/subsystem)` with.
pub const MDEV_BUS_PATH: &str = "/sys/bus/mdev";
/// The `name` of an IOMMU group created by VFIO's no-IOMMU mode.
pub const NOIOMMU_GROUP_NAME: &str = "vfio-noiommu";

fn errno_of(e: &io::Error) -> Errno {
    e.raw_os_error().map_or(Errno::EIO, Errno::from_raw)
}

/// Parse like C `sscanf("%d")`: optional leading whitespace, optional sign,
/// at least one digit; trailing characters are ignored.
fn scan_int(s: &str) -> Option<i64> {
    let s = s.trim_start();
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let v: i64 = rest[..digits].parse().ok()?;
    Some(if neg { -v } else { v })
}

/// Parse like C `sscanf("%d:%d")`.
fn scan_major_minor(s: &str) -> Option<(u32, u32)> {
    let s = s.trim_start();
    let colon = s.find(':')?;
    let major = scan_int(&s[..colon]).filter(|_| {
        // `%d` must consume everything before the ':' (no junk in between)
        let head = s[..colon].trim_start();
        head.trim_start_matches(['+', '-'])
            .bytes()
            .all(|b| b.is_ascii_digit())
    })?;
    let minor = scan_int(&s[colon + 1..])?;
    Some((u32::try_from(major).ok()?, u32::try_from(minor).ok()?))
}

fn basename(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.to_string_lossy().into_owned(),
        |n| n.to_string_lossy().into_owned(),
    )
}

// ---------------------------------------------------------------------------
// Errors

/// A failed filesystem operation on a logical path.
///
/// `Display` is `"<path>: <strerror>"`; the device layer builds QEMU's text
/// from [`PathError::path`] and [`PathError::strerror`], e.g.
/// `Could not open '/dev/vfio/vfio': No such file or directory` or
/// `no such host device: No such file or directory`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}", path.display(), strerror(*errno))]
pub struct PathError {
    /// Logical path (as QEMU would print it).
    pub path: PathBuf,
    /// The errno of the failing call.
    pub errno: Errno,
}

impl PathError {
    /// Logical path.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The errno.
    pub fn errno(&self) -> Errno {
        self.errno
    }
    /// libc `strerror` text of the errno.
    pub fn strerror(&self) -> String {
        strerror(self.errno)
    }
}

/// Failure to find a device's IOMMU group (QEMU legacy attach, step 1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// `readlink(<sysfsdev>/iommu_group)` failed (or the target was too long:
    /// `ENAMETOOLONG`). QEMU: `no iommu_group found: <strerror>`.
    #[error("no iommu_group found: {}", strerror(*errno))]
    NoIommuGroup {
        /// Logical path of the `iommu_group` link.
        link: PathBuf,
        /// The errno.
        errno: Errno,
    },
    /// The link's basename is not an integer. QEMU:
    /// `failed to read <target>: <strerror>`, where QEMU's errno is stale
    /// (whatever an earlier call left); this variant carries none, so the
    /// device layer chooses what to print.
    #[error("failed to read {}", target.display())]
    BadGroupLink {
        /// The link target as read.
        target: PathBuf,
    },
}

/// Why one candidate node was rejected by [`Host::open_cdev`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CdevRejection {
    /// `open(O_RDWR)` failed.
    Open(Errno),
    /// `fstat` failed.
    Stat(Errno),
    /// Not a character device (and not tolerated: see the module docs).
    NotCharDevice,
    /// A char device, but its `dev_t` differs from `vfio-dev/vfioN/dev`.
    DevMismatch {
        /// `(major, minor)` found on the node.
        found: (u32, u32),
    },
}

impl fmt::Display for CdevRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CdevRejection::Open(e) => write!(f, "open: {}", strerror(*e)),
            CdevRejection::Stat(e) => write!(f, "fstat: {}", strerror(*e)),
            CdevRejection::NotCharDevice => f.write_str("not a character device"),
            CdevRejection::DevMismatch { found } => {
                write!(f, "character device {}:{} does not match", found.0, found.1)
            }
        }
    }
}

/// Failure to open a device's VFIO cdev (QEMU's `hw/vfio/iommufd.c:
/// iommufd_cdev_getfd`).
///
/// `Display` gives exactly QEMU's inner message; QEMU prefixes each with
/// `vfio <sysfsdev>/vfio-dev: ` — that directory is [`CdevError::dir`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdevError {
    /// `opendir(<sysfsdev>/vfio-dev)` failed.
    /// QEMU: `couldn't open directory <dir>: <strerror>`.
    #[error("couldn't open directory {}: {}", dir.display(), strerror(*errno))]
    OpenDir {
        /// Logical `<sysfsdev>/vfio-dev`.
        dir: PathBuf,
        /// The errno.
        errno: Errno,
    },
    /// No entry starting with `vfio` in the directory.
    /// QEMU: `failed to find vfio-dev/vfioX/dev`.
    #[error("failed to find vfio-dev/vfioX/dev")]
    NoVfioDev {
        /// Logical `<sysfsdev>/vfio-dev`.
        dir: PathBuf,
    },
    /// Reading `<dir>/vfioN/dev` failed. QEMU: `failed to load "<path>"`
    /// (QEMU prints no errno; it is kept here for diagnostics).
    #[error("failed to load \"{}\"", path.display())]
    Load {
        /// Logical `<sysfsdev>/vfio-dev`.
        dir: PathBuf,
        /// Logical `<sysfsdev>/vfio-dev/vfioN/dev`.
        path: PathBuf,
        /// The errno of the read.
        errno: Errno,
    },
    /// The `dev` file is not `major:minor`.
    /// QEMU: `failed to get major:minor for "<path>"`.
    #[error("failed to get major:minor for \"{}\"", path.display())]
    MajorMinor {
        /// Logical `<sysfsdev>/vfio-dev`.
        dir: PathBuf,
        /// Logical `<sysfsdev>/vfio-dev/vfioN/dev`.
        path: PathBuf,
        /// The file content.
        content: String,
    },
    /// Neither `/dev/vfio/devices/vfioN` nor `/dev/char/<maj>:<min>` is the
    /// expected char device. QEMU: `Failed to open <path>` (no errno).
    #[error("Failed to open {}", path.display())]
    Open {
        /// Logical `<sysfsdev>/vfio-dev`.
        dir: PathBuf,
        /// Logical `/dev/vfio/devices/vfioN`.
        path: PathBuf,
        /// Each node tried (primary, then the `/dev/char` fallback) and why
        /// it was rejected.
        attempts: Vec<(PathBuf, CdevRejection)>,
    },
}

impl CdevError {
    /// The `<sysfsdev>/vfio-dev` directory QEMU names in its
    /// `vfio <dir>: ` prefix.
    pub fn dir(&self) -> &Path {
        match self {
            CdevError::OpenDir { dir, .. }
            | CdevError::NoVfioDev { dir }
            | CdevError::Load { dir, .. }
            | CdevError::MajorMinor { dir, .. }
            | CdevError::Open { dir, .. } => dir,
        }
    }

    /// The errno most relevant to the failure, if any (the last rejected
    /// open attempt for [`CdevError::Open`]).
    pub fn errno(&self) -> Option<Errno> {
        match self {
            CdevError::OpenDir { errno, .. } | CdevError::Load { errno, .. } => Some(*errno),
            CdevError::Open { attempts, .. } => attempts.iter().rev().find_map(|(_, r)| match r {
                CdevRejection::Open(e) | CdevRejection::Stat(e) => Some(*e),
                _ => None,
            }),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Results

/// A device's IOMMU group as found from `<sysfsdev>/iommu_group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IommuGroup {
    /// Group number (basename of the link).
    pub id: u32,
    /// The link target as read (e.g. `../../../kernel/iommu_groups/5`).
    pub link_target: PathBuf,
    /// Whether this is a VFIO no-IOMMU group (group `name` is
    /// `vfio-noiommu`, or only `/dev/vfio/noiommu-<N>` exists).
    pub noiommu: bool,
}

impl IommuGroup {
    /// Logical device node: `/dev/vfio/<N>` or `/dev/vfio/noiommu-<N>`.
    pub fn dev_path(&self) -> PathBuf {
        if self.noiommu {
            PathBuf::from(format!("/dev/vfio/noiommu-{}", self.id))
        } else {
            PathBuf::from(format!("/dev/vfio/{}", self.id))
        }
    }
}

/// An opened VFIO device cdev.
#[derive(Debug)]
pub struct Cdev {
    /// Entry name under `vfio-dev/` (e.g. `vfio0`).
    pub name: String,
    /// Logical path of the node actually opened (`/dev/vfio/devices/vfio0`,
    /// or the `/dev/char/<maj>:<min>` fallback).
    pub path: PathBuf,
    /// Major number from `vfio-dev/vfioN/dev`.
    pub major: u32,
    /// Minor number from `vfio-dev/vfioN/dev`.
    pub minor: u32,
    /// The device (not yet bound to an iommufd).
    pub device: Device,
}

// ---------------------------------------------------------------------------
// Host

/// Filesystem view used by the VFIO layer (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    root: PathBuf,
    fake: bool,
}

impl Default for Host {
    fn default() -> Self {
        Host::system()
    }
}

impl Host {
    /// The running system: root `/`, real device nodes.
    pub fn system() -> Host {
        Host {
            root: PathBuf::from("/"),
            fake: false,
        }
    }

    /// Real device nodes under another root directory (no fake tolerance).
    pub fn with_root(root: impl Into<PathBuf>) -> Host {
        Host {
            root: root.into(),
            fake: false,
        }
    }

    /// A fake tree built by a test: regular files stand in for device nodes
    /// (see the module docs for the exact rule).
    pub fn fake(root: impl Into<PathBuf>) -> Host {
        Host {
            root: root.into(),
            fake: true,
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether this is a fake tree.
    pub fn is_fake(&self) -> bool {
        self.fake
    }

    fn is_system_root(&self) -> bool {
        self.root == Path::new("/")
    }

    /// Map a logical path to the real one. With root `/` the path is used
    /// unchanged (a relative path stays relative to the working directory,
    /// like QEMU's `sysfsdev`); otherwise it is placed under the root
    /// (relative paths too).
    pub fn resolve(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        if self.is_system_root() {
            return path.to_path_buf();
        }
        let rel: PathBuf = path
            .components()
            .filter(|c| !matches!(c, Component::RootDir | Component::Prefix(_)))
            .collect();
        self.root.join(rel)
    }

    /// Map a real (canonical) path back to a logical one: strip the
    /// canonical root. Paths outside the root are returned unchanged.
    pub fn logical(&self, real: impl AsRef<Path>) -> PathBuf {
        let real = real.as_ref();
        if self.is_system_root() {
            return real.to_path_buf();
        }
        let root = fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        match real
            .strip_prefix(&root)
            .or_else(|_| real.strip_prefix(&self.root))
        {
            Ok(rest) => Path::new("/").join(rest),
            Err(_) => real.to_path_buf(),
        }
    }

    /// `/sys/bus/pci/devices/<bdf>` (logical).
    pub fn pci_device_dir(bdf: &str) -> PathBuf {
        Path::new(PCI_DEVICES_DIR).join(bdf)
    }

    /// QEMU's host-address format `%04x:%02x:%02x.%01x`.
    pub fn pci_bdf(domain: u32, bus: u32, slot: u32, function: u32) -> String {
        format!("{domain:04x}:{bus:02x}:{slot:02x}.{function:01x}")
    }

    /// `/dev/vfio/devices/<name>` (logical).
    pub fn vfio_cdev_path(name: &str) -> PathBuf {
        Path::new(VFIO_CDEV_DIR).join(name)
    }

    /// The device name QEMU derives from a sysfs path: its basename.
    pub fn device_name(sysfsdev: impl AsRef<Path>) -> String {
        basename(sysfsdev.as_ref())
    }

    fn perr(path: &Path, e: &io::Error) -> PathError {
        PathError {
            path: path.to_path_buf(),
            errno: errno_of(e),
        }
    }

    // -- generic filesystem helpers --------------------------------------

    /// Whether the logical path exists (following symlinks).
    pub fn exists(&self, path: impl AsRef<Path>) -> bool {
        self.resolve(path).exists()
    }

    /// `stat(sysfsdev)` (QEMU's `vfio_device_get_name` check). QEMU message
    /// on failure: `vfio <sysfsdev>: no such host device: <strerror>`.
    pub fn stat_device(&self, sysfsdev: impl AsRef<Path>) -> Result<(), PathError> {
        let p = sysfsdev.as_ref();
        fs::metadata(self.resolve(p))
            .map(drop)
            .map_err(|e| Self::perr(p, &e))
    }

    /// Read a whole (sysfs) file as text.
    pub fn read_to_string(&self, path: impl AsRef<Path>) -> Result<String, PathError> {
        let p = path.as_ref();
        fs::read(self.resolve(p))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| Self::perr(p, &e))
    }

    /// `readlink(2)`; the target is returned as stored in the link.
    pub fn read_link(&self, path: impl AsRef<Path>) -> Result<PathBuf, PathError> {
        let p = path.as_ref();
        fs::read_link(self.resolve(p)).map_err(|e| Self::perr(p, &e))
    }

    /// `realpath(3)`, returned as a logical path.
    pub fn canonicalize(&self, path: impl AsRef<Path>) -> Result<PathBuf, PathError> {
        let p = path.as_ref();
        fs::canonicalize(self.resolve(p))
            .map(|r| self.logical(r))
            .map_err(|e| Self::perr(p, &e))
    }

    /// Directory entry names in `readdir` order (without `.`/`..`).
    pub fn list_dir(&self, path: impl AsRef<Path>) -> Result<Vec<String>, PathError> {
        let p = path.as_ref();
        let rd = fs::read_dir(self.resolve(p)).map_err(|e| Self::perr(p, &e))?;
        let mut out = Vec::new();
        for ent in rd {
            let ent = ent.map_err(|e| Self::perr(p, &e))?;
            out.push(ent.file_name().to_string_lossy().into_owned());
        }
        Ok(out)
    }

    /// Open a device node (or, in a fake tree, a file) `O_RDWR|O_CLOEXEC`.
    /// QEMU message on failure: `Could not open '<path>': <strerror>`.
    pub fn open_rdwr(&self, path: impl AsRef<Path>) -> Result<OwnedFd, PathError> {
        let p = path.as_ref();
        fault::enter(Op::Open).map_err(|e| PathError {
            path: p.to_path_buf(),
            errno: e.errno(),
        })?;
        // std opens with O_CLOEXEC.
        OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.resolve(p))
            .map(OwnedFd::from)
            .map_err(|e| Self::perr(p, &e))
    }

    // -- VFIO lookups ----------------------------------------------------

    /// Open `/dev/vfio/vfio`.
    pub fn open_container(&self) -> Result<Container, PathError> {
        self.open_rdwr(VFIO_CONTAINER_PATH).map(Container::from_fd)
    }

    /// Open `/dev/iommu`.
    pub fn open_iommufd(&self) -> Result<Iommufd, PathError> {
        self.open_rdwr(IOMMU_PATH).map(Iommufd::from_fd)
    }

    /// Open the group node [`IommuGroup::dev_path`].
    pub fn open_group(&self, group: &IommuGroup) -> Result<Group, PathError> {
        self.open_rdwr(group.dev_path()).map(Group::from_fd)
    }

    /// Whether `sysfsdev` is a PCI device: its `subsystem` link names
    /// `pci` (a file such as `/etc/os-release`, a directory such as `/tmp`
    /// or an mdev is none).
    pub fn is_pci_device(&self, sysfsdev: impl AsRef<Path>) -> bool {
        self.read_link(sysfsdev.as_ref().join("subsystem"))
            .is_ok_and(|t| t.file_name().is_some_and(|n| n == "pci"))
    }

    /// How to turn the IOMMU on, for this host's CPU vendor, in the words
    /// of libvirt's `virt-host-validate` (`virHostValidateIOMMU` in
    /// tools/virt-host-validate-common.c): the vendor from the `vmx`/`svm`
    /// CPU flags, the firmware's part from its ACPI table (`DMAR`/`IVRS`),
    /// the kernel's from the boot argument that vendor's kernel takes
    /// (AMD's has no `amd_iommu=on`).
    pub fn iommu_enable_hint(&self) -> String {
        let cpuinfo = self.read_to_string("/proc/cpuinfo").unwrap_or_default();
        let has_flag = |flag: &str| {
            cpuinfo
                .lines()
                .filter(|l| l.starts_with("flags"))
                .any(|l| l.split_whitespace().any(|w| w == flag))
        };
        let (table, bootarg) = if has_flag("vmx") {
            ("DMAR", "intel_iommu=on")
        } else if has_flag("svm") {
            ("IVRS", "iommu=pt iommu=1")
        } else {
            return "Unknown if this platform has IOMMU support".to_owned();
        };
        if self.exists(format!("/sys/firmware/acpi/tables/{table}")) {
            format!(
                "IOMMU appears to be disabled in kernel. Add {bootarg} to kernel cmdline arguments"
            )
        } else {
            format!(
                "No ACPI {table} table found, IOMMU either disabled in BIOS or not supported by this hardware platform"
            )
        }
    }

    /// `readlink(<sysfsdev>/iommu_group)` → group id (basename parsed like
    /// `sscanf("%d")`; negative ids are rejected as
    /// [`GroupError::BadGroupLink`]), plus no-IOMMU detection: the group's
    /// `name` file (read through the link) is `vfio-noiommu`, or
    /// `/dev/vfio/<N>` is missing while `/dev/vfio/noiommu-<N>` exists.
    pub fn iommu_group(&self, sysfsdev: impl AsRef<Path>) -> Result<IommuGroup, GroupError> {
        let link = sysfsdev.as_ref().join("iommu_group");
        let target = self
            .read_link(&link)
            .map_err(|e| GroupError::NoIommuGroup {
                link: link.clone(),
                errno: e.errno,
            })?;
        // QEMU reads into a PATH_MAX buffer and rejects a full one.
        if target.as_os_str().len() >= libc::PATH_MAX as usize {
            return Err(GroupError::NoIommuGroup {
                link,
                errno: Errno::ENAMETOOLONG,
            });
        }
        let base = target
            .file_name()
            .map(OsStr::to_string_lossy)
            .unwrap_or_default();
        let id = scan_int(&base)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| GroupError::BadGroupLink {
                target: target.clone(),
            })?;
        let named_noiommu = self
            .read_to_string(link.join("name"))
            .is_ok_and(|n| n.trim_end() == NOIOMMU_GROUP_NAME);
        let node_noiommu = !self.exists(format!("/dev/vfio/{id}"))
            && self.exists(format!("/dev/vfio/noiommu-{id}"));
        Ok(IommuGroup {
            id,
            link_target: target,
            noiommu: named_noiommu || node_noiommu,
        })
    }

    /// Find and open the device's VFIO cdev exactly as QEMU's
    /// `iommufd_cdev_getfd`: first entry of `<sysfsdev>/vfio-dev/` whose name
    /// starts with `vfio` (readdir order), read its `dev` (`major:minor`),
    /// open `/dev/vfio/devices/<entry>` and require a char device with that
    /// `dev_t`; otherwise try `/dev/char/<major>:<minor>`.
    pub fn open_cdev(&self, sysfsdev: impl AsRef<Path>) -> Result<Cdev, CdevError> {
        let dir = sysfsdev.as_ref().join("vfio-dev");
        let entries = self.list_dir(&dir).map_err(|e| CdevError::OpenDir {
            dir: dir.clone(),
            errno: e.errno,
        })?;
        let Some(name) = entries.into_iter().find(|n| n.starts_with("vfio")) else {
            return Err(CdevError::NoVfioDev { dir });
        };
        let dev_path = dir.join(&name).join("dev");
        let content = self
            .read_to_string(&dev_path)
            .map_err(|e| CdevError::Load {
                dir: dir.clone(),
                path: dev_path.clone(),
                errno: e.errno,
            })?;
        let Some((major, minor)) = scan_major_minor(&content) else {
            return Err(CdevError::MajorMinor {
                dir,
                path: dev_path,
                content,
            });
        };
        let primary = Self::vfio_cdev_path(&name);
        let fallback = PathBuf::from(format!("/dev/char/{major}:{minor}"));
        let mut attempts = Vec::new();
        for candidate in [&primary, &fallback] {
            match self.open_char_dev(candidate, major, minor) {
                Ok(fd) => {
                    return Ok(Cdev {
                        name,
                        path: candidate.clone(),
                        major,
                        minor,
                        device: Device::from_fd(fd),
                    });
                }
                Err(why) => attempts.push((candidate.clone(), why)),
            }
        }
        Err(CdevError::Open {
            dir,
            path: primary,
            attempts,
        })
    }

    /// Open `path` `O_RDWR|O_CLOEXEC` and verify it is the char device
    /// `major:minor` (QEMU's `open_cdev_internal`). In a fake host a regular
    /// file is accepted without the `dev_t` check. The fd is closed on every
    /// rejection.
    pub fn open_char_dev(
        &self,
        path: impl AsRef<Path>,
        major: u32,
        minor: u32,
    ) -> Result<OwnedFd, CdevRejection> {
        fault::enter(Op::Open).map_err(|e| CdevRejection::Open(e.errno()))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.resolve(path))
            .map_err(|e| CdevRejection::Open(errno_of(&e)))?;
        let md = file
            .metadata()
            .map_err(|e| CdevRejection::Stat(errno_of(&e)))?;
        let ft = md.file_type();
        if ft.is_char_device() {
            let rdev = md.rdev();
            let found = (
                u32::try_from(nix::sys::stat::major(rdev)).unwrap_or(u32::MAX),
                u32::try_from(nix::sys::stat::minor(rdev)).unwrap_or(u32::MAX),
            );
            if found != (major, minor) {
                return Err(CdevRejection::DevMismatch { found });
            }
        } else if !(self.fake && ft.is_file()) {
            return Err(CdevRejection::NotCharDevice);
        }
        Ok(OwnedFd::from(file))
    }

    /// QEMU's mdev check: `realpath(<sysfsdev>/subsystem)` equals
    /// `/sys/bus/mdev` (under the root). `false` if the link cannot be
    /// resolved.
    pub fn is_mdev(&self, sysfsdev: impl AsRef<Path>) -> bool {
        let Ok(subsys) = fs::canonicalize(self.resolve(sysfsdev.as_ref().join("subsystem"))) else {
            return false;
        };
        let root = if self.is_system_root() {
            PathBuf::from("/")
        } else {
            fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone())
        };
        subsys == root.join(MDEV_BUS_PATH.trim_start_matches('/'))
    }

    /// The bound driver: basename of the `<sysfsdev>/driver` link, `None`
    /// when unbound.
    pub fn driver(&self, sysfsdev: impl AsRef<Path>) -> Option<String> {
        self.read_link(sysfsdev.as_ref().join("driver"))
            .ok()
            .map(|t| basename(&t))
    }

    /// PCI `vendor` and `device` ids of a sysfs PCI device (`0x1234` files).
    pub fn pci_ids(&self, sysfsdev: impl AsRef<Path>) -> Option<(u16, u16)> {
        let dir = sysfsdev.as_ref();
        let rd = |f: &str| -> Option<u16> {
            let s = self.read_to_string(dir.join(f)).ok()?;
            let s = s.trim();
            u16::from_str_radix(s.strip_prefix("0x").unwrap_or(s), 16).ok()
        };
        Some((rd("vendor")?, rd("device")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testtree::*;

    const BDF: &str = "0000:00:03.0";

    fn sysfsdev() -> PathBuf {
        Host::pci_device_dir(BDF)
    }

    fn tree() -> (tempfile::TempDir, Host) {
        let t = tempfile::tempdir().unwrap();
        let h = Host::fake(t.path());
        (t, h)
    }

    /// A fake tree with the vfio-pci device `BDF` (1234:11e8) in IOMMU
    /// group `group`, and its `vfio-dev/<name>/dev` when `cdev` is given.
    fn pci_tree(group: u32, cdev: Option<(&str, &str)>) -> (tempfile::TempDir, Host) {
        let (t, h) = tree();
        pci_host_device(
            t.path(),
            BDF,
            group,
            Some("vfio-pci"),
            (0x1234, 0x11e8),
            cdev,
        );
        (t, h)
    }

    /// How opening `BDF`'s cdev fails when its `vfio-dev` holds only the
    /// empty directory `entry`.
    fn cdev_error_with_entry(entry: &str) -> CdevError {
        let (t, h) = pci_tree(5, None);
        mkdir(
            t.path(),
            &format!("sys/devices/pci0000:00/0000:00:03.0/vfio-dev/{entry}"),
        );
        h.open_cdev(sysfsdev()).unwrap_err()
    }

    /// Replaces the symlink `path` below `root` with one to `target`.
    fn relink(root: &Path, path: &str, target: &str) {
        fs::remove_file(root.join(path)).unwrap();
        link(root, path, target);
    }

    #[test]
    fn resolve_and_logical_paths() {
        let (t, h) = tree();
        assert_eq!(h.resolve("/dev/vfio/vfio"), t.path().join("dev/vfio/vfio"));
        assert_eq!(h.resolve("dev/iommu"), t.path().join("dev/iommu"));
        assert_eq!(
            h.logical(t.path().join("sys/bus/mdev")),
            Path::new("/sys/bus/mdev")
        );
        assert_eq!(h.logical("/elsewhere"), Path::new("/elsewhere"));
        let s = Host::system();
        assert_eq!(s.resolve("/dev/vfio/vfio"), Path::new("/dev/vfio/vfio"));
        assert_eq!(s.resolve("rel/dir"), Path::new("rel/dir"));
        assert!(!s.is_fake() && h.is_fake());
        assert_eq!(Host::default(), s);
        assert_eq!(Host::pci_bdf(0, 1, 0x1f, 7), "0000:01:1f.7");
        assert_eq!(sysfsdev(), Path::new("/sys/bus/pci/devices/0000:00:03.0"));
        assert_eq!(
            Host::vfio_cdev_path("vfio0"),
            Path::new("/dev/vfio/devices/vfio0")
        );
        assert_eq!(Host::device_name("/sys/bus/mdev/devices/uuid-1"), "uuid-1");
    }

    #[test]
    fn stat_device_ok_and_missing() {
        let (_t, h) = pci_tree(5, None);
        h.stat_device(sysfsdev()).unwrap();
        let e = h
            .stat_device("/sys/bus/pci/devices/0000:99:00.0")
            .unwrap_err();
        assert_eq!(e.errno(), Errno::ENOENT);
        assert_eq!(e.path(), Path::new("/sys/bus/pci/devices/0000:99:00.0"));
        assert_eq!(
            e.to_string(),
            "/sys/bus/pci/devices/0000:99:00.0: No such file or directory"
        );
    }

    #[test]
    fn iommu_group_lookup() {
        let (_t, h) = pci_tree(5, None);
        let g = h.iommu_group(sysfsdev()).unwrap();
        assert_eq!(g.id, 5);
        assert!(!g.noiommu);
        assert_eq!(g.link_target, Path::new("../../../kernel/iommu_groups/5"));
        assert_eq!(g.dev_path(), Path::new("/dev/vfio/5"));
    }

    #[test]
    fn iommu_group_missing_link() {
        let (t, h) = tree();
        mkdir(t.path(), "sys/bus/pci/devices/0000:00:04.0");
        let e = h
            .iommu_group("/sys/bus/pci/devices/0000:00:04.0")
            .unwrap_err();
        assert_eq!(
            e,
            GroupError::NoIommuGroup {
                link: PathBuf::from("/sys/bus/pci/devices/0000:00:04.0/iommu_group"),
                errno: Errno::ENOENT
            }
        );
        assert_eq!(
            e.to_string(),
            "no iommu_group found: No such file or directory"
        );
        // a regular file instead of a link: EINVAL, like readlink(2)
        write(
            t.path(),
            "sys/bus/pci/devices/0000:00:04.0/iommu_group",
            "5",
        );
        let e = h
            .iommu_group("/sys/bus/pci/devices/0000:00:04.0")
            .unwrap_err();
        assert!(matches!(
            e,
            GroupError::NoIommuGroup {
                errno: Errno::EINVAL,
                ..
            }
        ));
    }

    #[test]
    fn iommu_group_bad_basename() {
        let (t, h) = tree();
        mkdir(t.path(), "sys/bus/pci/devices/x");
        link(
            t.path(),
            "sys/bus/pci/devices/x/iommu_group",
            "../../../kernel/iommu_groups/abc",
        );
        let e = h.iommu_group("/sys/bus/pci/devices/x").unwrap_err();
        assert_eq!(
            e,
            GroupError::BadGroupLink {
                target: PathBuf::from("../../../kernel/iommu_groups/abc")
            }
        );
        assert_eq!(
            e.to_string(),
            "failed to read ../../../kernel/iommu_groups/abc"
        );
        // sscanf("%d") semantics: leading digits are enough
        relink(
            t.path(),
            "sys/bus/pci/devices/x/iommu_group",
            "../groups/12abc",
        );
        assert_eq!(h.iommu_group("/sys/bus/pci/devices/x").unwrap().id, 12);
        relink(
            t.path(),
            "sys/bus/pci/devices/x/iommu_group",
            "../groups/-1",
        );
        assert!(matches!(
            h.iommu_group("/sys/bus/pci/devices/x"),
            Err(GroupError::BadGroupLink { .. })
        ));
    }

    #[test]
    fn noiommu_group_by_name_and_by_node() {
        let (t, h) = pci_tree(0, None);
        write(t.path(), "sys/kernel/iommu_groups/0/name", "vfio-noiommu\n");
        let g = h.iommu_group(sysfsdev()).unwrap();
        assert!(g.noiommu);
        assert_eq!(g.dev_path(), Path::new("/dev/vfio/noiommu-0"));

        let (t, h) = pci_tree(3, None);
        write(t.path(), "dev/vfio/noiommu-3", "");
        assert!(h.iommu_group(sysfsdev()).unwrap().noiommu);
        write(t.path(), "dev/vfio/3", "");
        assert!(!h.iommu_group(sysfsdev()).unwrap().noiommu);
    }

    #[test]
    fn open_nodes_in_a_fake_tree() {
        let (t, h) = tree();
        let e = h.open_container().unwrap_err();
        assert_eq!(
            (e.path(), e.errno()),
            (Path::new("/dev/vfio/vfio"), Errno::ENOENT)
        );
        assert_eq!(
            h.open_iommufd().unwrap_err().path(),
            Path::new("/dev/iommu")
        );
        write(t.path(), "dev/vfio/vfio", "");
        write(t.path(), "dev/iommu", "");
        write(t.path(), "dev/vfio/7", "");
        let c = h.open_container().unwrap();
        // a regular file: the ioctl fails cleanly
        assert_eq!(c.api_version().unwrap_err().errno(), Errno::ENOTTY);
        h.open_iommufd().unwrap();
        let g = IommuGroup {
            id: 7,
            link_target: PathBuf::from("x/7"),
            noiommu: false,
        };
        h.open_group(&g).unwrap();
        let g8 = IommuGroup { id: 8, ..g };
        assert_eq!(
            h.open_group(&g8).unwrap_err().path(),
            Path::new("/dev/vfio/8")
        );
    }

    #[test]
    fn cdev_missing_directory() {
        let (_t, h) = pci_tree(5, None);
        let e = h.open_cdev(sysfsdev()).unwrap_err();
        let dir = PathBuf::from("/sys/bus/pci/devices/0000:00:03.0/vfio-dev");
        assert_eq!(
            e,
            CdevError::OpenDir {
                dir: dir.clone(),
                errno: Errno::ENOENT
            }
        );
        assert_eq!(e.dir(), dir);
        assert_eq!(e.errno(), Some(Errno::ENOENT));
        assert_eq!(
            format!("vfio {}: {e}", e.dir().display()),
            "vfio /sys/bus/pci/devices/0000:00:03.0/vfio-dev: couldn't open directory \
             /sys/bus/pci/devices/0000:00:03.0/vfio-dev: No such file or directory"
        );
    }

    #[test]
    fn cdev_no_vfio_entry() {
        let e = cdev_error_with_entry("other");
        assert!(matches!(e, CdevError::NoVfioDev { .. }));
        assert_eq!(e.to_string(), "failed to find vfio-dev/vfioX/dev");
        assert_eq!(e.errno(), None);
    }

    #[test]
    fn cdev_dev_file_unreadable() {
        let e = cdev_error_with_entry("vfio0");
        assert!(matches!(
            e,
            CdevError::Load {
                errno: Errno::ENOENT,
                ..
            }
        ));
        assert_eq!(
            e.to_string(),
            "failed to load \"/sys/bus/pci/devices/0000:00:03.0/vfio-dev/vfio0/dev\""
        );
    }

    #[test]
    fn cdev_bad_major_minor() {
        for bad in ["", "garbage\n", "511\n", "x:1\n", "5:\n"] {
            let (_t, h) = pci_tree(5, Some(("vfio0", bad)));
            let e = h.open_cdev(sysfsdev()).unwrap_err();
            assert!(matches!(e, CdevError::MajorMinor { .. }), "{bad:?}: {e:?}");
            assert_eq!(
                e.to_string(),
                "failed to get major:minor for \"/sys/bus/pci/devices/0000:00:03.0/vfio-dev/vfio0/dev\""
            );
        }
    }

    #[test]
    fn cdev_node_missing() {
        let (_t, h) = pci_tree(5, Some(("vfio0", "511:0\n")));
        let e = h.open_cdev(sysfsdev()).unwrap_err();
        assert_eq!(e.to_string(), "Failed to open /dev/vfio/devices/vfio0");
        let CdevError::Open { attempts, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(
            attempts,
            &vec![
                (
                    PathBuf::from("/dev/vfio/devices/vfio0"),
                    CdevRejection::Open(Errno::ENOENT)
                ),
                (
                    PathBuf::from("/dev/char/511:0"),
                    CdevRejection::Open(Errno::ENOENT)
                ),
            ]
        );
        assert_eq!(e.errno(), Some(Errno::ENOENT));
    }

    #[test]
    fn cdev_found_as_regular_file_in_fake_tree_only() {
        let (t, h) = pci_tree(5, Some(("vfio0", "511:0\n")));
        write(t.path(), "dev/vfio/devices/vfio0", "");
        let c = h.open_cdev(sysfsdev()).unwrap();
        assert_eq!((c.name.as_str(), c.major, c.minor), ("vfio0", 511, 0));
        assert_eq!(c.path, Path::new("/dev/vfio/devices/vfio0"));
        assert_eq!(c.device.info().unwrap_err().errno(), Errno::ENOTTY);

        // same tree, but not declared fake: a regular file is no cdev
        let real = Host::with_root(t.path());
        let e = real.open_cdev(sysfsdev()).unwrap_err();
        let CdevError::Open { attempts, .. } = e else {
            panic!()
        };
        assert_eq!(attempts[0].1, CdevRejection::NotCharDevice);
    }

    #[test]
    fn cdev_fallback_to_dev_char() {
        let (t, h) = pci_tree(5, Some(("vfio1", "511:1\n")));
        write(t.path(), "dev/char/511:1", "");
        let c = h.open_cdev(sysfsdev()).unwrap();
        assert_eq!(c.path, Path::new("/dev/char/511:1"));
        assert_eq!(c.name, "vfio1");
    }

    #[test]
    fn cdev_real_char_device_is_dev_t_checked() {
        // /dev/null is char 1:3 on Linux.
        let (t, h) = pci_tree(5, Some(("vfio0", "511:0\n")));
        link(t.path(), "dev/vfio/devices/vfio0", "/dev/null");
        let e = h.open_cdev(sysfsdev()).unwrap_err();
        let CdevError::Open { attempts, .. } = e else {
            panic!()
        };
        assert_eq!(attempts[0].1, CdevRejection::DevMismatch { found: (1, 3) });

        let (t, h) = pci_tree(5, Some(("vfio0", "1:3\n")));
        link(t.path(), "dev/vfio/devices/vfio0", "/dev/null");
        assert_eq!(h.open_cdev(sysfsdev()).unwrap().major, 1);
    }

    #[test]
    fn mdev_check() {
        let (t, h) = pci_tree(5, None);
        assert!(!h.is_mdev(sysfsdev()));
        let uuid = "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001";
        mkdir(t.path(), &format!("sys/devices/virtual/mdev/{uuid}"));
        mkdir(t.path(), "sys/bus/mdev");
        link(
            t.path(),
            &format!("sys/bus/mdev/devices/{uuid}"),
            &format!("../../../devices/virtual/mdev/{uuid}"),
        );
        link(
            t.path(),
            &format!("sys/devices/virtual/mdev/{uuid}/subsystem"),
            "../../../../bus/mdev",
        );
        assert!(h.is_mdev(format!("/sys/bus/mdev/devices/{uuid}")));
        assert!(!h.is_mdev("/sys/bus/mdev/devices/missing"));
    }

    #[test]
    fn driver_and_ids() {
        let (t, h) = pci_tree(5, None);
        pci_host_device(t.path(), "0000:00:04.0", 6, None, (0x8086, 0x100e), None);
        assert_eq!(h.driver(sysfsdev()).as_deref(), Some("vfio-pci"));
        assert_eq!(h.driver("/sys/bus/pci/devices/0000:00:04.0"), None);
        assert_eq!(h.pci_ids(sysfsdev()), Some((0x1234, 0x11e8)));
        assert_eq!(
            h.pci_ids("/sys/bus/pci/devices/0000:00:04.0"),
            Some((0x8086, 0x100e))
        );
        assert_eq!(h.pci_ids("/sys/bus/pci/devices/none"), None);
    }

    #[test]
    fn generic_helpers() {
        let (t, h) = tree();
        write(t.path(), "sys/bus/css/devices/0.0.0001/chpids", "00 00\n");
        assert_eq!(
            h.read_to_string("/sys/bus/css/devices/0.0.0001/chpids")
                .unwrap(),
            "00 00\n"
        );
        let e = h
            .read_to_string("/sys/bus/css/devices/0.0.0002/chpids")
            .unwrap_err();
        assert_eq!(e.errno(), Errno::ENOENT);
        assert!(h.exists("/sys/bus/css"));
        let mut names = h.list_dir("/sys/bus/css/devices").unwrap();
        names.sort();
        assert_eq!(names, ["0.0.0001"]);
        link(t.path(), "sys/bus/css/link", "devices/0.0.0001");
        assert_eq!(
            h.canonicalize("/sys/bus/css/link").unwrap(),
            Path::new("/sys/bus/css/devices/0.0.0001")
        );
        assert_eq!(
            h.read_link("/sys/bus/css/link").unwrap(),
            Path::new("devices/0.0.0001")
        );
        assert_eq!(h.canonicalize("/nope").unwrap_err().errno(), Errno::ENOENT);
        assert_eq!(
            h.open_rdwr("/sys/bus/css").unwrap_err().errno(),
            Errno::EISDIR
        );
    }

    #[test]
    fn scanf_like_parsers() {
        assert_eq!(scan_int(" 42abc"), Some(42));
        assert_eq!(scan_int("-3"), Some(-3));
        assert_eq!(scan_int("abc"), None);
        assert_eq!(scan_major_minor("511:0\n"), Some((511, 0)));
        assert_eq!(scan_major_minor(" 10:200x"), Some((10, 200)));
        assert_eq!(scan_major_minor("10 :2"), None);
        assert_eq!(scan_major_minor("10"), None);
    }
}
