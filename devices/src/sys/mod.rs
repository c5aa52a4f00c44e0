//! Safe wrappers around the Linux VFIO and iommufd ioctl interfaces.
//!
//! Every kernel object is held as an [`OwnedFd`](std::os::fd::OwnedFd) inside a
//! small handle type ([`vfio::Container`], [`vfio::Group`], [`vfio::Device`],
//! [`iommufd::Iommufd`]); closing happens on drop. The handles never open
//! paths themselves: files are opened through [`crate::host::Host`], which
//! owns all filesystem access, and then wrapped with `from_fd`/`From<OwnedFd>`.
//!
//! Every failing call returns a [`SysError`] that carries the operation
//! ([`Op`]) and the raw [`Errno`], so that the device layer can compose QEMU's
//! messages as `<text>: <strerror>` using [`strerror`].
//!
//! Every wrapper enters through [`fault`], the test seam that lets a test
//! inject a failure into any [`Op`] or answer the few queries realize checks
//! (see that module; without an installed plan it does nothing).

/// A handle that owns one kernel descriptor (closed on drop): the struct,
/// `from_fd` (documented by the attributes after the name), `into_fd`,
/// `AsFd` and `From<OwnedFd>`.
macro_rules! fd_handle {
    ($(#[$meta:meta])* $name:ident, $(#[$from_meta:meta])*) => {
        $(#[$meta])*
        #[derive(Debug)]
        pub struct $name {
            fd: std::os::fd::OwnedFd,
        }

        impl $name {
            $(#[$from_meta])*
            pub fn from_fd(fd: std::os::fd::OwnedFd) -> Self {
                $name { fd }
            }

            /// Give the fd back.
            pub fn into_fd(self) -> std::os::fd::OwnedFd {
                self.fd
            }
        }

        impl std::os::fd::AsFd for $name {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(&self.fd)
            }
        }

        impl From<std::os::fd::OwnedFd> for $name {
            fn from(fd: std::os::fd::OwnedFd) -> Self {
                $name::from_fd(fd)
            }
        }
    };
}

pub mod ccw;
pub mod fault;
mod info;
mod ioctls;
pub mod iommufd;
pub mod kvm;
pub mod vfio;

use std::fmt;

pub use nix::errno::Errno;

/// The operation that failed, as named in the kernel uAPI.
///
/// `Display` prints the uAPI name (e.g. `VFIO_GROUP_GET_STATUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// `VFIO_GET_API_VERSION` on the container.
    GetApiVersion,
    /// `VFIO_CHECK_EXTENSION` on the container.
    CheckExtension,
    /// `VFIO_SET_IOMMU` on the container.
    SetIommu,
    /// `VFIO_IOMMU_GET_INFO` on the container.
    IommuGetInfo,
    /// `VFIO_IOMMU_MAP_DMA` on the container.
    MapDma,
    /// `VFIO_IOMMU_UNMAP_DMA` on the container.
    UnmapDma,
    /// `VFIO_GROUP_GET_STATUS` on a group.
    GroupGetStatus,
    /// `VFIO_GROUP_SET_CONTAINER` on a group.
    GroupSetContainer,
    /// `VFIO_GROUP_UNSET_CONTAINER` on a group.
    GroupUnsetContainer,
    /// `VFIO_GROUP_GET_DEVICE_FD` on a group.
    GroupGetDeviceFd,
    /// `VFIO_DEVICE_GET_INFO` on a device.
    DeviceGetInfo,
    /// `VFIO_DEVICE_GET_REGION_INFO` on a device.
    DeviceGetRegionInfo,
    /// `VFIO_DEVICE_GET_IRQ_INFO` on a device.
    DeviceGetIrqInfo,
    /// `VFIO_DEVICE_SET_IRQS` on a device.
    DeviceSetIrqs,
    /// `VFIO_DEVICE_RESET` on a device.
    DeviceReset,
    /// `VFIO_DEVICE_QUERY_GFX_PLANE` on a device.
    DeviceQueryGfxPlane,
    /// `VFIO_DEVICE_FEATURE` on a device.
    DeviceFeature,
    /// `VFIO_DEVICE_BIND_IOMMUFD` on a device cdev.
    DeviceBindIommufd,
    /// `VFIO_DEVICE_ATTACH_IOMMUFD_PT` on a device cdev.
    DeviceAttachIommufdPt,
    /// `VFIO_DEVICE_DETACH_IOMMUFD_PT` on a device cdev.
    DeviceDetachIommufdPt,
    /// `pread(2)` on a device region.
    RegionRead,
    /// `pwrite(2)` on a device region.
    RegionWrite,
    /// `mmap(2)` of a device region.
    RegionMmap,
    /// `IOMMU_DESTROY` on an iommufd.
    IommuDestroy,
    /// `IOMMU_IOAS_ALLOC` on an iommufd.
    IoasAlloc,
    /// `IOMMU_IOAS_MAP` on an iommufd.
    IoasMap,
    /// `IOMMU_IOAS_UNMAP` on an iommufd.
    IoasUnmap,
    /// `IOMMU_IOAS_IOVA_RANGES` on an iommufd.
    IoasIovaRanges,
    /// `IOMMU_GET_HW_INFO` on an iommufd.
    GetHwInfo,
    /// `IOMMU_HWPT_ALLOC` on an iommufd.
    HwptAlloc,
    /// `eventfd(2)`, for an interrupt notifier.
    Eventfd,
    /// `KVM_CREATE_DEVICE` (the KVM-VFIO device) on a VM.
    KvmCreateDevice,
    /// `KVM_SET_DEVICE_ATTR` on the KVM-VFIO device.
    KvmSetDeviceAttr,
    /// `open(2)` of a device node by the host layer (`/dev/iommu`, the
    /// container, a group, a cdev). A fault plan can inject it (the errors
    /// a privileged test cannot meet, like `EACCES`); only an injected open
    /// is recorded.
    Open,
}

impl Op {
    /// The kernel uAPI name of the operation.
    pub const fn name(self) -> &'static str {
        match self {
            Op::GetApiVersion => "VFIO_GET_API_VERSION",
            Op::CheckExtension => "VFIO_CHECK_EXTENSION",
            Op::SetIommu => "VFIO_SET_IOMMU",
            Op::IommuGetInfo => "VFIO_IOMMU_GET_INFO",
            Op::MapDma => "VFIO_IOMMU_MAP_DMA",
            Op::UnmapDma => "VFIO_IOMMU_UNMAP_DMA",
            Op::GroupGetStatus => "VFIO_GROUP_GET_STATUS",
            Op::GroupSetContainer => "VFIO_GROUP_SET_CONTAINER",
            Op::GroupUnsetContainer => "VFIO_GROUP_UNSET_CONTAINER",
            Op::GroupGetDeviceFd => "VFIO_GROUP_GET_DEVICE_FD",
            Op::DeviceGetInfo => "VFIO_DEVICE_GET_INFO",
            Op::DeviceGetRegionInfo => "VFIO_DEVICE_GET_REGION_INFO",
            Op::DeviceGetIrqInfo => "VFIO_DEVICE_GET_IRQ_INFO",
            Op::DeviceSetIrqs => "VFIO_DEVICE_SET_IRQS",
            Op::DeviceReset => "VFIO_DEVICE_RESET",
            Op::DeviceQueryGfxPlane => "VFIO_DEVICE_QUERY_GFX_PLANE",
            Op::DeviceFeature => "VFIO_DEVICE_FEATURE",
            Op::DeviceBindIommufd => "VFIO_DEVICE_BIND_IOMMUFD",
            Op::DeviceAttachIommufdPt => "VFIO_DEVICE_ATTACH_IOMMUFD_PT",
            Op::DeviceDetachIommufdPt => "VFIO_DEVICE_DETACH_IOMMUFD_PT",
            Op::RegionRead => "pread",
            Op::RegionWrite => "pwrite",
            Op::RegionMmap => "mmap",
            Op::IommuDestroy => "IOMMU_DESTROY",
            Op::IoasAlloc => "IOMMU_IOAS_ALLOC",
            Op::IoasMap => "IOMMU_IOAS_MAP",
            Op::IoasUnmap => "IOMMU_IOAS_UNMAP",
            Op::IoasIovaRanges => "IOMMU_IOAS_IOVA_RANGES",
            Op::GetHwInfo => "IOMMU_GET_HW_INFO",
            Op::HwptAlloc => "IOMMU_HWPT_ALLOC",
            Op::Eventfd => "eventfd",
            Op::KvmCreateDevice => "KVM_CREATE_DEVICE",
            Op::KvmSetDeviceAttr => "KVM_SET_DEVICE_ATTR",
            Op::Open => "open",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failed VFIO/iommufd system call: which operation and the raw errno.
///
/// `Display` gives `"<OP>: <strerror>"`, e.g.
/// `VFIO_GROUP_GET_STATUS: Inappropriate ioctl for device`. QEMU-style
/// messages are built by the caller from [`SysError::errno`] and [`strerror`].
///
/// A few checks that the kernel does not perform are reported with a
/// synthetic errno, documented on the method that can produce it (e.g.
/// `EIO` for a short `pread`, `EPROTO` for a malformed capability chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{op}: {}", strerror(*.errno))]
pub struct SysError {
    op: Op,
    errno: Errno,
}

impl SysError {
    /// Build an error for `op` failing with `errno`.
    pub const fn new(op: Op, errno: Errno) -> Self {
        SysError { op, errno }
    }

    /// The operation that failed.
    pub const fn op(&self) -> Op {
        self.op
    }

    /// The raw errno.
    pub const fn errno(&self) -> Errno {
        self.errno
    }

    /// libc's `strerror` text for the errno (e.g. `No such file or directory`).
    pub fn strerror(&self) -> String {
        strerror(self.errno)
    }
}

impl From<SysError> for std::io::Error {
    fn from(e: SysError) -> Self {
        std::io::Error::from_raw_os_error(e.errno as i32)
    }
}

/// Result of a wrapped system call.
pub type Result<T> = std::result::Result<T, SysError>;

/// libc's `strerror(3)` text for `errno`, exactly as QEMU prints it after
/// `error_setg_errno` (e.g. `"No such file or directory"` for `ENOENT`).
///
/// nix's `Display` for [`Errno`] prints `"ENOENT: No such file or directory"`
/// and std's `io::Error` appends `" (os error 2)"`; neither matches QEMU.
pub fn strerror(errno: Errno) -> String {
    strerror_raw(errno as i32)
}

/// [`strerror`] for a raw errno number (also valid for `0`, `"Success"`).
pub fn strerror_raw(errno: i32) -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is a valid, writable buffer of `buf.len()` bytes for the
    // duration of the call; the XSI `strerror_r` that the libc crate binds on
    // Linux writes at most that many bytes, NUL-terminated, and touches no
    // other memory.
    let rc = unsafe { libc::strerror_r(errno, buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return format!("Unknown error {errno}");
    }
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..len]).into_owned()
}

/// A new non-blocking, close-on-exec eventfd (an interrupt notifier), through
/// the fault seam so that running out of descriptors can be planned.
pub fn eventfd() -> Result<nix::sys::eventfd::EventFd> {
    use nix::sys::eventfd::{EfdFlags, EventFd};
    let call = fault::enter(Op::Eventfd)?;
    call.tag(EventFd::from_flags(
        EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK,
    ))
}

/// The system page size.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf only reads a configuration value; it has no memory
    // side effects and _SC_PAGESIZE is always supported on Linux.
    let n = unsafe { nix::libc::sysconf(nix::libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strerror_matches_libc_text() {
        assert_eq!(strerror(Errno::ENOENT), "No such file or directory");
        assert_eq!(strerror(Errno::EACCES), "Permission denied");
        assert_eq!(strerror(Errno::ENOTTY), "Inappropriate ioctl for device");
        assert_eq!(strerror_raw(0), "Success");
        assert!(strerror_raw(100_000).starts_with("Unknown error"));
    }

    #[test]
    fn sys_error_display_and_accessors() {
        let e = SysError::new(Op::GroupGetStatus, Errno::EBUSY);
        assert_eq!(e.op(), Op::GroupGetStatus);
        assert_eq!(e.errno(), Errno::EBUSY);
        assert_eq!(e.strerror(), "Device or resource busy");
        assert_eq!(
            e.to_string(),
            "VFIO_GROUP_GET_STATUS: Device or resource busy"
        );
        let io: std::io::Error = e.into();
        assert_eq!(io.raw_os_error(), Some(libc::EBUSY));
    }
}
