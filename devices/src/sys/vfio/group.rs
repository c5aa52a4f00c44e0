//! A VFIO group (`/dev/vfio/<N>` or `/dev/vfio/noiommu-<N>`): status,
//! container attach/detach, device fd by name (incl. `vf_token=`).

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use vfio_bindings::bindings::vfio as vb;

use super::super::{Errno, Op, Result, SysError, fault, ioctls};
use std::ffi::CString;

use nix::libc::c_int;
use uuid::Uuid;

use super::{Device, argsz};

fd_handle! {
    /// An open VFIO group (`/dev/vfio/<N>` or `/dev/vfio/noiommu-<N>`).
    Group,
    /// Wrap an already-open group fd (ownership is taken).
}

/// `VFIO_GROUP_GET_STATUS` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupStatus {
    /// Raw `VFIO_GROUP_FLAGS_*`.
    pub flags: u32,
}

impl GroupStatus {
    /// All devices of the group are bound to VFIO (or stub) drivers.
    /// QEMU: `group %d is not viable` when false.
    pub fn viable(&self) -> bool {
        self.flags & vb::VFIO_GROUP_FLAGS_VIABLE != 0
    }

    /// The group is already attached to a container.
    pub fn container_set(&self) -> bool {
        self.flags & vb::VFIO_GROUP_FLAGS_CONTAINER_SET != 0
    }
}

/// The name QEMU passes to `VFIO_GROUP_GET_DEVICE_FD`: `"<name>"`, or
/// `"<name> vf_token=<uuid>"` (lowercase, hyphenated) with a VF token.
pub fn device_fd_name(name: &str, vf_token: Option<&Uuid>) -> String {
    match vf_token {
        Some(t) => format!("{name} vf_token={}", t.hyphenated()),
        None => name.to_owned(),
    }
}

impl Group {
    /// `VFIO_GROUP_GET_STATUS`.
    pub fn status(&self) -> Result<GroupStatus> {
        let call = fault::enter(Op::GroupGetStatus)?;
        if let Some(flags) = call.group_flags() {
            return Ok(GroupStatus { flags });
        }
        let mut st = vb::vfio_group_status {
            argsz: argsz::<vb::vfio_group_status>(),
            flags: 0,
        };
        // SAFETY: `st` is an initialised vfio_group_status that lives across
        // the call; the kernel writes only inside it.
        let r = unsafe { ioctls::vfio_group_get_status(self.fd.as_raw_fd(), &mut st) };
        call.tag(r)?;
        Ok(GroupStatus { flags: st.flags })
    }

    /// `VFIO_GROUP_SET_CONTAINER`: attach the group to `container`.
    pub fn set_container(&self, container: impl AsFd) -> Result<()> {
        let call = fault::enter(Op::GroupSetContainer)?;
        let cfd: c_int = container.as_fd().as_raw_fd();
        // SAFETY: the kernel reads one c_int from the pointer, which points at
        // a live local; the container fd stays open because it is borrowed.
        let r = unsafe { ioctls::vfio_group_set_container(self.fd.as_raw_fd(), &cfd) };
        call.tag(r).map(drop)
    }

    /// `VFIO_GROUP_UNSET_CONTAINER`.
    pub fn unset_container(&self) -> Result<()> {
        let call = fault::enter(Op::GroupUnsetContainer)?;
        // SAFETY: no argument; the group fd is live (borrowed from self).
        let r = unsafe { ioctls::vfio_group_unset_container(self.fd.as_raw_fd()) };
        call.tag(r).map(drop)
    }

    /// `VFIO_GROUP_GET_DEVICE_FD` with the raw name string (see
    /// [`device_fd_name`] for the `vf_token=` form). A name containing a NUL
    /// byte fails with `EINVAL` without calling the kernel. A missing or wrong
    /// VF token surfaces here (typically `EACCES`).
    pub fn device(&self, name: &str) -> Result<Device> {
        let call = fault::enter(Op::GroupGetDeviceFd)?;
        let cname =
            CString::new(name).map_err(|_| SysError::new(Op::GroupGetDeviceFd, Errno::EINVAL))?;
        call.request(|| fault::Request::DeviceName(name.to_owned()));
        // SAFETY: `cname` is a NUL-terminated string alive across the call;
        // the kernel copies at most a page from it and does not retain it.
        let r = unsafe { ioctls::vfio_group_get_device_fd(self.fd.as_raw_fd(), cname.as_ptr()) };
        let raw = call.tag(r)?;
        // SAFETY: on success VFIO_GROUP_GET_DEVICE_FD returns a new file
        // descriptor (opened O_RDWR|O_CLOEXEC by the kernel) that nobody else
        // owns; wrapping it transfers that ownership exactly once.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Device::from_fd(fd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_fd_name_with_and_without_token() {
        assert_eq!(device_fd_name("0000:00:01.0", None), "0000:00:01.0");
        let t = Uuid::parse_str("AABBCCDD-0011-2233-4455-66778899AABB").unwrap();
        assert_eq!(
            device_fd_name("0000:00:01.0", Some(&t)),
            "0000:00:01.0 vf_token=aabbccdd-0011-2233-4455-66778899aabb"
        );
    }
}
